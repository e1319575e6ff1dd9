/*
 * util.c - the one string, memory and number discipline of strictmail.
 *
 * strlcpy/strlcat as in OpenBSD (they return the length they tried to
 * create); bsnprintf says whether the text fit; the x* allocators never
 * return NULL; numbers are parsed strictly: digits only, an optional unit
 * suffix where the function takes one, and every multiplication checked
 * for overflow.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t	dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}

int
bsnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (size == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < size;
}

int
errorf(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc %zu", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("xcalloc %zu x %zu", n, size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void	*np;

	if (size == 0)
		size = 1;
	if ((np = realloc(p, size)) == NULL)
		fatal("xrealloc %zu", size);
	return np;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("xreallocarray: %zu x %zu overflows", n, size);
	return xrealloc(p, n * size);
}

void
xthread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
	sigset_t	all, old;
	int		rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		fatal("%s: pthread_create", what);
	}
}

int
wake_fd_new(const char *what)
{
	int	fd;

	if ((fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("%s: eventfd", what);
	return fd;
}

void
wake_fd_post(int fd)
{
	uint64_t	one = 1;

	/* EAGAIN: the counter is set already. */
	while (write(fd, &one, sizeof(one)) == -1 && errno == EINTR)
		continue;
}

void
wake_fd_clear(int fd)
{
	uint64_t	n;

	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		continue;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t	 len = strnlen(s, n);
	char	*p;

	if (len == SIZE_MAX)
		fatalx("xstrndup: too long");
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * Parses the leading digits of s into *out; *end points after them.
 * -1 if there is no digit or the value overflows.
 */
static int
util_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t	v = 0;
	const char	*p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (p == s)
		return -1;
	*out = v;
	*end = p;
	return 0;
}

int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t	 v;
	const char	*end;

	if (s == NULL || util_digits(s, &v, &end) == -1 || *end != '\0')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parses digits with an optional one-character unit from units/mult. */
static int
util_parse_unit(const char *s, const char *units, const uint64_t *mult,
    uint64_t *out)
{
	uint64_t	 v, m = 1;
	const char	*end, *u;

	if (s == NULL || util_digits(s, &v, &end) == -1)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
			return -1;
		m = mult[u - units];
	}
	if (v > UINT64_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = {
		1024, 1024, 1024 * 1024, 1024 * 1024,
		1024 * 1024 * 1024, 1024 * 1024 * 1024,
	};

	return util_parse_unit(s, "kKmMgG", mult, out);
}

int
parse_duration(const char *s, uint64_t *seconds)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return util_parse_unit(s, "smhd", mult, seconds);
}

int
fd_set_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
fd_set_nodelay(int fd)
{
	int	one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
fd_set_cloexec(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	if (fl & FD_CLOEXEC)
		return 0;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
read_full(int fd, void *buf, size_t size)
{
	char	*p = buf;
	size_t	 len = 0;
	ssize_t	 n;

	while (len < size) {
		n = read(fd, p + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

char *
str_lower(char *s)
{
	char	*p;

	for (p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

uint64_t
now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
