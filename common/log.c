/*
 * log.c - logging for every strictmail process.
 *
 * Lines go to syslog (facility mail) or, in foreground mode, to stderr (or
 * the descriptor log_set_output names) with one write() of at most
 * PIPE_BUF bytes per line, so that processes sharing a pipe never
 * interleave within a line.  Control characters in the text become '?', so
 * that network input quoted in a message cannot forge extra log lines, and
 * overlong lines are cut.  The syslog ident lives in static storage because
 * openlog() keeps the pointer.
 *
 * The relay is the parent's side of its children's log pipe: it passes on
 * what the children wrote, line by line and in the order written, with
 * control characters made '?', and it drains the pipe before each of the
 * parent's own lines, so that a line a child wrote before something the
 * parent logs in answer comes first.
 */
#include <sys/uio.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOG_LINE_MAX	4096
#define LOG_PROC_MAX	32

static char	log_proc[LOG_PROC_MAX] = "strictmaild";
static char	log_ident[LOG_PROC_MAX + 16] = "strictmail/strictmaild";
static int	log_foreground = 1;
static int	log_verbose;
static int	log_out = STDERR_FILENO;	/* foreground lines go here */

/* The relay: a read end of the children's pipe, and a partial line. */
#define LOG_RELAY_BUF	(2 * PIPE_BUF)
#define LOG_RELAY_READS	32	/* reads per call, at most */
static int	log_relay_fd = -1;
static char	log_relay_buf[LOG_RELAY_BUF];
static size_t	log_relay_len;

static void log_vlog(int pri, const char *fmt, va_list ap) SM_PRINTF(2, 0);
static void log_vlog_errno(int pri, int err, const char *prefix,
    const char *fmt, va_list ap) SM_PRINTF(4, 0);

static void
log_set_names(const char *procname)
{
	size_t	i;

	for (i = 0; procname[i] != '\0' && i < sizeof(log_proc) - 1; i++)
		log_proc[i] = procname[i];
	log_proc[i] = '\0';
	/* Always fits: log_ident has room for the prefix and log_proc. */
	(void)bsnprintf(log_ident, sizeof(log_ident), "strictmail/%s",
	    log_proc);
}

void
log_init(const char *procname, int foreground, int verbose)
{
	log_set_names(procname);
	log_foreground = foreground;
	log_verbose = verbose;
	if (!log_foreground) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
	tzset();
}

void
log_setproc(const char *procname)
{
	log_set_names(procname);
	if (!log_foreground) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

void
log_set_output(int fd)
{
	log_out = fd;
	log_relay_fd = -1;	/* a relay inherited over fork is not ours */
	log_relay_len = 0;
}

const char *
log_procname(void)
{
	return log_proc;
}

/* Replaces control characters (and DEL) in s with '?'. */
static void
log_sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			*s = '?';
	}
}

static void
log_emit(int pri, const char *text)
{
	char		line[LOG_LINE_MAX + 128];
	char		stamp[32];
	struct tm	tm;
	time_t		now;
	int		n;
	ssize_t		w;
	int		saved = errno;

	if (log_relay_fd != -1)
		(void)log_relay_read();
	if (!log_foreground) {
		syslog(pri, "%s", text);
		errno = saved;
		return;
	}
	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s\n", stamp, log_ident,
	    (long)getpid(), text);
	if (n < 0) {
		errno = saved;
		return;
	}
	/* At most PIPE_BUF bytes: one write that a pipe keeps whole. */
	if ((size_t)n >= sizeof(line) || n > PIPE_BUF) {
		n = PIPE_BUF;
		line[n - 1] = '\n';
	}
	/* One write per line; a failed or short write has nowhere to go. */
	w = write(log_out, line, (size_t)n);
	(void)w;
	errno = saved;
}

static void
log_vlog(int pri, const char *fmt, va_list ap)
{
	log_vlog_errno(pri, 0, "", fmt, ap);
}

/* Formats prefix, the message and, if err is not 0, ": strerror(err)". */
static void
log_vlog_errno(int pri, int err, const char *prefix, const char *fmt,
    va_list ap)
{
	char	text[LOG_LINE_MAX];
	size_t	off;

	off = strlcpy(text, prefix, sizeof(text));
	if (off >= sizeof(text))
		off = sizeof(text) - 1;
	if (vsnprintf(text + off, sizeof(text) - off, fmt, ap) < 0)
		text[off] = '\0';
	if (err != 0) {
		strlcat(text, ": ", sizeof(text));
		strlcat(text, strerror(err), sizeof(text));
	}
	log_sanitize(text);
	log_emit(pri, text);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_NOTICE, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	log_vlog_errno(LOG_WARNING, err, "", fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	log_vlog_errno(LOG_CRIT, err, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog_errno(LOG_CRIT, 0, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- the relay (the parent's side of its children's log pipe) ---- */

void
log_relay_start(int fd)
{
	log_relay_fd = fd;
	log_relay_len = 0;
}

/* Passes on one line (without its newline) as it came, control bytes
 * made '?': to stderr in foreground mode, to syslog otherwise. */
static void
log_relay_line(char *s, size_t len)
{
	static char	nl[] = "\n";
	struct iovec	iov[2];
	size_t		i;
	ssize_t		w;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
	if (!log_foreground) {
		syslog(LOG_WARNING, "%.*s", (int)len, s);
		return;
	}
	/* One writev: the byte after a cut line is the next line's. */
	iov[0].iov_base = s;
	iov[0].iov_len = len;
	iov[1].iov_base = nl;
	iov[1].iov_len = 1;
	w = writev(log_out, iov, 2);
	(void)w;
}

/* Passes on the complete lines in the buffer; a full buffer without a
 * newline is cut into a line of its own, and so is the rest at the end. */
static void
log_relay_lines(int end)
{
	char	*nl;
	size_t	 off = 0, len;

	while ((nl = memchr(log_relay_buf + off, '\n',
	    log_relay_len - off)) != NULL) {
		len = (size_t)(nl - (log_relay_buf + off));
		log_relay_line(log_relay_buf + off, len);
		off += len + 1;
	}
	while (off < log_relay_len && (end ||
	    log_relay_len - off == sizeof(log_relay_buf))) {
		/* Cut: at most half the buffer, so that lines stay short. */
		len = log_relay_len - off;
		if (len > sizeof(log_relay_buf) / 2)
			len = sizeof(log_relay_buf) / 2;
		log_relay_line(log_relay_buf + off, len);
		off += len;
	}
	memmove(log_relay_buf, log_relay_buf + off, log_relay_len - off);
	log_relay_len -= off;
}

/*
 * Reads at most max chunks: 1 if there may be more, 0 when the pipe is
 * empty, -1 at its end (or on an error).  The bound keeps a child that
 * writes without pause from holding the parent here.
 */
static int
log_relay_pull(int max)
{
	ssize_t	n;
	int	i;

	for (i = 0; i < max; i++) {
		n = read(log_relay_fd, log_relay_buf + log_relay_len,
		    sizeof(log_relay_buf) - log_relay_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n > 0) {
			log_relay_len += (size_t)n;
			log_relay_lines(0);
			continue;
		}
		if (n == -1 && errno == EAGAIN)
			return 0;
		log_relay_lines(1);
		return -1;
	}
	return 1;
}

int
log_relay_read(void)
{
	int	saved = errno, rc;

	if (log_relay_fd == -1)
		return 0;
	rc = log_relay_pull(LOG_RELAY_READS);
	errno = saved;
	return rc != -1;
}

void
log_relay_end(void)
{
	if (log_relay_fd == -1)
		return;
	/* The writers are gone: the pipe holds a finite rest. */
	while (log_relay_pull(LOG_RELAY_READS) == 1)
		;
	log_relay_lines(1);
	close(log_relay_fd);
	log_relay_fd = -1;
	log_relay_len = 0;
}
