/*
 * lookup.c - the lookup process: does a local mailbox exist?
 *
 * Now a mailbox is a user of the system's user database, looked up with
 * getpwnam_r on the lower-cased local part.  A local part that could not
 * be a user name is refused without a lookup.  "Not found" and "could not
 * look" are kept apart: the second is a temporary failure (451), never a
 * reason to refuse mail.  It runs unprivileged but not chrooted, since the
 * user database (and NSS) live in the real file system.
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
#include "lookup/lookup.h"

#define LOOKUP_NAME_MAX		32	/* useradd's limit */
#define LOOKUP_LOCAL_MAX	256	/* longer than any local part */
#define LOOKUP_PWBUF_MAX	(1024 * 1024)

struct lookup {
	struct event_loop	*loop;
	struct ipc_chan		*parent;
	struct ipc_chan		*smtpd;
};

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

static void
lookup_rcpt(struct ipc_chan *ch, struct ipc_msg *m)
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
	result = lookup_local_user(local);
	log_debug("rcpt lookup: request %u local=%s domain=%s result=%d",
	    m->session, logfmt_value(el, sizeof(el), local),
	    logfmt_value(ed, sizeof(ed), domain), result);
	buf_init(&b);
	ipc_put_u32(&b, (uint32_t)result);
	ipc_send_buf(ch, MSG_L_RCPT_RESULT, m->session, -1, &b);
	buf_free(&b);
}

static void
lookup_smtpd_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)arg;
	if (m->type != MSG_L_RCPT)
		ipc_bad_type(m);
	lookup_rcpt(ch, m);
}

static void
lookup_parent_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	ipc_bad_type(m);
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

	(void)cfg;
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (u != NULL)
		privsep_drop(u, NULL);
	else
		log_info("running unprivileged: no chroot, no user change");
	memset(&lk, 0, sizeof(lk));
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
	event_loop_free(lk.loop);
	endpwent();
	return 0;
}
