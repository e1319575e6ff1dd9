/*
 * queue_io.c - the queue's removals and envelope rewrites on a thread
 * (queue_io.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/queue_fs.h"
#include "queue/queue_io.h"

struct queue_io {
	int			 spoolfd;
	int			 efd;		/* eventfd: operations done */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* the thread: work came */
	pthread_cond_t		 round;		/* settle: a round ended */
	struct queue_io_op	*todo, **todo_tail;
	struct queue_io_op	*work;		/* the thread's round */
	struct queue_io_op	*done, **done_tail;
	int			 stop;
};

static void
queue_io_run(struct queue_io *qi, struct queue_io_op *op)
{
	if (op->kind == QUEUE_IO_REMOVE) {
		op->error = queue_fs_remove_done(qi->spoolfd, op->id, 0) == -1 ?
		    errno : 0;
		return;
	}
	op->error = queue_fs_write_envelope_text(qi->spoolfd, op->id,
	    op->text.data, op->text.len, op->why, sizeof(op->why));
}

static void *
queue_io_thread(void *arg)
{
	struct queue_io		*qi = arg;
	struct queue_io_op	*op, **last;

	pthread_mutex_lock(&qi->lock);
	for (;;) {
		while (qi->todo == NULL && !qi->stop)
			pthread_cond_wait(&qi->cond, &qi->lock);
		if (qi->todo == NULL)
			break;
		qi->work = qi->todo;
		last = qi->todo_tail;
		qi->todo = NULL;
		qi->todo_tail = &qi->todo;
		pthread_mutex_unlock(&qi->lock);
		for (op = qi->work; op != NULL; op = op->next)
			queue_io_run(qi, op);
		pthread_mutex_lock(&qi->lock);
		*qi->done_tail = qi->work;
		qi->done_tail = last;
		qi->work = NULL;
		pthread_cond_broadcast(&qi->round);
		wake_fd_post(qi->efd);
	}
	pthread_mutex_unlock(&qi->lock);
	return NULL;
}

struct queue_io *
queue_io_new(int spoolfd)
{
	struct queue_io	*qi;

	qi = xcalloc(1, sizeof(*qi));
	qi->spoolfd = spoolfd;
	qi->todo_tail = &qi->todo;
	qi->done_tail = &qi->done;
	qi->efd = wake_fd_new("queue_io_new");
	if (pthread_mutex_init(&qi->lock, NULL) != 0 ||
	    pthread_cond_init(&qi->cond, NULL) != 0 ||
	    pthread_cond_init(&qi->round, NULL) != 0)
		fatalx("queue_io_new: cannot initialise lock");
	xthread_start(&qi->thread, queue_io_thread, qi, "queue_io_new");
	return qi;
}

int
queue_io_fd(const struct queue_io *qi)
{
	return qi->efd;
}

static void
queue_io_add(struct queue_io *qi, struct queue_io_op *op)
{
	pthread_mutex_lock(&qi->lock);
	if (qi->stop)
		fatalx("queue_io_add: %s: thread stopped", op->id);
	*qi->todo_tail = op;
	qi->todo_tail = &op->next;
	pthread_cond_signal(&qi->cond);
	pthread_mutex_unlock(&qi->lock);
}

void
queue_io_remove(struct queue_io *qi, const char *id)
{
	struct queue_io_op	*op;

	op = xcalloc(1, sizeof(*op));
	op->kind = QUEUE_IO_REMOVE;
	(void)strlcpy(op->id, id, sizeof(op->id));
	buf_init(&op->text);
	queue_io_add(qi, op);
}

void
queue_io_rewrite(struct queue_io *qi, const char *id, struct buf *text,
    void *arg)
{
	struct queue_io_op	*op;

	op = xcalloc(1, sizeof(*op));
	op->kind = QUEUE_IO_REWRITE;
	(void)strlcpy(op->id, id, sizeof(op->id));
	op->text = *text;
	buf_init(text);
	op->arg = arg;
	queue_io_add(qi, op);
}

/* Whether list op has an operation of id (NULL: any). */
static int
queue_io_in(const struct queue_io_op *op, const char *id)
{
	for (; op != NULL; op = op->next)
		if (id == NULL || strcmp(op->id, id) == 0)
			return 1;
	return 0;
}

int
queue_io_pending(struct queue_io *qi, const char *id)
{
	int	found;

	pthread_mutex_lock(&qi->lock);
	found = queue_io_in(qi->todo, id) || queue_io_in(qi->work, id) ||
	    queue_io_in(qi->done, id);
	pthread_mutex_unlock(&qi->lock);
	return found;
}

int
queue_io_settle(struct queue_io *qi, const char *id)
{
	int	waited = 0;

	pthread_mutex_lock(&qi->lock);
	while (queue_io_in(qi->todo, id) || queue_io_in(qi->work, id)) {
		pthread_cond_wait(&qi->round, &qi->lock);
		waited = 1;
	}
	pthread_mutex_unlock(&qi->lock);
	return waited;
}

struct queue_io_op *
queue_io_done(struct queue_io *qi)
{
	struct queue_io_op	*list;

	wake_fd_clear(qi->efd);
	pthread_mutex_lock(&qi->lock);
	list = qi->done;
	qi->done = NULL;
	qi->done_tail = &qi->done;
	pthread_mutex_unlock(&qi->lock);
	return list;
}

void
queue_io_op_free(struct queue_io_op *op)
{
	if (op == NULL)
		return;
	buf_free(&op->text);
	free(op);
}

void
queue_io_stop(struct queue_io *qi)
{
	pthread_mutex_lock(&qi->lock);
	if (qi->stop) {
		pthread_mutex_unlock(&qi->lock);
		return;
	}
	qi->stop = 1;
	pthread_cond_signal(&qi->cond);
	pthread_mutex_unlock(&qi->lock);
	if ((errno = pthread_join(qi->thread, NULL)) != 0)
		fatal("queue_io_stop: pthread_join");
}

void
queue_io_free(struct queue_io *qi)
{
	struct queue_io_op	*op;

	if (qi == NULL)
		return;
	queue_io_stop(qi);
	while ((op = qi->done) != NULL) {
		qi->done = op->next;
		queue_io_op_free(op);
	}
	close(qi->efd);
	pthread_cond_destroy(&qi->round);
	pthread_cond_destroy(&qi->cond);
	pthread_mutex_destroy(&qi->lock);
	free(qi);
}
