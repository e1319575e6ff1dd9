/*
 * authfail.h - failed AUTH attempts counted per client address, for the
 * lock-out of submission AUTH (lookup.c).
 *
 * A client address with `failures` failures within `window` seconds is
 * locked out for `window` seconds from the failure that made the count
 * (attempts while it is locked out are not counted); its
 * count starts over once the lock-out is over, or when its first failure
 * of the window is older than the window.  A success changes nothing (a
 * known password for one account must not clear the count of guesses at
 * others).  The table is bounded: when it is full, the entry whose last
 * failure is oldest makes room.  Pure: the time is given by the caller.
 */
#ifndef SM_AUTHFAIL_H
#define SM_AUTHFAIL_H

#include <stddef.h>
#include <stdint.h>

#define AUTHFAIL_ADDR_MAX	64	/* a numeric address with its NUL */
#define AUTHFAIL_TABLE_MAX	4096	/* client addresses remembered */

struct authfail_entry {
	char		addr[AUTHFAIL_ADDR_MAX];
	unsigned	count;		/* failures in this window */
	uint64_t	first;		/* the window's first failure, s */
	uint64_t	last;		/* the last failure, s */
	uint64_t	locked_until;	/* 0 = not locked */
};

struct authfail {
	unsigned		 failures;	/* auth-lockout-failures */
	uint64_t		 window;	/* auth-lockout-time, s */
	struct authfail_entry	*e;
	size_t			 n;
	size_t			 max;		/* AUTHFAIL_TABLE_MAX, or less
						 * for tests */
};

void authfail_init(struct authfail *af, unsigned failures, uint64_t window,
    size_t max);
void authfail_free(struct authfail *af);
/* 1 if addr is locked out at now, else 0 (an expired entry is dropped). */
int authfail_locked(struct authfail *af, const char *addr, uint64_t now);
/* Counts a failure of addr at now: its failures in the window so far,
 * this one included. */
unsigned authfail_add(struct authfail *af, const char *addr, uint64_t now);
/* The failures of addr in the current window (0 if unknown). */
unsigned authfail_count(struct authfail *af, const char *addr,
    uint64_t now);

#endif
