/*
 * local_maildir.c - delivery into a Maildir, by the rules of its
 * specification: a unique name (time, microseconds, pid, a counter of
 * this process, the host), the file written and fsynced in tmp/, then
 * linked into new/ (renamed where the file system cannot link), the tmp/
 * name removed and new/ fsynced.  The message is in new/ whole or not at
 * all: every failure removes what it wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/local.h"

#define LOCAL_MAILDIR_TRIES	3

struct local_maildir {
	const char	*dir;
	char		 what[300];
	char		 tmp[4096];
	char		 new[4096];
};

static unsigned long	local_maildir_seq;

static int
local_maildir_mkdirs(struct local_maildir *md, struct local_result *res)
{
	static const char	*sub[] = { "", "/tmp", "/new", "/cur" };
	char			 path[4096];
	size_t			 i;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (!bsnprintf(path, sizeof(path), "%s%s", md->dir, sub[i])) {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: path too long", md->what);
			return -1;
		}
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			local_result_set(res, LOCAL_TEMP, "4.2.0",
			    "%s: cannot create %s: %s", md->what, path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The host part of the name: '/' and ':' as octal escapes. */
static void
local_maildir_host(const char *host, char *out, size_t size)
{
	size_t	n = 0;

	if (host == NULL || host[0] == '\0')
		host = "localhost";
	for (; *host != '\0' && n + 5 < size; host++) {
		if (*host == '/' || *host == ':') {
			bsnprintf(out + n, size - n, "\\%03o",
			    (unsigned char)*host);
			n += 4;
		} else
			out[n++] = *host;
	}
	out[n] = '\0';
}

static int
local_maildir_names(struct local_maildir *md, const struct local_msg *lm)
{
	struct timeval	tv;
	char		host[256], name[400];

	gettimeofday(&tv, NULL);
	local_maildir_host(lm->hostname, host, sizeof(host));
	if (!bsnprintf(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++local_maildir_seq, host))
		return -1;
	if (!bsnprintf(md->tmp, sizeof(md->tmp), "%s/tmp/%s", md->dir, name) ||
	    !bsnprintf(md->new, sizeof(md->new), "%s/new/%s", md->dir, name))
		return -1;
	return 0;
}

/* Creates the tmp/ file under a fresh name: its descriptor, or -1. */
static int
local_maildir_create(struct local_maildir *md, const struct local_msg *lm,
    struct local_result *res)
{
	int	fd, try;

	for (try = 0; try < LOCAL_MAILDIR_TRIES; try++) {
		if (local_maildir_names(md, lm) == -1) {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: path too long", md->what);
			return -1;
		}
		fd = open(md->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST)
			break;
	}
	local_result_set(res, LOCAL_TEMP, "4.2.0", "%s: cannot create %s: %s",
	    md->what, md->tmp, strerror(errno));
	return -1;
}

static int
local_maildir_write(struct local_maildir *md, const struct local_msg *lm,
    int fd, struct local_result *res)
{
	if (local_msg_copy(lm, fd, 0, md->what, res) == -1) {
		close(fd);
		return -1;
	}
	if (fsync(fd) == -1) {
		local_result_errno(res, errno, md->what, "fsync");
		close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		local_result_errno(res, errno, md->what, "close");
		return -1;
	}
	return 0;
}

/* tmp/NAME into new/NAME. */
static int
local_maildir_move(struct local_maildir *md, struct local_result *res)
{
	if (link(md->tmp, md->new) == 0) {
		unlink(md->tmp);
		return 0;
	}
	if ((errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP ||
	    errno == EMLINK) && rename(md->tmp, md->new) == 0)
		return 0;
	local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: cannot move %s: %s",
	    md->what, md->tmp, strerror(errno));
	return -1;
}

static int
local_maildir_sync_new(struct local_maildir *md, struct local_result *res)
{
	char	path[4096];
	int	fd, rc;

	if (!bsnprintf(path, sizeof(path), "%s/new", md->dir) ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: open new/: %s",
		    md->what, strerror(errno));
		return -1;
	}
	rc = fsync(fd);
	close(fd);
	if (rc == -1 && errno != EINVAL) {
		local_result_errno(res, errno, md->what, "fsync of new/");
		return -1;
	}
	return 0;
}

enum local_status
local_maildir_deliver(const struct local_msg *lm, const char *dir,
    struct local_result *res)
{
	struct local_maildir	md;
	int			fd;

	local_msg_signals();
	if (local_loop_check(lm, res) == -1)
		return res->status;
	memset(&md, 0, sizeof(md));
	md.dir = dir;
	bsnprintf(md.what, sizeof(md.what), "maildir %s", dir);
	if (local_maildir_mkdirs(&md, res) == -1 ||
	    (fd = local_maildir_create(&md, lm, res)) == -1)
		return res->status;
	if (local_maildir_write(&md, lm, fd, res) == -1 ||
	    local_maildir_move(&md, res) == -1) {
		unlink(md.tmp);
		return res->status;
	}
	if (local_maildir_sync_new(&md, res) == -1) {
		unlink(md.new);
		return res->status;
	}
	local_result_set(res, LOCAL_OK, "2.0.0", "delivered to %s", md.what);
	return res->status;
}
