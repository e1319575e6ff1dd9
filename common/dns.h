/*
 * dns.h - asynchronous DNS lookups (c-ares 1.18) driven by the process's
 * event loop: MX, A, AAAA and TXT, each answered through a callback with
 * one status that tells the answers a mail client must tell apart.
 *
 * No call blocks and no thread is started: the resolver's sockets are
 * registered with the event loop and one loop timer follows ares_timeout.
 * Names are asked as given, never with the search list of resolv.conf
 * (mail domains are fully qualified), and never from /etc/hosts.
 *
 * The server list comes from the configuration (dns_config.servers) or
 * else from /etc/resolv.conf, read once in dns_new.  A process that
 * chroots must call dns_new BEFORE chroot: the file is not read again.
 */
#ifndef SM_DNS_H
#define SM_DNS_H

#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

struct event_loop;
struct dns;
struct dns_req;

enum dns_type {
	DNS_T_A,
	DNS_T_AAAA,
	DNS_T_MX,
	DNS_T_TXT,
};

/*
 * The outcome of one query.  c-ares 1.18 reports the reply code through
 * its status: NOERROR with answers is ARES_SUCCESS; NOERROR with no
 * answer, or with answers but none of the type asked (a CNAME alone), is
 * ARES_ENODATA; NXDOMAIN is ARES_ENOTFOUND; SERVFAIL and REFUSED are
 * ARES_ESERVFAIL and ARES_EREFUSED; no reply in time from any server is
 * ARES_ETIMEOUT.  By default c-ares 1.18 tries the next server after a
 * SERVFAIL or REFUSED and, once all said so, reports ARES_ECONNREFUSED,
 * losing the reply code: the resolver is set up with
 * ARES_FLAG_NOCHECKRESP, so the first SERVFAIL or REFUSED is the answer
 * (only a silent server makes c-ares move on to the next one).
 * Everything else (a malformed reply, FORMERR, NOTIMP, an ICMP-refused
 * port, a name that cannot be encoded, no memory) is DNS_ERROR, with the
 * c-ares status kept in dns_result.ares_status.
 */
enum dns_status {
	DNS_OK,		/* NOERROR, at least one record of the type asked */
	DNS_NODATA,	/* NOERROR, the name exists, no record of that type */
	DNS_NXDOMAIN,	/* the name does not exist */
	DNS_SERVFAIL,
	DNS_REFUSED,
	DNS_TIMEOUT,
	DNS_ERROR,
};

struct dns_mx {
	unsigned	 pref;
	char		*host;	/* as c-ares writes it; "" is the root (null MX) */
};

struct dns_addr {
	int		 family;	/* AF_INET or AF_INET6 */
	union {
		struct in_addr	v4;
		struct in6_addr	v6;
	}		 u;
};

/* One TXT record: its character-strings joined in order (RFC 7208 3.3,
 * RFC 8461 3.1); it may hold NUL octets, so len counts. */
struct dns_txt {
	char		*data;	/* NUL-terminated after len octets */
	size_t		 len;
};

/*
 * What a callback receives; valid only during the callback (copy what
 * is kept).  n counts the records of the array that fits the type: mx,
 * addr (A and AAAA) or txt.  n > 0 exactly when status is DNS_OK.  The
 * MX records are in the order of the reply (mxwalk sorts them).
 */
struct dns_result {
	enum dns_status		 status;
	int			 ares_status;	/* for logs: ares_strerror */
	enum dns_type		 type;
	const char		*name;		/* the name asked */
	size_t			 n;
	struct dns_mx		*mx;
	struct dns_addr		*addr;
	struct dns_txt		*txt;
};

typedef void (*dns_cb)(const struct dns_result *res, void *arg);

struct dns_config {
	/* NULL or "": the servers of /etc/resolv.conf.  Else a list as
	 * c-ares reads it: "192.0.2.1,[2001:db8::1]:53,127.0.0.1:5353". */
	const char	*servers;
	unsigned	 timeout_ms;	/* first try per server; 0: 5000 */
	unsigned	 tries;		/* rounds over the servers; 0: 2 */
};

/*
 * A resolver on loop.  NULL on failure, with the reason in err (a bad
 * server list, an unreadable resolv.conf is not one: c-ares then uses
 * 127.0.0.1).  Call before chroot.
 */
struct dns *dns_new(struct event_loop *loop, const struct dns_config *cfg,
    char *err, size_t errlen);

/*
 * Frees the resolver.  Every query still pending is dropped: no callback
 * runs once dns_free has begun.  Never call it from a dns callback
 * (fatalx: a programming error).
 */
void dns_free(struct dns *dns);

/*
 * Asks for the records of type at name.  The callback runs exactly once,
 * always later from the event loop (never inside dns_query, even when the
 * query fails at once), unless the query is cancelled first.  Returns a
 * handle valid until the callback returns or dns_cancel.  A callback may
 * start new queries and cancel others.
 */
struct dns_req *dns_query(struct dns *dns, const char *name,
    enum dns_type type, dns_cb cb, void *arg);

/* Its callback will not run.  req must be pending (not yet called back). */
void dns_cancel(struct dns *dns, struct dns_req *req);

/* Queries started and not yet called back or cancelled. */
size_t dns_pending(const struct dns *dns);

/* The socket address of a with port (network order made here); its
 * length. */
struct sockaddr_storage;
socklen_t dns_addr_sockaddr(const struct dns_addr *a, unsigned port,
    struct sockaddr_storage *ss);

/* "NOERROR", "NODATA", "NXDOMAIN", "SERVFAIL", "REFUSED", "timeout",
 * "error": for log lines and reasons. */
const char *dns_status_str(enum dns_status st);
const char *dns_type_str(enum dns_type type);

#endif
