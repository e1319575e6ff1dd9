/*
 * lmtp-send - hands a message to an LMTP server with delivery/lmtp.h, the
 * way local delivery does, and prints one line per recipient, in the
 * order given:
 *   RCPT ok|temp|perm ENH TEXT
 *
 *   lmtp-send [-f SENDER] [-H HOSTNAME] [-t SECONDS] SPEC FILE RCPT...
 *     SPEC  unix:/path or host:port
 *     FILE  the content as queued (CRLF lines), sent as it is
 *     -f    envelope sender (default: none, the null sender)
 *     -H    LHLO name (default: localhost)
 *     -t    timeout of each wait (default 30)
 * Exit status 0 when every recipient got its line, 2 on a usage or setup
 * error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "delivery/lmtp.h"

static void
usage(void)
{
	fprintf(stderr, "usage: lmtp-send [-f SENDER] [-H HOSTNAME] "
	    "[-t SECONDS] SPEC FILE RCPT...\n");
	exit(2);
}

static const char *
status_name(enum local_status st)
{
	switch (st) {
	case LOCAL_OK:
		return "ok";
	case LOCAL_TEMP:
		return "temp";
	case LOCAL_PERM:
		return "perm";
	}
	return "?";
}

int
main(int argc, char *argv[])
{
	struct local_msg	 lm;
	struct local_result	*res;
	struct stat		 st;
	uint64_t		 t = 30;
	const char		*sender = "", *host = "localhost";
	size_t			 n, i;
	int			 ch;

	while ((ch = getopt(argc, argv, "f:H:t:")) != -1) {
		switch (ch) {
		case 'f':
			sender = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 't':
			if (parse_u64(optarg, 1, 3600, &t) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3)
		usage();
	memset(&lm, 0, sizeof(lm));
	if ((lm.fd = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(lm.fd, &st) < 0) {
		perror(argv[1]);
		return 2;
	}
	lm.size = (uint64_t)st.st_size;
	lm.sender = sender;
	lm.rcpt = "";
	lm.hostname = host;
	lm.arrival = time(NULL);
	n = (size_t)argc - 2;
	res = xcalloc(n, sizeof(*res));
	(void)lmtp_deliver(argv[0], &lm, (const char *const *)(argv + 2), n,
	    (unsigned)t, res);
	for (i = 0; i < n; i++)
		printf("%s %s %s %s\n", argv[2 + i], status_name(res[i].status),
		    res[i].enh, res[i].text);
	free(res);
	(void)close(lm.fd);
	return fflush(stdout) == 0 ? 0 : 2;
}
