/*
 * test_util.c - unit tests of common/util.c and common/buf.c: the number
 * parsers against accept and reject tables (overflow included), the
 * checked string copies, and buffer growth with binary data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"

struct num_case {
	const char	*in;
	int		 ok;
	uint64_t	 want;
};

static void
check_table(const char *what, int (*fn)(const char *, uint64_t *),
    const struct num_case *tab, size_t n)
{
	uint64_t	v;
	size_t		i;
	int		rc;

	for (i = 0; i < n; i++) {
		v = 12345;
		rc = fn(tab[i].in, &v);
		if (tab[i].ok && (rc != 0 || v != tab[i].want))
			fail_msg("%s(\"%s\"): expected %" PRIu64 ", got rc %d "
			    "value %" PRIu64, what, tab[i].in, tab[i].want, rc,
			    v);
		if (!tab[i].ok && rc != -1)
			fail_msg("%s(\"%s\"): expected rejection, got rc %d "
			    "value %" PRIu64, what, tab[i].in, rc, v);
		if (!tab[i].ok && v != 12345)
			fail_msg("%s(\"%s\"): rejected but wrote the result",
			    what, tab[i].in);
	}
}

static int
parse_u64_any(const char *s, uint64_t *out)
{
	return parse_u64(s, 0, UINT64_MAX, out);
}

static void
test_parse_u64(void **state)
{
	static const struct num_case tab[] = {
		{ "0", 1, 0 },
		{ "7", 1, 7 },
		{ "000123", 1, 123 },
		{ "4294967296", 1, 4294967296ULL },
		{ "18446744073709551615", 1, UINT64_MAX },
		{ "18446744073709551616", 0, 0 },
		{ "18446744073709551620", 0, 0 },
		{ "99999999999999999999999", 0, 0 },
		{ "", 0, 0 },
		{ "-1", 0, 0 },
		{ "+1", 0, 0 },
		{ " 1", 0, 0 },
		{ "1 ", 0, 0 },
		{ "1\n", 0, 0 },
		{ "1a", 0, 0 },
		{ "a1", 0, 0 },
		{ "0x10", 0, 0 },
		{ "1.5", 0, 0 },
		{ "1k", 0, 0 },
	};
	uint64_t	v = 0;

	(void)state;
	check_table("parse_u64", parse_u64_any, tab, sizeof(tab) / sizeof(tab[0]));
	assert_int_equal(parse_u64("10", 10, 20, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_u64("20", 10, 20, &v), 0);
	assert_int_equal(v, 20);
	assert_int_equal(parse_u64("9", 10, 20, &v), -1);
	assert_int_equal(parse_u64("21", 10, 20, &v), -1);
	assert_int_equal(parse_u64(NULL, 0, 1, &v), -1);
}

static void
test_parse_size(void **state)
{
	static const struct num_case tab[] = {
		{ "0", 1, 0 },
		{ "1", 1, 1 },
		{ "1000", 1, 1000 },
		{ "10k", 1, 10240 },
		{ "10K", 1, 10240 },
		{ "1m", 1, 1048576 },
		{ "35M", 1, 35ULL * 1048576 },
		{ "2g", 1, 2ULL << 30 },
		{ "2G", 1, 2ULL << 30 },
		{ "0G", 1, 0 },
		{ "18014398509481983k", 1, UINT64_MAX - 1023 },
		{ "18014398509481984k", 0, 0 },
		{ "17179869183G", 1, UINT64_MAX - ((1ULL << 30) - 1) },
		{ "17179869184G", 0, 0 },
		{ "18446744073709551615", 1, UINT64_MAX },
		{ "18446744073709551616", 0, 0 },
		{ "", 0, 0 },
		{ "k", 0, 0 },
		{ "M", 0, 0 },
		{ "10kb", 0, 0 },
		{ "10kk", 0, 0 },
		{ "10 k", 0, 0 },
		{ " 10k", 0, 0 },
		{ "-1k", 0, 0 },
		{ "+1k", 0, 0 },
		{ "10T", 0, 0 },
		{ "10b", 0, 0 },
		{ "1.5M", 0, 0 },
	};

	(void)state;
	check_table("parse_size", parse_size, tab, sizeof(tab) / sizeof(tab[0]));
}

static void
test_parse_duration(void **state)
{
	static const struct num_case tab[] = {
		{ "0", 1, 0 },
		{ "30", 1, 30 },
		{ "90s", 1, 90 },
		{ "5m", 1, 300 },
		{ "4h", 1, 14400 },
		{ "2d", 1, 172800 },
		{ "213503982334601d", 1, 213503982334601ULL * 86400 },
		{ "213503982334602d", 0, 0 },
		{ "5124095576030431h", 1, 5124095576030431ULL * 3600 },
		{ "5124095576030432h", 0, 0 },
		{ "18446744073709551615s", 1, UINT64_MAX },
		{ "18446744073709551616s", 0, 0 },
		{ "", 0, 0 },
		{ "s", 0, 0 },
		{ "5x", 0, 0 },
		{ "5ms", 0, 0 },
		{ "5S", 0, 0 },
		{ "5M", 0, 0 },
		{ " 5m", 0, 0 },
		{ "5m ", 0, 0 },
		{ "-5m", 0, 0 },
		{ "5w", 0, 0 },
	};

	(void)state;
	check_table("parse_duration", parse_duration, tab,
	    sizeof(tab) / sizeof(tab[0]));
}

static void
test_strlcpy(void **state)
{
	char	dst[8];

	(void)state;
	assert_int_equal(strlcpy(dst, "hello", sizeof(dst)), 5);
	assert_string_equal(dst, "hello");
	assert_int_equal(strlcpy(dst, "1234567", sizeof(dst)), 7);
	assert_string_equal(dst, "1234567");
	/* Truncation: the return value is the length it tried to create. */
	assert_int_equal(strlcpy(dst, "hello world", sizeof(dst)), 11);
	assert_string_equal(dst, "hello w");
	memcpy(dst, "XXXXXXX", 8);
	assert_int_equal(strlcpy(dst, "abc", 0), 3);
	assert_string_equal(dst, "XXXXXXX");
	assert_int_equal(strlcpy(dst, "", sizeof(dst)), 0);
	assert_string_equal(dst, "");
}

static void
test_strlcat(void **state)
{
	char	dst[8];

	(void)state;
	strlcpy(dst, "ab", sizeof(dst));
	assert_int_equal(strlcat(dst, "cd", sizeof(dst)), 4);
	assert_string_equal(dst, "abcd");
	assert_int_equal(strlcat(dst, "efghij", sizeof(dst)), 10);
	assert_string_equal(dst, "abcdefg");
	assert_int_equal(strlcat(dst, "xy", sizeof(dst)), 9);
	assert_string_equal(dst, "abcdefg");
	/* An unterminated destination: nothing is written. */
	memcpy(dst, "12345678", 8);
	assert_int_equal(strlcat(dst, "z", 4), 5);
	assert_memory_equal(dst, "12345678", 8);
}

static void
test_bsnprintf(void **state)
{
	char	b[6];

	(void)state;
	assert_int_equal(bsnprintf(b, sizeof(b), "%s", "hello"), 1);
	assert_string_equal(b, "hello");
	assert_int_equal(bsnprintf(b, sizeof(b), "%d-%d", 12, 34), 1);
	assert_string_equal(b, "12-34");
	assert_int_equal(bsnprintf(b, sizeof(b), "%s", "hello!"), 0);
	assert_string_equal(b, "hello");
	assert_int_equal(bsnprintf(b, sizeof(b), "%s", ""), 1);
	assert_string_equal(b, "");
	assert_int_equal(bsnprintf(b, 0, "x"), 0);
}

static void
test_xalloc(void **state)
{
	char	*p, *q;
	int	*a;

	(void)state;
	p = xstrdup("strictmail");
	assert_string_equal(p, "strictmail");
	q = xstrndup(p, 6);
	assert_string_equal(q, "strict");
	free(p);
	free(q);
	q = xstrndup("ab", 10);
	assert_string_equal(q, "ab");
	free(q);
	a = xcalloc(10, sizeof(int));
	assert_int_equal(a[9], 0);
	a = xreallocarray(a, 1000, sizeof(int));
	a[999] = 7;
	free(a);
	free(xmalloc(0));
}

static void
test_str_lower(void **state)
{
	char	s[] = "MiXeD.Example-COM 09@Z";

	(void)state;
	assert_string_equal(str_lower(s), "mixed.example-com 09@z");
}

static void
test_fd_helpers(void **state)
{
	int		p[2];
	char		big[200000], back[sizeof(big)];
	size_t		got = 0;
	ssize_t		n;
	uint64_t	t0, t1;
	pid_t		pid;
	int		status;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fd_set_nonblock(p[0]), 0);
	assert_int_equal(fd_set_cloexec(p[0]), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	/* write_all of more than a pipe holds, drained by a child. */
	memset(big, 'x', sizeof(big));
	big[12345] = '\0';
	fflush(NULL);	/* no stdio buffer is written twice */
	if ((pid = fork()) == 0) {
		close(p[0]);
		_exit(write_all(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(p[1]);
	while (got < sizeof(back)) {
		n = read(p[0], back + got, sizeof(back) - got);
		if (n == -1 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(big, back, sizeof(big));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	t0 = now_ms();
	usleep(20000);
	t1 = now_ms();
	assert_true(t1 >= t0 + 15);
}

static void
test_buf_binary_growth(void **state)
{
	struct buf	b;
	uint8_t		chunk[1000];
	size_t		i, j;

	(void)state;
	buf_init(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i % 7 == 0 ? 0 : i);
	for (i = 0; i < 300; i++) {
		chunk[0] = (uint8_t)i;
		buf_add(&b, chunk, sizeof(chunk));
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	assert_int_equal(b.len, 300 * sizeof(chunk));
	for (i = 0; i < 300; i++) {
		const uint8_t *p = (const uint8_t *)b.data + i * sizeof(chunk);

		assert_int_equal(p[0], (uint8_t)i);
		for (j = 1; j < sizeof(chunk); j++)
			if (p[j] != chunk[j])
				fail_msg("byte %zu of chunk %zu: expected %u, "
				    "got %u", j, i, chunk[j], p[j]);
	}
	buf_consume(&b, 299 * sizeof(chunk) + 1);
	assert_int_equal(b.len, sizeof(chunk) - 1);
	assert_memory_equal(b.data, chunk + 1, sizeof(chunk) - 1);
	assert_int_equal(b.data[b.len], '\0');
	buf_consume(&b, b.len);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
}

static void
test_buf_text(void **state)
{
	struct buf	b;
	char		big[5000];

	(void)state;
	memset(&b, 0, sizeof(b));	/* a zero-filled buf is valid */
	buf_addstr(&b, "250");
	buf_addch(&b, '-');
	buf_printf(&b, "%s %d", "ok", 42);
	assert_string_equal(b.data, "250-ok 42");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, 9 + 2 + sizeof(big) - 1);
	assert_int_equal(b.data[9], '[');
	assert_int_equal(b.data[b.len - 1], ']');
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_reserve(&b, 100000);
	assert_true(b.cap >= 100001);
	buf_add(&b, "", 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	buf_free(&b);
}

/* Runs one log call with stderr on a pipe and returns what came out. */
static size_t
capture_log(const char *text, char *out, size_t outsize)
{
	int	p[2], saved;
	ssize_t	n;

	assert_int_equal(pipe(p), 0);
	fcntl(p[0], F_SETPIPE_SZ, 65536);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	log_info("x %s y", text);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, outsize - 1);
	close(p[0]);
	assert_true(n > 0);
	out[n] = '\0';
	return (size_t)n;
}

static void
test_log_lines(void **state)
{
	static char	out[16384], big[10000];
	size_t		n;

	(void)state;
	log_init("unit", 1, 0);
	n = capture_log("evil\r\n2026 strictmail/smtpd[1]: forged\x1b\x7f", out,
	    sizeof(out));
	assert_non_null(strstr(out, " strictmail/unit["));
	assert_non_null(strstr(out, "]: x evil??2026 strictmail/smtpd[1]: "
	    "forged?? y\n"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
	/* An overlong line is cut, still as one line. */
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = capture_log(big, out, sizeof(out));
	assert_true(n < 4096 + 128);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_strlcat),
		cmocka_unit_test(test_bsnprintf),
		cmocka_unit_test(test_xalloc),
		cmocka_unit_test(test_str_lower),
		cmocka_unit_test(test_fd_helpers),
		cmocka_unit_test(test_buf_binary_growth),
		cmocka_unit_test(test_buf_text),
		cmocka_unit_test(test_log_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
