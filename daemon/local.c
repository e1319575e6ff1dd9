/*
 * local.c - local delivery, the parent's side (local.h): jobs from the
 * queue, expansion by the lookup process, one child per target, one
 * outcome per recipient back to the queue.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/proto.h"
#include "common/util.h"
#include "daemon/local.h"
#include "daemon/local_child.h"
#include "delivery/local.h"
#include "lookup/expand.h"

#define LD_ADDR_MAX	512
#define LD_TARGETS_MAX	1000	/* per recipient (expand.h's limit) */
#define LD_RESULT_MAX	(64 * 1024)	/* octets a child may write */
#define LD_PWBUF	16384

struct ld_job;

/* One original recipient of a job. */
struct ld_rcpt {
	uint32_t	 index;		/* in the envelope */
	char		*addr;		/* without angle brackets */
	int		 expanded;
	unsigned	 tasks;		/* children still out for it */
	struct local_result res;	/* the worst so far */
	char		 relay[128];	/* what took it, for the log */
	char		**fwd;		/* addresses to forward to */
	size_t		 nfwd;
};

struct ld_task {
	struct ld_task		*next;
	struct ld_job		*job;
	enum local_task_kind	 kind;
	char			*path;
	char			*user;
	int			 forward;
	size_t			*ri;		/* recipients it serves */
	char			**rcpts;	/* their Delivered-To values */
	size_t			 n;
	pid_t			 pid;
	int			 fd;
	struct buf		 out;		/* what the child wrote */
	struct event_timer	*timer;
};

struct ld_job {
	struct ld_job	*next;
	struct local	*ld;
	uint64_t	 id;
	char		 qid[64];
	char		*sender;	/* without angle brackets */
	char		*domain;
	uint64_t	 size;
	uint64_t	 arrival;
	int		 fd;		/* the content */
	struct ld_rcpt	*r;
	size_t		 nr;
	unsigned	 pending;	/* expansions not answered */
	uint32_t	 req0;		/* request id of r[0]'s expansion */
	struct ld_task	*lmtp;		/* the LMTP task being built */
	unsigned	 tasks;		/* children out */
};

struct local {
	struct config		*cfg;
	struct event_loop	*loop;
	int			 privileged;
	struct ipc_chan		*queue;
	struct ipc_chan		*lookup;
	struct ld_job		*jobs;
	struct ld_task		*tasks;		/* running */
	uint32_t		 next_req;
	gid_t			 mbox_gid;	/* group of a group-writable
						 * mbox-dir, or -1 */
};

static void ld_job_check(struct ld_job *j);

/* ---- life cycle ---- */

struct local *
local_new(struct config *cfg, struct event_loop *loop, int privileged)
{
	struct local	*ld;
	struct stat	 st;

	ld = xcalloc(1, sizeof(*ld));
	ld->cfg = cfg;
	ld->loop = loop;
	ld->privileged = privileged;
	ld->mbox_gid = (gid_t)-1;
	/* Debian's /var/mail is root:mail 2775: a delivery needs the
	 * group to create a mailbox or its dotlock there.  Never root's. */
	if (cfg->mbox_dir != NULL && stat(cfg->mbox_dir, &st) == 0 &&
	    (st.st_mode & S_IWGRP) != 0 && st.st_gid != 0)
		ld->mbox_gid = st.st_gid;
	return ld;
}

static void
ld_task_free(struct ld_task *t)
{
	size_t	i;

	if (t->timer != NULL)
		event_timer_cancel(t->job->ld->loop, t->timer);
	if (t->fd != -1) {
		event_del(t->job->ld->loop, t->fd);
		(void)close(t->fd);
	}
	for (i = 0; i < t->n; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t->ri);
	free(t->path);
	free(t->user);
	buf_free(&t->out);
	free(t);
}

static void
ld_job_free(struct ld_job *j)
{
	size_t	i, k;

	for (i = 0; i < j->nr; i++) {
		free(j->r[i].addr);
		for (k = 0; k < j->r[i].nfwd; k++)
			free(j->r[i].fwd[k]);
		free(j->r[i].fwd);
	}
	free(j->r);
	free(j->sender);
	free(j->domain);
	if (j->fd != -1)
		(void)close(j->fd);
	if (j->lmtp != NULL)
		ld_task_free(j->lmtp);
	free(j);
}

void
local_stop(struct local *ld)
{
	struct ld_task	*t;

	for (t = ld->tasks; t != NULL; t = t->next)
		if (t->pid > 0)
			(void)kill(t->pid, SIGKILL);
}

void
local_free(struct local *ld)
{
	struct ld_task	*t;
	struct ld_job	*j;

	if (ld == NULL)
		return;
	local_stop(ld);
	while ((t = ld->tasks) != NULL) {
		ld->tasks = t->next;
		ld_task_free(t);
	}
	while ((j = ld->jobs) != NULL) {
		ld->jobs = j->next;
		ld_job_free(j);
	}
	free(ld);
}

void
local_set_queue(struct local *ld, struct ipc_chan *queue)
{
	ld->queue = queue;
}

void
local_set_lookup(struct local *ld, struct ipc_chan *lookup)
{
	ld->lookup = lookup;
}

/* ---- outcomes ---- */

static void
ld_res_set(struct local_result *res, enum local_status st, const char *enh,
    const char *text)
{
	res->status = st;
	(void)strlcpy(res->enh, enh, sizeof(res->enh));
	(void)strlcpy(res->text, text, sizeof(res->text));
}

/* The worse of the two stays in acc: temporary > permanent > ok. */
static void
ld_res_merge(struct local_result *acc, const struct local_result *r)
{
	static const int rank[] = { 0, 2, 1 };

	if (rank[r->status] > rank[acc->status] ||
	    (acc->status == LOCAL_OK && acc->text[0] == '\0'))
		*acc = *r;
}

static void
ld_rcpt_fail(struct ld_rcpt *r, enum local_status st, const char *enh,
    const char *text)
{
	struct local_result	res;

	ld_res_set(&res, st, enh, text);
	ld_res_merge(&r->res, &res);
}

static void
ld_rcpt_forward(struct ld_rcpt *r, const char *addr)
{
	if (r->nfwd >= LD_TARGETS_MAX)
		return;
	r->fwd = xreallocarray(r->fwd, r->nfwd + 1, sizeof(*r->fwd));
	r->fwd[r->nfwd++] = xstrdup(addr);
}

/* The code of a server's reply that a result quotes ("550 5.1.1 ..."
 * from an LMTP server), else 0: our own words. */
static uint32_t
ld_reply_code(const char *text)
{
	if (text[0] < '2' || text[0] > '5' || text[1] < '0' || text[1] > '9' ||
	    text[2] < '0' || text[2] > '9' || text[3] != ' ')
		return 0;
	return (uint32_t)((text[0] - '0') * 100 + (text[1] - '0') * 10 +
	    (text[2] - '0'));
}

/*
 * MSG_LD_RESULT: the MSG_D_RESULT layout, then the forwarded addresses:
 * u32 n, n x { u32 index, str address }.
 */
static void
ld_job_answer(struct ld_job *j)
{
	struct buf	 b;
	uint32_t	 status, nf = 0;
	size_t		 i, k;

	buf_init(&b);
	ipc_put_u64(&b, j->id);
	ipc_put_u32(&b, (uint32_t)j->nr);
	for (i = 0; i < j->nr; i++) {
		const struct local_result *res = &j->r[i].res;

		status = res->status == LOCAL_OK ? DRES_SENT :
		    res->status == LOCAL_TEMP ? DRES_DEFERRED : DRES_BOUNCED;
		ipc_put_u32(&b, j->r[i].index);
		ipc_put_u32(&b, status);
		ipc_put_u32(&b, ld_reply_code(res->text));
		ipc_put_str(&b, res->enh[0] != '\0' ? res->enh :
		    res->status == LOCAL_OK ? "2.0.0" :
		    res->status == LOCAL_TEMP ? "4.0.0" : "5.0.0");
		ipc_put_str(&b, j->r[i].relay[0] != '\0' ? j->r[i].relay :
		    "local");
		ipc_put_str(&b, res->text[0] != '\0' ? res->text :
		    "delivered");
		if (res->status == LOCAL_OK)
			nf += (uint32_t)j->r[i].nfwd;
	}
	ipc_put_u32(&b, 0);
	ipc_put_u32(&b, nf);
	for (i = 0; i < j->nr; i++) {
		if (j->r[i].res.status != LOCAL_OK)
			continue;
		for (k = 0; k < j->r[i].nfwd; k++) {
			ipc_put_u32(&b, j->r[i].index);
			ipc_put_str(&b, j->r[i].fwd[k]);
		}
	}
	if (j->ld->queue != NULL)
		ipc_send_buf(j->ld->queue, MSG_LD_RESULT, 0, -1, &b);
	buf_free(&b);
}

static void
ld_job_unlink(struct ld_job *j)
{
	struct ld_job	**pp;

	for (pp = &j->ld->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			return;
		}
	}
}

/* Every expansion answered and every child done: the queue learns. */
static void
ld_job_check(struct ld_job *j)
{
	if (j->pending > 0 || j->tasks > 0)
		return;
	ld_job_answer(j);
	ld_job_unlink(j);
	ld_job_free(j);
}

/* ---- children ---- */

static void
ld_task_unlink(struct ld_task *t)
{
	struct ld_task	**pp;

	for (pp = &t->job->ld->tasks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

/* One "R status enh text" line into res; -1 if it is not one. */
static int
ld_parse_result(char *line, struct local_result *res)
{
	char	*enh, *text;

	if (line[0] != 'R' || line[1] != ' ' || line[2] < '0' ||
	    line[2] > '2' || line[3] != ' ')
		return -1;
	enh = line + 4;
	if ((text = strchr(enh, ' ')) == NULL)
		return -1;
	*text++ = '\0';
	memset(res, 0, sizeof(*res));
	res->status = (enum local_status)(line[2] - '0');
	(void)strlcpy(res->enh, strcmp(enh, "-") == 0 ? "" : enh,
	    sizeof(res->enh));
	(void)strlcpy(res->text, text, sizeof(res->text));
	return 0;
}

static void
ld_task_log(const struct ld_task *t, const struct ld_rcpt *r,
    const struct local_result *res)
{
	struct buf	b;

	buf_init(&b);
	buf_printf(&b, "%s:", t->job->qid);
	logfmt_field_path(&b, "to", r->addr);
	logfmt_field(&b, "local", local_task_kind_name(t->kind));
	logfmt_field(&b, "user", t->user);
	logfmt_field(&b, "target", t->path);
	logfmt_field(&b, "result", res->status == LOCAL_OK ? "ok" :
	    res->status == LOCAL_TEMP ? "deferred" : "failed");
	logfmt_field(&b, "text", res->text);
	log_info("%s", b.data);
	buf_free(&b);
}

/* The child is done (its pipe ended): its lines become outcomes. */
static void
ld_task_done(struct ld_task *t)
{
	struct ld_job		*j = t->job;
	struct local_result	 res;
	struct ld_rcpt		*r;
	char			*line, *save = NULL;
	size_t			 k = 0, i;

	buf_addstr(&t->out, "");
	for (line = strtok_r(t->out.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == 'F' && line[1] == ' ' && t->n > 0) {
			ld_rcpt_forward(&j->r[t->ri[0]], line + 2);
			continue;
		}
		if (k >= t->n || ld_parse_result(line, &res) == -1)
			continue;
		r = &j->r[t->ri[k++]];
		ld_task_log(t, r, &res);
		ld_res_merge(&r->res, &res);
		if (r->relay[0] == '\0')
			(void)bsnprintf(r->relay, sizeof(r->relay), "%s",
			    local_task_kind_name(t->kind));
	}
	for (i = k; i < t->n; i++) {
		ld_res_set(&res, LOCAL_TEMP, "4.3.0", "the local delivery "
		    "process ended without a result");
		ld_task_log(t, &j->r[t->ri[i]], &res);
		ld_res_merge(&j->r[t->ri[i]].res, &res);
	}
	for (i = 0; i < t->n; i++)
		j->r[t->ri[i]].tasks--;
	ld_task_unlink(t);
	ld_task_free(t);
	j->tasks--;
	ld_job_check(j);
}

static void
ld_task_readable(int fd, int events, void *arg)
{
	struct ld_task	*t = arg;
	char		 buf[4096];
	ssize_t		 n;

	(void)events;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (t->out.len + (size_t)n <= LD_RESULT_MAX)
				buf_add(&t->out, buf, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		break;
	}
	ld_task_done(t);
}

static void
ld_task_timeout(void *arg)
{
	struct ld_task	*t = arg;

	t->timer = NULL;
	log_warnx("%s: local delivery to %s by pid %ld took more than %llu "
	    "s: killed", t->job->qid, t->path, (long)t->pid,
	    (unsigned long long)t->job->ld->cfg->local_timeout);
	if (t->pid > 0)
		(void)kill(t->pid, SIGKILL);
}

/* The identity of user: 0, or -1 with why. */
static int
ld_user(const char *name, struct passwd *pw, char *pwbuf, size_t size,
    char *why, size_t whylen)
{
	struct passwd	*res = NULL;
	int		 err;

	err = getpwnam_r(name, pw, pwbuf, size, &res);
	if (res != NULL)
		return 0;
	(void)bsnprintf(why, whylen, "%s: %s", name, err != 0 ?
	    strerror(err) : "no such user");
	return -1;
}

/* Forks t's child; on failure every recipient of t fails for now. */
static void
ld_task_start(struct ld_task *t)
{
	struct local		*ld = t->job->ld;
	struct ld_job		*j = t->job;
	struct local_task_spec	 s;
	struct passwd		 pw;
	char			 pwbuf[LD_PWBUF], why[512];
	size_t			 i;

	memset(&s, 0, sizeof(s));
	s.kind = t->kind;
	s.path = t->path;
	s.user = t->user;
	s.extra_gid = (gid_t)-1;
	s.forward = t->forward;
	s.rcpts = (const char *const *)t->rcpts;
	s.nrcpts = t->n;
	s.content_fd = j->fd;
	s.size = j->size;
	s.sender = j->sender;
	s.hostname = ld->cfg->hostname;
	s.arrival = (time_t)j->arrival;
	s.command_timeout = (unsigned)ld->cfg->command_timeout;
	s.delimiter = ld->cfg->recipient_delimiter;
	s.privileged = ld->privileged;
	for (i = 0; i < t->n; i++)
		j->r[t->ri[i]].tasks++;
	j->tasks++;
	t->fd = -1;
	t->next = ld->tasks;
	ld->tasks = t;
	if (ld_user(t->user, &pw, pwbuf, sizeof(pwbuf), why,
	    sizeof(why)) == 0) {
		s.uid = pw.pw_uid;
		s.gid = pw.pw_gid;
		s.home = pw.pw_dir;
		if (t->kind == LT_MBOX || t->kind == LT_FILE)
			s.extra_gid = ld->mbox_gid;
		if ((t->pid = local_child_start(&s, &t->fd)) != -1 &&
		    event_add(ld->loop, t->fd, EV_READ, ld_task_readable,
		    t) == 0) {
			t->timer = event_timer_add(ld->loop,
			    ld->cfg->local_timeout * 1000, ld_task_timeout, t);
			return;
		}
		(void)bsnprintf(why, sizeof(why), "cannot start the local "
		    "delivery: %s", strerror(errno));
	}
	/* The pipe (if any) is closed by ld_task_free: ld_task_done. */
	if (t->pid > 0)
		(void)kill(t->pid, SIGKILL);
	t->pid = -1;
	buf_reset(&t->out);
	buf_printf(&t->out, "R 1 4.3.0 %s\n", why);
	for (i = 1; i < t->n; i++)
		buf_printf(&t->out, "R 1 4.3.0 %s\n", why);
	ld_task_done(t);
}

static struct ld_task *
ld_task_new(struct ld_job *j, enum local_task_kind kind, const char *path,
    const char *user)
{
	struct ld_task	*t;

	t = xcalloc(1, sizeof(*t));
	t->job = j;
	t->kind = kind;
	t->path = xstrdup(path);
	t->user = xstrdup(user);
	t->fd = -1;
	buf_init(&t->out);
	return t;
}

static void
ld_task_add_rcpt(struct ld_task *t, size_t ri, const char *rcpt)
{
	t->ri = xreallocarray(t->ri, t->n + 1, sizeof(*t->ri));
	t->rcpts = xreallocarray(t->rcpts, t->n + 1, sizeof(*t->rcpts));
	t->ri[t->n] = ri;
	t->rcpts[t->n] = xstrdup(rcpt);
	t->n++;
}

/* A user's mailbox: mbox, Maildir, or a share of the job's LMTP. */
static void
ld_mailbox(struct ld_job *j, size_t ri, const struct expand_target *x)
{
	struct config	*cfg = j->ld->cfg;
	struct ld_task	*t;
	struct passwd	 pw;
	char		 path[1024], pwbuf[LD_PWBUF], why[512];
	unsigned	 kind = config_mailbox_of(cfg, x->user);

	if (kind == CONFIG_MAILBOX_LMTP) {
		if (cfg->lmtp_socket == NULL) {
			ld_rcpt_fail(&j->r[ri], LOCAL_TEMP, "4.3.5",
			    "mailbox lmtp without lmtp-socket");
			return;
		}
		if (j->lmtp == NULL)
			j->lmtp = ld_task_new(j, LT_LMTP, cfg->lmtp_socket,
			    cfg->alias_user);
		ld_task_add_rcpt(j->lmtp, ri, x->value);
		return;
	}
	if (kind == CONFIG_MAILBOX_MAILDIR) {
		if (ld_user(x->user, &pw, pwbuf, sizeof(pwbuf), why,
		    sizeof(why)) == -1) {
			ld_rcpt_fail(&j->r[ri], LOCAL_TEMP, "4.3.0", why);
			return;
		}
		(void)bsnprintf(path, sizeof(path), "%s/%s", pw.pw_dir,
		    cfg->maildir);
		t = ld_task_new(j, LT_MAILDIR, path, x->user);
	} else {
		(void)bsnprintf(path, sizeof(path), "%s/%s", cfg->mbox_dir,
		    x->user);
		t = ld_task_new(j, LT_MBOX, path, x->user);
	}
	t->forward = !(x->flags & EXPAND_F_NOFORWARD);
	ld_task_add_rcpt(t, ri, x->value);
	ld_task_start(t);
}

/* One target of recipient ri's expansion. */
static void
ld_target(struct ld_job *j, size_t ri, const struct expand_target *x)
{
	struct ld_task	*t;

	switch (x->kind) {
	case EXP_MAILBOX:
		ld_mailbox(j, ri, x);
		break;
	case EXP_FILE:
	case EXP_PIPE:
		t = ld_task_new(j, x->kind == EXP_FILE ? LT_FILE : LT_PIPE,
		    x->value, x->user);
		ld_task_add_rcpt(t, ri, j->r[ri].addr);
		ld_task_start(t);
		break;
	case EXP_REMOTE:
		ld_rcpt_forward(&j->r[ri], x->value);
		break;
	case EXP_ERROR:
		ld_rcpt_fail(&j->r[ri], (x->flags & EXPAND_F_TEMP) ?
		    LOCAL_TEMP : LOCAL_PERM, (x->flags & EXPAND_F_TEMP) ?
		    "4.3.0" : "5.1.1", x->value);
		break;
	}
}

/* ---- expansion ---- */

static void
ld_expand_send(struct ld_job *j, size_t i)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, j->r[i].addr);
	ipc_send_buf(j->ld->lookup, MSG_L_EXPAND, j->req0 + (uint32_t)i, -1,
	    &b);
	buf_free(&b);
}

static struct ld_job *
ld_job_of_req(struct local *ld, uint32_t req, size_t *ri)
{
	struct ld_job	*j;

	for (j = ld->jobs; j != NULL; j = j->next) {
		if (req >= j->req0 && req - j->req0 < j->nr &&
		    !j->r[req - j->req0].expanded) {
			*ri = req - j->req0;
			return j;
		}
	}
	return NULL;
}

/* Reads the targets of an MSG_L_EXPAND_RESULT; -1 if malformed. */
static int
ld_read_targets(struct ipc_msg *m, uint32_t *status, char *reason,
    size_t rlen, struct expand_target **xp, uint32_t *np)
{
	struct expand_target	*x;
	uint32_t		 n, i, kind, flags;

	*xp = NULL;
	*np = 0;
	if (ipc_msg_get_u32(m, status) != IPC_OK ||
	    ipc_msg_get_str(m, reason, rlen) != IPC_OK ||
	    ipc_msg_get_u32(m, &n) != IPC_OK || n > LD_TARGETS_MAX)
		return -1;
	x = xcalloc(n + 1, sizeof(*x));
	for (i = 0; i < n; i++) {
		if (ipc_msg_get_u32(m, &kind) != IPC_OK || kind > EXP_ERROR ||
		    ipc_msg_get_strdup(m, &x[i].user) != IPC_OK ||
		    ipc_msg_get_strdup(m, &x[i].value) != IPC_OK ||
		    ipc_msg_get_u32(m, &flags) != IPC_OK)
			break;
		x[i].kind = (enum expand_kind)kind;
		x[i].flags = (int)flags;
	}
	*xp = x;
	*np = i;
	if (i < n || ipc_msg_end(m) != IPC_OK)
		return -1;
	return 0;
}

static void
ld_targets_free(struct expand_target *x, uint32_t n)
{
	uint32_t	i;

	for (i = 0; i < n + 1 && x != NULL; i++) {
		free(x[i].user);
		free(x[i].value);
	}
	free(x);
}

/* Recipient ri's expansion, as the lookup process answered it. */
static void
ld_expanded(struct ld_job *j, size_t ri, uint32_t status, const char *reason,
    const struct expand_target *x, uint32_t n)
{
	struct ld_rcpt	*r = &j->r[ri];
	uint32_t	 i;

	r->expanded = 1;
	j->pending--;
	j->tasks++;		/* the job stays while its targets start */
	switch (status) {
	case EXPAND_OK:
		for (i = 0; i < n; i++)
			ld_target(j, ri, &x[i]);
		break;
	case EXPAND_NOTFOUND:
		ld_rcpt_fail(r, LOCAL_PERM, "5.1.1", reason[0] != '\0' ?
		    reason : "no such user here");
		break;
	case EXPAND_LOOP:
		ld_rcpt_fail(r, LOCAL_PERM, "5.4.6", reason);
		break;
	default:
		ld_rcpt_fail(r, LOCAL_TEMP, "4.3.0", reason[0] != '\0' ?
		    reason : "lookup failed");
		break;
	}
	if (j->pending == 0 && j->lmtp != NULL) {
		struct ld_task	*t = j->lmtp;

		j->lmtp = NULL;
		ld_task_start(t);
	}
	j->tasks--;
	ld_job_check(j);
}

void
local_expand_result(struct local *ld, struct ipc_msg *m)
{
	struct expand_target	*x = NULL;
	struct ld_job		*j;
	uint32_t		 status, n;
	size_t			 ri;
	char			 reason[1024];

	if (ipc_no_fd(m) == -1)
		return;
	if ((j = ld_job_of_req(ld, m->session, &ri)) == NULL) {
		log_warnx("lookup: expansion %u of no waiting recipient: "
		    "ignored", m->session);
		return;
	}
	if (ld_read_targets(m, &status, reason, sizeof(reason), &x,
	    &n) == -1) {
		ld_targets_free(x, n);
		ld_expanded(j, ri, EXPAND_TEMPFAIL, "malformed expansion "
		    "from the lookup process", NULL, 0);
		return;
	}
	ld_expanded(j, ri, status, reason, x, n);
	ld_targets_free(x, n);
}

/* ---- jobs ---- */

/* "<a@b>" -> "a@b" */
static char *
ld_unbracket(const char *s)
{
	size_t	len = strlen(s);

	if (len >= 2 && s[0] == '<' && s[len - 1] == '>')
		return xstrndup(s + 1, len - 2);
	return xstrdup(s);
}

/* MSG_LD_JOB (proto.h: as MSG_D_JOB) into j; -1 if malformed. */
static int
ld_read_job(struct ipc_msg *m, struct ld_job *j)
{
	char		 s[LD_ADDR_MAX], digest[128], ret[16], envid[512];
	char		 orcpt[1024];
	uint32_t	 flags, n, i, notify;

	if (ipc_msg_get_u64(m, &j->id) != IPC_OK ||
	    ipc_msg_get_str(m, j->qid, sizeof(j->qid)) != IPC_OK ||
	    ipc_msg_get_str(m, s, sizeof(s)) != IPC_OK)
		return -1;
	j->sender = ld_unbracket(s);
	if (ipc_msg_get_str(m, s, sizeof(s)) != IPC_OK)
		return -1;
	j->domain = xstrdup(s);
	if (ipc_msg_get_u64(m, &j->size) != IPC_OK ||
	    ipc_msg_get_str(m, digest, sizeof(digest)) != IPC_OK ||
	    ipc_msg_get_u32(m, &flags) != IPC_OK ||
	    ipc_msg_get_str(m, ret, sizeof(ret)) != IPC_OK ||
	    ipc_msg_get_str(m, envid, sizeof(envid)) != IPC_OK ||
	    ipc_msg_get_u32(m, &n) != IPC_OK || n == 0 || n > 100000 ||
	    n > (m->len - m->pos) / 16)
		return -1;
	j->r = xcalloc(n, sizeof(*j->r));
	for (i = 0; i < n; i++, j->nr++) {
		if (ipc_msg_get_u32(m, &j->r[i].index) != IPC_OK ||
		    ipc_msg_get_str(m, s, sizeof(s)) != IPC_OK ||
		    ipc_msg_get_u32(m, &notify) != IPC_OK ||
		    ipc_msg_get_str(m, orcpt, sizeof(orcpt)) != IPC_OK)
			return -1;
		j->r[i].addr = ld_unbracket(s);
		j->r[i].res.status = LOCAL_OK;
	}
	if (ipc_msg_get_u64(m, &j->arrival) != IPC_OK ||
	    ipc_msg_end(m) != IPC_OK)
		return -1;
	return 0;
}

void
local_job(struct local *ld, struct ipc_msg *m)
{
	struct ld_job	*j;
	size_t		 i;

	j = xcalloc(1, sizeof(*j));
	j->ld = ld;
	j->fd = ipc_take_fd(m);
	if (ld_read_job(m, j) == -1 || j->fd == -1) {
		log_warnx("queue: malformed %s (job %llu): ignored, the "
		    "queue defers it at its deadline", proto_msg_name(m->type),
		    (unsigned long long)j->id);
		ld_job_free(j);
		return;
	}
	j->next = ld->jobs;
	ld->jobs = j;
	if (ld->lookup == NULL) {
		for (i = 0; i < j->nr; i++)
			ld_rcpt_fail(&j->r[i], LOCAL_TEMP, "4.3.0",
			    "the lookup process is not running");
		ld_job_check(j);
		return;
	}
	j->req0 = ld->next_req + 1;
	ld->next_req += (uint32_t)j->nr + 1;
	j->pending = (unsigned)j->nr;
	for (i = 0; i < j->nr; i++)
		ld_expand_send(j, i);
}

int
local_reaped(struct local *ld, pid_t pid, int status)
{
	struct ld_task	*t;

	for (t = ld->tasks; t != NULL; t = t->next) {
		if (t->pid == pid) {
			if (WIFSIGNALED(status) || (WIFEXITED(status) &&
			    WEXITSTATUS(status) != 0))
				log_warnx("%s: local delivery process %ld for "
				    "%s ended with status %d", t->job->qid,
				    (long)pid, t->path, status);
			t->pid = 0;
			return 1;
		}
	}
	return 0;
}
