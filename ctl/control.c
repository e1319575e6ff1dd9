/*
 * control.c - the control process (control.h).
 *
 * Each connection: SO_PEERCRED gives the uid and pid of the client; one
 * request line comes (ctl_proto.h), is checked against the client's uid,
 * and goes to the queue or to the parent with the connection's request
 * id in the session field; their answers are turned into reply lines and
 * written back; after the last line the connection is closed.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/util.h"
#include "ctl/control.h"
#include "ctl/ctl_proto.h"
#include "queue/queue_id.h"

#define CONTROL_NAME_MAX	256

struct control;

struct control_conn {
	struct control		*ctl;
	struct control_conn	*next;
	int			 fd;
	int			 events;
	uint32_t		 id;		/* request id (session field) */
	uid_t			 uid;
	pid_t			 pid;
	struct ctl_request	 req;
	int			 have_req;
	int			 done;		/* the last line is in out */
	int			 stage;		/* status: 0 the queue's part,
						 * 1 the parent's */
	char			 who[CONTROL_NAME_MAX + 40];
						/* "uid N (name)" */
	char			 in[CTL_LINE_MAX];
	size_t			 inlen;
	struct buf		 out;
	struct event_timer	*timer;
};

struct control {
	struct config		*cfg;
	struct event_loop	*loop;
	struct ipc_chan		*parent;
	struct ipc_chan		*queue;
	struct ipc_chan		*delivery;	/* sts-* requests */
	int			 listen_fd;
	struct control_conn	*conns;
	unsigned		 nconns;
	uint32_t		 next_id;
};

static void control_conn_event(int fd, int events, void *arg);
static void control_request_sts(struct control_conn *c);

/* ---- connections ---- */

static struct control_conn *
control_conn_find(struct control *ctl, uint32_t id)
{
	struct control_conn	*c;

	for (c = ctl->conns; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void
control_conn_free(struct control_conn *c)
{
	struct control		*ctl = c->ctl;
	struct control_conn	**pp;

	for (pp = &ctl->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	event_del(ctl->loop, c->fd);
	close(c->fd);
	if (c->timer != NULL)
		event_timer_cancel(ctl->loop, c->timer);
	buf_free(&c->out);
	ctl->nconns--;
	free(c);
}

static void
control_conn_want(struct control_conn *c, int events)
{
	if (c->events == events)
		return;
	if (event_mod(c->ctl->loop, c->fd, events) == -1)
		log_warn("control: event_mod");
	c->events = events;
}

/* Writes what it can; frees the connection after its last line. */
static void
control_conn_write(struct control_conn *c)
{
	ssize_t	n;

	while (c->out.len > 0) {
		n = write(c->fd, c->out.data, c->out.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			control_conn_want(c, EV_WRITE);
			return;
		}
		if (n <= 0) {
			log_debug("control: pid %ld went away",
			    (long)c->pid);
			control_conn_free(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (c->done)
		control_conn_free(c);
	else
		control_conn_want(c, 0);
}

static void
control_conn_error(struct control_conn *c, const char *text)
{
	ctl_proto_put_error(&c->out, text);
	c->done = 1;
	control_conn_write(c);
}

static void
control_conn_ok(struct control_conn *c)
{
	ctl_proto_put_ok(&c->out);
	c->done = 1;
	control_conn_write(c);
}

static void
control_conn_timeout(void *arg)
{
	struct control_conn	*c = arg;

	c->timer = NULL;
	log_notice("control: uid %lu pid %ld: timeout", (unsigned long)c->uid,
	    (long)c->pid);
	control_conn_free(c);
}

/* ---- requests ---- */

static void
control_send_queue(struct control_conn *c, const char *user)
{
	struct control	*ctl = c->ctl;
	struct buf	 b;
	uint32_t	 type;

	if (ctl->queue == NULL) {
		control_conn_error(c, "the queue is not running");
		return;
	}
	buf_init(&b);
	if (c->req.cmd == CTL_SHOW) {
		type = MSG_C_SHOW;
		ipc_put_str(&b, c->req.arg);
		ipc_put_str(&b, user);
	} else if (c->req.cmd == CTL_QUEUE) {
		type = MSG_C_LIST;
		ipc_put_str(&b, user);
	} else if (c->req.cmd == CTL_PAUSE || c->req.cmd == CTL_RESUME) {
		type = c->req.cmd == CTL_PAUSE ? MSG_C_PAUSE : MSG_C_RESUME;
		ipc_put_str(&b, c->who);
	} else if (ctl_proto_needs_admin(c->req.cmd)) {
		type = c->req.cmd == CTL_DELETE ? MSG_C_DELETE :
		    c->req.cmd == CTL_HOLD ? MSG_C_HOLD : MSG_C_RELEASE;
		ipc_put_str(&b, c->req.arg);
		ipc_put_str(&b, c->who);
	} else if (c->req.cmd == CTL_STATUS)
		type = MSG_C_STATUS;
	else
		type = MSG_C_FLUSH;
	ipc_send_buf(ctl->queue, type, c->id, -1, &b);
	buf_free(&b);
}

/*
 * list and show, delete, hold, release, pause and resume: root may do
 * all; anyone else is asked about at the parent (this process is
 * chrooted and cannot read the user and group databases): a member of
 * admin-group may do all too, an ordinary user sees only their own
 * messages (MSG_C_ADMIN_RESULT).
 */
static void
control_request_queue(struct control_conn *c)
{
	struct buf	b;
	char		err[64];

	if (c->req.cmd == CTL_SHOW && !queue_id_valid(c->req.arg)) {
		control_conn_error(c, "no such message");
		return;
	}
	if (ctl_proto_takes_id(c->req.cmd) && c->req.cmd != CTL_SHOW &&
	    !queue_id_valid(c->req.arg)) {
		(void)bsnprintf(err, sizeof(err), "no message %.40s",
		    c->req.arg);
		control_conn_error(c, err);
		return;
	}
	if (c->uid == 0) {
		(void)bsnprintf(c->who, sizeof(c->who), "uid 0 (root)");
		control_send_queue(c, "");
		return;
	}
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)c->uid);
	ipc_send_buf(c->ctl->parent, MSG_C_ADMIN, c->id, -1, &b);
	buf_free(&b);
}

/* status: the queue's counters first, then the parent's part. */
static void
control_request_status(struct control_conn *c)
{
	c->stage = 0;
	control_send_queue(c, "");
}

static void
control_request(struct control_conn *c, const char *line)
{
	char	err[128];

	if (ctl_proto_parse_request(line, &c->req, err, sizeof(err)) == -1) {
		log_notice("control: uid %lu pid %ld: %s",
		    (unsigned long)c->uid, (long)c->pid, err);
		control_conn_error(c, err);
		return;
	}
	c->have_req = 1;
	control_conn_want(c, 0);
	log_info("control: uid %lu pid %ld: %s%s%s", (unsigned long)c->uid,
	    (long)c->pid, ctl_proto_cmd_name(c->req.cmd),
	    c->req.arg[0] != '\0' ? " " : "", c->req.arg);
	if (ctl_proto_needs_root(c->req.cmd) && c->uid != 0) {
		log_notice("control: uid %lu pid %ld: %s refused: not root",
		    (unsigned long)c->uid, (long)c->pid,
		    ctl_proto_cmd_name(c->req.cmd));
		(void)bsnprintf(err, sizeof(err), "permission denied: %s "
		    "needs root", ctl_proto_cmd_name(c->req.cmd));
		control_conn_error(c, err);
		return;
	}
	switch (c->req.cmd) {
	case CTL_QUEUE:
	case CTL_SHOW:
	case CTL_DELETE:
	case CTL_HOLD:
	case CTL_RELEASE:
	case CTL_PAUSE:
	case CTL_RESUME:
		control_request_queue(c);
		break;
	case CTL_STATUS:
		control_request_status(c);
		break;
	case CTL_FLUSH:
		control_send_queue(c, "");
		break;
	case CTL_RELOAD:
		ipc_send(c->ctl->parent, MSG_C_RELOAD, c->id, -1, NULL, 0);
		break;
	case CTL_STS_LIST:
	case CTL_STS_SHOW:
	case CTL_STS_REFRESH:
	case CTL_STS_FLUSH:
	case CTL_STS_CHECK:
		control_request_sts(c);
		break;
	}
}

/* Longest wait for an sts-refresh or sts-check answer: a fetch. */
#define CONTROL_STS_TIMEOUT_MS	(180 * 1000)

/* sts-*: to the delivery process, which holds the MTA-STS cache. */
static void
control_request_sts(struct control_conn *c)
{
	static const char *const verbs[] = {
		[CTL_STS_LIST] = "list", [CTL_STS_SHOW] = "show",
		[CTL_STS_REFRESH] = "refresh", [CTL_STS_FLUSH] = "flush",
		[CTL_STS_CHECK] = "check",
	};
	struct control	*ctl = c->ctl;
	struct buf	 b;

	if (ctl->delivery == NULL) {
		control_conn_error(c, "the delivery process is not running");
		return;
	}
	if (c->req.cmd == CTL_STS_REFRESH || c->req.cmd == CTL_STS_CHECK) {
		if (c->timer != NULL)
			event_timer_cancel(ctl->loop, c->timer);
		c->timer = event_timer_add(ctl->loop, CONTROL_STS_TIMEOUT_MS,
		    control_conn_timeout, c);
	}
	buf_init(&b);
	ipc_put_str(&b, verbs[c->req.cmd]);
	ipc_put_str(&b, c->req.arg);
	ipc_send_buf(ctl->delivery, MSG_C_STS, c->id, -1, &b);
	buf_free(&b);
}

/* Reads until the request line is complete. */
static void
control_conn_read(struct control_conn *c)
{
	char	*nl;
	ssize_t	 n;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		control_conn_free(c);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if ((nl = memchr(c->in, '\n', c->inlen)) == NULL) {
		if (c->inlen == sizeof(c->in) - 1)
			control_conn_error(c, "request line too long");
		return;
	}
	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	control_request(c, c->in);
}

static void
control_conn_event(int fd, int events, void *arg)
{
	struct control_conn	*c = arg;

	(void)fd;
	if (events & EV_ERROR) {
		control_conn_free(c);
		return;
	}
	if ((events & EV_READ) && !c->have_req && !c->done)
		control_conn_read(c);
	else if (events & EV_WRITE)
		control_conn_write(c);
}

/* Refuses a connection over the limit with one line, best effort. */
static void
control_refuse(int fd)
{
	struct buf	b;

	buf_init(&b);
	ctl_proto_put_error(&b, "busy: too many connections");
	(void)write(fd, b.data, b.len);
	buf_free(&b);
	close(fd);
}

static void
control_accept(int lfd, int events, void *arg)
{
	struct control		*ctl = arg;
	struct control_conn	*c;
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	int			 fd;

	(void)events;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred)) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	if (ctl->nconns >= CONTROL_MAX_CONNS) {
		log_notice("control: uid %lu pid %ld: refused, %d connections",
		    (unsigned long)cred.uid, (long)cred.pid, CONTROL_MAX_CONNS);
		control_refuse(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->fd = fd;
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (++ctl->next_id == 0)
		ctl->next_id = 1;
	c->id = ctl->next_id;
	buf_init(&c->out);
	if (event_add(ctl->loop, fd, EV_READ, control_conn_event, c) == -1) {
		log_warn("control: event_add");
		close(fd);
		free(c);
		return;
	}
	c->events = EV_READ;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->nconns++;
	c->timer = event_timer_add(ctl->loop, CONTROL_TIMEOUT_MS,
	    control_conn_timeout, c);
}

/* ---- answers ---- */

/* MSG_C_ITEM: a message line, its recipients, its facts. */
static void
control_item(struct control_conn *c, struct ipc_msg *m)
{
	char		 id[QUEUE_ID_SIZE], *a, *b, *e;
	uint64_t	 size, arrival;
	uint32_t	 n, i;

	ipc_get_str(m, id, sizeof(id));
	size = ipc_get_u64(m);
	arrival = ipc_get_u64(m);
	a = ipc_get_strdup(m);
	n = ipc_get_u32(m);
	if (!ipc_failed(m))
		ctl_proto_put_message(&c->out, id, size, arrival, a);
	free(a);
	for (i = 0; i < n && !ipc_failed(m); i++) {
		a = ipc_get_strdup(m);
		b = ipc_get_strdup(m);
		e = ipc_get_strdup(m);
		if (!ipc_failed(m))
			ctl_proto_put_rcpt(&c->out, a, b, e);
		free(a);
		free(b);
		free(e);
	}
	n = ipc_get_u32(m);
	for (i = 0; i < n && !ipc_failed(m); i++) {
		a = ipc_get_strdup(m);
		b = ipc_get_strdup(m);
		if (!ipc_failed(m))
			ctl_proto_put_fact(&c->out, a, b);
		free(a);
		free(b);
	}
	if (ipc_end(m) == -1)
		return;
	control_conn_write(c);
}

/* MSG_C_END: the last line of the request's answer. */
static void
control_end(struct control_conn *c, struct ipc_msg *m)
{
	uint32_t	count = ipc_get_u32(m);

	if (ipc_end(m) == -1)
		return;
	switch (c->req.cmd) {
	case CTL_SHOW:
		if (count == 0) {
			control_conn_error(c, "no such message");
			return;
		}
		break;
	case CTL_FLUSH:
		ctl_proto_put_flushed(&c->out, count);
		break;
	case CTL_RELOAD:
		if (count != 0) {
			control_conn_error(c, "reload failed: the log says "
			    "why; the running configuration stays");
			return;
		}
		break;
	case CTL_STS_LIST:
	case CTL_STS_SHOW:
	case CTL_STS_REFRESH:
	case CTL_STS_FLUSH:
	case CTL_STS_CHECK:
		if (count != 0) {
			control_conn_error(c, "sts request failed");
			return;
		}
		break;
	case CTL_STATUS:
		if (c->stage == 0) {	/* the queue's part came */
			c->stage = 1;
			ipc_send(c->ctl->parent, MSG_C_STATUS, c->id, -1,
			    NULL, 0);
			return;
		}
		break;
	case CTL_QUEUE:
	case CTL_DELETE:
	case CTL_HOLD:
	case CTL_RELEASE:
	case CTL_PAUSE:
	case CTL_RESUME:
		break;
	}
	control_conn_ok(c);
}

/* MSG_C_STAT: one line of a status answer. */
static void
control_stat(struct control_conn *c, struct ipc_msg *m)
{
	char	key[128], value[256];

	ipc_get_str(m, key, sizeof(key));
	ipc_get_str(m, value, sizeof(value));
	if (ipc_end(m) == -1)
		return;
	ctl_proto_put_stat(&c->out, key, value);
}

/* MSG_C_ADMIN_RESULT: may the client do it?  Then on to the queue. */
static void
control_admin(struct control_conn *c, struct ipc_msg *m)
{
	char		name[CONTROL_NAME_MAX], group[CONTROL_NAME_MAX];
	char		err[CONTROL_NAME_MAX + 100];
	uint32_t	admin = ipc_get_u32(m);

	ipc_get_str(m, name, sizeof(name));
	ipc_get_str(m, group, sizeof(group));
	if (ipc_end(m) == -1)
		return;
	(void)bsnprintf(c->who, sizeof(c->who), "uid %lu (%s)",
	    (unsigned long)c->uid, name[0] != '\0' ? name : "no name");
	if (ctl_proto_needs_admin(c->req.cmd) && !admin) {
		log_notice("control: %s pid %ld: %s %s refused: not root%s%s",
		    c->who, (long)c->pid, ctl_proto_cmd_name(c->req.cmd),
		    c->req.arg, group[0] != '\0' ? " nor in group " : "",
		    group);
		(void)bsnprintf(err, sizeof(err), "permission denied: only "
		    "root%s%s may %s %s", group[0] != '\0' ? " or group " : "",
		    group, ctl_proto_cmd_name(c->req.cmd),
		    ctl_proto_takes_id(c->req.cmd) ? "messages" : "delivery");
		control_conn_error(c, err);
		return;
	}
	if (admin) {
		control_send_queue(c, "");
		return;
	}
	if (name[0] == '\0') {
		control_conn_error(c, "your uid has no user name");
		return;
	}
	control_send_queue(c, name);
}

/* MSG_C_TEXT: one line of an sts answer. */
static void
control_text(struct control_conn *c, struct ipc_msg *m)
{
	char	text[1024];

	ipc_get_str(m, text, sizeof(text));
	if (ipc_end(m) == -1)
		return;
	ctl_proto_put_text(&c->out, text);
	control_conn_write(c);
}

static void
control_error(struct control_conn *c, struct ipc_msg *m)
{
	char	text[512];

	ipc_get_str(m, text, sizeof(text));
	if (ipc_end(m) == -1)
		return;
	control_conn_error(c, text);
}

/* MSG_C_USER_NAME: the client's user name; on to the queue. */
static void
control_user_name(struct control_conn *c, struct ipc_msg *m)
{
	char	name[CONTROL_NAME_MAX];

	ipc_get_str(m, name, sizeof(name));
	if (ipc_end(m) == -1)
		return;
	if (name[0] == '\0') {
		control_conn_error(c, "your uid has no user name");
		return;
	}
	control_send_queue(c, name);
}

static void
control_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct control		*ctl = arg;
	struct control_conn	*c;

	if (ipc_no_fd(m) == -1)
		return;
	if (m->type != MSG_C_ITEM && m->type != MSG_C_END &&
	    m->type != MSG_C_ERROR && m->type != MSG_C_STAT &&
	    !(ch == ctl->parent && (m->type == MSG_C_USER_NAME ||
	    m->type == MSG_C_ADMIN_RESULT)) && !(ch == ctl->delivery &&
	    m->type == MSG_C_TEXT)) {
		ipc_bad_type(m);
		return;
	}
	/* The client may have gone: its answer is dropped. */
	if ((c = control_conn_find(ctl, m->session)) == NULL ||
	    !c->have_req || c->done)
		return;
	switch (m->type) {
	case MSG_C_ITEM:
		control_item(c, m);
		break;
	case MSG_C_END:
		control_end(c, m);
		break;
	case MSG_C_ERROR:
		control_error(c, m);
		break;
	case MSG_C_USER_NAME:
		control_user_name(c, m);
		break;
	case MSG_C_TEXT:
		control_text(c, m);
		break;
	case MSG_C_STAT:
		control_stat(c, m);
		break;
	case MSG_C_ADMIN_RESULT:
		control_admin(c, m);
		break;
	}
}

static void
control_closed(struct ipc_chan *ch, void *arg)
{
	struct control	*ctl = arg;

	if (ch == ctl->parent) {
		log_info("parent went away: exiting");
		ctl->parent = NULL;
	} else if (ch == ctl->delivery) {
		log_warnx("delivery channel closed: exiting");
		ctl->delivery = NULL;
	} else {
		log_warnx("queue channel closed: exiting");
		ctl->queue = NULL;
	}
	ipc_chan_free(ch);
	event_loop_stop(ctl->loop);
}

static void
control_sigterm(int signo, void *arg)
{
	struct control	*ctl = arg;

	(void)signo;
	log_info("shutting down (SIGTERM)");
	event_loop_stop(ctl->loop);
}

/* ---- the process ---- */

static void
control_setup(struct control *ctl, int parent_fd, int queue_fd,
    int delivery_fd)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	ctl->loop = event_loop_new();
	if (event_signal(ctl->loop, SIGTERM, control_sigterm, ctl) == -1)
		fatal("event_signal SIGTERM");
	if (fd_set_nonblock(ctl->listen_fd) == -1)
		fatal("control socket");
	if (event_add(ctl->loop, ctl->listen_fd, EV_READ, control_accept,
	    ctl) == -1)
		fatal("event_add control socket");
	ctl->parent = ipc_chan_new(ctl->loop, parent_fd, "parent",
	    control_dispatch, control_closed, ctl);
	ctl->queue = ipc_chan_new(ctl->loop, queue_fd, "queue",
	    control_dispatch, control_closed, ctl);
	ctl->delivery = ipc_chan_new(ctl->loop, delivery_fd, "delivery",
	    control_dispatch, control_closed, ctl);
	ipc_send(ctl->parent, MSG_P_READY, 0, -1, NULL, 0);
}

static void
control_teardown(struct control *ctl)
{
	while (ctl->conns != NULL)
		control_conn_free(ctl->conns);
	event_del(ctl->loop, ctl->listen_fd);
	close(ctl->listen_fd);
	if (ctl->parent != NULL) {
		(void)ipc_chan_flush(ctl->parent);
		ipc_chan_free(ctl->parent);
	}
	if (ctl->queue != NULL)
		ipc_chan_free(ctl->queue);
	if (ctl->delivery != NULL)
		ipc_chan_free(ctl->delivery);
	event_loop_free(ctl->loop);
}

int
control_main(struct config *cfg, int parent_fd, int queue_fd,
    int delivery_fd, int listen_fd, const struct sm_user *u)
{
	struct control	ctl;
	int		rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.cfg = cfg;
	ctl.listen_fd = listen_fd;
	if (u != NULL) {
		privsep_drop(u, cfg->empty_dir);
		log_info("running as %s, chrooted into %s", u->name,
		    cfg->empty_dir);
	} else
		log_info("running unprivileged: no chroot, no user change");
	control_setup(&ctl, parent_fd, queue_fd, delivery_fd);
	log_info("ready: %s", cfg->control_socket);
	rc = event_loop_run(ctl.loop);
	control_teardown(&ctl);
	log_info("exiting");
	return rc == 0 ? 0 : 1;
}
