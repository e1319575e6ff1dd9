/*
 * queue_fs.c - the spool on disk: the one table of directories, owners and
 * modes, its creation and check before the fork, the file operations of the
 * commit sequence, and startup recovery.
 *
 * Everything after queue_fs_prepare works relative to a descriptor of the
 * spool directory, so it is the same chrooted or not.  Nothing here deletes
 * a file that might be an acknowledged message: whatever cannot be read is
 * moved to corrupt/ and logged.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"

const struct spool_entry spool_table[] = {
	{ ".",		SPOOL_ROOT,	0755 },
	{ "empty",	SPOOL_ROOT,	0555 },
	{ "incoming",	SPOOL_QUEUE,	0700 },
	{ "queue",	SPOOL_QUEUE,	0700 },
	{ "queue/XX",	SPOOL_QUEUE,	0700 },
	{ "corrupt",	SPOOL_QUEUE,	0700 },
	{ "hold",	SPOOL_QUEUE,	0700 },
	{ "delivery",	SPOOL_DELIVERY,	0700 },
	{ "maildrop",	SPOOL_DROP,	01730 },
	{ NULL,		SPOOL_ROOT,	0 },
};

/* Who must own an entry, and whether its group is checked too. */
struct queue_fs_owner {
	uid_t	uid;
	gid_t	gid;
	int	checkgid;
};

#define QUEUE_FS_MAXCORRUPT	100	/* corrupt/NAME.1 .. NAME.99 */
#define QUEUE_FS_ODIR	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* ---- the table: create and check ---- */

static void
queue_fs_uname(uid_t uid, char *dst, size_t size)
{
	struct passwd	*pw;

	if ((pw = getpwuid(uid)) != NULL &&
	    strlcpy(dst, pw->pw_name, size) < size)
		return;
	(void)bsnprintf(dst, size, "%lu", (unsigned long)uid);
}

static void
queue_fs_gname(gid_t gid, char *dst, size_t size)
{
	struct group	*gr;

	if ((gr = getgrgid(gid)) != NULL &&
	    strlcpy(dst, gr->gr_name, size) < size)
		return;
	(void)bsnprintf(dst, size, "%lu", (unsigned long)gid);
}

static int
queue_fs_check(int fd, const char *shown, const struct queue_fs_owner *o,
    mode_t mode, char *err, size_t errlen)
{
	struct stat	st;
	char		is[64], want[64];

	if (fstat(fd, &st) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return -1;
	}
	if (st.st_uid != o->uid) {
		queue_fs_uname(st.st_uid, is, sizeof(is));
		queue_fs_uname(o->uid, want, sizeof(want));
		(void)bsnprintf(err, errlen, "%s: owner is %s, expected %s",
		    shown, is, want);
		return -1;
	}
	if (o->checkgid && st.st_gid != o->gid) {
		queue_fs_gname(st.st_gid, is, sizeof(is));
		queue_fs_gname(o->gid, want, sizeof(want));
		(void)bsnprintf(err, errlen, "%s: group is %s, expected %s",
		    shown, is, want);
		return -1;
	}
	if ((st.st_mode & 07777) != mode) {
		(void)bsnprintf(err, errlen, "%s: mode is %04o, expected %04o",
		    shown, (unsigned)(st.st_mode & 07777), (unsigned)mode);
		return -1;
	}
	return 0;
}

/* Gives a directory just created its owner and mode (umask aside). */
static int
queue_fs_own(int fd, const char *shown, const struct queue_fs_owner *o,
    mode_t mode, char *err, size_t errlen)
{
	if (geteuid() == 0 && fchown(fd, o->uid, o->gid) == -1) {
		(void)bsnprintf(err, errlen, "%s: chown: %s", shown,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1) {
		(void)bsnprintf(err, errlen, "%s: chmod: %s", shown,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Creates dirfd/name if missing, then checks it; returns an open descriptor
 * of the directory (never through a symbolic link), or -1 with err set.
 */
static int
queue_fs_ensure(int dirfd, const char *name, const char *shown,
    const struct queue_fs_owner *o, mode_t mode, char *err, size_t errlen)
{
	int	fd, created = 0;

	if (mkdirat(dirfd, name, mode) == 0)
		created = 1;
	else if (errno != EEXIST) {
		(void)bsnprintf(err, errlen, "%s: mkdir: %s", shown,
		    strerror(errno));
		return -1;
	}
	if ((fd = openat(dirfd, name, QUEUE_FS_ODIR)) == -1) {
		(void)bsnprintf(err, errlen, "%s: %s", shown,
		    errno == ELOOP || errno == ENOTDIR ? "not a directory" :
		    strerror(errno));
		return -1;
	}
	if ((created && queue_fs_own(fd, shown, o, mode, err, errlen) == -1) ||
	    queue_fs_check(fd, shown, o, mode, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
queue_fs_prepare_hashed(int queuefd, const char *spool,
    const struct queue_fs_owner *o, mode_t mode, char *err, size_t errlen)
{
	char		name[8], shown[1024];
	unsigned	h;
	int		fd;

	for (h = 0; h < QUEUE_ID_NHASH; h++) {
		if (!bsnprintf(name, sizeof(name), "%02X", h) ||
		    !bsnprintf(shown, sizeof(shown), "%s/queue/%s", spool,
		    name)) {
			(void)bsnprintf(err, errlen, "%s: path too long",
			    spool);
			return -1;
		}
		if ((fd = queue_fs_ensure(queuefd, name, shown, o, mode, err,
		    errlen)) == -1)
			return -1;
		close(fd);
	}
	return 0;
}

/* The owners of the four kinds of entry, in enum spool_owner's order. */
struct queue_fs_owners {
	struct queue_fs_owner	o[4];
	int			privileged;
};

static int
queue_fs_prepare_entries(int spoolfd, const char *spool,
    const struct queue_fs_owners *ow, char *err, size_t errlen)
{
	const struct spool_entry	*e;
	const struct queue_fs_owner	*o;
	char				 shown[1024];
	mode_t				 mode;
	int				 fd, queuefd = -1, rc = 0;

	for (e = spool_table; e->path != NULL && rc == 0; e++) {
		o = &ow->o[e->owner];
		mode = e->owner == SPOOL_DROP && !ow->privileged ?
		    SPOOL_DROP_MODE_UNPRIV : e->mode;
		if (strcmp(e->path, ".") == 0)
			continue;
		if (strcmp(e->path, "queue/XX") == 0) {
			rc = queue_fs_prepare_hashed(queuefd, spool, o, e->mode,
			    err, errlen);
			continue;
		}
		if (!bsnprintf(shown, sizeof(shown), "%s/%s", spool,
		    e->path)) {
			(void)bsnprintf(err, errlen, "%s: path too long",
			    spool);
			rc = -1;
		} else if ((fd = queue_fs_ensure(spoolfd, e->path, shown, o,
		    mode, err, errlen)) == -1)
			rc = -1;
		else if (strcmp(e->path, "queue") == 0)
			queuefd = fd;
		else
			close(fd);
	}
	if (queuefd != -1)
		close(queuefd);
	return rc;
}

static void
queue_fs_owner_set(struct queue_fs_owner *o, const struct sm_user *u,
    uid_t uid, gid_t gid)
{
	o->uid = u != NULL ? uid : geteuid();
	o->gid = u != NULL ? gid : getegid();
	o->checkgid = u != NULL;
}

int
queue_fs_prepare(const char *spool, const struct sm_user *qu,
    const struct sm_user *du, gid_t dropgid, char *err, size_t errlen)
{
	struct queue_fs_owners	 ow;
	struct queue_fs_owner	*root = &ow.o[SPOOL_ROOT];
	int			 fd, rc;

	ow.privileged = qu != NULL;
	queue_fs_owner_set(root, qu, 0, 0);
	queue_fs_owner_set(&ow.o[SPOOL_QUEUE], qu, qu != NULL ? qu->uid : 0,
	    qu != NULL ? qu->gid : 0);
	queue_fs_owner_set(&ow.o[SPOOL_DELIVERY], du, du != NULL ? du->uid :
	    0, du != NULL ? du->gid : 0);
	queue_fs_owner_set(&ow.o[SPOOL_DROP], qu, qu != NULL ? qu->uid : 0,
	    dropgid);
	if ((fd = queue_fs_ensure(AT_FDCWD, spool, spool, root,
	    spool_table[0].mode, err, errlen)) == -1) {
		/* The spool itself may be reached through a symbolic link. */
		fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1)
			return -1;
		if (queue_fs_check(fd, spool, root, spool_table[0].mode, err,
		    errlen) == -1) {
			close(fd);
			return -1;
		}
	}
	rc = queue_fs_prepare_entries(fd, spool, &ow, err, errlen);
	close(fd);
	return rc;
}

void
queue_fs_print_table(const char *queue_user, const char *delivery_user,
    const char *drop_group)
{
	const struct spool_entry	*e;

	for (e = spool_table; e->path != NULL; e++) {
		printf("%s %s %04o", e->path,
		    e->owner == SPOOL_ROOT ? "root" :
		    e->owner == SPOOL_DELIVERY ? delivery_user : queue_user,
		    (unsigned)e->mode);
		if (e->owner == SPOOL_DROP)
			printf(" %s", drop_group);
		printf("\n");
	}
}

/* ---- files of a message ---- */

void
queue_fs_path(char path[QUEUE_FS_PATHSIZE], enum queue_fs_where where,
    const char *id, const char *ext)
{
	int	ok = 0;

	switch (where) {
	case QFS_INCOMING:
		ok = bsnprintf(path, QUEUE_FS_PATHSIZE, "incoming/%s.%s", id,
		    ext);
		break;
	case QFS_QUEUE:
		ok = bsnprintf(path, QUEUE_FS_PATHSIZE, "queue/%02X/%s.%s",
		    queue_id_folder(id), id, ext);
		break;
	case QFS_CORRUPT:
		ok = bsnprintf(path, QUEUE_FS_PATHSIZE, "corrupt/%s.%s", id,
		    ext);
		break;
	case QFS_HOLD:
		ok = bsnprintf(path, QUEUE_FS_PATHSIZE, "hold/%s.%s", id,
		    ext);
		break;
	}
	if (!ok)
		fatalx("queue_fs_path: path for %s does not fit", id);
}

/* 1 if a committed file of id exists already (an ID of an earlier run). */
static int
queue_fs_id_taken(int spoolfd, const char *id)
{
	char		path[QUEUE_FS_PATHSIZE];
	struct stat	st;

	queue_fs_path(path, QFS_QUEUE, id, "env");
	if (fstatat(spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	queue_fs_path(path, QFS_QUEUE, id, "msg");
	return fstatat(spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
queue_fs_create(int spoolfd, char id[])
{
	char	path[QUEUE_FS_PATHSIZE];
	int	fd, tries;

	for (tries = 0; tries < 100; tries++) {
		queue_id_new(id);
		if (queue_fs_id_taken(spoolfd, id))
			continue;
		queue_fs_path(path, QFS_INCOMING, id, "msg");
		fd = openat(spoolfd, path, O_CREAT | O_EXCL | O_RDWR |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

int
queue_fs_rename(int spoolfd, const char *from, const char *to)
{
	if (renameat2(spoolfd, from, spoolfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A filesystem without RENAME_NOREPLACE: check, then rename. */
	if (faccessat(spoolfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(spoolfd, from, spoolfd, to);
}

int
queue_fs_unlink_message(int spoolfd, const char *id)
{
	static const struct { enum queue_fs_where where; const char *ext; }
	    files[] = {
		{ QFS_QUEUE, "env" }, { QFS_INCOMING, "env" },
		{ QFS_QUEUE, "msg" }, { QFS_INCOMING, "msg" },
	};
	char	path[QUEUE_FS_PATHSIZE];
	size_t	i;
	int	saved = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		queue_fs_path(path, files[i].where, id, files[i].ext);
		if (unlinkat(spoolfd, path, 0) == -1 && errno != ENOENT &&
		    saved == 0)
			saved = errno;
	}
	if (saved != 0) {
		errno = saved;
		return -1;
	}
	return 0;
}

int
queue_fs_free_space(int spoolfd, uint64_t *avail)
{
	struct statvfs	sv;

	if (fstatvfs(spoolfd, &sv) == -1)
		return -1;
	*avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

/* ---- startup recovery ---- */

const char *
queue_fs_shown(const char *name, char *dst, size_t size)
{
	size_t	i;

	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		dst[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ?
		    '?' : name[i];
	dst[i] = '\0';
	return dst;
}

static int
queue_fs_namecmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

void
queue_fs_names_free(struct queue_fs_names *nl)
{
	size_t	i;

	for (i = 0; i < nl->n; i++)
		free(nl->v[i]);
	free(nl->v);
	nl->v = NULL;
	nl->n = 0;
}

int
queue_fs_names_read(int spoolfd, const char *dir, struct queue_fs_names *nl)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	nl->v = NULL;
	nl->n = 0;
	fd = openat(spoolfd, dir, QUEUE_FS_ODIR);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("cannot read %s", dir);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		nl->v = xreallocarray(nl->v, nl->n + 1, sizeof(*nl->v));
		nl->v[nl->n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nl->n > 1)
		qsort(nl->v, nl->n, sizeof(*nl->v), queue_fs_namecmp);
	return 0;
}

int
queue_fs_move_corrupt(int spoolfd, const char *dir, const char *name)
{
	char	from[1024], to[1024];
	int	n;

	if (!bsnprintf(from, sizeof(from), "%s/%s", dir, name)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (n = 0; n < QUEUE_FS_MAXCORRUPT; n++) {
		if (!(n == 0 ? bsnprintf(to, sizeof(to), "corrupt/%s", name) :
		    bsnprintf(to, sizeof(to), "corrupt/%s.%d", name, n))) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (queue_fs_rename(spoolfd, from, to) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* Moves dir/name to corrupt/ (queue_fs_move_corrupt), counted. */
static int
queue_fs_to_corrupt(int spoolfd, const char *dir, const char *name,
    struct queue_fs_recovery *rec)
{
	char	shown[256];

	if (queue_fs_move_corrupt(spoolfd, dir, name) == 0) {
		rec->corrupt++;
		return 0;
	}
	log_warn("recovery: cannot move %s/%s to corrupt/", dir,
	    queue_fs_shown(name, shown, sizeof(shown)));
	return -1;
}

void
queue_fs_recover_incoming(int spoolfd, struct queue_fs_recovery *rec)
{
	struct queue_fs_names	nl;
	char			path[1024], shown[256];
	size_t			i;

	if (queue_fs_names_read(spoolfd, "incoming", &nl) == -1)
		return;
	for (i = 0; i < nl.n; i++) {
		queue_fs_shown(nl.v[i], shown, sizeof(shown));
		if (!bsnprintf(path, sizeof(path), "incoming/%s", nl.v[i]))
			continue;
		if (unlinkat(spoolfd, path, 0) == 0) {
			log_info("recovery: removed unfinished incoming/%s",
			    shown);
			rec->removed++;
		} else if (queue_fs_to_corrupt(spoolfd, "incoming", nl.v[i],
		    rec) == 0)
			log_warnx("recovery: incoming/%s moved to corrupt/: "
			    "not a removable file", shown);
	}
	queue_fs_names_free(&nl);
}

/* Reads a whole envelope file; -1 with why set if it is not one. */
static char *
queue_fs_read_env(int spoolfd, const char *path, size_t *len, char *why,
    size_t whylen)
{
	struct stat	 st;
	char		*text = NULL;
	ssize_t		 r;
	int		 fd;

	fd = openat(spoolfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1) {
		(void)bsnprintf(why, whylen, "cannot open: %s",
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > ENVELOPE_MAX_FILE) {
		(void)bsnprintf(why, whylen, "not a regular file of sane size");
		close(fd);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	*len = 0;
	while (*len < (size_t)st.st_size) {
		r = read(fd, text + *len, (size_t)st.st_size - *len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	close(fd);
	if (*len != (size_t)st.st_size) {
		(void)bsnprintf(why, whylen, "short read");
		free(text);
		return NULL;
	}
	return text;
}

/*
 * The content file at path against its envelope: a regular file of the
 * size and the digest the envelope records.  A commit that was cut short
 * by a crash, and a file damaged after its commit, both fail here.
 */
static int
queue_fs_check_content(int spoolfd, const char *path,
    const struct envelope *env, char *why, size_t whylen)
{
	char		 dg[DIGEST_SIZE], ebuf[128];
	struct stat	 st;
	int		 fd, rc;

	fd = openat(spoolfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		(void)bsnprintf(why, whylen, "content file missing");
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size != env->size) {
		(void)bsnprintf(why, whylen, "content has %lld octets, "
		    "envelope says %llu", (long long)st.st_size,
		    (unsigned long long)env->size);
		close(fd);
		return -1;
	}
	rc = digest_file(fd, dg);
	if (rc == -1)
		(void)bsnprintf(why, whylen, "reading the content: %s",
		    strerror_r(errno, ebuf, sizeof(ebuf)));
	else if (strcmp(dg, env->digest) != 0) {
		(void)bsnprintf(why, whylen, "content digest %s, envelope "
		    "says %s", dg, env->digest);
		rc = -1;
	}
	close(fd);
	return rc;
}

/* The envelope of id in dir, read and matched with its content file. */
static int
queue_fs_load(int spoolfd, const char *dir, const char *id,
    struct envelope *env, char *why, size_t whylen)
{
	char		 path[1024], *text;
	size_t		 len;
	int		 rc;

	if (!bsnprintf(path, sizeof(path), "%s/%s.env", dir, id))
		return -1;
	if ((text = queue_fs_read_env(spoolfd, path, &len, why,
	    whylen)) == NULL)
		return -1;
	rc = envelope_parse(text, len, env, why, whylen);
	free(text);
	if (rc == -1)
		return -1;
	if (strcmp(env->id, id) != 0) {
		(void)bsnprintf(why, whylen, "envelope names %s", env->id);
		goto bad;
	}
	if (!bsnprintf(path, sizeof(path), "%s/%s.msg", dir, id) ||
	    queue_fs_check_content(spoolfd, path, env, why, whylen) == -1)
		goto bad;
	return 0;
bad:
	envelope_free(env);
	return -1;
}

/* 1 if dir/name exists (whatever it is). */
static int
queue_fs_exists(int spoolfd, const char *dir, const char *name)
{
	char		path[1024];
	struct stat	st;

	return bsnprintf(path, sizeof(path), "%s/%s", dir, name) &&
	    fstatat(spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
queue_fs_recover_env(int spoolfd, const char *dir, const char *id,
    queue_fs_found_cb found, void *arg, struct queue_fs_recovery *rec)
{
	struct envelope	env;
	char		why[512], name[QUEUE_ID_SIZE + 4];

	if (queue_fs_load(spoolfd, dir, id, &env, why, sizeof(why)) == 0) {
		rec->messages++;
		if (found != NULL)
			found(&env, arg);
		envelope_free(&env);
		return;
	}
	(void)bsnprintf(name, sizeof(name), "%s.env", id);
	if (queue_fs_to_corrupt(spoolfd, dir, name, rec) == -1)
		return;
	(void)bsnprintf(name, sizeof(name), "%s.msg", id);
	if (queue_fs_exists(spoolfd, dir, name))
		(void)queue_fs_to_corrupt(spoolfd, dir, name, rec);
	log_warnx("%s: moved to corrupt/: %s", id, why);
}

/* Content without envelope: never acknowledged, so it goes. */
static void
queue_fs_recover_msg(int spoolfd, const char *dir, const char *id,
    struct queue_fs_recovery *rec)
{
	char		path[1024], name[QUEUE_ID_SIZE + 4];
	struct stat	st;

	(void)bsnprintf(name, sizeof(name), "%s.env", id);
	if (queue_fs_exists(spoolfd, dir, name))
		return;		/* part of a message kept above */
	if (!bsnprintf(path, sizeof(path), "%s/%s.msg", dir, id) ||
	    fstatat(spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;		/* moved to corrupt/ with its envelope */
	(void)bsnprintf(name, sizeof(name), "%s.msg", id);
	if (S_ISREG(st.st_mode) && unlinkat(spoolfd, path, 0) == 0) {
		log_info("%s: recovery: removed content without envelope "
		    "(never acknowledged)", id);
		rec->removed++;
	} else if (queue_fs_to_corrupt(spoolfd, dir, name, rec) == 0)
		log_warnx("%s: %s moved to corrupt/: not a removable file", id,
		    path);
}

/*
 * Splits a name of queue/XX into id and kind: 'e' for ID.env, 'm' for
 * ID.msg, 'E' and 'M' for those in another folder than their ID's, 0 for
 * any other name.
 */
static int
queue_fs_classify(const char *name, unsigned hash, char id[QUEUE_ID_SIZE])
{
	int	kind;

	if (strlen(name) != QUEUE_ID_LEN + 4 || name[QUEUE_ID_LEN] != '.')
		return 0;
	if (strcmp(name + QUEUE_ID_LEN, ".env") == 0)
		kind = 'e';
	else if (strcmp(name + QUEUE_ID_LEN, ".msg") == 0)
		kind = 'm';
	else
		return 0;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	if (!queue_id_valid(id))
		return 0;
	if (queue_id_folder(id) != hash)
		kind = kind == 'e' ? 'E' : 'M';
	return kind;
}

/*
 * dir/ID.ext linked as todir/ID.ext: 0, or 1 when the target is that
 * file already (a move cut short).  0 also when the source is not there
 * (ext "msg": the envelope's check will say).
 */
static int
queue_fs_link(int spoolfd, const char *dir, const char *todir,
    const char *id, const char *ext)
{
	char		from[QUEUE_FS_PATHSIZE], to[QUEUE_FS_PATHSIZE];
	struct stat	a, b;

	if (!bsnprintf(from, sizeof(from), "%s/%s.%s", dir, id, ext) ||
	    !bsnprintf(to, sizeof(to), "%s/%s.%s", todir, id, ext)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (linkat(spoolfd, from, spoolfd, to, 0) == 0)
		return 0;
	if (errno == ENOENT && strcmp(ext, "msg") == 0 &&
	    fstatat(spoolfd, from, &a, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	if (errno == EEXIST &&
	    fstatat(spoolfd, from, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(spoolfd, to, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return 1;
	return -1;
}

/* ID.msg in another folder than its ID's, whose ID.env is in its own
 * folder already: a second link a move left behind (the move's removal
 * cut short); 1 if it was one and is removed. */
static int
queue_fs_recover_leftover(int spoolfd, const char *dir, const char *id)
{
	char	todir[16], name[QUEUE_ID_SIZE + 4], path[QUEUE_FS_PATHSIZE];

	(void)bsnprintf(todir, sizeof(todir), "queue/%02X",
	    queue_id_folder(id));
	(void)bsnprintf(name, sizeof(name), "%s.env", id);
	if (!queue_fs_exists(spoolfd, todir, name))
		return 0;
	(void)bsnprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	if (unlinkat(spoolfd, path, 0) == -1)
		return 0;
	log_info("%s: recovery: removed %s, left behind when the message "
	    "moved to %s", id, path, todir);
	return 1;
}

/*
 * ID.env in another folder than queue_id_folder(ID): a spool of a version
 * that placed messages by a hash of the ID.  The message moves to its
 * folder: both files are linked there and the folder is fsync'ed before
 * they are removed here, so a crash at any step leaves a whole copy
 * (recovery then finishes the move: a link that is there already is
 * the same file, content alone in the new folder is removed as never
 * acknowledged while the old folder still holds the message).  Folders
 * are recovered in increasing order: a message moved into one already
 * recovered is checked now, into a later one when its turn comes (and
 * one whose envelope was there already was found at its folder's turn).
 */
static void
queue_fs_recover_move(int spoolfd, const char *dir, unsigned hash,
    const char *id, queue_fs_found_cb found, void *arg,
    struct queue_fs_recovery *rec)
{
	char		todir[16], path[QUEUE_FS_PATHSIZE];
	unsigned	to = queue_id_folder(id);
	int		fd, rc, had = 0;

	(void)bsnprintf(todir, sizeof(todir), "queue/%02X", to);
	rc = queue_fs_link(spoolfd, dir, todir, id, "msg");
	if (rc != -1) {
		rc = queue_fs_link(spoolfd, dir, todir, id, "env");
		had = rc == 1;
	}
	if (rc != -1) {
		if ((fd = queue_fs_open_folder(spoolfd, to)) == -1)
			rc = -1;
		else {
			rc = fsync(fd);
			close(fd);
		}
	}
	if (rc == -1) {
		log_warn("%s: recovery: cannot move it from %s to %s, its "
		    "folder; left in %s, not queued until a start that can",
		    id, dir, todir, dir);
		return;
	}
	(void)bsnprintf(path, sizeof(path), "%s/%s.env", dir, id);
	(void)unlinkat(spoolfd, path, 0);
	(void)bsnprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	(void)unlinkat(spoolfd, path, 0);
	if ((fd = queue_fs_open_folder(spoolfd, hash)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	log_info("%s: recovery: moved from %s to %s, the folder of its ID",
	    id, dir, todir);
	/* Its envelope was there at its folder's turn: found then, or
	 * to be found when it comes. */
	if (to < hash && !had)
		queue_fs_recover_env(spoolfd, todir, id, found, arg, rec);
}

/* ID.env.new of this folder: an envelope rewrite that never reached its
 * rename (the commit rule); ID.env is still the valid one.  1 if name
 * was one and is handled. */
static int
queue_fs_recover_new(int spoolfd, const char *dir, uint64_t bound,
    const char *name)
{
	char	id[QUEUE_ID_SIZE], path[1024];

	if (strlen(name) != QUEUE_ID_LEN + 8 ||
	    strcmp(name + QUEUE_ID_LEN, ".env.new") != 0)
		return 0;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	if (!queue_id_valid(id))
		return 0;
	if (queue_id_value(id) > bound)
		return 1;	/* this run's rewrite on its way */
	if (bsnprintf(path, sizeof(path), "%s/%s", dir, name) &&
	    unlinkat(spoolfd, path, 0) == 0)
		log_info("%s: recovery: removed an unfinished envelope "
		    "rewrite", id);
	else
		log_warn("%s: recovery: cannot remove %s", id, path);
	return 1;
}

void
queue_fs_recover_folder(int spoolfd, unsigned hash, uint64_t bound,
    queue_fs_found_cb found, void *arg, struct queue_fs_recovery *rec)
{
	struct queue_fs_names	nl;
	char			dir[16], id[QUEUE_ID_SIZE], shown[256];
	size_t			i;
	int			kind;

	(void)bsnprintf(dir, sizeof(dir), "queue/%02X", hash);
	if (queue_fs_names_read(spoolfd, dir, &nl) == -1)
		return;
	/* Sorted: ID.env comes before ID.msg. */
	for (i = 0; i < nl.n; i++) {
		kind = queue_fs_classify(nl.v[i], hash, id);
		/* Files of this run's messages are not recovery's. */
		if (kind != 0 && queue_id_value(id) > bound)
			continue;
		switch (kind) {
		case 'e':
			queue_fs_recover_env(spoolfd, dir, id, found, arg, rec);
			break;
		case 'E':
			queue_fs_recover_move(spoolfd, dir, hash, id, found,
			    arg, rec);
			break;
		case 'M':
			if (queue_fs_recover_leftover(spoolfd, dir, id))
				break;
			/* FALLTHROUGH */
		case 'm':
			queue_fs_recover_msg(spoolfd, dir, id, rec);
			break;
		default:
			if (queue_fs_recover_new(spoolfd, dir, bound, nl.v[i]))
				break;
			queue_fs_shown(nl.v[i], shown, sizeof(shown));
			if (queue_fs_to_corrupt(spoolfd, dir, nl.v[i],
			    rec) == 0)
				log_warnx("recovery: %s/%s moved to corrupt/: "
				    "not a spool file name", dir, shown);
			break;
		}
	}
	queue_fs_names_free(&nl);
}

uint64_t
queue_fs_recover_bound(int spoolfd)
{
	struct dirent	*de;
	DIR		*d;
	char		 id[QUEUE_ID_SIZE];
	unsigned	 h;
	int		 fd;

	for (h = 0; h < QUEUE_ID_NHASH; h++) {
		fd = queue_fs_open_folder(spoolfd, h);
		if (fd == -1 || (d = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			continue;	/* the folder's scan says why */
		}
		while ((de = readdir(d)) != NULL) {
			if (strlen(de->d_name) <= QUEUE_ID_LEN ||
			    de->d_name[QUEUE_ID_LEN] != '.')
				continue;
			memcpy(id, de->d_name, QUEUE_ID_LEN);
			id[QUEUE_ID_LEN] = '\0';
			queue_id_seen(id);	/* ignores a non-ID */
		}
		closedir(d);
	}
	return queue_id_floor();
}

void
queue_fs_recover_summary(const struct queue_fs_recovery *rec)
{
	log_info("recovery: %zu messages in queue, %zu moved to corrupt/, "
	    "%zu unfinished removed", rec->messages, rec->corrupt,
	    rec->removed);
}

/* ---- the scheduler's changes to committed messages ---- */

int
queue_fs_read_envelope(int spoolfd, const char *id, struct envelope *env,
    char *why, size_t whylen)
{
	char	 path[QUEUE_FS_PATHSIZE], *text;
	size_t	 len;
	int	 rc;

	queue_fs_path(path, QFS_QUEUE, id, "env");
	if ((text = queue_fs_read_env(spoolfd, path, &len, why,
	    whylen)) == NULL)
		return -1;
	rc = envelope_parse(text, len, env, why, whylen);
	free(text);
	return rc;
}

int
queue_fs_open_folder(int spoolfd, unsigned hash)
{
	char	dir[16];

	(void)bsnprintf(dir, sizeof(dir), "queue/%02X", hash);
	return openat(spoolfd, dir, QUEUE_FS_ODIR);
}

/* fsync of queue/XX of id. */
static int
queue_fs_sync_folder(int spoolfd, const char *id)
{
	int	fd, rc;

	if ((fd = queue_fs_open_folder(spoolfd, queue_id_folder(id))) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

#define QFS_EXT4_MAGIC	0xEF53		/* ext2, ext3 and ext4 */
#define QFS_XFS_MAGIC	0x58465342

/* The kernel's name of the block device dev (DEVNAME= of its uevent). */
static int
queue_fs_devname(dev_t dev, char *name, size_t len)
{
	char	 path[64], line[256];
	FILE	*f;
	int	 rc = -1;

	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent",
	    major(dev), minor(dev));
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (rc == -1 && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "DEVNAME=", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (strlcpy(name, line + 8, len) < len && name[0] != '\0')
				rc = 0;
		}
	fclose(f);
	return rc;
}

/*
 * 1 if the ext4 on device dev has a journal, 0 if not, -1 if that cannot
 * be told.  /sys/fs/ext4/DEV/journal_task is its journal thread's pid, or
 * "<none>"; where it is missing, /proc/fs/jbd2 lists the journals, as
 * "DEV-INODE" (in the file system) or "DEV" (a device of its own); a
 * systemd unit with ProcSubset=pid hides the latter.
 */
static int
queue_fs_jbd2(const char *dev)
{
	char		 path[192], line[64];
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	size_t		 n;
	int		 found = -1;

	(void)bsnprintf(path, sizeof(path), "/sys/fs/ext4/%s/journal_task",
	    dev);
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			found = strncmp(line, "<none>", 6) != 0;
		fclose(f);
		if (found != -1)
			return found;
	}
	if ((d = opendir("/proc/fs/jbd2")) == NULL)
		return -1;
	n = strlen(dev);
	found = 0;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, dev, n) == 0 &&
		    (de->d_name[n] == '\0' || de->d_name[n] == '-');
	closedir(d);
	return found;
}

int
queue_fs_journalled(int dirfd, char *what, size_t whatlen)
{
	struct statfs	 sf;
	struct stat	 st;
	char		 dev[128];
	int		 found;

	if (fstatfs(dirfd, &sf) == -1 || fstat(dirfd, &st) == -1) {
		(void)strlcpy(what, "unknown file system", whatlen);
		return 0;
	}
	if (sf.f_type == QFS_XFS_MAGIC) {
		(void)strlcpy(what, "XFS", whatlen);
		return 1;
	}
	if (sf.f_type != QFS_EXT4_MAGIC) {
		(void)bsnprintf(what, whatlen, "file system type 0x%lx",
		    (unsigned long)sf.f_type);
		return 0;
	}
	if (queue_fs_devname(st.st_dev, dev, sizeof(dev)) == -1) {
		(void)strlcpy(what, "ext4, journal unknown", whatlen);
		return 0;
	}
	found = queue_fs_jbd2(dev);
	(void)bsnprintf(what, whatlen, "ext4 on %s, %s", dev,
	    found == 1 ? "with a journal" : found == 0 ? "no journal" :
	    "journal unknown");
	return found == 1;
}

int
queue_fs_write_envelope(int spoolfd, const struct envelope *env, char *why,
    size_t whylen)
{
	struct buf	b;
	int		rc;

	if (envelope_check(env, why, whylen) == -1)
		return -1;
	buf_init(&b);
	envelope_serialize(env, &b);
	rc = queue_fs_write_envelope_text(spoolfd, env->id, b.data, b.len, why,
	    whylen);
	buf_free(&b);
	return rc;
}

int
queue_fs_write_envelope_text(int spoolfd, const char *id, const char *text,
    size_t len, char *why, size_t whylen)
{
	char		 tmp[QUEUE_FS_PATHSIZE], path[QUEUE_FS_PATHSIZE];
	char		 ebuf[128];
	int		 fd, rc = -1;

	queue_fs_path(tmp, QFS_QUEUE, id, "env.new");
	queue_fs_path(path, QFS_QUEUE, id, "env");
	fd = openat(spoolfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, text, len) == -1 ||
	    fdatasync(fd) == -1) {
		(void)bsnprintf(why, whylen, "%s: %s", tmp,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		(void)unlinkat(spoolfd, tmp, 0);
	} else if (renameat(spoolfd, tmp, spoolfd, path) == -1) {
		(void)bsnprintf(why, whylen, "rename %s: %s", tmp,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		(void)unlinkat(spoolfd, tmp, 0);
	} else if (queue_fs_sync_folder(spoolfd, id) == -1)
		(void)bsnprintf(why, whylen, "fsync of the folder of %s: %s",
		    path, strerror_r(errno, ebuf, sizeof(ebuf)));
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

int
queue_fs_remove_done(int spoolfd, const char *id, int durable)
{
	char	path[QUEUE_FS_PATHSIZE];
	int	saved;

	queue_fs_path(path, QFS_QUEUE, id, "env");
	if (unlinkat(spoolfd, path, 0) == -1 && errno != ENOENT)
		return -1;
	if (durable && queue_fs_sync_folder(spoolfd, id) == -1)
		return -1;
	queue_fs_path(path, QFS_QUEUE, id, "msg");
	if (unlinkat(spoolfd, path, 0) == -1 && errno != ENOENT) {
		saved = errno;
		errno = saved;
		return -1;
	}
	return 0;
}

int
queue_fs_hold(int spoolfd, const char *id)
{
	char	from[QUEUE_FS_PATHSIZE], to[QUEUE_FS_PATHSIZE];
	int	fd;

	/* Content first: an envelope without content in queue/ would go
	 * to corrupt/ at recovery, content without envelope is removed. */
	queue_fs_path(from, QFS_QUEUE, id, "msg");
	queue_fs_path(to, QFS_HOLD, id, "msg");
	if (queue_fs_rename(spoolfd, from, to) == -1 && errno != ENOENT)
		return -1;
	queue_fs_path(from, QFS_QUEUE, id, "env");
	queue_fs_path(to, QFS_HOLD, id, "env");
	if (queue_fs_rename(spoolfd, from, to) == -1)
		return -1;
	if ((fd = openat(spoolfd, "hold", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	(void)fsync(fd);
	close(fd);
	return queue_fs_sync_folder(spoolfd, id);
}

/* ---- delivery paused ---- */

int
queue_fs_paused(int spoolfd)
{
	struct stat	st;

	if (fstatat(spoolfd, QUEUE_FS_PAUSED, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	log_warn("%s: taken as paused", QUEUE_FS_PAUSED);
	return 1;
}

/* Writes text to queue/paused.new and renames it over queue/paused. */
static int
queue_fs_write_paused(int spoolfd, const char *text, char *why,
    size_t whylen)
{
	const char	*tmp = QUEUE_FS_PAUSED ".new";
	char		 ebuf[128];
	int		 fd, rc = -1;

	fd = openat(spoolfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, text, strlen(text)) == -1 ||
	    fdatasync(fd) == -1) {
		(void)bsnprintf(why, whylen, "%s: %s", tmp,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		(void)unlinkat(spoolfd, tmp, 0);
	} else if (renameat(spoolfd, tmp, spoolfd, QUEUE_FS_PAUSED) == -1) {
		(void)bsnprintf(why, whylen, "rename %s: %s", tmp,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		(void)unlinkat(spoolfd, tmp, 0);
	} else
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

int
queue_fs_set_paused(int spoolfd, int paused, const char *text, int *changed,
    char *why, size_t whylen)
{
	char	ebuf[128];
	int	fd, rc;

	if (changed != NULL)
		*changed = 0;
	if (paused)
		rc = queue_fs_write_paused(spoolfd, text, why, whylen);
	else if ((rc = unlinkat(spoolfd, QUEUE_FS_PAUSED, 0)) == -1 &&
	    errno != ENOENT)
		(void)bsnprintf(why, whylen, "remove %s: %s", QUEUE_FS_PAUSED,
		    strerror_r(errno, ebuf, sizeof(ebuf)));
	else
		rc = 0;
	if (rc == -1)
		return -1;
	if (changed != NULL)
		*changed = 1;
	if ((fd = openat(spoolfd, "queue", QUEUE_FS_ODIR)) == -1 ||
	    fsync(fd) == -1) {
		(void)bsnprintf(why, whylen, "fsync of queue/: %s",
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	return rc;
}
