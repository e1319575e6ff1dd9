/*
 * queue_recover.c - startup recovery in a thread of the queue process,
 * while the event loop takes mail (queue_recover.h; queue/INTERNALS).
 *
 * The thread owns the files of every ID at or below the bound until it
 * hands the folder's messages over; the loop owns everything else.  It
 * shares with the loop only the list of found messages, its counts and
 * two flags, under one lock, and wakes the loop through an eventfd.  Its
 * log lines are written like the loop's (log.c: one write per line).
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/queue_id.h"
#include "queue/queue_recover.h"

struct qr_found {
	struct qr_found	*next;
	struct envelope	 env;
};

struct queue_recover {
	int			 spoolfd;
	uint64_t		 bound;
	int			 efd;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	struct qr_found		*found;		/* handed over, FIFO */
	struct qr_found		**found_tail;
	struct queue_fs_recovery rec;		/* the thread's counts */
	unsigned		 folders;	/* checked */
	int			 stop;		/* asked by the loop */
	int			 ended;		/* the thread returned */
	int			 taken;		/* the loop saw the end */
	uint64_t		 started_ms;
};

/* The thread's collection for one folder. */
struct qr_folder {
	struct qr_found		*head;
	struct qr_found		**tail;
};

static uint64_t
qr_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
qr_wake(struct queue_recover *qr)
{
	wake_fd_post(qr->efd);
}

/* queue_fs_recover_folder's callback: the envelope is taken. */
static void
qr_collect(struct envelope *env, void *arg)
{
	struct qr_folder	*f = arg;
	struct qr_found		*n;

	n = xcalloc(1, sizeof(*n));
	n->env = *env;
	envelope_init(env);
	*f->tail = n;
	f->tail = &n->next;
}

static void *
qr_thread(void *arg)
{
	struct queue_recover	*qr = arg;
	struct queue_fs_recovery rec;
	struct qr_folder	 f;
	unsigned		 h;
	int			 stop;

	memset(&rec, 0, sizeof(rec));
	for (h = 0; h < QUEUE_ID_NHASH; h++) {
		pthread_mutex_lock(&qr->lock);
		stop = qr->stop;
		pthread_mutex_unlock(&qr->lock);
		if (stop)
			break;
		f.head = NULL;
		f.tail = &f.head;
		queue_fs_recover_folder(qr->spoolfd, h, qr->bound, qr_collect,
		    &f, &rec);
		pthread_mutex_lock(&qr->lock);
		if (f.head != NULL) {
			*qr->found_tail = f.head;
			qr->found_tail = f.tail;
		}
		qr->folders = h + 1;
		pthread_mutex_unlock(&qr->lock);
		if (f.head != NULL)
			qr_wake(qr);
	}
	if (h == QUEUE_ID_NHASH && syncfs(qr->spoolfd) == -1)
		log_warn("recovery: syncfs");
	pthread_mutex_lock(&qr->lock);
	rec.removed += qr->rec.removed;		/* incoming/, by the loop */
	rec.corrupt += qr->rec.corrupt;
	qr->rec = rec;
	qr->ended = 1;
	pthread_mutex_unlock(&qr->lock);
	qr_wake(qr);
	return NULL;
}

struct queue_recover *
queue_recover_start(int spoolfd)
{
	struct queue_recover	*qr;

	qr = xcalloc(1, sizeof(*qr));
	qr->spoolfd = spoolfd;
	qr->found_tail = &qr->found;
	qr->started_ms = qr_now_ms();
	queue_fs_recover_incoming(spoolfd, &qr->rec);
	qr->bound = queue_fs_recover_bound(spoolfd);
	log_info("recovery: incoming/ emptied; checking the messages in "
	    "queue/ while taking mail");
	qr->efd = wake_fd_new("queue_recover_start");
	if (pthread_mutex_init(&qr->lock, NULL) != 0)
		fatalx("queue_recover_start: cannot initialise lock");
	xthread_start(&qr->thread, qr_thread, qr, "queue_recover_start");
	return qr;
}

int
queue_recover_fd(const struct queue_recover *qr)
{
	return qr->efd;
}

int
queue_recover_take(struct queue_recover *qr, queue_fs_found_cb found,
    void *arg, struct queue_fs_recovery *rec)
{
	struct qr_found	*list, *n;
	int		 ended;

	wake_fd_clear(qr->efd);
	pthread_mutex_lock(&qr->lock);
	list = qr->found;
	qr->found = NULL;
	qr->found_tail = &qr->found;
	ended = qr->ended;
	pthread_mutex_unlock(&qr->lock);
	for (; list != NULL; list = n) {
		n = list->next;
		if (found != NULL)
			found(&list->env, arg);
		envelope_free(&list->env);
		free(list);
	}
	if (!ended || qr->taken)
		return 0;
	qr->taken = 1;
	pthread_join(qr->thread, NULL);
	*rec = qr->rec;
	queue_fs_recover_summary(rec);
	log_debug("recovery: done in %llu ms",
	    (unsigned long long)(qr_now_ms() - qr->started_ms));
	return 1;
}

int
queue_recover_pending(const struct queue_recover *qr, const char *id)
{
	return qr != NULL && !qr->taken && queue_id_valid(id) &&
	    queue_id_value(id) <= qr->bound;
}

unsigned
queue_recover_progress(struct queue_recover *qr)
{
	unsigned	n;

	pthread_mutex_lock(&qr->lock);
	n = qr->folders;
	pthread_mutex_unlock(&qr->lock);
	return n;
}

void
queue_recover_free(struct queue_recover *qr)
{
	struct qr_found	*n;

	if (qr == NULL)
		return;
	if (!qr->taken) {
		pthread_mutex_lock(&qr->lock);
		qr->stop = 1;
		pthread_mutex_unlock(&qr->lock);
		pthread_join(qr->thread, NULL);
		log_info("recovery: stopped after %u of %u folders; the next "
		    "start checks the queue again", qr->folders,
		    QUEUE_ID_NHASH);
	}
	while ((n = qr->found) != NULL) {
		qr->found = n->next;
		envelope_free(&n->env);
		free(n);
	}
	close(qr->efd);
	pthread_mutex_destroy(&qr->lock);
	free(qr);
}
