/*
 * test_authfail.c - unit tests of the AUTH failure counter
 * (lookup/authfail.c): counting per address, the lock-out at N failures
 * within the window and its end, the window running out, the bounded
 * table dropping the oldest address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "lookup/authfail.h"

static void
test_lockout(void **state)
{
	struct authfail	af;

	(void)state;
	authfail_init(&af, 3, 60, 0);
	assert_int_equal(authfail_locked(&af, "192.0.2.1", 1000), 0);
	assert_int_equal(authfail_add(&af, "192.0.2.1", 1000), 1);
	assert_int_equal(authfail_add(&af, "192.0.2.1", 1010), 2);
	assert_int_equal(authfail_locked(&af, "192.0.2.1", 1010), 0);
	/* Another address counts on its own. */
	assert_int_equal(authfail_add(&af, "192.0.2.2", 1010), 1);
	assert_int_equal(authfail_add(&af, "192.0.2.1", 1020), 3);
	assert_int_equal(authfail_locked(&af, "192.0.2.1", 1020), 1);
	assert_int_equal(authfail_locked(&af, "192.0.2.1", 1079), 1);
	assert_int_equal(authfail_locked(&af, "192.0.2.2", 1020), 0);
	assert_int_equal(authfail_count(&af, "192.0.2.1", 1030), 3);
	/* Locked for the window from the third failure, then over. */
	assert_int_equal(authfail_locked(&af, "192.0.2.1", 1080), 0);
	assert_int_equal(authfail_count(&af, "192.0.2.1", 1080), 0);
	assert_int_equal(authfail_add(&af, "192.0.2.1", 1081), 1);
	authfail_free(&af);
}

static void
test_window(void **state)
{
	struct authfail	af;

	(void)state;
	authfail_init(&af, 3, 60, 0);
	assert_int_equal(authfail_add(&af, "2001:db8::1", 0), 1);
	assert_int_equal(authfail_add(&af, "2001:db8::1", 59), 2);
	/* The window began at 0: at 60 the count starts over. */
	assert_int_equal(authfail_add(&af, "2001:db8::1", 60), 1);
	assert_int_equal(authfail_locked(&af, "2001:db8::1", 60), 0);
	assert_int_equal(authfail_count(&af, "unknown", 60), 0);
	authfail_free(&af);
}

static void
test_table_bound(void **state)
{
	struct authfail	af;
	char		addr[32];
	int		i;

	(void)state;
	authfail_init(&af, 2, 600, 4);
	for (i = 0; i < 4; i++) {
		(void)snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		assert_int_equal(authfail_add(&af, addr, 100 + (uint64_t)i),
		    1);
	}
	assert_int_equal(af.n, 4);
	/* A fifth address takes the place of the oldest (.0). */
	assert_int_equal(authfail_add(&af, "198.51.100.9", 200), 1);
	assert_int_equal(af.n, 4);
	assert_int_equal(authfail_count(&af, "198.51.100.0", 200), 0);
	assert_int_equal(authfail_count(&af, "198.51.100.1", 200), 1);
	assert_int_equal(authfail_add(&af, "198.51.100.9", 201), 2);
	assert_int_equal(authfail_locked(&af, "198.51.100.9", 201), 1);
	authfail_free(&af);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_table_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
