/*
 * expand.c - recipient expansion over the virtual and aliases maps,
 * :include: files and the user database (expand.h).
 *
 * A depth-first walk: each name, virtual address and :include: file is
 * pushed on the chain while its targets are expanded, so a loop is a
 * node met again on the chain.  Any failure stops the walk with its
 * status and reason; the targets found so far are dropped then.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/aliases.h"
#include "lookup/expand.h"
#include "lookup/map.h"

struct expand_run {
	const struct expand_config	*c;
	struct expand_result		*res;
	char				*chain[EXPAND_DEPTH_MAX];
	size_t				 depth;
	size_t				 steps;
};

static int expand_list(struct expand_run *, const char *, const char *);
static int expand_addr(struct expand_run *, const char *, int);
static int expand_list_one(struct expand_run *, const struct aliases_target *);

/* ---- status, chain, targets ---- */

static int
expand_stop(struct expand_run *r, enum expand_status st, const char *fmt,
    ...) SM_PRINTF(3, 4);

static int
expand_stop(struct expand_run *r, enum expand_status st, const char *fmt,
    ...)
{
	va_list	ap;

	r->res->status = st;
	va_start(ap, fmt);
	(void)vsnprintf(r->res->reason, sizeof(r->res->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* "a -> b -> c" (the chain, then node when not NULL) into out. */
static void
expand_chain_text(const struct expand_run *r, const char *node,
    struct buf *out)
{
	size_t	i;

	for (i = 0; i < r->depth; i++) {
		buf_addstr(out, r->chain[i]);
		if (i + 1 < r->depth || node != NULL)
			buf_addstr(out, " -> ");
	}
	if (node != NULL)
		buf_addstr(out, node);
}

static int
expand_push(struct expand_run *r, const char *node)
{
	struct buf	b;
	size_t		i;
	int		loop = 0;

	for (i = 0; i < r->depth; i++)
		if (strcmp(r->chain[i], node) == 0)
			loop = 1;
	if (++r->steps > EXPAND_STEPS_MAX)
		return expand_stop(r, EXPAND_TEMPFAIL, "alias expansion over "
		    "%d lookups", EXPAND_STEPS_MAX);
	if (loop || r->depth == EXPAND_DEPTH_MAX) {
		buf_init(&b);
		expand_chain_text(r, node, &b);
		buf_addch(&b, '\0');
		(void)expand_stop(r, EXPAND_LOOP, "%s: %s", loop ?
		    "alias loop" : "aliases nested deeper than 20", b.data);
		buf_free(&b);
		return -1;
	}
	r->chain[r->depth++] = xstrdup(node);
	return 0;
}

static void
expand_pop(struct expand_run *r)
{
	free(r->chain[--r->depth]);
}

static int
expand_add(struct expand_run *r, enum expand_kind kind, const char *user,
    const char *value, int flags)
{
	struct expand_result	*res = r->res;
	struct expand_target	*t;
	size_t			 i;

	for (i = 0; i < res->ntargets; i++) {
		t = &res->targets[i];
		if (t->kind == kind && t->flags == flags &&
		    strcmp(t->user, user) == 0 && strcmp(t->value, value) == 0)
			return 0;
	}
	if (res->ntargets == EXPAND_TARGETS_MAX)
		return expand_stop(r, EXPAND_TEMPFAIL, "alias expansion over "
		    "%d targets", EXPAND_TARGETS_MAX);
	res->targets = xreallocarray(res->targets, res->ntargets + 1,
	    sizeof(*res->targets));
	t = &res->targets[res->ntargets++];
	t->kind = kind;
	t->user = xstrdup(user);
	t->value = xstrdup(value);
	t->flags = flags;
	return 0;
}

/* A permanent EXP_ERROR target "what (chain)". */
static int
expand_add_error(struct expand_run *r, const char *what, int flags)
{
	struct buf	b;
	int		rc;

	buf_init(&b);
	buf_addstr(&b, what);
	if (r->depth > 0) {
		buf_addstr(&b, " (");
		expand_chain_text(r, NULL, &b);
		buf_addch(&b, ')');
	}
	buf_addch(&b, '\0');
	rc = expand_add(r, EXP_ERROR, "", b.data, flags);
	buf_free(&b);
	return rc;
}

/* ---- lookups ---- */

/* MAP_FOUND with *value, MAP_NOTFOUND, or -1 (stopped: TEMPFAIL). */
static int
expand_map(struct expand_run *r, struct map *m, const char *key,
    char **value)
{
	enum map_status	st;
	char		err[256];

	*value = NULL;
	if (m == NULL)
		return MAP_NOTFOUND;
	if ((st = map_get(m, key, value, err, sizeof(err))) == MAP_ERROR)
		return expand_stop(r, EXPAND_TEMPFAIL, "map lookup of %.200s: "
		    "%s", key, err);
	return st;
}

/* The length of name up to the recipient delimiter (0: none). */
static size_t
expand_base_len(const struct expand_run *r, const char *name)
{
	const char	*d = r->c->delimiter;
	size_t		 i;

	if (d == NULL || d[0] == '\0')
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (strchr(d, name[i]) != NULL)
			return i;
	return 0;
}

/* The first of keys that the map holds: its value, or NULL. */
static int
expand_map_first(struct expand_run *r, struct map *m, char *const *keys,
    size_t n, char **value, const char **hit)
{
	size_t	i;
	int	st;

	for (i = 0; i < n; i++) {
		if (keys[i] == NULL)
			continue;
		if ((st = expand_map(r, m, keys[i], value)) != MAP_NOTFOUND) {
			*hit = keys[i];
			return st;
		}
	}
	return MAP_NOTFOUND;
}

static int
expand_user(struct expand_run *r, const char *user)
{
	enum expand_user	u;

	u = r->c->user_exists(r->c->arg, user);
	if (u == EXPAND_USER_TEMPFAIL)
		return expand_stop(r, EXPAND_TEMPFAIL, "user database "
		    "lookup of %.200s failed", user);
	return u;
}

/* ---- the walk ---- */

static int
expand_root(struct expand_run *r)
{
	if (r->c->root_alias != NULL && r->c->root_alias[0] != '\0')
		return expand_list(r, r->c->root_alias, "root-alias");
	return expand_add(r, EXP_ERROR, "", "mail for root needs an alias "
	    "(root in the aliases, or root-alias in strictmail.conf)",
	    EXPAND_F_TEMP);
}

/* A user with no alias: a mailbox, or not found. */
static int
expand_mailbox(struct expand_run *r, const char *user, const char *addr,
    int top, int flags)
{
	char	what[512];
	int	u;

	/* RFC 5321 4.5.1: postmaster always exists; without an alias it is
	 * root's mail, as the usual "postmaster: root" alias says. */
	if (strcmp(user, "root") == 0 || strcmp(user, "postmaster") == 0)
		return expand_root(r);
	if ((u = expand_user(r, user)) == -1)
		return -1;
	if (u == EXPAND_USER_FOUND)
		return expand_add(r, EXP_MAILBOX, user, addr, flags);
	if (top)
		return expand_stop(r, EXPAND_NOTFOUND, "unknown user: %.400s",
		    addr);
	(void)bsnprintf(what, sizeof(what), "unknown user: %.400s", addr);
	return expand_add_error(r, what, 0);
}

/* A local name (lower case) of a local domain. */
static int
expand_local(struct expand_run *r, const char *name, const char *domain,
    int top)
{
	char		*keys[2], *value, *addr;
	const char	*hit;
	size_t		 blen = expand_base_len(r, name);
	int		 st, rc;

	if (expand_push(r, name) == -1)
		return -1;
	keys[0] = (char *)(uintptr_t)name;
	keys[1] = blen > 0 ? xstrndup(name, blen) : NULL;
	st = expand_map_first(r, r->c->aliases, keys, 2, &value, &hit);
	if (st == MAP_FOUND) {
		rc = expand_list(r, value, hit);
		free(value);
	} else if (st == MAP_NOTFOUND) {
		addr = xmalloc(strlen(name) + strlen(domain) + 2);
		(void)bsnprintf(addr, strlen(name) + strlen(domain) + 2,
		    "%s@%s", name, domain);
		rc = expand_mailbox(r, keys[1] != NULL ? keys[1] : name, addr,
		    top, 0);
		free(addr);
	} else
		rc = -1;
	free(keys[1]);
	if (rc == 0)
		expand_pop(r);
	return rc;
}

/* local@domain of a virtual domain (both lower case). */
static int
expand_virtual(struct expand_run *r, const char *local, const char *domain,
    int top)
{
	char		*keys[3], *value;
	const char	*hit;
	size_t		 blen = expand_base_len(r, local), n, i;
	int		 st, rc;

	n = strlen(local) + strlen(domain) + 2;
	keys[0] = xmalloc(n);
	(void)bsnprintf(keys[0], n, "%s@%s", local, domain);
	keys[1] = NULL;
	if (blen > 0) {
		keys[1] = xmalloc(n);
		(void)bsnprintf(keys[1], n, "%.*s@%s", (int)blen, local,
		    domain);
	}
	keys[2] = xmalloc(n);
	(void)bsnprintf(keys[2], n, "@%s", domain);
	if ((rc = expand_push(r, keys[0])) == 0) {
		st = expand_map_first(r, r->c->virtual, keys, 3, &value, &hit);
		if (st == MAP_FOUND) {
			rc = expand_list(r, value, hit);
			free(value);
		} else if (st == MAP_NOTFOUND && top)
			rc = expand_stop(r, EXPAND_NOTFOUND, "unknown "
			    "virtual address: %.400s", keys[0]);
		else if (st == MAP_NOTFOUND)
			rc = expand_add_error(r, "unknown virtual address", 0);
		else
			rc = -1;
		if (rc == 0)
			expand_pop(r);
	}
	for (i = 0; i < 3; i++)
		free(keys[i]);
	return rc;
}

/* An address: virtual, local or remote. */
static int
expand_addr(struct expand_run *r, const char *address, int top)
{
	const struct expand_config	*c = r->c;
	char				*a, *at;
	int				 rc;

	a = str_lower(xstrdup(address));
	if ((at = strrchr(a, '@')) == NULL)
		rc = expand_local(r, a, c->local_domain, top);
	else {
		*at++ = '\0';
		if (c->is_virtual_domain(c->arg, at))
			rc = expand_virtual(r, a, at, top);
		else if (c->is_local_domain(c->arg, at))
			rc = expand_local(r, a, at, top);
		else
			rc = expand_add(r, EXP_REMOTE, "", address, 0);
	}
	free(a);
	return rc;
}

static int
expand_backslash(struct expand_run *r, const char *user)
{
	char	*u, *addr;
	size_t	 n;
	int	 rc;

	u = str_lower(xstrdup(user));
	n = strlen(u) + strlen(r->c->local_domain) + 2;
	addr = xmalloc(n);
	(void)bsnprintf(addr, n, "%s@%s", u, r->c->local_domain);
	rc = expand_mailbox(r, u, addr, 0, EXPAND_F_NOFORWARD);
	free(addr);
	free(u);
	return rc;
}

/* The lines of an :include: file, each a target list. */
static int
expand_include_text(struct expand_run *r, const char *path, char *text)
{
	struct aliases_target	*t;
	char			*line, *nl, err[256];
	size_t			 n, i, len;
	unsigned long		 lineno = 0;
	int			 rc = 0;

	for (line = text; rc == 0 && line != NULL; line = nl) {
		lineno++;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > ALIASES_LINE_MAX)
			return expand_stop(r, EXPAND_TEMPFAIL, "%.300s:%lu: "
			    "line longer than 65536 bytes", path, lineno);
		line += strspn(line, " \t");
		if (*line == '\0' || *line == '#')
			continue;
		if (aliases_split(line, &t, &n, err, sizeof(err)) == -1)
			return expand_stop(r, EXPAND_TEMPFAIL, "%.300s:%lu: "
			    "%s", path, lineno, err);
		for (i = 0; rc == 0 && i < n; i++)
			rc = expand_list_one(r, &t[i]);
		aliases_targets_free(t, n);
	}
	return rc;
}

/* Reads an :include: file: a regular file, not group/world-writable. */
static int
expand_include_read(struct expand_run *r, const char *path, struct buf *b)
{
	struct stat	 st;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return expand_stop(r, EXPAND_TEMPFAIL, ":include: %.300s: %s",
		    path, errno == ELOOP ? "a symbolic link" : strerror(errno));
	if (fstat(fd, &st) == -1) {
		close(fd);
		return expand_stop(r, EXPAND_TEMPFAIL, ":include: %.300s: %s",
		    path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    st.st_size > EXPAND_INCLUDE_MAX) {
		close(fd);
		return expand_stop(r, EXPAND_TEMPFAIL, ":include: %.300s: %s",
		    path, !S_ISREG(st.st_mode) ? "not a regular file" :
		    st.st_size > EXPAND_INCLUDE_MAX ? "larger than 1 MiB" :
		    "group- or world-writable");
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || b->len + (size_t)n > EXPAND_INCLUDE_MAX) {
			close(fd);
			return expand_stop(r, EXPAND_TEMPFAIL, ":include: "
			    "%.300s: %s", path, n == -1 ? strerror(errno) :
			    "larger than 1 MiB");
		}
		buf_add(b, chunk, (size_t)n);
	}
	close(fd);
	if (memchr(b->data, '\0', b->len) != NULL)
		return expand_stop(r, EXPAND_TEMPFAIL, ":include: %.300s: a "
		    "NUL byte", path);
	buf_addch(b, '\0');
	return 0;
}

static int
expand_include(struct expand_run *r, const char *path)
{
	struct buf	 b;
	char		*node;
	size_t		 n = strlen(path) + 16;
	int		 rc;

	node = xmalloc(n);
	(void)bsnprintf(node, n, ":include:%s", path);
	rc = expand_push(r, node);
	free(node);
	if (rc == -1)
		return -1;
	buf_init(&b);
	if ((rc = expand_include_read(r, path, &b)) == 0)
		rc = expand_include_text(r, path, b.data);
	buf_free(&b);
	if (rc == 0)
		expand_pop(r);
	return rc;
}

/* One target of an alias, a virtual entry or an :include: line. */
static int
expand_list_one(struct expand_run *r, const struct aliases_target *t)
{
	const struct expand_config	*c = r->c;

	switch (t->kind) {
	case ALIAS_T_NAME:
		return expand_local(r, t->value, c->local_domain, 0);
	case ALIAS_T_ADDRESS:
		return expand_addr(r, t->value, 0);
	case ALIAS_T_MAILBOX:
		return expand_backslash(r, t->value);
	case ALIAS_T_FILE:
		return expand_add(r, EXP_FILE, c->alias_user, t->value, 0);
	case ALIAS_T_PIPE:
		return expand_add(r, EXP_PIPE, c->alias_user, t->value, 0);
	case ALIAS_T_INCLUDE:
		return expand_include(r, t->value);
	}
	fatalx("expand: target kind %d", (int)t->kind);
}

/* The targets of a stored value (key: the entry it came from). */
static int
expand_list(struct expand_run *r, const char *value, const char *key)
{
	struct aliases_target	*t;
	char			 err[256];
	size_t			 n, i;
	int			 rc = 0;

	if (aliases_split(value, &t, &n, err, sizeof(err)) == -1)
		return expand_stop(r, EXPAND_TEMPFAIL, "bad value of "
		    "%.200s: %s", key, err);
	for (i = 0; rc == 0 && i < n; i++)
		rc = expand_list_one(r, &t[i]);
	aliases_targets_free(t, n);
	return rc;
}

/* ---- the interface ---- */

enum expand_status
expand_address(const struct expand_config *c, const char *address,
    struct expand_result *res)
{
	struct expand_run	r;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.res = res;
	res->status = EXPAND_OK;
	if (expand_addr(&r, address, 1) == -1 || res->ntargets == 0) {
		if (res->status == EXPAND_OK)	/* nothing came out */
			(void)expand_stop(&r, EXPAND_NOTFOUND, "no target for "
			    "%.400s", address);
		expand_result_free(res);
	}
	while (r.depth > 0)
		expand_pop(&r);
	return res->status;
}

void
expand_result_free(struct expand_result *res)
{
	size_t	i;

	for (i = 0; i < res->ntargets; i++) {
		free(res->targets[i].user);
		free(res->targets[i].value);
	}
	free(res->targets);
	res->targets = NULL;
	res->ntargets = 0;
}

enum expand_status
expand_rcpt(const struct expand_config *c, const char *address,
    char *reason, size_t reasonlen)
{
	struct expand_result	res;
	enum expand_status	st;

	st = expand_address(c, address, &res);
	(void)strlcpy(reason, st == EXPAND_OK ? "" : res.reason, reasonlen);
	expand_result_free(&res);
	return st;
}

const char *
expand_status_str(enum expand_status s)
{
	switch (s) {
	case EXPAND_OK:
		return "ok";
	case EXPAND_NOTFOUND:
		return "not found";
	case EXPAND_TEMPFAIL:
		return "temporary failure";
	case EXPAND_LOOP:
		return "loop";
	}
	return "?";
}
