/*
 * stsprobe.h - one look at an MX the way MTA-STS enforce would see it,
 * for "strictmailctl sts check": connect, greeting, EHLO, STARTTLS,
 * a TLS 1.2 handshake with SNI, the certificate against the MX name
 * (common/tls.h's verifier), QUIT.  No mail is sent.  Driven by the
 * event loop; nothing blocks.
 */
#ifndef SM_STSPROBE_H
#define SM_STSPROBE_H

#include "common/dns.h"
#include "common/tls.h"

struct event_loop;
struct stsprobe;

struct stsprobe_result {
	int		 connected;
	int		 starttls;	/* offered in the EHLO answer */
	int		 handshake;	/* the TLS handshake completed */
	char		 tls[96];	/* "TLSv1.2/SUITE" after it */
	enum tls_verify_code code;	/* handshake: the verdict */
	/* What happened, for one line of output: "verified", the
	 * verdict's reason, "connect: ...", "no STARTTLS offered",
	 * "STARTTLS refused: 454 ...", "handshake failed: ...". */
	char		 text[TLS_REASON_MAX];
};

typedef void (*stsprobe_cb)(const struct stsprobe_result *r, void *arg);

/*
 * Probes host (the MX name, for SNI and the certificate) at addr:port.
 * conf: a strict client configuration (TLS 1.2 at least); anchors may be
 * NULL (every chain untrusted).  cb runs once, later, unless
 * stsprobe_cancel comes first.  helo: the EHLO name.
 */
struct stsprobe *stsprobe_start(struct event_loop *loop,
    struct tls_client_conf *conf, const struct tls_trust *anchors,
    const char *host, const struct dns_addr *addr, unsigned port,
    const char *helo, unsigned timeout, stsprobe_cb cb, void *arg);
void stsprobe_cancel(struct stsprobe *p);

#endif
