/*
 * commitceil.c - the disk's ceiling for the queue's commit, one way of
 * syncing against another, without any SMTP around it.
 *
 *   commitceil DIR MODE BATCH SECONDS
 *
 * Each message is two files, 1 KiB of content and a 300-octet envelope,
 * written in DIR/incoming and renamed into one of 256 folders DIR/queue/XX.
 * A batch of BATCH messages is made durable by MODE:
 *   fsync    start write-back of every file (sync_file_range), then
 *            fdatasync each file, then fsync each folder the batch touched
 *            (incoming/ is not synced), one after the other (earlier)
 *   parallel the same syncs, run side by side on CC_SYNCERS threads
 *            (what the queue does)
 *   syncfs   one syncfs for the batch, then fdatasync each file to collect
 *            its own write-back error
 *   syncfs2  the earlier commit: rename the content, write the envelope,
 *            syncfs, rename the envelope, syncfs
 *   onefile  one file per message (content and envelope together),
 *            renamed into its folder: fdatasync it, fsync each folder
 *            (a spool format with one file per message at commit)
 *   onepar   onefile with its syncs side by side on CC_SYNCERS threads
 *   waitfs   both files: wait for each file's own write-back with
 *            sync_file_range (which reports that file's write-back error),
 *            then one syncfs for the metadata of the batch
 * Stops after SECONDS, prints "<mode> <batch> <messages> <seconds>
 * <messages per second>", and removes its files.  Exit 0, or 1 with a
 * message on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#define CC_CONTENT	1024
#define CC_ENVELOPE	300
#define CC_NDIR		256
#define CC_MAXBATCH	1000
#define CC_SYNCERS	4	/* as QC_SYNCERS in queue/queue_commit.c */

struct cc_msg {
	char	name[32];
	int	dir;
	int	cfd, efd;
};

struct cc {
	int		 in;
	int		 out[CC_NDIR];
	char		 content[CC_CONTENT];
	char		 env[CC_ENVELOPE];
	unsigned long	 made;
	struct cc_msg	 batch[CC_MAXBATCH];
	int		 threads;	/* 1, or CC_SYNCERS: side by side */
};

/* The syncs of a batch, taken by the main thread and its helpers. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 work, done;
	int		 fd[3 * CC_MAXBATCH];
	int		 folder[3 * CC_MAXBATCH];
	size_t		 n, next, left;
} cs = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    PTHREAD_COND_INITIALIZER, { 0 }, { 0 }, 0, 0, 0 };

static void
cc_die(const char *what)
{
	fprintf(stderr, "commitceil: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
cc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cc_opendir(int at, const char *name)
{
	int fd;

	if (mkdirat(at, name, 0700) == -1 && errno != EEXIST)
		cc_die(name);
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		cc_die(name);
	return fd;
}

static int
cc_write(int dir, const char *name, const char *data, size_t len)
{
	int fd;

	fd = openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		cc_die("openat");
	if (write(fd, data, len) != (ssize_t)len)
		cc_die("write");
	return fd;
}

static void
cc_rename(struct cc *c, struct cc_msg *m, const char *ext)
{
	char name[40];

	snprintf(name, sizeof(name), "%s.%s", m->name, ext);
	if (renameat(c->in, name, c->out[m->dir], name) == -1)
		cc_die("renameat");
}

static void
cc_make(struct cc *c, struct cc_msg *m, int both)
{
	char name[40];

	snprintf(m->name, sizeof(m->name), "%012lu", c->made++);
	m->dir = (int)(((c->made * 2654435761u) >> 8) % CC_NDIR);
	snprintf(name, sizeof(name), "%s.msg", m->name);
	m->cfd = cc_write(c->in, name, c->content, sizeof(c->content));
	m->efd = -1;
	if (both) {
		snprintf(name, sizeof(name), "%s.env", m->name);
		m->efd = cc_write(c->in, name, c->env, sizeof(c->env));
		cc_rename(c, m, "msg");
		cc_rename(c, m, "env");
	}
}

static void
cc_close(struct cc_msg *m)
{
	close(m->cfd);
	if (m->efd != -1)
		close(m->efd);
}

/* Takes syncs until none is left; with cs.lock held. */
static void
cc_take(void)
{
	size_t k;
	int rc;

	while (cs.next < cs.n) {
		k = cs.next++;
		pthread_mutex_unlock(&cs.lock);
		rc = cs.folder[k] ? fsync(cs.fd[k]) : fdatasync(cs.fd[k]);
		if (rc == -1)
			cc_die(cs.folder[k] ? "fsync folder" : "fdatasync");
		pthread_mutex_lock(&cs.lock);
		if (--cs.left == 0)
			pthread_cond_signal(&cs.done);
	}
}

static void *
cc_helper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cs.lock);
	for (;;) {
		while (cs.next >= cs.n)
			pthread_cond_wait(&cs.work, &cs.lock);
		cc_take();
	}
	return NULL;
}

static void
cc_add(int fd, int folder)
{
	cs.fd[cs.n] = fd;
	cs.folder[cs.n] = folder;
	cs.n++;
}

/* fdatasync each file of the batch and fsync each folder it touched: one
 * after the other, or side by side. */
static void
cc_sync_files_folders(struct cc *c, unsigned long n)
{
	unsigned char touched[CC_NDIR];
	unsigned long i;

	memset(touched, 0, sizeof(touched));
	pthread_mutex_lock(&cs.lock);
	cs.n = 0;
	for (i = 0; i < n; i++) {
		cc_add(c->batch[i].cfd, 0);
		if (c->batch[i].efd != -1)
			cc_add(c->batch[i].efd, 0);
		touched[c->batch[i].dir] = 1;
	}
	for (i = 0; i < CC_NDIR; i++)
		if (touched[i])
			cc_add(c->out[i], 1);
	cs.next = 0;
	cs.left = cs.n;
	if (c->threads > 1)
		pthread_cond_broadcast(&cs.work);
	cc_take();
	while (cs.left > 0)
		pthread_cond_wait(&cs.done, &cs.lock);
	pthread_mutex_unlock(&cs.lock);
	for (i = 0; i < n; i++)
		cc_close(&c->batch[i]);
}

static void
cc_batch_fsync(struct cc *c, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		cc_make(c, &c->batch[i], 1);
		(void)sync_file_range(c->batch[i].cfd, 0, 0, SYNC_FILE_RANGE_WRITE);
		(void)sync_file_range(c->batch[i].efd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	cc_sync_files_folders(c, n);
}

static void
cc_batch_syncfs(struct cc *c, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		cc_make(c, &c->batch[i], 1);
	if (syncfs(c->in) == -1)
		cc_die("syncfs");
	for (i = 0; i < n; i++) {
		if (fdatasync(c->batch[i].cfd) == -1 ||
		    fdatasync(c->batch[i].efd) == -1)
			cc_die("fdatasync");
		cc_close(&c->batch[i]);
	}
}

static void
cc_batch_syncfs2(struct cc *c, unsigned long n)
{
	struct cc_msg *m;
	char name[40];
	unsigned long i;

	for (i = 0; i < n; i++) {
		m = &c->batch[i];
		cc_make(c, m, 0);
		cc_rename(c, m, "msg");
		snprintf(name, sizeof(name), "%s.env", m->name);
		m->efd = cc_write(c->in, name, c->env, sizeof(c->env));
	}
	if (syncfs(c->in) == -1)
		cc_die("syncfs");
	for (i = 0; i < n; i++) {
		cc_rename(c, &c->batch[i], "env");
		cc_close(&c->batch[i]);
	}
	if (syncfs(c->in) == -1)
		cc_die("syncfs");
}

static void
cc_batch_onefile(struct cc *c, unsigned long n)
{
	struct cc_msg *m;
	unsigned long i;

	for (i = 0; i < n; i++) {
		m = &c->batch[i];
		cc_make(c, m, 0);
		if (write(m->cfd, c->env, sizeof(c->env)) != (ssize_t)sizeof(c->env))
			cc_die("write");
		cc_rename(c, m, "msg");
		(void)sync_file_range(m->cfd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	cc_sync_files_folders(c, n);
}

static void
cc_batch_waitfs(struct cc *c, unsigned long n)
{
	const unsigned wait = SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
	unsigned long i;

	for (i = 0; i < n; i++) {
		cc_make(c, &c->batch[i], 1);
		(void)sync_file_range(c->batch[i].cfd, 0, 0, SYNC_FILE_RANGE_WRITE);
		(void)sync_file_range(c->batch[i].efd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	for (i = 0; i < n; i++)
		if (sync_file_range(c->batch[i].cfd, 0, 0, wait) == -1 ||
		    sync_file_range(c->batch[i].efd, 0, 0, wait) == -1)
			cc_die("sync_file_range");
	if (syncfs(c->in) == -1)
		cc_die("syncfs");
	for (i = 0; i < n; i++)
		cc_close(&c->batch[i]);
}

static void
cc_cleanup(struct cc *c)
{
	char name[40];
	unsigned long i;
	int dir;

	for (i = 0; i < c->made; i++) {
		dir = (int)((((i + 1) * 2654435761u) >> 8) % CC_NDIR);
		snprintf(name, sizeof(name), "%012lu.msg", i);
		(void)unlinkat(c->out[dir], name, 0);
		snprintf(name, sizeof(name), "%012lu.env", i);
		(void)unlinkat(c->out[dir], name, 0);
	}
}

int
main(int argc, char *argv[])
{
	static struct cc c;
	void (*batch)(struct cc *, unsigned long);
	pthread_t helper;
	unsigned long n, secs;
	char name[8];
	double t0, t;
	int i, q;

	if (argc != 5 || (n = strtoul(argv[3], NULL, 10)) < 1 ||
	    n > CC_MAXBATCH || (secs = strtoul(argv[4], NULL, 10)) < 1 ||
	    secs > 3600) {
		fprintf(stderr, "usage: commitceil DIR fsync|parallel|syncfs|"
		    "syncfs2|onefile|onepar|waitfs "
		    "BATCH(1-%d) SECONDS(1-3600)\n", CC_MAXBATCH);
		return 1;
	}
	c.threads = 1;
	if (strcmp(argv[2], "fsync") == 0)
		batch = cc_batch_fsync;
	else if (strcmp(argv[2], "parallel") == 0) {
		batch = cc_batch_fsync;
		c.threads = CC_SYNCERS;
	} else if (strcmp(argv[2], "onepar") == 0) {
		batch = cc_batch_onefile;
		c.threads = CC_SYNCERS;
	}
	else if (strcmp(argv[2], "syncfs") == 0)
		batch = cc_batch_syncfs;
	else if (strcmp(argv[2], "syncfs2") == 0)
		batch = cc_batch_syncfs2;
	else if (strcmp(argv[2], "onefile") == 0)
		batch = cc_batch_onefile;
	else if (strcmp(argv[2], "waitfs") == 0)
		batch = cc_batch_waitfs;
	else {
		fprintf(stderr, "commitceil: unknown mode %s\n", argv[2]);
		return 1;
	}
	memset(c.content, 'x', sizeof(c.content));
	memset(c.env, 'e', sizeof(c.env));
	if ((i = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		cc_die(argv[1]);
	c.in = cc_opendir(i, "incoming");
	q = cc_opendir(i, "queue");
	for (i = 0; i < CC_NDIR; i++) {
		snprintf(name, sizeof(name), "%02X", i);
		c.out[i] = cc_opendir(q, name);
	}
	for (i = 1; i < c.threads; i++)
		if ((errno = pthread_create(&helper, NULL, cc_helper, NULL)) != 0)
			cc_die("pthread_create");
	t0 = cc_now();
	t = t0;
	while (t - t0 < (double)secs) {
		batch(&c, n);
		t = cc_now();
	}
	printf("%s %lu %lu %.3f %.1f\n", argv[2], n, c.made, t - t0,
	    (double)c.made / (t - t0));
	cc_cleanup(&c);
	return 0;
}
