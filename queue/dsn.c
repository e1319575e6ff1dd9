/*
 * dsn.c - builds delivery status notifications (format and rules in
 * dsn.h).
 *
 * The three parts are built first, each into its own buffer; then a random
 * boundary is drawn until it occurs in none of them, and the message is
 * put together.  The original is read once, in chunks, by up to two
 * copiers at the same time: one for the header section and, with RET=FULL,
 * one for the whole message, so a too large original can fall back to its
 * headers without being read again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "queue/dsn.h"

#define DSN_WIDTH		76	/* fold text and fields here */
#define DSN_HOST_MAX		253
#define DSN_CHUNK		(64 * 1024)
#define DSN_BOUNDARY_TRIES	16
#define DSN_BOUNDARY_RANDOM	16	/* random octets in a boundary */

enum dsn_kind {
	DSN_KIND_SENDER,
	DSN_KIND_POSTMASTER,
};

/* ---- rules ---- */

static int
dsn_is_success(enum dsn_action action)
{
	return action == DSN_ACTION_DELIVERED ||
	    action == DSN_ACTION_RELAYED || action == DSN_ACTION_EXPANDED;
}

int
dsn_wanted(unsigned notify, enum dsn_action action)
{
	if (notify & DSN_NOTIFY_NEVER)
		return 0;
	if (notify == 0)
		notify = DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	if (action == DSN_ACTION_FAILED)
		return (notify & DSN_NOTIFY_FAILURE) != 0;
	if (action == DSN_ACTION_DELAYED)
		return (notify & DSN_NOTIFY_DELAY) != 0;
	return dsn_is_success(action) && (notify & DSN_NOTIFY_SUCCESS) != 0;
}

enum dsn_dest
dsn_destination(const char *sender, unsigned notify, enum dsn_action action)
{
	if (!dsn_wanted(notify, action))
		return DSN_DEST_NONE;
	if (sender != NULL && sender[0] != '\0')
		return DSN_DEST_SENDER;
	return action == DSN_ACTION_FAILED ? DSN_DEST_POSTMASTER :
	    DSN_DEST_NONE;
}

unsigned
dsn_notify_bits(const char *list)
{
	unsigned	bits = 0;
	size_t		n;

	while (list != NULL && *list != '\0') {
		n = strcspn(list, ",");
		bits |= proto_notify_bit(list, n);
		list += n;
		if (*list == ',')
			list++;
	}
	return bits;
}

char *
dsn_notify_list(unsigned bits)
{
	struct buf	 b;
	char		*s;

	if (bits == 0)
		return NULL;
	buf_init(&b);
	if (bits & DSN_NOTIFY_NEVER)
		buf_addstr(&b, ",NEVER");
	if (bits & DSN_NOTIFY_SUCCESS)
		buf_addstr(&b, ",SUCCESS");
	if (bits & DSN_NOTIFY_FAILURE)
		buf_addstr(&b, ",FAILURE");
	if (bits & DSN_NOTIFY_DELAY)
		buf_addstr(&b, ",DELAY");
	s = xstrdup(b.data + 1);
	buf_free(&b);
	return s;
}

int
dsn_ret_value(const char *ret)
{
	if (ret == NULL)
		return 0;
	if (strcasecmp(ret, "FULL") == 0)
		return DSN_RET_FULL;
	if (strcasecmp(ret, "HDRS") == 0)
		return DSN_RET_HDRS;
	return 0;
}

const char *
dsn_action_name(enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED:
		return "failed";
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "relayed";
	case DSN_ACTION_EXPANDED:
		return "expanded";
	}
	return "failed";
}

void
dsn_date(uint64_t t, char *out, size_t outlen)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (t > (uint64_t)INT64_MAX / 2 || gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	(void)bsnprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- cleaning and folding ---- */

/* Appends s with control bytes as '?' and, unless utf8, bytes from 0x80
 * up as '?'.  Line breaks become spaces when breaks_as_space. */
static void
dsn_clean(struct buf *out, const char *s, int utf8, int breaks_as_space)
{
	unsigned char	c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (breaks_as_space && (c == '\r' || c == '\n' || c == '\t'))
			buf_addch(out, ' ');
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			buf_addch(out, '?');
		else
			buf_addch(out, (char)c);
	}
}

/*
 * Appends the words of text (clean: no control byte) from column col,
 * breaking a line before a word that would pass DSN_WIDTH and going on
 * with cont; a word longer than a line is cut.  Runs of spaces become one.
 * Returns the column at the end.
 */
static size_t
dsn_fold(struct buf *out, const char *text, size_t col, const char *cont)
{
	size_t	n, take, contlen = strlen(cont);
	int	first = 1;

	for (;;) {
		while (*text == ' ')
			text++;
		if (*text == '\0')
			return col;
		n = strcspn(text, " ");
		if (!first && col > contlen && col + 1 + n > DSN_WIDTH) {
			buf_printf(out, "\r\n%s", cont);
			col = contlen;
		} else if (!first) {
			buf_addch(out, ' ');
			col++;
		}
		first = 0;
		while (col + n > DSN_LINE_MAX) {
			take = DSN_LINE_MAX - col;
			buf_add(out, text, take);
			text += take;
			n -= take;
			buf_printf(out, "\r\n%s", cont);
			col = contlen;
		}
		buf_add(out, text, n);
		text += n;
		col += n;
	}
}

/* "Name: value" CRLF, value cleaned and folded. */
static void
dsn_field(struct buf *out, const char *name, const char *value, int utf8)
{
	struct buf	v;

	buf_init(&v);
	dsn_clean(&v, value, utf8, 1);
	buf_printf(out, "%s: ", name);
	(void)dsn_fold(out, v.data != NULL ? v.data : "", strlen(name) + 2,
	    " ");
	buf_addstr(out, "\r\n");
	buf_free(&v);
}

/* A paragraph of the text part: folded, indented by cont after its first
 * line, ending in CRLF. */
static void
dsn_para(struct buf *out, const char *text, const char *cont)
{
	(void)dsn_fold(out, text, 0, cont);
	buf_addstr(out, "\r\n");
}

static int
dsn_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int
dsn_has_8bit(const struct buf *b)
{
	size_t	i;

	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return 1;
	return 0;
}

/* ---- addresses and DSN values ---- */

/* One UTF-8 sequence at s: its code point and length (U+FFFD, 1 for a
 * bad one). */
static unsigned long
dsn_utf8(const unsigned char *s, size_t *len)
{
	unsigned long	cp;
	size_t		n, i;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		n = 0, cp = 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			break;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (n == 0 || i < n || cp > 0x10ffff || (cp >= 0xd800 &&
	    cp <= 0xdfff) || (n == 3 && cp < 0x800) || (n == 4 &&
	    cp < 0x10000)) {
		*len = 1;
		return 0xfffd;
	}
	*len = n;
	return cp;
}

/* utf-8-addr-xtext (RFC 6533 3): QCHAR as it is, the rest \x{HEX}. */
static void
dsn_addr_xtext(struct buf *out, const char *addr)
{
	const unsigned char	*s = (const unsigned char *)addr;
	unsigned long		 cp;
	size_t			 n;

	while (*s != '\0') {
		cp = dsn_utf8(s, &n);
		s += n;
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '\\' &&
		    cp != '=')
			buf_addch(out, (char)cp);
		else
			buf_printf(out, cp < 0x100 ? "\\x{%02lX}" :
			    cp < 0x10000 ? "\\x{%04lX}" : "\\x{%lX}", cp);
	}
}

/* An address-type ";" address value: rfc822 for plain ASCII, else utf-8
 * (raw in a global report, utf-8-addr-xtext otherwise). */
static void
dsn_addr_value(struct buf *out, const char *addr, int utf8)
{
	if (dsn_ascii(addr)) {
		buf_addstr(out, "rfc822; ");
		buf_addstr(out, addr);
	} else if (utf8) {
		buf_addstr(out, "utf-8; ");
		dsn_clean(out, addr, 1, 0);
	} else {
		buf_addstr(out, "utf-8; ");
		dsn_addr_xtext(out, addr);
	}
}

static int
dsn_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* xtext (RFC 3461 4) decoded into out; -1 if malformed. */
static int
dsn_xtext_decode(struct buf *out, const char *s)
{
	int	hi, lo;

	for (; *s != '\0'; s++) {
		if (*s != '+') {
			buf_addch(out, *s);
			continue;
		}
		if ((hi = dsn_hexval((unsigned char)s[1])) == -1 ||
		    (lo = dsn_hexval((unsigned char)s[2])) == -1)
			return -1;
		buf_addch(out, (char)(hi * 16 + lo));
		s += 2;
	}
	return 0;
}

/* A decoded xtext value (control bytes and 8-bit as '?'), or the text as
 * given if it does not decode. */
static void
dsn_xtext_value(struct buf *out, const char *s)
{
	struct buf	dec;

	buf_init(&dec);
	if (dsn_xtext_decode(&dec, s) == 0 && dec.len == strlen(dec.data))
		dsn_clean(out, dec.data, 0, 0);
	else
		dsn_clean(out, s, 0, 0);
	buf_free(&dec);
}

/* "type; address" from DSN ORCPT "type;xtext". */
static void
dsn_orcpt_value(struct buf *out, const char *orcpt)
{
	const char	*semi = strchr(orcpt, ';');

	if (semi == NULL) {
		buf_addstr(out, "rfc822; ");
		dsn_xtext_value(out, orcpt);
		return;
	}
	buf_add(out, orcpt, (size_t)(semi - orcpt));
	buf_addstr(out, "; ");
	dsn_xtext_value(out, semi + 1);
}

/* d.ddd.ddd with class 2, 4 or 5 (RFC 3463). */
static int
dsn_status_ok(const char *s)
{
	size_t	n;
	int	part;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (part = 0; part < 2; part++) {
		n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return 0;
		s += n;
		if (part == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

static const char *
dsn_status(const struct dsn_rcpt *rc)
{
	if (dsn_status_ok(rc->status))
		return rc->status;
	if (rc->action == DSN_ACTION_FAILED)
		return "5.0.0";
	if (rc->action == DSN_ACTION_DELAYED)
		return "4.0.0";
	return "2.0.0";
}

/* A domain name: letters, digits, '-' and '.', at most DSN_HOST_MAX. */
static int
dsn_hostname_ok(const char *s)
{
	size_t	n;

	if (s == NULL || (n = strlen(s)) == 0 || n > DSN_HOST_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") == n;
}

/* ---- the report part (message/delivery-status) ---- */

static void
dsn_status_message(struct buf *out, const struct dsn_report *r, int utf8)
{
	struct buf	v;
	char		date[64];

	buf_init(&v);
	buf_printf(&v, "dns; %s", r->hostname);
	dsn_field(out, "Reporting-MTA", v.data, utf8);
	if (r->queue_id != NULL && r->queue_id[0] != '\0')
		dsn_field(out, "X-Strictmail-Queue-ID", r->queue_id, utf8);
	if (r->envid != NULL && r->envid[0] != '\0') {
		buf_reset(&v);
		dsn_xtext_value(&v, r->envid);
		dsn_field(out, "Original-Envelope-Id", v.data, 0);
	}
	if (r->arrival != 0) {
		dsn_date(r->arrival, date, sizeof(date));
		dsn_field(out, "Arrival-Date", date, 0);
	}
	buf_free(&v);
}

/* Remote-MTA and Diagnostic-Code of one recipient. */
static void
dsn_status_diag(struct buf *out, const struct dsn_rcpt *rc, int utf8)
{
	struct buf	v;

	buf_init(&v);
	if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0') {
		buf_addstr(&v, "dns; ");
		dsn_clean(&v, rc->remote_mta, 0, 1);
		dsn_field(out, "Remote-MTA", v.data, 0);
	}
	buf_reset(&v);
	if (rc->remote_reply != NULL && rc->remote_reply[0] != '\0') {
		buf_addstr(&v, "smtp; ");
		buf_addstr(&v, rc->remote_reply);
	} else if (rc->reason != NULL && rc->reason[0] != '\0') {
		buf_addstr(&v, "X-Strictmail; ");
		buf_addstr(&v, rc->reason);
	}
	if (v.len > 0)
		dsn_field(out, "Diagnostic-Code", v.data, utf8);
	buf_free(&v);
}

static void
dsn_status_rcpt(struct buf *out, const struct dsn_rcpt *rc, int utf8)
{
	struct buf	v;
	char		date[64];

	buf_init(&v);
	buf_addstr(out, "\r\n");
	if (rc->orcpt != NULL && rc->orcpt[0] != '\0') {
		dsn_orcpt_value(&v, rc->orcpt);
		dsn_field(out, "Original-Recipient", v.data, utf8);
		buf_reset(&v);
	}
	dsn_addr_value(&v, rc->addr, utf8);
	dsn_field(out, "Final-Recipient", v.data, utf8);
	dsn_field(out, "Action", dsn_action_name(rc->action), 0);
	dsn_field(out, "Status", dsn_status(rc), 0);
	dsn_status_diag(out, rc, utf8);
	if (rc->last_attempt != 0) {
		dsn_date(rc->last_attempt, date, sizeof(date));
		dsn_field(out, "Last-Attempt-Date", date, 0);
	}
	if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0) {
		dsn_date(rc->retry_until, date, sizeof(date));
		dsn_field(out, "Will-Retry-Until", date, 0);
	}
	buf_free(&v);
}

static void
dsn_status_part(struct buf *out, const struct dsn_report *r, int utf8)
{
	size_t	i;

	dsn_status_message(out, r, utf8);
	for (i = 0; i < r->nrcpt; i++)
		dsn_status_rcpt(out, &r->rcpts[i], utf8);
}

/* ---- the text part ---- */

static int
dsn_any(const struct dsn_report *r, int success, enum dsn_action action)
{
	size_t	i;

	for (i = 0; i < r->nrcpt; i++)
		if (success ? dsn_is_success(r->rcpts[i].action) :
		    r->rcpts[i].action == action)
			return 1;
	return 0;
}

static void
dsn_text_intro(struct buf *out, const struct dsn_report *r,
    enum dsn_kind kind)
{
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n",
	    r->hostname);
	if (kind == DSN_KIND_POSTMASTER) {
		dsn_para(out, "A delivery status notification sent by this "
		    "host could not be delivered. It came from the null sender, "
		    "so this notice to the postmaster is the only one. The "
		    "reasons are below, and the notification's header section "
		    "is attached.", "");
		return;
	}
	if (dsn_any(r, 0, DSN_ACTION_FAILED))
		dsn_para(out, "Your message could not be delivered to one or "
		    "more of its recipients, and the mail system has given up "
		    "on them. The reason for each one is given below.", "");
	if (dsn_any(r, 0, DSN_ACTION_FAILED) &&
	    dsn_any(r, 0, DSN_ACTION_DELAYED))
		buf_addstr(out, "\r\n");
	if (dsn_any(r, 0, DSN_ACTION_DELAYED))
		dsn_para(out, "Your message has not yet been delivered to one "
		    "or more of its recipients. The mail system keeps trying "
		    "until the time given below; you do not need to send it "
		    "again.", "");
	if (dsn_any(r, 1, 0))
		dsn_para(out, "You asked to be told when your message was "
		    "delivered. The recipients below have it, or the mail "
		    "system passed it on as said.", "");
	buf_addstr(out, "\r\n");
	dsn_para(out, "If you need help, write to the postmaster of this host "
	    "and include this report. You may remove your own text from the "
	    "returned message first.", "");
	buf_addstr(out, "\r\n                   The mail system\r\n");
}

static const char *
dsn_text_action(enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED:
		return "delivery failed";
	case DSN_ACTION_DELAYED:
		return "not delivered yet";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "passed on to a system that sends no delivery "
		    "notifications";
	case DSN_ACTION_EXPANDED:
		return "delivered to an alias or list, which passed it on";
	}
	return "delivery failed";
}

/* Why, in the words of the remote host or our own. */
static void
dsn_text_why(struct buf *t, const struct dsn_rcpt *rc)
{
	int	host = rc->remote_mta != NULL && rc->remote_mta[0] != '\0';

	if (rc->remote_reply != NULL && rc->remote_reply[0] != '\0') {
		if (host)
			buf_printf(t, ". Host %s said: %s", rc->remote_mta,
			    rc->remote_reply);
		else
			buf_printf(t, ". The remote host said: %s",
			    rc->remote_reply);
	} else if (rc->reason != NULL && rc->reason[0] != '\0') {
		if (host)
			buf_printf(t, ". Host %s: %s", rc->remote_mta,
			    rc->reason);
		else
			buf_printf(t, ": %s", rc->reason);
	} else if (host)
		buf_printf(t, " at host %s", rc->remote_mta);
}

/* One paragraph per recipient. */
static void
dsn_text_rcpt(struct buf *out, const struct dsn_rcpt *rc, int utf8)
{
	struct buf	t, v;
	char		date[64];

	buf_init(&t);
	buf_init(&v);
	buf_printf(&t, "<%s>: %s (status %s)", rc->addr,
	    dsn_text_action(rc->action), dsn_status(rc));
	dsn_text_why(&t, rc);
	buf_addch(&t, '.');
	if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0) {
		dsn_date(rc->retry_until, date, sizeof(date));
		buf_printf(&t, " The mail system keeps trying until %s.",
		    date);
	}
	dsn_clean(&v, t.data, utf8, 1);
	buf_addstr(out, "\r\n");
	dsn_para(out, v.data, "    ");
	buf_free(&t);
	buf_free(&v);
}

static void
dsn_text_part(struct buf *out, const struct dsn_report *r,
    enum dsn_kind kind, int utf8, const char *note)
{
	size_t	i;

	dsn_text_intro(out, r, kind);
	for (i = 0; i < r->nrcpt; i++)
		dsn_text_rcpt(out, &r->rcpts[i], utf8);
	if (note != NULL) {
		buf_addstr(out, "\r\n");
		dsn_para(out, note, "");
	}
}

/* ---- the copy of the original ---- */

struct dsn_copy {
	struct buf	 out;
	int		 headers;	/* stop at the end of the header section */
	uint64_t	 limit;		/* octets; 0 = none */
	size_t		 linelen;
	size_t		 field;		/* where the current field began */
	int		 cr;		/* a CR waits for its LF */
	int		 done;
	int		 cut;		/* the limit was reached */
	int		 eightbit;
};

static void
dsn_copy_init(struct dsn_copy *c, int headers, uint64_t limit)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->out);
	c->headers = headers;
	c->limit = limit;
}

/* The end of a line (CRLF, bare CR or bare LF). */
static void
dsn_copy_eol(struct dsn_copy *c)
{
	if (c->headers && c->linelen == 0) {
		c->done = 1;	/* the empty line ends the header section */
		return;
	}
	buf_addstr(&c->out, "\r\n");
	c->linelen = 0;
}

static void
dsn_copy_octet(struct dsn_copy *c, unsigned char o)
{
	if (c->linelen == DSN_LINE_MAX) {
		/* In a header a break must be a fold. */
		buf_addstr(&c->out, c->headers ? "\r\n " : "\r\n");
		c->linelen = c->headers ? 1 : 0;
	}
	if (c->linelen == 0 && o != ' ' && o != '\t')
		c->field = c->out.len;
	if (o == '\0')
		o = '?';
	if (o >= 0x80)
		c->eightbit = 1;
	buf_addch(&c->out, (char)o);
	c->linelen++;
}

/* Over the limit: a header copy ends before the field it was in; a full
 * copy is given up (the caller falls back on the headers). */
static void
dsn_copy_limit(struct dsn_copy *c)
{
	if (c->limit == 0 || c->out.len <= c->limit)
		return;
	c->cut = 1;
	c->done = 1;
	if (c->headers) {
		c->out.len = c->field;
		c->out.data[c->out.len] = '\0';
	}
}

static void
dsn_copy_feed(struct dsn_copy *c, const unsigned char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n && !c->done; i++) {
		if (c->cr) {
			c->cr = 0;
			dsn_copy_eol(c);
			if (p[i] == '\n')
				continue;
			if (c->done)
				break;
		}
		if (p[i] == '\r')
			c->cr = 1;
		else if (p[i] == '\n')
			dsn_copy_eol(c);
		else
			dsn_copy_octet(c, p[i]);
		dsn_copy_limit(c);
	}
}

/* The end of the input: the last line gets its CRLF. */
static void
dsn_copy_finish(struct dsn_copy *c)
{
	if (c->done)
		return;
	if (c->cr || c->linelen > 0)
		buf_addstr(&c->out, "\r\n");
	dsn_copy_limit(c);
	c->done = 1;
}

static ssize_t
dsn_source_read(const struct dsn_source *src, void *p, size_t n,
    uint64_t *off)
{
	ssize_t	got;

	do {
		if (src->read != NULL)
			got = src->read(src->arg, p, n);
		else
			got = pread(src->fd, p, n, (off_t)*off);
	} while (got == -1 && errno == EINTR);
	if (got > 0)
		*off += (uint64_t)got;
	return got;
}

/* Reads the original into the header copy h and, if full is not NULL,
 * the full copy.  0, or -1 on a read error. */
static int
dsn_read_original(const struct dsn_source *src, struct dsn_copy *h,
    struct dsn_copy *full)
{
	unsigned char	*chunk = xmalloc(DSN_CHUNK);
	uint64_t	 off = 0;
	ssize_t		 n;

	while (!h->done || (full != NULL && !full->done)) {
		if ((n = dsn_source_read(src, chunk, DSN_CHUNK, &off)) == -1) {
			free(chunk);
			return -1;
		}
		if (n == 0)
			break;
		dsn_copy_feed(h, chunk, (size_t)n);
		if (full != NULL)
			dsn_copy_feed(full, chunk, (size_t)n);
	}
	free(chunk);
	dsn_copy_finish(h);
	if (full != NULL)
		dsn_copy_finish(full);
	return 0;
}

/* ---- putting it together ---- */

struct dsn_parts {
	struct buf	text;
	struct buf	status;
	struct dsn_copy	head;
	struct dsn_copy	full;
	int		use_full;
	int		utf8;
	int		eightbit;
	char		note[200];
	char		boundary[80];
	char		msgid[300];
};

static void
dsn_parts_free(struct dsn_parts *p)
{
	buf_free(&p->text);
	buf_free(&p->status);
	buf_free(&p->head.out);
	buf_free(&p->full.out);
}

static void
dsn_random(const struct dsn_report *r, void *p, size_t n)
{
	uint64_t	x;

	if (r->random != NULL) {
		r->random(p, n);
		return;
	}
	if (getrandom(p, n, GRND_NONBLOCK) == (ssize_t)n)
		return;
	/* No entropy yet: the boundary is checked against the content all
	 * the same, so a weak one is only less pretty. */
	x = now_ms() ^ ((uint64_t)getpid() << 32);
	while (n-- > 0) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		((unsigned char *)p)[n] = (unsigned char)(x >> 56);
	}
}

static void
dsn_hex(const unsigned char *p, size_t n, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
dsn_in(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* A boundary found in no part.  0, or -1 if every try was found. */
static int
dsn_boundary(const struct dsn_report *r, struct dsn_parts *p)
{
	const struct buf	*orig = p->use_full ? &p->full.out : &p->head.out;
	unsigned char		 rnd[DSN_BOUNDARY_RANDOM];
	char			 hex[2 * DSN_BOUNDARY_RANDOM + 1];
	int			 i;

	for (i = 0; i < DSN_BOUNDARY_TRIES; i++) {
		dsn_random(r, rnd, sizeof(rnd));
		dsn_hex(rnd, sizeof(rnd), hex);
		(void)bsnprintf(p->boundary, sizeof(p->boundary),
		    "=_strictmail_%s", hex);
		if (!dsn_in(&p->text, p->boundary) &&
		    !dsn_in(&p->status, p->boundary) &&
		    !dsn_in(orig, p->boundary))
			return 0;
	}
	return -1;
}

static void
dsn_message_id(const struct dsn_report *r, struct dsn_parts *p)
{
	unsigned char	rnd[8];
	char		hex[17];
	time_t		tt = (time_t)r->now;
	struct tm	tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	dsn_random(r, rnd, sizeof(rnd));
	dsn_hex(rnd, sizeof(rnd), hex);
	(void)bsnprintf(p->msgid, sizeof(p->msgid),
	    "<%04d%02d%02d%02d%02d%02d.%s@%s>", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, hex,
	    r->hostname);
}

static const char *
dsn_subject(const struct dsn_report *r, enum dsn_kind kind)
{
	if (kind == DSN_KIND_POSTMASTER)
		return "Postmaster Copy: Undelivered Mail";
	if (dsn_any(r, 0, DSN_ACTION_FAILED))
		return "Undelivered Mail Returned to Sender";
	if (dsn_any(r, 0, DSN_ACTION_DELAYED))
		return "Delayed Mail (still being retried)";
	return "Successful Mail Delivery Report";
}

static void
dsn_headers(struct buf *out, const struct dsn_report *r,
    enum dsn_kind kind, const char *to, const struct dsn_parts *p)
{
	struct buf	v;
	char		date[64];

	buf_init(&v);
	buf_printf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n",
	    r->hostname);
	buf_addch(&v, '<');
	dsn_clean(&v, to, p->utf8, 0);
	buf_addch(&v, '>');
	dsn_field(out, "To", v.data, p->utf8);
	dsn_field(out, "Subject", dsn_subject(r, kind), 0);
	dsn_date(r->now, date, sizeof(date));
	dsn_field(out, "Date", date, 0);
	dsn_field(out, "Message-ID", p->msgid, 0);
	buf_addstr(out, "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=%s;\r\n"
	    "\tboundary=\"%s\"\r\n", p->utf8 ? "global-delivery-status" :
	    "delivery-status", p->boundary);
	if (p->eightbit)
		buf_addstr(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_addstr(out, "\r\nThis is a MIME-encapsulated message.\r\n");
	buf_free(&v);
}

static void
dsn_part(struct buf *out, const char *boundary, const char *desc,
    const char *type, int eightbit, const struct buf *content)
{
	buf_printf(out, "\r\n--%s\r\nContent-Description: %s\r\n"
	    "Content-Type: %s\r\n", boundary, desc, type);
	if (eightbit)
		buf_addstr(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_addstr(out, "\r\n");
	if (content->len > 0)
		buf_add(out, content->data, content->len);
}

static void
dsn_assemble(struct buf *out, const struct dsn_report *r,
    enum dsn_kind kind, const char *to, const struct dsn_parts *p)
{
	const struct dsn_copy	*orig = p->use_full ? &p->full : &p->head;
	int			 failed = kind == DSN_KIND_POSTMASTER ||
				     dsn_any(r, 0, DSN_ACTION_FAILED);

	dsn_headers(out, r, kind, to, p);
	dsn_part(out, p->boundary, "Notification", p->utf8 ?
	    "text/plain; charset=utf-8" : "text/plain; charset=us-ascii",
	    dsn_has_8bit(&p->text), &p->text);
	dsn_part(out, p->boundary, "Delivery report", p->utf8 ?
	    "message/global-delivery-status" : "message/delivery-status",
	    dsn_has_8bit(&p->status), &p->status);
	if (p->use_full)
		dsn_part(out, p->boundary, "Undelivered Message", p->utf8 ?
		    "message/global" : "message/rfc822", orig->eightbit,
		    &orig->out);
	else
		dsn_part(out, p->boundary, failed ?
		    "Undelivered Message Headers" : "Message Headers",
		    p->utf8 ? "message/global-headers" : "text/rfc822-headers",
		    orig->eightbit, &orig->out);
	buf_printf(out, "\r\n--%s--\r\n", p->boundary);
}

/* Reads the original and decides what of it is returned. */
static int
dsn_original(const struct dsn_report *r, enum dsn_kind kind,
    struct dsn_parts *p)
{
	size_t	maxh = r->max_headers != 0 ? r->max_headers : DSN_MAX_HEADERS;
	int	want_full = kind == DSN_KIND_SENDER &&
		    r->ret == DSN_RET_FULL && dsn_any(r, 0, DSN_ACTION_FAILED);

	dsn_copy_init(&p->head, 1, maxh);
	dsn_copy_init(&p->full, 0, r->max_full);
	if (dsn_read_original(&r->original, &p->head,
	    want_full ? &p->full : NULL) == -1)
		return -1;
	p->use_full = want_full && !p->full.cut;
	if (want_full && p->full.cut)
		(void)bsnprintf(p->note, sizeof(p->note), "Note: your message "
		    "is larger than %llu octets, so only its header section is "
		    "returned.", (unsigned long long)r->max_full);
	else if (!p->use_full && p->head.cut)
		(void)bsnprintf(p->note, sizeof(p->note), "Note: the header "
		    "section of the message is longer than %zu octets; only "
		    "its first fields are returned.", maxh);
	return 0;
}

static int
dsn_check(const struct dsn_report *r, enum dsn_kind kind, const char *to,
    char *err, size_t errlen)
{
	size_t	i;

	if (!dsn_hostname_ok(r->hostname)) {
		(void)bsnprintf(err, errlen, "reporting host name is not a "
		    "domain name");
		return -1;
	}
	if (to == NULL || to[0] == '\0') {
		(void)bsnprintf(err, errlen, "%s", kind == DSN_KIND_SENDER ?
		    "no report is sent to the null sender" :
		    "no postmaster address");
		return -1;
	}
	if (r->nrcpt == 0 || r->rcpts == NULL) {
		(void)bsnprintf(err, errlen, "no recipient to report");
		return -1;
	}
	for (i = 0; i < r->nrcpt; i++)
		if (r->rcpts[i].addr == NULL || r->rcpts[i].addr[0] == '\0') {
			(void)bsnprintf(err, errlen, "recipient %zu has no "
			    "address", i + 1);
			return -1;
		}
	return 0;
}

static int
dsn_make(const struct dsn_report *r, enum dsn_kind kind, const char *to,
    struct buf *out, struct dsn_info *info, char *err, size_t errlen)
{
	struct dsn_parts	p;

	if (dsn_check(r, kind, to, err, errlen) == -1)
		return -1;
	memset(&p, 0, sizeof(p));
	buf_init(&p.text);
	buf_init(&p.status);
	p.utf8 = r->smtputf8 != 0;
	if (dsn_original(r, kind, &p) == -1) {
		(void)bsnprintf(err, errlen, "cannot read the original "
		    "message: %s", strerror(errno));
		dsn_parts_free(&p);
		return -1;
	}
	dsn_text_part(&p.text, r, kind, p.utf8, p.note[0] ? p.note : NULL);
	dsn_status_part(&p.status, r, p.utf8);
	if (dsn_boundary(r, &p) == -1) {
		(void)bsnprintf(err, errlen, "no MIME boundary found that "
		    "does not occur in the content");
		dsn_parts_free(&p);
		return -1;
	}
	dsn_message_id(r, &p);
	p.eightbit = dsn_has_8bit(&p.text) || dsn_has_8bit(&p.status) ||
	    (p.use_full ? p.full.eightbit : p.head.eightbit);
	dsn_assemble(out, r, kind, to, &p);
	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		info->eightbit = p.eightbit || (p.utf8 && !dsn_ascii(to));
		info->smtputf8 = p.utf8;
		info->full = p.use_full;
		info->cut = p.note[0] != '\0';
		(void)strlcpy(info->message_id, p.msgid,
		    sizeof(info->message_id));
	}
	dsn_parts_free(&p);
	return 0;
}

int
dsn_build(const struct dsn_report *r, struct buf *out, struct dsn_info *info,
    char *err, size_t errlen)
{
	return dsn_make(r, DSN_KIND_SENDER, r->sender, out, info, err,
	    errlen);
}

int
dsn_build_postmaster(const struct dsn_report *r, const char *postmaster,
    struct buf *out, struct dsn_info *info, char *err, size_t errlen)
{
	return dsn_make(r, DSN_KIND_POSTMASTER, postmaster, out, info, err,
	    errlen);
}
