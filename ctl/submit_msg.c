/*
 * submit_msg.c - canonicalizes a message submitted through sendmail(8)
 * (see submit_msg.h): CRLF lines, the dot line, size and line limits,
 * the header section with Bcc removed, -t recipients, and Date,
 * Message-ID and From added when missing.  Nothing here does I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "common/util.h"
#include "ctl/submit_msg.h"

enum submit_kind {
	KIND_OTHER = 0,
	KIND_TO,
	KIND_CC,
	KIND_BCC,
	KIND_DATE,
	KIND_MSGID,
	KIND_FROM
};

/* The state of one canonicalization. */
struct canon {
	const struct submit_params	*p;
	struct submit_result		*r;
	struct buf			 hdr;	/* kept header fields */
	struct buf			 body;	/* the body, after the empty line */
	struct buf			 field;	/* the field being read */
	enum submit_kind		 kind;	/* of field */
	int				 in_header;
	int				 sep;	/* an empty line ends the header */
	int				 have;	/* SUBMIT_ADDED_* present */
	size_t				 lineno;
	char				*err;
	size_t				 errlen;
};

/* RFC 5322 atext. */
static int
submit_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

static int
submit_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ---- address lists (-t) ---- */

struct alist {
	struct buf	 el;	/* the element outside angle brackets */
	struct buf	 angle;	/* inside angle brackets */
	int		 quote, comment, in_angle, has_angle, group;
	int		 gap, words;	/* whitespace between words of el */
};

static int
alist_push(struct submit_result *r, const char *a, size_t n, char *err,
    size_t errlen)
{
	size_t	i;

	if (n > SUBMIT_LINE_MAX)
		return errorf(EX_DATAERR, err, errlen,
		    "an address in To/Cc/Bcc is too long");
	for (i = 0; i < n; i++)
		if (submit_ctl((unsigned char)a[i]))
			return errorf(EX_DATAERR, err, errlen,
			    "an address in To/Cc/Bcc holds a control character");
	if (a[0] == '-')
		return errorf(EX_DATAERR, err, errlen,
		    "an address in To/Cc/Bcc starts with '-'");
	if (r->nrcpts >= SUBMIT_RCPT_MAX)
		return errorf(EX_DATAERR, err, errlen,
		    "too many recipients in To/Cc/Bcc (at most %d)",
		    SUBMIT_RCPT_MAX);
	r->rcpts = xreallocarray(r->rcpts, r->nrcpts + 1, sizeof(char *));
	r->rcpts[r->nrcpts++] = xstrndup(a, n);
	return 0;
}

/* The end of one mailbox (at ',' ';' or the end of the list). */
static int
alist_element(struct alist *l, struct submit_result *r, char *err,
    size_t errlen)
{
	const char	*a;
	size_t		 n;
	int		 rc = 0;

	if (l->has_angle) {
		a = l->angle.data;
		n = l->angle.len;
		if (n > 0 && a[0] == '@') {	/* source route "@a,@b:" */
			const char *c = memchr(a, ':', n);
			if (c == NULL)
				return errorf(EX_DATAERR, err, errlen,
				    "a source route without ':' in To/Cc/Bcc");
			n -= (size_t)(c + 1 - a);
			a = c + 1;
		}
		if (n == 0)
			rc = errorf(EX_DATAERR, err, errlen,
			    "an empty address <> in To/Cc/Bcc");
		else
			rc = alist_push(r, a, n, err, errlen);
	} else if (l->el.len > 0) {
		if (l->words > 1)
			return errorf(EX_DATAERR, err, errlen,
			    "a malformed address in To/Cc/Bcc (words without "
			    "<address>)");
		rc = alist_push(r, l->el.data, l->el.len, err, errlen);
	}
	buf_reset(&l->el);
	buf_reset(&l->angle);
	l->has_angle = l->gap = l->words = 0;
	return rc;
}

/* A byte that belongs to the address or phrase being read. */
static void
alist_add(struct alist *l, char c)
{
	if (l->in_angle) {
		buf_addch(&l->angle, c);
		return;
	}
	if (l->el.len == 0 || l->gap)
		l->words++;
	l->gap = 0;
	buf_addch(&l->el, c);
}

/* Inside a quoted string or a comment: 1 when c was taken. */
static int
alist_nested(struct alist *l, const char *v, size_t *i, size_t len)
{
	char	c = v[*i];

	if (l->comment > 0) {
		if (c == '\\' && *i + 1 < len)
			(*i)++;
		else if (c == '(')
			l->comment++;
		else if (c == ')')
			l->comment--;
		return 1;
	}
	if (!l->quote)
		return 0;
	alist_add(l, c);
	if (c == '\\' && *i + 1 < len)
		alist_add(l, v[++(*i)]);
	else if (c == '"')
		l->quote = 0;
	return 1;
}

/* A byte outside quotes and comments. */
static int
alist_byte(struct alist *l, char c, struct submit_result *r, char *err,
    size_t errlen)
{
	switch (c) {
	case '(':
		l->comment = 1;
		return 0;
	case '"':
		l->quote = 1;
		alist_add(l, c);
		return 0;
	case ' ': case '\t': case '\r': case '\n':
		if (!l->in_angle && l->el.len > 0)
			l->gap = 1;
		return 0;
	}
	if (l->in_angle) {
		if (c == '>')
			l->in_angle = 0;
		else if (c == '<')
			return errorf(EX_DATAERR, err, errlen,
			    "a '<' inside <...> in To/Cc/Bcc");
		else
			alist_add(l, c);
		return 0;
	}
	switch (c) {
	case '<':
		if (l->has_angle)
			return errorf(EX_DATAERR, err, errlen,
			    "two <addresses> in one mailbox in To/Cc/Bcc");
		l->in_angle = l->has_angle = 1;
		return 0;
	case '>':
		return errorf(EX_DATAERR, err, errlen,
		    "a '>' without '<' in To/Cc/Bcc");
	case ',':
		return alist_element(l, r, err, errlen);
	case ';':
		l->group = 0;
		return alist_element(l, r, err, errlen);
	case ':':
		if (l->group || l->has_angle)
			return errorf(EX_DATAERR, err, errlen,
			    "a misplaced ':' in To/Cc/Bcc");
		l->group = 1;		/* the phrase was the group's name */
		buf_reset(&l->el);
		l->gap = l->words = 0;
		return 0;
	}
	alist_add(l, c);
	return 0;
}

static int
alist_parse(struct alist *l, const char *v, size_t len,
    struct submit_result *r, char *err, size_t errlen)
{
	size_t	i;
	int	rc;

	for (i = 0; i < len; i++) {
		if (v[i] == '\0')
			return errorf(EX_DATAERR, err, errlen,
			    "a NUL byte in To/Cc/Bcc");
		if (alist_nested(l, v, &i, len))
			continue;
		if ((rc = alist_byte(l, v[i], r, err, errlen)) != 0)
			return rc;
	}
	if (l->quote || l->comment > 0 || l->in_angle)
		return errorf(EX_DATAERR, err, errlen, "an unterminated %s "
		    "in To/Cc/Bcc", l->quote ? "quoted string" :
		    l->comment > 0 ? "comment" : "<address>");
	return alist_element(l, r, err, errlen);
}

int
submit_msg_addrlist(const char *value, size_t len, struct submit_result *r,
    char *err, size_t errlen)
{
	struct alist	l;
	int		rc;

	memset(&l, 0, sizeof(l));
	buf_init(&l.el);
	buf_init(&l.angle);
	rc = alist_parse(&l, value, len, r, err, errlen);
	buf_free(&l.el);
	buf_free(&l.angle);
	return rc == 0 ? 0 : -1;
}

/* ---- the header section ---- */

/* The length of the field name when line[0..n-1] starts a field, else 0. */
static size_t
hdr_name(const char *line, size_t n)
{
	size_t	i, name;

	for (i = 0; i < n && line[i] != ':' && line[i] > 0x20 &&
	    line[i] < 0x7f; i++)
		;
	name = i;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (name == 0 || i >= n || line[i] != ':')
		return 0;
	return name;
}

static enum submit_kind
hdr_kind(const char *name, size_t n)
{
	static const struct { const char *name; enum submit_kind kind; } k[] = {
		{ "to", KIND_TO }, { "cc", KIND_CC }, { "bcc", KIND_BCC },
		{ "date", KIND_DATE }, { "message-id", KIND_MSGID },
		{ "from", KIND_FROM },
	};
	size_t	i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (strlen(k[i].name) == n && strncasecmp(name, k[i].name, n) == 0)
			return k[i].kind;
	return KIND_OTHER;
}

/* The field read so far is complete: take its recipients, keep it. */
static int
hdr_flush(struct canon *c)
{
	const char	*colon;
	int		 rc;

	if (c->field.len == 0)
		return 0;
	if (c->p->extract_rcpts && (c->kind == KIND_TO || c->kind == KIND_CC ||
	    c->kind == KIND_BCC)) {
		colon = memchr(c->field.data, ':', c->field.len);
		rc = submit_msg_addrlist(colon + 1, c->field.len -
		    (size_t)(colon + 1 - c->field.data), c->r, c->err, c->errlen);
		if (rc != 0)
			return EX_DATAERR;
	}
	if (c->kind == KIND_DATE)
		c->have |= SUBMIT_ADDED_DATE;
	else if (c->kind == KIND_MSGID)
		c->have |= SUBMIT_ADDED_MSGID;
	else if (c->kind == KIND_FROM)
		c->have |= SUBMIT_ADDED_FROM;
	if (c->kind != KIND_BCC)
		buf_add(&c->hdr, c->field.data, c->field.len);
	buf_reset(&c->field);
	return 0;
}

/* One line while in the header section. */
static int
hdr_line(struct canon *c, const char *line, size_t n)
{
	size_t	name;
	int	rc;

	if (n > 0 && (line[0] == ' ' || line[0] == '\t') && c->field.len > 0) {
		buf_add(&c->field, line, n);
		buf_add(&c->field, "\r\n", 2);
		return 0;
	}
	if ((rc = hdr_flush(c)) != 0)
		return rc;
	name = hdr_name(line, n);
	if (name == 0) {		/* the body starts */
		c->in_header = 0;
		c->sep = 1;
		if (n > 0) {
			buf_add(&c->body, line, n);
			buf_add(&c->body, "\r\n", 2);
		}
		return 0;
	}
	c->kind = hdr_kind(line, name);
	buf_add(&c->field, line, n);
	buf_add(&c->field, "\r\n", 2);
	return 0;
}

/* ---- lines ---- */

/* The next line of in at *pos, without its line end: 0 at the end. */
static int
canon_next(const char *in, size_t len, size_t *pos, const char **line,
    size_t *n)
{
	const char	*lf;

	if (*pos >= len)
		return 0;
	*line = in + *pos;
	lf = memchr(*line, '\n', len - *pos);
	if (lf == NULL) {
		*n = len - *pos;
		*pos = len;
	} else {
		*n = (size_t)(lf - *line);
		*pos += *n + 1;
		if (*n > 0 && (*line)[*n - 1] == '\r')
			(*n)--;
	}
	return 1;
}

static int
canon_check(struct canon *c, const char *line, size_t n)
{
	if (memchr(line, '\r', n) != NULL)
		return errorf(EX_DATAERR, c->err, c->errlen,
		    "line %zu: a bare CR (not followed by LF)", c->lineno);
	if (memchr(line, '\0', n) != NULL)
		return errorf(EX_DATAERR, c->err, c->errlen,
		    "line %zu: a NUL byte (binary input)", c->lineno);
	if (n > SUBMIT_LINE_MAX)
		return errorf(EX_DATAERR, c->err, c->errlen,
		    "line %zu: longer than %d bytes", c->lineno,
		    SUBMIT_LINE_MAX);
	if (c->hdr.len + c->field.len + c->body.len + n + 2 >
	    c->p->max_size)
		return errorf(EX_DATAERR, c->err, c->errlen,
		    "the message is larger than %zu bytes", c->p->max_size);
	return 0;
}

static int
canon_lines(struct canon *c, const char *in, size_t len)
{
	const char	*line;
	size_t		 pos = 0, n;
	int		 rc;

	while (canon_next(in, len, &pos, &line, &n)) {
		c->lineno++;
		if ((rc = canon_check(c, line, n)) != 0)
			return rc;
		if (!c->p->ignore_dots && n == 1 && line[0] == '.')
			break;
		if (c->in_header) {
			if ((rc = hdr_line(c, line, n)) != 0)
				return rc;
			continue;
		}
		buf_add(&c->body, line, n);
		buf_add(&c->body, "\r\n", 2);
	}
	return c->in_header ? hdr_flush(c) : 0;
}

/* ---- added headers ---- */

static void
add_date(struct buf *b, time_t now, long gmtoff)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	tm;
	time_t		t = now + (time_t)gmtoff;
	long		off = gmtoff < 0 ? -gmtoff : gmtoff;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	buf_printf(b, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    gmtoff < 0 ? '-' : '+', (off / 3600) % 100, (off % 3600) / 60);
}

/* A dot-atom-ish token: atext and '.', not empty, no control byte. */
static int
add_token_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s != '\0'; s++)
		if (!submit_atext((unsigned char)*s) && *s != '.')
			return 0;
	return 1;
}

static int
add_msgid(struct canon *c, struct buf *b)
{
	static unsigned	 counter;
	char		 uniq[96];
	const char	*u = c->p->msgid_unique;

	if (u == NULL) {
		counter++;
		if (!bsnprintf(uniq, sizeof(uniq), "%lld.%ld.%u",
		    (long long)c->p->now, (long)c->p->pid, counter))
			fatalx("submit_msg: message id does not fit");
		u = uniq;
	}
	if (!add_token_ok(u) || !add_token_ok(c->p->hostname))
		return errorf(EX_USAGE, c->err, c->errlen,
		    "the Message-ID's unique part or host name is not a "
		    "dot-atom");
	buf_printf(b, "Message-ID: <%s@%s>\r\n", u, c->p->hostname);
	return 0;
}

/* 1 when the name can go in as a phrase of atoms. */
static int
add_name_atoms(const char *s)
{
	size_t	i, n = strlen(s);

	if (s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (!(submit_atext((unsigned char)s[i]) ||
		    (s[i] == ' ' && s[i + 1] != ' ')))
			return 0;
	return 1;
}

static int
add_from_check(struct canon *c, const char *name, const char *addr)
{
	const char	*s;

	if (addr == NULL || *addr == '\0' || strlen(addr) > SUBMIT_LINE_MAX / 2)
		return errorf(EX_USAGE, c->err, c->errlen,
		    "no usable From address");
	for (s = addr; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    strchr("<>()[],;:\\\"", *s) != NULL)
			return errorf(EX_USAGE, c->err, c->errlen,
			    "the From address holds a character not allowed "
			    "there");
	if (strlen(name) > SUBMIT_NAME_MAX)
		return errorf(EX_USAGE, c->err, c->errlen,
		    "the full name is longer than %d bytes", SUBMIT_NAME_MAX);
	for (s = name; *s != '\0'; s++)
		if (submit_ctl((unsigned char)*s))
			return errorf(EX_USAGE, c->err, c->errlen,
			    "the full name holds a control character (0x%02x)",
			    (unsigned char)*s);
	return 0;
}

static int
add_from(struct canon *c, struct buf *b)
{
	const char	*name = c->p->from_name == NULL ? "" : c->p->from_name;
	const char	*s;
	int		 rc;

	if ((rc = add_from_check(c, name, c->p->from_addr)) != 0)
		return rc;
	if (*name == '\0') {
		buf_printf(b, "From: %s\r\n", c->p->from_addr);
		return 0;
	}
	if (add_name_atoms(name)) {
		buf_printf(b, "From: %s <%s>\r\n", name, c->p->from_addr);
		return 0;
	}
	buf_addstr(b, "From: \"");
	for (s = name; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_addch(b, '\\');
		buf_addch(b, *s);
	}
	buf_printf(b, "\" <%s>\r\n", c->p->from_addr);
	return 0;
}

/* The canonical message: added headers, kept ones, the empty line, body. */
static int
canon_build(struct canon *c)
{
	struct buf	*m = &c->r->msg;
	int		 rc;

	if (!(c->have & SUBMIT_ADDED_DATE)) {
		add_date(m, c->p->now, c->p->gmtoff);
		c->r->added |= SUBMIT_ADDED_DATE;
	}
	if (!(c->have & SUBMIT_ADDED_MSGID)) {
		if ((rc = add_msgid(c, m)) != 0)
			return rc;
		c->r->added |= SUBMIT_ADDED_MSGID;
	}
	if (!(c->have & SUBMIT_ADDED_FROM)) {
		if ((rc = add_from(c, m)) != 0)
			return rc;
		c->r->added |= SUBMIT_ADDED_FROM;
	}
	buf_add(m, c->hdr.data, c->hdr.len);
	if (c->sep || c->body.len > 0)
		buf_add(m, "\r\n", 2);
	buf_add(m, c->body.data, c->body.len);
	if (m->len > c->p->max_size)
		return errorf(EX_DATAERR, c->err, c->errlen,
		    "the message is larger than %zu bytes", c->p->max_size);
	return 0;
}

void
submit_result_free(struct submit_result *r)
{
	size_t	i;

	buf_free(&r->msg);
	for (i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	r->rcpts = NULL;
	r->nrcpts = 0;
	r->added = 0;
}

int
submit_msg_canon(const struct submit_params *p, const char *in, size_t len,
    struct submit_result *r, char *err, size_t errlen)
{
	struct canon	c;
	int		rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->msg);
	memset(&c, 0, sizeof(c));
	c.p = p;
	c.r = r;
	c.in_header = 1;
	c.err = err;
	c.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	buf_init(&c.hdr);
	buf_init(&c.body);
	buf_init(&c.field);
	rc = canon_lines(&c, in, len);
	if (rc == 0)
		rc = canon_build(&c);
	buf_free(&c.hdr);
	buf_free(&c.body);
	buf_free(&c.field);
	if (rc != 0)
		submit_result_free(r);
	return rc;
}
