/*
 * stscheck.h - strictmailctl's sts requests (list, show, flush, refresh,
 * check) in the delivery process: they arrive as MSG_C_STS on the control
 * channel, sts.c answers them through the sink set here, and "sts check"
 * comes back for its MX steps (each MX, in the policy or not, probed as
 * MTA-STS enforce would: stsprobe.h).  Output goes back as MSG_C_TEXT
 * lines and one MSG_C_END.
 */
#ifndef SM_STSCHECK_H
#define SM_STSCHECK_H

struct dlv;
struct ipc_chan;
struct ipc_msg;

/* The control channel's dispatch function (arg: the struct dlv). */
void stscheck_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg);

/* Hands d->sts the sink of its answers; once d->sts exists. */
void stscheck_attach(struct dlv *d);

/* Ends every check under way (shutdown), nothing sent. */
void stscheck_free_all(struct dlv *d);

#endif
