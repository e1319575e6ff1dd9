/*
 * test_queue_sched.c - the scheduler of the queue process with a
 * socketpair for the delivery process: queue_sched_flush makes every
 * pending recipient due and says how many (local ones too); a local
 * recipient goes to the parent's channel as MSG_LD_JOB, and a result
 * that forwards it adds the new address as a pending recipient that goes
 * to the delivery process; max-deliveries-per-domain holds a second job back until the
 * first one's MSG_D_RESULT (without reading its envelope meanwhile), which
 * marks the recipient delivered and removes the message (without rewriting its envelope first: that goes
 * even where the envelope could not be rewritten); a malformed
 * MSG_D_RESULT defers its job and the queue goes on; three host-level
 * failures in a row back a destination off (a new message for it waits,
 * flush clears it); a deferral after
 * delay-warning queues one delay warning (RFC 3464 "delayed") to the
 * sender through the commit worker, marks the envelope "warned", and is
 * not repeated at the next deferral.
 * The operator's hold writes "held" into the envelope and flush leaves
 * the message; release removes it and makes the message due; delete
 * removes both files; an unknown ID, a release of a message not held,
 * are errors.
 * Pause: no job goes out, remote or local, while a job already out
 * finishes and its outcome is written; the state is queue/paused, which a
 * new scheduler on the same spool (a restart) finds; resume removes it and
 * every due message goes at once; pausing twice is no error.
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
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/digest.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_commit.h"
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
	if (queue_fs_prepare(fx->spool, NULL, NULL, 0, err,
	    sizeof(err)) == -1)
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

#define ID1	"E000000000000101"
#define ID2	"E000000000000102"
#define ID3	"E000000000000103"

static void
test_flush(void **state)
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
	char			 err[256];
	static const char text[] = "listen 127.0.0.1 25\n"
	    "hostname mx.local.test\nlocal-domain local.test\n";

	config_init(&cfg);
	if (config_parse(&cfg, "t", text, sizeof(text) - 1, err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	loop = event_loop_new();
	qs = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	put_message(fx, &env2, ID2, 1700000200, r2, e2, 1);
	put_message(fx, &env1, ID1, 1700000100, r1, e1, 2);
	queue_sched_add(qs, &env2);
	queue_sched_add(qs, &env1);
	assert_int_equal(queue_sched_check(qs), 0);
	/* Every pending recipient is made due, the local one too (its jobs
	 * go to the parent). */
	assert_int_equal(queue_sched_flush(qs), 3);
	assert_int_equal(queue_sched_check(qs), 0);

	envelope_free(&env1);
	envelope_free(&env2);
	queue_sched_free(qs);
	event_loop_free(loop);
	config_free(&cfg);
}

static void
op_read_env(struct fixture *fx, const char *id, struct envelope *env)
{
	char	why[256];

	if (queue_fs_read_envelope(fx->spoolfd, id, env, why,
	    sizeof(why)) == -1)
		fail_msg("read %s: %s", id, why);
}

static void
test_operator(void **state)
{
	static const char *const r1[] = { "bob@remote.example",
	    "carol@remote.example" };
	static const char *const e1[] = { NULL, NULL };
	static const char *const r2[] = { "dave@other.example" };
	static const char *const e2[] = { NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct queue_sched_stats st;
	struct envelope		 env1, env2, e;
	struct stat		 sb;
	char			 err[256], path[QUEUE_FS_PATHSIZE];
	static const char text[] = "listen 127.0.0.1 25\n"
	    "hostname mx.local.test\nlocal-domain local.test\n";

	config_init(&cfg);
	if (config_parse(&cfg, "t", text, sizeof(text) - 1, err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	loop = event_loop_new();
	qs = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	put_message(fx, &env1, ID1, 1700000100, r1, e1, 2);
	put_message(fx, &env2, ID2, 1700000200, r2, e2, 1);
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);

	assert_int_equal(queue_sched_hold(qs, ID1, "uid 0 (root)", err,
	    sizeof(err)), 0);
	op_read_env(fx, ID1, &e);
	assert_true(e.held != 0);
	envelope_free(&e);
	/* Held: flush leaves it (only ID2's recipient is made due). */
	assert_int_equal(queue_sched_flush(qs), 1);
	assert_int_equal(queue_sched_hold(qs, ID1, "uid 0 (root)", err,
	    sizeof(err)), 0);
	/* Found held at a restart: added again, still left by flush. */
	op_read_env(fx, ID1, &e);
	queue_sched_add(qs, &e);
	envelope_free(&e);
	assert_int_equal(queue_sched_flush(qs), 1);

	assert_int_equal(queue_sched_release(qs, ID2, "x", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "message " ID2 " is not held");
	assert_int_equal(queue_sched_release(qs, ID1, "x", err,
	    sizeof(err)), 0);
	op_read_env(fx, ID1, &e);
	assert_int_equal(e.held, 0);
	assert_true(e.next_attempt <= (uint64_t)time(NULL));
	envelope_free(&e);
	assert_int_equal(queue_sched_flush(qs), 3);

	assert_int_equal(queue_sched_delete(qs, ID2, "x", err,
	    sizeof(err)), 0);
	queue_fs_path(path, QFS_QUEUE, ID2, "env");
	assert_int_equal(fstatat(fx->spoolfd, path, &sb, 0), -1);
	queue_fs_path(path, QFS_QUEUE, ID2, "msg");
	assert_int_equal(fstatat(fx->spoolfd, path, &sb, 0), -1);
	assert_int_equal(queue_sched_flush(qs), 2);
	assert_int_equal(queue_sched_delete(qs, ID2, "x", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "no message " ID2);
	assert_int_equal(queue_sched_hold(qs, ID3, "x", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "no message " ID3);
	assert_int_equal(queue_sched_hold(qs, "../x", "x", err,
	    sizeof(err)), -1);
	queue_sched_stats(qs, &st);
	assert_int_equal(st.delivered + st.deferred + st.bounced, 0);

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

/* The scheduler of the test (new_sched): its index is checked after every
 * run of the loop and before it is freed. */
static struct queue_sched *checked;

static void
run_loop(struct event_loop *loop, uint64_t ms)
{
	(void)event_timer_add(loop, ms, stop_loop, loop);
	assert_int_equal(event_loop_run(loop), 0);
	if (checked != NULL)
		assert_int_equal(queue_sched_check(checked), 0);
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
send_payload(int fd, const struct buf *p)
{
	struct buf	w;

	buf_init(&w);
	ipc_encode(&w, MSG_D_RESULT, 0, 0, p->data, p->len);
	assert_int_equal(write(fd, w.data, w.len), (ssize_t)w.len);
	buf_free(&w);
}

/* MSG_D_RESULT for a job of one recipient, the envelope's index'th. */
static void
send_result_at(int fd, uint64_t job, uint32_t index, uint32_t status,
    uint32_t code, const char *enh, const char *text, uint32_t flags)
{
	struct buf	p;

	buf_init(&p);
	ipc_put_u64(&p, job);
	ipc_put_u32(&p, 1);
	ipc_put_u32(&p, index);
	ipc_put_u32(&p, status);
	ipc_put_u32(&p, code);
	ipc_put_str(&p, enh);
	ipc_put_str(&p, code != 0 ? "mx.remote.example[192.0.2.1]:25" : "");
	ipc_put_str(&p, text);
	ipc_put_u32(&p, flags);
	send_payload(fd, &p);
	buf_free(&p);
}

/* The same for recipient 0. */
static void
send_result(int fd, uint64_t job, uint32_t status, uint32_t code,
    const char *enh, const char *text, uint32_t flags)
{
	send_result_at(fd, job, 0, status, code, enh, text, flags);
}

static void
send_sent(int fd, uint64_t job)
{
	send_result(fd, job, DRES_SENT, 250, "2.0.0", "250 2.0.0 ok", 0);
}

/* A refused connection: deferred, host-level. */
static void
send_refused(int fd, uint64_t job)
{
	send_result(fd, job, DRES_DEFERRED, 0, "4.4.1",
	    "connect to mx.remote.example[192.0.2.1]:25: Connection refused",
	    DRESF_HOST);
}

static void
new_sched(struct fixture *fx, const char *text, struct config *cfg,
    struct event_loop **loop, struct queue_sched **qs,
    struct queue_commit *qc, struct ipc_chan **ch, int sv[2])
{
	char	err[256];

	config_init(cfg);
	if (config_parse(cfg, "t", text, strlen(text), err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	*loop = event_loop_new();
	*qs = queue_sched_new(cfg, *loop, fx->spoolfd, qc);
	checked = *qs;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*ch = ipc_chan_new(*loop, sv[0], "delivery", dlv_dispatch,
	    dlv_closed, *qs);
	queue_sched_set_delivery(*qs, *ch);
}

static void
free_sched(struct config *cfg, struct event_loop *loop,
    struct queue_sched *qs, struct ipc_chan *ch, int sv[2])
{
	queue_sched_set_delivery(qs, NULL);
	assert_int_equal(queue_sched_check(qs), 0);
	checked = NULL;
	ipc_chan_free(ch);
	close(sv[1]);
	queue_sched_free(qs);
	event_loop_free(loop);
	config_free(cfg);
}

/* The envelope of id as the spool has it. */
static void
read_env(struct fixture *fx, const char *id, struct envelope *env)
{
	char	why[256];

	if (queue_fs_read_envelope(fx->spoolfd, id, env, why,
	    sizeof(why)) == -1)
		fail_msg("read_envelope %s: %s", id, why);
}

/* One message on fd of type want: its job id, qid and first recipient. */
static int
read_one_job(int fd, uint32_t want, uint64_t *job, char *qid, char *rcpt,
    size_t rcptsize)
{
	static uint8_t	 in[65536];
	struct ipc_msg	 m;
	char		 s[512];
	uint64_t	 u64;
	uint32_t	 u32;
	size_t		 used;
	ssize_t		 r;

	r = recv(fd, in, sizeof(in), MSG_DONTWAIT);
	if (r <= 0)
		return 0;
	assert_int_equal(ipc_decode(in, (size_t)r, &m, &used), IPC_OK);
	assert_int_equal(used, (size_t)r);
	assert_int_equal(m.type, want);
	assert_int_equal(ipc_msg_get_u64(&m, job), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, qid, QUEUE_ID_SIZE), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_u64(&m, &u64), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(u32, 1);
	assert_int_equal(ipc_msg_get_u32(&m, &u32), IPC_OK);
	assert_int_equal(ipc_msg_get_str(&m, rcpt, rcptsize), IPC_OK);
	if (m.fd != -1)
		close(m.fd);
	return 1;
}

/* The parent's channel: what queue.c does with MSG_LD_RESULT. */
static void
local_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	assert_int_equal(m->type, MSG_LD_RESULT);
	queue_sched_result(arg, m);
}

static void
test_local_job_forward(void **state)
{
	static const char *const r[] = { "bob@remote.example",
	    "carol@local.test" };
	static const char *const e[] = { NULL, NULL };
	static const char text[] = "listen 127.0.0.1 25\n"
	    "hostname mx.local.test\nlocal-domain local.test\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch, *lch;
	struct envelope		 env, got;
	struct buf		 p, w;
	uint64_t		 job, ljob;
	char			 qid[QUEUE_ID_SIZE], rcpt[512];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 sv[2], lv[2];

	new_sched(fx, text, &cfg, &loop, &qs, NULL, &ch, sv);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, lv), 0);
	lch = ipc_chan_new(loop, lv[0], "parent", local_dispatch, dlv_closed,
	    qs);
	queue_sched_set_local(qs, lch);
	put_message(fx, &env, ID1, 1700000100, r, e, 2);
	env.next_attempt = 0;
	if (queue_fs_write_envelope(fx->spoolfd, &env, path,
	    sizeof(path)) == -1)
		fail_msg("write_envelope: %s", path);
	queue_sched_add(qs, &env);
	run_loop(loop, 100);
	/* The remote recipient to the delivery process, the local one to
	 * the parent. */
	assert_int_equal(read_one_job(sv[1], MSG_D_JOB, &job, qid, rcpt,
	    sizeof(rcpt)), 1);
	assert_string_equal(rcpt, "<bob@remote.example>");
	assert_int_equal(read_one_job(lv[1], MSG_LD_JOB, &ljob, qid, rcpt,
	    sizeof(rcpt)), 1);
	assert_string_equal(qid, ID1);
	assert_string_equal(rcpt, "<carol@local.test>");
	/* carol is delivered and forwarded to dave@far.example. */
	buf_init(&p);
	ipc_put_u64(&p, ljob);
	ipc_put_u32(&p, 1);
	ipc_put_u32(&p, 1);
	ipc_put_u32(&p, DRES_SENT);
	ipc_put_u32(&p, 0);
	ipc_put_str(&p, "2.0.0");
	ipc_put_str(&p, "mbox");
	ipc_put_str(&p, "delivered");
	ipc_put_u32(&p, 0);
	ipc_put_u32(&p, 1);
	ipc_put_u32(&p, 1);
	ipc_put_str(&p, "dave@far.example");
	buf_init(&w);
	ipc_encode(&w, MSG_LD_RESULT, 0, 0, p.data, p.len);
	assert_int_equal(write(lv[1], w.data, w.len), (ssize_t)w.len);
	buf_free(&w);
	buf_free(&p);
	run_loop(loop, 100);
	read_env(fx, ID1, &got);
	assert_int_equal(got.nrcpt, 3);
	assert_int_equal(got.rcpts[1].state, RCPT_DELIVERED);
	assert_string_equal(got.rcpts[2].addr, "dave@far.example");
	assert_int_equal(got.rcpts[2].state, RCPT_PENDING);
	assert_string_equal(got.rcpts[2].orcpt, "rfc822;carol@local.test");
	envelope_free(&got);
	/* The new recipient goes to the delivery process once the message's
	 * first round is over (one round of jobs per message at a time). */
	run_loop(loop, 50);
	assert_int_equal(read_one_job(sv[1], MSG_D_JOB, &job, qid, rcpt,
	    sizeof(rcpt)), 0);
	send_sent(sv[1], job);
	run_loop(loop, 100);
	assert_int_equal(read_one_job(sv[1], MSG_D_JOB, &job, qid, rcpt,
	    sizeof(rcpt)), 1);
	assert_string_equal(rcpt, "<dave@far.example>");
	queue_sched_set_local(qs, NULL);
	ipc_chan_free(lch);
	close(lv[1]);
	envelope_free(&env);
	free_sched(&cfg, loop, qs, ch, sv);
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

/* A due message whose domain has no free slot is passed over without
 * reading its envelope: here it cannot be read meanwhile (reading it
 * would drop it from the schedule), and it still goes once the slot is
 * free and the envelope is back. */
static void
test_wait_without_read(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const r3[] = { "carol@other.example" };
	static const char *const e[] = { NULL };
	static const char text[] = "listen 127.0.0.1 25\n"
	    "max-deliveries-per-domain 1\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env1, env2, env3;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE], why[256];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 sv[2], fd;

	new_sched(fx, text, &cfg, &loop, &qs, NULL, &ch, sv);
	put_message(fx, &env1, ID1, 1700000100, r, e, 1);
	put_message(fx, &env2, ID2, 1700000200, r, e, 1);
	env1.next_attempt = env2.next_attempt = 0;
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 1);
	assert_string_equal(qids[0], ID1);
	/* ID2's envelope unreadable while a third message, for another
	 * domain, makes the scheduler run. */
	queue_fs_path(path, QFS_QUEUE, ID2, "env");
	fd = openat(fx->spoolfd, path, O_WRONLY | O_TRUNC);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "garbage\n", 8), 8);
	close(fd);
	put_message(fx, &env3, ID3, 1700000300, r3, e, 1);
	env3.next_attempt = 0;
	queue_sched_add(qs, &env3);
	/* A blocked scheduler looks again a second later. */
	run_loop(loop, 1500);
	assert_int_equal(read_jobs(sv[1], &jobs[1], &qids[1], 3), 1);
	assert_string_equal(qids[1], ID3);
	if (queue_fs_write_envelope(fx->spoolfd, &env2, why,
	    sizeof(why)) == -1)
		fail_msg("write_envelope: %s", why);
	send_sent(sv[1], jobs[0]);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], &jobs[2], &qids[2], 2), 1);
	assert_string_equal(qids[2], ID2);

	envelope_free(&env1);
	envelope_free(&env2);
	envelope_free(&env3);
	free_sched(&cfg, loop, qs, ch, sv);
}

/* A result that leaves nothing pending removes the message without
 * rewriting its envelope first: where ID.env.new cannot be written (a
 * folder of that name), a delivered message still goes, while a deferred
 * one keeps its old envelope (its rewrite fails). */
static void
test_done_without_rewrite(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const e[] = { NULL };
	static const char text[] = "listen 127.0.0.1 25\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env1, env2, got;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 sv[2];
	size_t			 i, n;

	new_sched(fx, text, &cfg, &loop, &qs, NULL, &ch, sv);
	put_message(fx, &env1, ID1, 1700000100, r, e, 1);
	put_message(fx, &env2, ID2, 1700000200, r, e, 1);
	queue_fs_path(path, QFS_QUEUE, ID1, "env.new");
	assert_int_equal(mkdirat(fx->spoolfd, path, 0700), 0);
	queue_fs_path(path, QFS_QUEUE, ID2, "env.new");
	assert_int_equal(mkdirat(fx->spoolfd, path, 0700), 0);
	env1.next_attempt = env2.next_attempt = 0;
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	n = read_jobs(sv[1], jobs, qids, 4);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		if (strcmp(qids[i], ID1) == 0)
			send_sent(sv[1], jobs[i]);
		else
			send_refused(sv[1], jobs[i]);
	}
	run_loop(loop, 100);
	queue_fs_path(path, QFS_QUEUE, ID1, "env");
	assert_true(faccessat(fx->spoolfd, path, F_OK, 0) == -1 &&
	    errno == ENOENT);
	queue_fs_path(path, QFS_QUEUE, ID1, "msg");
	assert_true(faccessat(fx->spoolfd, path, F_OK, 0) == -1 &&
	    errno == ENOENT);
	/* The deferral could not be written: the old envelope stays. */
	read_env(fx, ID2, &got);
	assert_int_equal(got.attempts, 0);
	assert_int_equal(got.rcpts[0].state, RCPT_PENDING);
	assert_null(got.rcpts[0].error);
	envelope_free(&got);

	envelope_free(&env1);
	envelope_free(&env2);
	free_sched(&cfg, loop, qs, ch, sv);
}

/*
 * Two jobs of one message (two domains) end in the same round of the
 * loop, both deferred: the first's rewrite is on the thread when the
 * second is applied, which reads the envelope only once that rewrite is
 * on the disk, so the envelope keeps both errors; the message stays on
 * the schedule with both recipients pending, and goes out again.
 */
static void
test_two_results_one_round(void **state)
{
	static const char *const r[] = { "bob@one.example",
	    "carol@two.example" };
	static const char *const e[] = { NULL, NULL };
	static const char text[] = "listen 127.0.0.1 25\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env1, got;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE];
	int			 sv[2];
	size_t			 i;

	new_sched(fx, text, &cfg, &loop, &qs, NULL, &ch, sv);
	/* Arrived now: no delay warning is due (there is no commit
	 * worker here to queue one). */
	put_message(fx, &env1, ID1, (uint64_t)time(NULL), r, e, 2);
	env1.next_attempt = 0;
	queue_sched_add(qs, &env1);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 2);
	/* Jobs go out in the order of their domains' first recipients. */
	send_result_at(sv[1], jobs[0], 0, DRES_DEFERRED, 451, "4.3.0",
	    "451 4.3.0 first", 0);
	send_result_at(sv[1], jobs[1], 1, DRES_DEFERRED, 451, "4.3.0",
	    "451 4.3.0 second", 0);
	run_loop(loop, 200);
	read_env(fx, ID1, &got);
	assert_int_equal(got.nrcpt, 2);
	for (i = 0; i < 2; i++)
		assert_int_equal(got.rcpts[i].state, RCPT_PENDING);
	assert_non_null(got.rcpts[0].error);
	assert_non_null(got.rcpts[1].error);
	assert_non_null(strstr(got.rcpts[0].error, "first"));
	assert_non_null(strstr(got.rcpts[1].error, "second"));
	assert_int_equal(got.attempts, 2);
	assert_true(got.next_attempt > (uint64_t)time(NULL));
	envelope_free(&got);
	/* On the schedule, both pending: flush makes them due, and both
	 * jobs go out again. */
	assert_int_equal(queue_sched_flush(qs), 2);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 2);
	assert_string_equal(qids[0], ID1);
	assert_string_equal(qids[1], ID1);

	envelope_free(&env1);
	free_sched(&cfg, loop, qs, ch, sv);
}

/* A malformed result (no flags field, a bad status, garbage) defers its
 * job: the slot is free, the recipient stays pending, nothing dies; a
 * late good result for that job is ignored. */
static void
test_malformed_result(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const e[] = { NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env1, env2, got;
	struct buf		 p;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE];
	int			 sv[2];

	new_sched(fx, "listen 127.0.0.1 25\nmax-deliveries-per-domain 1\n"
	    "retry-initial 1h\n", &cfg, &loop, &qs, NULL, &ch, sv);
	put_message(fx, &env1, ID1, 1700000100, r, e, 1);
	put_message(fx, &env2, ID2, 1700000200, r, e, 1);
	env1.next_attempt = env2.next_attempt = 0;
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 1);
	assert_string_equal(qids[0], ID1);
	/* A status out of range, with everything else in place. */
	send_result(sv[1], jobs[0], 99, 250, "2.0.0", "250 ok", 0);
	run_loop(loop, 100);
	/* Deferred: the slot went to the second message. */
	assert_int_equal(read_jobs(sv[1], jobs + 1, qids + 1, 3), 1);
	assert_string_equal(qids[1], ID2);
	/* Short (the flags field is missing), and then garbage. */
	buf_init(&p);
	ipc_put_u64(&p, jobs[1]);
	ipc_put_u32(&p, 1);
	send_payload(sv[1], &p);
	buf_reset(&p);
	ipc_put_u32(&p, 7);
	send_payload(sv[1], &p);
	buf_free(&p);
	run_loop(loop, 100);
	/* The late good answer of the first job changes nothing. */
	send_sent(sv[1], jobs[0]);
	run_loop(loop, 100);
	read_env(fx, ID1, &got);
	assert_int_equal(got.rcpts[0].state, RCPT_PENDING);
	assert_int_equal(got.attempts, 0);
	envelope_free(&got);
	read_env(fx, ID2, &got);
	assert_int_equal(got.rcpts[0].state, RCPT_PENDING);
	envelope_free(&got);
	/* Both wait for retry-initial: nothing due now. */
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 0);

	free_sched(&cfg, loop, qs, ch, sv);
	envelope_free(&env1);
	envelope_free(&env2);
}

#define ID4	"E000000000000104"

/* Three host-level failures in a row back the destination off: a new
 * message for it is not handed out; a recipient's own 4xx does not count;
 * flush clears the backoff. */
static void
test_dest_backoff(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const e[] = { NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env[4];
	uint64_t		 jobs[8];
	char			 qids[8][QUEUE_ID_SIZE];
	const char		*ids[4] = { ID1, ID2, ID3, ID4 };
	int			 sv[2], i;

	new_sched(fx, "listen 127.0.0.1 25\nretry-initial 1h\n"
	    "delay-warning 0\n",
	    &cfg, &loop, &qs, NULL, &ch, sv);
	for (i = 0; i < 3; i++) {
		put_message(fx, &env[i], ids[i], 1700000100 + i, r, e, 1);
		env[i].next_attempt = 0;
		queue_sched_add(qs, &env[i]);
	}
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 3);
	/* A 4xx to the recipient and two refused connections: two in a
	 * row, below the threshold. */
	send_result(sv[1], jobs[0], DRES_DEFERRED, 451, "4.7.1",
	    "451 4.7.1 later", 0);
	send_refused(sv[1], jobs[1]);
	send_refused(sv[1], jobs[2]);
	run_loop(loop, 100);
	put_message(fx, &env[3], ID4, 1700000400, r, e, 1);
	env[3].next_attempt = 0;
	queue_sched_add(qs, &env[3]);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 1);
	assert_string_equal(qids[0], ID4);
	/* The third in a row: backed off for retry-initial. */
	send_refused(sv[1], jobs[0]);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 0);
	/* Made due again (as a restart or a reload could), ID4 still
	 * waits: its destination is backed off. */
	envelope_free(&env[3]);
	put_message(fx, &env[3], ID4, 1700000400, r, e, 1);
	env[3].next_attempt = 0;
	queue_sched_add(qs, &env[3]);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 0);
	/* flush: every message goes, the destination is tried again. */
	assert_int_equal(queue_sched_flush(qs), 4);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 4);
	/* A success: the next failure does not back it off at once. */
	send_sent(sv[1], jobs[0]);
	send_refused(sv[1], jobs[1]);
	send_refused(sv[1], jobs[2]);
	send_refused(sv[1], jobs[3]);
	run_loop(loop, 100);
	assert_int_equal(queue_sched_flush(qs), 3);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 8), 3);

	free_sched(&cfg, loop, qs, ch, sv);
	for (i = 0; i < 4; i++)
		envelope_free(&env[i]);
}

/* Runs the loop and hands finished commits to the scheduler until n
 * came back (at most 5 s). */
static void
commits(struct event_loop *loop, struct queue_commit *qc,
    struct queue_sched *qs, int n)
{
	struct queue_job	*j, *next;
	int			 i, got = 0;

	for (i = 0; i < 100 && got < n; i++) {
		run_loop(loop, 50);
		for (j = queue_commit_done(qc); j != NULL; j = next) {
			next = j->next;
			assert_int_equal(j->failed, 0);
			assert_int_equal(queue_sched_commit_done(qs, j), 1);
			got++;
		}
	}
	assert_int_equal(got, n);
}

/* The one message in the queue besides the ids given: its id into out. */
static int
other_message(struct fixture *fx, const char *a, const char *b, char *out)
{
	char	cmd[256], line[64];
	FILE	*f;
	int	n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/queue/*/ | sed -n 's/\\.env$//p'",
	    fx->spool);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, a) == 0 || strcmp(line, b) == 0)
			continue;
		(void)strlcpy(out, line, QUEUE_ID_SIZE);
		n++;
	}
	pclose(f);
	return n;
}

/* A deferral past delay-warning: one warning to the sender, "warned" in
 * the envelope, none at the next deferral; none for the null sender. */
static void
test_delay_warning(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const e[] = { NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct queue_commit	*qc;
	struct ipc_chan		*ch;
	struct envelope		 env1, env2, got;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE], wid[QUEUE_ID_SIZE];
	char			 path[256], text[8192];
	FILE			*f;
	size_t			 len;
	int			 sv[2];

	qc = queue_commit_new(fx->spoolfd, 0);
	new_sched(fx, "listen 127.0.0.1 25\nhostname mx.local.test\n"
	    "retry-initial 1h\ndelay-warning 1m\n", &cfg, &loop, &qs, qc,
	    &ch, sv);
	/* Arrived long ago: the warning is due at the first deferral. */
	put_message(fx, &env1, ID1, (uint64_t)time(NULL) - 3600, r, e, 1);
	put_message(fx, &env2, ID2, (uint64_t)time(NULL) - 3600, r, e, 1);
	free(env2.sender);
	env2.sender = strdup("");
	if (queue_fs_write_envelope(fx->spoolfd, &env2, path,
	    sizeof(path)) == -1)
		fail_msg("write_envelope: %s", path);
	env1.next_attempt = env2.next_attempt = 0;
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 2);
	send_result(sv[1], strcmp(qids[0], ID1) == 0 ? jobs[0] : jobs[1],
	    DRES_DEFERRED, 451, "4.7.1", "451 4.7.1 greylisted", 0);
	send_result(sv[1], strcmp(qids[0], ID1) == 0 ? jobs[1] : jobs[0],
	    DRES_DEFERRED, 451, "4.7.1", "451 4.7.1 greylisted", 0);
	commits(loop, qc, qs, 1);
	read_env(fx, ID1, &got);
	assert_true(got.warned != 0);
	envelope_free(&got);
	read_env(fx, ID2, &got);
	assert_true(got.warned != 0);	/* due, but nobody to tell */
	envelope_free(&got);
	/* Exactly one new message: the warning, from <> to alice. */
	assert_int_equal(other_message(fx, ID1, ID2, wid), 1);
	read_env(fx, wid, &got);
	assert_string_equal(got.sender, "");
	assert_int_equal(got.nrcpt, 1);
	assert_string_equal(got.rcpts[0].addr, "alice@example.org");
	envelope_free(&got);
	queue_fs_path(path, QFS_QUEUE, wid, "msg");
	snprintf(text, sizeof(text), "%s/%s", fx->spool, path);
	f = fopen(text, "r");
	assert_non_null(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "Action: delayed\r\n"));
	assert_non_null(strstr(text, "Status: 4.7.1\r\n"));
	assert_non_null(strstr(text, "Will-Retry-Until: "));
	assert_non_null(strstr(text, "Final-Recipient: rfc822; "
	    "bob@remote.example"));
	assert_non_null(strstr(text, "451 4.7.1 greylisted"));
	/* The next deferral of ID1: no second warning. */
	assert_int_equal(queue_sched_flush(qs), 3);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 3);
	for (len = 0; len < 3; len++)
		if (strcmp(qids[len], ID1) == 0)
			send_result(sv[1], jobs[len], DRES_DEFERRED, 451,
			    "4.7.1", "451 4.7.1 greylisted", 0);
	run_loop(loop, 200);
	assert_null(queue_commit_done(qc));
	assert_int_equal(other_message(fx, ID1, ID2, wid), 1);

	free_sched(&cfg, loop, qs, ch, sv);
	queue_commit_stop(qc);
	while (queue_commit_done(qc) != NULL)
		;
	queue_commit_free(qc);
	envelope_free(&env1);
	envelope_free(&env2);
}

/*
 * One recipient bounced and one deferred in the same round: the deferral's
 * rewrite and the bounce's commit run beside each other; once the bounce
 * is queued, the bounced recipient is marked failed (its own rewrite, on
 * the thread), the deferred one keeps its error, and the message stays on
 * the schedule for it.
 */
static void
test_bounce_marks_failed(void **state)
{
	static const char *const r[] = { "bob@one.example",
	    "carol@two.example" };
	static const char *const e[] = { NULL, NULL };
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct queue_commit	*qc;
	struct ipc_chan		*ch;
	struct envelope		 env1, got;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE], bid[QUEUE_ID_SIZE];
	size_t			 n, k;
	int			 sv[2], i;

	qc = queue_commit_new(fx->spoolfd, 0);
	new_sched(fx, "listen 127.0.0.1 25\nhostname mx.local.test\n"
	    "retry-initial 1h\n", &cfg, &loop, &qs, qc, &ch, sv);
	put_message(fx, &env1, ID1, (uint64_t)time(NULL), r, e, 2);
	env1.next_attempt = 0;
	queue_sched_add(qs, &env1);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 2);
	send_result_at(sv[1], jobs[0], 0, DRES_BOUNCED, 550, "5.1.1",
	    "550 5.1.1 no such user", 0);
	send_result_at(sv[1], jobs[1], 1, DRES_DEFERRED, 451, "4.3.0",
	    "451 4.3.0 later", 0);
	commits(loop, qc, qs, 1);
	for (i = 0; i < 40; i++) {
		run_loop(loop, 50);
		read_env(fx, ID1, &got);
		if (got.rcpts[0].state == RCPT_FAILED)
			break;
		envelope_free(&got);
	}
	assert_true(i < 40);
	assert_int_equal(got.rcpts[0].state, RCPT_FAILED);
	assert_int_equal(got.rcpts[1].state, RCPT_PENDING);
	assert_non_null(got.rcpts[1].error);
	assert_non_null(strstr(got.rcpts[1].error, "451 4.3.0 later"));
	envelope_free(&got);
	/* The bounce, to alice, is the one other message. */
	assert_int_equal(other_message(fx, ID1, ID1, bid), 1);
	read_env(fx, bid, &got);
	assert_string_equal(got.sender, "");
	assert_string_equal(got.rcpts[0].addr, "alice@example.org");
	envelope_free(&got);
	/* carol is still scheduled: flush makes her due, and her job goes
	 * (beside the bounce's own, to alice, due since it was queued). */
	assert_true(queue_sched_flush(qs) >= 1);
	run_loop(loop, 100);
	n = read_jobs(sv[1], jobs, qids, 4);
	assert_true(n >= 1);
	for (k = 0; k < n && strcmp(qids[k], ID1) != 0; k++)
		;
	assert_true(k < n);

	free_sched(&cfg, loop, qs, ch, sv);
	queue_commit_stop(qc);
	while (queue_commit_done(qc) != NULL)
		;
	queue_commit_free(qc);
	envelope_free(&env1);
}

/* The number of messages waiting on fd (each of any type). */
static size_t
count_msgs(int fd)
{
	static uint8_t	 in[65536];
	struct ipc_msg	 m;
	size_t		 len = 0, off = 0, used, n = 0;
	ssize_t		 r;

	while ((r = recv(fd, in + len, sizeof(in) - len, MSG_DONTWAIT)) > 0)
		len += (size_t)r;
	while (off < len) {
		assert_int_equal(ipc_decode(in + off, len - off, &m, &used),
		    IPC_OK);
		if (m.fd != -1)
			close(m.fd);
		n++;
		off += used;
	}
	return n;
}

static void
test_pause(void **state)
{
	static const char *const r[] = { "bob@remote.example" };
	static const char *const r3[] = { "carol@other.example" };
	static const char *const rl[] = { "dave@local.test" };
	static const char *const e[] = { NULL };
	static const char text[] = "listen 127.0.0.1 25\n"
	    "hostname mx.local.test\nlocal-domain local.test\n"
	    "max-deliveries-per-domain 1\n";
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs, *qs2;
	struct ipc_chan		*ch, *lch;
	struct envelope		 env1, env2, env3, env4;
	uint64_t		 jobs[4];
	char			 qids[4][QUEUE_ID_SIZE], err[256];
	char			 path[QUEUE_FS_PATHSIZE];
	int			 sv[2], lv[2];

	new_sched(fx, text, &cfg, &loop, &qs, NULL, &ch, sv);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, lv), 0);
	lch = ipc_chan_new(loop, lv[0], "parent", local_dispatch, dlv_closed,
	    qs);
	queue_sched_set_local(qs, lch);
	assert_int_equal(queue_sched_paused(qs), 0);
	put_message(fx, &env1, ID1, 1700000100, r, e, 1);
	put_message(fx, &env2, ID2, 1700000200, r, e, 1);
	env1.next_attempt = env2.next_attempt = 0;
	queue_sched_add(qs, &env1);
	queue_sched_add(qs, &env2);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 1);
	assert_string_equal(qids[0], ID1);

	/* Paused with ID1's job out. */
	assert_int_equal(queue_sched_pause(qs, 1, "uid 0 (root)", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_paused(qs), 1);
	assert_int_equal(faccessat(fx->spoolfd, QUEUE_FS_PAUSED, F_OK, 0), 0);
	assert_int_equal(queue_fs_paused(fx->spoolfd), 1);
	/* Its outcome is written (the message goes), and nothing else goes
	 * out: not ID2, not a new remote message, not a local one. */
	send_sent(sv[1], jobs[0]);
	put_message(fx, &env3, ID3, 1700000300, r3, e, 1);
	put_message(fx, &env4, ID4, 1700000400, rl, e, 1);
	env3.next_attempt = env4.next_attempt = 0;
	queue_sched_add(qs, &env3);
	queue_sched_add(qs, &env4);
	(void)queue_sched_flush(qs);
	run_loop(loop, 1200);
	queue_fs_path(path, QFS_QUEUE, ID1, "env");
	assert_true(faccessat(fx->spoolfd, path, F_OK, 0) == -1 &&
	    errno == ENOENT);
	assert_int_equal(count_msgs(sv[1]), 0);
	assert_int_equal(count_msgs(lv[1]), 0);
	/* Again: no error, still paused. */
	assert_int_equal(queue_sched_pause(qs, 1, "uid 0 (root)", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_paused(qs), 1);

	/* A restart finds it. */
	qs2 = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	assert_int_equal(queue_sched_paused(qs2), 1);
	queue_sched_free(qs2);

	/* Resume: the file goes, and every due message goes at once (one
	 * job per destination: ID2 and ID3 remote, ID4 local). */
	assert_int_equal(queue_sched_pause(qs, 0, "uid 0 (root)", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_paused(qs), 0);
	assert_true(faccessat(fx->spoolfd, QUEUE_FS_PAUSED, F_OK, 0) == -1 &&
	    errno == ENOENT);
	assert_int_equal(queue_fs_paused(fx->spoolfd), 0);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs, qids, 4), 2);
	assert_string_equal(qids[0], ID2);
	assert_string_equal(qids[1], ID3);
	assert_int_equal(count_msgs(lv[1]), 1);
	assert_int_equal(queue_sched_pause(qs, 0, "uid 0 (root)", err,
	    sizeof(err)), 0);
	qs2 = queue_sched_new(&cfg, loop, fx->spoolfd, NULL);
	assert_int_equal(queue_sched_paused(qs2), 0);
	queue_sched_free(qs2);

	queue_sched_set_local(qs, NULL);
	ipc_chan_free(lch);
	close(lv[1]);
	envelope_free(&env1);
	envelope_free(&env2);
	envelope_free(&env3);
	envelope_free(&env4);
	free_sched(&cfg, loop, qs, ch, sv);
}

/*
 * Many messages, added in no order, some due, some not, some held: the due
 * ones go out earliest first, at most max-deliveries of them, and the
 * index agrees with the messages after every step (hold, delete,
 * release, flush, results).
 */
#define MANY	600

static void
test_many_due_order(void **state)
{
	struct fixture		*fx = *state;
	struct config		 cfg;
	struct event_loop	*loop;
	struct queue_sched	*qs;
	struct ipc_chan		*ch;
	struct envelope		 env;
	static uint64_t		 jobs[MANY];
	static char		 qids[MANY][QUEUE_ID_SIZE];
	static char		 ids[MANY][QUEUE_ID_SIZE];
	char			 rcpt[64], err[256];
	const char		*rc[1], *ec[1] = { NULL };
	size_t			 i, k, n, order[MANY];
	int			 sv[2];

	new_sched(fx, "listen 127.0.0.1 25\nhostname mx.local.test\n"
	    "max-deliveries 40\nmax-deliveries-per-domain 40\n", &cfg, &loop,
	    &qs, NULL, &ch, sv);
	queue_sched_pause(qs, 1, "test", err, sizeof(err));
	/* i is the arrival order; every third is due, at 1000 + (MANY - i):
	 * the later it arrived, the earlier it is due. */
	for (i = 0; i < MANY; i++)
		order[i] = (i * 367) % MANY;	/* 367 is prime to 600 */
	for (k = 0; k < MANY; k++) {
		i = order[k];
		(void)snprintf(ids[i], sizeof(ids[i]), "F%015zX", i + 1);
		(void)snprintf(rcpt, sizeof(rcpt), "u%zu@d%zu.example", i, i);
		rc[0] = rcpt;
		put_message(fx, &env, ids[i], 1700000000 + i, rc, ec, 1);
		if (i % 3 == 0)
			env.next_attempt = 1000 + (MANY - i);
		queue_sched_add(qs, &env);
		envelope_free(&env);
		if (k % 50 == 0)
			assert_int_equal(queue_sched_check(qs), 0);
	}
	assert_int_equal(queue_sched_check(qs), 0);
	/* The two due earliest: one held, one deleted. */
	assert_int_equal(queue_sched_hold(qs, ids[MANY - 3], "t", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_check(qs), 0);
	assert_int_equal(queue_sched_delete(qs, ids[MANY - 6], "t", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_check(qs), 0);
	queue_sched_pause(qs, 0, "test", err, sizeof(err));
	run_loop(loop, 100);
	n = read_jobs(sv[1], jobs, qids, MANY);
	assert_int_equal(n, 40);
	/* Earliest due first: i = MANY - 9, MANY - 12, ... (held and
	 * deleted ones left out). */
	for (k = 0, i = MANY - 9; k < n; k++, i -= 3)
		assert_string_equal(qids[k], ids[i]);
	/* Released, the held one is due now: it goes when a slot frees. */
	assert_int_equal(queue_sched_release(qs, ids[MANY - 3], "t", err,
	    sizeof(err)), 0);
	assert_int_equal(queue_sched_check(qs), 0);
	send_sent(sv[1], jobs[0]);
	run_loop(loop, 100);
	assert_int_equal(read_jobs(sv[1], jobs + n, qids + n, 1), 1);
	/* A flush makes every waiting message due: the index follows. */
	assert_true(queue_sched_flush(qs) > 0);
	assert_int_equal(queue_sched_check(qs), 0);
	free_sched(&cfg, loop, qs, ch, sv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_local_job_forward,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_limit_and_result,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_done_without_rewrite,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_results_one_round,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_marks_failed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_without_read,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_result, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dest_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delay_warning, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many_due_order, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
