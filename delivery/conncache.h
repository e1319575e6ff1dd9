/*
 * conncache.h - the idle SMTP connections of the delivery process, kept
 * for the next message to the same MX (connection reuse), and the rule
 * that says which message an idle connection may carry.
 *
 * A connection is filed under everything its security depends on: the
 * MX host name, the address and port it is connected to, the TLS level
 * it reached (none, encrypted without verification, verified) and, when
 * verified, the wanted name its certificate matched (the MX host name
 * at `verify`, the recipient domain or a configured name at `secure`).
 * A message takes a connection only when that connection meets the
 * message's own requirement (conncache_fits):
 *   none, may        any connection to the host, address and port
 *   encrypt          an encrypted one (verified or not)
 *   verify, secure   a verified one whose matched name is one of the
 *                    names this message wants (for verify: the MX host)
 * So a connection opened for a `may` domain, or an unverified one, never
 * carries a message for a `verify` or `secure` domain, even to the same
 * MX host and address; a verified one may carry a `may` message.
 *
 * The cache holds opaque pointers; it knows no socket and no clock
 * (delivery.c closes, times and counts the connections).  Entries are
 * kept newest first: conncache_take gives the most recently parked
 * connection that fits, conncache_oldest the one to close first.
 */
#ifndef SM_CONNCACHE_H
#define SM_CONNCACHE_H

#include <stddef.h>

#include "common/dns.h"

#define CONNCACHE_NAME_MAX	256

/* The TLS level a connection reached. */
enum conncache_tls {
	CONNCACHE_TLS_NONE = 0,		/* plaintext */
	CONNCACHE_TLS_ENCRYPTED,	/* TLS, certificate not verified */
	CONNCACHE_TLS_VERIFIED,		/* TLS, chain and a name verified */
};

/* What a message requires of a connection. */
enum conncache_need_level {
	CONNCACHE_NEED_ANY = 0,		/* tls-policy none or may */
	CONNCACHE_NEED_ENCRYPTED,	/* encrypt */
	CONNCACHE_NEED_VERIFIED,	/* verify, secure */
};

/* What an idle connection is filed under (copied by conncache_put). */
struct conncache_key {
	char			 host[CONNCACHE_NAME_MAX];  /* MX host name */
	struct dns_addr		 addr;
	unsigned		 port;
	enum conncache_tls	 tls;
	/* CONNCACHE_TLS_VERIFIED: the wanted name the certificate matched;
	 * else "". */
	char			 verified[CONNCACHE_NAME_MAX];
};

/* The requirement of one message at one target. */
struct conncache_need {
	const char		*host;		/* the MX host name */
	struct dns_addr		 addr;
	unsigned		 port;
	enum conncache_need_level level;
	/* NEED_VERIFIED: the names a certificate may match (the MX host at
	 * verify; the domain or the configured list at secure). */
	const char *const	*names;
	size_t			 nnames;
};

struct conncache_entry {
	struct conncache_key	 key;
	void			*conn;
};

struct conncache {
	struct conncache_entry	*e;		/* newest first */
	size_t			 n, cap;
};

void conncache_init(struct conncache *cc);
/* Frees the table only: the connections are the caller's. */
void conncache_free(struct conncache *cc);

/* 1 when a connection filed under k may carry a message that needs n:
 * the same host (ASCII case and one trailing dot ignored), address and
 * port, and a TLS level that meets n (see above). */
int conncache_fits(const struct conncache_key *k,
    const struct conncache_need *n);

/* Files conn (not NULL, not already filed) under k, as the newest. */
void conncache_put(struct conncache *cc, const struct conncache_key *k,
    void *conn);
/* The newest connection that fits n, taken out of the cache; NULL when
 * none does. */
void *conncache_take(struct conncache *cc, const struct conncache_need *n);
/* Takes conn out; 0, or -1 when it was not there. */
int conncache_remove(struct conncache *cc, const void *conn);
/* The oldest connection (still filed), or NULL when the cache is empty. */
void *conncache_oldest(const struct conncache *cc);
size_t conncache_count(const struct conncache *cc);

/* 1 if a and b name the same host: ASCII case and one trailing dot on
 * either side ignored. */
int conncache_same_name(const char *a, const char *b);

#endif
