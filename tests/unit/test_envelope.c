/*
 * test_envelope.c - unit tests of queue/envelope.c: write/read round trips
 * (null sender, empty HELO, DSN and TLS facts, thousands of recipients),
 * and rejection of corrupt files with the line number of the fault:
 * unknown or repeated keys, missing "end" or required keys, data after
 * "end", a wrong version, bad numbers and states, control bytes, truncation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/envelope.h"

#define DIGEST_A	"sha256:" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A valid file, one line per entry (14 lines). */
static const char *base_lines[] = {
	"strictmail-envelope 2",		/* 1 */
	"id 0123456789ABCDEF",			/* 2 */
	"arrival 1700000000",			/* 3 */
	"size 1234",				/* 4 */
	"digest " DIGEST_A,			/* 5 */
	"sender <alice@example.org>",		/* 6 */
	"helo client.example.org",		/* 7 */
	"client 192.0.2.1",			/* 8 */
	"protocol ESMTP",			/* 9 */
	"attempts 0",				/* 10 */
	"next-attempt 1700000000",		/* 11 */
	"expiry 1700432000",			/* 12 */
	"rcpt pending <bob@example.com>",	/* 13 */
	"end",					/* 14 */
};
#define NBASE	(sizeof(base_lines) / sizeof(base_lines[0]))

/*
 * The base file with line `at` (1-based) replaced by `repl` (NULL: removed)
 * and `ins` inserted before line `insat` (0: nothing inserted).
 */
static void
make_text(struct buf *b, size_t at, const char *repl, size_t insat,
    const char *ins)
{
	size_t	i;

	buf_init(b);
	for (i = 1; i <= NBASE; i++) {
		if (insat == i)
			buf_printf(b, "%s\n", ins);
		if (i == at) {
			if (repl != NULL)
				buf_printf(b, "%s\n", repl);
		} else
			buf_printf(b, "%s\n", base_lines[i - 1]);
	}
}

static void
expect_error(const char *name, const char *text, size_t len, const char *want)
{
	struct envelope	env;
	char		err[256] = "";
	int		rc;

	rc = envelope_parse(text, len, &env, err, sizeof(err));
	if (rc != -1)
		fail_msg("%s: expected error '%s', the file was accepted", name,
		    want);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s: expected error '%s', got '%s'", name, want, err);
	/* A failed parse leaves nothing behind. */
	assert_null(env.sender);
	assert_null(env.rcpts);
	assert_int_equal(env.nrcpt, 0);
}

static void
expect_error_edit(const char *name, size_t at, const char *repl, size_t insat,
    const char *ins, const char *want)
{
	struct buf	b;

	make_text(&b, at, repl, insat, ins);
	expect_error(name, b.data, b.len, want);
	buf_free(&b);
}

static void
test_base_is_valid(void **state)
{
	struct envelope	env;
	struct buf	b;
	char		err[256] = "";

	(void)state;
	make_text(&b, 0, NULL, 0, NULL);
	if (envelope_parse(b.data, b.len, &env, err, sizeof(err)) != 0)
		fail_msg("base file rejected: %s", err);
	assert_string_equal(env.id, "0123456789ABCDEF");
	assert_int_equal(env.arrival, 1700000000);
	assert_int_equal(env.size, 1234);
	assert_string_equal(env.digest, DIGEST_A);
	assert_string_equal(env.sender, "alice@example.org");
	assert_string_equal(env.helo, "client.example.org");
	assert_string_equal(env.client, "192.0.2.1");
	assert_string_equal(env.protocol, "ESMTP");
	assert_int_equal(env.attempts, 0);
	assert_int_equal(env.next_attempt, 1700000000);
	assert_int_equal(env.expiry, 1700432000);
	assert_null(env.ret);
	assert_int_equal(env.nrcpt, 1);
	assert_string_equal(env.rcpts[0].addr, "bob@example.com");
	assert_int_equal(env.rcpts[0].state, RCPT_PENDING);
	envelope_free(&env);
	buf_free(&b);
}

static void
fill(struct envelope *env, const char *sender, size_t nrcpt)
{
	char	addr[64];
	size_t	i;

	envelope_init(env);
	memcpy(env->id, "00112233445566FF", QUEUE_ID_SIZE);
	env->arrival = 1700000001;
	env->size = 987654321;
	memcpy(env->digest, DIGEST_A, sizeof(DIGEST_A));
	env->sender = strdup(sender);
	env->helo = strdup("[192.0.2.7]");
	env->client = strdup("2001:db8::7");
	env->protocol = strdup("ESMTP");
	env->attempts = 3;
	env->next_attempt = 1700000600;
	env->expiry = 1700432001;
	for (i = 0; i < nrcpt; i++) {
		snprintf(addr, sizeof(addr), "user%zu@example.net", i);
		(void)envelope_add_rcpt(env, addr, (enum rcpt_state)(i % 3));
	}
}

static void
assert_same_str(const char *what, const char *a, const char *b)
{
	if (a == NULL && b == NULL)
		return;
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
		fail_msg("%s: wrote '%s', read '%s'", what, a ? a : "(null)",
		    b ? b : "(null)");
}

static void
assert_same(const struct envelope *a, const struct envelope *b)
{
	size_t	i;

	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_int_equal(a->size, b->size);
	assert_string_equal(a->digest, b->digest);
	assert_same_str("sender", a->sender, b->sender);
	assert_same_str("helo", a->helo, b->helo);
	assert_same_str("client", a->client, b->client);
	assert_same_str("protocol", a->protocol, b->protocol);
	assert_int_equal(a->attempts, b->attempts);
	assert_int_equal(a->next_attempt, b->next_attempt);
	assert_int_equal(a->expiry, b->expiry);
	assert_same_str("ret", a->ret, b->ret);
	assert_same_str("envid", a->envid, b->envid);
	assert_same_str("tls", a->tls, b->tls);
	assert_int_equal(a->warned, b->warned);
	assert_int_equal(a->held, b->held);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (i = 0; i < a->nrcpt; i++) {
		assert_same_str("rcpt", a->rcpts[i].addr, b->rcpts[i].addr);
		assert_int_equal(a->rcpts[i].state, b->rcpts[i].state);
		assert_same_str("notify", a->rcpts[i].notify,
		    b->rcpts[i].notify);
		assert_same_str("orcpt", a->rcpts[i].orcpt, b->rcpts[i].orcpt);
		assert_same_str("error", a->rcpts[i].error, b->rcpts[i].error);
	}
}

/* Writes env, reads it back, compares, and writes it again identically. */
static void
round_trip(struct envelope *env)
{
	struct envelope	back;
	struct buf	b1, b2;
	char		err[256] = "";

	if (envelope_check(env, err, sizeof(err)) != 0)
		fail_msg("envelope_check: %s", err);
	buf_init(&b1);
	buf_init(&b2);
	envelope_serialize(env, &b1);
	if (envelope_parse(b1.data, b1.len, &back, err, sizeof(err)) != 0)
		fail_msg("written envelope rejected: %s\n%s", err, b1.data);
	assert_same(env, &back);
	envelope_serialize(&back, &b2);
	assert_int_equal(b1.len, b2.len);
	assert_memory_equal(b1.data, b2.data, b1.len);
	envelope_free(&back);
	buf_free(&b1);
	buf_free(&b2);
}

static void
test_round_trip(void **state)
{
	struct envelope	env;

	(void)state;
	fill(&env, "alice@example.org", 3);
	round_trip(&env);
	envelope_free(&env);
}

static void
test_round_trip_null_sender(void **state)
{
	struct envelope	env;
	struct buf	b;

	(void)state;
	fill(&env, "", 1);
	round_trip(&env);
	buf_init(&b);
	envelope_serialize(&env, &b);
	assert_non_null(strstr(b.data, "\nsender <>\n"));
	buf_free(&b);
	envelope_free(&env);
}

static void
test_round_trip_many_rcpts(void **state)
{
	struct envelope	env;

	(void)state;
	fill(&env, "list-bounces@example.org", 5000);
	round_trip(&env);
	envelope_free(&env);
}

static void
test_round_trip_odd_values(void **state)
{
	struct envelope		 env;
	struct envelope_rcpt	*r;

	(void)state;
	fill(&env, "\"john doe\"@example.org", 2);
	free(env.helo);
	env.helo = strdup("");			/* written as "helo" alone */
	env.ret = strdup("HDRS");
	env.envid = strdup("QQ314159");
	env.tls = strdup("TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384");
	r = envelope_add_rcpt(&env, "<odd>@example.org", RCPT_FAILED);
	r->notify = strdup("SUCCESS,FAILURE");
	r->orcpt = strdup("rfc822;Odd@Example.ORG");
	r = envelope_add_rcpt(&env, "\xc3\xa9t\xc3\xa9@example.org",
	    RCPT_PENDING);
	r->notify = strdup("NEVER");
	round_trip(&env);
	envelope_free(&env);
}

/* An operator's hold: "held SECONDS" written and read back; absent when
 * 0 (released). */
static void
test_round_trip_held(void **state)
{
	struct envelope	env;
	struct buf	b;

	(void)state;
	fill(&env, "alice@example.org", 2);
	env.held = 1796168225;
	round_trip(&env);
	buf_init(&b);
	envelope_serialize(&env, &b);
	assert_non_null(strstr(b.data, "\nheld 1796168225\n"));
	buf_reset(&b);
	env.held = 0;
	round_trip(&env);
	envelope_serialize(&env, &b);
	buf_addch(&b, '\0');
	assert_null(strstr(b.data, "\nheld"));
	buf_free(&b);
	envelope_free(&env);
}

static void
test_check_rejects(void **state)
{
	struct envelope	env;
	char		err[256];

	(void)state;
	fill(&env, "a\r\nRCPT TO:<x@y>", 1);
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);

	fill(&env, "a@b", 0);
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);

	fill(&env, "a@b", 1);
	free(env.client);
	env.client = strdup("");
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);

	fill(&env, "a@b", 1);
	memcpy(env.id, "0123456789abcdef", QUEUE_ID_SIZE);
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);

	fill(&env, "a@b", 1);
	env.ret = strdup("ALL");
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);

	assert_true(envelope_value_ok("x"));
	assert_false(envelope_value_ok("x\ty"));
	assert_false(envelope_value_ok("x\x7fy"));
}

static void
test_reject_keys(void **state)
{
	(void)state;
	expect_error_edit("unknown key", 0, NULL, 8, "foo bar",
	    "line 8: unknown key 'foo'");
	expect_error_edit("unknown key, upper case", 7, "HELO x", 0, NULL,
	    "line 7: unknown key 'HELO'");
	expect_error_edit("duplicate key", 0, NULL, 6, "size 5",
	    "line 6: duplicate key 'size'");
	expect_error_edit("duplicate sender", 0, NULL, 14, "sender <>",
	    "line 14: duplicate key 'sender'");
	expect_error_edit("missing client", 8, NULL, 0, NULL,
	    "line 13: missing required key 'client'");
	expect_error_edit("missing rcpt", 13, NULL, 0, NULL,
	    "line 13: missing required key 'rcpt'");
	expect_error_edit("missing id", 2, NULL, 0, NULL,
	    "line 13: missing required key 'id'");
	expect_error_edit("notify before rcpt", 0, NULL, 13,
	    "rcpt-notify NEVER",
	    "line 13: 'rcpt-notify' before any 'rcpt' line");
	expect_error_edit("notify twice", 0, NULL, 14,
	    "rcpt-notify NEVER\nrcpt-notify NEVER",
	    "line 15: duplicate key 'rcpt-notify' for one recipient");
	expect_error_edit("end with a value", 14, "end now", 0, NULL,
	    "line 14: 'end' takes no value");
}

/* rcpt-error: the last error of the rcpt line above, kept as written,
 * strict like the other rcpt-* keys. */
static void
test_rcpt_error(void **state)
{
	struct envelope	env;
	struct buf	b, b2;
	char		err[256];

	(void)state;
	make_text(&b, 0, NULL, 14, "rcpt-error 451 4.7.1 try again later");
	if (envelope_parse(b.data, b.len, &env, err, sizeof(err)) != 0)
		fail_msg("rcpt-error rejected: %s", err);
	assert_string_equal(env.rcpts[0].error, "451 4.7.1 try again later");
	buf_init(&b2);
	envelope_serialize(&env, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	/* An empty error is refused by the check, never written. */
	free(env.rcpts[0].error);
	env.rcpts[0].error = strdup("");
	assert_int_equal(envelope_check(&env, err, sizeof(err)), -1);
	envelope_free(&env);
	buf_free(&b);
	buf_free(&b2);
	expect_error_edit("error twice", 0, NULL, 14,
	    "rcpt-error a\nrcpt-error b",
	    "line 15: duplicate key 'rcpt-error' for one recipient");
	expect_error_edit("error before rcpt", 0, NULL, 13, "rcpt-error x",
	    "line 13: 'rcpt-error' before any 'rcpt' line");
	expect_error_edit("empty error", 0, NULL, 14, "rcpt-error",
	    "line 14: empty");
}

static void
test_reject_structure(void **state)
{
	struct buf	b;

	(void)state;
	expect_error_edit("missing end", 14, NULL, 0, NULL,
	    "line 14: missing 'end'");
	make_text(&b, 0, NULL, 0, NULL);
	buf_addstr(&b, "rcpt pending <late@example.org>\n");
	expect_error("data after end", b.data, b.len,
	    "line 15: data after 'end'");
	buf_free(&b);
	make_text(&b, 0, NULL, 0, NULL);
	buf_addstr(&b, "\n");
	expect_error("blank line after end", b.data, b.len,
	    "line 15: data after 'end'");
	buf_free(&b);
	expect_error_edit("bad version", 1, "strictmail-envelope 1", 0, NULL,
	    "line 1: unsupported version '1'");
	expect_error_edit("no version", 1, "strictmail-envelope", 0, NULL,
	    "line 1: not a strictmail envelope");
	expect_error_edit("not an envelope", 1, "From alice Mon Jan 1", 0, NULL,
	    "line 1: not a strictmail envelope");
	expect_error("empty file", "", 0, "line 1: empty file");
}

static void
test_reject_values(void **state)
{
	(void)state;
	expect_error_edit("bad number", 3, "arrival 17x", 0, NULL,
	    "line 3: bad number '17x' for 'arrival'");
	expect_error_edit("negative number", 4, "size -1", 0, NULL,
	    "line 4: bad number '-1' for 'size'");
	expect_error_edit("huge number", 4, "size 99999999999999999999", 0,
	    NULL, "line 4: bad number '99999999999999999999' for 'size'");
	expect_error_edit("missing number", 10, "attempts", 0, NULL,
	    "line 10: bad number '' for 'attempts'");
	expect_error_edit("number with space", 12, "expiry  1700432000", 0,
	    NULL, "line 12: bad number ' 1700432000' for 'expiry'");
	expect_error_edit("bad state", 13, "rcpt sent <bob@example.com>", 0,
	    NULL, "line 13: bad recipient state 'sent'");
	expect_error_edit("rcpt without state", 13, "rcpt <bob@example.com>", 0,
	    NULL, "line 13: 'rcpt' needs a state and an address");
	expect_error_edit("rcpt null", 13, "rcpt pending <>", 0, NULL,
	    "line 13: empty address for 'rcpt'");
	expect_error_edit("sender without brackets", 6, "sender alice@x", 0,
	    NULL, "line 6: address for 'sender' is not in angle brackets");
	expect_error_edit("bad id", 2, "id 0123456789abcdef", 0, NULL,
	    "line 2: bad queue id '0123456789abcdef'");
	expect_error_edit("id path", 2, "id ../../../etc/x", 0, NULL,
	    "line 2: bad queue id");
	expect_error_edit("empty client", 8, "client", 0, NULL,
	    "line 8: empty value for 'client'");
	expect_error_edit("bad ret", 0, NULL, 13, "ret ALL",
	    "line 13: bad value 'ALL' for 'ret'");
	expect_error_edit("digest not sha256", 5, "digest md5:00", 0, NULL,
	    "line 5: bad digest 'md5:00'");
	expect_error_edit("digest upper case", 5, "digest sha256:"
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    0, NULL, "line 5: bad digest");
	expect_error_edit("digest short", 5, "digest sha256:0123", 0, NULL,
	    "line 5: bad digest 'sha256:0123'");
	expect_error_edit("missing digest", 5, NULL, 0, NULL,
	    "line 13: missing required key 'digest'");
	expect_error_edit("held zero", 0, NULL, 13, "held 0",
	    "line 13: bad number '0' for 'held'");
	expect_error_edit("held empty", 0, NULL, 13, "held",
	    "line 13: bad number '' for 'held'");
}

static void
test_reject_control_bytes(void **state)
{
	static const char	 nul_line[] = "strictmail-envelope 2\nid 0123\0"
	    "456789ABCDEF\n";
	struct buf		 b;
	char			 longline[ENVELOPE_MAX_VALUE + 64];

	(void)state;
	expect_error_edit("CR", 7, "helo a\rb", 0, NULL,
	    "line 7: control character 0x0D");
	expect_error_edit("tab", 8, "client\t192.0.2.1", 0, NULL,
	    "line 8: control character 0x09");
	expect_error_edit("escape", 13, "rcpt pending <b\x1b[2J@x>", 0, NULL,
	    "line 13: control character 0x1B");
	expect_error_edit("DEL", 9, "protocol ESMTP\x7f", 0, NULL,
	    "line 9: control character 0x7F");
	expect_error("NUL", nul_line, sizeof(nul_line) - 1,
	    "line 2: control character 0x00");
	/* CRLF line ends: the CR is a control character. */
	buf_init(&b);
	buf_addstr(&b, "strictmail-envelope 2\r\n");
	expect_error("CRLF", b.data, b.len, "line 1: control character 0x0D");
	buf_free(&b);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "helo ", 5);
	expect_error_edit("long line", 7, longline, 0, NULL,
	    "line 7: line too long");
}

static void
test_reject_truncated(void **state)
{
	struct buf	b;
	size_t		cut, line;

	(void)state;
	make_text(&b, 0, NULL, 0, NULL);
	/* Every cut of the file is rejected, naming the line it ends in. */
	for (cut = 0; cut < b.len; cut++) {
		struct envelope	env;
		char		err[256] = "", want[64];
		size_t		i;

		line = 1;
		for (i = 0; i < cut; i++)
			if (b.data[i] == '\n')
				line++;
		if (envelope_parse(b.data, cut, &env, err, sizeof(err)) == 0)
			fail_msg("file cut at %zu bytes was accepted", cut);
		if (cut == 0)
			snprintf(want, sizeof(want), "line 1: empty file");
		else if (b.data[cut - 1] == '\n')
			snprintf(want, sizeof(want), "line %zu: missing", line);
		else
			snprintf(want, sizeof(want), "line %zu: truncated",
			    line);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("cut at %zu: expected '%s...', got '%s'", cut,
			    want, err);
	}
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_is_valid),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_null_sender),
		cmocka_unit_test(test_round_trip_many_rcpts),
		cmocka_unit_test(test_round_trip_odd_values),
		cmocka_unit_test(test_round_trip_held),
		cmocka_unit_test(test_check_rejects),
		cmocka_unit_test(test_reject_keys),
		cmocka_unit_test(test_reject_structure),
		cmocka_unit_test(test_rcpt_error),
		cmocka_unit_test(test_reject_values),
		cmocka_unit_test(test_reject_control_bytes),
		cmocka_unit_test(test_reject_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
