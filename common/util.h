/*
 * util.h - the one string, memory and number discipline of strictmail.
 *
 * Allocators die on out-of-memory (fatal).  strlcpy/strlcat return the length
 * they tried to create, so a caller compares it with the size.  bsnprintf
 * returns 1 when the whole text fit and 0 otherwise.  Numbers are parsed with
 * range checks only: the whole string must be digits (and a unit suffix where
 * the function takes one), never atoi.
 */
#ifndef SM_UTIL_H
#define SM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <pthread.h>
#include "log.h"

size_t strlcpy(char *dst, const char *src, size_t size);
size_t strlcat(char *dst, const char *src, size_t size);
int bsnprintf(char *buf, size_t size, const char *fmt, ...) SM_PRINTF(3, 4);
/* Formats a reason into err (when errlen > 0, cut to fit) and returns
 * ret: for "return errorf(-1, err, errlen, ...)". */
int errorf(int ret, char *err, size_t errlen, const char *fmt, ...)
    SM_PRINTF(4, 5);

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
/* Starts a thread with every signal blocked (signals belong to the event
 * loop's signalfd); dies naming what on failure. */
void xthread_start(pthread_t *t, void *(*fn)(void *), void *arg,
    const char *what);
/* A thread's wake-up for an event loop: a non-blocking eventfd (dies
 * naming what on failure); wake_fd_post makes it readable, wake_fd_clear
 * empties it. */
int wake_fd_new(const char *what);
void wake_fd_post(int fd);
void wake_fd_clear(int fd);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* 0 on success, -1 on anything but a plain decimal number in [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Size with optional suffix k, K, m, M, g, G (powers of 1024): "10M". */
int parse_size(const char *s, uint64_t *out);
/* Duration in seconds with optional suffix s, m, h, d: "90s", "5m", "4h". */
int parse_duration(const char *s, uint64_t *seconds);

int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd);
/*
 * TCP_NODELAY on a TCP socket: what is written goes out at once.  mbedTLS
 * writes each handshake message of a flight on its own; with Nagle's
 * algorithm the rest of the flight would wait for the peer's delayed ACK
 * (tens of milliseconds per handshake).  0 or -1 with errno.
 */
int fd_set_nodelay(int fd);
/* write() until done, retrying EINTR; -1 with errno on error. */
int write_all(int fd, const void *buf, size_t len);
/* Reads until size bytes or the end of the file (EINTR retried): the
 * count read, or -1 with errno. */
ssize_t read_full(int fd, void *buf, size_t size);
/* Lower-case ASCII in place; returns s. */
char *str_lower(char *s);
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t now_ms(void);

#endif
