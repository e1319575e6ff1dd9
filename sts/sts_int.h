/*
 * sts_int.h - what sts.c (lookups, refresh) and sts_ctl.c (the
 * operator's requests) share: the state of the MTA-STS module and of one
 * domain's lookup.  Not an interface: other code uses sts.h.
 */
#ifndef SM_STS_INT_H
#define SM_STS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/dns.h"
#include "sts/sts.h"

#define STS_ADDRS_MAX	16

struct dns_result;
struct event_timer;
struct sts_fetchc;
struct sts_fetchc_req;
struct sts_fetch_result;

enum sts_kind {
	STS_K_DELIVERY,		/* a delivery asks: sts_get */
	STS_K_REFRESH,		/* background refresh of a cached policy */
	STS_K_CTL_REFRESH,	/* strictmailctl sts refresh */
	STS_K_CTL_CHECK,	/* strictmailctl sts check: no cache */
};

struct sts_dom;

struct sts_req {
	struct sts_dom	*dom;
	struct sts_req	*next;
	sts_cb		 cb;
	void		*arg;
};

struct sts_dom {
	struct sts		*s;
	struct sts_dom		*next;
	enum sts_kind		 kind;
	uint64_t		 ctlreq;
	char			 domain[STS_DOMAIN_MAX + 1];	/* A-labels */
	char			 host[STS_DOMAIN_MAX + 16];	/* mta-sts.D */
	int			 literal;	/* no policy possible */
	struct sts_req		*waiters;
	struct dns_req		*txtq, *q4, *q6;
	enum sts_dns		 dns;
	char			 id[STS_ID_MAX + 1];
	char			 dnswhy[160];
	struct dns_addr		 addrs[STS_ADDRS_MAX];
	size_t			 naddrs;
	int			 apending;
	enum dns_status		 st4, st6;
	struct sts_fetchc_req	*fetch;
	struct event_timer	*later;		/* an answer without I/O */
	struct sts_entry	 e;
	int			 have_entry;	/* e came from the cache */
	int			 fetched_ok;
	char			 warn[STS_ERROR_MAX];
};

struct sts {
	struct event_loop	*loop;
	struct dns		*dns;
	struct sts_cache	*cache;
	struct sts_fetchc	*fetcher;
	struct sts_config	 conf;
	struct sts_dom		*doms;
	struct event_timer	*scan;
	uint64_t		 scan_at;	/* when it fires (seconds) */
	struct sts_ctl_sink	 sink;
	uint64_t		 rnd;
};

/* sts.c */
uint64_t sts_now(void);
/* t (seconds since the epoch) as 2026-01-31T12:00:00Z; "-" for 0. */
void	sts_iso(uint64_t t, char *out, size_t len);
struct sts_dom *sts_dom_new(struct sts *s, enum sts_kind kind,
	    const char *alabel);
/* The domain's cache entry into d->e (have_entry), or a fresh one. */
void	sts_dom_load(struct sts_dom *d);
/* The lookup starts: the TXT query, then as d->kind says. */
void	sts_txt_begin(struct sts_dom *d);

/* sts_ctl.c: lines to the operator (req), the end of a request, the
 * steps of "sts check", "sts show". */
void	sts_ctl_say(struct sts *s, uint64_t req, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	sts_ctl_done(struct sts *s, uint64_t req, int ok);
void	sts_ctl_show(struct sts *s, uint64_t req, const char *alabel);
void	sts_ctl_txt_lines(struct sts_dom *d, const struct dns_result *res);
void	sts_ctl_fetch_lines(struct sts_dom *d,
	    const struct sts_fetch_result *r);

#endif
