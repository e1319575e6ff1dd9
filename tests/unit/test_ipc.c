/*
 * test_ipc.c - unit tests of common/ipc.c: the codec (every field type,
 * truncated, oversized and malformed messages), and real channels over a
 * socketpair driven by the event loop: descriptor passing, several
 * messages in one write, freeing a channel from its own callbacks, and a
 * reader that dies on a protocol violation; a descriptor lost in transit
 * (the reader out of descriptors) failing only its message; and the
 * parent's kind of reader, which every malformed message only makes close
 * that channel, with every reader failing safely from then on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"

/* ---- helpers ---- */

static void
put_hdr(uint8_t *p, uint32_t type, uint32_t len, uint32_t session,
    uint16_t version, uint16_t flags)
{
	memcpy(p, &type, 4);
	memcpy(p + 4, &len, 4);
	memcpy(p + 8, &session, 4);
	memcpy(p + 12, &version, 2);
	memcpy(p + 14, &flags, 2);
}

/* Decodes a whole message made of payload pl; fails the test otherwise. */
static void
decode_payload(struct buf *wire, const struct buf *pl, struct ipc_msg *m)
{
	size_t	used = 0;

	buf_reset(wire);
	ipc_encode(wire, MSG_Q_COMMIT, 7, 0, pl->data, pl->len);
	assert_int_equal(ipc_decode((const uint8_t *)wire->data, wire->len, m,
	    &used), IPC_OK);
	assert_int_equal(used, wire->len);
}

/* ---- codec ---- */

static void
test_roundtrip(void **state)
{
	struct buf	 pl, wire;
	struct ipc_msg	 m;
	char		*longstr, small[16], *dup;
	const uint8_t	*dp;
	size_t		 used, dn;
	uint32_t	 u32;
	uint64_t	 u64;
	static const uint8_t bin[] = { 0, 1, 0, 255, '\n', 0 };

	(void)state;
	buf_init(&pl);
	buf_init(&wire);
	longstr = xmalloc(IPC_MAX_STR + 1);
	memset(longstr, 'q', IPC_MAX_STR);
	longstr[IPC_MAX_STR] = '\0';

	ipc_put_u32(&pl, 0);
	ipc_put_u32(&pl, UINT32_MAX);
	ipc_put_u64(&pl, 0);
	ipc_put_u64(&pl, UINT64_MAX);
	ipc_put_str(&pl, "");
	ipc_put_str(&pl, "hello");
	ipc_put_str(&pl, longstr);
	ipc_put_data(&pl, bin, sizeof(bin));
	ipc_put_data(&pl, NULL, 0);
	ipc_put_str(&pl, "dup me");

	ipc_encode(&wire, MSG_Q_OPEN_OK, 0xdeadbeef, IPC_F_FD, pl.data, pl.len);
	assert_int_equal(wire.len, IPC_HDR_LEN + pl.len);
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(ipc_decode((const uint8_t *)wire.data, wire.len, &m,
	    &used), IPC_OK);
	assert_int_equal(used, wire.len);
	assert_int_equal(m.type, MSG_Q_OPEN_OK);
	assert_int_equal(m.session, 0xdeadbeef);
	assert_int_equal(m.version, IPC_VERSION);
	assert_int_equal(m.flags, IPC_F_FD);
	assert_int_equal(m.fd, -1);
	assert_null(m.chan);
	assert_int_equal(m.len, pl.len);
	assert_int_equal(m.pos, 0);
	assert_ptr_equal(m.data, (const uint8_t *)wire.data + IPC_HDR_LEN);

	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(u32, 0);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(u32, UINT32_MAX);
	assert_int_equal(ipc_msg_get_u64(&m, &u64), IPC_OK);
	assert_true(u64 == 0);
	assert_int_equal(ipc_msg_get_u64(&m, &u64), IPC_OK);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(ipc_msg_get_str(&m, small, sizeof(small)), IPC_OK);
	assert_string_equal(small, "");
	assert_int_equal(ipc_msg_get_str(&m, small, sizeof(small)), IPC_OK);
	assert_string_equal(small, "hello");
	assert_int_equal(ipc_msg_get_strdup(&m, &dup), IPC_OK);
	assert_string_equal(dup, longstr);
	free(dup);
	assert_int_equal(ipc_msg_get_data(&m, &dp, &dn), IPC_OK);
	assert_int_equal(dn, sizeof(bin));
	assert_memory_equal(dp, bin, sizeof(bin));
	assert_int_equal(ipc_msg_get_data(&m, &dp, &dn), IPC_OK);
	assert_int_equal(dn, 0);
	/* The dying readers succeed the same way. */
	dup = ipc_get_strdup(&m);
	assert_string_equal(dup, "dup me");
	free(dup);
	assert_int_equal(ipc_msg_end(&m), IPC_OK);
	ipc_end(&m);

	/* The same through the dying readers. */
	m.pos = 0;
	assert_int_equal(ipc_get_u32(&m), 0);
	assert_int_equal(ipc_get_u32(&m), UINT32_MAX);
	assert_true(ipc_get_u64(&m) == 0);
	assert_true(ipc_get_u64(&m) == UINT64_MAX);
	ipc_get_str(&m, small, sizeof(small));
	assert_string_equal(small, "");
	ipc_get_str(&m, small, sizeof(small));
	assert_string_equal(small, "hello");

	free(longstr);
	buf_free(&pl);
	buf_free(&wire);
}

static void
test_empty_and_back_to_back(void **state)
{
	struct buf	 wire;
	struct ipc_msg	 m;
	size_t		 used, off;

	(void)state;
	buf_init(&wire);
	ipc_encode(&wire, MSG_Q_OPEN, 1, 0, NULL, 0);
	ipc_encode(&wire, MSG_Q_SPACE, 0, 0, "\1\0\0\0", 4);
	ipc_encode(&wire, MSG_Q_ABORT, 3, 0, NULL, 0);
	assert_int_equal(wire.len, 3 * IPC_HDR_LEN + 4);

	off = 0;
	assert_int_equal(ipc_decode((const uint8_t *)wire.data, wire.len, &m,
	    &used), IPC_OK);
	assert_int_equal(m.type, MSG_Q_OPEN);
	assert_int_equal(m.len, 0);
	assert_int_equal(ipc_msg_end(&m), IPC_OK);
	off += used;
	assert_int_equal(ipc_decode((const uint8_t *)wire.data + off,
	    wire.len - off, &m, &used), IPC_OK);
	assert_int_equal(m.type, MSG_Q_SPACE);
	assert_int_equal(ipc_get_u32(&m), 1);
	ipc_end(&m);
	off += used;
	assert_int_equal(ipc_decode((const uint8_t *)wire.data + off,
	    wire.len - off, &m, &used), IPC_OK);
	assert_int_equal(m.type, MSG_Q_ABORT);
	assert_int_equal(m.session, 3);
	off += used;
	assert_int_equal(off, wire.len);
	assert_int_equal(ipc_decode((const uint8_t *)wire.data + off,
	    wire.len - off, &m, &used), IPC_NEED_MORE);
	buf_free(&wire);
}

static void
test_truncated(void **state)
{
	struct buf	 pl, wire;
	struct ipc_msg	 m;
	size_t		 k, used;

	(void)state;
	buf_init(&pl);
	buf_init(&wire);
	ipc_put_str(&pl, "some.queue.id");
	ipc_put_u64(&pl, 4242);
	ipc_encode(&wire, MSG_Q_COMMIT, 9, 0, pl.data, pl.len);
	/* Every proper prefix: header or payload incomplete. */
	for (k = 0; k < wire.len; k++) {
		used = 777;
		if (ipc_decode((const uint8_t *)wire.data, k, &m, &used) !=
		    IPC_NEED_MORE)
			fail_msg("prefix of %zu of %zu bytes: expected "
			    "IPC_NEED_MORE", k, wire.len);
		assert_int_equal(used, 777);
	}
	assert_int_equal(ipc_decode((const uint8_t *)wire.data, wire.len, &m,
	    &used), IPC_OK);
	buf_free(&pl);
	buf_free(&wire);
}

static void
test_too_big(void **state)
{
	uint8_t		 hdr[IPC_HDR_LEN];
	uint8_t		*full;
	struct ipc_msg	 m;
	size_t		 used;

	(void)state;
	/* Declared too long: refused from the header alone. */
	put_hdr(hdr, MSG_Q_COMMIT, IPC_MAX_PAYLOAD + 1, 0, IPC_VERSION, 0);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_TOOBIG);
	put_hdr(hdr, MSG_Q_COMMIT, UINT32_MAX, 0, IPC_VERSION, 0);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_TOOBIG);
	/* Exactly the maximum is fine, once it is all there. */
	put_hdr(hdr, MSG_Q_COMMIT, IPC_MAX_PAYLOAD, 0, IPC_VERSION, 0);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_NEED_MORE);
	full = xcalloc(1, IPC_HDR_LEN + IPC_MAX_PAYLOAD);
	memcpy(full, hdr, sizeof(hdr));
	assert_int_equal(ipc_decode(full, IPC_HDR_LEN + IPC_MAX_PAYLOAD, &m,
	    &used), IPC_OK);
	assert_int_equal(used, IPC_HDR_LEN + IPC_MAX_PAYLOAD);
	assert_int_equal(ipc_decode(full, IPC_HDR_LEN + IPC_MAX_PAYLOAD - 1,
	    &m, &used), IPC_NEED_MORE);
	free(full);
}

static void
test_version_and_flags(void **state)
{
	uint8_t		hdr[IPC_HDR_LEN];
	struct ipc_msg	m;
	size_t		used;

	(void)state;
	put_hdr(hdr, MSG_Q_OPEN, 0, 0, 0, 0);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_VERSION);
	put_hdr(hdr, MSG_Q_OPEN, 0, 0, IPC_VERSION + 1, 0);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_VERSION);
	put_hdr(hdr, MSG_Q_OPEN, 0, 0, IPC_VERSION, 0x0002);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_FLAGS);
	put_hdr(hdr, MSG_Q_OPEN, 0, 0, IPC_VERSION, 0x8000 | IPC_F_FD);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used),
	    IPC_ERR_FLAGS);
	put_hdr(hdr, MSG_Q_OPEN, 0, 0, IPC_VERSION, IPC_F_FD);
	assert_int_equal(ipc_decode(hdr, sizeof(hdr), &m, &used), IPC_OK);
	assert_int_equal(m.flags, IPC_F_FD);
	assert_int_equal(m.fd, -1);
}

static void
test_short_fields(void **state)
{
	struct buf	 pl, wire;
	struct ipc_msg	 m;
	char		 dst[64];
	char		*dup = NULL;
	const uint8_t	*dp;
	size_t		 dn;
	uint32_t	 u32;
	uint64_t	 u64;

	(void)state;
	buf_init(&pl);
	buf_init(&wire);

	/* u32 and u64 with too few bytes. */
	buf_add(&pl, "abc", 3);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_ERR_SHORT);
	assert_int_equal(m.pos, 0);
	buf_reset(&pl);
	buf_add(&pl, "abcdefg", 7);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_u64(&m, &u64), IPC_ERR_SHORT);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_ERR_SHORT);

	/* A string whose declared length runs past the payload. */
	buf_reset(&pl);
	ipc_put_u32(&pl, 10);
	buf_add(&pl, "abc", 3);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_ERR_SHORT);
	assert_int_equal(m.pos, 0);
	assert_int_equal(ipc_msg_get_strdup(&m, &dup), IPC_ERR_SHORT);
	assert_null(dup);
	assert_int_equal(ipc_msg_get_data(&m, &dp, &dn), IPC_ERR_SHORT);
	assert_int_equal(m.pos, 0);

	/* A length that would wrap around a 32-bit addition. */
	buf_reset(&pl);
	ipc_put_u32(&pl, UINT32_MAX);
	buf_add(&pl, "abcd", 4);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_ERR_SHORT);
	assert_int_equal(ipc_msg_get_data(&m, &dp, &dn), IPC_ERR_SHORT);

	/* The length prefix itself cut short. */
	buf_reset(&pl);
	buf_add(&pl, "\1\0", 2);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_ERR_SHORT);
	assert_int_equal(ipc_msg_get_data(&m, &dp, &dn), IPC_ERR_SHORT);

	/* An empty payload has nothing to read. */
	buf_reset(&pl);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_ERR_SHORT);
	assert_int_equal(ipc_msg_end(&m), IPC_OK);

	buf_free(&pl);
	buf_free(&wire);
}

static void
test_bad_strings(void **state)
{
	struct buf	 pl, wire;
	struct ipc_msg	 m;
	char		 dst[6];
	char		*dup = NULL, *big;

	(void)state;
	buf_init(&pl);
	buf_init(&wire);

	/* An embedded NUL. */
	ipc_put_u32(&pl, 5);
	buf_add(&pl, "ab\0cd", 5);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_ERR_STR);
	assert_int_equal(m.pos, 0);
	assert_int_equal(ipc_msg_get_strdup(&m, &dup), IPC_ERR_STR);
	assert_null(dup);

	/* dstsize - 1 characters fit; dstsize do not. */
	buf_reset(&pl);
	ipc_put_str(&pl, "12345");
	ipc_put_str(&pl, "123456");
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_OK);
	assert_string_equal(dst, "12345");
	assert_int_equal(ipc_msg_get_str(&m, dst, sizeof(dst)), IPC_ERR_STR);
	assert_int_equal(ipc_msg_get_strdup(&m, &dup), IPC_OK);
	assert_string_equal(dup, "123456");
	free(dup);
	dup = NULL;
	assert_int_equal(ipc_msg_end(&m), IPC_OK);

	/* Longer than IPC_MAX_STR, although the payload holds it. */
	big = xmalloc(IPC_MAX_STR + 1);
	memset(big, 'x', IPC_MAX_STR + 1);
	buf_reset(&pl);
	ipc_put_data(&pl, big, IPC_MAX_STR + 1);
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_strdup(&m, &dup), IPC_ERR_STR);
	assert_null(dup);
	free(big);

	buf_free(&pl);
	buf_free(&wire);
}

static void
test_trailing(void **state)
{
	struct buf	pl, wire;
	struct ipc_msg	m;
	uint32_t	u32;

	(void)state;
	buf_init(&pl);
	buf_init(&wire);
	ipc_put_u32(&pl, 1);
	buf_addch(&pl, 'x');
	decode_payload(&wire, &pl, &m);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(ipc_msg_end(&m), IPC_ERR_TRAILING);
	buf_free(&pl);
	buf_free(&wire);
}

static void
test_strerror(void **state)
{
	enum ipc_status	st;

	(void)state;
	for (st = IPC_OK; st <= IPC_ERR_NOFD; st++) {
		assert_non_null(ipc_strerror(st));
		assert_true(strlen(ipc_strerror(st)) > 0);
	}
	assert_string_equal(proto_msg_name(MSG_Q_OPEN_OK), "MSG_Q_OPEN_OK");
	assert_string_equal(proto_msg_name(9999), "MSG_UNKNOWN");
	assert_string_equal(proto_msg_name(MSG_P_READY), "MSG_P_READY");
}

/* ---- channels ---- */

#define RX_MAX	16

struct rx {
	struct event_loop	*loop;
	struct ipc_chan		*ch;
	int			 nmsg;
	uint32_t		 type[RX_MAX];
	uint32_t		 session[RX_MAX];
	char			 str[RX_MAX][64];
	size_t			 datalen[RX_MAX];
	int			 want;		/* stop after this many */
	int			 nclosed;
	int			 take_fds;	/* write the index into taken fds */
	int			 free_at;	/* free the channel at message n */
};

static void
rx_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct rx	*rx = arg;
	const uint8_t	*dp;
	size_t		 dn;
	char		 c;
	int		 i = rx->nmsg++;

	assert_true(i < RX_MAX);
	assert_ptr_equal(m->chan, ch);
	rx->type[i] = m->type;
	rx->session[i] = m->session;
	switch (m->type) {
	case MSG_Q_OPEN_OK:
		assert_true(m->flags & IPC_F_FD);
		assert_true(m->fd >= 0);
		ipc_get_str(m, rx->str[i], sizeof(rx->str[i]));
		if (rx->take_fds) {
			c = (char)('0' + i);
			assert_int_equal(write(m->fd, &c, 1), 1);
			close(m->fd);
			m->fd = -1;
		}
		break;
	case MSG_Q_COMMIT:
		ipc_get_str(m, rx->str[i], sizeof(rx->str[i]));
		assert_int_equal(ipc_msg_get_data(m, &dp, &dn), IPC_OK);
		rx->datalen[i] = dn;
		for (size_t k = 0; k < dn; k++)
			if (dp[k] != (uint8_t)(k * 7))
				fail_msg("data byte %zu: expected %u, got %u",
				    k, (uint8_t)(k * 7), dp[k]);
		break;
	case MSG_Q_SPACE:
		assert_int_equal(m->fd, -1);
		snprintf(rx->str[i], sizeof(rx->str[i]), "%u", ipc_get_u32(m));
		break;
	default:
		ipc_bad_type(m);
	}
	ipc_end(m);
	if (rx->free_at == rx->nmsg) {
		ipc_chan_free(ch);
		rx->ch = NULL;
		event_loop_stop(rx->loop);
	}
	if (rx->nmsg == rx->want)
		event_loop_stop(rx->loop);
}

static void
rx_closed(struct ipc_chan *ch, void *arg)
{
	struct rx	*rx = arg;

	rx->nclosed++;
	ipc_chan_free(ch);
	rx->ch = NULL;
	event_loop_stop(rx->loop);
}

static void
never_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	fail_msg("unexpected message %s to the sender", proto_msg_name(m->type));
}

static void
timeout_cb(void *arg)
{
	(void)arg;
	fail_msg("channel test timed out");
}

/* Runs the loop with a 10 s safety timer. */
static void
run_loop(struct event_loop *loop)
{
	struct event_timer	*t;

	t = event_timer_add(loop, 10000, timeout_cb, NULL);
	assert_int_equal(event_loop_run(loop), 0);
	event_timer_cancel(loop, t);
}

static void
read_exact(int fd, char *out, size_t n)
{
	ssize_t	r;
	size_t	got = 0;

	while (got < n) {
		r = read(fd, out + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* 0 if fd (a pipe read end) is at end of file, i.e. no writer is left. */
static int
pipe_is_eof(int fd)
{
	char	c;

	fd_set_nonblock(fd);
	return read(fd, &c, 1) == 0 ? 0 : -1;
}

static void
test_channel_fd_passing(void **state)
{
	struct rx		 rx;
	struct ipc_chan		*tx;
	struct buf		 pl;
	int			 sv[2], p1[2], p2[2];
	char			 c;
	size_t			 k;
	uint8_t			*big;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	rx.loop = event_loop_new();
	rx.take_fds = 1;
	rx.want = 6;
	tx = ipc_chan_new(rx.loop, sv[0], "tx", never_dispatch, NULL, NULL);
	rx.ch = ipc_chan_new(rx.loop, sv[1], "rx", rx_dispatch, rx_closed, &rx);
	assert_string_equal(ipc_chan_peer(rx.ch), "rx");

	buf_init(&pl);
	ipc_put_u32(&pl, 1);
	ipc_send_buf(tx, MSG_Q_SPACE, 0, -1, &pl);
	buf_reset(&pl);
	ipc_put_str(&pl, "QID-ONE");
	ipc_send_buf(tx, MSG_Q_OPEN_OK, 11, p1[1], &pl);
	ipc_send_buf(tx, MSG_Q_OPEN_OK, 12, p2[1], &pl);
	/* A message larger than the socket buffers, sent in pieces. */
	big = xmalloc(200 * 1024);
	for (k = 0; k < 200 * 1024; k++)
		big[k] = (uint8_t)(k * 7);
	buf_reset(&pl);
	ipc_put_str(&pl, "BIG");
	ipc_put_data(&pl, big, 200 * 1024);
	ipc_send_buf(tx, MSG_Q_COMMIT, 13, -1, &pl);
	free(big);
	buf_reset(&pl);
	ipc_put_u32(&pl, 0);
	ipc_send_buf(tx, MSG_Q_SPACE, 14, -1, &pl);
	ipc_send(tx, MSG_Q_SPACE, 15, -1, "\7\0\0\0", 4);

	run_loop(rx.loop);
	assert_int_equal(rx.nmsg, 6);
	assert_int_equal(rx.type[0], MSG_Q_SPACE);
	assert_string_equal(rx.str[0], "1");
	assert_int_equal(rx.type[1], MSG_Q_OPEN_OK);
	assert_int_equal(rx.session[1], 11);
	assert_string_equal(rx.str[1], "QID-ONE");
	assert_int_equal(rx.session[2], 12);
	assert_int_equal(rx.type[3], MSG_Q_COMMIT);
	assert_string_equal(rx.str[3], "BIG");
	assert_int_equal(rx.datalen[3], 200 * 1024);
	assert_int_equal(rx.session[4], 14);
	assert_string_equal(rx.str[4], "0");
	assert_string_equal(rx.str[5], "7");

	/* Each passed write end worked on the other side... */
	read_exact(p1[0], &c, 1);
	assert_int_equal(c, '1');
	read_exact(p2[0], &c, 1);
	assert_int_equal(c, '2');
	/* ...and no copy of it is left open anywhere. */
	assert_int_equal(pipe_is_eof(p1[0]), 0);
	assert_int_equal(pipe_is_eof(p2[0]), 0);

	/* The sender goes away: the receiver hears it once. */
	ipc_chan_free(tx);
	rx.want = -1;
	run_loop(rx.loop);
	assert_int_equal(rx.nclosed, 1);
	assert_null(rx.ch);

	close(p1[0]);
	close(p2[0]);
	buf_free(&pl);
	event_loop_free(rx.loop);
}

/* Sends buf in one sendmsg() with the given descriptors attached. */
static void
send_raw(int sock, const struct buf *b, const int *fds, size_t nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	}		 cm;
	struct cmsghdr	*cmsg;

	assert_true(nfds <= 4);
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = b->data;
	iov.iov_len = b->len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)b->len);
}

static void
append_open_ok(struct buf *wire, uint32_t session, const char *qid, int fd)
{
	struct buf	pl;

	buf_init(&pl);
	ipc_put_str(&pl, qid);
	ipc_encode(wire, MSG_Q_OPEN_OK, session, fd ? IPC_F_FD : 0, pl.data,
	    pl.len);
	buf_free(&pl);
}

static void
test_channel_one_write(void **state)
{
	struct rx	rx;
	struct buf	wire;
	int		sv[2], pa[2], pb[2], fds[2];
	char		c;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pa), 0);
	assert_int_equal(pipe(pb), 0);
	rx.loop = event_loop_new();
	rx.take_fds = 1;
	rx.want = 4;
	rx.ch = ipc_chan_new(rx.loop, sv[1], "rx", rx_dispatch, rx_closed, &rx);

	/* Four messages, two with descriptors, in a single write. */
	buf_init(&wire);
	append_open_ok(&wire, 1, "A", 1);
	ipc_encode(&wire, MSG_Q_SPACE, 2, 0, "\3\0\0\0", 4);
	append_open_ok(&wire, 3, "B", 1);
	ipc_encode(&wire, MSG_Q_SPACE, 4, 0, "\4\0\0\0", 4);
	fds[0] = pa[1];
	fds[1] = pb[1];
	send_raw(sv[0], &wire, fds, 2);
	close(pa[1]);
	close(pb[1]);

	run_loop(rx.loop);
	assert_int_equal(rx.nmsg, 4);
	assert_string_equal(rx.str[0], "A");
	assert_string_equal(rx.str[1], "3");
	assert_string_equal(rx.str[2], "B");
	assert_string_equal(rx.str[3], "4");
	read_exact(pa[0], &c, 1);
	assert_int_equal(c, '0');
	read_exact(pb[0], &c, 1);
	assert_int_equal(c, '2');
	assert_int_equal(pipe_is_eof(pa[0]), 0);
	assert_int_equal(pipe_is_eof(pb[0]), 0);

	ipc_chan_free(rx.ch);
	close(sv[0]);
	close(pa[0]);
	close(pb[0]);
	buf_free(&wire);
	event_loop_free(rx.loop);
}

static void
test_channel_untaken_fd_closed(void **state)
{
	struct rx	rx;
	struct buf	wire;
	int		sv[2], p[2];

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	rx.loop = event_loop_new();
	rx.take_fds = 0;
	rx.want = 1;
	rx.ch = ipc_chan_new(rx.loop, sv[1], "rx", rx_dispatch, rx_closed, &rx);
	buf_init(&wire);
	append_open_ok(&wire, 1, "A", 1);
	send_raw(sv[0], &wire, &p[1], 1);
	close(p[1]);
	run_loop(rx.loop);
	assert_int_equal(rx.nmsg, 1);
	/* The dispatcher left the descriptor: the channel closed it. */
	assert_int_equal(pipe_is_eof(p[0]), 0);
	ipc_chan_free(rx.ch);
	close(sv[0]);
	close(p[0]);
	buf_free(&wire);
	event_loop_free(rx.loop);
}

static void
test_channel_free_in_dispatch(void **state)
{
	struct rx	rx;
	struct buf	wire;
	int		sv[2], p[2];

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	rx.loop = event_loop_new();
	rx.take_fds = 1;
	rx.free_at = 1;
	rx.want = 3;
	rx.ch = ipc_chan_new(rx.loop, sv[1], "rx", rx_dispatch, rx_closed, &rx);
	buf_init(&wire);
	ipc_encode(&wire, MSG_Q_SPACE, 1, 0, "\1\0\0\0", 4);
	append_open_ok(&wire, 2, "A", 1);
	ipc_encode(&wire, MSG_Q_SPACE, 3, 0, "\1\0\0\0", 4);
	send_raw(sv[0], &wire, &p[1], 1);
	close(p[1]);
	run_loop(rx.loop);
	/* Freed in the first callback: nothing more was dispatched, and the
	 * descriptor that was queued for the second message is closed. */
	assert_int_equal(rx.nmsg, 1);
	assert_null(rx.ch);
	assert_int_equal(rx.nclosed, 0);
	assert_int_equal(pipe_is_eof(p[0]), 0);
	close(sv[0]);
	close(p[0]);
	buf_free(&wire);
	event_loop_free(rx.loop);
}

static void
test_channel_send_after_close(void **state)
{
	struct rx	 rx;
	struct ipc_chan	*tx;
	int		 sv[2], p[2];

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	rx.loop = event_loop_new();
	rx.want = -1;
	rx.ch = ipc_chan_new(rx.loop, sv[0], "tx", never_dispatch, NULL, NULL);
	tx = rx.ch;
	/* The peer is gone before anything was written. */
	close(sv[1]);
	ipc_send(tx, MSG_Q_OPEN_OK, 1, p[1], "", 0);
	assert_int_equal(ipc_chan_flush(tx), -1);
	/* The descriptor was not leaked. */
	assert_int_equal(pipe_is_eof(p[0]), 0);
	ipc_chan_free(tx);
	close(p[0]);
	event_loop_free(rx.loop);
}

static void
test_channel_flush(void **state)
{
	struct rx	 rx;
	struct ipc_chan	*tx;
	int		 sv[2], i;
	struct buf	 pl;
	uint8_t		*big;
	size_t		 k;

	(void)state;
	memset(&rx, 0, sizeof(rx));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rx.loop = event_loop_new();
	rx.want = 3;
	tx = ipc_chan_new(rx.loop, sv[0], "tx", never_dispatch, NULL, NULL);
	big = xmalloc(100 * 1024);
	for (k = 0; k < 100 * 1024; k++)
		big[k] = (uint8_t)(k * 7);
	buf_init(&pl);
	ipc_put_str(&pl, "F");
	ipc_put_data(&pl, big, 100 * 1024);
	free(big);
	for (i = 0; i < 3; i++)
		ipc_send_buf(tx, MSG_Q_COMMIT, (uint32_t)i, -1, &pl);
	buf_free(&pl);
	/* A reader in another process drains while we block in flush. */
	fflush(NULL);	/* no stdio buffer is written twice */
	if (fork() == 0) {
		struct event_loop *l2 = event_loop_new();

		close(sv[0]);
		rx.loop = l2;
		rx.ch = ipc_chan_new(l2, sv[1], "rx", rx_dispatch, rx_closed,
		    &rx);
		run_loop(l2);
		_exit(rx.nmsg == 3 ? 0 : 1);
	}
	close(sv[1]);
	assert_int_equal(ipc_chan_flush(tx), 0);
	ipc_chan_free(tx);
	{
		int status;

		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	event_loop_free(rx.loop);
}

/* ---- protocol violations kill the reader ---- */

static void
violation_child(int sock)
{
	struct event_loop	*loop;
	struct rx		 rx;

	memset(&rx, 0, sizeof(rx));
	loop = event_loop_new();
	rx.loop = loop;
	rx.take_fds = 1;
	rx.want = -1;
	rx.ch = ipc_chan_new(loop, sock, "violator", rx_dispatch, rx_closed,
	    &rx);
	event_timer_add(loop, 5000, timeout_cb, NULL);
	event_loop_run(loop);
	_exit(3);	/* closed or stopped: the violation went unnoticed */
}

/*
 * Sends wire (and fds) to a reader in a child process and returns its
 * exit status; the socket stays open so only the bytes can kill it.
 */
static int
violation_status(const struct buf *wire, const int *fds, size_t nfds)
{
	int	sv[2], status, devnull;
	pid_t	pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fflush(NULL);	/* no stdio buffer is written twice */
	if ((pid = fork()) == 0) {
		close(sv[0]);
		/* Keep the expected "fatal:" lines out of the test output. */
		if ((devnull = open("/dev/null", O_WRONLY)) != -1)
			dup2(devnull, STDERR_FILENO);
		violation_child(sv[1]);
	}
	close(sv[1]);
	send_raw(sv[0], wire, fds, nfds);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(sv[0]);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_channel_violations(void **state)
{
	struct buf	wire;
	uint8_t		hdr[IPC_HDR_LEN];
	int		p[2];

	(void)state;
	buf_init(&wire);

	/* Declared too long: dies on the header, without waiting. */
	put_hdr(hdr, MSG_Q_COMMIT, IPC_MAX_PAYLOAD + 1, 0, IPC_VERSION, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	buf_reset(&wire);
	put_hdr(hdr, MSG_Q_SPACE, 0, 0, IPC_VERSION + 1, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	buf_reset(&wire);
	put_hdr(hdr, MSG_Q_SPACE, 0, 0, IPC_VERSION, 0x10);
	buf_add(&wire, hdr, sizeof(hdr));
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	/* IPC_F_FD without a descriptor. */
	buf_reset(&wire);
	append_open_ok(&wire, 1, "A", 1);
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	/* A byte left over after the fields (ipc_end). */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_Q_SPACE, 0, 0, "\1\0\0\0\0", 5);
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	/* A string too long for its field. */
	buf_reset(&wire);
	{
		struct buf	pl;
		char		s[100];

		memset(s, 'z', sizeof(s) - 1);
		s[sizeof(s) - 1] = '\0';
		buf_init(&pl);
		ipc_put_str(&pl, s);
		ipc_encode(&wire, MSG_Q_OPEN_OK, 0, IPC_F_FD, pl.data, pl.len);
		buf_free(&pl);
	}
	assert_int_equal(pipe(p), 0);
	assert_int_equal(violation_status(&wire, &p[1], 1), 1);
	close(p[0]);
	close(p[1]);

	/* A type the dispatcher does not expect. */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_L_RCPT, 0, 0, NULL, 0);
	assert_int_equal(violation_status(&wire, NULL, 0), 1);

	/* A well-formed message for contrast: the child survives it. */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_Q_SPACE, 0, 0, "\1\0\0\0", 4);
	{
		int	sv[2], status;
		pid_t	pid;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		fflush(NULL);	/* no stdio buffer is written twice */
		if ((pid = fork()) == 0) {
			close(sv[0]);
			violation_child(sv[1]);
		}
		close(sv[1]);
		send_raw(sv[0], &wire, NULL, 0);
		close(sv[0]);	/* EOF: rx_closed stops the loop */
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 3);
	}
	buf_free(&wire);
}

/* ---- a reader with a violation callback survives its peer ---- */

struct sv {
	struct event_loop	*loop;
	int			 nmsg;
	int			 nclosed;
	int			 nviol;
	char			 what[256];
};

/* Takes MSG_Q_SPACE; calls anything else a violation. */
static void
sv_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct sv	*sv = arg;

	(void)ch;
	if (m->type != MSG_Q_SPACE) {
		ipc_violation(m, "unexpected type");
		return;
	}
	(void)ipc_get_u32(m);
	ipc_end(m);
	sv->nmsg++;
}

static void
sv_closed(struct ipc_chan *ch, void *arg)
{
	struct sv	*sv = arg;

	sv->nclosed++;
	ipc_chan_free(ch);
	event_loop_stop(sv->loop);
}

static void
sv_violation(struct ipc_chan *ch, const char *what, void *arg)
{
	struct sv	*sv = arg;

	sv->nviol++;
	snprintf(sv->what, sizeof(sv->what), "%s", what);
	ipc_chan_free(ch);
	event_loop_stop(sv->loop);
}

/* Sends wire after one good message; the reader must live on. */
static void
survive(const struct buf *wire, struct sv *sv)
{
	struct ipc_chan	*ch;
	struct buf	 all;
	int		 p[2];

	memset(sv, 0, sizeof(*sv));
	buf_init(&all);
	ipc_encode(&all, MSG_Q_SPACE, 0, 0, "\1\0\0\0", 4);
	buf_add(&all, wire->data, wire->len);
	ipc_encode(&all, MSG_Q_SPACE, 0, 0, "\0\0\0\0", 4);	/* ignored */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	sv->loop = event_loop_new();
	ch = ipc_chan_new(sv->loop, p[1], "child", sv_dispatch, sv_closed,
	    sv);
	ipc_chan_set_violation(ch, sv_violation);
	send_raw(p[0], &all, NULL, 0);
	run_loop(sv->loop);
	close(p[0]);
	event_loop_free(sv->loop);
	buf_free(&all);
	assert_int_equal(sv->nmsg, 1);
	assert_int_equal(sv->nviol, 1);
	assert_int_equal(sv->nclosed, 0);
}

static void
test_channel_violation_callback(void **state)
{
	struct buf	wire;
	struct sv	sv;
	uint8_t		hdr[IPC_HDR_LEN];

	(void)state;
	buf_init(&wire);

	put_hdr(hdr, MSG_P_READY, 0, 0, IPC_VERSION + 1, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	survive(&wire, &sv);
	assert_non_null(strstr(sv.what, "message MSG_P_READY: "));

	buf_reset(&wire);
	put_hdr(hdr, MSG_Q_COMMIT, IPC_MAX_PAYLOAD + 1, 0, IPC_VERSION, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	survive(&wire, &sv);
	assert_non_null(strstr(sv.what, "message MSG_Q_COMMIT: "));

	/* IPC_F_FD without a descriptor. */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_P_READY, 0, IPC_F_FD, NULL, 0);
	survive(&wire, &sv);

	/* Well formed, but the dispatcher does not expect it. */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_L_RCPT, 0, 0, NULL, 0);
	survive(&wire, &sv);
	assert_string_equal(sv.what, "message MSG_L_RCPT: unexpected type");
	buf_free(&wire);
}

/* ---- out of descriptors: a lost descriptor fails its message only ---- */

/*
 * Fills the descriptor table (soft limit lowered to keep it cheap): the
 * descriptors are returned in *fill, *nfill of them; fill_release()
 * closes them and restores the limit.
 */
struct fdfill {
	struct rlimit	 old;
	int		*fds;
	size_t		 n;
};

static void
fill_table(struct fdfill *f)
{
	struct rlimit	rl;
	int		fd;

	memset(f, 0, sizeof(*f));
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->old), 0);
	rl = f->old;
	if (rl.rlim_cur > 256)
		rl.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	f->fds = xcalloc(rl.rlim_cur, sizeof(int));
	while ((fd = dup(STDIN_FILENO)) != -1) {
		assert_true(f->n < rl.rlim_cur);
		f->fds[f->n++] = fd;
	}
	assert_true(errno == EMFILE);
}

static void
fill_release(struct fdfill *f)
{
	while (f->n > 0)
		close(f->fds[--f->n]);
	free(f->fds);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->old), 0);
}

struct lost {
	struct event_loop	*loop;
	int			 nmsg;
	int			 nlost;
	int			 ngood;
	int			 want;
};

/* A reader that expects a descriptor with every MSG_Q_OPEN_OK. */
static void
lost_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct lost	*l = arg;
	char		 qid[16];
	int		 fd;

	(void)ch;
	assert_int_equal(m->type, MSG_Q_OPEN_OK);
	ipc_get_str(m, qid, sizeof(qid));
	assert_int_equal(ipc_end(m), 0);
	fd = ipc_take_fd(m);
	if (fd == -1) {
		assert_true(m->fd_lost);
		assert_false(ipc_failed(m));
		assert_string_equal(qid, "LOST");
		l->nlost++;
	} else {
		assert_false(m->fd_lost);
		assert_string_equal(qid, "GOOD");
		l->ngood++;
		close(fd);
	}
	if (++l->nmsg == l->want)
		event_loop_stop(l->loop);
}

static void
lost_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fail_msg("the channel closed after a lost descriptor");
}

/*
 * A channel without a violation callback (a process that dies on a
 * malformed message) gets a message whose descriptor the kernel could not
 * install as a message with fd_lost; it lives on, and the next descriptor
 * arrives intact once there is room again.
 */
static void
test_channel_fd_lost(void **state)
{
	struct fdfill	 fill;
	struct lost	 l;
	struct ipc_chan	*ch;
	struct buf	 wire;
	int		 sv[2], p[2];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	l.loop = event_loop_new();
	ch = ipc_chan_new(l.loop, sv[1], "queue", lost_dispatch, lost_closed,
	    &l);
	buf_init(&wire);

	append_open_ok(&wire, 1, "LOST", 1);
	send_raw(sv[0], &wire, &p[1], 1);
	l.want = 1;
	fill_table(&fill);
	run_loop(l.loop);
	fill_release(&fill);
	assert_int_equal(l.nlost, 1);
	/* The kernel dropped its copy: the sender's is the last writer. */
	close(p[1]);
	assert_int_equal(pipe_is_eof(p[0]), 0);
	close(p[0]);

	buf_reset(&wire);
	assert_int_equal(pipe(p), 0);
	append_open_ok(&wire, 2, "GOOD", 1);
	send_raw(sv[0], &wire, &p[1], 1);
	close(p[1]);
	l.want = 2;
	run_loop(l.loop);
	assert_int_equal(l.ngood, 1);
	assert_int_equal(l.nlost, 1);
	close(p[0]);

	ipc_chan_free(ch);
	close(sv[0]);
	buf_free(&wire);
	event_loop_free(l.loop);
}

/* ---- the parent's readers survive every malformed message ---- */

/*
 * A reader written the way the parent's are: every field through the
 * channel readers, the checks before any action, and a violation callback
 * that frees the channel.  MSG_P_READY carries nothing; MSG_Q_COMMIT
 * stands for a request with every kind of field (u32 7, u64 1 << 40,
 * str "short" into 16 bytes, strdup "dup", data "xyz").
 */
struct pr {
	struct event_loop	*loop;
	int			 ndispatch;	/* messages handed over */
	int			 nok;		/* ... read without fault */
	int			 nviol;
	int			 nclosed;
	char			 what[256];
};

/* After a failure every reader gives its empty value and says nothing. */
static void
pr_check_sticky(struct ipc_msg *m)
{
	char		 s[16] = "x";
	char		*d;
	size_t		 n = 1;
	size_t		 pos = m->pos;

	assert_true(ipc_failed(m));
	assert_int_equal(ipc_get_u32(m), 0);
	assert_true(ipc_get_u64(m) == 0);
	ipc_get_str(m, s, sizeof(s));
	assert_string_equal(s, "");
	d = ipc_get_strdup(m);
	assert_string_equal(d, "");
	free(d);
	assert_non_null(ipc_get_data(m, &n));
	assert_int_equal(n, 0);
	assert_int_equal(ipc_end(m), -1);
	assert_int_equal(ipc_no_fd(m), -1);
	assert_int_equal(ipc_take_fd(m), -1);
	ipc_bad_type(m);
	ipc_violation(m, "again");
	assert_int_equal(m->pos, pos);
}

static void
pr_request(struct pr *pr, struct ipc_msg *m)
{
	uint32_t	 a;
	uint64_t	 b;
	char		 s[16], *d;
	const uint8_t	*dp;
	size_t		 dn;

	a = ipc_get_u32(m);
	b = ipc_get_u64(m);
	ipc_get_str(m, s, sizeof(s));
	d = ipc_get_strdup(m);
	dp = ipc_get_data(m, &dn);
	if (ipc_end(m) == -1) {
		free(d);
		pr_check_sticky(m);
		return;
	}
	assert_int_equal(a, 7);
	assert_true(b == (uint64_t)1 << 40);
	assert_string_equal(s, "short");
	assert_string_equal(d, "dup");
	assert_int_equal(dn, 3);
	assert_memory_equal(dp, "xyz", 3);
	free(d);
	pr->nok++;
}

static void
pr_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct pr	*pr = arg;

	(void)ch;
	pr->ndispatch++;
	if (ipc_no_fd(m) == -1) {
		pr_check_sticky(m);
		return;
	}
	switch (m->type) {
	case MSG_P_READY:
		if (ipc_end(m) == 0)
			pr->nok++;
		else
			pr_check_sticky(m);
		break;
	case MSG_Q_COMMIT:
		pr_request(pr, m);
		break;
	default:
		ipc_bad_type(m);
		pr_check_sticky(m);
		break;
	}
}

static void
pr_closed(struct ipc_chan *ch, void *arg)
{
	struct pr	*pr = arg;

	pr->nclosed++;
	ipc_chan_free(ch);
	event_loop_stop(pr->loop);
}

static void
pr_violation(struct ipc_chan *ch, const char *what, void *arg)
{
	struct pr	*pr = arg;

	pr->nviol++;
	snprintf(pr->what, sizeof(pr->what), "%s", what);
	ipc_chan_free(ch);
	event_loop_stop(pr->loop);
}

static void
pr_payload(struct buf *pl)
{
	buf_reset(pl);
	ipc_put_u32(pl, 7);
	ipc_put_u64(pl, (uint64_t)1 << 40);
	ipc_put_str(pl, "short");
	ipc_put_str(pl, "dup");
	ipc_put_data(pl, "xyz", 3);
}

/*
 * Sends a good request, then bad (with fds, or with the reader out of
 * descriptors if starve), then a good MSG_P_READY that must never be
 * read.  The reader lives, reads the first, reports one violation whose
 * text holds want, and closes the channel: the peer sees EOF.  reached:
 * the bad message is well-framed, so the dispatcher sees it.
 */
static void
pr_survive(const struct buf *bad, const int *fds, size_t nfds, int starve,
    int reached, const char *want)
{
	ssize_t		 n;
	struct fdfill	 fill;
	struct pr	 pr;
	struct ipc_chan	*ch;
	struct buf	 pl, good;
	int		 p[2];
	char		 c;

	memset(&pr, 0, sizeof(pr));
	buf_init(&pl);
	buf_init(&good);
	pr_payload(&pl);
	ipc_encode(&good, MSG_Q_COMMIT, 0, 0, pl.data, pl.len);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	pr.loop = event_loop_new();
	ch = ipc_chan_new(pr.loop, p[1], "child", pr_dispatch, pr_closed, &pr);
	ipc_chan_set_violation(ch, pr_violation);
	send_raw(p[0], &good, NULL, 0);
	send_raw(p[0], bad, fds, nfds);
	buf_reset(&good);
	ipc_encode(&good, MSG_P_READY, 0, 0, NULL, 0);
	send_raw(p[0], &good, NULL, 0);
	if (starve)
		fill_table(&fill);
	run_loop(pr.loop);
	if (starve)
		fill_release(&fill);
	if (pr.nviol != 1 || strstr(pr.what, want) == NULL)
		fail_msg("expected one violation saying \"%s\", got %d: \"%s\"",
		    want, pr.nviol, pr.what);
	assert_int_equal(pr.nok, 1);
	/* Nothing after the bad message was handed over. */
	assert_int_equal(pr.ndispatch, 1 + reached);
	assert_int_equal(pr.nclosed, 0);
	/* The channel is closed: the peer reads EOF (or a reset, as the
	 * last message was never read). */
	n = read(p[0], &c, 1);
	assert_true(n == 0 || (n == -1 && errno == ECONNRESET));
	close(p[0]);
	event_loop_free(pr.loop);
	buf_free(&pl);
	buf_free(&good);
}

static void
test_parent_readers(void **state)
{
	struct buf	 wire, pl, cut;
	uint8_t		 hdr[IPC_HDR_LEN];
	size_t		 i;
	int		 p[2];

	(void)state;
	buf_init(&wire);
	buf_init(&pl);
	buf_init(&cut);
	pr_payload(&pl);

	/* Truncated: the request cut after every byte of its payload. */
	for (i = 0; i < pl.len; i++) {
		buf_reset(&wire);
		ipc_encode(&wire, MSG_Q_COMMIT, 0, 0, pl.data, i);
		pr_survive(&wire, NULL, 0, 0, 1,
		    "message MSG_Q_COMMIT: field runs past the end");
	}
	/* Trailing bytes. */
	buf_reset(&wire);
	buf_reset(&cut);
	buf_add(&cut, pl.data, pl.len);
	buf_addch(&cut, 'X');
	ipc_encode(&wire, MSG_Q_COMMIT, 0, 0, cut.data, cut.len);
	pr_survive(&wire, NULL, 0, 0, 1,
	    "message MSG_Q_COMMIT: bytes left over");
	buf_reset(&wire);
	ipc_encode(&wire, MSG_P_READY, 0, 0, "\0", 1);
	pr_survive(&wire, NULL, 0, 0, 1,
	    "message MSG_P_READY: bytes left over");
	/* A string too long for its field, and one with a NUL. */
	buf_reset(&cut);
	ipc_put_u32(&cut, 7);
	ipc_put_u64(&cut, 1);
	ipc_put_str(&cut, "sixteen-octets!!");
	buf_reset(&wire);
	ipc_encode(&wire, MSG_Q_COMMIT, 0, 0, cut.data, cut.len);
	pr_survive(&wire, NULL, 0, 0, 1,
	    "message MSG_Q_COMMIT: bad string");
	buf_reset(&cut);
	ipc_put_u32(&cut, 7);
	ipc_put_u64(&cut, 1);
	ipc_put_data(&cut, "a\0b", 3);
	buf_reset(&wire);
	ipc_encode(&wire, MSG_Q_COMMIT, 0, 0, cut.data, cut.len);
	pr_survive(&wire, NULL, 0, 0, 1,
	    "message MSG_Q_COMMIT: bad string");
	/* Oversized. */
	buf_reset(&wire);
	put_hdr(hdr, MSG_Q_COMMIT, IPC_MAX_PAYLOAD + 1, 0, IPC_VERSION, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	pr_survive(&wire, NULL, 0, 0, 0,
	    "message MSG_Q_COMMIT: message too long");
	/* Wrong version; unknown flags. */
	buf_reset(&wire);
	put_hdr(hdr, MSG_P_READY, 0, 0, IPC_VERSION + 1, 0);
	buf_add(&wire, hdr, sizeof(hdr));
	pr_survive(&wire, NULL, 0, 0, 0,
	    "message MSG_P_READY: wrong protocol version");
	buf_reset(&wire);
	put_hdr(hdr, MSG_P_READY, 0, 0, IPC_VERSION, 0x8000);
	buf_add(&wire, hdr, sizeof(hdr));
	pr_survive(&wire, NULL, 0, 0, 0, "message MSG_P_READY: unknown flags");
	/* Unknown type; a known type this reader does not take. */
	buf_reset(&wire);
	ipc_encode(&wire, 77777, 0, 0, NULL, 0);
	pr_survive(&wire, NULL, 0, 0, 1, "unexpected type 77777");
	buf_reset(&wire);
	ipc_encode(&wire, MSG_L_RCPT, 0, 0, NULL, 0);
	pr_survive(&wire, NULL, 0, 0, 1,
	    "message MSG_L_RCPT: unexpected type");
	/* IPC_F_FD without a descriptor. */
	buf_reset(&wire);
	ipc_encode(&wire, MSG_P_READY, 0, IPC_F_FD, NULL, 0);
	pr_survive(&wire, NULL, 0, 0, 0, "file descriptor missing");
	/* An unexpected descriptor: refused, and closed by the reader. */
	assert_int_equal(pipe(p), 0);
	buf_reset(&wire);
	ipc_encode(&wire, MSG_P_READY, 0, IPC_F_FD, NULL, 0);
	pr_survive(&wire, &p[1], 1, 0, 1, "unexpected file descriptor");
	close(p[1]);
	assert_int_equal(pipe_is_eof(p[0]), 0);
	close(p[0]);
	/* A descriptor the reader had no room for (MSG_CTRUNC). */
	assert_int_equal(pipe(p), 0);
	buf_reset(&wire);
	ipc_encode(&wire, MSG_P_READY, 0, IPC_F_FD, NULL, 0);
	pr_survive(&wire, &p[1], 1, 1, 1, "unexpected file descriptor");
	close(p[1]);
	assert_int_equal(pipe_is_eof(p[0]), 0);
	close(p[0]);

	buf_free(&wire);
	buf_free(&pl);
	buf_free(&cut);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty_and_back_to_back),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_version_and_flags),
		cmocka_unit_test(test_short_fields),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_channel_fd_passing),
		cmocka_unit_test(test_channel_one_write),
		cmocka_unit_test(test_channel_untaken_fd_closed),
		cmocka_unit_test(test_channel_free_in_dispatch),
		cmocka_unit_test(test_channel_send_after_close),
		cmocka_unit_test(test_channel_flush),
		cmocka_unit_test(test_channel_violations),
		cmocka_unit_test(test_channel_violation_callback),
		cmocka_unit_test(test_channel_fd_lost),
		cmocka_unit_test(test_parent_readers),
	};

	log_init("test_ipc", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
