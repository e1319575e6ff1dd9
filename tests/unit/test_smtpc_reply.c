/*
 * test_smtpc_reply.c - unit tests of the SMTP client's reply reader and
 * EHLO capabilities (delivery/smtpc_reply.c).
 *
 * Replies whole and in pieces of every size, several in one read, the
 * enhanced status codes of RFC 3463, and every protocol error: codes that
 * differ between lines, malformed codes, NUL, and a hostile server's
 * endless line or endless reply, which must fail within the limits
 * without reading on.  Then the EHLO keywords, in any case.
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
#include "delivery/smtpc_reply.h"

/* Feeds all of s; expects exactly one reply using all of it. */
static void
one_reply(const char *s, struct smtpc_reply *r)
{
	struct smtpc_rparser	p;
	size_t			used;

	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, s, strlen(s), &used, r),
	    SMTPC_RS_REPLY);
	assert_int_equal(used, strlen(s));
	assert_false(smtpc_rparser_partial(&p));
}

/* Feeds s in pieces of n octets; returns the status at the end and the
 * error or the reply. */
static enum smtpc_rstatus
feed_pieces(struct smtpc_rparser *p, const char *s, size_t len, size_t n,
    struct smtpc_reply *r, unsigned *nreplies)
{
	size_t			off = 0, used, k;
	enum smtpc_rstatus	st = SMTPC_RS_MORE;

	*nreplies = 0;
	while (off < len) {
		k = len - off < n ? len - off : n;
		st = smtpc_rparser_feed(p, s + off, k, &used, r);
		if (st == SMTPC_RS_ERROR)
			return st;
		if (st == SMTPC_RS_REPLY)
			(*nreplies)++;
		assert_true(used > 0 && used <= k);
		off += used;
	}
	return st;
}

static void
test_single_line(void **state)
{
	struct smtpc_reply	r;

	(void)state;
	one_reply("220 mx.example.org ESMTP ready\r\n", &r);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.enh, "");
	assert_int_equal(r.nlines, 1);
	assert_string_equal(r.text, "mx.example.org ESMTP ready");

	/* A bare code, and a bare LF ending. */
	one_reply("250\r\n", &r);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "");
	one_reply("354 go ahead\n", &r);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text, "go ahead");
}

static void
test_multi_line(void **state)
{
	struct smtpc_reply	r;
	char			sum[SMTPC_SUMMARY_MAX];

	(void)state;
	one_reply("250-mx.example.org hello\r\n250-PIPELINING\r\n"
	    "250 SIZE 1000\r\n", &r);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.text, "mx.example.org hello\nPIPELINING\n"
	    "SIZE 1000");
	assert_int_equal(r.len, strlen(r.text));
	assert_string_equal(smtpc_reply_summary(&r, sum, sizeof(sum)),
	    "250 mx.example.org hello PIPELINING SIZE 1000");

	/* A summary cut to its buffer, control octets shown as '?'. */
	one_reply("550-5.1.1 no\tsuch\r\n550 5.1.1 user\r\n", &r);
	assert_string_equal(r.enh, "5.1.1");
	assert_string_equal(smtpc_reply_summary(&r, sum, sizeof(sum)),
	    "550 5.1.1 no?such 5.1.1 user");
	assert_string_equal(smtpc_reply_summary(&r, sum, 12), "550 5.1.1 n");
}

static void
test_enhanced_codes(void **state)
{
	struct smtpc_reply	r;

	(void)state;
	one_reply("250 2.1.5 ok\r\n", &r);
	assert_string_equal(r.enh, "2.1.5");
	assert_string_equal(r.text, "2.1.5 ok");
	one_reply("451 4.3.0\r\n", &r);
	assert_string_equal(r.enh, "4.3.0");
	one_reply("550 5.7.123 denied\r\n", &r);
	assert_string_equal(r.enh, "5.7.123");
	/* Not one: another class, four digits, no separator, 3xx. */
	one_reply("550 4.1.1 odd\r\n", &r);
	assert_string_equal(r.enh, "");
	one_reply("550 5.1.1234 odd\r\n", &r);
	assert_string_equal(r.enh, "");
	one_reply("550 5.1.1x odd\r\n", &r);
	assert_string_equal(r.enh, "");
	one_reply("550 5.1 odd\r\n", &r);
	assert_string_equal(r.enh, "");
	one_reply("354 3.0.0 go\r\n", &r);
	assert_string_equal(r.enh, "");
}

/* The same replies whatever the pieces; several replies in one read
 * come out one at a time. */
static void
test_pieces_and_pipelining(void **state)
{
	static const char	s[] = "250 2.1.0 sender ok\r\n"
	    "250 2.1.5 rcpt ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n"
	    "354 go\r\n";
	struct smtpc_rparser	p;
	struct smtpc_reply	r;
	size_t			n, used, off;
	unsigned		nrep;
	int			codes[8], k;

	(void)state;
	for (n = 1; n <= sizeof(s); n++) {
		smtpc_rparser_init(&p);
		assert_int_equal(feed_pieces(&p, s, sizeof(s) - 1, n, &r,
		    &nrep), SMTPC_RS_REPLY);
		assert_int_equal(nrep, 4);
		assert_int_equal(r.code, 354);
	}
	smtpc_rparser_init(&p);
	for (off = 0, k = 0; off < sizeof(s) - 1; k++) {
		assert_int_equal(smtpc_rparser_feed(&p, s + off,
		    sizeof(s) - 1 - off, &used, &r), SMTPC_RS_REPLY);
		codes[k] = r.code;
		off += used;
	}
	assert_int_equal(k, 4);
	assert_int_equal(codes[0], 250);
	assert_int_equal(codes[1], 250);
	assert_int_equal(codes[2], 550);
	assert_int_equal(codes[3], 354);

	/* A partial reply, then a reset drops it. */
	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, "250-a\r\n250 b", 12, &used,
	    &r), SMTPC_RS_MORE);
	assert_true(smtpc_rparser_partial(&p));
	smtpc_rparser_reset(&p);
	assert_false(smtpc_rparser_partial(&p));
	assert_int_equal(smtpc_rparser_feed(&p, "220 again\r\n", 11, &used,
	    &r), SMTPC_RS_REPLY);
	assert_int_equal(r.code, 220);
	assert_int_equal(r.nlines, 1);
}

static void
expect_error(const char *s, size_t len, const char *why)
{
	struct smtpc_rparser	p;
	struct smtpc_reply	r;
	size_t			used;

	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, s, len, &used, &r),
	    SMTPC_RS_ERROR);
	assert_string_equal(p.error, why);
	/* It sticks. */
	assert_int_equal(smtpc_rparser_feed(&p, "250 ok\r\n", 8, &used, &r),
	    SMTPC_RS_ERROR);
	assert_int_equal(used, 0);
}

static void
test_protocol_errors(void **state)
{
	(void)state;
	expect_error("250-ok\r\n550 no\r\n", 16,
	    "reply lines with different codes: 250 then 550");
	expect_error("250-ok\r\n251-ok\r\n250 ok\r\n", 24,
	    "reply lines with different codes: 250 then 251");
	expect_error("abc\r\n", 5, "malformed reply code");
	expect_error("25\r\n", 4, "malformed reply code");
	expect_error("199 x\r\n", 7, "malformed reply code");
	expect_error("260 x\r\n", 7, "malformed reply code");
	expect_error("650 x\r\n", 7, "malformed reply code");
	expect_error("250x\r\n", 6, "malformed reply line");
	expect_error("\r\n", 2, "malformed reply code");
	expect_error("250 a\0b\r\n", 9, "NUL octet in a reply");
}

/* A line that never ends fails at the limit, without taking more. */
static void
test_endless_line(void **state)
{
	struct smtpc_rparser	p;
	struct smtpc_reply	r;
	char			*big;
	size_t			used, len = 100000;

	(void)state;
	big = malloc(len);
	assert_non_null(big);
	memcpy(big, "250 ", 4);
	memset(big + 4, 'x', len - 4);
	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, big, len, &used, &r),
	    SMTPC_RS_ERROR);
	assert_int_equal(used, SMTPC_REPLY_LINE_MAX);
	assert_string_equal(p.error, "reply line longer than 2048 octets");
	free(big);

	/* The longest line allowed, and one octet more. */
	big = malloc(SMTPC_REPLY_LINE_MAX + 1);
	assert_non_null(big);
	memcpy(big, "250 ", 4);
	memset(big + 4, 'y', SMTPC_REPLY_LINE_MAX - 6);
	memcpy(big + SMTPC_REPLY_LINE_MAX - 2, "\r\n", 2);
	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, big, SMTPC_REPLY_LINE_MAX,
	    &used, &r), SMTPC_RS_REPLY);
	assert_int_equal(r.len, SMTPC_REPLY_LINE_MAX - 6);
	memset(big + 4, 'y', SMTPC_REPLY_LINE_MAX - 5);
	memcpy(big + SMTPC_REPLY_LINE_MAX - 1, "\r\n", 2);
	smtpc_rparser_init(&p);
	assert_int_equal(smtpc_rparser_feed(&p, big, SMTPC_REPLY_LINE_MAX + 1,
	    &used, &r), SMTPC_RS_ERROR);
	assert_int_equal(used, SMTPC_REPLY_LINE_MAX);
	free(big);
}

/* A reply that never ends fails after SMTPC_REPLY_LINES_MAX lines, and
 * one of long lines at SMTPC_REPLY_TEXT_MAX. */
static void
test_endless_reply(void **state)
{
	struct smtpc_rparser	p;
	struct smtpc_reply	r;
	char			line[1100];
	size_t			used, total = 0;
	enum smtpc_rstatus	st = SMTPC_RS_MORE;
	int			i;

	(void)state;
	smtpc_rparser_init(&p);
	for (i = 0; i < 100000 && st == SMTPC_RS_MORE; i++) {
		st = smtpc_rparser_feed(&p, "250-more\r\n", 10, &used, &r);
		total += used;
	}
	assert_int_equal(st, SMTPC_RS_ERROR);
	assert_int_equal(i, SMTPC_REPLY_LINES_MAX + 1);
	assert_string_equal(p.error, "reply of more than 100 lines");
	assert_true(total <= 10 * (SMTPC_REPLY_LINES_MAX + 1));

	memcpy(line, "250-", 4);
	memset(line + 4, 'z', sizeof(line) - 6);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	smtpc_rparser_init(&p);
	st = SMTPC_RS_MORE;
	for (i = 0; i < 1000 && st == SMTPC_RS_MORE; i++)
		st = smtpc_rparser_feed(&p, line, sizeof(line), &used, &r);
	assert_int_equal(st, SMTPC_RS_ERROR);
	assert_true(i <= SMTPC_REPLY_TEXT_MAX / 1000 + 1);
	assert_string_equal(p.error, "reply text longer than 8191 octets");
}

static void
test_caps_all(void **state)
{
	struct smtpc_reply	r;
	struct smtpc_caps	c;

	(void)state;
	one_reply("250-mx.example.org greets you\r\n250-pipelining\r\n"
	    "250-Size 35882577\r\n250-8BITMIME\r\n250-smtputf8\r\n"
	    "250-DSN\r\n250-chunking\r\n250-STARTTLS\r\n"
	    "250-AUTH plain Login CRAM-MD5 XOAUTH2\r\n"
	    "250-X-UNKNOWN whatever\r\n250-ETRN\r\n"
	    "250 EnhancedStatusCodes\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, SMTPC_CAP_PIPELINING | SMTPC_CAP_SIZE |
	    SMTPC_CAP_8BITMIME | SMTPC_CAP_SMTPUTF8 | SMTPC_CAP_DSN |
	    SMTPC_CAP_CHUNKING | SMTPC_CAP_STARTTLS | SMTPC_CAP_AUTH |
	    SMTPC_CAP_ENHANCEDSTATUSCODES);
	assert_int_equal(c.size, 35882577);
	assert_int_equal(c.auth, SMTPC_AUTH_PLAIN | SMTPC_AUTH_LOGIN |
	    SMTPC_AUTH_CRAM_MD5 | SMTPC_AUTH_OTHER);
}

static void
test_caps_edges(void **state)
{
	struct smtpc_reply	r;
	struct smtpc_caps	c;

	(void)state;
	/* The greeting line is no extension; prefixes do not count. */
	one_reply("250-PIPELINING mx.example.org\r\n250-SIZEX 10\r\n"
	    "250-STARTTLSX\r\n250 8BITMIMEY\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, 0);

	/* SIZE without a number, or with garbage: no limit. */
	one_reply("250-mx\r\n250 SIZE\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, SMTPC_CAP_SIZE);
	assert_int_equal(c.size, 0);
	one_reply("250-mx\r\n250 SIZE 12ab\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, SMTPC_CAP_SIZE);
	assert_int_equal(c.size, 0);
	one_reply("250-mx\r\n250 SIZE 99999999999999999999999\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.size, 0);

	/* The old "AUTH=" form. */
	one_reply("250-mx\r\n250 AUTH=LOGIN PLAIN\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, SMTPC_CAP_AUTH);
	assert_int_equal(c.auth, SMTPC_AUTH_LOGIN | SMTPC_AUTH_PLAIN);

	/* A refusal announces nothing; a one-line 250 neither. */
	one_reply("550-mx\r\n550 PIPELINING\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, 0);
	one_reply("250 mx.example.org\r\n", &r);
	smtpc_caps_parse(&r, &c);
	assert_int_equal(c.flags, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_pieces_and_pipelining),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_endless_reply),
		cmocka_unit_test(test_caps_all),
		cmocka_unit_test(test_caps_edges),
	};

	log_init("test_smtpc_reply", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
