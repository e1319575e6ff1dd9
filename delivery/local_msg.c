/*
 * local_msg.c - what every local agent writes: the Return-Path and
 * Delivered-To lines, then the queued content read with pread, CRLF made
 * LF and, for mbox files, mboxrd quoting; the From_ line; the loop check
 * over the header section; the results.  A byte-level state machine does
 * the conversion, so lines of any length stream through in fixed pieces.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/local.h"

#define LOCAL_MSG_CHUNK		(64 * 1024)
/* The longest header field the loop check looks at (unfolded). */
#define LOCAL_MSG_FIELD_MAX	1024

struct local_config local_config = { 30, 300, "+" };

static const char local_msg_from[] = "From ";

void
local_result_set(struct local_result *res, enum local_status status,
    const char *enh, const char *fmt, ...)
{
	va_list	ap;
	char	*p;

	res->status = status;
	strlcpy(res->enh, enh, sizeof(res->enh));
	va_start(ap, fmt);
	if (vsnprintf(res->text, sizeof(res->text), fmt, ap) < 0)
		res->text[0] = '\0';
	va_end(ap);
	for (p = res->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
}

void
local_result_errno(struct local_result *res, int err, const char *what,
    const char *action)
{
	if (err == ENOSPC || err == EDQUOT || err == EFBIG)
		local_result_set(res, LOCAL_TEMP, "4.2.2",
		    "%s: mailbox full (%s: %s)", what, action, strerror(err));
	else
		local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: %s: %s", what,
		    action, strerror(err));
}

const char *
local_status_name(enum local_status status)
{
	switch (status) {
	case LOCAL_OK:
		return "OK";
	case LOCAL_TEMP:
		return "TEMP";
	case LOCAL_PERM:
		return "PERM";
	}
	return "?";
}

void
local_msg_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
}

/* pread until n bytes or the end; -1 with errno. */
static ssize_t
local_msg_pread(const struct local_msg *lm, char *p, size_t n, uint64_t off)
{
	ssize_t	r;

	if (off >= lm->size)
		return 0;
	if (n > lm->size - off)
		n = (size_t)(lm->size - off);
	do
		r = pread(lm->fd, p, n, (off_t)off);
	while (r == -1 && errno == EINTR);
	if (r == 0) {		/* shorter than its size */
		errno = EIO;
		return -1;
	}
	return r;
}

/*
 * The loop check.
 */

struct local_msg_reader {
	const struct local_msg	*lm;
	uint64_t		 off;
	char			 buf[8192];
	size_t			 pos, len;
};

/* The next content byte, -1 at the end, -2 on a read error. */
static int
local_msg_getc(struct local_msg_reader *r)
{
	ssize_t	n;

	if (r->pos == r->len) {
		n = local_msg_pread(r->lm, r->buf, sizeof(r->buf), r->off);
		if (n <= 0)
			return n == 0 ? -1 : -2;
		r->off += (uint64_t)n;
		r->pos = 0;
		r->len = (size_t)n;
	}
	return (unsigned char)r->buf[r->pos++];
}

/* Next header line without its CRLF, cut at the field limit: 1, 0 at the
 * end of the header section (empty line or end), -1 on a read error. */
static int
local_msg_header_line(struct local_msg_reader *r, struct buf *line)
{
	int	c;

	buf_reset(line);
	while ((c = local_msg_getc(r)) >= 0 && c != '\n')
		if (c != '\r' && line->len < LOCAL_MSG_FIELD_MAX)
			buf_addch(line, (char)c);
	if (c == -2)
		return -1;
	if (c == -1 && line->len == 0)
		return 0;
	return line->len > 0;
}

/* Is the unfolded field "Delivered-To: rcpt"? */
static int
local_msg_field_loops(const struct buf *field, const char *rcpt)
{
	static const char	 name[] = "delivered-to:";
	const char		*v, *e;
	size_t			 n = sizeof(name) - 1;

	if (field->len < n || strncasecmp(field->data, name, n) != 0)
		return 0;
	v = field->data + n;
	e = field->data + field->len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return (size_t)(e - v) == strlen(rcpt) &&
	    strncasecmp(v, rcpt, (size_t)(e - v)) == 0;
}

static int
local_msg_bad_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

static int
local_msg_check(const struct local_msg *lm, struct local_result *res)
{
	if (lm->sender == NULL || local_msg_bad_text(lm->sender)) {
		local_result_set(res, LOCAL_PERM, "5.6.0",
		    "bad envelope sender for local delivery");
		return -1;
	}
	if (lm->rcpt == NULL || lm->rcpt[0] == '\0' ||
	    local_msg_bad_text(lm->rcpt)) {
		local_result_set(res, LOCAL_PERM, "5.6.0",
		    "bad recipient for local delivery");
		return -1;
	}
	if (lm->fd < 0) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "no message content for local delivery");
		return -1;
	}
	return 0;
}

int
local_loop_check(const struct local_msg *lm, struct local_result *res)
{
	struct local_msg_reader	 r;
	struct buf		 line, field;
	int			 rc = 0, loop = 0;

	if (local_msg_check(lm, res) == -1)
		return -1;
	memset(&r, 0, sizeof(r));
	r.lm = lm;
	buf_init(&line);
	buf_init(&field);
	while (!loop && (rc = local_msg_header_line(&r, &line)) == 1) {
		if (line.data[0] == ' ' || line.data[0] == '\t') {
			if (field.len < LOCAL_MSG_FIELD_MAX)
				buf_add(&field, line.data, line.len);
			continue;
		}
		loop = local_msg_field_loops(&field, lm->rcpt);
		buf_reset(&field);
		buf_add(&field, line.data, line.len);
	}
	if (!loop && rc == 0)
		loop = local_msg_field_loops(&field, lm->rcpt);
	buf_free(&line);
	buf_free(&field);
	if (loop) {
		local_result_set(res, LOCAL_PERM, "5.4.6",
		    "mail forwarding loop for %s", lm->rcpt);
		return -1;
	}
	if (rc == -1) {
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "cannot read the message: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
local_msg_from_line(const struct local_msg *lm, char *buf, size_t size)
{
	char		 date[64], sender[300];
	struct tm	 tm;
	const char	*s = lm->sender[0] == '\0' ? "MAILER-DAEMON" :
			    lm->sender;
	size_t		 i;

	/* A blank in a quoted local part would end the address early. */
	if (strlcpy(sender, s, sizeof(sender)) >= sizeof(sender))
		return -1;
	for (i = 0; sender[i] != '\0'; i++)
		if (sender[i] == ' ' || sender[i] == '\t')
			sender[i] = '_';
	if (localtime_r(&lm->arrival, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		return -1;
	return bsnprintf(buf, size, "From %s %s\n", sender, date) ? 0 : -1;
}

/*
 * The stream.
 */

void
local_msg_stream_init(struct local_msg_stream *s, const struct local_msg *lm,
    int mboxrd)
{
	memset(s, 0, sizeof(*s));
	s->lm = lm;
	s->mboxrd = mboxrd;
	s->bol = 1;
	s->last = '\n';
	buf_init(&s->out);
}

void
local_msg_stream_free(struct local_msg_stream *s)
{
	buf_free(&s->out);
}

static void
local_msg_put(struct local_msg_stream *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	buf_add(&s->out, p, n);
	s->last = p[n - 1];
}

/*
 * One byte of a line, CR and LF already paired.  At a line start the
 * '>'s go out as they come (one more '>' in front of them is the same as
 * one more at their end), "From " is held until it is whole or broken.
 */
static void
local_msg_feed(struct local_msg_stream *s, char c)
{
	if (s->bol && s->mboxrd) {
		if (s->match == 0 && c == '>') {
			local_msg_put(s, &c, 1);
			return;
		}
		if (c == local_msg_from[s->match]) {
			if (++s->match < 5)
				return;
			local_msg_put(s, ">From ", 6);
			s->match = 0;
			s->bol = 0;
			return;
		}
		local_msg_put(s, local_msg_from, (size_t)s->match);
		s->match = 0;
	}
	local_msg_put(s, &c, 1);
	s->bol = c == '\n';
}

static void
local_msg_convert(struct local_msg_stream *s, const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (s->cr)
				local_msg_feed(s, '\r');
			s->cr = 1;
			continue;
		}
		if (s->cr && p[i] != '\n')
			local_msg_feed(s, '\r');
		s->cr = 0;
		local_msg_feed(s, p[i]);
	}
}

static void
local_msg_finish(struct local_msg_stream *s)
{
	if (s->cr)
		local_msg_feed(s, '\r');
	s->cr = 0;
	if (s->match > 0)
		local_msg_put(s, local_msg_from, (size_t)s->match);
	s->match = 0;
	if (s->last != '\n')
		local_msg_put(s, "\n", 1);
}

int
local_msg_stream_next(struct local_msg_stream *s)
{
	char	chunk[LOCAL_MSG_CHUNK];
	ssize_t	n;

	buf_reset(&s->out);
	if (s->phase == 0) {
		buf_printf(&s->out, "Return-Path: <%s>\nDelivered-To: %s\n",
		    s->lm->sender, s->lm->rcpt);
		s->last = '\n';
		s->phase = 1;
		return 1;
	}
	if (s->phase == 2)
		return 0;
	if ((n = local_msg_pread(s->lm, chunk, sizeof(chunk), s->off)) == -1)
		return -1;
	s->off += (uint64_t)n;
	local_msg_convert(s, chunk, (size_t)n);
	if (s->off >= s->lm->size) {
		local_msg_finish(s);
		s->phase = 2;
	}
	return 1;
}

int
local_msg_copy(const struct local_msg *lm, int fd, int mboxrd,
    const char *what, struct local_result *res)
{
	struct local_msg_stream	s;
	int			rc;

	local_msg_stream_init(&s, lm, mboxrd);
	while ((rc = local_msg_stream_next(&s)) == 1)
		if (write_all(fd, s.out.data, s.out.len) == -1) {
			local_result_errno(res, errno, what, "write");
			break;
		}
	if (rc == -1)
		local_result_set(res, LOCAL_TEMP, "4.3.0",
		    "%s: cannot read the message: %s", what, strerror(errno));
	local_msg_stream_free(&s);
	return rc == 0 ? 0 : -1;
}
