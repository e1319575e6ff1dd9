/*
 * test_smtp_reply.c - unit tests of the reply table (smtpd/smtp_reply.c).
 *
 * Walks the whole table and checks what every row must satisfy: ids
 * present once and in order, codes and their class, the enhanced codes of
 * RFC 3463 and where RFC 2034 wants none, formats that match the argument
 * the row declares, no line breaks, and reply lines within 512 octets with
 * the longest argument.  Then the mappings of queue failures, lookup
 * results, message verdicts and path errors to replies, the setters and
 * the output of multi-line replies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/proto.h"
#include "smtpd/dataread.h"
#include "smtpd/smtp_reply.h"

/* Rows whose reply never carries an enhanced code (RFC 2034 3). */
/* Every reply, by id; smtp_reply_entry() dies on an id out of place. */
#define E(i)	smtp_reply_entry((enum smtp_reply_id)(i))

static int
no_enh_wanted(const struct smtp_reply_entry *e)
{
	return e->code / 100 == 3 || e->id == SMTP_R_GREETING ||
	    e->id == SMTP_R_HELO || e->id == SMTP_R_EHLO;
}

/* 1*3digit without a leading zero, into *v; returns the end or NULL. */
static const char *
enh_number(const char *p, int *v)
{
	int	n = 0;

	if (!isdigit((unsigned char)*p) || (p[0] == '0' &&
	    isdigit((unsigned char)p[1])))
		return NULL;
	*v = 0;
	while (isdigit((unsigned char)*p) && n < 4) {
		*v = *v * 10 + (*p++ - '0');
		n++;
	}
	return n <= 3 ? p : NULL;
}

/* class "." subject "." detail (RFC 3463 3.1, 3.2); class 2, 4 or 5,
 * subjects 0 to 7, detail up to 999. */
static int
enh_wellformed(const char *enh, int *cls)
{
	const char	*p = enh;
	int		 subject, detail;

	if ((p = enh_number(p, cls)) == NULL || *p++ != '.')
		return 0;
	if ((p = enh_number(p, &subject)) == NULL || *p++ != '.')
		return 0;
	if ((p = enh_number(p, &detail)) == NULL || *p != '\0')
		return 0;
	return (*cls == 2 || *cls == 4 || *cls == 5) && subject <= 7 &&
	    detail <= 999;
}

/*
 * The conversions in fmt must be exactly what arg says: none, one %s or
 * %.Ns, or one PRIu64.  Returns the octets the conversion may add at
 * most (0 for none).
 */
static size_t
fmt_check(const struct smtp_reply_entry *e)
{
	const char	*p = strchr(e->fmt, '%'), *q;
	size_t		 max = 0;

	if (e->arg == SMTP_ARG_NONE) {
		if (p != NULL)
			fail_msg("reply %d: '%%' in a text without argument",
			    e->id);
		return 0;
	}
	if (p == NULL)
		fail_msg("reply %d: no conversion for its argument", e->id);
	if (strchr(p + 1, '%') != NULL)
		fail_msg("reply %d: more than one conversion", e->id);
	if (e->arg == SMTP_ARG_U64) {
		if (strncmp(p, "%" PRIu64, strlen("%" PRIu64)) != 0)
			fail_msg("reply %d: not a PRIu64 conversion", e->id);
		return 20;
	}
	q = p + 1;
	if (*q == '.') {
		for (q++; isdigit((unsigned char)*q); q++)
			max = max * 10 + (size_t)(*q - '0');
		if (max == 0)
			fail_msg("reply %d: bad precision", e->id);
	} else
		max = SMTP_REPLY_ARG_MAX;
	if (*q != 's')
		fail_msg("reply %d: not a string conversion", e->id);
	return max < SMTP_REPLY_ARG_MAX ? max : SMTP_REPLY_ARG_MAX;
}

static void
test_ids_in_order(void **state)
{
	size_t				 n, i;

	(void)state;
	n = SMTP_R_COUNT;
	for (i = 0; i < n; i++) {
		assert_int_equal(E(i)->id, (int)i);
	}
}

static void
test_codes_and_classes(void **state)
{
	size_t				 n, i;
	int				 seen[6] = { 0 };

	(void)state;
	n = SMTP_R_COUNT;
	for (i = 0; i < n; i++) {
		assert_in_range(E(i)->code, 200, 599);
		assert_int_equal(smtp_reply_class(E(i)->id), E(i)->code / 100);
		seen[E(i)->code / 100]++;
	}
	assert_true(seen[SMTP_RC_POSITIVE] > 0);
	assert_true(seen[SMTP_RC_INTERMEDIATE] > 0);
	assert_true(seen[SMTP_RC_TEMPORARY] > 0);
	assert_true(seen[SMTP_RC_PERMANENT] > 0);
	/* The 3xx replies of this server: 354 only (334 comes with AUTH). */
	assert_int_equal(smtp_reply_entry(SMTP_R_DATA_GO)->code, 354);
}

static void
test_enhanced_codes(void **state)
{
	struct smtp_reply		 r;
	size_t				 n, i;
	int				 cls;

	(void)state;
	n = SMTP_R_COUNT;
	for (i = 0; i < n; i++) {
		if (no_enh_wanted(E(i))) {
			if (E(i)->enh != NULL)
				fail_msg("reply %zu: an enhanced code where "
				    "none belongs", i);
			continue;
		}
		if (E(i)->enh == NULL)
			fail_msg("reply %zu (%d): no enhanced code", i,
			    E(i)->code);
		if (!enh_wellformed(E(i)->enh, &cls))
			fail_msg("reply %zu: bad enhanced code %s", i,
			    E(i)->enh);
		assert_int_equal(cls, E(i)->code / 100);
		assert_true(strlen(E(i)->enh) < sizeof(r.enh));
	}
}

static void
test_texts(void **state)
{
	size_t				 n, i;
	const char			*p;

	(void)state;
	n = SMTP_R_COUNT;
	for (i = 0; i < n; i++) {
		assert_non_null(E(i)->fmt);
		assert_true(E(i)->fmt[0] != '\0');
		for (p = E(i)->fmt; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail_msg("reply %zu: octet 0x%02x in its text",
				    i, (unsigned char)*p);
		(void)fmt_check(E(i));
	}
}

/* Fills r for e with the longest argument it may get. */
static void
fill_longest(struct smtp_reply *r, const struct smtp_reply_entry *e)
{
	char	arg[SMTP_REPLY_ARG_MAX + 1];

	memset(arg, 'x', SMTP_REPLY_ARG_MAX);
	arg[SMTP_REPLY_ARG_MAX] = '\0';
	switch (e->arg) {
	case SMTP_ARG_NONE:
		smtp_reply_set(r, e->id);
		break;
	case SMTP_ARG_STR:
		smtp_reply_set_str(r, e->id, arg);
		break;
	case SMTP_ARG_U64:
		smtp_reply_set_u64(r, e->id, UINT64_MAX);
		break;
	}
}

static void
test_line_length(void **state)
{
	struct smtp_reply		 r;
	struct buf			 b;
	size_t				 n, i, expect;

	(void)state;
	n = SMTP_R_COUNT;
	buf_init(&b);
	for (i = 0; i < n; i++) {
		fill_longest(&r, E(i));
		assert_int_equal(r.code, E(i)->code);
		assert_string_equal(r.enh, E(i)->enh ? E(i)->enh : "");
		expect = strlen(E(i)->fmt) + fmt_check(E(i));
		if (E(i)->arg == SMTP_ARG_U64)
			expect -= strlen("%" PRIu64);
		else if (E(i)->arg == SMTP_ARG_STR)
			expect -= strcspn(strchr(E(i)->fmt, '%'), "s") + 1;
		assert_int_equal(strlen(r.text), expect);
		buf_reset(&b);
		smtp_reply_format(&r, &b);
		/* One line, with its CRLF, within the limit. */
		assert_true(b.len <= SMTP_REPLY_LINE_MAX);
		assert_true(b.len >= 6);
		assert_memory_equal(b.data + b.len - 2, "\r\n", 2);
		assert_null(memchr(b.data, '\n', b.len - 1));
		assert_null(memchr(b.data, '\r', b.len - 2));
	}
	buf_free(&b);
}

static void
expect_reply(enum smtp_reply_id id, int code, const char *enh,
    enum smtp_reply_class cls)
{
	assert_true(id != SMTP_R_COUNT);
	assert_int_equal(smtp_reply_entry(id)->code, code);
	assert_string_equal(smtp_reply_entry(id)->enh, enh);
	assert_int_equal(smtp_reply_class(id), cls);
}

static void
test_map_qfail(void **state)
{
	(void)state;
	expect_reply(smtp_reply_qfail(QFAIL_TEMP), 451, "4.3.0",
	    SMTP_RC_TEMPORARY);
	expect_reply(smtp_reply_qfail(QFAIL_NOSPACE), 452, "4.3.1",
	    SMTP_RC_TEMPORARY);
	expect_reply(smtp_reply_qfail(QFAIL_SHUTDOWN), 421, "4.3.2",
	    SMTP_RC_TEMPORARY);
	assert_int_equal(smtp_reply_qfail(0), SMTP_R_COUNT);
	assert_int_equal(smtp_reply_qfail(QFAIL_SHUTDOWN + 1), SMTP_R_COUNT);
	assert_int_equal(smtp_reply_qfail(-1), SMTP_R_COUNT);
}

static void
test_map_lookup(void **state)
{
	(void)state;
	expect_reply(smtp_reply_lookup(LOOKUP_FOUND), 250, "2.1.5",
	    SMTP_RC_POSITIVE);
	expect_reply(smtp_reply_lookup(LOOKUP_NOTFOUND), 550, "5.1.1",
	    SMTP_RC_PERMANENT);
	expect_reply(smtp_reply_lookup(LOOKUP_TEMPFAIL), 451, "4.3.0",
	    SMTP_RC_TEMPORARY);
	expect_reply(smtp_reply_lookup(LOOKUP_LOOP), 550, "5.4.6",
	    SMTP_RC_PERMANENT);
	assert_int_equal(smtp_reply_lookup(0), SMTP_R_COUNT);
	assert_int_equal(smtp_reply_lookup(LOOKUP_LOOP + 1), SMTP_R_COUNT);
}

static void
test_map_data(void **state)
{
	static const struct {
		enum smtp_data_status	 st;
		int			 code;
		const char		*enh;
		enum smtp_reply_class	 cls;
	} cases[] = {
		{ SMTP_DATA_BARE,  550, "5.5.2", SMTP_RC_PERMANENT },
		{ SMTP_DATA_NUL,   554, "5.6.0", SMTP_RC_PERMANENT },
		{ SMTP_DATA_LONG,  554, "5.6.0", SMTP_RC_PERMANENT },
		{ SMTP_DATA_LOOP,  554, "5.4.6", SMTP_RC_PERMANENT },
		{ SMTP_DATA_SIZE,  552, "5.3.4", SMTP_RC_PERMANENT },
		{ SMTP_DATA_WRITE, 451, "4.3.0", SMTP_RC_TEMPORARY },
	};
	size_t	i;

	(void)state;
	/* A good message is answered by the queue, not here. */
	assert_int_equal(smtp_reply_data(SMTP_DATA_OK), SMTP_R_COUNT);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_reply(smtp_reply_data(cases[i].st), cases[i].code,
		    cases[i].enh, cases[i].cls);
	assert_int_equal(smtp_reply_data((enum smtp_data_status)
	    (SMTP_DATA_WRITE + 1)), SMTP_R_COUNT);
}

static void
test_map_path(void **state)
{
	static const struct {
		enum smtp_path_status	 st;
		int			 sender;
		int			 code;
		const char		*enh;
		const char		*text;
	} cases[] = {
		{ PATH_OK, 1, 501, "5.1.7",
		    "sender address must have a domain" },
		{ PATH_SYNTAX, 1, 501, "5.1.7", "Bad sender address syntax" },
		{ PATH_TOOLONG, 1, 501, "5.1.7", "sender address too long" },
		{ PATH_IDN, 1, 501, "5.1.7",
		    "Bad sender address: invalid domain name" },
		{ PATH_UTF8, 1, 553, "5.6.7",
		    "Non-ASCII address requires SMTPUTF8" },
		{ PATH_OK, 0, 501, "5.1.3",
		    "recipient address must have a domain" },
		{ PATH_SYNTAX, 0, 501, "5.1.3",
		    "Bad recipient address syntax" },
		{ PATH_TOOLONG, 0, 501, "5.1.3", "recipient address too long" },
		{ PATH_IDN, 0, 501, "5.1.3",
		    "Bad recipient address: invalid domain name" },
		{ PATH_UTF8, 0, 553, "5.6.7",
		    "Non-ASCII address requires SMTPUTF8" },
	};
	struct smtp_reply	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_reply_set(&r, smtp_reply_path(cases[i].st,
		    cases[i].sender));
		assert_int_equal(r.code, cases[i].code);
		assert_string_equal(r.enh, cases[i].enh);
		assert_string_equal(r.text, cases[i].text);
	}
}

static void
test_setters(void **state)
{
	struct smtp_reply	r;
	char			key[100];

	(void)state;
	smtp_reply_set_str(&r, SMTP_R_QUEUED, "4Xk2Lm9");
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.0.0");
	assert_string_equal(r.text, "Ok: queued as 4Xk2Lm9");
	smtp_reply_set_u64(&r, SMTP_R_CHUNK_OK, 12345);
	assert_string_equal(r.text, "12345 octets received");
	/* A row without argument ignores the one it is given. */
	smtp_reply_set_str(&r, SMTP_R_QUEUE_TEMP, "mx.example.org");
	assert_int_equal(r.code, 451);
	assert_string_equal(r.text,
	    "Error: queue file write error, try again later");
	smtp_reply_set_str(&r, SMTP_R_SHUTDOWN, "mx.example.org");
	assert_string_equal(r.text, "mx.example.org Service shutting down");
	/* An echoed parameter keyword is cut at 64 octets. */
	memset(key, 'K', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	smtp_reply_set_str(&r, SMTP_R_PARAM_UNKNOWN, key);
	assert_int_equal(strlen(r.text), strlen("Unsupported option: ") + 64);
	smtp_reply_set(&r, SMTP_R_DATA_GO);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.enh, "");
}

static void
test_format_multiline(void **state)
{
	struct smtp_reply	r;
	struct buf		b;

	(void)state;
	buf_init(&b);
	smtp_reply_set_str(&r, SMTP_R_EHLO, "mx.example.org");
	smtp_reply_append(&r, "\nPIPELINING\nSIZE %d", 1000);
	smtp_reply_format(&r, &b);
	assert_int_equal(b.len, strlen("250-mx.example.org\r\n"
	    "250-PIPELINING\r\n250 SIZE 1000\r\n"));
	assert_memory_equal(b.data, "250-mx.example.org\r\n"
	    "250-PIPELINING\r\n250 SIZE 1000\r\n", b.len);
	buf_reset(&b);
	smtp_reply_set(&r, SMTP_R_NEED_MAIL);
	smtp_reply_format(&r, &b);
	assert_int_equal(b.len,
	    strlen("503 5.5.1 Error: need MAIL command\r\n"));
	assert_memory_equal(b.data, "503 5.5.1 Error: need MAIL command\r\n",
	    b.len);
	buf_free(&b);
}

/* The DATA reader's flags rank worst first; a write error comes last. */
static void
test_data_status(void **state)
{
	(void)state;
	assert_int_equal(smtp_reply_data_status(0, 0), SMTP_DATA_OK);
	assert_int_equal(smtp_reply_data_status(0, 1), SMTP_DATA_WRITE);
	assert_int_equal(smtp_reply_data_status(DATAREAD_SIZE, 1),
	    SMTP_DATA_SIZE);
	assert_int_equal(smtp_reply_data_status(DATAREAD_SIZE |
	    DATAREAD_LOOP, 0), SMTP_DATA_LOOP);
	assert_int_equal(smtp_reply_data_status(DATAREAD_LOOP |
	    DATAREAD_LONG, 0), SMTP_DATA_LONG);
	assert_int_equal(smtp_reply_data_status(DATAREAD_LONG |
	    DATAREAD_NUL, 1), SMTP_DATA_NUL);
	assert_int_equal(smtp_reply_data_status(DATAREAD_NUL |
	    DATAREAD_BARE | DATAREAD_SIZE, 1), SMTP_DATA_BARE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_in_order),
		cmocka_unit_test(test_codes_and_classes),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_texts),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_map_qfail),
		cmocka_unit_test(test_map_lookup),
		cmocka_unit_test(test_map_data),
		cmocka_unit_test(test_map_path),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_format_multiline),
		cmocka_unit_test(test_data_status),
	};

	log_init("test_smtp_reply", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
