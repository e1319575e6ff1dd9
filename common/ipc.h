/*
 * ipc.h - small typed messages between strictmail processes over
 * socketpairs (AF_UNIX, SOCK_STREAM), with optional descriptor passing.
 *
 * Wire format of one message: a 16-byte header in host byte order
 *   uint32 type, uint32 len (payload bytes), uint32 session,
 *   uint16 version (IPC_VERSION), uint16 flags (IPC_F_FD: one fd attached)
 * followed by len payload bytes.  Payload fields: u32 and u64 in host order;
 * str = u32 length + bytes (no NUL inside, at most IPC_MAX_STR); data = u32
 * length + bytes.  A message longer than IPC_MAX_PAYLOAD, a wrong version, an
 * unknown flag, a missing fd, a short field or a byte left over after
 * ipc_end() is a protocol violation: the reading process logs it, naming the
 * peer and the message type, and exits (fatalx).  The parent notices.
 * The parent itself must outlive a bad child: its channels have a
 * violation callback, and a violation closes the channel and calls it
 * instead of exiting.
 *
 * A descriptor the kernel could not install (the reader is out of
 * descriptors: recvmsg() sets MSG_CTRUNC) is not a violation: the message
 * arrives with fd -1 and fd_lost set, and only the request it carries
 * fails.  ipc_send() attaches at most one descriptor per sendmsg(), so a
 * truncated control message stands for exactly one lost descriptor.
 *
 * The codec (ipc_decode, ipc_msg_get_*) returns error codes and is pure, so
 * it is unit-tested.  The channel readers (ipc_get_*, ipc_end, ipc_bad_type,
 * ipc_no_fd, ipc_take_fd) die on error, unless the channel has a violation
 * callback: then the first error closes the channel, runs the callback and
 * marks the message failed (sticky).  From then on every reader of that
 * message returns 0, "" or an empty field without looking at the payload,
 * and reports nothing more; ipc_end() returns -1.  A dispatcher of such a
 * channel reads all its fields, then checks ipc_end(m) == -1 (or
 * ipc_failed(m)) before it acts on any of them, and returns if so: the
 * channel is gone by then (its owner freed it in the callback; the memory
 * lives until the dispatcher returns, and ipc_send() on it drops).
 */
#ifndef SM_IPC_H
#define SM_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "buf.h"

#define IPC_VERSION		1
#define IPC_HDR_LEN		16
#define IPC_MAX_PAYLOAD		(256 * 1024)
#define IPC_MAX_STR		(64 * 1024)
#define IPC_F_FD		0x0001

struct event_loop;
struct ipc_chan;

struct ipc_msg {
	uint32_t	 type;
	uint32_t	 session;
	uint16_t	 version;
	uint16_t	 flags;
	int		 fd;		/* -1 unless IPC_F_FD; the receiver owns it */
	int		 fd_lost;	/* IPC_F_FD, but the descriptor was lost
					 * in transit (MSG_CTRUNC): fd is -1 */
	int		 failed;	/* a reader found a violation: sticky */
	const uint8_t	*data;		/* payload */
	size_t		 len;
	size_t		 pos;		/* read cursor */
	struct ipc_chan	*chan;		/* NULL when decoded outside a channel */
};

enum ipc_status {
	IPC_OK = 0,
	IPC_NEED_MORE,		/* header or payload not complete yet */
	IPC_ERR_VERSION,
	IPC_ERR_TOOBIG,
	IPC_ERR_FLAGS,
	IPC_ERR_SHORT,		/* a field runs past the payload */
	IPC_ERR_STR,		/* string too long or holds a NUL */
	IPC_ERR_TRAILING,	/* bytes left over at the end */
	IPC_ERR_NOFD,		/* IPC_F_FD set but no descriptor came */
};
const char *ipc_strerror(enum ipc_status st);

/* ---- codec (pure) ---- */

/* Appends a complete message (header + payload) to out. */
void ipc_encode(struct buf *out, uint32_t type, uint32_t session,
    uint16_t flags, const void *payload, size_t len);
/* Decodes one message from in[0..inlen); on IPC_OK sets *used and fills m
 * (m->data points into in, m->fd = -1). */
enum ipc_status ipc_decode(const uint8_t *in, size_t inlen, struct ipc_msg *m,
    size_t *used);

/* Payload builders for a struct buf being assembled as a payload. */
void ipc_put_u32(struct buf *b, uint32_t v);
void ipc_put_u64(struct buf *b, uint64_t v);
void ipc_put_str(struct buf *b, const char *s);	/* fatalx if > IPC_MAX_STR */
void ipc_put_data(struct buf *b, const void *p, size_t n);

/* Field readers: IPC_OK or an error; strings are copied into dst
 * (NUL-terminated), IPC_ERR_STR if they do not fit in dstsize. */
enum ipc_status ipc_msg_get_u32(struct ipc_msg *m, uint32_t *v);
enum ipc_status ipc_msg_get_u64(struct ipc_msg *m, uint64_t *v);
enum ipc_status ipc_msg_get_str(struct ipc_msg *m, char *dst, size_t dstsize);
enum ipc_status ipc_msg_get_strdup(struct ipc_msg *m, char **dst);
enum ipc_status ipc_msg_get_data(struct ipc_msg *m, const uint8_t **p, size_t *n);
enum ipc_status ipc_msg_end(struct ipc_msg *m);

/* ---- channel (event-driven, non-blocking) ---- */

typedef void (*ipc_dispatch_cb)(struct ipc_chan *ch, struct ipc_msg *m, void *arg);
/* Called once when the peer closed the socket or an I/O error happened;
 * the channel is unusable afterwards (free it). */
typedef void (*ipc_closed_cb)(struct ipc_chan *ch, void *arg);
/* Called once, instead of dying, when the peer broke the protocol; what
 * says how ("message MSG_X: <error>").  The channel is closed already
 * (free it); the closed callback is not called. */
typedef void (*ipc_violation_cb)(struct ipc_chan *ch, const char *what,
    void *arg);

struct ipc_chan *ipc_chan_new(struct event_loop *loop, int fd,
    const char *peername, ipc_dispatch_cb dispatch, ipc_closed_cb closed,
    void *arg);
void ipc_chan_free(struct ipc_chan *ch);	/* closes fd and queued fds */
/* For a reader that must survive its peer (the parent): violations call
 * cb instead of fatalx. */
void ipc_chan_set_violation(struct ipc_chan *ch, ipc_violation_cb cb);
const char *ipc_chan_peer(const struct ipc_chan *ch);

/* Send one message; payload may be NULL/0.  fd >= 0 is passed with
 * SCM_RIGHTS and closed here after it has been sent.  Never blocks. */
void ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t session, int fd,
    const void *payload, size_t len);
/* Same, payload taken from a buf built with ipc_put_*. */
void ipc_send_buf(struct ipc_chan *ch, uint32_t type, uint32_t session,
    int fd, const struct buf *payload);
/* One sendmsg() of iov (MSG_NOSIGNAL, again after EINTR), with fd
 * attached (SCM_RIGHTS) unless it is -1; its result.  The channel's own
 * writer, and raw sockets that pass a descriptor. */
struct iovec;
ssize_t ipc_sendmsg(int sock, struct iovec *iov, size_t niov, int fd);
/* Blocking flush of everything queued (used before exit); -1 on error. */
int ipc_chan_flush(struct ipc_chan *ch);

/*
 * Channel readers.  On an error they die ("<peer>: message <type>:
 * <error>"), or on a channel with a violation callback they report it
 * once, mark m failed and return 0 / "" / an empty field; on a failed m
 * they return those at once.
 */
uint32_t ipc_get_u32(struct ipc_msg *m);
uint64_t ipc_get_u64(struct ipc_msg *m);
void ipc_get_str(struct ipc_msg *m, char *dst, size_t dstsize);
/* Never NULL: "" on failure; the caller frees it either way. */
char *ipc_get_strdup(struct ipc_msg *m);
/* The bytes of a data field (pointing into m); *n = 0 on failure. */
const uint8_t *ipc_get_data(struct ipc_msg *m, size_t *n);
/* No byte may be left over: 0, or -1 if m failed (now or before). */
int ipc_end(struct ipc_msg *m);
/* 1 if a reader or ipc_violation() found m broken. */
int ipc_failed(const struct ipc_msg *m);
/* For dispatchers: an unexpected type from this peer is a violation. */
void ipc_bad_type(struct ipc_msg *m);
/* For messages that carry no descriptor: 0, or -1 (a violation) if one
 * came or was meant to (IPC_F_FD, even when it was lost). */
int ipc_no_fd(struct ipc_msg *m);
/* For messages that carry one: the descriptor, now the caller's.  -1 if
 * it was lost in transit (m->fd_lost, not a violation: fail the request
 * only), or if the message has none (a violation, m failed). */
int ipc_take_fd(struct ipc_msg *m);
/* For dispatchers: m breaks the protocol (why); the violation callback
 * runs and m is failed, or without one the process dies.  Once only. */
void ipc_violation(struct ipc_msg *m, const char *why);

#endif
