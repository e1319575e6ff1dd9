/*
 * sender.h - may an authenticated (or local) user send with a given
 * envelope sender?  The rule of MSG_L_SENDER (common/proto.h).
 *
 * With a sender-login-map: only the senders the map lists for the user.
 * The map (a compiled virtual-format map, makemap -t senders) has an
 * address or "@domain" as key and the users allowed to send as it as
 * value ("alice, bob@example.org"); the address's own key is looked up
 * first, then its "@domain".  Without a map: the user's own address,
 * which is the user itself when it is an address, and USER@DOMAIN for a
 * login name, DOMAIN being a local domain or the host name; with a
 * recipient delimiter, USER+EXT@DOMAIN too.  Case never matters.  The
 * null sender is allowed (bounces and vacation replies of mail clients).
 */
#ifndef SM_SENDER_H
#define SM_SENDER_H

#include <stddef.h>

struct map;

enum sender_result {
	SENDER_OK = 0,		/* as proto.h's MSG_L_SENDER_RESULT */
	SENDER_REFUSED = 1,
	SENDER_TEMPFAIL = 2,	/* the map could not be read */
};

struct sender_rule {
	struct map	*map;		/* NULL: no sender-login-map */
	const char	*delimiter;	/* "" = none */
	const char	*hostname;
	int		(*is_local)(void *arg, const char *domain);
	void		*arg;
};

/* The verdict on user (login name or address) sending as sender (""
 * for the null sender); SENDER_TEMPFAIL with the reason in err. */
enum sender_result sender_check(const struct sender_rule *r,
    const char *user, const char *sender, char *err, size_t errlen);

#endif
