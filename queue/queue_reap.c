/*
 * queue_reap.c - delivered messages removed on a thread (queue_reap.h).
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/queue_fs.h"
#include "queue/queue_reap.h"

struct queue_reap {
	int			 spoolfd;
	int			 efd;		/* eventfd: removals done */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct queue_reaped	*todo, **todo_tail;
	struct queue_reaped	*work;		/* the thread's round */
	struct queue_reaped	*done, **done_tail;
	int			 stop;
};

static void *
queue_reap_thread(void *arg)
{
	struct queue_reap	*qr = arg;
	struct queue_reaped	*r, **last;
	uint64_t		 one = 1;

	pthread_mutex_lock(&qr->lock);
	for (;;) {
		while (qr->todo == NULL && !qr->stop)
			pthread_cond_wait(&qr->cond, &qr->lock);
		if (qr->todo == NULL)
			break;
		qr->work = qr->todo;
		last = qr->todo_tail;
		qr->todo = NULL;
		qr->todo_tail = &qr->todo;
		pthread_mutex_unlock(&qr->lock);
		for (r = qr->work; r != NULL; r = r->next)
			r->error = queue_fs_remove_done(qr->spoolfd, r->id,
			    0) == -1 ? errno : 0;
		pthread_mutex_lock(&qr->lock);
		*qr->done_tail = qr->work;
		qr->done_tail = last;
		qr->work = NULL;
		/* EAGAIN: the counter is set already. */
		while (write(qr->efd, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			continue;
	}
	pthread_mutex_unlock(&qr->lock);
	return NULL;
}

struct queue_reap *
queue_reap_new(int spoolfd)
{
	struct queue_reap	*qr;

	qr = xcalloc(1, sizeof(*qr));
	qr->spoolfd = spoolfd;
	qr->todo_tail = &qr->todo;
	qr->done_tail = &qr->done;
	if ((qr->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("queue_reap_new: eventfd");
	if (pthread_mutex_init(&qr->lock, NULL) != 0 ||
	    pthread_cond_init(&qr->cond, NULL) != 0)
		fatalx("queue_reap_new: cannot initialise lock");
	xthread_start(&qr->thread, queue_reap_thread, qr, "queue_reap_new");
	return qr;
}

int
queue_reap_fd(const struct queue_reap *qr)
{
	return qr->efd;
}

void
queue_reap_add(struct queue_reap *qr, const char *id)
{
	struct queue_reaped	*r;

	r = xcalloc(1, sizeof(*r));
	(void)strlcpy(r->id, id, sizeof(r->id));
	pthread_mutex_lock(&qr->lock);
	if (qr->stop)
		fatalx("queue_reap_add: %s: thread stopped", id);
	*qr->todo_tail = r;
	qr->todo_tail = &r->next;
	pthread_cond_signal(&qr->cond);
	pthread_mutex_unlock(&qr->lock);
}

static int
queue_reap_in(const struct queue_reaped *r, const char *id)
{
	for (; r != NULL; r = r->next)
		if (strcmp(r->id, id) == 0)
			return 1;
	return 0;
}

int
queue_reap_pending(struct queue_reap *qr, const char *id)
{
	int	found;

	pthread_mutex_lock(&qr->lock);
	found = queue_reap_in(qr->todo, id) || queue_reap_in(qr->work, id) ||
	    queue_reap_in(qr->done, id);
	pthread_mutex_unlock(&qr->lock);
	return found;
}

struct queue_reaped *
queue_reap_done(struct queue_reap *qr)
{
	struct queue_reaped	*list;
	uint64_t		 n;

	while (read(qr->efd, &n, sizeof(n)) == -1 && errno == EINTR)
		continue;
	pthread_mutex_lock(&qr->lock);
	list = qr->done;
	qr->done = NULL;
	qr->done_tail = &qr->done;
	pthread_mutex_unlock(&qr->lock);
	return list;
}

void
queue_reap_stop(struct queue_reap *qr)
{
	pthread_mutex_lock(&qr->lock);
	if (qr->stop) {
		pthread_mutex_unlock(&qr->lock);
		return;
	}
	qr->stop = 1;
	pthread_cond_signal(&qr->cond);
	pthread_mutex_unlock(&qr->lock);
	if ((errno = pthread_join(qr->thread, NULL)) != 0)
		fatal("queue_reap_stop: pthread_join");
}

void
queue_reap_free(struct queue_reap *qr)
{
	struct queue_reaped	*r;

	if (qr == NULL)
		return;
	queue_reap_stop(qr);
	while ((r = qr->done) != NULL) {
		qr->done = r->next;
		free(r);
	}
	close(qr->efd);
	pthread_cond_destroy(&qr->cond);
	pthread_mutex_destroy(&qr->lock);
	free(qr);
}
