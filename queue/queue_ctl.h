/*
 * queue_ctl.h - the queue's side of the control protocol (proto.h,
 * MSG_C_*): it lists and shows the queued messages by reading their
 * envelopes in the spool (the queue process owns it; the control process
 * never sees a spool file), and passes MSG_C_FLUSH to the scheduler
 * through a hook the scheduler registers.
 */
#ifndef SM_QUEUE_CTL_H
#define SM_QUEUE_CTL_H

struct config;
struct envelope;
struct event_loop;

/*
 * Serves MSG_C_* on fd (the socketpair to the control process; -1 = none)
 * with the spool at spoolfd.  cfg must outlive queue_ctl_stop (it gives
 * the local domains of the owner check).
 */
void queue_ctl_start(struct event_loop *loop, const struct config *cfg,
    int spoolfd, int fd);
/* Sends what is queued and closes the channel. */
void queue_ctl_stop(void);

/*
 * The scheduler's flush: fn(arg) makes every deferred recipient due now
 * and returns how many it made due (queue_sched_flush), which MSG_C_END
 * carries.  NULL unregisters it; without one MSG_C_FLUSH is answered
 * MSG_C_ERROR "flush: no scheduler".
 */
typedef unsigned (*queue_ctl_flush_fn)(void *arg);
void queue_ctl_set_flush(queue_ctl_flush_fn fn, void *arg);

/*
 * 1 if user (a local user name; "" = root, who sees everything) may see
 * a message with this envelope sender: its local part is the user's name
 * and its domain is a local domain of cfg, or it has no domain.  The null
 * sender belongs to root only.
 */
int queue_ctl_owner(const struct config *cfg, const char *sender,
    const char *user);

#endif
