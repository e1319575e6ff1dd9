/*
 * test_startup.c - unit tests of daemon/startup.c in a temporary folder:
 * the descriptor formula and its message, the raise of the soft limit; the
 * empty chroot refused when missing, writable, not empty or (as root)
 * wrongly owned, with its path in the message; the spool lock created on a
 * missing spool, naming its holder to a second process, and free again
 * once the holder let go.  The process users: unknown and root refused
 * with the setting's file:line.  The spool check of -n: a missing spool
 * names make install, a folder of the wrong mode is named, missing
 * folders below the spool are left to the start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/startup.h"

struct fixture {
	char	top[64];
	char	path[128];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)chmod(path, 0700);
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "/tmp/test_startup.XXXXXX");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", part, s);
}

static void
test_fd_fits(void **state)
{
	char	err[512];

	(void)state;
	assert_int_equal(startup_fd_needed(200), 216);
	assert_int_equal(startup_fd_needed(1), 17);
	assert_int_equal(startup_fd_fits(200, 216, err, sizeof(err)), 0);
	assert_int_equal(startup_fd_fits(1, UINT64_MAX, err, sizeof(err)), 0);
	assert_int_equal(startup_fd_fits(200, 215, err, sizeof(err)), -1);
	assert_contains(err, "max-sessions 200 needs 216 descriptors");
	assert_contains(err, "limit (RLIMIT_NOFILE) is 215");
	assert_contains(err, "lower max-sessions to 199");
	assert_int_equal(startup_fd_fits(100000, 1024, err, sizeof(err)), -1);
	assert_contains(err, "needs 100016");
	assert_int_equal(startup_fd_fits(1, 10, err, sizeof(err)), -1);
	assert_contains(err, "lower max-sessions to 0");
}

static void
test_fd_raise(void **state)
{
	struct rlimit	rl, low;
	char		err[512];

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	if (low.rlim_max > 128)
		low.rlim_cur = 128;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(startup_fd_raise(1, err, sizeof(err)), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &low), 0);
	assert_true(low.rlim_cur == rl.rlim_max);
	/* The check at -n and at start see the same hard limit. */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 100016) {
		assert_int_equal(startup_fd_check(100000, err, sizeof(err)),
		    -1);
		assert_contains(err, "max-sessions 100000 needs 100016");
		assert_int_equal(startup_fd_raise(100000, err, sizeof(err)),
		    -1);
		assert_contains(err, "max-sessions 100000 needs 100016");
	}
	assert_int_equal(startup_fd_check(1, err, sizeof(err)), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void
test_empty_dir(void **state)
{
	struct fixture	*fx = *state;
	char		 err[512], file[256];
	int		 fd;

	snprintf(fx->path, sizeof(fx->path), "%s/chroot", fx->top);
	assert_int_equal(startup_empty_dir(fx->path, 0, err, sizeof(err)), -1);
	assert_contains(err, fx->path);
	assert_int_equal(mkdir(fx->path, 0700), 0);
	assert_int_equal(chmod(fx->path, 0555), 0);
	assert_int_equal(startup_empty_dir(fx->path, 0, err, sizeof(err)), 0);
	/* Writable. */
	assert_int_equal(chmod(fx->path, 0755), 0);
	assert_int_equal(startup_empty_dir(fx->path, 0, err, sizeof(err)), -1);
	assert_contains(err, "empty-dir ");
	assert_contains(err, fx->path);
	assert_contains(err, "mode is 0755, expected 0555");
	/* Not empty. */
	snprintf(file, sizeof(file), "%s/intruder", fx->path);
	assert_true((fd = open(file, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	assert_int_equal(chmod(fx->path, 0555), 0);
	assert_int_equal(startup_empty_dir(fx->path, 0, err, sizeof(err)), -1);
	assert_contains(err, fx->path);
	assert_contains(err, "not empty (it holds \"intruder\")");
	assert_int_equal(chmod(fx->path, 0755), 0);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(chmod(fx->path, 0555), 0);
	assert_int_equal(startup_empty_dir(fx->path, 0, err, sizeof(err)), 0);
	/* A file is not a directory. */
	assert_int_equal(startup_empty_dir("/dev/null", 0, err, sizeof(err)),
	    -1);
	assert_contains(err, "empty-dir /dev/null: not a directory");
	if (geteuid() != 0)
		return;
	/* As root: root's with group 0, and refused as anybody else's. */
	assert_int_equal(chown(fx->path, 0, 0), 0);
	assert_int_equal(startup_empty_dir(fx->path, 1, err, sizeof(err)), 0);
	assert_int_equal(chown(fx->path, 65534, 0), 0);
	assert_int_equal(startup_empty_dir(fx->path, 1, err, sizeof(err)), -1);
	assert_contains(err, fx->path);
	assert_contains(err, "owner is ");
	assert_int_equal(chown(fx->path, 0, 65534), 0);
	assert_int_equal(startup_empty_dir(fx->path, 1, err, sizeof(err)), -1);
	assert_contains(err, "(group 65534)");
}

/* In a child: 0 if the lock is busy and names holder, 1 if it is taken,
 * 2 on anything else. */
static int
lock_in_child(const char *spool, pid_t holder)
{
	char	err[512], want[64];
	pid_t	pid;
	int	st, fd, rc;

	if ((pid = fork()) == 0) {
		rc = startup_lock(spool, &fd, err, sizeof(err));
		snprintf(want, sizeof(want), "(pid %ld holds ", (long)holder);
		if (rc == STARTUP_BUSY && fd == -1 &&
		    strstr(err, want) != NULL && strstr(err, spool) != NULL)
			_exit(0);
		_exit(rc == STARTUP_OK ? 1 : 2);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_lock(void **state)
{
	struct fixture	*fx = *state;
	char		 err[512], lock[256], text[32], want[32];
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	snprintf(fx->path, sizeof(fx->path), "%s/spool", fx->top);
	assert_int_equal(startup_lock(fx->path, &fd, err, sizeof(err)),
	    STARTUP_OK);
	assert_true(fd >= 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(lock, sizeof(lock), "%s/lock", fx->path);
	assert_int_equal(stat(lock, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Through fd: closing another descriptor of the file would drop
	 * this process's record lock. */
	n = pread(fd, text, sizeof(text) - 1, 0);
	assert_true(n > 0);
	text[n] = '\0';
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	/* Busy for another process, free once we let go. */
	assert_int_equal(lock_in_child(fx->path, getpid()), 0);
	close(fd);
	assert_int_equal(lock_in_child(fx->path, getpid()), 1);
	/* A lock file that is not a plain file of ours is refused. */
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(mkdir(lock, 0700), 0);
	assert_int_equal(startup_lock(fx->path, &fd, err, sizeof(err)),
	    STARTUP_ERROR);
	assert_int_equal(fd, -1);
	assert_contains(err, lock);
}


static void
test_users(void **state)
{
	struct config	cfg;
	struct sm_user	u[STARTUP_NUSERS];
	char		err[512];

	(void)state;
	config_init(&cfg);
	free(cfg.user_smtpd);
	free(cfg.user_queue);
	free(cfg.user_lookup);
	free(cfg.user_delivery);
	cfg.user_smtpd = xstrdup("nobody");
	cfg.user_queue = xstrdup("nobody");
	cfg.user_delivery = xstrdup("nobody");
	cfg.user_lookup = xstrdup("sm-no-such-user");
	assert_int_equal(startup_users(&cfg, u, err, sizeof(err)), -1);
	assert_contains(err, "- (default user-lookup): user-lookup: user "
	    "'sm-no-such-user' does not exist");
	free(cfg.user_lookup);
	cfg.user_lookup = xstrdup("root");
	assert_int_equal(startup_users(&cfg, u, err, sizeof(err)), -1);
	assert_contains(err, "user-lookup: user 'root' is root (uid 0)");
	free(cfg.user_lookup);
	cfg.user_lookup = xstrdup("nobody");
	free(cfg.user_control);
	cfg.user_control = xstrdup("root");
	assert_int_equal(startup_users(&cfg, u, err, sizeof(err)), -1);
	assert_contains(err, "user-control: user 'root' is root (uid 0)");
	free(cfg.user_control);
	cfg.user_control = xstrdup("nobody");
	assert_int_equal(startup_users(&cfg, u, err, sizeof(err)), 0);
	assert_string_equal(u[2].name, "nobody");
	assert_string_equal(u[3].name, "nobody");
	assert_string_equal(u[4].name, "nobody");
	assert_true(u[0].uid != 0 && u[0].gid != 0);
	config_free(&cfg);
}

static void
test_spool_check(void **state)
{
	struct fixture	*fx = *state;
	char		err[512], sub[200];

	snprintf(fx->path, sizeof(fx->path), "%s/spool", fx->top);
	assert_int_equal(startup_spool_check(fx->path, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "No such file or directory: create the spool "
	    "with 'make install'");
	assert_int_equal(mkdir(fx->path, 0700), 0);
	assert_int_equal(startup_spool_check(fx->path, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "mode 0700, expected");
	assert_int_equal(chmod(fx->path, 0755), 0);
	/* Nothing below it yet: the start makes that. */
	assert_int_equal(startup_spool_check(fx->path, NULL, NULL, err,
	    sizeof(err)), 0);
	snprintf(sub, sizeof(sub), "%s/queue", fx->path);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/queue/3F", fx->path);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chmod(sub, 0755), 0);
	assert_int_equal(startup_spool_check(fx->path, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_contains(err, "queue/3F: mode is 0755, expected 0700");
	assert_int_equal(chmod(sub, 0700), 0);
	assert_int_equal(startup_spool_check(fx->path, NULL, NULL, err,
	    sizeof(err)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_fits),
		cmocka_unit_test(test_fd_raise),
		cmocka_unit_test(test_users),
		cmocka_unit_test_setup_teardown(test_spool_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	};

	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
