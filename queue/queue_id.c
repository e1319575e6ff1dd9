/*
 * queue_id.c - unique, time-sortable queue IDs and their folder hash.
 *
 * An ID is the 64-bit value max(last + 1, usec << 12) printed as %016llX:
 * the low 12 bits count IDs made within one microsecond, the high bits are
 * the time, so the order of IDs is the order in which they were made.
 * The folder of a message is a slice of that time (queue_id_folder); the
 * hash (FNV-1a folded to 8 bits) spreads IDs over the buckets of tables
 * in memory.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "queue/queue_id.h"

static uint64_t queue_id_last;

void
queue_id_new_at(uint64_t usec, char id[QUEUE_ID_SIZE])
{
	uint64_t	v;

	v = usec << 12;
	if (v <= queue_id_last)
		v = queue_id_last + 1;
	queue_id_last = v;
	if (!bsnprintf(id, QUEUE_ID_SIZE, "%016llX", (unsigned long long)v))
		fatalx("queue_id_new: id does not fit");
}

void
queue_id_new(char id[QUEUE_ID_SIZE])
{
	struct timespec	ts;
	uint64_t	usec;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("clock_gettime");
	usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	queue_id_new_at(usec, id);
}

int
queue_id_valid(const char *s)
{
	size_t	i;

	for (i = 0; i < QUEUE_ID_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return s[QUEUE_ID_LEN] == '\0';
}

unsigned
queue_id_folder(const char *id)
{
	return (unsigned)(queue_id_value(id) >> QUEUE_ID_SLICE) &
	    (QUEUE_ID_NHASH - 1);
}

unsigned
queue_id_hash(const char *id)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < QUEUE_ID_LEN && id[i] != '\0'; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	return (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) & (QUEUE_ID_NHASH - 1);
}

uint64_t
queue_id_value(const char *id)
{
	uint64_t	v = 0;
	size_t		i;
	int		c;

	for (i = 0; i < QUEUE_ID_LEN; i++) {
		c = (unsigned char)id[i];
		v = (v << 4) | (uint64_t)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	return v;
}

void
queue_id_seen(const char *id)
{
	uint64_t	v;

	if (!queue_id_valid(id))
		return;
	v = queue_id_value(id);
	if (v > queue_id_last)
		queue_id_last = v;
}

uint64_t
queue_id_floor(void)
{
	return queue_id_last;
}
