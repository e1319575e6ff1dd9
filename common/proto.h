/*
 * proto.h - every message type that strictmail processes exchange, with its
 * payload.  Fields are listed in order; "str" and "u32" as in ipc.h.
 * The session field of the header carries the smtpd session id, so replies
 * find their session; a session has at most one request outstanding per
 * peer.
 */
#ifndef SM_PROTO_H
#define SM_PROTO_H

#include <stddef.h>

enum msg_type {
	MSG_NONE = 0,

	/* smtpd -> queue */
	MSG_Q_OPEN = 100,	/* (empty): open a new message; at most one
				 * open per session, max-sessions in all;
				 * sent at the first RCPT, before DATA */
	MSG_Q_COMMIT,		/* str qid, envelope (see below); sent after
				 * the pipe was closed */
	MSG_Q_ABORT,		/* str qid, u32 unused: discard an opened,
				 * uncommitted message; unused 1: opened
				 * ahead and never used (logged at debug) */

	/* queue -> smtpd */
	MSG_Q_OPEN_OK = 150,	/* str qid; fd = the write end of a pipe
				 * (non-blocking) into which the receiver
				 * writes the message; the queue writes the
				 * file, and the size is what came through */
	MSG_Q_OPEN_FAIL,	/* u32 reason (enum queue_fail) */
	MSG_Q_COMMIT_OK,	/* str qid */
	MSG_Q_COMMIT_FAIL,	/* str qid, u32 reason (enum queue_fail) */
	MSG_Q_SPACE,		/* u32 low: 1 below min-free-space, 0 above (session 0) */

	/* smtpd -> lookup */
	MSG_L_RCPT = 200,	/* str local part (as given), str domain (lower case) */
	/* parent -> lookup (session: the parent's request id) */
	MSG_L_EXPAND = 210,	/* str address (lower-case domain): expand a
				 * local or virtual recipient for delivery */
	MSG_L_REOPEN,		/* (empty): open the maps again */
	/* smtpd -> lookup (submission AUTH) */
	MSG_L_AUTH = 220,	/* str user, str password, str client address:
				 * check against the credentials map; the
				 * lookup process counts failures per client
				 * address (slow-down, lock-out) */
	/* smtpd, parent -> lookup */
	MSG_L_SENDER,		/* str user (login name or address), str
				 * envelope sender ("" = null sender): may
				 * user send as this sender?  With a
				 * sender-login-map: only senders it lists
				 * for user; without: user's own address */
	/* lookup -> smtpd */
	MSG_L_RCPT_RESULT = 250, /* u32 result (enum lookup_result) */
	/* lookup -> parent */
	MSG_L_EXPAND_RESULT = 260, /* u32 status (enum expand_status), str
				 * reason, u32 n, n x { u32 kind (enum
				 * expand_kind), str user, str value, u32
				 * flags (EXPAND_F_*) } (lookup/expand.h) */
	/* lookup -> smtpd */
	MSG_L_AUTH_RESULT = 270, /* u32 result (enum lookup_auth), u32 the
				 * failures of this client address so far */
	/* lookup -> smtpd, parent */
	MSG_L_SENDER_RESULT,	/* u32 0 allowed, 1 refused, 2 temporary
				 * failure (the map could not be read) */

	/* parent -> smtpd */
	MSG_P_TLS_CONF = 300,	/* data certificate chain (PEM), data key (PEM):
				 * at startup and on every reload (SIGHUP) */

	/* parent -> smtpd, queue */
	MSG_P_SETTINGS = 310,	/* the settings that reload (config.h), as
				 * config_settings_put writes them: on a
				 * reload (SIGHUP) that read a good file;
				 * new sessions take them, running ones keep
				 * theirs */

	/* queue -> delivery (session 0) */
	MSG_D_JOB = 400,	/* u64 job, str qid, str sender ("<>" or
				 * "<a@b>"), str domain (lower case), u64
				 * size, str digest, u32 flags (DJOB_F_*),
				 * str ret ("", FULL, HDRS), str envid (xtext
				 * or ""), u32 n, n x { u32 index (the
				 * rcpt's position in the envelope), str addr
				 * ("<a@b>"), u32 notify (DSN_NOTIFY_*), str
				 * orcpt ("" = none) }, u64 arrival (seconds
				 * since the epoch); fd: the content,
				 * read-only */
	MSG_D_FLUSH_HOLDS,	/* reserved */

	/* queue -> parent (session 0): local and virtual domains */
	MSG_LD_JOB = 420,	/* as MSG_D_JOB, fd: the content, read-only */
	/* parent -> queue (session 0) */
	MSG_LD_RESULT = 470,	/* as MSG_D_RESULT (relay "local", "mbox",
				 * "maildir", "pipe", "file" or "lmtp") */

	/* delivery -> queue (session 0) */
	MSG_D_RESULT = 450,	/* u64 job, u32 n, n x { u32 index, u32
				 * status (DRES_*), u32 code (SMTP code or
				 * 0), str enh, str relay ("mx[addr]:port" or
				 * ""), str text (one line) }, u32 flags
				 * (DRESF_*): exactly one per MSG_D_JOB,
				 * every recipient of it */

	/* queue, lookup, smtpd, delivery -> parent */
	/* queue -> parent (maildrop pickup; session: the queue's id) */
	MSG_P_WHO = 360,	/* u32 uid (the maildrop file's owner), str
				 * requested sender (-f; "" none, "<>" null):
				 * who is this and may they use the sender? */
	/* parent -> queue */
	MSG_P_WHO_RESULT = 370,	/* u32 status (0 ok, 1 no such user, 2 sender
				 * refused, 3 temporary failure), str user
				 * name, str full name (GECOS up to ',') */
	MSG_P_READY = 350,	/* (empty), once: startup is done and requests
				 * are served (queue: spool recovered; smtpd:
				 * accepting connections) */

	/*
	 * The control process (strictmailctl(8)).  The session field holds
	 * the control process's request id: several requests may be in
	 * flight; each gets its replies, in order, under its own id.
	 */
	/* control -> queue */
	MSG_C_LIST = 500,	/* str user: "" = every message, else only
				 * the messages this local user sent (see
				 * queue_ctl.h) -> MSG_C_ITEM..., MSG_C_END;
				 * while delivery is paused a MSG_C_STAT
				 * "delivery" "paused" comes first */
	MSG_C_SHOW,		/* str qid, str user (as MSG_C_LIST) -> one
				 * MSG_C_ITEM with the facts, or MSG_C_END
				 * with count 0 */
	MSG_C_FLUSH,		/* (empty) -> MSG_C_END (recipients made due)
				 * or MSG_C_ERROR */
	/* control -> parent */
	MSG_C_RELOAD,		/* (empty): what SIGHUP does -> MSG_C_END
				 * (u32 0 done, 1 failed) */
	MSG_C_USER,		/* u32 uid -> MSG_C_USER_NAME */
	/* control -> delivery */
	MSG_C_STS,		/* str verb ("list", "show", "refresh",
				 * "flush", "check"), str domain ("" = none)
				 * -> MSG_C_TEXT..., MSG_C_END (u32 0 done,
				 * 1 failed) */

	/* queue -> control */
	MSG_C_ITEM = 550,	/* str qid, u64 size, u64 arrival, str sender
				 * ("" = null sender), u32 n, n x (str addr,
				 * str state, str last error), u32 nfacts,
				 * nfacts x (str key, str value): facts only
				 * for MSG_C_SHOW, 0 for MSG_C_LIST */
	MSG_C_END,		/* u32 count: the end of a reply */
	/* parent -> control */
	MSG_C_USER_NAME,	/* str name of the uid ("" = no such user) */
	/* queue, parent -> control */
	MSG_C_ERROR,		/* str text: the request failed */
	/* delivery -> control */
	MSG_C_TEXT,		/* str line: one line of an sts answer */

	/* Operator commands (strictmailctl queue delete|hold|release,
	 * status).  control -> queue: */
	MSG_C_DELETE = 510,	/* str qid, str operator ("uid N (name)", for
				 * the log) -> MSG_C_END (0) or MSG_C_ERROR */
	MSG_C_HOLD,		/* as MSG_C_DELETE */
	MSG_C_RELEASE,		/* as MSG_C_DELETE */
	MSG_C_STATUS,		/* (empty) -> MSG_C_STAT..., MSG_C_END; also
				 * control -> parent and parent -> smtpd */
	/* control -> parent */
	MSG_C_ADMIN,		/* u32 uid -> MSG_C_ADMIN_RESULT */

	/* Pause and resume of delivery (strictmailctl pause|resume
	 * delivery).  control -> queue: */
	MSG_C_PAUSE = 520,	/* str operator -> MSG_C_STAT "delivery"
				 * (now), MSG_C_STAT "was" (before), MSG_C_END
				 * (0) or MSG_C_ERROR */
	MSG_C_RESUME,		/* as MSG_C_PAUSE */

	/* queue, parent, smtpd -> control (smtpd's through the parent) */
	MSG_C_STAT = 570,	/* str key, str value: one line of status */
	/* parent -> control */
	MSG_C_ADMIN_RESULT,	/* u32 1 if the uid is root or in admin-group,
				 * str user name ("" = none), str admin-group
				 * ("" = none configured) */

	/*
	 * Delivery and its policy fetcher (sts/sts_fetchd.h).  The session
	 * field is 0; requests carry delivery's id for the fetch.
	 */
	/* delivery -> sts-fetch */
	MSG_SF_FETCH = 600,	/* u32 id, str domain (A-labels), u32 time-out
				 * in seconds, data addresses (n x struct
				 * dns_addr, 1 to 16) */
	MSG_SF_CANCEL,		/* u32 id: drop it, no answer */
	/* sts-fetch -> delivery */
	MSG_SF_RESULT = 650,	/* u32 id, u32 ok, u32 HTTP status, str error,
				 * str content type, str certificate, str
				 * address, data body (ok: 1 to 65536 bytes,
				 * else empty): struct sts_fetch_result */
	MSG_SF_FAIL,		/* str reason: the fetcher could not start
				 * (libcurl) and answers nothing */
};

/*
 * MSG_Q_COMMIT envelope, in order:
 *   str qid
 *   str sender        (without angle brackets; "" is the null sender)
 *   str helo          (as the client gave it)
 *   str client        (numeric address of the client)
 *   str protocol      ("SMTP", "ESMTP", "ESMTPS", later "ESMTPSA")
 *   str tls           ("" without TLS, else "version=V cipher=C")
 *   u64 size          (octets written into the pipe)
 *   str envid         (DSN ENVID as given, xtext; "" = none)
 *   u32 ret           (DSN RET: 0 = none, or DSN_RET_*)
 *   u32 smtputf8      (1 if MAIL had SMTPUTF8, else 0)
 *   u32 body          (MAIL BODY=: 0 = none, or BODY_*)
 *   u32 nrcpt         (1 .. max-recipients)
 *   nrcpt x {
 *     str rcpt        (without angle brackets)
 *     u32 notify      (DSN NOTIFY: 0 = none, or DSN_NOTIFY_* bits)
 *     str orcpt       (DSN ORCPT "addr-type;xtext" as given; "" = none)
 *   }
 */

/* DSN NOTIFY (RFC 3461 4.1): NEVER alone, or any of the other three. */
#define DSN_NOTIFY_NEVER	0x01
#define DSN_NOTIFY_SUCCESS	0x02
#define DSN_NOTIFY_FAILURE	0x04
#define DSN_NOTIFY_DELAY	0x08
#define DSN_NOTIFY_ALL		0x0f

/* DSN RET (RFC 3461 4.3). */
#define DSN_RET_FULL		1
#define DSN_RET_HDRS		2

/* MAIL BODY= (RFC 6152). */
#define BODY_7BIT		1
#define BODY_8BITMIME		2

/* MSG_D_JOB flags. */
#define DJOB_F_8BIT		0x01	/* BODY=8BITMIME */
#define DJOB_F_SMTPUTF8		0x02

/* MSG_D_RESULT status of one recipient. */
enum delivery_status {
	DRES_SENT = 0,
	DRES_DEFERRED,
	DRES_BOUNCED,
	DRES_HOLD,		/* the content's digest did not match */
};

/* MSG_D_RESULT flags of the whole job. */
#define DRESF_HOST		0x01	/* every recipient was deferred because
					 * no host of the destination took the
					 * session: connection refused or timed
					 * out, greeting, HELO, the TLS level,
					 * 421, a lost connection (never a
					 * recipient's own 4xx); the queue
					 * backs the destination off */

enum queue_fail {
	QFAIL_TEMP = 1,		/* write, sync or rename error: 451 4.3.0 */
	QFAIL_NOSPACE,		/* below min-free-space: 452 4.3.1 */
	QFAIL_SHUTDOWN,		/* queue is shutting down: 421 4.3.2 */
};

enum lookup_result {
	LOOKUP_FOUND = 1,	/* a local mailbox exists */
	LOOKUP_NOTFOUND,	/* 550 5.1.1 */
	LOOKUP_TEMPFAIL,	/* 451 4.3.0 */
	LOOKUP_LOOP,		/* an alias loop: 550 5.4.6 */
};

const char *proto_msg_name(unsigned type);
/* The DSN_NOTIFY_* bit of the NOTIFY keyword s[0..len) (any case), or 0
 * for another word. */
unsigned proto_notify_bit(const char *s, size_t len);

#endif
