/*
 * test_sasl.c - unit tests of the AUTH responses (smtpd/sasl.c): base64
 * decoding (padding, bad letters, "="), PLAIN (RFC 4616: authzid empty or
 * the user, two NULs, limits) and LOGIN, and "*" cancelling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtpd/sasl.h"

static void
test_b64(void **state)
{
	unsigned char	out[64];
	size_t		n;

	(void)state;
	assert_int_equal(sasl_b64_decode("YWxpY2U=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "alice", 5);
	assert_int_equal(sasl_b64_decode("YWI=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sasl_b64_decode("YQ==", out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(sasl_b64_decode("YWJj", out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(sasl_b64_decode("=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* Wrong length, bad letters, padding inside, blanks, empty. */
	assert_int_equal(sasl_b64_decode("YWxpY2U", out, sizeof(out), &n), -1);
	assert_int_equal(sasl_b64_decode("YW!p", out, sizeof(out), &n), -1);
	assert_int_equal(sasl_b64_decode("YQ==YWJj", out, sizeof(out), &n),
	    -1);
	assert_int_equal(sasl_b64_decode("YW p", out, sizeof(out), &n), -1);
	assert_int_equal(sasl_b64_decode("", out, sizeof(out), &n), -1);
	assert_int_equal(sasl_b64_decode("A===", out, sizeof(out), &n), -1);
	/* Too long for the buffer. */
	assert_int_equal(sasl_b64_decode("YWJjYWJj", out, 5, &n), -1);
}

static void
test_plain(void **state)
{
	char	user[SASL_USER_MAX + 1], pw[SASL_PASSWORD_MAX + 1];

	(void)state;
	/* "\0alice\0secret" */
	assert_int_equal(sasl_plain("AGFsaWNlAHNlY3JldA==", user, sizeof(user),
	    pw, sizeof(pw)), SASL_OK);
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "secret");
	/* "alice\0alice\0secret": authzid = the user */
	assert_int_equal(sasl_plain("YWxpY2UAYWxpY2UAc2VjcmV0", user,
	    sizeof(user), pw, sizeof(pw)), SASL_OK);
	assert_string_equal(user, "alice");
	/* "bob\0alice\0secret": acting as someone else */
	assert_int_equal(sasl_plain("Ym9iAGFsaWNlAHNlY3JldA==", user,
	    sizeof(user), pw, sizeof(pw)), SASL_AUTHZID);
	assert_string_equal(pw, "");
	/* "\0alice" (one NUL), "\0\0secret" (no user) */
	assert_int_equal(sasl_plain("AGFsaWNl", user, sizeof(user), pw,
	    sizeof(pw)), SASL_BAD_MESSAGE);
	assert_int_equal(sasl_plain("AABzZWNyZXQ=", user, sizeof(user), pw,
	    sizeof(pw)), SASL_BAD_MESSAGE);
	/* "\0alice\0" : an empty password is passed on (it fails later) */
	assert_int_equal(sasl_plain("AGFsaWNlAA==", user, sizeof(user), pw,
	    sizeof(pw)), SASL_OK);
	assert_string_equal(pw, "");
	assert_int_equal(sasl_plain("*", user, sizeof(user), pw, sizeof(pw)),
	    SASL_CANCEL);
	assert_int_equal(sasl_plain("%%%%", user, sizeof(user), pw,
	    sizeof(pw)), SASL_BAD_BASE64);
}

static void
test_plain_limits(void **state)
{
	static const char	b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char			user[SASL_USER_MAX + 1];
	char			pw[SASL_PASSWORD_MAX + 1];
	unsigned char		raw[2048];
	char			text[4096];
	size_t			len, i, o = 0;
	unsigned long		v;

	(void)state;
	/* "\0" + 300 x 'u' + "\0" + "p": the user is too long. */
	len = 0;
	raw[len++] = 0;
	memset(raw + len, 'u', 300);
	len += 300;
	raw[len++] = 0;
	raw[len++] = 'p';
	while (len % 3 != 0)
		raw[len++] = 'p';
	for (i = 0; i < len; i += 3) {
		v = (unsigned long)raw[i] << 16 | (unsigned long)raw[i + 1] << 8 |
		    raw[i + 2];
		text[o++] = b64[(v >> 18) & 63];
		text[o++] = b64[(v >> 12) & 63];
		text[o++] = b64[(v >> 6) & 63];
		text[o++] = b64[v & 63];
	}
	text[o] = '\0';
	assert_int_equal(sasl_plain(text, user, sizeof(user), pw, sizeof(pw)),
	    SASL_BAD_MESSAGE);
	/* Far too long for any user and password. */
	memset(text, 'A', 4000);
	text[4000] = '\0';
	assert_int_equal(sasl_plain(text, user, sizeof(user), pw, sizeof(pw)),
	    SASL_BAD_MESSAGE);
}

static void
test_login(void **state)
{
	char	out[SASL_PASSWORD_MAX + 1];

	(void)state;
	assert_int_equal(sasl_login("YWxpY2U=", out, sizeof(out), 1), SASL_OK);
	assert_string_equal(out, "alice");
	assert_int_equal(sasl_login("=", out, sizeof(out), 1),
	    SASL_BAD_MESSAGE);
	assert_int_equal(sasl_login("=", out, sizeof(out), 0), SASL_OK);
	assert_string_equal(out, "");
	/* "a\0b": a NUL inside */
	assert_int_equal(sasl_login("YQBi", out, sizeof(out), 0),
	    SASL_BAD_MESSAGE);
	assert_int_equal(sasl_login("*", out, sizeof(out), 0), SASL_CANCEL);
	assert_int_equal(sasl_login("YW!j", out, sizeof(out), 0),
	    SASL_BAD_BASE64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_login),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
