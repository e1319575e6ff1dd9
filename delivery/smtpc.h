/*
 * smtpc.h - the SMTP client session as a state machine without I/O.
 *
 * The driver (the delivery process) connects, reads replies with
 * smtpc_reply.h's reader, runs TLS handshakes and reads the message
 * content; the session tells it, through an action, what to do next and
 * appends the commands to send to the driver's output buffer (several at
 * once when the server offers PIPELINING: MAIL, every RCPT and DATA go in
 * one write; with CHUNKING too, MAIL, every RCPT and the first BDAT
 * chunk).  The session knows no socket, no clock and no file.
 *
 * One connection: smtpc_init, smtpc_connected (waits for the 220
 * greeting), EHLO (HELO when EHLO gets 500 or 502), the STARTTLS step of
 * the required TLS level, AUTH when the settings carry credentials
 * (SMTPC_AUTH), then SMTPC_A_READY: the driver gives a message
 * with smtpc_mail, and the session comes back to SMTPC_A_READY when every
 * recipient of it has its outcome, or SMTPC_A_CLOSE when the connection
 * is lost for good; smtpc_quit ends it.  Another message may follow on
 * the same connection (a transaction left open is reset with RSET first).
 *
 * Outcomes: each recipient ends SMTPC_SENT, SMTPC_TEMPFAIL (4xx, or a
 * failure of this host or connection: try the next MX or later) or
 * SMTPC_PERMFAIL (5xx: bounce).  Only refused recipients fail; the reply
 * to the final dot (or BDAT LAST) applies to every accepted one.  A
 * failure that concerns the host rather than the message (greeting,
 * HELO, the TLS level, a protocol error, a lost connection, 421) marks
 * the outcome "host": the next MX may do better.  So does every failure
 * of AUTH ("authentication failed: 535 ...", no AUTH or no usable
 * mechanism offered): it is temporary, never a bounce, since the
 * operator fixes credentials.  Neither the password nor the base64 of
 * the AUTH lines is ever logged or put into a reason.
 *
 * Timeouts (RFC 5321 4.5.3.2) are the driver's: smtpc_timeout says which
 * value of the settings applies to the wait at hand.
 */
#ifndef SM_SMTPC_H
#define SM_SMTPC_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/smtpc_reply.h"

struct buf;

/* The TLS level required of the destination. */
enum smtpc_tls_level {
	SMTPC_TLS_NONE = 0,	/* never STARTTLS */
	SMTPC_TLS_MAY,		/* STARTTLS when offered, else plaintext */
	SMTPC_TLS_ENCRYPT,	/* TLS required, no verification */
	SMTPC_TLS_VERIFY,	/* TLS, chain and MX name verified */
	SMTPC_TLS_SECURE,	/* TLS, chain and configured names verified */
};

struct smtpc_settings {
	const char		*helo;		/* EHLO/HELO name */
	enum smtpc_tls_level	 tls;
	int			 tls_on_connect; /* implicit TLS (port 465):
						 * the driver's handshake
						 * precedes the greeting */
	/* AUTH (RFC 4954) after the EHLO that follows TLS, when auth_user
	 * is set: PLAIN (RFC 4616, initial response) when offered, else
	 * LOGIN.  Never over an unencrypted connection.  NULL = no AUTH. */
	const char		*auth_user;
	const char		*auth_pass;
	/* Timeouts in seconds (RFC 5321 4.5.3.2 for the first six). */
	unsigned		 t_greeting;	/* 220 greeting: 300 */
	unsigned		 t_mail;	/* MAIL: 300 */
	unsigned		 t_rcpt;	/* RCPT: 300 */
	unsigned		 t_data_init;	/* DATA's 354: 120 */
	unsigned		 t_data_block;	/* each write of content, and
						 * a BDAT before LAST: 180 */
	unsigned		 t_data_final;	/* final dot, BDAT LAST: 600 */
	unsigned		 t_command;	/* EHLO, HELO, STARTTLS, RSET,
						 * QUIT: 300 */
	unsigned		 t_tls;		/* the TLS handshake: 300 */
};

enum smtpc_status {
	SMTPC_PENDING = 0,	/* no outcome yet */
	SMTPC_SENT,
	SMTPC_TEMPFAIL,
	SMTPC_PERMFAIL,
};

#define SMTPC_REASON_MAX	SMTPC_SUMMARY_MAX

/*
 * Where a session failed, for the driver to classify without reading
 * the reason (MTA-STS's failure codes): set with the outcome where the
 * failure is decided.  SMTPC_FAIL_NONE: not failed, or at a step with
 * no stage of its own (see reason).
 */
enum smtpc_fail_stage {
	SMTPC_FAIL_NONE = 0,
	SMTPC_FAIL_STARTTLS_MISSING,	/* TLS required, STARTTLS not offered
					 * (or HELO: no extensions) */
	SMTPC_FAIL_STARTTLS_REFUSED,	/* STARTTLS got 4xx or 5xx */
	SMTPC_FAIL_TLS_HANDSHAKE,	/* the driver's handshake failed */
	SMTPC_FAIL_CERT,		/* the driver's certificate check
					 * failed after the handshake */
};

struct smtpc_outcome {
	enum smtpc_status	 status;
	enum smtpc_fail_stage	 stage;
	int			 host;		/* the host or connection
						 * failed, not the message */
	int			 code;		/* the server's reply code;
						 * 0 = decided here */
	char			 enh[16];	/* always set: the reply's, or
						 * one of its class */
	/* The server's reply in one line ("550 5.1.1 no such user"), or
	 * why it was decided here ("no STARTTLS offered"). */
	char			 reason[SMTPC_REASON_MAX];
};

/* One recipient: the driver fills the first three fields. */
struct smtpc_rcpt {
	const char		*addr;		/* without <> */
	unsigned		 notify;	/* DSN_NOTIFY_* bits, 0 = none */
	const char		*orcpt;		/* "addr-type;xtext", NULL or
						 * "" = none */
	struct smtpc_outcome	 out;		/* the session's */
	int			 accepted;	/* the session's: RCPT got 2xx */
};

/* One message: the driver fills all but the last fields. */
struct smtpc_msg {
	const char		*sender;	/* without <>; "" = <> */
	uint64_t		 size;		/* octets of the content */
	int			 eightbit;	/* content has 8-bit octets */
	int			 smtputf8;	/* needs SMTPUTF8 (also assumed
						 * for non-ASCII addresses) */
	unsigned		 ret;		/* DSN_RET_*, 0 = none */
	const char		*envid;		/* xtext; NULL or "" = none */
	struct smtpc_rcpt	*rcpts;
	size_t			 nrcpt;
	/* Set by the session. */
	int			 unannounced_8bit; /* 8-bit content sent to a
						 * server without 8BITMIME
						 * (for a log line) */
	int			 dsn_passed;	/* DSN parameters were sent */
	int			 chunked;	/* sent with BDAT */
};

enum smtpc_state {
	SMTPC_INIT = 0,		/* not connected */
	SMTPC_GREETING,		/* waiting for 220 */
	SMTPC_EHLO,		/* EHLO sent */
	SMTPC_HELO,		/* HELO sent after EHLO was refused */
	SMTPC_STARTTLS,		/* STARTTLS sent */
	SMTPC_TLS,		/* the driver runs the handshake */
	SMTPC_AUTH,		/* AUTH sent, or one of its continuations */
	SMTPC_READY,		/* no message, or the last one is done */
	SMTPC_TRANS,		/* RSET, MAIL, RCPT, DATA replies due */
	SMTPC_CONTENT,		/* the driver sends the content */
	SMTPC_FINAL,		/* the final reply (or BDAT replies) due */
	SMTPC_QUIT,		/* QUIT sent */
	SMTPC_CLOSED,		/* over */
};

enum smtpc_action {
	SMTPC_A_WAIT = 0,	/* send the output, read the next reply
				 * within smtpc_timeout, then smtpc_reply */
	SMTPC_A_STARTTLS,	/* drop every octet read so far (and reset
				 * the reply reader), run the handshake, then
				 * smtpc_tls_done */
	SMTPC_A_READY,		/* send the output; the session is idle:
				 * smtpc_mail or smtpc_quit (the outcomes of
				 * a message given are complete) */
	SMTPC_A_CONTENT,	/* send the output, then the next piece of
				 * the content with smtpc_content */
	SMTPC_A_CLOSE,		/* send the output (if the connection still
				 * works), then close; c->fail says why when
				 * it failed */
};

/* The commands whose replies can be due, for smtpc_timeout and logs. */
enum smtpc_cmd {
	SMTPC_CMD_NONE = 0,
	SMTPC_CMD_GREETING,
	SMTPC_CMD_EHLO,
	SMTPC_CMD_HELO,
	SMTPC_CMD_STARTTLS,
	SMTPC_CMD_AUTH,		/* AUTH and each continuation line */
	SMTPC_CMD_RSET,
	SMTPC_CMD_MAIL,
	SMTPC_CMD_RCPT,
	SMTPC_CMD_DATA,
	SMTPC_CMD_DOT,		/* the end of the content after DATA */
	SMTPC_CMD_BDAT,		/* a chunk before the last */
	SMTPC_CMD_BDAT_LAST,
	SMTPC_CMD_QUIT,
};

struct smtpc_pending {
	enum smtpc_cmd	 cmd;
	size_t		 rcpt;		/* SMTPC_CMD_RCPT: its index */
};

/* The streaming dot-stuffer of DATA content. */
struct smtpc_dot {
	int	 bol;		/* at the start of a line */
	int	 cr;		/* the last octet was CR */
};

struct smtpc {
	const struct smtpc_settings *set;
	enum smtpc_state	 state;
	int			 esmtp;		/* EHLO was accepted */
	int			 tls;		/* the connection is encrypted */
	int			 tls_declined;	/* `may` went on in plaintext:
						 * STARTTLS was refused */
	struct smtpc_caps	 caps;		/* of the last EHLO */
	unsigned		 auth_mech;	/* SMTPC_AUTH_PLAIN or _LOGIN */
	int			 auth_step;	/* LOGIN: 334s answered */
	int			 authed;	/* AUTH got 235 */
	char			 greeting[SMTPC_SUMMARY_MAX]; /* the 220 */
	struct smtpc_outcome	 fail;		/* why the session failed */

	/* The message under way. */
	struct smtpc_msg	*msg;
	int			 need_rset;	/* a transaction is left open */
	int			 mail_ok;	/* MAIL got 2xx */
	size_t			 naccepted;
	size_t			 next_rcpt;	/* without PIPELINING */
	int			 data_sent;	/* DATA or the first BDAT */
	int			 bdat_failed;	/* a BDAT before LAST failed */
	struct smtpc_outcome	 bdat_fail;
	struct smtpc_dot	 dot;
	uint64_t		 content_sent;	/* octets of content given */

	/* Replies due, in the order of the commands. */
	struct smtpc_pending	*pend;
	size_t			 npend, pend_head, pend_cap;
};

/* Defaults of RFC 5321 4.5.3.2, level `may`; helo must be set. */
void smtpc_settings_default(struct smtpc_settings *set);

/* set must outlive the session. */
void smtpc_init(struct smtpc *c, const struct smtpc_settings *set);
void smtpc_free(struct smtpc *c);

/* The TCP connection is up (and, with tls_on_connect, the handshake
 * done): SMTPC_A_WAIT for the greeting. */
enum smtpc_action smtpc_connected(struct smtpc *c, struct buf *out);

/* A whole reply from the server, as smtpc_rparser_feed gave it. */
enum smtpc_action smtpc_reply(struct smtpc *c, const struct smtpc_reply *r,
    struct buf *out);

/*
 * The reply reader failed (reason: its error), or the connection failed
 * or timed out (reason says which, e.g. "timeout", "connection reset by
 * peer"): the session ends, every recipient without an outcome fails
 * temporarily ("host"), SMTPC_A_CLOSE.  protocol asks for QUIT first.
 */
enum smtpc_action smtpc_abort(struct smtpc *c, const char *reason,
    int protocol, struct buf *out);

/*
 * The handshake after SMTPC_A_STARTTLS ended: fail SMTPC_FAIL_NONE when
 * it succeeded, else SMTPC_FAIL_TLS_HANDSHAKE or SMTPC_FAIL_CERT with
 * reason ("handshake failed: ...", "untrusted chain", "name mismatch:
 * ..."), which c->fail.stage then says.  Success forgets every
 * capability and sends EHLO again.  Failure ends the session
 * (SMTPC_A_CLOSE, temporary, "host"); at level `may` the driver may
 * connect again in plaintext (level none for that attempt).
 */
enum smtpc_action smtpc_tls_done(struct smtpc *c, enum smtpc_fail_stage fail,
    const char *reason, struct buf *out);

/*
 * A message for the idle session (after SMTPC_A_READY).  Outcomes are
 * cleared, then what can be decided before MAIL is (SIZE over the
 * server's limit: 5.3.4; SMTPUTF8 needed but not offered: 5.6.7, each
 * for every recipient, and SMTPC_A_READY at once).  Else the commands go
 * out: SMTPC_A_WAIT, or with PIPELINING and CHUNKING SMTPC_A_CONTENT (the
 * first chunk joins the commands, before any reply; RFC 3030 4.2).  msg
 * must stay until the session is READY again.
 */
enum smtpc_action smtpc_mail(struct smtpc *c, struct smtpc_msg *msg,
    struct buf *out);

/*
 * The next piece of the content after SMTPC_A_CONTENT (len may be 0;
 * last marks the end).  Over DATA it is dot-stuffed into out and the
 * end marker added after the last; with CHUNKING each piece becomes one
 * BDAT chunk (the last one BDAT LAST).  SMTPC_A_CONTENT for more,
 * SMTPC_A_WAIT after the last (or without PIPELINING after each BDAT).
 * While chunks are sent, replies to MAIL, RCPT and earlier chunks may
 * come: give them to smtpc_reply, whose action replaces the current one
 * (SMTPC_A_WAIT: no more content, as when every recipient was refused or
 * a chunk was).
 */
enum smtpc_action smtpc_content(struct smtpc *c, const void *data,
    size_t len, int last, struct buf *out);

/* Ends the idle session politely: QUIT, SMTPC_A_WAIT, then the reply
 * gives SMTPC_A_CLOSE. */
enum smtpc_action smtpc_quit(struct smtpc *c, struct buf *out);

/* The command whose reply is due next (SMTPC_CMD_NONE when none). */
enum smtpc_cmd smtpc_waiting_for(const struct smtpc *c);
/* Seconds the current wait may last: the reply due, the content writes,
 * or the handshake. */
unsigned smtpc_timeout(const struct smtpc *c);

const char *smtpc_state_name(enum smtpc_state st);
const char *smtpc_cmd_name(enum smtpc_cmd cmd);
const char *smtpc_status_name(enum smtpc_status st);

/*
 * DATA dot-stuffing, streaming: every line of the content that starts
 * with '.' gets another '.', whatever the pieces (a CRLF or a dot may
 * sit across two calls).  smtpc_dot_end adds the end marker, with a CRLF
 * first when the content did not end in one.
 */
void smtpc_dot_init(struct smtpc_dot *d);
void smtpc_dot_stuff(struct smtpc_dot *d, const void *data, size_t len,
    struct buf *out);
void smtpc_dot_end(struct smtpc_dot *d, struct buf *out);

#endif
