/*
 * smtpload - the load client of make bench: one new connection per message
 * (greeting, EHLO, optionally STARTTLS, handshake and EHLO again, MAIL,
 * RCPT, DATA, one message of the given size, QUIT), SESSIONS of them at
 * once (one thread each), until COUNT messages were tried or the time
 * limit passed.  Every reply code is checked; a message counts as ok only
 * when its final "." got a 250.  It prints one line:
 *   smtpload ok=N failed=N seconds=S rate=R p50_ms=X p99_ms=Y sessions=N
 *     size=N tls=0|1 cpu_s=S resumed=N
 * where rate is ok messages per second, cpu_s the client's own CPU time
 * (user and system, all its threads), and the latencies are from the
 * end of the final "." (its last byte handed to the kernel) to the whole
 * 250 line read.  The first failure reasons go to stderr.
 *
 *   smtpload -a ADDR [-p PORT] [-s SESSIONS] [-n COUNT] [-d SECONDS]
 *            [-l SIZE] [-T [-R]] [-t TIMEOUT] [-H HELO] [-f SENDER] [-r RCPT]
 *     -a  the server's numeric IPv4 or IPv6 address (nothing is resolved)
 *     -p  its port (default 25)
 *     -s  sessions at once, 1 to 1000 (default 1)
 *     -n  messages to try in all, 0 to 10000000; 0: until -d (default 1000)
 *     -d  time limit in seconds, 1 to 3600: no message starts after it
 *         (default 60)
 *     -l  message size in bytes, headers included, up to 64 MiB
 *         (default 4096)
 *     -T  STARTTLS on every connection (TLS 1.2, mbedTLS's client)
 *     -R  with -T: each session offers the session ticket of its last
 *         handshake again, as a sending MTA with a TLS session cache does
 *         (resumed=N in the output: the handshakes the server resumed)
 *     -t  seconds allowed for one whole connection, 1 to 600 (default 30)
 *     -H  EHLO name (load.test), -f sender (sender@load.test), -r recipient
 *         (root@localhost)
 *
 * It is a load client, not a mail client: over STARTTLS it verifies no
 * certificate (common/tls.h's client never does; nothing is checked after
 * the handshake either).  It connects only to the numeric address given.
 * Exit status 0 when every message tried got its 250, 1 when one did not,
 * 2 on a usage or setup error.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tls.h"
#include "common/util.h"

#define LOAD_SESSIONS_MAX	1000
#define LOAD_COUNT_MAX		10000000
#define LOAD_SIZE_MAX		(64 * 1024 * 1024)
#define LOAD_DURATION_MAX	3600
#define LOAD_TIMEOUT_MAX	600
#define LOAD_REASONS		5
#define LOAD_RBUF		8192

struct load_opts {
	const char	*addr;
	const char	*port;
	const char	*helo;
	const char	*from;
	const char	*rcpt;
	uint64_t	 sessions;
	uint64_t	 count;		/* 0: only the time limit */
	uint64_t	 size;
	uint64_t	 duration;	/* seconds */
	uint64_t	 timeout;	/* seconds per message */
	int		 tls;
	int		 resume;
};

/* One connection: the socket, TLS once started, and unread reply bytes. */
struct load_conn {
	int			 fd;
	struct tls_conn		*tls;
	uint64_t		 deadline;	/* now_ms() */
	size_t			 rlen;
	char			 rbuf[LOAD_RBUF];
};

struct load_worker {
	pthread_t		 thread;
	struct tls_client_conf	*tconf;		/* one per thread: refs are not atomic */
	double			*lat;		/* ms, one per ok message */
	size_t			 nlat, caplat;
	uint64_t		 ok, failed;
	char			 reason[256];	/* the first failure */
	struct tls_session	*session;	/* -R: the last handshake's */
	uint64_t		 resumed;
};

static struct load_opts		 load_o;
static struct sockaddr_storage	 load_sa;
static socklen_t		 load_salen;
static char			*load_msg;	/* the message, ".\r\n" included */
static size_t			 load_msglen;
static uint64_t			 load_t0, load_stop;	/* now_ms() */
static atomic_ullong		 load_claimed;
static pthread_barrier_t	 load_barrier;

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload -a ADDR [-p PORT] [-s SESSIONS] "
	    "[-n COUNT] [-d SECONDS] [-l SIZE] [-T [-R]] [-t TIMEOUT]\n"
	    "                [-H HELO] [-f SENDER] [-r RECIPIENT]\n");
	exit(2);
}

static double
load_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- one connection ---- */

/* Waits until fd is ready for events or the message's deadline passes. */
static int
load_wait(struct load_conn *c, short events)
{
	struct pollfd	pfd = { .fd = c->fd, .events = events };
	uint64_t	now;
	int		n;

	for (;;) {
		now = now_ms();
		if (now >= c->deadline)
			return -1;
		n = poll(&pfd, 1, (int)(c->deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* TLS_WANT_* to a wait; anything else is left to the caller. */
static int
load_tls_wait(struct load_conn *c, ssize_t r)
{
	if (r == TLS_WANT_READ)
		return load_wait(c, POLLIN);
	if (r == TLS_WANT_WRITE)
		return load_wait(c, POLLOUT);
	return -1;
}

static int
load_send(struct load_conn *c, const char *buf, size_t len)
{
	ssize_t	r;

	while (len > 0) {
		if (c->tls != NULL) {
			r = tls_write(c->tls, buf, len);
			if (r < 0) {
				if (load_tls_wait(c, r) == -1)
					return -1;
				continue;
			}
		} else {
			r = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (r < 0) {
				if ((errno != EAGAIN && errno != EINTR) ||
				    load_wait(c, POLLOUT) == -1)
					return -1;
				continue;
			}
		}
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Reads more reply bytes; -1 on EOF, error or timeout. */
static int
load_fill(struct load_conn *c)
{
	ssize_t	r;

	if (c->rlen == sizeof(c->rbuf))
		return -1;
	for (;;) {
		if (c->tls != NULL) {
			r = tls_read(c->tls, c->rbuf + c->rlen,
			    sizeof(c->rbuf) - c->rlen);
			if (r < 0) {
				if (load_tls_wait(c, r) == -1)
					return -1;
				continue;
			}
		} else {
			r = recv(c->fd, c->rbuf + c->rlen,
			    sizeof(c->rbuf) - c->rlen, 0);
			if (r < 0) {
				if ((errno != EAGAIN && errno != EINTR) ||
				    load_wait(c, POLLIN) == -1)
					return -1;
				continue;
			}
		}
		if (r == 0)
			return -1;
		c->rlen += (size_t)r;
		return 0;
	}
}

/* One whole reply (every line of a multi-line one); its code, or -1. */
static int
load_reply(struct load_conn *c)
{
	char	*nl;
	size_t	 used;
	int	 code, last;

	for (;;) {
		nl = memchr(c->rbuf, '\n', c->rlen);
		if (nl == NULL) {
			if (load_fill(c) == -1)
				return -1;
			continue;
		}
		used = (size_t)(nl - c->rbuf) + 1;
		if (used < 5 || c->rbuf[0] < '2' || c->rbuf[0] > '5' ||
		    c->rbuf[1] < '0' || c->rbuf[1] > '9' ||
		    c->rbuf[2] < '0' || c->rbuf[2] > '9' ||
		    (c->rbuf[3] != ' ' && c->rbuf[3] != '-' && c->rbuf[3] != '\r'))
			return -1;
		code = (c->rbuf[0] - '0') * 100 + (c->rbuf[1] - '0') * 10 +
		    (c->rbuf[2] - '0');
		last = c->rbuf[3] != '-';
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		if (last)
			return code;
	}
}

static int
load_connect(struct load_conn *c)
{
	int	err = 0;
	socklen_t len = sizeof(err);

	c->fd = socket(load_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return -1;
	/* As a real client's TLS library would: a flight in one segment. */
	(void)fd_set_nodelay(c->fd);
	if (connect(c->fd, (struct sockaddr *)&load_sa, load_salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	if (load_wait(c, POLLOUT) == -1) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

static int
load_handshake(struct load_conn *c, struct load_worker *w)
{
	int	r;

	if (c->rlen != 0)	/* bytes after 220 would be injected */
		return -1;
	c->tls = tls_conn_client(w->tconf, c->fd, NULL);
	if (w->session != NULL)
		(void)tls_session_offer(c->tls, w->session);
	while ((r = tls_handshake(c->tls)) != 0) {
		if (load_tls_wait(c, r) == -1)
			return -1;
	}
	if (load_o.resume) {
		if (tls_resumed(c->tls))
			w->resumed++;
		tls_session_free(w->session);
		w->session = tls_session_get(c->tls);
	}
	return 0;
}

/* ---- one message ---- */

/* Sends cmd (when not NULL) and checks the reply's code. */
static int
load_step(struct load_conn *c, struct load_worker *w, const char *what,
    const char *cmd, int want)
{
	int	code;

	if (cmd != NULL && load_send(c, cmd, strlen(cmd)) == -1) {
		bsnprintf(w->reason, sizeof(w->reason), "%s: send failed", what);
		return -1;
	}
	code = load_reply(c);
	if (code != want) {
		bsnprintf(w->reason, sizeof(w->reason), "%s: %s %d",
		    what, code == -1 ? "no reply (closed, timeout or garbage)" :
		    "reply", code);
		return -1;
	}
	return 0;
}

static int
load_envelope(struct load_conn *c, struct load_worker *w)
{
	char	ehlo[300], mail[600], rcpt[600];

	bsnprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", load_o.helo);
	bsnprintf(mail, sizeof(mail), "MAIL FROM:<%s>\r\n", load_o.from);
	bsnprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>\r\n", load_o.rcpt);
	if (load_step(c, w, "greeting", NULL, 220) == -1 ||
	    load_step(c, w, "EHLO", ehlo, 250) == -1)
		return -1;
	if (load_o.tls) {
		if (load_step(c, w, "STARTTLS", "STARTTLS\r\n", 220) == -1)
			return -1;
		if (load_handshake(c, w) == -1) {
			bsnprintf(w->reason, sizeof(w->reason), "TLS handshake: %s",
			    c->tls != NULL ? tls_error(c->tls) : "bytes after 220");
			return -1;
		}
		if (load_step(c, w, "EHLO after STARTTLS", ehlo, 250) == -1)
			return -1;
	}
	if (load_step(c, w, "MAIL", mail, 250) == -1 ||
	    load_step(c, w, "RCPT", rcpt, 250) == -1 ||
	    load_step(c, w, "DATA", "DATA\r\n", 354) == -1)
		return -1;
	return 0;
}

static void
load_record(struct load_worker *w, double ms)
{
	if (w->nlat == w->caplat) {
		w->caplat = w->caplat ? w->caplat * 2 : 1024;
		w->lat = xreallocarray(w->lat, w->caplat, sizeof(*w->lat));
	}
	w->lat[w->nlat++] = ms;
}

/* One connection, one message; 0 when its "." got 250. */
static int
load_message(struct load_worker *w)
{
	struct load_conn	*c;
	double			 t;
	int			 ret = -1;

	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->deadline = now_ms() + load_o.timeout * 1000;
	if (load_connect(c) == -1) {
		bsnprintf(w->reason, sizeof(w->reason), "connect: %s",
		    strerror(errno));
		goto out;
	}
	if (load_envelope(c, w) == -1)
		goto out;
	if (load_send(c, load_msg, load_msglen) == -1) {
		bsnprintf(w->reason, sizeof(w->reason), "message: send failed");
		goto out;
	}
	t = load_now_us();
	if (load_step(c, w, "end of DATA", NULL, 250) == -1)
		goto out;
	load_record(w, (load_now_us() - t) / 1e3);
	ret = 0;
	/* The message is accepted: QUIT is courtesy, its reply not judged. */
	if (load_send(c, "QUIT\r\n", 6) == 0)
		(void)load_reply(c);
out:
	if (c->tls != NULL) {
		tls_close(c->tls);
		tls_conn_free(c->tls);
	}
	if (c->fd != -1)
		close(c->fd);
	free(c);
	return ret;
}

static void *
load_worker_run(void *arg)
{
	struct load_worker	*w = arg;
	char			 saved[sizeof(w->reason)] = "";

	pthread_barrier_wait(&load_barrier);
	for (;;) {
		if (now_ms() >= load_stop)
			break;
		if (load_o.count != 0 &&
		    atomic_fetch_add(&load_claimed, 1) >= load_o.count)
			break;
		if (load_message(w) == 0) {
			w->ok++;
		} else {
			w->failed++;
			if (saved[0] == '\0')
				strlcpy(saved, w->reason, sizeof(saved));
		}
	}
	strlcpy(w->reason, saved, sizeof(w->reason));
	return NULL;
}

/* ---- setup and summary ---- */

/* The message: a few headers, then lines of at most 78 characters
 * (none starting with ".") up to exactly size bytes, then ".\r\n". */
static void
load_make_message(void)
{
	char	hdr[1200], date[64];
	size_t	rem, l, i, n = 0, len;
	time_t	now = time(NULL);
	struct tm tm;

	/* RFC 5322 headers: OpenSMTPD and chasquid refuse a message
	 * without them. */
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
	    gmtime_r(&now, &tm));
	if (!bsnprintf(hdr, sizeof(hdr), "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: smtpload\r\nDate: %s\r\n\r\n", load_o.from,
	    load_o.rcpt, date))
		usage();
	len = strlen(hdr);
	if (load_o.size < (uint64_t)len + 2)
		usage();
	load_msg = xmalloc(load_o.size + 3);
	memcpy(load_msg, hdr, len);
	load_msglen = len;
	rem = load_o.size - load_msglen;
	while (rem >= 2) {
		l = rem - 2 < 78 ? rem - 2 : 78;
		if (rem - l - 2 == 1)
			l--;
		for (i = 0; i < l; i++)
			load_msg[load_msglen++] = (char)('a' + (n++ % 26));
		memcpy(load_msg + load_msglen, "\r\n", 2);
		load_msglen += 2;
		rem -= l + 2;
	}
	memcpy(load_msg + load_msglen, ".\r\n", 3);
	load_msglen += 3;
}

static void
load_resolve(void)
{
	struct addrinfo	 hints, *res;
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(load_o.addr, load_o.port, &hints, &res)) != 0) {
		fprintf(stderr, "smtpload: %s port %s: %s (a numeric address "
		    "is needed)\n", load_o.addr, load_o.port, gai_strerror(e));
		exit(2);
	}
	memcpy(&load_sa, res->ai_addr, res->ai_addrlen);
	load_salen = res->ai_addrlen;
	freeaddrinfo(res);
}

static uint64_t
load_num(const char *s, uint64_t min, uint64_t max, const char *what)
{
	uint64_t	v;

	if (parse_u64(s, min, max, &v) == -1) {
		fprintf(stderr, "smtpload: %s must be %llu to %llu: %s\n", what,
		    (unsigned long long)min, (unsigned long long)max, s);
		exit(2);
	}
	return v;
}

static void
load_options(int argc, char *argv[])
{
	int	ch;

	load_o = (struct load_opts){ .port = "25", .helo = "load.test",
	    .from = "sender@load.test", .rcpt = "root@localhost",
	    .sessions = 1, .count = 1000, .size = 4096, .duration = 60,
	    .timeout = 30 };
	while ((ch = getopt(argc, argv, "a:d:f:H:l:n:p:Rr:s:Tt:")) != -1) {
		switch (ch) {
		case 'a': load_o.addr = optarg; break;
		case 'd': load_o.duration = load_num(optarg, 1,
		    LOAD_DURATION_MAX, "-d"); break;
		case 'f': load_o.from = optarg; break;
		case 'H': load_o.helo = optarg; break;
		case 'l': load_o.size = load_num(optarg, 1, LOAD_SIZE_MAX,
		    "-l"); break;
		case 'n': load_o.count = load_num(optarg, 0, LOAD_COUNT_MAX,
		    "-n"); break;
		case 'p': load_o.port = optarg; break;
		case 'r': load_o.rcpt = optarg; break;
		case 's': load_o.sessions = load_num(optarg, 1,
		    LOAD_SESSIONS_MAX, "-s"); break;
		case 'T': load_o.tls = 1; break;
		case 'R': load_o.resume = 1; break;
		case 't': load_o.timeout = load_num(optarg, 1,
		    LOAD_TIMEOUT_MAX, "-t"); break;
		default: usage();
		}
	}
	if (optind != argc || load_o.addr == NULL || strlen(load_o.helo) > 255 ||
	    strlen(load_o.from) > 512 || strlen(load_o.rcpt) > 512)
		usage();
}

static int
load_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of them at or below. */
static double
load_pct(const double *v, size_t n, double p)
{
	size_t	k;

	if (n == 0)
		return 0;
	k = (size_t)(p * (double)n + 0.999999);
	return v[k == 0 ? 0 : k - 1];
}

static void
load_summary(struct load_worker *w, size_t nw, double secs)
{
	struct rusage	 ru;
	uint64_t	 ok = 0, failed = 0, resumed = 0;
	size_t		 i, n = 0, shown = 0;
	double		*all, cpu = 0;

	for (i = 0; i < nw; i++)
		n += w[i].nlat;
	all = xreallocarray(NULL, n ? n : 1, sizeof(*all));
	for (n = 0, i = 0; i < nw; i++) {
		ok += w[i].ok;
		resumed += w[i].resumed;
		failed += w[i].failed;
		if (w[i].nlat)
			memcpy(all + n, w[i].lat, w[i].nlat * sizeof(*all));
		n += w[i].nlat;
		if (w[i].reason[0] != '\0' && shown++ < LOAD_REASONS)
			fprintf(stderr, "smtpload: session %zu: %s\n", i,
			    w[i].reason);
	}
	qsort(all, n, sizeof(*all), load_cmp);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("smtpload ok=%llu failed=%llu seconds=%.3f rate=%.1f "
	    "p50_ms=%.2f p99_ms=%.2f sessions=%llu size=%llu tls=%d "
	    "cpu_s=%.3f resumed=%llu\n",
	    (unsigned long long)ok, (unsigned long long)failed, secs,
	    secs > 0 ? (double)ok / secs : 0, load_pct(all, n, 0.50),
	    load_pct(all, n, 0.99), (unsigned long long)load_o.sessions,
	    (unsigned long long)load_o.size, load_o.tls, cpu,
	    (unsigned long long)resumed);
	free(all);
	exit(failed == 0 && ok > 0 ? 0 : 1);
}

int
main(int argc, char *argv[])
{
	struct load_worker	*w;
	pthread_attr_t		 attr;
	size_t			 i, nw;
	double			 t0;

	load_options(argc, argv);
	load_resolve();
	load_make_message();
	nw = (size_t)load_o.sessions;
	w = xcalloc(nw, sizeof(*w));
	if (load_o.tls)
		tls_init();
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	pthread_barrier_init(&load_barrier, NULL, (unsigned)nw + 1);
	for (i = 0; i < nw; i++) {
		if (load_o.tls)
			w[i].tconf = tls_client_conf_new(TLS_CLIENT_STRICT);
		if (pthread_create(&w[i].thread, &attr, load_worker_run,
		    &w[i]) != 0) {
			fprintf(stderr, "smtpload: cannot start thread %zu\n", i);
			exit(2);
		}
	}
	load_t0 = now_ms();
	load_stop = load_t0 + load_o.duration * 1000;
	t0 = load_now_us();
	pthread_barrier_wait(&load_barrier);
	for (i = 0; i < nw; i++)
		pthread_join(w[i].thread, NULL);
	load_summary(w, nw, (load_now_us() - t0) / 1e6);
	return 0;
}
