/*
 * ctl_passwd.c - reading a new password (echo off on a terminal, restored
 * on every path) and setting one user's line of the credentials source by
 * the commit rule (ctl_passwd.h).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "ctl/ctl_passwd.h"
#include "lookup/creds.h"

#define CTL_PASSWD_PIPE_MAX	(2 * (CREDS_PASSWORD_MAX + 2) + 1)

/* The terminal to restore from a signal handler. */
static struct termios		ctl_passwd_saved;
static volatile sig_atomic_t	ctl_passwd_tty = -1;

static const int ctl_passwd_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define CTL_PASSWD_NSIGS (sizeof(ctl_passwd_sigs) / sizeof(ctl_passwd_sigs[0]))

/* ---- the terminal ---- */

static void
ctl_passwd_onsig(int sig)
{
	if (ctl_passwd_tty != -1)
		(void)tcsetattr(ctl_passwd_tty, TCSAFLUSH, &ctl_passwd_saved);
	(void)write(STDERR_FILENO, "\n", 1);
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

/* Echo off, with the handlers that restore it; -1 when fd is no tty. */
static int
ctl_passwd_echo_off(int fd, struct sigaction *old)
{
	struct sigaction	sa;
	struct termios		t;
	size_t			i;

	if (tcgetattr(fd, &ctl_passwd_saved) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_passwd_onsig;
	(void)sigemptyset(&sa.sa_mask);
	ctl_passwd_tty = fd;
	for (i = 0; i < CTL_PASSWD_NSIGS; i++)
		(void)sigaction(ctl_passwd_sigs[i], &sa, &old[i]);
	t = ctl_passwd_saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	t.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &t) == -1)
		return -1;
	return 0;
}

static void
ctl_passwd_echo_on(int fd, const struct sigaction *old)
{
	size_t	i;

	(void)tcsetattr(fd, TCSAFLUSH, &ctl_passwd_saved);
	ctl_passwd_tty = -1;
	for (i = 0; i < CTL_PASSWD_NSIGS; i++)
		(void)sigaction(ctl_passwd_sigs[i], &old[i], NULL);
}

/* One line from the terminal, without its LF; -1 on EOF or an error. */
static int
ctl_passwd_tty_line(int fd, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	n = 0;
	ssize_t	r;
	char	c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			(void)bsnprintf(err, errlen, "no password read%s%s",
			    r == -1 ? ": " : "", r == -1 ? strerror(errno) :
			    "");
			return -1;
		}
		if (c == '\n')
			break;
		if (n + 1 < outlen)
			out[n] = c;
		n++;
	}
	if (n + 1 > outlen) {
		explicit_bzero(out, outlen);
		(void)bsnprintf(err, errlen, "password longer than %d bytes",
		    CREDS_PASSWORD_MAX);
		return -1;
	}
	out[n] = '\0';
	return 0;
}

static int
ctl_passwd_prompt(int fd, const char *prompt, char *out, size_t outlen,
    char *err, size_t errlen)
{
	int	rc;

	(void)write_all(STDERR_FILENO, prompt, strlen(prompt));
	rc = ctl_passwd_tty_line(fd, out, outlen, err, errlen);
	(void)write_all(STDERR_FILENO, "\n", 1);
	return rc;
}

static int
ctl_passwd_from_tty(int fd, char *out, size_t outlen, char *again,
    char *err, size_t errlen)
{
	struct sigaction	old[CTL_PASSWD_NSIGS];
	int			rc;

	if (ctl_passwd_echo_off(fd, old) == -1) {
		(void)bsnprintf(err, errlen, "terminal: %s", strerror(errno));
		ctl_passwd_echo_on(fd, old);
		return -1;
	}
	rc = ctl_passwd_prompt(fd, "New password: ", out, outlen, err, errlen);
	if (rc == 0)
		rc = ctl_passwd_prompt(fd, "Retype new password: ", again,
		    outlen, err, errlen);
	ctl_passwd_echo_on(fd, old);
	return rc;
}

/* ---- a pipe or file ---- */

/* Splits the next line off text (LF or CRLF); NULL at the end. */
static char *
ctl_passwd_next_line(char **text)
{
	char	*line = *text, *nl;
	size_t	 n;

	if (*line == '\0')
		return NULL;
	if ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		*text = nl + 1;
	} else
		*text = line + strlen(line);
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\r')
		line[n - 1] = '\0';
	return line;
}

static int
ctl_passwd_from_pipe(int fd, char *out, size_t outlen, char *again,
    char *err, size_t errlen)
{
	char	 text[CTL_PASSWD_PIPE_MAX + 1], *p = text, *l1, *l2;
	ssize_t	 r;
	int	 rc = -1;

	if ((r = read_full(fd, text, sizeof(text) - 1)) == -1) {
		(void)bsnprintf(err, errlen, "standard input: %s",
		    strerror(errno));
		return -1;
	}
	text[r] = '\0';
	if ((size_t)r == sizeof(text) - 1 || memchr(text, '\0', (size_t)r))
		(void)bsnprintf(err, errlen, "standard input: not one "
		    "password line (too long or binary)");
	else if ((l1 = ctl_passwd_next_line(&p)) == NULL)
		(void)bsnprintf(err, errlen, "no password read");
	else if ((l2 = ctl_passwd_next_line(&p)) != NULL && *p != '\0')
		(void)bsnprintf(err, errlen, "standard input: more than two "
		    "lines");
	else if (strlen(l1) >= outlen)
		(void)bsnprintf(err, errlen, "password longer than %d bytes",
		    CREDS_PASSWORD_MAX);
	else {
		(void)strlcpy(out, l1, outlen);
		(void)strlcpy(again, l2 != NULL ? l2 : l1, outlen);
		rc = 0;
	}
	explicit_bzero(text, sizeof(text));
	return rc;
}

int
ctl_passwd_read(int fd, char *out, size_t outlen, char *err, size_t errlen)
{
	char	*again;
	int	 rc;

	if (outlen > CREDS_PASSWORD_MAX + 1)
		outlen = CREDS_PASSWORD_MAX + 1;
	again = xcalloc(1, outlen);
	if (isatty(fd))
		rc = ctl_passwd_from_tty(fd, out, outlen, again, err, errlen);
	else
		rc = ctl_passwd_from_pipe(fd, out, outlen, again, err, errlen);
	if (rc == 0 && out[0] == '\0') {
		(void)bsnprintf(err, errlen, "empty password refused");
		rc = -1;
	} else if (rc == 0 && strcmp(out, again) != 0) {
		(void)bsnprintf(err, errlen, "the passwords do not match");
		rc = -1;
	}
	explicit_bzero(again, outlen);
	free(again);
	if (rc == -1)
		explicit_bzero(out, outlen);
	return rc;
}

/* ---- the file ---- */

/* The lower-cased user of a "user:hash" line, or "" for a comment,
 * a blank line or a line without a colon. */
static void
ctl_passwd_line_user(const char *s, size_t n, char *user, size_t userlen)
{
	const char	*colon;
	size_t		 ulen;

	user[0] = '\0';
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	if (n == 0 || *s == '#' || (colon = memchr(s, ':', n)) == NULL)
		return;
	ulen = (size_t)(colon - s);
	if (ulen >= userlen)
		return;
	memcpy(user, s, ulen);
	user[ulen] = '\0';
	(void)str_lower(user);
}

char *
ctl_passwd_edit(const char *src, size_t len, const char *user,
    const char *hash, int *added)
{
	struct buf	 b;
	const char	*nl;
	char		 u[CREDS_USER_MAX + 2], *want;
	size_t		 pos = 0, n;

	want = str_lower(xstrdup(user));
	*added = 1;
	buf_init(&b);
	while (pos < len) {
		nl = memchr(src + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (src + pos)) : len - pos;
		ctl_passwd_line_user(src + pos, n, u, sizeof(u));
		if (strcmp(u, want) != 0) {
			buf_add(&b, src + pos, n);
			buf_addch(&b, '\n');
		} else if (*added) {
			buf_printf(&b, "%s:%s\n", want, hash);
			*added = 0;
		}
		pos += n + 1;
	}
	if (*added)
		buf_printf(&b, "%s:%s\n", want, hash);
	free(want);
	buf_addch(&b, '\0');
	return b.data;
}

/* The old text (empty when the file is missing) and its facts. */
static int
ctl_passwd_load(const char *path, struct buf *b, struct stat *st,
    char *err, size_t errlen)
{
	int	rc;

	if ((rc = buf_read_file(b, path, CREDS_FILE_MAX, st, err,
	    errlen)) == -2) {
		memset(st, 0, sizeof(*st));
		st->st_uid = geteuid();
		st->st_gid = getegid();
		st->st_mode = S_IFREG | 0640;
		return 0;
	}
	return rc;
}

static int
ctl_passwd_fsync_dir(const char *path)
{
	char	*d = xstrdup(path);
	int	 fd, rc = -1;

	if ((fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		rc = fsync(fd);
		close(fd);
	}
	free(d);
	return rc;
}

/* Gives the new file the old one's owner and mode, writes, syncs,
 * closes; the step that failed, or NULL. */
static const char *
ctl_passwd_write(int fd, const char *text, const struct stat *st)
{
	const char	*what = NULL;

	if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) == -1)
		what = "chown";
	else if (fchmod(fd, st->st_mode & 0640) == -1)
		what = "chmod";
	else if (write_all(fd, text, strlen(text)) == -1)
		what = "write";
	else if (fsync(fd) == -1)
		what = "fsync";
	if (what != NULL) {
		close(fd);
		return what;
	}
	return close(fd) == -1 ? "close" : NULL;
}

/* Writes text to path by the commit rule. */
static int
ctl_passwd_commit(const char *path, const char *text, const struct stat *st,
    char *err, size_t errlen)
{
	const char	*what;
	size_t		 n = strlen(path) + 32;
	char		*tmp = xmalloc(n);
	int		 fd;

	(void)bsnprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	(void)unlink(tmp);	/* left by a dead process of this pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		what = "open";
	else if ((what = ctl_passwd_write(fd, text, st)) == NULL &&
	    rename(tmp, path) == -1)
		what = "rename";
	if (what != NULL) {
		(void)bsnprintf(err, errlen, "%s: %s: %s", tmp, what,
		    strerror(errno));
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (ctl_passwd_fsync_dir(path) == -1) {
		(void)bsnprintf(err, errlen, "%s: fsync of its folder: %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The lock on path's folder, held until the descriptor is closed. */
static int
ctl_passwd_lock(const char *path, char *err, size_t errlen)
{
	char	*d = xstrdup(path);
	int	 fd;

	if ((fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		(void)bsnprintf(err, errlen, "%s: lock: %s", d,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	free(d);
	return fd;
}

/* Checks the new text; its errors name path and the line. */
static int
ctl_passwd_valid(const char *path, const char *text, char *err,
    size_t errlen)
{
	struct creds_entry	*e;
	size_t			 n;

	if (creds_parse_buf(path, text, strlen(text), &e, &n, err,
	    errlen) == -1)
		return -1;
	creds_entries_free(e, n);
	return 0;
}

int
ctl_passwd_update(const char *path, const char *user, const char *hash,
    int *added, int (*compile)(const char *path, void *arg, char *err,
    size_t errlen), void *arg, char *err, size_t errlen)
{
	struct buf	 old;
	struct stat	 st;
	char		*text = NULL;
	int		 lock, rc = -1;

	if (!creds_user_ok(user)) {
		(void)bsnprintf(err, errlen, "%.300s: not a user name or "
		    "address", user);
		return -1;
	}
	if (creds_hash_refused(hash) != NULL) {
		(void)bsnprintf(err, errlen, "the new hash: %s",
		    creds_hash_refused(hash));
		return -1;
	}
	if ((lock = ctl_passwd_lock(path, err, errlen)) == -1)
		return -1;
	buf_init(&old);
	if (ctl_passwd_load(path, &old, &st, err, errlen) == 0) {
		text = ctl_passwd_edit(old.data != NULL ? old.data : "",
		    old.len, user, hash, added);
		if (ctl_passwd_valid(path, text, err, errlen) == 0 &&
		    ctl_passwd_commit(path, text, &st, err, errlen) == 0)
			rc = compile != NULL ? compile(path, arg, err,
			    errlen) : 0;
	}
	buf_free(&old);
	free(text);
	close(lock);
	return rc;
}
