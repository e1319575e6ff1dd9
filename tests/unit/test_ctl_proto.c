/*
 * test_ctl_proto.c - unit tests of ctl/ctl_proto.c: request lines are
 * parsed exactly (version, command, argument count, spacing, control
 * bytes, length) and round-trip through ctl_proto_put_request; fields
 * encode every space, control byte and '%' and decode back; reply lines
 * round-trip, and malformed ones are refused.
 * The operator's commands: delete, hold, release take one queue ID,
 * status none; only the first three need an admin; "stat" lines
 * round-trip; the version stays 1 (commands are only added).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl_proto.h"

/* The version error names the daemon's version. */
#define V_ERR	"unsupported protocol version: strictmaild speaks 1"

/* The buffer's text as a C string (it is not NUL-terminated). */
static char *
text_of(struct buf *b)
{
	buf_addch(b, '\0');
	return b->data;
}

static void
parse_ok(const char *line, enum ctl_cmd cmd, const char *arg)
{
	struct ctl_request	req;
	char			err[128];

	if (ctl_proto_parse_request(line, &req, err, sizeof(err)) == -1)
		fail_msg("'%s' refused: %s", line, err);
	assert_int_equal(req.cmd, cmd);
	assert_string_equal(req.arg, arg);
}

static void
parse_bad(const char *line, const char *want)
{
	struct ctl_request	req;
	char			err[128];

	if (ctl_proto_parse_request(line, &req, err, sizeof(err)) == 0)
		fail_msg("'%s' accepted", line);
	if (strcmp(err, want) != 0)
		fail_msg("'%s': error '%s', expected '%s'", line, err, want);
}

static void
test_request_parse(void **state)
{
	char	longline[CTL_LINE_MAX + 10];

	(void)state;
	parse_ok("strictmail-ctl 1 queue", CTL_QUEUE, "");
	parse_ok("strictmail-ctl 1 show 6619B010E3297000", CTL_SHOW,
	    "6619B010E3297000");
	parse_ok("strictmail-ctl 1 flush", CTL_FLUSH, "");
	parse_ok("strictmail-ctl 1 reload", CTL_RELOAD, "");
	parse_ok("strictmail-ctl 1 delete 6619B010E3297000", CTL_DELETE,
	    "6619B010E3297000");
	parse_ok("strictmail-ctl 1 hold 6619B010E3297000", CTL_HOLD,
	    "6619B010E3297000");
	parse_ok("strictmail-ctl 1 release 6619B010E3297000", CTL_RELEASE,
	    "6619B010E3297000");
	parse_ok("strictmail-ctl 1 status", CTL_STATUS, "");
	parse_bad("strictmail-ctl 1 delete", "delete takes one argument");
	parse_bad("strictmail-ctl 1 hold", "hold takes one argument");
	parse_bad("strictmail-ctl 1 release a b",
	    "release takes one argument");
	parse_bad("strictmail-ctl 1 status x", "status takes no argument");
	parse_bad("strictmail-ctl 99 delete 6619B010E3297000", V_ERR);
	parse_bad("strictmail-ctl 1 Delete 6619B010E3297000",
	    "unknown command 'Delete'");
	assert_int_equal(CTL_PROTO_VERSION, 1);
	assert_true(ctl_proto_needs_admin(CTL_DELETE));
	assert_true(ctl_proto_needs_admin(CTL_HOLD));
	assert_true(ctl_proto_needs_admin(CTL_RELEASE));
	assert_false(ctl_proto_needs_admin(CTL_STATUS));
	assert_false(ctl_proto_needs_admin(CTL_QUEUE));
	assert_false(ctl_proto_needs_admin(CTL_FLUSH));
	assert_false(ctl_proto_needs_root(CTL_STATUS));
	assert_false(ctl_proto_needs_root(CTL_DELETE));
	assert_false(ctl_proto_is_sts(CTL_DELETE));
	assert_false(ctl_proto_is_sts(CTL_STATUS));

	/* pause and resume: "delivery" only; root or admin-group; the
	 * argument is no queue ID. */
	parse_ok("strictmail-ctl 1 pause delivery", CTL_PAUSE, "delivery");
	parse_ok("strictmail-ctl 1 resume delivery", CTL_RESUME, "delivery");
	parse_bad("strictmail-ctl 1 pause", "pause takes one argument");
	parse_bad("strictmail-ctl 1 resume delivery x",
	    "resume takes one argument");
	parse_bad("strictmail-ctl 1 pause receiving",
	    "pause: only 'delivery' can be paused or resumed");
	parse_bad("strictmail-ctl 1 resume Delivery",
	    "resume: only 'delivery' can be paused or resumed");
	parse_bad("strictmail-ctl 1 Pause delivery",
	    "unknown command 'Pause'");
	assert_true(ctl_proto_needs_admin(CTL_PAUSE));
	assert_true(ctl_proto_needs_admin(CTL_RESUME));
	assert_false(ctl_proto_needs_root(CTL_PAUSE));
	assert_false(ctl_proto_takes_id(CTL_PAUSE));
	assert_false(ctl_proto_takes_id(CTL_RESUME));
	assert_true(ctl_proto_takes_id(CTL_SHOW));
	assert_true(ctl_proto_takes_id(CTL_HOLD));
	assert_false(ctl_proto_is_sts(CTL_PAUSE));
	assert_string_equal(ctl_proto_cmd_name(CTL_PAUSE), "pause");
	assert_string_equal(ctl_proto_cmd_name(CTL_RESUME), "resume");

	parse_bad("strictmail-ctl 2 queue", V_ERR);
	parse_bad("strictmail-ctl 0 queue", V_ERR);
	parse_bad("strictmail-ctl 01 flush", V_ERR);
	parse_bad("strictmail-ctl x queue", V_ERR);
	parse_bad("strictmail-ctl 99999999999 queue", V_ERR);
	parse_bad("strictmail-ctl 2", V_ERR);
	parse_bad("strictmail-ctl 1", "no command");
	parse_bad("strictmail-ctl 1 frob", "unknown command 'frob'");
	parse_bad("strictmail-ctl 1 QUEUE", "unknown command 'QUEUE'");
	parse_bad("strictmail-ctl 1 show", "show takes one argument");
	parse_bad("strictmail-ctl 1 queue x", "queue takes no argument");
	parse_bad("strictmail-ctl 1 flush now", "flush takes no argument");
	parse_bad("strictmail-ctl 1 show a b", "show takes one argument");
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "strictmail-ctl 1 sts-show ", 26);
	longline[26 + CTL_ARG_MAX] = '\0';	/* one byte too many */
	parse_bad(longline, "argument too long");
	longline[26 + CTL_ARG_MAX - 1] = '\0';
	parse_ok(longline, CTL_STS_SHOW, longline + 26);
	parse_ok("strictmail-ctl 1 sts-list", CTL_STS_LIST, "");
	parse_ok("strictmail-ctl 1 sts-show enforce.test", CTL_STS_SHOW,
	    "enforce.test");
	parse_ok("strictmail-ctl 1 sts-refresh a.test", CTL_STS_REFRESH,
	    "a.test");
	parse_ok("strictmail-ctl 1 sts-check a.test", CTL_STS_CHECK,
	    "a.test");
	parse_ok("strictmail-ctl 1 sts-flush", CTL_STS_FLUSH, "");
	parse_ok("strictmail-ctl 1 sts-flush a.test", CTL_STS_FLUSH,
	    "a.test");
	parse_bad("strictmail-ctl 1 sts-flush a.test b.test",
	    "sts-flush takes no argument");
	parse_bad("strictmail-ctl 1 sts-show", "sts-show takes one argument");
	parse_bad("strictmail-ctl 1 sts-list a.test",
	    "sts-list takes no argument");
	assert_true(ctl_proto_is_sts(CTL_STS_CHECK));
	assert_false(ctl_proto_is_sts(CTL_RELOAD));
	assert_true(ctl_proto_needs_root(CTL_STS_FLUSH));
	assert_false(ctl_proto_needs_root(CTL_STS_SHOW));
	parse_bad("strictmail-ctl  1 queue", "malformed request");
	parse_bad("strictmail-ctl 1 queue ", "malformed request");
	parse_bad(" strictmail-ctl 1 queue", "malformed request");
	parse_bad("strictmail-ctl 1 queue\r", "malformed request");
	parse_bad("strictmail-ctl\t1 queue", "malformed request");
	parse_bad("strictmailctl 1 queue", "malformed request");
	parse_bad("", "malformed request");
	parse_bad("GET / HTTP/1.0", "malformed request");
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "strictmail-ctl 1 show ", 22);
	parse_bad(longline, "malformed request");
}

static void
test_request_roundtrip(void **state)
{
	static const struct {
		enum ctl_cmd	 cmd;
		const char	*arg;
		const char	*line;
	} cases[] = {
		{ CTL_QUEUE, NULL, "strictmail-ctl 1 queue\n" },
		{ CTL_SHOW, "6619B010E3297000",
		    "strictmail-ctl 1 show 6619B010E3297000\n" },
		{ CTL_FLUSH, "", "strictmail-ctl 1 flush\n" },
		{ CTL_RELOAD, NULL, "strictmail-ctl 1 reload\n" },
		{ CTL_DELETE, "6619B010E3297000",
		    "strictmail-ctl 1 delete 6619B010E3297000\n" },
		{ CTL_HOLD, "6619B010E3297000",
		    "strictmail-ctl 1 hold 6619B010E3297000\n" },
		{ CTL_RELEASE, "6619B010E3297000",
		    "strictmail-ctl 1 release 6619B010E3297000\n" },
		{ CTL_STATUS, NULL, "strictmail-ctl 1 status\n" },
		{ CTL_PAUSE, "delivery", "strictmail-ctl 1 pause delivery\n" },
		{ CTL_RESUME, "delivery",
		    "strictmail-ctl 1 resume delivery\n" },
	};
	struct buf	b;
	char		*t;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b);
		ctl_proto_put_request(&b, cases[i].cmd, cases[i].arg);
		t = text_of(&b);
		assert_string_equal(t, cases[i].line);
		t[strlen(t) - 1] = '\0';
		parse_ok(t, cases[i].cmd, cases[i].arg ? cases[i].arg : "");
		buf_free(&b);
	}
	assert_true(ctl_proto_needs_root(CTL_FLUSH));
	assert_true(ctl_proto_needs_root(CTL_RELOAD));
	assert_false(ctl_proto_needs_root(CTL_QUEUE));
	assert_false(ctl_proto_needs_root(CTL_SHOW));
	assert_string_equal(ctl_proto_cmd_name((enum ctl_cmd)99), "unknown");
}

static void
test_fields(void **state)
{
	static const struct {
		const char	*value;
		const char	*enc;
	} cases[] = {
		{ "", "-" },
		{ "-", "%2D" },
		{ "--", "--" },
		{ "user@example.org", "user@example.org" },
		{ "a b", "a%20b" },
		{ "100%", "100%25" },
		{ "\"quoted local\"@x", "\"quoted%20local\"@x" },
		{ "tab\there", "tab%09here" },
		{ "del\x7f", "del%7F" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "451 4.4.1 connect to mx[192.0.2.1]:25: timeout",
		    "451%204.4.1%20connect%20to%20mx[192.0.2.1]:25:%20timeout" },
	};
	static const char *const bad[] = { "%", "%2", "%zz", "%2d", "%00",
	    "a%G0" };
	struct buf	b;
	char		*t;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b);
		ctl_proto_put_field(&b, cases[i].value);
		t = text_of(&b);
		assert_string_equal(t, cases[i].enc);
		assert_null(strchr(t, ' '));
		assert_int_equal(ctl_proto_decode_field(t), 0);
		assert_string_equal(t, cases[i].value);
		buf_free(&b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char	copy[16];

		snprintf(copy, sizeof(copy), "%s", bad[i]);
		if (ctl_proto_decode_field(copy) == 0)
			fail_msg("'%s' decoded", bad[i]);
	}
}

/* Every line of b parsed in order into r[]; returns how many. */
static int
parse_lines(struct buf *b, struct ctl_reply *r, int max)
{
	char	*line, *nl;
	int	 n = 0;

	for (line = text_of(b); *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		assert_true(n < max);
		if (ctl_proto_parse_reply(line, &r[n]) == -1)
			fail_msg("reply line '%s' refused", line);
		n++;
	}
	return n;
}

static void
test_reply_roundtrip(void **state)
{
	struct ctl_reply	r[11];
	struct buf		b;

	(void)state;
	buf_init(&b);
	ctl_proto_put_message(&b, "6619B010E3297000", 1687, 1796168225,
	    "alice@example.org");
	ctl_proto_put_message(&b, "6619B011063FC000", 0, 0, "");
	ctl_proto_put_rcpt(&b, "bob@remote.example", "pending",
	    "451 4.4.1 no answer");
	ctl_proto_put_rcpt(&b, "carol@remote.example", "delivered", "");
	ctl_proto_put_fact(&b, "tls", "version=TLSv1.3 cipher=X");
	ctl_proto_put_flushed(&b, 42);
	ctl_proto_put_error(&b, "no such\r\nmessage");
	ctl_proto_put_ok(&b);
	ctl_proto_put_text(&b, "mx: mx1.enforce.test (preference 10)");
	ctl_proto_put_stat(&b, "process.queue", "1234");
	ctl_proto_put_stat(&b, "odd key", "");
	assert_int_equal(parse_lines(&b, r, 11), 11);
	assert_int_equal(r[9].type, CTL_R_STAT);
	assert_string_equal(r[9].f[0], "process.queue");
	assert_string_equal(r[9].f[1], "1234");
	assert_int_equal(r[10].type, CTL_R_STAT);
	assert_string_equal(r[10].f[0], "odd key");
	assert_string_equal(r[10].f[1], "");
	assert_int_equal(r[8].type, CTL_R_TEXT);
	assert_string_equal(r[8].f[0], "mx: mx1.enforce.test (preference 10)");
	assert_int_equal(r[0].type, CTL_R_MESSAGE);
	assert_string_equal(r[0].f[0], "6619B010E3297000");
	assert_int_equal(r[0].num, 1687);
	assert_int_equal(r[0].arrival, 1796168225);
	assert_string_equal(r[0].f[3], "alice@example.org");
	assert_int_equal(r[1].type, CTL_R_MESSAGE);
	assert_string_equal(r[1].f[3], "");
	assert_int_equal(r[2].type, CTL_R_RCPT);
	assert_string_equal(r[2].f[0], "bob@remote.example");
	assert_string_equal(r[2].f[1], "pending");
	assert_string_equal(r[2].f[2], "451 4.4.1 no answer");
	assert_string_equal(r[3].f[2], "");
	assert_int_equal(r[4].type, CTL_R_FACT);
	assert_string_equal(r[4].f[0], "tls");
	assert_string_equal(r[4].f[1], "version=TLSv1.3 cipher=X");
	assert_int_equal(r[5].type, CTL_R_FLUSHED);
	assert_int_equal(r[5].num, 42);
	/* Control bytes of an error text never split the line. */
	assert_int_equal(r[6].type, CTL_R_ERROR);
	assert_string_equal(r[6].f[0], "no such??message");
	assert_int_equal(r[7].type, CTL_R_OK);
	buf_free(&b);
}

static void
test_reply_bad(void **state)
{
	static const char *const bad[] = {
		"", "bogus", "OK", "ok ", "error", "message", "message a 1 2",
		"message a 1 2 s x", "message a x 2 s", "message a 1 -2 s",
		"message a 1 2 %zz", "rcpt a b", "rcpt a b c d", "fact k",
		"flushed", "flushed x", "flushed 4294967296", "rcpt  a b c",
		"text", "text a b", "text %zz", "stat", "stat k", "stat k v w",
		"stat k %zz",
	};
	struct ctl_reply	r;
	char			line[64];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s", bad[i]);
		if (ctl_proto_parse_reply(line, &r) == 0)
			fail_msg("reply line '%s' accepted", bad[i]);
	}
	snprintf(line, sizeof(line), "error ");
	assert_int_equal(ctl_proto_parse_reply(line, &r), 0);
	assert_int_equal(r.type, CTL_R_ERROR);
	assert_string_equal(r.f[0], "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_parse),
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_reply_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
