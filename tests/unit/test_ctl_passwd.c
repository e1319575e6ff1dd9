/*
 * test_ctl_passwd.c - unit tests of strictmailctl passwd's file edit and
 * update (ctl/ctl_passwd.c): one user's line set, every other line kept,
 * an invalid result refused with the file as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/ctl_passwd.h"

#define HY "$y$j9T$abcdefghijklmnopqrstu.$b3VbA.N.4zA4K0aenb4UAwy.Jg9xh1ecEIk" \
	"jR/EbnUD"
#define H6 "$6$saltsalt$zM85MwF7wzNFxhHekCkSASe1NaC/xUx1S2eoXlbcx1w6LkHRO4n1" \
	"DK7q.d/HKoYFUjJ10GWDs5jLq2A53OAzU1"

static void
edit_case(const char *src, const char *user, const char *want, int wadded)
{
	char	*got;
	int	 added = -1;

	got = ctl_passwd_edit(src, strlen(src), user, "H", &added);
	if (strcmp(got, want) != 0 || added != wadded)
		fail_msg("edit of \"%s\" for %s: want \"%s\" (added %d), got "
		    "\"%s\" (added %d)", src, user, want, wadded, got, added);
	free(got);
}

static void
test_edit(void **state)
{
	(void)state;
	edit_case("", "alice", "alice:H\n", 1);
	edit_case("# c\n\nbob:X\n", "Alice", "# c\n\nbob:X\nalice:H\n", 1);
	edit_case("# c\nALICE:X\nbob:Y", "alice", "# c\nalice:H\nbob:Y\n", 0);
	edit_case(" alice:X\nbob:Y\nalice:Z\n", "alice", "alice:H\nbob:Y\n",
	    0);
	edit_case("# alice:X\n", "alice", "# alice:X\nalice:H\n", 1);
	edit_case("alicex:X\n", "alice", "alicex:X\nalice:H\n", 1);
}

static void
test_update(void **state)
{
	char		 dir[] = "/tmp/test_ctl_passwd.XXXXXX", path[64], err[512];
	char		 text[1024];
	struct stat	 st;
	FILE		*f;
	size_t		 n;
	int		 added;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)bsnprintf(path, sizeof(path), "%s/passwd", dir);
	assert_int_equal(ctl_passwd_update(path, "alice", HY, &added, NULL,
	    NULL, err, sizeof(err)), 0);
	assert_int_equal(added, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_non_null(f = fopen(path, "a"));
	fputs("bob:" H6 "\nbad line\n", f);
	fclose(f);
	/* Another line is wrong: nothing written, the line named. */
	assert_int_equal(ctl_passwd_update(path, "alice", H6, &added, NULL,
	    NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/passwd:3: missing colon"));
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_string_equal(text, "alice:" HY "\nbob:" H6 "\nbad line\n");
	assert_int_equal(ctl_passwd_update(path, "al ice", H6, &added, NULL,
	    NULL, err, sizeof(err)), -1);
	assert_int_equal(ctl_passwd_update(path, "alice", "clear", &added,
	    NULL, NULL, err, sizeof(err)), -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edit),
		cmocka_unit_test(test_update),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
