/*
 * fuzz_ctl.c - libFuzzer target for the control socket's text protocol
 * (ctl/ctl_proto.c): anyone on the host may connect to the socket, so the
 * request parser takes hostile input; strictmailctl parses the answers.
 *
 * Input: the octets of one line (NUL ends it early).  Beyond the
 * sanitizers it checks: a request that parses is written back by
 * ctl_proto_put_request as the same line; a reply line that parses
 * re-encodes to fields that decode to the same values; and any string
 * survives ctl_proto_put_field / ctl_proto_decode_field unchanged, with
 * no space or control byte in its encoding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *line)
{
	fprintf(stderr, "fuzz_ctl: %s: '%s'\n", what, line);
	abort();
}

static void
fuzz_request(const char *line)
{
	struct ctl_request	req;
	struct buf		b;
	char			err[128];

	if (ctl_proto_parse_request(line, &req, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			fuzz_fail("refused without a reason", line);
		return;
	}
	buf_init(&b);
	ctl_proto_put_request(&b, req.cmd, req.arg);
	buf_addch(&b, '\0');
	if (b.data[strlen(b.data) - 1] != '\n')
		fuzz_fail("request without LF", b.data);
	b.data[strlen(b.data) - 1] = '\0';
	if (strcmp(b.data, line) != 0)
		fuzz_fail("request does not round-trip", line);
	buf_free(&b);
}

static void
fuzz_field(const char *s)
{
	struct buf	 b;
	const char	*p;

	buf_init(&b);
	ctl_proto_put_field(&b, s);
	buf_addch(&b, '\0');
	for (p = b.data; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			fuzz_fail("space or control byte in a field", s);
	if (ctl_proto_decode_field(b.data) == -1 || strcmp(b.data, s) != 0)
		fuzz_fail("field does not round-trip", s);
	buf_free(&b);
}

static void
fuzz_reply(const char *line)
{
	struct ctl_reply	r;
	char			*copy = strdup(line);
	int			i;

	if (copy == NULL)
		abort();
	if (ctl_proto_parse_reply(copy, &r) == 0)
		for (i = 0; i < 4; i++)
			if (r.f[i] != NULL && r.type != CTL_R_ERROR)
				fuzz_field(r.f[i]);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*line = malloc(size + 1);

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	fuzz_request(line);
	fuzz_reply(line);
	fuzz_field(line);
	free(line);
	return 0;
}
