/*
 * map.c - compiled maps in Berkeley DB hash files (map.h): atomic builds,
 * read-only lookups, change detection by inode and mtime.
 */
#include <sys/stat.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "lookup/map.h"

struct map {
	DB		*db;
	char		*path;
	dev_t		 dev;
	ino_t		 ino;
	struct timespec	 mtime;
	off_t		 size;
};

struct map_writer {
	DB	*db;
	char	*path;		/* the final file */
	char	*tmp;		/* path.tmp.PID */
	mode_t	 mode;		/* of the final file */
	gid_t	 gid;		/* ... and its group, (gid_t)-1: ours */
};

/* Berkeley DB's own messages: the error code says enough, and stderr
 * is not ours to write to. */
static void
map_db_quiet(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	(void)msg;
}

/* ---- reading ---- */

struct map *
map_open(const char *path, char *err, size_t errlen)
{
	struct map	*m;
	struct stat	 st;
	DB		*db;
	int		 rc, fd;

	if ((rc = db_create(&db, NULL, 0)) != 0) {
		(void)bsnprintf(err, errlen, "%s: %s", path, db_strerror(rc));
		return NULL;
	}
	db->set_errcall(db, map_db_quiet);
	if ((rc = db->open(db, NULL, path, NULL, DB_HASH, DB_RDONLY, 0)) !=
	    0 || (rc = db->fd(db, &fd)) != 0 ||
	    (fstat(fd, &st) == -1 && (rc = errno) != 0)) {
		(void)bsnprintf(err, errlen, "%s: %s", path, db_strerror(rc));
		(void)db->close(db, 0);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->db = db;
	m->path = xstrdup(path);
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->mtime = st.st_mtim;
	m->size = st.st_size;
	return m;
}

enum map_status
map_get(struct map *m, const char *key, char **value, char *err,
    size_t errlen)
{
	DBT	k, v;
	int	rc;

	*value = NULL;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key) + 1;
	if ((rc = m->db->get(m->db, NULL, &k, &v, 0)) == DB_NOTFOUND)
		return MAP_NOTFOUND;
	if (rc != 0) {
		(void)bsnprintf(err, errlen, "%s: %s", m->path,
		    db_strerror(rc));
		return MAP_ERROR;
	}
	if (v.size > MAP_VALUE_MAX || (v.size > 0 &&
	    memchr(v.data, '\0', v.size - 1) != NULL)) {
		(void)bsnprintf(err, errlen, "%s: the value of %.200s is "
		    "damaged", m->path, key);
		return MAP_ERROR;
	}
	/* A value without its trailing NUL is taken as well. */
	if (v.size > 0 && ((char *)v.data)[v.size - 1] == '\0')
		v.size--;
	*value = xstrndup(v.data, v.size);
	return MAP_FOUND;
}

int
map_changed(const struct map *m)
{
	struct stat	st;

	if (stat(m->path, &st) == -1)
		return 1;
	return st.st_dev != m->dev || st.st_ino != m->ino ||
	    st.st_mtim.tv_sec != m->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != m->mtime.tv_nsec || st.st_size != m->size;
}

const char *
map_path(const struct map *m)
{
	return m->path;
}

void
map_close(struct map *m)
{
	if (m == NULL)
		return;
	(void)m->db->close(m->db, 0);
	free(m->path);
	free(m);
}

/* ---- writing ---- */

static void
map_writer_free(struct map_writer *w)
{
	free(w->path);
	free(w->tmp);
	free(w);
}

struct map_writer *
map_create(const char *path, char *err, size_t errlen)
{
	struct map_writer	*w;
	size_t			 n = strlen(path) + 32;
	int			 rc;

	w = xcalloc(1, sizeof(*w));
	w->path = xstrdup(path);
	w->mode = 0644;
	w->gid = (gid_t)-1;
	w->tmp = xmalloc(n);
	(void)bsnprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	(void)unlink(w->tmp);	/* left by a dead process of this pid */
	if ((rc = db_create(&w->db, NULL, 0)) == 0 &&
	    (w->db->set_errcall(w->db, map_db_quiet), 1) &&
	    (rc = w->db->open(w->db, NULL, w->tmp, NULL, DB_HASH,
	    DB_CREATE | DB_EXCL, 0600)) == 0)
		return w;
	(void)bsnprintf(err, errlen, "%s: %s", w->tmp, db_strerror(rc));
	if (w->db != NULL)
		(void)w->db->close(w->db, 0);
	(void)unlink(w->tmp);
	map_writer_free(w);
	return NULL;
}

void
map_writer_perms(struct map_writer *w, mode_t mode, gid_t gid)
{
	w->mode = mode;
	w->gid = gid;
}

int
map_put(struct map_writer *w, const char *key, const char *value, char *err,
    size_t errlen)
{
	DBT	k, v;
	int	rc;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key) + 1;
	v.data = (void *)(uintptr_t)value;
	v.size = (u_int32_t)strlen(value) + 1;
	if ((rc = w->db->put(w->db, NULL, &k, &v, DB_NOOVERWRITE)) == 0)
		return 0;
	if (rc == DB_KEYEXIST)
		(void)bsnprintf(err, errlen, "duplicate key %.256s", key);
	else
		(void)bsnprintf(err, errlen, "%s: %s", w->tmp,
		    db_strerror(rc));
	return -1;
}

/* fsync of a file or folder by name. */
static int
map_fsync_path(const char *path, int flags)
{
	int	fd, rc;

	if ((fd = open(path, flags | O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
map_commit(struct map_writer *w, char *err, size_t errlen)
{
	char		*dir;
	const char	*what = "sync";
	int		 rc;

	rc = w->db->close(w->db, 0);
	w->db = NULL;
	if (rc != 0) {
		(void)bsnprintf(err, errlen, "%s: %s", w->tmp, db_strerror(rc));
		map_abort(w);
		return -1;
	}
	if ((what = "chown", w->gid != (gid_t)-1 &&
	    chown(w->tmp, (uid_t)-1, w->gid) == -1) ||
	    (what = "chmod", chmod(w->tmp, w->mode) == -1) ||
	    (what = "fsync", map_fsync_path(w->tmp, 0) == -1) ||
	    (what = "rename", rename(w->tmp, w->path) == -1)) {
		(void)bsnprintf(err, errlen, "%s: %s: %s", w->tmp, what,
		    strerror(errno));
		map_abort(w);
		return -1;
	}
	dir = xstrdup(w->path);
	rc = map_fsync_path(dirname(dir), O_DIRECTORY);
	if (rc == -1)
		(void)bsnprintf(err, errlen, "%s: fsync: %s", dir,
		    strerror(errno));
	free(dir);
	map_writer_free(w);
	return rc;
}

void
map_abort(struct map_writer *w)
{
	if (w->db != NULL)
		(void)w->db->close(w->db, 0);
	(void)unlink(w->tmp);
	map_writer_free(w);
}

/* ---- compiling a source ---- */

struct map_compile_ctx {
	struct map_writer	*w;
	size_t			 n;
};

static int
map_compile_entry(void *arg, const struct aliases_entry *e, char *err,
    size_t errlen)
{
	struct map_compile_ctx	*c = arg;

	if (map_put(c->w, e->key, e->value, err, errlen) == -1)
		return -1;
	c->n++;
	return 0;
}

int
map_compile(const char *src, enum aliases_format fmt, size_t *nentries,
    char *err, size_t errlen)
{
	struct map_compile_ctx	 c;
	size_t			 n = strlen(src) + 4;
	char			*dbpath;
	int			 rc;

	dbpath = xmalloc(n);
	(void)bsnprintf(dbpath, n, "%s.db", src);
	c.n = 0;
	if ((c.w = map_create(dbpath, err, errlen)) == NULL) {
		free(dbpath);
		return -1;
	}
	free(dbpath);
	if (aliases_parse_file(src, fmt, map_compile_entry, &c, err,
	    errlen) == -1) {
		map_abort(c.w);
		return -1;
	}
	rc = map_commit(c.w, err, errlen);
	if (rc == 0)
		*nentries = c.n;
	return rc;
}
