/*
 * test_dns.c - unit tests of common/dns.c against a stand-in DNS server
 * in this process: a UDP socket on 127.0.0.1 (ephemeral port) on the same
 * event loop, answering crafted replies by name: an MX list, a null MX,
 * NXDOMAIN, SERVFAIL, REFUSED, silence (time-out), A, AAAA, NODATA, TXT
 * records of several strings, a CNAME'd MX target, a malformed reply,
 * and a truncated UDP reply asked again over TCP (same port).
 * Also: parallel and nested queries, cancelling, freeing with queries
 * pending, a query that fails inside c-ares, a bad server list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/dns.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#define T_A	1
#define T_CNAME	5
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

/* ---- the stand-in server ---- */

struct fake {
	struct event_loop *loop;
	int		 fd;		/* UDP */
	int		 lfd;		/* TCP listener, same port */
	int		 cfd;		/* one TCP connection, or -1 */
	unsigned char	 cbuf[1024];
	size_t		 clen;
	uint16_t	 port;
	int		 nqueries;
	int		 ntcp;
	int		 ntype[64];
	char		 lastname[256];
};

struct pkt {
	unsigned char	 b[1024];
	size_t		 len;
	uint16_t	 ancount;
};

static void
put8(struct pkt *p, unsigned v)
{
	assert_true(p->len < sizeof(p->b));
	p->b[p->len++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void
putbytes(struct pkt *p, const void *s, size_t n)
{
	assert_true(p->len + n <= sizeof(p->b));
	memcpy(p->b + p->len, s, n);
	p->len += n;
}

/* A dotted name as labels; "" or "." is the root. */
static void
putname(struct pkt *p, const char *name)
{
	const char	*dot;
	size_t		 n;

	while (*name != '\0' && strcmp(name, ".") != 0) {
		dot = strchr(name, '.');
		n = dot ? (size_t)(dot - name) : strlen(name);
		put8(p, (unsigned)n);
		putbytes(p, name, n);
		name += n + (dot != NULL);
	}
	put8(p, 0);
}

/* An answer record; owner NULL is the question's name (pointer 0xc00c). */
static size_t
rr_begin(struct pkt *p, const char *owner, unsigned type)
{
	if (owner == NULL)
		put16(p, 0xc00c);
	else
		putname(p, owner);
	put16(p, type);
	put16(p, 1);
	put32(p, 300);
	put16(p, 0);		/* rdlength, set by rr_end */
	p->ancount++;
	return p->len;
}

static void
rr_end(struct pkt *p, size_t start)
{
	size_t	n = p->len - start;

	p->b[start - 2] = (unsigned char)(n >> 8);
	p->b[start - 1] = (unsigned char)(n & 0xff);
}

static void
rr_mx(struct pkt *p, unsigned pref, const char *host)
{
	size_t	s = rr_begin(p, NULL, T_MX);

	put16(p, pref);
	putname(p, host);
	rr_end(p, s);
}

static void
rr_a(struct pkt *p, const char *owner, const char *ip)
{
	unsigned char	a[16];
	size_t		s;

	if (strchr(ip, ':') != NULL) {
		assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
		s = rr_begin(p, owner, T_AAAA);
		putbytes(p, a, 16);
	} else {
		assert_int_equal(inet_pton(AF_INET, ip, a), 1);
		s = rr_begin(p, owner, T_A);
		putbytes(p, a, 4);
	}
	rr_end(p, s);
}

static void
rr_cname(struct pkt *p, const char *target)
{
	size_t	s = rr_begin(p, NULL, T_CNAME);

	putname(p, target);
	rr_end(p, s);
}

/* One TXT record of the strings in the NULL-terminated list. */
static void
rr_txt(struct pkt *p, const char *const *strs)
{
	size_t	s = rr_begin(p, NULL, T_TXT);

	for (; *strs != NULL; strs++) {
		put8(p, (unsigned)strlen(*strs));
		putbytes(p, *strs, strlen(*strs));
	}
	rr_end(p, s);
}

/* Fills the answer section for (name, type); returns the rcode, or -1
 * to stay silent, -2 for a malformed reply. */
static int
fake_answer(const char *name, unsigned type, struct pkt *p)
{
	static const char *const txt1[] = { "v=STSv1; ", "id=20240101;", NULL };
	static const char *const txt2[] = { "other", NULL };

	if (strcmp(name, "nx.test") == 0)
		return 3;
	if (strcmp(name, "sf.test") == 0)
		return 2;
	if (strcmp(name, "ref.test") == 0)
		return 5;
	if (strcmp(name, "silent.test") == 0)
		return -1;
	if (strcmp(name, "bad.test") == 0)
		return -2;
	if (strcmp(name, "mx.test") == 0 && type == T_MX) {
		rr_mx(p, 10, "mx1.mx.test");
		rr_mx(p, 20, "mx2.mx.test");
		rr_mx(p, 10, "mx3.mx.test");
	} else if (strcmp(name, "nullmx.test") == 0 && type == T_MX) {
		rr_mx(p, 0, ".");
	} else if (strcmp(name, "cnamemx.test") == 0 && type == T_MX) {
		rr_mx(p, 10, "alias.test");
	} else if (strcmp(name, "cnameonly.test") == 0) {
		rr_cname(p, "target.test");
	} else if (strcmp(name, "alias.test") == 0 && type == T_A) {
		rr_cname(p, "target.test");
		rr_a(p, "target.test", "198.51.100.7");
	} else if (strcmp(name, "a.test") == 0 && type == T_A) {
		rr_a(p, NULL, "192.0.2.1");
		rr_a(p, NULL, "192.0.2.2");
	} else if (strcmp(name, "a.test") == 0 && type == T_AAAA) {
		rr_a(p, NULL, "2001:db8::25");
	} else if (strcmp(name, "txt.test") == 0 && type == T_TXT) {
		rr_txt(p, txt1);
		rr_txt(p, txt2);
	}
	return 0;
}

/* Reads the question: name (lower case, dotted) and type; returns the
 * offset after the question, or 0. */
static size_t
fake_question(const unsigned char *q, size_t len, char *name, size_t namesz,
    unsigned *type)
{
	size_t	off = 12, o = 0, n;

	name[0] = '\0';
	while (off < len && q[off] != 0) {
		n = q[off++];
		if (n > 63 || off + n > len || o + n + 2 > namesz)
			return 0;
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, q + off, n);
		o += n;
		off += n;
	}
	name[o] = '\0';
	if (off + 5 > len)
		return 0;
	*type = (unsigned)q[off + 1] << 8 | q[off + 2];
	return off + 5;
}

/* The reply to the query q in p; 0 to stay silent.  Over UDP "big.test"
 * is truncated (TC, no answer), over TCP it is a full MX list. */
static int
fake_reply(struct fake *f, const unsigned char *q, size_t n, int tcp,
    struct pkt *p)
{
	size_t		 qend;
	unsigned	 type = 0;
	int		 rcode;

	qend = fake_question(q, n, f->lastname, sizeof(f->lastname), &type);
	assert_true(qend > 0);
	str_lower(f->lastname);
	f->nqueries++;
	f->ntcp += tcp;
	f->ntype[type & 63]++;
	memset(p, 0, sizeof(*p));
	putbytes(p, q, 2);		/* id */
	put16(p, 0x8180);		/* QR RD RA, rcode below */
	put16(p, 1);
	put16(p, 0);			/* ancount, set below */
	put32(p, 0);
	putbytes(p, q + 12, qend - 12);
	if (strcmp(f->lastname, "big.test") == 0) {
		if (!tcp)
			p->b[2] |= 0x02;	/* TC */
		else
			(void)fake_answer("mx.test", type, p);
		rcode = 0;
	} else if ((rcode = fake_answer(f->lastname, type, p)) == -1)
		return 0;
	if (rcode == -2) {
		/* One answer announced, its record cut short. */
		p->ancount = 1;
		put16(p, 0xc00c);
		put16(p, type);
	} else
		p->b[3] |= (unsigned char)rcode;
	p->b[6] = (unsigned char)(p->ancount >> 8);
	p->b[7] = (unsigned char)(p->ancount & 0xff);
	return 1;
}

static void
fake_read(int fd, int events, void *arg)
{
	struct fake		*f = arg;
	unsigned char		 q[1024];
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof(from);
	struct pkt		 p;
	ssize_t			 n;

	(void)events;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	if (n < 12 || !fake_reply(f, q, (size_t)n, 0, &p))
		return;
	assert_true(sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from,
	    fromlen) == (ssize_t)p.len);
}

static void
fake_tcp_close(struct fake *f)
{
	event_del(f->loop, f->cfd);
	close(f->cfd);
	f->cfd = -1;
	f->clen = 0;
}

/* Length-prefixed queries in, length-prefixed replies out. */
static void
fake_tcp_read(int fd, int events, void *arg)
{
	struct fake	*f = arg;
	struct pkt	 p;
	unsigned char	 len[2];
	ssize_t		 n;
	size_t		 qlen;

	(void)events;
	n = read(fd, f->cbuf + f->clen, sizeof(f->cbuf) - f->clen);
	if (n <= 0) {
		fake_tcp_close(f);
		return;
	}
	f->clen += (size_t)n;
	while (f->clen >= 2 &&
	    f->clen >= 2 + (qlen = (size_t)f->cbuf[0] << 8 | f->cbuf[1])) {
		if (qlen >= 12 && fake_reply(f, f->cbuf + 2, qlen, 1, &p)) {
			len[0] = (unsigned char)(p.len >> 8);
			len[1] = (unsigned char)(p.len & 0xff);
			assert_int_equal(write_all(fd, len, 2), 0);
			assert_int_equal(write_all(fd, p.b, p.len), 0);
		}
		memmove(f->cbuf, f->cbuf + 2 + qlen, f->clen - 2 - qlen);
		f->clen -= 2 + qlen;
	}
}

static void
fake_accept(int fd, int events, void *arg)
{
	struct fake	*f = arg;
	int		 c;

	(void)events;
	if ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (f->cfd != -1)
		fake_tcp_close(f);
	f->cfd = c;
	assert_int_equal(event_add(f->loop, c, EV_READ, fake_tcp_read, f), 0);
}

static void
fake_start(struct event_loop *loop, struct fake *f)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	int			tries, one = 1;

	memset(f, 0, sizeof(*f));
	/* The UDP port the kernel picks may be taken for TCP (a connection
	 * of another program, or one in TIME_WAIT): then pick another. */
	for (tries = 0; tries < 50; tries++) {
		f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		assert_true(f->fd >= 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(f->fd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		len = sizeof(sin);
		assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sin,
		    &len), 0);
		f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		assert_true(f->lfd >= 0);
		assert_int_equal(setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR,
		    &one, sizeof(one)), 0);
		if (bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			break;
		close(f->lfd);
		close(f->fd);
	}
	assert_true(tries < 50);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(event_add(loop, f->fd, EV_READ, fake_read, f), 0);
	f->loop = loop;
	f->cfd = -1;
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(event_add(loop, f->lfd, EV_READ, fake_accept, f), 0);
}

static void
fake_stop(struct event_loop *loop, struct fake *f)
{
	if (f->cfd != -1)
		fake_tcp_close(f);
	event_del(loop, f->lfd);
	close(f->lfd);
	event_del(loop, f->fd);
	close(f->fd);
}

/* ---- the client side ---- */

#define GOT_MAX	8

struct got {
	int		 calls;
	enum dns_status	 status;
	int		 ares_status;
	enum dns_type	 type;
	char		 name[256];
	size_t		 n;
	unsigned	 pref[GOT_MAX];
	char		 host[GOT_MAX][256];
	char		 addr[GOT_MAX][INET6_ADDRSTRLEN];
	char		 txt[GOT_MAX][256];
	size_t		 txtlen[GOT_MAX];
};

struct world {
	struct event_loop	*loop;
	struct fake		 fake;
	struct dns		*dns;
	int			 want;		/* callbacks before stop */
	int			 done;
	int			 in_query;	/* inside dns_query */
	int			 early;		/* callback inside dns_query */
	struct got		 got[4];
};

static struct world	*W;

static void
world_timeout(void *arg)
{
	(void)arg;
	fail_msg("dns test timed out");
}

static void
world_init(struct world *w, unsigned timeout_ms)
{
	struct dns_config	cfg;
	char			servers[64], err[256];

	memset(w, 0, sizeof(*w));
	W = w;
	w->loop = event_loop_new();
	fake_start(w->loop, &w->fake);
	assert_true(bsnprintf(servers, sizeof(servers), "127.0.0.1:%u",
	    (unsigned)w->fake.port));
	memset(&cfg, 0, sizeof(cfg));
	cfg.servers = servers;
	cfg.timeout_ms = timeout_ms;
	cfg.tries = 1;
	w->dns = dns_new(w->loop, &cfg, err, sizeof(err));
	if (w->dns == NULL)
		fail_msg("dns_new: %s", err);
}

static void
world_run(struct world *w, int want)
{
	struct event_timer	*t;

	w->want = want;
	t = event_timer_add(w->loop, 5000, world_timeout, NULL);
	assert_int_equal(event_loop_run(w->loop), 0);
	event_timer_cancel(w->loop, t);
	assert_int_equal(w->done, want);
}

static void
world_end(struct world *w)
{
	dns_free(w->dns);
	fake_stop(w->loop, &w->fake);
	event_loop_free(w->loop);
	W = NULL;
}

static void
got_copy(struct got *g, const struct dns_result *res)
{
	size_t	i;

	g->calls++;
	g->status = res->status;
	g->ares_status = res->ares_status;
	g->type = res->type;
	assert_true(strlcpy(g->name, res->name, sizeof(g->name)) < sizeof(g->name));
	g->n = res->n;
	assert_int_equal(res->n > 0, res->status == DNS_OK);
	for (i = 0; i < res->n && i < GOT_MAX; i++) {
		if (res->mx != NULL) {
			g->pref[i] = res->mx[i].pref;
			(void)strlcpy(g->host[i], res->mx[i].host, 256);
		}
		if (res->addr != NULL)
			assert_non_null(inet_ntop(res->addr[i].family,
			    &res->addr[i].u, g->addr[i], sizeof(g->addr[i])));
		if (res->txt != NULL) {
			assert_true(res->txt[i].len < 256);
			memcpy(g->txt[i], res->txt[i].data, res->txt[i].len + 1);
			g->txtlen[i] = res->txt[i].len;
		}
	}
}

static void
got_cb(const struct dns_result *res, void *arg)
{
	struct got	*g = arg;

	if (W->in_query)
		W->early = 1;
	got_copy(g, res);
	if (++W->done == W->want)
		event_loop_stop(W->loop);
}

/* One query and its result in w->got[0]. */
static struct got *
ask(struct world *w, const char *name, enum dns_type type)
{
	memset(&w->got[0], 0, sizeof(w->got[0]));
	w->done = 0;
	w->in_query = 1;
	assert_non_null(dns_query(w->dns, name, type, got_cb, &w->got[0]));
	w->in_query = 0;
	world_run(w, 1);
	assert_int_equal(w->early, 0);
	assert_int_equal(w->got[0].calls, 1);
	assert_int_equal(dns_pending(w->dns), 0);
	return &w->got[0];
}

/* ---- tests ---- */

static void
test_mx_list(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "mx.test", DNS_T_MX);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->type, DNS_T_MX);
	assert_string_equal(g->name, "mx.test");
	assert_int_equal(g->n, 3);
	assert_int_equal(g->pref[0], 10);
	assert_string_equal(g->host[0], "mx1.mx.test");
	assert_int_equal(g->pref[1], 20);
	assert_string_equal(g->host[1], "mx2.mx.test");
	assert_int_equal(g->pref[2], 10);
	assert_string_equal(g->host[2], "mx3.mx.test");
	assert_int_equal(w.fake.ntype[T_MX], 1);
	world_end(&w);
}

/* A truncated UDP reply: asked again over TCP, answered in full. */
static void
test_truncated_tcp(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "big.test", DNS_T_MX);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->n, 3);
	assert_string_equal(g->host[1], "mx2.mx.test");
	assert_int_equal(w.fake.nqueries, 2);
	assert_int_equal(w.fake.ntcp, 1);
	world_end(&w);
}

static void
test_null_mx(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "nullmx.test", DNS_T_MX);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->pref[0], 0);
	assert_string_equal(g->host[0], "");
	world_end(&w);
}

static void
test_rcodes(void **state)
{
	static const struct {
		const char	*name;
		enum dns_status	 want;
	} cases[] = {
		{ "nx.test", DNS_NXDOMAIN },
		{ "sf.test", DNS_SERVFAIL },
		{ "ref.test", DNS_REFUSED },
		{ "bad.test", DNS_ERROR },
	};
	struct world	 w;
	struct got	*g;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		world_init(&w, 1000);
		g = ask(&w, cases[i].name, DNS_T_MX);
		if (g->status != cases[i].want)
			fail_msg("%s: wanted %s, got %s (%d)", cases[i].name,
			    dns_status_str(cases[i].want),
			    dns_status_str(g->status), g->ares_status);
		assert_int_equal(g->n, 0);
		/* One server, one try: asked once, nothing else asked. */
		assert_int_equal(w.fake.nqueries, 1);
		assert_int_equal(w.fake.ntype[T_MX], 1);
		world_end(&w);
	}
}

static void
test_timeout(void **state)
{
	struct world	 w;
	struct got	*g;
	uint64_t	 t0 = now_ms(), dt;

	(void)state;
	world_init(&w, 200);
	g = ask(&w, "silent.test", DNS_T_MX);
	dt = now_ms() - t0;
	assert_int_equal(g->status, DNS_TIMEOUT);
	assert_int_equal(w.fake.nqueries, 1);
	if (dt < 150 || dt > 3000)
		fail_msg("time-out after %llu ms, wanted about 200",
		    (unsigned long long)dt);
	world_end(&w);
}

static void
test_nodata(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "mx.test", DNS_T_A);	/* NOERROR, no answer */
	assert_int_equal(g->status, DNS_NODATA);
	g = ask(&w, "cnameonly.test", DNS_T_MX);	/* a CNAME, no MX */
	assert_int_equal(g->status, DNS_NODATA);
	assert_int_equal(g->n, 0);
	world_end(&w);
}

static void
test_a_aaaa(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "a.test", DNS_T_A);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->n, 2);
	assert_string_equal(g->addr[0], "192.0.2.1");
	assert_string_equal(g->addr[1], "192.0.2.2");
	g = ask(&w, "a.test", DNS_T_AAAA);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->addr[0], "2001:db8::25");
	world_end(&w);
}

static void
test_txt(void **state)
{
	struct world	 w;
	struct got	*g;

	(void)state;
	world_init(&w, 1000);
	g = ask(&w, "txt.test", DNS_T_TXT);
	assert_int_equal(g->status, DNS_OK);
	assert_int_equal(g->n, 2);
	assert_string_equal(g->txt[0], "v=STSv1; id=20240101;");
	assert_int_equal(g->txtlen[0], strlen("v=STSv1; id=20240101;"));
	assert_string_equal(g->txt[1], "other");
	world_end(&w);
}

/* The MX walk's pattern: the MX callback asks for its target's address;
 * the target is a CNAME, followed to its A record. */
static void
chain_mx_cb(const struct dns_result *res, void *arg)
{
	(void)arg;
	got_copy(&W->got[0], res);
	assert_int_equal(res->status, DNS_OK);
	assert_non_null(dns_query(W->dns, res->mx[0].host, DNS_T_A, got_cb,
	    &W->got[1]));
	assert_int_equal(dns_pending(W->dns), 1);
}

static void
test_cname_target(void **state)
{
	struct world	w;

	(void)state;
	world_init(&w, 1000);
	assert_non_null(dns_query(w.dns, "cnamemx.test", DNS_T_MX, chain_mx_cb,
	    NULL));
	world_run(&w, 1);
	assert_string_equal(w.got[0].host[0], "alias.test");
	assert_int_equal(w.got[1].status, DNS_OK);
	assert_string_equal(w.got[1].name, "alias.test");
	assert_int_equal(w.got[1].n, 1);
	assert_string_equal(w.got[1].addr[0], "198.51.100.7");
	world_end(&w);
}

static void
test_parallel_and_cancel(void **state)
{
	struct world	 w;
	struct dns_req	*slow;

	(void)state;
	world_init(&w, 300);
	slow = dns_query(w.dns, "silent.test", DNS_T_A, got_cb, &w.got[3]);
	assert_non_null(dns_query(w.dns, "mx.test", DNS_T_MX, got_cb, &w.got[0]));
	assert_non_null(dns_query(w.dns, "a.test", DNS_T_AAAA, got_cb, &w.got[1]));
	assert_non_null(dns_query(w.dns, "txt.test", DNS_T_TXT, got_cb, &w.got[2]));
	assert_int_equal(dns_pending(w.dns), 4);
	dns_cancel(w.dns, slow);
	assert_int_equal(dns_pending(w.dns), 3);
	world_run(&w, 3);
	assert_int_equal(w.got[0].n, 3);
	assert_string_equal(w.got[1].addr[0], "2001:db8::25");
	assert_int_equal(w.got[2].n, 2);
	/* The cancelled query's time-out passes without a callback. */
	assert_non_null(dns_query(w.dns, "nx.test", DNS_T_MX, got_cb, &w.got[0]));
	w.done = 0;
	world_run(&w, 1);
	assert_int_equal(w.got[3].calls, 0);
	world_end(&w);
}

static void
test_free_pending(void **state)
{
	struct world	w;

	(void)state;
	world_init(&w, 1000);
	assert_non_null(dns_query(w.dns, "silent.test", DNS_T_MX, got_cb,
	    &w.got[0]));
	assert_non_null(dns_query(w.dns, "silent.test", DNS_T_A, got_cb,
	    &w.got[1]));
	assert_int_equal(dns_pending(w.dns), 2);
	/* Freed with queries in flight: no callback, nothing leaks (ASan). */
	world_end(&w);
	assert_int_equal(w.got[0].calls + w.got[1].calls, 0);
}

static void
test_sync_failure(void **state)
{
	struct world	 w;
	struct got	*g;
	char		 name[300];

	(void)state;
	/* A label longer than 63 octets cannot be sent: c-ares fails the
	 * query inside ares_query; the callback still comes later. */
	memset(name, 'a', 100);
	(void)strlcpy(name + 100, ".test", sizeof(name) - 100);
	world_init(&w, 1000);
	g = ask(&w, name, DNS_T_MX);
	assert_int_equal(g->status, DNS_ERROR);
	assert_int_equal(w.fake.nqueries, 0);
	/* The same, cancelled before the loop runs. */
	dns_cancel(w.dns, dns_query(w.dns, name, DNS_T_MX, got_cb, &w.got[1]));
	assert_non_null(dns_query(w.dns, "a.test", DNS_T_A, got_cb, &w.got[2]));
	w.done = 0;
	world_run(&w, 1);
	assert_int_equal(w.got[1].calls, 0);
	world_end(&w);
}

static void
test_bad_servers(void **state)
{
	struct event_loop	*loop = event_loop_new();
	struct dns_config	 cfg;
	struct dns		*dns;
	char			 err[256] = "";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.servers = "not-an-address";
	dns = dns_new(loop, &cfg, err, sizeof(err));
	assert_null(dns);
	assert_non_null(strstr(err, "not-an-address"));
	/* resolv.conf (whatever it holds) is fine. */
	cfg.servers = NULL;
	dns = dns_new(loop, &cfg, err, sizeof(err));
	assert_non_null(dns);
	dns_free(dns);
	event_loop_free(loop);
}

static void
test_strings(void **state)
{
	(void)state;
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "NXDOMAIN");
	assert_string_equal(dns_status_str(DNS_NODATA), "NODATA");
	assert_string_equal(dns_status_str(DNS_TIMEOUT), "timeout");
	assert_string_equal(dns_type_str(DNS_T_AAAA), "AAAA");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_list),
		cmocka_unit_test(test_truncated_tcp),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_rcodes),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_nodata),
		cmocka_unit_test(test_a_aaaa),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_cname_target),
		cmocka_unit_test(test_parallel_and_cancel),
		cmocka_unit_test(test_free_pending),
		cmocka_unit_test(test_sync_failure),
		cmocka_unit_test(test_bad_servers),
		cmocka_unit_test(test_strings),
	};

	log_init("test_dns", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
