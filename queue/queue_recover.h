/*
 * queue_recover.h - startup recovery while the queue takes mail.
 *
 * queue_recover_start empties incoming/ and reads the names in queue/XX
 * (so that every ID made from now on is greater than every ID there: the
 * bound), before it returns; the queue may then take new messages.  A
 * thread checks the messages below the bound, folder by folder
 * (queue_fs_recover_folder: envelope, size, SHA-256 digest; corrupt/ for
 * what fails), and hands each complete one to the event loop, a folder
 * at a time: nothing of a folder is scheduled before the thread is done
 * with its files.  It never touches a file of an ID above the bound.
 * When it is done it syncs the filesystem (syncfs, as before), and the
 * loop logs the summary line.  Sequence: queue/INTERNALS, Startup.
 */
#ifndef QUEUE_RECOVER_H
#define QUEUE_RECOVER_H

#include "queue/envelope.h"
#include "queue/queue_fs.h"

struct queue_recover;

struct queue_recover *queue_recover_start(int spoolfd);

/* Readable when found messages wait, or the thread has ended. */
int queue_recover_fd(const struct queue_recover *qr);

/*
 * Calls found (unless NULL) for every message the thread has handed over;
 * 1 once the thread has ended and everything is handed over (the counts
 * are then in *rec and the summary is logged), else 0.
 */
int queue_recover_take(struct queue_recover *qr, queue_fs_found_cb found,
    void *arg, struct queue_fs_recovery *rec);

/* 1 if id is a message the thread has not handed over yet (at or below
 * the bound, while it runs): operator commands on it must wait. */
int queue_recover_pending(const struct queue_recover *qr, const char *id);

/* Folders checked so far, of QUEUE_ID_NHASH. */
unsigned queue_recover_progress(struct queue_recover *qr);

/* Stops the thread after its current folder and frees everything;
 * NULL is ignored. */
void queue_recover_free(struct queue_recover *qr);

#endif
