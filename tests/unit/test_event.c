/*
 * test_event.c - unit tests of common/event.c: timer order over many
 * timers, cancelling (also from inside callbacks), removing a descriptor
 * from the callback of another one in the same batch, signals through
 * signalfd, a loop freed with everything still registered, and deferred
 * calls (once per request, after the round, cancelled ones never).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

static void
timeout_cb(void *arg)
{
	(void)arg;
	fail_msg("event test timed out");
}

static void
run_loop(struct event_loop *loop)
{
	struct event_timer	*t;

	t = event_timer_add(loop, 10000, timeout_cb, NULL);
	assert_int_equal(event_loop_run(loop), 0);
	event_timer_cancel(loop, t);
}

/* ---- timers ---- */

#define NTIMERS	1000

struct torder {
	struct event_loop	*loop;
	struct event_timer	*t[NTIMERS];
	unsigned		 ms[NTIMERS];
	int			 fired[NTIMERS];
	unsigned		 last_ms;
	int			 nfired;
	int			 want;
	int			 bad_order;
};

struct tslot {
	struct torder	*o;
	int		 i;
};

static void
order_cb(void *arg)
{
	struct tslot	*s = arg;
	struct torder	*o = s->o;

	if (o->ms[s->i] < o->last_ms)
		o->bad_order++;
	o->last_ms = o->ms[s->i];
	o->fired[s->i]++;
	o->t[s->i] = NULL;
	if (++o->nfired == o->want)
		event_loop_stop(o->loop);
}

static void
test_timer_order(void **state)
{
	static struct torder	o;
	static struct tslot	slot[NTIMERS];
	unsigned		seed = 12345;
	int			i;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.loop = event_loop_new();
	for (i = 0; i < NTIMERS; i++) {
		seed = seed * 1103515245 + 12345;
		/* Multiples of 25 ms: the time spent adding them (long on a
		 * busy machine under the sanitizers) cannot swap two. */
		o.ms[i] = ((seed >> 16) % 20) * 25;
		slot[i].o = &o;
		slot[i].i = i;
		o.t[i] = event_timer_add(o.loop, o.ms[i], order_cb, &slot[i]);
	}
	for (i = 0; i < NTIMERS; i += 3) {
		event_timer_cancel(o.loop, o.t[i]);
		o.t[i] = NULL;
	}
	o.want = NTIMERS - (NTIMERS + 2) / 3;
	run_loop(o.loop);
	assert_int_equal(o.nfired, o.want);
	assert_int_equal(o.bad_order, 0);
	for (i = 0; i < NTIMERS; i++)
		if (o.fired[i] != (i % 3 == 0 ? 0 : 1))
			fail_msg("timer %d fired %d times", i, o.fired[i]);
	event_loop_free(o.loop);
}

struct tcancel {
	struct event_loop	*loop;
	struct event_timer	*self;
	struct event_timer	*other;
	int			 self_fired;
	int			 other_fired;
	int			 rearm;
};

static void
other_cb(void *arg)
{
	struct tcancel	*c = arg;

	c->other_fired++;
}

static void
stop_cb(void *arg)
{
	event_loop_stop(arg);
}

static void
self_cb(void *arg)
{
	struct tcancel	*c = arg;

	c->self_fired++;
	/* Cancelling the other one and ourselves, from inside. */
	event_timer_cancel(c->loop, c->other);
	c->other = NULL;
	event_timer_cancel(c->loop, c->self);
	c->self = NULL;
}

static void
test_timer_cancel_in_callback(void **state)
{
	struct tcancel	c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.loop = event_loop_new();
	c.self = event_timer_add(c.loop, 5, self_cb, &c);
	c.other = event_timer_add(c.loop, 5, other_cb, &c);
	event_timer_add(c.loop, 30, stop_cb, c.loop);
	run_loop(c.loop);
	assert_int_equal(c.self_fired, 1);
	assert_int_equal(c.other_fired, 0);
	event_loop_free(c.loop);
}

static void
rearm_cb(void *arg)
{
	struct tcancel	*c = arg;

	if (++c->rearm == 100) {
		event_loop_stop(c->loop);
		return;
	}
	/* A zero timeout added in a callback runs on a later pass. */
	event_timer_add(c->loop, 0, rearm_cb, c);
}

static void
test_timer_zero_rearm(void **state)
{
	struct tcancel	c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.loop = event_loop_new();
	event_timer_add(c.loop, 0, rearm_cb, &c);
	run_loop(c.loop);
	assert_int_equal(c.rearm, 100);
	event_loop_free(c.loop);
}

static void
test_timer_delay(void **state)
{
	struct event_loop	*loop;
	uint64_t		 t0, t1;

	(void)state;
	loop = event_loop_new();
	t0 = now_ms();
	event_timer_add(loop, 50, stop_cb, loop);
	run_loop(loop);
	t1 = now_ms();
	assert_true(t1 - t0 >= 50);
	assert_true(t1 - t0 < 2000);
	/* A stop asked for before run makes it return at once. */
	event_loop_stop(loop);
	assert_int_equal(event_loop_run(loop), 0);
	event_loop_free(loop);
}

/* ---- descriptors ---- */

struct fdtest {
	struct event_loop	*loop;
	int			 a[2], b[2], c[2];
	int			 first_calls;
	int			 new_calls;
};

static void
new_cb(int fd, int events, void *arg)
{
	struct fdtest	*t = arg;
	char		 ch;

	assert_true(events & EV_READ);
	assert_int_equal(read(fd, &ch, 1), 1);
	assert_int_equal(ch, 'c');
	t->new_calls++;
	event_loop_stop(t->loop);
}

/* Whichever of a and b comes first removes the other and puts a new
 * descriptor, likely with the same number, in its place. */
static void
first_cb(int fd, int events, void *arg)
{
	struct fdtest	*t = arg;
	int		 other;

	(void)events;
	t->first_calls++;
	other = fd == t->a[0] ? t->b[0] : t->a[0];
	event_del(t->loop, other);
	close(other);
	event_del(t->loop, fd);
	assert_int_equal(pipe(t->c), 0);
	assert_int_equal(write(t->c[1], "c", 1), 1);
	assert_int_equal(event_add(t->loop, t->c[0], EV_READ, new_cb, t), 0);
	if (other == t->a[0])
		t->a[0] = -1;
	else
		t->b[0] = -1;
}

static void
test_del_other_fd_in_batch(void **state)
{
	struct fdtest	t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.loop = event_loop_new();
	assert_int_equal(pipe(t.a), 0);
	assert_int_equal(pipe(t.b), 0);
	assert_int_equal(write(t.a[1], "a", 1), 1);
	assert_int_equal(write(t.b[1], "b", 1), 1);
	assert_int_equal(event_add(t.loop, t.a[0], EV_READ, first_cb, &t), 0);
	assert_int_equal(event_add(t.loop, t.b[0], EV_READ, first_cb, &t), 0);
	assert_int_equal(event_add(t.loop, t.a[0], EV_READ, first_cb, &t), -1);
	assert_int_equal(errno, EEXIST);
	run_loop(t.loop);
	assert_int_equal(t.first_calls, 1);
	assert_int_equal(t.new_calls, 1);
	event_del(t.loop, t.c[0]);
	close(t.c[0]);
	close(t.c[1]);
	if (t.a[0] != -1)
		close(t.a[0]);
	if (t.b[0] != -1)
		close(t.b[0]);
	close(t.a[1]);
	close(t.b[1]);
	event_loop_free(t.loop);
}

struct wtest {
	struct event_loop	*loop;
	int			 writes;
};

static void
write_cb(int fd, int events, void *arg)
{
	struct wtest	*w = arg;

	assert_true(events & EV_WRITE);
	assert_int_equal(write(fd, "x", 1), 1);
	if (++w->writes == 3) {
		/* Write interest off: no more calls. */
		assert_int_equal(event_mod(w->loop, fd, 0), 0);
		event_timer_add(w->loop, 20, stop_cb, w->loop);
	}
}

static void
test_mod_write_interest(void **state)
{
	struct wtest	w;
	int		p[2];

	(void)state;
	memset(&w, 0, sizeof(w));
	w.loop = event_loop_new();
	assert_int_equal(pipe(p), 0);
	assert_int_equal(event_mod(w.loop, p[1], EV_WRITE), -1);
	assert_int_equal(event_add(w.loop, p[1], EV_WRITE, write_cb, &w), 0);
	run_loop(w.loop);
	assert_int_equal(w.writes, 3);
	close(p[0]);
	close(p[1]);
	/* Freed while still registered (closed fd: the loop must cope). */
	event_loop_free(w.loop);
}

/* ---- signals ---- */

struct stest {
	struct event_loop	*loop;
	int			 usr1;
	int			 usr2;
};

static void
sig_cb(int signo, void *arg)
{
	struct stest	*s = arg;

	if (signo == SIGUSR1)
		s->usr1++;
	else if (signo == SIGUSR2)
		s->usr2++;
	if (s->usr1 > 0 && s->usr2 > 0)
		event_loop_stop(s->loop);
}

static void
test_signals(void **state)
{
	struct stest	s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.loop = event_loop_new();
	assert_int_equal(event_signal(s.loop, SIGUSR1, sig_cb, &s), 0);
	assert_int_equal(event_signal(s.loop, SIGUSR2, sig_cb, &s), 0);
	assert_int_equal(event_signal(s.loop, 0, sig_cb, &s), -1);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	run_loop(s.loop);
	assert_int_equal(s.usr1, 1);
	assert_int_equal(s.usr2, 1);
	/* Freed with timers, descriptors and the signalfd still there. */
	event_timer_add(s.loop, 100000, timeout_cb, NULL);
	event_loop_free(s.loop);
}

/* ---- deferred calls ---- */

struct dfr {
	struct event_loop	*loop;
	struct event_defer	 a, b, c;
	int			 na, nb, nc;
	int			 timer_seen_a;	/* a ran before the timer */
	int			 pipefd[2];
	int			 fd_seen_a;	/* ... before the next wait */
};

static void
dfr_b(void *arg)
{
	struct dfr	*d = arg;

	d->nb++;
}

static void
dfr_a(void *arg)
{
	struct dfr	*d = arg;

	d->na++;
	/* Asked for from a deferred call: runs in the same pass. */
	event_defer(d->loop, &d->b);
}

static void
dfr_c(void *arg)
{
	struct dfr	*d = arg;

	d->nc++;
}

static void
dfr_timer(void *arg)
{
	struct dfr	*d = arg;

	d->timer_seen_a = d->na;
	/* Asked for twice and cancelled: never runs. */
	event_defer(d->loop, &d->c);
	event_defer(d->loop, &d->c);
	event_defer_cancel(d->loop, &d->c);
	/* Asked for twice while due: runs once. */
	event_defer(d->loop, &d->a);
	event_defer(d->loop, &d->a);
	assert_int_equal(write(d->pipefd[1], "x", 1), 1);
}

static void
dfr_read(int fd, int events, void *arg)
{
	struct dfr	*d = arg;
	char		 c;

	(void)events;
	assert_int_equal(read(fd, &c, 1), 1);
	d->fd_seen_a = d->na;
	event_loop_stop(d->loop);
}

static void
test_defer(void **state)
{
	struct dfr	d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.loop = event_loop_new();
	d.a.cb = dfr_a;
	d.b.cb = dfr_b;
	d.c.cb = dfr_c;
	d.a.arg = d.b.arg = d.c.arg = &d;
	assert_int_equal(pipe(d.pipefd), 0);
	assert_int_equal(event_add(d.loop, d.pipefd[0], EV_READ, dfr_read,
	    &d), 0);
	event_timer_add(d.loop, 0, dfr_timer, &d);
	run_loop(d.loop);
	assert_int_equal(d.timer_seen_a, 0);
	assert_int_equal(d.fd_seen_a, 1);	/* ran before the next wait */
	assert_int_equal(d.na, 1);
	assert_int_equal(d.nb, 1);
	assert_int_equal(d.nc, 0);
	/* Cancelled while due, then freed: the loop no longer knows it. */
	event_defer(d.loop, &d.c);
	event_defer_cancel(d.loop, &d.c);
	assert_int_equal(d.c.queued, 0);
	event_del(d.loop, d.pipefd[0]);
	close(d.pipefd[0]);
	close(d.pipefd[1]);
	event_loop_free(d.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_cancel_in_callback),
		cmocka_unit_test(test_timer_zero_rearm),
		cmocka_unit_test(test_timer_delay),
		cmocka_unit_test(test_del_other_fd_in_batch),
		cmocka_unit_test(test_mod_write_interest),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_defer),
	};

	log_init("test_event", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
