/*
 * test_map.c - unit tests of the compiled maps (lookup/map.c): the
 * Berkeley DB layout (keys and values with their NUL), the atomic build
 * (mode 0644, no temporary left, the old map readable while a new one is
 * built and untouched when a build fails), map_changed().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <db.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "lookup/map.h"

struct fixture {
	char	dir[64];
	char	src[128];
	char	db[128];
};

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof(*f));

	(void)strlcpy(f->dir, "/tmp/test_map.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)bsnprintf(f->src, sizeof(f->src), "%s/aliases", f->dir);
	(void)bsnprintf(f->db, sizeof(f->db), "%s/aliases.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*d;
	DIR		*dp;
	char		 p[512];

	if ((dp = opendir(f->dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			(void)bsnprintf(p, sizeof(p), "%s/%s", f->dir,
			    d->d_name);
			(void)unlink(p);
		}
		closedir(dp);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* Number of files in the folder (. and .. left out). */
static int
count_files(const char *dir)
{
	struct dirent	*d;
	DIR		*dp = opendir(dir);
	int		 n = 0;

	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL)
		n += d->d_name[0] != '.';
	closedir(dp);
	return n;
}

static void
want_value(struct map *m, const char *key, const char *want)
{
	char	*v, err[256];

	assert_int_equal(map_get(m, key, &v, err, sizeof(err)), MAP_FOUND);
	assert_string_equal(v, want);
	free(v);
}

static void
test_compile_and_read(void **state)
{
	struct fixture	*f = *state;
	struct map	*m;
	struct stat	 st;
	char		 err[512], *v;
	size_t		 n;
	mode_t		 old;

	write_file(f->src, "# sample\nPostmaster: root\nstaff: alice,\n"
	    "  \"|/usr/bin/x -y\", /var/log/staff\n");
	old = umask(077);
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), 0);
	umask(old);
	assert_int_equal(n, 2);
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(count_files(f->dir), 2);	/* no temporary left */
	assert_non_null(m = map_open(f->db, err, sizeof(err)));
	want_value(m, "postmaster", "root");
	want_value(m, "staff", "alice, \"|/usr/bin/x -y\", /var/log/staff");
	assert_int_equal(map_get(m, "Postmaster", &v, err, sizeof(err)),
	    MAP_NOTFOUND);
	assert_null(v);
	assert_int_equal(map_get(m, "nobody", &v, err, sizeof(err)),
	    MAP_NOTFOUND);
	assert_string_equal(map_path(m), f->db);
	assert_int_equal(map_changed(m), 0);
	map_close(m);
}

/* The file holds "key\0" -> "value\0", as Postfix and sendmail read. */
static void
test_layout(void **state)
{
	struct fixture	*f = *state;
	DB		*db;
	DBT		 k, v;
	char		 err[512];
	size_t		 n;

	write_file(f->src, "root: alice\n");
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(db_create(&db, NULL, 0), 0);
	assert_int_equal(db->open(db, NULL, f->db, NULL, DB_HASH, DB_RDONLY,
	    0), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = "root";
	k.size = 5;
	assert_int_equal(db->get(db, NULL, &k, &v, 0), 0);
	assert_int_equal(v.size, 6);
	assert_memory_equal(v.data, "alice\0", 6);
	k.size = 4;	/* without the NUL: not there */
	assert_int_equal(db->get(db, NULL, &k, &v, 0), DB_NOTFOUND);
	db->close(db, 0);
}

/* A value written by another tool without its NUL reads the same; one
 * with a NUL inside is an error, not a cut value. */
static void
test_foreign_values(void **state)
{
	struct fixture		*f = *state;
	struct map_writer	*w;
	struct map		*m;
	DB			*db;
	DBT			 k, v;
	char			 err[512], *val;

	assert_non_null(w = map_create(f->db, err, sizeof(err)));
	assert_int_equal(map_commit(w, err, sizeof(err)), 0);
	assert_int_equal(db_create(&db, NULL, 0), 0);
	assert_int_equal(db->open(db, NULL, f->db, NULL, DB_HASH, 0, 0), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = "a";
	k.size = 2;
	v.data = "bob";
	v.size = 3;
	assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
	k.data = "b";
	v.data = "x\0y";
	v.size = 4;
	assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
	db->close(db, 0);
	assert_non_null(m = map_open(f->db, err, sizeof(err)));
	want_value(m, "a", "bob");
	assert_int_equal(map_get(m, "b", &val, err, sizeof(err)), MAP_ERROR);
	assert_non_null(strstr(err, "damaged"));
	map_close(m);
}

/* A reader keeps the map it opened while a new one is built; then
 * map_changed() says so and a new map_open reads the new one. */
static void
test_atomic_replace(void **state)
{
	struct fixture		*f = *state;
	struct map_writer	*w;
	struct map		*old, *m;
	char			 err[512], *v;
	size_t			 n;

	write_file(f->src, "a: one\n");
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), 0);
	assert_non_null(old = map_open(f->db, err, sizeof(err)));
	/* a build in progress: the temporary exists, the map is the old one */
	assert_non_null(w = map_create(f->db, err, sizeof(err)));
	assert_int_equal(map_put(w, "a", "two", err, sizeof(err)), 0);
	assert_int_equal(map_put(w, "b", "three", err, sizeof(err)), 0);
	assert_int_equal(map_put(w, "b", "again", err, sizeof(err)), -1);
	assert_string_equal(err, "duplicate key b");
	assert_int_equal(count_files(f->dir), 3);
	assert_int_equal(map_changed(old), 0);
	assert_non_null(m = map_open(f->db, err, sizeof(err)));
	want_value(m, "a", "one");
	map_close(m);
	assert_int_equal(map_commit(w, err, sizeof(err)), 0);
	assert_int_equal(count_files(f->dir), 2);
	/* the old reader still reads its own (unlinked) map */
	want_value(old, "a", "one");
	assert_int_equal(map_get(old, "b", &v, err, sizeof(err)),
	    MAP_NOTFOUND);
	assert_int_equal(map_changed(old), 1);
	assert_non_null(m = map_open(f->db, err, sizeof(err)));
	want_value(m, "a", "two");
	want_value(m, "b", "three");
	assert_int_equal(map_changed(m), 0);
	map_close(m);
	map_close(old);
}

/* A source with an error leaves the old map as it was, and no temporary. */
static void
test_failed_build_keeps_old(void **state)
{
	struct fixture	*f = *state;
	struct map	*m;
	struct stat	 st1, st2;
	char		 err[512];
	size_t		 n = 99;

	write_file(f->src, "a: one\n");
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(stat(f->db, &st1), 0);
	write_file(f->src, "a: two\nb: ../../etc/passwd\n");
	n = 99;
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(n, 99);
	assert_non_null(strstr(err, "/aliases:2: a file target must be an "
	    "absolute path"));
	assert_int_equal(stat(f->db, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(count_files(f->dir), 2);
	assert_non_null(m = map_open(f->db, err, sizeof(err)));
	want_value(m, "a", "one");
	map_close(m);
	/* a missing source: an error naming it */
	unlink(f->src);
	assert_int_equal(map_compile(f->src, ALIASES_ALIASES, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(count_files(f->dir), 1);
}

static void
test_virtual_and_missing(void **state)
{
	struct fixture	*f = *state;
	struct map	*m;
	char		 err[512], src[160], db[160];
	size_t		 n;

	(void)bsnprintf(src, sizeof(src), "%s/virtual", f->dir);
	(void)bsnprintf(db, sizeof(db), "%s/virtual.db", f->dir);
	write_file(src, "a@v.example alice\n@v.example bob@remote.example\n");
	assert_int_equal(map_compile(src, ALIASES_VIRTUAL, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_non_null(m = map_open(db, err, sizeof(err)));
	want_value(m, "@v.example", "bob@remote.example");
	unlink(db);
	assert_int_equal(map_changed(m), 1);
	map_close(m);
	assert_null(map_open(db, err, sizeof(err)));
	assert_non_null(strstr(err, "virtual.db"));
	/* not a Berkeley DB file */
	write_file(db, "hello\n");
	assert_null(map_open(db, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compile_and_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_atomic_replace, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_build_keeps_old,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_and_missing,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
