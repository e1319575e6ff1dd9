/*
 * queue_commit.c - the group-commit worker thread.
 *
 * The event loop submits jobs; the worker takes every job waiting as one
 * batch, makes it durable with one fdatasync per file and one fsync per
 * folder it touched, then reports it through an eventfd.  The syncs of a
 * batch run side by side on QC_SYNCERS threads (the worker and its
 * helpers): the block layer merges the cache flushes of syncs that wait
 * together, where one after the other each would pay its own.  The
 * worker never logs (the loop logs what it reports) and touches nothing
 * but the jobs and the spool's files; the helpers touch nothing but the
 * descriptors they sync.
 * Sequence and crash states: queue/INTERNALS.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_commit.h"
#include "queue/queue_fs.h"

/* Threads that sync a batch's files at once, the worker one of them. */
#define QC_SYNCERS	4

/* One sync of a batch: a file's fdatasync (job set) or the fsync of a
 * folder (job NULL). */
struct qc_sync {
	int			 fd;
	int			 err;		/* its errno, 0 if it worked */
	struct queue_job	*job;		/* a file's message */
	unsigned		 hash;		/* a folder's XX */
	const char		*what;		/* the sync, in an error */
};

/*
 * When the batch's files start their write-back (their blocks allocated;
 * pages already on their way are passed over).  A batch of several
 * messages: in step 1, so that the syncs find most of it on its way to
 * the disk.  A lone message, with a journal (ext4, XFS): both files on
 * two threads, before any sync, as a sync commits the journal and a
 * file whose delayed allocation came after that commit would cost its
 * fdatasync a second one.  A lone message without a journal: just
 * before its folder's fsync, on that thread, beside the files' own
 * fdatasyncs, which start theirs.  1 session, alternating runs: on a
 * journalled ext4 the folder's thread is 8% faster than nothing
 * started early, and before any sync 7-9% faster than that; without a
 * journal, before any sync (or in step 1) is 4-5% slower than the
 * folder's thread.
 */
enum qc_wb {
	QC_WB_STAGE,		/* in step 1 */
	QC_WB_FIRST,		/* before any sync (queue_commit_list) */
	QC_WB_FOLDER		/* before the folder's fsync */
};

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

	/* The syncs of the batch being made durable, under slock. */
	pthread_t		 helper[QC_SYNCERS - 1];
	pthread_mutex_t		 slock;
	pthread_cond_t		 swork;		/* helpers: syncs to take */
	pthread_cond_t		 sdone;		/* worker: the last one returned */
	pthread_cond_t		 salloc;	/* the allocations all returned */
	struct qc_sync		*sync;
	size_t			 nsync, syncsize;
	size_t			 snext;		/* the next one to take */
	size_t			 sleft;		/* taken or not, not returned */
	size_t			 nalloc;	/* sync[0..nalloc): write-backs */
	size_t			 aleft;		/* write-backs not returned */
	int			 journal;	/* the spool's fs has a journal */
	int			 sstop;
	enum qc_wb		 wb;		/* this batch's, set before its syncs */
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

/* Writes incoming/ID.env; its descriptor stays open for the sync. */
static int
queue_commit_write_env(struct queue_commit *qc, struct queue_job *j)
{
	char	path[QUEUE_FS_PATHSIZE];
	int	saved;

	queue_fs_path(path, QFS_INCOMING, j->id, "env");
	j->env_fd = openat(qc->spoolfd, path, O_CREAT | O_EXCL | O_WRONLY |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->env_fd == -1)
		return -1;
	if (write_all(j->env_fd, j->env.data, j->env.len) == -1) {
		saved = errno;
		close(j->env_fd);
		j->env_fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

static int
queue_commit_move(struct queue_commit *qc, const char *id, const char *ext)
{
	char	from[QUEUE_FS_PATHSIZE], to[QUEUE_FS_PATHSIZE];

	queue_fs_path(from, QFS_INCOMING, id, ext);
	queue_fs_path(to, QFS_QUEUE, id, ext);
	return queue_fs_rename(qc->spoolfd, from, to);
}

/*
 * Step 1: the envelope written, both files renamed into queue/XX, and,
 * in a batch of several messages, their write-back started (enum
 * qc_wb).
 */
static void
queue_commit_stage(struct queue_commit *qc, struct queue_job *j)
{
	if (queue_commit_write_env(qc, j) == -1)
		queue_commit_fail(qc, j, "write envelope", errno);
	else if (queue_commit_move(qc, j->id, "msg") == -1)
		queue_commit_fail(qc, j, "rename content", errno);
	else if (queue_commit_move(qc, j->id, "env") == -1)
		queue_commit_fail(qc, j, "rename envelope", errno);
	else if (qc->wb == QC_WB_STAGE) {
		(void)sync_file_range(j->content_fd, 0, 0,
		    SYNC_FILE_RANGE_WRITE);
		(void)sync_file_range(j->env_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
}

/* Before the fsync of folder h (QC_WB_FOLDER): the write-back of the
 * files renamed into it. */
static void
queue_commit_alloc(struct queue_commit *qc, unsigned h)
{
	size_t	i;

	if (qc->wb != QC_WB_FOLDER)
		return;
	for (i = 0; i < qc->nsync; i++)
		if (qc->sync[i].job != NULL && qc->sync[i].fd != -1 &&
		    queue_id_folder(qc->sync[i].job->id) == h)
			(void)sync_file_range(qc->sync[i].fd, 0, 0,
			    SYNC_FILE_RANGE_WRITE);
}

/*
 * Takes syncs of the batch until none is left; called with slock held,
 * returns with it held.  A file's sync goes through the descriptor that
 * wrote it, so that a write-back error of that file (however and
 * whenever its pages were written) is reported here and fails its
 * message alone.
 */
static void
queue_commit_take(struct queue_commit *qc)
{
	struct qc_sync	*t;
	int		 rc, alloc;

	while (qc->snext < qc->nsync) {
		/* No sync before every write-back started has returned. */
		if (qc->snext >= qc->nalloc && qc->aleft > 0) {
			pthread_cond_wait(&qc->salloc, &qc->slock);
			continue;
		}
		alloc = qc->snext < qc->nalloc;
		t = &qc->sync[qc->snext++];
		if (t->fd != -1) {
			pthread_mutex_unlock(&qc->slock);
			if (alloc)
				rc = sync_file_range(t->fd, 0, 0,
				    SYNC_FILE_RANGE_WRITE);
			else if (t->job == NULL) {
				queue_commit_alloc(qc, t->hash);
				rc = fsync(t->fd);
			} else
				rc = fdatasync(t->fd);
			/* A write-back that could not start: its sync
			 * tells. */
			t->err = rc == -1 && !alloc ? errno : 0;
			pthread_mutex_lock(&qc->slock);
		}
		if (alloc) {
			if (--qc->aleft == 0)
				pthread_cond_broadcast(&qc->salloc);
		} else if (--qc->sleft == 0)
			pthread_cond_signal(&qc->sdone);
	}
}

static void *
queue_commit_helper(void *arg)
{
	struct queue_commit	*qc = arg;

	pthread_mutex_lock(&qc->slock);
	for (;;) {
		while (qc->snext >= qc->nsync && !qc->sstop)
			pthread_cond_wait(&qc->swork, &qc->slock);
		if (qc->snext >= qc->nsync)
			break;
		queue_commit_take(qc);
	}
	pthread_mutex_unlock(&qc->slock);
	return NULL;
}

static struct qc_sync *
queue_commit_add(struct queue_commit *qc, int fd, struct queue_job *job)
{
	struct qc_sync	*t;

	if (qc->nsync == qc->syncsize) {
		qc->syncsize = qc->syncsize == 0 ? 64 : qc->syncsize * 2;
		qc->sync = xreallocarray(qc->sync, qc->syncsize,
		    sizeof(*qc->sync));
	}
	t = &qc->sync[qc->nsync++];
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->job = job;
	return t;
}

/*
 * Step 2: the syncs of every file (fdatasync) and of every queue/XX the
 * batch renamed into (fsync, once each), all at once.  incoming/ is not
 * synced: recovery removes every name in it, so a removal from it that
 * did not reach the disk is harmless.
 */
static void
queue_commit_list(struct queue_commit *qc, struct queue_job *batch)
{
	unsigned char		 done[QUEUE_ID_NHASH];
	struct queue_job	*j;
	struct qc_sync		*t;
	unsigned		 h;

	memset(done, 0, sizeof(done));
	qc->nsync = 0;
	for (j = batch; j != NULL && qc->wb == QC_WB_FIRST; j = j->next) {
		if (j->failed)
			continue;
		queue_commit_add(qc, j->content_fd, j)->what = "write-back";
		queue_commit_add(qc, j->env_fd, j)->what = "write-back";
	}
	qc->nalloc = qc->nsync;
	for (j = batch; j != NULL; j = j->next) {
		if (j->failed)
			continue;
		queue_commit_add(qc, j->content_fd, j)->what =
		    "fdatasync content";
		queue_commit_add(qc, j->env_fd, j)->what = "fdatasync envelope";
		h = queue_id_folder(j->id);
		if (done[h])
			continue;
		done[h] = 1;
		t = queue_commit_add(qc, queue_fs_open_folder(qc->spoolfd, h),
		    NULL);
		t->hash = h;
		t->what = "fsync folder";
		if (t->fd == -1)	/* not synced: fails as the sync would */
			t->err = errno;
	}
}

/* Runs the list on the worker and its helpers; returns when all did. */
static void
queue_commit_run(struct queue_commit *qc)
{
	pthread_mutex_lock(&qc->slock);
	qc->snext = 0;
	qc->aleft = qc->nalloc;
	qc->sleft = qc->nsync - qc->nalloc;
	pthread_cond_broadcast(&qc->swork);
	queue_commit_take(qc);
	while (qc->sleft > 0)
		pthread_cond_wait(&qc->sdone, &qc->slock);
	pthread_mutex_unlock(&qc->slock);
}

/* A failed sync fails its message, a folder's every message of the batch
 * renamed into it. */
static void
queue_commit_results(struct queue_commit *qc, struct queue_job *batch)
{
	struct queue_job	*j;
	struct qc_sync		*t;
	size_t			 i;

	for (i = 0; i < qc->nsync; i++) {
		t = &qc->sync[i];
		if (t->job == NULL && t->fd != -1)
			close(t->fd);
		if (t->err == 0)
			continue;
		if (t->job != NULL) {
			if (!t->job->failed)
				queue_commit_fail(qc, t->job, t->what, t->err);
			continue;
		}
		for (j = batch; j != NULL; j = j->next)
			if (!j->failed && queue_id_folder(j->id) == t->hash)
				queue_commit_fail(qc, j, t->what, t->err);
	}
}

static void
queue_commit_batch(struct queue_commit *qc, struct queue_job *batch)
{
	struct queue_job	*j;

	qc->nbatch++;
	qc->wb = batch->next != NULL ? QC_WB_STAGE :
	    qc->journal ? QC_WB_FIRST : QC_WB_FOLDER;
	for (j = batch; j != NULL; j = j->next) {
		j->batch = qc->nbatch;
		queue_commit_stage(qc, j);
	}
	queue_commit_list(qc, batch);
	queue_commit_run(qc);
	queue_commit_results(qc, batch);
	for (j = batch; j != NULL; j = j->next) {
		if (j->env_fd != -1)
			close(j->env_fd);
		j->env_fd = -1;
	}
}

static void
queue_commit_report(struct queue_commit *qc, struct queue_job *batch,
    struct queue_job **last)
{
	pthread_mutex_lock(&qc->lock);
	*qc->done_tail = batch;
	qc->done_tail = last;
	pthread_mutex_unlock(&qc->lock);
	wake_fd_post(qc->efd);
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
queue_commit_new(int spoolfd, int journal)
{
	struct queue_commit	*qc;
	int			 i;

	qc = xcalloc(1, sizeof(*qc));
	qc->spoolfd = spoolfd;
	qc->journal = journal;
	qc->pending_tail = &qc->pending;
	qc->done_tail = &qc->done;
	qc->efd = wake_fd_new("queue_commit_new");
	if (pthread_mutex_init(&qc->lock, NULL) != 0 ||
	    pthread_cond_init(&qc->cond, NULL) != 0 ||
	    pthread_mutex_init(&qc->slock, NULL) != 0 ||
	    pthread_cond_init(&qc->swork, NULL) != 0 ||
	    pthread_cond_init(&qc->sdone, NULL) != 0 ||
	    pthread_cond_init(&qc->salloc, NULL) != 0)
		fatalx("queue_commit_new: cannot initialise lock");
	for (i = 0; i < QC_SYNCERS - 1; i++)
		xthread_start(&qc->helper[i], queue_commit_helper, qc,
		    "queue_commit_new");
	/* Signals belong to the loop's signalfd, never to the worker. */
	xthread_start(&qc->thread, queue_commit_thread, qc,
	    "queue_commit_new");
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
	job->env_fd = -1;
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

	wake_fd_clear(qc->efd);
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
	int	i;

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
	pthread_mutex_lock(&qc->slock);
	qc->sstop = 1;
	pthread_cond_broadcast(&qc->swork);
	pthread_mutex_unlock(&qc->slock);
	for (i = 0; i < QC_SYNCERS - 1; i++)
		if ((errno = pthread_join(qc->helper[i], NULL)) != 0)
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
	free(qc->sync);
	pthread_cond_destroy(&qc->cond);
	pthread_mutex_destroy(&qc->lock);
	pthread_cond_destroy(&qc->swork);
	pthread_cond_destroy(&qc->sdone);
	pthread_cond_destroy(&qc->salloc);
	pthread_mutex_destroy(&qc->slock);
	free(qc);
}

struct queue_job *
queue_job_new(struct envelope *env, uint64_t lifetime, int content_fd,
    void *arg)
{
	struct queue_job	*job;

	env->arrival = (uint64_t)time(NULL);
	env->attempts = 0;
	env->next_attempt = env->arrival;
	env->expiry = lifetime > (uint64_t)INT64_MAX - env->arrival ?
	    (uint64_t)INT64_MAX : env->arrival + lifetime;
	job = xcalloc(1, sizeof(*job));
	(void)strlcpy(job->id, env->id, sizeof(job->id));
	buf_init(&job->env);
	envelope_serialize(env, &job->env);
	job->content_fd = content_fd;
	job->arg = arg;
	return job;
}

void
queue_job_free(struct queue_job *job)
{
	if (job == NULL)
		return;
	buf_free(&job->env);
	free(job);
}
