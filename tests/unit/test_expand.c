/*
 * test_expand.c - unit tests of recipient expansion (lookup/expand.c)
 * over real compiled maps, with fake users and domains.
 *
 * Users: alice, bob, carol, dave, nobody, and u0..u9999; "tempuser"
 * makes the user database fail.  Local domains: mx.test, localhost;
 * virtual: v.example, v2.example.  Each case expands one address and
 * compares the targets, written "M:user:value" (mailbox), "m:..." (a
 * mailbox from \user), "F:", "P:", "R:", "E:" (error) and "e:" (a
 * temporary error), joined by '|', or the status and a part of the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/expand.h"
#include "lookup/map.h"

static char	dir[64];
static char	path_list[128], path_gw[128], path_link[128], path_loop[128];
static char	path_bad[128], path_missing[128];

struct world {
	struct map		*aliases;
	struct map		*virtual;
	struct expand_config	 c;
	int			 lookups;	/* user_exists calls */
};

static int
is_local(void *arg, const char *d)
{
	(void)arg;
	return strcmp(d, "mx.test") == 0 || strcmp(d, "localhost") == 0;
}

static int
is_virtual(void *arg, const char *d)
{
	(void)arg;
	return strcmp(d, "v.example") == 0 || strcmp(d, "v2.example") == 0;
}

static enum expand_user
user_exists(void *arg, const char *u)
{
	static const char	*users[] = { "alice", "bob", "carol", "dave",
				    "nobody", "root" };
	struct world		*w = arg;
	uint64_t		 n;
	size_t			 i;

	w->lookups++;
	if (strcmp(u, "tempuser") == 0)
		return EXPAND_USER_TEMPFAIL;
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcmp(u, users[i]) == 0)
			return EXPAND_USER_FOUND;
	if (u[0] == 'u' && parse_u64(u + 1, 0, 9999, &n) == 0)
		return EXPAND_USER_FOUND;
	return EXPAND_USER_NOTFOUND;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
compile(const char *name, const char *text, enum aliases_format fmt)
{
	char	path[160], err[512];
	size_t	n;

	(void)bsnprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, text, 0644);
	if (map_compile(path, fmt, &n, err, sizeof(err)) != 0)
		fail_msg("compiling %s: %s", name, err);
}

static int
group_setup(void **state)
{
	struct buf	 a;
	int		 i;

	(void)state;
	(void)strlcpy(dir, "/tmp/test_expand.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)bsnprintf(path_list, sizeof(path_list), "%s/list", dir);
	(void)bsnprintf(path_gw, sizeof(path_gw), "%s/gw", dir);
	(void)bsnprintf(path_link, sizeof(path_link), "%s/link", dir);
	(void)bsnprintf(path_loop, sizeof(path_loop), "%s/loop", dir);
	(void)bsnprintf(path_bad, sizeof(path_bad), "%s/bad", dir);
	(void)bsnprintf(path_missing, sizeof(path_missing), "%s/missing",
	    dir);
	write_file(path_list, "# members\nalice\n\n  bob, carol@remote.example"
	    "\n\"|/usr/bin/archive -l list\"\n", 0644);
	write_file(path_gw, "alice\n", 0664);
	write_file(path_loop, "carol\nincloop\n", 0644);
	write_file(path_bad, "alice\n../../etc/passwd\n", 0644);
	if (symlink(path_list, path_link) == -1)
		return -1;
	buf_init(&a);
	buf_printf(&a,
	    "staff: alice,\n  bob\n"
	    "multi: alice, \\bob, /var/log/multi, \"|/usr/bin/filter -x\", "
	    "dave@remote.example, staff@localhost\n"
	    "dave: \\dave, dave@elsewhere.example\n"
	    "list: :include:%s\n"
	    "gwlist: :include:%s\n"
	    "linklist: :include:%s\n"
	    "badlist: :include:%s\n"
	    "missinglist: :include:%s\n"
	    "incloop: :include:%s\n"
	    "loopa: loopb\nloopb: loopa\nself: self\n"
	    "viavirt: x@v.example\n"
	    "dup: alice, staff, alice@mx.test, alice\n"
	    "ghost: nosuchuser, alice\n"
	    "tempalias: alice, tempuser\n"
	    "fwdroot: root\n"
	    "big: biga, bigb\n",
	    path_list, path_gw, path_link, path_bad, path_missing, path_loop);
	for (i = 0; i < 25; i++)
		buf_printf(&a, "d%d: d%d\n", i, i + 1);
	buf_addstr(&a, "biga: u0");
	for (i = 1; i < 600; i++)
		buf_printf(&a, ", u%d", i);
	buf_addstr(&a, "\nbigb: u600");
	for (i = 601; i < 1200; i++)
		buf_printf(&a, ", u%d", i);
	buf_addstr(&a, "\n");
	compile("aliases", a.data, ALIASES_ALIASES);
	buf_reset(&a);
	buf_addstr(&a, "# sample with a root alias\nroot: alice\n");
	compile("aliases-root", a.data, ALIASES_ALIASES);
	buf_free(&a);
	compile("virtual",
	    "info@v.example alice, bob@remote.example\n"
	    "sales@v.example\tstaff\n"
	    "x@v.example y@v.example\ny@v.example x@v.example\n"
	    "back@v.example viavirt\n"
	    "@v.example carol\n"
	    "only@v2.example u5\n", ALIASES_VIRTUAL);
	return 0;
}

static int
group_teardown(void **state)
{
	struct dirent	*d;
	DIR		*dp;
	char		 p[512];

	(void)state;
	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			(void)bsnprintf(p, sizeof(p), "%s/%s", dir, d->d_name);
			(void)unlink(p);
		}
		closedir(dp);
	}
	(void)rmdir(dir);
	return 0;
}

static struct map *
open_map(const char *name)
{
	struct map	*m;
	char		 path[160], err[512];

	(void)bsnprintf(path, sizeof(path), "%s/%s.db", dir, name);
	if ((m = map_open(path, err, sizeof(err))) == NULL)
		fail_msg("opening %s: %s", path, err);
	return m;
}

static int
setup(void **state)
{
	struct world	*w = xcalloc(1, sizeof(*w));

	w->aliases = open_map("aliases");
	w->virtual = open_map("virtual");
	w->c.aliases = w->aliases;
	w->c.virtual = w->virtual;
	w->c.local_domain = "mx.test";
	w->c.delimiter = "+";
	w->c.root_alias = "";
	w->c.alias_user = "nobody";
	w->c.is_local_domain = is_local;
	w->c.is_virtual_domain = is_virtual;
	w->c.user_exists = user_exists;
	w->c.arg = w;
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world	*w = *state;

	map_close(w->aliases);
	map_close(w->virtual);
	free(w);
	return 0;
}

/* The targets of address as one string, or "STATUS: reason". */
static char *
expand(struct world *w, const char *address)
{
	struct expand_result	 res;
	struct expand_target	*t;
	struct buf		 b;
	static const char	 kinds[] = "MFPRE";
	size_t			 i;
	char			 k;

	buf_init(&b);
	if (expand_address(&w->c, address, &res) != EXPAND_OK) {
		assert_int_equal(res.ntargets, 0);
		buf_printf(&b, "%s: %s", expand_status_str(res.status),
		    res.reason);
	}
	for (i = 0; i < res.ntargets; i++) {
		t = &res.targets[i];
		k = kinds[t->kind];
		if (t->flags & (EXPAND_F_TEMP | EXPAND_F_NOFORWARD))
			k = (char)(k + 'a' - 'A');
		buf_printf(&b, "%s%c:%s:%s", i ? "|" : "", k, t->user,
		    t->value);
	}
	buf_addch(&b, '\0');
	expand_result_free(&res);
	return b.data;
}

static void
want(struct world *w, const char *address, const char *expected)
{
	char	*got = expand(w, address);

	if (strcmp(got, expected) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", address, expected,
		    got);
	free(got);
}

/* expected is a part of "status: reason". */
static void
want_part(struct world *w, const char *address, const char *expected)
{
	char	*got = expand(w, address);

	if (strstr(got, expected) == NULL)
		fail_msg("%s: expected \"%s\" in it, got \"%s\"", address,
		    expected, got);
	free(got);
}

static void
test_local_users(void **state)
{
	struct world	*w = *state;

	want(w, "alice@mx.test", "M:alice:alice@mx.test");
	want(w, "Alice@MX.test", "M:alice:alice@mx.test");
	want(w, "alice@localhost", "M:alice:alice@localhost");
	want(w, "alice", "M:alice:alice@mx.test");
	want(w, "nosuch@mx.test", "not found: unknown user: nosuch@mx.test");
	want(w, "tempuser@mx.test", "temporary failure: user database lookup "
	    "of tempuser failed");
	want(w, "someone@remote.example", "R::someone@remote.example");
}

static void
test_aliases_kinds(void **state)
{
	struct world	*w = *state;

	/* multiple targets, continuation lines */
	want(w, "staff@mx.test", "M:alice:alice@mx.test|M:bob:bob@mx.test");
	/* \user, files and pipes as the alias user, remote, local again */
	want(w, "multi@mx.test", "M:alice:alice@mx.test|m:bob:bob@mx.test|"
	    "F:nobody:/var/log/multi|P:nobody:/usr/bin/filter -x|"
	    "R::dave@remote.example|M:bob:bob@mx.test");
	/* (bob twice: \bob skips a .forward, bob does not) */
	/* \dave stops at the mailbox: no loop with the alias dave */
	want(w, "dave@mx.test", "m:dave:dave@mx.test|"
	    "R::dave@elsewhere.example");
	/* duplicates merged */
	want(w, "dup@mx.test", "M:alice:alice@mx.test|M:bob:bob@mx.test");
	/* an alias target that does not exist: a permanent error target */
	want(w, "ghost@mx.test", "E::unknown user: nosuchuser@mx.test "
	    "(ghost -> nosuchuser)|M:alice:alice@mx.test");
	want(w, "tempalias@mx.test", "temporary failure: user database "
	    "lookup of tempuser failed");
}

static void
test_delimiter(void **state)
{
	struct world	*w = *state;

	want(w, "alice+news@mx.test", "M:alice:alice+news@mx.test");
	want(w, "staff+x@mx.test", "M:alice:alice@mx.test|M:bob:bob@mx.test");
	want(w, "nosuch+x@mx.test", "not found: unknown user: "
	    "nosuch+x@mx.test");
	w->c.delimiter = "";
	want(w, "alice+news@mx.test", "not found: unknown user: "
	    "alice+news@mx.test");
	w->c.delimiter = "-+";
	want(w, "alice-x@mx.test", "M:alice:alice-x@mx.test");
	/* a leading delimiter is part of the name */
	want(w, "+alice@mx.test", "not found: unknown user: +alice@mx.test");
}

static void
test_include(void **state)
{
	struct world	*w = *state;
	char		 reason[512];

	want(w, "list@mx.test", "M:alice:alice@mx.test|M:bob:bob@mx.test|"
	    "R::carol@remote.example|P:nobody:/usr/bin/archive -l list");
	(void)bsnprintf(reason, sizeof(reason), "temporary failure: "
	    ":include: %s: group- or world-writable", path_gw);
	want(w, "gwlist@mx.test", reason);
	(void)bsnprintf(reason, sizeof(reason), "temporary failure: "
	    ":include: %s: a symbolic link", path_link);
	want(w, "linklist@mx.test", reason);
	(void)bsnprintf(reason, sizeof(reason), "temporary failure: "
	    ":include: %s: No such file or directory", path_missing);
	want(w, "missinglist@mx.test", reason);
	(void)bsnprintf(reason, sizeof(reason), "temporary failure: %s:2: "
	    "a file target must be an absolute path", path_bad);
	want(w, "badlist@mx.test", reason);
}

static void
test_virtual(void **state)
{
	struct world	*w = *state;

	/* full address */
	want(w, "info@v.example", "M:alice:alice@mx.test|"
	    "R::bob@remote.example");
	/* base address (delimiter) and an alias name as target */
	want(w, "sales+q@v.example", "M:alice:alice@mx.test|"
	    "M:bob:bob@mx.test");
	/* catch-all */
	want(w, "whoever@V.example", "M:carol:carol@mx.test");
	/* a virtual domain without a catch-all */
	want(w, "only@v2.example", "M:u5:u5@mx.test");
	want(w, "other@v2.example", "not found: unknown virtual address: "
	    "other@v2.example");
	/* no virtual map at all */
	w->c.virtual = NULL;
	want(w, "info@v.example", "not found: unknown virtual address: "
	    "info@v.example");
}

static void
test_root(void **state)
{
	struct world	*w = *state;
	struct map	*withroot = open_map("aliases-root");
	char		 reason[256];

	/* neither an alias nor root-alias: a temporary error target */
	want(w, "root@mx.test", "e::mail for root needs an alias (root in the "
	    "aliases, or root-alias in strictmail.conf)");
	want(w, "fwdroot@mx.test", "e::mail for root needs an alias (root in "
	    "the aliases, or root-alias in strictmail.conf)");
	/* RCPT accepts root all the same */
	assert_int_equal(expand_rcpt(&w->c, "root@mx.test", reason,
	    sizeof(reason)), EXPAND_OK);
	/* root-alias */
	w->c.root_alias = "bob@remote.example";
	want(w, "root@mx.test", "R::bob@remote.example");
	/* postmaster with no alias is root's (RFC 5321 4.5.1) */
	want(w, "postmaster@mx.test", "R::bob@remote.example");
	want(w, "Root+x@mx.test", "R::bob@remote.example");
	/* an alias of root wins over root-alias */
	w->c.aliases = withroot;
	want(w, "root@mx.test", "M:alice:alice@mx.test");
	w->c.root_alias = "root";
	w->c.aliases = w->aliases;
	want(w, "root@mx.test", "loop: alias loop: root -> root");
	/* root is never asked of the user database as a mailbox */
	w->c.root_alias = "";
	w->lookups = 0;
	want(w, "root@localhost", "e::mail for root needs an alias (root in "
	    "the aliases, or root-alias in strictmail.conf)");
	assert_int_equal(w->lookups, 0);
	map_close(withroot);
}

static void
test_loops(void **state)
{
	struct world	*w = *state;
	char		 reason[512];

	want(w, "loopa@mx.test", "loop: alias loop: loopa -> loopb -> loopa");
	want(w, "self@mx.test", "loop: alias loop: self -> self");
	(void)bsnprintf(reason, sizeof(reason), "loop: alias loop: incloop "
	    "-> :include:%s -> incloop", path_loop);
	want(w, "incloop@mx.test", reason);
	want(w, "x@v.example", "loop: alias loop: x@v.example -> y@v.example "
	    "-> x@v.example");
	want(w, "back@v.example", "loop: alias loop: back@v.example -> "
	    "viavirt -> x@v.example -> y@v.example -> x@v.example");
}

static void
test_limits(void **state)
{
	struct world	*w = *state;
	char		*got;

	/* d0 -> d1 -> ... -> d25: deeper than 20 */
	want_part(w, "d0@mx.test", "loop: aliases nested deeper than 20: d0 "
	    "-> d1 -> ");
	got = expand(w, "d6@mx.test");
	assert_string_equal(got, "E::unknown user: d25@mx.test (d6 -> d7 -> "
	    "d8 -> d9 -> d10 -> d11 -> d12 -> d13 -> d14 -> d15 -> d16 -> "
	    "d17 -> d18 -> d19 -> d20 -> d21 -> d22 -> d23 -> d24 -> d25)");
	free(got);
	/* 1200 targets: over 1000 */
	want(w, "big@mx.test", "temporary failure: alias expansion over 1000 "
	    "targets");
	got = expand(w, "biga@mx.test");
	assert_int_equal(strncmp(got, "M:u0:u0@mx.test|M:u1:", 21), 0);
	free(got);
}

static void
test_rcpt(void **state)
{
	struct world	*w = *state;
	char		 reason[512];

	assert_int_equal(expand_rcpt(&w->c, "staff@mx.test", reason,
	    sizeof(reason)), EXPAND_OK);
	assert_string_equal(reason, "");
	assert_int_equal(expand_rcpt(&w->c, "ghost@mx.test", reason,
	    sizeof(reason)), EXPAND_OK);
	assert_int_equal(expand_rcpt(&w->c, "nosuch@mx.test", reason,
	    sizeof(reason)), EXPAND_NOTFOUND);
	assert_string_equal(reason, "unknown user: nosuch@mx.test");
	assert_int_equal(expand_rcpt(&w->c, "tempuser@mx.test", reason,
	    sizeof(reason)), EXPAND_TEMPFAIL);
	assert_int_equal(expand_rcpt(&w->c, "loopa@mx.test", reason,
	    sizeof(reason)), EXPAND_LOOP);
	assert_string_equal(reason, "alias loop: loopa -> loopb -> loopa");
	assert_int_equal(expand_rcpt(&w->c, "gwlist@mx.test", reason,
	    sizeof(reason)), EXPAND_TEMPFAIL);
	assert_int_equal(expand_rcpt(&w->c, "nobody@v2.example", reason,
	    sizeof(reason)), EXPAND_NOTFOUND);
	/* no aliases map: users only */
	w->c.aliases = NULL;
	assert_int_equal(expand_rcpt(&w->c, "staff@mx.test", reason,
	    sizeof(reason)), EXPAND_NOTFOUND);
	assert_int_equal(expand_rcpt(&w->c, "alice@mx.test", reason,
	    sizeof(reason)), EXPAND_OK);
	assert_string_equal(expand_status_str(EXPAND_LOOP), "loop");
}

/* A map rebuilt under the reader: the reader reopens and sees it. */
static void
test_rebuilt_map(void **state)
{
	struct world	*w = *state;
	struct map	*m;
	char		 path[160], err[512];

	compile("aliases2", "news: alice\n", ALIASES_ALIASES);
	m = open_map("aliases2");
	w->c.aliases = m;
	want(w, "news@mx.test", "M:alice:alice@mx.test");
	compile("aliases2", "news: bob@remote.example\n", ALIASES_ALIASES);
	want(w, "news@mx.test", "M:alice:alice@mx.test");
	assert_int_equal(map_changed(m), 1);
	map_close(m);
	(void)bsnprintf(path, sizeof(path), "%s/aliases2.db", dir);
	assert_non_null(m = map_open(path, err, sizeof(err)));
	w->c.aliases = m;
	want(w, "news@mx.test", "R::bob@remote.example");
	map_close(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_local_users, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_aliases_kinds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delimiter, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_include, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcpt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuilt_map, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
