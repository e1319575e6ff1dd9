/*
 * tls.c - the TLS layer over mbedTLS 2.28: one random generator per
 * process, reference-counted server configurations built from PEM bytes,
 * and non-blocking server connections on the caller's socket.
 *
 * Every configuration is TLS 1.2 only, with the ECDHE AES-GCM and
 * ChaCha20-Poly1305 suites of tls_suites[] and no renegotiation.  The
 * generator's entropy is mbedTLS's platform source, which on Linux calls
 * getrandom(2) and opens no file, so reseeding works inside a chroot (the
 * unit test checks it); the generator reseeds itself after a fork.
 */
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tls.h"
#include "util.h"

#define TLS_ERRLEN	256

struct tls_server_conf {
	mbedtls_ssl_config	 ssl;
	mbedtls_x509_crt	 chain;
	mbedtls_pk_context	 key;
	unsigned		 refs;
};

struct tls_conn {
	mbedtls_ssl_context	 ssl;
	struct tls_server_conf	*conf;
	int			 fd;
	int			 sock_errno;	/* errno of the last bio failure */
	char			 err[TLS_ERRLEN];
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
	return 0;
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
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&c->ssl,
	    MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
	mbedtls_ssl_conf_rng(&c->ssl, tls_rng, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&c->ssl, &c->chain,
	    &c->key)) != 0) {
		tls_errtext(err, errlen, "TLS configuration", ret);
		return -1;
	}
	return 0;
}

static void
tls_server_conf_free(struct tls_server_conf *c)
{
	mbedtls_ssl_config_free(&c->ssl);
	mbedtls_x509_crt_free(&c->chain);
	mbedtls_pk_free(&c->key);
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
	tls_server_conf_unref(t->conf);
	free(t);
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

	if ((ret = mbedtls_ssl_handshake(&t->ssl)) == 0)
		return 0;
	return tls_result(t, "handshake", ret);
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

const char *
tls_error(const struct tls_conn *t)
{
	return t->err[0] != '\0' ? t->err : "no error";
}
