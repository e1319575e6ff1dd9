/*
 * sts_state.c - one MTA-STS cache entry and the decisions made from it
 * (rules 12 and 26 to 31 of ../shared/spec/mta-sts.md).
 *
 * Pure: the time is always an argument.  An entry is used for cleanup
 * from its last use; an entry never used yet (last_use 0) counts from
 * its fetch, or from its last error when it holds no policy.  The stored
 * form (sts_entry_encode/decode) lives in sts_record.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sts/sts_state.h"

#define STATE_REFRESH_MIN	60	/* never plan a refresh sooner */
#define STATE_JITTER_MAX	65535u

void
sts_entry_init(struct sts_entry *e, const char *domain)
{
	memset(e, 0, sizeof(*e));
	(void)strlcpy(e->domain, domain, sizeof(e->domain));
	(void)str_lower(e->domain);
}

void
sts_entry_free(struct sts_entry *e)
{
	free(e->raw);
	e->raw = NULL;
	e->rawlen = 0;
	sts_policy_free(&e->pol);
	e->has_policy = 0;
	e->id[0] = '\0';
}

static char *
state_dup_raw(const char *raw, size_t len)
{
	char	*p = xmalloc(len + 1);

	if (len > 0)
		memcpy(p, raw, len);
	p[len] = '\0';
	return p;
}

void
sts_entry_copy(struct sts_entry *dst, const struct sts_entry *src)
{
	memcpy(dst, src, sizeof(*dst));
	dst->raw = src->raw != NULL ? state_dup_raw(src->raw, src->rawlen) :
	    NULL;
	sts_policy_copy(&dst->pol, &src->pol);
}

/* Rule 28: a policy past its expiry is no cached policy. */
int
sts_entry_usable(const struct sts_entry *e, uint64_t now)
{
	return e != NULL && e->has_policy && e->expires > now;
}

/* Rule 12: id failed to fetch and its backoff has not run out. */
static int
state_backed_off(const struct sts_entry *e, const char *id, uint64_t now)
{
	return e != NULL && id != NULL && e->error_id[0] != '\0' &&
	    strcmp(e->error_id, id) == 0 && now < e->backoff_until;
}

static enum sts_action
state_say(enum sts_action a, char *why, size_t whylen, const char *what)
{
	if (why != NULL && whylen > 0)
		(void)strlcpy(why, what, whylen);
	return a;
}

/* Rule 28: a usable policy is cached. */
static enum sts_action
state_decide_cached(const struct sts_entry *e, enum sts_dns dns,
    const char *id, uint64_t now, char *why, size_t whylen)
{
	switch (dns) {
	case STS_DNS_FOUND:
		if (id != NULL && strcmp(id, e->id) == 0)
			return state_say(STS_USE_CACHED, why, whylen,
			    "same id as the cached policy");
		if (state_backed_off(e, id, now))
			return state_say(STS_USE_CACHED, why, whylen,
			    "new id failed recently: cached policy");
		return state_say(STS_FETCH, why, whylen, "new id");
	case STS_DNS_ABSENT:
		return state_say(STS_USE_CACHED, why, whylen,
		    "no TXT record: cached policy");
	case STS_DNS_INVALID:
		return state_say(STS_USE_CACHED, why, whylen,
		    "invalid TXT record: cached policy");
	case STS_DNS_UNKNOWN:
		return state_say(STS_USE_CACHED, why, whylen,
		    "TXT lookup failed: cached policy");
	}
	return state_say(STS_USE_CACHED, why, whylen, "cached policy");
}

/* Rules 5, 12, 29: nothing usable is cached. */
static enum sts_action
state_decide_uncached(const struct sts_entry *e, enum sts_dns dns,
    const char *id, uint64_t now, char *why, size_t whylen)
{
	switch (dns) {
	case STS_DNS_FOUND:
		if (state_backed_off(e, id, now))
			return state_say(STS_NO_POLICY_WARN, why, whylen,
			    "fetch of this id failed recently");
		return state_say(STS_FETCH, why, whylen, "no cached policy");
	case STS_DNS_UNKNOWN:
		return state_say(STS_NO_POLICY_WARN, why, whylen,
		    "TXT lookup failed and no cached policy");
	case STS_DNS_ABSENT:
		return state_say(STS_NO_POLICY, why, whylen, "no TXT record");
	case STS_DNS_INVALID:
		return state_say(STS_NO_POLICY, why, whylen,
		    "invalid TXT record");
	}
	return state_say(STS_NO_POLICY, why, whylen, "no policy");
}

enum sts_action
sts_decide(const struct sts_entry *e, enum sts_dns dns, const char *id,
    uint64_t now, const struct sts_settings *set, char *why, size_t whylen)
{
	(void)set;
	if (sts_entry_usable(e, now))
		return state_decide_cached(e, dns, id, now, why, whylen);
	return state_decide_uncached(e, dns, id, now, why, whylen);
}

/* Rules 26 and 30: the new policy replaces whatever was held. */
static void
state_take_policy(struct sts_entry *e, const char *id,
    const struct sts_policy *pol, const char *raw, size_t rawlen,
    uint64_t now)
{
	free(e->raw);
	sts_policy_free(&e->pol);
	e->raw = state_dup_raw(raw != NULL ? raw : "", raw != NULL ? rawlen :
	    0);
	e->rawlen = raw != NULL ? rawlen : 0;
	sts_policy_copy(&e->pol, pol);
	e->has_policy = 1;
	(void)strlcpy(e->id, id, sizeof(e->id));
	e->fetched = now;
	e->expires = now + pol->max_age;
	e->error_id[0] = '\0';
	e->error_time = 0;
	e->last_error[0] = '\0';
	e->backoff_until = 0;
}

/* Rules 12 and 29: a failed fetch; a policy held stays. */
static void
state_take_error(struct sts_entry *e, const char *id, const char *error,
    uint64_t now, const struct sts_settings *set)
{
	(void)strlcpy(e->error_id, id, sizeof(e->error_id));
	e->error_time = now;
	(void)strlcpy(e->last_error, error != NULL ? error : "fetch failed",
	    sizeof(e->last_error));
	e->backoff_until = now + set->backoff;
}

void
sts_after_fetch(struct sts_entry *e, const char *id,
    const struct sts_policy *pol, const char *raw, size_t rawlen,
    const char *error, uint64_t now, const struct sts_settings *set,
    unsigned jitter)
{
	if (pol == NULL) {
		state_take_error(e, id, error, now, set);
		return;
	}
	state_take_policy(e, id, pol, raw, rawlen, now);
	e->next_refresh = sts_plan_refresh(e, now, set, jitter);
}

uint64_t
sts_plan_refresh(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set, unsigned jitter)
{
	uint64_t	span, cut;

	if (!e->has_policy)
		return 0;
	span = e->pol.max_age / 2;
	if (set->refresh < span)
		span = set->refresh;
	if (jitter > STATE_JITTER_MAX)
		jitter = STATE_JITTER_MAX;
	cut = span / 4 * jitter / STATE_JITTER_MAX;
	if (span - cut < STATE_REFRESH_MIN)
		return now + STATE_REFRESH_MIN;
	return now + span - cut;
}

/* When e was last used, for cleanup (see the top of the file). */
static uint64_t
state_last_use(const struct sts_entry *e)
{
	if (e->last_use != 0)
		return e->last_use;
	return e->has_policy ? e->fetched : e->error_time;
}

/* 1 when t is at least age seconds before now. */
static int
state_older(uint64_t t, uint64_t now, uint64_t age)
{
	return t <= now && now - t >= age;
}

int
sts_refresh_due(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set)
{
	return e->has_policy && e->next_refresh != 0 &&
	    now >= e->next_refresh && now >= e->backoff_until &&
	    !state_older(state_last_use(e), now, set->cleanup_age);
}

int
sts_expired_entry(const struct sts_entry *e, uint64_t now,
    const struct sts_settings *set)
{
	if (state_older(state_last_use(e), now, set->cleanup_age))
		return 1;
	return !e->has_policy && state_older(e->error_time, now,
	    set->cleanup_age);
}
