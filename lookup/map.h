/*
 * map.h - compiled maps: Berkeley DB 5.3 DB_HASH files (SRC.db) with
 * keys and values that carry their trailing NUL, the layout Postfix and
 * sendmail use.
 *
 * Writing is atomic: a map is built in SRC.db.tmp.PID beside the final
 * file, synced, renamed over it and its folder synced, mode 0644; a reader
 * of the old map goes on reading it, and a failed build leaves it as it
 * was.  Reading opens the file read-only without an environment;
 * map_changed() tells the reader to open the new one.
 */
#ifndef SM_MAP_H
#define SM_MAP_H

#include <sys/types.h>
#include <stddef.h>

#include "lookup/aliases.h"

#define MAP_VALUE_MAX	(2 * 1024 * 1024)	/* a value read back */

struct map;		/* an open map, read-only */
struct map_writer;	/* a map being built */

enum map_status { MAP_FOUND, MAP_NOTFOUND, MAP_ERROR };

/* NULL with the reason in err (a missing file among them). */
struct map *map_open(const char *path, char *err, size_t errlen);
/*
 * The value of key (looked up as given, with its trailing NUL; callers
 * lower-case).  MAP_FOUND: *value is allocated (free it).  MAP_ERROR: the
 * reason in err (a read error, a value with a NUL inside).
 */
enum map_status map_get(struct map *m, const char *key, char **value,
    char *err, size_t errlen);
/* 1 when the file at the map's path is gone or is another inode or has
 * another mtime than the one opened (reopen it then); 0 otherwise. */
int map_changed(const struct map *m);
const char *map_path(const struct map *m);
void map_close(struct map *m);

/* Builds a new map for path (the final .db): NULL with err on an error. */
struct map_writer *map_create(const char *path, char *err, size_t errlen);
/* The final file's mode and group ((gid_t)-1: the process's), for a map
 * of secrets; before map_commit. */
void map_writer_perms(struct map_writer *w, mode_t mode, gid_t gid);
/* -1 with err on an error (a duplicate key among them). */
int map_put(struct map_writer *w, const char *key, const char *value,
    char *err, size_t errlen);
/* Syncs, renames over the final path, syncs the folder, frees w. */
int map_commit(struct map_writer *w, char *err, size_t errlen);
/* Removes the temporary file, frees w. */
void map_abort(struct map_writer *w);

/*
 * Compiles the source src (aliases or virtual format) into src.db; on
 * success *nentries is the number of entries.  -1 with "SRC:LINE: what"
 * (or a system error) in err, and the old src.db left as it was.
 */
int map_compile(const char *src, enum aliases_format fmt, size_t *nentries,
    char *err, size_t errlen);

#endif
