/*
 * delivery.h - the delivery process: takes jobs from the queue
 * (MSG_D_JOB: one message, one recipient domain, a read-only descriptor
 * of the content) and answers each with exactly one MSG_D_RESULT that
 * gives every recipient of the job its outcome.  It never writes the
 * spool.
 *
 * Per job: the content's digest is checked against the one recorded at
 * commit (a mismatch: every recipient DRES_HOLD, nothing is sent); the
 * domain's MX records, then the A and AAAA records of its hosts, are
 * looked up with c-ares on the event loop (common/dns.h) and ordered by
 * delivery/mxwalk.h; the addresses are tried in that order, each with a
 * non-blocking connect (smtp-timeout-connect) and an SMTP client
 * session (delivery/smtpc.h) at the domain's tls-policy level, STARTTLS
 * through common/tls.h, the certificate checked by tls_verify_chain for
 * `verify` (the MX host name) and `secure` (the recipient domain).  At
 * `may` a failed handshake is retried once in plaintext on the same
 * address.  A failure of the host or its connection moves on to the next
 * address; a recipient's 4xx is deferred, its 5xx bounced.  One log line
 * per recipient per attempt; when a connection was used it ends with
 * conn=new or conn=reused.
 *
 * Connection reuse (delivery/conncache.h): a session back at READY after
 * its message is kept idle for smtp-reuse-idle seconds (0: never; QUIT
 * once it carried smtp-reuse-max messages), filed under its MX host
 * name, address, port, TLS level reached and verified name.  A job
 * first looks for an idle session that meets its own tls-policy at
 * each target, in MX-walk order, before it connects; RSET is sent when
 * a transaction was left open.  An idle session that the server closes
 * or speaks on (421) is dropped quietly; a reused session that fails
 * before its MAIL is accepted sends the job to the same target again,
 * on a new connection.  Idle sessions get QUIT when they expire and at
 * shutdown.  Limits: idle sessions do not count against max-deliveries
 * (the queue counts jobs, and a job never waits for an idle session, so
 * nothing can wait on them and deadlock); at most max-deliveries of
 * them are kept (the oldest gets QUIT to make room), so the process has
 * at most twice max-deliveries connections open.
 *
 * MTA-STS (sts/sts.h, ../shared/spec/mta-sts.md): while the MX query
 * runs, the domain's policy is asked for (unless mta-sts-disable names
 * the domain); the job waits for both, other jobs do not.  enforce:
 * MX hosts the policy does not list are dropped before their addresses
 * are looked up (every host dropped: deferred, "MTA-STS enforce: HOST is
 * not in the policy"); the level becomes at least verify (a secure line
 * stays); failures of STARTTLS, the handshake or the certificate defer
 * with a reason that starts "MTA-STS enforce: ".  testing: the same
 * checks, failures logged, mail delivered at the tls-policy level.
 * Each delivery line ends with sts=STATE (see strictmail.conf(5)).
 * strictmailctl's sts requests come from the control process on their
 * own channel and are answered here (delivery/stscheck.h; sts check
 * probes MXs with delivery/stsprobe.h).
 *
 * With relay-host set (delivery/relay.h) every job goes to the relay
 * host instead: no MX query, its A/AAAA (or its address), its port (465:
 * implicit TLS, else STARTTLS), level verify against its name whatever
 * tls-policy says, AUTH with the credentials of relay-auth-file, and any
 * failure there deferred.  A bare local sender is qualified with origin
 * for every job, and masquerade-sender applies to relayed ones.
 *
 * It reads /etc/resolv.conf (or dns-servers), the tls-ca-file and the
 * relay-auth-file (the credentials stay in this process) before it
 * chroots into <spool>/delivery as user-delivery; with -u (u NULL) there
 * is neither chroot nor user change.
 */
#ifndef SM_DELIVERY_H
#define SM_DELIVERY_H


struct config;
struct sm_user;

/* Runs the process (control_fd: the control process's sts-* requests);
 * returns its exit status. */
int delivery_main(struct config *cfg, int parent_fd, int queue_fd,
    int control_fd, const struct sm_user *u);

#endif
