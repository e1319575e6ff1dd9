/*
 * postdrop.c - strictmail-postdrop, the only setgid program of strictmail
 * (group _sm-drop, maildrop-group): it writes its standard input, one
 * maildrop file (queue/maildrop.h), into SPOOL/maildrop/ and nothing else.
 *
 * It trusts nothing of its caller: the environment is cleared first, no
 * path comes from the environment or the arguments (it takes none; only
 * when it runs without privilege, real gid == effective gid, may "-C
 * FILE" name another configuration, for tests and unprivileged
 * installs), the configuration is read only for "spool" and
 * "max-message-size", the input must start with the maildrop magic and
 * is at most MAILDROP_HEAD_MAX + max-message-size octets.  The file's
 * owner (the caller's uid) is the submitter; the pickup checks the rest.
 * Exit codes: sysexits (0, 64 usage, 65 data, 73 cannot create, 75
 * temporary, 78 configuration), with a line on stderr.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/config.h"
#include "ctl/maildrop_write.h"

#ifdef __SANITIZE_ADDRESS__
/*
 * The sanitizer build: LeakSanitizer cannot inspect a setgid process (it
 * is not dumpable) and would turn every exit into a failure, and the
 * environment that could turn it off is cleared by whoever runs us.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

#ifndef SM_SYSCONFDIR
#define SM_SYSCONFDIR	"/etc/strictmail"
#endif
#define POSTDROP_CONF	SM_SYSCONFDIR "/strictmail.conf"

static int
postdrop_fail(int code, const char *msg)
{
	fprintf(stderr, "strictmail-postdrop: %s\n", msg);
	return code;
}

/* Descriptors 0, 1 and 2 open, so the file written never becomes one. */
static int
postdrop_std_fds(void)
{
	int	fd;

	for (;;) {
		if ((fd = open("/dev/null", O_RDWR)) == -1)
			return -1;
		if (fd > STDERR_FILENO) {
			(void)close(fd);
			return 0;
		}
	}
}

/* The configuration to read: the compiled-in one, or -C FILE when the
 * program runs without privilege.  NULL after a usage error. */
static const char *
postdrop_conf(int argc, char **argv)
{
	if (argc <= 1)
		return POSTDROP_CONF;
	if (getgid() == getegid() && argc == 3 && strcmp(argv[1], "-C") == 0)
		return argv[2];
	return NULL;
}

/* spool and max-message-size; a missing file means the defaults. */
static int
postdrop_config(const char *path, struct config *cfg)
{
	struct stat	st;
	char		err[1024];

	config_init(cfg);
	if (stat(path, &st) == -1 && errno == ENOENT)
		return 0;
	if (config_load(cfg, path, err, sizeof(err)) == -1)
		return postdrop_fail(EX_CONFIG, err);
	return 0;
}

int
main(int argc, char **argv)
{
	struct maildrop_write	 w;
	struct config		 cfg;
	const char		*path;
	char			 err[1300];
	int			 rc;

	if (clearenv() != 0)
		return EX_OSERR;
	if (postdrop_std_fds() == -1)
		return EX_OSERR;
	/* A file size limit of the caller makes write fail, not kill us. */
	(void)signal(SIGXFSZ, SIG_IGN);
	if ((path = postdrop_conf(argc, argv)) == NULL)
		return postdrop_fail(EX_USAGE, "takes no arguments (its input "
		    "is one maildrop file)");
	if ((rc = postdrop_config(path, &cfg)) != 0)
		return rc;
	if ((rc = maildrop_write_open(&w, cfg.spool, err, sizeof(err))) != 0)
		return postdrop_fail(rc, err);
	if ((rc = maildrop_write_copy(&w, STDIN_FILENO,
	    maildrop_write_limit(cfg.max_message_size), err, sizeof(err))) !=
	    0) {
		maildrop_write_abort(&w);
		return postdrop_fail(rc, err);
	}
	if ((rc = maildrop_write_commit(&w, err, sizeof(err))) != 0)
		return postdrop_fail(rc, err);
	return 0;
}
