/*
 * sts_fetch.c - the MTA-STS policy fetch (rules 6 to 11) on libcurl's
 * multi interface.  libcurl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); both go through the event loop into
 * curl_multi_socket_action, so nothing here ever blocks.
 *
 * Each fetch has its own easy handle and its own DNS cache (a share
 * handle) holding only the addresses handed over (CURLOPT_RESOLVE); the
 * open-socket callback refuses every other address.  No connection and
 * no TLS session is reused, so every fetch makes a full handshake and
 * libcurl reports the server's chain (CURLOPT_CERTINFO).  That chain is
 * judged by tls_verify_chain when the response headers are complete,
 * before any body byte is taken: a certificate naming the policy host
 * only in its CN fails here even though libcurl accepted it (rule 6).
 *
 * libcurl is not linked in: only the policy fetcher's worker fetches
 * (sts_fetchd.h), and libcurl's dependencies (libcrypto and some thirty
 * more) would be mapped and relocated in every process the daemon forks.
 * sts_fetch_global_init loads it with dlopen, before the chroot, and every
 * call goes through the table "curl" below (the headers give the types
 * and the constants).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/tls.h"
#include "common/util.h"
#include "sts_fetch.h"
#include "sts_policy.h"

#define STS_FETCH_PORT	443
#define STS_HOST_MAX	253

struct sts_fetcher {
	struct event_loop	*loop;
	CURLM			*multi;
	const char		*ca;
	size_t			 calen;
	const struct tls_trust	*anchors;
	struct event_timer	*timer;		/* libcurl's time-out */
	struct sts_fetch	*head;		/* every fetch not yet called back */
	size_t			 nrunning;
};

struct sts_fetch {
	struct sts_fetcher	*f;
	struct sts_fetch	*prev, *next;
	CURL			*easy;		/* NULL: failed before libcurl */
	CURLSH			*share;		/* this fetch's own DNS cache */
	struct curl_slist	*resolve;
	struct dns_addr		*addrs;
	size_t			 naddrs;
	char			 host[STS_HOST_MAX + 1];
	unsigned		 timeout;
	sts_fetch_cb		 cb;
	void			*arg;
	struct event_timer	*fail_timer;	/* reports an early failure */
	int			 done;		/* libcurl finished it */
	CURLcode		 code;
	int			 headers_done;	/* of the final response */
	int			 cert_checked;
	int			 cert_ok;
	int			 ntype;		/* Content-Type fields seen */
	char			 fail[256];	/* our own reason, first wins */
	char			 last_addr[64];	/* last address let through */
	char			 refused[64];	/* an address refused */
	char			 errbuf[CURL_ERROR_SIZE];
	char			*body;		/* STS_BODY_MAX + 1 bytes */
	size_t			 len;
	struct sts_fetch_result	 res;
};

static void sts_fetch_collect(struct sts_fetcher *f);

/* ---- global ---- */

/* The libcurl functions used, called through the table "curl". */
#define STS_CURL_FUNCS(X)						\
	X(global_init) X(global_cleanup) X(version_info)		\
	X(easy_init) X(easy_cleanup) X(easy_setopt) X(easy_getinfo)	\
	X(easy_strerror)						\
	X(multi_init) X(multi_cleanup) X(multi_setopt) X(multi_assign)	\
	X(multi_add_handle) X(multi_remove_handle)			\
	X(multi_socket_action) X(multi_info_read)			\
	X(share_init) X(share_cleanup) X(share_setopt)		\
	X(slist_append) X(slist_free_all)

/* Each pointer has the type of the function in curl/curl.h, variadic
 * ones (the setopt and getinfo calls) included. */
#define STS_CURL_PTR(n)	__typeof__(curl_##n) *n;
static struct {
	STS_CURL_FUNCS(STS_CURL_PTR)
} curl;
#undef STS_CURL_PTR

#define STS_CURL_LIB	"libcurl.so.4"

static void		*sts_curl_lib;	/* never closed */

/* dlopen libcurl (once) and fill the table; -1 with the reason in err. */
static int
sts_fetch_load(char *err, size_t errlen)
{
	void		*h, *p;
	const char	*e;

	if (sts_curl_lib != NULL)
		return 0;
	if ((h = dlopen(STS_CURL_LIB, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		bsnprintf(err, errlen, "%s: install libcurl4 (the OpenSSL "
		    "flavour of libcurl)", e != NULL ? e : STS_CURL_LIB);
		return -1;
	}
#define STS_CURL_SYM(n)							\
	if ((p = dlsym(h, "curl_" #n)) == NULL) {			\
		bsnprintf(err, errlen, "%s: no symbol curl_" #n		\
		    ": libcurl 7.85 or later needed", STS_CURL_LIB);	\
		(void)dlclose(h);					\
		return -1;						\
	}								\
	memcpy(&curl.n, &p, sizeof(curl.n));
	STS_CURL_FUNCS(STS_CURL_SYM)
#undef STS_CURL_SYM
	sts_curl_lib = h;
	return 0;
}

/* libcurl must speak https through an OpenSSL-family backend, which
 * reports the peer chain (CERTINFO) and takes a CA bundle as a blob. */
int
sts_fetch_global_init(char *err, size_t errlen)
{
	const curl_version_info_data	*v;
	const char *const		*p;
	int				 https = 0;

	if (sts_fetch_load(err, errlen) == -1)
		return -1;
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		bsnprintf(err, errlen, "libcurl: curl_global_init failed");
		return -1;
	}
	v = curl.version_info(CURLVERSION_NOW);
	for (p = v->protocols; p != NULL && *p != NULL; p++)
		if (strcmp(*p, "https") == 0)
			https = 1;
	if (!https || v->ssl_version == NULL || v->version_num < 0x075500) {
		bsnprintf(err, errlen, "libcurl %s: https and version 7.85 "
		    "or later needed", v->version);
		curl.global_cleanup();
		return -1;
	}
	if (strstr(v->ssl_version, "OpenSSL") == NULL &&
	    strstr(v->ssl_version, "LibreSSL") == NULL &&
	    strstr(v->ssl_version, "BoringSSL") == NULL &&
	    strstr(v->ssl_version, "quictls") == NULL) {
		bsnprintf(err, errlen, "libcurl %s with %s: an OpenSSL "
		    "backend is needed (certificate chain, CA bundle in memory)",
		    v->version, v->ssl_version);
		curl.global_cleanup();
		return -1;
	}
	return 0;
}

/* The library stays mapped: OpenSSL's exit handlers may still run. */
void
sts_fetch_global_cleanup(void)
{
	if (sts_curl_lib != NULL)
		curl.global_cleanup();
}

/* ---- libcurl on the event loop ---- */

static void
sts_fetch_on_fd(int fd, int events, void *arg)
{
	struct sts_fetcher	*f = arg;
	int			 flags = 0, running;

	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & EV_ERROR)
		flags |= CURL_CSELECT_ERR;
	(void)curl.multi_socket_action(f->multi, fd, flags, &running);
	sts_fetch_collect(f);
}

static void
sts_fetch_on_timer(void *arg)
{
	struct sts_fetcher	*f = arg;
	int			 running;

	f->timer = NULL;
	(void)curl.multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	sts_fetch_collect(f);
}

/* CURLMOPT_SOCKETFUNCTION: socketp is non-NULL once fd is registered. */
static int
sts_fetch_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct sts_fetcher	*f = userp;
	int			 events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (socketp != NULL) {
			event_del(f->loop, s);
			curl.multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= EV_WRITE;
	if (socketp != NULL)
		return event_mod(f->loop, s, events) == 0 ? 0 : -1;
	if (event_add(f->loop, s, events, sts_fetch_on_fd, f) == -1)
		return -1;
	curl.multi_assign(f->multi, s, f);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 removes the timer; 0 means "soon", which
 * must still come from the loop (libcurl may not be re-entered here). */
static int
sts_fetch_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct sts_fetcher	*f = userp;

	(void)multi;
	if (f->timer != NULL) {
		event_timer_cancel(f->loop, f->timer);
		f->timer = NULL;
	}
	if (ms >= 0)
		f->timer = event_timer_add(f->loop, (uint64_t)ms,
		    sts_fetch_on_timer, f);
	return 0;
}

/* ---- addresses (rule 11) ---- */

static void
sts_fetch_addr_str(const struct dns_addr *a, char *out, size_t outlen)
{
	if (inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->u.v4 :
	    (const void *)&a->u.v6, out, (socklen_t)outlen) == NULL)
		strlcpy(out, "?", outlen);
}

static int
sts_fetch_addr_handed(const struct sts_fetch *r, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*s4 = (const void *)ss;
	const struct sockaddr_in6	*s6 = (const void *)ss;
	size_t				 i;

	for (i = 0; i < r->naddrs; i++) {
		if (r->addrs[i].family != ss->ss_family)
			continue;
		if (ss->ss_family == AF_INET &&
		    ntohs(s4->sin_port) == STS_FETCH_PORT &&
		    memcmp(&s4->sin_addr, &r->addrs[i].u.v4, 4) == 0)
			return 1;
		if (ss->ss_family == AF_INET6 &&
		    ntohs(s6->sin6_port) == STS_FETCH_PORT &&
		    memcmp(&s6->sin6_addr, &r->addrs[i].u.v6, 16) == 0)
			return 1;
	}
	return 0;
}

static void
sts_fetch_sockaddr_str(const struct sockaddr_storage *ss, char *out,
    size_t outlen)
{
	const void	*p = NULL;

	if (ss->ss_family == AF_INET)
		p = &((const struct sockaddr_in *)(const void *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
	if (p == NULL || inet_ntop(ss->ss_family, p, out,
	    (socklen_t)outlen) == NULL)
		strlcpy(out, "?", outlen);
}

/* CURLOPT_OPENSOCKETFUNCTION: a socket only towards an address handed
 * over, port 443; anything else (libcurl resolving by itself, a proxy,
 * another port) gets none. */
static curl_socket_t
sts_fetch_opensocket_cb(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *sa)
{
	struct sts_fetch	*r = clientp;
	struct sockaddr_storage	 ss;
	int			 fd;

	memset(&ss, 0, sizeof(ss));
	if (purpose != CURLSOCKTYPE_IPCXN || sa->addrlen > sizeof(ss) ||
	    (sa->family != AF_INET && sa->family != AF_INET6))
		return CURL_SOCKET_BAD;
	memcpy(&ss, &sa->addr, sa->addrlen);
	if (!sts_fetch_addr_handed(r, &ss)) {
		sts_fetch_sockaddr_str(&ss, r->refused, sizeof(r->refused));
		return CURL_SOCKET_BAD;
	}
	sts_fetch_sockaddr_str(&ss, r->last_addr, sizeof(r->last_addr));
	fd = socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
	return fd == -1 ? CURL_SOCKET_BAD : fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the loop forgets fd before it is closed
 * (the fetcher, not the fetch: libcurl may close a connection late). */
static int
sts_fetch_closesocket_cb(void *clientp, curl_socket_t fd)
{
	struct sts_fetcher	*f = clientp;

	event_del(f->loop, fd);
	return close(fd);
}

/* ---- the policy host's certificate (rule 6) ---- */

/* The chain libcurl reports, leaf first, as one PEM text; 0 when there
 * is none (no handshake yet, or a reused session). */
static int
sts_fetch_chain_pem(struct sts_fetch *r, struct buf *pem)
{
	struct curl_certinfo	*ci = NULL;
	struct curl_slist	*s;
	int			 i, n = 0;

	if (curl.easy_getinfo(r->easy, CURLINFO_CERTINFO, &ci) != CURLE_OK ||
	    ci == NULL)
		return 0;
	for (i = 0; i < ci->num_of_certs; i++) {
		for (s = ci->certinfo[i]; s != NULL; s = s->next) {
			if (strncmp(s->data, "Cert:", 5) != 0)
				continue;
			buf_addstr(pem, s->data + 5);
			buf_addch(pem, '\n');
			n++;
			break;
		}
	}
	return n;
}

/* 1: judged (r->cert_ok, res.cert and maybe r->fail set); 0: no chain
 * available yet. */
static int
sts_fetch_cert_check(struct sts_fetch *r)
{
	struct buf		 pem;
	struct tls_chain	 chain = { 0 };
	struct tls_verdict	 v;
	const char		*names[1] = { r->host };
	char			 err[256];

	buf_init(&pem);
	if (sts_fetch_chain_pem(r, &pem) == 0) {
		buf_free(&pem);
		return 0;
	}
	r->cert_checked = 1;
	if (tls_chain_from_pem(&chain, (const uint8_t *)pem.data, pem.len,
	    err, sizeof(err)) == -1) {
		bsnprintf(r->res.cert, sizeof(r->res.cert), "unreadable "
		    "chain: %s", err);
	} else if (tls_verify_chain(&chain, names, 1, time(NULL),
	    r->f->anchors, &v) == TLS_VERIFY_OK) {
		r->cert_ok = 1;
		strlcpy(r->res.cert, v.reason, sizeof(r->res.cert));
	} else
		strlcpy(r->res.cert, v.reason, sizeof(r->res.cert));
	if (!r->cert_ok && r->fail[0] == '\0')
		bsnprintf(r->fail, sizeof(r->fail), "certificate: %s",
		    r->res.cert);
	tls_chain_free(&chain);
	buf_free(&pem);
	return 1;
}

/* ---- the answer (rules 7 to 9) ---- */

static void
sts_fetch_set_fail(struct sts_fetch *r, const char *what)
{
	if (r->fail[0] == '\0')
		strlcpy(r->fail, what, sizeof(r->fail));
}

/* text/plain, case ignored, parameters after ';' ignored (rule 8). */
static int
sts_fetch_type_ok(const char *t)
{
	size_t	n = strcspn(t, ";");

	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	return n == 10 && strncasecmp(t, "text/plain", 10) == 0;
}

/* The value of one header field, printable ASCII, blanks at both ends
 * dropped. */
static void
sts_fetch_header_value(const char *v, size_t n, char *out, size_t outlen)
{
	size_t	i, o = 0;

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	for (i = 0; i < n && o + 1 < outlen; i++)
		out[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	out[o] = '\0';
}

/* The final response's header is complete: certificate first, then
 * status, then media type.  0 stops the transfer before its body. */
static int
sts_fetch_headers_end(struct sts_fetch *r)
{
	char	what[256];
	long	status = 0;

	r->headers_done = 1;
	if (!r->cert_checked)
		(void)sts_fetch_cert_check(r);
	if (r->cert_checked && !r->cert_ok)
		return 0;
	(void)curl.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	r->res.status = status;
	if (status != 200) {
		if (status >= 300 && status < 400)
			bsnprintf(what, sizeof(what), "redirect (HTTP status "
			    "%ld) not followed", status);
		else
			bsnprintf(what, sizeof(what), "HTTP status %ld", status);
		sts_fetch_set_fail(r, what);
		return 0;
	}
	if (r->ntype == 0) {
		sts_fetch_set_fail(r, "no Content-Type");
		return 0;
	}
	if (r->ntype > 1) {
		sts_fetch_set_fail(r, "more than one Content-Type");
		return 0;
	}
	if (!sts_fetch_type_ok(r->res.content_type)) {
		bsnprintf(what, sizeof(what), "media type \"%s\" is not "
		    "text/plain", r->res.content_type);
		sts_fetch_set_fail(r, what);
		return 0;
	}
	return 1;
}

static size_t
sts_fetch_header_cb(char *line, size_t size, size_t n, void *ud)
{
	struct sts_fetch	*r = ud;
	long			 status = 0;

	n *= size;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		r->ntype = 0;
		r->res.content_type[0] = '\0';
	} else if ((n == 2 && line[0] == '\r' && line[1] == '\n') ||
	    (n == 1 && line[0] == '\n')) {
		(void)curl.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
		    &status);
		if (status >= 100 && status < 200)
			return n;	/* an interim answer */
		return sts_fetch_headers_end(r) ? n : 0;
	} else if (n > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
		r->ntype++;
		sts_fetch_header_value(line + 13, n - 13,
		    r->res.content_type, sizeof(r->res.content_type));
	}
	return n;
}

/* The body: never kept past STS_BODY_MAX, also without Content-Length
 * (rule 9), and only after sts_fetch_headers_end said yes. */
static size_t
sts_fetch_write_cb(char *data, size_t size, size_t n, void *ud)
{
	struct sts_fetch	*r = ud;
	char			 what[64];

	n *= size;
	if (!r->headers_done || r->fail[0] != '\0')
		return 0;
	if (n > STS_BODY_MAX - r->len) {
		bsnprintf(what, sizeof(what), "body larger than %d bytes",
		    STS_BODY_MAX);
		sts_fetch_set_fail(r, what);
		return 0;
	}
	if (r->body == NULL)
		r->body = xmalloc(STS_BODY_MAX + 1);
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* ---- one fetch ---- */

static void
sts_fetch_link(struct sts_fetcher *f, struct sts_fetch *r)
{
	r->next = f->head;
	if (f->head != NULL)
		f->head->prev = r;
	f->head = r;
	f->nrunning++;
}

static void
sts_fetch_unlink(struct sts_fetcher *f, struct sts_fetch *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		f->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	f->nrunning--;
}

static void
sts_fetch_release(struct sts_fetcher *f, struct sts_fetch *r)
{
	if (r->fail_timer != NULL)
		event_timer_cancel(f->loop, r->fail_timer);
	if (r->easy != NULL) {
		curl.multi_remove_handle(f->multi, r->easy);
		curl.easy_cleanup(r->easy);
	}
	if (r->share != NULL)
		curl.share_cleanup(r->share);
	curl.slist_free_all(r->resolve);
	free(r->addrs);
	free(r->body);
	free(r);
}

/* "mta-sts.D:443:ADDR[,ADDR...]", IPv6 in brackets. */
static void
sts_fetch_resolve_entry(const struct sts_fetch *r, struct buf *b)
{
	char	a[INET6_ADDRSTRLEN];
	size_t	i;

	buf_printf(b, "%s:%d:", r->host, STS_FETCH_PORT);
	for (i = 0; i < r->naddrs; i++) {
		sts_fetch_addr_str(&r->addrs[i], a, sizeof(a));
		buf_printf(b, r->addrs[i].family == AF_INET6 ? "%s[%s]" :
		    "%s%s", i > 0 ? "," : "", a);
	}
}

#define STS_SETOPT(r, opt, val) do {					\
	if (curl.easy_setopt((r)->easy, (opt), (val)) != CURLE_OK)	\
		return #opt;						\
} while (0)

/* NULL, or the option libcurl refused. */
static const char *
sts_fetch_setup(struct sts_fetch *r, const char *url)
{
	struct curl_blob	 ca;

	ca.data = (void *)(uintptr_t)r->f->ca;
	ca.len = r->f->calen;
	ca.flags = CURL_BLOB_NOCOPY;
	STS_SETOPT(r, CURLOPT_URL, url);
	STS_SETOPT(r, CURLOPT_PRIVATE, r);
	STS_SETOPT(r, CURLOPT_ERRORBUFFER, r->errbuf);
	STS_SETOPT(r, CURLOPT_NOSIGNAL, 1L);
	STS_SETOPT(r, CURLOPT_PROTOCOLS_STR, "https");
	STS_SETOPT(r, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	STS_SETOPT(r, CURLOPT_FOLLOWLOCATION, 0L);
	STS_SETOPT(r, CURLOPT_MAXREDIRS, 0L);
	STS_SETOPT(r, CURLOPT_PROXY, "");
	STS_SETOPT(r, CURLOPT_NOPROXY, "*");
	STS_SETOPT(r, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	STS_SETOPT(r, CURLOPT_SHARE, r->share);
	STS_SETOPT(r, CURLOPT_RESOLVE, r->resolve);
	STS_SETOPT(r, CURLOPT_OPENSOCKETFUNCTION, sts_fetch_opensocket_cb);
	STS_SETOPT(r, CURLOPT_OPENSOCKETDATA, r);
	STS_SETOPT(r, CURLOPT_CLOSESOCKETFUNCTION, sts_fetch_closesocket_cb);
	STS_SETOPT(r, CURLOPT_CLOSESOCKETDATA, r->f);
	STS_SETOPT(r, CURLOPT_FRESH_CONNECT, 1L);
	STS_SETOPT(r, CURLOPT_FORBID_REUSE, 1L);
	STS_SETOPT(r, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	STS_SETOPT(r, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	STS_SETOPT(r, CURLOPT_SSL_VERIFYPEER, 1L);
	STS_SETOPT(r, CURLOPT_SSL_VERIFYHOST, 2L);
	STS_SETOPT(r, CURLOPT_CAINFO, NULL);
	STS_SETOPT(r, CURLOPT_CAPATH, NULL);
	STS_SETOPT(r, CURLOPT_CAINFO_BLOB, &ca);
	STS_SETOPT(r, CURLOPT_CERTINFO, 1L);
	STS_SETOPT(r, CURLOPT_TIMEOUT_MS, (long)r->timeout * 1000L);
	STS_SETOPT(r, CURLOPT_MAXFILESIZE, (long)STS_BODY_MAX);
	STS_SETOPT(r, CURLOPT_USERAGENT, "strictmail");
	STS_SETOPT(r, CURLOPT_HEADERFUNCTION, sts_fetch_header_cb);
	STS_SETOPT(r, CURLOPT_HEADERDATA, r);
	STS_SETOPT(r, CURLOPT_WRITEFUNCTION, sts_fetch_write_cb);
	STS_SETOPT(r, CURLOPT_WRITEDATA, r);
	return NULL;
}

/* A policy domain in A-labels: letters, digits, '-' and '.', one
 * trailing dot dropped; nothing that could reach into the RESOLVE entry
 * or the URL. */
static int
sts_fetch_host(struct sts_fetch *r, const char *domain)
{
	size_t	i, n = strlen(domain);

	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n + 8 > STS_HOST_MAX || domain[0] == '.')
		return -1;
	for (i = 0; i < n; i++) {
		char c = domain[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return -1;
		if (c == '.' && domain[i + 1] == '.')
			return -1;
	}
	bsnprintf(r->host, sizeof(r->host), "mta-sts.%.*s", (int)n, domain);
	return 0;
}

/* 0 with the transfer under way, or -1 with r->fail set. */
static int
sts_fetch_begin(struct sts_fetch *r, const char *domain)
{
	struct buf	 b;
	const char	*bad = "CURLOPT_RESOLVE";
	char		 url[STS_HOST_MAX + 64];

	if (sts_fetch_host(r, domain) == -1) {
		sts_fetch_set_fail(r, "not a domain name in A-labels");
		return -1;
	}
	if (r->naddrs == 0) {
		sts_fetch_set_fail(r, "no address for the policy host");
		return -1;
	}
	if ((r->easy = curl.easy_init()) == NULL ||
	    (r->share = curl.share_init()) == NULL ||
	    curl.share_setopt(r->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
		sts_fetch_set_fail(r, "libcurl: cannot make a handle");
		return -1;
	}
	buf_init(&b);
	sts_fetch_resolve_entry(r, &b);
	r->resolve = curl.slist_append(NULL, b.data);
	buf_free(&b);
	bsnprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt",
	    r->host);
	if (r->resolve == NULL || (bad = sts_fetch_setup(r, url)) != NULL) {
		bsnprintf(r->fail, sizeof(r->fail), "libcurl: option %s "
		    "refused", bad);
		return -1;
	}
	if (curl.multi_add_handle(r->f->multi, r->easy) != CURLM_OK) {
		curl.easy_cleanup(r->easy);
		r->easy = NULL;
		sts_fetch_set_fail(r, "libcurl: curl_multi_add_handle failed");
		return -1;
	}
	return 0;
}

/* The reason for a transfer libcurl ended with an error, when neither
 * the certificate, the header nor the body check gave one. */
static void
sts_fetch_curl_reason(struct sts_fetch *r, char *out, size_t outlen)
{
	const char	*detail = r->errbuf[0] ? r->errbuf :
			    curl.easy_strerror(r->code);
	long		 oserr = 0;

	switch (r->code) {
	case CURLE_OPERATION_TIMEDOUT:
		bsnprintf(out, outlen, "timeout after %u s", r->timeout);
		break;
	case CURLE_COULDNT_CONNECT:
		(void)curl.easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
		if (r->last_addr[0] == '\0' && r->refused[0] != '\0')
			bsnprintf(out, outlen, "connect to %s:443 refused: "
			    "not an address handed over", r->refused);
		else
			bsnprintf(out, outlen, "connect to %s%s%s:443 failed: %s",
			    strchr(r->last_addr, ':') ? "[" : "", r->last_addr,
			    strchr(r->last_addr, ':') ? "]" : "",
			    oserr ? strerror((int)oserr) : detail);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		bsnprintf(out, outlen, "certificate: %s", detail);
		strlcpy(r->res.cert, detail, sizeof(r->res.cert));
		break;
	case CURLE_FILESIZE_EXCEEDED:
		bsnprintf(out, outlen, "body larger than %d bytes",
		    STS_BODY_MAX);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		bsnprintf(out, outlen, "TLS handshake failed: %s", detail);
		break;
	default:
		bsnprintf(out, outlen, "%s", detail);
		break;
	}
}

/* Fills r->res once libcurl is done with r. */
static void
sts_fetch_result(struct sts_fetch *r)
{
	char	*ip = NULL;

	if (r->easy == NULL)
		goto failed;
	if (r->res.status == 0)
		(void)curl.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
		    &r->res.status);
	if (curl.easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip != NULL)
		strlcpy(r->res.addr, ip, sizeof(r->res.addr));
	/* A chain not judged yet is judged now: one libcurl refused after
	 * the handshake (the host name) gets the verifier's own reason, and
	 * one of a transfer that ended before its header did (too large,
	 * timeout) is reported too. */
	if (!r->cert_checked)
		(void)sts_fetch_cert_check(r);
	if (r->fail[0] == '\0' && r->code != CURLE_OK)
		sts_fetch_curl_reason(r, r->fail, sizeof(r->fail));
	if (r->fail[0] == '\0' && !r->cert_checked)
		sts_fetch_set_fail(r, "certificate: libcurl reported no chain");
	if (r->fail[0] == '\0' && !r->headers_done)
		sts_fetch_set_fail(r, "no complete answer");
	if (r->fail[0] == '\0' && r->cert_ok) {
		r->res.ok = 1;
		r->res.body = r->body != NULL ? r->body : "";
		r->res.len = r->len;
		return;
	}
failed:
	sts_fetch_set_fail(r, "failed");
	strlcpy(r->res.error, r->fail, sizeof(r->res.error));
	r->res.ok = 0;
	r->res.body = NULL;
	r->res.len = 0;
}

/* Out of the list, out of libcurl, its callback, gone. */
static void
sts_fetch_finish(struct sts_fetcher *f, struct sts_fetch *r)
{
	sts_fetch_unlink(f, r);
	sts_fetch_result(r);
	if (r->easy != NULL)
		curl.multi_remove_handle(f->multi, r->easy);
	r->cb(&r->res, r->arg);
	sts_fetch_release(f, r);
}

/* Every transfer libcurl has finished gets its callback.  A callback may
 * start or cancel fetches, so the list is walked again after each. */
static void
sts_fetch_collect(struct sts_fetcher *f)
{
	struct sts_fetch	*r;
	CURLMsg			*m;
	int			 left;

	while ((m = curl.multi_info_read(f->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		(void)curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		if (r != NULL) {
			r->done = 1;
			r->code = m->data.result;
		}
	}
again:
	for (r = f->head; r != NULL; r = r->next) {
		if (r->done) {
			sts_fetch_finish(f, r);
			goto again;
		}
	}
}

static void
sts_fetch_on_fail_timer(void *arg)
{
	struct sts_fetch	*r = arg;

	r->fail_timer = NULL;
	sts_fetch_finish(r->f, r);
}

struct sts_fetch *
sts_fetch_start(struct sts_fetcher *f, const char *domain,
    const struct dns_addr *addrs, size_t naddrs, unsigned timeout,
    sts_fetch_cb cb, void *arg)
{
	struct sts_fetch	*r;

	r = xcalloc(1, sizeof(*r));
	r->f = f;
	r->cb = cb;
	r->arg = arg;
	r->timeout = timeout > 0 ? timeout : 1;
	if (naddrs > 0) {
		r->addrs = xreallocarray(NULL, naddrs, sizeof(*addrs));
		memcpy(r->addrs, addrs, naddrs * sizeof(*addrs));
	}
	r->naddrs = naddrs;
	sts_fetch_link(f, r);
	if (sts_fetch_begin(r, domain) == -1)
		r->fail_timer = event_timer_add(f->loop, 0,
		    sts_fetch_on_fail_timer, r);
	return r;
}

void
sts_fetch_cancel(struct sts_fetcher *f, struct sts_fetch *r)
{
	sts_fetch_unlink(f, r);
	sts_fetch_release(f, r);
}

size_t
sts_fetch_running(const struct sts_fetcher *f)
{
	return f->nrunning;
}

/* ---- the fetcher ---- */

struct sts_fetcher *
sts_fetcher_new(struct event_loop *loop, const char *ca, size_t calen,
    const struct tls_trust *anchors, char *err, size_t errlen)
{
	struct sts_fetcher	*f;

	if (ca == NULL || calen == 0 || anchors == NULL) {
		bsnprintf(err, errlen, "no CA bundle for policy hosts");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->loop = loop;
	f->ca = ca;
	f->calen = calen;
	f->anchors = anchors;
	if ((f->multi = curl.multi_init()) == NULL ||
	    curl.multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
	    sts_fetch_socket_cb) != CURLM_OK ||
	    curl.multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
	    curl.multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
	    sts_fetch_timer_cb) != CURLM_OK ||
	    curl.multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK) {
		bsnprintf(err, errlen, "libcurl: cannot make a multi handle");
		if (f->multi != NULL)
			curl.multi_cleanup(f->multi);
		free(f);
		return NULL;
	}
	return f;
}

void
sts_fetcher_free(struct sts_fetcher *f)
{
	if (f == NULL)
		return;
	while (f->head != NULL)
		sts_fetch_cancel(f, f->head);
	curl.multi_cleanup(f->multi);
	if (f->timer != NULL)
		event_timer_cancel(f->loop, f->timer);
	free(f);
}
