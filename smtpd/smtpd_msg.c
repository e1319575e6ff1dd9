/*
 * smtpd_msg.c - the message of a session: DATA, or BDAT chunks, streamed
 * through dataread.c, behind a Received header, into the pipe the queue
 * process handed over with MSG_Q_OPEN_OK (the queue writes the file; this
 * process never holds a spool file).  Writes never block: when the pipe
 * is full the session stops reading its client until the pipe drains, so
 * a slow disk slows only the sessions sending data, and at most
 * SMTPD_WBUF_MAX octets plus one input buffer wait here per session.  At
 * the end the pipe is closed and the verdict handed to the session, which
 * then asks for the commit.  A client's clock restarts only when it
 * completes a line, so trickling bytes buys no time.
 */
#include <sys/random.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd_int.h"

#define SMTPD_WBUF_MAX		(64 * 1024)	/* message octets held back */

static void smtpd_msg_writable(int fd, int events, void *arg);

/* Waits for the pipe to take more (on), or stops waiting. */
static void
smtpd_msg_wait(struct smtpd_conn *c, int on)
{
	if (on == c->msg_wait)
		return;
	if (on && event_add(c->sd->loop, c->msg_fd, EV_WRITE,
	    smtpd_msg_writable, c) == -1)
		fatal("session=%s: event_add pipe", c->sess.sid);
	if (!on)
		event_del(c->sd->loop, c->msg_fd);
	c->msg_wait = on;
}

/* Closes the pipe and forgets the reading of the message. */
void
smtpd_msg_close(struct smtpd_conn *c)
{
	if (c->msg_fd != -1) {
		smtpd_msg_wait(c, 0);
		close(c->msg_fd);
		c->msg_fd = -1;
	}
	c->msg_ending = 0;
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

/*
 * A submission gets a Date: and a Message-ID: when it has none
 * (dataread.h): the date now, the Message-ID <qid.random@hostname>,
 * unique as the queue id is.
 */
static void
smtpd_msg_submission(struct smtpd_conn *c)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	char		date[64], msgid[DATAREAD_MSGID_MAX + 1];
	time_t		now = time(NULL);
	struct tm	tm;
	uint32_t	rnd;

	if (!smtp_session_submission(&c->sess))
		return;
	if (gmtime_r(&now, &tm) == NULL)
		fatal("gmtime_r");
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now_ms();
	if (!bsnprintf(date, sizeof(date), "%s, %d %s %d %02d:%02d:%02d "
	    "+0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec))
		fatalx("smtpd_msg_submission: date too long");
	if (!bsnprintf(msgid, sizeof(msgid), "<%s.%08x@%s>", c->sess.qid,
	    (unsigned)rnd, c->cfg->hostname))
		msgid[0] = '\0';
	dataread_submission(&c->dr, date, msgid);
}

void
smtpd_msg_start(struct smtpd_conn *c, int chunked)
{
	const struct config	*cfg = c->cfg;

	c->written = 0;
	c->werr = 0;
	c->msg_started = 1;
	dataread_init(&c->dr, cfg->max_message_size);
	dataread_limits(&c->dr, cfg->max_line_length,
	    cfg->max_received_headers);
	if (chunked)
		dataread_chunked(&c->dr);
	smtpd_msg_submission(c);
	c->dr_lines = 0;
	c->last = now_ms();
	buf_reset(&c->wbuf);
	smtp_session_received(&c->sess, time(NULL), &c->wbuf);
}

/*
 * Writes what the pipe takes of the buffered octets (all of them are
 * dropped once the message is lost).  1 when nothing is left, 0 when the
 * pipe is full: the session then waits for it.
 */
static int
smtpd_msg_write(struct smtpd_conn *c)
{
	ssize_t	n;

	while (!c->werr && c->dr.flags == 0 && c->wbuf.len > 0) {
		n = write(c->msg_fd, c->wbuf.data, c->wbuf.len);
		if (n > 0) {
			c->written += (uint64_t)n;
			buf_consume(&c->wbuf, (size_t)n);
		} else if (n == -1 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK)) {
			smtpd_msg_wait(c, 1);
			return 0;
		} else if (n == -1 && errno != EINTR) {
			log_warn("%s: session=%s: write to the queue",
			    c->sess.qid, c->sess.sid);
			c->werr = 1;
		}
	}
	buf_reset(&c->wbuf);
	smtpd_msg_wait(c, 0);
	return 1;
}

/* The verdict on the message, worst first. */
static enum smtp_data_status
smtpd_msg_status(const struct smtpd_conn *c)
{
	return smtp_reply_data_status(c->dr.flags, c->werr);
}

/* Closes the pipe for good: the queue sees its end of file. */
static void
smtpd_msg_finish(struct smtpd_conn *c)
{
	smtpd_msg_close(c);
}

/* The end marker was read: close the pipe and let the session decide. */
static void
smtpd_msg_data_end(struct smtpd_conn *c)
{
	struct smtp_reply	r;
	enum smtp_action	a;

	smtpd_msg_finish(c);
	smtp_session_message_id(&c->sess, c->dr.msgid);
	a = smtp_session_data_done(&c->sess, smtpd_msg_status(c), c->written,
	    &r);
	smtpd_conn_act(c, a, &r);
}

static void smtpd_msg_chunk_end(struct smtpd_conn *c);

/* The end of DATA or of a chunk, once the pipe took every octet; 0 while
 * it waits for the pipe. */
static int
smtpd_msg_end(struct smtpd_conn *c)
{
	if (!smtpd_msg_write(c)) {
		c->msg_ending = 1;
		return 0;
	}
	c->msg_ending = 0;
	if (c->chunk)
		smtpd_msg_chunk_end(c);
	else
		smtpd_msg_data_end(c);
	return 1;
}

/* The pipe drained: go on with the message and the client's input. */
static void
smtpd_msg_writable(int fd, int events, void *arg)
{
	struct smtpd_conn	*c = arg;

	(void)fd;
	(void)events;
	if (!smtpd_msg_write(c))
		return;
	if (c->msg_ending && !smtpd_msg_end(c))
		return;
	smtpd_conn_resume(c);
}

/* Feeds buffered input to the DATA reader; 0 when it needs more input
 * or waits for the pipe. */
int
smtpd_msg_data_input(struct smtpd_conn *c)
{
	size_t	used;

	if (c->wbuf.len >= SMTPD_WBUF_MAX && !smtpd_msg_write(c))
		return 0;
	used = dataread_feed(&c->dr, c->in.data + c->inpos,
	    c->in.len - c->inpos, &c->wbuf);
	c->inpos += used;
	smtpd_msg_progress(c);
	if (c->wbuf.len >= SMTPD_WBUF_MAX || c->dr.flags != 0 || c->werr)
		(void)smtpd_msg_write(c);
	if (!c->dr.done)
		return 0;
	return smtpd_msg_end(c);
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

	smtp_session_message_id(&c->sess, c->dr.msgid);
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

	if (c->wbuf.len >= SMTPD_WBUF_MAX && !smtpd_msg_write(c))
		return 0;
	n = avail < c->chunk_left ? avail : (size_t)c->chunk_left;
	if (n > 0) {
		(void)dataread_feed(&c->dr, c->in.data + c->inpos, n,
		    &c->wbuf);
		c->inpos += n;
		c->chunk_left -= n;
		smtpd_msg_progress(c);
		if (c->wbuf.len >= SMTPD_WBUF_MAX || c->dr.flags != 0 ||
		    c->werr)
			(void)smtpd_msg_write(c);
	}
	if (c->chunk_left > 0)
		return 0;
	if (c->sess.chunk_last)
		dataread_last(&c->dr, &c->wbuf);
	return smtpd_msg_end(c);
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
