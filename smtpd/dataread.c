/*
 * dataread.c - the byte-level reader of a message.
 *
 * Five states: at the beginning of a line (after CRLF), in a line, after a
 * CR, after a line's leading dot, and after that dot and a CR.  Only the
 * last one followed by LF ends the data; chunked mode never enters the dot
 * states.  Runs of ordinary bytes in a line are copied in one piece; every
 * other byte goes through one small step function.  A step may hand its
 * byte back (return 0) to be read again in the state it moved to.  Line
 * lengths and the Received: fields of the header section are counted on
 * the octets as they are output, so a split between two feeds changes
 * nothing.
 */
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "smtpd/dataread.h"

#define DATAREAD_WORD		"received"
#define DATAREAD_WORDLEN	8
#define DATAREAD_IDWORD		"message-id"
#define DATAREAD_IDWORDLEN	10
#define DATAREAD_DATEWORD	"date"
#define DATAREAD_DATEWORDLEN	4

/* Where the first Message-ID field is. */
enum dataread_idstate {
	DR_ID_NONE = 0,	/* not seen yet */
	DR_ID_VALUE,	/* in its value */
	DR_ID_EOL,	/* at a line end in it: a blank goes on, else done */
	DR_ID_DONE,	/* read, or the header section ended */
};

enum dataread_state {
	DR_BOL = 0,	/* at the beginning of a line */
	DR_TEXT,	/* inside a line */
	DR_CR,		/* after a CR inside a line */
	DR_DOT,		/* after a dot at the beginning of a line */
	DR_DOTCR,	/* after "." CR at the beginning of a line */
};

void
dataread_init(struct dataread *dr, uint64_t max)
{
	memset(dr, 0, sizeof(*dr));
	dr->state = DR_BOL;
	dr->max = max;
	dr->in_header = 1;
	dr->match = 0;
	dr->idmatch = 0;
}

void
dataread_limits(struct dataread *dr, uint64_t max_line, unsigned max_received)
{
	dr->max_line = max_line;
	dr->max_received = max_received;
}

void
dataread_submission(struct dataread *dr, const char *date, const char *msgid)
{
	dr->add = 1;
	(void)strlcpy(dr->add_date, date, sizeof(dr->add_date));
	(void)strlcpy(dr->add_msgid, msgid, sizeof(dr->add_msgid));
}

void
dataread_chunked(struct dataread *dr)
{
	dr->chunked = 1;
}

/* Counts n message bytes and outputs them while the message is good. */
static void
dataread_out(struct dataread *dr, const char *p, size_t n, struct buf *out)
{
	dr->size += n;
	if (dr->max != 0 && dr->size > dr->max)
		dr->flags |= DATAREAD_SIZE;
	if (dr->flags == 0)
		buf_add(out, p, n);
}

/*
 * Follows WORD [WSP] ":" at the start of a header line, in any case and
 * over the pieces of the line: *pos is the position in word, -1 once the
 * line cannot match.  The offset in p just after the colon, or -1.
 */
static long
dataread_name(int *pos, const char *word, int wlen, const char *p, size_t n)
{
	size_t	i;
	int	c;

	for (i = 0; i < n && *pos >= 0; i++) {
		c = (unsigned char)p[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (*pos < wlen)
			*pos = c == word[*pos] ? *pos + 1 : -1;
		else if (c == ':') {
			*pos = -1;
			return (long)(i + 1);
		} else if (c != ' ' && c != '\t')
			*pos = -1;
	}
	return -1;
}

/* Counts the Received: fields. */
static void
dataread_match(struct dataread *dr, const char *p, size_t n)
{
	if (dataread_name(&dr->match, DATAREAD_WORD, DATAREAD_WORDLEN, p,
	    n) < 0)
		return;
	dr->nreceived++;
	if (dr->max_received != 0 && dr->nreceived >= dr->max_received)
		dr->flags |= DATAREAD_LOOP;
}

/* Keeps octets of the Message-ID's value, its leading blanks dropped. */
static void
dataread_idkeep(struct dataread *dr, const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (dr->idlen == 0 && (p[i] == ' ' || p[i] == '\t'))
			continue;
		if (dr->idlen < DATAREAD_MSGID_MAX)
			dr->msgid[dr->idlen++] = p[i];
	}
	dr->msgid[dr->idlen] = '\0';
}

/* Follows the start of a header line: "Message-ID" [WSP] ":", then keeps
 * the value, over continuation lines too. */
static void
dataread_idmatch(struct dataread *dr, const char *p, size_t n)
{
	long	off;

	if (dr->idstate == DR_ID_EOL)
		dr->idstate = (p[0] == ' ' || p[0] == '\t') ? DR_ID_VALUE :
		    DR_ID_DONE;
	if (dr->idstate == DR_ID_DONE)
		return;
	if (dr->idstate == DR_ID_VALUE) {
		dataread_idkeep(dr, p, n);
		return;
	}
	off = dataread_name(&dr->idmatch, DATAREAD_IDWORD, DATAREAD_IDWORDLEN,
	    p, n);
	if (off >= 0) {
		dr->idstate = DR_ID_VALUE;
		dataread_idkeep(dr, p + off, n - (size_t)off);
	}
}

/* A submission's missing fields, at the end of its header section. */
static void
dataread_add_fields(struct dataread *dr, struct buf *out)
{
	char	line[sizeof(dr->add_msgid) + 32];

	if (!dr->add || !dr->in_header)
		return;
	dr->add = 0;
	if (!dr->has_date) {
		if (bsnprintf(line, sizeof(line), "Date: %s\r\n",
		    dr->add_date))
			dataread_out(dr, line, strlen(line), out);
	}
	if (dr->idstate == DR_ID_NONE && dr->add_msgid[0] != '\0') {
		if (bsnprintf(line, sizeof(line), "Message-ID: %s\r\n",
		    dr->add_msgid))
			dataread_out(dr, line, strlen(line), out);
		(void)strlcpy(dr->msgid, dr->add_msgid, sizeof(dr->msgid));
		dr->idlen = strlen(dr->msgid);
		dr->idstate = DR_ID_DONE;
	}
}

/* n octets of the current line (never CR LF). */
static void
dataread_line(struct dataread *dr, const char *p, size_t n, struct buf *out)
{
	if (dr->match >= 0)
		dataread_match(dr, p, n);
	if (dr->datematch >= 0 && dr->in_header &&
	    dataread_name(&dr->datematch, DATAREAD_DATEWORD,
	    DATAREAD_DATEWORDLEN, p, n) >= 0)
		dr->has_date = 1;
	if (dr->in_header && n > 0 && (dr->idstate == DR_ID_VALUE ||
	    dr->idstate == DR_ID_EOL || (dr->idstate == DR_ID_NONE &&
	    dr->idmatch >= 0)))
		dataread_idmatch(dr, p, n);
	dr->linelen += n;
	if (dr->max_line != 0 && dr->linelen > dr->max_line)
		dr->flags |= DATAREAD_LONG;
	dataread_out(dr, p, n, out);
}

/* The CR LF that ends a line; an empty line ends the header section. */
static void
dataread_eol(struct dataread *dr, struct buf *out)
{
	if (dr->linelen == 0 && dr->in_header) {
		dataread_add_fields(dr, out);
		dr->in_header = 0;
	}
	dr->linelen = 0;
	dr->match = dr->in_header ? 0 : -1;
	dr->datematch = dr->in_header ? 0 : -1;
	dr->idmatch = dr->in_header ? 0 : -1;
	if (dr->idstate == DR_ID_VALUE)
		dr->idstate = DR_ID_EOL;
	if (!dr->in_header && dr->idstate != DR_ID_NONE)
		dr->idstate = DR_ID_DONE;
	if (dr->idstate != DR_ID_NONE)
		while (dr->idlen > 0 && (dr->msgid[dr->idlen - 1] == ' ' ||
		    dr->msgid[dr->idlen - 1] == '\t'))
			dr->msgid[--dr->idlen] = '\0';
	dr->lines++;
	dataread_out(dr, "\r\n", 2, out);
}

/* In a line: copies the run of ordinary bytes, then reads one CR, LF or
 * NUL if there is one.  Returns the bytes used (at least 1). */
static size_t
dataread_text(struct dataread *dr, const char *in, size_t len,
    struct buf *out)
{
	size_t	n = 0;

	while (n < len && in[n] != '\r' && in[n] != '\n' && in[n] != '\0')
		n++;
	if (n > 0)
		dataread_line(dr, in, n, out);
	if (n == len)
		return n;
	switch (in[n]) {
	case '\r':
		dr->state = DR_CR;
		break;
	case '\n':
		dr->flags |= DATAREAD_BARE;
		dataread_out(dr, "\n", 1, out);
		break;
	default:
		dr->flags |= DATAREAD_NUL;
		dataread_line(dr, "", 1, out);
		break;
	}
	return n + 1;
}

/* One byte in any state but DR_TEXT.  Returns 1 if c was used, 0 if it
 * is to be read again in the new state. */
static size_t
dataread_step(struct dataread *dr, char c, struct buf *out)
{
	switch (dr->state) {
	case DR_BOL:
		dr->state = DR_TEXT;
		if (c != '.' || dr->chunked)
			return 0;
		dr->state = DR_DOT;
		return 1;
	case DR_CR:
		if (c == '\n') {
			dataread_eol(dr, out);
			dr->state = DR_BOL;
			return 1;
		}
		/* A bare CR; a following CR starts a new candidate. */
		dr->flags |= DATAREAD_BARE;
		dataread_out(dr, "\r", 1, out);
		if (c == '\r')
			return 1;
		dr->state = DR_TEXT;
		return 0;
	case DR_DOT:
		/* A stuffed dot: dropped, the rest of the line is text. */
		dr->state = (c == '\r') ? DR_DOTCR : DR_TEXT;
		return c == '\r';
	case DR_DOTCR:
		if (c == '\n') {
			dataread_add_fields(dr, out);
			dr->done = 1;
			return 1;
		}
		/* "." CR without LF: the dot was stuffing, the CR is bare. */
		dr->state = DR_CR;
		return 0;
	}
	return 1;
}

size_t
dataread_feed(struct dataread *dr, const char *in, size_t len,
    struct buf *out)
{
	size_t	i = 0;

	while (i < len && !dr->done) {
		if (dr->state == DR_TEXT)
			i += dataread_text(dr, in + i, len - i, out);
		else
			i += dataread_step(dr, in[i], out);
	}
	return i;
}

void
dataread_last(struct dataread *dr, struct buf *out)
{
	if (dr->state == DR_CR) {
		dr->flags |= DATAREAD_BARE;
		dataread_out(dr, "\r", 1, out);
	} else if (dr->state == DR_TEXT)
		dataread_eol(dr, out);
	dataread_add_fields(dr, out);
	dr->state = DR_BOL;
	dr->done = 1;
}
