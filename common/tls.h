/*
 * tls.h - the only door to mbedTLS (2.28 today; 3.x changes the API, so no
 * mbedTLS type appears outside common/tls.c).
 *
 * Every configuration is TLS 1.2 at least (mbedTLS 2.28 has no 1.3, and
 * Debian's build would negotiate 1.0 and 1.1 unless told not to) with an
 * explicit list of ECDHE suites using AES-GCM or ChaCha20-Poly1305.
 * Certificates and keys are given as bytes: a chrooted process never reads
 * files; the root parent reads them and sends them over IPC.
 * All I/O is non-blocking on the caller's socket: calls return TLS_WANT_READ
 * or TLS_WANT_WRITE and are repeated when the event loop says so.
 */
#ifndef SM_TLS_H
#define SM_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_WANT_READ	(-2)
#define TLS_WANT_WRITE	(-3)
#define TLS_ERROR	(-1)

struct tls_server_conf;
struct tls_conn;

/* Seeds the random generator; call once per process before chroot.  In a
 * forked child it reseeds (the generator would also do so by itself on
 * first use: two processes never share a random stream).  Reseeding needs
 * no file (getrandom), so it works in a chroot.  tls_server_conf_new()
 * calls it when nobody did. */
void tls_init(void);
/* Frees the generator, once every configuration has been released. */
void tls_cleanup(void);

/* A server configuration from PEM bytes (certificate chain and key).
 * NULL with a message in err on any error ("certificate: ...", "key: ...",
 * or "key does not match the certificate ..."); the key must belong to
 * the first certificate, the others are sent as its chain.  Reference
 * counted: each connection holds one, so a reload can replace the current
 * one while old sessions go on with theirs; unref(NULL) does nothing. */
struct tls_server_conf *tls_server_conf_new(const uint8_t *cert, size_t certlen,
    const uint8_t *key, size_t keylen, char *err, size_t errlen);
void tls_server_conf_ref(struct tls_server_conf *c);
void tls_server_conf_unref(struct tls_server_conf *c);

/* A server-side connection on an open, non-blocking socket fd (the caller
 * keeps owning fd); it takes a reference on c.  Never NULL.  tls_conn_free(NULL) does
 * nothing. */
struct tls_conn *tls_conn_server(struct tls_server_conf *c, int fd);
void tls_conn_free(struct tls_conn *t);

/* 0 when the handshake is complete, TLS_WANT_*, or TLS_ERROR. */
int tls_handshake(struct tls_conn *t);
/* Bytes read (>0), 0 at a clean close_notify or EOF, TLS_WANT_*, TLS_ERROR. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len);
/* Bytes written (>0, possibly fewer than len: at most one record of 16 KiB),
 * TLS_WANT_*, TLS_ERROR.  After TLS_WANT_* the record is already built
 * and partly sent: call again with the same buf and len (the count then
 * returned is of that same data). */
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len);
/* Bytes already decrypted and waiting inside the TLS layer (the event loop
 * will not report them: read again while this is > 0). */
size_t tls_pending(const struct tls_conn *t);
/* Best effort close_notify; never blocks. */
void tls_close(struct tls_conn *t);

const char *tls_version(const struct tls_conn *t);	/* "TLSv1.2" */
const char *tls_cipher(const struct tls_conn *t);	/* IANA-style suite name */
/* The last error as text (for logs). */
const char *tls_error(const struct tls_conn *t);

#endif
