/*
 * local_mbox.c - appending to an mbox (the user's mailbox, or a /file
 * target).  The mailbox is opened without following a symbolic link,
 * must be a regular file with one link, and is locked with fcntl and a
 * dotlock within local_config.lock_wait; after the locks the path must
 * still name the file opened (a reader may have replaced it).  The append
 * is all or nothing: any write or fsync error cuts the file back to the
 * size it had under the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/local.h"

/* How often the mbox is opened again when it was replaced meanwhile. */
#define LOCAL_MBOX_TRIES	3
#define LOCAL_MBOX_POLL_MS	50

struct local_mbox {
	const char	*path;
	char		 what[300];	/* "mailbox PATH", "file PATH" */
	char		 lockpath[4096];
	int		 fd;
	int		 readable;	/* opened O_RDWR */
	int		 created;	/* we created the file */
	int		 dotlocked;	/* we created lockpath */
	uint64_t	 deadline;	/* now_ms() at which waiting ends */
	off_t		 oldsize;
};

static void
local_mbox_nap(void)
{
	struct timespec	ts = { 0, LOCAL_MBOX_POLL_MS * 1000000L };

	nanosleep(&ts, NULL);
}

static int
local_mbox_refuse(struct local_mbox *mb, const struct stat *st,
    struct local_result *res)
{
	const char	*why = NULL;

	if (S_ISLNK(st->st_mode))
		why = "is a symbolic link";
	else if (!S_ISREG(st->st_mode))
		why = "is not a regular file";
	else if (st->st_nlink != 1)
		why = "has more than one link";
	if (why == NULL)
		return 0;
	local_result_set(res, LOCAL_TEMP, "4.2.0", "%s %s: not delivered",
	    mb->what, why);
	return -1;
}

static int
local_mbox_open_error(struct local_mbox *mb, int err, struct local_result *res)
{
	if (err == ELOOP)
		local_result_set(res, LOCAL_TEMP, "4.2.0",
		    "%s is a symbolic link: not delivered", mb->what);
	else if (err == EISDIR || err == ENXIO)
		local_result_set(res, LOCAL_TEMP, "4.2.0",
		    "%s is not a regular file: not delivered", mb->what);
	else
		local_result_set(res, LOCAL_TEMP, "4.2.0", "%s: cannot open: %s",
		    mb->what, strerror(err));
	return -1;
}

/* Opens the existing file or creates it; checks it. */
static int
local_mbox_open(struct local_mbox *mb, struct local_result *res)
{
	struct stat	st;
	int		flags = O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
			    O_CLOEXEC, try;

	mb->created = 0;
	if (lstat(mb->path, &st) == 0 && local_mbox_refuse(mb, &st, res) == -1)
		return -1;
	for (try = 0; try < LOCAL_MBOX_TRIES; try++) {
		mb->readable = 1;
		mb->fd = open(mb->path, flags | O_RDWR);
		if (mb->fd == -1 && errno == EACCES) {
			mb->readable = 0;
			mb->fd = open(mb->path, flags | O_WRONLY);
		}
		if (mb->fd != -1 || errno != ENOENT)
			break;
		/* Missing: create it, unless another delivery just did. */
		mb->readable = 1;
		mb->fd = open(mb->path, flags | O_RDWR | O_CREAT | O_EXCL,
		    0600);
		mb->created = mb->fd != -1;
		if (mb->fd != -1 || errno != EEXIST)
			break;
	}
	if (mb->fd == -1)
		return local_mbox_open_error(mb, errno, res);
	if (fstat(mb->fd, &st) == -1)
		local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: fstat: %s",
		    mb->what, strerror(errno));
	else if (local_mbox_refuse(mb, &st, res) == 0)
		return 0;
	close(mb->fd);
	mb->fd = -1;
	return -1;
}

static int
local_mbox_fcntl_lock(struct local_mbox *mb, struct local_result *res)
{
	struct flock	fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(mb->fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: cannot lock: %s", mb->what, strerror(errno));
			return -1;
		}
		if (now_ms() >= mb->deadline)
			break;
		local_mbox_nap();
	}
	local_result_set(res, LOCAL_TEMP, "4.2.0",
	    "%s is locked by another process (waited %u s)", mb->what,
	    local_config.lock_wait);
	return -1;
}

/* An existing dotlock: 1 when it was stale and is gone, 0 to wait. */
static int
local_mbox_dotlock_stale(struct local_mbox *mb)
{
	struct stat	st;

	if (lstat(mb->lockpath, &st) == -1)
		return errno == ENOENT;
	if (time(NULL) - st.st_mtime < (time_t)local_config.dotlock_stale)
		return 0;
	return unlink(mb->lockpath) == 0 || errno == ENOENT;
}

static int
local_mbox_dotlock(struct local_mbox *mb, struct local_result *res)
{
	int	fd;

	if (!bsnprintf(mb->lockpath, sizeof(mb->lockpath), "%s.lock",
	    mb->path)) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "%s: path too long", mb->what);
		return -1;
	}
	for (;;) {
		fd = open(mb->lockpath, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1) {
			close(fd);
			mb->dotlocked = 1;
			return 0;
		}
		/* A folder where this user may not create the dotlock
		 * (a /file target): the fcntl lock alone. */
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;
		if (errno != EEXIST) {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: cannot create %s: %s", mb->what, mb->lockpath,
			    strerror(errno));
			return -1;
		}
		if (local_mbox_dotlock_stale(mb))
			continue;
		if (now_ms() >= mb->deadline)
			break;
		local_mbox_nap();
	}
	local_result_set(res, LOCAL_TEMP, "4.2.0",
	    "%s is locked (%s exists, waited %u s)", mb->what, mb->lockpath,
	    local_config.lock_wait);
	return -1;
}

static void
local_mbox_unlock(struct local_mbox *mb)
{
	if (mb->dotlocked)
		unlink(mb->lockpath);
	mb->dotlocked = 0;
	if (mb->fd != -1)
		close(mb->fd);	/* drops the fcntl lock */
	mb->fd = -1;
}

/* 1 when the path still names the open file, 0 when it was replaced. */
static int
local_mbox_same(struct local_mbox *mb, struct local_result *res)
{
	struct stat	st, pst;

	if (fstat(mb->fd, &st) == -1) {
		local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: fstat: %s",
		    mb->what, strerror(errno));
		return -1;
	}
	if (lstat(mb->path, &pst) == -1 || pst.st_dev != st.st_dev ||
	    pst.st_ino != st.st_ino)
		return 0;
	if (local_mbox_refuse(mb, &pst, res) == -1)
		return -1;
	mb->oldsize = st.st_size;
	return 1;
}

/* Open, lock, check: 0 with the file locked, -1 with res set. */
static int
local_mbox_lock(struct local_mbox *mb, struct local_result *res)
{
	int	try, same;

	for (try = 0; try < LOCAL_MBOX_TRIES; try++) {
		if (local_mbox_open(mb, res) == -1)
			return -1;
		if (local_mbox_fcntl_lock(mb, res) == -1 ||
		    local_mbox_dotlock(mb, res) == -1) {
			local_mbox_unlock(mb);
			return -1;
		}
		if ((same = local_mbox_same(mb, res)) == 1)
			return 0;
		local_mbox_unlock(mb);
		if (same == -1)
			return -1;
	}
	local_result_set(res, LOCAL_TEMP, "4.2.0",
	    "%s keeps being replaced while it is locked", mb->what);
	return -1;
}

/* What goes before the From_ line so that it starts a line after a
 * blank one, even when the last writer left the file unfinished. */
static const char *
local_mbox_separator(struct local_mbox *mb)
{
	char	tail[2] = { '\n', '\n' };
	ssize_t	n;

	if (mb->oldsize == 0 || !mb->readable)
		return "";
	if (mb->oldsize == 1)
		n = pread(mb->fd, tail + 1, 1, 0) == 1 ? 2 : -1;
	else
		n = pread(mb->fd, tail, 2, mb->oldsize - 2);
	if (n != 2)
		return "";
	if (tail[1] != '\n')
		return "\n\n";
	if (mb->oldsize > 1 && tail[0] != '\n')
		return "\n";
	return "";
}

static int
local_mbox_write(struct local_mbox *mb, const struct local_msg *lm,
    struct local_result *res)
{
	char		 from[400];
	const char	*sep = local_mbox_separator(mb);

	if (local_msg_from_line(lm, from, sizeof(from)) == -1) {
		local_result_set(res, LOCAL_PERM, "5.6.0",
		    "%s: sender too long for the From_ line", mb->what);
		return -1;
	}
	if (write_all(mb->fd, sep, strlen(sep)) == -1 ||
	    write_all(mb->fd, from, strlen(from)) == -1) {
		local_result_errno(res, errno, mb->what, "write");
		return -1;
	}
	if (local_msg_copy(lm, mb->fd, 1, mb->what, res) == -1)
		return -1;
	if (write_all(mb->fd, "\n", 1) == -1) {
		local_result_errno(res, errno, mb->what, "write");
		return -1;
	}
	if (fsync(mb->fd) == -1) {
		local_result_errno(res, errno, mb->what, "fsync");
		return -1;
	}
	return 0;
}

/* Cuts the file back to its old size after a failed append. */
static void
local_mbox_undo(struct local_mbox *mb, struct local_result *res)
{
	size_t	n;

	if (ftruncate(mb->fd, mb->oldsize) == 0 && fsync(mb->fd) == 0)
		return;
	n = strlen(res->text);
	bsnprintf(res->text + n, sizeof(res->text) - n,
	    "; cutting it back to %lld bytes failed: %s",
	    (long long)mb->oldsize, strerror(errno));
}

/* A file we created: its name on disk too. */
static int
local_mbox_sync_dir(struct local_mbox *mb, struct local_result *res)
{
	char	dir[4096];
	int	fd, rc;

	if (!mb->created || strlcpy(dir, mb->path, sizeof(dir)) >= sizeof(dir))
		return 0;
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;	/* not readable: nothing more we can do */
	rc = fsync(fd);
	close(fd);
	if (rc == -1 && errno != EINVAL) {
		local_result_errno(res, errno, mb->what, "fsync of its folder");
		return -1;
	}
	return 0;
}

static enum local_status
local_mbox_append(const struct local_msg *lm, const char *path,
    const char *kind, struct local_result *res)
{
	struct local_mbox	mb;

	local_msg_signals();
	if (local_loop_check(lm, res) == -1)
		return res->status;
	memset(&mb, 0, sizeof(mb));
	mb.fd = -1;
	mb.path = path;
	bsnprintf(mb.what, sizeof(mb.what), "%s %s", kind, path);
	mb.deadline = now_ms() + (uint64_t)local_config.lock_wait * 1000;
	if (local_mbox_lock(&mb, res) == -1)
		return res->status;
	if (local_mbox_write(&mb, lm, res) == -1 ||
	    local_mbox_sync_dir(&mb, res) == -1)
		local_mbox_undo(&mb, res);
	else
		local_result_set(res, LOCAL_OK, "2.0.0", "delivered to %s",
		    mb.what);
	local_mbox_unlock(&mb);
	return res->status;
}

enum local_status
local_mbox_deliver(const struct local_msg *lm, const char *path,
    struct local_result *res)
{
	return local_mbox_append(lm, path, "mailbox", res);
}

enum local_status
local_file_deliver(const struct local_msg *lm, const char *path,
    struct local_result *res)
{
	if (path[0] != '/') {
		local_result_set(res, LOCAL_PERM, "5.3.5",
		    "file target %s is not an absolute path", path);
		return res->status;
	}
	if (strcmp(path, "/dev/null") == 0) {
		if (local_loop_check(lm, res) == 0)
			local_result_set(res, LOCAL_OK, "2.0.0",
			    "discarded (/dev/null)");
		return res->status;
	}
	return local_mbox_append(lm, path, "file", res);
}
