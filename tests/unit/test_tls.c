/*
 * test_tls.c - unit tests of common/tls.c against an mbedTLS client over a
 * non-blocking socketpair, with certificates that tests/pki/mkpki.sh makes
 * in a temporary folder: handshakes with ECDSA and RSA keys, a chain with
 * its intermediate, data both ways, close_notify and EOF; clients limited
 * to TLS 1.1 or to CBC suites are refused; bad PEM and a key that does
 * not match are refused with a message; a configuration outlives its
 * last unref while a connection uses it; reseeding in a chroot after fork.
 * The client of common/tls.c against this server and against an mbedTLS
 * server, through a relay that records the bytes of the handshake: SNI,
 * the groups offered and chosen (X25519 first), the peer's chain handed
 * to the verifier, TLS 1.2 required by the strict configuration.
 * Handshake steps on worker threads (tls_pool.h): many at once with ECDSA
 * and RSA keys, a resumption, which steps are costly, a stop that runs
 * what was submitted, and the CPUs of the process's affinity.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sched.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/tls.h"
#include "common/tls_pool.h"
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

/* Trust anchors from a file of the PKI. */
static struct tls_trust *
tls_trust_load_pki(const char *name)
{
	struct tls_trust	*a;
	char			 path[512], err[600];

	assert_true(bsnprintf(path, sizeof(path), "%s/%s", pki_dir, name));
	if ((a = tls_trust_load(path, err, sizeof(err))) == NULL)
		fail_msg("expected anchors from %s, got %s", path, err);
	return a;
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

/*
 * Session tickets: a client that offers back the ticket of its first
 * handshake resumes (the server says so); the same ticket at a server
 * configuration with other keys (a reload, another process) gets a full
 * handshake that works.  Once with a plain mbedTLS client, once with
 * tls.c's own client API (tls_session_get, tls_session_offer).
 */
static void
test_ticket_resume(void **state)
{
	struct tls_server_conf	*conf, *other;
	struct client_opts	 o = { 0, NULL, NULL };
	mbedtls_ssl_session	 sess;
	struct pair		 p;

	(void)state;
	conf = conf_from("valid", "valid");
	other = conf_from("valid", "valid");
	mbedtls_ssl_session_init(&sess);

	pair_open(&p, conf, &o);
	pair_must_handshake(&p);
	assert_int_equal(tls_resumed(p.server), 0);
	assert_int_equal(mbedtls_ssl_get_session(&p.client->ssl, &sess), 0);
	assert_true(sess.ticket != NULL && sess.ticket_len > 0);
	pair_close(&p);

	pair_open(&p, conf, &o);
	assert_int_equal(mbedtls_ssl_set_session(&p.client->ssl, &sess), 0);
	pair_must_handshake(&p);
	assert_int_equal(tls_resumed(p.server), 1);
	pair_close(&p);

	pair_open(&p, other, &o);
	assert_int_equal(mbedtls_ssl_set_session(&p.client->ssl, &sess), 0);
	pair_must_handshake(&p);
	assert_int_equal(tls_resumed(p.server), 0);
	pair_close(&p);

	mbedtls_ssl_session_free(&sess);
	tls_server_conf_unref(other);
	tls_server_conf_unref(conf);
}

/* Steps a tls.c client and server on a socketpair until both are done. */
static int
own_pair_handshake(struct tls_server_conf *conf, struct tls_client_conf *cc,
    const struct tls_session *offer, struct tls_session **got)
{
	struct tls_conn	*sv, *cl;
	int		 fds[2], i, sret = 1, cret = 1, resumed;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    fds), 0);
	sv = tls_conn_server(conf, fds[0]);
	cl = tls_conn_client(cc, fds[1], "mx.example.test");
	if (offer != NULL)
		assert_int_equal(tls_session_offer(cl, offer), 0);
	for (i = 0; i < PUMP_ROUNDS && (sret != 0 || cret != 0); i++) {
		if (sret != 0)
			sret = tls_handshake(sv);
		if (cret != 0)
			cret = tls_handshake(cl);
		assert_true(sret == 0 || sret == TLS_WANT_READ ||
		    sret == TLS_WANT_WRITE);
		assert_true(cret == 0 || cret == TLS_WANT_READ ||
		    cret == TLS_WANT_WRITE);
	}
	assert_int_equal(sret, 0);
	assert_int_equal(cret, 0);
	resumed = tls_resumed(sv);
	assert_int_equal(tls_resumed(cl), resumed);	/* both ends agree */
	assert_null(tls_session_get(sv));	/* a client's only */
	if (got != NULL) {
		*got = tls_session_get(cl);
		assert_non_null(*got);
	}
	tls_conn_free(sv);
	tls_conn_free(cl);
	close(fds[0]);
	close(fds[1]);
	return resumed;
}

static void
test_ticket_own_client(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_client_conf	*cc;
	struct tls_session	*s = NULL, *s2 = NULL;

	(void)state;
	conf = conf_from("valid", "valid");
	cc = tls_client_conf_new(TLS_CLIENT_STRICT);
	assert_int_equal(own_pair_handshake(conf, cc, NULL, &s), 0);
	assert_int_equal(own_pair_handshake(conf, cc, s, &s2), 1);
	/* The session of a resumed handshake resumes again. */
	assert_int_equal(own_pair_handshake(conf, cc, s2, NULL), 1);
	tls_session_free(s);
	tls_session_free(s2);
	tls_client_conf_unref(cc);
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

/* ---- the client, through a relay that records the handshake ---- */

#define WIRE_LOG	65536

/* One direction of the relay: what went through it, the first
 * WIRE_LOG bytes of it. */
struct wire_log {
	uint8_t	 data[WIRE_LOG];
	size_t	 len;
	int	 eof;
};

/* An mbedTLS server with its own settings (the server of common/tls.c
 * cannot be limited to TLS 1.1). */
struct rawsrv {
	mbedtls_entropy_context	 entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config	 conf;
	mbedtls_ssl_context	 ssl;
	mbedtls_net_context	 net;
	mbedtls_x509_crt	 crt;
	mbedtls_pk_context	 key;
};

/*
 * server end -- s[0] | s[1] -- relay -- c[1] | c[0] -- client end.
 * The server is ours (server) or mbedTLS's (raw); so is the client
 * (client or rawc).
 */
struct cpair {
	int			 s[2], c[2];
	struct tls_conn		*server;
	struct rawsrv		*raw;
	struct tls_conn		*client;
	struct client		*rawc;
	struct wire_log		 up, down;	/* to the server, to the client */
	int			 sret, cret;
};

/* Moves what waits on from to to, recording it in log. */
static void
wire_move(int from, int to, struct wire_log *log)
{
	uint8_t	buf[16384];
	size_t	keep;
	ssize_t	n;

	while ((n = recv(from, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		keep = (size_t)n < WIRE_LOG - log->len ? (size_t)n :
		    WIRE_LOG - log->len;
		memcpy(log->data + log->len, buf, keep);
		log->len += keep;
		assert_int_equal(write_all(to, buf, (size_t)n), 0);
	}
	if (n == 0 && !log->eof) {
		log->eof = 1;
		(void)shutdown(to, SHUT_WR);
	}
}

static void
cpair_relay(struct cpair *p)
{
	wire_move(p->c[1], p->s[1], &p->up);
	wire_move(p->s[1], p->c[1], &p->down);
}

static void
rawsrv_load(struct rawsrv *r, const char *name)
{
	struct pem	cert, key;
	char		fname[128];

	assert_true(bsnprintf(fname, sizeof(fname), "%s.pem", name));
	cert = pem_read(fname);
	cert.data[cert.len] = '\0';
	assert_int_equal(mbedtls_x509_crt_parse(&r->crt, cert.data,
	    cert.len + 1), 0);
	assert_true(bsnprintf(fname, sizeof(fname), "%s.key", name));
	key = pem_read(fname);
	key.data[key.len] = '\0';
	assert_int_equal(mbedtls_pk_parse_key(&r->key, key.data, key.len + 1,
	    NULL, 0), 0);
	pem_free(&cert);
	pem_free(&key);
}

/* An mbedTLS server with NAME.pem, speaking TLS 1.0 to max_minor. */
static struct rawsrv *
rawsrv_new(int fd, const char *name, int max_minor)
{
	struct rawsrv	*r;

	r = xcalloc(1, sizeof(*r));
	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
	mbedtls_ssl_config_init(&r->conf);
	mbedtls_ssl_init(&r->ssl);
	mbedtls_x509_crt_init(&r->crt);
	mbedtls_pk_init(&r->key);
	assert_int_equal(mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func,
	    &r->entropy, NULL, 0), 0);
	rawsrv_load(r, name);
	assert_int_equal(mbedtls_ssl_config_defaults(&r->conf,
	    MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
	    MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&r->conf, mbedtls_ctr_drbg_random, &r->drbg);
	mbedtls_ssl_conf_min_version(&r->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_1);
	mbedtls_ssl_conf_max_version(&r->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    max_minor);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&r->conf, &r->crt,
	    &r->key), 0);
	assert_int_equal(mbedtls_ssl_setup(&r->ssl, &r->conf), 0);
	r->net.fd = fd;
	mbedtls_ssl_set_bio(&r->ssl, &r->net, mbedtls_net_send,
	    mbedtls_net_recv, NULL);
	return r;
}

static void
rawsrv_free(struct rawsrv *r)
{
	if (r == NULL)
		return;
	mbedtls_ssl_free(&r->ssl);
	mbedtls_ssl_config_free(&r->conf);
	mbedtls_x509_crt_free(&r->crt);
	mbedtls_pk_free(&r->key);
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
	free(r);
}

/* The two pairs of the wire; the ends are non-blocking, the relay's
 * writes block (a handshake fits in the socket buffers). */
static void
cpair_wire(struct cpair *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->s), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->c), 0);
	assert_int_equal(fd_set_nonblock(p->s[0]), 0);
	assert_int_equal(fd_set_nonblock(p->c[0]), 0);
}

static void
cpair_close(struct cpair *p)
{
	int	i;

	tls_conn_free(p->server);
	tls_conn_free(p->client);
	rawsrv_free(p->raw);
	if (p->rawc != NULL)
		client_free(p->rawc);
	for (i = 0; i < 2; i++) {
		close(p->s[i]);
		close(p->c[i]);
	}
}

/* One step of a handshake: 1 to go on, 0 done, -1 failed. */
static int
step_ours(struct tls_conn *t, int *ret)
{
	*ret = tls_handshake(t);
	if (*ret == TLS_WANT_READ || *ret == TLS_WANT_WRITE)
		return 1;
	return *ret == 0 ? 0 : -1;
}

static int
step_raw(mbedtls_ssl_context *ssl, int *ret)
{
	*ret = mbedtls_ssl_handshake(ssl);
	if (client_wants(*ret))
		return 1;
	return *ret == 0 ? 0 : -1;
}

/* Both handshakes to their end; a side that failed closes its end so
 * that the other sees it.  0 when both succeeded. */
static int
cpair_handshake(struct cpair *p)
{
	int	i, s = 1, c = 1;

	for (i = 0; i < PUMP_ROUNDS && (s == 1 || c == 1); i++) {
		if (s == 1) {
			s = p->server != NULL ? step_ours(p->server, &p->sret) :
			    step_raw(&p->raw->ssl, &p->sret);
			if (s == -1)
				(void)shutdown(p->s[0], SHUT_RDWR);
		}
		cpair_relay(p);
		if (c == 1) {
			c = p->client != NULL ? step_ours(p->client, &p->cret) :
			    step_raw(&p->rawc->ssl, &p->cret);
			if (c == -1)
				(void)shutdown(p->c[0], SHUT_RDWR);
		}
		cpair_relay(p);
	}
	return s == 0 && c == 0 ? 0 : -1;
}

static void
cpair_must_handshake(struct cpair *p)
{
	char	err[128];

	if (cpair_handshake(p) == 0)
		return;
	mbedtls_strerror(p->sret, err, sizeof(err));
	fail_msg("expected a handshake, got server %d (%s), client %d (%s)",
	    p->sret, p->server != NULL ? tls_error(p->server) : err, p->cret,
	    p->client != NULL ? tls_error(p->client) : "mbedTLS client");
}

/* Our client (mode, sni) against our server with NAME.pem. */
static void
cpair_ours(struct cpair *p, struct tls_server_conf *sconf,
    enum tls_client_mode mode, const char *sni)
{
	struct tls_client_conf	*cconf;

	cpair_wire(p);
	p->server = tls_conn_server(sconf, p->s[0]);
	cconf = tls_client_conf_new(mode);
	p->client = tls_conn_client(cconf, p->c[0], sni);
	tls_client_conf_unref(cconf);	/* the connection holds it */
}

/* ---- reading the handshake off the wire ---- */

/* The handshake messages of the plaintext records, up to the first
 * ChangeCipherSpec, one after the other into out. */
static size_t
wire_handshake(const struct wire_log *log, uint8_t *out, size_t outsize)
{
	size_t	i = 0, o = 0, len;

	while (i + 5 <= log->len) {
		len = (size_t)log->data[i + 3] << 8 | log->data[i + 4];
		if (i + 5 + len > log->len || log->data[i] == 20)
			break;
		if (log->data[i] == 22) {
			assert_true(o + len <= outsize);
			memcpy(out + o, log->data + i + 5, len);
			o += len;
		}
		i += 5 + len;
	}
	return o;
}

/* The body of the first handshake message of that type, or NULL. */
static const uint8_t *
wire_message(const struct wire_log *log, int type, uint8_t *hs,
    size_t hssize, size_t *bodylen)
{
	size_t	i = 0, n, len;

	n = wire_handshake(log, hs, hssize);
	while (i + 4 <= n) {
		len = (size_t)hs[i + 1] << 16 | (size_t)hs[i + 2] << 8 |
		    hs[i + 3];
		if (i + 4 + len > n)
			break;
		if (hs[i] == type) {
			*bodylen = len;
			return hs + i + 4;
		}
		i += 4 + len;
	}
	return NULL;
}

/* The named group of the server's ECDHE key exchange; -1 when none. */
static int
wire_server_group(const struct wire_log *down)
{
	static uint8_t	 hs[WIRE_LOG];
	const uint8_t	*b;
	size_t		 len;

	b = wire_message(down, 12, hs, sizeof(hs), &len);
	if (b == NULL || len < 3 || b[0] != 3)	/* named_curve */
		return -1;
	return b[1] << 8 | b[2];
}

/* The supported_groups of the ClientHello into groups; their count, or
 * -1 when there is no such extension. */
static int
wire_client_groups(const struct wire_log *up, int *groups, int max)
{
	static uint8_t	 hs[WIRE_LOG];
	const uint8_t	*b;
	size_t		 len, i, end, type, elen, k;
	int		 n = 0;

	assert_non_null(b = wire_message(up, 1, hs, sizeof(hs), &len));
	i = 34;					/* version, random */
	i += 1 + b[i];				/* session id */
	i += 2 + ((size_t)b[i] << 8 | b[i + 1]);	/* suites */
	i += 1 + b[i];				/* compression */
	end = i + 2 + ((size_t)b[i] << 8 | b[i + 1]);
	assert_true(end <= len);
	for (i += 2; i + 4 <= end; i += 4 + elen) {
		type = (size_t)b[i] << 8 | b[i + 1];
		elen = (size_t)b[i + 2] << 8 | b[i + 3];
		if (type != 10)
			continue;
		for (k = 2; k + 1 < elen && n < max; k += 2)
			groups[n++] = b[i + 4 + k] << 8 | b[i + 5 + k];
		return n;
	}
	return -1;
}

/* The SNI of the ClientHello: 1 when there is a server_name extension. */
static int
wire_has_sni(const struct wire_log *up)
{
	static uint8_t	 hs[WIRE_LOG];
	const uint8_t	*b;
	size_t		 len, i, end, elen;

	assert_non_null(b = wire_message(up, 1, hs, sizeof(hs), &len));
	i = 34;
	i += 1 + b[i];
	i += 2 + ((size_t)b[i] << 8 | b[i + 1]);
	i += 1 + b[i];
	end = i + 2 + ((size_t)b[i] << 8 | b[i + 1]);
	for (i += 2; i + 4 <= end; i += 4 + elen) {
		elen = (size_t)b[i + 2] << 8 | b[i + 3];
		if (b[i] == 0 && b[i + 1] == 0)
			return 1;
	}
	return 0;
}

#define GROUP_X25519	29
#define GROUP_P256	23
#define GROUP_P384	24

/* ---- the client ---- */

/* Against our own server: SNI, groups, the chain for the verifier, data. */
static void
test_client_handshake(void **state)
{
	const char *const	 names[] = { "mx.example.test" };
	struct tls_server_conf	*conf;
	struct tls_trust	*ca;
	struct tls_chain	 chain = { 0 }, sent = { 0 };
	struct tls_verdict	 v;
	struct pem		 pem;
	struct cpair		 p;
	int			 groups[16], n;
	char			 err[256], buf[64];
	ssize_t			 r;

	(void)state;
	conf = conf_from("chain", "chain");
	cpair_ours(&p, conf, TLS_CLIENT_STRICT, "mx.example.test.");
	cpair_must_handshake(&p);
	/* SNI names the host, without the trailing dot. */
	assert_string_equal(tls_sni(p.server), "mx.example.test");
	assert_string_equal(tls_sni(p.client), "");
	assert_string_equal(tls_version(p.client), "TLSv1.2");
	assert_string_equal(tls_cipher(p.client), tls_cipher(p.server));
	if (!suite_is_allowed(tls_cipher(p.client)))
		fail_msg("expected an ECDHE AEAD suite, got %s",
		    tls_cipher(p.client));
	/* X25519, P-256, P-384 offered in that order; X25519 chosen. */
	n = wire_client_groups(&p.up, groups, 16);
	assert_int_equal(n, 3);
	assert_int_equal(groups[0], GROUP_X25519);
	assert_int_equal(groups[1], GROUP_P256);
	assert_int_equal(groups[2], GROUP_P384);
	assert_int_equal(wire_server_group(&p.down), GROUP_X25519);
	/* The chain as the server sent it: leaf and intermediate. */
	assert_int_equal(tls_conn_peer_chain(p.client, &chain), 0);
	pem = pem_read("chain.pem");
	assert_int_equal(tls_chain_from_pem(&sent, pem.data, pem.len, err,
	    sizeof(err)), 0);
	assert_int_equal(chain.n, 2);
	assert_int_equal(sent.n, 2);
	assert_memory_equal(chain.cert[0].data, sent.cert[0].data,
	    sent.cert[0].len);
	assert_memory_equal(chain.cert[1].data, sent.cert[1].data,
	    sent.cert[1].len);
	pem_free(&pem);
	ca = tls_trust_load_pki("ca.pem");
	assert_int_equal(tls_verify_chain(&chain, names, 1, time(NULL), ca,
	    &v), TLS_VERIFY_OK);
	tls_trust_free(ca);
	/* The server has no chain of a client. */
	assert_int_equal(tls_conn_peer_chain(p.server, &sent), -1);
	assert_int_equal(sent.n, 0);
	/* Data both ways. */
	while ((r = tls_write(p.client, "EHLO a\r\n", 8)) == TLS_WANT_WRITE)
		;
	assert_int_equal(r, 8);
	cpair_relay(&p);
	assert_int_equal(tls_read(p.server, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "EHLO a\r\n", 8);
	assert_int_equal(tls_write(p.server, "250 ok\r\n", 8), 8);
	cpair_relay(&p);
	assert_int_equal(tls_read(p.client, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "250 ok\r\n", 8);
	tls_close(p.client);
	cpair_relay(&p);
	assert_int_equal(tls_read(p.server, buf, sizeof(buf)), 0);
	tls_chain_free(&chain);
	cpair_close(&p);
	tls_server_conf_unref(conf);
}

/* The client does not judge: a bad certificate still completes the
 * handshake, and the verifier gives the reason. */
static void
test_client_leaves_judgement(void **state)
{
	static const struct {
		const char		*cert;
		enum tls_verify_code	 want;
		const char		*reason;
	} t[] = {
		{ "valid", TLS_VERIFY_OK, "verified" },
		{ "wrongname", TLS_VERIFY_NAME_MISMATCH, "name mismatch: wanted "
		    "mx.example.test, certificate has other.example.test" },
		{ "selfsigned", TLS_VERIFY_UNTRUSTED,
		    "untrusted chain: self-signed certificate" },
		{ "expired", TLS_VERIFY_EXPIRED, "certificate expired: " },
		{ "incomplete", TLS_VERIFY_UNTRUSTED,
		    "untrusted chain: unknown issuer " },
		{ "cnonly", TLS_VERIFY_NAME_MISMATCH, "name mismatch: " },
	};
	const char *const	 names[] = { "mx.example.test" };
	struct tls_server_conf	*conf;
	struct tls_trust	*ca;
	struct tls_chain	 chain = { 0 };
	struct tls_verdict	 v;
	struct cpair		 p;
	size_t			 i;

	(void)state;
	ca = tls_trust_load_pki("ca.pem");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		conf = conf_from(t[i].cert, t[i].cert);
		cpair_ours(&p, conf, TLS_CLIENT_STRICT, "mx.example.test");
		cpair_must_handshake(&p);
		assert_int_equal(tls_conn_peer_chain(p.client, &chain), 0);
		if (tls_verify_chain(&chain, names, 1, time(NULL), ca, &v) !=
		    t[i].want || strncmp(v.reason, t[i].reason,
		    strlen(t[i].reason)) != 0)
			fail_msg("%s: expected '%s', got '%s'", t[i].cert,
			    t[i].reason, v.reason);
		tls_chain_free(&chain);
		cpair_close(&p);
		tls_server_conf_unref(conf);
	}
	tls_trust_free(ca);
}

/* SNI is a host name: none for an address or NULL; a name too long to
 * send fails the handshake with a message. */
static void
test_client_sni(void **state)
{
	static const char *const none[] = { "127.0.0.1", "::1", NULL };
	struct tls_server_conf	*conf;
	struct cpair		 p;
	char			 longname[300];
	size_t			 i;

	(void)state;
	conf = conf_from("valid", "valid");
	for (i = 0; i < 3; i++) {
		cpair_ours(&p, conf, TLS_CLIENT_STRICT, none[i]);
		cpair_must_handshake(&p);
		assert_string_equal(tls_sni(p.server), "");
		assert_int_equal(wire_has_sni(&p.up), 0);
		cpair_close(&p);
	}
	cpair_ours(&p, conf, TLS_CLIENT_STRICT, "MX.Example.Test");
	cpair_must_handshake(&p);
	assert_string_equal(tls_sni(p.server), "MX.Example.Test");
	assert_int_equal(wire_has_sni(&p.up), 1);
	cpair_close(&p);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (i = 63; i < sizeof(longname); i += 64)
		longname[i] = '.';
	cpair_ours(&p, conf, TLS_CLIENT_STRICT, longname);
	assert_int_equal(tls_handshake(p.client), TLS_ERROR);
	assert_non_null(strstr(tls_error(p.client), "server name"));
	cpair_close(&p);
	tls_server_conf_unref(conf);
}

/* Our server chooses X25519 even when the client lists bigger curves
 * first (as mbedTLS's and OpenSSL's servers would have it, which then
 * picked secp521r1), and P-384 when that is all the client has.  (The
 * client here does not offer mbedTLS's default list: it puts X25519 12th,
 * and an mbedTLS 2.28 server reads only the first 11 groups offered.) */
static void
test_server_groups(void **state)
{
	static const mbedtls_ecp_group_id big_first[] = {
		MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_SECP384R1,
		MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_CURVE25519,
		MBEDTLS_ECP_DP_NONE
	};
	static const mbedtls_ecp_group_id p384[] = {
		MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE
	};
	struct tls_server_conf	*conf;
	struct client_opts	 o = { 0, NULL, "mx.example.test" };
	struct cpair		 p;
	int			 groups[32], n;

	(void)state;
	conf = conf_from("valid", "valid");
	cpair_wire(&p);
	p.server = tls_conn_server(conf, p.s[0]);
	p.rawc = client_new(p.c[0], &o);
	mbedtls_ssl_conf_curves(&p.rawc->conf, big_first);
	cpair_must_handshake(&p);
	n = wire_client_groups(&p.up, groups, 32);
	assert_int_equal(n, 4);
	assert_int_equal(groups[0], 25);	/* secp521r1 */
	assert_int_equal(wire_server_group(&p.down), GROUP_X25519);
	cpair_close(&p);
	tls_server_conf_unref(conf);
	/* RSA: an ECDSA P-256 key needs a client that knows P-256. */
	conf = conf_from("rsa", "rsa");
	cpair_wire(&p);
	p.server = tls_conn_server(conf, p.s[0]);
	p.rawc = client_new(p.c[0], &o);
	mbedtls_ssl_conf_curves(&p.rawc->conf, p384);
	cpair_must_handshake(&p);
	assert_int_equal(wire_server_group(&p.down), GROUP_P384);
	cpair_close(&p);
	tls_server_conf_unref(conf);
}

/* A server that stops at TLS 1.1: refused by the strict client, spoken
 * to by the compatible one. */
static void
test_client_tls11_server(void **state)
{
	struct cpair			 p;
	struct tls_client_conf		*cconf;

	(void)state;
	cpair_wire(&p);
	p.raw = rawsrv_new(p.s[0], "valid", MBEDTLS_SSL_MINOR_VERSION_2);
	cconf = tls_client_conf_new(TLS_CLIENT_STRICT);
	p.client = tls_conn_client(cconf, p.c[0], "mx.example.test");
	if (cpair_handshake(&p) == 0)
		fail_msg("expected the strict client to refuse TLS 1.1, got "
		    "%s", tls_version(p.client));
	assert_int_equal(p.cret, TLS_ERROR);
	assert_non_null(strstr(tls_error(p.client), "handshake: "));
	if (getenv("TEST_TLS_VERBOSE") != NULL)
		fprintf(stderr, "strict client, TLS 1.1 server: %s\n",
		    tls_error(p.client));
	cpair_close(&p);
	tls_client_conf_unref(cconf);

	cpair_wire(&p);
	p.raw = rawsrv_new(p.s[0], "valid", MBEDTLS_SSL_MINOR_VERSION_2);
	cconf = tls_client_conf_new(TLS_CLIENT_COMPAT);
	p.client = tls_conn_client(cconf, p.c[0], "mx.example.test");
	tls_client_conf_unref(cconf);
	cpair_must_handshake(&p);
	assert_string_equal(tls_version(p.client), "TLSv1.1");
	/* mbedTLS's server prefers P-384 of the three groups offered. */
	assert_int_equal(wire_server_group(&p.down), GROUP_P384);
	cpair_close(&p);

	/* The compatible client with a TLS 1.2 server: TLS 1.2. */
	cpair_wire(&p);
	p.raw = rawsrv_new(p.s[0], "rsa", MBEDTLS_SSL_MINOR_VERSION_3);
	cconf = tls_client_conf_new(TLS_CLIENT_COMPAT);
	p.client = tls_conn_client(cconf, p.c[0], "mx.example.test");
	tls_client_conf_unref(cconf);
	cpair_must_handshake(&p);
	assert_string_equal(tls_version(p.client), "TLSv1.2");
	cpair_close(&p);
}

/* Client configurations are reference counted like the server's. */
static void
test_client_refcount(void **state)
{
	struct tls_client_conf	*c;

	(void)state;
	c = tls_client_conf_new(TLS_CLIENT_STRICT);
	tls_client_conf_ref(c);
	tls_client_conf_unref(c);
	tls_client_conf_unref(c);
	tls_client_conf_unref(NULL);
}

/* ---- the PKI generator's own check ---- */

/* ---- handshake steps on worker threads (tls_pool.h) ---- */

/* tls_step_costly: a server waiting for a ClientHello or a
 * ClientKeyExchange; after a resumed ClientHello, and once done, not; a
 * client never. */
static void
test_step_costly(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_client_conf	*cc;
	struct tls_session	*s = NULL;
	struct tls_conn		*sv, *cl;
	int			 fds[2], round, sret, cret, i;

	(void)state;
	conf = conf_from("valid", "valid");
	cc = tls_client_conf_new(TLS_CLIENT_STRICT);
	assert_int_equal(own_pair_handshake(conf, cc, NULL, &s), 0);
	for (round = 0; round < 2; round++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK, 0, fds), 0);
		sv = tls_conn_server(conf, fds[0]);
		cl = tls_conn_client(cc, fds[1], "mx.example.test");
		if (round == 1)
			assert_int_equal(tls_session_offer(cl, s), 0);
		assert_int_equal(tls_step_costly(sv), 1);
		assert_int_equal(tls_step_costly(cl), 0);
		/* The ClientHello, and the server's answer to it. */
		assert_int_equal(tls_handshake(cl), TLS_WANT_READ);
		assert_int_equal(tls_handshake(sv), TLS_WANT_READ);
		/* Full: the ClientKeyExchange is next; resumed: only the
		 * client's Finished. */
		assert_int_equal(tls_step_costly(sv), round == 0 ? 1 : 0);
		sret = cret = TLS_WANT_READ;
		for (i = 0; i < PUMP_ROUNDS && (sret != 0 || cret != 0); i++) {
			if (cret != 0)
				cret = tls_handshake(cl);
			if (sret != 0)
				sret = tls_handshake(sv);
		}
		assert_int_equal(sret, 0);
		assert_int_equal(cret, 0);
		assert_int_equal(tls_resumed(sv), round);
		assert_int_equal(tls_step_costly(sv), 0);
		tls_conn_free(sv);
		tls_conn_free(cl);
		close(fds[0]);
		close(fds[1]);
	}
	tls_session_free(s);
	tls_client_conf_unref(cc);
	tls_server_conf_unref(conf);
}

#define POOL_PAIRS	16
#define POOL_ROUNDS	20000

struct pool_pair {
	int		 fds[2];
	struct tls_conn	*sv, *cl;
	struct tls_step	 step;
	int		 out;		/* the server's step is in the pool */
	int		 sret, cret;
};

/*
 * POOL_PAIRS handshakes at once, tls.c's client against a server whose
 * costly steps run in a pool of 4 workers and the others here, as the
 * receiver does: every one ends on both sides, resumed when a ticket is
 * offered, the pool's steps came back through its descriptor, and data
 * goes both ways afterwards.
 */
static void
pool_run(const char *name, struct tls_session *offer, int want_resumed)
{
	struct tls_server_conf	*conf;
	struct tls_client_conf	*cc;
	struct tls_pool		*pool;
	struct pool_pair	 pp[POOL_PAIRS], *q;
	struct tls_step		*st, *next;
	struct pollfd		 pfd;
	unsigned		 pooled = 0, back = 0, left = POOL_PAIRS;
	char			 buf[8];
	int			 i, r;

	conf = conf_from(name, name);
	cc = tls_client_conf_new(TLS_CLIENT_STRICT);
	pool = tls_pool_new(4);
	assert_non_null(pool);
	for (i = 0; i < POOL_PAIRS; i++) {
		q = &pp[i];
		memset(q, 0, sizeof(*q));
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK, 0, q->fds), 0);
		q->sv = tls_conn_server(conf, q->fds[0]);
		q->cl = tls_conn_client(cc, q->fds[1], "mx.example.test");
		if (offer != NULL)
			assert_int_equal(tls_session_offer(q->cl, offer), 0);
		q->sret = q->cret = TLS_WANT_READ;
		q->step.tls = q->sv;
		q->step.arg = q;
	}
	for (r = 0; r < POOL_ROUNDS && left > 0; r++) {
		for (i = 0; i < POOL_PAIRS; i++) {
			q = &pp[i];
			if (q->cret != 0)
				q->cret = tls_handshake(q->cl);
			if (q->out || q->sret == 0)
				continue;
			if (q->sret != TLS_WANT_READ &&
			    q->sret != TLS_WANT_WRITE)
				fail_msg("expected a handshake, got %d (%s)",
				    q->sret, tls_error(q->sv));
			if (tls_step_costly(q->sv)) {
				q->out = 1;
				pooled++;
				tls_pool_submit(pool, &q->step);
			} else
				q->sret = tls_handshake(q->sv);
			if (q->sret == 0 && q->cret == 0)
				left--;
		}
		pfd.fd = tls_pool_fd(pool);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5) == 1)
			for (st = tls_pool_done(pool); st != NULL; st = next) {
				next = st->next;
				q = st->arg;
				q->out = 0;
				q->sret = st->rc;
				back++;
				if (q->sret == 0 && q->cret == 0)
					left--;
			}
		/* A client whose server ended last. */
		for (i = 0; i < POOL_PAIRS && r > 0; i++)
			if (pp[i].sret == 0 && pp[i].cret != 0 &&
			    (pp[i].cret = tls_handshake(pp[i].cl)) == 0)
				left--;
	}
	assert_int_equal(left, 0);
	assert_int_equal(back, pooled);
	assert_true(pooled >= POOL_PAIRS);
	for (i = 0; i < POOL_PAIRS; i++) {
		q = &pp[i];
		assert_int_equal(q->sret, 0);
		assert_int_equal(q->cret, 0);
		assert_int_equal(tls_resumed(q->sv), want_resumed);
		assert_int_equal(tls_write(q->sv, "250 ok\r\n", 8), 8);
		assert_int_equal(tls_read(q->cl, buf, sizeof(buf)), 8);
		assert_memory_equal(buf, "250 ok\r\n", 8);
		assert_int_equal(tls_write(q->cl, "QUIT\r\n", 6), 6);
		assert_int_equal(tls_read(q->sv, buf, sizeof(buf)), 6);
		tls_conn_free(q->sv);
		tls_conn_free(q->cl);
		close(q->fds[0]);
		close(q->fds[1]);
	}
	tls_pool_free(pool);
	tls_client_conf_unref(cc);
	tls_server_conf_unref(conf);
}

static void
test_pool_handshakes(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_client_conf	*cc;
	struct tls_session	*s = NULL;

	(void)state;
	pool_run("valid", NULL, 0);
	pool_run("rsa", NULL, 0);
	/* A ticket of another configuration (other keys) at each: full
	 * handshakes that work. */
	conf = conf_from("valid", "valid");
	cc = tls_client_conf_new(TLS_CLIENT_STRICT);
	assert_int_equal(own_pair_handshake(conf, cc, NULL, &s), 0);
	tls_client_conf_unref(cc);
	tls_server_conf_unref(conf);
	pool_run("valid", s, 0);
	tls_session_free(s);
}

/* The same configuration's tickets resume through the pool. */
static void
test_pool_resume(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_client_conf	*cc;
	struct tls_pool		*pool;
	struct tls_session	*s = NULL;
	struct tls_step		 st, *got;
	struct tls_conn		*sv, *cl;
	struct pollfd		 pfd;
	int			 fds[2], i, sret = TLS_WANT_READ, cret = 1;
	int			 pooled = 0;

	(void)state;
	conf = conf_from("valid", "valid");
	cc = tls_client_conf_new(TLS_CLIENT_STRICT);
	assert_int_equal(own_pair_handshake(conf, cc, NULL, &s), 0);
	pool = tls_pool_new(2);
	assert_non_null(pool);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    fds), 0);
	sv = tls_conn_server(conf, fds[0]);
	cl = tls_conn_client(cc, fds[1], "mx.example.test");
	assert_int_equal(tls_session_offer(cl, s), 0);
	for (i = 0; i < PUMP_ROUNDS && (sret != 0 || cret != 0); i++) {
		if (cret != 0)
			cret = tls_handshake(cl);
		if (sret == 0)
			continue;
		if (!tls_step_costly(sv)) {
			sret = tls_handshake(sv);
			continue;
		}
		memset(&st, 0, sizeof(st));
		st.tls = sv;
		tls_pool_submit(pool, &st);
		pooled++;
		pfd.fd = tls_pool_fd(pool);
		pfd.events = POLLIN;
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		got = tls_pool_done(pool);
		assert_ptr_equal(got, &st);
		assert_null(got->next);
		sret = st.rc;
	}
	assert_int_equal(sret, 0);
	assert_int_equal(cret, 0);
	assert_int_equal(tls_resumed(sv), 1);
	assert_true(pooled >= 1);
	tls_conn_free(sv);
	tls_conn_free(cl);
	close(fds[0]);
	close(fds[1]);
	tls_pool_free(pool);
	tls_session_free(s);
	tls_client_conf_unref(cc);
	tls_server_conf_unref(conf);
}

/* tls_pool_stop runs every step submitted before the workers end, and
 * they are all back; fewer than 2 workers is no pool; one CPU of
 * affinity is one CPU. */
static void
test_pool_stop(void **state)
{
	struct tls_server_conf	*conf;
	struct tls_pool		*pool;
	struct tls_step		 st[8], *got;
	struct tls_conn		*sv[8];
	int			 fds[8][2], i, n = 0, seen[8];
	cpu_set_t		 one;
	pid_t			 pid;
	int			 status;

	(void)state;
	assert_null(tls_pool_new(0));
	assert_null(tls_pool_new(1));
	assert_int_equal(tls_threaded(), 1);	/* Debian's mbedTLS */
	assert_true(tls_pool_cpus() >= 1);
	conf = conf_from("valid", "valid");
	pool = tls_pool_new(3);
	assert_non_null(pool);
	for (i = 0; i < 8; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK, 0, fds[i]), 0);
		sv[i] = tls_conn_server(conf, fds[i][0]);
		memset(&st[i], 0, sizeof(st[i]));
		st[i].tls = sv[i];
		st[i].rc = 12345;
		st[i].arg = &seen[i];
		seen[i] = 0;
		tls_pool_submit(pool, &st[i]);
	}
	tls_pool_stop(pool);
	for (got = tls_pool_done(pool); got != NULL; got = got->next) {
		assert_int_equal(got->rc, TLS_WANT_READ);	/* nothing sent */
		(*(int *)got->arg)++;
		n++;
	}
	assert_int_equal(n, 8);
	for (i = 0; i < 8; i++) {
		assert_int_equal(seen[i], 1);
		tls_conn_free(sv[i]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	tls_pool_free(pool);
	tls_server_conf_unref(conf);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_setaffinity(0, sizeof(one), &one) != 0)
			_exit(2);
		_exit(tls_pool_cpus() == 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

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
		cmocka_unit_test(test_ticket_resume),
		cmocka_unit_test(test_ticket_own_client),
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
		cmocka_unit_test(test_client_handshake),
		cmocka_unit_test(test_client_leaves_judgement),
		cmocka_unit_test(test_client_sni),
		cmocka_unit_test(test_server_groups),
		cmocka_unit_test(test_client_tls11_server),
		cmocka_unit_test(test_client_refcount),
		cmocka_unit_test(test_step_costly),
		cmocka_unit_test(test_pool_handshakes),
		cmocka_unit_test(test_pool_resume),
		cmocka_unit_test(test_pool_stop),
	};

	log_init("test_tls", 1, 0);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
