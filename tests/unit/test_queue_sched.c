/*
 * test_queue_sched.c - the scheduler's control hooks without a delivery
 * process: queue_sched_list gives each queued message with its pending
 * recipients and their last errors, oldest first, or one message by id;
 * queue_sched_flush makes every pending remote recipient due and says how
 * many; local recipients are listed but never counted as due.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"
#include "queue/queue_sched.h"

struct fixture {
	char	top[64];
	char	spool[128];
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
	char		 err[256];

	snprintf(fx->top, sizeof(fx->top), "/tmp/test_queue_sched.XXXXXX");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->top);
	if (queue_fs_prepare(fx->spool, NULL, NULL, err, sizeof(err)) == -1)
		fail_msg("queue_fs_prepare: %s", err);
	fx->spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	*state = fx;
	return fx->spoolfd == -1 ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	close(fx->spoolfd);
	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A committed message: content and envelope in queue/XX. */
static void
put_message(struct fixture *fx, struct envelope *env, const char *id,
    uint64_t arrival, const char *const *rcpts, const char *const *errors,
    size_t n)
{
	struct envelope_rcpt	*r;
	struct digest		*dg = digest_new();
	char			 path[QUEUE_FS_PATHSIZE], why[256];
	size_t			 i;
	int			 fd;

	envelope_init(env);
	(void)strlcpy(env->id, id, sizeof(env->id));
	env->arrival = arrival;
	env->size = 6;
	digest_update(dg, "hello\n", 6);
	digest_final(dg, env->digest);
	env->sender = strdup("alice@example.org");
	env->helo = strdup("h");
	env->client = strdup("127.0.0.1");
	env->protocol = strdup("ESMTP");
	env->next_attempt = 4000000000ULL;	/* far ahead: not due */
	env->expiry = 4100000000ULL;
	for (i = 0; i < n; i++) {
		r = envelope_add_rcpt(env, rcpts[i], RCPT_PENDING);
		if (errors[i] != NULL)
			r->error = strdup(errors[i]);
	}
	queue_fs_path(path, QFS_QUEUE, id, "msg");
	fd = openat(fx->spoolfd, path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	if (queue_fs_write_envelope(fx->spoolfd, env, why, sizeof(why)) == -1)
		fail_msg("write_envelope: %s", why);
}

static int
list_cb(const struct queue_sched_item *it, void *arg)
{
	struct buf	*b = arg;
	size_t		 i;

	buf_printf(b, "%s %llu %llu <%s>", it->qid,
	    (unsigned long long)it->size, (unsigned long long)it->arrival,
	    it->sender);
	for (i = 0; i < it->nrcpt; i++)
		buf_printf(b, " [%s %s '%s']", it->rcpts[i].addr,
		    it->rcpts[i].state, it->rcpts[i].error);
	buf_addstr(b, "\n");
	return 0;
}

#define ID1	"E000000000000101"
#define ID2	"E000000000000102"

static void
test_list_and_flush(void **state)
{
	static const char *const r1[] = { "bob@remote.example",
	    "carol@local.test" };
	static const char *const e1[] = { "451 4.7.1 later", NULL };
	static const char *const r2[] = { "dave@other.example" };
	static const char *const e2[] = { NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct envelope		 env1, env2;
	struct buf		 b;
	char			 err[256];
	static const char text[] = "listen 127.0.0.1 25\n"
	    "hostname mx.local.test\nlocal-domain local.test\n";

	config_init(&cfg);
	if (config_parse(&cfg, "t", text, sizeof(text) - 1, err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	loop = event_loop_new();
	qs = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	/* Added out of order: listed oldest first. */
	put_message(fx, &env2, ID2, 1700000200, r2, e2, 1);
	put_message(fx, &env1, ID1, 1700000100, r1, e1, 2);
	queue_sched_add(qs, &env2);
	queue_sched_add(qs, &env1);

	buf_init(&b);
	assert_int_equal(queue_sched_list(qs, NULL, list_cb, &b), 2);
	assert_string_equal(b.data,
	    ID1 " 6 1700000100 <alice@example.org>"
	    " [bob@remote.example pending '451 4.7.1 later']"
	    " [carol@local.test pending '']\n"
	    ID2 " 6 1700000200 <alice@example.org>"
	    " [dave@other.example pending '']\n");
	buf_reset(&b);
	assert_int_equal(queue_sched_list(qs, ID2, list_cb, &b), 1);
	assert_string_equal(b.data, ID2 " 6 1700000200 <alice@example.org>"
	    " [dave@other.example pending '']\n");
	buf_reset(&b);
	assert_int_equal(queue_sched_list(qs, "E0000000000009FF", list_cb,
	    &b), 0);
	/* Two remote recipients made due; the local one is not. */
	assert_int_equal(queue_sched_flush(qs), 2);

	buf_free(&b);
	envelope_free(&env1);
	envelope_free(&env2);
	queue_sched_free(qs);
	event_loop_free(loop);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_and_flush, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
