/*
 * aliases.c - the aliases(5) and virtual map source parsers and the
 * target list reader (aliases.h).
 *
 * A source is read line by line: a line that starts with a space or tab
 * continues the entry above, a line whose first non-blank byte is '#' is
 * a comment, blank lines are skipped (neither ends an entry, as in
 * Postfix).  Every limit is an error naming the line; nothing is cut.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/aliases.h"

#define ALIASES_INCLUDE		":include:"

/* The keys met so far: an open-addressing set (duplicates are errors). */
struct aliases_keys {
	char	**slot;
	size_t	  cap;
	size_t	  n;
};

/* One entry being read: its text and where each of its lines starts. */
struct aliases_acc {
	struct buf	 text;
	size_t		*off;		/* offset in text of each line */
	unsigned long	*lineno;	/* ... and its number */
	size_t		 nlines;
	size_t		 cap;
};

struct aliases_parser {
	const char		*name;
	enum aliases_format	 fmt;
	aliases_cb		 cb;
	void			*arg;
	struct aliases_keys	 keys;
	struct aliases_acc	 acc;
	char			*err;
	size_t			 errlen;
};

/* ---- characters ---- */

static int
aliases_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* A byte of a user name or an unquoted local part. */
static int
aliases_namech(int c)
{
	return c > 0x20 && c < 0x7f && strchr("\"(),:;<>@[\\]|/", c) == NULL;
}

static int
aliases_domainch(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int
aliases_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!aliases_namech((unsigned char)*s))
			return 0;
	return 1;
}

static int
aliases_domain_ok(const char *s)
{
	if (*s == '\0' || *s == '.' || *s == '-')
		return 0;
	for (; *s != '\0'; s++)
		if (!aliases_domainch((unsigned char)*s))
			return 0;
	return s[-1] != '.';
}

/* No control byte but tab. */
static int
aliases_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

static int
aliases_has(const char *s, const char *set)
{
	return strpbrk(s, set) != NULL;
}

/* ---- the key set ---- */

static uint64_t
aliases_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
aliases_keys_grow(struct aliases_keys *k)
{
	struct aliases_keys	 nk;
	size_t			 i, j;

	nk.cap = k->cap ? k->cap * 2 : 64;
	nk.slot = xcalloc(nk.cap, sizeof(*nk.slot));
	nk.n = k->n;
	for (i = 0; i < k->cap; i++) {
		if (k->slot[i] == NULL)
			continue;
		j = aliases_hash(k->slot[i]) & (nk.cap - 1);
		while (nk.slot[j] != NULL)
			j = (j + 1) & (nk.cap - 1);
		nk.slot[j] = k->slot[i];
	}
	free(k->slot);
	*k = nk;
}

/* 1 when key was new (now added), 0 when it was there. */
static int
aliases_keys_add(struct aliases_keys *k, const char *key)
{
	size_t	j;

	if (2 * (k->n + 1) > k->cap)
		aliases_keys_grow(k);
	j = aliases_hash(key) & (k->cap - 1);
	for (; k->slot[j] != NULL; j = (j + 1) & (k->cap - 1))
		if (strcmp(k->slot[j], key) == 0)
			return 0;
	k->slot[j] = xstrdup(key);
	k->n++;
	return 1;
}

static void
aliases_keys_free(struct aliases_keys *k)
{
	size_t	i;

	for (i = 0; i < k->cap; i++)
		free(k->slot[i]);
	free(k->slot);
	memset(k, 0, sizeof(*k));
}

/* ---- targets ---- */

static void
aliases_trim(char *s)
{
	size_t	n = strlen(s), i = 0;

	while (n > 0 && aliases_blank(s[n - 1]))
		s[--n] = '\0';
	while (aliases_blank(s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

static int
aliases_fail(char *err, size_t errlen, const char *what)
{
	(void)strlcpy(err, what, errlen);
	return -1;
}

/* user@domain (local part quoted or not); the domain lower-cased. */
static int
aliases_address(char *c, int quoted_local, char *err, size_t errlen)
{
	char	*at = strrchr(c, '@');

	*at = '\0';
	if (c[0] == '\0')
		return aliases_fail(err, errlen, "an address without a user");
	if (!quoted_local && !aliases_name_ok(c))
		return aliases_fail(err, errlen, "bad character in the user "
		    "part of an address");
	if (quoted_local && !aliases_text_ok(c))
		return aliases_fail(err, errlen, "control character in a "
		    "target");
	if (!aliases_domain_ok(at + 1))
		return aliases_fail(err, errlen, "bad domain in an address");
	*at = '@';
	(void)str_lower(at + 1);
	return 0;
}

/* The kind of c (unquoted content); c is trimmed and may be changed. */
static int
aliases_classify(char *c, int quoted, struct aliases_target *t, char *err,
    size_t errlen)
{
	size_t	skip = 0;

	aliases_trim(c);
	if (!aliases_text_ok(c))
		return aliases_fail(err, errlen, "control character in a "
		    "target");
	if (c[0] == '|') {
		t->kind = ALIAS_T_PIPE;
		skip = 1;
	} else if (strncasecmp(c, ALIASES_INCLUDE, strlen(ALIASES_INCLUDE)) ==
	    0) {
		t->kind = ALIAS_T_INCLUDE;
		skip = strlen(ALIASES_INCLUDE);
	} else if (c[0] == '/') {
		t->kind = ALIAS_T_FILE;
	} else if (c[0] == '\\') {
		t->kind = ALIAS_T_MAILBOX;
		skip = 1;
	} else if (strchr(c, '@') != NULL) {
		t->kind = ALIAS_T_ADDRESS;
		if (aliases_address(c, 0, err, errlen) == -1)
			return -1;
	} else if (strchr(c, '/') != NULL) {
		return aliases_fail(err, errlen, "a file target must be an "
		    "absolute path");
	} else
		t->kind = ALIAS_T_NAME;
	memmove(c, c + skip, strlen(c + skip) + 1);
	aliases_trim(c);
	switch (t->kind) {
	case ALIAS_T_PIPE:
		if (c[0] == '\0')
			return aliases_fail(err, errlen, "an empty command");
		break;
	case ALIAS_T_INCLUDE:
	case ALIAS_T_FILE:
		if (c[0] != '/')
			return aliases_fail(err, errlen, "an :include: file "
			    "must be an absolute path");
		if (c[strlen(c) - 1] == '/')
			return aliases_fail(err, errlen, "a file target must "
			    "name a file, not a folder");
		if (!quoted && aliases_has(c, " \t"))
			return aliases_fail(err, errlen, "a path with spaces "
			    "must be quoted");
		break;
	case ALIAS_T_MAILBOX:
	case ALIAS_T_NAME:
		if (!aliases_name_ok(c))
			return aliases_fail(err, errlen, c[0] == '\0' ?
			    "an empty target" : "not a user, user@domain, "
			    "\\user, /file, |command or :include:/file");
		if (t->kind == ALIAS_T_NAME)
			(void)str_lower(c);
		break;
	case ALIAS_T_ADDRESS:
		break;
	}
	return 0;
}

/*
 * The quoted string at s (s[0] == '"'), unescaped into out; *end after
 * the closing quote.  -1 when it is not closed.
 */
static int
aliases_unquote(const char *s, struct buf *out, const char **end)
{
	for (s++; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		buf_addch(out, *s);
	}
	if (*s != '"')
		return -1;
	*end = s + 1;
	return 0;
}

/* One raw token (without the separating comma) into a target. */
static int
aliases_token(char *raw, struct aliases_target *t, char *err, size_t errlen)
{
	struct buf	 b;
	const char	*end;
	int		 rc;

	aliases_trim(raw);
	if (raw[0] != '"') {
		if (strchr(raw, '"') != NULL)
			return aliases_fail(err, errlen, "bad quoting: a "
			    "quote inside a target");
		if (aliases_classify(raw, 0, t, err, errlen) == -1)
			return -1;
		t->value = xstrdup(raw);
		return 0;
	}
	buf_init(&b);
	if (aliases_unquote(raw, &b, &end) == -1) {
		buf_free(&b);
		return aliases_fail(err, errlen, "bad quoting: no closing "
		    "quote");
	}
	buf_addch(&b, '\0');
	if (*end == '@' && strchr(end, '"') == NULL) {
		/* "john smith"@example.org: kept as written */
		t->kind = ALIAS_T_ADDRESS;
		rc = aliases_address(raw, 1, err, errlen);
		if (rc == 0)
			t->value = xstrdup(raw);
	} else if (*end != '\0') {
		rc = aliases_fail(err, errlen, "bad quoting: text after the "
		    "closing quote");
	} else if ((rc = aliases_classify(b.data, 1, t, err, errlen)) == 0)
		t->value = xstrdup(b.data);
	buf_free(&b);
	return rc;
}

/*
 * Splits s into targets; on an error *erroff is the offset in s of the
 * target at fault.
 */
static int
aliases_split_at(const char *s, struct aliases_target **tp, size_t *np,
    size_t *erroff, char *err, size_t errlen)
{
	struct aliases_target	*t = NULL;
	size_t			 n = 0, i, start;
	char			*raw;
	int			 inq;

	*tp = NULL;
	*np = 0;
	for (i = 0;;) {
		while (aliases_blank(s[i]))
			i++;
		start = *erroff = i;
		if (s[i] == '\0' || s[i] == ',') {
			aliases_fail(err, errlen, n == 0 && s[i] == '\0' ?
			    "an empty target list" : "an empty target");
			goto bad;
		}
		for (inq = 0; s[i] != '\0' && (inq || s[i] != ','); i++) {
			if (inq && s[i] == '\\' && s[i + 1] != '\0')
				i++;
			else if (s[i] == '"')
				inq = !inq;
		}
		if (inq) {
			aliases_fail(err, errlen, "bad quoting: no closing "
			    "quote");
			goto bad;
		}
		if (n == ALIASES_TARGETS_MAX) {
			aliases_fail(err, errlen, "more than 1000 targets");
			goto bad;
		}
		t = xreallocarray(t, n + 1, sizeof(*t));
		raw = xstrndup(s + start, i - start);
		if (aliases_token(raw, &t[n], err, errlen) == -1) {
			free(raw);
			goto bad;
		}
		free(raw);
		n++;
		if (s[i] == '\0')
			break;
		i++;	/* the comma */
	}
	*tp = t;
	*np = n;
	return 0;
bad:
	aliases_targets_free(t, n);
	return -1;
}

int
aliases_split(const char *value, struct aliases_target **targets,
    size_t *n, char *err, size_t errlen)
{
	size_t	off;

	return aliases_split_at(value, targets, n, &off, err, errlen);
}

void
aliases_targets_free(struct aliases_target *targets, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(targets[i].value);
	free(targets);
}

static void
aliases_quoted(struct buf *out, const char *prefix, const char *v)
{
	buf_addch(out, '"');
	buf_addstr(out, prefix);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			buf_addch(out, '\\');
		buf_addch(out, *v);
	}
	buf_addch(out, '"');
}

void
aliases_target_format(const struct aliases_target *t, struct buf *out)
{
	const char	*prefix = "";

	switch (t->kind) {
	case ALIAS_T_NAME:
	case ALIAS_T_ADDRESS:
		buf_addstr(out, t->value);
		return;
	case ALIAS_T_MAILBOX:
		buf_addch(out, '\\');
		buf_addstr(out, t->value);
		return;
	case ALIAS_T_PIPE:
		prefix = "|";
		break;
	case ALIAS_T_INCLUDE:
		prefix = ALIASES_INCLUDE;
		break;
	case ALIAS_T_FILE:
		break;
	}
	if (aliases_has(t->value, " \t,\"\\"))
		aliases_quoted(out, prefix, t->value);
	else {
		buf_addstr(out, prefix);
		buf_addstr(out, t->value);
	}
}

/* ---- entries ---- */

static unsigned long
aliases_acc_line(const struct aliases_acc *a, size_t off)
{
	size_t	i;

	for (i = a->nlines; i > 1; i--)
		if (a->off[i - 1] <= off)
			break;
	return a->lineno[i - 1];
}

static int
aliases_error(struct aliases_parser *p, unsigned long line, const char *what)
{
	char	tmp[512];

	(void)strlcpy(tmp, what, sizeof(tmp));
	(void)bsnprintf(p->err, p->errlen, "%s:%lu: %s", p->name, line, tmp);
	return -1;
}

/* The key of an aliases line "name: ..."; *rest after the colon. */
static int
aliases_key_aliases(char *s, char **rest, const char **why)
{
	size_t	i = 0, j;

	while (s[i] != '\0' && s[i] != ':' && !aliases_blank(s[i]))
		i++;
	for (j = i; aliases_blank(s[j]); j++)
		;
	if (s[j] != ':') {
		*why = "missing colon after the name";
		return -1;
	}
	s[i] = '\0';
	*rest = s + j + 1;
	if (!aliases_name_ok(s)) {
		*why = strchr(s, '@') != NULL ? "a name with '@' belongs in a "
		    "virtual map" : "bad character in the name";
		return -1;
	}
	return 0;
}

/* The key of a virtual line "user@domain ..." or "@domain: ...". */
static int
aliases_key_virtual(char *s, char **rest, const char **why)
{
	size_t	 i = 0;
	char	*at;

	while (s[i] != '\0' && s[i] != ':' && !aliases_blank(s[i]))
		i++;
	if (s[i] == ':')
		s[i++] = '\0';
	else if (s[i] != '\0') {
		s[i++] = '\0';
		while (aliases_blank(s[i]))
			i++;
		if (s[i] == ':')
			i++;
	}
	*rest = s + i;
	if ((at = strrchr(s, '@')) == NULL) {
		*why = "a virtual key is user@domain or @domain";
		return -1;
	}
	*at = '\0';
	if ((s[0] != '\0' && !aliases_name_ok(s)) ||
	    !aliases_domain_ok(at + 1)) {
		*why = "bad character in the key";
		return -1;
	}
	*at = '@';
	return 0;
}

static int
aliases_virtual_ok(const struct aliases_target *t, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (t[i].kind != ALIAS_T_NAME && t[i].kind != ALIAS_T_ADDRESS &&
		    t[i].kind != ALIAS_T_MAILBOX)
			return 0;
	return 1;
}

/* The entry in p->acc: checked, then given to the callback. */
static int
aliases_entry(struct aliases_parser *p)
{
	struct aliases_acc	*a = &p->acc;
	struct aliases_target	*t;
	struct aliases_entry	 e;
	struct buf		 value;
	const char		*why = NULL;
	char			*key = a->text.data, *rest, cberr[512];
	size_t			 n, i, off;
	int			 rc;

	if ((p->fmt == ALIASES_ALIASES ? aliases_key_aliases(key, &rest, &why) :
	    aliases_key_virtual(key, &rest, &why)) == -1)
		return aliases_error(p, a->lineno[0], why);
	(void)str_lower(key);
	if (aliases_split_at(rest, &t, &n, &off, cberr, sizeof(cberr)) == -1)
		return aliases_error(p, aliases_acc_line(a,
		    (size_t)(rest - key) + off), cberr);
	if (p->fmt == ALIASES_VIRTUAL && !aliases_virtual_ok(t, n)) {
		aliases_targets_free(t, n);
		return aliases_error(p, a->lineno[0], "a virtual map target "
		    "is a user, \\user or user@domain");
	}
	if (!aliases_keys_add(&p->keys, key)) {
		aliases_targets_free(t, n);
		(void)bsnprintf(cberr, sizeof(cberr), "duplicate key %.256s",
		    key);
		return aliases_error(p, a->lineno[0], cberr);
	}
	buf_init(&value);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addstr(&value, ", ");
		aliases_target_format(&t[i], &value);
	}
	buf_addch(&value, '\0');
	e.key = key;
	e.value = value.data;
	e.targets = t;
	e.ntargets = n;
	e.line = a->lineno[0];
	cberr[0] = '\0';
	rc = p->cb(p->arg, &e, cberr, sizeof(cberr));
	buf_free(&value);
	aliases_targets_free(t, n);
	return rc == 0 ? 0 : aliases_error(p, a->lineno[0], cberr);
}

static void
aliases_acc_add(struct aliases_acc *a, const char *s, size_t n,
    unsigned long line)
{
	if (a->nlines == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->off = xreallocarray(a->off, a->cap, sizeof(*a->off));
		a->lineno = xreallocarray(a->lineno, a->cap,
		    sizeof(*a->lineno));
	}
	if (a->nlines > 0)
		buf_addch(&a->text, ' ');
	a->off[a->nlines] = a->text.len;
	a->lineno[a->nlines++] = line;
	buf_add(&a->text, s, n);
}

/* Ends the entry being read, if any. */
static int
aliases_flush(struct aliases_parser *p)
{
	int	rc;

	if (p->acc.nlines == 0)
		return 0;
	buf_addch(&p->acc.text, '\0');
	rc = aliases_entry(p);
	buf_reset(&p->acc.text);
	p->acc.nlines = 0;
	return rc;
}

/* One physical line (without its LF). */
static int
aliases_line(struct aliases_parser *p, const char *s, size_t n,
    unsigned long line)
{
	size_t	i;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > ALIASES_LINE_MAX)
		return aliases_error(p, line, "line longer than 65536 bytes");
	if (memchr(s, '\0', n) != NULL)
		return aliases_error(p, line, "NUL byte in the line");
	for (i = 0; i < n && aliases_blank(s[i]); i++)
		;
	if (i == n || s[i] == '#')
		return 0;
	if (i == 0) {
		if (aliases_flush(p) == -1)
			return -1;
	} else if (p->acc.nlines == 0)
		return aliases_error(p, line, "continuation line without an "
		    "entry above");
	if (p->acc.text.len + n + 1 > ALIASES_ENTRY_MAX)
		return aliases_error(p, line, "entry longer than 1048576 "
		    "bytes");
	aliases_acc_add(&p->acc, s, n, line);
	return 0;
}

int
aliases_parse_buf(const char *name, const char *data, size_t len,
    enum aliases_format fmt, aliases_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct aliases_parser	 p;
	const char		*nl;
	unsigned long		 line = 0;
	size_t			 pos = 0, n;
	int			 rc = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.fmt = fmt;
	p.cb = cb;
	p.arg = arg;
	p.err = err;
	p.errlen = errlen;
	buf_init(&p.acc.text);
	while (pos < len && rc == 0) {
		nl = memchr(data + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (data + pos)) : len - pos;
		rc = aliases_line(&p, data + pos, n, ++line);
		pos += n + 1;
	}
	if (rc == 0)
		rc = aliases_flush(&p);
	buf_free(&p.acc.text);
	free(p.acc.off);
	free(p.acc.lineno);
	aliases_keys_free(&p.keys);
	return rc;
}

int
aliases_parse_file(const char *path, enum aliases_format fmt,
    aliases_cb cb, void *arg, char *err, size_t errlen)
{
	struct buf	b;
	int		rc = -1;

	buf_init(&b);
	if (buf_read_file(&b, path, ALIASES_FILE_MAX, NULL, err, errlen) == 0)
		rc = aliases_parse_buf(path, b.data != NULL ? b.data : "",
		    b.len, fmt, cb, arg, err, errlen);
	buf_free(&b);
	return rc;
}
