/*
 * dsn.h - delivery status notifications (RFC 3464) as complete RFC 5322
 * messages in multipart/report (RFC 6522), and the rules of who gets one.
 *
 * Pure: the caller passes the time, the facts of each recipient and a way
 * to read the original message; out comes the whole message in a buffer,
 * CRLF line ends, no line longer than 998 octets, ready to enter the queue
 * through the same commit path as every message, with the envelope sender
 * "<>" and the recipient said at dsn_build and dsn_build_postmaster.
 *
 * The parts: text/plain for people; message/delivery-status (RFC 3464);
 * the original, as message/rfc822 when the envelope said RET=FULL and a
 * recipient failed (RFC 3461 4.3: only failures return the content), else
 * its header section as text/rfc822-headers.  With SMTPUTF8 the types are
 * those of RFC 6533: message/global-delivery-status, message/global and
 * message/global-headers, and the text is UTF-8.
 *
 * Every value taken from the envelope or a remote reply is cleaned before
 * it is written, so no address or reply can add a header field, a line or
 * a MIME part: control bytes (CR and LF among them) become '?' in
 * addresses, and spaces in reply texts (a multi-line reply becomes one
 * line); without SMTPUTF8 bytes from 0x80 up become '?' too.  An address
 * of the report part that is not plain printable ASCII is written as
 * "utf-8; " utf-8-addr-xtext (RFC 6533 3, "\x{HEX}"), or raw UTF-8 in a
 * global report.  ENVID and ORCPT are decoded from xtext.  Long values
 * are folded at spaces; a word longer than a line is cut.  The reporting
 * host name must be a plain domain name, or nothing is built.
 *
 * The original is copied with its line ends made CRLF (a bare CR or LF
 * becomes CRLF, which the receiver never lets in anyway), a NUL byte
 * becomes '?' and a line longer than 998 octets is broken.  If the copy
 * has a byte from 0x80 up, its part and the whole message say
 * "Content-Transfer-Encoding: 8bit" and dsn_info.eightbit is set: the
 * report must then be sent with BODY=8BITMIME (or SMTPUTF8).  Nothing is
 * re-encoded into base64 or quoted-printable.  The header section ends
 * at the first empty line; it is copied up to max_headers octets, a longer
 * one ends before the first field that does not fit (a line broken in it
 * goes on as a folded line), and the text part says it was cut.  A RET=FULL
 * original larger than max_full returns its header section only, said
 * there too.
 */
#ifndef SM_DSN_H
#define SM_DSN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"	/* DSN_NOTIFY_*, DSN_RET_* */

struct buf;

#define DSN_MAX_HEADERS		(100 * 1024)	/* default header copy limit */
#define DSN_LINE_MAX		998		/* octets without CRLF */

enum dsn_action {
	DSN_ACTION_FAILED = 0,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,	/* passed to a system that sends no DSN */
	DSN_ACTION_EXPANDED,	/* delivered to an alias or list */
};

/* One recipient being reported.  Strings may be NULL where noted. */
struct dsn_rcpt {
	const char	*addr;		/* final recipient, no angle brackets */
	const char	*orcpt;		/* DSN ORCPT "type;xtext" as given,
					 * or NULL: Original-Recipient */
	enum dsn_action	 action;
	const char	*status;	/* "5.1.1"; NULL or malformed: the
					 * default of the action (5.0.0,
					 * 4.0.0, 2.0.0) */
	const char	*remote_mta;	/* host name of the remote MX, or NULL */
	const char	*remote_reply;	/* the remote's reply text ("550 5.1.1
					 * no such user"), lines separated by
					 * LF or CRLF; or NULL */
	const char	*reason;	/* our own words when there was no
					 * remote reply ("Host or domain name
					 * not found"), or NULL */
	uint64_t	 last_attempt;	/* unix time; 0 = none */
	uint64_t	 retry_until;	/* delayed: unix time of the give-up
					 * (Will-Retry-Until); 0 = none */
};

/*
 * The original message's bytes.  With read set, read(arg, buf, len) is
 * called until it returns 0 (end) or -1 (error); otherwise fd is read with
 * pread from offset 0 (the file offset is not moved).
 */
struct dsn_source {
	int		  fd;
	ssize_t		(*read)(void *arg, void *buf, size_t len);
	void		 *arg;
};

struct dsn_report {
	const char		*hostname;	/* reporting MTA: a domain name
						 * (letters, digits, '-', '.') */
	const char		*queue_id;	/* of the original, or NULL */
	const char		*sender;	/* original envelope sender, no
						 * brackets; "" = null sender */
	const char		*envid;		/* DSN ENVID (xtext) or NULL */
	int			 ret;		/* DSN_RET_FULL, DSN_RET_HDRS
						 * or 0 (as HDRS) */
	int			 smtputf8;	/* the original had SMTPUTF8 */
	uint64_t		 arrival;	/* unix time of the original */
	uint64_t		 now;		/* unix time: Date: */
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpt;		/* at least 1 */
	struct dsn_source	 original;
	size_t			 max_headers;	/* header section copied at most;
						 * 0 = DSN_MAX_HEADERS */
	uint64_t		 max_full;	/* RET=FULL of a larger original
						 * returns headers only; 0 = no
						 * limit */
	/* Fills buf with random bytes (boundary, Message-ID); NULL =
	 * getrandom(2).  Tests pass their own. */
	void			(*random)(void *buf, size_t len);
};

/* What the built message needs to know about itself. */
struct dsn_info {
	int	eightbit;	/* has 8-bit octets: send with BODY=8BITMIME */
	int	smtputf8;	/* an RFC 6533 report: send with SMTPUTF8 */
	int	full;		/* the whole original is in it */
	int	cut;		/* the header section was cut at the limit,
				 * or a too large original returned only its
				 * headers (both said in the text part) */
	char	message_id[300];/* "<...@hostname>" of the report */
};

/*
 * The rules (RFC 3461 4.1).  dsn_wanted: 1 if a recipient with DSN NOTIFY
 * bits `notify` (0 = not given) gets a report of `action`: NEVER gets
 * nothing; not given means FAILURE and DELAY; success actions (delivered,
 * relayed, expanded) only with SUCCESS.
 */
int dsn_wanted(unsigned notify, enum dsn_action action);

enum dsn_dest {
	DSN_DEST_NONE = 0,	/* nothing is sent; the outcome is only logged */
	DSN_DEST_SENDER,	/* a report to the original sender: dsn_build */
	DSN_DEST_POSTMASTER,	/* the sender is null and the message failed:
				 * one notice to postmaster:
				 * dsn_build_postmaster */
};

/*
 * Where a report of `action` for a recipient with NOTIFY bits `notify` of
 * a message from `sender` ("" = null) goes.  Never to the null sender: a
 * failed null-sender message (a bounce) gives one notice to postmaster;
 * its delays and successes give nothing.  The queue enqueues reports with
 * NOTIFY not given on their recipient (so a failed report gives the
 * postmaster notice) and postmaster notices with NOTIFY=NEVER on theirs,
 * so a failed notice is only logged: there is never a loop.
 */
enum dsn_dest dsn_destination(const char *sender, unsigned notify,
    enum dsn_action action);

/* DSN NOTIFY bits from the envelope's text ("NEVER", "SUCCESS,DELAY"; NULL
 * or "" = 0).  Unknown words are ignored. */
unsigned dsn_notify_bits(const char *list);
/* The envelope's text of DSN NOTIFY bits (valid: NEVER alone or any of
 * the other three): "NEVER", "SUCCESS,DELAY"; NULL for 0.  Freed by the
 * caller. */
char *dsn_notify_list(unsigned bits);

/* DSN_RET_FULL, DSN_RET_HDRS or 0 from the envelope's text or NULL. */
int dsn_ret_value(const char *ret);

/*
 * Appends the report to the sender r->sender to out; the report's envelope
 * is sender "<>", recipient r->sender.  r->rcpts are the recipients to
 * report, already chosen with dsn_destination (DSN_DEST_SENDER); several
 * actions may be mixed (the Subject: follows the gravest).  0, or -1 with the
 * reason in err and out unchanged: null sender, no recipients, a host name
 * that is not a domain name, a read error of the original.  info may be
 * NULL.
 */
int dsn_build(const struct dsn_report *r, struct buf *out,
    struct dsn_info *info, char *err, size_t errlen);

/*
 * The notice to postmaster when a report to the sender failed: r is the
 * failed report's own envelope (sender "", its recipient, why it failed;
 * the original is the report message itself, of which only the header
 * section is copied).  To: postmaster (an address, e.g.
 * "postmaster@host"), Subject "Postmaster Copy: Undelivered Mail".  Its
 * envelope sender is "<>" as well.  0, or -1 with err as dsn_build.
 */
int dsn_build_postmaster(const struct dsn_report *r, const char *postmaster,
    struct buf *out, struct dsn_info *info, char *err, size_t errlen);

/* "Tue, 01 Dec 2026 23:09:02 +0000" (RFC 5322 3.3, UTC) into out. */
void dsn_date(uint64_t t, char *out, size_t outlen);

const char *dsn_action_name(enum dsn_action action);

#endif
