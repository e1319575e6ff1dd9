/*
 * test_local_pipe.c - unit tests of the command agent and of the
 * ~/.forward reader of delivery/local.h: the message on stdin, exit codes
 * 0/75/67/1 and a signal mapped with their sysexits names, the first line
 * of stderr in the text, a time-out that kills the whole process group,
 * the exact environment (this test program, run as the command with
 * --dump-env, writes what it got), no shell for a plain command and a
 * shell for one with metacharacters; .forward missing, normal, unsafe
 * (group- or world-writable, symbolic link, owned by another user, too
 * large, not a regular file, bad quoting) and ignored with the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "delivery/local.h"

#define SENDER	"alice@example.org"
#define RCPT	"bob+ext@example.net"

extern char **environ;

static char	topdir[64];
static char	self[4096];	/* this program, for --dump-env */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	strlcpy(topdir, "/tmp/test_local_pipe.XXXXXX", sizeof(topdir));
	return mkdtemp(topdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(topdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
tpath(char *buf, size_t size, const char *name)
{
	assert_true(bsnprintf(buf, size, "%s/%s", topdir, name));
}

static void
msg_make(struct local_msg *lm, const char *text)
{
	char		 tmpl[] = "/tmp/test_local_msg.XXXXXX";
	struct buf	 b;
	const char	*p;

	buf_init(&b);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			buf_addch(&b, '\r');
		buf_addch(&b, *p);
	}
	memset(lm, 0, sizeof(*lm));
	lm->fd = mkstemp(tmpl);
	assert_true(lm->fd >= 0);
	unlink(tmpl);
	assert_int_equal(write_all(lm->fd, b.data, b.len), 0);
	lm->size = b.len;
	lm->sender = SENDER;
	lm->rcpt = RCPT;
	lm->hostname = "mx.example.net";
	buf_free(&b);
}

static char *
slurp(const char *path)
{
	struct buf	b;
	char		chunk[8192];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return b.cap > 0 ? b.data : xstrdup("");
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
assert_result(const struct local_result *res, enum local_status st,
    const char *enh, const char *text_part)
{
	if (res->status != st || strcmp(res->enh, enh) != 0 ||
	    strstr(res->text, text_part) == NULL)
		fail_msg("expected %s %s \"...%s...\", got %s %s \"%s\"",
		    local_status_name(st), enh, text_part,
		    local_status_name(res->status), res->enh, res->text);
}

static enum local_status
run(const char *command, unsigned int timeout, struct local_result *res)
{
	struct local_msg	lm;
	enum local_status	st;

	msg_make(&lm, "Subject: x\n\nFrom the body\n");
	st = local_pipe_deliver(&lm, command, timeout, res);
	close(lm.fd);
	return st;
}

/* A script that says two lines on stderr and exits with $1. */
static void
make_script(char *path, size_t size)
{
	tpath(path, size, "script");
	write_file(path, "#!/bin/sh\necho 'first line' >&2\n"
	    "echo 'second line' >&2\nexit $1\n", 0755);
}

/*
 * Commands.
 */

static void
test_pipe_stdin(void **state)
{
	struct local_result	res;
	char			out[128], cmd[300], *got;
	const char		*want = "Return-Path: <" SENDER ">\n"
				    "Delivered-To: " RCPT "\n"
				    "Subject: x\n\nFrom the body\n";

	(void)state;
	tpath(out, sizeof(out), "out");
	/* A plain command... */
	bsnprintf(cmd, sizeof(cmd), "/usr/bin/tee %s", out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_result(&res, LOCAL_OK, "2.0.0", "delivered to command");
	assert_non_null(got = slurp(out));
	assert_string_equal(got, want);
	free(got);
	/* ...and one through the shell, with the '|' of an alias. */
	unlink(out);
	bsnprintf(cmd, sizeof(cmd), "|cat > %s", out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_non_null(got = slurp(out));
	assert_string_equal(got, want);
	free(got);
}

static void
test_pipe_exit_codes(void **state)
{
	struct local_result	res;
	char			script[128], cmd[300];

	(void)state;
	make_script(script, sizeof(script));
	bsnprintf(cmd, sizeof(cmd), "%s 0", script);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_result(&res, LOCAL_OK, "2.0.0", "");

	bsnprintf(cmd, sizeof(cmd), "%s 75", script);
	assert_int_equal(run(cmd, 10, &res), LOCAL_TEMP);
	assert_result(&res, LOCAL_TEMP, "4.3.0",
	    "command failed with status 75 (EX_TEMPFAIL): first line");
	assert_null(strstr(res.text, "second"));

	bsnprintf(cmd, sizeof(cmd), "%s 67", script);
	assert_int_equal(run(cmd, 10, &res), LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.1.1",
	    "command died with status 67 (EX_NOUSER): first line");

	bsnprintf(cmd, sizeof(cmd), "%s 1", script);
	assert_int_equal(run(cmd, 10, &res), LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.3.0",
	    "command died with status 1: first line");

	/* A signal is temporary. */
	assert_int_equal(run("kill -9 $$", 10, &res), LOCAL_TEMP);
	assert_result(&res, LOCAL_TEMP, "4.3.0", "signal 9");

	/* A command that cannot be executed. */
	assert_int_equal(run("/nonexistent/command -x", 10, &res),
	    LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.3.0",
	    "cannot execute /nonexistent/command");
	assert_int_equal(run("   ", 10, &res), LOCAL_PERM);
}

/* State of a process: 0 gone or a zombie, 1 alive. */
static int
alive(pid_t pid)
{
	char	path[64], *stat, *p;
	int	live;

	bsnprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((stat = slurp(path)) == NULL || (p = strrchr(stat, ')')) == NULL) {
		free(stat);
		return 0;
	}
	live = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return live;
}

static void
test_pipe_timeout(void **state)
{
	struct local_result	res;
	char			script[128], pidfile[128], *text;
	uint64_t		t0, ms, pid;
	int			i;

	(void)state;
	tpath(script, sizeof(script), "sleeper");
	tpath(pidfile, sizeof(pidfile), "pid");
	{
		char	body[512];

		bsnprintf(body, sizeof(body), "#!/bin/sh\nsleep 30 &\n"
		    "echo $! > %s.tmp\nmv %s.tmp %s\nsleep 30\n", pidfile,
		    pidfile, pidfile);
		write_file(script, body, 0755);
	}
	t0 = now_ms();
	assert_int_equal(run(script, 1, &res), LOCAL_TEMP);
	ms = now_ms() - t0;
	assert_result(&res, LOCAL_TEMP, "4.3.0", "timed out after 1 s");
	if (ms < 900 || ms > 5000)
		fail_msg("expected about 1 s, took %llu ms",
		    (unsigned long long)ms);
	/* The background sleep of the command's group is killed too. */
	assert_non_null(text = slurp(pidfile));
	text[strcspn(text, "\n")] = '\0';
	assert_int_equal(parse_u64(text, 1, INT32_MAX, &pid), 0);
	free(text);
	for (i = 0; i < 100 && alive((pid_t)pid); i++)
		usleep(20000);
	if (alive((pid_t)pid))
		fail_msg("the command's background process %llu survived",
		    (unsigned long long)pid);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of a file, sorted, joined by '|'. */
static char *
sorted_lines(const char *path)
{
	char		*text = slurp(path), *lines[64], *save, *l;
	struct buf	 b;
	size_t		 n = 0, i;

	assert_non_null(text);
	for (l = strtok_r(text, "\n", &save); l != NULL && n < 64;
	    l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(lines[0]), cmp_str);
	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i > 0 ? "|" : "", lines[i]);
	free(text);
	return b.cap > 0 ? b.data : xstrdup("");
}

static void
test_pipe_environment(void **state)
{
	struct local_result	 res;
	struct passwd		*pw = getpwuid(getuid());
	char			 out[128], cmd[4300], want[1024], *got;

	(void)state;
	assert_non_null(pw);
	setenv("INHERITED_SECRET", "leak", 1);
	tpath(out, sizeof(out), "env");
	bsnprintf(cmd, sizeof(cmd), "%s --dump-env %s", self, out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	unsetenv("INHERITED_SECRET");
	got = sorted_lines(out);
	/* Exactly these: nothing inherited, and no PWD (a shell adds it). */
	bsnprintf(want, sizeof(want), "DOMAIN=example.net|EXTENSION=ext|"
	    "HOME=%s|LOCAL=bob+ext|LOGNAME=%s|PATH=/usr/bin:/bin|"
	    "RECIPIENT=" RCPT "|SENDER=" SENDER "|SHELL=/bin/sh|USER=%s",
	    pw->pw_dir, pw->pw_name, pw->pw_name);
	assert_string_equal(got, want);
	free(got);
}

static void
test_pipe_shell(void **state)
{
	struct local_result	 res;
	struct passwd		*pw = getpwuid(getuid());
	char			 out[128], cmd[300], want[300], *got;

	(void)state;
	tpath(out, sizeof(out), "out");
	/* With a metacharacter: /bin/sh -c, which adds PWD. */
	bsnprintf(cmd, sizeof(cmd), "env > %s", out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_non_null(got = slurp(out));
	assert_non_null(strstr(got, "\nPWD=") != NULL ? got :
	    strncmp(got, "PWD=", 4) == 0 ? got : NULL);
	assert_non_null(strstr(got, "SENDER=" SENDER "\n"));
	free(got);

	bsnprintf(cmd, sizeof(cmd), "echo hi | tr a-z A-Z > %s", out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_non_null(got = slurp(out));
	assert_string_equal(got, "HI\n");
	free(got);

	/* It runs in HOME. */
	bsnprintf(cmd, sizeof(cmd), "pwd > %s", out);
	assert_int_equal(run(cmd, 10, &res), LOCAL_OK);
	assert_non_null(got = slurp(out));
	bsnprintf(want, sizeof(want), "%s\n", pw->pw_dir);
	if (access(pw->pw_dir, X_OK) != 0)
		bsnprintf(want, sizeof(want), "/\n");
	assert_string_equal(got, want);
	free(got);
}

/* A command that reads nothing of a big message still succeeds; a loop
 * runs no command. */
static void
test_pipe_edges(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	struct buf		b;
	char			out[128], cmd[300];
	int			i;

	(void)state;
	buf_init(&b);
	buf_addstr(&b, "Subject: big\n\n");
	for (i = 0; i < 40000; i++)
		buf_addstr(&b, "a line of a big message for a command\n");
	msg_make(&lm, b.data);
	buf_free(&b);
	assert_int_equal(local_pipe_deliver(&lm, "/bin/true", 10, &res),
	    LOCAL_OK);
	assert_int_equal(local_pipe_deliver(&lm, "/usr/bin/wc -c", 10, &res),
	    LOCAL_OK);
	close(lm.fd);

	tpath(out, sizeof(out), "touched");
	bsnprintf(cmd, sizeof(cmd), "/usr/bin/touch %s", out);
	msg_make(&lm, "Delivered-To: " RCPT "\n\nbody\n");
	assert_int_equal(local_pipe_deliver(&lm, cmd, 10, &res), LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.4.6", "loop");
	close(lm.fd);
	assert_int_equal(access(out, F_OK), -1);
}

/*
 * .forward
 */

struct fwd {
	char	home[128];
	char	path[160];
};

static void
fwd_init(struct fwd *f)
{
	tpath(f->home, sizeof(f->home), "home");
	assert_int_equal(mkdir(f->home, 0755), 0);
	bsnprintf(f->path, sizeof(f->path), "%s/.forward", f->home);
}

/* Reads it as uid; the targets joined by '|'. */
static char *
fwd_read(struct fwd *f, uid_t uid, struct local_result *res)
{
	char		**t;
	size_t		  n, i;
	struct buf	  b;

	assert_int_equal(local_forward_read(f->home, uid, &t, &n, res), 0);
	assert_int_equal(res->status, LOCAL_OK);
	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i > 0 ? "|" : "", t[i]);
	local_forward_free(t, n);
	return b.cap > 0 ? b.data : xstrdup("");
}

static void
assert_ignored(struct fwd *f, uid_t uid, const char *why)
{
	struct local_result	 res;
	char			*got = fwd_read(f, uid, &res);

	assert_string_equal(got, "");
	free(got);
	if (strstr(res.text, "ignoring") == NULL ||
	    strstr(res.text, why) == NULL)
		fail_msg("expected \"ignoring ...%s...\", got \"%s\"", why,
		    res.text);
}

static void
test_forward_missing_and_normal(void **state)
{
	struct fwd		 f;
	struct local_result	 res;
	char			*got;

	(void)state;
	fwd_init(&f);
	got = fwd_read(&f, getuid(), &res);
	assert_string_equal(got, "");
	assert_string_equal(res.text, "");
	free(got);

	write_file(f.path, "# a comment\n"
	    "alice@example.org, \\bob\n"
	    "\"|/usr/bin/procmail -f-\", \"/var/mail/x, y\"\r\n"
	    "\n"
	    "   # indented comment\n"
	    "  carol  ,\n"
	    "|/usr/bin/vacation -a x", 0644);
	got = fwd_read(&f, getuid(), &res);
	assert_string_equal(got, "alice@example.org|\\bob|"
	    "|/usr/bin/procmail -f-|/var/mail/x, y|carol|"
	    "|/usr/bin/vacation -a x");
	assert_string_equal(res.text, "");
	free(got);
	/* an :include: is not followed from a .forward: the file is
	 * ignored (the mail goes to the mailbox) */
	write_file(f.path, "carol\n:include:/etc/list\n", 0644);
	got = fwd_read(&f, getuid(), &res);
	assert_string_equal(got, "");
	assert_non_null(strstr(res.text, "an :include: is not followed"));
	free(got);
}

static void
test_forward_unsafe(void **state)
{
	struct fwd	f;
	char		other[160], *big;
	size_t		i;

	(void)state;
	fwd_init(&f);
	write_file(f.path, "alice@example.org\n", 0664);
	assert_ignored(&f, getuid(), "writable by group or others");
	write_file(f.path, "alice@example.org\n", 0606);
	assert_ignored(&f, getuid(), "writable by group or others");

	unlink(f.path);
	bsnprintf(other, sizeof(other), "%s/other", f.home);
	write_file(other, "alice@example.org\n", 0644);
	assert_int_equal(symlink(other, f.path), 0);
	assert_ignored(&f, getuid(), "symbolic link");
	unlink(f.path);

	assert_int_equal(mkdir(f.path, 0755), 0);
	assert_ignored(&f, getuid(), "not a regular file");
	rmdir(f.path);
	assert_int_equal(mkfifo(f.path, 0644), 0);
	assert_ignored(&f, getuid(), "not a regular file");
	unlink(f.path);

	write_file(f.path, "alice@example.org\n\"|/bin/cat\n", 0644);
	assert_ignored(&f, getuid(), "line 2: bad quoting");

	/* 64 KiB is fine, one byte more is not. */
	big = xmalloc(LOCAL_FORWARD_MAX + 2);
	for (i = 0; i < LOCAL_FORWARD_MAX; i++)
		big[i] = i % 128 == 127 ? '\n' : 'a';
	big[LOCAL_FORWARD_MAX] = '\0';
	write_file(f.path, big, 0644);
	{
		struct local_result	 res;
		char			*got = fwd_read(&f, getuid(), &res);

		assert_true(strlen(got) > 60000);
		assert_string_equal(res.text, "");
		free(got);
	}
	big[LOCAL_FORWARD_MAX] = 'a';
	big[LOCAL_FORWARD_MAX + 1] = '\0';
	write_file(f.path, big, 0644);
	assert_ignored(&f, getuid(), "larger than 64 KiB");
	free(big);
}

static void
test_forward_owner(void **state)
{
	struct fwd		 f;
	struct local_result	 res;
	char			*got;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: owners cannot be changed\n");
		skip();
	}
	fwd_init(&f);
	write_file(f.path, "alice@example.org\n", 0644);
	/* Owned by root: accepted for any user. */
	got = fwd_read(&f, 1000, &res);
	assert_string_equal(got, "alice@example.org");
	free(got);
	/* Owned by another user: ignored. */
	assert_int_equal(chown(f.path, 65534, 65534), 0);
	assert_ignored(&f, 1000, "owned by another user");
	got = fwd_read(&f, 65534, &res);
	assert_string_equal(got, "alice@example.org");
	free(got);
}

/* The test program run as a command: writes its environment. */
static int
dump_env(const char *path)
{
	FILE	*fp = fopen(path, "w");
	char	**e;

	if (fp == NULL)
		return 1;
	for (e = environ; *e != NULL; e++)
		fprintf(fp, "%s\n", *e);
	return fclose(fp) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipe_stdin, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_exit_codes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_environment, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_shell, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_edges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_forward_missing_and_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_unsafe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward_owner, setup,
		    teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--dump-env") == 0)
		_exit(dump_env(argv[2]));
	if (realpath("/proc/self/exe", self) == NULL)
		return 1;
	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
