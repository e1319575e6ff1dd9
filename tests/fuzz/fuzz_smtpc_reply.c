/*
 * fuzz_smtpc_reply.c - libFuzzer target for the SMTP client's reply
 * reader and EHLO capabilities (delivery/smtpc_reply.c), and the client
 * session (delivery/smtpc.c) driven by what a hostile server sends.
 *
 * Input: an environment byte (TLS level, handshake result, what the
 * message needs, a second message on the same session), a byte that
 * sets the size of the reads, then the octets the server sends.
 *
 * Beyond the sanitizers it checks: the same replies and the same error
 * whether the octets come at once or in pieces; every reply within the
 * limits of smtpc_reply.h (code, lines, text without NUL, enhanced code
 * of the reply's class); and from the session, no fatal() for anything a
 * server sends, command lines that end in CRLF, and an outcome for every
 * recipient whenever the session is ready again or closed, "sent" only
 * for a recipient whose RCPT was accepted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/proto.h"
#include "common/util.h"
#include "delivery/smtpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENV_LEVEL	0x07	/* % 5: enum smtpc_tls_level */
#define ENV_TLSFAIL	0x08	/* the handshake fails */
#define ENV_8BIT	0x10
#define ENV_UTF8	0x20
#define ENV_DSN		0x40
#define ENV_TWICE	0x80	/* a second message on the session */

#define FUZZ_NRCPT	3

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_smtpc_reply: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static uint64_t
fuzz_hash(const struct smtpc_reply *r)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	h = (h ^ (uint64_t)r->code) * 1099511628211ULL;
	h = (h ^ (uint64_t)r->nlines) * 1099511628211ULL;
	for (i = 0; r->enh[i] != '\0'; i++)
		h = (h ^ (unsigned char)r->enh[i]) * 1099511628211ULL;
	for (i = 0; i < r->len; i++)
		h = (h ^ (unsigned char)r->text[i]) * 1099511628211ULL;
	return h;
}

static void
fuzz_check_reply(const struct smtpc_reply *r)
{
	struct smtpc_caps	c;
	char			sum[SMTPC_SUMMARY_MAX];
	size_t			i;

	if (r->code < 200 || r->code > 559 || r->code % 100 > 59)
		fuzz_fail("a reply code out of range", NULL);
	if (r->nlines < 1 || r->nlines > SMTPC_REPLY_LINES_MAX)
		fuzz_fail("a reply with a bad number of lines", NULL);
	if (r->len >= SMTPC_REPLY_TEXT_MAX || strlen(r->text) != r->len)
		fuzz_fail("reply text of a bad length or with a NUL", NULL);
	if (r->enh[0] != '\0' && (r->enh[0] != (char)('0' + r->code / 100) ||
	    r->enh[1] != '.' || strncmp(r->text, r->enh, strlen(r->enh)) != 0))
		fuzz_fail("an enhanced code not of the reply", r->enh);
	(void)smtpc_reply_summary(r, sum, sizeof(sum));
	for (i = 0; sum[i] != '\0'; i++)
		if ((unsigned char)sum[i] < 0x20 || sum[i] == 0x7f)
			fuzz_fail("a control octet in a summary", sum);
	smtpc_caps_parse(r, &c);
	if (r->code / 100 != 2 && c.flags != 0)
		fuzz_fail("capabilities from a refusal", NULL);
}

/* The reader alone: all at once, then one octet at a time; returns the
 * number of replies before the end or an error. */
static size_t
fuzz_reader(const uint8_t *in, size_t len, uint64_t *hashes)
{
	struct smtpc_rparser	p;
	struct smtpc_reply	r;
	enum smtpc_rstatus	st = SMTPC_RS_MORE;
	size_t			off = 0, used, n = 0, k = 0;
	char			err[SMTPC_REPLY_ERR_MAX];

	smtpc_rparser_init(&p);
	while (off < len && (st = smtpc_rparser_feed(&p, in + off, len - off,
	    &used, &r)) == SMTPC_RS_REPLY) {
		fuzz_check_reply(&r);
		hashes[n++] = fuzz_hash(&r);
		off += used;
	}
	if (st == SMTPC_RS_ERROR && p.error[0] == '\0')
		fuzz_fail("an error without a reason", NULL);
	(void)strlcpy(err, p.error, sizeof(err));

	smtpc_rparser_init(&p);
	for (off = 0; off < len; off++) {
		st = smtpc_rparser_feed(&p, in + off, 1, &used, &r);
		if (st == SMTPC_RS_ERROR)
			break;
		if (used != 1)
			fuzz_fail("one octet not taken", NULL);
		if (st == SMTPC_RS_REPLY && (k >= n || hashes[k++] !=
		    fuzz_hash(&r)))
			fuzz_fail("another reply octet by octet", NULL);
	}
	if (k != n || strcmp(err, p.error) != 0)
		fuzz_fail("another outcome octet by octet", p.error);
	return n;
}

/* ---- the session ---- */

struct fuzz {
	struct smtpc_settings	set;
	struct smtpc		c;
	struct smtpc_rparser	p;
	struct buf		out;
	struct smtpc_msg	m;
	struct smtpc_rcpt	r[FUZZ_NRCPT];
	unsigned		env;
	int			nmsg;		/* messages given */
	int			in_msg;
	int			quit;
};

/* Command lines end in CRLF, with no CR or LF inside. */
static void
fuzz_check_commands(const struct buf *b)
{
	size_t	i;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\r' && (i + 1 >= b->len ||
		    b->data[i + 1] != '\n'))
			fuzz_fail("a bare CR in a command", b->data);
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			fuzz_fail("a bare LF in a command", b->data);
	}
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		fuzz_fail("a command without its CRLF", b->data);
}

static void
fuzz_check_outcomes(struct fuzz *f)
{
	size_t	i;

	if (!f->in_msg)
		return;
	for (i = 0; i < f->m.nrcpt; i++) {
		if (f->r[i].out.status == SMTPC_PENDING)
			fuzz_fail("a recipient without an outcome", NULL);
		if (f->r[i].out.status == SMTPC_SENT && (!f->r[i].accepted ||
		    f->r[i].out.code / 100 != 2))
			fuzz_fail("sent without acceptance", NULL);
		if (f->r[i].out.enh[0] == '\0' ||
		    f->r[i].out.reason[0] == '\0')
			fuzz_fail("an outcome without code or reason", NULL);
	}
	f->in_msg = 0;
}

static void
fuzz_msg_init(struct fuzz *f)
{
	static const char *addrs[FUZZ_NRCPT] = { "a@example.com",
	    "b@example.com", "c@example.net" };
	size_t	i;

	memset(&f->m, 0, sizeof(f->m));
	memset(f->r, 0, sizeof(f->r));
	f->m.sender = "sender@example.org";
	f->m.size = 300;
	f->m.eightbit = (f->env & ENV_8BIT) != 0;
	f->m.smtputf8 = (f->env & ENV_UTF8) != 0;
	f->m.rcpts = f->r;
	f->m.nrcpt = FUZZ_NRCPT;
	for (i = 0; i < FUZZ_NRCPT; i++)
		f->r[i].addr = addrs[i];
	if (f->env & ENV_DSN) {
		f->m.ret = DSN_RET_HDRS;
		f->m.envid = "ID+2B1";
		f->r[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY;
		f->r[1].orcpt = "rfc822;b@example.com";
	}
}

/* Acts on a; returns 0 when the session is over. */
static int
fuzz_act(struct fuzz *f, enum smtpc_action a)
{
	/* Whole lines, cut after the first: command checks still hold. */
	static const char	body[] = "Subject: x\r\n\r\n.line\r\n";
	size_t			half = 12;

	for (;;) {
		if (a != SMTPC_A_CONTENT)
			fuzz_check_commands(&f->out);
		buf_reset(&f->out);
		switch (a) {
		case SMTPC_A_WAIT:
			return 1;
		case SMTPC_A_CLOSE:
			if (f->c.state != SMTPC_CLOSED)
				fuzz_fail("CLOSE from an open session", NULL);
			fuzz_check_outcomes(f);
			return 0;
		case SMTPC_A_STARTTLS:
			smtpc_rparser_reset(&f->p);
			a = smtpc_tls_done(&f->c, (f->env & ENV_TLSFAIL) ?
			    SMTPC_FAIL_TLS_HANDSHAKE : SMTPC_FAIL_NONE,
			    "handshake failed: fuzz", &f->out);
			break;
		case SMTPC_A_READY:
			fuzz_check_outcomes(f);
			if (f->nmsg < ((f->env & ENV_TWICE) ? 2 : 1)) {
				f->nmsg++;
				fuzz_msg_init(f);
				f->in_msg = 1;
				a = smtpc_mail(&f->c, &f->m, &f->out);
			} else {
				f->quit = 1;
				a = smtpc_quit(&f->c, &f->out);
			}
			break;
		case SMTPC_A_CONTENT:
			/* Two pieces, then the end. */
			a = smtpc_content(&f->c, body, half, 0, &f->out);
			if (a == SMTPC_A_CONTENT)
				a = smtpc_content(&f->c, body + half,
				    sizeof(body) - 1 - half, 1, &f->out);
			fuzz_check_commands(&f->out);
			break;
		}
	}
}

static void
fuzz_session(unsigned env, unsigned piece, const uint8_t *in, size_t len)
{
	struct fuzz		f;
	struct smtpc_reply	r;
	enum smtpc_rstatus	st;
	size_t			off = 0, n, used;
	int			live;

	memset(&f, 0, sizeof(f));
	f.env = env;
	smtpc_settings_default(&f.set);
	f.set.helo = "client.example";
	f.set.tls = (enum smtpc_tls_level)((env & ENV_LEVEL) % 5);
	/* Levels 5 to 7 (none, may, encrypt again) carry credentials: AUTH
	 * after TLS, refused without it. */
	if ((env & ENV_LEVEL) >= 5) {
		f.set.auth_user = "relayuser";
		f.set.auth_pass = "secret";
	}
	smtpc_init(&f.c, &f.set);
	smtpc_rparser_init(&f.p);
	buf_init(&f.out);
	live = fuzz_act(&f, smtpc_connected(&f.c, &f.out));
	while (live && off < len) {
		n = len - off < piece ? len - off : piece;
		st = smtpc_rparser_feed(&f.p, in + off, n, &used, &r);
		off += used;
		if (st == SMTPC_RS_ERROR)
			live = fuzz_act(&f, smtpc_abort(&f.c, f.p.error, 1,
			    &f.out));
		else if (st == SMTPC_RS_REPLY)
			live = fuzz_act(&f, smtpc_reply(&f.c, &r, &f.out));
	}
	if (live)
		(void)fuzz_act(&f, smtpc_abort(&f.c, "connection closed", 0,
		    &f.out));
	if (f.c.state != SMTPC_CLOSED)
		fuzz_fail("a session not closed at the end", NULL);
	smtpc_free(&f.c);
	buf_free(&f.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	*hashes;

	if (size < 2)
		return 0;
	hashes = calloc(size, sizeof(*hashes));
	if (hashes == NULL)
		abort();
	(void)fuzz_reader(data + 2, size - 2, hashes);
	free(hashes);
	fuzz_session(data[0], 1u + data[1], data + 2, size - 2);
	return 0;
}
