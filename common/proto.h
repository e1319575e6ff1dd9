/*
 * proto.h - every message type that strictmail processes exchange, with its
 * payload.  Fields are listed in order; "str" and "u32" as in ipc.h.
 * The session field of the header carries the smtpd session id, so replies
 * find their session; a session has at most one request outstanding per
 * peer.
 */
#ifndef SM_PROTO_H
#define SM_PROTO_H

enum msg_type {
	MSG_NONE = 0,

	/* smtpd -> queue */
	MSG_Q_OPEN = 100,	/* (empty): open a new message file */
	MSG_Q_COMMIT,		/* str qid, envelope (see below) */
	MSG_Q_ABORT,		/* str qid: discard an opened, uncommitted message */

	/* queue -> smtpd */
	MSG_Q_OPEN_OK = 150,	/* str qid; fd = the content file, opened for writing */
	MSG_Q_OPEN_FAIL,	/* u32 reason (enum queue_fail) */
	MSG_Q_COMMIT_OK,	/* str qid */
	MSG_Q_COMMIT_FAIL,	/* str qid, u32 reason (enum queue_fail) */
	MSG_Q_SPACE,		/* u32 low: 1 below min-free-space, 0 above (session 0) */

	/* smtpd -> lookup */
	MSG_L_RCPT = 200,	/* str local part (as given), str domain (lower case) */
	/* lookup -> smtpd */
	MSG_L_RCPT_RESULT = 250, /* u32 result (enum lookup_result) */
};

/*
 * MSG_Q_COMMIT envelope, in order:
 *   str qid
 *   str sender        (without angle brackets; "" is the null sender)
 *   str helo          (as the client gave it)
 *   str client        (numeric address of the client)
 *   str protocol      ("SMTP", "ESMTP", later "ESMTPS", "ESMTPSA")
 *   u64 size          (octets written to the content file)
 *   u32 nrcpt         (1 .. max-recipients)
 *   nrcpt x str rcpt  (without angle brackets)
 */

enum queue_fail {
	QFAIL_TEMP = 1,		/* write, sync or rename error: 451 4.3.0 */
	QFAIL_NOSPACE,		/* below min-free-space: 452 4.3.1 */
	QFAIL_SHUTDOWN,		/* queue is shutting down: 421 4.3.2 */
};

enum lookup_result {
	LOOKUP_FOUND = 1,	/* a local mailbox exists */
	LOOKUP_NOTFOUND,	/* 550 5.1.1 */
	LOOKUP_TEMPFAIL,	/* 451 4.3.0 */
};

const char *proto_msg_name(unsigned type);

#endif
