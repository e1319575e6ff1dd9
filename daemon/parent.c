/*
 * parent.c - strictmaild's parent: bind, fork, supervise, shut down.
 *
 * Root does little here: look the users up, read the TLS certificate and
 * key (smtpd, chrooted, gets their bytes by message, at start and again
 * on SIGHUP), prepare the spool, bind the listeners and the control
 * socket, make the socketpairs and fork the queue, lookup, smtpd, control
 * and delivery processes, which drop root themselves.  Then one event
 * loop waits for signals, for each child's MSG_P_READY (the "ready" lines
 * are logged once all are ready) and for the control process's requests
 * (a reload, the name of a uid) and the queue's (who owns a maildrop
 * file: parent_who.c).  A shutdown stops smtpd first (its
 * sessions answer 421 and let go of their open messages), then the
 * queue, lookup, control and delivery; a child that dies on its own,
 * or breaks the protocol (the parent survives that), starts the same
 * shutdown and the parent exits 1, so that the service manager restarts
 * the whole set from a clean state.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/util.h"
#include "ctl/control.h"
#include "daemon/local.h"
#include "daemon/parent.h"
#include "daemon/parent_who.h"
#include "delivery/delivery.h"
#include "delivery/relay.h"
#include "daemon/startup.h"
#include "lookup/lookup.h"
#include "queue/queue.h"
#include "queue/queue_fs.h"
#include "smtpd/smtpd.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#define PARENT_BACKLOG	1024
/* Both files travel in one message (IPC_MAX_PAYLOAD). */
#define PARENT_CERT_MAX	(128 * 1024)
#define PARENT_KEY_MAX	(64 * 1024)
/* How long a SIGKILLed child may take to be reaped (it may be stuck in
 * the kernel, on a hung disk) before the parent goes on without it. */
#define PARENT_REAP_MS	5000

enum parent_proc {
	PROC_QUEUE,
	PROC_LOOKUP,
	PROC_SMTPD,
	PROC_CONTROL,
	PROC_DELIVERY,
	PROC_COUNT
};

struct parent;

struct parent_child {
	struct parent	*parent;
	const char	*name;		/* "queue", "lookup", "smtpd", "control" */
	const char	*comm;		/* process name for ps(1) */
	pid_t		 pid;		/* -1 when not running */
	int		 term_sent;
	int		 ready;		/* MSG_P_READY came */
	struct ipc_chan	*chan;
	int		 sp[2];		/* [0] parent's end, [1] child's */
	struct sm_user	 user;
};

struct parent {
	struct config		*cfg;
	struct parent_options	 opts;
	int			 privileged;
	struct parent_child	 child[PROC_COUNT];
	int			 sq[2];		/* [0] smtpd's, [1] queue's */
	int			 sl[2];		/* [0] smtpd's, [1] lookup's */
	int			 cq[2];		/* [0] control's, [1] queue's */
	int			 ctlfd;		/* the control socket, listening */
	int			 ctl_bound;	/* its path is ours to remove */
	int			 qd[2];		/* [0] queue's, [1] delivery's */
	int			 cd[2];		/* [0] control's, [1] delivery's */
	int			 logp[2];	/* children's log pipe; [0] the
						 * relay's, [1] the children's */
	int			 lockfd;	/* the spool lock, held */
	pid_t			 pid;		/* the parent's */
	struct event_loop	*loop;
	struct event_timer	*kill_timer;
	int			 stopping;
	int			 left_behind;	/* children given up on */
	int			 status;	/* exit status */
	uint64_t		 start;		/* now_ms() at parent_run */
	uint64_t		 stop_start;	/* now_ms() at the stop */
	struct buf		 tls_cert;	/* read, checked, not sent yet */
	struct buf		 tls_key;	/* zeroed once sent */
	struct local		*local;		/* local deliveries */
	struct parent_who	*who;		/* maildrop owners (MSG_P_WHO) */
	gid_t			 dropgid;	/* maildrop-group, privileged */
};

/* Signals the parent handles through its event loop. */
static const int parent_signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
#define PARENT_NSIGNALS	(sizeof(parent_signals) / sizeof(parent_signals[0]))

static void parent_stop_step(struct parent *p);

void
parent_error(int foreground, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	log_warnx("%s", msg);
	if (!foreground)
		fprintf(stderr, "strictmaild: %s\n", msg);
}

/* ---- before forking ---- */

static void
parent_setup(struct parent *p, struct config *cfg,
    const struct parent_options *po)
{
	static const char *const names[] = { "queue", "lookup", "smtpd",
	    "control", "delivery" };
	static const char *const comms[] = { "sm-queue", "sm-lookup",
	    "sm-smtpd", "sm-control", "sm-delivery" };
	int	i;

	memset(p, 0, sizeof(*p));
	p->start = now_ms();
	p->cfg = cfg;
	p->opts = *po;
	p->privileged = privsep_is_root() && !po->unprivileged;
	for (i = 0; i < PROC_COUNT; i++) {
		p->child[i].parent = p;
		p->child[i].name = names[i];
		p->child[i].comm = comms[i];
		p->child[i].pid = -1;
		p->child[i].sp[0] = p->child[i].sp[1] = -1;
	}
	p->sq[0] = p->sq[1] = p->sl[0] = p->sl[1] = -1;
	p->cq[0] = p->cq[1] = p->ctlfd = -1;
	p->qd[0] = p->qd[1] = -1;
	p->cd[0] = p->cd[1] = -1;
	p->logp[0] = p->logp[1] = -1;
	p->lockfd = -1;
	p->pid = getpid();
	buf_init(&p->tls_cert);
	buf_init(&p->tls_key);
}

/* The maildrop-group, which may create files in maildrop/: it must
 * exist and must not be root's group. */
static int
parent_drop_group(struct parent *p)
{
	struct group	*gr;

	if ((gr = getgrnam(p->cfg->maildrop_group)) == NULL) {
		parent_error(p->opts.foreground, "maildrop-group %s: no such "
		    "group (make install creates it)", p->cfg->maildrop_group);
		return -1;
	}
	if (gr->gr_gid == 0) {
		parent_error(p->opts.foreground, "maildrop-group %s: is group "
		    "0", p->cfg->maildrop_group);
		return -1;
	}
	p->dropgid = gr->gr_gid;
	return 0;
}

/* Looks the five users up (startup_users: none may be root); a sysexits
 * code or 0. */
static int
parent_users(struct parent *p)
{
	struct sm_user	u[STARTUP_NUSERS];
	char		err[1024];

	if (!p->privileged) {
		log_info("running unprivileged: no chroot, no user change");
		return 0;
	}
	if (startup_users(p->cfg, u, err, sizeof(err)) == -1) {
		parent_error(p->opts.foreground, "%s", err);
		return EX_CONFIG;
	}
	p->child[PROC_QUEUE].user = u[0];
	p->child[PROC_LOOKUP].user = u[1];
	p->child[PROC_SMTPD].user = u[2];
	p->child[PROC_CONTROL].user = u[3];
	p->child[PROC_DELIVERY].user = u[4];
	if (parent_drop_group(p) == -1)
		return EX_CONFIG;
	log_info("privilege separation: smtpd as %s, queue as %s (chroot %s), "
	    "lookup as %s, control as %s, delivery as %s",
	    p->child[PROC_SMTPD].user.name, p->child[PROC_QUEUE].user.name,
	    p->cfg->spool, p->child[PROC_LOOKUP].user.name,
	    p->child[PROC_CONTROL].user.name,
	    p->child[PROC_DELIVERY].user.name);
	return 0;
}

/* Raises the descriptor limit for everyone; max-sessions must fit. */
static int
parent_fd_limit(struct parent *p)
{
	char	err[1024];

	if (startup_fd_raise(p->cfg->max_sessions, err, sizeof(err)) == -1) {
		parent_error(p->opts.foreground, "%s", err);
		return EX_CONFIG;
	}
	return 0;
}

/* One strictmaild per spool: the lock comes before anything else there. */
static int
parent_lock(struct parent *p)
{
	char	err[1024];
	int	rc;

	rc = startup_lock(p->cfg->spool, &p->lockfd, err, sizeof(err));
	if (rc == STARTUP_OK)
		return 0;
	parent_error(p->opts.foreground, "%s", err);
	return rc == STARTUP_BUSY ? EX_TEMPFAIL : EX_CANTCREAT;
}

static int
parent_spool(struct parent *p)
{
	char	err[1024];

	if (queue_fs_prepare(p->cfg->spool, p->privileged ?
	    &p->child[PROC_QUEUE].user : NULL, p->privileged ?
	    &p->child[PROC_DELIVERY].user : NULL, p->dropgid, err,
	    sizeof(err)) == -1 ||
	    startup_empty_dir(p->cfg->empty_dir, p->privileged, err,
	    sizeof(err)) == -1) {
		parent_error(p->opts.foreground, "%s", err);
		return EX_CANTCREAT;
	}
	return 0;
}

/* ---- the certificate and key of the TLS listeners ---- */

/* Zeroes and frees a certificate and key that were read. */
static void
parent_tls_free(struct buf *cert, struct buf *key)
{
	if (key->cap > 0)
		explicit_bzero(key->data, key->cap);
	buf_free(key);
	buf_free(cert);
}

/* Forgets what was read; the key never stays in memory. */
static void
parent_tls_forget(struct parent *p)
{
	parent_tls_free(&p->tls_cert, &p->tls_key);
}

/* Reads all of fd (a regular file of at most max bytes) into out. */
static int
parent_tls_read_fd(int fd, size_t max, struct buf *out)
{
	struct stat	st;
	ssize_t		n;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	/* Room for all of it at once: a realloc would leave copies. */
	buf_reserve(out, max + 1);
	for (;;) {
		n = read(fd, out->data + out->len, max + 1 - out->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > max) {
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

/* Reads one of the files; the message names the setting's file:line. */
static int
parent_tls_read(const struct config *cfg, const char *what, const char *path,
    size_t max, struct buf *out, char *err, size_t errlen)
{
	char	where[1100];
	int	fd, rc, saved;

	(void)config_where(cfg, what, where, sizeof(where));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		(void)bsnprintf(err, errlen, "%s: %s %s: %s", where, what, path,
		    strerror(errno));
		return -1;
	}
	rc = parent_tls_read_fd(fd, max, out);
	saved = errno;
	close(fd);
	if (rc == -1) {
		(void)bsnprintf(err, errlen, "%s: %s %s: %s", where, what, path,
		    saved == EINVAL ? "not a regular file" : strerror(saved));
		return -1;
	}
	return 0;
}

/*
 * Reads tls-certificate and tls-key into cert and key and checks that
 * mbedTLS takes them, as smtpd will; 0, or -1 with a message naming the
 * file in err (and nothing kept).
 */
static int
parent_tls_read_pair(const struct config *cfg, struct buf *cert,
    struct buf *key, char *err, size_t errlen)
{
	struct tls_server_conf	*tc;
	char			 msg[512], where[1100];

	if (parent_tls_read(cfg, "tls-certificate", cfg->tls_cert,
	    PARENT_CERT_MAX, cert, err, errlen) == -1 ||
	    parent_tls_read(cfg, "tls-key", cfg->tls_key, PARENT_KEY_MAX, key,
	    err, errlen) == -1) {
		parent_tls_free(cert, key);
		return -1;
	}
	tc = tls_server_conf_new((const uint8_t *)cert->data, cert->len,
	    (const uint8_t *)key->data, key->len, msg, sizeof(msg));
	if (tc == NULL) {
		(void)bsnprintf(err, errlen, "%s: tls-certificate %s, tls-key "
		    "%s: %s", config_where(cfg, "tls-certificate", where,
		    sizeof(where)), cfg->tls_cert, cfg->tls_key, msg);
		parent_tls_free(cert, key);
		return -1;
	}
	tls_server_conf_unref(tc);
	return 0;
}

static int
parent_tls_load(struct parent *p, char *err, size_t errlen)
{
	parent_tls_forget(p);
	return parent_tls_read_pair(p->cfg, &p->tls_cert, &p->tls_key, err,
	    errlen);
}

int
parent_check_tls(const struct config *cfg, char *err, size_t errlen)
{
	struct buf	cert, key;
	int		rc;

	if (cfg->tls_cert == NULL)
		return 0;
	buf_init(&cert);
	buf_init(&key);
	rc = parent_tls_read_pair(cfg, &cert, &key, err, errlen);
	parent_tls_free(&cert, &key);
	tls_cleanup();
	return rc;
}

/* Hands what parent_tls_load read to smtpd, then forgets it. */
static void
parent_tls_send(struct parent *p)
{
	struct ipc_chan	*ch = p->child[PROC_SMTPD].chan;
	struct buf	 payload;

	buf_init(&payload);
	buf_reserve(&payload, p->tls_cert.len + p->tls_key.len + 8);
	ipc_put_data(&payload, p->tls_cert.data, p->tls_cert.len);
	ipc_put_data(&payload, p->tls_key.data, p->tls_key.len);
	if (ch != NULL)
		ipc_send_buf(ch, MSG_P_TLS_CONF, 0, -1, &payload);
	explicit_bzero(payload.data, payload.cap);
	buf_free(&payload);
	parent_tls_forget(p);
}

/* At start: a certificate that does not load stops strictmaild. */
static int
parent_tls_start(struct parent *p)
{
	char	err[1024];

	if (p->cfg->tls_cert == NULL)
		return 0;
	if (parent_tls_load(p, err, sizeof(err)) == -1) {
		parent_error(p->opts.foreground, "%s", err);
		return EX_CONFIG;
	}
	log_info("tls: certificate %s and key %s loaded", p->cfg->tls_cert,
	    p->cfg->tls_key);
	return 0;
}

/* "reload: <setting>: needs a restart": the running value stays. */
static void
parent_reload_restart(const char *setting, void *arg)
{
	(void)arg;
	log_warnx("reload: %s: needs a restart; keeping the running value",
	    setting);
}

/*
 * Reads the whole file again into next; the settings that reload are
 * taken into run, a copy of the running configuration.  0, or -1 with
 * the reason (file:line) in err.
 */
static int
parent_reload_read(struct parent *p, struct config *run, char *err,
    size_t errlen)
{
	struct config	next;

	config_init(&next);
	if (config_load(&next, p->cfg->path, err, errlen) == -1) {
		config_free(&next);
		return -1;
	}
	(void)config_restart_needed(p->cfg, &next, parent_reload_restart,
	    NULL);
	config_copy(run, p->cfg);
	config_reload_take(run, &next);
	config_free(&next);
	return 0;
}

/* Sends the settings that reload to the queue and smtpd. */
static int
parent_reload_send(struct parent *p, const struct config *run, char *err,
    size_t errlen)
{
	static const enum parent_proc to[] = { PROC_QUEUE, PROC_SMTPD,
	    PROC_DELIVERY };
	struct buf	payload;
	size_t		i;

	buf_init(&payload);
	config_settings_put(&payload, run);
	if (payload.len > IPC_MAX_PAYLOAD) {
		(void)bsnprintf(err, errlen, "%s: the settings take %zu "
		    "bytes, more than a reload can send (%d): restart instead",
		    run->path, payload.len, IPC_MAX_PAYLOAD);
		buf_free(&payload);
		return -1;
	}
	for (i = 0; i < sizeof(to) / sizeof(to[0]); i++)
		if (p->child[to[i]].chan != NULL)
			ipc_send_buf(p->child[to[i]].chan, MSG_P_SETTINGS, 0,
			    -1, &payload);
	buf_free(&payload);
	/* The lookup process opens its maps again. */
	if (p->child[PROC_LOOKUP].chan != NULL)
		ipc_send(p->child[PROC_LOOKUP].chan, MSG_L_REOPEN, 0, -1,
		    NULL, 0);
	return 0;
}

/*
 * SIGHUP: read the whole configuration again.  A file with an error, or
 * a certificate that does not load, keeps the running configuration (the
 * reason is logged with its file:line).  Otherwise the settings that
 * reload go to the queue and smtpd, the certificate and key to smtpd, and
 * each setting that needs a restart is logged and keeps its value.
 */
static int
parent_reload(struct parent *p)
{
	struct config	run;
	char		err[1024];

	if (p->stopping) {
		log_info("reload: shutdown in progress, ignored");
		return -1;
	}
	log_info("reload: reading %s", p->cfg->path);
	if (parent_reload_read(p, &run, err, sizeof(err)) == -1) {
		log_warnx("reload: %s: keeping the running configuration", err);
		return -1;
	}
	if ((run.tls_cert != NULL && parent_tls_read_pair(&run, &p->tls_cert,
	    &p->tls_key, err, sizeof(err)) == -1) ||
	    parent_reload_send(p, &run, err, sizeof(err)) == -1) {
		log_warnx("reload: %s: keeping the running configuration", err);
		parent_tls_forget(p);
		config_free(&run);
		return -1;
	}
	if (run.tls_cert != NULL) {
		parent_tls_send(p);
		log_info("reload: certificate %s sent to smtpd", run.tls_cert);
	}
	config_free(p->cfg);
	*p->cfg = run;
	log_info("reload: %s: done; new sessions take the new settings",
	    p->cfg->path);
	return 0;
}

static void
parent_sockaddr(const struct listener *l, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, l->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, l->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		*len = sizeof(*sin6);
	} else	/* the configuration parser checked it */
		fatalx("listener address %s", l->addr);
}

/* Binds one listener; -1 with errno set on failure. */
static int
parent_bind_one(struct listener *l)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			fd, on = 1, saved;

	parent_sockaddr(l, &ss, &len);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, PARENT_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	l->fd = fd;
	return 0;
}

static void
parent_close_listeners(struct parent *p)
{
	size_t	i;

	for (i = 0; i < p->cfg->nlisteners; i++) {
		if (p->cfg->listeners[i].fd != -1)
			close(p->cfg->listeners[i].fd);
		p->cfg->listeners[i].fd = -1;
	}
}

static int parent_control_bind(struct parent *p);

static int
parent_bind(struct parent *p)
{
	struct listener	*l;
	size_t		 i;

	for (i = 0; i < p->cfg->nlisteners; i++) {
		l = &p->cfg->listeners[i];
		if (parent_bind_one(l) == -1) {
			parent_error(p->opts.foreground, "listen %s %u: %s",
			    l->addr, l->port, strerror(errno));
			parent_close_listeners(p);
			return EX_OSERR;
		}
	}
	if (parent_control_bind(p) == -1) {
		parent_error(p->opts.foreground, "control-socket %s: %s",
		    p->cfg->control_socket, errno == EADDRINUSE ?
		    "another strictmaild listens there" : strerror(errno));
		parent_close_listeners(p);
		return EX_OSERR;
	}
	return 0;
}

/* ---- the control socket ---- */

/* The control socket's folder: created (root's, 0755) when missing. */
static int
parent_control_dir(const char *path)
{
	char		 dir[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	char		*slash;
	struct stat	 st;

	(void)strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -1;
	if (stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * A socket file left at path by a strictmaild that is gone is removed;
 * one that answers belongs to a running strictmaild (another spool):
 * -1 with EADDRINUSE.  Anything but a socket is not touched: -1, EEXIST.
 */
static int
parent_control_stale(const struct sockaddr_un *sun)
{
	struct stat	st;
	int		fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(sun->sun_path);
}

/*
 * Binds control-socket (mode 0666: anyone may connect; the control
 * process checks each client's uid) for the control process.
 */
static int
parent_control_bind(struct parent *p)
{
	const char		*path = p->cfg->control_socket;
	struct sockaddr_un	 sun;
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (parent_control_dir(path) == -1 ||
	    parent_control_stale(&sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	p->ctl_bound = 1;
	if (chmod(path, 0666) == -1 || listen(fd, PARENT_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	p->ctlfd = fd;
	return 0;
}

static void
parent_control_unlink(struct parent *p)
{
	if (p->ctl_bound && unlink(p->cfg->control_socket) == -1 &&
	    errno != ENOENT)
		log_warn("unlink %s", p->cfg->control_socket);
	p->ctl_bound = 0;
}

static int
parent_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	return 0;
}

/*
 * The children's log pipe: every child writes its lines to the one write
 * end (a line is one write of at most PIPE_BUF bytes, so lines never mix),
 * the parent reads the other and passes them on (log_relay_*).
 */
static int
parent_log_pipe(struct parent *p)
{
	if (pipe2(p->logp, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	if (fd_set_nonblock(p->logp[0]) == -1) {
		log_warn("log pipe");
		return -1;
	}
	log_relay_start(p->logp[0]);	/* it owns logp[0] now */
	return 0;
}

static int
parent_socketpairs(struct parent *p)
{
	int	i;

	for (i = 0; i < PROC_COUNT; i++)
		if (parent_socketpair(p->child[i].sp) == -1)
			return EX_OSERR;
	if (parent_socketpair(p->sq) == -1 || parent_socketpair(p->sl) == -1 ||
	    parent_socketpair(p->cq) == -1 ||
	    parent_socketpair(p->qd) == -1 || parent_socketpair(p->cd) == -1 ||
	    parent_log_pipe(p) == -1)
		return EX_OSERR;
	return 0;
}

static void
parent_close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

/* Closes every descriptor that only children need. */
static void
parent_close_child_ends(struct parent *p)
{
	int	i;

	for (i = 0; i < PROC_COUNT; i++)
		parent_close_fd(&p->child[i].sp[1]);
	parent_close_fd(&p->sq[0]);
	parent_close_fd(&p->sq[1]);
	parent_close_fd(&p->sl[0]);
	parent_close_fd(&p->sl[1]);
	parent_close_fd(&p->cq[0]);
	parent_close_fd(&p->cq[1]);
	parent_close_fd(&p->ctlfd);
	parent_close_fd(&p->qd[0]);
	parent_close_fd(&p->qd[1]);
	parent_close_fd(&p->cd[0]);
	parent_close_fd(&p->cd[1]);
	parent_close_fd(&p->logp[1]);
	parent_close_listeners(p);
}

/* ---- in the child ---- */

/*
 * Undoes the parent's signal setup: nothing blocked (signalfd's mask is
 * inherited), default actions, except SIGPIPE, SIGINT and SIGHUP, which
 * are ignored: a closed peer is an EPIPE error, not a death; the parent
 * orders the shutdown (smtpd first) itself, and each child has a session
 * of its own (a Ctrl-C or hangup of the terminal reaches the parent only).
 */
static void
parent_child_signals(void)
{
	sigset_t	none;
	size_t		i;

	for (i = 0; i < PARENT_NSIGNALS; i++)
		(void)signal(parent_signals[i], SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGINT, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		fatal("sigprocmask");
}

/* Closes all but the descriptors of child which; returns nothing. */
static void
parent_child_fds(struct parent *p, enum parent_proc which)
{
	struct config	*cfg = p->cfg;
	int		*keep;
	size_t		 n = 0, i;

	keep = xcalloc(6 + cfg->nlisteners, sizeof(*keep));
	keep[n++] = p->child[which].sp[1];
	keep[n++] = p->logp[1];
	if (which == PROC_QUEUE) {
		keep[n++] = p->sq[1];
		keep[n++] = p->cq[1];
		keep[n++] = p->qd[0];
	} else if (which == PROC_LOOKUP)
		keep[n++] = p->sl[1];
	else if (which == PROC_CONTROL) {
		keep[n++] = p->cq[0];
		keep[n++] = p->cd[0];
		keep[n++] = p->ctlfd;
	} else if (which == PROC_DELIVERY) {
		keep[n++] = p->qd[1];
		keep[n++] = p->cd[1];
	} else {
		keep[n++] = p->sq[0];
		keep[n++] = p->sl[0];
		for (i = 0; i < cfg->nlisteners; i++)
			keep[n++] = cfg->listeners[i].fd;
	}
	privsep_close_except(keep, n);
	free(keep);
	if (which != PROC_SMTPD)
		for (i = 0; i < cfg->nlisteners; i++)
			cfg->listeners[i].fd = -1;
}

/*
 * A child's lines go to the log pipe, never to the terminal or to syslog
 * (the parent passes them on: a chrooted child could not connect to
 * /dev/log again); so do sanitizer reports, and a test library preloaded
 * into the child finds the pipe's number in STRICTMAIL_LOG_FD.
 */
static void
parent_child_log(struct parent *p)
{
	char	num[16];

	log_set_output(p->logp[1]);
	(void)bsnprintf(num, sizeof(num), "%d", p->logp[1]);
	if (setenv("STRICTMAIL_LOG_FD", num, 1) == -1)
		fatal("setenv");
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_set_report_fd((void *)(intptr_t)p->logp[1]);
#endif
}

static void parent_child_run(struct parent *p, enum parent_proc which)
    SM_NORETURN;

static void
parent_child_run(struct parent *p, enum parent_proc which)
{
	struct parent_child	*c = &p->child[which];
	const struct sm_user	*u = p->privileged ? &c->user : NULL;
	int			 fd = c->sp[1], rc = 1;

	/* First: a line logged here must not read the parent's pipe. */
	parent_child_log(p);
	parent_child_signals();
	parent_tls_forget(p);		/* smtpd gets them by message */
	(void)prctl(PR_SET_NAME, c->comm, 0, 0, 0);
	/* No terminal: a session of its own, /dev/null on 0 to 2. */
	privsep_detach(p->pid);
	parent_child_fds(p, which);
	log_setproc(c->name);
	switch (which) {
	case PROC_QUEUE:
		rc = queue_main(p->cfg, fd, p->sq[1], p->cq[1], p->qd[0], u);
		break;
	case PROC_LOOKUP:
		rc = lookup_main(p->cfg, fd, p->sl[1], u);
		break;
	case PROC_SMTPD:
		rc = smtpd_main(p->cfg, fd, p->sq[0], p->sl[0], u);
		break;
	case PROC_CONTROL:
		rc = control_main(p->cfg, fd, p->cq[0], p->cd[0], p->ctlfd,
		    u);
		break;
	case PROC_DELIVERY:
		rc = delivery_main(p->cfg, fd, p->qd[1], p->cd[1], u);
		break;
	case PROC_COUNT:
		break;
	}
	config_free(p->cfg);
	exit(rc);
}

/* ---- forking ---- */

static int
parent_fork(struct parent *p, enum parent_proc which)
{
	pid_t	pid;

	(void)fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("fork %s", p->child[which].name);
		return -1;
	}
	if (pid == 0)
		parent_child_run(p, which);
	p->child[which].pid = pid;
	log_debug("started %s (pid %ld)", p->child[which].name, (long)pid);
	return 0;
}

static int
parent_fork_all(struct parent *p)
{
	static const enum parent_proc order[] = {
		PROC_QUEUE, PROC_LOOKUP, PROC_DELIVERY, PROC_SMTPD, PROC_CONTROL
	};
	size_t	i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (parent_fork(p, order[i]) == -1)
			return -1;
	return 0;
}

/* Blocks the signals the loop will handle, so none is lost or acted on
 * by default while the children are being started. */
static int
parent_block_signals(void)
{
	sigset_t	set;
	size_t		i;

	sigemptyset(&set);
	for (i = 0; i < PARENT_NSIGNALS; i++)
		sigaddset(&set, parent_signals[i]);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
		log_warn("signals");
		return -1;
	}
	return 0;
}

/* ---- supervision ---- */

static int
parent_alive(const struct parent *p, enum parent_proc which)
{
	return p->child[which].pid != -1;
}

/* Sends signo to a child; -1 (logged) when it cannot be signalled. */
static int
parent_kill(struct parent *p, enum parent_proc which, int signo)
{
	struct parent_child	*c = &p->child[which];

	if (c->pid == -1)
		return 0;
	if (kill(c->pid, signo) == -1 && errno != ESRCH) {
		log_warn("signal %d to %s (pid %ld)", signo, c->name,
		    (long)c->pid);
		return -1;
	}
	return 0;
}

/*
 * 1 if a child's end looks like part of an orderly shutdown: it exited
 * with 0, or our SIGTERM reached it before its event loop had taken the
 * signal over.  Anything else is logged as a warning.  A requested
 * shutdown still exits 0 unless the shutdown timeout had to kill.
 */
static int
parent_exit_clean(const struct parent_child *c, int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) == 0;
	return c->term_sent && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
}

static void
parent_log_exit(struct parent *p, struct parent_child *c, int st)
{
	if (p->stopping && parent_exit_clean(c, st)) {
		if (WIFEXITED(st))
			log_info("child %s (pid %ld) exited with status 0",
			    c->name, (long)c->pid);
		else
			log_info("child %s (pid %ld) killed by signal %d",
			    c->name, (long)c->pid, WTERMSIG(st));
		return;
	}
	if (WIFEXITED(st))
		log_warnx("child %s (pid %ld) exited with status %d", c->name,
		    (long)c->pid, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		log_warnx("child %s (pid %ld) killed by signal %d", c->name,
		    (long)c->pid, WTERMSIG(st));
	else
		log_warnx("child %s (pid %ld) ended with wait status %d",
		    c->name, (long)c->pid, st);
}

/* Reaps the children killed; returns how many are still there. */
static int
parent_reap_killed(struct parent *p, int log)
{
	struct parent_child	*c;
	pid_t			 r;
	int			 i, st = 0, left = 0;

	for (i = 0; i < PROC_COUNT; i++) {
		c = &p->child[i];
		if (c->pid == -1)
			continue;
		while ((r = waitpid(c->pid, &st, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (r == c->pid && log)
			parent_log_exit(p, c, st);
		if (r == c->pid || r == -1)
			c->pid = -1;
		else
			left++;
	}
	return left;
}

/*
 * SIGKILL every child left, then reap them, waiting at most PARENT_REAP_MS
 * for all: the parent never hangs on a child.  One that cannot be signalled,
 * or that is still there at the end (stuck in the kernel, on a hung disk),
 * is reported and left behind; returns how many were.  Wait statuses are
 * logged when log is set.
 */
static int
parent_kill_all(struct parent *p, int log)
{
	uint64_t	end = now_ms() + PARENT_REAP_MS;
	int		i, left = 0;

	for (i = 0; i < PROC_COUNT; i++) {
		struct parent_child *c = &p->child[i];

		if (c->pid == -1 ||
		    parent_kill(p, (enum parent_proc)i, SIGKILL) == 0)
			continue;
		log_warnx("%s (pid %ld) cannot be killed: going on without it",
		    c->name, (long)c->pid);
		c->pid = -1;
		left++;
	}
	while (parent_reap_killed(p, log) > 0) {
		if (now_ms() < end) {
			(void)usleep(10000);
			continue;
		}
		for (i = 0; i < PROC_COUNT; i++) {
			struct parent_child *c = &p->child[i];

			if (c->pid == -1)
				continue;
			log_warnx("%s (pid %ld) still there %d ms after "
			    "SIGKILL: going on without it", c->name,
			    (long)c->pid, PARENT_REAP_MS);
			c->pid = -1;
			left++;
		}
	}
	return left;
}

static void
parent_kill_timeout(void *arg)
{
	struct parent	*p = arg;
	int		 i;

	p->kill_timer = NULL;
	for (i = 0; i < PROC_COUNT; i++) {
		struct parent_child *c = &p->child[i];

		if (c->pid == -1)
			continue;
		log_warnx("shutdown timeout (%llu s): killing %s (pid %ld)",
		    (unsigned long long)p->cfg->shutdown_timeout, c->name,
		    (long)c->pid);
	}
	p->left_behind += parent_kill_all(p, 1);
	p->status = 1;
	parent_stop_step(p);
}

/* Starts the shutdown of every child; status is the parent's exit. */
static void
parent_stop(struct parent *p, int status)
{
	if (status != 0)
		p->status = status;
	if (p->stopping)
		return;
	p->stopping = 1;
	p->stop_start = now_ms();
	if (p->local != NULL)
		local_stop(p->local);
	p->kill_timer = event_timer_add(p->loop,
	    p->cfg->shutdown_timeout * 1000, parent_kill_timeout, p);
	parent_stop_step(p);
}

/*
 * The order of a shutdown: smtpd first, so that its sessions end and give
 * back what they opened in the queue; once it is gone, the queue and
 * lookup.  When nobody is left, the loop ends.
 */
static void
parent_stop_step(struct parent *p)
{
	int	i, left = 0;

	if (parent_alive(p, PROC_SMTPD)) {
		if (!p->child[PROC_SMTPD].term_sent) {
			p->child[PROC_SMTPD].term_sent = 1;
			(void)parent_kill(p, PROC_SMTPD, SIGTERM);
		}
		return;
	}
	for (i = 0; i < PROC_COUNT; i++) {
		if (!parent_alive(p, (enum parent_proc)i))
			continue;
		left++;
		if (!p->child[i].term_sent) {
			p->child[i].term_sent = 1;
			(void)parent_kill(p, (enum parent_proc)i, SIGTERM);
		}
	}
	if (left > 0)
		return;
	if (p->kill_timer != NULL) {
		event_timer_cancel(p->loop, p->kill_timer);
		p->kill_timer = NULL;
	}
	if (p->left_behind > 0)
		log_warnx("shutdown complete in %llu ms, %d processes left "
		    "behind", (unsigned long long)(now_ms() - p->stop_start),
		    p->left_behind);
	else
		log_info("shutdown complete in %llu ms",
		    (unsigned long long)(now_ms() - p->stop_start));
	event_loop_stop(p->loop);
}

static struct parent_child *
parent_child_by_pid(struct parent *p, pid_t pid)
{
	int	i;

	for (i = 0; i < PROC_COUNT; i++)
		if (p->child[i].pid == pid)
			return &p->child[i];
	return NULL;
}

static void
parent_reap(struct parent *p)
{
	struct parent_child	*c;
	pid_t			 pid;
	int			 st, unexpected;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((c = parent_child_by_pid(p, pid)) == NULL) {
			if (p->local != NULL)
				(void)local_reaped(p->local, pid, st);
			continue;
		}
		unexpected = !p->stopping;
		parent_log_exit(p, c, st);
		c->pid = -1;
		if (unexpected) {
			log_warnx("child %s is gone: stopping all processes",
			    c->name);
			parent_stop(p, 1);
			continue;
		}
		parent_stop_step(p);
	}
}

static void
parent_signal(int signo, void *arg)
{
	struct parent	*p = arg;

	switch (signo) {
	case SIGCHLD:
		parent_reap(p);
		break;
	case SIGTERM:
	case SIGINT:
		if (p->stopping) {
			log_info("shutdown already in progress");
			break;
		}
		log_info("shutdown requested");
		parent_stop(p, 0);
		break;
	case SIGHUP:
		(void)parent_reload(p);
		break;
	default:
		break;
	}
}

/* ---- the parent's side of the channels ---- */

static void parent_log_ready(const struct parent *p);

/*
 * A child broke the protocol: its channel is closed already.  The parent
 * does not die of it; it stops everything, as when a child dies.
 */
static void
parent_chan_violation(struct ipc_chan *ch, const char *what, void *arg)
{
	struct parent_child	*c = arg;
	struct parent		*p = c->parent;

	log_warnx("%s: %s: protocol violation, stopping all processes",
	    c->name, what);
	ipc_chan_free(ch);
	c->chan = NULL;
	parent_stop(p, 1);
}

/* MSG_P_READY, once per child; the last one announces the service. */
static void
parent_child_ready(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	int	i;

	if (ipc_end(m) == -1)
		return;
	if (c->ready) {
		ipc_violation(m, "sent twice");
		return;
	}
	c->ready = 1;
	log_debug("%s is ready", c->name);
	for (i = 0; i < PROC_COUNT; i++)
		if (!p->child[i].ready)
			return;
	if (!p->stopping)
		parent_log_ready(p);
}

/* MSG_C_RELOAD from the control process: what SIGHUP does, answered. */
static void
parent_control_reload(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	struct buf	b;
	uint32_t	failed;

	if (ipc_end(m) == -1)
		return;
	log_info("reload requested through the control socket");
	failed = parent_reload(p) == -1;
	if (c->chan == NULL)
		return;
	buf_init(&b);
	ipc_put_u32(&b, failed);
	ipc_send_buf(c->chan, MSG_C_END, m->session, -1, &b);
	buf_free(&b);
}

/* MSG_C_USER: the name of a uid, which the chrooted control process
 * cannot look up itself. */
static void
parent_control_user(struct parent_child *c, struct ipc_msg *m)
{
	struct passwd	*pw;
	struct buf	 b;
	uint32_t	 uid = ipc_get_u32(m);

	if (ipc_end(m) == -1)
		return;
	errno = 0;
	pw = getpwuid((uid_t)uid);
	buf_init(&b);
	ipc_put_str(&b, pw != NULL && strlen(pw->pw_name) < 256 ?
	    pw->pw_name : "");
	ipc_send_buf(c->chan, MSG_C_USER_NAME, m->session, -1, &b);
	buf_free(&b);
}

/* ---- operator commands: who is an admin, status ---- */

/* 1 if the user pw is a member of the group gid (primary or not). */
static int
parent_in_group(const struct passwd *pw, gid_t gid)
{
	gid_t	*groups;
	int	 n = 64, i, found = 0;

	if (pw->pw_gid == gid)
		return 1;
	groups = xcalloc((size_t)n, sizeof(*groups));
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1 &&
	    n > 64) {
		groups = xreallocarray(groups, (size_t)n, sizeof(*groups));
		if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
			n = 0;
	}
	for (i = 0; i < n && !found; i++)
		found = groups[i] == gid;
	free(groups);
	return found;
}

/* MSG_C_ADMIN: is the uid root or a member of admin-group?  The
 * chrooted control process cannot read the group database. */
static void
parent_control_admin(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	const char	*group = p->cfg->admin_group;
	struct passwd	*pw;
	struct group	*gr;
	struct buf	 b;
	uint32_t	 uid = ipc_get_u32(m), admin;

	if (ipc_end(m) == -1)
		return;
	pw = getpwuid((uid_t)uid);
	admin = uid == 0;
	if (!admin && pw != NULL && group != NULL &&
	    (gr = getgrnam(group)) != NULL)
		admin = parent_in_group(pw, gr->gr_gid);
	buf_init(&b);
	ipc_put_u32(&b, admin);
	ipc_put_str(&b, pw != NULL && strlen(pw->pw_name) < 256 ?
	    pw->pw_name : "");
	ipc_put_str(&b, group != NULL ? group : "");
	ipc_send_buf(c->chan, MSG_C_ADMIN_RESULT, m->session, -1, &b);
	buf_free(&b);
}

static void
parent_stat(struct ipc_chan *ch, uint32_t session, const char *key,
    const char *value)
{
	struct buf	b;

	buf_init(&b);
	ipc_put_str(&b, key);
	ipc_put_str(&b, value);
	ipc_send_buf(ch, MSG_C_STAT, session, -1, &b);
	buf_free(&b);
}

/* MSG_C_STATUS: the processes and the uptime, then smtpd's part (its
 * open sessions), which smtpd sends here and the parent passes on; the
 * parent ends the answer itself when smtpd is not there. */
static void
parent_control_status(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	char		 key[64], val[32];
	struct buf	 b;
	int		 i;

	if (ipc_end(m) == -1)
		return;
	(void)bsnprintf(val, sizeof(val), "%ld", (long)p->pid);
	parent_stat(c->chan, m->session, "process.strictmaild", val);
	for (i = 0; i < PROC_COUNT; i++) {
		(void)bsnprintf(key, sizeof(key), "process.%s",
		    p->child[i].name);
		(void)bsnprintf(val, sizeof(val), "%ld",
		    (long)p->child[i].pid);
		parent_stat(c->chan, m->session, key, val);
	}
	(void)bsnprintf(val, sizeof(val), "%llu",
	    (unsigned long long)((now_ms() - p->start) / 1000));
	parent_stat(c->chan, m->session, "uptime", val);
	if (p->child[PROC_SMTPD].chan != NULL && !p->stopping) {
		ipc_send(p->child[PROC_SMTPD].chan, MSG_C_STATUS, m->session,
		    -1, NULL, 0);
		return;
	}
	buf_init(&b);
	ipc_put_u32(&b, 0);
	ipc_send_buf(c->chan, MSG_C_END, m->session, -1, &b);
	buf_free(&b);
}

/* smtpd's MSG_C_STAT and MSG_C_END of a status request: on to the
 * control process as they are.  1 if m was one. */
static int
parent_smtpd_status(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	struct ipc_chan	*ctl = p->child[PROC_CONTROL].chan;

	if (c != &p->child[PROC_SMTPD] || (m->type != MSG_C_STAT &&
	    m->type != MSG_C_END))
		return 0;
	if (ctl != NULL)
		ipc_send(ctl, m->type, m->session, -1, m->data, m->len);
	return 1;
}

/* The control process's requests carry its request id as session. */
static int
parent_control_dispatch(struct parent_child *c, struct ipc_msg *m)
{
	if (parent_smtpd_status(c->parent, c, m))
		return 1;
	if (c != &c->parent->child[PROC_CONTROL])
		return 0;
	switch (m->type) {
	case MSG_C_ADMIN:
		parent_control_admin(c->parent, c, m);
		return 1;
	case MSG_C_STATUS:
		parent_control_status(c->parent, c, m);
		return 1;
	case MSG_C_RELOAD:
		parent_control_reload(c->parent, c, m);
		return 1;
	case MSG_C_USER:
		parent_control_user(c, m);
		return 1;
	default:
		return 0;
	}
}

/* Maildrop pickup: the queue's MSG_P_WHO and the lookup's answer about
 * a sender (parent_who.c); their session is a request id. */
static int
parent_who_dispatch(struct parent *p, struct parent_child *c,
    struct ipc_msg *m)
{
	if (c == &p->child[PROC_QUEUE] && m->type == MSG_P_WHO)
		parent_who_request(p->who, m);
	else if (c == &p->child[PROC_LOOKUP] && m->type ==
	    MSG_L_SENDER_RESULT)
		parent_who_sender_result(p->who, m);
	else
		return 0;
	return 1;
}

/*
 * Every reader here goes through the channel's violation callback: a
 * malformed message closes that channel (ipc.h), and the dispatcher
 * returns as soon as a reader says so, before it acts on anything read.
 */
static void
parent_chan_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct parent_child	*c = arg;
	struct parent		*p = c->parent;

	(void)ch;
	if (c == &p->child[PROC_QUEUE] && m->type == MSG_LD_JOB) {
		local_job(p->local, m);
		return;
	}
	if (c == &p->child[PROC_LOOKUP] && m->type == MSG_L_EXPAND_RESULT) {
		local_expand_result(p->local, m);
		return;
	}
	if (ipc_no_fd(m) == -1)
		return;
	if (parent_who_dispatch(p, c, m))
		return;
	if (parent_control_dispatch(c, m))
		return;
	if (m->session != 0) {
		ipc_violation(m, "unexpected session");
		return;
	}
	switch (m->type) {
	case MSG_P_READY:
		parent_child_ready(c->parent, c, m);
		break;
	default:
		ipc_bad_type(m);
		break;
	}
}

static void
parent_chan_closed(struct ipc_chan *ch, void *arg)
{
	struct parent_child	*c = arg;

	log_debug("channel to %s closed", c->name);
	ipc_chan_free(ch);
	c->chan = NULL;
	if (c == &c->parent->child[PROC_QUEUE]) {
		local_set_queue(c->parent->local, NULL);
		parent_who_set_queue(c->parent->who, NULL);
	} else if (c == &c->parent->child[PROC_LOOKUP]) {
		local_set_lookup(c->parent->local, NULL);
		parent_who_set_lookup(c->parent->who, NULL);
	}
}

/* The children's log pipe is readable: pass their lines on. */
static void
parent_log_readable(int fd, int events, void *arg)
{
	struct parent	*p = arg;

	(void)events;
	if (log_relay_read() == 0) {
		/* Every child is gone: nothing more will come. */
		event_del(p->loop, fd);
		log_relay_end();
	}
}

static int
parent_loop_setup(struct parent *p)
{
	size_t	i;
	int	k;

	p->loop = event_loop_new();
	for (i = 0; i < PARENT_NSIGNALS; i++) {
		if (event_signal(p->loop, parent_signals[i], parent_signal,
		    p) == -1) {
			log_warn("event_signal %d", parent_signals[i]);
			return -1;
		}
	}
	if (event_add(p->loop, p->logp[0], EV_READ, parent_log_readable,
	    p) == -1) {
		log_warn("event_add log pipe");
		return -1;
	}
	for (k = 0; k < PROC_COUNT; k++) {
		struct parent_child *c = &p->child[k];

		c->chan = ipc_chan_new(p->loop, c->sp[0], c->name,
		    parent_chan_dispatch, parent_chan_closed, c);
		ipc_chan_set_violation(c->chan, parent_chan_violation);
		c->sp[0] = -1;		/* the channel owns it now */
	}
	p->local = local_new(p->cfg, p->loop, privsep_is_root());
	local_set_queue(p->local, p->child[PROC_QUEUE].chan);
	local_set_lookup(p->local, p->child[PROC_LOOKUP].chan);
	p->who = parent_who_new(p->cfg);
	parent_who_set_queue(p->who, p->child[PROC_QUEUE].chan);
	parent_who_set_lookup(p->who, p->child[PROC_LOOKUP].chan);
	return 0;
}

/* Every child is ready: the spool is recovered, smtpd accepts. */
static void
parent_log_ready(const struct parent *p)
{
	const struct listener	*l;
	size_t			 i;
	int			 v6;

	for (i = 0; i < p->cfg->nlisteners; i++) {
		l = &p->cfg->listeners[i];
		v6 = strchr(l->addr, ':') != NULL;
		log_info("ready: listening on %s%s%s:%u (%s)", v6 ? "[" : "",
		    l->addr, v6 ? "]" : "", l->port,
		    listener_kind_name(l->kind));
	}
	log_info("ready in %llu ms",
	    (unsigned long long)(now_ms() - p->start));
}

/* Kills and reaps whatever runs after a failure to start or to loop. */
static void
parent_abort_children(struct parent *p)
{
	(void)parent_kill_all(p, 0);
}

static void
parent_cleanup(struct parent *p)
{
	int	i;

	for (i = 0; i < PROC_COUNT; i++) {
		if (p->child[i].chan != NULL)
			ipc_chan_free(p->child[i].chan);
		p->child[i].chan = NULL;
		parent_close_fd(&p->child[i].sp[0]);
	}
	parent_close_child_ends(p);
	if (p->kill_timer != NULL)
		event_timer_cancel(p->loop, p->kill_timer);
	p->kill_timer = NULL;
	local_free(p->local);
	p->local = NULL;
	parent_who_free(p->who);
	p->who = NULL;
	event_loop_free(p->loop);
	p->loop = NULL;
	log_relay_end();		/* what the children wrote last */
	parent_control_unlink(p);
	parent_close_fd(&p->lockfd);
	parent_tls_forget(p);
	tls_cleanup();
}

/*
 * relay-auth-file: a file that is not root's, is open to group or
 * others, or does not parse stops the start here with its name.  The
 * credentials are forgotten at once; the delivery process reads the
 * file itself before it drops its privileges.
 */
static int
parent_relay_auth(struct parent *p)
{
	struct relay_auth	a;
	char			err[1024];

	if (p->cfg->relay_auth_file == NULL)
		return 0;
	if (relay_auth_load(p->cfg->relay_auth_file, &a, err,
	    sizeof(err)) == -1) {
		parent_error(p->opts.foreground, "relay-auth-file %s", err);
		return EX_CONFIG;
	}
	relay_auth_free(&a);
	return 0;
}

/* Everything up to the fork; a sysexits code or 0. */
static int
parent_start(struct parent *p)
{
	int	rc;

	if ((rc = parent_relay_auth(p)) != 0 ||
	    (rc = parent_fd_limit(p)) != 0 || (rc = parent_users(p)) != 0 ||
	    (rc = parent_tls_start(p)) != 0 || (rc = parent_lock(p)) != 0 ||
	    (rc = parent_spool(p)) != 0 || (rc = parent_bind(p)) != 0)
		return rc;
	if (parent_block_signals() == -1 || parent_socketpairs(p) != 0)
		return EX_OSERR;
	if (parent_fork_all(p) == -1)
		return EX_OSERR;
	parent_close_child_ends(p);
	if (parent_loop_setup(p) == -1)
		return EX_OSERR;
	if (p->cfg->tls_cert != NULL)
		parent_tls_send(p);
	return 0;
}

int
parent_run(struct config *cfg, const struct parent_options *po)
{
	struct parent	p;
	int		rc;

	parent_setup(&p, cfg, po);
	if ((rc = parent_start(&p)) != 0) {
		parent_abort_children(&p);
		parent_cleanup(&p);
		return rc;
	}
	if (event_loop_run(p.loop) == -1) {
		log_warn("event loop");
		parent_abort_children(&p);
		p.status = 1;
	}
	parent_cleanup(&p);
	return p.status;
}
