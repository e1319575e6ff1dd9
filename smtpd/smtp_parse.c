/*
 * smtp_parse.c - the SMTP command line, path, parameter and DSN parsers.
 *
 * Each grammar rule of RFC 5321 4.1.2 (with the UTF-8 additions of RFC
 * 6531 3.3) is one small function that advances a cursor and returns 0 or
 * -1; nothing here logs.  UTF-8 is checked for well-formedness octet by
 * octet (RFC 3629) and always parsed; the caller's flags decide at the end
 * whether it was allowed.  Lengths are checked against the limits of RFC
 * 5321 4.5.3.1 before anything is copied, and every copy is checked.
 */
#include <arpa/inet.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/proto.h"
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

/* atext of RFC 5322 3.2.3 (ASCII part). */
static int
smtp_parse_is_atext(int c)
{
	return smtp_parse_is_letdig(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* qtextSMTP of RFC 5321 4.1.2: printable, but not '"' and not '\'. */
static int
smtp_parse_is_qtext(int c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

static int
smtp_parse_in(int c, int lo, int hi)
{
	return c >= lo && c <= hi;
}

/*
 * The length of the well-formed UTF-8 sequence of a non-ASCII character
 * at s (RFC 3629 4: no overlong forms, no surrogates, nothing above
 * U+10FFFF), or 0 if there is none.
 */
static size_t
smtp_parse_utf8(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	int			 lo = 0x80, hi = 0xbf;
	size_t			 n, i;

	if (smtp_parse_in(s[0], 0xc2, 0xdf))
		n = 2;
	else if (smtp_parse_in(s[0], 0xe0, 0xef))
		n = 3;
	else if (smtp_parse_in(s[0], 0xf0, 0xf4))
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (!smtp_parse_in(s[1], lo, hi))
		return 0;
	for (i = 2; i < n; i++)
		if (!smtp_parse_in(s[i], 0x80, 0xbf))
			return 0;
	return n;
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

/* ---- domains ---- */

/*
 * sub-domain = Let-dig [Ldh-str] / U-label.  An ASCII label has at most
 * 63 octets; one with UTF-8 is measured by IDNA later, as an A-label.
 */
static int
smtp_parse_subdomain(const char **sp)
{
	const char	*s = *sp, *start = s;
	size_t		 u;
	int		 utf8 = 0;

	for (;;) {
		if (smtp_parse_is_letdig((unsigned char)*s) ||
		    (*s == '-' && s != start))
			s++;
		else if ((u = smtp_parse_utf8(s)) > 0) {
			s += u;
			utf8 = 1;
		} else
			break;
	}
	if (s == start || s[-1] == '-')
		return -1;
	if (!utf8 && s - start > SMTP_PARSE_LABEL_MAX)
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

/* 1 if s has a byte above 0x7f. */
static int
smtp_parse_has_8bit(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* Every label of an A-label domain is 1 to 63 octets. */
static int
smtp_parse_labels_ok(const char *d)
{
	size_t	n;

	for (;;) {
		n = strcspn(d, ".");
		if (n == 0 || n > SMTP_PARSE_LABEL_MAX)
			return 0;
		if (d[n] == '\0')
			return 1;
		d += n + 1;
	}
}

int
smtp_parse_idna(const char *domain, char *out, size_t outsize)
{
	char	*a = NULL;
	int	 rc;

	if (!smtp_parse_has_8bit(domain, strlen(domain))) {
		if (strlcpy(out, domain, outsize) >= outsize)
			return -1;
		str_lower(out);
		return 0;
	}
	rc = idn2_lookup_u8((const uint8_t *)domain, (uint8_t **)&a,
	    IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		free(a);
		return -1;
	}
	rc = strlen(a) <= SMTP_DOMAIN_MAX && smtp_parse_labels_ok(a) &&
	    strlcpy(out, a, outsize) < outsize ? 0 : -1;
	free(a);
	if (rc == 0)
		str_lower(out);
	return rc;
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
	for (i = 0; smtp_parse_is_letdig((unsigned char)tmp[i]) ||
	    tmp[i] == '-'; i++)
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

/* ---- local parts ---- */

/* One atext character, ASCII or UTF-8; its length or 0. */
static size_t
smtp_parse_atext_len(const char *s)
{
	if (smtp_parse_is_atext((unsigned char)*s))
		return 1;
	return smtp_parse_utf8(s);
}

/* Dot-string = Atom *("." Atom) */
static int
smtp_parse_dot_string(const char **sp)
{
	const char	*s = *sp;
	size_t		 n;

	for (;;) {
		if ((n = smtp_parse_atext_len(s)) == 0)
			return -1;
		while (n > 0) {
			s += n;
			n = smtp_parse_atext_len(s);
		}
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
	size_t		 n = 0, len;

	if (**sp != '"')
		return -1;
	while (*s != '"') {
		if (*s == '\\' && s[1] >= 32 && s[1] <= 126) {
			s++;
			len = 1;
		} else if (smtp_parse_is_qtext((unsigned char)*s))
			len = 1;
		else if ((len = smtp_parse_utf8(s)) == 0)
			return -1;
		if (n + len < plainsize) {
			memcpy(plain + n, s, len);
			n += len;
		}
		s += len;
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

/* ---- paths ---- */

/* Appends one route domain, as an A-label, to p->route. */
static enum smtp_path_status
smtp_parse_route_add(struct smtp_path *p, const char *d, size_t len)
{
	char	given[SMTP_DOMAIN_MAX + 1], a[SMTP_DOMAIN_MAX + 1];
	size_t	n = strlen(p->route);

	if (smtp_parse_copy(given, sizeof(given), d, len) == -1)
		return PATH_TOOLONG;
	if (smtp_parse_idna(given, a, sizeof(a)) == -1)
		return PATH_IDN;
	if (n + strlen(a) + 2 > sizeof(p->route))
		return PATH_TOOLONG;
	if (n > 0)
		(void)strlcat(p->route, ",", sizeof(p->route));
	(void)strlcat(p->route, a, sizeof(p->route));
	return PATH_OK;
}

/*
 * A-d-l = At-domain *( "," At-domain ) ":" ; the domains go to p->route.
 * A domain IDNA refuses gives PATH_IDN, but only after the whole route
 * was read (*sp is set), so that the caller can look at the rest.
 */
static enum smtp_path_status
smtp_parse_route(const char **sp, struct smtp_path *p)
{
	const char		*s = *sp, *d;
	enum smtp_path_status	 st, ret = PATH_OK;

	for (;;) {
		if (*s != '@')
			return PATH_SYNTAX;
		d = ++s;
		if (smtp_parse_domain(&s) == -1)
			return PATH_SYNTAX;
		st = smtp_parse_route_add(p, d, (size_t)(s - d));
		if (st == PATH_TOOLONG)
			return st;
		if (st != PATH_OK)
			ret = st;
		if (*s == ':')
			break;
		if (*s != ',')
			return PATH_SYNTAX;
		s++;
	}
	*sp = s + 1;
	return ret;
}

/* Local-part = Dot-string / Quoted-string */
static enum smtp_path_status
smtp_parse_local_part(const char **sp, struct smtp_path *p)
{
	const char	*start = *sp;

	if (**sp == '"') {
		if (smtp_parse_quoted_string(sp, p->plain,
		    sizeof(p->plain)) == -1)
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

/* The domain in the form for matching: A-labels, or the literal. */
static enum smtp_path_status
smtp_parse_adomain(struct smtp_path *p)
{
	if (p->nodomain)
		return PATH_OK;
	if (p->literal) {
		(void)strlcpy(p->adomain, p->domain, sizeof(p->adomain));
		str_lower(p->adomain);
		return PATH_OK;
	}
	return smtp_parse_idna(p->domain, p->adomain, sizeof(p->adomain)) ==
	    0 ? PATH_OK : PATH_IDN;
}

enum smtp_path_status
smtp_parse_path(const char *s, int flags, struct smtp_path *p,
    const char **end)
{
	const char		*start = s;
	enum smtp_path_status	 st, route = PATH_OK;

	memset(p, 0, sizeof(*p));
	if (*s++ != '<')
		return PATH_SYNTAX;
	if (*s == '>') {
		if (!(flags & SMTP_PATH_NULL))
			return PATH_SYNTAX;
		p->null = 1;
		*end = s + 1;
		return PATH_OK;
	}
	if (*s == '@' && (route = smtp_parse_route(&s, p)) != PATH_OK &&
	    route != PATH_IDN)
		return route;
	if ((st = smtp_parse_mailbox(&s, p)) != PATH_OK)
		return st;
	if (*s != '>')
		return PATH_SYNTAX;
	s++;
	if ((size_t)(s - start) > SMTP_PATH_MAX)
		return PATH_TOOLONG;
	p->utf8 = smtp_parse_has_8bit(start, (size_t)(s - start));
	if (p->utf8 && !(flags & SMTP_PATH_UTF8))
		return PATH_UTF8;
	if (route != PATH_OK || smtp_parse_adomain(p) != PATH_OK)
		return PATH_IDN;
	*end = s;
	return PATH_OK;
}

/* ---- parameters ---- */

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

/* ---- DSN (RFC 3461) ---- */

static int
smtp_parse_hexdigit(int c)
{
	if (smtp_parse_is_digit(c))
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
smtp_parse_xtext(const char *s, char *out, size_t outsize)
{
	size_t	n = 0;
	int	hi, lo, c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '+') {
			if ((hi = smtp_parse_hexdigit((unsigned char)s[1])) ==
			    -1 || (lo = smtp_parse_hexdigit(
			    (unsigned char)s[2])) == -1)
				return -1;
			c = hi * 16 + lo;
			s += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return -1;
		if (n + 1 >= outsize)
			return -1;
		out[n++] = (char)c;
	}
	if (outsize == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* 1 if every octet of s[0..len) is printable US-ASCII or a space. */
static int
smtp_parse_printable(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
			return 0;
	return 1;
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) */
int
smtp_parse_notify(const char *value, unsigned *flags)
{
	const char	*s = value;
	unsigned	 bit;
	size_t		 n;

	*flags = 0;
	for (;;) {
		n = strcspn(s, ",");
		bit = proto_notify_bit(s, n);
		if (bit == 0 || (*flags & bit))
			return -1;
		*flags |= bit;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	if ((*flags & DSN_NOTIFY_NEVER) && *flags != DSN_NOTIFY_NEVER)
		return -1;
	return 0;
}

int
smtp_parse_ret(const char *value, unsigned *ret)
{
	if (strcasecmp(value, "FULL") == 0)
		*ret = DSN_RET_FULL;
	else if (strcasecmp(value, "HDRS") == 0)
		*ret = DSN_RET_HDRS;
	else
		return -1;
	return 0;
}

/* ENVID = xtext of printable US-ASCII, at most 100 characters. */
int
smtp_parse_envid(const char *value)
{
	char	dec[SMTP_ENVID_MAX + 1];
	int	n;

	if (strlen(value) > SMTP_ENVID_MAX)
		return -1;
	if ((n = smtp_parse_xtext(value, dec, sizeof(dec))) <= 0)
		return -1;
	return smtp_parse_printable(dec, (size_t)n) ? 0 : -1;
}

/* ORCPT = addr-type ";" xtext, at most 500 characters; addr-type is an
 * atom, the decoded address printable US-ASCII. */
int
smtp_parse_orcpt(const char *value)
{
	char		 dec[SMTP_ORCPT_MAX + 1];
	const char	*semi, *s;
	int		 n;

	if (strlen(value) > SMTP_ORCPT_MAX ||
	    (semi = strchr(value, ';')) == NULL || semi == value)
		return -1;
	for (s = value; s < semi; s++)
		if (!smtp_parse_is_atext((unsigned char)*s))
			return -1;
	if ((n = smtp_parse_xtext(semi + 1, dec, sizeof(dec))) <= 0)
		return -1;
	return smtp_parse_printable(dec, (size_t)n) ? 0 : -1;
}
