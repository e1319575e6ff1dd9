/*
 * failsync.c - an LD_PRELOAD library for the integration tests: makes
 * chosen calls of syncfs(), fsync() and fdatasync() fail with EIO, or
 * makes every counted call slow.
 *
 *   cc -shared -fPIC -O1 -o failsync.so failsync.c -ldl
 *   LD_PRELOAD=./failsync.so FAILSYNC_FROM=6 FAILSYNC_COUNT=2 strictmaild ...
 *
 * Environment (read once, when the library is loaded):
 *   FAILSYNC_FROM   number (1-based) of the first call that fails; unset or
 *                   0: no call fails, the library only counts
 *   FAILSYNC_COUNT  how many calls fail from there (default 1)
 *   FAILSYNC_FUNCS  the functions that are counted and may fail, a comma
 *                   separated subset of syncfs,fsync,fdatasync (default
 *                   syncfs); the others pass through untouched
 *   FAILSYNC_COMM   set: only the calls of a process whose name (prctl
 *                   PR_GET_NAME, e.g. "sm-queue") is this are counted,
 *                   fail or wait; the other processes pass through (the
 *                   delivery process syncs its MTA-STS cache)
 *   FAILSYNC_ONLY   set: only calls on some descriptors are counted, fail
 *                   or wait (the others pass through): "dirs" directories,
 *                   "files<N" regular files under N octets, "files>N"
 *                   regular files over N octets (fstat, so it works in a
 *                   chroot; the queue syncs a batch's files side by side,
 *                   and this picks one kind of them whatever the order)
 *   FAILSYNC_QUIET  set: no note for a failed or delayed call
 *   FAILSYNC_DELAY_MS  every counted call that does not fail waits this
 *                   long before it calls the real function (a slow disk),
 *                   with a note "failsync[PID]: F call N: delaying MS ms"
 *                   first; unset or 0: no delay
 *
 * The note goes where the process's log lines go: strictmaild's children
 * have /dev/null on stderr and name their log pipe in STRICTMAIL_LOG_FD
 * (read at each note, since a child sets it after the fork); without it,
 * stderr.
 *
 * Calls are counted per process: a forked child starts again from 0, so the
 * numbers do not depend on what the parent did before the fork.  The counter
 * is atomic (the caller may sync from several threads).  A call chosen to
 * fail does NOT call the real function: it returns -1 with errno EIO, as if
 * the kernel had lost the write-back, so nothing it should have made durable
 * is known to be on disk.  Every other call goes to the real function.
 *
 * The library needs no file after it is loaded: the real functions are
 * looked up and the environment read in a constructor, before the program
 * can chroot or change users, and the note is one write(2).
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

enum { FS_SYNCFS, FS_FSYNC, FS_FDATASYNC, FS_N };

static const char *const fs_name[FS_N] = { "syncfs", "fsync", "fdatasync" };
static sync_fn		fs_real[FS_N];
static int		fs_counted[FS_N];
static unsigned long	fs_from, fs_count, fs_delay_ms;
static int		fs_quiet;
static char		fs_comm[17];	/* FAILSYNC_COMM, "" = every process */
static char		fs_only;	/* FAILSYNC_ONLY: 0, 'd', '<', '>' */
static unsigned long	fs_only_size;
static atomic_ulong	fs_calls;

static unsigned long
fs_env_ulong(const char *name, unsigned long dflt)
{
	const char	*s = getenv(name);
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return dflt;
	return v;
}

static void
fs_atfork_child(void)
{
	atomic_store(&fs_calls, 0);
}

__attribute__((constructor)) static void
fs_init(void)
{
	const char	*funcs;
	size_t		 len;
	int		 i;

	for (i = 0; i < FS_N; i++) {
		void *sym = dlsym(RTLD_NEXT, fs_name[i]);

		/* POSIX: a data pointer from dlsym may hold a function. */
		memcpy(&fs_real[i], &sym, sizeof(sym));
	}
	fs_from = fs_env_ulong("FAILSYNC_FROM", 0);
	fs_count = fs_env_ulong("FAILSYNC_COUNT", 1);
	fs_delay_ms = fs_env_ulong("FAILSYNC_DELAY_MS", 0);
	fs_quiet = getenv("FAILSYNC_QUIET") != NULL;
	if (getenv("FAILSYNC_COMM") != NULL)
		(void)snprintf(fs_comm, sizeof(fs_comm), "%s",
		    getenv("FAILSYNC_COMM"));
	if ((funcs = getenv("FAILSYNC_FUNCS")) == NULL || *funcs == '\0')
		funcs = "syncfs";
	for (i = 0; i < FS_N; i++) {
		const char *p = funcs;

		len = strlen(fs_name[i]);
		while (*p != '\0') {
			if (strncmp(p, fs_name[i], len) == 0 &&
			    (p[len] == ',' || p[len] == '\0'))
				fs_counted[i] = 1;
			p += strcspn(p, ",");
			p += *p == ',';
		}
	}
	if ((funcs = getenv("FAILSYNC_ONLY")) != NULL && *funcs != '\0') {
		if (strcmp(funcs, "dirs") == 0)
			fs_only = 'd';
		else if (strncmp(funcs, "files", 5) == 0 &&
		    (funcs[5] == '<' || funcs[5] == '>')) {
			fs_only = funcs[5];
			fs_only_size = strtoul(funcs + 6, NULL, 10);
		} else
			fs_only = 'x';	/* unknown: nothing is counted */
	}
	(void)pthread_atfork(NULL, NULL, fs_atfork_child);
}

/* 1 when calls on fd are counted (FAILSYNC_ONLY). */
static int
fs_this_fd(int fd)
{
	struct stat	st;

	if (fs_only == 0)
		return 1;
	if (fstat(fd, &st) == -1)
		return 0;
	switch (fs_only) {
	case 'd':
		return S_ISDIR(st.st_mode);
	case '<':
		return S_ISREG(st.st_mode) &&
		    (unsigned long)st.st_size < fs_only_size;
	case '>':
		return S_ISREG(st.st_mode) &&
		    (unsigned long)st.st_size > fs_only_size;
	}
	return 0;
}

/* The descriptor of the note: STRICTMAIL_LOG_FD, or stderr. */
static int
fs_note_fd(void)
{
	unsigned long	fd = fs_env_ulong("STRICTMAIL_LOG_FD", 2);

	return fd > 1000000 ? 2 : (int)fd;
}

/* The slow disk: a note, then the wait (nanosleep, resumed on EINTR). */
static void
fs_delay(int which, unsigned long n)
{
	struct timespec	ts;
	char		note[128];
	int		len;

	if (!fs_quiet) {
		len = snprintf(note, sizeof(note), "failsync[%ld]: %s call %lu: "
		    "delaying %lu ms\n", (long)getpid(), fs_name[which], n,
		    fs_delay_ms);
		if (len > 0 && (size_t)len < sizeof(note))
			(void)!write(fs_note_fd(), note, (size_t)len);
	}
	ts.tv_sec = (time_t)(fs_delay_ms / 1000);
	ts.tv_nsec = (long)(fs_delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* 1 when this process's calls are counted (FAILSYNC_COMM). */
static int
fs_this_process(void)
{
	char	name[17] = "";

	if (fs_comm[0] == '\0')
		return 1;
	(void)prctl(PR_GET_NAME, name, 0, 0, 0);
	return strcmp(name, fs_comm) == 0;
}

static int
fs_call(int which, int fd)
{
	unsigned long	n;
	char		note[128];
	int		len;

	if (fs_counted[which] && fs_this_process() && fs_this_fd(fd)) {
		n = atomic_fetch_add(&fs_calls, 1) + 1;
		if (fs_from != 0 && n >= fs_from && n - fs_from < fs_count) {
			if (!fs_quiet) {
				len = snprintf(note, sizeof(note),
				    "failsync[%ld]: %s call %lu: failing with "
				    "EIO\n", (long)getpid(), fs_name[which], n);
				if (len > 0 && (size_t)len < sizeof(note))
					(void)!write(fs_note_fd(), note,
					    (size_t)len);
			}
			errno = EIO;
			return -1;
		}
		if (fs_delay_ms != 0)
			fs_delay(which, n);
	}
	if (fs_real[which] == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return fs_real[which](fd);
}

int
syncfs(int fd)
{
	return fs_call(FS_SYNCFS, fd);
}

int
fsync(int fd)
{
	return fs_call(FS_FSYNC, fd);
}

int
fdatasync(int fd)
{
	return fs_call(FS_FDATASYNC, fd);
}
