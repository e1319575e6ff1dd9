/*
 * smtpc_reply.c - the SMTP client's reply reader and EHLO capabilities.
 *
 * A line is gathered into a fixed buffer (it fails as soon as it grows
 * past SMTPC_REPLY_LINE_MAX, without waiting for its end), then checked
 * and appended to the reply being read; the line that ends a reply hands
 * it out.  The limits of smtpc_reply.h bound everything a server can make
 * this module hold.
 */
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "delivery/smtpc_reply.h"

void
smtpc_rparser_init(struct smtpc_rparser *p)
{
	memset(p, 0, sizeof(*p));
}

void
smtpc_rparser_reset(struct smtpc_rparser *p)
{
	p->linelen = 0;
	p->cur.code = 0;
	p->cur.enh[0] = '\0';
	p->cur.nlines = 0;
	p->cur.len = 0;
	p->cur.text[0] = '\0';
}

int
smtpc_rparser_partial(const struct smtpc_rparser *p)
{
	return p->linelen > 0 || p->cur.nlines > 0;
}

static enum smtpc_rstatus
smtpc_rparser_fail(struct smtpc_rparser *p, const char *reason)
{
	p->failed = 1;
	(void)strlcpy(p->error, reason, sizeof(p->error));
	return SMTPC_RS_ERROR;
}

static int
smtpc_line_fail(struct smtpc_rparser *p, const char *reason)
{
	(void)smtpc_rparser_fail(p, reason);
	return -1;
}

/* 1*3DIGIT at *s, moved past; 0 if none. */
static int
smtpc_enh_number(const char **s)
{
	int	n = 0;

	while (n < 3 && **s >= '0' && **s <= '9') {
		(*s)++;
		n++;
	}
	return n > 0 && !(**s >= '0' && **s <= '9');
}

/* The enhanced status code at the start of t, of the reply's class,
 * followed by a space or the end (RFC 3463 2, RFC 2034 4). */
static void
smtpc_enh_parse(const char *t, int code, char *enh, size_t size)
{
	const char	*s = t;
	int		 cls = code / 100;

	enh[0] = '\0';
	if (cls != 2 && cls != 4 && cls != 5)
		return;
	if (s[0] != (char)('0' + cls) || s[1] != '.')
		return;
	s += 2;
	if (!smtpc_enh_number(&s) || *s++ != '.' || !smtpc_enh_number(&s))
		return;
	if (*s != ' ' && *s != '\0')
		return;
	if ((size_t)(s - t) < size) {
		memcpy(enh, t, (size_t)(s - t));
		enh[s - t] = '\0';
	}
}

/* The code of a line: 2-5, 0-5, 0-9 (RFC 5321 4.2); -1 if none. */
static int
smtpc_line_code(const char *l)
{
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9')
		return -1;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

/* Adds the text of one line to the reply. */
static int
smtpc_reply_add(struct smtpc_reply *r, const char *t, size_t n)
{
	size_t	need = n + (r->nlines > 0 ? 1 : 0);

	if (r->len + need >= sizeof(r->text))
		return -1;
	if (r->nlines > 0)
		r->text[r->len++] = '\n';
	memcpy(r->text + r->len, t, n);
	r->len += n;
	r->text[r->len] = '\0';
	r->nlines++;
	return 0;
}

/*
 * One line (its ending removed, n octets): 1 if it ends the reply, 0 if
 * more lines follow, -1 on a protocol error.
 */
static int
smtpc_rparser_line(struct smtpc_rparser *p, char *l, size_t n)
{
	struct smtpc_reply	*r = &p->cur;
	char			 why[SMTPC_REPLY_ERR_MAX];
	int			 code, last;

	if (memchr(l, '\0', n) != NULL)
		return smtpc_line_fail(p, "NUL octet in a reply");
	l[n] = '\0';
	if (n < 3 || (code = smtpc_line_code(l)) == -1)
		return smtpc_line_fail(p, "malformed reply code");
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return smtpc_line_fail(p, "malformed reply line");
	last = n == 3 || l[3] == ' ';
	if (r->nlines > 0 && code != r->code) {
		(void)bsnprintf(why, sizeof(why), "reply lines with different "
		    "codes: %d then %d", r->code, code);
		return smtpc_line_fail(p, why);
	}
	if (r->nlines >= SMTPC_REPLY_LINES_MAX) {
		(void)bsnprintf(why, sizeof(why), "reply of more than %d "
		    "lines", SMTPC_REPLY_LINES_MAX);
		return smtpc_line_fail(p, why);
	}
	if (smtpc_reply_add(r, n > 4 ? l + 4 : "", n > 4 ? n - 4 : 0) == -1) {
		(void)bsnprintf(why, sizeof(why), "reply text longer than %d "
		    "octets", SMTPC_REPLY_TEXT_MAX - 1);
		return smtpc_line_fail(p, why);
	}
	if (r->nlines == 1) {
		r->code = code;
		smtpc_enh_parse(r->text, code, r->enh, sizeof(r->enh));
	}
	return last;
}

enum smtpc_rstatus
smtpc_rparser_feed(struct smtpc_rparser *p, const void *data, size_t len,
    size_t *used, struct smtpc_reply *r)
{
	const char	*d = data, *nl;
	size_t		 pos = 0, n, room;
	int		 rc;
	char		 why[SMTPC_REPLY_ERR_MAX];

	*used = 0;
	if (p->failed)
		return SMTPC_RS_ERROR;
	while (pos < len) {
		nl = memchr(d + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (d + pos)) + 1 : len - pos;
		room = SMTPC_REPLY_LINE_MAX - p->linelen;
		if (n > room) {
			*used = pos + room;
			(void)bsnprintf(why, sizeof(why), "reply line longer "
			    "than %d octets", SMTPC_REPLY_LINE_MAX);
			return smtpc_rparser_fail(p, why);
		}
		memcpy(p->line + p->linelen, d + pos, n);
		p->linelen += n;
		pos += n;
		if (nl == NULL)
			break;
		n = p->linelen - 1;
		if (n > 0 && p->line[n - 1] == '\r')
			n--;
		p->linelen = 0;
		if ((rc = smtpc_rparser_line(p, p->line, n)) == -1) {
			*used = pos;
			return SMTPC_RS_ERROR;
		}
		if (rc == 1) {
			*used = pos;
			memcpy(r, &p->cur, sizeof(*r));
			smtpc_rparser_reset(p);
			return SMTPC_RS_REPLY;
		}
	}
	*used = pos;
	return SMTPC_RS_MORE;
}

const char *
smtpc_reply_summary(const struct smtpc_reply *r, char *out, size_t size)
{
	size_t	i, o;

	if (size < 8)
		fatalx("smtpc_reply_summary: buffer too small");
	(void)bsnprintf(out, size, "%03d", r->code % 1000);
	o = strlen(out);
	if (r->len > 0 && o + 1 < size)
		out[o++] = ' ';
	for (i = 0; i < r->len && o + 1 < size; i++) {
		unsigned char	ch = (unsigned char)r->text[i];

		if (ch == '\n')
			ch = ' ';
		else if (ch < 0x20 || ch == 0x7f)
			ch = '?';
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return out;
}

/* ---- EHLO capabilities ---- */

struct smtpc_cap_name {
	const char	*name;
	unsigned	 flag;
};

static const struct smtpc_cap_name smtpc_cap_names[] = {
	{ "PIPELINING",		SMTPC_CAP_PIPELINING },
	{ "SIZE",		SMTPC_CAP_SIZE },
	{ "8BITMIME",		SMTPC_CAP_8BITMIME },
	{ "SMTPUTF8",		SMTPC_CAP_SMTPUTF8 },
	{ "DSN",		SMTPC_CAP_DSN },
	{ "CHUNKING",		SMTPC_CAP_CHUNKING },
	{ "STARTTLS",		SMTPC_CAP_STARTTLS },
	{ "AUTH",		SMTPC_CAP_AUTH },
	{ "ENHANCEDSTATUSCODES", SMTPC_CAP_ENHANCEDSTATUSCODES },
};

static const struct smtpc_cap_name smtpc_auth_names[] = {
	{ "PLAIN",		SMTPC_AUTH_PLAIN },
	{ "LOGIN",		SMTPC_AUTH_LOGIN },
	{ "CRAM-MD5",		SMTPC_AUTH_CRAM_MD5 },
};

/* The word at s of n octets against a table; 0 if not there. */
static unsigned
smtpc_cap_lookup(const struct smtpc_cap_name *t, size_t nt, const char *s,
    size_t n)
{
	size_t	i;

	for (i = 0; i < nt; i++)
		if (strlen(t[i].name) == n && strncasecmp(t[i].name, s, n) == 0)
			return t[i].flag;
	return 0;
}

static size_t
smtpc_word_len(const char *s, const char *e, const char *stops)
{
	size_t	n = 0;

	while (s + n < e && strchr(stops, s[n]) == NULL)
		n++;
	return n;
}

static void
smtpc_caps_auth(struct smtpc_caps *c, const char *s, const char *e)
{
	size_t		n;
	unsigned	f;

	while (s < e) {
		while (s < e && *s == ' ')
			s++;
		if ((n = smtpc_word_len(s, e, " ")) == 0)
			break;
		f = smtpc_cap_lookup(smtpc_auth_names, sizeof(smtpc_auth_names) /
		    sizeof(smtpc_auth_names[0]), s, n);
		c->auth |= f != 0 ? f : SMTPC_AUTH_OTHER;
		s += n;
	}
}

static void
smtpc_caps_size(struct smtpc_caps *c, const char *s, const char *e)
{
	char		num[24];
	size_t		n;
	uint64_t	v;

	while (s < e && *s == ' ')
		s++;
	n = smtpc_word_len(s, e, " ");
	if (n == 0 || n >= sizeof(num))
		return;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, 0, UINT64_MAX, &v) == 0)
		c->size = v;
}

/* One extension line, s .. e. */
static void
smtpc_caps_line(struct smtpc_caps *c, const char *s, const char *e)
{
	size_t		n = smtpc_word_len(s, e, " =");
	unsigned	f;

	f = smtpc_cap_lookup(smtpc_cap_names, sizeof(smtpc_cap_names) /
	    sizeof(smtpc_cap_names[0]), s, n);
	c->flags |= f;
	if (f == SMTPC_CAP_SIZE)
		smtpc_caps_size(c, s + n, e);
	else if (f == SMTPC_CAP_AUTH)
		smtpc_caps_auth(c, s + n + (s + n < e ? 1 : 0), e);
}

void
smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *c)
{
	const char	*s = r->text, *e = r->text + r->len, *nl;

	memset(c, 0, sizeof(*c));
	if (r->code / 100 != 2)
		return;
	/* The first line greets; each further line is one extension. */
	while ((nl = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		s = nl + 1;
		nl = memchr(s, '\n', (size_t)(e - s));
		smtpc_caps_line(c, s, nl != NULL ? nl : e);
	}
}
