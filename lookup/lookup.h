/*
 * lookup.h - the lookup process: answers whether a local mailbox exists
 * (local users now; aliases and virtual maps later).  Unprivileged, not
 * chrooted: it needs the system's user database.
 */
#ifndef SM_LOOKUP_H
#define SM_LOOKUP_H

struct config;
struct sm_user;

/* MSG_L_AUTH_RESULT's result (common/proto.h). */
enum lookup_auth {
	LOOKUP_AUTH_OK = 1,	/* the password is right: 235 2.7.0 */
	LOOKUP_AUTH_BAD,	/* wrong password or unknown user: 535 5.7.8 */
	LOOKUP_AUTH_TEMPFAIL,	/* the map could not be read: 454 4.7.0 */
	LOOKUP_AUTH_LOCKED,	/* the client address is locked out (too many
				 * failures): 454 4.7.0, password unchecked */
};

int lookup_main(struct config *cfg, int parent_fd, int smtpd_fd,
    const struct sm_user *u);
/* The decision itself, for unit tests: enum lookup_result. */
int lookup_local_user(const char *localpart);

#endif
