/*
 * relay.h - mail through a relay host (strictmail.conf(5) relay-host):
 * the credentials file, the envelope sender as the relay sees it, and
 * where to connect.
 *
 * With relay-host set every remote recipient goes to that one host: no
 * MX lookup, the A and AAAA records of its name (or the IP address
 * written), TLS 1.2 or better with the chain and the relay's name
 * verified (465: implicit TLS; any other port: STARTTLS required), and
 * AUTH with the credentials of relay-auth-file when there is one.  Every
 * failure there is temporary.  tls-policy and MTA-STS are not consulted.
 *
 * The credentials file is read once, as root, before the delivery
 * process drops its privileges; the credentials stay in that process.
 */
#ifndef SM_RELAY_H
#define SM_RELAY_H

#include <stddef.h>

#include "common/dns.h"

struct config;
struct mxwalk_hosts;

/* The largest credentials file. */
#define RELAY_AUTH_FILE_MAX	4096

struct relay_auth {
	char	*user;		/* NULL = no credentials */
	char	*pass;
};

/*
 * Reads path: a regular file (no symbolic link) owned by root (by the
 * effective user when not running as root) and neither readable nor
 * writable by group or others; its one line that is not blank or a
 * '#' comment is "USER PASSWORD": the user name, blanks, then the
 * password up to the end of the line (trailing blanks and CR dropped;
 * it may hold blanks inside).  -1 with "PATH: what is wrong" in err,
 * and a is left empty.
 */
int relay_auth_load(const char *path, struct relay_auth *a, char *err,
    size_t errlen);
/* Zeroes and frees the credentials. */
void relay_auth_free(struct relay_auth *a);

/*
 * A bare local address ("root", no '@') qualified with origin
 * ("root@origin"); any other address, and the null sender "", as it is.
 * The caller frees the result.
 */
char *relay_qualify(const char *addr, const char *origin);

/*
 * masquerade-sender: the envelope sender as mail through the relay host
 * carries it.  A sender whose domain is a local-domain, the hostname or
 * the origin gets the masquerade domain instead ("alice@host.example.org"
 * becomes "alice@example.org"); every other sender, the null sender and
 * everything when masquerade-sender is not set stay as they are.  The
 * caller frees the result.
 */
char *relay_masquerade(const char *sender, const struct config *cfg);

/* 1 and *a if host is a numeric IPv4 or IPv6 address, else 0. */
int relay_literal(const char *host, struct dns_addr *a);

/* The one host to try: relay-host's name (a step-1 result of
 * delivery/mxwalk.h, verdict MXWALK_GO, free it with
 * mxwalk_hosts_free). */
void relay_hosts(const char *host, struct mxwalk_hosts *out);

#endif
