/*
 * tls.h - the only door to mbedTLS (2.28 today; 3.x changes the API, so no
 * mbedTLS type appears outside common/tls.c).
 *
 * Server configurations and strict client configurations are TLS 1.2 only
 * (mbedTLS 2.28 has no 1.3, and Debian's build would negotiate 1.0 and 1.1
 * unless told not to) with an explicit list of ECDHE suites using AES-GCM
 * or ChaCha20-Poly1305; a compatible client configuration (levels `may`
 * and `encrypt`) also speaks TLS 1.0 and 1.1 with mbedTLS's default suites.
 * Key exchange groups everywhere: X25519, then secp256r1, then secp384r1.
 * A client never judges the server's certificate during the handshake:
 * the caller takes the chain afterwards (tls_conn_peer_chain) and gives it
 * to the one verifier, tls_verify_chain, a pure function of its arguments.
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
#include <time.h>

#define TLS_WANT_READ	(-2)
#define TLS_WANT_WRITE	(-3)
#define TLS_ERROR	(-1)

struct tls_server_conf;
struct tls_client_conf;
struct tls_conn;
struct tls_trust;

/* Seeds the random generator; call once per process before chroot.  In a
 * forked child it reseeds (the generator would also do so by itself on
 * first use: two processes never share a random stream).  Reseeding needs
 * no file (getrandom), so it works in a chroot.  tls_server_conf_new()
 * calls it when nobody did. */
void tls_init(void);
/* Frees the generator, once every configuration has been released. */
void tls_cleanup(void);
/* 1 when mbedTLS locks what handshakes on several threads share (its
 * random generator and ticket keys: MBEDTLS_THREADING_C, as Debian builds
 * it), so that a server configuration may serve handshakes on several
 * threads at once (tls_pool.h); 0 otherwise. */
int tls_threaded(void);

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

/* What a client configuration offers.  STRICT: TLS 1.2 and the server's
 * ECDHE AEAD suites (levels verify and secure, the relay host).  COMPAT:
 * TLS 1.0 to 1.2 and mbedTLS's default suites (levels may and encrypt,
 * where any encryption beats plaintext). */
enum tls_client_mode {
	TLS_CLIENT_STRICT,
	TLS_CLIENT_COMPAT
};

/* A client configuration; it has no certificate of its own and checks
 * none (see tls_conn_peer_chain).  Reference counted like the server's;
 * never NULL. */
struct tls_client_conf *tls_client_conf_new(enum tls_client_mode mode);
void tls_client_conf_ref(struct tls_client_conf *c);
void tls_client_conf_unref(struct tls_client_conf *c);

/* A client-side connection on an open, non-blocking socket fd (the caller
 * keeps owning fd); it takes a reference on c.  sni is the MX host name,
 * sent as server name indication (a trailing dot dropped; nothing is sent
 * when sni is NULL or an IP address).  Never NULL: a name that cannot be
 * sent (longer than 253 characters) makes tls_handshake fail with a
 * message. */
struct tls_conn *tls_conn_client(struct tls_client_conf *c, int fd,
    const char *sni);

/* 0 when the handshake is complete, TLS_WANT_*, or TLS_ERROR. */
int tls_handshake(struct tls_conn *t);
/* 1 when the next handshake step of a server connection may compute a
 * key exchange or a signature (worth a worker thread: tls_pool.h), 0
 * when it is only hashing and records (a resumption's end, the last
 * messages of a full handshake) or the connection is a client's. */
int tls_step_costly(const struct tls_conn *t);
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
/* 1 when the finished handshake resumed a session (no key exchange, no
 * signature): on a server, from a ticket the client offered; on a client,
 * the session it offered with tls_session_offer.  Else 0. */
int tls_resumed(const struct tls_conn *t);

/* Client side: a finished handshake's session (NULL if none), to offer on
 * a later connection to the same server with tls_session_offer before the
 * handshake (0, or -1: not offered, a full handshake follows). */
struct tls_session;
struct tls_session *tls_session_get(const struct tls_conn *t);
int tls_session_offer(struct tls_conn *t, const struct tls_session *s);
void tls_session_free(struct tls_session *s);
/* Server side: the server name the client indicated ("" when none), as
 * sent but with bytes outside printable ASCII replaced by '?'. */
const char *tls_sni(const struct tls_conn *t);

/* ---- certificate chains and their verification ---- */

#define TLS_CHAIN_MAX	10	/* certificates kept from a peer, leaf first */

/* One certificate in DER. */
struct tls_der {
	uint8_t	*data;
	size_t	 len;
};

/* A chain as a server sent it: the leaf first, then what the server sent
 * as intermediates (in its order; none is trusted for being here).  The
 * memory is owned by the chain: initialise with {0}, release with
 * tls_chain_free. */
struct tls_chain {
	size_t		n;
	struct tls_der	cert[TLS_CHAIN_MAX];
};

/* Appends a copy of one DER certificate; -1 when the chain is full. */
int tls_chain_add(struct tls_chain *chain, const uint8_t *der, size_t len);
void tls_chain_free(struct tls_chain *chain);
/* The chain of PEM bytes (every certificate, in file order, replacing what
 * chain held); 0, or -1 with a message in err. */
int tls_chain_from_pem(struct tls_chain *chain, const uint8_t *pem,
    size_t len, char *err, size_t errlen);
/* Client side, once the handshake is complete: the server's certificates
 * as received (at most TLS_CHAIN_MAX, the rest ignored), replacing what
 * chain held.  0, or -1 when the server sent none. */
int tls_conn_peer_chain(const struct tls_conn *t, struct tls_chain *chain);

/* Trust anchors from PEM bytes (a CA bundle); what names them ("CA file
 * /etc/ssl/certs/ca-certificates.crt") starts every message.  NULL with a
 * message in err when no certificate could be read; certificates that
 * mbedTLS cannot parse are skipped and counted (tls_trust_skipped) as long
 * as one is left.  tls_trust_free(NULL) does nothing. */
struct tls_trust *tls_trust_new(const uint8_t *pem, size_t len,
    const char *what, char *err, size_t errlen);
/* The same from a file (read before chroot): "CA file PATH: No such file
 * or directory", "CA file PATH: no certificate in it", ... */
struct tls_trust *tls_trust_load(const char *path, char *err, size_t errlen);
/* The bytes of a PEM file (malloc'd, NUL added after len), for what
 * takes a bundle from memory (libcurl's CAINFO_BLOB); NULL with
 * "CA file PATH: reason" in err. */
uint8_t *tls_pem_load(const char *path, size_t *len, char *err,
    size_t errlen);
size_t tls_trust_count(const struct tls_trust *a);
size_t tls_trust_skipped(const struct tls_trust *a);
void tls_trust_free(struct tls_trust *a);

/* What the verifier found; the first failure in this order wins. */
enum tls_verify_code {
	TLS_VERIFY_OK = 0,
	TLS_VERIFY_UNTRUSTED,		/* "untrusted chain: ..." */
	TLS_VERIFY_EXPIRED,		/* "certificate expired: ..." */
	TLS_VERIFY_NOT_YET_VALID,	/* "certificate not yet valid: ..." */
	TLS_VERIFY_NAME_MISMATCH	/* "name mismatch: wanted ..." */
};

#define TLS_REASON_MAX	512

struct tls_verdict {
	enum tls_verify_code	code;
	/* For logs and bounces: "verified" or the failure, with bytes from
	 * the certificate made printable; cut with "..." when too long. */
	char			reason[TLS_REASON_MAX];
	/* TLS_VERIFY_OK: the wanted name that matched, as given. */
	char			name[256];
};

/*
 * The one verifier (levels verify and secure, the relay host, MTA-STS):
 * a pure function of its arguments, no clock, no file, no global state.
 *  1. chain (leaf first, as received) must lead to one of anchors:
 *     signatures, CA and path-length constraints, key usage, at least
 *     SHA-256 and 2048-bit RSA (mbedTLS's default profile), and an
 *     extendedKeyUsage, when the leaf has one, that allows serverAuth.
 *     An empty chain, one that does not parse, a self-signed leaf or an
 *     unknown issuer: TLS_VERIFY_UNTRUSTED.
 *  2. every certificate of that path, the anchor included, must be valid
 *     at now (its notBefore <= now <= its notAfter), whatever the clock.
 *  3. one of the nnames names must match a subjectAltName dNSName of the
 *     leaf (never the CN): equal, or a wildcard "*.rest" whose "*" stands
 *     for exactly the whole left-most label of the name (rest having at
 *     least two labels; no "m*.example.org", no "*" elsewhere); ASCII
 *     case ignored; one trailing dot ignored on either side.  No name
 *     wanted is a mismatch.
 * Fills v and returns v->code.
 */
enum tls_verify_code tls_verify_chain(const struct tls_chain *chain,
    const char *const *names, size_t nnames, time_t now,
    const struct tls_trust *anchors, struct tls_verdict *v);
/* The rule of step 3 alone, for one name and one dNSName of len bytes:
 * 1 when they match. */
int tls_name_matches(const char *name, const char *san, size_t sanlen);

#endif
