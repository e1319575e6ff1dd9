/*
 * dlv_idle.c - sessions kept open between jobs (delivery.h: connection
 * reuse).  A session READY after its message is filed in the idle cache
 * (conncache.h) for smtp-reuse-idle seconds, or gets QUIT; a job takes
 * one that meets its level; an idle one that the server closes or speaks
 * on is dropped quietly; at expiry, reload and shutdown they get QUIT.
 * A connection no job has is on d->detached until it is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"
#include "common/event.h"
#include "common/log.h"
#include "common/tls.h"
#include "delivery/delivery_int.h"

#define DLV_QUIT_WAIT		10	/* seconds for the reply to QUIT */

static void dlv_idle_quit(struct dlv_conn *cn);

/* Out of the list of connections no job has. */
static void
dlv_idle_unlink(struct dlv_conn *cn)
{
	struct dlv_conn	**pp;

	for (pp = &cn->d->detached; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cn) {
			*pp = cn->next;
			break;
		}
	}
	cn->next = NULL;
}

/* 1 when the session, READY after its message, is to be kept idle. */
int
dlv_idle_keep(const struct dlv_conn *cn)
{
	const struct config	*cfg = cn->d->cfg;

	return cfg->smtp_reuse_idle > 0 && cn->nmsg < cfg->smtp_reuse_max &&
	    cn->c.state == SMTPC_READY;
}

/* A connection no job has any more goes for good. */
static void
dlv_idle_free(struct dlv_conn *cn)
{
	if (cn->own == DLV_OWN_IDLE)
		(void)conncache_remove(&cn->d->idle, cn);
	dlv_idle_unlink(cn);
	dlv_conn_free(cn);
}

static void
dlv_idle_timeout(void *arg)
{
	struct dlv_conn	*cn = arg;

	cn->timer = NULL;
	if (cn->own == DLV_OWN_IDLE) {
		log_debug("%s: idle for %llus: QUIT", cn->relay,
		    (unsigned long long)cn->d->cfg->smtp_reuse_idle);
		dlv_idle_quit(cn);
		return;
	}
	dlv_idle_free(cn);
}

/* QUIT on a connection no job has; its reply (or anything) ends it. */
static void
dlv_idle_quit(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;
	unsigned	 t;

	if (cn->own == DLV_OWN_IDLE)
		(void)conncache_remove(&d->idle, cn);
	cn->own = DLV_OWN_QUIT;
	cn->act = smtpc_quit(&cn->c, &cn->out);
	if (dlv_conn_flush(cn) == -1) {
		dlv_idle_free(cn);
		return;
	}
	(void)event_mod(d->loop, cn->fd, EV_READ |
	    (cn->out.len > 0 ? EV_WRITE : 0));
	t = smtpc_timeout(&cn->c);
	dlv_conn_timer_cb(cn, (uint64_t)(t > DLV_QUIT_WAIT ? DLV_QUIT_WAIT :
	    t) * 1000, dlv_idle_timeout);
}

/*
 * Input on a connection no job has.  Idle: the server closed it, said
 * 421 or something else unasked: it is dropped quietly (the next message
 * makes a new one).  After QUIT: the reply, or the close, ends it.
 */
void
dlv_idle_io(struct dlv_conn *cn, int events)
{
	char	 buf[512];
	ssize_t	 n;

	if ((events & EV_WRITE) != 0 && cn->out.len > 0) {
		if (dlv_conn_flush(cn) == -1) {
			dlv_idle_free(cn);
			return;
		}
		if (cn->out.len == 0)
			(void)event_mod(cn->d->loop, cn->fd, EV_READ);
	}
	if ((events & (EV_READ | EV_ERROR)) == 0)
		return;
	if (cn->tls != NULL)
		n = tls_read(cn->tls, buf, sizeof(buf));
	else
		n = read(cn->fd, buf, sizeof(buf));
	if (n == TLS_WANT_READ || n == TLS_WANT_WRITE ||
	    (cn->tls == NULL && n == -1 && (errno == EAGAIN ||
	    errno == EWOULDBLOCK || errno == EINTR)))
		return;
	if (cn->own == DLV_OWN_IDLE)
		log_debug("%s: idle connection %s: dropped", cn->relay,
		    n > 0 ? "spoken to by the server" : "closed by the server");
	dlv_idle_free(cn);
}

/*
 * The job is done with its session.  A session back at READY after its
 * message stays idle for smtp-reuse-idle (at most max-deliveries of them:
 * the oldest goes first); dlv_conn_step sent QUIT (and waited for its
 * reply) when reuse is off or the session carried smtp-reuse-max
 * messages.  Anything else is closed.
 */
void
dlv_idle_release(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;
	void		*old;

	free(cn->rc);
	free(cn->rmap);
	cn->rc = NULL;
	cn->rmap = NULL;
	cn->nrc = 0;
	cn->job = NULL;
	cn->reused = 0;
	if (cn->fd == -1 || cn->c.state != SMTPC_READY || !cn->msg_given) {
		dlv_conn_free(cn);
		return;
	}
	cn->msg_given = 0;
	cn->own = DLV_OWN_QUIT;
	cn->next = d->detached;
	d->detached = cn;
	if (!dlv_idle_keep(cn)) {
		dlv_idle_quit(cn);
		return;
	}
	while (conncache_count(&d->idle) >= d->cfg->max_deliveries &&
	    (old = conncache_oldest(&d->idle)) != NULL)
		dlv_idle_quit(old);
	cn->own = DLV_OWN_IDLE;
	conncache_put(&d->idle, &cn->key, cn);
	(void)event_mod(d->loop, cn->fd, EV_READ);
	dlv_conn_timer_cb(cn, d->cfg->smtp_reuse_idle * 1000,
	    dlv_idle_timeout);
	log_debug("%s: idle, kept %llus for another message", cn->relay,
	    (unsigned long long)d->cfg->smtp_reuse_idle);
}

/* An idle session that meets need, no longer idle; NULL if none. */
struct dlv_conn *
dlv_idle_take(struct dlv *d, const struct conncache_need *need)
{
	struct dlv_conn	*cn;

	if ((cn = conncache_take(&d->idle, need)) == NULL)
		return NULL;
	dlv_idle_unlink(cn);
	if (cn->timer != NULL) {
		event_timer_cancel(d->loop, cn->timer);
		cn->timer = NULL;
	}
	return cn;
}

/* Reload: an idle connection was opened under the old settings (relay
 * host, credentials, tls-policy), so none is reused after it: QUIT. */
void
dlv_idle_quit_all(struct dlv *d)
{
	struct dlv_conn	*cn, *next;

	for (cn = d->detached; cn != NULL; cn = next) {
		next = cn->next;
		if (cn->own == DLV_OWN_IDLE)
			dlv_idle_quit(cn);
	}
}

/* Shutdown: QUIT on each idle connection (without waiting), then close. */
void
dlv_idle_close_all(struct dlv *d)
{
	struct dlv_conn	*cn;

	while ((cn = d->detached) != NULL) {
		if (cn->own == DLV_OWN_IDLE) {
			cn->act = smtpc_quit(&cn->c, &cn->out);
			(void)dlv_conn_flush(cn);
		}
		dlv_idle_free(cn);
	}
	conncache_free(&d->idle);
}
