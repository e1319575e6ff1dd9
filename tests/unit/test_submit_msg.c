/*
 * test_submit_msg.c - unit tests of ctl/submit_msg.c: LF, CRLF and mixed
 * line ends become CRLF, a last line without newline is kept, bare CR,
 * NUL, long lines and the size limit are refused, the "." line with and
 * without -i, Date/Message-ID/From added once when missing and left
 * alone when present, the full name quoted and never a way to inject a
 * header, Bcc removed, and -t recipients from RFC 5322 address lists
 * (display names, quoted strings, comments, groups, angle addresses).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl/submit_msg.h"

/* 2026-12-02 09:14:54 UTC, a Wednesday. */
#define T_NOW	((time_t)1796202894)

#define HDR_ADDED \
	"Date: Wed, 2 Dec 2026 09:14:54 +0000\r\n" \
	"Message-ID: <u1@host.example>\r\n" \
	"From: Joe User <joe@host.example>\r\n"

static struct submit_params
params(void)
{
	struct submit_params	p;

	memset(&p, 0, sizeof(p));
	p.max_size = 1 << 20;
	p.now = T_NOW;
	p.gmtoff = 0;
	p.hostname = "host.example";
	p.msgid_unique = "u1";
	p.pid = 4242;
	p.from_addr = "joe@host.example";
	p.from_name = "Joe User";
	return p;
}

/* Canonicalizes in with p and compares the whole output with want. */
static void
canon_is(const struct submit_params *p, const char *in, const char *want)
{
	struct submit_result	r;
	char			err[256];
	int			rc;

	rc = submit_msg_canon(p, in, strlen(in), &r, err, sizeof(err));
	if (rc != 0)
		fail_msg("'%s' refused (%d): %s", in, rc, err);
	if (r.msg.len != strlen(want) || memcmp(r.msg.data, want, r.msg.len))
		fail_msg("for '%s'\nexpected '%s'\n     got '%.*s'", in, want,
		    (int)r.msg.len, r.msg.data);
	submit_result_free(&r);
}

static void
canon_bad(const struct submit_params *p, const char *in, size_t len,
    int code, const char *want)
{
	struct submit_result	r;
	char			err[256];
	int			rc;

	rc = submit_msg_canon(p, in, len, &r, err, sizeof(err));
	if (rc == 0)
		fail_msg("'%s' accepted", in);
	assert_int_equal(rc, code);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s', expected it to hold '%s'", err, want);
	assert_null(r.rcpts);
	assert_int_equal(r.nrcpts, 0);
}

/* The recipients of one address list value, joined by spaces. */
static void
alist_is(const char *value, const char *want)
{
	struct submit_result	r;
	char			err[256], got[1024] = "";
	size_t			i;

	memset(&r, 0, sizeof(r));
	buf_init(&r.msg);
	if (submit_msg_addrlist(value, strlen(value), &r, err, sizeof(err)))
		fail_msg("'%s' refused: %s", value, err);
	for (i = 0; i < r.nrcpts; i++) {
		if (i > 0)
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
		strncat(got, r.rcpts[i], sizeof(got) - strlen(got) - 1);
	}
	if (strcmp(got, want) != 0)
		fail_msg("'%s': expected '%s', got '%s'", value, want, got);
	submit_result_free(&r);
}

static void
alist_bad(const char *value, const char *want)
{
	struct submit_result	r;
	char			err[256];

	memset(&r, 0, sizeof(r));
	buf_init(&r.msg);
	if (submit_msg_addrlist(value, strlen(value), &r, err, sizeof(err)) == 0)
		fail_msg("'%s' accepted", value);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': error '%s', expected '%s'", value, err, want);
	submit_result_free(&r);
}

static void
test_line_ends(void **state)
{
	struct submit_params	p = params();

	(void)state;
	canon_is(&p, "Date: x\nMessage-ID: <a@b>\nFrom: a@b\n\nbody\n",
	    "Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n\r\nbody\r\n");
	canon_is(&p, "Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n\r\n"
	    "body\r\n", "Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n\r\n"
	    "body\r\n");
	/* Mixed, and the last line without a newline. */
	canon_is(&p, "Date: x\nMessage-ID: <a@b>\r\nFrom: a@b\n\r\n"
	    "one\ntwo\r\nthree", "Date: x\r\nMessage-ID: <a@b>\r\n"
	    "From: a@b\r\n\r\none\r\ntwo\r\nthree\r\n");
	/* Empty lines inside the body are kept. */
	canon_is(&p, "Date: x\nMessage-ID: <a@b>\nFrom: a@b\n\na\n\n\nb\n\n",
	    "Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n\r\na\r\n\r\n"
	    "\r\nb\r\n\r\n");
	/* Only headers, no empty line: no empty line is made up. */
	canon_is(&p, "Date: x\nMessage-ID: <a@b>\nFrom: a@b",
	    "Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n");
}

static void
test_refused_bytes(void **state)
{
	struct submit_params	p = params();

	(void)state;
	canon_bad(&p, "Subject: a\rb\n\nx\n", 16, EX_DATAERR,
	    "line 1: a bare CR");
	canon_bad(&p, "Subject: a\n\nx\r\r\n", 16, EX_DATAERR,
	    "line 3: a bare CR");
	canon_bad(&p, "Subject: a\n\nx\r", 14, EX_DATAERR, "line 3: a bare CR");
	canon_bad(&p, "Subject: a\n\nx\0y\n", 16, EX_DATAERR,
	    "line 3: a NUL byte");
}

static void
test_limits(void **state)
{
	struct submit_params	p = params();
	static char		line[SUBMIT_LINE_MAX + 20];
	struct submit_result	r;
	char			err[256];

	(void)state;
	memcpy(line, "X: ", 3);
	memset(line + 3, 'a', SUBMIT_LINE_MAX - 3);
	line[SUBMIT_LINE_MAX] = '\n';
	assert_int_equal(submit_msg_canon(&p, line, SUBMIT_LINE_MAX + 1, &r,
	    err, sizeof(err)), 0);
	submit_result_free(&r);
	line[SUBMIT_LINE_MAX] = 'a';
	line[SUBMIT_LINE_MAX + 1] = '\n';
	canon_bad(&p, line, SUBMIT_LINE_MAX + 2, EX_DATAERR,
	    "line 1: longer than 998 bytes");
	/* The size limit counts the canonical message, added headers too. */
	p.max_size = 200;
	line[SUBMIT_LINE_MAX] = '\n';
	canon_bad(&p, line, SUBMIT_LINE_MAX + 1, EX_DATAERR,
	    "the message is larger than 200 bytes");
	p.max_size = strlen(HDR_ADDED "\r\nhello\r\n");
	canon_is(&p, "\nhello\n", HDR_ADDED "\r\nhello\r\n");
	p.max_size--;
	canon_bad(&p, "\nhello\n", 7, EX_DATAERR,
	    "the message is larger than 112 bytes");
}

static void
test_dot_line(void **state)
{
	struct submit_params	p = params();

	(void)state;
	/* Without -i a lone "." ends the message; the rest is not read. */
	canon_is(&p, "Subject: s\n\na\n.\nafter\n",
	    HDR_ADDED "Subject: s\r\n\r\na\r\n");
	canon_is(&p, "Subject: s\n\na\r\n.\r\nafter\r\n",
	    HDR_ADDED "Subject: s\r\n\r\na\r\n");
	canon_is(&p, "Subject: s\n.\nTo: x\n",
	    HDR_ADDED "Subject: s\r\n");
	/* Lines that only start with a dot are data, as is. */
	canon_is(&p, "Subject: s\n\n..\n.a\n. \n",
	    HDR_ADDED "Subject: s\r\n\r\n..\r\n.a\r\n. \r\n");
	/* With -i the "." line is data. */
	p.ignore_dots = 1;
	canon_is(&p, "Subject: s\n\na\n.\nafter\n",
	    HDR_ADDED "Subject: s\r\n\r\na\r\n.\r\nafter\r\n");
	canon_is(&p, "Subject: s\n\na\n.", HDR_ADDED "Subject: s\r\n\r\na\r\n.\r\n");
}

static void
test_added_headers(void **state)
{
	struct submit_params	p = params();
	struct submit_result	r;
	char			err[256];
	const char		*in = "Subject: hi\n\nbody\n";

	(void)state;
	assert_int_equal(submit_msg_canon(&p, in, strlen(in), &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.added, SUBMIT_ADDED_DATE | SUBMIT_ADDED_MSGID |
	    SUBMIT_ADDED_FROM);
	submit_result_free(&r);
	canon_is(&p, in, HDR_ADDED "Subject: hi\r\n\r\nbody\r\n");
	/* Present ones (any case, folded, spaced) are left alone. */
	canon_is(&p, "date: Tue, 1 Dec 2026 00:00:00 -0500\nSubject: hi\n\nb\n",
	    "Message-ID: <u1@host.example>\r\n"
	    "From: Joe User <joe@host.example>\r\n"
	    "date: Tue, 1 Dec 2026 00:00:00 -0500\r\nSubject: hi\r\n\r\nb\r\n");
	canon_is(&p, "MESSAGE-ID:\n <x@y>\nFrom : Someone <s@o>\n\nb\n",
	    "Date: Wed, 2 Dec 2026 09:14:54 +0000\r\n"
	    "MESSAGE-ID:\r\n <x@y>\r\nFrom : Someone <s@o>\r\n\r\nb\r\n");
	/* Resent-From or X-From are not From. */
	canon_is(&p, "Resent-From: a@b\nX-Date: 1\n\nb\n",
	    HDR_ADDED "Resent-From: a@b\r\nX-Date: 1\r\n\r\nb\r\n");
	/* An empty input, or a body only: headers and the empty line. */
	canon_is(&p, "", HDR_ADDED);
	canon_is(&p, "just text\nmore\n", HDR_ADDED "\r\njust text\r\nmore\r\n");
	/* A continuation line first is body. */
	canon_is(&p, " indented\n", HDR_ADDED "\r\n indented\r\n");
	/* A non-header line ends the header: an empty line goes before it. */
	canon_is(&p, "Subject: s\nnot a header\nX: y\n",
	    HDR_ADDED "Subject: s\r\n\r\nnot a header\r\nX: y\r\n");
}

static void
test_date_and_msgid(void **state)
{
	struct submit_params	p = params();
	struct submit_result	r;
	char			err[256], want[128];

	(void)state;
	p.gmtoff = -(5 * 3600 + 30 * 60);
	p.msgid_unique = NULL;
	p.from_name = NULL;
	assert_int_equal(submit_msg_canon(&p, "", 0, &r, err, sizeof(err)), 0);
	assert_true(strncmp(r.msg.data, "Date: Wed, 2 Dec 2026 03:44:54 -0530"
	    "\r\n", 38) == 0);
	snprintf(want, sizeof(want), "Message-ID: <%lld.4242.",
	    (long long)T_NOW);
	if (strstr(r.msg.data, want) == NULL)
		fail_msg("no '%s' in '%s'", want, r.msg.data);
	assert_non_null(strstr(r.msg.data, "@host.example>\r\nFrom: "
	    "joe@host.example\r\n"));
	/* Two messages in one run get different Message-IDs. */
	{
		struct submit_result	r2;
		const char		*a, *b;

		assert_int_equal(submit_msg_canon(&p, "", 0, &r2, err,
		    sizeof(err)), 0);
		a = strstr(r.msg.data, "Message-ID");
		b = strstr(r2.msg.data, "Message-ID");
		assert_true(strcmp(a, b) != 0);
		submit_result_free(&r2);
	}
	submit_result_free(&r);
	p.gmtoff = 9 * 3600;
	p.msgid_unique = "x";
	canon_is(&p, "Date: x\n", "Message-ID: <x@host.example>\r\n"
	    "From: joe@host.example\r\nDate: x\r\n");
	p.hostname = "bad host";
	canon_bad(&p, "", 0, EX_USAGE, "not a dot-atom");
	p.hostname = "host.example";
	p.msgid_unique = "a>b";
	canon_bad(&p, "", 0, EX_USAGE, "not a dot-atom");
	/* Not needed when present. */
	canon_is(&p, "Message-ID: <m@x>\nDate: d\nFrom: f\n",
	    "Message-ID: <m@x>\r\nDate: d\r\nFrom: f\r\n");
}

static void
test_from_name(void **state)
{
	struct submit_params	p = params();
	const char		*in = "Date: d\nMessage-ID: <m@x>\n";
	const char		*h = "Date: d\r\nMessage-ID: <m@x>\r\n";
	char			 want[512];

	(void)state;
	p.from_name = "Joe Q. Public";
	snprintf(want, sizeof(want), "From: \"Joe Q. Public\" "
	    "<joe@host.example>\r\n%s", h);
	canon_is(&p, in, want);
	p.from_name = "Smith, John \"JJ\" \\o/";
	snprintf(want, sizeof(want), "From: \"Smith, John \\\"JJ\\\" \\\\o/\" "
	    "<joe@host.example>\r\n%s", h);
	canon_is(&p, in, want);
	p.from_name = "Jos\xc3\xa9";
	snprintf(want, sizeof(want), "From: \"Jos\xc3\xa9\" "
	    "<joe@host.example>\r\n%s", h);
	canon_is(&p, in, want);
	p.from_name = "";
	snprintf(want, sizeof(want), "From: joe@host.example\r\n%s", h);
	canon_is(&p, in, want);
	/* Injection through the name: refused before anything is built. */
	p.from_name = "Joe\r\nBcc: victim@example.org";
	canon_bad(&p, in, strlen(in), EX_USAGE,
	    "the full name holds a control character (0x0d)");
	p.from_name = "Joe\nTo: victim@example.org";
	canon_bad(&p, in, strlen(in), EX_USAGE, "control character (0x0a)");
	p.from_name = "Joe\x01";
	canon_bad(&p, in, strlen(in), EX_USAGE, "control character (0x01)");
	p.from_name = "Joe";
	p.from_addr = "joe@x>\r\nBcc: v@x";
	canon_bad(&p, in, strlen(in), EX_USAGE,
	    "the From address holds a character not allowed");
	p.from_addr = "";
	canon_bad(&p, in, strlen(in), EX_USAGE, "no usable From address");
}

static void
test_address_lists(void **state)
{
	(void)state;
	alist_is(" a@b.example", "a@b.example");
	alist_is("a@b, c@d", "a@b c@d");
	alist_is("Joe <joe@x>, \"Doe, Jane\" <jane@y>", "joe@x jane@y");
	alist_is("\"quoted <not@this>\" <real@z>", "real@z");
	alist_is("a@b (Comment, with (nested) comma), c@d (x)", "a@b c@d");
	alist_is("Friends: a@b, Carl <c@d>;, e@f", "a@b c@d e@f");
	alist_is("undisclosed-recipients:;", "");
	alist_is("Team: ;", "");
	alist_is("<@relay.example,@other:user@dest>", "user@dest");
	alist_is("\"john doe\"@example.com", "\"john doe\"@example.com");
	alist_is("\"a\\\"b\"@x", "\"a\\\"b\"@x");
	alist_is("root", "root");
	alist_is("a@b,,c@d,", "a@b c@d");
	alist_is("\r\n Joe\r\n\t<joe@x>", "joe@x");
	alist_is("=?UTF-8?Q?J=C3=B6rg?= <j@x>", "j@x");
	alist_bad("Joe <joe@x", "an unterminated <address>");
	alist_bad("\"Joe <joe@x>", "an unterminated quoted string");
	alist_bad("a@b (oops", "an unterminated comment");
	alist_bad("a@b>", "a '>' without '<'");
	alist_bad("<a@b> <c@d>", "two <addresses>");
	alist_bad("<>", "an empty address <>");
	alist_bad("John Doe", "words without <address>");
	alist_bad("<-oQ/tmp@x>", "starts with '-'");
	alist_bad("g: a@b: c@d;", "a misplaced ':'");
}

static void
test_extract(void **state)
{
	struct submit_params	p = params();
	struct submit_result	r;
	char			err[256];
	const char		*in =
	    "Date: d\nMessage-ID: <m@x>\nFrom: f@x\n"
	    "To: Alice <alice@a.example>,\n\t\"Bob, B.\" <bob@b.example>\n"
	    "Subject: To: not@this\n"
	    "Cc: list: c1@c.example, (x) c2@c.example;\n"
	    "Bcc: hidden@h.example,\n  hidden2@h.example\n"
	    "bcc: third@h.example\n"
	    "X-After: 1\n\nTo: body@not.example\n";

	(void)state;
	p.extract_rcpts = 1;
	assert_int_equal(submit_msg_canon(&p, in, strlen(in), &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.nrcpts, 7);
	assert_string_equal(r.rcpts[0], "alice@a.example");
	assert_string_equal(r.rcpts[1], "bob@b.example");
	assert_string_equal(r.rcpts[2], "c1@c.example");
	assert_string_equal(r.rcpts[3], "c2@c.example");
	assert_string_equal(r.rcpts[4], "hidden@h.example");
	assert_string_equal(r.rcpts[5], "hidden2@h.example");
	assert_string_equal(r.rcpts[6], "third@h.example");
	assert_null(strstr(r.msg.data, "hidden"));
	assert_null(strstr(r.msg.data, "third"));
	assert_string_equal(r.msg.data,
	    "Date: d\r\nMessage-ID: <m@x>\r\nFrom: f@x\r\n"
	    "To: Alice <alice@a.example>,\r\n\t\"Bob, B.\" <bob@b.example>\r\n"
	    "Subject: To: not@this\r\n"
	    "Cc: list: c1@c.example, (x) c2@c.example;\r\n"
	    "X-After: 1\r\n\r\nTo: body@not.example\r\n");
	submit_result_free(&r);
	/* Without -t no recipient is read, but Bcc is still removed. */
	p.extract_rcpts = 0;
	assert_int_equal(submit_msg_canon(&p, in, strlen(in), &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.nrcpts, 0);
	assert_null(strstr(r.msg.data, "hidden"));
	submit_result_free(&r);
	/* A malformed list with -t refuses the message. */
	p.extract_rcpts = 1;
	in = "To: Joe <joe@x\n\nb\n";
	canon_bad(&p, in, strlen(in), EX_DATAERR, "unterminated <address>");
	/* A Bcc as the last header line, before the dot line. */
	in = "Subject: s\nBcc: b@x\n.\n";
	assert_int_equal(submit_msg_canon(&p, in, strlen(in), &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.nrcpts, 1);
	assert_string_equal(r.rcpts[0], "b@x");
	assert_string_equal(r.msg.data, HDR_ADDED "Subject: s\r\n");
	submit_result_free(&r);
}

static void
test_too_many_rcpts(void **state)
{
	struct submit_params	p = params();
	struct submit_result	r;
	char			err[256];
	char			*in;
	size_t			i, n = 0, cap = 16 + 12 * (SUBMIT_RCPT_MAX + 1);

	(void)state;
	p.extract_rcpts = 1;
	in = malloc(cap);
	assert_non_null(in);
	n += (size_t)snprintf(in + n, cap - n, "To: x0@y");
	for (i = 1; i < SUBMIT_RCPT_MAX; i++)
		n += (size_t)snprintf(in + n, cap - n, ",\n x%zu@y", i % 10);
	n += (size_t)snprintf(in + n, cap - n, "\n\n");
	assert_int_equal(submit_msg_canon(&p, in, n, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nrcpts, SUBMIT_RCPT_MAX);
	submit_result_free(&r);
	n -= 2;
	n += (size_t)snprintf(in + n, cap - n, ",\n one@more\n\n");
	canon_bad(&p, in, n, EX_DATAERR, "too many recipients in To/Cc/Bcc");
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_refused_bytes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dot_line),
		cmocka_unit_test(test_added_headers),
		cmocka_unit_test(test_date_and_msgid),
		cmocka_unit_test(test_from_name),
		cmocka_unit_test(test_address_lists),
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_too_many_rcpts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
