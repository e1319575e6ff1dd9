/*
 * dataread.h - the byte-level reader of the DATA phase (RFC 5321 4.1.1.4).
 *
 * The only end of the data is CRLF "." CRLF, the first CRLF being the one
 * that ended the DATA command.  A bare CR or a bare LF anywhere marks the
 * message bad but never ends it, so no smuggled line ending makes the rest
 * of a body look like commands.  A leading dot is removed from every line
 * (dot-unstuffing); everything else, CRLF included, is output unchanged.
 * A NUL byte and the size limit also mark the message; once it is marked
 * nothing more is output, but reading goes on to the end marker.
 */
#ifndef SM_DATAREAD_H
#define SM_DATAREAD_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define DATAREAD_BARE	0x01	/* a bare CR or LF: 550 5.5.2 */
#define DATAREAD_NUL	0x02	/* a NUL byte: 554 5.6.0 */
#define DATAREAD_SIZE	0x04	/* over the size limit: 552 5.3.4 */

struct dataread {
	int		state;
	int		flags;		/* DATAREAD_* seen so far */
	int		done;		/* the end marker was read */
	uint64_t	size;		/* octets of message (as output) */
	uint64_t	max;		/* size limit; 0 = none */
};

void dataread_init(struct dataread *dr, uint64_t max);
/*
 * Reads in[0..len), appending message bytes to out, and returns how many
 * input bytes it used: all of them, or fewer when it stopped right after
 * the end marker (dr->done).  Bytes after the marker belong to the next
 * command.
 */
size_t dataread_feed(struct dataread *dr, const char *in, size_t len,
    struct buf *out);

#endif
