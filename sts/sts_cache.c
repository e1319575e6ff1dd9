/*
 * sts_cache.c - the MTA-STS policy cache on disk (sts_cache.h; rules 26
 * and 27).
 *
 * A Berkeley DB transactional environment in the cache folder: the
 * B-tree "sts-cache.db" (page checksums on) and its write-ahead log in
 * the subfolder "sts-cache.log".  Every put and del is one transaction
 * whose commit syncs the log before the call returns; the database file
 * itself is brought up to date by checkpoints.  A crash (SIGKILL) at any
 * moment leaves a log from which the next open's recovery (DB_RECOVER)
 * makes every record either the one before or the one after the write
 * that was under way.  The environment is private to the process
 * (DB_PRIVATE: no region files, no shared memory), which rule 27 allows
 * as only the delivery process opens the cache.  Log files no longer
 * needed after a checkpoint are removed by Berkeley DB itself
 * (DB_LOG_AUTO_REMOVE), so the folder stays small.
 *
 * At open every record is read once: a database or a log that Berkeley
 * DB cannot use is moved aside (sts-cache.db.corrupt-TIME; the log
 * removed) with a warning, and a new, empty cache is made; a single
 * record that does not decode is logged and deleted.
 */
#include <sys/stat.h>

#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sts/sts_cache.h"

#define STS_CACHE_FILE		"sts-cache.db"
#define STS_CACHE_LOGDIR	"sts-cache.log"
#define STS_CACHE_LOG_MAX	(2 * 1024 * 1024)	/* one log file */
#define STS_CACHE_CKP_KB	1024	/* checkpoint after this much log */
#define STS_CACHE_PATH_MAX	1024

struct sts_cache {
	DB_ENV	*env;
	DB	*db;
	char	 dir[STS_CACHE_PATH_MAX];
	DBT	 val;		/* reused buffer of get and each */
};

static void
sts_cache_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_warnx("sts cache: %s", msg);
}

/* "DIR/NAME" into dst; -1 when it does not fit. */
static int
sts_cache_path(const char *dir, const char *name, char *dst, size_t size)
{
	return bsnprintf(dst, size, "%s/%s", dir, name) ? 0 : -1;
}

static void
sts_cache_shut(struct sts_cache *c)
{
	if (c->db != NULL)
		(void)c->db->close(c->db, 0);
	c->db = NULL;
	if (c->env != NULL)
		(void)c->env->close(c->env, 0);
	c->env = NULL;
}

static int
sts_cache_env(struct sts_cache *c)
{
	DB_ENV	*env;
	int	 rc;

	if ((rc = db_env_create(&env, 0)) != 0)
		return rc;
	c->env = env;
	env->set_errcall(env, sts_cache_errcall);
	if ((rc = env->set_lg_dir(env, STS_CACHE_LOGDIR)) != 0 ||
	    (rc = env->set_lg_max(env, STS_CACHE_LOG_MAX)) != 0 ||
	    (rc = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		return rc;
	return env->open(env, c->dir, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE |
	    DB_RECOVER, 0600);
}

static int
sts_cache_db(struct sts_cache *c)
{
	DB	*db;
	int	 rc;

	if ((rc = db_create(&db, c->env, 0)) != 0)
		return rc;
	c->db = db;
	if ((rc = db->set_flags(db, DB_CHKSUM)) != 0)
		return rc;
	return db->open(db, NULL, STS_CACHE_FILE, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, 0600);
}

/* Rule 27: writes val under key (deletes key when val is NULL) in its
 * own transaction, whose commit syncs the log; a Berkeley DB status. */
static int
sts_cache_txn(struct sts_cache *c, DBT *key, DBT *val)
{
	DB_TXN	*txn;
	int	 rc;

	if ((rc = c->env->txn_begin(c->env, NULL, &txn, 0)) != 0)
		return rc;
	rc = val != NULL ? c->db->put(c->db, txn, key, val, 0) :
	    c->db->del(c->db, txn, key, 0);
	if (rc != 0) {
		(void)txn->abort(txn);
		return rc;
	}
	return txn->commit(txn, DB_TXN_SYNC);
}

/* Reads every record once; a Berkeley DB status (0 when all were read).
 * Records that do not decode are deleted afterwards. */
static int
sts_cache_scan(struct sts_cache *c)
{
	DBC		*cur;
	DBT		 key, val;
	struct sts_entry e;
	char		 why[STS_ERROR_MAX], **bad = NULL;
	size_t		 nbad = 0, i;
	int		 rc, drc;

	if ((rc = c->db->cursor(c->db, NULL, &cur, 0)) != 0)
		return rc;
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	while ((rc = cur->get(cur, &key, &val, DB_NEXT)) == 0) {
		if (sts_entry_decode(val.data, val.size, &e, why,
		    sizeof(why)) == 0) {
			if (key.size == strlen(e.domain) &&
			    memcmp(key.data, e.domain, key.size) == 0) {
				sts_entry_free(&e);
				continue;
			}
			(void)bsnprintf(why, sizeof(why), "the entry of %s",
			    e.domain);
			sts_entry_free(&e);
		}
		log_warnx("sts cache: dropping an unreadable entry (%.*s): %s",
		    (int)(key.size > 255 ? 255 : key.size),
		    (const char *)key.data, why);
		bad = xreallocarray(bad, nbad + 1, sizeof(*bad));
		bad[nbad++] = xstrndup(key.data, key.size);
	}
	(void)cur->close(cur);
	drc = 0;
	for (i = 0; i < nbad; i++) {
		memset(&key, 0, sizeof(key));
		key.data = bad[i];
		key.size = (u_int32_t)strlen(bad[i]);
		if (drc == 0)
			drc = sts_cache_txn(c, &key, NULL);
		free(bad[i]);
	}
	free(bad);
	return rc == DB_NOTFOUND ? drc : rc;
}

/* One attempt to open; a Berkeley DB or errno status. */
static int
sts_cache_try(struct sts_cache *c)
{
	char	logdir[STS_CACHE_PATH_MAX];
	int	rc;

	if (sts_cache_path(c->dir, STS_CACHE_LOGDIR, logdir,
	    sizeof(logdir)) == -1)
		return ENAMETOOLONG;
	if (mkdir(logdir, 0700) == -1 && errno != EEXIST)
		return errno;
	if ((rc = sts_cache_env(c)) != 0 || (rc = sts_cache_db(c)) != 0 ||
	    (rc = sts_cache_scan(c)) != 0 ||
	    (rc = c->env->txn_checkpoint(c->env, 0, 0, 0)) != 0) {
		sts_cache_shut(c);
		return rc;
	}
	return 0;
}

/* Errors that moving the files aside would not cure. */
static int
sts_cache_local_error(int rc)
{
	return rc == EACCES || rc == EPERM || rc == ENOENT ||
	    rc == ENOTDIR || rc == EROFS || rc == ENOSPC || rc == EDQUOT ||
	    rc == ENOMEM || rc == ENAMETOOLONG || rc == EMFILE ||
	    rc == ENFILE || rc == EIO;
}

/* Removes the log files (the log belongs to the database moved aside). */
static void
sts_cache_drop_log(const char *dir)
{
	char		 logdir[STS_CACHE_PATH_MAX], path[STS_CACHE_PATH_MAX];
	DIR		*d;
	struct dirent	*de;

	if (sts_cache_path(dir, STS_CACHE_LOGDIR, logdir, sizeof(logdir)) ==
	    -1 || (d = opendir(logdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "log.", 4) != 0)
			continue;
		if (sts_cache_path(logdir, de->d_name, path,
		    sizeof(path)) == 0 && unlink(path) == -1)
			log_warn("sts cache: %s", path);
	}
	(void)closedir(d);
}

/* A name for the database moved aside: NAME.corrupt-TIME, or with -N
 * after it when that is taken; -1 when none fits. */
static int
sts_cache_aside_name(const char *from, char *to, size_t size)
{
	struct stat	st;
	long long	now = (long long)time(NULL);
	int		i;

	for (i = 0; i < 100; i++) {
		if (!(i == 0 ? bsnprintf(to, size, "%s.corrupt-%lld", from,
		    now) : bsnprintf(to, size, "%s.corrupt-%lld-%d", from, now,
		    i)))
			break;
		if (lstat(to, &st) == -1 && errno == ENOENT)
			return 0;
	}
	errno = EEXIST;
	return -1;
}

/* Moves the database aside and drops its log; -1 with errno. */
static int
sts_cache_move_aside(const char *dir, int rc)
{
	char	from[STS_CACHE_PATH_MAX], to[STS_CACHE_PATH_MAX];

	if (sts_cache_path(dir, STS_CACHE_FILE, from, sizeof(from)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (sts_cache_aside_name(from, to, sizeof(to)) == -1)
		return -1;
	if (rename(from, to) == -1 && errno != ENOENT)
		return -1;
	sts_cache_drop_log(dir);
	log_warnx("sts cache: %s cannot be read as a cache (%s): moved to "
	    "%s, starting with an empty cache", from, db_strerror(rc), to);
	return 0;
}

struct sts_cache *
sts_cache_open(const char *dir, char *err, size_t errlen)
{
	struct sts_cache	*c;
	int			 rc;

	c = xcalloc(1, sizeof(*c));
	c->val.flags = DB_DBT_REALLOC;
	if (strlcpy(c->dir, dir, sizeof(c->dir)) >= sizeof(c->dir)) {
		(void)bsnprintf(err, errlen, "%s: path too long", dir);
		free(c);
		return NULL;
	}
	rc = sts_cache_try(c);
	if (rc != 0 && !sts_cache_local_error(rc)) {
		if (sts_cache_move_aside(dir, rc) == -1)
			rc = errno;
		else
			rc = sts_cache_try(c);
	}
	if (rc != 0) {
		(void)bsnprintf(err, errlen, "%s/%s: %s", dir, STS_CACHE_FILE,
		    db_strerror(rc));
		free(c);
		return NULL;
	}
	return c;
}

void
sts_cache_close(struct sts_cache *c)
{
	if (c == NULL)
		return;
	if (c->env != NULL)
		(void)c->env->txn_checkpoint(c->env, 0, 0, 0);
	sts_cache_shut(c);
	free(c->val.data);
	free(c);
}

/* The key of a domain: lower case; -1 when it cannot be one. */
static int
sts_cache_key(const char *domain, char *buf, DBT *key)
{
	if (strlcpy(buf, domain, STS_DOMAIN_MAX + 1) > STS_DOMAIN_MAX ||
	    buf[0] == '\0')
		return -1;
	(void)str_lower(buf);
	memset(key, 0, sizeof(*key));
	key->data = buf;
	key->size = (u_int32_t)strlen(buf);
	return 0;
}

/* Decodes the record in c->val for the domain of key: 0 or -1 (logged). */
static int
sts_cache_decode(struct sts_cache *c, const DBT *key, struct sts_entry *e)
{
	char	why[STS_ERROR_MAX];

	if (sts_entry_decode(c->val.data, c->val.size, e, why,
	    sizeof(why)) == -1) {
		log_warnx("sts cache: unreadable entry for %.*s: %s",
		    (int)key->size, (const char *)key->data, why);
		return -1;
	}
	if (key->size != strlen(e->domain) ||
	    memcmp(key->data, e->domain, key->size) != 0) {
		log_warnx("sts cache: the entry under %.*s is for %s",
		    (int)key->size, (const char *)key->data, e->domain);
		sts_entry_free(e);
		return -1;
	}
	return 0;
}

int
sts_cache_get(struct sts_cache *c, const char *domain, struct sts_entry *e)
{
	char	buf[STS_DOMAIN_MAX + 1];
	DBT	key;
	int	rc;

	if (sts_cache_key(domain, buf, &key) == -1)
		return 0;
	rc = c->db->get(c->db, NULL, &key, &c->val, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("sts cache: get %s: %s", buf, db_strerror(rc));
		return -1;
	}
	return sts_cache_decode(c, &key, e) == 0 ? 1 : 0;
}

/* The record of e, checked to decode again: never store what a later
 * read would refuse.  0 or -1 (logged). */
static int
sts_cache_record(const struct sts_entry *e, uint8_t **rec, size_t *len)
{
	struct sts_entry	back;
	char			why[STS_ERROR_MAX];

	if (sts_entry_encode(e, rec, len) == -1) {
		log_warnx("sts cache: the entry for %s cannot be stored",
		    e->domain);
		return -1;
	}
	if (sts_entry_decode(*rec, *len, &back, why, sizeof(why)) == -1) {
		log_warnx("sts cache: the entry for %s would not read back: "
		    "%s", e->domain, why);
		free(*rec);
		return -1;
	}
	sts_entry_free(&back);
	return 0;
}

/* After a write: a checkpoint once enough log has been written since the
 * last, so that old log files can go (DB_LOG_AUTO_REMOVE). */
static void
sts_cache_checkpoint(struct sts_cache *c)
{
	int	rc;

	if ((rc = c->env->txn_checkpoint(c->env, STS_CACHE_CKP_KB, 0, 0)) !=
	    0)
		log_warnx("sts cache: checkpoint: %s", db_strerror(rc));
}

int
sts_cache_put(struct sts_cache *c, const struct sts_entry *e)
{
	char	 buf[STS_DOMAIN_MAX + 1];
	uint8_t	*rec;
	size_t	 len;
	DBT	 key, val;
	int	 rc;

	if (sts_cache_key(e->domain, buf, &key) == -1 ||
	    strcmp(buf, e->domain) != 0) {
		log_warnx("sts cache: not a lower-case domain: \"%s\"",
		    e->domain);
		return -1;
	}
	if (sts_cache_record(e, &rec, &len) == -1)
		return -1;
	memset(&val, 0, sizeof(val));
	val.data = rec;
	val.size = (u_int32_t)len;
	rc = sts_cache_txn(c, &key, &val);
	free(rec);
	if (rc != 0) {
		log_warnx("sts cache: put %s: %s", buf, db_strerror(rc));
		return -1;
	}
	sts_cache_checkpoint(c);
	return 0;
}

int
sts_cache_del(struct sts_cache *c, const char *domain)
{
	char	buf[STS_DOMAIN_MAX + 1];
	DBT	key;
	int	rc;

	if (sts_cache_key(domain, buf, &key) == -1)
		return 0;
	rc = sts_cache_txn(c, &key, NULL);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("sts cache: del %s: %s", buf, db_strerror(rc));
		return -1;
	}
	sts_cache_checkpoint(c);
	return 1;
}

int
sts_cache_each(struct sts_cache *c,
    int (*cb)(const struct sts_entry *e, void *arg), void *arg)
{
	DBC			*cur;
	DBT			 key;
	struct sts_entry	 e;
	int			 rc, n = 0, stop = 0;

	if ((rc = c->db->cursor(c->db, NULL, &cur, 0)) != 0) {
		log_warnx("sts cache: cursor: %s", db_strerror(rc));
		return -1;
	}
	memset(&key, 0, sizeof(key));
	while (!stop && (rc = cur->get(cur, &key, &c->val, DB_NEXT)) == 0) {
		if (sts_cache_decode(c, &key, &e) == -1)
			continue;
		n++;
		stop = cb(&e, arg) != 0;
		sts_entry_free(&e);
	}
	(void)cur->close(cur);
	if (!stop && rc != DB_NOTFOUND) {
		log_warnx("sts cache: reading: %s", db_strerror(rc));
		return -1;
	}
	return n;
}
