/*
 * fuzz_session.c - libFuzzer target for the SMTP session state machine
 * (smtp_session.c) and the message reader (dataread.c), driven the way
 * smtpd.c drives them but without any I/O.
 *
 * Input: two bytes of environment (listener kind, relay client, TLS on
 * offer, limits, how lookups, opens, commits and the handshake end, how
 * the rest is cut into reads), then the bytes a client sends.  Lookups
 * find "root", "postmaster" and "alice" (or everything, or fail for a
 * while), the queue opens every message as one fake queue ID, commits
 * succeed or fail, a STARTTLS handshake succeeds or fails, and the input
 * ends in EOF, a timeout or a shutdown.  make-seeds.py writes the seeds.
 *
 * Beyond the sanitizers it checks the promises the receiver makes:
 * well-formed replies with an enhanced status code of the right class on
 * every 2xx/4xx/5xx but the greeting and HELO/EHLO and never on 3xx; no
 * commit of a message the reader marked bad, without recipients, to a
 * non-local domain from a client outside the relay networks, or on a
 * submission listener before TLS; a fresh session after the handshake;
 * an error counted only with a 4xx or 5xx reply (every call gets a reply
 * buffer holding a 5xx poison, which an action without a reply must not
 * read);
 * and the reader gives the same result fed all at once or octet by octet.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/proto.h"
#include "common/util.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_QID	"0123456789ABCDEF"

/* Bits of the two environment bytes. */
#define ENV_RELAY	0x0001	/* the client is in a relay network */
#define ENV_TLS_OFFER	0x0002	/* a certificate is configured */
#define ENV_KIND	0x000c	/* listener kind, >> 2 */
#define ENV_BIGREADS	0x0010	/* the input arrives in one read */
#define ENV_LOOKUP	0x0060	/* >> 5: 0 some found, 1 all, 2 none, 3 tempfail */
#define ENV_OPENFAIL	0x0080	/* the queue cannot open messages */
#define ENV_COMMITFAIL	0x0100	/* commits fail */
#define ENV_WERR	0x0200	/* writes to the message file fail */
#define ENV_TLSFAIL	0x0400	/* the handshake fails */
#define ENV_SMALL	0x0800	/* small limits */
#define ENV_SPACELOW	0x1000	/* the queue says space is low */
#define ENV_TIMEOUT	0x2000	/* the input ends in a timeout ... */
#define ENV_SHUTDOWN	0x4000	/* ... or a shutdown, not in EOF */

enum fuzz_mode {
	MODE_COMMAND = 0,
	MODE_DISCARD,		/* the rest of an overlong line */
	MODE_DATA,		/* after 354 */
	MODE_CHUNK,		/* a BDAT chunk into the message */
	MODE_SKIP,		/* a refused BDAT chunk */
};

struct fuzz {
	struct smtp_session	 s;
	struct config		*cfg;
	unsigned		 env;
	const uint8_t		*in;
	size_t			 len;
	size_t			 avail;		/* end of what was "read" */
	size_t			 pos;		/* consumed */
	uint32_t		 rng;
	enum fuzz_mode		 mode;
	int			 closing;
	char			 verb[8];	/* of the command being answered */

	/* The message. */
	int			 msg_open;	/* reader set up */
	int			 msg_bad;	/* a status other than OK */
	struct dataread		 dr, dr1;	/* fed at once; octet by octet */
	struct buf		 out, out1;
	uint64_t		 written;
	uint64_t		 chunk_left;
};

static struct config	fuzz_cfg;
static int		fuzz_cfg_ready;

static const char fuzz_conf_text[] =
    "hostname mx.example.test\n"
    "spool /nonexistent/spool\n"
    "listen 127.0.0.1 25 smtp\n"
    "local-domain mx.example.test localhost example.test xn--bcher-kva.example\n"
    "relay-network 127.0.0.1/32\n"
    "max-errors 1000\n";

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_session: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static struct config *
fuzz_config(unsigned env)
{
	char	err[512];

	if (!fuzz_cfg_ready) {
		config_init(&fuzz_cfg);
		if (config_parse(&fuzz_cfg, "fuzz.conf", fuzz_conf_text,
		    sizeof(fuzz_conf_text) - 1, err, sizeof(err)) == -1)
			fuzz_fail("the fuzz configuration", err);
		fuzz_cfg_ready = 1;
	}
	if (env & ENV_SMALL) {
		fuzz_cfg.max_message_size = 600;
		fuzz_cfg.max_recipients = 3;
		fuzz_cfg.max_errors = 5;
		fuzz_cfg.max_line_length = 80;
		fuzz_cfg.max_received_headers = 3;
	} else {
		fuzz_cfg.max_message_size = 64 * 1024;
		fuzz_cfg.max_recipients = 100;
		fuzz_cfg.max_errors = 1000;
		fuzz_cfg.max_line_length = 16 * 1024;
		fuzz_cfg.max_received_headers = 100;
	}
	return &fuzz_cfg;
}

/* ---- replies ---- */

static int
fuzz_is_enh(const char *t, int cls)
{
	/* class "." 1*3digit "." 1*3digit followed by a space or the end */
	int	n;

	if (t[0] != (char)('0' + cls) || t[1] != '.')
		return 0;
	t += 2;
	for (n = 0; n < 3 && *t >= '0' && *t <= '9'; n++)
		t++;
	if (n == 0 || *t++ != '.')
		return 0;
	for (n = 0; n < 3 && *t >= '0' && *t <= '9'; n++)
		t++;
	return n > 0 && (*t == ' ' || *t == '\0');
}

/* Any "d.d.d " at the start of the text, whatever its class. */
static int
fuzz_has_enh(const char *t)
{
	int	c;

	for (c = 0; c <= 9; c++)
		if (fuzz_is_enh(t, c))
			return 1;
	return 0;
}

/* The reply on the wire is well formed and carries the right codes. */
static void
fuzz_check_reply(struct fuzz *f, const struct smtp_reply *r, int greeting)
{
	struct buf	 b;
	char		 line[SMTP_REPLY_MAX + 16];
	const char	*p, *e;
	size_t		 n, i;
	int		 exempt, cls, last = 0;

	if (r->code < 200 || r->code > 599)
		fuzz_fail("a reply code outside 200-599", r->text);
	cls = r->code / 100;
	exempt = greeting || strcmp(f->verb, "EHLO") == 0 ||
	    strcmp(f->verb, "HELO") == 0;
	buf_init(&b);
	smtp_reply_format(r, &b);
	p = b.data;
	e = b.data + b.len;
	if (b.len == 0)
		fuzz_fail("an empty reply", NULL);
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));

		if (last)
			fuzz_fail("reply lines after the last one", b.data);
		if (nl == NULL || nl == p || nl[-1] != '\r')
			fuzz_fail("a reply line without CRLF", b.data);
		n = (size_t)(nl - 1 - p);
		if (n < 3 || n > 510 || n >= sizeof(line))
			fuzz_fail("a reply line of a bad length", b.data);
		memcpy(line, p, n);
		line[n] = '\0';
		if (strlen(line) != n)
			fuzz_fail("a NUL inside a reply line", b.data);
		for (i = 0; i < n; i++)
			if (((unsigned char)line[i] < 32 && line[i] != '\t') ||
			    line[i] == 127)
				fuzz_fail("a control character in a reply line",
				    b.data);
		if ((line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0') != r->code)
			fuzz_fail("a reply line with another code", b.data);
		if (n > 3 && line[3] != ' ' && line[3] != '-')
			fuzz_fail("no ' ' or '-' after the code", b.data);
		last = n == 3 || line[3] == ' ';
		if (cls == 3 && n > 4 && fuzz_has_enh(line + 4))
			fuzz_fail("an enhanced status code on a 3xx reply",
			    b.data);
		if (cls != 3 && !exempt && (n < 5 || !fuzz_is_enh(line + 4,
		    cls)))
			fuzz_fail("a 2xx/4xx/5xx reply without an enhanced "
			    "status code of its class", b.data);
		if (cls != 3 && n > 4 && fuzz_has_enh(line + 4) &&
		    !fuzz_is_enh(line + 4, cls))
			fuzz_fail("an enhanced status code of another class",
			    b.data);
		p = nl + 1;
	}
	if (!last)
		fuzz_fail("a reply without a last line", b.data);
	buf_free(&b);
}

/*
 * Every call into the session gets a reply buffer filled with a 5xx
 * poison, as a driver's reused buffer may hold one.  An action without a
 * reply must not read it (no error counted), and an error is counted only
 * with a 4xx or 5xx reply.
 */
static void
fuzz_poison(struct smtp_reply *r)
{
	memset(r, 0x55, sizeof(*r));
	r->code = 554;
	(void)strlcpy(r->enh, "5.9.9", sizeof(r->enh));
	(void)strlcpy(r->text, "poison: no reply was set", sizeof(r->text));
}

static void
fuzz_check_errors(struct fuzz *f, enum smtp_action a,
    const struct smtp_reply *r, unsigned before)
{
	int	has_reply = a == SMTP_A_REPLY || a == SMTP_A_CLOSE ||
		    a == SMTP_A_DATA || a == SMTP_A_ABORT ||
		    a == SMTP_A_STARTTLS || a == SMTP_A_SKIP;

	if (f->s.nerrors < before)
		fuzz_fail("the error count went down", NULL);
	if (f->s.nerrors == before)
		return;
	if (!has_reply)
		fuzz_fail("an error counted for an action without a reply "
		    "(the reply buffer was read)", f->verb);
	if (r->code < 400)
		fuzz_fail("an error counted for a reply below 400", r->text);
}

/* ---- the message ---- */

static void
fuzz_msg_start(struct fuzz *f, int chunked)
{
	struct buf	hdr;

	dataread_init(&f->dr, f->cfg->max_message_size);
	dataread_limits(&f->dr, f->cfg->max_line_length,
	    f->cfg->max_received_headers);
	f->dr1 = f->dr;
	if (chunked) {
		dataread_chunked(&f->dr);
		dataread_chunked(&f->dr1);
	}
	buf_reset(&f->out);
	buf_reset(&f->out1);
	buf_init(&hdr);
	smtp_session_received(&f->s, 1700000000, &hdr);
	if (hdr.len < 10 || memcmp(hdr.data, "Received: ", 10) != 0 ||
	    hdr.len < 2 || memcmp(hdr.data + hdr.len - 2, "\r\n", 2) != 0)
		fuzz_fail("a Received header that is not one", hdr.data);
	f->written = hdr.len;
	buf_free(&hdr);
	f->msg_open = 1;
	f->msg_bad = 0;
}

/* Feeds n octets to both readers; returns what the first one used. */
static size_t
fuzz_msg_feed(struct fuzz *f, const char *p, size_t n)
{
	size_t	used, used1 = 0, i;

	used = dataread_feed(&f->dr, p, n, &f->out);
	for (i = 0; i < n && !f->dr1.done; i++)
		used1 += dataread_feed(&f->dr1, p + i, 1, &f->out1);
	/* The output of a marked message is thrown away: not compared. */
	if (used != used1 || f->dr.done != f->dr1.done ||
	    f->dr.flags != f->dr1.flags || (f->dr.flags == 0 &&
	    (f->out.len != f->out1.len ||
	    memcmp(f->out.data, f->out1.data, f->out.len) != 0)))
		fuzz_fail("the reader differs fed at once and octet by octet",
		    NULL);
	if (used > n || (used < n && !f->dr.done))
		fuzz_fail("the reader used a wrong number of octets", NULL);
	return used;
}

static void
fuzz_msg_last(struct fuzz *f)
{
	dataread_last(&f->dr, &f->out);
	dataread_last(&f->dr1, &f->out1);
	if (f->dr.flags != f->dr1.flags || (f->dr.flags == 0 &&
	    (f->out.len != f->out1.len ||
	    memcmp(f->out.data, f->out1.data, f->out.len) != 0)))
		fuzz_fail("dataread_last differs between the readers", NULL);
}

/* What a clean message looks like: CRLF lines within the limits. */
static void
fuzz_msg_check(struct fuzz *f)
{
	const char	*p = f->out.data, *e = f->out.data + f->out.len;
	uint64_t	 linelen = 0;

	if (f->dr.flags != 0)
		return;
	if (f->cfg->max_message_size != 0 &&
	    f->dr.size > f->cfg->max_message_size)
		fuzz_fail("a message over the size limit, not marked", NULL);
	for (; p < e; p++) {
		if (*p == '\0')
			fuzz_fail("a NUL in a message not marked", NULL);
		if (*p == '\r' && (p + 1 == e || p[1] != '\n'))
			fuzz_fail("a bare CR in a message not marked", NULL);
		if (*p == '\n' && (p == f->out.data || p[-1] != '\r'))
			fuzz_fail("a bare LF in a message not marked", NULL);
		if (*p == '\r' || *p == '\n')
			linelen = 0;
		else if (++linelen > f->cfg->max_line_length &&
		    f->cfg->max_line_length != 0)
			fuzz_fail("a line over the limit, not marked", NULL);
	}
	if (f->out.len > 0 && (f->out.len < 2 ||
	    memcmp(e - 2, "\r\n", 2) != 0))
		fuzz_fail("a message that does not end with CRLF", NULL);
}

static enum smtp_data_status
fuzz_msg_status(struct fuzz *f)
{
	return smtp_reply_data_status(f->dr.flags, (f->env & ENV_WERR) != 0);
}

/* Octets "written" to the file: Received header plus a clean message. */
static uint64_t
fuzz_msg_written(struct fuzz *f)
{
	return f->dr.flags == 0 && !(f->env & ENV_WERR) ?
	    f->written + f->out.len : f->written;
}

/* ---- actions ---- */

static int
fuzz_local_rcpt(struct fuzz *f, const char *addr)
{
	const char	*at = strrchr(addr, '@');

	if (at == NULL)
		return strcasecmp(addr, "postmaster") == 0;
	return config_is_local_domain(f->cfg, at + 1);
}

static void
fuzz_check_commit(struct fuzz *f)
{
	size_t	i;

	if (f->s.nrcpt == 0)
		fuzz_fail("a commit without recipients", NULL);
	if (strcmp(f->s.qid, FUZZ_QID) != 0)
		fuzz_fail("a commit of a message that was not opened",
		    f->s.qid);
	if (f->msg_bad)
		fuzz_fail("a commit of a message the reader refused", NULL);
	if (f->s.kind == LISTEN_SUBMISSION && !f->s.tls)
		fuzz_fail("a commit on a submission listener without TLS",
		    NULL);
	if (f->env & ENV_RELAY)
		return;
	for (i = 0; i < f->s.nrcpt; i++)
		if (!fuzz_local_rcpt(f, f->s.rcpts[i].addr))
			fuzz_fail("a non-local recipient accepted from a "
			    "client outside the relay networks",
			    f->s.rcpts[i].addr);
}

static int
fuzz_lookup(struct fuzz *f)
{
	switch ((f->env & ENV_LOOKUP) >> 5) {
	case 1:
		return LOOKUP_FOUND;
	case 2:
		return LOOKUP_NOTFOUND;
	case 3:
		return LOOKUP_TEMPFAIL;
	}
	if (strcmp(f->s.lookup_local, "root") == 0 ||
	    strcmp(f->s.lookup_local, "postmaster") == 0 ||
	    strcmp(f->s.lookup_local, "alice") == 0)
		return LOOKUP_FOUND;
	return LOOKUP_NOTFOUND;
}

static void fuzz_act(struct fuzz *f, enum smtp_action a,
    const struct smtp_reply *r, int depth);

static void
fuzz_data_done(struct fuzz *f)
{
	struct smtp_reply	r;
	enum smtp_data_status	st;
	enum smtp_action	a;
	unsigned		n;

	fuzz_msg_check(f);
	st = fuzz_msg_status(f);
	if (st != SMTP_DATA_OK)
		f->msg_bad = 1;
	f->mode = MODE_COMMAND;
	(void)strlcpy(f->verb, "DATA", sizeof(f->verb));
	fuzz_poison(&r);
	n = f->s.nerrors;
	a = smtp_session_data_done(&f->s, st, fuzz_msg_written(f), &r);
	fuzz_check_errors(f, a, &r, n);
	if (st != SMTP_DATA_OK && a == SMTP_A_COMMIT)
		fuzz_fail("a commit after a bad message", NULL);
	fuzz_act(f, a, &r, 0);
}

static void
fuzz_chunk_done(struct fuzz *f)
{
	struct smtp_reply	r;
	enum smtp_data_status	st;
	enum smtp_action	a;
	unsigned		n;

	if (f->s.chunk_last) {
		fuzz_msg_last(f);
		fuzz_msg_check(f);
	}
	st = fuzz_msg_status(f);
	if (st != SMTP_DATA_OK)
		f->msg_bad = 1;
	f->mode = MODE_COMMAND;
	(void)strlcpy(f->verb, "BDAT", sizeof(f->verb));
	fuzz_poison(&r);
	n = f->s.nerrors;
	a = smtp_session_chunk_done(&f->s, st, fuzz_msg_written(f), &r);
	fuzz_check_errors(f, a, &r, n);
	if (st != SMTP_DATA_OK && a == SMTP_A_COMMIT)
		fuzz_fail("a commit after a bad chunk", NULL);
	fuzz_act(f, a, &r, 0);
}

static void
fuzz_act(struct fuzz *f, enum smtp_action a, const struct smtp_reply *r,
    int depth)
{
	struct smtp_reply	r2;
	unsigned		reason, n;

	if (depth > 8)
		fuzz_fail("an endless chain of actions", NULL);
	switch (a) {
	case SMTP_A_REPLY:
		fuzz_check_reply(f, r, 0);
		break;
	case SMTP_A_CLOSE:
		fuzz_check_reply(f, r, 0);
		f->closing = 1;
		break;
	case SMTP_A_LOOKUP:
		fuzz_poison(&r2);
		n = f->s.nerrors;
		a = smtp_session_lookup_result(&f->s, fuzz_lookup(f), &r2);
		fuzz_check_errors(f, a, &r2, n);
		fuzz_act(f, a, &r2, depth + 1);
		break;
	case SMTP_A_OPEN:
		fuzz_poison(&r2);
		n = f->s.nerrors;
		if (f->env & ENV_OPENFAIL) {
			reason = (f->env & ENV_SPACELOW) ? QFAIL_NOSPACE :
			    QFAIL_TEMP;
			a = smtp_session_open_result(&f->s, NULL, (int)reason,
			    &r2);
		} else {
			f->msg_open = 0;
			a = smtp_session_open_result(&f->s, FUZZ_QID, 0, &r2);
		}
		fuzz_check_errors(f, a, &r2, n);
		fuzz_act(f, a, &r2, depth + 1);
		break;
	case SMTP_A_DATA:
		fuzz_check_reply(f, r, 0);
		if (r->code != 354)
			fuzz_fail("SMTP_A_DATA without 354", r->text);
		fuzz_msg_start(f, 0);
		f->mode = MODE_DATA;
		break;
	case SMTP_A_COMMIT:
		fuzz_check_commit(f);
		f->msg_open = 0;
		reason = (f->env & ENV_COMMITFAIL) ? QFAIL_TEMP : 0;
		fuzz_poison(&r2);
		n = f->s.nerrors;
		a = smtp_session_commit_result(&f->s, (int)reason, &r2);
		fuzz_check_errors(f, a, &r2, n);
		fuzz_act(f, a, &r2, depth + 1);
		break;
	case SMTP_A_ABORT:
		fuzz_check_reply(f, r, 0);
		f->msg_open = 0;
		break;
	case SMTP_A_STARTTLS:
		fuzz_check_reply(f, r, 0);
		if (r->code != 220)
			fuzz_fail("SMTP_A_STARTTLS without 220", r->text);
		/* Whatever was read with STARTTLS is dropped. */
		f->pos = f->avail;
		if (f->env & ENV_TLSFAIL) {
			smtp_session_closed(&f->s, SMTP_CLOSE_ERROR);
			f->closing = 1;
			break;
		}
		smtp_session_tls_done(&f->s, "TLSv1.2",
		    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384");
		if (f->s.state != SMTP_INIT || !f->s.tls || f->s.opened ||
		    f->s.nrcpt != 0)
			fuzz_fail("no fresh session after the handshake", NULL);
		break;
	case SMTP_A_CHUNK:
		if (!f->msg_open)
			fuzz_msg_start(f, 1);
		f->chunk_left = f->s.chunk_size;
		f->mode = MODE_CHUNK;
		break;
	case SMTP_A_SKIP:
		fuzz_check_reply(f, r, 0);
		f->chunk_left = f->s.chunk_size;
		f->mode = MODE_SKIP;
		break;
	}
}

/* ---- input ---- */

/* The next read: more of the input becomes available. */
static int
fuzz_read(struct fuzz *f)
{
	size_t	n;

	if (f->avail >= f->len)
		return 0;
	if (f->env & ENV_BIGREADS)
		n = f->len - f->avail;
	else {
		f->rng = f->rng * 1103515245u + 12345u;
		n = 1 + (f->rng >> 16) % 97;
	}
	if (n > f->len - f->avail)
		n = f->len - f->avail;
	f->avail += n;
	return 1;
}

static int
fuzz_step_command(struct fuzz *f)
{
	struct smtp_reply	 r;
	enum smtp_action	 a;
	const char		*p = (const char *)f->in + f->pos, *nl;
	size_t			 left = f->avail - f->pos, len, i;
	unsigned		 n;

	size_t			 max = f->cfg->max_command_line;

	nl = memchr(p, '\n', left < max ? left : max);
	for (i = 0; i < 4 && i < left && p[i] != ' ' && p[i] != '\r' &&
	    p[i] != '\n'; i++)
		f->verb[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 :
		    p[i]);
	f->verb[i] = '\0';
	fuzz_poison(&r);
	n = f->s.nerrors;
	if (nl != NULL) {
		len = (size_t)(nl - p) + 1;
		f->pos += len;
		a = smtp_session_command(&f->s, p, len, &r);
	} else if (left >= max) {
		f->mode = MODE_DISCARD;
		a = smtp_session_line_too_long(&f->s, &r);
	} else
		return 0;
	fuzz_check_errors(f, a, &r, n);
	fuzz_act(f, a, &r, 0);
	return 1;
}

static int
fuzz_step(struct fuzz *f)
{
	const char	*p = (const char *)f->in + f->pos, *nl;
	size_t		 left = f->avail - f->pos, n;

	switch (f->mode) {
	case MODE_COMMAND:
		return fuzz_step_command(f);
	case MODE_DISCARD:
		if ((nl = memchr(p, '\n', left)) == NULL) {
			f->pos = f->avail;
			return 0;
		}
		f->pos += (size_t)(nl - p) + 1;
		f->mode = MODE_COMMAND;
		return 1;
	case MODE_DATA:
		if (left == 0)
			return 0;
		f->pos += fuzz_msg_feed(f, p, left);
		if (f->dr.done)
			fuzz_data_done(f);
		return 1;
	case MODE_CHUNK:
	case MODE_SKIP:
		n = left < f->chunk_left ? left : (size_t)f->chunk_left;
		if (n == 0 && f->chunk_left != 0)
			return 0;
		if (f->mode == MODE_CHUNK && n > 0 &&
		    fuzz_msg_feed(f, p, n) != n)
			fuzz_fail("the chunked reader did not take a chunk",
			    NULL);
		f->pos += n;
		f->chunk_left -= n;
		if (f->chunk_left == 0) {
			if (f->mode == MODE_CHUNK)
				fuzz_chunk_done(f);
			else
				f->mode = MODE_COMMAND;
		}
		return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_server	 srv;
	struct fuzz			 f;
	struct smtp_reply		 r;
	unsigned			 i;

	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	f.env = (unsigned)data[0] | (unsigned)data[1] << 8;
	f.in = data + 2;
	f.len = size - 2;
	f.rng = f.env;
	f.cfg = fuzz_config(f.env);
	buf_init(&f.out);
	buf_init(&f.out1);

	srv.cfg = f.cfg;
	srv.space_low = (f.env & ENV_SPACELOW) != 0;
	smtp_session_init(&f.s, &srv, 1, (f.env & ENV_RELAY) ? "127.0.0.1" :
	    "192.0.2.7", (f.env & ENV_RELAY) != 0);
	smtp_session_setup(&f.s, (enum listener_kind)((f.env & ENV_KIND) >> 2
	    == 3 ? LISTEN_SMTP : (f.env & ENV_KIND) >> 2),
	    (f.env & ENV_TLS_OFFER) != 0);
	if (f.s.kind == LISTEN_TLS)
		smtp_session_tls_done(&f.s, "TLSv1.2",
		    "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256");
	smtp_session_greeting(&f.s, &r);
	fuzz_check_reply(&f, &r, 1);

	/* Every step consumes input or ends a state; reads are finite. */
	for (i = 0; i < 4 * (size + 16) && !f.closing &&
	    f.s.state != SMTP_CLOSED; i++) {
		if (!fuzz_step(&f) && !fuzz_read(&f))
			break;
	}
	if (!f.closing && f.s.state != SMTP_CLOSED &&
	    (f.env & (ENV_TIMEOUT | ENV_SHUTDOWN))) {
		/* As the driver ends a session: the message goes first. */
		(void)smtp_session_abandon(&f.s);
		if (f.env & ENV_TIMEOUT)
			smtp_session_timeout(&f.s, &r);
		else
			smtp_session_shutdown(&f.s, &r);
		(void)strlcpy(f.verb, "", sizeof(f.verb));
		fuzz_check_reply(&f, &r, 0);
		if (r.code != 421)
			fuzz_fail("a timeout or shutdown without 421", r.text);
	}
	smtp_session_closed(&f.s, SMTP_CLOSE_EOF);
	(void)smtp_session_abandon(&f.s);
	smtp_session_free(&f.s);
	buf_free(&f.out);
	buf_free(&f.out1);
	return 0;
}
