/*
 * local_pipe.c - delivery to a command: fork and exec with a clean
 * environment, the message on stdin, stdout on /dev/null and the first
 * line of stderr kept for the result.  A command without shell
 * metacharacters is split on blanks and executed directly; one with them
 * runs under /bin/sh -c.  The command gets its own process group, which is
 * killed when the time-out passes.  Exit codes follow sysexits(3).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/pidfd.h>
#include <sysexits.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/local.h"

#define LOCAL_PIPE_LINE		400	/* stderr text kept */
#define LOCAL_PIPE_POLL_MS	50	/* without a pidfd */

extern char **environ;

static const char local_pipe_meta[] = "|&;<>()$`\\\"'*?[]#~=%{}!\r\n";

struct local_pipe {
	const char	*command;
	char		*home;
	char		**argv;
	char		**envp;
	size_t		 nenv;
	pid_t		 pid;
	pid_t		 parent;	/* the delivering process */
	int		 in, err, pidfd;	/* our ends, -1 when closed */
	char		 line[LOCAL_PIPE_LINE];
	size_t		 linelen;
	int		 linedone;
	int		 status;
	int		 timedout;
	int		 lost;		/* waitpid failed */
};

static const struct {
	int		 code;
	const char	*name;
	const char	*enh;
} local_pipe_sysexits[] = {
	{ 64, "EX_USAGE", "5.3.0" },
	{ 65, "EX_DATAERR", "5.6.0" },
	{ 66, "EX_NOINPUT", "5.3.0" },
	{ 67, "EX_NOUSER", "5.1.1" },
	{ 68, "EX_NOHOST", "5.1.2" },
	{ 69, "EX_UNAVAILABLE", "5.3.0" },
	{ 70, "EX_SOFTWARE", "5.3.0" },
	{ 71, "EX_OSERR", "5.3.0" },
	{ 72, "EX_OSFILE", "5.3.5" },
	{ 73, "EX_CANTCREAT", "5.2.0" },
	{ 74, "EX_IOERR", "5.3.0" },
	{ 75, "EX_TEMPFAIL", "4.3.0" },
	{ 76, "EX_PROTOCOL", "5.5.0" },
	{ 77, "EX_NOPERM", "5.7.0" },
	{ 78, "EX_CONFIG", "5.3.5" },
};

/*
 * argv and environment, made before the fork.
 */

static void
local_pipe_argv(struct local_pipe *lp)
{
	char	*copy, *tok, *save;
	size_t	 n = 0;

	if (strpbrk(lp->command, local_pipe_meta) != NULL) {
		lp->argv = xcalloc(4, sizeof(char *));
		lp->argv[0] = xstrdup("/bin/sh");
		lp->argv[1] = xstrdup("-c");
		lp->argv[2] = xstrdup(lp->command);
		return;
	}
	copy = xstrdup(lp->command);
	lp->argv = xcalloc(strlen(copy) / 2 + 2, sizeof(char *));
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save))
		lp->argv[n++] = xstrdup(tok);
	free(copy);
}

static void
local_pipe_setenv(struct local_pipe *lp, const char *name, const char *value)
{
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "%s=%s", name, value);
	lp->envp[lp->nenv++] = b.data;
}

static void
local_pipe_env(struct local_pipe *lp, const struct local_msg *lm)
{
	struct passwd	*pw = getpwuid(getuid());
	char		 uid[32], *local, *at, *ext;

	bsnprintf(uid, sizeof(uid), "%lu", (unsigned long)getuid());
	lp->envp = xcalloc(12, sizeof(char *));
	local_pipe_setenv(lp, "PATH", "/usr/bin:/bin");
	lp->home = xstrdup(pw != NULL ? pw->pw_dir : "/");
	local_pipe_setenv(lp, "HOME", lp->home);
	local_pipe_setenv(lp, "USER", pw != NULL ? pw->pw_name : uid);
	local_pipe_setenv(lp, "LOGNAME", pw != NULL ? pw->pw_name : uid);
	local_pipe_setenv(lp, "SHELL", "/bin/sh");
	local_pipe_setenv(lp, "SENDER", lm->sender);
	local_pipe_setenv(lp, "RECIPIENT", lm->rcpt);
	local = xstrdup(lm->rcpt);
	if ((at = strrchr(local, '@')) != NULL)
		*at++ = '\0';
	local_pipe_setenv(lp, "LOCAL", local);
	local_pipe_setenv(lp, "DOMAIN", at != NULL ? at : "");
	if (local_config.delimiter[0] != '\0' &&
	    (ext = strpbrk(local, local_config.delimiter)) != NULL)
		local_pipe_setenv(lp, "EXTENSION", ext + 1);
	free(local);
}

static void
local_pipe_free(struct local_pipe *lp)
{
	size_t	i;

	for (i = 0; lp->argv != NULL && lp->argv[i] != NULL; i++)
		free(lp->argv[i]);
	free(lp->argv);
	for (i = 0; i < lp->nenv; i++)
		free(lp->envp[i]);
	free(lp->envp);
	free(lp->home);
	if (lp->in != -1)
		close(lp->in);
	if (lp->err != -1)
		close(lp->err);
	if (lp->pidfd != -1)
		close(lp->pidfd);
}

/*
 * The child.
 */

static void __attribute__((noreturn))
local_pipe_child(struct local_pipe *lp, int in, int err)
{
	sigset_t	 none;
	int		 null, e;

	setpgid(0, 0);
	/* A delivery killed (strictmaild stopping, local-delivery-timeout)
	 * takes its command with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != lp->parent)
		_exit(EX_TEMPFAIL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	null = open("/dev/null", O_WRONLY);
	if (null == -1 || dup2(in, 0) == -1 || dup2(null, 1) == -1 ||
	    dup2(err, 2) == -1)
		_exit(EX_TEMPFAIL);
	closefrom(3);
	if (chdir(lp->home) == -1 && chdir("/") == -1)
		_exit(EX_TEMPFAIL);
	environ = lp->envp;
	execvp(lp->argv[0], lp->argv);
	e = errno;
	dprintf(2, "cannot execute %s: %s\n", lp->argv[0], strerror(e));
	_exit(e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR ?
	    127 : EX_TEMPFAIL);
}

/* A descriptor at 3 or above (the child's 0, 1 and 2 stay free). */
static int
local_pipe_high(int fd)
{
	int	nfd;

	if (fd >= 3)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static int
local_pipe_start(struct local_pipe *lp, struct local_result *res)
{
	int	in[2], err[2];

	if (pipe2(in, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	in[0] = local_pipe_high(in[0]);
	err[1] = local_pipe_high(err[1]);
	lp->parent = getpid();
	lp->pid = in[0] == -1 || err[1] == -1 ? -1 : fork();
	if (lp->pid == 0)
		local_pipe_child(lp, in[0], err[1]);
	if (in[0] != -1)
		close(in[0]);
	if (err[1] != -1)
		close(err[1]);
	lp->in = in[1];
	lp->err = err[0];
	if (lp->pid == -1)
		goto fail;
	setpgid(lp->pid, lp->pid);
	lp->pidfd = pidfd_open(lp->pid, 0);
	fd_set_nonblock(lp->in);
	fd_set_nonblock(lp->err);
	return 0;
fail:
	local_result_set(res, LOCAL_TEMP, "4.3.0", "command %s: cannot start: %s",
	    lp->command, strerror(errno));
	return -1;
}

/*
 * The parent: feeds stdin, reads stderr, waits, within the deadline.
 */

static void
local_pipe_read_err(struct local_pipe *lp)
{
	char	buf[4096];
	ssize_t	n, i;

	while ((n = read(lp->err, buf, sizeof(buf))) > 0)
		for (i = 0; i < n && !lp->linedone; i++) {
			if (buf[i] == '\n')
				lp->linedone = 1;
			else if (lp->linelen + 1 < sizeof(lp->line))
				lp->line[lp->linelen++] = buf[i];
		}
	lp->line[lp->linelen] = '\0';
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		close(lp->err);
		lp->err = -1;
	}
}

/* Writes what it can of s->out from *pos; 1 when stdin is done with. */
static int
local_pipe_write(struct local_pipe *lp, struct local_msg_stream *s,
    size_t *pos)
{
	ssize_t	n;

	n = write(lp->in, s->out.data + *pos, s->out.len - *pos);
	if (n > 0)
		*pos += (size_t)n;
	else if (n == -1 && errno != EAGAIN && errno != EINTR)
		return 1;	/* EPIPE: the command stopped reading */
	return 0;
}

static int
local_pipe_exited(struct local_pipe *lp)
{
	pid_t	r;

	do
		r = waitpid(lp->pid, &lp->status, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		lp->lost = 1;	/* SIGCHLD ignored: the status is gone */
	return r == lp->pid || r == -1;
}

static void
local_pipe_kill(struct local_pipe *lp)
{
	kill(-lp->pid, SIGKILL);
	kill(lp->pid, SIGKILL);
	while (waitpid(lp->pid, &lp->status, 0) == -1 && errno == EINTR)
		;
}

static int
local_pipe_poll_ms(uint64_t deadline, int have_pidfd)
{
	uint64_t	now = now_ms(), left;

	if (deadline == 0)
		return have_pidfd ? -1 : LOCAL_PIPE_POLL_MS;
	left = deadline > now ? deadline - now : 0;
	if (!have_pidfd && left > LOCAL_PIPE_POLL_MS)
		left = LOCAL_PIPE_POLL_MS;
	return (int)left;
}

/* Runs the loop until the command exits or the time is up; -1 when the
 * content could not be read (the command is killed, res set). */
static int
local_pipe_run(struct local_pipe *lp, const struct local_msg *lm,
    uint64_t deadline, struct local_result *res)
{
	struct local_msg_stream	s;
	struct pollfd		pfd[3];
	size_t			pos = 0;
	nfds_t			n;
	int			rc = 0;

	local_msg_stream_init(&s, lm, 0);
	while (!local_pipe_exited(lp)) {
		if (deadline != 0 && now_ms() >= deadline) {
			lp->timedout = 1;
			local_pipe_kill(lp);
			break;
		}
		if (lp->in != -1 && pos == s.out.len) {
			pos = 0;
			if ((rc = local_msg_stream_next(&s)) != 1) {
				close(lp->in);
				lp->in = -1;
			}
			if (rc == -1) {
				local_result_set(res, LOCAL_TEMP, "4.3.0",
				    "command %s: cannot read the message: %s",
				    lp->command, strerror(errno));
				local_pipe_kill(lp);
				break;
			}
		}
		n = 0;
		if (lp->in != -1)
			pfd[n++] = (struct pollfd){ lp->in, POLLOUT, 0 };
		if (lp->err != -1)
			pfd[n++] = (struct pollfd){ lp->err, POLLIN, 0 };
		if (lp->pidfd != -1)
			pfd[n++] = (struct pollfd){ lp->pidfd, POLLIN, 0 };
		if (poll(pfd, n, local_pipe_poll_ms(deadline,
		    lp->pidfd != -1)) <= 0)
			continue;
		if (lp->in != -1 && local_pipe_write(lp, &s, &pos)) {
			close(lp->in);
			lp->in = -1;
		}
		if (lp->err != -1)
			local_pipe_read_err(lp);
	}
	if (lp->err != -1)
		local_pipe_read_err(lp);	/* what is there already */
	local_msg_stream_free(&s);
	return rc == -1 ? -1 : 0;
}

static void
local_pipe_result(struct local_pipe *lp, unsigned int timeout,
    struct local_result *res)
{
	const char	*name = "", *enh = "5.3.0";
	char		 detail[LOCAL_PIPE_LINE + 4];
	int		 code;
	size_t		 i;

	bsnprintf(detail, sizeof(detail), "%s%s", lp->linelen > 0 ? ": " : "",
	    lp->line);
	if (lp->lost) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "command %s: its exit status is lost: %s", lp->command,
		    strerror(ECHILD));
		return;
	}
	if (lp->timedout) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "command timed out after %u s (killed)%s", timeout, detail);
		return;
	}
	if (WIFSIGNALED(lp->status)) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "command killed by signal %d (%s)%s", WTERMSIG(lp->status),
		    strsignal(WTERMSIG(lp->status)), detail);
		return;
	}
	code = WEXITSTATUS(lp->status);
	if (code == 0) {
		local_result_set(res, LOCAL_OK, "2.0.0",
		    "delivered to command %s", lp->command);
		return;
	}
	for (i = 0; i < sizeof(local_pipe_sysexits) /
	    sizeof(local_pipe_sysexits[0]); i++)
		if (local_pipe_sysexits[i].code == code) {
			name = local_pipe_sysexits[i].name;
			enh = local_pipe_sysexits[i].enh;
		}
	local_result_set(res, code == EX_TEMPFAIL ? LOCAL_TEMP :
	    LOCAL_PERM, enh, "command %s with status %d%s%s%s%s",
	    code == EX_TEMPFAIL ? "failed" : "died", code,
	    name[0] != '\0' ? " (" : "", name, name[0] != '\0' ? ")" : "",
	    detail);
}

enum local_status
local_pipe_deliver(const struct local_msg *lm, const char *command,
    unsigned int timeout, struct local_result *res)
{
	struct local_pipe	lp;
	uint64_t		deadline;

	local_msg_signals();
	if (local_loop_check(lm, res) == -1)
		return res->status;
	memset(&lp, 0, sizeof(lp));
	lp.in = lp.err = lp.pidfd = -1;
	if (command[0] == '|')
		command++;
	while (*command == ' ' || *command == '\t')
		command++;
	lp.command = command;
	if (command[0] == '\0') {
		local_result_set(res, LOCAL_PERM, "5.3.5", "empty command");
		return res->status;
	}
	local_pipe_argv(&lp);
	local_pipe_env(&lp, lm);
	deadline = timeout == 0 ? 0 : now_ms() + (uint64_t)timeout * 1000;
	if (local_pipe_start(&lp, res) == 0 &&
	    local_pipe_run(&lp, lm, deadline, res) == 0)
		local_pipe_result(&lp, timeout, res);
	local_pipe_free(&lp);
	return res->status;
}
