/*
 * smtp_reply.c - the one table of SMTP replies, and their output.
 *
 * Each row is {id, code, enhanced code, argument, text}, in the order of
 * enum smtp_reply_id.  The statuses of the queue, of lookup and of the
 * DATA reader are mapped to rows here too, so that changing what a client
 * hears for any of them means changing this file only.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/proto.h"
#include "common/util.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_reply.h"

#define N	SMTP_ARG_NONE
#define S	SMTP_ARG_STR
#define U	SMTP_ARG_U64

static const struct smtp_reply_entry smtp_replies[] = {
	/* Positive. */
	{ SMTP_R_GREETING,	220, NULL,    S, "%s ESMTP strictmail" },
	{ SMTP_R_HELO,		250, NULL,    S, "%s" },
	{ SMTP_R_EHLO,		250, NULL,    S, "%s" },
	{ SMTP_R_OK,		250, "2.0.0", N, "Ok" },
	{ SMTP_R_MAIL_OK,	250, "2.1.0", N, "Ok" },
	{ SMTP_R_RCPT_OK,	250, "2.1.5", N, "Ok" },
	{ SMTP_R_CHUNK_OK,	250, "2.0.0", U,
	    "%" PRIu64 " octets received" },
	{ SMTP_R_QUEUED,	250, "2.0.0", S, "Ok: queued as %s" },
	{ SMTP_R_TLS_READY,	220, "2.0.0", N, "Ready to start TLS" },
	{ SMTP_R_BYE,		221, "2.0.0", N, "Bye" },
	{ SMTP_R_VRFY,		252, "2.5.0", N,
	    "Cannot VRFY user, but will accept message and attempt delivery" },
	{ SMTP_R_HELP,		214, "2.0.0", N,
	    "Commands: EHLO HELO MAIL RCPT "
	    "DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS" },
	{ SMTP_R_AUTH_OK,	235, "2.7.0", N, "Authentication successful" },
	/* Intermediate. */
	{ SMTP_R_DATA_GO,	354, NULL,    N,
	    "End data with <CR><LF>.<CR><LF>" },
	{ SMTP_R_AUTH_GO,	334, NULL,    S, "%s" },
	{ SMTP_R_AUTH_USERNAME,	334, NULL,    N, "VXNlcm5hbWU6" },
	{ SMTP_R_AUTH_PASSWORD,	334, NULL,    N, "UGFzc3dvcmQ6" },
	/* Temporary. */
	{ SMTP_R_TIMEOUT,	421, "4.4.2", S, "%s Timeout, closing" },
	{ SMTP_R_DEADLINE,	421, "4.4.2", S,
	    "%s Error: session time limit reached, closing" },
	{ SMTP_R_SHUTDOWN,	421, "4.3.2", S, "%s Service shutting down" },
	{ SMTP_R_TOO_MANY_ERRORS, 421, "4.7.0", S,
	    "%s Error: too many errors" },
	{ SMTP_R_TOO_MANY_CONNS, 421, "4.7.0", N,
	    "Too many connections, try again later" },
	{ SMTP_R_BUSY,		421, "4.3.2", S,
	    "%s Out of resources, try again later" },
	{ SMTP_R_QUEUE_TEMP,	451, "4.3.0", N,
	    "Error: queue file write error, try again later" },
	{ SMTP_R_QUEUE_TIMEOUT,	451, "4.3.0", N,
	    "Error: queue not answering, try again later" },
	{ SMTP_R_LOOKUP_TEMP,	451, "4.3.0", S,
	    "<%s>: Temporary lookup failure, try again later" },
	{ SMTP_R_DATA_WRITE,	451, "4.3.0", N,
	    "Error writing message, try again later" },
	{ SMTP_R_NOSPACE,	452, "4.3.1", N,
	    "Insufficient system storage" },
	{ SMTP_R_TOO_MANY_RCPTS, 452, "4.5.3", N,
	    "Error: too many recipients" },
	{ SMTP_R_TLS_UNAVAILABLE, 454, "4.7.0", N, "TLS not available" },
	{ SMTP_R_AUTH_TOO_MANY,	421, "4.7.0", S,
	    "%s Error: too many authentication failures" },
	{ SMTP_R_AUTH_TEMP,	454, "4.7.0", N,
	    "Temporary authentication failure, try again later" },
	{ SMTP_R_AUTH_LOCKED,	454, "4.7.0", N, "Too many authentication "
	    "failures from your address, try again later" },
	/* Permanent. */
	{ SMTP_R_LINE_TOO_LONG,	500, "5.5.2", N, "Error: line too long" },
	{ SMTP_R_BARE_LF,	500, "5.5.2", N, "Error: bare LF received" },
	{ SMTP_R_NUL_CHAR,	500, "5.5.2", N,
	    "Error: NUL character received" },
	{ SMTP_R_BARE_CR_LF,	500, "5.5.2", N,
	    "Error: bare CR or LF received" },
	{ SMTP_R_UNKNOWN_CMD,	500, "5.5.1", N,
	    "Error: command not recognized" },
	{ SMTP_R_SYNTAX_HELLO,	501, "5.5.4", S, "Syntax: %s hostname" },
	{ SMTP_R_SYNTAX_MAIL,	501, "5.5.4", N,
	    "Syntax: MAIL FROM:<address>" },
	{ SMTP_R_SYNTAX_RCPT,	501, "5.5.4", N, "Syntax: RCPT TO:<address>" },
	{ SMTP_R_SYNTAX_DATA,	501, "5.5.4", N, "Syntax: DATA" },
	{ SMTP_R_SYNTAX_BDAT,	501, "5.5.4", N, "Syntax: BDAT size [LAST]" },
	{ SMTP_R_SYNTAX_STARTTLS, 501, "5.5.4", N, "Syntax: STARTTLS" },
	{ SMTP_R_SYNTAX_RSET,	501, "5.5.4", N, "Syntax: RSET" },
	{ SMTP_R_SYNTAX_VRFY,	501, "5.5.4", N, "Syntax: VRFY address" },
	{ SMTP_R_SYNTAX_PARAMS,	501, "5.5.4", N, "Syntax error in parameters" },
	{ SMTP_R_PARAM_DUP,	501, "5.5.4", S, "Duplicate %s parameter" },
	{ SMTP_R_PARAM_BAD,	501, "5.5.4", S, "Bad %s parameter" },
	{ SMTP_R_SENDER_TOO_LONG, 501, "5.1.7", N, "sender address too long" },
	{ SMTP_R_SENDER_NO_DOMAIN, 501, "5.1.7", N,
	    "sender address must have a domain" },
	{ SMTP_R_SENDER_IDN,	501, "5.1.7", N,
	    "Bad sender address: invalid domain name" },
	{ SMTP_R_SENDER_SYNTAX,	501, "5.1.7", N, "Bad sender address syntax" },
	{ SMTP_R_RCPT_TOO_LONG,	501, "5.1.3", N, "recipient address too long" },
	{ SMTP_R_RCPT_NO_DOMAIN, 501, "5.1.3", N,
	    "recipient address must have a domain" },
	{ SMTP_R_RCPT_IDN,	501, "5.1.3", N,
	    "Bad recipient address: invalid domain name" },
	{ SMTP_R_RCPT_SYNTAX,	501, "5.1.3", N,
	    "Bad recipient address syntax" },
	{ SMTP_R_NEED_HELO,	503, "5.5.1", N,
	    "Error: send HELO/EHLO first" },
	{ SMTP_R_NESTED_MAIL,	503, "5.5.1", N, "Error: nested MAIL command" },
	{ SMTP_R_NEED_MAIL,	503, "5.5.1", N, "Error: need MAIL command" },
	{ SMTP_R_NEED_RCPT,	503, "5.5.1", N, "Error: need RCPT command" },
	{ SMTP_R_RCPT_AFTER_BDAT, 503, "5.5.1", N, "Error: RCPT after BDAT" },
	{ SMTP_R_DATA_AFTER_BDAT, 503, "5.5.1", N, "Error: DATA after BDAT" },
	{ SMTP_R_TLS_ACTIVE,	503, "5.5.1", N, "Error: TLS already active" },
	{ SMTP_R_TLS_IN_MAIL,	503, "5.5.1", N,
	    "Error: MAIL transaction in progress" },
	{ SMTP_R_NEED_STARTTLS,	530, "5.7.0", N,
	    "Must issue a STARTTLS command first" },
	{ SMTP_R_USER_UNKNOWN,	550, "5.1.1", S,
	    "<%s>: Recipient address rejected: User unknown" },
	{ SMTP_R_ALIAS_LOOP,	550, "5.4.6", S,
	    "<%s>: Recipient address rejected: Alias loop" },
	{ SMTP_R_RELAY_DENIED,	550, "5.7.1", S, "<%s>: Relay access denied" },
	{ SMTP_R_DATA_BARE,	550, "5.5.2", N,
	    "Error: bare CR or LF in message, message refused" },
	{ SMTP_R_SIZE_EXCEEDED,	552, "5.3.4", N,
	    "Message size exceeds fixed limit" },
	{ SMTP_R_NEED_SMTPUTF8,	553, "5.6.7", N,
	    "Non-ASCII address requires SMTPUTF8" },
	{ SMTP_R_DATA_NUL,	554, "5.6.0", N,
	    "Error: NUL byte in message, message refused" },
	{ SMTP_R_DATA_LONG,	554, "5.6.0", N,
	    "Error: line too long in message, message refused" },
	{ SMTP_R_DATA_LOOP,	554, "5.4.6", N, "Error: too many Received "
	    "header fields, mail loop, message refused" },
	{ SMTP_R_PARAM_UNKNOWN,	555, "5.5.4", S, "Unsupported option: %.64s" },
	{ SMTP_R_PARAM_NEED_EHLO, 555, "5.5.4", S,
	    "Parameters need EHLO: %.64s" },
	{ SMTP_R_AUTH_CANCEL,	501, "5.0.0", N, "Authentication aborted" },
	{ SMTP_R_AUTH_BASE64,	501, "5.5.2", N, "Cannot decode response" },
	{ SMTP_R_SYNTAX_AUTH,	501, "5.5.4", N,
	    "Syntax: AUTH mechanism [initial-response]" },
	{ SMTP_R_AUTH_UNAVAILABLE, 502, "5.5.1", N,
	    "Error: authentication not enabled" },
	{ SMTP_R_AUTH_TWICE,	503, "5.5.1", N, "Error: already authenticated" },
	{ SMTP_R_AUTH_MECH,	504, "5.5.4", N,
	    "Unrecognized authentication type" },
	{ SMTP_R_AUTH_FAILED,	535, "5.7.8", N,
	    "Error: authentication failed" },
	{ SMTP_R_AUTH_NEED_TLS,	538, "5.7.11", N,
	    "Encryption required for requested authentication mechanism" },
	{ SMTP_R_SENDER_NOT_OWNED, 553, "5.7.1", S,
	    "<%s>: sender not owned by user" },
};

#undef N
#undef S
#undef U

_Static_assert(sizeof(smtp_replies) / sizeof(smtp_replies[0]) == SMTP_R_COUNT,
    "one row per reply id");

const struct smtp_reply_entry *
smtp_reply_entry(enum smtp_reply_id id)
{
	if ((unsigned)id >= SMTP_R_COUNT || smtp_replies[id].id != id)
		fatalx("smtp reply %d is not in the table", (int)id);
	return &smtp_replies[id];
}

enum smtp_reply_class
smtp_reply_class(enum smtp_reply_id id)
{
	return (enum smtp_reply_class)(smtp_reply_entry(id)->code / 100);
}

/* The entry for id, which must take an argument of kind arg. */
static const struct smtp_reply_entry *
smtp_reply_start(struct smtp_reply *r, enum smtp_reply_id id,
    enum smtp_reply_arg arg)
{
	const struct smtp_reply_entry	*e = smtp_reply_entry(id);

	if (e->arg != arg)
		fatalx("smtp reply %d takes argument kind %d, not %d",
		    (int)id, (int)e->arg, (int)arg);
	r->code = e->code;
	(void)strlcpy(r->enh, e->enh ? e->enh : "", sizeof(r->enh));
	return e;
}

/* The one place a format from the table is expanded; its conversions
 * match e->arg (the unit test checks every row). */
static void
smtp_reply_expand(struct smtp_reply *r, const struct smtp_reply_entry *e,
    ...)
{
	va_list	ap;

	va_start(ap, e);
	if (vsnprintf(r->text, sizeof(r->text), e->fmt, ap) < 0)
		r->text[0] = '\0';
	va_end(ap);
}

void
smtp_reply_set(struct smtp_reply *r, enum smtp_reply_id id)
{
	const struct smtp_reply_entry	*e;

	e = smtp_reply_start(r, id, SMTP_ARG_NONE);
	(void)strlcpy(r->text, e->fmt, sizeof(r->text));
}

void
smtp_reply_set_str(struct smtp_reply *r, enum smtp_reply_id id,
    const char *arg)
{
	if (smtp_reply_entry(id)->arg == SMTP_ARG_NONE) {
		smtp_reply_set(r, id);
		return;
	}
	smtp_reply_expand(r, smtp_reply_start(r, id, SMTP_ARG_STR), arg);
}

void
smtp_reply_set_u64(struct smtp_reply *r, enum smtp_reply_id id,
    uint64_t arg)
{
	smtp_reply_expand(r, smtp_reply_start(r, id, SMTP_ARG_U64), arg);
}

void
smtp_reply_append(struct smtp_reply *r, const char *fmt, ...)
{
	va_list	ap;
	size_t	len = strlen(r->text);

	va_start(ap, fmt);
	if (vsnprintf(r->text + len, sizeof(r->text) - len, fmt, ap) < 0)
		r->text[len] = '\0';
	va_end(ap);
}

/* ---- statuses to replies ---- */

enum smtp_reply_id
smtp_reply_qfail(int reason)
{
	switch (reason) {
	case QFAIL_TEMP:	return SMTP_R_QUEUE_TEMP;
	case QFAIL_NOSPACE:	return SMTP_R_NOSPACE;
	case QFAIL_SHUTDOWN:	return SMTP_R_SHUTDOWN;
	}
	return SMTP_R_COUNT;
}

enum smtp_reply_id
smtp_reply_lookup(int result)
{
	switch (result) {
	case LOOKUP_FOUND:	return SMTP_R_RCPT_OK;
	case LOOKUP_NOTFOUND:	return SMTP_R_USER_UNKNOWN;
	case LOOKUP_TEMPFAIL:	return SMTP_R_LOOKUP_TEMP;
	case LOOKUP_LOOP:	return SMTP_R_ALIAS_LOOP;
	}
	return SMTP_R_COUNT;
}

enum smtp_data_status
smtp_reply_data_status(int fl, int write_error)
{
	if (fl & DATAREAD_BARE)
		return SMTP_DATA_BARE;
	if (fl & DATAREAD_NUL)
		return SMTP_DATA_NUL;
	if (fl & DATAREAD_LONG)
		return SMTP_DATA_LONG;
	if (fl & DATAREAD_LOOP)
		return SMTP_DATA_LOOP;
	if (fl & DATAREAD_SIZE)
		return SMTP_DATA_SIZE;
	if (write_error)
		return SMTP_DATA_WRITE;
	return SMTP_DATA_OK;
}

enum smtp_reply_id
smtp_reply_data(enum smtp_data_status st)
{
	switch (st) {
	case SMTP_DATA_OK:	return SMTP_R_COUNT;	/* the queue answers */
	case SMTP_DATA_BARE:	return SMTP_R_DATA_BARE;
	case SMTP_DATA_NUL:	return SMTP_R_DATA_NUL;
	case SMTP_DATA_LONG:	return SMTP_R_DATA_LONG;
	case SMTP_DATA_LOOP:	return SMTP_R_DATA_LOOP;
	case SMTP_DATA_SIZE:	return SMTP_R_SIZE_EXCEEDED;
	case SMTP_DATA_WRITE:	return SMTP_R_DATA_WRITE;
	}
	return SMTP_R_COUNT;
}

enum smtp_reply_id
smtp_reply_path(enum smtp_path_status st, int sender)
{
	switch (st) {
	case PATH_OK:
		return sender ? SMTP_R_SENDER_NO_DOMAIN : SMTP_R_RCPT_NO_DOMAIN;
	case PATH_SYNTAX:
		return sender ? SMTP_R_SENDER_SYNTAX : SMTP_R_RCPT_SYNTAX;
	case PATH_TOOLONG:
		return sender ? SMTP_R_SENDER_TOO_LONG : SMTP_R_RCPT_TOO_LONG;
	case PATH_UTF8:
		return SMTP_R_NEED_SMTPUTF8;
	case PATH_IDN:
		return sender ? SMTP_R_SENDER_IDN : SMTP_R_RCPT_IDN;
	}
	return SMTP_R_COUNT;
}

/* ---- output ---- */

void
smtp_reply_format(const struct smtp_reply *r, struct buf *out)
{
	const char	*line = r->text, *nl;
	size_t		 n;

	for (;;) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		buf_printf(out, "%03d%c", r->code, nl ? '-' : ' ');
		if (r->enh[0] != '\0')
			buf_printf(out, "%s ", r->enh);
		buf_add(out, line, n);
		buf_add(out, "\r\n", 2);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
}
