/*
 * test_conncache.c - unit tests of delivery/conncache.c: which idle
 * connection may carry which message.  The same host, address and port
 * (host case and trailing dot ignored); `may` takes any level, encrypt
 * any TLS, verify and secure only a verified connection whose matched
 * name they want (a `may` or unverified one never, even to the same MX
 * and address; a verified one carries `may` mail); newest first, removal,
 * the oldest for eviction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/util.h"
#include "delivery/conncache.h"

static struct dns_addr
A(const char *s)
{
	struct dns_addr	a;

	memset(&a, 0, sizeof(a));
	if (strchr(s, ':') != NULL) {
		a.family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a.u.v6), 1);
	} else {
		a.family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &a.u.v4), 1);
	}
	return a;
}

static struct conncache_key
K(const char *host, const char *addr, unsigned port, enum conncache_tls tls,
    const char *verified)
{
	struct conncache_key	k;

	memset(&k, 0, sizeof(k));
	(void)strlcpy(k.host, host, sizeof(k.host));
	k.addr = A(addr);
	k.port = port;
	k.tls = tls;
	(void)strlcpy(k.verified, verified, sizeof(k.verified));
	return k;
}

static struct conncache_need
N(const char *host, const char *addr, unsigned port,
    enum conncache_need_level lv, const char *const *names, size_t n)
{
	struct conncache_need	need;

	memset(&need, 0, sizeof(need));
	need.host = host;
	need.addr = A(addr);
	need.port = port;
	need.level = lv;
	need.names = names;
	need.nnames = n;
	return need;
}

static void
test_same_endpoint(void **state)
{
	struct conncache_key	k = K("mx.example.org", "192.0.2.1", 25,
	    CONNCACHE_TLS_NONE, "");
	struct conncache_need	n;

	(void)state;
	n = N("MX.Example.ORG.", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_true(conncache_fits(&k, &n));
	n = N("mx2.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_false(conncache_fits(&k, &n));		/* another name */
	n = N("mx.example.org", "192.0.2.2", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_false(conncache_fits(&k, &n));		/* another address */
	n = N("mx.example.org", "::ffff:192.0.2.1", 25, CONNCACHE_NEED_ANY,
	    NULL, 0);
	assert_false(conncache_fits(&k, &n));		/* another family */
	n = N("mx.example.org", "192.0.2.1", 587, CONNCACHE_NEED_ANY, NULL, 0);
	assert_false(conncache_fits(&k, &n));		/* another port */
	k = K("mx.example.org", "2001:db8::1", 25, CONNCACHE_TLS_NONE, "");
	n = N("mx.example.org", "2001:db8::1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_true(conncache_fits(&k, &n));
	n = N("mx.example.org", "2001:db8::2", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_false(conncache_fits(&k, &n));
}

/* The reuse case of issue 9: one MX host with a wrong-name certificate
 * serves a may and a verify domain. */
static void
test_may_never_carries_verify(void **state)
{
	const char		*mx[] = { "mx.example.org" };
	struct conncache_key	 plain = K("mx.example.org", "192.0.2.1", 25,
	    CONNCACHE_TLS_NONE, "");
	struct conncache_key	 enc = K("mx.example.org", "192.0.2.1", 25,
	    CONNCACHE_TLS_ENCRYPTED, "");
	struct conncache_need	 n;

	(void)state;
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, mx, 1);
	assert_false(conncache_fits(&plain, &n));
	assert_false(conncache_fits(&enc, &n));
	/* An unverified key that claims a name is still unverified. */
	(void)strlcpy(enc.verified, "mx.example.org", sizeof(enc.verified));
	assert_false(conncache_fits(&enc, &n));
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ENCRYPTED,
	    NULL, 0);
	assert_false(conncache_fits(&plain, &n));
	assert_true(conncache_fits(&enc, &n));
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_true(conncache_fits(&plain, &n));
	assert_true(conncache_fits(&enc, &n));
}

static void
test_verified_names(void **state)
{
	const char		*mx[] = { "mx.example.org" };
	const char		*dom[] = { "example.org" };
	const char		*list[] = { "a.example.net", "EXAMPLE.org." };
	struct conncache_key	 vmx = K("mx.example.org", "192.0.2.1", 25,
	    CONNCACHE_TLS_VERIFIED, "mx.example.org");
	struct conncache_key	 vdom = K("mx.example.org", "192.0.2.1", 25,
	    CONNCACHE_TLS_VERIFIED, "example.org");
	struct conncache_need	 n;

	(void)state;
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, mx, 1);
	assert_true(conncache_fits(&vmx, &n));
	assert_false(conncache_fits(&vdom, &n));	/* secure's, not the MX */
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, dom,
	    1);
	assert_false(conncache_fits(&vmx, &n));
	assert_true(conncache_fits(&vdom, &n));
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, list,
	    2);
	assert_true(conncache_fits(&vdom, &n));
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, NULL,
	    0);
	assert_false(conncache_fits(&vmx, &n));		/* no name wanted */
	/* A verified connection carries may and encrypt mail. */
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_true(conncache_fits(&vmx, &n));
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ENCRYPTED,
	    NULL, 0);
	assert_true(conncache_fits(&vdom, &n));
	/* Verified, but for another MX. */
	n = N("mx2.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, mx,
	    1);
	assert_false(conncache_fits(&vmx, &n));
}

static void
test_take_order(void **state)
{
	const char		*mx[] = { "mx.example.org" };
	struct conncache	 cc;
	struct conncache_key	 k;
	struct conncache_need	 n;
	int			 c1, c2, c3;

	(void)state;
	conncache_init(&cc);
	assert_null(conncache_oldest(&cc));
	k = K("mx.example.org", "192.0.2.1", 25, CONNCACHE_TLS_ENCRYPTED, "");
	conncache_put(&cc, &k, &c1);
	k = K("mx.example.org", "192.0.2.1", 25, CONNCACHE_TLS_VERIFIED,
	    "mx.example.org");
	conncache_put(&cc, &k, &c2);
	k = K("mx.example.org", "192.0.2.1", 25, CONNCACHE_TLS_ENCRYPTED, "");
	conncache_put(&cc, &k, &c3);
	assert_int_equal(conncache_count(&cc), 3);
	assert_ptr_equal(conncache_oldest(&cc), &c1);
	/* verify finds only the verified one, in the middle. */
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_VERIFIED, mx, 1);
	assert_ptr_equal(conncache_take(&cc, &n), &c2);
	assert_null(conncache_take(&cc, &n));
	/* may: the newest first. */
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	assert_ptr_equal(conncache_take(&cc, &n), &c3);
	assert_int_equal(conncache_count(&cc), 1);
	assert_int_equal(conncache_remove(&cc, &c3), -1);
	assert_int_equal(conncache_remove(&cc, &c1), 0);
	assert_int_equal(conncache_count(&cc), 0);
	assert_null(conncache_take(&cc, &n));
	assert_null(conncache_oldest(&cc));
	conncache_free(&cc);
}

static void
test_many(void **state)
{
	struct conncache	 cc;
	struct conncache_key	 k;
	struct conncache_need	 n;
	int			 c[40];
	size_t			 i;

	(void)state;
	conncache_init(&cc);
	k = K("mx.example.org", "192.0.2.1", 25, CONNCACHE_TLS_NONE, "");
	for (i = 0; i < 40; i++)
		conncache_put(&cc, &k, &c[i]);
	assert_int_equal(conncache_count(&cc), 40);
	assert_ptr_equal(conncache_oldest(&cc), &c[0]);
	n = N("mx.example.org", "192.0.2.1", 25, CONNCACHE_NEED_ANY, NULL, 0);
	for (i = 40; i > 0; i--)
		assert_ptr_equal(conncache_take(&cc, &n), &c[i - 1]);
	assert_int_equal(conncache_count(&cc), 0);
	conncache_free(&cc);
}

static void
test_same_name(void **state)
{
	(void)state;
	assert_true(conncache_same_name("a.example", "A.EXAMPLE."));
	assert_true(conncache_same_name("a.example.", "a.example"));
	assert_false(conncache_same_name("a.example", "a.example.."));
	assert_false(conncache_same_name("a.example", "b.example"));
	assert_false(conncache_same_name("", ""));
	assert_false(conncache_same_name(".", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_endpoint),
		cmocka_unit_test(test_may_never_carries_verify),
		cmocka_unit_test(test_verified_names),
		cmocka_unit_test(test_take_order),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_same_name),
	};

	log_init("test_conncache", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
