/*
 * sts_state.h - what the MTA-STS cache knows about one policy domain and
 * the decisions made from it (../shared/spec/mta-sts.md rules 12, 26 to
 * 31).  Pure functions: time is always passed in (seconds since the
 * epoch), never read from the clock; no I/O.  sts_cache.h stores these
 * entries; sts.h (the delivery process's side) drives them.
 */
#ifndef SM_STS_STATE_H
#define SM_STS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "sts/sts_policy.h"
#include "sts/sts_txt.h"

#define STS_DOMAIN_MAX	255
#define STS_ERROR_MAX	256

/*
 * One cache entry (rule 26).  An entry may hold no policy: a domain whose
 * fetches failed keeps its last error and its backoff (rule 12) so that
 * "strictmailctl sts show" can say why, and no second fetch is made for
 * that id within the backoff.
 */
struct sts_entry {
	char		 domain[STS_DOMAIN_MAX + 1];	/* A-labels, lower case */
	int		 has_policy;
	char		 id[STS_ID_MAX + 1];	/* the id of the policy held */
	char		*raw;			/* its text as fetched (NUL added) */
	size_t		 rawlen;
	struct sts_policy pol;
	uint64_t	 fetched;		/* when it was fetched */
	uint64_t	 expires;		/* fetched + max_age */
	uint64_t	 last_use;		/* last delivery that asked */
	uint64_t	 next_refresh;		/* rule 31; 0: none planned */
	/* The last failed fetch (or refresh): its id, time and reason. */
	char		 error_id[STS_ID_MAX + 1];
	uint64_t	 error_time;
	char		 last_error[STS_ERROR_MAX];
	uint64_t	 backoff_until;	/* no fetch of error_id before this */
};

void sts_entry_init(struct sts_entry *e, const char *domain);
/* Frees raw and pol and clears has_policy and id; the domain, times and
 * error stay, and e stays usable. */
void sts_entry_free(struct sts_entry *e);
void sts_entry_copy(struct sts_entry *dst, const struct sts_entry *src);

/* Rule 28: 1 when e holds a policy whose expiry is after now. */
int sts_entry_usable(const struct sts_entry *e, uint64_t now);

/* What the TXT lookup said (rules 2 to 5). */
enum sts_dns {
	STS_DNS_FOUND,		/* one valid STSv1 record (its id given) */
	STS_DNS_ABSENT,		/* NXDOMAIN, no TXT, or no STSv1 record */
	STS_DNS_INVALID,	/* two records, or a bad id */
	STS_DNS_UNKNOWN,	/* SERVFAIL, timeout, any other failure */
};

enum sts_action {
	STS_USE_CACHED,		/* apply e's policy (which may be mode none) */
	STS_FETCH,		/* fetch; then sts_after_fetch */
	STS_NO_POLICY,		/* deliver as with no policy */
	STS_NO_POLICY_WARN,	/* the same, with a warning logged: a TXT
				 * record but the fetch is backed off, or
				 * DNS unknown with nothing cached */
};

struct sts_settings {
	uint64_t	backoff;	/* rule 12: default 300 s */
	uint64_t	refresh;	/* rule 31: longest time between two
					 * refreshes of a used policy: 86400 */
	uint64_t	cleanup_age;	/* unused this long: dropped, 180 d */
};

/*
 * Rule 28 (and 5, 12, 29): what to do for a delivery, given the entry
 * (NULL when the cache has none), the TXT verdict, its id (for
 * STS_DNS_FOUND) and now.
 *  - usable policy: FOUND with the same id, or ABSENT, INVALID, UNKNOWN:
 *    USE_CACHED; FOUND with another id: FETCH, unless that id failed
 *    within the backoff (USE_CACHED);
 *  - no usable policy: FOUND: FETCH, unless that id failed within the
 *    backoff (NO_POLICY_WARN); UNKNOWN: NO_POLICY_WARN; else NO_POLICY.
 * why (when not NULL) gets a short reason for logs.
 */
enum sts_action sts_decide(const struct sts_entry *e, enum sts_dns dns,
    const char *id, uint64_t now, const struct sts_settings *set,
    char *why, size_t whylen);

/*
 * After a fetch for id (rule 26, 29, 30, 12): e is updated in place.
 *  - pol != NULL (a valid policy, raw its text): e holds it with id,
 *    fetched = now, expires = now + max_age, the error and backoff
 *    cleared, next_refresh planned (sts_plan_refresh).  A policy of mode
 *    none replaces whatever was there.
 *  - pol == NULL (any failure, error its reason): error_id = id,
 *    error_time = now, last_error = error, backoff_until = now + backoff;
 *    a policy held stays.
 * jitter (0 to 1 scaled to 0..65535) spreads the refreshes.
 */
void sts_after_fetch(struct sts_entry *e, const char *id,
    const struct sts_policy *pol, const char *raw, size_t rawlen,
    const char *error, uint64_t now, const struct sts_settings *set,
    unsigned jitter);

/*
 * Rule 31: when to refresh a held policy in the background: before it
 * expires and at most set->refresh after now: now + min(set->refresh,
 * max_age / 2) less up to a quarter of that chosen by jitter (0..65535),
 * and never before now + 60.  0 when e holds no policy.
 */
uint64_t sts_plan_refresh(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set, unsigned jitter);

/* Rule 31: 1 when e is due for a background refresh at now (holds a
 * policy, used within cleanup_age, next_refresh reached and not in the
 * backoff).  An entry never used yet (last_use 0) counts as used when it
 * was fetched (or, with no policy, at its last error); "within
 * cleanup_age" means less than cleanup_age seconds ago. */
int sts_refresh_due(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set);

/* Rule 31: 1 when e is to be dropped (unused for cleanup_age or more,
 * last_use 0 read as above; or no policy held and the error that old). */
int sts_expired_entry(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set);

/*
 * The stored form of an entry (sts_cache.h keeps one per domain): a
 * versioned, length-checked byte record.  sts_entry_decode rejects
 * anything malformed (-1 with why) and re-parses raw with
 * sts_policy_parse, so a record never yields a policy the parser would
 * not give.  The buffer from encode is malloc'd.
 */
int sts_entry_encode(const struct sts_entry *e, uint8_t **out, size_t *len);
int sts_entry_decode(const uint8_t *rec, size_t len, struct sts_entry *e,
    char *why, size_t whylen);

#endif
