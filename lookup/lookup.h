/*
 * lookup.h - the lookup process: answers whether a local mailbox exists
 * (local users now; aliases and virtual maps later).  Unprivileged, not
 * chrooted: it needs the system's user database.
 */
#ifndef SM_LOOKUP_H
#define SM_LOOKUP_H

struct config;
struct sm_user;

int lookup_main(struct config *cfg, int parent_fd, int smtpd_fd,
    const struct sm_user *u);
/* The decision itself, for unit tests: enum lookup_result. */
int lookup_local_user(const char *localpart);

#endif
