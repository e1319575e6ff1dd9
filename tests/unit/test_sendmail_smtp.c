/*
 * test_sendmail_smtp.c - unit tests of ctl/sendmail_smtp.c, the dialogue
 * of "sendmail -bs": the sequence rules (503), bad addresses (501),
 * unknown commands and parameters (500, 555), VRFY 252, dot-unstuffing
 * and CRLF in the stored message, the size limit drained to the dot,
 * RSET, and the replies after queueing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl/sendmail_smtp.h"

static enum sendmail_smtp_action
say(struct sendmail_smtp *s, const char *line, const char *want)
{
	struct buf			r;
	enum sendmail_smtp_action	a;

	buf_init(&r);
	a = sendmail_smtp_line(s, line, strlen(line), 0, &r);
	if (strncmp(r.data != NULL ? r.data : "", want, strlen(want)) != 0)
		fail_msg("'%s': reply '%s', expected '%s'", line,
		    r.data != NULL ? r.data : "", want);
	buf_free(&r);
	return a;
}

static void
test_dialogue(void **state)
{
	struct sendmail_smtp	s;
	struct buf		r;

	(void)state;
	sendmail_smtp_init(&s, "mx.example.org", 100);
	buf_init(&r);
	sendmail_smtp_greeting(&s, &r);
	assert_string_equal(r.data, "220 mx.example.org ESMTP strictmail "
	    "(sendmail -bs)\r\n");
	say(&s, "MAIL FROM:<a@example.org>", "503 5.5.1");
	say(&s, "EHLO", "501 5.5.4");
	say(&s, "EHLO client", "250-mx.example.org\r\n250-8BITMIME");
	say(&s, "RCPT TO:<b@example.org>", "503 5.5.1");
	say(&s, "DATA", "503 5.5.1");
	say(&s, "MAIL FROM:<a@@example.org>", "501 5.1.7");
	say(&s, "MAIL FROM:<a@example.org> FOO=1", "555 5.5.4");
	say(&s, "MAIL FROM:<a@example.org> SIZE=101", "552 5.3.4");
	say(&s, "MAIL FROM:<a@example.org> BODY=8BITMIME", "250 2.1.0");
	assert_int_equal(s.eightbit, 1);
	say(&s, "MAIL FROM:<a@example.org>", "503 5.5.1");
	say(&s, "DATA", "554 5.5.1");
	say(&s, "RCPT TO:<>", "501 5.1.3");
	say(&s, "RCPT TO:<b@example.org>", "250 2.1.5");
	say(&s, "RCPT TO:<root>", "250 2.1.5");
	say(&s, "VRFY root", "252 2.5.0");
	say(&s, "XYZZY", "500 5.5.1");
	say(&s, "DATA x", "501 5.5.4");
	say(&s, "DATA", "354 ");
	say(&s, "Subject: x", "");
	say(&s, "..dot", "");
	say(&s, "", "");
	assert_int_equal(say(&s, ".", ""), SENDMAIL_SMTP_QUEUE);
	assert_string_equal(s.sender, "a@example.org");
	assert_int_equal(s.nrcpts, 2);
	assert_string_equal(s.rcpts[1], "root");
	assert_string_equal(s.data.data, "Subject: x\r\n.dot\r\n\r\n");
	buf_reset(&r);
	sendmail_smtp_queued(&s, 0, "", "maildrop", &r);
	assert_string_equal(r.data, "250 2.0.0 queued as maildrop\r\n");
	assert_int_equal(s.state, SENDMAIL_SMTP_READY);
	assert_int_equal(s.nrcpts, 0);
	/* a refusal, temporary and permanent */
	say(&s, "MAIL FROM:<>", "250 2.1.0");
	assert_string_equal(s.sender, "");
	say(&s, "RCPT TO:<b@example.org>", "250");
	say(&s, "RSET", "250 2.0.0");
	say(&s, "RCPT TO:<b@example.org>", "503 5.5.1");
	say(&s, "MAIL FROM:<>", "250");
	buf_reset(&r);
	sendmail_smtp_queued(&s, EX_TEMPFAIL, "disk full", "", &r);
	assert_string_equal(r.data, "451 4.3.0 disk full\r\n");
	buf_reset(&r);
	sendmail_smtp_queued(&s, EX_DATAERR, "bare CR", "", &r);
	assert_string_equal(r.data, "554 5.6.0 bare CR\r\n");
	assert_int_equal(say(&s, "NOOP", "250 2.0.0"), SENDMAIL_SMTP_REPLY);
	assert_int_equal(say(&s, "QUIT", "221 2.0.0"), SENDMAIL_SMTP_QUIT);
	buf_free(&r);
	sendmail_smtp_free(&s);
}

static void
test_limits(void **state)
{
	struct sendmail_smtp	s;
	struct buf		r;
	char			big[60];

	(void)state;
	sendmail_smtp_init(&s, "h", 100);
	buf_init(&r);
	say(&s, "HELO c", "250 h");
	say(&s, "MAIL FROM:<a@b>", "250");
	say(&s, "RCPT TO:<c@d>", "250");
	say(&s, "DATA", "354");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	say(&s, big, "");
	say(&s, big, "");	/* over 100 octets: drained */
	say(&s, "MAIL FROM:<a@b>", "");	/* data, not a command */
	say(&s, ".", "552 5.3.4");
	assert_int_equal(s.state, SENDMAIL_SMTP_READY);
	say(&s, "MAIL FROM:<a@b>", "250");
	say(&s, "RCPT TO:<c@d>", "250");
	say(&s, "DATA", "354");
	assert_int_equal(sendmail_smtp_line(&s, "x", 1, 1, &r),
	    SENDMAIL_SMTP_REPLY);
	say(&s, ".", "554 5.6.0");
	assert_int_equal(sendmail_smtp_line(&s, "HELO x", 6, 1, &r),
	    SENDMAIL_SMTP_REPLY);
	assert_string_equal(r.data, "500 5.5.2 line too long\r\n");
	buf_reset(&r);
	assert_int_equal(sendmail_smtp_line(&s, "NOOP\0x", 6, 0, &r),
	    SENDMAIL_SMTP_REPLY);
	assert_string_equal(r.data, "500 5.5.2 bad byte in the command\r\n");
	buf_free(&r);
	sendmail_smtp_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialogue),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
