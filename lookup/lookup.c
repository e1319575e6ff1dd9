/*
 * lookup.c - the lookup process: does a local recipient exist, and where
 * does its mail go?
 *
 * A recipient of a local or virtual domain is expanded (lookup/expand.h)
 * through the compiled virtual map, the compiled aliases and the
 * system's user database (getpwnam_r on the lower-cased name; a name that
 * could not be a user name is not looked up).  smtpd asks at RCPT time
 * (MSG_L_RCPT: exists or not), the parent at delivery time (MSG_L_EXPAND:
 * the targets).  "Not found" and "could not look" are kept apart: the
 * second is a temporary failure (451), never a reason to refuse mail.
 *
 * Submission AUTH (MSG_L_AUTH) checks a password against the compiled
 * credentials map (lookup/creds.h) and counts the failures of each
 * client address (lookup/authfail.h): a locked-out address is answered
 * LOOKUP_AUTH_LOCKED without a check.  Every failure is logged with the
 * client address and the user, never the password, which is wiped once
 * checked; no hash ever leaves this process.  MSG_L_SENDER (from smtpd at
 * MAIL, from the parent for sendmail -f) applies lookup/sender.h's rule.
 *
 * The maps are opened at start and opened again when their file was
 * replaced (newaliases and makemap rename a new file over the old one:
 * looked for before a request, at most once a second) or when the parent says so
 * (MSG_L_REOPEN).  A map that is missing is logged and counts as empty.
 * The process runs unprivileged but not chrooted, since the user
 * database (and NSS), the maps and :include: files live in the real file
 * system.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/util.h"
#include "lookup/authfail.h"
#include "lookup/creds.h"
#include "lookup/expand.h"
#include "lookup/lookup.h"
#include "lookup/map.h"
#include "lookup/sender.h"

#define LOOKUP_NAME_MAX		32	/* useradd's limit */
#define LOOKUP_LOCAL_MAX	256	/* longer than any local part */
#define LOOKUP_PWBUF_MAX	(1024 * 1024)

/* One compiled map: its path, the open handle (NULL when missing). */
struct lookup_map {
	char		 path[1024];	/* "" = not configured */
	struct map	*map;
	int		 warned;	/* its absence was logged */
};

struct lookup {
	struct config		*cfg;
	struct event_loop	*loop;
	struct ipc_chan		*parent;
	struct ipc_chan		*smtpd;
	struct lookup_map	 aliases;
	struct lookup_map	 virtual;
	struct lookup_map	 creds;		/* credentials */
	struct lookup_map	 senders;	/* sender-login-map */
	struct authfail		 authfail;
	uint64_t		 checked_ms;	/* last look for rebuilt maps */
};

/* A rebuilt map is looked for at most this often (a stat per map). */
#define LOOKUP_MAP_CHECK_MS	1000

/*
 * A plausible user name: 1 to 32 of [a-z0-9_.-], not starting with '-'
 * or '.' (so never an option or a path).  name is lower case already.
 */
static int
lookup_plausible(const char *name)
{
	size_t	i;

	if (name[0] == '\0' || name[0] == '-' || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= LOOKUP_NAME_MAX)
			return 0;
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    name[i] == '.' || name[i] == '-'))
			return 0;
	}
	return 1;
}

/* getpwnam_r's "no such user" answers (see getpwnam(3)). */
static int
lookup_is_notfound(int err)
{
	return err == 0 || err == ENOENT || err == ESRCH || err == EBADF ||
	    err == EPERM;
}

int
lookup_local_user(const char *localpart)
{
	char		 name[LOOKUP_NAME_MAX + 2], *pwbuf = NULL;
	char		 ename[LOGFMT_SIZE(LOOKUP_NAME_MAX + 2)];
	struct passwd	 pw, *res = NULL;
	size_t		 size = 1024;
	int		 err;

	if (strlcpy(name, localpart, sizeof(name)) >= sizeof(name))
		return LOOKUP_NOTFOUND;
	if (!lookup_plausible(str_lower(name)))
		return LOOKUP_NOTFOUND;
	for (;;) {
		pwbuf = xrealloc(pwbuf, size);
		err = getpwnam_r(name, &pw, pwbuf, size, &res);
		if (err != ERANGE || size >= LOOKUP_PWBUF_MAX)
			break;
		size *= 2;
	}
	free(pwbuf);
	if (err == 0 && res != NULL)
		return LOOKUP_FOUND;
	if (lookup_is_notfound(err))
		return LOOKUP_NOTFOUND;
	(void)logfmt_value(ename, sizeof(ename), name);
	errno = err;
	log_warn("lookup of user %s", ename);
	return LOOKUP_TEMPFAIL;
}

/* ---- maps ---- */

static void
lookup_map_init(struct lookup_map *lm, const char *src)
{
	memset(lm, 0, sizeof(*lm));
	if (src != NULL && config_map_db(src, lm->path, sizeof(lm->path)) ==
	    NULL)
		lm->path[0] = '\0';
}

/* Opens lm again when it was replaced, or when force is set. */
static void
lookup_map_refresh(struct lookup_map *lm, int force)
{
	char	err[1024];

	if (lm->path[0] == '\0')
		return;
	if (lm->map != NULL && !force && !map_changed(lm->map))
		return;
	if (lm->map != NULL) {
		map_close(lm->map);
		lm->map = NULL;
		log_info("map %s changed: opened again", lm->path);
	}
	if ((lm->map = map_open(lm->path, err, sizeof(err))) != NULL) {
		lm->warned = 0;
		return;
	}
	if (!lm->warned)
		log_warnx("map %s: %s: it counts as empty until it is built "
		    "(strictmailctl newaliases, strictmailctl makemap)",
		    lm->path, err);
	lm->warned = 1;
}

static void
lookup_maps_refresh(struct lookup *lk, int force)
{
	lookup_map_refresh(&lk->aliases, force);
	lookup_map_refresh(&lk->virtual, force);
	lookup_map_refresh(&lk->creds, force);
	lookup_map_refresh(&lk->senders, force);
}

/* The maps are looked at again at most once a LOOKUP_MAP_CHECK_MS. */
static void
lookup_maps_check(struct lookup *lk)
{
	if (now_ms() - lk->checked_ms >= LOOKUP_MAP_CHECK_MS) {
		lookup_maps_refresh(lk, 0);
		lk->checked_ms = now_ms();
	}
}

/* ---- expansion ---- */

static int
lookup_cb_local(void *arg, const char *domain)
{
	return config_is_local_domain(((struct lookup *)arg)->cfg, domain);
}

static int
lookup_cb_virtual(void *arg, const char *domain)
{
	return config_is_virtual_domain(((struct lookup *)arg)->cfg, domain);
}

static enum expand_user
lookup_cb_user(void *arg, const char *user)
{
	(void)arg;
	switch (lookup_local_user(user)) {
	case LOOKUP_FOUND:
		return EXPAND_USER_FOUND;
	case LOOKUP_NOTFOUND:
		return EXPAND_USER_NOTFOUND;
	default:
		return EXPAND_USER_TEMPFAIL;
	}
}

static void
lookup_expand_config(struct lookup *lk, struct expand_config *ec)
{
	struct config	*cfg = lk->cfg;

	lookup_maps_check(lk);
	memset(ec, 0, sizeof(*ec));
	ec->aliases = lk->aliases.map;
	ec->virtual = lk->virtual.map;
	ec->local_domain = config_origin(cfg);
	ec->delimiter = cfg->recipient_delimiter != NULL ?
	    cfg->recipient_delimiter : "";
	ec->root_alias = cfg->root_alias != NULL ? cfg->root_alias : "";
	ec->alias_user = cfg->alias_user;
	ec->is_local_domain = lookup_cb_local;
	ec->is_virtual_domain = lookup_cb_virtual;
	ec->user_exists = lookup_cb_user;
	ec->arg = lk;
}

/*
 * A quoted local part as the envelope keeps it ("john.doe"@host) made
 * plain in place (john.doe@host), as smtpd gives it at RCPT time: the
 * quotes go and a backslash keeps the character after it.
 */
static void
lookup_unquote(char *addr)
{
	char	*plain, *w;
	char	*r = addr + 1;

	if (addr[0] != '"')
		return;
	plain = w = xmalloc(strlen(addr) + 1);
	while (*r != '\0' && *r != '"') {
		if (*r == '\\' && r[1] != '\0')
			r++;
		*w++ = *r++;
	}
	/* Only a quoted local part followed by its domain is changed. */
	if (*r == '"' && r[1] == '@') {
		(void)strlcpy(w, r + 1, strlen(r + 1) + 1);
		(void)strlcpy(addr, plain, strlen(addr) + 1);
	}
	free(plain);
}

/* MSG_L_EXPAND from the parent: the targets of one recipient. */
static void
lookup_expand(struct lookup *lk, struct ipc_msg *m)
{
	struct expand_config	 ec;
	struct expand_result	 res;
	char			 addr[LOOKUP_LOCAL_MAX * 2 + 2];
	char			 ea[LOGFMT_SIZE(sizeof(addr))];
	struct buf		 b;
	size_t			 i;

	ipc_get_str(m, addr, sizeof(addr));
	if (ipc_end(m) == -1)
		return;
	lookup_unquote(addr);
	lookup_expand_config(lk, &ec);
	(void)expand_address(&ec, addr, &res);
	log_debug("expand %s: %s, %zu targets", logfmt_value(ea, sizeof(ea),
	    addr), expand_status_str(res.status), res.ntargets);
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)res.status);
	ipc_put_str(&b, res.status == EXPAND_OK ? "" : res.reason);
	ipc_put_u32(&b, (uint32_t)(res.status == EXPAND_OK ?
	    res.ntargets : 0));
	for (i = 0; res.status == EXPAND_OK && i < res.ntargets; i++) {
		ipc_put_u32(&b, (uint32_t)res.targets[i].kind);
		ipc_put_str(&b, res.targets[i].user);
		ipc_put_str(&b, res.targets[i].value);
		ipc_put_u32(&b, (uint32_t)res.targets[i].flags);
	}
	expand_result_free(&res);
	ipc_send_buf(lk->parent, MSG_L_EXPAND_RESULT, m->session, -1, &b);
	buf_free(&b);
}

/* RCPT time: whether local@domain exists. */
static int
lookup_exists(struct lookup *lk, const char *local, const char *domain)
{
	struct expand_config	ec;
	char			addr[LOOKUP_LOCAL_MAX * 2 + 2], why[512];

	if (bsnprintf(addr, sizeof(addr), "%s@%s", local, domain) == -1)
		return LOOKUP_NOTFOUND;
	lookup_expand_config(lk, &ec);
	switch (expand_rcpt(&ec, addr, why, sizeof(why))) {
	case EXPAND_OK:
		return LOOKUP_FOUND;
	case EXPAND_NOTFOUND:
		return LOOKUP_NOTFOUND;
	case EXPAND_LOOP:
		log_warnx("recipient %s: %s", addr, why);
		return LOOKUP_LOOP;
	default:
		log_warnx("recipient %s: %s", addr, why);
		return LOOKUP_TEMPFAIL;
	}
}

static void
lookup_rcpt(struct lookup *lk, struct ipc_chan *ch, struct ipc_msg *m)
{
	char		local[LOOKUP_LOCAL_MAX + 1];
	char		domain[LOOKUP_LOCAL_MAX + 1];
	char		el[LOGFMT_SIZE(LOOKUP_LOCAL_MAX)];
	char		ed[LOGFMT_SIZE(LOOKUP_LOCAL_MAX)];
	struct buf	b;
	int		result;

	ipc_get_str(m, local, sizeof(local));
	ipc_get_str(m, domain, sizeof(domain));
	ipc_end(m);
	result = lookup_exists(lk, local, domain);
	log_debug("rcpt lookup: request %u local=%s domain=%s result=%d",
	    m->session, logfmt_value(el, sizeof(el), local),
	    logfmt_value(ed, sizeof(ed), domain), result);
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)result);
	ipc_send_buf(ch, MSG_L_RCPT_RESULT, m->session, -1, &b);
	buf_free(&b);
}

/* ---- submission: AUTH and the sender rule ---- */

/* The check itself, with the lock-out; *failures as MSG_L_AUTH_RESULT. */
static enum lookup_auth
lookup_auth_check(struct lookup *lk, const char *user, const char *password,
    const char *client, unsigned *failures)
{
	char			err[512];
	enum creds_result	cr;
	uint64_t		now = now_ms() / 1000;

	*failures = authfail_count(&lk->authfail, client, now);
	if (authfail_locked(&lk->authfail, client, now))
		return LOOKUP_AUTH_LOCKED;
	lookup_maps_check(lk);
	if (lk->creds.map == NULL) {
		log_warnx("auth: no credentials map (%s): AUTH fails "
		    "temporarily", lk->creds.path[0] != '\0' ?
		    lk->creds.path : "credentials not set");
		return LOOKUP_AUTH_TEMPFAIL;
	}
	cr = creds_check(lk->creds.map, user, password, err, sizeof(err));
	if (cr == CREDS_TEMPFAIL) {
		log_warnx("auth: %s: %s", lk->creds.path, err);
		return LOOKUP_AUTH_TEMPFAIL;
	}
	if (cr == CREDS_OK)
		return LOOKUP_AUTH_OK;
	*failures = authfail_add(&lk->authfail, client, now);
	return LOOKUP_AUTH_BAD;
}

static const char *
lookup_auth_name(enum lookup_auth r)
{
	switch (r) {
	case LOOKUP_AUTH_OK:
		return "ok";
	case LOOKUP_AUTH_BAD:
		return "failed";
	case LOOKUP_AUTH_LOCKED:
		return "locked out";
	default:
		return "temporary failure";
	}
}

/* MSG_L_AUTH: the password never leaves this function but wiped. */
static void
lookup_auth(struct lookup *lk, struct ipc_chan *ch, struct ipc_msg *m)
{
	char			user[CREDS_USER_MAX * 2 + 2];
	char			password[CREDS_PASSWORD_MAX * 2 + 2];
	char			client[AUTHFAIL_ADDR_MAX];
	char			eu[LOGFMT_SIZE(sizeof(user))];
	char			ec[LOGFMT_SIZE(sizeof(client))];
	enum lookup_auth	r;
	unsigned		failures;
	struct buf		b;

	ipc_get_str(m, user, sizeof(user));
	ipc_get_str(m, password, sizeof(password));
	ipc_get_str(m, client, sizeof(client));
	if (ipc_end(m) == -1) {
		explicit_bzero(password, sizeof(password));
		return;
	}
	r = lookup_auth_check(lk, user, password, client, &failures);
	explicit_bzero(password, sizeof(password));
	(void)logfmt_value(eu, sizeof(eu), user);
	(void)logfmt_value(ec, sizeof(ec), client);
	if (r == LOOKUP_AUTH_OK)
		log_info("auth: client=%s user=%s: ok", ec, eu);
	else
		log_warnx("auth: client=%s user=%s: %s, failures=%u", ec, eu,
		    lookup_auth_name(r), failures);
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)r);
	ipc_put_u32(&b, (uint32_t)failures);
	ipc_send_buf(ch, MSG_L_AUTH_RESULT, m->session, -1, &b);
	buf_free(&b);
}

/* MSG_L_SENDER, from smtpd or the parent: answered on the same channel. */
static void
lookup_sender(struct lookup *lk, struct ipc_chan *ch, struct ipc_msg *m)
{
	char			user[CREDS_USER_MAX * 2 + 2];
	char			sender[LOOKUP_LOCAL_MAX * 2 + 2], err[512];
	char			eu[LOGFMT_SIZE(sizeof(user))];
	char			es[LOGFMT_SIZE(sizeof(sender))];
	struct sender_rule	rule;
	enum sender_result	r;
	struct buf		b;

	ipc_get_str(m, user, sizeof(user));
	ipc_get_str(m, sender, sizeof(sender));
	if (ipc_end(m) == -1)
		return;
	lookup_maps_check(lk);
	memset(&rule, 0, sizeof(rule));
	rule.map = lk->senders.map;
	rule.delimiter = lk->cfg->recipient_delimiter != NULL ?
	    lk->cfg->recipient_delimiter : "";
	rule.hostname = lk->cfg->hostname;
	rule.is_local = lookup_cb_local;
	rule.arg = lk;
	if (lk->senders.path[0] != '\0' && lk->senders.map == NULL) {
		r = SENDER_TEMPFAIL;
		(void)strlcpy(err, "sender-login-map not built", sizeof(err));
	} else
		r = sender_check(&rule, user, sender, err, sizeof(err));
	(void)logfmt_value(eu, sizeof(eu), user);
	(void)logfmt_value(es, sizeof(es), sender);
	if (r == SENDER_TEMPFAIL)
		log_warnx("sender check: user=%s sender=<%s>: %s", eu, es, err);
	else
		log_debug("sender check: user=%s sender=<%s>: %s", eu, es,
		    r == SENDER_OK ? "allowed" : "refused");
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)r);
	ipc_send_buf(ch, MSG_L_SENDER_RESULT, m->session, -1, &b);
	buf_free(&b);
}

static void
lookup_smtpd_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	switch (m->type) {
	case MSG_L_RCPT:
		lookup_rcpt(arg, ch, m);
		break;
	case MSG_L_AUTH:
		lookup_auth(arg, ch, m);
		break;
	case MSG_L_SENDER:
		lookup_sender(arg, ch, m);
		break;
	default:
		ipc_bad_type(m);
		break;
	}
}

static void
lookup_parent_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct lookup	*lk = arg;

	switch (m->type) {
	case MSG_L_EXPAND:
		lookup_expand(lk, m);
		break;
	case MSG_L_REOPEN:
		if (ipc_end(m) == 0)
			lookup_maps_refresh(lk, 1);
		break;
	case MSG_L_SENDER:
		lookup_sender(lk, ch, m);
		break;
	default:
		ipc_bad_type(m);
		break;
	}
}

/* The parent or the receiver went away: nothing left to answer. */
static void
lookup_chan_closed(struct ipc_chan *ch, void *arg)
{
	struct lookup	*lk = arg;

	log_info("%s closed its channel: exiting", ipc_chan_peer(ch));
	event_loop_stop(lk->loop);
}

static void
lookup_sigterm(int signo, void *arg)
{
	struct lookup	*lk = arg;

	(void)signo;
	log_info("SIGTERM: shutting down");
	event_loop_stop(lk->loop);
}

int
lookup_main(struct config *cfg, int parent_fd, int smtpd_fd,
    const struct sm_user *u)
{
	struct lookup	lk;

	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	memset(&lk, 0, sizeof(lk));
	lk.cfg = cfg;
	lookup_map_init(&lk.aliases, cfg->aliases);
	lookup_map_init(&lk.virtual, cfg->virtual_map);
	lookup_map_init(&lk.creds, cfg->credentials);
	lookup_map_init(&lk.senders, cfg->sender_login_map);
	authfail_init(&lk.authfail, cfg->auth_lockout_failures,
	    cfg->auth_lockout_time, 0);
	if (u != NULL)
		privsep_drop(u, NULL);
	else
		log_info("running unprivileged: no chroot, no user change");
	lookup_maps_refresh(&lk, 1);
	lk.loop = event_loop_new();
	lk.parent = ipc_chan_new(lk.loop, parent_fd, "parent",
	    lookup_parent_dispatch, lookup_chan_closed, &lk);
	lk.smtpd = ipc_chan_new(lk.loop, smtpd_fd, "smtpd",
	    lookup_smtpd_dispatch, lookup_chan_closed, &lk);
	if (event_signal(lk.loop, SIGTERM, lookup_sigterm, &lk) == -1)
		fatal("event_signal");
	/* Sent by the loop's first turn: requests are served from then on. */
	ipc_send(lk.parent, MSG_P_READY, 0, -1, NULL, 0);
	if (event_loop_run(lk.loop) == -1)
		fatal("event loop");
	(void)ipc_chan_flush(lk.smtpd);
	ipc_chan_free(lk.parent);
	ipc_chan_free(lk.smtpd);
	if (lk.aliases.map != NULL)
		map_close(lk.aliases.map);
	if (lk.virtual.map != NULL)
		map_close(lk.virtual.map);
	if (lk.creds.map != NULL)
		map_close(lk.creds.map);
	if (lk.senders.map != NULL)
		map_close(lk.senders.map);
	authfail_free(&lk.authfail);
	event_loop_free(lk.loop);
	endpwent();
	return 0;
}
