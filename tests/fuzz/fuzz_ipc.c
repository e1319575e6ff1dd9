/*
 * fuzz_ipc.c - libFuzzer target for the IPC message reader
 * (common/ipc.h): the frames one process receives from another, which a
 * compromised smtpd may forge at will.
 *
 * Input: one flag byte, then the bytes of the stream.  Every message is
 * read as a dispatcher reads it, with a field program taken from its
 * session field (3 bits an operation, up to 10 of them: u32, u64, str
 * into a small or a large buffer, strdup, data, ipc_msg_end, stop),
 * then ipc_msg_end; any error is a violation, as in the parent's
 * dispatcher.
 *
 *  1. The codec (ipc_decode and the ipc_msg_get_* readers) over the
 *     stream as a channel's input buffer: a frame's size is its header
 *     plus its length, decoding is stable, one byte less is IPC_NEED_MORE,
 *     ipc_encode writes the frame back byte for byte, no reader moves
 *     its cursor past the payload or on an error, strings hold no NUL.
 *  2. With flag bit 0: the real reader, a channel with a violation
 *     callback (as the parent's) over a socketpair, fed the same bytes
 *     (with bit 1, one descriptor goes along with them) and then EOF.
 *     It must dispatch exactly the messages the codec accepted, call the
 *     violation callback exactly when the codec found an error (once,
 *     and never the closed callback after it), never die, and leak no
 *     descriptor.
 */
#include <sys/socket.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHANNEL	0x01
#define FUZZ_SEND_FD	0x02
#define FUZZ_OPS	10
/* The stream goes into the socketpair before the reader runs: it must
 * fit in the socket's buffer.  Longer inputs get the codec only. */
#define FUZZ_CHANNEL_MAX	(64 * 1024)

enum fuzz_op {
	OP_U32, OP_U64, OP_STR_SMALL, OP_STR_LARGE, OP_STRDUP, OP_DATA,
	OP_END, OP_STOP,
};

struct fuzz_chan {
	struct event_loop	*loop;
	size_t			 dispatched;
	int			 violations;
	int			 closed;
};

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_ipc: %s\n", what);
	abort();
}

static enum ipc_status
fuzz_read_str(struct ipc_msg *m, size_t dstsize)
{
	char		 dst[1024];
	size_t		 pos = m->pos;
	enum ipc_status	 st;

	st = ipc_msg_get_str(m, dst, dstsize);
	if (st != IPC_OK)
		return st;
	if (strlen(dst) != m->pos - pos - 4 || strlen(dst) >= dstsize)
		fuzz_fail("a string whose length is not its field's");
	return IPC_OK;
}

static enum ipc_status
fuzz_read_strdup(struct ipc_msg *m)
{
	char		*s;
	size_t		 pos = m->pos;
	enum ipc_status	 st;

	if ((st = ipc_msg_get_strdup(m, &s)) != IPC_OK)
		return st;
	if (strlen(s) != m->pos - pos - 4 || strlen(s) > IPC_MAX_STR)
		fuzz_fail("a strdup string whose length is not its field's");
	free(s);
	return IPC_OK;
}

static enum ipc_status
fuzz_read_one(struct ipc_msg *m, enum fuzz_op op)
{
	const uint8_t	*p;
	uint64_t	 u64;
	uint32_t	 u32;
	size_t		 n;
	enum ipc_status	 st;

	switch (op) {
	case OP_U32:
		return ipc_msg_get_u32(m, &u32);
	case OP_U64:
		return ipc_msg_get_u64(m, &u64);
	case OP_STR_SMALL:
		return fuzz_read_str(m, 16);
	case OP_STR_LARGE:
		return fuzz_read_str(m, 1024);
	case OP_STRDUP:
		return fuzz_read_strdup(m);
	case OP_DATA:
		if ((st = ipc_msg_get_data(m, &p, &n)) != IPC_OK)
			return st;
		if (p < m->data || p + n > m->data + m->len)
			fuzz_fail("a data field outside the payload");
		return IPC_OK;
	case OP_END:
	case OP_STOP:
		break;
	}
	return ipc_msg_end(m);
}

/* Reads m with the program in its session field; IPC_OK or an error. */
static enum ipc_status
fuzz_read_msg(struct ipc_msg *m)
{
	enum ipc_status	st;
	enum fuzz_op	op;
	size_t		pos;
	int		i;

	for (i = 0; i < FUZZ_OPS; i++) {
		op = (enum fuzz_op)((m->session >> (3 * i)) & 7);
		if (op == OP_STOP)
			break;
		pos = m->pos;
		st = fuzz_read_one(m, op);
		if (m->pos > m->len)
			fuzz_fail("a reader moved past the payload");
		if (st != IPC_OK) {
			if (m->pos != pos)
				fuzz_fail("a reader that failed moved its cursor");
			return st;
		}
	}
	return ipc_msg_end(m);
}

/* One frame decoded at in: the properties of the codec. */
static void
fuzz_check_frame(const uint8_t *in, size_t inlen, const struct ipc_msg *m,
    size_t used)
{
	struct ipc_msg	 again;
	struct buf	 b;
	size_t		 used2;

	if (used != IPC_HDR_LEN + m->len || used > inlen ||
	    m->len > IPC_MAX_PAYLOAD || m->data != in + IPC_HDR_LEN ||
	    m->fd != -1 || m->pos != 0 || m->chan != NULL)
		fuzz_fail("a decoded frame that is not its header and payload");
	if (ipc_decode(in, used, &again, &used2) != IPC_OK || used2 != used)
		fuzz_fail("a frame that does not decode alone");
	if (ipc_decode(in, used - 1, &again, &used2) != IPC_NEED_MORE)
		fuzz_fail("a frame short of one byte that is not NEED_MORE");
	buf_init(&b);
	ipc_encode(&b, m->type, m->session, m->flags, m->data, m->len);
	if (b.len != used || memcmp(b.data, in, used) != 0)
		fuzz_fail("ipc_encode does not write the frame back");
	buf_free(&b);
}

/*
 * The codec over the stream, as a channel's reader goes through its
 * input buffer.  Returns the number of messages a dispatcher accepts
 * before the first error; *error is 1 if there is one.
 */
static size_t
fuzz_codec(const uint8_t *in, size_t len, int have_fd, int *error)
{
	struct ipc_msg	 m;
	enum ipc_status	 st;
	size_t		 off = 0, used, n = 0;

	*error = 0;
	for (;;) {
		st = ipc_decode(in + off, len - off, &m, &used);
		if (st == IPC_NEED_MORE)
			return n;
		if (st != IPC_OK) {
			*error = 1;
			return n;
		}
		fuzz_check_frame(in + off, len - off, &m, used);
		if (m.flags & IPC_F_FD) {
			if (!have_fd) {
				*error = 1;
				return n;
			}
			have_fd = 0;
		}
		off += used;
		if (fuzz_read_msg(&m) != IPC_OK) {
			*error = 1;
			return n;
		}
		n++;
	}
}

/* ---- the channel ---- */

static void
fuzz_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct fuzz_chan	*fc = arg;
	enum ipc_status		 st;

	(void)ch;
	if (fc->violations || fc->closed)
		fuzz_fail("a message dispatched after the channel ended");
	if (m->flags & IPC_F_FD) {
		if (m->fd < 0 || fcntl(m->fd, F_GETFD) == -1)
			fuzz_fail("IPC_F_FD without a valid descriptor");
	} else if (m->fd != -1) {
		fuzz_fail("a descriptor on a message without IPC_F_FD");
	}
	if ((st = fuzz_read_msg(m)) != IPC_OK) {
		ipc_violation(m, ipc_strerror(st));
		return;
	}
	fc->dispatched++;
}

static void
fuzz_closed(struct ipc_chan *ch, void *arg)
{
	struct fuzz_chan	*fc = arg;

	(void)ch;
	if (fc->violations)
		fuzz_fail("the closed callback after a violation");
	fc->closed++;
	event_loop_stop(fc->loop);
}

static void
fuzz_violation(struct ipc_chan *ch, const char *what, void *arg)
{
	struct fuzz_chan	*fc = arg;

	(void)ch;
	(void)what;
	if (fc->closed)
		fuzz_fail("a violation after the channel closed");
	fc->violations++;
	event_loop_stop(fc->loop);
}

/* Sends the bytes (and one descriptor) to sv, then EOF. */
static void
fuzz_send(int sv, const uint8_t *in, size_t len, int fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cm;
	struct cmsghdr	*c;
	uint8_t		 zero = 0;

	memset(&msg, 0, sizeof(msg));
	/* A descriptor needs a byte to travel with: with no input, one
	 * zero byte, a partial header that the reader holds until EOF, as
	 * the codec holds an empty stream. */
	iov.iov_base = len > 0 ? (void *)(uintptr_t)in : &zero;
	iov.iov_len = len > 0 ? len : (fd >= 0 ? 1 : 0);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (iov.iov_len > 0 && sendmsg(sv, &msg, 0) != (ssize_t)iov.iov_len)
		fuzz_fail("sendmsg on the socketpair");
	if (shutdown(sv, SHUT_WR) == -1)
		fuzz_fail("shutdown on the socketpair");
}

static int
fuzz_lowest_fd(void)
{
	int	fd;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		fuzz_fail("open /dev/null");
	close(fd);
	return fd;
}

static void
fuzz_channel(const uint8_t *in, size_t len, int send_fd, size_t want,
    int want_error)
{
	struct fuzz_chan	 fc;
	struct ipc_chan		*ch;
	int			 sv[2], fd = -1, lowest;

	lowest = fuzz_lowest_fd();
	memset(&fc, 0, sizeof(fc));
	fc.loop = event_loop_new();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fuzz_fail("socketpair");
	if (send_fd && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		fuzz_fail("open /dev/null");
	fuzz_send(sv[1], in, len, fd);
	if (fd >= 0)
		close(fd);
	close(sv[1]);
	ch = ipc_chan_new(fc.loop, sv[0], "fuzz-peer", fuzz_dispatch,
	    fuzz_closed, &fc);
	ipc_chan_set_violation(ch, fuzz_violation);
	if (event_loop_run(fc.loop) == -1)
		fuzz_fail("event_loop_run");
	ipc_chan_free(ch);
	event_loop_free(fc.loop);
	if (fc.violations + fc.closed != 1)
		fuzz_fail("not exactly one of the closed and violation callbacks");
	if (fc.violations != want_error)
		fuzz_fail("the channel and the codec disagree on a violation");
	if (fc.dispatched != want)
		fuzz_fail("the channel dispatched another number of messages");
	if (fuzz_lowest_fd() != lowest)
		fuzz_fail("a descriptor leaked");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	n;
	int	flags, error;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	n = fuzz_codec(data, size, (flags & FUZZ_SEND_FD) != 0, &error);
	if ((flags & FUZZ_CHANNEL) && size <= FUZZ_CHANNEL_MAX)
		fuzz_channel(data, size, (flags & FUZZ_SEND_FD) != 0, n, error);
	return 0;
}
