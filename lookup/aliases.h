/*
 * aliases.h - the parser of the aliases(5) source format and of the
 * virtual map source format, and of the stored target lists.
 *
 * Pure: text in, entries out through a callback, errors as
 * "FILE:LINE: what".  An entry is a lower-cased key and its targets, each
 * one of the kinds below; the normalised value "t1, t2" that the map
 * stores parses back (aliases_split) to the same targets.  Nothing is
 * truncated: a line over ALIASES_LINE_MAX, a NUL byte, a duplicate key, a
 * missing colon, an empty list, bad quoting or a target of no known kind
 * (a relative path such as ../../etc/passwd among them) is an error.
 */
#ifndef SM_ALIASES_H
#define SM_ALIASES_H

#include <stddef.h>

struct buf;

#define ALIASES_LINE_MAX	(64 * 1024)	/* one physical line, bytes */
#define ALIASES_ENTRY_MAX	(1024 * 1024)	/* one entry with continuations */
#define ALIASES_TARGETS_MAX	1000		/* targets of one entry */
#define ALIASES_FILE_MAX	(256 * 1024 * 1024)

enum aliases_format {
	ALIASES_ALIASES,	/* "name: t, t" (/etc/aliases) */
	ALIASES_VIRTUAL		/* "user@domain t, t" or "@domain t" */
};

enum aliases_kind {
	ALIAS_T_NAME,		/* user: a local name, aliased again */
	ALIAS_T_ADDRESS,	/* user@domain */
	ALIAS_T_MAILBOX,	/* \user: that user's mailbox, no alias */
	ALIAS_T_FILE,		/* /absolute/path */
	ALIAS_T_PIPE,		/* |command (value without the '|') */
	ALIAS_T_INCLUDE		/* :include:/absolute/path (value: the path) */
};

struct aliases_target {
	enum aliases_kind	 kind;
	char			*value;	/* without '\', '|' or ':include:' */
};

struct aliases_entry {
	const char			*key;	/* lower case */
	const char			*value;	/* normalised "t1, t2" */
	const struct aliases_target	*targets;
	size_t				 ntargets;
	unsigned long			 line;	/* where the entry starts */
};

/*
 * Called once per entry, in file order; a non-zero return stops the parse
 * (aliases_parse then returns -1 with the callback's err, which it
 * prefixes with "FILE:LINE: ").
 */
typedef int (*aliases_cb)(void *arg, const struct aliases_entry *e,
    char *err, size_t errlen);

/*
 * Parses len bytes of source named name (for the errors).  0 when every
 * entry was parsed and taken; -1 with "NAME:LINE: what" in err.
 */
int aliases_parse_buf(const char *name, const char *data, size_t len,
    enum aliases_format fmt, aliases_cb cb, void *arg, char *err,
    size_t errlen);
/* The same from a file (read whole, at most ALIASES_FILE_MAX bytes). */
int aliases_parse_file(const char *path, enum aliases_format fmt,
    aliases_cb cb, void *arg, char *err, size_t errlen);

/*
 * Parses a target list (a stored value, a line of an :include: file or a
 * .forward): targets separated by commas, quoted ones keep commas and
 * spaces.  0 with *targets (allocated, free with aliases_targets_free)
 * and *n >= 1; -1 with the reason in err (an empty list is an error).
 */
int aliases_split(const char *value, struct aliases_target **targets,
    size_t *n, char *err, size_t errlen);
void aliases_targets_free(struct aliases_target *targets, size_t n);

/* Appends one target as the map stores it (quoted where needed). */
void aliases_target_format(const struct aliases_target *t, struct buf *out);

#endif
