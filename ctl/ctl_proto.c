/*
 * ctl_proto.c - the control socket's text protocol (ctl_proto.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "ctl/ctl_proto.h"

static const char *const ctl_proto_names[] = {
	[CTL_QUEUE] = "queue",
	[CTL_SHOW] = "show",
	[CTL_FLUSH] = "flush",
	[CTL_RELOAD] = "reload",
	[CTL_STS_LIST] = "sts-list",
	[CTL_STS_SHOW] = "sts-show",
	[CTL_STS_REFRESH] = "sts-refresh",
	[CTL_STS_FLUSH] = "sts-flush",
	[CTL_STS_CHECK] = "sts-check",
	[CTL_DELETE] = "delete",
	[CTL_HOLD] = "hold",
	[CTL_RELEASE] = "release",
	[CTL_STATUS] = "status",
	[CTL_PAUSE] = "pause",
	[CTL_RESUME] = "resume",
};
#define CTL_PROTO_NCMD	(sizeof(ctl_proto_names) / sizeof(ctl_proto_names[0]))

const char *
ctl_proto_cmd_name(enum ctl_cmd cmd)
{
	if ((size_t)cmd >= CTL_PROTO_NCMD || ctl_proto_names[cmd] == NULL)
		return "unknown";
	return ctl_proto_names[cmd];
}

int
ctl_proto_needs_root(enum ctl_cmd cmd)
{
	return cmd == CTL_FLUSH || cmd == CTL_RELOAD ||
	    cmd == CTL_STS_REFRESH || cmd == CTL_STS_FLUSH ||
	    cmd == CTL_STS_CHECK;
}

int
ctl_proto_needs_admin(enum ctl_cmd cmd)
{
	return cmd == CTL_DELETE || cmd == CTL_HOLD || cmd == CTL_RELEASE ||
	    cmd == CTL_PAUSE || cmd == CTL_RESUME;
}

int
ctl_proto_takes_id(enum ctl_cmd cmd)
{
	return cmd == CTL_SHOW || cmd == CTL_DELETE || cmd == CTL_HOLD ||
	    cmd == CTL_RELEASE;
}

int
ctl_proto_is_sts(enum ctl_cmd cmd)
{
	return cmd >= CTL_STS_LIST && cmd <= CTL_STS_CHECK;
}

/* Splits s at single spaces into at most max words (in place). */
static int
ctl_proto_split(char *s, char **w, int max)
{
	int	n = 0;

	while (*s != '\0') {
		if (n == max)
			return -1;
		w[n++] = s;
		while (*s != '\0' && *s != ' ')
			s++;
		if (*s == ' ') {
			*s++ = '\0';
			if (*s == '\0' || *s == ' ')
				return -1;	/* empty word */
		}
	}
	return n;
}

static int
ctl_proto_line_ok(const char *line)
{
	const unsigned char	*s;

	if (strlen(line) >= CTL_LINE_MAX)
		return 0;
	for (s = (const unsigned char *)line; *s != '\0'; s++)
		if (*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
ctl_proto_cmd(const char *word, enum ctl_cmd *cmd)
{
	size_t	i;

	for (i = 1; i < CTL_PROTO_NCMD; i++)
		if (strcmp(word, ctl_proto_names[i]) == 0) {
			*cmd = (enum ctl_cmd)i;
			return 0;
		}
	return -1;
}

/* The argument of the command: show, delete, hold, release, pause,
 * resume and sts-show, -refresh and -check take one, sts-flush one or
 * none, the others none.  pause and resume take "delivery" only. */
static int
ctl_proto_args(struct ctl_request *req, char **w, int n, char *err,
    size_t errlen)
{
	int	want = req->cmd == CTL_SHOW || req->cmd == CTL_STS_SHOW ||
		    req->cmd == CTL_STS_REFRESH || req->cmd == CTL_STS_CHECK ||
	    ctl_proto_needs_admin(req->cmd);

	if (req->cmd == CTL_STS_FLUSH)
		want = n - 3 == 1;
	if (n - 3 != want) {
		(void)bsnprintf(err, errlen, "%s takes %s", ctl_proto_cmd_name(
		    req->cmd), want ? "one argument" : "no argument");
		return -1;
	}
	if (want && strlcpy(req->arg, w[3], sizeof(req->arg)) >=
	    sizeof(req->arg)) {
		(void)bsnprintf(err, errlen, "argument too long");
		return -1;
	}
	if ((req->cmd == CTL_PAUSE || req->cmd == CTL_RESUME) &&
	    strcmp(req->arg, "delivery") != 0) {
		(void)bsnprintf(err, errlen, "%s: only 'delivery' can be "
		    "paused or resumed", ctl_proto_cmd_name(req->cmd));
		return -1;
	}
	return 0;
}

int
ctl_proto_parse_request(const char *line, struct ctl_request *req,
    char *err, size_t errlen)
{
	char		 copy[CTL_LINE_MAX], *w[5];
	int		 n;
	uint64_t	 v;

	memset(req, 0, sizeof(*req));
	if (!ctl_proto_line_ok(line)) {
		(void)bsnprintf(err, errlen, "malformed request");
		return -1;
	}
	(void)strlcpy(copy, line, sizeof(copy));
	n = ctl_proto_split(copy, w, 5);
	if (n < 2 || strcmp(w[0], CTL_PROTO_MAGIC) != 0) {
		(void)bsnprintf(err, errlen, "malformed request");
		return -1;
	}
	/* One spelling per version: "01" is not "1". */
	if (parse_u64(w[1], 0, UINT32_MAX, &v) == -1 ||
	    (w[1][0] == '0' && w[1][1] != '\0') || v != CTL_PROTO_VERSION) {
		(void)bsnprintf(err, errlen, "unsupported protocol version: "
		    "strictmaild speaks %d", CTL_PROTO_VERSION);
		return -1;
	}
	if (n < 3) {
		(void)bsnprintf(err, errlen, "no command");
		return -1;
	}
	if (ctl_proto_cmd(w[2], &req->cmd) == -1) {
		(void)bsnprintf(err, errlen, "unknown command '%.40s'", w[2]);
		return -1;
	}
	return ctl_proto_args(req, w, n, err, errlen);
}

void
ctl_proto_put_request(struct buf *out, enum ctl_cmd cmd, const char *arg)
{
	buf_printf(out, "%s %d %s", CTL_PROTO_MAGIC, CTL_PROTO_VERSION,
	    ctl_proto_cmd_name(cmd));
	if (arg != NULL && arg[0] != '\0')
		buf_printf(out, " %s", arg);
	buf_addch(out, '\n');
}

/* ---- fields ---- */

void
ctl_proto_put_field(struct buf *out, const char *value)
{
	const unsigned char	*s;

	if (value[0] == '\0') {
		buf_addch(out, '-');
		return;
	}
	if (strcmp(value, "-") == 0) {
		buf_addstr(out, "%2D");
		return;
	}
	for (s = (const unsigned char *)value; *s != '\0'; s++) {
		if (*s <= 0x20 || *s == 0x7f || *s == '%')
			buf_printf(out, "%%%02X", *s);
		else
			buf_addch(out, (char)*s);
	}
}

static int
ctl_proto_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
ctl_proto_decode_field(char *field)
{
	char	*r = field, *w = field;
	int	 hi, lo;

	if (strcmp(field, "-") == 0) {
		field[0] = '\0';
		return 0;
	}
	while (*r != '\0') {
		if (*r != '%') {
			*w++ = *r++;
			continue;
		}
		if ((hi = ctl_proto_hex(r[1])) == -1 ||
		    (lo = ctl_proto_hex(r[2])) == -1 || (hi == 0 && lo == 0))
			return -1;
		*w++ = (char)(hi * 16 + lo);
		r += 3;
	}
	*w = '\0';
	return 0;
}

/* ---- reply lines ---- */

void
ctl_proto_put_message(struct buf *out, const char *id, uint64_t size,
    uint64_t arrival, const char *sender)
{
	buf_addstr(out, "message ");
	ctl_proto_put_field(out, id);
	buf_printf(out, " %llu %llu ", (unsigned long long)size,
	    (unsigned long long)arrival);
	ctl_proto_put_field(out, sender);
	buf_addch(out, '\n');
}

void
ctl_proto_put_rcpt(struct buf *out, const char *addr, const char *state,
    const char *error)
{
	buf_addstr(out, "rcpt ");
	ctl_proto_put_field(out, addr);
	buf_addch(out, ' ');
	ctl_proto_put_field(out, state);
	buf_addch(out, ' ');
	ctl_proto_put_field(out, error);
	buf_addch(out, '\n');
}

void
ctl_proto_put_fact(struct buf *out, const char *key, const char *value)
{
	buf_addstr(out, "fact ");
	ctl_proto_put_field(out, key);
	buf_addch(out, ' ');
	ctl_proto_put_field(out, value);
	buf_addch(out, '\n');
}

void
ctl_proto_put_text(struct buf *out, const char *text)
{
	buf_addstr(out, "text ");
	ctl_proto_put_field(out, text);
	buf_addch(out, '\n');
}

void
ctl_proto_put_stat(struct buf *out, const char *key, const char *value)
{
	buf_addstr(out, "stat ");
	ctl_proto_put_field(out, key);
	buf_addch(out, ' ');
	ctl_proto_put_field(out, value);
	buf_addch(out, '\n');
}

void
ctl_proto_put_flushed(struct buf *out, uint32_t n)
{
	buf_printf(out, "flushed %u\n", n);
}

void
ctl_proto_put_ok(struct buf *out)
{
	buf_addstr(out, "ok\n");
}

void
ctl_proto_put_error(struct buf *out, const char *text)
{
	const unsigned char	*s;

	buf_addstr(out, "error ");
	for (s = (const unsigned char *)text; *s != '\0'; s++)
		buf_addch(out, *s < 0x20 || *s == 0x7f ? '?' : (char)*s);
	buf_addch(out, '\n');
}

static int
ctl_proto_decode_all(char **w, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		if (ctl_proto_decode_field(w[i]) == -1)
			return -1;
	return 0;
}

/* "message", "rcpt", "fact", "flushed" with their words after the first. */
static int
ctl_proto_parse_words(char **w, int n, struct ctl_reply *r)
{
	if (strcmp(w[0], "message") == 0 && n == 5) {
		r->type = CTL_R_MESSAGE;
		if (parse_u64(w[2], 0, UINT64_MAX, &r->num) == -1 ||
		    parse_u64(w[3], 0, UINT64_MAX, &r->arrival) == -1)
			return -1;
		r->f[0] = w[1];
		r->f[1] = w[2];
		r->f[2] = w[3];
		r->f[3] = w[4];
		return ctl_proto_decode_all(&w[1], 4);
	}
	if (strcmp(w[0], "rcpt") == 0 && n == 4) {
		r->type = CTL_R_RCPT;
		r->f[0] = w[1];
		r->f[1] = w[2];
		r->f[2] = w[3];
		return ctl_proto_decode_all(&w[1], 3);
	}
	if (strcmp(w[0], "fact") == 0 && n == 3) {
		r->type = CTL_R_FACT;
		r->f[0] = w[1];
		r->f[1] = w[2];
		return ctl_proto_decode_all(&w[1], 2);
	}
	if (strcmp(w[0], "stat") == 0 && n == 3) {
		r->type = CTL_R_STAT;
		r->f[0] = w[1];
		r->f[1] = w[2];
		return ctl_proto_decode_all(&w[1], 2);
	}
	if (strcmp(w[0], "text") == 0 && n == 2) {
		r->type = CTL_R_TEXT;
		r->f[0] = w[1];
		return ctl_proto_decode_all(&w[1], 1);
	}
	if (strcmp(w[0], "flushed") == 0 && n == 2) {
		r->type = CTL_R_FLUSHED;
		return parse_u64(w[1], 0, UINT32_MAX, &r->num);
	}
	return -1;
}

int
ctl_proto_parse_reply(char *line, struct ctl_reply *r)
{
	char	*w[6];
	int	 n;

	memset(r, 0, sizeof(*r));
	if (strcmp(line, "ok") == 0) {
		r->type = CTL_R_OK;
		return 0;
	}
	if (strncmp(line, "error ", 6) == 0) {
		r->type = CTL_R_ERROR;
		r->f[0] = line + 6;
		return 0;
	}
	if ((n = ctl_proto_split(line, w, 6)) < 1)
		return -1;
	return ctl_proto_parse_words(w, n, r);
}
