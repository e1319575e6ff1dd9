/*
 * test_dataread.c - unit tests of smtpd/dataread.c, the DATA reader.
 *
 * Every input is fed three ways (at once, byte by byte, and in random
 * chunk sizes with fixed seeds), and all three must give the same output,
 * flags and end position.  Covered: dot-unstuffing, the end marker split
 * at every position, every SMTP smuggling form (none may end the data,
 * all mark it bad), NUL bytes, the size limit, and random messages that
 * must come out byte-exact.
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
#include "common/log.h"
#include "smtpd/dataread.h"

struct result {
	struct buf	out;
	size_t		used;		/* input bytes consumed */
	int		done;
	int		flags;
	uint64_t	size;
};

enum feed_mode { FEED_ALL, FEED_BYTES, FEED_RANDOM };

/* Feeds in[0..len) in the given way until the reader stops. */
static void
feed(const char *in, size_t len, uint64_t max, enum feed_mode mode,
    unsigned seed, struct result *res)
{
	struct dataread	dr;
	size_t		off = 0, n, used;

	buf_init(&res->out);
	dataread_init(&dr, max);
	srand(seed);
	while (off < len && !dr.done) {
		n = len - off;
		if (mode == FEED_BYTES)
			n = 1;
		else if (mode == FEED_RANDOM && n > 1)
			n = 1 + (size_t)rand() % (n < 64 ? n : 64);
		used = dataread_feed(&dr, in + off, n, &res->out);
		assert_true(used <= n);
		if (used < n)
			assert_true(dr.done);
		off += used;
	}
	res->used = off;
	res->done = dr.done;
	res->flags = dr.flags;
	res->size = dr.size;
}

/* Feeds in every way and checks that all agree; the first result stays
 * in *res (its buffer to be freed by the caller). */
static void
feed_all_ways(const char *in, size_t len, uint64_t max, struct result *res)
{
	struct result	other;
	unsigned	seed;

	feed(in, len, max, FEED_ALL, 0, res);
	for (seed = 0; seed < 40; seed++) {
		feed(in, len, max, seed == 0 ? FEED_BYTES : FEED_RANDOM, seed,
		    &other);
		if (other.used != res->used || other.done != res->done ||
		    other.flags != res->flags || other.out.len != res->out.len ||
		    memcmp(other.out.data, res->out.data, res->out.len) != 0)
			fail_msg("seed %u: fed in pieces: used %zu done %d flags "
			    "%d out %zu bytes; at once: used %zu done %d flags %d "
			    "out %zu bytes", seed, other.used, other.done,
			    other.flags, other.out.len, res->used, res->done,
			    res->flags, res->out.len);
		buf_free(&other.out);
	}
}

static void
expect_message(const char *in, size_t inlen, const char *want,
    size_t wantlen)
{
	struct result	res;

	feed_all_ways(in, inlen, 0, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.used, inlen);
	if (res.out.len != wantlen || memcmp(res.out.data, want, wantlen) != 0)
		fail_msg("expected %zu bytes \"%s\", got %zu bytes \"%s\"",
		    wantlen, want, res.out.len, res.out.data);
	assert_int_equal(res.size, wantlen);
	buf_free(&res.out);
}

#define EXPECT(in, want) \
	expect_message(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void
test_normal(void **state)
{
	(void)state;
	EXPECT("Subject: hi\r\n\r\nbody\r\n.\r\n",
	    "Subject: hi\r\n\r\nbody\r\n");
	EXPECT(".\r\n", "");
	EXPECT("\r\n.\r\n", "\r\n");
	EXPECT("a\r\n\r\n\r\n.\r\n", "a\r\n\r\n\r\n");
}

static void
test_dot_stuffing(void **state)
{
	(void)state;
	EXPECT("..\r\n.\r\n", ".\r\n");
	EXPECT("...\r\n.\r\n", "..\r\n");
	EXPECT("..leading dot\r\nmid.dle\r\n.\r\n",
	    ".leading dot\r\nmid.dle\r\n");
	EXPECT("a\r\n..\r\n.\r\n", "a\r\n.\r\n");
	/* RFC 5321 4.5.2: a leading dot is removed from any line. */
	EXPECT(".x\r\n.\r\n", "x\r\n");
	EXPECT("line.\r\n.\r\n", "line.\r\n");
	EXPECT("x\r\n. \r\n.\r\n", "x\r\n \r\n");
}

/* Bytes after the end marker are the next command's. */
static void
test_stops_after_marker(void **state)
{
	static const char	in[] = "body\r\n.\r\nQUIT\r\n";
	struct result		res;

	(void)state;
	feed_all_ways(in, sizeof(in) - 1, 0, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, sizeof(in) - 1 - 6);
	assert_int_equal(res.out.len, 6);
	assert_memory_equal(res.out.data, "body\r\n", 6);
	buf_free(&res.out);
}

/* The marker split between two feeds at every position. */
static void
test_marker_split(void **state)
{
	static const char	in[] = "abc\r\n.\r\n";
	size_t			len = sizeof(in) - 1, cut, used;
	struct dataread		dr;
	struct buf		out;

	(void)state;
	for (cut = 0; cut <= len; cut++) {
		buf_init(&out);
		dataread_init(&dr, 0);
		used = dataread_feed(&dr, in, cut, &out);
		assert_int_equal(used, cut);
		if (cut < len)
			assert_int_equal(dr.done, 0);
		used = dataread_feed(&dr, in + cut, len - cut, &out);
		assert_int_equal(used, len - cut);
		assert_int_equal(dr.done, 1);
		assert_int_equal(dr.flags, 0);
		assert_int_equal(out.len, 5);
		assert_memory_equal(out.data, "abc\r\n", 5);
		buf_free(&out);
	}
}

/*
 * Each smuggling form inside a body, followed by smuggled commands, then
 * the real end.  The data must end exactly at the real marker and be
 * marked bad.
 */
static void
test_smuggling(void **state)
{
	static const char *const forms[] = {
		"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r",
		"\r.\n", "\n.\r", ".\n", "\n", "\r", "\r\r\n", "\n\r\n",
		"\r\n.\r\r\n", "\r\n.\n\r\n",
	};
	static const char	head[] = "Subject: x\r\n\r\nbody";
	static const char	smuggled[] = "MAIL FROM:<evil@example.net>\r\n"
	    "RCPT TO:<victim@example.org>\r\nDATA\r\nevil\r\n";
	static const char	tail[] = "\r\n.\r\n";
	struct result		res;
	struct buf		in;
	size_t			i, upto;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		buf_init(&in);
		buf_addstr(&in, head);
		buf_addstr(&in, forms[i]);
		buf_addstr(&in, smuggled);
		upto = in.len;
		buf_addstr(&in, tail);
		feed_all_ways(in.data, in.len, 0, &res);
		if (!res.done || res.used != in.len)
			fail_msg("form %zu: data ended at %zu of %zu (done %d)",
			    i, res.used, in.len, res.done);
		if (!(res.flags & DATAREAD_BARE))
			fail_msg("form %zu: not marked bad", i);
		buf_free(&res.out);
		/* Up to just before the real marker, it must not end. */
		feed_all_ways(in.data, upto, 0, &res);
		if (res.done)
			fail_msg("form %zu: ended early at %zu", i, res.used);
		buf_free(&res.out);
		buf_free(&in);
	}
}

/* A bare CR or LF anywhere, also right at the start, marks the message. */
static void
test_bare_line_endings(void **state)
{
	static const char *const msgs[] = {
		"\n.\r\n\r\n.\r\n", "\r.\r\n\r\n.\r\n", "a\nb\r\n.\r\n",
		"a\rb\r\n.\r\n", "a\r\r\n.\r\n", ".\r\r\n.\r\n",
		".\n\r\n.\r\n", "x\r\n.\rx\r\n.\r\n",
	};
	struct result	res;
	size_t		i, len;

	(void)state;
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		len = strlen(msgs[i]);
		feed_all_ways(msgs[i], len, 0, &res);
		if (!res.done || res.used != len || res.flags != DATAREAD_BARE)
			fail_msg("message %zu: done %d used %zu of %zu flags %d",
			    i, res.done, res.used, len, res.flags);
		buf_free(&res.out);
	}
}

static void
test_nul(void **state)
{
	static const char	in[] = "a\0b\r\n\0\r\n.\r\n";
	struct result		res;

	(void)state;
	feed_all_ways(in, sizeof(in) - 1, 0, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, sizeof(in) - 1);
	assert_int_equal(res.flags, DATAREAD_NUL);
	buf_free(&res.out);
}

static void
test_size_limit(void **state)
{
	static const char	exact[] = "0123456789\r\n.\r\n";
	static const char	over[] = "0123456789\r\n0123456789\r\n.\r\n";
	struct result		res;

	(void)state;
	feed_all_ways(exact, sizeof(exact) - 1, 12, &res);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, 12);
	buf_free(&res.out);

	feed_all_ways(over, sizeof(over) - 1, 12, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, sizeof(over) - 1);
	assert_int_equal(res.flags, DATAREAD_SIZE);
	assert_int_equal(res.size, 24);
	assert_true(res.out.len <= 12);
	buf_free(&res.out);
}

/* Several problems at once are all reported; reading still ends at the
 * one marker. */
static void
test_combined(void **state)
{
	static const char	in[] = "a\nb\0c0123456789\r\n.\r\n";
	struct result		res;

	(void)state;
	feed_all_ways(in, sizeof(in) - 1, 8, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, sizeof(in) - 1);
	assert_int_equal(res.flags,
	    DATAREAD_BARE | DATAREAD_NUL | DATAREAD_SIZE);
	buf_free(&res.out);
}

/* One random line: printable, 8-bit and dots, never CR, LF or NUL. */
static void
random_line(struct buf *b)
{
	size_t	n = (size_t)rand() % 120, i;
	char	c;

	for (i = 0; i < n; i++) {
		switch (rand() % 8) {
		case 0:
			c = '.';
			break;
		case 1:
			c = (char)(0x80 + rand() % 0x80);
			break;
		default:
			c = (char)(0x20 + rand() % 0x5f);
			break;
		}
		buf_addch(b, c);
	}
}

/* Random messages, stuffed as a client would, come out byte-exact. */
static void
test_byte_exact(void **state)
{
	struct buf	msg, wire, line;
	struct result	res;
	int		round, nlines, i;

	(void)state;
	for (round = 0; round < 60; round++) {
		srand((unsigned)round * 7919u + 1);
		buf_init(&msg);
		buf_init(&wire);
		buf_init(&line);
		nlines = rand() % 200;
		for (i = 0; i < nlines; i++) {
			buf_reset(&line);
			random_line(&line);
			buf_add(&msg, line.data, line.len);
			buf_add(&msg, "\r\n", 2);
			if (line.len > 0 && line.data[0] == '.')
				buf_addch(&wire, '.');
			buf_add(&wire, line.data, line.len);
			buf_add(&wire, "\r\n", 2);
		}
		buf_addstr(&wire, ".\r\n");
		feed_all_ways(wire.data, wire.len, 0, &res);
		assert_int_equal(res.done, 1);
		assert_int_equal(res.flags, 0);
		assert_int_equal(res.used, wire.len);
		assert_int_equal(res.out.len, msg.len);
		assert_memory_equal(res.out.data, msg.data, msg.len);
		buf_free(&res.out);
		buf_free(&msg);
		buf_free(&wire);
		buf_free(&line);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_stops_after_marker),
		cmocka_unit_test(test_marker_split),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_bare_line_endings),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_byte_exact),
	};

	log_init("test_dataread", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
