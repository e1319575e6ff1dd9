/*
 * mxwalk.c - the MX walk of RFC 5321 5.1 as pure functions: sorting and
 * shuffling, the null MX, the loop rule (by name in step 1, by address in
 * step 2), unusable MX data, and the address order by family.  The rules
 * and their verdicts are listed in mxwalk.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mxwalk.h"
#include "common/util.h"

#define MXWALK_NOPREF	((unsigned long)-1)	/* above every 16-bit pref */

/* ---- names ---- */

/* name lower-cased, one trailing dot removed; the caller frees. */
static char *
mxwalk_norm(const char *name)
{
	char	*s = str_lower(xstrdup(name));
	size_t	 n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
	return s;
}

static int
mxwalk_is_root(const char *host)
{
	return host[0] == '\0' || strcmp(host, ".") == 0;
}

/* An IP address in MX data: dotted quad, IPv6, or bracketed. */
static int
mxwalk_is_literal(const char *host)
{
	unsigned char	a[16];

	if (host[0] == '[')
		return 1;
	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

/* Letters, digits, '-' and '_' in labels of 1 to 63 octets, no label
 * starting or ending with '-', at most 253 octets, the last label not
 * all digits (RFC 3696 2).  name is normalised (no trailing dot). */
static int
mxwalk_valid_name(const char *name)
{
	size_t		 len = 0, total = strlen(name);
	int		 alldigits = 1;
	const char	*p;

	if (total == 0 || total > 253)
		return 0;
	for (p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (len == 0 || len > 63 || p[-1] == '-')
				return 0;
			if (*p == '\0')
				return !alldigits;
			len = 0;
			alldigits = 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
		if (*p == '-' && len == 0)
			return 0;
		if (!isdigit((unsigned char)*p))
			alldigits = 0;
		len++;
	}
}

static int
mxwalk_is_me_name(const struct mxwalk_identity *id, const char *name)
{
	size_t	 i;
	char	*n;
	int	 me = 0;

	for (i = 0; i < id->nnames && !me; i++) {
		n = mxwalk_norm(id->names[i]);
		me = strcmp(n, name) == 0;
		free(n);
	}
	return me;
}

/* ---- lists ---- */

static void
mxwalk_skip_add(struct mxwalk_skip **skips, size_t *n, const char *name,
    unsigned pref, enum mxwalk_why why)
{
	*skips = xreallocarray(*skips, *n + 1, sizeof(**skips));
	(*skips)[*n].name = xstrdup(name);
	(*skips)[*n].pref = pref;
	(*skips)[*n].why = why;
	(*n)++;
}

static int
mxwalk_host_cmp(const void *a, const void *b)
{
	const struct mxwalk_host	*x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return 0;
}

/* Fisher-Yates over v[0..n), elements of size sz; no random source
 * leaves the order alone. */
static void
mxwalk_shuffle(void *v, size_t n, size_t sz, mxwalk_rand_fn rnd, void *arg)
{
	unsigned char	 tmp[sizeof(struct mxwalk_target)], *b = v;
	size_t		 i, j;

	if (sz > sizeof(tmp))
		fatalx("mxwalk_shuffle: element too large");
	if (rnd == NULL)
		return;
	for (i = n; i > 1; i--) {
		j = (size_t)(rnd(arg) % i);
		memcpy(tmp, b + (i - 1) * sz, sz);
		memcpy(b + (i - 1) * sz, b + j * sz, sz);
		memcpy(b + j * sz, tmp, sz);
	}
}

/* Sorted by preference (an insertion sort: stable, so that without a
 * random source equal preferences keep the answer's order), then each
 * run of equal preferences shuffled. */
static void
mxwalk_sort(struct mxwalk_host *h, size_t n, mxwalk_rand_fn rnd, void *arg)
{
	size_t	i, j;

	for (i = 1; i < n; i++) {
		struct mxwalk_host	t = h[i];

		for (j = i; j > 0 && mxwalk_host_cmp(&h[j - 1], &t) > 0; j--)
			h[j] = h[j - 1];
		h[j] = t;
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && h[j].pref == h[i].pref; j++)
			;
		mxwalk_shuffle(h + i, j - i, sizeof(*h), rnd, arg);
	}
}

static enum mxwalk_verdict
mxwalk_verdict_set(enum mxwalk_verdict v, char *status, size_t ssz,
    char *text, size_t tsz, const char *code, const char *fmt,
    const char *domain)
{
	(void)strlcpy(status, code, ssz);
	(void)bsnprintf(text, tsz, fmt, domain);
	return v;
}

#define MXWALK_SET(o, v, code, fmt, d) \
	((o)->verdict = mxwalk_verdict_set((v), (o)->status, \
	    sizeof((o)->status), (o)->text, sizeof((o)->text), (code), (fmt), (d)))

/* ---- step 1 ---- */

static enum mxwalk_verdict
mxwalk_lookup_failed(const char *domain, enum dns_status st,
    struct mxwalk_hosts *out)
{
	if (st == DNS_NXDOMAIN)
		MXWALK_SET(out, MXWALK_FAIL, "5.1.2", "domain %s does not exist",
		    domain);
	else {
		out->verdict = MXWALK_DEFER;
		(void)strlcpy(out->status, "4.4.3", sizeof(out->status));
		(void)bsnprintf(out->text, sizeof(out->text),
		    "MX lookup for %s failed: %s", domain, dns_status_str(st));
	}
	return out->verdict;
}

static enum mxwalk_verdict
mxwalk_implicit(const char *domain, const struct mxwalk_identity *id,
    struct mxwalk_hosts *out)
{
	char	*name = mxwalk_norm(domain);

	if (mxwalk_is_me_name(id, name)) {
		mxwalk_skip_add(&out->skips, &out->nskips, name, 0,
		    MXWALK_SKIP_SELF);
		free(name);
		return MXWALK_SET(out, MXWALK_FAIL, "5.4.6",
		    "mail for %s loops back to myself", domain);
	}
	out->hosts = xcalloc(1, sizeof(*out->hosts));
	out->hosts[0].name = name;
	out->hosts[0].implicit = 1;
	out->nhosts = 1;
	return out->verdict = MXWALK_GO;
}

/* Usable MX into out->hosts, the others into out->skips. */
static void
mxwalk_classify(const struct dns_mx *mx, size_t nmx, struct mxwalk_hosts *out)
{
	size_t	 i;
	char	*name;

	out->hosts = xcalloc(nmx, sizeof(*out->hosts));
	for (i = 0; i < nmx; i++) {
		name = mxwalk_norm(mx[i].host);
		if (mxwalk_is_root(mx[i].host))
			mxwalk_skip_add(&out->skips, &out->nskips, ".",
			    mx[i].pref, MXWALK_SKIP_ROOT);
		else if (mxwalk_is_literal(name))
			mxwalk_skip_add(&out->skips, &out->nskips, name,
			    mx[i].pref, MXWALK_SKIP_LITERAL);
		else if (!mxwalk_valid_name(name))
			mxwalk_skip_add(&out->skips, &out->nskips, name,
			    mx[i].pref, MXWALK_SKIP_BADNAME);
		else {
			out->hosts[out->nhosts].name = name;
			out->hosts[out->nhosts++].pref = mx[i].pref;
			continue;
		}
		free(name);
	}
}

/* Drops hosts at or behind the best preference this host has; returns 1
 * when this host was among them. */
static int
mxwalk_drop_self(const struct mxwalk_identity *id, struct mxwalk_hosts *out)
{
	unsigned long	self = MXWALK_NOPREF;
	size_t		i, kept = 0;

	for (i = 0; i < out->nhosts; i++)
		if (out->hosts[i].pref < self &&
		    mxwalk_is_me_name(id, out->hosts[i].name))
			self = out->hosts[i].pref;
	if (self == MXWALK_NOPREF)
		return 0;
	for (i = 0; i < out->nhosts; i++) {
		if (out->hosts[i].pref < self) {
			out->hosts[kept++] = out->hosts[i];
			continue;
		}
		mxwalk_skip_add(&out->skips, &out->nskips, out->hosts[i].name,
		    out->hosts[i].pref, mxwalk_is_me_name(id, out->hosts[i].name) ?
		    MXWALK_SKIP_SELF : MXWALK_SKIP_BEHIND_SELF);
		free(out->hosts[i].name);
	}
	out->nhosts = kept;
	return 1;
}

static void
mxwalk_limit(size_t max, struct mxwalk_hosts *out)
{
	while (max > 0 && out->nhosts > max) {
		out->nhosts--;
		mxwalk_skip_add(&out->skips, &out->nskips,
		    out->hosts[out->nhosts].name, out->hosts[out->nhosts].pref,
		    MXWALK_SKIP_LIMIT);
		free(out->hosts[out->nhosts].name);
	}
}

enum mxwalk_verdict
mxwalk_hosts(const char *domain, enum dns_status st, const struct dns_mx *mx,
    size_t nmx, const struct mxwalk_identity *id,
    const struct mxwalk_settings *set, mxwalk_rand_fn rnd, void *rndarg,
    struct mxwalk_hosts *out)
{
	memset(out, 0, sizeof(*out));
	if (st == DNS_NODATA || (st == DNS_OK && nmx == 0))
		return mxwalk_implicit(domain, id, out);
	if (st != DNS_OK)
		return mxwalk_lookup_failed(domain, st, out);
	if (nmx == 1 && mx[0].pref == 0 && mxwalk_is_root(mx[0].host))
		return MXWALK_SET(out, MXWALK_FAIL, "5.1.10",
		    "domain %s accepts no mail (null MX)", domain);
	mxwalk_classify(mx, nmx, out);
	if (mxwalk_drop_self(id, out) && out->nhosts == 0)
		return MXWALK_SET(out, MXWALK_FAIL, "5.4.6",
		    "mail for %s loops back to myself", domain);
	if (out->nhosts == 0)
		return MXWALK_SET(out, MXWALK_FAIL, "5.4.4",
		    "domain %s has no usable MX", domain);
	mxwalk_sort(out->hosts, out->nhosts, rnd, rndarg);
	mxwalk_limit(set->max_hosts, out);
	return out->verdict = MXWALK_GO;
}

static void
mxwalk_skips_free(struct mxwalk_skip *skips, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(skips[i].name);
	free(skips);
}

void
mxwalk_hosts_free(struct mxwalk_hosts *h)
{
	size_t	i;

	for (i = 0; i < h->nhosts; i++)
		free(h->hosts[i].name);
	free(h->hosts);
	mxwalk_skips_free(h->skips, h->nskips);
	memset(h, 0, sizeof(*h));
}

/* ---- step 2 ---- */

static int
mxwalk_addr_eq(const struct dns_addr *a, const struct dns_addr *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return a->u.v4.s_addr == b->u.v4.s_addr;
	return memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6)) == 0;
}

static int
mxwalk_addr_unspecified(const struct dns_addr *a)
{
	if (a->family == AF_INET)
		return a->u.v4.s_addr == INADDR_ANY;
	return IN6_IS_ADDR_UNSPECIFIED(&a->u.v6);
}

static int
mxwalk_use_v4(const struct mxwalk_settings *set)
{
	return set->family != MXWALK_ONLY_V6;
}

static int
mxwalk_use_v6(const struct mxwalk_settings *set)
{
	return set->family != MXWALK_ONLY_V4;
}

static int
mxwalk_is_me_addr(const struct mxwalk_identity *id, const struct dns_addr *a)
{
	size_t	i;

	for (i = 0; i < id->naddrs; i++)
		if (mxwalk_addr_eq(&id->addrs[i], a))
			return 1;
	return 0;
}

static int
mxwalk_list_is_me(const struct mxwalk_identity *id, const struct dns_addr *a,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (mxwalk_is_me_addr(id, &a[i]))
			return 1;
	return 0;
}

static int
mxwalk_host_is_me(const struct mxwalk_identity *id,
    const struct mxwalk_settings *set, const struct mxwalk_answer *a)
{
	return (mxwalk_use_v4(set) && a->st4 == DNS_OK &&
	    mxwalk_list_is_me(id, a->a4, a->n4)) ||
	    (mxwalk_use_v6(set) && a->st6 == DNS_OK &&
	    mxwalk_list_is_me(id, a->a6, a->n6));
}

static int
mxwalk_temporary(enum dns_status st)
{
	return st != DNS_OK && st != DNS_NODATA && st != DNS_NXDOMAIN;
}

static int
mxwalk_seen(const struct mxwalk_targets *out, const struct dns_addr *a)
{
	size_t	i;

	for (i = 0; i < out->ntargets; i++)
		if (mxwalk_addr_eq(&out->targets[i].addr, a))
			return 1;
	return 0;
}

/* Appends the new, usable addresses of one family of one host; returns
 * how many. */
static size_t
mxwalk_add_family(const struct mxwalk_host *host, enum dns_status st,
    const struct dns_addr *a, size_t n, struct mxwalk_targets *out)
{
	size_t	i, added = 0;

	if (st != DNS_OK)
		return 0;
	for (i = 0; i < n; i++) {
		if (mxwalk_addr_unspecified(&a[i]) || mxwalk_seen(out, &a[i]))
			continue;
		out->targets = xreallocarray(out->targets, out->ntargets + 1,
		    sizeof(*out->targets));
		out->targets[out->ntargets].host = host->name;
		out->targets[out->ntargets].pref = host->pref;
		out->targets[out->ntargets].addr = a[i];
		out->ntargets++;
		added++;
	}
	return added;
}

/* The addresses of one host, in the family order of the settings. */
static size_t
mxwalk_add_host(const struct mxwalk_host *host, const struct mxwalk_answer *a,
    const struct mxwalk_settings *set, mxwalk_rand_fn rnd, void *arg,
    struct mxwalk_targets *out)
{
	size_t	first = out->ntargets, n1 = 0, n2 = 0;
	int	v6first = set->family == MXWALK_PREFER_V6 ||
		    set->family == MXWALK_ONLY_V6;

	if (v6first && mxwalk_use_v6(set))
		n1 = mxwalk_add_family(host, a->st6, a->a6, a->n6, out);
	else if (mxwalk_use_v4(set))
		n1 = mxwalk_add_family(host, a->st4, a->a4, a->n4, out);
	if (v6first && mxwalk_use_v4(set))
		n2 = mxwalk_add_family(host, a->st4, a->a4, a->n4, out);
	else if (!v6first && mxwalk_use_v6(set))
		n2 = mxwalk_add_family(host, a->st6, a->a6, a->n6, out);
	if (set->family == MXWALK_FAMILY_ANY) {
		mxwalk_shuffle(out->targets + first, n1 + n2,
		    sizeof(*out->targets), rnd, arg);
	} else {
		mxwalk_shuffle(out->targets + first, n1, sizeof(*out->targets),
		    rnd, arg);
		mxwalk_shuffle(out->targets + first + n1, n2,
		    sizeof(*out->targets), rnd, arg);
	}
	return n1 + n2;
}

/* The best preference of a host with one of this host's addresses. */
static unsigned long
mxwalk_self_pref(const struct mxwalk_hosts *h, const struct mxwalk_answer *ans,
    const struct mxwalk_identity *id, const struct mxwalk_settings *set)
{
	unsigned long	self = MXWALK_NOPREF;
	size_t		i;

	for (i = 0; i < h->nhosts; i++)
		if (h->hosts[i].pref < self &&
		    mxwalk_host_is_me(id, set, &ans[i]))
			self = h->hosts[i].pref;
	return self;
}

static enum mxwalk_verdict
mxwalk_no_address(const char *domain, const struct mxwalk_hosts *h,
    int selfdrop, int temporary, struct mxwalk_targets *out)
{
	if (selfdrop)
		return MXWALK_SET(out, MXWALK_FAIL, "5.4.6",
		    "mail for %s loops back to myself", domain);
	if (temporary)
		return MXWALK_SET(out, MXWALK_DEFER, "4.4.3",
		    "address lookup for the MX hosts of %s failed", domain);
	if (h->nhosts == 1 && h->hosts[0].implicit)
		return MXWALK_SET(out, MXWALK_FAIL, "5.4.4",
		    "domain %s has no MX and no address", domain);
	return MXWALK_SET(out, MXWALK_FAIL, "5.4.4",
	    "no address for the MX hosts of %s", domain);
}

enum mxwalk_verdict
mxwalk_addrs(const char *domain, const struct mxwalk_hosts *h,
    const struct mxwalk_answer *ans, const struct mxwalk_identity *id,
    const struct mxwalk_settings *set, mxwalk_rand_fn rnd, void *rndarg,
    struct mxwalk_targets *out)
{
	unsigned long	self;
	size_t		i;
	int		temporary = 0;

	memset(out, 0, sizeof(*out));
	if (h->verdict != MXWALK_GO)
		fatalx("mxwalk_addrs: step 1 gave no hosts");
	self = mxwalk_self_pref(h, ans, id, set);
	for (i = 0; i < h->nhosts; i++) {
		const struct mxwalk_host *host = &h->hosts[i];

		if (host->pref >= self) {
			mxwalk_skip_add(&out->skips, &out->nskips, host->name,
			    host->pref, mxwalk_host_is_me(id, set, &ans[i]) ?
			    MXWALK_SKIP_SELF : MXWALK_SKIP_BEHIND_SELF);
			continue;
		}
		if ((mxwalk_use_v4(set) && mxwalk_temporary(ans[i].st4)) ||
		    (mxwalk_use_v6(set) && mxwalk_temporary(ans[i].st6)))
			temporary = 1;
		if (mxwalk_add_host(host, &ans[i], set, rnd, rndarg, out) == 0)
			mxwalk_skip_add(&out->skips, &out->nskips, host->name,
			    host->pref, MXWALK_SKIP_NOADDR);
	}
	if (out->ntargets == 0)
		return mxwalk_no_address(domain, h, self != MXWALK_NOPREF &&
		    self <= h->hosts[0].pref, temporary, out);
	if (set->max_addrs > 0 && out->ntargets > set->max_addrs)
		out->ntargets = set->max_addrs;
	return out->verdict = MXWALK_GO;
}

void
mxwalk_targets_free(struct mxwalk_targets *t)
{
	free(t->targets);
	mxwalk_skips_free(t->skips, t->nskips);
	memset(t, 0, sizeof(*t));
}

const char *
mxwalk_why_str(enum mxwalk_why why)
{
	switch (why) {
	case MXWALK_SKIP_LITERAL:
		return "IP address literal in MX record";
	case MXWALK_SKIP_ROOT:
		return "null MX among other MX records";
	case MXWALK_SKIP_BADNAME:
		return "malformed host name in MX record";
	case MXWALK_SKIP_SELF:
		return "this host";
	case MXWALK_SKIP_BEHIND_SELF:
		return "preference not better than this host's";
	case MXWALK_SKIP_LIMIT:
		return "beyond the MX host limit";
	case MXWALK_SKIP_NOADDR:
		return "no usable address";
	}
	return "?";
}
