/*
 * log.c - logging for every strictmail process.
 *
 * The parent (or a process started alone) sends its lines to syslog or, in
 * foreground mode, to stderr.  A child (log_set_output) writes every line
 * to its parent's log pipe instead, whatever the mode, as
 * "<severity>" and the foreground line, in one write() of at most
 * PIPE_BUF bytes, so that processes sharing the pipe never interleave
 * within a line.  Control characters in the text become '?', so that
 * network input quoted in a message cannot forge extra log lines, and
 * overlong lines are cut.
 *
 * Syslog is spoken here, not through syslog(3): the parent writes RFC 3164
 * datagrams ("<pri>Mmm dd hh:mm:ss tag[pid]: text", as glibc does) to
 * /dev/log from a socket of its own, with the tag and pid of the process
 * that wrote the line, and connects again when the syslog daemon has
 * re-created its socket.  A line that finds no socket, or a socket still
 * full after LOG_SYS_WAIT_MS, is lost and counted; the count is logged
 * before the next line that gets through.
 *
 * The relay is the parent's side of its children's log pipe: it passes on
 * what the children wrote, line by line and in the order written, with
 * control characters made '?', and it drains the pipe before each of the
 * parent's own lines, so that a line a child wrote before something the
 * parent logs in answer comes first.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
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
#define LOG_SYS_PATH	"/dev/log"
#define LOG_SYS_WAIT_MS	1000	/* a full syslog socket is waited for */
#define LOG_SYS_TRIES	3

static char	log_proc[LOG_PROC_MAX] = "strictmaild";
static char	log_ident[LOG_PROC_MAX + 16] = "strictmail/strictmaild";
static int	log_foreground = 1;
static int	log_verbose;
static int	log_out = -1;		/* a child's log pipe */

/* The syslog socket: connected to LOG_SYS_PATH, or -1. */
static int		log_sys_fd = -1;
static unsigned long	log_sys_lost;	/* lines lost since the last sent */
static int		log_sys_full;	/* the last line lost: socket full */

/* The relay: a read end of the children's pipe, and a partial line. */
#define LOG_RELAY_BUF	(2 * PIPE_BUF)
#define LOG_RELAY_READS	32	/* reads per call, at most */
#define LOG_RELAY_ENDS	64	/* calls at the end, at most */
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

static void
log_sys_close(void)
{
	if (log_sys_fd != -1)
		close(log_sys_fd);
	log_sys_fd = -1;
}

void
log_init(const char *procname, int foreground, int verbose)
{
	log_set_names(procname);
	log_foreground = foreground;
	log_verbose = verbose;
	tzset();
}

void
log_setproc(const char *procname)
{
	log_set_names(procname);
}

void
log_set_output(int fd)
{
	log_out = fd;
	log_relay_fd = -1;	/* a relay inherited over fork is not ours */
	log_relay_len = 0;
	log_sys_close();	/* nor is the parent's syslog socket */
	log_sys_lost = 0;
	log_sys_full = 0;
}

int
log_output(void)
{
	return log_out;
}

const char *
log_procname(void)
{
	return log_proc;
}

/* Replaces control characters (and DEL) in s[0..len) with '?'. */
static void
log_sanitize(char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			s[i] = '?';
	}
}

/* ---- syslog: RFC 3164 datagrams to /dev/log ---- */

static int
log_sys_connect(void)
{
	struct sockaddr_un	sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, LOG_SYS_PATH, sizeof(sun.sun_path));
	log_sys_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (log_sys_fd == -1)
		return -1;
	if (connect(log_sys_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_sys_close();
		return -1;
	}
	return 0;
}

/* Waits until the socket takes a datagram again; 1 if it does in time. */
static int
log_sys_wait(void)
{
	struct pollfd	pfd;
	uint64_t	end = now_ms() + LOG_SYS_WAIT_MS, now;
	int		n;

	pfd.fd = log_sys_fd;
	pfd.events = POLLOUT;
	while ((now = now_ms()) < end) {
		n = poll(&pfd, 1, (int)(end - now));
		if (n == -1 && errno == EINTR)
			continue;
		return n > 0;
	}
	return 0;
}

/*
 * Sends one datagram: 0, or -1 when it is lost.  A socket whose peer has
 * gone (the syslog daemon restarted: ECONNREFUSED, ENOTCONN, ...) is
 * connected again; a full one is waited for, unless the last line already
 * found it full, so that a stuck syslog daemon costs one wait, not one per
 * line.
 */
static int
log_sys_send(const char *d, size_t n)
{
	int	tries;

	for (tries = 0; tries < LOG_SYS_TRIES; tries++) {
		if (log_sys_fd == -1 && log_sys_connect() == -1)
			return -1;
		if (send(log_sys_fd, d, n, MSG_NOSIGNAL) != -1) {
			log_sys_full = 0;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS) {
			if (log_sys_full || !log_sys_wait()) {
				log_sys_full = 1;
				return -1;
			}
			continue;
		}
		log_sys_close();
	}
	return -1;
}

/* "Mmm dd hh:mm:ss" in local time, whatever the locale. */
static void
log_sys_stamp(char *buf, size_t size)
{
	static const char	months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm		tm;
	time_t			now = time(NULL);

	if (localtime_r(&now, &tm) == NULL || tm.tm_mon < 0 ||
	    tm.tm_mon > 11) {
		(void)strlcpy(buf, "Jan  1 00:00:00", size);
		return;
	}
	(void)bsnprintf(buf, size, "%s %2d %02d:%02d:%02d", months[tm.tm_mon],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One line, with the tag and pid of the process that wrote it. */
static int
log_sys_line(int sev, const char *tag, long pid, const char *text,
    size_t len)
{
	char	d[LOG_LINE_MAX + 128], stamp[32];
	int	n;

	log_sys_stamp(stamp, sizeof(stamp));
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	n = snprintf(d, sizeof(d), "<%d>%s %s[%ld]: %.*s", LOG_MAIL | sev,
	    stamp, tag, pid, (int)len, text);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(d))
		n = (int)sizeof(d) - 1;
	return log_sys_send(d, (size_t)n);
}

/* Sends a line, after the count of the lines lost before it, if any. */
static void
log_syslog(int sev, const char *tag, long pid, const char *text, size_t len)
{
	char	note[128];

	if (log_sys_lost > 0) {
		(void)bsnprintf(note, sizeof(note), "syslog: %lu lines lost: "
		    "the syslog socket was missing or full", log_sys_lost);
		if (log_sys_line(LOG_WARNING, log_ident, (long)getpid(), note,
		    strlen(note)) == -1) {
			log_sys_lost++;
			return;
		}
		log_sys_lost = 0;
	}
	if (log_sys_line(sev, tag, pid, text, len) == -1)
		log_sys_lost++;
}

/* ---- a process's own lines ---- */

/*
 * The foreground line, "<time> strictmail/<proc>[pid]: text\n", cut to
 * PIPE_BUF bytes with its newline; a child's starts with "<severity>".
 */
static size_t
log_format(char *line, size_t size, int pri, const char *text, int framed)
{
	char		stamp[32], sev[8] = "";
	struct tm	tm;
	time_t		now = time(NULL);
	int		n;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	if (framed)
		(void)bsnprintf(sev, sizeof(sev), "<%d>", LOG_PRI(pri));
	n = snprintf(line, size, "%s%s %s[%ld]: %s\n", sev, stamp, log_ident,
	    (long)getpid(), text);
	if (n < 0)
		return 0;
	/* At most PIPE_BUF bytes: one write that a pipe keeps whole. */
	if ((size_t)n >= size || n > PIPE_BUF) {
		n = PIPE_BUF;
		line[n - 1] = '\n';
	}
	return (size_t)n;
}

static void
log_emit(int pri, const char *text)
{
	char	line[LOG_LINE_MAX + 128];
	size_t	n;
	ssize_t	w;
	int	saved = errno;

	if (log_relay_fd != -1)
		(void)log_relay_read();
	if (log_out == -1 && !log_foreground) {
		log_syslog(LOG_PRI(pri), log_ident, (long)getpid(), text,
		    strlen(text));
		errno = saved;
		return;
	}
	n = log_format(line, sizeof(line), pri, text, log_out != -1);
	/* One write per line; a failed or short write has nowhere to go. */
	if (n > 0) {
		w = write(log_out != -1 ? log_out : STDERR_FILENO, line, n);
		(void)w;
	}
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
	log_sanitize(text, strlen(text));
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

/*
 * A child's line "<sev>stamp strictmail/proc[pid]: text": its severity,
 * where the foreground line starts, and its tag, pid and text; 0 if the
 * line is not one (a sanitizer report, a note of a test library).
 */
struct log_framed {
	int		 sev;
	const char	*line;		/* after "<sev>" */
	char		 tag[LOG_PROC_MAX + 16];
	long		 pid;
	const char	*text;
};

static int
log_relay_parse(const char *s, size_t len, struct log_framed *f)
{
	const char	*p, *end = s + len, *tag;
	size_t		 tlen;

	if (len < 3 || s[0] != '<' || s[1] < '0' || s[1] > '7' || s[2] != '>')
		return 0;
	f->sev = s[1] - '0';
	f->line = s + 3;
	if ((p = memchr(f->line, ' ', (size_t)(end - f->line))) == NULL)
		return 0;
	tag = ++p;
	if ((size_t)(end - p) < 11 || memcmp(p, "strictmail/", 11) != 0)
		return 0;
	for (p += 11; p < end && ((*p >= 'a' && *p <= 'z') ||
	    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'); p++)
		;
	tlen = (size_t)(p - tag);
	if (tlen == 11 || tlen >= sizeof(f->tag) || p == end || *p != '[')
		return 0;
	memcpy(f->tag, tag, tlen);
	f->tag[tlen] = '\0';
	for (f->pid = 0, p++; p < end && *p >= '0' && *p <= '9' &&
	    f->pid < 100000000; p++)
		f->pid = f->pid * 10 + (*p - '0');
	if (f->pid == 0 || end - p < 3 || memcmp(p, "]: ", 3) != 0)
		return 0;
	f->text = p + 3;
	return 1;
}

/* Passes on one line (without its newline), control bytes made '?': in
 * foreground mode to stderr as the child formatted it, else to syslog with
 * the child's tag, pid and severity.  Anything else is passed on as it is
 * (with the parent's tag and at warning level in syslog). */
static void
log_relay_line(char *s, size_t len)
{
	static char		nl[] = "\n";
	struct log_framed	f;
	struct iovec		iov[2];
	int			framed;
	ssize_t			w;

	log_sanitize(s, len);
	framed = log_relay_parse(s, len, &f);
	if (!log_foreground) {
		if (framed)
			log_syslog(f.sev, f.tag, f.pid, f.text,
			    (size_t)(s + len - f.text));
		else
			log_syslog(LOG_WARNING, log_ident, (long)getpid(), s,
			    len);
		return;
	}
	if (framed) {
		len -= (size_t)(f.line - s);
		s += f.line - s;
	}
	/* One writev: the byte after a cut line is the next line's. */
	iov[0].iov_base = s;
	iov[0].iov_len = len;
	iov[1].iov_base = nl;
	iov[1].iov_len = 1;
	w = writev(STDERR_FILENO, iov, 2);
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
	int	i;

	if (log_relay_fd == -1)
		return;
	/* The writers should be gone; one that is not (it could not be
	 * killed) does not keep the parent here. */
	for (i = 0; i < LOG_RELAY_ENDS; i++)
		if (log_relay_pull(LOG_RELAY_READS) != 1)
			break;
	log_relay_lines(1);
	close(log_relay_fd);
	log_relay_fd = -1;
	log_relay_len = 0;
}
