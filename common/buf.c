/*
 * buf.c - a growable byte buffer with overflow checks.
 *
 * data always points at a NUL-terminated string of len bytes (binary data
 * may hold NULs): an empty buffer points at a shared empty string and owns
 * no memory until something is added.  A zero-filled struct buf is valid
 * too.  Every size computation is checked; running out of memory is fatal.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

#define BUF_MIN_CAP	64

static char	buf_empty[1];

void
buf_init(struct buf *b)
{
	b->data = buf_empty;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	if (b->cap > 0)
		free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->cap > 0)
		b->data[0] = '\0';
}

/* Makes room for extra bytes plus the terminating NUL. */
void
buf_reserve(struct buf *b, size_t extra)
{
	size_t	 need, ncap;
	char	*p;

	if (extra > SIZE_MAX - 1 - b->len)
		fatalx("buf_reserve: size overflow");
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if (b->cap == 0) {
		p = xmalloc(ncap);
		if (b->len > 0)
			memcpy(p, b->data, b->len);
		p[b->len] = '\0';
	} else
		p = xrealloc(b->data, ncap);
	b->data = p;
	b->cap = ncap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addch(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap, ap2;
	int	n;
	size_t	room;

	buf_reserve(b, BUF_MIN_CAP);
	room = b->cap - b->len;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	if ((size_t)n >= room) {
		buf_reserve(b, (size_t)n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
		if (n < 0)
			fatalx("buf_printf: bad format");
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		fatalx("buf_consume: %zu > %zu", n, b->len);
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

int
buf_read_file(struct buf *b, const char *path, size_t max, struct stat *st,
    char *err, size_t errlen)
{
	struct stat	sb;
	char		chunk[16384];
	ssize_t		n = 0;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? -2 : -1;
	}
	if (fstat(fd, &sb) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		(void)bsnprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b->len + (size_t)n > max) {
			(void)bsnprintf(err, errlen, "%s: larger than %zu bytes",
			    path, max);
			close(fd);
			return -1;
		}
		buf_add(b, chunk, (size_t)n);
	}
	if (n == -1)
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	if (n == 0 && st != NULL)
		*st = sb;
	return n == -1 ? -1 : 0;
}
