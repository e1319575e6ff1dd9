/*
 * fuzz_envelope.c - libFuzzer target for the envelope reader
 * (queue/envelope.h): the queue reads envelope files back at recovery and
 * for delivery, and a file on disk is outside input (a damaged disk, a
 * crash mid-write, an operator's editor).
 *
 * The input is the file's text.  Beyond the sanitizers it checks what
 * the header promises: an error leaves "line N: why" and an empty
 * envelope; an envelope that parses passes envelope_check, and written
 * back with envelope_serialize it parses again and writes the same text.
 * Only the public API of envelope.h is used, so that new keys need no
 * change here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_envelope: %s (%s)\n", what, err);
	abort();
}

static void
fuzz_check_empty(const struct envelope *env, const char *err)
{
	if (env->sender != NULL || env->helo != NULL || env->client != NULL ||
	    env->protocol != NULL || env->rcpts != NULL || env->nrcpt != 0)
		fuzz_fail("an error left the envelope filled", err);
}

/* A parsed envelope writes back to a text that parses to the same text. */
static void
fuzz_roundtrip(const struct envelope *env)
{
	struct envelope	 again;
	struct buf	 one, two;
	char		 err[256];

	if (envelope_check(env, err, sizeof(err)) == -1)
		fuzz_fail("a parsed envelope fails envelope_check", err);
	buf_init(&one);
	buf_init(&two);
	envelope_serialize(env, &one);
	if (envelope_parse((const char *)one.data, one.len, &again, err,
	    sizeof(err)) == -1)
		fuzz_fail("a serialized envelope does not parse", err);
	if (again.nrcpt != env->nrcpt || again.size != env->size ||
	    strcmp(again.id, env->id) != 0 ||
	    strcmp(again.sender, env->sender) != 0)
		fuzz_fail("a serialized envelope parses to another one", "");
	envelope_serialize(&again, &two);
	if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0)
		fuzz_fail("serialize(parse(serialize(e))) differs", "");
	envelope_free(&again);
	buf_free(&one);
	buf_free(&two);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	env;
	char		err[256];

	err[0] = '\0';
	if (envelope_parse((const char *)data, size, &env, err,
	    sizeof(err)) == -1) {
		if (strncmp(err, "line ", 5) != 0)
			fuzz_fail("an error that names no line", err);
		fuzz_check_empty(&env, err);
		envelope_free(&env);
		return 0;
	}
	if (env.nrcpt == 0)
		fuzz_fail("an envelope without recipients parsed", "");
	fuzz_roundtrip(&env);
	envelope_free(&env);
	fuzz_check_empty(&env, "after envelope_free");
	return 0;
}
