/*
 * expand.h - recipient expansion: an address of a local or virtual
 * domain becomes its final targets (mailboxes, files, commands, remote
 * addresses) through the virtual map, the aliases map, :include: files
 * and the user database.
 *
 * Pure apart from the maps, the :include: files it reads and the
 * callbacks it is given (so tests bring fake users and domains).  It
 * stops at loops (a name met again on the current chain, reported with
 * the chain), at EXPAND_DEPTH_MAX nested names, at EXPAND_TARGETS_MAX
 * targets and EXPAND_STEPS_MAX lookups; duplicate targets are merged.
 * root is never a mailbox: it follows its alias, then root_alias, else it
 * is an EXP_ERROR target flagged EXPAND_F_TEMP (deferred, nothing lost).
 * postmaster without an alias is root (RFC 5321 4.5.1).
 */
#ifndef SM_EXPAND_H
#define SM_EXPAND_H

#include <stddef.h>

struct map;

#define EXPAND_DEPTH_MAX	20
#define EXPAND_TARGETS_MAX	1000
#define EXPAND_STEPS_MAX	10000		/* lookups of one expansion */
#define EXPAND_INCLUDE_MAX	(1024 * 1024)	/* bytes of an :include: file */
#define EXPAND_REASON_MAX	512

enum expand_kind { EXP_MAILBOX, EXP_FILE, EXP_PIPE, EXP_REMOTE, EXP_ERROR };

#define EXPAND_F_TEMP		0x01	/* ERROR: temporary, defer */
#define EXPAND_F_NOFORWARD	0x02	/* MAILBOX: from \user, no .forward */

struct expand_target {
	enum expand_kind kind;
	char	*user;	/* MAILBOX: the local user; FILE/PIPE: the user it runs as
			 * (alias-user for system aliases); REMOTE/ERROR: "" */
	char	*value;	/* MAILBOX: the final address for Delivered-To
			 * ("user@domain", lower case); FILE: path; PIPE: command;
			 * REMOTE: address; ERROR: reason */
	int	 flags;	/* EXPAND_F_* */
};

enum expand_status { EXPAND_OK, EXPAND_NOTFOUND, EXPAND_TEMPFAIL, EXPAND_LOOP };

enum expand_user { EXPAND_USER_FOUND, EXPAND_USER_NOTFOUND,
    EXPAND_USER_TEMPFAIL };

struct expand_config {
	struct map	*aliases;	/* NULL: no aliases map */
	struct map	*virtual;	/* NULL: no virtual map */
	const char	*local_domain;	/* of bare names: the host name */
	const char	*delimiter;	/* "+"; "" = no extensions */
	const char	*root_alias;	/* "" = none */
	const char	*alias_user;	/* runs |command and /file of aliases */
	/* domain lower case; 1 = yes, 0 = no */
	int		(*is_local_domain)(void *arg, const char *domain);
	int		(*is_virtual_domain)(void *arg, const char *domain);
	/* user as found in a map or address, lower case (getpwnam) */
	enum expand_user (*user_exists)(void *arg, const char *user);
	void		*arg;
};

struct expand_result {
	enum expand_status	 status;
	struct expand_target	*targets;	/* EXPAND_OK only */
	size_t			 ntargets;
	char			 reason[EXPAND_REASON_MAX]; /* not OK: why */
};

/*
 * Expands address ("local@domain"; without '@' a local name).  A domain
 * neither local nor virtual gives one EXP_REMOTE target.  res is filled
 * in every case; free it with expand_result_free.
 *   EXPAND_OK        res->targets (one at least)
 *   EXPAND_NOTFOUND  the address itself has no alias, no user, no
 *                    virtual entry ("unknown user" in res->reason)
 *   EXPAND_TEMPFAIL  a map, the user database or an :include: file
 *                    failed, or the expansion is over its limits
 *   EXPAND_LOOP      an alias loop ("alias loop: a -> b -> a") or nesting
 *                    deeper than EXPAND_DEPTH_MAX
 * Names met below the address that do not exist become EXP_ERROR targets
 * (permanent), not a NOTFOUND.
 */
enum expand_status expand_address(const struct expand_config *c,
    const char *address, struct expand_result *res);
void expand_result_free(struct expand_result *res);

/* RCPT time: whether address exists (expand_address without targets). */
enum expand_status expand_rcpt(const struct expand_config *c,
    const char *address, char *reason, size_t reasonlen);

const char *expand_status_str(enum expand_status s);

#endif
