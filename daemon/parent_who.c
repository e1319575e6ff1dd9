/*
 * parent_who.c - MSG_P_WHO: the owner of a maildrop file, looked up in
 * the password database by the parent for the chrooted queue, and the
 * sender check through the lookup process when a sender-login-map is
 * configured (parent_who.h).  Questions waiting for the lookup are kept
 * in a short list under the session id they were sent with.
 */
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "daemon/parent_who.h"

#define WHO_NAME_MAX	256	/* a user or full name we pass on */

struct parent_who_req {
	struct parent_who_req	*next;
	uint32_t		 queue_session;
	uint32_t		 lookup_session;
	char			 name[WHO_NAME_MAX];
	char			 gecos[WHO_NAME_MAX];
};

struct parent_who {
	const struct config	*cfg;
	struct ipc_chan		*queue;
	struct ipc_chan		*lookup;
	struct parent_who_req	*waiting;
	uint32_t		 next_session;
};

struct parent_who *
parent_who_new(const struct config *cfg)
{
	struct parent_who	*w = xcalloc(1, sizeof(*w));

	w->cfg = cfg;
	return w;
}

static void
parent_who_answer(struct parent_who *w, uint32_t session, uint32_t status,
    const char *name, const char *gecos)
{
	struct buf	b;

	if (w->queue == NULL)
		return;
	buf_init(&b);
	ipc_put_u32(&b, status);
	ipc_put_str(&b, name);
	ipc_put_str(&b, gecos);
	ipc_send_buf(w->queue, MSG_P_WHO_RESULT, session, -1, &b);
	buf_free(&b);
}

static void
parent_who_drop_all(struct parent_who *w, int answer)
{
	struct parent_who_req	*r, *next;

	for (r = w->waiting; r != NULL; r = next) {
		next = r->next;
		if (answer)
			parent_who_answer(w, r->queue_session, WHO_TEMPFAIL,
			    r->name, r->gecos);
		free(r);
	}
	w->waiting = NULL;
}

void
parent_who_free(struct parent_who *w)
{
	if (w == NULL)
		return;
	parent_who_drop_all(w, 0);
	free(w);
}

void
parent_who_set_queue(struct parent_who *w, struct ipc_chan *queue)
{
	w->queue = queue;
	if (queue == NULL)
		parent_who_drop_all(w, 0);
}

void
parent_who_set_lookup(struct parent_who *w, struct ipc_chan *lookup)
{
	w->lookup = lookup;
	if (lookup == NULL)
		parent_who_drop_all(w, 1);
}

/*
 * Whether -f senders are checked against a sender-login-map.  That map
 * is a keyword of submission AUTH; without it every sender is allowed.
 */
static int
parent_who_has_map(const struct config *cfg)
{
	return cfg->sender_login_map != NULL;
}

/* The full name: the GECOS field up to its first comma. */
static void
parent_who_gecos(const struct passwd *pw, char *dst, size_t size)
{
	size_t	n;

	n = pw->pw_gecos != NULL ? strcspn(pw->pw_gecos, ",") : 0;
	if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(dst, pw->pw_gecos, n);
	dst[n] = '\0';
}

/* The sender question goes to the lookup process. */
static void
parent_who_ask(struct parent_who *w, uint32_t session, const char *name,
    const char *gecos, const char *sender)
{
	struct parent_who_req	*r;
	struct buf		 b;

	if (w->lookup == NULL) {
		log_warnx("maildrop: user %s asks for a sender and the lookup "
		    "process is not running", name);
		parent_who_answer(w, session, WHO_TEMPFAIL, name, gecos);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->queue_session = session;
	r->lookup_session = ++w->next_session;
	(void)strlcpy(r->name, name, sizeof(r->name));
	(void)strlcpy(r->gecos, gecos, sizeof(r->gecos));
	r->next = w->waiting;
	w->waiting = r;
	buf_init(&b);
	ipc_put_str(&b, name);
	ipc_put_str(&b, strcmp(sender, "<>") == 0 ? "" : sender);
	ipc_send_buf(w->lookup, MSG_L_SENDER, r->lookup_session, -1, &b);
	buf_free(&b);
}

void
parent_who_request(struct parent_who *w, struct ipc_msg *m)
{
	struct passwd	*pw;
	char		 sender[512], name[WHO_NAME_MAX];
	char		 gecos[WHO_NAME_MAX];
	uint32_t	 uid;

	uid = ipc_get_u32(m);
	ipc_get_str(m, sender, sizeof(sender));
	if (ipc_end(m) == -1)
		return;
	errno = 0;
	pw = getpwuid((uid_t)uid);
	if (pw == NULL || strlcpy(name, pw->pw_name, sizeof(name)) >=
	    sizeof(name)) {
		parent_who_answer(w, m->session, pw == NULL && errno != 0 &&
		    errno != ENOENT && errno != ESRCH ? WHO_TEMPFAIL :
		    WHO_NOUSER, "", "");
		return;
	}
	parent_who_gecos(pw, gecos, sizeof(gecos));
	if (sender[0] != '\0' && parent_who_has_map(w->cfg))
		parent_who_ask(w, m->session, name, gecos, sender);
	else
		parent_who_answer(w, m->session, WHO_OK, name, gecos);
}

void
parent_who_sender_result(struct parent_who *w, struct ipc_msg *m)
{
	struct parent_who_req	**pp, *r;
	uint32_t		  res;

	res = ipc_get_u32(m);
	if (ipc_end(m) == -1)
		return;
	for (pp = &w->waiting; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->lookup_session == m->session)
			break;
	if ((r = *pp) == NULL) {
		log_warnx("lookup: sender answer %u to no question: ignored",
		    m->session);
		return;
	}
	*pp = r->next;
	parent_who_answer(w, r->queue_session, res == 0 ? WHO_OK : res == 1 ?
	    WHO_SENDER_REFUSED : WHO_TEMPFAIL, r->name, r->gecos);
	free(r);
}
