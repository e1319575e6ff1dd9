/*
 * sts_fetchc.c - delivery's side of the policy fetcher (sts_fetchd.h):
 * sts_fetch.h's interface over a worker process that the spawner starts
 * on demand.
 *
 * Every request is kept here until it is answered, failed or cancelled.
 * While a worker's channel is up, a request is sent at once; otherwise
 * one 'F' goes to the spawner and the requests wait for the worker's
 * descriptor.  A worker that exits (idle, or crashed) hands its
 * unanswered requests back: each goes to the next worker once; the
 * second time it fails.  Each request also has a guard timer of its
 * time-out plus STS_FETCHC_GRACE_S, so that no answer is ever waited for
 * without end.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "sts_fetch.h"
#include "sts_fetchd.h"
#include "sts_int.h"
#include "sts_policy.h"

struct sts_fetchc_req {
	struct sts_fetchc	*c;
	struct sts_fetchc_req	*prev, *next;
	uint32_t		 id;
	char			 domain[256];
	struct dns_addr		 addrs[STS_ADDRS_MAX];
	size_t			 naddrs;
	unsigned		 timeout;
	sts_fetchc_cb		 cb;
	void			*arg;
	int			 sent;	/* on the current worker's channel */
	int			 tries;	/* workers that exited holding it */
	struct event_timer	*guard;
	char			 fail[256];	/* set: fail when guard fires */
};

struct sts_fetchc {
	struct event_loop	*loop;
	int			 zfd;		/* the spawner; -1 once gone */
	int			 spawning;	/* 'F' sent, no answer yet */
	struct ipc_chan		*chan;		/* the current worker */
	long			 pid;
	struct sts_fetchc_req	*head;
	uint32_t		 last_id;
};

static void sts_fetchc_spawn(struct sts_fetchc *c);

static void
sts_fetchc_unlink(struct sts_fetchc *c, struct sts_fetchc_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		c->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	if (r->guard != NULL)
		event_timer_cancel(c->loop, r->guard);
	r->guard = NULL;
}

/* Unlinks r, runs its callback with a failure, frees it. */
static void
sts_fetchc_finish_fail(struct sts_fetchc_req *r, const char *why)
{
	struct sts_fetch_result	res;

	sts_fetchc_unlink(r->c, r);
	memset(&res, 0, sizeof(res));
	(void)strlcpy(res.error, why, sizeof(res.error));
	r->cb(&res, r->arg);
	free(r);
}

static void
sts_fetchc_guard(void *arg)
{
	struct sts_fetchc_req	*r = arg;
	struct sts_fetchc	*c = r->c;
	char			 why[256];

	r->guard = NULL;
	if (r->fail[0] != '\0') {
		(void)strlcpy(why, r->fail, sizeof(why));
	} else {
		(void)bsnprintf(why, sizeof(why), "the policy fetcher did "
		    "not answer within %u s", r->timeout + STS_FETCHC_GRACE_S);
		if (r->sent && c->chan != NULL)
			ipc_send(c->chan, MSG_SF_CANCEL, 0, -1, &r->id,
			    sizeof(r->id));
	}
	sts_fetchc_finish_fail(r, why);
}

/* r fails later, from the loop (a callback never runs inside start). */
static void
sts_fetchc_fail_later(struct sts_fetchc_req *r, const char *why)
{
	struct sts_fetchc	*c = r->c;

	if (r->guard != NULL)
		event_timer_cancel(c->loop, r->guard);
	(void)strlcpy(r->fail, why, sizeof(r->fail));
	r->sent = 0;
	r->guard = event_timer_add(c->loop, 0, sts_fetchc_guard, r);
}

/* Every request not on a worker's channel fails later with why. */
static void
sts_fetchc_fail_unsent(struct sts_fetchc *c, const char *why)
{
	struct sts_fetchc_req	*r;

	for (r = c->head; r != NULL; r = r->next)
		if (!r->sent && r->fail[0] == '\0')
			sts_fetchc_fail_later(r, why);
}

static void
sts_fetchc_send(struct sts_fetchc *c, struct sts_fetchc_req *r)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_u32(&b, r->id);
	ipc_put_str(&b, r->domain);
	ipc_put_u32(&b, r->timeout);
	ipc_put_data(&b, r->addrs, r->naddrs * sizeof(r->addrs[0]));
	ipc_send_buf(c->chan, MSG_SF_FETCH, 0, -1, &b);
	buf_free(&b);
	r->sent = 1;
}

/*
 * The worker's channel is gone.  It exited: each request it held goes to
 * the next worker, once.  It could not start or broke the protocol: why
 * is set, and every request fails with it (no new worker for them).
 */
static void
sts_fetchc_lost(struct sts_fetchc *c, const char *why)
{
	struct sts_fetchc_req	*r;
	int			 again = 0;

	ipc_chan_free(c->chan);
	c->chan = NULL;
	for (r = c->head; r != NULL; r = r->next) {
		if (r->fail[0] != '\0')
			continue;
		if (why != NULL)
			sts_fetchc_fail_later(r, why);
		else if (r->sent) {
			r->sent = 0;
			if (++r->tries >= 2)
				sts_fetchc_fail_later(r, "the policy fetcher "
				    "exited during the fetch, twice");
			else
				again = 1;
		} else
			again = 1;
	}
	if (again)
		sts_fetchc_spawn(c);
}

static void
sts_fetchc_closed(struct ipc_chan *ch, void *arg)
{
	struct sts_fetchc	*c = arg;

	(void)ch;
	log_debug("mta-sts: policy fetcher %ld gone", c->pid);
	sts_fetchc_lost(c, NULL);
}

static void
sts_fetchc_violation(struct ipc_chan *ch, const char *what, void *arg)
{
	struct sts_fetchc	*c = arg;
	char			 why[256];

	(void)ch;
	log_warnx("mta-sts: policy fetcher %ld: %s: protocol violation",
	    c->pid, what);
	(void)bsnprintf(why, sizeof(why), "the policy fetcher broke the "
	    "protocol (%s)", what);
	sts_fetchc_lost(c, why);
}

static struct sts_fetchc_req *
sts_fetchc_find(struct sts_fetchc *c, uint32_t id)
{
	struct sts_fetchc_req	*r;

	for (r = c->head; r != NULL; r = r->next)
		if (r->id == id && r->sent && r->fail[0] == '\0')
			return r;
	return NULL;
}

static void
sts_fetchc_result(struct sts_fetchc *c, struct ipc_msg *m)
{
	struct sts_fetch_result	 res;
	struct sts_fetchc_req	*r;
	const uint8_t		*body;
	char			*copy = NULL;
	size_t			 len;
	uint32_t		 id, ok;

	memset(&res, 0, sizeof(res));
	id = ipc_get_u32(m);
	ok = ipc_get_u32(m);
	res.status = ipc_get_u32(m);
	ipc_get_str(m, res.error, sizeof(res.error));
	ipc_get_str(m, res.content_type, sizeof(res.content_type));
	ipc_get_str(m, res.cert, sizeof(res.cert));
	ipc_get_str(m, res.addr, sizeof(res.addr));
	body = ipc_get_data(m, &len);
	if (ipc_end(m) == -1)
		return;
	if (ok > 1 || (ok && (len == 0 || len > STS_BODY_MAX)) ||
	    (!ok && len != 0) || res.status > 999) {
		ipc_violation(m, "bad result");
		return;
	}
	if ((r = sts_fetchc_find(c, id)) == NULL)
		return;		/* cancelled after it was sent */
	sts_fetchc_unlink(c, r);
	res.ok = (int)ok;
	if (ok) {
		copy = xmalloc(len + 1);
		memcpy(copy, body, len);
		copy[len] = '\0';
		res.body = copy;
		res.len = len;
	}
	r->cb(&res, r->arg);
	free(copy);
	free(r);
}

static void
sts_fetchc_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct sts_fetchc	*c = arg;
	char			 reason[256], why[300];

	(void)ch;
	switch (m->type) {
	case MSG_SF_RESULT:
		sts_fetchc_result(c, m);
		break;
	case MSG_SF_FAIL:
		ipc_get_str(m, reason, sizeof(reason));
		if (ipc_end(m) == -1)
			return;
		log_warnx("mta-sts: the policy fetcher could not start: %s",
		    reason);
		(void)bsnprintf(why, sizeof(why), "the policy fetcher could "
		    "not start: %s", reason);
		sts_fetchc_lost(c, why);
		break;
	default:
		ipc_violation(m, "unexpected message");
	}
}

static void
sts_fetchc_spawner_gone(struct sts_fetchc *c, const char *why)
{
	log_warnx("mta-sts: the policy fetcher's spawner: %s: no policy "
	    "can be fetched", why);
	event_del(c->loop, c->zfd);
	close(c->zfd);
	c->zfd = -1;
	c->spawning = 0;
	sts_fetchc_fail_unsent(c, "the policy fetcher's spawner is gone");
}

/*
 * One answer of the spawner into data: recvmsg's result, with *wfd the
 * descriptor passed (-1 if none) and *trunc set if the kernel dropped one
 * (this process is out of descriptors).
 */
static ssize_t
sts_fetchc_recv(int fd, char data[5], int *wfd, int *trunc)
{
	struct msghdr		 msg;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}			 cbuf;
	ssize_t			 n;

	*wfd = -1;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = data;
	iov.iov_len = 5;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	for (cm = CMSG_FIRSTHDR(&msg); n > 0 && cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(wfd, CMSG_DATA(cm), sizeof(int));
	*trunc = n > 0 && (msg.msg_flags & MSG_CTRUNC) != 0;
	return n;
}

/* The new worker's channel; the requests waiting go to it. */
static void
sts_fetchc_attach(struct sts_fetchc *c, int wfd, long pid)
{
	struct sts_fetchc_req	*r;

	c->pid = pid;
	log_debug("mta-sts: policy fetcher %ld started", c->pid);
	c->chan = ipc_chan_new(c->loop, wfd, "sts-fetch", sts_fetchc_dispatch,
	    sts_fetchc_closed, c);
	ipc_chan_set_violation(c->chan, sts_fetchc_violation);
	for (r = c->head; r != NULL; r = r->next)
		if (!r->sent && r->fail[0] == '\0')
			sts_fetchc_send(c, r);
}

/* The spawner's answer: 'W' with the worker's descriptor, or 'E'. */
static void
sts_fetchc_on_spawner(int fd, int events, void *arg)
{
	struct sts_fetchc	*c = arg;
	char			 data[5];
	int32_t			 pid;
	int			 wfd, trunc;
	ssize_t			 n;

	(void)events;
	n = sts_fetchc_recv(fd, data, &wfd, &trunc);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		sts_fetchc_spawner_gone(c, n == 0 ? "exited" : strerror(errno));
		return;
	}
	c->spawning = 0;
	if (n != (ssize_t)sizeof(data) || (data[0] == 'W') != (wfd != -1) ||
	    (data[0] != 'W' && data[0] != 'E') || trunc) {
		if (wfd != -1)
			close(wfd);
		sts_fetchc_fail_unsent(c, trunc ?
		    "out of descriptors for the policy fetcher" :
		    "the policy fetcher's spawner gave a bad answer");
		return;
	}
	if (data[0] == 'E') {
		sts_fetchc_fail_unsent(c, "the policy fetcher could not be "
		    "started (see the log)");
		return;
	}
	memcpy(&pid, data + 1, sizeof(pid));
	sts_fetchc_attach(c, wfd, pid);
}

static void
sts_fetchc_spawn(struct sts_fetchc *c)
{
	ssize_t	n;

	if (c->chan != NULL || c->spawning)
		return;
	if (c->zfd == -1) {
		sts_fetchc_fail_unsent(c, "the policy fetcher's spawner is "
		    "gone");
		return;
	}
	while ((n = send(c->zfd, "F", 1, MSG_NOSIGNAL | MSG_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (n != 1) {
		sts_fetchc_spawner_gone(c, n == -1 ? strerror(errno) :
		    "short write");
		return;
	}
	c->spawning = 1;
}

struct sts_fetchc *
sts_fetchc_new(struct event_loop *loop, int fd)
{
	struct sts_fetchc	*c;

	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->zfd = fd;
	if (event_add(loop, fd, EV_READ, sts_fetchc_on_spawner, c) == -1)
		fatal("event_add");
	return c;
}

void
sts_fetchc_free(struct sts_fetchc *c)
{
	struct sts_fetchc_req	*r;

	if (c == NULL)
		return;
	while ((r = c->head) != NULL) {
		sts_fetchc_unlink(c, r);
		free(r);
	}
	if (c->chan != NULL)
		ipc_chan_free(c->chan);
	if (c->zfd != -1) {
		event_del(c->loop, c->zfd);
		close(c->zfd);
	}
	free(c);
}

struct sts_fetchc_req *
sts_fetchc_start(struct sts_fetchc *c, const char *domain,
    const struct dns_addr *addrs, size_t naddrs, unsigned timeout,
    sts_fetchc_cb cb, void *arg)
{
	struct sts_fetchc_req	*r;

	r = xcalloc(1, sizeof(*r));
	r->c = c;
	if (++c->last_id == 0)
		c->last_id = 1;
	r->id = c->last_id;
	(void)strlcpy(r->domain, domain, sizeof(r->domain));
	if (naddrs > STS_ADDRS_MAX)
		naddrs = STS_ADDRS_MAX;
	memcpy(r->addrs, addrs, naddrs * sizeof(*addrs));
	r->naddrs = naddrs;
	r->timeout = timeout > 0 ? timeout : 1;
	r->cb = cb;
	r->arg = arg;
	r->next = c->head;
	if (c->head != NULL)
		c->head->prev = r;
	c->head = r;
	r->guard = event_timer_add(c->loop,
	    (uint64_t)(r->timeout + STS_FETCHC_GRACE_S) * 1000,
	    sts_fetchc_guard, r);
	if (naddrs == 0 || strlen(domain) >= sizeof(r->domain))
		sts_fetchc_fail_later(r, "no address or a name too long for "
		    "the policy fetcher");
	else if (c->chan != NULL)
		sts_fetchc_send(c, r);
	else
		sts_fetchc_spawn(c);
	return r;
}

void
sts_fetchc_cancel(struct sts_fetchc *c, struct sts_fetchc_req *r)
{
	if (r->sent && r->fail[0] == '\0' && c->chan != NULL)
		ipc_send(c->chan, MSG_SF_CANCEL, 0, -1, &r->id, sizeof(r->id));
	sts_fetchc_unlink(c, r);
	free(r);
}
