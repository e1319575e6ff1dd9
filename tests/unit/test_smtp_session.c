/*
 * test_smtp_session.c - unit tests of the SMTP session state machine
 * (smtpd/smtp_session.c) and its parsers, driven without any I/O.
 *
 * Every command is tried in every state a session can be in between
 * commands (greeted, after HELO/EHLO, after MAIL, after RCPT, between BDAT
 * chunks) against one table of expected actions, replies and next states.
 * Then: syntax errors, the null sender, postmaster, lookups, relay refusal
 * and its address tricks (IDN and literals too), limits, the asynchronous
 * DATA and BDAT paths with each outcome, STARTTLS and the reset after the
 * handshake, the submission listener, DSN and SMTPUTF8 parameters, the
 * EHLO lines, the Received header, the rule for enhanced status codes,
 * and the lookup process's decision on local users.
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
    "local-domain example.org localhost xn--bcher-kva.example\n"
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

/* A command that must give this action, reply code and enhanced code. */
static void
expect_a(struct smtp_session *s, const char *line, enum smtp_action want,
    int code, const char *enh)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	a = cmd(s, line, &r);
	if (a != want)
		fail_msg("\"%s\": action %d, expected %d (%d %s %s)", line, a,
		    want, r.code, r.enh, r.text);
	if (code != 0 && (r.code != code || strcmp(r.enh, enh) != 0))
		fail_msg("\"%s\": expected %d %s, got %d %s %s", line, code, enh,
		    r.code, r.enh, r.text);
}

/* A session from a client (relay or not) on a listener of this kind,
 * with or without a TLS configuration. */
static void
start_kind(struct smtp_session *s, int relay, enum listener_kind kind,
    int tls_offer)
{
	struct smtp_reply	r;

	smtp_session_init(s, &srv, 7, "192.0.2.1", relay);
	smtp_session_setup(s, kind, tls_offer);
	smtp_session_greeting(s, &r);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "mx.example.org ESMTP strictmail");
	check_enh(&r, 0);
}

/* An smtp listener with STARTTLS on offer. */
static void
start(struct smtp_session *s, int relay)
{
	start_kind(s, relay, LISTEN_SMTP, 1);
}

/* From RCPT: the first BDAT chunk opens the message and is read. */
static void
to_bdat(struct smtp_session *s, const char *line)
{
	struct smtp_reply	r;

	assert_int_equal(cmd(s, line, &r), SMTP_A_OPEN);
	assert_int_equal(s->wait, SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(s, "0123ABCD", 0, &r),
	    SMTP_A_CHUNK);
	assert_int_equal(s->state, SMTP_DATA);
	assert_int_equal(s->opened, 1);
	assert_int_equal(s->chunked, 1);
}

/* Brings a fresh session into state st (INIT, HELO, MAIL, RCPT or BDAT:
 * between chunks, after a first chunk of 5 octets). */
static void
start_in(struct smtp_session *s, enum smtp_state st)
{
	struct smtp_reply	r;

	start(s, 0);
	if (st != SMTP_INIT)
		expect(s, "EHLO client.example.net", 250, "");
	if (st != SMTP_INIT && st != SMTP_HELO)
		expect(s, "MAIL FROM:<sender@example.net>", 250, "2.1.0");
	if (st == SMTP_RCPT || st == SMTP_BDAT)
		expect(s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	if (st == SMTP_BDAT) {
		to_bdat(s, "BDAT 5");
		assert_int_equal(smtp_session_chunk_done(s, SMTP_DATA_OK, 120,
		    &r), SMTP_A_REPLY);
		assert_int_equal(r.code, 250);
		assert_string_equal(r.enh, "2.0.0");
		assert_string_equal(r.text, "5 octets received");
	}
	assert_int_equal(s->state, st);
}

/* ---- every command in every state ---- */

struct state_case {
	enum smtp_state	 from;
	const char	*line;
	enum smtp_action action;
	int		 code;		/* 0: an action without a reply */
	const char	*enh;
	enum smtp_state	 to;
};

#define R	SMTP_A_REPLY
static const struct state_case state_cases[] = {
	{ SMTP_INIT, "HELO client", R, 250, "", SMTP_HELO },
	{ SMTP_INIT, "EHLO client", R, 250, "", SMTP_HELO },
	{ SMTP_INIT, "MAIL FROM:<a@example.net>", R, 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "RCPT TO:<postmaster@example.org>", R, 503, "5.5.1",
	    SMTP_INIT },
	{ SMTP_INIT, "DATA", R, 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "BDAT 10", SMTP_A_SKIP, 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "BDAT 0 LAST", SMTP_A_SKIP, 503, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "RSET", R, 250, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "NOOP", R, 250, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "VRFY root", R, 252, "2.5.0", SMTP_INIT },
	{ SMTP_INIT, "HELP", R, 214, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "FOO", R, 500, "5.5.1", SMTP_INIT },
	{ SMTP_INIT, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0", SMTP_INIT },
	{ SMTP_INIT, "QUIT", SMTP_A_CLOSE, 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_HELO, "HELO client", R, 250, "", SMTP_HELO },
	{ SMTP_HELO, "EHLO client", R, 250, "", SMTP_HELO },
	{ SMTP_HELO, "MAIL FROM:<a@example.net>", R, 250, "2.1.0", SMTP_MAIL },
	{ SMTP_HELO, "RCPT TO:<postmaster@example.org>", R, 503, "5.5.1",
	    SMTP_HELO },
	{ SMTP_HELO, "DATA", R, 503, "5.5.1", SMTP_HELO },
	{ SMTP_HELO, "BDAT 10 LAST", SMTP_A_SKIP, 503, "5.5.1", SMTP_HELO },
	{ SMTP_HELO, "RSET", R, 250, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "NOOP", R, 250, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "VRFY root", R, 252, "2.5.0", SMTP_HELO },
	{ SMTP_HELO, "HELP", R, 214, "2.0.0", SMTP_HELO },
	{ SMTP_HELO, "FOO", R, 500, "5.5.1", SMTP_HELO },
	{ SMTP_HELO, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0", SMTP_INIT },
	{ SMTP_HELO, "QUIT", SMTP_A_CLOSE, 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_MAIL, "HELO client", R, 250, "", SMTP_HELO },
	{ SMTP_MAIL, "EHLO client", R, 250, "", SMTP_HELO },
	{ SMTP_MAIL, "MAIL FROM:<a@example.net>", R, 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "RCPT TO:<postmaster@example.org>", R, 250, "2.1.5",
	    SMTP_RCPT },
	{ SMTP_MAIL, "DATA", R, 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "BDAT 10", SMTP_A_SKIP, 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "RSET", R, 250, "2.0.0", SMTP_HELO },
	{ SMTP_MAIL, "NOOP", R, 250, "2.0.0", SMTP_MAIL },
	{ SMTP_MAIL, "VRFY root", R, 252, "2.5.0", SMTP_MAIL },
	{ SMTP_MAIL, "HELP", R, 214, "2.0.0", SMTP_MAIL },
	{ SMTP_MAIL, "FOO", R, 500, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "STARTTLS", R, 503, "5.5.1", SMTP_MAIL },
	{ SMTP_MAIL, "QUIT", SMTP_A_CLOSE, 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_RCPT, "HELO client", R, 250, "", SMTP_HELO },
	{ SMTP_RCPT, "EHLO client", R, 250, "", SMTP_HELO },
	{ SMTP_RCPT, "MAIL FROM:<a@example.net>", R, 503, "5.5.1", SMTP_RCPT },
	{ SMTP_RCPT, "RCPT TO:<postmaster@localhost>", R, 250, "2.1.5",
	    SMTP_RCPT },
	{ SMTP_RCPT, "DATA", SMTP_A_OPEN, 0, "", SMTP_RCPT },
	{ SMTP_RCPT, "BDAT 10", SMTP_A_OPEN, 0, "", SMTP_RCPT },
	{ SMTP_RCPT, "RSET", R, 250, "2.0.0", SMTP_HELO },
	{ SMTP_RCPT, "NOOP", R, 250, "2.0.0", SMTP_RCPT },
	{ SMTP_RCPT, "VRFY root", R, 252, "2.5.0", SMTP_RCPT },
	{ SMTP_RCPT, "HELP", R, 214, "2.0.0", SMTP_RCPT },
	{ SMTP_RCPT, "FOO", R, 500, "5.5.1", SMTP_RCPT },
	{ SMTP_RCPT, "STARTTLS", R, 503, "5.5.1", SMTP_RCPT },
	{ SMTP_RCPT, "QUIT", SMTP_A_CLOSE, 221, "2.0.0", SMTP_CLOSED },

	{ SMTP_BDAT, "HELO client", SMTP_A_ABORT, 250, "", SMTP_HELO },
	{ SMTP_BDAT, "EHLO client", SMTP_A_ABORT, 250, "", SMTP_HELO },
	{ SMTP_BDAT, "MAIL FROM:<a@example.net>", R, 503, "5.5.1", SMTP_BDAT },
	{ SMTP_BDAT, "RCPT TO:<postmaster@localhost>", R, 503, "5.5.1",
	    SMTP_BDAT },
	{ SMTP_BDAT, "DATA", R, 503, "5.5.1", SMTP_BDAT },
	{ SMTP_BDAT, "BDAT 10", SMTP_A_CHUNK, 0, "", SMTP_DATA },
	{ SMTP_BDAT, "BDAT 0 LAST", SMTP_A_CHUNK, 0, "", SMTP_DATA },
	{ SMTP_BDAT, "BDAT ten", R, 501, "5.5.4", SMTP_BDAT },
	{ SMTP_BDAT, "RSET", SMTP_A_ABORT, 250, "2.0.0", SMTP_HELO },
	{ SMTP_BDAT, "NOOP", R, 250, "2.0.0", SMTP_BDAT },
	{ SMTP_BDAT, "VRFY root", R, 252, "2.5.0", SMTP_BDAT },
	{ SMTP_BDAT, "HELP", R, 214, "2.0.0", SMTP_BDAT },
	{ SMTP_BDAT, "FOO", R, 500, "5.5.1", SMTP_BDAT },
	{ SMTP_BDAT, "STARTTLS", R, 503, "5.5.1", SMTP_BDAT },
	{ SMTP_BDAT, "QUIT", SMTP_A_CLOSE, 221, "2.0.0", SMTP_CLOSED },
};
#undef R

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
		memset(&r, 0, sizeof(r));
		a = cmd(&s, c->line, &r);
		if (a != c->action)
			fail_msg("%s in %s: action %d, expected %d (%d %s %s)",
			    c->line, smtp_state_name(c->from), a, c->action,
			    r.code, r.enh, r.text);
		if (c->code != 0 && (r.code != c->code ||
		    strcmp(r.enh, c->enh) != 0))
			fail_msg("%s in %s: expected %d %s, got %d %s %s",
			    c->line, smtp_state_name(c->from), c->code, c->enh,
			    r.code, r.enh, r.text);
		if (s.state != c->to)
			fail_msg("%s in %s: state %s, expected %s", c->line,
			    smtp_state_name(c->from), smtp_state_name(s.state),
			    smtp_state_name(c->to));
		if (c->code != 0)
			check_enh(&r, !(c->code == 250 && c->enh[0] == '\0'));
		/* A message opened by BDAT is aborted or abandoned. */
		if (c->from == SMTP_BDAT && c->action != SMTP_A_CHUNK &&
		    c->to != SMTP_BDAT)
			assert_int_equal(s.opened, c->action == SMTP_A_CLOSE);
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
	    "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n"
	    "250-CHUNKING\r\n250 DSN\r\n");
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

/* Short of descriptors (the driver says so): MAIL opens nothing. */
static void
test_mail_fds_low(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_HELO);
	srv.fds_low = 1;
	expect_text(&s, "MAIL FROM:<a@example.net>", 452, "4.3.1",
	    "Insufficient system storage");
	assert_int_equal(s.state, SMTP_HELO);
	srv.fds_low = 0;
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
		{ "RCPT TO:<postmaster@example.org> FOO=bar", 555, "5.5.4" },
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
	assert_string_equal(s.rcpts[0].addr, "postmaster");
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
	assert_string_equal(s.rcpts[0].addr, "Alice@example.org");
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
		"<user@[127.0.0.1]>",
		"<user@[IPv6:::1]>",
		"<postmaster@elsewhere.net>",
		"<user@example.org.elsewhere.net>",
		"<postmaster@[127.0.0.1]>",
		"<postmaster@[192.0.2.1]>",
		"<user%elsewhere.net@EXAMPLE.ORG>",
		"<@example.org,@localhost:user@elsewhere.net>",
		"<user@xn--brcher-kva.example>",
		"<\"postmaster@elsewhere.net\"@example.org>",
		"<\"user%elsewhere\"@xn--bcher-kva.example>",
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
	/* A source route is ignored: only the mailbox counts. */
	expect(&s, "RCPT TO:<@example.org:postmaster@example.org>", 250,
	    "2.1.5");
	expect(&s, "RCPT TO:<@elsewhere.net,@other.example:"
	    "postmaster@localhost>", 250, "2.1.5");
	assert_string_equal(s.rcpts[1].addr, "postmaster@localhost");
	expect(&s, "RCPT TO:<@EXAMPLE.org:user@elsewhere.net>", 550, "5.7.1");
	expect(&s, "RCPT TO:<@example.org,@localhost:user@elsewhere.net>", 550,
	    "5.7.1");
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
	assert_string_equal(s.rcpts[0].addr, "User@elsewhere.net");
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
		{ SMTP_DATA_LONG, 554, "5.6.0" },
		{ SMTP_DATA_LOOP, 554, "5.4.6" },
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

	buf_reset(&b);
	start(&s, 0);
	smtp_session_no_room(&s, &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data,
	    "421 4.3.2 mx.example.org Out of resources, try again later\r\n");
	assert_int_equal(s.close_reason, SMTP_CLOSE_BUSY);
	assert_string_equal(smtp_close_reason_name(s.close_reason), "busy");
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
	    "Received: from client.example.net ([192.0.2.1])\r\n"
	    "\tby mx.example.org (strictmail) with ESMTP id 0123ABCD;\r\n"
	    "\tSat, 28 Nov 2026 20:57:55 +0000\r\n");
	buf_free(&b);
	smtp_session_free(&s);
	/* An IPv6 client: the literal's tag (RFC 5321 4.1.3). */
	to_data(&s);
	(void)strlcpy(s.client, "2001:db8::1", sizeof(s.client));
	buf_init(&b);
	smtp_session_received(&s, (time_t)1795899475, &b);
	assert_non_null(strstr(b.data,
	    "Received: from client.example.net ([IPv6:2001:db8::1])\r\n"));
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
	    &end), PATH_UTF8);
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

/* ---- EHLO, STARTTLS, TLS ---- */

static void
ehlo_text(struct smtp_session *s, struct buf *b)
{
	struct smtp_reply	r;

	buf_reset(b);
	assert_int_equal(cmd(s, "EHLO client.example.net", &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	smtp_reply_format(&r, b);
}

static void
test_ehlo_starttls_offer(void **state)
{
	struct smtp_session	s;
	struct buf		b;

	(void)state;
	buf_init(&b);
	/* No TLS configuration: no STARTTLS, and 454 for it. */
	start_kind(&s, 0, LISTEN_SMTP, 0);
	ehlo_text(&s, &b);
	assert_null(strstr(b.data, "STARTTLS"));
	assert_non_null(strstr(b.data, "250-CHUNKING\r\n"));
	assert_non_null(strstr(b.data, "250-SMTPUTF8\r\n"));
	assert_non_null(strstr(b.data, "250 DSN\r\n"));
	expect_text(&s, "STARTTLS", 454, "4.7.0", "TLS not available");
	assert_int_equal(s.state, SMTP_HELO);
	smtp_session_free(&s);
	/* With one: offered until TLS is on. */
	start_kind(&s, 0, LISTEN_SMTP, 1);
	ehlo_text(&s, &b);
	assert_non_null(strstr(b.data, "250-STARTTLS\r\n"));
	expect_a(&s, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0");
	smtp_session_tls_done(&s, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
	ehlo_text(&s, &b);
	assert_null(strstr(b.data, "STARTTLS"));
	assert_string_equal(b.data, "250-mx.example.org\r\n"
	    "250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n"
	    "250-CHUNKING\r\n250 DSN\r\n");
	smtp_session_free(&s);
	buf_free(&b);
}

static void
test_starttls(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	buf_init(&b);
	start_in(&s, SMTP_HELO);
	expect(&s, "STARTTLS now", 501, "5.5.4");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "STARTTLS", 503, "5.5.1");
	expect(&s, "RSET", 250, "2.0.0");
	assert_int_equal(cmd(&s, "STARTTLS", &r), SMTP_A_STARTTLS);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "220 2.0.0 Ready to start TLS\r\n");
	/* Everything before is void already. */
	assert_int_equal(s.state, SMTP_INIT);
	assert_string_equal(s.helo, "");
	assert_int_equal(s.tls, 0);
	smtp_session_tls_done(&s, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
	assert_int_equal(s.tls, 1);
	assert_string_equal(s.tls_info,
	    "version=TLSv1.2 cipher=ECDHE-RSA-AES128-GCM-SHA256");
	assert_int_equal(s.state, SMTP_INIT);
	/* A new EHLO is needed; STARTTLS again is refused. */
	expect(&s, "MAIL FROM:<a@example.net>", 503, "5.5.1");
	expect(&s, "STARTTLS", 503, "5.5.1");
	expect(&s, "STARTTLS x", 503, "5.5.1");
	s.nerrors = 0;		/* max-errors is 5 here */
	expect(&s, "EHLO client.example.net", 250, "");
	assert_string_equal(smtp_session_protocol(&s), "ESMTPS");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "HELO client.example.net", 250, "");
	assert_string_equal(smtp_session_protocol(&s), "SMTP");
	smtp_session_free(&s);
	buf_free(&b);
}

/* A transaction begun before STARTTLS does not survive it. */
static void
test_tls_reset(void **state)
{
	struct smtp_session	s;

	(void)state;
	start(&s, 1);
	expect_a(&s, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0");
	smtp_session_tls_done(&s, "TLSv1.2", "X");
	expect(&s, "RCPT TO:<postmaster@example.org>", 503, "5.5.1");
	expect(&s, "DATA", 503, "5.5.1");
	expect(&s, "EHLO a.example", 250, "");
	expect(&s, "RCPT TO:<postmaster@example.org>", 503, "5.5.1");
	assert_int_equal(s.nrcpt, 0);
	assert_string_equal(s.sender, "");
	smtp_session_free(&s);
}

static void
test_submission(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_kind(&s, 0, LISTEN_SUBMISSION, 1);
	expect(&s, "EHLO client.example.net", 250, "");
	expect_text(&s, "MAIL FROM:<a@example.org>", 530, "5.7.0",
	    "Must issue a STARTTLS command first");
	expect_a(&s, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0");
	smtp_session_tls_done(&s, "TLSv1.2", "X");
	expect(&s, "EHLO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	/* No AUTH yet: relaying still needs a relay network. */
	expect(&s, "RCPT TO:<user@elsewhere.net>", 550, "5.7.1");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	smtp_session_free(&s);
	/* Without a TLS configuration MAIL is never possible. */
	start_kind(&s, 1, LISTEN_SUBMISSION, 0);
	expect(&s, "EHLO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 530, "5.7.0");
	smtp_session_free(&s);
	/* Implicit TLS: the handshake came first. */
	start_kind(&s, 1, LISTEN_TLS, 1);
	smtp_session_tls_done(&s, "TLSv1.2", "X");
	expect(&s, "EHLO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	assert_int_equal(cmd(&s, "RCPT TO:<user@elsewhere.net>", &r),
	    SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	expect(&s, "STARTTLS", 503, "5.5.1");
	smtp_session_free(&s);
	/* The smtp listener takes MAIL without TLS. */
	start_kind(&s, 0, LISTEN_SMTP, 1);
	expect(&s, "EHLO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	smtp_session_free(&s);
}

static void
test_received_header_tls(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	start(&s, 0);
	expect_a(&s, "STARTTLS", SMTP_A_STARTTLS, 220, "2.0.0");
	smtp_session_tls_done(&s, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
	expect(&s, "EHLO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	(void)smtp_session_open_result(&s, "0123ABCD", 0, &r);
	buf_init(&b);
	smtp_session_received(&s, (time_t)1795899475, &b);
	assert_string_equal(b.data,
	    "Received: from client.example.net ([192.0.2.1])\r\n"
	    "\tby mx.example.org (strictmail) with ESMTPS\r\n"
	    "\t(version=TLSv1.2 cipher=ECDHE-RSA-AES128-GCM-SHA256)\r\n"
	    "\tid 0123ABCD;\r\n"
	    "\tSat, 28 Nov 2026 20:57:55 +0000\r\n");
	buf_free(&b);
	smtp_session_free(&s);
	/* HELO gives SMTP. */
	start(&s, 0);
	expect(&s, "HELO client.example.net", 250, "");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	(void)smtp_session_open_result(&s, "0123ABCD", 0, &r);
	buf_init(&b);
	smtp_session_received(&s, (time_t)1795899475, &b);
	assert_non_null(strstr(b.data, " with SMTP id 0123ABCD;\r\n"));
	buf_free(&b);
	smtp_session_free(&s);
}

/* ---- BDAT ---- */

static void
test_bdat_message(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_BDAT);
	expect(&s, "NOOP", 250, "2.0.0");
	assert_int_equal(cmd(&s, "BDAT 7", &r), SMTP_A_CHUNK);
	assert_int_equal(s.chunk_size, 7);
	assert_int_equal(s.chunk_last, 0);
	assert_int_equal(smtp_session_chunk_done(&s, SMTP_DATA_OK, 127, &r),
	    SMTP_A_REPLY);
	assert_string_equal(r.text, "7 octets received");
	assert_int_equal(cmd(&s, "BDAT 3 last", &r), SMTP_A_CHUNK);
	assert_int_equal(s.chunk_last, 1);
	assert_int_equal(smtp_session_chunk_done(&s, SMTP_DATA_OK, 130, &r),
	    SMTP_A_COMMIT);
	assert_int_equal(s.wait, SMTP_A_COMMIT);
	assert_int_equal(s.opened, 0);
	assert_int_equal(s.msg_size, 130);
	assert_int_equal(smtp_session_commit_result(&s, 0, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.0.0");
	assert_string_equal(r.text, "Ok: queued as 0123ABCD");
	assert_int_equal(s.state, SMTP_HELO);
	assert_int_equal(s.chunked, 0);
	assert_int_equal(s.nmessages, 1);
	/* The next transaction may use DATA. */
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	expect_a(&s, "DATA", SMTP_A_OPEN, 0, "");
	smtp_session_free(&s);
}

/* BDAT 0 LAST is a whole message. */
static void
test_bdat_zero_last(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_RCPT);
	to_bdat(&s, "BDAT 0 LAST");
	assert_int_equal(s.chunk_size, 0);
	assert_int_equal(smtp_session_chunk_done(&s, SMTP_DATA_OK, 100, &r),
	    SMTP_A_COMMIT);
	assert_int_equal(smtp_session_commit_result(&s, QFAIL_TEMP, &r),
	    SMTP_A_REPLY);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_int_equal(s.state, SMTP_HELO);
	smtp_session_free(&s);
}

static void
test_bdat_syntax(void **state)
{
	static const char *const bad[] = {
		"BDAT", "BDAT x", "BDAT -1", "BDAT +1", "BDAT 1 2",
		"BDAT 1 LASTX", "BDAT 1 LAST x", "BDAT 1x",
		"BDAT 123456789012345678901", "BDAT 99999999999999999999",
		"BDAT 0x10",
	};
	struct smtp_session	s;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start_in(&s, SMTP_RCPT);
		expect_a(&s, bad[i], SMTP_A_REPLY, 501, "5.5.4");
		assert_int_equal(s.state, SMTP_RCPT);
		smtp_session_free(&s);
	}
	start_in(&s, SMTP_RCPT);
	expect_a(&s, "BDAT 18446744073709551615", SMTP_A_OPEN, 0, "");
	smtp_session_free(&s);
}

/* DATA after BDAT, and BDAT before RCPT (its octets are still read). */
static void
test_bdat_order(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_BDAT);
	expect_text(&s, "DATA", 503, "5.5.1", "Error: DATA after BDAT");
	assert_int_equal(s.state, SMTP_BDAT);
	assert_int_equal(s.opened, 1);
	expect_a(&s, "RSET", SMTP_A_ABORT, 250, "2.0.0");
	assert_int_equal(s.opened, 0);
	assert_string_equal(s.qid, "0123ABCD");		/* for the abort */
	assert_int_equal(s.state, SMTP_HELO);
	smtp_session_free(&s);

	start_in(&s, SMTP_MAIL);
	assert_int_equal(cmd(&s, "BDAT 42 LAST", &r), SMTP_A_SKIP);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.enh, "5.5.1");
	assert_int_equal(s.chunk_size, 42);
	assert_int_equal(s.state, SMTP_MAIL);
	smtp_session_free(&s);
}

/* A queue that cannot open a file fails the chunked transaction. */
static void
test_bdat_open_fail(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_RCPT);
	assert_int_equal(cmd(&s, "BDAT 7", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(&s, NULL, QFAIL_TEMP, &r),
	    SMTP_A_SKIP);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_int_equal(s.chunk_size, 7);
	assert_int_equal(s.state, SMTP_HELO);
	assert_int_equal(s.opened, 0);
	/* The pipelined rest of the message cannot start a new one. */
	expect_a(&s, "BDAT 3 LAST", SMTP_A_SKIP, 503, "5.5.1");
	smtp_session_free(&s);

	start_in(&s, SMTP_RCPT);
	assert_int_equal(cmd(&s, "BDAT 7", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(&s, NULL, QFAIL_SHUTDOWN,
	    &r), SMTP_A_CLOSE);
	assert_int_equal(r.code, 421);
	assert_int_equal(s.state, SMTP_CLOSED);
	smtp_session_free(&s);
}

/* A bad chunk ends the transaction at once; what follows gets 503. */
static void
test_bdat_bad_chunk(void **state)
{
	static const struct {
		enum smtp_data_status	 st;
		int			 code;
		const char		*enh;
	} cases[] = {
		{ SMTP_DATA_BARE, 550, "5.5.2" },
		{ SMTP_DATA_NUL, 554, "5.6.0" },
		{ SMTP_DATA_LONG, 554, "5.6.0" },
		{ SMTP_DATA_LOOP, 554, "5.4.6" },
		{ SMTP_DATA_SIZE, 552, "5.3.4" },
		{ SMTP_DATA_WRITE, 451, "4.3.0" },
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_in(&s, SMTP_BDAT);
		assert_int_equal(cmd(&s, "BDAT 100", &r), SMTP_A_CHUNK);
		assert_int_equal(smtp_session_chunk_done(&s, cases[i].st, 50,
		    &r), SMTP_A_ABORT);
		assert_int_equal(r.code, cases[i].code);
		assert_string_equal(r.enh, cases[i].enh);
		assert_int_equal(s.opened, 0);
		assert_int_equal(s.state, SMTP_HELO);
		expect_a(&s, "BDAT 10 LAST", SMTP_A_SKIP, 503, "5.5.1");
		smtp_session_free(&s);
	}
}

/* QUIT or a lost connection between chunks leaves the message to be
 * aborted by the driver. */
static void
test_bdat_abandon(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_BDAT);
	expect_a(&s, "QUIT", SMTP_A_CLOSE, 221, "2.0.0");
	assert_int_equal(smtp_session_abandon(&s), 1);
	assert_int_equal(smtp_session_abandon(&s), 0);
	smtp_session_free(&s);
}

/* ---- DSN ---- */

static void
test_dsn_mail(void **state)
{
	static const struct {
		const char	*line;
		int		 code;
		const char	*enh;
	} bad[] = {
		{ "MAIL FROM:<a@example.net> RET=BOTH", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> RET", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> RET=", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> RET=FULL RET=HDRS", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> ENVID=a+zz", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> ENVID=a+0Ab", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> ENVID", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> ENVID=a ENVID=b", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> ENVID=01234567890123456789012345678"
		    "901234567890123456789012345678901234567890123456789012345678"
		    "9012345678901", 501, "5.5.4" },
		{ "MAIL FROM:<a@example.net> NOTIFY=NEVER", 555, "5.5.4" },
		{ "MAIL FROM:<a@example.net> BODY=8BITMIME BODY=7BIT", 501,
		    "5.5.4" },
	};
	struct smtp_session	s;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start_in(&s, SMTP_HELO);
		expect(&s, bad[i].line, bad[i].code, bad[i].enh);
		assert_int_equal(s.state, SMTP_HELO);
		assert_int_equal(s.ret, 0);
		assert_string_equal(s.envid, "");
		smtp_session_free(&s);
	}
	start_in(&s, SMTP_HELO);
	expect(&s, "MAIL FROM:<a@example.net> ret=hdrs ENVID=QQ+2B314159 "
	    "BODY=8BITMIME SIZE=100", 250, "2.1.0");
	assert_int_equal(s.ret, DSN_RET_HDRS);
	assert_string_equal(s.envid, "QQ+2B314159");
	assert_int_equal(s.body, BODY_8BITMIME);
	expect(&s, "RSET", 250, "2.0.0");
	assert_int_equal(s.ret, 0);
	assert_string_equal(s.envid, "");
	assert_int_equal(s.body, 0);
	expect(&s, "MAIL FROM:<> RET=FULL BODY=7bit", 250, "2.1.0");
	assert_int_equal(s.ret, DSN_RET_FULL);
	assert_int_equal(s.body, BODY_7BIT);
	smtp_session_free(&s);
	/* Parameters need EHLO. */
	start(&s, 0);
	expect(&s, "HELO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.net> RET=FULL", 555, "5.5.4");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org> NOTIFY=NEVER", 555,
	    "5.5.4");
	smtp_session_free(&s);
}

static void
test_dsn_rcpt(void **state)
{
	static const char *const bad[] = {
		"RCPT TO:<postmaster@example.org> NOTIFY=NEVER,SUCCESS",
		"RCPT TO:<postmaster@example.org> NOTIFY=SOMETIMES",
		"RCPT TO:<postmaster@example.org> NOTIFY",
		"RCPT TO:<postmaster@example.org> NOTIFY=DELAY NOTIFY=DELAY",
		"RCPT TO:<postmaster@example.org> ORCPT=rfc822",
		"RCPT TO:<postmaster@example.org> ORCPT=rfc822;a+zz",
		"RCPT TO:<postmaster@example.org> ORCPT=rfc822;a ORCPT=rfc822;b",
	};
	struct smtp_session	s;
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start_in(&s, SMTP_MAIL);
		expect(&s, bad[i], 501, "5.5.4");
		assert_int_equal(s.nrcpt, 0);
		smtp_session_free(&s);
	}
	start_in(&s, SMTP_MAIL);
	expect(&s, "RCPT TO:<postmaster@example.org> RET=FULL", 555, "5.5.4");
	expect(&s, "RCPT TO:<postmaster@example.org> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;Postmaster+40example.org", 250, "2.1.5");
	assert_int_equal(s.rcpts[0].notify, DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE);
	assert_string_equal(s.rcpts[0].orcpt, "rfc822;Postmaster+40example.org");
	expect(&s, "RCPT TO:<postmaster@localhost>", 250, "2.1.5");
	assert_int_equal(s.rcpts[1].notify, 0);
	assert_null(s.rcpts[1].orcpt);
	/* Parameters travel through the lookup. */
	assert_int_equal(cmd(&s, "RCPT TO:<alice@example.org> notify=never "
	    "orcpt=RFC822;alice@example.org", &r), SMTP_A_LOOKUP);
	assert_int_equal(smtp_session_lookup_result(&s, LOOKUP_FOUND, &r),
	    SMTP_A_REPLY);
	assert_int_equal(s.nrcpt, 3);
	assert_int_equal(s.rcpts[2].notify, DSN_NOTIFY_NEVER);
	assert_string_equal(s.rcpts[2].orcpt, "RFC822;alice@example.org");
	smtp_session_free(&s);
}

/* ---- SMTPUTF8 and internationalised domains ---- */

static void
test_smtputf8_mail(void **state)
{
	struct smtp_session	s;

	(void)state;
	start_in(&s, SMTP_HELO);
	expect_text(&s, "MAIL FROM:<j\xc3\xb6rg@example.net>", 553, "5.6.7",
	    "Non-ASCII address requires SMTPUTF8");
	expect_text(&s, "MAIL FROM:<a@b\xc3\xbc" "cher.example>", 553, "5.6.7",
	    "Non-ASCII address requires SMTPUTF8");
	expect(&s, "MAIL FROM:<a@example.net> SMTPUTF8=yes", 501, "5.5.4");
	expect(&s, "MAIL FROM:<a@example.net> SMTPUTF8 SMTPUTF8", 501,
	    "5.5.4");
	expect(&s, "MAIL FROM:<a@\xe2\x98\x83.net> SMTPUTF8", 501, "5.1.7");
	assert_int_equal(s.state, SMTP_HELO);
	s.nerrors = 0;		/* max-errors is 5 here */
	expect(&s, "MAIL FROM:<j\xc3\xb6rg@B\xc3\xbc" "cher.example> SMTPUTF8",
	    250, "2.1.0");
	assert_int_equal(s.smtputf8, 1);
	assert_string_equal(s.sender, "j\xc3\xb6rg@B\xc3\xbc" "cher.example");
	expect(&s, "RSET", 250, "2.0.0");
	assert_int_equal(s.smtputf8, 0);
	smtp_session_free(&s);
}

static void
test_smtputf8_rcpt(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	/* Without SMTPUTF8 on MAIL. */
	start_in(&s, SMTP_MAIL);
	expect(&s, "RCPT TO:<j\xc3\xb6rg@example.org>", 553, "5.6.7");
	expect(&s, "RCPT TO:<postmaster@b\xc3\xbc" "cher.example>", 553,
	    "5.6.7");
	/* An A-label needs no SMTPUTF8. */
	expect(&s, "RCPT TO:<postmaster@XN--BCHER-KVA.example>", 250, "2.1.5");
	assert_string_equal(s.rcpts[0].addr,
	    "postmaster@xn--bcher-kva.example");
	smtp_session_free(&s);

	/* With it: the U-label of a local domain is local. */
	start_in(&s, SMTP_HELO);
	expect(&s, "MAIL FROM:<a@example.net> SMTPUTF8", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@B\xc3\xbc" "cher.Example>", 250,
	    "2.1.5");
	assert_string_equal(s.rcpts[0].addr,
	    "postmaster@xn--bcher-kva.example");
	expect(&s, "RCPT TO:<user@b\xc3\xbc" "rcher.example>", 550, "5.7.1");
	expect(&s, "RCPT TO:<user@\xe2\x98\x83.net>", 501, "5.1.3");
	assert_int_equal(cmd(&s, "RCPT TO:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
	    &r), SMTP_A_LOOKUP);
	assert_string_equal(s.lookup_local, "j\xc3\xb6rg");
	assert_string_equal(s.lookup_domain, "xn--bcher-kva.example");
	(void)smtp_session_lookup_result(&s, LOOKUP_NOTFOUND, &r);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enh, "5.1.1");
	smtp_session_free(&s);

	/* A relay client's IDN recipient is kept as A-labels. */
	start(&s, 1);
	expect(&s, "EHLO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.net> SMTPUTF8", 250, "2.1.0");
	expect(&s, "RCPT TO:<J\xc3\xb6rg@Fa\xc3\x9f.DE>", 250, "2.1.5");
	assert_string_equal(s.rcpts[0].addr, "J\xc3\xb6rg@xn--fa-hia.de");
	smtp_session_free(&s);
}

/* ---- limits ---- */

/* A command line may have 2048 octets with its CRLF, and no more. */
static void
test_command_line_limit(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	char			line[SMTP_LINE_MAX + 2];
	size_t			n;

	/* The default, a small setting and the largest one. */
	static const unsigned	limits[] = { 2048, 600, SMTP_LINE_MAX };
	size_t			i, lim;

	(void)state;
	assert_int_equal(cfg.max_command_line, 2048);
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		cfg.max_command_line = limits[i];
		lim = limits[i];
		start_in(&s, SMTP_HELO);
		for (n = lim; n <= lim + 1; n++) {
			memset(line, 'x', n);
			memcpy(line, "NOOP ", 5);
			line[n - 2] = '\r';
			line[n - 1] = '\n';
			assert_int_equal(smtp_session_command(&s, line, n, &r),
			    SMTP_A_REPLY);
			if (n == lim)
				assert_int_equal(r.code, 250);
			else {
				assert_int_equal(r.code, 500);
				assert_string_equal(r.enh, "5.5.2");
			}
		}
		smtp_session_free(&s);
	}
	cfg.max_command_line = 2048;
}


/* ---- cases the fuzzer found ---- */

/* An action without a reply leaves r alone, and whatever r held before
 * (a 5xx of an earlier command) is not counted as an error again. */
static void
test_fuzz_stale_reply(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	unsigned		n;

	(void)state;
	start_in(&s, SMTP_MAIL);
	memset(&r, 0, sizeof(r));
	r.code = 500;
	n = s.nerrors;
	assert_int_equal(smtp_session_command(&s,
	    "RCPT TO:<root@example.org>\r\n", 28, &r), SMTP_A_LOOKUP);
	assert_int_equal(s.nerrors, n);
	(void)smtp_session_lookup_result(&s, LOOKUP_FOUND, &r);
	r.code = 554;
	assert_int_equal(smtp_session_command(&s, "DATA\r\n", 6, &r),
	    SMTP_A_OPEN);
	assert_int_equal(s.nerrors, n);
	smtp_session_free(&s);
}

/* A reply never echoes more than a bounded part of the client's text:
 * every reply line fits the 512 octets of RFC 5321 4.5.3.1.5. */
static void
test_fuzz_long_echo(void **state)
{
	struct smtp_session	 s;
	struct smtp_reply	 r;
	struct buf		 line, out;
	const char		*p, *nl;

	(void)state;
	buf_init(&line);
	buf_init(&out);
	buf_addstr(&line, "MAIL FROM:<a@example.net> ");
	while (line.len < cfg.max_command_line - 2)
		buf_addch(&line, 'x');
	buf_addstr(&line, "\r\n");
	start_in(&s, SMTP_HELO);
	assert_int_equal(smtp_session_command(&s, line.data, line.len, &r),
	    SMTP_A_REPLY);
	assert_int_equal(r.code, 555);
	smtp_reply_format(&r, &out);
	for (p = out.data; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		assert_true(nl - p + 1 <= 512);
	smtp_session_free(&s);
	start(&s, 0);
	expect(&s, "HELO client", 250, "");
	buf_reset(&out);
	assert_int_equal(smtp_session_command(&s, line.data, line.len, &r),
	    SMTP_A_REPLY);
	smtp_reply_format(&r, &out);
	assert_true(out.len <= 512);
	smtp_session_free(&s);
	buf_free(&line);
	buf_free(&out);
}

/* ---- error limits, refusal logs, requests given up ---- */

/* 4xx replies count towards max-errors (5 here) like 5xx ones. */
static void
test_errors_4xx_count(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	int			i;

	(void)state;
	start_in(&s, SMTP_MAIL);
	for (i = 0; i < 4; i++) {
		assert_int_equal(cmd(&s, "RCPT TO:<bob@localhost>", &r),
		    SMTP_A_LOOKUP);
		assert_int_equal(smtp_session_lookup_result(&s,
		    LOOKUP_TEMPFAIL, &r), SMTP_A_REPLY);
		assert_int_equal(r.code, 451);
	}
	assert_int_equal(s.nerrors, 4);
	expect(&s, "STARTTLS", 503, "5.5.1");
	assert_int_equal(s.nerrors, 5);
	assert_int_equal(cmd(&s, "NOOP", &r), SMTP_A_CLOSE);
	assert_int_equal(r.code, 421);
	assert_string_equal(r.enh, "4.7.0");
	assert_int_equal(s.close_reason, SMTP_CLOSE_LIMIT);
	smtp_session_free(&s);

	/* A 4xx of the session's own making (STARTTLS not offered). */
	start_kind(&s, 0, LISTEN_SMTP, 0);
	expect(&s, "STARTTLS", 454, "4.7.0");
	assert_int_equal(s.nerrors, 1);
	smtp_session_free(&s);
}

/* Past soft-error-limit each error reply, and only an error reply, is
 * flagged for a delay, once. */
static void
test_soft_error_limit(void **state)
{
	struct smtp_session	s;
	unsigned		saved = cfg.soft_error_limit;

	(void)state;
	cfg.soft_error_limit = 2;
	start_in(&s, SMTP_HELO);
	expect(&s, "BOGUS", 500, "5.5.1");
	assert_int_equal(smtp_session_take_delay(&s), 0);
	expect(&s, "BOGUS", 500, "5.5.1");
	assert_int_equal(smtp_session_take_delay(&s), 0);
	expect(&s, "NOOP", 250, "2.0.0");
	assert_int_equal(smtp_session_take_delay(&s), 0);
	expect(&s, "BOGUS", 500, "5.5.1");
	assert_int_equal(smtp_session_take_delay(&s), 1);
	assert_int_equal(smtp_session_take_delay(&s), 0);
	expect(&s, "NOOP", 250, "2.0.0");
	assert_int_equal(smtp_session_take_delay(&s), 0);
	expect(&s, "MAIL FROM:<bad", 501, "5.1.7");
	assert_int_equal(smtp_session_take_delay(&s), 1);
	smtp_session_free(&s);
	cfg.soft_error_limit = saved;
}

/*
 * 3000 pipelined RCPTs past max-recipients (3): as many again as the limit
 * are refused without counting, then each counts, and the error limit
 * (5) ends the session; only the first refusals are logged, the rest
 * counted for the summary.
 */
static void
test_rcpt_flood(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	enum smtp_action	a = SMTP_A_REPLY;
	char			line[64];
	int			i, n452 = 0;

	(void)state;
	start(&s, 1);
	expect(&s, "EHLO client", 250, "");
	expect(&s, "MAIL FROM:<a@example.org>", 250, "2.1.0");
	for (i = 0; i < 3000 && a != SMTP_A_CLOSE; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<r%d@one.example>", i);
		a = cmd(&s, line, &r);
		if (a == SMTP_A_REPLY && r.code == 452)
			n452++;
		if (i == 5)
			assert_int_equal(s.nerrors, 0);	/* 3 uncounted */
	}
	assert_int_equal(a, SMTP_A_CLOSE);
	assert_int_equal(r.code, 421);
	assert_string_equal(r.enh, "4.7.0");
	/* 3 accepted, 3 free, 5 counted, then 421. */
	assert_int_equal(i, 3 + 3 + 5 + 1);
	assert_int_equal(n452, 8);
	assert_int_equal(s.nrcpt, 3);
	/* Refusals logged: 5 of the 452s and the 421; 3 left for the sum. */
	assert_int_equal(s.nlogged, SMTP_REJECT_LOG_MAX + 1);
	assert_int_equal(s.nunlogged, 3);
	smtp_session_log_end(&s);
	smtp_session_free(&s);
}

/* A lookup given up on: 451, and lookup gets no second request from the
 * session until the late answer came. */
static void
test_request_timeout_lookup(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_MAIL);
	assert_int_equal(cmd(&s, "RCPT TO:<bob@localhost>", &r),
	    SMTP_A_LOOKUP);
	assert_int_equal(smtp_session_busy(&s), 1);
	assert_int_equal(smtp_session_request_timeout(&s, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_string_equal(r.text, "<bob@localhost>: Temporary lookup "
	    "failure, try again later");
	assert_int_equal(s.wait, SMTP_A_REPLY);
	assert_int_equal(s.nerrors, 1);
	assert_int_equal(smtp_session_busy(&s), 1);
	/* No lookup while the late answer is due; no lookup, no wait. */
	expect(&s, "RCPT TO:<carol@localhost>", 451, "4.3.0");
	expect(&s, "RCPT TO:<postmaster@localhost>", 250, "2.1.5");
	/* An answer of another kind is not the late one. */
	assert_int_equal(smtp_session_late(&s, SMTP_A_OPEN, NULL), 0);
	assert_int_equal(smtp_session_late(&s, SMTP_A_LOOKUP, NULL), 1);
	assert_int_equal(smtp_session_busy(&s), 0);
	assert_int_equal(smtp_session_late(&s, SMTP_A_LOOKUP, NULL), 0);
	assert_int_equal(cmd(&s, "RCPT TO:<carol@localhost>", &r),
	    SMTP_A_LOOKUP);
	assert_int_equal(smtp_session_lookup_result(&s, LOOKUP_FOUND, &r),
	    SMTP_A_REPLY);
	assert_int_equal(s.nrcpt, 2);
	smtp_session_free(&s);
}

/* An open given up on: DATA gets 451, the transaction stays; BDAT's
 * chunk is dropped with its transaction. */
static void
test_request_timeout_open(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	start_in(&s, SMTP_RCPT);
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_request_timeout(&s, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_int_equal(s.state, SMTP_RCPT);
	assert_int_equal(s.stale_queue, SMTP_A_OPEN);
	/* The queue gets no second open until the late answer. */
	expect(&s, "DATA", 451, "4.3.0");
	assert_int_equal(smtp_session_late(&s, SMTP_A_COMMIT, "0123ABCD"), 0);
	assert_int_equal(smtp_session_late(&s, SMTP_A_OPEN, NULL), 1);
	assert_int_equal(smtp_session_busy(&s), 0);
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(&s, "0123ABCD", 0, &r),
	    SMTP_A_DATA);
	assert_int_equal(smtp_session_abandon(&s), 1);
	smtp_session_free(&s);

	start_in(&s, SMTP_RCPT);
	assert_int_equal(cmd(&s, "BDAT 5", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_request_timeout(&s, &r), SMTP_A_SKIP);
	assert_int_equal(r.code, 451);
	assert_int_equal(s.chunk_size, 5);
	assert_int_equal(s.state, SMTP_HELO);
	/* While the open is stale, a new first chunk is dropped too. */
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	assert_int_equal(cmd(&s, "BDAT 7 LAST", &r), SMTP_A_SKIP);
	assert_int_equal(r.code, 451);
	assert_int_equal(s.chunk_size, 7);
	assert_int_equal(s.state, SMTP_HELO);
	smtp_session_free(&s);
}

/* A commit given up on: 451 4.3.0, the transaction is over, and only the
 * answer with its queue id is the late one. */
static void
test_request_timeout_commit(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	to_data(&s);
	assert_int_equal(smtp_session_data_done(&s, SMTP_DATA_OK, 321, &r),
	    SMTP_A_COMMIT);
	assert_int_equal(smtp_session_request_timeout(&s, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enh, "4.3.0");
	assert_string_equal(r.text,
	    "Error: queue not answering, try again later");
	assert_int_equal(s.state, SMTP_HELO);
	assert_int_equal(s.nmessages, 0);
	assert_string_equal(s.stale_qid, "0123ABCD");
	expect(&s, "MAIL FROM:<a@example.net>", 250, "2.1.0");
	expect(&s, "RCPT TO:<postmaster@example.org>", 250, "2.1.5");
	expect(&s, "DATA", 451, "4.3.0");
	assert_int_equal(smtp_session_late(&s, SMTP_A_OPEN, NULL), 0);
	assert_int_equal(smtp_session_late(&s, SMTP_A_COMMIT, "OTHER"), 0);
	assert_int_equal(smtp_session_late(&s, SMTP_A_COMMIT, "0123ABCD"), 1);
	assert_int_equal(smtp_session_busy(&s), 0);
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	assert_int_equal(smtp_session_open_result(&s, NULL, QFAIL_TEMP, &r),
	    SMTP_A_REPLY);
	smtp_session_free(&s);
}

/* timeout-session: 421 4.4.2; a lookup or open waited for is given up,
 * and the record stays busy until its answer. */
static void
test_deadline(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	buf_init(&b);
	start_in(&s, SMTP_MAIL);
	assert_int_equal(cmd(&s, "RCPT TO:<bob@localhost>", &r),
	    SMTP_A_LOOKUP);
	smtp_session_deadline(&s, &r);
	smtp_reply_format(&r, &b);
	assert_string_equal(b.data, "421 4.4.2 mx.example.org Error: session "
	    "time limit reached, closing\r\n");
	assert_int_equal(s.close_reason, SMTP_CLOSE_DEADLINE);
	assert_string_equal(smtp_close_reason_name(s.close_reason),
	    "deadline");
	assert_int_equal(s.state, SMTP_CLOSED);
	assert_int_equal(s.wait, SMTP_A_REPLY);
	assert_int_equal(smtp_session_busy(&s), 1);
	assert_int_equal(smtp_session_late(&s, SMTP_A_LOOKUP, NULL), 1);
	assert_int_equal(smtp_session_busy(&s), 0);
	smtp_session_free(&s);

	/* SIGTERM during an open: the same. */
	start_in(&s, SMTP_RCPT);
	assert_int_equal(cmd(&s, "DATA", &r), SMTP_A_OPEN);
	smtp_session_shutdown(&s, &r);
	assert_int_equal(r.code, 421);
	assert_int_equal(s.stale_queue, SMTP_A_OPEN);
	assert_int_equal(smtp_session_late(&s, SMTP_A_OPEN, NULL), 1);
	smtp_session_free(&s);
	buf_free(&b);
}

static int	 id_used[8];
static uint32_t	 id_used_val[8];

static int
id_in_use(void *arg, uint32_t id)
{
	size_t	i;

	(void)arg;
	for (i = 0; i < 8; i++)
		if (id_used[i] && id_used_val[i] == id)
			return 1;
	return 0;
}

/* Session ids wrap past 2^32 - 1 to 1, never 0, and skip live ones. */
static void
test_next_id(void **state)
{
	uint32_t	last = 41;

	(void)state;
	memset(id_used, 0, sizeof(id_used));
	assert_int_equal(smtp_session_next_id(&last, id_in_use, NULL), 42);
	assert_int_equal(last, 42);
	id_used_val[0] = UINT32_MAX;
	id_used_val[1] = 1;
	id_used_val[2] = 2;
	id_used_val[3] = 4;
	id_used[0] = id_used[1] = id_used[2] = id_used[3] = 1;
	last = UINT32_MAX - 1;
	assert_int_equal(smtp_session_next_id(&last, id_in_use, NULL), 3);
	assert_int_equal(last, 3);
	assert_int_equal(smtp_session_next_id(&last, id_in_use, NULL), 5);
}


/* ---- AUTH (RFC 4954) ---- */

static void
auth_result(struct smtp_session *s, int result, unsigned failures, int code,
    const char *enh, enum smtp_action want)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	memset(&r, 0, sizeof(r));
	a = smtp_session_auth_result(s, result, failures, &r);
	if (a != want || r.code != code || strcmp(r.enh, enh) != 0)
		fail_msg("AUTH result %d: expected %d %s, got action %d %d %s %s",
		    result, code, enh, a, r.code, r.enh, r.text);
}

static int
ehlo_has_auth(struct smtp_session *s)
{
	struct smtp_reply	r;

	(void)cmd(s, "EHLO client.example", &r);
	assert_int_equal(r.code, 250);
	return strstr(r.text, "\nAUTH PLAIN LOGIN") != NULL;
}

static void
test_auth_dialogue(void **state)
{
	struct smtp_session	s;
	struct smtp_reply	r;

	(void)state;
	cfg.credentials = xstrdup("/nonexistent/passwd");
	/* Port 25: never. */
	start_kind(&s, 0, LISTEN_SMTP, 1);
	assert_false(ehlo_has_auth(&s));
	expect(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 502, "5.5.1");
	smtp_session_free(&s);
	/* 587: only after STARTTLS. */
	start_kind(&s, 0, LISTEN_SUBMISSION, 1);
	assert_false(ehlo_has_auth(&s));
	expect(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 538, "5.7.11");
	smtp_session_tls_done(&s, "TLSv1.3", "X");
	expect(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 503, "5.5.1");
	assert_true(ehlo_has_auth(&s));
	expect(&s, "AUTH CRAM-MD5", 504, "5.5.4");
	expect(&s, "AUTH PLAIN !!!!", 501, "5.5.2");
	expect(&s, "AUTH", 501, "5.5.4");
	/* A new session, with room for the errors below. */
	cfg.max_errors = 100;
	smtp_session_free(&s);
	start_kind(&s, 0, LISTEN_SUBMISSION, 1);
	smtp_session_tls_done(&s, "TLSv1.3", "X");
	expect(&s, "EHLO client.example", 250, "");
	/* PLAIN with an initial response: lookup is asked. */
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", SMTP_A_AUTH, 0, "");
	assert_string_equal(s.auth_user, "alice");
	assert_string_equal(s.auth_password, "secret");
	assert_true(s.secret_line);
	smtp_session_auth_wipe(&s);
	assert_string_equal(s.auth_password, "");
	auth_result(&s, LOOKUP_AUTH_BAD, 2, 535, "5.7.8", SMTP_A_REPLY);
	assert_int_equal(smtp_session_take_delay(&s), 1);
	assert_int_equal(s.delay_ms, 2 * 2000);
	/* PLAIN after a 334, then "*". */
	expect_text(&s, "AUTH PLAIN", 334, "", "");
	expect(&s, "*", 501, "5.0.0");
	/* LOGIN, step by step; a locked-out address. */
	expect_text(&s, "AUTH LOGIN", 334, "", "VXNlcm5hbWU6");
	expect_text(&s, "YWxpY2U=", 334, "", "UGFzc3dvcmQ6");
	expect_a(&s, "c2VjcmV0", SMTP_A_AUTH, 0, "");
	assert_string_equal(s.auth_password, "secret");
	auth_result(&s, LOOKUP_AUTH_LOCKED, 9, 454, "4.7.0", SMTP_A_REPLY);
	/* The right one. */
	expect_a(&s, "AUTH LOGIN YWxpY2U=", SMTP_A_REPLY, 334, "");
	expect_a(&s, "c2VjcmV0", SMTP_A_AUTH, 0, "");
	auth_result(&s, LOOKUP_AUTH_OK, 0, 235, "2.7.0", SMTP_A_REPLY);
	assert_true(s.authenticated);
	assert_string_equal(s.auth_name, "alice");
	assert_false(ehlo_has_auth(&s));
	assert_string_equal(smtp_session_protocol(&s), "ESMTPSA");
	expect(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 503, "5.5.1");
	/* MAIL asks about the sender. */
	expect_a(&s, "MAIL FROM:<bob@example.org> BODY=8BITMIME", SMTP_A_SENDER,
	    0, "");
	assert_string_equal(s.sender_check, "bob@example.org");
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtp_session_sender_result(&s, 1, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 553);
	assert_string_equal(r.enh, "5.7.1");
	assert_int_equal(s.state, SMTP_HELO);
	expect_a(&s, "MAIL FROM:<alice@example.org> BODY=8BITMIME",
	    SMTP_A_SENDER, 0, "");
	assert_int_equal(smtp_session_sender_result(&s, 0, &r), SMTP_A_REPLY);
	assert_int_equal(r.code, 250);
	assert_int_equal(s.state, SMTP_MAIL);
	assert_string_equal(s.sender, "alice@example.org");
	assert_int_equal(s.body, BODY_8BITMIME);
	/* Authenticated: relaying is allowed; AUTH in a transaction is not. */
	expect(&s, "RCPT TO:<someone@remote.example>", 250, "2.1.5");
	expect(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 503, "5.5.1");
	smtp_session_free(&s);
	cfg.max_errors = 5;
	free(cfg.credentials);
	cfg.credentials = NULL;
}

static void
test_auth_max_failures(void **state)
{
	struct smtp_session	s;

	(void)state;
	cfg.credentials = xstrdup("/nonexistent/passwd");
	start_kind(&s, 0, LISTEN_TLS, 1);
	smtp_session_tls_done(&s, "TLSv1.3", "X");
	assert_true(ehlo_has_auth(&s));
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHdyb25n", SMTP_A_AUTH, 0, "");
	auth_result(&s, LOOKUP_AUTH_BAD, 1, 535, "5.7.8", SMTP_A_REPLY);
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHdyb25n", SMTP_A_AUTH, 0, "");
	auth_result(&s, LOOKUP_AUTH_TEMPFAIL, 1, 454, "4.7.0", SMTP_A_REPLY);
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHdyb25n", SMTP_A_AUTH, 0, "");
	auth_result(&s, LOOKUP_AUTH_BAD, 2, 535, "5.7.8", SMTP_A_REPLY);
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHdyb25n", SMTP_A_AUTH, 0, "");
	auth_result(&s, LOOKUP_AUTH_BAD, 3, 421, "4.7.0", SMTP_A_CLOSE);
	assert_int_equal(s.state, SMTP_CLOSED);
	/* Without AUTH a tls listener relays for nobody. */
	smtp_session_free(&s);
	start_kind(&s, 0, LISTEN_TLS, 1);
	smtp_session_tls_done(&s, "TLSv1.3", "X");
	expect(&s, "EHLO client.example", 250, "");
	expect(&s, "MAIL FROM:<x@remote.example>", 250, "2.1.0");
	expect(&s, "RCPT TO:<someone@remote.example>", 550, "5.7.1");
	assert_true(smtp_session_submission(&s));
	smtp_session_free(&s);
	free(cfg.credentials);
	cfg.credentials = NULL;
}

static void
test_auth_received(void **state)
{
	struct smtp_session	s;
	struct buf		b;

	(void)state;
	cfg.credentials = xstrdup("/nonexistent/passwd");
	start_kind(&s, 0, LISTEN_SUBMISSION, 1);
	smtp_session_tls_done(&s, "TLSv1.3", "X");
	expect(&s, "EHLO client.example", 250, "");
	expect_a(&s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", SMTP_A_AUTH, 0, "");
	smtp_session_auth_wipe(&s);
	auth_result(&s, LOOKUP_AUTH_OK, 0, 235, "2.7.0", SMTP_A_REPLY);
	buf_init(&b);
	smtp_session_received(&s, 0, &b);
	buf_addch(&b, '\0');
	assert_non_null(strstr(b.data, "with ESMTPSA\r\n"));
	assert_null(strstr(b.data, "authenticated"));
	cfg.received_auth = 1;
	buf_reset(&b);
	smtp_session_received(&s, 0, &b);
	buf_addch(&b, '\0');
	assert_non_null(strstr(b.data,
	    "with ESMTPSA\r\n\t(authenticated as alice)\r\n"));
	cfg.received_auth = 0;
	buf_free(&b);
	smtp_session_free(&s);
	free(cfg.credentials);
	cfg.credentials = NULL;
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
		cmocka_unit_test(test_mail_fds_low),
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
		cmocka_unit_test(test_ehlo_starttls_offer),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_tls_reset),
		cmocka_unit_test(test_submission),
		cmocka_unit_test(test_received_header_tls),
		cmocka_unit_test(test_bdat_message),
		cmocka_unit_test(test_bdat_zero_last),
		cmocka_unit_test(test_bdat_syntax),
		cmocka_unit_test(test_bdat_order),
		cmocka_unit_test(test_bdat_open_fail),
		cmocka_unit_test(test_bdat_bad_chunk),
		cmocka_unit_test(test_bdat_abandon),
		cmocka_unit_test(test_dsn_mail),
		cmocka_unit_test(test_dsn_rcpt),
		cmocka_unit_test(test_smtputf8_mail),
		cmocka_unit_test(test_smtputf8_rcpt),
		cmocka_unit_test(test_command_line_limit),
		cmocka_unit_test(test_fuzz_stale_reply),
		cmocka_unit_test(test_fuzz_long_echo),
		cmocka_unit_test(test_errors_4xx_count),
		cmocka_unit_test(test_soft_error_limit),
		cmocka_unit_test(test_rcpt_flood),
		cmocka_unit_test(test_request_timeout_lookup),
		cmocka_unit_test(test_request_timeout_open),
		cmocka_unit_test(test_request_timeout_commit),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_next_id),
		cmocka_unit_test(test_auth_dialogue),
		cmocka_unit_test(test_auth_max_failures),
		cmocka_unit_test(test_auth_received),
	};

	log_init("test_smtp_session", 1, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
