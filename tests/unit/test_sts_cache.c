/*
 * test_sts_cache.c - unit tests of the MTA-STS cache (rules 26 and 27):
 * the stored record (sts/sts_record.c: round trips, a policy with the
 * most mx, and every kind of malformed record refused), and the Berkeley
 * DB cache (sts/sts_cache.c) in a temporary folder: put, get, del and
 * each; an entry that survives a restart; a file that is no cache moved
 * aside; a bad record dropped; the log kept small; 200 puts timed; a
 * relative folder inside a chroot as an unprivileged user; and a writer
 * killed (SIGKILL) at random moments leaving every entry either as it
 * was or as it was to be.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <db.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "sts/sts_cache.h"
#include "sts/sts_state.h"

#define T_NOW	1700000000ULL

static const struct sts_settings t_set = { 300, 86400, 180 * 86400 };

struct fixture {
	char	dir[64];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_sts_cache.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	(void)nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* ---- entries ---- */

/* A policy text with nmx mx lines of mx<gen>-<i>.example.net. */
static void
t_policy_text(struct buf *b, const char *mode, unsigned max_age,
    unsigned nmx, unsigned gen)
{
	unsigned	i;

	buf_reset(b);
	buf_printf(b, "version: STSv1\r\nmode: %s\nmax_age: %u\r\n", mode,
	    max_age);
	for (i = 0; i < nmx; i++)
		buf_printf(b, "mx: mx%u-%u.example.net\n", gen, i);
}

/* e: domain with a fetched policy (as sts_after_fetch leaves it). */
static void
t_entry(struct sts_entry *e, const char *domain, const char *id,
    const char *mode, unsigned nmx, unsigned gen, uint64_t now)
{
	struct sts_policy	pol;
	struct buf		b;
	char			why[256];

	buf_init(&b);
	t_policy_text(&b, mode, 86400, nmx, gen);
	sts_entry_init(e, domain);
	assert_int_equal(sts_policy_parse(b.data, b.len, &pol, why,
	    sizeof(why)), 0);
	sts_after_fetch(e, id, &pol, b.data, b.len, NULL, now, &t_set, 1234);
	sts_policy_free(&pol);
	buf_free(&b);
}

static void
t_assert_same(const struct sts_entry *a, const struct sts_entry *b)
{
	size_t	i;

	assert_string_equal(a->domain, b->domain);
	assert_int_equal(a->has_policy, b->has_policy);
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->rawlen, b->rawlen);
	if (a->rawlen > 0)
		assert_memory_equal(a->raw, b->raw, a->rawlen);
	assert_int_equal(a->pol.mode, b->pol.mode);
	assert_int_equal(a->pol.max_age, b->pol.max_age);
	assert_int_equal(a->pol.nmx, b->pol.nmx);
	for (i = 0; i < a->pol.nmx; i++)
		assert_string_equal(a->pol.mx[i], b->pol.mx[i]);
	assert_true(a->fetched == b->fetched);
	assert_true(a->expires == b->expires);
	assert_true(a->last_use == b->last_use);
	assert_true(a->next_refresh == b->next_refresh);
	assert_string_equal(a->error_id, b->error_id);
	assert_true(a->error_time == b->error_time);
	assert_string_equal(a->last_error, b->last_error);
	assert_true(a->backoff_until == b->backoff_until);
}

/* encode, decode, compare, encode again to the same bytes. */
static void
t_round_trip(const struct sts_entry *e)
{
	struct sts_entry	 back;
	uint8_t			*rec, *rec2;
	size_t			 len, len2;
	char			 why[256];

	assert_int_equal(sts_entry_encode(e, &rec, &len), 0);
	if (sts_entry_decode(rec, len, &back, why, sizeof(why)) != 0)
		fail_msg("expected the record to decode, got: %s", why);
	t_assert_same(e, &back);
	assert_int_equal(sts_entry_encode(&back, &rec2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(rec, rec2, len);
	free(rec);
	free(rec2);
	sts_entry_free(&back);
}

/* Rule 26: every field of a cached policy is stored and read back. */
static void
test_record_round_trip(void **state)
{
	struct sts_entry	e;

	(void)state;
	t_entry(&e, "example.com", "20240101T000000", "enforce", 3, 1, T_NOW);
	e.last_use = T_NOW + 5;
	/* A later failed fetch of another id (rule 12 backoff). */
	sts_after_fetch(&e, "abc2", NULL, NULL, 0, "HTTP status 404",
	    T_NOW + 60, &t_set, 0);
	assert_int_equal(e.has_policy, 1);
	t_round_trip(&e);
	sts_entry_free(&e);

	/* No policy, only the error (rule 29), and mode none (rule 30). */
	sts_entry_init(&e, "nopolicy.example");
	sts_after_fetch(&e, "x1", NULL, NULL, 0, "connect: refused", T_NOW,
	    &t_set, 0);
	t_round_trip(&e);
	sts_entry_free(&e);
	t_entry(&e, "none.example", "n1", "none", 0, 1, T_NOW);
	t_round_trip(&e);
	sts_entry_free(&e);
}

/* Rule 26: the most mx a policy may have, with long names. */
static void
test_record_many_mx(void **state)
{
	struct sts_entry	e;
	struct sts_policy	pol;
	struct buf		b;
	char			why[256], label[64];
	unsigned		i;

	(void)state;
	t_entry(&e, "many.example", "m1", "testing", STS_MX_MAX, 7, T_NOW);
	assert_int_equal(e.pol.nmx, STS_MX_MAX);
	t_round_trip(&e);
	sts_entry_free(&e);

	memset(label, 'a', 63);
	label[63] = '\0';
	buf_init(&b);
	buf_addstr(&b, "version: STSv1\nmode: enforce\nmax_age: 31557600\n");
	for (i = 0; i < STS_MX_MAX; i++)
		buf_printf(&b, "mx: *.%s.%s.%s.x%u.example\n", label, label,
		    label, i);
	assert_int_equal(sts_policy_parse(b.data, b.len, &pol, why,
	    sizeof(why)), 0);
	sts_entry_init(&e, "long.example");
	sts_after_fetch(&e, "L0ng", &pol, b.data, b.len, NULL, T_NOW, &t_set,
	    0);
	t_round_trip(&e);
	sts_policy_free(&pol);
	sts_entry_free(&e);
	buf_free(&b);
}

/* Offsets in the record of t_bad_entry (see sts_record.c): magic 0-2,
 * version 3, flags 4, domain length 5 and "a.example" 6-14, id length
 * 15 and "id1" 16-18, raw length 19-22 and raw from 23. */
#define R_VERSION	3
#define R_FLAGS		4
#define R_DOMLEN	5
#define R_IDLEN		15
#define R_RAWLEN	19
#define R_RAW		23

static void
t_bad_entry(uint8_t **rec, size_t *len)
{
	struct sts_entry	e;

	t_entry(&e, "a.example", "id1", "enforce", 2, 1, T_NOW);
	(void)bsnprintf(e.last_error, sizeof(e.last_error), "an old error");
	assert_int_equal(sts_entry_encode(&e, rec, len), 0);
	sts_entry_free(&e);
}

/* Decoding rec must fail, leaving an empty entry. */
static void
t_refused(const uint8_t *rec, size_t len, const char *what)
{
	struct sts_entry	e;
	char			why[256] = "";

	if (sts_entry_decode(rec, len, &e, why, sizeof(why)) != -1)
		fail_msg("expected %s to be refused, got it decoded", what);
	assert_true(why[0] != '\0');
	assert_int_equal(e.has_policy, 0);
	assert_null(e.raw);
	sts_entry_free(&e);
}

/* Rule 27: a record cut anywhere, or with bytes after it, is refused. */
static void
test_record_truncated(void **state)
{
	uint8_t	*rec, *longer;
	size_t	 len, i;

	(void)state;
	t_bad_entry(&rec, &len);
	for (i = 0; i < len; i++)
		t_refused(rec, i, "a truncated record");
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, rec, len);
	longer[len] = 0;
	t_refused(longer, len + 1, "a record with a byte after its end");
	free(longer);
	free(rec);
}

/* Rule 26: a record of another version, or of bad lengths or contents,
 * is refused; so is one whose stored parse or expiry disagrees with its
 * policy text. */
static void
test_record_malformed(void **state)
{
	static const struct { size_t off; uint8_t val; const char *what; }
	    bad[] = {
		{ 0, 'X', "a bad magic" },
		{ R_VERSION, 2, "version 2" },
		{ R_VERSION, 0, "version 0" },
		{ R_FLAGS, 0x03, "an unknown flag" },
		{ R_FLAGS, 0x00, "a policy without its flag" },
		{ R_DOMLEN, 0, "an empty domain" },
		{ R_DOMLEN, 200, "a domain longer than the record" },
		{ R_DOMLEN + 1, 'A', "an upper-case domain" },
		{ R_DOMLEN + 3, 0, "a NUL in the domain" },
		{ R_IDLEN, 0, "a policy without an id" },
		{ R_IDLEN, 33, "an id of 33 bytes" },
		{ R_IDLEN + 2, '-', "an id with a '-'" },
		{ R_RAWLEN, 0x01, "a raw length beyond the record" },
		{ R_RAWLEN + 3, 0x00, "an empty raw text" },
		{ R_RAW, 'V', "a raw text that is no policy" },
	};
	uint8_t	*rec, *copy;
	size_t	 len, i, rawlen;

	(void)state;
	t_bad_entry(&rec, &len);
	copy = malloc(len);
	assert_non_null(copy);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, rec, len);
		copy[bad[i].off] = bad[i].val;
		t_refused(copy, len, bad[i].what);
	}
	rawlen = (size_t)rec[R_RAWLEN + 2] << 8 | rec[R_RAWLEN + 3];
	/* The stored parse: mode byte, max_age, mx count, first mx. */
	memcpy(copy, rec, len);
	copy[R_RAW + rawlen] = STS_MODE_TESTING;
	t_refused(copy, len, "a stored mode not that of the text");
	memcpy(copy, rec, len);
	copy[R_RAW + rawlen + 4] ^= 1;
	t_refused(copy, len, "a stored max_age not that of the text");
	memcpy(copy, rec, len);
	copy[R_RAW + rawlen + 5] = 1;
	t_refused(copy, len, "a stored mx count not that of the text");
	memcpy(copy, rec, len);
	copy[R_RAW + rawlen + 8] ^= 0x20;
	t_refused(copy, len, "a stored mx not that of the text");
	/* The length of last_error (u16 before its text). */
	memcpy(copy, rec, len);
	for (i = 0; i < len; i++)
		if (memcmp(copy + i, "an old error", 12) == 0)
			break;
	assert_true(i < len);
	copy[i - 2] = 0x01;	/* last_error length now beyond the end */
	t_refused(copy, len, "a last_error longer than the record");
	free(copy);
	free(rec);
}

static void
test_record_expiry(void **state)
{
	struct sts_entry	 e;
	uint8_t			*rec;
	size_t			 len;

	(void)state;
	t_entry(&e, "a.example", "id1", "enforce", 1, 1, T_NOW);
	e.expires++;
	/* Encodes, but is refused on reading: rule 26, expiry is fetch time
	 * plus max_age. */
	assert_int_equal(sts_entry_encode(&e, &rec, &len), 0);
	t_refused(rec, len, "an expiry not fetched + max_age");
	free(rec);
	/* A policy without its text cannot even be encoded. */
	free(e.raw);
	e.raw = NULL;
	assert_int_equal(sts_entry_encode(&e, &rec, &len), -1);
	sts_entry_free(&e);
}

/* ---- the cache ---- */

static int
t_collect(const struct sts_entry *e, void *arg)
{
	struct buf	*b = arg;

	buf_printf(b, "%s=%s;", e->domain, e->has_policy ? e->id : "-");
	return 0;
}

static int
t_count(const struct sts_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int
t_stop_first(const struct sts_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 1;
}

static struct sts_cache *
t_open(const char *dir)
{
	struct sts_cache	*c;
	char			 err[512];

	c = sts_cache_open(dir, err, sizeof(err));
	if (c == NULL)
		fail_msg("expected the cache in %s to open, got: %s", dir,
		    err);
	return c;
}

static void
t_put(struct sts_cache *c, const char *domain, const char *id, unsigned gen)
{
	struct sts_entry	e;

	t_entry(&e, domain, id, "enforce", 2, gen, T_NOW + gen);
	assert_int_equal(sts_cache_put(c, &e), 0);
	sts_entry_free(&e);
}

static void
t_each_is(struct sts_cache *c, int n, const char *want)
{
	struct buf	b;

	buf_init(&b);
	assert_int_equal(sts_cache_each(c, t_collect, &b), n);
	buf_addch(&b, '\0');
	assert_string_equal(b.data, want);
	buf_free(&b);
}

/* Rule 26 and 32: put, get, del and each. */
static void
test_cache_basic(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 e, got;
	int			 n = 0;

	c = t_open(fx->dir);
	assert_int_equal(sts_cache_get(c, "b.example", &got), 0);
	t_each_is(c, 0, "");
	t_entry(&e, "b.example", "b1", "enforce", 3, 1, T_NOW);
	e.last_use = T_NOW + 10;
	assert_int_equal(sts_cache_put(c, &e), 0);
	t_put(c, "a.example", "a1", 1);
	t_put(c, "c.example", "c1", 1);
	assert_int_equal(sts_cache_get(c, "b.example", &got), 1);
	t_assert_same(&e, &got);
	sts_entry_free(&got);
	/* The key is the lower-case domain. */
	assert_int_equal(sts_cache_get(c, "B.Example", &got), 1);
	assert_string_equal(got.id, "b1");
	sts_entry_free(&got);
	t_each_is(c, 3, "a.example=a1;b.example=b1;c.example=c1;");
	assert_int_equal(sts_cache_each(c, t_stop_first, &n), 1);
	assert_int_equal(n, 1);
	/* Replace: a new id for b.example. */
	t_put(c, "b.example", "b2", 2);
	assert_int_equal(sts_cache_get(c, "b.example", &got), 1);
	assert_string_equal(got.id, "b2");
	sts_entry_free(&got);
	/* Rule 32: remove one. */
	assert_int_equal(sts_cache_del(c, "B.EXAMPLE"), 1);
	assert_int_equal(sts_cache_del(c, "b.example"), 0);
	assert_int_equal(sts_cache_get(c, "b.example", &got), 0);
	t_each_is(c, 2, "a.example=a1;c.example=c1;");
	/* A domain not in lower case is never stored. */
	(void)strlcpy(e.domain, "UPPER.example", sizeof(e.domain));
	assert_int_equal(sts_cache_put(c, &e), -1);
	sts_entry_free(&e);
	/* A policy without an id would not read back: not stored. */
	t_entry(&e, "noid.example", "x", "enforce", 1, 1, T_NOW);
	e.id[0] = '\0';
	assert_int_equal(sts_cache_put(c, &e), -1);
	assert_int_equal(sts_cache_get(c, "noid.example", &got), 0);
	sts_entry_free(&e);
	sts_cache_close(c);
}

/* Rule 27: the cache survives a restart (close and open again). */
static void
test_cache_reopen(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 e, got;

	c = t_open(fx->dir);
	t_entry(&e, "keep.example", "k1", "testing", 5, 3, T_NOW);
	sts_after_fetch(&e, "k2", NULL, NULL, 0, "timeout", T_NOW + 9,
	    &t_set, 0);
	assert_int_equal(sts_cache_put(c, &e), 0);
	t_put(c, "gone.example", "g1", 1);
	assert_int_equal(sts_cache_del(c, "gone.example"), 1);
	sts_cache_close(c);

	c = t_open(fx->dir);
	assert_int_equal(sts_cache_get(c, "keep.example", &got), 1);
	t_assert_same(&e, &got);
	sts_entry_free(&got);
	assert_int_equal(sts_cache_get(c, "gone.example", &got), 0);
	t_each_is(c, 1, "keep.example=k1;");
	sts_cache_close(c);
	sts_entry_free(&e);
}

/* Names in dir starting with prefix. */
static int
t_count_files(const char *dir, const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	(void)closedir(d);
	return n;
}

static void
t_write_file(const char *path, const void *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

/*
 * Opens the cache in a child and puts domain there; the parent then
 * finds it.  For damage that makes Berkeley DB panic its environment
 * (a page checksum error, a failed recovery): it keeps some memory when
 * that environment is closed, which the leak check would report.
 */
static void
t_open_in_child(const char *dir, const char *domain)
{
	struct sts_cache	*c;
	struct sts_entry	 got;
	char			 err[512];
	pid_t			 pid;
	int			 status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((c = sts_cache_open(dir, err, sizeof(err))) == NULL)
			_exit(2);
		t_put(c, domain, "x1", 1);
		sts_cache_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = t_open(dir);
	assert_int_equal(sts_cache_get(c, domain, &got), 1);
	sts_entry_free(&got);
	sts_cache_close(c);
}

/* A file that is no cache is moved aside (NAME.corrupt-TIME) and the
 * cache starts empty and works (rule 27: a lost cache loses no mail). */
static void
test_cache_corrupt_file(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 got;
	char			 path[128], junk[8192];
	struct stat		 st;
	int			 fd;

	c = t_open(fx->dir);
	t_put(c, "a.example", "a1", 1);
	sts_cache_close(c);

	/* Garbage in place of the database (the log stays). */
	(void)bsnprintf(path, sizeof(path), "%s/sts-cache.db", fx->dir);
	memset(junk, 'Z', sizeof(junk));
	t_write_file(path, junk, sizeof(junk));
	c = t_open(fx->dir);
	assert_int_equal(t_count_files(fx->dir, "sts-cache.db.corrupt-"), 1);
	assert_int_equal(sts_cache_get(c, "a.example", &got), 0);
	t_each_is(c, 0, "");
	t_put(c, "b.example", "b1", 1);
	sts_cache_close(c);
	c = t_open(fx->dir);
	t_each_is(c, 1, "b.example=b1;");
	sts_cache_close(c);

	/* A database cut in half, then one with a page scribbled over:
	 * either it still reads, or it is moved aside; never a failure. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	c = t_open(fx->dir);
	t_put(c, "c.example", "c1", 1);
	sts_cache_close(c);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, 512, 4096 + 100), 512);
	assert_int_equal(close(fd), 0);
	t_open_in_child(fx->dir, "d.example");

	/* An empty file (here recovery fails, as the log names the file). */
	t_write_file(path, "", 0);
	t_open_in_child(fx->dir, "e.example");
	/* Each one moved aside under its own name (the cut one may still
	 * have been readable). */
	assert_true(t_count_files(fx->dir, "sts-cache.db.corrupt-") >= 3);
}

/* Writes key=val straight into the cache's database, as a program other
 * than strictmail (or an older one) could have. */
static void
t_raw_put(const char *dir, const char *key, const void *val, size_t len)
{
	DB_ENV	*env;
	DB	*db;
	DBT	 k, v;

	assert_int_equal(db_env_create(&env, 0), 0);
	assert_int_equal(env->set_lg_dir(env, "sts-cache.log"), 0);
	assert_int_equal(env->open(env, dir, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_PRIVATE |
	    DB_RECOVER, 0600), 0);
	assert_int_equal(db_create(&db, env, 0), 0);
	assert_int_equal(db->set_flags(db, DB_CHKSUM), 0);
	assert_int_equal(db->open(db, NULL, "sts-cache.db", NULL, DB_BTREE,
	    DB_AUTO_COMMIT, 0600), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	v.data = (void *)(uintptr_t)val;
	v.size = (u_int32_t)len;
	assert_int_equal(db->put(db, NULL, &k, &v, DB_AUTO_COMMIT), 0);
	assert_int_equal(db->close(db, 0), 0);
	assert_int_equal(env->txn_checkpoint(env, 0, 0, 0), 0);
	assert_int_equal(env->close(env, 0), 0);
}

/* A record that does not decode, or that is stored under another
 * domain, is dropped with a warning; the others stay. */
static void
test_cache_bad_record(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 e, got;
	uint8_t			*rec;
	size_t			 len;

	c = t_open(fx->dir);
	t_put(c, "good.example", "g1", 1);
	sts_cache_close(c);
	t_raw_put(fx->dir, "junk.example", "STS\x09junk", 8);
	t_entry(&e, "real.example", "r1", "enforce", 1, 1, T_NOW);
	assert_int_equal(sts_entry_encode(&e, &rec, &len), 0);
	t_raw_put(fx->dir, "other.example", rec, len);
	free(rec);
	sts_entry_free(&e);

	c = t_open(fx->dir);
	assert_int_equal(sts_cache_get(c, "junk.example", &got), 0);
	assert_int_equal(sts_cache_get(c, "other.example", &got), 0);
	t_each_is(c, 1, "good.example=g1;");
	sts_cache_close(c);
	assert_int_equal(t_count_files(fx->dir, "sts-cache.db.corrupt-"), 0);
}

static uint64_t
t_dir_size(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 path[256];
	uint64_t	 sum = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		(void)bsnprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	(void)closedir(d);
	return sum;
}

static double
t_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 200 domains with a put each (timed), then many large updates: the log
 * is removed as it goes, so the folder stays small. */
static void
test_cache_many(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 e;
	char			 dom[64], logdir[128];
	double			 t0, t;
	unsigned		 i;
	int			 n;

	c = t_open(fx->dir);
	t0 = t_seconds();
	for (i = 0; i < 200; i++) {
		(void)bsnprintf(dom, sizeof(dom), "d%u.example", i);
		t_put(c, dom, "v1", 1);
	}
	t = t_seconds() - t0;
	print_message("200 puts: %.3f s\n", t);
	/* Synced commits on a shared disk: generous, still catches a
	 * design that rewrites everything per put. */
	assert_true(t < 10.0);
	for (i = 0; i < 1000; i++) {
		(void)bsnprintf(dom, sizeof(dom), "d%u.example", i % 200);
		t_entry(&e, dom, "v2", "enforce", STS_MX_MAX, i, T_NOW);
		assert_int_equal(sts_cache_put(c, &e), 0);
		sts_entry_free(&e);
	}
	(void)bsnprintf(logdir, sizeof(logdir), "%s/sts-cache.log", fx->dir);
	print_message("log folder: %llu bytes, database folder %llu bytes\n",
	    (unsigned long long)t_dir_size(logdir),
	    (unsigned long long)t_dir_size(fx->dir));
	/* About 2.5 MB of records went through the log; at most two log
	 * files of 2 MB stay. */
	assert_true(t_dir_size(logdir) <= 4u * 1024 * 1024);
	sts_cache_close(c);
	c = t_open(fx->dir);
	n = 0;
	assert_int_equal(sts_cache_each(c, t_count, &n), 200);
	assert_int_equal(n, 200);
	sts_cache_close(c);
}

/* ---- crash (SIGKILL) during writes: rule 27 ---- */

#define CRASH_DOMAINS	6
#define CRASH_ROUNDS	20

/* Put number p: domain p % CRASH_DOMAINS, generation p / CRASH_DOMAINS
 * + 2 (generation 1 is written before the writer starts); the policy
 * carries its generation in its mx names and their number, its id
 * "g<gen>", so that a record mixing two puts shows. */
static void
t_crash_entry(struct sts_entry *e, uint64_t p)
{
	char		dom[32], id[32];
	unsigned	gen = (unsigned)(p / CRASH_DOMAINS) + 2;

	(void)bsnprintf(dom, sizeof(dom), "crash%u.example",
	    (unsigned)(p % CRASH_DOMAINS));
	(void)bsnprintf(id, sizeof(id), "g%u", gen);
	t_entry(e, dom, id, "enforce", 1 + gen % STS_MX_MAX, gen, T_NOW + gen);
}

/* The writer: open (recovering), then put forever, counting commits in
 * shared memory; killed by the parent. */
static void SM_NORETURN
t_crash_writer(const char *dir, volatile uint64_t *done)
{
	struct sts_cache	*c;
	struct sts_entry	 e;
	char			 err[512];

	if ((c = sts_cache_open(dir, err, sizeof(err))) == NULL)
		_exit(3);
	for (;;) {
		t_crash_entry(&e, *done);
		if (sts_cache_put(c, &e) != 0)
			_exit(4);
		sts_entry_free(&e);
		__atomic_add_fetch(done, 1, __ATOMIC_SEQ_CST);
	}
}

/* After done committed puts every domain holds the generation of its
 * last committed put, or of the one under way when the writer died. */
static void
t_crash_check(struct sts_cache *c, uint64_t done)
{
	struct sts_entry	got, want;
	uint64_t		p;
	unsigned		d, gen, committed;
	char			dom[32];

	for (d = 0; d < CRASH_DOMAINS; d++) {
		(void)bsnprintf(dom, sizeof(dom), "crash%u.example", d);
		/* Rule 27: every entry still reads... */
		if (sts_cache_get(c, dom, &got) != 1)
			fail_msg("expected %s to read after a crash", dom);
		committed = done > d ? (unsigned)((done - 1 - d) /
		    CRASH_DOMAINS) + 2 : 1;
		gen = (unsigned)strtoul(got.id + 1, NULL, 10);
		/* ... as the old or the new version: the last committed
		 * generation, or the one after when this domain's put was
		 * under way (put number done). */
		if (gen != committed && !(done % CRASH_DOMAINS == d &&
		    gen == committed + 1))
			fail_msg("%s: expected generation %u (or %u in "
			    "flight), got %u after %llu puts", dom, committed,
			    committed + 1, gen, (unsigned long long)done);
		/* ... and whole: the record is the one that put wrote. */
		p = (uint64_t)(gen - 2) * CRASH_DOMAINS + d;
		if (gen == 1)
			t_entry(&want, dom, "g1", "enforce", 2, 1, T_NOW + 1);
		else
			t_crash_entry(&want, p);
		t_assert_same(&want, &got);
		sts_entry_free(&want);
		sts_entry_free(&got);
	}
}

static void
test_cache_crash(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	volatile uint64_t	*done;
	uint64_t		 before;
	char			 dom[32];
	unsigned		 d, r, kills_mid = 0;
	pid_t			 pid;
	int			 status;

	done = mmap(NULL, sizeof(*done), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(done != MAP_FAILED);
	*done = 0;
	c = t_open(fx->dir);
	for (d = 0; d < CRASH_DOMAINS; d++) {
		(void)bsnprintf(dom, sizeof(dom), "crash%u.example", d);
		t_put(c, dom, "g1", 1);
	}
	sts_cache_close(c);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	for (r = 0; r < CRASH_ROUNDS; r++) {
		before = *done;
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			t_crash_writer(fx->dir, done);
		/* Between 1 ms and 500 ms: during open (recovery) or puts. */
		(void)usleep(1000 + (useconds_t)(random() % 499000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fail_msg("expected the writer to be killed, got exit "
			    "%d", WEXITSTATUS(status));
		if (*done > before)
			kills_mid++;
		c = t_open(fx->dir);
		t_crash_check(c, *done);
		sts_cache_close(c);
	}
	print_message("%u kills, %u after puts had started, %llu puts\n",
	    CRASH_ROUNDS, kills_mid, (unsigned long long)*done);
	/* The writer got to its puts in most rounds. */
	assert_true(kills_mid >= CRASH_ROUNDS / 4);
	assert_int_equal(t_count_files(fx->dir, "sts-cache.db.corrupt-"), 0);
	(void)munmap((void *)(uintptr_t)done, sizeof(*done));
}

/* The delivery process opens its cache by a relative path inside its
 * chroot, as an unprivileged user (root only: chroot). */
static void
test_cache_chroot(void **state)
{
	struct fixture		*fx = *state;
	struct sts_cache	*c;
	struct sts_entry	 got;
	char			 sub[128], err[512];
	pid_t			 pid;
	int			 status;

	if (geteuid() != 0) {
		print_message("not root: chroot not tested\n");
		skip();
	}
	(void)bsnprintf(sub, sizeof(sub), "%s/delivery", fx->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (chroot(sub) == -1 || chdir("/") == -1 ||
		    setgroups(0, NULL) == -1 || setresgid(65534, 65534, 65534)
		    == -1 || setresuid(65534, 65534, 65534) == -1)
			_exit(2);
		if ((c = sts_cache_open(".", err, sizeof(err))) == NULL) {
			fprintf(stderr, "open in chroot: %s\n", err);
			_exit(3);
		}
		t_put(c, "chroot.example", "c1", 1);
		sts_cache_close(c);
		if ((c = sts_cache_open(".", err, sizeof(err))) == NULL)
			_exit(4);
		status = sts_cache_get(c, "chroot.example", &got);
		sts_entry_free(&got);
		sts_cache_close(c);
		_exit(status == 1 ? 0 : 5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = t_open(sub);
	assert_int_equal(sts_cache_get(c, "chroot.example", &got), 1);
	sts_entry_free(&got);
	sts_cache_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_many_mx),
		cmocka_unit_test(test_record_truncated),
		cmocka_unit_test(test_record_malformed),
		cmocka_unit_test(test_record_expiry),
		cmocka_unit_test_setup_teardown(test_cache_basic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_corrupt_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_bad_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_crash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_chroot, setup,
		    teardown),
	};

	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
