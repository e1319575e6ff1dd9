/*
 * maildrop.h - the format of a file in the spool's maildrop/ folder: one
 * message submitted through sendmail(8), written by strictmailctl (through
 * the setgid helper strictmail-postdrop, or directly when the caller may
 * write maildrop/ itself) and read by the queue's pickup.  Pure: buffers
 * in, buffers out, no I/O.
 *
 * The reader treats the file as hostile: the submitter's identity is the
 * file's owner (pickup checks it with fstat), never anything inside it.
 *
 * A file is a head of LF-terminated lines, then the content:
 *
 *   strictmail-maildrop 1
 *   sender ADDR          optional, at most once: the -f address, "<>"
 *                        for the null sender; absent = the submitter's
 *                        own address
 *   rcpt ADDR            one per recipient, 1 to MAILDROP_RCPT_MAX
 *   notify WORDS         optional: "never" or a comma list of success,
 *                        failure, delay (RFC 3461), for every recipient
 *   ret full|hdrs        optional (RFC 3461)
 *   envid XTEXT          optional, at most MAILDROP_ENVID_MAX bytes
 *   body 7bit|8bitmime   optional
 *   size N               the content's octets, decimal, no leading zero
 *   data                 the last line of the head
 *
 * then exactly N octets: the message, canonical (every line ends with
 * CRLF, no bare CR or LF, no NUL, lines of at most 998 octets without
 * their CRLF).  Nothing may follow them.  Lines appear in the order above
 * (sender, rcpts, then the optional ones in any order, then size, data);
 * a line not listed, a value repeated, a space too many or missing, a
 * byte below 0x21 or 0x7F in a value, an address over MAILDROP_ADDR_MAX
 * bytes or a head over MAILDROP_HEAD_MAX bytes make the file invalid.
 * ADDR is a mailbox as in MAIL FROM / RCPT TO without the angle brackets
 * (local@domain, or a bare local name for a local user).
 */
#ifndef SM_MAILDROP_H
#define SM_MAILDROP_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define MAILDROP_MAGIC		"strictmail-maildrop 1"
#define MAILDROP_HEAD_MAX	(256 * 1024)	/* bytes of the head */
#define MAILDROP_RCPT_MAX	1000
#define MAILDROP_ADDR_MAX	254
#define MAILDROP_ENVID_MAX	100

/* notify: a set of these, 0 when the line is absent. */
#define MAILDROP_NOTIFY_NEVER	0x01
#define MAILDROP_NOTIFY_SUCCESS	0x02
#define MAILDROP_NOTIFY_FAILURE	0x04
#define MAILDROP_NOTIFY_DELAY	0x08

enum maildrop_ret { MAILDROP_RET_UNSET = 0, MAILDROP_RET_FULL,
    MAILDROP_RET_HDRS };
enum maildrop_body { MAILDROP_BODY_UNSET = 0, MAILDROP_BODY_7BIT,
    MAILDROP_BODY_8BITMIME };

struct maildrop_env {
	char			*sender;	/* NULL: absent; "" null sender */
	char			**rcpts;
	size_t			 nrcpts;
	unsigned		 notify;	/* MAILDROP_NOTIFY_* */
	enum maildrop_ret	 ret;
	char			*envid;		/* NULL: absent */
	enum maildrop_body	 body;
	uint64_t		 size;		/* octets of the content */
	size_t			 data_off;	/* parse: where the content starts */
};

/*
 * Appends the head for e (size = the content's octets; data_off unused)
 * to out; the caller appends the content.  0, or -1 with a reason in err
 * when e does not fit the format (the writer refuses what the reader
 * would refuse).
 */
int maildrop_put(struct buf *out, const struct maildrop_env *e, char *err,
    size_t errlen);

/*
 * Parses the head at the start of data[0..len-1] (len may cover only
 * the first MAILDROP_HEAD_MAX bytes of a file).  0 with *e filled (free
 * it with maildrop_env_free) and e->data_off set; the caller checks that
 * the file holds exactly data_off + size octets and the content itself
 * (maildrop_check_content).  -1 with a one-line reason in err, e empty.
 */
int maildrop_parse(const char *data, size_t len, struct maildrop_env *e,
    char *err, size_t errlen);

/*
 * Checks len octets of content (possibly one piece of it at a time: st
 * carries the state between calls, zeroed before the first) against the
 * rules above.  0, or -1 with a reason in err.  maildrop_check_end says
 * whether the content ended on a line end.
 */
struct maildrop_check {
	size_t	linelen;	/* octets of the current line so far */
	int	cr;		/* the last octet was CR */
};
int maildrop_check_content(struct maildrop_check *st, const char *data,
    size_t len, char *err, size_t errlen);
int maildrop_check_end(const struct maildrop_check *st, char *err,
    size_t errlen);

void maildrop_env_free(struct maildrop_env *e);

#endif
