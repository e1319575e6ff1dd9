/*
 * test_queue_id.c - unit tests of queue/queue_id.c: IDs strictly increase
 * (also within one microsecond and when the clock steps back), are valid
 * and carry their time; the folder hash stays in range and spreads; the
 * validator rejects every wrong length and character.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "queue/queue_id.h"

#define NIDS	10000

static void
test_ids_increase(void **state)
{
	char		prev[QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];
	int		i;

	(void)state;
	queue_id_new(prev);
	assert_true(queue_id_valid(prev));
	for (i = 0; i < NIDS; i++) {
		queue_id_new(id);
		if (!queue_id_valid(id))
			fail_msg("id %d '%s' is not valid", i, id);
		assert_int_equal(strlen(id), QUEUE_ID_LEN);
		if (strcmp(prev, id) >= 0)
			fail_msg("id %d: '%s' does not follow '%s'", i, id,
			    prev);
		memcpy(prev, id, sizeof(id));
	}
}

static void
test_same_microsecond_and_clock_back(void **state)
{
	char		prev[QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];
	uint64_t	usec = (uint64_t)time(NULL) * 1000000 + 5000000;
	int		i;

	(void)state;
	queue_id_new_at(usec, prev);
	for (i = 0; i < 5000; i++) {	/* more than 4096 in one microsecond */
		queue_id_new_at(usec, id);
		if (strcmp(prev, id) >= 0)
			fail_msg("same usec, id %d: '%s' after '%s'", i, id,
			    prev);
		memcpy(prev, id, sizeof(id));
	}
	queue_id_new_at(usec - 60 * 1000000ull, id);	/* clock stepped back */
	if (strcmp(prev, id) >= 0)
		fail_msg("clock back: '%s' after '%s'", id, prev);
	memcpy(prev, id, sizeof(id));
	queue_id_new(id);
	if (strcmp(prev, id) >= 0)
		fail_msg("after clock back: '%s' after '%s'", id, prev);
}

static void
test_seen(void **state)
{
	char	id[QUEUE_ID_SIZE];

	(void)state;
	queue_id_seen("F000000000000000");
	queue_id_new(id);
	assert_string_equal(id, "F000000000000001");
	queue_id_seen("not an id");		/* ignored */
	queue_id_new(id);
	assert_string_equal(id, "F000000000000002");
}

static void
test_hash(void **state)
{
	char		id[QUEUE_ID_SIZE];
	int		used[QUEUE_ID_NHASH] = { 0 };
	unsigned	h;
	int		i, n = 0;

	(void)state;
	for (i = 0; i < NIDS; i++) {
		queue_id_new(id);
		h = queue_id_hash(id);
		if (h >= QUEUE_ID_NHASH)
			fail_msg("hash of %s is %u", id, h);
		if (!used[h]++)
			n++;
		assert_int_equal(h, queue_id_hash(id));
	}
	/* Consecutive IDs must not pile into a few buckets. */
	if (n < QUEUE_ID_NHASH - 8)
		fail_msg("%d ids used only %d of %d buckets", NIDS, n,
		    QUEUE_ID_NHASH);
	for (h = 0; h < QUEUE_ID_NHASH; h++)
		if (used[h] > 4 * NIDS / QUEUE_ID_NHASH)
			fail_msg("bucket %02X holds %d of %d ids", h, used[h],
			    NIDS);
}

/* The first ID made at usec (as queue_id_new_at makes it, without the
 * order of earlier IDs). */
static void
id_at(uint64_t usec, char id[QUEUE_ID_SIZE])
{
	snprintf(id, QUEUE_ID_SIZE, "%016llX", (unsigned long long)(usec << 12));
}

/*
 * The folder is the 131 ms slice of the ID's time modulo 256: IDs made
 * together share one (one fsync of it covers a group commit), the next
 * slice takes the next folder, and an hour of mail at one message a
 * second fills every folder alike.
 */
static void
test_folder(void **state)
{
	char		a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];
	int		used[QUEUE_ID_NHASH] = { 0 };
	uint64_t	t0 = 1700000000ULL * 1000000, slice = 1ULL << 17;
	unsigned	f;
	int		i;

	(void)state;
	t0 -= t0 % slice;
	id_at(t0 + 5, a);
	id_at(t0 + slice - 1, b);
	assert_int_equal(queue_id_folder(a), queue_id_folder(b));
	id_at(t0 + slice, b);
	assert_int_equal(queue_id_folder(b), (queue_id_folder(a) + 1) % 256);
	id_at(t0 + 256 * slice + 5, b);
	assert_int_equal(queue_id_folder(b), queue_id_folder(a));
	for (i = 0; i < 3600; i++) {
		id_at(t0 + 1000000 * (uint64_t)(i + 1000), a);
		f = queue_id_folder(a);
		if (f >= QUEUE_ID_NHASH)
			fail_msg("folder of %s is %u", a, f);
		used[f]++;
	}
	for (f = 0; f < QUEUE_ID_NHASH; f++)
		if (used[f] < 3600 / 256 - 2 || used[f] > 3600 / 256 + 2)
			fail_msg("folder %02X holds %d of 3600 ids", f,
			    used[f]);
}

static void
test_valid(void **state)
{
	static const char *bad[] = {
		"", "0", "0123456789ABCDE", "0123456789ABCDEF0",
		"0123456789abcdef", "0123456789ABCDEG", "0123456789ABCDE ",
		" 123456789ABCDEF", "0123456789ABCDE\n", "0123456789ABC.EF",
		"../../etc/passw", "0123456789ABCDEF/", "-123456789ABCDEF",
	};
	size_t	i;

	(void)state;
	assert_true(queue_id_valid("0123456789ABCDEF"));
	assert_true(queue_id_valid("FFFFFFFFFFFFFFFF"));
	assert_true(queue_id_valid("0000000000000000"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (queue_id_valid(bad[i]))
			fail_msg("'%s' accepted as a queue id", bad[i]);
	/* A NUL inside: the string is short. */
	assert_false(queue_id_valid("01234567\0" "9ABCDEF"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_increase),
		cmocka_unit_test(test_same_microsecond_and_clock_back),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
