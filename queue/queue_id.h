/*
 * queue_id.h - queue IDs: 16 upper-case hex digits, unique within the
 * process and sortable by time.  The value is max(last + 1, microseconds
 * since the epoch << 12), so IDs made in the same microsecond, or after the
 * clock stepped back, still increase.  Files are created with O_EXCL, so a
 * clash with an ID of an earlier run (clock stepped back across a restart)
 * is noticed and the caller takes the next ID.  Not thread-safe: only the
 * queue process's event loop makes IDs.
 */
#ifndef SM_QUEUE_ID_H
#define SM_QUEUE_ID_H

#include <stdint.h>

#define QUEUE_ID_LEN	16			/* hex digits */
#define QUEUE_ID_SIZE	(QUEUE_ID_LEN + 1)	/* with the NUL */
#define QUEUE_ID_NHASH	256			/* folders queue/00..FF */
#define QUEUE_ID_SLICE	29	/* bits below the folder: 2^17 us, 131 ms */

/* Writes the next ID into id. */
void queue_id_new(char id[QUEUE_ID_SIZE]);
/* The same with the time given in microseconds since the epoch (tests). */
void queue_id_new_at(uint64_t usec, char id[QUEUE_ID_SIZE]);
/* Makes later IDs greater than id (an ID found in the spool at startup). */
void queue_id_seen(const char *id);
/* The greatest ID made or seen so far, as a number: every later ID is
 * greater.  queue_id_value: a valid ID as that number. */
uint64_t queue_id_floor(void);
uint64_t queue_id_value(const char *id);
/* 1 if s is exactly QUEUE_ID_LEN upper-case hex digits, else 0. */
int queue_id_valid(const char *s);
/*
 * 0 .. QUEUE_ID_NHASH - 1: the folder queue/%02X of the message: the
 * 131 ms slice of the time its ID was made, modulo 256.  Messages that
 * arrive together share a folder, so one fsync of it covers a whole
 * group commit; the slices go round all 256 folders every 33.5 s, so a
 * queue that fills over minutes or hours is spread evenly.
 */
unsigned queue_id_folder(const char *id);
/* 0 .. QUEUE_ID_NHASH - 1: a hash of the ID (FNV-1a) that spreads any
 * set of IDs evenly, for tables in memory. */
unsigned queue_id_hash(const char *id);

#endif
