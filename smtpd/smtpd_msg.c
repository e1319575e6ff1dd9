/*
 * smtpd_msg.c - the message file of a session: DATA, or BDAT chunks,
 * streamed through dataread.c into the file the queue process opened,
 * behind a Received header; the file closed, the verdict handed to the
 * session, which then asks for the commit.  A client's clock restarts
 * only when it completes a line, so trickling bytes buys no time.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd_int.h"

#define SMTPD_WBUF_MAX		(64 * 1024)	/* message octets per write() */

/* Closes the message file and forgets the reading of the message. */
void
smtpd_msg_close(struct smtpd_conn *c)
{
	if (c->msg_fd != -1) {
		close(c->msg_fd);
		c->msg_fd = -1;
	}
	c->in_data = 0;
	c->chunk = 0;
	c->chunk_left = 0;
	c->msg_started = 0;
}

/* Gives up the message file of a session that will not finish it. */
void
smtpd_msg_drop(struct smtpd_conn *c)
{
	if (!smtp_session_abandon(&c->sess))
		return;
	smtpd_send_abort(c);
	smtpd_msg_close(c);
}

/* The client completed a line of the message: its clock restarts. */
static void
smtpd_msg_progress(struct smtpd_conn *c)
{
	if (c->dr.lines != c->dr_lines) {
		c->dr_lines = c->dr.lines;
		c->last = now_ms();
	}
}

void
smtpd_msg_start(struct smtpd_conn *c, int chunked)
{
	const struct config	*cfg = c->sd->cfg;

	c->written = 0;
	c->werr = 0;
	c->msg_started = 1;
	dataread_init(&c->dr, cfg->max_message_size);
	dataread_limits(&c->dr, cfg->max_line_length,
	    cfg->max_received_headers);
	if (chunked)
		dataread_chunked(&c->dr);
	c->dr_lines = 0;
	c->last = now_ms();
	buf_reset(&c->wbuf);
	smtp_session_received(&c->sess, time(NULL), &c->wbuf);
}

/* Writes the buffered message octets, unless the message is lost. */
static void
smtpd_msg_write(struct smtpd_conn *c)
{
	if (!c->werr && c->dr.flags == 0 && c->wbuf.len > 0) {
		if (write_all(c->msg_fd, c->wbuf.data, c->wbuf.len) == -1) {
			log_warn("%s: session=%u: write", c->sess.qid,
			    c->sess.id);
			c->werr = 1;
		} else
			c->written += c->wbuf.len;
	}
	buf_reset(&c->wbuf);
}

/* The verdict on the message, worst first. */
static enum smtp_data_status
smtpd_msg_status(const struct smtpd_conn *c)
{
	return smtp_reply_data_status(c->dr.flags, c->werr);
}

/* Closes the message file for good; a failing close loses the message. */
static void
smtpd_msg_finish(struct smtpd_conn *c)
{
	if (close(c->msg_fd) == -1 && !c->werr) {
		log_warn("%s: session=%u: close", c->sess.qid, c->sess.id);
		c->werr = 1;
	}
	c->msg_fd = -1;
	smtpd_msg_close(c);
}

/* The end marker was read: close the file and let the session decide. */
static void
smtpd_msg_data_end(struct smtpd_conn *c)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	smtpd_msg_write(c);
	smtpd_msg_finish(c);
	a = smtp_session_data_done(&c->sess, smtpd_msg_status(c), c->written,
	    &r);
	smtpd_conn_act(c, a, &r);
}

/* Feeds buffered input to the DATA reader; 0 when it needs more. */
int
smtpd_msg_data_input(struct smtpd_conn *c)
{
	size_t	used;

	used = dataread_feed(&c->dr, c->in.data + c->inpos,
	    c->in.len - c->inpos, &c->wbuf);
	c->inpos += used;
	smtpd_msg_progress(c);
	if (c->wbuf.len >= SMTPD_WBUF_MAX || c->dr.flags != 0 || c->werr)
		smtpd_msg_write(c);
	if (!c->dr.done)
		return 0;
	smtpd_msg_data_end(c);
	return 1;
}

/*
 * A BDAT chunk was read.  The file stays open between good chunks; after
 * the last one, or a bad one, it is closed.
 */
static void
smtpd_msg_chunk_end(struct smtpd_conn *c)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	if (c->sess.chunk_last)
		dataread_last(&c->dr, &c->wbuf);
	smtpd_msg_write(c);
	if (c->sess.chunk_last || smtpd_msg_status(c) != SMTP_DATA_OK)
		smtpd_msg_finish(c);
	else {
		c->in_data = 0;
		c->chunk = 0;
	}
	a = smtp_session_chunk_done(&c->sess, smtpd_msg_status(c),
	    c->written, &r);
	smtpd_conn_act(c, a, &r);
}

/* Feeds at most the rest of the chunk to the reader; 0 when it needs
 * more. */
int
smtpd_msg_chunk_input(struct smtpd_conn *c)
{
	size_t	avail = c->in.len - c->inpos, n;

	n = avail < c->chunk_left ? avail : (size_t)c->chunk_left;
	if (n > 0) {
		(void)dataread_feed(&c->dr, c->in.data + c->inpos, n,
		    &c->wbuf);
		c->inpos += n;
		c->chunk_left -= n;
		smtpd_msg_progress(c);
		if (c->wbuf.len >= SMTPD_WBUF_MAX || c->dr.flags != 0 ||
		    c->werr)
			smtpd_msg_write(c);
	}
	if (c->chunk_left > 0)
		return 0;
	smtpd_msg_chunk_end(c);
	return 1;
}

/* Drops the octets of a refused BDAT; 0 when it needs more. */
int
smtpd_msg_skip_input(struct smtpd_conn *c)
{
	size_t	avail = c->in.len - c->inpos, n;

	n = avail < c->skip_left ? avail : (size_t)c->skip_left;
	if (memchr(c->in.data + c->inpos, '\n', n) != NULL)
		c->last = now_ms();
	c->inpos += n;
	c->skip_left -= n;
	return c->skip_left == 0;
}

/* The first chunk starts the message; each one is read to its end. */
void
smtpd_msg_chunk_start(struct smtpd_conn *c)
{
	if (c->fd == -1) {
		smtpd_msg_drop(c);
		return;
	}
	if (!c->msg_started)
		smtpd_msg_start(c, 1);
	c->in_data = 1;
	c->chunk = 1;
	c->chunk_left = c->sess.chunk_size;
}
