/*
 * config.c - strictmail.conf: reading, checking and defaults.
 *
 * The parser works line by line from one table of keywords, each with its
 * number of values and a setter; every mistake stops the parse with
 * "file:line: what is wrong" (or "file: what is wrong" for checks of the
 * whole file).  Nothing here keeps state outside the struct config, so a
 * failed parse is freed with config_free() and leaves nothing behind.
 */
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "util.h"

#define CONFIG_LINE_MAX		4096		/* bytes, without newline */
#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes */
#define CONFIG_MAX_VALUES	256		/* values on one line */
#define CONFIG_MAX_LISTENERS	64
#define CONFIG_MAX_ITEMS	4096		/* domains, networks */

#define KiB			((uint64_t)1024)
#define MiB			(KiB * 1024)
#define GiB			(MiB * 1024)
#define DAY			((uint64_t)86400)

struct config_parser;
struct config_keyword;

typedef int (*config_setter)(struct config_parser *,
    const struct config_keyword *, char **, int);

struct config_keyword {
	const char	*name;
	int		 minargs;
	int		 maxargs;
	int		 repeatable;
	config_setter	 set;
	size_t		 off;		/* field of struct config */
	uint64_t	 min;		/* range of numeric settings */
	uint64_t	 max;
	const char	*range;		/* the range as the message shows it */
};

struct config_parser {
	struct config	*cfg;
	const char	*name;
	int		 line;
	char		*err;
	size_t		 errlen;
	int		*seen;		/* per keyword: line first seen, or 0 */
	int		 line_cert;
	int		 line_key;
};

static int config_set_hostname(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_path(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_listen(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_domains(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_networks(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_count(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_size(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_duration(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_user(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_string(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_tls_policy(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_family(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_bind(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_relay_host(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_domain(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_sts_disable(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_virtual(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_delimiter(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_mailbox(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_mailbox_user(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_lmtp(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_relative(struct config_parser *,
    const struct config_keyword *, char **, int);
static int config_set_choice(struct config_parser *,
    const struct config_keyword *, char **, int);

/* The mailbox kinds, in enum config_mailbox order. */
static const char *const config_mailboxes[] = { "mbox", "maildir", "lmtp" };

#define F(field)	offsetof(struct config, field)

static const struct config_keyword config_keywords[] = {
	{ "hostname", 1, 1, 0, config_set_hostname, 0, 0, 0, NULL },
	{ "spool", 1, 1, 0, config_set_path, F(spool), 0, 0, NULL },
	{ "empty-dir", 1, 1, 0, config_set_path, F(empty_dir), 0, 0, NULL },
	{ "listen", 2, 3, 1, config_set_listen, 0, 0, 0, NULL },
	{ "tls-certificate", 1, 1, 0, config_set_path, F(tls_cert), 0, 0,
	    NULL },
	{ "tls-key", 1, 1, 0, config_set_path, F(tls_key), 0, 0, NULL },
	{ "local-domain", 1, CONFIG_MAX_VALUES, 1, config_set_domains, 0, 0, 0,
	    NULL },
	{ "relay-network", 1, CONFIG_MAX_VALUES, 1, config_set_networks, 0, 0,
	    0, NULL },
	{ "max-message-size", 1, 1, 0, config_set_size, F(max_message_size),
	    1, 1024 * GiB, "a size from 1 to 1024G" },
	{ "max-recipients", 1, 1, 0, config_set_count, F(max_recipients),
	    1, 100000, "a number from 1 to 100000" },
	{ "max-sessions", 1, 1, 0, config_set_count, F(max_sessions),
	    1, 100000, "a number from 1 to 100000" },
	{ "max-sessions-per-client", 1, 1, 0, config_set_count,
	    F(max_sessions_per_ip), 1, 100000, "a number from 1 to 100000" },
	{ "max-errors", 1, 1, 0, config_set_count, F(max_errors),
	    1, 1000, "a number from 1 to 1000" },
	{ "soft-error-limit", 1, 1, 0, config_set_count, F(soft_error_limit),
	    1, 1000, "a number from 1 to 1000" },
	{ "error-delay", 1, 1, 0, config_set_duration, F(error_delay),
	    0, 60, "a duration from 0s to 1m" },
	{ "max-received-headers", 1, 1, 0, config_set_count,
	    F(max_received_headers), 1, 10000, "a number from 1 to 10000" },
	{ "max-line-length", 1, 1, 0, config_set_size, F(max_line_length),
	    998, 1024 * MiB, "a size from 998 to 1024M" },
	{ "max-command-line", 1, 1, 0, config_set_count, F(max_command_line),
	    512, SMTP_COMMAND_LINE_MAX, "a number from 512 to 8192" },
	{ "timeout-command", 1, 1, 0, config_set_duration, F(timeout_command),
	    1, DAY, "a duration from 1s to 1d" },
	{ "timeout-data", 1, 1, 0, config_set_duration, F(timeout_data),
	    1, DAY, "a duration from 1s to 1d" },
	{ "timeout-request", 1, 1, 0, config_set_duration, F(timeout_request),
	    1, 3600, "a duration from 1s to 1h" },
	{ "timeout-session", 1, 1, 0, config_set_duration, F(timeout_session),
	    1, DAY, "a duration from 1s to 1d" },
	{ "shutdown-timeout", 1, 1, 0, config_set_duration,
	    F(shutdown_timeout), 1, 3600, "a duration from 1s to 1h" },
	{ "min-free-space", 1, 1, 0, config_set_size, F(min_free_space),
	    0, 1024 * GiB, "a size from 0 to 1024G" },
	{ "queue-lifetime", 1, 1, 0, config_set_duration, F(queue_lifetime),
	    1, 365 * DAY, "a duration from 1s to 365d" },
	{ "user-smtpd", 1, 1, 0, config_set_user, F(user_smtpd), 0, 0, NULL },
	{ "user-queue", 1, 1, 0, config_set_user, F(user_queue), 0, 0, NULL },
	{ "user-lookup", 1, 1, 0, config_set_user, F(user_lookup), 0, 0,
	    NULL },
	{ "user-control", 1, 1, 0, config_set_user, F(user_control), 0, 0,
	    NULL },
	{ "control-socket", 1, 1, 0, config_set_path, F(control_socket), 0,
	    0, NULL },
	{ "user-delivery", 1, 1, 0, config_set_user, F(user_delivery), 0, 0,
	    NULL },
	{ "tls-ca-file", 1, 1, 0, config_set_path, F(tls_ca_file), 0, 0,
	    NULL },
	{ "dns-servers", 1, 1, 0, config_set_string, F(dns_servers), 0, 0,
	    NULL },
	{ "smtp-port", 1, 1, 0, config_set_count, F(smtp_port), 1, 65535,
	    "a port from 1 to 65535" },
	{ "tls-policy", 2, CONFIG_MAX_VALUES, 1, config_set_tls_policy, 0, 0,
	    0, NULL },
	{ "max-deliveries", 1, 1, 0, config_set_count, F(max_deliveries),
	    1, 10000, "a number from 1 to 10000" },
	{ "max-deliveries-per-domain", 1, 1, 0, config_set_count,
	    F(max_deliveries_per_domain), 1, 10000,
	    "a number from 1 to 10000" },
	{ "retry-initial", 1, 1, 0, config_set_duration, F(retry_initial),
	    1, DAY, "a duration from 1s to 1d" },
	{ "retry-max", 1, 1, 0, config_set_duration, F(retry_max),
	    1, 30 * DAY, "a duration from 1s to 30d" },
	{ "smtp-address-family", 1, 1, 0, config_set_family, F(smtp_family),
	    0, 0, NULL },
	{ "smtp-max-mx-hosts", 1, 1, 0, config_set_count,
	    F(smtp_max_mx_hosts), 1, 100, "a number from 1 to 100" },
	{ "smtp-timeout-connect", 1, 1, 0, config_set_duration,
	    F(smtp_timeout_connect), 1, 3600, "a duration from 1s to 1h" },
	{ "smtp-timeout-greeting", 1, 1, 0, config_set_duration,
	    F(smtp_timeout_greeting), 1, 3600, "a duration from 1s to 1h" },
	{ "smtp-timeout-command", 1, 1, 0, config_set_duration,
	    F(smtp_timeout_command), 1, 3600, "a duration from 1s to 1h" },
	{ "smtp-timeout-data", 1, 1, 0, config_set_duration,
	    F(smtp_timeout_data), 1, 3600, "a duration from 1s to 1h" },
	{ "smtp-timeout-final", 1, 1, 0, config_set_duration,
	    F(smtp_timeout_final), 1, 3600, "a duration from 1s to 1h" },
	{ "smtp-helo-name", 1, 1, 0, config_set_domain,
	    F(smtp_helo_name), 0, 0, NULL },
	{ "smtp-bind-address", 1, 1, 0, config_set_bind,
	    F(smtp_bind_address), AF_INET, 0, NULL },
	{ "smtp-bind-address6", 1, 1, 0, config_set_bind,
	    F(smtp_bind_address6), AF_INET6, 0, NULL },
	{ "relay-host", 1, 1, 0, config_set_relay_host, 0, 0, 0, NULL },
	{ "relay-auth-file", 1, 1, 0, config_set_path, F(relay_auth_file), 0,
	    0, NULL },
	{ "origin", 1, 1, 0, config_set_domain, F(origin), 0, 0, NULL },
	{ "masquerade-sender", 1, 1, 0, config_set_domain,
	    F(masquerade_sender), 0, 0, NULL },
	{ "delay-warning", 1, 1, 0, config_set_duration, F(delay_warning),
	    0, 30 * DAY, "a duration from 0 (none) to 30d" },
	/* Connection reuse (delivery/conncache.h). */
	{ "smtp-reuse-idle", 1, 1, 0, config_set_duration, F(smtp_reuse_idle),
	    0, 3600, "a duration from 0s to 1h" },
	{ "smtp-reuse-max", 1, 1, 0, config_set_count, F(smtp_reuse_max),
	    1, 100000, "a number from 1 to 100000" },
	/* MTA-STS (sts/). */
	{ "mta-sts-disable", 1, CONFIG_MAX_VALUES, 1, config_set_sts_disable,
	    0, 0, 0, NULL },
	{ "mta-sts-fetch-timeout", 1, 1, 0, config_set_duration,
	    F(sts_fetch_timeout), 1, 600, "a duration from 1s to 10m" },
	{ "mta-sts-refresh-timeout", 1, 1, 0, config_set_duration,
	    F(sts_refresh_timeout), 1, 600, "a duration from 1s to 10m" },
	{ "mta-sts-backoff", 1, 1, 0, config_set_duration, F(sts_backoff),
	    1, DAY, "a duration from 1s to 1d" },
	{ "mta-sts-refresh", 1, 1, 0, config_set_duration, F(sts_refresh),
	    10, 7 * DAY, "a duration from 10s to 7d" },
	{ "mta-sts-cleanup-age", 1, 1, 0, config_set_duration,
	    F(sts_cleanup_age), 60, 3650 * DAY, "a duration from 1m to 3650d" },
	{ "mta-sts-ca-file", 1, 1, 0, config_set_path, F(sts_ca_file), 0, 0,
	    NULL },
	/* Local delivery. */
	{ "aliases", 1, 1, 0, config_set_path, F(aliases), 0, 0, NULL },
	{ "virtual-map", 1, 1, 0, config_set_path, F(virtual_map), 0, 0,
	    NULL },
	{ "virtual-domain", 1, CONFIG_MAX_VALUES, 1, config_set_virtual, 0, 0,
	    0, NULL },
	{ "recipient-delimiter", 1, 1, 0, config_set_delimiter,
	    F(recipient_delimiter), 0, 0, NULL },
	{ "root-alias", 1, 1, 0, config_set_string, F(root_alias), 0, 0,
	    NULL },
	{ "alias-user", 1, 1, 0, config_set_user, F(alias_user), 0, 0, NULL },
	{ "mailbox", 1, 1, 0, config_set_mailbox, F(mailbox), 0, 0, NULL },
	{ "mailbox-user", 2, 2, 1, config_set_mailbox_user, 0, 0, 0, NULL },
	{ "mbox-dir", 1, 1, 0, config_set_path, F(mbox_dir), 0, 0, NULL },
	{ "maildir", 1, 1, 0, config_set_relative, F(maildir), 0, 0, NULL },
	{ "lmtp-socket", 1, 1, 0, config_set_lmtp, F(lmtp_socket), 0, 0,
	    NULL },
	{ "command-timeout", 1, 1, 0, config_set_duration, F(command_timeout),
	    1, DAY, "a duration from 1s to 1d" },
	{ "local-delivery-timeout", 1, 1, 0, config_set_duration,
	    F(local_timeout), 1, DAY, "a duration from 1s to 1d" },
	{ "max-local-deliveries", 1, 1, 0, config_set_count,
	    F(max_local_deliveries), 1, 1000, "a number from 1 to 1000" },
	/* Operator commands (ctl/control.c). */
	{ "admin-group", 1, 1, 0, config_set_user, F(admin_group), 0, 0,
	    NULL },
	/* Local submission: the sendmail(8) front end (ctl/ctl_sendmail.h). */
	{ "postdrop", 1, 1, 0, config_set_path, F(postdrop), 0, 0, NULL },
	/* Local submission (maildrop pickup). */
	{ "maildrop-group", 1, 1, 0, config_set_user, F(maildrop_group), 0,
	    0, NULL },
	/* AUTH on submission (config_set_choice: range lists the words). */
	{ "credentials", 1, 1, 0, config_set_path, F(credentials), 0, 0,
	    NULL },
	{ "auth-max-failures", 1, 1, 0, config_set_count,
	    F(auth_max_failures), 1, 100, "a number from 1 to 100" },
	{ "auth-lockout-failures", 1, 1, 0, config_set_count,
	    F(auth_lockout_failures), 1, 100000, "a number from 1 to 100000" },
	{ "auth-lockout-time", 1, 1, 0, config_set_duration,
	    F(auth_lockout_time), 1, DAY, "a duration from 1s to 1d" },
	{ "auth-failure-delay", 1, 1, 0, config_set_duration,
	    F(auth_failure_delay), 0, 60, "a duration from 0s to 1m" },
	{ "sender-login-map", 1, 1, 0, config_set_path, F(sender_login_map),
	    0, 0, NULL },
	{ "auth-sender-check", 1, 1, 0, config_set_choice,
	    F(auth_sender_check), 0, 0, "own|any" },
	{ "received-auth", 1, 1, 0, config_set_choice, F(received_auth), 0, 0,
	    "no|yes" },
};

#undef F

#define CONFIG_NKEYWORDS \
	(sizeof(config_keywords) / sizeof(config_keywords[0]))
_Static_assert(CONFIG_NKEYWORDS <= CONFIG_KEYWORDS_MAX,
    "struct config kwline is too small");

/*
 * The configuration of "strictmaild -I DIR": @DIR@ and @HOSTNAME@ are
 * replaced by config_default_text().
 */
const char config_embedded_default[] =
    "# strictmail.conf for a local run, written by \"strictmaild -I\".\n"
    "# See strictmail.conf(5) for every setting.\n"
    "\n"
    "spool           @DIR@/spool\n"
    "listen          127.0.0.1 2525 smtp\n"
    "tls-certificate @DIR@/cert.pem\n"
    "tls-key         @DIR@/key.pem\n"
    "local-domain    localhost @HOSTNAME@\n"
    "relay-network   127.0.0.0/8 ::1/128\n"
    "control-socket  @DIR@/control.sock\n"
    "\n"
    "# Local mail: mboxes in @DIR@/mail; aliases in @DIR@/aliases, compiled\n"
    "# by \"strictmailctl newaliases -f @DIR@/aliases\".\n"
    "aliases         @DIR@/aliases\n"
    "mbox-dir        @DIR@/mail\n"
    "\n"
    "# Used only when strictmaild runs as root without -u.\n"
    "user-smtpd      _sm-smtpd\n"
    "user-queue      _sm-queue\n"
    "user-lookup     _sm-lookup\n"
    "user-control    _sm-control\n";

/* ---- helpers ---- */

static int config_error(struct config_parser *p, const char *fmt, ...)
    SM_PRINTF(2, 3);

/* Formats "name:line: message" into the caller's buffer; returns -1. */
static int
config_error(struct config_parser *p, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	if (p->line > 0)
		(void)bsnprintf(p->err, p->errlen, "%s:%d: %s", p->name,
		    p->line, msg);
	else
		(void)bsnprintf(p->err, p->errlen, "%s: %s", p->name, msg);
	return -1;
}

static void *
config_field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

/* A host or domain name: dot-separated labels of letters, digits, '-'. */
int
config_domain_ok(const char *s)
{
	size_t	len = strlen(s), label = 0, i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		char	c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/* A user name as useradd accepts it, without surprises. */
static int
config_user_ok(const char *s)
{
	size_t	i, len = strlen(s);

	if (len == 0 || len > 32 || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		char	c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/*
 * Lists of domains, lower case (local-domain, virtual-domain,
 * mta-sts-disable): an
 * array of strings and its length, as struct config holds them.
 */
static void
config_list_add(char ***v, size_t *n, const char *domain)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n] = str_lower(xstrdup(domain));
	(*n)++;
}

static void
config_list_free(char ***v, size_t *n)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* *v (emptied first) becomes a copy of src. */
static void
config_list_copy(char ***v, size_t *n, char *const *src, size_t nsrc)
{
	size_t	i;

	config_list_free(v, n);
	for (i = 0; i < nsrc; i++)
		config_list_add(v, n, src[i]);
}

int
config_is_virtual_domain(const struct config *cfg, const char *domain)
{
	size_t	i;

	for (i = 0; i < cfg->nvirtual_domains; i++)
		if (strcasecmp(cfg->virtual_domains[i], domain) == 0)
			return 1;
	return 0;
}

/* 1 if two lists differ. */
static int
config_list_differ(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t	i;

	if (na != nb)
		return 1;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 1;
	return 0;
}

static unsigned
config_mailbox_named(const char *name)
{
	unsigned	i;

	for (i = 0; i < sizeof(config_mailboxes) / sizeof(config_mailboxes[0]);
	    i++)
		if (strcmp(name, config_mailboxes[i]) == 0)
			return i;
	return CONFIG_MAILBOX_MBOX;
}

/* mailbox-user entries are "USER KIND" (kind a config_mailboxes name). */
unsigned
config_mailbox_of(const struct config *cfg, const char *user)
{
	size_t	i, len = strlen(user);

	for (i = 0; i < cfg->nmailbox_users; i++) {
		if (strncmp(cfg->mailbox_users[i], user, len) == 0 &&
		    cfg->mailbox_users[i][len] == ' ')
			return config_mailbox_named(
			    cfg->mailbox_users[i] + len + 1);
	}
	return cfg->mailbox;
}

int
config_sts_disabled(const struct config *cfg, const char *domain)
{
	size_t	i;

	for (i = 0; i < cfg->nsts_disabled; i++)
		if (strcasecmp(cfg->sts_disabled[i], domain) == 0)
			return 1;
	return 0;
}

const char *
config_map_db(const char *src, char *buf, size_t size)
{
	if (bsnprintf(buf, size, "%s.db", src) == -1)
		return NULL;
	return buf;
}

const char *
config_sts_ca_file(const struct config *cfg)
{
	return cfg->sts_ca_file != NULL ? cfg->sts_ca_file : cfg->tls_ca_file;
}

static void
config_add_network(struct config *cfg, const struct netmask *nm)
{
	cfg->relay_nets = xreallocarray(cfg->relay_nets, cfg->nrelay_nets + 1,
	    sizeof(*cfg->relay_nets));
	cfg->relay_nets[cfg->nrelay_nets++] = *nm;
}

/* ---- setters ---- */

static int
config_set_hostname(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	(void)ac;
	if (!config_domain_ok(av[0]))
		return config_error(p, "%s: bad host name '%s'", kw->name,
		    av[0]);
	if (strlcpy(p->cfg->hostname, av[0], sizeof(p->cfg->hostname)) >=
	    sizeof(p->cfg->hostname))
		return config_error(p, "%s: '%s' is too long", kw->name, av[0]);
	return 0;
}

static int
config_set_path(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);
	size_t	  len;

	(void)ac;
	if (av[0][0] != '/')
		return config_error(p, "%s: '%s' is not an absolute path",
		    kw->name, av[0]);
	if ((len = strlen(av[0])) >= 1024)
		return config_error(p, "%s: path too long", kw->name);
	while (len > 1 && av[0][len - 1] == '/')
		av[0][--len] = '\0';
	if (kw->off == offsetof(struct config, control_socket) &&
	    len >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return config_error(p, "%s: path longer than %zu bytes",
		    kw->name, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
	free(*field);
	*field = xstrdup(av[0]);
	if (kw->off == offsetof(struct config, tls_cert))
		p->line_cert = p->line;
	else if (kw->off == offsetof(struct config, tls_key))
		p->line_key = p->line;
	return 0;
}

static int
config_listen_kind(const char *s, enum listener_kind *kind)
{
	if (strcmp(s, "smtp") == 0)
		*kind = LISTEN_SMTP;
	else if (strcmp(s, "submission") == 0)
		*kind = LISTEN_SUBMISSION;
	else if (strcmp(s, "tls") == 0)
		*kind = LISTEN_TLS;
	else
		return -1;
	return 0;
}

static int
config_set_listen(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	struct config	*cfg = p->cfg;
	struct listener	*l;
	unsigned char	 bin[16];
	int		 family;
	uint64_t	 port;
	enum listener_kind kind = LISTEN_SMTP;

	family = strchr(av[0], ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, av[0], bin) != 1)
		return config_error(p, "%s: bad address '%s' (a numeric IPv4 "
		    "or IPv6 address)", kw->name, av[0]);
	if (parse_u64(av[1], 1, 65535, &port) == -1)
		return config_error(p, "%s: bad port '%s'", kw->name, av[1]);
	if (ac == 3 && config_listen_kind(av[2], &kind) == -1)
		return config_error(p, "%s: bad kind '%s' (smtp, submission "
		    "or tls)", kw->name, av[2]);
	if (cfg->nlisteners >= CONFIG_MAX_LISTENERS)
		return config_error(p, "%s: more than %d listeners", kw->name,
		    CONFIG_MAX_LISTENERS);
	cfg->listeners = xreallocarray(cfg->listeners, cfg->nlisteners + 1,
	    sizeof(*cfg->listeners));
	l = &cfg->listeners[cfg->nlisteners++];
	memset(l, 0, sizeof(*l));
	if (inet_ntop(family, bin, l->addr, sizeof(l->addr)) == NULL)
		fatal("inet_ntop");
	l->port = (uint16_t)port;
	l->kind = kind;
	l->fd = -1;
	l->line = p->line;
	return 0;
}

static int
config_set_domains(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	int	i;

	for (i = 0; i < ac; i++) {
		if (!config_domain_ok(av[i]))
			return config_error(p, "%s: bad domain '%s'", kw->name,
			    av[i]);
		if (config_is_local_domain(p->cfg, av[i]))
			return config_error(p, "%s: duplicate domain '%s'",
			    kw->name, av[i]);
		if (p->cfg->nlocal_domains >= CONFIG_MAX_ITEMS)
			return config_error(p, "%s: more than %d domains",
			    kw->name, CONFIG_MAX_ITEMS);
		config_list_add(&p->cfg->local_domains,
		    &p->cfg->nlocal_domains, av[i]);
	}
	return 0;
}

/* virtual-domain DOMAIN...: never also a local-domain. */
static int
config_set_virtual(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	int	i;

	for (i = 0; i < ac; i++) {
		if (!config_domain_ok(av[i]) || strchr(av[i], '*') != NULL)
			return config_error(p, "%s: bad domain '%s'", kw->name,
			    av[i]);
		if (config_is_virtual_domain(p->cfg, av[i]))
			return config_error(p, "%s: duplicate domain '%s'",
			    kw->name, av[i]);
		if (config_is_local_domain(p->cfg, av[i]))
			return config_error(p, "%s: '%s' is a local-domain "
			    "too", kw->name, av[i]);
		if (p->cfg->nvirtual_domains >= CONFIG_MAX_ITEMS)
			return config_error(p, "%s: more than %d domains",
			    kw->name, CONFIG_MAX_ITEMS);
		config_list_add(&p->cfg->virtual_domains,
		    &p->cfg->nvirtual_domains, av[i]);
	}
	return 0;
}

/* mta-sts-disable DOMAIN...: one by one, never a pattern (rule 33). */
static int
config_set_sts_disable(struct config_parser *p,
    const struct config_keyword *kw, char **av, int ac)
{
	int	i;

	for (i = 0; i < ac; i++) {
		if (!config_domain_ok(av[i]) || strchr(av[i], '*') != NULL)
			return config_error(p, "%s: bad domain '%s'", kw->name,
			    av[i]);
		if (config_sts_disabled(p->cfg, av[i]))
			return config_error(p, "%s: duplicate domain '%s'",
			    kw->name, av[i]);
		if (p->cfg->nsts_disabled >= CONFIG_MAX_ITEMS)
			return config_error(p, "%s: more than %d domains",
			    kw->name, CONFIG_MAX_ITEMS);
		config_list_add(&p->cfg->sts_disabled,
		    &p->cfg->nsts_disabled, av[i]);
	}
	return 0;
}

/* 1 if the line of a relay-network says "open-relay"; that word is
 * taken out of av. */
static int
config_open_relay(char **av, int *ac)
{
	int	i, j, found = 0;

	for (i = 0, j = 0; i < *ac; i++) {
		if (strcmp(av[i], CONFIG_OPEN_RELAY) == 0)
			found = 1;
		else
			av[j++] = av[i];
	}
	*ac = j;
	return found;
}

/* The network as written, host bits cleared ("192.168.0.0/16"). */
static void
config_net_text(const struct netmask *nm, char *buf, size_t size)
{
	char	addr[INET6_ADDRSTRLEN];

	if (inet_ntop(nm->family, nm->addr, addr, sizeof(addr)) == NULL)
		fatal("inet_ntop");
	(void)bsnprintf(buf, size, "%s/%u", addr, nm->prefix);
}

/*
 * A network whose address has host bits set is a typing mistake that
 * would relay for more (or other) clients than meant: refused, with the
 * network the prefix makes of it.  One wider than /8 (IPv6 /16) makes an
 * open relay: refused unless the line says open-relay.
 */
static int
config_net_check(struct config_parser *p, const struct config_keyword *kw,
    const char *text, const struct netmask *nm, int open)
{
	uint8_t		 given[16];
	char		 tmp[INET6_ADDRSTRLEN + 8], net[INET6_ADDRSTRLEN + 8];
	unsigned	 min;

	(void)strlcpy(tmp, text, sizeof(tmp));
	tmp[strcspn(tmp, "/")] = '\0';
	if (inet_pton(nm->family, tmp, given) != 1)
		fatalx("config_net_check: %s", text);
	config_net_text(nm, net, sizeof(net));
	if (memcmp(given, nm->addr, nm->family == AF_INET ? 4 : 16) != 0)
		return config_error(p, "%s: '%s' has host bits set: the "
		    "network is %s", kw->name, text, net);
	min = nm->family == AF_INET ? CONFIG_RELAY_MIN_PREFIX4 :
	    CONFIG_RELAY_MIN_PREFIX6;
	if (nm->prefix < min && !open)
		return config_error(p, "%s: %s is wider than /%u and makes an "
		    "open relay: write '%s' on the line if that is meant",
		    kw->name, net, min, CONFIG_OPEN_RELAY);
	return 0;
}

static int
config_set_networks(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	struct netmask	nm;
	int		i, open;

	open = config_open_relay(av, &ac);
	if (ac == 0)
		return config_error(p, "%s: missing value", kw->name);
	for (i = 0; i < ac; i++) {
		if (netmask_parse(av[i], &nm) == -1)
			return config_error(p, "%s: bad network '%s'", kw->name,
			    av[i]);
		if (config_net_check(p, kw, av[i], &nm, open) == -1)
			return -1;
		if (p->cfg->nrelay_nets >= CONFIG_MAX_ITEMS)
			return config_error(p, "%s: more than %d networks",
			    kw->name, CONFIG_MAX_ITEMS);
		config_add_network(p->cfg, &nm);
	}
	return 0;
}

static int
config_set_count(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	unsigned	*field = config_field(p->cfg, kw->off);
	uint64_t	 v;

	(void)ac;
	if (parse_u64(av[0], kw->min, kw->max, &v) == -1)
		return config_error(p, "%s: '%s' is not %s", kw->name, av[0],
		    kw->range);
	*field = (unsigned)v;
	return 0;
}

static int
config_set_size(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	uint64_t	*field = config_field(p->cfg, kw->off);
	uint64_t	 v;

	(void)ac;
	if (parse_size(av[0], &v) == -1 || v < kw->min || v > kw->max)
		return config_error(p, "%s: '%s' is not %s", kw->name, av[0],
		    kw->range);
	*field = v;
	return 0;
}

static int
config_set_duration(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	uint64_t	*field = config_field(p->cfg, kw->off);
	uint64_t	 v;

	(void)ac;
	if (parse_duration(av[0], &v) == -1 || v < kw->min || v > kw->max)
		return config_error(p, "%s: '%s' is not %s", kw->name, av[0],
		    kw->range);
	*field = v;
	return 0;
}

static int
config_set_user(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);

	(void)ac;
	if (!config_user_ok(av[0]))
		return config_error(p, "%s: bad user name '%s'", kw->name,
		    av[0]);
	free(*field);
	*field = xstrdup(av[0]);
	return 0;
}

/* A free-form value without blanks (dns-servers). */
static int
config_set_string(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);

	(void)ac;
	free(*field);
	*field = xstrdup(av[0]);
	return 0;
}

/* recipient-delimiter C: one of + - = _ ~, or "none". */
static int
config_set_delimiter(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);

	(void)ac;
	if (strcmp(av[0], "none") != 0 &&
	    (strlen(av[0]) != 1 || strchr("+-=_~", av[0][0]) == NULL))
		return config_error(p, "%s: '%s' is not one of + - = _ ~ "
		    "or none", kw->name, av[0]);
	free(*field);
	*field = xstrdup(strcmp(av[0], "none") == 0 ? "" : av[0]);
	return 0;
}


const char *
config_mailbox_name(unsigned kind)
{
	if (kind >= sizeof(config_mailboxes) / sizeof(config_mailboxes[0]))
		return "?";
	return config_mailboxes[kind];
}

/* The kind named s into *kind; -1 (with the error) if s names none. */
static int
config_mailbox_kind(struct config_parser *p, const struct config_keyword *kw,
    const char *s, unsigned *kind)
{
	unsigned	i;

	for (i = 0; i < sizeof(config_mailboxes) / sizeof(config_mailboxes[0]);
	    i++) {
		if (strcmp(s, config_mailboxes[i]) == 0) {
			*kind = i;
			return 0;
		}
	}
	return config_error(p, "%s: '%s' is not mbox, maildir or lmtp",
	    kw->name, s);
}

/* mailbox mbox|maildir|lmtp */
static int
config_set_mailbox(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	(void)ac;
	return config_mailbox_kind(p, kw, av[0],
	    config_field(p->cfg, kw->off));
}

/* mailbox-user USER mbox|maildir|lmtp: one user's own mailbox kind. */
static int
config_set_mailbox_user(struct config_parser *p,
    const struct config_keyword *kw, char **av, int ac)
{
	struct buf	b;
	unsigned	kind = 0, i;
	size_t		len = strlen(av[0]);

	(void)ac;
	if (!config_user_ok(av[0]))
		return config_error(p, "%s: bad user name '%s'", kw->name,
		    av[0]);
	if (config_mailbox_kind(p, kw, av[1], &kind) == -1)
		return -1;
	for (i = 0; i < p->cfg->nmailbox_users; i++)
		if (strncmp(p->cfg->mailbox_users[i], av[0], len) == 0 &&
		    p->cfg->mailbox_users[i][len] == ' ')
			return config_error(p, "%s: duplicate user '%s'",
			    kw->name, av[0]);
	buf_init(&b);
	buf_printf(&b, "%s %s", av[0], config_mailbox_name(kind));
	config_list_add(&p->cfg->mailbox_users, &p->cfg->nmailbox_users,
	    b.data);
	buf_free(&b);
	return 0;
}

/* lmtp-socket unix:/PATH | ADDRESS:PORT (numeric; IPv6 in brackets). */
static int
config_set_lmtp(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char		**field = config_field(p->cfg, kw->off);
	const char	 *v = av[0], *colon;
	char		  host[64];
	unsigned char	  bin[16];
	uint64_t	  port;
	size_t		  hl;
	int		  ok;

	(void)ac;
	if (strncmp(v, "unix:", 5) == 0)
		ok = v[5] == '/' && strlen(v + 5) <
		    sizeof(((struct sockaddr_un *)NULL)->sun_path);
	else if ((colon = strrchr(v, ':')) == NULL)
		ok = 0;
	else {
		hl = (size_t)(colon - v);
		if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
			v++;
			hl -= 2;
		}
		ok = hl < sizeof(host) &&
		    parse_u64(colon + 1, 1, 65535, &port) == 0;
		if (ok) {
			memcpy(host, v, hl);
			host[hl] = '\0';
			ok = inet_pton(AF_INET, host, bin) == 1 ||
			    inet_pton(AF_INET6, host, bin) == 1;
		}
	}
	if (!ok)
		return config_error(p, "%s: '%s' is not unix:/PATH or "
		    "ADDRESS:PORT", kw->name, av[0]);
	free(*field);
	*field = xstrdup(av[0]);
	return 0;
}

/* maildir NAME: a path under the user's home, never leaving it. */
static int
config_set_relative(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);

	(void)ac;
	if (av[0][0] == '/' || strcmp(av[0], "..") == 0 ||
	    strncmp(av[0], "../", 3) == 0 || strstr(av[0], "/../") != NULL ||
	    strlen(av[0]) >= 256)
		return config_error(p, "%s: '%s' is not a path under the home "
		    "folder", kw->name, av[0]);
	free(*field);
	*field = xstrdup(av[0]);
	return 0;
}

/* A word of kw->range ("w0|w1|..."): its position into an unsigned
 * field (AUTH on submission: auth-sender-check, received-auth). */
static int
config_set_choice(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	unsigned	*field = config_field(p->cfg, kw->off);
	const char	*w = kw->range, *bar;
	size_t		 len = strlen(av[0]);
	unsigned	 i;

	(void)ac;
	for (i = 0; w != NULL; i++) {
		bar = strchr(w, '|');
		if ((size_t)(bar != NULL ? bar - w : (long)strlen(w)) == len &&
		    strncmp(w, av[0], len) == 0) {
			*field = i;
			return 0;
		}
		w = bar != NULL ? bar + 1 : NULL;
	}
	return config_error(p, "%s: '%s' is not one of %s", kw->name, av[0],
	    kw->range);
}

static const char *const config_families[] = {
	"ipv6-first", "ipv4-first", "ipv4-only", "ipv6-only", "any"
};

/* smtp-address-family ipv6-first|ipv4-first|ipv4-only|ipv6-only|any */
static int
config_set_family(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	unsigned	*field = config_field(p->cfg, kw->off);
	size_t		 i;

	(void)ac;
	for (i = 0; i < sizeof(config_families) / sizeof(config_families[0]);
	    i++) {
		if (strcmp(av[0], config_families[i]) == 0) {
			*field = (unsigned)i;
			return 0;
		}
	}
	return config_error(p, "%s: '%s' is not ipv6-first, ipv4-first, "
	    "ipv4-only, ipv6-only or any", kw->name, av[0]);
}

/* smtp-bind-address ADDR (kw->min: the address family). */
static int
config_set_bind(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char		**field = config_field(p->cfg, kw->off);
	unsigned char	  bin[16];

	(void)ac;
	if (inet_pton((int)kw->min, av[0], bin) != 1)
		return config_error(p, "%s: '%s' is not an %s address",
		    kw->name, av[0], kw->min == AF_INET ? "IPv4" : "IPv6");
	free(*field);
	*field = xstrdup(av[0]);
	return 0;
}

static const char *const config_tls_levels[] = {
	"none", "may", "encrypt", "verify", "secure"
};

const char *
config_tls_level_name(enum config_tls_level lv)
{
	if ((size_t)lv >= sizeof(config_tls_levels) /
	    sizeof(config_tls_levels[0]))
		return "?";
	return config_tls_levels[lv];
}

static void
config_add_tls_policy(struct config *cfg, const char *domain, unsigned lv,
    const char *names)
{
	size_t	n = cfg->ntls_policy, i;

	cfg->tls_policy_domains = xreallocarray(cfg->tls_policy_domains,
	    n + 1, sizeof(*cfg->tls_policy_domains));
	cfg->tls_policy_levels = xreallocarray(cfg->tls_policy_levels,
	    n + 1, sizeof(*cfg->tls_policy_levels));
	cfg->tls_policy_names = xreallocarray(cfg->tls_policy_names,
	    n + 1, sizeof(*cfg->tls_policy_names));
	cfg->tls_policy_names[n] = xstrdup(names != NULL ? names : "");
	cfg->tls_policy_domains[n] = xstrdup(domain);
	for (i = 0; cfg->tls_policy_domains[n][i] != '\0'; i++)
		cfg->tls_policy_domains[n][i] = (char)tolower(
		    (unsigned char)cfg->tls_policy_domains[n][i]);
	cfg->tls_policy_levels[n] = lv;
	cfg->ntls_policy = n + 1;
}

/* The names of "tls-policy DOMAIN secure NAME...", blank-separated, into
 * b; -1 when one is not a domain name. */
static int
config_tls_policy_names(struct config_parser *p,
    const struct config_keyword *kw, char **av, int ac, struct buf *b)
{
	int	i;

	for (i = 2; i < ac; i++) {
		if (!config_domain_ok(av[i]))
			return config_error(p, "%s: bad name '%s'", kw->name,
			    av[i]);
		buf_printf(b, "%s%s", i > 2 ? " " : "", av[i]);
	}
	return 0;
}

/* tls-policy DOMAIN LEVEL, or tls-policy DOMAIN secure NAME... */
static int
config_set_tls_policy(struct config_parser *p,
    const struct config_keyword *kw, char **av, int ac)
{
	struct buf	names;
	size_t		lv, i;

	if (!config_domain_ok(av[0]))
		return config_error(p, "%s: bad domain '%s'", kw->name, av[0]);
	for (lv = 0; lv < sizeof(config_tls_levels) /
	    sizeof(config_tls_levels[0]); lv++)
		if (strcasecmp(av[1], config_tls_levels[lv]) == 0)
			break;
	if (lv == sizeof(config_tls_levels) / sizeof(config_tls_levels[0]))
		return config_error(p, "%s: '%s' is not none, may, encrypt, "
		    "verify or secure", kw->name, av[1]);
	for (i = 0; i < p->cfg->ntls_policy; i++)
		if (strcasecmp(p->cfg->tls_policy_domains[i], av[0]) == 0)
			return config_error(p, "%s: duplicate domain '%s'",
			    kw->name, av[0]);
	if (p->cfg->ntls_policy >= CONFIG_MAX_ITEMS)
		return config_error(p, "%s: more than %d domains", kw->name,
		    CONFIG_MAX_ITEMS);
	if (ac > 2 && lv != CONFIG_TLS_SECURE)
		return config_error(p, "%s: names after the level are for "
		    "secure only", kw->name);
	buf_init(&names);
	if (config_tls_policy_names(p, kw, av, ac, &names) == -1) {
		buf_free(&names);
		return -1;
	}
	config_add_tls_policy(p->cfg, av[0], (unsigned)lv,
	    names.len > 0 ? names.data : "");
	buf_free(&names);
	return 0;
}

const char *
config_tls_names_of(const struct config *cfg, const char *domain)
{
	size_t	i;

	for (i = 0; i < cfg->ntls_policy; i++)
		if (strcasecmp(cfg->tls_policy_domains[i], domain) == 0)
			return cfg->tls_policy_names[i];
	return "";
}

enum config_tls_level
config_tls_level_of(const struct config *cfg, const char *domain)
{
	size_t	i;

	for (i = 0; i < cfg->ntls_policy; i++)
		if (strcasecmp(cfg->tls_policy_domains[i], domain) == 0)
			return (enum config_tls_level)cfg->tls_policy_levels[i];
	return CONFIG_TLS_MAY;
}

/* ---- relay host ---- */

/* 1 if s is a host name or a numeric IPv4 or IPv6 address. */
static int
config_relay_name_ok(const char *s)
{
	unsigned char	bin[16];

	return config_domain_ok(s) || inet_pton(AF_INET, s, bin) == 1 ||
	    inet_pton(AF_INET6, s, bin) == 1;
}

/*
 * relay-host [HOST]:PORT.  The brackets say "no MX lookup" as in
 * Postfix; the form without them (which would look up HOST's MX
 * records) is refused, so that the certificate is always checked
 * against the name written here.
 */
static int
config_set_relay_host(struct config_parser *p,
    const struct config_keyword *kw, char **av, int ac)
{
	char		*v = av[0], *close;
	uint64_t	 port;

	(void)ac;
	if (v[0] != '[')
		return config_error(p, "%s: write '[%s]' with brackets: looking "
		    "up the relay host's MX records is not supported", kw->name,
		    v);
	if ((close = strrchr(v, ']')) == NULL || close == v + 1)
		return config_error(p, "%s: '%s' is not [host]:port", kw->name,
		    v);
	if (close[1] != ':' || parse_u64(close + 2, 1, 65535, &port) == -1)
		return config_error(p, "%s: '%s' needs a port from 1 to 65535 "
		    "([host]:587, or [host]:465 for implicit TLS)", kw->name, v);
	*close = '\0';
	if (strlen(v + 1) >= 254 || !config_relay_name_ok(v + 1))
		return config_error(p, "%s: bad host '%s'", kw->name, v + 1);
	free(p->cfg->relay_host);
	p->cfg->relay_host = str_lower(xstrdup(v + 1));
	p->cfg->relay_port = (unsigned)port;
	return 0;
}

/* A domain name (origin, masquerade-sender). */
static int
config_set_domain(struct config_parser *p, const struct config_keyword *kw,
    char **av, int ac)
{
	char	**field = config_field(p->cfg, kw->off);

	(void)ac;
	if (!config_domain_ok(av[0]))
		return config_error(p, "%s: bad domain '%s'", kw->name, av[0]);
	free(*field);
	*field = str_lower(xstrdup(av[0]));
	return 0;
}

const char *
config_origin(const struct config *cfg)
{
	return cfg->origin != NULL ? cfg->origin : cfg->hostname;
}

/* ---- lines ---- */

static const struct config_keyword *
config_keyword_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CONFIG_NKEYWORDS; i++)
		if (strcmp(config_keywords[i].name, name) == 0)
			return &config_keywords[i];
	return NULL;
}

/*
 * Splits line (NUL-terminated, comment removed) into words separated by
 * spaces, tabs or a carriage return.  Returns the number of words, or -1
 * after an error for a control character or too many words.
 */
static int
config_split(struct config_parser *p, char *line, char **av, int maxav)
{
	char	*s;
	int	 ac = 0;

	for (s = line; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return config_error(p, "control character 0x%02x",
			    (unsigned)c);
	}
	for (s = line; ; ) {
		s += strspn(s, " \t\r");
		if (*s == '\0')
			break;
		if (ac == maxav)
			return config_error(p, "too many values");
		av[ac++] = s;
		s += strcspn(s, " \t\r");
		if (*s != '\0')
			*s++ = '\0';
	}
	return ac;
}

static int
config_line(struct config_parser *p, char *line)
{
	const struct config_keyword	*kw;
	char				*av[CONFIG_MAX_VALUES + 1], *hash;
	int				 ac, i;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	if ((ac = config_split(p, line, av, CONFIG_MAX_VALUES + 1)) <= 0)
		return ac;
	if ((kw = config_keyword_find(av[0])) == NULL)
		return config_error(p, "unknown keyword '%s'", av[0]);
	i = (int)(kw - config_keywords);
	if (p->seen[i] != 0 && !kw->repeatable)
		return config_error(p, "duplicate '%s' (first on line %d)",
		    kw->name, p->seen[i]);
	if (ac - 1 < kw->minargs)
		return config_error(p, "%s: missing value", kw->name);
	if (ac - 1 > kw->maxargs)
		return config_error(p, "%s: too many values", kw->name);
	if (p->seen[i] == 0)
		p->seen[i] = p->line;
	return kw->set(p, kw, av + 1, ac - 1);
}

/* 1 if addr is the wildcard of its family (0.0.0.0 or ::). */
static int
config_listen_any(const char *addr)
{
	return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

/*
 * Two listeners that cannot both be bound: the same address and port, or
 * a wildcard and an address of its family on the same port (the second
 * bind fails with "address in use").  IPv6 sockets are bound IPV6_V6ONLY,
 * so "::" does not cover IPv4 and "0.0.0.0" and "::" go together.
 */
static int
config_listen_clash(struct config_parser *p, const struct listener *l,
    const struct listener *o)
{
	int	v6l = strchr(l->addr, ':') != NULL;
	int	v6o = strchr(o->addr, ':') != NULL;

	if (o->port != l->port || v6l != v6o)
		return 0;
	p->line = l->line;
	if (strcmp(o->addr, l->addr) == 0)
		return config_error(p, "duplicate listen %s %u (first on line "
		    "%d)", l->addr, l->port, o->line);
	if (config_listen_any(o->addr) || config_listen_any(l->addr))
		return config_error(p, "listen %s %u overlaps listen %s %u "
		    "(line %d): %s already takes port %u on every %s address",
		    l->addr, l->port, o->addr, o->port, o->line,
		    config_listen_any(o->addr) ? o->addr : l->addr, l->port,
		    v6l ? "IPv6" : "IPv4");
	return 0;
}

/* relay-auth-file and masquerade-sender only go with relay-host. */
static int
config_check_relay(struct config_parser *p)
{
	static const char *const need[] = { "relay-auth-file",
	    "masquerade-sender" };
	const struct config_keyword	*kw;
	size_t				 i;

	if (p->cfg->relay_host != NULL)
		return 0;
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		kw = config_keyword_find(need[i]);
		if (p->seen[kw - config_keywords] == 0)
			continue;
		p->line = p->seen[kw - config_keywords];
		return config_error(p, "%s without relay-host", need[i]);
	}
	return 0;
}

/* Checks of the whole file, after its last line. */
static int
config_check(struct config_parser *p)
{
	struct config	*cfg = p->cfg;
	size_t		 i, j;

	p->line = 0;
	if (cfg->nlisteners == 0)
		return config_error(p, "no listen directive");
	for (i = 0; i < cfg->nlisteners; i++) {
		struct listener *l = &cfg->listeners[i];

		for (j = 0; j < i; j++)
			if (config_listen_clash(p, l, &cfg->listeners[j]) == -1)
				return -1;
		if (l->kind == LISTEN_TLS &&
		    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
			p->line = l->line;
			return config_error(p, "listen %s %u tls: needs "
			    "tls-certificate and tls-key", l->addr, l->port);
		}
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		p->line = cfg->tls_cert ? p->line_cert : p->line_key;
		return config_error(p, cfg->tls_cert ?
		    "tls-certificate without tls-key" :
		    "tls-key without tls-certificate");
	}
	return config_check_relay(p);
}

int
config_parse(struct config *cfg, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct config_parser	 p;
	char			 line[CONFIG_LINE_MAX + 1];
	const char		*s = text, *end = text + len, *nl;
	size_t			 n;

	memset(&p, 0, sizeof(p));
	memset(cfg->kwline, 0, sizeof(cfg->kwline));
	p.cfg = cfg;
	p.name = name;
	p.err = err;
	p.errlen = errlen;
	p.seen = cfg->kwline;
	free(cfg->path);
	cfg->path = xstrdup(name);
	while (s < end) {
		p.line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		n = (size_t)((nl ? nl : end) - s);
		if (n > CONFIG_LINE_MAX)
			return config_error(&p, "line longer than %d bytes",
			    CONFIG_LINE_MAX);
		if (memchr(s, '\0', n) != NULL)
			return config_error(&p, "NUL byte in line");
		memcpy(line, s, n);
		line[n] = '\0';
		if (config_line(&p, line) == -1)
			return -1;
		s += n + (nl != NULL);
	}
	if (config_check(&p) == -1)
		return -1;
	config_finish(cfg);
	return 0;
}

/* Reads all of path into a new buffer; -1 with the reason in err. */
static int
config_read(const char *path, struct buf *b, char *err, size_t errlen)
{
	return buf_read_file(b, path, CONFIG_FILE_MAX, NULL, err, errlen) == 0 ?
	    0 : -1;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct buf	b;
	int		rc;

	buf_init(&b);
	rc = config_read(path, &b, err, errlen);
	if (rc == 0)
		rc = config_parse(cfg, path, b.data, b.len, err, errlen);
	buf_free(&b);
	return rc;
}

/* ---- defaults ---- */

void
config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->spool = xstrdup("/var/spool/strictmail");
	cfg->max_message_size = 35 * MiB;
	cfg->max_recipients = 100;
	cfg->max_sessions = 200;
	cfg->max_sessions_per_ip = 20;
	cfg->max_errors = 10;
	cfg->soft_error_limit = 5;
	cfg->error_delay = 1;
	cfg->max_received_headers = 100;
	cfg->max_line_length = 16 * KiB;
	cfg->max_command_line = 2048;
	cfg->timeout_command = 300;
	cfg->timeout_data = 600;
	cfg->timeout_request = 60;
	cfg->timeout_session = 30 * 60;
	cfg->shutdown_timeout = 10;
	cfg->min_free_space = 100 * MiB;
	cfg->queue_lifetime = 5 * DAY;
	cfg->user_smtpd = xstrdup("_sm-smtpd");
	cfg->user_queue = xstrdup("_sm-queue");
	cfg->user_lookup = xstrdup("_sm-lookup");
	cfg->user_control = xstrdup("_sm-control");
	cfg->control_socket = xstrdup(CONFIG_CONTROL_SOCKET);
	cfg->user_delivery = xstrdup("_sm-delivery");
	cfg->maildrop_group = xstrdup("_sm-drop");	/* maildrop */
	cfg->tls_ca_file = xstrdup(CONFIG_CA_FILE_DEFAULT);
	cfg->smtp_port = 25;
	cfg->max_deliveries = 20;
	cfg->max_deliveries_per_domain = 5;
	cfg->retry_initial = 5 * 60;
	cfg->retry_max = 3600;
	cfg->smtp_family = CONFIG_FAMILY_IPV6_FIRST;
	cfg->smtp_max_mx_hosts = 10;
	cfg->smtp_timeout_connect = 30;
	cfg->smtp_timeout_greeting = 300;
	cfg->smtp_timeout_command = 300;
	cfg->smtp_timeout_data = 180;
	cfg->smtp_timeout_final = 600;
	cfg->delay_warning = 4 * 3600;
	cfg->smtp_reuse_idle = 5;
	cfg->smtp_reuse_max = 100;
	cfg->sts_fetch_timeout = 60;
	cfg->sts_refresh_timeout = 30;
	cfg->sts_backoff = 300;
	cfg->sts_refresh = DAY;
	cfg->sts_cleanup_age = 180 * DAY;
	cfg->aliases = xstrdup("/etc/aliases");
	cfg->recipient_delimiter = xstrdup("+");
	cfg->alias_user = xstrdup("nobody");
	cfg->mbox_dir = xstrdup("/var/mail");
	cfg->maildir = xstrdup("Maildir");
	cfg->command_timeout = 300;
	cfg->local_timeout = 600;
	cfg->max_local_deliveries = 10;
	/* AUTH on submission. */
	cfg->auth_max_failures = 3;
	cfg->auth_lockout_failures = 10;
	cfg->auth_lockout_time = 900;
	cfg->auth_failure_delay = 2;
}

/*
 * The default hostname: the fully qualified name, as "hostname -f" gives
 * it (the canonical name of gethostname(), from /etc/hosts or DNS); the
 * short name when it has none, "localhost" when there is no name at all.
 */
static void
config_default_hostname(char *dst, size_t size)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256];

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		(void)strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (strchr(host, '.') == NULL &&
	    getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.') &&
	    config_domain_ok(res->ai_canonname))
		(void)strlcpy(host, res->ai_canonname, sizeof(host));
	if (res != NULL)
		freeaddrinfo(res);
	if (strlcpy(dst, host, size) >= size)
		(void)strlcpy(dst, "localhost", size);
}

void
config_finish(struct config *cfg)
{
	static const char *const defnets[] = { "127.0.0.0/8", "::1/128" };
	struct netmask	nm;
	size_t		i;

	if (cfg->hostname[0] == '\0')
		config_default_hostname(cfg->hostname, sizeof(cfg->hostname));
	if (cfg->nlocal_domains == 0) {
		config_list_add(&cfg->local_domains, &cfg->nlocal_domains,
		    cfg->hostname);
		if (strcasecmp(cfg->hostname, "localhost") != 0)
			config_list_add(&cfg->local_domains,
			    &cfg->nlocal_domains, "localhost");
	}
	if (cfg->nrelay_nets == 0) {
		for (i = 0; i < sizeof(defnets) / sizeof(defnets[0]); i++) {
			if (netmask_parse(defnets[i], &nm) == -1)
				fatalx("config_finish: bad default network");
			config_add_network(cfg, &nm);
		}
	}
	if (cfg->empty_dir == NULL) {
		struct buf	b;

		buf_init(&b);
		buf_printf(&b, "%s%sempty", cfg->spool,
		    strcmp(cfg->spool, "/") == 0 ? "" : "/");
		cfg->empty_dir = xstrdup(b.data);
		buf_free(&b);
	}
}

static void
config_free_tls_policy(struct config *cfg)
{
	size_t	i;

	for (i = 0; i < cfg->ntls_policy; i++) {
		free(cfg->tls_policy_domains[i]);
		free(cfg->tls_policy_names[i]);
	}
	free(cfg->tls_policy_domains);
	free(cfg->tls_policy_levels);
	free(cfg->tls_policy_names);
	cfg->tls_policy_domains = NULL;
	cfg->tls_policy_levels = NULL;
	cfg->tls_policy_names = NULL;
	cfg->ntls_policy = 0;
}

void
config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->spool);
	free(cfg->empty_dir);
	free(cfg->listeners);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	config_list_free(&cfg->local_domains, &cfg->nlocal_domains);
	free(cfg->relay_nets);
	free(cfg->user_smtpd);
	free(cfg->user_queue);
	free(cfg->user_lookup);
	free(cfg->user_control);
	free(cfg->control_socket);
	free(cfg->user_delivery);
	free(cfg->maildrop_group);	/* maildrop */
	free(cfg->tls_ca_file);
	free(cfg->dns_servers);
	free(cfg->smtp_helo_name);
	free(cfg->smtp_bind_address);
	free(cfg->smtp_bind_address6);
	config_free_tls_policy(cfg);
	free(cfg->relay_host);
	free(cfg->relay_auth_file);
	free(cfg->origin);
	free(cfg->masquerade_sender);
	config_list_free(&cfg->sts_disabled, &cfg->nsts_disabled);
	free(cfg->sts_ca_file);
	free(cfg->aliases);
	free(cfg->virtual_map);
	config_list_free(&cfg->virtual_domains, &cfg->nvirtual_domains);
	config_list_free(&cfg->mailbox_users, &cfg->nmailbox_users);
	free(cfg->recipient_delimiter);
	free(cfg->root_alias);
	free(cfg->alias_user);
	free(cfg->mbox_dir);
	free(cfg->maildir);
	free(cfg->lmtp_socket);
	free(cfg->admin_group);
	free(cfg->postdrop);	/* local submission */
	free(cfg->credentials);
	free(cfg->sender_login_map);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- the embedded default ---- */

/* Appends text with every @DIR@ and @HOSTNAME@ replaced. */
static void
config_substitute(struct buf *b, const char *text, const char *dir,
    const char *host)
{
	const char	*s = text, *at;

	while ((at = strchr(s, '@')) != NULL) {
		buf_add(b, s, (size_t)(at - s));
		if (strncmp(at, "@DIR@", 5) == 0) {
			buf_addstr(b, dir);
			s = at + 5;
		} else if (strncmp(at, "@HOSTNAME@", 10) == 0) {
			buf_addstr(b, host);
			s = at + 10;
		} else {
			buf_addch(b, '@');
			s = at + 1;
		}
	}
	buf_addstr(b, s);
}

char *
config_default_text(const char *dir, const char *hostname, char *err,
    size_t errlen)
{
	struct buf	 b;
	const char	*host = hostname;
	char		*text;

	if (dir[0] != '/') {
		(void)bsnprintf(err, errlen, "%s: not an absolute path", dir);
		return NULL;
	}
	if (dir[strcspn(dir, " \t\r\n#")] != '\0' || strlen(dir) > 900) {
		(void)bsnprintf(err, errlen, "%s: a folder name with spaces, "
		    "'#' or more than 900 bytes cannot be written into the "
		    "configuration", dir);
		return NULL;
	}
	if (host == NULL || !config_domain_ok(host) ||
	    strcasecmp(host, "localhost") == 0)
		host = "";
	buf_init(&b);
	config_substitute(&b, config_embedded_default,
	    strcmp(dir, "/") == 0 ? "" : dir, host);
	text = xstrdup(b.data);
	buf_free(&b);
	return text;
}

/* ---- queries ---- */

int
netmask_parse(const char *s, struct netmask *nm)
{
	char		 tmp[INET6_ADDRSTRLEN + 8], *slash;
	uint64_t	 prefix;
	unsigned	 maxprefix, i;

	if (strlcpy(tmp, s, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	memset(nm, 0, sizeof(*nm));
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash++ = '\0';
	nm->family = strchr(tmp, ':') != NULL ? AF_INET6 : AF_INET;
	maxprefix = nm->family == AF_INET6 ? 128 : 32;
	if (inet_pton(nm->family, tmp, nm->addr) != 1)
		return -1;
	prefix = maxprefix;
	if (slash != NULL && parse_u64(slash, 0, maxprefix, &prefix) == -1)
		return -1;
	nm->prefix = (unsigned)prefix;
	/* Clear the host bits so that equal networks compare equal. */
	for (i = 0; i < maxprefix / 8; i++) {
		if (i * 8 >= nm->prefix)
			nm->addr[i] = 0;
		else if (i * 8 + 8 > nm->prefix)
			nm->addr[i] &=
			    (uint8_t)(0xff << (8 - (nm->prefix - i * 8)));
	}
	return 0;
}

/* The address of sa as bytes and family; v4-mapped IPv6 counts as IPv4. */
static int
netmask_sockaddr(const struct sockaddr *sa, int *family, uint8_t addr[16])
{
	static const uint8_t mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		*family = AF_INET;
		memcpy(addr, &sin.sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	memcpy(&sin6, sa, sizeof(sin6));
	if (memcmp(sin6.sin6_addr.s6_addr, mapped, sizeof(mapped)) == 0) {
		*family = AF_INET;
		memcpy(addr, sin6.sin6_addr.s6_addr + 12, 4);
	} else {
		*family = AF_INET6;
		memcpy(addr, sin6.sin6_addr.s6_addr, 16);
	}
	return 0;
}

int
netmask_match(const struct netmask *nm, const struct sockaddr *sa)
{
	uint8_t		addr[16];
	unsigned	full, rest;
	int		family;

	if (netmask_sockaddr(sa, &family, addr) == -1 || family != nm->family)
		return 0;
	full = nm->prefix / 8;
	rest = nm->prefix % 8;
	if (memcmp(addr, nm->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((addr[full] ^ nm->addr[full]) & (0xff << (8 - rest)) & 0xff)
	    == 0;
}

int
config_is_local_domain(const struct config *cfg, const char *domain)
{
	size_t	i, len;

	if (domain == NULL || (len = strlen(domain)) == 0)
		return 0;
	if (domain[len - 1] == '.')
		len--;
	for (i = 0; i < cfg->nlocal_domains; i++)
		if (strlen(cfg->local_domains[i]) == len &&
		    strncasecmp(cfg->local_domains[i], domain, len) == 0)
			return 1;
	return 0;
}

int
config_may_relay(const struct config *cfg, const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < cfg->nrelay_nets; i++)
		if (netmask_match(&cfg->relay_nets[i], sa))
			return 1;
	return 0;
}

/*
 * The per-client session limit counts an IPv4 client by its address and
 * an IPv6 client by its /64, the least a site is given: one host can
 * take any number of addresses from its own /64.
 */
int
config_same_client(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t	x[16], y[16];
	int	fx, fy;

	if (netmask_sockaddr(a, &fx, x) == -1 ||
	    netmask_sockaddr(b, &fy, y) == -1 || fx != fy)
		return 0;
	return memcmp(x, y, fx == AF_INET ? 4 : CONFIG_CLIENT_V6_BYTES) == 0;
}

const char *
listener_kind_name(enum listener_kind k)
{
	switch (k) {
	case LISTEN_SMTP:	return "smtp";
	case LISTEN_SUBMISSION:	return "submission";
	case LISTEN_TLS:	return "tls";
	}
	return "unknown";
}

int
config_line_of(const struct config *cfg, const char *keyword)
{
	const struct config_keyword	*kw = config_keyword_find(keyword);

	return kw != NULL ? cfg->kwline[kw - config_keywords] : 0;
}

const char *
config_where(const struct config *cfg, const char *keyword, char *buf,
    size_t size)
{
	const char	*path = cfg->path ? cfg->path : "-";
	int		 line = config_line_of(cfg, keyword);

	if (line > 0)
		(void)bsnprintf(buf, size, "%s:%d", path, line);
	else
		(void)bsnprintf(buf, size, "%s (default %s)", path, keyword);
	return buf;
}

/* ---- reload ---- */

static char *
config_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Replaces the reloadable lists of dst by copies of src's. */
static void
config_copy_lists(struct config *dst, const struct config *src)
{
	size_t	i;

	config_list_copy(&dst->local_domains, &dst->nlocal_domains,
	    src->local_domains, src->nlocal_domains);
	free(dst->relay_nets);
	dst->relay_nets = xcalloc(src->nrelay_nets + 1,
	    sizeof(*dst->relay_nets));
	memcpy(dst->relay_nets, src->relay_nets,
	    src->nrelay_nets * sizeof(*dst->relay_nets));
	dst->nrelay_nets = src->nrelay_nets;
	config_free_tls_policy(dst);
	for (i = 0; i < src->ntls_policy; i++)
		config_add_tls_policy(dst, src->tls_policy_domains[i],
		    src->tls_policy_levels[i], src->tls_policy_names[i]);
}

void
config_copy(struct config *dst, const struct config *src)
{
	size_t	i;

	*dst = *src;
	dst->path = config_strdup_or_null(src->path);
	dst->spool = config_strdup_or_null(src->spool);
	dst->empty_dir = config_strdup_or_null(src->empty_dir);
	dst->tls_cert = config_strdup_or_null(src->tls_cert);
	dst->tls_key = config_strdup_or_null(src->tls_key);
	dst->user_smtpd = config_strdup_or_null(src->user_smtpd);
	dst->user_queue = config_strdup_or_null(src->user_queue);
	dst->user_lookup = config_strdup_or_null(src->user_lookup);
	dst->user_control = config_strdup_or_null(src->user_control);
	dst->control_socket = config_strdup_or_null(src->control_socket);
	dst->user_delivery = config_strdup_or_null(src->user_delivery);
	dst->maildrop_group = config_strdup_or_null(src->maildrop_group);
	dst->tls_ca_file = config_strdup_or_null(src->tls_ca_file);
	dst->dns_servers = config_strdup_or_null(src->dns_servers);
	dst->smtp_helo_name = config_strdup_or_null(src->smtp_helo_name);
	dst->smtp_bind_address = config_strdup_or_null(src->smtp_bind_address);
	dst->smtp_bind_address6 =
	    config_strdup_or_null(src->smtp_bind_address6);
	dst->relay_host = config_strdup_or_null(src->relay_host);
	dst->relay_auth_file = config_strdup_or_null(src->relay_auth_file);
	dst->origin = config_strdup_or_null(src->origin);
	dst->masquerade_sender = config_strdup_or_null(src->masquerade_sender);
	dst->sts_ca_file = config_strdup_or_null(src->sts_ca_file);
	dst->aliases = config_strdup_or_null(src->aliases);
	dst->virtual_domains = NULL;
	dst->nvirtual_domains = 0;
	config_list_copy(&dst->virtual_domains, &dst->nvirtual_domains,
	    src->virtual_domains, src->nvirtual_domains);
	dst->mailbox_users = NULL;
	dst->nmailbox_users = 0;
	config_list_copy(&dst->mailbox_users, &dst->nmailbox_users,
	    src->mailbox_users, src->nmailbox_users);
	dst->virtual_map = config_strdup_or_null(src->virtual_map);
	dst->recipient_delimiter =
	    config_strdup_or_null(src->recipient_delimiter);
	dst->root_alias = config_strdup_or_null(src->root_alias);
	dst->alias_user = config_strdup_or_null(src->alias_user);
	dst->mbox_dir = config_strdup_or_null(src->mbox_dir);
	dst->maildir = config_strdup_or_null(src->maildir);
	dst->lmtp_socket = config_strdup_or_null(src->lmtp_socket);
	dst->admin_group = config_strdup_or_null(src->admin_group);
	dst->postdrop = config_strdup_or_null(src->postdrop);	/* submission */
	dst->credentials = config_strdup_or_null(src->credentials);
	dst->sender_login_map = config_strdup_or_null(src->sender_login_map);
	dst->sts_disabled = NULL;
	dst->nsts_disabled = 0;
	config_list_copy(&dst->sts_disabled, &dst->nsts_disabled,
	    src->sts_disabled, src->nsts_disabled);
	dst->listeners = xcalloc(src->nlisteners + 1, sizeof(*dst->listeners));
	memcpy(dst->listeners, src->listeners,
	    src->nlisteners * sizeof(*dst->listeners));
	for (i = 0; i < dst->nlisteners; i++)
		dst->listeners[i].fd = -1;
	dst->local_domains = NULL;
	dst->nlocal_domains = 0;
	dst->relay_nets = NULL;
	dst->nrelay_nets = 0;
	dst->tls_policy_domains = NULL;
	dst->tls_policy_levels = NULL;
	dst->tls_policy_names = NULL;
	dst->ntls_policy = 0;
	config_copy_lists(dst, src);
}

static int
config_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* The listeners as a set: the same address, port and kind, in any order. */
static int
config_listeners_differ(const struct config *a, const struct config *b)
{
	size_t	i, j;

	if (a->nlisteners != b->nlisteners)
		return 1;
	for (i = 0; i < a->nlisteners; i++) {
		const struct listener *l = &a->listeners[i];

		for (j = 0; j < b->nlisteners; j++)
			if (b->listeners[j].port == l->port &&
			    b->listeners[j].kind == l->kind &&
			    strcmp(b->listeners[j].addr, l->addr) == 0)
				break;
		if (j == b->nlisteners)
			return 1;
	}
	return 0;
}

int
config_restart_needed(const struct config *run, const struct config *next,
    config_restart_cb cb, void *arg)
{
	const struct {
		const char	*name;
		int		 differs;
	} checks[] = {
		{ "listen", config_listeners_differ(run, next) },
		{ "spool", config_str_differs(run->spool, next->spool) },
		{ "empty-dir", config_str_differs(run->empty_dir,
		    next->empty_dir) },
		{ "user-smtpd", config_str_differs(run->user_smtpd,
		    next->user_smtpd) },
		{ "user-queue", config_str_differs(run->user_queue,
		    next->user_queue) },
		{ "user-lookup", config_str_differs(run->user_lookup,
		    next->user_lookup) },
		{ "user-control", config_str_differs(run->user_control,
		    next->user_control) },
		{ "control-socket", config_str_differs(run->control_socket,
		    next->control_socket) },
		{ "user-delivery", config_str_differs(run->user_delivery,
		    next->user_delivery) },
		/* Local submission: the spool's maildrop/ group. */
		{ "maildrop-group", config_str_differs(run->maildrop_group,
		    next->maildrop_group) },
		{ "tls-ca-file", config_str_differs(run->tls_ca_file,
		    next->tls_ca_file) },
		{ "dns-servers", config_str_differs(run->dns_servers,
		    next->dns_servers) },
		{ "smtp-helo-name", config_str_differs(run->smtp_helo_name,
		    next->smtp_helo_name) },
		{ "smtp-bind-address", config_str_differs(
		    run->smtp_bind_address, next->smtp_bind_address) },
		{ "smtp-bind-address6", config_str_differs(
		    run->smtp_bind_address6, next->smtp_bind_address6) },
		{ "max-sessions", run->max_sessions != next->max_sessions },
		{ "relay-auth-file", config_str_differs(run->relay_auth_file,
		    next->relay_auth_file) },
		{ "mta-sts-ca-file", config_str_differs(run->sts_ca_file,
		    next->sts_ca_file) },
		{ "tls-certificate", (run->tls_cert == NULL) !=
		    (next->tls_cert == NULL) },
		{ "aliases", config_str_differs(run->aliases, next->aliases) },
		{ "virtual-map", config_str_differs(run->virtual_map,
		    next->virtual_map) },
		{ "virtual-domain", config_list_differ(run->virtual_domains,
		    run->nvirtual_domains, next->virtual_domains,
		    next->nvirtual_domains) },
		{ "mailbox-user", config_list_differ(run->mailbox_users,
		    run->nmailbox_users, next->mailbox_users,
		    next->nmailbox_users) },
		{ "recipient-delimiter", config_str_differs(
		    run->recipient_delimiter, next->recipient_delimiter) },
		{ "root-alias", config_str_differs(run->root_alias,
		    next->root_alias) },
		{ "alias-user", config_str_differs(run->alias_user,
		    next->alias_user) },
		{ "mailbox", run->mailbox != next->mailbox },
		{ "mbox-dir", config_str_differs(run->mbox_dir,
		    next->mbox_dir) },
		{ "maildir", config_str_differs(run->maildir, next->maildir) },
		{ "lmtp-socket", config_str_differs(run->lmtp_socket,
		    next->lmtp_socket) },
		/* AUTH on submission. */
		{ "credentials", config_str_differs(run->credentials,
		    next->credentials) },
		{ "sender-login-map", config_str_differs(run->sender_login_map,
		    next->sender_login_map) },
		{ "auth-max-failures", run->auth_max_failures !=
		    next->auth_max_failures },
		{ "auth-lockout-failures", run->auth_lockout_failures !=
		    next->auth_lockout_failures },
		{ "auth-lockout-time", run->auth_lockout_time !=
		    next->auth_lockout_time },
		{ "auth-failure-delay", run->auth_failure_delay !=
		    next->auth_failure_delay },
		{ "auth-sender-check", run->auth_sender_check !=
		    next->auth_sender_check },
		{ "received-auth", run->received_auth != next->received_auth },
	};
	size_t	i;
	int	n = 0;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (!checks[i].differs)
			continue;
		n++;
		if (cb != NULL)
			cb(checks[i].name, arg);
	}
	return n;
}

/* The numbers that reload, as offsets into struct config. */
#define R(field, type)	{ offsetof(struct config, field), sizeof(type) }
static const struct {
	size_t	off;
	size_t	size;		/* sizeof(unsigned) or sizeof(uint64_t) */
} config_reload_numbers[] = {
	R(max_message_size, uint64_t),
	R(max_recipients, unsigned),
	R(max_sessions_per_ip, unsigned),
	R(max_errors, unsigned),
	R(soft_error_limit, unsigned),
	R(error_delay, uint64_t),
	R(max_received_headers, unsigned),
	R(max_line_length, uint64_t),
	R(max_command_line, unsigned),
	R(timeout_command, uint64_t),
	R(timeout_data, uint64_t),
	R(timeout_request, uint64_t),
	R(timeout_session, uint64_t),
	R(shutdown_timeout, uint64_t),
	R(min_free_space, uint64_t),
	R(queue_lifetime, uint64_t),
	R(smtp_port, unsigned),
	R(max_deliveries, unsigned),
	R(max_deliveries_per_domain, unsigned),
	R(retry_initial, uint64_t),
	R(retry_max, uint64_t),
	R(smtp_family, unsigned),
	R(smtp_max_mx_hosts, unsigned),
	R(smtp_timeout_connect, uint64_t),
	R(smtp_timeout_greeting, uint64_t),
	R(smtp_timeout_command, uint64_t),
	R(smtp_timeout_data, uint64_t),
	R(smtp_timeout_final, uint64_t),
	R(relay_port, unsigned),
	R(delay_warning, uint64_t),
	R(smtp_reuse_idle, uint64_t),
	R(smtp_reuse_max, unsigned),
	R(sts_fetch_timeout, uint64_t),
	R(sts_refresh_timeout, uint64_t),
	R(sts_backoff, uint64_t),
	R(sts_refresh, uint64_t),
	R(sts_cleanup_age, uint64_t),
	R(command_timeout, uint64_t),
	R(local_timeout, uint64_t),
	R(max_local_deliveries, unsigned),
};
#undef R
#define CONFIG_NRELOAD_NUMBERS \
	(sizeof(config_reload_numbers) / sizeof(config_reload_numbers[0]))

static uint64_t
config_number_get(const struct config *cfg, size_t i)
{
	const void	*f = (const char *)cfg + config_reload_numbers[i].off;
	uint64_t	 v64;
	unsigned	 v;

	if (config_reload_numbers[i].size == sizeof(uint64_t)) {
		memcpy(&v64, f, sizeof(v64));
		return v64;
	}
	memcpy(&v, f, sizeof(v));
	return v;
}

static void
config_number_set(struct config *cfg, size_t i, uint64_t v64)
{
	void		*f = (char *)cfg + config_reload_numbers[i].off;
	unsigned	 v = (unsigned)v64;

	if (config_reload_numbers[i].size == sizeof(uint64_t))
		memcpy(f, &v64, sizeof(v64));
	else
		memcpy(f, &v, sizeof(v));
}

/* relay-host, origin and masquerade-sender reload; relay-auth-file
 * does not (it is read once, as root, before the delivery process drops
 * its privileges). */
static void
config_relay_take(struct config *run, const struct config *next)
{
	free(run->relay_host);
	free(run->origin);
	free(run->masquerade_sender);
	run->relay_host = config_strdup_or_null(next->relay_host);
	run->origin = config_strdup_or_null(next->origin);
	run->masquerade_sender = config_strdup_or_null(next->masquerade_sender);
}

void
config_reload_take(struct config *run, const struct config *next)
{
	size_t	i;

	(void)strlcpy(run->hostname, next->hostname, sizeof(run->hostname));
	config_copy_lists(run, next);
	/* Messages name the lines of the file as it is now. */
	memcpy(run->kwline, next->kwline, sizeof(run->kwline));
	free(run->path);
	run->path = config_strdup_or_null(next->path);
	for (i = 0; i < CONFIG_NRELOAD_NUMBERS; i++)
		config_number_set(run, i, config_number_get(next, i));
	if (run->tls_cert != NULL && next->tls_cert != NULL) {
		free(run->tls_cert);
		free(run->tls_key);
		run->tls_cert = xstrdup(next->tls_cert);
		run->tls_key = xstrdup(next->tls_key);
	}
	config_relay_take(run, next);
	config_list_copy(&run->sts_disabled, &run->nsts_disabled,
	    next->sts_disabled, next->nsts_disabled);
}

/*
 * MSG_P_SETTINGS payload:
 *   str hostname
 *   u32 n, n x str local domain
 *   u32 n, n x { u32 family, u32 prefix, data address (4 or 16 octets) }
 *   u32 n (CONFIG_NRELOAD_NUMBERS), n x u64 (config_reload_numbers order)
 *   u32 n, n x { str domain, u32 level }   tls-policy
 *   str relay-host, str origin, str masquerade-sender ("" = not set)
 *   u32 n, n x str domain                  mta-sts-disable
 */
/* u32 n, n x str */
static void
config_list_put(struct buf *b, char *const *v, size_t n)
{
	size_t	i;

	ipc_put_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++)
		ipc_put_str(b, v[i]);
}

void
config_settings_put(struct buf *b, const struct config *cfg)
{
	size_t	i;

	ipc_put_str(b, cfg->hostname);
	config_list_put(b, cfg->local_domains, cfg->nlocal_domains);
	ipc_put_u32(b, (uint32_t)cfg->nrelay_nets);
	for (i = 0; i < cfg->nrelay_nets; i++) {
		const struct netmask *nm = &cfg->relay_nets[i];

		ipc_put_u32(b, (uint32_t)nm->family);
		ipc_put_u32(b, nm->prefix);
		ipc_put_data(b, nm->addr, nm->family == AF_INET ? 4 : 16);
	}
	ipc_put_u32(b, (uint32_t)CONFIG_NRELOAD_NUMBERS);
	for (i = 0; i < CONFIG_NRELOAD_NUMBERS; i++)
		ipc_put_u64(b, config_number_get(cfg, i));
	ipc_put_u32(b, (uint32_t)cfg->ntls_policy);
	for (i = 0; i < cfg->ntls_policy; i++) {
		ipc_put_str(b, cfg->tls_policy_domains[i]);
		ipc_put_u32(b, cfg->tls_policy_levels[i]);
		ipc_put_str(b, cfg->tls_policy_names[i]);
	}
	ipc_put_str(b, cfg->relay_host != NULL ? cfg->relay_host : "");
	ipc_put_str(b, cfg->origin != NULL ? cfg->origin : "");
	ipc_put_str(b, cfg->masquerade_sender != NULL ?
	    cfg->masquerade_sender : "");
	config_list_put(b, cfg->sts_disabled, cfg->nsts_disabled);
}

/*
 * A list of config_list_put into *v (emptied first), each a valid
 * domain, min to CONFIG_MAX_ITEMS of them; what names the list in a
 * violation.  -1 when m is broken.
 */
static int
config_list_get(struct ipc_msg *m, char ***v, size_t *nv, uint32_t min,
    const char *what)
{
	uint32_t	n, i;
	char		dom[256], why[96];

	n = ipc_get_u32(m);
	if (!ipc_failed(m) && (n < min || n > CONFIG_MAX_ITEMS)) {
		(void)bsnprintf(why, sizeof(why), "bad number of %ss", what);
		ipc_violation(m, why);
	}
	config_list_free(v, nv);
	for (i = 0; i < n && !ipc_failed(m); i++) {
		ipc_get_str(m, dom, sizeof(dom));
		if (!ipc_failed(m) && !config_domain_ok(dom)) {
			(void)bsnprintf(why, sizeof(why), "bad %s", what);
			ipc_violation(m, why);
		}
		if (!ipc_failed(m))
			config_list_add(v, nv, dom);
	}
	return ipc_failed(m) ? -1 : 0;
}

/* One string of the relay settings into *field; "" = not set. */
static void
config_settings_get_opt(struct ipc_msg *m, char **field, int literal_ok)
{
	char		 v[256];
	unsigned char	 bin[16];

	ipc_get_str(m, v, sizeof(v));
	if (ipc_failed(m))
		return;
	if (v[0] != '\0' && !config_domain_ok(v) && !(literal_ok &&
	    (inet_pton(AF_INET, v, bin) == 1 ||
	    inet_pton(AF_INET6, v, bin) == 1))) {
		ipc_violation(m, "bad relay setting");
		return;
	}
	free(*field);
	*field = v[0] != '\0' ? xstrdup(v) : NULL;
}

static int
config_settings_get_policy(struct ipc_msg *m, struct config *cfg)
{
	uint32_t	n, i, lv;
	char		dom[256], names[CONFIG_LINE_MAX];

	n = ipc_get_u32(m);
	if (!ipc_failed(m) && n > CONFIG_MAX_ITEMS)
		ipc_violation(m, "bad number of tls-policy lines");
	config_free_tls_policy(cfg);
	for (i = 0; i < n && !ipc_failed(m); i++) {
		ipc_get_str(m, dom, sizeof(dom));
		lv = ipc_get_u32(m);
		ipc_get_str(m, names, sizeof(names));
		if (!ipc_failed(m) && (!config_domain_ok(dom) ||
		    lv > CONFIG_TLS_SECURE))
			ipc_violation(m, "bad tls-policy");
		if (!ipc_failed(m))
			config_add_tls_policy(cfg, dom, lv, names);
	}
	return ipc_failed(m) ? -1 : 0;
}

static int
config_settings_get_nets(struct ipc_msg *m, struct config *cfg)
{
	struct netmask	 nm;
	const uint8_t	*addr;
	uint32_t	 n, i;
	size_t		 len;

	n = ipc_get_u32(m);
	if (n > CONFIG_MAX_ITEMS) {
		ipc_violation(m, "bad number of relay networks");
		return -1;
	}
	cfg->nrelay_nets = 0;
	for (i = 0; i < n && !ipc_failed(m); i++) {
		memset(&nm, 0, sizeof(nm));
		nm.family = (int)ipc_get_u32(m);
		nm.prefix = ipc_get_u32(m);
		addr = ipc_get_data(m, &len);
		if (ipc_failed(m))
			break;
		if (!((nm.family == AF_INET && len == 4 && nm.prefix <= 32) ||
		    (nm.family == AF_INET6 && len == 16 &&
		    nm.prefix <= 128))) {
			ipc_violation(m, "bad relay network");
			break;
		}
		memcpy(nm.addr, addr, len);
		config_add_network(cfg, &nm);
	}
	return ipc_failed(m) ? -1 : 0;
}

int
config_settings_get(struct ipc_msg *m, struct config *cfg)
{
	char		host[sizeof(cfg->hostname)];
	uint32_t	n;
	size_t		i;

	ipc_get_str(m, host, sizeof(host));
	if (!ipc_failed(m) && !config_domain_ok(host))
		ipc_violation(m, "bad hostname");
	if (ipc_failed(m) || config_list_get(m, &cfg->local_domains,
	    &cfg->nlocal_domains, 1, "local domain") == -1 ||
	    config_settings_get_nets(m, cfg) == -1)
		return -1;
	(void)strlcpy(cfg->hostname, host, sizeof(cfg->hostname));
	if ((n = ipc_get_u32(m)) != CONFIG_NRELOAD_NUMBERS) {
		if (!ipc_failed(m))
			ipc_violation(m, "bad number of settings");
		return -1;
	}
	for (i = 0; i < CONFIG_NRELOAD_NUMBERS; i++)
		config_number_set(cfg, i, ipc_get_u64(m));
	if (config_settings_get_policy(m, cfg) == -1)
		return -1;
	config_settings_get_opt(m, &cfg->relay_host, 1);
	config_settings_get_opt(m, &cfg->origin, 0);
	config_settings_get_opt(m, &cfg->masquerade_sender, 0);
	if (ipc_failed(m) || config_list_get(m, &cfg->sts_disabled,
	    &cfg->nsts_disabled, 0, "mta-sts-disable domain") == -1)
		return -1;
	return ipc_end(m);
}
