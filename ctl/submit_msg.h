/*
 * submit_msg.h - a message submitted through sendmail(8), canonicalized.
 * Pure: the input is a buffer, the output a buffer; no I/O, no clock
 * (the time and the unique parts are passed in).
 *
 * Lines in: LF or CRLF (mixed is fine); out: CRLF on every line, the
 * last one too, even when the input's last line had no newline.  A bare
 * CR (one not directly before LF) and a NUL byte are refused, as are
 * lines over SUBMIT_LINE_MAX bytes (without the line end) and a
 * canonical message over the size limit.  Without -i, a line holding a
 * single "." ends the message (the rest is not read); with -i it is an
 * ordinary line.  No dot-stuffing is done or undone.
 *
 * The header section is the lines before the first empty line.  A line
 * that is neither "name: value" (name of printable ASCII but ':',
 * optional spaces before the colon) nor a continuation (leading space or
 * tab) after a field ends the header section; an empty line is then put
 * before it, so the output always separates header and body.  Folded
 * fields are kept as they are.  Bcc fields are always removed from the
 * output.  With -t the recipients are read from To, Cc and Bcc (RFC 5322
 * address lists: display names, quoted strings, comments, groups,
 * angle addresses with or without a source route); no recipient found
 * is not an error here (the caller decides).  Date, Message-ID and From,
 * when missing, are added once each at the top, in that order.
 *
 * The full name given for From must hold no control byte (CR, LF, ...):
 * it is refused before anything is built, so it cannot inject a header.
 * It is written as a phrase of atoms when it is one, otherwise as a
 * quoted string with '"' and '\' escaped; 8-bit bytes go in as they are.
 */
#ifndef SM_SUBMIT_MSG_H
#define SM_SUBMIT_MSG_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "common/buf.h"

#define SUBMIT_LINE_MAX		998	/* bytes of a line, without CRLF */
#define SUBMIT_RCPT_MAX		1000	/* recipients taken by -t */
#define SUBMIT_NAME_MAX		256	/* bytes of the full name */

/* Which headers submit_msg_canon added (submit_result.added). */
#define SUBMIT_ADDED_DATE	0x01
#define SUBMIT_ADDED_MSGID	0x02
#define SUBMIT_ADDED_FROM	0x04

struct submit_params {
	int		 ignore_dots;	/* -i: a "." line is data */
	int		 extract_rcpts;	/* -t: recipients from To/Cc/Bcc */
	size_t		 max_size;	/* bytes of the canonical message */
	time_t		 now;		/* for Date and the Message-ID */
	long		 gmtoff;	/* seconds east of UTC, for Date */
	const char	*hostname;	/* right part of the Message-ID */
	const char	*msgid_unique;	/* left part; NULL: built from now,
					   pid and a counter */
	pid_t		 pid;
	const char	*from_addr;	/* user@domain of an added From */
	const char	*from_name;	/* full name; NULL or "" for none */
};

struct submit_result {
	struct buf	  msg;		/* the canonical message */
	char		**rcpts;	/* -t recipients, each allocated */
	size_t		  nrcpts;
	int		  added;	/* SUBMIT_ADDED_* */
};

/*
 * Canonicalizes in[0..len-1] into r (which it initializes).  Returns 0,
 * or a sysexits code with a one-line reason in err: EX_DATAERR (65) for
 * a message that cannot be taken (bare CR, NUL, long line, too large,
 * malformed address list, too many recipients), EX_USAGE (64) for bad
 * parameters (a full name, address, host name or unique part holding a
 * control byte or not fit for its header).  After an error r holds
 * nothing to free; after success free it with submit_result_free.
 */
int submit_msg_canon(const struct submit_params *p, const char *in,
    size_t len, struct submit_result *r, char *err, size_t errlen);
void submit_result_free(struct submit_result *r);

/*
 * Appends the addresses of one RFC 5322 address-list field value
 * (unfolded or not) to r->rcpts.  0, or -1 with a reason in err.  For
 * the tests and the fuzz target; submit_msg_canon uses it with -t.
 */
int submit_msg_addrlist(const char *value, size_t len,
    struct submit_result *r, char *err, size_t errlen);

#endif
