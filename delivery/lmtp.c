/*
 * lmtp.c - the LMTP client of local delivery (RFC 2033); see lmtp.h.
 *
 * One blocking connection: lmtp_open connects, lmtp_write and lmtp_reply
 * wait with poll for at most the timeout each, the replies are read by the
 * SMTP client's reply reader (delivery/smtpc_reply.h).  A failure of the
 * connection is kept in the connection (c->failed) with its outcome, and
 * every step after it is a no-op, so lmtp_deliver reads as the session.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/lmtp.h"
#include "delivery/smtpc_reply.h"

#define LMTP_TIMEOUT_DEFAULT	300
#define LMTP_OUT_MAX		8192	/* content written in pieces of this */

/* Where each recipient stands. */
enum lmtp_rstate {
	LMTP_R_NONE = 0,	/* no reply yet */
	LMTP_R_ACCEPTED,	/* RCPT accepted, the final reply to come */
	LMTP_R_DONE,		/* its result is final */
};

struct lmtp_conn {
	int			 fd;
	unsigned		 timeout;	/* seconds per wait */
	struct smtpc_rparser	 rp;
	char			 in[4096];	/* read, not yet fed */
	size_t			 inoff, inlen;
	int			 failed;	/* no further I/O */
	struct local_result	 fail;		/* the outcome it gives */
};

/* ---------------------------------------------------------------- results */

static void
lmtp_result_set(struct local_result *res, enum local_status st,
    const char *enh, const char *text)
{
	res->status = st;
	(void)strlcpy(res->enh, enh, sizeof(res->enh));
	(void)strlcpy(res->text, text, sizeof(res->text));
}

/* The outcome a reply gives: 2xx OK, 4xx TEMP, 5xx PERM. */
static void
lmtp_result_reply(struct local_result *res, const struct smtpc_reply *r)
{
	enum local_status	 st;
	const char		*enh;
	char			 line[SMTPC_SUMMARY_MAX];

	if (r->code >= 200 && r->code < 300) {
		st = LOCAL_OK;
		enh = "2.0.0";
	} else if (r->code >= 500) {
		st = LOCAL_PERM;
		enh = "5.0.0";
	} else {
		st = LOCAL_TEMP;
		enh = "4.0.0";
	}
	if (r->enh[0] != '\0')
		enh = r->enh;
	lmtp_result_set(res, st, enh, smtpc_reply_summary(r, line, sizeof(line)));
}

/* The connection failed: the outcome of every step from now on. */
static void
lmtp_fail(struct lmtp_conn *c, const char *enh, const char *what,
    const char *detail)
{
	char	text[sizeof(c->fail.text)];

	if (c->failed)
		return;
	(void)bsnprintf(text, sizeof(text), "lmtp: %s%s%s", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	lmtp_result_set(&c->fail, LOCAL_TEMP, enh, text);
	c->failed = 1;
}

/* ---------------------------------------------------------------- I/O */

/* Waits for events on c->fd; 1 ready, 0 on a timeout or error (failed). */
static int
lmtp_wait(struct lmtp_conn *c, short events, const char *what)
{
	struct pollfd	pfd;
	uint64_t	end, now;
	int		n;

	end = now_ms() + (uint64_t)c->timeout * 1000;
	for (;;) {
		now = now_ms();
		if (now >= end) {
			lmtp_fail(c, "4.4.2", "timed out", what);
			return 0;
		}
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(end - now));
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR) {
			lmtp_fail(c, "4.3.0", "poll", strerror(errno));
			return 0;
		}
	}
}

static int
lmtp_write(struct lmtp_conn *c, const void *data, size_t len,
    const char *what)
{
	const char	*p = data;
	ssize_t		 w;

	while (len > 0 && !c->failed) {
		if (!lmtp_wait(c, POLLOUT, what))
			return -1;
		w = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			lmtp_fail(c, "4.4.2", "connection lost", strerror(errno));
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return c->failed ? -1 : 0;
}

/* Reads the next reply into *r; -1 when the connection failed. */
static int
lmtp_reply(struct lmtp_conn *c, struct smtpc_reply *r, const char *what)
{
	enum smtpc_rstatus	st;
	size_t			used;
	ssize_t			got;

	while (!c->failed) {
		if (c->inlen > 0) {
			st = smtpc_rparser_feed(&c->rp, c->in + c->inoff,
			    c->inlen, &used, r);
			c->inoff += used;
			c->inlen -= used;
			if (st == SMTPC_RS_REPLY)
				return 0;
			if (st == SMTPC_RS_ERROR) {
				lmtp_fail(c, "4.5.0", "protocol error",
				    c->rp.error);
				break;
			}
			continue;
		}
		if (!lmtp_wait(c, POLLIN, what))
			break;
		got = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (got <= 0) {
			lmtp_fail(c, "4.4.2", "connection lost",
			    got < 0 ? strerror(errno) : what);
			break;
		}
		c->inoff = 0;
		c->inlen = (size_t)got;
	}
	return -1;
}

/* Sends one command line (without CRLF) and reads its reply. */
static int
lmtp_command(struct lmtp_conn *c, const char *line, const char *what,
    struct smtpc_reply *r)
{
	if (lmtp_write(c, line, strlen(line), what) < 0 ||
	    lmtp_write(c, "\r\n", 2, what) < 0)
		return -1;
	return lmtp_reply(c, r, what);
}

/* ---------------------------------------------------------------- connect */

/* "unix:/path", "a.b.c.d:port", "[v6]:port", "localhost:port". */
static int
lmtp_parse_spec(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[64];
	const char		*colon, *h = spec;
	size_t			 hlen;
	uint64_t		 port;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		sun->sun_family = AF_UNIX;
		if (spec[5] != '/' || strlcpy(sun->sun_path, spec + 5,
		    sizeof(sun->sun_path)) >= sizeof(sun->sun_path))
			return -1;
		*sslen = sizeof(*sun);
		return 0;
	}
	if ((colon = strrchr(spec, ':')) == NULL ||
	    parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -1;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		h = spec + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		(void)strlcpy(host, "127.0.0.1", sizeof(host));
	if (h == spec && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		return 0;
	}
	if (h != spec && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* Connects without blocking longer than the timeout. */
static void
lmtp_open(struct lmtp_conn *c, const char *spec)
{
	struct sockaddr_storage	ss;
	socklen_t		sslen, elen;
	int			err = 0;

	if (lmtp_parse_spec(spec, &ss, &sslen) < 0) {
		lmtp_fail(c, "4.3.5", "bad server address (want unix:/path "
		    "or host:port with a numeric host)", spec);
		return;
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		lmtp_fail(c, "4.3.0", "socket", strerror(errno));
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, sslen) == 0)
		return;
	if (errno != EINPROGRESS && errno != EINTR) {
		err = errno;
	} else if (lmtp_wait(c, POLLOUT, spec)) {
		elen = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	} else {
		return;
	}
	if (err != 0) {
		char	what[300];

		(void)bsnprintf(what, sizeof(what), "connect to %s", spec);
		lmtp_fail(c, "4.4.1", what, strerror(err));
	}
}

/* ---------------------------------------------------------------- content */

/* 1 when the content has an octet over 127, 0 when not, -1 on an error. */
static int
lmtp_has_8bit(struct lmtp_conn *c, const struct local_msg *lm)
{
	unsigned char	buf[LMTP_OUT_MAX];
	uint64_t	off;
	ssize_t		got, i;

	for (off = 0; off < lm->size; off += (uint64_t)got) {
		got = pread(lm->fd, buf, sizeof(buf), (off_t)off);
		if (got <= 0) {
			lmtp_fail(c, "4.3.0", "reading the message",
			    got < 0 ? strerror(errno) : "shorter than queued");
			return -1;
		}
		for (i = 0; i < got; i++)
			if (buf[i] > 127)
				return 1;
	}
	return 0;
}

/* Adds one octet to the output, writing it out when full. */
static int
lmtp_put(struct lmtp_conn *c, char *out, size_t *olen, char ch)
{
	if (*olen == LMTP_OUT_MAX) {
		if (lmtp_write(c, out, *olen, "sending the message") < 0)
			return -1;
		*olen = 0;
	}
	out[(*olen)++] = ch;
	return 0;
}

/*
 * The content, a '.' doubled at the start of every line (RFC 5321
 * 4.5.2), a CRLF added when it does not end in one, then the final dot.
 */
static int
lmtp_send_content(struct lmtp_conn *c, const struct local_msg *lm)
{
	char		in[LMTP_OUT_MAX], out[LMTP_OUT_MAX];
	size_t		olen = 0;
	uint64_t	off;
	ssize_t		got, i;
	int		bol = 1;

	for (off = 0; off < lm->size; off += (uint64_t)got) {
		got = pread(lm->fd, in, sizeof(in), (off_t)off);
		if (got <= 0) {
			lmtp_fail(c, "4.3.0", "reading the message",
			    got < 0 ? strerror(errno) : "shorter than queued");
			return -1;
		}
		for (i = 0; i < got; i++) {
			if (bol && in[i] == '.' && lmtp_put(c, out, &olen, '.') < 0)
				return -1;
			if (lmtp_put(c, out, &olen, in[i]) < 0)
				return -1;
			bol = in[i] == '\n';
		}
	}
	if (!bol && (lmtp_put(c, out, &olen, '\r') < 0 ||
	    lmtp_put(c, out, &olen, '\n') < 0))
		return -1;
	if (lmtp_write(c, out, olen, "sending the message") < 0)
		return -1;
	return lmtp_write(c, ".\r\n", 3, "sending the message");
}

/* ---------------------------------------------------------------- session */

/* An address fit for "<...>": no control octet, space or angle bracket. */
static int
lmtp_addr_ok(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= ' ' || *a == 0x7f || *a == '<' ||
		    *a == '>')
			return 0;
	return 1;
}

/* Greeting and LHLO; *caps gets the extensions.  A refusal is the
 * server's setup, never the message's: temporary. */
static int
lmtp_hello(struct lmtp_conn *c, const char *hostname,
    struct smtpc_reply *r, struct smtpc_caps *caps)
{
	char	line[600], sum[SMTPC_SUMMARY_MAX];

	if (lmtp_reply(c, r, "waiting for the greeting") < 0)
		return -1;
	if (r->code != 220) {
		lmtp_fail(c, "4.4.0", "greeting refused",
		    smtpc_reply_summary(r, sum, sizeof(sum)));
		return -1;
	}
	if (!lmtp_addr_ok(hostname) || !bsnprintf(line, sizeof(line),
	    "LHLO %s", hostname)) {
		lmtp_fail(c, "4.3.5", "host name not usable in LHLO", NULL);
		return -1;
	}
	if (lmtp_command(c, line, "LHLO", r) < 0)
		return -1;
	if (r->code / 100 != 2) {
		lmtp_fail(c, "4.4.0", "LHLO refused",
		    smtpc_reply_summary(r, sum, sizeof(sum)));
		return -1;
	}
	smtpc_caps_parse(r, caps);
	return 0;
}

/* MAIL FROM; 0 when accepted, else every result is set. */
static int
lmtp_mail(struct lmtp_conn *c, const struct local_msg *lm,
    const struct smtpc_caps *caps, struct smtpc_reply *r,
    struct local_result *results, enum lmtp_rstate *rs, size_t n)
{
	char	line[1100];
	int	eight = 0;
	size_t	i;

	if ((caps->flags & SMTPC_CAP_8BITMIME) != 0 &&
	    (eight = lmtp_has_8bit(c, lm)) < 0)
		return -1;
	if (!lmtp_addr_ok(lm->sender) || !bsnprintf(line, sizeof(line),
	    "MAIL FROM:<%s>%s", lm->sender, eight ? " BODY=8BITMIME" : "")) {
		for (i = 0; i < n; i++) {
			lmtp_result_set(&results[i], LOCAL_PERM, "5.1.7",
			    "lmtp: sender address not usable in MAIL FROM");
			rs[i] = LMTP_R_DONE;
		}
		return -1;
	}
	if (lmtp_command(c, line, "MAIL FROM", r) < 0)
		return -1;
	if (r->code / 100 == 2)
		return 0;
	for (i = 0; i < n; i++) {
		lmtp_result_reply(&results[i], r);
		rs[i] = LMTP_R_DONE;
	}
	return -1;
}

/* One RCPT per recipient.  Returns how many were accepted, -1 when the
 * connection failed. */
static int
lmtp_rcpts(struct lmtp_conn *c, const char *const *rcpts, size_t n,
    struct smtpc_reply *r, struct local_result *results,
    enum lmtp_rstate *rs)
{
	char	line[1100];
	size_t	i;
	int	nacc = 0;

	for (i = 0; i < n; i++) {
		if (!lmtp_addr_ok(rcpts[i]) || !bsnprintf(line, sizeof(line),
		    "RCPT TO:<%s>", rcpts[i])) {
			lmtp_result_set(&results[i], LOCAL_PERM, "5.1.3",
			    "lmtp: recipient address not usable in RCPT TO");
			rs[i] = LMTP_R_DONE;
			continue;
		}
		if (lmtp_command(c, line, "RCPT TO", r) < 0)
			return -1;
		if (r->code / 100 == 2) {
			/* Its result comes after the message. */
			rs[i] = LMTP_R_ACCEPTED;
			nacc++;
		} else {
			lmtp_result_reply(&results[i], r);
			rs[i] = LMTP_R_DONE;
		}
	}
	return nacc;
}

/* DATA, the content, one reply per accepted recipient in order. */
static void
lmtp_data(struct lmtp_conn *c, const struct local_msg *lm, size_t n,
    struct smtpc_reply *r, struct local_result *results,
    enum lmtp_rstate *rs)
{
	size_t	i;
	int	go;

	if (lmtp_command(c, "DATA", "DATA", r) < 0)
		return;
	go = r->code == 354;
	if (go && lmtp_send_content(c, lm) < 0)
		return;
	for (i = 0; i < n; i++) {
		if (rs[i] != LMTP_R_ACCEPTED)
			continue;
		/* A refused DATA is the outcome of every one of them. */
		if (go && lmtp_reply(c, r,
		    "waiting for the reply to the message") < 0)
			return;
		lmtp_result_reply(&results[i], r);
		rs[i] = LMTP_R_DONE;
	}
}

static void
lmtp_quit(struct lmtp_conn *c, struct smtpc_reply *r)
{
	unsigned	t = c->timeout;

	/* Whatever happens now changes no outcome: a short wait. */
	c->timeout = t < 10 ? t : 10;
	if (!c->failed)
		(void)lmtp_command(c, "QUIT", "QUIT", r);
	c->timeout = t;
}

int
lmtp_deliver(const char *spec, const struct local_msg *lm,
    const char *const *rcpts, size_t n, unsigned timeout,
    struct local_result *results)
{
	struct lmtp_conn	 c;
	struct smtpc_reply	 r;
	struct smtpc_caps	 caps;
	enum lmtp_rstate	*rs;
	int			 ok = 0;
	size_t			 i;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.timeout = timeout != 0 ? timeout : LMTP_TIMEOUT_DEFAULT;
	smtpc_rparser_init(&c.rp);
	rs = xcalloc(n + 1, sizeof(*rs));

	lmtp_open(&c, spec);
	if (!c.failed && lmtp_hello(&c, lm->hostname, &r, &caps) == 0 &&
	    lmtp_mail(&c, lm, &caps, &r, results, rs, n) == 0 &&
	    lmtp_rcpts(&c, rcpts, n, &r, results, rs) > 0)
		lmtp_data(&c, lm, n, &r, results, rs);
	lmtp_quit(&c, &r);

	/* Every recipient without a final reply of its own shares the
	 * failure of the connection. */
	for (i = 0; i < n; i++) {
		if (rs[i] != LMTP_R_DONE)
			results[i] = c.failed ? c.fail : (struct local_result){
			    LOCAL_TEMP, "4.3.0", "lmtp: no outcome" };
		if (results[i].status == LOCAL_OK)
			ok++;
	}
	if (c.fd >= 0)
		(void)close(c.fd);
	free(rs);
	return ok;
}
