/*
 * config.h - strictmail.conf: the one configuration of every process.
 *
 * The parent reads the file before it forks; children inherit the parsed
 * struct.  Grammar (daemon/strictmail.conf.5): one directive per line,
 * "keyword value...", '#' starts a comment, blank lines ignored.  Every
 * error is reported as "file:line: what is wrong" and the file is refused.
 * Every duration is an ordinary setting (DESIGN promise 6).
 */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The largest max-command-line: the receiver sizes its buffers by it. */
#define SMTP_COMMAND_LINE_MAX	8192

enum listener_kind {
	LISTEN_SMTP = 0,	/* port 25: MX service, STARTTLS offered */
	LISTEN_SUBMISSION,	/* port 587: STARTTLS required before AUTH */
	LISTEN_TLS,		/* port 465: implicit TLS (RFC 8314) */
};

struct listener {
	char			 addr[64];	/* numeric IPv4 or IPv6 address */
	uint16_t		 port;
	enum listener_kind	 kind;
	int			 fd;		/* bound by the parent, -1 before */
	int			 line;		/* where it was configured */
};

struct netmask {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];
	unsigned	prefix;
};

/*
 * relay-network: a network wider than these prefixes (IPv4 /8, IPv6 /16)
 * relays for much of the Internet and is refused unless its line says
 * "open-relay" (strictmail.conf(5)).
 */
#define CONFIG_RELAY_MIN_PREFIX4	8
#define CONFIG_RELAY_MIN_PREFIX6	16
#define CONFIG_OPEN_RELAY		"open-relay"

/* tls-policy levels (the order of smtpc.h's enum smtpc_tls_level). */
enum config_tls_level {
	CONFIG_TLS_NONE = 0,
	CONFIG_TLS_MAY,
	CONFIG_TLS_ENCRYPT,
	CONFIG_TLS_VERIFY,
	CONFIG_TLS_SECURE,
};
#define CONFIG_CA_FILE_DEFAULT	"/etc/ssl/certs/ca-certificates.crt"

/* smtp-address-family: which addresses of an MX delivery tries first. */
enum config_family {
	CONFIG_FAMILY_IPV6_FIRST = 0,	/* default */
	CONFIG_FAMILY_IPV4_FIRST,
	CONFIG_FAMILY_IPV4_ONLY,
	CONFIG_FAMILY_IPV6_ONLY,
	CONFIG_FAMILY_ANY,		/* both in one random order */
};

/* mailbox: where a local user's mail goes (delivery/local.h). */
enum config_mailbox {
	CONFIG_MAILBOX_MBOX = 0,	/* <mbox-dir>/USER, default */
	CONFIG_MAILBOX_MAILDIR,		/* ~USER/<maildir>/ */
	CONFIG_MAILBOX_LMTP,		/* handed to lmtp-socket */
};

/* auth-sender-check: whose envelope senders an authenticated user may use. */
enum config_auth_sender {
	CONFIG_AUTH_SENDER_OWN = 0,	/* default: MSG_L_SENDER's rule */
	CONFIG_AUTH_SENDER_ANY,		/* any sender */
};

/* Room for the line of every keyword (config_where). */
#define CONFIG_KEYWORDS_MAX	128
/* Where strictmaild listens for strictmailctl(8) by default. */
#define CONFIG_CONTROL_SOCKET	"/run/strictmail/control.sock"

struct config {
	char		*path;			/* the file it came from */
	char		 hostname[256];		/* default: gethostname() */
	char		*spool;			/* default /var/spool/strictmail */
	char		*empty_dir;		/* chroot of smtpd; default <spool>/empty */

	struct listener	*listeners;
	size_t		 nlisteners;

	char		*tls_cert;		/* PEM paths; NULL = none */
	char		*tls_key;

	char		**local_domains;	/* lower case; default: hostname, localhost */
	size_t		 nlocal_domains;
	struct netmask	*relay_nets;		/* default: 127.0.0.0/8, ::1/128 */
	size_t		 nrelay_nets;

	uint64_t	 max_message_size;	/* octets, default 35 MiB */
	unsigned	 max_recipients;	/* default 100 */
	unsigned	 max_sessions;		/* default 200 */
	unsigned	 max_sessions_per_ip;	/* per client (config_same_client),
						 * relay-network exempt; default 20 */
	unsigned	 max_errors;		/* 4xx/5xx replies, then 421; default 10 */
	unsigned	 soft_error_limit;	/* then replies are delayed; default 5 */
	uint64_t	 error_delay;		/* seconds, default 1 */
	unsigned	 max_received_headers;	/* mail loop: default 100 */
	uint64_t	 max_line_length;	/* text line octets, default 16 KiB */
	unsigned	 max_command_line;	/* command line octets with CRLF, default 2048 */
	uint64_t	 timeout_command;	/* seconds, default 300 */
	uint64_t	 timeout_data;		/* seconds, default 600 */
	uint64_t	 timeout_request;	/* queue and lookup answers, seconds, default 60 */
	uint64_t	 timeout_session;	/* a whole session, seconds, default 1800 */
	uint64_t	 shutdown_timeout;	/* seconds, default 10 */
	uint64_t	 min_free_space;	/* octets, default 100 MiB */
	uint64_t	 queue_lifetime;	/* seconds, default 5 days */

	char		*user_smtpd;		/* default _sm-smtpd */
	char		*user_queue;		/* default _sm-queue */
	char		*user_lookup;		/* default _sm-lookup */
	char		*user_control;		/* default _sm-control */
	char		*control_socket;	/* default CONFIG_CONTROL_SOCKET */
	char		*user_delivery;		/* default _sm-delivery */

	/* Remote delivery. */
	char		*tls_ca_file;		/* default the system bundle */
	char		*dns_servers;		/* NULL: /etc/resolv.conf */
	unsigned	 smtp_port;		/* port delivery connects to: 25 */
	char		**tls_policy_domains;	/* tls-policy, lower case */
	unsigned	*tls_policy_levels;	/* enum config_tls_level */
	char		**tls_policy_names;	/* secure: "NAME NAME", or "" */
	size_t		 ntls_policy;
	unsigned	 max_deliveries;	/* in flight overall: 20 */
	unsigned	 max_deliveries_per_domain; /* default 5 */
	uint64_t	 retry_initial;		/* seconds, default 5 min */
	uint64_t	 retry_max;		/* seconds, default 1 h */
	/* The SMTP client (delivery): reloaded, except the strings. */
	unsigned	 smtp_family;		/* enum config_family */
	unsigned	 smtp_max_mx_hosts;	/* MX hosts tried: 10 */
	uint64_t	 smtp_timeout_connect;	/* 30 s */
	uint64_t	 smtp_timeout_greeting;	/* 220 greeting: 300 s */
	uint64_t	 smtp_timeout_command;	/* EHLO, STARTTLS, MAIL, RCPT,
						 * RSET, QUIT, handshake: 300 s */
	uint64_t	 smtp_timeout_data;	/* DATA's 354, each block: 180 s */
	uint64_t	 smtp_timeout_final;	/* the final dot: 600 s */
	char		*smtp_helo_name;	/* NULL: hostname */
	char		*smtp_bind_address;	/* IPv4 source, NULL: any */
	char		*smtp_bind_address6;	/* IPv6 source, NULL: any */

	/* Relay host: every remote recipient goes there (relay-host). */
	char		*relay_host;		/* NULL = none: MX delivery */
	unsigned	 relay_port;		/* 465: implicit TLS, else
						 * STARTTLS; 0 with no host */
	char		*relay_auth_file;	/* NULL = no AUTH */
	char		*origin;		/* NULL = the hostname */
	char		*masquerade_sender;	/* NULL = none */
	uint64_t	 delay_warning;		/* seconds, default 4 h; 0: no
						 * delay warnings */
	uint64_t	 smtp_reuse_idle;	/* seconds idle, default 5; 0: no reuse */
	unsigned	 smtp_reuse_max;	/* messages per connection: 100 */

	/* MTA-STS (sts/, ../shared/spec/mta-sts.md rule 33). */
	char		**sts_disabled;		/* mta-sts-disable, lower case */
	size_t		 nsts_disabled;
	uint64_t	 sts_fetch_timeout;	/* on the delivery path: 60 s */
	uint64_t	 sts_refresh_timeout;	/* background refresh: 30 s */
	uint64_t	 sts_backoff;		/* after a failed fetch: 5 min */
	uint64_t	 sts_refresh;		/* between refreshes: 1 d */
	uint64_t	 sts_cleanup_age;	/* unused entries: 180 d */
	char		*sts_ca_file;		/* NULL: tls_ca_file */

	/* Local delivery (lookup/, delivery/local.h); a change needs a
	 * restart, except the numbers. */
	char		*aliases;		/* source; compiled into
						 * <aliases>.db: /etc/aliases */
	char		*virtual_map;		/* source (.db beside): NULL */
	char		**virtual_domains;	/* virtual-domain, lower case */
	size_t		 nvirtual_domains;
	char		*recipient_delimiter;	/* "+"; "" = none */
	char		*root_alias;		/* root's mail: NULL = none */
	char		*alias_user;		/* runs pipes and files of the
						 * aliases: nobody */
	unsigned	 mailbox;		/* enum config_mailbox */
	char		**mailbox_users;	/* mailbox-user: "USER KIND" */
	size_t		 nmailbox_users;
	char		*mbox_dir;		/* /var/mail */
	char		*maildir;		/* Maildir, under the home */
	char		*lmtp_socket;		/* unix:/path or addr:port */
	uint64_t	 command_timeout;	/* a pipe target: 5 min */
	uint64_t	 local_timeout;		/* one local delivery: 10 min */
	unsigned	 max_local_deliveries;	/* at once: 10 */

	/* Operator commands (strictmailctl queue delete|hold|release):
	 * besides root, the members of this group may run them; NULL =
	 * none.  Read by the parent; a reload applies it. */
	char		*admin_group;
	/* Local submission, the sendmail(8) front end (ctl/ctl_sendmail.h):
	 * read by strictmailctl only. */
	char		*postdrop;		/* the setgid helper; NULL: the
						 * compiled-in one */
	/* AUTH on submission (smtpd/, lookup/): a change needs a restart. */
	char		*credentials;		/* source (.db beside): NULL =
						 * no AUTH offered */
	unsigned	 auth_max_failures;	/* per session, then 421: 3 */
	unsigned	 auth_lockout_failures;	/* per client address: 10 */
	uint64_t	 auth_lockout_time;	/* seconds: 15 min */
	uint64_t	 auth_failure_delay;	/* seconds, grows with the
						 * failures: 2 */
	char		*sender_login_map;	/* source (.db beside): NULL */
	unsigned	 auth_sender_check;	/* enum config_auth_sender */
	unsigned	 received_auth;		/* user in Received: 0 */
	/* Local submission (maildrop pickup). */
	char		*maildrop_group;	/* default _sm-drop: may create
						 * files in <spool>/maildrop */

	int		 kwline[CONFIG_KEYWORDS_MAX];	/* per keyword: the line
						 * it was first set on, 0 = default */
};

void config_init(struct config *cfg);	/* all defaults, no listeners */
void config_free(struct config *cfg);
/* Reads and parses path into cfg (which config_init set up); on error
 * returns -1 with "file:line: what is wrong" in err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* The same, from memory; name is used in messages. */
int config_parse(struct config *cfg, const char *name, const char *text,
    size_t len, char *err, size_t errlen);
/* Fills defaults that depend on others (hostname, local domains, relay
 * networks, empty_dir) after parsing; config_load and config_parse call
 * it on success.  It only fills what is unset, so calling it again is
 * harmless. */
void config_finish(struct config *cfg);

/* "file:line" of keyword's setting, or "file (default KEYWORD)" when the
 * file does not set it; into buf, which is returned. */
/* The line that set keyword, or 0 (a default, or not a keyword). */
int config_line_of(const struct config *cfg, const char *keyword);
const char *config_where(const struct config *cfg, const char *keyword,
    char *buf, size_t size);

/*
 * Reload (SIGHUP).  Settings that a running strictmaild can change:
 * hostname, local-domain, relay-network, every limit except max-sessions,
 * every timeout, shutdown-timeout, min-free-space, queue-lifetime, and
 * the paths of tls-certificate and tls-key (once TLS is on), tls-policy,
 * relay-host, origin and masquerade-sender.  The rest (listen, spool,
 * empty-dir, the users, max-sessions, TLS on or off, relay-auth-file)
 * needs a restart.
 */
/* A deep copy of src into dst (listener descriptors -1 in the copy). */
void config_copy(struct config *dst, const struct config *src);
/* Calls cb with the name of every setting that differs between run and
 * next and needs a restart; returns how many. */
typedef void (*config_restart_cb)(const char *setting, void *arg);
int config_restart_needed(const struct config *run, const struct config *next,
    config_restart_cb cb, void *arg);
/* Copies every setting that reloads from next into run, with the lines
 * and path of next for later messages. */
void config_reload_take(struct config *run, const struct config *next);

/* MSG_P_SETTINGS (proto.h): the settings that reload, as a payload. */
struct ipc_msg;
struct buf;
void config_settings_put(struct buf *b, const struct config *cfg);
/* Reads them into cfg (a copy of the running configuration); -1 if m was
 * malformed (then cfg may be half-changed: free it). */
int config_settings_get(struct ipc_msg *m, struct config *cfg);

int netmask_parse(const char *s, struct netmask *nm);
int netmask_match(const struct netmask *nm, const struct sockaddr *sa);
int config_is_local_domain(const struct config *cfg, const char *domain);
/* 1 when "virtual-domain" names domain: its addresses are all in the
 * virtual map (lookup/expand.h). */
int config_is_virtual_domain(const struct config *cfg, const char *domain);
/* The tls-policy level of a recipient domain (lower case): its own
 * tls-policy line, else `may`. */
enum config_tls_level config_tls_level_of(const struct config *cfg,
    const char *domain);
const char *config_tls_level_name(enum config_tls_level lv);
/* The domain that qualifies bare local addresses: origin, else the
 * hostname. */
const char *config_origin(const struct config *cfg);
/* The port of relay-host that means implicit TLS (RFC 8314). */
#define CONFIG_RELAY_PORT_TLS	465
/* The names of "tls-policy DOMAIN secure NAME...", blank-separated, or ""
 * (then `secure` checks the recipient domain). */
const char *config_tls_names_of(const struct config *cfg,
    const char *domain);
int config_may_relay(const struct config *cfg, const struct sockaddr *sa);
/* 1 when "mta-sts-disable" names domain (lower case, A-labels). */
int config_sts_disabled(const struct config *cfg, const char *domain);
/* The compiled form of a map source: "<src>.db" into buf (NULL if it
 * does not fit). */
const char *config_map_db(const char *src, char *buf, size_t size);
/* The mailbox kind of a local user: its mailbox-user line, else
 * mailbox. */
unsigned config_mailbox_of(const struct config *cfg, const char *user);
/* The name of a mailbox kind: "mbox", "maildir", "lmtp". */
const char *config_mailbox_name(unsigned kind);
/* The CA file for MTA-STS policy hosts: mta-sts-ca-file, else
 * tls-ca-file. */
const char *config_sts_ca_file(const struct config *cfg);
/* 1 if a and b are one client for max-sessions-per-client: the same IPv4
 * address (an IPv4-mapped one counts as IPv4), or IPv6 addresses in the
 * same /64. */
#define CONFIG_CLIENT_V6_BYTES	8	/* /64 */
int config_same_client(const struct sockaddr *a, const struct sockaddr *b);
const char *listener_kind_name(enum listener_kind k);

/* 1 if s is a host or domain name (letters, digits, '-' in dot-separated
 * labels), else 0. */
int config_domain_ok(const char *s);

/* The sample configuration written by "strictmaild -I dir" (make run): a
 * template in which "@DIR@" and "@HOSTNAME@" stand for the folder and the
 * machine's host name. */
extern const char config_embedded_default[];
/* The template filled in; dir must be absolute and hold no space or '#';
 * hostname is left out when NULL, not a domain name, or "localhost".
 * NULL with the reason in err, else a string the caller frees. */
char *config_default_text(const char *dir, const char *hostname, char *err,
    size_t errlen);

#endif
