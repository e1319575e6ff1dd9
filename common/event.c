/*
 * event.c - the event loop of every strictmail process: epoll for
 * descriptors, a binary min-heap of one-shot timers on CLOCK_MONOTONIC,
 * and one signalfd for all signals the loop handles.
 *
 * Each registered descriptor has a record that epoll points at.  event_del
 * marks the record dead and frees it only after the current batch, so a
 * callback may remove any descriptor (even its own) without a stale event
 * reaching it.  A timer is taken out of the heap before its callback runs,
 * so callbacks may add and cancel timers freely.  Signals stay blocked for
 * the life of the process: a signal that arrives while shutting down is
 * never delivered with its default action.
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "util.h"

#define EVENT_BATCH	64
#define EVENT_NSIG	65	/* signal numbers 1..64 */

struct event_fd {
	int		 fd;
	int		 events;
	int		 dead;
	event_fd_cb	 cb;
	void		*arg;
	struct event_fd	*next_dead;
};

struct event_timer {
	uint64_t	 deadline;
	uint64_t	 seq;
	size_t		 idx;		/* place in the heap, or EVENT_NOT_QUEUED */
	int		 firing;
	event_timer_cb	 cb;
	void		*arg;
};
#define EVENT_NOT_QUEUED	((size_t)-1)

struct event_signal_handler {
	event_signal_cb	 cb;
	void		*arg;
};

struct event_loop {
	int			 epfd;
	int			 stop;
	struct event_fd		**fds;		/* indexed by descriptor */
	size_t			 nfds;
	struct event_fd		*dead;		/* freed after each batch */

	struct event_timer	**heap;
	size_t			 nheap;
	size_t			 heapcap;
	uint64_t		 seq;

	struct event_defer	*defer;		/* due before the next wait */

	int			 sigfd;
	sigset_t		 sigmask;
	struct event_signal_handler sig[EVENT_NSIG];
};

struct event_loop *
event_loop_new(void)
{
	struct event_loop	*loop;

	loop = xcalloc(1, sizeof(*loop));
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	return loop;
}

static void
event_free_dead(struct event_loop *loop)
{
	struct event_fd	*r;

	while ((r = loop->dead) != NULL) {
		loop->dead = r->next_dead;
		free(r);
	}
}

void
event_loop_free(struct event_loop *loop)
{
	size_t	i;

	if (loop == NULL)
		return;
	if (loop->sigfd != -1) {
		event_del(loop, loop->sigfd);
		close(loop->sigfd);
	}
	for (i = 0; i < loop->nfds; i++)
		free(loop->fds[i]);
	free(loop->fds);
	event_free_dead(loop);
	for (i = 0; i < loop->nheap; i++)
		free(loop->heap[i]);
	free(loop->heap);
	close(loop->epfd);
	free(loop);
}

/* Makes event_loop_run return after the current callback; a stop asked
 * for before event_loop_run makes it return at once. */
void
event_loop_stop(struct event_loop *loop)
{
	loop->stop = 1;
}

/* ---- descriptors ---- */

static uint32_t
event_to_epoll(int events)
{
	uint32_t	ev = 0;

	if (events & EV_READ)
		ev |= EPOLLIN;
	if (events & EV_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

static int
event_from_epoll(uint32_t ev)
{
	int	events = 0;

	if (ev & EPOLLIN)
		events |= EV_READ;
	if (ev & EPOLLOUT)
		events |= EV_WRITE;
	if (ev & (EPOLLERR | EPOLLHUP))
		events |= EV_ERROR;
	return events;
}

static struct event_fd *
event_lookup(struct event_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds)
		return NULL;
	return loop->fds[fd];
}

static void
event_grow_fds(struct event_loop *loop, int fd)
{
	size_t	n = loop->nfds ? loop->nfds : 64;

	while (n <= (size_t)fd)
		n *= 2;
	loop->fds = xreallocarray(loop->fds, n, sizeof(*loop->fds));
	memset(loop->fds + loop->nfds, 0, (n - loop->nfds) * sizeof(*loop->fds));
	loop->nfds = n;
}

int
event_add(struct event_loop *loop, int fd, int events, event_fd_cb cb,
    void *arg)
{
	struct epoll_event	 ee;
	struct event_fd		*r;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (event_lookup(loop, fd) != NULL) {
		errno = EEXIST;
		return -1;
	}
	if ((size_t)fd >= loop->nfds)
		event_grow_fds(loop, fd);
	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->events = events;
	r->cb = cb;
	r->arg = arg;
	memset(&ee, 0, sizeof(ee));
	ee.events = event_to_epoll(events);
	ee.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ee) == -1) {
		free(r);
		return -1;
	}
	loop->fds[fd] = r;
	return 0;
}

int
event_mod(struct event_loop *loop, int fd, int events)
{
	struct epoll_event	 ee;
	struct event_fd		*r;

	if ((r = event_lookup(loop, fd)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (r->events == events)
		return 0;
	memset(&ee, 0, sizeof(ee));
	ee.events = event_to_epoll(events);
	ee.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ee) == -1)
		return -1;
	r->events = events;
	return 0;
}

void
event_del(struct event_loop *loop, int fd)
{
	struct event_fd	*r;

	if ((r = event_lookup(loop, fd)) == NULL)
		return;
	/* Fails harmlessly if the caller closed fd already. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd] = NULL;
	r->dead = 1;
	r->next_dead = loop->dead;
	loop->dead = r;
}

/* ---- timers (binary min-heap ordered by deadline, then creation) ---- */

static int
event_timer_before(const struct event_timer *a, const struct event_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void
event_heap_set(struct event_loop *loop, size_t i, struct event_timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void
event_heap_up(struct event_loop *loop, size_t i)
{
	struct event_timer	*t = loop->heap[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!event_timer_before(t, loop->heap[parent]))
			break;
		event_heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	event_heap_set(loop, i, t);
}

static void
event_heap_down(struct event_loop *loop, size_t i)
{
	struct event_timer	*t = loop->heap[i];
	size_t			 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap &&
		    event_timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!event_timer_before(loop->heap[child], t))
			break;
		event_heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	event_heap_set(loop, i, t);
}

static void
event_heap_remove(struct event_loop *loop, struct event_timer *t)
{
	size_t			 i = t->idx;
	struct event_timer	*last;

	t->idx = EVENT_NOT_QUEUED;
	last = loop->heap[--loop->nheap];
	if (last == t)
		return;
	event_heap_set(loop, i, last);
	if (i > 0 && event_timer_before(last, loop->heap[(i - 1) / 2]))
		event_heap_up(loop, i);
	else
		event_heap_down(loop, i);
}

struct event_timer *
event_timer_add(struct event_loop *loop, uint64_t ms, event_timer_cb cb,
    void *arg)
{
	struct event_timer	*t;
	uint64_t		 now = now_ms();

	if (loop->nheap == loop->heapcap) {
		loop->heapcap = loop->heapcap ? loop->heapcap * 2 : 16;
		loop->heap = xreallocarray(loop->heap, loop->heapcap,
		    sizeof(*loop->heap));
	}
	t = xcalloc(1, sizeof(*t));
	t->deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
	t->seq = loop->seq++;
	t->cb = cb;
	t->arg = arg;
	loop->heap[loop->nheap] = t;
	t->idx = loop->nheap++;
	event_heap_up(loop, t->idx);
	return t;
}

void
event_timer_cancel(struct event_loop *loop, struct event_timer *t)
{
	if (t == NULL)
		return;
	if (t->firing) {
		/* Its own callback: freed when the callback returns. */
		return;
	}
	if (t->idx != EVENT_NOT_QUEUED)
		event_heap_remove(loop, t);
	free(t);
}

/* Milliseconds until the first timer, as an epoll_wait timeout. */
static int
event_timeout(struct event_loop *loop)
{
	uint64_t	now, d;

	if (loop->nheap == 0)
		return -1;
	now = now_ms();
	d = loop->heap[0]->deadline;
	if (d <= now)
		return 0;
	return d - now > INT_MAX ? INT_MAX : (int)(d - now);
}

/*
 * Fires every timer that is due, except those added by the callbacks of
 * this pass (a zero timeout added in a callback waits for the next pass).
 */
static void
event_run_timers(struct event_loop *loop)
{
	struct event_timer	*t;
	uint64_t		 now = now_ms(), lastseq = loop->seq;

	while (loop->nheap > 0 && !loop->stop) {
		t = loop->heap[0];
		if (t->deadline > now || t->seq >= lastseq)
			break;
		event_heap_remove(loop, t);
		t->firing = 1;
		t->cb(t->arg);
		free(t);
	}
}

/* ---- signals ---- */

static void
event_signal_read(int fd, int events, void *arg)
{
	struct event_loop		*loop = arg;
	struct signalfd_siginfo		 si;
	ssize_t				 n;
	unsigned			 signo;

	(void)events;
	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break;
		signo = si.ssi_signo;
		if (signo < EVENT_NSIG && loop->sig[signo].cb != NULL)
			loop->sig[signo].cb((int)signo, loop->sig[signo].arg);
		if (loop->stop)
			break;
	}
}

int
event_signal(struct event_loop *loop, int signo, event_signal_cb cb, void *arg)
{
	sigset_t	one;
	int		fd;

	if (signo <= 0 || signo >= EVENT_NSIG) {
		errno = EINVAL;
		return -1;
	}
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1)
		return -1;
	sigaddset(&loop->sigmask, signo);
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (loop->sigfd == -1) {
		if (event_add(loop, fd, EV_READ, event_signal_read, loop) == -1) {
			close(fd);
			return -1;
		}
		loop->sigfd = fd;
	}
	loop->sig[signo].cb = cb;
	loop->sig[signo].arg = arg;
	return 0;
}

/* ---- deferred calls ---- */

void
event_defer(struct event_loop *loop, struct event_defer *d)
{
	if (d->queued)
		return;
	d->queued = 1;
	d->next = loop->defer;
	loop->defer = d;
}

void
event_defer_cancel(struct event_loop *loop, struct event_defer *d)
{
	struct event_defer	**pp;

	if (!d->queued)
		return;
	for (pp = &loop->defer; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	d->queued = 0;
	d->next = NULL;
}

/* Runs the deferred calls, those they ask for included. */
static void
event_run_defers(struct event_loop *loop)
{
	struct event_defer	*d;

	while ((d = loop->defer) != NULL && !loop->stop) {
		loop->defer = d->next;
		d->next = NULL;
		d->queued = 0;
		d->cb(d->arg);
	}
}

/* ---- the loop ---- */

static void
event_dispatch(struct event_loop *loop, struct epoll_event *ev, int n)
{
	struct event_fd	*r;
	int		 i;

	for (i = 0; i < n && !loop->stop; i++) {
		r = ev[i].data.ptr;
		if (r->dead)
			continue;
		r->cb(r->fd, event_from_epoll(ev[i].events), r->arg);
	}
	event_free_dead(loop);
}

int
event_loop_run(struct event_loop *loop)
{
	struct epoll_event	ev[EVENT_BATCH];
	int			n;

	while (!loop->stop) {
		event_run_defers(loop);
		if (loop->stop)
			break;
		n = epoll_wait(loop->epfd, ev, EVENT_BATCH, event_timeout(loop));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		event_dispatch(loop, ev, n);
		event_run_timers(loop);
	}
	loop->stop = 0;
	return 0;
}
