/*
 * parent_who.h - the parent's answer to the queue's MSG_P_WHO (proto.h):
 * who owns a maildrop file's uid, and may they use the sender they ask
 * for.  The queue is chrooted and cannot read the password database; the
 * parent can.  With a sender-login-map the question about the sender goes
 * on to the lookup process (MSG_L_SENDER); without one, every -f sender
 * is allowed, as sendmail(8) programs expect (the queue logs the real
 * user beside it).
 */
#ifndef SM_PARENT_WHO_H
#define SM_PARENT_WHO_H

struct config;
struct ipc_chan;
struct ipc_msg;

enum parent_who_status {
	WHO_OK = 0,
	WHO_NOUSER = 1,
	WHO_SENDER_REFUSED = 2,
	WHO_TEMPFAIL = 3,
};

struct parent_who;

struct parent_who *parent_who_new(const struct config *cfg);
void parent_who_free(struct parent_who *w);
/* The channels to answer on and to ask through (NULL: gone).  A lookup
 * channel that goes away answers every question waiting on it with
 * WHO_TEMPFAIL; a queue channel that goes away forgets them. */
void parent_who_set_queue(struct parent_who *w, struct ipc_chan *queue);
void parent_who_set_lookup(struct parent_who *w, struct ipc_chan *lookup);
/* MSG_P_WHO from the queue: answered at once, or after the lookup. */
void parent_who_request(struct parent_who *w, struct ipc_msg *m);
/* MSG_L_SENDER_RESULT from the lookup process. */
void parent_who_sender_result(struct parent_who *w, struct ipc_msg *m);

#endif
