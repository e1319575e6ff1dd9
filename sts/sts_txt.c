/*
 * sts_txt.c - the MTA-STS TXT record (rules 2 and 3 of
 * ../shared/spec/mta-sts.md).
 *
 * Records, not strings, are counted: the caller joined each record's
 * strings.  Only the records that begin "v=STSv1", optional SP/HTAB, ';'
 * count; exactly one must be left, with "id=" of 1 to 32 letters or
 * digits as a field of its own (the first id= wins; fields that are not
 * "id=..." are ignored, empty ones too).  Everything is read with
 * lengths, so a NUL byte in a record is an ordinary (bad) byte.
 */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "sts/sts_policy.h"
#include "sts/sts_txt.h"

#define TXT_VERSION	"v=STSv1"
#define TXT_SHOW_MAX	40	/* bytes of a bad id shown in why */

static int
txt_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* The offset just past "v=STSv1", SP/HTAB, ';' in r; 0 when r is not an
 * STSv1 record. */
static size_t
txt_version_end(const struct sts_txt_rec *r)
{
	size_t	i = sizeof(TXT_VERSION) - 1;

	if (r->len < i || memcmp(r->data, TXT_VERSION, i) != 0)
		return 0;
	while (i < r->len && txt_blank(r->data[i]))
		i++;
	if (i >= r->len || r->data[i] != ';')
		return 0;
	return i + 1;
}

static void
txt_why(char *why, size_t whylen, const char *what)
{
	if (why != NULL && whylen > 0)
		(void)strlcpy(why, what, whylen);
}

/* 1 when the len bytes at s are 1 to STS_ID_MAX letters or digits. */
static int
txt_id_valid(const char *s, size_t len)
{
	size_t	i;

	if (len < 1 || len > STS_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* Finds the first "id=" field in s[0..len): its value (SP/HTAB around
 * the field dropped) in *val, *vlen; 0 when there is none. */
static int
txt_find_id(const char *s, size_t len, const char **val, size_t *vlen)
{
	const char	*end = s + len, *semi, *f, *fe;

	while (s < end) {
		semi = memchr(s, ';', (size_t)(end - s));
		fe = semi != NULL ? semi : end;
		f = s;
		while (f < fe && txt_blank(*f))
			f++;
		while (fe > f && txt_blank(fe[-1]))
			fe--;
		if (fe - f >= 3 && memcmp(f, "id=", 3) == 0) {
			*val = f + 3;
			*vlen = (size_t)(fe - f - 3);
			return 1;
		}
		s = semi != NULL ? semi + 1 : end;
	}
	return 0;
}

/* Rule 3: the id of the one STSv1 record r, its fields from off. */
static enum sts_txt_status
txt_record_id(const struct sts_txt_rec *r, size_t off, char *id, char *why,
    size_t whylen)
{
	const char	*val;
	size_t		 vlen;
	char		 show[TXT_SHOW_MAX + 4];

	if (!txt_find_id(r->data + off, r->len - off, &val, &vlen)) {
		txt_why(why, whylen, "id missing");
		return STS_TXT_INVALID;
	}
	if (!txt_id_valid(val, vlen)) {
		sts_printable(show, sizeof(show), val, vlen);
		if (why != NULL && whylen > 0)
			(void)bsnprintf(why, whylen, "bad id \"%s\"", show);
		return STS_TXT_INVALID;
	}
	memcpy(id, val, vlen);
	id[vlen] = '\0';
	return STS_TXT_OK;
}

enum sts_txt_status
sts_txt_parse(const struct sts_txt_rec *recs, size_t n,
    char id[STS_ID_MAX + 1], char *why, size_t whylen)
{
	size_t	i, count = 0, one = 0, off = 0, o;

	id[0] = '\0';
	txt_why(why, whylen, "");
	for (i = 0; i < n; i++) {
		if ((o = txt_version_end(&recs[i])) == 0)
			continue;
		if (count++ == 0) {
			one = i;
			off = o;
		}
	}
	if (count == 0) {
		txt_why(why, whylen, "no v=STSv1 record");
		return STS_TXT_NONE;
	}
	if (count > 1) {
		if (why != NULL && whylen > 0)
			(void)bsnprintf(why, whylen, "%zu v=STSv1 records",
			    count);
		return STS_TXT_MULTIPLE;
	}
	return txt_record_id(&recs[one], off, id, why, whylen);
}

const char *
sts_txt_status_str(enum sts_txt_status st)
{
	switch (st) {
	case STS_TXT_OK:
		return "ok";
	case STS_TXT_NONE:
		return "none";
	case STS_TXT_MULTIPLE:
		return "multiple";
	case STS_TXT_INVALID:
		return "invalid";
	}
	return "invalid";
}
