/*
 * sts-fetch-probe - fetches the MTA-STS policy of each domain given with
 * sts/sts_fetch.h, the way the delivery process does: mta-sts.<domain>
 * resolved by common/dns.h (A and AAAA), the addresses handed over, all
 * fetches at once on one event loop.  Prints one line per domain, in the
 * order given:
 *   DOMAIN ok|fail status=N type="..." cert="..." error="..." len=N addr="..."
 *
 *   sts-fetch-probe [-s SERVERS] [-a ADDR[,ADDR...]] [-t SECONDS] [-o DIR]
 *                   CAFILE DOMAIN...
 *     -s  DNS servers as c-ares reads them (default: /etc/resolv.conf)
 *     -a  hand these addresses over instead of resolving (every domain)
 *     -t  fetch time-out (default 30)
 *     -o  write each body fetched ok to DIR/DOMAIN, byte for byte
 * Exit status 0 when every domain got its line, 2 on a usage or setup
 * error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/tls.h"
#include "common/util.h"
#include "sts/sts_fetch.h"

#define PROBE_ADDR_MAX	16

struct probe;

struct probe_domain {
	struct probe		*p;
	const char		*name;
	char			 host[300];
	struct dns_req		*q4, *q6;
	struct dns_addr		 addrs[PROBE_ADDR_MAX];
	size_t			 naddrs;
	char			 dnserr[128];
	struct buf		 line;
	int			 finished;
};

struct probe {
	struct event_loop	*loop;
	struct dns		*dns;
	struct sts_fetcher	*fetcher;
	unsigned		 timeout;
	const char		*outdir;
	size_t			 n, left;
	struct probe_domain	*d;
};

static void
probe_usage(void)
{
	fprintf(stderr, "usage: sts-fetch-probe [-s SERVERS] [-a ADDR[,ADDR...]] "
	    "[-t SECONDS] [-o DIR] CAFILE DOMAIN...\n");
	exit(2);
}

static int
probe_read_file(const char *path, struct buf *b)
{
	char	chunk[8192];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
	close(fd);
	return n == 0 ? 0 : -1;
}

/* "a,b,c" into addrs; -1 on a bad address. */
static int
probe_parse_addrs(const char *s, struct dns_addr *addrs, size_t *n)
{
	char	*copy = xstrdup(s), *tok, *save = NULL;
	int	 rc = 0;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (*n == PROBE_ADDR_MAX) {
			rc = -1;
			break;
		}
		memset(&addrs[*n], 0, sizeof(addrs[*n]));
		if (inet_pton(AF_INET, tok, &addrs[*n].u.v4) == 1)
			addrs[*n].family = AF_INET;
		else if (inet_pton(AF_INET6, tok, &addrs[*n].u.v6) == 1)
			addrs[*n].family = AF_INET6;
		else {
			rc = -1;
			break;
		}
		(*n)++;
	}
	free(copy);
	return rc;
}

/* s inside double quotes, \" and \\ escaped, other bytes outside
 * printable ASCII as '?'. */
static void
probe_quote(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_addch(b, '\\');
		buf_addch(b, (*s < 0x20 || *s > 0x7e) ? '?' : *s);
	}
	buf_addch(b, '"');
}

/* The body into DIR/DOMAIN; a failure is said on the line. */
static void
probe_save(struct probe_domain *d, const struct sts_fetch_result *res)
{
	char	path[4096];
	int	fd;

	if (!bsnprintf(path, sizeof(path), "%s/%s", d->p->outdir, d->name) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		buf_addstr(&d->line, " saved=no");
		return;
	}
	buf_addstr(&d->line, write_all(fd, res->body, res->len) == 0 ?
	    " saved=yes" : " saved=no");
	close(fd);
}

static void
probe_done(struct probe_domain *d)
{
	d->finished = 1;
	if (--d->p->left == 0)
		event_loop_stop(d->p->loop);
}

static void
probe_fetch_cb(const struct sts_fetch_result *res, void *arg)
{
	struct probe_domain	*d = arg;
	struct buf		*b = &d->line;

	buf_printf(b, "%s %s status=%ld type=", d->name,
	    res->ok ? "ok" : "fail", res->status);
	probe_quote(b, res->content_type);
	buf_addstr(b, " cert=");
	probe_quote(b, res->cert);
	buf_addstr(b, " error=");
	probe_quote(b, res->error);
	buf_printf(b, " len=%zu addr=", res->len);
	probe_quote(b, res->addr);
	if (res->ok && d->p->outdir != NULL)
		probe_save(d, res);
	probe_done(d);
}

static void
probe_fetch(struct probe_domain *d)
{
	if (d->naddrs == 0) {
		buf_printf(&d->line, "%s fail status=0 type=\"\" cert=\"\" "
		    "error=\"DNS: %s\" len=0 addr=\"\"", d->name, d->dnserr);
		probe_done(d);
		return;
	}
	(void)sts_fetch_start(d->p->fetcher, d->name, d->addrs, d->naddrs,
	    d->p->timeout, probe_fetch_cb, d);
}

static void
probe_dns_cb(const struct dns_result *res, void *arg)
{
	struct probe_domain	*d = arg;
	size_t			 i;

	if (res->type == DNS_T_A)
		d->q4 = NULL;
	else
		d->q6 = NULL;
	for (i = 0; i < res->n && d->naddrs < PROBE_ADDR_MAX; i++)
		d->addrs[d->naddrs++] = res->addr[i];
	if (res->status != DNS_OK && res->status != DNS_NODATA)
		bsnprintf(d->dnserr, sizeof(d->dnserr), "%s %s: %s", d->host,
		    dns_type_str(res->type), dns_status_str(res->status));
	else if (d->dnserr[0] == '\0' && res->n == 0)
		bsnprintf(d->dnserr, sizeof(d->dnserr), "%s: no address",
		    d->host);
	if (d->q4 == NULL && d->q6 == NULL)
		probe_fetch(d);
}

int
main(int argc, char **argv)
{
	struct probe		 p;
	struct dns_config	 dc;
	struct tls_trust	*anchors;
	struct buf		 ca;
	struct dns_addr		 given[PROBE_ADDR_MAX];
	size_t			 ngiven = 0, i;
	const char		*servers = NULL, *addrs = NULL;
	char			 err[512];
	uint64_t		 t = 30;
	int			 c;

	memset(&p, 0, sizeof(p));
	while ((c = getopt(argc, argv, "a:o:s:t:")) != -1) {
		switch (c) {
		case 'a': addrs = optarg; break;
		case 'o': p.outdir = optarg; break;
		case 's': servers = optarg; break;
		case 't':
			if (parse_u64(optarg, 1, 3600, &t) == -1)
				probe_usage();
			break;
		default: probe_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		probe_usage();
	if (addrs != NULL && probe_parse_addrs(addrs, given, &ngiven) == -1) {
		fprintf(stderr, "sts-fetch-probe: bad address list %s\n", addrs);
		return 2;
	}
	buf_init(&ca);
	if (probe_read_file(argv[0], &ca) == -1) {
		fprintf(stderr, "sts-fetch-probe: %s: %s\n", argv[0],
		    strerror(errno));
		return 2;
	}
	if ((anchors = tls_trust_new((const uint8_t *)ca.data, ca.len,
	    argv[0], err, sizeof(err))) == NULL ||
	    sts_fetch_global_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "sts-fetch-probe: %s\n", err);
		return 2;
	}
	p.loop = event_loop_new();
	memset(&dc, 0, sizeof(dc));
	dc.servers = servers;
	dc.timeout_ms = 2000;
	if ((p.dns = dns_new(p.loop, &dc, err, sizeof(err))) == NULL ||
	    (p.fetcher = sts_fetcher_new(p.loop, ca.data, ca.len, anchors,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "sts-fetch-probe: %s\n", err);
		return 2;
	}
	p.timeout = (unsigned)t;
	p.n = p.left = (size_t)(argc - 1);
	p.d = xcalloc(p.n, sizeof(*p.d));
	for (i = 0; i < p.n; i++) {
		struct probe_domain *d = &p.d[i];

		d->p = &p;
		d->name = argv[i + 1];
		buf_init(&d->line);
		bsnprintf(d->host, sizeof(d->host), "mta-sts.%s", d->name);
		if (ngiven > 0) {
			memcpy(d->addrs, given, ngiven * sizeof(given[0]));
			d->naddrs = ngiven;
			probe_fetch(d);
			continue;
		}
		d->q4 = dns_query(p.dns, d->host, DNS_T_A, probe_dns_cb, d);
		d->q6 = dns_query(p.dns, d->host, DNS_T_AAAA, probe_dns_cb, d);
	}
	if (p.left > 0 && event_loop_run(p.loop) == -1) {
		fprintf(stderr, "sts-fetch-probe: event loop failed\n");
		return 2;
	}
	for (i = 0; i < p.n; i++) {
		printf("%s\n", p.d[i].line.data);
		buf_free(&p.d[i].line);
	}
	free(p.d);
	sts_fetcher_free(p.fetcher);
	dns_free(p.dns);
	event_loop_free(p.loop);
	sts_fetch_global_cleanup();
	tls_trust_free(anchors);
	buf_free(&ca);
	return 0;
}
