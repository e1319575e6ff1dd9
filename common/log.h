/*
 * log.h - logging for every strictmail process.
 *
 * Lines go to syslog (facility mail, tag "strictmail/<proc>[pid]") or, in
 * foreground mode, to stderr as "<time> strictmail/<proc>[pid]: <text>".
 * Only the parent (or a process run alone) talks to syslog: it sends its
 * own RFC 3164 datagrams to /dev/log and connects again when the syslog
 * daemon has re-created the socket (a restart); a line that cannot be sent
 * (no socket, or a socket still full after a second) is lost, and the
 * count is logged with the next line that gets through.  A child, chrooted
 * or not, writes every line to the parent's log pipe (log_set_output) as
 * "<severity>" and its foreground line, and the parent passes it on to
 * stderr, or to syslog with the child's tag, pid and severity
 * (log_relay_*).  fatal() appends strerror(errno); fatalx() does not.
 * Both log at LOG_CRIT and exit(1): they are for impossible states and
 * malformed messages from a peer process, never for bad network input.
 */
#ifndef SM_LOG_H
#define SM_LOG_H

#include <stdarg.h>

#define SM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SM_NORETURN __attribute__((noreturn))

void log_init(const char *procname, int foreground, int verbose);
void log_setproc(const char *procname);      /* after fork: the child's name */
/* A child: every line goes to fd, its parent's log pipe, in both modes;
 * a relay inherited from the parent is forgotten (neither read nor
 * closed: the child closes what it does not keep), and the parent's
 * syslog socket is closed. */
void log_set_output(int fd);
/* The descriptor of log_set_output, -1 if none (a grandchild keeps it). */
int log_output(void);
const char *log_procname(void);

void log_info(const char *fmt, ...) SM_PRINTF(1, 2);
void log_notice(const char *fmt, ...) SM_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) SM_PRINTF(1, 2);
void log_warn(const char *fmt, ...) SM_PRINTF(1, 2);   /* appends ": strerror(errno)" */
void log_debug(const char *fmt, ...) SM_PRINTF(1, 2);  /* only when verbose */
void fatal(const char *fmt, ...) SM_PRINTF(1, 2) SM_NORETURN;
void fatalx(const char *fmt, ...) SM_PRINTF(1, 2) SM_NORETURN;

/*
 * The parent's relay of its children's log pipe (strictmaild(8) "LOGGING"):
 * log_relay_start takes the non-blocking read end; log_relay_read passes on
 * every complete line waiting (to stderr in foreground mode, without the
 * "<severity>"; else to syslog with the child's tag, pid and severity; a
 * line in another form, such as a sanitizer report, as it is), with
 * control bytes made '?', and returns 1, or 0 once every writer is gone;
 * every line this process logs first calls it, so that what children
 * wrote before comes first.  log_relay_end passes on the rest (a bounded
 * amount, should a writer still be there) and closes.  A child that writes
 * faster than the parent passes on waits in write() once the pipe is full:
 * memory stays bounded, and no line is dropped on the way to the parent.
 */
void log_relay_start(int fd);
int log_relay_read(void);
void log_relay_end(void);

#endif
