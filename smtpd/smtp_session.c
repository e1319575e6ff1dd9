/*
 * smtp_session.c - the SMTP server session: states, commands, replies.
 *
 * One transition function moves between the states of smtp_session.h and
 * logs every move.  Commands come from one table of {verb, check, proceed}:
 * the check enforces the order of RFC 5321 (503 5.5.1), the proceed
 * function parses and answers.  Every reply comes from the table in
 * smtp_reply.c by its SMTP_R_* name and leaves through one function
 * that counts errors (4xx and 5xx), flags the replies to delay past
 * soft-error-limit, and logs every refusal (any 4xx or 5xx reply, and
 * VRFY), the first SMTP_REJECT_LOG_MAX of a session, counting the rest.
 * Client text in log lines goes through logfmt (common/logfmt.h).
 * Nothing here does I/O; asynchronous steps, the reading of a message and
 * the TLS handshake are actions the driver performs.
 */
#include <sys/random.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/logfmt.h"
#include "common/proto.h"
#include "common/util.h"
#include "lookup/lookup.h"
#include "smtpd/sasl.h"
#include "smtpd/smtp_session.h"

struct smtp_cmd {
	const char	*verb;
	int		(*check)(struct smtp_session *, struct smtp_reply *);
	enum smtp_action (*proceed)(struct smtp_session *, char *,
			    struct smtp_reply *);
};

/* The parameters of one MAIL command, kept only if all are good. */
struct smtp_mail_params {
	int		 size;		/* seen */
	unsigned	 body;
	int		 smtputf8;
	unsigned	 ret;
	const char	*envid;
};

/* The parameters of one RCPT command. */
struct smtp_rcpt_params {
	unsigned	 notify;
	const char	*orcpt;
};

/* ---- states ---- */

const char *
smtp_state_name(enum smtp_state st)
{
	switch (st) {
	case SMTP_INIT:		return "INIT";
	case SMTP_HELO:		return "HELO";
	case SMTP_MAIL:		return "MAIL";
	case SMTP_RCPT:		return "RCPT";
	case SMTP_DATA:		return "DATA";
	case SMTP_BDAT:		return "BDAT";
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
	case SMTP_CLOSE_BUSY:		return "busy";
	case SMTP_CLOSE_DEADLINE:	return "deadline";
	}
	return "?";
}

/* The one transition function. */
static void
smtp_enter(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	log_debug("session=%s state %s -> %s", s->sid,
	    smtp_state_name(s->state), smtp_state_name(st));
	s->state = st;
}

/* 1 if the action comes with a reply (r was set). */
static int
smtp_action_replies(enum smtp_action a)
{
	return a != SMTP_A_LOOKUP && a != SMTP_A_OPEN && a != SMTP_A_COMMIT &&
	    a != SMTP_A_CHUNK && a != SMTP_A_AUTH && a != SMTP_A_SENDER;
}

/* The reply as logged: code, enhanced code, text (lines joined by
 * spaces). */
static void
smtp_log_reply(struct buf *b, const struct smtp_reply *r)
{
	char	text[32 + SMTP_REPLY_MAX], *nl;

	if (!bsnprintf(text, sizeof(text), "%d%s%s %s", r->code,
	    r->enh[0] != '\0' ? " " : "", r->enh, r->text))
		fatalx("smtp_log_reply: reply too long");
	while ((nl = strchr(text, '\n')) != NULL)
		*nl = ' ';
	logfmt_field(b, "reply", text);
}

/*
 * A refusal in the log: the first few of a session, or always.
 * "session=SID reject client=ADDR cmd=VERB [helo=] [from=] [to=] [qid=]
 * [line=] reply=", each value through logfmt.
 */
static void
smtp_log_reject(struct smtp_session *s, const struct smtp_reply *r,
    int always)
{
	struct buf	b;

	if (!always && s->nlogged >= SMTP_REJECT_LOG_MAX) {
		s->nunlogged++;
		return;
	}
	s->nlogged++;
	buf_init(&b);
	buf_printf(&b, "session=%s reject client=%s cmd=%s", s->sid, s->client,
	    s->cmd ? s->cmd : "UNKNOWN");
	if (s->helo[0] != '\0')
		logfmt_field(&b, "helo", s->helo);
	if (s->has_sender)
		logfmt_field_path(&b, "from", s->sender);
	if (s->log_to[0] != '\0')
		logfmt_field_path(&b, "to", s->log_to);
	if (s->log_qid && s->qid[0] != '\0')
		logfmt_field(&b, "qid", s->qid);
	if (s->log_linelen > 0)
		logfmt_field_mem(&b, "line", s->log_line, s->log_linelen);
	smtp_log_reply(&b, r);
	log_info("%s", b.data);
	buf_free(&b);
}

/* Every reply passes here: errors are counted, refusals logged. */
static enum smtp_action
smtp_done(struct smtp_session *s, enum smtp_action a, int logrej,
    const struct smtp_reply *r)
{
	int	uncounted = s->uncounted, probe = s->probe;

	s->uncounted = 0;
	s->probe = 0;
	s->delay_ms = 0;
	if (!smtp_action_replies(a))
		return a;
	if (r->code >= 400 && !uncounted) {
		s->nerrors++;
		if (a != SMTP_A_CLOSE &&
		    s->nerrors > s->cfg->soft_error_limit)
			s->delay = 1;
	}
	if (logrej && (r->code >= 400 || probe))
		smtp_log_reject(s, r, 0);
	s->log_qid = 0;
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
smtp_rcpts_free(struct smtp_session *s)
{
	size_t	i;

	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->rcpt_bytes = 0;
}

/* Forgets the transaction; an open message is the caller's business. */
static void
smtp_txn_reset(struct smtp_session *s)
{
	smtp_rcpts_free(s);
	s->sender[0] = '\0';
	s->has_sender = 0;
	s->smtputf8 = 0;
	s->body = 0;
	s->ret = 0;
	s->envid[0] = '\0';
	s->msg_size = 0;
	s->msgid[0] = '\0';
	s->chunked = 0;
	s->chunk_size = 0;
	s->chunk_last = 0;
	if (s->state != SMTP_CLOSED)
		smtp_enter(s, s->helo[0] != '\0' ? SMTP_HELO : SMTP_INIT);
}

/* Ends the transaction at the client's wish (RSET, HELO, EHLO): a message
 * opened by BDAT is aborted at the queue. */
static enum smtp_action
smtp_txn_end(struct smtp_session *s)
{
	enum smtp_action	a = s->opened ? SMTP_A_ABORT : SMTP_A_REPLY;

	s->opened = 0;
	smtp_txn_reset(s);
	return a;
}

/* Adds a recipient unless it is already there. */
static void
smtp_txn_add_rcpt(struct smtp_session *s, const char *addr, unsigned notify,
    const char *orcpt)
{
	struct smtp_rcpt	*rc;
	size_t			 i;

	for (i = 0; i < s->nrcpt; i++)
		if (strcmp(s->rcpts[i].addr, addr) == 0)
			return;
	s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1, sizeof(*s->rcpts));
	rc = &s->rcpts[s->nrcpt++];
	rc->addr = xstrdup(addr);
	rc->notify = notify;
	rc->orcpt = orcpt != NULL && orcpt[0] != '\0' ? xstrdup(orcpt) : NULL;
	s->rcpt_bytes += strlen(addr) + (orcpt ? strlen(orcpt) : 0) +
	    3 * sizeof(uint32_t);
}

static enum smtp_action
smtp_rcpt_accept(struct smtp_session *s, const char *addr, unsigned notify,
    const char *orcpt, struct smtp_reply *r)
{
	smtp_txn_add_rcpt(s, addr, notify, orcpt);
	smtp_enter(s, SMTP_RCPT);
	smtp_reply_set(r, SMTP_R_RCPT_OK);
	return SMTP_A_REPLY;
}

/* ---- life cycle ---- */

void
smtp_session_init(struct smtp_session *s, struct smtp_server *srv,
    uint32_t id, const char *client, int relay)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->cfg = srv->cfg;
	s->id = id;
	s->state = SMTP_INIT;
	s->wait = SMTP_A_REPLY;
	s->stale_queue = SMTP_A_REPLY;
	s->relay = relay;
	s->kind = LISTEN_SMTP;
	(void)strlcpy(s->client, client, sizeof(s->client));
	smtp_sid_format(srv, id, s->sid, sizeof(s->sid));
}

void
smtp_session_setup(struct smtp_session *s, enum listener_kind kind,
    int tls_offer)
{
	s->kind = kind;
	s->tls_offer = tls_offer;
}

void
smtp_session_free(struct smtp_session *s)
{
	smtp_rcpts_free(s);
	explicit_bzero(s->auth_password, sizeof(s->auth_password));
}

void
smtp_session_greeting(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_GREETING, s->cfg->hostname);
}

const char *
smtp_session_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->authenticated)
		return s->tls ? "ESMTPSA" : "ESMTPA";
	return s->tls ? "ESMTPS" : "ESMTP";
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
		smtp_reply_set(r, SMTP_R_NEED_HELO);
	else
		smtp_reply_set(r, SMTP_R_NESTED_MAIL);
	return -1;
}

static int
smtp_check_rcpt(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_MAIL || s->state == SMTP_RCPT)
		return 0;
	if (s->state == SMTP_BDAT)
		smtp_reply_set(r, SMTP_R_RCPT_AFTER_BDAT);
	else
		smtp_reply_set(r, SMTP_R_NEED_MAIL);
	return -1;
}

static int
smtp_check_data(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_RCPT)
		return 0;
	if (s->state == SMTP_MAIL)
		smtp_reply_set(r, SMTP_R_NEED_RCPT);
	else if (s->state == SMTP_BDAT)
		smtp_reply_set(r, SMTP_R_DATA_AFTER_BDAT);
	else
		smtp_reply_set(r, SMTP_R_NEED_MAIL);
	return -1;
}

static int
smtp_check_starttls(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->tls) {
		smtp_reply_set(r, SMTP_R_TLS_ACTIVE);
		return -1;
	}
	if (s->state != SMTP_INIT && s->state != SMTP_HELO) {
		smtp_reply_set(r, SMTP_R_TLS_IN_MAIL);
		return -1;
	}
	return 0;
}

/* ---- HELO, EHLO ---- */

static void
smtp_ehlo_reply(struct smtp_session *s, struct smtp_reply *r)
{
	const struct config	*cfg = s->cfg;

	smtp_reply_set_str(r, SMTP_R_EHLO, cfg->hostname);
	smtp_reply_append(r, "\nPIPELINING\nSIZE %" PRIu64 "\n8BITMIME\n"
	    "ENHANCEDSTATUSCODES\n%sSMTPUTF8\nCHUNKING\nDSN%s",
	    cfg->max_message_size, s->tls_offer && !s->tls ? "STARTTLS\n" : "",
	    smtp_session_auth_offered(s) && !s->authenticated ?
	    "\nAUTH PLAIN LOGIN" : "");
}

static enum smtp_action
smtp_hello(struct smtp_session *s, char *args, int esmtp,
    struct smtp_reply *r)
{
	enum smtp_action	a;

	if (!smtp_parse_helo(args)) {
		smtp_reply_set_str(r, SMTP_R_SYNTAX_HELLO,
		    esmtp ? "EHLO" : "HELO");
		return SMTP_A_REPLY;
	}
	(void)strlcpy(s->helo, args, sizeof(s->helo));
	s->esmtp = esmtp;
	a = smtp_txn_end(s);
	if (esmtp)
		smtp_ehlo_reply(s, r);
	else
		smtp_reply_set_str(r, SMTP_R_HELO, s->cfg->hostname);
	return a;
}

static enum smtp_action
smtp_cmd_helo(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	return smtp_hello(s, args, 0, r);
}

static enum smtp_action
smtp_cmd_ehlo(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	return smtp_hello(s, args, 1, r);
}

/* ---- parameters ---- */

static int
smtp_param_dup(const char *key, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_PARAM_DUP, key);
	return -1;
}

static int
smtp_param_bad(const char *key, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_PARAM_BAD, key);
	return -1;
}

static int
smtp_param_unknown(const char *key, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_PARAM_UNKNOWN, key);
	return -1;
}

/* Splits the parameters; they need EHLO.  Returns the count or -1. */
static int
smtp_params_split(struct smtp_session *s, char *rest, struct smtp_param *p,
    struct smtp_reply *r)
{
	int	n;

	if ((n = smtp_parse_params(rest, p, SMTP_PARAMS_MAX)) == -1) {
		smtp_reply_set(r, SMTP_R_SYNTAX_PARAMS);
		return -1;
	}
	if (n > 0 && !s->esmtp) {
		smtp_reply_set_str(r, SMTP_R_PARAM_NEED_EHLO, p[0].key);
		return -1;
	}
	return n;
}

/* SIZE=n (RFC 1870): the announced size must be within the limit. */
static int
smtp_mail_size(struct smtp_session *s, const char *value,
    struct smtp_reply *r)
{
	uint64_t	size;

	if (value == NULL || parse_u64(value, 0, UINT64_MAX, &size) == -1)
		return smtp_param_bad("SIZE", r);
	if (size > s->cfg->max_message_size) {
		smtp_reply_set(r, SMTP_R_SIZE_EXCEEDED);
		return -1;
	}
	return 0;
}

/* BODY=7BIT|8BITMIME (RFC 6152). */
static int
smtp_mail_body(const char *value, unsigned *body, struct smtp_reply *r)
{
	if (value != NULL && strcasecmp(value, "7BIT") == 0)
		*body = BODY_7BIT;
	else if (value != NULL && strcasecmp(value, "8BITMIME") == 0)
		*body = BODY_8BITMIME;
	else
		return smtp_param_bad("BODY", r);
	return 0;
}

/* One MAIL parameter into mp; 0 or -1 with r set. */
static int
smtp_mail_param(struct smtp_session *s, const struct smtp_param *p,
    struct smtp_mail_params *mp, struct smtp_reply *r)
{
	if (strcasecmp(p->key, "SIZE") == 0) {
		if (mp->size++)
			return smtp_param_dup("SIZE", r);
		return smtp_mail_size(s, p->value, r);
	}
	if (strcasecmp(p->key, "BODY") == 0) {
		if (mp->body != 0)
			return smtp_param_dup("BODY", r);
		return smtp_mail_body(p->value, &mp->body, r);
	}
	if (strcasecmp(p->key, "SMTPUTF8") == 0) {
		if (mp->smtputf8++)
			return smtp_param_dup("SMTPUTF8", r);
		return p->value == NULL ? 0 : smtp_param_bad("SMTPUTF8", r);
	}
	if (strcasecmp(p->key, "RET") == 0) {
		if (mp->ret != 0)
			return smtp_param_dup("RET", r);
		if (p->value == NULL || smtp_parse_ret(p->value, &mp->ret) == -1)
			return smtp_param_bad("RET", r);
		return 0;
	}
	if (strcasecmp(p->key, "ENVID") == 0) {
		if (mp->envid != NULL)
			return smtp_param_dup("ENVID", r);
		if (p->value == NULL || smtp_parse_envid(p->value) == -1)
			return smtp_param_bad("ENVID", r);
		mp->envid = p->value;
		return 0;
	}
	return smtp_param_unknown(p->key, r);
}

/* The parameters of MAIL; 0 if all are fine, else r is set. */
static int
smtp_mail_params(struct smtp_session *s, char *rest,
    struct smtp_mail_params *mp, struct smtp_reply *r)
{
	struct smtp_param	p[SMTP_PARAMS_MAX];
	int			n, i;

	memset(mp, 0, sizeof(*mp));
	if ((n = smtp_params_split(s, rest, p, r)) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (smtp_mail_param(s, &p[i], mp, r) == -1)
			return -1;
	return 0;
}

/* One RCPT parameter into rp; 0 or -1 with r set. */
static int
smtp_rcpt_param(const struct smtp_param *p, struct smtp_rcpt_params *rp,
    struct smtp_reply *r)
{
	if (strcasecmp(p->key, "NOTIFY") == 0) {
		if (rp->notify != 0)
			return smtp_param_dup("NOTIFY", r);
		if (p->value == NULL ||
		    smtp_parse_notify(p->value, &rp->notify) == -1)
			return smtp_param_bad("NOTIFY", r);
		return 0;
	}
	if (strcasecmp(p->key, "ORCPT") == 0) {
		if (rp->orcpt != NULL)
			return smtp_param_dup("ORCPT", r);
		if (p->value == NULL || smtp_parse_orcpt(p->value) == -1)
			return smtp_param_bad("ORCPT", r);
		rp->orcpt = p->value;
		return 0;
	}
	return smtp_param_unknown(p->key, r);
}

static int
smtp_rcpt_params(struct smtp_session *s, char *rest,
    struct smtp_rcpt_params *rp, struct smtp_reply *r)
{
	struct smtp_param	p[SMTP_PARAMS_MAX];
	int			n, i;

	memset(rp, 0, sizeof(*rp));
	if ((n = smtp_params_split(s, rest, p, r)) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (smtp_rcpt_param(&p[i], rp, r) == -1)
			return -1;
	return 0;
}

/* ---- MAIL ---- */

/* Sets r for a path that failed to parse (PATH_OK: it lacks a domain). */
static void
smtp_path_error(enum smtp_path_status st, int sender, struct smtp_reply *r)
{
	smtp_reply_set(r, smtp_reply_path(st, sender));
}

/* Takes the MAIL parameters into the new transaction. */
static void
smtp_mail_keep(struct smtp_session *s, const char *sender, int smtputf8,
    unsigned body, unsigned ret, const char *envid)
{
	smtp_txn_reset(s);
	(void)strlcpy(s->sender, sender, sizeof(s->sender));
	s->has_sender = 1;
	s->smtputf8 = smtputf8;
	s->body = body;
	s->ret = ret;
	if (envid != NULL)
		(void)strlcpy(s->envid, envid, sizeof(s->envid));
}

/*
 * An authenticated session with auth-sender-check own: the sender is
 * checked by lookup before MAIL is accepted; the parameters wait here.
 */
static enum smtp_action
smtp_mail_check_sender(struct smtp_session *s, const struct smtp_path *p,
    const struct smtp_mail_params *mp, struct smtp_reply *r)
{
	if (s->stale_lookup) {
		smtp_reply_set_str(r, SMTP_R_LOOKUP_TEMP, p->addr);
		return SMTP_A_REPLY;
	}
	(void)strlcpy(s->sender_check, p->addr, sizeof(s->sender_check));
	s->pend_smtputf8 = mp->smtputf8;
	s->pend_body = mp->body;
	s->pend_ret = mp->ret;
	(void)strlcpy(s->pend_envid, mp->envid != NULL ? mp->envid : "",
	    sizeof(s->pend_envid));
	s->wait = SMTP_A_SENDER;
	return SMTP_A_SENDER;
}

static enum smtp_action
smtp_cmd_mail(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	struct smtp_mail_params	 mp;
	struct smtp_path	 p;
	enum smtp_path_status	 st;
	const char		*path, *end;

	if (s->kind == LISTEN_SUBMISSION && !s->tls) {
		smtp_reply_set(r, SMTP_R_NEED_STARTTLS);
		return SMTP_A_REPLY;
	}
	if (s->srv->space_low || s->srv->fds_low) {
		smtp_reply_set(r, SMTP_R_NOSPACE);
		return SMTP_A_REPLY;
	}
	if (!smtp_parse_keyword(args, "FROM:", &path)) {
		smtp_reply_set(r, SMTP_R_SYNTAX_MAIL);
		return SMTP_A_REPLY;
	}
	st = smtp_parse_path(path, SMTP_PATH_NULL | SMTP_PATH_UTF8, &p, &end);
	if (st != PATH_OK || p.nodomain) {
		smtp_path_error(st, 1, r);
		return SMTP_A_REPLY;
	}
	if (*end != '\0' && *end != ' ') {
		smtp_path_error(PATH_SYNTAX, 1, r);
		return SMTP_A_REPLY;
	}
	if (smtp_mail_params(s, args + (end - args), &mp, r) == -1)
		return SMTP_A_REPLY;
	if (p.utf8 && !mp.smtputf8) {
		smtp_path_error(PATH_UTF8, 1, r);
		return SMTP_A_REPLY;
	}
	if (s->authenticated &&
	    s->cfg->auth_sender_check == CONFIG_AUTH_SENDER_OWN)
		return smtp_mail_check_sender(s, &p, &mp, r);
	smtp_mail_keep(s, p.addr, mp.smtputf8, mp.body, mp.ret, mp.envid);
	smtp_enter(s, SMTP_MAIL);
	smtp_reply_set(r, SMTP_R_MAIL_OK);
	return SMTP_A_REPLY;
}

/* ---- RCPT ---- */

static enum smtp_action
smtp_relay_denied(const struct smtp_path *p, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_RELAY_DENIED, p->addr);
	return SMTP_A_REPLY;
}

/*
 * The policy for a syntactically good recipient with a domain.  A client
 * outside the relay networks may only name a local domain, with no '%',
 * '!' or '@' left in the local part: each of those asks some host to pass
 * the mail on.  An address literal is never a local domain.  A source
 * route is ignored (RFC 5321 3.3): only the mailbox counts.
 */
static enum smtp_action
smtp_rcpt_policy(struct smtp_session *s, const struct smtp_path *p,
    const struct smtp_rcpt_params *rp, struct smtp_reply *r)
{
	char	addr[SMTP_PATH_MAX + 1];
	int	local;

	local = !p->literal && (config_is_local_domain(s->cfg,
	    p->adomain) || config_is_virtual_domain(s->cfg, p->adomain));
	if (!s->relay && !s->authenticated &&
	    (!local || strpbrk(p->plain, "%!@") != NULL))
		return smtp_relay_denied(p, r);
	if (!bsnprintf(addr, sizeof(addr), "%s@%s", p->local, p->adomain)) {
		smtp_path_error(PATH_TOOLONG, 0, r);
		return SMTP_A_REPLY;
	}
	if (!local || strcasecmp(p->plain, "postmaster") == 0)
		return smtp_rcpt_accept(s, addr, rp->notify, rp->orcpt, r);
	if (s->stale_lookup) {
		/* Lookup still owes the answer to one given up on. */
		smtp_reply_set_str(r, SMTP_R_LOOKUP_TEMP, addr);
		return SMTP_A_REPLY;
	}
	(void)strlcpy(s->lookup_addr, addr, sizeof(s->lookup_addr));
	(void)strlcpy(s->lookup_local, p->plain, sizeof(s->lookup_local));
	(void)strlcpy(s->lookup_domain, p->adomain, sizeof(s->lookup_domain));
	s->lookup_notify = rp->notify;
	(void)strlcpy(s->lookup_orcpt, rp->orcpt ? rp->orcpt : "",
	    sizeof(s->lookup_orcpt));
	s->wait = SMTP_A_LOOKUP;
	return SMTP_A_LOOKUP;
}

static int
smtp_rcpt_full(const struct smtp_session *s)
{
	return s->nrcpt >= s->cfg->max_recipients ||
	    s->rcpt_bytes + SMTP_PATH_MAX + SMTP_ORCPT_MAX +
	    3 * sizeof(uint32_t) > SMTP_RCPT_BYTES_MAX;
}

static enum smtp_action
smtp_cmd_rcpt(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	struct smtp_rcpt_params	 rp;
	struct smtp_path	 p;
	enum smtp_path_status	 st;
	const char		*path, *end;

	if (!smtp_parse_keyword(args, "TO:", &path)) {
		smtp_reply_set(r, SMTP_R_SYNTAX_RCPT);
		return SMTP_A_REPLY;
	}
	st = smtp_parse_path(path, s->smtputf8 ? SMTP_PATH_UTF8 : 0, &p, &end);
	if (st == PATH_OK && *end != '\0' && *end != ' ')
		st = PATH_SYNTAX;
	if (st != PATH_OK) {
		smtp_path_error(st, 0, r);
		return SMTP_A_REPLY;
	}
	(void)strlcpy(s->log_to, p.addr, sizeof(s->log_to));
	if (smtp_rcpt_params(s, args + (end - args), &rp, r) == -1)
		return SMTP_A_REPLY;
	if (smtp_rcpt_full(s)) {
		/* A client may send as many again before they count as
		 * errors, as Postfix's smtpd_recipient_overshoot_limit. */
		if (s->overshoot++ < s->cfg->max_recipients)
			s->uncounted = 1;
		smtp_reply_set(r, SMTP_R_TOO_MANY_RCPTS);
		return SMTP_A_REPLY;
	}
	if (p.nodomain) {
		if (p.route[0] == '\0' && strcasecmp(p.plain, "postmaster") == 0)
			return smtp_rcpt_accept(s, "postmaster", rp.notify,
			    rp.orcpt, r);
		smtp_path_error(PATH_OK, 0, r);
		return SMTP_A_REPLY;
	}
	return smtp_rcpt_policy(s, &p, &rp, r);
}

/* ---- DATA, BDAT, STARTTLS ---- */

static enum smtp_action
smtp_cmd_data(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (*args != '\0') {
		smtp_reply_set(r, SMTP_R_SYNTAX_DATA);
		return SMTP_A_REPLY;
	}
	if (s->stale_queue != SMTP_A_REPLY) {
		/* The queue still owes the answer to one given up on. */
		smtp_reply_set(r, SMTP_R_QUEUE_TIMEOUT);
		return SMTP_A_REPLY;
	}
	s->wait = SMTP_A_OPEN;
	return SMTP_A_OPEN;
}

/* "BDAT" SP chunk-size [ SP end-marker ] (RFC 3030 2); 0 or -1. */
static int
smtp_bdat_args(char *args, uint64_t *size, int *last)
{
	char	*sp;

	*last = 0;
	if ((sp = strchr(args, ' ')) != NULL) {
		*sp++ = '\0';
		while (*sp == ' ')
			sp++;
		if (strcasecmp(sp, "LAST") != 0)
			return -1;
		*last = 1;
	}
	/* At most 20 digits, so that a value always fits. */
	if (strlen(args) > 20)
		return -1;
	return parse_u64(args, 0, UINT64_MAX, size);
}

static enum smtp_action
smtp_cmd_bdat(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	uint64_t	size;
	int		last;

	if (smtp_bdat_args(args, &size, &last) == -1) {
		smtp_reply_set(r, SMTP_R_SYNTAX_BDAT);
		return SMTP_A_REPLY;
	}
	s->chunk_size = size;
	s->chunk_last = last;
	switch (s->state) {
	case SMTP_BDAT:
		smtp_enter(s, SMTP_DATA);
		return SMTP_A_CHUNK;
	case SMTP_RCPT:
		s->chunked = 1;
		if (s->stale_queue != SMTP_A_REPLY) {
			smtp_reply_set(r, SMTP_R_QUEUE_TIMEOUT);
			smtp_txn_reset(s);
			s->chunk_size = size;
			return SMTP_A_SKIP;
		}
		s->wait = SMTP_A_OPEN;
		return SMTP_A_OPEN;
	case SMTP_MAIL:
		smtp_reply_set(r, SMTP_R_NEED_RCPT);
		break;
	default:
		smtp_reply_set(r, SMTP_R_NEED_MAIL);
		break;
	}
	return SMTP_A_SKIP;
}

static enum smtp_action
smtp_cmd_starttls(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (*args != '\0') {
		smtp_reply_set(r, SMTP_R_SYNTAX_STARTTLS);
		return SMTP_A_REPLY;
	}
	if (!s->tls_offer) {
		smtp_reply_set(r, SMTP_R_TLS_UNAVAILABLE);
		return SMTP_A_REPLY;
	}
	/* Whatever was said before is void (RFC 3207 4.2). */
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_txn_reset(s);
	smtp_reply_set(r, SMTP_R_TLS_READY);
	return SMTP_A_STARTTLS;
}

/* ---- RSET, NOOP, QUIT, VRFY, HELP ---- */

static enum smtp_action
smtp_cmd_rset(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	if (*args != '\0') {
		smtp_reply_set(r, SMTP_R_SYNTAX_RSET);
		return SMTP_A_REPLY;
	}
	smtp_reply_set(r, SMTP_R_OK);
	return smtp_txn_end(s);
}

static enum smtp_action
smtp_cmd_noop(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)s;
	(void)args;
	smtp_reply_set(r, SMTP_R_OK);
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_quit(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)args;
	smtp_reply_set(r, SMTP_R_BYE);
	return smtp_close(s, SMTP_CLOSE_QUIT);
}

static enum smtp_action
smtp_cmd_vrfy(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	s->probe = 1;	/* address harvesting: logged like a refusal */
	if (*args == '\0')
		smtp_reply_set(r, SMTP_R_SYNTAX_VRFY);
	else
		smtp_reply_set(r, SMTP_R_VRFY);
	return SMTP_A_REPLY;
}

static enum smtp_action
smtp_cmd_help(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	(void)s;
	(void)args;
	smtp_reply_set(r, SMTP_R_HELP);
	return SMTP_A_REPLY;
}

/* ---- AUTH (RFC 4954; PLAIN, RFC 4616; LOGIN) ---- */

int
smtp_session_auth_offered(const struct smtp_session *s)
{
	if (s->cfg->credentials == NULL)
		return 0;
	return s->kind == LISTEN_TLS ||
	    (s->kind == LISTEN_SUBMISSION && s->tls);
}

static int
smtp_check_auth(struct smtp_session *s, struct smtp_reply *r)
{
	if (s->state == SMTP_INIT) {
		smtp_reply_set(r, SMTP_R_NEED_HELO);
		return -1;
	}
	if (s->state != SMTP_HELO) {
		smtp_reply_set(r, SMTP_R_TLS_IN_MAIL);
		return -1;
	}
	if (s->authenticated) {
		smtp_reply_set(r, SMTP_R_AUTH_TWICE);
		return -1;
	}
	return 0;
}

void
smtp_session_auth_wipe(struct smtp_session *s)
{
	explicit_bzero(s->auth_password, sizeof(s->auth_password));
	s->secret_line = 0;
}

/* The user and password are known: ask lookup. */
static enum smtp_action
smtp_auth_ask(struct smtp_session *s, struct smtp_reply *r)
{
	s->auth_step = SMTP_AUTH_NONE;
	if (s->stale_lookup) {
		smtp_session_auth_wipe(s);
		smtp_reply_set(r, SMTP_R_AUTH_TEMP);
		return SMTP_A_REPLY;
	}
	s->wait = SMTP_A_AUTH;
	return SMTP_A_AUTH;
}

/* A response that failed to decode: the dialogue is over. */
static enum smtp_action
smtp_auth_refuse(struct smtp_session *s, enum sasl_status st,
    struct smtp_reply *r)
{
	s->auth_step = SMTP_AUTH_NONE;
	smtp_session_auth_wipe(s);
	s->secret_line = 1;
	switch (st) {
	case SASL_CANCEL:
		smtp_reply_set(r, SMTP_R_AUTH_CANCEL);
		break;
	case SASL_BAD_BASE64:
		smtp_reply_set(r, SMTP_R_AUTH_BASE64);
		break;
	default:
		/* Malformed credentials are a failed attempt, not a
		 * syntax error: lookup counts it (an empty user fails). */
		s->auth_user[0] = '\0';
		return smtp_auth_ask(s, r);
	}
	return SMTP_A_REPLY;
}

/* A line of the AUTH dialogue (the command's initial response, or one
 * after a 334). */
static enum smtp_action
smtp_auth_response(struct smtp_session *s, const char *text,
    struct smtp_reply *r)
{
	enum sasl_status	st;

	s->secret_line = 1;
	switch (s->auth_step) {
	case SMTP_AUTH_PLAIN:
		st = sasl_plain(text, s->auth_user, sizeof(s->auth_user),
		    s->auth_password, sizeof(s->auth_password));
		break;
	case SMTP_AUTH_LOGIN_USER:
		st = sasl_login(text, s->auth_user, sizeof(s->auth_user), 1);
		if (st == SASL_OK) {
			s->auth_step = SMTP_AUTH_LOGIN_PASS;
			smtp_reply_set(r, SMTP_R_AUTH_PASSWORD);
			return SMTP_A_REPLY;
		}
		break;
	case SMTP_AUTH_LOGIN_PASS:
		st = sasl_login(text, s->auth_password,
		    sizeof(s->auth_password), 0);
		break;
	default:
		fatalx("session=%s: AUTH response without AUTH", s->sid);
	}
	if (st != SASL_OK)
		return smtp_auth_refuse(s, st, r);
	return smtp_auth_ask(s, r);
}

static enum smtp_action
smtp_cmd_auth(struct smtp_session *s, char *args, struct smtp_reply *r)
{
	char	*mech = args, *initial;

	s->secret_line = 1;
	if (!smtp_session_auth_offered(s)) {
		if (s->cfg->credentials != NULL &&
		    s->kind == LISTEN_SUBMISSION && !s->tls)
			smtp_reply_set(r, SMTP_R_AUTH_NEED_TLS);
		else
			smtp_reply_set(r, SMTP_R_AUTH_UNAVAILABLE);
		return SMTP_A_REPLY;
	}
	if ((initial = strchr(args, ' ')) != NULL)
		*initial++ = '\0';
	if (*mech == '\0' || (initial != NULL && (*initial == '\0' ||
	    strchr(initial, ' ') != NULL))) {
		smtp_reply_set(r, SMTP_R_SYNTAX_AUTH);
		return SMTP_A_REPLY;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		s->auth_step = SMTP_AUTH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		s->auth_step = SMTP_AUTH_LOGIN_USER;
	else {
		smtp_reply_set(r, SMTP_R_AUTH_MECH);
		return SMTP_A_REPLY;
	}
	if (initial != NULL)
		return smtp_auth_response(s, initial, r);
	if (s->auth_step == SMTP_AUTH_PLAIN)
		smtp_reply_set_str(r, SMTP_R_AUTH_GO, "");
	else
		smtp_reply_set(r, SMTP_R_AUTH_USERNAME);
	return SMTP_A_REPLY;
}

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO",	smtp_check_any,	smtp_cmd_helo },
	{ "EHLO",	smtp_check_any,	smtp_cmd_ehlo },
	{ "MAIL",	smtp_check_mail,	smtp_cmd_mail },
	{ "RCPT",	smtp_check_rcpt,	smtp_cmd_rcpt },
	{ "DATA",	smtp_check_data,	smtp_cmd_data },
	{ "BDAT",	smtp_check_any,	smtp_cmd_bdat },
	{ "RSET",	smtp_check_any,	smtp_cmd_rset },
	{ "NOOP",	smtp_check_any,	smtp_cmd_noop },
	{ "QUIT",	smtp_check_any,	smtp_cmd_quit },
	{ "VRFY",	smtp_check_any,	smtp_cmd_vrfy },
	{ "HELP",	smtp_check_any,	smtp_cmd_help },
	{ "STARTTLS",	smtp_check_starttls,	smtp_cmd_starttls },
	{ "AUTH",	smtp_check_auth,	smtp_cmd_auth },
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

/* Keeps the start of a command line (without its line ending) for the
 * log line of its refusal; a new command forgets the last one's. */
static void
smtp_log_keep_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && line[len - 1] == '\n')
		len--;
	if (len > SMTP_LOG_LINE_MAX)
		len = SMTP_LOG_LINE_MAX;
	memcpy(s->log_line, line, len);
	s->log_linelen = len;
	s->log_to[0] = '\0';
}

static void
smtp_session_expect(const struct smtp_session *s, enum smtp_action wait,
    const char *what)
{
	if (s->wait != wait)
		fatalx("session=%s: %s while %s in state %s", s->sid, what,
		    wait == SMTP_A_REPLY ? "waiting" : "not waiting",
		    smtp_state_name(s->state));
}

/* The line's own faults (500 5.5.2); 0 if it is clean.  text gets the
 * command without CRLF and trailing blanks. */
static int
smtp_line_check(const char *line, size_t len, size_t max, char *text,
    size_t textsize, struct smtp_reply *r)
{
	if (len > max) {
		smtp_reply_set(r, SMTP_R_LINE_TOO_LONG);
		return -1;
	}
	if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '\r') {
		smtp_reply_set(r, SMTP_R_BARE_LF);
		return -1;
	}
	len -= 2;
	if (memchr(line, '\0', len) != NULL) {
		smtp_reply_set(r, SMTP_R_NUL_CHAR);
		return -1;
	}
	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL) {
		smtp_reply_set(r, SMTP_R_BARE_CR_LF);
		return -1;
	}
	if (len >= textsize) {
		smtp_reply_set(r, SMTP_R_LINE_TOO_LONG);
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
	unsigned	max = s->cfg->max_errors;

	return max != 0 && s->nerrors >= max;
}

static enum smtp_action
smtp_error_limit(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_reply_set_str(r, SMTP_R_TOO_MANY_ERRORS, s->cfg->hostname);
	(void)smtp_done(s, SMTP_A_CLOSE, 0, r);
	smtp_log_reject(s, r, 1);
	return smtp_close(s, SMTP_CLOSE_LIMIT);
}

/* An AUTH command is logged as "AUTH MECH", without its initial
 * response; the driver wipes the line. */
static void
smtp_auth_log_line(struct smtp_session *s)
{
	char	*sp;

	s->secret_line = 1;
	s->log_line[s->log_linelen] = '\0';
	if ((sp = memchr(s->log_line, ' ', s->log_linelen)) != NULL &&
	    (sp = memchr(sp + 1, ' ', s->log_linelen -
	    (size_t)(sp + 1 - s->log_line))) != NULL)
		s->log_linelen = (size_t)(sp - s->log_line);
}

/* A line after a 334: a response, never a command, never logged. */
static enum smtp_action
smtp_auth_line(struct smtp_session *s, const char *line, size_t len,
    struct smtp_reply *r)
{
	char			text[SMTP_LINE_MAX + 1];
	enum smtp_action	a;

	s->cmd = "AUTH";
	s->log_linelen = 0;
	s->log_to[0] = '\0';
	s->secret_line = 1;
	if (smtp_line_check(line, len, s->cfg->max_command_line, text,
	    sizeof(text), r) == -1) {
		s->auth_step = SMTP_AUTH_NONE;
		smtp_session_auth_wipe(s);
		s->secret_line = 1;
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	}
	a = smtp_auth_response(s, text, r);
	explicit_bzero(text, sizeof(text));
	return smtp_done(s, a, 1, r);
}

enum smtp_action
smtp_session_command(struct smtp_session *s, const char *line, size_t len,
    struct smtp_reply *r)
{
	char			 text[SMTP_LINE_MAX + 1], verb[SMTP_VERB_MAX];
	char			*args;
	const struct smtp_cmd	*c = NULL;
	enum smtp_action	 a;
	int			 bad;

	smtp_session_expect(s, SMTP_A_REPLY, "a command");
	if (s->state == SMTP_DATA || s->state == SMTP_CLOSED)
		fatalx("session=%s: a command in state %s", s->sid,
		    smtp_state_name(s->state));
	if (s->auth_step != SMTP_AUTH_NONE)
		return smtp_auth_line(s, line, len, r);
	smtp_log_keep_line(s, line, len);
	bad = smtp_line_check(line, len, s->cfg->max_command_line, text,
	    sizeof(text), r);
	if (bad == 0 && smtp_parse_verb(text, verb, sizeof(verb), &args) == 0)
		c = smtp_cmd_find(verb);
	s->cmd = c ? c->verb : NULL;
	if (c != NULL && c->proceed == smtp_cmd_auth)
		smtp_auth_log_line(s);
	if (smtp_too_many_errors(s))
		return smtp_error_limit(s, r);
	if (bad)
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	if (c == NULL) {
		smtp_reply_set(r, SMTP_R_UNKNOWN_CMD);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	}
	if (c->check(s, r) == -1)
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	a = c->proceed(s, args, r);
	if (s->secret_line) {
		/* AUTH's initial response: neither kept nor logged. */
		explicit_bzero(text, sizeof(text));
		s->log_linelen = 0;
	}
	return smtp_done(s, a, 1, r);
}

enum smtp_action
smtp_session_line_too_long(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_REPLY, "a long line");
	s->cmd = NULL;
	if (s->auth_step != SMTP_AUTH_NONE) {
		/* An AUTH response too long: the dialogue is over. */
		s->auth_step = SMTP_AUTH_NONE;
		smtp_session_auth_wipe(s);
	}
	s->log_linelen = 0;
	s->log_to[0] = '\0';
	if (smtp_too_many_errors(s))
		return smtp_error_limit(s, r);
	smtp_reply_set(r, SMTP_R_LINE_TOO_LONG);
	return smtp_done(s, SMTP_A_REPLY, 1, r);
}

/* ---- results of the asynchronous steps ---- */

enum smtp_action
smtp_session_lookup_result(struct smtp_session *s, int result,
    struct smtp_reply *r)
{
	enum smtp_reply_id	id;

	smtp_session_expect(s, SMTP_A_LOOKUP, "a lookup result");
	s->wait = SMTP_A_REPLY;
	s->cmd = "RCPT";
	if ((id = smtp_reply_lookup(result)) == SMTP_R_COUNT)
		fatalx("session=%s: lookup result %d", s->sid, result);
	if (result == LOOKUP_FOUND)
		return smtp_rcpt_accept(s, s->lookup_addr, s->lookup_notify,
		    s->lookup_orcpt, r);
	smtp_reply_set_str(r, id, s->lookup_addr);
	return smtp_done(s, SMTP_A_REPLY, 1, r);
}

/* The delay of a failed AUTH: auth-failure-delay times the failures of
 * the client address (at most 5 times). */
static void
smtp_auth_delay(struct smtp_session *s, unsigned failures)
{
	uint64_t	n = failures == 0 ? 1 : failures > 5 ? 5 : failures;

	if (s->cfg->auth_failure_delay == 0)
		return;
	s->delay = 1;
	s->delay_ms = s->cfg->auth_failure_delay * 1000 * n;
}

enum smtp_action
smtp_session_auth_result(struct smtp_session *s, int result,
    unsigned failures, struct smtp_reply *r)
{
	enum smtp_action	a;

	smtp_session_expect(s, SMTP_A_AUTH, "an AUTH result");
	s->wait = SMTP_A_REPLY;
	s->cmd = "AUTH";
	smtp_session_auth_wipe(s);
	switch (result) {
	case LOOKUP_AUTH_OK:
		s->authenticated = 1;
		(void)strlcpy(s->auth_name, s->auth_user, sizeof(s->auth_name));
		log_info("session=%s client=%s authenticated as %s", s->sid,
		    s->client, s->auth_name);
		smtp_reply_set(r, SMTP_R_AUTH_OK);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	case LOOKUP_AUTH_TEMPFAIL:
		smtp_reply_set(r, SMTP_R_AUTH_TEMP);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	case LOOKUP_AUTH_BAD:
	case LOOKUP_AUTH_LOCKED:
		break;
	default:
		fatalx("session=%s: AUTH result %d", s->sid, result);
	}
	if (++s->auth_failures >= s->cfg->auth_max_failures) {
		smtp_reply_set_str(r, SMTP_R_AUTH_TOO_MANY, s->cfg->hostname);
		(void)smtp_done(s, SMTP_A_CLOSE, 1, r);
		return smtp_close(s, SMTP_CLOSE_LIMIT);
	}
	smtp_reply_set(r, result == LOOKUP_AUTH_BAD ? SMTP_R_AUTH_FAILED :
	    SMTP_R_AUTH_LOCKED);
	a = smtp_done(s, SMTP_A_REPLY, 1, r);
	if (result == LOOKUP_AUTH_BAD)
		smtp_auth_delay(s, failures);
	return a;
}

enum smtp_action
smtp_session_sender_result(struct smtp_session *s, int result,
    struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_SENDER, "a sender check result");
	s->wait = SMTP_A_REPLY;
	s->cmd = "MAIL";
	switch (result) {
	case 0:
		smtp_mail_keep(s, s->sender_check, s->pend_smtputf8,
		    s->pend_body, s->pend_ret, s->pend_envid[0] != '\0' ?
		    s->pend_envid : NULL);
		smtp_enter(s, SMTP_MAIL);
		smtp_reply_set(r, SMTP_R_MAIL_OK);
		break;
	case 1:
		smtp_reply_set_str(r, SMTP_R_SENDER_NOT_OWNED,
		    s->sender_check);
		break;
	case 2:
		smtp_reply_set_str(r, SMTP_R_LOOKUP_TEMP, s->sender_check);
		break;
	default:
		fatalx("session=%s: sender result %d", s->sid, result);
	}
	return smtp_done(s, SMTP_A_REPLY, 1, r);
}

/* The reply for a queue failure; SMTP_A_CLOSE when the queue stops. */
static enum smtp_action
smtp_queue_fail(struct smtp_session *s, int reason, struct smtp_reply *r)
{
	enum smtp_reply_id	id = smtp_reply_qfail(reason);

	if (id == SMTP_R_COUNT)
		fatalx("session=%s: queue failure reason %d", s->sid, reason);
	smtp_reply_set_str(r, id, s->cfg->hostname);
	if (reason == QFAIL_SHUTDOWN)
		return smtp_close(s, SMTP_CLOSE_SHUTDOWN);
	return SMTP_A_REPLY;
}

/* After a refused open: for BDAT the transaction fails (RFC 3030 4), and
 * the chunk's octets are read and dropped; 1 if so. */
static int
smtp_open_reset(struct smtp_session *s)
{
	uint64_t	size = s->chunk_size;
	int		chunked = s->chunked;

	if (chunked) {
		smtp_txn_reset(s);
		s->chunk_size = size;
	}
	return chunked;
}

static enum smtp_action
smtp_open_fail(struct smtp_session *s, int reason, struct smtp_reply *r)
{
	enum smtp_action	a;
	int			chunked = s->chunked;

	a = smtp_queue_fail(s, reason, r);
	if (chunked && a == SMTP_A_REPLY)
		a = SMTP_A_SKIP;
	a = smtp_done(s, a, 1, r);
	(void)smtp_open_reset(s);
	return a;
}

enum smtp_action
smtp_session_open_result(struct smtp_session *s, const char *qid,
    int reason, struct smtp_reply *r)
{
	smtp_session_expect(s, SMTP_A_OPEN, "an open result");
	s->wait = SMTP_A_REPLY;
	s->cmd = s->chunked ? "BDAT" : "DATA";
	if (qid == NULL)
		return smtp_open_fail(s, reason, r);
	if (strlcpy(s->qid, qid, sizeof(s->qid)) >= sizeof(s->qid))
		fatalx("session=%s: queue id too long", s->sid);
	s->opened = 1;
	smtp_enter(s, SMTP_DATA);
	if (s->chunked)
		return SMTP_A_CHUNK;
	smtp_reply_set(r, SMTP_R_DATA_GO);
	return SMTP_A_DATA;
}

/* The reply for a message that was read but is refused. */
static void
smtp_data_refusal(enum smtp_data_status st, struct smtp_reply *r)
{
	enum smtp_reply_id	id = smtp_reply_data(st);

	if (id == SMTP_R_COUNT)
		fatalx("smtp_data_refusal: no refusal for status %d", (int)st);
	smtp_reply_set(r, id);
}

/* The checks common to the ends of DATA and of a BDAT chunk. */
static void
smtp_read_done(struct smtp_session *s, int chunked, uint64_t size)
{
	smtp_session_expect(s, SMTP_A_REPLY, "the end of data");
	if (s->state != SMTP_DATA || !s->opened || s->chunked != chunked)
		fatalx("session=%s: end of %s in state %s", s->sid,
		    chunked ? "a chunk" : "data", smtp_state_name(s->state));
	s->msg_size = size;
	s->log_linelen = 0;
}

/* The message is complete and good: off to the queue. */
static enum smtp_action
smtp_read_commit(struct smtp_session *s)
{
	s->opened = 0;
	s->wait = SMTP_A_COMMIT;
	return SMTP_A_COMMIT;
}

static enum smtp_action
smtp_read_refuse(struct smtp_session *s, enum smtp_data_status st,
    struct smtp_reply *r)
{
	enum smtp_action	a;

	s->opened = 0;
	smtp_data_refusal(st, r);
	s->log_qid = 1;
	a = smtp_done(s, SMTP_A_ABORT, 1, r);
	smtp_txn_reset(s);
	return a;
}

void
smtp_session_message_id(struct smtp_session *s, const char *msgid)
{
	(void)strlcpy(s->msgid, msgid, sizeof(s->msgid));
}

enum smtp_action
smtp_session_data_done(struct smtp_session *s, enum smtp_data_status st,
    uint64_t size, struct smtp_reply *r)
{
	smtp_read_done(s, 0, size);
	if (st != SMTP_DATA_OK)
		return smtp_read_refuse(s, st, r);
	return smtp_read_commit(s);
}

enum smtp_action
smtp_session_chunk_done(struct smtp_session *s, enum smtp_data_status st,
    uint64_t size, struct smtp_reply *r)
{
	smtp_read_done(s, 1, size);
	s->cmd = "BDAT";
	if (st != SMTP_DATA_OK)
		return smtp_read_refuse(s, st, r);
	if (s->chunk_last)
		return smtp_read_commit(s);
	smtp_enter(s, SMTP_BDAT);
	smtp_reply_set_u64(r, SMTP_R_CHUNK_OK, s->chunk_size);
	return SMTP_A_REPLY;
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
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "%s: accepted session=%s client=%s", s->qid, s->sid,
	    s->client);
	logfmt_field(&b, "helo", s->helo);
	logfmt_field_path(&b, "from", s->sender);
	buf_printf(&b, " size=%" PRIu64 " nrcpt=%zu proto=%s", s->msg_size,
	    s->nrcpt, smtp_session_protocol(s));
	/* As Postfix logs it; a message without one gets no field. */
	if (s->msgid[0] != '\0')
		logfmt_field(&b, "message-id", s->msgid);
	log_info("%s", b.data);
	buf_free(&b);
}

enum smtp_action
smtp_session_commit_result(struct smtp_session *s, int reason,
    struct smtp_reply *r)
{
	enum smtp_action	a;

	smtp_session_expect(s, SMTP_A_COMMIT, "a commit result");
	s->wait = SMTP_A_REPLY;
	s->cmd = s->chunked ? "BDAT" : "DATA";
	if (reason != 0) {
		a = smtp_queue_fail(s, reason, r);
		s->log_qid = 1;
		a = smtp_done(s, a, 1, r);
		smtp_txn_reset(s);
		return a;
	}
	s->nmessages++;
	smtp_log_accepted(s);
	smtp_reply_set_str(r, SMTP_R_QUEUED, s->qid);
	smtp_txn_reset(s);
	return SMTP_A_REPLY;
}

/* ---- requests given up on ---- */

/* The request the session waits for becomes stale (a lookup or an open;
 * or a commit, with its qid), and the session waits no more. */
static void
smtp_request_forget(struct smtp_session *s)
{
	switch (s->wait) {
	case SMTP_A_LOOKUP:
	case SMTP_A_AUTH:
	case SMTP_A_SENDER:
		s->stale_lookup = 1;
		break;
	case SMTP_A_OPEN:
		s->stale_queue = SMTP_A_OPEN;
		break;
	case SMTP_A_COMMIT:
		s->stale_queue = SMTP_A_COMMIT;
		(void)strlcpy(s->stale_qid, s->qid, sizeof(s->stale_qid));
		break;
	default:
		return;
	}
	log_debug("session=%s %s request given up", s->sid,
	    s->stale_lookup ? "lookup" : "queue");
	s->wait = SMTP_A_REPLY;
}

enum smtp_action
smtp_session_request_timeout(struct smtp_session *s, struct smtp_reply *r)
{
	enum smtp_action	wait = s->wait, a;
	int			chunked;

	if (wait != SMTP_A_LOOKUP && wait != SMTP_A_OPEN &&
	    wait != SMTP_A_COMMIT && wait != SMTP_A_AUTH &&
	    wait != SMTP_A_SENDER)
		fatalx("session=%s: request timeout while not waiting",
		    s->sid);
	smtp_request_forget(s);
	if (wait == SMTP_A_AUTH) {
		s->cmd = "AUTH";
		smtp_reply_set(r, SMTP_R_AUTH_TEMP);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	}
	if (wait == SMTP_A_SENDER) {
		s->cmd = "MAIL";
		smtp_reply_set_str(r, SMTP_R_LOOKUP_TEMP, s->sender_check);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	}
	if (wait == SMTP_A_LOOKUP) {
		s->cmd = "RCPT";
		smtp_reply_set_str(r, SMTP_R_LOOKUP_TEMP, s->lookup_addr);
		return smtp_done(s, SMTP_A_REPLY, 1, r);
	}
	s->cmd = s->chunked ? "BDAT" : "DATA";
	smtp_reply_set(r, SMTP_R_QUEUE_TIMEOUT);
	if (wait == SMTP_A_COMMIT) {
		s->log_qid = 1;
		a = smtp_done(s, SMTP_A_REPLY, 1, r);
		smtp_txn_reset(s);
		return a;
	}
	chunked = s->chunked;
	a = smtp_done(s, chunked ? SMTP_A_SKIP : SMTP_A_REPLY, 1, r);
	(void)smtp_open_reset(s);
	return a;
}

int
smtp_session_late(struct smtp_session *s, enum smtp_action kind,
    const char *qid)
{
	switch (kind) {
	case SMTP_A_LOOKUP:
	case SMTP_A_AUTH:
	case SMTP_A_SENDER:
		if (!s->stale_lookup)
			return 0;
		s->stale_lookup = 0;
		return 1;
	case SMTP_A_OPEN:
		if (s->stale_queue != SMTP_A_OPEN)
			return 0;
		break;
	case SMTP_A_COMMIT:
		if (s->stale_queue != SMTP_A_COMMIT || qid == NULL ||
		    strcmp(qid, s->stale_qid) != 0)
			return 0;
		s->stale_qid[0] = '\0';
		break;
	default:
		fatalx("session=%s: late answer of kind %d", s->sid, (int)kind);
	}
	s->stale_queue = SMTP_A_REPLY;
	return 1;
}

int
smtp_session_submission(const struct smtp_session *s)
{
	return s->authenticated || s->kind == LISTEN_SUBMISSION ||
	    s->kind == LISTEN_TLS;
}

int
smtp_session_busy(const struct smtp_session *s)
{
	return s->wait != SMTP_A_REPLY || s->stale_lookup ||
	    s->stale_queue != SMTP_A_REPLY;
}

int
smtp_session_take_delay(struct smtp_session *s)
{
	int	d = s->delay;

	s->delay = 0;
	return d;
}

void
smtp_session_log_end(const struct smtp_session *s)
{
	if (s->nunlogged > 0)
		log_info("session=%s client=%s %u more refusals not logged",
		    s->sid, s->client, s->nunlogged);
}

void
smtp_sid_tag(struct smtp_server *srv)
{
	uint16_t	rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint16_t)getpid();
	if (!bsnprintf(srv->sid_tag, sizeof(srv->sid_tag), "%08llx%04x",
	    (unsigned long long)time(NULL) & 0xffffffffULL, (unsigned)rnd))
		fatalx("smtp_sid_tag: tag too long");
}

void
smtp_sid_format(const struct smtp_server *srv, uint32_t id, char *buf,
    size_t size)
{
	int	ok;

	if (srv->sid_tag[0] != '\0')
		ok = bsnprintf(buf, size, "%s.%u", srv->sid_tag, id);
	else
		ok = bsnprintf(buf, size, "%u", id);
	if (!ok)
		fatalx("smtp_sid_format: buffer too small");
}

uint32_t
smtp_session_next_id(uint32_t *last, int (*in_use)(void *, uint32_t),
    void *arg)
{
	uint32_t	id = *last, n;

	/* At most 2^32 - 1 tries: some id is free, sessions are fewer. */
	for (n = 0; n < UINT32_MAX; n++) {
		if (++id == 0)
			id = 1;
		if (!in_use(arg, id)) {
			*last = id;
			return id;
		}
	}
	fatalx("no free session id");
}

void
smtp_session_tls_done(struct smtp_session *s, const char *version,
    const char *cipher)
{
	s->tls = 1;
	if (!bsnprintf(s->tls_info, sizeof(s->tls_info),
	    "version=%s cipher=%s", version, cipher))
		(void)strlcpy(s->tls_info, "version=? cipher=?",
		    sizeof(s->tls_info));
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_txn_reset(s);
}

/* ---- endings decided by the driver ---- */

/* A 421 ending: a lookup or open waited for is given up. */
static void
smtp_end(struct smtp_session *s, enum smtp_reply_id id,
    enum smtp_close_reason why, struct smtp_reply *r)
{
	if (s->wait == SMTP_A_LOOKUP || s->wait == SMTP_A_OPEN ||
	    s->wait == SMTP_A_AUTH || s->wait == SMTP_A_SENDER)
		smtp_request_forget(s);
	smtp_reply_set_str(r, id, s->cfg->hostname);
	(void)smtp_close(s, why);
}

void
smtp_session_timeout(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_end(s, SMTP_R_TIMEOUT, SMTP_CLOSE_TIMEOUT, r);
}

void
smtp_session_deadline(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_end(s, SMTP_R_DEADLINE, SMTP_CLOSE_DEADLINE, r);
}

void
smtp_session_shutdown(struct smtp_session *s, struct smtp_reply *r)
{
	smtp_end(s, SMTP_R_SHUTDOWN, SMTP_CLOSE_SHUTDOWN, r);
}

void
smtp_session_limit(struct smtp_session *s, struct smtp_reply *r)
{
	s->cmd = "CONNECT";
	smtp_reply_set(r, SMTP_R_TOO_MANY_CONNS);
	(void)smtp_done(s, SMTP_A_CLOSE, 1, r);
	(void)smtp_close(s, SMTP_CLOSE_LIMIT);
}

void
smtp_session_no_room(struct smtp_session *s, struct smtp_reply *r)
{
	s->cmd = "CONNECT";
	smtp_reply_set_str(r, SMTP_R_BUSY, s->cfg->hostname);
	(void)smtp_done(s, SMTP_A_CLOSE, 1, r);
	(void)smtp_close(s, SMTP_CLOSE_BUSY);
}

void
smtp_session_closed(struct smtp_session *s, enum smtp_close_reason why)
{
	if (s->close_reason == SMTP_CLOSE_NONE)
		s->close_reason = why;
}

/* ---- the Received header ---- */

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
	/* The client as an address literal (RFC 5321 4.1.3, 4.4). */
	buf_printf(out, "Received: from %s ([%s%s])\r\n\tby %s (strictmail) "
	    "with %s", s->helo, strchr(s->client, ':') != NULL ? "IPv6:" : "",
	    s->client, s->cfg->hostname, smtp_session_protocol(s));
	if (s->authenticated && s->cfg->received_auth)
		buf_printf(out, "\r\n\t(authenticated as %s)", s->auth_name);
	if (s->tls)
		buf_printf(out, "\r\n\t(%s)\r\n\t", s->tls_info);
	else
		buf_addch(out, ' ');
	buf_printf(out, "id %s;\r\n\t%s, %d %s %d %02d:%02d:%02d +0000\r\n",
	    s->qid, days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
