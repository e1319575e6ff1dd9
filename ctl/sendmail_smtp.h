/*
 * sendmail_smtp.h - the SMTP dialogue of "sendmail -bs" on standard input
 * and output, as a pure state machine: the caller reads a line (its LF or
 * CRLF taken off), hands it over, writes the reply it gets back, and
 * queues a message when asked.  Nothing here does I/O.
 *
 * Commands: HELO/EHLO (needed before MAIL), MAIL FROM (BODY= and SIZE=
 * only), RCPT TO (at most SENDMAIL_SMTP_RCPT_MAX), DATA, RSET, NOOP,
 * VRFY (252), QUIT.  Errors: 500 (unknown command, line too long), 501
 * (bad arguments, bad address), 503 (bad sequence), 552 (too large),
 * 554 (the message refused), 555 (unknown parameter), each with an
 * enhanced status code.  DATA lines are dot-unstuffed and stored with
 * CRLF; a line too long or a message over the size limit is drained to
 * the final dot and then refused.
 */
#ifndef SM_SENDMAIL_SMTP_H
#define SM_SENDMAIL_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define SENDMAIL_SMTP_RCPT_MAX	1000
#define SENDMAIL_SMTP_LINE_MAX	1000	/* a command or data line with
					   its CRLF (RFC 5321 4.5.3.1) */

enum sendmail_smtp_state {
	SENDMAIL_SMTP_START = 0,	/* no HELO yet */
	SENDMAIL_SMTP_READY,		/* HELO done, no transaction */
	SENDMAIL_SMTP_MAIL,		/* MAIL done */
	SENDMAIL_SMTP_RCPT,		/* at least one RCPT */
	SENDMAIL_SMTP_DATA		/* reading the message */
};

enum sendmail_smtp_action {
	SENDMAIL_SMTP_REPLY = 0,	/* write the reply, read on */
	SENDMAIL_SMTP_QUEUE,		/* the final dot: queue the message,
					   then sendmail_smtp_queued */
	SENDMAIL_SMTP_QUIT		/* write the reply and stop */
};

struct sendmail_smtp {
	enum sendmail_smtp_state	 state;
	const char			*hostname;	/* of the greeting */
	uint64_t			 max_size;	/* message octets */
	char				*sender;	/* MAIL: "" null sender */
	char				**rcpts;
	size_t				 nrcpts;
	int				 eightbit;	/* BODY=8BITMIME */
	struct buf			 data;		/* CRLF lines, unstuffed */
	int				 bad;		/* data: a line too long */
};

void sendmail_smtp_init(struct sendmail_smtp *s, const char *hostname,
    uint64_t max_size);
void sendmail_smtp_free(struct sendmail_smtp *s);

/* The 220 greeting into reply. */
void sendmail_smtp_greeting(const struct sendmail_smtp *s, struct buf *reply);

/*
 * One line (len octets, without its line end; toolong: the line was
 * longer and cut).  Appends the reply (CRLF lines; nothing within DATA
 * until the final dot) and returns what to do.  After
 * SENDMAIL_SMTP_QUEUE the message is s->data for s->sender and s->rcpts.
 */
enum sendmail_smtp_action sendmail_smtp_line(struct sendmail_smtp *s,
    const char *line, size_t len, int toolong, struct buf *reply);

/*
 * The result of queueing: code 0 (250), or a sysexits code with the
 * reason (EX_TEMPFAIL: 451, else 554).  Ends the transaction.
 */
void sendmail_smtp_queued(struct sendmail_smtp *s, int code,
    const char *reason, const char *where, struct buf *reply);

#endif
