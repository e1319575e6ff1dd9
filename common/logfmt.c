/*
 * logfmt.c - the escaping of log values (logfmt.h): bare when safe, else
 * quoted with \" \\ and \xNN escapes, cut with "..." when too long.
 */
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/logfmt.h"

/* May the octet stand in a bare value? */
static int
logfmt_bare(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

static int
logfmt_needs_quotes(const unsigned char *p, size_t len)
{
	size_t	i;

	if (len == 0)
		return 1;
	for (i = 0; i < len; i++)
		if (!logfmt_bare(p[i]))
			return 1;
	return 0;
}

/* The escape of one octet inside quotes into e (at least 5 octets);
 * returns its length. */
static size_t
logfmt_escape(unsigned char c, char *e)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		e[0] = '\\';
		e[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f && c != '=') {
		e[0] = (char)c;
		return 1;
	}
	e[0] = '\\';
	e[1] = 'x';
	e[2] = hex[c >> 4];
	e[3] = hex[c & 0x0f];
	return 4;
}

/* The quoted form; cut with "..." when it does not fit. */
static void
logfmt_quoted(char *dst, size_t size, const unsigned char *p, size_t len)
{
	char	e[5];
	size_t	i, n, pos = 0, full = 2;

	for (i = 0; i < len; i++)
		full += logfmt_escape(p[i], e);
	dst[pos++] = '"';
	for (i = 0; i < len; i++) {
		n = logfmt_escape(p[i], e);
		/* Keep room for the closing quote and NUL, and for "..."
		 * too unless the whole value fits. */
		if (pos + n + (full < size ? 2 : 5) > size)
			break;
		memcpy(dst + pos, e, n);
		pos += n;
	}
	if (i < len) {
		memcpy(dst + pos, "...", 3);
		pos += 3;
	}
	dst[pos++] = '"';
	dst[pos] = '\0';
}

const char *
logfmt_mem(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char	*p = src;

	if (size < LOGFMT_MIN)
		fatalx("logfmt: buffer of %zu octets", size);
	if (!logfmt_needs_quotes(p, len) && len < size) {
		memcpy(dst, p, len);
		dst[len] = '\0';
	} else
		logfmt_quoted(dst, size, p, len);
	return dst;
}

const char *
logfmt_value(char *dst, size_t size, const char *s)
{
	return logfmt_mem(dst, size, s, strlen(s));
}

void
logfmt_field_mem(struct buf *b, const char *key, const void *src,
    size_t len)
{
	size_t	size = LOGFMT_SIZE(len);

	if (size < LOGFMT_MIN)
		size = LOGFMT_MIN;

	buf_printf(b, " %s=", key);
	buf_reserve(b, size);
	(void)logfmt_mem((char *)b->data + b->len, size, src, len);
	b->len += strlen((char *)b->data + b->len);
}

void
logfmt_field(struct buf *b, const char *key, const char *s)
{
	logfmt_field_mem(b, key, s, strlen(s));
}

void
logfmt_field_path(struct buf *b, const char *key, const char *addr)
{
	struct buf	path;

	buf_init(&path);
	buf_printf(&path, "<%s>", addr);
	logfmt_field_mem(b, key, path.data, path.len);
	buf_free(&path);
}
