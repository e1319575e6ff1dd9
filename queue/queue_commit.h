/*
 * queue_commit.h - group commit: one worker thread makes messages durable
 * in batches, so that messages finishing at the same moment share their
 * syncs and the event loop never waits for the disk.
 *
 * For all jobs submitted while the previous batch ran, the worker writes
 * incoming/ID.env, renames incoming/ID.msg and incoming/ID.env into
 * queue/XX, starts their write-back, then fdatasyncs each content file
 * (through the queue's own descriptor, which saw every write to it) and
 * each envelope, and fsyncs each queue/XX the batch touched.
 * Only then does it hand the batch back: a job comes back done without
 * "failed" only after every sync covering its files and their folder
 * entries returned 0.  A job whose write, rename or sync fails comes back
 * failed with its files removed; a failed sync is never retried, and a
 * write-back error is reported by the sync of the file it belongs to, so
 * it fails that message and no other (a folder's error fails the messages
 * in that folder).
 */
#ifndef SM_QUEUE_COMMIT_H
#define SM_QUEUE_COMMIT_H

#include "common/buf.h"
#include "queue/queue_id.h"

struct queue_commit;

struct queue_job {
	struct queue_job	*next;
	char			 id[QUEUE_ID_SIZE];
	struct buf		 env;		/* the envelope's text */
	int			 content_fd;	/* incoming/ID.msg, the submitter's */
	int			 env_fd;	/* by the worker */
	void			*arg;		/* the submitter's */
	uint64_t		 batch;		/* by the worker: 1, 2, ... */
	int			 failed;	/* set by the worker */
	char			 error[160];	/* why it failed */
};

/* Starts the worker for the spool open at spoolfd (all signals blocked in
 * the worker); journal: its file system keeps a journal that an fsync
 * commits (queue_fs_journalled), which changes when a lone message's
 * write-back starts, not what is synced. */
struct queue_commit *queue_commit_new(int spoolfd, int journal);
/* An eventfd that becomes readable when finished jobs wait. */
int queue_commit_fd(const struct queue_commit *qc);
/* Hands a job (id and env filled in) to the worker. */
void queue_commit_submit(struct queue_commit *qc, struct queue_job *job);
/* The finished jobs in submission order (NULL if none); clears the eventfd. */
struct queue_job *queue_commit_done(struct queue_commit *qc);
/* Lets the worker finish every job submitted, then joins it.  Blocks. */
void queue_commit_stop(struct queue_commit *qc);
/* After queue_commit_stop and queue_commit_done. */
void queue_commit_free(struct queue_commit *qc);
/* A job for a new message: env's arrival, attempts, next attempt and
 * expiry (arrival + lifetime) are set to now's, and its text (call
 * envelope_check first) goes into the job with env->id, the content's
 * descriptor and arg. */
struct envelope;
struct queue_job *queue_job_new(struct envelope *env, uint64_t lifetime,
    int content_fd, void *arg);
void queue_job_free(struct queue_job *job);

#endif
