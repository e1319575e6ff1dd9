/*
 * mxwalk.h - where mail for a domain goes (RFC 5321 5.1, RFC 7505), as
 * two pure functions with no I/O: the caller does the DNS queries
 * (common/dns.h) and passes the answers in, with this host's identity,
 * the settings and a random source (so tests are deterministic).
 *
 * Step 1, mxwalk_hosts: from the MX answer of domain D to the hosts to
 * try, or a verdict:
 *   NXDOMAIN                          fail  5.1.2 "domain D does not exist"
 *   null MX (one MX, preference 0, host ".")
 *                                     fail  5.1.10 "domain D accepts no mail (null MX)"
 *   NODATA (NOERROR, no MX)           D itself, the implicit MX (preference 0)
 *   SERVFAIL, REFUSED, time-out, error
 *                                     defer 4.4.3, never a fallback to A/AAAA
 *   MX records                        sorted by preference, random order among
 *                                     equal preferences, at most max_hosts
 * An MX naming this host (one of identity.names; case and a trailing dot
 * ignored) is dropped with every MX of equal or greater preference value
 * (RFC 5321 5.1); none left: fail 5.4.6 "mail for D loops back to
 * myself".  The implicit MX naming this host is the same loop.
 * MX data that is not a host name is unusable and dropped (listed in
 * skips): an IP address literal ("192.0.2.1", "[192.0.2.1]", "2001:db8::1";
 * RFC 5321 5.1 says the data MUST be a domain name, and like Exim by
 * default we do not connect to it), the root "." among other MXs (RFC 7505
 * says a null MX must stand alone), or a malformed name.  MX records
 * present but none usable: fail 5.4.4 "domain D has no usable MX".
 * An MX target that is a CNAME needs nothing here: the resolver follows
 * it when the caller asks for the target's addresses (RFC 5321 5.1 puts
 * it outside the standard; being lenient delivers the mail).  A CNAME at
 * D itself is followed by the resolver too ("processed as if it were the
 * initial name").
 *
 * Step 2, mxwalk_addrs: from the A/AAAA answers of each host kept to the
 * ordered addresses to connect to.  A host with an address of this host
 * (identity.addrs) is dropped with every host of equal or greater
 * preference value (the same loop rule; none left: 5.4.6).  Within each
 * host the addresses of the preferred family come first, each family in
 * random order; hosts keep their step-1 order; an address seen before is
 * not repeated; the unspecified addresses 0.0.0.0 and :: are never used;
 * at most max_addrs.  No address at all: defer 4.4.3 when some lookup
 * failed temporarily, else fail 5.4.4 ("no address for the MX hosts of
 * D", or for the implicit MX "domain D has no MX and no address").
 */
#ifndef SM_MXWALK_H
#define SM_MXWALK_H

#include <stddef.h>
#include <stdint.h>

#include "common/dns.h"

/* A uniform random 32-bit value; arg is the caller's state.  A NULL
 * function keeps equal choices in the order of the answers. */
typedef uint32_t (*mxwalk_rand_fn)(void *arg);

enum mxwalk_family {
	MXWALK_FAMILY_ANY,	/* both, mixed in one random order */
	MXWALK_PREFER_V6,
	MXWALK_PREFER_V4,
	MXWALK_ONLY_V4,		/* AAAA answers ignored (and not needed) */
	MXWALK_ONLY_V6,		/* A answers ignored */
};

struct mxwalk_settings {
	size_t			 max_hosts;	/* 0: no limit */
	size_t			 max_addrs;	/* 0: no limit */
	enum mxwalk_family	 family;
};

/* Who this host is, for the loop rule. */
struct mxwalk_identity {
	const char *const	*names;		/* host names, e.g. the HELO name */
	size_t			 nnames;
	const struct dns_addr	*addrs;		/* listener addresses */
	size_t			 naddrs;
};

enum mxwalk_verdict {
	MXWALK_GO,	/* hosts (step 1) or addresses (step 2) to try */
	MXWALK_DEFER,	/* temporary: try the message again later */
	MXWALK_FAIL,	/* permanent: bounce */
};

enum mxwalk_why {
	MXWALK_SKIP_LITERAL,	/* MX data is an IP address */
	MXWALK_SKIP_ROOT,	/* "." among other MXs */
	MXWALK_SKIP_BADNAME,	/* not a host name */
	MXWALK_SKIP_SELF,	/* this host, by name or address */
	MXWALK_SKIP_BEHIND_SELF,/* preference not better than this host's */
	MXWALK_SKIP_LIMIT,	/* beyond max_hosts */
	MXWALK_SKIP_NOADDR,	/* step 2: no usable address */
};

struct mxwalk_host {
	char		*name;		/* lower case, no trailing dot */
	unsigned	 pref;
	int		 implicit;	/* the domain itself, no MX */
};

struct mxwalk_skip {
	char		*name;
	unsigned	 pref;
	enum mxwalk_why	 why;
};

/* Step 1's result; free with mxwalk_hosts_free. */
struct mxwalk_hosts {
	enum mxwalk_verdict	 verdict;
	char			 status[8];	/* "5.1.2"; "" with MXWALK_GO */
	char			 text[384];	/* the reason, for logs and DSNs */
	struct mxwalk_host	*hosts;
	size_t			 nhosts;
	struct mxwalk_skip	*skips;
	size_t			 nskips;
};

/* Both steps fill out whatever the verdict and return out->verdict. */
enum mxwalk_verdict mxwalk_hosts(const char *domain, enum dns_status st,
    const struct dns_mx *mx, size_t nmx, const struct mxwalk_identity *id,
    const struct mxwalk_settings *set, mxwalk_rand_fn rnd, void *rndarg,
    struct mxwalk_hosts *out);
void mxwalk_hosts_free(struct mxwalk_hosts *h);

/* The address answers for hosts[i] of step 1, in the same order.  With
 * MXWALK_ONLY_V4 the v6 fields are ignored, and the other way round. */
struct mxwalk_answer {
	enum dns_status		 st4, st6;
	const struct dns_addr	*a4, *a6;
	size_t			 n4, n6;
};

struct mxwalk_target {
	const char	*host;		/* points into the step-1 result */
	unsigned	 pref;
	struct dns_addr	 addr;
};

/* Step 2's result; free with mxwalk_targets_free. */
struct mxwalk_targets {
	enum mxwalk_verdict	 verdict;
	char			 status[8];
	char			 text[384];
	struct mxwalk_target	*targets;
	size_t			 ntargets;
	struct mxwalk_skip	*skips;
	size_t			 nskips;
};

/* h must have verdict MXWALK_GO; ans has h->nhosts entries; h must
 * outlive out (out's host names point into it).  Skips of step 2 list
 * only what step 2 dropped. */
enum mxwalk_verdict mxwalk_addrs(const char *domain,
    const struct mxwalk_hosts *h, const struct mxwalk_answer *ans,
    const struct mxwalk_identity *id, const struct mxwalk_settings *set, mxwalk_rand_fn rnd, void *rndarg,
    struct mxwalk_targets *out);
void mxwalk_targets_free(struct mxwalk_targets *t);

/* "IP address literal", "root among other MXs", ...: for log lines. */
const char *mxwalk_why_str(enum mxwalk_why why);

#endif
