/*
 * test_log.c - unit tests of the log relay in common/log.c: lines a child
 * wrote come out whole and in order, control bytes made '?'; the relay is
 * drained before each of the process's own lines; a partial line waits
 * for its end, and is passed on at the end of the pipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Everything that came out so far, without the time stamps' variance:
 * the text after "]: " for own lines, the line itself for relayed ones. */
static void
drain(int fd, char *out, size_t size)
{
	ssize_t	n;
	size_t	len = strlen(out);

	while (len + 1 < size &&
	    (n = read(fd, out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
}

static void
test_relay(void **state)
{
	int	in[2], out[2];
	char	got[8192] = "";
	const char *own;

	(void)state;
	assert_int_equal(pipe2(in, O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	log_set_output(out[1]);
	log_relay_start(in[0]);

	assert_int_equal(write(in[1], "one\ntw\033o\npart", 13), 13);
	assert_int_equal(log_relay_read(), 1);
	drain(out[0], got, sizeof(got));
	assert_string_equal(got, "one\ntw?o\n");

	/* The rest of the partial line and another: drained before our own. */
	assert_int_equal(write(in[1], "ial\nthree\n", 10), 10);
	log_info("own line");
	drain(out[0], got, sizeof(got));
	own = strstr(got, "strictmail/test[");
	assert_non_null(own);
	assert_memory_equal(got, "one\ntw?o\npartial\nthree\n", 23);
	/* Then our own line, time-stamped, and nothing else. */
	assert_true(own > got + 23 && memchr(got + 23, '\n', (size_t)(own -
	    (got + 23))) == NULL);
	assert_string_equal(strstr(own, "]: "), "]: own line\n");

	/* The writer goes away in the middle of a line. */
	assert_int_equal(write(in[1], "last", 4), 4);
	close(in[1]);
	assert_int_equal(log_relay_read(), 0);
	got[0] = '\0';
	drain(out[0], got, sizeof(got));
	assert_string_equal(got, "last\n");
	log_relay_end();
	assert_int_equal(log_relay_read(), 0);
	close(out[0]);
	close(out[1]);
}

static void
test_long_line_cut(void **state)
{
	int	in[2], out[2];
	char	big[3 * 4096], got[4 * 4096] = "";

	(void)state;
	assert_int_equal(pipe2(in, O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	fcntl(out[1], F_SETPIPE_SZ, 65536);
	log_set_output(out[1]);
	log_relay_start(in[0]);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(in[1], big, sizeof(big)), (ssize_t)sizeof(big));
	close(in[1]);
	log_relay_end();
	drain(out[0], got, sizeof(got));
	/* Every byte came through, in lines of at most 4096 with newline. */
	{
		size_t	i, x = 0, run = 0;

		for (i = 0; got[i] != '\0'; i++) {
			if (got[i] == 'x') {
				x++;
				run++;
				assert_true(run <= 4096);
			} else {
				assert_int_equal(got[i], '\n');
				run = 0;
			}
		}
		assert_int_equal(x, sizeof(big));
		assert_int_equal(got[i - 1], '\n');
	}
	close(out[0]);
	close(out[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_long_line_cut),
	};

	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
