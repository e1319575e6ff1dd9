/*
 * smtpd_conf.c - the receiver's settings that reload (SIGHUP).
 *
 * The parent sends MSG_P_SETTINGS after it read a good configuration.  The
 * receiver makes a new copy of its configuration with those settings in
 * it; new sessions take that copy, and each running session keeps the
 * copy it began with (a reference) until it ends, so that no limit or
 * time-out changes under a client in the middle of a dialogue.  What
 * needs a restart (listeners, users, the spool, max-sessions) stays in
 * sd->cfg, as started.
 */
#include <stdlib.h>

#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "smtpd/smtpd_int.h"

static struct smtpd_conf *
smtpd_conf_new(const struct config *from)
{
	struct smtpd_conf	*conf = xcalloc(1, sizeof(*conf));

	config_copy(&conf->cfg, from);
	conf->refs = 1;
	return conf;
}

static void
smtpd_conf_unref(struct smtpd_conf *conf)
{
	if (conf == NULL || --conf->refs > 0)
		return;
	config_free(&conf->cfg);
	free(conf);
}

/* Makes conf the one new sessions take; the old one lives on in the
 * sessions that hold it. */
static void
smtpd_conf_set(struct smtpd *sd, struct smtpd_conf *conf)
{
	smtpd_conf_unref(sd->conf);
	sd->conf = conf;
	sd->srv.cfg = &conf->cfg;
}

void
smtpd_conf_init(struct smtpd *sd)
{
	smtpd_conf_set(sd, smtpd_conf_new(sd->cfg));
}

/* A new session takes the settings of the moment (smtp_session_init took
 * sd->srv.cfg, the same). */
void
smtpd_conf_attach(struct smtpd_conn *c)
{
	c->conf = c->sd->conf;
	c->conf->refs++;
	c->cfg = &c->conf->cfg;
	c->sess.cfg = c->cfg;
}

void
smtpd_conf_detach(struct smtpd_conn *c)
{
	smtpd_conf_unref(c->conf);
	c->conf = NULL;
}

void
smtpd_conf_reload(struct smtpd *sd, struct ipc_msg *m)
{
	struct smtpd_conf	*conf;

	conf = smtpd_conf_new(&sd->conf->cfg);
	if (ipc_no_fd(m) == -1 || config_settings_get(m, &conf->cfg) == -1) {
		smtpd_conf_unref(conf);
		return;
	}
	smtpd_conf_set(sd, conf);
	log_info("reload: new sessions take the new settings "
	    "(max-message-size %llu, %zu relay networks, %zu local domains)",
	    (unsigned long long)conf->cfg.max_message_size,
	    conf->cfg.nrelay_nets, conf->cfg.nlocal_domains);
}

void
smtpd_conf_free(struct smtpd *sd)
{
	smtpd_conf_unref(sd->conf);
	sd->conf = NULL;
	sd->srv.cfg = NULL;
}
