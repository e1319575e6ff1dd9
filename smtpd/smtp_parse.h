/*
 * smtp_parse.h - the SMTP command line, path, parameter and DSN parsers.
 *
 * Pure functions over NUL-terminated text that the session already checked
 * for NUL, CR and LF.  Paths follow RFC 5321 4.1.2 with the UTF-8 of
 * RFC 6531: an optional source route, a dot-string or quoted local part,
 * a domain or address literal, and the limits of 4.5.3.1 (local part 64,
 * domain 255, path 256 octets, angle brackets included).  Domains are also
 * given in the form every comparison and lookup uses: lower case, with
 * internationalised labels converted to A-labels (IDNA2008, libidn2).
 */
#ifndef SM_SMTP_PARSE_H
#define SM_SMTP_PARSE_H

#include <stddef.h>

#include "common/config.h"

/*
 * A command line with its CRLF: the 512 octets of RFC 5321 4.5.3.1.4 plus
 * the allowances of the extensions offered (SIZE 26, DSN 600, SMTPUTF8 10,
 * and 500 for AUTH=), rounded up.
 */
#define SMTP_LINE_MAX		SMTP_COMMAND_LINE_MAX	/* the largest max-command-line */
#define SMTP_VERB_MAX		16
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
#define SMTP_PARAMS_MAX		16
#define SMTP_ENVID_MAX		100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 4.2 */

/* Flags of smtp_parse_path. */
#define SMTP_PATH_NULL		0x01	/* the null path "<>" is allowed */
#define SMTP_PATH_UTF8		0x02	/* UTF-8 is allowed (SMTPUTF8) */

struct smtp_path {
	int	null;				/* "<>" */
	int	nodomain;			/* "<user>": no '@' at all */
	int	literal;			/* domain is an address literal */
	int	utf8;				/* the path holds UTF-8 */
	char	addr[SMTP_PATH_MAX + 1];	/* mailbox as given, no <> or route */
	char	local[SMTP_LOCAL_MAX + 1];	/* local part as given */
	char	plain[SMTP_LOCAL_MAX + 1];	/* local part with quoting undone */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* as given; "" if nodomain */
	char	adomain[SMTP_DOMAIN_MAX + 1];	/* lower case, A-labels */
	char	route[SMTP_PATH_MAX + 1];	/* route domains as A-labels,
						 * ','-separated */
};

enum smtp_path_status {
	PATH_OK = 0,
	PATH_SYNTAX,		/* not a path */
	PATH_TOOLONG,		/* a limit of RFC 5321 4.5.3.1 */
	PATH_UTF8,		/* UTF-8 without SMTP_PATH_UTF8 */
	PATH_IDN,		/* a domain IDNA2008 refuses */
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
 * flags: SMTP_PATH_NULL, SMTP_PATH_UTF8 (1 = allow_null, as before).
 * p->adomain and p->route hold the domains in their A-label form.
 */
enum smtp_path_status smtp_parse_path(const char *s, int flags,
    struct smtp_path *p, const char **end);

/*
 * A domain in the form used for matching and lookups: ASCII lower-cased,
 * anything else converted to A-labels (IDNA2008 non-transitional).  0, or
 * -1 if it is not a valid name or the result does not fit out.
 */
int smtp_parse_idna(const char *domain, char *out, size_t outsize);

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

/*
 * xtext of RFC 3461 4: decodes s into out (NUL-terminated).  Returns the
 * decoded length, or -1 if s is not xtext or does not fit.
 */
int smtp_parse_xtext(const char *s, char *out, size_t outsize);

/* DSN parameters (RFC 3461): 0 if good, -1 if not. */
int smtp_parse_notify(const char *value, unsigned *flags);  /* DSN_NOTIFY_* */
int smtp_parse_ret(const char *value, unsigned *ret);	     /* DSN_RET_* */
int smtp_parse_envid(const char *value);
int smtp_parse_orcpt(const char *value);

#endif
