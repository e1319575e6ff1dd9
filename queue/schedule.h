/*
 * schedule.h - the retry schedule of the queue, as pure functions: every
 * time is passed in (unix seconds, as the envelope stores them) and the
 * randomness of the jitter comes from the caller.
 *
 *  - First attempt: at once (schedule_first is the arrival time).
 *  - After n failed attempts (n >= 1) the next comes after
 *    retry_initial * 2^(n-1), capped at retry_max; then jitter: a
 *    uniform offset in [-jitter_pct, +jitter_pct] percent of that delay
 *    (so the delay at the cap lies within 0.9 and 1.1 of retry_max by
 *    default), never less than 1 second.  A retry is never set later
 *    than the expiry: the last attempt happens at the expiry time.
 *  - Expiry: arrival + lifetime (default 5 days), computed at commit and
 *    kept in the envelope.  A temporary failure at or after the expiry
 *    means the recipient fails: bounce.
 *  - Delay warning (RFC 3464 "delayed"): once, at arrival +
 *    delay_warning (default 4 h; 0: never), and only when that is before
 *    the expiry.  The caller records in the envelope that it was sent.
 *  - Destination backoff: a destination (the next hop: a domain or the
 *    relay host) whose every MX failed at the connection level (connect,
 *    greeting, TLS requirement; not a recipient's 4xx or 5xx) dest_threshold
 *    times in a row gets no new connection for dest_initial * 2^(k-1)
 *    seconds (k the failures beyond the threshold, plus one), capped at
 *    dest_max, with the same jitter.  One success clears it.  A message
 *    due while its destination is backed off waits until the backoff
 *    ends; that is not a failed attempt.
 * Settings come from the configuration (delivery wiring); the functions
 * accept any values: a zero delay counts as 1 second, jitter_pct above
 * 100 as 100, and sums saturate instead of wrapping.
 */
#ifndef SM_SCHEDULE_H
#define SM_SCHEDULE_H

#include <stdint.h>

/* A uniform random 32-bit value; arg is the caller's state.  A NULL
 * function means no jitter. */
typedef uint32_t (*schedule_rand_fn)(void *arg);

struct schedule_settings {
	uint64_t	retry_initial;	/* seconds; default 300 */
	uint64_t	retry_max;	/* default 3600 */
	unsigned	jitter_pct;	/* default 10 */
	uint64_t	lifetime;	/* default 5 days */
	uint64_t	delay_warning;	/* default 4 h; 0: no warning */
	unsigned	dest_threshold;	/* default 3 failures in a row */
	uint64_t	dest_initial;	/* default 60 */
	uint64_t	dest_max;	/* default 3600 */
};

void schedule_defaults(struct schedule_settings *set);

/* The first attempt: the arrival time itself. */
uint64_t schedule_first(uint64_t arrival);
uint64_t schedule_expiry(const struct schedule_settings *set,
    uint64_t arrival);

/* The delay before the next attempt after `failures` failed attempts
 * (0 counts as 1), with jitter. */
uint64_t schedule_delay(const struct schedule_settings *set,
    uint64_t failures, schedule_rand_fn rnd, void *arg);

enum schedule_action {
	SCHEDULE_RETRY,		/* *next is the next attempt */
	SCHEDULE_EXPIRE,	/* past the lifetime: the recipient fails */
};

/* A temporary failure of attempt number `failures` (counting this one)
 * at now, for a message that expires at expiry. */
enum schedule_action schedule_after_failure(
    const struct schedule_settings *set, uint64_t expiry, uint64_t now,
    uint64_t failures, schedule_rand_fn rnd, void *arg, uint64_t *next);

/* When the delay warning is due, or 0 when there is none for this
 * message (turned off, or not before the expiry). */
uint64_t schedule_warn_time(const struct schedule_settings *set,
    uint64_t arrival, uint64_t expiry);
/* 1 when the warning must be sent now (not sent yet, time reached,
 * message not expired). */
int schedule_warn_due(const struct schedule_settings *set, uint64_t arrival,
    uint64_t expiry, uint64_t now, int warned);
/* When the scheduler must look at the message next: the next attempt,
 * or the warning when that comes first and is not sent yet. */
uint64_t schedule_wakeup(const struct schedule_settings *set,
    uint64_t arrival, uint64_t expiry, uint64_t next_attempt, int warned);

/* The backoff state of one destination; all zero is a healthy one. */
struct schedule_dest {
	unsigned	failures;	/* connection-level failures in a row */
	uint64_t	until;		/* no new connection before; 0: none */
};

void schedule_dest_failed(const struct schedule_settings *set,
    struct schedule_dest *d, uint64_t now, schedule_rand_fn rnd, void *arg);
void schedule_dest_succeeded(struct schedule_dest *d);
/* 1 when a new connection to the destination may be opened at now. */
int schedule_dest_ready(const struct schedule_dest *d, uint64_t now);

#endif
