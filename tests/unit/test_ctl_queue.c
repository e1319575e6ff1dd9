/*
 * test_ctl_queue.c - unit tests of queue/queue_ctl.c: who owns a message
 * (local part and local domain, the null sender is root's); MSG_C_LIST,
 * MSG_C_SHOW and MSG_C_FLUSH served from envelopes in a temporary spool
 * over a socketpair: root sees all, a user only their own, show gives the
 * facts or count 0, flush answers "no scheduler" until a hook is set and
 * then calls it and answers its count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue_ctl.h"
#include "queue/queue_id.h"

#define DIGEST_A	"sha256:" \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
load_config(struct config *cfg)
{
	static const char text[] = "hostname mx.test\n"
	    "listen 127.0.0.1 25 smtp\n"
	    "local-domain mx.test localhost example.net\n";
	char	err[256];

	config_init(cfg);
	if (config_parse(cfg, "test", text, sizeof(text) - 1, err,
	    sizeof(err)) == -1)
		fail_msg("config: %s", err);
}

static void
test_owner(void **state)
{
	static const struct {
		const char	*sender;
		const char	*user;
		int		 owns;
	} cases[] = {
		{ "alice@remote.example", "", 1 },
		{ "", "", 1 },
		{ "nobody@mx.test", "nobody", 1 },
		{ "nobody@MX.Test", "nobody", 1 },
		{ "nobody@mx.test.", "nobody", 1 },
		{ "nobody@example.net", "nobody", 1 },
		{ "nobody", "nobody", 1 },
		{ "nobody@remote.example", "nobody", 0 },
		{ "nobody@mx.test.evil", "nobody", 0 },
		{ "Nobody@mx.test", "nobody", 0 },
		{ "nobodyx@mx.test", "nobody", 0 },
		{ "nob@mx.test", "nobody", 0 },
		{ "other@mx.test", "nobody", 0 },
		{ "", "nobody", 0 },
		{ "nobody@", "nobody", 0 },
		{ "a@b@mx.test", "a@b", 1 },
	};
	struct config	cfg;
	size_t		i;

	(void)state;
	load_config(&cfg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (queue_ctl_owner(&cfg, cases[i].sender, cases[i].user) !=
		    cases[i].owns)
			fail_msg("sender '%s', user '%s': expected %d",
			    cases[i].sender, cases[i].user, cases[i].owns);
	config_free(&cfg);
}

/* ---- a spool with three envelopes ---- */

struct fixture {
	char		 top[64];
	int		 spoolfd;
	int		 sv[2];
	struct config	 cfg;
	struct event_loop *loop;
	int		 flushed;
};

static const char *const ids[] = {
	"6619B010E3297000", "6619B011063FC000", "6619B0112D5A4000"
};

static void
write_env(struct fixture *fx, const char *id, const char *sender,
    size_t nrcpt)
{
	struct envelope	env;
	struct buf	b;
	char		path[256], addr[64];
	size_t		i;
	int		fd;

	envelope_init(&env);
	memcpy(env.id, id, QUEUE_ID_SIZE);
	env.arrival = 1700000001;
	env.size = 1234;
	memcpy(env.digest, DIGEST_A, sizeof(DIGEST_A));
	env.sender = strdup(sender);
	env.helo = strdup("client.test");
	env.client = strdup("192.0.2.7");
	env.protocol = strdup("ESMTP");
	env.next_attempt = 1700000600;
	env.expiry = 1700432001;
	for (i = 0; i < nrcpt; i++) {
		snprintf(addr, sizeof(addr), "user%zu@remote.example", i);
		(void)envelope_add_rcpt(&env, addr, i == 1 ? RCPT_DELIVERED :
		    RCPT_PENDING);
	}
	buf_init(&b);
	envelope_serialize(&env, &b);
	snprintf(path, sizeof(path), "%s/queue/%02X", fx->top,
	    queue_id_folder(id));
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/queue/%02X/%s.env", fx->top,
	    queue_id_folder(id), id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	buf_free(&b);
	envelope_free(&env);
}

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));
	char		 path[128];

	snprintf(fx->top, sizeof(fx->top), "/tmp/test_ctl_queue.XXXXXX");
	assert_non_null(mkdtemp(fx->top));
	snprintf(path, sizeof(path), "%s/queue", fx->top);
	assert_int_equal(mkdir(path, 0700), 0);
	write_env(fx, ids[0], "alice@example.org", 2);
	write_env(fx, ids[1], "nobody@mx.test", 1);
	write_env(fx, ids[2], "", 3);
	/* Not envelopes: skipped. */
	snprintf(path, sizeof(path), "%s/queue/00/junk.env", fx->top);
	(void)mkdir(path, 0700);
	fx->spoolfd = open(fx->top, O_RDONLY | O_DIRECTORY);
	assert_true(fx->spoolfd != -1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fx->sv), 0);
	load_config(&fx->cfg);
	fx->loop = event_loop_new();
	queue_ctl_start(fx->loop, &fx->cfg, fx->spoolfd, fx->sv[1]);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;
	char		 cmd[128];

	queue_ctl_set_flush(NULL, NULL);
	queue_ctl_stop();
	event_loop_free(fx->loop);
	close(fx->sv[0]);
	close(fx->spoolfd);
	config_free(&fx->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->top);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void
send_req(struct fixture *fx, uint32_t type, uint32_t session,
    const char *s1, const char *s2)
{
	struct buf	p, out;

	buf_init(&p);
	buf_init(&out);
	if (s1 != NULL)
		ipc_put_str(&p, s1);
	if (s2 != NULL)
		ipc_put_str(&p, s2);
	ipc_encode(&out, type, session, 0, p.data, p.len);
	assert_int_equal(write(fx->sv[0], out.data, out.len),
	    (ssize_t)out.len);
	buf_free(&p);
	buf_free(&out);
}

static void
stop_loop(void *arg)
{
	event_loop_stop(arg);
}

/* Runs the loop briefly; everything the queue answered lands in in. */
static void
run(struct fixture *fx, struct buf *in)
{
	char	chunk[65536];
	ssize_t	n;

	(void)event_timer_add(fx->loop, 200, stop_loop, fx->loop);
	assert_int_equal(event_loop_run(fx->loop), 0);
	assert_int_equal(fd_set_nonblock(fx->sv[0]), 0);
	while ((n = read(fx->sv[0], chunk, sizeof(chunk))) > 0)
		buf_add(in, chunk, (size_t)n);
}

struct answer {
	uint32_t	type;
	uint32_t	session;
	char		id[QUEUE_ID_SIZE];
	char		sender[64];
	uint32_t	nrcpt;
	uint32_t	nfacts;
	uint32_t	count;		/* MSG_C_END */
	char		text[64];	/* MSG_C_ERROR */
};

static void
decode_item(struct ipc_msg *m, struct answer *a)
{
	uint64_t	u;
	char		s[128];
	uint32_t	i;

	assert_int_equal(ipc_msg_get_str(m, a->id, sizeof(a->id)), IPC_OK);
	assert_int_equal(ipc_msg_get_u64(m, &u), IPC_OK);
	assert_int_equal(u, 1234);
	assert_int_equal(ipc_msg_get_u64(m, &u), IPC_OK);
	assert_int_equal(u, 1700000001);
	assert_int_equal(ipc_msg_get_str(m, a->sender, sizeof(a->sender)),
	    IPC_OK);
	assert_int_equal(ipc_msg_get_u32(m, &a->nrcpt), IPC_OK);
	for (i = 0; i < 3 * a->nrcpt; i++)
		assert_int_equal(ipc_msg_get_str(m, s, sizeof(s)), IPC_OK);
	assert_int_equal(ipc_msg_get_u32(m, &a->nfacts), IPC_OK);
	for (i = 0; i < 2 * a->nfacts; i++)
		assert_int_equal(ipc_msg_get_str(m, s, sizeof(s)), IPC_OK);
}

/* Decodes every message of in into a[]; returns how many. */
static size_t
decode_all(struct buf *in, struct answer *a, size_t max)
{
	struct ipc_msg	m;
	size_t		off = 0, used, n = 0;

	while (off < in->len) {
		assert_int_equal(ipc_decode((const uint8_t *)in->data + off,
		    in->len - off, &m, &used), IPC_OK);
		assert_true(n < max);
		memset(&a[n], 0, sizeof(a[n]));
		a[n].type = m.type;
		a[n].session = m.session;
		if (m.type == MSG_C_ITEM)
			decode_item(&m, &a[n]);
		else if (m.type == MSG_C_END)
			assert_int_equal(ipc_msg_get_u32(&m, &a[n].count),
			    IPC_OK);
		else if (m.type == MSG_C_ERROR)
			assert_int_equal(ipc_msg_get_str(&m, a[n].text,
			    sizeof(a[n].text)), IPC_OK);
		else
			fail_msg("unexpected type %u", m.type);
		assert_int_equal(ipc_msg_end(&m), IPC_OK);
		off += used;
		n++;
	}
	return n;
}

static unsigned
flush_hook(void *arg)
{
	struct fixture	*fx = arg;

	fx->flushed++;
	return 7;
}

static void
test_requests(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a[32];
	struct buf	 in;
	size_t		 n, i, seen = 0;

	send_req(fx, MSG_C_LIST, 1, "", NULL);
	send_req(fx, MSG_C_LIST, 2, "nobody", NULL);
	send_req(fx, MSG_C_SHOW, 3, ids[0], "");
	send_req(fx, MSG_C_SHOW, 4, ids[0], "nobody");
	send_req(fx, MSG_C_SHOW, 5, "not-an-id", "");
	send_req(fx, MSG_C_FLUSH, 6, NULL, NULL);
	buf_init(&in);
	run(fx, &in);
	n = decode_all(&in, a, 32);
	/* session 1: three items, END 3 */
	for (i = 0; i < n && a[i].session == 1; i++)
		if (a[i].type == MSG_C_ITEM) {
			seen++;
			assert_int_equal(a[i].nfacts, 0);
		}
	assert_int_equal(seen, 3);
	assert_int_equal(a[3].type, MSG_C_END);
	assert_int_equal(a[3].count, 3);
	/* session 2: nobody's one message */
	assert_int_equal(a[4].session, 2);
	assert_int_equal(a[4].type, MSG_C_ITEM);
	assert_string_equal(a[4].id, ids[1]);
	assert_string_equal(a[4].sender, "nobody@mx.test");
	assert_int_equal(a[5].type, MSG_C_END);
	assert_int_equal(a[5].count, 1);
	/* session 3: the facts of ids[0] */
	assert_int_equal(a[6].session, 3);
	assert_int_equal(a[6].type, MSG_C_ITEM);
	assert_string_equal(a[6].id, ids[0]);
	assert_int_equal(a[6].nrcpt, 2);
	assert_true(a[6].nfacts >= 7);
	assert_int_equal(a[7].count, 1);
	/* sessions 4 and 5: nothing to show */
	assert_int_equal(a[8].session, 4);
	assert_int_equal(a[8].type, MSG_C_END);
	assert_int_equal(a[8].count, 0);
	assert_int_equal(a[9].session, 5);
	assert_int_equal(a[9].count, 0);
	/* session 6: no scheduler yet */
	assert_int_equal(a[10].session, 6);
	assert_int_equal(a[10].type, MSG_C_ERROR);
	assert_string_equal(a[10].text, "flush: no scheduler");
	assert_int_equal(n, 11);

	/* With the hook: called once; its count is the answer. */
	queue_ctl_set_flush(flush_hook, fx);
	send_req(fx, MSG_C_FLUSH, 7, NULL, NULL);
	buf_reset(&in);
	run(fx, &in);
	n = decode_all(&in, a, 32);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].session, 7);
	assert_int_equal(a[0].type, MSG_C_END);
	assert_int_equal(a[0].count, 7);
	assert_int_equal(fx->flushed, 1);
	buf_free(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner),
		cmocka_unit_test_setup_teardown(test_requests, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
