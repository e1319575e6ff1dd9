/*
 * queue_fs.h - the spool on disk: its one table of directories, owners and
 * modes (used by the startup check, "strictmaild -T" for make install, and
 * INSTALL), the commit sequence, and startup recovery.
 *
 * Layout below the spool directory (paths relative to it):
 *   .             root  0755  the queue process's chroot
 *   empty         root  0555  the receiver's chroot (stays empty)
 *   incoming      queue 0700  content and envelopes being written (by the
 *                             queue only)
 *   queue         queue 0700  committed messages, in 256 hashed folders
 *   queue/XX      queue 0700  XX = queue_id_folder(): ID.msg + ID.env
 *   corrupt       queue 0700  files that failed to parse (never deleted)
 *   hold          queue 0700  messages whose content no longer matches its
 *                             digest (never delivered, never deleted)
 *   delivery      delivery 0700  the delivery process's chroot (empty)
 *   maildrop      queue:DROP 1730  local submission (queue/maildrop.h):
 *                             the maildrop-group DROP may create files,
 *                             not list them, not remove another's; the
 *                             queue picks them up (queue_pickup.h).
 *                             Unprivileged: the current user's, 0700
 */
#ifndef SM_QUEUE_FS_H
#define SM_QUEUE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sm_user;
struct envelope;

enum spool_owner { SPOOL_ROOT, SPOOL_QUEUE, SPOOL_DELIVERY,
    SPOOL_DROP };	/* SPOOL_DROP: the queue user and the drop group */

#define SPOOL_DROP_MODE_UNPRIV	0700	/* maildrop without root */

struct spool_entry {
	const char		*path;		/* "queue/XX": 256 folders */
	enum spool_owner	 owner;
	mode_t			 mode;
};
extern const struct spool_entry spool_table[];	/* ends with path NULL */

/* Run by the parent before it forks: creates what is missing (as root
 * with the owners of the table, queue = qu, delivery = du, the group of
 * maildrop = dropgid; unprivileged qu == du == NULL, dropgid is ignored
 * and everything belongs to the current user, maildrop 0700) and checks
 * owners and modes of what exists.  -1 with a message naming the path on
 * any mismatch. */
int queue_fs_prepare(const char *spool, const struct sm_user *qu,
    const struct sm_user *du, gid_t dropgid, char *err, size_t errlen);
/* Prints the table for make install: "path owner mode" lines, where owner
 * is "root", the queue user's or the delivery user's name; the maildrop
 * line has a fourth field, its group (drop_group). */
void queue_fs_print_table(const char *queue_user, const char *delivery_user,
    const char *drop_group);

/*
 * Below, spoolfd is an O_DIRECTORY descriptor of the spool and every path
 * is relative to it, so the same code runs chrooted or not.
 */

enum queue_fs_where { QFS_INCOMING, QFS_QUEUE, QFS_CORRUPT, QFS_HOLD };
#define QUEUE_FS_PATHSIZE	64

/* "incoming/ID.ext", "queue/XX/ID.ext", "corrupt/ID.ext" or
 * "hold/ID.ext"; ext "msg", "env" or "env.new". */
void queue_fs_path(char path[QUEUE_FS_PATHSIZE], enum queue_fs_where where,
    const char *id, const char *ext);
/* Creates incoming/ID.msg for a new ID (O_EXCL, 0600; an ID already in use
 * in incoming/ or queue/ is skipped).  The descriptor (O_RDWR), or -1 with
 * errno. */
int queue_fs_create(int spoolfd, char id[]);
/* rename that never replaces an existing file (EEXIST instead). */
int queue_fs_rename(int spoolfd, const char *from, const char *to);
/* A descriptor of the folder queue/XX (XX = hash, 0..QUEUE_ID_NHASH-1),
 * for its fsync or its scan; -1 with errno. */
int queue_fs_open_folder(int spoolfd, unsigned hash);
/* Removes every file of the message, envelope first (so that a crash in
 * between leaves content without envelope, which recovery removes).
 * ENOENT is no error; 0 or -1 with errno of the first other failure.
 * Thread-safe: the commit worker uses it too. */
int queue_fs_unlink_message(int spoolfd, const char *id);
/* Octets available to an unprivileged user on the spool's filesystem. */
int queue_fs_free_space(int spoolfd, uint64_t *avail);

/* A name fit for a log line: control bytes become '?'. */
const char *queue_fs_shown(const char *name, char *dst, size_t size);
/* The names in spoolfd/dir ("." and ".." left out), sorted; -1 (logged)
 * if it cannot be read.  Free with queue_fs_names_free. */
struct queue_fs_names {
	char	**v;
	size_t	  n;
};
int queue_fs_names_read(int spoolfd, const char *dir,
    struct queue_fs_names *nl);
void queue_fs_names_free(struct queue_fs_names *nl);
/* Moves dir/name to corrupt/name (or name.N if that exists, N < 100):
 * never deletes, never replaces.  0, or -1 with errno. */
int queue_fs_move_corrupt(int spoolfd, const char *dir, const char *name);

/* What startup recovery did. */
struct queue_fs_recovery {
	size_t	messages;	/* complete messages in queue/ */
	size_t	corrupt;	/* files moved to corrupt/ */
	size_t	removed;	/* unfinished files removed */
};
/* A complete message found; the callback may take what env holds (and
 * leave it empty, envelope_init): it is freed after the call. */
typedef void (*queue_fs_found_cb)(struct envelope *env, void *arg);

/*
 * Startup recovery (queue/INTERNALS; the queue runs it through
 * queue_recover.h, a thread that takes mail meanwhile), in steps.
 * queue_fs_recover_incoming: everything in incoming/ removed.
 * queue_fs_recover_bound: every ID named in queue/XX seen
 * (queue_id_seen), so that every ID made from now on is greater; returns
 * the greatest.  queue_fs_recover_folder: in one queue/XX keeps ID.env +
 * ID.msg when the envelope parses, names its file and matches the
 * content's size and SHA-256 digest, calling found for it; removes
 * ID.env.new (an envelope rewrite that did not reach its rename: ID.env
 * is the valid one); moves a bad envelope (with its content), an
 * envelope without content and any foreign name to corrupt/; removes
 * content without an envelope (it was never acknowledged); leaves alone
 * the files of IDs above bound (this run's messages).  Each logs what it
 * does to a file, from whatever thread calls it.
 * queue_fs_recover_summary: the summary line.
 */
void queue_fs_recover_incoming(int spoolfd, struct queue_fs_recovery *rec);
uint64_t queue_fs_recover_bound(int spoolfd);
void queue_fs_recover_folder(int spoolfd, unsigned hash, uint64_t bound,
    queue_fs_found_cb found, void *arg, struct queue_fs_recovery *rec);
void queue_fs_recover_summary(const struct queue_fs_recovery *rec);

/*
 * Changes to a committed message, by the delivery scheduler.
 * queue_fs_read_envelope: queue/XX/ID.env parsed (the content is not
 * checked).  queue_fs_write_envelope: the commit rule (queue/INTERNALS):
 * env checked, written to queue/XX/ID.env.new, fdatasync'ed, renamed over
 * ID.env, queue/XX fsync'ed; on any error ID.env is the old one.
 * queue_fs_write_envelope_text: the same for a text serialized already
 * (by envelope_serialize, after envelope_check), off the event loop
 * (queue_io.h).  queue_fs_remove_done: a message with every recipient done goes:
 * ID.env removed, its folder fsync'ed if durable (an operator's delete;
 * after a delivery the removal is not waited for: a crash before the file
 * system writes it back may bring the message back, a duplicate, never a
 * loss), then ID.msg.  queue_fs_hold:
 * both files moved to hold/ (never delivered again, never deleted).
 * Each returns 0, or -1 (why, or errno).
 */
int queue_fs_read_envelope(int spoolfd, const char *id, struct envelope *env,
    char *why, size_t whylen);
int queue_fs_write_envelope(int spoolfd, const struct envelope *env,
    char *why, size_t whylen);
int queue_fs_write_envelope_text(int spoolfd, const char *id,
    const char *text, size_t len, char *why, size_t whylen);
int queue_fs_remove_done(int spoolfd, const char *id, int durable);
int queue_fs_hold(int spoolfd, const char *id);

/*
 * Delivery paused by the operator (strictmailctl pause delivery): the
 * file queue/paused exists (one line for people: when and by whom).
 * queue_fs_paused: 1 if it exists, 0 if not; 1 too (logged) if that
 * cannot be told, so an operator's pause is never lost by mistake.
 * queue_fs_set_paused: paused writes text to queue/paused.new,
 * fdatasyncs it and renames it over queue/paused; not paused removes
 * queue/paused (gone already is no error); then queue/ is fsync'ed.
 * 0, or -1 with why; *changed (when not NULL) is 1 if queue/paused was
 * renamed or removed, even when the fsync that followed failed.
 */
/*
 * 1 if the file system of the folder open at dirfd keeps a journal that
 * an fsync commits (ext4 or ext3 with one, as /proc/fs/jbd2 lists it;
 * XFS), 0 if not or if that cannot be told; what names it, for the log.
 * Needs /proc and /sys: called before the chroot.
 */
int queue_fs_journalled(int dirfd, char *what, size_t whatlen);

#define QUEUE_FS_PAUSED		"queue/paused"
int queue_fs_paused(int spoolfd);
int queue_fs_set_paused(int spoolfd, int paused, const char *text,
    int *changed, char *why, size_t whylen);

#endif
