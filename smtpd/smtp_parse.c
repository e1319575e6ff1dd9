/*
 * smtp_parse.c - the SMTP command line, path and parameter parsers.
 *
 * Each grammar rule of RFC 5321 4.1.2 is one small function that advances
 * a cursor and returns 0 or -1; nothing here allocates or logs.  Lengths
 * are checked against the limits of RFC 5321 4.5.3.1 before anything is
 * copied, and every copy is checked.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "smtpd/smtp_parse.h"

#define SMTP_PARSE_LABEL_MAX	63

static int
smtp_parse_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
smtp_parse_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
smtp_parse_is_letdig(int c)
{
	return smtp_parse_is_alpha(c) || smtp_parse_is_digit(c);
}

/* atext of RFC 5322 3.2.3. */
static int
smtp_parse_is_atext(int c)
{
	return smtp_parse_is_letdig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

/* qtextSMTP of RFC 5321 4.1.2: printable, but not '"' and not '\'. */
static int
smtp_parse_is_qtext(int c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

int
smtp_parse_verb(char *line, char *verb, size_t verbsize, char **args)
{
	size_t	n = 0;

	while (smtp_parse_is_alpha((unsigned char)line[n])) {
		if (n + 1 >= verbsize)
			return -1;
		verb[n] = line[n] >= 'a' ? (char)(line[n] - 'a' + 'A') :
		    line[n];
		n++;
	}
	if (n == 0 || (line[n] != '\0' && line[n] != ' '))
		return -1;
	verb[n] = '\0';
	line += n;
	while (*line == ' ')
		line++;
	*args = line;
	return 0;
}

int
smtp_parse_keyword(const char *s, const char *kw, const char **rest)
{
	size_t	n = strlen(kw);

	if (strncasecmp(s, kw, n) != 0)
		return 0;
	s += n;
	while (*s == ' ')
		s++;
	*rest = s;
	return 1;
}

/* sub-domain = Let-dig [Ldh-str]; at most 63 octets. */
static int
smtp_parse_subdomain(const char **sp)
{
	const char	*s = *sp, *start = s;

	if (!smtp_parse_is_letdig((unsigned char)*s))
		return -1;
	while (smtp_parse_is_letdig((unsigned char)*s) || *s == '-')
		s++;
	if (s[-1] == '-' || s - start > SMTP_PARSE_LABEL_MAX)
		return -1;
	*sp = s;
	return 0;
}

/* Domain = sub-domain *("." sub-domain) */
static int
smtp_parse_domain(const char **sp)
{
	if (smtp_parse_subdomain(sp) == -1)
		return -1;
	while (**sp == '.') {
		(*sp)++;
		if (smtp_parse_subdomain(sp) == -1)
			return -1;
	}
	return 0;
}

/* The inside of an address literal: IPv4, "IPv6:" address, or a
 * General-address-literal (Standardized-tag ":" 1*dcontent). */
static int
smtp_parse_literal_body(const char *s, size_t len)
{
	char		 tmp[SMTP_DOMAIN_MAX + 1];
	unsigned char	 bin[16];
	size_t		 i;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (smtp_parse_is_digit((unsigned char)tmp[0]))
		return inet_pton(AF_INET, tmp, bin) == 1 ? 0 : -1;
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, bin) == 1 ? 0 : -1;
	for (i = 0; smtp_parse_is_letdig((unsigned char)tmp[i]) || tmp[i] == '-'; i++)
		;
	if (i == 0 || tmp[i] != ':' || tmp[i - 1] == '-' || tmp[i + 1] == '\0')
		return -1;
	for (i++; tmp[i] != '\0'; i++) {
		unsigned char c = (unsigned char)tmp[i];

		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return -1;
	}
	return 0;
}

/* address-literal = "[" ... "]" */
static int
smtp_parse_address_literal(const char **sp)
{
	const char	*s = *sp, *close;

	if (*s != '[' || (close = strchr(s + 1, ']')) == NULL)
		return -1;
	if (smtp_parse_literal_body(s + 1, (size_t)(close - s - 1)) == -1)
		return -1;
	*sp = close + 1;
	return 0;
}

/* Dot-string = Atom *("." Atom) */
static int
smtp_parse_dot_string(const char **sp)
{
	const char	*s = *sp;

	for (;;) {
		if (!smtp_parse_is_atext((unsigned char)*s))
			return -1;
		while (smtp_parse_is_atext((unsigned char)*s))
			s++;
		if (*s != '.')
			break;
		s++;
	}
	*sp = s;
	return 0;
}

/* Quoted-string; the unquoted value goes into plain (size checked by
 * the caller: it is never longer than the quoted form). */
static int
smtp_parse_quoted_string(const char **sp, char *plain, size_t plainsize)
{
	const char	*s = *sp + 1;
	size_t		 n = 0;

	if (**sp != '"')
		return -1;
	while (*s != '"') {
		if (*s == '\\' && s[1] >= 32 && s[1] <= 126)
			s++;
		else if (!smtp_parse_is_qtext((unsigned char)*s))
			return -1;
		if (n + 1 < plainsize)
			plain[n++] = *s;
		s++;
	}
	plain[n] = '\0';
	*sp = s + 1;
	return 0;
}

/* Copies s[0..len) into dst as a string; -1 if it does not fit. */
static int
smtp_parse_copy(char *dst, size_t dstsize, const char *s, size_t len)
{
	if (len >= dstsize)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* A-d-l = At-domain *( "," At-domain ) ":" ; the domains go to p->route. */
static enum smtp_path_status
smtp_parse_route(const char **sp, struct smtp_path *p)
{
	const char	*s = *sp, *d;
	size_t		 n = 0;

	for (;;) {
		if (*s != '@')
			return PATH_SYNTAX;
		d = ++s;
		if (smtp_parse_domain(&s) == -1)
			return PATH_SYNTAX;
		if ((size_t)(s - d) > SMTP_DOMAIN_MAX)
			return PATH_TOOLONG;
		if (n + (size_t)(s - d) + 2 > sizeof(p->route))
			return PATH_TOOLONG;
		if (n > 0)
			p->route[n++] = ',';
		memcpy(p->route + n, d, (size_t)(s - d));
		n += (size_t)(s - d);
		p->route[n] = '\0';
		if (*s == ':')
			break;
		if (*s != ',')
			return PATH_SYNTAX;
		s++;
	}
	*sp = s + 1;
	return PATH_OK;
}

/* Local-part = Dot-string / Quoted-string */
static enum smtp_path_status
smtp_parse_local_part(const char **sp, struct smtp_path *p)
{
	const char	*start = *sp;

	if (**sp == '"') {
		if (smtp_parse_quoted_string(sp, p->plain, sizeof(p->plain)) == -1)
			return PATH_SYNTAX;
	} else if (smtp_parse_dot_string(sp) == -1)
		return PATH_SYNTAX;
	if ((size_t)(*sp - start) > SMTP_LOCAL_MAX)
		return PATH_TOOLONG;
	(void)smtp_parse_copy(p->local, sizeof(p->local), start,
	    (size_t)(*sp - start));
	if (*start != '"')
		(void)strlcpy(p->plain, p->local, sizeof(p->plain));
	return PATH_OK;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), or a bare
 * local part (p->nodomain) that the caller may accept or refuse. */
static enum smtp_path_status
smtp_parse_mailbox(const char **sp, struct smtp_path *p)
{
	const char		*start = *sp, *d;
	enum smtp_path_status	 st;

	if ((st = smtp_parse_local_part(sp, p)) != PATH_OK)
		return st;
	if (**sp != '@') {
		p->nodomain = 1;
	} else {
		d = ++(*sp);
		p->literal = (*d == '[');
		if ((p->literal ? smtp_parse_address_literal(sp) :
		    smtp_parse_domain(sp)) == -1)
			return PATH_SYNTAX;
		if (smtp_parse_copy(p->domain, sizeof(p->domain), d,
		    (size_t)(*sp - d)) == -1)
			return PATH_TOOLONG;
	}
	if (smtp_parse_copy(p->addr, sizeof(p->addr), start,
	    (size_t)(*sp - start)) == -1)
		return PATH_TOOLONG;
	return PATH_OK;
}

enum smtp_path_status
smtp_parse_path(const char *s, int allow_null, struct smtp_path *p,
    const char **end)
{
	const char		*start = s;
	enum smtp_path_status	 st;

	memset(p, 0, sizeof(*p));
	if (*s++ != '<')
		return PATH_SYNTAX;
	if (*s == '>') {
		if (!allow_null)
			return PATH_SYNTAX;
		p->null = 1;
		*end = s + 1;
		return PATH_OK;
	}
	if (*s == '@' && (st = smtp_parse_route(&s, p)) != PATH_OK)
		return st;
	if ((st = smtp_parse_mailbox(&s, p)) != PATH_OK)
		return st;
	if (*s != '>')
		return PATH_SYNTAX;
	s++;
	if ((size_t)(s - start) > SMTP_PATH_MAX)
		return PATH_TOOLONG;
	*end = s;
	return PATH_OK;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
smtp_parse_esmtp_keyword(const char *s)
{
	if (!smtp_parse_is_letdig((unsigned char)*s))
		return -1;
	for (s++; *s != '\0'; s++)
		if (!smtp_parse_is_letdig((unsigned char)*s) && *s != '-')
			return -1;
	return 0;
}

/* esmtp-value = 1*(%d33-60 / %d62-126) */
static int
smtp_parse_esmtp_value(const char *s)
{
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 ||
		    *s == '=')
			return -1;
	return 0;
}

int
smtp_parse_params(char *s, struct smtp_param *params, size_t max)
{
	size_t	 n = 0;
	char	*tok, *save = NULL, *eq;

	for (tok = strtok_r(s, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return -1;
		params[n].value = NULL;
		if ((eq = strchr(tok, '=')) != NULL) {
			*eq = '\0';
			params[n].value = eq + 1;
			if (smtp_parse_esmtp_value(eq + 1) == -1)
				return -1;
		}
		if (smtp_parse_esmtp_keyword(tok) == -1)
			return -1;
		params[n++].key = tok;
	}
	return (int)n;
}

int
smtp_parse_helo(const char *s)
{
	size_t	n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= 32 || (unsigned char)s[n] >= 127)
			return 0;
	return n > 0 && n <= SMTP_DOMAIN_MAX;
}
