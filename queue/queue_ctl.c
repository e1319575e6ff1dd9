/*
 * queue_ctl.c - MSG_C_LIST, MSG_C_SHOW, MSG_C_FLUSH and the operator's
 * commands in the queue process (queue_ctl.h).  The envelopes are read
 * from queue/XX/ as they are on disk, so a list shows what a restart
 * would recover.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_ctl.h"
#include "queue/queue_id.h"
#include "queue/queue_fs.h"

#define QUEUE_CTL_USER_MAX	256

struct queue_ctl {
	const struct config	*cfg;
	struct ipc_chan		*chan;		/* NULL when none */
	int			 spoolfd;
	queue_ctl_flush_fn	 flush;
	void			*flush_arg;
	queue_ctl_op_fn		 op;
	queue_ctl_counts_fn	 counts;
	void			*ops_arg;
};

static struct queue_ctl	queue_ctl;

/* Called for every envelope read; returns nothing. */
typedef void (*queue_ctl_each_cb)(const struct envelope *env, void *arg);

int
queue_ctl_owner(const struct config *cfg, const char *sender,
    const char *user)
{
	const char	*at;
	size_t		 len;

	if (user[0] == '\0')
		return 1;
	if (sender[0] == '\0')
		return 0;
	at = strrchr(sender, '@');
	len = at != NULL ? (size_t)(at - sender) : strlen(sender);
	if (len != strlen(user) || strncmp(sender, user, len) != 0)
		return 0;
	return at == NULL || config_is_local_domain(cfg, at + 1);
}

/* Reads and parses name (an ID.env) in the folder dirfd; 0 or -1. */
static int
queue_ctl_read(const char *id, struct envelope *env)
{
	char	why[256];

	if (queue_fs_read_envelope(queue_ctl.spoolfd, id, env, why,
	    sizeof(why)) == 0)
		return 0;
	log_debug("control: %s: not listed: %s", id, why);	/* or gone */
	return -1;
}

/* 1 if name is "<valid queue id>.env". */
static int
queue_ctl_env_name(const char *name, char id[QUEUE_ID_SIZE])
{
	size_t	len = strlen(name);

	if (len != QUEUE_ID_SIZE - 1 + 4 || strcmp(name + len - 4, ".env"))
		return 0;
	memcpy(id, name, QUEUE_ID_SIZE - 1);
	id[QUEUE_ID_SIZE - 1] = '\0';
	return queue_id_valid(id);
}

/* Every envelope in one queue/XX folder. */
static void
queue_ctl_scan_dir(int dirfd, queue_ctl_each_cb cb, void *arg)
{
	struct envelope	 env;
	struct dirent	*de;
	DIR		*d;
	char		 id[QUEUE_ID_SIZE];

	if ((d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_ctl_env_name(de->d_name, id))
			continue;
		if (queue_ctl_read(id, &env) == -1)
			continue;
		cb(&env, arg);
		envelope_free(&env);
	}
	closedir(d);
}

static void
queue_ctl_scan(queue_ctl_each_cb cb, void *arg)
{
	unsigned	i;
	int		fd;

	for (i = 0; i < QUEUE_ID_NHASH; i++) {
		fd = queue_fs_open_folder(queue_ctl.spoolfd, i);
		if (fd != -1)
			queue_ctl_scan_dir(fd, cb, arg);
	}
}

/* ---- replies ---- */

static void
queue_ctl_put_fact(struct buf *b, uint32_t *n, const char *key,
    const char *value)
{
	if (value == NULL)
		return;
	ipc_put_str(b, key);
	ipc_put_str(b, value);
	(*n)++;
}

static void
queue_ctl_put_num(struct buf *b, uint32_t *n, const char *key, uint64_t v)
{
	char	num[32];

	(void)bsnprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	queue_ctl_put_fact(b, n, key, num);
}

/* The facts of MSG_C_SHOW, counted into the u32 before them. */
static void
queue_ctl_put_facts(struct buf *b, const struct envelope *env)
{
	uint32_t	n = 0;
	size_t		at = b->len;

	ipc_put_u32(b, 0);
	queue_ctl_put_fact(b, &n, "helo", env->helo);
	queue_ctl_put_fact(b, &n, "client", env->client);
	queue_ctl_put_fact(b, &n, "protocol", env->protocol);
	queue_ctl_put_fact(b, &n, "tls", env->tls);
	queue_ctl_put_fact(b, &n, "digest", env->digest);
	queue_ctl_put_num(b, &n, "attempts", env->attempts);
	queue_ctl_put_num(b, &n, "next-attempt", env->next_attempt);
	queue_ctl_put_num(b, &n, "expiry", env->expiry);
	if (env->held != 0)
		queue_ctl_put_num(b, &n, "held", env->held);
	queue_ctl_put_fact(b, &n, "envid", env->envid);
	queue_ctl_put_fact(b, &n, "ret", env->ret);
	queue_ctl_put_fact(b, &n, "body", env->body);
	if (env->smtputf8)
		queue_ctl_put_fact(b, &n, "smtputf8", "yes");
	memcpy(b->data + at, &n, sizeof(n));	/* as ipc_put_u32 wrote it */
}

/*
 * One MSG_C_ITEM.  The last error is the envelope's rcpt-error, which the
 * scheduler writes when a recipient is deferred or bounced ("" if none).
 */
static void
queue_ctl_send_item(const struct envelope *env, uint32_t session,
    int facts)
{
	struct buf	b;
	size_t		i;

	buf_init(&b);
	ipc_put_str(&b, env->id);
	ipc_put_u64(&b, env->size);
	ipc_put_u64(&b, env->arrival);
	ipc_put_str(&b, env->sender);
	ipc_put_u32(&b, (uint32_t)env->nrcpt);
	for (i = 0; i < env->nrcpt; i++) {
		ipc_put_str(&b, env->rcpts[i].addr);
		ipc_put_str(&b, env->held != 0 &&
		    env->rcpts[i].state == RCPT_PENDING ? "held" :
		    envelope_rcpt_state_name(env->rcpts[i].state));
		ipc_put_str(&b, env->rcpts[i].error != NULL ?
		    env->rcpts[i].error : "");
	}
	if (facts)
		queue_ctl_put_facts(&b, env);
	else
		ipc_put_u32(&b, 0);
	if (b.len <= IPC_MAX_PAYLOAD)
		ipc_send_buf(queue_ctl.chan, MSG_C_ITEM, session, -1, &b);
	else
		log_warnx("control: %s: too many recipients to list", env->id);
	buf_free(&b);
}

static void
queue_ctl_send_end(uint32_t session, uint32_t count)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_u32(&b, count);
	ipc_send_buf(queue_ctl.chan, MSG_C_END, session, -1, &b);
	buf_free(&b);
}

static void
queue_ctl_stat_str(uint32_t session, const char *key, const char *value)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, key);
	ipc_put_str(&b, value);
	ipc_send_buf(queue_ctl.chan, MSG_C_STAT, session, -1, &b);
	buf_free(&b);
}

/* 1 while delivery is paused. */
static int
queue_ctl_paused(void)
{
	struct queue_ctl_counts	c;

	memset(&c, 0, sizeof(c));
	if (queue_ctl.counts != NULL)
		queue_ctl.counts(queue_ctl.ops_arg, &c);
	return c.paused;
}

/* ---- requests ---- */

struct queue_ctl_req {
	uint32_t	 session;
	const char	*user;
	const char	*id;		/* MSG_C_SHOW: the one wanted */
	uint32_t	 count;
};

static void
queue_ctl_list_one(const struct envelope *env, void *arg)
{
	struct queue_ctl_req	*r = arg;

	if (r->id != NULL && strcmp(env->id, r->id) != 0)
		return;
	if (!queue_ctl_owner(queue_ctl.cfg, env->sender, r->user))
		return;
	queue_ctl_send_item(env, r->session, r->id != NULL);
	r->count++;
}

static void
queue_ctl_list(struct ipc_msg *m)
{
	struct queue_ctl_req	r;
	char			user[QUEUE_CTL_USER_MAX];

	ipc_get_str(m, user, sizeof(user));
	if (ipc_end(m) == -1)
		return;
	memset(&r, 0, sizeof(r));
	r.session = m->session;
	r.user = user;
	if (queue_ctl_paused())
		queue_ctl_stat_str(m->session, "delivery", "paused");
	queue_ctl_scan(queue_ctl_list_one, &r);
	queue_ctl_send_end(m->session, r.count);
}

/* One message: its own folder only. */
static void
queue_ctl_show(struct ipc_msg *m)
{
	struct queue_ctl_req	r;
	struct envelope		env;
	char			user[QUEUE_CTL_USER_MAX], id[QUEUE_ID_SIZE];

	ipc_get_str(m, id, sizeof(id));
	ipc_get_str(m, user, sizeof(user));
	if (ipc_end(m) == -1)
		return;
	memset(&r, 0, sizeof(r));
	r.session = m->session;
	r.user = user;
	r.id = id;
	if (queue_id_valid(id) && queue_ctl_read(id, &env) == 0) {
		queue_ctl_list_one(&env, &r);
		envelope_free(&env);
	}
	queue_ctl_send_end(m->session, r.count);
}

/* The scheduler makes every deferred recipient due; the answer is how
 * many it made due. */
static void
queue_ctl_flush(struct ipc_msg *m)
{
	struct buf	b;
	uint32_t	n = 0;

	if (ipc_end(m) == -1)
		return;
	if (queue_ctl.flush == NULL) {
		buf_init(&b);
		ipc_put_str(&b, "flush: no scheduler");
		ipc_send_buf(queue_ctl.chan, MSG_C_ERROR, m->session, -1, &b);
		buf_free(&b);
		return;
	}
	n = queue_ctl.flush(queue_ctl.flush_arg);
	log_info("control: flush: %u pending recipients made due", n);
	queue_ctl_send_end(m->session, n);
}

static void
queue_ctl_send_error(uint32_t session, const char *text)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, text);
	ipc_send_buf(queue_ctl.chan, MSG_C_ERROR, session, -1, &b);
	buf_free(&b);
}

/* MSG_C_DELETE, MSG_C_HOLD, MSG_C_RELEASE: str qid, str operator. */
static void
queue_ctl_op(struct ipc_msg *m)
{
	char			id[QUEUE_ID_SIZE + 1], who[QUEUE_CTL_USER_MAX + 40];
	char			err[512];
	enum queue_ctl_op	op;

	ipc_get_str(m, id, sizeof(id));
	ipc_get_str(m, who, sizeof(who));
	if (ipc_end(m) == -1)
		return;
	op = m->type == MSG_C_DELETE ? QUEUE_CTL_DELETE :
	    m->type == MSG_C_HOLD ? QUEUE_CTL_HOLD : QUEUE_CTL_RELEASE;
	if (queue_ctl.op == NULL) {
		queue_ctl_send_error(m->session, "no scheduler");
		return;
	}
	if (!queue_id_valid(id)) {
		(void)bsnprintf(err, sizeof(err), "no message %s", id);
		queue_ctl_send_error(m->session, err);
		return;
	}
	if (queue_ctl.op(queue_ctl.ops_arg, op, id, who, err,
	    sizeof(err)) == -1) {
		queue_ctl_send_error(m->session, err);
		return;
	}
	queue_ctl_send_end(m->session, 0);
}

static void
queue_ctl_stat(uint32_t session, const char *key, uint64_t v)
{
	char	num[32];

	(void)bsnprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	queue_ctl_stat_str(session, key, num);
}

/* MSG_C_PAUSE, MSG_C_RESUME: str operator.  The answer says the state
 * now and before ("paused" or "running"). */
static void
queue_ctl_pause(struct ipc_msg *m)
{
	char	who[QUEUE_CTL_USER_MAX + 40], err[512];
	int	was, pause = m->type == MSG_C_PAUSE;

	ipc_get_str(m, who, sizeof(who));
	if (ipc_end(m) == -1)
		return;
	if (queue_ctl.op == NULL) {
		queue_ctl_send_error(m->session, "no scheduler");
		return;
	}
	was = queue_ctl_paused();
	if (queue_ctl.op(queue_ctl.ops_arg, pause ? QUEUE_CTL_PAUSE :
	    QUEUE_CTL_RESUME, "", who, err, sizeof(err)) == -1) {
		queue_ctl_send_error(m->session, err);
		return;
	}
	queue_ctl_stat_str(m->session, "delivery", queue_ctl_paused() ?
	    "paused" : "running");
	queue_ctl_stat_str(m->session, "was", was ? "paused" : "running");
	queue_ctl_send_end(m->session, 0);
}

/* MSG_C_STATUS: the counters since start. */
static void
queue_ctl_status(struct ipc_msg *m)
{
	struct queue_ctl_counts	c;

	if (ipc_end(m) == -1)
		return;
	memset(&c, 0, sizeof(c));
	if (queue_ctl.counts != NULL)
		queue_ctl.counts(queue_ctl.ops_arg, &c);
	queue_ctl_stat(m->session, "received", c.received);
	queue_ctl_stat(m->session, "delivered", c.delivered);
	queue_ctl_stat(m->session, "deferred", c.deferred);
	queue_ctl_stat(m->session, "bounced", c.bounced);
	queue_ctl_stat_str(m->session, "delivery", c.paused ? "paused" :
	    "running");
	queue_ctl_send_end(m->session, 0);
}

static void
queue_ctl_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	if (ipc_no_fd(m) == -1)
		return;
	switch (m->type) {
	case MSG_C_LIST:
		queue_ctl_list(m);
		break;
	case MSG_C_SHOW:
		queue_ctl_show(m);
		break;
	case MSG_C_FLUSH:
		queue_ctl_flush(m);
		break;
	case MSG_C_DELETE:
	case MSG_C_HOLD:
	case MSG_C_RELEASE:
		queue_ctl_op(m);
		break;
	case MSG_C_STATUS:
		queue_ctl_status(m);
		break;
	case MSG_C_PAUSE:
	case MSG_C_RESUME:
		queue_ctl_pause(m);
		break;
	default:
		ipc_bad_type(m);
	}
}

static void
queue_ctl_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	log_info("control channel closed");
	ipc_chan_free(ch);
	queue_ctl.chan = NULL;
}

void
queue_ctl_start(struct event_loop *loop, const struct config *cfg,
    int spoolfd, int fd)
{
	queue_ctl.cfg = cfg;
	queue_ctl.spoolfd = spoolfd;
	if (fd != -1)
		queue_ctl.chan = ipc_chan_new(loop, fd, "control",
		    queue_ctl_dispatch, queue_ctl_closed, NULL);
}

void
queue_ctl_stop(void)
{
	if (queue_ctl.chan != NULL) {
		(void)ipc_chan_flush(queue_ctl.chan);
		ipc_chan_free(queue_ctl.chan);
	}
	queue_ctl.chan = NULL;
}

void
queue_ctl_set_flush(queue_ctl_flush_fn fn, void *arg)
{
	queue_ctl.flush = fn;
	queue_ctl.flush_arg = arg;
}

void
queue_ctl_set_ops(queue_ctl_op_fn op, queue_ctl_counts_fn counts, void *arg)
{
	queue_ctl.op = op;
	queue_ctl.counts = counts;
	queue_ctl.ops_arg = arg;
}
