/*
 * sts_record.c - the stored form of an MTA-STS cache entry
 * (sts_entry_encode / sts_entry_decode of sts_state.h; rule 26).
 *
 * One record, version 1, integers big-endian, every string with its
 * length in front and no NUL inside:
 *   "STS" 0x01                magic and version
 *   u8  flags                 bit 0: a policy is held; no other bit set
 *   u8  + domain              1 to 255 of a-z 0-9 '-' '.' '_'
 *   u8  + id                  1 to 32 letters or digits with a policy,
 *                             none without
 *   with a policy only:
 *     u32 + raw               the policy text, at most STS_BODY_MAX
 *     u8 mode, u32 max_age    the parsed policy ...
 *     u8 nmx, nmx * (u16 + mx)  ... its mx values in order
 *   u64 fetched, expires, last_use, next_refresh
 *   u8  + error_id            0 to 32 letters or digits
 *   u64 error_time
 *   u16 + last_error          below STS_ERROR_MAX
 *   u64 backoff_until
 * and nothing after.  Decoding accepts only this canonical form (so a
 * decoded entry encodes to the same bytes), parses raw again with
 * sts_policy_parse and requires the stored parse to be the same, and the
 * expiry to be fetched + max_age.  Pure: no I/O, no clock.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "sts/sts_state.h"

#define STS_RECORD_MAGIC	"STS"
#define STS_RECORD_VERSION	1
#define STS_RECORD_HAS_POLICY	0x01

/* ---- writing ---- */

static void
sts_record_u8(struct buf *b, uint8_t v)
{
	buf_add(b, &v, 1);
}

static void
sts_record_uint(struct buf *b, uint64_t v, size_t n)
{
	uint8_t	tmp[8];
	size_t	i;

	for (i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	buf_add(b, tmp, n);
}

/* A string with an n-byte length; -1 when it is longer than max. */
static int
sts_record_str(struct buf *b, const char *s, size_t len, size_t n,
    size_t max)
{
	if (len > max)
		return -1;
	sts_record_uint(b, len, n);
	buf_add(b, s, len);
	return 0;
}

static int
sts_record_put_policy(struct buf *b, const struct sts_entry *e)
{
	size_t	i;

	if (e->raw == NULL || sts_record_str(b, e->raw, e->rawlen, 4,
	    STS_BODY_MAX) == -1)
		return -1;
	if (e->pol.nmx > STS_MX_MAX)
		return -1;
	sts_record_u8(b, (uint8_t)e->pol.mode);
	sts_record_uint(b, e->pol.max_age, 4);
	sts_record_u8(b, (uint8_t)e->pol.nmx);
	for (i = 0; i < e->pol.nmx; i++)
		if (sts_record_str(b, e->pol.mx[i], strlen(e->pol.mx[i]), 2,
		    UINT16_MAX) == -1)
			return -1;
	return 0;
}

static int
sts_record_put(struct buf *b, const struct sts_entry *e)
{
	buf_add(b, STS_RECORD_MAGIC, 3);
	sts_record_u8(b, STS_RECORD_VERSION);
	sts_record_u8(b, e->has_policy ? STS_RECORD_HAS_POLICY : 0);
	if (sts_record_str(b, e->domain, strlen(e->domain), 1,
	    STS_DOMAIN_MAX) == -1 ||
	    sts_record_str(b, e->id, e->has_policy ? strlen(e->id) : 0, 1,
	    STS_ID_MAX) == -1)
		return -1;
	if (e->has_policy && sts_record_put_policy(b, e) == -1)
		return -1;
	sts_record_uint(b, e->fetched, 8);
	sts_record_uint(b, e->expires, 8);
	sts_record_uint(b, e->last_use, 8);
	sts_record_uint(b, e->next_refresh, 8);
	if (sts_record_str(b, e->error_id, strlen(e->error_id), 1,
	    STS_ID_MAX) == -1)
		return -1;
	sts_record_uint(b, e->error_time, 8);
	if (sts_record_str(b, e->last_error, strlen(e->last_error), 2,
	    STS_ERROR_MAX - 1) == -1)
		return -1;
	sts_record_uint(b, e->backoff_until, 8);
	return 0;
}

/*
 * -1 only for what the form cannot hold (a string too long, no raw text
 * with a policy); what it holds is checked by sts_entry_decode, so a
 * writer that must not store a record decode would refuse decodes the
 * result once (sts_cache_put does).
 */
int
sts_entry_encode(const struct sts_entry *e, uint8_t **out, size_t *len)
{
	struct buf	b;

	buf_init(&b);
	if (sts_record_put(&b, e) == -1) {
		buf_free(&b);
		return -1;
	}
	*len = b.len;
	*out = xmalloc(b.len > 0 ? b.len : 1);
	memcpy(*out, b.data, b.len);
	buf_free(&b);
	return 0;
}

/* ---- reading ---- */

struct sts_reader {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	char		*why;
	size_t		 whylen;
};

/* Always -1, with why telling which field and where. */
static int
sts_reader_fail(struct sts_reader *r, const char *field, const char *what)
{
	(void)bsnprintf(r->why, r->whylen, "record offset %zu: %s %s",
	    r->off, field, what);
	return -1;
}

static int
sts_reader_uint(struct sts_reader *r, size_t n, uint64_t *v,
    const char *field)
{
	size_t	i;

	if (r->len - r->off < n)
		return sts_reader_fail(r, field, "truncated");
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v << 8 | r->p[r->off + i];
	r->off += n;
	return 0;
}

/* A string of an n-byte length from min to max bytes, none a NUL, into
 * a malloc'd, NUL-terminated copy. */
static int
sts_reader_str(struct sts_reader *r, size_t n, size_t min, size_t max,
    const char *field, char **s, size_t *slen)
{
	uint64_t	len;

	if (sts_reader_uint(r, n, &len, field) == -1)
		return -1;
	if (len < min || len > max)
		return sts_reader_fail(r, field, "of a bad length");
	if (r->len - r->off < len)
		return sts_reader_fail(r, field, "truncated");
	if (memchr(r->p + r->off, '\0', len) != NULL)
		return sts_reader_fail(r, field, "holding a NUL");
	*s = xstrndup((const char *)r->p + r->off, len);
	*slen = len;
	r->off += len;
	return 0;
}

/* The same into a fixed buffer of at least max + 1 bytes, every byte
 * passing ok. */
static int
sts_reader_fixed(struct sts_reader *r, size_t n, size_t min, size_t max,
    int (*ok)(int), const char *field, char *dst)
{
	char	*s;
	size_t	 len, i;

	if (sts_reader_str(r, n, min, max, field, &s, &len) == -1)
		return -1;
	for (i = 0; i < len; i++)
		if (ok != NULL && !ok((unsigned char)s[i])) {
			free(s);
			return sts_reader_fail(r, field,
			    "holding a forbidden byte");
		}
	memcpy(dst, s, len + 1);
	free(s);
	return 0;
}

static int
sts_record_domain_byte(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_';
}

static int
sts_record_id_byte(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
sts_record_head(struct sts_reader *r, struct sts_entry *e)
{
	uint64_t	v, flags;

	if (r->len < 4 || memcmp(r->p, STS_RECORD_MAGIC, 3) != 0)
		return sts_reader_fail(r, "magic", "missing");
	r->off = 3;
	if (sts_reader_uint(r, 1, &v, "version") == -1)
		return -1;
	if (v != STS_RECORD_VERSION)
		return sts_reader_fail(r, "version", "unknown");
	if (sts_reader_uint(r, 1, &flags, "flags") == -1)
		return -1;
	if ((flags & ~(uint64_t)STS_RECORD_HAS_POLICY) != 0)
		return sts_reader_fail(r, "flags", "with an unknown bit");
	e->has_policy = (flags & STS_RECORD_HAS_POLICY) != 0;
	if (sts_reader_fixed(r, 1, 1, STS_DOMAIN_MAX, sts_record_domain_byte,
	    "domain", e->domain) == -1)
		return -1;
	return sts_reader_fixed(r, 1, e->has_policy ? 1 : 0,
	    e->has_policy ? STS_ID_MAX : 0, sts_record_id_byte, "id", e->id);
}

/* The stored parse must be what the parser makes of raw now. */
static int
sts_record_same_policy(struct sts_reader *r, const struct sts_policy *a,
    const struct sts_policy *b)
{
	size_t	i;

	if (a->mode != b->mode || a->max_age != b->max_age ||
	    a->nmx != b->nmx)
		return sts_reader_fail(r, "policy", "not that of its text");
	for (i = 0; i < a->nmx; i++)
		if (strcmp(a->mx[i], b->mx[i]) != 0)
			return sts_reader_fail(r, "mx",
			    "not that of its text");
	return 0;
}

static int
sts_record_stored_policy(struct sts_reader *r, struct sts_policy *p)
{
	uint64_t	mode, max_age, nmx;
	size_t		len;

	if (sts_reader_uint(r, 1, &mode, "mode") == -1 ||
	    sts_reader_uint(r, 4, &max_age, "max_age") == -1 ||
	    sts_reader_uint(r, 1, &nmx, "mx count") == -1)
		return -1;
	if (mode > STS_MODE_ENFORCE || max_age > STS_MAX_AGE_MAX ||
	    nmx > STS_MX_MAX)
		return sts_reader_fail(r, "policy", "out of range");
	p->mode = (enum sts_mode)mode;
	p->max_age = (uint32_t)max_age;
	while (p->nmx < nmx)
		if (sts_reader_str(r, 2, 0, UINT16_MAX, "mx",
		    &p->mx[p->nmx++], &len) == -1)
			return -1;
	return 0;
}

static int
sts_record_policy(struct sts_reader *r, struct sts_entry *e)
{
	struct sts_policy	stored;
	char			pwhy[STS_ERROR_MAX];
	int			rc;

	if (sts_reader_str(r, 4, 0, STS_BODY_MAX, "raw", &e->raw,
	    &e->rawlen) == -1)
		return -1;
	if (sts_policy_parse(e->raw, e->rawlen, &e->pol, pwhy,
	    sizeof(pwhy)) == -1)
		return sts_reader_fail(r, "raw", "not a valid policy");
	memset(&stored, 0, sizeof(stored));
	rc = sts_record_stored_policy(r, &stored);
	if (rc == 0)
		rc = sts_record_same_policy(r, &stored, &e->pol);
	sts_policy_free(&stored);
	return rc;
}

static int
sts_record_times(struct sts_reader *r, struct sts_entry *e)
{
	if (sts_reader_uint(r, 8, &e->fetched, "fetched") == -1 ||
	    sts_reader_uint(r, 8, &e->expires, "expires") == -1 ||
	    sts_reader_uint(r, 8, &e->last_use, "last_use") == -1 ||
	    sts_reader_uint(r, 8, &e->next_refresh, "next_refresh") == -1)
		return -1;
	/* Rule 26: the expiry is the fetch time plus max_age. */
	if (e->has_policy && (e->fetched > UINT64_MAX - e->pol.max_age ||
	    e->expires != e->fetched + e->pol.max_age))
		return sts_reader_fail(r, "expires", "not fetched + max_age");
	return 0;
}

static int
sts_record_error(struct sts_reader *r, struct sts_entry *e)
{
	if (sts_reader_fixed(r, 1, 0, STS_ID_MAX, sts_record_id_byte,
	    "error_id", e->error_id) == -1 ||
	    sts_reader_uint(r, 8, &e->error_time, "error_time") == -1 ||
	    sts_reader_fixed(r, 2, 0, STS_ERROR_MAX - 1, NULL, "last_error",
	    e->last_error) == -1 ||
	    sts_reader_uint(r, 8, &e->backoff_until, "backoff_until") == -1)
		return -1;
	if (r->off != r->len)
		return sts_reader_fail(r, "end", "followed by more bytes");
	return 0;
}

int
sts_entry_decode(const uint8_t *rec, size_t len, struct sts_entry *e,
    char *why, size_t whylen)
{
	struct sts_reader	r = { rec, len, 0, why, whylen };
	char			dummy[1];

	if (why == NULL || whylen == 0) {
		r.why = dummy;
		r.whylen = sizeof(dummy);
	}
	sts_entry_init(e, "");
	if (sts_record_head(&r, e) == -1 ||
	    (e->has_policy && sts_record_policy(&r, e) == -1) ||
	    sts_record_times(&r, e) == -1 || sts_record_error(&r, e) == -1) {
		sts_entry_free(e);
		sts_entry_init(e, "");
		return -1;
	}
	return 0;
}
