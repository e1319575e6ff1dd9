/*
 * test_lmtp.c - unit tests of the LMTP client (delivery/lmtp.c) against a
 * scripted LMTP server: a forked child that listens on a unix socket in a
 * temporary folder (or on 127.0.0.1), expects each command line exactly,
 * answers as its script says and records every octet it received.
 *
 * All recipients accepted; BODY=8BITMIME only for 8-bit content offered
 * 8BITMIME; the null sender; one RCPT refused and one accepted; every
 * RCPT refused (no DATA); MAIL refused; a 452 for one recipient after the
 * message; dot-stuffing on the wire; a server that closes after the
 * content or after the first of two replies; a server that never answers;
 * no server; a bad address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/lmtp.h"

/* A step of the server's script: the line it expects (without CRLF; "."
 * = the content up to and with the final dot; NULL = nothing, e.g. before
 * the greeting), then what it sends (NULL = it closes the connection,
 * HANG = it sends nothing and waits to be killed). */
struct step {
	const char	*expect;
	const char	*reply;
};
#define HANG	((const char *)1)
#define END	{ "", "" }

#define GREET	{ NULL, "220 lmtp.test LMTP ready\r\n" }
#define LHLO	{ "LHLO mx.test", "250-lmtp.test\r\n250-PIPELINING\r\n" \
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n" }
#define QUIT	{ "QUIT", "221 2.0.0 bye\r\n" }

struct server {
	char	dir[64];
	char	spec[128];
	char	wire[128];
	pid_t	pid;
};

/* Reads one line (up to LF) into buf; its length, -1 at EOF. */
static ssize_t
srv_line(int fd, char *buf, size_t size)
{
	size_t	n = 0;
	char	ch;

	while (n + 1 < size) {
		if (read(fd, &ch, 1) != 1)
			return -1;
		buf[n++] = ch;
		if (ch == '\n')
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* The server's child: 0 when every line was the one expected. */
static int
srv_run(int fd, int wire, const struct step *s)
{
	char	line[4096];
	ssize_t	n;
	int	bad = 0;

	for (; s->expect == NULL || s->expect[0] != '\0'; s++) {
		if (s->expect != NULL && strcmp(s->expect, ".") == 0) {
			do {
				if ((n = srv_line(fd, line, sizeof(line))) < 0)
					return 1;
				(void)write_all(wire, line, (size_t)n);
			} while (strcmp(line, ".\r\n") != 0);
		} else if (s->expect != NULL) {
			if ((n = srv_line(fd, line, sizeof(line))) < 0)
				return 1;
			(void)write_all(wire, line, (size_t)n);
			if (n < 2 || line[n - 2] != '\r' ||
			    strncmp(line, s->expect, (size_t)n - 2) != 0 ||
			    strlen(s->expect) != (size_t)n - 2)
				bad = 1;
		}
		if (s->reply == NULL)
			return bad;
		if (s->reply == HANG) {
			pause();
			return 1;
		}
		(void)write_all(fd, s->reply, strlen(s->reply));
	}
	/* The client closes after QUIT. */
	return bad || read(fd, line, 1) != 0;
}

static void
srv_start(struct server *srv, const struct step *script, int tcp)
{
	struct sockaddr_un	sun;
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			lfd, fd, wire;

	memset(srv, 0, sizeof(*srv));
	(void)strlcpy(srv->dir, "/tmp/test_lmtp.XXXXXX", sizeof(srv->dir));
	assert_non_null(mkdtemp(srv->dir));
	(void)bsnprintf(srv->wire, sizeof(srv->wire), "%s/wire", srv->dir);
	if (tcp) {
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
		(void)bsnprintf(srv->spec, sizeof(srv->spec), "localhost:%u",
		    ntohs(sin.sin_port));
	} else {
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		(void)bsnprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s",
		    srv->dir);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		(void)bsnprintf(srv->spec, sizeof(srv->spec), "unix:%s",
		    sun.sun_path);
	}
	assert_int_equal(listen(lfd, 1), 0);
	srv->pid = fork();
	assert_true(srv->pid >= 0);
	if (srv->pid == 0) {
		fd = accept(lfd, NULL, NULL);
		wire = open(srv->wire, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		_exit(fd < 0 || wire < 0 ? 3 : srv_run(fd, wire, script));
	}
	(void)close(lfd);
}

/* Waits for the server: its exit status (0: the script went as
 * expected); *wire gets what it received. */
static int
srv_finish(struct server *srv, char *wire, size_t size, int kill_it)
{
	char	path[128];
	int	st, fd;
	ssize_t	n = 0;

	if (kill_it)
		(void)kill(srv->pid, SIGKILL);
	assert_int_equal(waitpid(srv->pid, &st, 0), srv->pid);
	wire[0] = '\0';
	if ((fd = open(srv->wire, O_RDONLY)) >= 0) {
		n = read(fd, wire, size - 1);
		wire[n > 0 ? n : 0] = '\0';
		(void)close(fd);
	}
	(void)unlink(srv->wire);
	(void)bsnprintf(path, sizeof(path), "%s/s", srv->dir);
	(void)unlink(path);
	(void)rmdir(srv->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* A message in a temporary file. */
static void
msg_make(struct local_msg *lm, const char *content, const char *sender)
{
	char	path[] = "/tmp/test_lmtp_msg.XXXXXX";

	memset(lm, 0, sizeof(*lm));
	lm->fd = mkstemp(path);
	assert_true(lm->fd >= 0);
	(void)unlink(path);
	assert_int_equal(write_all(lm->fd, content, strlen(content)), 0);
	lm->size = strlen(content);
	lm->sender = sender;
	lm->rcpt = "";
	lm->hostname = "mx.test";
	lm->arrival = 1700000000;
}

static const char BODY[] = "Subject: t\r\n\r\nhello\r\n";

static void
check(const struct local_result *r, enum local_status st, const char *enh,
    const char *text)
{
	assert_int_equal(r->status, st);
	assert_string_equal(r->enh, enh);
	if (strstr(r->text, text) == NULL)
		fail_msg("\"%s\" not in \"%s\"", text, r->text);
}

static void
test_all_accepted(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "RCPT TO:<bob@local.test>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 <alice> id1 Saved\r\n"
		    "250 2.0.0 <bob@local.test> id1 Saved\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice", "bob@local.test" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 2);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_OK, "2.0.0", "250 2.0.0 <alice> id1 Saved");
	check(&res[1], LOCAL_OK, "2.0.0", "<bob@local.test> id1 Saved");
	/* The content as it is: no Return-Path or Delivered-To added. */
	assert_non_null(strstr(wire, "DATA\r\nSubject: t\r\n\r\nhello\r\n"
	    ".\r\nQUIT\r\n"));
	(void)close(lm.fd);
}

/* 8-bit content offered 8BITMIME: BODY=8BITMIME; the null sender; over
 * TCP to localhost:PORT. */
static void
test_8bit_null_sender_tcp(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<> BODY=8BITMIME", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 ok\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice" };
	struct local_result	 res[1];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, "Subject: caf\xc3\xa9\r\n\r\nx\r\n", "");
	srv_start(&srv, script, 1);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 1, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_OK, "2.0.0", "250 2.0.0 ok");
	(void)close(lm.fd);
}

/* 8-bit content, no 8BITMIME offered: no BODY parameter (sent as is). */
static void
test_8bit_not_offered(void **state)
{
	static const struct step script[] = {
		GREET, { "LHLO mx.test", "250-lmtp.test\r\n250 PIPELINING\r\n" },
		{ "MAIL FROM:<s@ext.test>", "250 ok\r\n" },
		{ "RCPT TO:<alice>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 ok\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice" };
	struct local_result	 res[1];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, "Subject: caf\xc3\xa9\r\n\r\nx\r\n", "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 1, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	/* No enhanced code given: 2.0.0. */
	check(&res[0], LOCAL_OK, "2.0.0", "250 ok");
	(void)close(lm.fd);
}

static void
test_rcpt_refused(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<nobody>", "550 5.1.1 <nobody> User doesn't exist\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		/* One reply only: for alice. */
		{ ".", "250 2.0.0 <alice> Saved\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "nobody", "alice" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_PERM, "5.1.1", "550 5.1.1 <nobody> User doesn't exist");
	check(&res[1], LOCAL_OK, "2.0.0", "<alice> Saved");
	(void)close(lm.fd);
}

/* Every RCPT refused (one 4xx, one 5xx): no DATA. */
static void
test_all_refused(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<a>", "451 4.3.0 try later\r\n" },
		{ "RCPT TO:<b>", "550 5.1.1 no\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "a", "b" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 0);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_TEMP, "4.3.0", "451 4.3.0 try later");
	check(&res[1], LOCAL_PERM, "5.1.1", "550 5.1.1 no");
	assert_null(strstr(wire, "DATA"));
	(void)close(lm.fd);
}

/* MAIL refused: the outcome of every recipient, no RCPT sent. */
static void
test_mail_refused(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "553 5.1.8 bad sender\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "a", "b" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 0);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_PERM, "5.1.8", "553 5.1.8 bad sender");
	check(&res[1], LOCAL_PERM, "5.1.8", "553 5.1.8 bad sender");
	assert_null(strstr(wire, "RCPT"));
	(void)close(lm.fd);
}

/* After the message: 250 for the first, 452 for the second. */
static void
test_452_after_data(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "RCPT TO:<bob>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 <alice> Saved\r\n"
		    "452 4.2.2 <bob> Quota exceeded (mailbox for user is full)\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice", "bob" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_OK, "2.0.0", "<alice> Saved");
	check(&res[1], LOCAL_TEMP, "4.2.2", "452 4.2.2 <bob> Quota exceeded");
	(void)close(lm.fd);
}

/* Lines starting with a dot get one more; a last line without CRLF gets
 * one before the final dot. */
static void
test_dot_stuffing(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 ok\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice" };
	struct local_result	 res[1];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[200000], *big, *p;
	size_t			 i;

	(void)state;
	msg_make(&lm, ".first\r\nSubject: x\r\n\r\n.\r\na.b\r\n..two\r\n"
	    ". \r\nend.", "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 1, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	assert_non_null(strstr(wire, "DATA\r\n..first\r\nSubject: x\r\n\r\n"
	    "..\r\na.b\r\n...two\r\n.. \r\nend.\r\n.\r\nQUIT\r\n"));
	(void)close(lm.fd);

	/* Dots at the edges of the client's 8 KiB pieces. */
	big = xmalloc(40000);
	for (i = 0, p = big; i < 39990 / 3; i++, p += 3)
		memcpy(p, ".\r\n", 3);
	*p = '\0';
	msg_make(&lm, big, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 1, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	p = strstr(wire, "DATA\r\n");
	assert_non_null(p);
	p += 6;
	for (i = 0; i < 39990 / 3; i++, p += 4)
		assert_memory_equal(p, "..\r\n", 4);
	assert_memory_equal(p, ".\r\nQUIT\r\n", 9);
	free(big);
	(void)close(lm.fd);
}

/* The server closes after the content: every accepted recipient TEMP. */
static void
test_close_after_data(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "RCPT TO:<nobody>", "550 5.1.1 no\r\n" },
		{ "RCPT TO:<bob>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", NULL }, END };
	const char		*rcpts[] = { "alice", "nobody", "bob" };
	struct local_result	 res[3];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 3, 5, res), 0);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_TEMP, "4.4.2", "connection lost");
	check(&res[1], LOCAL_PERM, "5.1.1", "550 5.1.1 no");
	check(&res[2], LOCAL_TEMP, "4.4.2", "connection lost");
	(void)close(lm.fd);
}

/* The server answers for the first recipient, then closes; or answers
 * for the first and never for the second. */
static void
test_close_after_first_reply(void **state)
{
	static const struct step closes[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "RCPT TO:<bob>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 <alice> Saved\r\n" },
		{ NULL, NULL }, END };
	static const struct step hangs[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "RCPT TO:<bob>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 <alice> Saved\r\n" },
		{ NULL, HANG }, END };
	const char		*rcpts[] = { "alice", "bob" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];
	uint64_t		 t0;

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, closes, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_OK, "2.0.0", "<alice> Saved");
	check(&res[1], LOCAL_TEMP, "4.4.2", "connection lost");

	srv_start(&srv, hangs, 0);
	t0 = now_ms();
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 1, res), 1);
	assert_true(now_ms() - t0 < 3000);
	(void)srv_finish(&srv, wire, sizeof(wire), 1);
	check(&res[0], LOCAL_OK, "2.0.0", "<alice> Saved");
	check(&res[1], LOCAL_TEMP, "4.4.2", "timed out: waiting for the reply "
	    "to the message");
	(void)close(lm.fd);
}

/* A server that never answers: every recipient TEMP within the timeout. */
static void
test_no_answer(void **state)
{
	static const struct step script[] = { { NULL, HANG }, END };
	const char		*rcpts[] = { "alice", "bob" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];
	uint64_t		 t0;

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	srv_start(&srv, script, 0);
	t0 = now_ms();
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 1, res), 0);
	assert_true(now_ms() - t0 >= 900);
	/* The greeting's wait, then QUIT is not even tried. */
	assert_true(now_ms() - t0 < 3000);
	assert_int_not_equal(srv_finish(&srv, wire, sizeof(wire), 1), 0);
	check(&res[0], LOCAL_TEMP, "4.4.2", "timed out");
	check(&res[1], LOCAL_TEMP, "4.4.2", "greeting");
	(void)close(lm.fd);
}

/* No server, a bad address, a recipient that cannot be sent. */
static void
test_no_server(void **state)
{
	static const struct step script[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "250 2.1.0 ok\r\n" },
		{ "RCPT TO:<alice>", "250 2.1.5 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 ok\r\n" },
		QUIT, END };
	const char		*rcpts[] = { "alice" };
	const char		*bad[] = { "x>\r\nDATA", "alice" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	assert_int_equal(lmtp_deliver("unix:/nonexistent/lmtp", &lm, rcpts, 1,
	    5, res), 0);
	check(&res[0], LOCAL_TEMP, "4.4.1", "connect to unix:/nonexistent/lmtp");
	assert_int_equal(lmtp_deliver("lmtp.example.org:24", &lm, rcpts, 1,
	    5, res), 0);
	check(&res[0], LOCAL_TEMP, "4.3.5", "bad server address");
	assert_int_equal(lmtp_deliver("unix:relative", &lm, rcpts, 1, 5, res), 0);
	check(&res[0], LOCAL_TEMP, "4.3.5", "bad server address");

	srv_start(&srv, script, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, bad, 2, 5, res), 1);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	check(&res[0], LOCAL_PERM, "5.1.3", "not usable");
	check(&res[1], LOCAL_OK, "2.0.0", "250 2.0.0 ok");
	(void)close(lm.fd);
}

/* A refused greeting or LHLO is the server's setup: TEMP for all; a
 * reply that is no reply is a protocol error. */
static void
test_refused_setup(void **state)
{
	static const struct step greet554[] = {
		{ NULL, "554 5.3.2 not now\r\n" }, QUIT, END };
	static const struct step lhlo500[] = {
		GREET, { "LHLO mx.test", "500 5.5.1 what\r\n" }, QUIT, END };
	static const struct step garbage[] = {
		GREET, LHLO,
		{ "MAIL FROM:<s@ext.test>", "hello there\r\n" }, END };
	const struct step	*scripts[] = { greet554, lhlo500, garbage };
	const char		*want[] = { "greeting refused: 554 5.3.2 not now",
				    "LHLO refused: 500 5.5.1 what",
				    "protocol error" };
	const char		*enh[] = { "4.4.0", "4.4.0", "4.5.0" };
	const char		*rcpts[] = { "alice", "bob" };
	struct local_result	 res[2];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];
	size_t			 i;

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	for (i = 0; i < 3; i++) {
		srv_start(&srv, scripts[i], 0);
		assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 2, 5, res), 0);
		(void)srv_finish(&srv, wire, sizeof(wire), 0);
		check(&res[0], LOCAL_TEMP, enh[i], want[i]);
		check(&res[1], LOCAL_TEMP, enh[i], want[i]);
		assert_null(strstr(wire, "RCPT"));
	}
	(void)close(lm.fd);
}

/* Addresses of the server that are refused before any connection. */
static void
test_bad_specs(void **state)
{
	const char		*bad[] = { "", "unix:", "unix:relative", "::1:24",
				    "[::1]", "[::1]:0", "127.0.0.1:65536",
				    "127.0.0.1", "localhost:x", "[127.0.0.1]:24",
				    "mail.example.org:24" };
	static const struct step greet[] = { GREET, END };
	const char		*rcpts[] = { "alice" };
	struct local_result	 res[1];
	struct local_msg	 lm;
	struct server		 srv;
	char			 wire[4096];
	size_t			 i;

	(void)state;
	msg_make(&lm, BODY, "s@ext.test");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(lmtp_deliver(bad[i], &lm, rcpts, 1, 5, res), 0);
		check(&res[0], LOCAL_TEMP, "4.3.5", "bad server address");
	}
	/* Well-formed, nobody listening (port 9 of loopback, [::1]). */
	assert_int_equal(lmtp_deliver("127.0.0.1:9", &lm, rcpts, 1, 5, res), 0);
	check(&res[0], LOCAL_TEMP, "4.4.1", "connect to 127.0.0.1:9");
	assert_int_equal(lmtp_deliver("[::1]:9", &lm, rcpts, 1, 5, res), 0);
	check(&res[0], LOCAL_TEMP, "4.4.1", "connect to [::1]:9");
	/* A host name that would break the LHLO line: nothing is sent. */
	lm.hostname = "mx.test\r\nMAIL FROM:<x>";
	srv_start(&srv, greet, 0);
	assert_int_equal(lmtp_deliver(srv.spec, &lm, rcpts, 1, 5, res), 0);
	assert_int_equal(srv_finish(&srv, wire, sizeof(wire), 0), 0);
	assert_string_equal(wire, "");
	check(&res[0], LOCAL_TEMP, "4.3.5", "host name not usable in LHLO");
	(void)close(lm.fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_accepted),
		cmocka_unit_test(test_8bit_null_sender_tcp),
		cmocka_unit_test(test_8bit_not_offered),
		cmocka_unit_test(test_rcpt_refused),
		cmocka_unit_test(test_all_refused),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_452_after_data),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_close_after_data),
		cmocka_unit_test(test_close_after_first_reply),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_refused_setup),
		cmocka_unit_test(test_bad_specs),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
