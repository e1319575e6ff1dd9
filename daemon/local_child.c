/*
 * local_child.c - one local delivery, in a child of the root parent that
 * becomes the target user before it touches anything (local_child.h).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/privsep.h"
#include "common/util.h"
#include "daemon/local_child.h"
#include "delivery/lmtp.h"
#include "delivery/local.h"

#define LC_CONTENT_FD	3
#define LC_RESULT_FD	4
#define LC_MAX_FORWARD	64	/* targets of one .forward */

const char *
local_task_kind_name(enum local_task_kind kind)
{
	switch (kind) {
	case LT_MBOX:		return "mbox";
	case LT_MAILDIR:	return "maildir";
	case LT_FILE:		return "file";
	case LT_PIPE:		return "pipe";
	case LT_LMTP:		return "lmtp";
	}
	return "?";
}

/* One result line; text is made one clean line. */
static void
lc_result(const struct local_result *res)
{
	struct buf	b;
	size_t		i, start;

	buf_init(&b);
	buf_printf(&b, "R %d %s ", (int)res->status,
	    res->enh[0] != '\0' ? res->enh : "-");
	start = b.len;
	buf_addstr(&b, res->text[0] != '\0' ? res->text : "-");
	for (i = start; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
			b.data[i] = ' ';
	buf_addstr(&b, "\n");
	(void)write_all(LC_RESULT_FD, b.data, b.len);
	buf_free(&b);
}

static void
lc_forward(const char *addr)
{
	struct buf	b;

	if (strpbrk(addr, " \t\r\n") != NULL)
		return;
	buf_init(&b);
	buf_printf(&b, "F %s\n", addr);
	(void)write_all(LC_RESULT_FD, b.data, b.len);
	buf_free(&b);
}

static void
lc_set(struct local_result *res, enum local_status st, const char *enh,
    const char *fmt, const char *arg)
{
	res->status = st;
	(void)strlcpy(res->enh, enh, sizeof(res->enh));
	(void)bsnprintf(res->text, sizeof(res->text), fmt, arg);
}

/* Every result line the task owes, all alike (a failure before the
 * agent ran); then the child ends. */
static void
lc_fail_all(const struct local_task_spec *t, const struct local_result *res)
{
	size_t	i;

	for (i = 0; i < t->nrcpts; i++)
		lc_result(res);
	_exit(0);
}

/* Descriptors: the content on 3, the result pipe on 4, nothing else
 * above; signals back to their defaults, none blocked. */
static void
lc_descriptors(int content, int result)
{
	sigset_t	none;
	int		sig, c, r;

	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if ((c = fcntl(content, F_DUPFD, 16)) == -1 ||
	    (r = fcntl(result, F_DUPFD, 16)) == -1 ||
	    dup2(c, LC_CONTENT_FD) == -1 || dup2(r, LC_RESULT_FD) == -1 ||
	    fcntl(LC_CONTENT_FD, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(LC_RESULT_FD, F_SETFD, FD_CLOEXEC) == -1)
		_exit(75);
	(void)close_range(LC_RESULT_FD + 1, ~0U, 0);
}

/* The target user's identity, checked; root is refused. */
static int
lc_identity(const struct local_task_spec *t, struct local_result *res)
{
	gid_t	groups[2];
	uid_t	ru, eu, su;
	gid_t	rg, eg, sg;
	int	ng = 0;

	if (!t->privileged)
		return 0;
	if (t->uid == 0) {
		lc_set(res, LOCAL_TEMP, "4.3.0", "refusing to deliver as "
		    "root (%s)", t->user);
		return -1;
	}
	groups[ng++] = t->gid;
	if (t->extra_gid != (gid_t)-1 && t->extra_gid != t->gid)
		groups[ng++] = t->extra_gid;
	if (setgroups((size_t)ng, groups) == -1 ||
	    setresgid(t->gid, t->gid, t->gid) == -1 ||
	    setresuid(t->uid, t->uid, t->uid) == -1 ||
	    getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != t->uid || eu != t->uid || su != t->uid ||
	    rg != t->gid || eg != t->gid || sg != t->gid ||
	    setuid(0) != -1) {
		lc_set(res, LOCAL_TEMP, "4.3.0", "cannot take the identity "
		    "of %s", t->user);
		return -1;
	}
	return 0;
}

static void
lc_msg(const struct local_task_spec *t, const char *rcpt,
    struct local_msg *lm)
{
	memset(lm, 0, sizeof(*lm));
	lm->fd = LC_CONTENT_FD;
	lm->size = t->size;
	lm->sender = t->sender;
	lm->rcpt = rcpt;
	lm->hostname = t->hostname;
	lm->arrival = t->arrival;
}

/* The worse of two results stays in *acc. */
static void
lc_merge(struct local_result *acc, const struct local_result *r)
{
	static const int rank[] = { 0, 2, 1 };	/* ok < perm < temp */

	if (rank[r->status] > rank[acc->status])
		*acc = *r;
}

static void
lc_mailbox(const struct local_task_spec *t, const struct local_msg *lm,
    struct local_result *res)
{
	if (t->kind == LT_MAILDIR)
		(void)local_maildir_deliver(lm, t->path, res);
	else
		(void)local_mbox_deliver(lm, t->path, res);
}

/* One target of a .forward, run as the user: its mailbox (\user or its
 * own name), a file, a pipe; anything else is an address forwarded. */
static void
lc_forward_target(const struct local_task_spec *t, const struct local_msg *lm,
    const char *target, int *mailbox, struct local_result *acc)
{
	struct local_result	r;
	const char		*at = strrchr(lm->rcpt, '@');
	char			 addr[512];

	memset(&r, 0, sizeof(r));
	r.status = LOCAL_OK;
	if (target[0] == '\\' || strcmp(target, t->user) == 0) {
		if ((*mailbox)++ == 0)
			lc_mailbox(t, lm, &r);
	} else if (target[0] == '/')
		(void)local_file_deliver(lm, target, &r);
	else if (target[0] == '|')
		(void)local_pipe_deliver(lm, target + 1, t->command_timeout,
		    &r);
	else {
		if (strchr(target, '@') == NULL && at != NULL)
			(void)bsnprintf(addr, sizeof(addr), "%s%s", target, at);
		else
			(void)strlcpy(addr, target, sizeof(addr));
		lc_forward(addr);
	}
	lc_merge(acc, &r);
}

/* A user's mailbox, through ~/.forward when there is a safe one.  A
 * .forward that cannot be read for now defers; one that is ignored
 * (unsafe) is named in the mailbox's result, for the log. */
static void
lc_user(const struct local_task_spec *t, struct local_result *res)
{
	struct local_msg	 lm;
	char			**fw = NULL, note[sizeof(res->text)];
	size_t			 n = 0, i, len;
	int			 mailbox = 0;

	lc_msg(t, t->rcpts[0], &lm);
	memset(res, 0, sizeof(*res));
	res->status = LOCAL_OK;
	if (t->forward && t->home != NULL &&
	    local_forward_read(t->home, t->uid, &fw, &n, res) == -1)
		return;
	if (n > 0) {
		for (i = 0; i < n && i < LC_MAX_FORWARD; i++)
			lc_forward_target(t, &lm, fw[i], &mailbox, res);
		for (i = 0; i < n; i++)
			free(fw[i]);
		free(fw);
		if (res->status == LOCAL_OK && res->text[0] == '\0')
			(void)strlcpy(res->text, "delivered by ~/.forward",
			    sizeof(res->text));
		return;
	}
	(void)strlcpy(note, res->text, sizeof(note));
	res->status = LOCAL_OK;
	lc_mailbox(t, &lm, res);
	len = strlen(res->text);
	if (note[0] != '\0' && len < sizeof(res->text))
		(void)bsnprintf(res->text + len, sizeof(res->text) - len,
		    " (%s)", note);
}

static void
lc_lmtp(const struct local_task_spec *t)
{
	struct local_result	*res;
	struct local_msg	 lm;
	size_t			 i;

	res = xcalloc(t->nrcpts + 1, sizeof(*res));
	lc_msg(t, t->rcpts[0], &lm);
	(void)lmtp_deliver(t->path, &lm, t->rcpts, t->nrcpts,
	    t->command_timeout, res);
	for (i = 0; i < t->nrcpts; i++)
		lc_result(&res[i]);
	free(res);
}

static void lc_run(const struct local_task_spec *t) SM_NORETURN;

static void
lc_run(const struct local_task_spec *t)
{
	struct local_result	res;
	struct local_msg	lm;

	memset(&res, 0, sizeof(res));
	if (t->delimiter != NULL)
		(void)strlcpy(local_config.delimiter, t->delimiter,
		    sizeof(local_config.delimiter));
	if (lc_identity(t, &res) == -1)
		lc_fail_all(t, &res);
	umask(077);
	if (t->home == NULL || chdir(t->home) == -1)
		(void)chdir("/");
	switch (t->kind) {
	case LT_LMTP:
		lc_lmtp(t);
		_exit(0);
	case LT_MBOX:
	case LT_MAILDIR:
		lc_user(t, &res);
		break;
	case LT_FILE:
		lc_msg(t, t->rcpts[0], &lm);
		(void)local_file_deliver(&lm, t->path, &res);
		break;
	case LT_PIPE:
		lc_msg(t, t->rcpts[0], &lm);
		(void)local_pipe_deliver(&lm, t->path, t->command_timeout,
		    &res);
		break;
	}
	lc_result(&res);
	_exit(0);
}

pid_t
local_child_start(const struct local_task_spec *t, int *fd)
{
	pid_t	pid, parent = getpid();
	int	p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	(void)fflush(NULL);
	if ((pid = fork()) == -1) {
		(void)close(p[0]);
		(void)close(p[1]);
		return -1;
	}
	if (pid == 0) {
		privsep_detach(parent);
		lc_descriptors(t->content_fd, p[1]);
		lc_run(t);
	}
	(void)close(p[1]);
	if (fd_set_nonblock(p[0]) == -1) {
		(void)close(p[0]);
		(void)kill(pid, SIGKILL);
		return -1;
	}
	*fd = p[0];
	return pid;
}
