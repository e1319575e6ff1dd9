/*
 * buf.h - a growable byte buffer with overflow checks (the VSTRING of
 * strictmail).  data is always NUL-terminated after len bytes, so text can
 * be used as a C string; binary data may contain NULs.
 */
#ifndef SM_BUF_H
#define SM_BUF_H

#include <stddef.h>
#include "log.h"

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                 /* len = 0, keeps memory */
void buf_reserve(struct buf *b, size_t extra); /* room for extra more bytes */
void buf_add(struct buf *b, const void *p, size_t n);
void buf_addstr(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) SM_PRINTF(2, 3);
void buf_consume(struct buf *b, size_t n);     /* drop n bytes from the front */
/*
 * Appends the whole regular file at path (at most max bytes) to b; its
 * fstat into *st when st is not NULL.  0, or -1 with "PATH: why" in err
 * ("not a regular file", "larger than N bytes", strerror); -2 when the
 * file does not exist (ENOENT, err set too).
 */
struct stat;
int buf_read_file(struct buf *b, const char *path, size_t max,
    struct stat *st, char *err, size_t errlen);

#endif
