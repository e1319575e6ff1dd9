/*
 * stsprobe.c - an MX looked at as MTA-STS enforce would (stsprobe.h).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/event.h"
#include "common/util.h"
#include "delivery/smtpc_reply.h"
#include "delivery/stsprobe.h"

enum stsprobe_state {
	STSPROBE_CONNECT,
	STSPROBE_GREETING,
	STSPROBE_EHLO,
	STSPROBE_STARTTLS,
	STSPROBE_HANDSHAKE,
};

struct stsprobe {
	struct event_loop	*loop;
	struct tls_client_conf	*conf;
	const struct tls_trust	*anchors;
	char			 host[256];
	char			 helo[256];
	int			 fd;
	enum stsprobe_state	 state;
	struct tls_conn		*tls;
	struct smtpc_rparser	 rp;
	struct smtpc_reply	 reply;
	struct event_timer	*timer;
	struct stsprobe_result	 res;
	stsprobe_cb		 cb;
	void			*arg;
};

static void
stsprobe_free(struct stsprobe *p)
{
	if (p->timer != NULL)
		event_timer_cancel(p->loop, p->timer);
	if (p->fd != -1) {
		event_del(p->loop, p->fd);
		close(p->fd);
	}
	tls_conn_free(p->tls);
	free(p);
}

void
stsprobe_cancel(struct stsprobe *p)
{
	stsprobe_free(p);
}

static void
stsprobe_end(struct stsprobe *p)
{
	static const char quit[] = "QUIT\r\n";

	/* A polite QUIT, sent or not: nothing waits for its answer. */
	if (p->tls != NULL && p->res.handshake)
		(void)tls_write(p->tls, quit, sizeof(quit) - 1);
	else if (p->fd != -1 && p->state != STSPROBE_CONNECT)
		(void)write(p->fd, quit, sizeof(quit) - 1);
	if (p->tls != NULL)
		tls_close(p->tls);
	p->cb(&p->res, p->arg);
	stsprobe_free(p);
}

static void
stsprobe_fail(struct stsprobe *p, const char *fmt, const char *detail)
{
	(void)bsnprintf(p->res.text, sizeof(p->res.text), fmt, detail);
	stsprobe_end(p);
}

static void
stsprobe_timeout(void *arg)
{
	struct stsprobe	*p = arg;

	p->timer = NULL;
	stsprobe_fail(p, "%s", "timeout");
}

static int
stsprobe_send(struct stsprobe *p, const char *line)
{
	size_t	len = strlen(line);

	/* A command line fits in the socket buffer of a fresh session. */
	return write(p->fd, line, len) == (ssize_t)len ? 0 : -1;
}

/* The certificate of the session against the MX name (rule 21). */
static void
stsprobe_verify(struct stsprobe *p)
{
	struct tls_chain	chain;
	struct tls_verdict	v;
	const char		*names[1];

	p->res.handshake = 1;
	(void)bsnprintf(p->res.tls, sizeof(p->res.tls), "%s/%s",
	    tls_version(p->tls), tls_cipher(p->tls));
	memset(&chain, 0, sizeof(chain));
	if (p->anchors == NULL || tls_conn_peer_chain(p->tls, &chain) == -1) {
		p->res.code = TLS_VERIFY_UNTRUSTED;
		(void)strlcpy(p->res.text, p->anchors == NULL ? "untrusted "
		    "chain: no CA file" : "untrusted chain: no certificate",
		    sizeof(p->res.text));
		stsprobe_end(p);
		return;
	}
	names[0] = p->host;
	p->res.code = tls_verify_chain(&chain, names, 1, time(NULL),
	    p->anchors, &v);
	tls_chain_free(&chain);
	(void)strlcpy(p->res.text, v.reason, sizeof(p->res.text));
	stsprobe_end(p);
}

static void
stsprobe_handshake(struct stsprobe *p)
{
	int	rc = tls_handshake(p->tls);

	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		(void)event_mod(p->loop, p->fd, rc == TLS_WANT_READ ?
		    EV_READ : EV_WRITE);
		return;
	}
	if (rc != 0) {
		stsprobe_fail(p, "handshake failed: %s", tls_error(p->tls));
		return;
	}
	stsprobe_verify(p);
}

/* A whole reply in the state it answers: 0 to read on, 1 when the probe
 * ended or went on to TLS (p may be gone). */
static int
stsprobe_reply(struct stsprobe *p, const struct smtpc_reply *r)
{
	char	sum[SMTPC_SUMMARY_MAX], line[300];

	switch (p->state) {
	case STSPROBE_GREETING:
		if (r->code != 220) {
			stsprobe_fail(p, "greeting: %s", smtpc_reply_summary(r,
			    sum, sizeof(sum)));
			return 1;
		}
		(void)bsnprintf(line, sizeof(line), "EHLO %s\r\n", p->helo);
		p->state = STSPROBE_EHLO;
		break;
	case STSPROBE_EHLO:
		if (r->code != 250) {
			stsprobe_fail(p, "EHLO: %s", smtpc_reply_summary(r,
			    sum, sizeof(sum)));
			return 1;
		}
		p->res.starttls = strcasestr(r->text, "\nSTARTTLS") != NULL;
		if (!p->res.starttls) {
			stsprobe_fail(p, "%s", "no STARTTLS offered");
			return 1;
		}
		(void)strlcpy(line, "STARTTLS\r\n", sizeof(line));
		p->state = STSPROBE_STARTTLS;
		break;
	case STSPROBE_STARTTLS:
		if (r->code != 220) {
			stsprobe_fail(p, "STARTTLS refused: %s",
			    smtpc_reply_summary(r, sum, sizeof(sum)));
			return 1;
		}
		/* Rule 25: bytes after the 220 are never read as SMTP. */
		p->state = STSPROBE_HANDSHAKE;
		p->tls = tls_conn_client(p->conf, p->fd, p->host);
		stsprobe_handshake(p);
		return 1;
	default:
		return 1;
	}
	if (stsprobe_send(p, line) == -1) {
		stsprobe_fail(p, "write: %s", strerror(errno));
		return 1;
	}
	return 0;
}

static void
stsprobe_read(struct stsprobe *p)
{
	char			 buf[4096];
	ssize_t			 n;
	size_t			 used, off = 0;
	enum smtpc_rstatus	 st;

	n = read(p->fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		stsprobe_fail(p, "connection closed by the server%s", "");
		return;
	}
	while (off < (size_t)n) {
		st = smtpc_rparser_feed(&p->rp, buf + off, (size_t)n - off,
		    &used, &p->reply);
		off += used;
		if (st == SMTPC_RS_ERROR) {
			stsprobe_fail(p, "bad reply: %s", p->rp.error);
			return;
		}
		if (st != SMTPC_RS_REPLY)
			break;
		if (stsprobe_reply(p, &p->reply) != 0)
			return;		/* ended, or TLS from here on */
	}
}

static void
stsprobe_io(int fd, int events, void *arg)
{
	struct stsprobe	*p = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	(void)events;
	if (p->state == STSPROBE_CONNECT) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			stsprobe_fail(p, "connect: %s", strerror(err));
			return;
		}
		p->res.connected = 1;
		p->state = STSPROBE_GREETING;
		(void)event_mod(p->loop, fd, EV_READ);
		return;
	}
	if (p->state == STSPROBE_HANDSHAKE) {
		stsprobe_handshake(p);
		return;
	}
	stsprobe_read(p);
}

static int
stsprobe_connect(const struct dns_addr *addr, unsigned port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd;

	len = dns_addr_sockaddr(addr, port, &ss);
	fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
stsprobe_late(void *arg)
{
	struct stsprobe	*p = arg;

	p->timer = NULL;
	stsprobe_end(p);
}

struct stsprobe *
stsprobe_start(struct event_loop *loop, struct tls_client_conf *conf,
    const struct tls_trust *anchors, const char *host,
    const struct dns_addr *addr, unsigned port, const char *helo,
    unsigned timeout, stsprobe_cb cb, void *arg)
{
	struct stsprobe	*p;

	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->conf = conf;
	p->anchors = anchors;
	p->cb = cb;
	p->arg = arg;
	p->fd = -1;
	(void)strlcpy(p->host, host, sizeof(p->host));
	(void)strlcpy(p->helo, helo, sizeof(p->helo));
	smtpc_rparser_init(&p->rp);
	p->state = STSPROBE_CONNECT;
	p->timer = event_timer_add(loop, (uint64_t)timeout * 1000,
	    stsprobe_timeout, p);
	if ((p->fd = stsprobe_connect(addr, port)) == -1 ||
	    event_add(loop, p->fd, EV_WRITE, stsprobe_io, p) == -1) {
		/* The answer comes later, as always: from the timer. */
		(void)bsnprintf(p->res.text, sizeof(p->res.text),
		    "connect: %s", strerror(errno));
		if (p->fd != -1) {
			close(p->fd);
			p->fd = -1;
		}
		event_timer_cancel(loop, p->timer);
		p->timer = event_timer_add(loop, 0, stsprobe_late, p);
	}
	return p;
}
