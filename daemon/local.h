/*
 * local.h - local delivery, the root parent's side.
 *
 * The queue hands the parent a job for a local or virtual domain
 * (MSG_LD_JOB: a message x its recipients of that domain, with a
 * read-only descriptor of the content).  The parent asks the lookup
 * process to expand each recipient (MSG_L_EXPAND: aliases, virtual map,
 * includes, the user database; lookup/expand.h), then forks one
 * short-lived child per target: a mailbox (mbox or Maildir), a file or a
 * pipe of an alias, or one LMTP transaction for all the LMTP mailboxes of
 * the job.  The child takes the target user's identity (uid, gid, and
 * the group of mbox-dir when that folder is group-writable) before it
 * opens anything, runs one agent of delivery/local.h and writes its
 * result on a pipe (daemon/local_child.c).  Nothing else in strictmail
 * runs with a user's identity, and the parent itself never opens a
 * user's file.
 *
 * Each original recipient gets one outcome in MSG_LD_RESULT: delivered
 * when every target took the message, deferred when one failed for now
 * (its other targets may get a second copy at the next attempt), bounced
 * when one failed for good.  Remote addresses that the expansion (or a
 * .forward) gives come back to the queue in the result, which adds them
 * to the message as new recipients.
 */
#ifndef SM_DAEMON_LOCAL_H
#define SM_DAEMON_LOCAL_H

#include <sys/types.h>

struct config;
struct event_loop;
struct ipc_chan;
struct ipc_msg;
struct local;

/* privileged: the parent is root, and children take the target user's
 * identity (also with strictmaild -u: no delivery ever runs as root);
 * otherwise they run as the parent's user (a developer's make run). */
struct local *local_new(struct config *cfg, struct event_loop *loop,
    int privileged);
void local_free(struct local *ld);
/* The channels (NULL: gone); jobs wait while the lookup is missing. */
void local_set_queue(struct local *ld, struct ipc_chan *queue);
void local_set_lookup(struct local *ld, struct ipc_chan *lookup);
/* MSG_LD_JOB from the queue (takes the descriptor). */
void local_job(struct local *ld, struct ipc_msg *m);
/* MSG_L_EXPAND_RESULT from the lookup process. */
void local_expand_result(struct local *ld, struct ipc_msg *m);
/* A child was reaped by the parent's SIGCHLD handler: 1 if it was a
 * local delivery's. */
int local_reaped(struct local *ld, pid_t pid, int status);
/* Shutdown: kills the running deliveries (their recipients are retried
 * by the queue after the restart). */
void local_stop(struct local *ld);

#endif
