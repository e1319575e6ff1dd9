/*
 * smtpc.c - the SMTP client session: states, commands, outcomes.
 *
 * One transition function moves between the states of smtpc.h and logs
 * every move.  Every command sent whose reply is due goes into one queue,
 * in order; each reply takes the head of the queue and goes to that
 * command's handler, so pipelined and lock-step dialogues share the same
 * code.  Outcomes are written once per recipient: by the refusal of its
 * RCPT, or by the reply that ends the transaction for every recipient
 * still without one (MAIL, DATA, the final dot, BDAT), or by the end of
 * the session.  Nothing here does I/O.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "delivery/smtpc.h"

/* ---- names ---- */

const char *
smtpc_state_name(enum smtpc_state st)
{
	switch (st) {
	case SMTPC_INIT:	return "INIT";
	case SMTPC_GREETING:	return "GREETING";
	case SMTPC_EHLO:	return "EHLO";
	case SMTPC_HELO:	return "HELO";
	case SMTPC_STARTTLS:	return "STARTTLS";
	case SMTPC_TLS:		return "TLS";
	case SMTPC_AUTH:	return "AUTH";
	case SMTPC_READY:	return "READY";
	case SMTPC_TRANS:	return "TRANS";
	case SMTPC_CONTENT:	return "CONTENT";
	case SMTPC_FINAL:	return "FINAL";
	case SMTPC_QUIT:	return "QUIT";
	case SMTPC_CLOSED:	return "CLOSED";
	}
	return "?";
}

const char *
smtpc_cmd_name(enum smtpc_cmd cmd)
{
	switch (cmd) {
	case SMTPC_CMD_NONE:		return "none";
	case SMTPC_CMD_GREETING:	return "greeting";
	case SMTPC_CMD_EHLO:		return "EHLO";
	case SMTPC_CMD_HELO:		return "HELO";
	case SMTPC_CMD_STARTTLS:	return "STARTTLS";
	case SMTPC_CMD_AUTH:		return "AUTH";
	case SMTPC_CMD_RSET:		return "RSET";
	case SMTPC_CMD_MAIL:		return "MAIL";
	case SMTPC_CMD_RCPT:		return "RCPT";
	case SMTPC_CMD_DATA:		return "DATA";
	case SMTPC_CMD_DOT:		return "end of data";
	case SMTPC_CMD_BDAT:		return "BDAT";
	case SMTPC_CMD_BDAT_LAST:	return "BDAT LAST";
	case SMTPC_CMD_QUIT:		return "QUIT";
	}
	return "?";
}

const char *
smtpc_status_name(enum smtpc_status st)
{
	switch (st) {
	case SMTPC_PENDING:	return "pending";
	case SMTPC_SENT:	return "sent";
	case SMTPC_TEMPFAIL:	return "deferred";
	case SMTPC_PERMFAIL:	return "bounced";
	}
	return "?";
}

/* ---- setup ---- */

void
smtpc_settings_default(struct smtpc_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->tls = SMTPC_TLS_MAY;
	set->t_greeting = 300;
	set->t_mail = 300;
	set->t_rcpt = 300;
	set->t_data_init = 120;
	set->t_data_block = 180;
	set->t_data_final = 600;
	set->t_command = 300;
	set->t_tls = 300;
}

void
smtpc_init(struct smtpc *c, const struct smtpc_settings *set)
{
	memset(c, 0, sizeof(*c));
	c->set = set;
	c->state = SMTPC_INIT;
}

void
smtpc_free(struct smtpc *c)
{
	free(c->pend);
	c->pend = NULL;
	c->npend = c->pend_head = c->pend_cap = 0;
	c->msg = NULL;
}

/* The one transition function. */
static void
smtpc_enter(struct smtpc *c, enum smtpc_state st)
{
	if (c->state == st)
		return;
	log_debug("smtp client state %s -> %s", smtpc_state_name(c->state),
	    smtpc_state_name(st));
	c->state = st;
}

/* ---- the queue of replies due ---- */

static void
smtpc_push(struct smtpc *c, enum smtpc_cmd cmd, size_t rcpt)
{
	if (c->npend == c->pend_cap) {
		c->pend_cap = c->pend_cap ? c->pend_cap * 2 : 8;
		c->pend = xreallocarray(c->pend, c->pend_cap,
		    sizeof(*c->pend));
	}
	c->pend[c->npend].cmd = cmd;
	c->pend[c->npend].rcpt = rcpt;
	c->npend++;
}

static int
smtpc_pop(struct smtpc *c, struct smtpc_pending *p)
{
	if (c->pend_head == c->npend)
		return 0;
	*p = c->pend[c->pend_head++];
	if (c->pend_head == c->npend)
		c->pend_head = c->npend = 0;
	return 1;
}

static size_t
smtpc_ndue(const struct smtpc *c)
{
	return c->npend - c->pend_head;
}

enum smtpc_cmd
smtpc_waiting_for(const struct smtpc *c)
{
	return smtpc_ndue(c) > 0 ? c->pend[c->pend_head].cmd : SMTPC_CMD_NONE;
}

unsigned
smtpc_timeout(const struct smtpc *c)
{
	const struct smtpc_settings	*s = c->set;

	if (c->state == SMTPC_TLS)
		return s->t_tls;
	switch (smtpc_waiting_for(c)) {
	case SMTPC_CMD_NONE:
		return c->state == SMTPC_CONTENT ? s->t_data_block : 0;
	case SMTPC_CMD_GREETING:	return s->t_greeting;
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_HELO:
	case SMTPC_CMD_STARTTLS:
	case SMTPC_CMD_AUTH:
	case SMTPC_CMD_RSET:
	case SMTPC_CMD_QUIT:		return s->t_command;
	case SMTPC_CMD_MAIL:		return s->t_mail;
	case SMTPC_CMD_RCPT:		return s->t_rcpt;
	case SMTPC_CMD_DATA:		return s->t_data_init;
	case SMTPC_CMD_BDAT:		return s->t_data_block;
	case SMTPC_CMD_DOT:
	case SMTPC_CMD_BDAT_LAST:	return s->t_data_final;
	}
	return s->t_command;
}

/* A command line: the text, then CRLF. */
static void
smtpc_send(struct smtpc *c, struct buf *out, enum smtpc_cmd cmd, size_t rcpt,
    const char *text)
{
	buf_addstr(out, text);
	buf_add(out, "\r\n", 2);
	smtpc_push(c, cmd, rcpt);
}

/* ---- outcomes ---- */

static void
smtpc_outcome_set(struct smtpc_outcome *o, enum smtpc_status st, int host,
    int code, const char *enh, const char *reason)
{
	o->status = st;
	o->stage = SMTPC_FAIL_NONE;
	o->host = host;
	o->code = code;
	(void)strlcpy(o->enh, enh, sizeof(o->enh));
	(void)strlcpy(o->reason, reason, sizeof(o->reason));
}

static int
smtpc_status_class(enum smtpc_status st)
{
	switch (st) {
	case SMTPC_SENT:	return 2;
	case SMTPC_PERMFAIL:	return 5;
	default:		return 4;
	}
}

/*
 * The outcome a reply gives: 2xx sent, 4xx temporary, 5xx permanent; a
 * failure of the host is always temporary (the next MX may do better).
 * The enhanced code is the reply's when of the same class.
 */
static void
smtpc_outcome_reply(struct smtpc_outcome *o, const struct smtpc_reply *r,
    int host)
{
	enum smtpc_status	st;
	int			cls;

	switch (r->code / 100) {
	case 2:		st = SMTPC_SENT; break;
	case 5:		st = SMTPC_PERMFAIL; break;
	default:	st = SMTPC_TEMPFAIL; break;
	}
	if (host)
		st = SMTPC_TEMPFAIL;
	cls = smtpc_status_class(st);
	o->status = st;
	o->stage = SMTPC_FAIL_NONE;
	o->host = host;
	o->code = r->code;
	if (r->enh[0] != '\0' && r->enh[0] == (char)('0' + cls))
		(void)strlcpy(o->enh, r->enh, sizeof(o->enh));
	else
		(void)bsnprintf(o->enh, sizeof(o->enh), "%d.0.0", cls);
	(void)smtpc_reply_summary(r, o->reason, sizeof(o->reason));
}

/* o for every recipient without an outcome; accepted_only: only for
 * those whose RCPT was accepted. */
static void
smtpc_apply(struct smtpc *c, const struct smtpc_outcome *o, int accepted_only)
{
	size_t	i;

	if (c->msg == NULL)
		return;
	for (i = 0; i < c->msg->nrcpt; i++) {
		struct smtpc_rcpt *rc = &c->msg->rcpts[i];

		if (rc->out.status != SMTPC_PENDING)
			continue;
		if (accepted_only && !rc->accepted)
			continue;
		rc->out = *o;
	}
}

static void
smtpc_apply_reply(struct smtpc *c, const struct smtpc_reply *r,
    int accepted_only)
{
	struct smtpc_outcome	o;

	smtpc_outcome_reply(&o, r, 0);
	smtpc_apply(c, &o, accepted_only);
}

static void
smtpc_apply_local(struct smtpc *c, enum smtpc_status st, const char *enh,
    const char *reason)
{
	struct smtpc_outcome	o;

	smtpc_outcome_set(&o, st, 0, 0, enh, reason);
	smtpc_apply(c, &o, 0);
}

/* ---- the end of the session ---- */

/* The session ends with o; QUIT first when the connection still works. */
static enum smtpc_action
smtpc_end(struct smtpc *c, const struct smtpc_outcome *o, int quit,
    struct buf *out)
{
	c->fail = *o;
	smtpc_apply(c, o, 0);
	c->msg = NULL;
	c->pend_head = c->npend = 0;
	if (quit)
		buf_add(out, "QUIT\r\n", 6);
	log_debug("smtp client session ends: %s", o->reason);
	smtpc_enter(c, SMTPC_CLOSED);
	return SMTPC_A_CLOSE;
}

/* A failure of the host decided here at stage: temporary. */
static enum smtpc_action
smtpc_end_stage(struct smtpc *c, enum smtpc_fail_stage stage, int code,
    const char *enh, const char *reason, int quit, struct buf *out)
{
	struct smtpc_outcome	o;

	smtpc_outcome_set(&o, SMTPC_TEMPFAIL, 1, code, enh, reason);
	o.stage = stage;
	return smtpc_end(c, &o, quit, out);
}

/* A failure of the host decided here: temporary. */
static enum smtpc_action
smtpc_end_local(struct smtpc *c, int code, const char *enh,
    const char *reason, int quit, struct buf *out)
{
	return smtpc_end_stage(c, SMTPC_FAIL_NONE, code, enh, reason, quit,
	    out);
}

/* A failure of the host said by its reply. */
static enum smtpc_action
smtpc_end_reply(struct smtpc *c, const struct smtpc_reply *r, int quit,
    struct buf *out)
{
	struct smtpc_outcome	o;

	smtpc_outcome_reply(&o, r, 1);
	return smtpc_end(c, &o, quit, out);
}

/* A reply that makes no sense where it came. */
static enum smtpc_action
smtpc_unexpected(struct smtpc *c, const struct smtpc_reply *r,
    enum smtpc_cmd cmd, struct buf *out)
{
	char	sum[SMTPC_SUMMARY_MAX], why[SMTPC_REASON_MAX];

	(void)smtpc_reply_summary(r, sum, sizeof(sum));
	if (cmd == SMTPC_CMD_NONE)
		(void)bsnprintf(why, sizeof(why), "protocol error: reply "
		    "without a command: %s", sum);
	else
		(void)bsnprintf(why, sizeof(why), "protocol error: unexpected "
		    "reply to %s: %s", smtpc_cmd_name(cmd), sum);
	return smtpc_end_local(c, r->code, "4.5.0", why, 1, out);
}

enum smtpc_action
smtpc_abort(struct smtpc *c, const char *reason, int protocol,
    struct buf *out)
{
	char		why[SMTPC_REASON_MAX];
	enum smtpc_cmd	cmd = smtpc_waiting_for(c);

	if (c->state == SMTPC_CLOSED)
		return SMTPC_A_CLOSE;
	if (c->state == SMTPC_TLS)
		(void)bsnprintf(why, sizeof(why), "%s during the TLS "
		    "handshake", reason);
	else if (cmd != SMTPC_CMD_NONE)
		(void)bsnprintf(why, sizeof(why), "%s%s waiting for the reply "
		    "to %s", protocol ? "protocol error: " : "", reason,
		    smtpc_cmd_name(cmd));
	else if (c->state == SMTPC_CONTENT)
		(void)bsnprintf(why, sizeof(why), "%s while sending the "
		    "message", reason);
	else
		(void)bsnprintf(why, sizeof(why), "%s%s", protocol ?
		    "protocol error: " : "", reason);
	return smtpc_end_local(c, 0, protocol ? "4.5.0" : "4.4.2", why,
	    protocol && c->state != SMTPC_TLS, out);
}

/* ---- greeting, EHLO, HELO, STARTTLS ---- */

enum smtpc_action
smtpc_connected(struct smtpc *c, struct buf *out)
{
	(void)out;
	if (c->state != SMTPC_INIT)
		fatalx("smtpc_connected: in state %s",
		    smtpc_state_name(c->state));
	c->tls = c->set->tls_on_connect;
	smtpc_push(c, SMTPC_CMD_GREETING, 0);
	smtpc_enter(c, SMTPC_GREETING);
	return SMTPC_A_WAIT;
}

static enum smtpc_action
smtpc_ehlo(struct smtpc *c, struct buf *out)
{
	buf_printf(out, "EHLO %s\r\n", c->set->helo);
	smtpc_push(c, SMTPC_CMD_EHLO, 0);
	smtpc_enter(c, SMTPC_EHLO);
	return SMTPC_A_WAIT;
}

static enum smtpc_action
smtpc_ready(struct smtpc *c)
{
	c->msg = NULL;
	smtpc_enter(c, SMTPC_READY);
	return SMTPC_A_READY;
}

static enum smtpc_action
smtpc_on_greeting(struct smtpc *c, const struct smtpc_reply *r,
    struct buf *out)
{
	if (r->code / 100 != 2)
		return smtpc_end_reply(c, r, 1, out);
	(void)smtpc_reply_summary(r, c->greeting, sizeof(c->greeting));
	return smtpc_ehlo(c, out);
}

/* ---- AUTH (RFC 4954) ---- */

/* Standard base64 (RFC 4648 4) of data, appended to out. */
static void
smtpc_b64(struct buf *out, const void *data, size_t len)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*p = data;
	char			 q[4];
	uint32_t		 v;
	size_t			 i, n;

	for (i = 0; i < len; i += 3) {
		n = len - i < 3 ? len - i : 3;
		v = (uint32_t)p[i] << 16;
		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = n > 1 ? tab[(v >> 6) & 63] : '=';
		q[3] = n > 2 ? tab[v & 63] : '=';
		buf_add(out, q, 4);
	}
}

/* "AUTH PLAIN <base64 of NUL user NUL password>" (RFC 4616 2: no
 * authorisation identity), with the initial response. */
static void
smtpc_auth_plain(struct smtpc *c, struct buf *out)
{
	struct buf	raw;

	buf_init(&raw);
	buf_addch(&raw, '\0');
	buf_addstr(&raw, c->set->auth_user);
	buf_addch(&raw, '\0');
	buf_addstr(&raw, c->set->auth_pass);
	buf_addstr(out, "AUTH PLAIN ");
	smtpc_b64(out, raw.data, raw.len);
	explicit_bzero(raw.data, raw.cap);
	buf_free(&raw);
	smtpc_send(c, out, SMTPC_CMD_AUTH, 0, "");
}

/* One LOGIN continuation: the base64 of s. */
static void
smtpc_auth_line(struct smtpc *c, struct buf *out, const char *s)
{
	smtpc_b64(out, s, strlen(s));
	smtpc_send(c, out, SMTPC_CMD_AUTH, 0, "");
}

/*
 * After the EHLO that ends the TLS step: AUTH when credentials are set
 * (PLAIN when offered, else LOGIN), never without TLS; else ready.
 */
static enum smtpc_action
smtpc_auth_step(struct smtpc *c, struct buf *out)
{
	const char	*why = NULL;

	if (c->set->auth_user == NULL || c->authed)
		return smtpc_ready(c);
	if (!c->tls)
		why = "authentication needs TLS: credentials are never sent "
		    "over an unencrypted connection";
	else if ((c->caps.flags & SMTPC_CAP_AUTH) == 0)
		why = "authentication failed: the server offers no AUTH";
	else if ((c->caps.auth & (SMTPC_AUTH_PLAIN | SMTPC_AUTH_LOGIN)) == 0)
		why = "authentication failed: the server offers neither AUTH "
		    "PLAIN nor AUTH LOGIN";
	if (why != NULL)
		return smtpc_end_local(c, 0, "4.7.0", why, 1, out);
	c->auth_step = 0;
	if (c->caps.auth & SMTPC_AUTH_PLAIN) {
		c->auth_mech = SMTPC_AUTH_PLAIN;
		smtpc_auth_plain(c, out);
	} else {
		c->auth_mech = SMTPC_AUTH_LOGIN;
		smtpc_send(c, out, SMTPC_CMD_AUTH, 0, "AUTH LOGIN");
	}
	smtpc_enter(c, SMTPC_AUTH);
	return SMTPC_A_WAIT;
}

/*
 * A reply to AUTH or a continuation: 235 goes on; 334 gets LOGIN's user
 * name, then its password; any other reply fails the host temporarily
 * (the mail must not bounce for the operator's credentials).
 */
static enum smtpc_action
smtpc_on_auth(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	char	sum[SMTPC_SUMMARY_MAX], why[SMTPC_REASON_MAX];

	if (r->code / 100 == 2) {
		c->authed = 1;
		return smtpc_ready(c);
	}
	if (r->code == 334 && c->auth_mech == SMTPC_AUTH_LOGIN &&
	    c->auth_step < 2) {
		smtpc_auth_line(c, out, c->auth_step == 0 ?
		    c->set->auth_user : c->set->auth_pass);
		c->auth_step++;
		return SMTPC_A_WAIT;
	}
	if (r->code / 100 == 3)
		return smtpc_unexpected(c, r, SMTPC_CMD_AUTH, out);
	(void)smtpc_reply_summary(r, sum, sizeof(sum));
	(void)bsnprintf(why, sizeof(why), "authentication failed: %s", sum);
	/* Code 0: decided here; the reason carries the server's reply. */
	return smtpc_end_local(c, 0, r->code / 100 == 5 ? "4.7.8" : "4.7.0",
	    why, 1, out);
}

/* HELO or EHLO done: the STARTTLS step of the level, or AUTH, or ready. */
static enum smtpc_action
smtpc_tls_step(struct smtpc *c, struct buf *out)
{
	if (c->tls || c->set->tls == SMTPC_TLS_NONE)
		return smtpc_auth_step(c, out);
	if (c->caps.flags & SMTPC_CAP_STARTTLS) {
		smtpc_send(c, out, SMTPC_CMD_STARTTLS, 0, "STARTTLS");
		smtpc_enter(c, SMTPC_STARTTLS);
		return SMTPC_A_WAIT;
	}
	if (c->set->tls == SMTPC_TLS_MAY)
		return smtpc_auth_step(c, out);
	return smtpc_end_stage(c, SMTPC_FAIL_STARTTLS_MISSING, 0, "4.7.4",
	    "no STARTTLS offered", 1, out);
}

static enum smtpc_action
smtpc_on_ehlo(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	switch (r->code / 100) {
	case 2:
		c->esmtp = 1;
		smtpc_caps_parse(r, &c->caps);
		return smtpc_tls_step(c, out);
	case 5:
		/* 500 or 502 from an old server: HELO (RFC 5321 3.2). */
		buf_printf(out, "HELO %s\r\n", c->set->helo);
		smtpc_push(c, SMTPC_CMD_HELO, 0);
		smtpc_enter(c, SMTPC_HELO);
		return SMTPC_A_WAIT;
	case 4:
		return smtpc_end_reply(c, r, 1, out);
	}
	return smtpc_unexpected(c, r, SMTPC_CMD_EHLO, out);
}

static enum smtpc_action
smtpc_on_helo(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	switch (r->code / 100) {
	case 2:
		c->esmtp = 0;
		memset(&c->caps, 0, sizeof(c->caps));
		return smtpc_tls_step(c, out);
	case 4:
	case 5:
		return smtpc_end_reply(c, r, 1, out);
	}
	return smtpc_unexpected(c, r, SMTPC_CMD_HELO, out);
}

static enum smtpc_action
smtpc_on_starttls(struct smtpc *c, const struct smtpc_reply *r,
    struct buf *out)
{
	char	sum[SMTPC_SUMMARY_MAX], why[SMTPC_REASON_MAX];

	switch (r->code / 100) {
	case 2:
		/* RFC 3207 4.2: nothing learnt before the handshake holds. */
		c->esmtp = 0;
		memset(&c->caps, 0, sizeof(c->caps));
		smtpc_enter(c, SMTPC_TLS);
		return SMTPC_A_STARTTLS;
	case 4:
	case 5:
		if (c->set->tls == SMTPC_TLS_MAY) {
			c->tls_declined = 1;
			return smtpc_auth_step(c, out);
		}
		(void)smtpc_reply_summary(r, sum, sizeof(sum));
		(void)bsnprintf(why, sizeof(why), "STARTTLS refused: %s", sum);
		return smtpc_end_stage(c, SMTPC_FAIL_STARTTLS_REFUSED, r->code,
		    "4.7.4", why, 1, out);
	}
	return smtpc_unexpected(c, r, SMTPC_CMD_STARTTLS, out);
}

enum smtpc_action
smtpc_tls_done(struct smtpc *c, enum smtpc_fail_stage fail,
    const char *reason, struct buf *out)
{
	if (c->state != SMTPC_TLS)
		fatalx("smtpc_tls_done: in state %s",
		    smtpc_state_name(c->state));
	if (fail != SMTPC_FAIL_NONE && fail != SMTPC_FAIL_TLS_HANDSHAKE &&
	    fail != SMTPC_FAIL_CERT)
		fatalx("smtpc_tls_done: stage %d", (int)fail);
	if (fail != SMTPC_FAIL_NONE)
		return smtpc_end_stage(c, fail, 0, "4.7.5", reason, 0, out);
	c->tls = 1;
	return smtpc_ehlo(c, out);
}

/* ---- the transaction ---- */

static int
smtpc_nonascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* An address that can go into a command line: no control octets. */
static int
smtpc_addr_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* xtext of RFC 3461 4: "!" to "~" but "+" and "=", or "+" HEX HEX. */
static int
smtpc_xtext_ok(const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (s[1] == '\0' || strchr(hex, s[1]) == NULL ||
			    s[2] == '\0' || strchr(hex, s[2]) == NULL)
				return 0;
			s += 2;
		} else if (*s < '!' || *s > '~' || *s == '=')
			return 0;
	}
	return 1;
}

/* ORCPT: addr-type ";" xtext. */
static int
smtpc_orcpt_ok(const char *s)
{
	const char	*semi;
	size_t		 i;

	if (s == NULL || (semi = strchr(s, ';')) == NULL || semi == s)
		return 0;
	for (i = 0; s + i < semi; i++)
		if (s[i] < '!' || s[i] > '~')
			return 0;
	return smtpc_xtext_ok(semi + 1);
}

static int
smtpc_needs_utf8(const struct smtpc_msg *m)
{
	size_t	i;

	if (m->smtputf8 || smtpc_nonascii(m->sender))
		return 1;
	for (i = 0; i < m->nrcpt; i++)
		if (smtpc_nonascii(m->rcpts[i].addr))
			return 1;
	return 0;
}

static int
smtpc_has(const struct smtpc *c, unsigned cap)
{
	return (c->caps.flags & cap) != 0;
}

static void
smtpc_send_mail(struct smtpc *c, struct buf *out, int utf8)
{
	struct smtpc_msg	*m = c->msg;

	buf_printf(out, "MAIL FROM:<%s>", m->sender);
	if (smtpc_has(c, SMTPC_CAP_SIZE))
		buf_printf(out, " SIZE=%" PRIu64, m->size);
	if (m->eightbit && smtpc_has(c, SMTPC_CAP_8BITMIME))
		buf_addstr(out, " BODY=8BITMIME");
	if (utf8)
		buf_addstr(out, " SMTPUTF8");
	if (smtpc_has(c, SMTPC_CAP_DSN)) {
		if (m->ret == DSN_RET_FULL || m->ret == DSN_RET_HDRS) {
			buf_addstr(out, m->ret == DSN_RET_FULL ? " RET=FULL" :
			    " RET=HDRS");
			m->dsn_passed = 1;
		}
		if (smtpc_xtext_ok(m->envid)) {
			buf_printf(out, " ENVID=%s", m->envid);
			m->dsn_passed = 1;
		}
	}
	smtpc_send(c, out, SMTPC_CMD_MAIL, 0, "");
}

static void
smtpc_send_notify(struct buf *out, unsigned notify)
{
	static const struct { unsigned bit; const char *name; } n[] = {
		{ DSN_NOTIFY_SUCCESS, "SUCCESS" },
		{ DSN_NOTIFY_FAILURE, "FAILURE" },
		{ DSN_NOTIFY_DELAY, "DELAY" },
	};
	const char	*sep = " NOTIFY=";
	size_t		 i;

	if (notify & DSN_NOTIFY_NEVER) {
		buf_addstr(out, " NOTIFY=NEVER");
		return;
	}
	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		if (notify & n[i].bit) {
			buf_addstr(out, sep);
			buf_addstr(out, n[i].name);
			sep = ",";
		}
	}
}

static void
smtpc_send_rcpt(struct smtpc *c, struct buf *out, size_t i)
{
	struct smtpc_rcpt	*rc = &c->msg->rcpts[i];

	buf_printf(out, "RCPT TO:<%s>", rc->addr);
	if (smtpc_has(c, SMTPC_CAP_DSN)) {
		if (rc->notify != 0) {
			smtpc_send_notify(out, rc->notify);
			c->msg->dsn_passed = 1;
		}
		if (smtpc_orcpt_ok(rc->orcpt)) {
			buf_printf(out, " ORCPT=%s", rc->orcpt);
			c->msg->dsn_passed = 1;
		}
	}
	smtpc_send(c, out, SMTPC_CMD_RCPT, i, "");
}

/* The next recipient to send from c->next_rcpt on; nrcpt if none. */
static size_t
smtpc_next_rcpt(struct smtpc *c)
{
	while (c->next_rcpt < c->msg->nrcpt &&
	    c->msg->rcpts[c->next_rcpt].out.status != SMTPC_PENDING)
		c->next_rcpt++;
	return c->next_rcpt;
}

/* With PIPELINING: every RCPT, and DATA unless CHUNKING. */
static void
smtpc_send_batch(struct smtpc *c, struct buf *out)
{
	size_t	i;

	while ((i = smtpc_next_rcpt(c)) < c->msg->nrcpt) {
		smtpc_send_rcpt(c, out, i);
		c->next_rcpt++;
	}
	if (!smtpc_has(c, SMTPC_CAP_CHUNKING)) {
		smtpc_send(c, out, SMTPC_CMD_DATA, 0, "DATA");
		c->data_sent = 1;
	}
}

/* What the session can decide before MAIL; 1 if the message is done. */
static int
smtpc_refuse_locally(struct smtpc *c, int utf8)
{
	struct smtpc_msg	*m = c->msg;
	char			 why[SMTPC_REASON_MAX];
	size_t			 i, left = 0;

	if (!smtpc_addr_ok(m->sender)) {
		smtpc_apply_local(c, SMTPC_PERMFAIL, "5.1.7",
		    "sender address with control characters");
		return 1;
	}
	if (utf8 && !smtpc_has(c, SMTPC_CAP_SMTPUTF8)) {
		smtpc_apply_local(c, SMTPC_PERMFAIL, "5.6.7", "SMTPUTF8 is "
		    "required, but was not offered by the server");
		return 1;
	}
	if (smtpc_has(c, SMTPC_CAP_SIZE) && c->caps.size > 0 &&
	    m->size > c->caps.size) {
		(void)bsnprintf(why, sizeof(why), "message size %" PRIu64
		    " exceeds the size limit %" PRIu64 " of the server",
		    m->size, c->caps.size);
		smtpc_apply_local(c, SMTPC_PERMFAIL, "5.3.4", why);
		return 1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (smtpc_addr_ok(m->rcpts[i].addr))
			left++;
		else
			smtpc_outcome_set(&m->rcpts[i].out, SMTPC_PERMFAIL, 0,
			    0, "5.1.3", "recipient address with control "
			    "characters");
	}
	return left == 0;
}

/*
 * With PIPELINING and CHUNKING the first chunk goes in the write of MAIL
 * and RCPT (RFC 3030 4.2): the content starts before the replies come.
 */
static int
smtpc_early_chunks(const struct smtpc *c)
{
	return smtpc_has(c, SMTPC_CAP_PIPELINING) &&
	    smtpc_has(c, SMTPC_CAP_CHUNKING);
}

enum smtpc_action
smtpc_mail(struct smtpc *c, struct smtpc_msg *msg, struct buf *out)
{
	size_t	i;
	int	utf8;

	if (c->state != SMTPC_READY)
		fatalx("smtpc_mail: in state %s", smtpc_state_name(c->state));
	for (i = 0; i < msg->nrcpt; i++) {
		memset(&msg->rcpts[i].out, 0, sizeof(msg->rcpts[i].out));
		msg->rcpts[i].accepted = 0;
	}
	msg->unannounced_8bit = msg->dsn_passed = msg->chunked = 0;
	c->msg = msg;
	c->mail_ok = 0;
	c->naccepted = c->next_rcpt = 0;
	c->data_sent = c->bdat_failed = 0;
	utf8 = smtpc_needs_utf8(msg);
	if (smtpc_refuse_locally(c, utf8))
		return smtpc_ready(c);
	msg->unannounced_8bit = msg->eightbit &&
	    !smtpc_has(c, SMTPC_CAP_8BITMIME);
	smtpc_enter(c, SMTPC_TRANS);
	if (c->need_rset) {
		smtpc_send(c, out, SMTPC_CMD_RSET, 0, "RSET");
		if (!smtpc_has(c, SMTPC_CAP_PIPELINING))
			return SMTPC_A_WAIT;
	}
	smtpc_send_mail(c, out, utf8);
	if (!smtpc_has(c, SMTPC_CAP_PIPELINING))
		return SMTPC_A_WAIT;
	smtpc_send_batch(c, out);
	if (!smtpc_early_chunks(c))
		return SMTPC_A_WAIT;
	msg->chunked = 1;
	smtpc_enter(c, SMTPC_CONTENT);
	return SMTPC_A_CONTENT;
}

/* WAIT, or CONTENT while the driver sends content. */
static enum smtpc_action
smtpc_go_on(const struct smtpc *c)
{
	return c->state == SMTPC_CONTENT ? SMTPC_A_CONTENT : SMTPC_A_WAIT;
}

/*
 * No more content for this message (if any was still to come); the
 * message is done when no reply is due any more: a refused chunk counts
 * for every accepted recipient, and no recipient is left without an
 * outcome.
 */
static enum smtpc_action
smtpc_msg_step(struct smtpc *c)
{
	struct smtpc_outcome	o;

	if (c->state == SMTPC_CONTENT) {
		/* Chunks stopped before LAST leave the transaction open. */
		c->need_rset = 1;
		smtpc_enter(c, SMTPC_FINAL);
	}
	if (smtpc_ndue(c) > 0)
		return SMTPC_A_WAIT;
	if (c->bdat_failed)
		smtpc_apply(c, &c->bdat_fail, 1);
	smtpc_outcome_set(&o, SMTPC_TEMPFAIL, 0, 0, "4.0.0",
	    "no outcome in the SMTP dialogue");
	smtpc_apply(c, &o, 0);
	return smtpc_ready(c);
}

/* All RCPT replies are in: DATA, the content, or the end. */
static enum smtpc_action
smtpc_after_rcpts(struct smtpc *c, struct buf *out)
{
	if (!c->mail_ok || c->naccepted == 0)
		return smtpc_msg_step(c);
	if (c->msg->chunked)
		return smtpc_go_on(c);
	if (smtpc_has(c, SMTPC_CAP_CHUNKING)) {
		/* Lock-step: the chunks start now. */
		c->msg->chunked = 1;
		smtpc_enter(c, SMTPC_CONTENT);
		return SMTPC_A_CONTENT;
	}
	if (!c->data_sent) {
		smtpc_send(c, out, SMTPC_CMD_DATA, 0, "DATA");
		c->data_sent = 1;
	}
	return SMTPC_A_WAIT;
}

static enum smtpc_action
smtpc_on_rset(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	if (r->code / 100 != 2)
		return smtpc_end_reply(c, r, 1, out);
	c->need_rset = 0;
	if (!smtpc_has(c, SMTPC_CAP_PIPELINING)) {
		smtpc_send_mail(c, out, smtpc_needs_utf8(c->msg));
		return SMTPC_A_WAIT;
	}
	return smtpc_go_on(c);
}

static enum smtpc_action
smtpc_on_mail(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	size_t	i;

	if (r->code / 100 == 3)
		return smtpc_unexpected(c, r, SMTPC_CMD_MAIL, out);
	if (r->code / 100 != 2) {
		smtpc_apply_reply(c, r, 0);
		return smtpc_msg_step(c);
	}
	c->mail_ok = 1;
	c->need_rset = 1;
	if (smtpc_has(c, SMTPC_CAP_PIPELINING))
		return smtpc_go_on(c);
	i = smtpc_next_rcpt(c);
	smtpc_send_rcpt(c, out, i);
	c->next_rcpt++;
	return SMTPC_A_WAIT;
}

static enum smtpc_action
smtpc_on_rcpt(struct smtpc *c, const struct smtpc_reply *r, size_t i,
    struct buf *out)
{
	struct smtpc_rcpt	*rc = &c->msg->rcpts[i];

	if (r->code / 100 == 3)
		return smtpc_unexpected(c, r, SMTPC_CMD_RCPT, out);
	if (c->mail_ok && rc->out.status == SMTPC_PENDING) {
		if (r->code / 100 == 2) {
			rc->accepted = 1;
			c->naccepted++;
		} else
			smtpc_outcome_reply(&rc->out, r, 0);
	}
	if (!smtpc_has(c, SMTPC_CAP_PIPELINING) &&
	    (i = smtpc_next_rcpt(c)) < c->msg->nrcpt) {
		smtpc_send_rcpt(c, out, i);
		c->next_rcpt++;
		return SMTPC_A_WAIT;
	}
	if (smtpc_waiting_for(c) == SMTPC_CMD_RCPT)
		return smtpc_go_on(c);
	return smtpc_after_rcpts(c, out);
}

static enum smtpc_action
smtpc_on_data(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	switch (r->code / 100) {
	case 3:
		if (c->mail_ok && c->naccepted > 0) {
			smtpc_dot_init(&c->dot);
			smtpc_enter(c, SMTPC_CONTENT);
			return SMTPC_A_CONTENT;
		}
		/* Nobody to send to, yet 354: end an empty message. */
		smtpc_send(c, out, SMTPC_CMD_DOT, 0, ".");
		smtpc_enter(c, SMTPC_FINAL);
		return SMTPC_A_WAIT;
	case 4:
	case 5:
		smtpc_apply_reply(c, r, 1);
		return smtpc_msg_step(c);
	}
	return smtpc_unexpected(c, r, SMTPC_CMD_DATA, out);
}

/*
 * The reply that ends the transaction (final dot, BDAT LAST), for every
 * accepted recipient.  After a refused chunk, or a BDAT LAST refused,
 * the server may keep a transaction open: RSET before the next one.
 */
static enum smtpc_action
smtpc_on_final(struct smtpc *c, const struct smtpc_reply *r,
    enum smtpc_cmd cmd, struct buf *out)
{
	if (r->code / 100 == 3)
		return smtpc_unexpected(c, r, cmd, out);
	if (!c->bdat_failed && c->mail_ok && c->naccepted > 0)
		smtpc_apply_reply(c, r, 1);
	c->need_rset = c->bdat_failed ||
	    (cmd == SMTPC_CMD_BDAT_LAST && r->code / 100 != 2);
	return smtpc_msg_step(c);
}

/* A BDAT chunk before the last: a refusal stops the content. */
static enum smtpc_action
smtpc_on_bdat(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	if (r->code / 100 == 3)
		return smtpc_unexpected(c, r, SMTPC_CMD_BDAT, out);
	if (r->code / 100 != 2 && !c->bdat_failed) {
		c->bdat_failed = 1;
		smtpc_outcome_reply(&c->bdat_fail, r, 0);
	}
	if (c->bdat_failed || c->state != SMTPC_CONTENT)
		return smtpc_msg_step(c);
	/* Pipelined chunks go on while their replies come. */
	if (smtpc_ndue(c) == 0 || smtpc_has(c, SMTPC_CAP_PIPELINING))
		return SMTPC_A_CONTENT;
	return SMTPC_A_WAIT;
}

static enum smtpc_action
smtpc_dispatch(struct smtpc *c, const struct smtpc_pending *p,
    const struct smtpc_reply *r, struct buf *out)
{
	switch (p->cmd) {
	case SMTPC_CMD_GREETING:	return smtpc_on_greeting(c, r, out);
	case SMTPC_CMD_EHLO:		return smtpc_on_ehlo(c, r, out);
	case SMTPC_CMD_HELO:		return smtpc_on_helo(c, r, out);
	case SMTPC_CMD_STARTTLS:	return smtpc_on_starttls(c, r, out);
	case SMTPC_CMD_AUTH:		return smtpc_on_auth(c, r, out);
	case SMTPC_CMD_RSET:		return smtpc_on_rset(c, r, out);
	case SMTPC_CMD_MAIL:		return smtpc_on_mail(c, r, out);
	case SMTPC_CMD_RCPT:		return smtpc_on_rcpt(c, r, p->rcpt,
					    out);
	case SMTPC_CMD_DATA:		return smtpc_on_data(c, r, out);
	case SMTPC_CMD_DOT:
	case SMTPC_CMD_BDAT_LAST:	return smtpc_on_final(c, r, p->cmd,
					    out);
	case SMTPC_CMD_BDAT:		return smtpc_on_bdat(c, r, out);
	case SMTPC_CMD_QUIT:
		smtpc_enter(c, SMTPC_CLOSED);
		return SMTPC_A_CLOSE;
	case SMTPC_CMD_NONE:
		break;
	}
	fatalx("smtpc_dispatch: command %d", (int)p->cmd);
}

enum smtpc_action
smtpc_reply(struct smtpc *c, const struct smtpc_reply *r, struct buf *out)
{
	struct smtpc_pending	p;

	if (c->state == SMTPC_CLOSED)
		return SMTPC_A_CLOSE;
	if (!smtpc_pop(c, &p))
		return smtpc_unexpected(c, r, SMTPC_CMD_NONE, out);
	/* 421: the server closes the connection (RFC 5321 3.8). */
	if (r->code == 421 && p.cmd != SMTPC_CMD_QUIT)
		return smtpc_end_reply(c, r, 0, out);
	return smtpc_dispatch(c, &p, r, out);
}

/* ---- the content ---- */

static enum smtpc_action
smtpc_content_bdat(struct smtpc *c, const void *data, size_t len, int last,
    struct buf *out)
{
	if (len == 0 && !last)
		return SMTPC_A_CONTENT;
	buf_printf(out, "BDAT %zu%s\r\n", len, last ? " LAST" : "");
	buf_add(out, data, len);
	smtpc_push(c, last ? SMTPC_CMD_BDAT_LAST : SMTPC_CMD_BDAT, 0);
	if (last) {
		smtpc_enter(c, SMTPC_FINAL);
		return SMTPC_A_WAIT;
	}
	return smtpc_has(c, SMTPC_CAP_PIPELINING) ? SMTPC_A_CONTENT :
	    SMTPC_A_WAIT;
}

enum smtpc_action
smtpc_content(struct smtpc *c, const void *data, size_t len, int last,
    struct buf *out)
{
	if (c->state != SMTPC_CONTENT)
		fatalx("smtpc_content: in state %s",
		    smtpc_state_name(c->state));
	c->content_sent += len;
	if (c->msg->chunked)
		return smtpc_content_bdat(c, data, len, last, out);
	smtpc_dot_stuff(&c->dot, data, len, out);
	if (!last)
		return SMTPC_A_CONTENT;
	smtpc_dot_end(&c->dot, out);
	smtpc_push(c, SMTPC_CMD_DOT, 0);
	smtpc_enter(c, SMTPC_FINAL);
	return SMTPC_A_WAIT;
}

enum smtpc_action
smtpc_quit(struct smtpc *c, struct buf *out)
{
	if (c->state == SMTPC_CLOSED)
		return SMTPC_A_CLOSE;
	if (c->state != SMTPC_READY)
		fatalx("smtpc_quit: in state %s", smtpc_state_name(c->state));
	smtpc_send(c, out, SMTPC_CMD_QUIT, 0, "QUIT");
	smtpc_enter(c, SMTPC_QUIT);
	return SMTPC_A_WAIT;
}

/* ---- dot-stuffing ---- */

void
smtpc_dot_init(struct smtpc_dot *d)
{
	d->bol = 1;
	d->cr = 0;
}

/*
 * Lines end in CRLF on the way out whatever the content has: a bare CR
 * or LF becomes CRLF too, so that no octet sequence of the content can
 * end DATA early (SMTP smuggling).
 */
void
smtpc_dot_stuff(struct smtpc_dot *d, const void *data, size_t len,
    struct buf *out)
{
	const char	*p = data, *e = p + len, *q;

	while (p < e) {
		if (d->cr) {
			d->cr = 0;
			d->bol = 1;
			buf_add(out, "\r\n", 2);
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		if (d->bol && *p == '.')
			buf_addch(out, '.');
		d->bol = 0;
		for (q = p; q < e && *q != '\r' && *q != '\n'; q++)
			;
		buf_add(out, p, (size_t)(q - p));
		if (q == e)
			break;
		if (*q == '\r')
			d->cr = 1;
		else {
			buf_add(out, "\r\n", 2);
			d->bol = 1;
		}
		p = q + 1;
	}
}

void
smtpc_dot_end(struct smtpc_dot *d, struct buf *out)
{
	if (d->cr) {
		buf_add(out, "\r\n", 2);
		d->cr = 0;
		d->bol = 1;
	}
	if (!d->bol)
		buf_add(out, "\r\n", 2);
	buf_add(out, ".\r\n", 3);
	smtpc_dot_init(d);
}
