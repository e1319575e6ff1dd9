/*
 * test_smtpc.c - unit tests of the SMTP client session (delivery/smtpc.c)
 * with scripted server dialogues.
 *
 * Each dialogue gives the server's replies as the octets it would send
 * (read with the reply reader of smtpc_reply.h, as the driver does) and
 * checks, octet for octet, what the client writes in answer, the action
 * it asks for, the timeout of each wait, and every recipient's outcome:
 * EHLO and HELO, PIPELINING (one write for MAIL, RCPT and DATA),
 * partial and total refusal, SIZE, SMTPUTF8, DSN, 8BITMIME, the STARTTLS
 * step at each TLS level with the capabilities forgotten after the
 * handshake, BDAT, dot-stuffing across piece boundaries, 421, protocol
 * errors and time-outs; AUTH after TLS (PLAIN preferred, LOGIN, failures
 * temporary, none offered, never without TLS, implicit TLS).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/proto.h"
#include "delivery/smtpc.h"

#define HELO_NAME	"client.example.net"
#define EHLO_CMD	"EHLO " HELO_NAME "\r\n"

struct dlg {
	struct smtpc_settings	set;
	struct smtpc		c;
	struct smtpc_rparser	p;
	struct buf		out;
	enum smtpc_action	a;
};

static void
dlg_init(struct dlg *d, enum smtpc_tls_level level)
{
	memset(d, 0, sizeof(*d));
	smtpc_settings_default(&d->set);
	d->set.helo = HELO_NAME;
	d->set.tls = level;
	/* Distinct values, to see which one applies. */
	d->set.t_greeting = 11;
	d->set.t_mail = 12;
	d->set.t_rcpt = 13;
	d->set.t_data_init = 14;
	d->set.t_data_block = 15;
	d->set.t_data_final = 16;
	d->set.t_command = 17;
	d->set.t_tls = 18;
	smtpc_init(&d->c, &d->set);
	smtpc_rparser_init(&d->p);
	buf_init(&d->out);
}

static void
dlg_free(struct dlg *d)
{
	smtpc_free(&d->c);
	buf_free(&d->out);
}

/* What the client wrote since the last check. */
static void
dlg_sent(struct dlg *d, const char *want)
{
	assert_string_equal(d->out.data != NULL ? d->out.data : "", want);
	buf_reset(&d->out);
}

/* The server sends s: every reply in it goes to the session, in turn,
 * as long as the session waits for replies.  Returns the last action. */
static enum smtpc_action
dlg_server(struct dlg *d, const char *s)
{
	struct smtpc_reply	r;
	size_t			len = strlen(s), used;
	enum smtpc_rstatus	st;

	while (len > 0) {
		st = smtpc_rparser_feed(&d->p, s, len, &used, &r);
		assert_int_not_equal(st, SMTPC_RS_ERROR);
		s += used;
		len -= used;
		if (st == SMTPC_RS_REPLY)
			d->a = smtpc_reply(&d->c, &r, &d->out);
	}
	return d->a;
}

/* Connect and greet; the EHLO reply follows. */
static void
dlg_connect(struct dlg *d)
{
	assert_int_equal(smtpc_connected(&d->c, &d->out), SMTPC_A_WAIT);
	assert_int_equal(smtpc_timeout(&d->c), 11);
	dlg_sent(d, "");
	assert_int_equal(dlg_server(d, "220 mx.example.org ESMTP\r\n"),
	    SMTPC_A_WAIT);
	assert_int_equal(smtpc_waiting_for(&d->c), SMTPC_CMD_EHLO);
	assert_int_equal(smtpc_timeout(&d->c), 17);
	dlg_sent(d, EHLO_CMD);
}

/* Connect, greet and EHLO with the extension lines ext ("" = none);
 * level none, so READY at once. */
static void
dlg_ready(struct dlg *d, const char *ext)
{
	char	reply[1024];

	dlg_init(d, SMTPC_TLS_NONE);
	dlg_connect(d);
	(void)snprintf(reply, sizeof(reply), "250%smx.example.org\r\n%s",
	    ext[0] != '\0' ? "-" : " ", ext);
	assert_int_equal(dlg_server(d, reply), SMTPC_A_READY);
	dlg_sent(d, "");
	assert_int_equal(d->c.state, SMTPC_READY);
}

/* A message with n recipients rcpt1@example.com ... */
struct tmsg {
	struct smtpc_msg	m;
	struct smtpc_rcpt	r[8];
	char			addr[8][64];
};

static void
tmsg_init(struct tmsg *t, size_t n, uint64_t size)
{
	size_t	i;

	memset(t, 0, sizeof(*t));
	t->m.sender = "alice@example.org";
	t->m.size = size;
	t->m.rcpts = t->r;
	t->m.nrcpt = n;
	for (i = 0; i < n; i++) {
		(void)snprintf(t->addr[i], sizeof(t->addr[i]),
		    "rcpt%zu@example.com", i + 1);
		t->r[i].addr = t->addr[i];
	}
}

static void
assert_outcome(const struct smtpc_rcpt *r, enum smtpc_status st,
    const char *enh, const char *reason)
{
	assert_string_equal(smtpc_status_name(r->out.status),
	    smtpc_status_name(st));
	assert_string_equal(r->out.enh, enh);
	assert_string_equal(r->out.reason, reason);
}

/* ---- EHLO, HELO ---- */

#define ALL_EXT	"250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n" \
    "250-SMTPUTF8\r\n250-DSN\r\n250-CHUNKING\r\n250-STARTTLS\r\n" \
    "250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n"

static void
test_ehlo_all_caps(void **state)
{
	struct dlg	d;

	(void)state;
	dlg_ready(&d, ALL_EXT);
	assert_true(d.c.esmtp);
	assert_false(d.c.tls);
	assert_int_equal(d.c.caps.flags, SMTPC_CAP_PIPELINING |
	    SMTPC_CAP_SIZE | SMTPC_CAP_8BITMIME | SMTPC_CAP_SMTPUTF8 |
	    SMTPC_CAP_DSN | SMTPC_CAP_CHUNKING | SMTPC_CAP_STARTTLS |
	    SMTPC_CAP_AUTH | SMTPC_CAP_ENHANCEDSTATUSCODES);
	assert_int_equal(d.c.caps.size, 10240000);
	assert_string_equal(d.c.greeting, "220 mx.example.org ESMTP");
	/* Idle: no wait of the session's. */
	assert_int_equal(smtpc_timeout(&d.c), 0);
	assert_int_equal(smtpc_quit(&d.c, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "QUIT\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 17);
	assert_int_equal(dlg_server(&d, "221 bye\r\n"), SMTPC_A_CLOSE);
	assert_int_equal(d.c.state, SMTPC_CLOSED);
	assert_int_equal(d.c.fail.status, SMTPC_PENDING);
	dlg_free(&d);
}

static void
test_helo_fallback(void **state)
{
	static const char	body[] = "Subject: \xe9t\xe9\r\n\r\nhi\r\n";
	struct dlg		d;
	struct tmsg		t;

	(void)state;
	dlg_init(&d, SMTPC_TLS_MAY);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "502 5.5.2 what?\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "HELO " HELO_NAME "\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 17);
	/* No EHLO, no STARTTLS: `may` goes on in plaintext. */
	assert_int_equal(dlg_server(&d, "250 mx.example.org\r\n"),
	    SMTPC_A_READY);
	assert_false(d.c.esmtp);
	assert_int_equal(d.c.caps.flags, 0);

	/* Lock-step, no parameters; 8-bit sent as it is, and flagged. */
	tmsg_init(&t, 2, 5000);
	t.m.eightbit = 1;
	t.m.ret = DSN_RET_FULL;
	t.r[0].notify = DSN_NOTIFY_FAILURE;
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 12);
	assert_true(t.m.unannounced_8bit);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "RCPT TO:<rcpt1@example.com>\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 13);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "RCPT TO:<rcpt2@example.com>\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "DATA\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 14);
	assert_int_equal(dlg_server(&d, "354 go\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_timeout(&d.c), 15);
	assert_int_equal(smtpc_content(&d.c, body, strlen(body), 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "Subject: \xe9t\xe9\r\n\r\nhi\r\n.\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 16);
	assert_int_equal(dlg_server(&d, "250 queued\r\n"), SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_SENT, "2.0.0", "250 queued");
	assert_outcome(&t.r[1], SMTPC_SENT, "2.0.0", "250 queued");
	assert_false(t.m.dsn_passed);
	dlg_free(&d);

	/* EHLO 500, then HELO refused: the host failed. */
	dlg_init(&d, SMTPC_TLS_NONE);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "500 unknown command\r\n"),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "HELO " HELO_NAME "\r\n");
	assert_int_equal(dlg_server(&d, "550 go away\r\n"), SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
	assert_true(d.c.fail.host);
	assert_int_equal(d.c.fail.code, 550);
	assert_string_equal(d.c.fail.reason, "550 go away");
	dlg_free(&d);
}

static void
test_greeting_refused(void **state)
{
	struct dlg	d;

	(void)state;
	dlg_init(&d, SMTPC_TLS_MAY);
	assert_int_equal(smtpc_connected(&d.c, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "554 5.7.1 no service\r\n"),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
	assert_true(d.c.fail.host);
	assert_string_equal(d.c.fail.enh, "4.0.0");
	assert_string_equal(d.c.fail.reason, "554 5.7.1 no service");
	dlg_free(&d);

	/* EHLO 4xx: the host failed, no HELO. */
	dlg_init(&d, SMTPC_TLS_MAY);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "451 4.3.2 try later\r\n"),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_string_equal(d.c.fail.enh, "4.3.2");
	dlg_free(&d);
}

/* ---- transactions ---- */

static void
test_pipelined_batch(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_ready(&d, "250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
	    "250 DSN\r\n");
	tmsg_init(&t, 3, 1234);
	t.m.eightbit = 1;
	t.m.ret = DSN_RET_HDRS;
	t.m.envid = "QID+2B1";
	t.r[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	t.r[0].orcpt = "rfc822;rcpt1+40example.com";
	t.r[1].notify = DSN_NOTIFY_NEVER;
	t.r[2].orcpt = "rfc822;bad xtext";	/* not xtext: left out */
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	/* One write. */
	dlg_sent(&d, "MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME "
	    "RET=HDRS ENVID=QID+2B1\r\n"
	    "RCPT TO:<rcpt1@example.com> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;rcpt1+40example.com\r\n"
	    "RCPT TO:<rcpt2@example.com> NOTIFY=NEVER\r\n"
	    "RCPT TO:<rcpt3@example.com>\r\n"
	    "DATA\r\n");
	assert_false(t.m.unannounced_8bit);
	assert_true(t.m.dsn_passed);
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_MAIL);
	assert_int_equal(smtpc_timeout(&d.c), 12);
	assert_int_equal(dlg_server(&d, "250 2.1.0 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(smtpc_timeout(&d.c), 13);
	assert_int_equal(dlg_server(&d, "250 2.1.5 ok\r\n250 2.1.5 ok\r\n"
	    "250 2.1.5 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_DATA);
	assert_int_equal(smtpc_timeout(&d.c), 14);
	dlg_sent(&d, "");
	assert_int_equal(dlg_server(&d, "354 go ahead\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "a\r\n.b\r", 6, 0, &d.out),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "\n.", 2, 0, &d.out),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "\r\n", 2, 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "a\r\n..b\r\n..\r\n.\r\n");
	assert_int_equal(dlg_server(&d, "250 2.0.0 Ok: queued as 4XyZ\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_SENT, "2.0.0",
	    "250 2.0.0 Ok: queued as 4XyZ");
	assert_outcome(&t.r[2], SMTPC_SENT, "2.0.0",
	    "250 2.0.0 Ok: queued as 4XyZ");
	assert_int_equal(t.r[1].out.code, 250);

	/* The next message on the same session: no RSET needed. */
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org> SIZE=10\r\n"
	    "RCPT TO:<rcpt1@example.com>\r\nDATA\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n354 go\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "", 0, 1, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, ".\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_READY);
	assert_int_equal(t.r[0].out.status, SMTPC_SENT);
	dlg_free(&d);
}

static void
test_partial_refusal(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 4, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n"
	    "550 5.1.1 <rcpt2@example.com>: no such user\r\n"
	    "450 4.2.0 greylisted\r\n250 ok\r\n354 go\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "x\r\n", 3, 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "x\r\n.\r\n");
	assert_int_equal(dlg_server(&d, "554 5.6.0 content refused\r\n"),
	    SMTPC_A_READY);
	/* Only the refused fail for their own reasons; the final reply
	 * goes to every accepted one. */
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.6.0",
	    "554 5.6.0 content refused");
	assert_outcome(&t.r[1], SMTPC_PERMFAIL, "5.1.1",
	    "550 5.1.1 <rcpt2@example.com>: no such user");
	assert_outcome(&t.r[2], SMTPC_TEMPFAIL, "4.2.0",
	    "450 4.2.0 greylisted");
	assert_outcome(&t.r[3], SMTPC_PERMFAIL, "5.6.0",
	    "554 5.6.0 content refused");
	assert_false(t.r[0].out.host);
	assert_int_equal(t.r[2].out.code, 450);

	/* A final 4xx without an enhanced code. */
	tmsg_init(&t, 2, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n550 no\r\n250 ok\r\n"
	    "354 go\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "x", 1, 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "x\r\n.\r\n");
	assert_int_equal(dlg_server(&d, "451 try later\r\n"), SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.0.0", "550 no");
	assert_outcome(&t.r[1], SMTPC_TEMPFAIL, "4.0.0", "451 try later");
	dlg_free(&d);
}

static void
test_all_refused(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	/* Pipelined: DATA was sent, 554 to it; no content. */
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 2, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n550 5.1.1 no\r\n"
	    "550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"),
	    SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 no");
	assert_outcome(&t.r[1], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 no");
	/* The open transaction is reset before the next MAIL. */
	tmsg_init(&t, 1, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "RSET\r\nMAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<rcpt1@example.com>\r\nDATA\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 17);
	/* All refused, yet 354: an empty message ends it. */
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n450 4.2.1 busy\r\n"
	    "354 go\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, ".\r\n");
	assert_int_equal(dlg_server(&d, "554 no recipients\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_TEMPFAIL, "4.2.1", "450 4.2.1 busy");
	/* That transaction ended with the dot: no RSET. */
	tmsg_init(&t, 1, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(strncmp(d.out.data, "MAIL ", 5), 0);
	dlg_free(&d);

	/* Lock-step: no DATA at all, then RSET alone before MAIL. */
	dlg_ready(&d, "250 8BITMIME\r\n");
	tmsg_init(&t, 2, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "550 no\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<rcpt1@example.com>\r\nRCPT TO:<rcpt2@example.com>\r\n");
	assert_int_equal(dlg_server(&d, "553 no\r\n"), SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_int_equal(t.r[0].out.status, SMTPC_PERMFAIL);
	assert_int_equal(t.r[1].out.code, 553);
	tmsg_init(&t, 1, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "RSET\r\n");
	assert_int_equal(dlg_server(&d, "250 reset\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n");
	/* MAIL refused: every recipient fails with it. */
	assert_int_equal(dlg_server(&d, "553 5.7.1 sender refused\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.7.1",
	    "553 5.7.1 sender refused");
	dlg_free(&d);
}

static void
test_size(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_ready(&d, "250-PIPELINING\r\n250 SIZE 1000\r\n");
	tmsg_init(&t, 2, 1001);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.3.4", "message size 1001 "
	    "exceeds the size limit 1000 of the server");
	assert_int_equal(t.r[1].out.status, SMTPC_PERMFAIL);
	assert_int_equal(t.r[1].out.code, 0);
	/* At the limit it goes. */
	tmsg_init(&t, 1, 1000);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(strncmp(d.out.data, "MAIL FROM:<alice@example.org> "
	    "SIZE=1000\r\n", 41), 0);
	dlg_free(&d);

	/* SIZE without a limit: SIZE= is sent, nothing refused. */
	dlg_ready(&d, "250 SIZE\r\n");
	tmsg_init(&t, 1, 99999999);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org> SIZE=99999999\r\n");
	dlg_free(&d);
}

static void
test_smtputf8(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	/* Needed, not offered: permanent failure, nothing sent. */
	dlg_ready(&d, "250-PIPELINING\r\n250 8BITMIME\r\n");
	tmsg_init(&t, 2, 100);
	t.m.smtputf8 = 1;
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.6.7", "SMTPUTF8 is "
	    "required, but was not offered by the server");
	assert_outcome(&t.r[1], SMTPC_PERMFAIL, "5.6.7", "SMTPUTF8 is "
	    "required, but was not offered by the server");
	/* A UTF-8 address needs it too. */
	tmsg_init(&t, 1, 100);
	t.r[0].addr = "j\xc3\xb6rg@example.com";
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_READY);
	assert_string_equal(t.r[0].out.enh, "5.6.7");
	/* An ASCII message goes. */
	tmsg_init(&t, 1, 100);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_free(&d);

	/* Offered: MAIL says SMTPUTF8. */
	dlg_ready(&d, "250-8BITMIME\r\n250 SMTPUTF8\r\n");
	tmsg_init(&t, 1, 100);
	t.m.sender = "\xc3\xa9lise@example.org";
	t.m.eightbit = 1;
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<\xc3\xa9lise@example.org> BODY=8BITMIME "
	    "SMTPUTF8\r\n");
	dlg_free(&d);
}

/* Addresses that would break the command line are never sent. */
static void
test_bad_addresses(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 2, 100);
	t.r[0].addr = "x@example.com>\r\nRSET";
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<rcpt2@example.com>\r\nDATA\r\n");
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.1.3",
	    "recipient address with control characters");
	tmsg_init(&t, 1, 100);
	t.m.sender = "a\r\n@example.org";
	dlg_free(&d);
	dlg_ready(&d, "250 PIPELINING\r\n");
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_string_equal(t.r[0].out.enh, "5.1.7");
	dlg_free(&d);
}

/* ---- STARTTLS ---- */

/* Up to the STARTTLS reply at level, with the EHLO extensions ext. */
static void
dlg_to_starttls(struct dlg *d, enum smtpc_tls_level level, const char *ext)
{
	char	reply[1024];

	dlg_init(d, level);
	dlg_connect(d);
	(void)snprintf(reply, sizeof(reply), "250-mx.example.org\r\n%s", ext);
	assert_int_equal(dlg_server(d, reply), SMTPC_A_WAIT);
	dlg_sent(d, "STARTTLS\r\n");
	assert_int_equal(smtpc_waiting_for(&d->c), SMTPC_CMD_STARTTLS);
	assert_int_equal(smtpc_timeout(&d->c), 17);
}

static void
test_starttls_offered(void **state)
{
	static const enum smtpc_tls_level levels[] = { SMTPC_TLS_MAY,
	    SMTPC_TLS_ENCRYPT, SMTPC_TLS_VERIFY, SMTPC_TLS_SECURE };
	struct dlg	d;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		dlg_to_starttls(&d, levels[i], "250 STARTTLS\r\n");
		assert_int_equal(dlg_server(&d, "220 2.0.0 go ahead\r\n"),
		    SMTPC_A_STARTTLS);
		assert_int_equal(d.c.state, SMTPC_TLS);
		assert_int_equal(smtpc_timeout(&d.c), 18);
		assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_NONE, NULL,
		    &d.out), SMTPC_A_WAIT);
		dlg_sent(&d, EHLO_CMD);
		assert_true(d.c.tls);
		assert_int_equal(dlg_server(&d, "250-mx.example.org\r\n"
		    "250 STARTTLS\r\n"), SMTPC_A_READY);
		/* No second STARTTLS over TLS. */
		dlg_sent(&d, "");
		dlg_free(&d);
	}

	/* Level none: not even offered STARTTLS is used. */
	dlg_init(&d, SMTPC_TLS_NONE);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "250-mx\r\n250 STARTTLS\r\n"),
	    SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_false(d.c.tls);
	dlg_free(&d);

	/* Implicit TLS: no STARTTLS even at `verify`. */
	dlg_init(&d, SMTPC_TLS_VERIFY);
	d.set.tls_on_connect = 1;
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "250-mx\r\n250 AUTH PLAIN\r\n"),
	    SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_true(d.c.tls);
	dlg_free(&d);
}

static void
test_starttls_not_offered(void **state)
{
	static const enum smtpc_tls_level levels[] = { SMTPC_TLS_ENCRYPT,
	    SMTPC_TLS_VERIFY, SMTPC_TLS_SECURE };
	struct dlg	d;
	size_t		i;

	(void)state;
	dlg_init(&d, SMTPC_TLS_MAY);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "250-mx\r\n250 PIPELINING\r\n"),
	    SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_false(d.c.tls);
	dlg_free(&d);

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		dlg_init(&d, levels[i]);
		dlg_connect(&d);
		assert_int_equal(dlg_server(&d, "250-mx\r\n250 PIPELINING\r\n"),
		    SMTPC_A_CLOSE);
		dlg_sent(&d, "QUIT\r\n");
		assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
		assert_true(d.c.fail.host);
		assert_string_equal(d.c.fail.enh, "4.7.4");
		assert_string_equal(d.c.fail.reason, "no STARTTLS offered");
		assert_int_equal(d.c.fail.stage, SMTPC_FAIL_STARTTLS_MISSING);
		dlg_free(&d);

		/* After HELO there is no STARTTLS either. */
		dlg_init(&d, levels[i]);
		dlg_connect(&d);
		assert_int_equal(dlg_server(&d, "502 no\r\n"), SMTPC_A_WAIT);
		assert_int_equal(dlg_server(&d, "250 hi\r\n"), SMTPC_A_CLOSE);
		assert_string_equal(d.c.fail.reason, "no STARTTLS offered");
		assert_int_equal(d.c.fail.stage, SMTPC_FAIL_STARTTLS_MISSING);
		dlg_free(&d);
	}
}

static void
test_starttls_refused(void **state)
{
	static const enum smtpc_tls_level levels[] = { SMTPC_TLS_ENCRYPT,
	    SMTPC_TLS_VERIFY, SMTPC_TLS_SECURE };
	struct dlg	d;
	struct tmsg	t;
	size_t		i;

	(void)state;
	/* `may`: plaintext on the same connection, capabilities kept. */
	dlg_to_starttls(&d, SMTPC_TLS_MAY, "250-PIPELINING\r\n"
	    "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "454 4.7.0 TLS not available\r\n"),
	    SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_false(d.c.tls);
	assert_true(d.c.tls_declined);
	assert_true(d.c.caps.flags & SMTPC_CAP_PIPELINING);
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_free(&d);

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		dlg_to_starttls(&d, levels[i], "250 STARTTLS\r\n");
		assert_int_equal(dlg_server(&d, "454 4.7.0 TLS not "
		    "available due to temporary reason\r\n"), SMTPC_A_CLOSE);
		dlg_sent(&d, "QUIT\r\n");
		assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
		assert_true(d.c.fail.host);
		assert_int_equal(d.c.fail.code, 454);
		assert_string_equal(d.c.fail.reason, "STARTTLS refused: 454 "
		    "4.7.0 TLS not available due to temporary reason");
		assert_int_equal(d.c.fail.stage, SMTPC_FAIL_STARTTLS_REFUSED);
		dlg_free(&d);
	}
}

static void
test_handshake_failed(void **state)
{
	struct dlg	d;

	(void)state;
	dlg_to_starttls(&d, SMTPC_TLS_VERIFY, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_CERT, "name "
	    "mismatch: wanted mx.example.org, certificate has other.example",
	    &d.out), SMTPC_A_CLOSE);
	/* Nothing in plaintext after a failed handshake. */
	dlg_sent(&d, "");
	assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_CERT);
	assert_true(d.c.fail.host);
	assert_string_equal(d.c.fail.enh, "4.7.5");
	assert_string_equal(d.c.fail.reason, "name mismatch: wanted "
	    "mx.example.org, certificate has other.example");
	dlg_free(&d);

	dlg_to_starttls(&d, SMTPC_TLS_ENCRYPT, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_TLS_HANDSHAKE,
	    "handshake failed: no shared cipher", &d.out), SMTPC_A_CLOSE);
	dlg_sent(&d, "");
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_TLS_HANDSHAKE);
	assert_string_equal(d.c.fail.reason, "handshake failed: no shared "
	    "cipher");
	dlg_free(&d);
}

/*
 * The failure stage is that of the step that failed, and only there: a
 * reason that looks like a STARTTLS failure (the server's own words)
 * gives no STARTTLS stage, and neither does a session that went well.
 */
static void
test_fail_stage(void **state)
{
	struct dlg	d;

	(void)state;
	/* EHLO refused in STARTTLS words: not a STARTTLS stage. */
	dlg_init(&d, SMTPC_TLS_VERIFY);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "421 no STARTTLS offered here\r\n"),
	    SMTPC_A_CLOSE);
	assert_int_equal(d.c.fail.status, SMTPC_TEMPFAIL);
	assert_string_equal(d.c.fail.reason, "421 no STARTTLS offered here");
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_NONE);
	dlg_free(&d);

	/* HELO refused so: not a STARTTLS stage either. */
	dlg_init(&d, SMTPC_TLS_VERIFY);
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "502 no\r\n"), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "421 STARTTLS refused\r\n"),
	    SMTPC_A_CLOSE);
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_NONE);
	dlg_free(&d);

	/* A lost connection after the handshake. */
	dlg_to_starttls(&d, SMTPC_TLS_VERIFY, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_NONE, NULL, &d.out),
	    SMTPC_A_WAIT);
	assert_int_equal(smtpc_abort(&d.c, "connection closed by the server",
	    0, &d.out), SMTPC_A_CLOSE);
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_NONE);
	dlg_free(&d);

	/* `may`: STARTTLS refused, plaintext goes on: no failure. */
	dlg_to_starttls(&d, SMTPC_TLS_MAY, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "454 4.7.0 no\r\n"), SMTPC_A_READY);
	assert_int_equal(d.c.fail.status, SMTPC_PENDING);
	assert_int_equal(d.c.fail.stage, SMTPC_FAIL_NONE);
	dlg_free(&d);
}

/* What the server said before the handshake holds no more after it. */
static void
test_caps_forgotten_after_tls(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_to_starttls(&d, SMTPC_TLS_ENCRYPT, "250-PIPELINING\r\n"
	    "250-SIZE 100\r\n250-CHUNKING\r\n250-DSN\r\n250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(d.c.caps.flags, 0);
	assert_int_equal(d.c.caps.size, 0);
	assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_NONE, NULL, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, EHLO_CMD);
	assert_int_equal(dlg_server(&d, "250-mx.example.org\r\n"
	    "250 8BITMIME\r\n"), SMTPC_A_READY);
	assert_int_equal(d.c.caps.flags, SMTPC_CAP_8BITMIME);
	/* Bigger than the old SIZE, with DSN: neither applies now; no
	 * pipelining, no BDAT. */
	tmsg_init(&t, 2, 500);
	t.m.ret = DSN_RET_FULL;
	t.r[0].notify = DSN_NOTIFY_DELAY;
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "RCPT TO:<rcpt1@example.com>\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "RCPT TO:<rcpt2@example.com>\r\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "DATA\r\n");
	assert_false(t.m.dsn_passed);
	dlg_free(&d);

	/* The capabilities after TLS count: SIZE, learnt only then. */
	dlg_to_starttls(&d, SMTPC_TLS_MAY, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_tls_done(&d.c, SMTPC_FAIL_NONE, NULL, &d.out),
	    SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250-mx\r\n250 SIZE 100\r\n"),
	    SMTPC_A_READY);
	tmsg_init(&t, 1, 500);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_READY);
	assert_string_equal(t.r[0].out.enh, "5.3.4");
	dlg_free(&d);
}

/* ---- BDAT ---- */

static void
test_bdat(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	/* PIPELINING and CHUNKING: MAIL, RCPT and the first chunk in one
	 * write, chunks without waiting, never dot-stuffed. */
	dlg_ready(&d, "250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n");
	tmsg_init(&t, 2, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_true(t.m.chunked);
	assert_int_equal(smtpc_content(&d.c, ".a\r\n", 4, 0, &d.out),
	    SMTPC_A_CONTENT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<rcpt1@example.com>\r\nRCPT TO:<rcpt2@example.com>\r\n"
	    "BDAT 4\r\n.a\r\n");
	assert_int_equal(smtpc_timeout(&d.c), 12);
	/* Replies while the content goes on. */
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(dlg_server(&d, "550 no\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_BDAT);
	assert_int_equal(smtpc_timeout(&d.c), 15);
	assert_int_equal(dlg_server(&d, "250 2.0.0 4 octets\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_timeout(&d.c), 15);
	assert_int_equal(smtpc_content(&d.c, "", 0, 0, &d.out),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, ".\r\n.\r\n", 6, 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "BDAT 6 LAST\r\n.\r\n.\r\n");
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_BDAT_LAST);
	assert_int_equal(smtpc_timeout(&d.c), 16);
	assert_int_equal(dlg_server(&d, "250 2.0.0 queued\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_SENT, "2.0.0", "250 2.0.0 queued");
	assert_outcome(&t.r[1], SMTPC_PERMFAIL, "5.0.0", "550 no");
	/* A completed message needs no RSET; the whole message in one
	 * write with its commands. */
	tmsg_init(&t, 1, 3);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "hi\n", 3, 1, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<rcpt1@example.com>\r\nBDAT 3 LAST\r\nhi\n");
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n250 ok\r\n"),
	    SMTPC_A_READY);
	assert_int_equal(t.r[0].out.status, SMTPC_SENT);
	dlg_free(&d);

	/* Every recipient refused while chunks go: the content stops, the
	 * replies due are taken, RSET before the next message. */
	dlg_ready(&d, "250-PIPELINING\r\n250 CHUNKING\r\n");
	tmsg_init(&t, 2, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "abc", 3, 0, &d.out),
	    SMTPC_A_CONTENT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n550 5.1.1 a\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(dlg_server(&d, "550 5.1.1 b\r\n"), SMTPC_A_WAIT);
	assert_int_equal(d.c.state, SMTPC_FINAL);
	assert_int_equal(dlg_server(&d, "554 5.5.1 no valid recipients\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 a");
	assert_outcome(&t.r[1], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 b");
	tmsg_init(&t, 1, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_int_equal(strncmp(d.out.data, "RSET\r\nMAIL ", 11), 0);
	dlg_free(&d);

	/* Lock-step CHUNKING: each chunk waits for its reply; a refused
	 * chunk ends the message for the accepted recipients. */
	dlg_ready(&d, "250 CHUNKING\r\n");
	tmsg_init(&t, 1, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_CONTENT);
	buf_reset(&d.out);
	assert_int_equal(smtpc_content(&d.c, "abc", 3, 0, &d.out),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "BDAT 3\r\nabc");
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_BDAT);
	assert_int_equal(smtpc_timeout(&d.c), 15);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "def", 3, 0, &d.out),
	    SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "552 5.3.4 too big\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.3.4", "552 5.3.4 too big");
	buf_reset(&d.out);
	tmsg_init(&t, 1, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "RSET\r\n");
	dlg_free(&d);
}

/* Pipelined chunks with one refused in the middle: the replies due are
 * taken, the first refusal is the outcome. */
static void
test_bdat_pipelined_refusal(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	dlg_ready(&d, "250-PIPELINING\r\n250 CHUNKING\r\n");
	tmsg_init(&t, 1, 9);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "abc", 3, 0, &d.out),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "def", 3, 0, &d.out),
	    SMTPC_A_CONTENT);
	/* The first chunk is refused: no more content, one reply due. */
	assert_int_equal(dlg_server(&d, "451 4.3.0 disk full\r\n"),
	    SMTPC_A_WAIT);
	assert_int_equal(d.c.state, SMTPC_FINAL);
	assert_int_equal(dlg_server(&d, "503 5.5.1 no transaction\r\n"),
	    SMTPC_A_READY);
	assert_outcome(&t.r[0], SMTPC_TEMPFAIL, "4.3.0",
	    "451 4.3.0 disk full");
	tmsg_init(&t, 1, 9);
	buf_reset(&d.out);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_CONTENT);
	assert_int_equal(strncmp(d.out.data, "RSET\r\n", 6), 0);
	dlg_free(&d);
}

/* ---- dot-stuffing ---- */

static void
stuff_all(const char *in, size_t len, struct buf *out)
{
	struct smtpc_dot	dot;

	smtpc_dot_init(&dot);
	smtpc_dot_stuff(&dot, in, len, out);
	smtpc_dot_end(&dot, out);
}

static void
test_dot_stuffing(void **state)
{
	static const char	in[] = ".top\r\nmid.dle\r\n..two\r\n.\r\n"
	    "\r\n.\r\nbare\nlf\n.x\rcr.\r.y\r\n.";
	static const char	want[] = "..top\r\nmid.dle\r\n...two\r\n..\r\n"
	    "\r\n..\r\nbare\r\nlf\r\n..x\r\ncr.\r\n..y\r\n..\r\n.\r\n";
	struct smtpc_dot	dot;
	struct buf		whole, b;
	size_t			len = sizeof(in) - 1, i, j;

	(void)state;
	buf_init(&whole);
	buf_init(&b);
	stuff_all(in, len, &whole);
	assert_string_equal(whole.data, want);

	/* Every cut in two and in three pieces gives the same octets. */
	for (i = 0; i <= len; i++) {
		for (j = i; j <= len; j++) {
			buf_reset(&b);
			smtpc_dot_init(&dot);
			smtpc_dot_stuff(&dot, in, i, &b);
			smtpc_dot_stuff(&dot, in + i, j - i, &b);
			smtpc_dot_stuff(&dot, in + j, len - j, &b);
			smtpc_dot_end(&dot, &b);
			assert_int_equal(b.len, whole.len);
			assert_memory_equal(b.data, whole.data, b.len);
		}
	}
	/* Octet by octet. */
	buf_reset(&b);
	smtpc_dot_init(&dot);
	for (i = 0; i < len; i++)
		smtpc_dot_stuff(&dot, in + i, 1, &b);
	smtpc_dot_end(&dot, &b);
	assert_string_equal(b.data, want);

	/* The end marker: after CRLF, without one, empty, a CR last. */
	buf_reset(&b);
	stuff_all("a\r\n", 3, &b);
	assert_string_equal(b.data, "a\r\n.\r\n");
	buf_reset(&b);
	stuff_all("a", 1, &b);
	assert_string_equal(b.data, "a\r\n.\r\n");
	buf_reset(&b);
	stuff_all("", 0, &b);
	assert_string_equal(b.data, ".\r\n");
	buf_reset(&b);
	stuff_all("a\r", 2, &b);
	assert_string_equal(b.data, "a\r\n.\r\n");
	/* A smuggling attempt stays content. */
	buf_reset(&b);
	stuff_all("x\n.\nMAIL FROM:<e@vil>\r\n", 23, &b);
	assert_string_equal(b.data, "x\r\n..\r\nMAIL FROM:<e@vil>\r\n.\r\n");
	buf_free(&whole);
	buf_free(&b);
}

/* ---- ends ---- */

static void
test_mismatched_codes(void **state)
{
	struct dlg		d;
	struct tmsg		t;
	struct smtpc_reply	r;
	size_t			used;
	static const char	bad[] = "250-ok\r\n550 no\r\n";

	(void)state;
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 2, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n550 5.1.1 no\r\n"),
	    SMTPC_A_WAIT);
	assert_int_equal(smtpc_rparser_feed(&d.p, bad, sizeof(bad) - 1,
	    &used, &r), SMTPC_RS_ERROR);
	assert_int_equal(smtpc_abort(&d.c, d.p.error, 1, &d.out),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	/* The refused one keeps its reply; the other waits for later. */
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 no");
	assert_outcome(&t.r[1], SMTPC_TEMPFAIL, "4.5.0", "protocol error: "
	    "reply lines with different codes: 250 then 550 waiting for "
	    "the reply to RCPT");
	assert_true(t.r[1].out.host);
	assert_int_equal(d.c.state, SMTPC_CLOSED);
	/* Later events change nothing. */
	assert_int_equal(smtpc_abort(&d.c, "eof", 0, &d.out), SMTPC_A_CLOSE);
	assert_string_equal(t.r[1].out.enh, "4.5.0");
	dlg_free(&d);
}

/* A server that never ends its reply is cut off by the reader. */
static void
test_endless_reply(void **state)
{
	struct dlg		d;
	struct smtpc_reply	r;
	size_t			used, total = 0;
	enum smtpc_rstatus	st = SMTPC_RS_MORE;
	int			i;

	(void)state;
	dlg_init(&d, SMTPC_TLS_MAY);
	dlg_connect(&d);
	for (i = 0; i < 1000000 && st == SMTPC_RS_MORE; i++) {
		st = smtpc_rparser_feed(&d.p, "250-PIPELINING\r\n", 16, &used,
		    &r);
		total += used;
	}
	assert_int_equal(st, SMTPC_RS_ERROR);
	assert_true(total <= 16 * (SMTPC_REPLY_LINES_MAX + 1));
	assert_int_equal(smtpc_abort(&d.c, d.p.error, 1, &d.out),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_string_equal(d.c.fail.reason, "protocol error: reply of more "
	    "than 100 lines waiting for the reply to EHLO");
	dlg_free(&d);
}

static void
test_421_and_timeouts(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	/* 421 in the middle of a batch: the session ends, no QUIT. */
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 3, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "250 ok\r\n550 5.1.1 unknown\r\n"
	    "421 4.3.2 shutting down\r\n"), SMTPC_A_CLOSE);
	dlg_sent(&d, "");
	assert_outcome(&t.r[0], SMTPC_PERMFAIL, "5.1.1", "550 5.1.1 unknown");
	assert_outcome(&t.r[1], SMTPC_TEMPFAIL, "4.3.2",
	    "421 4.3.2 shutting down");
	assert_true(t.r[1].out.host);
	assert_int_equal(t.r[2].out.status, SMTPC_TEMPFAIL);
	dlg_free(&d);

	/* A timeout after the final dot: deferred (the server may have
	 * taken it; a duplicate is better than a loss). */
	dlg_ready(&d, "");
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n"), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "354 go\r\n"), SMTPC_A_CONTENT);
	assert_int_equal(smtpc_content(&d.c, "x\r\n", 3, 1, &d.out),
	    SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(smtpc_abort(&d.c, "timeout", 0, &d.out),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "");
	assert_outcome(&t.r[0], SMTPC_TEMPFAIL, "4.4.2",
	    "timeout waiting for the reply to end of data");
	dlg_free(&d);

	/* Lost while sending the content, and during a handshake. */
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n354 go\r\n"),
	    SMTPC_A_CONTENT);
	assert_int_equal(smtpc_abort(&d.c, "connection reset by peer", 0,
	    &d.out), SMTPC_A_CLOSE);
	assert_string_equal(t.r[0].out.reason, "connection reset by peer "
	    "while sending the message");
	dlg_free(&d);
	dlg_to_starttls(&d, SMTPC_TLS_MAY, "250 STARTTLS\r\n");
	assert_int_equal(dlg_server(&d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_abort(&d.c, "timeout", 0, &d.out),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "");
	assert_string_equal(d.c.fail.reason, "timeout during the TLS "
	    "handshake");
	dlg_free(&d);
}

static void
test_unexpected_replies(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	/* A reply with no command: protocol error. */
	dlg_ready(&d, "");
	assert_int_equal(dlg_server(&d, "250 surprise\r\n"), SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_string_equal(d.c.fail.reason, "protocol error: reply without "
	    "a command: 250 surprise");
	dlg_free(&d);

	/* 354 to MAIL, 250 to DATA: protocol errors. */
	dlg_ready(&d, "");
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "354 what\r\n"), SMTPC_A_CLOSE);
	assert_outcome(&t.r[0], SMTPC_TEMPFAIL, "4.5.0", "protocol error: "
	    "unexpected reply to MAIL: 354 what");
	dlg_free(&d);
	dlg_ready(&d, "250 PIPELINING\r\n");
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	assert_int_equal(dlg_server(&d, "250 ok\r\n250 ok\r\n250 data?\r\n"),
	    SMTPC_A_CLOSE);
	assert_int_equal(t.r[0].out.status, SMTPC_TEMPFAIL);
	assert_true(t.r[0].out.host);
	dlg_free(&d);
}

/* ---- AUTH after TLS (relay host) ---- */

#define AUTH_USER	"relayuser"
#define AUTH_PASS	"relay-Secret-7"
/* base64 of NUL relayuser NUL relay-Secret-7 (RFC 4616) */
#define AUTH_PLAIN_B64	"AHJlbGF5dXNlcgByZWxheS1TZWNyZXQtNw=="

/* Level verify with credentials: STARTTLS, the handshake, EHLO again;
 * the server's EHLO reply after TLS is ext (after "250-mx"). */
static enum smtpc_action
dlg_auth_ehlo(struct dlg *d, const char *ext)
{
	char	reply[1024];

	dlg_to_starttls(d, SMTPC_TLS_VERIFY, "250 STARTTLS\r\n");
	d->set.auth_user = AUTH_USER;
	d->set.auth_pass = AUTH_PASS;
	assert_int_equal(dlg_server(d, "220 go\r\n"), SMTPC_A_STARTTLS);
	assert_int_equal(smtpc_tls_done(&d->c, SMTPC_FAIL_NONE, NULL,
	    &d->out),
	    SMTPC_A_WAIT);
	dlg_sent(d, EHLO_CMD);
	(void)snprintf(reply, sizeof(reply), "250-mx.example.org\r\n%s", ext);
	return dlg_server(d, reply);
}

/* The failure of the session: temporary, the host's, and no secret in
 * the reason. */
static void
assert_auth_fail(const struct dlg *d, const char *enh, const char *reason)
{
	assert_int_equal(d->c.fail.status, SMTPC_TEMPFAIL);
	assert_true(d->c.fail.host);
	assert_string_equal(d->c.fail.enh, enh);
	assert_string_equal(d->c.fail.reason, reason);
	assert_null(strstr(d->c.fail.reason, AUTH_PASS));
	assert_null(strstr(d->c.fail.reason, "AHJlbGF5"));
	assert_null(strstr(d->c.fail.reason, "cmVsYXkt"));
}

/* PLAIN offered (LOGIN too): PLAIN with the initial response; 235, then
 * the transaction. */
static void
test_auth_plain(void **state)
{
	struct dlg	d;
	struct tmsg	t;

	(void)state;
	assert_int_equal(dlg_auth_ehlo(&d, "250-AUTH LOGIN PLAIN\r\n"
	    "250 8BITMIME\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "AUTH PLAIN " AUTH_PLAIN_B64 "\r\n");
	assert_int_equal(d.c.state, SMTPC_AUTH);
	assert_int_equal(smtpc_waiting_for(&d.c), SMTPC_CMD_AUTH);
	assert_int_equal(smtpc_timeout(&d.c), 17);
	assert_int_equal(dlg_server(&d, "235 2.7.0 Authentication "
	    "successful\r\n"), SMTPC_A_READY);
	dlg_sent(&d, "");
	assert_true(d.c.authed);
	tmsg_init(&t, 1, 10);
	assert_int_equal(smtpc_mail(&d.c, &t.m, &d.out), SMTPC_A_WAIT);
	dlg_sent(&d, "MAIL FROM:<alice@example.org>\r\n");
	dlg_free(&d);
}

/* Only LOGIN: AUTH LOGIN, then the user name and the password, each in
 * base64, each after a 334. */
static void
test_auth_login(void **state)
{
	struct dlg	d;

	(void)state;
	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH LOGIN\r\n"),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "AUTH LOGIN\r\n");
	assert_int_equal(dlg_server(&d, "334 VXNlcm5hbWU6\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "cmVsYXl1c2Vy\r\n");
	assert_int_equal(dlg_server(&d, "334 UGFzc3dvcmQ6\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "cmVsYXktU2VjcmV0LTc=\r\n");
	assert_int_equal(dlg_server(&d, "235 2.7.0 ok\r\n"), SMTPC_A_READY);
	dlg_sent(&d, "");
	dlg_free(&d);

	/* A third 334 is a protocol error. */
	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH LOGIN\r\n"),
	    SMTPC_A_WAIT);
	buf_reset(&d.out);
	(void)dlg_server(&d, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "334 more?\r\n"), SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_auth_fail(&d, "4.5.0", "protocol error: unexpected reply to "
	    "AUTH: 334 more?");
	dlg_free(&d);

	/* PLAIN with its initial response needs no 334. */
	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH PLAIN\r\n"),
	    SMTPC_A_WAIT);
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "334 \r\n"), SMTPC_A_CLOSE);
	assert_auth_fail(&d, "4.5.0", "protocol error: unexpected reply to "
	    "AUTH: 334");
	dlg_free(&d);
}

/* 535 (or any refusal) is a temporary failure of the host: the mail
 * must not bounce for the operator's credentials. */
static void
test_auth_failed(void **state)
{
	struct dlg	d;

	(void)state;
	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH PLAIN LOGIN\r\n"),
	    SMTPC_A_WAIT);
	dlg_sent(&d, "AUTH PLAIN " AUTH_PLAIN_B64 "\r\n");
	assert_int_equal(dlg_server(&d, "535 5.7.8 Authentication "
	    "credentials invalid\r\n"), SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_auth_fail(&d, "4.7.8", "authentication failed: 535 5.7.8 "
	    "Authentication credentials invalid");
	assert_int_equal(d.c.fail.code, 0);
	dlg_free(&d);

	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH LOGIN\r\n"),
	    SMTPC_A_WAIT);
	buf_reset(&d.out);
	(void)dlg_server(&d, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n");
	buf_reset(&d.out);
	assert_int_equal(dlg_server(&d, "454 4.7.0 try later\r\n"),
	    SMTPC_A_CLOSE);
	assert_auth_fail(&d, "4.7.0", "authentication failed: 454 4.7.0 "
	    "try later");
	dlg_free(&d);
}

/* Credentials set, but the server offers no AUTH, or no mechanism we
 * speak: deferred with a clear reason, nothing sent but QUIT. */
static void
test_auth_not_offered(void **state)
{
	struct dlg	d;

	(void)state;
	assert_int_equal(dlg_auth_ehlo(&d, "250 PIPELINING\r\n"),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_auth_fail(&d, "4.7.0", "authentication failed: the server "
	    "offers no AUTH");
	dlg_free(&d);

	assert_int_equal(dlg_auth_ehlo(&d, "250 AUTH CRAM-MD5 XOAUTH2\r\n"),
	    SMTPC_A_CLOSE);
	dlg_sent(&d, "QUIT\r\n");
	assert_auth_fail(&d, "4.7.0", "authentication failed: the server "
	    "offers neither AUTH PLAIN nor AUTH LOGIN");
	dlg_free(&d);
}

/* Never AUTH without TLS: level none, or `may` without STARTTLS. */
static void
test_auth_never_plaintext(void **state)
{
	static const enum smtpc_tls_level levels[] = { SMTPC_TLS_NONE,
	    SMTPC_TLS_MAY };
	struct dlg	d;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		dlg_init(&d, levels[i]);
		d.set.auth_user = AUTH_USER;
		d.set.auth_pass = AUTH_PASS;
		dlg_connect(&d);
		assert_int_equal(dlg_server(&d, "250-mx.example.org\r\n"
		    "250 AUTH PLAIN LOGIN\r\n"), SMTPC_A_CLOSE);
		dlg_sent(&d, "QUIT\r\n");
		assert_auth_fail(&d, "4.7.0", "authentication needs TLS: "
		    "credentials are never sent over an unencrypted "
		    "connection");
		dlg_free(&d);
	}
}

/* Implicit TLS (465): the greeting comes over TLS; AUTH follows the
 * first EHLO. */
static void
test_auth_implicit_tls(void **state)
{
	struct dlg	d;

	(void)state;
	dlg_init(&d, SMTPC_TLS_VERIFY);
	d.set.tls_on_connect = 1;
	d.set.auth_user = AUTH_USER;
	d.set.auth_pass = AUTH_PASS;
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "250-mx.example.org\r\n"
	    "250 AUTH PLAIN\r\n"), SMTPC_A_WAIT);
	dlg_sent(&d, "AUTH PLAIN " AUTH_PLAIN_B64 "\r\n");
	assert_int_equal(dlg_server(&d, "235 ok\r\n"), SMTPC_A_READY);
	dlg_free(&d);

	/* Without credentials AUTH is never sent, offered or not. */
	dlg_init(&d, SMTPC_TLS_VERIFY);
	d.set.tls_on_connect = 1;
	dlg_connect(&d);
	assert_int_equal(dlg_server(&d, "250-mx.example.org\r\n"
	    "250 AUTH PLAIN\r\n"), SMTPC_A_READY);
	dlg_sent(&d, "");
	dlg_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ehlo_all_caps),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_greeting_refused),
		cmocka_unit_test(test_pipelined_batch),
		cmocka_unit_test(test_partial_refusal),
		cmocka_unit_test(test_all_refused),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_starttls_offered),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_starttls_refused),
		cmocka_unit_test(test_handshake_failed),
		cmocka_unit_test(test_fail_stage),
		cmocka_unit_test(test_caps_forgotten_after_tls),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_bdat_pipelined_refusal),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_mismatched_codes),
		cmocka_unit_test(test_endless_reply),
		cmocka_unit_test(test_421_and_timeouts),
		cmocka_unit_test(test_unexpected_replies),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_failed),
		cmocka_unit_test(test_auth_not_offered),
		cmocka_unit_test(test_auth_never_plaintext),
		cmocka_unit_test(test_auth_implicit_tls),
	};

	log_init("test_smtpc", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
