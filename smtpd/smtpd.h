/*
 * smtpd.h - the receiver process: listeners, SMTP sessions, DATA streamed
 * into content files that the queue process opened.  It never names a
 * spool path and never executes another program.
 */
#ifndef SM_SMTPD_H
#define SM_SMTPD_H

struct config;
struct sm_user;

/* Runs the receiver; cfg->listeners[i].fd are bound and listening.
 * u NULL = unprivileged.  Returns the process exit status. */
int smtpd_main(struct config *cfg, int parent_fd, int queue_fd, int lookup_fd,
    const struct sm_user *u);

#endif
