/*
 * queue_sched.h - the queue's delivery scheduler: which committed message
 * goes to the delivery process when, and what happens to each recipient's
 * outcome.
 *
 * In memory it keeps one entry per queued message that has pending
 * recipients (built from the spool at start, after recovery, and on every
 * commit; first attempt at once).  A job is one message x one recipient
 * domain (every pending recipient of that domain), handed to the delivery
 * process as MSG_D_JOB with a read-only descriptor of the content, within
 * max-deliveries in flight overall and max-deliveries-per-domain; a due
 * message that would wait for a slot (none overall, or none for the one
 * domain of its recipients) is passed over without reading its envelope.
 * Recipients of a local domain (local-domain) or a virtual one
 * (virtual-domain) go the same way to the root parent instead, as
 * MSG_LD_JOB (local delivery: daemon/local.h), within
 * max-local-deliveries; their outcomes come back as MSG_LD_RESULT, read
 * like MSG_D_RESULT.  Destination backoff is for remote domains only.
 *
 * On MSG_D_RESULT each recipient's outcome is written back to the envelope
 * by the commit rule (queue/INTERNALS): ID.env.new written and
 * fdatasync'ed, renamed over ID.env, the folder fsync'ed.  A bounced
 * recipient (or one past its expiry) is marked failed only after its bounce
 * (queue/dsn.h) was committed as a new message through the same commit
 * path as a received one.  A message whose every recipient is delivered or
 * failed is removed (when a result leaves it so, without rewriting its
 * envelope first).  A content digest mismatch moves the message to hold/.
 * A result that cannot be read is logged and its job deferred.
 *
 * Delay warning: the first deferral at or after arrival + delay-warning
 * marks the envelope "warned" (in the rewrite that records the deferral)
 * and then queues one RFC 3464 "delayed" report to the sender through
 * the commit worker, for the pending recipients that want one.
 *
 * Destination backoff (schedule.h): after three jobs in a row for a
 * domain whose every recipient was deferred by a host-level failure
 * (MSG_D_RESULT flag DRESF_HOST), no job for that domain is handed out
 * until its backoff ends (retry-initial doubling up to retry-max); a
 * message due meanwhile waits, which is not a failed attempt.  Any reply
 * of a host about a message clears it; so does queue_sched_flush.
 */
#ifndef SM_QUEUE_SCHED_H
#define SM_QUEUE_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct envelope;
struct event_loop;
struct ipc_chan;
struct ipc_msg;
struct queue_commit;
struct queue_job;
struct queue_sched;

/* ---- life cycle and hooks of queue.c ---- */

/* A scheduler for the spool open at spoolfd; commit is the queue's
 * group-commit worker (bounces go through it).  cfg stays the caller's
 * and is read at every decision (reload changes apply). */
struct queue_sched *queue_sched_new(struct config *cfg,
    struct event_loop *loop, int spoolfd, struct queue_commit *commit);
void queue_sched_free(struct queue_sched *qs);

/* 0 if the scheduler's index (hash table, due heap, arrival list) agrees
 * with its messages; otherwise the source line of the first check that
 * failed.  For the unit tests: it walks everything. */
int queue_sched_check(const struct queue_sched *qs);
/* The channel to the delivery process (NULL: none, or it went away). */
void queue_sched_set_delivery(struct queue_sched *qs, struct ipc_chan *ch);
/* The channel that takes local jobs (MSG_LD_JOB): the parent. */
void queue_sched_set_local(struct queue_sched *qs, struct ipc_chan *ch);
/* A message found by recovery or just committed: env is read, not kept. */
void queue_sched_add(struct queue_sched *qs, const struct envelope *env);
/* A job from the commit worker that the scheduler submitted (a bounce):
 * 1 if it was one of the scheduler's (and it is freed), 0 if not. */
int queue_sched_commit_done(struct queue_sched *qs, struct queue_job *job);
/* MSG_D_RESULT from the delivery process, MSG_LD_RESULT from the
 * parent. */
void queue_sched_result(struct queue_sched *qs, struct ipc_msg *m);
/* Stop handing out jobs (shutdown). */
void queue_sched_stop(struct queue_sched *qs);
/* Waits until every removal and rewrite handed to the thread is done and
 * finishes them (their bounces go to the commit worker): at shutdown,
 * before the commit worker stops.  Blocks. */
void queue_sched_drain(struct queue_sched *qs);

/* ---- control hooks (strictmailctl) ---- */

/* Makes every deferred recipient due now and clears every destination's
 * backoff; returns how many were made due (pending recipients of messages
 * not already due count too). */
unsigned queue_sched_flush(struct queue_sched *qs);

/* Recipients' outcomes since start: each delivery, deferral and bounce
 * of one recipient counts once (a recipient deferred three times counts
 * three deferrals). */
struct queue_sched_stats {
	uint64_t	delivered;
	uint64_t	deferred;
	uint64_t	bounced;
};
void queue_sched_stats(const struct queue_sched *qs,
    struct queue_sched_stats *st);

/*
 * Operator commands, by id; who ("uid 0 (root)") goes to the log line.
 * Each returns 0, or -1 with the reason in err: "no message ID", or the
 * message has a delivery (or its bounce) in flight, which is refused
 * rather than deferred ("being delivered now: try again ...").
 *
 * hold: "held" is set in the envelope (commit rule); the message is
 * never handed out, and flush leaves it, until released.  Holding a held
 * message is no error.
 * release: "held" removed and next-attempt set to now (commit rule); the
 * message is due at once.  A message that is not held is an error.
 * delete: ID.env removed and its folder fsync'ed, then ID.msg
 * (queue_fs_remove_done); the scheduler forgets it; nothing is bounced.
 */
int queue_sched_hold(struct queue_sched *qs, const char *id, const char *who,
    char *err, size_t errlen);
int queue_sched_release(struct queue_sched *qs, const char *id,
    const char *who, char *err, size_t errlen);
int queue_sched_delete(struct queue_sched *qs, const char *id,
    const char *who, char *err, size_t errlen);

/*
 * Pause (pause 1) or resume (0) of delivery as a whole.  While paused no
 * job goes out, remote (MSG_D_JOB) or local (MSG_LD_JOB): a message due
 * meanwhile waits, which is not a failed attempt.  Jobs already out
 * finish and their outcomes are written; a bounce or delay warning they
 * cause is committed as a new message and waits like the others.
 * Messages keep arriving and are committed and scheduled as usual.  The
 * state is kept in the spool (queue_fs_set_paused), so a restart finds
 * it (queue_sched_new reads it).  Resume makes every message that is due
 * go at once.  Logged "delivery paused by WHO" / "delivery resumed by
 * WHO".  Asking for the state it is in already is no error and writes
 * nothing.  0, or -1 with err: nothing changed; or the file changed but
 * queue/ could not be synced (the new state holds until a restart; a
 * crash may forget it).
 */
int queue_sched_pause(struct queue_sched *qs, int pause, const char *who,
    char *err, size_t errlen);
/* 1 while delivery is paused. */
int queue_sched_paused(const struct queue_sched *qs);

#endif
