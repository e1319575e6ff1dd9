/*
 * smtpd_int.h - internal to the receiver process: the records of the
 * process and its connections, shared by smtpd.c, smtpd_msg.c (the
 * message file) and smtpd_tls.c (the handshake and the certificate).
 * smtpd.h stays the process's public interface.
 */
#ifndef SM_SMTPD_INT_H
#define SM_SMTPD_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/tls_pool.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_session.h"

struct config;
struct event_loop;
struct event_timer;
struct ipc_chan;
struct ipc_msg;
struct listener;
struct tls_conn;
struct tls_server_conf;
struct smtpd;

struct smtpd_listener {
	struct smtpd		*sd;
	struct listener		*l;
};

/*
 * The settings that reload (config.h), shared by the sessions that began
 * under them: new sessions take the newest, a running one keeps its own
 * until it ends (smtpd_conf.c).
 */
struct smtpd_conf {
	struct config	cfg;
	unsigned	refs;
};

struct smtpd_conn {
	TAILQ_ENTRY(smtpd_conn)	 entry;
	struct smtpd		*sd;
	struct smtpd_conf	*conf;		/* this session's reference */
	const struct config	*cfg;		/* &conf->cfg */
	struct smtp_session	 sess;
	struct sockaddr_storage	 ss;		/* the client (v4-mapped made
						 * IPv4) */
	int			 fd;		/* -1 once closed */
	int			 kill;		/* close now, output or not */
	int			 closing;	/* close once output is written */
	struct buf		 in;
	size_t			 inpos;		/* input used in this batch */
	struct buf		 out;
	int			 discard;	/* skipping an overlong line */
	struct event_timer	*timer;
	uint64_t		 last;		/* last complete line, ms */
	uint64_t		 start;		/* connected, ms (timeout-session) */
	uint64_t		 req_start;	/* the request waited for, ms */
	int			 delaying;	/* an error reply is held back */
	struct event_timer	*delay_timer;
	enum smtp_close_reason	 end_pending;	/* 421 once the commit is answered */

	/* TLS. */
	struct tls_server_conf	*tlsconf;	/* this session's reference */
	struct tls_conn		*tls;
	int			 implicit;	/* tls listener: greet after it */
	int			 tls_start;	/* STARTTLS said 220: handshake
						 * once that is written */
	int			 handshaking;
	int			 tls_rwant;	/* EV_* the last read waits for */
	int			 tls_wwant;	/* EV_* the last write waits for */
	size_t			 tls_wlen;	/* a write to repeat, 0 = none */
	/* A handshake step on a worker (common/tls_pool.h): while hs_out,
	 * nothing here touches tls or the socket, which is not watched; a
	 * close meanwhile keeps the socket open in hs_fd until it is back. */
	struct tls_step		 hs;
	int			 hs_out;
	int			 hs_fd;

	/* The message being read. */
	int			 in_data;	/* reading DATA or a BDAT chunk */
	int			 chunk;		/* ... a BDAT chunk */
	uint64_t		 chunk_left;
	uint64_t		 skip_left;	/* octets of a refused BDAT */
	int			 msg_started;	/* Received header written */
	struct dataread		 dr;
	uint64_t		 dr_lines;	/* dr.lines at the last restart */
	int			 msg_fd;	/* the pipe to the queue */
	int			 msg_wait;	/* the pipe is full */
	int			 msg_ending;	/* ... and the end was read */
	struct buf		 wbuf;		/* octets the pipe has not taken */
	uint64_t		 written;
	int			 werr;

	/* The message opened ahead, at the first recipient accepted, so
	 * that DATA or BDAT need not wait for the queue (as Postfix opens
	 * its queue file at the first valid RCPT): SMTPD_PRE_*. */
	int			 pre;
	int			 pre_off;	/* one failed: DATA opens */
	char			 pre_qid[SMTP_QID_MAX];
	int			 pre_fd;	/* its pipe (SMTPD_PRE_READY) */
	struct event_defer	 pre_use;	/* hands it to DATA or BDAT */
};

#define SMTPD_PRE_NONE		0
#define SMTPD_PRE_PENDING	1	/* MSG_Q_OPEN sent, no answer yet */
#define SMTPD_PRE_READY		2	/* opened: pre_qid, pre_fd */

TAILQ_HEAD(smtpd_conns, smtpd_conn);

struct smtpd {
	struct config		*cfg;		/* as started: listeners,
						 * max-sessions */
	struct smtpd_conf	*conf;		/* for new sessions; srv.cfg
						 * is &conf->cfg */
	struct event_loop	*loop;
	struct smtp_server	 srv;
	struct ipc_chan		*parent;
	struct ipc_chan		*queue;
	struct ipc_chan		*lookup;
	struct smtpd_listener	*lst;
	struct smtpd_conns	 conns;
	unsigned		 nlive;		/* connections with a socket */
	unsigned		 nconns;	/* records, with a socket or not */
	uint64_t		 trimmed_ms;	/* last malloc_trim (now_ms) */
	uint64_t		 fd_limit;	/* RLIMIT_NOFILE */
	uint64_t		 fd_base;	/* open before any session */
	uint32_t		 next_id;
	int			 status;
	int			 queue_lost;
	int			 accepting;
	int			 stopping;	/* SIGTERM: waits for commits */
	struct event_timer	*drain_timer;
	struct event_timer	*accept_timer;
	struct tls_server_conf	*tlsconf;	/* for new sessions; NULL = none */
	int			 tls_waiting;	/* for the first certificate */
	struct tls_pool		*hs_pool;	/* handshake steps; NULL: in
						 * the loop (one CPU) */
	struct event_timer	*tls_timer;
};

/* smtpd.c: connections, output, input and requests. */
void smtpd_conn_close(struct smtpd_conn *c, enum smtp_close_reason why);
void smtpd_conn_reply(struct smtpd_conn *c, const struct smtp_reply *r);
void smtpd_conn_update_events(struct smtpd_conn *c);
void smtpd_conn_watch(struct smtpd_conn *c);
void smtpd_conn_let_go(struct smtpd_conn *c);
int smtpd_conn_input(struct smtpd_conn *c, int hup);
void smtpd_conn_act(struct smtpd_conn *c, enum smtp_action a,
    const struct smtp_reply *r);
void smtpd_conn_resume(struct smtpd_conn *c);
void smtpd_send_abort(struct smtpd_conn *c);
void smtpd_ready(struct smtpd *sd);

/* smtpd_msg.c: the message file. */
void smtpd_msg_close(struct smtpd_conn *c);
void smtpd_msg_drop(struct smtpd_conn *c);
void smtpd_msg_start(struct smtpd_conn *c, int chunked);
void smtpd_msg_chunk_start(struct smtpd_conn *c);
int smtpd_msg_data_input(struct smtpd_conn *c);
int smtpd_msg_chunk_input(struct smtpd_conn *c);
int smtpd_msg_skip_input(struct smtpd_conn *c);

/* smtpd_tls.c: the handshake and the certificate. */
int smtpd_tls_begin(struct smtpd_conn *c);
void smtpd_tls_drop_input(struct smtpd_conn *c);
void smtpd_tls_log_error(struct smtpd_conn *c, const char *what);
void smtpd_tls_wait_over(void *arg);
void smtpd_tls_conf(struct smtpd *sd, struct ipc_msg *m);
void smtpd_tls_pool_event(int fd, int events, void *arg);
void smtpd_tls_pool_stop(struct smtpd *sd);

/* smtpd_conf.c: the settings that reload. */
void smtpd_conf_init(struct smtpd *sd);
void smtpd_conf_attach(struct smtpd_conn *c);
void smtpd_conf_detach(struct smtpd_conn *c);
void smtpd_conf_reload(struct smtpd *sd, struct ipc_msg *m);
void smtpd_conf_free(struct smtpd *sd);

#endif
