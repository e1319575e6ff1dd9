/*
 * test_queue_commit.c - unit tests of the group-commit worker
 * (queue/queue_commit.c) on a real spool in a temporary folder: committed
 * messages end in queue/XX with an envelope that reads back (digest
 * included) and nothing in incoming/; jobs submitted together share batches; a job whose files
 * cannot be moved or written fails alone and leaves nothing behind; stop
 * finishes every job already submitted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"
#include "queue/envelope.h"
#include "queue/queue_commit.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"

struct fixture {
	char			 top[64];
	char			 spool[128];
	int			 spoolfd;
	struct queue_commit	*qc;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The journal argument of queue_commit_new for every test. */
static int journal_mode;

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));
	char		 err[256];

	if (fx == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "/tmp/test_queue_commit.XXXXXX");
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
	fx->qc = queue_commit_new(fx->spoolfd, journal_mode);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	queue_commit_free(fx->qc);
	close(fx->spoolfd);
	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A new message with body text, as the receiver would leave it. */
static struct queue_job *
new_job(struct fixture *fx, const char *body)
{
	struct queue_job	*job;
	struct envelope		 env;
	int			 fd;

	job = calloc(1, sizeof(*job));
	assert_non_null(job);
	fd = queue_fs_create(fx->spoolfd, job->id);
	assert_true(fd != -1);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	job->content_fd = fd;	/* the queue's own descriptor */
	envelope_init(&env);
	memcpy(env.id, job->id, QUEUE_ID_SIZE);
	env.size = strlen(body);
	assert_int_equal(digest_file(fd, env.digest), 0);
	env.sender = strdup("");
	env.helo = strdup("client");
	env.client = strdup("::1");
	env.protocol = strdup("SMTP");
	(void)envelope_add_rcpt(&env, "postmaster", RCPT_PENDING);
	buf_init(&job->env);
	envelope_serialize(&env, &job->env);
	envelope_free(&env);
	return job;
}

/* A finished job and the content descriptor its submitter kept. */
static void
job_free(struct queue_job *j)
{
	close(j->content_fd);
	queue_job_free(j);
}

/* Waits for n finished jobs; returns them as one list in arrival order. */
static struct queue_job *
wait_done(struct fixture *fx, size_t n)
{
	struct queue_job	*all = NULL, **tail = &all, *j;
	struct pollfd		 pfd;
	size_t			 got = 0;

	while (got < n) {
		pfd.fd = queue_commit_fd(fx->qc);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1)
			fail_msg("waited 10 s for %zu jobs, got %zu", n, got);
		*tail = queue_commit_done(fx->qc);
		for (j = *tail; j != NULL; j = j->next) {
			got++;
			tail = &j->next;
		}
	}
	return all;
}

static int
exists(struct fixture *fx, enum queue_fs_where where, const char *id,
    const char *ext)
{
	char		path[QUEUE_FS_PATHSIZE];
	struct stat	st;

	queue_fs_path(path, where, id, ext);
	return fstatat(fx->spoolfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static size_t
count_incoming(struct fixture *fx)
{
	char		 path[256];
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0;

	snprintf(path, sizeof(path), "%s/incoming", fx->spool);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
assert_committed(struct fixture *fx, const struct queue_job *j,
    const char *body)
{
	char		 path[QUEUE_FS_PATHSIZE], text[4096], err[256];
	struct envelope	 env;
	ssize_t		 n;
	int		 fd;

	if (j->failed)
		fail_msg("%s failed: %s", j->id, j->error);
	queue_fs_path(path, QFS_QUEUE, j->id, "msg");
	assert_true((fd = openat(fx->spoolfd, path, O_RDONLY)) != -1);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(body));
	assert_memory_equal(text, body, (size_t)n);
	queue_fs_path(path, QFS_QUEUE, j->id, "env");
	assert_true((fd = openat(fx->spoolfd, path, O_RDONLY)) != -1);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_true(n > 0);
	if (envelope_parse(text, (size_t)n, &env, err, sizeof(err)) != 0)
		fail_msg("%s: committed envelope rejected: %s", j->id, err);
	assert_string_equal(env.id, j->id);
	envelope_free(&env);
}

#define NJOBS	40

static void
test_commit_batch(void **state)
{
	struct fixture		*fx = *state;
	struct queue_job	*jobs[NJOBS], *done, *j, *next;
	uint64_t		 maxbatch = 0;
	size_t			 i;

	for (i = 0; i < NJOBS; i++)
		jobs[i] = new_job(fx, "Subject: x\r\n\r\nbody\r\n");
	for (i = 0; i < NJOBS; i++)
		queue_commit_submit(fx->qc, jobs[i]);
	done = wait_done(fx, NJOBS);
	for (i = 0, j = done; j != NULL; j = next, i++) {
		next = j->next;
		assert_ptr_equal(j, jobs[i]);	/* in submission order */
		assert_committed(fx, j, "Subject: x\r\n\r\nbody\r\n");
		if (j->batch > maxbatch)
			maxbatch = j->batch;
		job_free(j);
	}
	assert_int_equal(i, NJOBS);
	/* Submitted together: the first batch, then one for all the rest. */
	if (maxbatch > 3)
		fail_msg("%d jobs took %llu batches", NJOBS,
		    (unsigned long long)maxbatch);
	assert_int_equal(count_incoming(fx), 0);
}

static void
test_commit_failures(void **state)
{
	struct fixture		*fx = *state;
	struct queue_job	*good, *gone, *clash, *done, *j, *next;
	char			 path[QUEUE_FS_PATHSIZE];
	int			 fd;

	good = new_job(fx, "good\n");
	gone = new_job(fx, "gone\n");
	clash = new_job(fx, "clash\n");
	/* The content disappeared: the rename fails. */
	queue_fs_path(path, QFS_INCOMING, gone->id, "msg");
	assert_int_equal(unlinkat(fx->spoolfd, path, 0), 0);
	/* Something sits where the envelope is written: O_EXCL fails. */
	queue_fs_path(path, QFS_INCOMING, clash->id, "env");
	fd = openat(fx->spoolfd, path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd != -1);
	close(fd);
	queue_commit_submit(fx->qc, good);
	queue_commit_submit(fx->qc, gone);
	queue_commit_submit(fx->qc, clash);
	done = wait_done(fx, 3);
	for (j = done; j != NULL; j = next) {
		next = j->next;
		if (j == good)
			assert_committed(fx, j, "good\n");
		else {
			assert_true(j->failed);
			if (strstr(j->error, j == gone ? "rename content" :
			    "write envelope") == NULL)
				fail_msg("%s: unexpected error '%s'", j->id,
				    j->error);
			assert_false(exists(fx, QFS_QUEUE, j->id, "msg"));
			assert_false(exists(fx, QFS_QUEUE, j->id, "env"));
			assert_false(exists(fx, QFS_INCOMING, j->id, "msg"));
			assert_false(exists(fx, QFS_INCOMING, j->id, "env"));
		}
		job_free(j);
	}
	assert_int_equal(count_incoming(fx), 0);
}

static void
test_stop_finishes(void **state)
{
	struct fixture		*fx = *state;
	struct queue_job	*j, *next;
	size_t			 i, n = 0;

	for (i = 0; i < 10; i++)
		queue_commit_submit(fx->qc, new_job(fx, "late\n"));
	queue_commit_stop(fx->qc);
	for (j = queue_commit_done(fx->qc); j != NULL; j = next) {
		next = j->next;
		assert_committed(fx, j, "late\n");
		job_free(j);
		n++;
	}
	assert_int_equal(n, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_finishes, setup,
		    teardown),
	};

	int	rc;

	log_init("test", 1, 0);
	/* Both ways of starting a lone message's write-back. */
	rc = cmocka_run_group_tests_name("no journal", tests, NULL, NULL);
	journal_mode = 1;
	return rc | cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
