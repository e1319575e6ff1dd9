/*
 * fuzz_sts_record.c - libFuzzer target for the stored form of an MTA-STS
 * cache entry (sts_entry_encode / sts_entry_decode, sts/sts_record.c).
 *
 * Input: a mode byte, then
 *  - even mode: a record as the cache file could hold it.  A record that
 *    decodes must hold a lower-case domain, a policy only with an id and
 *    with the parse of its own text (sts_policy_parse), an expiry of
 *    fetched + max_age (rule 26), and must encode to the very same bytes;
 *    a refused one must say why and leave an empty entry.
 *  - odd mode: 16 bytes of times, a domain length, then a domain and an
 *    id (up to a NUL), then a policy text.  The entry sts_after_fetch
 *    makes of it (a policy when the text parses, else the failure) must
 *    encode, decode to the same entry and encode to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sts/sts_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_sts_record: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	abort();
}

static int
fuzz_same_policy(const struct sts_policy *a, const struct sts_policy *b)
{
	size_t	i;

	if (a->mode != b->mode || a->max_age != b->max_age ||
	    a->nmx != b->nmx)
		return 0;
	for (i = 0; i < a->nmx; i++)
		if (strcmp(a->mx[i], b->mx[i]) != 0)
			return 0;
	return 1;
}

static int
fuzz_same(const struct sts_entry *a, const struct sts_entry *b)
{
	return strcmp(a->domain, b->domain) == 0 &&
	    a->has_policy == b->has_policy && strcmp(a->id, b->id) == 0 &&
	    a->rawlen == b->rawlen && (a->rawlen == 0 ||
	    memcmp(a->raw, b->raw, a->rawlen) == 0) &&
	    fuzz_same_policy(&a->pol, &b->pol) && a->fetched == b->fetched &&
	    a->expires == b->expires && a->last_use == b->last_use &&
	    a->next_refresh == b->next_refresh &&
	    strcmp(a->error_id, b->error_id) == 0 &&
	    a->error_time == b->error_time &&
	    strcmp(a->last_error, b->last_error) == 0 &&
	    a->backoff_until == b->backoff_until;
}

/* What a decoded entry must be. */
static void
fuzz_check_entry(const struct sts_entry *e)
{
	struct sts_policy	p;
	char			why[256];
	size_t			i;

	if (e->domain[0] == '\0')
		fuzz_fail("an entry without a domain", NULL);
	for (i = 0; e->domain[i] != '\0'; i++)
		if (e->domain[i] >= 'A' && e->domain[i] <= 'Z')
			fuzz_fail("an upper-case domain", e->domain);
	if (!e->has_policy) {
		if (e->raw != NULL || e->id[0] != '\0' || e->pol.nmx != 0)
			fuzz_fail("policy parts without a policy", e->domain);
		return;
	}
	if (e->id[0] == '\0' || e->raw == NULL)
		fuzz_fail("a policy without its id or text", e->domain);
	if (e->expires != e->fetched + e->pol.max_age)
		fuzz_fail("an expiry other than fetched + max_age", NULL);
	if (sts_policy_parse(e->raw, e->rawlen, &p, why, sizeof(why)) != 0)
		fuzz_fail("a policy text the parser refuses", why);
	if (!fuzz_same_policy(&p, &e->pol))
		fuzz_fail("a policy other than the parse of its text", NULL);
	sts_policy_free(&p);
}

/* e encodes, decodes to itself and encodes to the same bytes; when rec
 * is given, those bytes are rec. */
static void
fuzz_round_trip(const struct sts_entry *e, const uint8_t *rec, size_t len)
{
	struct sts_entry	 back;
	uint8_t			*out, *out2;
	size_t			 olen, olen2;
	char			 why[256];

	if (sts_entry_encode(e, &out, &olen) != 0)
		fuzz_fail("an entry that does not encode", e->domain);
	if (rec != NULL && (olen != len || memcmp(out, rec, len) != 0))
		fuzz_fail("a decoded record encoding to other bytes", NULL);
	if (sts_entry_decode(out, olen, &back, why, sizeof(why)) != 0)
		fuzz_fail("an encoded entry that does not decode", why);
	if (!fuzz_same(e, &back))
		fuzz_fail("an entry that reads back otherwise", e->domain);
	if (sts_entry_encode(&back, &out2, &olen2) != 0 || olen2 != olen ||
	    memcmp(out, out2, olen) != 0)
		fuzz_fail("an entry encoding to other bytes the second time",
		    NULL);
	free(out);
	free(out2);
	sts_entry_free(&back);
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	struct sts_entry	e;
	char			why[256] = "";

	if (sts_entry_decode(data, size, &e, why, sizeof(why)) != 0) {
		if (why[0] == '\0')
			fuzz_fail("a refusal without a reason", NULL);
		if (e.has_policy || e.raw != NULL || e.pol.nmx != 0)
			fuzz_fail("a refused record leaving a policy", why);
		sts_entry_free(&e);
		return;
	}
	fuzz_check_entry(&e);
	fuzz_round_trip(&e, data, size);
	sts_entry_free(&e);
}

static uint64_t
fuzz_u64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
fuzz_build(const uint8_t *data, size_t size)
{
	static const struct sts_settings set = { 300, 86400, 15552000 };
	struct sts_entry	 e;
	struct sts_policy	 p;
	char			 dom[STS_DOMAIN_MAX + 1], id[STS_ID_MAX + 1];
	char			 why[STS_ERROR_MAX];
	const uint8_t		*nul;
	size_t			 dlen, off;
	uint64_t		 now;

	if (size < 17)
		return;
	/* Times within reach of the expiry sum: 48 bits. */
	now = fuzz_u64(data) >> 16;
	dlen = data[16] % 64 + 1;
	off = 17;
	if (size - off < dlen)
		return;
	(void)strlcpy(dom, "", sizeof(dom));
	memcpy(dom, data + off, dlen);
	dom[dlen] = '\0';
	off += dlen;
	if (strlen(dom) != dlen || strspn(dom,
	    "abcdefghijklmnopqrstuvwxyz0123456789-._") != dlen)
		return;
	nul = memchr(data + off, '\0', size - off);
	if (nul == NULL || (size_t)(nul - (data + off)) > STS_ID_MAX ||
	    nul == data + off)
		return;
	memcpy(id, data + off, (size_t)(nul - (data + off)) + 1);
	if (strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789") != strlen(id))
		return;
	off = (size_t)(nul - data) + 1;
	sts_entry_init(&e, dom);
	if (sts_policy_parse((const char *)data + off, size - off, &p, why,
	    sizeof(why)) == 0) {
		sts_after_fetch(&e, id, &p, (const char *)data + off,
		    size - off, NULL, now, &set, data[8]);
		sts_policy_free(&p);
	} else
		sts_after_fetch(&e, id, NULL, NULL, 0, why, now, &set, 0);
	e.last_use = fuzz_u64(data + 8);
	fuzz_check_entry(&e);
	fuzz_round_trip(&e, NULL, 0);
	sts_entry_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_build(data + 1, size - 1);
	else
		fuzz_decode(data + 1, size - 1);
	return 0;
}
