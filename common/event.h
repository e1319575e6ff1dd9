/*
 * event.h - one event loop per process (epoll), with one-shot timers and
 * signals delivered through signalfd.  Later c-ares and libcurl register
 * their descriptors here too.  Callbacks run in the loop's thread only.
 * A descriptor may be registered once; event_del before close().
 */
#ifndef SM_EVENT_H
#define SM_EVENT_H

#include <stdint.h>

#define EV_READ		0x01
#define EV_WRITE	0x02
#define EV_ERROR	0x04	/* reported only: EPOLLERR or EPOLLHUP */

struct event_loop;
struct event_timer;

typedef void (*event_fd_cb)(int fd, int events, void *arg);
typedef void (*event_timer_cb)(void *arg);
typedef void (*event_signal_cb)(int signo, void *arg);

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *loop);
int event_loop_run(struct event_loop *loop);   /* until event_loop_stop; 0 or -1 */
void event_loop_stop(struct event_loop *loop);

int event_add(struct event_loop *loop, int fd, int events, event_fd_cb cb, void *arg);
int event_mod(struct event_loop *loop, int fd, int events);
void event_del(struct event_loop *loop, int fd);

/* One-shot timer after ms milliseconds; freed after it fires or is cancelled. */
struct event_timer *event_timer_add(struct event_loop *loop, uint64_t ms,
    event_timer_cb cb, void *arg);
void event_timer_cancel(struct event_loop *loop, struct event_timer *t);

/*
 * A call made once, after the callbacks of the current round and before
 * the loop next waits: work that many callbacks of one round may ask for
 * is done once (ipc.c sends a round's messages in one sendmsg this way).
 * The caller owns the struct, sets cb and arg, and cancels it before
 * freeing it; asking again while it is due changes nothing.
 */
struct event_defer {
	void			(*cb)(void *arg);
	void			*arg;
	struct event_defer	*next;
	int			 queued;
};
void event_defer(struct event_loop *loop, struct event_defer *d);
void event_defer_cancel(struct event_loop *loop, struct event_defer *d);

/* Blocks signo and delivers it through the loop (signalfd). */
int event_signal(struct event_loop *loop, int signo, event_signal_cb cb, void *arg);

#endif
