/*
 * conncache.c - idle SMTP connections filed under what their security
 * depends on, and the rule of which message each may carry
 * (conncache.h).  A small array, newest first: the delivery process
 * keeps at most max-deliveries connections idle.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "delivery/conncache.h"

void
conncache_init(struct conncache *cc)
{
	memset(cc, 0, sizeof(*cc));
}

void
conncache_free(struct conncache *cc)
{
	free(cc->e);
	memset(cc, 0, sizeof(*cc));
}

/* The length of s without one trailing dot. */
static size_t
conncache_name_len(const char *s)
{
	size_t	n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	return n;
}

int
conncache_same_name(const char *a, const char *b)
{
	size_t	na = conncache_name_len(a), nb = conncache_name_len(b);

	return na == nb && na > 0 && strncasecmp(a, b, na) == 0;
}

static int
conncache_same_addr(const struct dns_addr *a, const struct dns_addr *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return memcmp(&a->u.v4, &b->u.v4, sizeof(a->u.v4)) == 0;
	if (a->family == AF_INET6)
		return memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6)) == 0;
	return 0;
}

/* The certificate matched one of the names this message wants. */
static int
conncache_name_wanted(const struct conncache_key *k,
    const struct conncache_need *n)
{
	size_t	i;

	for (i = 0; i < n->nnames; i++)
		if (n->names[i] != NULL &&
		    conncache_same_name(k->verified, n->names[i]))
			return 1;
	return 0;
}

int
conncache_fits(const struct conncache_key *k, const struct conncache_need *n)
{
	if (n->host == NULL || !conncache_same_name(k->host, n->host) ||
	    !conncache_same_addr(&k->addr, &n->addr) || k->port != n->port)
		return 0;
	switch (n->level) {
	case CONNCACHE_NEED_ANY:
		return 1;
	case CONNCACHE_NEED_ENCRYPTED:
		return k->tls >= CONNCACHE_TLS_ENCRYPTED;
	case CONNCACHE_NEED_VERIFIED:
		return k->tls == CONNCACHE_TLS_VERIFIED &&
		    conncache_name_wanted(k, n);
	}
	return 0;
}

void
conncache_put(struct conncache *cc, const struct conncache_key *k,
    void *conn)
{
	if (conn == NULL)
		fatalx("conncache_put: no connection");
	if (cc->n == cc->cap) {
		cc->cap = cc->cap == 0 ? 8 : cc->cap * 2;
		cc->e = xreallocarray(cc->e, cc->cap, sizeof(*cc->e));
	}
	memmove(&cc->e[1], &cc->e[0], cc->n * sizeof(*cc->e));
	cc->e[0].key = *k;
	cc->e[0].conn = conn;
	cc->n++;
}

static void
conncache_drop(struct conncache *cc, size_t i)
{
	memmove(&cc->e[i], &cc->e[i + 1], (cc->n - i - 1) * sizeof(*cc->e));
	cc->n--;
}

void *
conncache_take(struct conncache *cc, const struct conncache_need *n)
{
	void	*conn;
	size_t	 i;

	for (i = 0; i < cc->n; i++) {
		if (!conncache_fits(&cc->e[i].key, n))
			continue;
		conn = cc->e[i].conn;
		conncache_drop(cc, i);
		return conn;
	}
	return NULL;
}

int
conncache_remove(struct conncache *cc, const void *conn)
{
	size_t	i;

	for (i = 0; i < cc->n; i++) {
		if (cc->e[i].conn == conn) {
			conncache_drop(cc, i);
			return 0;
		}
	}
	return -1;
}

void *
conncache_oldest(const struct conncache *cc)
{
	return cc->n > 0 ? cc->e[cc->n - 1].conn : NULL;
}

size_t
conncache_count(const struct conncache *cc)
{
	return cc->n;
}
