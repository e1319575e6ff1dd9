/*
 * test_log.c - unit tests of the log relay in common/log.c: lines a child
 * wrote come out whole and in order, control bytes made '?'; the relay is
 * drained before each of the process's own lines; a partial line waits
 * for its end, and is passed on at the end of the pipe.  A child writes
 * "<severity>" and its foreground line to the pipe; the relay (foreground)
 * passes on the foreground line alone.  The relay writes to stderr, which
 * the tests point at a pipe of their own.
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

/* Points stderr (where the relay writes) at fd; returns the old one. */
static int
stderr_to(int fd)
{
	int	saved = dup(STDERR_FILENO);

	assert_int_not_equal(saved, -1);
	assert_int_not_equal(dup2(fd, STDERR_FILENO), -1);
	return saved;
}

static void
stderr_back(int saved)
{
	if (saved == -1)
		return;
	assert_int_not_equal(dup2(saved, STDERR_FILENO), -1);
	close(saved);
}

static void
test_relay(void **state)
{
	int	in[2], out[2], saved;
	char	got[8192] = "";
	const char *own;

	(void)state;
	assert_int_equal(pipe2(in, O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	saved = stderr_to(out[1]);
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
	stderr_back(saved);
	close(out[0]);
	close(out[1]);
}

static void
test_long_line_cut(void **state)
{
	int	in[2], out[2], saved;
	char	big[3 * 4096], got[4 * 4096] = "";

	(void)state;
	assert_int_equal(pipe2(in, O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	fcntl(out[1], F_SETPIPE_SZ, 65536);
	saved = stderr_to(out[1]);
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
	stderr_back(saved);
	close(out[0]);
	close(out[1]);
}

/* A child's own line: "<severity>" and the foreground line, in one write. */
static void
test_child_framed(void **state)
{
	int	out[2];
	char	got[8192] = "", want[64];
	const char *p;

	(void)state;
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	log_set_output(out[1]);
	log_warnx("child line\001");
	drain(out[0], got, sizeof(got));
	/* <4>2026-11-28T10:15:02Z strictmail/test[pid]: child line?\n */
	assert_memory_equal(got, "<4>", 3);
	assert_int_equal(got[3 + 20], ' ');
	(void)snprintf(want, sizeof(want), " strictmail/test[%ld]: child line?\n",
	    (long)getpid());
	p = strstr(got, " strictmail/");
	assert_non_null(p);
	assert_string_equal(p, want);
	close(out[0]);
	close(out[1]);
	log_set_output(-1);	/* back to a process of its own */
}

/* The relay strips the severity of a child's line, passes others as they
 * are (a forged or broken frame included). */
static void
test_relay_framed(void **state)
{
	static const char lines[] =
	    "<6>2026-11-28T10:15:02Z strictmail/smtpd[42]: session=1 ok\n"
	    "<9>2026-11-28T10:15:02Z strictmail/smtpd[42]: bad severity\n"
	    "<3>2026-11-28T10:15:02Z strictmail/smtpd[x]: bad pid\n"
	    "ERROR: AddressSanitizer: report\n";
	int	in[2], out[2], saved;
	char	got[8192] = "";

	(void)state;
	assert_int_equal(pipe2(in, O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	saved = stderr_to(out[1]);
	log_relay_start(in[0]);
	assert_int_equal(write(in[1], lines, sizeof(lines) - 1),
	    (ssize_t)sizeof(lines) - 1);
	close(in[1]);
	log_relay_end();
	drain(out[0], got, sizeof(got));
	assert_string_equal(got,
	    "2026-11-28T10:15:02Z strictmail/smtpd[42]: session=1 ok\n"
	    "<9>2026-11-28T10:15:02Z strictmail/smtpd[42]: bad severity\n"
	    "<3>2026-11-28T10:15:02Z strictmail/smtpd[x]: bad pid\n"
	    "ERROR: AddressSanitizer: report\n");
	stderr_back(saved);
	close(out[0]);
	close(out[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_long_line_cut),
		cmocka_unit_test(test_child_framed),
		cmocka_unit_test(test_relay_framed),
	};

	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
