/*
 * queue.h - the queue process: owns every spool file.  It chroots into the
 * spool, recovers it at startup (see queue_fs.h), hands the receiver open
 * content files (MSG_Q_OPEN), commits messages with group commit
 * (MSG_Q_COMMIT: every MSG_Q_COMMIT_OK is sent only after the syncs that
 * cover the message's content, envelope and directory entries returned),
 * and tells the receiver when free space falls below min-free-space.
 */
#ifndef SM_QUEUE_H
#define SM_QUEUE_H

struct config;
struct sm_user;

/* Runs the queue process; u NULL = unprivileged (no chroot, no setuid).
 * Returns the process exit status. */
int queue_main(struct config *cfg, int parent_fd, int smtpd_fd,
    const struct sm_user *u);

#endif
