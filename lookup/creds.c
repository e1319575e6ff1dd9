/*
 * creds.c - the submission credentials (creds.h): the "user:hash" source
 * parser, its compiler into a map, the password check and new hashes.
 *
 * Only libxcrypt's "$y$" and "$6$" settings are taken, each checked for
 * its shape and by crypt_checksalt.  A check runs crypt_rn for a known
 * and an unknown user alike and compares the result in constant time.
 */
#include <sys/stat.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/creds.h"
#include "lookup/map.h"

/* A yescrypt hash of no password anyone knows, at the default cost:
 * what an unknown user's password is checked against. */
#define CREDS_DUMMY_HASH \
	"$y$j9T$a5CLCc5vop2NsT89XwVAO.$43LDyoWqu8l0fPB3a12KTe.X2fjyyTBabieFmVpA2UD"

#define CREDS_B64 \
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

struct creds_parser {
	const char		*name;
	struct creds_entry	*e;
	size_t			 n, cap;
	char			*err;
	size_t			 errlen;
};

/* ---- users and hashes ---- */

static int
creds_userch(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	    c == '+' || c == '=';
}

static int
creds_domainch(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* n bytes of s, each accepted by ok, not starting or ending with '.'. */
static int
creds_run_ok(const char *s, size_t n, int (*ok)(int))
{
	size_t	i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!ok((unsigned char)s[i]))
			return 0;
	return 1;
}

int
creds_user_ok(const char *user)
{
	const char	*at = strchr(user, '@');
	size_t		 n = strlen(user);

	if (n == 0 || n > CREDS_USER_MAX || user[0] == '-')
		return 0;
	if (at == NULL)
		return creds_run_ok(user, n, creds_userch);
	return creds_run_ok(user, (size_t)(at - user), creds_userch) &&
	    creds_run_ok(at + 1, strlen(at + 1), creds_domainch) &&
	    at[1] != '-' && strstr(at + 1, "..") == NULL;
}

/* The length of the run of crypt base64 bytes at s. */
static size_t
creds_b64_len(const char *s)
{
	return strspn(s, CREDS_B64);
}

/* "$y$PARAMS$SALT$HASH": HASH is 43 bytes (256 bits). */
static const char *
creds_yescrypt_refused(const char *h)
{
	size_t	n;

	h += 3;
	if ((n = creds_b64_len(h)) == 0 || h[n] != '$')
		return "malformed $y$ hash (parameters)";
	h += n + 1;
	if ((n = creds_b64_len(h)) == 0 || h[n] != '$')
		return "malformed $y$ hash (salt)";
	h += n + 1;
	if (creds_b64_len(h) != 43 || h[43] != '\0')
		return "malformed $y$ hash (value)";
	return NULL;
}

/* "$6$[rounds=N$]SALT$HASH": SALT of 1 to 16 bytes, HASH of 86. */
static const char *
creds_sha512_refused(const char *h)
{
	size_t	n;

	h += 3;
	if (strncmp(h, "rounds=", 7) == 0) {
		if ((n = strspn(h + 7, "0123456789")) == 0 || h[7 + n] != '$')
			return "malformed $6$ hash (rounds)";
		h += 7 + n + 1;
	}
	if ((n = creds_b64_len(h)) == 0 || n > 16 || h[n] != '$')
		return "malformed $6$ hash (salt)";
	h += n + 1;
	if (creds_b64_len(h) != 86 || h[86] != '\0')
		return "malformed $6$ hash (value)";
	return NULL;
}

const char *
creds_hash_refused(const char *hash)
{
	const char	*why;

	if (hash[0] == '\0')
		return "empty hash";
	if (hash[0] != '$')
		return "not a crypt hash (a clear-text password or DES): "
		    "only $y$ (yescrypt) and $6$ (sha512crypt) are taken";
	if (strncmp(hash, "$y$", 3) == 0)
		why = creds_yescrypt_refused(hash);
	else if (strncmp(hash, "$6$", 3) == 0)
		why = creds_sha512_refused(hash);
	else
		return "weak or unknown hash method: only $y$ (yescrypt) and "
		    "$6$ (sha512crypt) are taken";
	if (why == NULL && crypt_checksalt(hash) != CRYPT_SALT_OK)
		why = "hash refused by crypt_checksalt";
	return why;
}

/* ---- the source ---- */

static int
creds_error(struct creds_parser *p, unsigned long line, const char *what)
{
	(void)bsnprintf(p->err, p->errlen, "%s:%lu: %s", p->name, line, what);
	return -1;
}

static void
creds_add(struct creds_parser *p, const char *user, size_t ulen,
    const char *hash, size_t hlen, unsigned long line)
{
	struct creds_entry	*e;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->e = xreallocarray(p->e, p->cap, sizeof(*p->e));
	}
	e = &p->e[p->n++];
	e->user = str_lower(xstrndup(user, ulen));
	e->hash = xstrndup(hash, hlen);
	e->line = line;
}

static int
creds_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* One physical line (without its LF). */
static int
creds_line(struct creds_parser *p, const char *s, size_t n,
    unsigned long line)
{
	const char	*colon, *why;
	size_t		 ulen;
	int		 bad;

	if (n > CREDS_LINE_MAX)
		return creds_error(p, line, "line longer than 4096 bytes");
	if (memchr(s, '\0', n) != NULL)
		return creds_error(p, line, "NUL byte in the line");
	while (n > 0 && (creds_blank(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	while (n > 0 && creds_blank(*s))
		s++, n--;
	if (n == 0 || *s == '#')
		return 0;
	if ((colon = memchr(s, ':', n)) == NULL)
		return creds_error(p, line, "missing colon (user:hash)");
	ulen = (size_t)(colon - s);
	creds_add(p, s, ulen, colon + 1, n - ulen - 1, line);
	bad = !creds_user_ok(p->e[p->n - 1].user) ||
	    strlen(p->e[p->n - 1].user) != ulen;
	if (bad)
		return creds_error(p, line, "not a user name or address");
	if ((why = creds_hash_refused(p->e[p->n - 1].hash)) != NULL ||
	    strlen(p->e[p->n - 1].hash) != n - ulen - 1)
		return creds_error(p, line, why != NULL ? why :
		    "NUL byte in the hash");
	return 0;
}

static int
creds_cmp(const void *a, const void *b)
{
	const struct creds_entry	*x = *(const struct creds_entry *const *)a;
	const struct creds_entry	*y = *(const struct creds_entry *const *)b;
	int				 c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* A user on two lines: the error names the second. */
static int
creds_dups(struct creds_parser *p)
{
	struct creds_entry	**v;
	char			  what[CREDS_USER_MAX + 64];
	size_t			  i;
	int			  rc = 0;

	if (p->n < 2)
		return 0;
	v = xreallocarray(NULL, p->n, sizeof(*v));
	for (i = 0; i < p->n; i++)
		v[i] = &p->e[i];
	qsort(v, p->n, sizeof(*v), creds_cmp);
	for (i = 1; i < p->n && rc == 0; i++) {
		if (strcmp(v[i - 1]->user, v[i]->user) != 0)
			continue;
		(void)bsnprintf(what, sizeof(what), "duplicate user %s (line "
		    "%lu)", v[i]->user, v[i - 1]->line);
		rc = creds_error(p, v[i]->line, what);
	}
	free(v);
	return rc;
}

int
creds_parse_buf(const char *name, const char *data, size_t len,
    struct creds_entry **entries, size_t *n, char *err, size_t errlen)
{
	struct creds_parser	 p;
	const char		*nl;
	unsigned long		 line = 0;
	size_t			 pos = 0, k;
	int			 rc = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.errlen = errlen;
	while (pos < len && rc == 0) {
		nl = memchr(data + pos, '\n', len - pos);
		k = nl != NULL ? (size_t)(nl - (data + pos)) : len - pos;
		rc = creds_line(&p, data + pos, k, ++line);
		pos += k + 1;
	}
	if (rc == 0)
		rc = creds_dups(&p);
	if (rc == -1) {
		creds_entries_free(p.e, p.n);
		return -1;
	}
	*entries = p.e;
	*n = p.n;
	return 0;
}

/* Reads a regular file whole into b. */
static int
creds_read(const char *path, struct buf *b, char *err, size_t errlen)
{
	return buf_read_file(b, path, CREDS_FILE_MAX, NULL, err, errlen) == 0 ?
	    0 : -1;
}

int
creds_parse_file(const char *path, struct creds_entry **entries, size_t *n,
    char *err, size_t errlen)
{
	struct buf	b;
	int		rc = -1;

	buf_init(&b);
	if (creds_read(path, &b, err, errlen) == 0)
		rc = creds_parse_buf(path, b.data != NULL ? b.data : "", b.len,
		    entries, n, err, errlen);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return rc;
}

void
creds_entries_free(struct creds_entry *entries, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(entries[i].user);
		explicit_bzero(entries[i].hash, strlen(entries[i].hash));
		free(entries[i].hash);
	}
	free(entries);
}

/* ---- the map ---- */

/* Writes the entries into the map being built for src.db. */
static int
creds_write(const char *src, const struct creds_entry *e, size_t n,
    gid_t gid, char *err, size_t errlen)
{
	struct map_writer	*w;
	size_t			 len = strlen(src) + 4, i;
	char			*dbpath;

	dbpath = xmalloc(len);
	(void)bsnprintf(dbpath, len, "%s.db", src);
	w = map_create(dbpath, err, errlen);
	free(dbpath);
	if (w == NULL)
		return -1;
	map_writer_perms(w, 0640, gid);
	for (i = 0; i < n; i++) {
		if (map_put(w, e[i].user, e[i].hash, err, errlen) == -1) {
			map_abort(w);
			return -1;
		}
	}
	return map_commit(w, err, errlen);
}

int
creds_compile(const char *src, size_t *nentries, char *err, size_t errlen)
{
	struct creds_entry	*e;
	struct stat		 st;
	size_t			 n;
	int			 rc;

	if (stat(src, &st) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", src, strerror(errno));
		return -1;
	}
	if (creds_parse_file(src, &e, &n, err, errlen) == -1)
		return -1;
	rc = creds_write(src, e, n, st.st_gid == getegid() ? (gid_t)-1 :
	    st.st_gid, err, errlen);
	creds_entries_free(e, n);
	if (rc == 0)
		*nentries = n;
	return rc;
}

/* ---- checking and hashing ---- */

/* 1 when a and b are the same string; the time depends on their
 * lengths only. */
static int
creds_equal(const char *a, const char *b)
{
	size_t			la = strlen(a), lb = strlen(b), i;
	volatile unsigned char	d = (unsigned char)(la != lb);

	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)(i < lb ? b[i] : 0);
	return d == 0;
}

/* -1 when crypt failed (a setting it does not take); else 1 when
 * password gives hash, 0 when it does not. */
static int
creds_verify(const char *password, const char *hash)
{
	struct crypt_data	*cd;
	const char		*out;
	int			 rc;

	cd = xcalloc(1, sizeof(*cd));
	out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	if (out == NULL || out[0] == '*')
		rc = -1;
	else
		rc = creds_equal(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

/* The value found for key; the dummy hash for no user. */
static enum creds_result
creds_stored(struct map *m, const char *key, char **hash, char *err,
    size_t errlen)
{
	const char	*why;

	switch (map_get(m, key, hash, err, errlen)) {
	case MAP_NOTFOUND:
		*hash = NULL;
		return CREDS_BAD;
	case MAP_ERROR:
		return CREDS_TEMPFAIL;
	case MAP_FOUND:
		break;
	}
	if ((why = creds_hash_refused(*hash)) != NULL) {
		(void)bsnprintf(err, errlen, "%s: the hash of %.200s: %s",
		    map_path(m), key, why);
		free(*hash);
		*hash = NULL;
		return CREDS_TEMPFAIL;
	}
	return CREDS_OK;
}

enum creds_result
creds_check(struct map *m, const char *user, const char *password,
    char *err, size_t errlen)
{
	enum creds_result	 r = CREDS_BAD;
	char			*key, *hash = NULL;
	int			 v;

	key = str_lower(xstrdup(user));
	if (creds_user_ok(key))
		r = creds_stored(m, key, &hash, err, errlen);
	free(key);
	if (r == CREDS_TEMPFAIL)
		return r;
	if (strlen(password) > CREDS_PASSWORD_MAX) {
		free(hash);
		return CREDS_BAD;
	}
	v = creds_verify(password, hash != NULL ? hash : CREDS_DUMMY_HASH);
	if (v == -1 && hash != NULL) {
		(void)bsnprintf(err, errlen, "crypt: %s", strerror(errno));
		r = CREDS_TEMPFAIL;
	} else
		r = hash != NULL && v == 1 ? CREDS_OK : CREDS_BAD;
	free(hash);
	return r;
}

int
creds_hash(const char *password, char **out, char *err, size_t errlen)
{
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data	*cd;
	const char		*h;

	if (strlen(password) > CREDS_PASSWORD_MAX) {
		(void)bsnprintf(err, errlen, "password longer than %d bytes",
		    CREDS_PASSWORD_MAX);
		return -1;
	}
	/* No random bytes given: libxcrypt reads them from the system. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL) {
		(void)bsnprintf(err, errlen, "crypt_gensalt: %s",
		    strerror(errno));
		return -1;
	}
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (h == NULL || h[0] == '*' || creds_hash_refused(h) != NULL) {
		(void)bsnprintf(err, errlen, "crypt: %s", h == NULL ?
		    strerror(errno) : "no hash made");
		*out = NULL;
	} else
		*out = xstrdup(h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return *out != NULL ? 0 : -1;
}
