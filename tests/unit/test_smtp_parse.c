/*
 * test_smtp_parse.c - unit tests of smtpd/smtp_parse.c: the path and
 * mailbox parser (quoted local parts, address literals, source routes,
 * the null path, the length limits of RFC 5321, UTF-8 and its flag,
 * internationalised domains converted to A-labels), the parameter
 * splitter, and the DSN parsers (xtext, NOTIFY, RET, ENVID, ORCPT).
 * Each case says what it gave and what was expected.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "smtpd/smtp_parse.h"

static const char *
status_name(enum smtp_path_status st)
{
	switch (st) {
	case PATH_OK:		return "OK";
	case PATH_SYNTAX:	return "SYNTAX";
	case PATH_TOOLONG:	return "TOOLONG";
	case PATH_UTF8:		return "UTF8";
	case PATH_IDN:		return "IDN";
	}
	return "?";
}

/* Parses s with flags and checks the status. */
static void
path_is(const char *s, int flags, enum smtp_path_status want,
    struct smtp_path *p, const char **end)
{
	enum smtp_path_status	st;

	st = smtp_parse_path(s, flags, p, end);
	if (st != want)
		fail_msg("path \"%s\" flags %d: expected %s, got %s", s, flags,
		    status_name(want), status_name(st));
}

/* ---- paths ---- */

static void
test_simple(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<User@Example.ORG> SIZE=1", 0, PATH_OK, &p, &end);
	assert_string_equal(p.addr, "User@Example.ORG");
	assert_string_equal(p.local, "User");
	assert_string_equal(p.plain, "User");
	assert_string_equal(p.domain, "Example.ORG");
	assert_string_equal(p.adomain, "example.org");
	assert_string_equal(end, " SIZE=1");
	assert_int_equal(p.null, 0);
	assert_int_equal(p.nodomain, 0);
	assert_int_equal(p.literal, 0);
	assert_int_equal(p.utf8, 0);
	path_is("<a.b-c+d_e!#$%&'*/=?^`{|}~@x-y.example>", 0, PATH_OK, &p,
	    &end);
	assert_string_equal(p.local, "a.b-c+d_e!#$%&'*/=?^`{|}~");
}

static void
test_null_and_postmaster(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<>", 0, PATH_SYNTAX, &p, &end);
	path_is("<>", SMTP_PATH_NULL, PATH_OK, &p, &end);
	assert_int_equal(p.null, 1);
	assert_string_equal(end, "");
	/* The old boolean "allow_null" still means the same. */
	path_is("<>", 1, PATH_OK, &p, &end);
	path_is("<Postmaster>", 0, PATH_OK, &p, &end);
	assert_int_equal(p.nodomain, 1);
	assert_string_equal(p.plain, "Postmaster");
	assert_string_equal(p.domain, "");
	assert_string_equal(p.adomain, "");
	path_is("< >", SMTP_PATH_NULL, PATH_SYNTAX, &p, &end);
}

static void
test_quoted(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<\"a b\\\"c\"@Example.ORG> X", 0, PATH_OK, &p, &end);
	assert_string_equal(p.local, "\"a b\\\"c\"");
	assert_string_equal(p.plain, "a b\"c");
	assert_string_equal(p.addr, "\"a b\\\"c\"@Example.ORG");
	assert_string_equal(end, " X");
	path_is("<\"user@other.example\"@example.org>", 0, PATH_OK, &p, &end);
	assert_string_equal(p.plain, "user@other.example");
	path_is("<\"\"@example.org>", 0, PATH_OK, &p, &end);
	assert_string_equal(p.plain, "");
	path_is("<\"\\\\\"@example.org>", 0, PATH_OK, &p, &end);
	assert_string_equal(p.plain, "\\");
	path_is("<\"unterminated@example.org>", 0, PATH_SYNTAX, &p, &end);
	path_is("<\"\x01\"@example.org>", 0, PATH_SYNTAX, &p, &end);
	path_is("<\"a\\\x01\"@example.org>", 0, PATH_SYNTAX, &p, &end);
	path_is("<a\"b\"@example.org>", 0, PATH_SYNTAX, &p, &end);
}

static void
test_dot_strings(void **state)
{
	static const char *const bad[] = {
		"<.a@example.org>", "<a.@example.org>", "<a..b@example.org>",
		"<a b@example.org>", "<a(b)@example.org>", "<a,b@example.org>",
		"<a@b@example.org>", "<@example.org>", "<a@>", "<a@.org>",
		"<a@example..org>", "<a@-example.org>", "<a@example-.org>",
		"<a@exa_mple.org>", "<a@example.org.>", "<a@example.org",
		"a@example.org", "<a[b]@example.org>",
		"<a;b@example.org>", "<a:b@example.org>", "",
	};
	struct smtp_path	 p;
	const char		*end;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_path_status st = smtp_parse_path(bad[i],
		    SMTP_PATH_NULL | SMTP_PATH_UTF8, &p, &end);

		if (st != PATH_SYNTAX)
			fail_msg("\"%s\": expected SYNTAX, got %s", bad[i],
			    status_name(st));
	}
	/* The path ends at its '>'; the caller sees what follows. */
	path_is("<a@example.org>>", 0, PATH_OK, &p, &end);
	assert_string_equal(end, ">");
}

static void
test_literals(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<u@[192.0.2.1]>", 0, PATH_OK, &p, &end);
	assert_int_equal(p.literal, 1);
	assert_string_equal(p.domain, "[192.0.2.1]");
	assert_string_equal(p.adomain, "[192.0.2.1]");
	path_is("<u@[IPv6:2001:DB8::1]>", 0, PATH_OK, &p, &end);
	assert_int_equal(p.literal, 1);
	assert_string_equal(p.adomain, "[ipv6:2001:db8::1]");
	path_is("<u@[IPv6:::1]>", 0, PATH_OK, &p, &end);
	path_is("<u@[ipv6:::ffff:192.0.2.1]>", 0, PATH_OK, &p, &end);
	path_is("<u@[x-tag:stuff]>", 0, PATH_OK, &p, &end);
	path_is("<u@[]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[1.2.3]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[256.1.1.1]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[1.2.3.4.5]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[IPv6:zz::1]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[IPv6:1.2.3.4]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[tag:]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[tag-:x]>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[192.0.2.1>", 0, PATH_SYNTAX, &p, &end);
	path_is("<u@[192.0.2.1]x>", 0, PATH_SYNTAX, &p, &end);
}

static void
test_source_routes(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<@a.example,@B.Example:u@c.example>", 0, PATH_OK, &p, &end);
	assert_string_equal(p.route, "a.example,b.example");
	assert_string_equal(p.addr, "u@c.example");
	assert_string_equal(p.adomain, "c.example");
	path_is("<@a.example:postmaster>", 0, PATH_OK, &p, &end);
	assert_int_equal(p.nodomain, 1);
	assert_string_equal(p.route, "a.example");
	path_is("<@a.example u@c.example>", 0, PATH_SYNTAX, &p, &end);
	path_is("<@a.example,u@c.example>", 0, PATH_SYNTAX, &p, &end);
	path_is("<@:u@c.example>", 0, PATH_SYNTAX, &p, &end);
	path_is("<@a.example,:u@c.example>", 0, PATH_SYNTAX, &p, &end);
	path_is("<@[192.0.2.1]:u@c.example>", 0, PATH_SYNTAX, &p, &end);
	path_is("<a.example:u@c.example>", 0, PATH_SYNTAX, &p, &end);
	/* Route domains are compared as A-labels too. */
	path_is("<@b\xc3\xbc" "cher.example:u@c.example>", SMTP_PATH_UTF8,
	    PATH_OK, &p, &end);
	assert_string_equal(p.route, "xn--bcher-kva.example");
	path_is("<@\xe2\x98\x83.example:u@c.example>", SMTP_PATH_UTF8,
	    PATH_IDN, &p, &end);
}

/* RFC 5321 4.5.3.1: 64 / 255 / 256 octets; a label has at most 63. */
static void
test_limits(void **state)
{
	char			 buf[600], local[80], dom[300];
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	memset(local, 'l', 64);
	local[64] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<%s@example.org>", local));
	path_is(buf, 0, PATH_OK, &p, &end);
	local[64] = 'l';
	local[65] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<%s@example.org>", local));
	path_is(buf, 0, PATH_TOOLONG, &p, &end);
	/* A quoted local part counts with its quotes. */
	memset(local, 'q', 63);
	local[63] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<\"%s\"@example.org>",
	    local));
	path_is(buf, 0, PATH_TOOLONG, &p, &end);
	local[62] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<\"%s\"@example.org>",
	    local));
	path_is(buf, 0, PATH_OK, &p, &end);
	assert_int_equal(strlen(p.plain), 62);

	/* 64-octet local part + 189-octet domain + "<@>" = 256. */
	memset(local, 'l', 64);
	local[64] = '\0';
	memset(dom, 'd', sizeof(dom));
	dom[63] = dom[127] = '.';
	dom[189] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<%s@%s>", local, dom));
	assert_int_equal(strlen(buf), 256);
	path_is(buf, 0, PATH_OK, &p, &end);
	dom[189] = 'd';
	dom[190] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<%s@%s>", local, dom));
	path_is(buf, 0, PATH_TOOLONG, &p, &end);

	/* A label of 63 octets, and one of 64. */
	memset(dom, 'e', 63);
	dom[63] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<a@%s.org>", dom));
	path_is(buf, 0, PATH_OK, &p, &end);
	dom[63] = 'e';
	dom[64] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf), "<a@%s.org>", dom));
	path_is(buf, 0, PATH_SYNTAX, &p, &end);

	/* A route that makes the path longer than 256 octets. */
	memset(dom, 'r', 60);
	dom[60] = '\0';
	assert_true(bsnprintf(buf, sizeof(buf),
	    "<@%s.example,@%s.example,@%s.example,@%s.example:u@x.example>",
	    dom, dom, dom, dom));
	path_is(buf, 0, PATH_TOOLONG, &p, &end);
}

static void
test_utf8(void **state)
{
	static const char *const malformed[] = {
		"<\xc3@example.org>",		/* truncated */
		"<\xc0\xaf@example.org>",	/* overlong '/' */
		"<\xe0\x80\xaf@example.org>",	/* overlong */
		"<\xed\xa0\x80@example.org>",	/* a surrogate */
		"<\xf4\x90\x80\x80@example.org>", /* above U+10FFFF */
		"<\xff@example.org>",
		"<a@exa\x80mple.org>",
		"<\"\xc3\"@example.org>",
	};
	struct smtp_path	 p;
	const char		*end;
	size_t			 i;

	(void)state;
	/* UTF-8 needs the flag; without it, say so. */
	path_is("<j\xc3\xb6rg@example.org>", 0, PATH_UTF8, &p, &end);
	path_is("<j\xc3\xb6rg@example.org>", SMTP_PATH_UTF8, PATH_OK, &p, &end);
	assert_int_equal(p.utf8, 1);
	assert_string_equal(p.plain, "j\xc3\xb6rg");
	path_is("<\"j\xc3\xb6 rg\"@example.org>", SMTP_PATH_UTF8, PATH_OK, &p,
	    &end);
	assert_string_equal(p.plain, "j\xc3\xb6 rg");
	path_is("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a>", SMTP_PATH_UTF8, PATH_OK, &p, &end);
	assert_string_equal(p.adomain, "xn--fsqu00a.xn--4rr70v");
	path_is("<a@example.org>", SMTP_PATH_UTF8, PATH_OK, &p, &end);
	assert_int_equal(p.utf8, 0);
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		path_is(malformed[i], SMTP_PATH_UTF8, PATH_SYNTAX, &p, &end);
	/* The 64-octet limit counts octets, not characters. */
	path_is("<\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
	    "\xc3\xb6x@example.org>", SMTP_PATH_UTF8, PATH_TOOLONG, &p, &end);
}

/* Internationalised domains become A-labels (IDNA2008, UTS 46
 * non-transitional); ASCII domains are only lower-cased. */
static void
test_idn(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;		/* NULL: refused */
	} cases[] = {
		{ "B\xc3\xbc" "cher.Example", "xn--bcher-kva.example" },
		{ "fa\xc3\x9f.de", "xn--fa-hia.de" },	/* nontransitional */
		{ "\xc3\xa9xample.org", "xn--xample-9ua.org" },
		{ "Example.ORG", "example.org" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "ab--cd.example", "ab--cd.example" },	/* ASCII: as is */
		{ "\xe2\x98\x83.net", NULL },		/* disallowed */
		{ "a\xe2\x80\x8d" "b.example", NULL },	/* ZWJ, no context */
	};
	char	out[SMTP_DOMAIN_MAX + 1];
	size_t	i;
	int	rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = smtp_parse_idna(cases[i].in, out, sizeof(out));
		if (cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("\"%s\": expected a refusal, got %s",
				    cases[i].in, out);
			continue;
		}
		if (rc != 0 || strcmp(out, cases[i].out) != 0)
			fail_msg("\"%s\": expected %s, got rc %d %s",
			    cases[i].in, cases[i].out, rc, rc == 0 ? out : "");
	}
	assert_int_equal(smtp_parse_idna("example.org", out, 5), -1);
}

static void
test_idn_paths(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	path_is("<user@B\xc3\xbc" "cher.example>", SMTP_PATH_UTF8, PATH_OK, &p,
	    &end);
	assert_string_equal(p.domain, "B\xc3\xbc" "cher.example");
	assert_string_equal(p.adomain, "xn--bcher-kva.example");
	assert_string_equal(p.addr, "user@B\xc3\xbc" "cher.example");
	/* Not allowed without SMTPUTF8, even when IDNA would refuse it. */
	path_is("<user@\xe2\x98\x83.net>", 0, PATH_UTF8, &p, &end);
	path_is("<user@\xe2\x98\x83.net>", SMTP_PATH_UTF8, PATH_IDN, &p, &end);
	path_is("<user@b\xc3\xbc" "cher->", SMTP_PATH_UTF8, PATH_SYNTAX, &p,
	    &end);
}

/* ---- parameters ---- */

static void
test_params(void **state)
{
	struct smtp_param	p[SMTP_PARAMS_MAX];
	char			buf[256];

	(void)state;
	(void)strlcpy(buf, "SIZE=100  BODY=8BITMIME SMTPUTF8", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), 3);
	assert_string_equal(p[0].key, "SIZE");
	assert_string_equal(p[0].value, "100");
	assert_string_equal(p[1].key, "BODY");
	assert_string_equal(p[2].key, "SMTPUTF8");
	assert_null(p[2].value);
	(void)strlcpy(buf, "", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), 0);
	(void)strlcpy(buf, "=x", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), -1);
	(void)strlcpy(buf, "A=", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), -1);
	(void)strlcpy(buf, "A=b=c", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), -1);
	(void)strlcpy(buf, "-A=b", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), -1);
	(void)strlcpy(buf, "A=\xc3\xa9", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, SMTP_PARAMS_MAX), -1);
	(void)strlcpy(buf, "A B C", sizeof(buf));
	assert_int_equal(smtp_parse_params(buf, p, 2), -1);
}

static void
test_verb_keyword_helo(void **state)
{
	char		 line[64], verb[SMTP_VERB_MAX], *args;
	const char	*rest;

	(void)state;
	(void)strlcpy(line, "starttls", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), 0);
	assert_string_equal(verb, "STARTTLS");
	(void)strlcpy(line, "BDAT 10 LAST", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), 0);
	assert_string_equal(verb, "BDAT");
	assert_string_equal(args, "10 LAST");
	assert_int_equal(smtp_parse_keyword("from: <a@b>", "FROM:", &rest), 1);
	assert_string_equal(rest, "<a@b>");
	assert_int_equal(smtp_parse_keyword("FRM:<a@b>", "FROM:", &rest), 0);
	assert_int_equal(smtp_parse_helo("mx.example.org"), 1);
	assert_int_equal(smtp_parse_helo("[192.0.2.1]"), 1);
	assert_int_equal(smtp_parse_helo(""), 0);
	assert_int_equal(smtp_parse_helo("a b"), 0);
	assert_int_equal(smtp_parse_helo("\xc3\xa9.example"), 0);
}

/* ---- DSN ---- */

static void
test_xtext(void **state)
{
	char	out[32];

	(void)state;
	assert_int_equal(smtp_parse_xtext("abc", out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(smtp_parse_xtext("a+2Bb+3Dc+20", out, sizeof(out)), 6);
	assert_string_equal(out, "a+b=c ");
	assert_int_equal(smtp_parse_xtext("", out, sizeof(out)), 0);
	assert_int_equal(smtp_parse_xtext("+2b", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("+2", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("+", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("+GG", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("a=b", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("a b", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("\xc3\xa9", out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext("abcd", out, 4), -1);
	assert_int_equal(smtp_parse_xtext("abc", out, 4), 3);
	assert_int_equal(smtp_parse_xtext("+00", out, sizeof(out)), 1);
}

static void
test_notify(void **state)
{
	static const struct {
		const char	*in;
		int		 rc;
		unsigned	 flags;
	} cases[] = {
		{ "NEVER", 0, DSN_NOTIFY_NEVER },
		{ "never", 0, DSN_NOTIFY_NEVER },
		{ "SUCCESS", 0, DSN_NOTIFY_SUCCESS },
		{ "SUCCESS,FAILURE", 0, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE },
		{ "delay,Failure,SUCCESS", 0, DSN_NOTIFY_ALL & ~DSN_NOTIFY_NEVER },
		{ "NEVER,SUCCESS", -1, 0 },
		{ "FAILURE,NEVER", -1, 0 },
		{ "SUCCESS,SUCCESS", -1, 0 },
		{ "SUCCESS,", -1, 0 },
		{ ",SUCCESS", -1, 0 },
		{ "", -1, 0 },
		{ "ALWAYS", -1, 0 },
		{ "SUCCESS FAILURE", -1, 0 },
	};
	unsigned	flags;
	size_t		i;
	int		rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = smtp_parse_notify(cases[i].in, &flags);
		if (rc != cases[i].rc || (rc == 0 && flags != cases[i].flags))
			fail_msg("NOTIFY=%s: expected %d/0x%x, got %d/0x%x",
			    cases[i].in, cases[i].rc, cases[i].flags, rc, flags);
	}
}

static void
test_ret_envid_orcpt(void **state)
{
	char		big[600];
	unsigned	ret;

	(void)state;
	assert_int_equal(smtp_parse_ret("FULL", &ret), 0);
	assert_int_equal(ret, DSN_RET_FULL);
	assert_int_equal(smtp_parse_ret("hdrs", &ret), 0);
	assert_int_equal(ret, DSN_RET_HDRS);
	assert_int_equal(smtp_parse_ret("BODY", &ret), -1);
	assert_int_equal(smtp_parse_ret("", &ret), -1);

	assert_int_equal(smtp_parse_envid("QQ314159"), 0);
	assert_int_equal(smtp_parse_envid("a+2Bb"), 0);
	assert_int_equal(smtp_parse_envid("a+20b"), 0);	/* a space */
	assert_int_equal(smtp_parse_envid(""), -1);
	assert_int_equal(smtp_parse_envid("a+0Ab"), -1);	/* LF */
	assert_int_equal(smtp_parse_envid("a+80b"), -1);	/* 8-bit */
	assert_int_equal(smtp_parse_envid("a+zz"), -1);
	memset(big, 'e', 100);
	big[100] = '\0';
	assert_int_equal(smtp_parse_envid(big), 0);
	big[100] = 'e';
	big[101] = '\0';
	assert_int_equal(smtp_parse_envid(big), -1);

	assert_int_equal(smtp_parse_orcpt("rfc822;user@example.org"), 0);
	assert_int_equal(smtp_parse_orcpt("RFC822;user+2Btag@example.org"), 0);
	assert_int_equal(smtp_parse_orcpt("utf-8;user@example.org"), 0);
	assert_int_equal(smtp_parse_orcpt("rfc822;"), -1);
	assert_int_equal(smtp_parse_orcpt(";user@example.org"), -1);
	assert_int_equal(smtp_parse_orcpt("user@example.org"), -1);
	assert_int_equal(smtp_parse_orcpt("rfc 822;u@example.org"), -1);
	assert_int_equal(smtp_parse_orcpt("rfc822;u+0D+0A@example.org"), -1);
	assert_int_equal(smtp_parse_orcpt("rfc822;u+2@example.org"), -1);
	memcpy(big, "rfc822;", 7);
	memset(big + 7, 'o', 493);
	big[500] = '\0';
	assert_int_equal(smtp_parse_orcpt(big), 0);
	big[500] = 'o';
	big[501] = '\0';
	assert_int_equal(smtp_parse_orcpt(big), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_null_and_postmaster),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_dot_strings),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_source_routes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_idn_paths),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_verb_keyword_helo),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_ret_envid_orcpt),
	};

	log_init("test_smtp_parse", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
