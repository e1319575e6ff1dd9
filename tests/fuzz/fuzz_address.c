/*
 * fuzz_address.c - libFuzzer target for the path and parameter parsers
 * of smtpd/smtp_parse.h.
 *
 * The input's first byte picks the flags of smtp_parse_path; the rest,
 * cut at the first CR, LF or NUL (the session refuses those before any
 * parser sees a line), is parsed as a path followed by ESMTP parameters,
 * as after "MAIL FROM:" or "RCPT TO:".  Beyond the sanitizers it checks
 * what the header promises: the limits of RFC 5321 4.5.3.1, *end inside
 * the text and just after a '>', a mailbox that is local@domain, and
 * that a mailbox parsed once parses again to the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "smtpd/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TEXT_MAX	4096

static void
fuzz_fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_address: %s (input \"%s\")\n", what, text);
	abort();
}

static void
fuzz_check_path(const char *text, int flags, const struct smtp_path *p,
    const char *end)
{
	char	mailbox[SMTP_PATH_MAX + 2];

	if (end < text + 2 || end > text + strlen(text) || end[-1] != '>')
		fuzz_fail("*end is not just after a '>' inside the text", text);
	if ((size_t)(end - text) > SMTP_PATH_MAX)
		fuzz_fail("path (route included) over 256 octets", text);
	if (strlen(p->addr) > SMTP_PATH_MAX - 2 ||
	    strlen(p->local) > SMTP_LOCAL_MAX ||
	    strlen(p->plain) > strlen(p->local) ||
	    strlen(p->domain) > SMTP_DOMAIN_MAX ||
	    strlen(p->adomain) > SMTP_DOMAIN_MAX)
		fuzz_fail("a part over its limit", text);
	if (p->null) {
		if (!(flags & SMTP_PATH_NULL))
			fuzz_fail("<> accepted without SMTP_PATH_NULL", text);
		if (p->addr[0] != '\0')
			fuzz_fail("<> with an address", text);
		return;
	}
	if (p->local[0] == '\0')
		fuzz_fail("a mailbox without a local part", text);
	if (p->utf8 && !(flags & SMTP_PATH_UTF8))
		fuzz_fail("UTF-8 accepted without SMTP_PATH_UTF8", text);
	if (p->nodomain) {
		if (p->domain[0] != '\0' || strcmp(p->addr, p->local) != 0)
			fuzz_fail("no domain, but addr is not the local part",
			    text);
		return;
	}
	if (p->domain[0] == '\0' || p->adomain[0] == '\0')
		fuzz_fail("a mailbox with an empty domain", text);
	if ((size_t)snprintf(mailbox, sizeof(mailbox), "%s@%s", p->local,
	    p->domain) >= sizeof(mailbox) || strcmp(mailbox, p->addr) != 0)
		fuzz_fail("addr is not local@domain", text);
	if (p->literal != (p->domain[0] == '['))
		fuzz_fail("literal flag and domain disagree", text);
}

/* A mailbox that parsed parses again, alone, to the same parts. */
static void
fuzz_reparse(const char *text, int flags, const struct smtp_path *p)
{
	char			 again[SMTP_PATH_MAX + 8];
	struct smtp_path	 q;
	const char		*end;

	if (p->null)
		return;
	if ((size_t)snprintf(again, sizeof(again), "<%s>", p->addr) >=
	    sizeof(again))
		fuzz_fail("addr does not fit a path", text);
	memset(&q, 0, sizeof(q));
	if (smtp_parse_path(again, flags, &q, &end) != PATH_OK)
		fuzz_fail("a parsed mailbox does not parse again", text);
	if (*end != '\0' || strcmp(q.addr, p->addr) != 0 ||
	    strcmp(q.local, p->local) != 0 || strcmp(q.plain, p->plain) != 0 ||
	    strcmp(q.domain, p->domain) != 0 ||
	    strcmp(q.adomain, p->adomain) != 0 || q.nodomain != p->nodomain ||
	    q.literal != p->literal ||
	    (p->route[0] == '\0' && q.utf8 != p->utf8))
		fuzz_fail("a parsed mailbox parses again differently", text);
}

static void
fuzz_params(const char *rest)
{
	struct smtp_param	 params[SMTP_PARAMS_MAX];
	char			 copy[FUZZ_TEXT_MAX + 1], xtext[FUZZ_TEXT_MAX + 1];
	unsigned		 u;
	int			 i, n;

	(void)strlcpy(copy, rest, sizeof(copy));
	n = smtp_parse_params(copy, params, SMTP_PARAMS_MAX);
	if (n > SMTP_PARAMS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (params[i].key == NULL || params[i].key[0] == '\0')
			fuzz_fail("a parameter without a key", rest);
		if (params[i].value == NULL)
			continue;
		(void)smtp_parse_xtext(params[i].value, xtext, sizeof(xtext));
		(void)smtp_parse_notify(params[i].value, &u);
		(void)smtp_parse_ret(params[i].value, &u);
		(void)smtp_parse_envid(params[i].value);
		(void)smtp_parse_orcpt(params[i].value);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			 text[FUZZ_TEXT_MAX + 1], verb[SMTP_VERB_MAX];
	char			 idna[SMTP_DOMAIN_MAX + 1], line[FUZZ_TEXT_MAX + 1];
	char			*args;
	struct smtp_path	 p;
	const char		*end, *rest;
	size_t			 n;
	int			 flags;

	if (size < 1)
		return 0;
	flags = data[0] & (SMTP_PATH_NULL | SMTP_PATH_UTF8);
	data++;
	size--;
	for (n = 0; n < size && n < FUZZ_TEXT_MAX; n++) {
		if (data[n] == '\0' || data[n] == '\r' || data[n] == '\n')
			break;
		text[n] = (char)data[n];
	}
	text[n] = '\0';

	memset(&p, 0, sizeof(p));
	if (smtp_parse_path(text, flags, &p, &end) == PATH_OK) {
		fuzz_check_path(text, flags, &p, end);
		fuzz_reparse(text, flags, &p);
		fuzz_params(end);
	}

	(void)smtp_parse_idna(text, idna, sizeof(idna));
	(void)smtp_parse_helo(text);
	if (smtp_parse_keyword(text, "FROM:", &rest) &&
	    (rest < text || rest > text + n))
		fuzz_fail("keyword rest outside the text", text);
	(void)strlcpy(line, text, sizeof(line));
	if (smtp_parse_verb(line, verb, sizeof(verb), &args) == 0 &&
	    (args < line || args > line + n || strlen(verb) >= sizeof(verb)))
		fuzz_fail("verb or args outside their buffers", text);
	return 0;
}
