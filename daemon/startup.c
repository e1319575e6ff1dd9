/*
 * startup.c - what the parent takes and checks at start, before it
 * touches the spool or forks:
 *   - the spool lock: <spool>/lock, root's, held with a POSIX record lock
 *     for the parent's lifetime, so that one strictmaild runs per spool
 *     (record locks are not inherited over fork, and the children never
 *     hold the descriptor, so none can release it);
 *   - the descriptor limit: the soft RLIMIT_NOFILE raised to the hard one,
 *     and max-sessions checked against it (strictmail.conf(5));
 *   - the receiver's empty chroot, configured or not: owner, mode and
 *     emptiness as the spool table says for <spool>/empty.
 * Each function fills err with a message that names what is wrong.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"
#include "daemon/startup.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"

#define STARTUP_ODIR	(O_RDONLY | O_DIRECTORY | O_CLOEXEC)

/* ---- the spool lock ---- */

/*
 * Opens the spool directory; creates it (0755, the current user's, as
 * queue_fs_prepare would) when it is missing, so that there is something
 * to lock on a first start.
 */
static int
startup_spool_dir(const char *spool, char *err, size_t errlen)
{
	int	fd;

	if ((fd = open(spool, STARTUP_ODIR)) != -1)
		return fd;
	if (errno != ENOENT || (mkdir(spool, 0755) == -1 && errno != EEXIST) ||
	    (fd = open(spool, STARTUP_ODIR)) == -1) {
		(void)bsnprintf(err, errlen, "spool %s: %s", spool,
		    strerror(errno));
		return -1;
	}
	if ((geteuid() == 0 && fchown(fd, 0, 0) == -1) ||
	    fchmod(fd, spool_table[0].mode) == -1) {
		(void)bsnprintf(err, errlen, "spool %s: %s", spool,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The lock file must be a plain file of ours, with one name. */
static int
startup_lock_file_ok(int fd, const char *shown, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid()) {
		(void)bsnprintf(err, errlen, "%s: not a regular file of uid "
		    "%lu with one link: remove it", shown,
		    (unsigned long)geteuid());
		return -1;
	}
	return 0;
}

/* Who holds the lock; 0 if that cannot be told. */
static long
startup_lock_holder(int fd)
{
	struct flock	fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK)
		return 0;
	return (long)fl.l_pid;
}

/* Takes the lock; STARTUP_BUSY with the holder named when it is held. */
static int
startup_lock_take(int fd, const char *spool, const char *shown, char *err,
    size_t errlen)
{
	struct flock	fl;
	long		pid;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return STARTUP_OK;
	if (errno != EACCES && errno != EAGAIN) {
		(void)bsnprintf(err, errlen, "%s: lock: %s", shown,
		    strerror(errno));
		return STARTUP_ERROR;
	}
	if ((pid = startup_lock_holder(fd)) > 0)
		(void)bsnprintf(err, errlen, "spool %s is in use by another "
		    "strictmaild (pid %ld holds %s): not started", spool, pid,
		    shown);
	else
		(void)bsnprintf(err, errlen, "spool %s is in use by another "
		    "strictmaild (%s is locked): not started", spool, shown);
	return STARTUP_BUSY;
}

/* Writes our PID into the lock file, for the operator. */
static int
startup_lock_note(int fd, const char *shown, char *err, size_t errlen)
{
	char	text[32];

	(void)bsnprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (fchmod(fd, 0600) == -1 || ftruncate(fd, 0) == -1 ||
	    pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text)) {
		(void)bsnprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return -1;
	}
	return 0;
}

int
startup_lock(const char *spool, int *lockfd, char *err, size_t errlen)
{
	char	shown[1024];
	int	dfd, fd, rc;

	*lockfd = -1;
	if (!bsnprintf(shown, sizeof(shown), "%s/%s", spool,
	    STARTUP_LOCK_NAME)) {
		(void)bsnprintf(err, errlen, "spool %s: path too long", spool);
		return STARTUP_ERROR;
	}
	if ((dfd = startup_spool_dir(spool, err, errlen)) == -1)
		return STARTUP_ERROR;
	fd = openat(dfd, STARTUP_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1)
		(void)bsnprintf(err, errlen, "%s: %s", shown, strerror(errno));
	close(dfd);
	if (fd == -1)
		return STARTUP_ERROR;
	rc = STARTUP_ERROR;
	if (startup_lock_file_ok(fd, shown, err, errlen) == 0 &&
	    (rc = startup_lock_take(fd, spool, shown, err, errlen)) ==
	    STARTUP_OK && startup_lock_note(fd, shown, err, errlen) == -1)
		rc = STARTUP_ERROR;
	if (rc != STARTUP_OK) {
		close(fd);
		return rc;
	}
	*lockfd = fd;
	return STARTUP_OK;
}

/* ---- the descriptor limit ---- */

uint64_t
startup_fd_needed(unsigned max_sessions)
{
	return (uint64_t)max_sessions * STARTUP_FD_PER_SESSION +
	    STARTUP_FD_RESERVE;
}

int
startup_fd_fits(unsigned max_sessions, uint64_t limit, char *err,
    size_t errlen)
{
	uint64_t	need = startup_fd_needed(max_sessions);

	if (need <= limit)
		return 0;
	(void)bsnprintf(err, errlen, "max-sessions %u needs %llu descriptors "
	    "(%d per session + %d), but the descriptor limit (RLIMIT_NOFILE) "
	    "is %llu: lower max-sessions to %llu or raise the limit",
	    max_sessions, (unsigned long long)need, STARTUP_FD_PER_SESSION,
	    STARTUP_FD_RESERVE, (unsigned long long)limit,
	    limit > STARTUP_FD_RESERVE ? (unsigned long long)((limit -
	    STARTUP_FD_RESERVE) / STARTUP_FD_PER_SESSION) : 0ULL);
	return -1;
}

/* A limit as a number; RLIM_INFINITY as the largest. */
static uint64_t
startup_rlim(rlim_t r)
{
	return r == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r;
}

int
startup_fd_check(unsigned max_sessions, char *err, size_t errlen)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		(void)bsnprintf(err, errlen, "getrlimit RLIMIT_NOFILE: %s",
		    strerror(errno));
		return -1;
	}
	return startup_fd_fits(max_sessions, startup_rlim(rl.rlim_max), err,
	    errlen);
}

int
startup_fd_raise(unsigned max_sessions, char *err, size_t errlen)
{
	struct rlimit	rl;
	rlim_t		was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		(void)bsnprintf(err, errlen, "getrlimit RLIMIT_NOFILE: %s",
		    strerror(errno));
		return -1;
	}
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (was != rl.rlim_max && setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		(void)bsnprintf(err, errlen, "setrlimit RLIMIT_NOFILE to %llu: "
		    "%s", (unsigned long long)startup_rlim(rl.rlim_max),
		    strerror(errno));
		return -1;
	}
	if (startup_fd_fits(max_sessions, startup_rlim(rl.rlim_cur), err,
	    errlen) == -1)
		return -1;
	if (was == rl.rlim_cur)
		log_info("descriptor limit %llu; max-sessions %u needs %llu",
		    (unsigned long long)startup_rlim(rl.rlim_cur), max_sessions,
		    (unsigned long long)startup_fd_needed(max_sessions));
	else
		log_info("descriptor limit raised from %llu to %llu; "
		    "max-sessions %u needs %llu",
		    (unsigned long long)startup_rlim(was),
		    (unsigned long long)startup_rlim(rl.rlim_cur), max_sessions,
		    (unsigned long long)startup_fd_needed(max_sessions));
	return 0;
}

/* ---- the receiver's empty chroot ---- */

static const struct spool_entry *
startup_empty_entry(void)
{
	const struct spool_entry	*e;

	for (e = spool_table; e->path != NULL; e++)
		if (strcmp(e->path, "empty") == 0)
			return e;
	fatalx("spool table has no \"empty\" entry");
}

static void
startup_uname(uid_t uid, char *dst, size_t size)
{
	struct passwd	*pw;

	if ((pw = getpwuid(uid)) != NULL &&
	    strlcpy(dst, pw->pw_name, size) < size)
		return;
	(void)bsnprintf(dst, size, "uid %lu", (unsigned long)uid);
}

/* Owner (and group as root) and mode as the table has them. */
static int
startup_empty_owner(int fd, const char *path, int privileged, char *err,
    size_t errlen)
{
	const struct spool_entry	*e = startup_empty_entry();
	struct stat			 st;
	uid_t				 uid = privileged ? 0 : geteuid();
	char				 is[64], want[64];

	if (fstat(fd, &st) == -1) {
		(void)bsnprintf(err, errlen, "empty-dir %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (st.st_uid != uid || (privileged && st.st_gid != 0)) {
		startup_uname(st.st_uid, is, sizeof(is));
		startup_uname(uid, want, sizeof(want));
		(void)bsnprintf(err, errlen, "empty-dir %s: owner is %s "
		    "(group %lu), expected %s%s", path, is,
		    (unsigned long)st.st_gid, want,
		    privileged ? " (group 0)" : "");
		return -1;
	}
	if ((st.st_mode & 07777) != e->mode) {
		(void)bsnprintf(err, errlen, "empty-dir %s: mode is %04o, "
		    "expected %04o", path, (unsigned)(st.st_mode & 07777),
		    (unsigned)e->mode);
		return -1;
	}
	return 0;
}

/* Nothing in it but "." and "..". */
static int
startup_empty_empty(int fd, const char *path, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	int		 dfd, rc = 0;

	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (d = fdopendir(dfd)) == NULL) {
		(void)bsnprintf(err, errlen, "empty-dir %s: %s", path,
		    strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(void)bsnprintf(err, errlen, "empty-dir %s: not empty "
		    "(it holds \"%.64s\")", path, de->d_name);
		rc = -1;
		break;
	}
	closedir(d);
	return rc;
}

int
startup_empty_dir(const char *path, int privileged, char *err,
    size_t errlen)
{
	int	fd, rc;

	if ((fd = open(path, STARTUP_ODIR)) == -1) {
		(void)bsnprintf(err, errlen, "empty-dir %s: %s", path,
		    errno == ENOTDIR ? "not a directory" : strerror(errno));
		return -1;
	}
	rc = startup_empty_owner(fd, path, privileged, err, errlen);
	if (rc == 0)
		rc = startup_empty_empty(fd, path, err, errlen);
	close(fd);
	return rc;
}

/* ---- the process users ---- */

static int
startup_user(const struct config *cfg, const char *keyword, const char *name,
    struct sm_user *u, char *err, size_t errlen)
{
	char	where[1100];

	(void)config_where(cfg, keyword, where, sizeof(where));
	if (privsep_lookup(name, u) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s: user '%s' does not "
		    "exist: create the users as INSTALL describes, or run "
		    "unprivileged with -u", where, keyword, name);
		return -1;
	}
	if (u->uid == 0) {
		(void)bsnprintf(err, errlen, "%s: %s: user '%s' is root (uid "
		    "0): each process needs a user of its own", where, keyword,
		    name);
		return -1;
	}
	if (u->gid == 0) {
		(void)bsnprintf(err, errlen, "%s: %s: user '%s' has group 0 "
		    "(root) as its group, which could regain root's files: "
		    "give it a group of its own", where, keyword, name);
		return -1;
	}
	return 0;
}

int
startup_users(const struct config *cfg, struct sm_user u[STARTUP_NUSERS],
    char *err, size_t errlen)
{
	if (startup_user(cfg, "user-queue", cfg->user_queue, &u[0], err,
	    errlen) == -1 ||
	    startup_user(cfg, "user-lookup", cfg->user_lookup, &u[1], err,
	    errlen) == -1 ||
	    startup_user(cfg, "user-smtpd", cfg->user_smtpd, &u[2], err,
	    errlen) == -1 ||
	    startup_user(cfg, "user-control", cfg->user_control, &u[3], err,
	    errlen) == -1 ||
	    startup_user(cfg, "user-delivery", cfg->user_delivery, &u[4], err,
	    errlen) == -1)
		return -1;
	return 0;
}

/* ---- the spool, checked without a change ---- */

/* Owner and mode of one existing folder; a missing one is fine. */
static int
startup_spool_entry(const char *path, uid_t uid, gid_t gid, int checkgid,
    mode_t mode, char *err, size_t errlen)
{
	struct stat	st;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(void)bsnprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (st.st_uid != uid || (checkgid && st.st_gid != gid)) {
		(void)bsnprintf(err, errlen, "%s: owner %lu group %lu, expected "
		    "%lu group %lu (strictmaild -T prints the table)", path,
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned long)uid, (unsigned long)gid);
		return -1;
	}
	if ((st.st_mode & 07777) != mode) {
		(void)bsnprintf(err, errlen, "%s: mode is %04o, expected %04o",
		    path, (unsigned)(st.st_mode & 07777), (unsigned)mode);
		return -1;
	}
	return 0;
}

/* The spool directory itself must be there, reached as the start does. */
static int
startup_spool_top(const char *spool, uid_t uid, gid_t gid, int checkgid,
    char *err, size_t errlen)
{
	struct stat	st;

	if (stat(spool, &st) == -1) {
		(void)bsnprintf(err, errlen, "spool %s: %s: create the spool "
		    "with 'make install' (it lays out what 'strictmaild -T' "
		    "prints)", spool, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(void)bsnprintf(err, errlen, "spool %s: not a directory",
		    spool);
		return -1;
	}
	if (st.st_uid != uid || (checkgid && st.st_gid != gid) ||
	    (st.st_mode & 07777) != spool_table[0].mode) {
		(void)bsnprintf(err, errlen, "spool %s: owner %lu group %lu "
		    "mode %04o, expected %lu group %lu mode %04o", spool,
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned)(st.st_mode & 07777), (unsigned long)uid,
		    (unsigned long)gid, (unsigned)spool_table[0].mode);
		return -1;
	}
	return 0;
}

int
startup_spool_check(const char *spool, const struct sm_user *qu,
    const struct sm_user *du, char *err, size_t errlen)
{
	const struct spool_entry	*e;
	char				 path[1200];
	uid_t				 ruid = qu ? 0 : geteuid(), uid;
	gid_t				 rgid = qu ? 0 : getegid(), gid;
	unsigned			 h, n;

	if (startup_spool_top(spool, ruid, rgid, qu != NULL, err, errlen) == -1)
		return -1;
	for (e = spool_table; e->path != NULL; e++) {
		if (strcmp(e->path, ".") == 0)
			continue;
		uid = e->owner == SPOOL_ROOT ? ruid : geteuid();
		gid = e->owner == SPOOL_ROOT ? rgid : getegid();
		if (e->owner == SPOOL_QUEUE && qu != NULL) {
			uid = qu->uid;
			gid = qu->gid;
		} else if (e->owner == SPOOL_DELIVERY && du != NULL) {
			uid = du->uid;
			gid = du->gid;
		}
		n = strcmp(e->path, "queue/XX") == 0 ? QUEUE_ID_NHASH : 1;
		for (h = 0; h < n; h++) {
			if ((n == 1 ? !bsnprintf(path, sizeof(path), "%s/%s",
			    spool, e->path) : !bsnprintf(path, sizeof(path),
			    "%s/queue/%02X", spool, h))) {
				(void)bsnprintf(err, errlen, "spool %s: path "
				    "too long", spool);
				return -1;
			}
			if (startup_spool_entry(path, uid, gid, qu != NULL,
			    e->mode, err, errlen) == -1)
				return -1;
		}
	}
	return 0;
}

/* A configured empty-dir is not created at start: it must be there. */
static int
startup_empty_check(const struct config *cfg, int privileged, char *err,
    size_t errlen)
{
	struct stat	st;
	char		where[1100];
	int		saved;

	if (stat(cfg->empty_dir, &st) == 0)
		return startup_empty_dir(cfg->empty_dir, privileged, err,
		    errlen);
	saved = errno;
	if (saved == ENOENT && config_line_of(cfg, "empty-dir") == 0)
		return 0;		/* <spool>/empty: made at start */
	(void)bsnprintf(err, errlen, "%s: empty-dir %s: %s",
	    config_where(cfg, "empty-dir", where, sizeof(where)),
	    cfg->empty_dir, strerror(saved));
	return -1;
}

int
startup_check(const struct config *cfg, int privileged, char *err,
    size_t errlen)
{
	struct sm_user	u[STARTUP_NUSERS];

	if (startup_fd_check(cfg->max_sessions, err, errlen) == -1)
		return -1;
	if (privileged && startup_users(cfg, u, err, errlen) == -1)
		return -1;
	if (startup_spool_check(cfg->spool, privileged ? &u[0] : NULL,
	    privileged ? &u[4] : NULL, err, errlen) == -1)
		return -1;
	return startup_empty_check(cfg, privileged, err, errlen);
}
