/*
 * tls_pool.h - handshake steps on worker threads, so that a receiver's
 * full handshakes (an ECDHE key pair, a signature and the shared secret:
 * about 1.8 ms of mbedTLS's arithmetic each) use every CPU and never hold
 * its event loop.
 *
 * The loop hands over a step (one tls_handshake() call on a connection
 * whose socket is readable or writable) and stops watching that socket;
 * a worker runs it (the socket is non-blocking: the step only computes
 * and reads or writes what is there) and gives it back through an
 * eventfd the loop watches.  While a step is out, the loop touches
 * neither the connection nor its socket.  A server configuration is
 * shared by the workers as it is (common/tls.c: read-only after
 * tls_server_conf_new but for the ticket keys and the random generator,
 * which mbedTLS locks).
 */
#ifndef SM_TLS_POOL_H
#define SM_TLS_POOL_H

struct tls_conn;
struct tls_pool;

/* One step, the caller's memory until it is back. */
struct tls_step {
	struct tls_step	*next;		/* the pool's */
	struct tls_conn	*tls;
	int		 rc;		/* tls_handshake's result, once back */
	void		*arg;		/* the caller's */
};

/* The CPUs this process may run on (its affinity), at least 1. */
unsigned tls_pool_cpus(void);

/* A pool of nthreads workers, or NULL when nthreads < 2 or mbedTLS was
 * built without its locks (MBEDTLS_THREADING_C): the caller then steps
 * handshakes itself. */
struct tls_pool *tls_pool_new(unsigned nthreads);
/* Readable when steps are back. */
int tls_pool_fd(const struct tls_pool *p);
void tls_pool_submit(struct tls_pool *p, struct tls_step *s);
/* The steps back since the last call, in the order they ended. */
struct tls_step *tls_pool_done(struct tls_pool *p);
/* Runs every step submitted, then ends the workers; what they ran is then
 * in tls_pool_done.  Submitting after this is fatal. */
void tls_pool_stop(struct tls_pool *p);
/* Stops it and frees it; steps not taken back are the caller's. */
void tls_pool_free(struct tls_pool *p);

#endif
