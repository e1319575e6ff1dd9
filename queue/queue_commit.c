/*
 * queue_commit.c - the group-commit worker thread.
 *
 * The event loop submits jobs; the worker takes every job waiting as one
 * batch and makes the batch durable with two syncfs calls in all, then
 * reports it through an eventfd.  The worker never logs (the loop logs what
 * it reports) and touches nothing but the jobs and the spool's files.
 * Sequence and crash states: queue/INTERNALS.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/queue_commit.h"
#include "queue/queue_fs.h"

struct queue_commit {
	int			 spoolfd;
	int			 efd;		/* eventfd: batches done */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct queue_job	*pending;	/* submitted, FIFO */
	struct queue_job	**pending_tail;
	struct queue_job	*done;		/* finished, FIFO */
	struct queue_job	**done_tail;
	int			 stop;
	uint64_t		 nbatch;	/* worker only */
};

static void
queue_commit_fail(struct queue_commit *qc, struct queue_job *j,
    const char *what, int err)
{
	char	ebuf[128];

	j->failed = 1;
	(void)bsnprintf(j->error, sizeof(j->error), "%s: %s", what,
	    strerror_r(err, ebuf, sizeof(ebuf)));
	/* Removes the envelope first: content alone is never a message. */
	(void)queue_fs_unlink_message(qc->spoolfd, j->id);
}

static int
queue_commit_write_env(struct queue_commit *qc, struct queue_job *j)
{
	char	path[QUEUE_FS_PATHSIZE];
	int	fd, saved;

	queue_fs_path(path, QFS_INCOMING, j->id, "env");
	fd = openat(qc->spoolfd, path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, j->env.data, j->env.len) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* Step 1: content into its folder, envelope written beside the incoming. */
static void
queue_commit_stage(struct queue_commit *qc, struct queue_job *j)
{
	char	from[QUEUE_FS_PATHSIZE], to[QUEUE_FS_PATHSIZE];

	queue_fs_path(from, QFS_INCOMING, j->id, "msg");
	queue_fs_path(to, QFS_QUEUE, j->id, "msg");
	if (queue_fs_rename(qc->spoolfd, from, to) == -1)
		queue_commit_fail(qc, j, "rename content", errno);
	else if (queue_commit_write_env(qc, j) == -1)
		queue_commit_fail(qc, j, "write envelope", errno);
}

/* Step 3: the commit point. */
static void
queue_commit_point(struct queue_commit *qc, struct queue_job *j)
{
	char	from[QUEUE_FS_PATHSIZE], to[QUEUE_FS_PATHSIZE];

	queue_fs_path(from, QFS_INCOMING, j->id, "env");
	queue_fs_path(to, QFS_QUEUE, j->id, "env");
	if (queue_fs_rename(qc->spoolfd, from, to) == -1)
		queue_commit_fail(qc, j, "rename envelope", errno);
}

/* Steps 2 and 4: one sync for the batch; on failure every job fails. */
static void
queue_commit_sync(struct queue_commit *qc, struct queue_job *batch,
    const char *what)
{
	struct queue_job	*j;
	int			 alive = 0, err;

	for (j = batch; j != NULL; j = j->next)
		alive += !j->failed;
	if (alive == 0 || syncfs(qc->spoolfd) == 0)
		return;
	err = errno;
	for (j = batch; j != NULL; j = j->next)
		if (!j->failed)
			queue_commit_fail(qc, j, what, err);
}

static void
queue_commit_batch(struct queue_commit *qc, struct queue_job *batch)
{
	struct queue_job	*j;

	qc->nbatch++;
	for (j = batch; j != NULL; j = j->next) {
		j->batch = qc->nbatch;
		queue_commit_stage(qc, j);
	}
	queue_commit_sync(qc, batch, "syncfs before commit");
	for (j = batch; j != NULL; j = j->next)
		if (!j->failed)
			queue_commit_point(qc, j);
	queue_commit_sync(qc, batch, "syncfs after commit");
}

static void
queue_commit_report(struct queue_commit *qc, struct queue_job *batch,
    struct queue_job **last)
{
	uint64_t	one = 1;

	pthread_mutex_lock(&qc->lock);
	*qc->done_tail = batch;
	qc->done_tail = last;
	pthread_mutex_unlock(&qc->lock);
	/* The counter cannot overflow in practice; EAGAIN means it is set. */
	while (write(qc->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		continue;
}

static void *
queue_commit_thread(void *arg)
{
	struct queue_commit	*qc = arg;
	struct queue_job	*batch, **last;

	pthread_mutex_lock(&qc->lock);
	for (;;) {
		while (qc->pending == NULL && !qc->stop)
			pthread_cond_wait(&qc->cond, &qc->lock);
		if (qc->pending == NULL)
			break;
		batch = qc->pending;
		last = qc->pending_tail;
		qc->pending = NULL;
		qc->pending_tail = &qc->pending;
		pthread_mutex_unlock(&qc->lock);
		queue_commit_batch(qc, batch);
		queue_commit_report(qc, batch, last);
		pthread_mutex_lock(&qc->lock);
	}
	pthread_mutex_unlock(&qc->lock);
	return NULL;
}

struct queue_commit *
queue_commit_new(int spoolfd)
{
	struct queue_commit	*qc;
	sigset_t		 all, old;
	int			 rc;

	qc = xcalloc(1, sizeof(*qc));
	qc->spoolfd = spoolfd;
	qc->pending_tail = &qc->pending;
	qc->done_tail = &qc->done;
	if ((qc->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("queue_commit_new: eventfd");
	if (pthread_mutex_init(&qc->lock, NULL) != 0 ||
	    pthread_cond_init(&qc->cond, NULL) != 0)
		fatalx("queue_commit_new: cannot initialise lock");
	/* Signals belong to the loop's signalfd, never to the worker. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&qc->thread, NULL, queue_commit_thread, qc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		fatal("queue_commit_new: pthread_create");
	}
	return qc;
}

int
queue_commit_fd(const struct queue_commit *qc)
{
	return qc->efd;
}

void
queue_commit_submit(struct queue_commit *qc, struct queue_job *job)
{
	job->next = NULL;
	job->failed = 0;
	job->error[0] = '\0';
	pthread_mutex_lock(&qc->lock);
	if (qc->stop)
		fatalx("queue_commit_submit: %s: worker stopped", job->id);
	*qc->pending_tail = job;
	qc->pending_tail = &job->next;
	pthread_cond_signal(&qc->cond);
	pthread_mutex_unlock(&qc->lock);
}

struct queue_job *
queue_commit_done(struct queue_commit *qc)
{
	struct queue_job	*list;
	uint64_t		 n;

	while (read(qc->efd, &n, sizeof(n)) == -1 && errno == EINTR)
		continue;
	pthread_mutex_lock(&qc->lock);
	list = qc->done;
	qc->done = NULL;
	qc->done_tail = &qc->done;
	pthread_mutex_unlock(&qc->lock);
	return list;
}

void
queue_commit_stop(struct queue_commit *qc)
{
	pthread_mutex_lock(&qc->lock);
	if (qc->stop) {
		pthread_mutex_unlock(&qc->lock);
		return;
	}
	qc->stop = 1;
	pthread_cond_signal(&qc->cond);
	pthread_mutex_unlock(&qc->lock);
	if ((errno = pthread_join(qc->thread, NULL)) != 0)
		fatal("queue_commit_stop: pthread_join");
}

void
queue_commit_free(struct queue_commit *qc)
{
	struct queue_job	*j;

	if (qc == NULL)
		return;
	queue_commit_stop(qc);
	while ((j = qc->done) != NULL) {
		qc->done = j->next;
		queue_job_free(j);
	}
	close(qc->efd);
	pthread_cond_destroy(&qc->cond);
	pthread_mutex_destroy(&qc->lock);
	free(qc);
}

void
queue_job_free(struct queue_job *job)
{
	if (job == NULL)
		return;
	buf_free(&job->env);
	free(job);
}
