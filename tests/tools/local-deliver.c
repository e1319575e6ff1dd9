/*
 * local-deliver - runs one local delivery agent of delivery/local.h with
 * the message on stdin (as queued: CRLF lines), in the current identity.
 *
 *   local-deliver mbox|file|maildir PATH [options] < message
 *   local-deliver pipe COMMAND [--timeout SECONDS] [options] < message
 *   local-deliver forward HOME [--uid UID]
 * options: --sender S (default: the null sender), --rcpt R (required),
 *          --hostname H, --arrival EPOCH-SECONDS, --lock-wait SECONDS,
 *          --dotlock-stale SECONDS, --delimiter D,
 *          --crlf (turn LF line ends of stdin into CRLF first)
 * Prints "STATUS ENH TEXT" (STATUS: OK, TEMP or PERM); forward prints
 * "target: T" for each target first.  Exit 0 OK, 75 TEMP, 1 PERM, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "delivery/local.h"

struct opts {
	const char	*agent, *target;
	const char	*sender, *rcpt, *hostname;
	uint64_t	 arrival, timeout, uid;
	int		 crlf;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: local-deliver mbox|file|maildir PATH "
	    "[options] < message\n"
	    "       local-deliver pipe COMMAND [--timeout S] [options] "
	    "< message\n"
	    "       local-deliver forward HOME [--uid UID]\n"
	    "options: --sender S --rcpt R --hostname H --arrival T "
	    "--lock-wait S --dotlock-stale S --delimiter D --crlf\n");
	exit(2);
}

static uint64_t
num(const char *s, uint64_t max)
{
	uint64_t	v;

	if (parse_u64(s, 0, max, &v) == -1)
		usage();
	return v;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int	i;

	if (argc < 3)
		usage();
	o->agent = argv[1];
	o->target = argv[2];
	for (i = 3; i < argc; i++) {
		const char	*k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(k, "--crlf") == 0) {
			o->crlf = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(k, "--sender") == 0)
			o->sender = v;
		else if (strcmp(k, "--rcpt") == 0)
			o->rcpt = v;
		else if (strcmp(k, "--hostname") == 0)
			o->hostname = v;
		else if (strcmp(k, "--arrival") == 0)
			o->arrival = num(v, INT32_MAX);
		else if (strcmp(k, "--timeout") == 0)
			o->timeout = num(v, 86400);
		else if (strcmp(k, "--uid") == 0)
			o->uid = num(v, UINT32_MAX);
		else if (strcmp(k, "--lock-wait") == 0)
			local_config.lock_wait = (unsigned int)num(v, 86400);
		else if (strcmp(k, "--dotlock-stale") == 0)
			local_config.dotlock_stale = (unsigned int)num(v, 86400);
		else if (strcmp(k, "--delimiter") == 0) {
			if (strlcpy(local_config.delimiter, v,
			    sizeof(local_config.delimiter)) >=
			    sizeof(local_config.delimiter))
				usage();
		} else
			usage();
	}
}

/* stdin as a file we can pread: itself when it is one, else a copy. */
static int
message_fd(int crlf, uint64_t *size)
{
	char		 tmpl[] = "/tmp/local-deliver.XXXXXX", in[65536];
	struct stat	 st;
	struct buf	 b;
	ssize_t		 n, i;
	int		 fd;
	char		 prev = 0;

	if (!crlf && fstat(0, &st) == 0 && S_ISREG(st.st_mode) &&
	    lseek(0, 0, SEEK_CUR) == 0) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if ((fd = mkstemp(tmpl)) == -1)
		fatal("mkstemp");
	unlink(tmpl);
	buf_init(&b);
	*size = 0;
	while ((n = read(0, in, sizeof(in))) > 0) {
		buf_reset(&b);
		for (i = 0; i < n; i++) {
			if (crlf && in[i] == '\n' && prev != '\r')
				buf_addch(&b, '\r');
			buf_addch(&b, in[i]);
			prev = in[i];
		}
		if (write_all(fd, b.data, b.len) == -1)
			fatal("write");
		*size += b.len;
	}
	if (n == -1)
		fatal("read stdin");
	buf_free(&b);
	return fd;
}

static int
exit_code(const struct local_result *res)
{
	printf("%s %s %s\n", local_status_name(res->status), res->enh,
	    res->text);
	return res->status == LOCAL_OK ? 0 : res->status == LOCAL_TEMP ? 75 : 1;
}

static int
run_forward(const struct opts *o)
{
	struct local_result	  res;
	char			**t;
	size_t			  n, i;

	local_forward_read(o->target, (uid_t)o->uid, &t, &n, &res);
	for (i = 0; i < n; i++)
		printf("target: %s\n", t[i]);
	local_forward_free(t, n);
	return exit_code(&res);
}

int
main(int argc, char **argv)
{
	struct opts		o;
	struct local_msg	lm;
	struct local_result	res;
	char			host[256];

	memset(&o, 0, sizeof(o));
	o.sender = "";
	o.uid = getuid();
	o.arrival = (uint64_t)time(NULL);
	parse_opts(argc, argv, &o);
	if (strcmp(o.agent, "forward") == 0)
		return run_forward(&o);
	if (o.rcpt == NULL)
		usage();
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	memset(&lm, 0, sizeof(lm));
	lm.fd = message_fd(o.crlf, &lm.size);
	lm.sender = o.sender;
	lm.rcpt = o.rcpt;
	lm.hostname = o.hostname != NULL ? o.hostname : host;
	lm.arrival = (time_t)o.arrival;
	if (strcmp(o.agent, "mbox") == 0)
		local_mbox_deliver(&lm, o.target, &res);
	else if (strcmp(o.agent, "file") == 0)
		local_file_deliver(&lm, o.target, &res);
	else if (strcmp(o.agent, "maildir") == 0)
		local_maildir_deliver(&lm, o.target, &res);
	else if (strcmp(o.agent, "pipe") == 0)
		local_pipe_deliver(&lm, o.target, (unsigned int)o.timeout,
		    &res);
	else
		usage();
	return exit_code(&res);
}
