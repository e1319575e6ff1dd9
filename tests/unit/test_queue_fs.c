/*
 * test_queue_fs.c - unit tests of queue/queue_fs.c in a temporary folder as
 * the current user: queue_fs_prepare creates the whole tree with the modes
 * of the table whatever the umask, accepts it again, and names the path of
 * a wrong mode, owner or type; the printed table; startup recovery sorts a
 * spool holding every kind of leftover into kept, removed and corrupt/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/privsep.h"
#include "queue/envelope.h"
#include "queue/queue_fs.h"
#include "queue/queue_id.h"
#include "queue/queue_recover.h"

struct fixture {
	char	top[64];
	char	spool[128];
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

	if (fx == NULL)
		return -1;
	snprintf(fx->top, sizeof(fx->top), "/tmp/test_queue_fs.XXXXXX");
	if (mkdtemp(fx->top) == NULL)
		return -1;
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->top);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	nftw(fx->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void
assert_mode(const char *spool, const char *rel, mode_t want)
{
	char		path[512];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", spool, rel);
	if (lstat(path, &st) == -1)
		fail_msg("%s: missing", path);
	if (!S_ISDIR(st.st_mode))
		fail_msg("%s: not a directory", path);
	if ((st.st_mode & 07777) != want)
		fail_msg("%s: mode %04o, expected %04o", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)want);
	if (st.st_uid != geteuid())
		fail_msg("%s: owner %lu, expected %lu", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
}

static void
prepare_ok(struct fixture *fx)
{
	char	err[512] = "";

	if (queue_fs_prepare(fx->spool, NULL, NULL, 0, err,
	    sizeof(err)) != 0)
		fail_msg("queue_fs_prepare: %s", err);
}

static void
expect_prepare_error(struct fixture *fx, const char *rel, const char *what)
{
	char	err[512] = "", want[512];

	snprintf(want, sizeof(want), "%s/%s: %s", fx->spool, rel, what);
	if (queue_fs_prepare(fx->spool, NULL, NULL, 0, err,
	    sizeof(err)) != -1)
		fail_msg("expected '%s', queue_fs_prepare succeeded", want);
	if (strcmp(err, want) != 0)
		fail_msg("expected '%s', got '%s'", want, err);
}

static void
test_prepare_creates_tree(void **state)
{
	struct fixture	*fx = *state;
	char		 rel[16];
	mode_t		 old;
	unsigned	 h;

	old = umask(077);	/* modes come from the table, not the umask */
	prepare_ok(fx);
	umask(old);
	assert_mode(fx->spool, ".", 0755);
	assert_mode(fx->spool, "empty", 0555);
	assert_mode(fx->spool, "incoming", 0700);
	assert_mode(fx->spool, "queue", 0700);
	assert_mode(fx->spool, "corrupt", 0700);
	for (h = 0; h < QUEUE_ID_NHASH; h++) {
		snprintf(rel, sizeof(rel), "queue/%02X", h);
		assert_mode(fx->spool, rel, 0700);
	}
	prepare_ok(fx);		/* again: nothing to do, nothing wrong */
}

static void
test_prepare_detects_mode(void **state)
{
	struct fixture	*fx = *state;
	char		 path[512];

	prepare_ok(fx);
	snprintf(path, sizeof(path), "%s/incoming", fx->spool);
	assert_int_equal(chmod(path, 0755), 0);
	expect_prepare_error(fx, "incoming", "mode is 0755, expected 0700");
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/queue/A7", fx->spool);
	assert_int_equal(chmod(path, 0750), 0);
	expect_prepare_error(fx, "queue/A7", "mode is 0750, expected 0700");
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/empty", fx->spool);
	assert_int_equal(chmod(path, 0755), 0);
	expect_prepare_error(fx, "empty", "mode is 0755, expected 0555");
	assert_int_equal(chmod(path, 0555), 0);
	prepare_ok(fx);
}

static void
test_prepare_detects_type_and_owner(void **state)
{
	struct fixture	*fx = *state;
	char		 path[512], err[512] = "", want[512];

	prepare_ok(fx);
	snprintf(path, sizeof(path), "%s/corrupt", fx->spool);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(symlink("/tmp", path), 0);
	expect_prepare_error(fx, "corrupt", "not a directory");
	assert_int_equal(unlink(path), 0);
	prepare_ok(fx);		/* recreated */
	if (geteuid() != 0)
		return;
	snprintf(path, sizeof(path), "%s/queue", fx->spool);
	assert_int_equal(chown(path, 54321, 54321), 0);
	expect_prepare_error(fx, "queue", "owner is 54321, expected root");
	assert_int_equal(chown(path, 0, 0), 0);
	/* Privileged: the queue directories must belong to the queue user. */
	{
		struct sm_user	qu = { "nobody-test", 54321, 54321 };

		snprintf(want, sizeof(want), "%s/incoming: owner is root, "
		    "expected 54321", fx->spool);
		assert_int_equal(queue_fs_prepare(fx->spool, &qu, &qu, qu.gid,
		    err, sizeof(err)), -1);
		if (strcmp(err, want) != 0)
			fail_msg("expected '%s', got '%s'", want, err);
	}
}

static void
test_print_table(void **state)
{
	struct fixture	*fx = *state;
	char		 path[512], text[1024];
	FILE		*f;
	size_t		 n;
	int		 fd, saved;

	snprintf(path, sizeof(path), "%s/table", fx->top);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(saved != -1 && fd != -1);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	queue_fs_print_table("_sm-queue", "_sm-delivery", "_sm-drop");
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_string_equal(text,
	    ". root 0755\n"
	    "empty root 0555\n"
	    "incoming _sm-queue 0700\n"
	    "queue _sm-queue 0700\n"
	    "queue/XX _sm-queue 0700\n"
	    "corrupt _sm-queue 0700\n"
	    "hold _sm-queue 0700\n"
	    "delivery _sm-delivery 0700\n"
	    "maildrop _sm-queue 1730 _sm-drop\n");
}

/* ---- recovery ---- */

static void
put_file(const char *spool, const char *rel, const char *text)
{
	char	path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", spool, rel);
	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot create %s", path);
	fputs(text, f);
	fclose(f);
}

static int
exists(const char *spool, const char *rel)
{
	char		path[512];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", spool, rel);
	return lstat(path, &st) == 0;
}

/* An envelope file's text for id, claiming size octets of content whose
 * digest is that of "hello\n". */
static void
env_text(const char *id, uint64_t size, struct buf *b)
{
	struct envelope	 env;
	struct digest	*dg = digest_new();

	envelope_init(&env);
	memcpy(env.id, id, QUEUE_ID_SIZE);
	env.size = size;
	digest_update(dg, "hello\n", 6);
	digest_final(dg, env.digest);
	env.sender = strdup("a@example.org");
	env.helo = strdup("h");
	env.client = strdup("127.0.0.1");
	env.protocol = strdup("ESMTP");
	(void)envelope_add_rcpt(&env, "b@example.org", RCPT_PENDING);
	buf_init(b);
	envelope_serialize(&env, b);
	envelope_free(&env);
}

static void
put_env(const char *spool, const char *dir, const char *id, uint64_t size)
{
	struct buf	b;
	char		rel[128];

	snprintf(rel, sizeof(rel), "%s/%s.env", dir, id);
	env_text(id, size, &b);
	put_file(spool, rel, b.data);
	buf_free(&b);
}

/* "queue/XX" of id. */
static const char *
folder(const char *id, char *dst, size_t size)
{
	snprintf(dst, size, "queue/%02X", queue_id_folder(id));
	return dst;
}

static void
found_cb(struct envelope *env, void *arg)
{
	struct buf	*seen = arg;

	buf_printf(seen, "%s ", env->id);
}

/* Waits until the recovery thread of qr is done; what it hands over goes
 * to found. */
static void
drain(struct queue_recover *qr, queue_fs_found_cb found, void *arg,
    struct queue_fs_recovery *rec)
{
	struct pollfd	pfd;
	int		done = 0, rounds;

	pfd.fd = queue_recover_fd(qr);
	pfd.events = POLLIN;
	for (rounds = 0; !done && rounds < 100; rounds++) {
		assert_true(poll(&pfd, 1, 100) >= 0);
		done = queue_recover_take(qr, found, arg, rec);
	}
	assert_true(done);
}

/* Recovery as the queue runs it: started, and waited for. */
static void
recover(int spoolfd, queue_fs_found_cb found, void *arg,
    struct queue_fs_recovery *rec)
{
	struct queue_recover	*qr = queue_recover_start(spoolfd);

	drain(qr, found, arg, rec);
	queue_recover_free(qr);
}

#define ID_OK		"E000000000000010"	/* complete */
#define ID_ORPHAN	"E000000000000011"	/* content, no envelope */
#define ID_NOMSG	"E000000000000012"	/* envelope, no content */
#define ID_BAD		"E000000000000013"	/* unreadable envelope */
#define ID_SIZE		"E000000000000014"	/* size differs */
#define ID_ELSEWHERE	"E000000000000015"	/* in the wrong folder */
#define ID_DIGEST	"E000000000000016"	/* same size, other octets */

static void
test_recover(void **state)
{
	struct fixture			*fx = *state;
	struct queue_fs_recovery	 rec;
	struct buf			 seen;
	char				 d[16], rel[128], other[16];
	char				 id[QUEUE_ID_SIZE];
	int				 spoolfd;

	prepare_ok(fx);
	put_file(fx->spool, "incoming/E000000000000020.msg", "half a mess");
	put_file(fx->spool, "incoming/E000000000000021.env", "strictmail-env");
	put_env(fx->spool, folder(ID_OK, d, sizeof(d)), ID_OK, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_OK);
	put_file(fx->spool, rel, "hello\n");
	snprintf(rel, sizeof(rel), "%s/%s.msg", folder(ID_ORPHAN, d, sizeof(d)),
	    ID_ORPHAN);
	put_file(fx->spool, rel, "never acknowledged\n");
	put_env(fx->spool, folder(ID_NOMSG, d, sizeof(d)), ID_NOMSG, 6);
	snprintf(rel, sizeof(rel), "%s/%s.env", folder(ID_BAD, d, sizeof(d)),
	    ID_BAD);
	put_file(fx->spool, rel,
	    "strictmail-envelope 2\nid " ID_BAD "\nbogus 1\n");
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_BAD);
	put_file(fx->spool, rel, "body\n");
	put_file(fx->spool, "corrupt/" ID_BAD ".env", "an earlier one");
	put_env(fx->spool, folder(ID_SIZE, d, sizeof(d)), ID_SIZE, 1000);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_SIZE);
	put_file(fx->spool, rel, "short\n");
	put_env(fx->spool, folder(ID_DIGEST, d, sizeof(d)), ID_DIGEST, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_DIGEST);
	put_file(fx->spool, rel, "hellO\n");
	put_file(fx->spool, "queue/00/README", "not ours");
	snprintf(other, sizeof(other), "queue/%02X",
	    (queue_id_folder(ID_ELSEWHERE) + 1) % QUEUE_ID_NHASH);
	put_env(fx->spool, other, ID_ELSEWHERE, 6);

	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	buf_init(&seen);
	recover(spoolfd, found_cb, &seen, &rec);
	assert_string_equal(seen.data, ID_OK " ");
	buf_free(&seen);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.removed, 3);
	assert_int_equal(rec.corrupt, 9);

	assert_false(exists(fx->spool, "incoming/E000000000000020.msg"));
	assert_false(exists(fx->spool, "incoming/E000000000000021.env"));
	folder(ID_OK, d, sizeof(d));
	snprintf(rel, sizeof(rel), "%s/%s.env", d, ID_OK);
	assert_true(exists(fx->spool, rel));
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_OK);
	assert_true(exists(fx->spool, rel));
	snprintf(rel, sizeof(rel), "%s/%s.msg", folder(ID_ORPHAN, d, sizeof(d)),
	    ID_ORPHAN);
	assert_false(exists(fx->spool, rel));
	assert_true(exists(fx->spool, "corrupt/" ID_NOMSG ".env"));
	assert_true(exists(fx->spool, "corrupt/" ID_BAD ".env"));
	assert_true(exists(fx->spool, "corrupt/" ID_BAD ".env.1"));
	assert_true(exists(fx->spool, "corrupt/" ID_BAD ".msg"));
	assert_true(exists(fx->spool, "corrupt/" ID_SIZE ".env"));
	assert_true(exists(fx->spool, "corrupt/" ID_SIZE ".msg"));
	assert_true(exists(fx->spool, "corrupt/" ID_DIGEST ".env"));
	assert_true(exists(fx->spool, "corrupt/" ID_DIGEST ".msg"));
	assert_true(exists(fx->spool, "corrupt/README"));
	assert_true(exists(fx->spool, "corrupt/" ID_ELSEWHERE ".env"));

	/* IDs made afterwards follow those found in the spool. */
	queue_id_new(id);
	if (strcmp(id, ID_OK) <= 0)
		fail_msg("new id %s does not follow %s", id, ID_OK);

	/* A second run finds the same message and nothing else to do. */
	recover(spoolfd, NULL, NULL, &rec);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.removed, 0);
	assert_int_equal(rec.corrupt, 0);
	close(spoolfd);
}

/* A whole message of id (content "hello\n") in dir. */
static void
put_msg(const char *spool, const char *dir, const char *id)
{
	char	rel[128];

	put_env(spool, dir, id, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", dir, id);
	put_file(spool, rel, "hello\n");
}

/* dir/id.ext linked as todir/id.ext. */
static void
put_link(const char *spool, const char *dir, const char *todir,
    const char *id, const char *ext)
{
	char	from[512], to[512];

	snprintf(from, sizeof(from), "%s/%s/%s.%s", spool, dir, id, ext);
	snprintf(to, sizeof(to), "%s/%s/%s.%s", spool, todir, id, ext);
	if (link(from, to) == -1)
		fail_msg("link %s %s: %s", from, to, strerror(errno));
}

/* Recovery finds exactly the IDs of want (each followed by a space), in
 * that order, and moves nothing to corrupt/. */
static void
recover_seen(int spoolfd, const char *want, struct queue_fs_recovery *rec)
{
	struct buf	seen;

	buf_init(&seen);
	recover(spoolfd, found_cb, &seen, rec);
	assert_string_equal(seen.data, want);
	buf_free(&seen);
	assert_int_equal(rec->messages, (long)(strlen(want) / (QUEUE_ID_LEN + 1)));
	assert_int_equal(rec->corrupt, 0);
}

/* IDs whose folder (queue_id_folder) is 0x05, 0x40, 0x06, 0x41, 0x07. */
#define ID_MV_BACK	"00000000A0000001"
#define ID_MV_AHEAD	"0000000800000001"
#define ID_MV_HALF	"00000000C0000001"
#define ID_MV_MSG	"0000000820000001"
#define ID_MV_LEFT	"00000000E0000001"

/*
 * A spool that placed messages by a hash of the ID: recovery moves each
 * message to the folder of its ID and keeps it, also when an earlier
 * move was cut short at any step, and finds each exactly once.
 */
static void
test_recover_moves(void **state)
{
	struct fixture			*fx = *state;
	struct queue_fs_recovery	 rec;
	const char			*ids[] = { ID_MV_BACK, ID_MV_AHEAD,
					    ID_MV_HALF, ID_MV_MSG, ID_MV_LEFT };
	const char			*gone[] = {
		"queue/30/" ID_MV_BACK ".env", "queue/30/" ID_MV_BACK ".msg",
		"queue/08/" ID_MV_AHEAD ".env", "queue/31/" ID_MV_HALF ".msg",
		"queue/09/" ID_MV_MSG ".msg", "queue/32/" ID_MV_LEFT ".msg" };
	char				 d[16], rel[128];
	size_t				 i;
	int				 spoolfd;

	assert_int_equal(queue_id_folder(ID_MV_BACK), 0x05);
	assert_int_equal(queue_id_folder(ID_MV_AHEAD), 0x40);
	assert_int_equal(queue_id_folder(ID_MV_HALF), 0x06);
	assert_int_equal(queue_id_folder(ID_MV_MSG), 0x41);
	assert_int_equal(queue_id_folder(ID_MV_LEFT), 0x07);
	prepare_ok(fx);
	/* Placed after its folder, and before it. */
	put_msg(fx->spool, "queue/30", ID_MV_BACK);
	put_msg(fx->spool, "queue/08", ID_MV_AHEAD);
	/* A move cut short before the removal: both folders hold it. */
	put_msg(fx->spool, "queue/31", ID_MV_HALF);
	put_link(fx->spool, "queue/31", "queue/06", ID_MV_HALF, "msg");
	put_link(fx->spool, "queue/31", "queue/06", ID_MV_HALF, "env");
	/* Cut short after the content's link: content alone in the new. */
	put_msg(fx->spool, "queue/09", ID_MV_MSG);
	put_link(fx->spool, "queue/09", "queue/41", ID_MV_MSG, "msg");
	/* Cut short in the removal: the old content's second link. */
	put_msg(fx->spool, "queue/07", ID_MV_LEFT);
	put_link(fx->spool, "queue/07", "queue/32", ID_MV_LEFT, "msg");

	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	/* Found once each: in the turn of the folder they were moved from
	 * when theirs had had its turn already, else in their own. */
	recover_seen(spoolfd, ID_MV_HALF " " ID_MV_LEFT " " ID_MV_BACK " "
	    ID_MV_AHEAD " " ID_MV_MSG " ", &rec);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		folder(ids[i], d, sizeof(d));
		snprintf(rel, sizeof(rel), "%s/%s.env", d, ids[i]);
		assert_true(exists(fx->spool, rel));
		snprintf(rel, sizeof(rel), "%s/%s.msg", d, ids[i]);
		assert_true(exists(fx->spool, rel));
	}
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (exists(fx->spool, gone[i]))
			fail_msg("%s is still there", gone[i]);

	/* A second run finds the same five where they are, nothing else. */
	recover_seen(spoolfd, ID_MV_BACK " " ID_MV_HALF " " ID_MV_LEFT " "
	    ID_MV_AHEAD " " ID_MV_MSG " ", &rec);
	assert_int_equal(rec.removed, 0);
	close(spoolfd);
}

/*
 * While the queue takes mail, recovery leaves alone every file of an ID
 * above its bound (this run's): content without envelope, an envelope
 * rewrite on its way, a message being committed.
 */
static void
test_recover_bound(void **state)
{
	struct fixture			*fx = *state;
	struct queue_fs_recovery	 rec;
	struct buf			 seen;
	char				 d[16], rel[128];
	unsigned			 h;
	int				 spoolfd;

	prepare_ok(fx);
	put_env(fx->spool, folder(ID_OK, d, sizeof(d)), ID_OK, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_OK);
	put_file(fx->spool, rel, "hello\n");
	/* Above the bound: content alone, and a rewrite in ID_DIGEST's. */
	snprintf(rel, sizeof(rel), "%s/%s.msg", folder(ID_ORPHAN, d, sizeof(d)),
	    ID_ORPHAN);
	put_file(fx->spool, rel, "being committed\n");
	put_env(fx->spool, folder(ID_DIGEST, d, sizeof(d)), ID_DIGEST, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_DIGEST);
	put_file(fx->spool, rel, "hello\n");
	snprintf(rel, sizeof(rel), "%s/%s.env.new", d, ID_DIGEST);
	put_file(fx->spool, rel, "strictmail-envelope 2\n");

	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	memset(&rec, 0, sizeof(rec));
	buf_init(&seen);
	for (h = 0; h < QUEUE_ID_NHASH; h++)
		queue_fs_recover_folder(spoolfd, h, queue_id_value(ID_OK),
		    found_cb, &seen, &rec);
	assert_string_equal(seen.data, ID_OK " ");
	buf_free(&seen);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.removed, 0);
	assert_int_equal(rec.corrupt, 0);
	snprintf(rel, sizeof(rel), "%s/%s.msg", folder(ID_ORPHAN, d, sizeof(d)),
	    ID_ORPHAN);
	assert_true(exists(fx->spool, rel));
	snprintf(rel, sizeof(rel), "%s/%s.env.new",
	    folder(ID_DIGEST, d, sizeof(d)), ID_DIGEST);
	assert_true(exists(fx->spool, rel));
	/* With the bound above them they are recovery's again. */
	for (h = 0; h < QUEUE_ID_NHASH; h++)
		queue_fs_recover_folder(spoolfd, h, queue_id_value(ID_DIGEST),
		    NULL, NULL, &rec);
	assert_false(exists(fx->spool, rel));
	snprintf(rel, sizeof(rel), "%s/%s.msg", folder(ID_ORPHAN, d, sizeof(d)),
	    ID_ORPHAN);
	assert_false(exists(fx->spool, rel));
	close(spoolfd);
}

/* What only the thread shows: incoming/ is empty when
 * queue_recover_start returns, every ID made afterwards is above all
 * those in queue/, and operator commands wait for old IDs only until the
 * thread is done. */
static void
test_recover_thread(void **state)
{
	struct fixture			*fx = *state;
	struct queue_fs_recovery	 rec;
	struct queue_recover		*qr;
	struct buf			 seen;
	char				 d[16], rel[128], id[QUEUE_ID_SIZE];
	int				 spoolfd;

	prepare_ok(fx);
	put_file(fx->spool, "incoming/E000000000000020.msg", "half a mess");
	put_env(fx->spool, folder(ID_OK, d, sizeof(d)), ID_OK, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_OK);
	put_file(fx->spool, rel, "hello\n");

	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	qr = queue_recover_start(spoolfd);
	assert_false(exists(fx->spool, "incoming/E000000000000020.msg"));
	queue_id_new(id);
	if (strcmp(id, ID_OK) <= 0)
		fail_msg("new id %s does not follow %s", id, ID_OK);
	assert_true(queue_recover_pending(qr, ID_OK) ||
	    queue_recover_progress(qr) == QUEUE_ID_NHASH);
	assert_false(queue_recover_pending(qr, id));
	buf_init(&seen);
	drain(qr, found_cb, &seen, &rec);
	assert_string_equal(seen.data, ID_OK " ");
	buf_free(&seen);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.removed, 1);	/* incoming/ */
	assert_false(queue_recover_pending(qr, ID_OK));
	queue_recover_free(qr);
	close(spoolfd);
}

static void
test_create_and_unlink(void **state)
{
	struct fixture	*fx = *state;
	char		 id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], rel[128], d[16];
	struct stat	 st;
	int		 spoolfd, fd, fd2;

	prepare_ok(fx);
	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	fd = queue_fs_create(spoolfd, id);
	assert_true(fd != -1);
	assert_true(queue_id_valid(id));
	snprintf(rel, sizeof(rel), "incoming/%s.msg", id);
	assert_true(exists(fx->spool, rel));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* An ID committed by an earlier run (clock stepped back) is skipped. */
	queue_id_seen("E0000000000000FF");
	put_env(fx->spool, folder("E000000000000100", d, sizeof(d)),
	    "E000000000000100", 0);
	fd2 = queue_fs_create(spoolfd, id2);
	assert_true(fd2 != -1);
	assert_string_equal(id2, "E000000000000101");
	close(fd2);
	assert_int_equal(queue_fs_unlink_message(spoolfd, id), 0);
	assert_false(exists(fx->spool, rel));
	/* Again: ENOENT is no error. */
	assert_int_equal(queue_fs_unlink_message(spoolfd, id), 0);
	close(fd);
	close(spoolfd);
}

#define ID_REWRITE	"E000000000000030"

/* The scheduler's changes: a rewrite by the commit rule, a leftover
 * ID.env.new removed by recovery, hold/, removal of a done message. */
static void
test_rewrite_hold_remove(void **state)
{
	struct fixture			*fx = *state;
	struct queue_fs_recovery	 rec;
	struct envelope			 env, back;
	char				 d[16], rel[128], why[256];
	int				 spoolfd;

	prepare_ok(fx);
	put_env(fx->spool, folder(ID_REWRITE, d, sizeof(d)), ID_REWRITE, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_REWRITE);
	put_file(fx->spool, rel, "hello\n");
	spoolfd = open(fx->spool, O_RDONLY | O_DIRECTORY);
	assert_true(spoolfd != -1);
	assert_int_equal(queue_fs_read_envelope(spoolfd, ID_REWRITE, &env, why,
	    sizeof(why)), 0);
	env.attempts = 3;
	env.rcpts[0].error = strdup("451 4.7.1 later");
	assert_int_equal(queue_fs_write_envelope(spoolfd, &env, why,
	    sizeof(why)), 0);
	snprintf(rel, sizeof(rel), "%s/%s.env.new", d, ID_REWRITE);
	assert_false(exists(fx->spool, rel));
	assert_int_equal(queue_fs_read_envelope(spoolfd, ID_REWRITE, &back,
	    why, sizeof(why)), 0);
	assert_int_equal(back.attempts, 3);
	assert_string_equal(back.rcpts[0].error, "451 4.7.1 later");
	envelope_free(&back);
	/* An invalid envelope is never written: the old one stays. */
	free(env.sender);
	env.sender = strdup("a\nb");
	assert_int_equal(queue_fs_write_envelope(spoolfd, &env, why,
	    sizeof(why)), -1);
	assert_int_equal(queue_fs_read_envelope(spoolfd, ID_REWRITE, &back,
	    why, sizeof(why)), 0);
	assert_string_equal(back.sender, "a@example.org");
	envelope_free(&back);
	envelope_free(&env);
	/* A crash between write and rename: recovery keeps ID.env and
	 * removes the rest of the rewrite. */
	put_file(fx->spool, rel, "strictmail-envelope 2\nid half");
	recover(spoolfd, NULL, NULL, &rec);
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.corrupt, 0);
	assert_false(exists(fx->spool, rel));
	/* hold/ takes both files. */
	assert_int_equal(queue_fs_hold(spoolfd, ID_REWRITE), 0);
	assert_true(exists(fx->spool, "hold/" ID_REWRITE ".env"));
	assert_true(exists(fx->spool, "hold/" ID_REWRITE ".msg"));
	snprintf(rel, sizeof(rel), "%s/%s.env", d, ID_REWRITE);
	assert_false(exists(fx->spool, rel));
	/* A done message goes, envelope and content. */
	put_env(fx->spool, d, ID_REWRITE, 6);
	snprintf(rel, sizeof(rel), "%s/%s.msg", d, ID_REWRITE);
	put_file(fx->spool, rel, "hello\n");
	assert_int_equal(queue_fs_remove_done(spoolfd, ID_REWRITE, 1), 0);
	assert_false(exists(fx->spool, rel));
	snprintf(rel, sizeof(rel), "%s/%s.env", d, ID_REWRITE);
	assert_false(exists(fx->spool, rel));
	close(spoolfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prepare_creates_tree,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_detects_mode,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_prepare_detects_type_and_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_table, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_moves, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover_thread, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_hold_remove, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_create_and_unlink, setup,
		    teardown),
	};

	log_init("test", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
