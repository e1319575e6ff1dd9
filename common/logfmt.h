/*
 * logfmt.h - the one escaping rule for values in log lines.
 *
 * Log lines are "key=value" fields separated by spaces.  A value that
 * came from a client (a HELO name, an address, a command line) goes
 * through logfmt_value or logfmt_mem, so that it can never look like
 * another field, end the line, or carry a control octet:
 *  - it is written as is when it is not empty and every octet is printable
 *    ASCII (0x21 to 0x7e) other than '"', '\' and '=';
 *  - else it is written in double quotes, where '"' becomes \", '\'
 *    becomes \\, '=' becomes \x3d, and every octet outside 0x20 to 0x7e
 *    becomes \xNN (two lower-case hexadecimal digits); a space stays.
 * So a logged line holds '=' only right after a field's key, and a quoted
 * value ends at the first '"' not preceded by '\'.  A value cut to fit
 * its buffer is quoted and ends in "..." before the closing quote.
 */
#ifndef SM_LOGFMT_H
#define SM_LOGFMT_H

#include <stddef.h>

struct buf;

/* Room for a value of n octets, escaped in full, with its NUL. */
#define LOGFMT_SIZE(n)	(4 * (n) + 3)
#define LOGFMT_MIN	8	/* the smallest dst logfmt accepts */

/* The len octets at src (any octets, NUL too) as a log value in dst
 * (size at least LOGFMT_MIN); returns dst. */
const char *logfmt_mem(char *dst, size_t size, const void *src, size_t len);
/* The same for a string. */
const char *logfmt_value(char *dst, size_t size, const char *s);
/* Appends " key=value" to b, the value escaped in full. */
void logfmt_field(struct buf *b, const char *key, const char *s);
void logfmt_field_mem(struct buf *b, const char *key, const void *src,
    size_t len);
/* Appends " key=<addr>" to b, "<addr>" escaped as one value: "from=<>"
 * for the null sender. */
void logfmt_field_path(struct buf *b, const char *key, const char *addr);

#endif
