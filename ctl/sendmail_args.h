/*
 * sendmail_args.h - the command line of strictmailctl run as sendmail(8),
 * mailq(1) or newaliases(1), parsed into a struct.  Pure: no I/O, no
 * allocation; the strings in the result point into argv.
 *
 * Options are read like sendmail's getopt: single letters, several
 * flags may share one word (-ti), an option's value is the rest of the
 * word (-fuser) or the next word (-f user).  Options end at "--" or at
 * the first word that does not start with '-'; the rest are recipients
 * (one address per word, not split at commas).  The basename of argv[0]
 * gives the default mode: "mailq" lists the queue, "newaliases"
 * rebuilds the aliases, anything else delivers (-bm).
 *
 * Accepted: -bm -bs -bp -bi, -C file (the configuration), -q[arg] (flush; the argument is kept but
 * means nothing here), -t, -i, -oi, -f/-r sender, -F full name, -v,
 * -oem -oee -oep -oeq -oew, -odi -odb -odq, -B 7BIT|8BITMIME,
 * -N never|success,failure,delay, -R full|hdrs, -V envid, -m, -U, -L tag
 * (ignored), any other -oX and -O option=value (ignored), and --json
 * (mailq only).  Everything else is refused.
 *
 * A refusal fills err with a one-line reason and means exit EX_USAGE
 * (64): an unknown option or mode, a missing or bad value, a sender,
 * full name, envelope id or recipient holding a control byte (below
 * 0x20, or 0x7F), a sender or recipient starting with '-', a value over
 * SENDMAIL_VALUE_MAX bytes, more than SENDMAIL_RCPT_MAX recipients, and
 * deliver mode with neither recipients nor -t.
 */
#ifndef SM_SENDMAIL_ARGS_H
#define SM_SENDMAIL_ARGS_H

#include <stddef.h>

#define SENDMAIL_VALUE_MAX	998	/* bytes of a sender, name, recipient */
#define SENDMAIL_ENVID_MAX	100	/* bytes of -V (RFC 3461) */
#define SENDMAIL_RCPT_MAX	1000	/* recipients on the command line */

enum sendmail_mode {
	SENDMAIL_DELIVER = 1,	/* -bm, the default: a message on stdin */
	SENDMAIL_SMTP,		/* -bs: an SMTP dialogue on stdin/stdout */
	SENDMAIL_PRINTQ,	/* -bp, or run as mailq */
	SENDMAIL_NEWALIASES,	/* -bi, or run as newaliases */
	SENDMAIL_FLUSH		/* -q */
};

enum sendmail_body {
	SENDMAIL_BODY_UNSET = 0,
	SENDMAIL_BODY_7BIT,	/* -B 7BIT */
	SENDMAIL_BODY_8BITMIME	/* -B 8BITMIME */
};

enum sendmail_ret {
	SENDMAIL_RET_UNSET = 0,
	SENDMAIL_RET_FULL,	/* -R full */
	SENDMAIL_RET_HDRS	/* -R hdrs */
};

/* -N: a set of these; 0 when -N is not given. */
#define SENDMAIL_NOTIFY_NEVER	0x01
#define SENDMAIL_NOTIFY_SUCCESS	0x02
#define SENDMAIL_NOTIFY_FAILURE	0x04
#define SENDMAIL_NOTIFY_DELAY	0x08

struct sendmail_args {
	enum sendmail_mode	 mode;
	int			 extract_rcpts;	/* -t */
	int			 ignore_dots;	/* -i, -oi */
	int			 verbose;	/* -v */
	int			 json;		/* --json (mailq) */
	const char		*sender;	/* -f/-r; NULL if not given,
						   "" for the null sender
						   ("" or "<>" given) */
	const char		*fullname;	/* -F; NULL if not given */
	const char		*envid;		/* -V; NULL if not given */
	const char		*config;	/* -C; NULL if not given */
	const char		*qarg;		/* -q's glued argument or "" */
	char			 errmode;	/* -oeX: 'p' (default), 'q',
						   'm', 'w', 'e' */
	char			 delivery;	/* -odX: 0, 'i', 'b', 'q' */
	enum sendmail_body	 body;		/* -B */
	unsigned		 notify;	/* -N: SENDMAIL_NOTIFY_* */
	enum sendmail_ret	 ret;		/* -R */
	char *const		*rcpts;		/* recipients (into argv) */
	size_t			 nrcpts;
};

/*
 * Parses argv[0..argc-1] into *a.  0 on success; -1 with a reason in
 * err (always NUL-terminated when errlen > 0) for exit EX_USAGE.
 */
int sendmail_args_parse(int argc, char *const argv[], struct sendmail_args *a,
    char *err, size_t errlen);

/* The mode argv[0] alone gives: SENDMAIL_PRINTQ for a basename "mailq",
 * SENDMAIL_NEWALIASES for "newaliases", otherwise SENDMAIL_DELIVER. */
enum sendmail_mode sendmail_args_mode_of(const char *argv0);

#endif
