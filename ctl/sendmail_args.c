/*
 * sendmail_args.c - the sendmail(8) command line, parsed strictly (see
 * sendmail_args.h).  Every refusal names the option or value at fault;
 * nothing here allocates or prints.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "ctl/sendmail_args.h"

enum sendmail_mode
sendmail_args_mode_of(const char *argv0)
{
	const char	*base;

	if (argv0 == NULL)
		return SENDMAIL_DELIVER;
	base = strrchr(argv0, '/');
	base = base == NULL ? argv0 : base + 1;
	if (strcmp(base, "mailq") == 0)
		return SENDMAIL_PRINTQ;
	if (strcmp(base, "newaliases") == 0)
		return SENDMAIL_NEWALIASES;
	return SENDMAIL_DELIVER;
}

/* 0 when s has no control byte, is at most max bytes and (if nodash)
 * does not start with '-'. */
static int
args_check_value(const char *what, const char *s, size_t max, int nodash,
    char *err, size_t errlen)
{
	const unsigned char	*p;

	if (strlen(s) > max)
		return errorf(-1, err, errlen, "%s is longer than %zu bytes",
		    what, max);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return errorf(-1, err, errlen,
			    "%s holds a control character (0x%02x)", what, *p);
	if (nodash && s[0] == '-')
		return errorf(-1, err, errlen, "%s may not start with '-': %s",
		    what, s);
	return 0;
}

static int
args_mode(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "m") == 0)
		a->mode = SENDMAIL_DELIVER;
	else if (strcmp(v, "s") == 0)
		a->mode = SENDMAIL_SMTP;
	else if (strcmp(v, "p") == 0)
		a->mode = SENDMAIL_PRINTQ;
	else if (strcmp(v, "i") == 0)
		a->mode = SENDMAIL_NEWALIASES;
	else
		return errorf(-1, err, errlen, "unsupported mode -b%s", v);
	return 0;
}

static int
args_body(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	if (strcasecmp(v, "7BIT") == 0)
		a->body = SENDMAIL_BODY_7BIT;
	else if (strcasecmp(v, "8BITMIME") == 0)
		a->body = SENDMAIL_BODY_8BITMIME;
	else
		return errorf(-1, err, errlen,
		    "-B takes 7BIT or 8BITMIME, not '%s'", v);
	return 0;
}

static int
args_ret(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	if (strcasecmp(v, "full") == 0)
		a->ret = SENDMAIL_RET_FULL;
	else if (strcasecmp(v, "hdrs") == 0)
		a->ret = SENDMAIL_RET_HDRS;
	else
		return errorf(-1, err, errlen, "-R takes full or hdrs, not '%s'",
		    v);
	return 0;
}

/* One word of a -N list, of length n. */
static unsigned
args_notify_word(const char *w, size_t n)
{
	static const struct { const char *name; unsigned bit; } words[] = {
		{ "never", SENDMAIL_NOTIFY_NEVER },
		{ "success", SENDMAIL_NOTIFY_SUCCESS },
		{ "failure", SENDMAIL_NOTIFY_FAILURE },
		{ "delay", SENDMAIL_NOTIFY_DELAY },
	};
	size_t	i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].name) == n &&
		    strncasecmp(w, words[i].name, n) == 0)
			return words[i].bit;
	return 0;
}

static int
args_notify(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	const char	*p = v, *e;
	unsigned	 bit, set = 0;

	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		bit = args_notify_word(p, (size_t)(e - p));
		if (bit == 0 || (set & bit) != 0)
			return errorf(-1, err, errlen, "-N takes never or a list "
			    "of success, failure, delay, not '%s'", v);
		set |= bit;
		if (*e == '\0')
			break;
		p = e + 1;
	}
	if ((set & SENDMAIL_NOTIFY_NEVER) && set != SENDMAIL_NOTIFY_NEVER)
		return errorf(-1, err, errlen,
		    "-N never cannot be combined with other values");
	a->notify = set;
	return 0;
}

/* -oX: the ones that mean something here; any other is ignored. */
static int
args_o(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "i") == 0)
		a->ignore_dots = 1;
	else if (v[0] == 'e' && v[1] != '\0' && v[2] == '\0' &&
	    strchr("pqmwe", v[1]) != NULL)
		a->errmode = v[1];
	else if (v[0] == 'e')
		return errorf(-1, err, errlen, "unsupported error mode -o%s", v);
	else if (v[0] == 'd' && v[1] != '\0' && v[2] == '\0' &&
	    strchr("ibq", v[1]) != NULL)
		a->delivery = v[1];
	else if (v[0] == 'd')
		return errorf(-1, err, errlen, "unsupported delivery mode -o%s",
		    v);
	return 0;
}

static int
args_sender(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	if (args_check_value("the sender (-f)", v, SENDMAIL_VALUE_MAX, 1,
	    err, errlen) == -1)
		return -1;
	a->sender = strcmp(v, "<>") == 0 ? "" : v;
	return 0;
}

static int
args_envid(struct sendmail_args *a, const char *v, char *err, size_t errlen)
{
	const char	*p;

	if (args_check_value("the envelope id (-V)", v, SENDMAIL_ENVID_MAX, 0,
	    err, errlen) == -1)
		return -1;
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return errorf(-1, err, errlen, "the envelope id (-V) "
			    "must be printable ASCII without spaces");
	if (*v == '\0')
		return errorf(-1, err, errlen, "the envelope id (-V) is empty");
	a->envid = v;
	return 0;
}

/* An option that takes a value: c with its value v. */
static int
args_valued(struct sendmail_args *a, char c, const char *v, char *err,
    size_t errlen)
{
	switch (c) {
	case 'b':
		return args_mode(a, v, err, errlen);
	case 'B':
		return args_body(a, v, err, errlen);
	case 'f':
	case 'r':
		return args_sender(a, v, err, errlen);
	case 'F':
		if (args_check_value("the full name (-F)", v,
		    SENDMAIL_VALUE_MAX, 0, err, errlen) == -1)
			return -1;
		a->fullname = v;
		return 0;
	case 'N':
		return args_notify(a, v, err, errlen);
	case 'R':
		return args_ret(a, v, err, errlen);
	case 'V':
		return args_envid(a, v, err, errlen);
	case 'o':
		return args_o(a, v, err, errlen);
	case 'C':
		if (args_check_value("the configuration file (-C)", v, 4096,
		    1, err, errlen) == -1)
			return -1;
		a->config = v;
		return 0;
	case 'O':
	case 'L':
		return 0;	/* ignored */
	}
	return errorf(-1, err, errlen, "unknown option -%c", c);
}

/* A flag without a value. */
static int
args_flag(struct sendmail_args *a, char c, char *err, size_t errlen)
{
	switch (c) {
	case 't':
		a->extract_rcpts = 1;
		return 0;
	case 'i':
		a->ignore_dots = 1;
		return 0;
	case 'v':
		a->verbose = 1;
		return 0;
	case 'm':
	case 'U':
		return 0;	/* "me too", "initial submission": ignored */
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return errorf(-1, err, errlen, "unknown option (byte 0x%02x)",
		    (unsigned char)c);
	return errorf(-1, err, errlen, "unknown option -%c", c);
}

/*
 * The option word argv[*i] (starting with '-'); may take argv[*i + 1]
 * as a value, and then advances *i.
 */
static int
args_word(struct sendmail_args *a, int argc, char *const argv[], int *i,
    char *err, size_t errlen)
{
	const char	*p = argv[*i] + 1;

	if (strcmp(argv[*i], "--json") == 0) {
		a->json = 1;
		return 0;
	}
	if (*p == '\0')
		return errorf(-1, err, errlen, "a lone '-' is not an option");
	for (; *p != '\0'; p++) {
		if (*p == 'q') {
			a->mode = SENDMAIL_FLUSH;
			a->qarg = p + 1;
			return 0;
		}
		if (strchr("bBCfFLNoOrRV", *p) == NULL) {
			if (args_flag(a, *p, err, errlen) == -1)
				return -1;
			continue;
		}
		if (p[1] != '\0')
			return args_valued(a, *p, p + 1, err, errlen);
		if (*i + 1 >= argc)
			return errorf(-1, err, errlen, "option -%c needs a value",
			    *p);
		*i += 1;
		return args_valued(a, *p, argv[*i], err, errlen);
	}
	return 0;
}

static int
args_rcpts(struct sendmail_args *a, int argc, char *const argv[], int first,
    char *err, size_t errlen)
{
	int	i;

	if (argc - first > SENDMAIL_RCPT_MAX)
		return errorf(-1, err, errlen, "too many recipients (%d, at most "
		    "%d)", argc - first, SENDMAIL_RCPT_MAX);
	for (i = first; i < argc; i++) {
		if (args_check_value("a recipient", argv[i], SENDMAIL_VALUE_MAX,
		    1, err, errlen) == -1)
			return -1;
		if (argv[i][0] == '\0')
			return errorf(-1, err, errlen, "an empty recipient");
	}
	a->rcpts = argv + first;
	a->nrcpts = (size_t)(argc - first);
	return 0;
}

/* What the mode allows once every word is read. */
static int
args_final(const struct sendmail_args *a, char *err, size_t errlen)
{
	if (a->json && a->mode != SENDMAIL_PRINTQ)
		return errorf(-1, err, errlen, "--json is for mailq (-bp) only");
	if (a->mode == SENDMAIL_DELIVER && a->nrcpts == 0 && !a->extract_rcpts)
		return errorf(-1, err, errlen,
		    "no recipients given (name them, or use -t)");
	if (a->mode != SENDMAIL_DELIVER && a->nrcpts > 0)
		return errorf(-1, err, errlen,
		    "recipients are only for delivery mode (-bm)");
	return 0;
}

int
sendmail_args_parse(int argc, char *const argv[], struct sendmail_args *a,
    char *err, size_t errlen)
{
	int	i;

	memset(a, 0, sizeof(*a));
	if (errlen > 0)
		err[0] = '\0';
	a->mode = sendmail_args_mode_of(argc > 0 ? argv[0] : NULL);
	a->errmode = 'p';
	a->qarg = "";
	a->rcpts = argv + (argc > 0 ? argc : 0);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-')
			break;
		if (args_word(a, argc, argv, &i, err, errlen) == -1)
			return -1;
	}
	if (i < argc && args_rcpts(a, argc, argv, i, err, errlen) == -1)
		return -1;
	return args_final(a, err, errlen);
}
