/*
 * queue_sched.c - the delivery scheduler of the queue process (see
 * queue_sched.h): due messages go to the delivery process one job per
 * recipient domain, outcomes come back and are written to the envelope
 * by the commit rule, failed recipients bounce through the commit worker.
 *
 * What it keeps in memory is small: per message its id, arrival, next
 * attempt and how many of its jobs are out; everything else is read from
 * the envelope when it is needed, so the spool stays the only truth and a
 * restart rebuilds the same schedule.
 *
 * The messages are kept in sched_index.h (by id, in arrival order, and
 * those that may go by due time): the timer is the heap's top and a run
 * takes only what is due, so a queue of 100,000 deferred messages costs
 * no walk per event.  Every change to a message's jobs, next attempt,
 * destination backoff, pending count or hold ends in sidx_resched();
 * queue_sched_check() proves the index (the unit tests call it after
 * every step).
 */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/queue_commit.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"
#include "queue/queue_io.h"
#include "queue/queue_report.h"
#include "queue/queue_sched.h"
#include "queue/sched_index.h"
#include "queue/schedule.h"

/* A job not answered in this time counts as deferred (its late answer
 * is logged and ignored). */
#define QS_JOB_DEADLINE		(30 * 60)
#define QS_ERROR_MAX		900	/* octets of a recipient's last error */
#define QS_DEST_THRESHOLD	3	/* host-level failures in a row that
					 * back a destination off */
#define QS_NEVER		UINT64_MAX
struct qs_dom {
	struct qs_dom		*next;
	char			*name;
	int			 local;		/* a local or virtual domain:
						 * its jobs go to the parent */
	unsigned		 inflight;
	struct schedule_dest	 bo;		/* its backoff */
};

struct qs_job {
	struct qs_job	*next;
	uint64_t	 id;
	struct qs_msg	*msg;
	struct qs_dom	*dom;
	uint64_t	 started;
};

/* A bounce or delay warning handed to the commit worker, and what waits
 * for it. */
struct qs_bounce {
	struct qs_bounce	*next;
	struct queue_job	*job;
	struct qs_msg		*msg;
	int			 warning;	/* a delay warning: nothing to
						 * fail once it is queued */
	char			 qid[QUEUE_ID_SIZE];	/* the original */
	uint32_t		*idx;		/* its recipients to fail */
	size_t			 n;
	struct envelope		 env;		/* the bounce's envelope */
};

struct queue_sched {
	struct config		*cfg;
	struct event_loop	*loop;
	int			 spoolfd;
	struct queue_commit	*commit;
	struct queue_io		*io;		/* removals and rewrites
						 * (queue_io.h) */
	struct ipc_chan		*dlv;
	struct ipc_chan		*local;		/* the parent: local jobs */
	struct sched_index	 idx;		/* the messages */
	struct qs_dom		*doms;
	struct qs_job		*jobs;
	struct qs_bounce	*bounces;
	unsigned		 inflight;	/* remote jobs out */
	unsigned		 linflight;	/* local jobs out */
	uint64_t		 next_job;
	struct event_timer	*timer;
	uint64_t		 timer_at;
	int			 blocked;	/* a due message waits for a
						 * free slot */
	int			 stopped;
	int			 closing;	/* the commit worker is gone */
	int			 paused;	/* by the operator: no job goes
						 * out (queue/paused) */
	struct queue_sched_stats stats;		/* since start */
};

static void qs_arm(struct queue_sched *qs);

/* A changed envelope on its way to the disk (qs_env_changed), with what
 * its return finishes (qs_rewritten). */
struct qs_rewrite {
	char			 qid[QUEUE_ID_SIZE];
	struct envelope		 env;		/* as written */
	struct qs_outcome	*o;
	size_t			 n;
	uint32_t		*bidx;
	size_t			 nb;
	int			 warn;
	uint64_t		 gen;		/* the message's envgen */
};

static int qs_env_changed(struct queue_sched *qs, struct qs_msg *m,
    struct qs_rewrite *rw);

static uint64_t
qs_now(void)
{
	return (uint64_t)time(NULL);
}

static uint32_t
qs_rand(void *arg)
{
	uint32_t	v = 0;

	(void)arg;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

/* The schedule of the configuration: a backed-off destination waits like
 * a message's retries (retry-initial doubling up to retry-max). */
static void
qs_settings(const struct queue_sched *qs, struct schedule_settings *set)
{
	schedule_defaults(set);
	set->retry_initial = qs->cfg->retry_initial;
	set->retry_max = qs->cfg->retry_max;
	set->lifetime = qs->cfg->queue_lifetime;
	set->delay_warning = qs->cfg->delay_warning;
	set->dest_threshold = QS_DEST_THRESHOLD;
	set->dest_initial = qs->cfg->retry_initial;
	set->dest_max = qs->cfg->retry_max;
}

/* The domain of addr (lower case) into dom; "" when it has none. */
static void
qs_domain(const char *addr, char *dom, size_t size)
{
	const char	*at = strrchr(addr, '@');
	size_t		 i;

	dom[0] = '\0';
	if (at == NULL || strlcpy(dom, at + 1, size) >= size) {
		dom[0] = '\0';
		return;
	}
	for (i = 0; dom[i] != '\0'; i++)
		if (dom[i] >= 'A' && dom[i] <= 'Z')
			dom[i] = (char)(dom[i] - 'A' + 'a');
}

/* 1 if r is pending and has a domain: a job of the delivery process
 * (remote) or of the parent (local and virtual domains) takes it. */
static int
qs_routed(const struct queue_sched *qs, const struct envelope_rcpt *r)
{
	char	dom[256];

	(void)qs;
	if (r->state != RCPT_PENDING)
		return 0;
	qs_domain(r->addr, dom, sizeof(dom));
	return dom[0] != '\0';
}

/* 1 if dom (lower case) is delivered here: local or virtual. */
static int
qs_is_local(const struct queue_sched *qs, const char *dom)
{
	return config_is_local_domain(qs->cfg, dom) ||
	    config_is_virtual_domain(qs->cfg, dom);
}

static unsigned
qs_count_routed(const struct queue_sched *qs, const struct envelope *env)
{
	unsigned	n = 0;
	size_t		i;

	for (i = 0; i < env->nrcpt; i++)
		n += (unsigned)qs_routed(qs, &env->rcpts[i]);
	return n;
}

static size_t
qs_count_pending(const struct envelope *env)
{
	size_t	i, n = 0;

	for (i = 0; i < env->nrcpt; i++)
		n += env->rcpts[i].state == RCPT_PENDING;
	return n;
}

/* ---- messages and domains ---- */

static void
qs_msg_forget(struct queue_sched *qs, struct qs_msg *m)
{
	struct qs_job	 *j;
	struct qs_bounce *b;

	sidx_remove(&qs->idx, m);
	for (j = qs->jobs; j != NULL; j = j->next)
		if (j->msg == m)
			j->msg = NULL;
	for (b = qs->bounces; b != NULL; b = b->next)
		if (b->msg == m)
			b->msg = NULL;
	free(m);
}

static struct qs_dom *
qs_dom_find(struct queue_sched *qs, const char *name)
{
	struct qs_dom	*d;

	for (d = qs->doms; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct qs_dom *
qs_dom_get(struct queue_sched *qs, const char *name)
{
	struct qs_dom	*d;

	if ((d = qs_dom_find(qs, name)) != NULL)
		return d;
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->local = qs_is_local(qs, name);
	d->next = qs->doms;
	qs->doms = d;
	return d;
}

/* Remembers the one domain of env's pending remote recipients in m (NULL
 * when they have several), so that a message whose domain has no free
 * slot is passed over without reading its envelope. */
static void
qs_msg_domains(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env)
{
	char	dom[256], first[256] = "";
	size_t	i;

	m->dom1 = NULL;
	for (i = 0; i < env->nrcpt; i++) {
		if (!qs_routed(qs, &env->rcpts[i]))
			continue;
		qs_domain(env->rcpts[i].addr, dom, sizeof(dom));
		if (first[0] == '\0')
			(void)strlcpy(first, dom, sizeof(first));
		else if (strcmp(first, dom) != 0)
			return;
	}
	if (first[0] != '\0')
		m->dom1 = qs_dom_get(qs, first);
}

void
queue_sched_add(struct queue_sched *qs, const struct envelope *env)
{
	struct qs_msg	*m;

	if (qs_count_pending(env) == 0)
		return;
	if ((m = sidx_find(&qs->idx, env->id)) == NULL)
		m = sidx_add(&qs->idx, env->id);
	m->arrival = env->arrival;
	m->next_attempt = env->next_attempt;
	m->held = env->held != 0;
	m->npending = qs_count_routed(qs, env);
	qs_msg_domains(qs, m, env);
	sidx_resched(&qs->idx, m);
	qs_arm(qs);
}

/* ---- handing out jobs ---- */

/* The remote domains of env's pending recipients, distinct, into doms
 * (at most max); returns how many. */
static size_t
qs_job_domains(const struct queue_sched *qs, const struct envelope *env,
    char doms[][256], size_t max)
{
	char	dom[256];
	size_t	i, k, n = 0;

	for (i = 0; i < env->nrcpt && n < max; i++) {
		if (!qs_routed(qs, &env->rcpts[i]))
			continue;
		qs_domain(env->rcpts[i].addr, dom, sizeof(dom));
		for (k = 0; k < n; k++)
			if (strcmp(doms[k], dom) == 0)
				break;
		if (k == n)
			(void)strlcpy(doms[n++], dom, sizeof(doms[0]));
	}
	return n;
}

static void
qs_put_job(struct queue_sched *qs, const struct envelope *env,
    const char *dom, uint64_t jobid, struct buf *b)
{
	struct buf	 addr;
	char		 rdom[256];
	uint32_t	 flags = 0, n = 0;
	size_t		 i, npos;

	ipc_put_u64(b, jobid);
	ipc_put_str(b, env->id);
	buf_init(&addr);
	buf_printf(&addr, "<%s>", env->sender);
	ipc_put_str(b, addr.data);
	ipc_put_str(b, dom);
	ipc_put_u64(b, env->size);
	ipc_put_str(b, env->digest);
	if (env->body != NULL && strcmp(env->body, "8BITMIME") == 0)
		flags |= DJOB_F_8BIT;
	if (env->smtputf8)
		flags |= DJOB_F_SMTPUTF8;
	ipc_put_u32(b, flags);
	ipc_put_str(b, env->ret != NULL ? env->ret : "");
	ipc_put_str(b, env->envid != NULL ? env->envid : "");
	npos = b->len;
	ipc_put_u32(b, 0);
	for (i = 0; i < env->nrcpt; i++) {
		if (!qs_routed(qs, &env->rcpts[i]))
			continue;
		qs_domain(env->rcpts[i].addr, rdom, sizeof(rdom));
		if (strcmp(rdom, dom) != 0)
			continue;
		ipc_put_u32(b, (uint32_t)i);
		buf_reset(&addr);
		buf_printf(&addr, "<%s>", env->rcpts[i].addr);
		ipc_put_str(b, addr.data);
		ipc_put_u32(b, dsn_notify_bits(env->rcpts[i].notify));
		ipc_put_str(b, env->rcpts[i].orcpt != NULL ?
		    env->rcpts[i].orcpt : "");
		n++;
	}
	memcpy(b->data + npos, &n, sizeof(n));
	ipc_put_u64(b, env->arrival);
	buf_free(&addr);
}

/* One job of m for dom to the delivery process. */
static void
qs_send_job(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env, const char *dom, int fd)
{
	struct qs_job	*j;
	struct buf	 b;

	j = xcalloc(1, sizeof(*j));
	j->id = ++qs->next_job;
	j->msg = m;
	j->dom = qs_dom_get(qs, dom);
	j->started = qs_now();
	j->next = qs->jobs;
	qs->jobs = j;
	j->dom->inflight++;
	m->jobs++;
	sidx_resched(&qs->idx, m);
	if (j->dom->local)
		qs->linflight++;
	else
		qs->inflight++;
	buf_init(&b);
	qs_put_job(qs, env, dom, j->id, &b);
	if (j->dom->local)
		ipc_send_buf(qs->local, MSG_LD_JOB, 0, fd, &b);
	else
		ipc_send_buf(qs->dlv, MSG_D_JOB, 0, fd, &b);
	buf_free(&b);
	log_debug("%s: %s job %llu for %s", m->id, j->dom->local ? "local" :
	    "remote", (unsigned long long)j->id, dom);
}

/* 1 if every domain has a free slot, overall and per domain: remote
 * ones within max-deliveries and max-deliveries-per-domain, local ones
 * within max-local-deliveries; and a channel to take the job. */
static int
qs_slots(struct queue_sched *qs, char doms[][256], size_t n)
{
	struct qs_dom	*d;
	size_t		 i, nr = 0, nl = 0;

	for (i = 0; i < n; i++) {
		d = qs_dom_get(qs, doms[i]);
		if (d->local) {
			nl++;
			if (qs->local == NULL)
				return 0;
			continue;
		}
		nr++;
		if (qs->dlv == NULL ||
		    d->inflight >= qs->cfg->max_deliveries_per_domain)
			return 0;
	}
	if (nr > 0 && qs->inflight > 0 &&
	    qs->inflight + nr > qs->cfg->max_deliveries)
		return 0;
	if (nl > 0 && qs->linflight > 0 &&
	    qs->linflight + nl > qs->cfg->max_local_deliveries)
		return 0;
	return 1;
}

#define QS_MAX_DOMAINS	64	/* domains of one message per round */

/* Drops the backed-off destinations from doms; returns how many are
 * left, *until the earliest end of a dropped one's backoff (0: none). */
static size_t
qs_dest_filter(struct queue_sched *qs, char doms[][256], size_t n,
    uint64_t now, uint64_t *until)
{
	struct qs_dom	*d;
	size_t		 i, k = 0;

	*until = 0;
	for (i = 0; i < n; i++) {
		d = qs_dom_find(qs, doms[i]);
		if (d != NULL && !schedule_dest_ready(&d->bo, now)) {
			if (*until == 0 || d->bo.until < *until)
				*until = d->bo.until;
			continue;
		}
		if (k != i)
			memcpy(doms[k], doms[i], sizeof(doms[0]));
		k++;
	}
	return k;
}

/* A due message: its jobs go out, or it waits for a slot (0), or its
 * envelope cannot be read and it is forgotten (-1). */
static int
qs_dispatch(struct queue_sched *qs, struct qs_msg *m)
{
	static char	 doms[QS_MAX_DOMAINS][256];
	struct envelope	 env;
	char		 why[512], path[QUEUE_FS_PATHSIZE];
	size_t		 n, i;
	int		 fd;

	if (queue_fs_read_envelope(qs->spoolfd, m->id, &env, why,
	    sizeof(why)) == -1) {
		log_warnx("%s: cannot read the envelope: %s: not scheduled "
		    "until a restart", m->id, why);
		qs_msg_forget(qs, m);
		return -1;
	}
	m->npending = qs_count_routed(qs, &env);
	qs_msg_domains(qs, m, &env);
	n = qs_job_domains(qs, &env, doms, QS_MAX_DOMAINS);
	n = qs_dest_filter(qs, doms, n, qs_now(), &m->dest_until);
	if (n == 0) {
		if (m->dest_until != 0)
			log_debug("%s: its destinations are backed off: "
			    "waits", m->id);
		envelope_free(&env);
		return 1;
	}
	if (!qs_slots(qs, doms, n)) {
		envelope_free(&env);
		return 0;
	}
	queue_fs_path(path, QFS_QUEUE, m->id, "msg");
	for (i = 0; i < n; i++) {
		fd = openat(qs->spoolfd, path, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1) {
			log_warn("%s: open %s", m->id, path);
			break;
		}
		qs_send_job(qs, m, &env, doms[i], fd);
	}
	envelope_free(&env);
	return 1;
}

/* The slots of a job that is over. */
static void
qs_job_slot_free(struct queue_sched *qs, const struct qs_job *j)
{
	j->dom->inflight--;
	if (j->dom->local)
		qs->linflight--;
	else
		qs->inflight--;
}

/* A job taken off the list without a usable outcome (past its deadline,
 * or a malformed result): its slot is free and its message is deferred
 * without a word in the envelope, so its recipients go again on the
 * schedule. */
static void
qs_job_lost(struct queue_sched *qs, struct qs_job *j, uint64_t now)
{
	qs_job_slot_free(qs, j);
	if (j->msg != NULL) {
		j->msg->jobs--;
		j->msg->next_attempt = now + qs->cfg->retry_initial;
		sidx_resched(&qs->idx, j->msg);
	}
	free(j);
}

/* Jobs past their deadline count as deferred. */
static void
qs_expire_jobs(struct queue_sched *qs, uint64_t now)
{
	struct qs_job	**pp, *j;

	for (pp = &qs->jobs; (j = *pp) != NULL; ) {
		if (j->started + QS_JOB_DEADLINE > now) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		log_warnx("%s: job %llu for %s not answered in %d s: deferred",
		    j->msg != NULL ? j->msg->id : "-",
		    (unsigned long long)j->id, j->dom->name, QS_JOB_DEADLINE);
		qs_job_lost(qs, j, now);
	}
}

/* 1 if no job of any kind can go out now. */
static int
qs_full(const struct queue_sched *qs)
{
	return (qs->dlv == NULL || qs->inflight >= qs->cfg->max_deliveries) &&
	    (qs->local == NULL ||
	    qs->linflight >= qs->cfg->max_local_deliveries);
}

/* 1 if no job for d can go out now. */
static int
qs_dom_full(const struct queue_sched *qs, const struct qs_dom *d)
{
	if (d->local)
		return qs->local == NULL ||
		    qs->linflight >= qs->cfg->max_local_deliveries;
	return qs->dlv == NULL || qs->inflight >= qs->cfg->max_deliveries ||
	    d->inflight >= qs->cfg->max_deliveries_per_domain;
}

/*
 * The due messages, earliest first, each taken off the heap once: its
 * jobs go out, or it is set aside (no slot for its domain, or its
 * destinations backed off) and put back when the run ends.
 */
static void
qs_run(void *arg)
{
	struct queue_sched	*qs = arg;
	struct qs_msg		*m, **aside = NULL;
	uint64_t		 now = qs_now(), at;
	size_t			 naside = 0, capaside = 0, i;
	int			 rc;

	qs->timer = NULL;
	qs->blocked = 0;
	qs_expire_jobs(qs, now);
	while ((m = sidx_top(&qs->idx, &at)) != NULL && at <= now &&
	    !qs->stopped && !qs->paused) {
		/* Without a free slot it would wait: its envelope is not
		 * read (a long queue would be read at every result). */
		if (qs_full(qs)) {
			qs->blocked = 1;
			break;
		}
		sidx_unheap(&qs->idx, m);
		rc = 1;
		if (m->dom1 != NULL && qs_dom_full(qs, m->dom1))
			rc = 0;
		else if ((rc = qs_dispatch(qs, m)) == -1)
			continue;		/* forgotten */
		if (rc == 0)
			qs->blocked = 1;
		if (naside == capaside) {
			capaside = capaside == 0 ? 16 : capaside * 2;
			aside = xreallocarray(aside, capaside,
			    sizeof(*aside));
		}
		aside[naside++] = m;
	}
	for (i = 0; i < naside; i++)
		sidx_resched(&qs->idx, aside[i]);
	free(aside);
	qs_arm(qs);
}

/* The timer goes off at the earliest next attempt (or job deadline). */
static void
qs_arm(struct queue_sched *qs)
{
	struct qs_job	*j;
	uint64_t	 at, now = qs_now();

	if (qs->stopped)
		return;
	if (qs->paused || sidx_top(&qs->idx, &at) == NULL)
		at = QS_NEVER;
	if (qs->blocked && at != QS_NEVER && at <= now)
		at = now + 1;
	for (j = qs->jobs; j != NULL; j = j->next)
		if (j->started + QS_JOB_DEADLINE < at)
			at = j->started + QS_JOB_DEADLINE;
	if (qs->timer != NULL) {
		if (qs->timer_at <= at)
			return;
		event_timer_cancel(qs->loop, qs->timer);
		qs->timer = NULL;
	}
	if (at == QS_NEVER)
		return;
	qs->timer_at = at;
	qs->timer = event_timer_add(qs->loop, at > now ? (at - now) * 1000 : 0,
	    qs_run, qs);
}

/* ---- outcomes ---- */

struct qs_outcome {
	uint32_t	 index;
	uint32_t	 status;
	uint32_t	 code;
	char		 enh[16];
	char		*relay;
	char		*text;
	char		**fwd;		/* MSG_LD_RESULT: addresses it is
					 * forwarded to once delivered */
	size_t		 nfwd;
};

/* "550 5.1.1 text" or our own text alone, one clean line. */
static char *
qs_error_text(const struct qs_outcome *o)
{
	struct buf	 b;
	char		*s, code[16];
	size_t		 i;

	buf_init(&b);
	(void)bsnprintf(code, sizeof(code), "%u", o->code);
	if (o->code != 0 && strncmp(o->text, code, strlen(code)) != 0)
		buf_printf(&b, "%u %s ", o->code, o->enh);
	buf_addstr(&b, o->text[0] != '\0' ? o->text : "unknown error");
	if (b.len > QS_ERROR_MAX)
		b.data[QS_ERROR_MAX] = '\0';
	s = xstrdup(b.data);
	buf_free(&b);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
	return s;
}

static void
qs_log_outcome(const char *qid, const struct envelope *env,
    const struct envelope_rcpt *r, const struct qs_outcome *o,
    const char *status, uint64_t now)
{
	struct buf	 b;
	char		*err = qs_error_text(o);

	buf_init(&b);
	buf_printf(&b, "%s:", qid);
	logfmt_field_path(&b, "to", r->addr);
	logfmt_field(&b, "relay", o->relay[0] != '\0' ? o->relay : "none");
	/* attempts counts the failed ones (the schedule's n): this one is
	 * among them only when it was deferred. */
	buf_printf(&b, " delay=%llu attempts=%llu status=%s",
	    (unsigned long long)(now > env->arrival ? now - env->arrival : 0),
	    (unsigned long long)(env->attempts + (strcmp(status, "deferred") ==
	    0 ? 0 : 1)), status);
	logfmt_field(&b, "reply", err);
	log_info("%s", b.data);
	buf_free(&b);
	free(err);
}

static void
qs_set_error(struct envelope_rcpt *r, const struct qs_outcome *o)
{
	free(r->error);
	r->error = qs_error_text(o);
}

/* ---- bounces ---- */

/*
 * The report about dr[0..n) goes to the commit worker like a received
 * message.  fail[0..n) are the envelope indexes of the recipients that
 * fail once it is queued (a bounce), or NULL for a delay warning, which
 * changes nothing when it is queued.
 */
static int
qs_bounce_submit(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env, const struct dsn_rcpt *dr, size_t n,
    const uint32_t *fail)
{
	struct qs_bounce	*bo;
	struct queue_job	*job;
	struct queue_report	 rep;

	if (queue_report_make(qs->spoolfd, qs->cfg, env, dr, n, qs_now(),
	    &rep) == -1)
		return -1;
	bo = xcalloc(1, sizeof(*bo));
	bo->env = rep.env;
	bo->msg = m;
	(void)strlcpy(bo->qid, env->id, sizeof(bo->qid));
	bo->n = n;
	bo->warning = fail == NULL;
	bo->idx = xcalloc(n, sizeof(*bo->idx));
	if (fail != NULL)
		memcpy(bo->idx, fail, n * sizeof(*bo->idx));
	job = xcalloc(1, sizeof(*job));
	(void)strlcpy(job->id, rep.id, sizeof(job->id));
	buf_init(&job->env);
	envelope_serialize(&bo->env, &job->env);
	job->content_fd = rep.fd;
	job->arg = bo;
	bo->job = job;
	bo->next = qs->bounces;
	qs->bounces = bo;
	m->jobs++;
	sidx_resched(&qs->idx, m);
	queue_commit_submit(qs->commit, job);
	return 0;
}

/* A bounce for the outcomes oidx[0..n) of outs. */
static int
qs_fail_submit(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env, const struct qs_outcome *outs,
    const uint32_t *oidx, size_t n)
{
	struct dsn_rcpt	*dr;
	char		 (*hosts)[256];
	uint32_t	*fail;
	size_t		 i;
	int		 rc;

	dr = xcalloc(n, sizeof(*dr));
	hosts = xcalloc(n, sizeof(*hosts));
	fail = xcalloc(n, sizeof(*fail));
	for (i = 0; i < n; i++) {
		const struct qs_outcome *o = &outs[oidx[i]];

		fail[i] = o->index;
		dr[i].addr = env->rcpts[o->index].addr;
		dr[i].orcpt = env->rcpts[o->index].orcpt;
		dr[i].action = DSN_ACTION_FAILED;
		dr[i].status = o->enh[0] != '\0' ? o->enh : NULL;
		queue_report_relay_host(o->relay, hosts[i], sizeof(hosts[i]));
		dr[i].remote_mta = hosts[i][0] != '\0' ? hosts[i] : NULL;
		dr[i].remote_reply = o->code != 0 ? o->text : NULL;
		dr[i].reason = o->code == 0 ? o->text : NULL;
		dr[i].last_attempt = qs_now();
	}
	rc = qs_bounce_submit(qs, m, env, dr, n, fail);
	free(dr);
	free(hosts);
	free(fail);
	return rc;
}

/* ---- delay warnings ---- */

/* 1 if recipient r of env is one a delay warning reports: pending, tried
 * (it has a last error), and its sender wants to hear of delays. */
static int
qs_warn_wanted(const struct envelope *env, const struct envelope_rcpt *r)
{
	return r->state == RCPT_PENDING && r->error != NULL &&
	    dsn_destination(env->sender, dsn_notify_bits(r->notify),
	    DSN_ACTION_DELAYED) == DSN_DEST_SENDER;
}

/* The recipients of this outcome: envelope index -> outcome + 1. */
static size_t *
qs_outcome_map(const struct envelope *env, const struct qs_outcome *o,
    size_t n)
{
	size_t	*map = xcalloc(env->nrcpt + 1, sizeof(*map));
	size_t	 i;

	for (i = 0; i < n; i++)
		if (o[i].index < env->nrcpt)
			map[o[i].index] = i + 1;
	return map;
}

/* One recipient of the warning: from this attempt's outcome when it was
 * in it, else from the last error the envelope keeps. */
static void
qs_warn_rcpt(const struct envelope *env, const struct envelope_rcpt *r,
    const struct qs_outcome *o, struct dsn_rcpt *dr, char *enh,
    size_t enhlen, char *host, size_t hostlen)
{
	dr->addr = r->addr;
	dr->orcpt = r->orcpt;
	dr->action = DSN_ACTION_DELAYED;
	dr->retry_until = env->expiry;
	host[0] = '\0';
	if (o != NULL) {
		(void)strlcpy(enh, o->enh, enhlen);
		queue_report_relay_host(o->relay, host, hostlen);
		dr->last_attempt = qs_now();
	} else
		queue_report_error_status(r->error, enh, enhlen);
	if (enh[0] == '\0' || enh[0] != '4')
		queue_report_error_status(r->error, enh, enhlen);
	dr->status = enh[0] != '\0' ? enh : NULL;
	dr->remote_mta = host[0] != '\0' ? host : NULL;
	if (o != NULL ? o->code != 0 : isdigit((unsigned char)r->error[0]))
		dr->remote_reply = r->error;
	else
		dr->reason = r->error;
}

/* The delay warning of env (already marked warned in its envelope) to
 * its sender; outs are the outcomes of the attempt that made it due. */
static int
qs_warn_submit(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env, const struct qs_outcome *outs, size_t nout)
{
	struct dsn_rcpt	*dr;
	char		 (*enh)[16], (*hosts)[256];
	size_t		*map, i, n = 0;
	int		 rc = 0;

	map = qs_outcome_map(env, outs, nout);
	dr = xcalloc(env->nrcpt, sizeof(*dr));
	enh = xcalloc(env->nrcpt, sizeof(*enh));
	hosts = xcalloc(env->nrcpt, sizeof(*hosts));
	for (i = 0; i < env->nrcpt; i++) {
		if (!qs_warn_wanted(env, &env->rcpts[i]))
			continue;
		qs_warn_rcpt(env, &env->rcpts[i], map[i] != 0 ?
		    &outs[map[i] - 1] : NULL, &dr[n], enh[n], sizeof(enh[n]),
		    hosts[n], sizeof(hosts[n]));
		n++;
	}
	if (n > 0)
		rc = qs_bounce_submit(qs, m, env, dr, n, NULL);
	free(map);
	free(dr);
	free(enh);
	free(hosts);
	return rc;
}

/* A delay warning that could not be queued: the envelope forgets it was
 * sent, so a later deferral tries again. */
static void
qs_warn_undo(struct queue_sched *qs, const char *qid)
{
	struct envelope	env;
	char		why[512];

	(void)queue_io_settle(qs->io, qid);
	if (queue_fs_read_envelope(qs->spoolfd, qid, &env, why,
	    sizeof(why)) == -1)
		return;
	env.warned = 0;
	if (queue_fs_write_envelope(qs->spoolfd, &env, why,
	    sizeof(why)) == -1)
		log_warnx("%s: envelope rewrite failed: %s", qid, why);
	envelope_free(&env);
}

/*
 * Whether the attempt just deferred makes the message's one delay warning
 * due (schedule.h): then env is marked warned (the caller writes it
 * before the warning is queued: a crash loses the warning rather than
 * sending it twice).  1 if a warning must be queued, 0 if none is due or
 * no recipient wants one (the mark is set then too).
 */
static int
qs_warn_due(struct queue_sched *qs, struct envelope *env, uint64_t now)
{
	struct schedule_settings set;
	size_t			 i;

	qs_settings(qs, &set);
	if (!schedule_warn_due(&set, env->arrival, env->expiry, now,
	    env->warned != 0))
		return 0;
	env->warned = now;
	for (i = 0; i < env->nrcpt; i++)
		if (qs_warn_wanted(env, &env->rcpts[i]))
			return 1;
	log_info("%s: delayed, but no recipient asks for a delay warning",
	    env->id);
	return 0;
}

/* The message goes when nothing is pending: its removal is handed to
 * the thread (queue_io.h), which qs_io_finished hears back from; 1 if it
 * went. */
static int
qs_maybe_remove(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env)
{
	if (qs_count_pending(env) > 0)
		return 0;
	queue_io_remove(qs->io, env->id);
	if (m != NULL && m->jobs == 0)
		qs_msg_forget(qs, m);
	else if (m != NULL) {
		m->npending = 0;
		sidx_resched(&qs->idx, m);
	}
	return 1;
}

/* A delay warning's commit ended: it is queued, or the envelope forgets
 * that it was sent. */
static void
qs_warn_done(struct queue_sched *qs, struct qs_bounce *bo,
    struct queue_job *job)
{
	if (job->failed) {
		log_warnx("%s: delay warning commit failed: %s: tried again "
		    "at a later deferral", bo->qid, job->error);
		qs_warn_undo(qs, bo->qid);
		return;
	}
	log_info("%s: delay warning %s for %zu recipients", bo->qid, job->id,
	    bo->n);
	queue_sched_add(qs, &bo->env);
}

int
queue_sched_commit_done(struct queue_sched *qs, struct queue_job *job)
{
	struct qs_bounce	**pp, *bo;
	struct qs_rewrite	  rw;
	char			  why[512];
	size_t			  i;

	for (pp = &qs->bounces; (bo = *pp) != NULL; pp = &bo->next)
		if (bo->job == job)
			break;
	if (bo == NULL)
		return 0;
	*pp = bo->next;
	close(job->content_fd);
	if (bo->msg != NULL) {
		bo->msg->jobs--;
		sidx_resched(&qs->idx, bo->msg);
	}
	if (bo->warning)
		qs_warn_done(qs, bo, job);
	else if (job->failed) {
		log_warnx("%s: bounce commit failed: %s: the recipients stay "
		    "pending", bo->qid, job->error);
		if (bo->msg != NULL && bo->msg->next_attempt <= qs_now()) {
			bo->msg->next_attempt = qs_now() +
			    qs->cfg->retry_initial;
			sidx_resched(&qs->idx, bo->msg);
		}
	} else {
		log_info("%s: bounce %s for %zu recipients", bo->qid, job->id,
		    bo->n);
		queue_sched_add(qs, &bo->env);
		/* Its recipients are marked failed: the envelope goes to
		 * the disk as after a delivery attempt. */
		(void)queue_io_settle(qs->io, bo->qid);
		memset(&rw, 0, sizeof(rw));
		(void)strlcpy(rw.qid, bo->qid, sizeof(rw.qid));
		if (queue_fs_read_envelope(qs->spoolfd, bo->qid, &rw.env, why,
		    sizeof(why)) == -1)
			log_warnx("%s: cannot read the envelope: %s", bo->qid,
			    why);
		else {
			for (i = 0; i < bo->n; i++)
				if (bo->idx[i] < rw.env.nrcpt)
					rw.env.rcpts[bo->idx[i]].state =
					    RCPT_FAILED;
			if (!qs_env_changed(qs, bo->msg, &rw))
				envelope_free(&rw.env);
		}
	}
	envelope_free(&bo->env);
	free(bo->idx);
	free(bo);
	queue_job_free(job);
	qs_arm(qs);
	return 1;
}

/* ---- MSG_D_RESULT ---- */

static struct qs_job *
qs_job_take(struct queue_sched *qs, uint64_t id)
{
	struct qs_job	**pp, *j;

	for (pp = &qs->jobs; (j = *pp) != NULL; pp = &j->next) {
		if (j->id == id) {
			*pp = j->next;
			return j;
		}
	}
	return NULL;
}

static void
qs_outcomes_free(struct qs_outcome *o, size_t n)
{
	size_t	i;

	size_t	k;

	for (i = 0; i < n; i++) {
		free(o[i].relay);
		free(o[i].text);
		for (k = 0; k < o[i].nfwd; k++)
			free(o[i].fwd[k]);
		free(o[i].fwd);
	}
	free(o);
}

/* One recipient's outcome of MSG_D_RESULT: IPC_OK or the codec's error
 * (a bad status is IPC_ERR_SHORT's kin: reported as malformed too). */
static enum ipc_status
qs_read_outcome(struct ipc_msg *m, struct qs_outcome *o, int *badstatus)
{
	enum ipc_status	st;

	if ((st = ipc_msg_get_u32(m, &o->index)) != IPC_OK ||
	    (st = ipc_msg_get_u32(m, &o->status)) != IPC_OK ||
	    (st = ipc_msg_get_u32(m, &o->code)) != IPC_OK ||
	    (st = ipc_msg_get_str(m, o->enh, sizeof(o->enh))) != IPC_OK ||
	    (st = ipc_msg_get_strdup(m, &o->relay)) != IPC_OK ||
	    (st = ipc_msg_get_strdup(m, &o->text)) != IPC_OK)
		return st;
	*badstatus = o->status > DRES_HOLD;
	return IPC_OK;
}

/* MSG_LD_RESULT's tail: u32 n, n x { u32 index, str address }, each
 * address kept with the outcome of its recipient. */
static enum ipc_status
qs_read_forwards(struct ipc_msg *m, struct qs_outcome *o, size_t n)
{
	enum ipc_status	 st;
	uint32_t	 nf, i, index;
	char		*addr;
	size_t		 k;

	if ((st = ipc_msg_get_u32(m, &nf)) != IPC_OK)
		return st;
	if (nf > ENVELOPE_MAX_RCPT)
		return IPC_ERR_SHORT;
	for (i = 0; i < nf; i++) {
		if ((st = ipc_msg_get_u32(m, &index)) != IPC_OK ||
		    (st = ipc_msg_get_strdup(m, &addr)) != IPC_OK)
			return st;
		for (k = 0; k < n && o[k].index != index; k++)
			;
		if (k == n) {
			free(addr);
			return IPC_ERR_SHORT;
		}
		o[k].fwd = xreallocarray(o[k].fwd, o[k].nfwd + 1,
		    sizeof(*o[k].fwd));
		o[k].fwd[o[k].nfwd++] = addr;
	}
	return IPC_OK;
}

/*
 * MSG_D_RESULT, read with the codec rather than the dying channel
 * readers: a malformed result is refused on its own (DESIGN.md: one bad
 * request is that request's error), never a reason to end the queue.
 * 0 with the outcomes in *op (n of them, freed with qs_outcomes_free) and
 * the job's DRESF_* flags; -1 with why (*jobid is still set when it could
 * be read, else 0).
 */
static int
qs_read_result(struct ipc_msg *m, uint64_t *jobid, struct qs_outcome **op,
    size_t *np, uint32_t *flags, char *why, size_t whylen)
{
	struct qs_outcome	*o = NULL;
	enum ipc_status		 st;
	uint32_t		 n = 0, i = 0;
	int			 bad = 0;

	*jobid = 0;
	*op = NULL;
	*np = 0;
	*flags = 0;
	if ((st = ipc_msg_get_u64(m, jobid)) != IPC_OK ||
	    (st = ipc_msg_get_u32(m, &n)) != IPC_OK)
		goto fail;
	if (n > (m->len - m->pos) / 24) {
		(void)bsnprintf(why, whylen, "%u outcomes cannot fit", n);
		return -1;
	}
	o = xcalloc(n + 1, sizeof(*o));
	for (i = 0; i < n; i++)
		if ((st = qs_read_outcome(m, &o[i], &bad)) != IPC_OK || bad)
			break;
	if (bad) {
		(void)bsnprintf(why, whylen, "bad status %u", o[i].status);
		goto out;
	}
	if (i < n || (st = ipc_msg_get_u32(m, flags)) != IPC_OK ||
	    (m->type == MSG_LD_RESULT &&
	    (st = qs_read_forwards(m, o, n)) != IPC_OK) ||
	    (st = ipc_msg_end(m)) != IPC_OK)
		goto fail;
	*op = o;
	*np = n;
	return 0;
fail:
	(void)bsnprintf(why, whylen, "%s", ipc_strerror(st));
out:
	qs_outcomes_free(o, o != NULL ? n : 0);
	return -1;
}

static void
qs_hold(struct queue_sched *qs, struct qs_msg *m, const char *qid)
{
	if (queue_fs_hold(qs->spoolfd, qid) == -1)
		log_warn("%s: cannot move the message to hold/", qid);
	else
		log_warnx("%s: held: content digest mismatch", qid);
	if (m != NULL) {
		m->npending = 0;
		m->next_attempt = QS_NEVER;
		sidx_resched(&qs->idx, m);
	}
}

/* A deferred recipient past the expiry fails: 4.4.7. */
static void
qs_expire(struct qs_outcome *o)
{
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "delivery time expired; last error: %s", o->text);
	free(o->text);
	o->text = xstrdup(b.data);
	buf_free(&b);
	o->status = DRES_BOUNCED;
	o->code = 0;
	(void)strlcpy(o->enh, "4.4.7", sizeof(o->enh));
}

/* Applies the outcomes to env; the indexes of the ones to bounce go to
 * bidx (returns how many); *warn says whether a delay warning is due. */
/* ORCPT of a forwarded recipient: its original's, else the original
 * address as "rfc822;" xtext (RFC 3461 4.2). */
static char *
qs_forward_orcpt(const struct envelope_rcpt *orig)
{
	struct buf	 b;
	const char	*s;
	char		*out;

	if (orig->orcpt != NULL)
		return xstrdup(orig->orcpt);
	buf_init(&b);
	buf_addstr(&b, "rfc822;");
	for (s = orig->addr; *s != '\0'; s++) {
		if (*s < '!' || *s > '~' || *s == '+' || *s == '=')
			buf_printf(&b, "+%02X", (unsigned)(unsigned char)*s);
		else
			buf_add(&b, s, 1);
	}
	out = xstrdup(b.data);
	buf_free(&b);
	return out;
}

/*
 * A local recipient delivered by forwarding (an alias, the virtual map or
 * a .forward gave remote addresses): each address becomes a new pending
 * recipient of the same message, with the original's NOTIFY and ORCPT,
 * unless the envelope has it already or is full.
 */
static void
qs_forward(struct envelope *env, size_t idx, const struct qs_outcome *o)
{
	struct envelope_rcpt	*r;
	char			*notify, *orcpt;
	size_t			 k, i;

	for (k = 0; k < o->nfwd; k++) {
		for (i = 0; i < env->nrcpt; i++)
			if (strcasecmp(env->rcpts[i].addr, o->fwd[k]) == 0)
				break;
		if (i < env->nrcpt || !envelope_value_ok(o->fwd[k]) ||
		    strchr(o->fwd[k], '@') == NULL)
			continue;
		if (env->nrcpt >= ENVELOPE_MAX_RCPT) {
			log_warnx("%s: forwarding of %s to %s: the envelope "
			    "is full", env->id, env->rcpts[idx].addr,
			    o->fwd[k]);
			continue;
		}
		notify = env->rcpts[idx].notify != NULL ?
		    xstrdup(env->rcpts[idx].notify) : NULL;
		orcpt = qs_forward_orcpt(&env->rcpts[idx]);
		r = envelope_add_rcpt(env, o->fwd[k], RCPT_PENDING);
		r->notify = notify;
		r->orcpt = orcpt;
		log_info("%s: forwarded: orig_to=<%s> to=<%s>", env->id,
		    env->rcpts[idx].addr, o->fwd[k]);
	}
}

static size_t
qs_apply(struct queue_sched *qs, struct envelope *env, struct qs_outcome *o,
    size_t n, uint32_t *bidx, int *warn)
{
	struct schedule_settings set;
	struct envelope_rcpt	*r;
	uint64_t		 now = qs_now(), next;
	size_t			 i, nb = 0;
	int			 deferred = 0, expired = 0;

	for (i = 0; i < n; i++)
		deferred |= o[i].status == DRES_DEFERRED;
	if (deferred) {
		qs_settings(qs, &set);
		env->attempts++;
		if (schedule_after_failure(&set, env->expiry, now,
		    env->attempts, qs_rand, NULL, &next) == SCHEDULE_EXPIRE)
			expired = 1;
		else
			env->next_attempt = next;
	}
	for (i = 0; i < n; i++) {
		if (o[i].index >= env->nrcpt ||
		    env->rcpts[o[i].index].state != RCPT_PENDING) {
			log_warnx("%s: outcome for recipient %u, which is not "
			    "pending: ignored", env->id, o[i].index);
			continue;
		}
		r = &env->rcpts[o[i].index];
		if (o[i].status == DRES_DEFERRED && expired)
			qs_expire(&o[i]);
		switch (o[i].status) {
		case DRES_SENT:
			qs->stats.delivered++;
			r->state = RCPT_DELIVERED;
			free(r->error);
			r->error = NULL;
			qs_log_outcome(env->id, env, r, &o[i], "sent", now);
			break;
		case DRES_DEFERRED:
			qs->stats.deferred++;
			qs_set_error(r, &o[i]);
			qs_log_outcome(env->id, env, r, &o[i], "deferred",
			    now);
			break;
		default:
			qs->stats.bounced++;
			qs_set_error(r, &o[i]);
			qs_log_outcome(env->id, env, r, &o[i], "bounced", now);
			if (dsn_destination(env->sender,
			    dsn_notify_bits(r->notify), DSN_ACTION_FAILED) ==
			    DSN_DEST_NONE)
				r->state = RCPT_FAILED;
			else
				bidx[nb++] = (uint32_t)i;
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (o[i].status == DRES_SENT && o[i].nfwd > 0 &&
		    o[i].index < env->nrcpt)
			qs_forward(env, o[i].index, &o[i]);
	*warn = deferred && !expired && qs_warn_due(qs, env, now);
	return nb;
}

/* The envelope with the outcomes is written: bounces go to the commit
 * worker, or the message goes when nothing is pending. */
static void
qs_result_done(struct queue_sched *qs, struct qs_msg *m,
    const struct envelope *env, const struct qs_outcome *o,
    const uint32_t *bidx, size_t nb, int fresh)
{
	if (nb > 0 && m != NULL) {
		if (fresh)
			m->next_attempt = env->next_attempt;
		/* Without its bounce a recipient stays pending: it is tried
		 * again on the schedule, never at once. */
		if (qs_fail_submit(qs, m, env, o, bidx, nb) == -1) {
			log_warnx("%s: no bounce queued: %zu recipients stay "
			    "pending", env->id, nb);
			if (m->next_attempt <= qs_now())
				m->next_attempt = qs_now() +
				    qs->cfg->retry_initial;
		}
		sidx_resched(&qs->idx, m);
	} else if (!qs_maybe_remove(qs, m, env) && m != NULL && fresh) {
		m->next_attempt = env->next_attempt;
		sidx_resched(&qs->idx, m);
	}
}

/*
 * The rewrite of rw->env after outcomes rw->o ended; failed: why it
 * failed, or NULL.  Its bounce and delay warning are queued; the
 * message's schedule (m: its entry, or NULL) is set only if fresh: no
 * outcome of it was applied after this one (envgen), which set it then.
 */
static void
qs_rewritten(struct queue_sched *qs, struct qs_msg *m, struct qs_rewrite *rw,
    const char *failed, int fresh)
{
	if (failed != NULL) {
		/* The old envelope stays: the recipients go again later. */
		log_warnx("%s: envelope rewrite failed: %s", rw->qid, failed);
		if (m != NULL) {
			m->next_attempt = qs_now() + qs->cfg->retry_initial;
			sidx_resched(&qs->idx, m);
		}
	} else if (qs->closing) {
		/* No commit worker to take a bounce or warning: bounced
		 * recipients stay pending (tried again, and bounced then),
		 * and the envelope forgets the warning. */
		if (rw->nb > 0)
			log_warnx("%s: shutting down: no bounce queued: %zu "
			    "recipients stay pending", rw->qid, rw->nb);
		if (rw->warn)
			qs_warn_undo(qs, rw->qid);
	} else {
		if (rw->warn && m != NULL &&
		    qs_warn_submit(qs, m, &rw->env, rw->o, rw->n) == -1) {
			log_warnx("%s: no delay warning queued: tried again "
			    "at a later deferral", rw->qid);
			qs_warn_undo(qs, rw->qid);
		}
		qs_result_done(qs, m, &rw->env, rw->o, rw->bidx, rw->nb,
		    fresh);
	}
	if (fresh && m != NULL && sidx_find(&qs->idx, rw->qid) == m) {
		m->npending = qs_count_routed(qs, &rw->env);
		sidx_resched(&qs->idx, m);
	}
}

/*
 * cur->env was changed (m: the message's entry, or NULL): the message goes
 * if nothing is left to do, else the envelope is rewritten, on the
 * thread (1: a copy of cur went with it, and qs_rewrite_done takes it
 * back; what cur points to is the copy's now, not to be freed) or, with
 * no entry or at shutdown, here (0).
 */
static int
qs_env_changed(struct queue_sched *qs, struct qs_msg *m,
    struct qs_rewrite *cur)
{
	struct qs_rewrite	*rw;
	struct buf		 text;
	char			 why[512];

	if (m != NULL)
		m->envgen++;
	if (cur->nb == 0 && !cur->warn && qs_count_pending(&cur->env) == 0 &&
	    qs_maybe_remove(qs, m, &cur->env)) {
		/* Nothing left to do: the removal is the record, and a
		 * rewrite before it would only cost an fdatasync and a
		 * folder fsync. */
		return 0;
	}
	if (m != NULL && !qs->closing &&
	    envelope_check(&cur->env, why, sizeof(why)) == 0) {
		rw = xmalloc(sizeof(*rw));
		*rw = *cur;
		rw->gen = m->envgen;
		buf_init(&text);
		envelope_serialize(&rw->env, &text);
		queue_io_rewrite(qs->io, rw->qid, &text, rw);
		m->jobs++;
		sidx_resched(&qs->idx, m);
		return 1;
	}
	qs_rewritten(qs, m, cur, queue_fs_write_envelope(qs->spoolfd,
	    &cur->env, why, sizeof(why)) == -1 ? why : NULL, 1);
	return 0;
}

/*
 * Outcomes o[0..n) change the envelope of message qid (m: its entry, or
 * NULL).  The rewrite goes to the thread (queue_io.h) and its bounces,
 * warning and schedule wait for its return (qs_rewrite_done); the
 * message counts it among its jobs meanwhile, so it is neither due,
 * forgotten nor changed by an operator.  Returns 1 if o went with it
 * (freed on its return), 0 if the caller frees o.
 */
static int
qs_result_apply(struct queue_sched *qs, struct qs_msg *m, const char *qid,
    struct qs_outcome *o, size_t n)
{
	struct qs_rewrite	rw;
	char			why[512];
	size_t			i;

	/* What the thread has still to write of it is on the disk first:
	 * the envelope read is the last one written (two jobs of one
	 * message ending together; rare, and one rewrite long). */
	(void)queue_io_settle(qs->io, qid);
	for (i = 0; i < n; i++) {
		if (o[i].status == DRES_HOLD) {
			qs_hold(qs, m, qid);
			return 0;
		}
	}
	memset(&rw, 0, sizeof(rw));
	if (queue_fs_read_envelope(qs->spoolfd, qid, &rw.env, why,
	    sizeof(why)) == -1) {
		log_warnx("%s: outcome of a message whose envelope cannot be "
		    "read (%s): ignored", qid, why);
		return 0;
	}
	(void)strlcpy(rw.qid, qid, sizeof(rw.qid));
	rw.o = o;
	rw.n = n;
	rw.bidx = xcalloc(n + 1, sizeof(*rw.bidx));
	rw.nb = qs_apply(qs, &rw.env, o, n, rw.bidx, &rw.warn);
	if (qs_env_changed(qs, m, &rw))
		return 1;
	free(rw.bidx);
	envelope_free(&rw.env);
	return 0;
}

/* A rewrite came back from the thread. */
static void
qs_rewrite_done(struct queue_sched *qs, struct queue_io_op *op)
{
	struct qs_rewrite	*rw = op->arg;
	struct qs_msg		*m;

	if ((m = sidx_find(&qs->idx, rw->qid)) != NULL) {
		m->jobs--;
		sidx_resched(&qs->idx, m);
	}
	qs_rewritten(qs, m, rw, op->error != 0 ? op->why : NULL,
	    m != NULL && m->envgen == rw->gen);
	if ((m = sidx_find(&qs->idx, rw->qid)) != NULL && m->jobs == 0 &&
	    m->npending == 0 && m->next_attempt == QS_NEVER)
		qs_msg_forget(qs, m);
	qs_outcomes_free(rw->o, rw->n);
	free(rw->bidx);
	envelope_free(&rw->env);
	free(rw);
}

/* Operations the thread finished; how many. */
static size_t
qs_io_finished(struct queue_sched *qs)
{
	struct queue_io_op	*op, *next;
	size_t			 n = 0;

	for (op = queue_io_done(qs->io); op != NULL; op = next) {
		next = op->next;
		n++;
		if (op->kind == QUEUE_IO_REWRITE)
			qs_rewrite_done(qs, op);
		else if (op->error == 0)
			log_info("%s: removed", op->id);
		else
			log_warnx("%s: cannot remove the delivered message: "
			    "%s; what is left of it is taken up at the next "
			    "start", op->id, strerror(op->error));
		queue_io_op_free(op);
	}
	if (n > 0 && !qs->stopped)
		qs_arm(qs);
	return n;
}

static void
qs_io_event(int fd, int events, void *arg)
{
	(void)fd;
	(void)events;
	(void)qs_io_finished(arg);
}

/* What a job's outcome says about its destination: host-level failures
 * in a row back it off (schedule.h); an answer from a host about the
 * message (any reply to it, or a delivery) clears that. */
static void
qs_dest_result(struct queue_sched *qs, struct qs_dom *d,
    const struct qs_outcome *o, size_t n, uint32_t flags)
{
	struct schedule_settings set;
	struct qs_msg		*m;
	uint64_t		 now = qs_now();
	size_t			 i;
	int			 answered = 0;

	if (flags & DRESF_HOST) {
		qs_settings(qs, &set);
		schedule_dest_failed(&set, &d->bo, now, qs_rand, NULL);
		if (d->bo.until > now)
			log_info("destination %s backed off for %llu s after "
			    "%u host-level failures in a row", d->name,
			    (unsigned long long)(d->bo.until - now),
			    d->bo.failures);
		return;
	}
	for (i = 0; i < n; i++)
		answered |= o[i].code != 0;
	if (!answered || d->bo.failures == 0)
		return;
	if (d->bo.until != 0) {
		log_info("destination %s answers again: backoff cleared",
		    d->name);
		/* Messages that waited for it may go (a message waiting for
		 * another destination finds it still backed off). */
		for (m = qs->idx.head; m != NULL; m = m->next) {
			if (m->dest_until == 0)
				continue;
			m->dest_until = 0;
			sidx_resched(&qs->idx, m);
		}
	}
	schedule_dest_succeeded(&d->bo);
}

/* A slot is free: due messages may go now. */
static void
qs_kick(struct queue_sched *qs)
{
	if (qs->timer != NULL) {
		event_timer_cancel(qs->loop, qs->timer);
		qs->timer = NULL;
	}
	qs->blocked = 0;
	qs->timer_at = qs_now();
	qs->timer = event_timer_add(qs->loop, 0, qs_run, qs);
}

/* A result that cannot be read: the job, when its id is known, is
 * deferred (qs_job_lost); the queue goes on. */
static void
qs_result_refused(struct queue_sched *qs, uint64_t jobid, const char *why)
{
	struct qs_job	*j;

	if (jobid == 0 || (j = qs_job_take(qs, jobid)) == NULL) {
		log_warnx("delivery: malformed %s (%s), of no known job: "
		    "ignored", proto_msg_name(MSG_D_RESULT), why);
		return;
	}
	log_warnx("%s: delivery: malformed %s for job %llu (%s): deferred",
	    j->msg != NULL ? j->msg->id : "-", proto_msg_name(MSG_D_RESULT),
	    (unsigned long long)jobid, why);
	qs_job_lost(qs, j, qs_now());
	qs_kick(qs);
}

void
queue_sched_result(struct queue_sched *qs, struct ipc_msg *m)
{
	struct qs_outcome	*o;
	struct qs_job		*j;
	struct qs_msg		*msg;
	uint64_t		 jobid;
	uint32_t		 flags;
	size_t			 n;
	char			 qid[QUEUE_ID_SIZE], why[128];

	if (qs_read_result(m, &jobid, &o, &n, &flags, why,
	    sizeof(why)) == -1) {
		qs_result_refused(qs, jobid, why);
		return;
	}
	if ((j = qs_job_take(qs, jobid)) == NULL) {
		log_warnx("outcome of job %llu, which is unknown or past its "
		    "deadline: ignored", (unsigned long long)jobid);
		qs_outcomes_free(o, n);
		return;
	}
	qs_job_slot_free(qs, j);
	if (!j->dom->local)
		qs_dest_result(qs, j->dom, o, n, flags);
	msg = j->msg;
	free(j);
	if (msg == NULL) {
		qs_outcomes_free(o, n);
		qs_arm(qs);
		return;
	}
	msg->jobs--;
	sidx_resched(&qs->idx, msg);
	(void)strlcpy(qid, msg->id, sizeof(qid));
	if (qs_result_apply(qs, msg, qid, o, n))
		o = NULL;
	if ((msg = sidx_find(&qs->idx, qid)) != NULL && msg->jobs == 0 &&
	    msg->npending == 0 && msg->next_attempt == QS_NEVER)
		qs_msg_forget(qs, msg);
	if (o != NULL)
		qs_outcomes_free(o, n);
	qs_kick(qs);
}

/* ---- life cycle ---- */

struct queue_sched *
queue_sched_new(struct config *cfg, struct event_loop *loop, int spoolfd,
    struct queue_commit *commit)
{
	struct queue_sched	*qs;

	qs = xcalloc(1, sizeof(*qs));
	qs->cfg = cfg;
	qs->loop = loop;
	qs->spoolfd = spoolfd;
	qs->commit = commit;
	qs->io = queue_io_new(spoolfd);
	if (event_add(loop, queue_io_fd(qs->io), EV_READ, qs_io_event,
	    qs) == -1)
		fatal("event_add queue_io");
	qs->paused = queue_fs_paused(spoolfd);
	if (qs->paused)
		log_notice("delivery is paused (%s): strictmailctl resume "
		    "delivery to resume", QUEUE_FS_PAUSED);
	return qs;
}

/* The jobs of one kind (local or remote) are not coming back: they are
 * forgotten, and their messages go again on the schedule. */
static void
qs_jobs_drop(struct queue_sched *qs, int local)
{
	struct qs_job	**pp, *j;

	for (pp = &qs->jobs; (j = *pp) != NULL; ) {
		if (j->dom->local != local) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		qs_job_slot_free(qs, j);
		if (j->msg != NULL) {
			j->msg->jobs--;
			sidx_resched(&qs->idx, j->msg);
		}
		free(j);
	}
}

void
queue_sched_set_delivery(struct queue_sched *qs, struct ipc_chan *ch)
{
	qs->dlv = ch;
	if (ch != NULL)
		qs_arm(qs);
	else
		qs_jobs_drop(qs, 0);
}

void
queue_sched_set_local(struct queue_sched *qs, struct ipc_chan *ch)
{
	qs->local = ch;
	if (ch != NULL)
		qs_arm(qs);
	else
		qs_jobs_drop(qs, 1);
}

void
queue_sched_stop(struct queue_sched *qs)
{
	qs->stopped = 1;
	if (qs->timer != NULL)
		event_timer_cancel(qs->loop, qs->timer);
	qs->timer = NULL;
}

void
queue_sched_drain(struct queue_sched *qs)
{
	do
		(void)queue_io_settle(qs->io, NULL);
	while (qs_io_finished(qs) > 0);
}

void
queue_sched_free(struct queue_sched *qs)
{
	struct qs_dom	*d;
	struct qs_job	*j;

	if (qs == NULL)
		return;
	queue_sched_stop(qs);
	qs->closing = 1;
	queue_io_stop(qs->io);
	(void)qs_io_finished(qs);
	event_del(qs->loop, queue_io_fd(qs->io));
	queue_io_free(qs->io);
	while ((j = qs->jobs) != NULL) {
		qs->jobs = j->next;
		free(j);
	}
	sidx_free(&qs->idx);
	while ((d = qs->doms) != NULL) {
		qs->doms = d->next;
		free(d->name);
		free(d);
	}
	/* Bounces are finished by the commit worker's last round
	 * (queue_sched_commit_done) before this. */
	free(qs);
}

int
queue_sched_check(const struct queue_sched *qs)
{
	return sidx_check(&qs->idx);
}

/* ---- control hooks ---- */

unsigned
queue_sched_flush(struct queue_sched *qs)
{
	struct qs_dom	*d;
	struct qs_msg	*m;
	uint64_t	 now = qs_now();
	unsigned	 n = 0;

	for (d = qs->doms; d != NULL; d = d->next)
		schedule_dest_succeeded(&d->bo);
	for (m = qs->idx.head; m != NULL; m = m->next) {
		m->dest_until = 0;
		if (!sidx_waits(m))
			continue;
		if (m->next_attempt > now)
			m->next_attempt = now;
		sidx_resched(&qs->idx, m);
		n += m->npending;
	}
	if (qs->timer != NULL) {
		event_timer_cancel(qs->loop, qs->timer);
		qs->timer = NULL;
	}
	qs->blocked = 0;
	qs_arm(qs);
	return n;
}

void
queue_sched_stats(const struct queue_sched *qs, struct queue_sched_stats *st)
{
	*st = qs->stats;
}

/* ---- operator commands: hold, release, delete ---- */

/* The envelope of id, or "no message ID"; a message with a job or a
 * bounce out is refused ("being delivered"). */
static int
qs_op_read(struct queue_sched *qs, const char *id, struct envelope *env,
    char *err, size_t errlen)
{
	struct qs_msg	*m = sidx_find(&qs->idx, id);
	char		 why[512];

	if (m != NULL && m->jobs > 0) {
		(void)bsnprintf(err, errlen, "message %s is being delivered "
		    "now: try again when the attempt is over", id);
		return -1;
	}
	if (queue_io_pending(qs->io, id)) {
		(void)bsnprintf(err, errlen, "message %s is being written or "
		    "removed now: try again shortly", id);
		return -1;
	}
	if (!queue_id_valid(id) || queue_fs_read_envelope(qs->spoolfd, id,
	    env, why, sizeof(why)) == -1) {
		(void)bsnprintf(err, errlen, "no message %s", id);
		return -1;
	}
	return 0;
}

/* Writes env by the commit rule; 0, or -1 with err. */
static int
qs_op_write(struct queue_sched *qs, const struct envelope *env, char *err,
    size_t errlen)
{
	char	why[512];

	if (queue_fs_write_envelope(qs->spoolfd, env, why,
	    sizeof(why)) == 0)
		return 0;
	log_warnx("%s: envelope rewrite failed: %s", env->id, why);
	(void)bsnprintf(err, errlen, "%s: cannot write the envelope: %s",
	    env->id, why);
	return -1;
}

int
queue_sched_hold(struct queue_sched *qs, const char *id, const char *who,
    char *err, size_t errlen)
{
	struct envelope	env;
	struct qs_msg	*m;

	if (qs_op_read(qs, id, &env, err, errlen) == -1)
		return -1;
	if (env.held == 0) {
		env.held = qs_now();
		if (qs_op_write(qs, &env, err, errlen) == -1) {
			envelope_free(&env);
			return -1;
		}
	}
	if ((m = sidx_find(&qs->idx, id)) != NULL) {
		m->held = 1;
		sidx_resched(&qs->idx, m);
	}
	log_info("%s: held by %s", id, who);
	envelope_free(&env);
	qs_arm(qs);
	return 0;
}

int
queue_sched_release(struct queue_sched *qs, const char *id, const char *who,
    char *err, size_t errlen)
{
	struct envelope	env;

	if (qs_op_read(qs, id, &env, err, errlen) == -1)
		return -1;
	if (env.held == 0) {
		(void)bsnprintf(err, errlen, "message %s is not held", id);
		envelope_free(&env);
		return -1;
	}
	env.held = 0;
	env.next_attempt = qs_now();
	if (qs_op_write(qs, &env, err, errlen) == -1) {
		envelope_free(&env);
		return -1;
	}
	log_info("%s: released by %s", id, who);
	queue_sched_add(qs, &env);
	envelope_free(&env);
	return 0;
}

int
queue_sched_delete(struct queue_sched *qs, const char *id, const char *who,
    char *err, size_t errlen)
{
	struct envelope	env;
	struct qs_msg	*m;

	if (qs_op_read(qs, id, &env, err, errlen) == -1)
		return -1;
	envelope_free(&env);
	if (queue_fs_remove_done(qs->spoolfd, id, 1) == -1) {
		log_warn("%s: delete by %s", id, who);
		(void)bsnprintf(err, errlen, "%s: cannot remove the message: "
		    "%s", id, strerror(errno));
		return -1;
	}
	if ((m = sidx_find(&qs->idx, id)) != NULL)
		qs_msg_forget(qs, m);
	log_info("%s: deleted by %s", id, who);
	qs_arm(qs);
	return 0;
}

/* ---- pause and resume of delivery ---- */

int
queue_sched_paused(const struct queue_sched *qs)
{
	return qs->paused;
}

int
queue_sched_pause(struct queue_sched *qs, int pause, const char *who,
    char *err, size_t errlen)
{
	char	text[512], why[512];
	int	changed, rc;

	pause = pause != 0;
	if (qs->paused == pause) {
		log_info("delivery %s already (%s)", pause ? "paused" :
		    "running", who);
		return 0;
	}
	(void)bsnprintf(text, sizeof(text), "delivery paused at %llu by %s\n",
	    (unsigned long long)qs_now(), who);
	rc = queue_fs_set_paused(qs->spoolfd, pause, text, &changed, why,
	    sizeof(why));
	if (rc == -1)
		log_warnx("delivery %s by %s: %s", pause ? "pause" : "resume",
		    who, why);
	if (!changed) {
		(void)bsnprintf(err, errlen, "delivery not %s: %s", pause ?
		    "paused" : "resumed", why);
		return -1;
	}
	/* The file is renamed or removed: a restart finds the new state
	 * unless the folder's sync failed, which the operator is told. */
	qs->paused = pause;
	log_info("delivery %s by %s", pause ? "paused" : "resumed", who);
	if (!pause)
		qs_kick(qs);
	if (rc == -1) {
		(void)bsnprintf(err, errlen, "delivery %s, but a crash may "
		    "forget it: %s", pause ? "paused" : "resumed", why);
		return -1;
	}
	return 0;
}
