/*
 * test_tls_verify.c - unit tests of the one certificate verifier,
 * tls_verify_chain, with every certificate of tests/pki/mkpki.sh (made in
 * a temporary folder, plus a few leaves issued for name rules and a
 * second, foreign CA): good chains, wrong names, wildcard rules, a CN
 * without subjectAltName, expiry and not-yet-valid judged at the time
 * passed in, self-signed, unknown issuers, broken input; the name rule
 * alone on a table; loading trust anchors and its messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tls.h"
#include "common/util.h"

#define DAY	(24 * 60 * 60)

static char	pki_dir[] = "/tmp/sm-test-tls-verify.XXXXXX";
static char	other_dir[sizeof(pki_dir) + 8];	/* a foreign CA */
static struct tls_trust	*anchors;	/* ca.pem */
static time_t	made;			/* about when the PKI was made */

/* Leaves issued on top of mkpki.sh's set: NAME and its SANs. */
static const char *const extra_leaves[][4] = {
	{ "multisan", "DNS:a.example.test", "DNS:b.example.test", NULL },
	{ "partialwild", "DNS:m*.example.test", NULL, NULL },
	{ "midwild", "DNS:mx.*.example.test", NULL, NULL },
	{ "tldwild", "DNS:*.test", NULL, NULL },
	{ "upper", "DNS:MX.Example.TEST", NULL, NULL },
	{ "dotted", "DNS:mx.example.test.", NULL, NULL },
};

/* ---- the test PKI ---- */

static uint8_t *
file_read(const char *dir, const char *name, size_t *len)
{
	char		 path[512];
	struct stat	 st;
	uint8_t		*data;
	FILE		*f;

	assert_true(bsnprintf(path, sizeof(path), "%s/%s", dir, name));
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("expected %s to exist, got %s", path, strerror(errno));
	assert_int_equal(fstat(fileno(f), &st), 0);
	*len = (size_t)st.st_size;
	data = xmalloc(*len + 1);
	assert_int_equal(fread(data, 1, *len, f), *len);
	fclose(f);
	return data;
}

/* The chain of DIR/NAME.pem, every certificate in file order. */
static void
chain_of(struct tls_chain *chain, const char *dir, const char *name)
{
	char	 fname[128], err[256];
	uint8_t	*pem;
	size_t	 len;

	assert_true(bsnprintf(fname, sizeof(fname), "%s.pem", name));
	pem = file_read(dir, fname, &len);
	if (tls_chain_from_pem(chain, pem, len, err, sizeof(err)) == -1)
		fail_msg("expected the chain of %s, got: %s", fname, err);
	free(pem);
}

static struct tls_trust *
trust_of(const char *dir, const char *name)
{
	struct tls_trust	*a;
	char			 path[512], err[600];

	assert_true(bsnprintf(path, sizeof(path), "%s/%s", dir, name));
	if ((a = tls_trust_load(path, err, sizeof(err))) == NULL)
		fail_msg("expected anchors from %s, got: %s", path, err);
	return a;
}

static int
run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static int
pki_issue_extra(const char *top)
{
	char	cmd[1024], sans[256];
	size_t	i, j;

	for (i = 0; i < sizeof(extra_leaves) / sizeof(extra_leaves[0]); i++) {
		sans[0] = '\0';
		for (j = 1; j < 4 && extra_leaves[i][j] != NULL; j++) {
			(void)strlcat(sans, " '", sizeof(sans));
			(void)strlcat(sans, extra_leaves[i][j], sizeof(sans));
			(void)strlcat(sans, "'", sizeof(sans));
		}
		if (!bsnprintf(cmd, sizeof(cmd), "sh '%s/tests/pki/mkpki.sh' "
		    "issue '%s' %s%s >/dev/null 2>&1", top, pki_dir,
		    extra_leaves[i][0], sans) || run(cmd) == -1)
			return -1;
	}
	return 0;
}

static int
pki_setup(void **state)
{
	const char	*top = getenv("SM_TOP");
	char		 cmd[1024], err[256];
	uint8_t		*pem;
	size_t		 len;

	(void)state;
	if (top == NULL)
		top = ".";
	made = time(NULL);
	if (mkdtemp(pki_dir) == NULL ||
	    !bsnprintf(other_dir, sizeof(other_dir), "%s/other", pki_dir))
		return -1;
	if (!bsnprintf(cmd, sizeof(cmd), "sh '%s/tests/pki/mkpki.sh' '%s' "
	    ">/dev/null 2>&1 && sh '%s/tests/pki/mkpki.sh' '%s' >/dev/null "
	    "2>&1", top, pki_dir, top, other_dir) || run(cmd) == -1 ||
	    pki_issue_extra(top) == -1)
		return -1;
	pem = file_read(pki_dir, "ca.pem", &len);
	anchors = tls_trust_new(pem, len, "ca.pem", err, sizeof(err));
	free(pem);
	if (anchors == NULL) {
		fprintf(stderr, "ca.pem: %s\n", err);
		return -1;
	}
	return 0;
}

static int
pki_teardown(void **state)
{
	char	cmd[512];

	(void)state;
	tls_trust_free(anchors);
	tls_cleanup();
	if (bsnprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki_dir))
		(void)system(cmd);
	return 0;
}

/* ---- verdicts ---- */

static const char *
code_name(enum tls_verify_code c)
{
	switch (c) {
	case TLS_VERIFY_OK:
		return "ok";
	case TLS_VERIFY_UNTRUSTED:
		return "untrusted";
	case TLS_VERIFY_EXPIRED:
		return "expired";
	case TLS_VERIFY_NOT_YET_VALID:
		return "not yet valid";
	case TLS_VERIFY_NAME_MISMATCH:
		return "name mismatch";
	}
	return "?";
}

/*
 * Verifies DIR/CERT.pem for the names (NULL-terminated) at now against a;
 * the verdict must have code want and a reason that starts with prefix
 * (the whole reason when exact).
 */
static void
verdict_is(const char *dir, const char *cert, const char *const *names,
    time_t now, const struct tls_trust *a, enum tls_verify_code want,
    const char *prefix, int exact)
{
	struct tls_chain	chain = { 0 };
	struct tls_verdict	v;
	size_t			n = 0;
	enum tls_verify_code	got;

	while (names[n] != NULL)
		n++;
	chain_of(&chain, dir, cert);
	got = tls_verify_chain(&chain, names, n, now, a, &v);
	if (got != want || v.code != got)
		fail_msg("%s for %s: expected %s, got %s (%s)", cert,
		    n > 0 ? names[0] : "no name", code_name(want),
		    code_name(got), v.reason);
	if (exact ? strcmp(v.reason, prefix) != 0 :
	    strncmp(v.reason, prefix, strlen(prefix)) != 0)
		fail_msg("%s: expected a reason %s '%s', got '%s'", cert,
		    exact ? "equal to" : "starting with", prefix, v.reason);
	if (getenv("TEST_TLS_VERBOSE") != NULL)
		fprintf(stderr, "%s: %s\n", cert, v.reason);
	tls_chain_free(&chain);
}

static void
ok_for(const char *cert, const char *name)
{
	const char *const	names[] = { name, NULL };

	verdict_is(pki_dir, cert, names, time(NULL), anchors, TLS_VERIFY_OK,
	    "verified", 1);
}

static void
mismatch_for(const char *cert, const char *name, const char *reason)
{
	const char *const	names[] = { name, NULL };

	verdict_is(pki_dir, cert, names, time(NULL), anchors,
	    TLS_VERIFY_NAME_MISMATCH, reason, 1);
}

/* ---- chains that verify ---- */

static void
test_good_chains(void **state)
{
	(void)state;
	ok_for("valid", "mx.example.test");
	ok_for("valid", "localhost");
	ok_for("rsa", "mx.example.test");
	/* The leaf and the intermediate the server sends. */
	ok_for("chain", "mx.example.test");
}

/* The name that matched comes back as given. */
static void
test_matched_name(void **state)
{
	const char *const	names[] = { "example.org", "B.Example.Test.",
				    "a.example.test" };
	struct tls_chain	chain = { 0 };
	struct tls_verdict	v;

	(void)state;
	chain_of(&chain, pki_dir, "multisan");
	assert_int_equal(tls_verify_chain(&chain, names, 3, time(NULL),
	    anchors, &v), TLS_VERIFY_OK);
	assert_string_equal(v.name, "B.Example.Test.");
	assert_string_equal(v.reason, "verified");
	tls_chain_free(&chain);
}

/* An intermediate may itself be the anchor; the root alone is then not
 * needed. */
static void
test_intermediate_anchor(void **state)
{
	const char *const	 names[] = { "mx.example.test", NULL };
	struct tls_trust	*inter;

	(void)state;
	inter = trust_of(pki_dir, "intermediate.pem");
	verdict_is(pki_dir, "chain", names, time(NULL), inter, TLS_VERIFY_OK,
	    "verified", 1);
	verdict_is(pki_dir, "incomplete", names, time(NULL), inter,
	    TLS_VERIFY_OK, "verified", 1);
	/* Root-signed leaves do not chain to it. */
	verdict_is(pki_dir, "valid", names, time(NULL), inter,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: unknown issuer", 0);
	tls_trust_free(inter);
}

/* ---- names ---- */

static void
test_wrong_name(void **state)
{
	(void)state;
	mismatch_for("wrongname", "mx.example.test",
	    "name mismatch: wanted mx.example.test, certificate has "
	    "other.example.test");
	mismatch_for("valid", "mx1.example.org",
	    "name mismatch: wanted mx1.example.org, certificate has "
	    "mx.example.test, localhost");
	mismatch_for("multisan", "mx1.example.org",
	    "name mismatch: wanted mx1.example.org, certificate has "
	    "a.example.test, b.example.test");
	/* An IP address entry is not a DNS name. */
	mismatch_for("valid", "127.0.0.1",
	    "name mismatch: wanted 127.0.0.1, certificate has "
	    "mx.example.test, localhost");
	mismatch_for("ipsan", "127.0.1.1",
	    "name mismatch: wanted 127.0.1.1, certificate has no DNS name");
	/* A suffix or a prefix of a name is not the name. */
	mismatch_for("valid", "example.test",
	    "name mismatch: wanted example.test, certificate has "
	    "mx.example.test, localhost");
	mismatch_for("valid", "x.mx.example.test",
	    "name mismatch: wanted x.mx.example.test, certificate has "
	    "mx.example.test, localhost");
}

/* The secure level: several names, one must match; the text lists all. */
static void
test_several_names(void **state)
{
	const char *const	none[] = { NULL };
	const char *const	two[] = { "example.org", "mx.example.org",
				    NULL };
	const char *const	hit[] = { "example.org", "b.example.test",
				    NULL };

	(void)state;
	verdict_is(pki_dir, "multisan", two, time(NULL), anchors,
	    TLS_VERIFY_NAME_MISMATCH, "name mismatch: wanted example.org or "
	    "mx.example.org, certificate has a.example.test, b.example.test",
	    1);
	verdict_is(pki_dir, "multisan", hit, time(NULL), anchors,
	    TLS_VERIFY_OK, "verified", 1);
	/* No name wanted is never a pass. */
	verdict_is(pki_dir, "valid", none, time(NULL), anchors,
	    TLS_VERIFY_NAME_MISMATCH, "name mismatch: wanted no name, "
	    "certificate has mx.example.test, localhost", 1);
}

/* The CN names mx.example.test, but only subjectAltName counts. */
static void
test_cn_only(void **state)
{
	(void)state;
	mismatch_for("cnonly", "mx.example.test",
	    "name mismatch: wanted mx.example.test, certificate has no DNS "
	    "name");
}

static void
test_wildcards(void **state)
{
	(void)state;
	ok_for("wildcard", "mx.example.test");
	ok_for("wildcard", "MX.Example.Test.");
	mismatch_for("wildcard", "a.b.example.test",
	    "name mismatch: wanted a.b.example.test, certificate has "
	    "*.example.test");
	mismatch_for("wildcard", "example.test",
	    "name mismatch: wanted example.test, certificate has "
	    "*.example.test");
	mismatch_for("wildcard", ".example.test",
	    "name mismatch: wanted .example.test, certificate has "
	    "*.example.test");
	/* A wildcard wanted is not a name. */
	mismatch_for("wildcard", "*.example.test",
	    "name mismatch: wanted *.example.test, certificate has "
	    "*.example.test");
	/* Partial-label and inner wildcards are never wildcards. */
	mismatch_for("partialwild", "mx.example.test",
	    "name mismatch: wanted mx.example.test, certificate has "
	    "m*.example.test");
	mismatch_for("midwild", "mx.a.example.test",
	    "name mismatch: wanted mx.a.example.test, certificate has "
	    "mx.*.example.test");
	/* Nor one over a single label. */
	mismatch_for("tldwild", "example.test",
	    "name mismatch: wanted example.test, certificate has *.test");
}

static void
test_case_and_dots(void **state)
{
	(void)state;
	ok_for("valid", "MX.EXAMPLE.TEST");
	ok_for("valid", "mx.example.test.");
	ok_for("upper", "mx.example.test");
	ok_for("upper", "mx.example.test.");
	ok_for("dotted", "mx.example.test");
	ok_for("dotted", "Mx.Example.Test.");
	/* One dot, not two. */
	mismatch_for("valid", "mx.example.test..",
	    "name mismatch: wanted mx.example.test.., certificate has "
	    "mx.example.test, localhost");
}

/* The rule alone. */
static void
test_name_rule(void **state)
{
	static const struct {
		const char	*name;
		const char	*san;
		int		 want;
	} t[] = {
		{ "mx.example.org", "mx.example.org", 1 },
		{ "MX.example.ORG", "mx.EXAMPLE.org", 1 },
		{ "mx.example.org.", "mx.example.org", 1 },
		{ "mx.example.org", "mx.example.org.", 1 },
		{ "mx.example.org.", "mx.example.org.", 1 },
		{ "mx.example.org", "mx.example.org..", 0 },
		{ "mx.example.org", "mx.example.or", 0 },
		{ "mx.example.or", "mx.example.org", 0 },
		{ "mx.example.org", "*.example.org", 1 },
		{ "mx.example.org.", "*.example.org.", 1 },
		{ "xn--bcher-kva.example.org", "*.example.org", 1 },
		{ "a.b.example.org", "*.example.org", 0 },
		{ "example.org", "*.example.org", 0 },
		{ ".example.org", "*.example.org", 0 },
		{ "mx.example.org", "m*.example.org", 0 },
		{ "mx.example.org", "*x.example.org", 0 },
		{ "mx.example.org", "mx.*.org", 0 },
		{ "mx.example.org", "**.example.org", 0 },
		{ "mx.example.org", "*.*.org", 0 },
		{ "mx.org", "*.org", 0 },
		{ "mx.org", "*", 0 },
		{ "x", "*", 0 },
		{ "mx.example.org", "*.", 0 },
		{ "mx.example.org", "", 0 },
		{ "", "", 0 },
		{ ".", ".", 0 },
		{ "", "mx.example.org", 0 },
		{ "*.example.org", "*.example.org", 0 },
		{ "*.example.org", "mx.example.org", 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (tls_name_matches(t[i].name, t[i].san,
		    strlen(t[i].san)) != t[i].want)
			fail_msg("expected '%s' %s '%s'", t[i].name,
			    t[i].want ? "to match" : "not to match", t[i].san);
	}
	/* The NUL inside the entry, read with its full length. */
	assert_int_equal(tls_name_matches("mx.example.org",
	    "mx.example.org\0.evil", sizeof("mx.example.org\0.evil") - 1), 0);
	assert_int_equal(tls_name_matches("mx.example.org",
	    "mx.example.org.\0", sizeof("mx.example.org.\0") - 1), 0);
}

/* ---- time: judged at the time passed in, not at the clock ---- */

static void
test_expired(void **state)
{
	const char *const	names[] = { "mx.example.test", NULL };

	(void)state;
	verdict_is(pki_dir, "expired", names, time(NULL), anchors,
	    TLS_VERIFY_EXPIRED, "certificate expired: "
	    "valid until 2021-01-01 00:00:00 UTC", 1);
	/* Inside its window the leaf is fine, but the CA was not yet made:
	 * every certificate of the path counts. */
	verdict_is(pki_dir, "expired", names, 1593561600 /* 2020-07-01 */,
	    anchors, TLS_VERIFY_NOT_YET_VALID, "certificate not yet valid: "
	    "issuer O=strictmail test, CN=strictmail test CA valid from ",
	    0);
	/* A good certificate 826 days from now, and a day before it was
	 * made. */
	verdict_is(pki_dir, "valid", names, made + 826 * DAY, anchors,
	    TLS_VERIFY_EXPIRED, "certificate expired: "
	    "valid until ", 0);
	verdict_is(pki_dir, "valid", names, made - DAY, anchors,
	    TLS_VERIFY_NOT_YET_VALID, "certificate not yet valid: valid "
	    "from ", 0);
	/* Time is checked before names. */
	verdict_is(pki_dir, "wrongname", names, made + 826 * DAY, anchors,
	    TLS_VERIFY_EXPIRED, "certificate expired: ", 0);
}

static void
test_not_yet_valid(void **state)
{
	const char *const	names[] = { "mx.example.test", NULL };

	(void)state;
	verdict_is(pki_dir, "notyetvalid", names, time(NULL), anchors,
	    TLS_VERIFY_NOT_YET_VALID, "certificate not yet valid: valid "
	    "from ", 0);
	/* Two years on it is fine: mbedTLS's own clock check is not used. */
	verdict_is(pki_dir, "notyetvalid", names, made + 2 * 366 * DAY,
	    anchors, TLS_VERIFY_OK, "verified", 1);
	/* Long after, it has expired. */
	verdict_is(pki_dir, "notyetvalid", names, made + 21 * 366 * DAY,
	    anchors, TLS_VERIFY_EXPIRED, "certificate expired: ", 0);
}

/* ---- trust ---- */

static void
test_self_signed(void **state)
{
	const char *const	 names[] = { "mx.example.test", NULL };
	struct tls_trust	*self;

	(void)state;
	verdict_is(pki_dir, "selfsigned", names, time(NULL), anchors,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: self-signed certificate",
	    1);
	/* Trust comes before names and times. */
	verdict_is(pki_dir, "selfsigned", names, made + 3000 * DAY, anchors,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: self-signed certificate",
	    1);
	/* Named as an anchor itself, it is trusted. */
	self = trust_of(pki_dir, "selfsigned.pem");
	verdict_is(pki_dir, "selfsigned", names, time(NULL), self,
	    TLS_VERIFY_OK, "verified", 1);
	tls_trust_free(self);
}

static void
test_untrusted_ca(void **state)
{
	const char *const	 names[] = { "mx.example.test", NULL };
	struct tls_trust	*other;

	(void)state;
	/* Another CA with the very same name: the signature decides. */
	other = trust_of(other_dir, "ca.pem");
	verdict_is(pki_dir, "valid", names, time(NULL), other,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: unknown issuer "
	    "O=strictmail test, CN=strictmail test CA", 1);
	verdict_is(pki_dir, "chain", names, time(NULL), other,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: unknown issuer ", 0);
	verdict_is(other_dir, "valid", names, time(NULL), other,
	    TLS_VERIFY_OK, "verified", 1);
	verdict_is(other_dir, "valid", names, time(NULL), anchors,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: unknown issuer ", 0);
	tls_trust_free(other);
	/* The intermediate missing. */
	verdict_is(pki_dir, "incomplete", names, time(NULL), anchors,
	    TLS_VERIFY_UNTRUSTED, "untrusted chain: unknown issuer "
	    "O=strictmail test, CN=strictmail test intermediate CA", 1);
	/* A CA is not a server: no serverAuth needed of it, but it does not
	 * name the MX either. */
	verdict_is(pki_dir, "ca", names, time(NULL), anchors,
	    TLS_VERIFY_NAME_MISMATCH, "name mismatch: ", 0);
}

/* Broken or odd input: never a pass. */
static void
test_bad_input(void **state)
{
	const char *const	names[] = { "mx.example.test" };
	static const uint8_t	junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct tls_chain	chain = { 0 }, big = { 0 };
	struct tls_verdict	v;
	size_t			i;

	(void)state;
	assert_int_equal(tls_verify_chain(&chain, names, 1, time(NULL),
	    anchors, &v), TLS_VERIFY_UNTRUSTED);
	assert_string_equal(v.reason, "untrusted chain: no certificate");
	assert_int_equal(tls_chain_add(&chain, junk, sizeof(junk)), 0);
	assert_int_equal(tls_verify_chain(&chain, names, 1, time(NULL),
	    anchors, &v), TLS_VERIFY_UNTRUSTED);
	assert_non_null(strstr(v.reason,
	    "untrusted chain: certificate 1 cannot be parsed: "));
	tls_chain_free(&chain);
	/* A good leaf followed by junk. */
	chain_of(&chain, pki_dir, "valid");
	assert_int_equal(tls_chain_add(&chain, junk, sizeof(junk)), 0);
	assert_int_equal(tls_verify_chain(&chain, names, 1, time(NULL),
	    anchors, &v), TLS_VERIFY_UNTRUSTED);
	assert_non_null(strstr(v.reason, "certificate 2 cannot be parsed"));
	/* A chain holds TLS_CHAIN_MAX certificates, no more. */
	for (i = 0; i < TLS_CHAIN_MAX; i++)
		assert_int_equal(tls_chain_add(&big, chain.cert[0].data,
		    chain.cert[0].len), 0);
	assert_int_equal(tls_chain_add(&big, junk, sizeof(junk)), -1);
	assert_int_equal(big.n, TLS_CHAIN_MAX);
	/* The leaf repeated verifies: the extra copies are never a path. */
	assert_int_equal(tls_verify_chain(&big, names, 1, time(NULL),
	    anchors, &v), TLS_VERIFY_OK);
	tls_chain_free(&big);
	tls_chain_free(&chain);
	tls_chain_free(&chain);		/* twice is harmless */
}

/* The order of the chain as sent: intermediate first does not verify
 * the intermediate's name. */
static void
test_leaf_first(void **state)
{
	const char *const	names[] = { "mx.example.test" };
	struct tls_chain	chain = { 0 }, swapped = { 0 };
	struct tls_verdict	v;

	(void)state;
	chain_of(&chain, pki_dir, "chain");
	assert_int_equal(chain.n, 2);
	assert_int_equal(tls_chain_add(&swapped, chain.cert[1].data,
	    chain.cert[1].len), 0);
	assert_int_equal(tls_chain_add(&swapped, chain.cert[0].data,
	    chain.cert[0].len), 0);
	assert_int_not_equal(tls_verify_chain(&swapped, names, 1, time(NULL),
	    anchors, &v), TLS_VERIFY_OK);
	tls_chain_free(&swapped);
	tls_chain_free(&chain);
}

/* ---- trust anchors ---- */

static void
test_trust_load(void **state)
{
	static const char garbage_cert[] = "-----BEGIN CERTIFICATE-----\n"
	    "bm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
	struct tls_trust	*a;
	char			 err[600], path[512];
	uint8_t			*pem, *both;
	size_t			 len;

	(void)state;
	a = tls_trust_load("/nonexistent/ca.pem", err, sizeof(err));
	assert_null(a);
	assert_string_equal(err,
	    "CA file /nonexistent/ca.pem: No such file or directory");
	a = tls_trust_load(pki_dir, err, sizeof(err));
	assert_null(a);
	assert_non_null(strstr(err, ": not a regular file"));
	assert_true(bsnprintf(path, sizeof(path), "%s/valid.key", pki_dir));
	assert_null(tls_trust_load(path, err, sizeof(err)));
	if (strstr(err, "valid.key: no certificate in it") == NULL)
		fail_msg("expected 'no certificate in it', got '%s'", err);
	assert_null(tls_trust_new((const uint8_t *)"", 0, "CA file x", err,
	    sizeof(err)));
	assert_string_equal(err, "CA file x: no certificate in it");
	assert_null(tls_trust_new((const uint8_t *)garbage_cert,
	    sizeof(garbage_cert) - 1, "CA file y", err, sizeof(err)));
	assert_non_null(strstr(err, "CA file y: "));
	/* A bundle with a broken entry keeps the good ones. */
	pem = file_read(pki_dir, "ca.pem", &len);
	both = xmalloc(len + sizeof(garbage_cert) - 1);
	memcpy(both, garbage_cert, sizeof(garbage_cert) - 1);
	memcpy(both + sizeof(garbage_cert) - 1, pem, len);
	a = tls_trust_new(both, len + sizeof(garbage_cert) - 1, "bundle", err,
	    sizeof(err));
	assert_non_null(a);
	assert_int_equal(tls_trust_count(a), 1);
	assert_int_equal(tls_trust_skipped(a), 1);
	tls_trust_free(a);
	free(both);
	free(pem);
	a = trust_of(pki_dir, "chain.pem");
	assert_int_equal(tls_trust_count(a), 2);
	assert_int_equal(tls_trust_skipped(a), 0);
	tls_trust_free(a);
	tls_trust_free(NULL);
	/* The system bundle, where there is one. */
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		a = tls_trust_load("/etc/ssl/certs/ca-certificates.crt", err,
		    sizeof(err));
		if (a == NULL)
			fail_msg("expected the system bundle, got %s", err);
		assert_true(tls_trust_count(a) > 10);
		tls_trust_free(a);
	}
}

/* The chain helpers. */
static void
test_chain_pem(void **state)
{
	struct tls_chain	chain = { 0 };
	char			err[256];
	uint8_t			*pem;
	size_t			len;

	(void)state;
	pem = file_read(pki_dir, "chain.pem", &len);
	assert_int_equal(tls_chain_from_pem(&chain, pem, len, err,
	    sizeof(err)), 0);
	assert_int_equal(chain.n, 2);
	assert_true(chain.cert[0].len > 100 && chain.cert[0].data[0] == 0x30);
	free(pem);
	pem = file_read(pki_dir, "valid.pem", &len);
	assert_int_equal(tls_chain_from_pem(&chain, pem, len, err,
	    sizeof(err)), 0);
	assert_int_equal(chain.n, 1);
	free(pem);
	assert_int_equal(tls_chain_from_pem(&chain, (const uint8_t *)"junk",
	    4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate"));
	tls_chain_free(&chain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chains),
		cmocka_unit_test(test_matched_name),
		cmocka_unit_test(test_intermediate_anchor),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_several_names),
		cmocka_unit_test(test_cn_only),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_case_and_dots),
		cmocka_unit_test(test_name_rule),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_untrusted_ca),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_leaf_first),
		cmocka_unit_test(test_trust_load),
		cmocka_unit_test(test_chain_pem),
	};

	log_init("test_tls_verify", 1, 0);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
