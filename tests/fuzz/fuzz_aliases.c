/*
 * fuzz_aliases.c - libFuzzer target for the aliases(5) and virtual source
 * parsers and the target list reader (lookup/aliases.h).
 *
 * The input's first byte picks the format (bit 0: virtual); the rest is a
 * source file.  Beyond the sanitizers it checks what the header promises:
 * an error is "fuzz:LINE: what" with a line of the input; an entry has a
 * lower-case key and 1 to ALIASES_TARGETS_MAX targets of a known kind,
 * none of them a relative path; its stored value splits back to the same
 * targets.  Each line of the input is also given to aliases_split, and a
 * list that parses formats and parses again to the same targets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "lookup/aliases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long	fuzz_lines;

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_aliases: %s (%.300s)\n", what, detail);
	abort();
}

static void
fuzz_same(const struct aliases_target *a, size_t na,
    const struct aliases_target *b, size_t nb, const char *text)
{
	size_t	i;

	if (na != nb)
		fuzz_fail("a different number of targets back", text);
	for (i = 0; i < na; i++)
		if (a[i].kind != b[i].kind ||
		    strcmp(a[i].value, b[i].value) != 0)
			fuzz_fail("a different target back", text);
}

static void
fuzz_check_targets(const struct aliases_target *t, size_t n,
    const char *text)
{
	size_t	i;

	if (n == 0 || n > ALIASES_TARGETS_MAX)
		fuzz_fail("a target count out of bounds", text);
	for (i = 0; i < n; i++) {
		if ((t[i].kind == ALIAS_T_FILE || t[i].kind ==
		    ALIAS_T_INCLUDE) && t[i].value[0] != '/')
			fuzz_fail("a relative path accepted", t[i].value);
		if (t[i].kind == ALIAS_T_NAME && strchr(t[i].value, '/'))
			fuzz_fail("a name with a slash", t[i].value);
		if (t[i].value[0] == '\0')
			fuzz_fail("an empty target", text);
	}
}

/* Formats the targets as the map stores them and splits them again. */
static void
fuzz_roundtrip(const struct aliases_target *t, size_t n, const char *text)
{
	struct aliases_target	*u;
	struct buf		 b;
	char			 err[256];
	size_t			 m, i;

	buf_init(&b);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addstr(&b, ", ");
		aliases_target_format(&t[i], &b);
	}
	buf_addch(&b, '\0');
	if (aliases_split(b.data, &u, &m, err, sizeof(err)) != 0)
		fuzz_fail("a formatted list does not parse", text);
	fuzz_same(t, n, u, m, b.data);
	aliases_targets_free(u, m);
	buf_free(&b);
}

static int
fuzz_entry(void *arg, const struct aliases_entry *e, char *err,
    size_t errlen)
{
	struct aliases_target	*u;
	const char		*k;
	char			 serr[256];
	size_t			 m;

	(void)arg;
	(void)err;
	(void)errlen;
	if (e->key[0] == '\0' || e->line == 0 || e->line > fuzz_lines)
		fuzz_fail("an empty key or a line out of the input", e->key);
	for (k = e->key; *k != '\0'; k++)
		if (*k >= 'A' && *k <= 'Z')
			fuzz_fail("a key not lower-cased", e->key);
	fuzz_check_targets(e->targets, e->ntargets, e->value);
	if (aliases_split(e->value, &u, &m, serr, sizeof(serr)) != 0)
		fuzz_fail("a stored value does not split", e->value);
	fuzz_same(e->targets, e->ntargets, u, m, e->value);
	aliases_targets_free(u, m);
	return 0;
}

static void
fuzz_error(const char *err)
{
	unsigned long	line;
	char		*end;

	if (strncmp(err, "fuzz:", 5) != 0)
		fuzz_fail("an error without the file name", err);
	line = strtoul(err + 5, &end, 10);
	if (end == err + 5 || *end != ':' || line == 0 || line > fuzz_lines)
		fuzz_fail("an error without a line of the input", err);
}

/* Each line (up to 4 KiB of it) as a target list. */
static void
fuzz_split_lines(const char *text, size_t len)
{
	struct aliases_target	*t;
	char			 line[4097], err[256];
	size_t			 i = 0, n, k;

	while (i < len) {
		for (k = 0; i < len && text[i] != '\n'; i++)
			if (k < sizeof(line) - 1 && text[i] != '\0')
				line[k++] = text[i];
		line[k] = '\0';
		i++;
		if (aliases_split(line, &t, &n, err, sizeof(err)) != 0)
			continue;
		fuzz_check_targets(t, n, line);
		fuzz_roundtrip(t, n, line);
		aliases_targets_free(t, n);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum aliases_format	 fmt;
	const char		*text;
	char			 err[1024];
	size_t			 i;

	if (size < 1)
		return 0;
	fmt = (data[0] & 1) ? ALIASES_VIRTUAL : ALIASES_ALIASES;
	text = (const char *)data + 1;
	size--;
	fuzz_lines = 1;
	for (i = 0; i < size; i++)
		fuzz_lines += text[i] == '\n';
	if (aliases_parse_buf("fuzz", text, size, fmt, fuzz_entry, NULL, err,
	    sizeof(err)) != 0)
		fuzz_error(err);
	fuzz_split_lines(text, size);
	return 0;
}
