/*
 * test_maildrop_put.c - unit tests of queue/maildrop_put.c: the head of a
 * maildrop file for a full and a minimal envelope, and every refusal (no
 * recipient, too many, bad addresses, a bad notify set, an envelope id
 * that is not xtext) leaving the output untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/maildrop.h"

static void
put_bad(struct maildrop_env *e, const char *want)
{
	struct buf	b;
	char		err[256];

	buf_init(&b);
	buf_addstr(&b, "x");
	if (maildrop_put(&b, e, err, sizeof(err)) == 0)
		fail_msg("accepted, expected '%s'", want);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s', expected it to hold '%s'", err, want);
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void
test_minimal(void **state)
{
	char			*r[] = { "root" };
	struct maildrop_env	 e;
	struct buf		 b;
	char			 err[256];

	(void)state;
	memset(&e, 0, sizeof(e));
	e.rcpts = r;
	e.nrcpts = 1;
	e.size = 0;
	buf_init(&b);
	assert_int_equal(maildrop_put(&b, &e, err, sizeof(err)), 0);
	assert_string_equal(b.data, "strictmail-maildrop 1\nrcpt root\n"
	    "size 0\ndata\n");
	buf_free(&b);
}

static void
test_full(void **state)
{
	char			*r[] = { "a@example.org", "b@example.net" };
	struct maildrop_env	 e;
	struct buf		 b;
	char			 err[256];

	(void)state;
	memset(&e, 0, sizeof(e));
	e.sender = "";
	e.rcpts = r;
	e.nrcpts = 2;
	e.notify = MAILDROP_NOTIFY_SUCCESS | MAILDROP_NOTIFY_DELAY;
	e.ret = MAILDROP_RET_HDRS;
	e.envid = "id+2Bx";
	e.body = MAILDROP_BODY_8BITMIME;
	e.size = 1234;
	buf_init(&b);
	buf_addstr(&b, "P");
	assert_int_equal(maildrop_put(&b, &e, err, sizeof(err)), 0);
	assert_string_equal(b.data, "Pstrictmail-maildrop 1\nsender <>\n"
	    "rcpt a@example.org\nrcpt b@example.net\nnotify success,delay\n"
	    "ret hdrs\nenvid id+2Bx\nbody 8bitmime\nsize 1234\ndata\n");
	buf_reset(&b);
	e.sender = "s@example.org";
	e.notify = MAILDROP_NOTIFY_NEVER;
	e.ret = MAILDROP_RET_FULL;
	e.envid = NULL;
	e.body = MAILDROP_BODY_7BIT;
	assert_int_equal(maildrop_put(&b, &e, err, sizeof(err)), 0);
	assert_string_equal(b.data, "strictmail-maildrop 1\n"
	    "sender s@example.org\nrcpt a@example.org\nrcpt b@example.net\n"
	    "notify never\nret full\nbody 7bit\nsize 1234\ndata\n");
	buf_free(&b);
}

static void
test_refused(void **state)
{
	static char		*many[MAILDROP_RCPT_MAX + 1];
	char			 longaddr[MAILDROP_ADDR_MAX + 2];
	char			*r[] = { "a@example.org" }, *bad[1];
	struct maildrop_env	 e;
	size_t			 i;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.rcpts = r;
	put_bad(&e, "no recipient");
	for (i = 0; i <= MAILDROP_RCPT_MAX; i++)
		many[i] = "r@example.org";
	e.rcpts = many;
	e.nrcpts = MAILDROP_RCPT_MAX + 1;
	put_bad(&e, "too many recipients (1001, at most 1000)");
	e.rcpts = bad;
	e.nrcpts = 1;
	bad[0] = "a b@example.org";
	put_bad(&e, "bad recipient address (number 1)");
	bad[0] = "a@example.org\nrcpt evil@example.org";
	put_bad(&e, "bad recipient address");
	bad[0] = "";
	put_bad(&e, "bad recipient address");
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	bad[0] = longaddr;
	put_bad(&e, "bad recipient address");
	e.rcpts = r;
	e.sender = "x\x7f@example.org";
	put_bad(&e, "bad sender address");
	e.sender = NULL;
	e.notify = MAILDROP_NOTIFY_NEVER | MAILDROP_NOTIFY_FAILURE;
	put_bad(&e, "bad notify set");
	e.notify = 0x10;
	put_bad(&e, "bad notify set");
	e.notify = 0;
	e.envid = "a=b";
	put_bad(&e, "the envelope id is not xtext");
	e.envid = "a+2";
	put_bad(&e, "the envelope id is not xtext");
	e.envid = "a b";
	put_bad(&e, "the envelope id is not xtext");
	e.envid = NULL;
	e.ret = (enum maildrop_ret)7;
	put_bad(&e, "bad ret value");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
