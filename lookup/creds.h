/*
 * creds.h - the submission credentials: a source file of "user:hash"
 * lines, its compiled map (FILE.db, lookup/map.h) and the password check.
 *
 * A hash is a crypt(3) string of libxcrypt: "$y$" (yescrypt, what
 * creds_hash makes) or "$6$" (sha512crypt).  Nothing else is taken: a
 * clear-text password, "$1$" (MD5), DES, an empty hash are errors naming
 * FILE:LINE.  The user is a login name or an address, stored and looked
 * up in lower case.  A check answers the same for an unknown user as for
 * a wrong password, after the same kind of crypt work (a dummy hash).
 */
#ifndef SM_CREDS_H
#define SM_CREDS_H

#include <stddef.h>

struct map;

#define CREDS_USER_MAX		255		/* bytes of a user name */
#define CREDS_LINE_MAX		4096		/* one line of the source */
#define CREDS_PASSWORD_MAX	511		/* what crypt(3) takes */
#define CREDS_FILE_MAX		(16 * 1024 * 1024)

enum creds_result {
	CREDS_OK,		/* the password is right */
	CREDS_BAD,		/* wrong password or unknown user */
	CREDS_TEMPFAIL		/* the map could not be read: try later */
};

struct creds_entry {
	char		*user;		/* lower case */
	char		*hash;
	unsigned long	 line;
};

/*
 * Parses len bytes of source named name: '#' comments and blank lines
 * skipped, CRLF taken, blanks around the line ignored.  0 with *entries
 * (allocated, file order) and *n; -1 with "NAME:LINE: what" in err (a
 * duplicate user among the errors).
 */
int creds_parse_buf(const char *name, const char *data, size_t len,
    struct creds_entry **entries, size_t *n, char *err, size_t errlen);
/* The same from a file (a regular file, at most CREDS_FILE_MAX bytes). */
int creds_parse_file(const char *path, struct creds_entry **entries,
    size_t *n, char *err, size_t errlen);
void creds_entries_free(struct creds_entry *entries, size_t n);

/* 1 for a plausible login name or address (either case), else 0. */
int creds_user_ok(const char *user);
/* NULL when hash is a well-formed "$y$" or "$6$" string, else why not. */
const char *creds_hash_refused(const char *hash);

/*
 * Compiles the source src into src.db (atomic, map.h), mode 0640 with
 * the group of src.  *nentries: the users.  -1 with "SRC:LINE: what" or
 * a system error in err, and the old src.db left as it was.
 */
int creds_compile(const char *src, size_t *nentries, char *err,
    size_t errlen);

/*
 * Checks user's password against the map.  CREDS_TEMPFAIL comes with the
 * reason in err (a read error, a damaged value); an unknown user and a
 * wrong password are both CREDS_BAD.
 */
enum creds_result creds_check(struct map *m, const char *user,
    const char *password, char *err, size_t errlen);

/*
 * A new "$y$" hash of password (default cost, salt from the system's
 * random source).  0 with *out allocated; -1 with the reason in err.
 */
int creds_hash(const char *password, char **out, char *err, size_t errlen);

#endif
