/*
 * tls.c - the TLS layer over mbedTLS 2.28: one random generator per
 * process, reference-counted server and client configurations, non-blocking
 * connections on the caller's socket, and the one certificate verifier.
 *
 * Server and strict client configurations are TLS 1.2 only, with the
 * ECDHE AES-GCM and ChaCha20-Poly1305 suites of tls_suites[]; every
 * configuration offers the groups of tls_curves[] and no renegotiation.
 * Clients set authmode NONE: the verifier judges the chain afterwards,
 * with the time and names its caller gives.  The
 * generator's entropy is mbedTLS's platform source, which on Linux calls
 * getrandom(2) and opens no file, so reseeding works inside a chroot (the
 * unit test checks it); the generator reseeds itself after a fork.
 *
 * A server configuration issues session tickets (RFC 5077), sealed with
 * AES-256-GCM under keys of its own that mbedTLS makes from the generator
 * and replaces every TLS_TICKET_LIFETIME seconds (a ticket is good for at
 * most twice that); a client that offers one back resumes without the
 * key exchange and the signature, the cost of a handshake.  The keys live
 * only in the process's memory: a reload or another process means a full
 * handshake, never a failure.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "tls.h"
#include "util.h"

#define TLS_ERRLEN	256
#define TLS_TICKET_LIFETIME	3600	/* seconds, as Postfix's default */

struct tls_server_conf {
	mbedtls_ssl_config	 ssl;
	mbedtls_x509_crt	 chain;
	mbedtls_pk_context	 key;
	mbedtls_ssl_ticket_context ticket;
	unsigned		 refs;
};

struct tls_session {
	mbedtls_ssl_session	 s;
};

struct tls_client_conf {
	mbedtls_ssl_config	 ssl;
	unsigned		 refs;
};

struct tls_conn {
	mbedtls_ssl_context	 ssl;
	struct tls_server_conf	*conf;		/* server side */
	struct tls_client_conf	*cconf;		/* client side */
	int			 fd;
	int			 sock_errno;	/* errno of the last bio failure */
	int			 broken;	/* set up wrong: no handshake */
	int			 resumed;	/* server side: from a ticket */
	int			 offered;	/* client side: a session */
	unsigned char		 master[48];	/* the offered session's */
	char			 sni[256];	/* server side: what came */
	char			 err[TLS_ERRLEN];
};

struct tls_trust {
	mbedtls_x509_crt	 crt;
	size_t			 count;
	size_t			 skipped;
};

/* Key exchange groups, preferred first (mbedTLS's own order would put
 * secp521r1 first, which costs much and buys nothing). */
static const mbedtls_ecp_group_id tls_curves[] = {
	MBEDTLS_ECP_DP_CURVE25519,
	MBEDTLS_ECP_DP_SECP256R1,
	MBEDTLS_ECP_DP_SECP384R1,
	MBEDTLS_ECP_DP_NONE
};

/* Preferred first; the server's order decides. */
static const int tls_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	0
};

static const struct {
	int		 id;
	const char	*name;
} tls_suite_names[] = {
	{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
};

static mbedtls_entropy_context	tls_entropy;
static mbedtls_ctr_drbg_context	tls_drbg;
static int			tls_ready;
static pid_t			tls_pid;

/* ---- random numbers ---- */

void
tls_init(void)
{
	static const char	pers[] = "strictmail tls";
	char			msg[128];
	int			ret;

	if (tls_ready) {
		if (tls_pid != getpid() &&
		    mbedtls_ctr_drbg_reseed(&tls_drbg, NULL, 0) != 0)
			fatalx("tls: reseeding the random generator failed");
		tls_pid = getpid();
		return;
	}
	mbedtls_entropy_init(&tls_entropy);
	mbedtls_ctr_drbg_init(&tls_drbg);
	ret = mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func,
	    &tls_entropy, (const unsigned char *)pers, sizeof(pers) - 1);
	if (ret != 0) {
		mbedtls_strerror(ret, msg, sizeof(msg));
		fatalx("tls: seeding the random generator: %s", msg);
	}
	tls_pid = getpid();
	tls_ready = 1;
}

int
tls_threaded(void)
{
#if defined(MBEDTLS_THREADING_C)
	return 1;
#else
	return 0;
#endif
}

void
tls_cleanup(void)
{
	if (!tls_ready)
		return;
	mbedtls_ctr_drbg_free(&tls_drbg);
	mbedtls_entropy_free(&tls_entropy);
	tls_ready = 0;
}

/* The generator handed to mbedTLS: reseeded first in a forked child, so
 * that two processes never share one stream. */
static int
tls_rng(void *ctx, unsigned char *out, size_t len)
{
	pid_t	pid = getpid();
	int	ret;

	(void)ctx;
	if (pid != tls_pid) {
		if ((ret = mbedtls_ctr_drbg_reseed(&tls_drbg, NULL, 0)) != 0)
			return ret;
		tls_pid = pid;
	}
	return mbedtls_ctr_drbg_random(&tls_drbg, out, len);
}

/* ---- server configurations ---- */

static void
tls_errtext(char *err, size_t errlen, const char *what, int ret)
{
	char	msg[160];

	mbedtls_strerror(ret, msg, sizeof(msg));
	(void)bsnprintf(err, errlen, "%s: %s", what, msg);
}

/* A NUL-terminated copy: mbedTLS wants PEM text with its NUL counted. */
static unsigned char *
tls_pem_copy(const uint8_t *p, size_t len)
{
	unsigned char	*copy;

	if (len == SIZE_MAX)
		fatalx("tls: PEM length");
	copy = xmalloc(len + 1);
	if (len > 0)
		memcpy(copy, p, len);
	copy[len] = '\0';
	return copy;
}

static int
tls_load_chain(struct tls_server_conf *c, const uint8_t *cert, size_t len,
    char *err, size_t errlen)
{
	unsigned char	*pem;
	int		 ret;

	pem = tls_pem_copy(cert, len);
	ret = mbedtls_x509_crt_parse(&c->chain, pem, len + 1);
	free(pem);
	if (ret < 0) {
		tls_errtext(err, errlen, "certificate", ret);
		return -1;
	}
	if (ret > 0) {
		(void)bsnprintf(err, errlen, "certificate: %d of the "
		    "certificates could not be parsed", ret);
		return -1;
	}
	return 0;
}

/* One signature at load, so that the table of multiples of the generator
 * is in the key's group before any handshake: mbedTLS stores it there at
 * the first signature, and a server configuration is shared by handshakes
 * on several threads (tls_pool.h), which must find it there and only read
 * it. */
static int
tls_key_warm(struct tls_server_conf *c, char *err, size_t errlen)
{
	unsigned char	hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t		len;
	int		ret;

	memset(hash, 0x5a, sizeof(hash));
	if ((ret = mbedtls_pk_sign(&c->key, MBEDTLS_MD_SHA256, hash,
	    sizeof(hash), sig, &len, tls_rng, NULL)) != 0) {
		tls_errtext(err, errlen, "key: a signature", ret);
		return -1;
	}
	return 0;
}

/* mbedTLS parses an EC key as an ECKEY context, which signs through a
 * fresh copy of its group: every signature then rebuilds the table of
 * multiples of the generator, about half of what a P-256 signature
 * costs.  The same key in an ECDSA context signs with its own group,
 * which keeps that table from the first signature on.  Done after the
 * pair check, which wants the certificate's and the key's types equal. */
static int
tls_key_ecdsa(struct tls_server_conf *c, char *err, size_t errlen)
{
	mbedtls_pk_context	ecdsa;
	int			ret;

	if (mbedtls_pk_get_type(&c->key) != MBEDTLS_PK_ECKEY)
		return 0;
	mbedtls_pk_init(&ecdsa);
	if ((ret = mbedtls_pk_setup(&ecdsa,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA))) != 0 ||
	    (ret = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(ecdsa),
	    mbedtls_pk_ec(c->key))) != 0) {
		mbedtls_pk_free(&ecdsa);
		tls_errtext(err, errlen, "key", ret);
		return -1;
	}
	mbedtls_pk_free(&c->key);
	c->key = ecdsa;
	return 0;
}

static int
tls_load_key(struct tls_server_conf *c, const uint8_t *key, size_t len,
    char *err, size_t errlen)
{
	unsigned char	*pem;
	int		 ret;

	pem = tls_pem_copy(key, len);
	ret = mbedtls_pk_parse_key(&c->key, pem, len + 1, NULL, 0);
	explicit_bzero(pem, len + 1);
	free(pem);
	if (ret != 0) {
		tls_errtext(err, errlen, "key", ret);
		return -1;
	}
	if (!mbedtls_pk_can_do(&c->key, MBEDTLS_PK_ECDSA) &&
	    !mbedtls_pk_can_do(&c->key, MBEDTLS_PK_RSA)) {
		(void)bsnprintf(err, errlen, "key: neither ECDSA nor RSA");
		return -1;
	}
	if (mbedtls_pk_check_pair(&c->chain.pk, &c->key) != 0) {
		(void)bsnprintf(err, errlen, "key does not match the "
		    "certificate (the first one of the file)");
		return -1;
	}
	if (tls_key_ecdsa(c, err, errlen) == -1)
		return -1;
	return mbedtls_pk_can_do(&c->key, MBEDTLS_PK_ECDSA) ?
	    tls_key_warm(c, err, errlen) : 0;
}

/* What every configuration has: groups, no renegotiation, our generator. */
static void
tls_conf_common(mbedtls_ssl_config *ssl)
{
	mbedtls_ssl_conf_curves(ssl, tls_curves);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(ssl, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
	mbedtls_ssl_conf_rng(ssl, tls_rng, NULL);
}

/* Bytes from a peer or a certificate, made printable for a log line:
 * outside ASCII 0x20..0x7e becomes '?'; cut to fit out. */
static void
tls_printable(char *out, size_t outlen, const unsigned char *p, size_t len)
{
	size_t	i;

	if (outlen == 0)
		return;
	for (i = 0; i < len && i < outlen - 1; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[i] = '\0';
}

/* The server name the client sent: recorded; the certificate stays the
 * configured one whatever the name. */
static int
tls_sni_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
    size_t len)
{
	struct tls_conn	*t = ssl->p_bio;

	(void)arg;
	tls_printable(t->sni, sizeof(t->sni), name, len);
	return 0;
}

/* Set when a ticket was accepted in the handshake step this thread runs
 * now (mbedTLS's parse callback is not told the connection). */
static _Thread_local int	tls_ticket_taken;

static int
tls_ticket_parse(void *ctx, mbedtls_ssl_session *session, unsigned char *buf,
    size_t len)
{
	int	ret;

	if ((ret = mbedtls_ssl_ticket_parse(ctx, session, buf, len)) == 0)
		tls_ticket_taken = 1;
	return ret;
}

static int
tls_setup_ssl(struct tls_server_conf *c, char *err, size_t errlen)
{
	int	ret;

	ret = mbedtls_ssl_config_defaults(&c->ssl, MBEDTLS_SSL_IS_SERVER,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		tls_errtext(err, errlen, "TLS configuration", ret);
		return -1;
	}
	mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&c->ssl, tls_suites);
	tls_conf_common(&c->ssl);
	mbedtls_ssl_conf_sni(&c->ssl, tls_sni_cb, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&c->ssl, &c->chain,
	    &c->key)) != 0) {
		tls_errtext(err, errlen, "TLS configuration", ret);
		return -1;
	}
	if ((ret = mbedtls_ssl_ticket_setup(&c->ticket, tls_rng, NULL,
	    MBEDTLS_CIPHER_AES_256_GCM, TLS_TICKET_LIFETIME)) != 0) {
		tls_errtext(err, errlen, "TLS session tickets", ret);
		return -1;
	}
	mbedtls_ssl_conf_session_tickets_cb(&c->ssl, mbedtls_ssl_ticket_write,
	    tls_ticket_parse, &c->ticket);
	return 0;
}

static void
tls_server_conf_free(struct tls_server_conf *c)
{
	mbedtls_ssl_config_free(&c->ssl);
	mbedtls_x509_crt_free(&c->chain);
	mbedtls_pk_free(&c->key);
	mbedtls_ssl_ticket_free(&c->ticket);
	free(c);
}

struct tls_server_conf *
tls_server_conf_new(const uint8_t *cert, size_t certlen, const uint8_t *key,
    size_t keylen, char *err, size_t errlen)
{
	struct tls_server_conf	*c;

	tls_init();
	c = xcalloc(1, sizeof(*c));
	mbedtls_ssl_config_init(&c->ssl);
	mbedtls_x509_crt_init(&c->chain);
	mbedtls_pk_init(&c->key);
	mbedtls_ssl_ticket_init(&c->ticket);
	c->refs = 1;
	if (tls_load_chain(c, cert, certlen, err, errlen) == -1 ||
	    tls_load_key(c, key, keylen, err, errlen) == -1 ||
	    tls_setup_ssl(c, err, errlen) == -1) {
		tls_server_conf_free(c);
		return NULL;
	}
	return c;
}

void
tls_server_conf_ref(struct tls_server_conf *c)
{
	if (c->refs == 0 || c->refs == UINT_MAX)
		fatalx("tls: configuration reference count %u", c->refs);
	c->refs++;
}

void
tls_server_conf_unref(struct tls_server_conf *c)
{
	if (c == NULL)
		return;
	if (c->refs == 0)
		fatalx("tls: configuration released once too often");
	if (--c->refs == 0)
		tls_server_conf_free(c);
}

/* ---- the socket underneath ---- */

static int
tls_bio_fail(struct tls_conn *t, int want, int fail)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return want;
	t->sock_errno = errno;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return fail;
}

static int
tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn	*t = ctx;
	ssize_t		 n;

	do
		n = send(t->fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	return tls_bio_fail(t, MBEDTLS_ERR_SSL_WANT_WRITE,
	    MBEDTLS_ERR_NET_SEND_FAILED);
}

static int
tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn	*t = ctx;
	ssize_t		 n;

	do
		n = recv(t->fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	return tls_bio_fail(t, MBEDTLS_ERR_SSL_WANT_READ,
	    MBEDTLS_ERR_NET_RECV_FAILED);
}

/* ---- connections ---- */

struct tls_conn *
tls_conn_server(struct tls_server_conf *c, int fd)
{
	struct tls_conn	*t;
	int		 ret;

	t = xcalloc(1, sizeof(*t));
	mbedtls_ssl_init(&t->ssl);
	t->fd = fd;
	/* It fails only for want of memory or on a broken configuration. */
	if ((ret = mbedtls_ssl_setup(&t->ssl, &c->ssl)) != 0) {
		tls_errtext(t->err, sizeof(t->err), "TLS setup", ret);
		fatalx("tls: %s", t->err);
	}
	tls_server_conf_ref(c);
	t->conf = c;
	mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
	return t;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	mbedtls_ssl_free(&t->ssl);
	mbedtls_platform_zeroize(t->master, sizeof(t->master));
	tls_server_conf_unref(t->conf);
	tls_client_conf_unref(t->cconf);
	free(t);
}

/* ---- client configurations and connections ---- */

struct tls_client_conf *
tls_client_conf_new(enum tls_client_mode mode)
{
	struct tls_client_conf	*c;
	int			 ret, min;

	tls_init();
	c = xcalloc(1, sizeof(*c));
	mbedtls_ssl_config_init(&c->ssl);
	c->refs = 1;
	ret = mbedtls_ssl_config_defaults(&c->ssl, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0)
		fatalx("tls: client configuration: -0x%04x", (unsigned)-ret);
	min = mode == TLS_CLIENT_COMPAT ? MBEDTLS_SSL_MINOR_VERSION_1 :
	    MBEDTLS_SSL_MINOR_VERSION_3;
	mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	    min);
	mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	if (mode != TLS_CLIENT_COMPAT)
		mbedtls_ssl_conf_ciphersuites(&c->ssl, tls_suites);
	/* The chain is judged afterwards by tls_verify_chain. */
	mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_NONE);
	tls_conf_common(&c->ssl);
	return c;
}

void
tls_client_conf_ref(struct tls_client_conf *c)
{
	if (c->refs == 0 || c->refs == UINT_MAX)
		fatalx("tls: client configuration reference count %u",
		    c->refs);
	c->refs++;
}

void
tls_client_conf_unref(struct tls_client_conf *c)
{
	if (c == NULL)
		return;
	if (c->refs == 0)
		fatalx("tls: client configuration released once too often");
	if (--c->refs == 0) {
		mbedtls_ssl_config_free(&c->ssl);
		free(c);
	}
}

/* SNI names a host: not an address (RFC 6066 3), no trailing dot. */
static int
tls_set_sni(struct tls_conn *t, const char *sni)
{
	char		name[256];
	unsigned char	addr[16];
	size_t		len;
	int		ret;

	if (sni == NULL || inet_pton(AF_INET, sni, addr) == 1 ||
	    inet_pton(AF_INET6, sni, addr) == 1)
		return 0;
	len = strlcpy(name, sni, sizeof(name));
	if (len > 0 && len < sizeof(name) && name[len - 1] == '.')
		name[--len] = '\0';
	if (len == 0 || len > 253) {
		(void)bsnprintf(t->err, sizeof(t->err), "handshake: server "
		    "name of %zu characters cannot be sent", len);
		return -1;
	}
	if ((ret = mbedtls_ssl_set_hostname(&t->ssl, name)) != 0) {
		tls_errtext(t->err, sizeof(t->err), "handshake: server name",
		    ret);
		return -1;
	}
	return 0;
}

struct tls_conn *
tls_conn_client(struct tls_client_conf *c, int fd, const char *sni)
{
	struct tls_conn	*t;
	int		 ret;

	t = xcalloc(1, sizeof(*t));
	mbedtls_ssl_init(&t->ssl);
	t->fd = fd;
	if ((ret = mbedtls_ssl_setup(&t->ssl, &c->ssl)) != 0) {
		tls_errtext(t->err, sizeof(t->err), "TLS setup", ret);
		fatalx("tls: %s", t->err);
	}
	tls_client_conf_ref(c);
	t->cconf = c;
	mbedtls_ssl_set_bio(&t->ssl, t, tls_bio_send, tls_bio_recv, NULL);
	if (tls_set_sni(t, sni) == -1)
		t->broken = 1;
	return t;
}

/* Maps an mbedTLS result of what (handshake, read, write) to tls.h. */
static int
tls_result(struct tls_conn *t, const char *what, int ret)
{
	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return TLS_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return TLS_WANT_WRITE;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		fatalx("tls: out of memory");
	case MBEDTLS_ERR_NET_CONN_RESET:
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
		(void)bsnprintf(t->err, sizeof(t->err), "%s: %s", what,
		    strerror(t->sock_errno));
		return TLS_ERROR;
	case MBEDTLS_ERR_SSL_CONN_EOF:
		(void)bsnprintf(t->err, sizeof(t->err), "%s: connection "
		    "closed by the peer", what);
		return TLS_ERROR;
	default:
		tls_errtext(t->err, sizeof(t->err), what, ret);
		return TLS_ERROR;
	}
}

int
tls_handshake(struct tls_conn *t)
{
	int	ret;

	if (t->broken)
		return TLS_ERROR;
	tls_ticket_taken = 0;
	ret = mbedtls_ssl_handshake(&t->ssl);
	if (tls_ticket_taken && t->conf != NULL)
		t->resumed = 1;
	if (ret == 0)
		return 0;
	return tls_result(t, "handshake", ret);
}

int
tls_step_costly(const struct tls_conn *t)
{
	/* A server that waits for a ClientHello (its answer: an ECDHE key
	 * pair and a signature, unless a ticket resumes) or for a
	 * ClientKeyExchange (the shared secret).  What follows a resumption
	 * or a key exchange is hashing and a few records. */
	return t->conf != NULL &&
	    t->ssl.state <= MBEDTLS_SSL_CLIENT_KEY_EXCHANGE;
}

ssize_t
tls_read(struct tls_conn *t, void *buf, size_t len)
{
	int	ret;

	ret = mbedtls_ssl_read(&t->ssl, buf, len);
	if (ret >= 0)
		return ret;
	if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
	    ret == MBEDTLS_ERR_SSL_CONN_EOF)
		return 0;
	return tls_result(t, "read", ret);
}

ssize_t
tls_write(struct tls_conn *t, const void *buf, size_t len)
{
	int	ret;

	ret = mbedtls_ssl_write(&t->ssl, buf, len);
	if (ret >= 0)
		return ret;
	return tls_result(t, "write", ret);
}

size_t
tls_pending(const struct tls_conn *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

void
tls_close(struct tls_conn *t)
{
	if (t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER)
		(void)mbedtls_ssl_close_notify(&t->ssl);
}

const char *
tls_version(const struct tls_conn *t)
{
	return mbedtls_ssl_get_version(&t->ssl);
}

const char *
tls_cipher(const struct tls_conn *t)
{
	const char	*name;
	size_t		 i;
	int		 id;

	if ((name = mbedtls_ssl_get_ciphersuite(&t->ssl)) == NULL)
		return "none";
	id = mbedtls_ssl_get_ciphersuite_id(name);
	for (i = 0; i < sizeof(tls_suite_names) / sizeof(tls_suite_names[0]);
	    i++)
		if (tls_suite_names[i].id == id)
			return tls_suite_names[i].name;
	return name;
}

int
tls_resumed(const struct tls_conn *t)
{
	/* A client resumed when the server took the offered session: the
	 * master secret is that session's, where a full handshake makes a
	 * new one. */
	if (t->cconf != NULL)
		return t->offered && t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER &&
		    t->ssl.session != NULL && memcmp(t->ssl.session->master,
		    t->master, sizeof(t->master)) == 0;
	return t->resumed;
}

struct tls_session *
tls_session_get(const struct tls_conn *t)
{
	struct tls_session	*s;

	s = xcalloc(1, sizeof(*s));
	mbedtls_ssl_session_init(&s->s);
	if (t->cconf == NULL || mbedtls_ssl_get_session(&t->ssl, &s->s) != 0) {
		tls_session_free(s);
		return NULL;
	}
	return s;
}

int
tls_session_offer(struct tls_conn *t, const struct tls_session *s)
{
	if (t->cconf == NULL || mbedtls_ssl_set_session(&t->ssl, &s->s) != 0)
		return -1;
	t->offered = 1;
	memcpy(t->master, s->s.master, sizeof(t->master));
	return 0;
}

void
tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	mbedtls_ssl_session_free(&s->s);
	free(s);
}

const char *
tls_error(const struct tls_conn *t)
{
	return t->err[0] != '\0' ? t->err : "no error";
}

const char *
tls_sni(const struct tls_conn *t)
{
	return t->sni;
}

/* ---- certificate chains ---- */

int
tls_chain_add(struct tls_chain *chain, const uint8_t *der, size_t len)
{
	struct tls_der	*d;

	if (chain->n >= TLS_CHAIN_MAX)
		return -1;
	d = &chain->cert[chain->n++];
	d->data = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(d->data, der, len);
	d->len = len;
	return 0;
}

void
tls_chain_free(struct tls_chain *chain)
{
	size_t	i;

	for (i = 0; i < chain->n && i < TLS_CHAIN_MAX; i++) {
		free(chain->cert[i].data);
		chain->cert[i].data = NULL;
		chain->cert[i].len = 0;
	}
	chain->n = 0;
}

/* Copies up to TLS_CHAIN_MAX certificates of list into chain. */
static void
tls_chain_from_crt(struct tls_chain *chain, const mbedtls_x509_crt *list)
{
	const mbedtls_x509_crt	*c;

	tls_chain_free(chain);
	for (c = list; c != NULL && c->raw.p != NULL; c = c->next)
		if (tls_chain_add(chain, c->raw.p, c->raw.len) == -1)
			break;
}

int
tls_chain_from_pem(struct tls_chain *chain, const uint8_t *pem, size_t len,
    char *err, size_t errlen)
{
	mbedtls_x509_crt	 crt;
	unsigned char		*copy;
	int			 ret;

	mbedtls_x509_crt_init(&crt);
	copy = tls_pem_copy(pem, len);
	ret = mbedtls_x509_crt_parse(&crt, copy, len + 1);
	free(copy);
	if (ret != 0) {
		if (ret > 0)
			(void)bsnprintf(err, errlen, "certificate: %d of the "
			    "certificates could not be parsed", ret);
		else
			tls_errtext(err, errlen, "certificate", ret);
		mbedtls_x509_crt_free(&crt);
		return -1;
	}
	tls_chain_from_crt(chain, &crt);
	mbedtls_x509_crt_free(&crt);
	return 0;
}

int
tls_conn_peer_chain(const struct tls_conn *t, struct tls_chain *chain)
{
	const mbedtls_x509_crt	*peer;

	tls_chain_free(chain);
	if ((peer = mbedtls_ssl_get_peer_cert(&t->ssl)) == NULL)
		return -1;
	tls_chain_from_crt(chain, peer);
	return chain->n > 0 ? 0 : -1;
}

/* ---- trust anchors ---- */

struct tls_trust *
tls_trust_new(const uint8_t *pem, size_t len, const char *what, char *err,
    size_t errlen)
{
	static const char	 begin[] = "-----BEGIN CERTIFICATE-----";
	struct tls_trust	*a;
	unsigned char		*copy;
	const mbedtls_x509_crt	*c;
	int			 ret;

	/* PEM only: anything else would be tried as DER and fail obscurely. */
	if (memmem(pem, len, begin, sizeof(begin) - 1) == NULL) {
		(void)bsnprintf(err, errlen, "%s: no certificate in it", what);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	mbedtls_x509_crt_init(&a->crt);
	copy = tls_pem_copy(pem, len);
	ret = mbedtls_x509_crt_parse(&a->crt, copy, len + 1);
	free(copy);
	for (c = &a->crt; c != NULL && c->raw.p != NULL; c = c->next)
		a->count++;
	if (a->count == 0) {
		if (ret < 0)
			tls_errtext(err, errlen, what, ret);
		else
			(void)bsnprintf(err, errlen, "%s: no certificate in it",
			    what);
		tls_trust_free(a);
		return NULL;
	}
	a->skipped = ret > 0 ? (size_t)ret : 0;
	return a;
}

#define TLS_TRUST_FILE_MAX	(64 * 1024 * 1024)

/* The bytes of fd, a regular file, NUL-terminated; NULL with a reason. */
static uint8_t *
tls_read_fd(int fd, size_t *outlen, const char **why)
{
	struct stat	 st;
	uint8_t		*buf;
	size_t		 len = 0, size;
	ssize_t		 n;

	if (fstat(fd, &st) == -1) {
		*why = strerror(errno);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TLS_TRUST_FILE_MAX) {
		*why = S_ISREG(st.st_mode) ? "larger than 64 MiB" :
		    "not a regular file";
		return NULL;
	}
	size = (size_t)st.st_size;
	buf = xmalloc(size + 1);
	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = n == 0 ? "file shrank while read" :
			    strerror(errno);
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*outlen = len;
	return buf;
}

struct tls_trust *
tls_trust_load(const char *path, char *err, size_t errlen)
{
	struct tls_trust	*a;
	const char		*why = NULL;
	uint8_t			*pem = NULL;
	size_t			 len = 0;
	char			 what[512];
	int			 fd;

	if (!bsnprintf(what, sizeof(what), "CA file %s", path))
		(void)strlcpy(what, "CA file", sizeof(what));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		why = strerror(errno);
	else {
		pem = tls_read_fd(fd, &len, &why);
		close(fd);
	}
	if (pem == NULL) {
		(void)bsnprintf(err, errlen, "%s: %s", what, why);
		return NULL;
	}
	a = tls_trust_new(pem, len, what, err, errlen);
	free(pem);
	return a;
}

uint8_t *
tls_pem_load(const char *path, size_t *len, char *err, size_t errlen)
{
	const char	*why = NULL;
	uint8_t		*pem = NULL;
	int		 fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		why = strerror(errno);
	else {
		pem = tls_read_fd(fd, len, &why);
		close(fd);
	}
	if (pem == NULL)
		(void)bsnprintf(err, errlen, "CA file %s: %s", path, why);
	return pem;
}

size_t
tls_trust_count(const struct tls_trust *a)
{
	return a->count;
}

size_t
tls_trust_skipped(const struct tls_trust *a)
{
	return a->skipped;
}

void
tls_trust_free(struct tls_trust *a)
{
	if (a == NULL)
		return;
	mbedtls_x509_crt_free(&a->crt);
	free(a);
}

/* ---- the verifier: names ---- */

/* Length without one trailing dot. */
static size_t
tls_name_len(const char *s, size_t len)
{
	return len > 0 && s[len - 1] == '.' ? len - 1 : len;
}

static int
tls_name_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0 &&
	    memchr(a, '\0', alen) == NULL;
}

int
tls_name_matches(const char *name, const char *san, size_t sanlen)
{
	const char	*dot;
	size_t		 nlen;

	nlen = tls_name_len(name, strlen(name));
	sanlen = tls_name_len(san, sanlen);
	if (nlen == 0 || sanlen == 0 || memchr(name, '*', nlen) != NULL ||
	    memchr(san, '\0', sanlen) != NULL)
		return 0;
	if (memchr(san, '*', sanlen) == NULL)
		return tls_name_equal(name, nlen, san, sanlen);
	/* "*.rest": the star alone is the left-most label; rest has two
	 * labels at least and no other star. */
	if (sanlen < 3 || san[0] != '*' || san[1] != '.' ||
	    memchr(san + 1, '*', sanlen - 1) != NULL ||
	    memchr(san + 2, '.', sanlen - 2) == NULL)
		return 0;
	if ((dot = memchr(name, '.', nlen)) == NULL || dot == name)
		return 0;
	return tls_name_equal(dot + 1, nlen - (size_t)(dot + 1 - name),
	    san + 2, sanlen - 2);
}

/* Is this subjectAltName entry a dNSName? */
static int
tls_san_is_dns(const mbedtls_x509_sequence *s)
{
	return s->buf.tag ==
	    (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME);
}

/* Appends text to buf, ending it with "..." when it does not fit. */
static void
tls_reason_add(char *buf, size_t size, const char *text)
{
	if (strlcat(buf, text, size) >= size && size > 4)
		(void)strlcpy(buf + size - 4, "...", 4);
}

static void
tls_name_mismatch(const mbedtls_x509_crt *leaf, const char *const *names,
    size_t nnames, struct tls_verdict *v)
{
	const mbedtls_x509_sequence	*s;
	char				 one[256];
	size_t				 i, found = 0;

	v->code = TLS_VERIFY_NAME_MISMATCH;
	(void)strlcpy(v->reason, "name mismatch: wanted ", sizeof(v->reason));
	for (i = 0; i < nnames; i++) {
		if (i > 0)
			tls_reason_add(v->reason, sizeof(v->reason), " or ");
		tls_printable(one, sizeof(one), (const unsigned char *)names[i],
		    strlen(names[i]));
		tls_reason_add(v->reason, sizeof(v->reason), one);
	}
	if (nnames == 0)
		tls_reason_add(v->reason, sizeof(v->reason), "no name");
	tls_reason_add(v->reason, sizeof(v->reason), ", certificate has ");
	for (s = &leaf->subject_alt_names; s != NULL; s = s->next) {
		if (s->buf.p == NULL || !tls_san_is_dns(s))
			continue;
		if (found++ > 0)
			tls_reason_add(v->reason, sizeof(v->reason), ", ");
		tls_printable(one, sizeof(one), s->buf.p, s->buf.len);
		tls_reason_add(v->reason, sizeof(v->reason), one);
	}
	if (found == 0)
		tls_reason_add(v->reason, sizeof(v->reason), "no DNS name");
}

/* Step 3: 0 when a wanted name matches a dNSName of the leaf. */
static int
tls_verify_names(const mbedtls_x509_crt *leaf, const char *const *names,
    size_t nnames, struct tls_verdict *v)
{
	const mbedtls_x509_sequence	*s;
	size_t				 i;

	for (i = 0; i < nnames; i++)
		for (s = &leaf->subject_alt_names; s != NULL; s = s->next)
			if (s->buf.p != NULL && tls_san_is_dns(s) &&
			    tls_name_matches(names[i], (const char *)s->buf.p,
			    s->buf.len)) {
				(void)strlcpy(v->name, names[i],
				    sizeof(v->name));
				return 0;
			}
	tls_name_mismatch(leaf, names, nnames, v);
	return -1;
}

/* ---- the verifier: the path and its times ---- */

#define TLS_PATH_MAX	(MBEDTLS_X509_MAX_INTERMEDIATE_CA + 2)

/* The path mbedTLS built, leaf (depth 0) first. */
struct tls_path {
	const mbedtls_x509_crt	*crt[TLS_PATH_MAX];
	size_t			 n;
};

/* mbedTLS calls this for each certificate of the path it built; its
 * clock's opinion on validity is dropped: tls_verify_times decides. */
static int
tls_verify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_path	*path = arg;

	*flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED |
	    MBEDTLS_X509_BADCERT_FUTURE);
	if (depth >= 0 && depth < TLS_PATH_MAX) {
		path->crt[depth] = crt;
		if ((size_t)depth + 1 > path->n)
			path->n = (size_t)depth + 1;
	}
	return 0;
}

/* -1, 0, 1 as the certificate time a is before, at, after tm. */
static int
tls_time_cmp(const mbedtls_x509_time *a, const struct tm *tm)
{
	const int	x[6] = { a->year, a->mon, a->day, a->hour, a->min,
			    a->sec };
	const int	y[6] = { tm->tm_year + 1900, tm->tm_mon + 1,
			    tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec };
	size_t		i;

	for (i = 0; i < 6; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* "" for the leaf, "issuer O=..., CN=... " above it. */
static void
tls_crt_label(char *buf, size_t size, const mbedtls_x509_crt *crt,
    size_t depth)
{
	char	dn[200];

	buf[0] = '\0';
	if (depth == 0)
		return;
	if (mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->subject) < 0)
		(void)strlcpy(dn, "?", sizeof(dn));
	(void)bsnprintf(buf, size, "issuer %s ", dn);
}

static void
tls_time_reason(struct tls_verdict *v, enum tls_verify_code code,
    const mbedtls_x509_crt *crt, size_t depth)
{
	const mbedtls_x509_time	*t;
	char			 label[256];

	t = code == TLS_VERIFY_EXPIRED ? &crt->valid_to : &crt->valid_from;
	tls_crt_label(label, sizeof(label), crt, depth);
	v->code = code;
	(void)bsnprintf(v->reason, sizeof(v->reason), "certificate %s: %s"
	    "valid %s %04d-%02d-%02d %02d:%02d:%02d UTC",
	    code == TLS_VERIFY_EXPIRED ? "expired" : "not yet valid", label,
	    code == TLS_VERIFY_EXPIRED ? "until" : "from",
	    t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

/* Step 2: 0 when every certificate of the path is valid at now. */
static int
tls_verify_times(const struct tls_path *path, time_t now,
    struct tls_verdict *v)
{
	struct tm	tm;
	size_t		i;

	if (gmtime_r(&now, &tm) == NULL) {
		v->code = TLS_VERIFY_EXPIRED;
		(void)strlcpy(v->reason, "certificate expired: time out of "
		    "range", sizeof(v->reason));
		return -1;
	}
	for (i = 0; i < path->n; i++) {
		if (path->crt[i] == NULL)
			continue;
		if (tls_time_cmp(&path->crt[i]->valid_to, &tm) < 0) {
			tls_time_reason(v, TLS_VERIFY_EXPIRED, path->crt[i], i);
			return -1;
		}
		if (tls_time_cmp(&path->crt[i]->valid_from, &tm) > 0) {
			tls_time_reason(v, TLS_VERIFY_NOT_YET_VALID,
			    path->crt[i], i);
			return -1;
		}
	}
	return 0;
}

/* ---- the verifier: trust ---- */

static const struct {
	uint32_t	 flag;
	const char	*text;
} tls_badcert[] = {
	{ MBEDTLS_X509_BADCERT_NOT_TRUSTED, "unknown issuer" },
	{ MBEDTLS_X509_BADCERT_BAD_MD, "signature hash too weak" },
	{ MBEDTLS_X509_BADCERT_BAD_PK, "key type not allowed" },
	{ MBEDTLS_X509_BADCERT_BAD_KEY, "key too small" },
	{ MBEDTLS_X509_BADCERT_KEY_USAGE, "key usage does not allow it" },
	{ MBEDTLS_X509_BADCERT_EXT_KEY_USAGE,
	    "extended key usage does not allow it" },
	{ MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "certificate type not allowed" },
	{ MBEDTLS_X509_BADCERT_REVOKED, "revoked" },
	{ MBEDTLS_X509_BADCERT_SKIP_VERIFY, "not verified" },
	{ MBEDTLS_X509_BADCERT_MISSING, "no certificate" },
	{ MBEDTLS_X509_BADCERT_OTHER, "rejected" },
};

static int
tls_self_issued(const mbedtls_x509_crt *crt)
{
	return crt->issuer_raw.len == crt->subject_raw.len &&
	    memcmp(crt->issuer_raw.p, crt->subject_raw.p,
	    crt->issuer_raw.len) == 0;
}

static void
tls_untrusted(struct tls_verdict *v, const char *fmt, const char *arg)
{
	char	detail[TLS_REASON_MAX];

	v->code = TLS_VERIFY_UNTRUSTED;
	(void)bsnprintf(detail, sizeof(detail), fmt, arg);
	(void)bsnprintf(v->reason, sizeof(v->reason), "untrusted chain: %s",
	    detail);
}

/* What flags say, for the reason; the top of the path names the issuer
 * nobody trusts. */
static void
tls_untrusted_flags(const struct tls_path *path, uint32_t flags,
    struct tls_verdict *v)
{
	const mbedtls_x509_crt	*top;
	char			 dn[200];
	size_t			 i;

	top = path->n > 0 ? path->crt[path->n - 1] : NULL;
	if ((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0 && top != NULL) {
		if (path->n == 1 && tls_self_issued(top)) {
			tls_untrusted(v, "%s", "self-signed certificate");
			return;
		}
		if (mbedtls_x509_dn_gets(dn, sizeof(dn), &top->issuer) < 0)
			(void)strlcpy(dn, "?", sizeof(dn));
		tls_untrusted(v, "unknown issuer %s", dn);
		return;
	}
	for (i = 0; i < sizeof(tls_badcert) / sizeof(tls_badcert[0]); i++)
		if (flags & tls_badcert[i].flag) {
			tls_untrusted(v, "%s", tls_badcert[i].text);
			return;
		}
	tls_untrusted(v, "%s", "rejected");
}

/* The chain as mbedTLS certificates, leaf first; 0 or -1 with v set. */
static int
tls_verify_parse(const struct tls_chain *chain, mbedtls_x509_crt *crt,
    struct tls_verdict *v)
{
	char	msg[160], what[32];
	size_t	i;
	int	ret;

	if (chain->n == 0 || chain->n > TLS_CHAIN_MAX) {
		tls_untrusted(v, "%s", "no certificate");
		return -1;
	}
	for (i = 0; i < chain->n; i++) {
		ret = mbedtls_x509_crt_parse_der(crt, chain->cert[i].data,
		    chain->cert[i].len);
		if (ret != 0) {
			mbedtls_strerror(ret, msg, sizeof(msg));
			(void)bsnprintf(what, sizeof(what), "certificate %zu",
			    i + 1);
			v->code = TLS_VERIFY_UNTRUSTED;
			(void)bsnprintf(v->reason, sizeof(v->reason),
			    "untrusted chain: %s cannot be parsed: %s", what,
			    msg);
			return -1;
		}
	}
	return 0;
}

/* Step 1: 0 when chain leads to an anchor; path is what mbedTLS built. */
static int
tls_verify_trust(mbedtls_x509_crt *crt, const struct tls_trust *anchors,
    struct tls_path *path, struct tls_verdict *v)
{
	uint32_t	flags = 0;
	char		msg[160];
	int		ret;

	/* mbedTLS only reads the anchors, but its prototype is not const. */
	ret = mbedtls_x509_crt_verify_with_profile(crt,
	    (mbedtls_x509_crt *)(uintptr_t)&anchors->crt, NULL,
	    &mbedtls_x509_crt_profile_default, NULL, &flags, tls_verify_cb,
	    path);
	if (flags != 0) {
		tls_untrusted_flags(path, flags, v);
		return -1;
	}
	if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		mbedtls_strerror(ret, msg, sizeof(msg));
		tls_untrusted(v, "%s", msg);
		return -1;
	}
	if (path->n == 0 || path->crt[0] == NULL) {	/* never seen */
		tls_untrusted(v, "%s", "no path to an anchor");
		return -1;
	}
	if (mbedtls_x509_crt_check_extended_key_usage(crt,
	    MBEDTLS_OID_SERVER_AUTH,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
		tls_untrusted(v, "%s", "the certificate is not for servers "
		    "(extended key usage)");
		return -1;
	}
	return 0;
}

enum tls_verify_code
tls_verify_chain(const struct tls_chain *chain, const char *const *names,
    size_t nnames, time_t now, const struct tls_trust *anchors,
    struct tls_verdict *v)
{
	mbedtls_x509_crt	crt;
	struct tls_path		path;

	memset(v, 0, sizeof(*v));
	memset(&path, 0, sizeof(path));
	mbedtls_x509_crt_init(&crt);
	if (tls_verify_parse(chain, &crt, v) == 0 &&
	    tls_verify_trust(&crt, anchors, &path, v) == 0 &&
	    tls_verify_times(&path, now, v) == 0 &&
	    tls_verify_names(&crt, names, nnames, v) == 0) {
		v->code = TLS_VERIFY_OK;
		(void)strlcpy(v->reason, "verified", sizeof(v->reason));
	}
	mbedtls_x509_crt_free(&crt);
	return v->code;
}
