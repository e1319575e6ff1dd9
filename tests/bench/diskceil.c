/*
 * diskceil.c - the disk's ceiling for the spool's write pattern: how many
 * 1 KiB messages per second the file system under DIR can make durable.
 *
 *   diskceil DIR fsync  MAX SECONDS        per file: open O_CREAT|O_EXCL,
 *       write 1 KiB, fsync, close, rename into DIR/queue, fsync DIR/queue
 *   diskceil DIR syncfs MAX SECONDS BATCH  per batch of BATCH files: the
 *       same without the fsyncs, then one syncfs (group commit)
 *
 * Stops after MAX files or SECONDS seconds, whichever comes first, prints
 * "<mode> <batch> <files> <seconds> <files per second>", and removes its
 * files.  Exit 0, or 1 with a message on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DC_SIZE		1024
#define DC_NAME		64

struct dc {
	int		 in;		/* DIR/incoming */
	int		 out;		/* DIR/queue */
	char		 data[DC_SIZE];
	unsigned long	 made;		/* files renamed into queue */
};

static void
dc_die(const char *what)
{
	fprintf(stderr, "diskceil: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
dc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dc_number(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
dc_subdir(const char *dir, const char *name)
{
	char path[4096];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		dc_die(dir);
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		dc_die(path);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		dc_die(path);
	return fd;
}

/* Creates, writes and renames one file; fsyncs it first when asked. */
static void
dc_one(struct dc *d, int sync_file)
{
	char name[DC_NAME];
	int fd;

	snprintf(name, sizeof(name), "%08lu.msg", d->made);
	fd = openat(d->in, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		dc_die("openat");
	if (write(fd, d->data, sizeof(d->data)) != (ssize_t)sizeof(d->data))
		dc_die("write");
	if (sync_file && fsync(fd) == -1)
		dc_die("fsync");
	if (close(fd) == -1)
		dc_die("close");
	if (renameat(d->in, name, d->out, name) == -1)
		dc_die("renameat");
	d->made++;
}

static void
dc_cleanup(struct dc *d)
{
	char name[DC_NAME];
	unsigned long i;

	for (i = 0; i < d->made; i++) {
		snprintf(name, sizeof(name), "%08lu.msg", i);
		(void)unlinkat(d->out, name, 0);
	}
}

int
main(int argc, char *argv[])
{
	struct dc d;
	unsigned long max, secs, batch = 1, i;
	double t0, t;
	int use_syncfs;

	if (argc < 5 || argc > 6 ||
	    (strcmp(argv[2], "fsync") != 0 && strcmp(argv[2], "syncfs") != 0) ||
	    dc_number(argv[3], 1, 10000000, &max) == -1 ||
	    dc_number(argv[4], 1, 3600, &secs) == -1 ||
	    (argc == 6 && dc_number(argv[5], 1, 100000, &batch) == -1)) {
		fprintf(stderr, "usage: diskceil DIR fsync|syncfs MAX SECONDS [BATCH]\n");
		return 1;
	}
	use_syncfs = strcmp(argv[2], "syncfs") == 0;
	if (!use_syncfs)
		batch = 1;
	memset(&d, 0, sizeof(d));
	memset(d.data, 'x', sizeof(d.data));
	d.in = dc_subdir(argv[1], "incoming");
	d.out = dc_subdir(argv[1], "queue");

	t0 = dc_now();
	t = t0;
	while (d.made < max && t - t0 < (double)secs) {
		if (!use_syncfs) {
			dc_one(&d, 1);
			if (fsync(d.out) == -1)
				dc_die("fsync directory");
		} else {
			for (i = 0; i < batch && d.made < max; i++)
				dc_one(&d, 0);
			if (syncfs(d.out) == -1)
				dc_die("syncfs");
		}
		t = dc_now();
	}
	printf("%s %lu %lu %.3f %.1f\n", argv[2], batch, d.made, t - t0,
	    (double)d.made / (t - t0));
	dc_cleanup(&d);
	return 0;
}
