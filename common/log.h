/*
 * log.h - logging for every strictmail process.
 *
 * Lines go to syslog (facility mail, ident "strictmail/<proc>", with pid) or,
 * in foreground mode, to stderr as "<time> strictmail/<proc>[pid]: <text>".
 * log_init() opens the syslog socket at once (LOG_NDELAY), so a chrooted
 * process can log without a /dev/log of its own; if the syslog daemon
 * re-creates its socket later, a chrooted process cannot reconnect to it
 * (routing those lines through the parent is the fix; until then they are
 * lost).  In foreground mode children write to the parent's log pipe
 * (log_set_output).  fatal() appends strerror(errno); fatalx() does not.
 * Both log at LOG_CRIT and exit(1): they are for impossible states and
 * malformed messages from a peer process, never for bad network input.
 */
#ifndef SM_LOG_H
#define SM_LOG_H

#include <stdarg.h>

#define SM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SM_NORETURN __attribute__((noreturn))

void log_init(const char *procname, int foreground, int verbose);
void log_setproc(const char *procname);      /* after fork: reopen with the new ident */
/* Foreground lines go to fd instead of stderr (a child: its log pipe);
 * a relay inherited from the parent is forgotten (neither read nor
 * closed: the child closes what it does not keep). */
void log_set_output(int fd);
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
 * every complete line waiting (to stderr in foreground mode, else syslog),
 * with control bytes made '?', and returns 1, or 0 once every writer is
 * gone; every line this process logs first calls it, so that what children
 * wrote before comes first.  log_relay_end passes on the rest and closes.
 */
void log_relay_start(int fd);
int log_relay_read(void);
void log_relay_end(void);

#endif
