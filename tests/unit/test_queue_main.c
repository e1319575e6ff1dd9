/*
 * test_queue_main.c - the queue process as the receiver sees it: a forked
 * queue_main (unprivileged, on a temporary spool) driven over its
 * socketpair with the messages of common/proto.h.  Checks OPEN/COMMIT/ABORT,
 * the space report, failed commits leaving nothing behind, cleanup when the
 * receiver goes away, clean exit on SIGTERM, and death on a bad queue id.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/util.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"

struct fixture {
	char		top[64];
	char		spool[128];
	pid_t		pid;
	int		parent;		/* our end of the parent channel */
	int		smtpd;		/* our end of the receiver channel */
	struct buf	in;		/* bytes read, not yet decoded */
	int		fds[8];		/* descriptors received, not claimed */
	size_t		nfds;
};

/* One message received, payload copied. */
struct reply {
	uint32_t	type;
	uint32_t	session;
	int		fd;
	uint8_t		data[4096];
	struct ipc_msg	m;		/* reader over data */
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
start_queue_as(struct fixture *fx, uint64_t min_free, const struct sm_user *u)
{
	struct config	cfg;
	int		p[2], s[2], rc;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	fflush(NULL);
	if ((fx->pid = fork()) == 0) {
		close(p[0]);
		close(s[0]);
		log_init("queue", 1, 0);
		config_init(&cfg);
		free(cfg.spool);
		cfg.spool = xstrdup(fx->spool);
		cfg.min_free_space = min_free;
		cfg.max_recipients = 5;
		rc = queue_main(&cfg, p[1], s[1], -1, -1, u);
		config_free(&cfg);
		if (u != NULL)
			_exit(rc);	/* no leak check after chroot */
		exit(rc);	/* LeakSanitizer checks the queue at exit */
	}
	assert_true(fx->pid > 0);
	close(p[1]);
	close(s[1]);
	fx->parent = p[0];
	fx->smtpd = s[0];
}

static void
start_queue(struct fixture *fx, uint64_t min_free)
{
	start_queue_as(fx, min_free, NULL);
}

static int
setup(void **state)
{
	struct fixture	*fx = calloc(1, sizeof(*fx));
	char		 err[256];

	if (fx == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "/tmp/test_queue_main.XXXXXX");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->top);
	if (queue_fs_prepare(fx->spool, NULL, NULL, 0, err,
	    sizeof(err)) == -1)
		return -1;
	buf_init(&fx->in);
	fx->parent = fx->smtpd = -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;
	size_t		 i;

	if (fx->pid > 0) {
		kill(fx->pid, SIGKILL);
		waitpid(fx->pid, NULL, 0);
	}
	if (fx->parent != -1)
		close(fx->parent);
	if (fx->smtpd != -1)
		close(fx->smtpd);
	for (i = 0; i < fx->nfds; i++)
		close(fx->fds[i]);
	buf_free(&fx->in);
	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Exit status of the queue process (waits at most 10 s). */
static int
wait_exit(struct fixture *fx)
{
	int	status, i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
			fx->pid = 0;
			if (!WIFEXITED(status))
				fail_msg("queue died of signal %d",
				    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	fail_msg("queue process did not exit");
	return -1;
}

static void
send_msg(struct fixture *fx, uint32_t type, uint32_t session, struct buf *pl)
{
	struct buf	out;

	buf_init(&out);
	ipc_encode(&out, type, session, 0, pl ? pl->data : NULL,
	    pl ? pl->len : 0);
	assert_int_equal(write_all(fx->smtpd, out.data, out.len), 0);
	buf_free(&out);
}

/* Reads more bytes (and descriptors) from the receiver channel; 0 at EOF. */
static ssize_t
read_more(struct fixture *fx)
{
	char		 data[4096];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(8 * sizeof(int))];
	}		 cbuf;
	struct iovec	 iov = { data, sizeof(data) };
	struct msghdr	 msg;
	struct cmsghdr	*c;
	struct pollfd	 pfd = { fx->smtpd, POLLIN, 0 };
	ssize_t		 n;
	size_t		 i, k;

	if (poll(&pfd, 1, 10000) != 1)
		fail_msg("no answer from the queue within 10 s");
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(fx->smtpd, &msg, 0);
	assert_true(n >= 0);
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && fx->nfds < 8; i++)
			memcpy(&fx->fds[fx->nfds++],
			    CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	buf_add(&fx->in, data, (size_t)n);
	return n;
}

static void
recv_msg(struct fixture *fx, struct reply *r)
{
	struct ipc_msg	m;
	size_t		used;

	while (ipc_decode((const uint8_t *)fx->in.data, fx->in.len, &m,
	    &used) == IPC_NEED_MORE)
		if (read_more(fx) == 0)
			fail_msg("queue closed the channel");
	assert_true(m.len <= sizeof(r->data));
	r->type = m.type;
	r->session = m.session;
	r->fd = -1;
	if (m.flags & IPC_F_FD) {
		assert_true(fx->nfds > 0);
		r->fd = fx->fds[0];
		memmove(fx->fds, fx->fds + 1, --fx->nfds * sizeof(int));
	}
	memcpy(r->data, m.data, m.len);
	memset(&r->m, 0, sizeof(r->m));
	r->m.type = m.type;
	r->m.data = r->data;
	r->m.len = m.len;
	r->m.fd = -1;
	buf_consume(&fx->in, used);
}

static void
expect_type(struct reply *r, uint32_t type, uint32_t session)
{
	if (r->type != type)
		fail_msg("expected %s, got %s", proto_msg_name(type),
		    proto_msg_name(r->type));
	assert_int_equal(r->session, session);
}

static void
expect_space(struct fixture *fx, uint32_t low)
{
	struct reply	r;

	recv_msg(fx, &r);
	expect_type(&r, MSG_Q_SPACE, 0);
	assert_int_equal(ipc_get_u32(&r.m), low);
	ipc_end(&r.m);
}

/* MSG_Q_OPEN; returns the descriptor and fills qid. */
static int
open_msg(struct fixture *fx, uint32_t session, char qid[QUEUE_ID_SIZE])
{
	struct reply	r;

	send_msg(fx, MSG_Q_OPEN, session, NULL);
	recv_msg(fx, &r);
	expect_type(&r, MSG_Q_OPEN_OK, session);
	ipc_get_str(&r.m, qid, QUEUE_ID_SIZE);
	ipc_end(&r.m);
	assert_true(queue_id_valid(qid));
	assert_true(r.fd != -1);
	return r.fd;
}

static void
send_commit(struct fixture *fx, uint32_t session, const char *qid,
    const char *sender, uint64_t size, uint32_t nrcpt)
{
	struct buf	b;
	char		rcpt[64];
	uint32_t	i;

	buf_init(&b);
	ipc_put_str(&b, qid);
	ipc_put_str(&b, sender);
	ipc_put_str(&b, "client.example");
	ipc_put_str(&b, "127.0.0.1");
	ipc_put_str(&b, "ESMTP");
	ipc_put_str(&b, "");			/* no TLS */
	ipc_put_u64(&b, size);
	ipc_put_str(&b, "env+2Bid");		/* DSN ENVID */
	ipc_put_u32(&b, DSN_RET_HDRS);
	ipc_put_u32(&b, 0);			/* no SMTPUTF8 */
	ipc_put_u32(&b, BODY_8BITMIME);
	ipc_put_u32(&b, nrcpt);
	for (i = 0; i < nrcpt; i++) {
		snprintf(rcpt, sizeof(rcpt), "rcpt%u@localhost", i);
		ipc_put_str(&b, rcpt);
		/* The first recipient has DSN parameters, the others none. */
		ipc_put_u32(&b, i == 0 ? DSN_NOTIFY_SUCCESS |
		    DSN_NOTIFY_FAILURE : 0);
		ipc_put_str(&b, i == 0 ? "rfc822;rcpt0@localhost" : "");
	}
	send_msg(fx, MSG_Q_COMMIT, session, &b);
	buf_free(&b);
}

/* The answer to a commit: 0 for OK, else the reason. */
static uint32_t
commit_result(struct fixture *fx, uint32_t session, const char *qid)
{
	struct reply	r;
	char		got[QUEUE_ID_SIZE];
	uint32_t	reason = 0;

	recv_msg(fx, &r);
	if (r.type != MSG_Q_COMMIT_OK && r.type != MSG_Q_COMMIT_FAIL)
		fail_msg("expected a commit result, got %s",
		    proto_msg_name(r.type));
	assert_int_equal(r.session, session);
	ipc_get_str(&r.m, got, sizeof(got));
	assert_string_equal(got, qid);
	if (r.type == MSG_Q_COMMIT_FAIL)
		reason = ipc_get_u32(&r.m);
	ipc_end(&r.m);
	return reason;
}

static int
spool_has(struct fixture *fx, enum queue_fs_where where, const char *id,
    const char *ext)
{
	char		path[512], rel[QUEUE_FS_PATHSIZE];
	struct stat	st;

	queue_fs_path(rel, where, id, ext);
	snprintf(path, sizeof(path), "%s/%s", fx->spool, rel);
	return lstat(path, &st) == 0;
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
test_open_commit_abort(void **state)
{
	struct fixture	*fx = *state;
	char		 qid[QUEUE_ID_SIZE], qid2[QUEUE_ID_SIZE], path[512];
	char		 text[2048], err[256];
	struct envelope	 env;
	ssize_t		 n;
	int		 fd;

	start_queue(fx, 1024);
	expect_space(fx, 0);

	/* A message from the null sender to two recipients. */
	fd = open_msg(fx, 7, qid);
	assert_int_equal(write(fd, "Subject: t\r\n\r\nhi\r\n", 19), 19);
	close(fd);
	send_commit(fx, 7, qid, "", 19, 2);
	assert_int_equal(commit_result(fx, 7, qid), 0);
	assert_true(spool_has(fx, QFS_QUEUE, qid, "msg"));
	assert_true(spool_has(fx, QFS_QUEUE, qid, "env"));
	assert_false(spool_has(fx, QFS_INCOMING, qid, "msg"));
	snprintf(path, sizeof(path), "%s/queue/%02X/%s.env", fx->spool,
	    queue_id_folder(qid), qid);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_true(n > 0);
	if (envelope_parse(text, (size_t)n, &env, err, sizeof(err)) != 0)
		fail_msg("committed envelope: %s", err);
	assert_string_equal(env.sender, "");
	assert_int_equal(env.size, 19);
	assert_int_equal(env.nrcpt, 2);
	assert_string_equal(env.rcpts[1].addr, "rcpt1@localhost");
	assert_int_equal(env.expiry, env.arrival + 5 * 86400);
	assert_string_equal(env.envid, "env+2Bid");
	assert_string_equal(env.ret, "HDRS");
	assert_string_equal(env.body, "8BITMIME");
	assert_int_equal(env.smtputf8, 0);
	assert_null(env.tls);
	assert_string_equal(env.rcpts[0].notify, "SUCCESS,FAILURE");
	assert_string_equal(env.rcpts[0].orcpt, "rfc822;rcpt0@localhost");
	assert_null(env.rcpts[1].notify);
	assert_null(env.rcpts[1].orcpt);
	envelope_free(&env);

	/* Aborted: its file goes (the next answer proves ABORT was read). */
	fd = open_msg(fx, 8, qid);
	close(fd);
	assert_true(spool_has(fx, QFS_INCOMING, qid, "msg"));
	{
		struct buf	b;

		buf_init(&b);
		ipc_put_str(&b, qid);
		ipc_put_u32(&b, 0);
		send_msg(fx, MSG_Q_ABORT, 8, &b);
		buf_free(&b);
	}
	fd = open_msg(fx, 9, qid2);
	assert_false(spool_has(fx, QFS_INCOMING, qid, "msg"));

	/* The receiver reports a size the file does not have. */
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	send_commit(fx, 9, qid2, "a@example.org", 5, 1);
	assert_int_equal(commit_result(fx, 9, qid2), QFAIL_TEMP);
	assert_false(spool_has(fx, QFS_INCOMING, qid2, "msg"));
	assert_false(spool_has(fx, QFS_QUEUE, qid2, "msg"));

	/* A sender with a line break is refused, not written. */
	fd = open_msg(fx, 10, qid);
	close(fd);
	send_commit(fx, 10, qid, "a@b\r\nrcpt pending <x@y>", 0, 1);
	assert_int_equal(commit_result(fx, 10, qid), QFAIL_TEMP);
	assert_false(spool_has(fx, QFS_QUEUE, qid, "env"));

	/* More recipients than max-recipients. */
	fd = open_msg(fx, 11, qid);
	close(fd);
	send_commit(fx, 11, qid, "a@b", 0, 6);
	assert_int_equal(commit_result(fx, 11, qid), QFAIL_TEMP);

	/* Left open at SIGTERM: removed, and the process exits 0. */
	fd = open_msg(fx, 12, qid);
	close(fd);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(fx), 0);
	assert_int_equal(count_incoming(fx), 0);
}

static void
test_many_sessions(void **state)
{
	struct fixture	*fx = *state;
	char		 qid[20][QUEUE_ID_SIZE];
	uint32_t	 s;
	int		 fd;

	start_queue(fx, 1024);
	expect_space(fx, 0);
	for (s = 0; s < 20; s++) {
		fd = open_msg(fx, 100 + s, qid[s]);
		assert_int_equal(write(fd, "x\r\n", 3), 3);
		close(fd);
	}
	/* All commits at once: answered each, in some order. */
	for (s = 0; s < 20; s++)
		send_commit(fx, 100 + s, qid[s], "a@b", 3, 1);
	for (s = 0; s < 20; s++) {
		struct reply	r;
		char		got[QUEUE_ID_SIZE];

		recv_msg(fx, &r);
		expect_type(&r, MSG_Q_COMMIT_OK, r.session);
		assert_true(r.session >= 100 && r.session < 120);
		ipc_get_str(&r.m, got, sizeof(got));
		assert_string_equal(got, qid[r.session - 100]);
		assert_true(spool_has(fx, QFS_QUEUE, got, "env"));
	}
	close(fx->parent);	/* the parent died: the queue exits */
	fx->parent = -1;
	assert_int_equal(wait_exit(fx), 0);
}

/* The content of a committed message, read back. */
static ssize_t
read_content(struct fixture *fx, const char *qid, char *buf, size_t size)
{
	char	path[512];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof(path), "%s/queue/%02X/%s.msg", fx->spool,
	    queue_id_folder(qid), qid);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, buf, size);
	close(fd);
	return n;
}

/*
 * The receiver gets a pipe, never a file; the queue writes the file and
 * digests it; a commit waits for the pipe's end; one message open per
 * session.
 */
static void
test_pipe_rules(void **state)
{
	struct fixture	*fx = *state;
	struct reply	 r;
	struct stat	 st;
	struct envelope	 env;
	struct digest	*dg;
	char		 qid[QUEUE_ID_SIZE], path[512], text[2048], err[256];
	char		 want[DIGEST_SIZE];
	ssize_t		 n;
	int		 fd;

	start_queue(fx, 1024);
	expect_space(fx, 0);
	fd = open_msg(fx, 5, qid);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	/* A second MSG_Q_OPEN of the same session is refused. */
	send_msg(fx, MSG_Q_OPEN, 5, NULL);
	recv_msg(fx, &r);
	expect_type(&r, MSG_Q_OPEN_FAIL, 5);
	assert_int_equal(ipc_get_u32(&r.m), QFAIL_TEMP);
	ipc_end(&r.m);

	/* The commit arrives before the last octets: it waits for them. */
	assert_int_equal(write(fd, "Subject: p\r\n", 12), 12);
	send_commit(fx, 5, qid, "a@b", 18, 1);
	usleep(100000);
	assert_int_equal(write(fd, "\r\nxy\r\n", 6), 6);
	close(fd);
	assert_int_equal(commit_result(fx, 5, qid), 0);
	n = read_content(fx, qid, text, sizeof(text));
	assert_int_equal(n, 18);
	assert_memory_equal(text, "Subject: p\r\n\r\nxy\r\n", 18);
	snprintf(path, sizeof(path), "%s/queue/%02X/%s.env", fx->spool,
	    queue_id_folder(qid), qid);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_true(n > 0);
	if (envelope_parse(text, (size_t)n, &env, err, sizeof(err)) != 0)
		fail_msg("committed envelope: %s", err);
	dg = digest_new();
	digest_update(dg, "Subject: p\r\n\r\nxy\r\n", 18);
	digest_final(dg, want);
	assert_string_equal(env.digest, want);
	envelope_free(&env);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(fx), 0);
}

static void
test_nospace(void **state)
{
	struct fixture	*fx = *state;
	struct reply	 r;

	start_queue(fx, UINT64_MAX / 2);
	expect_space(fx, 1);
	send_msg(fx, MSG_Q_OPEN, 3, NULL);
	recv_msg(fx, &r);
	expect_type(&r, MSG_Q_OPEN_FAIL, 3);
	assert_int_equal(ipc_get_u32(&r.m), QFAIL_NOSPACE);
	ipc_end(&r.m);
	assert_int_equal(count_incoming(fx), 0);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(fx), 0);
}

static void
test_receiver_gone(void **state)
{
	struct fixture	*fx = *state;
	char		 qid[QUEUE_ID_SIZE], path[512];
	int		 fd, i;

	/* Left over from a crash: removed before the queue says anything. */
	snprintf(path, sizeof(path), "%s/incoming/0123456789ABCDEF.msg",
	    fx->spool);
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0600)) != -1);
	close(fd);
	start_queue(fx, 1024);
	expect_space(fx, 0);
	assert_int_equal(count_incoming(fx), 0);
	fd = open_msg(fx, 1, qid);
	close(fd);
	assert_int_equal(count_incoming(fx), 1);
	close(fx->smtpd);
	fx->smtpd = -1;
	for (i = 0; i < 500 && count_incoming(fx) != 0; i++)
		usleep(10000);
	assert_int_equal(count_incoming(fx), 0);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(fx), 0);
}

static void
test_bad_qid_is_fatal(void **state)
{
	struct fixture	*fx = *state;
	char		 qid[QUEUE_ID_SIZE];
	struct buf	 b;
	int		 fd;

	start_queue(fx, 1024);
	expect_space(fx, 0);
	fd = open_msg(fx, 1, qid);
	close(fd);
	/* Another session's message. */
	buf_init(&b);
	ipc_put_str(&b, qid);
	ipc_put_u32(&b, 0);
	send_msg(fx, MSG_Q_ABORT, 2, &b);
	buf_free(&b);
	assert_int_equal(wait_exit(fx), 1);

	teardown(state);
	assert_int_equal(setup(state), 0);
	fx = *state;
	start_queue(fx, 1024);
	expect_space(fx, 0);
	send_commit(fx, 1, "0123456789ABCDEF", "a@b", 0, 1);	/* unknown */
	assert_int_equal(wait_exit(fx), 1);
}

/* As root: chrooted into the spool as an unprivileged user. */
static void
test_privileged(void **state)
{
	struct fixture	*fx = *state;
	struct sm_user	 u;
	struct stat	 st;
	char		 qid[QUEUE_ID_SIZE], err[256], path[512];
	int		 fd;

	if (geteuid() != 0 || privsep_lookup("nobody", &u) == -1) {
		skip();
		return;
	}
	/* The spool as the parent lays it out for that user. */
	if (queue_fs_prepare(fx->spool, &u, &u, u.gid, err,
	    sizeof(err)) == 0)
		fail_msg("a spool of root's was accepted for %s", u.name);
	snprintf(path, sizeof(path), "%s/incoming", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	snprintf(path, sizeof(path), "%s/corrupt", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	snprintf(path, sizeof(path), "%s/hold", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	snprintf(path, sizeof(path), "%s/delivery", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	snprintf(path, sizeof(path), "%s/maildrop", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	assert_int_equal(chmod(path, 01730), 0);
	snprintf(path, sizeof(path), "%s/queue", fx->spool);
	assert_int_equal(chown(path, u.uid, u.gid), 0);
	for (fd = 0; fd < QUEUE_ID_NHASH; fd++) {
		snprintf(path, sizeof(path), "%s/queue/%02X", fx->spool, fd);
		assert_int_equal(chown(path, u.uid, u.gid), 0);
	}
	if (queue_fs_prepare(fx->spool, &u, &u, u.gid, err,
	    sizeof(err)) != 0)
		fail_msg("queue_fs_prepare: %s", err);
	start_queue_as(fx, 1024, &u);
	expect_space(fx, 0);
	fd = open_msg(fx, 1, qid);
	assert_int_equal(write(fd, "x\r\n", 3), 3);
	close(fd);
	send_commit(fx, 1, qid, "a@b", 3, 1);
	assert_int_equal(commit_result(fx, 1, qid), 0);
	snprintf(path, sizeof(path), "%s/queue/%02X/%s.env", fx->spool,
	    queue_id_folder(qid), qid);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, u.uid);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(fx), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_commit_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many_sessions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nospace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receiver_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_qid_is_fatal, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_privileged, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
