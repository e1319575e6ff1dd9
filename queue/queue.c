/*
 * queue.c - the queue process: serves the receiver's MSG_Q_OPEN, COMMIT
 * and ABORT, and keeps it told about free space (MSG_Q_SPACE).
 *
 * It drops to the queue user in a chroot of the spool, recovers the spool
 * before it answers anything, and writes every message itself: MSG_Q_OPEN
 * creates the content file and hands the receiver the write end of a
 * pipe, whose octets this process copies into the file while it digests
 * them.  A commit waits for the receiver's MSG_Q_COMMIT and the pipe's end
 * of file, checks the size, and goes to the group-commit worker
 * (queue_commit.c): a MSG_Q_COMMIT_OK leaves only after the syncs covering
 * the message returned.  The receiver never holds a descriptor of a spool
 * file, so nothing it does can change a message after its 250.  Files of
 * messages never committed are removed when the receiver aborts them,
 * when it goes away, and at exit.
 *
 * Limits it enforces whatever the receiver does (proto.h): one message
 * open per session, max-sessions messages open in all, and at most
 * max-message-size plus QUEUE_HEADER_SLACK octets in one message.
 *
 * Local submission takes the same commit: queue_pickup.c reads the files
 * of maildrop/ (with the parent naming their owners, MSG_P_WHO).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "common/privsep.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/queue_commit.h"
#include "queue/queue_ctl.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"
#include "queue/queue_pickup.h"
#include "queue/queue_recover.h"
#include "queue/queue_sched.h"

#define QUEUE_SPACE_INTERVAL	1000	/* ms between free-space checks */
#define QUEUE_PIPE_READ		(64 * 1024)	/* one read() of a pipe */
#define QUEUE_PIPE_BUDGET	(256 * 1024)	/* per pipe per wake-up */
#define QUEUE_HEADER_SLACK	(64 * 1024)	/* Received header and CRLFs */

/* A message the receiver opened and has not finished. */
struct queue_msg {
	struct queue_msg	*next;		/* hash chain */
	struct queue		*q;
	char			 id[QUEUE_ID_SIZE];
	uint32_t		 session;	/* the receiver's session */
	int			 fd;		/* our own content descriptor */
	int			 pipefd;	/* read end; -1 after its EOF */
	struct digest		*dg;		/* of what was written */
	uint64_t		 received;	/* octets written to fd */
	int			 werr;		/* errno of a failed write */
	int			 toobig;	/* over the size cap: dropped */
	struct envelope		*env;		/* after MSG_Q_COMMIT */
	int			 committing;	/* MSG_Q_COMMIT came */
	int			 with_worker;	/* handed to the worker */
	uint64_t		 size;
	size_t			 nrcpt;
	char			*sender;
};

struct queue {
	struct config		*cfg;
	int			 journal;	/* queue_fs_journalled */
	struct event_loop	*loop;
	struct ipc_chan		*smtpd;		/* NULL once it went away */
	struct ipc_chan		*parent;
	struct ipc_chan		*delivery;	/* NULL: none or gone */
	struct queue_commit	*commit;
	struct queue_sched	*sched;
	struct queue_pickup	*pickup;	/* maildrop/ */
	struct queue_recover	*recover;	/* NULL once recovery is done */
	struct event_timer	*space_timer;
	int			 spoolfd;
	int			 space_low;	/* -1 before the first check */
	int			 stopping;
	unsigned		 inflight;	/* commits not yet answered */
	unsigned		 nopen;		/* messages before their commit */
	uint64_t		 received;	/* committed since start */
	struct queue_msg	*msgs[QUEUE_ID_NHASH];
	char			 pipebuf[QUEUE_PIPE_READ];
};

/* ---- open messages ---- */

static struct queue_msg *
queue_msg_find(struct queue *q, const char *id)
{
	struct queue_msg	*qm;

	for (qm = q->msgs[queue_id_hash(id)]; qm != NULL; qm = qm->next)
		if (strcmp(qm->id, id) == 0)
			return qm;
	return NULL;
}

static struct queue_msg *
queue_msg_add(struct queue *q, const char *id, uint32_t session, int fd,
    int pipefd)
{
	struct queue_msg	*qm;
	unsigned		 h = queue_id_hash(id);

	qm = xcalloc(1, sizeof(*qm));
	qm->q = q;
	(void)strlcpy(qm->id, id, sizeof(qm->id));
	qm->session = session;
	qm->fd = fd;
	qm->pipefd = pipefd;
	qm->dg = digest_new();
	qm->next = q->msgs[h];
	q->msgs[h] = qm;
	q->nopen++;
	return qm;
}

/* Stops reading the receiver's pipe. */
static void
queue_msg_close_pipe(struct queue_msg *qm)
{
	if (qm->pipefd == -1)
		return;
	event_del(qm->q->loop, qm->pipefd);
	close(qm->pipefd);
	qm->pipefd = -1;
}

/* Forgets qm and closes its descriptors; its files are the caller's. */
static void
queue_msg_del(struct queue *q, struct queue_msg *qm)
{
	struct queue_msg	**pp;

	for (pp = &q->msgs[queue_id_hash(qm->id)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == qm) {
			*pp = qm->next;
			break;
		}
	}
	if (!qm->committing)
		q->nopen--;
	queue_msg_close_pipe(qm);
	if (qm->fd != -1)
		close(qm->fd);
	digest_free(qm->dg);
	if (qm->env != NULL) {
		envelope_free(qm->env);
		free(qm->env);
	}
	free(qm->sender);
	free(qm);
}

/* The session's message that has not come to its commit, if any. */
static struct queue_msg *
queue_msg_of_session(struct queue *q, uint32_t session)
{
	struct queue_msg	*qm;
	unsigned		 h;

	for (h = 0; h < QUEUE_ID_NHASH; h++)
		for (qm = q->msgs[h]; qm != NULL; qm = qm->next)
			if (qm->session == session && !qm->committing)
				return qm;
	return NULL;
}

/* A message not with the worker goes: its files and its entry (why
 * NULL: the caller logged it).  A commit it was waiting for is over. */
static void
queue_msg_discard(struct queue *q, struct queue_msg *qm, const char *why)
{
	if (queue_fs_unlink_message(q->spoolfd, qm->id) == -1)
		log_warn("%s: cannot remove files", qm->id);
	if (why != NULL)
		log_info("%s: discarded: %s", qm->id, why);
	if (qm->committing)
		q->inflight--;
	queue_msg_del(q, qm);
}

/* Discards every message not with the worker. */
static void
queue_msg_discard_all(struct queue *q, const char *why)
{
	struct queue_msg	*qm, *next;
	unsigned		 h;

	for (h = 0; h < QUEUE_ID_NHASH; h++) {
		for (qm = q->msgs[h]; qm != NULL; qm = next) {
			next = qm->next;
			if (!qm->with_worker)
				queue_msg_discard(q, qm, why);
		}
	}
}

/* The receiver's message id: unknown or another session's is a bug there. */
static struct queue_msg *
queue_msg_get(struct queue *q, struct ipc_msg *m, const char *id)
{
	struct queue_msg	*qm;

	if ((qm = queue_msg_find(q, id)) == NULL)
		fatalx("%s: message %s: unknown queue id %s",
		    ipc_chan_peer(m->chan), proto_msg_name(m->type), id);
	if (qm->session != m->session)
		fatalx("%s: message %s: %s belongs to session %u, not %u",
		    ipc_chan_peer(m->chan), proto_msg_name(m->type), id,
		    qm->session, m->session);
	return qm;
}

/* ---- replies ---- */

static void
queue_reply_fail(struct queue *q, uint32_t type, uint32_t session,
    const char *id, uint32_t reason)
{
	struct buf	b;

	if (q->smtpd == NULL)
		return;
	buf_init(&b);
	if (id != NULL)
		ipc_put_str(&b, id);
	ipc_put_u32(&b, reason);
	ipc_send_buf(q->smtpd, type, session, -1, &b);
	buf_free(&b);
}

static void
queue_reply_id(struct queue *q, uint32_t type, uint32_t session,
    const char *id, int fd)
{
	struct buf	b;

	if (q->smtpd == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	buf_init(&b);
	ipc_put_str(&b, id);
	ipc_send_buf(q->smtpd, type, session, fd, &b);
	buf_free(&b);
}

/* ---- free space ---- */

static void
queue_space_check(struct queue *q)
{
	struct buf	b;
	uint64_t	avail;
	int		low;

	if (queue_fs_free_space(q->spoolfd, &avail) == -1) {
		log_warn("fstatvfs of the spool");
		return;
	}
	low = avail < q->cfg->min_free_space;
	if (low == q->space_low)
		return;
	if (low)
		log_warnx("spool has %llu octets free, below min-free-space "
		    "%llu: refusing new messages", (unsigned long long)avail,
		    (unsigned long long)q->cfg->min_free_space);
	else if (q->space_low == 1)
		log_info("spool has %llu octets free again: accepting messages",
		    (unsigned long long)avail);
	q->space_low = low;
	if (q->smtpd == NULL)
		return;
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)low);
	ipc_send_buf(q->smtpd, MSG_Q_SPACE, 0, -1, &b);
	buf_free(&b);
}

static void
queue_space_timer(void *arg)
{
	struct queue	*q = arg;

	q->space_timer = NULL;
	queue_space_check(q);
	if (!q->stopping)
		q->space_timer = event_timer_add(q->loop, QUEUE_SPACE_INTERVAL,
		    queue_space_timer, q);
}

/* ---- MSG_Q_OPEN and the message's octets ---- */

static void queue_msg_ready(struct queue *q, struct queue_msg *qm);

/* Octets from the receiver: into the file and the digest. */
static void
queue_msg_take(struct queue *q, struct queue_msg *qm, size_t n)
{
	if (qm->werr != 0 || qm->toobig)
		return;
	if (qm->received + n > q->cfg->max_message_size + QUEUE_HEADER_SLACK) {
		log_warnx("%s: more than max-message-size octets from the "
		    "receiver: message dropped", qm->id);
		qm->toobig = 1;
		return;
	}
	if (write_all(qm->fd, q->pipebuf, n) == -1) {
		qm->werr = errno;
		log_warn("%s: write", qm->id);
		return;
	}
	digest_update(qm->dg, q->pipebuf, n);
	qm->received += n;
}

/*
 * The receiver's pipe is readable.  Reads a bounded amount per wake-up so
 * that one large message cannot starve the others; at end of file the
 * message may be ready for its commit.
 */
static void
queue_msg_input(int fd, int events, void *arg)
{
	struct queue_msg	*qm = arg;
	struct queue		*q = qm->q;
	size_t			 budget = QUEUE_PIPE_BUDGET;
	ssize_t			 n;

	(void)events;
	while (budget > 0) {
		n = read(fd, q->pipebuf, sizeof(q->pipebuf));
		if (n > 0) {
			queue_msg_take(q, qm, (size_t)n);
			budget -= (size_t)n < budget ? (size_t)n : budget;
			if (qm->toobig || qm->werr != 0)
				break;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			qm->werr = errno;
			log_warn("%s: read from the receiver", qm->id);
		}
		break;
	}
	if (budget == 0)
		return;
	/* End of file, or nothing more is wanted from the pipe. */
	queue_msg_close_pipe(qm);
	if (qm->env != NULL)
		queue_msg_ready(q, qm);
}

/* Why a MSG_Q_OPEN is refused before anything is created; 0 if not. */
static uint32_t
queue_open_refusal(struct queue *q, uint32_t session)
{
	if (q->stopping)
		return QFAIL_SHUTDOWN;
	queue_space_check(q);
	if (q->space_low == 1)
		return QFAIL_NOSPACE;
	if (queue_msg_of_session(q, session) != NULL) {
		log_warnx("session %u opens a second message before its "
		    "commit: refused", session);
		return QFAIL_TEMP;
	}
	if (q->nopen >= q->cfg->max_sessions) {
		log_warnx("%u messages open, max-sessions is %u: refused",
		    q->nopen, q->cfg->max_sessions);
		return QFAIL_TEMP;
	}
	return 0;
}

/* The content file and the pipe of a new message; -1 if either fails. */
static int
queue_open_files(struct queue *q, char id[QUEUE_ID_SIZE], int *fd,
    int pfd[2])
{
	int	saved;

	if ((*fd = queue_fs_create(q->spoolfd, id)) == -1) {
		log_warn("cannot create a message file in incoming/");
		return -1;
	}
	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == -1) {
		saved = errno;
		log_warn("%s: pipe", id);
		(void)queue_fs_unlink_message(q->spoolfd, id);
		close(*fd);
		errno = saved;
		return -1;
	}
	return 0;
}

static void
queue_open(struct queue *q, struct ipc_msg *m)
{
	struct queue_msg	*qm;
	char			 id[QUEUE_ID_SIZE];
	uint32_t		 why;
	int			 fd, pfd[2];

	ipc_end(m);
	if ((why = queue_open_refusal(q, m->session)) != 0 ||
	    queue_open_files(q, id, &fd, pfd) == -1) {
		queue_reply_fail(q, MSG_Q_OPEN_FAIL, m->session, NULL,
		    why != 0 ? why : QFAIL_TEMP);
		return;
	}
	qm = queue_msg_add(q, id, m->session, fd, pfd[0]);
	if (event_add(q->loop, pfd[0], EV_READ, queue_msg_input, qm) == -1)
		fatal("%s: event_add", id);
	log_debug("%s: opened for session %u", id, m->session);
	/* The write end goes to the receiver (ipc_send closes ours). */
	queue_reply_id(q, MSG_Q_OPEN_OK, m->session, id, pfd[1]);
}

/* ---- MSG_Q_COMMIT ---- */

static void queue_commit_bad(struct ipc_msg *, const char *, uint32_t)
    SM_NORETURN;

/* A field of MSG_Q_COMMIT out of its range: the receiver is broken. */
static void
queue_commit_bad(struct ipc_msg *m, const char *what, uint32_t v)
{
	fatalx("%s: message %s: bad %s %u", ipc_chan_peer(m->chan),
	    proto_msg_name(m->type), what, v);
}

/* A string field; "" means absent (NULL). */
static char *
queue_commit_optstr(struct ipc_msg *m)
{
	char	*s = ipc_get_strdup(m);

	if (s[0] != '\0')
		return s;
	free(s);
	return NULL;
}

/* DSN NOTIFY bits as the envelope writes them: "NEVER" or a list. */
static char *
queue_commit_notify(struct ipc_msg *m, uint32_t bits)
{
	if ((bits & ~(uint32_t)DSN_NOTIFY_ALL) != 0 ||
	    ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER))
		queue_commit_bad(m, "NOTIFY", bits);
	return dsn_notify_list(bits);
}

/* The transaction's facts: DSN RET and ENVID, SMTPUTF8, BODY. */
static void
queue_commit_read_mail(struct ipc_msg *m, struct envelope *env)
{
	uint32_t	ret, utf8, body;

	env->envid = queue_commit_optstr(m);
	ret = ipc_get_u32(m);
	utf8 = ipc_get_u32(m);
	body = ipc_get_u32(m);
	if (ret > DSN_RET_HDRS)
		queue_commit_bad(m, "RET", ret);
	if (utf8 > 1)
		queue_commit_bad(m, "SMTPUTF8", utf8);
	if (body > BODY_8BITMIME)
		queue_commit_bad(m, "BODY", body);
	if (ret != 0)
		env->ret = xstrdup(ret == DSN_RET_FULL ? "FULL" : "HDRS");
	env->smtputf8 = (int)utf8;
	if (body != 0)
		env->body = xstrdup(body == BODY_7BIT ? "7BIT" : "8BITMIME");
}

/* Reads the envelope fields of MSG_Q_COMMIT (proto.h) into env. */
static void
queue_commit_read(struct ipc_msg *m, struct envelope *env)
{
	struct envelope_rcpt	*r;
	char			*rcpt;
	uint32_t		 i, nrcpt;

	ipc_get_str(m, env->id, sizeof(env->id));
	env->sender = ipc_get_strdup(m);
	env->helo = ipc_get_strdup(m);
	env->client = ipc_get_strdup(m);
	env->protocol = ipc_get_strdup(m);
	env->tls = queue_commit_optstr(m);
	env->size = ipc_get_u64(m);
	queue_commit_read_mail(m, env);
	nrcpt = ipc_get_u32(m);
	/* Each recipient takes 12 bytes at least: no allocation on a lie. */
	if (nrcpt > (m->len - m->pos) / 12)
		fatalx("%s: message %s: %u recipients cannot fit",
		    ipc_chan_peer(m->chan), proto_msg_name(m->type), nrcpt);
	for (i = 0; i < nrcpt; i++) {
		rcpt = ipc_get_strdup(m);
		r = envelope_add_rcpt(env, rcpt, RCPT_PENDING);
		free(rcpt);
		r->notify = queue_commit_notify(m, ipc_get_u32(m));
		r->orcpt = queue_commit_optstr(m);
	}
	ipc_end(m);
}

/* A shutdown waits for the commits in flight; the last one ends it. */
static void
queue_commit_settle(struct queue *q)
{
	if (q->stopping && q->inflight == 0)
		event_loop_stop(q->loop);
}

/* 0 if the message may be committed; -1 with why otherwise. */
static int
queue_commit_check(struct queue *q, struct queue_msg *qm,
    const struct envelope *env, char *why, size_t whylen)
{
	char	ebuf[128];

	if (qm->werr != 0) {
		(void)bsnprintf(why, whylen, "write: %s",
		    strerror_r(qm->werr, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (qm->toobig || qm->received != env->size) {
		(void)bsnprintf(why, whylen, "%s%llu octets came through the "
		    "pipe, receiver reported %llu", qm->toobig ? "more than " :
		    "", (unsigned long long)qm->received,
		    (unsigned long long)env->size);
		return -1;
	}
	if (env->nrcpt > q->cfg->max_recipients) {
		(void)bsnprintf(why, whylen, "%zu recipients, max-recipients "
		    "is %u", env->nrcpt, q->cfg->max_recipients);
		return -1;
	}
	return envelope_check(env, why, whylen);
}

static void
queue_commit_submit_msg(struct queue *q, struct queue_msg *qm,
    struct envelope *env)
{
	struct queue_job	*job;

	job = queue_job_new(env, q->cfg->queue_lifetime, qm->fd, qm);
	qm->with_worker = 1;
	qm->size = env->size;
	qm->nrcpt = env->nrcpt;
	qm->sender = xstrdup(env->sender);
	queue_commit_submit(q->commit, job);
}

/* The commit failed before the worker: the message goes, 451. */
static void
queue_commit_refuse(struct queue *q, struct queue_msg *qm, uint32_t reason)
{
	queue_reply_fail(q, MSG_Q_COMMIT_FAIL, qm->session, qm->id, reason);
	queue_msg_discard(q, qm, NULL);
	queue_commit_settle(q);
}

/*
 * Both the receiver's MSG_Q_COMMIT and the pipe's end of file are in: the
 * size the receiver reported must be what came through the pipe, and the
 * digest of those octets goes into the envelope.
 */
static void
queue_msg_ready(struct queue *q, struct queue_msg *qm)
{
	char	why[256];

	digest_final(qm->dg, qm->env->digest);
	qm->dg = NULL;
	if (q->stopping) {
		log_info("%s: discarded: shutting down before commit", qm->id);
		queue_commit_refuse(q, qm, QFAIL_SHUTDOWN);
	} else if (queue_commit_check(q, qm, qm->env, why, sizeof(why)) ==
	    -1) {
		log_warnx("%s: commit failed: %s", qm->id, why);
		queue_commit_refuse(q, qm, QFAIL_TEMP);
	} else
		queue_commit_submit_msg(q, qm, qm->env);
}

static void
queue_commit_msg(struct queue *q, struct ipc_msg *m)
{
	struct envelope		*env;
	struct queue_msg	*qm;

	env = xcalloc(1, sizeof(*env));
	envelope_init(env);
	queue_commit_read(m, env);
	qm = queue_msg_get(q, m, env->id);
	if (qm->committing)
		fatalx("%s: message %s: %s is being committed already",
		    ipc_chan_peer(m->chan), proto_msg_name(m->type), env->id);
	qm->committing = 1;
	qm->env = env;
	q->nopen--;
	q->inflight++;
	if (qm->pipefd == -1)
		queue_msg_ready(q, qm);
}

/* A job came back from the worker: answer its message. */
static void
queue_log_committed(const struct queue_msg *qm)
{
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "%s: committed size=%llu nrcpt=%zu", qm->id,
	    (unsigned long long)qm->size, qm->nrcpt);
	logfmt_field_path(&b, "from", qm->sender);
	log_info("%s", b.data);
	buf_free(&b);
}

static void
queue_commit_finish(struct queue *q, struct queue_job *job)
{
	struct queue_msg	*qm = job->arg;

	if (job->failed) {
		log_warnx("%s: commit failed: %s", qm->id, job->error);
		queue_reply_fail(q, MSG_Q_COMMIT_FAIL, qm->session, qm->id,
		    QFAIL_TEMP);
	} else {
		queue_log_committed(qm);
		q->received++;
		queue_reply_id(q, MSG_Q_COMMIT_OK, qm->session, qm->id, -1);
		queue_sched_add(q->sched, qm->env);
	}
	q->inflight--;
	queue_msg_del(q, qm);
	queue_job_free(job);
}

static void
queue_commit_event(int fd, int events, void *arg)
{
	struct queue		*q = arg;
	struct queue_job	*job, *next;
	unsigned		 n = 0;

	(void)fd;
	(void)events;
	for (job = queue_commit_done(q->commit); job != NULL; job = next) {
		next = job->next;
		if (!queue_sched_commit_done(q->sched, job) &&
		    !queue_pickup_commit_done(q->pickup, job))
			queue_commit_finish(q, job);
		n++;
	}
	if (n == 0)
		return;
	log_debug("commit: %u messages answered", n);
	queue_space_check(q);
	queue_commit_settle(q);
}

/* ---- MSG_Q_ABORT ---- */

static void
queue_abort(struct queue *q, struct ipc_msg *m)
{
	struct queue_msg	*qm;
	char			 id[QUEUE_ID_SIZE];
	uint32_t		 unused;

	ipc_get_str(m, id, sizeof(id));
	unused = ipc_get_u32(m);
	if (ipc_end(m) == -1)
		return;
	if (unused > 1) {
		ipc_violation(m, "bad unused flag");
		return;
	}
	qm = queue_msg_get(q, m, id);
	if (qm->with_worker) {
		/* Too late: the commit goes on and is answered. */
		log_debug("%s: abort ignored, commit in progress", id);
		return;
	}
	if (unused) {
		/* Opened ahead at RCPT and never used (no DATA came). */
		log_debug("%s: discarded before any octet: aborted by the "
		    "receiver", id);
		queue_msg_discard(q, qm, NULL);
	} else
		queue_msg_discard(q, qm, "aborted by the receiver");
	queue_commit_settle(q);
}

/* ---- channels and signals ---- */

static void
queue_smtpd_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct queue	*q = arg;

	(void)ch;
	(void)ipc_no_fd(m);	/* a descriptor from the receiver is fatal */
	switch (m->type) {
	case MSG_Q_OPEN:
		queue_open(q, m);
		break;
	case MSG_Q_COMMIT:
		queue_commit_msg(q, m);
		break;
	case MSG_Q_ABORT:
		queue_abort(q, m);
		break;
	default:
		ipc_bad_type(m);
	}
}

static void
queue_smtpd_closed(struct ipc_chan *ch, void *arg)
{
	struct queue	*q = arg;

	log_info("receiver channel closed: removing its unfinished "
	    "messages");
	ipc_chan_free(ch);
	q->smtpd = NULL;
	queue_msg_discard_all(q, "receiver went away");
	queue_commit_settle(q);
}

static void
queue_shutdown(struct queue *q, const char *why)
{
	if (q->stopping)
		return;
	q->stopping = 1;
	queue_sched_stop(q->sched);
	queue_pickup_stop(q->pickup);
	log_info("shutting down (%s), %u commits in progress", why,
	    q->inflight);
	if (q->inflight == 0)
		event_loop_stop(q->loop);
}

/*
 * MSG_P_SETTINGS (reload): min-free-space and queue-lifetime apply at
 * once.  max-message-size and max-recipients are the queue's guard
 * against a receiver gone wrong, and sessions that began before the
 * reload may still use the old values: the queue takes the larger of the
 * two until a restart.
 */
static void
queue_reload(struct queue *q, struct ipc_msg *m)
{
	struct config	next;

	config_copy(&next, q->cfg);
	if (ipc_no_fd(m) == -1 || config_settings_get(m, &next) == -1) {
		config_free(&next);
		return;
	}
	q->cfg->min_free_space = next.min_free_space;
	q->cfg->queue_lifetime = next.queue_lifetime;
	q->cfg->retry_initial = next.retry_initial;
	q->cfg->retry_max = next.retry_max;
	q->cfg->delay_warning = next.delay_warning;
	q->cfg->max_deliveries = next.max_deliveries;
	q->cfg->max_deliveries_per_domain = next.max_deliveries_per_domain;
	q->cfg->max_local_deliveries = next.max_local_deliveries;
	if (next.max_message_size > q->cfg->max_message_size)
		q->cfg->max_message_size = next.max_message_size;
	if (next.max_recipients > q->cfg->max_recipients)
		q->cfg->max_recipients = next.max_recipients;
	config_free(&next);
	log_info("reload: min-free-space %llu, queue-lifetime %llu s",
	    (unsigned long long)q->cfg->min_free_space,
	    (unsigned long long)q->cfg->queue_lifetime);
	queue_space_check(q);
}

static void
queue_parent_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct queue	*q = arg;

	(void)ch;
	if (m->type == MSG_P_SETTINGS)
		queue_reload(q, m);
	else if (m->type == MSG_LD_RESULT) {
		(void)ipc_no_fd(m);
		queue_sched_result(q->sched, m);
	} else if (m->type == MSG_P_WHO_RESULT) {
		(void)ipc_no_fd(m);
		queue_pickup_who_result(q->pickup, m);
	} else
		ipc_bad_type(m);
}

/* ---- the delivery process ---- */

static void
queue_delivery_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct queue	*q = arg;

	(void)ch;
	(void)ipc_no_fd(m);
	if (m->type == MSG_D_RESULT)
		queue_sched_result(q->sched, m);
	else
		ipc_bad_type(m);
}

static void
queue_delivery_closed(struct ipc_chan *ch, void *arg)
{
	struct queue	*q = arg;

	log_info("delivery channel closed: nothing is handed out");
	ipc_chan_free(ch);
	q->delivery = NULL;
	queue_sched_set_delivery(q->sched, NULL);
}

/* MSG_C_FLUSH (queue_ctl.c): every deferred recipient due now. */
static unsigned
queue_flush(void *arg)
{
	struct queue	*q = arg;

	return q->sched != NULL ? queue_sched_flush(q->sched) : 0;
}

/* The operator's delete, hold and release, pause and resume of delivery
 * (queue_ctl.c). */
static int
queue_op_hook(void *arg, enum queue_ctl_op op, const char *id,
    const char *who, char *err, size_t errlen)
{
	struct queue	*q = arg;

	if (q->sched == NULL || q->stopping) {
		(void)bsnprintf(err, errlen, "the queue is shutting down");
		return -1;
	}
	if (id != NULL && queue_recover_pending(q->recover, id)) {
		(void)bsnprintf(err, errlen, "message %s is not checked yet: "
		    "recovery has checked %u of %u folders since the start; "
		    "try again shortly", id, queue_recover_progress(q->recover),
		    QUEUE_ID_NHASH);
		return -1;
	}
	if (op == QUEUE_CTL_DELETE)
		return queue_sched_delete(q->sched, id, who, err, errlen);
	if (op == QUEUE_CTL_HOLD)
		return queue_sched_hold(q->sched, id, who, err, errlen);
	if (op == QUEUE_CTL_PAUSE || op == QUEUE_CTL_RESUME)
		return queue_sched_pause(q->sched, op == QUEUE_CTL_PAUSE, who,
		    err, errlen);
	return queue_sched_release(q->sched, id, who, err, errlen);
}

/* strictmailctl status: the counters since start. */
static void
queue_counts_hook(void *arg, struct queue_ctl_counts *c)
{
	struct queue			*q = arg;
	struct queue_sched_stats	 st;

	memset(&st, 0, sizeof(st));
	if (q->sched != NULL)
		queue_sched_stats(q->sched, &st);
	c->received = q->received;
	c->delivered = st.delivered;
	c->deferred = st.deferred;
	c->bounced = st.bounced;
	c->paused = q->sched != NULL && queue_sched_paused(q->sched);
}

/* Recovery found a complete message: it is scheduled. */
static void
queue_found(struct envelope *env, void *arg)
{
	struct queue	*q = arg;

	queue_sched_add(q->sched, env);
}

/* The recovery thread handed messages over, or ended. */
static void
queue_recover_event(int fd, int events, void *arg)
{
	struct queue			*q = arg;
	struct queue_fs_recovery	 rec;

	(void)events;
	if (!queue_recover_take(q->recover, queue_found, q, &rec))
		return;
	event_del(q->loop, fd);
	queue_recover_free(q->recover);
	q->recover = NULL;
}

static void
queue_parent_closed(struct ipc_chan *ch, void *arg)
{
	struct queue	*q = arg;

	ipc_chan_free(ch);
	q->parent = NULL;
	queue_sched_set_local(q->sched, NULL);
	queue_shutdown(q, "parent went away");
}

static void
queue_sigterm(int signo, void *arg)
{
	(void)signo;
	queue_shutdown(arg, "SIGTERM");
}

/* ---- the process ---- */

/* Into the spool: chrooted as the queue user, or just chdir without root. */
static int
queue_enter_spool(struct config *cfg, const struct sm_user *u, int *journal)
{
	char	what[160];
	int	fd;

	/* /proc and /sys are out of reach once chrooted. */
	if ((fd = open(cfg->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open spool %s", cfg->spool);
	*journal = queue_fs_journalled(fd, what, sizeof(what));
	close(fd);
	log_info("spool file system: %s", what);
	if (u != NULL && privsep_is_root()) {
		privsep_drop(u, cfg->spool);
		log_info("running as %s, chrooted into %s", u->name,
		    cfg->spool);
	} else {
		if (chdir(cfg->spool) == -1)
			fatal("chdir %s", cfg->spool);
		log_info("running unprivileged as uid %lu in %s, no chroot",
		    (unsigned long)geteuid(), cfg->spool);
	}
	if ((fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open spool %s", cfg->spool);
	return fd;
}

static void
queue_setup(struct queue *q, int parent_fd, int smtpd_fd, int ctl_fd,
    int delivery_fd)
{
	signal(SIGINT, SIG_IGN);	/* the parent coordinates */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	q->loop = event_loop_new();
	if (event_signal(q->loop, SIGTERM, queue_sigterm, q) == -1)
		fatal("event_signal SIGTERM");
	/* After the signal mask is set: the worker blocks everything. */
	q->commit = queue_commit_new(q->spoolfd, q->journal);
	if (event_add(q->loop, queue_commit_fd(q->commit), EV_READ,
	    queue_commit_event, q) == -1)
		fatal("event_add commit");
	q->sched = queue_sched_new(q->cfg, q->loop, q->spoolfd, q->commit);
	/* incoming/ is emptied now; the messages in queue/ are checked by
	 * a thread and scheduled as it hands them over, while new mail is
	 * taken (queue_recover.h). */
	q->recover = queue_recover_start(q->spoolfd);
	if (event_add(q->loop, queue_recover_fd(q->recover), EV_READ,
	    queue_recover_event, q) == -1)
		fatal("event_add recovery");
	if (delivery_fd != -1) {
		q->delivery = ipc_chan_new(q->loop, delivery_fd, "delivery",
		    queue_delivery_dispatch, queue_delivery_closed, q);
		queue_sched_set_delivery(q->sched, q->delivery);
	}
	q->parent = ipc_chan_new(q->loop, parent_fd, "parent",
	    queue_parent_dispatch, queue_parent_closed, q);
	queue_sched_set_local(q->sched, q->parent);
	q->pickup = queue_pickup_new(q->cfg, q->loop, q->spoolfd, q->commit,
	    q->sched, q->parent);
	q->smtpd = ipc_chan_new(q->loop, smtpd_fd, "smtpd",
	    queue_smtpd_dispatch, queue_smtpd_closed, q);
	queue_ctl_start(q->loop, q->cfg, q->spoolfd, ctl_fd);	/* MSG_C_* */
	queue_ctl_set_flush(queue_flush, q);
	queue_ctl_set_ops(queue_op_hook, queue_counts_hook, q);
	queue_space_check(q);
	q->space_timer = event_timer_add(q->loop, QUEUE_SPACE_INTERVAL,
	    queue_space_timer, q);
	/* incoming/ is recovered and new IDs cannot meet old ones: the
	 * parent may announce the service. */
	ipc_send(q->parent, MSG_P_READY, 0, -1, NULL, 0);
	/* Messages waiting in maildrop/ since before the start. */
	queue_pickup_start(q->pickup);
}

static void
queue_teardown(struct queue *q)
{
	struct queue_job	*job, *next;

	if (q->recover != NULL) {
		event_del(q->loop, queue_recover_fd(q->recover));
		queue_recover_free(q->recover);
		q->recover = NULL;
	}
	/* Rewrites still out may queue bounces: the worker takes them. */
	queue_sched_drain(q->sched);
	/* Whatever the worker still holds is finished and answered. */
	queue_commit_stop(q->commit);
	for (job = queue_commit_done(q->commit); job != NULL; job = next) {
		next = job->next;
		if (!queue_sched_commit_done(q->sched, job) &&
		    !queue_pickup_commit_done(q->pickup, job))
			queue_commit_finish(q, job);
	}
	queue_pickup_free(q->pickup);
	q->pickup = NULL;
	queue_sched_free(q->sched);
	q->sched = NULL;
	if (q->delivery != NULL) {
		(void)ipc_chan_flush(q->delivery);
		ipc_chan_free(q->delivery);
	}
	queue_msg_discard_all(q, "queue shutting down");
	event_timer_cancel(q->loop, q->space_timer);
	event_del(q->loop, queue_commit_fd(q->commit));
	queue_commit_free(q->commit);
	queue_ctl_stop();
	if (q->smtpd != NULL) {
		(void)ipc_chan_flush(q->smtpd);
		ipc_chan_free(q->smtpd);
	}
	if (q->parent != NULL)
		ipc_chan_free(q->parent);
	event_loop_free(q->loop);
	close(q->spoolfd);
}

int
queue_main(struct config *cfg, int parent_fd, int smtpd_fd, int ctl_fd,
    int delivery_fd, const struct sm_user *u)
{
	struct queue	q;
	int		rc;

	memset(&q, 0, sizeof(q));
	q.cfg = cfg;
	q.space_low = -1;
	q.spoolfd = queue_enter_spool(cfg, u, &q.journal);
	queue_setup(&q, parent_fd, smtpd_fd, ctl_fd, delivery_fd);
	log_info("ready");
	rc = event_loop_run(q.loop);
	queue_teardown(&q);
	log_info("exiting");
	return rc == 0 ? 0 : 1;
}
