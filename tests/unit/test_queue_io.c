/*
 * test_queue_io.c - unit tests of the queue's file thread (queue/queue_io.c)
 * on a real spool in a temporary folder: a delivered message's two files
 * go, its ID comes back through the eventfd, in order, and counts as
 * pending until it is taken back; a removal that fails comes back with
 * its errno and leaves the files; a rewrite replaces ID.env whole and one
 * that fails leaves the old one; settle waits for an ID's operations;
 * stop finishes every operation handed over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/queue_fs.h"
#include "queue/queue_id.h"
#include "queue/queue_io.h"

#define ID1	"019A5E2B1C000000"

struct fixture {
	char	top[256];
	char	spool[300];
	int	spoolfd;
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
	const char	*tmp = getenv("TMPDIR");
	char		 err[256];

	if (fx == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "%s/test_queue_io.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->top);
	if (queue_fs_prepare(fx->spool, NULL, NULL, 0, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if ((fx->spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY)) == -1)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	close(fx->spoolfd);
	(void)nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* The name of message n: ID1 with its last hex digits replaced. */
static void
make_id(char *id, unsigned n)
{
	char	tail[9];

	memcpy(id, ID1, QUEUE_ID_SIZE);
	snprintf(tail, sizeof(tail), "%08X", n);
	memcpy(id + QUEUE_ID_LEN - 8, tail, 8);
	assert_true(queue_id_valid(id));
}

static void
put_file(struct fixture *fx, const char *id, const char *ext)
{
	char	path[QUEUE_FS_PATHSIZE];
	int	fd;

	queue_fs_path(path, QFS_QUEUE, id, ext);
	fd = openat(fx->spoolfd, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
}

static int
exists(struct fixture *fx, const char *id, const char *ext)
{
	char	path[QUEUE_FS_PATHSIZE];

	queue_fs_path(path, QFS_QUEUE, id, ext);
	return faccessat(fx->spoolfd, path, F_OK, 0) == 0;
}

/* Waits (at most 10 s) until the eventfd is readable. */
static void
wait_done(struct queue_io *qi)
{
	struct pollfd	pfd = { .fd = queue_io_fd(qi), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 10000), 1);
}

static void
test_remove(void **state)
{
	struct fixture		*fx = *state;
	struct queue_io	*qi;
	struct queue_io_op	*r, *next;
	char			 id[QUEUE_ID_SIZE];
	unsigned		 i, got = 0;

	qi = queue_io_new(fx->spoolfd);
	for (i = 0; i < 50; i++) {
		make_id(id, i);
		put_file(fx, id, "msg");
		put_file(fx, id, "env");
	}
	for (i = 0; i < 50; i++) {
		make_id(id, i);
		queue_io_remove(qi, id);
		assert_true(queue_io_pending(qi, id));
	}
	make_id(id, 1000);
	assert_false(queue_io_pending(qi, id));
	/* Back in the order handed over, each without error; pending until
	 * taken back. */
	while (got < 50) {
		wait_done(qi);
		make_id(id, 49);
		assert_true(queue_io_pending(qi, id));
		for (r = queue_io_done(qi); r != NULL; r = next) {
			next = r->next;
			make_id(id, got);
			assert_string_equal(r->id, id);
			assert_int_equal(r->error, 0);
			assert_false(queue_io_pending(qi, id));
			assert_false(exists(fx, id, "env"));
			assert_false(exists(fx, id, "msg"));
			got++;
			queue_io_op_free(r);
		}
	}
	assert_null(queue_io_done(qi));
	queue_io_free(qi);
}

static void
test_failure(void **state)
{
	struct fixture		*fx = *state;
	struct queue_io	*qi;
	struct queue_io_op	*r;
	char			 id[QUEUE_ID_SIZE], path[QUEUE_FS_PATHSIZE];

	/* ID.env a directory: unlinkat fails with EISDIR, and ID.msg,
	 * removed only after the envelope, stays. */
	make_id(id, 7);
	put_file(fx, id, "msg");
	queue_fs_path(path, QFS_QUEUE, id, "env");
	assert_int_equal(mkdirat(fx->spoolfd, path, 0700), 0);
	qi = queue_io_new(fx->spoolfd);
	queue_io_remove(qi, id);
	wait_done(qi);
	r = queue_io_done(qi);
	assert_non_null(r);
	assert_null(r->next);
	assert_string_equal(r->id, id);
	assert_int_equal(r->error, EISDIR);
	queue_io_op_free(r);
	assert_true(exists(fx, id, "msg"));
	assert_true(exists(fx, id, "env"));
	queue_io_free(qi);
	assert_int_equal(unlinkat(fx->spoolfd, path, AT_REMOVEDIR), 0);
}

static void
test_stop_finishes(void **state)
{
	struct fixture		*fx = *state;
	struct queue_io	*qi;
	struct queue_io_op	*r, *next;
	char			 id[QUEUE_ID_SIZE];
	unsigned		 i, n = 0;

	qi = queue_io_new(fx->spoolfd);
	for (i = 0; i < 200; i++) {
		make_id(id, i);
		put_file(fx, id, "msg");
		put_file(fx, id, "env");
		queue_io_remove(qi, id);
	}
	queue_io_stop(qi);
	for (r = queue_io_done(qi); r != NULL; r = next) {
		next = r->next;
		assert_int_equal(r->error, 0);
		queue_io_op_free(r);
		n++;
	}
	assert_int_equal(n, 200);
	for (i = 0; i < 200; i++) {
		make_id(id, i);
		assert_false(exists(fx, id, "env"));
		assert_false(exists(fx, id, "msg"));
	}
	queue_io_free(qi);
}

static void
read_env_file(struct fixture *fx, const char *id, char *out, size_t outlen)
{
	char	path[QUEUE_FS_PATHSIZE];
	ssize_t	n;
	int	fd;

	queue_fs_path(path, QFS_QUEUE, id, "env");
	fd = openat(fx->spoolfd, path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, out, outlen - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

static void
rewrite(struct queue_io *qi, const char *id, const char *text, void *arg)
{
	struct buf	b;

	buf_init(&b);
	buf_addstr(&b, text);
	queue_io_rewrite(qi, id, &b, arg);
	assert_int_equal(b.len, 0);
}

static void
test_rewrite(void **state)
{
	struct fixture		*fx = *state;
	struct queue_io		*qi;
	struct queue_io_op	*r, *next;
	char			 id[QUEUE_ID_SIZE], got[64];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 tag1, tag2;

	qi = queue_io_new(fx->spoolfd);
	make_id(id, 3);
	put_file(fx, id, "msg");
	put_file(fx, id, "env");
	rewrite(qi, id, "second\n", &tag1);
	rewrite(qi, id, "third\n", &tag2);
	assert_true(queue_io_pending(qi, id));
	/* Settled: both written, in order; still pending until taken. */
	(void)queue_io_settle(qi, id);
	read_env_file(fx, id, got, sizeof(got));
	assert_string_equal(got, "third\n");
	assert_false(exists(fx, id, "env.new"));
	assert_true(queue_io_pending(qi, id));
	r = queue_io_done(qi);
	assert_non_null(r);
	assert_int_equal(r->kind, QUEUE_IO_REWRITE);
	assert_ptr_equal(r->arg, &tag1);
	assert_int_equal(r->error, 0);
	next = r->next;
	queue_io_op_free(r);
	assert_non_null(next);
	assert_ptr_equal(next->arg, &tag2);
	assert_null(next->next);
	queue_io_op_free(next);
	assert_false(queue_io_pending(qi, id));

	/* A rewrite that cannot write ID.env.new (a directory there) comes
	 * back failed, saying why, and ID.env is the old one. */
	queue_fs_path(path, QFS_QUEUE, id, "env.new");
	assert_int_equal(mkdirat(fx->spoolfd, path, 0700), 0);
	rewrite(qi, id, "fourth\n", NULL);
	(void)queue_io_settle(qi, id);
	r = queue_io_done(qi);
	assert_non_null(r);
	assert_int_equal(r->error, -1);
	assert_non_null(strstr(r->why, "env.new"));
	queue_io_op_free(r);
	read_env_file(fx, id, got, sizeof(got));
	assert_string_equal(got, "third\n");
	assert_int_equal(unlinkat(fx->spoolfd, path, AT_REMOVEDIR), 0);

	/* A rewrite, then the removal: in that order. */
	rewrite(qi, id, "fifth\n", NULL);
	queue_io_remove(qi, id);
	queue_io_stop(qi);
	r = queue_io_done(qi);
	assert_non_null(r);
	assert_int_equal(r->kind, QUEUE_IO_REWRITE);
	assert_int_equal(r->error, 0);
	assert_non_null(r->next);
	assert_int_equal(r->next->kind, QUEUE_IO_REMOVE);
	assert_int_equal(r->next->error, 0);
	queue_io_op_free(r->next);
	queue_io_op_free(r);
	assert_false(exists(fx, id, "env"));
	assert_false(exists(fx, id, "msg"));
	queue_io_free(qi);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_finishes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rewrite, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
