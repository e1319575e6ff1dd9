/*
 * delivery_int.h - what the files of the delivery process share (not an
 * interface for other rooms; delivery.h is that): the process state
 * (struct dlv) and an SMTP connection (struct dlv_conn), and the few
 * functions one file of the process calls in another.  delivery.c runs
 * jobs and their sessions, dlv_idle.c keeps sessions between jobs,
 * stscheck.c answers strictmailctl's sts requests.
 */
#ifndef SM_DELIVERY_INT_H
#define SM_DELIVERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "delivery/conncache.h"
#include "delivery/relay.h"
#include "delivery/smtpc.h"
#include "delivery/smtpc_reply.h"

#define DLV_CHUNK		(64 * 1024)	/* content read per piece */
#define DLV_RELAY_MAX		320

struct config;
struct dlv_job;
struct dns;
struct dns_addr;
struct ipc_chan;
struct sts;
struct stscheck;
struct tls_client_conf;
struct tls_conn;
struct tls_trust;

/* Where a job's connection is. */
enum dlv_phase {
	DLV_CONNECTING,
	DLV_SESSION,
	DLV_HANDSHAKE,
};

/* Who has the connection: a job, or nobody (idle for reuse, or QUIT
 * sent and the reply awaited). */
enum dlv_own {
	DLV_OWN_JOB = 0,
	DLV_OWN_IDLE,
	DLV_OWN_QUIT,
};

/* One SMTP connection: a job's session, or one that no job has. */
struct dlv_conn {
	struct dlv		*d;
	struct dlv_job		*job;		/* NULL unless DLV_OWN_JOB */
	enum dlv_own		 own;
	struct dlv_conn		*next;		/* d->detached, unless a job's */
	int			 fd;
	enum dlv_phase		 phase;
	struct tls_conn		*tls;
	size_t			 tls_wlen;	/* a tls_write to repeat */
	int			 plaintext;	/* `may` retry without TLS */
	struct smtpc		 c;
	struct smtpc_settings	 set;
	struct smtpc_rparser	 rp;
	struct buf		 out;
	enum smtpc_action	 act;
	struct smtpc_msg	 msg;
	struct smtpc_rcpt	*rc;
	size_t			*rmap;		/* rc[i] is job->rcpts[rmap[i]] */
	size_t			 nrc;
	int			 msg_given;
	uint64_t		 content_off;
	struct event_timer	*timer;
	char			 relay[DLV_RELAY_MAX];
	char			 tlsinfo[160];
	int			 closing;
	/* What reuse depends on (conncache.h). */
	struct conncache_key	 key;
	int			 reused;	/* taken from the idle ones */
	unsigned		 nmsg;		/* messages given on it */
};

/* The process: one per delivery process. */
struct dlv {
	struct config		*cfg;
	struct event_loop	*loop;
	struct dns		*dns;
	struct tls_trust	*trust;
	char			 trust_err[256];
	struct tls_client_conf	*compat, *strict;
	struct relay_auth	 auth;		/* relay-auth-file */
	struct ipc_chan		*parent, *queue;
	struct dlv_job		*jobs;
	struct dns_addr		*self;
	size_t			 nself;
	const char		*names[2];
	struct conncache	 idle;		/* idle connections */
	struct dlv_conn		*detached;	/* idle and quitting ones */
	struct ipc_chan		*control;	/* strictmailctl sts */
	struct stscheck		*checks;	/* sts check: the MX steps */
	struct sts		*sts;
	int			 sts_fd;	/* the fetcher's spawner */
	char			 buf[DLV_CHUNK];
};

/* delivery.c: a connection's end, its output, its timer. */
void	dlv_conn_free(struct dlv_conn *cn);
int	dlv_conn_flush(struct dlv_conn *cn);	/* -1: it failed */
void	dlv_conn_timer_cb(struct dlv_conn *cn, uint64_t ms,
	    event_timer_cb cb);

/*
 * dlv_idle.c: sessions kept between jobs (smtp-reuse-idle).
 * dlv_idle_keep: 1 when a session READY after its message is to be kept.
 * dlv_idle_release: the job is done with cn: kept idle, QUIT, or closed.
 * dlv_idle_take: an idle session that meets need, out of the idle ones
 * (the caller gives it a job), or NULL.  dlv_idle_io: events on a
 * connection no job has.  dlv_idle_quit_all: QUIT on every idle one
 * (reload).  dlv_idle_close_all: QUIT without waiting, close (shutdown).
 */
int	dlv_idle_keep(const struct dlv_conn *cn);
void	dlv_idle_release(struct dlv_conn *cn);
struct dlv_conn *dlv_idle_take(struct dlv *d,
	    const struct conncache_need *need);
void	dlv_idle_io(struct dlv_conn *cn, int events);
void	dlv_idle_quit_all(struct dlv *d);
void	dlv_idle_close_all(struct dlv *d);

#endif
