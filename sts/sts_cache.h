/*
 * sts_cache.h - the MTA-STS policy cache on disk: one Berkeley DB 5.3
 * file in the delivery process's state folder (its chroot), one record
 * per policy domain (sts_state.h gives the record's form).  Rule 27: it
 * survives restarts, only the delivery process writes it, and a crash at
 * any moment (SIGKILL during a write) leaves a readable cache holding
 * either the old or the new record of every domain.
 *
 * Calls block on the local disk only (never on the network); they are
 * made from the delivery process's event loop.
 */
#ifndef SM_STS_CACHE_H
#define SM_STS_CACHE_H

#include <stddef.h>

#include "sts/sts_state.h"

struct sts_cache;

/*
 * Opens (creating when missing) the cache in folder dir (an absolute
 * path, or relative to the current folder after chroot).  NULL with
 * "PATH: reason" in err.  A file that cannot be read as a cache is moved
 * aside (to NAME.corrupt-TIME) with a warning and a new one made: a lost
 * cache loses no mail, it only costs fetches.
 */
struct sts_cache *sts_cache_open(const char *dir, char *err, size_t errlen);
void sts_cache_close(struct sts_cache *c);

/* 1 with e filled (release with sts_entry_free), 0 when the domain has
 * no entry (or an unreadable one: logged, treated as none), -1 on error. */
int sts_cache_get(struct sts_cache *c, const char *domain,
    struct sts_entry *e);
/* Writes e durably (synced before it returns); 0 or -1 (logged). */
int sts_cache_put(struct sts_cache *c, const struct sts_entry *e);
/* 1 removed, 0 there was none, -1 error. */
int sts_cache_del(struct sts_cache *c, const char *domain);
/* Calls cb for every readable entry, in key order; cb returns 0 to go
 * on.  cb must not change the cache: collect and act afterwards.
 * Returns the number of entries seen, or -1. */
int sts_cache_each(struct sts_cache *c,
    int (*cb)(const struct sts_entry *e, void *arg), void *arg);

#endif
