/*
 * ctl_passwd.h - what "strictmailctl passwd" does besides hashing
 * (lookup/creds.h): reading a new password, and setting one user's line
 * in the credentials source file.
 *
 * The file is rewritten by the commit rule: a temporary file beside it,
 * written, synced, renamed over it, its folder synced; every other line
 * (comments, blank lines, other users) is kept as it was.  Runs that set
 * passwords at the same time wait for each other (a lock on the folder).
 */
#ifndef SM_CTL_PASSWD_H
#define SM_CTL_PASSWD_H

#include <stddef.h>

#define CTL_PASSWD_DEFAULT	"/etc/strictmail/passwd"

/*
 * Reads a new password from fd into out (outlen > CREDS_PASSWORD_MAX).
 * A terminal: prompts on stderr twice, echo off (restored on every path,
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT among them).  Anything else: one
 * line, optionally a second line that must be the same, and nothing
 * after.  An empty password, a mismatch, one over CREDS_PASSWORD_MAX
 * bytes: -1 with the reason in err.
 */
int ctl_passwd_read(int fd, char *out, size_t outlen, char *err,
    size_t errlen);

/*
 * Sets user's hash in the source file path (created, mode 0640, when
 * missing; an existing file keeps its owner and group, and its mode
 * without bits beyond 0640).  *added is 1 when user had no line.  The
 * new text must parse (creds_parse_buf), else nothing is written.  With
 * the folder's lock held, compile (when non-NULL) is called after the
 * rename; its result is returned.  -1 with the reason in err.
 */
int ctl_passwd_update(const char *path, const char *user, const char *hash,
    int *added, int (*compile)(const char *path, void *arg, char *err,
    size_t errlen), void *arg, char *err, size_t errlen);

/* The text of src with user's line set to "user:hash" (first line of
 * user replaced, later ones dropped, else appended); *added as above.
 * Allocated; pure. */
char *ctl_passwd_edit(const char *src, size_t len, const char *user,
    const char *hash, int *added);

#endif
