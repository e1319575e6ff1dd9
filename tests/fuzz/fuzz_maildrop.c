/*
 * fuzz_maildrop.c - libFuzzer target for the reader of a maildrop file
 * (queue/maildrop.h): the input is a whole file as any local user can
 * write it.
 *
 * Beyond the sanitizers it checks: a refusal has a reason and leaves the
 * envelope empty; an accepted head ends on "data\n" inside the input and
 * the head limit, has 1 to MAILDROP_RCPT_MAX recipients without control
 * bytes, spaces or angle brackets, and bounded addresses; and the content
 * check gives the same answer fed in one piece or byte by byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_maildrop: %s\n", what);
	abort();
}

static void
fuzz_check_addr(const char *a)
{
	size_t	i, n = strlen(a);

	if (n > MAILDROP_ADDR_MAX)
		fuzz_fail("an address over MAILDROP_ADDR_MAX");
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= 0x20 || a[i] == 0x7f ||
		    a[i] == '<' || a[i] == '>')
			fuzz_fail("a bad byte in an accepted address");
}

static void
fuzz_check_env(const char *text, size_t len, const struct maildrop_env *e)
{
	size_t	i;

	if (e->data_off < 5 || e->data_off > len ||
	    e->data_off > MAILDROP_HEAD_MAX ||
	    memcmp(text + e->data_off - 5, "data\n", 5) != 0)
		fuzz_fail("the head does not end on data");
	if (e->nrcpts == 0 || e->nrcpts > MAILDROP_RCPT_MAX)
		fuzz_fail("recipient count out of range");
	for (i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i][0] == '\0')
			fuzz_fail("an empty recipient");
		fuzz_check_addr(e->rcpts[i]);
	}
	if (e->sender != NULL)
		fuzz_check_addr(e->sender);
	if (e->envid != NULL && strlen(e->envid) > MAILDROP_ENVID_MAX)
		fuzz_fail("envid too long");
}

static int
fuzz_content(const char *p, size_t n, size_t step)
{
	struct maildrop_check	st;
	char			err[128];
	size_t			i, k;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		if (maildrop_check_content(&st, p + i, k, err, sizeof(err)) ==
		    -1) {
			if (err[0] == '\0')
				fuzz_fail("a content refusal without reason");
			return -1;
		}
	}
	return maildrop_check_end(&st, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildrop_env	 e;
	const char		*text = (const char *)data;
	char			 err[256] = "";
	int			 a, b;

	if (maildrop_parse(text, size, &e, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			fuzz_fail("a refusal without reason");
		if (e.rcpts != NULL || e.sender != NULL || e.envid != NULL)
			fuzz_fail("a refusal left something allocated");
		a = fuzz_content(text, size, size > 0 ? size : 1);
		b = fuzz_content(text, size, 1);
		if (a != b)
			fuzz_fail("the content check depends on the pieces");
		return 0;
	}
	fuzz_check_env(text, size, &e);
	a = fuzz_content(text + e.data_off, size - e.data_off, size);
	b = fuzz_content(text + e.data_off, size - e.data_off, 1);
	if (a != b)
		fuzz_fail("the content check depends on the pieces");
	maildrop_env_free(&e);
	return 0;
}
