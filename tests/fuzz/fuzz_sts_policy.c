/*
 * fuzz_sts_policy.c - libFuzzer target for the MTA-STS policy parser and
 * the MX pattern matcher (sts/sts_policy.c; rules 13 to 19).
 *
 * Input: a policy body.  Beyond the sanitizers it checks: a parsed policy
 * keeps the limits of sts_policy.h (mode, max_age, mx count, mx values
 * without NUL, line ending or trailing blank; an mx unless mode none) and
 * copies to an equal one; a failure has a printable reason and no mx;
 * the same outcome with every LF made CRLF (when the body has no CR),
 * with a final LF added, and with a byte order mark put in front.  Then
 * the matcher: the first two lines of the input as pattern and host, and
 * each mx against itself and fixed hosts, must agree with a plain
 * reference (equal names, or "*." and exactly one more label).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sts/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_out {
	int			rc;
	struct sts_policy	p;
	char			why[160];
};

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_sts_policy: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static void
fuzz_parse(const char *body, size_t len, struct fuzz_out *o)
{
	o->rc = sts_policy_parse(body, len, &o->p, o->why, sizeof(o->why));
}

static void
fuzz_check_mx(const char *mx)
{
	size_t	n = strlen(mx);

	if (n == 0 || strchr(mx, '\n') != NULL || mx[n - 1] == ' ' ||
	    mx[n - 1] == '\t')
		fuzz_fail("an mx empty, with LF or a trailing blank", mx);
}

static void
fuzz_check(const struct fuzz_out *o)
{
	struct sts_policy	c;
	size_t			i;

	if (o->rc != 0) {
		if (o->rc != -1 || o->why[0] == '\0' || o->p.nmx != 0)
			fuzz_fail("a failure without reason, or with mx", NULL);
		for (i = 0; o->why[i] != '\0'; i++)
			if (o->why[i] < 0x20 || o->why[i] > 0x7e)
				fuzz_fail("a reason not printable", NULL);
		return;
	}
	if (o->p.mode > STS_MODE_ENFORCE || o->p.max_age > STS_MAX_AGE_MAX ||
	    o->p.nmx > STS_MX_MAX ||
	    (o->p.nmx == 0 && o->p.mode != STS_MODE_NONE))
		fuzz_fail("a policy out of its limits", NULL);
	for (i = 0; i < o->p.nmx; i++)
		fuzz_check_mx(o->p.mx[i]);
	sts_policy_copy(&c, &o->p);
	if (c.mode != o->p.mode || c.max_age != o->p.max_age ||
	    c.nmx != o->p.nmx)
		fuzz_fail("a copy that differs", NULL);
	for (i = 0; i < c.nmx; i++)
		if (strcmp(c.mx[i], o->p.mx[i]) != 0)
			fuzz_fail("a copy with another mx", c.mx[i]);
	sts_policy_free(&c);
}

static void
fuzz_same(const struct fuzz_out *a, const struct fuzz_out *b,
    const char *what)
{
	size_t	i;

	if (a->rc != b->rc || (a->rc == -1 && strcmp(a->why, b->why) != 0))
		fuzz_fail(what, b->why);
	if (a->rc != 0)
		return;
	if (a->p.mode != b->p.mode || a->p.max_age != b->p.max_age ||
	    a->p.nmx != b->p.nmx)
		fuzz_fail(what, "other fields");
	for (i = 0; i < a->p.nmx; i++)
		if (strcmp(a->p.mx[i], b->p.mx[i]) != 0)
			fuzz_fail(what, b->p.mx[i]);
}

/* The body again with every LF made CRLF; NULL when it holds a CR. */
static char *
fuzz_crlf(const uint8_t *data, size_t size, size_t *len)
{
	char	*out;
	size_t	 i, n = 0;

	if (memchr(data, '\r', size) != NULL)
		return NULL;
	out = malloc(2 * size + 1);
	if (out == NULL)
		abort();
	for (i = 0; i < size; i++) {
		if (data[i] == '\n')
			out[n++] = '\r';
		out[n++] = (char)data[i];
	}
	*len = n;
	return out;
}

static void
fuzz_variant(const struct fuzz_out *a, const char *body, size_t len,
    const char *what)
{
	struct fuzz_out	b;

	if (len > STS_BODY_MAX)
		return;
	fuzz_parse(body, len, &b);
	fuzz_same(a, &b, what);
	sts_policy_free(&b.p);
}

static void
fuzz_variants(const struct fuzz_out *a, const uint8_t *data, size_t size)
{
	char	*v;
	size_t	 len;

	if (size + 3 > STS_BODY_MAX)
		return;
	if ((v = fuzz_crlf(data, size, &len)) != NULL) {
		fuzz_variant(a, v, len, "another outcome with CRLF");
		free(v);
	}
	v = malloc(size + 3);
	if (v == NULL)
		abort();
	memcpy(v, data, size);
	if (size > 0 && data[size - 1] != '\n' && data[size - 1] != '\r') {
		v[size] = '\n';
		fuzz_variant(a, v, size + 1, "another outcome with a final LF");
	}
	if (size < 3 || memcmp(data, "\xef\xbb\xbf", 3) != 0) {
		memcpy(v, "\xef\xbb\xbf", 3);
		memcpy(v + 3, data, size);
		fuzz_variant(a, v, size + 3, "another outcome after a BOM");
	}
	free(v);
}

/* The reference matcher, on names the real one accepted. */
static int
fuzz_ref_match(const char *pattern, const char *host)
{
	size_t		 pl = strlen(pattern), hl = strlen(host);
	const char	*dot;

	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == hl && strncasecmp(pattern, host, pl) == 0)
		return 1;
	if (pl < 2 || pattern[0] != '*' || pattern[1] != '.')
		return 0;
	dot = memchr(host, '.', hl);
	return dot != NULL && dot != host &&
	    (size_t)(host + hl - dot - 1) == pl - 2 &&
	    strncasecmp(dot + 1, pattern + 2, pl - 2) == 0;
}

static void
fuzz_match(const char *pattern, const char *host)
{
	int	m = sts_mx_match(pattern, host);
	size_t	i;

	if (!m)
		return;
	if (!fuzz_ref_match(pattern, host))
		fuzz_fail("a match the reference does not make", pattern);
	for (i = 0; host[i] != '\0'; i++)
		if ((unsigned char)host[i] >= 0x80 || host[i] == ':' ||
		    host[i] == '[' || host[i] == '*')
			fuzz_fail("a match of a host that is no name", host);
	if (pattern[0] != '*' && !sts_mx_match(host, pattern))
		fuzz_fail("an exact match that is not symmetric", pattern);
}

/* The first two lines of the input as pattern and host. */
static void
fuzz_lines(const uint8_t *data, size_t size)
{
	char	*s, *nl, *host;

	s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	host = "";
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		host = nl + 1;
		if ((nl = strchr(host, '\n')) != NULL)
			*nl = '\0';
	}
	fuzz_match(s, host);
	fuzz_match(host, s);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*hosts[] = { "mx.example.com", "example.com",
	    "a.b.example.com", "MX.EXAMPLE.COM.", "192.0.2.1" };
	struct fuzz_out		 a;
	size_t			 i, k;

	fuzz_parse((const char *)data, size, &a);
	fuzz_check(&a);
	fuzz_variants(&a, data, size);
	for (i = 0; i < a.p.nmx; i++) {
		fuzz_match(a.p.mx[i], a.p.mx[i]);
		for (k = 0; k < sizeof(hosts) / sizeof(hosts[0]); k++)
			fuzz_match(a.p.mx[i], hosts[k]);
		(void)sts_policy_match(&a.p, a.p.mx[i]);
	}
	sts_policy_free(&a.p);
	fuzz_lines(data, size);
	return 0;
}
