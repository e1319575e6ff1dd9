/*
 * local_forward.c - reading ~/.forward as its user, with sendmail's
 * safety rules: no symbolic link, a regular file owned by the user (or
 * root), not writable by group or others, not larger than
 * LOCAL_FORWARD_MAX.  A file that breaks a rule is ignored with the reason
 * (mail goes to the mailbox); only an error that may pass is temporary.
 * The targets are split as aliases(5) targets are (lookup/aliases.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/local.h"
#include "lookup/aliases.h"

struct local_forward {
	char		  path[4096];
	char		**targets;
	size_t		  n;
	char		  why[200];	/* set: the file is ignored */
};

/* One target of a line, in the form local_child.c reads: "\\user",
 * "/file", "|command", or a name or an address. */
static void
local_forward_add(struct local_forward *f, const struct aliases_target *t)
{
	struct buf	b;

	if (f->n == LOCAL_FORWARD_TARGETS) {
		bsnprintf(f->why, sizeof(f->why), "more than %d targets",
		    LOCAL_FORWARD_TARGETS);
		return;
	}
	buf_init(&b);
	switch (t->kind) {
	case ALIAS_T_MAILBOX:
		buf_printf(&b, "\\%s", t->value);
		break;
	case ALIAS_T_PIPE:
		buf_printf(&b, "|%s", t->value);
		break;
	case ALIAS_T_INCLUDE:
		bsnprintf(f->why, sizeof(f->why), "an :include: is not "
		    "followed from a .forward");
		buf_free(&b);
		return;
	default:
		buf_addstr(&b, t->value);
		break;
	}
	f->targets = xreallocarray(f->targets, f->n + 1, sizeof(char *));
	f->targets[f->n++] = xstrdup(b.data);
	buf_free(&b);
}

/* One line: targets as in aliases(5) (lookup/aliases.h's splitter). */
static void
local_forward_line(struct local_forward *f, const char *line, size_t len,
    unsigned int lineno)
{
	struct aliases_target	*t = NULL;
	char			*s, err[160];
	size_t			 n = 0, i;

	/* A comma that ends a line ends nothing here (no continuation). */
	while (len > 0 && (line[len - 1] == ',' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		len--;
	s = xstrndup(line, len);
	if (aliases_split(s, &t, &n, err, sizeof(err)) == -1)
		bsnprintf(f->why, sizeof(f->why), "line %u: %s", lineno, err);
	for (i = 0; i < n && f->why[0] == '\0'; i++)
		local_forward_add(f, &t[i]);
	aliases_targets_free(t, n);
	free(s);
}

static void
local_forward_parse(struct local_forward *f, const char *text, size_t len)
{
	const char	*p = text, *end = text + len, *nl, *s;
	unsigned int	 lineno = 0;

	if (memchr(text, '\0', len) != NULL) {
		bsnprintf(f->why, sizeof(f->why), "holds a NUL byte");
		return;
	}
	for (; p < end && f->why[0] == '\0'; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		for (s = p; s < nl && (*s == ' ' || *s == '\t'); s++)
			;
		if (s == nl || *s == '#')
			continue;
		local_forward_line(f, p, (size_t)(nl - p - (nl[-1] == '\r')),
		    lineno);
	}
}

/* The checks on the open file: NULL when safe, else why not. */
static const char *
local_forward_unsafe(const struct stat *st, uid_t uid)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != uid && st->st_uid != 0)
		return "owned by another user";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	if (st->st_size > LOCAL_FORWARD_MAX)
		return "larger than 64 KiB";
	return NULL;
}


/* Opens and checks: the descriptor, -1 to ignore (f->why) or for a
 * missing file (why empty), -2 for a temporary error (res set). */
static int
local_forward_open(struct local_forward *f, uid_t uid, struct local_result *res)
{
	struct stat	 st;
	const char	*why;
	int		 fd;

	fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return -1;
		if (errno == ELOOP)
			bsnprintf(f->why, sizeof(f->why), "a symbolic link");
		else if (errno == EACCES || errno == EPERM || errno == ENXIO ||
		    errno == EISDIR)
			bsnprintf(f->why, sizeof(f->why), "cannot open: %s",
			    strerror(errno));
		else {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: cannot open: %s", f->path, strerror(errno));
			return -2;
		}
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		local_result_set(res, LOCAL_TEMP, "4.3.0", "%s: fstat: %s",
		    f->path, strerror(errno));
		close(fd);
		return -2;
	}
	if ((why = local_forward_unsafe(&st, uid)) != NULL) {
		bsnprintf(f->why, sizeof(f->why), "%s", why);
		close(fd);
		return -1;
	}
	return fd;
}

int
local_forward_read(const char *home, uid_t uid, char ***targets,
    size_t *ntargets, struct local_result *res)
{
	struct local_forward	 f;
	char			*text;
	ssize_t			 len;
	int			 fd;

	*targets = NULL;
	*ntargets = 0;
	memset(&f, 0, sizeof(f));
	local_result_set(res, LOCAL_OK, "2.0.0", "%s", "");
	if (!bsnprintf(f.path, sizeof(f.path), "%s/.forward", home)) {
		local_result_set(res, LOCAL_OK, "2.0.0",
		    "ignoring the .forward of %s: path too long", home);
		return 0;
	}
	if ((fd = local_forward_open(&f, uid, res)) == -2)
		return -1;
	if (fd >= 0) {
		text = xmalloc(LOCAL_FORWARD_MAX + 1);
		len = read_full(fd, text, LOCAL_FORWARD_MAX + 1);
		close(fd);
		if (len == -1) {
			local_result_set(res, LOCAL_TEMP, "4.3.0",
			    "%s: read: %s", f.path, strerror(errno));
			free(text);
			return -1;
		}
		if (len > LOCAL_FORWARD_MAX)
			bsnprintf(f.why, sizeof(f.why), "larger than 64 KiB");
		else
			local_forward_parse(&f, text, (size_t)len);
		free(text);
	}
	if (f.why[0] != '\0') {
		local_forward_free(f.targets, f.n);
		local_result_set(res, LOCAL_OK, "2.0.0", "ignoring %s: %s",
		    f.path, f.why);
		return 0;
	}
	*targets = f.targets;
	*ntargets = f.n;
	return 0;
}

void
local_forward_free(char **targets, size_t ntargets)
{
	size_t	i;

	for (i = 0; i < ntargets; i++)
		free(targets[i]);
	free(targets);
}
