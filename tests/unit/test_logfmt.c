/*
 * test_logfmt.c - unit tests of common/logfmt.c: safe values stay bare;
 * hostile ones (spaces, quotes, backslashes, '=', forged fields, CR, LF,
 * NUL, escape sequences, non-ASCII) are quoted and escaped so that a line
 * holds '=' only after a real key and no control octet; every output
 * decodes back to its input; values too long are cut with "..." and stay
 * well formed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/logfmt.h"

static void
check(const char *in, const char *want)
{
	char	out[LOGFMT_SIZE(256)];

	assert_string_equal(logfmt_value(out, sizeof(out), in), want);
}

static void
test_bare(void **state)
{
	(void)state;
	check("client.test", "client.test");
	check("<sender@example.org>", "<sender@example.org>");
	check("<>", "<>");
	check("[192.0.2.1]", "[192.0.2.1]");
	check("a'b!c#d$e%f&g(h)i*j+k,l-m/n:o;p<q>r?s@t[u]v^w_x`y{z|}~",
	    "a'b!c#d$e%f&g(h)i*j+k,l-m/n:o;p<q>r?s@t[u]v^w_x`y{z|}~");
}

static void
test_hostile(void **state)
{
	(void)state;
	check("", "\"\"");
	check("a b", "\"a b\"");
	check("<\"a b client=6.6.6.6\"@example.org>",
	    "\"<\\\"a b client\\x3d6.6.6.6\\\"@example.org>\"");
	check("x=1", "\"x\\x3d1\"");
	check("back\\slash", "\"back\\\\slash\"");
	check("cr\rlf\nend", "\"cr\\x0dlf\\x0aend\"");
	check("tab\there", "\"tab\\x09here\"");
	check("esc\033[31m", "\"esc\\x1b[31m\"");
	check("del\x7f", "\"del\\x7f\"");
	check("caf\xc3\xa9", "\"caf\\xc3\\xa9\"");
	check("\"", "\"\\\"\"");
	check("\" client=6.6.6.6 x=\"",
	    "\"\\\" client\\x3d6.6.6.6 x\\x3d\\\"\"");
}

static void
test_nul(void **state)
{
	char	out[64];

	(void)state;
	assert_string_equal(logfmt_mem(out, sizeof(out), "a\0b", 3),
	    "\"a\\x00b\"");
	assert_string_equal(logfmt_mem(out, sizeof(out), "", 0), "\"\"");
}

/* Decodes a logfmt value back; returns its length or -1 if malformed. */
static int
decode(const char *v, unsigned char *out)
{
	size_t	i, n = 0, len = strlen(v);
	char	hex[3] = "";

	if (len == 0 || v[0] != '"') {
		memcpy(out, v, len);
		return (int)len;
	}
	if (len < 2 || v[len - 1] != '"')
		return -1;
	for (i = 1; i < len - 1; i++) {
		if (v[i] == '"')
			return -1;
		if (v[i] != '\\') {
			out[n++] = (unsigned char)v[i];
			continue;
		}
		if (v[i + 1] == '"' || v[i + 1] == '\\') {
			out[n++] = (unsigned char)v[++i];
			continue;
		}
		if (v[i + 1] != 'x' || i + 3 >= len - 1 + 1)
			return -1;
		memcpy(hex, v + i + 2, 2);
		out[n++] = (unsigned char)strtoul(hex, NULL, 16);
		i += 3;
	}
	return (int)n;
}

/* Every octet value, at random, round trips; no output holds '=', a
 * control octet or a non-ASCII octet; a quote inside is escaped. */
static void
test_roundtrip(void **state)
{
	unsigned char	in[64], back[64];
	char		out[LOGFMT_SIZE(64)];
	size_t		len, i;
	int		iter;

	(void)state;
	srandom(8);
	for (iter = 0; iter < 20000; iter++) {
		len = (size_t)(random() % 40);
		for (i = 0; i < len; i++)
			in[i] = (unsigned char)(iter < 256 && i == 0 ? iter :
			    random() % 256);
		logfmt_mem(out, sizeof(out), in, len);
		for (i = 0; out[i] != '\0'; i++) {
			assert_true((unsigned char)out[i] >= 0x20 &&
			    (unsigned char)out[i] < 0x7f);
			assert_true(out[i] != '=');
		}
		assert_int_equal(decode(out, back), (int)len);
		assert_memory_equal(back, in, len);
	}
}

/* Cut values are quoted, end in ..." and never split an escape. */
static void
test_cut(void **state)
{
	char	out[16], big[300];

	(void)state;
	assert_string_equal(logfmt_value(out, sizeof(out), "abcdefghijklmnop"),
	    "\"abcdefghij...\"");
	assert_string_equal(logfmt_value(out, sizeof(out), "abcdefghijklmno"),
	    "abcdefghijklmno");
	assert_string_equal(logfmt_value(out, sizeof(out), "a b c d e f g h"),
	    "\"a b c d e ...\"");
	assert_string_equal(logfmt_value(out, sizeof(out), "==========="),
	    "\"\\x3d\\x3d...\"");
	assert_string_equal(logfmt_value(out, sizeof(out), "\"\"\"\"\"\"\"\""),
	    "\"\\\"\\\"\\\"\\\"\\\"...\"");
	assert_string_equal(logfmt_value(out, LOGFMT_MIN, "=xy"), "\"...\"");
	assert_string_equal(logfmt_value(out, LOGFMT_MIN, "=x"), "\"\\x3dx\"");
	memset(big, '=', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	logfmt_value(out, sizeof(out), big);
	assert_string_equal(out, "\"\\x3d\\x3d...\"");
}

/* A line built of hostile fields holds " client=" once: the real one. */
static void
test_line(void **state)
{
	static const char *const hostile[] = {
		"<\"a b client=6.6.6.6\"@example.org>",
		"x client=6.6.6.6",
		"client=6.6.6.6",
		" client=6.6.6.6 ",
		"\\\" client=6.6.6.6",
		"a\r\nJan  1 00:00:00 host strictmail/smtpd[1]: session=1 "
		    "reject client=6.6.6.6",
	};
	struct buf	b;
	const char	*p;
	size_t		i;
	int		n;

	(void)state;
	buf_init(&b);
	buf_addstr(&b, "session=1 reject");
	logfmt_field(&b, "client", "192.0.2.1");
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		logfmt_field(&b, "helo", hostile[i]);
		logfmt_field(&b, "from", hostile[i]);
	}
	logfmt_field_mem(&b, "line", "NUL\0 client=6.6.6.6", 20);
	logfmt_field(&b, "one", "x");
	logfmt_field(&b, "none", "");
	assert_non_null(strstr(b.data, " one=x none=\"\""));
	for (n = 0, p = b.data; (p = strstr(p, "client=")) != NULL; p++)
		n++;
	assert_int_equal(n, 1);
	assert_non_null(strstr(b.data, " client=192.0.2.1 "));
	assert_null(strchr(b.data, '\n'));
	assert_null(strchr(b.data, '\r'));
	assert_int_equal(strlen(b.data), b.len);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
