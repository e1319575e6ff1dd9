/*
 * test_sender.c - unit tests of the sender rule (lookup/sender.c): a
 * login name's own addresses (local domains, the host name, a recipient
 * delimiter), an address user's own address, the null sender, and a
 * sender-login-map (an address key, an @domain key, users listed or
 * not) built with map_compile as makemap -t senders does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util.h"
#include "lookup/map.h"
#include "lookup/sender.h"

static int
is_local(void *arg, const char *domain)
{
	(void)arg;
	return strcasecmp(domain, "example.org") == 0 ||
	    strcasecmp(domain, "localhost") == 0;
}

static enum sender_result
check(const struct sender_rule *r, const char *user, const char *sender)
{
	char	err[256];

	return sender_check(r, user, sender, err, sizeof(err));
}

static void
test_own(void **state)
{
	struct sender_rule	r = { NULL, "+", "mx.example.org", is_local,
				    NULL };

	(void)state;
	assert_int_equal(check(&r, "alice", "alice@example.org"), SENDER_OK);
	assert_int_equal(check(&r, "alice", "Alice@EXAMPLE.org"), SENDER_OK);
	assert_int_equal(check(&r, "alice", "alice@mx.example.org"),
	    SENDER_OK);
	assert_int_equal(check(&r, "alice", "alice+list@localhost"),
	    SENDER_OK);
	assert_int_equal(check(&r, "alice", "alice-x@example.org"),
	    SENDER_REFUSED);
	assert_int_equal(check(&r, "alice", "alicex@example.org"),
	    SENDER_REFUSED);
	assert_int_equal(check(&r, "alice", "bob@example.org"),
	    SENDER_REFUSED);
	assert_int_equal(check(&r, "alice", "alice@elsewhere.test"),
	    SENDER_REFUSED);
	assert_int_equal(check(&r, "alice", "alice"), SENDER_REFUSED);
	/* An address user: that address only (with an extension). */
	assert_int_equal(check(&r, "bob@other.test", "bob@other.test"),
	    SENDER_OK);
	assert_int_equal(check(&r, "bob@other.test", "BOB+x@Other.Test"),
	    SENDER_OK);
	assert_int_equal(check(&r, "bob@other.test", "bob@example.org"),
	    SENDER_REFUSED);
	assert_int_equal(check(&r, "bob@other.test", "bobby@other.test"),
	    SENDER_REFUSED);
	/* The null sender is anyone's. */
	assert_int_equal(check(&r, "alice", ""), SENDER_OK);
	/* Without a delimiter no extension. */
	r.delimiter = "";
	assert_int_equal(check(&r, "alice", "alice+list@localhost"),
	    SENDER_REFUSED);
}

static void
test_map(void **state)
{
	char			 dir[64], src[128], db[128], err[256];
	struct sender_rule	 r = { NULL, "+", "mx.example.org", is_local,
				    NULL };
	FILE			*f;
	size_t			 n;

	(void)state;
	(void)strlcpy(dir, "/tmp/test_sender.XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	assert_true(bsnprintf(src, sizeof(src), "%s/senders", dir));
	assert_true(bsnprintf(db, sizeof(db), "%s/senders.db", dir));
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("info@example.org alice, bob@other.test\n"
	    "@shared.test carol\n"
	    "boss@shared.test dave\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(map_compile(src, ALIASES_VIRTUAL, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 3);
	r.map = map_open(db, err, sizeof(err));
	assert_non_null(r.map);
	assert_int_equal(check(&r, "alice", "info@example.org"), SENDER_OK);
	assert_int_equal(check(&r, "ALICE", "Info@Example.org"), SENDER_OK);
	assert_int_equal(check(&r, "bob@other.test", "info@example.org"),
	    SENDER_OK);
	assert_int_equal(check(&r, "carol", "info@example.org"),
	    SENDER_REFUSED);
	/* With a map only what it lists: not even the user's own address. */
	assert_int_equal(check(&r, "alice", "alice@example.org"),
	    SENDER_REFUSED);
	/* @domain: anyone at shared.test for carol; boss@ has its own key. */
	assert_int_equal(check(&r, "carol", "x@shared.test"), SENDER_OK);
	assert_int_equal(check(&r, "dave", "boss@shared.test"), SENDER_OK);
	assert_int_equal(check(&r, "carol", "boss@shared.test"), SENDER_OK);
	assert_int_equal(check(&r, "dave", "x@shared.test"), SENDER_REFUSED);
	assert_int_equal(check(&r, "alice", ""), SENDER_OK);
	map_close(r.map);
	(void)unlink(db);
	(void)unlink(src);
	(void)rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own),
		cmocka_unit_test(test_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
