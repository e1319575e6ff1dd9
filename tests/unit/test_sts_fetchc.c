/*
 * test_sts_fetchc.c - unit tests of sts/sts_fetchc.c, delivery's side of
 * the policy fetcher, against a scripted spawner and scripted workers on
 * socketpairs in the same event loop: an answer is passed on intact; a
 * worker that exits holding a request hands it to the next worker, and a
 * request that meets two such workers fails; a malformed answer, a
 * worker that cannot start and a spawner that is gone each fail the
 * request with the reason, without a new worker for it; a cancelled
 * request is cancelled at the worker and never called back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
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
#include "sts/sts_fetch.h"
#include "sts/sts_fetchd.h"

enum script {
	W_ANSWER,	/* answers each fetch with a policy */
	W_EXIT_FIRST,	/* the first worker exits on its fetch, then answer */
	W_EXIT_ALWAYS,	/* every worker exits on its fetch */
	W_BAD,		/* answers ok with an empty body */
	W_FAIL,		/* says it cannot start */
	W_HOLD,		/* keeps the fetch; the test cancels it */
};

#define POLICY "version: STSv1\nmode: enforce\nmx: mx.t.test\nmax_age: 86400\n"

static struct {
	struct event_loop	*loop;
	enum script		 script;
	int			 sfd;		/* the spawner's end */
	int			 spawns;
	int			 fetches;	/* MSG_SF_FETCH seen */
	int			 cancels;	/* MSG_SF_CANCEL seen */
	uint32_t		 fetch_id, cancel_id;
	char			 domain[256];
	uint32_t		 timeout;
	size_t			 naddrs;
	struct ipc_chan		*worker;
	int			 called;
	struct sts_fetch_result	 res;
	char			 body[512];
	int			 timed_out;
} t;

static void
worker_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct buf	 b;
	const uint8_t	*p;
	size_t		 n;

	(void)arg;
	if (m->type == MSG_SF_CANCEL) {
		t.cancel_id = ipc_get_u32(m);
		ipc_end(m);
		t.cancels++;
		event_loop_stop(t.loop);
		return;
	}
	assert_int_equal(m->type, MSG_SF_FETCH);
	t.fetch_id = ipc_get_u32(m);
	ipc_get_str(m, t.domain, sizeof(t.domain));
	t.timeout = ipc_get_u32(m);
	p = ipc_get_data(m, &n);
	(void)p;
	ipc_end(m);
	t.naddrs = n / sizeof(struct dns_addr);
	t.fetches++;
	if (t.script == W_EXIT_ALWAYS ||
	    (t.script == W_EXIT_FIRST && t.spawns == 1)) {
		ipc_chan_free(ch);	/* the worker exits */
		t.worker = NULL;
		return;
	}
	if (t.script == W_HOLD) {
		event_loop_stop(t.loop);
		return;
	}
	buf_init(&b);
	ipc_put_u32(&b, t.fetch_id);
	ipc_put_u32(&b, 1);
	ipc_put_u32(&b, 200);
	ipc_put_str(&b, "");
	ipc_put_str(&b, "text/plain");
	ipc_put_str(&b, "verified");
	ipc_put_str(&b, "127.0.2.1");
	if (t.script == W_BAD)
		ipc_put_data(&b, "", 0);
	else
		ipc_put_data(&b, POLICY, strlen(POLICY));
	ipc_send_buf(ch, MSG_SF_RESULT, 0, -1, &b);
	buf_free(&b);
}

static void
worker_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	ipc_chan_free(ch);
	t.worker = NULL;
}

/* The scripted spawner: 'F' -> a new worker, its end passed back. */
static void
spawner_cb(int fd, int events, void *arg)
{
	struct iovec	 iov;
	char		 data[5] = { 'W', 0, 0, 0, 0 }, f;
	int32_t		 pid = 4242;
	int		 sv[2];
	struct buf	 b;

	(void)events;
	(void)arg;
	if (read(fd, &f, 1) != 1)
		return;
	assert_int_equal(f, 'F');
	t.spawns++;
	assert_null(t.worker);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	t.worker = ipc_chan_new(t.loop, sv[0], "fetchc", worker_dispatch,
	    worker_closed, NULL);
	if (t.script == W_FAIL) {
		buf_init(&b);
		ipc_put_str(&b, "no libcurl here");
		ipc_send_buf(t.worker, MSG_SF_FAIL, 0, -1, &b);
		buf_free(&b);
	}
	memcpy(data + 1, &pid, sizeof(pid));
	iov.iov_base = data;
	iov.iov_len = sizeof(data);
	assert_int_equal(ipc_sendmsg(fd, &iov, 1, sv[1]),
	    (ssize_t)sizeof(data));
	close(sv[1]);
}

static void
fetched(const struct sts_fetch_result *res, void *arg)
{
	(void)arg;
	t.called++;
	t.res = *res;
	t.body[0] = '\0';
	if (res->ok) {
		assert_true(res->len < sizeof(t.body));
		memcpy(t.body, res->body, res->len + 1);
	}
	t.res.body = t.body;
	event_loop_stop(t.loop);
}

static void
give_up(void *arg)
{
	(void)arg;
	t.timed_out = 1;
	event_loop_stop(t.loop);
}

/* A fetcher client over a scripted spawner; returns it. */
static struct sts_fetchc *
setup_client(enum script s, int spawner_gone)
{
	int	sv[2];

	memset(&t, 0, sizeof(t));
	t.script = s;
	t.loop = event_loop_new();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	t.sfd = sv[1];
	if (spawner_gone) {
		close(t.sfd);
		t.sfd = -1;
	} else
		assert_int_equal(event_add(t.loop, t.sfd, EV_READ, spawner_cb,
		    NULL), 0);
	return sts_fetchc_new(t.loop, sv[0]);
}

static void
run(void)
{
	struct event_timer	*g;

	g = event_timer_add(t.loop, 5000, give_up, NULL);
	assert_int_equal(event_loop_run(t.loop), 0);
	if (!t.timed_out)
		event_timer_cancel(t.loop, g);
	assert_int_equal(t.timed_out, 0);
}

static void
teardown_client(struct sts_fetchc *c)
{
	sts_fetchc_free(c);
	if (t.worker != NULL)
		ipc_chan_free(t.worker);
	if (t.sfd != -1) {
		event_del(t.loop, t.sfd);
		close(t.sfd);
	}
	event_loop_free(t.loop);
}

static struct sts_fetchc_req *
start(struct sts_fetchc *c)
{
	struct dns_addr	a[2];

	memset(a, 0, sizeof(a));
	a[0].family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "127.0.2.1", &a[0].u.v4), 1);
	a[1].family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "fd00::2:1", &a[1].u.v6), 1);
	return sts_fetchc_start(c, "t.test", a, 2, 7, fetched, NULL);
}

static void
test_answer(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_ANSWER, 0);
	(void)start(c);
	assert_int_equal(t.called, 0);	/* never inside start */
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 1);
	assert_int_equal(t.res.status, 200);
	assert_string_equal(t.body, POLICY);
	assert_int_equal(t.res.len, strlen(POLICY));
	assert_string_equal(t.res.content_type, "text/plain");
	assert_string_equal(t.res.cert, "verified");
	assert_string_equal(t.res.addr, "127.0.2.1");
	assert_string_equal(t.domain, "t.test");
	assert_int_equal(t.timeout, 7);
	assert_int_equal(t.naddrs, 2);
	assert_int_equal(t.spawns, 1);
	/* A second request goes to the same worker. */
	(void)start(c);
	run();
	assert_int_equal(t.called, 2);
	assert_int_equal(t.res.ok, 1);
	assert_int_equal(t.spawns, 1);
	teardown_client(c);
}

static void
test_worker_exits_once(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_EXIT_FIRST, 0);
	(void)start(c);
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 1);
	assert_int_equal(t.spawns, 2);
	assert_int_equal(t.fetches, 2);
	teardown_client(c);
}

static void
test_worker_exits_twice(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_EXIT_ALWAYS, 0);
	(void)start(c);
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 0);
	assert_non_null(strstr(t.res.error, "exited during the fetch, twice"));
	assert_int_equal(t.spawns, 2);
	assert_int_equal(t.fetches, 2);
	teardown_client(c);
}

static void
test_bad_answer(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_BAD, 0);
	(void)start(c);
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 0);
	assert_non_null(strstr(t.res.error, "broke the protocol"));
	assert_int_equal(t.spawns, 1);
	teardown_client(c);
}

static void
test_worker_cannot_start(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_FAIL, 0);
	(void)start(c);
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 0);
	assert_non_null(strstr(t.res.error,
	    "could not start: no libcurl here"));
	assert_int_equal(t.spawns, 1);
	teardown_client(c);
}

static void
test_spawner_gone(void **state)
{
	struct sts_fetchc	*c;

	(void)state;
	c = setup_client(W_ANSWER, 1);
	(void)start(c);
	assert_int_equal(t.called, 0);
	run();
	assert_int_equal(t.called, 1);
	assert_int_equal(t.res.ok, 0);
	assert_non_null(strstr(t.res.error, "spawner is gone"));
	teardown_client(c);
}

static void
test_cancel(void **state)
{
	struct sts_fetchc	*c;
	struct sts_fetchc_req	*r;

	(void)state;
	c = setup_client(W_HOLD, 0);
	r = start(c);
	run();				/* until the worker holds it */
	assert_int_equal(t.fetches, 1);
	sts_fetchc_cancel(c, r);
	run();				/* until the worker hears of it */
	assert_int_equal(t.cancels, 1);
	assert_int_equal(t.cancel_id, t.fetch_id);
	assert_int_equal(t.called, 0);
	teardown_client(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_worker_exits_once),
		cmocka_unit_test(test_worker_exits_twice),
		cmocka_unit_test(test_bad_answer),
		cmocka_unit_test(test_worker_cannot_start),
		cmocka_unit_test(test_spawner_gone),
		cmocka_unit_test(test_cancel),
	};

	log_init("test_sts_fetchc", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
