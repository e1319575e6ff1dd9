/*
 * test_sts_txt.c - unit tests of the MTA-STS TXT record reader
 * (sts/sts_txt.c; ../shared/spec/mta-sts.md rules 2 and 3).
 *
 * One table: each case is the records of one TXT answer, each record
 * given as the strings DNS returned (joined here with no separator, as
 * common/dns does, rule 2), with the status, id and reason expected.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "sts/sts_txt.h"

#define T_RECS		4
#define T_STRINGS	3
#define ID33		"abcdefghijklmnopqrstuvwxyz0123456"
#define ID32		"abcdefghijklmnopqrstuvwxyz012345"

struct txt_case {
	const char		*name;
	/* records of strings; NULL ends each list */
	const char		*recs[T_RECS][T_STRINGS];
	enum sts_txt_status	 want;
	const char		*id;	/* for STS_TXT_OK */
	const char		*why;	/* a part of why, or NULL */
};

static const struct txt_case txt_cases[] = {
	{ "rule 2: one record",
	    { { "v=STSv1; id=20160831085700Z;" } }, STS_TXT_OK,
	    "20160831085700Z", NULL },
	{ "rule 2: no record at all", { { NULL } }, STS_TXT_NONE, NULL,
	    "no v=STSv1 record" },
	{ "rule 2: only other records",
	    { { "v=spf1 -all" }, { "google-site-verification=x" } },
	    STS_TXT_NONE, NULL, "no v=STSv1 record" },
	{ "rule 2: two STSv1 records, no policy",
	    { { "v=STSv1; id=abc" }, { "v=STSv1; id=def" } },
	    STS_TXT_MULTIPLE, NULL, "2 v=STSv1 records" },
	{ "rule 2: two identical STSv1 records still count as two",
	    { { "v=STSv1; id=abc" }, { "v=STSv1; id=abc" } },
	    STS_TXT_MULTIPLE, NULL, "2 v=STSv1 records" },
	{ "rule 2: three STSv1 records among others",
	    { { "v=STSv1; id=a" }, { "x" }, { "v=STSv1; id=b" },
	    { "v=STSv1;id=c" } }, STS_TXT_MULTIPLE, NULL,
	    "3 v=STSv1 records" },
	{ "rule 2: strings of one record joined, split in the version",
	    { { "v=STS", "v1; id=", "abc123" } }, STS_TXT_OK, "abc123",
	    NULL },
	{ "rule 2: strings of one record joined, split in the id",
	    { { "v=STSv1; id=ab", "c123" } }, STS_TXT_OK, "abc123", NULL },
	{ "rule 2: one record of two strings, not two records",
	    { { "v=STSv1; id=abc", "; x=y" } }, STS_TXT_OK, "abc", NULL },
	{ "rule 2: other records beside the STSv1 one",
	    { { "v=spf1 -all" }, { "v=STSv1; id=xyz" },
	    { "v=DMARC1; p=none" } }, STS_TXT_OK, "xyz", NULL },
	{ "rule 2: v=STSv1 then spaces then ;",
	    { { "v=STSv1 ;id=abc" } }, STS_TXT_OK, "abc", NULL },
	{ "rule 2: v=STSv1 then a tab and spaces then ;",
	    { { "v=STSv1\t  ; id=abc" } }, STS_TXT_OK, "abc", NULL },
	{ "rule 2: v=STSv1 without ; is discarded",
	    { { "v=STSv1" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: v=STSv1 id=abc without ; is discarded",
	    { { "v=STSv1 id=abc" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: v=STSv10 is another version",
	    { { "v=STSv10; id=abc" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: v=STSv2 is another version",
	    { { "v=STSv2; id=abc" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: the version is case-sensitive",
	    { { "V=stsv1; id=abc" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: the record must begin with v=STSv1",
	    { { " v=STSv1; id=abc" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 2: a discarded record beside a good one does not count",
	    { { "v=STSv1 id=zzz" }, { "v=STSv1; id=abc" } }, STS_TXT_OK,
	    "abc", NULL },
	{ "rule 2: an empty record", { { "" } }, STS_TXT_NONE, NULL, NULL },
	{ "rule 3: id missing", { { "v=STSv1;" } }, STS_TXT_INVALID, NULL,
	    "id missing" },
	{ "rule 3: id missing, other fields",
	    { { "v=STSv1; foo=bar; xid=abc" } }, STS_TXT_INVALID, NULL,
	    "id missing" },
	{ "rule 3: the id key is case-sensitive",
	    { { "v=STSv1; ID=abc" } }, STS_TXT_INVALID, NULL, "id missing" },
	{ "rule 3: empty id", { { "v=STSv1; id=" } }, STS_TXT_INVALID, NULL,
	    "bad id \"\"" },
	{ "rule 3: id of 32 characters",
	    { { "v=STSv1; id=" ID32 } }, STS_TXT_OK, ID32, NULL },
	{ "rule 3: id of 33 characters",
	    { { "v=STSv1; id=" ID33 } }, STS_TXT_INVALID, NULL,
	    "bad id \"" ID33 "\"" },
	{ "rule 3: id with a dash", { { "v=STSv1; id=2016-08-31" } },
	    STS_TXT_INVALID, NULL, "bad id \"2016-08-31\"" },
	{ "rule 3: id with a space inside", { { "v=STSv1; id=abc def" } },
	    STS_TXT_INVALID, NULL, "bad id" },
	{ "rule 3: id with a non-ASCII letter",
	    { { "v=STSv1; id=caf\xc3\xa9" } }, STS_TXT_INVALID, NULL,
	    "bad id \"caf??\"" },
	{ "rule 3: id with punctuation", { { "v=STSv1; id=abc!" } },
	    STS_TXT_INVALID, NULL, "bad id \"abc!\"" },
	{ "rule 3: id with a quote is shown made printable",
	    { { "v=STSv1; id=a\"b" } }, STS_TXT_INVALID, NULL,
	    "bad id \"a?b\"" },
	{ "rule 3: id = with spaces is not an id field",
	    { { "v=STSv1; id =abc" } }, STS_TXT_INVALID, NULL, "id missing" },
	{ "rule 3: unknown fields are ignored",
	    { { "v=STSv1; foo=bar; id=abc; baz; x=;" } }, STS_TXT_OK, "abc",
	    NULL },
	{ "rule 3: unknown field ending in id= is not the id",
	    { { "v=STSv1; xid=zzz; id=abc" } }, STS_TXT_OK, "abc", NULL },
	{ "rule 3: spaces around fields",
	    { { "v=STSv1;   id=abc  \t;  " } }, STS_TXT_OK, "abc", NULL },
	{ "rule 3: empty fields", { { "v=STSv1;;; id=abc;;" } }, STS_TXT_OK,
	    "abc", NULL },
	{ "rule 3: the first id wins",
	    { { "v=STSv1; id=abc; id=def" } }, STS_TXT_OK, "abc", NULL },
	{ "rule 3: the first id wins, even when bad",
	    { { "v=STSv1; id=a-b; id=def" } }, STS_TXT_INVALID, NULL,
	    "bad id \"a-b\"" },
	{ "rule 3: a bad id in a discarded record does not matter",
	    { { "v=STSv2; id=!!" }, { "v=STSv1; id=ok1" } }, STS_TXT_OK,
	    "ok1", NULL },
};

/* Joins the strings of each record of c into buf; fills recs. */
static size_t
txt_build(const struct txt_case *c, struct sts_txt_rec *recs, char *buf,
    size_t size)
{
	size_t	r, s, off = 0, len, n = 0;

	for (r = 0; r < T_RECS && c->recs[r][0] != NULL; r++) {
		recs[n].data = buf + off;
		for (s = 0; s < T_STRINGS && c->recs[r][s] != NULL; s++) {
			len = strlen(c->recs[r][s]);
			assert_true(off + len < size);
			memcpy(buf + off, c->recs[r][s], len);
			off += len;
		}
		recs[n].len = (size_t)(buf + off - recs[n].data);
		n++;
	}
	return n;
}

static void
txt_check(const struct txt_case *c, const struct sts_txt_rec *recs, size_t n)
{
	char			id[STS_ID_MAX + 1], why[128];
	enum sts_txt_status	st;

	memset(id, 'X', sizeof(id));
	st = sts_txt_parse(recs, n, id, why, sizeof(why));
	if (st != c->want || (c->why != NULL && strstr(why, c->why) == NULL))
		fail_msg("%s: expected %s (%s), got %s (%s)", c->name,
		    sts_txt_status_str(c->want), c->why ? c->why : "",
		    sts_txt_status_str(st), why);
	if (st == STS_TXT_OK && strcmp(id, c->id) != 0)
		fail_msg("%s: expected id %s, got %s", c->name, c->id, id);
	if (st != STS_TXT_OK && id[0] != '\0')
		fail_msg("%s: expected an empty id, got %s", c->name, id);
	if (st == STS_TXT_OK && why[0] != '\0')
		fail_msg("%s: expected no reason, got %s", c->name, why);
}

static void
test_txt_table(void **state)
{
	struct sts_txt_rec	recs[T_RECS];
	char			buf[512];
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		n = txt_build(&txt_cases[i], recs, buf, sizeof(buf));
		txt_check(&txt_cases[i], recs, n);
	}
}

/* rule 3: records hold any bytes; a NUL ends nothing and is a bad byte. */
static void
test_txt_nul(void **state)
{
	static const char	bad[] = "v=STSv1; id=ab\0cd";
	static const char	field[] = "v=STSv1; x=\0; id=abc";
	struct sts_txt_rec	r;
	char			id[STS_ID_MAX + 1], why[64];

	(void)state;
	r.data = bad;
	r.len = sizeof(bad) - 1;
	assert_int_equal(sts_txt_parse(&r, 1, id, why, sizeof(why)),
	    STS_TXT_INVALID);
	assert_string_equal(why, "bad id \"ab?cd\"");
	r.data = field;
	r.len = sizeof(field) - 1;
	assert_int_equal(sts_txt_parse(&r, 1, id, why, sizeof(why)),
	    STS_TXT_OK);
	assert_string_equal(id, "abc");
	/* why may be NULL; a record of length 0 with no data. */
	r.data = NULL;
	r.len = 0;
	assert_int_equal(sts_txt_parse(&r, 1, id, NULL, 0), STS_TXT_NONE);
}

/* A long bad id is cut in why, which always ends in a NUL. */
static void
test_txt_why_cut(void **state)
{
	char			rec[200], id[STS_ID_MAX + 1], why[16];
	struct sts_txt_rec	r;

	(void)state;
	memset(rec, 'a', sizeof(rec));
	memcpy(rec, "v=STSv1; id=", 12);
	r.data = rec;
	r.len = sizeof(rec);
	assert_int_equal(sts_txt_parse(&r, 1, id, why, sizeof(why)),
	    STS_TXT_INVALID);
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_int_equal(strncmp(why, "bad id \"", 8), 0);
}

static void
test_txt_status_str(void **state)
{
	(void)state;
	assert_string_equal(sts_txt_status_str(STS_TXT_OK), "ok");
	assert_string_equal(sts_txt_status_str(STS_TXT_NONE), "none");
	assert_string_equal(sts_txt_status_str(STS_TXT_MULTIPLE), "multiple");
	assert_string_equal(sts_txt_status_str(STS_TXT_INVALID), "invalid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_table),
		cmocka_unit_test(test_txt_nul),
		cmocka_unit_test(test_txt_why_cut),
		cmocka_unit_test(test_txt_status_str),
	};

	log_init("test_sts_txt", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
