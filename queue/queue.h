/*
 * queue.h - the queue process: owns every spool file.  It chroots into the
 * spool, recovers it at startup (queue_recover.h: incoming/ first, the
 * messages in queue/ by a thread while it takes mail), writes each message
 * itself from a pipe the receiver feeds (MSG_Q_OPEN), commits messages
 * with group commit (MSG_Q_COMMIT: every MSG_Q_COMMIT_OK is sent only after
 * an fdatasync of the message's content and envelope, through descriptors
 * opened before the data was written, and an fsync of the folders holding
 * them, all returned 0; a write-back error of a message's file fails that
 * message), and tells the receiver when free space falls below
 * min-free-space.  queue/INTERNALS says what is guaranteed on which kernel.
 */
#ifndef SM_QUEUE_H
#define SM_QUEUE_H

struct config;
struct sm_user;

/* Runs the queue process; u NULL = unprivileged (no chroot, no setuid).
 * ctl_fd: the channel of the control process (queue_ctl.h), -1 = none.
 * delivery_fd is the channel to the delivery process (-1: none, nothing
 * is delivered).  Returns the process exit status. */
int queue_main(struct config *cfg, int parent_fd, int smtpd_fd, int ctl_fd,
    int delivery_fd, const struct sm_user *u);

#endif
