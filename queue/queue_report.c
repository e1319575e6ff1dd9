/*
 * queue_report.c - a delivery status report made into a new message of
 * the spool (see queue_report.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/util.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/queue_fs.h"
#include "queue/queue_report.h"

void
queue_report_relay_host(const char *relay, char *out, size_t size)
{
	size_t	n = strcspn(relay, "[");

	/* Only "host[address]:port" names a remote MTA; a local delivery's
	 * relay ("mbox", "lmtp", ...) names none. */
	if (relay[n] == '\0') {
		out[0] = '\0';
		return;
	}

	if (n >= size)
		n = size - 1;
	memcpy(out, relay, n);
	out[n] = '\0';
}

void
queue_report_error_status(const char *error, char *out, size_t size)
{
	size_t	n;

	out[0] = '\0';
	if (strspn(error, "0123456789") != 3 || error[3] != ' ' ||
	    error[4] != '4' || error[5] != '.')
		return;
	n = strspn(error + 4, "0123456789.");
	if (n < size && (error[4 + n] == ' ' || error[4 + n] == '\0')) {
		memcpy(out, error + 4, n);
		out[n] = '\0';
	}
}

/* The report's envelope: from <>, to rcpt. */
static void
queue_report_envelope(const struct config *cfg, struct queue_report *rep,
    const struct buf *text, const char *dg, const struct dsn_info *info,
    const char *rcpt, int never, uint64_t now)
{
	struct envelope		*benv = &rep->env;
	struct envelope_rcpt	*r;

	envelope_init(benv);
	(void)strlcpy(benv->id, rep->id, sizeof(benv->id));
	benv->arrival = now;
	benv->size = text->len;
	(void)strlcpy(benv->digest, dg, sizeof(benv->digest));
	benv->sender = xstrdup("");
	benv->helo = xstrdup(cfg->hostname);
	benv->client = xstrdup("127.0.0.1");
	benv->protocol = xstrdup("local");
	benv->attempts = 0;
	benv->next_attempt = now;
	benv->expiry = now + cfg->queue_lifetime;
	if (info->eightbit)
		benv->body = xstrdup("8BITMIME");
	benv->smtputf8 = info->smtputf8;
	r = envelope_add_rcpt(benv, rcpt, RCPT_PENDING);
	if (never)
		r->notify = xstrdup("NEVER");
}

/* The report's text into out, its recipient into rcpt, and whether it is
 * a postmaster notice.  0 or -1 (logged). */
static int
queue_report_text(int spoolfd, const struct config *cfg,
    const struct envelope *env, const struct dsn_rcpt *dr, size_t n,
    uint64_t now, struct buf *out, struct dsn_info *info, char *rcpt,
    size_t rcptlen, int *never)
{
	struct dsn_report	 rep;
	char			 path[QUEUE_FS_PATHSIZE], err[512];
	int			 fd, rc;

	memset(&rep, 0, sizeof(rep));
	queue_fs_path(path, QFS_QUEUE, env->id, "msg");
	if ((fd = openat(spoolfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		log_warn("%s: report: open %s", env->id, path);
		return -1;
	}
	rep.hostname = cfg->hostname;
	rep.queue_id = env->id;
	rep.sender = env->sender;
	rep.envid = env->envid;
	rep.ret = dsn_ret_value(env->ret);
	rep.smtputf8 = env->smtputf8;
	rep.arrival = env->arrival;
	rep.now = now;
	rep.rcpts = dr;
	rep.nrcpt = n;
	rep.original.fd = fd;
	rep.max_full = cfg->max_message_size;
	*never = env->sender[0] == '\0';
	if (*never) {
		(void)bsnprintf(rcpt, rcptlen, "postmaster@%s", cfg->hostname);
		rc = dsn_build_postmaster(&rep, rcpt, out, info, err,
		    sizeof(err));
	} else {
		(void)strlcpy(rcpt, env->sender, rcptlen);
		rc = dsn_build(&rep, out, info, err, sizeof(err));
	}
	if (rc == -1)
		log_warnx("%s: cannot build the report: %s", env->id, err);
	close(fd);
	return rc;
}

int
queue_report_make(int spoolfd, const struct config *cfg,
    const struct envelope *env, const struct dsn_rcpt *dr, size_t n,
    uint64_t now, struct queue_report *rep)
{
	struct dsn_info	 info;
	struct buf	 text;
	struct digest	*dg;
	char		 digest[DIGEST_SIZE], rcpt[512], why[256];
	int		 never;

	memset(rep, 0, sizeof(*rep));
	rep->fd = -1;
	buf_init(&text);
	memset(&info, 0, sizeof(info));
	if (queue_report_text(spoolfd, cfg, env, dr, n, now, &text, &info,
	    rcpt, sizeof(rcpt), &never) == -1)
		goto fail;
	if ((rep->fd = queue_fs_create(spoolfd, rep->id)) == -1) {
		log_warn("%s: report: cannot create a message file", env->id);
		goto fail;
	}
	if (write_all(rep->fd, text.data, text.len) == -1) {
		log_warn("%s: report: write", env->id);
		goto unlink;
	}
	dg = digest_new();
	digest_update(dg, text.data, text.len);
	digest_final(dg, digest);
	queue_report_envelope(cfg, rep, &text, digest, &info, rcpt, never,
	    now);
	if (envelope_check(&rep->env, why, sizeof(why)) == -1) {
		log_warnx("%s: report envelope: %s", env->id, why);
		envelope_free(&rep->env);
		goto unlink;
	}
	buf_free(&text);
	return 0;
unlink:
	(void)queue_fs_unlink_message(spoolfd, rep->id);
	close(rep->fd);
	rep->fd = -1;
fail:
	buf_free(&text);
	return -1;
}
