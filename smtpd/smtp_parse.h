/*
 * smtp_parse.h - the SMTP command line, path and parameter parsers.
 *
 * Pure functions over NUL-terminated text that the session already checked
 * for NUL, CR and LF.  Paths follow RFC 5321 4.1.2: an optional source
 * route, a dot-string or quoted local part, a domain or address literal,
 * and the limits of 4.5.3.1 (local part 64, domain 255, path 256 octets,
 * angle brackets included).  Only printable US-ASCII is accepted.
 */
#ifndef SM_SMTP_PARSE_H
#define SM_SMTP_PARSE_H

#include <stddef.h>

#define SMTP_LINE_MAX		512	/* command line with CRLF (RFC 5321 4.5.3.1.4) */
#define SMTP_VERB_MAX		16
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
#define SMTP_PARAMS_MAX		16

struct smtp_path {
	int	null;				/* "<>" */
	int	nodomain;			/* "<user>": no '@' at all */
	int	literal;			/* domain is an address literal */
	char	addr[SMTP_PATH_MAX + 1];	/* mailbox as given, no <> or route */
	char	local[SMTP_LOCAL_MAX + 1];	/* local part as given */
	char	plain[SMTP_LOCAL_MAX + 1];	/* local part with quoting undone */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* as given; "" if nodomain */
	char	route[SMTP_PATH_MAX + 1];	/* route domains, ','-separated */
};

enum smtp_path_status {
	PATH_OK = 0,
	PATH_SYNTAX,		/* not a path */
	PATH_TOOLONG,		/* a limit of RFC 5321 4.5.3.1 */
};

struct smtp_param {
	char	*key;		/* points into the parsed text */
	char	*value;		/* NULL when the parameter has no '=' */
};

/*
 * Splits a command line into its verb (upper-cased into verb) and the
 * arguments after the separating spaces (*args, "" if none).  Returns -1
 * if the verb is empty, too long or holds anything but letters.
 */
int smtp_parse_verb(char *line, char *verb, size_t verbsize, char **args);

/*
 * Parses a path at the start of s ("<...>"); *end points after '>'.
 * The null path "<>" is accepted only if allow_null.
 */
enum smtp_path_status smtp_parse_path(const char *s, int allow_null,
    struct smtp_path *p, const char **end);

/*
 * Splits s (modified in place) into ESMTP parameters "key[=value]"
 * separated by spaces (RFC 5321 4.1.2 esmtp-param).  Returns the count,
 * or -1 on bad syntax or more than max parameters.
 */
int smtp_parse_params(char *s, struct smtp_param *params, size_t max);

/* 1 if s is a plausible HELO/EHLO argument: one printable token. */
int smtp_parse_helo(const char *s);

/* 1 if s starts with the keyword kw (e.g. "FROM:"), case-insensitively;
 * *rest points after it and after any spaces that follow. */
int smtp_parse_keyword(const char *s, const char *kw, const char **rest);

#endif
