/*
 * test_smtp_session.c - unit tests of the SMTP session state machine
 * (smtpd/smtp_session.c) and its parsers, driven without any I/O.
 *
 * Every command is tried in every state a session can be in between
 * commands (greeted, after HELO/EHLO, after MAIL, after RCPT) against one
 * table of expected replies, codes and next states.  Then: syntax errors,
 * the null sender, postmaster, lookups, relay refusal and its address
 * tricks, limits, the asynchronous DATA path with each outcome, the
 * Received header, the rule for enhanced status codes, and the lookup
 * process's decision on local users.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "lookup/lookup.h"
#include "smtpd/smtp_parse.h"
#include "smtpd/smtp_session.h"

static struct config		cfg;
static struct smtp_server	srv;

static const char test_config[] =
    "hostname mx.example.org\n"
    "listen 127.0.0.1 2525 smtp\n"
    "local-domain example.org localhost\n"
    "max-recipients 3\n"
    "max-message-size 1000\n"
    "max-errors 5\n";

static int
setup(void **state)
{
	char	err[256];

	(void)state;
	config_init(&cfg);
	if (config_parse(&cfg, "test", test_config, sizeof(test_config) - 1,
	    err, sizeof(err)) == -1)
		fail_msg("config: %s", err);
	config_finish(&cfg);
	memset(&srv, 0, sizeof(srv));
	srv.cfg = &cfg;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
}

/* ---- helpers ---- */

/* An enhanced code is "class.subject.detail" with class = the reply's. */
static void
check_enh(const struct smtp_reply *r, int want_enh)
{
	int	cls, subj, det, n = 0;

	if (!want_enh) {
		if (r->enh[0] != '\0')
			fail_msg("reply %d %s: unexpected enhanced code", r->code,
			    r->enh);
		return;
	}
	if (sscanf(r->enh, "%d.%d.%d%n", &cls, &subj, &det, &n) != 3 ||
	    r->enh[n] != '\0' || cls != r->code / 100)
		fail_msg("reply %d \"%s\": bad or missing enhanced code \"%s\"",
		    r->code, r->text, r->enh);
}

/* Sends one command line (CRLF added). */
static enum smtp_action
cmd(struct smtp_session *s, const char *line, struct smtp_reply *r)
{
	char	buf[1024];

	if (!bsnprintf(buf, sizeof(buf), "%s\r\n", line))
		fail_msg("test line too long");
	memset(r, 0, sizeof(*r));
	return smtp_session_command(s, buf, strlen(buf), r);
}

/* A command that must get a reply with this code and enhanced code. */
static void
expect(struct smtp_session *s, const char *line, int code, const char *enh)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	a = cmd(s, line, &r);
	if (a != SMTP_A_REPLY && a != SMTP_A_CLOSE)
		fail_msg("\"%s\": action %d, expected a reply", line, a);
	if (r.code != code || strcmp(r.enh, enh) != 0)
		fail_msg("\"%s\": expected %d %s, got %d %s %s", line, code, enh,
		    r.code, r.enh, r.text);
	/* Only the HELO/EHLO success goes without an enhanced code. */
	check_enh(&r, !(code == 250 && (strncasecmp(line, "HELO", 4) == 0 ||
	    strncasecmp(line, "EHLO", 4) == 0)));
}

static void
expect_text(struct smtp_session *s, const char *line, int code,
    const char *enh, const char *text)
{
	struct smtp_reply	r;

	(void)cmd(s, line, &r);
	if (r.code != code || strcmp(r.enh, enh) != 0 ||
	    strcmp(r.text, text) != 0)
		fail_msg("\"%s\": expected %d %s %s, got %d %s %s", line, code,
		    enh, text, r.code, r.enh, r.text);
}

static void
start(struct smtp_session *s, int relay)
{
	struct smtp_reply	r;

	smtp_session_init(s, &srv, 7, "192.0.2.1", relay);
	smtp_session_greeting(s, &r);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "mx.example.org ESMTP strictmail");
	check_enh(&r, 0);
}

/* Brings a fresh session into state st (INIT, HELO, MAIL or RCPT). */
static void
start_in(struct smtp_session *s, enum smtp_state st)
{
	start(s, 0);
	if (st >= SMTP_HELO)
		expect(s, "EHLO client.example.net", 250, "");
	if (st >= SMTP_MAIL)
		expect(s, "MAIL FROM:<sender@example.net>", 250, "2.1.0");
	if (st >= SMTP_RCPT)
		expect(s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	assert_int_equal(s->state, st);
}

/* ---- every command in every state ---- */

struct state_case {
	enum smtp_state	 from;
	const char	*line;
	int		 code;		/* 0: an action without a reply */
	const char	*enh;
	enum smtp_state	 to;
};

static const struct state_case state_cases[] = {
	{ SMTP_INIT, "HELO client", 250, "", SMTP_HELO },
	{ SMTP_INIT, "EHLO client", 250, "", SMTP_HELO },
	{ SMTP_INIT, "MAIL FROM:<a@example.net>", 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "RCPT TO:<postmaster@example.org>", 503, "5.5.1",
	    SMTP_INIT },
	{ SMTP_INIT, "DATA", 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "RSET", 250, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "NOOP", 250, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "VRFY root", 252, "2.5.0", SMTP_INIT },
	{ SMTP_INIT, "HELP", 214, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "FOO", 500, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "QUIT", 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_HELO, "HELO client", 250, "", SMTP_HELO },
	{ SMTP_HELO, "EHLO client", 250, "", SMTP_HELO },
	{ SMTP_HELO, "MAIL FROM:<a@example.net>", 250, "2.1.0", SMTP_MAIL },
	{ SMTP_HELO, "RCPT TO:<postmaster@example.org>", 503, "5.5.1",
	    SMTP_HELO },
	{ SMTP_HELO, "DATA", 503, "5.5.1", SMTP_HELO },
	{ SMTP_HELO, "RSET", 250, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "NOOP", 250, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "VRFY root", 252, "2.5.0", SMTP_HELO },
	{ SMTP_HELO, "HELP", 214, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "FOO", 500, "5.5.1", SMTP_HELO },
	{ SMTP_HELO, "QUIT", 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_MAIL, "HELO client", 250, "", SMTP_HELO },
	{ SMTP_MAIL, "EHLO client", 250, "", SMTP_HELO },
	{ SMTP_MAIL, "MAIL FROM:<a@example.net>", 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "RCPT TO:<postmaster@example.org>", 250, "2.1.5",
	    SMTP_RCPT },
	{ SMTP_MAIL, "DATA", 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "RSET", 250, "2.0.0", SMTP_HELO },
	{ SMTP_MAIL, "NOOP", 250, "2.0.0", SMTP_MAIL },
	{ SMTP_MAIL, "VRFY root", 252, "2.5.0", SMTP_MAIL },
	{ SMTP_MAIL, "HELP", 214, "2.0.0", SMTP_MAIL },
	{ SMTP_MAIL, "FOO", 500, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "QUIT", 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_RCPT, "HELO client", 250, "", SMTP_HELO },
	{ SMTP_RCPT, "EHLO client", 250, "", SMTP_HELO },
	{ SMTP_RCPT, "MAIL FROM:<a@example.net>", 503, "5.5.1", SMTP_RCPT },
	{ SMTP_RCPT, "RCPT TO:<postmaster@localhost>", 250, "2.1.5",
	    SMTP_RCPT },
	{ SMTP_RCPT, "DATA", 0, "", SMTP_RCPT },
	{ SMTP_RCPT, "RSET", 250, "2.0.0", SMTP_HELO },
	{ SMTP_RCPT, "NOOP", 250, "2.0.0", SMTP_RCPT },
	{ SMTP_RCPT, "VRFY root", 252, "2.5.0", SMTP_RCPT },
	{ SMTP_RCPT, "HELP", 214, "2.0.0", SMTP_RCPT },
	{ SMTP_RCPT, "FOO", 500, "5.5.1", SMTP_RCPT },
	{ SMTP_RCPT, "QUIT", 221, "2.0.0", SMTP_CLOSED },
};

static void
test_every_command_every_state(void **state)
{
	const struct state_case	*c;
	struct smtp_session	 s;
	struct smtp_reply	 r;
	enum smtp_action	 a;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(state_cases) / sizeof(state_cases[0]); i++) {
		c = &state_cases[i];
		start_in(&s, c->from);
		a = cmd(&s, c->line, &r);
		if (c->code == 0) {
			if (a != SMTP_A_OPEN)
				fail_msg("%s in %s: action %d, expected OPEN",
				    c->line, smtp_state_name(c->from), a);
		} else if (r.code != c->code || strcmp(r.enh, c->enh) != 0)
			fail_msg("%s in %s: expected %d %s, got %d %s %s",
			    c->line, smtp_state_name(c->from), c->code, c->enh,
			    r.code, r.enh, r.text);
		if (s.state != c->to)
			fail_msg("%s in %s: state %s, expected %s", c->line,
			    smtp_state_name(c->from), smtp_state_name(s.state),
			    smtp_state_name(c->to));
		if (c->code != 0 && c->code != 250)
			check_enh(&r, 1);
		assert_int_equal(a == SMTP_A_CLOSE, c->to == SMTP_CLOSED);
		smtp_session_free(&s);
	}
}

/* ---- greeting, HELO, EHLO ---- */

static void
test_ehlo_lines(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	start(&s, 0);
	(void)cmd(&s, "EHLO client.example.net", &r);
	buf_init(&b);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "250-mx.example.org\r\n"
	    "250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n");
	assert_int_equal(s.esmtp, 1);
	assert_string_equal(s.helo, "client.example.net");
	buf_reset(&b);
	(void)cmd(&s, "HELO other.example.net", &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "250 mx.example.org\r\n");
	assert_int_equal(s.esmtp, 0);
	assert_string_equal(s.helo, "other.example.net");
	buf_free(&b);
	expect(&s, "HELO", 501, "5.5.4");
	expect(&s, "EHLO", 501, "5.5.4");
	expect(&s, "EHLO two words", 501, "5.5.4");
	expect(&s, "ehlo [192.0.2.1]", 250, "");
	smtp_session_free(&s);
}

static void
test_helo_resets_transaction(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_RCPT);
	expect(&s, "EHLO again.example.net", 250, "");
	assert_int_equal(s.state, SMTP_HELO);
	assert_int_equal(s.nrcpt, 0);
	assert_string_equal(s.sender, "");
	smtp_session_free(&s);
}

/* ---- MAIL ---- */

static void
test_mail_syntax(void **state)
{
	static const struct {
		const char	*line;
		int		 code;
		const char	*enh;
	} cases[] = {
		{ "MAIL", 501, "5.5.4" },
		{ "MAIL TO:<a@example.net>", 501, "5.5.4" },
		{ "MAIL FROM:", 501, "5.1.7" },
		{ "MAIL FROM:a@example.net", 501, "5.1.7" },
		{ "MAIL FROM:<a@example.net", 501, "5.1.7" },
		{ "MAIL FROM:<a>", 501, "5.1.7" },
		{ "MAIL FROM:<a@>", 501, "5.1.7" },
		{ "MAIL FROM:<a@-bad.example>", 501, "5.1.7" },
		{ "MAIL FROM:<a@bad-.example>", 501, "5.1.7" },
		{ "MAIL FROM:<a@b..example>", 501, "5.1.7" },
		{ "MAIL FROM:<a..b@example.net>", 501, "5.1.7" },
		{ "MAIL FROM:<.a@example.net>", 501, "5.1.7" },
		{ "MAIL FROM:<a b@example.net>", 501, "5.1.7" },
		{ "MAIL FROM:<a@b@example.net>", 501, "5.1.7" },
		{ "MAIL FROM:<\"unterminated@example.net>", 501, "5.1.7" },
		{ "MAIL FROM:<a@[300.1.1.1]>", 501, "5.1.7" },
		{ "MAIL FROM:<a@[IPv6:zz::1]>", 501, "5.1.7" },
		{ "MAIL FROM:<a@example.net>x", 501, "5.1.7" },
		{ "MAIL FROM:<a@example.net> FOO=bar", 555, "5.5.4" },
		{ "MAIL FROM:<a@example.net> SIZE=1001", 552, "5.3.4" },
		{ "MAIL FROM:<a@example.net> SIZE=abc", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> SIZE=", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> SIZE", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> SIZE=1 SIZE=2", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> BODY=BINARYMIME", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> =x", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> SIZE=99999999999999999999999",
		    501, "5.5.4" },
	};
	struct smtp_session	s;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_HELO);
		expect(&s, cases[i].line, cases[i].code, cases[i].enh);
		assert_int_equal(s.state, SMTP_HELO);
		smtp_session_free(&s);
	}
}

static void
test_mail_good(void **state)
{
	static const struct {
		const char	*line;
		const char	*sender;
	} cases[] = {
		{ "MAIL FROM:<a@example.net>", "a@example.net" },
		{ "mail from:<a@example.net>", "a@example.net" },
		{ "MAIL FROM: <a@example.net>", "a@example.net" },
		{ "MAIL FROM:<>", "" },
		{ "MAIL FROM:<> SIZE=1000 BODY=8BITMIME", "" },
		{ "MAIL FROM:<a@example.net> body=7bit size=0", "a@example.net" },
		{ "MAIL FROM:<\"john doe\"@example.net>", "\"john doe\"@example.net" },
		{ "MAIL FROM:<\"a\\\"b\"@example.net>", "\"a\\\"b\"@example.net" },
		{ "MAIL FROM:<@relay.example:a@example.net>", "a@example.net" },
		{ "MAIL FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]" },
		{ "MAIL FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]" },
		{ "MAIL FROM:<a+tag@Sub.Example.NET>", "a+tag@Sub.Example.NET" },
		{ "MAIL FROM:<a@example.net>   ", "a@example.net" },
	};
	struct smtp_session	s;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_HELO);
		expect(&s, cases[i].line, 250, "2.1.0");
		assert_int_equal(s.state, SMTP_MAIL);
		assert_string_equal(s.sender, cases[i].sender);
		smtp_session_free(&s);
	}
}

/* Parameters need EHLO. */
static void
test_mail_params_need_ehlo(void **state)
{
	struct smtp_session	s;

	(void)state;
	start(&s, 0);
	expect(&s, "HELO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.net> SIZE=10", 555, "5.5.4");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	smtp_session_free(&s);
}

static void
test_mail_space_low(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_HELO);
	srv.space_low = 1;
	expect_text(&s, "MAIL FROM:<a@example.net>", 452, "4.3.1",
	    "Insufficient system storage");
	srv.space_low = 0;
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	smtp_session_free(&s);
}

/* The limits of RFC 5321 4.5.3.1. */
static void
test_path_lengths(void **state)
{
	char			 local[80], dom[300], line[512];
	struct smtp_session	 s;
	size_t			 i;

	(void)state;
	memset(local, 'l', 64);
	local[64] = '\0';
	/* 63 + 1 + 63 + 1 + 61 = 189-octet domain: path of 256 octets. */
	memset(dom, 'd', sizeof(dom));
	dom[63] = dom[127] = '.';
	dom[189] = '\0';
	start_in(&s, SMTP_HELO);
	assert_true(bsnprintf(line, sizeof(line), "MAIL FROM:<%s@%s>", local,
	    dom));
	expect(&s, line, 250, "2.1.0");
	expect(&s, "RSET", 250, "2.0.0");
	dom[189] = 'd';
	dom[190] = '\0';
	assert_true(bsnprintf(line, sizeof(line), "MAIL FROM:<%s@%s>", local,
	    dom));
	expect(&s, line, 501, "5.1.7");
	local[64] = 'l';
	local[65] = '\0';
	assert_true(bsnprintf(line, sizeof(line), "MAIL FROM:<%s@example.net>",
	    local));
	expect(&s, line, 501, "5.1.7");
	/* A domain of 256 octets and a 64-octet label. */
	for (i = 0; i < 256; i++)
		dom[i] = (i % 60 == 59) ? '.' : 'd';
	dom[256] = '\0';
	assert_true(bsnprintf(line, sizeof(line), "RCPT TO:<a@%s>", dom));
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, line, 501, "5.1.3");
	memset(dom, 'd', 64);
	dom[64] = '\0';
	assert_true(bsnprintf(line, sizeof(line), "RCPT TO:<a@%s.net>", dom));
	expect(&s, line, 501, "5.1.3");
	smtp_session_free(&s);
}

/* ---- RCPT ---- */

static void
test_rcpt_syntax(void **state)
{
	static const struct {
		const char	*line;
		int		 code;
		const char	*enh;
	} cases[] = {
		{ "RCPT", 501, "5.5.4" },
		{ "RCPT FROM:<postmaster@example.org>", 501, "5.5.4" },
		{ "RCPT TO:", 501, "5.1.3" },
		{ "RCPT TO:<>", 501, "5.1.3" },
		{ "RCPT TO:<alice>", 501, "5.1.3" },
		{ "RCPT TO:postmaster@example.org", 501, "5.1.3" },
		{ "RCPT TO:<user@elsewhere.net@example.org>", 501, "5.1.3" },
		{ "RCPT TO:<@other.net:postmaster>", 501, "5.1.3" },
		{ "RCPT TO:<postmaster@example.org>x", 501, "5.1.3" },
		{ "RCPT TO:<postmaster@example.org> NOTIFY=NEVER", 555, "5.5.4" },
		{ "RCPT TO:<postmaster@example.org> =", 501, "5.5.4" },
	};
	struct smtp_session	s;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_MAIL);
		expect(&s, cases[i].line, cases[i].code, cases[i].enh);
		assert_int_equal(s.state, SMTP_MAIL);
		assert_int_equal(s.nrcpt, 0);
		smtp_session_free(&s);
	}
}

static void
test_postmaster(void **state)
{
	static const char *const lines[] = {
		"RCPT TO:<postmaster@example.org>",
		"RCPT TO:<POSTMASTER@EXAMPLE.ORG>",
		"RCPT TO:<PostMaster@localhost>",
		"RCPT TO:<postmaster>",
		"RCPT TO:<Postmaster>",
		"RCPT TO:<\"postmaster\"@example.org>",
		"rcpt to:<postmaster@example.org>",
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		start_in(&s, SMTP_MAIL);
		if (cmd(&s, lines[i], &r) != SMTP_A_REPLY || r.code != 250 ||
		    strcmp(r.enh, "2.1.5") != 0)
			fail_msg("%s: got %d %s %s (no lookup expected)",
			    lines[i], r.code, r.enh, r.text);
		assert_int_equal(s.nrcpt, 1);
		assert_int_equal(s.state, SMTP_RCPT);
		smtp_session_free(&s);
	}
	/* The null sender may write to postmaster. */
	start_in(&s, SMTP_HELO);
	expect(&s, "MAIL FROM:<>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster>", 250, "2.1.5");
	assert_string_equal(s.rcpts[0], "postmaster");
	smtp_session_free(&s);
}

static void
test_rcpt_lookup(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_MAIL);
	assert_int_equal(cmd(&s, "RCPT TO:<Alice@Example.ORG>", &r),
	    SMTP_A_LOOKUP);
	assert_int_equal(s.wait, SMTP_A_LOOKUP);
	assert_string_equal(s.lookup_local, "Alice");
	assert_string_equal(s.lookup_domain, "example.org");
	assert_int_equal(smtp_session_lookup_result(&s, LOOKUP_FOUND, &r),
	    SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.1.5");
	assert_int_equal(s.nrcpt, 1);
	assert_string_equal(s.rcpts[0], "Alice@example.org");
	assert_int_equal(s.state, SMTP_RCPT);

	assert_int_equal(cmd(&s, "RCPT TO:<nobody@example.org>", &r),
	    SMTP_A_LOOKUP);
	(void)smtp_session_lookup_result(&s, LOOKUP_NOTFOUND, &r);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enh, "5.1.1");
	assert_string_equal(r.text, "<nobody@example.org>: Recipient address "
	    "rejected: User unknown");
	assert_int_equal(s.nrcpt, 1);

	assert_int_equal(cmd(&s, "RCPT TO:<bob@localhost>", &r),
	    SMTP_A_LOOKUP);
	(void)smtp_session_lookup_result(&s, LOOKUP_TEMPFAIL, &r);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_int_equal(s.nrcpt, 1);
	assert_int_equal(s.wait, SMTP_A_REPLY);
	smtp_session_free(&s);
}

/* A client outside the relay networks, and each address trick. */
static void
test_relay_denied(void **state)
{
	static const char *const denied[] = {
		"<user@elsewhere.net>",
		"<user%elsewhere.net@example.org>",
		"<user!elsewhere.net@example.org>",
		"<elsewhere.net!user@example.org>",
		"<\"user@elsewhere.net\"@example.org>",
		"<\"user%elsewhere.net\"@localhost>",
		"<@elsewhere.net:user@example.org>",
		"<@example.org,@elsewhere.net:postmaster@example.org>",
		"<user@[127.0.0.1]>",
		"<user@[IPv6:::1]>",
		"<postmaster@elsewhere.net>",
		"<user@example.org.elsewhere.net>",
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	char			line[300], want[300];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		start_in(&s, SMTP_MAIL);
		assert_true(bsnprintf(line, sizeof(line), "RCPT TO:%s",
		    denied[i]));
		if (cmd(&s, line, &r) != SMTP_A_REPLY || r.code != 550 ||
		    strcmp(r.enh, "5.7.1") != 0)
			fail_msg("%s: expected 550 5.7.1, got %d %s %s", line,
			    r.code, r.enh, r.text);
		assert_int_equal(s.nrcpt, 0);
		smtp_session_free(&s);
	}
	start_in(&s, SMTP_MAIL);
	(void)cmd(&s, "RCPT TO:<user@elsewhere.net>", &r);
	assert_true(bsnprintf(want, sizeof(want), "<%s>: Relay access denied",
	    "user@elsewhere.net"));
	assert_string_equal(r.text, want);
	/* A source route through local domains only is ignored. */
	expect(&s, "RCPT TO:<@example.org:postmaster@example.org>", 250,
	    "2.1.5");
	smtp_session_free(&s);
}

/* A relay client may send anywhere, without a lookup. */
static void
test_relay_allowed(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start(&s, 1);
	expect(&s, "EHLO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	assert_int_equal(cmd(&s, "RCPT TO:<User@Elsewhere.NET>", &r),
	    SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	assert_string_equal(s.rcpts[0], "User@elsewhere.net");
	expect(&s, "RCPT TO:<@a.example:x@b.example>", 250, "2.1.5");
	/* Local domains are still checked. */
	assert_int_equal(cmd(&s, "RCPT TO:<alice@example.org>", &r),
	    SMTP_A_LOOKUP);
	(void)smtp_session_lookup_result(&s, LOOKUP_NOTFOUND, &r);
	assert_int_equal(r.code, 550);
	smtp_session_free(&s);
}

static void
test_max_recipients(void **state)
{
	struct smtp_session	s;

	(void)state;
	start(&s, 1);
	expect(&s, "EHLO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	expect(&s, "RCPT TO:<a@one.example>", 250, "2.1.5");
	expect(&s, "RCPT TO:<a@one.example>", 250, "2.1.5");	/* the same */
	expect(&s, "RCPT TO:<b@one.example>", 250, "2.1.5");
	expect(&s, "RCPT TO:<c@one.example>", 250, "2.1.5");
	assert_int_equal(s.nrcpt, 3);
	expect_text(&s, "RCPT TO:<d@one.example>", 452, "4.5.3",
	    "Error: too many recipients");
	assert_int_equal(s.nrcpt, 3);
	expect(&s, "RSET", 250, "2.0.0");
	assert_int_equal(s.nrcpt, 0);
	assert_string_equal(s.sender, "");
	assert_int_equal(s.state, SMTP_HELO);
	smtp_session_free(&s);
}

/* DATA needs a recipient that was accepted, not just tried. */
static void
test_data_without_good_rcpt(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_MAIL);
	expect(&s, "RCPT TO:<user@elsewhere.net>", 550, "5.7.1");
	expect(&s, "DATA", 503, "5.5.1");
	smtp_session_free(&s);
}

/* ---- DATA and the queue ---- */

static void
to_data(struct smtp_session *s)
{
	struct smtp_reply	r;
	struct buf		b;

	start_in(s, SMTP_RCPT);
	assert_int_equal(cmd(s, "DATA", &r), SMTP_A_OPEN);
	assert_int_equal(s->wait, SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(s, "0123ABCD", 0, &r),
	    SMTP_A_DATA);
	assert_int_equal(r.code, 354);
	check_enh(&r, 0);
	buf_init(&b);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "354 End data with <CR><LF>.<CR><LF>\r\n");
	buf_free(&b);
	assert_int_equal(s->state, SMTP_DATA);
	assert_int_equal(s->opened, 1);
	assert_string_equal(s->qid, "0123ABCD");
}

static void
test_data_accepted(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	to_data(&s);
	assert_int_equal(smtp_session_data_done(&s, SMTP_DATA_OK, 321, &r),
	    SMTP_A_COMMIT);
	assert_int_equal(s.opened, 0);
	assert_int_equal(s.wait, SMTP_A_COMMIT);
	assert_int_equal(s.msg_size, 321);
	assert_int_equal(smtp_session_commit_result(&s, 0, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.0.0");
	assert_string_equal(r.text, "Ok: queued as 0123ABCD");
	assert_int_equal(s.state, SMTP_HELO);
	assert_int_equal(s.nmessages, 1);
	assert_int_equal(s.nrcpt, 0);
	/* The next transaction starts clean. */
	expect(&s, "RCPT TO:<postmaster@example.org>", 503, "5.5.1");
	expect(&s, "MAIL FROM:<>", 250, "2.1.0");
	smtp_session_free(&s);
}

static void
test_data_open_fail(void **state)
{
	static const struct {
		int		 reason;
		int		 code;
		const char	*enh;
		enum smtp_action action;
	} cases[] = {
		{ QFAIL_TEMP, 451, "4.3.0", SMTP_A_REPLY },
		{ QFAIL_NOSPACE, 452, "4.3.1", SMTP_A_REPLY },
		{ QFAIL_SHUTDOWN, 421, "4.3.2", SMTP_A_CLOSE },
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_RCPT);
		assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
		assert_int_equal(smtp_session_open_result(&s, NULL,
		    cases[i].reason, &r), cases[i].action);
		assert_int_equal(r.code, cases[i].code);
		assert_string_equal(r.enh, cases[i].enh);
		assert_int_equal(s.opened, 0);
		if (cases[i].action == SMTP_A_REPLY) {
			assert_int_equal(s.state, SMTP_RCPT);
			expect(&s, "RSET", 250, "2.0.0");
		} else
			assert_int_equal(s.state, SMTP_CLOSED);
		smtp_session_free(&s);
	}
}

static void
test_data_bad(void **state)
{
	static const struct {
		enum smtp_data_status	 st;
		int			 code;
		const char		*enh;
	} cases[] = {
		{ SMTP_DATA_BARE, 550, "5.5.2" },
		{ SMTP_DATA_NUL, 554, "5.6.0" },
		{ SMTP_DATA_SIZE, 552, "5.3.4" },
		{ SMTP_DATA_WRITE, 451, "4.3.0" },
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		to_data(&s);
		assert_int_equal(smtp_session_data_done(&s, cases[i].st, 10, &r),
		    SMTP_A_ABORT);
		assert_int_equal(r.code, cases[i].code);
		assert_string_equal(r.enh, cases[i].enh);
		assert_string_equal(s.qid, "0123ABCD");	/* for the abort */
		assert_int_equal(s.opened, 0);
		assert_int_equal(s.state, SMTP_HELO);
		assert_int_equal(s.nmessages, 0);
		if (cases[i].st == SMTP_DATA_WRITE)
			assert_string_equal(r.text,
			    "Error writing message, try again later");
		smtp_session_free(&s);
	}
}

static void
test_commit_fail(void **state)
{
	static const struct {
		int		 reason;
		int		 code;
		const char	*enh;
		enum smtp_action action;
	} cases[] = {
		{ QFAIL_TEMP, 451, "4.3.0", SMTP_A_REPLY },
		{ QFAIL_NOSPACE, 452, "4.3.1", SMTP_A_REPLY },
		{ QFAIL_SHUTDOWN, 421, "4.3.2", SMTP_A_CLOSE },
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		to_data(&s);
		(void)smtp_session_data_done(&s, SMTP_DATA_OK, 10, &r);
		assert_int_equal(smtp_session_commit_result(&s,
		    cases[i].reason, &r), cases[i].action);
		assert_int_equal(r.code, cases[i].code);
		assert_string_equal(r.enh, cases[i].enh);
		assert_int_equal(s.nmessages, 0);
		assert_int_equal(s.wait, SMTP_A_REPLY);
		smtp_session_free(&s);
	}
}

static void
test_data_syntax(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_RCPT);
	expect(&s, "DATA now", 501, "5.5.4");
	expect(&s, "RSET x", 501, "5.5.4");
	expect(&s, "VRFY", 501, "5.5.4");
	assert_int_equal(s.state, SMTP_RCPT);
	smtp_session_free(&s);
}

/* ---- the line itself, errors, endings ---- */

static void
test_bad_lines(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
	} cases[] = {
		{ "NOOP\n", 5 },
		{ "NOOP", 4 },
		{ "NO\0OP\r\n", 7 },
		{ "NOOP\0\r\n", 7 },
		{ "NO\rOP\r\n", 7 },
		{ "NO\nOP\r\n", 7 },
		{ "NOOP\r\r\n", 7 },
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_HELO);
		assert_int_equal(smtp_session_command(&s, cases[i].line,
		    cases[i].len, &r), SMTP_A_REPLY);
		if (r.code != 500 || strcmp(r.enh, "5.5.2") != 0)
			fail_msg("case %zu: expected 500 5.5.2, got %d %s %s", i,
			    r.code, r.enh, r.text);
		smtp_session_free(&s);
	}
	start_in(&s, SMTP_HELO);
	assert_int_equal(smtp_session_line_too_long(&s, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 500);
	assert_string_equal(r.enh, "5.5.2");
	expect(&s, "", 500, "5.5.1");
	expect(&s, "   ", 500, "5.5.1");
	expect(&s, "NOOP arguments are fine", 250, "2.0.0");
	expect(&s, "noop", 250, "2.0.0");
	expect(&s, "MAIL2 FROM:<a@b.example>", 500, "5.5.1");
	smtp_session_free(&s);
}

static void
test_too_many_errors(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	int			i;

	(void)state;
	start_in(&s, SMTP_HELO);
	for (i = 0; i < 5; i++)
		expect(&s, "BOGUS", 500, "5.5.1");
	assert_int_equal(cmd(&s, "NOOP", &r), SMTP_A_CLOSE);
	assert_int_equal(r.code, 421);
	assert_string_equal(r.enh, "4.7.0");
	assert_int_equal(s.close_reason, SMTP_CLOSE_LIMIT);
	assert_int_equal(s.state, SMTP_CLOSED);
	smtp_session_free(&s);
}

static void
test_driver_endings(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	buf_init(&b);
	start(&s, 0);
	smtp_session_timeout(&s, &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data,
	    "421 4.4.2 mx.example.org Timeout, closing\r\n");
	assert_int_equal(s.close_reason, SMTP_CLOSE_TIMEOUT);
	smtp_session_free(&s);

	buf_reset(&b);
	start(&s, 0);
	smtp_session_shutdown(&s, &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data,
	    "421 4.3.2 mx.example.org Service shutting down\r\n");
	assert_int_equal(s.close_reason, SMTP_CLOSE_SHUTDOWN);
	smtp_session_free(&s);

	buf_reset(&b);
	start(&s, 0);
	smtp_session_limit(&s, &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data,
	    "421 4.7.0 Too many connections, try again later\r\n");
	assert_int_equal(s.close_reason, SMTP_CLOSE_LIMIT);
	assert_string_equal(smtp_close_reason_name(s.close_reason), "limit");
	smtp_session_free(&s);
	buf_free(&b);
}

static void
test_received_header(void **state)
{
	struct smtp_session	s;
	struct buf		b;

	(void)state;
	to_data(&s);
	buf_init(&b);
	smtp_session_received(&s, (time_t)1795899475, &b);
	assert_string_equal(b.data,
	    "Received: from client.example.net (192.0.2.1)\r\n"
	    "\tby mx.example.org (strictmail) with ESMTP id 0123ABCD;\r\n"
	    "\tSat, 28 Nov 2026 20:57:55 +0000\r\n");
	buf_free(&b);
	smtp_session_free(&s);
}

/* 2xx, 4xx and 5xx carry an enhanced code, 354 and EHLO/HELO do not. */
static void
test_enhanced_codes(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	buf_init(&b);
	start_in(&s, SMTP_HELO);
	(void)cmd(&s, "NOOP", &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "250 2.0.0 Ok\r\n");
	buf_reset(&b);
	(void)cmd(&s, "QUIT", &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "221 2.0.0 Bye\r\n");
	smtp_session_free(&s);
	buf_free(&b);
	/* The rest is checked by expect() and the state table. */
}

/* ---- the parsers on their own ---- */

static void
test_parse_verb(void **state)
{
	char	line[64], verb[SMTP_VERB_MAX], *args;

	(void)state;
	(void)strlcpy(line, "mail FROM:<a@b>", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), 0);
	assert_string_equal(verb, "MAIL");
	assert_string_equal(args, "FROM:<a@b>");
	(void)strlcpy(line, "QUIT", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), 0);
	assert_string_equal(args, "");
	(void)strlcpy(line, "AVERYLONGVERBINDEED x", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), -1);
	(void)strlcpy(line, "HE1O x", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), -1);
	(void)strlcpy(line, " NOOP", sizeof(line));
	assert_int_equal(smtp_parse_verb(line, verb, sizeof(verb), &args), -1);
}

static void
test_parse_path(void **state)
{
	struct smtp_path	 p;
	const char		*end;

	(void)state;
	assert_int_equal(smtp_parse_path("<\"a b\\\"c\"@Example.ORG> X", 0, &p,
	    &end), PATH_OK);
	assert_string_equal(p.local, "\"a b\\\"c\"");
	assert_string_equal(p.plain, "a b\"c");
	assert_string_equal(p.domain, "Example.ORG");
	assert_string_equal(p.addr, "\"a b\\\"c\"@Example.ORG");
	assert_string_equal(end, " X");
	assert_int_equal(smtp_parse_path("<@a.example,@b.example:u@c.example>",
	    0, &p, &end), PATH_OK);
	assert_string_equal(p.route, "a.example,b.example");
	assert_string_equal(p.addr, "u@c.example");
	assert_int_equal(smtp_parse_path("<>", 0, &p, &end), PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<>", 1, &p, &end), PATH_OK);
	assert_int_equal(p.null, 1);
	assert_int_equal(smtp_parse_path("<u@[IPv6:::1]>", 0, &p, &end),
	    PATH_OK);
	assert_int_equal(p.literal, 1);
	assert_int_equal(smtp_parse_path("<u@[tag:stuff]>", 0, &p, &end),
	    PATH_OK);
	assert_int_equal(smtp_parse_path("<u@[]>", 0, &p, &end), PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<u@[1.2.3]>", 0, &p, &end),
	    PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<u@exa\xc3\xa9mple.org>", 0, &p,
	    &end), PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<\"\x01\"@example.org>", 0, &p,
	    &end), PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<postmaster>", 0, &p, &end),
	    PATH_OK);
	assert_int_equal(p.nodomain, 1);
}

/* The lookup process's decision: root exists everywhere; names that
 * cannot be users are refused without a lookup. */
static void
test_lookup_local_user(void **state)
{
	static const char *const notfound[] = {
		"no-such-user-here", "", "-root", ".root", "root%x", "root!x",
		"root@x", "ro ot", "root/x", "r\"oot",
		"abcdefghijklmnopqrstuvwxyz0123456789",
	};
	size_t	i;

	(void)state;
	assert_int_equal(lookup_local_user("root"), LOOKUP_FOUND);
	assert_int_equal(lookup_local_user("Root"), LOOKUP_FOUND);
	for (i = 0; i < sizeof(notfound) / sizeof(notfound[0]); i++)
		if (lookup_local_user(notfound[i]) != LOOKUP_NOTFOUND)
			fail_msg("\"%s\": expected NOTFOUND", notfound[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_command_every_state),
		cmocka_unit_test(test_ehlo_lines),
		cmocka_unit_test(test_helo_resets_transaction),
		cmocka_unit_test(test_mail_syntax),
		cmocka_unit_test(test_mail_good),
		cmocka_unit_test(test_mail_params_need_ehlo),
		cmocka_unit_test(test_mail_space_low),
		cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_rcpt_syntax),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_rcpt_lookup),
		cmocka_unit_test(test_relay_denied),
		cmocka_unit_test(test_relay_allowed),
		cmocka_unit_test(test_max_recipients),
		cmocka_unit_test(test_data_without_good_rcpt),
		cmocka_unit_test(test_data_accepted),
		cmocka_unit_test(test_data_open_fail),
		cmocka_unit_test(test_data_bad),
		cmocka_unit_test(test_commit_fail),
		cmocka_unit_test(test_data_syntax),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_driver_endings),
		cmocka_unit_test(test_received_header),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_parse_verb),
		cmocka_unit_test(test_parse_path),
		cmocka_unit_test(test_lookup_local_user),
	};

	log_init("test_smtp_session", 1, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
