/*
 * smtp_reply.h - every fixed reply of the SMTP server, in one table.
 *
 * A reply is named by an SMTP_R_* identifier; the table in smtp_reply.c
 * holds its code, its enhanced status code (RFC 3463, announced with
 * ENHANCEDSTATUSCODES, RFC 2034) and its text, and nothing outside that
 * table spells any of them.  The code's first digit classifies the reply:
 * positive (2xx), intermediate (3xx), temporary (4xx) or permanent (5xx).
 * The greeting, the HELO/EHLO reply and the 3xx replies carry no enhanced
 * code.  The statuses of other modules (queue failures, lookup results,
 * the verdict on a message that was read) become replies through the
 * mapping functions below, so each is classified in this one place.
 * Replies that echo the client (an address, a parameter keyword) do so
 * through their entry's argument; the EHLO reply appends its extension
 * lines to the entry's first line.
 *
 * A text takes at most one argument, of the kind its entry declares:
 * SMTP_ARG_NONE (smtp_reply_set), SMTP_ARG_STR (smtp_reply_set_str: an
 * address, a host name, a queue id or a parameter keyword, at most
 * SMTP_REPLY_ARG_MAX octets) or SMTP_ARG_U64 (smtp_reply_set_u64).  The
 * unit test checks every format against its declared kind, and that every
 * reply line stays within 512 octets (RFC 5321 4.5.3.1.5) with the longest
 * argument.
 */
#ifndef SM_SMTP_REPLY_H
#define SM_SMTP_REPLY_H

#include <stdint.h>

#include "common/log.h"
#include "smtpd/smtp_parse.h"

struct buf;

#define SMTP_REPLY_MAX		1024
#define SMTP_REPLY_ARG_MAX	256	/* octets of a string argument */
#define SMTP_REPLY_LINE_MAX	512	/* a reply line with its CRLF */

/* One reply; text may hold several lines separated by '\n'. */
struct smtp_reply {
	int	code;
	char	enh[16];		/* "" = no enhanced status code */
	char	text[SMTP_REPLY_MAX];
};

enum smtp_reply_id {
	/* Positive (2xx). */
	SMTP_R_GREETING = 0,	/* host name */
	SMTP_R_HELO,		/* host name */
	SMTP_R_EHLO,		/* host name; the extensions are appended */
	SMTP_R_OK,
	SMTP_R_MAIL_OK,
	SMTP_R_RCPT_OK,
	SMTP_R_CHUNK_OK,	/* octets of the chunk (u64) */
	SMTP_R_QUEUED,		/* queue id */
	SMTP_R_TLS_READY,
	SMTP_R_BYE,
	SMTP_R_VRFY,
	SMTP_R_HELP,
	SMTP_R_AUTH_OK,
	/* Intermediate (3xx). */
	SMTP_R_DATA_GO,
	SMTP_R_AUTH_GO,		/* the challenge, "" (AUTH PLAIN) */
	SMTP_R_AUTH_USERNAME,	/* AUTH LOGIN */
	SMTP_R_AUTH_PASSWORD,
	/* Temporary (4xx). */
	SMTP_R_TIMEOUT,		/* host name */
	SMTP_R_DEADLINE,	/* host name */
	SMTP_R_SHUTDOWN,	/* host name */
	SMTP_R_TOO_MANY_ERRORS,	/* host name */
	SMTP_R_TOO_MANY_CONNS,
	SMTP_R_BUSY,		/* host name */
	SMTP_R_QUEUE_TEMP,
	SMTP_R_QUEUE_TIMEOUT,
	SMTP_R_LOOKUP_TEMP,	/* address */
	SMTP_R_DATA_WRITE,
	SMTP_R_NOSPACE,
	SMTP_R_TOO_MANY_RCPTS,
	SMTP_R_TLS_UNAVAILABLE,
	SMTP_R_AUTH_TOO_MANY,	/* host name */
	SMTP_R_AUTH_TEMP,
	SMTP_R_AUTH_LOCKED,
	/* Permanent (5xx). */
	SMTP_R_LINE_TOO_LONG,
	SMTP_R_BARE_LF,
	SMTP_R_NUL_CHAR,
	SMTP_R_BARE_CR_LF,
	SMTP_R_UNKNOWN_CMD,
	SMTP_R_SYNTAX_HELLO,	/* "EHLO" or "HELO" */
	SMTP_R_SYNTAX_MAIL,
	SMTP_R_SYNTAX_RCPT,
	SMTP_R_SYNTAX_DATA,
	SMTP_R_SYNTAX_BDAT,
	SMTP_R_SYNTAX_STARTTLS,
	SMTP_R_SYNTAX_RSET,
	SMTP_R_SYNTAX_VRFY,
	SMTP_R_SYNTAX_PARAMS,
	SMTP_R_PARAM_DUP,	/* parameter keyword */
	SMTP_R_PARAM_BAD,	/* parameter keyword */
	SMTP_R_SENDER_TOO_LONG,
	SMTP_R_SENDER_NO_DOMAIN,
	SMTP_R_SENDER_IDN,
	SMTP_R_SENDER_SYNTAX,
	SMTP_R_RCPT_TOO_LONG,
	SMTP_R_RCPT_NO_DOMAIN,
	SMTP_R_RCPT_IDN,
	SMTP_R_RCPT_SYNTAX,
	SMTP_R_NEED_HELO,
	SMTP_R_NESTED_MAIL,
	SMTP_R_NEED_MAIL,
	SMTP_R_NEED_RCPT,
	SMTP_R_RCPT_AFTER_BDAT,
	SMTP_R_DATA_AFTER_BDAT,
	SMTP_R_TLS_ACTIVE,
	SMTP_R_TLS_IN_MAIL,
	SMTP_R_NEED_STARTTLS,
	SMTP_R_USER_UNKNOWN,	/* address */
	SMTP_R_ALIAS_LOOP,	/* address */
	SMTP_R_RELAY_DENIED,	/* address */
	SMTP_R_DATA_BARE,
	SMTP_R_SIZE_EXCEEDED,
	SMTP_R_NEED_SMTPUTF8,
	SMTP_R_DATA_NUL,
	SMTP_R_DATA_LONG,
	SMTP_R_DATA_LOOP,
	SMTP_R_PARAM_UNKNOWN,	/* parameter keyword */
	SMTP_R_PARAM_NEED_EHLO,	/* parameter keyword */
	SMTP_R_AUTH_CANCEL,
	SMTP_R_AUTH_BASE64,
	SMTP_R_SYNTAX_AUTH,
	SMTP_R_AUTH_UNAVAILABLE,
	SMTP_R_AUTH_TWICE,
	SMTP_R_AUTH_MECH,
	SMTP_R_AUTH_FAILED,
	SMTP_R_AUTH_NEED_TLS,
	SMTP_R_SENDER_NOT_OWNED, /* address */
	SMTP_R_COUNT		/* not a reply: the number of them, or "none" */
};

enum smtp_reply_arg {
	SMTP_ARG_NONE = 0,
	SMTP_ARG_STR,		/* one %s or %.Ns */
	SMTP_ARG_U64,		/* one %" PRIu64 " */
};

enum smtp_reply_class {
	SMTP_RC_POSITIVE = 2,
	SMTP_RC_INTERMEDIATE = 3,
	SMTP_RC_TEMPORARY = 4,
	SMTP_RC_PERMANENT = 5,
};

struct smtp_reply_entry {
	enum smtp_reply_id	 id;
	int			 code;
	const char		*enh;	/* NULL = none */
	enum smtp_reply_arg	 arg;
	const char		*fmt;
};

/* How reading the message ended (the driver's verdict, worst first). */
enum smtp_data_status {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE,		/* bare CR or LF: 550 5.5.2 */
	SMTP_DATA_NUL,		/* NUL byte: 554 5.6.0 */
	SMTP_DATA_LONG,		/* a line over max-line-length: 554 5.6.0 */
	SMTP_DATA_LOOP,		/* max-received-headers reached: 554 5.4.6 */
	SMTP_DATA_SIZE,		/* over the size limit: 552 5.3.4 */
	SMTP_DATA_WRITE,	/* write error on the file: 451 4.3.0 */
};

/* One entry; dies on an id outside the table. */
const struct smtp_reply_entry *smtp_reply_entry(enum smtp_reply_id id);
enum smtp_reply_class smtp_reply_class(enum smtp_reply_id id);

/* Fill r from the table; each dies if the entry's argument differs. */
void smtp_reply_set(struct smtp_reply *r, enum smtp_reply_id id);
/* For SMTP_ARG_STR, and for SMTP_ARG_NONE (then arg is not used). */
void smtp_reply_set_str(struct smtp_reply *r, enum smtp_reply_id id,
    const char *arg);
void smtp_reply_set_u64(struct smtp_reply *r, enum smtp_reply_id id,
    uint64_t arg);
/* Adds to the text (further lines of a multi-line reply such as EHLO). */
void smtp_reply_append(struct smtp_reply *r, const char *fmt, ...)
    SM_PRINTF(2, 3);

/* Statuses to replies; SMTP_R_COUNT for a value that has none. */
enum smtp_reply_id smtp_reply_qfail(int reason);	/* QFAIL_* */
enum smtp_reply_id smtp_reply_lookup(int result);	/* LOOKUP_* */
enum smtp_reply_id smtp_reply_data(enum smtp_data_status st);
/* The one status of a finished message: the DATA reader's DATAREAD_*
 * flags, worst first, then a write error of the content file. */
enum smtp_data_status smtp_reply_data_status(int dataread_flags,
    int write_error);
/* A path that failed to parse, of the sender (MAIL) or a recipient;
 * PATH_OK stands for a path without the domain it needs. */
enum smtp_reply_id smtp_reply_path(enum smtp_path_status st, int sender);

/* The reply on the wire: "code[-| ][enh ]text\r\n" per line. */
void smtp_reply_format(const struct smtp_reply *r, struct buf *out);

#endif
