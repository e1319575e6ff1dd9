/*
 * ipc.c - typed messages between strictmail processes over socketpairs.
 *
 * The codec is pure and returns status codes.  A channel reads with
 * recvmsg() into one input buffer, collecting passed descriptors in a FIFO
 * from which each IPC_F_FD message takes one, and dispatches every complete
 * message.  Output is a queue of messages; a message with a descriptor
 * starts its own sendmsg() so the descriptor travels with its first byte.
 * A malformed message from the peer is fatal, unless the owner set a
 * violation callback: then the channel closes and the owner is told.  A
 * descriptor the kernel dropped (MSG_CTRUNC) takes its place in the FIFO
 * as a marker, so that its message arrives with fd_lost set.
 * ipc_chan_free() may be called from inside the channel's own callbacks.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "ipc.h"
#include "proto.h"
#include "util.h"

#define IPC_READ_CHUNK		(64 * 1024)
#define IPC_RECV_FDS		16	/* room for descriptors per recvmsg */
#define IPC_MAX_QUEUED_FDS	256	/* received but not yet claimed */
#define IPC_IOV_MAX		64
#define IPC_FD_LOST		(-2)	/* in the FIFO: a descriptor the
					 * kernel dropped (MSG_CTRUNC) */

struct ipc_out {
	struct ipc_out	*next;
	struct buf	 data;		/* header + payload */
	size_t		 off;		/* bytes already sent */
	int		 fd;		/* -1, or still to be sent */
};

struct ipc_chan {
	struct event_loop	*loop;
	int			 fd;
	char			*peer;
	ipc_dispatch_cb		 dispatch;
	ipc_closed_cb		 closed;
	ipc_violation_cb	 violation;	/* NULL: violations are fatal */
	void			*arg;

	struct buf		 in;
	int			*fds;		/* FIFO of received descriptors */
	size_t			 nfds;
	size_t			 fdcap;

	struct ipc_out		*out_head;
	struct ipc_out		*out_tail;
	size_t			 out_bytes;
	int			 write_armed;
	struct event_defer	 send_soon;	/* output waits for the round's end */

	int			 registered;	/* known to the event loop */
	int			 is_closed;	/* closed callback ran / due */
	int			 busy;		/* inside one of our callbacks */
	int			 freeing;	/* ipc_chan_free() was called */
	int			 broken;	/* the peer broke the protocol */
};

/* ---- codec ---- */

const char *
ipc_strerror(enum ipc_status st)
{
	switch (st) {
	case IPC_OK:		return "no error";
	case IPC_NEED_MORE:	return "incomplete message";
	case IPC_ERR_VERSION:	return "wrong protocol version";
	case IPC_ERR_TOOBIG:	return "message too long";
	case IPC_ERR_FLAGS:	return "unknown flags";
	case IPC_ERR_SHORT:	return "field runs past the end";
	case IPC_ERR_STR:	return "bad string";
	case IPC_ERR_TRAILING:	return "bytes left over";
	case IPC_ERR_NOFD:	return "file descriptor missing";
	}
	return "unknown error";
}

void
ipc_encode(struct buf *out, uint32_t type, uint32_t session, uint16_t flags,
    const void *payload, size_t len)
{
	uint8_t		hdr[IPC_HDR_LEN];
	uint32_t	len32;
	uint16_t	version = IPC_VERSION;

	if (len > IPC_MAX_PAYLOAD)
		fatalx("ipc_encode: message %s: payload of %zu bytes too long",
		    proto_msg_name(type), len);
	len32 = (uint32_t)len;
	memcpy(hdr, &type, 4);
	memcpy(hdr + 4, &len32, 4);
	memcpy(hdr + 8, &session, 4);
	memcpy(hdr + 12, &version, 2);
	memcpy(hdr + 14, &flags, 2);
	buf_reserve(out, IPC_HDR_LEN + len);
	buf_add(out, hdr, sizeof(hdr));
	if (len > 0)
		buf_add(out, payload, len);
}

enum ipc_status
ipc_decode(const uint8_t *in, size_t inlen, struct ipc_msg *m, size_t *used)
{
	uint32_t	type, len, session;
	uint16_t	version, flags;

	if (inlen < IPC_HDR_LEN)
		return IPC_NEED_MORE;
	memcpy(&type, in, 4);
	memcpy(&len, in + 4, 4);
	memcpy(&session, in + 8, 4);
	memcpy(&version, in + 12, 2);
	memcpy(&flags, in + 14, 2);
	if (version != IPC_VERSION)
		return IPC_ERR_VERSION;
	if ((flags & ~IPC_F_FD) != 0)
		return IPC_ERR_FLAGS;
	if (len > IPC_MAX_PAYLOAD)
		return IPC_ERR_TOOBIG;
	if (inlen - IPC_HDR_LEN < len)
		return IPC_NEED_MORE;
	m->type = type;
	m->session = session;
	m->version = version;
	m->flags = flags;
	m->fd = -1;
	m->fd_lost = 0;
	m->failed = 0;
	m->data = in + IPC_HDR_LEN;
	m->len = len;
	m->pos = 0;
	m->chan = NULL;
	*used = IPC_HDR_LEN + (size_t)len;
	return IPC_OK;
}

void
ipc_put_u32(struct buf *b, uint32_t v)
{
	buf_add(b, &v, sizeof(v));
}

void
ipc_put_u64(struct buf *b, uint64_t v)
{
	buf_add(b, &v, sizeof(v));
}

void
ipc_put_str(struct buf *b, const char *s)
{
	size_t	len;

	if (s == NULL)
		fatalx("ipc_put_str: NULL string");
	if ((len = strlen(s)) > IPC_MAX_STR)
		fatalx("ipc_put_str: string of %zu bytes too long", len);
	ipc_put_u32(b, (uint32_t)len);
	buf_add(b, s, len);
}

void
ipc_put_data(struct buf *b, const void *p, size_t n)
{
	if (n > IPC_MAX_PAYLOAD)
		fatalx("ipc_put_data: %zu bytes too long", n);
	ipc_put_u32(b, (uint32_t)n);
	buf_add(b, p, n);
}

enum ipc_status
ipc_msg_get_u32(struct ipc_msg *m, uint32_t *v)
{
	if (m->len - m->pos < sizeof(*v))
		return IPC_ERR_SHORT;
	memcpy(v, m->data + m->pos, sizeof(*v));
	m->pos += sizeof(*v);
	return IPC_OK;
}

enum ipc_status
ipc_msg_get_u64(struct ipc_msg *m, uint64_t *v)
{
	if (m->len - m->pos < sizeof(*v))
		return IPC_ERR_SHORT;
	memcpy(v, m->data + m->pos, sizeof(*v));
	m->pos += sizeof(*v);
	return IPC_OK;
}

/*
 * Checks the string field at the cursor without moving it: on IPC_OK
 * *p and *n describe its bytes and *next is the cursor after it.
 */
static enum ipc_status
ipc_msg_peek_str(const struct ipc_msg *m, const uint8_t **p, size_t *n,
    size_t *next)
{
	uint32_t	len;

	if (m->len - m->pos < sizeof(len))
		return IPC_ERR_SHORT;
	memcpy(&len, m->data + m->pos, sizeof(len));
	if (m->len - m->pos - sizeof(len) < len)
		return IPC_ERR_SHORT;
	if (len > IPC_MAX_STR)
		return IPC_ERR_STR;
	*p = m->data + m->pos + sizeof(len);
	if (memchr(*p, '\0', len) != NULL)
		return IPC_ERR_STR;
	*n = len;
	*next = m->pos + sizeof(len) + len;
	return IPC_OK;
}

enum ipc_status
ipc_msg_get_str(struct ipc_msg *m, char *dst, size_t dstsize)
{
	const uint8_t	*p;
	size_t		 n, next;
	enum ipc_status	 st;

	if ((st = ipc_msg_peek_str(m, &p, &n, &next)) != IPC_OK)
		return st;
	if (n >= dstsize)
		return IPC_ERR_STR;
	memcpy(dst, p, n);
	dst[n] = '\0';
	m->pos = next;
	return IPC_OK;
}

enum ipc_status
ipc_msg_get_strdup(struct ipc_msg *m, char **dst)
{
	const uint8_t	*p;
	size_t		 n, next;
	enum ipc_status	 st;

	if ((st = ipc_msg_peek_str(m, &p, &n, &next)) != IPC_OK)
		return st;
	*dst = xmalloc(n + 1);
	memcpy(*dst, p, n);
	(*dst)[n] = '\0';
	m->pos = next;
	return IPC_OK;
}

enum ipc_status
ipc_msg_get_data(struct ipc_msg *m, const uint8_t **p, size_t *n)
{
	uint32_t	len;

	if (m->len - m->pos < sizeof(len))
		return IPC_ERR_SHORT;
	memcpy(&len, m->data + m->pos, sizeof(len));
	if (m->len - m->pos - sizeof(len) < len)
		return IPC_ERR_SHORT;
	*p = m->data + m->pos + sizeof(len);
	*n = len;
	m->pos += sizeof(len) + len;
	return IPC_OK;
}

enum ipc_status
ipc_msg_end(struct ipc_msg *m)
{
	return m->pos == m->len ? IPC_OK : IPC_ERR_TRAILING;
}

/* ---- channel readers ---- */

/*
 * A reader found st: the process dies, or with a violation callback the
 * channel breaks and m is failed.  Returns so that the reader can give
 * its empty value.
 */
static void
ipc_fail(struct ipc_msg *m, enum ipc_status st)
{
	ipc_violation(m, ipc_strerror(st));
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	enum ipc_status	st;
	uint32_t	v;

	if (m->failed)
		return 0;
	if ((st = ipc_msg_get_u32(m, &v)) != IPC_OK) {
		ipc_fail(m, st);
		return 0;
	}
	return v;
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	enum ipc_status	st;
	uint64_t	v;

	if (m->failed)
		return 0;
	if ((st = ipc_msg_get_u64(m, &v)) != IPC_OK) {
		ipc_fail(m, st);
		return 0;
	}
	return v;
}

void
ipc_get_str(struct ipc_msg *m, char *dst, size_t dstsize)
{
	enum ipc_status	st;

	if (dstsize == 0)
		fatalx("ipc_get_str: no room");
	if (!m->failed && (st = ipc_msg_get_str(m, dst, dstsize)) != IPC_OK)
		ipc_fail(m, st);
	if (m->failed)
		dst[0] = '\0';
}

char *
ipc_get_strdup(struct ipc_msg *m)
{
	enum ipc_status	 st;
	char		*s = NULL;

	if (!m->failed && (st = ipc_msg_get_strdup(m, &s)) != IPC_OK)
		ipc_fail(m, st);
	if (m->failed)
		return xstrdup("");
	return s;
}

const uint8_t *
ipc_get_data(struct ipc_msg *m, size_t *n)
{
	static const uint8_t	 empty[1];
	enum ipc_status		 st;
	const uint8_t		*p = NULL;

	if (!m->failed && (st = ipc_msg_get_data(m, &p, n)) != IPC_OK)
		ipc_fail(m, st);
	if (m->failed) {
		*n = 0;
		return empty;
	}
	return p;
}

int
ipc_end(struct ipc_msg *m)
{
	enum ipc_status	st;

	if (!m->failed && (st = ipc_msg_end(m)) != IPC_OK)
		ipc_fail(m, st);
	return m->failed ? -1 : 0;
}

int
ipc_failed(const struct ipc_msg *m)
{
	return m->failed;
}

void
ipc_bad_type(struct ipc_msg *m)
{
	char	why[64];

	(void)bsnprintf(why, sizeof(why), "unexpected type %u", m->type);
	ipc_violation(m, why);
}

int
ipc_no_fd(struct ipc_msg *m)
{
	if (!m->failed && (m->flags & IPC_F_FD))
		ipc_violation(m, "unexpected file descriptor");
	return m->failed ? -1 : 0;
}

int
ipc_take_fd(struct ipc_msg *m)
{
	int	fd;

	if (m->failed)
		return -1;
	if (!(m->flags & IPC_F_FD)) {
		ipc_violation(m, "file descriptor missing");
		return -1;
	}
	fd = m->fd;
	m->fd = -1;
	return fd;
}

/* ---- channel ---- */

static void ipc_chan_event(int fd, int events, void *arg);
static void ipc_chan_send_soon(void *arg);

struct ipc_chan *
ipc_chan_new(struct event_loop *loop, int fd, const char *peername,
    ipc_dispatch_cb dispatch, ipc_closed_cb closed, void *arg)
{
	struct ipc_chan	*ch;

	ch = xcalloc(1, sizeof(*ch));
	ch->loop = loop;
	ch->fd = fd;
	ch->peer = xstrdup(peername);
	ch->dispatch = dispatch;
	ch->closed = closed;
	ch->arg = arg;
	buf_init(&ch->in);
	ch->send_soon.cb = ipc_chan_send_soon;
	ch->send_soon.arg = ch;
	if (fd_set_nonblock(fd) == -1 || fd_set_cloexec(fd) == -1)
		fatal("ipc_chan_new: %s: fcntl", peername);
	if (event_add(loop, fd, EV_READ, ipc_chan_event, ch) == -1)
		fatal("ipc_chan_new: %s: event_add", peername);
	ch->registered = 1;
	return ch;
}

static void
ipc_out_free(struct ipc_out *o)
{
	if (o->fd != -1)
		close(o->fd);
	buf_free(&o->data);
	free(o);
}

static void
ipc_chan_drop_output(struct ipc_chan *ch)
{
	struct ipc_out	*o;

	while ((o = ch->out_head) != NULL) {
		ch->out_head = o->next;
		ipc_out_free(o);
	}
	ch->out_tail = NULL;
	ch->out_bytes = 0;
}

static void
ipc_chan_unregister(struct ipc_chan *ch)
{
	if (ch->registered) {
		event_defer_cancel(ch->loop, &ch->send_soon);
		event_del(ch->loop, ch->fd);
		ch->registered = 0;
		ch->write_armed = 0;
	}
}

static void
ipc_chan_destroy(struct ipc_chan *ch)
{
	size_t	i;

	ipc_chan_unregister(ch);
	close(ch->fd);
	ipc_chan_drop_output(ch);
	for (i = 0; i < ch->nfds; i++)
		if (ch->fds[i] >= 0)
			close(ch->fds[i]);
	free(ch->fds);
	buf_free(&ch->in);
	free(ch->peer);
	free(ch);
}

void
ipc_chan_free(struct ipc_chan *ch)
{
	if (ch == NULL)
		return;
	if (ch->busy > 0) {
		/* Inside one of our callbacks: the event handler frees it. */
		ch->freeing = 1;
		return;
	}
	ipc_chan_destroy(ch);
}

void
ipc_chan_set_violation(struct ipc_chan *ch, ipc_violation_cb cb)
{
	ch->violation = cb;
}

const char *
ipc_chan_peer(const struct ipc_chan *ch)
{
	return ch->peer;
}

static void
ipc_chan_arm_write(struct ipc_chan *ch, int on)
{
	if (!ch->registered || ch->write_armed == on)
		return;
	if (event_mod(ch->loop, ch->fd, on ? EV_READ | EV_WRITE : EV_READ) == -1)
		fatal("%s: event_mod", ch->peer);
	ch->write_armed = on;
}

/* The peer went away or the socket failed: tell the owner, once. */
static void
ipc_chan_lost(struct ipc_chan *ch)
{
	if (ch->is_closed)
		return;
	ch->is_closed = 1;
	ipc_chan_unregister(ch);
	ipc_chan_drop_output(ch);
	if (ch->closed != NULL)
		ch->closed(ch, ch->arg);
}

/*
 * The peer broke the protocol: fatal, or with a violation callback the
 * channel is closed as if the peer had gone, and the owner hears why.
 */
static void
ipc_chan_broken(struct ipc_chan *ch, const char *what)
{
	if (ch->violation == NULL)
		fatalx("%s: %s", ch->peer, what);
	if (ch->broken || ch->is_closed)
		return;
	ch->broken = 1;
	ch->is_closed = 1;
	ipc_chan_unregister(ch);
	ipc_chan_drop_output(ch);
	ch->violation(ch, what, ch->arg);
}

void
ipc_violation(struct ipc_msg *m, const char *why)
{
	char	what[256];

	if (m->failed)
		return;
	if (m->chan == NULL)
		fatalx("(no channel): message %s: %s", proto_msg_name(m->type),
		    why);
	(void)bsnprintf(what, sizeof(what), "message %s: %s",
	    proto_msg_name(m->type), why);
	m->failed = 1;
	ipc_chan_broken(m->chan, what);
}

void
ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t session, int fd,
    const void *payload, size_t len)
{
	struct ipc_out	*o;

	if (ch->is_closed || ch->freeing) {
		log_debug("%s: channel closed, message %s dropped", ch->peer,
		    proto_msg_name(type));
		if (fd != -1)
			close(fd);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	buf_init(&o->data);
	ipc_encode(&o->data, type, session, fd >= 0 ? IPC_F_FD : 0, payload,
	    len);
	o->fd = fd >= 0 ? fd : -1;
	if (ch->out_tail != NULL)
		ch->out_tail->next = o;
	else
		ch->out_head = o;
	ch->out_tail = o;
	ch->out_bytes += o->data.len;
	/* Sent when the loop's round ends, with whatever else the round
	 * sends on this channel; the socket is watched for room only when
	 * it is full (ipc_chan_write). */
	if (ch->registered && !ch->write_armed)
		event_defer(ch->loop, &ch->send_soon);
}

void
ipc_send_buf(struct ipc_chan *ch, uint32_t type, uint32_t session, int fd,
    const struct buf *payload)
{
	ipc_send(ch, type, session, fd, payload->data, payload->len);
}

ssize_t
ipc_sendmsg(int sock, struct iovec *iov, size_t niov, int fd)
{
	struct msghdr	 msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 r;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = niov;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	return r;
}

/*
 * One sendmsg() of the head of the output queue and the messages after it,
 * up to the next one that carries a descriptor.  Returns its result.
 */
static ssize_t
ipc_chan_sendmsg(struct ipc_chan *ch)
{
	struct iovec	 iov[IPC_IOV_MAX];
	struct ipc_out	*o;
	size_t		 n = 0;

	for (o = ch->out_head; o != NULL && n < IPC_IOV_MAX; o = o->next) {
		if (o != ch->out_head && o->fd != -1)
			break;
		iov[n].iov_base = o->data.data + o->off;
		iov[n].iov_len = o->data.len - o->off;
		n++;
	}
	return ipc_sendmsg(ch->fd, iov, n, ch->out_head->fd);
}

/* Drops n sent bytes from the front of the output queue. */
static void
ipc_chan_advance(struct ipc_chan *ch, size_t n)
{
	struct ipc_out	*o;
	size_t		 rem;

	if (ch->out_head->fd != -1) {
		close(ch->out_head->fd);
		ch->out_head->fd = -1;
	}
	ch->out_bytes -= n;
	while (n > 0 && (o = ch->out_head) != NULL) {
		rem = o->data.len - o->off;
		if (n < rem) {
			o->off += n;
			return;
		}
		n -= rem;
		ch->out_head = o->next;
		if (ch->out_head == NULL)
			ch->out_tail = NULL;
		ipc_out_free(o);
	}
}

/* Sends until done or the socket is full: 0, or -1 with errno. */
static int
ipc_chan_write_some(struct ipc_chan *ch)
{
	ssize_t	r;

	while (ch->out_head != NULL) {
		if ((r = ipc_chan_sendmsg(ch)) == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		ipc_chan_advance(ch, (size_t)r);
	}
	return 0;
}

static void
ipc_chan_write(struct ipc_chan *ch)
{
	if (ipc_chan_write_some(ch) == -1) {
		if (errno != EPIPE && errno != ECONNRESET)
			log_warn("%s: send", ch->peer);
		ipc_chan_lost(ch);
		return;
	}
	ipc_chan_arm_write(ch, ch->out_head != NULL);
}

/* The round is over: what it queued goes out now. */
static void
ipc_chan_send_soon(void *arg)
{
	struct ipc_chan	*ch = arg;

	if (ch->is_closed || ch->freeing || ch->out_head == NULL)
		return;
	ch->busy++;
	ipc_chan_write(ch);
	ch->busy--;
	if (ch->freeing && ch->busy == 0)
		ipc_chan_destroy(ch);
}

int
ipc_chan_flush(struct ipc_chan *ch)
{
	struct pollfd	pfd;

	while (ch->out_head != NULL && !ch->is_closed) {
		if (ipc_chan_write_some(ch) == -1) {
			log_warn("%s: flush", ch->peer);
			ipc_chan_drop_output(ch);
			return -1;
		}
		if (ch->out_head == NULL)
			break;
		pfd.fd = ch->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
			log_warn("%s: poll", ch->peer);
			return -1;
		}
	}
	ipc_chan_arm_write(ch, 0);
	return ch->is_closed ? -1 : 0;
}

static void
ipc_chan_push_fd(struct ipc_chan *ch, int fd)
{
	if (ch->broken) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (ch->nfds >= IPC_MAX_QUEUED_FDS) {
		if (fd >= 0)
			close(fd);
		ipc_chan_broken(ch, "too many unclaimed file descriptors");
		return;
	}
	if (ch->nfds == ch->fdcap) {
		ch->fdcap = ch->fdcap ? ch->fdcap * 2 : 4;
		ch->fds = xreallocarray(ch->fds, ch->fdcap, sizeof(int));
	}
	ch->fds[ch->nfds++] = fd;
}

static int
ipc_chan_pop_fd(struct ipc_chan *ch)
{
	int	fd;

	if (ch->nfds == 0)
		return -1;
	fd = ch->fds[0];
	ch->nfds--;
	memmove(ch->fds, ch->fds + 1, ch->nfds * sizeof(int));
	return fd;
}

static void
ipc_chan_collect_fds(struct ipc_chan *ch, struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	size_t		 i, n;
	int		 fd;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			ipc_chan_push_fd(ch, fd);
		}
	}
	if (msg->msg_flags & MSG_CTRUNC) {
		/* Out of descriptors, most likely: the message it came with
		 * fails, the channel lives on. */
		log_warnx("%s: a passed file descriptor was lost (control "
		    "data truncated)", ch->peer);
		ipc_chan_push_fd(ch, IPC_FD_LOST);
	}
}

/* A malformed header, named by the peer and the message type. */
static void
ipc_chan_violation(struct ipc_chan *ch, const uint8_t *p, size_t n,
    enum ipc_status st)
{
	uint32_t	type = 0;
	char		what[256];

	if (n >= sizeof(type))
		memcpy(&type, p, sizeof(type));
	(void)bsnprintf(what, sizeof(what), "message %s: %s",
	    proto_msg_name(type), ipc_strerror(st));
	ipc_chan_broken(ch, what);
}

/* The descriptor of an IPC_F_FD message: 0, or -1 if none came. */
static int
ipc_chan_claim_fd(struct ipc_chan *ch, struct ipc_msg *m)
{
	int	fd;

	if ((fd = ipc_chan_pop_fd(ch)) == -1)
		return -1;
	if (fd == IPC_FD_LOST)
		m->fd_lost = 1;
	else
		m->fd = fd;
	return 0;
}

/*
 * Hands every complete message in the input buffer to the dispatcher.
 * Returns -1 if the dispatcher freed the channel.
 */
static int
ipc_chan_dispatch(struct ipc_chan *ch)
{
	struct ipc_msg	 m;
	enum ipc_status	 st;
	const uint8_t	*p;
	size_t		 off = 0, used;

	for (;;) {
		p = (const uint8_t *)ch->in.data + off;
		st = ipc_decode(p, ch->in.len - off, &m, &used);
		if (st == IPC_NEED_MORE)
			break;
		if (st != IPC_OK) {
			ipc_chan_violation(ch, p, ch->in.len - off, st);
			return -1;
		}
		m.chan = ch;
		if ((m.flags & IPC_F_FD) && ipc_chan_claim_fd(ch, &m) == -1) {
			ipc_chan_violation(ch, p, used, IPC_ERR_NOFD);
			return -1;
		}
		off += used;
		ch->dispatch(ch, &m, ch->arg);
		if (m.fd != -1)
			close(m.fd);
		if (ch->freeing || ch->broken)
			return -1;
	}
	buf_consume(&ch->in, off);
	return 0;
}

static void
ipc_chan_read(struct ipc_chan *ch)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(IPC_RECV_FDS * sizeof(int))];
	}		 cmsgbuf;
	ssize_t		 r;

	buf_reserve(&ch->in, IPC_READ_CHUNK);
	iov.iov_base = ch->in.data + ch->in.len;
	iov.iov_len = ch->in.cap - ch->in.len - 1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	r = recvmsg(ch->fd, &msg, MSG_CMSG_CLOEXEC);
	if (r == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno != ECONNRESET)
			log_warn("%s: recvmsg", ch->peer);
		ipc_chan_lost(ch);
		return;
	}
	ipc_chan_collect_fds(ch, &msg);
	if (ch->broken)
		return;
	if (r == 0) {
		ipc_chan_lost(ch);
		return;
	}
	ch->in.len += (size_t)r;
	ch->in.data[ch->in.len] = '\0';
	ipc_chan_dispatch(ch);
}

static void
ipc_chan_event(int fd, int events, void *arg)
{
	struct ipc_chan	*ch = arg;

	(void)fd;
	ch->busy++;
	if (events & (EV_READ | EV_ERROR))
		ipc_chan_read(ch);
	if (!ch->freeing && !ch->is_closed && (events & EV_WRITE))
		ipc_chan_write(ch);
	ch->busy--;
	if (ch->freeing && ch->busy == 0)
		ipc_chan_destroy(ch);
}
