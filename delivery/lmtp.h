/*
 * lmtp.h - the LMTP client (RFC 2033) of local delivery: hands a message
 * to an LMTP server (Dovecot's lmtp, Cyrus' lmtpd, ...) for several
 * recipients at once, and brings back one outcome per recipient.
 *
 * It runs in the short-lived local delivery child, alone, so it blocks:
 * every connect, write and read waits with poll(2) for at most the timeout
 * given.  No DNS: the server is "unix:/path" or "host:port" with host a
 * numeric IPv4 address, "[IPv6]" or "localhost" (127.0.0.1).
 *
 * The session: the 220 greeting, LHLO lm->hostname, MAIL FROM:<sender>
 * (with BODY=8BITMIME when the server offers 8BITMIME and the content has
 * an octet over 127), one RCPT TO:<rcpt> per recipient, DATA only when a
 * recipient was accepted, the content as queued (CRLF lines) dot-stuffed,
 * the final dot, then one reply per accepted recipient in the order of
 * their RCPTs (RFC 2033 4.2), QUIT.  Commands are sent one at a time.
 *
 * The content goes as it is: the client adds no Return-Path: or
 * Delivered-To: line (one copy of the content serves every recipient of
 * the transaction).  The LMTP server writes them.  Dovecot's lmtp (2.3)
 * adds Return-Path: <sender> and its own Received: line "from LHLO-NAME
 * by HOST with LMTP id ID (envelope-from <sender>); DATE" always, but
 * Delivered-To: <the RCPT address> and "for <rcpt>" in that Received:
 * line only when the transaction has exactly one accepted recipient (its
 * setting lmtp_hdr_delivery_address is "none" for a message with
 * several).  A
 * caller that wants Delivered-To: in every copy (loop detection by a
 * later hop) calls lmtp_deliver once per recipient (n = 1).
 *
 * Outcomes: a 2xx reply -> LOCAL_OK, 4xx -> LOCAL_TEMP, 5xx -> LOCAL_PERM,
 * with the server's enhanced status code (or X.0.0 when it gives none)
 * and the reply as one line in text.  A refused RCPT is that recipient's
 * outcome; a refused MAIL FROM or DATA is the outcome of every recipient
 * still without one.  A server that cannot be reached, a refused greeting
 * or LHLO (the server's setup, not the message), a lost connection, a
 * timeout, a protocol error and a failure to read the content are
 * LOCAL_TEMP for every recipient not yet answered (4.4.1 no connection,
 * 4.4.0 greeting or LHLO refused, 4.4.2 lost or timed out, 4.5.0
 * protocol error, 4.3.5 a bad server address or LHLO name, 4.3.0 a local
 * error).
 */
#ifndef SM_LMTP_H
#define SM_LMTP_H

#include <stddef.h>

#include "delivery/local.h"

/*
 * Delivers lm (content lm->fd of lm->size octets, read with pread from
 * offset 0; envelope sender lm->sender; LHLO name lm->hostname; lm->rcpt
 * is not used) over LMTP at spec to the n recipients rcpts[0 .. n)
 * (addresses without angle brackets, as the server knows its users).
 * timeout: seconds for each wait for the server (connecting, each write,
 * each reply); 0 means 300.  results[i] receives the outcome of rcpts[i];
 * every one is set.  Returns the number of recipients delivered
 * (LOCAL_OK).  A recipient or sender with a space, a control octet or an
 * angle bracket in it is LOCAL_PERM 5.1.3 / 5.1.7 without being sent.
 */
int lmtp_deliver(const char *spec, const struct local_msg *lm,
    const char *const *rcpts, size_t n, unsigned timeout,
    struct local_result *results);

#endif
