/*
 * startup.h - what the parent takes and checks at start, before it
 * touches the spool or forks: the spool lock, the descriptor limit and
 * the receiver's empty chroot (strictmaild(8), strictmail.conf(5)).
 */
#ifndef SM_STARTUP_H
#define SM_STARTUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/privsep.h"

/* <spool>/lock: root's (the current user's with -u), mode 0600. */
#define STARTUP_LOCK_NAME	"lock"

enum { STARTUP_OK = 0, STARTUP_BUSY = 1, STARTUP_ERROR = -1 };

/*
 * Takes the spool lock for this process's lifetime (the spool directory
 * is created when missing, nothing else is touched): STARTUP_OK and
 * *lockfd, a close-on-exec descriptor that must stay open; STARTUP_BUSY
 * when another process holds it (err names the spool and the holder's
 * PID); STARTUP_ERROR on any other failure.  The lock is a POSIX record
 * lock: closing any other descriptor of the file in this process would
 * drop it, so nothing else here opens <spool>/lock.
 */
int startup_lock(const char *spool, int *lockfd, char *err, size_t errlen);

/* Descriptors a configuration needs: every session's connection plus a
 * reserve of 16.  The descriptor of a message being received comes on top;
 * when those run short the receiver answers MAIL 452 4.3.1 (smtpd.c), so
 * the limit is never a reason for a process to stop. */
#define STARTUP_FD_PER_SESSION	1
#define STARTUP_FD_RESERVE	16
uint64_t startup_fd_needed(unsigned max_sessions);
/* 0 if max_sessions fits in limit descriptors, else -1 and err. */
int startup_fd_fits(unsigned max_sessions, uint64_t limit, char *err,
    size_t errlen);
/* strictmaild -n: does max_sessions fit in the hard limit, which a start
 * raises the soft limit to? */
int startup_fd_check(unsigned max_sessions, char *err, size_t errlen);
/* At start: raises the soft RLIMIT_NOFILE to the hard one, logs it, and
 * checks max_sessions against it; 0, or -1 and err. */
int startup_fd_raise(unsigned max_sessions, char *err, size_t errlen);

/* The receiver's chroot (configured or <spool>/empty): owner root (group
 * 0), or the current user when not privileged; mode as the spool table's
 * "empty"; nothing in it.  0, or -1 and err naming the path. */
int startup_empty_dir(const char *path, int privileged, char *err,
    size_t errlen);

/*
 * The process users (user-smtpd, user-queue, user-lookup, user-control,
 * user-delivery),
 * when running
 * as root: each must exist, must not be root (uid 0) and must not have
 * group 0 as its primary group (the group every process keeps after
 * setgroups(0) drops the supplementary ones; group root owns files that
 * root may write).  Supplementary groups (sudo, wheel) are dropped, so
 * they are no reason to refuse.  Fills u[] in the order queue, lookup,
 * smtpd, control, delivery; 0, or -1 and err naming the setting's
 * file:line.
 */
#define STARTUP_NUSERS	5
struct config;
int startup_users(const struct config *cfg, struct sm_user u[STARTUP_NUSERS],
    char *err, size_t errlen);

/*
 * The spool for strictmaild -n, without changing anything: the spool
 * directory must exist (make install lays it out; a start under the
 * systemd unit cannot create it), and every folder of the spool table
 * that exists must have the table's owner (qu: the queue user, du: the
 * delivery user; NULL when
 * unprivileged: the current user) and mode.  Missing folders below the
 * spool are created at start.  0, or -1 and err.
 */
int startup_spool_check(const char *spool, const struct sm_user *qu,
    const struct sm_user *du, char *err, size_t errlen);

/*
 * Everything strictmaild -n checks besides the TLS files (parent.h), and
 * that a start checks before it takes anything: the descriptor limit,
 * the users (privileged only), the spool and the receiver's chroot.
 * 0, or -1 and err.
 */
int startup_check(const struct config *cfg, int privileged, char *err,
    size_t errlen);

#endif
