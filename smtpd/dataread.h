/*
 * dataread.h - the byte-level reader of a message (RFC 5321 4.1.1.4, and
 * RFC 3030 chunks).
 *
 * After DATA the only end of the data is CRLF "." CRLF, the first CRLF
 * being the one that ended the DATA command.  A bare CR or a bare LF
 * anywhere marks the message bad but never ends it, so no smuggled line
 * ending makes the rest of a body look like commands.  A leading dot is
 * removed from every line (dot-unstuffing); everything else, CRLF
 * included, is output unchanged.  In chunked mode (BDAT) the caller hands
 * over exactly the octets of each chunk: nothing is unstuffed and nothing
 * ends the message but dataread_last().  NUL bytes, a line longer than the
 * line limit, the size limit and too many Received: header fields also
 * mark the message; once it is marked nothing more is output, but reading
 * goes on to the end.
 *
 * The value of the first Message-ID: header field of the header section
 * is kept in msgid for the log: unfolded (a CRLF before a continuation
 * line dropped), without the blanks around it, at most DATAREAD_MSGID_MAX
 * octets (a longer one is cut); "" when there is none.
 *
 * A submission (dataread_submission) that lacks a Date: or a Message-ID:
 * header field gets them at the end of its header section: before the
 * empty line that ends it, or at the end of a message that is all
 * header.  msgid is then the one added.
 */
#ifndef SM_DATAREAD_H
#define SM_DATAREAD_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define DATAREAD_BARE	0x01	/* a bare CR or LF: 550 5.5.2 */
#define DATAREAD_NUL	0x02	/* a NUL byte: 554 5.6.0 */
#define DATAREAD_SIZE	0x04	/* over the size limit: 552 5.3.4 */
#define DATAREAD_LONG	0x08	/* a line over the line limit: 554 5.6.0 */
#define DATAREAD_LOOP	0x10	/* too many Received: fields: 554 5.4.6 */

#define DATAREAD_MSGID_MAX	255	/* octets of a Message-ID kept */

struct dataread {
	int		state;
	int		flags;		/* DATAREAD_* seen so far */
	int		done;		/* the end marker was read */
	uint64_t	size;		/* octets of message (as output) */
	uint64_t	max;		/* size limit; 0 = none */
	int		chunked;	/* BDAT: raw octets, no end marker */
	uint64_t	max_line;	/* octets without CRLF; 0 = none */
	unsigned	max_received;	/* 0 = no limit */
	uint64_t	linelen;	/* octets of the current line so far */
	uint64_t	lines;		/* complete lines (CRLF) so far */
	int		in_header;	/* still in the header section */
	unsigned	nreceived;	/* Received: fields seen */
	int		match;		/* position in "received", -1 = no */
	int		idmatch;	/* position in "message-id", -1 = no */
	int		idstate;	/* DR_ID_*: where the Message-ID is */
	size_t		idlen;
	char		msgid[DATAREAD_MSGID_MAX + 1];
	/* Submissions: the fields to add when missing. */
	int		add;		/* dataread_submission was called */
	int		datematch;	/* position in "date", -1 = no */
	int		has_date;
	char		add_date[64];	/* the Date: value */
	char		add_msgid[DATAREAD_MSGID_MAX + 1];
};

/* A reader with a size limit (0 = none) and no other limit. */
void dataread_init(struct dataread *dr, uint64_t max);
/* The line limit (octets without CRLF) and the number of Received:
 * header fields that makes a loop; 0 = none.  Before the first feed. */
void dataread_limits(struct dataread *dr, uint64_t max_line,
    unsigned max_received);
/* A submission: a missing Date: gets date, a missing Message-ID: gets
 * msgid (with its angle brackets); before the first feed. */
void dataread_submission(struct dataread *dr, const char *date,
    const char *msgid);
/* Chunked mode (BDAT); before the first feed. */
void dataread_chunked(struct dataread *dr);
/*
 * Reads in[0..len), appending message bytes to out, and returns how many
 * input bytes it used: all of them, or fewer when it stopped right after
 * the end marker (dr->done).  Bytes after the marker belong to the next
 * command.  In chunked mode all bytes are used and done is never set.
 */
size_t dataread_feed(struct dataread *dr, const char *in, size_t len,
    struct buf *out);
/*
 * Chunked mode: the last chunk was fed.  A CR left at the end is bare; a
 * last line without CRLF gets one.  Sets done.
 */
void dataread_last(struct dataread *dr, struct buf *out);

#endif
