/*
 * envelope.h - the envelope file of a queued message (queue/XX/ID.env):
 * small, versioned, self-terminating text, read against an allow-list.
 *
 * Format, version 2.  One "key value" line each, ending in LF; the key is
 * separated from its value by one space ("key" alone is an empty value).
 * No byte of a line may be a control character (below 0x20, or 0x7F), so
 * CR, NUL and TAB never appear; bytes from 0x80 up are kept as they are.
 * Values are at most ENVELOPE_MAX_VALUE bytes.
 *
 *   strictmail-envelope 2    first line, always
 *   id <queue id>            required; equals the file's name
 *   arrival <seconds>        required; unix time of the commit
 *   size <octets>            required; size of ID.msg
 *   digest sha256:<hex>      required; SHA-256 of ID.msg, 64 lower-case hex
 *                            digits (common/digest.h): recovery and delivery
 *                            check the content against it
 *   sender <addr>            required; in angle brackets, "<>" = null sender
 *   helo <name>              required; as the client gave it (may be empty)
 *   client <address>         required; numeric address of the client
 *   protocol <word>          required; SMTP, ESMTP, ESMTPS, ESMTPSA, ...
 *   attempts <n>             required; delivery attempts so far
 *   next-attempt <seconds>   required; unix time of the next attempt
 *   expiry <seconds>         required; unix time after which it bounces
 *   ret <FULL|HDRS>          optional; DSN RET
 *   envid <xtext>            optional; DSN ENVID
 *   tls <text>               optional; TLS facts of the receiving session
 *   body <7BIT|8BITMIME>     optional; MAIL BODY= (RFC 6152)
 *   smtputf8                 optional, no value; MAIL had SMTPUTF8
 *   warned <seconds>         optional; unix time at which the scheduler
 *                            decided the message's one delay warning
 *                            (RFC 3464 "delayed"); written in the same
 *                            rewrite as the deferral that triggered it,
 *                            before the warning is queued, so a crash can
 *                            lose a warning but never send it twice
 *   held <seconds>           optional; unix time at which an operator
 *                            held the message (strictmailctl queue hold):
 *                            it is never scheduled until released, which
 *                            removes the key
 *   rcpt <state> <addr>      one or more; state pending, delivered or
 *                            failed; addr in angle brackets
 *   rcpt-notify <list>       optional, for the rcpt line above: DSN NOTIFY
 *   rcpt-orcpt <type;addr>   optional, for the rcpt line above: DSN ORCPT
 *   rcpt-error <text>        optional, for the rcpt line above: the last
 *                            delivery error ("451 4.7.1 try later",
 *                            "connect: Connection refused"), one line, for
 *                            the queue listing; the scheduler writes it
 *   end                      last line; nothing may follow it
 *
 * The rcpt-* keys come in any order after their rcpt line, each at most
 * once per recipient.
 *
 * Once committed, an envelope changes only by the commit rule (the queue
 * scheduler, queue/INTERNALS): ID.env.new is written in the same folder
 * and fdatasync'ed, renamed over ID.env, and the folder fsync'ed; a
 * leftover ID.env.new is removed by recovery.
 *
 * Singleton keys may appear in any order between the first line and the
 * first rcpt line or after it; each at most once.  Any unknown key, repeated
 * singleton, missing required key, bad number, bad state, control byte,
 * missing "end" or byte after it makes the file invalid, with an error that
 * names the line: "line 7: unknown key 'foo'".
 */
#ifndef SM_ENVELOPE_H
#define SM_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "queue/queue_id.h"

#define ENVELOPE_VERSION	2
#define ENVELOPE_MAGIC		"strictmail-envelope"
#define ENVELOPE_MAX_VALUE	1000		/* bytes of one value */
#define ENVELOPE_MAX_RCPT	100000
#define ENVELOPE_MAX_FILE	(64 * 1024 * 1024)

struct buf;

enum rcpt_state {
	RCPT_PENDING = 0,
	RCPT_DELIVERED,
	RCPT_FAILED,
};

struct envelope_rcpt {
	char		*addr;		/* no angle brackets, never empty */
	enum rcpt_state	 state;
	char		*notify;	/* DSN NOTIFY or NULL */
	char		*orcpt;		/* DSN ORCPT or NULL */
	char		*error;		/* last delivery error or NULL */
};

struct envelope {
	char			 id[QUEUE_ID_SIZE];
	uint64_t		 arrival;
	uint64_t		 size;
	char			 digest[DIGEST_SIZE];	/* "sha256:..." */
	char			*sender;	/* "" is the null sender */
	char			*helo;
	char			*client;
	char			*protocol;
	uint64_t		 attempts;
	uint64_t		 next_attempt;
	uint64_t		 expiry;
	char			*ret;		/* optional: NULL when absent */
	char			*envid;
	char			*tls;
	char			*body;		/* "7BIT", "8BITMIME" or NULL */
	int			 smtputf8;	/* 1 if the key is there */
	uint64_t		 warned;	/* 0: no delay warning yet */
	uint64_t		 held;		/* 0: not held by an operator */
	struct envelope_rcpt	*rcpts;
	size_t			 nrcpt;
};

void envelope_init(struct envelope *env);
/* Frees every string and the recipients; env is empty afterwards. */
void envelope_free(struct envelope *env);
/* Appends a recipient (addr copied) and returns it. */
struct envelope_rcpt *envelope_add_rcpt(struct envelope *env,
    const char *addr, enum rcpt_state state);

/* 0 if env can be written and read back unchanged: valid id, required
 * strings present, no control bytes, lengths in range, 1..ENVELOPE_MAX_RCPT
 * recipients.  -1 with the reason in err otherwise. */
int envelope_check(const struct envelope *env, char *err, size_t errlen);
/* 1 if s has no control byte and is at most ENVELOPE_MAX_VALUE long. */
int envelope_value_ok(const char *s);

/* Appends the file's text to out; call envelope_check first. */
void envelope_serialize(const struct envelope *env, struct buf *out);
/* Parses text[0..len) into env (initialised here).  0, or -1 with
 * "line N: why" in err and env left empty. */
int envelope_parse(const char *text, size_t len, struct envelope *env,
    char *err, size_t errlen);

const char *envelope_rcpt_state_name(enum rcpt_state st);

#endif
