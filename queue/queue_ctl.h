/*
 * queue_ctl.h - the queue's side of the control protocol (proto.h,
 * MSG_C_*): it lists and shows the queued messages by reading their
 * envelopes in the spool (the queue process owns it; the control process
 * never sees a spool file), and passes MSG_C_FLUSH, the operator's
 * MSG_C_DELETE, MSG_C_HOLD, MSG_C_RELEASE, MSG_C_STATUS, MSG_C_PAUSE and
 * MSG_C_RESUME to the scheduler through hooks the queue registers.  A
 * held message's pending recipients are listed with the state "held";
 * while delivery is paused a list starts with MSG_C_STAT "delivery"
 * "paused".
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
 * The operator's commands (queue_sched_hold and friends): fn returns 0,
 * or -1 with the reply's text in err ("no message ID", ...), which goes
 * back as MSG_C_ERROR.  who is "uid N (name)", for the log.  Pause and
 * resume (queue_sched_pause) are about delivery as a whole: id is "".
 */
enum queue_ctl_op {
	QUEUE_CTL_DELETE,
	QUEUE_CTL_HOLD,
	QUEUE_CTL_RELEASE,
	QUEUE_CTL_PAUSE,
	QUEUE_CTL_RESUME,
};
typedef int (*queue_ctl_op_fn)(void *arg, enum queue_ctl_op op,
    const char *id, const char *who, char *err, size_t errlen);

/* MSG_C_STATUS: what happened since start.  received counts messages
 * committed (not bounces nor delay warnings); the others recipients
 * (queue_sched_stats).  paused: 1 while delivery is paused
 * (queue_sched_paused). */
struct queue_ctl_counts {
	uint64_t	received;
	uint64_t	delivered;
	uint64_t	deferred;
	uint64_t	bounced;
	int		paused;
};
typedef void (*queue_ctl_counts_fn)(void *arg, struct queue_ctl_counts *c);

/* Registers both (NULL: MSG_C_ERROR "no scheduler"). */
void queue_ctl_set_ops(queue_ctl_op_fn op, queue_ctl_counts_fn counts,
    void *arg);

/*
 * 1 if user (a local user name; "" = root, who sees everything) may see
 * a message with this envelope sender: its local part is the user's name
 * and its domain is a local domain of cfg, or it has no domain.  The null
 * sender belongs to root only.
 */
int queue_ctl_owner(const struct config *cfg, const char *sender,
    const char *user);

#endif
