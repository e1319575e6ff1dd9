/*
 * smtp_session.h - the SMTP server session as a state machine without I/O.
 *
 * The driver (smtpd.c) hands it one command line at a time and gets back a
 * reply and an action.  Steps that need another process (a recipient
 * lookup, opening the message file, committing it) are actions without a
 * reply: the driver performs them, reads no further command meanwhile, and
 * resumes the session with the result, which yields the reply.  Reading
 * the message itself (after DATA, or a BDAT chunk) and the TLS handshake
 * after STARTTLS are the driver's; the session is told how they ended.
 * The driver reads the fields below but never writes them.  Replies,
 * and the verdict on a message (enum smtp_data_status), are smtp_reply.h's.
 *
 * Every 4xx and 5xx reply counts as an error (the 452 for recipients over
 * max-recipients only beyond as many again): past soft-error-limit the
 * driver delays each error reply, at max-errors the next command gets 421.
 * A request that the driver gave up on (timeout-request, or the end of the
 * session) is remembered as stale: its late answer is recognised and
 * dropped, and no new request goes to that process until it came, so a
 * process never has two requests of one session.
 */
#ifndef SM_SMTP_SESSION_H
#define SM_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/config.h"
#include "smtpd/smtp_parse.h"
#include "smtpd/smtp_reply.h"
#include "smtpd/sasl.h"

struct buf;

#define SMTP_QID_MAX		64
#define SMTP_MSGID_MAX		255	/* octets of a Message-ID logged */
#define SMTP_TLSINFO_MAX	128
/* Recipient octets per message, so that the commit fits one IPC message. */
#define SMTP_RCPT_BYTES_MAX	(192 * 1024)

enum smtp_state {
	SMTP_INIT = 0,		/* greeting sent, no HELO/EHLO yet */
	SMTP_HELO,		/* HELO/EHLO done, no transaction */
	SMTP_MAIL,		/* MAIL accepted, no recipient yet */
	SMTP_RCPT,		/* at least one recipient accepted */
	SMTP_DATA,		/* the message (or a BDAT chunk) is being read */
	SMTP_BDAT,		/* a message is open, between BDAT chunks */
	SMTP_CLOSED,		/* QUIT or a fatal error: nothing more */
};

enum smtp_action {
	SMTP_A_REPLY = 0,	/* send the reply, go on reading commands */
	SMTP_A_CLOSE,		/* send the reply, then close the connection */
	SMTP_A_LOOKUP,		/* no reply: ask lookup about lookup_local and
				 * lookup_domain, then smtp_session_lookup_result */
	SMTP_A_OPEN,		/* no reply: ask the queue for a message file,
				 * then smtp_session_open_result */
	SMTP_A_DATA,		/* send the reply (354), then read the message,
				 * then smtp_session_data_done */
	SMTP_A_COMMIT,		/* no reply: commit qid with the envelope, then
				 * smtp_session_commit_result */
	SMTP_A_ABORT,		/* abort qid at the queue, send the reply */
	SMTP_A_STARTTLS,	/* send the reply (220), drop all input read so
				 * far, then the TLS handshake, then
				 * smtp_session_tls_done */
	SMTP_A_CHUNK,		/* no reply: read chunk_size octets into the
				 * message, then smtp_session_chunk_done */
	SMTP_A_SKIP,		/* send the reply, then read and drop
				 * chunk_size octets (a refused BDAT) */
	SMTP_A_AUTH,		/* no reply: ask lookup about auth_user and
				 * auth_password (MSG_L_AUTH), then
				 * smtp_session_auth_wipe at once, then
				 * smtp_session_auth_result */
	SMTP_A_SENDER,		/* no reply: ask lookup whether auth_name may
				 * use sender_check (MSG_L_SENDER), then
				 * smtp_session_sender_result */
};

/* Where an AUTH dialogue is (RFC 4954): the next line is a response. */
enum smtp_auth_step {
	SMTP_AUTH_NONE = 0,
	SMTP_AUTH_PLAIN,	/* 334 sent, the PLAIN response is due */
	SMTP_AUTH_LOGIN_USER,	/* 334 Username: */
	SMTP_AUTH_LOGIN_PASS,	/* 334 Password: */
};

/* Why a session ended, for the disconnect log line. */
enum smtp_close_reason {
	SMTP_CLOSE_NONE = 0,
	SMTP_CLOSE_QUIT,
	SMTP_CLOSE_EOF,
	SMTP_CLOSE_TIMEOUT,
	SMTP_CLOSE_SHUTDOWN,
	SMTP_CLOSE_ERROR,
	SMTP_CLOSE_LIMIT,
	SMTP_CLOSE_BUSY,	/* out of descriptors */
	SMTP_CLOSE_DEADLINE,	/* timeout-session */
};

/* Refusals logged per session; the rest are counted, and summed up at
 * the end by smtp_session_log_end. */
#define SMTP_REJECT_LOG_MAX	5
/* Octets of a refused command line shown in its log line (line=). */
#define SMTP_LOG_LINE_MAX	128
/* "<tag>.<n>": the session= of the log, unique across restarts. */
#define SMTP_SID_MAX		32

/* What all sessions of the process share. */
struct smtp_server {
	const struct config	*cfg;
	int			 space_low;	/* MSG_Q_SPACE said so */
	int			 fds_low;	/* no descriptor to spare for
						 * another message */
	char			 sid_tag[16];	/* smtp_sid_tag; "" = none */
};

/* One accepted recipient with its DSN parameters. */
struct smtp_rcpt {
	char		*addr;		/* local part as given @ A-label domain */
	unsigned	 notify;	/* DSN_NOTIFY_* bits, 0 = not given */
	char		*orcpt;		/* "addr-type;xtext", NULL = not given */
};

struct smtp_session {
	struct smtp_server	*srv;
	const struct config	*cfg;		/* srv->cfg when the session
						 * began: a reload does not
						 * change a running session */
	uint32_t		 id;
	char			 sid[SMTP_SID_MAX];	/* id as logged */
	enum smtp_state		 state;
	enum smtp_action	 wait;		/* LOOKUP/OPEN/COMMIT or REPLY */
	enum smtp_close_reason	 close_reason;
	int			 relay;		/* client in a relay network */
	char			 client[64];	/* numeric address */
	unsigned		 nerrors;	/* 4xx and 5xx replies so far */
	unsigned		 overshoot;	/* 452s for recipients over the limit */
	int			 uncounted;	/* this reply is no error */
	int			 delay;		/* delay the reply just given */
	unsigned		 nlogged;	/* refusals logged */
	unsigned		 nunlogged;	/* refusals past SMTP_REJECT_LOG_MAX */
	/* Requests given up on whose answers may still come. */
	enum smtp_action	 stale_queue;	/* SMTP_A_OPEN, _COMMIT or _REPLY */
	char			 stale_qid[SMTP_QID_MAX]; /* of a stale commit */
	int			 stale_lookup;
	const char		*cmd;		/* verb being answered (for logs) */
	int			 probe;		/* log this reply though not an
						 * error (VRFY) */
	int			 log_qid;	/* the refusal discards qid */
	char			 log_line[SMTP_LOG_LINE_MAX + 1]; /* command */
	size_t			 log_linelen;	/* its octets (NUL allowed) */
	char			 log_to[SMTP_PATH_MAX + 1]; /* RCPT's address */
	int			 has_sender;	/* MAIL accepted: sender is set */
	unsigned		 nmessages;	/* committed in this session */

	enum listener_kind	 kind;		/* where the client came in */
	int			 tls_offer;	/* a TLS configuration is there */
	int			 tls;		/* the session is encrypted */
	char			 tls_info[SMTP_TLSINFO_MAX]; /* "version=V cipher=C" */

	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];

	/* The transaction. */
	char			 sender[SMTP_PATH_MAX + 1];
	int			 smtputf8;	/* MAIL ... SMTPUTF8 */
	unsigned		 body;		/* BODY_*, 0 = not given */
	unsigned		 ret;		/* DSN_RET_*, 0 = not given */
	char			 envid[SMTP_ENVID_MAX + 1];	/* "" = none */
	struct smtp_rcpt	*rcpts;
	size_t			 nrcpt;
	size_t			 rcpt_bytes;	/* their size in the commit */
	char			 qid[SMTP_QID_MAX];
	int			 opened;	/* qid open, neither committed nor aborted */
	uint64_t		 msg_size;	/* octets written to the file */
	char			 msgid[SMTP_MSGID_MAX + 1]; /* the message's
						 * Message-ID, "" = none */
	int			 chunked;	/* the message comes in BDAT chunks */
	uint64_t		 chunk_size;	/* octets of the current BDAT */
	int			 chunk_last;	/* it said LAST */

	/* AUTH (RFC 4954): offered when credentials is set, on a tls
	 * listener, and on a submission listener once TLS is on. */
	enum smtp_auth_step	 auth_step;
	int			 authenticated;
	char			 auth_name[SASL_USER_MAX + 1];	/* once done */
	unsigned		 auth_failures;	/* in this session */
	char			 auth_user[SASL_USER_MAX + 1];	/* asked */
	char			 auth_password[SASL_PASSWORD_MAX + 1];
	int			 secret_line;	/* the line just read held a
						 * secret: the driver wipes it */
	uint64_t		 delay_ms;	/* the delayed reply waits this
						 * long; 0 = error-delay */
	/* MAIL waiting for the sender check (SMTP_A_SENDER). */
	char			 sender_check[SMTP_PATH_MAX + 1];
	int			 pend_smtputf8;
	unsigned		 pend_body;
	unsigned		 pend_ret;
	char			 pend_envid[SMTP_ENVID_MAX + 1];

	/* The recipient waiting for lookup. */
	char			 lookup_addr[SMTP_PATH_MAX + 1];
	char			 lookup_local[SMTP_LOCAL_MAX + 1];
	char			 lookup_domain[SMTP_DOMAIN_MAX + 1];
	unsigned		 lookup_notify;
	char			 lookup_orcpt[SMTP_ORCPT_MAX + 1];
};

void smtp_session_init(struct smtp_session *s, struct smtp_server *srv,
    uint32_t id, const char *client, int relay);
/* The listener's kind (LISTEN_SMTP unless told), and whether STARTTLS
 * can be offered; after init, before the greeting. */
void smtp_session_setup(struct smtp_session *s, enum listener_kind kind,
    int tls_offer);
void smtp_session_free(struct smtp_session *s);

/* The 220 greeting (no enhanced code). */
void smtp_session_greeting(struct smtp_session *s, struct smtp_reply *r);

/*
 * One command line, as received with its line ending (len octets, which
 * may include NUL bytes).  Checks NUL, CR and LF itself; the driver
 * enforces SMTP_LINE_MAX and calls smtp_session_line_too_long instead.
 */
enum smtp_action smtp_session_command(struct smtp_session *s,
    const char *line, size_t len, struct smtp_reply *r);
enum smtp_action smtp_session_line_too_long(struct smtp_session *s,
    struct smtp_reply *r);

/* 1 if AUTH is offered in the session's present state. */
int smtp_session_auth_offered(const struct smtp_session *s);
/* Wipes the password the session asked about (after the MSG_L_AUTH was
 * built), and the flag that the line held a secret. */
void smtp_session_auth_wipe(struct smtp_session *s);
/* MSG_L_AUTH_RESULT: result (enum lookup_auth), the failures of the
 * client address so far. */
enum smtp_action smtp_session_auth_result(struct smtp_session *s,
    int result, unsigned failures, struct smtp_reply *r);
/* MSG_L_SENDER_RESULT: 0 allowed, 1 refused, 2 temporary failure. */
enum smtp_action smtp_session_sender_result(struct smtp_session *s,
    int result, struct smtp_reply *r);

/* Results of the asynchronous steps. */
enum smtp_action smtp_session_lookup_result(struct smtp_session *s,
    int result, struct smtp_reply *r);
enum smtp_action smtp_session_open_result(struct smtp_session *s,
    const char *qid, int reason, struct smtp_reply *r);
/* The value of the message's Message-ID header field ("" = none), for
 * the "accepted" log line; before smtp_session_data_done or the last
 * smtp_session_chunk_done.  A longer one is cut to SMTP_MSGID_MAX. */
void smtp_session_message_id(struct smtp_session *s, const char *msgid);
/* DATA ended at the end marker; size = octets in the file. */
enum smtp_action smtp_session_data_done(struct smtp_session *s,
    enum smtp_data_status st, uint64_t size, struct smtp_reply *r);
/* A BDAT chunk was read; size = octets in the file so far. */
enum smtp_action smtp_session_chunk_done(struct smtp_session *s,
    enum smtp_data_status st, uint64_t size, struct smtp_reply *r);
enum smtp_action smtp_session_commit_result(struct smtp_session *s,
    int reason, struct smtp_reply *r);
/*
 * The TLS handshake succeeded (after STARTTLS, or first thing on a tls
 * listener): the session is encrypted and starts over as if just greeted
 * (RFC 3207 4.2): no HELO/EHLO, no transaction.
 */
void smtp_session_tls_done(struct smtp_session *s, const char *version,
    const char *cipher);

/* The connection is lost or closed during a message: 1 if the message
 * qid was open and must be aborted at the queue (then it no longer is). */
int smtp_session_abandon(struct smtp_session *s);

/*
 * The request the session waits for (LOOKUP, OPEN or COMMIT) is given up
 * after timeout-request: 451 4.3.0, and the request becomes stale.  A
 * commit given up on may still succeed: then the client, told 451, may
 * send the message again (a duplicate, never a loss).
 */
enum smtp_action smtp_session_request_timeout(struct smtp_session *s,
    struct smtp_reply *r);
/*
 * An answer of kind (SMTP_A_LOOKUP, SMTP_A_OPEN or SMTP_A_COMMIT with its
 * qid, else NULL) has come: 1 if it is the late answer of a stale request,
 * which the driver drops (a message opened is aborted); the request is no
 * longer stale.  0 if not: the session must be waiting for it.
 */
int smtp_session_late(struct smtp_session *s, enum smtp_action kind,
    const char *qid);
/* 1 when the message is a submission: the session is authenticated or
 * came in on a submission or tls listener (missing Date and Message-ID
 * are added). */
int smtp_session_submission(const struct smtp_session *s);
/* 1 while an answer is due: the record must outlive the connection. */
int smtp_session_busy(const struct smtp_session *s);
/* Takes the flag that the reply just given is to be delayed (past
 * soft-error-limit): 1 once per such reply. */
int smtp_session_take_delay(struct smtp_session *s);
/* The line "N more refusals not logged", if there were such. */
void smtp_session_log_end(const struct smtp_session *s);

/* The tag of this start of the process (start time and a random
 * number, in hexadecimal) into srv, so that session= is unique across
 * restarts. */
void smtp_sid_tag(struct smtp_server *srv);
/* The session= of id, "<tag>.<id>" (or "<id>" without a tag). */
void smtp_sid_format(const struct smtp_server *srv, uint32_t id, char *buf,
    size_t size);

/* The id of a new session after *last: never 0, never one that in_use
 * reports (ids wrap after 2^32 sessions); *last becomes it. */
uint32_t smtp_session_next_id(uint32_t *last,
    int (*in_use)(void *, uint32_t), void *arg);

/* "SMTP" (HELO), "ESMTP", or "ESMTPS" (EHLO over TLS), "ESMTPA" or
 * "ESMTPSA" once authenticated (RFC 3848). */
const char *smtp_session_protocol(const struct smtp_session *s);

/* The Received header that starts the content file: with "(authenticated
 * as USER)" only when received-auth is yes. */
void smtp_session_received(const struct smtp_session *s, time_t now,
    struct buf *out);

/* Endings the driver decides; each sets a 421 reply and the reason.  A
 * lookup or open the session waits for becomes stale; the driver waits
 * for the answer to a commit before it ends a session. */
void smtp_session_timeout(struct smtp_session *s, struct smtp_reply *r);
void smtp_session_deadline(struct smtp_session *s, struct smtp_reply *r);
void smtp_session_shutdown(struct smtp_session *s, struct smtp_reply *r);
void smtp_session_limit(struct smtp_session *s, struct smtp_reply *r);
/* The process is short of descriptors: 421 4.3.2 (reason "busy"). */
void smtp_session_no_room(struct smtp_session *s, struct smtp_reply *r);
/* The connection ended without a reply (EOF, error): records why, unless
 * a reason was set already.  An answer the session waits for may still
 * come and is taken as usual; its reply goes nowhere. */
void smtp_session_closed(struct smtp_session *s, enum smtp_close_reason why);

const char *smtp_state_name(enum smtp_state st);
const char *smtp_close_reason_name(enum smtp_close_reason why);

#endif
