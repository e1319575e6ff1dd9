/*
 * relay.c - the relay host's credentials file, sender qualification and
 * masquerading, and its one target (relay.h).  No network I/O; the file
 * is read with plain system calls before the chroot.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/util.h"
#include "delivery/mxwalk.h"
#include "delivery/relay.h"

/* ---- the credentials file ---- */

/* Owner and mode: root's (or ours without root), 0600 or stricter. */
static int
relay_auth_stat(int fd, const char *path, char *err, size_t errlen)
{
	struct stat	st;
	uid_t		owner = geteuid();

	if (fstat(fd, &st) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)bsnprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != owner) {
		(void)bsnprintf(err, errlen, "%s: owned by uid %u, must be "
		    "owned by %s", path, (unsigned)st.st_uid, owner == 0 ?
		    "root" : "the user strictmaild runs as");
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		(void)bsnprintf(err, errlen, "%s: mode %04o: group and others "
		    "must have no access (chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The whole file into buf (NUL-terminated); -1 if too large. */
static int
relay_auth_read(int fd, const char *path, char *buf, size_t size, char *err,
    size_t errlen)
{
	size_t	len = 0;
	ssize_t	n;

	for (;;) {
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			(void)bsnprintf(err, errlen, "%s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size - 1) {
			(void)bsnprintf(err, errlen, "%s: larger than %zu "
			    "bytes", path, size - 2);
			return -1;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		(void)bsnprintf(err, errlen, "%s: NUL byte", path);
		return -1;
	}
	return 0;
}

/* One line "USER PASSWORD" (without its newline) into a. */
static int
relay_auth_line(char *line, int lineno, const char *path,
    struct relay_auth *a, char *err, size_t errlen)
{
	char	*pw, *e;

	e = line + strlen(line);
	while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	for (pw = line; *pw != '\0'; pw++)
		if ((unsigned char)*pw < 0x20 && *pw != '\t')
			break;
	if (*pw != '\0') {
		(void)bsnprintf(err, errlen, "%s:%d: control character", path,
		    lineno);
		return -1;
	}
	pw = line + strcspn(line, " \t");
	if (*pw == '\0') {
		(void)bsnprintf(err, errlen, "%s:%d: want \"USER PASSWORD\"",
		    path, lineno);
		return -1;
	}
	*pw++ = '\0';
	pw += strspn(pw, " \t");
	if (a->user != NULL) {
		(void)bsnprintf(err, errlen, "%s:%d: more than one credentials "
		    "line", path, lineno);
		return -1;
	}
	a->user = xstrdup(line);
	a->pass = xstrdup(pw);
	return 0;
}

static int
relay_auth_parse(char *text, const char *path, struct relay_auth *a,
    char *err, size_t errlen)
{
	char	*line, *nl;
	int	 lineno = 0;

	for (line = text; line != NULL && *line != '\0'; line = nl) {
		lineno++;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		line += strspn(line, " \t\r");
		if (*line == '\0' || *line == '#')
			continue;
		if (relay_auth_line(line, lineno, path, a, err, errlen) == -1)
			return -1;
	}
	if (a->user == NULL) {
		(void)bsnprintf(err, errlen, "%s: no \"USER PASSWORD\" line",
		    path);
		return -1;
	}
	return 0;
}

int
relay_auth_load(const char *path, struct relay_auth *a, char *err,
    size_t errlen)
{
	char	text[RELAY_AUTH_FILE_MAX + 2];
	int	fd, rc = -1;

	memset(a, 0, sizeof(*a));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (relay_auth_stat(fd, path, err, errlen) == 0 &&
	    relay_auth_read(fd, path, text, sizeof(text), err, errlen) == 0)
		rc = relay_auth_parse(text, path, a, err, errlen);
	close(fd);
	explicit_bzero(text, sizeof(text));
	if (rc == -1)
		relay_auth_free(a);
	return rc;
}

void
relay_auth_free(struct relay_auth *a)
{
	if (a->user != NULL)
		explicit_bzero(a->user, strlen(a->user));
	if (a->pass != NULL)
		explicit_bzero(a->pass, strlen(a->pass));
	free(a->user);
	free(a->pass);
	a->user = a->pass = NULL;
}

/* ---- the sender ---- */

char *
relay_qualify(const char *addr, const char *origin)
{
	struct buf	b;
	char		*r;

	if (addr[0] == '\0' || strchr(addr, '@') != NULL)
		return xstrdup(addr);
	buf_init(&b);
	buf_printf(&b, "%s@%s", addr, origin);
	r = xstrdup(b.data);
	buf_free(&b);
	return r;
}

char *
relay_masquerade(const char *sender, const struct config *cfg)
{
	const char	*at, *dom;
	struct buf	 b;
	char		*r;

	if (cfg->masquerade_sender == NULL || sender[0] == '\0' ||
	    (at = strrchr(sender, '@')) == NULL)
		return xstrdup(sender);
	dom = at + 1;
	if (!config_is_local_domain(cfg, dom) &&
	    strcasecmp(dom, cfg->hostname) != 0 &&
	    strcasecmp(dom, config_origin(cfg)) != 0)
		return xstrdup(sender);
	buf_init(&b);
	buf_add(&b, sender, (size_t)(at - sender));
	buf_printf(&b, "@%s", cfg->masquerade_sender);
	r = xstrdup(b.data);
	buf_free(&b);
	return r;
}

/* ---- the target ---- */

int
relay_literal(const char *host, struct dns_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &a->u.v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &a->u.v6) == 1)
		a->family = AF_INET6;
	else
		return 0;
	return 1;
}

void
relay_hosts(const char *host, struct mxwalk_hosts *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = MXWALK_GO;
	out->hosts = xcalloc(1, sizeof(*out->hosts));
	out->hosts[0].name = str_lower(xstrdup(host));
	out->hosts[0].pref = 0;
	out->nhosts = 1;
}
