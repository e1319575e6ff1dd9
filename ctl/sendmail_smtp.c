/*
 * sendmail_smtp.c - "sendmail -bs": the SMTP dialogue as a state machine
 * (see sendmail_smtp.h).  Commands are looked up in one table; a handler
 * appends its reply and returns the action.  Addresses are read with the
 * receiver's path parser.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "common/util.h"
#include "ctl/sendmail_smtp.h"
#include "smtpd/smtp_parse.h"

typedef enum sendmail_smtp_action (*sendmail_smtp_fn)(struct sendmail_smtp *,
    char *, struct buf *);

static void
sendmail_smtp_reset(struct sendmail_smtp *s)
{
	size_t	i;

	free(s->sender);
	s->sender = NULL;
	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->eightbit = 0;
	s->bad = 0;
	buf_reset(&s->data);
	if (s->state != SENDMAIL_SMTP_START)
		s->state = SENDMAIL_SMTP_READY;
}

void
sendmail_smtp_init(struct sendmail_smtp *s, const char *hostname,
    uint64_t max_size)
{
	memset(s, 0, sizeof(*s));
	s->hostname = hostname;
	s->max_size = max_size;
	buf_init(&s->data);
}

void
sendmail_smtp_free(struct sendmail_smtp *s)
{
	sendmail_smtp_reset(s);
	buf_free(&s->data);
}

void
sendmail_smtp_greeting(const struct sendmail_smtp *s, struct buf *reply)
{
	buf_printf(reply, "220 %s ESMTP strictmail (sendmail -bs)\r\n",
	    s->hostname);
}

static enum sendmail_smtp_action
sendmail_smtp_reply(struct buf *reply, const char *text)
{
	buf_printf(reply, "%s\r\n", text);
	return SENDMAIL_SMTP_REPLY;
}

static enum sendmail_smtp_action
sendmail_smtp_helo(struct sendmail_smtp *s, char *args, struct buf *reply,
    int ehlo)
{
	if (!smtp_parse_helo(args))
		return sendmail_smtp_reply(reply,
		    "501 5.5.4 HELO and EHLO need one argument");
	sendmail_smtp_reset(s);
	s->state = SENDMAIL_SMTP_READY;
	if (!ehlo) {
		buf_printf(reply, "250 %s\r\n", s->hostname);
		return SENDMAIL_SMTP_REPLY;
	}
	buf_printf(reply, "250-%s\r\n250-8BITMIME\r\n250-SIZE %llu\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n", s->hostname,
	    (unsigned long long)s->max_size);
	return SENDMAIL_SMTP_REPLY;
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_helo(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	return sendmail_smtp_helo(s, args, reply, 0);
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_ehlo(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	return sendmail_smtp_helo(s, args, reply, 1);
}

/* MAIL's parameters: BODY= and SIZE=; NULL or the reply for a bad one. */
static const char *
sendmail_smtp_mail_params(struct sendmail_smtp *s, char *rest)
{
	struct smtp_param	p[SMTP_PARAMS_MAX];
	uint64_t		size;
	int			i, n;

	if ((n = smtp_parse_params(rest, p, SMTP_PARAMS_MAX)) == -1)
		return "501 5.5.4 bad parameters";
	for (i = 0; i < n; i++) {
		if (strcasecmp(p[i].key, "BODY") == 0 && p[i].value != NULL &&
		    (strcasecmp(p[i].value, "7BIT") == 0 ||
		    strcasecmp(p[i].value, "8BITMIME") == 0))
			s->eightbit = strcasecmp(p[i].value, "8BITMIME") == 0;
		else if (strcasecmp(p[i].key, "SIZE") == 0 &&
		    p[i].value != NULL && parse_u64(p[i].value, 0, UINT64_MAX,
		    &size) == 0) {
			if (size > s->max_size)
				return "552 5.3.4 message too large";
		} else
			return "555 5.5.4 unsupported parameter";
	}
	return NULL;
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_mail(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	struct smtp_path	 path;
	const char		*rest, *end, *bad;
	char			*params;

	if (s->state == SENDMAIL_SMTP_START)
		return sendmail_smtp_reply(reply, "503 5.5.1 HELO or EHLO first");
	if (s->state != SENDMAIL_SMTP_READY)
		return sendmail_smtp_reply(reply,
		    "503 5.5.1 a transaction is already open");
	if (!smtp_parse_keyword(args, "FROM:", &rest))
		return sendmail_smtp_reply(reply, "501 5.5.4 MAIL FROM:<address>");
	if (smtp_parse_path(rest, SMTP_PATH_NULL | SMTP_PATH_UTF8, &path,
	    &end) != PATH_OK || (*end != '\0' && *end != ' '))
		return sendmail_smtp_reply(reply, "501 5.1.7 bad sender address");
	params = xstrdup(end);
	bad = sendmail_smtp_mail_params(s, params);
	free(params);
	if (bad != NULL) {
		s->eightbit = 0;
		return sendmail_smtp_reply(reply, bad);
	}
	s->sender = xstrdup(path.null ? "" : path.addr);
	s->state = SENDMAIL_SMTP_MAIL;
	return sendmail_smtp_reply(reply, "250 2.1.0 sender ok");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_rcpt(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	struct smtp_path	 path;
	const char		*rest, *end;

	if (s->state != SENDMAIL_SMTP_MAIL && s->state != SENDMAIL_SMTP_RCPT)
		return sendmail_smtp_reply(reply, "503 5.5.1 MAIL first");
	if (!smtp_parse_keyword(args, "TO:", &rest))
		return sendmail_smtp_reply(reply, "501 5.5.4 RCPT TO:<address>");
	if (smtp_parse_path(rest, SMTP_PATH_UTF8, &path, &end) != PATH_OK ||
	    strlen(path.addr) > 254)
		return sendmail_smtp_reply(reply,
		    "501 5.1.3 bad recipient address");
	if (*end != '\0')
		return sendmail_smtp_reply(reply,
		    "555 5.5.4 unsupported parameter");
	if (s->nrcpts >= SENDMAIL_SMTP_RCPT_MAX)
		return sendmail_smtp_reply(reply, "452 4.5.3 too many recipients");
	s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	s->rcpts[s->nrcpts++] = xstrdup(path.addr);
	s->state = SENDMAIL_SMTP_RCPT;
	return sendmail_smtp_reply(reply, "250 2.1.5 recipient ok");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_data(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	if (*args != '\0')
		return sendmail_smtp_reply(reply, "501 5.5.4 DATA takes no "
		    "argument");
	if (s->state == SENDMAIL_SMTP_MAIL)
		return sendmail_smtp_reply(reply, "554 5.5.1 no recipients");
	if (s->state != SENDMAIL_SMTP_RCPT)
		return sendmail_smtp_reply(reply, "503 5.5.1 MAIL and RCPT "
		    "first");
	s->state = SENDMAIL_SMTP_DATA;
	return sendmail_smtp_reply(reply,
	    "354 end the message with a line holding a single dot");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_rset(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	(void)args;
	sendmail_smtp_reset(s);
	return sendmail_smtp_reply(reply, "250 2.0.0 reset");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_noop(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	(void)s;
	(void)args;
	return sendmail_smtp_reply(reply, "250 2.0.0 ok");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_vrfy(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	(void)s;
	(void)args;
	return sendmail_smtp_reply(reply,
	    "252 2.5.0 cannot verify, but will accept and try");
}

static enum sendmail_smtp_action
sendmail_smtp_cmd_quit(struct sendmail_smtp *s, char *args, struct buf *reply)
{
	(void)s;
	(void)args;
	buf_printf(reply, "221 2.0.0 %s closing\r\n", s->hostname);
	return SENDMAIL_SMTP_QUIT;
}

static const struct {
	const char		*verb;
	sendmail_smtp_fn	 fn;
} sendmail_smtp_commands[] = {
	{ "HELO", sendmail_smtp_cmd_helo },
	{ "EHLO", sendmail_smtp_cmd_ehlo },
	{ "MAIL", sendmail_smtp_cmd_mail },
	{ "RCPT", sendmail_smtp_cmd_rcpt },
	{ "DATA", sendmail_smtp_cmd_data },
	{ "RSET", sendmail_smtp_cmd_rset },
	{ "NOOP", sendmail_smtp_cmd_noop },
	{ "VRFY", sendmail_smtp_cmd_vrfy },
	{ "QUIT", sendmail_smtp_cmd_quit },
};

/* A line of the message: the dot line ends it, a leading dot goes. */
static enum sendmail_smtp_action
sendmail_smtp_data(struct sendmail_smtp *s, const char *line, size_t len,
    int toolong)
{
	if (!toolong && len == 1 && line[0] == '.')
		return SENDMAIL_SMTP_QUEUE;
	if (toolong)
		s->bad = 1;
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	if (s->bad || s->data.len + len + 2 > s->max_size) {
		s->bad = s->bad ? s->bad : 2;
		return SENDMAIL_SMTP_REPLY;
	}
	buf_add(&s->data, line, len);
	buf_addstr(&s->data, "\r\n");
	return SENDMAIL_SMTP_REPLY;
}

/* The final dot after a line too long or too much data. */
static enum sendmail_smtp_action
sendmail_smtp_refuse_data(struct sendmail_smtp *s, struct buf *reply)
{
	int	toobig = s->bad == 2;

	sendmail_smtp_reset(s);
	return sendmail_smtp_reply(reply, toobig ?
	    "552 5.3.4 message too large" :
	    "554 5.6.0 a line of the message is longer than 998 octets");
}

enum sendmail_smtp_action
sendmail_smtp_line(struct sendmail_smtp *s, const char *line, size_t len,
    int toolong, struct buf *reply)
{
	char	 verb[SMTP_VERB_MAX], *copy, *args;
	size_t	 i;
	enum sendmail_smtp_action a;

	if (s->state == SENDMAIL_SMTP_DATA) {
		a = sendmail_smtp_data(s, line, len, toolong);
		if (a == SENDMAIL_SMTP_QUEUE && s->bad)
			return sendmail_smtp_refuse_data(s, reply);
		return a;
	}
	if (toolong)
		return sendmail_smtp_reply(reply, "500 5.5.2 line too long");
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL)
		return sendmail_smtp_reply(reply,
		    "500 5.5.2 bad byte in the command");
	copy = xstrndup(line, len);
	if (smtp_parse_verb(copy, verb, sizeof(verb), &args) == -1) {
		free(copy);
		return sendmail_smtp_reply(reply, "500 5.5.2 syntax error");
	}
	for (i = 0; i < sizeof(sendmail_smtp_commands) /
	    sizeof(sendmail_smtp_commands[0]); i++)
		if (strcmp(verb, sendmail_smtp_commands[i].verb) == 0) {
			a = sendmail_smtp_commands[i].fn(s, args, reply);
			free(copy);
			return a;
		}
	free(copy);
	return sendmail_smtp_reply(reply, "500 5.5.1 unknown command");
}

void
sendmail_smtp_queued(struct sendmail_smtp *s, int code, const char *reason,
    const char *where, struct buf *reply)
{
	if (code == 0)
		buf_printf(reply, "250 2.0.0 queued as %s\r\n", where);
	else if (code == EX_TEMPFAIL)
		buf_printf(reply, "451 4.3.0 %s\r\n", reason);
	else
		buf_printf(reply, "554 5.6.0 %s\r\n", reason);
	sendmail_smtp_reset(s);
}
