/*
 * test_mxwalk.c - unit tests of delivery/mxwalk.c: the verdicts of the
 * MX answer (NXDOMAIN 5.1.2, null MX 5.1.10, NODATA to the implicit MX,
 * SERVFAIL/REFUSED/time-out deferred without fallback), preference order
 * and shuffling among equal preferences with a seeded random source, the
 * loop rule by name and by address (5.4.6), the host limit, unusable MX
 * data (IP literals, the root, bad names), and the address order by
 * family with duplicates, unspecified addresses and the address limit.
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
#include "delivery/mxwalk.h"

static uint32_t
lcg(void *arg)
{
	uint64_t	*s = arg;

	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

static const struct mxwalk_identity	no_id = { NULL, 0, NULL, 0 };
static const struct mxwalk_settings	def_set = { 5, 0, MXWALK_PREFER_V6 };

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

static const char *
ntop(const struct dns_addr *a)
{
	static char	buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(a->family, &a->u, buf, sizeof(buf)));
	return buf;
}

/* MX records from "10 mx1.example.org" strings (host may be empty). */
static size_t
mxs(struct dns_mx *mx, const char *const *spec)
{
	size_t	n;

	for (n = 0; spec[n] != NULL; n++) {
		char	*end;

		mx[n].pref = (unsigned)strtoul(spec[n], &end, 10);
		mx[n].host = *end == ' ' ? end + 1 : end;
	}
	return n;
}

static enum mxwalk_verdict
walk(const char *const *spec, const struct mxwalk_identity *id,
    const struct mxwalk_settings *set, uint64_t *seed, struct mxwalk_hosts *h)
{
	struct dns_mx	mx[16];
	size_t		n = mxs(mx, spec);

	return mxwalk_hosts("Example.org", DNS_OK, mx, n, id, set,
	    seed ? lcg : NULL, seed, h);
}

static int
has_skip(const struct mxwalk_skip *s, size_t n, const char *name,
    enum mxwalk_why why)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0 && s[i].why == why)
			return 1;
	return 0;
}

/* ---- step 1 ---- */

static void
test_nxdomain(void **state)
{
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(mxwalk_hosts("example.org", DNS_NXDOMAIN, NULL, 0,
	    &no_id, &def_set, NULL, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.1.2");
	assert_string_equal(h.text, "domain example.org does not exist");
	assert_int_equal(h.nhosts, 0);
	mxwalk_hosts_free(&h);
}

static void
test_null_mx(void **state)
{
	static const char *const s1[] = { "0 ", NULL };
	static const char *const s2[] = { "0 .", NULL };
	static const char *const s3[] = { "10 .", NULL };
	static const char *const s4[] = { "0 .", "10 mx.example.org", NULL };
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(walk(s1, &no_id, &def_set, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.1.10");
	assert_string_equal(h.text, "domain Example.org accepts no mail (null MX)");
	mxwalk_hosts_free(&h);
	assert_int_equal(walk(s2, &no_id, &def_set, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.1.10");
	mxwalk_hosts_free(&h);
	/* Not the null MX of RFC 7505, but no usable host either. */
	assert_int_equal(walk(s3, &no_id, &def_set, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.4.4");
	assert_true(has_skip(h.skips, h.nskips, ".", MXWALK_SKIP_ROOT));
	mxwalk_hosts_free(&h);
	/* A "null MX" among others: the root is dropped, the rest used. */
	assert_int_equal(walk(s4, &no_id, &def_set, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 1);
	assert_string_equal(h.hosts[0].name, "mx.example.org");
	assert_true(has_skip(h.skips, h.nskips, ".", MXWALK_SKIP_ROOT));
	mxwalk_hosts_free(&h);
}

static void
test_implicit_mx(void **state)
{
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(mxwalk_hosts("Example.ORG.", DNS_NODATA, NULL, 0,
	    &no_id, &def_set, NULL, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 1);
	assert_string_equal(h.hosts[0].name, "example.org");
	assert_int_equal(h.hosts[0].pref, 0);
	assert_int_equal(h.hosts[0].implicit, 1);
	mxwalk_hosts_free(&h);
	/* NOERROR with an empty list reads the same. */
	assert_int_equal(mxwalk_hosts("example.org", DNS_OK, NULL, 0,
	    &no_id, &def_set, NULL, NULL, &h), MXWALK_GO);
	assert_int_equal(h.hosts[0].implicit, 1);
	mxwalk_hosts_free(&h);
}

static void
test_temporary_no_fallback(void **state)
{
	static const enum dns_status	sts[] = { DNS_SERVFAIL, DNS_REFUSED,
	    DNS_TIMEOUT, DNS_ERROR };
	struct mxwalk_hosts		h;
	size_t				i;
	char				want[128];

	(void)state;
	for (i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		assert_int_equal(mxwalk_hosts("example.org", sts[i], NULL, 0,
		    &no_id, &def_set, NULL, NULL, &h), MXWALK_DEFER);
		assert_string_equal(h.status, "4.4.3");
		assert_true(bsnprintf(want, sizeof(want),
		    "MX lookup for example.org failed: %s",
		    dns_status_str(sts[i])));
		assert_string_equal(h.text, want);
		/* Never the domain's own A/AAAA. */
		assert_int_equal(h.nhosts, 0);
		mxwalk_hosts_free(&h);
	}
}

static void
test_preference_order(void **state)
{
	static const char *const s[] = { "30 c.example.org",
	    "10 A.example.org.", "20 b.example.org", NULL };
	struct mxwalk_hosts	h;
	uint64_t		seed = 1;

	(void)state;
	assert_int_equal(walk(s, &no_id, &def_set, &seed, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 3);
	assert_string_equal(h.hosts[0].name, "a.example.org");
	assert_int_equal(h.hosts[0].pref, 10);
	assert_string_equal(h.hosts[1].name, "b.example.org");
	assert_string_equal(h.hosts[2].name, "c.example.org");
	assert_int_equal(h.hosts[2].pref, 30);
	assert_int_equal(h.hosts[0].implicit, 0);
	assert_int_equal(h.nskips, 0);
	mxwalk_hosts_free(&h);
}

static void
test_equal_preference_random(void **state)
{
	static const char *const s[] = { "20 w.example.org", "10 x.example.org",
	    "10 y.example.org", "10 z.example.org", NULL };
	struct mxwalk_hosts	h, h2;
	uint64_t		seed, seed2;
	int			first[3] = { 0, 0, 0 };

	(void)state;
	for (seed = 1; seed <= 300; seed++) {
		uint64_t	s1 = seed;

		assert_int_equal(walk(s, &no_id, &def_set, &s1, &h), MXWALK_GO);
		assert_int_equal(h.nhosts, 4);
		assert_int_equal(h.hosts[0].pref, 10);
		assert_int_equal(h.hosts[1].pref, 10);
		assert_int_equal(h.hosts[2].pref, 10);
		assert_string_equal(h.hosts[3].name, "w.example.org");
		first[h.hosts[0].name[0] - 'x']++;
		mxwalk_hosts_free(&h);
	}
	/* Each of the three comes first, about a third of the time. */
	assert_true(first[0] > 50 && first[1] > 50 && first[2] > 50);
	/* The same seed gives the same order. */
	seed = seed2 = 42;
	walk(s, &no_id, &def_set, &seed, &h);
	walk(s, &no_id, &def_set, &seed2, &h2);
	assert_string_equal(h.hosts[0].name, h2.hosts[0].name);
	assert_string_equal(h.hosts[1].name, h2.hosts[1].name);
	mxwalk_hosts_free(&h);
	mxwalk_hosts_free(&h2);
	/* No random source: the answer's order. */
	walk(s, &no_id, &def_set, NULL, &h);
	assert_string_equal(h.hosts[0].name, "x.example.org");
	assert_string_equal(h.hosts[1].name, "y.example.org");
	assert_string_equal(h.hosts[2].name, "z.example.org");
	mxwalk_hosts_free(&h);
}

static void
test_loop_by_name(void **state)
{
	static const char *const names[] = { "other.example.net",
	    "MX2.Example.org." };
	static const char *const s[] = { "30 mx3.example.org",
	    "10 mx1.example.org", "20 mx2.example.org", "20 mx2b.example.org",
	    "5 mx0.example.org", NULL };
	static const char *const best[] = { "20 mx2.example.org",
	    "20 mx2b.example.org", "30 mx3.example.org", NULL };
	struct mxwalk_identity	id = { names, 2, NULL, 0 };
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(walk(s, &id, &def_set, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 2);
	assert_string_equal(h.hosts[0].name, "mx0.example.org");
	assert_string_equal(h.hosts[1].name, "mx1.example.org");
	assert_true(has_skip(h.skips, h.nskips, "mx2.example.org",
	    MXWALK_SKIP_SELF));
	assert_true(has_skip(h.skips, h.nskips, "mx2b.example.org",
	    MXWALK_SKIP_BEHIND_SELF));
	assert_true(has_skip(h.skips, h.nskips, "mx3.example.org",
	    MXWALK_SKIP_BEHIND_SELF));
	mxwalk_hosts_free(&h);
	/* This host is the best MX: nothing left, a loop. */
	assert_int_equal(walk(best, &id, &def_set, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.4.6");
	assert_string_equal(h.text, "mail for Example.org loops back to myself");
	mxwalk_hosts_free(&h);
	/* The implicit MX naming this host. */
	assert_int_equal(mxwalk_hosts("mx2.example.org", DNS_NODATA, NULL, 0,
	    &id, &def_set, NULL, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.4.6");
	mxwalk_hosts_free(&h);
}

static void
test_host_limit(void **state)
{
	static const char *const s[] = { "10 a.example.org", "20 b.example.org",
	    "30 c.example.org", "40 d.example.org", "50 e.example.org", NULL };
	struct mxwalk_settings	set = { 2, 0, MXWALK_PREFER_V6 };
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(walk(s, &no_id, &set, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 2);
	assert_string_equal(h.hosts[1].name, "b.example.org");
	assert_int_equal(h.nskips, 3);
	assert_true(has_skip(h.skips, h.nskips, "e.example.org",
	    MXWALK_SKIP_LIMIT));
	mxwalk_hosts_free(&h);
	set.max_hosts = 0;	/* no limit */
	assert_int_equal(walk(s, &no_id, &set, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 5);
	mxwalk_hosts_free(&h);
}

static void
test_unusable_mx_data(void **state)
{
	static const char *const s[] = { "10 192.0.2.1", "10 [192.0.2.2]",
	    "10 2001:db8::1", "10 bad name.example.org", "10 -x.example.org",
	    "10 a..example.org", "10 host.123", "20 ok_1.example.org", NULL };
	static const char *const lits[] = { "10 192.0.2.1", "20 2001:db8::25",
	    NULL };
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(walk(s, &no_id, &def_set, NULL, &h), MXWALK_GO);
	assert_int_equal(h.nhosts, 1);
	assert_string_equal(h.hosts[0].name, "ok_1.example.org");
	assert_true(has_skip(h.skips, h.nskips, "192.0.2.1", MXWALK_SKIP_LITERAL));
	assert_true(has_skip(h.skips, h.nskips, "[192.0.2.2]",
	    MXWALK_SKIP_LITERAL));
	assert_true(has_skip(h.skips, h.nskips, "2001:db8::1",
	    MXWALK_SKIP_LITERAL));
	assert_true(has_skip(h.skips, h.nskips, "bad name.example.org",
	    MXWALK_SKIP_BADNAME));
	assert_true(has_skip(h.skips, h.nskips, "-x.example.org",
	    MXWALK_SKIP_BADNAME));
	assert_true(has_skip(h.skips, h.nskips, "a..example.org",
	    MXWALK_SKIP_BADNAME));
	assert_true(has_skip(h.skips, h.nskips, "host.123", MXWALK_SKIP_BADNAME));
	assert_int_equal(h.nskips, 7);
	mxwalk_hosts_free(&h);
	/* Only literals: MX records present, none usable. */
	assert_int_equal(walk(lits, &no_id, &def_set, NULL, &h), MXWALK_FAIL);
	assert_string_equal(h.status, "5.4.4");
	assert_string_equal(h.text, "domain Example.org has no usable MX");
	mxwalk_hosts_free(&h);
	assert_string_equal(mxwalk_why_str(MXWALK_SKIP_LITERAL),
	    "IP address literal in MX record");
}

/* ---- step 2 ---- */

struct fixture {
	struct mxwalk_hosts	 h;
	struct mxwalk_answer	 ans[4];
	struct dns_addr		 a4[4][4], a6[4][4];
};

/* Three MX hosts (10, 20, 30), each with two A and one AAAA. */
static void
fixture_init(struct fixture *f)
{
	static const char *const s[] = { "10 mx1.example.org",
	    "20 mx2.example.org", "30 mx3.example.org", NULL };
	char		buf[64];
	size_t		i;

	memset(f, 0, sizeof(*f));
	assert_int_equal(walk(s, &no_id, &def_set, NULL, &f->h), MXWALK_GO);
	for (i = 0; i < 3; i++) {
		assert_true(bsnprintf(buf, sizeof(buf), "192.0.2.%zu", 10 * (i + 1)));
		f->a4[i][0] = A(buf);
		assert_true(bsnprintf(buf, sizeof(buf), "192.0.2.%zu", 10 * (i + 1) + 1));
		f->a4[i][1] = A(buf);
		assert_true(bsnprintf(buf, sizeof(buf), "2001:db8::%zu", i + 1));
		f->a6[i][0] = A(buf);
		f->ans[i].st4 = f->ans[i].st6 = DNS_OK;
		f->ans[i].a4 = f->a4[i];
		f->ans[i].n4 = 2;
		f->ans[i].a6 = f->a6[i];
		f->ans[i].n6 = 1;
	}
}

static void
test_family_preference(void **state)
{
	struct fixture		f;
	struct mxwalk_targets	t;
	struct mxwalk_settings	set = { 5, 0, MXWALK_PREFER_V6 };
	int			v6first = 0, v4first = 0;
	uint64_t		seed;

	(void)state;
	fixture_init(&f);
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set,
	    NULL, NULL, &t), MXWALK_GO);
	assert_int_equal(t.ntargets, 9);
	assert_string_equal(t.targets[0].host, "mx1.example.org");
	assert_string_equal(ntop(&t.targets[0].addr), "2001:db8::1");
	assert_string_equal(ntop(&t.targets[1].addr), "192.0.2.10");
	assert_string_equal(ntop(&t.targets[2].addr), "192.0.2.11");
	assert_string_equal(t.targets[3].host, "mx2.example.org");
	assert_string_equal(ntop(&t.targets[3].addr), "2001:db8::2");
	assert_int_equal(t.targets[3].pref, 20);
	assert_string_equal(t.targets[8].host, "mx3.example.org");
	mxwalk_targets_free(&t);

	set.family = MXWALK_PREFER_V4;
	mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, NULL, NULL, &t);
	assert_string_equal(ntop(&t.targets[0].addr), "192.0.2.10");
	assert_string_equal(ntop(&t.targets[2].addr), "2001:db8::1");
	mxwalk_targets_free(&t);

	set.family = MXWALK_ONLY_V4;
	f.ans[0].st6 = DNS_TIMEOUT;	/* ignored: not asked */
	mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, NULL, NULL, &t);
	assert_int_equal(t.ntargets, 6);
	assert_int_equal(t.targets[5].addr.family, AF_INET);
	mxwalk_targets_free(&t);
	f.ans[0].st6 = DNS_OK;

	set.family = MXWALK_ONLY_V6;
	mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, NULL, NULL, &t);
	assert_int_equal(t.ntargets, 3);
	assert_string_equal(ntop(&t.targets[2].addr), "2001:db8::3");
	mxwalk_targets_free(&t);

	/* Any: both families mixed, host order kept. */
	set.family = MXWALK_FAMILY_ANY;
	for (seed = 1; seed <= 100; seed++) {
		uint64_t	s = seed;

		mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, lcg, &s,
		    &t);
		assert_int_equal(t.ntargets, 9);
		assert_string_equal(t.targets[2].host, "mx1.example.org");
		assert_string_equal(t.targets[3].host, "mx2.example.org");
		if (t.targets[0].addr.family == AF_INET6)
			v6first++;
		else
			v4first++;
		mxwalk_targets_free(&t);
	}
	assert_true(v6first > 10 && v4first > 10);
	mxwalk_hosts_free(&f.h);
}

static void
test_addresses_shuffled(void **state)
{
	struct fixture		f;
	struct mxwalk_targets	t;
	struct mxwalk_settings	set = { 5, 0, MXWALK_PREFER_V4 };
	uint64_t		seed;
	int			tenfirst = 0;

	(void)state;
	fixture_init(&f);
	for (seed = 1; seed <= 100; seed++) {
		uint64_t	s = seed;

		mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, lcg, &s,
		    &t);
		assert_int_equal(t.targets[0].addr.family, AF_INET);
		assert_int_equal(t.targets[1].addr.family, AF_INET);
		assert_int_equal(t.targets[2].addr.family, AF_INET6);
		tenfirst += strcmp(ntop(&t.targets[0].addr), "192.0.2.10") == 0;
		mxwalk_targets_free(&t);
	}
	assert_true(tenfirst > 20 && tenfirst < 80);
	mxwalk_hosts_free(&f.h);
}

static void
test_loop_by_address(void **state)
{
	struct fixture		f;
	struct mxwalk_targets	t;
	struct dns_addr		mine[2];
	struct mxwalk_identity	id = { NULL, 0, mine, 2 };
	size_t			i;

	(void)state;
	fixture_init(&f);
	mine[0] = A("198.51.100.1");
	mine[1] = A("2001:db8::2");		/* mx2's AAAA */
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &id,
	    &def_set, NULL, NULL, &t), MXWALK_GO);
	assert_int_equal(t.ntargets, 3);
	for (i = 0; i < t.ntargets; i++)
		assert_string_equal(t.targets[i].host, "mx1.example.org");
	assert_true(has_skip(t.skips, t.nskips, "mx2.example.org",
	    MXWALK_SKIP_SELF));
	assert_true(has_skip(t.skips, t.nskips, "mx3.example.org",
	    MXWALK_SKIP_BEHIND_SELF));
	mxwalk_targets_free(&t);
	/* The best MX resolves to this host: a loop. */
	mine[1] = A("192.0.2.11");		/* mx1's second A */
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &id,
	    &def_set, NULL, NULL, &t), MXWALK_FAIL);
	assert_string_equal(t.status, "5.4.6");
	assert_string_equal(t.text, "mail for example.org loops back to myself");
	mxwalk_targets_free(&t);
	/* An address of a family not used does not count. */
	{
		struct mxwalk_settings	v6 = { 5, 0, MXWALK_ONLY_V6 };

		assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &id,
		    &v6, NULL, NULL, &t), MXWALK_GO);
		assert_int_equal(t.ntargets, 3);
		mxwalk_targets_free(&t);
	}
	mxwalk_hosts_free(&f.h);
}

static void
test_no_address(void **state)
{
	struct fixture		f;
	struct mxwalk_targets	t;
	struct mxwalk_hosts	h;
	struct mxwalk_answer	a;
	size_t			i;

	(void)state;
	fixture_init(&f);
	for (i = 0; i < 3; i++) {
		f.ans[i].st4 = DNS_NXDOMAIN;
		f.ans[i].st6 = i == 1 ? DNS_NODATA : DNS_NXDOMAIN;
	}
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &no_id,
	    &def_set, NULL, NULL, &t), MXWALK_FAIL);
	assert_string_equal(t.status, "5.4.4");
	assert_string_equal(t.text, "no address for the MX hosts of example.org");
	assert_true(has_skip(t.skips, t.nskips, "mx2.example.org",
	    MXWALK_SKIP_NOADDR));
	mxwalk_targets_free(&t);
	/* One temporary failure: deferred, not bounced. */
	f.ans[2].st6 = DNS_SERVFAIL;
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &no_id,
	    &def_set, NULL, NULL, &t), MXWALK_DEFER);
	assert_string_equal(t.status, "4.4.3");
	mxwalk_targets_free(&t);
	/* ...but a host that resolves is tried. */
	f.ans[2].st4 = DNS_OK;
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &no_id,
	    &def_set, NULL, NULL, &t), MXWALK_GO);
	assert_int_equal(t.ntargets, 2);
	assert_string_equal(t.targets[0].host, "mx3.example.org");
	mxwalk_targets_free(&t);
	mxwalk_hosts_free(&f.h);

	/* The implicit MX without an address. */
	mxwalk_hosts("example.org", DNS_NODATA, NULL, 0, &no_id, &def_set,
	    NULL, NULL, &h);
	memset(&a, 0, sizeof(a));
	a.st4 = a.st6 = DNS_NODATA;
	assert_int_equal(mxwalk_addrs("example.org", &h, &a, &no_id, &def_set,
	    NULL, NULL, &t), MXWALK_FAIL);
	assert_string_equal(t.text, "domain example.org has no MX and no address");
	mxwalk_targets_free(&t);
	mxwalk_hosts_free(&h);
}

static void
test_duplicates_unspecified_limit(void **state)
{
	struct fixture		f;
	struct mxwalk_targets	t;
	struct mxwalk_settings	set = { 5, 4, MXWALK_PREFER_V4 };

	(void)state;
	fixture_init(&f);
	f.a4[1][0] = f.a4[0][0];	/* mx2 shares mx1's first address */
	f.a4[0][1] = A("0.0.0.0");
	f.a6[2][0] = A("::");
	assert_int_equal(mxwalk_addrs("example.org", &f.h, f.ans, &no_id,
	    &set, NULL, NULL, &t), MXWALK_GO);
	assert_int_equal(t.ntargets, 4);
	assert_string_equal(ntop(&t.targets[0].addr), "192.0.2.10");
	assert_string_equal(ntop(&t.targets[1].addr), "2001:db8::1");
	assert_string_equal(t.targets[2].host, "mx2.example.org");
	assert_string_equal(ntop(&t.targets[2].addr), "192.0.2.21");
	assert_string_equal(ntop(&t.targets[3].addr), "2001:db8::2");
	mxwalk_targets_free(&t);
	set.max_addrs = 0;
	mxwalk_addrs("example.org", &f.h, f.ans, &no_id, &set, NULL, NULL, &t);
	assert_int_equal(t.ntargets, 6);	/* 9 less a duplicate, two unspecified */
	mxwalk_targets_free(&t);
	mxwalk_hosts_free(&f.h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_temporary_no_fallback),
		cmocka_unit_test(test_preference_order),
		cmocka_unit_test(test_equal_preference_random),
		cmocka_unit_test(test_loop_by_name),
		cmocka_unit_test(test_host_limit),
		cmocka_unit_test(test_unusable_mx_data),
		cmocka_unit_test(test_family_preference),
		cmocka_unit_test(test_addresses_shuffled),
		cmocka_unit_test(test_loop_by_address),
		cmocka_unit_test(test_no_address),
		cmocka_unit_test(test_duplicates_unspecified_limit),
	};

	log_init("test_mxwalk", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
