/*
 * killfail.c - a test preload for strictmaild's parent: kill() of another
 * process with SIGTERM or SIGKILL fails with EPERM, as it would under a
 * security module that forbids it.  Only the process that loaded it (the
 * parent) is affected: its children, forked without exec, see a pid of
 * their own and signal as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

static pid_t	kf_parent;

__attribute__((constructor)) static void
kf_init(void)
{
	kf_parent = getpid();
}

int
kill(pid_t pid, int sig)
{
	static int	(*real)(pid_t, int);

	if (getpid() == kf_parent && pid > 0 && pid != kf_parent &&
	    (sig == SIGTERM || sig == SIGKILL)) {
		errno = EPERM;
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "kill");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(pid, sig);
}
