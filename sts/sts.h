/*
 * sts.h - MTA-STS for the delivery process: "what is the policy of this
 * recipient domain?", answered from the cache (sts_cache.h), the TXT
 * record at _mta-sts.<domain> (common/dns.h) and, when the id is new, a
 * fetch of the policy (sts_fetch.h), as ../shared/spec/mta-sts.md rules
 * 1 to 5, 11, 12 and 26 to 31 say.  Also the background refresh and
 * cleanup of the cache, and the operator's requests (strictmailctl sts).
 *
 * Everything runs on the delivery process's event loop; nothing blocks
 * on the network.  Requests for one domain share one lookup: while a TXT
 * query or a fetch runs for a domain, its other requests wait for the
 * same answer (the domain's messages are parked, not the process).
 */
#ifndef SM_STS_H
#define SM_STS_H

#include <stddef.h>
#include <stdint.h>

#include "sts/sts_policy.h"
#include "sts/sts_state.h"

struct event_loop;
struct dns;
struct tls_trust;
struct sts;
struct sts_req;

/* The policy a delivery applies. */
enum sts_apply {
	STS_APPLY_NONE,		/* no policy, or mode none */
	STS_APPLY_TESTING,
	STS_APPLY_ENFORCE,
};

struct sts_answer {
	enum sts_apply		 apply;
	int			 has_policy;	/* a policy (maybe mode none) */
	char			 id[STS_ID_MAX + 1];
	const struct sts_policy	*pol;		/* has_policy: valid during
						 * the callback; copy it */
	int			 fallback;	/* the cached policy, because
						 * DNS failed, the TXT went
						 * away or the new id's fetch
						 * failed */
	char			 warn[STS_ERROR_MAX];	/* rule 5 / 29 */
	const char		*domain;	/* the policy domain, A-labels */
};

typedef void (*sts_cb)(const struct sts_answer *a, void *arg);

struct sts_config {
	struct sts_settings	 set;
	unsigned		 fetch_timeout;		/* seconds */
	unsigned		 refresh_timeout;
};

/*
 * Opens the cache in cache_dir.  fetch_fd: delivery's end of the policy
 * fetcher's spawner (sts_fetchd.h; taken over), or -1 when there is no
 * CA bundle for policy hosts: then every fetch fails, said at each one.
 * NULL with a reason in err.  Call after chroot only if cache_dir is
 * reachable from there.
 */
struct sts *sts_new(struct event_loop *loop, struct dns *dns,
    const char *cache_dir, int fetch_fd, const struct sts_config *conf,
    char *err, size_t errlen);
void sts_free(struct sts *s);
/* New settings (a reload). */
void sts_configure(struct sts *s, const struct sts_config *conf);

/*
 * The policy of domain (a recipient domain as the queue gives it: an
 * A-label or U-label domain name, or an address literal, which never has
 * a policy).  cb runs exactly once, always later from the event loop,
 * unless sts_cancel comes first.
 */
struct sts_req *sts_get(struct sts *s, const char *domain, sts_cb cb,
    void *arg);
void sts_cancel(struct sts *s, struct sts_req *r);

/*
 * The A-label form of domain, lower case, without a trailing dot, into
 * out; -1 when it is an address literal or cannot be converted.
 */
int sts_domain_alabel(const char *domain, char *out, size_t outlen);

/* ---- the operator's requests (strictmailctl sts) ---- */

/*
 * Where the answers go: lines of text for request req, then done once.
 * check_mx (for "check"): the policy steps are printed; the caller goes
 * on with the MX steps (pol NULL when no valid policy was found) and
 * ends the request itself.
 */
struct sts_ctl_sink {
	void	(*line)(uint64_t req, const char *line, void *ctx);
	void	(*done)(uint64_t req, int ok, void *ctx);
	void	(*check_mx)(uint64_t req, const char *domain,
		    const struct sts_policy *pol, void *ctx);
	void	 *ctx;
};

void sts_set_ctl_sink(struct sts *s, const struct sts_ctl_sink *sink);

/*
 * verb: "list" (every entry, one line each), "show" DOMAIN (key: value
 * lines), "flush" [DOMAIN] (removes one or all), "refresh" DOMAIN (TXT,
 * fetch and store now, then as show), "check" DOMAIN (TXT and fetch
 * step by step, the cache untouched; then check_mx).  An unknown verb
 * or a missing domain: one line saying so and done(0).
 */
void sts_ctl(struct sts *s, uint64_t req, const char *verb,
    const char *domain);

#endif
