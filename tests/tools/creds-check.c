/*
 * creds-check.c - a test tool: checks a password against a compiled
 * credentials map with creds_check (lookup/creds.h).
 *
 *   creds-check MAP.db USER    the password: the first line of stdin
 *
 * Prints OK, BAD or TEMPFAIL (with the reason); exit 0, 1 or 75.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "lookup/creds.h"
#include "lookup/map.h"

int
main(int argc, char **argv)
{
	struct map		*m;
	enum creds_result	 r;
	char			 pw[CREDS_PASSWORD_MAX + 2], err[1024] = "";

	if (argc != 3) {
		fprintf(stderr, "usage: creds-check MAP.db USER < password\n");
		return EX_USAGE;
	}
	if (fgets(pw, sizeof(pw), stdin) == NULL)
		pw[0] = '\0';
	pw[strcspn(pw, "\n")] = '\0';
	if ((m = map_open(argv[1], err, sizeof(err))) == NULL) {
		printf("TEMPFAIL %s\n", err);
		return EX_TEMPFAIL;
	}
	r = creds_check(m, argv[2], pw, err, sizeof(err));
	map_close(m);
	switch (r) {
	case CREDS_OK:
		printf("OK\n");
		return 0;
	case CREDS_BAD:
		printf("BAD\n");
		return 1;
	case CREDS_TEMPFAIL:
		break;
	}
	printf("TEMPFAIL %s\n", err);
	return EX_TEMPFAIL;
}
