/*
 * local_child.h - the short-lived child of one local delivery.
 *
 * Forked by the root parent (daemon/local.c), it closes every descriptor
 * but the content and its result pipe, takes the target user's identity
 * (setgroups, setresgid, setresuid, checked) before it opens any file,
 * and runs one agent of delivery/local.h.  A mailbox delivery reads the
 * user's ~/.forward first (delivery/local.h checks its owner and mode):
 * its file and pipe targets run here, as the user; its addresses go back
 * to the parent to be forwarded.
 *
 * The result pipe carries text lines, one per recipient of the task in
 * order, then the forwarded addresses:
 *   R <status 0 ok | 1 temporary | 2 permanent> <enh> <text>
 *   F <address>
 * A child that ends without a line for a recipient failed for now.
 */
#ifndef SM_DAEMON_LOCAL_CHILD_H
#define SM_DAEMON_LOCAL_CHILD_H

#include <sys/types.h>
#include <stdint.h>
#include <time.h>

enum local_task_kind {
	LT_MBOX,	/* path: the mbox */
	LT_MAILDIR,	/* path: the Maildir folder */
	LT_FILE,	/* path: a file of an alias (mbox format) */
	LT_PIPE,	/* path: the command */
	LT_LMTP,	/* path: lmtp-socket; every recipient at once */
};

struct local_task_spec {
	enum local_task_kind	 kind;
	const char		*path;
	const char		*user;		/* whose identity it takes */
	uid_t			 uid;
	gid_t			 gid;
	gid_t			 extra_gid;	/* (gid_t)-1: none */
	const char		*home;
	int			 forward;	/* read ~/.forward first */
	const char *const	*rcpts;		/* Delivered-To values */
	size_t			 nrcpts;
	int			 content_fd;
	uint64_t		 size;
	const char		*sender;	/* "" = null sender */
	const char		*hostname;
	time_t			 arrival;
	unsigned		 command_timeout;
	const char		*delimiter;	/* recipient-delimiter */
	int			 privileged;	/* change identity */
};

/* Forks the child; the parent gets its pid and the read end of its
 * result pipe (non-blocking, close-on-exec) in *fd.  -1 on failure. */
pid_t local_child_start(const struct local_task_spec *t, int *fd);

/* The name of a kind for logs: "mbox", "maildir", "file", "pipe", "lmtp". */
const char *local_task_kind_name(enum local_task_kind kind);

#endif
