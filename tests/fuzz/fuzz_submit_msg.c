/*
 * fuzz_submit_msg.c - libFuzzer target for the canonicalization of a
 * message submitted through sendmail(8) (ctl/submit_msg.h): the input is
 * whatever a local user pipes in.
 *
 * Input: one byte of flags (bit 0: -i, bit 1: -t, bit 2: a 512-byte size
 * limit instead of 64 KiB), then the message.  Beyond the sanitizers it
 * checks: a refusal has a reason and a sysexits code; an accepted message
 * fits the limit, has CRLF on every line (no bare CR or LF, no NUL, no
 * line over SUBMIT_LINE_MAX), no Bcc field in its header, Date,
 * Message-ID and From each at least once, recipients without control
 * bytes or a leading '-'; and canonicalizing it again (with -i) gives
 * the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "ctl/submit_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_submit_msg: %s\n", what);
	abort();
}

static struct submit_params
fuzz_params(uint8_t flags)
{
	struct submit_params	p;

	memset(&p, 0, sizeof(p));
	p.ignore_dots = flags & 1;
	p.extract_rcpts = (flags >> 1) & 1;
	p.max_size = (flags & 4) ? 512 : 65536;
	p.now = 1796202894;
	p.hostname = "host.example";
	p.pid = 1;
	p.from_addr = "user@host.example";
	p.from_name = "A \"User\"";
	return p;
}

/* Lines end in CRLF, nothing else holds CR, LF or NUL; header checks. */
static void
fuzz_check_lines(const struct buf *m)
{
	size_t	i, start = 0;
	int	in_header = 1, date = 0, msgid = 0, from = 0;

	if (m->len < 2 || m->data[m->len - 2] != '\r' ||
	    m->data[m->len - 1] != '\n')
		fuzz_fail("the message does not end in CRLF");
	for (i = 0; i < m->len; i++) {
		if (m->data[i] == '\0')
			fuzz_fail("a NUL byte in the output");
		if (m->data[i] == '\r' && (i + 1 >= m->len ||
		    m->data[i + 1] != '\n'))
			fuzz_fail("a bare CR in the output");
		if (m->data[i] == '\n' && (i == 0 || m->data[i - 1] != '\r'))
			fuzz_fail("a bare LF in the output");
		if (m->data[i] != '\n')
			continue;
		if (i - 1 - start > SUBMIT_LINE_MAX)
			fuzz_fail("a line over the limit");
		if (i - 1 == start)
			in_header = 0;
		if (in_header) {
			if (strncasecmp(m->data + start, "bcc", 3) == 0 &&
			    strchr(": \t", m->data[start + 3]) != NULL)
				fuzz_fail("a Bcc field in the output");
			date |= strncasecmp(m->data + start, "date", 4) == 0;
			msgid |= strncasecmp(m->data + start, "message-id", 10)
			    == 0;
			from |= strncasecmp(m->data + start, "from", 4) == 0;
		}
		start = i + 1;
	}
	if (!date || !msgid || !from)
		fuzz_fail("Date, Message-ID or From missing");
}

static void
fuzz_check_rcpts(const struct submit_result *r)
{
	size_t		 i;
	const char	*s;

	if (r->nrcpts > SUBMIT_RCPT_MAX)
		fuzz_fail("too many recipients");
	for (i = 0; i < r->nrcpts; i++) {
		if (r->rcpts[i][0] == '\0' || r->rcpts[i][0] == '-')
			fuzz_fail("an empty recipient or a leading '-'");
		for (s = r->rcpts[i]; *s != '\0'; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				fuzz_fail("a control byte in a recipient");
	}
}

/* The output canonicalized again, with -i, is the same. */
static void
fuzz_again(const struct submit_params *p0, const struct buf *m)
{
	struct submit_params	p = *p0;
	struct submit_result	r;
	char			err[256];

	p.ignore_dots = 1;
	if (submit_msg_canon(&p, m->data, m->len, &r, err, sizeof(err)) != 0)
		fuzz_fail("the output is refused when submitted again");
	if (r.msg.len != m->len || memcmp(r.msg.data, m->data, m->len) != 0)
		fuzz_fail("the output changes when submitted again");
	if (r.added != 0)
		fuzz_fail("headers added a second time");
	submit_result_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct submit_params	p;
	struct submit_result	r;
	char			err[256];
	int			rc;

	if (size < 1)
		return 0;
	p = fuzz_params(data[0]);
	rc = submit_msg_canon(&p, (const char *)data + 1, size - 1, &r, err,
	    sizeof(err));
	if (rc != 0) {
		if (rc != EX_DATAERR || err[0] == '\0')
			fuzz_fail("a refusal without EX_DATAERR and a reason");
		if (r.nrcpts != 0 || r.rcpts != NULL)
			fuzz_fail("recipients left after a refusal");
		return 0;
	}
	if (r.msg.len > p.max_size)
		fuzz_fail("the message is over the size limit");
	fuzz_check_lines(&r.msg);
	fuzz_check_rcpts(&r);
	fuzz_again(&p, &r.msg);
	submit_result_free(&r);
	return 0;
}
