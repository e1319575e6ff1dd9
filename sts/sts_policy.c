/*
 * sts_policy.c - the MTA-STS policy file and its MX patterns (rules 13 to
 * 19 of ../shared/spec/mta-sts.md).
 *
 * The body is read line by line with lengths, never as a C string, so a
 * NUL byte cannot cut a value short: a line holding one makes the policy
 * invalid.  Every failure names its line and shows the value made
 * printable (sts_printable).  The matcher first checks that the pattern
 * is a host name (rule 18), then compares with lengths, ignoring case and
 * one trailing dot (rule 19).  Pure: no I/O, no clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "sts/sts_policy.h"

#define POLICY_SHOW_MAX	40	/* bytes of a bad value shown in why */
#define LABEL_MAX	63

struct policy_parse {
	struct sts_policy	*p;
	int			 have_version;
	int			 have_mode;
	int			 have_max_age;
	unsigned		 line;
	char			*why;
	size_t			 whylen;
};

void
sts_printable(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char	*s = src;
	size_t			 i, n;

	if (size == 0)
		return;
	n = len < size - 1 ? len : size - 1;
	if (n < len && n >= 3)
		n -= 3;
	for (i = 0; i < n; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' &&
		    s[i] != '\\') ? (char)s[i] : '?';
	dst[n] = '\0';
	if (n < len)
		(void)strlcat(dst, "...", size);
}

const char *
sts_mode_str(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return "enforce";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_NONE:
		return "none";
	}
	return "none";
}

int
sts_mode_parse(const char *s)
{
	if (strcmp(s, "enforce") == 0)
		return STS_MODE_ENFORCE;
	if (strcmp(s, "testing") == 0)
		return STS_MODE_TESTING;
	if (strcmp(s, "none") == 0)
		return STS_MODE_NONE;
	return -1;
}

void
sts_policy_free(struct sts_policy *p)
{
	size_t	i;

	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	memset(p, 0, sizeof(*p));
}

void
sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src)
{
	size_t	i;

	memset(dst, 0, sizeof(*dst));
	dst->mode = src->mode;
	dst->max_age = src->max_age;
	dst->nmx = src->nmx;
	for (i = 0; i < src->nmx; i++)
		dst->mx[i] = xstrdup(src->mx[i]);
}

/* ---- the parser ---- */

static int policy_fail(struct policy_parse *pp, const char *fmt, ...)
    SM_PRINTF(2, 3);

static int
policy_fail(struct policy_parse *pp, const char *fmt, ...)
{
	va_list	ap;

	if (pp->why != NULL && pp->whylen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(pp->why, pp->whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "line N: KEY \"VALUE\" REASON" */
static int
policy_bad_value(struct policy_parse *pp, const char *key, const char *val,
    size_t vlen, const char *reason)
{
	char	show[POLICY_SHOW_MAX + 4];

	sts_printable(show, sizeof(show), val, vlen);
	return policy_fail(pp, "line %u: %s \"%s\" %s", pp->line, key, show,
	    reason);
}

static int
policy_is(const char *val, size_t vlen, const char *word)
{
	return vlen == strlen(word) && memcmp(val, word, vlen) == 0;
}

static int
policy_version(struct policy_parse *pp, const char *val, size_t vlen)
{
	if (pp->have_version)
		return 0;
	if (!policy_is(val, vlen, "STSv1"))
		return policy_bad_value(pp, "version", val, vlen,
		    "is not STSv1");
	pp->have_version = 1;
	return 0;
}

static int
policy_mode(struct policy_parse *pp, const char *val, size_t vlen)
{
	static const enum sts_mode	 modes[] = { STS_MODE_ENFORCE,
	    STS_MODE_TESTING, STS_MODE_NONE };
	size_t				 i;

	if (pp->have_mode)
		return 0;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (policy_is(val, vlen, sts_mode_str(modes[i]))) {
			pp->p->mode = modes[i];
			pp->have_mode = 1;
			return 0;
		}
	}
	return policy_bad_value(pp, "mode", val, vlen,
	    "is not enforce, testing or none");
}

/* Rule 15: 1 to 10 digits (0 allowed), cut to STS_MAX_AGE_MAX. */
static int
policy_max_age(struct policy_parse *pp, const char *val, size_t vlen)
{
	uint64_t	v = 0;
	size_t		i;

	if (pp->have_max_age)
		return 0;
	if (vlen < 1 || vlen > 10)
		return policy_bad_value(pp, "max_age", val, vlen,
		    "is not 1 to 10 digits");
	for (i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return policy_bad_value(pp, "max_age", val, vlen,
			    "is not 1 to 10 digits");
		v = v * 10 + (uint64_t)(val[i] - '0');
	}
	pp->p->max_age = v > STS_MAX_AGE_MAX ? STS_MAX_AGE_MAX : (uint32_t)v;
	pp->have_max_age = 1;
	return 0;
}

/* Rule 16: each mx line adds one pattern, kept as written. */
static int
policy_mx(struct policy_parse *pp, const char *val, size_t vlen)
{
	if (vlen == 0)
		return policy_fail(pp, "line %u: empty mx", pp->line);
	if (pp->p->nmx >= STS_MX_MAX)
		return policy_fail(pp, "line %u: more than %d mx", pp->line,
		    STS_MX_MAX);
	pp->p->mx[pp->p->nmx++] = xstrndup(val, vlen);
	return 0;
}

/* Rule 14: "key: value"; unknown keys are ignored. */
static int
policy_field(struct policy_parse *pp, const char *key, size_t klen,
    const char *val, size_t vlen)
{
	if (policy_is(key, klen, "version"))
		return policy_version(pp, val, vlen);
	if (policy_is(key, klen, "mode"))
		return policy_mode(pp, val, vlen);
	if (policy_is(key, klen, "max_age"))
		return policy_max_age(pp, val, vlen);
	if (policy_is(key, klen, "mx"))
		return policy_mx(pp, val, vlen);
	return 0;
}

static int
policy_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* One line, its ending gone (rule 13). */
static int
policy_line(struct policy_parse *pp, const char *l, size_t len)
{
	const char	*colon, *val;
	size_t		 klen;

	while (len > 0 && policy_blank(l[len - 1]))
		len--;
	if (len == 0)
		return 0;
	if (memchr(l, '\0', len) != NULL)
		return policy_fail(pp, "line %u: NUL byte", pp->line);
	colon = memchr(l, ':', len);
	if (colon == NULL)
		return policy_fail(pp, "line %u: no colon", pp->line);
	klen = (size_t)(colon - l);
	if (klen == 0)
		return policy_fail(pp, "line %u: empty key", pp->line);
	val = colon + 1;
	while (val < l + len && policy_blank(*val))
		val++;
	return policy_field(pp, l, klen, val, (size_t)(l + len - val));
}

/* Rule 17: the required fields, once every line is read. */
static int
policy_complete(struct policy_parse *pp)
{
	if (!pp->have_version)
		return policy_fail(pp, "version missing");
	if (!pp->have_mode)
		return policy_fail(pp, "mode missing");
	if (!pp->have_max_age)
		return policy_fail(pp, "max_age missing");
	if (pp->p->nmx == 0 && pp->p->mode != STS_MODE_NONE)
		return policy_fail(pp, "no mx in %s mode",
		    sts_mode_str(pp->p->mode));
	return 0;
}

/* Splits body into lines: LF ends one, a CR right before it goes too
 * (so LF, CRLF and a mix all work); the last ending is optional. */
static int
policy_lines(struct policy_parse *pp, const char *body, size_t len)
{
	const char	*end = body + len, *nl;
	size_t		 n;

	while (body < end) {
		pp->line++;
		nl = memchr(body, '\n', (size_t)(end - body));
		n = (size_t)((nl != NULL ? nl : end) - body);
		if (nl != NULL && n > 0 && body[n - 1] == '\r')
			n--;
		if (policy_line(pp, body, n) == -1)
			return -1;
		body = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

int
sts_policy_parse(const char *body, size_t len, struct sts_policy *p,
    char *why, size_t whylen)
{
	struct policy_parse	pp;

	memset(p, 0, sizeof(*p));
	memset(&pp, 0, sizeof(pp));
	pp.p = p;
	pp.why = why;
	pp.whylen = whylen;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (len > STS_BODY_MAX)
		return policy_fail(&pp, "body larger than %d bytes",
		    STS_BODY_MAX);
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		len -= 3;
	}
	if (policy_lines(&pp, body, len) == -1 ||
	    policy_complete(&pp) == -1) {
		sts_policy_free(p);
		return -1;
	}
	return 0;
}

/* ---- the matcher (rules 18 and 19) ---- */

/* Drops one trailing dot; returns the length left. */
static size_t
mx_trim(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

static int
mx_label_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* 1 when s[0..len) is a host name in A-labels: labels of 1 to 63
 * letters, digits and '-', at most 253 bytes, and a last label that is
 * not all digits (so never an IPv4 address; ':' and '[' of IPv6 are
 * not label characters). */
static int
mx_hostname(const char *s, size_t len)
{
	size_t	i, label = 0;
	int	digits = 1;

	if (len == 0 || len > STS_PATTERN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!mx_label_char((unsigned char)s[i]) || ++label > LABEL_MAX)
			return 0;
		if (s[i] < '0' || s[i] > '9')
			digits = 0;
	}
	return label > 0 && !digits;
}

int
sts_mx_match(const char *pattern, const char *host)
{
	size_t		 plen = mx_trim(pattern), hlen = mx_trim(host);
	const char	*dot;

	if (!mx_hostname(host, hlen))
		return 0;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		if (!mx_hostname(pattern + 2, plen - 2))
			return 0;
		dot = memchr(host, '.', hlen);
		if (dot == NULL || dot == host)
			return 0;
		dot++;
		return (size_t)(host + hlen - dot) == plen - 2 &&
		    strncasecmp(dot, pattern + 2, plen - 2) == 0;
	}
	return mx_hostname(pattern, plen) && plen == hlen &&
	    strncasecmp(pattern, host, plen) == 0;
}

int
sts_policy_match(const struct sts_policy *p, const char *host)
{
	size_t	i;

	for (i = 0; i < p->nmx; i++)
		if (sts_mx_match(p->mx[i], host))
			return 1;
	return 0;
}
