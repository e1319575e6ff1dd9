/*
 * sts_fetchd.c - the processes of sts_fetchd.h: the start-up probe, the
 * spawner and the worker.  The client, in delivery, is sts_fetchc.c.
 *
 * Every one of them is forked from delivery before its chroot, and keeps
 * of delivery's descriptors only the log pipe and its own socket: none of
 * them can reach the queue, the parent or the control process.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/util.h"
#include "sts_fetch.h"
#include "sts_fetchd.h"
#include "sts_int.h"
#include "sts_policy.h"

/* ---- the probe ---- */

int
sts_fetchd_probe(char *err, size_t errlen)
{
	int	p[2], st;
	pid_t	pid;
	ssize_t	n;
	size_t	got = 0;
	char	why[512];

	if (pipe2(p, O_CLOEXEC) == -1) {
		bsnprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		bsnprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (sts_fetch_global_init(why, sizeof(why)) == -1)
			(void)write_all(p[1], why, strlen(why));
		_exit(0);
	}
	close(p[1]);
	while (got < errlen - 1 &&
	    (n = read(p[0], err + got, errlen - 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		got += (size_t)n;
	}
	err[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (got > 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		bsnprintf(err, errlen, "loading libcurl killed the process "
		    "that tried (status %d)", st);
		return -1;
	}
	return 0;
}

/* ---- the worker ---- */

struct sts_fetchd_job {
	struct sts_fetchd_job	*next;
	uint32_t		 id;
	struct sts_fetch	*fetch;
};

static struct {
	struct event_loop	*loop;
	struct ipc_chan		*chan;
	struct sts_fetcher	*fetcher;
	struct sts_fetchd_job	*jobs;
	struct event_timer	*idle;
} fw;

static void sts_fetchd_idle_arm(void);

static void
sts_fetchd_idle_cb(void *arg)
{
	(void)arg;
	fw.idle = NULL;
	if (fw.jobs == NULL)
		event_loop_stop(fw.loop);
}

static void
sts_fetchd_idle_arm(void)
{
	if (fw.idle != NULL)
		event_timer_cancel(fw.loop, fw.idle);
	fw.idle = NULL;
	if (fw.jobs == NULL)
		fw.idle = event_timer_add(fw.loop, STS_FETCHD_IDLE_MS,
		    sts_fetchd_idle_cb, NULL);
}

static struct sts_fetchd_job *
sts_fetchd_take(uint32_t id)
{
	struct sts_fetchd_job	**pp, *j;

	for (pp = &fw.jobs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			j = *pp;
			*pp = j->next;
			return j;
		}
	return NULL;
}

static void
sts_fetchd_done(const struct sts_fetch_result *r, void *arg)
{
	struct sts_fetchd_job	*j = arg;
	struct buf		 b;

	(void)sts_fetchd_take(j->id);
	buf_init(&b);
	ipc_put_u32(&b, j->id);
	ipc_put_u32(&b, r->ok ? 1 : 0);
	ipc_put_u32(&b, r->status < 0 || r->status > 999 ? 0 :
	    (uint32_t)r->status);
	ipc_put_str(&b, r->error);
	ipc_put_str(&b, r->content_type);
	ipc_put_str(&b, r->cert);
	ipc_put_str(&b, r->addr);
	ipc_put_data(&b, r->ok ? r->body : "", r->ok ? r->len : 0);
	ipc_send_buf(fw.chan, MSG_SF_RESULT, 0, -1, &b);
	buf_free(&b);
	free(j);
	sts_fetchd_idle_arm();
}

static void
sts_fetchd_fetch(struct ipc_msg *m)
{
	struct sts_fetchd_job	*j;
	struct dns_addr		 addrs[STS_ADDRS_MAX];
	char			 domain[256];
	const uint8_t		*p;
	size_t			 n, i;
	uint32_t		 id, timeout;

	id = ipc_get_u32(m);
	ipc_get_str(m, domain, sizeof(domain));
	timeout = ipc_get_u32(m);
	p = ipc_get_data(m, &n);
	ipc_end(m);
	if (n == 0 || n % sizeof(struct dns_addr) != 0 ||
	    n / sizeof(struct dns_addr) > STS_ADDRS_MAX || timeout == 0 ||
	    domain[0] == '\0')
		fatalx("MSG_SF_FETCH: bad request");
	memcpy(addrs, p, n);
	n /= sizeof(struct dns_addr);
	for (i = 0; i < n; i++)
		if (addrs[i].family != AF_INET && addrs[i].family != AF_INET6)
			fatalx("MSG_SF_FETCH: bad address family");
	j = xcalloc(1, sizeof(*j));
	j->id = id;
	j->next = fw.jobs;
	fw.jobs = j;
	sts_fetchd_idle_arm();
	j->fetch = sts_fetch_start(fw.fetcher, domain, addrs, n, timeout,
	    sts_fetchd_done, j);
}

static void
sts_fetchd_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct sts_fetchd_job	*j;

	(void)ch;
	(void)arg;
	switch (m->type) {
	case MSG_SF_FETCH:
		sts_fetchd_fetch(m);
		break;
	case MSG_SF_CANCEL:
		j = sts_fetchd_take(ipc_get_u32(m));
		ipc_end(m);
		if (j != NULL) {
			sts_fetch_cancel(fw.fetcher, j->fetch);
			free(j);
		}
		sts_fetchd_idle_arm();
		break;
	default:
		ipc_bad_type(m);
	}
}

static void
sts_fetchd_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	_exit(0);		/* delivery is gone: nobody to answer */
}

/* Blocking: the one message of a worker that cannot start. */
static void SM_NORETURN
sts_fetchd_fail(int fd, const char *why)
{
	struct buf	b, out;

	buf_init(&b);
	buf_init(&out);
	ipc_put_str(&b, why);
	ipc_encode(&out, MSG_SF_FAIL, 0, 0, b.data, b.len);
	(void)write_all(fd, out.data, out.len);
	_exit(1);
}

static void SM_NORETURN
sts_fetchd_worker(int fd, const char *ca, size_t calen,
    const struct tls_trust *anchors, const struct sm_user *u,
    const char *chroot_dir)
{
	char	err[512];

	(void)prctl(PR_SET_NAME, "sm-sts-fetch", 0, 0, 0);
	log_setproc("sts-fetch");
	if (sts_fetch_global_init(err, sizeof(err)) == -1)
		sts_fetchd_fail(fd, err);
	privsep_drop(u, chroot_dir);
	memset(&fw, 0, sizeof(fw));
	fw.loop = event_loop_new();
	if ((fw.fetcher = sts_fetcher_new(fw.loop, ca, calen, anchors, err,
	    sizeof(err))) == NULL)
		sts_fetchd_fail(fd, err);
	fw.chan = ipc_chan_new(fw.loop, fd, "delivery", sts_fetchd_dispatch,
	    sts_fetchd_closed, NULL);
	sts_fetchd_idle_arm();
	if (event_loop_run(fw.loop) == -1)
		fatal("event loop");
	(void)ipc_chan_flush(fw.chan);
	_exit(0);
}

/* ---- the spawner ---- */

/* 'W' and the pid with the descriptor, or 'E' alone; -1 on error. */
static int
sts_fetchd_reply(int fd, char what, pid_t pid, int pass)
{
	struct iovec	 iov[2];
	int32_t		 p32 = (int32_t)pid;

	iov[0].iov_base = &what;
	iov[0].iov_len = 1;
	iov[1].iov_base = &p32;
	iov[1].iov_len = sizeof(p32);
	return ipc_sendmsg(fd, iov, 2, pass) == (ssize_t)(1 + sizeof(p32)) ?
	    0 : -1;
}

static void SM_NORETURN
sts_fetchd_spawn_loop(int fd, const char *ca, size_t calen,
    const struct tls_trust *anchors, const struct sm_user *u,
    const char *chroot_dir)
{
	int	sv[2];
	pid_t	pid;
	ssize_t	n;
	char	c;

	(void)prctl(PR_SET_NAME, "sm-sts-spawn", 0, 0, 0);
	log_setproc("sts-spawn");
	/* Workers are reaped by the kernel: nothing here waits. */
	(void)signal(SIGCHLD, SIG_IGN);
	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);	/* delivery is gone */
		if (c != 'F')
			fatalx("spawner: unknown request 0x%02x",
			    (unsigned char)c);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv) == -1) {
			log_warn("spawner: socketpair");
			if (sts_fetchd_reply(fd, 'E', 0, -1) == -1)
				_exit(1);
			continue;
		}
		if ((pid = fork()) == -1) {
			log_warn("spawner: fork");
			close(sv[0]);
			close(sv[1]);
			if (sts_fetchd_reply(fd, 'E', 0, -1) == -1)
				_exit(1);
			continue;
		}
		if (pid == 0) {
			close(fd);
			close(sv[0]);
			(void)signal(SIGCHLD, SIG_DFL);
			privsep_detach(getppid());
			sts_fetchd_worker(sv[1], ca, calen, anchors, u,
			    chroot_dir);
		}
		close(sv[1]);
		if (sts_fetchd_reply(fd, 'W', pid, sv[0]) == -1)
			_exit(1);
		close(sv[0]);
	}
}

int
sts_fetchd_spawner(const char *ca, size_t calen,
    const struct tls_trust *anchors, const struct sm_user *u,
    const char *chroot_dir, char *err, size_t errlen)
{
	int	sv[2], keep[2];
	pid_t	pid, me = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		bsnprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		bsnprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		privsep_detach(me);
		keep[0] = sv[1];
		keep[1] = log_output();
		privsep_close_except(keep, keep[1] == -1 ? 1 : 2);
		sts_fetchd_spawn_loop(sv[1], ca, calen, anchors, u,
		    chroot_dir);
	}
	close(sv[1]);
	return sv[0];
}
