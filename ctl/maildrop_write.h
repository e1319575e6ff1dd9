/*
 * maildrop_write.h - drops one file into the spool's maildrop/ folder:
 * the one write path of strictmail-postdrop (the setgid helper) and of
 * sendmail(8) when its caller may write maildrop/ itself.
 *
 * The sequence: SPOOL/maildrop/tUNIQUE is created (O_CREAT | O_EXCL |
 * O_WRONLY | O_NOFOLLOW, mode 0644 whatever the umask), written,
 * fsynced, renamed to mUNIQUE, and the file fsynced again.  UNIQUE is
 * the time in seconds and microseconds, the pid and 8 random bytes
 * from getrandom, as "SECONDS.USEC.PID.HEX16".  The pickup reads only
 * m-files; a t-file is one being written (or left by a crash).  Any
 * failure removes the t-file: a file is in maildrop/ under its m-name
 * only when maildrop_write_commit returned 0.
 *
 * Every function returns 0 or a sysexits code with a one-line reason in
 * err: EX_TEMPFAIL (75) for what may pass later (ENOSPC, EDQUOT, EIO,
 * EINTR, EAGAIN, ENOMEM), EX_CANTCREAT (73) for the rest of the file
 * system's refusals, EX_DATAERR (65) for input that is not a maildrop
 * file or is too large.
 */
#ifndef SM_MAILDROP_WRITE_H
#define SM_MAILDROP_WRITE_H

#include <stddef.h>
#include <stdint.h>

#define MAILDROP_WRITE_DIR	"maildrop"

struct maildrop_write {
	int		fd;		/* the t-file, -1 when none */
	char		tpath[1100];	/* SPOOL/maildrop/tUNIQUE */
	char		mpath[1100];	/* SPOOL/maildrop/mUNIQUE */
	uint64_t	len;		/* octets written */
};

/* Creates the t-file in spool/maildrop/ (w->fd, the paths). */
int maildrop_write_open(struct maildrop_write *w, const char *spool,
    char *err, size_t errlen);

/* Appends n octets to the t-file. */
int maildrop_write_data(struct maildrop_write *w, const void *p, size_t n,
    char *err, size_t errlen);

/*
 * Copies fd (read to its end) to the t-file: the first octets must be
 * MAILDROP_MAGIC and a newline, the whole at most max octets.
 */
int maildrop_write_copy(struct maildrop_write *w, int fd, uint64_t max,
    char *err, size_t errlen);

/* fsync, rename to the m-name, fsync again, close.  On failure the
 * t-file is removed (the rename is the last step that can leave it). */
int maildrop_write_commit(struct maildrop_write *w, char *err,
    size_t errlen);

/* Closes and removes the t-file (nothing when there is none). */
void maildrop_write_abort(struct maildrop_write *w);

/* The largest file maildrop_write_copy takes for a message limit of
 * max_message octets: MAILDROP_HEAD_MAX more. */
uint64_t maildrop_write_limit(uint64_t max_message);

#endif
