/*
 * dns.c - c-ares 1.18 on the event loop.  c-ares tells us through its
 * socket-state callback which descriptors to watch; their events go to
 * ares_process_fd, and one loop timer, set again after every call into
 * c-ares, fires at ares_timeout for retransmissions and time-outs.
 *
 * Each query is a dns_req that c-ares holds until its callback.  A
 * cancelled request stays allocated until c-ares lets go of it (c-ares
 * 1.18 cannot cancel one query); a query that fails inside ares_query
 * is called back from a zero timer, so the caller never sees its
 * callback before dns_query has returned.
 */
#include <arpa/nameser.h>
#include <netdb.h>
#include <ares.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dns.h"
#include "event.h"
#include "util.h"

#define DNS_EDNS_SIZE	1232	/* the DNS flag day 2020 payload size */

struct dns_req {
	struct dns	*dns;
	char		*name;
	enum dns_type	 type;
	dns_cb		 cb;
	void		*arg;
	int		 cancelled;
	int		 submitting;	/* inside ares_query */
	int		 sync_done;	/* failed inside ares_query */
	int		 sync_status;
	struct event_timer *timer;	/* delivers a sync failure */
	struct dns_req	*prev, *next;
};

struct dns {
	struct event_loop	*loop;
	ares_channel		 channel;
	struct event_timer	*timer;
	int			*fds;		/* registered with the loop */
	size_t			 nfds, fdcap;
	struct dns_req		*reqs;		/* every live request */
	size_t			 pending;
	int			 depth;		/* inside a user callback */
	int			 destroying;
};

static void dns_timer_update(struct dns *);

/* ---- descriptors and the timer ---- */

static ssize_t
dns_fd_find(struct dns *dns, int fd)
{
	size_t	i;

	for (i = 0; i < dns->nfds; i++)
		if (dns->fds[i] == fd)
			return (ssize_t)i;
	return -1;
}

static void
dns_fd_event(int fd, int events, void *arg)
{
	struct dns	*dns = arg;
	ares_socket_t	 rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (events & (EV_READ | EV_ERROR))
		rfd = fd;
	if (events & EV_WRITE)
		wfd = fd;
	ares_process_fd(dns->channel, rfd, wfd);
	dns_timer_update(dns);
}

static void
dns_fd_forget(struct dns *dns, int fd)
{
	ssize_t	i;

	if ((i = dns_fd_find(dns, fd)) == -1)
		return;
	event_del(dns->loop, fd);
	dns->fds[i] = dns->fds[--dns->nfds];
}

/* c-ares: watch fd for these events, or (0, 0) no more (it closes fd). */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns	*dns = data;
	int		 ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	if (ev == 0) {
		dns_fd_forget(dns, fd);
		return;
	}
	if (dns_fd_find(dns, fd) != -1) {
		if (event_mod(dns->loop, fd, ev) == -1)
			log_warn("dns: event_mod");
		return;
	}
	if (event_add(dns->loop, fd, ev, dns_fd_event, dns) == -1) {
		/* The query times out instead. */
		log_warn("dns: event_add");
		return;
	}
	if (dns->nfds == dns->fdcap) {
		dns->fdcap = dns->fdcap ? dns->fdcap * 2 : 8;
		dns->fds = xreallocarray(dns->fds, dns->fdcap, sizeof(int));
	}
	dns->fds[dns->nfds++] = fd;
}

static void
dns_timer_fire(void *arg)
{
	struct dns	*dns = arg;

	dns->timer = NULL;
	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(dns);
}

static void
dns_timer_update(struct dns *dns)
{
	struct timeval	 tv, *tvp;
	uint64_t	 ms;

	if (dns->destroying)
		return;
	if (dns->timer != NULL) {
		event_timer_cancel(dns->loop, dns->timer);
		dns->timer = NULL;
	}
	if ((tvp = ares_timeout(dns->channel, NULL, &tv)) == NULL)
		return;
	ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
	dns->timer = event_timer_add(dns->loop, ms, dns_timer_fire, dns);
}

/* ---- results ---- */

static enum dns_status
dns_status_from_ares(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	default:
		return DNS_ERROR;
	}
}

static int
dns_parse_mx(const unsigned char *abuf, int alen, struct dns_result *res)
{
	struct ares_mx_reply	*head, *m;
	size_t			 n = 0;
	int			 st;

	if ((st = ares_parse_mx_reply(abuf, alen, &head)) != ARES_SUCCESS)
		return st;
	for (m = head; m != NULL; m = m->next)
		n++;
	res->mx = xcalloc(n ? n : 1, sizeof(*res->mx));
	for (m = head; m != NULL; m = m->next, res->n++) {
		res->mx[res->n].pref = m->priority;
		res->mx[res->n].host = xstrdup(m->host);
	}
	ares_free_data(head);
	return ARES_SUCCESS;
}

static int
dns_parse_addr(const unsigned char *abuf, int alen, struct dns_result *res)
{
	struct hostent	*he;
	size_t		 n = 0, len;
	int		 st, family;

	if (res->type == DNS_T_A) {
		st = ares_parse_a_reply(abuf, alen, &he, NULL, NULL);
		family = AF_INET;
		len = sizeof(struct in_addr);
	} else {
		st = ares_parse_aaaa_reply(abuf, alen, &he, NULL, NULL);
		family = AF_INET6;
		len = sizeof(struct in6_addr);
	}
	if (st != ARES_SUCCESS)
		return st;
	while (he->h_addr_list[n] != NULL)
		n++;
	res->addr = xcalloc(n ? n : 1, sizeof(*res->addr));
	for (; res->n < n; res->n++) {
		res->addr[res->n].family = family;
		memcpy(&res->addr[res->n].u, he->h_addr_list[res->n], len);
	}
	ares_free_hostent(he);
	return ARES_SUCCESS;
}

/* Appends one character-string to the record at txt. */
static void
dns_txt_append(struct dns_txt *txt, const unsigned char *s, size_t len)
{
	if (len > SIZE_MAX - txt->len - 1)
		fatalx("dns: TXT record too long");
	txt->data = xrealloc(txt->data, txt->len + len + 1);
	memcpy(txt->data + txt->len, s, len);
	txt->len += len;
	txt->data[txt->len] = '\0';
}

static int
dns_parse_txt(const unsigned char *abuf, int alen, struct dns_result *res)
{
	struct ares_txt_ext	*head, *t;
	size_t			 n = 0;
	int			 st;

	if ((st = ares_parse_txt_reply_ext(abuf, alen, &head)) != ARES_SUCCESS)
		return st;
	for (t = head; t != NULL; t = t->next)
		if (t->record_start || t == head)
			n++;
	res->txt = xcalloc(n ? n : 1, sizeof(*res->txt));
	for (t = head; t != NULL; t = t->next) {
		if (t->record_start || t == head) {
			res->txt[res->n].data = xstrdup("");
			res->n++;
		}
		dns_txt_append(&res->txt[res->n - 1], t->txt, t->length);
	}
	ares_free_data(head);
	return ARES_SUCCESS;
}

static void
dns_parse(const unsigned char *abuf, int alen, struct dns_result *res)
{
	int	st;

	switch (res->type) {
	case DNS_T_MX:
		st = dns_parse_mx(abuf, alen, res);
		break;
	case DNS_T_A:
	case DNS_T_AAAA:
		st = dns_parse_addr(abuf, alen, res);
		break;
	case DNS_T_TXT:
		st = dns_parse_txt(abuf, alen, res);
		break;
	default:
		fatalx("dns: bad type %d", (int)res->type);
	}
	if (st == ARES_SUCCESS && res->n == 0)
		st = ARES_ENODATA;
	res->ares_status = st;
	res->status = dns_status_from_ares(st);
}

static void
dns_result_clear(struct dns_result *res)
{
	size_t	i;

	for (i = 0; res->mx != NULL && i < res->n; i++)
		free(res->mx[i].host);
	for (i = 0; res->txt != NULL && i < res->n; i++)
		free(res->txt[i].data);
	free(res->mx);
	free(res->addr);
	free(res->txt);
}

/* ---- requests ---- */

static void
dns_req_free(struct dns_req *req)
{
	struct dns	*dns = req->dns;

	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		dns->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	free(req->name);
	free(req);
}

static void
dns_deliver(struct dns_req *req, int status, const unsigned char *abuf,
    int alen)
{
	struct dns		*dns = req->dns;
	struct dns_result	 res;

	memset(&res, 0, sizeof(res));
	res.type = req->type;
	res.name = req->name;
	res.ares_status = status;
	res.status = dns_status_from_ares(status);
	if (status == ARES_SUCCESS)
		dns_parse(abuf, alen, &res);
	dns->pending--;
	req->cancelled = 1;	/* dns_cancel from here is a bug */
	dns->depth++;
	req->cb(&res, req->arg);
	dns->depth--;
	dns_result_clear(&res);
	dns_req_free(req);
}

static void
dns_ares_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_req	*req = arg;

	(void)timeouts;
	if (req->dns->destroying || req->cancelled) {
		dns_req_free(req);
		return;
	}
	if (req->submitting) {
		req->sync_done = 1;
		req->sync_status = status;
		return;
	}
	dns_deliver(req, status, abuf, alen);
}

static void
dns_sync_fire(void *arg)
{
	struct dns_req	*req = arg;

	req->timer = NULL;
	dns_deliver(req, req->sync_status, NULL, 0);
}

static int
dns_ares_type(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return ns_t_a;
	case DNS_T_AAAA:
		return ns_t_aaaa;
	case DNS_T_MX:
		return ns_t_mx;
	case DNS_T_TXT:
		return ns_t_txt;
	}
	fatalx("dns: bad type %d", (int)type);
}

struct dns_req *
dns_query(struct dns *dns, const char *name, enum dns_type type, dns_cb cb,
    void *arg)
{
	struct dns_req	*req;

	req = xcalloc(1, sizeof(*req));
	req->dns = dns;
	req->name = xstrdup(name);
	req->type = type;
	req->cb = cb;
	req->arg = arg;
	req->next = dns->reqs;
	if (dns->reqs != NULL)
		dns->reqs->prev = req;
	dns->reqs = req;
	dns->pending++;
	req->submitting = 1;
	ares_query(dns->channel, name, ns_c_in, dns_ares_type(type),
	    dns_ares_cb, req);
	req->submitting = 0;
	if (req->sync_done)
		req->timer = event_timer_add(dns->loop, 0, dns_sync_fire, req);
	dns_timer_update(dns);
	return req;
}

void
dns_cancel(struct dns *dns, struct dns_req *req)
{
	if (req->cancelled)
		fatalx("dns: cancel of a request already done");
	req->cancelled = 1;
	dns->pending--;
	if (req->sync_done) {
		/* c-ares is done with it: only the timer holds it. */
		event_timer_cancel(dns->loop, req->timer);
		dns_req_free(req);
	}
}

size_t
dns_pending(const struct dns *dns)
{
	return dns->pending;
}

/* ---- the resolver ---- */

struct dns *
dns_new(struct event_loop *loop, const struct dns_config *cfg, char *err,
    size_t errlen)
{
	struct dns		*dns;
	struct ares_options	 opt;
	char			 lookups[] = "b";
	int			 st, mask;

	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		(void)bsnprintf(err, errlen, "c-ares: %s", ares_strerror(st));
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->loop = loop;
	memset(&opt, 0, sizeof(opt));
	/* NOCHECKRESP: c-ares 1.18 would otherwise try the next server
	 * after SERVFAIL or REFUSED and, once all said so, report
	 * ARES_ECONNREFUSED, losing the reply code. */
	opt.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
	opt.ednspsz = DNS_EDNS_SIZE;
	opt.timeout = cfg->timeout_ms ? (int)cfg->timeout_ms : 5000;
	opt.tries = cfg->tries ? (int)cfg->tries : 2;
	opt.lookups = lookups;
	opt.sock_state_cb = dns_sock_state;
	opt.sock_state_cb_data = dns;
	mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
	if ((st = ares_init_options(&dns->channel, &opt, mask)) != ARES_SUCCESS) {
		(void)bsnprintf(err, errlen, "c-ares: %s", ares_strerror(st));
		free(dns);
		ares_library_cleanup();
		return NULL;
	}
	if (cfg->servers != NULL && cfg->servers[0] != '\0' &&
	    (st = ares_set_servers_ports_csv(dns->channel, cfg->servers)) !=
	    ARES_SUCCESS) {
		(void)bsnprintf(err, errlen, "bad DNS server list \"%s\": %s",
		    cfg->servers, ares_strerror(st));
		dns->destroying = 1;
		dns_free(dns);
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns *dns)
{
	if (dns == NULL)
		return;
	if (dns->depth > 0)
		fatalx("dns_free from a dns callback");
	dns->destroying = 1;
	if (dns->timer != NULL)
		event_timer_cancel(dns->loop, dns->timer);
	/* Calls dns_ares_cb for every query c-ares holds: freed there. */
	ares_destroy(dns->channel);
	while (dns->reqs != NULL) {
		event_timer_cancel(dns->loop, dns->reqs->timer);
		dns_req_free(dns->reqs);
	}
	while (dns->nfds > 0)
		dns_fd_forget(dns, dns->fds[dns->nfds - 1]);
	free(dns->fds);
	free(dns);
	ares_library_cleanup();
}

const char *
dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "NOERROR";
	case DNS_NODATA:
		return "NODATA";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_REFUSED:
		return "REFUSED";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_ERROR:
		break;
	}
	return "error";
}

const char *
dns_type_str(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	}
	return "?";
}

socklen_t
dns_addr_sockaddr(const struct dns_addr *a, unsigned port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr = a->u.v4;
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	sin6->sin6_addr = a->u.v6;
	return sizeof(*sin6);
}
