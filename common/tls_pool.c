/*
 * tls_pool.c - handshake steps on worker threads (tls_pool.h).
 *
 * One list of steps waiting, one of steps back, under one lock; the
 * workers take the oldest waiting step and append it to the list back,
 * then make the eventfd readable.  A worker touches nothing but the step
 * it holds and its connection; it never logs.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/tls_pool.h"
#include "common/util.h"

#define TLS_POOL_MAX	64	/* workers, at most */

struct tls_pool {
	pthread_mutex_t	 lock;
	pthread_cond_t	 work;
	struct tls_step	*wait, **wait_tail;
	struct tls_step	*back, **back_tail;
	int		 stop;
	int		 efd;
	unsigned	 n;
	pthread_t	 thread[TLS_POOL_MAX];
};

unsigned
tls_pool_cpus(void)
{
	cpu_set_t	set;
	int		n;

	/* The affinity, not /sys: it holds in a chroot, and a process
	 * pinned to fewer CPUs gets as many workers. */
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : (unsigned)n;
}

static void *
tls_pool_worker(void *arg)
{
	struct tls_pool	*p = arg;
	struct tls_step	*s;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->wait == NULL && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if ((s = p->wait) == NULL)
			break;		/* stopped, nothing left */
		if ((p->wait = s->next) == NULL)
			p->wait_tail = &p->wait;
		pthread_mutex_unlock(&p->lock);
		s->rc = tls_handshake(s->tls);
		s->next = NULL;
		pthread_mutex_lock(&p->lock);
		*p->back_tail = s;
		p->back_tail = &s->next;
		wake_fd_post(p->efd);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct tls_pool *
tls_pool_new(unsigned nthreads)
{
	struct tls_pool	*p;
	unsigned	 i;

	if (nthreads < 2 || !tls_threaded())
		return NULL;
	if (nthreads > TLS_POOL_MAX)
		nthreads = TLS_POOL_MAX;
	p = xcalloc(1, sizeof(*p));
	if (pthread_mutex_init(&p->lock, NULL) != 0 ||
	    pthread_cond_init(&p->work, NULL) != 0)
		fatalx("tls_pool_new: cannot initialise lock");
	p->wait_tail = &p->wait;
	p->back_tail = &p->back;
	p->efd = wake_fd_new("tls_pool_new");
	for (i = 0; i < nthreads; i++)
		xthread_start(&p->thread[i], tls_pool_worker, p,
		    "tls_pool_new");
	p->n = nthreads;
	return p;
}

int
tls_pool_fd(const struct tls_pool *p)
{
	return p->efd;
}

void
tls_pool_submit(struct tls_pool *p, struct tls_step *s)
{
	s->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->stop)
		fatalx("tls_pool_submit: the pool is stopped");
	*p->wait_tail = s;
	p->wait_tail = &s->next;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

struct tls_step *
tls_pool_done(struct tls_pool *p)
{
	struct tls_step	*list;

	wake_fd_clear(p->efd);
	pthread_mutex_lock(&p->lock);
	list = p->back;
	p->back = NULL;
	p->back_tail = &p->back;
	pthread_mutex_unlock(&p->lock);
	return list;
}

void
tls_pool_stop(struct tls_pool *p)
{
	unsigned	i;

	pthread_mutex_lock(&p->lock);
	if (p->stop) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->n; i++)
		if ((errno = pthread_join(p->thread[i], NULL)) != 0)
			fatal("tls_pool_stop: pthread_join");
}

void
tls_pool_free(struct tls_pool *p)
{
	if (p == NULL)
		return;
	tls_pool_stop(p);
	close(p->efd);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
