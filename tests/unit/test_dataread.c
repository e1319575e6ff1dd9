/*
 * test_dataread.c - unit tests of smtpd/dataread.c, the DATA reader.
 *
 * Every input is fed three ways (at once, byte by byte, and in random
 * chunk sizes with fixed seeds), and all three must give the same output,
 * flags and end position.  Covered: dot-unstuffing, the end marker split
 * at every position, every SMTP smuggling form (none may end the data,
 * all mark it bad), NUL bytes, the size limit, random messages that must
 * come out byte-exact, the line-length limit, the counting of Received:
 * header fields, and chunked mode (BDAT: raw octets, no end marker).
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

/* ---- limits and chunked mode ---- */

struct opts {
	uint64_t	max;
	uint64_t	max_line;
	unsigned	max_received;
	int		chunked;	/* dataread_last after the input */
};

/* Feeds in[0..len) in pieces of random size (seed 0: all at once). */
static void
feed_opts(const char *in, size_t len, const struct opts *o, unsigned seed,
    struct result *res)
{
	struct dataread	dr;
	size_t		off = 0, n;

	buf_init(&res->out);
	dataread_init(&dr, o->max);
	dataread_limits(&dr, o->max_line, o->max_received);
	if (o->chunked)
		dataread_chunked(&dr);
	srand(seed);
	while (off < len && !dr.done) {
		n = len - off;
		if (seed != 0 && n > 1)
			n = 1 + (size_t)rand() % (n < 16 ? n : 16);
		off += dataread_feed(&dr, in + off, n, &res->out);
	}
	if (o->chunked) {
		assert_int_equal(dr.done, 0);
		dataread_last(&dr, &res->out);
	}
	res->used = off;
	res->done = dr.done;
	res->flags = dr.flags;
	res->size = dr.size;
}

/*
 * All ways agree; the first result is returned.  The output of a marked
 * message is thrown away by the driver, so it is compared only when the
 * message is good.
 */
static void
feed_opts_all(const char *in, size_t len, const struct opts *o,
    struct result *res)
{
	struct result	other;
	unsigned	seed;
	int		same;

	feed_opts(in, len, o, 0, res);
	for (seed = 1; seed < 30; seed++) {
		feed_opts(in, len, o, seed, &other);
		same = res->flags != 0 || (other.out.len == res->out.len &&
		    memcmp(other.out.data, res->out.data, res->out.len) == 0);
		if (other.used != res->used || other.done != res->done ||
		    other.flags != res->flags || !same)
			fail_msg("seed %u: in pieces: flags %d out %zu; at once: "
			    "flags %d out %zu", seed, other.flags, other.out.len,
			    res->flags, res->out.len);
		buf_free(&other.out);
	}
}

/* A message with one line of n octets. */
static void
long_line_message(struct buf *b, size_t n)
{
	size_t	i;

	buf_addstr(b, "Subject: long\r\n\r\n");
	for (i = 0; i < n; i++)
		buf_addch(b, (char)('a' + i % 26));
	buf_addstr(b, "\r\nend\r\n.\r\n");
}

/* Lines over 998 octets are kept as they are, up to the hard limit. */
static void
test_line_limit(void **state)
{
	struct opts	o = { 0, 2000, 0, 0 };
	struct result	res;
	struct buf	in;

	(void)state;
	buf_init(&in);
	long_line_message(&in, 1500);
	feed_opts_all(in.data, in.len, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, in.len - 3);
	assert_memory_equal(res.out.data, in.data, in.len - 3);
	buf_free(&res.out);
	buf_reset(&in);
	long_line_message(&in, 2000);		/* exactly the limit */
	feed_opts_all(in.data, in.len, &o, &res);
	assert_int_equal(res.flags, 0);
	buf_free(&res.out);
	buf_reset(&in);
	long_line_message(&in, 2001);		/* one over */
	feed_opts_all(in.data, in.len, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, in.len);
	assert_int_equal(res.flags, DATAREAD_LONG);
	buf_free(&res.out);
	buf_free(&in);
}

/* A stuffed dot does not count; CRLF does not count. */
static void
test_line_limit_counts_content(void **state)
{
	struct opts	o = { 0, 4, 0, 0 };
	struct result	res;

	(void)state;
	feed_opts_all("..abc\r\nabcd\r\n.\r\n", 16, &o, &res);
	assert_int_equal(res.flags, 0);
	buf_free(&res.out);
	feed_opts_all("abcde\r\n.\r\n", 10, &o, &res);
	assert_int_equal(res.flags, DATAREAD_LONG);
	assert_int_equal(res.done, 1);
	buf_free(&res.out);
}

/* Received: fields of the header section, however written. */
static void
test_received_count(void **state)
{
	static const char	three[] =
	    "Received: from a\r\n"
	    "\tby b\r\n"
	    "RECEIVED : from c\r\n"
	    "received:from d\r\n"
	    "X-Received: no\r\n"
	    "Received-SPF: no\r\n"
	    " Received: continuation, no\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "Received: in the body, no\r\n"
	    ".\r\n";
	struct opts		o = { 0, 0, 3, 0 };
	struct result		res;

	(void)state;
	feed_opts_all(three, sizeof(three) - 1, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.flags, DATAREAD_LOOP);
	buf_free(&res.out);
	o.max_received = 4;
	feed_opts_all(three, sizeof(three) - 1, &o, &res);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, sizeof(three) - 1 - 3);
	buf_free(&res.out);
	/* A dot-stuffed header line counts like any other. */
	o.max_received = 1;
	feed_opts_all(".Received: x\r\n\r\n.\r\n", 19, &o, &res);
	assert_int_equal(res.flags, DATAREAD_LOOP);
	buf_free(&res.out);
	/* An empty first line: no header section at all. */
	feed_opts_all("\r\nReceived: x\r\n.\r\n", 18, &o, &res);
	assert_int_equal(res.flags, 0);
	buf_free(&res.out);
}

/* The Message-ID of in, fed at once, byte by byte and in random pieces
 * (chunked: BDAT octets); every way must give want. */
static void
expect_msgid(const char *in, int chunked, const char *want)
{
	struct dataread	dr;
	struct buf	out;
	size_t		off, n, len = strlen(in);
	unsigned	seed;

	for (seed = 0; seed < 20; seed++) {
		buf_init(&out);
		dataread_init(&dr, 0);
		if (chunked)
			dataread_chunked(&dr);
		srand(seed);
		for (off = 0; off < len && !dr.done; off += n) {
			n = seed == 0 ? len - off : seed == 1 ? 1 :
			    1 + (size_t)rand() % 7;
			if (n > len - off)
				n = len - off;
			n = dataread_feed(&dr, in + off, n, &out);
		}
		if (chunked)
			dataread_last(&dr, &out);
		if (strcmp(dr.msgid, want) != 0)
			fail_msg("seed %u: Message-ID '%s', wanted '%s'", seed,
			    dr.msgid, want);
		buf_free(&out);
	}
}

/* The first Message-ID of the header section, unfolded and trimmed; none
 * in the body, none after another field's name; a long one is cut. */
static void
test_message_id(void **state)
{
	char	big[600], want[DATAREAD_MSGID_MAX + 1];

	(void)state;
	expect_msgid("Subject: x\r\nMessage-ID: <a1@b.example>\r\n\r\nhi\r\n"
	    ".\r\n", 0, "<a1@b.example>");
	expect_msgid("message-id:<a2@b>  \r\nMessage-ID: <second@b>\r\n\r\n"
	    ".\r\n", 0, "<a2@b>");
	expect_msgid("MESSAGE-ID :\r\n <a3@\r\n\tb>\r\nTo: c\r\n\r\n.\r\n", 0,
	    "<a3@\tb>");
	expect_msgid(".Message-ID: <stuffed@b>\r\n\r\n.\r\n", 0,
	    "<stuffed@b>");
	expect_msgid("X-Message-ID: <no@b>\r\nMessage-IDs: <no@b>\r\n"
	    "Subject: Message-ID: <no@b>\r\n\r\nMessage-ID: <body@b>\r\n"
	    ".\r\n", 0, "");
	expect_msgid("\r\nMessage-ID: <body@b>\r\n.\r\n", 0, "");
	expect_msgid("Message-ID: <chunk@b>\r\n\r\nbody\r\n", 1,
	    "<chunk@b>");
	expect_msgid("Message-ID: <last@b>", 1, "<last@b>");
	memset(want, 'x', DATAREAD_MSGID_MAX);
	want[0] = '<';
	want[DATAREAD_MSGID_MAX] = '\0';
	(void)snprintf(big, sizeof(big), "Message-ID: <%0500d>\r\n\r\n.\r\n",
	    0);
	memset(want + 1, '0', DATAREAD_MSGID_MAX - 1);
	expect_msgid(big, 0, want);
}

/* 100 Received: fields (the default limit) make a loop; 99 do not. */
static void
test_received_hundred(void **state)
{
	struct opts	o = { 0, 0, 100, 0 };
	struct result	res;
	struct buf	in;
	int		i;

	(void)state;
	buf_init(&in);
	for (i = 0; i < 99; i++)
		buf_printf(&in, "Received: from hop%d.example by x; "
		    "Sat, 28 Nov 2026 20:57:55 +0000\r\n", i);
	buf_addstr(&in, "Subject: loop\r\n\r\nbody\r\n.\r\n");
	feed_opts_all(in.data, in.len, &o, &res);
	assert_int_equal(res.flags, 0);
	buf_free(&res.out);
	buf_reset(&in);
	for (i = 0; i < 100; i++)
		buf_printf(&in, "Received: from hop%d.example\r\n", i);
	buf_addstr(&in, "\r\nbody\r\n.\r\n");
	feed_opts_all(in.data, in.len, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, in.len);
	assert_int_equal(res.flags, DATAREAD_LOOP);
	buf_free(&res.out);
	buf_free(&in);
}

/* BDAT: nothing is unstuffed and nothing ends the message early. */
static void
test_chunked(void **state)
{
	static const char	in[] = "Subject: x\r\n\r\n..dots\r\n.\r\nafter\r\n";
	struct opts		o = { 0, 0, 0, 1 };
	struct result		res;

	(void)state;
	feed_opts_all(in, sizeof(in) - 1, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.used, sizeof(in) - 1);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, sizeof(in) - 1);
	assert_memory_equal(res.out.data, in, sizeof(in) - 1);
	buf_free(&res.out);
	/* An empty message, and a last line without CRLF (it gets one). */
	feed_opts_all("", 0, &o, &res);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.out.len, 0);
	buf_free(&res.out);
	feed_opts_all("a\r\nb", 4, &o, &res);
	assert_int_equal(res.flags, 0);
	assert_int_equal(res.out.len, 6);
	assert_memory_equal(res.out.data, "a\r\nb\r\n", 6);
	buf_free(&res.out);
}

/* BDAT content is still checked: bare CR/LF, NUL, lines, loops, size. */
static void
test_chunked_checks(void **state)
{
	static const struct {
		const char	*in;
		int		 flags;
	} cases[] = {
		{ "a\nb\r\n", DATAREAD_BARE },
		{ "a\rb\r\n", DATAREAD_BARE },
		{ "a\r", DATAREAD_BARE },		/* CR at the very end */
		{ "a\r\n\n.\n", DATAREAD_BARE },
		{ "a\0b\r\n", DATAREAD_NUL },
		{ "abcdefghijklm\r\n", DATAREAD_LONG },
		{ "Received: x\r\nReceived: y\r\n\r\n", DATAREAD_LOOP },
		{ "0123456789\r\n0123456789\r\n0123456789\r\n",
		    DATAREAD_SIZE },
	};
	struct opts	o = { 30, 12, 2, 1 };
	struct result	res;
	size_t		i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = i == 4 ? 6 : strlen(cases[i].in);
		feed_opts_all(cases[i].in, len, &o, &res);
		if (res.flags != cases[i].flags || res.used != len)
			fail_msg("case %zu: expected flags %d, used %zu; got "
			    "flags %d, used %zu", i, cases[i].flags, len,
			    res.flags, res.used);
		buf_free(&res.out);
	}
}

/* The reader counts complete lines (the driver's clock restarts on
 * them). */
static void
test_line_count(void **state)
{
	struct dataread	dr;
	struct buf	out;

	(void)state;
	buf_init(&out);
	dataread_init(&dr, 0);
	(void)dataread_feed(&dr, "abc", 3, &out);
	assert_int_equal(dr.lines, 0);
	(void)dataread_feed(&dr, "\r", 1, &out);
	assert_int_equal(dr.lines, 0);
	(void)dataread_feed(&dr, "\nde\r\n", 5, &out);
	assert_int_equal(dr.lines, 2);
	buf_free(&out);
}

/* A submission: Date and Message-ID added at the end of the header
 * section when missing, once, never when present. */
static void
sub_feed(const char *in, int chunked, struct buf *out, struct dataread *dr)
{
	size_t	len = strlen(in), i;

	dataread_init(dr, 0);
	if (chunked)
		dataread_chunked(dr);
	dataread_submission(dr, "Wed, 2 Dec 2026 10:00:00 +0000",
	    "<id.1@mx.example.org>");
	buf_reset(out);
	/* Byte by byte: a split anywhere changes nothing. */
	for (i = 0; i < len && !dr->done; i++)
		(void)dataread_feed(dr, in + i, 1, out);
	if (chunked)
		dataread_last(dr, out);
	buf_addch(out, '\0');
}

static void
test_submission_fields(void **state)
{
	struct dataread	dr;
	struct buf	out;

	(void)state;
	buf_init(&out);
	sub_feed("Subject: x\r\n\r\nbody\r\nDate: no\r\n.\r\n", 0, &out, &dr);
	assert_string_equal(out.data, "Subject: x\r\n"
	    "Date: Wed, 2 Dec 2026 10:00:00 +0000\r\n"
	    "Message-ID: <id.1@mx.example.org>\r\n\r\nbody\r\nDate: no\r\n");
	assert_string_equal(dr.msgid, "<id.1@mx.example.org>");
	sub_feed("DATE: x\r\nmessage-id:  <a@b>\r\n\r\nbody\r\n.\r\n", 0,
	    &out, &dr);
	assert_string_equal(out.data,
	    "DATE: x\r\nmessage-id:  <a@b>\r\n\r\nbody\r\n");
	assert_string_equal(dr.msgid, "<a@b>");
	/* All header, no body: added at the end. */
	sub_feed("Subject: x\r\nDate: y\r\n.\r\n", 0, &out, &dr);
	assert_string_equal(out.data, "Subject: x\r\nDate: y\r\n"
	    "Message-ID: <id.1@mx.example.org>\r\n");
	/* BDAT, a last line without CRLF. */
	sub_feed("Message-Id: <c@d>\r\nSubject: x", 1, &out, &dr);
	assert_string_equal(out.data, "Message-Id: <c@d>\r\nSubject: x\r\n"
	    "Date: Wed, 2 Dec 2026 10:00:00 +0000\r\n");
	/* "Dated:" is not Date:. */
	sub_feed("Dated: x\r\n\r\n.\r\n", 0, &out, &dr);
	assert_non_null(strstr(out.data, "\r\nDate: Wed"));
	buf_free(&out);
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
		cmocka_unit_test(test_submission_fields),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_line_limit_counts_content),
		cmocka_unit_test(test_received_count),
		cmocka_unit_test(test_received_hundred),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_checks),
		cmocka_unit_test(test_line_count),
	};

	log_init("test_dataread", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
