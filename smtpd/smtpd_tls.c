/*
 * smtpd_tls.c - TLS in the receiver process: the handshake after the 220
 * to STARTTLS (or at once on a tls listener), the input dropped that was
 * sent before it (CVE-2011-0411), and the certificate and key the parent
 * sends at startup and after each reload.  With a certificate configured,
 * connections are accepted only once the first one came, or the wait for
 * it is over.  TLS I/O goes through common/tls.h.
 */
#include "common/buf.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/tls_pool.h"
#include "common/util.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd_int.h"

/* After a step of the handshake (rc: tls_handshake's): wait for the
 * socket, or fail, or the session goes on over TLS.  Returns -1 if the
 * connection was closed. */
static int
smtpd_tls_stepped(struct smtpd_conn *c, int rc)
{
	struct smtp_reply	r;

	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		c->tls_rwant = rc == TLS_WANT_READ ? EV_READ : EV_WRITE;
		smtpd_conn_update_events(c);
		return 0;
	}
	if (rc != 0) {
		smtpd_tls_log_error(c, "handshake failed");
		smtpd_conn_close(c, SMTP_CLOSE_ERROR);
		return -1;
	}
	c->handshaking = 0;
	c->tls_rwant = 0;
	log_info("session=%s tls version=%s cipher=%s resumed=%s",
	    c->sess.sid, tls_version(c->tls), tls_cipher(c->tls),
	    tls_resumed(c->tls) ? "yes" : "no");
	smtp_session_tls_done(&c->sess, tls_version(c->tls),
	    tls_cipher(c->tls));
	c->last = now_ms();
	if (c->implicit) {
		smtp_session_greeting(&c->sess, &r);
		smtpd_conn_reply(c, &r);
	}
	/* The client may have sent its EHLO with the last flight. */
	return smtpd_conn_input(c, 0);
}

/*
 * Starts or continues the handshake (after the 220 to STARTTLS, or on a
 * tls listener at once).  The first step runs here: nothing has come
 * yet, it only sets up and waits.  A later one that may compute a key
 * exchange or a signature (about 1.8 ms of CPU in all) goes to a worker
 * when there is a pool, and the socket is not watched until the step is
 * back (smtpd_tls_pool_event); the cheap ones (a resumption's end, the
 * last records) run here.  Returns -1 if the connection was closed.
 */
int
smtpd_tls_begin(struct smtpd_conn *c)
{
	if (c->tls == NULL) {
		c->tls_start = 0;
		if (c->tlsconf == NULL ||
		    (c->tls = tls_conn_server(c->tlsconf, c->fd)) == NULL) {
			log_warnx("session=%s tls not available", c->sess.sid);
			smtpd_conn_close(c, SMTP_CLOSE_ERROR);
			return -1;
		}
		c->handshaking = 1;
		c->tls_rwant = c->tls_wwant = 0;
		c->tls_wlen = 0;
		c->last = now_ms();
	} else if (c->sd->hs_pool != NULL && tls_step_costly(c->tls)) {
		event_del(c->sd->loop, c->fd);
		c->hs.tls = c->tls;
		c->hs.arg = c;
		c->hs_out = 1;
		tls_pool_submit(c->sd->hs_pool, &c->hs);
		return 0;
	}
	return smtpd_tls_stepped(c, tls_handshake(c->tls));
}

/* A step back from a worker: the connection goes on, or, closed while
 * the step was out, is let go. */
static void
smtpd_tls_back(struct smtpd_conn *c, int rc, int quiet)
{
	c->hs_out = 0;
	if (c->fd == -1) {
		smtpd_conn_let_go(c);
		return;
	}
	smtpd_conn_watch(c);
	if (!quiet)
		(void)smtpd_tls_stepped(c, rc);
}

/* The pool's eventfd: steps are back. */
void
smtpd_tls_pool_event(int fd, int events, void *arg)
{
	struct smtpd	*sd = arg;
	struct tls_step	*s, *next;

	(void)fd;
	(void)events;
	for (s = tls_pool_done(sd->hs_pool); s != NULL; s = next) {
		next = s->next;
		smtpd_tls_back(s->arg, s->rc, 0);
	}
}

/* At shutdown: the steps out are run to their end and taken back; the
 * sessions are ended after this, their handshakes not gone on with. */
void
smtpd_tls_pool_stop(struct smtpd *sd)
{
	struct tls_step	*s, *next;

	if (sd->hs_pool == NULL)
		return;
	tls_pool_stop(sd->hs_pool);
	for (s = tls_pool_done(sd->hs_pool); s != NULL; s = next) {
		next = s->next;
		smtpd_tls_back(s->arg, s->rc, 1);
	}
}

/* "session=SID tls <what> client=ADDR error=<why>" */
void
smtpd_tls_log_error(struct smtpd_conn *c, const char *what)
{
	char	why[LOGFMT_SIZE(128)];

	log_info("session=%s tls %s client=%s error=%s", c->sess.sid, what,
	    c->sess.client, logfmt_value(why, sizeof(why), tls_error(c->tls)));
}

/* The input left after STARTTLS is dropped, and said so. */
void
smtpd_tls_drop_input(struct smtpd_conn *c)
{
	if (c->in.len > 0)
		log_info("session=%s starttls: discarded %zu octets sent "
		    "before the handshake", c->sess.sid, c->in.len);
	buf_reset(&c->in);
	c->discard = 0;
}

/* The first certificate came (or never will): clients are welcome. */
static void
smtpd_tls_ready(struct smtpd *sd)
{
	if (!sd->tls_waiting)
		return;
	sd->tls_waiting = 0;
	event_timer_cancel(sd->loop, sd->tls_timer);
	sd->tls_timer = NULL;
	smtpd_ready(sd);
}

void
smtpd_tls_wait_over(void *arg)
{
	struct smtpd	*sd = arg;

	sd->tls_timer = NULL;
	log_warnx("tls: no certificate from the parent: accepting "
	    "connections without TLS");
	smtpd_tls_ready(sd);
}

/*
 * MSG_P_TLS_CONF: the certificate chain and key, at startup and after each
 * reload.  New sessions take the new configuration; running ones keep the
 * one they have.  If it does not load, the old one stays.
 */
void
smtpd_tls_conf(struct smtpd *sd, struct ipc_msg *m)
{
	struct tls_server_conf	*conf;
	const uint8_t		*cert, *key;
	size_t			 certlen, keylen;
	char			 err[512];
	enum ipc_status		 st;

	if ((st = ipc_msg_get_data(m, &cert, &certlen)) != IPC_OK ||
	    (st = ipc_msg_get_data(m, &key, &keylen)) != IPC_OK)
		fatalx("%s: message %s: %s", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), ipc_strerror(st));
	ipc_end(m);
	conf = tls_server_conf_new(cert, certlen, key, keylen, err,
	    sizeof(err));
	if (conf == NULL)
		log_warnx("tls: certificate and key refused: %s; %s", err,
		    sd->tlsconf != NULL ? "keeping the previous ones" :
		    "STARTTLS is not offered");
	else {
		if (sd->tlsconf != NULL)
			tls_server_conf_unref(sd->tlsconf);
		sd->tlsconf = conf;
		log_info("tls: certificate and key loaded");
	}
	smtpd_tls_ready(sd);
}
