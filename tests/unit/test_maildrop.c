/*
 * test_maildrop.c - unit tests of queue/maildrop_parse.c: a good head with
 * every optional line, the null sender, and hostile heads (no magic,
 * missing size, duplicate sender, sender after rcpt, data or size before
 * rcpt, unknown lines such as a forged Received, control bytes, extra
 * spaces, over-long addresses and heads, a head cut short, bad numbers);
 * the content checks (bare CR or LF, NUL, long lines, the end), piece by
 * piece.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/maildrop.h"

#define MAGIC	"strictmail-maildrop 1\n"

static int
parse(const char *text, struct maildrop_env *e, char *err, size_t errlen)
{
	return maildrop_parse(text, strlen(text), e, err, errlen);
}

/* text must be refused with a reason containing want. */
static void
refused(const char *text, const char *want)
{
	struct maildrop_env	e;
	char			err[256] = "";

	if (parse(text, &e, err, sizeof(err)) != -1)
		fail_msg("expected a refusal '%s' of:\n%s", want, text);
	if (strstr(err, want) == NULL)
		fail_msg("expected '%s', got '%s' for:\n%s", want, err, text);
	assert_null(e.rcpts);
	assert_null(e.sender);
}

static void
test_good(void **state)
{
	static const char text[] = MAGIC "sender joe@example.org\n"
	    "rcpt a@example.org\nrcpt bob\nnotify failure,delay\nret hdrs\n"
	    "envid abc+2Bd\nbody 8bitmime\nsize 4\ndata\nhi\r\n";
	struct maildrop_env	e;
	char			err[256];

	(void)state;
	assert_int_equal(parse(text, &e, err, sizeof(err)), 0);
	assert_string_equal(e.sender, "joe@example.org");
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.rcpts[0], "a@example.org");
	assert_string_equal(e.rcpts[1], "bob");
	assert_int_equal(e.notify, MAILDROP_NOTIFY_FAILURE |
	    MAILDROP_NOTIFY_DELAY);
	assert_int_equal(e.ret, MAILDROP_RET_HDRS);
	assert_string_equal(e.envid, "abc+2Bd");
	assert_int_equal(e.body, MAILDROP_BODY_8BITMIME);
	assert_int_equal(e.size, 4);
	assert_int_equal(e.data_off, strlen(text) - 4);
	maildrop_env_free(&e);
	assert_null(e.rcpts);
}

static void
test_minimal(void **state)
{
	struct maildrop_env	e;
	char			err[256];

	(void)state;
	assert_int_equal(parse(MAGIC "rcpt x\nsize 0\ndata\n", &e, err,
	    sizeof(err)), 0);
	assert_null(e.sender);
	assert_null(e.envid);
	assert_int_equal(e.notify, 0);
	assert_int_equal(e.ret, MAILDROP_RET_UNSET);
	assert_int_equal(e.body, MAILDROP_BODY_UNSET);
	assert_int_equal(e.size, 0);
	maildrop_env_free(&e);
	assert_int_equal(parse(MAGIC "sender <>\nrcpt x\nnotify never\n"
	    "size 10\ndata\n", &e, err, sizeof(err)), 0);
	assert_string_equal(e.sender, "");
	assert_int_equal(e.notify, MAILDROP_NOTIFY_NEVER);
	maildrop_env_free(&e);
}

static void
test_order(void **state)
{
	(void)state;
	refused("", "head cut short");
	refused("strictmail-maildrop 2\nrcpt a\nsize 1\ndata\n",
	    "not a maildrop file");
	refused("Received: from x\n" MAGIC "rcpt a\nsize 1\ndata\n",
	    "line 1: ");
	refused("Received:x\n" MAGIC "rcpt a\nsize 1\ndata\n",
	    "line 1: not a maildrop file");
	refused(MAGIC "rcpt a\ndata\nx", "no size before data");
	refused(MAGIC "rcpt a\nnotify never\n", "head cut short");
	refused(MAGIC "sender a\nsender b\nrcpt c\nsize 1\ndata\n",
	    "line 3: no rcpt before it");
	refused(MAGIC "rcpt c\nsender b\nsize 1\ndata\n",
	    "line 3: unexpected line");
	refused(MAGIC "data\nrcpt c\n", "no rcpt before it");
	refused(MAGIC "size 1\nrcpt c\ndata\n", "no rcpt before it");
	refused(MAGIC "rcpt c\nsize 1\nrcpt d\ndata\n", "expected data");
	refused(MAGIC "rcpt c\nsize 1\nsize 1\ndata\n", "expected data");
	refused(MAGIC "rcpt c\nret full\nret full\nsize 1\ndata\n",
	    "line 4: unexpected line");
	refused(MAGIC "rcpt c\nenvid a\nenvid b\nsize 1\ndata\n",
	    "unexpected line");
	refused(MAGIC "rcpt c\nReceived: from evil (uid 0)\nsize 1\ndata\n",
	    "line 3: unknown line");
	refused(MAGIC "Received: from evil\nrcpt c\nsize 1\ndata\n",
	    "line 2: unknown line");
	refused(MAGIC "rcpt c\nfrom root@example.org\nsize 1\ndata\n",
	    "unknown line");
	refused(MAGIC "rcpt c\nsize 1\nuid 0\ndata\n", "unknown line");
	refused(MAGIC "rcpt c\nsize 1\ndata x\n", "expected data");
}

static void
test_values(void **state)
{
	char	*big;

	(void)state;
	refused(MAGIC "rcpt  c\nsize 1\ndata\n", "a space too many");
	refused(MAGIC "rcpt c \nsize 1\ndata\n", "a space too many");
	refused(MAGIC "rcpt c\r\nsize 1\ndata\n", "control byte");
	refused(MAGIC "rcpt a\tb\nsize 1\ndata\n", "control byte");
	refused(MAGIC "rcpt a\x7f\nsize 1\ndata\n", "control byte");
	refused(MAGIC "sender a\nrcpt c\nsize 1\ndata\r\n", "control byte");
	refused(MAGIC "rcpt\nsize 1\ndata\n", "address missing");
	refused(MAGIC "rcpt <c>\nsize 1\ndata\n", "bad address");
	refused(MAGIC "rcpt <>\nsize 1\ndata\n", "bad address");
	refused(MAGIC "rcpt -oQ/tmp\nsize 1\ndata\n", "bad address");
	refused(MAGIC "rcpt c@\nsize 1\ndata\n", "bad address");
	refused(MAGIC "rcpt c\nsize 01\ndata\n", "bad size");
	refused(MAGIC "rcpt c\nsize -1\ndata\n", "bad size");
	refused(MAGIC "rcpt c\nsize 1x\ndata\n", "bad size");
	refused(MAGIC "rcpt c\nsize\ndata\n", "bad size");
	refused(MAGIC "rcpt c\nsize 18446744073709551616\ndata\n",
	    "bad size");
	refused(MAGIC "rcpt c\nnotify never,success\nsize 1\ndata\n",
	    "bad notify");
	refused(MAGIC "rcpt c\nnotify success,success\nsize 1\ndata\n",
	    "bad notify");
	refused(MAGIC "rcpt c\nnotify success,\nsize 1\ndata\n",
	    "bad notify");
	refused(MAGIC "rcpt c\nnotify SUCCESS\nsize 1\ndata\n", "bad notify");
	refused(MAGIC "rcpt c\nret all\nsize 1\ndata\n", "bad ret");
	refused(MAGIC "rcpt c\nbody binarymime\nsize 1\ndata\n", "bad body");
	refused(MAGIC "rcpt c\nenvid a+2\nsize 1\ndata\n", "bad envid");
	refused(MAGIC "rcpt c\nenvid a=b\nsize 1\ndata\n", "bad envid");
	refused(MAGIC "rcpt c\nret\nsize 1\ndata\n", "value missing");
	big = malloc(MAILDROP_HEAD_MAX + 100);
	assert_non_null(big);
	/* An address one byte too long. */
	snprintf(big, 1024, MAGIC "rcpt %0*d\nsize 1\ndata\n",
	    MAILDROP_ADDR_MAX + 1, 0);
	refused(big, "address too long");
	free(big);
}

static void
test_too_long(void **state)
{
	struct maildrop_env	 e;
	char			*big, err[256];
	size_t			 n, i;

	(void)state;
	/* Recipients up to MAILDROP_RCPT_MAX, then one more. */
	big = malloc(MAILDROP_HEAD_MAX + 100);
	assert_non_null(big);
	n = (size_t)snprintf(big, 64, MAGIC);
	for (i = 0; i < MAILDROP_RCPT_MAX; i++)
		n += (size_t)snprintf(big + n, 64, "rcpt u%zu\n", i);
	(void)snprintf(big + n, 64, "size 1\ndata\n");
	assert_int_equal(parse(big, &e, err, sizeof(err)), 0);
	assert_int_equal(e.nrcpts, MAILDROP_RCPT_MAX);
	maildrop_env_free(&e);
	(void)snprintf(big + n, 64, "rcpt one-more\nsize 1\ndata\n");
	refused(big, "too many recipients");
	/* A head without its end in the first MAILDROP_HEAD_MAX bytes. */
	n = (size_t)snprintf(big, 64, MAGIC "rcpt a\nnotify ");
	memset(big + n, 'x', MAILDROP_HEAD_MAX + 10 - n);
	big[MAILDROP_HEAD_MAX + 10] = '\0';
	refused(big, "head too long");
	/* A good head within the limit, longer data behind it: parses. */
	n = (size_t)snprintf(big, 64, MAGIC "rcpt a\nsize 9\ndata\n");
	memset(big + n, 'x', MAILDROP_HEAD_MAX + 10 - n);
	assert_int_equal(parse(big, &e, err, sizeof(err)), 0);
	assert_int_equal(e.data_off, n);
	maildrop_env_free(&e);
	free(big);
}

/* The content in pieces of step octets; the result of the whole. */
static int
check(const char *data, size_t step, char *err, size_t errlen)
{
	struct maildrop_check	st;
	size_t			len = strlen(data), i, n;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		if (maildrop_check_content(&st, data + i, n, err, errlen) ==
		    -1)
			return -1;
	}
	return maildrop_check_end(&st, err, errlen);
}

static void
content(const char *data, const char *want)
{
	char	err[256] = "";
	size_t	step;

	for (step = 1; step <= 3; step++) {
		if (want == NULL && check(data, step, err, sizeof(err)) != 0)
			fail_msg("step %zu: refused (%s): %s", step, err,
			    data);
		if (want != NULL && (check(data, step, err, sizeof(err)) !=
		    -1 || strstr(err, want) == NULL))
			fail_msg("step %zu: expected '%s', got '%s'", step,
			    want, err);
	}
}

static void
test_content(void **state)
{
	struct maildrop_check	st;
	char			line[1100], err[128];

	(void)state;
	content("", NULL);
	content("a\r\n\r\nb\xc3\xa9\r\n", NULL);
	content("a\nb\r\n", "bare LF");
	content("a\rb\r\n", "bare CR");
	content("a\r\r\n", "bare CR");
	content("a\r\nb", "does not end in CRLF");
	content("a\r\nb\r", "does not end in CRLF");
	memset(line, 'x', 998);
	memcpy(line + 998, "\r\n", 3);
	content(line, NULL);
	memset(line, 'x', 999);
	memcpy(line + 999, "\r\n", 3);
	content(line, "over 998");
	memset(&st, 0, sizeof(st));
	assert_int_equal(maildrop_check_content(&st, "a\0b\r\n", 5, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_content),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
