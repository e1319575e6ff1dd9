/*
 * queue_commit.h - group commit: one worker thread makes messages durable
 * in batches, so that messages finishing at the same moment share their
 * syncs and the event loop never waits for the disk.
 *
 * For all jobs submitted while the previous batch ran, the worker renames
 * incoming/ID.msg to queue/XX/ID.msg and writes incoming/ID.env, runs one
 * syncfs, renames incoming/ID.env to queue/XX/ID.env (the commit point),
 * and runs one more syncfs.  Only then does it hand the batch back: a job
 * comes back done without "failed" only after both syncs returned.  A job
 * whose write or rename fails, and every job of a batch whose syncfs fails,
 * comes back failed with its files removed (a failed sync is never retried).
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
	void			*arg;		/* the submitter's */
	uint64_t		 batch;		/* by the worker: 1, 2, ... */
	int			 failed;	/* set by the worker */
	char			 error[160];	/* why it failed */
};

/* Starts the worker for the spool open at spoolfd (all signals blocked in
 * the worker). */
struct queue_commit *queue_commit_new(int spoolfd);
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
void queue_job_free(struct queue_job *job);

#endif
