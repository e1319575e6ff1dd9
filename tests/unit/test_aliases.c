/*
 * test_aliases.c - unit tests of the aliases(5) and virtual source
 * parsers and of the stored target lists (lookup/aliases.c).
 *
 * Each case is a source text with the entries expected ("key=value@line",
 * the normalised value the map stores) or the error expected.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/aliases.h"

struct parse_case {
	const char		*name;
	enum aliases_format	 fmt;
	const char		*src;
	const char		*want;	/* entries "key=value@line|...", or NULL */
	const char		*err;	/* the whole error, or NULL */
};

static const struct parse_case parse_cases[] = {
	{ "one target", ALIASES_ALIASES, "postmaster: root\n",
	    "postmaster=root@1|", NULL },
	{ "several targets, spaces normalised", ALIASES_ALIASES,
	    "staff:alice,bob ,  carol@Example.ORG\n",
	    "staff=alice, bob, carol@example.org@1|", NULL },
	{ "keys and names lower-cased", ALIASES_ALIASES, "WebMaster: Alice\n",
	    "webmaster=alice@1|", NULL },
	{ "continuation lines (space and tab)", ALIASES_ALIASES,
	    "list: a,\n  b,\n\tc\nnext: d\n",
	    "list=a, b, c@1|next=d@4|", NULL },
	{ "comments and blank lines, also inside an entry", ALIASES_ALIASES,
	    "# head\n\nlist: a,\n# between\n\n  b\n   # indented comment\n"
	    "x: y\n", "list=a, b@3|x=y@8|", NULL },
	{ "CRLF lines, no final newline", ALIASES_ALIASES, "a: b\r\nc: d",
	    "a=b@1|c=d@2|", NULL },
	{ "every kind", ALIASES_ALIASES,
	    "a: \\alice, /var/log/all, |/usr/bin/filter, "
	    ":include:/etc/mail/list, bob@example.org, carol\n",
	    "a=\\alice, /var/log/all, |/usr/bin/filter, "
	    ":include:/etc/mail/list, bob@example.org, carol@1|", NULL },
	{ "quoted pipe keeps commas and spaces", ALIASES_ALIASES,
	    "a: \"|/usr/bin/foo -x a,b\", b\n",
	    "a=\"|/usr/bin/foo -x a,b\", b@1|", NULL },
	{ "unquoted pipe with spaces", ALIASES_ALIASES,
	    "a: |/usr/bin/foo -x\n", "a=\"|/usr/bin/foo -x\"@1|", NULL },
	{ "quoted path with a space", ALIASES_ALIASES,
	    "a: \"/var/mail box/x\"\n", "a=\"/var/mail box/x\"@1|", NULL },
	{ ":include: with a space after it", ALIASES_ALIASES,
	    "a: :include: /etc/list\n", "a=:include:/etc/list@1|", NULL },
	{ "quoted local part kept", ALIASES_ALIASES,
	    "a: \"john smith\"@Example.org\n",
	    "a=\"john smith\"@example.org@1|", NULL },
	{ "space before the colon", ALIASES_ALIASES, "a : b\n", "a=b@1|",
	    NULL },
	{ "empty source", ALIASES_ALIASES, "", "", NULL },
	{ "duplicate key", ALIASES_ALIASES, "a: b\nc: d\nA: e\n", NULL,
	    "t:3: duplicate key a" },
	{ "missing colon", ALIASES_ALIASES, "a: b\nfoo bar\n", NULL,
	    "t:2: missing colon after the name" },
	{ "empty target list", ALIASES_ALIASES, "a:\n", NULL,
	    "t:1: an empty target list" },
	{ "empty target between commas", ALIASES_ALIASES, "a: b,,c\n", NULL,
	    "t:1: an empty target" },
	{ "trailing comma", ALIASES_ALIASES, "a: b,\n", NULL,
	    "t:1: an empty target" },
	{ "unclosed quote", ALIASES_ALIASES, "a: \"|foo, b\n", NULL,
	    "t:1: bad quoting: no closing quote" },
	{ "quote inside a target", ALIASES_ALIASES, "a: fo\"o\"\n", NULL,
	    "t:1: bad quoting: a quote inside a target" },
	{ "text after a closing quote", ALIASES_ALIASES, "a: \"|x\"y\n", NULL,
	    "t:1: bad quoting: text after the closing quote" },
	{ "relative path refused", ALIASES_ALIASES, "a: ../../etc/passwd\n",
	    NULL, "t:1: a file target must be an absolute path" },
	{ "quoted relative path refused", ALIASES_ALIASES,
	    "a: \"../../etc/passwd\"\n", NULL,
	    "t:1: a file target must be an absolute path" },
	{ "relative include refused", ALIASES_ALIASES,
	    "a: :include:etc/list\n", NULL,
	    "t:1: an :include: file must be an absolute path" },
	{ "folder as file target", ALIASES_ALIASES, "a: /var/mail/\n", NULL,
	    "t:1: a file target must name a file, not a folder" },
	{ "unquoted path with a space", ALIASES_ALIASES,
	    "a: /var/x y\n", NULL, "t:1: a path with spaces must be quoted" },
	{ "not a kind", ALIASES_ALIASES, "a: <bob>\n", NULL,
	    "t:1: not a user, user@domain, \\user, /file, |command or "
	    ":include:/file" },
	{ "empty command", ALIASES_ALIASES, "a: |\n", NULL,
	    "t:1: an empty command" },
	{ "bad domain", ALIASES_ALIASES, "a: b@exa mple\n", NULL,
	    "t:1: bad domain in an address" },
	{ "error names the continuation line", ALIASES_ALIASES,
	    "a: b,\n  c,\n  ../x\n", NULL,
	    "t:3: a file target must be an absolute path" },
	{ "continuation without an entry", ALIASES_ALIASES, "  a: b\n", NULL,
	    "t:1: continuation line without an entry above" },
	{ "NUL byte", ALIASES_ALIASES, "a: b\nc: d\0e\n", NULL,
	    "t:2: NUL byte in the line" },
	{ "control byte", ALIASES_ALIASES, "a: b\x01\n", NULL,
	    "t:1: control character in a target" },
	{ "key with @ in aliases", ALIASES_ALIASES, "a@b: c\n", NULL,
	    "t:1: a name with '@' belongs in a virtual map" },
	{ "virtual: full, catch-all, colon", ALIASES_VIRTUAL,
	    "Info@V.example  alice, bob@remote.example\n@v.example: \\carol\n"
	    "x+y@v.example\tdave\n",
	    "info@v.example=alice, bob@remote.example@1|"
	    "@v.example=\\carol@2|x+y@v.example=dave@3|", NULL },
	{ "virtual: continuation", ALIASES_VIRTUAL,
	    "a@v.example alice,\n  bob\n", "a@v.example=alice, bob@1|", NULL },
	{ "virtual: key without a domain", ALIASES_VIRTUAL, "alice bob\n",
	    NULL, "t:1: a virtual key is user@domain or @domain" },
	{ "virtual: no target", ALIASES_VIRTUAL, "a@v.example\n", NULL,
	    "t:1: an empty target list" },
	{ "virtual: pipe refused", ALIASES_VIRTUAL, "a@v.example |/bin/x\n",
	    NULL, "t:1: a virtual map target is a user, \\user or "
	    "user@domain" },
	{ "virtual: duplicate", ALIASES_VIRTUAL,
	    "@v.example a\n@V.example b\n", NULL,
	    "t:2: duplicate key @v.example" },
};

static int
collect(void *arg, const struct aliases_entry *e, char *err, size_t errlen)
{
	struct buf	*b = arg;

	(void)err;
	(void)errlen;
	buf_printf(b, "%s=%s@%lu|", e->key, e->value, e->line);
	return 0;
}

static void
test_parse_table(void **state)
{
	const struct parse_case	*c;
	struct buf		 got;
	char			 err[512];
	size_t			 i, len;
	int			 rc;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		c = &parse_cases[i];
		/* sources with a NUL: the length up to the final newline */
		len = strlen(c->src);
		if (strstr(c->name, "NUL") != NULL)
			len = strlen(c->src) + 1 + strlen(c->src + len + 1);
		buf_init(&got);
		err[0] = '\0';
		rc = aliases_parse_buf("t", c->src, len, c->fmt, collect, &got,
		    err, sizeof(err));
		buf_addch(&got, '\0');
		if (c->want != NULL && (rc != 0 || strcmp(got.data, c->want)))
			fail_msg("%s: expected entries \"%s\", got rc %d "
			    "\"%s\" (%s)", c->name, c->want, rc, got.data, err);
		if (c->err != NULL && (rc != -1 || strcmp(err, c->err) != 0))
			fail_msg("%s: expected error \"%s\", got rc %d \"%s\"",
			    c->name, c->err, rc, err);
		buf_free(&got);
	}
}

/* A 1 MB line is an error naming its line, not a crash or a cut. */
static void
test_long_line(void **state)
{
	struct buf	src, got;
	char		err[512];
	size_t		i;

	(void)state;
	buf_init(&src);
	buf_init(&got);
	buf_addstr(&src, "a: b\nbig: ");
	for (i = 0; i < 1024 * 1024; i++)
		buf_addch(&src, 'x');
	buf_addstr(&src, "\nc: d\n");
	assert_int_equal(aliases_parse_buf("/etc/aliases", src.data, src.len,
	    ALIASES_ALIASES, collect, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "/etc/aliases:2: line longer than 65536 "
	    "bytes");
	/* exactly 64 KiB fits */
	buf_reset(&src);
	buf_addstr(&src, "big: ");
	for (i = 5; i < ALIASES_LINE_MAX; i++)
		buf_addch(&src, 'x');
	buf_addch(&src, '\n');
	buf_reset(&got);
	assert_int_equal(aliases_parse_buf("t", src.data, src.len,
	    ALIASES_ALIASES, collect, &got, err, sizeof(err)), 0);
	assert_int_equal(got.len, ALIASES_LINE_MAX - 5 + strlen("big=@1|"));
	buf_free(&src);
	buf_free(&got);
}

/* An entry over ALIASES_TARGETS_MAX targets is an error. */
static void
test_many_targets(void **state)
{
	struct buf	src, got;
	char		err[512];
	int		i;

	(void)state;
	buf_init(&src);
	buf_init(&got);
	buf_addstr(&src, "a: u0");
	for (i = 1; i < ALIASES_TARGETS_MAX; i++)
		buf_printf(&src, ",\n u%d", i);
	assert_int_equal(aliases_parse_buf("t", src.data, src.len,
	    ALIASES_ALIASES, collect, &got, err, sizeof(err)), 0);
	buf_addstr(&src, ", one-more\n");
	assert_int_equal(aliases_parse_buf("t", src.data, src.len,
	    ALIASES_ALIASES, collect, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "t:1000: more than 1000 targets");
	buf_free(&src);
	buf_free(&got);
}

static int
refuse(void *arg, const struct aliases_entry *e, char *err, size_t errlen)
{
	(void)arg;
	if (strcmp(e->key, "b") == 0) {
		(void)strlcpy(err, "no room", errlen);
		return -1;
	}
	return 0;
}

static void
test_callback_error(void **state)
{
	const char	*src = "a: x\n\nb: y\n";
	char		 err[512];

	(void)state;
	assert_int_equal(aliases_parse_buf("f", src, strlen(src),
	    ALIASES_ALIASES, refuse, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "f:3: no room");
}

static void
test_split(void **state)
{
	struct aliases_target	*t;
	char			 err[256];
	size_t			 n;

	(void)state;
	assert_int_equal(aliases_split("\\root, \"|/bin/x \\\"q\\\", y\", "
	    "/tmp/f, :include:/l, a@b.example, c", &t, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 6);
	assert_int_equal(t[0].kind, ALIAS_T_MAILBOX);
	assert_string_equal(t[0].value, "root");
	assert_int_equal(t[1].kind, ALIAS_T_PIPE);
	assert_string_equal(t[1].value, "/bin/x \"q\", y");
	assert_int_equal(t[2].kind, ALIAS_T_FILE);
	assert_string_equal(t[2].value, "/tmp/f");
	assert_int_equal(t[3].kind, ALIAS_T_INCLUDE);
	assert_string_equal(t[3].value, "/l");
	assert_int_equal(t[4].kind, ALIAS_T_ADDRESS);
	assert_string_equal(t[4].value, "a@b.example");
	assert_int_equal(t[5].kind, ALIAS_T_NAME);
	assert_string_equal(t[5].value, "c");
	aliases_targets_free(t, n);
	assert_int_equal(aliases_split("  ", &t, &n, err, sizeof(err)), -1);
	assert_string_equal(err, "an empty target list");
	assert_int_equal(aliases_split("a, ../../etc/passwd", &t, &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "a file target must be an absolute path");
}

/* What the map stores splits back to the same targets. */
static void
test_format_roundtrip(void **state)
{
	static const char *values[] = {
		"\"|/bin/sh -c \\\"echo a\\\\b\\\"\"",
		"\"/x/a,b\"",
		"\":include:/a b\"",
		"\"\\\\root\"",
		"\"a, b\"@x.example",
		"|cmd\\x",
	};
	struct aliases_target	*t, *u;
	struct buf		 b;
	char			 err[256];
	size_t			 i, n, m;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		if (aliases_split(values[i], &t, &n, err, sizeof(err)) != 0)
			fail_msg("%s: expected a parse, got %s", values[i], err);
		buf_init(&b);
		aliases_target_format(&t[0], &b);
		buf_addch(&b, '\0');
		if (aliases_split(b.data, &u, &m, err, sizeof(err)) != 0 ||
		    m != 1 || u[0].kind != t[0].kind ||
		    strcmp(u[0].value, t[0].value) != 0)
			fail_msg("%s: formatted as %s, expected the same "
			    "target back", values[i], b.data);
		aliases_targets_free(u, m);
		aliases_targets_free(t, n);
		buf_free(&b);
	}
}

static void
test_parse_file(void **state)
{
	char		 path[] = "/tmp/test_aliases.XXXXXX", err[512];
	const char	*src = "a: b\n";
	struct buf	 got;
	int		 fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, src, strlen(src)), (ssize_t)strlen(src));
	close(fd);
	buf_init(&got);
	assert_int_equal(aliases_parse_file(path, ALIASES_ALIASES, collect,
	    &got, err, sizeof(err)), 0);
	buf_addch(&got, '\0');
	assert_string_equal(got.data, "a=b@1|");
	unlink(path);
	assert_int_equal(aliases_parse_file(path, ALIASES_ALIASES, collect,
	    &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(aliases_parse_file("/tmp", ALIASES_ALIASES, collect,
	    &got, err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: not a regular file");
	buf_free(&got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_targets),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_parse_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
