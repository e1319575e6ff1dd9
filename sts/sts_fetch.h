/*
 * sts_fetch.h - fetching https://mta-sts.<domain>/.well-known/mta-sts.txt
 * (RFC 8461 3.3; ../shared/spec/mta-sts.md rules 6 to 11) with libcurl's
 * multi interface, driven from the process's event loop (common/event.h):
 * no call blocks and no thread is started.
 *
 * libcurl never resolves a name: the caller resolved mta-sts.<domain>
 * with c-ares and hands the addresses over (CURLOPT_RESOLVE); an
 * open-socket callback refuses any address that was not handed over.
 * The CA bundle comes from memory (CURLOPT_CAINFO_BLOB, read before the
 * chroot).  Besides libcurl's own checks, the policy host's certificate
 * is checked by common/tls.h's verifier (chain, validity, and a
 * subject-alternative-name DNS entry for mta-sts.<domain>; never the CN).
 * Only https; no redirect followed; no proxy from the environment; no
 * HTTP cache; status 200 only; Content-Type text/plain (parameters and
 * case ignored; missing fails); a body over STS_BODY_MAX fails (the write
 * callback stops the transfer, also for chunked answers).
 */
#ifndef SM_STS_FETCH_H
#define SM_STS_FETCH_H

#include <stddef.h>

struct event_loop;
struct dns_addr;
struct tls_trust;
struct sts_fetcher;
struct sts_fetch;

struct sts_fetch_result {
	int		 ok;		/* 1: status 200, text/plain, size,
					 * certificate all good; body valid */
	long		 status;	/* HTTP status; 0 when none came */
	/* ok == 0: what failed, for logs and "strictmailctl sts show":
	 * "HTTP status 404", "redirect (HTTP status 301) not followed",
	 * "media type \"text/html\" is not text/plain",
	 * "no Content-Type", "body larger than 65536 bytes",
	 * "timeout after 30 s", "connect to 127.0.2.1:443 failed: ...",
	 * "certificate: name mismatch: wanted mta-sts.x.test ...",
	 * "certificate: untrusted chain: ...". */
	char		 error[256];
	char		 content_type[128];	/* as sent, "" if none */
	/* The policy host's certificate as common/tls.h judged it:
	 * "verified" or the reason; "" when no handshake was made. */
	char		 cert[256];
	char		 addr[64];	/* the address connected to, "" if none */
	const char	*body;		/* ok: len bytes (NUL added) */
	size_t		 len;
};

typedef void (*sts_fetch_cb)(const struct sts_fetch_result *res, void *arg);

/*
 * A fetcher on loop.  ca/calen: the CA bundle (PEM) for policy hosts,
 * handed to libcurl as a blob; anchors: the same bundle parsed, for the
 * certificate check (the caller keeps both alive while the fetcher
 * lives).  NULL with a reason in err (libcurl could not start, or it is
 * a build without the features needed: https, CAINFO_BLOB, certinfo).
 * Call sts_fetch_global_init once first, before chroot: it loads
 * libcurl.so.4 (dlopen; strictmail is not linked with it) and runs
 * curl_global_init; -1 with the reason in err (the library or one of its
 * functions is missing, or it lacks https or an OpenSSL backend).
 */
int sts_fetch_global_init(char *err, size_t errlen);
void sts_fetch_global_cleanup(void);
struct sts_fetcher *sts_fetcher_new(struct event_loop *loop,
    const char *ca, size_t calen, const struct tls_trust *anchors,
    char *err, size_t errlen);
/* Every fetch still running is dropped without its callback. */
void sts_fetcher_free(struct sts_fetcher *f);

/*
 * Starts the fetch of domain's policy (domain: the policy domain in
 * A-labels; the host is "mta-sts." domain, SNI and Host name it) from
 * one of the naddrs addresses (port 443, tried in order), for at most
 * timeout seconds.  The callback runs exactly once, always later from
 * the event loop, unless sts_fetch_cancel comes first.  The result is
 * valid only during the callback.
 */
struct sts_fetch *sts_fetch_start(struct sts_fetcher *f, const char *domain,
    const struct dns_addr *addrs, size_t naddrs, unsigned timeout,
    sts_fetch_cb cb, void *arg);
void sts_fetch_cancel(struct sts_fetcher *f, struct sts_fetch *r);
size_t sts_fetch_running(const struct sts_fetcher *f);

#endif
