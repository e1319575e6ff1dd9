/*
 * test_sendmail_args.c - unit tests of ctl/sendmail_args.c: the mode from
 * argv[0] and -b/-q, every accepted option glued and separate, the -o and
 * -O options ignored, "--" and recipients, and every refusal (unknown
 * option, control bytes, leading dash, over-long values, too many
 * recipients) with its message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/sendmail_args.h"

#define ARGV_MAX	(SENDMAIL_RCPT_MAX + 10)

/* Splits a line at spaces into argv (no quoting): for readable tests. */
struct words {
	char	 text[4096];
	char	*v[64];
	int	 n;
};

static void
words_of(struct words *w, const char *line)
{
	char	*p, *save = NULL;

	snprintf(w->text, sizeof(w->text), "%s", line);
	w->n = 0;
	for (p = strtok_r(w->text, " ", &save); p != NULL;
	    p = strtok_r(NULL, " ", &save))
		w->v[w->n++] = p;
	w->v[w->n] = NULL;
}

static void
parse_ok(const char *line, struct sendmail_args *a, struct words *w)
{
	char	err[256];

	words_of(w, line);
	if (sendmail_args_parse(w->n, w->v, a, err, sizeof(err)) == -1)
		fail_msg("'%s' refused: %s", line, err);
}

static void
argv_bad(int argc, char *argv[], const char *want)
{
	struct sendmail_args	a;
	char			err[256];

	if (sendmail_args_parse(argc, argv, &a, err, sizeof(err)) == 0)
		fail_msg("'%s ... %s' accepted", argv[0], argv[argc - 1]);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s', expected it to hold '%s'", err, want);
}

static void
parse_bad(const char *line, const char *want)
{
	struct words	w;

	words_of(&w, line);
	argv_bad(w.n, w.v, want);
}

static void
test_mode_by_name(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("/usr/sbin/sendmail root", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_DELIVER);
	assert_int_equal(a.nrcpts, 1);
	assert_string_equal(a.rcpts[0], "root");
	parse_ok("/usr/bin/mailq", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_PRINTQ);
	parse_ok("newaliases", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_NEWALIASES);
	parse_ok("/usr/sbin/strictmailctl -t", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_DELIVER);
	assert_int_equal(sendmail_args_mode_of("/x/mailq/sendmail"),
	    SENDMAIL_DELIVER);
	assert_int_equal(sendmail_args_mode_of("mailqq"), SENDMAIL_DELIVER);
	assert_int_equal(sendmail_args_mode_of(NULL), SENDMAIL_DELIVER);
	/* Defaults. */
	parse_ok("sendmail a@b", &a, &w);
	assert_int_equal(a.extract_rcpts, 0);
	assert_int_equal(a.ignore_dots, 0);
	assert_int_equal(a.verbose, 0);
	assert_null(a.sender);
	assert_null(a.fullname);
	assert_null(a.envid);
	assert_int_equal(a.errmode, 'p');
	assert_int_equal(a.delivery, 0);
	assert_int_equal(a.body, SENDMAIL_BODY_UNSET);
	assert_int_equal(a.notify, 0);
	assert_int_equal(a.ret, SENDMAIL_RET_UNSET);
}

static void
test_mode_options(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("sendmail -bs", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_SMTP);
	parse_ok("sendmail -b s", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_SMTP);
	parse_ok("sendmail -bp", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_PRINTQ);
	parse_ok("sendmail -bi", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_NEWALIASES);
	parse_ok("mailq -bm x@y", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_DELIVER);
	parse_ok("sendmail -q", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_FLUSH);
	assert_string_equal(a.qarg, "");
	parse_ok("sendmail -v -q30m", &a, &w);
	assert_int_equal(a.mode, SENDMAIL_FLUSH);
	assert_string_equal(a.qarg, "30m");
	assert_int_equal(a.verbose, 1);
	parse_ok("mailq --json", &a, &w);
	assert_int_equal(a.json, 1);
	parse_bad("sendmail --json", "--json is for mailq");
	parse_bad("sendmail -bd", "unsupported mode -bd");
	parse_bad("sendmail -bv x@y", "unsupported mode -bv");
	parse_bad("sendmail -bs x@y", "only for delivery mode");
	parse_bad("mailq x@y", "only for delivery mode");
	parse_bad("sendmail -b", "option -b needs a value");
}

static void
test_flags(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("sendmail -t", &a, &w);
	assert_int_equal(a.extract_rcpts, 1);
	assert_int_equal(a.nrcpts, 0);
	parse_ok("sendmail -i x", &a, &w);
	assert_int_equal(a.ignore_dots, 1);
	parse_ok("sendmail -oi x", &a, &w);
	assert_int_equal(a.ignore_dots, 1);
	parse_ok("sendmail -o i x", &a, &w);
	assert_int_equal(a.ignore_dots, 1);
	parse_ok("sendmail -tiv", &a, &w);
	assert_int_equal(a.extract_rcpts, 1);
	assert_int_equal(a.ignore_dots, 1);
	assert_int_equal(a.verbose, 1);
	parse_ok("sendmail -m -U x", &a, &w);
	assert_int_equal(a.nrcpts, 1);
	parse_ok("sendmail -oem x", &a, &w);
	assert_int_equal(a.errmode, 'm');
	parse_ok("sendmail -oee x", &a, &w);
	assert_int_equal(a.errmode, 'e');
	parse_ok("sendmail -odi x", &a, &w);
	assert_int_equal(a.delivery, 'i');
	parse_ok("sendmail -odb x", &a, &w);
	assert_int_equal(a.delivery, 'b');
	parse_bad("sendmail -oex x", "unsupported error mode -oex");
	parse_bad("sendmail -odz x", "unsupported delivery mode -odz");
	/* Other -o and -O options are accepted and ignored. */
	parse_ok("sendmail -oQ/var/spool -oXfoo -O DeliveryMode=b "
	    "-OLogLevel=9 -L tag x", &a, &w);
	assert_int_equal(a.nrcpts, 1);
	assert_int_equal(a.delivery, 0);
	assert_string_equal(a.rcpts[0], "x");
}

static void
test_sender_and_name(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("sendmail -fuser@example.org x", &a, &w);
	assert_string_equal(a.sender, "user@example.org");
	parse_ok("sendmail -f user@example.org x", &a, &w);
	assert_string_equal(a.sender, "user@example.org");
	parse_ok("sendmail -r bounce@example.org x", &a, &w);
	assert_string_equal(a.sender, "bounce@example.org");
	parse_ok("sendmail -rbounce@example.org x", &a, &w);
	assert_string_equal(a.sender, "bounce@example.org");
	parse_ok("sendmail -f <> x", &a, &w);
	assert_string_equal(a.sender, "");
	parse_ok("sendmail -FJoe x", &a, &w);
	assert_string_equal(a.fullname, "Joe");
	parse_ok("sendmail -F Joe x", &a, &w);
	assert_string_equal(a.fullname, "Joe");
	/* -F takes the next word even when it starts with '-'. */
	parse_ok("sendmail -F -Joe- x", &a, &w);
	assert_string_equal(a.fullname, "-Joe-");
	assert_string_equal(a.rcpts[0], "x");
	parse_ok("sendmail -ti -F Joe -f a@b", &a, &w);
	assert_string_equal(a.sender, "a@b");
	parse_bad("sendmail -f", "option -f needs a value");
	parse_bad("sendmail -f -t x", "may not start with '-'");
	parse_bad("sendmail -f-t x", "may not start with '-'");
	parse_bad("sendmail -r -x x", "may not start with '-'");
}

static void
test_control_bytes(void **state)
{
	char	*v[6];
	char	 sender[] = "a@b\nTo: victim@x";
	char	 cr[] = "a@b\r";
	char	 tab[] = "a\tb";
	char	 del[] = "a\x7f" "b";
	char	 name[] = "Joe\r\nBcc: victim@x";
	char	 envid[] = "id\n1";
	char	 rcpt[] = "x@y\nz";

	(void)state;
	v[0] = "sendmail"; v[1] = "-f"; v[2] = sender; v[3] = "x";
	argv_bad(4, v, "the sender (-f) holds a control character (0x0a)");
	v[2] = cr;
	argv_bad(4, v, "the sender (-f) holds a control character (0x0d)");
	v[2] = tab;
	argv_bad(4, v, "control character (0x09)");
	v[2] = del;
	argv_bad(4, v, "control character (0x7f)");
	v[1] = "-F"; v[2] = name;
	argv_bad(4, v, "the full name (-F) holds a control character");
	v[1] = "-V"; v[2] = envid;
	argv_bad(4, v, "the envelope id (-V) holds a control character");
	v[1] = "-i"; v[2] = rcpt;
	argv_bad(3, v, "a recipient holds a control character");
	v[1] = "--"; v[2] = "-x@y";
	argv_bad(3, v, "a recipient may not start with '-'");
	v[1] = "a@b"; v[2] = "";
	argv_bad(3, v, "an empty recipient");
}

static void
test_dsn_options(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("sendmail -B 8BITMIME x", &a, &w);
	assert_int_equal(a.body, SENDMAIL_BODY_8BITMIME);
	parse_ok("sendmail -B7bit x", &a, &w);
	assert_int_equal(a.body, SENDMAIL_BODY_7BIT);
	parse_ok("sendmail -N never x", &a, &w);
	assert_int_equal(a.notify, SENDMAIL_NOTIFY_NEVER);
	parse_ok("sendmail -Nsuccess,failure,delay x", &a, &w);
	assert_int_equal(a.notify, SENDMAIL_NOTIFY_SUCCESS |
	    SENDMAIL_NOTIFY_FAILURE | SENDMAIL_NOTIFY_DELAY);
	parse_ok("sendmail -N FAILURE x", &a, &w);
	assert_int_equal(a.notify, SENDMAIL_NOTIFY_FAILURE);
	parse_ok("sendmail -R full x", &a, &w);
	assert_int_equal(a.ret, SENDMAIL_RET_FULL);
	parse_ok("sendmail -Rhdrs x", &a, &w);
	assert_int_equal(a.ret, SENDMAIL_RET_HDRS);
	parse_ok("sendmail -V abc+2Bdef x", &a, &w);
	assert_string_equal(a.envid, "abc+2Bdef");
	parse_ok("sendmail -Vxyz x", &a, &w);
	assert_string_equal(a.envid, "xyz");
	parse_bad("sendmail -B 9BIT x", "-B takes 7BIT or 8BITMIME");
	parse_bad("sendmail -N never,success x", "never cannot be combined");
	parse_bad("sendmail -N success,,delay x", "-N takes never");
	parse_bad("sendmail -N success,success x", "-N takes never");
	parse_bad("sendmail -N sometimes x", "-N takes never");
	parse_bad("sendmail -R all x", "-R takes full or hdrs");
	parse_bad("sendmail -V", "option -V needs a value");
}

static void
test_unknown_and_ending(void **state)
{
	struct sendmail_args	a;
	struct words		w;
	char			*v[4];
	char			 bin[] = "-\x01";

	(void)state;
	parse_bad("sendmail -X /tmp/log x", "unknown option -X");
	parse_bad("sendmail -A /etc/other.cf x", "unknown option -A");
	parse_bad("sendmail -tZ", "unknown option -Z");
	parse_bad("sendmail - x", "a lone '-' is not an option");
	parse_bad("sendmail --help", "unknown option --");
	v[0] = "sendmail"; v[1] = bin; v[2] = "x";
	argv_bad(3, v, "unknown option (byte 0x01)");
	/* "--" ends the options; so does the first recipient. */
	parse_ok("sendmail -i -- a@b c@d", &a, &w);
	assert_int_equal(a.nrcpts, 2);
	assert_string_equal(a.rcpts[0], "a@b");
	assert_string_equal(a.rcpts[1], "c@d");
	/* After the first recipient "-t" is a recipient, and refused. */
	parse_bad("sendmail a@b -t", "a recipient may not start with '-': -t");
	parse_bad("sendmail", "no recipients given");
	parse_bad("sendmail -i --", "no recipients given");
}

static void
test_config_option(void **state)
{
	struct sendmail_args	a;
	struct words		w;

	(void)state;
	parse_ok("sendmail a@b", &a, &w);
	assert_null(a.config);
	parse_ok("sendmail -C /etc/x.conf -t", &a, &w);
	assert_string_equal(a.config, "/etc/x.conf");
	assert_int_equal(a.extract_rcpts, 1);
	parse_ok("mailq -C/tmp/y.conf --json", &a, &w);
	assert_string_equal(a.config, "/tmp/y.conf");
	assert_int_equal(a.mode, SENDMAIL_PRINTQ);
	parse_ok("sendmail -tC /c root", &a, &w);
	assert_string_equal(a.config, "/c");
	parse_bad("sendmail -C", "option -C needs a value");
	parse_bad("sendmail -C -t root",
	    "the configuration file (-C) may not start with '-'");
}

static void
test_limits(void **state)
{
	static char		*v[ARGV_MAX];
	static char		 big[SENDMAIL_VALUE_MAX + 2];
	static char		 fits[SENDMAIL_VALUE_MAX + 1];
	char			 envid[SENDMAIL_ENVID_MAX + 2];
	struct sendmail_args	 a;
	char			 err[256];
	int			 i;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	memset(fits, 'a', sizeof(fits) - 1);
	v[0] = "sendmail";
	v[1] = "-f"; v[2] = big; v[3] = "x";
	argv_bad(4, v, "the sender (-f) is longer than 998 bytes");
	v[2] = fits;
	assert_int_equal(sendmail_args_parse(4, v, &a, err, sizeof(err)), 0);
	v[1] = "-F"; v[2] = big;
	argv_bad(4, v, "the full name (-F) is longer than 998 bytes");
	v[1] = "x"; v[2] = big;
	argv_bad(3, v, "a recipient is longer than 998 bytes");
	memset(envid, 'e', sizeof(envid) - 1);
	envid[sizeof(envid) - 1] = '\0';
	v[1] = "-V"; v[2] = envid; v[3] = "x";
	argv_bad(4, v, "the envelope id (-V) is longer than 100 bytes");
	for (i = 1; i <= SENDMAIL_RCPT_MAX; i++)
		v[i] = "r@example.org";
	assert_int_equal(sendmail_args_parse(SENDMAIL_RCPT_MAX + 1, v, &a, err,
	    sizeof(err)), 0);
	assert_int_equal(a.nrcpts, SENDMAIL_RCPT_MAX);
	v[SENDMAIL_RCPT_MAX + 1] = "one@too.many";
	argv_bad(SENDMAIL_RCPT_MAX + 2, v, "too many recipients (1001, at most "
	    "1000)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_by_name),
		cmocka_unit_test(test_mode_options),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_sender_and_name),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_dsn_options),
		cmocka_unit_test(test_unknown_and_ending),
		cmocka_unit_test(test_config_option),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
