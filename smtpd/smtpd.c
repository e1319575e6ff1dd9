/*
 * smtpd.c - the receiver process: listeners, connection records, and the
 * I/O around the session state machine (smtp_session.c); the message file
 * is smtpd_msg.c, the handshake and the certificate smtpd_tls.c.
 *
 * Each connection has an input buffer cut into command lines, an output
 * buffer of replies written in one go after each batch, and one timer for
 * the client's delays, the answers of the other processes
 * (timeout-request) and the session as a whole (timeout-session).  While
 * a session waits for the lookup or queue process, or holds back an error
 * reply past soft-error-limit, no command is read, so pipelined replies
 * stay in order; a connection closed meanwhile stays a record without a
 * socket until the answers due have arrived.  SIGTERM answers 421 at once
 * to every client but those whose commit is in flight: they get the
 * queue's answer first, then 421 (within 4/5 of shutdown-timeout, so that
 * a message is never both refused and queued), and open messages are
 * aborted.
 *
 * Descriptors: the process counts what it holds (those open at start,
 * one socket per connection, one message descriptor per session that
 * holds, awaits or may ask for one) against RLIMIT_NOFILE, and keeps
 * SMTPD_FD_RESERVE of them free.  A connection that would eat into that
 * gets 421 4.3.2 at once, MAIL gets 452 4.3.1, and an accept() that fails
 * with EMFILE or ENFILE pauses accepting for a moment.  Should the
 * descriptor of an opened message be lost all the same (the kernel drops
 * it when the table is full, ipc.h), the message is aborted at the queue
 * and DATA or BDAT gets 452 4.3.1 like any lack of storage; the session
 * goes on.  Nothing here exits for want of descriptors.
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/util.h"
#include "lookup/lookup.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd.h"
#include "smtpd/smtpd_int.h"

#define SMTPD_READ_CHUNK	(16 * 1024)	/* one read() from a client */
#define SMTPD_IN_MAX		(64 * 1024)	/* unread input while waiting */
#define SMTPD_OUT_MAX		(64 * 1024)	/* replies a client leaves unread */
#define SMTPD_TLS_WRITE_MAX	(16 * 1024)	/* one TLS record */
#define SMTPD_ACCEPT_BATCH	64
#define SMTPD_ACCEPT_PAUSE_MS	1000
#define SMTPD_TLS_WAIT_MS	5000	/* for the parent's first certificate */
#define SMTPD_FD_RESERVE	8	/* descriptors kept free: logging,
					 * IPC, a refusal's accept() */
#define SMTPD_FD_SCAN_MAX	65536	/* counted at start, at most */

#define SMTPD_IO_AGAIN		(-2)	/* nothing to read or write now */

static int smtpd_conn_process(struct smtpd_conn *c);
static int smtpd_fd_short(const struct smtpd *sd, uint64_t need);
static void smtpd_conn_event(int fd, int events, void *arg);
static void smtpd_conn_timer(void *arg);
static void smtpd_conn_delay(struct smtpd_conn *c);
static void smtpd_conn_request_sent(struct smtpd_conn *c);
static void smtpd_drain_check(struct smtpd *sd);

/* ---- connection records ---- */

static void
smtpd_conn_tls_free(struct smtpd_conn *c)
{
	if (c->tls != NULL) {
		if (!c->handshaking)
			tls_close(c->tls);
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->tlsconf != NULL) {
		tls_server_conf_unref(c->tlsconf);
		c->tlsconf = NULL;
	}
	c->handshaking = 0;
	c->tls_start = 0;
}

/*
 * When the last session is gone, the heap's free pages (TLS buffers of
 * the sessions of a burst, about 50 KiB each) go back to the kernel, at
 * most every SMTPD_TRIM_MS: glibc keeps them otherwise.
 */
#define SMTPD_TRIM_MS	5000

static void
smtpd_trim(struct smtpd *sd)
{
	uint64_t	now;

	if (sd->nconns != 0)
		return;
	now = now_ms();
	if (now - sd->trimmed_ms < SMTPD_TRIM_MS)
		return;
	sd->trimmed_ms = now;
	(void)malloc_trim(0);
}

static void smtpd_send_abort_qid(struct smtpd *sd, uint32_t id,
    const char *qid, int unused);
static void smtpd_pre_use(void *arg);

/* An answer from another process is due: the record must stay. */
static int
smtpd_conn_busy(const struct smtpd_conn *c)
{
	return smtp_session_busy(&c->sess) || c->pre == SMTPD_PRE_PENDING ||
	    c->hs_out;
}

/* A message opened ahead that nothing will use: aborted at the queue. */
static void
smtpd_pre_discard(struct smtpd_conn *c)
{
	if (c->pre == SMTPD_PRE_READY) {
		if (!c->sd->queue_lost)
			smtpd_send_abort_qid(c->sd, c->sess.id, c->pre_qid,
			    1);
		close(c->pre_fd);
		c->pre_fd = -1;
		c->pre = SMTPD_PRE_NONE;
	}
}

static void
smtpd_conn_free(struct smtpd_conn *c)
{
	struct smtpd	*sd = c->sd;

	event_defer_cancel(sd->loop, &c->pre_use);
	smtpd_pre_discard(c);
	TAILQ_REMOVE(&c->sd->conns, c, entry);
	c->sd->nconns--;
	event_timer_cancel(c->sd->loop, c->timer);
	event_timer_cancel(c->sd->loop, c->delay_timer);
	smtpd_msg_close(c);
	smtpd_conn_tls_free(c);
	smtp_session_free(&c->sess);
	smtpd_conf_detach(c);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->wbuf);
	free(c);
	smtpd_trim(sd);
}

static void
smtpd_send_abort_qid(struct smtpd *sd, uint32_t id, const char *qid,
    int unused)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, qid);
	ipc_put_u32(&b, unused ? 1 : 0);
	ipc_send_buf(sd->queue, MSG_Q_ABORT, id, -1, &b);
	buf_free(&b);
}

/* The connection of session id, or NULL. */
static struct smtpd_conn *
smtpd_conn_by_id(const struct smtpd *sd, uint32_t id)
{
	struct smtpd_conn	*c;

	TAILQ_FOREACH(c, &sd->conns, entry)
		if (c->sess.id == id)
			return c;
	return NULL;
}

static int
smtpd_id_in_use(void *arg, uint32_t id)
{
	return smtpd_conn_by_id(arg, id) != NULL;
}

void
smtpd_send_abort(struct smtpd_conn *c)
{
	smtpd_send_abort_qid(c->sd, c->sess.id, c->sess.qid, 0);
}

/* The connection's TLS and socket go (fd: its socket, in c->fd or, after
 * a close while a handshake step was out, c->hs_fd). */
static void
smtpd_conn_drop_socket(struct smtpd_conn *c, int fd)
{
	smtpd_conn_tls_free(c);
	event_del(c->sd->loop, fd);	/* nothing if it is not watched */
	close(fd);
	c->sd->nlive--;
}

/*
 * Ends the client connection.  The record lives on without a socket while
 * an answer from another process is due; the answer frees it.  The
 * caller must not touch c afterwards.
 */
void
smtpd_conn_close(struct smtpd_conn *c, enum smtp_close_reason why)
{
	smtp_session_closed(&c->sess, why);
	smtp_session_log_end(&c->sess);
	log_info("session=%s disconnect client=%s reason=%s messages=%u",
	    c->sess.sid, c->sess.client,
	    smtp_close_reason_name(c->sess.close_reason), c->sess.nmessages);
	smtpd_msg_drop(c);
	if (c->hs_out)
		c->hs_fd = c->fd;	/* smtpd_conn_let_go, once it is back */
	else
		smtpd_conn_drop_socket(c, c->fd);
	c->fd = -1;
	event_timer_cancel(c->sd->loop, c->timer);
	c->timer = NULL;
	event_timer_cancel(c->sd->loop, c->delay_timer);
	c->delay_timer = NULL;
	c->delaying = 0;
	/* One about to be handed to DATA goes there, to be dropped as a
	 * late answer would be. */
	if (!c->pre_use.queued)
		smtpd_pre_discard(c);
	if (!smtpd_conn_busy(c))
		smtpd_conn_free(c);
}

/* A handshake step came back to a connection closed while it was out:
 * its TLS and socket go now, and the record if nothing else is due. */
void
smtpd_conn_let_go(struct smtpd_conn *c)
{
	smtpd_conn_drop_socket(c, c->hs_fd);
	c->hs_fd = -1;
	if (!smtpd_conn_busy(c))
		smtpd_conn_free(c);
}

/* ---- output ---- */

void
smtpd_conn_reply(struct smtpd_conn *c, const struct smtp_reply *r)
{
	if (c->fd == -1)
		return;
	smtp_reply_format(r, &c->out);
	if (c->out.len > SMTPD_OUT_MAX) {
		log_warnx("session=%s: client %s does not read its replies",
		    c->sess.sid, c->sess.client);
		smtp_session_closed(&c->sess, SMTP_CLOSE_ERROR);
		c->kill = 1;
	}
}

/* One TLS write of the front of the output; its length or -1/AGAIN. */
static ssize_t
smtpd_conn_send_tls(struct smtpd_conn *c)
{
	size_t	len;
	ssize_t	n;

	len = c->tls_wlen != 0 ? c->tls_wlen : c->out.len < SMTPD_TLS_WRITE_MAX ?
	    c->out.len : SMTPD_TLS_WRITE_MAX;
	n = tls_write(c->tls, c->out.data, len);
	if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
		/* mbedTLS wants the very same write again. */
		c->tls_wlen = len;
		c->tls_wwant = n == TLS_WANT_READ ? EV_READ : EV_WRITE;
		return SMTPD_IO_AGAIN;
	}
	c->tls_wlen = 0;
	c->tls_wwant = 0;
	if (n < 0) {
		smtpd_tls_log_error(c, "write error");
		return -1;
	}
	return n;
}

static ssize_t
smtpd_conn_send(struct smtpd_conn *c)
{
	ssize_t	n;

	if (c->tls != NULL)
		return smtpd_conn_send_tls(c);
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return SMTPD_IO_AGAIN;
	return n;
}

/* Writes what the socket takes; -1 on a write error. */
static int
smtpd_conn_write(struct smtpd_conn *c)
{
	ssize_t	n;

	while (c->out.len > 0) {
		if ((n = smtpd_conn_send(c)) == SMTPD_IO_AGAIN)
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

/* May the next input be read? */
static int
smtpd_conn_can_read(const struct smtpd_conn *c)
{
	return c->fd != -1 && !c->closing && !c->kill && !c->tls_start &&
	    !c->handshaking && c->sess.wait == SMTP_A_REPLY && !c->delaying &&
	    !c->msg_wait &&
	    c->in.len < SMTPD_IN_MAX;
}

void
smtpd_conn_update_events(struct smtpd_conn *c)
{
	int	ev = 0;

	if (c->hs_out)		/* not watched until it is back */
		return;
	if (c->handshaking)
		ev = c->tls_rwant != 0 ? c->tls_rwant : EV_READ;
	else {
		if (smtpd_conn_can_read(c))
			ev |= c->tls_rwant != 0 ? c->tls_rwant : EV_READ;
		if (c->out.len > 0 && c->sess.wait == SMTP_A_REPLY &&
		    !c->delaying)
			ev |= c->tls_wwant != 0 ? c->tls_wwant : EV_WRITE;
	}
	if (event_mod(c->sd->loop, c->fd, ev) == -1)
		fatal("session=%s: event_mod", c->sess.sid);
}

/*
 * After each batch: write the replies, close if it is time, start TLS
 * once the 220 is out, or re-arm.  While the session waits for another
 * process its replies so far are held, so that a pipelined batch is
 * answered in one write, and so are they while an error reply is delayed.
 * Returns -1 if the connection was closed (and c may be gone), else 0.
 */
static int
smtpd_conn_flush(struct smtpd_conn *c)
{
	if (c->fd == -1)
		return -1;
	if (c->kill) {
		smtpd_conn_close(c, SMTP_CLOSE_ERROR);
		return -1;
	}
	if (c->sess.wait == SMTP_A_REPLY && !c->handshaking && !c->delaying &&
	    smtpd_conn_write(c) == -1) {
		smtpd_conn_close(c, SMTP_CLOSE_ERROR);
		return -1;
	}
	if (c->closing && c->out.len == 0) {
		smtpd_conn_close(c, SMTP_CLOSE_ERROR);
		return -1;
	}
	if (c->tls_start && c->out.len == 0)
		return smtpd_tls_begin(c);
	smtpd_conn_update_events(c);
	return 0;
}

/* ---- requests to the other processes ---- */

static void
smtpd_send_lookup(struct smtpd_conn *c)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, c->sess.lookup_local);
	ipc_put_str(&b, c->sess.lookup_domain);
	ipc_send_buf(c->sd->lookup, MSG_L_RCPT, c->sess.id, -1, &b);
	buf_free(&b);
}

/* MSG_L_AUTH: the password is wiped from the message buffer at once
 * (the session wipes its own copy after this). */
static void
smtpd_send_auth(struct smtpd_conn *c)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, c->sess.auth_user);
	ipc_put_str(&b, c->sess.auth_password);
	ipc_put_str(&b, c->sess.client);
	ipc_send_buf(c->sd->lookup, MSG_L_AUTH, c->sess.id, -1, &b);
	explicit_bzero(b.data, b.cap);
	buf_free(&b);
}

/* MSG_L_SENDER: may the authenticated user send as this sender? */
static void
smtpd_send_sender(struct smtpd_conn *c)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, c->sess.auth_name);
	ipc_put_str(&b, c->sess.sender_check);
	ipc_send_buf(c->sd->lookup, MSG_L_SENDER, c->sess.id, -1, &b);
	buf_free(&b);
}

/* MSG_Q_COMMIT, laid out in proto.h. */
static void
smtpd_send_commit(struct smtpd_conn *c)
{
	const struct smtp_session	*s = &c->sess;
	struct buf			 b;
	size_t				 i;

	buf_init(&b);
	ipc_put_str(&b, s->qid);
	ipc_put_str(&b, s->sender);
	ipc_put_str(&b, s->helo);
	ipc_put_str(&b, s->client);
	ipc_put_str(&b, smtp_session_protocol(s));
	ipc_put_str(&b, s->tls ? s->tls_info : "");
	ipc_put_u64(&b, s->msg_size);
	ipc_put_str(&b, s->envid);
	ipc_put_u32(&b, s->ret);
	ipc_put_u32(&b, (uint32_t)s->smtputf8);
	ipc_put_u32(&b, s->body);
	ipc_put_u32(&b, (uint32_t)s->nrcpt);
	for (i = 0; i < s->nrcpt; i++) {
		ipc_put_str(&b, s->rcpts[i].addr);
		ipc_put_u32(&b, s->rcpts[i].notify);
		ipc_put_str(&b, s->rcpts[i].orcpt ? s->rcpts[i].orcpt : "");
	}
	ipc_send_buf(c->sd->queue, MSG_Q_COMMIT, s->id, -1, &b);
	buf_free(&b);
}

/* After STARTTLS: nothing read so far may count (CVE-2011-0411). */
static void
smtpd_starttls(struct smtpd_conn *c, const struct smtp_reply *r)
{
	smtpd_conn_reply(c, r);
	c->tls_start = 1;
}

/*
 * The first recipient is accepted, or being looked up, and no message is
 * open: the queue is asked for one now, beside the lookup, so that it is
 * there when DATA or BDAT comes (the reply to RCPT does not wait for
 * it).  It serves every transaction of the connection until one uses
 * it; one never used is aborted when the connection ends.
 */
static void
smtpd_pre_open(struct smtpd_conn *c)
{
	const struct smtp_session	*s = &c->sess;
	int				 rcpt;

	rcpt = (s->state == SMTP_RCPT && s->wait == SMTP_A_REPLY) ||
	    ((s->state == SMTP_MAIL || s->state == SMTP_RCPT) &&
	    s->wait == SMTP_A_LOOKUP);
	if (c->pre != SMTPD_PRE_NONE || c->pre_off || c->fd == -1 ||
	    c->closing ||
	    c->kill || !rcpt || s->stale_queue != SMTP_A_REPLY || s->opened ||
	    c->sd->stopping || c->sd->queue_lost)
		return;
	ipc_send(c->sd->queue, MSG_Q_OPEN, s->id, -1, NULL, 0);
	c->pre = SMTPD_PRE_PENDING;
}

/* Carries out what the session asked for. */
void
smtpd_conn_act(struct smtpd_conn *c, enum smtp_action a,
    const struct smtp_reply *r)
{
	switch (a) {
	case SMTP_A_REPLY:
		smtpd_conn_reply(c, r);
		break;
	case SMTP_A_CLOSE:
		smtpd_conn_reply(c, r);
		c->closing = 1;
		break;
	case SMTP_A_LOOKUP:
		smtpd_send_lookup(c);
		break;
	case SMTP_A_AUTH:
		smtpd_send_auth(c);
		break;
	case SMTP_A_SENDER:
		smtpd_send_sender(c);
		break;
	case SMTP_A_OPEN:
		/* One opened ahead is handed over once this round is done;
		 * the answer to one on its way serves as it comes. */
		if (c->pre == SMTPD_PRE_READY)
			event_defer(c->sd->loop, &c->pre_use);
		else if (c->pre == SMTPD_PRE_NONE)
			ipc_send(c->sd->queue, MSG_Q_OPEN, c->sess.id, -1, NULL,
			    0);
		break;
	case SMTP_A_DATA:
		smtpd_conn_reply(c, r);
		if (c->fd == -1)
			smtpd_msg_drop(c);
		else {
			smtpd_msg_start(c, 0);
			c->in_data = 1;
		}
		break;
	case SMTP_A_COMMIT:
		smtpd_send_commit(c);
		break;
	case SMTP_A_ABORT:
		smtpd_send_abort(c);
		smtpd_msg_close(c);
		smtpd_conn_reply(c, r);
		break;
	case SMTP_A_STARTTLS:
		smtpd_starttls(c, r);
		break;
	case SMTP_A_CHUNK:
		smtpd_msg_chunk_start(c);
		break;
	case SMTP_A_SKIP:
		smtpd_conn_reply(c, r);
		c->skip_left = c->sess.chunk_size;
		break;
	}
	if (c->sess.secret_line)
		smtp_session_auth_wipe(&c->sess);
	if (a == SMTP_A_LOOKUP || a == SMTP_A_OPEN || a == SMTP_A_COMMIT ||
	    a == SMTP_A_AUTH || a == SMTP_A_SENDER)
		smtpd_conn_request_sent(c);
	if (smtp_session_take_delay(&c->sess))
		smtpd_conn_delay(c);
	smtpd_pre_open(c);
}

/* ---- command input ---- */

/* Skips the rest of an overlong line; 0 when it needs more input. */
static int
smtpd_conn_discard(struct smtpd_conn *c)
{
	const char	*p = c->in.data + c->inpos, *nl;

	if ((nl = memchr(p, '\n', c->in.len - c->inpos)) == NULL) {
		c->inpos = c->in.len;
		return 0;
	}
	c->inpos += (size_t)(nl - p) + 1;
	c->discard = 0;
	c->last = now_ms();
	return 1;
}

/* Hands the next complete command line to the session; 0 if there is
 * none yet. */
static int
smtpd_conn_command(struct smtpd_conn *c)
{
	struct smtp_reply	 r;
	enum smtp_action	 a;
	const char		*p = c->in.data + c->inpos, *nl;
	size_t			 avail = c->in.len - c->inpos, len;
	size_t			 max = c->cfg->max_command_line;

	if ((nl = memchr(p, '\n', avail < max ? avail : max)) != NULL) {
		len = (size_t)(nl - p) + 1;
		c->inpos += len;
		c->last = now_ms();
		/* MAIL takes a message descriptor later: is there one? */
		c->sd->srv.fds_low = smtpd_fd_short(c->sd, 1);
		a = smtp_session_command(&c->sess, p, len, &r);
		/* An AUTH line: no copy stays in the input buffer. */
		if (c->sess.secret_line)
			explicit_bzero(c->in.data + c->inpos - len, len);
	} else if (avail >= max) {
		c->discard = 1;
		a = smtp_session_line_too_long(&c->sess, &r);
	} else
		return 0;
	smtpd_conn_act(c, a, &r);
	return 1;
}

/*
 * Works through the buffered input as far as the session allows.
 * Returns -1 if the connection was closed (and c may be gone), else 0.
 */
static int
smtpd_conn_process(struct smtpd_conn *c)
{
	int	more = 1;

	while (more && c->fd != -1 && !c->kill && !c->closing &&
	    !c->tls_start && c->sess.wait == SMTP_A_REPLY && !c->delaying &&
	    !c->msg_wait) {
		if (c->skip_left > 0)
			more = smtpd_msg_skip_input(c);
		else if (c->in_data && c->chunk)
			more = smtpd_msg_chunk_input(c);
		else if (c->in_data)
			more = smtpd_msg_data_input(c);
		else if (c->discard)
			more = smtpd_conn_discard(c);
		else
			more = smtpd_conn_command(c);
	}
	buf_consume(&c->in, c->inpos);
	c->inpos = 0;
	if (c->tls_start)
		smtpd_tls_drop_input(c);
	return smtpd_conn_flush(c);
}

/* One read from the socket or TLS: bytes, 0 at EOF, -1 on an error,
 * SMTPD_IO_AGAIN if there is nothing now. */
static ssize_t
smtpd_conn_recv(struct smtpd_conn *c, char *p, size_t len)
{
	ssize_t	n;

	if (c->tls == NULL) {
		n = read(c->fd, p, len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			return SMTPD_IO_AGAIN;
		return n;
	}
	c->tls_rwant = 0;
	n = tls_read(c->tls, p, len);
	if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
		c->tls_rwant = n == TLS_WANT_READ ? EV_READ : EV_WRITE;
		return SMTPD_IO_AGAIN;
	}
	if (n < 0)
		smtpd_tls_log_error(c, "read error");
	return n < 0 ? -1 : n;
}

/* Decrypted input waits inside TLS, where no event will report it. */
static int
smtpd_conn_tls_more(const struct smtpd_conn *c)
{
	return c->tls != NULL && smtpd_conn_can_read(c) &&
	    tls_pending(c->tls) > 0;
}

/*
 * Reads what the client sent.  After a hang-up or socket error (hup) a
 * read must give data, EOF or the error; anything else ends the session
 * too, so that a level-triggered hang-up cannot spin the loop.  Returns
 * -1 if the connection was closed (and c may be gone), else 0.
 */
int
smtpd_conn_input(struct smtpd_conn *c, int hup)
{
	ssize_t	n;

	do {
		buf_reserve(&c->in, SMTPD_READ_CHUNK);
		n = smtpd_conn_recv(c, c->in.data + c->in.len,
		    c->in.cap - c->in.len - 1);
		if (n == SMTPD_IO_AGAIN && !hup)
			return smtpd_conn_flush(c);
		if (n <= 0 || n == SMTPD_IO_AGAIN) {
			smtpd_conn_close(c, n == 0 ? SMTP_CLOSE_EOF :
			    SMTP_CLOSE_ERROR);
			return -1;
		}
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
		if (smtpd_conn_process(c) == -1)
			return -1;
	} while (smtpd_conn_tls_more(c));
	return 0;
}

/* The socket watched again, after a handshake step on a worker. */
void
smtpd_conn_watch(struct smtpd_conn *c)
{
	if (event_add(c->sd->loop, c->fd, EV_READ, smtpd_conn_event, c) == -1)
		fatal("session=%s: event_add", c->sess.sid);
}

static void
smtpd_conn_event(int fd, int events, void *arg)
{
	struct smtpd_conn	*c = arg;
	int			 hup = (events & EV_ERROR) != 0;

	(void)fd;
	if (c->handshaking)
		(void)smtpd_tls_begin(c);
	else if (hup || smtpd_conn_can_read(c))
		(void)smtpd_conn_input(c, hup);
	else
		(void)smtpd_conn_flush(c);
}

/* ---- timers ---- */

static uint64_t
smtpd_conn_timeout_ms(const struct smtpd_conn *c)
{
	const struct config	*cfg = c->cfg;

	if (c->in_data || c->skip_left > 0)
		return cfg->timeout_data * 1000;
	return cfg->timeout_command * 1000;
}

static void
smtpd_conn_arm(struct smtpd_conn *c, uint64_t ms)
{
	c->timer = event_timer_add(c->sd->loop, ms, smtpd_conn_timer, c);
}

/* The timer at ms from now, or at the session's deadline if sooner (once
 * it has passed, only the time-out of a commit in flight counts). */
static void
smtpd_conn_arm_next(struct smtpd_conn *c, uint64_t ms)
{
	uint64_t	now = now_ms();
	uint64_t	dl = c->start + c->cfg->timeout_session * 1000;

	if (dl > now && dl - now < ms)
		ms = dl - now;
	smtpd_conn_arm(c, ms);
}

static void
smtpd_conn_undelay(struct smtpd_conn *c)
{
	event_timer_cancel(c->sd->loop, c->delay_timer);
	c->delay_timer = NULL;
	c->delaying = 0;
}

/*
 * Ends the session with 421 for why (timeout, deadline, shutdown), said
 * once the output before it is written; during a TLS handshake, where no
 * plaintext may be said, the connection just closes.  An open message is
 * aborted.  Returns -1 if the connection was closed (c may be gone).
 */
static int
smtpd_conn_end(struct smtpd_conn *c, enum smtp_close_reason why)
{
	struct smtp_reply	r;

	c->end_pending = SMTP_CLOSE_NONE;
	if (c->handshaking || c->tls_start) {
		log_info("session=%s tls handshake ended client=%s reason=%s",
		    c->sess.sid, c->sess.client, smtp_close_reason_name(why));
		smtpd_conn_close(c, why);
		return -1;
	}
	smtpd_conn_undelay(c);
	smtpd_msg_drop(c);
	if (why == SMTP_CLOSE_TIMEOUT)
		smtp_session_timeout(&c->sess, &r);
	else if (why == SMTP_CLOSE_DEADLINE)
		smtp_session_deadline(&c->sess, &r);
	else
		smtp_session_shutdown(&c->sess, &r);
	smtpd_conn_act(c, SMTP_A_CLOSE, &r);
	return 0;
}

/* The client's time is up, or the session's: 421, the connection closes
 * once that is written or after limit ms. */
static void
smtpd_conn_expire(struct smtpd_conn *c, enum smtp_close_reason why,
    uint64_t limit)
{
	if (smtpd_conn_end(c, why) == -1)
		return;
	smtpd_conn_arm(c, limit);
	(void)smtpd_conn_flush(c);
}

/* A request went to another process: its answer is due within
 * timeout-request. */
static void
smtpd_conn_request_sent(struct smtpd_conn *c)
{
	c->req_start = now_ms();
	if (c->fd == -1)
		return;
	event_timer_cancel(c->sd->loop, c->timer);
	smtpd_conn_arm_next(c, c->cfg->timeout_request * 1000);
}

static void smtpd_resume(struct smtpd_conn *, enum smtp_action,
    const struct smtp_reply *);

/* The lookup or queue process did not answer in time: 451, the session
 * goes on, and the answer is dropped if it still comes. */
static void
smtpd_conn_request_timeout(struct smtpd_conn *c, uint64_t limit)
{
	struct smtp_reply	r;
	enum smtp_action	a;
	const struct config	*cfg = c->cfg;

	if (c->sess.wait == SMTP_A_COMMIT)
		log_warnx("%s: session=%s: no answer to the commit within %llu "
		    "s: the client is told 451 (the message may be queued "
		    "still, and sent again)", c->sess.qid, c->sess.sid,
		    (unsigned long long)cfg->timeout_request);
	else
		log_warnx("session=%s: no answer from the %s process within "
		    "%llu s", c->sess.sid, c->sess.wait == SMTP_A_OPEN ?
		    "queue" : "lookup",
		    (unsigned long long)cfg->timeout_request);
	a = smtp_session_request_timeout(&c->sess, &r);
	smtpd_conn_arm_next(c, limit);
	smtpd_resume(c, a, &r);
}

/* timeout-session is over: 421 4.4.2, unless a commit is in flight,
 * which is answered first. */
static void
smtpd_conn_deadline(struct smtpd_conn *c, uint64_t limit)
{
	uint64_t	rlimit = c->cfg->timeout_request * 1000;
	uint64_t	waited = now_ms() - c->req_start;

	log_info("session=%s client=%s session time limit reached (%llu s)",
	    c->sess.sid, c->sess.client,
	    (unsigned long long)c->cfg->timeout_session);
	if (c->sess.wait == SMTP_A_COMMIT) {
		c->end_pending = SMTP_CLOSE_DEADLINE;
		smtpd_conn_arm(c, waited < rlimit ? rlimit - waited : 0);
		return;
	}
	smtpd_conn_expire(c, SMTP_CLOSE_DEADLINE, limit);
}

static void
smtpd_conn_timer(void *arg)
{
	struct smtpd_conn	*c = arg;
	uint64_t		 limit = smtpd_conn_timeout_ms(c), now, idle;
	uint64_t		 rlimit = c->cfg->timeout_request * 1000;
	uint64_t		 dl;

	c->timer = NULL;
	if (c->closing) {
		smtpd_conn_close(c, SMTP_CLOSE_TIMEOUT);
		return;
	}
	now = now_ms();
	dl = c->start + c->cfg->timeout_session * 1000;
	if (now >= dl && c->end_pending == SMTP_CLOSE_NONE &&
	    c->sess.close_reason == SMTP_CLOSE_NONE) {
		smtpd_conn_deadline(c, limit);
		return;
	}
	if (c->sess.wait != SMTP_A_REPLY) {
		/* Waiting for our own processes is not the client's delay. */
		if (now - c->req_start >= rlimit)
			smtpd_conn_request_timeout(c, limit);
		else
			smtpd_conn_arm_next(c, rlimit - (now - c->req_start));
		return;
	}
	idle = now - c->last;
	if (c->delaying || c->msg_wait || idle < limit) {
		/* Nor is waiting for the queue to take the message. */
		smtpd_conn_arm_next(c, c->delaying || c->msg_wait ? limit :
		    limit - idle);
		return;
	}
	smtpd_conn_expire(c, SMTP_CLOSE_TIMEOUT, limit);
}

/* Past soft-error-limit: the reply just given waits error-delay, and so
 * does the input after it. */
static void
smtpd_conn_delay_over(void *arg)
{
	struct smtpd_conn	*c = arg;

	c->delay_timer = NULL;
	c->delaying = 0;
	c->last = now_ms();
	if (smtpd_conn_process(c) == 0 && smtpd_conn_tls_more(c))
		(void)smtpd_conn_input(c, 0);
}

static void
smtpd_conn_delay(struct smtpd_conn *c)
{
	uint64_t	ms = c->sess.delay_ms != 0 ? c->sess.delay_ms :
			    c->cfg->error_delay * 1000;

	if (ms == 0 || c->fd == -1 || c->delaying)
		return;
	c->delaying = 1;
	c->delay_timer = event_timer_add(c->sd->loop, ms,
	    smtpd_conn_delay_over, c);
}

/* ---- accepting ---- */

/* The numeric address and port; an IPv4-mapped address becomes IPv4. */
static void
smtpd_client_addr(struct sockaddr_storage *ss, socklen_t *len, char *host,
    size_t hostlen, char *port, size_t portlen)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in	 sin;

	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = sin6->sin6_port;
		memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		memset(ss, 0, sizeof(*ss));
		memcpy(ss, &sin, sizeof(sin));
		*len = sizeof(sin);
	}
	if (getnameinfo((struct sockaddr *)ss, *len, host, hostlen, port,
	    portlen, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		(void)strlcpy(host, "unknown", hostlen);
		(void)strlcpy(port, "0", portlen);
	}
}

/* ---- descriptors ---- */

/* May the session hold a message descriptor: one open, one opened ahead
 * or on its way from the queue, or a transaction that may ask for one? */
static int
smtpd_conn_may_hold_msg(const struct smtpd_conn *c)
{
	if (c->msg_fd != -1 || c->pre != SMTPD_PRE_NONE ||
	    c->sess.wait == SMTP_A_OPEN)
		return 1;
	if (c->fd == -1)
		return 0;
	return c->sess.state == SMTP_MAIL || c->sess.state == SMTP_RCPT ||
	    c->sess.state == SMTP_DATA || c->sess.state == SMTP_BDAT;
}

/* Descriptors held or promised. */
static uint64_t
smtpd_fd_used(const struct smtpd *sd)
{
	const struct smtpd_conn	*c;
	uint64_t		 n = sd->fd_base + sd->nlive;

	TAILQ_FOREACH(c, &sd->conns, entry)
		if (smtpd_conn_may_hold_msg(c))
			n++;
	return n;
}

/* 1 if need more descriptors would leave fewer than SMTPD_FD_RESERVE. */
static int
smtpd_fd_short(const struct smtpd *sd, uint64_t need)
{
	uint64_t	want = need + SMTPD_FD_RESERVE;

	/* Far from the limit (a socket for each live session, a message
	 * for each record at most): no count. */
	if (sd->fd_base + (uint64_t)sd->nlive + sd->nconns + want <=
	    sd->fd_limit)
		return 0;
	return smtpd_fd_used(sd) + want > sd->fd_limit;
}

/* The descriptors open now, for the count at start. */
static uint64_t
smtpd_fd_count_open(uint64_t limit)
{
	uint64_t	n = 0;
	int		fd, max;

	max = limit < SMTPD_FD_SCAN_MAX ? (int)limit : SMTPD_FD_SCAN_MAX;
	for (fd = 0; fd < max; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * Raises the soft descriptor limit to the hard one, then counts what is
 * open already; says so when max-sessions clients, each with a message,
 * would not fit.
 */
static void
smtpd_fd_setup(struct smtpd *sd)
{
	struct rlimit	rl;
	uint64_t	room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit: descriptor limit");
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			fatal("getrlimit");
	}
	sd->fd_limit = rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > UINT32_MAX ? UINT32_MAX : (uint64_t)rl.rlim_cur;
	sd->fd_base = smtpd_fd_count_open(sd->fd_limit);
	room = sd->fd_limit > sd->fd_base + SMTPD_FD_RESERVE ?
	    (sd->fd_limit - sd->fd_base - SMTPD_FD_RESERVE) / 2 : 0;
	log_info("descriptors: limit %llu, %llu open, room for %llu sessions "
	    "with a message", (unsigned long long)sd->fd_limit,
	    (unsigned long long)sd->fd_base, (unsigned long long)room);
	if (room < sd->cfg->max_sessions)
		log_warnx("max-sessions %u exceeds what the descriptor limit "
		    "allows (%llu): beyond it clients get 421 4.3.2 or 452 "
		    "4.3.1", sd->cfg->max_sessions, (unsigned long long)room);
}

/* ---- the per-client limit ---- */

/* Sessions of the same client (an IPv6 client is its /64), relay-network
 * clients left out. */
static unsigned
smtpd_count_client(const struct smtpd *sd, const struct sockaddr *sa)
{
	const struct smtpd_conn	*c;
	unsigned		 n = 0;

	TAILQ_FOREACH(c, &sd->conns, entry)
		if (c->fd != -1 && !c->sess.relay &&
		    config_same_client((const struct sockaddr *)&c->ss, sa))
			n++;
	return n;
}

/* Refuses a connection with 421 at once: over the session limits, or
 * busy (short of descriptors).  In plaintext: a tls listener's client
 * sees the connection close. */
static void
smtpd_refuse(struct smtpd *sd, const struct listener *l, int fd,
    uint32_t id, const char *client, int busy)
{
	struct smtp_session	s;
	struct smtp_reply	r;
	struct buf		b;

	smtp_session_init(&s, &sd->srv, id, client, 0);
	if (busy)
		smtp_session_no_room(&s, &r);
	else
		smtp_session_limit(&s, &r);
	buf_init(&b);
	smtp_reply_format(&r, &b);
	if (l->kind != LISTEN_TLS &&
	    send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		(void)0;	/* the client hears nothing more either way */
	buf_free(&b);
	log_info("session=%s disconnect client=%s reason=%s messages=0", s.sid,
	    client, smtp_close_reason_name(s.close_reason));
	smtp_session_free(&s);
	close(fd);
}

static void
smtpd_conn_new(struct smtpd *sd, const struct listener *l, int fd,
    uint32_t id, const char *client, const struct sockaddr_storage *ss,
    int relay)
{
	struct smtpd_conn	*c;
	struct smtp_reply	 r;

	c = xcalloc(1, sizeof(*c));
	c->sd = sd;
	c->fd = fd;
	c->msg_fd = -1;
	c->pre_fd = -1;
	c->hs_fd = -1;
	c->pre_use.cb = smtpd_pre_use;
	c->pre_use.arg = c;
	c->ss = *ss;
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->wbuf);
	if (sd->tlsconf != NULL) {
		tls_server_conf_ref(sd->tlsconf);
		c->tlsconf = sd->tlsconf;
	}
	smtp_session_init(&c->sess, &sd->srv, id, client, relay);
	smtpd_conf_attach(c);
	smtp_session_setup(&c->sess, l->kind, c->tlsconf != NULL);
	TAILQ_INSERT_TAIL(&sd->conns, c, entry);
	sd->nconns++;
	sd->nlive++;
	if (event_add(sd->loop, fd, EV_READ, smtpd_conn_event, c) == -1)
		fatal("session=%s: event_add", c->sess.sid);
	c->last = now_ms();
	c->start = c->last;
	smtpd_conn_arm_next(c, smtpd_conn_timeout_ms(c));
	if (l->kind == LISTEN_TLS) {
		c->implicit = 1;
		(void)smtpd_tls_begin(c);
		return;
	}
	smtp_session_greeting(&c->sess, &r);
	smtpd_conn_reply(c, &r);
	(void)smtpd_conn_flush(c);
}

/*
 * The limits, in order: max-sessions, max-sessions-per-client (not for
 * relay-network clients), and descriptors for this socket and one
 * message beyond the reserve (fd is open already: it counts as one).
 */
static void
smtpd_accept_one(struct smtpd *sd, const struct listener *l, int fd,
    struct sockaddr_storage *ss, socklen_t sslen)
{
	char		host[NI_MAXHOST], port[NI_MAXSERV], sid[SMTP_SID_MAX];
	uint32_t	id;
	int		relay;

	id = smtp_session_next_id(&sd->next_id, smtpd_id_in_use, sd);
	smtpd_client_addr(ss, &sslen, host, sizeof(host), port, sizeof(port));
	relay = config_may_relay(sd->srv.cfg, (struct sockaddr *)ss);
	smtp_sid_format(&sd->srv, id, sid, sizeof(sid));
	log_info("session=%s connect client=%s port=%s listener=%s", sid, host,
	    port, listener_kind_name(l->kind));
	if (sd->nlive >= sd->cfg->max_sessions || (!relay &&
	    smtpd_count_client(sd, (struct sockaddr *)ss) >=
	    sd->srv.cfg->max_sessions_per_ip))
		smtpd_refuse(sd, l, fd, id, host, 0);
	else if (smtpd_fd_short(sd, 2))
		smtpd_refuse(sd, l, fd, id, host, 1);
	else
		smtpd_conn_new(sd, l, fd, id, host, ss, relay);
}

static void smtpd_listen(struct smtpd *sd, int on);

static void
smtpd_accept_resume(void *arg)
{
	struct smtpd	*sd = arg;

	sd->accept_timer = NULL;
	smtpd_listen(sd, 1);
}

/* Out of descriptors or memory: stop accepting for a moment. */
static void
smtpd_accept_pause(struct smtpd *sd)
{
	smtpd_listen(sd, 0);
	sd->accept_timer = event_timer_add(sd->loop, SMTPD_ACCEPT_PAUSE_MS,
	    smtpd_accept_resume, sd);
}

static void
smtpd_accept(int fd, int events, void *arg)
{
	struct smtpd_listener	*sl = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 i, cfd;

	(void)events;
	for (i = 0; i < SMTPD_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept");
				smtpd_accept_pause(sl->sd);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept");
			return;
		}
		(void)fd_set_nodelay(cfd);	/* util.h says why */
		smtpd_accept_one(sl->sd, sl->l, cfd, &ss, sslen);
	}
}

/* Registers (on) or unregisters the listening sockets. */
static void
smtpd_listen(struct smtpd *sd, int on)
{
	size_t	i;

	if (sd->accepting == on)
		return;
	for (i = 0; i < sd->cfg->nlisteners; i++) {
		if (sd->cfg->listeners[i].fd == -1)
			continue;
		if (!on)
			event_del(sd->loop, sd->cfg->listeners[i].fd);
		else if (event_add(sd->loop, sd->cfg->listeners[i].fd, EV_READ,
		    smtpd_accept, &sd->lst[i]) == -1)
			fatal("listener %s port %u: event_add",
			    sd->cfg->listeners[i].addr,
			    sd->cfg->listeners[i].port);
	}
	sd->accepting = on;
}

/* Accepting from now on: tells the parent, once. */
void
smtpd_ready(struct smtpd *sd)
{
	smtpd_listen(sd, 1);
	ipc_send(sd->parent, MSG_P_READY, 0, -1, NULL, 0);
}

/*
 * With a certificate configured, connections are accepted only once the
 * parent sent it, so that every session is offered STARTTLS.
 */
static void
smtpd_listeners_setup(struct smtpd *sd)
{
	size_t	i;

	sd->lst = xcalloc(sd->cfg->nlisteners ? sd->cfg->nlisteners : 1,
	    sizeof(*sd->lst));
	for (i = 0; i < sd->cfg->nlisteners; i++) {
		sd->lst[i].sd = sd;
		sd->lst[i].l = &sd->cfg->listeners[i];
		if (sd->cfg->listeners[i].fd != -1 &&
		    fd_set_nonblock(sd->cfg->listeners[i].fd) == -1)
			fatal("listener %s port %u", sd->cfg->listeners[i].addr,
			    sd->cfg->listeners[i].port);
	}
	if (sd->cfg->tls_cert == NULL) {
		smtpd_ready(sd);
		return;
	}
	sd->tls_waiting = 1;
	sd->tls_timer = event_timer_add(sd->loop, SMTPD_TLS_WAIT_MS,
	    smtpd_tls_wait_over, sd);
}

static void
smtpd_listeners_close(struct smtpd *sd)
{
	size_t	i;

	smtpd_listen(sd, 0);
	event_timer_cancel(sd->loop, sd->accept_timer);
	sd->accept_timer = NULL;
	event_timer_cancel(sd->loop, sd->tls_timer);
	sd->tls_timer = NULL;
	for (i = 0; i < sd->cfg->nlisteners; i++) {
		if (sd->cfg->listeners[i].fd != -1)
			close(sd->cfg->listeners[i].fd);
		sd->cfg->listeners[i].fd = -1;
	}
}

/* ---- answers from the queue and lookup processes ---- */

/*
 * The session an answer is for; it must be waiting for exactly that,
 * unless the answer is the late one of a request it gave up (kind and
 * qid as for smtp_session_late): then *late is set and the answer is the
 * caller's to drop.
 */
static struct smtpd_conn *
smtpd_find(struct smtpd *sd, struct ipc_msg *m, enum smtp_action wait,
    const char *qid, int *late)
{
	struct smtpd_conn	*c;

	*late = 0;
	c = smtpd_conn_by_id(sd, m->session);
	if (c != NULL && smtp_session_late(&c->sess, wait, qid)) {
		log_info("session=%s: late %s from %s dropped", c->sess.sid,
		    proto_msg_name(m->type), ipc_chan_peer(m->chan));
		*late = 1;
		return c;
	}
	if (c == NULL || c->sess.wait != wait)
		fatalx("%s: message %s for session %u, which is not waiting "
		    "for it", ipc_chan_peer(m->chan), proto_msg_name(m->type),
		    m->session);
	return c;
}

/* Goes on with the input a session had to leave (it waited for the
 * queue's pipe); the client's time runs again. */
void
smtpd_conn_resume(struct smtpd_conn *c)
{
	c->last = now_ms();
	if (smtpd_conn_process(c) == 0 && smtpd_conn_tls_more(c))
		(void)smtpd_conn_input(c, 0);
}

/* After a late answer was dropped: a record without a socket goes once
 * nothing more is due. */
static void
smtpd_late_done(struct smtpd_conn *c)
{
	struct smtpd	*sd = c->sd;

	if (c->fd == -1 && !smtpd_conn_busy(c))
		smtpd_conn_free(c);
	smtpd_drain_check(sd);
}

/* Resumes a session after an answer; a closed one is freed instead.  A
 * session to be ended (SIGTERM, timeout-session) ends now, with its
 * answer said first. */
static void
smtpd_resume(struct smtpd_conn *c, enum smtp_action a,
    const struct smtp_reply *r)
{
	struct smtpd	*sd = c->sd;

	smtpd_conn_act(c, a, r);
	if (c->fd != -1) {
		/* The client's time runs again from our answer. */
		c->last = now_ms();
		if (c->sess.wait == SMTP_A_REPLY) {
			event_timer_cancel(sd->loop, c->timer);
			smtpd_conn_arm_next(c, smtpd_conn_timeout_ms(c));
		}
		if (c->end_pending != SMTP_CLOSE_NONE &&
		    c->sess.wait == SMTP_A_REPLY && !c->closing &&
		    smtpd_conn_end(c, c->end_pending) == -1) {
			smtpd_drain_check(sd);
			return;
		}
		if (smtpd_conn_process(c) == 0 && smtpd_conn_tls_more(c))
			(void)smtpd_conn_input(c, 0);
	} else if (!smtpd_conn_busy(c))
		smtpd_conn_free(c);
	smtpd_drain_check(sd);
}

static void
smtpd_get_qid(struct ipc_msg *m, char *qid, size_t size)
{
	size_t	i;

	ipc_get_str(m, qid, size);
	for (i = 0; qid[i] != '\0'; i++)
		if (!((qid[i] >= '0' && qid[i] <= '9') ||
		    (qid[i] >= 'A' && qid[i] <= 'Z') ||
		    (qid[i] >= 'a' && qid[i] <= 'z')))
			break;
	if (i == 0 || qid[i] != '\0')
		fatalx("%s: message %s: bad queue id", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type));
}

/* A reason of enum queue_fail; 0 is not one. */
static int
smtpd_get_reason(struct ipc_msg *m)
{
	uint32_t	reason = ipc_get_u32(m);

	if (reason < QFAIL_TEMP || reason > QFAIL_SHUTDOWN)
		fatalx("%s: message %s: bad reason %u", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), reason);
	return (int)reason;
}

/*
 * The queue opened qid, but its descriptor was lost on the way (we are
 * out of descriptors): the message is aborted, and the session hears
 * 452 4.3.1 as for any lack of storage.
 */
static void
smtpd_queue_open_lost(struct smtpd_conn *c, const char *qid)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	log_warnx("%s: session=%s: message descriptor lost (out of "
	    "descriptors): aborted", qid, c->sess.sid);
	smtpd_send_abort_qid(c->sd, c->sess.id, qid, 0);
	a = smtp_session_open_result(&c->sess, NULL, QFAIL_NOSPACE, &r);
	smtpd_resume(c, a, &r);
}

/*
 * The answer to MSG_Q_OPEN for c, which waits for it: qid and its pipe
 * (fd), or the reason of a refusal (qid NULL); late (the session gave up
 * waiting) if so.
 */
static void
smtpd_open_answer(struct smtpd_conn *c, const char *qid, int fd,
    int reason, int late)
{
	struct smtp_reply	 r;
	enum smtp_action	 a;

	if (late) {
		/* Opened for a session that gave up waiting: let it go. */
		if (qid != NULL)
			smtpd_send_abort_qid(c->sd, c->sess.id, qid, 0);
		if (fd != -1)
			close(fd);
		smtpd_late_done(c);
		return;
	}
	if (qid == NULL) {
		a = smtp_session_open_result(&c->sess, NULL, reason, &r);
		smtpd_resume(c, a, &r);
		return;
	}
	if (fd == -1) {
		smtpd_queue_open_lost(c, qid);
		return;
	}
	c->msg_fd = fd;
	/* Written from the event loop: never blocking. */
	if (fd_set_nonblock(c->msg_fd) == -1)
		fatal("session=%s: non-blocking pipe", c->sess.sid);
	a = smtp_session_open_result(&c->sess, qid, 0, &r);
	smtpd_resume(c, a, &r);
}

/* DATA or BDAT takes the message opened ahead. */
static void
smtpd_pre_use(void *arg)
{
	struct smtpd_conn	*c = arg;
	char			 qid[SMTP_QID_MAX];
	int			 fd = c->pre_fd, late;

	if (c->pre != SMTPD_PRE_READY)
		fatalx("session=%s: no message opened ahead", c->sess.sid);
	if ((late = smtp_session_late(&c->sess, SMTP_A_OPEN, NULL)))
		log_info("session=%s: message opened ahead dropped: the "
		    "session gave up waiting", c->sess.sid);
	if (!late && c->sess.wait != SMTP_A_OPEN)
		fatalx("session=%s: an open made ahead, and no DATA waits "
		    "for it", c->sess.sid);
	c->pre_fd = -1;
	c->pre = SMTPD_PRE_NONE;
	(void)strlcpy(qid, c->pre_qid, sizeof(qid));
	smtpd_open_answer(c, qid, fd, 0, late);
}

/*
 * The session an answer to MSG_Q_OPEN belongs to if it answers an open
 * made ahead that no DATA or BDAT waits for (or gave up waiting for):
 * it is kept for them.  NULL if the answer is for a session that waits.
 */
static struct smtpd_conn *
smtpd_pre_find(struct smtpd *sd, const struct ipc_msg *m)
{
	struct smtpd_conn	*c = smtpd_conn_by_id(sd, m->session);

	if (c == NULL || c->pre != SMTPD_PRE_PENDING)
		return NULL;
	if (c->sess.wait == SMTP_A_OPEN || c->sess.stale_queue == SMTP_A_OPEN) {
		c->pre = SMTPD_PRE_NONE;
		return NULL;
	}
	return c;
}

/*
 * Keeps an answer to an open made ahead for DATA or BDAT.  A refusal (or
 * a pipe lost on the way) is not kept: DATA asks again then, and the
 * connection opens no more ahead, so that a queue short of space or
 * descriptors is asked only when a message really comes.
 */
static void
smtpd_pre_answer(struct smtpd_conn *c, const char *qid, int fd, int reason)
{
	if (c->fd == -1) {
		/* The client left: nothing will use it. */
		if (qid != NULL)
			smtpd_send_abort_qid(c->sd, c->sess.id, qid, 1);
		if (fd != -1)
			close(fd);
		c->pre = SMTPD_PRE_NONE;
		smtpd_late_done(c);
		return;
	}
	if (qid != NULL && fd == -1) {
		log_warnx("%s: session=%s: message descriptor lost (out of "
		    "descriptors): aborted", qid, c->sess.sid);
		smtpd_send_abort_qid(c->sd, c->sess.id, qid, 1);
		qid = NULL;
	}
	if (qid == NULL) {
		log_debug("session=%s: the open made ahead failed (reason "
		    "%d): DATA opens", c->sess.sid, reason);
		c->pre = SMTPD_PRE_NONE;
		c->pre_off = 1;
		return;
	}
	if (fd_set_nonblock(fd) == -1)
		fatal("session=%s: non-blocking pipe", c->sess.sid);
	(void)strlcpy(c->pre_qid, qid, sizeof(c->pre_qid));
	c->pre_fd = fd;
	c->pre = SMTPD_PRE_READY;
}

static void
smtpd_queue_open_ok(struct smtpd *sd, struct ipc_msg *m)
{
	struct smtpd_conn	*c;
	char			 qid[SMTP_QID_MAX];
	int			 fd, late;

	smtpd_get_qid(m, qid, sizeof(qid));
	ipc_end(m);
	fd = ipc_take_fd(m);
	if ((c = smtpd_pre_find(sd, m)) != NULL) {
		smtpd_pre_answer(c, qid, fd, 0);
		return;
	}
	c = smtpd_find(sd, m, SMTP_A_OPEN, NULL, &late);
	smtpd_open_answer(c, qid, fd, 0, late);
}

static void
smtpd_queue_open_fail(struct smtpd *sd, struct ipc_msg *m)
{
	struct smtpd_conn	*c;
	int			 reason, late;

	reason = smtpd_get_reason(m);
	ipc_end(m);
	if ((c = smtpd_pre_find(sd, m)) != NULL) {
		smtpd_pre_answer(c, NULL, -1, reason);
		return;
	}
	c = smtpd_find(sd, m, SMTP_A_OPEN, NULL, &late);
	smtpd_open_answer(c, NULL, -1, reason, late);
}

static void
smtpd_queue_commit(struct smtpd *sd, struct ipc_msg *m, int ok)
{
	struct smtpd_conn	*c;
	struct smtp_reply	 r;
	char			 qid[SMTP_QID_MAX];
	int			 reason = 0, late;
	enum smtp_action	 a;

	smtpd_get_qid(m, qid, sizeof(qid));
	if (!ok)
		reason = smtpd_get_reason(m);
	ipc_end(m);
	c = smtpd_find(sd, m, SMTP_A_COMMIT, qid, &late);
	if (late) {
		if (ok)
			log_warnx("%s: session=%s: committed after the session "
			    "gave up waiting: the client was told 451 and may "
			    "send it again", qid, c->sess.sid);
		smtpd_late_done(c);
		return;
	}
	if (strcmp(qid, c->sess.qid) != 0)
		fatalx("%s: message %s: queue id %s, session %u has %s",
		    ipc_chan_peer(m->chan), proto_msg_name(m->type), qid,
		    c->sess.id, c->sess.qid);
	a = smtp_session_commit_result(&c->sess, reason, &r);
	smtpd_resume(c, a, &r);
}

static void
smtpd_queue_space(struct smtpd *sd, struct ipc_msg *m)
{
	uint32_t	low = ipc_get_u32(m);

	ipc_end(m);
	if (low > 1)
		fatalx("%s: message %s: bad value %u", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), low);
	if ((int)low == sd->srv.space_low)
		return;
	sd->srv.space_low = (int)low;
	if (low)
		log_warnx("queue reports low free space: refusing MAIL with 452");
	else
		log_info("queue reports enough free space again");
}

static void
smtpd_queue_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd	*sd = arg;

	(void)ch;
	switch (m->type) {
	case MSG_Q_OPEN_OK:
		smtpd_queue_open_ok(sd, m);
		break;
	case MSG_Q_OPEN_FAIL:
		smtpd_queue_open_fail(sd, m);
		break;
	case MSG_Q_COMMIT_OK:
		smtpd_queue_commit(sd, m, 1);
		break;
	case MSG_Q_COMMIT_FAIL:
		smtpd_queue_commit(sd, m, 0);
		break;
	case MSG_Q_SPACE:
		smtpd_queue_space(sd, m);
		break;
	default:
		ipc_bad_type(m);
	}
}

static void
smtpd_lookup_auth(struct smtpd *sd, struct ipc_msg *m)
{
	struct smtpd_conn	*c;
	struct smtp_reply	 r;
	uint32_t		 result, failures;
	enum smtp_action	 a;
	int			 late;

	result = ipc_get_u32(m);
	failures = ipc_get_u32(m);
	ipc_end(m);
	if (result < LOOKUP_AUTH_OK || result > LOOKUP_AUTH_LOCKED)
		fatalx("%s: message %s: bad result %u", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), result);
	c = smtpd_find(sd, m, SMTP_A_AUTH, NULL, &late);
	if (late) {
		smtpd_late_done(c);
		return;
	}
	a = smtp_session_auth_result(&c->sess, (int)result, failures, &r);
	smtpd_resume(c, a, &r);
}

static void
smtpd_lookup_sender(struct smtpd *sd, struct ipc_msg *m)
{
	struct smtpd_conn	*c;
	struct smtp_reply	 r;
	uint32_t		 result;
	enum smtp_action	 a;
	int			 late;

	result = ipc_get_u32(m);
	ipc_end(m);
	if (result > 2)
		fatalx("%s: message %s: bad result %u", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), result);
	c = smtpd_find(sd, m, SMTP_A_SENDER, NULL, &late);
	if (late) {
		smtpd_late_done(c);
		return;
	}
	a = smtp_session_sender_result(&c->sess, (int)result, &r);
	smtpd_resume(c, a, &r);
}

static void
smtpd_lookup_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd		*sd = arg;
	struct smtpd_conn	*c;
	struct smtp_reply	 r;
	uint32_t		 result;
	enum smtp_action	 a;
	int			 late;

	(void)ch;
	if (m->type == MSG_L_AUTH_RESULT) {
		smtpd_lookup_auth(sd, m);
		return;
	}
	if (m->type == MSG_L_SENDER_RESULT) {
		smtpd_lookup_sender(sd, m);
		return;
	}
	if (m->type != MSG_L_RCPT_RESULT)
		ipc_bad_type(m);
	result = ipc_get_u32(m);
	ipc_end(m);
	if (result < LOOKUP_FOUND || result > LOOKUP_LOOP)
		fatalx("%s: message %s: bad result %u", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), result);
	c = smtpd_find(sd, m, SMTP_A_LOOKUP, NULL, &late);
	if (late) {
		smtpd_late_done(c);
		return;
	}
	a = smtp_session_lookup_result(&c->sess, (int)result, &r);
	smtpd_resume(c, a, &r);
}

/* MSG_C_STATUS (strictmailctl status, through the parent): the sessions
 * open now. */
static void
smtpd_status(struct smtpd *sd, struct ipc_msg *m)
{
	struct buf	b;
	char		n[32];

	if (ipc_end(m) == -1)
		return;
	(void)bsnprintf(n, sizeof(n), "%u", sd->nlive);
	buf_init(&b);
	ipc_put_str(&b, "sessions");
	ipc_put_str(&b, n);
	ipc_send_buf(sd->parent, MSG_C_STAT, m->session, -1, &b);
	buf_reset(&b);
	ipc_put_u32(&b, 0);
	ipc_send_buf(sd->parent, MSG_C_END, m->session, -1, &b);
	buf_free(&b);
}

static void
smtpd_parent_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd	*sd = arg;

	(void)ch;
	if (m->type == MSG_C_STATUS)
		smtpd_status(sd, m);
	else if (m->type == MSG_P_SETTINGS)
		smtpd_conf_reload(sd, m);
	else if (m->type == MSG_P_TLS_CONF)
		smtpd_tls_conf(sd, m);
	else
		ipc_bad_type(m);
}

static void
smtpd_chan_closed(struct ipc_chan *ch, void *arg)
{
	struct smtpd	*sd = arg;

	if (ch == sd->parent) {
		log_info("parent closed its channel: exiting");
	} else {
		log_warnx("%s process closed its channel: exiting",
		    ipc_chan_peer(ch));
		sd->status = 1;
		if (ch == sd->queue)
			sd->queue_lost = 1;
	}
	event_loop_stop(sd->loop);
}

/* ---- the process ---- */

/* A session whose commit is in flight, with a client to tell. */
static int
smtpd_conn_committing(const struct smtpd_conn *c)
{
	return c->fd != -1 && c->sess.wait == SMTP_A_COMMIT;
}

/* Once no client waits for a commit any more, the loop ends. */
static void
smtpd_drain_check(struct smtpd *sd)
{
	const struct smtpd_conn	*c;

	if (!sd->stopping)
		return;
	TAILQ_FOREACH(c, &sd->conns, entry)
		if (smtpd_conn_committing(c))
			return;
	event_loop_stop(sd->loop);
}

static void
smtpd_drain_over(void *arg)
{
	struct smtpd	*sd = arg;

	sd->drain_timer = NULL;
	log_warnx("shutdown: commits still unanswered, their clients get no "
	    "reply");
	event_loop_stop(sd->loop);
}

/* 421 now, written as far as the socket takes it, and close. */
static void
smtpd_conn_bye(struct smtpd_conn *c)
{
	struct smtp_reply	r;

	if (!c->closing) {
		smtp_session_shutdown(&c->sess, &r);
		if (!c->handshaking && !c->tls_start)
			smtp_reply_format(&r, &c->out);
	}
	if (!c->handshaking && !c->tls_start)
		(void)smtpd_conn_write(c);
	smtpd_conn_close(c, SMTP_CLOSE_SHUTDOWN);
}

/*
 * SIGTERM: no more connections; 421 at once to every session but those
 * whose commit is in flight, which get the queue's answer first and then
 * 421 (smtpd_resume).  The parent kills what is left after
 * shutdown-timeout, so the wait for them ends at 4/5 of it.
 */
static void
smtpd_sigterm(int signo, void *arg)
{
	struct smtpd		*sd = arg;
	struct smtpd_conn	*c, *next;
	unsigned		 n = 0;
	uint64_t		 ms = sd->srv.cfg->shutdown_timeout * 800;

	(void)signo;
	if (sd->stopping)
		return;
	sd->stopping = 1;
	log_info("SIGTERM: shutting down");
	smtpd_listeners_close(sd);
	for (c = TAILQ_FIRST(&sd->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (smtpd_conn_committing(c)) {
			c->end_pending = SMTP_CLOSE_SHUTDOWN;
			n++;
		} else if (c->fd != -1)
			smtpd_conn_bye(c);
	}
	if (n == 0) {
		event_loop_stop(sd->loop);
		return;
	}
	log_info("shutdown: waiting up to %llu ms for %u commit%s in flight",
	    (unsigned long long)ms, n, n == 1 ? "" : "s");
	sd->drain_timer = event_timer_add(sd->loop, ms, smtpd_drain_over, sd);
}

/* Says 421 to every client left, aborts open messages, drops every
 * record.  A client whose commit is still unanswered hears nothing: it
 * must not be told 421 for a message that may be queued. */
static void
smtpd_shutdown(struct smtpd *sd)
{
	struct smtpd_conn	*c, *next;

	smtpd_tls_pool_stop(sd);
	smtpd_listeners_close(sd);
	event_timer_cancel(sd->loop, sd->drain_timer);
	sd->drain_timer = NULL;
	for (c = TAILQ_FIRST(&sd->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (smtpd_conn_committing(c)) {
			log_warnx("%s: session=%s: commit unanswered at "
			    "shutdown: closing without a reply", c->sess.qid,
			    c->sess.sid);
			smtpd_conn_close(c, SMTP_CLOSE_SHUTDOWN);
		} else if (c->fd != -1)
			smtpd_conn_bye(c);
	}
	while ((c = TAILQ_FIRST(&sd->conns)) != NULL)
		smtpd_conn_free(c);
	if (!sd->queue_lost && ipc_chan_flush(sd->queue) == -1)
		log_warnx("queue: could not flush the last messages");
	if (sd->tlsconf != NULL)
		tls_server_conf_unref(sd->tlsconf);
	sd->tlsconf = NULL;
}

static void
smtpd_setup(struct smtpd *sd, struct config *cfg, int parent_fd,
    int queue_fd, int lookup_fd)
{
	memset(sd, 0, sizeof(*sd));
	sd->cfg = cfg;
	smtpd_conf_init(sd);
	smtp_sid_tag(&sd->srv);
	TAILQ_INIT(&sd->conns);
	sd->loop = event_loop_new();
	sd->parent = ipc_chan_new(sd->loop, parent_fd, "parent",
	    smtpd_parent_dispatch, smtpd_chan_closed, sd);
	sd->queue = ipc_chan_new(sd->loop, queue_fd, "queue",
	    smtpd_queue_dispatch, smtpd_chan_closed, sd);
	sd->lookup = ipc_chan_new(sd->loop, lookup_fd, "lookup",
	    smtpd_lookup_dispatch, smtpd_chan_closed, sd);
	if (event_signal(sd->loop, SIGTERM, smtpd_sigterm, sd) == -1)
		fatal("event_signal");
	/* Handshakes on every CPU the process may use (common/tls_pool.h);
	 * with one, in the loop.  Before the descriptors are counted: its
	 * eventfd is one. */
	sd->hs_pool = tls_pool_new(tls_pool_cpus());
	if (sd->hs_pool != NULL && event_add(sd->loop,
	    tls_pool_fd(sd->hs_pool), EV_READ, smtpd_tls_pool_event, sd) == -1)
		fatal("tls pool: event_add");
	smtpd_fd_setup(sd);
	smtpd_listeners_setup(sd);
}

int
smtpd_main(struct config *cfg, int parent_fd, int queue_fd, int lookup_fd,
    const struct sm_user *u)
{
	struct smtpd	sd;

	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	tls_init();	/* the random generator, before the chroot */
	if (u != NULL)
		privsep_drop(u, cfg->empty_dir);
	else
		log_info("running unprivileged: no chroot, no user change");
	smtpd_setup(&sd, cfg, parent_fd, queue_fd, lookup_fd);
	log_info("ready: %zu listener%s, TLS handshakes %s", cfg->nlisteners,
	    cfg->nlisteners == 1 ? "" : "s", sd.hs_pool != NULL ?
	    "on worker threads, one per CPU" : "in the event loop");
	if (event_loop_run(sd.loop) == -1)
		fatal("event loop");
	smtpd_shutdown(&sd);
	ipc_chan_free(sd.parent);
	ipc_chan_free(sd.queue);
	ipc_chan_free(sd.lookup);
	event_loop_free(sd.loop);
	tls_pool_free(sd.hs_pool);
	free(sd.lst);
	smtpd_conf_free(&sd);
	tls_cleanup();
	return sd.status;
}
