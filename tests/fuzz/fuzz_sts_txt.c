/*
 * fuzz_sts_txt.c - libFuzzer target for the MTA-STS TXT record reader
 * (sts/sts_txt.c; rules 2 and 3).
 *
 * Input: the records of one TXT answer, separated by LF (a record may
 * hold any other byte, NUL too).  Beyond the sanitizers it checks: an id
 * only with STS_TXT_OK, of 1 to 32 letters or digits, found in the input
 * after "id="; a printable reason otherwise; the same answer whatever
 * the order of the records; and the same answer with one more record that
 * is not STSv1 beside them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts_txt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RECS	16

struct fuzz_out {
	enum sts_txt_status	st;
	char			id[STS_ID_MAX + 1];
	char			why[96];
};

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_sts_txt: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static size_t
fuzz_split(const uint8_t *data, size_t size, struct sts_txt_rec *recs)
{
	const char	*s = (const char *)data, *end = s + size, *nl;
	size_t		 n = 0;

	while (s <= end && n < FUZZ_RECS) {
		nl = memchr(s, '\n', (size_t)(end - s));
		recs[n].data = s;
		recs[n].len = (size_t)((nl != NULL ? nl : end) - s);
		n++;
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return n;
}

static void
fuzz_check(const struct fuzz_out *o, const uint8_t *data, size_t size)
{
	size_t	i, len = strlen(o->id);
	char	key[STS_ID_MAX + 4];

	if (o->st != STS_TXT_OK) {
		if (len != 0 || o->why[0] == '\0')
			fuzz_fail("a failure with an id or without a reason",
			    o->why);
		for (i = 0; o->why[i] != '\0'; i++)
			if (o->why[i] < 0x20 || o->why[i] > 0x7e)
				fuzz_fail("a reason not printable", NULL);
		return;
	}
	if (len < 1 || len > STS_ID_MAX || o->why[0] != '\0')
		fuzz_fail("an id of a bad length, or a reason", o->id);
	for (i = 0; i < len; i++)
		if (!((o->id[i] >= 'a' && o->id[i] <= 'z') ||
		    (o->id[i] >= 'A' && o->id[i] <= 'Z') ||
		    (o->id[i] >= '0' && o->id[i] <= '9')))
			fuzz_fail("an id not of letters and digits", o->id);
	(void)snprintf(key, sizeof(key), "id=%s", o->id);
	if (memmem(data, size, key, strlen(key)) == NULL)
		fuzz_fail("an id not in the input", o->id);
}

static void
fuzz_run(const struct sts_txt_rec *recs, size_t n, struct fuzz_out *o)
{
	memset(o, 0, sizeof(*o));
	o->st = sts_txt_parse(recs, n, o->id, o->why, sizeof(o->why));
}

static void
fuzz_same(const struct fuzz_out *a, const struct fuzz_out *b,
    const char *what)
{
	if (a->st != b->st || strcmp(a->id, b->id) != 0)
		fuzz_fail(what, b->why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 spf[] = "v=spf1 -all";
	struct sts_txt_rec	 recs[FUZZ_RECS + 1], rev[FUZZ_RECS];
	struct fuzz_out		 a, b;
	size_t			 n, i;

	n = fuzz_split(data, size, recs);
	fuzz_run(recs, n, &a);
	fuzz_check(&a, data, size);
	for (i = 0; i < n; i++)
		rev[i] = recs[n - 1 - i];
	fuzz_run(rev, n, &b);
	fuzz_same(&a, &b, "another answer with the records reversed");
	recs[n].data = spf;
	recs[n].len = sizeof(spf) - 1;
	fuzz_run(recs, n + 1, &b);
	fuzz_same(&a, &b, "another answer with an SPF record beside");
	(void)sts_txt_status_str(a.st);
	return 0;
}
