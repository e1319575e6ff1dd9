/*
 * authfail.c - failed AUTH attempts per client address (authfail.h).
 *
 * A small array searched linearly: AUTHFAIL_TABLE_MAX entries at most,
 * and only failed attempts, each of which costs a crypt(3) run, reach it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "lookup/authfail.h"

void
authfail_init(struct authfail *af, unsigned failures, uint64_t window,
    size_t max)
{
	memset(af, 0, sizeof(*af));
	af->failures = failures;
	af->window = window;
	af->max = max == 0 || max > AUTHFAIL_TABLE_MAX ? AUTHFAIL_TABLE_MAX :
	    max;
}

void
authfail_free(struct authfail *af)
{
	free(af->e);
	memset(af, 0, sizeof(*af));
}

static struct authfail_entry *
authfail_find(struct authfail *af, const char *addr)
{
	size_t	i;

	for (i = 0; i < af->n; i++)
		if (strcmp(af->e[i].addr, addr) == 0)
			return &af->e[i];
	return NULL;
}

static void
authfail_drop(struct authfail *af, struct authfail_entry *e)
{
	size_t	i = (size_t)(e - af->e);

	af->e[i] = af->e[--af->n];
}

/* Drops e when neither its lock-out nor its window is running at now;
 * NULL then, else e. */
static struct authfail_entry *
authfail_expire(struct authfail *af, struct authfail_entry *e, uint64_t now)
{
	if (e == NULL)
		return NULL;
	if (e->locked_until != 0 ? now < e->locked_until :
	    now < e->first + af->window)
		return e;
	authfail_drop(af, e);
	return NULL;
}

int
authfail_locked(struct authfail *af, const char *addr, uint64_t now)
{
	struct authfail_entry	*e;

	e = authfail_expire(af, authfail_find(af, addr), now);
	return e != NULL && e->locked_until != 0;
}

unsigned
authfail_count(struct authfail *af, const char *addr, uint64_t now)
{
	struct authfail_entry	*e;

	e = authfail_expire(af, authfail_find(af, addr), now);
	return e != NULL ? e->count : 0;
}

/* A free entry: a new one, or the one whose last failure is oldest. */
static struct authfail_entry *
authfail_slot(struct authfail *af)
{
	size_t	i, old = 0;

	if (af->n < af->max) {
		if (af->e == NULL)
			af->e = xreallocarray(NULL, af->max, sizeof(*af->e));
		return &af->e[af->n++];
	}
	for (i = 1; i < af->n; i++)
		if (af->e[i].last < af->e[old].last)
			old = i;
	return &af->e[old];
}

unsigned
authfail_add(struct authfail *af, const char *addr, uint64_t now)
{
	struct authfail_entry	*e;

	e = authfail_expire(af, authfail_find(af, addr), now);
	if (e == NULL) {
		e = authfail_slot(af);
		memset(e, 0, sizeof(*e));
		(void)strlcpy(e->addr, addr, sizeof(e->addr));
		e->first = now;
	}
	e->count++;
	e->last = now;
	if (e->count >= af->failures && e->locked_until == 0)
		e->locked_until = now + af->window;
	return e->count;
}
