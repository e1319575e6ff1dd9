/*
 * sts.c - MTA-STS for the delivery process (sts.h): one lookup per
 * domain at a time, shared by every delivery that asks; the background
 * refresh and cleanup of the cache.  strictmailctl's sts requests are in
 * sts_ctl.c; sts_int.h is what the two share.
 */
#include <sys/random.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"
#include "sts/sts.h"
#include "sts/sts_cache.h"
#include "sts/sts_fetch.h"
#include "sts/sts_fetchd.h"
#include "sts/sts_int.h"
#include "sts/sts_txt.h"

#define STS_LAST_USE_STEP	3600	/* last use written at most hourly */
#define STS_SCAN_MAX	60000		/* ms between refresh scans, at most */
#define STS_SCAN_MIN	1000
#define STS_REFRESH_BATCH	8	/* background refreshes at once */

static void sts_dom_finish(struct sts_dom *d);
static void sts_scan_arm(struct sts *s, uint64_t next);
static void sts_scan_sooner(struct sts *s, uint64_t when);

uint64_t
sts_now(void)
{
	return (uint64_t)time(NULL);
}

static unsigned
sts_jitter(struct sts *s)
{
	/* xorshift64: spreading refreshes needs no secret. */
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	return (unsigned)(s->rnd & 0xffff);
}

void
sts_iso(uint64_t t, char *out, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		(void)strlcpy(out, "-", len);
		return;
	}
	(void)strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
sts_domain_alabel(const char *domain, char *out, size_t outlen)
{
	char	*a = NULL;
	size_t	 n;
	int	 rc;

	if (domain[0] == '[' || domain[0] == '\0')
		return -1;	/* rule 1: never for an address literal */
	rc = idn2_lookup_u8((const uint8_t *)domain, (uint8_t **)&a,
	    IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK || a == NULL) {
		free(a);
		return -1;
	}
	n = strlen(a);
	if (n > 0 && a[n - 1] == '.')
		a[--n] = '\0';
	if (n == 0 || n >= outlen) {
		free(a);
		return -1;
	}
	(void)strlcpy(out, a, outlen);
	free(a);
	str_lower(out);
	return 0;
}

/* ---- the domains being looked up ---- */

struct sts_dom *
sts_dom_new(struct sts *s, enum sts_kind kind, const char *alabel)
{
	struct sts_dom	*d;

	d = xcalloc(1, sizeof(*d));
	d->s = s;
	d->kind = kind;
	(void)strlcpy(d->domain, alabel, sizeof(d->domain));
	(void)bsnprintf(d->host, sizeof(d->host), "mta-sts.%s", alabel);
	sts_entry_init(&d->e, alabel);
	d->next = s->doms;
	s->doms = d;
	return d;
}

static struct sts_dom *
sts_dom_find(struct sts *s, enum sts_kind kind, const char *alabel)
{
	struct sts_dom	*d;

	for (d = s->doms; d != NULL; d = d->next)
		if (d->kind == kind && strcmp(d->domain, alabel) == 0)
			return d;
	return NULL;
}

/* Is a lookup of any kind running for the domain (refresh scan)? */
static int
sts_dom_busy(struct sts *s, const char *alabel)
{
	struct sts_dom	*d;

	for (d = s->doms; d != NULL; d = d->next)
		if (strcmp(d->domain, alabel) == 0)
			return 1;
	return 0;
}

static void
sts_dom_free(struct sts_dom *d)
{
	struct sts	*s = d->s;
	struct sts_dom	**pp;

	for (pp = &s->doms; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	if (d->txtq != NULL)
		dns_cancel(s->dns, d->txtq);
	if (d->q4 != NULL)
		dns_cancel(s->dns, d->q4);
	if (d->q6 != NULL)
		dns_cancel(s->dns, d->q6);
	if (d->fetch != NULL)
		sts_fetchc_cancel(s->fetcher, d->fetch);
	if (d->later != NULL)
		event_timer_cancel(s->loop, d->later);
	while (d->waiters != NULL) {
		struct sts_req *r = d->waiters;

		d->waiters = r->next;
		free(r);
	}
	sts_entry_free(&d->e);
	free(d);
}

/* ---- answers ---- */

static void
sts_answer_fill(struct sts_dom *d, struct sts_answer *a)
{
	uint64_t	now = sts_now();

	memset(a, 0, sizeof(*a));
	a->domain = d->domain;
	(void)strlcpy(a->warn, d->warn, sizeof(a->warn));
	if (d->literal || !sts_entry_usable(&d->e, now))
		return;
	a->has_policy = 1;
	(void)strlcpy(a->id, d->e.id, sizeof(a->id));
	a->pol = &d->e.pol;
	a->apply = d->e.pol.mode == STS_MODE_ENFORCE ? STS_APPLY_ENFORCE :
	    d->e.pol.mode == STS_MODE_TESTING ? STS_APPLY_TESTING :
	    STS_APPLY_NONE;
	/* The cached policy although DNS did not confirm its id (rule 28). */
	a->fallback = !d->fetched_ok && !(d->dns == STS_DNS_FOUND &&
	    strcmp(d->id, d->e.id) == 0);
}

/* The last use, written at most hourly (a write is a sync). */
static void
sts_touch(struct sts_dom *d)
{
	uint64_t	now = sts_now();

	if (!d->have_entry || d->e.last_use + STS_LAST_USE_STEP > now)
		return;
	d->e.last_use = now;
	(void)sts_cache_put(d->s->cache, &d->e);
}

static void
sts_answer_waiters(struct sts_dom *d)
{
	struct sts_answer	a;

	if (d->waiters == NULL)	/* a refresh alone is no use (rule 31) */
		return;
	sts_touch(d);
	sts_answer_fill(d, &a);
	while (d->waiters != NULL) {
		struct sts_req *r = d->waiters;

		d->waiters = r->next;
		r->cb(&a, r->arg);
		free(r);
	}
}

static void
sts_later_cb(void *arg)
{
	struct sts_dom	*d = arg;

	d->later = NULL;
	sts_dom_finish(d);
}

/* The end of a lookup of any kind. */
static void
sts_dom_finish(struct sts_dom *d)
{
	struct sts	*s = d->s;

	switch (d->kind) {
	case STS_K_DELIVERY:
		sts_answer_waiters(d);
		break;
	case STS_K_REFRESH:
		/* Deliveries that came while it ran wait for it. */
		sts_answer_waiters(d);
		break;
	case STS_K_CTL_REFRESH:
		if (d->warn[0] != '\0')
			sts_ctl_say(s, d->ctlreq, "warning: %s", d->warn);
		sts_ctl_show(s, d->ctlreq, d->domain);
		break;
	case STS_K_CTL_CHECK:
		if (s->sink.check_mx != NULL)
			s->sink.check_mx(d->ctlreq, d->domain, d->fetched_ok ?
			    &d->e.pol : NULL, s->sink.ctx);
		else
			sts_ctl_done(s, d->ctlreq, d->fetched_ok);
		break;
	}
	sts_dom_free(d);
}

/* ---- the fetch ---- */

static void
sts_fetch_failed(struct sts_dom *d, const char *error)
{
	struct sts	*s = d->s;
	uint64_t	 now = sts_now();
	char		 t[40];

	if (d->kind == STS_K_CTL_CHECK) {
		sts_ctl_say(s, d->ctlreq, "fetch: failed: %s", error);
		sts_dom_finish(d);
		return;
	}
	sts_after_fetch(&d->e, d->id, NULL, NULL, 0, error, now,
	    &s->conf.set, sts_jitter(s));
	(void)sts_cache_put(s->cache, &d->e);
	if (d->e.has_policy)	/* a refresh again after the back-off */
		sts_scan_sooner(s, d->e.backoff_until);
	if (sts_entry_usable(&d->e, now)) {
		sts_iso(d->e.expires, t, sizeof(t));
		log_warnx("mta-sts: %s: %s for id %s failed: %s; "
		    "keeping the cached policy id %s (mode %s, expires %s)",
		    d->domain, d->kind == STS_K_REFRESH ? "background refresh" :
		    "policy fetch", d->id, error, d->e.id,
		    sts_mode_str(d->e.pol.mode), t);
	} else {
		/* Rule 29: as if there were no policy, said loudly. */
		(void)bsnprintf(d->warn, sizeof(d->warn), "TXT id %s found, "
		    "policy fetch failed: %s", d->id, error);
		log_warnx("mta-sts: %s: %s; delivering as with no policy",
		    d->domain, d->warn);
	}
	sts_dom_finish(d);
}

static void
sts_fetched(const struct sts_fetch_result *r, void *arg)
{
	struct sts_dom		*d = arg;
	struct sts		*s = d->s;
	struct sts_policy	 pol;
	char			 why[256], err[300];
	size_t			 i;

	d->fetch = NULL;
	if (d->kind == STS_K_CTL_CHECK)
		sts_ctl_fetch_lines(d, r);
	if (!r->ok) {
		sts_fetch_failed(d, r->error);
		return;
	}
	if (sts_policy_parse(r->body, r->len, &pol, why, sizeof(why)) == -1) {
		/* Rule 17: an invalid policy is a failed fetch. */
		(void)bsnprintf(err, sizeof(err), "invalid policy: %s", why);
		sts_fetch_failed(d, err);
		return;
	}
	d->fetched_ok = 1;
	if (d->kind == STS_K_CTL_CHECK) {
		sts_ctl_say(s, d->ctlreq, "policy: version STSv1, mode %s, "
		    "max_age %u", sts_mode_str(pol.mode),
		    (unsigned)pol.max_age);
		for (i = 0; i < pol.nmx; i++)
			sts_ctl_say(s, d->ctlreq, "policy: mx %s", pol.mx[i]);
		sts_policy_copy(&d->e.pol, &pol);
		sts_policy_free(&pol);
		sts_dom_finish(d);
		return;
	}
	sts_after_fetch(&d->e, d->id, &pol, r->body, r->len, NULL,
	    sts_now(), &s->conf.set, sts_jitter(s));
	if (d->e.last_use == 0 && d->kind == STS_K_DELIVERY)
		d->e.last_use = sts_now();
	d->have_entry = 1;
	(void)sts_cache_put(s->cache, &d->e);
	sts_scan_sooner(s, d->e.next_refresh);
	log_info("mta-sts: %s: policy id %s fetched: mode %s, max_age %u, "
	    "%zu mx", d->domain, d->id, sts_mode_str(pol.mode),
	    (unsigned)pol.max_age, pol.nmx);
	sts_policy_free(&pol);
	sts_dom_finish(d);
}

static void
sts_fetch_go(struct sts_dom *d)
{
	struct sts	*s = d->s;
	char		 err[200];
	unsigned	 timeout;

	if (d->naddrs == 0) {
		(void)bsnprintf(err, sizeof(err), "%s: no address (A %s, "
		    "AAAA %s)", d->host, dns_status_str(d->st4),
		    dns_status_str(d->st6));
		sts_fetch_failed(d, err);
		return;
	}
	if (s->fetcher == NULL) {
		sts_fetch_failed(d, "no CA bundle for policy hosts (see "
		    "mta-sts-ca-file)");
		return;
	}
	timeout = d->kind == STS_K_DELIVERY || d->kind == STS_K_CTL_CHECK ?
	    s->conf.fetch_timeout : s->conf.refresh_timeout;
	if (d->kind == STS_K_CTL_REFRESH)
		timeout = s->conf.fetch_timeout;
	d->fetch = sts_fetchc_start(s->fetcher, d->domain, d->addrs, d->naddrs,
	    timeout, sts_fetched, d);
}

static void
sts_addr_cb(const struct dns_result *res, void *arg)
{
	struct sts_dom	*d = arg;
	size_t		 i;

	if (res->type == DNS_T_A) {
		d->q4 = NULL;
		d->st4 = res->status;
	} else {
		d->q6 = NULL;
		d->st6 = res->status;
	}
	for (i = 0; i < res->n && d->naddrs < STS_ADDRS_MAX; i++)
		d->addrs[d->naddrs++] = res->addr[i];
	if (--d->apending > 0)
		return;
	if (d->kind == STS_K_CTL_CHECK)
		sts_ctl_say(d->s, d->ctlreq, "policy host: %s: %zu addresses "
		    "(A %s, AAAA %s)", d->host, d->naddrs,
		    dns_status_str(d->st4), dns_status_str(d->st6));
	sts_fetch_go(d);
}

/* Rule 11: the policy host's addresses come from strictmail's resolver. */
static void
sts_fetch_begin(struct sts_dom *d)
{
	struct sts	*s = d->s;

	d->apending = 2;
	d->q4 = dns_query(s->dns, d->host, DNS_T_A, sts_addr_cb, d);
	d->q6 = dns_query(s->dns, d->host, DNS_T_AAAA, sts_addr_cb, d);
}

/* ---- the TXT record ---- */

static void
sts_txt_classify(struct sts_dom *d, const struct dns_result *res)
{
	struct sts_txt_rec	 recs[32];
	size_t			 i, n;
	enum sts_txt_status	 st;

	d->id[0] = '\0';
	switch (res->status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		d->dns = STS_DNS_ABSENT;
		(void)bsnprintf(d->dnswhy, sizeof(d->dnswhy), "TXT %s",
		    dns_status_str(res->status));
		return;
	default:
		/* Rule 5: SERVFAIL, timeout, any failure: unknown. */
		d->dns = STS_DNS_UNKNOWN;
		(void)bsnprintf(d->dnswhy, sizeof(d->dnswhy), "TXT lookup "
		    "failed: %s", dns_status_str(res->status));
		return;
	}
	n = res->n < 32 ? res->n : 32;
	for (i = 0; i < n; i++) {
		recs[i].data = res->txt[i].data;
		recs[i].len = res->txt[i].len;
	}
	st = sts_txt_parse(recs, n, d->id, d->dnswhy, sizeof(d->dnswhy));
	d->dns = st == STS_TXT_OK ? STS_DNS_FOUND : st == STS_TXT_NONE ?
	    STS_DNS_ABSENT : STS_DNS_INVALID;
}

/* A delivery's lookup after the TXT answer: rule 28's decision. */
static void
sts_txt_decide(struct sts_dom *d)
{
	struct sts	*s = d->s;
	char		 why[200], t[40];
	enum sts_action	 act;

	act = sts_decide(d->have_entry ? &d->e : NULL, d->dns, d->id,
	    sts_now(), &s->conf.set, why, sizeof(why));
	switch (act) {
	case STS_FETCH:
		sts_fetch_begin(d);
		return;
	case STS_NO_POLICY_WARN:
		if (d->dns == STS_DNS_FOUND && d->have_entry &&
		    strcmp(d->e.error_id, d->id) == 0) {
			/* Rule 12: the failure of this id, not a new try. */
			sts_iso(d->e.backoff_until, t, sizeof(t));
			(void)bsnprintf(d->warn, sizeof(d->warn), "TXT id %s "
			    "found, policy fetch failed: %s (not tried again "
			    "before %s)", d->id, d->e.last_error, t);
		} else
			(void)bsnprintf(d->warn, sizeof(d->warn), "%s",
			    why[0] != '\0' ? why : d->dnswhy);
		log_warnx("mta-sts: %s: %s; delivering as with no policy",
		    d->domain, d->warn);
		break;
	case STS_USE_CACHED:
	case STS_NO_POLICY:
		break;
	}
	sts_dom_finish(d);
}

static void
sts_txt_cb(const struct dns_result *res, void *arg)
{
	struct sts_dom	*d = arg;

	d->txtq = NULL;
	sts_txt_classify(d, res);
	switch (d->kind) {
	case STS_K_DELIVERY:
		sts_txt_decide(d);
		return;
	case STS_K_CTL_CHECK:
		sts_ctl_txt_lines(d, res);
		if (d->dns != STS_DNS_FOUND) {
			sts_dom_finish(d);
			return;
		}
		break;
	case STS_K_REFRESH:
	case STS_K_CTL_REFRESH:
		/* A refresh fetches the policy again under the id DNS
		 * gives, or the cached one when DNS gives none. */
		if (d->dns != STS_DNS_FOUND) {
			if (!d->have_entry || !d->e.has_policy) {
				(void)bsnprintf(d->warn, sizeof(d->warn),
				    "nothing to refresh: %s", d->dnswhy);
				sts_dom_finish(d);
				return;
			}
			(void)strlcpy(d->id, d->e.id, sizeof(d->id));
		}
		break;
	}
	sts_fetch_begin(d);
}

void
sts_txt_begin(struct sts_dom *d)
{
	char	name[STS_DOMAIN_MAX + 16];

	/* Rule 1: _mta-sts. + the A-label form, never a parent. */
	(void)bsnprintf(name, sizeof(name), "_mta-sts.%s", d->domain);
	d->txtq = dns_query(d->s->dns, name, DNS_T_TXT, sts_txt_cb, d);
}

void
sts_dom_load(struct sts_dom *d)
{
	if (sts_cache_get(d->s->cache, d->domain, &d->e) == 1)
		d->have_entry = 1;
	else
		sts_entry_init(&d->e, d->domain);
}

/* ---- sts_get ---- */

struct sts_req *
sts_get(struct sts *s, const char *domain, sts_cb cb, void *arg)
{
	struct sts_req	*r;
	struct sts_dom	*d;
	char		 alabel[STS_DOMAIN_MAX + 1];
	int		 literal;

	literal = sts_domain_alabel(domain, alabel, sizeof(alabel)) == -1;
	if (literal)
		(void)strlcpy(alabel, domain, sizeof(alabel));
	r = xcalloc(1, sizeof(*r));
	r->cb = cb;
	r->arg = arg;
	/* A delivery lookup or a background refresh already running for
	 * the domain answers this request too: one fetch, never two. */
	if ((d = sts_dom_find(s, STS_K_DELIVERY, alabel)) == NULL)
		d = sts_dom_find(s, STS_K_REFRESH, alabel);
	if (d == NULL) {
		d = sts_dom_new(s, STS_K_DELIVERY, alabel);
		if (literal) {
			d->literal = 1;
			d->later = event_timer_add(s->loop, 0, sts_later_cb, d);
		} else {
			sts_dom_load(d);
			sts_txt_begin(d);
		}
	}
	r->dom = d;
	r->next = d->waiters;
	d->waiters = r;
	return r;
}

void
sts_cancel(struct sts *s, struct sts_req *r)
{
	struct sts_req	**pp;

	(void)s;
	for (pp = &r->dom->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r);
}

/* ---- background refresh and cleanup (rule 31) ---- */

struct sts_scan {
	struct sts	*s;
	uint64_t	 now;
	uint64_t	 next;		/* the earliest refresh still to come */
	char		 (*due)[STS_DOMAIN_MAX + 1];
	size_t		 ndue;
	char		 (*drop)[STS_DOMAIN_MAX + 1];
	size_t		 ndrop;
};

static int
sts_scan_one(const struct sts_entry *e, void *arg)
{
	struct sts_scan	*sc = arg;

	if (sts_expired_entry(e, sc->now, &sc->s->conf.set)) {
		sc->drop = xreallocarray(sc->drop, sc->ndrop + 1,
		    sizeof(*sc->drop));
		(void)strlcpy(sc->drop[sc->ndrop++], e->domain,
		    STS_DOMAIN_MAX + 1);
	} else if (e->has_policy && !sts_refresh_due(e, sc->now,
	    &sc->s->conf.set)) {
		uint64_t t = e->next_refresh > e->backoff_until ?
		    e->next_refresh : e->backoff_until;

		if (t > sc->now && (sc->next == 0 || t < sc->next))
			sc->next = t;
	} else if (sc->ndue < STS_REFRESH_BATCH &&
	    sts_refresh_due(e, sc->now, &sc->s->conf.set) &&
	    !sts_dom_busy(sc->s, e->domain)) {
		sc->due = xreallocarray(sc->due, sc->ndue + 1,
		    sizeof(*sc->due));
		(void)strlcpy(sc->due[sc->ndue++], e->domain,
		    STS_DOMAIN_MAX + 1);
	}
	return 0;
}

static void
sts_scan_cb(void *arg)
{
	struct sts	*s = arg;
	struct sts_scan	 sc;
	struct sts_dom	*d;
	size_t		 i;

	s->scan = NULL;
	memset(&sc, 0, sizeof(sc));
	sc.s = s;
	sc.now = sts_now();
	(void)sts_cache_each(s->cache, sts_scan_one, &sc);
	for (i = 0; i < sc.ndrop; i++) {
		log_info("mta-sts: %s: cache entry unused since more than "
		    "%llu s: dropped", sc.drop[i],
		    (unsigned long long)s->conf.set.cleanup_age);
		(void)sts_cache_del(s->cache, sc.drop[i]);
	}
	for (i = 0; i < sc.ndue; i++) {
		d = sts_dom_new(s, STS_K_REFRESH, sc.due[i]);
		sts_dom_load(d);
		log_debug("mta-sts: %s: background refresh", d->domain);
		sts_txt_begin(d);
	}
	free(sc.due);
	free(sc.drop);
	sts_scan_arm(s, sc.next);
}

/*
 * The next scan: at the earliest planned refresh (next, seconds; 0 =
 * none known), and at least every tenth of mta-sts-refresh (at most a
 * minute apart: new entries, cleanup).
 */
static void
sts_scan_arm(struct sts *s, uint64_t next)
{
	uint64_t	ms, now = sts_now();

	ms = s->conf.set.refresh * 1000 / 10;
	if (ms > STS_SCAN_MAX)
		ms = STS_SCAN_MAX;
	if (next != 0 && (next <= now ? 0 : (next - now) * 1000) < ms)
		ms = next <= now ? 0 : (next - now) * 1000;
	if (ms < STS_SCAN_MIN)
		ms = STS_SCAN_MIN;
	if (s->scan != NULL)
		event_timer_cancel(s->loop, s->scan);
	s->scan = event_timer_add(s->loop, ms, sts_scan_cb, s);
	s->scan_at = now + ms / 1000;
}

/* A refresh planned before the next scan moves the scan. */
static void
sts_scan_sooner(struct sts *s, uint64_t when)
{
	if (when != 0 && when < s->scan_at)
		sts_scan_arm(s, when);
}

/* ---- the whole ---- */

struct sts *
sts_new(struct event_loop *loop, struct dns *dns, const char *cache_dir,
    int fetch_fd, const struct sts_config *conf, char *err, size_t errlen)
{
	struct sts	*s;

	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->dns = dns;
	s->conf = *conf;
	if (getrandom(&s->rnd, sizeof(s->rnd), 0) != sizeof(s->rnd) ||
	    s->rnd == 0)
		s->rnd = (uint64_t)time(NULL) | 1;
	if ((s->cache = sts_cache_open(cache_dir, err, errlen)) == NULL) {
		free(s);
		return NULL;
	}
	/* Without a CA bundle every fetch fails (said at each one); a
	 * cached policy still applies. */
	if (fetch_fd != -1)
		s->fetcher = sts_fetchc_new(loop, fetch_fd);
	sts_scan_arm(s, 0);
	return s;
}

void
sts_configure(struct sts *s, const struct sts_config *conf)
{
	s->conf = *conf;
	sts_scan_arm(s, 0);
}

void
sts_free(struct sts *s)
{
	if (s == NULL)
		return;
	while (s->doms != NULL)
		sts_dom_free(s->doms);
	if (s->scan != NULL)
		event_timer_cancel(s->loop, s->scan);
	if (s->fetcher != NULL)
		sts_fetchc_free(s->fetcher);
	sts_cache_close(s->cache);
	free(s);
}
