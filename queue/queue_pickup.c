/*
 * queue_pickup.c - local submission: the files of maildrop/ taken into
 * the queue (queue_pickup.h, queue/INTERNALS "Local submission").
 *
 * One file at a time goes through: checks on its descriptor and head,
 * MSG_P_WHO to the parent, the copy into incoming/ID.msg behind a
 * Received header, the group commit, and only then the removal of the
 * maildrop file.  Whatever a file holds, the submitter is its owner.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/maildrop.h"
#include "queue/queue_commit.h"
#include "queue/queue_fs.h"
#include "queue/queue_pickup.h"
#include "queue/queue_sched.h"

#define PICKUP_COPY	(64 * 1024)	/* one read of the content */
#define PICKUP_SLICE	(256 * 1024)	/* copied per turn of the loop */
#define PICKUP_NAME_MAX	256

/* MSG_P_WHO_RESULT status (proto.h). */
enum { WHO_OK, WHO_NOUSER, WHO_SENDER_REFUSED, WHO_TEMPFAIL };

/* The one file being taken. */
struct pickup_file {
	char			 name[PICKUP_NAME_MAX];
	char			 shown[PICKUP_NAME_MAX];
	int			 fd;		/* the maildrop file, read-only */
	uid_t			 uid;
	struct maildrop_env	 md;
	uint32_t		 session;	/* of its MSG_P_WHO */
	char			 user[256];
	struct envelope		 env;		/* after the copy */
	int			 msgfd;		/* incoming/ID.msg */
	struct queue_job	*job;		/* with the worker */
	/* The copy under way (dg not NULL): a slice per turn of the
	 * event loop, so that a large file never holds up the sessions. */
	struct digest		*dg;
	struct maildrop_check	 chk;
	uint64_t		 left;
	off_t			 off;
	struct event_timer	*slice;
};

struct queue_pickup {
	struct config		*cfg;
	struct event_loop	*loop;
	int			 spoolfd;
	struct queue_commit	*commit;
	struct queue_sched	*sched;
	struct ipc_chan		*parent;
	int			 inofd;		/* -1: no inotify */
	struct event_timer	*timer;		/* the periodic scan */
	struct queue_fs_names	 names;		/* of the scan under way */
	size_t			 next;		/* the next of names */
	struct pickup_file	*cur;		/* NULL: none in progress */
	uint32_t		 session;
	int			 rescan;	/* a scan is due after this one */
	int			 stopping;
	char			*head;		/* MAILDROP_HEAD_MAX octets */
	char			 copy[PICKUP_COPY];
};

static void pickup_next(struct queue_pickup *pk);

/* ---- ending a file ---- */

static void
pickup_file_free(struct queue_pickup *pk)
{
	struct pickup_file	*f = pk->cur;

	if (f == NULL)
		return;
	if (f->dg != NULL) {		/* stopped within the copy */
		if (f->slice != NULL)
			event_timer_cancel(pk->loop, f->slice);
		digest_free(f->dg);
		(void)queue_fs_unlink_message(pk->spoolfd, f->env.id);
	}
	if (f->fd != -1)
		close(f->fd);
	if (f->msgfd != -1)
		close(f->msgfd);
	maildrop_env_free(&f->md);
	envelope_free(&f->env);
	free(f);
	pk->cur = NULL;
}

/* The file goes to corrupt/, with why in the log. */
static void
pickup_refuse_name(struct queue_pickup *pk, const char *name,
    const char *shown, const char *why)
{
	if (queue_fs_move_corrupt(pk->spoolfd, QUEUE_PICKUP_DIR, name) == 0)
		log_warnx("maildrop/%s: refused: %s; moved to corrupt/", shown,
		    why);
	else
		log_warn("maildrop/%s: refused: %s; cannot move it to "
		    "corrupt/", shown, why);
}

static void
pickup_refuse(struct queue_pickup *pk, const char *why)
{
	pickup_refuse_name(pk, pk->cur->name, pk->cur->shown, why);
	pickup_file_free(pk);
}

/* Left for the next scan. */
static void
pickup_later(struct queue_pickup *pk, const char *why)
{
	log_warnx("maildrop/%s: %s; left for a later try", pk->cur->shown,
	    why);
	pickup_file_free(pk);
}

/* ---- the checks before the parent is asked ---- */

/* Opens maildrop/NAME; -1 if it went (nothing to say) or was refused. */
static int
pickup_open(struct queue_pickup *pk, const char *name, const char *shown)
{
	char	path[PICKUP_NAME_MAX + 16], why[128];
	int	fd;

	if (!bsnprintf(path, sizeof(path), "%s/%s", QUEUE_PICKUP_DIR, name)) {
		pickup_refuse_name(pk, name, shown, "name too long");
		return -1;
	}
	fd = openat(pk->spoolfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (fd != -1 || errno == ENOENT)
		return fd;
	(void)bsnprintf(why, sizeof(why), "%s", errno == ELOOP ?
	    "symbolic link" : strerror(errno));
	pickup_refuse_name(pk, name, shown, why);
	return -1;
}

/* The descriptor's facts; NULL if fine, else why it is refused. */
static const char *
pickup_check_stat(const struct queue_pickup *pk, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_nlink != 1)
		return "hard link";
	if ((uint64_t)st->st_size > MAILDROP_HEAD_MAX +
	    pk->cfg->max_message_size)
		return "too large";
	return NULL;
}

/* Reads and parses the head; 0, or -1 with why. */
static int
pickup_head(struct queue_pickup *pk, struct pickup_file *f,
    const struct stat *st, char *why, size_t whylen)
{
	size_t	want, got = 0;
	ssize_t	n;

	want = (uint64_t)st->st_size < MAILDROP_HEAD_MAX ?
	    (size_t)st->st_size : MAILDROP_HEAD_MAX;
	while (got < want) {
		n = pread(f->fd, pk->head + got, want - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)bsnprintf(why, whylen, "read: %s", n == 0 ?
			    "file shrank" : strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	if (maildrop_parse(pk->head, got, &f->md, why, whylen) == -1)
		return -1;
	if (f->md.data_off + f->md.size != (uint64_t)st->st_size) {
		(void)bsnprintf(why, whylen, "the size line says %llu octets, "
		    "the file holds %llu", (unsigned long long)f->md.size,
		    (unsigned long long)((uint64_t)st->st_size -
		    f->md.data_off));
		return -1;
	}
	if (f->md.size > pk->cfg->max_message_size) {
		(void)bsnprintf(why, whylen, "too large");
		return -1;
	}
	if (f->md.nrcpts > pk->cfg->max_recipients) {
		(void)bsnprintf(why, whylen, "%zu recipients, max-recipients "
		    "is %u", f->md.nrcpts, pk->cfg->max_recipients);
		return -1;
	}
	return 0;
}

/* MSG_P_WHO: who is the owner, and may they use the sender? */
static void
pickup_ask(struct queue_pickup *pk, struct pickup_file *f)
{
	struct buf	b;

	f->session = ++pk->session;
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)f->uid);
	ipc_put_str(&b, f->md.sender == NULL ? "" : f->md.sender[0] == '\0' ?
	    "<>" : f->md.sender);
	ipc_send_buf(pk->parent, MSG_P_WHO, f->session, -1, &b);
	buf_free(&b);
}

/* A complete file: checked, then the parent is asked (pk->cur set). */
static void
pickup_take(struct queue_pickup *pk, const char *name, const char *shown)
{
	struct pickup_file	*f;
	struct stat		 st;
	const char		*bad;
	char			 why[256];
	int			 fd;

	if ((fd = pickup_open(pk, name, shown)) == -1)
		return;
	f = xcalloc(1, sizeof(*f));
	(void)strlcpy(f->name, name, sizeof(f->name));
	(void)strlcpy(f->shown, shown, sizeof(f->shown));
	f->fd = fd;
	f->msgfd = -1;
	envelope_init(&f->env);
	pk->cur = f;
	if (fstat(fd, &st) == -1) {
		(void)bsnprintf(why, sizeof(why), "fstat: %s",
		    strerror(errno));
		pickup_later(pk, why);
		return;
	}
	if ((bad = pickup_check_stat(pk, &st)) != NULL) {
		pickup_refuse(pk, bad);
		return;
	}
	f->uid = st.st_uid;	/* the submitter: never the content's word */
	if (pickup_head(pk, f, &st, why, sizeof(why)) == -1) {
		pickup_refuse(pk, why);
		return;
	}
	pickup_ask(pk, f);
}

/* tNAME: still being written, or abandoned long ago. */
static void
pickup_temp(struct queue_pickup *pk, const char *name, const char *shown)
{
	char		path[PICKUP_NAME_MAX + 16];
	struct stat	st;
	time_t		now = time(NULL);

	if (!bsnprintf(path, sizeof(path), "%s/%s", QUEUE_PICKUP_DIR, name) ||
	    fstatat(pk->spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_mtime > now - QUEUE_PICKUP_STALE)
		return;
	if (unlinkat(pk->spoolfd, path, 0) == 0)
		log_info("maildrop/%s: removed: unfinished for more than %d s",
		    shown, QUEUE_PICKUP_STALE);
	else
		pickup_refuse_name(pk, name, shown, "an old unfinished file "
		    "that cannot be removed");
}

static void
pickup_one(struct queue_pickup *pk, const char *name)
{
	char	shown[PICKUP_NAME_MAX];

	queue_fs_shown(name, shown, sizeof(shown));
	if (name[0] == 't')
		pickup_temp(pk, name, shown);
	else if (name[0] == 'm')
		pickup_take(pk, name, shown);
	else
		pickup_refuse_name(pk, name, shown, "a name not starting "
		    "with m or t");
}

/* ---- the parent's answer, the copy, the commit ---- */

static void
pickup_received(struct queue_pickup *pk, const struct pickup_file *f,
    struct buf *out)
{
	char	date[64];

	dsn_date((uint64_t)time(NULL), date, sizeof(date));
	buf_printf(out, "Received: from %s (uid %lu)\r\n\tby %s (strictmail) "
	    "with local id %s;\r\n\t%s\r\n", f->user, (unsigned long)f->uid,
	    pk->cfg->hostname, f->env.id, date);
}

/* Octets into incoming/ID.msg and the digest; -1 with why. */
static int
pickup_put(struct pickup_file *f, const char *p, size_t n, char *why,
    size_t whylen)
{
	if (write_all(f->msgfd, p, n) == -1) {
		(void)bsnprintf(why, whylen, "write: %s", strerror(errno));
		return -1;
	}
	digest_update(f->dg, p, n);
	f->env.size += n;
	return 0;
}

/*
 * One slice of the content from the maildrop file, checked as it is
 * copied.  1 if it is refused (why), -1 on a write error (why), 0 when
 * this slice is in (f->left says whether more is to come).
 */
static int
pickup_copy(struct queue_pickup *pk, struct pickup_file *f, char *why,
    size_t whylen)
{
	size_t	slice = 0;
	ssize_t	n;

	while (f->left > 0 && slice < PICKUP_SLICE) {
		n = pread(f->fd, pk->copy, f->left < sizeof(pk->copy) ?
		    (size_t)f->left : sizeof(pk->copy), f->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)bsnprintf(why, whylen, "the file changed while "
			    "it was read");
			return 1;
		}
		if (maildrop_check_content(&f->chk, pk->copy, (size_t)n, why,
		    whylen) == -1)
			return 1;
		if (pickup_put(f, pk->copy, (size_t)n, why, whylen) == -1)
			return -1;
		f->left -= (uint64_t)n;
		f->off += n;
		slice += (size_t)n;
	}
	if (f->left == 0 && maildrop_check_end(&f->chk, why, whylen) == -1)
		return 1;
	return 0;
}

/* The envelope's sender: -f, else the user at the origin. */
static char *
pickup_sender(struct queue_pickup *pk, const struct pickup_file *f)
{
	struct buf	 b;
	char		*s;

	if (f->md.sender != NULL)
		return xstrdup(f->md.sender);
	buf_init(&b);
	buf_printf(&b, "%s@%s", f->user, config_origin(pk->cfg));
	s = xstrdup(b.data);
	buf_free(&b);
	return s;
}

static void
pickup_envelope(struct queue_pickup *pk, struct pickup_file *f)
{
	struct envelope		*env = &f->env;
	struct envelope_rcpt	*r;
	size_t			 i;

	env->sender = pickup_sender(pk, f);
	env->helo = xstrdup(f->user);
	env->client = xstrdup("local");
	env->protocol = xstrdup("local");
	if (f->md.ret != MAILDROP_RET_UNSET)
		env->ret = xstrdup(f->md.ret == MAILDROP_RET_FULL ? "FULL" :
		    "HDRS");
	if (f->md.envid != NULL)
		env->envid = xstrdup(f->md.envid);
	if (f->md.body != MAILDROP_BODY_UNSET)
		env->body = xstrdup(f->md.body == MAILDROP_BODY_7BIT ? "7BIT" :
		    "8BITMIME");
	for (i = 0; i < f->md.nrcpts; i++) {
		r = envelope_add_rcpt(env, f->md.rcpts[i], RCPT_PENDING);
		r->notify = dsn_notify_list(f->md.notify);
	}
}

/* Creates incoming/ID.msg and writes the Received header; the copy of
 * the content follows (pickup_slice).  0, or -1 with why. */
static int
pickup_write_start(struct queue_pickup *pk, struct pickup_file *f,
    char *why, size_t whylen)
{
	struct buf	 b;
	int		 rc;

	if ((f->msgfd = queue_fs_create(pk->spoolfd, f->env.id)) == -1) {
		(void)bsnprintf(why, whylen, "cannot create a message file: %s",
		    strerror(errno));
		return -1;
	}
	f->dg = digest_new();
	memset(&f->chk, 0, sizeof(f->chk));
	f->left = f->md.size;
	f->off = (off_t)f->md.data_off;
	buf_init(&b);
	pickup_received(pk, f, &b);
	rc = pickup_put(f, b.data, b.len, why, whylen);
	buf_free(&b);
	return rc;
}

/*
 * The copy ended with rc (0: all in, 1: refused, -1: temporary, why):
 * the envelope is made and the message goes to the commit worker, or
 * its files are removed and the maildrop file is refused or left.
 */
static void
pickup_write_end(struct queue_pickup *pk, struct pickup_file *f, int rc,
    char *why, size_t whylen)
{
	digest_final(f->dg, f->env.digest);	/* frees it */
	f->dg = NULL;
	if (rc == 0) {
		pickup_envelope(pk, f);
		if (envelope_check(&f->env, why, whylen) == -1)
			rc = 1;
	}
	if (rc != 0)
		(void)queue_fs_unlink_message(pk->spoolfd, f->env.id);
	if (rc == 1)
		pickup_refuse(pk, why);
	else if (rc == -1)
		pickup_later(pk, why);
	else {
		f->job = queue_job_new(&f->env, pk->cfg->queue_lifetime,
		    f->msgfd, f);
		queue_commit_submit(pk->commit, f->job);
	}
}

/* A turn of the loop: the next slice of the copy. */
static void
pickup_slice(void *arg)
{
	struct queue_pickup	*pk = arg;
	struct pickup_file	*f = pk->cur;
	char			 why[256];
	int			 rc;

	f->slice = NULL;
	rc = pickup_copy(pk, f, why, sizeof(why));
	if (rc == 0 && f->left > 0) {
		f->slice = event_timer_add(pk->loop, 0, pickup_slice, pk);
		return;
	}
	pickup_write_end(pk, f, rc, why, sizeof(why));
	if (pk->cur == NULL)
		pickup_next(pk);
}

static void
pickup_commit(struct queue_pickup *pk, struct pickup_file *f)
{
	char	why[256];

	if (pickup_write_start(pk, f, why, sizeof(why)) == -1) {
		if (f->dg != NULL)
			pickup_write_end(pk, f, -1, why, sizeof(why));
		else
			pickup_later(pk, why);
		return;
	}
	f->slice = event_timer_add(pk->loop, 0, pickup_slice, pk);
}

void
queue_pickup_who_result(struct queue_pickup *pk, struct ipc_msg *m)
{
	struct pickup_file	*f = pk->cur;
	char			 why[256], user[256];
	uint32_t		 status;

	status = ipc_get_u32(m);
	ipc_get_str(m, user, sizeof(user));
	ipc_get_str(m, why, sizeof(why));	/* the full name: unused */
	ipc_end(m);
	if (f == NULL || f->session != m->session || f->job != NULL) {
		log_debug("maildrop: answer %u to no question", m->session);
		return;
	}
	(void)strlcpy(f->user, user, sizeof(f->user));
	if (status == WHO_OK && f->user[0] != '\0' &&
	    envelope_value_ok(f->user) && strchr(f->user, ' ') == NULL)
		pickup_commit(pk, f);
	else if (status == WHO_NOUSER || status == WHO_OK) {
		(void)bsnprintf(why, sizeof(why), "no usable user with uid "
		    "%lu", (unsigned long)f->uid);
		pickup_refuse(pk, why);
	} else if (status == WHO_SENDER_REFUSED) {
		(void)bsnprintf(why, sizeof(why), "sender %s not allowed for "
		    "%s", f->md.sender != NULL ? f->md.sender : "", f->user);
		pickup_refuse(pk, why);
	} else
		pickup_later(pk, "the user could not be looked up");
	if (pk->cur == NULL)
		pickup_next(pk);
}

static void
pickup_log(const struct pickup_file *f)
{
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "%s: picked up maildrop/%s uid=%lu", f->env.id,
	    f->shown, (unsigned long)f->uid);
	logfmt_field(&b, "user", f->user);
	logfmt_field_path(&b, "from", f->env.sender);
	buf_printf(&b, " nrcpt=%zu size=%llu", f->env.nrcpt,
	    (unsigned long long)f->env.size);
	log_info("%s", b.data);
	buf_free(&b);
}

int
queue_pickup_commit_done(struct queue_pickup *pk, struct queue_job *job)
{
	struct pickup_file	*f = pk->cur;
	char			 path[PICKUP_NAME_MAX + 16];

	if (f == NULL || f->job != job)
		return 0;
	f->job = NULL;
	if (job->failed) {
		queue_job_free(job);
		pickup_later(pk, "commit failed");
		pickup_next(pk);
		return 1;
	}
	queue_job_free(job);
	/* Committed: only now may the submitted file go. */
	(void)bsnprintf(path, sizeof(path), "%s/%s", QUEUE_PICKUP_DIR,
	    f->name);
	if (unlinkat(pk->spoolfd, path, 0) == -1)
		log_warn("%s: maildrop/%s committed but not removed: it may "
		    "be taken twice", f->env.id, f->shown);
	pickup_log(f);
	queue_sched_add(pk->sched, &f->env);
	pickup_file_free(pk);
	pickup_next(pk);
	return 1;
}

/* ---- scanning ---- */

static void
pickup_scan(struct queue_pickup *pk)
{
	if (pk->stopping)
		return;
	if (pk->cur != NULL || pk->next < pk->names.n) {
		pk->rescan = 1;	/* after the scan under way */
		return;
	}
	pk->rescan = 0;
	queue_fs_names_free(&pk->names);
	pk->next = 0;
	if (queue_fs_names_read(pk->spoolfd, QUEUE_PICKUP_DIR, &pk->names) ==
	    -1)
		return;
	pickup_next(pk);
}

/* Takes the next names until one waits for the parent or the worker. */
static void
pickup_next(struct queue_pickup *pk)
{
	while (pk->cur == NULL && !pk->stopping) {
		if (pk->next >= pk->names.n) {
			queue_fs_names_free(&pk->names);
			pk->next = 0;
			if (pk->rescan)
				pickup_scan(pk);
			return;
		}
		pickup_one(pk, pk->names.v[pk->next++]);
	}
}

static void
pickup_timer(void *arg)
{
	struct queue_pickup	*pk = arg;

	pk->timer = NULL;
	if (pk->stopping)
		return;
	pickup_scan(pk);
	pk->timer = event_timer_add(pk->loop, QUEUE_PICKUP_RESCAN,
	    pickup_timer, pk);
}

/* inotify: a rename into maildrop/ (or a lost event) means a scan. */
static void
pickup_inotify(int fd, int events, void *arg)
{
	struct queue_pickup	*pk = arg;
	char			 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t			 n;
	int			 any = 0;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0 ||
	    (n == -1 && errno == EINTR))
		any |= n > 0;
	if (any)
		pickup_scan(pk);
}

static void
pickup_watch(struct queue_pickup *pk)
{
	pk->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pk->inofd == -1 || inotify_add_watch(pk->inofd, QUEUE_PICKUP_DIR,
	    IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) == -1) {
		log_warn("inotify on %s: scanning it every %d s only",
		    QUEUE_PICKUP_DIR, QUEUE_PICKUP_RESCAN / 1000);
		if (pk->inofd != -1)
			close(pk->inofd);
		pk->inofd = -1;
		return;
	}
	if (event_add(pk->loop, pk->inofd, EV_READ, pickup_inotify, pk) == -1)
		fatal("event_add inotify");
}

/* ---- the module ---- */

struct queue_pickup *
queue_pickup_new(struct config *cfg, struct event_loop *loop, int spoolfd,
    struct queue_commit *commit, struct queue_sched *sched,
    struct ipc_chan *parent)
{
	struct queue_pickup	*pk = xcalloc(1, sizeof(*pk));

	pk->cfg = cfg;
	pk->loop = loop;
	pk->spoolfd = spoolfd;
	pk->commit = commit;
	pk->sched = sched;
	pk->parent = parent;
	pk->inofd = -1;
	pk->head = xmalloc(MAILDROP_HEAD_MAX);
	return pk;
}

void
queue_pickup_start(struct queue_pickup *pk)
{
	pickup_watch(pk);
	pickup_scan(pk);
	pk->timer = event_timer_add(pk->loop, QUEUE_PICKUP_RESCAN,
	    pickup_timer, pk);
}

void
queue_pickup_stop(struct queue_pickup *pk)
{
	pk->stopping = 1;
	if (pk->timer != NULL)
		event_timer_cancel(pk->loop, pk->timer);
	pk->timer = NULL;
	/* A file waiting for the parent stays where it is. */
	if (pk->cur != NULL && pk->cur->job == NULL)
		pickup_file_free(pk);
}

void
queue_pickup_free(struct queue_pickup *pk)
{
	if (pk == NULL)
		return;
	queue_pickup_stop(pk);
	if (pk->inofd != -1) {
		event_del(pk->loop, pk->inofd);
		close(pk->inofd);
	}
	if (pk->cur != NULL && pk->cur->job != NULL)
		fatalx("pickup: freed with a commit in flight");
	pickup_file_free(pk);
	queue_fs_names_free(&pk->names);
	free(pk->head);
	free(pk);
}
