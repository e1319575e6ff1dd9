/*
 * privsep.c - dropping root in one helper, in one order: chroot +
 * chdir("/"), setgroups(0), setresgid, setresuid, no_new_privs; then every
 * id is read back and a return to root is attempted, which must fail.  Any
 * surprise is fatal: a process that cannot prove it dropped root must not
 * go on.  Without root nothing changes (the caller logged that it runs
 * unprivileged).
 *
 * Before that, privsep_detach cuts a child off from the terminal the
 * parent was started from: a session of its own (no controlling terminal,
 * so no TIOCSTI into the operator's shell), /dev/null on descriptors 0 to
 * 2, and SIGKILL when the parent dies (the parent holds the spool lock: no
 * child outlives it).  The kernel forgets the parent-death signal when the
 * ids change, so privsep_drop sets it again.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "privsep.h"
#include "util.h"

static pid_t	privsep_parent;		/* set by privsep_detach */

/* SIGKILL when the parent dies; a parent gone already is one too. */
static void
privsep_die_with_parent(void)
{
	if (privsep_parent == 0)
		return;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != privsep_parent)
		_exit(1);
}

void
privsep_detach(pid_t parent)
{
	int	fd, i;

	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR | O_NOCTTY)) == -1)
		fatal("open /dev/null");
	for (i = STDIN_FILENO; i <= STDERR_FILENO; i++)
		if (fd != i && dup2(fd, i) == -1)
			fatal("dup2 /dev/null to %d", i);
	if (fd > STDERR_FILENO)
		close(fd);
	privsep_parent = parent;
	privsep_die_with_parent();
}

int
privsep_is_root(void)
{
	return geteuid() == 0;
}

int
privsep_lookup(const char *name, struct sm_user *u)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return -1;
	if (strlcpy(u->name, pw->pw_name, sizeof(u->name)) >= sizeof(u->name))
		return -1;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

/* Reads the ids back: all of them must be the user's, with no groups. */
static void
privsep_verify(const struct sm_user *u)
{
	uid_t	ruid, euid, suid;
	gid_t	rgid, egid, sgid;
	int	ngroups;

	if (getresuid(&ruid, &euid, &suid) == -1)
		fatal("getresuid");
	if (ruid != u->uid || euid != u->uid || suid != u->uid)
		fatalx("privsep: %s: uids are %lu/%lu/%lu, not %lu", u->name,
		    (unsigned long)ruid, (unsigned long)euid,
		    (unsigned long)suid, (unsigned long)u->uid);
	if (getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresgid");
	if (rgid != u->gid || egid != u->gid || sgid != u->gid)
		fatalx("privsep: %s: gids are %lu/%lu/%lu, not %lu", u->name,
		    (unsigned long)rgid, (unsigned long)egid,
		    (unsigned long)sgid, (unsigned long)u->gid);
	if ((ngroups = getgroups(0, NULL)) != 0)
		fatalx("privsep: %s: still in %d supplementary groups",
		    u->name, ngroups);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("privsep: %s: root could be regained", u->name);
}

/*
 * The dumpable flag is left as the kernel sets it on the uid change
 * (fs.suid_dumpable, normally 0).  It is not cleared here on purpose:
 * root, and so the privilege tests, can still read /proc/PID/status and
 * /proc/PID/root of the dropped process.
 */
void
privsep_drop(const struct sm_user *u, const char *chroot_dir)
{
	if (u == NULL || !privsep_is_root()) {
		log_debug("privsep: unprivileged mode, staying uid %lu",
		    (unsigned long)geteuid());
		return;
	}
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1)
			fatal("chroot %s", chroot_dir);
		if (chdir("/") == -1)
			fatal("chdir / in %s", chroot_dir);
	}
	if (setgroups(0, NULL) == -1)
		fatal("setgroups");
	if (setresgid(u->gid, u->gid, u->gid) == -1)
		fatal("setresgid %lu", (unsigned long)u->gid);
	if (setresuid(u->uid, u->uid, u->uid) == -1)
		fatal("setresuid %lu", (unsigned long)u->uid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	privsep_verify(u);
	privsep_die_with_parent();
	log_debug("privsep: running as %s (%lu:%lu)%s%s", u->name,
	    (unsigned long)u->uid, (unsigned long)u->gid,
	    chroot_dir ? ", chroot " : "", chroot_dir ? chroot_dir : "");
}

static int
privsep_int_cmp(const void *a, const void *b)
{
	int	x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
privsep_kept(const int *keep, size_t nkeep, int fd)
{
	size_t	i;

	for (i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

/* Slow path without close_range(): every entry of /proc/self/fd. */
static void
privsep_close_proc(const int *keep, size_t nkeep)
{
	DIR		*d;
	struct dirent	*de;
	int		*fds = NULL, fd;
	size_t		 n = 0, cap = 0, i;
	uint64_t	 v;

	if ((d = opendir("/proc/self/fd")) == NULL)
		fatal("opendir /proc/self/fd");
	while ((de = readdir(d)) != NULL) {
		if (parse_u64(de->d_name, 3, INT_MAX, &v) == -1)
			continue;
		fd = (int)v;
		if (fd == dirfd(d) || privsep_kept(keep, nkeep, fd))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			fds = xreallocarray(fds, cap, sizeof(*fds));
		}
		fds[n++] = fd;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

/* Closes [3, inf) minus keep with close_range(); -1 if unsupported. */
static int
privsep_close_ranges(const int *keep, size_t nkeep)
{
	int		*sorted;
	unsigned	 lo = 3;
	size_t		 i;
	int		 rc = 0;

	sorted = xreallocarray(NULL, nkeep ? nkeep : 1, sizeof(int));
	if (nkeep > 0)
		memcpy(sorted, keep, nkeep * sizeof(int));
	qsort(sorted, nkeep, sizeof(int), privsep_int_cmp);
	for (i = 0; i < nkeep && rc == 0; i++) {
		if (sorted[i] < 0 || (unsigned)sorted[i] < lo)
			continue;
		if ((unsigned)sorted[i] > lo)
			rc = close_range(lo, (unsigned)sorted[i] - 1, 0);
		lo = (unsigned)sorted[i] + 1;
	}
	if (rc == 0)
		rc = close_range(lo, ~0U, 0);
	free(sorted);
	return rc;
}

void
privsep_close_except(const int *keep, size_t nkeep)
{
	/* The syslog socket is among the victims: reopen it afterwards. */
	closelog();
	if (privsep_close_ranges(keep, nkeep) == -1)
		privsep_close_proc(keep, nkeep);
	log_setproc(log_procname());
}
