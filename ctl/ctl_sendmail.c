/*
 * ctl_sendmail.c - sendmail(8), mailq and newaliases (see ctl_sendmail.h):
 * the command line (sendmail_args), the message (submit_msg), the
 * maildrop head (maildrop_put), and the drop itself: maildrop_write when
 * the caller may write maildrop/, else the setgid helper.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/util.h"
#include "ctl/ctl_sendmail.h"
#include "ctl/maildrop_write.h"
#include "ctl/sendmail_args.h"
#include "ctl/sendmail_smtp.h"
#include "ctl/submit_msg.h"
#include "lookup/map.h"
#include "lookup/sender.h"
#include "queue/maildrop.h"
#include "smtpd/smtp_parse.h"

#ifndef SM_SYSCONFDIR
#define SM_SYSCONFDIR	"/etc/strictmail"
#endif
#ifndef SM_SBINDIR
#define SM_SBINDIR	"/usr/local/sbin"
#endif
#define SENDMAIL_CONF		SM_SYSCONFDIR "/strictmail.conf"
#define SENDMAIL_POSTDROP	SM_SBINDIR "/strictmail-postdrop"
#define SENDMAIL_SLACK		(64 * 1024)	/* input over the limit read
						   before refusing (Bcc lines
						   and line ends shrink) */

#define SENDMAIL_DROP_FAILED	"cannot write into maildrop/: not queued"

struct sendmail {
	struct sendmail_args	 a;
	struct config		 cfg;
	const char		*conf;		/* -C, or NULL: the default */
	char			*login;
	char			*fullname;	/* -F, else GECOS; "" none */
	char			*from;		/* login@origin */
};

static int
sendmail_err(int code, const char *fmt, ...) SM_PRINTF(2, 3);

static int
sendmail_err(int code, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return code;
}

static void
sendmail_verbose(const struct sendmail *sm, const char *fmt, ...)
    SM_PRINTF(2, 3);

static void
sendmail_verbose(const struct sendmail *sm, const char *fmt, ...)
{
	va_list	ap;

	if (!sm->a.verbose)
		return;
	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

int
ctl_sendmail_name(const char *argv0)
{
	const char	*base = strrchr(argv0, '/');

	base = base == NULL ? argv0 : base + 1;
	return strcmp(base, "sendmail") == 0 || strcmp(base, "mailq") == 0 ||
	    strcmp(base, "newaliases") == 0;
}

/* ---- configuration and identity ---- */

/* -C, else the default file; a missing default file means the defaults. */
static int
sendmail_config(struct sendmail *sm)
{
	char	err[1024];

	config_init(&sm->cfg);
	if (sm->conf == NULL && access(SENDMAIL_CONF, F_OK) == -1 &&
	    errno == ENOENT) {
		config_finish(&sm->cfg);
		return 0;
	}
	if (config_load(&sm->cfg, sm->conf != NULL ? sm->conf : SENDMAIL_CONF,
	    err, sizeof(err)) == -1)
		return sendmail_err(EX_CONFIG, "%s", err);
	return 0;
}

/* The GECOS full name: its first field, '&' the capitalized login; ""
 * when it holds a control byte. */
static char *
sendmail_gecos(const struct passwd *pw)
{
	struct buf	 b;
	const char	*p;
	char		*s;

	buf_init(&b);
	for (p = pw->pw_gecos != NULL ? pw->pw_gecos : ""; *p != '\0' &&
	    *p != ','; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			buf_free(&b);
			return xstrdup("");
		}
		if (*p != '&') {
			buf_addch(&b, *p);
			continue;
		}
		buf_addch(&b, pw->pw_name[0] >= 'a' && pw->pw_name[0] <= 'z' ?
		    (char)(pw->pw_name[0] - 'a' + 'A') : pw->pw_name[0]);
		if (pw->pw_name[0] != '\0')
			buf_addstr(&b, pw->pw_name + 1);
	}
	buf_addch(&b, '\0');
	s = xstrdup(b.data);
	buf_free(&b);
	if (strlen(s) > SUBMIT_NAME_MAX)
		s[SUBMIT_NAME_MAX] = '\0';
	return s;
}

static int
sendmail_identity(struct sendmail *sm)
{
	struct passwd	*pw;
	struct buf	 b;

	errno = 0;
	if ((pw = getpwuid(getuid())) == NULL)
		return sendmail_err(EX_NOUSER, "who are you? (uid %lu has no "
		    "passwd entry)", (unsigned long)getuid());
	sm->login = xstrdup(pw->pw_name);
	sm->fullname = sm->a.fullname != NULL ? xstrdup(sm->a.fullname) :
	    sendmail_gecos(pw);
	buf_init(&b);
	buf_printf(&b, "%s@%s", sm->login, config_origin(&sm->cfg));
	sm->from = xstrdup(b.data);
	buf_free(&b);
	return 0;
}

/* ---- the drop ---- */

/* 1 when the caller may create files in maildrop/ itself. */
static int
sendmail_can_write(const struct sendmail *sm, char *dir, size_t dirlen)
{
	if (!bsnprintf(dir, dirlen, "%s/" MAILDROP_WRITE_DIR, sm->cfg.spool))
		return 0;
	return access(dir, W_OK | X_OK) == 0;
}

static int
sendmail_drop_direct(const struct sendmail *sm, const struct buf *file)
{
	struct maildrop_write	w;
	char			err[1300];
	int			rc;

	if ((rc = maildrop_write_open(&w, sm->cfg.spool, err,
	    sizeof(err))) != 0)
		return sendmail_err(rc, "%s", err);
	if ((rc = maildrop_write_data(&w, file->data, file->len, err,
	    sizeof(err))) != 0) {
		maildrop_write_abort(&w);
		return sendmail_err(rc, "%s", err);
	}
	if ((rc = maildrop_write_commit(&w, err, sizeof(err))) != 0)
		return sendmail_err(rc, "%s", err);
	sendmail_verbose(sm, "queued as %s", w.mpath);
	return 0;
}

/* The helper's exit status as ours. */
static int
sendmail_helper_status(const char *path, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return sendmail_err(WEXITSTATUS(st), "%s failed (exit %d): "
		    "not queued", path, WEXITSTATUS(st));
	return sendmail_err(EX_TEMPFAIL, "%s killed by signal %d: not "
	    "queued", path, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The child: the read end of the pipe as stdin, an empty environment.
 * -C only for a helper without the setgid bit (it refuses it then). */
static void
sendmail_helper_exec(const struct sendmail *sm, const char *path, int rfd)
{
	char *const	 envp[] = { NULL };
	char		*argv[4] = { "strictmail-postdrop", NULL, NULL, NULL };
	struct stat	 st;

	if (sm->conf != NULL && stat(path, &st) == 0 &&
	    (st.st_mode & S_ISGID) == 0) {
		argv[1] = "-C";
		argv[2] = (char *)(uintptr_t)sm->conf;
	}
	if (dup2(rfd, STDIN_FILENO) == -1)
		_exit(EX_OSERR);
	if (rfd != STDIN_FILENO)
		(void)close(rfd);
	execve(path, argv, envp);
	fprintf(stderr, "sendmail: cannot run %s: %s\n", path,
	    strerror(errno));
	_exit(errno == ENOENT || errno == EACCES ? EX_UNAVAILABLE :
	    EX_OSERR);
}

static int
sendmail_drop_helper(const struct sendmail *sm, const struct buf *file)
{
	const char	*path = sm->cfg.postdrop != NULL ? sm->cfg.postdrop :
			    SENDMAIL_POSTDROP;
	pid_t		 pid;
	int		 p[2], st, werr = 0;

	sendmail_verbose(sm, "running %s", path);
	if (pipe2(p, O_CLOEXEC) == -1)
		return sendmail_err(EX_OSERR, "pipe: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		(void)close(p[0]);
		(void)close(p[1]);
		return sendmail_err(EX_TEMPFAIL, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		(void)close(p[1]);
		sendmail_helper_exec(sm, path, p[0]);
	}
	(void)close(p[0]);
	if (write_all(p[1], file->data, file->len) == -1)
		werr = errno;	/* the helper ended early: its status says */
	(void)close(p[1]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return sendmail_err(EX_OSERR, "waitpid: %s",
			    strerror(errno));
	if (werr != 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return sendmail_err(EX_IOERR, "writing to %s: %s", path,
		    strerror(werr));
	if ((st = sendmail_helper_status(path, st)) == 0)
		sendmail_verbose(sm, "queued by %s", path);
	return st;
}

static int
sendmail_drop(const struct sendmail *sm, const struct buf *file)
{
	char	dir[1100];

	if (sendmail_can_write(sm, dir, sizeof(dir))) {
		sendmail_verbose(sm, "writing into %s", dir);
		return sendmail_drop_direct(sm, file);
	}
	return sendmail_drop_helper(sm, file);
}

/* ---- the envelope ---- */

/* A mailbox for the head: "<addr>" parsed as a path; 0 or -1. */
static int
sendmail_addr_ok(const char *addr, int null_ok)
{
	struct smtp_path	 p;
	struct buf		 b;
	const char		*end;
	int			 ok;

	if (null_ok && addr[0] == '\0')
		return 0;
	buf_init(&b);
	buf_printf(&b, "<%s>", addr);
	ok = smtp_parse_path(b.data, SMTP_PATH_UTF8, &p, &end) == PATH_OK &&
	    *end == '\0' && strcmp(p.addr, addr) == 0 &&
	    strlen(addr) <= MAILDROP_ADDR_MAX;
	buf_free(&b);
	return ok ? 0 : -1;
}

/* xtext (RFC 3461 4) of the -V value. */
static char *
sendmail_xtext(const char *s)
{
	struct buf	b;
	char		*x;

	buf_init(&b);
	for (; *s != '\0'; s++) {
		if (*s < '!' || *s > '~' || *s == '+' || *s == '=')
			buf_printf(&b, "+%02X", (unsigned char)*s);
		else
			buf_addch(&b, *s);
	}
	buf_addch(&b, '\0');
	x = xstrdup(b.data);
	buf_free(&b);
	return x;
}

static unsigned
sendmail_notify(unsigned n)
{
	return ((n & SENDMAIL_NOTIFY_NEVER) ? MAILDROP_NOTIFY_NEVER : 0) |
	    ((n & SENDMAIL_NOTIFY_SUCCESS) ? MAILDROP_NOTIFY_SUCCESS : 0) |
	    ((n & SENDMAIL_NOTIFY_FAILURE) ? MAILDROP_NOTIFY_FAILURE : 0) |
	    ((n & SENDMAIL_NOTIFY_DELAY) ? MAILDROP_NOTIFY_DELAY : 0);
}

/* The envelope options of the command line into e. */
static void
sendmail_env_opts(const struct sendmail *sm, struct maildrop_env *e,
    int eightbit)
{
	e->notify = sendmail_notify(sm->a.notify);
	e->ret = sm->a.ret == SENDMAIL_RET_FULL ? MAILDROP_RET_FULL :
	    sm->a.ret == SENDMAIL_RET_HDRS ? MAILDROP_RET_HDRS :
	    MAILDROP_RET_UNSET;
	e->body = sm->a.body == SENDMAIL_BODY_7BIT ? MAILDROP_BODY_7BIT :
	    sm->a.body == SENDMAIL_BODY_8BITMIME || eightbit ?
	    MAILDROP_BODY_8BITMIME : MAILDROP_BODY_UNSET;
	e->envid = sm->a.envid != NULL ? sendmail_xtext(sm->a.envid) : NULL;
}

/*
 * With a sender-login-map, strictmaild takes a -f sender only when the
 * map lists it for the user, and moves any other file to corrupt/ at
 * pickup.  When the caller can read the map, say so now instead: 0, or
 * EX_NOPERM with the reason in why.  A map that cannot be read is left
 * to the daemon, which decides in any case.
 */
static int
sendmail_sender_allowed(const struct sendmail *sm, const char *sender,
    char *why, size_t whylen)
{
	struct sender_rule	 rule;
	struct map		*m;
	char			 path[PATH_MAX], err[512];
	enum sender_result	 v;

	if (sm->cfg.sender_login_map == NULL || config_map_db(
	    sm->cfg.sender_login_map, path, sizeof(path)) == NULL)
		return 0;
	if ((m = map_open(path, err, sizeof(err))) == NULL)
		return 0;
	memset(&rule, 0, sizeof(rule));
	rule.map = m;
	rule.delimiter = sm->cfg.recipient_delimiter != NULL ?
	    sm->cfg.recipient_delimiter : "";
	rule.hostname = sm->cfg.hostname;
	v = sender_check(&rule, sm->login, sender, err, sizeof(err));
	map_close(m);
	if (v != SENDER_REFUSED)
		return 0;
	(void)bsnprintf(why, whylen, "sender %.300s is not allowed for %s "
	    "(sender-login-map %s)", sender, sm->login,
	    sm->cfg.sender_login_map);
	return EX_NOPERM;
}

/*
 * Canonicalizes in, checks the envelope (sender, rcpts: those given and,
 * with extract, those of the header), builds the file and drops it.
 * 0, or the sysexits code after a message.
 */
static int
sendmail_submit(const struct sendmail *sm, const char *sender,
    char *const *rcpts, size_t nrcpts, const char *in, size_t len,
    int ignore_dots, int extract, int eightbit, char *why, size_t whylen)
{
	struct submit_params	 p;
	struct submit_result	 r;
	struct maildrop_env	 e;
	struct buf		 file;
	struct tm		 tm;
	char			 err[512], **all;
	size_t			 i, n = 0;
	int			 rc;

	memset(&p, 0, sizeof(p));
	p.ignore_dots = ignore_dots;
	p.extract_rcpts = extract;
	p.max_size = sm->cfg.max_message_size;
	p.now = time(NULL);
	p.gmtoff = localtime_r(&p.now, &tm) != NULL ? tm.tm_gmtoff : 0;
	p.hostname = sm->cfg.hostname;
	p.pid = getpid();
	p.from_addr = sm->from;
	p.from_name = sm->fullname;
	if ((rc = submit_msg_canon(&p, in, len, &r, err, sizeof(err))) != 0) {
		(void)bsnprintf(why, whylen, "%s", err);
		return rc;
	}
	all = xreallocarray(NULL, nrcpts + r.nrcpts + 1, sizeof(*all));
	for (i = 0; i < nrcpts; i++)
		all[n++] = rcpts[i];
	for (i = 0; i < r.nrcpts; i++)
		all[n++] = r.rcpts[i];
	rc = 0;
	if (n == 0)
		rc = EX_DATAERR, (void)bsnprintf(why, whylen, "no recipients "
		    "found (none given, none in To, Cc or Bcc)");
	else if (n > MAILDROP_RCPT_MAX)
		rc = EX_DATAERR, (void)bsnprintf(why, whylen, "too many "
		    "recipients (%zu, at most %d)", n, MAILDROP_RCPT_MAX);
	for (i = 0; rc == 0 && i < n; i++)
		if (sendmail_addr_ok(all[i], 0) == -1)
			rc = i < nrcpts ? EX_USAGE : EX_DATAERR,
			(void)bsnprintf(why, whylen, "bad recipient address: "
			    "%.300s", all[i]);
	if (rc == 0 && sender != NULL && sendmail_addr_ok(sender, 1) == -1)
		rc = EX_USAGE, (void)bsnprintf(why, whylen,
		    "bad sender address: %.300s", sender);
	if (rc == 0 && sender != NULL)
		rc = sendmail_sender_allowed(sm, sender, why, whylen);
	memset(&e, 0, sizeof(e));
	e.sender = (char *)(uintptr_t)sender;
	e.rcpts = all;
	e.nrcpts = n;
	e.size = r.msg.len;
	sendmail_env_opts(sm, &e, eightbit);
	buf_init(&file);
	if (rc == 0 && maildrop_put(&file, &e, err, sizeof(err)) == -1)
		rc = EX_DATAERR, (void)bsnprintf(why, whylen, "%s", err);
	if (rc == 0) {
		buf_add(&file, r.msg.data, r.msg.len);
		rc = sendmail_drop(sm, &file);
		if (rc != 0)	/* the drop said why on stderr */
			(void)bsnprintf(why, whylen, SENDMAIL_DROP_FAILED);
	}
	buf_free(&file);
	free(e.envid);
	free(all);
	submit_result_free(&r);
	return rc;
}

/* ---- -bm ---- */

/* Standard input, at most max octets (more: EX_DATAERR). */
static int
sendmail_read_stdin(struct buf *in, uint64_t max)
{
	char	chunk[65536];
	ssize_t	n;

	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return sendmail_err(EX_IOERR, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			return 0;
		if (in->len + (uint64_t)n > max)
			return sendmail_err(EX_DATAERR, "message too large "
			    "(max-message-size is %llu bytes): not queued",
			    (unsigned long long)(max - SENDMAIL_SLACK));
		buf_add(in, chunk, (size_t)n);
	}
}

static int
sendmail_deliver(struct sendmail *sm)
{
	struct buf	in;
	char		why[600];
	int		rc;

	buf_init(&in);
	if ((rc = sendmail_read_stdin(&in, sm->cfg.max_message_size +
	    SENDMAIL_SLACK)) != 0) {
		buf_free(&in);
		return rc;
	}
	why[0] = '\0';
	rc = sendmail_submit(sm, sm->a.sender, sm->a.rcpts, sm->a.nrcpts,
	    in.data, in.len, sm->a.ignore_dots, sm->a.extract_rcpts, 0, why,
	    sizeof(why));
	buf_free(&in);
	if (rc != 0 && strcmp(why, SENDMAIL_DROP_FAILED) != 0)
		return sendmail_err(rc, "%s: not queued", why);
	return rc;
}

/* ---- -bs ---- */

/* One line of stdin into line (cut at max; *toolong then); -1 at EOF
 * before any byte, 1 at EOF after a last line without LF. */
static int
sendmail_getline(struct buf *line, size_t max, int *toolong)
{
	int	c;

	buf_reset(line);
	*toolong = 0;
	while ((c = getchar()) != EOF) {
		if (c == '\n') {
			if (line->len > 0 && line->data[line->len - 1] == '\r')
				line->data[--line->len] = '\0';
			return 0;
		}
		if (line->len < max)
			buf_addch(line, (char)c);
		else
			*toolong = 1;
	}
	return line->len > 0 ? 1 : -1;
}

static void
sendmail_smtp_out(struct buf *reply)
{
	if (reply->len > 0) {
		fwrite(reply->data, 1, reply->len, stdout);
		fflush(stdout);
	}
	buf_reset(reply);
}

/* The final dot: queue s's message, reply 250 or the refusal. */
static void
sendmail_smtp_queue(struct sendmail *sm, struct sendmail_smtp *s,
    struct buf *reply)
{
	char	why[600];
	int	rc;

	why[0] = '\0';
	rc = sendmail_submit(sm, s->sender, s->rcpts, s->nrcpts, s->data.data,
	    s->data.len, 1, 0, s->eightbit, why, sizeof(why));
	sendmail_smtp_queued(s, rc, why, "maildrop", reply);
}

static int
sendmail_bs(struct sendmail *sm)
{
	struct sendmail_smtp		s;
	struct buf			line, reply;
	enum sendmail_smtp_action	a = SENDMAIL_SMTP_REPLY;
	int				toolong, rc = 0;

	sendmail_smtp_init(&s, sm->cfg.hostname, sm->cfg.max_message_size);
	buf_init(&line);
	buf_init(&reply);
	sendmail_smtp_greeting(&s, &reply);
	sendmail_smtp_out(&reply);
	while (a != SENDMAIL_SMTP_QUIT) {
		if (sendmail_getline(&line, SENDMAIL_SMTP_LINE_MAX, &toolong) ==
		    -1) {
			if (s.state == SENDMAIL_SMTP_DATA)
				rc = sendmail_err(EX_DATAERR, "input ended "
				    "within DATA: that message is not queued");
			break;
		}
		a = sendmail_smtp_line(&s, line.data, line.len, toolong,
		    &reply);
		if (a == SENDMAIL_SMTP_QUEUE)
			sendmail_smtp_queue(sm, &s, &reply);
		sendmail_smtp_out(&reply);
	}
	sendmail_smtp_free(&s);
	buf_free(&line);
	buf_free(&reply);
	return rc;
}

/* ---- -bp, -bi, -q: strictmailctl's commands ---- */

static int
sendmail_ctl(const struct sendmail *sm, const char *cmd, int json)
{
	char	*av[6];
	int	 ac = 0;

	av[ac++] = "strictmailctl";
	if (sm->conf != NULL) {
		av[ac++] = "-f";
		av[ac++] = (char *)(uintptr_t)sm->conf;
	}
	av[ac++] = (char *)(uintptr_t)cmd;
	if (json)
		av[ac++] = "--json";
	av[ac] = NULL;
	sendmail_verbose(sm, "strictmailctl %s%s", cmd, json ? " --json" : "");
	return ctl_main(ac, av);
}

static void
sendmail_free(struct sendmail *sm)
{
	if (sm->cfg.spool != NULL)	/* sendmail_config ran */
		config_free(&sm->cfg);
	free(sm->login);
	free(sm->fullname);
	free(sm->from);
}

static int
sendmail_run(struct sendmail *sm)
{
	int	rc;

	switch (sm->a.mode) {
	case SENDMAIL_PRINTQ:
		return sendmail_ctl(sm, "queue", sm->a.json);
	case SENDMAIL_NEWALIASES:
		return sendmail_ctl(sm, "newaliases", 0);
	case SENDMAIL_FLUSH:
		return sendmail_ctl(sm, "flush", 0);
	case SENDMAIL_DELIVER:
	case SENDMAIL_SMTP:
		break;
	}
	if ((rc = sendmail_config(sm)) != 0 ||
	    (rc = sendmail_identity(sm)) != 0)
		return rc;
	return sm->a.mode == SENDMAIL_SMTP ? sendmail_bs(sm) :
	    sendmail_deliver(sm);
}

int
ctl_sendmail_main(int argc, char **argv)
{
	struct sendmail	sm;
	const char	*base = strrchr(argv[0], '/');
	char		err[1100];
	int		rc;

	base = base == NULL ? argv[0] : base + 1;
	if (strcmp(base, "newaliases") == 0)
		return ctl_main(argc, argv);	/* its own options (-f) */
	(void)signal(SIGPIPE, SIG_IGN);
	memset(&sm, 0, sizeof(sm));
	if (sendmail_args_parse(argc, argv, &sm.a, err, sizeof(err)) == -1)
		return sendmail_err(EX_USAGE, "%s", err);
	sm.conf = sm.a.config;
	rc = sendmail_run(&sm);
	sendmail_free(&sm);
	return rc;
}
