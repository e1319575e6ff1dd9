/*
 * test_dsn.c - unit tests of queue/dsn.c: every report is parsed back by a
 * small MIME reader here (CRLF only, lines of at most 998 octets, the
 * boundary only where it delimits, part types, per-recipient fields).
 * Cases: the NOTIFY and null-sender rules, RET=HDRS against RET=FULL (and
 * FULL in a delay report), ORCPT and ENVID decoded, delayed against failed
 * against success, a hostile address and reply with CR LF, a huge header
 * section and a line longer than 998 octets, an 8-bit original, SMTPUTF8,
 * a boundary that occurs in the content, the postmaster notice, read
 * errors, and both sources (descriptor and callback).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "queue/dsn.h"

#define NOW	1764630000ULL		/* Mon, 01 Dec 2025 23:00:00 */

/* ---- a small MIME reader ---- */

struct part {
	char	*headers;	/* with the CRLF of the last field */
	char	*body;
	size_t	 bodylen;
};

struct msg {
	char		*headers;
	char		 boundary[128];
	struct part	 parts[8];
	int		 nparts;
};

/* Every line ends in CRLF and has at most 998 octets before it. */
static void
check_lines(const char *d, size_t len)
{
	size_t	i, col = 0;

	for (i = 0; i < len; i++) {
		if (d[i] == '\r') {
			if (i + 1 >= len || d[i + 1] != '\n')
				fail_msg("bare CR at octet %zu", i);
			continue;
		}
		if (d[i] == '\n') {
			if (i == 0 || d[i - 1] != '\r')
				fail_msg("bare LF at octet %zu", i);
			col = 0;
			continue;
		}
		if (d[i] == '\0')
			fail_msg("NUL at octet %zu", i);
		if (++col > DSN_LINE_MAX)
			fail_msg("line longer than %d octets at octet %zu",
			    DSN_LINE_MAX, i);
	}
	if (len < 2 || d[len - 2] != '\r' || d[len - 1] != '\n')
		fail_msg("message does not end in CRLF");
}

/* The unfolded value of the first field `name` in headers, or NULL. */
static char *
field_get(const char *headers, const char *name)
{
	struct buf	 v;
	const char	*l, *eol, *next, *p;
	size_t		 n = strlen(name);
	char		*res;
	int		 in = 0;

	buf_init(&v);
	for (l = headers; *l != '\0'; l = next) {
		if ((eol = strstr(l, "\r\n")) == NULL)
			eol = l + strlen(l);
		next = *eol != '\0' ? eol + 2 : eol;
		if (in) {
			if (*l != ' ' && *l != '\t')
				break;
			buf_add(&v, l, (size_t)(eol - l));
			continue;
		}
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			for (p = l + n + 1; *p == ' ' || *p == '\t'; p++)
				;
			buf_add(&v, p, (size_t)(eol - p));
			in = 1;
		}
	}
	res = in ? xstrdup(v.data) : NULL;
	buf_free(&v);
	return res;
}

/* 1 if text, with its lines joined (CRLF and the indent after it become
 * one space), holds s. */
static int
text_has(const char *text, const char *s)
{
	struct buf	 b;
	int		 found;

	buf_init(&b);
	while (*text != '\0') {
		if (text[0] == '\r' && text[1] == '\n') {
			text += 2;
			while (*text == ' ')
				text++;
			buf_addch(&b, ' ');
			continue;
		}
		buf_addch(&b, *text++);
	}
	found = strstr(b.data, s) != NULL;
	if (!found)
		print_error("'%s' not found in:\n%s\n", s, b.data);
	buf_free(&b);
	return found;
}

/* Asserts field `name` of headers is `want`. */
static void
field_is(const char *headers, const char *name, const char *want)
{
	char	*v = field_get(headers, name);

	if (v == NULL)
		fail_msg("field %s missing; wanted '%s' in:\n%s", name, want,
		    headers);
	if (strcmp(v, want) != 0)
		fail_msg("field %s is '%s', wanted '%s'", name, v, want);
	free(v);
}

static int
field_count(const char *headers, const char *name)
{
	const char	*l = headers;
	size_t		 n = strlen(name);
	int		 count = 0;

	while (l != NULL && *l != '\0') {
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			count++;
		if ((l = strstr(l, "\r\n")) != NULL)
			l += 2;
	}
	return count;
}

static size_t
count_in(const char *d, size_t len, const char *s)
{
	size_t		 count = 0, n = strlen(s);
	const char	*p = d, *end = d + len;

	while ((p = memmem(p, (size_t)(end - p), s, n)) != NULL) {
		count++;
		p += n;
	}
	return count;
}

static void
msg_part(struct part *pt, const char *start, const char *end)
{
	const char	*sep = memmem(start, (size_t)(end - start), "\r\n\r\n",
			    4);

	assert_non_null(sep);
	pt->headers = xstrndup(start, (size_t)(sep + 2 - start));
	pt->bodylen = (size_t)(end - (sep + 4));
	pt->body = xstrndup(sep + 4, pt->bodylen);
}

/* Parses a whole multipart message; fails the test if it is malformed. */
static void
msg_parse(const struct buf *b, struct msg *m)
{
	const char	*d = b->data, *end = b->data + b->len, *sep, *p, *q;
	char		*ct, *bp, delim[160];

	memset(m, 0, sizeof(*m));
	check_lines(b->data, b->len);
	sep = memmem(d, b->len, "\r\n\r\n", 4);
	assert_non_null(sep);
	m->headers = xstrndup(d, (size_t)(sep + 2 - d));
	ct = field_get(m->headers, "Content-Type");
	assert_non_null(ct);
	bp = strstr(ct, "boundary=\"");
	assert_non_null(bp);
	bp += strlen("boundary=\"");
	assert_non_null(strchr(bp, '"'));
	*strchr(bp, '"') = '\0';
	assert_true(strlen(bp) > 0 && strlen(bp) <= 70);
	assert_true(bsnprintf(m->boundary, sizeof(m->boundary), "%s", bp));
	free(ct);
	assert_true(bsnprintf(delim, sizeof(delim), "\r\n--%s", m->boundary));
	p = memmem(sep, (size_t)(end - sep), delim, strlen(delim));
	assert_non_null(p);
	for (;;) {
		p += strlen(delim);
		if (p[0] == '-' && p[1] == '-') {
			assert_string_equal(p, "--\r\n");
			break;
		}
		assert_true(p[0] == '\r' && p[1] == '\n');
		p += 2;
		q = memmem(p, (size_t)(end - p), delim, strlen(delim));
		assert_non_null(q);
		assert_true(m->nparts < 8);
		msg_part(&m->parts[m->nparts++], p, q);
		p = q;
	}
	/* The boundary delimits and occurs nowhere else. */
	assert_int_equal(count_in(d, b->len, m->boundary),
	    (size_t)m->nparts + 2);
}

static void
msg_free(struct msg *m)
{
	int	i;

	free(m->headers);
	for (i = 0; i < m->nparts; i++) {
		free(m->parts[i].headers);
		free(m->parts[i].body);
	}
}

/* The n-th group (0: per-message) of a delivery-status body. */
static char *
status_group(const struct part *pt, int n)
{
	const char	*p = pt->body, *q;

	while (n-- > 0) {
		p = strstr(p, "\r\n\r\n");
		assert_non_null(p);
		p += 4;
	}
	q = strstr(p, "\r\n\r\n");
	return q == NULL ? xstrdup(p) : xstrndup(p, (size_t)(q + 2 - p));
}

static int
status_ngroups(const struct part *pt)
{
	return (int)count_in(pt->body, pt->bodylen, "\r\n\r\n") + 1 -
	    (pt->bodylen >= 4 && strcmp(pt->body + pt->bodylen - 4,
	    "\r\n\r\n") == 0);
}

/* ---- sources ---- */

struct strsrc {
	const char	*p;
	size_t		 len;
	size_t		 pos;
	size_t		 step;	/* octets per read at most */
	int		 fail;	/* -1 after this many reads (0: never) */
	int		 reads;
};

static ssize_t
strsrc_read(void *arg, void *buf, size_t len)
{
	struct strsrc	*s = arg;
	size_t		 n = s->len - s->pos;

	if (s->fail != 0 && ++s->reads >= s->fail) {
		errno = EIO;
		return -1;
	}
	if (n > len)
		n = len;
	if (s->step != 0 && n > s->step)
		n = s->step;
	memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static const char original[] =
    "Received: from client.example.net ([192.0.2.1])\r\n"
    "\tby mx.example.org (strictmail) with ESMTP\r\n"
    "From: Alice <alice@example.net>\r\n"
    "To: Bob <bob@example.com>\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@example.net>\r\n"
    "\r\n"
    "The body line one.\r\n"
    "--not-a-boundary\r\n"
    "The last line.\r\n";

static unsigned	rnd_counter;

/* Deterministic "random": each call fills with its call number. */
static void
test_random(void *buf, size_t len)
{
	rnd_counter++;
	memset(buf, (int)(rnd_counter & 0xff), len);
}

static struct dsn_rcpt
rcpt_failed(void)
{
	struct dsn_rcpt	rc;

	memset(&rc, 0, sizeof(rc));
	rc.addr = "bob@example.com";
	rc.orcpt = "rfc822;Bob+2Btag@example.com";
	rc.action = DSN_ACTION_FAILED;
	rc.status = "5.1.1";
	rc.remote_mta = "mx.example.com";
	rc.remote_reply = "550 5.1.1 <bob@example.com>: no such user";
	rc.last_attempt = NOW - 60;
	return rc;
}

static void
report_init(struct dsn_report *r, struct strsrc *src, const char *text,
    const struct dsn_rcpt *rcpts, size_t n)
{
	memset(src, 0, sizeof(*src));
	src->p = text;
	src->len = strlen(text);
	src->step = 7;		/* CRLF split across reads */
	memset(r, 0, sizeof(*r));
	r->hostname = "mx.example.org";
	r->queue_id = "0123456789ABCDEF";
	r->sender = "alice@example.net";
	r->envid = "QQ+2B123";
	r->ret = DSN_RET_HDRS;
	r->arrival = NOW - 3600;
	r->now = NOW;
	r->rcpts = rcpts;
	r->nrcpt = n;
	r->original.fd = -1;
	r->original.read = strsrc_read;
	r->original.arg = src;
}

/* Builds and parses; checks what every report has. */
static void
build_parse(const struct dsn_report *r, struct buf *out, struct msg *m,
    struct dsn_info *info)
{
	char	err[200] = "";
	char	*v;

	buf_init(out);
	if (dsn_build(r, out, info, err, sizeof(err)) != 0)
		fail_msg("dsn_build: %s", err);
	msg_parse(out, m);
	field_is(m->headers, "From",
	    "MAILER-DAEMON@mx.example.org (Mail Delivery System)");
	field_is(m->headers, "Auto-Submitted", "auto-replied");
	field_is(m->headers, "MIME-Version", "1.0");
	field_is(m->headers, "Date", "Mon, 01 Dec 2025 23:00:00 +0000");
	v = field_get(m->headers, "Message-ID");
	assert_non_null(v);
	assert_true(v[0] == '<' && strstr(v, "@mx.example.org>") != NULL);
	if (info != NULL)
		assert_string_equal(v, info->message_id);
	free(v);
	assert_int_equal(m->nparts, 3);
}

/* ---- the rules ---- */

static void
test_wanted(void **state)
{
	(void)state;
	/* Not given: failure and delay. */
	assert_true(dsn_wanted(0, DSN_ACTION_FAILED));
	assert_true(dsn_wanted(0, DSN_ACTION_DELAYED));
	assert_false(dsn_wanted(0, DSN_ACTION_DELIVERED));
	assert_false(dsn_wanted(0, DSN_ACTION_RELAYED));
	/* NEVER: nothing. */
	assert_false(dsn_wanted(DSN_NOTIFY_NEVER, DSN_ACTION_FAILED));
	assert_false(dsn_wanted(DSN_NOTIFY_NEVER, DSN_ACTION_DELAYED));
	assert_false(dsn_wanted(DSN_NOTIFY_NEVER, DSN_ACTION_DELIVERED));
	/* Only what was asked. */
	assert_true(dsn_wanted(DSN_NOTIFY_SUCCESS, DSN_ACTION_DELIVERED));
	assert_true(dsn_wanted(DSN_NOTIFY_SUCCESS, DSN_ACTION_RELAYED));
	assert_true(dsn_wanted(DSN_NOTIFY_SUCCESS, DSN_ACTION_EXPANDED));
	assert_false(dsn_wanted(DSN_NOTIFY_SUCCESS, DSN_ACTION_FAILED));
	assert_false(dsn_wanted(DSN_NOTIFY_SUCCESS, DSN_ACTION_DELAYED));
	assert_true(dsn_wanted(DSN_NOTIFY_FAILURE, DSN_ACTION_FAILED));
	assert_false(dsn_wanted(DSN_NOTIFY_FAILURE, DSN_ACTION_DELAYED));
	assert_true(dsn_wanted(DSN_NOTIFY_DELAY, DSN_ACTION_DELAYED));
	assert_false(dsn_wanted(DSN_NOTIFY_DELAY, DSN_ACTION_FAILED));
	assert_false(dsn_wanted(DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY,
	    DSN_ACTION_DELIVERED));
}

static void
test_destination(void **state)
{
	(void)state;
	assert_int_equal(dsn_destination("a@b", 0, DSN_ACTION_FAILED),
	    DSN_DEST_SENDER);
	assert_int_equal(dsn_destination("a@b", 0, DSN_ACTION_DELAYED),
	    DSN_DEST_SENDER);
	assert_int_equal(dsn_destination("a@b", DSN_NOTIFY_NEVER,
	    DSN_ACTION_FAILED), DSN_DEST_NONE);
	assert_int_equal(dsn_destination("a@b", 0, DSN_ACTION_DELIVERED),
	    DSN_DEST_NONE);
	/* Never to the null sender: one notice to postmaster on failure. */
	assert_int_equal(dsn_destination("", 0, DSN_ACTION_FAILED),
	    DSN_DEST_POSTMASTER);
	assert_int_equal(dsn_destination(NULL, 0, DSN_ACTION_FAILED),
	    DSN_DEST_POSTMASTER);
	assert_int_equal(dsn_destination("", 0, DSN_ACTION_DELAYED),
	    DSN_DEST_NONE);
	assert_int_equal(dsn_destination("", DSN_NOTIFY_SUCCESS,
	    DSN_ACTION_DELIVERED), DSN_DEST_NONE);
	/* The postmaster notice goes with NOTIFY=NEVER: no loop. */
	assert_int_equal(dsn_destination("", DSN_NOTIFY_NEVER,
	    DSN_ACTION_FAILED), DSN_DEST_NONE);
}

static void
test_envelope_values(void **state)
{
	(void)state;
	assert_int_equal(dsn_notify_bits(NULL), 0);
	assert_int_equal(dsn_notify_bits(""), 0);
	assert_int_equal(dsn_notify_bits("NEVER"), DSN_NOTIFY_NEVER);
	assert_int_equal(dsn_notify_bits("SUCCESS,DELAY"),
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	assert_int_equal(dsn_notify_bits("failure,bogus,,DELAY"),
	    DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
	assert_int_equal(dsn_ret_value("FULL"), DSN_RET_FULL);
	assert_int_equal(dsn_ret_value("hdrs"), DSN_RET_HDRS);
	assert_int_equal(dsn_ret_value(NULL), 0);
	assert_int_equal(dsn_ret_value("x"), 0);
}

static void
test_date(void **state)
{
	char	d[64];

	(void)state;
	dsn_date(0, d, sizeof(d));
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	dsn_date(951782400, d, sizeof(d));	/* leap day */
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 +0000");
}

/* ---- reports ---- */

static void
test_failed_hdrs(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;
	char			*g, *ct;

	(void)state;
	report_init(&r, &src, original, &rc, 1);
	build_parse(&r, &out, &m, &info);
	field_is(m.headers, "To", "<alice@example.net>");
	field_is(m.headers, "Subject", "Undelivered Mail Returned to Sender");
	ct = field_get(m.headers, "Content-Type");
	assert_non_null(strstr(ct, "multipart/report;"));
	assert_non_null(strstr(ct, "report-type=delivery-status;"));
	free(ct);
	assert_null(field_get(m.headers, "Content-Transfer-Encoding"));
	assert_false(info.eightbit);
	assert_false(info.full);
	assert_false(info.cut);

	/* Part 1: words for people. */
	field_is(m.parts[0].headers, "Content-Type",
	    "text/plain; charset=us-ascii");
	assert_true(text_has(m.parts[0].body,
	    "This is the mail system at host mx.example.org."));
	assert_true(text_has(m.parts[0].body, "<bob@example.com>"));
	assert_true(text_has(m.parts[0].body, "no such user"));
	assert_true(text_has(m.parts[0].body, "5.1.1"));

	/* Part 2: the report. */
	field_is(m.parts[1].headers, "Content-Type", "message/delivery-status");
	assert_int_equal(status_ngroups(&m.parts[1]), 2);
	g = status_group(&m.parts[1], 0);
	field_is(g, "Reporting-MTA", "dns; mx.example.org");
	field_is(g, "Original-Envelope-Id", "QQ+123");
	field_is(g, "Arrival-Date", "Mon, 01 Dec 2025 22:00:00 +0000");
	field_is(g, "X-Strictmail-Queue-ID", "0123456789ABCDEF");
	free(g);
	g = status_group(&m.parts[1], 1);
	field_is(g, "Original-Recipient", "rfc822; Bob+tag@example.com");
	field_is(g, "Final-Recipient", "rfc822; bob@example.com");
	field_is(g, "Action", "failed");
	field_is(g, "Status", "5.1.1");
	field_is(g, "Remote-MTA", "dns; mx.example.com");
	field_is(g, "Diagnostic-Code",
	    "smtp; 550 5.1.1 <bob@example.com>: no such user");
	field_is(g, "Last-Attempt-Date", "Mon, 01 Dec 2025 22:59:00 +0000");
	assert_null(field_get(g, "Will-Retry-Until"));
	free(g);

	/* Part 3: the header section only, whole. */
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_null(field_get(m.parts[2].headers,
	    "Content-Transfer-Encoding"));
	assert_int_equal(m.parts[2].bodylen, strstr(original, "\r\n\r\n") + 2 -
	    original);
	assert_memory_equal(m.parts[2].body, original, m.parts[2].bodylen);
	assert_null(strstr(m.parts[2].body, "body line"));
	msg_free(&m);
	buf_free(&out);
}

/* RET=FULL from a descriptor: the whole message, octet for octet. */
static void
test_failed_full_fd(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;
	FILE			*f;

	(void)state;
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fwrite(original, 1, strlen(original), f),
	    strlen(original));
	assert_int_equal(fflush(f), 0);
	report_init(&r, &src, original, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.original.read = NULL;
	r.original.fd = fileno(f);
	build_parse(&r, &out, &m, &info);
	assert_true(info.full);
	field_is(m.parts[2].headers, "Content-Type", "message/rfc822");
	field_is(m.parts[2].headers, "Content-Description",
	    "Undelivered Message");
	assert_int_equal(m.parts[2].bodylen, strlen(original));
	assert_memory_equal(m.parts[2].body, original, strlen(original));
	msg_free(&m);
	buf_free(&out);
	fclose(f);
}

/* A delay report: Will-Retry-Until, and never the full content. */
static void
test_delayed(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out;
	struct msg		m;
	char			*g;

	(void)state;
	rc.action = DSN_ACTION_DELAYED;
	rc.status = "4.4.1";
	rc.orcpt = NULL;
	rc.remote_reply = NULL;
	rc.reason = "connection to mx.example.com timed out";
	rc.retry_until = NOW + 4 * 86400;
	report_init(&r, &src, original, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.envid = NULL;
	build_parse(&r, &out, &m, NULL);
	field_is(m.headers, "Subject", "Delayed Mail (still being retried)");
	assert_true(text_has(m.parts[0].body, "not yet been delivered"));
	assert_true(text_has(m.parts[0].body, "timed out"));
	g = status_group(&m.parts[1], 0);
	assert_null(field_get(g, "Original-Envelope-Id"));
	free(g);
	g = status_group(&m.parts[1], 1);
	assert_null(field_get(g, "Original-Recipient"));
	field_is(g, "Action", "delayed");
	field_is(g, "Status", "4.4.1");
	field_is(g, "Will-Retry-Until", "Fri, 05 Dec 2025 23:00:00 +0000");
	field_is(g, "Diagnostic-Code",
	    "X-Strictmail; connection to mx.example.com timed out");
	free(g);
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	field_is(m.parts[2].headers, "Content-Description", "Message Headers");
	assert_null(strstr(m.parts[2].body, "body line"));
	msg_free(&m);
	buf_free(&out);
}

/* Several recipients, a success report, a malformed status. */
static void
test_recipients_and_success(void **state)
{
	struct dsn_rcpt		rc[3];
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out;
	struct msg		m;
	char			*g;

	(void)state;
	memset(rc, 0, sizeof(rc));
	rc[0].addr = "one@example.com";
	rc[0].action = DSN_ACTION_DELIVERED;
	rc[0].status = "2.0.0";
	rc[0].remote_mta = "mx.example.com";
	rc[0].remote_reply = "250 2.0.0 Ok: queued as 42";
	rc[1].addr = "two@example.com";
	rc[1].action = DSN_ACTION_RELAYED;
	rc[1].status = "bogus";
	rc[2].addr = "three@example.com";
	rc[2].action = DSN_ACTION_EXPANDED;
	report_init(&r, &src, original, rc, 3);
	r.ret = DSN_RET_FULL;
	build_parse(&r, &out, &m, NULL);
	field_is(m.headers, "Subject", "Successful Mail Delivery Report");
	assert_int_equal(status_ngroups(&m.parts[1]), 4);
	g = status_group(&m.parts[1], 1);
	field_is(g, "Final-Recipient", "rfc822; one@example.com");
	field_is(g, "Action", "delivered");
	free(g);
	g = status_group(&m.parts[1], 2);
	field_is(g, "Final-Recipient", "rfc822; two@example.com");
	field_is(g, "Action", "relayed");
	field_is(g, "Status", "2.0.0");
	assert_null(field_get(g, "Remote-MTA"));
	assert_null(field_get(g, "Diagnostic-Code"));
	free(g);
	g = status_group(&m.parts[1], 3);
	field_is(g, "Action", "expanded");
	free(g);
	assert_true(text_has(m.parts[0].body, "<three@example.com>"));
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	msg_free(&m);
	buf_free(&out);
}

static void
test_null_sender_and_bad_input(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out;
	char			err[200];

	(void)state;
	report_init(&r, &src, original, &rc, 1);
	r.sender = "";
	buf_init(&out);
	assert_int_equal(dsn_build(&r, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "null sender"));
	assert_int_equal(out.len, 0);

	report_init(&r, &src, original, &rc, 1);
	r.hostname = "mx.example.org\r\nBcc: x@y";
	assert_int_equal(dsn_build(&r, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(out.len, 0);

	report_init(&r, &src, original, &rc, 0);
	assert_int_equal(dsn_build(&r, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(out.len, 0);

	/* A read error of the original. */
	report_init(&r, &src, original, &rc, 1);
	src.fail = 2;
	assert_int_equal(dsn_build(&r, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "original"));
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* Every line of d that starts a header field, in any part. */
static int
line_starts_with(const char *d, size_t len, const char *s)
{
	size_t	i, n = strlen(s);

	for (i = 0; i + n <= len; i++)
		if ((i == 0 || d[i - 1] == '\n') &&
		    strncasecmp(d + i, s, n) == 0)
			return 1;
	return 0;
}

static void
test_hostile(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out;
	struct msg		m;
	char			*g;

	(void)state;
	rc.addr = "bob@example.com\r\nBcc: victim1@example.net";
	rc.orcpt = "rfc822;x+0D+0ABcc:+20victim2@example.net";
	rc.remote_mta = "mx.example.com\r\nBcc: victim3@example.net";
	rc.remote_reply = "550-5.1.1 first line\r\n550-Bcc: victim4@x\n"
	    "\r\n--\r\n550 5.1.1 Content-Type: text/html";
	report_init(&r, &src, original, &rc, 1);
	r.sender = "alice@example.net\r\nBcc: victim5@example.net\n\r";
	r.queue_id = "X\r\nBcc: victim6@example.net";
	r.envid = "E+0D+0ABcc:+20victim7@example.net";
	build_parse(&r, &out, &m, NULL);
	assert_false(line_starts_with(out.data, out.len, "Bcc"));
	assert_false(line_starts_with(out.data, out.len, "550"));
	assert_int_equal(field_count(m.headers, "To"), 1);
	field_is(m.headers, "To",
	    "<alice@example.net??Bcc: victim5@example.net?\?>");
	g = status_group(&m.parts[1], 1);
	/* Control bytes in an address: utf-8-addr-xtext. */
	field_is(g, "Final-Recipient", "utf-8; bob@example.com\\x{0D}\\x{0A}"
	    "Bcc:\\x{20}victim1@example.net");
	field_is(g, "Original-Recipient",
	    "rfc822; x??Bcc: victim2@example.net");
	field_is(g, "Diagnostic-Code", "smtp; 550-5.1.1 first line "
	    "550-Bcc: victim4@x -- 550 5.1.1 Content-Type: text/html");
	free(g);
	assert_int_equal(status_ngroups(&m.parts[1]), 2);
	msg_free(&m);
	buf_free(&out);
}

/* A header section far over the limit is cut before a whole field, and
 * the text part says so; a line of 5000 octets is folded. */
static void
test_huge_headers(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		text, out;
	struct msg		m;
	size_t			i;

	(void)state;
	buf_init(&text);
	buf_addstr(&text, "Subject: big\r\nX-Long: ");
	for (i = 0; i < 5000; i++)
		buf_addch(&text, (char)('a' + i % 26));
	buf_addstr(&text, "\r\n");
	for (i = 0; i < 20000; i++)
		buf_printf(&text, "X-Filler-%zu: some text\r\n\tfolded\r\n", i);
	buf_addstr(&text, "\r\nbody\r\n");
	report_init(&r, &src, text.data, &rc, 1);
	src.step = 0;
	build_parse(&r, &out, &m, &info);
	assert_true(info.cut);
	assert_true(m.parts[2].bodylen <= DSN_MAX_HEADERS);
	assert_true(m.parts[2].bodylen > DSN_MAX_HEADERS - 100);
	/* Ends with a whole field: its continuation line is there. */
	assert_memory_equal(m.parts[2].body + m.parts[2].bodylen - 9,
	    "\tfolded\r\n", 9);
	assert_memory_equal(m.parts[2].body, "Subject: big\r\nX-Long: abc", 25);
	/* The long line goes on in a folded line. */
	assert_non_null(strstr(m.parts[2].body, "\r\n "));
	assert_true(text_has(m.parts[0].body, "header section"));

	/* A smaller limit given by the caller. */
	msg_free(&m);
	buf_free(&out);
	report_init(&r, &src, text.data, &rc, 1);
	r.max_headers = 1000;
	build_parse(&r, &out, &m, &info);
	assert_true(info.cut);
	/* The long field alone is over the limit: only Subject is left. */
	assert_string_equal(m.parts[2].body, "Subject: big\r\n");
	msg_free(&m);
	buf_free(&out);
	buf_free(&text);
}

/* RET=FULL of an original over max_full returns its headers only. */
static void
test_full_too_large(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;

	(void)state;
	report_init(&r, &src, original, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.max_full = 100;
	build_parse(&r, &out, &m, &info);
	assert_false(info.full);
	assert_true(info.cut);
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_null(strstr(m.parts[2].body, "body line"));
	assert_true(text_has(m.parts[0].body, "larger than 100 octets"));
	msg_free(&m);
	buf_free(&out);
}

static void
test_8bit(void **state)
{
	static const char	eight[] =
	    "From: =?utf-8?q?J=C3=B6rg?= <j@example.net>\r\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Stra\xc3\x9f" "e \xe9t\xe9 (latin-1 too)\r\n";
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;

	(void)state;
	report_init(&r, &src, eight, &rc, 1);
	r.ret = DSN_RET_FULL;
	build_parse(&r, &out, &m, &info);
	assert_true(info.eightbit);
	assert_true(info.full);
	field_is(m.headers, "Content-Transfer-Encoding", "8bit");
	field_is(m.parts[2].headers, "Content-Type", "message/rfc822");
	field_is(m.parts[2].headers, "Content-Transfer-Encoding", "8bit");
	assert_null(field_get(m.parts[0].headers,
	    "Content-Transfer-Encoding"));
	assert_null(field_get(m.parts[1].headers,
	    "Content-Transfer-Encoding"));
	assert_memory_equal(m.parts[2].body, eight, strlen(eight));
	msg_free(&m);
	buf_free(&out);

	/* Headers only: 8-bit in the header section. */
	report_init(&r, &src, eight, &rc, 1);
	build_parse(&r, &out, &m, &info);
	assert_true(info.eightbit);
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	field_is(m.parts[2].headers, "Content-Transfer-Encoding", "8bit");
	assert_non_null(strstr(m.parts[2].body, "Gr\xc3\xbc\xc3\x9f" "e"));
	msg_free(&m);
	buf_free(&out);
}

/* SMTPUTF8: the RFC 6533 types and UTF-8 addresses; without it a UTF-8
 * address is written as utf-8-addr-xtext. */
static void
test_smtputf8(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;
	char			*g, *ct;

	(void)state;
	rc.addr = "j\xc3\xb6rg@b\xc3\xbc" "cher.example";
	rc.orcpt = NULL;
	report_init(&r, &src, original, &rc, 1);
	r.sender = "\xc3\xa9lise@example.net";
	r.smtputf8 = 1;
	r.ret = DSN_RET_FULL;
	build_parse(&r, &out, &m, &info);
	assert_true(info.smtputf8);
	assert_true(info.eightbit);
	field_is(m.headers, "To", "<\xc3\xa9lise@example.net>");
	ct = field_get(m.headers, "Content-Type");
	assert_non_null(strstr(ct, "report-type=global-delivery-status"));
	free(ct);
	field_is(m.parts[0].headers, "Content-Type",
	    "text/plain; charset=utf-8");
	field_is(m.parts[1].headers, "Content-Type",
	    "message/global-delivery-status");
	field_is(m.parts[2].headers, "Content-Type", "message/global");
	g = status_group(&m.parts[1], 1);
	field_is(g, "Final-Recipient",
	    "utf-8; j\xc3\xb6rg@b\xc3\xbc" "cher.example");
	free(g);
	msg_free(&m);
	buf_free(&out);

	report_init(&r, &src, original, &rc, 1);
	build_parse(&r, &out, &m, &info);
	assert_false(info.smtputf8);
	assert_false(info.eightbit);
	field_is(m.parts[1].headers, "Content-Type", "message/delivery-status");
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	g = status_group(&m.parts[1], 1);
	field_is(g, "Final-Recipient",
	    "utf-8; j\\x{F6}rg@b\\x{FC}cher.example");
	free(g);
	assert_true(text_has(m.parts[0].body, "<j??rg@b??cher.example>"));
	msg_free(&m);
	buf_free(&out);
}

/* The boundary that would be drawn occurs in the content: another one is
 * drawn. */
static void
test_boundary_collision(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out, text;
	struct msg		m;
	char			first[128];

	(void)state;
	report_init(&r, &src, original, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.random = test_random;
	rnd_counter = 0;
	build_parse(&r, &out, &m, NULL);
	assert_true(bsnprintf(first, sizeof(first), "%s", m.boundary));
	msg_free(&m);
	buf_free(&out);

	buf_init(&text);
	buf_printf(&text, "Subject: trap\r\n\r\n--%s\r\nContent-Type: "
	    "text/plain\r\n\r\nfake\r\n--%s--\r\n", first, first);
	report_init(&r, &src, text.data, &rc, 1);
	r.ret = DSN_RET_FULL;
	r.random = test_random;
	rnd_counter = 0;
	build_parse(&r, &out, &m, NULL);
	assert_string_not_equal(m.boundary, first);
	assert_non_null(strstr(m.parts[2].body, first));
	assert_int_equal(m.parts[2].bodylen, text.len);
	msg_free(&m);
	buf_free(&out);
	buf_free(&text);
}

/* Bare CR and LF, NUL, a line of 3000 octets and no final line end. */
static void
test_odd_original(void **state)
{
	static const char	odd[] = "Subject: odd\nX-A: a\rX-B: b\r\n\n"
	    "line\r\rnul\0here\nlast";
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out, text;
	struct msg		m;
	size_t			i;

	(void)state;
	report_init(&r, &src, original, &rc, 1);
	src.p = odd;
	src.len = sizeof(odd) - 1;
	r.ret = DSN_RET_FULL;
	build_parse(&r, &out, &m, NULL);
	assert_string_equal(m.parts[2].body, "Subject: odd\r\nX-A: a\r\n"
	    "X-B: b\r\n\r\nline\r\n\r\nnul?here\r\nlast\r\n");
	msg_free(&m);
	buf_free(&out);

	buf_init(&text);
	buf_addstr(&text, "Subject: long\r\n\r\n");
	for (i = 0; i < 3000; i++)
		buf_addch(&text, 'x');
	buf_addstr(&text, "\r\n");
	report_init(&r, &src, text.data, &rc, 1);
	r.ret = DSN_RET_FULL;
	build_parse(&r, &out, &m, NULL);	/* lines checked there */
	assert_int_equal(count_in(m.parts[2].body, m.parts[2].bodylen, "x"),
	    3000);
	msg_free(&m);
	buf_free(&out);
	buf_free(&text);
}

/* A remote reply of 3000 octets without a space, and one with many words:
 * folded, no line over 998, and the words all there. */
static void
test_long_reply(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct buf		out, reply;
	struct msg		m;
	char			*g;
	size_t			i;

	(void)state;
	buf_init(&reply);
	buf_addstr(&reply, "550 ");
	for (i = 0; i < 3000; i++)
		buf_addch(&reply, 'y');
	rc.remote_reply = reply.data;
	report_init(&r, &src, original, &rc, 1);
	build_parse(&r, &out, &m, NULL);
	g = status_group(&m.parts[1], 1);
	free(g);
	assert_int_equal(count_in(m.parts[1].body, m.parts[1].bodylen, "y"),
	    3000);
	msg_free(&m);
	buf_free(&out);

	buf_reset(&reply);
	buf_addstr(&reply, "550");
	for (i = 0; i < 300; i++)
		buf_printf(&reply, " word%zu", i);
	rc.remote_reply = reply.data;
	report_init(&r, &src, original, &rc, 1);
	build_parse(&r, &out, &m, NULL);
	g = status_group(&m.parts[1], 1);
	/* Unfolded, the value is the reply again. */
	{
		char	*v = field_get(g, "Diagnostic-Code");

		assert_non_null(v);
		assert_string_equal(v + strlen("smtp; "), reply.data);
		free(v);
	}
	free(g);
	msg_free(&m);
	buf_free(&out);
	buf_free(&reply);
}

/* The notice to postmaster about a failed report. */
static void
test_postmaster(void **state)
{
	struct dsn_rcpt		rc = rcpt_failed();
	struct dsn_report	r;
	struct strsrc		src;
	struct dsn_info		info;
	struct buf		out;
	struct msg		m;
	char			err[200];
	char			*g;

	(void)state;
	rc.addr = "alice@example.net";
	rc.orcpt = NULL;
	rc.remote_mta = "mx.example.net";
	rc.remote_reply = "550 5.1.1 no such user alice";
	report_init(&r, &src, original, &rc, 1);
	r.sender = "";
	r.envid = NULL;
	r.ret = DSN_RET_FULL;
	buf_init(&out);
	assert_int_equal(dsn_build_postmaster(&r, "", &out, NULL, err,
	    sizeof(err)), -1);
	assert_int_equal(dsn_build_postmaster(&r, "postmaster@mx.example.org",
	    &out, &info, err, sizeof(err)), 0);
	msg_parse(&out, &m);
	assert_int_equal(m.nparts, 3);
	field_is(m.headers, "To", "<postmaster@mx.example.org>");
	field_is(m.headers, "Subject", "Postmaster Copy: Undelivered Mail");
	field_is(m.headers, "Auto-Submitted", "auto-replied");
	field_is(m.headers, "From",
	    "MAILER-DAEMON@mx.example.org (Mail Delivery System)");
	assert_false(info.full);
	field_is(m.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_null(strstr(m.parts[2].body, "body line"));
	assert_true(text_has(m.parts[0].body, "null sender"));
	g = status_group(&m.parts[1], 1);
	field_is(g, "Final-Recipient", "rfc822; alice@example.net");
	field_is(g, "Action", "failed");
	free(g);
	msg_free(&m);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_destination),
		cmocka_unit_test(test_envelope_values),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_failed_hdrs),
		cmocka_unit_test(test_failed_full_fd),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_recipients_and_success),
		cmocka_unit_test(test_null_sender_and_bad_input),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_huge_headers),
		cmocka_unit_test(test_full_too_large),
		cmocka_unit_test(test_8bit),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_boundary_collision),
		cmocka_unit_test(test_odd_original),
		cmocka_unit_test(test_long_reply),
		cmocka_unit_test(test_postmaster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
