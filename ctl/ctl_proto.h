/*
 * ctl_proto.h - the text protocol of the control socket, shared by the
 * control process (ctl/control.c) and strictmailctl(8).  Pure: no I/O.
 *
 * One request per connection.  The client sends one line,
 *   strictmail-ctl <version> <command> [argument]
 * with command "queue", "show" (argument: a queue ID), "flush",
 * "reload", or one of the MTA-STS cache's: "sts-list", "sts-show",
 * "sts-refresh", "sts-check" (argument: a domain) and "sts-flush"
 * (a domain, or none for all); the operator's "delete", "hold",
 * "release" (argument: a queue ID) and "status"; "pause" and "resume"
 * (argument: "delivery", the only thing that can be paused).  Commands
 * are only ever
 * added: an older strictmaild answers a newer one with "error unknown
 * command 'x'", which strictmailctl reports as such, so the version
 * stays 1.  The server answers with lines
 * (LF-terminated):
 *   message <id> <size> <arrival> <sender>    one per queued message
 *   rcpt <address> <state> <last error>       its recipients, after it
 *   fact <key> <value>                        "show" only: envelope facts
 *   flushed <n>                               "flush": recipients made due
 *   text <line>                               sts-*: one line of output
 *   stat <key> <value>                        "status": one fact
 * and a last line "ok" or "error <text>" (the text as it is, to the end
 * of the line).  Every field but the error text is encoded so that it
 * holds no space or control byte: bytes up to 0x20, 0x7F and '%' become
 * %XX; an empty value is "-", and a value "-" is "%2D".  The sender is
 * "" for the null sender.  A different version gets
 * "error unsupported protocol version: strictmaild speaks 1".
 */
#ifndef SM_CTL_PROTO_H
#define SM_CTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define CTL_PROTO_MAGIC		"strictmail-ctl"
#define CTL_PROTO_VERSION	1
#define CTL_LINE_MAX		1024	/* bytes of a request line, with LF */
#define CTL_ARG_MAX		256	/* bytes of the argument, with NUL */

enum ctl_cmd {
	CTL_QUEUE = 1,
	CTL_SHOW,
	CTL_FLUSH,
	CTL_RELOAD,
	CTL_STS_LIST,
	CTL_STS_SHOW,
	CTL_STS_REFRESH,
	CTL_STS_FLUSH,
	CTL_STS_CHECK,
	CTL_DELETE,
	CTL_HOLD,
	CTL_RELEASE,
	CTL_STATUS,
	CTL_PAUSE,
	CTL_RESUME,
};

/* 1 for the sts-* commands (answered by the delivery process). */
int ctl_proto_is_sts(enum ctl_cmd cmd);

struct ctl_request {
	enum ctl_cmd	cmd;
	char		arg[CTL_ARG_MAX];	/* "" when the command takes none */
};

/* The command's word in a request ("queue", "show", ...). */
const char *ctl_proto_cmd_name(enum ctl_cmd cmd);
/* 1 if only root may run it (flush, reload, sts-refresh, sts-flush,
 * sts-check). */
int ctl_proto_needs_root(enum ctl_cmd cmd);
/* 1 if only root or a member of admin-group may run it (delete, hold,
 * release, pause, resume). */
int ctl_proto_needs_admin(enum ctl_cmd cmd);
/* 1 if its argument is a queue ID (show, delete, hold, release). */
int ctl_proto_takes_id(enum ctl_cmd cmd);

/*
 * Parses a request line (without its LF; a CR before it is taken off by
 * the caller).  0 and *req, or -1 with the text of the error reply in err
 * ("unsupported protocol version", "unknown command 'x'", ...).
 */
int ctl_proto_parse_request(const char *line, struct ctl_request *req,
    char *err, size_t errlen);
/* Appends the request line (with its LF) to out. */
void ctl_proto_put_request(struct buf *out, enum ctl_cmd cmd,
    const char *arg);

/* Appends one field, encoded as above (no separator). */
void ctl_proto_put_field(struct buf *out, const char *value);
/* Decodes a field in place; 0, or -1 if it is not a valid encoding. */
int ctl_proto_decode_field(char *field);

/* Reply lines, each with its LF. */
void ctl_proto_put_message(struct buf *out, const char *id, uint64_t size,
    uint64_t arrival, const char *sender);
void ctl_proto_put_rcpt(struct buf *out, const char *addr, const char *state,
    const char *error);
void ctl_proto_put_fact(struct buf *out, const char *key, const char *value);
void ctl_proto_put_flushed(struct buf *out, uint32_t n);
void ctl_proto_put_text(struct buf *out, const char *text);
void ctl_proto_put_stat(struct buf *out, const char *key, const char *value);
void ctl_proto_put_ok(struct buf *out);
/* Control bytes of text become '?'. */
void ctl_proto_put_error(struct buf *out, const char *text);

enum ctl_reply_type {
	CTL_R_MESSAGE = 1,	/* f[0] id, f[1] size, f[2] arrival, f[3] sender */
	CTL_R_RCPT,		/* f[0] address, f[1] state, f[2] last error */
	CTL_R_FACT,		/* f[0] key, f[1] value */
	CTL_R_FLUSHED,		/* num */
	CTL_R_TEXT,		/* f[0] the line */
	CTL_R_STAT,		/* f[0] key, f[1] value */
	CTL_R_OK,
	CTL_R_ERROR,		/* f[0] the text */
};

struct ctl_reply {
	enum ctl_reply_type	 type;
	char			*f[4];		/* pointing into the line */
	uint64_t		 num;		/* message: size; flushed: n */
	uint64_t		 arrival;	/* message */
};

/*
 * Parses one reply line (without its LF), decoding its fields in place.
 * 0, or -1 if the line is not one of the above.
 */
int ctl_proto_parse_reply(char *line, struct ctl_reply *r);

#endif
