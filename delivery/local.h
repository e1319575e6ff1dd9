/*
 * local.h - the local delivery agents: mbox, /file, Maildir, |command,
 * and the reading of ~/.forward.
 *
 * They run in a short-lived child that the root parent forked and that has
 * already dropped to the recipient's identity: they open nothing before
 * that, use no event loop or IPC, log nothing (the caller logs res->text)
 * and never exit on bad input: every outcome is a struct local_result.
 * Each delivery writes "Return-Path: <sender>" and "Delivered-To: rcpt"
 * first, then the queued content with CRLF turned into LF.  A delivery is
 * all or nothing: a failed mbox append is cut back to the old size, a
 * failed Maildir file never reaches new/.  The agents set SIGPIPE and
 * SIGXFSZ to ignored in the calling process (a write error is a result).
 */
#ifndef SM_LOCAL_H
#define SM_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"

struct local_msg {
	int		 fd;		/* the content as queued: CRLF lines, our
					 * Received: first; read with pread from 0 */
	uint64_t	 size;
	const char	*sender;	/* "" = null sender; no angle brackets */
	const char	*rcpt;		/* Delivered-To: value, lower case */
	const char	*hostname;	/* this host: mbox From_ line is not it */
	time_t		 arrival;
};

enum local_status { LOCAL_OK, LOCAL_TEMP, LOCAL_PERM };

struct local_result {
	enum local_status status;
	char	enh[16];	/* "2.0.0", "4.2.2", "5.4.6", ... */
	char	text[512];	/* one line, for logs and bounces */
};

/*
 * Settings (strictmail.conf(5) may set them; tests shorten them):
 * lock_wait: seconds an mbox delivery waits for the fcntl lock and the
 * dotlock together before it gives up (LOCAL_TEMP 4.2.0), default 30;
 * dotlock_stale: a dotlock older than this many seconds is removed,
 * default 300; delimiter: the recipient delimiter that splits EXTENSION
 * off the local part for commands, default "+", "" = none.
 */
struct local_config {
	unsigned int	lock_wait;
	unsigned int	dotlock_stale;
	char		delimiter[8];
};
extern struct local_config local_config;

/* The largest ~/.forward read, and the most targets taken from it. */
#define LOCAL_FORWARD_MAX	(64 * 1024)
#define LOCAL_FORWARD_TARGETS	1000

/*
 * Every agent returns res->status.  LOCAL_OK: delivered (2.0.0);
 * LOCAL_TEMP: nothing delivered, try again later; LOCAL_PERM: nothing
 * delivered, bounce.  res->text names the target and the reason.
 */

/*
 * Appends to the mbox at path: opened O_APPEND|O_NOFOLLOW (created 0600
 * when missing), locked with fcntl and the dotlock "path.lock" (created
 * O_EXCL; one older than dotlock_stale is removed; a folder where the
 * user may not create it leaves the fcntl lock alone), both within
 * lock_wait.  A mailbox that is a symbolic link, not a regular file or
 * has more than one link is never written (LOCAL_TEMP with the reason).
 * Writes the From_ line ("From SENDER DATE", MAILER-DAEMON for the null
 * sender, the arrival time in asctime form), the message with mboxrd
 * quoting (a line matching ^>*From gets one more '>'), a blank line; then
 * fsync.  Any write or fsync error cuts the file back to its old size and
 * is LOCAL_TEMP (ENOSPC, EDQUOT, EFBIG: 4.2.2 "mailbox full").
 */
enum local_status local_mbox_deliver(const struct local_msg *lm,
    const char *path, struct local_result *res);

/*
 * A /file target: the same as an mbox (format, locks, checks), and the
 * path must be absolute.  "/dev/null" is delivered by discarding.
 */
enum local_status local_file_deliver(const struct local_msg *lm,
    const char *path, struct local_result *res);

/*
 * Delivers into the Maildir dir: dir, dir/tmp, dir/new, dir/cur made 0700
 * when missing; the file tmp/TIME.M<usec>P<pid>Q<n>.HOST (HOST with '/'
 * as \057 and ':' as \072) created O_EXCL, written, fsynced, linked into
 * new/ (renamed when the file system cannot link), the tmp/ name
 * removed, new/ fsynced.  On failure nothing is left in new/ or tmp/.
 */
enum local_status local_maildir_deliver(const struct local_msg *lm,
    const char *dir, struct local_result *res);

/*
 * Runs command (one leading '|' ignored) with the message on its stdin,
 * stdout on /dev/null and stderr captured.  Without shell metacharacters
 * it is split on blanks and executed directly (PATH search in
 * /usr/bin:/bin); with any of them it runs as /bin/sh -c command.  The
 * environment holds only PATH, HOME, USER, LOGNAME (of the current user),
 * SHELL=/bin/sh, SENDER, RECIPIENT, LOCAL, DOMAIN and, when the local
 * part has one, EXTENSION.  It runs in its own process group in HOME (or
 * /) and is killed with that group after timeout seconds (0 = none):
 * LOCAL_TEMP.  Exit 0: LOCAL_OK; 75 (EX_TEMPFAIL) or a signal: LOCAL_TEMP;
 * any other status: LOCAL_PERM, the sysexits name and the first line of
 * its stderr in the text ("command died with status 67 (EX_NOUSER): x").
 */
enum local_status local_pipe_deliver(const struct local_msg *lm,
    const char *command, unsigned int timeout, struct local_result *res);

/*
 * Reads home/.forward for the user uid: opened O_NOFOLLOW|O_NONBLOCK; it
 * must be a regular file owned by uid or root, neither group- nor
 * world-writable, at most LOCAL_FORWARD_MAX bytes, no NUL.  Its lines hold
 * targets as in aliases(5) (lookup/aliases.h's aliases_split; no
 * :include:, no continuation lines), a line whose first non-blank is '#'
 * is a comment.  Each target comes back as "\\user", "/file",
 * "|command", a name or an address.  Returns 0
 * with the targets (*targets NULL when there are none; free them with
 * local_forward_free) and res->status LOCAL_OK; res->text is "" or, when
 * the file was ignored (symbolic link, unsafe, too large, bad syntax,
 * unreadable), the reason, and then there are no targets: mail goes to the
 * mailbox.  A missing file is 0 targets, text "".  Returns -1 with
 * LOCAL_TEMP on an error that may pass (I/O, out of descriptors).
 */
int local_forward_read(const char *home, uid_t uid, char ***targets,
    size_t *ntargets, struct local_result *res);
void local_forward_free(char **targets, size_t ntargets);

/*
 * The helpers the agents share (local_msg.c).
 */

/* Fills res; the text is cut to one line of printable bytes. */
void local_result_set(struct local_result *res, enum local_status status,
    const char *enh, const char *fmt, ...) SM_PRINTF(4, 5);
/* A write error errno on what ("mailbox /var/mail/u") as a result:
 * ENOSPC, EDQUOT, EFBIG: 4.2.2 "mailbox full"; others 4.3.0. */
void local_result_errno(struct local_result *res, int err, const char *what,
    const char *action);
/* "OK", "TEMP", "PERM". */
const char *local_status_name(enum local_status status);

/*
 * Checks lm (sender and rcpt without control bytes, a descriptor) and
 * looks for a "Delivered-To:" field equal to rcpt (case-insensitive,
 * folded lines joined, blanks around the value ignored) in the header
 * section only.  0 when the message may be delivered; -1 with res set:
 * LOCAL_PERM 5.4.6 "mail forwarding loop for RCPT", LOCAL_PERM 5.6.0 on a
 * bad envelope, LOCAL_TEMP 4.3.0 when the content cannot be read.
 */
int local_loop_check(const struct local_msg *lm, struct local_result *res);

/* The mbox From_ line with its LF; 0, or -1 when it does not fit. */
int local_msg_from_line(const struct local_msg *lm, char *buf, size_t size);

/*
 * The message as delivered, piece by piece: the Return-Path and
 * Delivered-To lines, then the content read with pread, CRLF made LF,
 * with mboxrd quoting when mboxrd is set, ending with a LF.
 * local_msg_stream_next puts the next piece in s->out (replacing the
 * last one): 1 while there is one, 0 at the end, -1 with errno when the
 * content cannot be read (EIO also when it is shorter than lm->size).
 */
struct local_msg_stream {
	const struct local_msg	*lm;
	uint64_t		 off;
	int			 mboxrd;
	int			 phase;		/* 0 head, 1 content, 2 end */
	int			 bol;		/* at a line start or in its '>'s */
	int			 match;		/* bytes of "From " matched */
	int			 cr;		/* a CR waits for its LF */
	char			 last;		/* last byte put out */
	struct buf		 out;
};
void local_msg_stream_init(struct local_msg_stream *s,
    const struct local_msg *lm, int mboxrd);
int local_msg_stream_next(struct local_msg_stream *s);
void local_msg_stream_free(struct local_msg_stream *s);

/*
 * Writes the whole stream to fd (write_all); 0, or -1 with res set
 * (local_result_errno for a write error, 4.3.0 for a read error).
 */
int local_msg_copy(const struct local_msg *lm, int fd, int mboxrd,
    const char *what, struct local_result *res);

/* Ignores SIGPIPE and SIGXFSZ (see the top of this file). */
void local_msg_signals(void);

#endif
