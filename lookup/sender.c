/*
 * sender.c - the sender rule of authenticated and local users (sender.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "lookup/aliases.h"
#include "lookup/map.h"
#include "lookup/sender.h"

#define SENDER_ADDR_MAX		512

/* 1 if user is among the targets of value (a stored map value). */
static int
sender_listed(const char *value, const char *user)
{
	struct aliases_target	*t;
	char			 err[256];
	size_t			 n, i;
	int			 found = 0;

	if (aliases_split(value, &t, &n, err, sizeof(err)) == -1)
		return 0;
	for (i = 0; i < n && !found; i++)
		found = (t[i].kind == ALIAS_T_NAME ||
		    t[i].kind == ALIAS_T_ADDRESS) &&
		    strcasecmp(t[i].value, user) == 0;
	aliases_targets_free(t, n);
	return found;
}

/* Looks key up: 1 listed, 0 not (or no such key), -1 a read error. */
static int
sender_map_one(struct map *m, const char *key, const char *user, char *err,
    size_t errlen)
{
	char	*value = NULL;
	int	 found;

	switch (map_get(m, key, &value, err, errlen)) {
	case MAP_FOUND:
		found = sender_listed(value, user);
		free(value);
		return found;
	case MAP_NOTFOUND:
		return 0;
	default:
		return -1;
	}
}

static enum sender_result
sender_by_map(const struct sender_rule *r, const char *user,
    const char *sender, char *err, size_t errlen)
{
	char		 key[SENDER_ADDR_MAX];
	const char	*at;
	int		 found;

	if (strlcpy(key, sender, sizeof(key)) >= sizeof(key))
		return SENDER_REFUSED;
	str_lower(key);
	if ((found = sender_map_one(r->map, key, user, err, errlen)) != 0)
		return found == 1 ? SENDER_OK : SENDER_TEMPFAIL;
	if ((at = strrchr(key, '@')) == NULL)
		return SENDER_REFUSED;
	found = sender_map_one(r->map, at, user, err, errlen);
	if (found == -1)
		return SENDER_TEMPFAIL;
	return found == 1 ? SENDER_OK : SENDER_REFUSED;
}

/* local (len octets) is user (ulen octets), or user, a delimiter and an
 * extension. */
static int
sender_local_is(const char *local, size_t len, const char *user,
    size_t ulen, const char *delim)
{
	if (len < ulen || strncasecmp(local, user, ulen) != 0)
		return 0;
	if (len == ulen)
		return 1;
	return delim[0] != '\0' && strchr(delim, local[ulen]) != NULL;
}

static enum sender_result
sender_own(const struct sender_rule *r, const char *user, const char *sender)
{
	const char	*at = strrchr(sender, '@'), *uat = strrchr(user, '@');
	const char	*delim = r->delimiter != NULL ? r->delimiter : "";
	int		 local;

	if (at == NULL)
		return SENDER_REFUSED;
	if (uat != NULL) {
		/* An address user: that address, or with an extension. */
		if (strcasecmp(at, uat) != 0)
			return SENDER_REFUSED;
		return sender_local_is(sender, (size_t)(at - sender), user,
		    (size_t)(uat - user), delim) ? SENDER_OK : SENDER_REFUSED;
	}
	local = strcasecmp(at + 1, r->hostname) == 0 ||
	    (r->is_local != NULL && r->is_local(r->arg, at + 1));
	if (!local)
		return SENDER_REFUSED;
	return sender_local_is(sender, (size_t)(at - sender), user,
	    strlen(user), delim) ? SENDER_OK : SENDER_REFUSED;
}

enum sender_result
sender_check(const struct sender_rule *r, const char *user,
    const char *sender, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (sender[0] == '\0')
		return SENDER_OK;
	if (user[0] == '\0')
		return SENDER_REFUSED;
	if (r->map != NULL)
		return sender_by_map(r, user, sender, err, errlen);
	return sender_own(r, user, sender);
}
