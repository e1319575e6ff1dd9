/*
 * queue_pickup.h - local submission, the queue's side: messages dropped
 * into the spool's maildrop/ folder (queue/maildrop.h) are taken into the
 * queue through the same commit as SMTP mail.
 *
 * The submitter writes maildrop/tNAME (temporary), fsyncs it, and renames
 * it to maildrop/mNAME (complete).  Pickup scans the folder at start, when
 * inotify reports a rename into it (IN_MOVED_TO; an overflow means a full
 * scan), and every QUEUE_PICKUP_RESCAN ms.  Files are taken one at a time:
 *   - mNAME: opened O_NOFOLLOW|O_NONBLOCK, checked on the descriptor
 *     (regular file, one link, at most the head limit plus
 *     max-message-size), its head parsed, its size line matched against
 *     the file; the submitter is the file's owner (st_uid), never anything
 *     in it.  The parent names the uid (MSG_P_WHO) and says whether the
 *     sender (-f) is allowed.  Then incoming/ID.msg gets a Received header
 *     and the content, checked (canonical CRLF) and digested, and the
 *     message goes to the group-commit worker.  Only after the commit
 *     the maildrop file is removed: a crash in between duplicates the
 *     message, never loses it.
 *   - tNAME: left alone; removed once older than QUEUE_PICKUP_STALE s.
 *   - any other name, and every file refused by the checks: moved to
 *     corrupt/ with a log line "maildrop/NAME: refused: WHY" (never
 *     deleted, never delivered); the rest of the folder goes on.
 * A temporary failure (the parent could not look the user up, a write or
 * a commit failed) leaves the file for the next scan.
 */
#ifndef SM_QUEUE_PICKUP_H
#define SM_QUEUE_PICKUP_H

struct config;
struct event_loop;
struct ipc_chan;
struct ipc_msg;
struct queue_commit;
struct queue_job;
struct queue_sched;

#define QUEUE_PICKUP_RESCAN	(60 * 1000)	/* ms between full scans */
#define QUEUE_PICKUP_STALE	3600		/* s a tNAME file may live */
#define QUEUE_PICKUP_DIR	"maildrop"

struct queue_pickup;

/* Nothing is read before queue_pickup_start.  parent: where MSG_P_WHO
 * goes; committed messages go to sched. */
struct queue_pickup *queue_pickup_new(struct config *cfg,
    struct event_loop *loop, int spoolfd, struct queue_commit *commit,
    struct queue_sched *sched, struct ipc_chan *parent);
/* Watches maildrop/ and scans it. */
void queue_pickup_start(struct queue_pickup *pk);
/* MSG_P_WHO_RESULT from the parent. */
void queue_pickup_who_result(struct queue_pickup *pk, struct ipc_msg *m);
/* A finished commit job: 1 if it was one of pickup's (then it is handled
 * and freed), else 0. */
int queue_pickup_commit_done(struct queue_pickup *pk, struct queue_job *job);
/* No new file is taken (shutdown); a commit in flight still finishes. */
void queue_pickup_stop(struct queue_pickup *pk);
void queue_pickup_free(struct queue_pickup *pk);

#endif
