/*
 * test_queue_sched.c - the scheduler's control hooks without a delivery
 * process: queue_sched_list gives each queued message with its pending
 * recipients and their last errors, oldest first, or one message by id;
 * queue_sched_flush makes every pending remote recipient due and says how
 * many; local recipients are listed but never counted as due.  With a
 * socketpair for the delivery process: max-deliveries-per-domain holds a
 * second job back until the first one's MSG_D_RESULT, which marks the
 * recipient delivered and removes the message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <sys/socket.h>

#include <errno.h>
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
#include "common/ipc.h"
#include "common/proto.h"
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

static void
dlv_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	assert_int_equal(m->type, MSG_D_RESULT);
	queue_sched_result(arg, m);
}

static void
dlv_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fail_msg("the test's delivery channel closed");
}

static void
stop_loop(void *arg)
{
	event_loop_stop(arg);
}

static void
run_loop(struct event_loop *loop, uint64_t ms)
{
	(void)event_timer_add(loop, ms, stop_loop, loop);
	assert_int_equal(event_loop_run(loop), 0);
}

/* The MSG_D_JOBs waiting on fd: their job ids and queue ids. */
static size_t
read_jobs(int fd, uint64_t *jobs, char qids[][QUEUE_ID_SIZE], size_t max)
{
	static uint8_t	 in[65536];
	struct ipc_msg	 m;
	size_t		 len = 0, off = 0, used, n = 0;
	ssize_t		 r;

	while ((r = recv(fd, in + len, sizeof(in) - len, MSG_DONTWAIT)) > 0)
		len += (size_t)r;
	while (off < len && n < max) {
		assert_int_equal(ipc_decode(in + off, len - off, &m, &used),
		    IPC_OK);
		assert_int_equal(m.type, MSG_D_JOB);
		assert_int_equal(ipc_msg_get_u64(&m, &jobs[n]), IPC_OK);
		assert_int_equal(ipc_msg_get_str(&m, qids[n], QUEUE_ID_SIZE),
		    IPC_OK);
		n++;
		off += used;
	}
	return n;
}

static void
send_sent(int fd, uint64_t job)
{
	struct buf	p, w;

	buf_init(&p);
	buf_init(&w);
	ipc_put_u64(&p, job);
	ipc_put_u32(&p, 1);
	ipc_put_u32(&p, 0);
	ipc_put_u32(&p, DRES_SENT);
	ipc_put_u32(&p, 250);
	ipc_put_str(&p, "2.0.0");
	ipc_put_str(&p, "mx.remote.example[192.0.2.1]:25");
	ipc_put_str(&p, "250 2.0.0 ok");
	ipc_encode(&w, MSG_D_RESULT, 0, 0, p.data, p.len);
	assert_int_equal(write(fd, w.data, w.len), (ssize_t)w.len);
	buf_free(&p);
	buf_free(&w);
}

static void
test_domain_limit_and_result(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const e[] = { NULL };
	static const char text[] = "listen 127.0.0.1 25\n"
	    "max-deliveries-per-domain 1\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env1, env2;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE], err[256];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 sv[2];

	config_init(&cfg);
	if (config_parse(&cfg, "t", text, sizeof(text) - 1, err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	loop = event_loop_new();
	qs = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ch = ipc_chan_new(loop, sv[0], "delivery", dlv_dispatch, dlv_closed,
	    qs);
	queue_sched_set_delivery(qs, ch);
	put_message(fx, &env1, ID1, 1700000100, r, e, 1);
	put_message(fx, &env2, ID2, 1700000200, r, e, 1);
	env1.next_attempt = env2.next_attempt = 0;	/* both due now */
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	/* One job: the domain's limit holds the other back. */
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 1);
	assert_string_equal(qids[0], ID1);
	send_sent(sv[1], jobs[0]);
	run_loop(loop, 100);
	/* Delivered: the message is gone, and the next job went out. */
	queue_fs_path(path, QFS_QUEUE, ID1, "env");
	assert_true(faccessat(fx->spoolfd, path, F_OK, 0) == -1 &&
	    errno == ENOENT);
	queue_fs_path(path, QFS_QUEUE, ID1, "msg");
	assert_true(faccessat(fx->spoolfd, path, F_OK, 0) == -1);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 1);
	assert_string_equal(qids[0], ID2);
	queue_fs_path(path, QFS_QUEUE, ID2, "env");
	assert_int_equal(faccessat(fx->spoolfd, path, F_OK, 0), 0);

	queue_sched_set_delivery(qs, NULL);
	ipc_chan_free(ch);
	close(sv[1]);
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
		cmocka_unit_test_setup_teardown(test_domain_limit_and_result,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_flush, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
