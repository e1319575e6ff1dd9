/*
 * queue_reap.h - the removal of delivered messages, on a thread of its
 * own, so that the event loop never waits for the file system while it
 * frees a message's blocks.
 *
 * Freeing a file's blocks can wait for the disk: ext4 mounted with
 * "discard" and without a journal sends each freed extent's discard to
 * the device and waits for it inside unlink (tens of microseconds on a
 * virtual disk, two files a message), and while the queue's loop waits
 * no commit is handed back and no result applied.  The scheduler hands a
 * message with nothing pending to queue_reap_add and forgets it; the
 * thread removes ID.env, then ID.msg (queue_fs_remove_done, no sync, as
 * before), and hands the ID back through an eventfd, with the error if
 * one came: the loop logs "ID: removed" only then.  Until it is back,
 * queue_reap_pending says so, and the operator's hold, release and
 * delete of that ID are refused, so nothing writes the files the thread
 * is removing.  queue_reap_stop finishes every removal handed over.
 */
#ifndef SM_QUEUE_REAP_H
#define SM_QUEUE_REAP_H

#include "queue/queue_id.h"

struct queue_reap;

struct queue_reaped {
	struct queue_reaped	*next;
	char			 id[QUEUE_ID_SIZE];
	int			 error;		/* errno of the failed removal, or 0 */
};

/* Starts the thread for the spool open at spoolfd (call with every
 * signal blocked that the loop takes: the thread inherits the mask). */
struct queue_reap *queue_reap_new(int spoolfd);
/* An eventfd that becomes readable when finished removals wait. */
int queue_reap_fd(const struct queue_reap *qr);
/* Hands the removal of message id to the thread. */
void queue_reap_add(struct queue_reap *qr, const char *id);
/* 1 while the removal of id is handed over and not taken back. */
int queue_reap_pending(struct queue_reap *qr, const char *id);
/* The finished removals in order (NULL if none; the caller frees each
 * with free()); clears the eventfd. */
struct queue_reaped *queue_reap_done(struct queue_reap *qr);
/* Lets the thread finish every removal handed over, then joins it. */
void queue_reap_stop(struct queue_reap *qr);
/* After queue_reap_stop and queue_reap_done. */
void queue_reap_free(struct queue_reap *qr);

#endif
