/*
 * schedule.c - retry delays, expiry, the delay warning and destination
 * backoff as arithmetic on times passed in (rules in schedule.h).  Every
 * sum saturates at UINT64_MAX, so odd settings never wrap around.
 */
#include <stddef.h>
#include <stdint.h>

#include "schedule.h"

#define SCHEDULE_MAX_JITTER	100

void
schedule_defaults(struct schedule_settings *set)
{
	set->retry_initial = 300;
	set->retry_max = 3600;
	set->jitter_pct = 10;
	set->lifetime = 5 * 86400;
	set->delay_warning = 4 * 3600;
	set->dest_threshold = 3;
	set->dest_initial = 60;
	set->dest_max = 3600;
}

static uint64_t
schedule_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* initial * 2^(n-1), capped at max (n 0 counts as 1). */
static uint64_t
schedule_backoff(uint64_t initial, uint64_t max, uint64_t n)
{
	uint64_t	d = initial ? initial : 1;

	if (max == 0)
		max = 1;
	while (n-- > 1 && d < max)
		d = d > max / 2 ? max : d * 2;
	return d < max ? d : max;
}

/* d moved by a uniform offset in [-pct%, +pct%] of d; at least 1. */
static uint64_t
schedule_jitter(uint64_t d, unsigned pct, schedule_rand_fn rnd, void *arg)
{
	uint64_t	span, r;

	if (pct > SCHEDULE_MAX_JITTER)
		pct = SCHEDULE_MAX_JITTER;
	span = d / 100 * pct + d % 100 * pct / 100;
	if (span > UINT64_MAX / 2 - 1)
		span = UINT64_MAX / 2 - 1;
	if (rnd != NULL && span > 0) {
		/* Two draws, so that long spans are covered too. */
		r = (uint64_t)rnd(arg) << 32;
		r |= rnd(arg);
		r %= 2 * span + 1;
		d = r >= span ? schedule_add(d, r - span) : d - (span - r);
	}
	return d ? d : 1;
}

uint64_t
schedule_first(uint64_t arrival)
{
	return arrival;
}

uint64_t
schedule_expiry(const struct schedule_settings *set, uint64_t arrival)
{
	return schedule_add(arrival, set->lifetime);
}

uint64_t
schedule_delay(const struct schedule_settings *set, uint64_t failures,
    schedule_rand_fn rnd, void *arg)
{
	return schedule_jitter(schedule_backoff(set->retry_initial,
	    set->retry_max, failures), set->jitter_pct, rnd, arg);
}

enum schedule_action
schedule_after_failure(const struct schedule_settings *set, uint64_t expiry,
    uint64_t now, uint64_t failures, schedule_rand_fn rnd, void *arg,
    uint64_t *next)
{
	uint64_t	t;

	if (now >= expiry)
		return SCHEDULE_EXPIRE;
	t = schedule_add(now, schedule_delay(set, failures, rnd, arg));
	*next = t < expiry ? t : expiry;
	return SCHEDULE_RETRY;
}

uint64_t
schedule_warn_time(const struct schedule_settings *set, uint64_t arrival,
    uint64_t expiry)
{
	uint64_t	t;

	if (set->delay_warning == 0)
		return 0;
	t = schedule_add(arrival, set->delay_warning);
	return t < expiry ? t : 0;
}

int
schedule_warn_due(const struct schedule_settings *set, uint64_t arrival,
    uint64_t expiry, uint64_t now, int warned)
{
	uint64_t	t = schedule_warn_time(set, arrival, expiry);

	return !warned && t != 0 && now >= t && now < expiry;
}

uint64_t
schedule_wakeup(const struct schedule_settings *set, uint64_t arrival,
    uint64_t expiry, uint64_t next_attempt, int warned)
{
	uint64_t	t = schedule_warn_time(set, arrival, expiry);

	if (warned || t == 0 || t >= next_attempt)
		return next_attempt;
	return t;
}

void
schedule_dest_failed(const struct schedule_settings *set,
    struct schedule_dest *d, uint64_t now, schedule_rand_fn rnd, void *arg)
{
	uint64_t	wait;

	if (d->failures < UINT32_MAX)
		d->failures++;
	if (d->failures < set->dest_threshold)
		return;
	wait = schedule_backoff(set->dest_initial, set->dest_max,
	    (uint64_t)d->failures - set->dest_threshold + 1);
	d->until = schedule_add(now, schedule_jitter(wait, set->jitter_pct,
	    rnd, arg));
}

void
schedule_dest_succeeded(struct schedule_dest *d)
{
	d->failures = 0;
	d->until = 0;
}

int
schedule_dest_ready(const struct schedule_dest *d, uint64_t now)
{
	return now >= d->until;
}
