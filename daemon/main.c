/*
 * main.c - strictmaild's command line: options, the configuration, and
 * the four things it does besides running (-n check, -T spool table,
 * -I write a local configuration, -V version).  Running is parent_run()'s job.
 * Exit statuses follow sysexits(3): 78 for a bad configuration, 73 when
 * a file or the spool cannot be made, 71 for system errors, 64 for usage.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"
#include "daemon/parent.h"
#include "daemon/startup.h"
#include "daemon/version.h"
#include "queue/queue_fs.h"

#define MAIN_DEFAULT_CONF	"/etc/strictmail/strictmail.conf"

struct main_options {
	const char		*conf;
	int			 conf_given;	/* -f was used */
	int			 check;		/* -n */
	int			 table;		/* -T */
	const char		*init_dir;	/* -I */
	struct parent_options	 run;
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "strictmail " SM_VERSION "\n"
	    "usage: strictmaild [-dnuv] [-f file]\n"
	    "       strictmaild -T [-f file]\n"
	    "       strictmaild -I dir\n"
	    "       strictmaild -V\n"
	    "  -f file  configuration (default " MAIN_DEFAULT_CONF ")\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -v       verbose logging\n"
	    "  -n       check the configuration and exit\n"
	    "  -u       unprivileged: no user change and no chroot, even as "
	    "root\n"
	    "  -T       print the spool's directories, owners and modes\n"
	    "  -I dir   write dir/strictmail.conf for a local run\n"
	    "  -V       print the version and exit\n"
	    "  -h       this help\n");
}

/* Parses argv into mo; returns -1 to exit with status *rc. */
static int
main_options(int argc, char *argv[], struct main_options *mo, int *rc)
{
	int	ch;

	memset(mo, 0, sizeof(*mo));
	mo->conf = MAIN_DEFAULT_CONF;
	while ((ch = getopt(argc, argv, "f:dvnuTI:Vh")) != -1) {
		switch (ch) {
		case 'f':
			mo->conf = optarg;
			mo->conf_given = 1;
			break;
		case 'd':
			mo->run.foreground = 1;
			break;
		case 'v':
			mo->run.verbose = 1;
			break;
		case 'n':
			mo->check = 1;
			break;
		case 'u':
			mo->run.unprivileged = 1;
			break;
		case 'T':
			mo->table = 1;
			break;
		case 'I':
			mo->init_dir = optarg;
			break;
		case 'V':
			printf("strictmail %s\n", SM_VERSION);
			*rc = 0;
			return -1;
		case 'h':
			main_usage(stdout);
			*rc = 0;
			return -1;
		default:
			main_usage(stderr);
			*rc = EX_USAGE;
			return -1;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		*rc = EX_USAGE;
		return -1;
	}
	return 0;
}

/* ---- -I dir ---- */

/* Creates dir when missing and makes it absolute into abs. */
static int
main_init_path(const char *dir, char *abs)
{
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "strictmaild: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (realpath(dir, abs) == NULL) {
		fprintf(stderr, "strictmaild: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Checks that the text written is a configuration strictmaild accepts. */
static int
main_init_verify(const char *path, const char *text)
{
	struct config	cfg;
	char		err[1024];
	int		rc;

	config_init(&cfg);
	rc = config_parse(&cfg, path, text, strlen(text), err, sizeof(err));
	config_free(&cfg);
	if (rc == -1)
		fprintf(stderr, "strictmaild: internal error: %s\n", err);
	return rc;
}

static int
main_init_write(const char *path, const char *text)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		if (errno == EEXIST)
			fprintf(stderr, "strictmaild: %s exists: not "
			    "overwritten\n", path);
		else
			fprintf(stderr, "strictmaild: %s: %s\n", path,
			    strerror(errno));
		return -1;
	}
	if (write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		fprintf(stderr, "strictmaild: %s: %s\n", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	if (close(fd) == -1) {
		fprintf(stderr, "strictmaild: %s: %s\n", path, strerror(errno));
		(void)unlink(path);
		return -1;
	}
	return 0;
}

static int
main_init(const char *dir)
{
	char	 abs[PATH_MAX], path[PATH_MAX + 32], host[256], err[1024];
	char	*text;
	int	 rc = EX_CANTCREAT;

	if (main_init_path(dir, abs) == -1)
		return EX_CANTCREAT;
	if (!bsnprintf(path, sizeof(path), "%s/strictmail.conf",
	    strcmp(abs, "/") == 0 ? "" : abs)) {
		fprintf(stderr, "strictmaild: %s: path too long\n", abs);
		return EX_CANTCREAT;
	}
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if ((text = config_default_text(abs, host, err, sizeof(err))) == NULL) {
		fprintf(stderr, "strictmaild: %s\n", err);
		return EX_CANTCREAT;
	}
	if (main_init_verify(path, text) == -1)
		rc = EX_SOFTWARE;
	else if (main_init_write(path, text) == 0) {
		printf("strictmaild: wrote %s\n", path);
		rc = 0;
	}
	free(text);
	return rc;
}

/* ---- the configuration ---- */

/*
 * Loads the configuration; -T may run before any configuration exists
 * (make install), so it takes the defaults when the default file is
 * missing.
 */
static int
main_load(const struct main_options *mo, struct config *cfg)
{
	char		err[1024];
	struct stat	st;

	if (mo->table && !mo->conf_given && stat(mo->conf, &st) == -1 &&
	    errno == ENOENT) {
		config_finish(cfg);
		return 0;
	}
	if (config_load(cfg, mo->conf, err, sizeof(err)) == -1) {
		if (mo->check || mo->table)
			fprintf(stderr, "strictmaild: %s\n", err);
		else
			parent_error(mo->run.foreground, "%s", err);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct main_options	mo;
	struct config		cfg;
	char			err[1024];
	int			rc = 0, fg;

	if (main_options(argc, argv, &mo, &rc) == -1)
		return rc;
	if (mo.init_dir != NULL)
		return main_init(mo.init_dir);
	/* -n and -T answer on the terminal; running uses syslog unless -d. */
	fg = mo.run.foreground || mo.check || mo.table;
	log_init("strictmaild", fg, mo.run.verbose);
	config_init(&cfg);
	if (main_load(&mo, &cfg) == -1) {
		config_free(&cfg);
		return EX_CONFIG;
	}
	if (mo.check && (startup_check(&cfg, privsep_is_root() &&
	    !mo.run.unprivileged, err, sizeof(err)) == -1 ||
	    parent_check_tls(&cfg, err, sizeof(err)) == -1)) {
		fprintf(stderr, "strictmaild: %s\n", err);
		rc = EX_CONFIG;
	} else if (mo.check)
		printf("%s: configuration OK\n", mo.conf);
	else if (mo.table)
		queue_fs_print_table(cfg.user_queue, cfg.user_delivery,
		    cfg.maildrop_group);
	else {
		log_info("starting strictmail %s", SM_VERSION);
		rc = parent_run(&cfg, &mo.run);
	}
	config_free(&cfg);
	return rc;
}
