/*
 * sched_index.c - the delivery scheduler's messages by id, in arrival
 * order and by due time (sched_index.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "queue/sched_index.h"

#define SIDX_HASH_MIN	1024	/* buckets at first; doubles when the
				 * messages outnumber them */

uint64_t
sidx_due(const struct qs_msg *m)
{
	return m->dest_until > m->next_attempt ? m->dest_until :
	    m->next_attempt;
}

int
sidx_waits(const struct qs_msg *m)
{
	return m->jobs == 0 && m->npending > 0 && !m->held;
}

/* ---- by id ---- */

static size_t
sidx_hash(const struct sched_index *x, const char *id)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) & (x->hsize - 1);
}

struct qs_msg *
sidx_find(struct sched_index *x, const char *id)
{
	struct qs_msg	*m;

	if (x->hsize == 0)
		return NULL;
	for (m = x->htab[sidx_hash(x, id)]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void
sidx_chain(struct sched_index *x, struct qs_msg *m)
{
	size_t	h = sidx_hash(x, m->id);

	m->hnext = x->htab[h];
	x->htab[h] = m;
}

/* Twice the buckets, every message chained again. */
static void
sidx_hash_grow(struct sched_index *x)
{
	struct qs_msg	*m;

	free(x->htab);
	x->hsize = x->hsize == 0 ? SIDX_HASH_MIN : x->hsize * 2;
	x->htab = xcalloc(x->hsize, sizeof(*x->htab));
	for (m = x->head; m != NULL; m = m->next)
		sidx_chain(x, m);
}

struct qs_msg *
sidx_add(struct sched_index *x, const char *id)
{
	struct qs_msg	*m;

	m = xcalloc(1, sizeof(*m));
	(void)strlcpy(m->id, id, sizeof(m->id));
	m->hidx = SIDX_NOHEAP;
	m->seq = ++x->next_seq;
	m->prev = x->tail;
	if (x->tail != NULL)
		x->tail->next = m;
	else
		x->head = m;
	x->tail = m;
	if (++x->n > x->hsize)
		sidx_hash_grow(x);	/* chains m too */
	else
		sidx_chain(x, m);
	return m;
}

/* ---- the heap ---- */

/* 1 if a sorts before b: due earlier, or as due and here earlier. */
static int
sidx_less(const struct sidx_due *a, const struct sidx_due *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
sidx_put(struct sched_index *x, size_t i, struct sidx_due e)
{
	x->heap[i] = e;
	e.m->hidx = i;
}

static void
sidx_up(struct sched_index *x, size_t i)
{
	struct sidx_due	e = x->heap[i];
	size_t		p;

	while (i > 0 && sidx_less(&e, &x->heap[p = (i - 1) / 2])) {
		sidx_put(x, i, x->heap[p]);
		i = p;
	}
	sidx_put(x, i, e);
}

static void
sidx_down(struct sched_index *x, size_t i)
{
	struct sidx_due	e = x->heap[i];
	size_t		c;

	while ((c = 2 * i + 1) < x->nheap) {
		if (c + 1 < x->nheap && sidx_less(&x->heap[c + 1], &x->heap[c]))
			c++;
		if (!sidx_less(&x->heap[c], &e))
			break;
		sidx_put(x, i, x->heap[c]);
		i = c;
	}
	sidx_put(x, i, e);
}

/* The entry at i, changed or put there, to its place. */
static void
sidx_fix(struct sched_index *x, size_t i)
{
	if (i > 0 && sidx_less(&x->heap[i], &x->heap[(i - 1) / 2]))
		sidx_up(x, i);
	else
		sidx_down(x, i);
}

void
sidx_unheap(struct sched_index *x, struct qs_msg *m)
{
	size_t	i = m->hidx;

	if (i == SIDX_NOHEAP)
		return;
	m->hidx = SIDX_NOHEAP;
	if (--x->nheap == i)
		return;
	sidx_put(x, i, x->heap[x->nheap]);
	sidx_fix(x, i);
}

void
sidx_resched(struct sched_index *x, struct qs_msg *m)
{
	struct sidx_due	e;

	if (!sidx_waits(m)) {
		sidx_unheap(x, m);
		return;
	}
	e.at = sidx_due(m);
	e.seq = m->seq;
	e.m = m;
	if (m->hidx == SIDX_NOHEAP) {
		if (x->nheap == x->heapcap) {
			x->heapcap = x->heapcap == 0 ? 64 : x->heapcap * 2;
			x->heap = xreallocarray(x->heap, x->heapcap,
			    sizeof(*x->heap));
		}
		sidx_put(x, x->nheap++, e);
		sidx_up(x, m->hidx);
		return;
	}
	if (x->heap[m->hidx].at == e.at)
		return;
	sidx_put(x, m->hidx, e);
	sidx_fix(x, m->hidx);
}

struct qs_msg *
sidx_top(const struct sched_index *x, uint64_t *at)
{
	if (x->nheap == 0)
		return NULL;
	*at = x->heap[0].at;
	return x->heap[0].m;
}

/* ---- removal, checks ---- */

void
sidx_remove(struct sched_index *x, struct qs_msg *m)
{
	struct qs_msg	**pp;

	sidx_unheap(x, m);
	for (pp = &x->htab[sidx_hash(x, m->id)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	}
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		x->head = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	else
		x->tail = m->prev;
	x->n--;
}

int
sidx_check(const struct sched_index *x)
{
	const struct qs_msg	*m, *prev = NULL, *h;
	size_t			 n = 0, nwait = 0, i;

	for (m = x->head; m != NULL; prev = m, m = m->next) {
		n++;
		if (m->prev != prev)
			return __LINE__;
		for (h = x->htab[sidx_hash(x, m->id)]; h != NULL && h != m;
		    h = h->hnext)
			;
		if (h == NULL)
			return __LINE__;
		if (sidx_waits(m) != (m->hidx != SIDX_NOHEAP))
			return __LINE__;
		if (m->hidx == SIDX_NOHEAP)
			continue;
		nwait++;
		if (m->hidx >= x->nheap || x->heap[m->hidx].m != m ||
		    x->heap[m->hidx].at != sidx_due(m) ||
		    x->heap[m->hidx].seq != m->seq)
			return __LINE__;
	}
	if (x->tail != prev || n != x->n || nwait != x->nheap)
		return __LINE__;
	for (i = 1; i < x->nheap; i++)
		if (sidx_less(&x->heap[i], &x->heap[(i - 1) / 2]))
			return __LINE__;
	return 0;
}

void
sidx_free(struct sched_index *x)
{
	struct qs_msg	*m;

	while ((m = x->head) != NULL) {
		x->head = m->next;
		free(m);
	}
	free(x->htab);
	free(x->heap);
	memset(x, 0, sizeof(*x));
}
