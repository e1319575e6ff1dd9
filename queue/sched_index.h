/*
 * sched_index.h - the delivery scheduler's messages (queue_sched.c), so
 * that a queue of 100,000 deferred messages costs no walk per event:
 * found by id in a hash table, kept in arrival order in a doubly linked
 * list, and those that may go (no job out, recipients pending, not held)
 * in a binary heap ordered by when they are due (sidx_due, then arrival
 * order).  The scheduler changes a message's fields itself and then calls
 * sidx_resched, which puts it in or out of the heap or moves it.
 */
#ifndef SM_SCHED_INDEX_H
#define SM_SCHED_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue_id.h"

struct qs_dom;

struct qs_msg {
	struct qs_msg	*next;		/* arrival order */
	struct qs_msg	*prev;
	struct qs_msg	*hnext;		/* hash chain */
	size_t		 hidx;		/* place in the heap; SIDX_NOHEAP */
	uint64_t	 seq;		/* order of arrival here */
	char		 id[QUEUE_ID_SIZE];
	uint64_t	 arrival;
	uint64_t	 next_attempt;
	unsigned	 jobs;		/* jobs and bounces out */
	unsigned	 npending;	/* pending recipients with a
					 * domain (remote or local) */
	uint64_t	 dest_until;	/* a destination of it is backed off
					 * until then; 0: none */
	struct qs_dom	*dom1;		/* the one domain of its pending
					 * remote recipients; NULL: several,
					 * or not known */
	int		 held;		/* held by an operator: never due */
	uint64_t	 envgen;	/* outcomes applied to its envelope
					 * (queue_sched.c: a rewrite that
					 * comes back after a later one was
					 * applied leaves the schedule be) */
};

#define SIDX_NOHEAP	SIZE_MAX

/* An entry of the heap: the key copied out of the message, so that
 * sifting compares within one array. */
struct sidx_due {
	uint64_t	 at;
	uint64_t	 seq;
	struct qs_msg	*m;
};

struct sched_index {
	struct qs_msg	*head, *tail;	/* arrival order */
	size_t		 n;
	struct qs_msg	**htab;		/* by id */
	size_t		 hsize;		/* a power of two */
	struct sidx_due	*heap;		/* may go: by due time */
	size_t		 nheap, heapcap;
	uint64_t	 next_seq;
};

/* When m may go next: its own next attempt, or later when a destination
 * of it is backed off.  sidx_waits: 1 if m may go when it is due. */
uint64_t sidx_due(const struct qs_msg *m);
int sidx_waits(const struct qs_msg *m);

struct qs_msg *sidx_find(struct sched_index *x, const char *id);
/* A new message with id, zeroed, last in arrival order, not in the heap. */
struct qs_msg *sidx_add(struct sched_index *x, const char *id);
/* m out of the table, the list and the heap (not freed). */
void sidx_remove(struct sched_index *x, struct qs_msg *m);
/* After any change to what sidx_waits and sidx_due read. */
void sidx_resched(struct sched_index *x, struct qs_msg *m);
/* The message due first and when (NULL when none may go); sidx_unheap
 * takes m off the heap until its next sidx_resched. */
struct qs_msg *sidx_top(const struct sched_index *x, uint64_t *at);
void sidx_unheap(struct sched_index *x, struct qs_msg *m);
/* 0 if table, heap and list agree; else the line of the failed check. */
int sidx_check(const struct sched_index *x);
/* Frees every message and the index's arrays. */
void sidx_free(struct sched_index *x);

#endif
