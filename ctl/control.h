/*
 * control.h - the control process: serves strictmailctl(8) on the control
 * socket the parent bound (control-socket).  Unprivileged (user-control)
 * and chrooted into the empty-dir, it never touches the spool: it checks
 * who connects (SO_PEERCRED), reads one request (ctl_proto.h), asks the
 * queue (list, show, flush) or the parent (reload; the user name of a
 * uid) over its channels (proto.h, MSG_C_*) and writes the answer back.
 * Only root may flush or reload; anyone else sees only the messages whose
 * envelope sender is their own local address.
 */
#ifndef SM_CONTROL_H
#define SM_CONTROL_H

struct config;
struct sm_user;

/* Most connections served at once; more are refused with an error line. */
#define CONTROL_MAX_CONNS	64
/* A connection must send its request, and take its answer, in this time. */
#define CONTROL_TIMEOUT_MS	30000

/* Runs the control process on the listening socket listen_fd, with
 * channels to the parent, the queue and the delivery process (sts-*
 * requests); u NULL = unprivileged.  Returns the process exit status. */
int control_main(struct config *cfg, int parent_fd, int queue_fd,
    int delivery_fd, int listen_fd, const struct sm_user *u);

#endif
