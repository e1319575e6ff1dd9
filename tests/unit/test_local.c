/*
 * test_local.c - unit tests of the mbox, /file and Maildir agents of
 * delivery/local.h in a temporary folder: the exact mbox format (From_
 * line, mboxrd quoting, Return-Path and Delivered-To first, LF lines, the
 * blank line after), the Delivered-To loop check (header only), the
 * fcntl lock and the dotlock (fresh and stale), refused mailboxes
 * (symbolic link, hard link, FIFO, folder) left untouched, a failing
 * write (file size limit; a full tmpfs when root) cut back to the exact
 * old size, 20 processes appending at once, and Maildir names and files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "delivery/local.h"

#define SENDER	"alice@example.org"
#define RCPT	"bob@example.net"
/* The From_ line of every test message: arrival 0, TZ=UTC. */
#define FROM_LINE "From " SENDER " Thu Jan  1 00:00:00 1970\n"

static char	topdir[64];

/*
 * Helpers.
 */

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
	(void)state;
	strlcpy(topdir, "/tmp/test_local.XXXXXX", sizeof(topdir));
	if (mkdtemp(topdir) == NULL)
		return -1;
	local_config.lock_wait = 30;
	local_config.dotlock_stale = 300;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(topdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
tpath(char *buf, size_t size, const char *name)
{
	assert_true(bsnprintf(buf, size, "%s/%s", topdir, name));
}

/* A message as the queue stores it: text with LF made CRLF. */
static void
msg_make(struct local_msg *lm, const char *text, const char *sender)
{
	char		 tmpl[] = "/tmp/test_local_msg.XXXXXX";
	struct buf	 b;
	const char	*p;

	buf_init(&b);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			buf_addch(&b, '\r');
		buf_addch(&b, *p);
	}
	memset(lm, 0, sizeof(*lm));
	lm->fd = mkstemp(tmpl);
	assert_true(lm->fd >= 0);
	unlink(tmpl);
	assert_int_equal(write_all(lm->fd, b.data, b.len), 0);
	lm->size = b.len;
	lm->sender = sender;
	lm->rcpt = RCPT;
	lm->hostname = "mx.example.net";
	lm->arrival = 0;
	buf_free(&b);
}

static char *
slurp(const char *path, size_t *len)
{
	struct buf	b;
	char		chunk[8192];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	if (len != NULL)
		*len = b.len;
	return b.cap > 0 ? b.data : xstrdup("");
}

static void
assert_file(const char *path, const char *want)
{
	char	*got = slurp(path, NULL);

	if (got == NULL)
		fail_msg("%s: cannot read: %s", path, strerror(errno));
	if (strcmp(got, want) != 0)
		fail_msg("%s: expected:\n[%s]\ngot:\n[%s]", path, want, got);
	free(got);
}

static void
write_file(const char *path, const char *text)
{
	int	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void
assert_result(const struct local_result *res, enum local_status st,
    const char *enh, const char *text_part)
{
	if (res->status != st || strcmp(res->enh, enh) != 0 ||
	    strstr(res->text, text_part) == NULL)
		fail_msg("expected %s %s \"...%s...\", got %s %s \"%s\"",
		    local_status_name(st), enh, text_part,
		    local_status_name(res->status), res->enh, res->text);
}

static off_t
file_size(const char *path)
{
	struct stat	st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/*
 * mbox format.
 */

static const char msg1[] =
    "Received: from x by mx.example.net\n"
    "Subject: test\n"
    "\n"
    "From here on\n"
    ">From quoted\n"
    ">>From twice\n"
    "Fromage\n"
    "From\n"
    " From indented\n"
    "last line\n";

static const char msg1_mbox[] =
    FROM_LINE
    "Return-Path: <" SENDER ">\n"
    "Delivered-To: " RCPT "\n"
    "Received: from x by mx.example.net\n"
    "Subject: test\n"
    "\n"
    ">From here on\n"
    ">>From quoted\n"
    ">>>From twice\n"
    "Fromage\n"
    "From\n"
    " From indented\n"
    "last line\n"
    "\n";

static const char msg2_mbox[] =
    "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
    "Return-Path: <>\n"
    "Delivered-To: " RCPT "\n"
    "Subject: bounce\n"
    "\n"
    "body\n"
    "\n";

static void
test_mbox_format(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];
	struct stat		st;
	struct buf		want;

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	msg_make(&lm, msg1, SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	assert_result(&res, LOCAL_OK, "2.0.0", mb);
	close(lm.fd);
	assert_file(mb, msg1_mbox);
	assert_int_equal(stat(mb, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A second message, from the null sender, appended. */
	msg_make(&lm, "Subject: bounce\n\nbody\n", "");
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	buf_init(&want);
	buf_addstr(&want, msg1_mbox);
	buf_addstr(&want, msg2_mbox);
	assert_file(mb, want.data);
	buf_free(&want);
	/* The lock file is gone. */
	tpath(mb, sizeof(mb), "mbox.lock");
	assert_int_equal(access(mb, F_OK), -1);
}

/* A mailbox left without its final newline still gets a separate From_. */
static void
test_mbox_unfinished(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	write_file(mb, "From x Thu Jan  1 00:00:00 1970\n\nhalf");
	msg_make(&lm, "Subject: bounce\n\nbody\n", "");
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	assert_file(mb, "From x Thu Jan  1 00:00:00 1970\n\nhalf\n\n"
	    "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
	    "Return-Path: <>\nDelivered-To: " RCPT "\nSubject: bounce\n\n"
	    "body\n\n");
}

/* Content without a final CRLF, bare CRs, a "From " cut by the end. */
static void
test_stream_edges(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];
	const char		*raw = "S: a\r\n\r\nx\ry\r\r\nFrom";

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	msg_make(&lm, "", SENDER);
	assert_int_equal(write_all(lm.fd, raw, strlen(raw)), 0);
	lm.size = strlen(raw);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	assert_file(mb, FROM_LINE "Return-Path: <" SENDER ">\nDelivered-To: "
	    RCPT "\nS: a\n\nx\ry\r\nFrom\n\n");

	/* Content shorter than its size: temporary, nothing left. */
	tpath(mb, sizeof(mb), "short");
	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	lm.size += 100;
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_TEMP);
	assert_result(&res, LOCAL_TEMP, "4.3.0", "cannot read the message");
	close(lm.fd);
	assert_int_equal(file_size(mb), 0);

	/* A control byte in the envelope is refused. */
	msg_make(&lm, "Subject: x\n\nbody\n", "a\r\nX-Injected: 1");
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_PERM);
	close(lm.fd);
	assert_int_equal(file_size(mb), 0);
}

/*
 * The loop check.
 */

static void
test_loop_check(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	msg_make(&lm, "Received: x\nDelivered-To: Bob@Example.NET \n"
	    "Subject: loop\n\nbody\n", SENDER);
	assert_int_equal(local_loop_check(&lm, &res), -1);
	assert_result(&res, LOCAL_PERM, "5.4.6",
	    "mail forwarding loop for " RCPT);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.4.6", "loop");
	close(lm.fd);
	assert_int_equal(access(mb, F_OK), -1);

	/* Folded, and as the last field before the body. */
	msg_make(&lm, "Subject: loop\nDelivered-To:\n\t" RCPT "\n\nbody\n",
	    SENDER);
	assert_int_equal(local_loop_check(&lm, &res), -1);
	assert_result(&res, LOCAL_PERM, "5.4.6", "loop");
	close(lm.fd);

	/* Header only: the header of a message without a body too. */
	msg_make(&lm, "Subject: x\nDelivered-To: " RCPT "\n", SENDER);
	assert_int_equal(local_loop_check(&lm, &res), -1);
	close(lm.fd);

	/* In the body, or for another address: no loop. */
	msg_make(&lm, "Subject: fwd\nDelivered-To: other@example.net\n\n"
	    "Delivered-To: " RCPT "\n", SENDER);
	assert_int_equal(local_loop_check(&lm, &res), 0);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	msg_make(&lm, "Subject: x\nX-Delivered-To: " RCPT "\n"
	    "Delivered-To: " RCPT ".evil\n\nbody\n", SENDER);
	assert_int_equal(local_loop_check(&lm, &res), 0);
	close(lm.fd);
}

/*
 * Locks.
 */

/* A process holding an fcntl lock on path until the pipe closes. */
static pid_t
hold_fcntl_lock(const char *path, int *release)
{
	int	ready[2], go[2], fd;
	char	c;
	pid_t	pid;
	struct flock fl;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	if ((pid = fork()) == 0) {
		close(ready[0]);
		close(go[1]);
		fd = open(path, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		if (fd == -1 || fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = go[1];
	return pid;
}

static void
test_mbox_fcntl_lock_waits(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];
	int			release, status;
	pid_t			pid;
	uint64_t		t0, ms;

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	write_file(mb, "");
	pid = hold_fcntl_lock(mb, &release);
	local_config.lock_wait = 1;
	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	t0 = now_ms();
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_TEMP);
	ms = now_ms() - t0;
	assert_result(&res, LOCAL_TEMP, "4.2.0", "locked by another process");
	if (ms < 950 || ms > 5000)
		fail_msg("expected a wait of about 1 s, got %llu ms",
		    (unsigned long long)ms);
	assert_int_equal(file_size(mb), 0);

	/* Released: delivered. */
	close(release);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	assert_true(file_size(mb) > 0);
}

/* The lock is released while we wait: delivered after the wait. */
static void
test_mbox_fcntl_lock_released(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128];
	int			release, status;
	pid_t			pid, closer;
	uint64_t		t0, ms;

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	write_file(mb, "");
	pid = hold_fcntl_lock(mb, &release);
	if ((closer = fork()) == 0) {
		usleep(300000);
		close(release);
		_exit(0);
	}
	close(release);
	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	t0 = now_ms();
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	ms = now_ms() - t0;
	close(lm.fd);
	assert_true(ms >= 250);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(waitpid(closer, &status, 0), closer);
	assert_true(file_size(mb) > 0);
}

static void
test_mbox_dotlock_fresh(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128], lock[128];

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	tpath(lock, sizeof(lock), "mbox.lock");
	write_file(mb, "old\n");
	write_file(lock, "");
	local_config.lock_wait = 1;
	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_TEMP);
	close(lm.fd);
	assert_result(&res, LOCAL_TEMP, "4.2.0", "mbox.lock exists");
	assert_file(mb, "old\n");
	assert_int_equal(access(lock, F_OK), 0);	/* not ours to remove */
}

static void
test_mbox_dotlock_stale(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			mb[128], lock[128];
	struct timeval		tv[2];

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	tpath(lock, sizeof(lock), "mbox.lock");
	write_file(lock, "");
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 301;
	tv[1] = tv[0];
	assert_int_equal(utimes(lock, tv), 0);
	local_config.lock_wait = 1;
	msg_make(&lm, msg1, SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	assert_file(mb, msg1_mbox);
	assert_int_equal(access(lock, F_OK), -1);
}

/*
 * Refused mailboxes.
 */

static void
refuse(const char *mb, const char *why)
{
	struct local_msg	lm;
	struct local_result	res;

	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_TEMP);
	close(lm.fd);
	assert_result(&res, LOCAL_TEMP, "4.2.0", why);
}

static void
test_mbox_refused(void **state)
{
	char	mb[128], target[128], gone[128];

	(void)state;
	tpath(target, sizeof(target), "target");
	tpath(mb, sizeof(mb), "mbox");
	write_file(target, "keep\n");
	assert_int_equal(symlink(target, mb), 0);
	refuse(mb, "is a symbolic link");
	assert_file(target, "keep\n");

	/* A dangling link creates nothing. */
	tpath(gone, sizeof(gone), "gone");
	tpath(mb, sizeof(mb), "dangling");
	assert_int_equal(symlink(gone, mb), 0);
	refuse(mb, "is a symbolic link");
	assert_int_equal(access(gone, F_OK), -1);

	tpath(mb, sizeof(mb), "hardlink");
	assert_int_equal(link(target, mb), 0);
	refuse(mb, "more than one link");
	assert_file(target, "keep\n");

	tpath(mb, sizeof(mb), "fifo");
	assert_int_equal(mkfifo(mb, 0600), 0);
	refuse(mb, "not a regular file");

	tpath(mb, sizeof(mb), "dir");
	assert_int_equal(mkdir(mb, 0700), 0);
	refuse(mb, "not a regular file");
}

static void
test_file_target(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			f[128];

	(void)state;
	msg_make(&lm, msg1, SENDER);
	assert_int_equal(local_file_deliver(&lm, "relative/file", &res),
	    LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.3.5", "not an absolute path");
	assert_int_equal(local_file_deliver(&lm, "/dev/null", &res), LOCAL_OK);
	assert_result(&res, LOCAL_OK, "2.0.0", "discarded");
	tpath(f, sizeof(f), "file");
	assert_int_equal(local_file_deliver(&lm, f, &res), LOCAL_OK);
	assert_result(&res, LOCAL_OK, "2.0.0", "file ");
	close(lm.fd);
	assert_file(f, msg1_mbox);
}

/*
 * Write failures: cut back to the old size.
 */

static char *
big_message(size_t lines)
{
	struct buf	b;
	size_t		i;

	buf_init(&b);
	buf_addstr(&b, "Subject: big\n\n");
	for (i = 0; i < lines; i++)
		buf_printf(&b, "line %zu of a big message, long enough to "
		    "fill the space quickly ...........................\n", i);
	return b.data;
}

static void
test_mbox_file_size_limit(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	struct rlimit		old, lim;
	char			mb[128], *big;
	off_t			before;

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	msg_make(&lm, msg1, SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	before = file_size(mb);

	big = big_message(2000);
	msg_make(&lm, big, SENDER);
	free(big);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 50000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	local_mbox_deliver(&lm, mb, &res);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_result(&res, LOCAL_TEMP, "4.2.2", "mailbox full");
	assert_int_equal(file_size(mb), before);
	assert_file(mb, msg1_mbox);

	/* The limit gone, the same message goes in. */
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	assert_true(file_size(mb) > before + 100000);
}

/* Root: a 64 KiB tmpfs in a private mount namespace fills up. */
static void
test_mbox_disk_full(void **state)
{
	struct local_msg	lm;
	struct local_result	res;
	char			dir[128], mb[160], *big;
	off_t			before;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		print_message("not root: the disk-full test needs a tmpfs\n");
		skip();
	}
	tpath(dir, sizeof(dir), "small");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "size=64k"), 0);
	assert_true(bsnprintf(mb, sizeof(mb), "%s/mbox", dir));
	msg_make(&lm, msg1, SENDER);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	before = file_size(mb);

	big = big_message(3000);
	msg_make(&lm, big, SENDER);
	free(big);
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_TEMP);
	assert_result(&res, LOCAL_TEMP, "4.2.2", "mailbox full");
	assert_true(strstr(res.text, strerror(ENOSPC)) != NULL);
	assert_int_equal(file_size(mb), before);
	assert_file(mb, msg1_mbox);
	close(lm.fd);

	/* Space for a small one is still there. */
	msg_make(&lm, "Subject: bounce\n\nbody\n", "");
	assert_int_equal(local_mbox_deliver(&lm, mb, &res), LOCAL_OK);
	close(lm.fd);
	big = xmalloc(sizeof(msg1_mbox) + sizeof(msg2_mbox));
	bsnprintf(big, sizeof(msg1_mbox) + sizeof(msg2_mbox), "%s%s",
	    msg1_mbox, msg2_mbox);
	assert_file(mb, big);
	free(big);
	assert_int_equal(umount(dir), 0);
}

/*
 * 20 processes at once.
 */

#define CONC_PROCS	20
#define CONC_LINES	1500

static char *
conc_message(int i)
{
	struct buf	b;
	int		j;

	buf_init(&b);
	buf_printf(&b, "Subject: message %d\n\n", i);
	for (j = 0; j < CONC_LINES; j++)
		buf_printf(&b, "%sFrom %d line %d with some text to make it "
		    "longer\n", j % 3 == 0 ? ">" : "", i, j);
	return b.data;
}

/* What message i must look like in the mbox, built here, independently. */
static char *
conc_expected(int i)
{
	struct buf	 b;
	char		*msg = conc_message(i), *line, *save;

	buf_init(&b);
	buf_addstr(&b, FROM_LINE "Return-Path: <" SENDER ">\n"
	    "Delivered-To: " RCPT "\n");
	for (line = strtok_r(msg, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line + strspn(line, ">"), "From ", 5) == 0)
			buf_addch(&b, '>');
		buf_printf(&b, "%s\n", line);
		if (strncmp(line, "Subject:", 8) == 0)
			buf_addch(&b, '\n');
	}
	buf_addch(&b, '\n');
	free(msg);
	return b.data;
}

static void
test_mbox_concurrent(void **state)
{
	struct local_msg	 lm;
	struct local_result	 res;
	char			 mb[128], *content, *exp[CONC_PROCS], *msg, c;
	int			 go[2], i, status, seen[CONC_PROCS], found;
	pid_t			 pid[CONC_PROCS];
	size_t			 len, pos, elen;

	(void)state;
	tpath(mb, sizeof(mb), "mbox");
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < CONC_PROCS; i++) {
		msg = conc_message(i);
		msg_make(&lm, msg, SENDER);
		free(msg);
		if ((pid[i] = fork()) == 0) {
			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			local_mbox_deliver(&lm, mb, &res);
			if (res.status != LOCAL_OK)
				fprintf(stderr, "%d: %s\n", i, res.text);
			_exit(res.status == LOCAL_OK ? 0 : 1);
		}
		assert_true(pid[i] > 0);
		close(lm.fd);
	}
	close(go[0]);
	close(go[1]);		/* all start now */
	for (i = 0; i < CONC_PROCS; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("delivery %d failed (status %d)", i, status);
	}

	/* The mbox is the 20 messages, each whole and once, in any order. */
	content = slurp(mb, &len);
	assert_non_null(content);
	for (i = 0; i < CONC_PROCS; i++) {
		exp[i] = conc_expected(i);
		seen[i] = 0;
	}
	for (pos = 0; pos < len; ) {
		found = -1;
		for (i = 0; i < CONC_PROCS && found == -1; i++) {
			elen = strlen(exp[i]);
			if (!seen[i] && len - pos >= elen &&
			    memcmp(content + pos, exp[i], elen) == 0)
				found = i;
		}
		if (found == -1)
			fail_msg("the mbox at offset %zu holds no expected "
			    "message: [%.200s]", pos, content + pos);
		seen[found] = 1;
		pos += strlen(exp[found]);
	}
	for (i = 0; i < CONC_PROCS; i++) {
		assert_int_equal(seen[i], 1);
		free(exp[i]);
	}
	free(content);
}

/*
 * Maildir.
 */

static void
test_maildir(void **state)
{
	struct local_msg	 lm;
	struct local_result	 res;
	char			 md[128], sub[200], name[300], *names[100];
	DIR			*d;
	struct dirent		*de;
	int			 i, n = 0, j;
	const char		*want = "Return-Path: <" SENDER ">\n"
				    "Delivered-To: " RCPT "\n"
				    "Subject: x\n\nFrom the body\n";

	(void)state;
	tpath(md, sizeof(md), "Maildir");
	msg_make(&lm, "Subject: x\n\nFrom the body\n", SENDER);
	for (i = 0; i < 100; i++) {
		assert_int_equal(local_maildir_deliver(&lm, md, &res),
		    LOCAL_OK);
		assert_result(&res, LOCAL_OK, "2.0.0", md);
	}
	close(lm.fd);

	bsnprintf(sub, sizeof(sub), "%s/new", md);
	assert_non_null(d = opendir(sub));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < 100);
		names[n++] = xstrdup(de->d_name);
		bsnprintf(name, sizeof(name), "%s/%s", sub, de->d_name);
		assert_file(name, want);
		/* TIME.M<usec>P<pid>Q<n>.HOST */
		if (strstr(de->d_name, ".M") == NULL ||
		    strstr(de->d_name, "P") == NULL ||
		    strstr(de->d_name, "Q") == NULL ||
		    strcmp(strrchr(de->d_name, 'Q') + strspn(strrchr(
		    de->d_name, 'Q') + 1, "0123456789") + 1,
		    ".mx.example.net") != 0)
			fail_msg("unexpected Maildir name %s", de->d_name);
	}
	closedir(d);
	assert_int_equal(n, 100);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(names[i], names[j]);
	for (i = 0; i < n; i++)
		free(names[i]);

	/* Nothing left in tmp/, cur/ made. */
	bsnprintf(sub, sizeof(sub), "%s/tmp", md);
	assert_non_null(d = opendir(sub));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fail_msg("left in tmp/: %s", de->d_name);
	closedir(d);
	bsnprintf(sub, sizeof(sub), "%s/cur", md);
	assert_int_equal(access(sub, F_OK), 0);
}

static void
test_maildir_host_escaped(void **state)
{
	struct local_msg	 lm;
	struct local_result	 res;
	char			 md[128], sub[200];
	DIR			*d;
	struct dirent		*de;
	int			 n = 0;

	(void)state;
	tpath(md, sizeof(md), "Maildir");
	msg_make(&lm, "Subject: x\n\nbody\n", SENDER);
	lm.hostname = "a/b:c";
	assert_int_equal(local_maildir_deliver(&lm, md, &res), LOCAL_OK);
	close(lm.fd);
	bsnprintf(sub, sizeof(sub), "%s/new", md);
	assert_non_null(d = opendir(sub));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		assert_non_null(strstr(de->d_name, ".a\\057b\\072c"));
	}
	closedir(d);
	assert_int_equal(n, 1);
}

/* The loop check applies to Maildir too; a failing write leaves nothing. */
static void
test_maildir_failures(void **state)
{
	struct local_msg	 lm;
	struct local_result	 res;
	struct rlimit		 old, lim;
	char			 md[128], sub[200], *big;
	DIR			*d;
	struct dirent		*de;

	(void)state;
	tpath(md, sizeof(md), "Maildir");
	msg_make(&lm, "Delivered-To: " RCPT "\n\nbody\n", SENDER);
	assert_int_equal(local_maildir_deliver(&lm, md, &res), LOCAL_PERM);
	assert_result(&res, LOCAL_PERM, "5.4.6", "loop");
	close(lm.fd);

	big = big_message(2000);
	msg_make(&lm, big, SENDER);
	free(big);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 10000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	local_maildir_deliver(&lm, md, &res);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	close(lm.fd);
	assert_result(&res, LOCAL_TEMP, "4.2.2", "mailbox full");
	bsnprintf(sub, sizeof(sub), "%s/new", md);
	assert_non_null(d = opendir(sub));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fail_msg("left in new/: %s", de->d_name);
	closedir(d);
	bsnprintf(sub, sizeof(sub), "%s/tmp", md);
	assert_non_null(d = opendir(sub));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fail_msg("left in tmp/: %s", de->d_name);
	closedir(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mbox_format, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_unfinished, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stream_edges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_fcntl_lock_waits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbox_fcntl_lock_released,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbox_dotlock_fresh, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_dotlock_stale, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_target, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_file_size_limit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbox_disk_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_concurrent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_maildir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_host_escaped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_failures, setup,
		    teardown),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
