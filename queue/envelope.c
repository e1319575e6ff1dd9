/*
 * envelope.c - writes and reads envelope files (format in envelope.h).
 *
 * The reader takes nothing on trust: every line must end in LF and be free
 * of control bytes, every key must be in the allow-list below, singletons
 * appear once, numbers are range-checked, and the file must end with "end".
 * Every error names its line.  A checked envelope (envelope_check) written
 * by envelope_serialize reads back unchanged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "queue/envelope.h"

/* Longest line: "rcpt delivered <" + value + ">" and friends. */
#define ENVELOPE_MAX_LINE	(ENVELOPE_MAX_VALUE + 32)
#define ENVELOPE_MAX_NUMBER	((uint64_t)INT64_MAX)

enum envelope_key {
	EK_ID, EK_ARRIVAL, EK_SIZE, EK_DIGEST, EK_SENDER, EK_HELO, EK_CLIENT, EK_PROTOCOL,
	EK_ATTEMPTS, EK_NEXT_ATTEMPT, EK_EXPIRY, EK_RET, EK_ENVID, EK_TLS,
	EK_BODY, EK_SMTPUTF8, EK_WARNED, EK_HELD, EK_RCPT, EK_RCPT_NOTIFY, EK_RCPT_ORCPT,
	EK_RCPT_ERROR, EK_END,
};

#define EKF_REQUIRED	0x01
#define EKF_REPEAT	0x02

struct envelope_keyinfo {
	const char		*name;
	enum envelope_key	 key;
	int			 flags;
};

/* The allow-list. */
static const struct envelope_keyinfo envelope_keys[] = {
	{ "id",			EK_ID,		EKF_REQUIRED },
	{ "arrival",		EK_ARRIVAL,	EKF_REQUIRED },
	{ "size",		EK_SIZE,	EKF_REQUIRED },
	{ "digest",		EK_DIGEST,	EKF_REQUIRED },
	{ "sender",		EK_SENDER,	EKF_REQUIRED },
	{ "helo",		EK_HELO,	EKF_REQUIRED },
	{ "client",		EK_CLIENT,	EKF_REQUIRED },
	{ "protocol",		EK_PROTOCOL,	EKF_REQUIRED },
	{ "attempts",		EK_ATTEMPTS,	EKF_REQUIRED },
	{ "next-attempt",	EK_NEXT_ATTEMPT, EKF_REQUIRED },
	{ "expiry",		EK_EXPIRY,	EKF_REQUIRED },
	{ "ret",		EK_RET,		0 },
	{ "envid",		EK_ENVID,	0 },
	{ "tls",		EK_TLS,		0 },
	{ "body",		EK_BODY,	0 },
	{ "smtputf8",		EK_SMTPUTF8,	0 },
	{ "warned",		EK_WARNED,	0 },
	{ "held",		EK_HELD,	0 },
	{ "rcpt",		EK_RCPT,	EKF_REQUIRED | EKF_REPEAT },
	{ "rcpt-notify",	EK_RCPT_NOTIFY,	EKF_REPEAT },
	{ "rcpt-orcpt",		EK_RCPT_ORCPT,	EKF_REPEAT },
	{ "rcpt-error",		EK_RCPT_ERROR,	EKF_REPEAT },
	{ "end",		EK_END,		EKF_REQUIRED },
	{ NULL,			0,		0 },
};

static const char *envelope_states[] = { "pending", "delivered", "failed" };
#define ENVELOPE_NSTATES \
	(sizeof(envelope_states) / sizeof(envelope_states[0]))

struct envelope_parser {
	struct envelope	*env;
	unsigned long	 line;
	uint32_t	 seen;		/* bit per enum envelope_key */
	int		 done;		/* "end" was read */
	char		*err;
	size_t		 errlen;
};

static int envelope_fail(struct envelope_parser *, const char *, ...)
    SM_PRINTF(2, 3);

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
}

void
envelope_free(struct envelope *env)
{
	size_t	i;

	for (i = 0; i < env->nrcpt; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].notify);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].error);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->helo);
	free(env->client);
	free(env->protocol);
	free(env->ret);
	free(env->envid);
	free(env->tls);
	free(env->body);
	envelope_init(env);
}

struct envelope_rcpt *
envelope_add_rcpt(struct envelope *env, const char *addr, enum rcpt_state st)
{
	struct envelope_rcpt	*r;
	size_t			 n = env->nrcpt;

	/* Capacity is 8, then the next power of two: grow when n reaches it. */
	if (n == 0)
		env->rcpts = xreallocarray(NULL, 8, sizeof(*env->rcpts));
	else if (n >= 8 && (n & (n - 1)) == 0)
		env->rcpts = xreallocarray(env->rcpts, n * 2,
		    sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->state = st;
	return r;
}

const char *
envelope_rcpt_state_name(enum rcpt_state st)
{
	if ((size_t)st >= ENVELOPE_NSTATES)
		return "unknown";
	return envelope_states[st];
}

int
envelope_value_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		if (i >= ENVELOPE_MAX_VALUE)
			return 0;
	}
	return 1;
}

/* ---- check and write ---- */

static int
envelope_check_str(const char *name, const char *s, int need, char *err,
    size_t errlen)
{
	if (s == NULL) {
		if (need) {
			(void)bsnprintf(err, errlen, "%s is missing", name);
			return -1;
		}
		return 0;
	}
	if (need > 1 && s[0] == '\0') {
		(void)bsnprintf(err, errlen, "%s is empty", name);
		return -1;
	}
	if (!envelope_value_ok(s)) {
		(void)bsnprintf(err, errlen, "%s holds a control character "
		    "or is too long", name);
		return -1;
	}
	return 0;
}

static int
envelope_check_rcpt(const struct envelope_rcpt *r, char *err, size_t errlen)
{
	if ((size_t)r->state >= ENVELOPE_NSTATES) {
		(void)bsnprintf(err, errlen, "recipient has a bad state");
		return -1;
	}
	if (envelope_check_str("recipient", r->addr, 2, err, errlen) == -1 ||
	    envelope_check_str("NOTIFY", r->notify, 0, err, errlen) == -1 ||
	    envelope_check_str("ORCPT", r->orcpt, 0, err, errlen) == -1 ||
	    envelope_check_str("last error", r->error, 0, err, errlen) == -1)
		return -1;
	if ((r->notify != NULL && r->notify[0] == '\0') ||
	    (r->orcpt != NULL && r->orcpt[0] == '\0') ||
	    (r->error != NULL && r->error[0] == '\0')) {
		(void)bsnprintf(err, errlen, "empty NOTIFY, ORCPT or error");
		return -1;
	}
	return 0;
}

int
envelope_check(const struct envelope *env, char *err, size_t errlen)
{
	size_t	i;

	if (!queue_id_valid(env->id)) {
		(void)bsnprintf(err, errlen, "bad queue id");
		return -1;
	}
	if (!digest_valid(env->digest)) {
		(void)bsnprintf(err, errlen, "bad digest");
		return -1;
	}
	/* need: 0 optional, 1 required (may be empty), 2 required non-empty */
	if (envelope_check_str("sender", env->sender, 1, err, errlen) == -1 ||
	    envelope_check_str("helo", env->helo, 1, err, errlen) == -1 ||
	    envelope_check_str("client", env->client, 2, err, errlen) == -1 ||
	    envelope_check_str("protocol", env->protocol, 2, err,
	    errlen) == -1 ||
	    envelope_check_str("envid", env->envid, 0, err, errlen) == -1 ||
	    envelope_check_str("tls", env->tls, 0, err, errlen) == -1)
		return -1;
	if ((env->envid != NULL && env->envid[0] == '\0') ||
	    (env->tls != NULL && env->tls[0] == '\0')) {
		(void)bsnprintf(err, errlen, "empty optional value");
		return -1;
	}
	if (env->ret != NULL && strcmp(env->ret, "FULL") != 0 &&
	    strcmp(env->ret, "HDRS") != 0) {
		(void)bsnprintf(err, errlen, "ret is neither FULL nor HDRS");
		return -1;
	}
	if (env->body != NULL && strcmp(env->body, "7BIT") != 0 &&
	    strcmp(env->body, "8BITMIME") != 0) {
		(void)bsnprintf(err, errlen, "body is neither 7BIT nor 8BITMIME");
		return -1;
	}
	if (env->arrival > ENVELOPE_MAX_NUMBER ||
	    env->size > ENVELOPE_MAX_NUMBER ||
	    env->attempts > ENVELOPE_MAX_NUMBER ||
	    env->next_attempt > ENVELOPE_MAX_NUMBER ||
	    env->expiry > ENVELOPE_MAX_NUMBER ||
	    env->warned > ENVELOPE_MAX_NUMBER ||
	    env->held > ENVELOPE_MAX_NUMBER) {
		(void)bsnprintf(err, errlen, "number out of range");
		return -1;
	}
	if (env->nrcpt == 0 || env->nrcpt > ENVELOPE_MAX_RCPT) {
		(void)bsnprintf(err, errlen, "%zu recipients", env->nrcpt);
		return -1;
	}
	for (i = 0; i < env->nrcpt; i++)
		if (envelope_check_rcpt(&env->rcpts[i], err, errlen) == -1)
			return -1;
	return 0;
}

static void
envelope_put(struct buf *out, const char *key, const char *value)
{
	buf_addstr(out, key);
	if (value[0] != '\0') {
		buf_addch(out, ' ');
		buf_addstr(out, value);
	}
	buf_addch(out, '\n');
}

void
envelope_serialize(const struct envelope *env, struct buf *out)
{
	const struct envelope_rcpt	*r;
	size_t				 i;

	buf_printf(out, "%s %d\n", ENVELOPE_MAGIC, ENVELOPE_VERSION);
	buf_printf(out, "id %s\n", env->id);
	buf_printf(out, "arrival %llu\n", (unsigned long long)env->arrival);
	buf_printf(out, "size %llu\n", (unsigned long long)env->size);
	buf_printf(out, "digest %s\n", env->digest);
	buf_printf(out, "sender <%s>\n", env->sender);
	envelope_put(out, "helo", env->helo);
	envelope_put(out, "client", env->client);
	envelope_put(out, "protocol", env->protocol);
	buf_printf(out, "attempts %llu\n", (unsigned long long)env->attempts);
	buf_printf(out, "next-attempt %llu\n",
	    (unsigned long long)env->next_attempt);
	buf_printf(out, "expiry %llu\n", (unsigned long long)env->expiry);
	if (env->ret != NULL)
		envelope_put(out, "ret", env->ret);
	if (env->envid != NULL)
		envelope_put(out, "envid", env->envid);
	if (env->tls != NULL)
		envelope_put(out, "tls", env->tls);
	if (env->body != NULL)
		envelope_put(out, "body", env->body);
	if (env->smtputf8)
		envelope_put(out, "smtputf8", "");
	if (env->warned != 0)
		buf_printf(out, "warned %llu\n",
		    (unsigned long long)env->warned);
	if (env->held != 0)
		buf_printf(out, "held %llu\n", (unsigned long long)env->held);
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		buf_printf(out, "rcpt %s <%s>\n",
		    envelope_rcpt_state_name(r->state), r->addr);
		if (r->notify != NULL)
			envelope_put(out, "rcpt-notify", r->notify);
		if (r->orcpt != NULL)
			envelope_put(out, "rcpt-orcpt", r->orcpt);
		if (r->error != NULL)
			envelope_put(out, "rcpt-error", r->error);
	}
	buf_addstr(out, "end\n");
}

/* ---- read ---- */

static int
envelope_fail(struct envelope_parser *p, const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)bsnprintf(p->err, p->errlen, "line %lu: %s", p->line, msg);
	return -1;
}

static int
envelope_number(struct envelope_parser *p, const char *key, const char *v,
    uint64_t *out)
{
	if (parse_u64(v, 0, ENVELOPE_MAX_NUMBER, out) == -1)
		return envelope_fail(p, "bad number '%.40s' for '%s'", v, key);
	return 0;
}

/* A string value; need 2: non-empty. */
static int
envelope_string(struct envelope_parser *p, const char *key, const char *v,
    int need, char **out)
{
	if (strlen(v) > ENVELOPE_MAX_VALUE)
		return envelope_fail(p, "value of '%s' is too long", key);
	if (need > 1 && v[0] == '\0')
		return envelope_fail(p, "empty value for '%s'", key);
	*out = xstrdup(v);
	return 0;
}

/* "<addr>"; the null address "<>" only if allow_null. */
static int
envelope_address(struct envelope_parser *p, const char *key, const char *v,
    int allow_null, char **out)
{
	size_t	n = strlen(v);

	if (n < 2 || v[0] != '<' || v[n - 1] != '>')
		return envelope_fail(p, "address for '%s' is not in angle "
		    "brackets", key);
	if (n - 2 > ENVELOPE_MAX_VALUE)
		return envelope_fail(p, "address for '%s' is too long", key);
	if (n == 2 && !allow_null)
		return envelope_fail(p, "empty address for '%s'", key);
	*out = xstrndup(v + 1, n - 2);
	return 0;
}

static int
envelope_rcpt_line(struct envelope_parser *p, char *v)
{
	char	*sp, *addr;
	size_t	 i;

	if (p->env->nrcpt >= ENVELOPE_MAX_RCPT)
		return envelope_fail(p, "too many recipients");
	if ((sp = strchr(v, ' ')) == NULL)
		return envelope_fail(p, "'rcpt' needs a state and an address");
	*sp = '\0';
	for (i = 0; i < ENVELOPE_NSTATES; i++)
		if (strcmp(v, envelope_states[i]) == 0)
			break;
	if (i == ENVELOPE_NSTATES)
		return envelope_fail(p, "bad recipient state '%.40s'", v);
	if (envelope_address(p, "rcpt", sp + 1, 0, &addr) == -1)
		return -1;
	(void)envelope_add_rcpt(p->env, addr, (enum rcpt_state)i);
	free(addr);
	return 0;
}

/* rcpt-notify, rcpt-orcpt and rcpt-error belong to the rcpt line just
 * above. */
static int
envelope_rcpt_param(struct envelope_parser *p, const char *key, const char *v,
    enum envelope_key k)
{
	struct envelope_rcpt	*r;
	char			**dst;

	if (p->env->nrcpt == 0)
		return envelope_fail(p, "'%s' before any 'rcpt' line", key);
	r = &p->env->rcpts[p->env->nrcpt - 1];
	dst = k == EK_RCPT_NOTIFY ? &r->notify : k == EK_RCPT_ORCPT ?
	    &r->orcpt : &r->error;
	if (*dst != NULL)
		return envelope_fail(p, "duplicate key '%s' for one recipient",
		    key);
	return envelope_string(p, key, v, 2, dst);
}

static int
envelope_end(struct envelope_parser *p)
{
	const struct envelope_keyinfo	*ki;

	for (ki = envelope_keys; ki->name != NULL; ki++) {
		if (ki->key != EK_END && (ki->flags & EKF_REQUIRED) &&
		    !(p->seen & (1u << ki->key)))
			return envelope_fail(p, "missing required key '%s'",
			    ki->name);
	}
	p->done = 1;
	return 0;
}

static int
envelope_ret(struct envelope_parser *p, const char *v)
{
	if (strcmp(v, "FULL") != 0 && strcmp(v, "HDRS") != 0)
		return envelope_fail(p, "bad value '%.40s' for 'ret'", v);
	p->env->ret = xstrdup(v);
	return 0;
}

static int
envelope_body(struct envelope_parser *p, const char *v)
{
	if (strcmp(v, "7BIT") != 0 && strcmp(v, "8BITMIME") != 0)
		return envelope_fail(p, "bad value '%.40s' for 'body'", v);
	p->env->body = xstrdup(v);
	return 0;
}

static int
envelope_set(struct envelope_parser *p, const struct envelope_keyinfo *ki,
    char *v)
{
	struct envelope	*env = p->env;

	switch (ki->key) {
	case EK_ID:
		if (!queue_id_valid(v))
			return envelope_fail(p, "bad queue id '%.40s'", v);
		(void)strlcpy(env->id, v, sizeof(env->id));
		return 0;
	case EK_ARRIVAL:
		return envelope_number(p, ki->name, v, &env->arrival);
	case EK_SIZE:
		return envelope_number(p, ki->name, v, &env->size);
	case EK_DIGEST:
		if (!digest_valid(v))
			return envelope_fail(p, "bad digest '%.80s'", v);
		(void)strlcpy(env->digest, v, sizeof(env->digest));
		return 0;
	case EK_SENDER:
		return envelope_address(p, ki->name, v, 1, &env->sender);
	case EK_HELO:
		return envelope_string(p, ki->name, v, 1, &env->helo);
	case EK_CLIENT:
		return envelope_string(p, ki->name, v, 2, &env->client);
	case EK_PROTOCOL:
		return envelope_string(p, ki->name, v, 2, &env->protocol);
	case EK_ATTEMPTS:
		return envelope_number(p, ki->name, v, &env->attempts);
	case EK_NEXT_ATTEMPT:
		return envelope_number(p, ki->name, v, &env->next_attempt);
	case EK_EXPIRY:
		return envelope_number(p, ki->name, v, &env->expiry);
	case EK_RET:
		return envelope_ret(p, v);
	case EK_ENVID:
		return envelope_string(p, ki->name, v, 2, &env->envid);
	case EK_TLS:
		return envelope_string(p, ki->name, v, 2, &env->tls);
	case EK_BODY:
		return envelope_body(p, v);
	case EK_SMTPUTF8:
		if (v[0] != '\0')
			return envelope_fail(p, "'smtputf8' takes no value");
		env->smtputf8 = 1;
		return 0;
	case EK_WARNED:
		if (parse_u64(v, 1, ENVELOPE_MAX_NUMBER, &env->warned) == -1)
			return envelope_fail(p, "bad number '%.40s' for '%s'",
			    v, ki->name);
		return 0;
	case EK_HELD:
		if (parse_u64(v, 1, ENVELOPE_MAX_NUMBER, &env->held) == -1)
			return envelope_fail(p, "bad number '%.40s' for '%s'",
			    v, ki->name);
		return 0;
	case EK_RCPT:
		return envelope_rcpt_line(p, v);
	case EK_RCPT_NOTIFY:
	case EK_RCPT_ORCPT:
	case EK_RCPT_ERROR:
		return envelope_rcpt_param(p, ki->name, v, ki->key);
	case EK_END:
		if (v[0] != '\0')
			return envelope_fail(p, "'end' takes no value");
		return envelope_end(p);
	}
	return envelope_fail(p, "internal: unhandled key");
}

static int
envelope_magic(struct envelope_parser *p, const char *line)
{
	size_t	n = strlen(ENVELOPE_MAGIC);
	char	want[32];

	if (strncmp(line, ENVELOPE_MAGIC, n) != 0 || line[n] != ' ')
		return envelope_fail(p, "not a strictmail envelope");
	if (!bsnprintf(want, sizeof(want), "%d", ENVELOPE_VERSION))
		fatalx("envelope_magic: version does not fit");
	if (strcmp(line + n + 1, want) != 0)
		return envelope_fail(p, "unsupported version '%.20s'",
		    line + n + 1);
	return 0;
}

static int
envelope_parse_line(struct envelope_parser *p, const char *s, size_t n)
{
	const struct envelope_keyinfo	*ki;
	char				 line[ENVELOPE_MAX_LINE + 1], *v;
	size_t				 i;

	if (n > ENVELOPE_MAX_LINE)
		return envelope_fail(p, "line too long");
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return envelope_fail(p, "control character 0x%02X",
			    (unsigned char)s[i]);
	}
	memcpy(line, s, n);
	line[n] = '\0';
	if (p->line == 1)
		return envelope_magic(p, line);
	if ((v = strchr(line, ' ')) != NULL)
		*v++ = '\0';
	else
		v = line + n;
	for (ki = envelope_keys; ki->name != NULL; ki++)
		if (strcmp(ki->name, line) == 0)
			break;
	if (ki->name == NULL)
		return envelope_fail(p, "unknown key '%.40s'", line);
	if (!(ki->flags & EKF_REPEAT) && (p->seen & (1u << ki->key)))
		return envelope_fail(p, "duplicate key '%s'", ki->name);
	p->seen |= 1u << ki->key;
	return envelope_set(p, ki, v);
}

int
envelope_parse(const char *text, size_t len, struct envelope *env, char *err,
    size_t errlen)
{
	struct envelope_parser	 p;
	const char		*s, *end, *nl;

	envelope_init(env);
	memset(&p, 0, sizeof(p));
	p.env = env;
	p.err = err;
	p.errlen = errlen;
	if (len == 0 || len > ENVELOPE_MAX_FILE) {
		p.line = 1;
		return envelope_fail(&p, len == 0 ? "empty file" :
		    "file too large");
	}
	s = text;
	end = text + len;
	while (s < end) {
		p.line++;
		if (p.done) {
			envelope_fail(&p, "data after 'end'");
			goto fail;
		}
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL) {
			envelope_fail(&p, "truncated line (no newline)");
			goto fail;
		}
		if (envelope_parse_line(&p, s, (size_t)(nl - s)) == -1)
			goto fail;
		s = nl + 1;
	}
	if (!p.done) {
		p.line++;
		envelope_fail(&p, "missing 'end'");
		goto fail;
	}
	return 0;
fail:
	envelope_free(env);
	return -1;
}
