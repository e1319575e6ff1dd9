/*
 * smtp_session.c - the SMTP server session: states, commands, replies.
 *
 * One transition function moves between the states of smtp_session.h and
 * logs every move.  Commands come from one table of {verb, check, proceed}:
 * the check enforces the order of RFC 5321 (503 5.5.1), the proceed
 * function parses and answers.  Every reply leaves through one function
 * that counts errors and logs refusals of MAIL, RCPT and DATA.  Nothing
 * here does I/O; asynchronous steps are actions the driver performs.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/proto.h"
#include "common/util.h"
#include "smtpd/smtp_session.h"

struct smtp_cmd {
	const char	*verb;
	int		 logrej;	/* 4xx/5xx replies are logged */
	int		(*check)(struct smtp_session *, struct smtp_reply *);
	enum smtp_action (*proceed)(struct smtp_session *, char *,
			    struct smtp_reply *);
};

static void smtp_reply_set(struct smtp_reply *r, int code, const char *enh,
    const char *fmt, ...) SM_PRINTF(4, 5);

/* ---- replies and states ---- */

static void
smtp_reply_set(struct smtp_reply *r, int code, const char *enh,
    const char *fmt, ...)
{
	va_list	ap;

	r->code = code;
	(void)strlcpy(r->enh, enh, sizeof(r->enh));
	va_start(ap, fmt);
	if (vsnprintf(r->text, sizeof(r->text), fmt, ap) < 0)
		r->text[0] = '\0';
	va_end(ap);
}

const char *
smtp_state_name(enum smtp_state st)
{
	switch (st) {
	case SMTP_INIT:		return "INIT";
	case SMTP_HELO:		return "HELO";
	case SMTP_MAIL:		return "MAIL";
	case SMTP_RCPT:		return "RCPT";
	case SMTP_DATA:		return "DATA";
	case SMTP_CLOSED:	return "CLOSED";
	}
	return "?";
}

const char *
smtp_close_reason_name(enum smtp_close_reason why)
{
	switch (why) {
	case SMTP_CLOSE_NONE:		return "none";
	case SMTP_CLOSE_QUIT:		return "quit";
	case SMTP_CLOSE_EOF:		return "eof";
	case SMTP_CLOSE_TIMEOUT:	return "timeout";
	case SMTP_CLOSE_SHUTDOWN:	return "shutdown";
	case SMTP_CLOSE_ERROR:		return "error";
	case SMTP_CLOSE_LIMIT:		return "limit";
	}
	return "?";
}

/* The one transition function. */
static void
smtp_enter(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	log_debug("session=%u state %s -> %s", s->id,
	    smtp_state_name(s->state), smtp_state_name(st));
	s->state = st;
}

/* Every reply passes here: errors are counted, refusals logged. */
static enum smtp_action
smtp_done(struct smtp_session *s, enum smtp_action a, int logrej,
    const struct smtp_reply *r)
{
	if (r->code >= 500)
		s->nerrors++;
	if (logrej && r->code >= 400)
		log_info("session=%u reject client=%s cmd=%s reply=\"%d %s %s\"",
		    s->id, s->client, s->cmd ? s->cmd : "UNKNOWN", r->code,
		    r->enh, r->text);
	return a;
}

static enum smtp_action
smtp_close(struct smtp_session *s, enum smtp_close_reason why)
{
	s->close_reason = why;
	smtp_enter(s, SMTP_CLOSED);
	return SMTP_A_CLOSE;
}

/* ---- the transaction ---- */

static void
smtp_txn_reset(struct smtp_session *s)
{
	size_t	i;

	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->rcpt_bytes = 0;
	s->sender[0] = '\0';
	s->msg_size = 0;
	smtp_enter(s, s->helo[0] != '\0' ? SMTP_HELO : SMTP_INIT);
}

/* Adds a recipient unless it is already there. */
static void
smtp_txn_add_rcpt(struct smtp_session *s, const char *addr)
{
	size_t	i;

	for (i = 0; i < s->nrcpt; i++)
		if (strcmp(s->rcpts[i], addr) == 0)
			return;
	s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1, sizeof(*s->rcpts));
	s->rcpts[s->nrcpt++] = xstrdup(addr);
	s->rcpt_bytes += strlen(addr) + sizeof(uint32_t);
}

static enum smtp_action
smtp_rcpt_accept(struct smtp_session *s, const char *addr,
    struct smtp_reply *r)
{
	smtp_txn_add_rcpt(s, addr);
	smtp_enter(s, SMTP_RCPT);
	smtp_reply_set(r, 250, "2.1.5", "Ok");
	return SMTP_A_REPLY;
}

/* ---- life cycle ---- */

void
smtp_session_init(struct smtp_session *s, struct smtp_server *srv,
    uint32_t id, const char *client, int relay)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->id = id;
	s->state = SMTP_INIT;
	s->wait = SMTP_A_REPLY;
	s->relay = relay;
	(void)strlcpy(s->client, client, sizeof(s->client));
}

void
smtp_session_free(struct smtp_session *s)
{
	size_t	i;

	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
}

void
smtp_session_greeting(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set(r, 220, "", "%s ESMTP strictmail",
	    s->srv->cfg->hostname);
}

/* ---- order checks (503 5.5.1) ---- */

static int
smtp_check_any(struct smtp_session *s, struct smtp_reply *r)
{
	(void)s;
	(void)r;
	return 0;
}

static int
smtp_check_mail(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_HELO)
		return 0;
	if (s->state == SMTP_INIT)
		smtp_reply_set(r, 503, "5.5.1", "Error: send HELO/EHLO first");
	else
		smtp_reply_set(r, 503, "5.5.1", "Error: nested MAIL command");
	return -1;
}

static int
smtp_check_rcpt(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_MAIL || s->state == SMTP_RCPT)
		return 0;
	smtp_reply_set(r, 503, "5.5.1", "Error: need MAIL command");
	return -1;
}

static int
smtp_check_data(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_RCPT)
		return 0;
	if (s->state == SMTP_MAIL)
		smtp_reply_set(r, 503, "5.5.1", "Error: need RCPT command");
	else
		smtp_reply_set(r, 503, "5.5.1", "Error: need MAIL command");
	return -1;
}

/* ---- HELO, EHLO ---- */

/* The argument of HELO/EHLO; 0 if it is good, else r is set. */
static int
smtp_helo_common(struct smtp_session *s, const char *args, int esmtp,
    struct smtp_reply *r)
{
	if (!smtp_parse_helo(args)) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	(void)strlcpy(s->helo, args, sizeof(s->helo));
	s->esmtp = esmtp;
	smtp_txn_reset(s);
	return 0;
}

static enum smtp_action
smtp_cmd_helo(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (smtp_helo_common(s, args, 0, r) == 0)
		smtp_reply_set(r, 250, "", "%s", s->srv->cfg->hostname);
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_ehlo(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (smtp_helo_common(s, args, 1, r) == 0)
		smtp_reply_set(r, 250, "", "%s\nPIPELINING\nSIZE %" PRIu64
		    "\n8BITMIME\nENHANCEDSTATUSCODES", s->srv->cfg->hostname,
		    s->srv->cfg->max_message_size);
	return SMTP_A_REPLY;
}

/* ---- MAIL ---- */

/* SIZE=n (RFC 1870): the announced size must be within the limit. */
static int
smtp_mail_size(struct smtp_session *s, const char *value,
    struct smtp_reply *r)
{
	uint64_t	size;

	if (value == NULL || parse_u64(value, 0, UINT64_MAX, &size) == -1) {
		smtp_reply_set(r, 501, "5.5.4", "Bad SIZE value");
		return -1;
	}
	if (size > s->srv->cfg->max_message_size) {
		smtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit");
		return -1;
	}
	return 0;
}

/* BODY=7BIT|8BITMIME (RFC 6152). */
static int
smtp_mail_body(const char *value, struct smtp_reply *r)
{
	if (value == NULL || (strcasecmp(value, "7BIT") != 0 &&
	    strcasecmp(value, "8BITMIME") != 0)) {
		smtp_reply_set(r, 501, "5.5.4", "Bad BODY value");
		return -1;
	}
	return 0;
}

/* The parameters of MAIL; 0 if all are fine, else r is set. */
static int
smtp_mail_params(struct smtp_session *s, char *rest, struct smtp_reply *r)
{
	struct smtp_param	 p[SMTP_PARAMS_MAX];
	int			 n, i, size = 0, body = 0, rc;

	if ((n = smtp_parse_params(rest, p, SMTP_PARAMS_MAX)) == -1) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax error in parameters");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!s->esmtp) {
			smtp_reply_set(r, 555, "5.5.4",
			    "Parameters need EHLO: %s", p[i].key);
			return -1;
		}
		if (strcasecmp(p[i].key, "SIZE") == 0 && size++ == 0)
			rc = smtp_mail_size(s, p[i].value, r);
		else if (strcasecmp(p[i].key, "BODY") == 0 && body++ == 0)
			rc = smtp_mail_body(p[i].value, r);
		else if (strcasecmp(p[i].key, "SIZE") == 0 ||
		    strcasecmp(p[i].key, "BODY") == 0) {
			smtp_reply_set(r, 501, "5.5.4", "Duplicate %s parameter",
			    p[i].key);
			rc = -1;
		} else {
			smtp_reply_set(r, 555, "5.5.4", "Unsupported option: %s",
			    p[i].key);
			rc = -1;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Sets r for a path that failed to parse or lacks a domain. */
static void
smtp_path_error(enum smtp_path_status st, const char *enh, const char *who,
    struct smtp_reply *r)
{
	if (st == PATH_TOOLONG)
		smtp_reply_set(r, 501, enh, "%s address too long", who);
	else if (st == PATH_OK)
		smtp_reply_set(r, 501, enh, "%s address must have a domain", who);
	else
		smtp_reply_set(r, 501, enh, "Bad %s address syntax", who);
}

static enum smtp_action
smtp_cmd_mail(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	struct smtp_path	 p;
	enum smtp_path_status	 st;
	const char		*path, *end;

	if (s->srv->space_low) {
		smtp_reply_set(r, 452, "4.3.1", "Insufficient system storage");
		return SMTP_A_REPLY;
	}
	if (!smtp_parse_keyword(args, "FROM:", &path)) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return SMTP_A_REPLY;
	}
	if ((st = smtp_parse_path(path, 1, &p, &end)) != PATH_OK ||
	    p.nodomain) {
		smtp_path_error(st, "5.1.7", "sender", r);
		return SMTP_A_REPLY;
	}
	if (*end != '\0' && *end != ' ') {
		smtp_reply_set(r, 501, "5.1.7", "Bad sender address syntax");
		return SMTP_A_REPLY;
	}
	if (smtp_mail_params(s, args + (end - args), r) == -1)
		return SMTP_A_REPLY;
	smtp_txn_reset(s);
	(void)strlcpy(s->sender, p.addr, sizeof(s->sender));
	smtp_enter(s, SMTP_MAIL);
	smtp_reply_set(r, 250, "2.1.0", "Ok");
	return SMTP_A_REPLY;
}

/* ---- RCPT ---- */

/* 1 if every domain of the source route is local. */
static int
smtp_route_local(struct smtp_session *s, const char *route)
{
	char	 copy[SMTP_PATH_MAX + 1], *d, *save = NULL;

	(void)strlcpy(copy, route, sizeof(copy));
	for (d = strtok_r(copy, ",", &save); d != NULL;
	    d = strtok_r(NULL, ",", &save))
		if (!config_is_local_domain(s->srv->cfg, str_lower(d)))
			return 0;
	return 1;
}

static enum smtp_action
smtp_relay_denied(const struct smtp_path *p, struct smtp_reply *r)
{
	smtp_reply_set(r, 550, "5.7.1", "<%s>: Relay access denied", p->addr);
	return SMTP_A_REPLY;
}

/* The policy for a syntactically good recipient with a domain. */
static enum smtp_action
smtp_rcpt_policy(struct smtp_session *s, const struct smtp_path *p,
    struct smtp_reply *r)
{
	char	domain[SMTP_DOMAIN_MAX + 1], addr[SMTP_PATH_MAX + 1];
	int	local;

	(void)strlcpy(domain, p->domain, sizeof(domain));
	str_lower(domain);
	local = config_is_local_domain(s->srv->cfg, domain);
	if (!s->relay && (strpbrk(p->plain, "%!@") != NULL ||
	    !smtp_route_local(s, p->route)))
		return smtp_relay_denied(p, r);
	if (!local && !s->relay)
		return smtp_relay_denied(p, r);
	if (!bsnprintf(addr, sizeof(addr), "%s@%s", p->local, domain)) {
		smtp_path_error(PATH_TOOLONG, "5.1.3", "recipient", r);
		return SMTP_A_REPLY;
	}
	if (!local || strcasecmp(p->plain, "postmaster") == 0)
		return smtp_rcpt_accept(s, addr, r);
	(void)strlcpy(s->lookup_addr, addr, sizeof(s->lookup_addr));
	(void)strlcpy(s->lookup_local, p->plain, sizeof(s->lookup_local));
	(void)strlcpy(s->lookup_domain, domain, sizeof(s->lookup_domain));
	s->wait = SMTP_A_LOOKUP;
	return SMTP_A_LOOKUP;
}

/* No RCPT parameter is supported yet (DSN comes later). */
static int
smtp_rcpt_params(char *rest, struct smtp_reply *r)
{
	struct smtp_param	p[SMTP_PARAMS_MAX];
	int			n;

	if ((n = smtp_parse_params(rest, p, SMTP_PARAMS_MAX)) == 0)
		return 0;
	if (n == -1)
		smtp_reply_set(r, 501, "5.5.4", "Syntax error in parameters");
	else
		smtp_reply_set(r, 555, "5.5.4", "Unsupported option: %s",
		    p[0].key);
	return -1;
}

static enum smtp_action
smtp_cmd_rcpt(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	struct smtp_path	 p;
	enum smtp_path_status	 st;
	const char		*path, *end;

	if (!smtp_parse_keyword(args, "TO:", &path)) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return SMTP_A_REPLY;
	}
	if ((st = smtp_parse_path(path, 0, &p, &end)) != PATH_OK ||
	    (*end != '\0' && *end != ' ')) {
		smtp_path_error(st == PATH_OK ? PATH_SYNTAX : st, "5.1.3",
		    "recipient", r);
		return SMTP_A_REPLY;
	}
	if (smtp_rcpt_params(args + (end - args), r) == -1)
		return SMTP_A_REPLY;
	if (s->nrcpt >= s->srv->cfg->max_recipients ||
	    s->rcpt_bytes + SMTP_PATH_MAX + 4 > SMTP_RCPT_BYTES_MAX) {
		smtp_reply_set(r, 452, "4.5.3", "Error: too many recipients");
		return SMTP_A_REPLY;
	}
	if (p.nodomain) {
		if (p.route[0] == '\0' && strcasecmp(p.plain, "postmaster") == 0)
			return smtp_rcpt_accept(s, "postmaster", r);
		smtp_path_error(PATH_OK, "5.1.3", "recipient", r);
		return SMTP_A_REPLY;
	}
	return smtp_rcpt_policy(s, &p, r);
}

/* ---- DATA, RSET, NOOP, QUIT, VRFY, HELP ---- */

static enum smtp_action
smtp_cmd_data(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (*args != '\0') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: DATA");
		return SMTP_A_REPLY;
	}
	s->wait = SMTP_A_OPEN;
	return SMTP_A_OPEN;
}

static enum smtp_action
smtp_cmd_rset(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (*args != '\0') {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: RSET");
		return SMTP_A_REPLY;
	}
	smtp_txn_reset(s);
	smtp_reply_set(r, 250, "2.0.0", "Ok");
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_noop(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)s;
	(void)args;
	smtp_reply_set(r, 250, "2.0.0", "Ok");
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_quit(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)args;
	smtp_reply_set(r, 221, "2.0.0", "Bye");
	return smtp_close(s, SMTP_CLOSE_QUIT);
}

static enum smtp_action
smtp_cmd_vrfy(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)s;
	if (*args == '\0')
		smtp_reply_set(r, 501, "5.5.4", "Syntax: VRFY address");
	else
		smtp_reply_set(r, 252, "2.5.0", "Cannot VRFY user, but will "
		    "accept message and attempt delivery");
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_help(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)s;
	(void)args;
	smtp_reply_set(r, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP");
	return SMTP_A_REPLY;
}

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO", 0, smtp_check_any,	smtp_cmd_helo },
	{ "EHLO", 0, smtp_check_any,	smtp_cmd_ehlo },
	{ "MAIL", 1, smtp_check_mail,	smtp_cmd_mail },
	{ "RCPT", 1, smtp_check_rcpt,	smtp_cmd_rcpt },
	{ "DATA", 1, smtp_check_data,	smtp_cmd_data },
	{ "RSET", 0, smtp_check_any,	smtp_cmd_rset },
	{ "NOOP", 0, smtp_check_any,	smtp_cmd_noop },
	{ "QUIT", 0, smtp_check_any,	smtp_cmd_quit },
	{ "VRFY", 0, smtp_check_any,	smtp_cmd_vrfy },
	{ "HELP", 0, smtp_check_any,	smtp_cmd_help },
};

static const struct smtp_cmd *
smtp_cmd_find(const char *verb)
{
	size_t	i;

	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (strcmp(smtp_cmds[i].verb, verb) == 0)
			return &smtp_cmds[i];
	return NULL;
}

/* ---- command input ---- */

static void
smtp_session_expect(const struct smtp_session *s, enum smtp_action wait,
    const char *what)
{
	if (s->wait != wait)
		fatalx("session=%u: %s while %s in state %s", s->id, what,
		    wait == SMTP_A_REPLY ? "waiting" : "not waiting",
		    smtp_state_name(s->state));
}

/* The line's own faults (500 5.5.2); 0 if it is clean.  text gets the
 * command without CRLF and trailing blanks. */
static int
smtp_line_check(const char *line, size_t len, char *text, size_t textsize,
    struct smtp_reply *r)
{
	if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '\r') {
		smtp_reply_set(r, 500, "5.5.2", "Error: bare LF received");
		return -1;
	}
	len -= 2;
	if (memchr(line, '\0', len) != NULL) {
		smtp_reply_set(r, 500, "5.5.2", "Error: NUL character received");
		return -1;
	}
	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL) {
		smtp_reply_set(r, 500, "5.5.2", "Error: bare CR or LF received");
		return -1;
	}
	if (len >= textsize) {
		smtp_reply_set(r, 500, "5.5.2", "Error: line too long");
		return -1;
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	memcpy(text, line, len);
	text[len] = '\0';
	return 0;
}

static int
smtp_too_many_errors(struct smtp_session *s)
{
	unsigned	max = s->srv->cfg->max_errors;

	return max != 0 && s->nerrors >= max;
}

static enum smtp_action
smtp_error_limit(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set(r, 421, "4.7.0", "%s Error: too many errors",
	    s->srv->cfg->hostname);
	(void)smtp_done(s, SMTP_A_CLOSE, 1, r);
	return smtp_close(s, SMTP_CLOSE_LIMIT);
}

enum smtp_action
smtp_session_command(struct smtp_session *s, const char *line, size_t len,
    struct smtp_reply *r)
{
	char			 text[SMTP_LINE_MAX + 1], verb[SMTP_VERB_MAX];
	char			*args;
	const struct smtp_cmd	*c = NULL;
	int			 bad;

	smtp_session_expect(s, SMTP_A_REPLY, "a command");
	if (s->state == SMTP_DATA || s->state == SMTP_CLOSED)
		fatalx("session=%u: a command in state %s", s->id,
		    smtp_state_name(s->state));
	bad = smtp_line_check(line, len, text, sizeof(text), r);
	if (bad == 0 && smtp_parse_verb(text, verb, sizeof(verb), &args) == 0)
		c = smtp_cmd_find(verb);
	s->cmd = c ? c->verb : NULL;
	if (smtp_too_many_errors(s))
		return smtp_error_limit(s, r);
	if (bad)
		return smtp_done(s, SMTP_A_REPLY, 0, r);
	if (c == NULL) {
		smtp_reply_set(r, 500, "5.5.1", "Error: command not recognized");
		return smtp_done(s, SMTP_A_REPLY, 0, r);
	}
	if (c->check(s, r) == -1)
		return smtp_done(s, SMTP_A_REPLY, c->logrej, r);
	return smtp_done(s, c->proceed(s, args, r),
	    c->logrej, r);
}

enum smtp_action
smtp_session_line_too_long(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_REPLY, "a long line");
	s->cmd = NULL;
	if (smtp_too_many_errors(s))
		return smtp_error_limit(s, r);
	smtp_reply_set(r, 500, "5.5.2", "Error: line too long");
	return smtp_done(s, SMTP_A_REPLY, 0, r);
}

/* ---- results of the asynchronous steps ---- */

enum smtp_action
smtp_session_lookup_result(struct smtp_session *s, int result,
    struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_LOOKUP, "a lookup result");
	s->wait = SMTP_A_REPLY;
	switch (result) {
	case LOOKUP_FOUND:
		return smtp_rcpt_accept(s, s->lookup_addr, r);
	case LOOKUP_NOTFOUND:
		smtp_reply_set(r, 550, "5.1.1", "<%s>: Recipient address "
		    "rejected: User unknown", s->lookup_addr);
		break;
	case LOOKUP_TEMPFAIL:
		smtp_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup "
		    "failure, try again later", s->lookup_addr);
		break;
	default:
		fatalx("session=%u: lookup result %d", s->id, result);
	}
	return smtp_done(s, SMTP_A_REPLY, 1, r);
}

/* The reply for a queue failure; SMTP_A_CLOSE when the queue stops. */
static enum smtp_action
smtp_queue_fail(struct smtp_session *s, int reason, struct smtp_reply *r)
{
	switch (reason) {
	case QFAIL_TEMP:
		smtp_reply_set(r, 451, "4.3.0", "Error: queue file write "
		    "error, try again later");
		return SMTP_A_REPLY;
	case QFAIL_NOSPACE:
		smtp_reply_set(r, 452, "4.3.1", "Insufficient system storage");
		return SMTP_A_REPLY;
	case QFAIL_SHUTDOWN:
		smtp_reply_set(r, 421, "4.3.2", "%s Service shutting down",
		    s->srv->cfg->hostname);
		return smtp_close(s, SMTP_CLOSE_SHUTDOWN);
	}
	fatalx("session=%u: queue failure reason %d", s->id, reason);
}

enum smtp_action
smtp_session_open_result(struct smtp_session *s, const char *qid,
    int reason, struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_OPEN, "an open result");
	s->wait = SMTP_A_REPLY;
	s->cmd = "DATA";
	if (qid == NULL)
		return smtp_done(s, smtp_queue_fail(s, reason, r), 1, r);
	if (strlcpy(s->qid, qid, sizeof(s->qid)) >= sizeof(s->qid))
		fatalx("session=%u: queue id too long", s->id);
	s->opened = 1;
	smtp_enter(s, SMTP_DATA);
	smtp_reply_set(r, 354, "", "End data with <CR><LF>.<CR><LF>");
	return SMTP_A_DATA;
}

enum smtp_action
smtp_session_data_done(struct smtp_session *s, enum smtp_data_status st,
    uint64_t size, struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_REPLY, "the end of data");
	if (s->state != SMTP_DATA || !s->opened)
		fatalx("session=%u: end of data in state %s", s->id,
		    smtp_state_name(s->state));
	s->opened = 0;
	s->msg_size = size;
	switch (st) {
	case SMTP_DATA_OK:
		s->wait = SMTP_A_COMMIT;
		return SMTP_A_COMMIT;
	case SMTP_DATA_BARE:
		smtp_reply_set(r, 550, "5.5.2", "Error: bare CR or LF in "
		    "message, message refused");
		break;
	case SMTP_DATA_NUL:
		smtp_reply_set(r, 554, "5.6.0", "Error: NUL byte in message, "
		    "message refused");
		break;
	case SMTP_DATA_SIZE:
		smtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed "
		    "limit");
		break;
	case SMTP_DATA_WRITE:
		smtp_reply_set(r, 451, "4.3.0", "Error writing message, try "
		    "again later");
		break;
	}
	smtp_txn_reset(s);
	return smtp_done(s, SMTP_A_ABORT, 1, r);
}

int
smtp_session_abandon(struct smtp_session *s)
{
	if (!s->opened)
		return 0;
	s->opened = 0;
	return 1;
}

static void
smtp_log_accepted(struct smtp_session *s)
{
	log_info("%s: accepted session=%u client=%s helo=%s from=<%s> "
	    "size=%" PRIu64 " nrcpt=%zu proto=%s", s->qid, s->id, s->client,
	    s->helo, s->sender, s->msg_size, s->nrcpt,
	    s->esmtp ? "ESMTP" : "SMTP");
}

enum smtp_action
smtp_session_commit_result(struct smtp_session *s, int reason,
    struct smtp_reply *r)
{
	enum smtp_action	a;

	smtp_session_expect(s, SMTP_A_COMMIT, "a commit result");
	s->wait = SMTP_A_REPLY;
	if (reason != 0) {
		a = smtp_queue_fail(s, reason, r);
		if (a != SMTP_A_CLOSE)
			smtp_txn_reset(s);
		return smtp_done(s, a, 1, r);
	}
	s->nmessages++;
	smtp_log_accepted(s);
	smtp_reply_set(r, 250, "2.0.0", "Ok: queued as %s", s->qid);
	smtp_txn_reset(s);
	return SMTP_A_REPLY;
}

/* ---- endings decided by the driver ---- */

void
smtp_session_timeout(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set(r, 421, "4.4.2", "%s Timeout, closing",
	    s->srv->cfg->hostname);
	(void)smtp_close(s, SMTP_CLOSE_TIMEOUT);
}

void
smtp_session_shutdown(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set(r, 421, "4.3.2", "%s Service shutting down",
	    s->srv->cfg->hostname);
	(void)smtp_close(s, SMTP_CLOSE_SHUTDOWN);
}

void
smtp_session_limit(struct smtp_session *s, struct smtp_reply *r)
{
	s->cmd = "CONNECT";
	smtp_reply_set(r, 421, "4.7.0", "Too many connections, try again "
	    "later");
	(void)smtp_done(s, SMTP_A_CLOSE, 1, r);
	(void)smtp_close(s, SMTP_CLOSE_LIMIT);
}

void
smtp_session_closed(struct smtp_session *s, enum smtp_close_reason why)
{
	if (s->close_reason == SMTP_CLOSE_NONE)
		s->close_reason = why;
}

/* ---- output ---- */

void
smtp_reply_format(const struct smtp_reply *r, struct buf *out)
{
	const char	*line = r->text, *nl;
	size_t		 n;

	for (;;) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		buf_printf(out, "%03d%c", r->code, nl ? '-' : ' ');
		if (r->enh[0] != '\0')
			buf_printf(out, "%s ", r->enh);
		buf_add(out, line, n);
		buf_add(out, "\r\n", 2);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
}

void
smtp_session_received(const struct smtp_session *s, time_t now,
    struct buf *out)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm	tm;

	if (gmtime_r(&now, &tm) == NULL)
		fatal("gmtime_r");
	buf_printf(out, "Received: from %s (%s)\r\n\tby %s (strictmail) "
	    "with %s id %s;\r\n\t%s, %d %s %d %02d:%02d:%02d +0000\r\n",
	    s->helo, s->client, s->srv->cfg->hostname,
	    s->esmtp ? "ESMTP" : "SMTP", s->qid, days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}
