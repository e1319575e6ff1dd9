/*
 * test_queue_reap.c - unit tests of the removal thread (queue/queue_reap.c)
 * on a real spool in a temporary folder: a delivered message's two files
 * go, its ID comes back through the eventfd, in order, and counts as
 * pending until it is taken back; a removal that fails comes back with
 * its errno and leaves the files; stop finishes every removal handed over.
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
#include "queue/queue_reap.h"

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
	snprintf(fx->top, sizeof(fx->top), "%s/test_queue_reap.XXXXXX",
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
wait_done(struct queue_reap *qr)
{
	struct pollfd	pfd = { .fd = queue_reap_fd(qr), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 10000), 1);
}

static void
test_remove(void **state)
{
	struct fixture		*fx = *state;
	struct queue_reap	*qr;
	struct queue_reaped	*r, *next;
	char			 id[QUEUE_ID_SIZE];
	unsigned		 i, got = 0;

	qr = queue_reap_new(fx->spoolfd);
	for (i = 0; i < 50; i++) {
		make_id(id, i);
		put_file(fx, id, "msg");
		put_file(fx, id, "env");
	}
	for (i = 0; i < 50; i++) {
		make_id(id, i);
		queue_reap_add(qr, id);
		assert_true(queue_reap_pending(qr, id));
	}
	make_id(id, 1000);
	assert_false(queue_reap_pending(qr, id));
	/* Back in the order handed over, each without error; pending until
	 * taken back. */
	while (got < 50) {
		wait_done(qr);
		make_id(id, 49);
		assert_true(queue_reap_pending(qr, id));
		for (r = queue_reap_done(qr); r != NULL; r = next) {
			next = r->next;
			make_id(id, got);
			assert_string_equal(r->id, id);
			assert_int_equal(r->error, 0);
			assert_false(queue_reap_pending(qr, id));
			assert_false(exists(fx, id, "env"));
			assert_false(exists(fx, id, "msg"));
			got++;
			free(r);
		}
	}
	assert_null(queue_reap_done(qr));
	queue_reap_free(qr);
}

static void
test_failure(void **state)
{
	struct fixture		*fx = *state;
	struct queue_reap	*qr;
	struct queue_reaped	*r;
	char			 id[QUEUE_ID_SIZE], path[QUEUE_FS_PATHSIZE];

	/* ID.env a directory: unlinkat fails with EISDIR, and ID.msg,
	 * removed only after the envelope, stays. */
	make_id(id, 7);
	put_file(fx, id, "msg");
	queue_fs_path(path, QFS_QUEUE, id, "env");
	assert_int_equal(mkdirat(fx->spoolfd, path, 0700), 0);
	qr = queue_reap_new(fx->spoolfd);
	queue_reap_add(qr, id);
	wait_done(qr);
	r = queue_reap_done(qr);
	assert_non_null(r);
	assert_null(r->next);
	assert_string_equal(r->id, id);
	assert_int_equal(r->error, EISDIR);
	free(r);
	assert_true(exists(fx, id, "msg"));
	assert_true(exists(fx, id, "env"));
	queue_reap_free(qr);
	assert_int_equal(unlinkat(fx->spoolfd, path, AT_REMOVEDIR), 0);
}

static void
test_stop_finishes(void **state)
{
	struct fixture		*fx = *state;
	struct queue_reap	*qr;
	struct queue_reaped	*r, *next;
	char			 id[QUEUE_ID_SIZE];
	unsigned		 i, n = 0;

	qr = queue_reap_new(fx->spoolfd);
	for (i = 0; i < 200; i++) {
		make_id(id, i);
		put_file(fx, id, "msg");
		put_file(fx, id, "env");
		queue_reap_add(qr, id);
	}
	queue_reap_stop(qr);
	for (r = queue_reap_done(qr); r != NULL; r = next) {
		next = r->next;
		assert_int_equal(r->error, 0);
		free(r);
		n++;
	}
	assert_int_equal(n, 200);
	for (i = 0; i < 200; i++) {
		make_id(id, i);
		assert_false(exists(fx, id, "env"));
		assert_false(exists(fx, id, "msg"));
	}
	queue_reap_free(qr);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
