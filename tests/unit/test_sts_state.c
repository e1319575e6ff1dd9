/*
 * test_sts_state.c - unit tests of the MTA-STS cache entry and its
 * decisions (sts/sts_state.c; ../shared/spec/mta-sts.md rules 5, 12 and
 * 26 to 31).  Time is always passed in, never read from the clock.
 *
 * The entries are made by sts_after_fetch itself (a fetched policy, a
 * failed fetch, both), then a table of sts_decide cases runs on them:
 * every TXT verdict against every kind of entry, at the edges of expiry
 * and backoff.  Then the transitions one by one: a policy replacing
 * another, mode none replacing enforce, a failure keeping the policy, and
 * the refresh plan, the refresh due and the cleanup at their edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sts/sts_state.h"

#define T0	1700000000ull		/* the first fetch */
#define DAY	86400ull
#define AGE	DAY			/* max_age of the enforce policy */
#define BACKOFF	300ull
#define CLEANUP	(180 * DAY)

#define ENFORCE	"version: STSv1\nmode: enforce\nmx: mx1.example.com\n" \
		"max_age: 86400\n"
#define ENFORCE2 "version: STSv1\nmode: enforce\nmx: mx2.example.com\n" \
		"max_age: 604800\n"
#define NONE	"version: STSv1\nmode: none\nmax_age: 86400\n"
#define AGE0	"version: STSv1\nmode: enforce\nmx: mx1.example.com\n" \
		"max_age: 0\n"

static const struct sts_settings set = { BACKOFF, DAY, CLEANUP };

/* The kinds of entry the decide table starts from. */
enum kind {
	K_NULL,		/* nothing cached */
	K_POLICY,	/* id1 fetched at T0, expires T0 + AGE */
	K_ERROR,	/* no policy; id2 failed at T0 */
	K_BOTH,		/* id1 fetched at T0; id2 failed at T0 + 100 */
	K_AGE0,		/* id1 fetched at T0 with max_age 0 */
};

static void
fetch_ok(struct sts_entry *e, const char *id, const char *body,
    uint64_t now, unsigned jitter)
{
	struct sts_policy	p;
	char			why[128];

	if (sts_policy_parse(body, strlen(body), &p, why, sizeof(why)) != 0)
		fail_msg("test policy invalid: %s", why);
	sts_after_fetch(e, id, &p, body, strlen(body), NULL, now, &set,
	    jitter);
	sts_policy_free(&p);
}

static void
fetch_fail(struct sts_entry *e, const char *id, const char *error,
    uint64_t now)
{
	sts_after_fetch(e, id, NULL, NULL, 0, error, now, &set, 0);
}

static void
make_entry(struct sts_entry *e, enum kind k)
{
	sts_entry_init(e, "Example.COM");
	switch (k) {
	case K_NULL:
		break;
	case K_POLICY:
		fetch_ok(e, "id1", ENFORCE, T0, 0);
		break;
	case K_ERROR:
		fetch_fail(e, "id2", "HTTP status 404", T0);
		break;
	case K_BOTH:
		fetch_ok(e, "id1", ENFORCE, T0, 0);
		fetch_fail(e, "id2", "HTTP status 404", T0 + 100);
		break;
	case K_AGE0:
		fetch_ok(e, "id1", AGE0, T0, 0);
		break;
	}
}

struct decide_case {
	const char	*name;
	enum kind	 kind;
	enum sts_dns	 dns;
	const char	*id;
	uint64_t	 now;
	enum sts_action	 want;
};

static const struct decide_case decide_cases[] = {
	/* Nothing cached. */
	{ "rule 28: nothing cached, TXT found: fetch", K_NULL, STS_DNS_FOUND,
	    "id1", T0, STS_FETCH },
	{ "rule 5: nothing cached, no TXT: no policy", K_NULL,
	    STS_DNS_ABSENT, NULL, T0, STS_NO_POLICY },
	{ "rule 2: nothing cached, two TXT records: no policy", K_NULL,
	    STS_DNS_INVALID, NULL, T0, STS_NO_POLICY },
	{ "rule 5: nothing cached, DNS unknown: no policy, warned", K_NULL,
	    STS_DNS_UNKNOWN, NULL, T0, STS_NO_POLICY_WARN },
	/* A usable cached policy. */
	{ "rule 28: same id: the cache, no fetch", K_POLICY, STS_DNS_FOUND,
	    "id1", T0 + 10, STS_USE_CACHED },
	{ "rule 28: new id: fetch", K_POLICY, STS_DNS_FOUND, "id9", T0 + 10,
	    STS_FETCH },
	{ "rule 28: TXT gone (NXDOMAIN): the cache", K_POLICY,
	    STS_DNS_ABSENT, NULL, T0 + 10, STS_USE_CACHED },
	{ "rule 28: two TXT records: the cache", K_POLICY, STS_DNS_INVALID,
	    NULL, T0 + 10, STS_USE_CACHED },
	{ "rule 28: DNS failure: the cache", K_POLICY, STS_DNS_UNKNOWN, NULL,
	    T0 + 10, STS_USE_CACHED },
	{ "rule 28: one second before expiry: the cache", K_POLICY,
	    STS_DNS_FOUND, "id1", T0 + AGE - 1, STS_USE_CACHED },
	/* rule 28: past expiry counts as nothing cached. */
	{ "rule 28: at expiry, same id: fetch again", K_POLICY,
	    STS_DNS_FOUND, "id1", T0 + AGE, STS_FETCH },
	{ "rule 28: past expiry, TXT gone: no policy", K_POLICY,
	    STS_DNS_ABSENT, NULL, T0 + AGE + 1, STS_NO_POLICY },
	{ "rule 28: past expiry, two TXT records: no policy", K_POLICY,
	    STS_DNS_INVALID, NULL, T0 + AGE, STS_NO_POLICY },
	{ "rule 28: past expiry, DNS failure: no policy, warned", K_POLICY,
	    STS_DNS_UNKNOWN, NULL, T0 + AGE, STS_NO_POLICY_WARN },
	{ "rule 15: max_age 0 expires at once", K_AGE0, STS_DNS_FOUND, "id1",
	    T0, STS_FETCH },
	{ "rule 15: max_age 0, DNS failure: nothing usable", K_AGE0,
	    STS_DNS_UNKNOWN, NULL, T0, STS_NO_POLICY_WARN },
	/* rule 12: the backoff after a failed fetch, per id. */
	{ "rule 12: failed id within the backoff: no fetch, warned", K_ERROR,
	    STS_DNS_FOUND, "id2", T0 + BACKOFF - 1, STS_NO_POLICY_WARN },
	{ "rule 12: failed id at the end of the backoff: fetch", K_ERROR,
	    STS_DNS_FOUND, "id2", T0 + BACKOFF, STS_FETCH },
	{ "rule 12: another id within the backoff: fetch", K_ERROR,
	    STS_DNS_FOUND, "id3", T0 + 1, STS_FETCH },
	{ "rule 29: failed fetch, TXT gone: no policy", K_ERROR,
	    STS_DNS_ABSENT, NULL, T0 + 1, STS_NO_POLICY },
	{ "rule 29: failed fetch, DNS failure: warned", K_ERROR,
	    STS_DNS_UNKNOWN, NULL, T0 + 1, STS_NO_POLICY_WARN },
	{ "rule 28: new id failed, within the backoff: the cache", K_BOTH,
	    STS_DNS_FOUND, "id2", T0 + 100 + BACKOFF - 1, STS_USE_CACHED },
	{ "rule 28: new id failed, backoff over: fetch again", K_BOTH,
	    STS_DNS_FOUND, "id2", T0 + 100 + BACKOFF, STS_FETCH },
	{ "rule 28: new id failed, old id back: the cache", K_BOTH,
	    STS_DNS_FOUND, "id1", T0 + 200, STS_USE_CACHED },
	{ "rule 28: new id failed, a third id: fetch", K_BOTH,
	    STS_DNS_FOUND, "id3", T0 + 200, STS_FETCH },
	{ "rule 28: new id failed, DNS failure: the cache", K_BOTH,
	    STS_DNS_UNKNOWN, NULL, T0 + 200, STS_USE_CACHED },
	{ "rule 28: new id failed, past expiry: no policy, warned", K_BOTH,
	    STS_DNS_UNKNOWN, NULL, T0 + AGE, STS_NO_POLICY_WARN },
};

static const char *
action_str(enum sts_action a)
{
	switch (a) {
	case STS_USE_CACHED:
		return "use-cached";
	case STS_FETCH:
		return "fetch";
	case STS_NO_POLICY:
		return "no-policy";
	case STS_NO_POLICY_WARN:
		return "no-policy-warn";
	}
	return "?";
}

static void
test_decide_table(void **state)
{
	const struct decide_case	*c;
	struct sts_entry		 e;
	enum sts_action			 a;
	char				 why[128];
	size_t				 i;

	(void)state;
	for (i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		c = &decide_cases[i];
		make_entry(&e, c->kind);
		why[0] = '\0';
		a = sts_decide(c->kind == K_NULL ? NULL : &e, c->dns, c->id,
		    c->now, &set, why, sizeof(why));
		if (a != c->want)
			fail_msg("%s: expected %s, got %s (%s)", c->name,
			    action_str(c->want), action_str(a), why);
		if (why[0] == '\0')
			fail_msg("%s: expected a reason, got none", c->name);
		/* why may be NULL */
		assert_int_equal(sts_decide(c->kind == K_NULL ? NULL : &e,
		    c->dns, c->id, c->now, &set, NULL, 0), a);
		sts_entry_free(&e);
	}
}

/* rule 26: a fetched policy is kept whole, with its times. */
static void
test_fetch_ok(void **state)
{
	struct sts_entry	e;

	(void)state;
	make_entry(&e, K_POLICY);
	assert_string_equal(e.domain, "example.com");
	assert_true(e.has_policy);
	assert_string_equal(e.id, "id1");
	assert_int_equal(e.rawlen, strlen(ENFORCE));
	assert_string_equal(e.raw, ENFORCE);
	assert_int_equal(e.pol.mode, STS_MODE_ENFORCE);
	assert_int_equal(e.pol.nmx, 1);
	assert_string_equal(e.pol.mx[0], "mx1.example.com");
	assert_true(e.fetched == T0);
	assert_true(e.expires == T0 + AGE);
	assert_true(e.next_refresh > T0 && e.next_refresh < e.expires);
	assert_string_equal(e.error_id, "");
	assert_string_equal(e.last_error, "");
	assert_true(e.backoff_until == 0);
	assert_true(sts_entry_usable(&e, T0));
	assert_true(sts_entry_usable(&e, T0 + AGE - 1));
	assert_false(sts_entry_usable(&e, T0 + AGE));	/* rule 28 */
	assert_false(sts_entry_usable(NULL, T0));
	sts_entry_free(&e);
	assert_false(e.has_policy);
	assert_null(e.raw);
	assert_false(sts_entry_usable(&e, T0));
	sts_entry_free(&e);	/* twice is harmless */
}

/* rule 12, rule 29: a failed fetch with nothing cached. */
static void
test_fetch_fail_uncached(void **state)
{
	struct sts_entry	e;
	char			why[128];

	(void)state;
	make_entry(&e, K_ERROR);
	assert_false(e.has_policy);
	assert_string_equal(e.error_id, "id2");
	assert_true(e.error_time == T0);
	assert_string_equal(e.last_error, "HTTP status 404");
	assert_true(e.backoff_until == T0 + BACKOFF);
	assert_true(e.next_refresh == 0);
	assert_int_equal(sts_decide(&e, STS_DNS_FOUND, "id2", T0 + 1, &set,
	    why, sizeof(why)), STS_NO_POLICY_WARN);
	/* A second failure after the backoff moves it on. */
	fetch_fail(&e, "id2", NULL, T0 + BACKOFF);
	assert_string_equal(e.last_error, "fetch failed");
	assert_true(e.backoff_until == T0 + 2 * BACKOFF);
	/* Then a success clears the error (rule 26). */
	fetch_ok(&e, "id2", ENFORCE, T0 + 2 * BACKOFF, 0);
	assert_true(e.has_policy);
	assert_string_equal(e.error_id, "");
	assert_string_equal(e.last_error, "");
	assert_true(e.error_time == 0 && e.backoff_until == 0);
	assert_int_equal(sts_decide(&e, STS_DNS_FOUND, "id2",
	    T0 + 2 * BACKOFF + 1, &set, why, sizeof(why)), STS_USE_CACHED);
	sts_entry_free(&e);
}

/* rule 28: the fetch of a new id fails: the cached policy stays. */
static void
test_fetch_fail_keeps_policy(void **state)
{
	struct sts_entry	e;

	(void)state;
	make_entry(&e, K_BOTH);
	assert_true(e.has_policy);
	assert_string_equal(e.id, "id1");
	assert_int_equal(e.pol.mode, STS_MODE_ENFORCE);
	assert_string_equal(e.raw, ENFORCE);
	assert_true(e.fetched == T0 && e.expires == T0 + AGE);
	assert_string_equal(e.error_id, "id2");
	assert_true(e.error_time == T0 + 100);
	assert_true(e.backoff_until == T0 + 100 + BACKOFF);
	assert_true(sts_entry_usable(&e, T0 + 200));
	sts_entry_free(&e);
}

/* rule 26: a new id's policy replaces the old one. */
static void
test_new_policy_replaces(void **state)
{
	struct sts_entry	e;
	const uint64_t		t = T0 + 1000;

	(void)state;
	make_entry(&e, K_BOTH);
	fetch_ok(&e, "id3", ENFORCE2, t, 0);
	assert_string_equal(e.id, "id3");
	assert_string_equal(e.raw, ENFORCE2);
	assert_string_equal(e.pol.mx[0], "mx2.example.com");
	assert_true(e.fetched == t && e.expires == t + 604800);
	assert_string_equal(e.error_id, "");
	assert_true(sts_policy_match(&e.pol, "mx2.example.com"));
	assert_false(sts_policy_match(&e.pol, "mx1.example.com"));
	sts_entry_free(&e);
}

/* rule 30: a fetched mode none replaces enforce at once. */
static void
test_none_replaces_enforce(void **state)
{
	struct sts_entry	e;
	char			why[128];

	(void)state;
	make_entry(&e, K_POLICY);
	fetch_ok(&e, "id4", NONE, T0 + 50, 0);
	assert_true(e.has_policy);
	assert_int_equal(e.pol.mode, STS_MODE_NONE);
	assert_int_equal(e.pol.nmx, 0);
	assert_string_equal(e.id, "id4");
	assert_true(e.expires == T0 + 50 + DAY);
	assert_int_equal(sts_decide(&e, STS_DNS_FOUND, "id4", T0 + 60, &set,
	    why, sizeof(why)), STS_USE_CACHED);
	/* testing is replaced the same way */
	fetch_ok(&e, "id5", "version: STSv1\nmode: testing\nmx: a.b\n"
	    "max_age: 10\n", T0 + 70, 0);
	fetch_ok(&e, "id6", NONE, T0 + 71, 0);
	assert_int_equal(e.pol.mode, STS_MODE_NONE);
	assert_string_equal(e.id, "id6");
	sts_entry_free(&e);
}

/* rule 26: a copy is deep. */
static void
test_entry_copy(void **state)
{
	struct sts_entry	e, c;

	(void)state;
	make_entry(&e, K_BOTH);
	sts_entry_copy(&c, &e);
	assert_ptr_not_equal(c.raw, e.raw);
	assert_ptr_not_equal(c.pol.mx[0], e.pol.mx[0]);
	sts_entry_free(&e);
	assert_string_equal(c.raw, ENFORCE);
	assert_string_equal(c.pol.mx[0], "mx1.example.com");
	assert_string_equal(c.error_id, "id2");
	assert_string_equal(c.domain, "example.com");
	sts_entry_free(&c);
	make_entry(&e, K_ERROR);	/* no raw, no policy */
	sts_entry_copy(&c, &e);
	assert_null(c.raw);
	assert_int_equal(c.pol.nmx, 0);
	sts_entry_free(&c);
	sts_entry_free(&e);
}

struct plan_case {
	const char	*name;
	const char	*body;
	unsigned	 jitter;
	uint64_t	 want;		/* seconds after the fetch */
};

static const struct plan_case plan_cases[] = {
	{ "rule 31: a day at most, no jitter", ENFORCE2, 0, DAY },
	{ "rule 31: a day less a quarter, full jitter", ENFORCE2, 65535,
	    DAY - DAY / 4 },
	{ "rule 31: jitter past its range is full", ENFORCE2, 1000000,
	    DAY - DAY / 4 },
	{ "rule 31: half jitter", ENFORCE2, 32768, DAY - DAY / 4 * 32768 /
	    65535 },
	{ "rule 31: half of max_age when shorter than a day", ENFORCE, 0,
	    DAY / 2 },
	{ "rule 31: half of max_age less a quarter", ENFORCE, 65535,
	    DAY / 2 - DAY / 8 },
	{ "rule 31: max_age 0: not before a minute", AGE0, 0, 60 },
	{ "rule 31: max_age 100: not before a minute",
	    "version: STSv1\nmode: none\nmax_age: 100\n", 0, 60 },
	{ "rule 31: max_age 31557601 (cut): a day", "version: STSv1\n"
	    "mode: none\nmax_age: 31557601\n", 0, DAY },
};

static void
test_plan_refresh(void **state)
{
	const struct plan_case	*c;
	struct sts_entry	 e;
	uint64_t		 got;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
		c = &plan_cases[i];
		sts_entry_init(&e, "example.com");
		fetch_ok(&e, "id1", c->body, T0, c->jitter);
		got = sts_plan_refresh(&e, T0, &set, c->jitter);
		if (got != T0 + c->want || e.next_refresh != got)
			fail_msg("%s: expected T0+%llu, got T0+%llu (entry "
			    "T0+%llu)", c->name, (unsigned long long)c->want,
			    (unsigned long long)(got - T0),
			    (unsigned long long)(e.next_refresh - T0));
		sts_entry_free(&e);
	}
	sts_entry_init(&e, "example.com");
	assert_true(sts_plan_refresh(&e, T0, &set, 0) == 0);
}

/* rule 31: every jitter plans the refresh before the expiry. */
static void
test_plan_before_expiry(void **state)
{
	struct sts_entry	e;
	unsigned		j;
	uint64_t		t;

	(void)state;
	sts_entry_init(&e, "example.com");
	fetch_ok(&e, "id1", ENFORCE, T0, 0);
	for (j = 0; j <= 65535; j += 257) {
		t = sts_plan_refresh(&e, T0, &set, j);
		assert_true(t >= T0 + DAY / 2 - DAY / 8 && t <= T0 + DAY / 2);
		assert_true(t < e.expires);
	}
	sts_entry_free(&e);
}

struct due_case {
	const char	*name;
	enum kind	 kind;
	uint64_t	 last_use;	/* 0: never */
	uint64_t	 now;
	int		 due;		/* sts_refresh_due */
	int		 drop;		/* sts_expired_entry */
};

/* K_POLICY plans its refresh at T0 + DAY / 2 (jitter 0). */
static const struct due_case due_cases[] = {
	{ "rule 31: not yet due", K_POLICY, T0, T0 + DAY / 2 - 1, 0, 0 },
	{ "rule 31: due at the planned time", K_POLICY, T0, T0 + DAY / 2, 1,
	    0 },
	{ "rule 31: still due once expired, while used", K_POLICY, T0 + DAY,
	    T0 + 2 * DAY, 1, 0 },
	{ "rule 31: never used: counts from the fetch", K_POLICY, 0,
	    T0 + DAY / 2, 1, 0 },
	{ "rule 31: used just under cleanup_age ago", K_POLICY, T0,
	    T0 + CLEANUP - 1, 1, 0 },
	{ "rule 31: unused for cleanup_age: dropped, not refreshed",
	    K_POLICY, T0, T0 + CLEANUP, 0, 1 },
	{ "rule 31: never used, fetched cleanup_age ago: dropped", K_POLICY,
	    0, T0 + CLEANUP, 0, 1 },
	{ "rule 31: used recently, fetched long ago: kept", K_POLICY,
	    T0 + CLEANUP, T0 + CLEANUP + 1, 1, 0 },
	{ "rule 31: failed refresh, backoff over: due again", K_BOTH,
	    T0 + 200, T0 + DAY / 2, 1, 0 },
	{ "rule 31: no policy: never refreshed", K_ERROR, T0, T0 + DAY, 0,
	    0 },
	{ "rule 31: no policy, error just under cleanup_age", K_ERROR, 0,
	    T0 + CLEANUP - 1, 0, 0 },
	{ "rule 31: no policy, error cleanup_age old: dropped", K_ERROR,
	    T0 + CLEANUP, T0 + CLEANUP, 0, 1 },
	{ "rule 31: a clock gone back drops nothing", K_POLICY, T0 + 10, T0,
	    0, 0 },
};

static void
test_due_table(void **state)
{
	const struct due_case	*c;
	struct sts_entry	 e;
	size_t			 i;
	int			 due, drop;

	(void)state;
	for (i = 0; i < sizeof(due_cases) / sizeof(due_cases[0]); i++) {
		c = &due_cases[i];
		make_entry(&e, c->kind);
		e.last_use = c->last_use;
		due = sts_refresh_due(&e, c->now, &set);
		drop = sts_expired_entry(&e, c->now, &set);
		if (due != c->due || drop != c->drop)
			fail_msg("%s: expected due %d drop %d, got %d %d",
			    c->name, c->due, c->drop, due, drop);
		sts_entry_free(&e);
	}
}

/* rule 31: a refresh that fetches the same policy plans the next one. */
static void
test_refresh_cycle(void **state)
{
	struct sts_entry	e;
	uint64_t		t;

	(void)state;
	make_entry(&e, K_POLICY);
	e.last_use = T0;
	t = e.next_refresh;
	assert_true(sts_refresh_due(&e, t, &set));
	fetch_ok(&e, "id1", ENFORCE, t, 0);
	assert_true(e.expires == t + AGE);
	assert_true(e.next_refresh == t + DAY / 2);
	assert_false(sts_refresh_due(&e, t + 1, &set));
	/* A failed refresh leaves the plan, waits out the backoff (rule
	 * 12), and is tried again long before the expiry. */
	fetch_fail(&e, "id1", "timeout", e.next_refresh);
	assert_false(sts_refresh_due(&e, e.error_time + BACKOFF - 1, &set));
	assert_true(sts_refresh_due(&e, e.error_time + BACKOFF, &set));
	assert_true(e.error_time + BACKOFF < e.expires);
	sts_entry_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_fetch_ok),
		cmocka_unit_test(test_fetch_fail_uncached),
		cmocka_unit_test(test_fetch_fail_keeps_policy),
		cmocka_unit_test(test_new_policy_replaces),
		cmocka_unit_test(test_none_replaces_enforce),
		cmocka_unit_test(test_entry_copy),
		cmocka_unit_test(test_plan_refresh),
		cmocka_unit_test(test_plan_before_expiry),
		cmocka_unit_test(test_due_table),
		cmocka_unit_test(test_refresh_cycle),
	};

	log_init("test_sts_state", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
