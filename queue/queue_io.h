/*
 * queue_io.h - the queue's file work that may wait for the disk, on a
 * thread of its own, so that the event loop never does: removing a
 * delivered message, and rewriting an envelope after a delivery attempt.
 *
 * Removal: freeing a file's blocks can wait for the device (ext4 mounted
 * with "discard" and without a journal sends each freed extent's discard
 * inside unlink and waits for it: tens of microseconds on a virtual disk,
 * two files a message).  The thread removes ID.env, then ID.msg
 * (queue_fs_remove_done, no sync, as before).
 *
 * Rewrite: the commit rule of an envelope (queue_fs_write_envelope_text:
 * ID.env.new written and fdatasync'ed, renamed over ID.env, queue/XX
 * fsync'ed) is two syncs, a few milliseconds each, and more under a busy
 * disk; a storm of deferrals would hold the loop for all of them.
 *
 * The thread takes the operations in the order they were handed over,
 * and hands each back through an eventfd with its error, if one came;
 * the loop finishes its work then ("ID: removed", bounces, the
 * schedule).  While an operation of an ID is handed over and not taken
 * back, queue_io_pending says so (the operator's hold, release and
 * delete of it are refused), and queue_io_settle waits until the thread
 * has done every operation of that ID, so that whoever reads the
 * envelope next reads the last one written.  queue_io_stop finishes
 * every operation handed over.
 */
#ifndef SM_QUEUE_IO_H
#define SM_QUEUE_IO_H

#include "common/buf.h"
#include "queue/queue_id.h"

struct queue_io;

enum queue_io_kind {
	QUEUE_IO_REMOVE,	/* a message with nothing pending */
	QUEUE_IO_REWRITE	/* an envelope, by the commit rule */
};

struct queue_io_op {
	struct queue_io_op	*next;
	enum queue_io_kind	 kind;
	char			 id[QUEUE_ID_SIZE];
	struct buf		 text;		/* REWRITE: the envelope's text */
	void			*arg;		/* the submitter's */
	int			 error;		/* errno of a failed removal;
						 * a failed rewrite: -1 */
	char			 why[256];	/* a failed rewrite: why */
};

/* Starts the thread for the spool open at spoolfd (call with every
 * signal blocked that the loop takes: the thread inherits the mask). */
struct queue_io *queue_io_new(int spoolfd);
/* An eventfd that becomes readable when finished operations wait. */
int queue_io_fd(const struct queue_io *qi);
/* Hands the removal of message id to the thread. */
void queue_io_remove(struct queue_io *qi, const char *id);
/* Hands the rewrite of id's envelope to the thread; text (envelope_check
 * passed) is taken over and emptied. */
void queue_io_rewrite(struct queue_io *qi, const char *id, struct buf *text,
    void *arg);
/* 1 while an operation of id is handed over and not taken back. */
int queue_io_pending(struct queue_io *qi, const char *id);
/* Blocks until the thread has done every operation of id (NULL: of any
 * message) handed over (they stay to be taken back by queue_io_done); 1
 * if it waited. */
int queue_io_settle(struct queue_io *qi, const char *id);
/* The finished operations in order (NULL if none; the caller frees each
 * with queue_io_op_free); clears the eventfd. */
struct queue_io_op *queue_io_done(struct queue_io *qi);
void queue_io_op_free(struct queue_io_op *op);
/* Lets the thread finish every operation handed over, then joins it. */
void queue_io_stop(struct queue_io *qi);
/* After queue_io_stop and queue_io_done. */
void queue_io_free(struct queue_io *qi);

#endif
