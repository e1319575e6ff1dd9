/*
 * maildrop_write.c - one file into maildrop/: O_EXCL t-file, write,
 * fsync, rename to the m-name, fsync (see maildrop_write.h).  Used by the
 * setgid helper, so it takes nothing from the environment and keeps no
 * state but struct maildrop_write.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/maildrop_write.h"
#include "queue/maildrop.h"

#define MAILDROP_WRITE_CHUNK	65536

/* The sysexits code of a failed system call's errno. */
static int
maildrop_write_code(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EINTR:
	case EAGAIN:
	case ENOMEM:
	case ENFILE:
	case EMFILE:
		return EX_TEMPFAIL;
	}
	return EX_CANTCREAT;
}

static int
maildrop_write_errno(const char *what, const char *path, char *err,
    size_t errlen)
{
	int	e = errno;

	return errorf(maildrop_write_code(e), err, errlen,
	    "%s %s: %s", what, path, strerror(e));
}

/* "SECONDS.USEC.PID.HEX16" into out. */
static int
maildrop_write_unique(char *out, size_t outlen, char *err, size_t errlen)
{
	struct timeval	tv;
	unsigned char	rnd[8];
	char		hex[2 * sizeof(rnd) + 1];
	size_t		i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errorf(EX_TEMPFAIL, err, errlen,
		    "getrandom: %s", strerror(errno));
	for (i = 0; i < sizeof(rnd); i++)
		(void)bsnprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	(void)gettimeofday(&tv, NULL);
	if (!bsnprintf(out, outlen, "%lld.%06ld.%ld.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), hex))
		return errorf(EX_SOFTWARE, err, errlen,
		    "name too long");
	return 0;
}

int
maildrop_write_open(struct maildrop_write *w, const char *spool, char *err,
    size_t errlen)
{
	char	u[128];
	mode_t	old;
	int	rc;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if ((rc = maildrop_write_unique(u, sizeof(u), err, errlen)) != 0)
		return rc;
	if (!bsnprintf(w->tpath, sizeof(w->tpath), "%s/" MAILDROP_WRITE_DIR
	    "/t%s", spool, u) || !bsnprintf(w->mpath, sizeof(w->mpath),
	    "%s/" MAILDROP_WRITE_DIR "/m%s", spool, u))
		return errorf(EX_CANTCREAT, err, errlen,
		    "the spool path is too long");
	old = umask(022);
	w->fd = open(w->tpath, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	(void)umask(old);
	if (w->fd == -1)
		return maildrop_write_errno("cannot create", w->tpath, err,
		    errlen);
	return 0;
}

int
maildrop_write_data(struct maildrop_write *w, const void *p, size_t n,
    char *err, size_t errlen)
{
	if (write_all(w->fd, p, n) == -1)
		return maildrop_write_errno("cannot write", w->tpath, err,
		    errlen);
	w->len += n;
	return 0;
}

/*
 * 1 when the n octets p, found at offset off of the input, agree with the
 * magic line where they overlap it.
 */
static int
maildrop_write_magic(uint64_t off, const char *p, size_t n)
{
	static const char	magic[] = MAILDROP_MAGIC "\n";
	const size_t		mlen = sizeof(magic) - 1;

	if (off >= mlen)
		return 1;
	if (n > mlen - off)
		n = mlen - off;
	return memcmp(p, magic + off, n) == 0;
}

int
maildrop_write_copy(struct maildrop_write *w, int fd, uint64_t max,
    char *err, size_t errlen)
{
	static char	chunk[MAILDROP_WRITE_CHUNK];
	const size_t	mlen = sizeof(MAILDROP_MAGIC "\n") - 1;
	ssize_t		n;
	int		rc;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errorf(EX_IOERR, err, errlen,
			    "reading the input: %s", strerror(errno));
		if (n == 0)
			break;
		if (!maildrop_write_magic(w->len, chunk, (size_t)n))
			return errorf(EX_DATAERR, err, errlen,
			    "the input is not a maildrop file");
		if (w->len + (uint64_t)n > max)
			return errorf(EX_DATAERR, err, errlen,
			    "the input is larger than %llu bytes",
			    (unsigned long long)max);
		if ((rc = maildrop_write_data(w, chunk, (size_t)n, err,
		    errlen)) != 0)
			return rc;
	}
	if (w->len < mlen)
		return errorf(EX_DATAERR, err, errlen,
		    "the input is not a maildrop file");
	return 0;
}

/*
 * The folder's entry: fsynced when the folder can be opened.  The drop
 * group has only write and search on maildrop/ (mode 1730), so the
 * setgid helper cannot open it to fsync it: for it, the fsync of the file
 * after the rename is what is left (on the common file systems it also
 * commits the rename, which is journaled with the inode).
 */
static void
maildrop_write_sync_dir(const char *mpath)
{
	char	dir[1100], *slash;
	int	dfd;

	if (strlcpy(dir, mpath, sizeof(dir)) >= sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(dfd);
	(void)close(dfd);
}

int
maildrop_write_commit(struct maildrop_write *w, char *err, size_t errlen)
{
	int	rc;

	if (fsync(w->fd) == -1) {
		rc = maildrop_write_errno("cannot sync", w->tpath, err, errlen);
		maildrop_write_abort(w);
		return rc;
	}
	/* Never over another file: the m-name must be new. */
	if (renameat2(AT_FDCWD, w->tpath, AT_FDCWD, w->mpath,
	    RENAME_NOREPLACE) == -1 && (errno != EINVAL ||
	    rename(w->tpath, w->mpath) == -1)) {
		rc = maildrop_write_errno("cannot rename", w->tpath, err,
		    errlen);
		maildrop_write_abort(w);
		return rc;
	}
	w->tpath[0] = '\0';	/* nothing left to remove */
	rc = fsync(w->fd) == -1 ? maildrop_write_errno("cannot sync",
	    w->mpath, err, errlen) : 0;
	if (close(w->fd) == -1 && rc == 0)
		rc = maildrop_write_errno("cannot close", w->mpath, err,
		    errlen);
	w->fd = -1;
	if (rc != 0) {
		/* A failure says "not queued": take the file back. */
		(void)unlink(w->mpath);
		return rc;
	}
	maildrop_write_sync_dir(w->mpath);
	return 0;
}

void
maildrop_write_abort(struct maildrop_write *w)
{
	if (w->fd != -1)
		(void)close(w->fd);
	w->fd = -1;
	if (w->tpath[0] != '\0')
		(void)unlink(w->tpath);
	w->tpath[0] = '\0';
}

uint64_t
maildrop_write_limit(uint64_t max_message)
{
	return max_message + MAILDROP_HEAD_MAX;
}
