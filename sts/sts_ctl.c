/*
 * sts_ctl.c - the operator's requests to the MTA-STS module
 * (strictmailctl sts list, show, flush, refresh, check; sts.h): their
 * output lines go to the sink the delivery process sets; refresh and
 * check run a lookup of sts.c and come back here for their lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/util.h"
#include "sts/sts.h"
#include "sts/sts_cache.h"
#include "sts/sts_fetch.h"
#include "sts/sts_int.h"

/* ---- the sink ---- */

void
sts_ctl_say(struct sts *s, uint64_t req, const char *fmt, ...)
{
	char	line[1024];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->sink.line != NULL)
		s->sink.line(req, line, s->sink.ctx);
}

void
sts_ctl_done(struct sts *s, uint64_t req, int ok)
{
	if (s->sink.done != NULL)
		s->sink.done(req, ok, s->sink.ctx);
}

/* ---- show ---- */

static void
sts_ctl_show_lines(struct sts *s, uint64_t req, const struct sts_entry *e)
{
	char	t[40];
	size_t	i;

	sts_ctl_say(s, req, "domain: %s", e->domain);
	sts_ctl_say(s, req, "policy: %s", e->has_policy ? "yes" : "no");
	if (e->has_policy) {
		sts_ctl_say(s, req, "id: %s", e->id);
		sts_ctl_say(s, req, "mode: %s", sts_mode_str(e->pol.mode));
		sts_ctl_say(s, req, "max_age: %u", (unsigned)e->pol.max_age);
		for (i = 0; i < e->pol.nmx; i++)
			sts_ctl_say(s, req, "mx: %s", e->pol.mx[i]);
		sts_iso(e->fetched, t, sizeof(t));
		sts_ctl_say(s, req, "fetched: %s", t);
		sts_iso(e->expires, t, sizeof(t));
		sts_ctl_say(s, req, "expires: %s%s", t,
		    e->expires <= sts_now() ? " (expired)" : "");
		sts_iso(e->next_refresh, t, sizeof(t));
		sts_ctl_say(s, req, "next-refresh: %s", t);
	}
	if (e->last_use != 0) {
		sts_iso(e->last_use, t, sizeof(t));
		sts_ctl_say(s, req, "last-use: %s", t);
	}
	if (e->last_error[0] != '\0') {
		sts_ctl_say(s, req, "error-id: %s", e->error_id);
		sts_iso(e->error_time, t, sizeof(t));
		sts_ctl_say(s, req, "error-time: %s", t);
		sts_ctl_say(s, req, "last-error: %s", e->last_error);
		sts_iso(e->backoff_until, t, sizeof(t));
		sts_ctl_say(s, req, "backoff-until: %s", t);
	}
}

void
sts_ctl_show(struct sts *s, uint64_t req, const char *alabel)
{
	struct sts_entry	e;
	int			rc;

	sts_entry_init(&e, alabel);
	rc = sts_cache_get(s->cache, alabel, &e);
	if (rc == 1)
		sts_ctl_show_lines(s, req, &e);
	else
		sts_ctl_say(s, req, "no cache entry for %s", alabel);
	sts_entry_free(&e);
	sts_ctl_done(s, req, rc == 1);
}

/* ---- the steps of check ---- */

void
sts_ctl_txt_lines(struct sts_dom *d, const struct dns_result *res)
{
	struct sts	*s = d->s;
	size_t		 i;

	sts_ctl_say(s, d->ctlreq, "txt: _mta-sts.%s: %s, %zu records",
	    d->domain, dns_status_str(res->status), res->n);
	for (i = 0; i < res->n; i++)
		sts_ctl_say(s, d->ctlreq, "txt: record %zu: \"%.*s\"", i + 1,
		    (int)(res->txt[i].len > 200 ? 200 : res->txt[i].len),
		    res->txt[i].data);
	if (d->dns == STS_DNS_FOUND)
		sts_ctl_say(s, d->ctlreq, "txt: id %s", d->id);
	else
		sts_ctl_say(s, d->ctlreq, "txt: no policy: %s", d->dnswhy);
}

void
sts_ctl_fetch_lines(struct sts_dom *d, const struct sts_fetch_result *r)
{
	struct sts	*s = d->s;

	sts_ctl_say(s, d->ctlreq, "fetch: https://%s/.well-known/mta-sts.txt "
	    "from %s", d->host, r->addr[0] != '\0' ? r->addr : "-");
	sts_ctl_say(s, d->ctlreq, "fetch: policy host certificate: %s",
	    r->cert[0] != '\0' ? r->cert : "(no handshake)");
	sts_ctl_say(s, d->ctlreq, "fetch: HTTP status %ld", r->status);
	sts_ctl_say(s, d->ctlreq, "fetch: media type \"%s\"", r->content_type);
	if (r->ok)
		sts_ctl_say(s, d->ctlreq, "fetch: %zu bytes", r->len);
}

/* ---- the requests ---- */

struct sts_ctl_list {
	struct sts	*s;
	uint64_t	 req;
};

static int
sts_ctl_list_one(const struct sts_entry *e, void *arg)
{
	struct sts_ctl_list	*lc = arg;
	char			 t[40];

	sts_iso(e->expires, t, sizeof(t));
	sts_ctl_say(lc->s, lc->req, "%s %s id=%s expires=%s error=\"%s\"",
	    e->domain, e->has_policy ? sts_mode_str(e->pol.mode) : "no-policy",
	    e->has_policy ? e->id : "-", e->has_policy ? t : "-",
	    e->last_error);
	return 0;
}

struct sts_ctl_names {
	char	(*names)[STS_DOMAIN_MAX + 1];
	size_t	 n;
};

static int
sts_ctl_flush_one(const struct sts_entry *e, void *arg)
{
	struct sts_ctl_names	*f = arg;

	f->names = xreallocarray(f->names, f->n + 1, sizeof(*f->names));
	(void)strlcpy(f->names[f->n++], e->domain, STS_DOMAIN_MAX + 1);
	return 0;
}

static void
sts_ctl_flush(struct sts *s, uint64_t req, const char *alabel)
{
	struct sts_ctl_names	f;
	size_t			i, n = 0;

	if (alabel != NULL) {
		n = sts_cache_del(s->cache, alabel) == 1;
	} else {
		memset(&f, 0, sizeof(f));
		(void)sts_cache_each(s->cache, sts_ctl_flush_one, &f);
		for (i = 0; i < f.n; i++)
			n += sts_cache_del(s->cache, f.names[i]) == 1;
		free(f.names);
	}
	log_info("mta-sts: cache: %zu entries removed by strictmailctl", n);
	sts_ctl_say(s, req, "removed %zu", n);
	sts_ctl_done(s, req, 1);
}

static void
sts_ctl_lookup(struct sts *s, uint64_t req, enum sts_kind kind,
    const char *alabel)
{
	struct sts_dom	*d;

	d = sts_dom_new(s, kind, alabel);
	d->ctlreq = req;
	if (kind == STS_K_CTL_REFRESH)
		sts_dom_load(d);
	sts_txt_begin(d);
}

void
sts_ctl(struct sts *s, uint64_t req, const char *verb, const char *domain)
{
	char			 alabel[STS_DOMAIN_MAX + 1];
	struct sts_ctl_list	 lc;
	int			 n;

	if (domain != NULL && domain[0] != '\0' &&
	    sts_domain_alabel(domain, alabel, sizeof(alabel)) == -1) {
		sts_ctl_say(s, req, "%s: not a domain name with an MTA-STS "
		    "policy", domain);
		sts_ctl_done(s, req, 0);
		return;
	}
	if (domain != NULL && domain[0] == '\0')
		domain = NULL;
	if (strcmp(verb, "list") == 0) {
		lc.req = req;
		lc.s = s;
		n = sts_cache_each(s->cache, sts_ctl_list_one, &lc);
		sts_ctl_done(s, req, n >= 0);
	} else if (strcmp(verb, "flush") == 0) {
		sts_ctl_flush(s, req, domain != NULL ? alabel : NULL);
	} else if (domain == NULL) {
		sts_ctl_say(s, req, "sts %s: a domain is needed", verb);
		sts_ctl_done(s, req, 0);
	} else if (strcmp(verb, "show") == 0) {
		sts_ctl_show(s, req, alabel);
	} else if (strcmp(verb, "refresh") == 0) {
		sts_ctl_lookup(s, req, STS_K_CTL_REFRESH, alabel);
	} else if (strcmp(verb, "check") == 0) {
		sts_ctl_lookup(s, req, STS_K_CTL_CHECK, alabel);
	} else {
		sts_ctl_say(s, req, "sts %s: unknown request", verb);
		sts_ctl_done(s, req, 0);
	}
}

void
sts_set_ctl_sink(struct sts *s, const struct sts_ctl_sink *sink)
{
	s->sink = *sink;
}
