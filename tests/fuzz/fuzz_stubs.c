/*
 * fuzz_stubs.c - the logging functions of common/log.h for the fuzz
 * targets: silent, except fatal() and fatalx(), which print and abort so
 * that the fuzzer reports them.  log.h says they are never for bad
 * network input, so one reached from a fuzz input is a bug.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

void
log_init(const char *procname, int foreground, int verbose)
{
	(void)procname;
	(void)foreground;
	(void)verbose;
}

void
log_setproc(const char *procname)
{
	(void)procname;
}

const char *
log_procname(void)
{
	return "fuzz";
}

void log_info(const char *fmt, ...) { (void)fmt; }
void log_notice(const char *fmt, ...) { (void)fmt; }
void log_warnx(const char *fmt, ...) { (void)fmt; }
void log_warn(const char *fmt, ...) { (void)fmt; }
void log_debug(const char *fmt, ...) { (void)fmt; }

static void SM_NORETURN
fuzz_die(const char *fmt, va_list ap)
{
	fputs("fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	abort();
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fuzz_die(fmt, ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fuzz_die(fmt, ap);
}
