/*
 * test_sts_policy.c - unit tests of the MTA-STS policy parser and MX
 * pattern matcher (sts/sts_policy.c; ../shared/spec/mta-sts.md rules 13
 * to 19).
 *
 * Two tables: policy bodies (line endings, blank lines, byte order mark,
 * duplicates, unknown keys, every max_age edge, missing fields, mx values
 * that can never match) with the fields or the reason expected; and
 * pattern/host pairs for the matcher.  Then the limits (body size, mx
 * count, pattern length), NUL bytes, and copy/free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sts/sts_policy.h"

#define T_MX	3
#define HEAD	"version: STSv1\nmode: enforce\n"
#define MX1	"mx: mx1.example.com\n"
#define AGE	"max_age: 86400\n"
#define GOOD	HEAD MX1 AGE

struct policy_case {
	const char	*name;
	const char	*body;
	int		 ok;		/* 0 parses, -1 invalid */
	enum sts_mode	 mode;
	uint32_t	 max_age;
	size_t		 nmx;
	const char	*mx[T_MX];	/* the first mx values */
	const char	*why;		/* when invalid: a part of why */
	const char	*host;		/* when not NULL: matched ... */
	int		 match;		/* ... with this result */
};

static const struct policy_case policy_cases[] = {
	/* rule 13: line endings, blank lines, byte order mark. */
	{ "rule 13: LF", GOOD, 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, "mx1.example.com", 1 },
	{ "rule 13: CRLF",
	    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
	    "max_age: 86400\r\n", 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, "mx1.example.com", 1 },
	{ "rule 13: LF and CRLF mixed",
	    "version: STSv1\r\nmode: testing\nmx: a.example.com\r\n"
	    "mx: b.example.com\nmax_age: 5\r\n", 0, STS_MODE_TESTING, 5, 2,
	    { "a.example.com", "b.example.com" }, NULL, NULL, 0 },
	{ "rule 13: no final line ending",
	    HEAD MX1 "max_age: 86400", 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 13: no final line ending after CRLF lines",
	    "version: STSv1\r\nmode: enforce\r\nmax_age: 7\r\n"
	    "mx: mx1.example.com", 0, STS_MODE_ENFORCE, 7, 1,
	    { "mx1.example.com" }, NULL, "mx1.example.com", 1 },
	{ "rule 13: trailing spaces and tabs after values",
	    "version: STSv1 \nmode: enforce\t \r\nmx: mx1.example.com  \n"
	    "max_age: 86400\t\n", 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, "mx1.example.com", 1 },
	{ "rule 13: blank lines anywhere",
	    "\n\r\n" HEAD "\n  \n\t\r\n" MX1 "\n" AGE "\n\n", 0,
	    STS_MODE_ENFORCE, 86400, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 13: a byte order mark at the start",
	    "\xef\xbb\xbf" GOOD, 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 13: a byte order mark before CRLF lines",
	    "\xef\xbb\xbfversion: STSv1\r\nmode: none\r\nmax_age: 1\r\n", 0,
	    STS_MODE_NONE, 1, 0, { NULL }, NULL, NULL, 0 },
	{ "rule 13: a byte order mark later is part of a key",
	    "version: STSv1\n\xef\xbb\xbfmode: enforce\n" MX1 AGE, -1, 0, 0,
	    0, { NULL }, "mode missing", NULL, 0 },
	{ "rule 13: two byte order marks",
	    "\xef\xbb\xbf\xef\xbb\xbf" GOOD, -1, 0, 0, 0, { NULL },
	    "version missing", NULL, 0 },
	{ "rule 13: a CR alone does not end a line",
	    "version: STSv1\rmode: enforce\n" MX1 AGE, -1, 0, 0, 0, { NULL },
	    "line 1: version \"STSv1?mode: enforce\" is not STSv1", NULL, 0 },
	{ "rule 13: a last line ending in a CR alone",
	    "version: STSv1\n" MX1 AGE "mode: enforce\r", -1, 0, 0, 0,
	    { NULL }, "line 4: mode \"enforce?\"", NULL, 0 },
	{ "rule 13: line numbers count blank lines and endings",
	    "\r\n\nversion: STSv1\n\nmax_age: -1\n", -1, 0, 0, 0, { NULL },
	    "line 5: max_age \"-1\" is not 1 to 10 digits", NULL, 0 },
	/* rule 14: key: value. */
	{ "rule 14: no space after the colon",
	    "version:STSv1\nmode:enforce\nmx:mx1.example.com\nmax_age:60\n",
	    0, STS_MODE_ENFORCE, 60, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 14: spaces and tabs after the colon",
	    "version: \t STSv1\nmode:\tenforce\nmx:   mx1.example.com\n"
	    "max_age:  60\n", 0, STS_MODE_ENFORCE, 60, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 14: unknown keys are ignored",
	    "foo: bar\n" HEAD "x-extra: 1: 2\n" MX1 "mxs: evil.example\n" AGE
	    "mx_backup: evil.example\n", 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, "evil.example", 0 },
	{ "rule 14: keys are case-sensitive",
	    "version: STSv1\nMode: testing\nmode: enforce\nMX: evil.example\n"
	    MX1 "MAX_AGE: 5\n" AGE, 0, STS_MODE_ENFORCE, 86400, 1,
	    { "mx1.example.com" }, NULL, "evil.example", 0 },
	{ "rule 14: a space before the colon makes another key",
	    "version: STSv1\nmode : enforce\n" MX1 AGE, -1, 0, 0, 0, { NULL },
	    "mode missing", NULL, 0 },
	{ "rule 14: a line without a colon",
	    "version: STSv1\nmode enforce\n" MX1 AGE, -1, 0, 0, 0, { NULL },
	    "line 2: no colon", NULL, 0 },
	{ "rule 14: an empty key", HEAD ": x\n" MX1 AGE, -1, 0, 0, 0,
	    { NULL }, "line 3: empty key", NULL, 0 },
	/* rule 15: values. */
	{ "rule 15: version other than STSv1", "version: STSv2\nmode: none\n"
	    AGE, -1, 0, 0, 0, { NULL }, "line 1: version \"STSv2\"", NULL,
	    0 },
	{ "rule 15: version is case-sensitive", "version: stsv1\nmode: none\n"
	    AGE, -1, 0, 0, 0, { NULL }, "is not STSv1", NULL, 0 },
	{ "rule 15: mode other than the three", "version: STSv1\n"
	    "mode: Enforce\n" MX1 AGE, -1, 0, 0, 0, { NULL },
	    "line 2: mode \"Enforce\" is not enforce, testing or none", NULL,
	    0 },
	{ "rule 15: empty mode", "version: STSv1\nmode:\n" MX1 AGE, -1, 0, 0,
	    0, { NULL }, "mode \"\"", NULL, 0 },
	{ "rule 15: mode testing", "version: STSv1\nmode: testing\n" MX1 AGE,
	    0, STS_MODE_TESTING, 86400, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 15: max_age 0 parses (expires at once)",
	    HEAD MX1 "max_age: 0\n", 0, STS_MODE_ENFORCE, 0, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 15: max_age 1", HEAD MX1 "max_age: 1\n", 0, STS_MODE_ENFORCE,
	    1, 1, { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 15: max_age 31557600", HEAD MX1 "max_age: 31557600\n", 0,
	    STS_MODE_ENFORCE, 31557600, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 15: max_age 31557601 is cut to 31557600",
	    HEAD MX1 "max_age: 31557601\n", 0, STS_MODE_ENFORCE, 31557600, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 15: max_age of 10 digits, the largest",
	    HEAD MX1 "max_age: 9999999999\n", 0, STS_MODE_ENFORCE, 31557600,
	    1, { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 15: max_age of 10 digits with leading zeros",
	    HEAD MX1 "max_age: 0000000060\n", 0, STS_MODE_ENFORCE, 60, 1,
	    { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 15: max_age of 11 digits", HEAD MX1 "max_age: 10000000000\n",
	    -1, 0, 0, 0, { NULL },
	    "line 4: max_age \"10000000000\" is not 1 to 10 digits", NULL, 0 },
	{ "rule 15: max_age of 11 digits, all zeros",
	    HEAD MX1 "max_age: 00000000000\n", -1, 0, 0, 0, { NULL },
	    "is not 1 to 10 digits", NULL, 0 },
	{ "rule 15: max_age negative", HEAD MX1 "max_age: -1\n", -1, 0, 0, 0,
	    { NULL }, "max_age \"-1\" is not 1 to 10 digits", NULL, 0 },
	{ "rule 15: max_age with a plus", HEAD MX1 "max_age: +60\n", -1, 0, 0,
	    0, { NULL }, "max_age \"+60\"", NULL, 0 },
	{ "rule 15: max_age empty", HEAD MX1 "max_age:\n", -1, 0, 0, 0,
	    { NULL }, "max_age \"\"", NULL, 0 },
	{ "rule 15: max_age with a space inside", HEAD MX1 "max_age: 86 400\n",
	    -1, 0, 0, 0, { NULL }, "max_age \"86 400\"", NULL, 0 },
	{ "rule 15: max_age with a unit", HEAD MX1 "max_age: 1d\n", -1, 0, 0,
	    0, { NULL }, "max_age \"1d\"", NULL, 0 },
	/* rule 16: the first occurrence wins; mx adds. */
	{ "rule 16: the first mode wins",
	    "version: STSv1\nmode: testing\nmode: enforce\n" MX1 AGE, 0,
	    STS_MODE_TESTING, 86400, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 16: the first max_age wins", HEAD MX1 "max_age: 60\n" AGE, 0,
	    STS_MODE_ENFORCE, 60, 1, { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 16: a later duplicate is not even checked",
	    GOOD "version: STSv9\nmode: bogus\nmax_age: -5\n", 0,
	    STS_MODE_ENFORCE, 86400, 1, { "mx1.example.com" }, NULL, NULL,
	    0 },
	{ "rule 16: a bad first occurrence is not saved by a later one",
	    "version: STSv1\nmode: bogus\nmode: enforce\n" MX1 AGE, -1, 0, 0,
	    0, { NULL }, "line 2: mode \"bogus\"", NULL, 0 },
	{ "rule 16: a bad first version is not saved by a later one",
	    "version: STSv2\nversion: STSv1\nmode: none\n" AGE, -1, 0, 0, 0,
	    { NULL }, "line 1: version", NULL, 0 },
	{ "rule 16: each mx line adds one pattern, in order",
	    HEAD "mx: a.example.com\nmx: *.b.example.com\n"
	    "mx: a.example.com\n" AGE, 0, STS_MODE_ENFORCE, 86400, 3,
	    { "a.example.com", "*.b.example.com", "a.example.com" }, NULL,
	    "x.b.example.com", 1 },
	{ "rule 16: an empty mx", HEAD "mx:\n" AGE, -1, 0, 0, 0, { NULL },
	    "line 3: empty mx", NULL, 0 },
	{ "rule 16: an mx of spaces only", HEAD "mx:  \t\n" AGE, -1, 0, 0, 0,
	    { NULL }, "empty mx", NULL, 0 },
	/* rule 17: required fields. */
	{ "rule 17: version missing", "mode: enforce\n" MX1 AGE, -1, 0, 0, 0,
	    { NULL }, "version missing", NULL, 0 },
	{ "rule 17: mode missing", "version: STSv1\n" MX1 AGE, -1, 0, 0, 0,
	    { NULL }, "mode missing", NULL, 0 },
	{ "rule 17: max_age missing", HEAD MX1, -1, 0, 0, 0, { NULL },
	    "max_age missing", NULL, 0 },
	{ "rule 17: an empty body", "", -1, 0, 0, 0, { NULL },
	    "version missing", NULL, 0 },
	{ "rule 17: blank lines only", "\r\n \n\t\n", -1, 0, 0, 0, { NULL },
	    "version missing", NULL, 0 },
	{ "rule 17: none without mx", "version: STSv1\nmode: none\n" AGE, 0,
	    STS_MODE_NONE, 86400, 0, { NULL }, NULL, NULL, 0 },
	{ "rule 17: none with mx keeps them",
	    "version: STSv1\nmode: none\n" MX1 AGE, 0, STS_MODE_NONE, 86400,
	    1, { "mx1.example.com" }, NULL, NULL, 0 },
	{ "rule 17: enforce without mx", HEAD AGE, -1, 0, 0, 0, { NULL },
	    "no mx in enforce mode", NULL, 0 },
	{ "rule 17: testing without mx", "version: STSv1\nmode: testing\n"
	    AGE, -1, 0, 0, 0, { NULL }, "no mx in testing mode", NULL, 0 },
	/* rule 18: mx values that never match, kept as published. */
	{ "rule 18: an IPv4 mx never matches", HEAD "mx: 192.0.2.1\n" AGE, 0,
	    STS_MODE_ENFORCE, 86400, 1, { "192.0.2.1" }, NULL, "192.0.2.1",
	    0 },
	{ "rule 18: an IPv6 mx never matches", HEAD "mx: [2001:db8::1]\n" AGE,
	    0, STS_MODE_ENFORCE, 86400, 1, { "[2001:db8::1]" }, NULL,
	    "[2001:db8::1]", 0 },
	{ "rule 18: a non-ASCII mx never matches",
	    HEAD "mx: m\xc3\xa9x.example.com\n" AGE, 0, STS_MODE_ENFORCE,
	    86400, 1, { "m\xc3\xa9x.example.com" }, NULL,
	    "m\xc3\xa9x.example.com", 0 },
	{ "rule 18: a bad mx beside a good one",
	    HEAD "mx: 192.0.2.1\n" MX1 AGE, 0, STS_MODE_ENFORCE, 86400, 2,
	    { "192.0.2.1", "mx1.example.com" }, NULL, "MX1.example.com.", 1 },
};

static void
policy_check_fields(const struct policy_case *c, const struct sts_policy *p)
{
	size_t	i;

	if (p->mode != c->mode || p->max_age != c->max_age ||
	    p->nmx != c->nmx)
		fail_msg("%s: expected mode %s max_age %u nmx %zu, got %s %u "
		    "%zu", c->name, sts_mode_str(c->mode), c->max_age, c->nmx,
		    sts_mode_str(p->mode), p->max_age, p->nmx);
	for (i = 0; i < T_MX && c->mx[i] != NULL; i++)
		if (strcmp(p->mx[i], c->mx[i]) != 0)
			fail_msg("%s: expected mx %zu \"%s\", got \"%s\"",
			    c->name, i, c->mx[i], p->mx[i]);
	if (c->host != NULL && sts_policy_match(p, c->host) != c->match)
		fail_msg("%s: expected %s to %s", c->name, c->host,
		    c->match ? "match" : "not match");
}

static void
test_policy_table(void **state)
{
	const struct policy_case	*c;
	struct sts_policy		 p;
	char				 why[256];
	size_t				 i;
	int				 rc;

	(void)state;
	for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		c = &policy_cases[i];
		rc = sts_policy_parse(c->body, strlen(c->body), &p, why,
		    sizeof(why));
		if (rc != c->ok || (c->why != NULL && strstr(why, c->why) ==
		    NULL))
			fail_msg("%s: expected %d \"%s\", got %d \"%s\"",
			    c->name, c->ok, c->why ? c->why : "", rc, why);
		if (rc == 0)
			policy_check_fields(c, &p);
		else if (p.nmx != 0)
			fail_msg("%s: invalid but mx kept", c->name);
		sts_policy_free(&p);
	}
}

/* rule 9 (the parser's side): 64 KiB is read, one byte more is not. */
static void
test_policy_body_max(void **state)
{
	struct sts_policy	 p;
	char			*body, why[128];
	size_t			 len = STS_BODY_MAX + 1;

	(void)state;
	body = malloc(len);
	assert_non_null(body);
	memset(body, ' ', len);
	memcpy(body, GOOD, strlen(GOOD));
	body[len - 1] = '\n';
	assert_int_equal(sts_policy_parse(body, len, &p, why, sizeof(why)),
	    -1);
	assert_string_equal(why, "body larger than 65536 bytes");
	body[len - 2] = '\n';
	assert_int_equal(sts_policy_parse(body, len - 1, &p, why,
	    sizeof(why)), 0);
	assert_int_equal(p.nmx, 1);
	sts_policy_free(&p);
	free(body);
}

/* rule 16: STS_MX_MAX mx lines are kept; one more is invalid. */
static void
test_policy_mx_max(void **state)
{
	struct sts_policy	p;
	char			body[4096], why[128];
	size_t			len, i;

	(void)state;
	len = (size_t)snprintf(body, sizeof(body), "%s", HEAD AGE);
	for (i = 0; i < STS_MX_MAX; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		    "mx: mx%zu.example.com\n", i);
	assert_int_equal(sts_policy_parse(body, len, &p, why, sizeof(why)),
	    0);
	assert_int_equal(p.nmx, STS_MX_MAX);
	assert_string_equal(p.mx[STS_MX_MAX - 1], "mx63.example.com");
	assert_true(sts_policy_match(&p, "mx63.example.com"));
	sts_policy_free(&p);
	len += (size_t)snprintf(body + len, sizeof(body) - len, "mx: x.com\n");
	assert_int_equal(sts_policy_parse(body, len, &p, why, sizeof(why)),
	    -1);
	assert_string_equal(why, "line 68: more than 64 mx");
	assert_int_equal(p.nmx, 0);
}

/* rule 13: a NUL never cuts a value short: the line is invalid. */
static void
test_policy_nul(void **state)
{
	static const char	mx[] = HEAD AGE "mx: mx1.example.com\0.evil\n";
	static const char	blank[] = HEAD AGE MX1 "\0\n";
	struct sts_policy	p;
	char			why[128];

	(void)state;
	assert_int_equal(sts_policy_parse(mx, sizeof(mx) - 1, &p, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "line 4: NUL byte");
	assert_int_equal(sts_policy_parse(blank, sizeof(blank) - 1, &p, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "line 5: NUL byte");
	/* why may be NULL. */
	assert_int_equal(sts_policy_parse(blank, sizeof(blank) - 1, &p, NULL,
	    0), -1);
}

struct match_case {
	const char	*name;
	const char	*pattern;
	const char	*host;
	int		 match;
};

static const struct match_case match_cases[] = {
	{ "rule 19: exact", "mx.example.com", "mx.example.com", 1 },
	{ "rule 19: exact, another host", "mx.example.com", "mx.example.net",
	    0 },
	{ "rule 19: exact is not a suffix", "example.com", "mx.example.com",
	    0 },
	{ "rule 19: exact is not a prefix", "mx.example.com",
	    "mx.example.com.evil.net", 0 },
	{ "rule 19: exact, one more letter", "mx.example.com",
	    "xmx.example.com", 0 },
	{ "rule 19: hyphens and digits", "mx-1.ex-2.com", "MX-1.EX-2.COM",
	    1 },
	{ "rule 19: wildcard, one label", "*.example.com", "mx.example.com",
	    1 },
	{ "rule 19: wildcard, not zero labels", "*.example.com",
	    "example.com", 0 },
	{ "rule 19: wildcard, not two labels", "*.example.com",
	    "a.b.example.com", 0 },
	{ "rule 19: wildcard, not an empty label", "*.example.com",
	    ".example.com", 0 },
	{ "rule 19: wildcard, not glued", "*.example.com", "mxexample.com",
	    0 },
	{ "rule 19: wildcard, another domain", "*.example.com",
	    "mx.example.net", 0 },
	{ "rule 19: wildcard over a TLD", "*.com", "example.com", 1 },
	{ "rule 19: case ignored", "MX.Example.COM", "mx.example.com", 1 },
	{ "rule 19: case ignored, host", "mx.example.com", "Mx.ExAmPlE.cOm",
	    1 },
	{ "rule 19: case ignored, wildcard", "*.EXAMPLE.com",
	    "MX.example.COM", 1 },
	{ "rule 19: trailing dot on the host", "mx.example.com",
	    "mx.example.com.", 1 },
	{ "rule 19: trailing dot on the pattern", "mx.example.com.",
	    "mx.example.com", 1 },
	{ "rule 19: trailing dot on both", "mx.example.com.",
	    "mx.example.com.", 1 },
	{ "rule 19: trailing dot, wildcard", "*.example.com.",
	    "mx.example.com.", 1 },
	{ "rule 19: two trailing dots", "mx.example.com",
	    "mx.example.com..", 0 },
	{ "rule 19: two trailing dots on the pattern", "mx.example.com..",
	    "mx.example.com", 0 },
	{ "rule 18: * alone", "*", "com", 0 },
	{ "rule 18: * alone, one label host", "*", "mx", 0 },
	{ "rule 18: *. alone", "*.", "mx", 0 },
	{ "rule 18: *.*.com", "*.*.com", "a.b.com", 0 },
	{ "rule 18: *.*.com, literal host", "*.*.com", "a.*.com", 0 },
	{ "rule 18: .example.com", ".example.com", "mx.example.com", 0 },
	{ "rule 18: .example.com, same host", ".example.com", ".example.com",
	    0 },
	{ "rule 18: a star inside a label", "m*.example.com",
	    "mx.example.com", 0 },
	{ "rule 18: a star before a label", "*mx.example.com",
	    "mx.example.com", 0 },
	{ "rule 18: a star in the middle", "mx.*.com", "mx.example.com", 0 },
	{ "rule 18: an empty label", "mx..example.com", "mx..example.com",
	    0 },
	{ "rule 18: IPv4", "192.0.2.1", "192.0.2.1", 0 },
	{ "rule 18: IPv4 bracketed", "[192.0.2.1]", "[192.0.2.1]", 0 },
	{ "rule 18: IPv6", "2001:db8::1", "2001:db8::1", 0 },
	{ "rule 18: IPv6 bracketed", "[2001:db8::1]", "[2001:db8::1]", 0 },
	{ "rule 18: wildcard over an IPv4 tail", "*.0.2.1", "192.0.2.1", 0 },
	{ "rule 19: never against an IP host", "*.example.com", "192.0.2.1",
	    0 },
	{ "rule 18: non-ASCII", "m\xc3\xa9x.example.com",
	    "m\xc3\xa9x.example.com", 0 },
	{ "rule 18: non-ASCII under a wildcard", "*.\xc3\xa9xample.com",
	    "mx.\xc3\xa9xample.com", 0 },
	{ "rule 19: A-labels match", "*.xn--xample-9ua.com",
	    "mx.xn--xample-9ua.com", 1 },
	{ "rule 18: an underscore", "mx_1.example.com", "mx_1.example.com",
	    0 },
	{ "rule 18: a space", " mx.example.com", "mx.example.com", 0 },
	{ "rule 18: empty", "", "", 0 },
	{ "rule 18: a dot alone", ".", ".", 0 },
	{ "rule 18: a label of 63", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaa.com", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 1 },
	{ "rule 18: a label of 64", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa.com", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0 },
};

static void
test_match_table(void **state)
{
	const struct match_case	*c;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		c = &match_cases[i];
		if (sts_mx_match(c->pattern, c->host) != c->match)
			fail_msg("%s: expected \"%s\" %s \"%s\"", c->name,
			    c->pattern, c->match ? "to match" : "not to match",
			    c->host);
	}
}

/* rule 18: at most 253 bytes (a trailing dot not counted). */
static void
test_match_length(void **state)
{
	char	name[260];
	size_t	i;

	(void)state;
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(name, 'a', sizeof(name));
	for (i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	assert_true(sts_mx_match(name, name));
	name[253] = '.';
	name[254] = '\0';
	assert_true(sts_mx_match(name, name));
	name[253] = 'a';
	assert_false(sts_mx_match(name, name));
}

static void
test_policy_copy(void **state)
{
	static const char	body[] = HEAD "mx: a.example.com\n"
	    "mx: *.b.example.com\n" AGE;
	struct sts_policy	p, q;
	char			why[64];

	(void)state;
	assert_int_equal(sts_policy_parse(body, sizeof(body) - 1, &p, why,
	    sizeof(why)), 0);
	sts_policy_copy(&q, &p);
	assert_ptr_not_equal(q.mx[0], p.mx[0]);
	sts_policy_free(&p);
	assert_int_equal(p.nmx, 0);
	assert_int_equal(q.mode, STS_MODE_ENFORCE);
	assert_int_equal(q.max_age, 86400);
	assert_int_equal(q.nmx, 2);
	assert_string_equal(q.mx[1], "*.b.example.com");
	assert_true(sts_policy_match(&q, "x.b.example.com"));
	sts_policy_free(&q);
	sts_policy_free(&q);	/* twice is harmless */
}

static void
test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(sts_mode_str(STS_MODE_ENFORCE), "enforce");
	assert_string_equal(sts_mode_str(STS_MODE_TESTING), "testing");
	assert_string_equal(sts_mode_str(STS_MODE_NONE), "none");
	assert_int_equal(sts_mode_parse("enforce"), STS_MODE_ENFORCE);
	assert_int_equal(sts_mode_parse("testing"), STS_MODE_TESTING);
	assert_int_equal(sts_mode_parse("none"), STS_MODE_NONE);
	assert_int_equal(sts_mode_parse("Enforce"), -1);
	assert_int_equal(sts_mode_parse(""), -1);
}

static void
test_printable(void **state)
{
	char	s[12];

	(void)state;
	sts_printable(s, sizeof(s), "ab\x01\"\\\xff", 6);
	assert_string_equal(s, "ab????");
	sts_printable(s, sizeof(s), "abcdefghijklmnop", 16);
	assert_string_equal(s, "abcdefgh...");
	sts_printable(s, sizeof(s), "abcdefghijk", 11);
	assert_string_equal(s, "abcdefghijk");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_policy_body_max),
		cmocka_unit_test(test_policy_mx_max),
		cmocka_unit_test(test_policy_nul),
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_length),
		cmocka_unit_test(test_policy_copy),
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_printable),
	};

	log_init("test_sts_policy", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
