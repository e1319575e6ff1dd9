/*
 * test_schedule.c - unit tests of queue/schedule.c with times passed in:
 * the doubling delay and its cap, the jitter bounds with a seeded random
 * source, a whole five-day life of failures ending in expiry, the delay
 * warning (once, off, after the expiry), destination backoff, and
 * settings at their extremes (no wrap-around).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "queue/schedule.h"

#define T0	1700000000ULL

static uint32_t
lcg(void *arg)
{
	uint64_t	*s = arg;

	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

static struct schedule_settings
defaults(void)
{
	struct schedule_settings	set;

	schedule_defaults(&set);
	return set;
}

static void
test_defaults_and_first(void **state)
{
	struct schedule_settings	set = defaults();

	(void)state;
	assert_int_equal(set.retry_initial, 300);
	assert_int_equal(set.retry_max, 3600);
	assert_int_equal(set.jitter_pct, 10);
	assert_int_equal(set.lifetime, 5 * 86400);
	assert_int_equal(set.delay_warning, 4 * 3600);
	assert_int_equal(schedule_first(T0), T0);
	assert_int_equal(schedule_expiry(&set, T0), T0 + 5 * 86400);
}

static void
test_doubling_and_cap(void **state)
{
	struct schedule_settings	set = defaults();

	(void)state;
	assert_int_equal(schedule_delay(&set, 0, NULL, NULL), 300);
	assert_int_equal(schedule_delay(&set, 1, NULL, NULL), 300);
	assert_int_equal(schedule_delay(&set, 2, NULL, NULL), 600);
	assert_int_equal(schedule_delay(&set, 3, NULL, NULL), 1200);
	assert_int_equal(schedule_delay(&set, 4, NULL, NULL), 2400);
	assert_int_equal(schedule_delay(&set, 5, NULL, NULL), 3600);
	assert_int_equal(schedule_delay(&set, 6, NULL, NULL), 3600);
	assert_int_equal(schedule_delay(&set, 1000000, NULL, NULL), 3600);
	assert_int_equal(schedule_delay(&set, UINT64_MAX, NULL, NULL), 3600);
	/* An initial delay above the cap is the cap. */
	set.retry_initial = 7200;
	assert_int_equal(schedule_delay(&set, 1, NULL, NULL), 3600);
}

static void
check_jitter(uint64_t failures, uint64_t lo, uint64_t hi)
{
	struct schedule_settings	set = defaults();
	uint64_t			seed = 7, d, min = UINT64_MAX, max = 0;
	int				i;

	for (i = 0; i < 2000; i++) {
		d = schedule_delay(&set, failures, lcg, &seed);
		if (d < lo || d > hi)
			fail_msg("delay %llu outside [%llu, %llu]",
			    (unsigned long long)d, (unsigned long long)lo,
			    (unsigned long long)hi);
		min = d < min ? d : min;
		max = d > max ? d : max;
	}
	/* The whole range is used. */
	assert_true(min <= lo + (hi - lo) / 20);
	assert_true(max >= hi - (hi - lo) / 20);
}

static void
test_jitter_bounds(void **state)
{
	struct schedule_settings	set = defaults();
	uint64_t			s1 = 99, s2 = 99;

	(void)state;
	check_jitter(1, 270, 330);
	check_jitter(2, 540, 660);
	check_jitter(50, 3240, 3960);
	/* The same seed gives the same delays. */
	assert_int_equal(schedule_delay(&set, 3, lcg, &s1),
	    schedule_delay(&set, 3, lcg, &s2));
	/* No jitter asked: exact. */
	set.jitter_pct = 0;
	assert_int_equal(schedule_delay(&set, 3, lcg, &s1), 1200);
}

static void
test_after_failure(void **state)
{
	struct schedule_settings	set = defaults();
	uint64_t			exp = schedule_expiry(&set, T0), next = 0;

	(void)state;
	assert_int_equal(schedule_after_failure(&set, exp, T0, 1, NULL, NULL,
	    &next), SCHEDULE_RETRY);
	assert_int_equal(next, T0 + 300);
	/* Close to the expiry: the last attempt is at the expiry. */
	assert_int_equal(schedule_after_failure(&set, exp, exp - 10, 40, NULL,
	    NULL, &next), SCHEDULE_RETRY);
	assert_int_equal(next, exp);
	/* At or after the expiry: no more attempts. */
	next = 0;
	assert_int_equal(schedule_after_failure(&set, exp, exp, 41, NULL, NULL,
	    &next), SCHEDULE_EXPIRE);
	assert_int_equal(schedule_after_failure(&set, exp, exp + 100, 41, NULL,
	    NULL, &next), SCHEDULE_EXPIRE);
	assert_int_equal(next, 0);
}

/* A message that fails every attempt from arrival to expiry. */
static void
test_whole_life(void **state)
{
	struct schedule_settings	set = defaults();
	uint64_t			exp = schedule_expiry(&set, T0);
	uint64_t			now = schedule_first(T0), next = 0;
	uint64_t			n = 0, seed = 3;

	(void)state;
	assert_int_equal(now, T0);
	for (;;) {
		n++;
		if (schedule_after_failure(&set, exp, now, n, lcg, &seed,
		    &next) == SCHEDULE_EXPIRE)
			break;
		assert_true(next > now);
		assert_true(next - now <= 3960);
		assert_true(next <= exp);
		now = next;
		assert_true(n < 1000);
	}
	assert_int_equal(now, exp);
	/* 300+600+1200+2400 s, then about hourly for the rest of 5 days. */
	assert_true(n > 115 && n < 130);
}

static void
test_delay_warning(void **state)
{
	struct schedule_settings	set = defaults();
	uint64_t			exp = schedule_expiry(&set, T0);
	uint64_t			w = T0 + 4 * 3600;

	(void)state;
	assert_int_equal(schedule_warn_time(&set, T0, exp), w);
	assert_false(schedule_warn_due(&set, T0, exp, w - 1, 0));
	assert_true(schedule_warn_due(&set, T0, exp, w, 0));
	assert_true(schedule_warn_due(&set, T0, exp, w + 86400, 0));
	/* Sent once. */
	assert_false(schedule_warn_due(&set, T0, exp, w + 1, 1));
	/* Not once expired. */
	assert_false(schedule_warn_due(&set, T0, exp, exp, 0));
	/* The scheduler wakes for it before a later attempt. */
	assert_int_equal(schedule_wakeup(&set, T0, exp, w + 600, 0), w);
	assert_int_equal(schedule_wakeup(&set, T0, exp, w - 600, 0), w - 600);
	assert_int_equal(schedule_wakeup(&set, T0, exp, w + 600, 1), w + 600);
	/* Turned off. */
	set.delay_warning = 0;
	assert_int_equal(schedule_warn_time(&set, T0, exp), 0);
	assert_false(schedule_warn_due(&set, T0, exp, w, 0));
	assert_int_equal(schedule_wakeup(&set, T0, exp, w + 600, 0), w + 600);
	/* A lifetime shorter than the warning delay: no warning. */
	set.delay_warning = 4 * 3600;
	set.lifetime = 3600;
	exp = schedule_expiry(&set, T0);
	assert_int_equal(schedule_warn_time(&set, T0, exp), 0);
	assert_false(schedule_warn_due(&set, T0, exp, w, 0));
}

static void
test_dest_backoff(void **state)
{
	struct schedule_settings	set = defaults();
	struct schedule_dest		d = { 0, 0 };
	uint64_t			now = T0, seed = 5;
	int				i;

	(void)state;
	assert_true(schedule_dest_ready(&d, now));
	/* Below the threshold: not backed off. */
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_int_equal(d.failures, 2);
	assert_true(schedule_dest_ready(&d, now));
	/* The third failure in a row: 60 s, then doubling. */
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_int_equal(d.until, now + 60);
	assert_false(schedule_dest_ready(&d, now + 59));
	assert_true(schedule_dest_ready(&d, now + 60));
	now += 60;
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_int_equal(d.until, now + 120);
	for (i = 0; i < 20; i++)
		schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_int_equal(d.until, now + 3600);
	/* With jitter, within 10% of the cap. */
	schedule_dest_failed(&set, &d, now, lcg, &seed);
	assert_true(d.until >= now + 3240 && d.until <= now + 3960);
	/* One success clears it all. */
	schedule_dest_succeeded(&d);
	assert_int_equal(d.failures, 0);
	assert_true(schedule_dest_ready(&d, now));
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_true(schedule_dest_ready(&d, now));
	/* Threshold 1: the first failure backs off. */
	set.dest_threshold = 1;
	schedule_dest_succeeded(&d);
	schedule_dest_failed(&set, &d, now, NULL, NULL);
	assert_int_equal(d.until, now + 60);
}

static void
test_extremes(void **state)
{
	struct schedule_settings	set = defaults();
	uint64_t			seed = 11, next = 0, d;
	int				i;

	(void)state;
	set.retry_initial = 0;
	set.retry_max = 0;
	assert_int_equal(schedule_delay(&set, 1, NULL, NULL), 1);
	assert_int_equal(schedule_delay(&set, 9, lcg, &seed), 1);
	/* Jitter above 100% counts as 100%: never below 1 s. */
	set.retry_initial = 100;
	set.retry_max = 100;
	set.jitter_pct = 500;
	for (i = 0; i < 500; i++) {
		d = schedule_delay(&set, 1, lcg, &seed);
		assert_true(d >= 1 && d <= 200);
	}
	/* Sums saturate. */
	set = defaults();
	set.lifetime = UINT64_MAX;
	assert_int_equal(schedule_expiry(&set, T0), UINT64_MAX);
	set.retry_initial = set.retry_max = UINT64_MAX;
	assert_true(schedule_delay(&set, 2, lcg, &seed) > UINT64_MAX / 4);
	set.jitter_pct = 0;
	assert_int_equal(schedule_after_failure(&set, UINT64_MAX, T0, 3, NULL,
	    NULL, &next), SCHEDULE_RETRY);
	assert_int_equal(next, UINT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_first),
		cmocka_unit_test(test_doubling_and_cap),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_after_failure),
		cmocka_unit_test(test_whole_life),
		cmocka_unit_test(test_delay_warning),
		cmocka_unit_test(test_dest_backoff),
		cmocka_unit_test(test_extremes),
	};

	log_init("test_schedule", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
