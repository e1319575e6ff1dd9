/*
 * privsep.h - dropping root in one helper, in one order (STYLE.md):
 * look the user up, chroot + chdir("/"), setgroups(0), setresgid,
 * setresuid, then verify that every id changed and that root cannot be
 * regained.  Any failure is fatal.  Without root nothing changes and the
 * caller has logged that it runs unprivileged.
 */
#ifndef SM_PRIVSEP_H
#define SM_PRIVSEP_H

#include <sys/types.h>

struct sm_user {
	char	name[64];
	uid_t	uid;
	gid_t	gid;
};

/* In a child, before anything else: its own session (no controlling
 * terminal), /dev/null on descriptors 0 to 2, and SIGKILL when parent
 * dies (privsep_drop sets it again after the ids change).  Fatal on
 * failure; exits at once if parent is gone already. */
void privsep_detach(pid_t parent);
/* 0 and *u filled, or -1 if there is no such user. */
int privsep_lookup(const char *name, struct sm_user *u);
/* chroot_dir NULL: no chroot, the working directory is left alone.
 * u NULL or not running as root: nothing changes. */
void privsep_drop(const struct sm_user *u, const char *chroot_dir);
/* Close every descriptor >= 3 except those listed (before chroot); the
 * syslog connection is reopened afterwards. */
void privsep_close_except(const int *keep, size_t nkeep);
int privsep_is_root(void);

#endif
