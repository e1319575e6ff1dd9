/*
 * test_tls.c - unit tests of common/tls.c against an mbedTLS client over a
 * non-blocking socketpair, with certificates that tests/pki/mkpki.sh makes
 * in a temporary folder: handshakes with ECDSA and RSA keys, a chain with
 * its intermediate, data both ways, close_notify and EOF; clients limited
 * to TLS 1.1 or to CBC suites are refused; bad PEM and a key that does
 * not match are refused with a message; a configuration outlives its
 * last unref while a connection uses it; reseeding in a chroot after fork.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/tls.h"
#include "common/util.h"

#define PUMP_ROUNDS	200

/* ---- the test PKI ---- */

static char	pki_dir[] = "/tmp/sm-test-tls.XXXXXX";

struct pem {
	uint8_t	*data;
	size_t	 len;
};

static struct pem
pem_read(const char *name)
{
	char		 path[512];
	struct pem	 p = { NULL, 0 };
	struct stat	 st;
	FILE		*f;

	assert_true(bsnprintf(path, sizeof(path), "%s/%s", pki_dir, name));
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("expected %s to exist, got %s", path, strerror(errno));
	assert_int_equal(fstat(fileno(f), &st), 0);
	p.len = (size_t)st.st_size;
	p.data = xmalloc(p.len + 1);
	assert_int_equal(fread(p.data, 1, p.len, f), p.len);
	fclose(f);
	return p;
}

static void
pem_free(struct pem *p)
{
	free(p->data);
	p->data = NULL;
}

/* A server configuration from NAME.pem and KEYNAME.key. */
static struct tls_server_conf *
conf_from(const char *name, const char *keyname)
{
	struct tls_server_conf	*c;
	struct pem		 cert, key;
	char			 fname[128], err[256];

	assert_true(bsnprintf(fname, sizeof(fname), "%s.pem", name));
	cert = pem_read(fname);
	assert_true(bsnprintf(fname, sizeof(fname), "%s.key", keyname));
	key = pem_read(fname);
	c = tls_server_conf_new(cert.data, cert.len, key.data, key.len, err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("expected a configuration from %s/%s, got: %s", name,
		    keyname, err);
	pem_free(&cert);
	pem_free(&key);
	return c;
}

static int
pki_setup(void **state)
{
	const char	*top = getenv("SM_TOP");
	char		 cmd[1024];

	(void)state;
	if (mkdtemp(pki_dir) == NULL)
		return -1;
	if (!bsnprintf(cmd, sizeof(cmd), "sh '%s/tests/pki/mkpki.sh' '%s' "
	    ">/dev/null 2>&1", top != NULL ? top : ".", pki_dir))
		return -1;
	if (system(cmd) != 0) {
		fprintf(stderr, "tests/pki/mkpki.sh %s failed\n", pki_dir);
		return -1;
	}
	tls_init();
	return 0;
}

static int
pki_teardown(void **state)
{
	char	cmd[512];

	(void)state;
	tls_cleanup();
	if (bsnprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki_dir))
		(void)system(cmd);
	return 0;
}

/* ---- an mbedTLS client ---- */

struct client_opts {
	int		 max_minor;	/* 0: TLS 1.2 */
	const int	*suites;	/* NULL: mbedTLS's defaults */
	const char	*hostname;	/* NULL: no verification */
};

struct client {
	mbedtls_entropy_context	 entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config	 conf;
	mbedtls_ssl_context	 ssl;
	mbedtls_net_context	 net;
	mbedtls_x509_crt	 ca;
};

static void
client_conf(struct client *c, const struct client_opts *o)
{
	struct pem	ca;

	assert_int_equal(mbedtls_ssl_config_defaults(&c->conf,
	    MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_1);
	if (o->max_minor != 0)
		mbedtls_ssl_conf_max_version(&c->conf,
		    MBEDTLS_SSL_MAJOR_VERSION_3, o->max_minor);
	if (o->suites != NULL)
		mbedtls_ssl_conf_ciphersuites(&c->conf, o->suites);
	if (o->hostname == NULL) {
		mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
		return;
	}
	ca = pem_read("ca.pem");
	ca.data[ca.len] = '\0';
	assert_int_equal(mbedtls_x509_crt_parse(&c->ca, ca.data, ca.len + 1),
	    0);
	pem_free(&ca);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
}

static struct client *
client_new(int fd, const struct client_opts *o)
{
	struct client	*c;

	c = xcalloc(1, sizeof(*c));
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	mbedtls_x509_crt_init(&c->ca);
	assert_int_equal(mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func,
	    &c->entropy, NULL, 0), 0);
	client_conf(c, o);
	assert_int_equal(mbedtls_ssl_setup(&c->ssl, &c->conf), 0);
	if (o->hostname != NULL)
		assert_int_equal(mbedtls_ssl_set_hostname(&c->ssl,
		    o->hostname), 0);
	c->net.fd = fd;
	mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send,
	    mbedtls_net_recv, NULL);
	return c;
}

static void
client_free(struct client *c)
{
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c);
}

/* ---- driving both ends ---- */

struct pair {
	int			 sv[2];		/* [0] server, [1] client */
	struct tls_conn		*server;
	struct client		*client;
	int			 sret;		/* tls_handshake's last result */
	int			 cret;		/* the client's */
};

static void
pair_open(struct pair *p, struct tls_server_conf *conf,
    const struct client_opts *o)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    p->sv), 0);
	p->server = tls_conn_server(conf, p->sv[0]);
	assert_non_null(p->server);
	p->client = client_new(p->sv[1], o);
}

static void
pair_close(struct pair *p)
{
	tls_conn_free(p->server);
	client_free(p->client);
	close(p->sv[0]);
	if (p->sv[1] != -1)
		close(p->sv[1]);
}

static int
client_wants(int ret)
{
	return ret == MBEDTLS_ERR_SSL_WANT_READ ||
	    ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Steps both handshakes until both ended; 0 when both succeeded. */
static int
pair_handshake(struct pair *p)
{
	int	i, sdone = 0, cdone = 0;

	p->sret = p->cret = 1;
	for (i = 0; i < PUMP_ROUNDS && !(sdone && cdone); i++) {
		if (!sdone) {
			p->sret = tls_handshake(p->server);
			sdone = p->sret != TLS_WANT_READ &&
			    p->sret != TLS_WANT_WRITE;
		}
		if (!cdone) {
			p->cret = mbedtls_ssl_handshake(&p->client->ssl);
			cdone = !client_wants(p->cret);
		}
		/* A failed server may leave the client waiting: let it see
		 * the end of the stream. */
		if (sdone && p->sret != 0 && !cdone && i > 10) {
			shutdown(p->sv[0], SHUT_RDWR);
		}
	}
	return p->sret == 0 && p->cret == 0 ? 0 : -1;
}

static void
pair_must_handshake(struct pair *p)
{
	char	cerr[128];

	if (pair_handshake(p) == 0)
		return;
	mbedtls_strerror(p->cret, cerr, sizeof(cerr));
	fail_msg("expected a handshake, got server %d (%s), client -0x%04x "
	    "(%s)", p->sret, tls_error(p->server), (unsigned)-p->cret, cerr);
}

/* Client to server: all of len bytes, the server reading in pieces. */
static void
pair_send_up(struct pair *p, const uint8_t *data, size_t len, size_t chunk)
{
	uint8_t	*got;
	size_t	 sent = 0, recvd = 0;
	ssize_t	 n;
	int	 i, ret;

	got = xmalloc(len);
	for (i = 0; i < 100000 && recvd < len; i++) {
		if (sent < len) {
			ret = mbedtls_ssl_write(&p->client->ssl, data + sent,
			    len - sent);
			if (ret > 0)
				sent += (size_t)ret;
			else
				assert_true(client_wants(ret));
		}
		do {
			n = tls_read(p->server, got + recvd,
			    chunk < len - recvd ? chunk : len - recvd);
			if (n > 0)
				recvd += (size_t)n;
		} while (n > 0 && recvd < len);
		if (n < 0 && n != TLS_WANT_READ)
			fail_msg("expected data, got %zd (%s)", n,
			    tls_error(p->server));
	}
	assert_int_equal(recvd, len);
	assert_memory_equal(got, data, len);
	free(got);
}

/* Server to client, through tls_write's repeat rule. */
static size_t	want_writes;	/* TLS_WANT_WRITE seen by pair_send_down */

static void
pair_send_down(struct pair *p, const uint8_t *data, size_t len)
{
	uint8_t	*got;
	size_t	 sent = 0, recvd = 0;
	ssize_t	 n;
	int	 i, ret;

	got = xmalloc(len);
	for (i = 0; i < 100000 && recvd < len; i++) {
		if (sent < len) {
			n = tls_write(p->server, data + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n == TLS_WANT_WRITE)
				want_writes++;
			else
				assert_int_equal(n, TLS_WANT_READ);
		}
		ret = mbedtls_ssl_read(&p->client->ssl, got + recvd,
		    len - recvd);
		if (ret > 0)
			recvd += (size_t)ret;
		else
			assert_true(client_wants(ret));
	}
	assert_int_equal(recvd, len);
	assert_memory_equal(got, data, len);
	free(got);
}

static int
suite_is_allowed(const char *name)
{
	static const char *const ok[] = {
		"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	};
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(name, ok[i]) == 0)
			return 1;
	return 0;
}

/* ---- handshakes that work ---- */

static void
handshake_with(const char *name, const char *host, const char *want_kx)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, host };
	struct pair		 p;

	conf = conf_from(name, name);
	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	assert_string_equal(tls_version(p.server), "TLSv1.2");
	if (!suite_is_allowed(tls_cipher(p.server)))
		fail_msg("expected an ECDHE GCM or ChaCha20 suite, got %s",
		    tls_cipher(p.server));
	assert_non_null(strstr(tls_cipher(p.server), want_kx));
	assert_string_equal(mbedtls_ssl_get_version(&p.client->ssl),
	    "TLSv1.2");
	pair_close(&p);
	tls_server_conf_unref(conf);
}

static void
test_handshake_ecdsa(void **state)
{
	(void)state;
	handshake_with("valid", "mx.example.test", "_ECDSA_");
}

static void
test_handshake_rsa(void **state)
{
	(void)state;
	handshake_with("rsa", "mx.example.test", "_RSA_");
}

/* The server sends the intermediate that chain.pem carries. */
static void
test_handshake_chain(void **state)
{
	(void)state;
	handshake_with("chain", "mx.example.test", "_ECDSA_");
}

/* Without it a verifying client gives up (the PKI is what it says). */
static void
test_handshake_incomplete_chain(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, "mx.example.test" };
	struct pair		 p;

	(void)state;
	conf = conf_from("incomplete", "incomplete");
	pair_open(&p, conf, &o);
	assert_int_equal(pair_handshake(&p), -1);
	assert_int_equal(p.cret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	pair_close(&p);
	tls_server_conf_unref(conf);
}

/* Each suite of the list, one at a time. */
static void
test_each_suite(void **state)
{
	static const struct {
		const char	*cert;
		int		 suite[2];
		const char	*name;
	} t[] = {
		{ "valid", { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 },
		    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
		{ "valid", { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0 },
		    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
		{ "valid",
		    { MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0 },
		    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
		{ "rsa", { MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 0 },
		    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
		{ "rsa", { MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 0 },
		    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
		{ "rsa",
		    { MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0 },
		    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	};
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, NULL };
	struct pair		 p;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		conf = conf_from(t[i].cert, t[i].cert);
		o.suites = t[i].suite;
		pair_open(&p, conf, &o);
		pair_must_handshake(&p);
		assert_string_equal(tls_cipher(p.server), t[i].name);
		pair_close(&p);
		tls_server_conf_unref(conf);
	}
}

/* ---- handshakes that must fail ---- */

static void
handshake_refused(const struct client_opts *o, const char *what)
{
	struct tls_server_conf	*conf;
	struct pair		 p;

	conf = conf_from("rsa", "rsa");
	pair_open(&p, conf, o);
	if (pair_handshake(&p) == 0)
		fail_msg("expected %s to be refused, got %s with %s", what,
		    tls_version(p.server), tls_cipher(p.server));
	assert_int_equal(p.sret, TLS_ERROR);
	assert_string_not_equal(tls_error(p.server), "no error");
	assert_non_null(strstr(tls_error(p.server), "handshake: "));
	if (getenv("TEST_TLS_VERBOSE") != NULL)
		fprintf(stderr, "%s: %s\n", what, tls_error(p.server));
	pair_close(&p);
	tls_server_conf_unref(conf);
}

static void
test_refuse_tls11(void **state)
{
	struct client_opts	o = { MBEDTLS_SSL_MINOR_VERSION_2, NULL, NULL };

	(void)state;
	handshake_refused(&o, "a TLS 1.1 client");
	o.max_minor = MBEDTLS_SSL_MINOR_VERSION_1;
	handshake_refused(&o, "a TLS 1.0 client");
}

static void
test_refuse_cbc(void **state)
{
	static const int rsa_cbc[] = {
		MBEDTLS_TLS_RSA_WITH_AES_128_CBC_SHA, 0
	};
	static const int ecdhe_cbc[] = {
		MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, 0
	};
	static const int rsa_gcm[] = {
		MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256, 0
	};
	struct client_opts	o = { 0, rsa_cbc, NULL };

	(void)state;
	handshake_refused(&o, "a client with AES128-SHA only");
	o.suites = ecdhe_cbc;
	handshake_refused(&o, "a client with ECDHE CBC suites only");
	o.suites = rsa_gcm;
	handshake_refused(&o, "a client without ECDHE");
}

/* ---- configurations that must be refused ---- */

static void
conf_refused(const uint8_t *cert, size_t certlen, const uint8_t *key,
    size_t keylen, const char *want)
{
	struct tls_server_conf	*c;
	char			 err[256] = "";

	c = tls_server_conf_new(cert, certlen, key, keylen, err, sizeof(err));
	if (c != NULL) {
		tls_server_conf_unref(c);
		fail_msg("expected a refusal with '%s', got a configuration",
		    want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("expected a message with '%s', got '%s'", want, err);
}

static void
test_conf_mismatch(void **state)
{
	struct pem	cert, key;

	(void)state;
	cert = pem_read("valid.pem");
	key = pem_read("wrongname.key");
	conf_refused(cert.data, cert.len, key.data, key.len,
	    "key does not match the certificate");
	pem_free(&key);
	key = pem_read("rsa.key");
	conf_refused(cert.data, cert.len, key.data, key.len,
	    "key does not match the certificate");
	pem_free(&key);
	pem_free(&cert);
}

static void
test_conf_garbage(void **state)
{
	static const char garbage_cert[] = "-----BEGIN CERTIFICATE-----\n"
	    "bm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
	static const char garbage_key[] = "-----BEGIN PRIVATE KEY-----\n"
	    "@@@@\n-----END PRIVATE KEY-----\n";
	static const char text[] = "hello world\n";
	struct pem	cert, key, both;

	(void)state;
	cert = pem_read("valid.pem");
	key = pem_read("valid.key");
	conf_refused((const uint8_t *)garbage_cert, sizeof(garbage_cert) - 1,
	    key.data, key.len, "certificate: ");
	conf_refused((const uint8_t *)text, sizeof(text) - 1, key.data,
	    key.len, "certificate: ");
	conf_refused((const uint8_t *)"", 0, key.data, key.len,
	    "certificate: ");
	conf_refused(cert.data, cert.len, (const uint8_t *)garbage_key,
	    sizeof(garbage_key) - 1, "key: ");
	conf_refused(cert.data, cert.len, (const uint8_t *)"", 0, "key: ");
	/* The key where the certificate belongs, and the other way round. */
	conf_refused(key.data, key.len, cert.data, cert.len, "certificate: ");
	/* A good certificate followed by a broken one. */
	both.len = cert.len + sizeof(garbage_cert) - 1;
	both.data = xmalloc(both.len);
	memcpy(both.data, cert.data, cert.len);
	memcpy(both.data + cert.len, garbage_cert, sizeof(garbage_cert) - 1);
	conf_refused(both.data, both.len, key.data, key.len, "certificate");
	pem_free(&both);
	pem_free(&cert);
	pem_free(&key);
}

/* ---- data, close ---- */

static void
test_data_both_ways(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, "mx.example.test" };
	struct pair		 p;
	static const char	 greeting[] = "220 mx.example.test ESMTP\r\n";
	uint8_t			*big;
	size_t			 i, bigsize = 100000;
	int			 sndbuf = 4096;

	(void)state;
	conf = conf_from("valid", "valid");
	pair_open(&p, conf, &o);
	/* Small socket buffers: writes stop half-way and are repeated. */
	assert_int_equal(setsockopt(p.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)), 0);
	assert_int_equal(setsockopt(p.sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)), 0);
	pair_must_handshake(&p);
	pair_send_down(&p, (const uint8_t *)greeting, sizeof(greeting) - 1);
	big = xmalloc(bigsize);
	for (i = 0; i < bigsize; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	/* More than one record each way, read in odd pieces. */
	pair_send_up(&p, big, bigsize, 1000);
	pair_send_up(&p, big, 5000, 1);
	want_writes = 0;
	pair_send_down(&p, big, bigsize);
	assert_true(want_writes > 0);
	free(big);
	pair_close(&p);
	tls_server_conf_unref(conf);
}

/* Bytes of a record read in part wait inside the layer. */
static void
test_pending(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, NULL };
	struct pair		 p;
	uint8_t			 buf[100];
	ssize_t			 n;
	int			 i;

	(void)state;
	conf = conf_from("valid", "valid");
	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	assert_int_equal(tls_pending(p.server), 0);
	assert_int_equal(tls_read(p.server, buf, sizeof(buf)), TLS_WANT_READ);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mbedtls_ssl_write(&p.client->ssl, buf, 100), 100);
	n = TLS_WANT_READ;
	for (i = 0; i < 10 && n == TLS_WANT_READ; i++)
		n = tls_read(p.server, buf, 10);
	assert_int_equal(n, 10);
	assert_int_equal(tls_pending(p.server), 90);
	assert_int_equal(tls_read(p.server, buf, sizeof(buf)), 90);
	assert_int_equal(tls_pending(p.server), 0);
	pair_close(&p);
	tls_server_conf_unref(conf);
}

static ssize_t
server_read_end(struct pair *p)
{
	uint8_t	buf[16];
	ssize_t	n = TLS_WANT_READ;
	int	i;

	for (i = 0; i < 10 && n == TLS_WANT_READ; i++)
		n = tls_read(p->server, buf, sizeof(buf));
	return n;
}

static void
test_close(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, NULL };
	struct pair		 p;
	uint8_t			 buf[16];
	int			 ret;

	(void)state;
	conf = conf_from("valid", "valid");
	/* The client's close_notify reads as 0. */
	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	assert_int_equal(mbedtls_ssl_close_notify(&p.client->ssl), 0);
	assert_int_equal(server_read_end(&p), 0);
	pair_close(&p);
	/* So does a plain end of the stream. */
	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	close(p.sv[1]);
	p.sv[1] = -1;
	assert_int_equal(server_read_end(&p), 0);
	pair_close(&p);
	/* tls_close sends close_notify to the client. */
	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	tls_close(p.server);
	ret = mbedtls_ssl_read(&p.client->ssl, buf, sizeof(buf));
	assert_int_equal(ret, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
	pair_close(&p);
	/* Before a handshake it does nothing, and a dead peer is an error. */
	pair_open(&p, conf, &o);
	tls_close(p.server);
	close(p.sv[1]);
	p.sv[1] = -1;
	assert_int_equal(tls_handshake(p.server), TLS_ERROR);
	assert_non_null(strstr(tls_error(p.server), "handshake: "));
	pair_close(&p);
	tls_server_conf_unref(conf);
}

/* A handshake record cut short by the peer ends as an error. */
static void
test_garbage_client(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_conn		*t;
	static const char	 junk[] = "EHLO client.example\r\n";
	int			 sv[2], ret, i;

	(void)state;
	conf = conf_from("valid", "valid");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	t = tls_conn_server(conf, sv[0]);
	assert_int_equal(write(sv[1], junk, sizeof(junk) - 1),
	    (ssize_t)sizeof(junk) - 1);
	ret = TLS_WANT_READ;
	for (i = 0; i < 10 && ret == TLS_WANT_READ; i++)
		ret = tls_handshake(t);
	assert_int_equal(ret, TLS_ERROR);
	assert_string_not_equal(tls_error(t), "no error");
	tls_conn_free(t);
	close(sv[0]);
	close(sv[1]);
	tls_server_conf_unref(conf);
}

/* ---- reference counts ---- */

static void
test_refcount(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, "mx.example.test" };
	struct pair		 p, q;

	(void)state;
	conf = conf_from("valid", "valid");
	tls_server_conf_ref(conf);
	tls_server_conf_unref(conf);
	pair_open(&p, conf, &o);
	pair_open(&q, conf, &o);
	/* A reload drops the configuration; its sessions go on. */
	tls_server_conf_unref(conf);
	pair_must_handshake(&p);
	tls_conn_free(q.server);	/* one of them ends early */
	q.server = NULL;
	pair_send_down(&p, (const uint8_t *)"250 ok\r\n", 8);
	pair_send_up(&p, (const uint8_t *)"QUIT\r\n", 6, 64);
	pair_close(&p);			/* the last reference */
	pair_close(&q);
	tls_server_conf_unref(NULL);
	tls_conn_free(NULL);
}

/* ---- random numbers after fork and chroot ---- */

/*
 * A child reseeds the parent's generator on first use; inside a chroot
 * with no /dev that must still work (mbedTLS gets entropy from getrandom).
 */
static void
test_fork_chroot(void **state)
{
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, NULL };
	struct pair		 p;
	char			 empty[sizeof(pki_dir) + 8];
	pid_t			 pid;
	int			 st;

	(void)state;
	conf = conf_from("valid", "valid");
	assert_true(bsnprintf(empty, sizeof(empty), "%s/empty", pki_dir));
	assert_int_equal(mkdir(empty, 0755), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (geteuid() == 0 && (chroot(empty) == -1 || chdir("/") == -1))
			_exit(2);
		if (geteuid() == 0 && access("/dev/urandom", F_OK) == 0)
			_exit(3);
		tls_init();	/* what a child calls before its loop */
		pair_open(&p, conf, &o);
		_exit(pair_handshake(&p) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("expected a handshake in a chrooted child, got wait "
		    "status %d", st);
	rmdir(empty);
	tls_server_conf_unref(conf);
}

/* ---- the PKI generator's own check ---- */

static void
test_pki_check(void **state)
{
	const char	*top = getenv("SM_TOP");
	char		 cmd[1024];

	(void)state;
	assert_true(bsnprintf(cmd, sizeof(cmd), "sh '%s/tests/pki/mkpki.sh' "
	    "check '%s'", top != NULL ? top : ".", pki_dir));
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pki_check),
		cmocka_unit_test(test_handshake_ecdsa),
		cmocka_unit_test(test_handshake_rsa),
		cmocka_unit_test(test_handshake_chain),
		cmocka_unit_test(test_handshake_incomplete_chain),
		cmocka_unit_test(test_each_suite),
		cmocka_unit_test(test_refuse_tls11),
		cmocka_unit_test(test_refuse_cbc),
		cmocka_unit_test(test_conf_mismatch),
		cmocka_unit_test(test_conf_garbage),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_garbage_client),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_fork_chroot),
	};

	log_init("test_tls", 1, 0);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
