/*
 * parent.h - strictmaild's parent process: it binds the listeners and the
 * control socket, prepares the spool, forks the queue, lookup, smtpd and
 * control processes (each dropping to
 * its own user and chroot as root), supervises them and shuts them down in
 * order.  It keeps root only for what needs root (DESIGN.md "Processes").
 * Any child's death stops the whole set (strictmaild(8) says why).
 */
#ifndef SM_PARENT_H
#define SM_PARENT_H

#include <stddef.h>

#include "common/log.h"

struct config;

struct parent_options {
	int	foreground;	/* -d: log to stderr */
	int	verbose;	/* -v */
	int	unprivileged;	/* -u: no user change or chroot, even as root */
};

/* Runs strictmaild with a loaded configuration until it shuts down;
 * returns the exit status (0 after a requested shutdown, 1 when a child
 * died or had to be killed, a sysexits code when starting failed).
 * Children never return from it: they exit with their own status. */
int parent_run(struct config *cfg, const struct parent_options *po);

/* Checks that tls-certificate and tls-key (when configured) can be read
 * and go together, as a start would; 0, or -1 with a message naming the
 * file in err (strictmaild -n). */
int parent_check_tls(const struct config *cfg, char *err, size_t errlen);

/* Reports an error that stops strictmaild at start: logged, and printed
 * on stderr as well when the log goes to syslog. */
void parent_error(int foreground, const char *fmt, ...) SM_PRINTF(2, 3);

#endif
