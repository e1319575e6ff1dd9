/*
 * smtpc_reply.h - the SMTP client's reader of server replies, and the
 * EHLO capabilities they announce.
 *
 * The reader takes the octets a server sends as they arrive, in pieces of
 * any size, and hands back one whole reply at a time: the lines of a
 * multi-line reply ("250-..." then "250 ...") assembled, every line
 * checked to carry the same code, the enhanced status code of RFC 3463 of
 * the first line parsed when there is one.  Nothing a server sends makes
 * it hold more than a fixed amount of memory: a line over
 * SMTPC_REPLY_LINE_MAX octets, a reply of over SMTPC_REPLY_LINES_MAX
 * lines or SMTPC_REPLY_TEXT_MAX octets of text, a malformed code and a
 * NUL octet are protocol errors with a reason.  Lines end in CRLF or a
 * bare LF.  No I/O, no allocation.
 */
#ifndef SM_SMTPC_REPLY_H
#define SM_SMTPC_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* One reply line with its line ending; RFC 5321 4.5.3.1.5 says 512,
 * servers are allowed some more. */
#define SMTPC_REPLY_LINE_MAX	2048
/* Lines of one reply (an EHLO reply has one per extension). */
#define SMTPC_REPLY_LINES_MAX	100
/* The text of one reply, lines joined by '\n', with its NUL. */
#define SMTPC_REPLY_TEXT_MAX	8192
/* A protocol error's reason. */
#define SMTPC_REPLY_ERR_MAX	128
/* A reply as one line for logs and bounces (smtpc_reply_summary). */
#define SMTPC_SUMMARY_MAX	512

struct smtpc_reply {
	int		 code;		/* 200 .. 559 */
	char		 enh[16];	/* "4.2.1"; "" = none given */
	unsigned	 nlines;
	size_t		 len;		/* octets of text */
	/* Each line after its "NNN-" or "NNN ", joined by '\n'; an
	 * enhanced code stays in the text. */
	char		 text[SMTPC_REPLY_TEXT_MAX];
};

enum smtpc_rstatus {
	SMTPC_RS_MORE = 0,	/* all input taken, no whole reply yet */
	SMTPC_RS_REPLY,		/* a reply is complete */
	SMTPC_RS_ERROR,		/* a protocol error: the connection is
				 * unusable; p->error says why */
};

struct smtpc_rparser {
	struct smtpc_reply	 cur;		/* the reply being read */
	char			 line[SMTPC_REPLY_LINE_MAX + 1];
	size_t			 linelen;
	int			 failed;	/* sticky after an error */
	char			 error[SMTPC_REPLY_ERR_MAX];
};

void smtpc_rparser_init(struct smtpc_rparser *p);
/* Forgets a partial reply (after STARTTLS, what the server sent before
 * the handshake is dropped).  An error stays. */
void smtpc_rparser_reset(struct smtpc_rparser *p);
/* 1 if octets of a reply not yet complete are held. */
int smtpc_rparser_partial(const struct smtpc_rparser *p);

/*
 * Takes octets from data[0 .. len) up to the end of the first complete
 * reply (*used says how many) and returns SMTPC_RS_REPLY with the reply
 * in *r; the rest belongs to the next call.  SMTPC_RS_MORE when all len
 * octets were taken without completing a reply; SMTPC_RS_ERROR on a
 * protocol error (every later call returns it again).
 */
enum smtpc_rstatus smtpc_rparser_feed(struct smtpc_rparser *p,
    const void *data, size_t len, size_t *used, struct smtpc_reply *r);

/* The reply as one line, "250 2.0.0 text more text", control octets as
 * '?', cut at size - 1 octets (size at least 8).  Returns out. */
const char *smtpc_reply_summary(const struct smtpc_reply *r, char *out,
    size_t size);

/* ---- EHLO capabilities ---- */

#define SMTPC_CAP_PIPELINING	0x0001	/* RFC 2920 */
#define SMTPC_CAP_SIZE		0x0002	/* RFC 1870 */
#define SMTPC_CAP_8BITMIME	0x0004	/* RFC 6152 */
#define SMTPC_CAP_SMTPUTF8	0x0008	/* RFC 6531 */
#define SMTPC_CAP_DSN		0x0010	/* RFC 3461 */
#define SMTPC_CAP_CHUNKING	0x0020	/* RFC 3030 */
#define SMTPC_CAP_STARTTLS	0x0040	/* RFC 3207 */
#define SMTPC_CAP_AUTH		0x0080	/* RFC 4954 */
#define SMTPC_CAP_ENHANCEDSTATUSCODES 0x0100	/* RFC 2034 */

#define SMTPC_AUTH_PLAIN	0x01	/* RFC 4616 */
#define SMTPC_AUTH_LOGIN	0x02
#define SMTPC_AUTH_CRAM_MD5	0x04
#define SMTPC_AUTH_OTHER	0x08	/* any other mechanism */

struct smtpc_caps {
	unsigned	 flags;		/* SMTPC_CAP_* */
	uint64_t	 size;		/* SIZE n; 0 = no limit announced */
	unsigned	 auth;		/* SMTPC_AUTH_*, with SMTPC_CAP_AUTH */
};

/*
 * The extensions of a 2xx EHLO reply (its lines after the first),
 * keywords and mechanisms compared without regard to case; unknown
 * keywords are ignored, and so is a SIZE value that is not a plain
 * number (SIZE is then offered without a limit).  "AUTH=..." lines of
 * old servers count as AUTH.  *c is cleared first.
 */
void smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *c);

#endif
