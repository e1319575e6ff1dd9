/*
 * maildrop_parse.c - the reader of a maildrop file (queue/maildrop.h): its
 * head against the allow-list, line by line in the one order the format
 * has, and its content against the canonical form.
 *
 * Pure and strict: the file comes from any local user, so every line not
 * listed, every repeat, every byte out of place makes it invalid, and the
 * reason names the line.  Nothing is allocated on a refusal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "queue/maildrop.h"

#define MAILDROP_LINE_MAX	998	/* octets of a content line */

/* Where the head's parse is. */
enum maildrop_stage {
	MD_STAGE_SENDER,	/* after the magic: sender or rcpt */
	MD_STAGE_RCPT,		/* rcpt lines */
	MD_STAGE_OPT,		/* optional lines, size */
	MD_STAGE_DATA,		/* after size: data */
};

struct maildrop_line {
	const char	*key;
	size_t		 keylen;
	const char	*val;		/* NULL: no value */
	size_t		 vallen;
	unsigned	 no;		/* 1 = the magic */
};

static int
maildrop_err(char *err, size_t errlen, unsigned no, const char *why)
{
	(void)bsnprintf(err, errlen, "line %u: %s", no, why);
	return -1;
}

static int
maildrop_is(const struct maildrop_line *l, const char *key)
{
	return l->keylen == strlen(key) && memcmp(l->key, key, l->keylen) == 0;
}

static int
maildrop_val_is(const struct maildrop_line *l, const char *v)
{
	return l->vallen == strlen(v) && memcmp(l->val, v, l->vallen) == 0;
}

/* 1 if the key is one the head may have after its first line. */
static int
maildrop_known(const struct maildrop_line *l)
{
	static const char *const keys[] = { "sender", "rcpt", "notify",
	    "ret", "envid", "body", "size", "data" };
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (maildrop_is(l, keys[i]))
			return 1;
	return 0;
}

/* Splits line[0..len) (no LF) into key and value: one space between. */
static int
maildrop_split(const char *line, size_t len, struct maildrop_line *l,
    char *err, size_t errlen)
{
	const char	*sp;
	size_t		 i;

	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return maildrop_err(err, errlen, l->no,
			    "control byte");
	l->key = line;
	if ((sp = memchr(line, ' ', len)) == NULL) {
		l->keylen = len;
		l->val = NULL;
		l->vallen = 0;
		return l->no > 1 && !maildrop_known(l) ?
		    maildrop_err(err, errlen, l->no, "unknown line") : 0;
	}
	l->keylen = (size_t)(sp - line);
	if (l->no > 1 && !maildrop_known(l))
		return maildrop_err(err, errlen, l->no, "unknown line");
	l->val = sp + 1;
	l->vallen = len - l->keylen - 1;
	if (l->keylen == 0 || l->vallen == 0 ||
	    memchr(l->val, ' ', l->vallen) != NULL)
		return maildrop_err(err, errlen, l->no, "a space too many");
	return 0;
}

/* A copy of the value, checked as an address (angle brackets never). */
static char *
maildrop_addr(const struct maildrop_line *l, int null_ok, char *err,
    size_t errlen)
{
	const char	*at;
	char		*s;

	if (l->val == NULL) {
		(void)maildrop_err(err, errlen, l->no, "address missing");
		return NULL;
	}
	if (null_ok && maildrop_val_is(l, "<>"))
		return xstrdup("");
	if (l->vallen > MAILDROP_ADDR_MAX) {
		(void)maildrop_err(err, errlen, l->no, "address too long");
		return NULL;
	}
	at = memrchr(l->val, '@', l->vallen);
	if (memchr(l->val, '<', l->vallen) != NULL ||
	    memchr(l->val, '>', l->vallen) != NULL || l->val[0] == '-' ||
	    l->val[0] == '@' || (at != NULL && at == l->val + l->vallen - 1)) {
		(void)maildrop_err(err, errlen, l->no, "bad address");
		return NULL;
	}
	s = xmalloc(l->vallen + 1);
	memcpy(s, l->val, l->vallen);
	s[l->vallen] = '\0';
	return s;
}

static int
maildrop_notify(const struct maildrop_line *l, unsigned *bits, char *err,
    size_t errlen)
{
	static const struct { const char *w; unsigned bit; } words[] = {
		{ "success", MAILDROP_NOTIFY_SUCCESS },
		{ "failure", MAILDROP_NOTIFY_FAILURE },
		{ "delay", MAILDROP_NOTIFY_DELAY },
	};
	const char	*p = l->val, *end = l->val + l->vallen, *c;
	size_t		 i, n;

	if (maildrop_val_is(l, "never")) {
		*bits = MAILDROP_NOTIFY_NEVER;
		return 0;
	}
	*bits = 0;
	while (p <= end) {
		c = memchr(p, ',', (size_t)(end - p));
		n = (size_t)((c != NULL ? c : end) - p);
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (n == strlen(words[i].w) &&
			    memcmp(p, words[i].w, n) == 0)
				break;
		if (i == sizeof(words) / sizeof(words[0]) ||
		    (*bits & words[i].bit))
			return maildrop_err(err, errlen, l->no, "bad notify");
		*bits |= words[i].bit;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return 0;
}

static int
maildrop_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* RFC 3461 4: xtext, '+' followed by two upper-case hex digits. */
static int
maildrop_xtext_ok(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '=')
			return 0;
		if (s[i] == '+') {
			if (i + 2 >= len || !maildrop_hex(s[i + 1]) ||
			    !maildrop_hex(s[i + 2]))
				return 0;
			i += 2;
		}
	}
	return 1;
}

/* Decimal, no sign, no leading zero, fits 64 bits. */
static int
maildrop_size(const struct maildrop_line *l, uint64_t *v)
{
	size_t	i;

	if (l->val == NULL || (l->vallen > 1 && l->val[0] == '0') ||
	    l->vallen > 20)
		return -1;
	*v = 0;
	for (i = 0; i < l->vallen; i++) {
		if (l->val[i] < '0' || l->val[i] > '9' ||
		    *v > (UINT64_MAX - (uint64_t)(l->val[i] - '0')) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(l->val[i] - '0');
	}
	return 0;
}

static int
maildrop_opt(const struct maildrop_line *l, struct maildrop_env *e,
    unsigned *seen, char *err, size_t errlen)
{
	if (l->val == NULL)
		return maildrop_err(err, errlen, l->no, "value missing");
	if (maildrop_is(l, "notify") && !(*seen & 1)) {
		*seen |= 1;
		return maildrop_notify(l, &e->notify, err, errlen);
	}
	if (maildrop_is(l, "ret") && !(*seen & 2)) {
		*seen |= 2;
		e->ret = maildrop_val_is(l, "full") ? MAILDROP_RET_FULL :
		    maildrop_val_is(l, "hdrs") ? MAILDROP_RET_HDRS :
		    MAILDROP_RET_UNSET;
		return e->ret != MAILDROP_RET_UNSET ? 0 :
		    maildrop_err(err, errlen, l->no, "bad ret");
	}
	if (maildrop_is(l, "body") && !(*seen & 4)) {
		*seen |= 4;
		e->body = maildrop_val_is(l, "7bit") ? MAILDROP_BODY_7BIT :
		    maildrop_val_is(l, "8bitmime") ? MAILDROP_BODY_8BITMIME :
		    MAILDROP_BODY_UNSET;
		return e->body != MAILDROP_BODY_UNSET ? 0 :
		    maildrop_err(err, errlen, l->no, "bad body");
	}
	if (maildrop_is(l, "envid") && !(*seen & 8)) {
		*seen |= 8;
		if (l->vallen > MAILDROP_ENVID_MAX ||
		    !maildrop_xtext_ok(l->val, l->vallen))
			return maildrop_err(err, errlen, l->no, "bad envid");
		e->envid = xmalloc(l->vallen + 1);
		memcpy(e->envid, l->val, l->vallen);
		e->envid[l->vallen] = '\0';
		return 0;
	}
	return maildrop_err(err, errlen, l->no, "unexpected line");
}

static int
maildrop_add_rcpt(const struct maildrop_line *l, struct maildrop_env *e,
    char *err, size_t errlen)
{
	char	*a;

	if (e->nrcpts >= MAILDROP_RCPT_MAX)
		return maildrop_err(err, errlen, l->no, "too many recipients");
	if ((a = maildrop_addr(l, 0, err, errlen)) == NULL)
		return -1;
	e->rcpts = xreallocarray(e->rcpts, e->nrcpts + 1, sizeof(*e->rcpts));
	e->rcpts[e->nrcpts++] = a;
	return 0;
}

/* One line of the head after the magic; the stage moves forward only. */
static int
maildrop_line(const struct maildrop_line *l, struct maildrop_env *e,
    enum maildrop_stage *st, unsigned *seen, char *err, size_t errlen)
{
	if (*st == MD_STAGE_SENDER && maildrop_is(l, "sender")) {
		*st = MD_STAGE_RCPT;
		e->sender = maildrop_addr(l, 1, err, errlen);
		return e->sender != NULL ? 0 : -1;
	}
	if (*st <= MD_STAGE_RCPT && maildrop_is(l, "rcpt")) {
		*st = MD_STAGE_RCPT;
		return maildrop_add_rcpt(l, e, err, errlen);
	}
	if (*st <= MD_STAGE_RCPT && e->nrcpts == 0)
		return maildrop_err(err, errlen, l->no, "no rcpt before it");
	if (*st == MD_STAGE_DATA)
		return maildrop_err(err, errlen, l->no, "expected data");
	if (maildrop_is(l, "size")) {
		*st = MD_STAGE_DATA;
		return maildrop_size(l, &e->size) == 0 ? 0 :
		    maildrop_err(err, errlen, l->no, "bad size");
	}
	*st = MD_STAGE_OPT;
	if (maildrop_is(l, "data"))
		return maildrop_err(err, errlen, l->no, "no size before data");
	return maildrop_opt(l, e, seen, err, errlen);
}

/* The head's lines up to and including "data"; 0 with data_off set. */
static int
maildrop_head(const char *data, size_t len, struct maildrop_env *e,
    char *err, size_t errlen)
{
	struct maildrop_line	 l;
	enum maildrop_stage	 st = MD_STAGE_SENDER;
	const char		*nl;
	size_t			 pos = 0, max;
	unsigned		 seen = 0;

	max = len < MAILDROP_HEAD_MAX ? len : MAILDROP_HEAD_MAX;
	for (l.no = 1;; l.no++) {
		if ((nl = memchr(data + pos, '\n', max - pos)) == NULL)
			return maildrop_err(err, errlen, l.no, max ==
			    MAILDROP_HEAD_MAX ? "head too long" :
			    "head cut short");
		if (maildrop_split(data + pos, (size_t)(nl - data) - pos, &l,
		    err, errlen) == -1)
			return -1;
		pos = (size_t)(nl - data) + 1;
		if (l.no == 1) {
			if (l.keylen + (l.val != NULL ? l.vallen + 1 : 0) !=
			    strlen(MAILDROP_MAGIC) || memcmp(l.key,
			    MAILDROP_MAGIC, strlen(MAILDROP_MAGIC)) != 0)
				return maildrop_err(err, errlen, 1,
				    "not a maildrop file");
			continue;
		}
		if (st == MD_STAGE_DATA && maildrop_is(&l, "data") &&
		    l.val == NULL) {
			e->data_off = pos;
			return 0;
		}
		if (maildrop_line(&l, e, &st, &seen, err, errlen) == -1)
			return -1;
	}
}

int
maildrop_parse(const char *data, size_t len, struct maildrop_env *e,
    char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (maildrop_head(data, len, e, err, errlen) == 0)
		return 0;
	maildrop_env_free(e);
	return -1;
}

int
maildrop_check_content(struct maildrop_check *st, const char *data,
    size_t len, char *err, size_t errlen)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (data[i] == '\0') {
			(void)bsnprintf(err, errlen, "NUL in the content");
			return -1;
		}
		if (data[i] == '\n') {
			if (!st->cr) {
				(void)bsnprintf(err, errlen, "bare LF in the "
				    "content");
				return -1;
			}
			st->cr = 0;
			st->linelen = 0;
			continue;
		}
		if (st->cr) {
			(void)bsnprintf(err, errlen, "bare CR in the content");
			return -1;
		}
		if (data[i] == '\r') {
			st->cr = 1;
			continue;
		}
		if (++st->linelen > MAILDROP_LINE_MAX) {
			(void)bsnprintf(err, errlen, "a content line over %d "
			    "octets", MAILDROP_LINE_MAX);
			return -1;
		}
	}
	return 0;
}

int
maildrop_check_end(const struct maildrop_check *st, char *err, size_t errlen)
{
	if (st->cr || st->linelen > 0) {
		(void)bsnprintf(err, errlen, "the content does not end in "
		    "CRLF");
		return -1;
	}
	return 0;
}

void
maildrop_env_free(struct maildrop_env *e)
{
	size_t	i;

	free(e->sender);
	for (i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->envid);
	memset(e, 0, sizeof(*e));
}
