/*
 * sts_fetchd.h - policy fetches in a process of their own, started when a
 * fetch is needed and gone when none has been asked for a while.
 *
 * libcurl and the two TLS libraries it brings (about 6.5 MiB of PSS once
 * loaded and initialised) are never mapped in the long-lived delivery
 * process.  Three roles, all forked from delivery before its chroot:
 *
 *   probe    (sts_fetchd_probe) loads libcurl once at start and exits, so
 *            that a missing or unusable libcurl stops delivery at start,
 *            with the reason, as it did when delivery loaded it itself.
 *   spawner  (sts_fetchd_spawner, "sm-sts-spawn") holds nothing but the
 *            CA bundle, its socket to delivery and the log pipe.  For each
 *            byte 'F' delivery writes, it makes a socketpair, forks a
 *            worker on one end and passes the other back (SCM_RIGHTS, with
 *            the byte 'W' and the worker's pid; 'E' and no descriptor
 *            when it could not).
 *            It exits when delivery's end closes.
 *   worker   ("sm-sts-fetch") loads libcurl, drops privileges as delivery
 *            does (the same user and chroot), and serves MSG_SF_FETCH and
 *            MSG_SF_CANCEL with sts_fetch.h's fetcher, answering
 *            MSG_SF_RESULT; MSG_SF_FAIL if it could not start.  It exits
 *            STS_FETCHD_IDLE_MS after its last fetch ended with nothing
 *            running, or when delivery's end closes.
 *
 * The client (delivery's side, struct sts_fetchc) has sts_fetch.h's
 * interface: sts.c does not know the difference.  A request the worker
 * did not answer because it exited (idle, at the moment the request was
 * sent) goes to the next worker; a request that met two exiting workers,
 * or waited STS_FETCHC_GRACE_S past its time-out, fails with the reason.
 * Every answer is checked as input from a less trusted process: a
 * malformed one closes that worker's channel and fails its requests.
 */
#ifndef SM_STS_FETCHD_H
#define SM_STS_FETCHD_H

#include <stddef.h>

struct event_loop;
struct dns_addr;
struct tls_trust;
struct sm_user;
struct sts_fetch_result;
struct sts_fetchc;
struct sts_fetchc_req;

#define STS_FETCHD_IDLE_MS	10000
#define STS_FETCHC_GRACE_S	10

/* Loads libcurl in a child that exits at once; 0, or -1 with the child's
 * reason (as sts_fetch_global_init gives it) in err. */
int sts_fetchd_probe(char *err, size_t errlen);

/*
 * Forks the spawner.  ca/calen and anchors: the policy hosts' CA bundle
 * and its parsed form (kept by the spawner's copy of memory).  u and
 * chroot_dir: what the workers drop to (privsep_drop; u NULL or not root:
 * no change).  Returns delivery's end of the spawner's socket, or -1 with
 * the reason in err.
 */
int sts_fetchd_spawner(const char *ca, size_t calen,
    const struct tls_trust *anchors, const struct sm_user *u,
    const char *chroot_dir, char *err, size_t errlen);

/* ---- the client, in delivery ---- */

typedef void (*sts_fetchc_cb)(const struct sts_fetch_result *res, void *arg);

/* Takes fd (sts_fetchd_spawner's); never NULL. */
struct sts_fetchc *sts_fetchc_new(struct event_loop *loop, int fd);
/* Every request still running is dropped without its callback. */
void sts_fetchc_free(struct sts_fetchc *c);
/* As sts_fetch_start: the callback runs exactly once, always later from
 * the event loop, unless sts_fetchc_cancel comes first. */
struct sts_fetchc_req *sts_fetchc_start(struct sts_fetchc *c,
    const char *domain, const struct dns_addr *addrs, size_t naddrs,
    unsigned timeout, sts_fetchc_cb cb, void *arg);
void sts_fetchc_cancel(struct sts_fetchc *c, struct sts_fetchc_req *r);

#endif
