/*
 * test_creds.c - unit tests of the submission credentials (lookup/creds.c):
 * the source parser and its errors, the refusal of weak and clear
 * hashes, the password check against a compiled map, new hashes, and
 * the atomic replacement of the map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "lookup/creds.h"
#include "lookup/map.h"

/* "secret pw" (openssl passwd -6 -salt saltsalt) */
#define H6 "$6$saltsalt$zM85MwF7wzNFxhHekCkSASe1NaC/xUx1S2eoXlbcx1w6LkHRO4n1" \
	"DK7q.d/HKoYFUjJ10GWDs5jLq2A53OAzU1"
/* "hunter2", yescrypt at the default cost */
#define HY "$y$j9T$abcdefghijklmnopqrstu.$b3VbA.N.4zA4K0aenb4UAwy.Jg9xh1ecEIk" \
	"jR/EbnUD"

struct parse_case {
	const char	*name;
	const char	*src;
	const char	*want;	/* "user@line|..." or NULL */
	const char	*err;	/* the whole error, or NULL */
};

static const struct parse_case parse_cases[] = {
	{ "two users, comments, blanks, CRLF",
	    "# users\n\nalice:" HY "\r\n  # indented\nBob@Example.ORG:" H6 "\n",
	    "alice@3|bob@example.org@5|", NULL },
	{ "blanks around the line", "\t carol:" HY "  \n", "carol@1|", NULL },
	{ "no final newline", "a.b-c_d+e:" HY, "a.b-c_d+e@1|", NULL },
	{ "empty file", "", "", NULL },
	{ "missing colon", "alice\n", NULL, "f:1: missing colon (user:hash)" },
	{ "clear-text password", "# x\nalice:hunter2\n", NULL,
	    "f:2: not a crypt hash (a clear-text password or DES): only $y$ "
	    "(yescrypt) and $6$ (sha512crypt) are taken" },
	{ "DES hash", "alice:abJnggxhB/yWI\n", NULL,
	    "f:1: not a crypt hash (a clear-text password or DES): only $y$ "
	    "(yescrypt) and $6$ (sha512crypt) are taken" },
	{ "MD5 hash", "alice:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n", NULL,
	    "f:1: weak or unknown hash method: only $y$ (yescrypt) and $6$ "
	    "(sha512crypt) are taken" },
	{ "bcrypt hash", "alice:$2b$10$abcdefghijklmnopqrstuu5Wd2iB8PbA"
	    "u7C2VGc.LqfPNlvaDm7ny\n", NULL,
	    "f:1: weak or unknown hash method: only $y$ (yescrypt) and $6$ "
	    "(sha512crypt) are taken" },
	{ "empty hash", "ok:" HY "\nalice:\n", NULL, "f:2: empty hash" },
	{ "truncated $y$ hash", "alice:$y$j9T$abcdefghijklmnopqrstu.$b3VbA\n",
	    NULL, "f:1: malformed $y$ hash (value)" },
	{ "$y$ without salt", "alice:$y$j9T\n", NULL,
	    "f:1: malformed $y$ hash (parameters)" },
	{ "truncated $6$ hash", "alice:$6$saltsalt$zM85\n", NULL,
	    "f:1: malformed $6$ hash (value)" },
	{ "$6$ with a space inside", "alice:$6$salt salt$x\n", NULL,
	    "f:1: malformed $6$ hash (salt)" },
	{ "empty user", ":" HY "\n", NULL, "f:1: not a user name or address" },
	{ "user with a space", "al ice:" HY "\n", NULL,
	    "f:1: not a user name or address" },
	{ "user with a leading dash", "-alice:" HY "\n", NULL,
	    "f:1: not a user name or address" },
	{ "bad domain", "alice@exa_mple..org:" HY "\n", NULL,
	    "f:1: not a user name or address" },
	{ "duplicate user, case-insensitive", "alice:" HY "\nx:" H6
	    "\nALICE:" H6 "\n", NULL, "f:3: duplicate user alice (line 1)" },
	{ "NUL byte", "alice:" HY "\0\n", NULL, "f:1: NUL byte in the line" },
};

static void
test_parse_table(void **state)
{
	struct creds_entry	*e;
	char			 err[512], got[1024];
	size_t			 i, j, n;
	int			 rc;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case	*c = &parse_cases[i];
		size_t			 len = strlen(c->src);

		if (strstr(c->name, "NUL") != NULL)
			len = strlen(c->src) + 2;	/* the NUL, the LF */
		err[0] = '\0';
		rc = creds_parse_buf("f", c->src, len, &e, &n, err,
		    sizeof(err));
		if (c->err != NULL) {
			if (rc != -1 || strcmp(err, c->err) != 0)
				fail_msg("%s: want error \"%s\", got rc %d "
				    "\"%s\"", c->name, c->err, rc, err);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: want success, got \"%s\"", c->name, err);
		got[0] = '\0';
		for (j = 0; j < n; j++) {
			char	one[300];

			(void)bsnprintf(one, sizeof(one), "%s@%lu|",
			    e[j].user, e[j].line);
			(void)strlcat(got, one, sizeof(got));
		}
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: want \"%s\", got \"%s\"", c->name,
			    c->want, got);
		creds_entries_free(e, n);
	}
}

static void
test_long_line(void **state)
{
	struct creds_entry	*e;
	char			*src, err[256];
	size_t			 n, len = CREDS_LINE_MAX + 100;

	(void)state;
	src = xmalloc(len + 1);
	memset(src, 'a', len);
	src[0] = '\n';
	src[len] = '\0';
	assert_int_equal(creds_parse_buf("f", src, len, &e, &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "f:2: line longer than 4096 bytes");
	free(src);
}

static void
test_hash_refused(void **state)
{
	(void)state;
	assert_null(creds_hash_refused(HY));
	assert_null(creds_hash_refused(H6));
	assert_non_null(creds_hash_refused("$6$rounds=5000$saltsalt$zM85"));
	assert_non_null(creds_hash_refused("$5$saltsalt$abc"));
	assert_non_null(creds_hash_refused("$y$j9T$abc$" HY));
	assert_true(creds_user_ok("alice"));
	assert_true(creds_user_ok("Alice.Smith+x@mail.example.org"));
	assert_false(creds_user_ok("alice@"));
	assert_false(creds_user_ok("a/b"));
	assert_false(creds_user_ok("a:b"));
}

/* A temporary folder with FILE in it. */
struct tdir {
	char	dir[64];
	char	src[128];
	char	db[128];
};

static void
tdir_make(struct tdir *t, const char *content)
{
	FILE	*f;

	(void)strlcpy(t->dir, "/tmp/test_creds.XXXXXX", sizeof(t->dir));
	assert_non_null(mkdtemp(t->dir));
	(void)bsnprintf(t->src, sizeof(t->src), "%s/passwd", t->dir);
	(void)bsnprintf(t->db, sizeof(t->db), "%s/passwd.db", t->dir);
	assert_non_null(f = fopen(t->src, "w"));
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
tdir_write(struct tdir *t, const char *content)
{
	FILE	*f;

	assert_non_null(f = fopen(t->src, "w"));
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
tdir_remove(struct tdir *t)
{
	(void)unlink(t->src);
	(void)unlink(t->db);
	assert_int_equal(rmdir(t->dir), 0);
}

static void
test_check(void **state)
{
	struct tdir	 t;
	struct map	*m;
	struct stat	 st;
	char		 err[512];
	size_t		 n = 0;

	(void)state;
	tdir_make(&t, "alice:" HY "\nBob@Example.org:" H6 "\n");
	assert_int_equal(creds_compile(t.src, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(stat(t.db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_non_null(m = map_open(t.db, err, sizeof(err)));
	assert_int_equal(creds_check(m, "alice", "hunter2", err, sizeof(err)),
	    CREDS_OK);
	assert_int_equal(creds_check(m, "ALICE", "hunter2", err, sizeof(err)),
	    CREDS_OK);
	assert_int_equal(creds_check(m, "alice", "hunter3", err, sizeof(err)),
	    CREDS_BAD);
	assert_int_equal(creds_check(m, "alice", "", err, sizeof(err)),
	    CREDS_BAD);
	assert_int_equal(creds_check(m, "bob@example.org", "secret pw", err,
	    sizeof(err)), CREDS_OK);
	assert_int_equal(creds_check(m, "bob@example.org", "secret", err,
	    sizeof(err)), CREDS_BAD);
	/* An unknown user: the answer of a wrong password. */
	assert_int_equal(creds_check(m, "mallory", "hunter2", err,
	    sizeof(err)), CREDS_BAD);
	assert_int_equal(creds_check(m, "bad user", "hunter2", err,
	    sizeof(err)), CREDS_BAD);
	map_close(m);
	tdir_remove(&t);
}

/* A value in the map that is not a hash (written by hand): TEMPFAIL. */
static void
test_check_damaged(void **state)
{
	struct map_writer	*w;
	struct map		*m;
	char			 path[] = "/tmp/test_creds_dmg.XXXXXX", db[64];
	char			 err[512];

	(void)state;
	assert_non_null(mkdtemp(path));
	(void)bsnprintf(db, sizeof(db), "%s/c.db", path);
	assert_non_null(w = map_create(db, err, sizeof(err)));
	assert_int_equal(map_put(w, "alice", "hunter2", err, sizeof(err)), 0);
	assert_int_equal(map_commit(w, err, sizeof(err)), 0);
	assert_non_null(m = map_open(db, err, sizeof(err)));
	err[0] = '\0';
	assert_int_equal(creds_check(m, "alice", "hunter2", err, sizeof(err)),
	    CREDS_TEMPFAIL);
	assert_non_null(strstr(err, "the hash of alice: not a crypt hash"));
	map_close(m);
	unlink(db);
	rmdir(path);
}

static void
test_hash(void **state)
{
	struct tdir	 t;
	struct map	*m;
	char		*h, *h2, *src, err[512], big[600];
	size_t		 n, len;

	(void)state;
	assert_int_equal(creds_hash("correct horse", &h, err, sizeof(err)), 0);
	assert_int_equal(strncmp(h, "$y$", 3), 0);
	assert_null(creds_hash_refused(h));
	assert_int_equal(creds_hash("correct horse", &h2, err, sizeof(err)), 0);
	assert_string_not_equal(h, h2);		/* a new salt each time */
	len = strlen(h) + 32;
	src = xmalloc(len);
	(void)bsnprintf(src, len, "carol:%s\n", h);
	tdir_make(&t, src);
	assert_int_equal(creds_compile(t.src, &n, err, sizeof(err)), 0);
	assert_non_null(m = map_open(t.db, err, sizeof(err)));
	assert_int_equal(creds_check(m, "carol", "correct horse", err,
	    sizeof(err)), CREDS_OK);
	assert_int_equal(creds_check(m, "carol", "correct horsE", err,
	    sizeof(err)), CREDS_BAD);
	map_close(m);
	tdir_remove(&t);
	free(src);
	free(h);
	free(h2);
	memset(big, 'x', sizeof(big) - 1);	/* over CREDS_PASSWORD_MAX */
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(creds_hash(big, &h, err, sizeof(err)), -1);
	assert_string_equal(err, "password longer than 511 bytes");
}

/* A reader of the old map keeps it; a failed build leaves it. */
static void
test_replace(void **state)
{
	struct tdir	 t;
	struct map	*old, *cur;
	struct stat	 a, b;
	char		 err[512];
	size_t		 n;

	(void)state;
	tdir_make(&t, "alice:" HY "\n");
	assert_int_equal(creds_compile(t.src, &n, err, sizeof(err)), 0);
	assert_non_null(old = map_open(t.db, err, sizeof(err)));
	assert_int_equal(stat(t.db, &a), 0);

	tdir_write(&t, "alice:" H6 "\n");
	assert_int_equal(creds_compile(t.src, &n, err, sizeof(err)), 0);
	assert_int_equal(stat(t.db, &b), 0);
	assert_true(a.st_ino != b.st_ino);
	assert_true(map_changed(old));
	assert_int_equal(creds_check(old, "alice", "hunter2", err,
	    sizeof(err)), CREDS_OK);
	assert_non_null(cur = map_open(t.db, err, sizeof(err)));
	assert_int_equal(creds_check(cur, "alice", "hunter2", err,
	    sizeof(err)), CREDS_BAD);
	assert_int_equal(creds_check(cur, "alice", "secret pw", err,
	    sizeof(err)), CREDS_OK);
	map_close(old);

	/* A bad line: an error naming it, the map as it was. */
	tdir_write(&t, "alice:" HY "\nbob:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n");
	assert_int_equal(creds_compile(t.src, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/passwd:2: weak or unknown hash"));
	assert_int_equal(stat(t.db, &a), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_false(map_changed(cur));
	assert_int_equal(creds_check(cur, "alice", "secret pw", err,
	    sizeof(err)), CREDS_OK);
	map_close(cur);
	tdir_remove(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_hash_refused),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_damaged),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_replace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
