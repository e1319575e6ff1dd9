/*
 * test_config.c - strictmail.conf: a full file parses into the expected
 * values, defaults are filled in, every mistake is refused with its exact
 * "file:line: message", and the network and domain checks that smtpd
 * relies on (netmask_parse/netmask_match, config_may_relay,
 * config_is_local_domain) decide correctly.  relay-network refuses host
 * bits (naming the network meant) and open relays unless the line says
 * open-relay; overlapping listeners are refused per address family;
 * config_where names a setting's file:line; a reload knows which settings
 * need a restart, takes the others, and carries them through
 * MSG_P_SETTINGS unchanged.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "common/util.h"

#define NAME	"t.conf"

static int
parse(struct config *cfg, const char *text, char *err, size_t errlen)
{
	config_init(cfg);
	err[0] = '\0';
	return config_parse(cfg, NAME, text, strlen(text), err, errlen);
}

/* Parses text, which must fail with exactly want. */
static void
expect_error(const char *text, const char *want)
{
	struct config	cfg;
	char		err[1024];
	int		rc;

	rc = parse(&cfg, text, err, sizeof(err));
	config_free(&cfg);
	if (rc != -1 || strcmp(err, want) != 0)
		fail_msg("input:\n%s\nexpected error: %s\ngot: rc %d, '%s'",
		    text, want, rc, err);
}

static void
test_full_file(void **state)
{
	static const char text[] =
	    "# a full configuration\n"
	    "hostname mail.Example.org\n"
	    "spool /var/spool/sm/\n"
	    "empty-dir /var/empty\n"
	    "\n"
	    "listen 0.0.0.0 25 smtp   # MX\n"
	    "listen\t::\t587\tsubmission\n"
	    "listen 192.0.2.1 465 tls\r\n"
	    "listen 2001:db8:0:0::1 2525\n"
	    "tls-certificate /etc/sm/cert.pem\n"
	    "tls-key /etc/sm/key.pem\n"
	    "local-domain Example.org example.net\n"
	    "local-domain example.com\n"
	    "relay-network 192.0.2.0/24 10.1.2.3\n"
	    "relay-network 2001:db8::/32\n"
	    "max-message-size 10M\n"
	    "max-recipients 50\n"
	    "max-sessions 300\n"
	    "max-sessions-per-client 5\n"
	    "max-errors 3\n"
	    "soft-error-limit 2\n"
	    "error-delay 0\n"
	    "timeout-command 5m\n"
	    "timeout-data 1h\n"
	    "timeout-request 10s\n"
	    "timeout-session 2h\n"
	    "shutdown-timeout 30s\n"
	    "min-free-space 1G\n"
	    "queue-lifetime 2d\n"
	    "user-smtpd sm1\n"
	    "user-queue sm2\n"
	    "user-lookup sm3";	/* no newline at the end */
	struct config	cfg;
	char		err[1024];

	(void)state;
	if (parse(&cfg, text, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_string_equal(cfg.path, NAME);
	assert_string_equal(cfg.hostname, "mail.Example.org");
	assert_string_equal(cfg.spool, "/var/spool/sm");
	assert_string_equal(cfg.empty_dir, "/var/empty");
	assert_int_equal(cfg.nlisteners, 4);
	assert_string_equal(cfg.listeners[0].addr, "0.0.0.0");
	assert_int_equal(cfg.listeners[0].port, 25);
	assert_int_equal(cfg.listeners[0].kind, LISTEN_SMTP);
	assert_int_equal(cfg.listeners[0].fd, -1);
	assert_int_equal(cfg.listeners[0].line, 6);
	assert_string_equal(cfg.listeners[1].addr, "::");
	assert_int_equal(cfg.listeners[1].port, 587);
	assert_int_equal(cfg.listeners[1].kind, LISTEN_SUBMISSION);
	assert_int_equal(cfg.listeners[2].kind, LISTEN_TLS);
	assert_int_equal(cfg.listeners[2].line, 8);
	assert_string_equal(cfg.listeners[3].addr, "2001:db8::1");
	assert_int_equal(cfg.listeners[3].kind, LISTEN_SMTP);
	assert_string_equal(cfg.tls_cert, "/etc/sm/cert.pem");
	assert_string_equal(cfg.tls_key, "/etc/sm/key.pem");
	assert_int_equal(cfg.nlocal_domains, 3);
	assert_string_equal(cfg.local_domains[0], "example.org");
	assert_string_equal(cfg.local_domains[1], "example.net");
	assert_string_equal(cfg.local_domains[2], "example.com");
	assert_int_equal(cfg.nrelay_nets, 3);
	assert_int_equal(cfg.relay_nets[0].family, AF_INET);
	assert_int_equal(cfg.relay_nets[0].prefix, 24);
	assert_int_equal(cfg.relay_nets[1].prefix, 32);
	assert_int_equal(cfg.relay_nets[2].family, AF_INET6);
	assert_int_equal(cfg.relay_nets[2].prefix, 32);
	assert_true(cfg.max_message_size == 10 * 1024 * 1024);
	assert_int_equal(cfg.max_recipients, 50);
	assert_int_equal(cfg.max_sessions, 300);
	assert_int_equal(cfg.max_sessions_per_ip, 5);
	assert_int_equal(cfg.max_errors, 3);
	assert_int_equal(cfg.soft_error_limit, 2);
	assert_true(cfg.error_delay == 0);
	assert_true(cfg.timeout_command == 300);
	assert_true(cfg.timeout_data == 3600);
	assert_true(cfg.timeout_request == 10);
	assert_true(cfg.timeout_session == 7200);
	assert_true(cfg.shutdown_timeout == 30);
	assert_true(cfg.min_free_space == 1024ULL * 1024 * 1024);
	assert_true(cfg.queue_lifetime == 2 * 86400);
	assert_string_equal(cfg.user_smtpd, "sm1");
	assert_string_equal(cfg.user_queue, "sm2");
	assert_string_equal(cfg.user_lookup, "sm3");
	config_free(&cfg);
}

static void
test_defaults(void **state)
{
	struct config	cfg;
	char		err[1024], host[256];

	(void)state;
	if (parse(&cfg, "listen 127.0.0.1 2525\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	assert_string_equal(cfg.hostname, host);
	assert_string_equal(cfg.spool, "/var/spool/strictmail");
	assert_string_equal(cfg.empty_dir, "/var/spool/strictmail/empty");
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_key);
	assert_true(cfg.nlocal_domains >= 1);
	assert_string_equal(cfg.local_domains[0], str_lower(host));
	assert_true(config_is_local_domain(&cfg, "localhost"));
	assert_int_equal(cfg.nrelay_nets, 2);
	assert_int_equal(cfg.relay_nets[0].family, AF_INET);
	assert_int_equal(cfg.relay_nets[0].prefix, 8);
	assert_int_equal(cfg.relay_nets[0].addr[0], 127);
	assert_int_equal(cfg.relay_nets[1].family, AF_INET6);
	assert_int_equal(cfg.relay_nets[1].prefix, 128);
	assert_true(cfg.max_message_size == 35 * 1024 * 1024);
	assert_int_equal(cfg.max_recipients, 100);
	assert_int_equal(cfg.max_sessions, 200);
	assert_int_equal(cfg.max_sessions_per_ip, 20);
	assert_int_equal(cfg.max_errors, 10);
	assert_int_equal(cfg.soft_error_limit, 5);
	assert_true(cfg.error_delay == 1);
	assert_true(cfg.timeout_command == 300);
	assert_true(cfg.timeout_data == 600);
	assert_true(cfg.timeout_request == 60);
	assert_true(cfg.timeout_session == 1800);
	assert_true(cfg.shutdown_timeout == 10);
	assert_true(cfg.min_free_space == 100 * 1024 * 1024);
	assert_true(cfg.queue_lifetime == 5 * 86400);
	assert_string_equal(cfg.user_smtpd, "_sm-smtpd");
	assert_string_equal(cfg.user_queue, "_sm-queue");
	assert_string_equal(cfg.user_lookup, "_sm-lookup");
	assert_string_equal(cfg.user_control, "_sm-control");
	assert_string_equal(cfg.control_socket, "/run/strictmail/control.sock");
	/* config_finish fills only what is unset. */
	config_finish(&cfg);
	assert_int_equal(cfg.nrelay_nets, 2);
	config_free(&cfg);
}

static void
test_hostname_set(void **state)
{
	struct config	cfg;
	char		err[1024];

	(void)state;
	if (parse(&cfg, "hostname MX1.example.org\nspool /sp\n"
	    "listen ::1 25\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_string_equal(cfg.hostname, "MX1.example.org");
	assert_int_equal(cfg.nlocal_domains, 2);
	assert_string_equal(cfg.local_domains[0], "mx1.example.org");
	assert_string_equal(cfg.local_domains[1], "localhost");
	assert_string_equal(cfg.empty_dir, "/sp/empty");
	config_free(&cfg);

	if (parse(&cfg, "hostname localhost\nlisten ::1 25\n", err,
	    sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.nlocal_domains, 1);
	config_free(&cfg);
}

static void
test_comments_and_blanks(void **state)
{
	struct config	cfg;
	char		err[1024];
	char		*text;
	size_t		 n = 4096;

	(void)state;
	if (parse(&cfg, "\n   \n\t# only a comment\n#\nlisten 127.0.0.1 25#c\n"
	    "  max-errors   7   # trailing\r\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.max_errors, 7);
	config_free(&cfg);

	/* A line of exactly 4096 bytes is allowed. */
	text = xmalloc(n + 64);
	memset(text, ' ', n);
	memcpy(text, "# x", 3);
	memcpy(text + n, "\nlisten 127.0.0.1 25\n", 22);
	if (parse(&cfg, text, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	config_free(&cfg);
	free(text);
}

static void
test_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "listen 127.0.0.1 25\n\n\n\n\n\nlisen 1\n",
		  NAME ":7: unknown keyword 'lisen'" },
		{ "\n\nlisten 127.0.0.1 99999\n",
		  NAME ":3: listen: bad port '99999'" },
		{ "listen 127.0.0.1 0\n", NAME ":1: listen: bad port '0'" },
		{ "listen 127.0.0.1 -1\n", NAME ":1: listen: bad port '-1'" },
		{ "listen 127.0.0.1 25 smtps\n", NAME ":1: listen: bad kind "
		  "'smtps' (smtp, submission or tls)" },
		{ "listen localhost 25\n", NAME ":1: listen: bad address "
		  "'localhost' (a numeric IPv4 or IPv6 address)" },
		{ "listen 127.1 25\n", NAME ":1: listen: bad address "
		  "'127.1' (a numeric IPv4 or IPv6 address)" },
		{ "listen 127.0.0.1\n", NAME ":1: listen: missing value" },
		{ "listen 127.0.0.1 25 smtp x\n",
		  NAME ":1: listen: too many values" },
		{ "listen 127.0.0.1 25\n\n\nmax-recipients ten\n",
		  NAME ":4: max-recipients: 'ten' is not a number from 1 to "
		  "100000" },
		{ "max-recipients 0\n", NAME ":1: max-recipients: '0' is not "
		  "a number from 1 to 100000" },
		{ "max-recipients 100001\n", NAME ":1: max-recipients: "
		  "'100001' is not a number from 1 to 100000" },
		{ "max-sessions 1e3\n", NAME ":1: max-sessions: '1e3' is not "
		  "a number from 1 to 100000" },
		{ "max-sessions-per-client -3\n", NAME ":1: "
		  "max-sessions-per-client: '-3' is not a number from 1 to "
		  "100000" },
		{ "max-errors 1001\n", NAME ":1: max-errors: '1001' is not a "
		  "number from 1 to 1000" },
		{ "max-command-line 511\n", NAME ":1: max-command-line: '511' "
		  "is not a number from 512 to 8192" },
		{ "max-command-line 8193\n", NAME ":1: max-command-line: '8193' "
		  "is not a number from 512 to 8192" },
		{ "\n\n\n\n\n\n\n\nrelay-network 10.0.0.0/33\n",
		  NAME ":9: relay-network: bad network '10.0.0.0/33'" },
		{ "relay-network 127.0.0.1 ::1/129\n",
		  NAME ":1: relay-network: bad network '::1/129'" },
		{ "relay-network 10.0.0.0/\n",
		  NAME ":1: relay-network: bad network '10.0.0.0/'" },
		{ "spool /a\nlisten 127.0.0.1 25\nspool /b\n",
		  NAME ":3: duplicate 'spool' (first on line 1)" },
		{ "hostname\n", NAME ":1: hostname: missing value" },
		{ "hostname a b\n", NAME ":1: hostname: too many values" },
		{ "hostname -bad.example\n",
		  NAME ":1: hostname: bad host name '-bad.example'" },
		{ "spool var/spool\n",
		  NAME ":1: spool: 'var/spool' is not an absolute path" },
		{ "empty-dir empty\n",
		  NAME ":1: empty-dir: 'empty' is not an absolute path" },
		{ "tls-certificate cert.pem\n", NAME ":1: tls-certificate: "
		  "'cert.pem' is not an absolute path" },
		{ "tls-key ./key.pem\n",
		  NAME ":1: tls-key: './key.pem' is not an absolute path" },
		{ "control-socket run/ctl.sock\n", NAME ":1: control-socket: "
		  "'run/ctl.sock' is not an absolute path" },
		{ "control-socket /run/strictmail/0123456789012345678901234567"
		  "890123456789012345678901234567890123456789012345678901234567"
		  "89/c\n", NAME ":1: control-socket: path longer than 107 "
		  "bytes" },
		{ "max-message-size 10X\n", NAME ":1: max-message-size: "
		  "'10X' is not a size from 1 to 1024G" },
		{ "max-message-size 0\n", NAME ":1: max-message-size: "
		  "'0' is not a size from 1 to 1024G" },
		{ "min-free-space 2048G\n", NAME ":1: min-free-space: "
		  "'2048G' is not a size from 0 to 1024G" },
		{ "timeout-command 0\n", NAME ":1: timeout-command: '0' is "
		  "not a duration from 1s to 1d" },
		{ "timeout-data 5w\n", NAME ":1: timeout-data: '5w' is not a "
		  "duration from 1s to 1d" },
		{ "shutdown-timeout 2h\n", NAME ":1: shutdown-timeout: '2h' "
		  "is not a duration from 1s to 1h" },
		{ "error-delay 2m\n", NAME ":1: error-delay: '2m' is not a "
		  "duration from 0s to 1m" },
		{ "timeout-request 0\n", NAME ":1: timeout-request: '0' is "
		  "not a duration from 1s to 1h" },
		{ "timeout-session 2d\n", NAME ":1: timeout-session: '2d' is "
		  "not a duration from 1s to 1d" },
		{ "soft-error-limit 0\n", NAME ":1: soft-error-limit: '0' is "
		  "not a number from 1 to 1000" },
		{ "queue-lifetime 366d\n", NAME ":1: queue-lifetime: '366d' "
		  "is not a duration from 1s to 365d" },
		{ "user-queue ro:ot\n",
		  NAME ":1: user-queue: bad user name 'ro:ot'" },
		{ "local-domain example.org under_score.org\n",
		  NAME ":1: local-domain: bad domain 'under_score.org'" },
		{ "local-domain example.org\nlocal-domain EXAMPLE.org\n",
		  NAME ":2: local-domain: duplicate domain 'EXAMPLE.org'" },
		{ "listen 127.0.0.1 25\x01\n",
		  NAME ":1: control character 0x01" },
		{ "# nothing but comments\n\n", NAME ": no listen directive" },
		{ "listen 127.0.0.1 25\nlisten ::1 25\nlisten 127.0.0.1 25 "
		  "submission\n", NAME ":3: duplicate listen 127.0.0.1 25 "
		  "(first on line 1)" },
		{ "listen ::1 25\nlisten 0:0::0:1 25\n",
		  NAME ":2: duplicate listen ::1 25 (first on line 1)" },
		{ "listen 127.0.0.1 465 tls\n", NAME ":1: listen 127.0.0.1 "
		  "465 tls: needs tls-certificate and tls-key" },
		{ "listen 127.0.0.1 25\ntls-certificate /c.pem\n",
		  NAME ":2: tls-certificate without tls-key" },
		{ "listen 127.0.0.1 25\n\ntls-key /k.pem\n",
		  NAME ":3: tls-key without tls-certificate" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].err);
}

static void
test_long_line_and_nul(void **state)
{
	struct config	 cfg;
	char		 err[1024];
	char		*text;
	size_t		 n = 4097;
	static const char nul[] = "listen 127.0.0.1 25\nhost\0name x\n";

	(void)state;
	text = xmalloc(n + 64);
	memcpy(text, "listen 127.0.0.1 25\n", 20);
	memset(text + 20, 'a', n);
	memcpy(text + 20 + n, "\n", 2);
	assert_int_equal(parse(&cfg, text, err, sizeof(err)), -1);
	assert_string_equal(err, NAME ":2: line longer than 4096 bytes");
	config_free(&cfg);
	free(text);

	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, NAME, nul, sizeof(nul) - 1, err,
	    sizeof(err)), -1);
	assert_string_equal(err, NAME ":2: NUL byte in line");
	config_free(&cfg);
}

static void
test_load(void **state)
{
	struct config	cfg;
	char		path[] = "/tmp/test_config_XXXXXX";
	char		err[1024], want[1100];
	int		fd;
	static const char bad[] = "listen 127.0.0.1 25\nmax-errors x\n";

	(void)state;
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, "/nonexistent/strictmail.conf",
	    err, sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent/strictmail.conf: No such file or directory");
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_load(&cfg, "/tmp", err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: not a regular file");
	config_free(&cfg);

	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write_all(fd, bad, sizeof(bad) - 1), 0);
	close(fd);
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: max-errors: 'x' is not a number "
	    "from 1 to 1000", path);
	assert_string_equal(err, want);
	config_free(&cfg);
	unlink(path);
}

static void
test_default_text(void **state)
{
	struct config	 cfg;
	char		 err[1024];
	char		*text;

	(void)state;
	text = config_default_text("/srv/run", "box.example.org", err,
	    sizeof(err));
	assert_non_null(text);
	assert_non_null(strstr(text, "spool           /srv/run/spool\n"));
	assert_non_null(strstr(text, "tls-key         /srv/run/key.pem\n"));
	assert_null(strstr(text, "@"));
	config_init(&cfg);
	if (config_parse(&cfg, "gen", text, strlen(text), err,
	    sizeof(err)) != 0)
		fail_msg("generated configuration refused: %s", err);
	assert_string_equal(cfg.spool, "/srv/run/spool");
	assert_int_equal(cfg.nlisteners, 1);
	assert_string_equal(cfg.listeners[0].addr, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].port, 2525);
	assert_true(config_is_local_domain(&cfg, "localhost"));
	assert_true(config_is_local_domain(&cfg, "box.example.org"));
	config_free(&cfg);
	free(text);

	/* An unusable host name is left out; localhost is not repeated. */
	text = config_default_text("/srv/run", "localhost", err, sizeof(err));
	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, "gen", text, strlen(text), err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.nlocal_domains, 1);
	config_free(&cfg);
	free(text);
	text = config_default_text("/srv/run", "bad_host", err, sizeof(err));
	assert_null(strstr(text, "bad_host"));
	free(text);

	assert_null(config_default_text("run", "h", err, sizeof(err)));
	assert_string_equal(err, "run: not an absolute path");
	assert_null(config_default_text("/my run", "h", err, sizeof(err)));
	assert_null(config_default_text("/a#b", "h", err, sizeof(err)));
}

/* ---- networks ---- */

static struct sockaddr_storage
sa_of(const char *addr)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(1234);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(1234);
	} else
		fail_msg("bad test address %s", addr);
	return ss;
}

static int
match(const char *net, const char *addr)
{
	struct netmask		nm;
	struct sockaddr_storage	ss = sa_of(addr);

	if (netmask_parse(net, &nm) != 0)
		fail_msg("netmask_parse(%s) failed", net);
	return netmask_match(&nm, (struct sockaddr *)&ss);
}

static void
test_netmask_parse(void **state)
{
	static const char *const bad[] = {
		"", "/", "/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/",
		"10.0.0.0/8x", "10.0.0", "10.0.0.0.0", "256.0.0.1",
		"10.0.0.0/08/1", "::1/129", "::1/", "1:2:3:4:5:6:7:8:9",
		"fe80::1%eth0", "example.org", "10.0.0.0 /8", " 10.0.0.0",
		"0x7f.0.0.1",
		"1111:2222:3333:4444:5555:6666:7777:8888/128/extra/long/text",
	};
	struct netmask	nm;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netmask_parse(bad[i], &nm) != -1)
			fail_msg("netmask_parse accepted '%s'", bad[i]);
	assert_int_equal(netmask_parse("10.1.2.3/8", &nm), 0);
	assert_int_equal(nm.family, AF_INET);
	assert_int_equal(nm.prefix, 8);
	assert_int_equal(nm.addr[0], 10);
	assert_int_equal(nm.addr[1], 0);	/* host bits cleared */
	assert_int_equal(netmask_parse("10.1.2.3", &nm), 0);
	assert_int_equal(nm.prefix, 32);
	assert_int_equal(netmask_parse("::1", &nm), 0);
	assert_int_equal(nm.family, AF_INET6);
	assert_int_equal(nm.prefix, 128);
	assert_int_equal(netmask_parse("0.0.0.0/0", &nm), 0);
	assert_int_equal(nm.prefix, 0);
	assert_int_equal(netmask_parse("::/0", &nm), 0);
	assert_int_equal(nm.prefix, 0);
	assert_int_equal(netmask_parse("192.168.1.255/23", &nm), 0);
	assert_int_equal(nm.addr[2], 0);
	assert_int_equal(nm.addr[3], 0);
}

static void
test_netmask_match(void **state)
{
	(void)state;
	/* IPv4 */
	assert_true(match("127.0.0.0/8", "127.0.0.1"));
	assert_true(match("127.0.0.0/8", "127.255.255.255"));
	assert_false(match("127.0.0.0/8", "128.0.0.1"));
	assert_true(match("192.0.2.0/25", "192.0.2.127"));
	assert_false(match("192.0.2.0/25", "192.0.2.128"));
	assert_true(match("10.0.0.0/7", "11.200.0.1"));
	assert_false(match("10.0.0.0/7", "12.0.0.1"));
	/* /32 and bare addresses */
	assert_true(match("198.51.100.7/32", "198.51.100.7"));
	assert_false(match("198.51.100.7/32", "198.51.100.6"));
	assert_true(match("198.51.100.7", "198.51.100.7"));
	assert_false(match("198.51.100.7", "198.51.100.8"));
	/* /0 matches its whole family, and only it */
	assert_true(match("0.0.0.0/0", "203.0.113.9"));
	assert_false(match("0.0.0.0/0", "2001:db8::1"));
	assert_true(match("::/0", "2001:db8::1"));
	assert_false(match("::/0", "203.0.113.9"));
	/* IPv6 */
	assert_true(match("::1/128", "::1"));
	assert_false(match("::1/128", "::2"));
	assert_true(match("::1", "::1"));
	assert_true(match("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match("2001:db8::/32", "2001:db9::1"));
	assert_true(match("2001:db8:0:8000::/49", "2001:db8:0:ffff::1"));
	assert_false(match("2001:db8:0:8000::/49", "2001:db8:0:7fff::1"));
	assert_true(match("2001:db8::1:0/127", "2001:db8::1:1"));
	assert_false(match("2001:db8::1:0/127", "2001:db8::1:2"));
	/* IPv4-mapped IPv6 clients count as IPv4 */
	assert_true(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_false(match("127.0.0.0/8", "::ffff:10.0.0.1"));
	assert_false(match("::1/128", "127.0.0.1"));
}

static int
same(const char *a, const char *b)
{
	struct sockaddr_storage	x = sa_of(a), y = sa_of(b);

	return config_same_client((struct sockaddr *)&x, (struct sockaddr *)&y);
}

/* max-sessions-per-client: IPv4 per address, IPv6 per /64. */
static void
test_same_client(void **state)
{
	struct sockaddr		un = { .sa_family = AF_UNIX };
	struct sockaddr_storage	x = sa_of("192.0.2.1");

	(void)state;
	assert_true(same("192.0.2.1", "192.0.2.1"));
	assert_false(same("192.0.2.1", "192.0.2.2"));
	assert_true(same("::ffff:192.0.2.1", "192.0.2.1"));
	assert_false(same("::ffff:192.0.2.1", "::ffff:192.0.2.2"));
	assert_true(same("2001:db8:1:2::1",
	    "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_true(same("2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"));
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same("2001:db8:1:2::1", "2001:db9:1:2::1"));
	assert_false(same("::1", "0.0.0.1"));
	assert_false(same("192.0.2.1", "c000:201::"));
	assert_false(config_same_client(&un, &un));
	assert_false(config_same_client((struct sockaddr *)&x, NULL));
}

static void
test_may_relay(void **state)
{
	struct config		cfg;
	struct sockaddr_storage	ss;
	struct sockaddr		un;
	char			err[1024];

	(void)state;
	if (parse(&cfg, "listen 127.0.0.1 25\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	ss = sa_of("127.0.0.1");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("127.3.4.5");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("::1");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("::ffff:127.0.0.1");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("192.0.2.1");
	assert_false(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("::2");
	assert_false(config_may_relay(&cfg, (struct sockaddr *)&ss));
	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	assert_false(config_may_relay(&cfg, &un));
	assert_false(config_may_relay(&cfg, NULL));
	config_free(&cfg);

	/* Configured networks replace the loopback default. */
	if (parse(&cfg, "listen 127.0.0.1 25\nrelay-network 192.0.2.0/24\n",
	    err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	ss = sa_of("192.0.2.200");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	ss = sa_of("127.0.0.1");
	assert_false(config_may_relay(&cfg, (struct sockaddr *)&ss));
	config_free(&cfg);
}

static void
test_local_domain(void **state)
{
	struct config	cfg;
	char		err[1024];

	(void)state;
	if (parse(&cfg, "listen 127.0.0.1 25\nlocal-domain example.org\n",
	    err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_true(config_is_local_domain(&cfg, "example.org"));
	assert_true(config_is_local_domain(&cfg, "EXAMPLE.Org"));
	assert_true(config_is_local_domain(&cfg, "example.org."));
	assert_false(config_is_local_domain(&cfg, "sub.example.org"));
	assert_false(config_is_local_domain(&cfg, "example.or"));
	assert_false(config_is_local_domain(&cfg, "localhost"));
	assert_false(config_is_local_domain(&cfg, ""));
	assert_false(config_is_local_domain(&cfg, NULL));
	config_free(&cfg);
}

static void
test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(listener_kind_name(LISTEN_SMTP), "smtp");
	assert_string_equal(listener_kind_name(LISTEN_SUBMISSION),
	    "submission");
	assert_string_equal(listener_kind_name(LISTEN_TLS), "tls");
	assert_true(config_domain_ok("a-b.example"));
	assert_false(config_domain_ok("a..b"));
	assert_false(config_domain_ok("a-.b"));
	assert_false(config_domain_ok(".a"));
	assert_false(config_domain_ok(""));
}


static void
test_relay_checks(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "listen 127.0.0.1 25\nrelay-network 192.168.1.5/16\n",
		  NAME ":2: relay-network: '192.168.1.5/16' has host bits set: "
		  "the network is 192.168.0.0/16" },
		{ "listen 127.0.0.1 25\nrelay-network 2001:db8::1/32\n",
		  NAME ":2: relay-network: '2001:db8::1/32' has host bits set: "
		  "the network is 2001:db8::/32" },
		{ "listen 127.0.0.1 25\nrelay-network 0.0.0.0/0\n",
		  NAME ":2: relay-network: 0.0.0.0/0 is wider than /8 and makes "
		  "an open relay: write 'open-relay' on the line if that is "
		  "meant" },
		{ "listen 127.0.0.1 25\nrelay-network 10.0.0.0/8 ::/0\n",
		  NAME ":2: relay-network: ::/0 is wider than /16 and makes an "
		  "open relay: write 'open-relay' on the line if that is "
		  "meant" },
		{ "listen 127.0.0.1 25\nrelay-network 64.0.0.0/2\n",
		  NAME ":2: relay-network: 64.0.0.0/2 is wider than /8 and "
		  "makes an open relay: write 'open-relay' on the line if that "
		  "is meant" },
		{ "listen 127.0.0.1 25\nrelay-network open-relay\n",
		  NAME ":2: relay-network: missing value" },
		/* open-relay holds for its own line only */
		{ "listen 127.0.0.1 25\nrelay-network ::/0 open-relay\n"
		  "relay-network 0.0.0.0/0\n",
		  NAME ":3: relay-network: 0.0.0.0/0 is wider than /8 and makes "
		  "an open relay: write 'open-relay' on the line if that is "
		  "meant" },
	};
	struct config		cfg;
	struct sockaddr_storage	ss;
	char			err[1024];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].err);
	if (parse(&cfg, "listen 127.0.0.1 25\nrelay-network 0.0.0.0/0 "
	    "open-relay 10.0.0.0/8 2001:db8::/32\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.nrelay_nets, 3);
	ss = sa_of("198.51.100.7");
	assert_true(config_may_relay(&cfg, (struct sockaddr *)&ss));
	config_free(&cfg);
	if (parse(&cfg, "listen 127.0.0.1 25\nrelay-network 10.0.0.0/8 "
	    "fd00::/16 192.168.0.0/16\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	config_free(&cfg);
}

static void
test_listen_overlap(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "listen 127.0.0.1 25\nlisten 0.0.0.0 25\n",
		  NAME ":2: listen 0.0.0.0 25 overlaps listen 127.0.0.1 25 "
		  "(line 1): 0.0.0.0 already takes port 25 on every IPv4 "
		  "address" },
		{ "listen 0.0.0.0 587 submission\nlisten 192.0.2.1 587\n",
		  NAME ":2: listen 192.0.2.1 587 overlaps listen 0.0.0.0 587 "
		  "(line 1): 0.0.0.0 already takes port 587 on every IPv4 "
		  "address" },
		{ "listen ::1 25\nlisten ::0 25\n",
		  NAME ":2: listen :: 25 overlaps listen ::1 25 (line 1): :: "
		  "already takes port 25 on every IPv6 address" },
		{ "listen 0.0.0.0 25\nlisten 0.0.0.0 25 submission\n",
		  NAME ":2: duplicate listen 0.0.0.0 25 (first on line 1)" },
	};
	struct config	cfg;
	char		err[1024];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].err);
	/* IPV6_V6ONLY: the two wildcards go together, other ports too. */
	if (parse(&cfg, "listen 0.0.0.0 25\nlisten :: 25\nlisten 127.0.0.1 "
	    "2525\nlisten ::1 587\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	config_free(&cfg);
}

static void
test_where(void **state)
{
	struct config	cfg;
	char		err[1024], buf[256];

	(void)state;
	if (parse(&cfg, "\nlisten 127.0.0.1 25\n\ntls-certificate /c\n"
	    "tls-key /k\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_string_equal(config_where(&cfg, "tls-certificate", buf,
	    sizeof(buf)), NAME ":4");
	assert_string_equal(config_where(&cfg, "tls-key", buf, sizeof(buf)),
	    NAME ":5");
	assert_string_equal(config_where(&cfg, "listen", buf, sizeof(buf)),
	    NAME ":2");
	assert_string_equal(config_where(&cfg, "user-smtpd", buf,
	    sizeof(buf)), NAME " (default user-smtpd)");
	assert_int_equal(config_line_of(&cfg, "spool"), 0);
	assert_int_equal(config_line_of(&cfg, "no-such-keyword"), 0);
	config_free(&cfg);
}

static void
note_setting(const char *setting, void *arg)
{
	struct buf	*b = arg;

	buf_printf(b, "%s,", setting);
}

/* Which differences need a restart. */
static void
test_restart_needed(void **state)
{
	static const struct {
		const char	*next;
		const char	*want;
	} cases[] = {
		{ "listen 127.0.0.1 25\nlisten ::1 25\nspool /s\n"
		  "tls-certificate /c\ntls-key /k\n", "" },
		/* the same listeners in another order */
		{ "listen ::1 25\nlisten 127.0.0.1 25\nspool /s\n"
		  "tls-certificate /c\ntls-key /k\n", "" },
		/* reloadable: no restart */
		{ "listen 127.0.0.1 25\nlisten ::1 25\nspool /s\n"
		  "tls-certificate /c2\ntls-key /k2\nhostname mx.test\n"
		  "max-message-size 1M\nrelay-network 10.0.0.0/8\n"
		  "timeout-command 1m\nlocal-domain example.org\n", "" },
		{ "listen 127.0.0.1 25 submission\nlisten ::1 25\n"
		  "spool /s\ntls-certificate /c\ntls-key /k\n", "listen," },
		{ "listen 127.0.0.1 25\nspool /s\ntls-certificate /c\n"
		  "tls-key /k\n", "listen," },
		{ "listen 127.0.0.1 25\nlisten ::1 25\nspool /t\n"
		  "user-smtpd a\nuser-queue b\nuser-lookup c\n"
		  "max-sessions 5\nempty-dir /e\n",
		  "spool,empty-dir,user-smtpd,user-queue,user-lookup,"
		  "max-sessions,tls-certificate," },
	};
	struct config	run, next;
	struct buf	b;
	char		err[1024];
	size_t		i;
	int		n;

	(void)state;
	if (parse(&run, "listen 127.0.0.1 25\nlisten ::1 25\nspool /s\n"
	    "tls-certificate /c\ntls-key /k\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(&next, cases[i].next, err, sizeof(err)) != 0)
			fail_msg("unexpected error: %s", err);
		buf_init(&b);
		buf_addstr(&b, "");
		n = config_restart_needed(&run, &next, note_setting, &b);
		if (strcmp(b.data, cases[i].want) != 0)
			fail_msg("case %zu: want '%s', got '%s'", i,
			    cases[i].want, b.data);
		assert_int_equal(n == 0, cases[i].want[0] == '\0');
		buf_free(&b);
		config_free(&next);
	}
	config_free(&run);
}

/* The reloadable settings are taken, the others stay; they travel through
 * MSG_P_SETTINGS into a copy unchanged. */
static void
test_reload_take_and_settings(void **state)
{
	struct config	run, next, copy;
	struct sockaddr_storage	ss;
	struct ipc_msg	m;
	struct buf	payload, wire;
	char		err[1024];
	size_t		used;

	(void)state;
	if (parse(&run, "listen 127.0.0.1 25\nspool /s\nmax-sessions 7\n"
	    "hostname a.test\n", err, sizeof(err)) != 0 ||
	    parse(&next, "listen 127.0.0.1 2525\nspool /t\nmax-sessions 9\n"
	    "hostname b.test\nmax-message-size 2M\nmax-recipients 3\n"
	    "relay-network 192.0.2.0/24 2001:db8::/32\n"
	    "local-domain b.test c.test\ntimeout-session 1h\n"
	    "queue-lifetime 2d\nmin-free-space 1M\nerror-delay 0\n"
	    "tls-policy Example.ORG verify\ntls-policy b.example none\n"
	    "retry-initial 7s\nmax-deliveries 3\n"
	    "tls-policy s.example secure s.example mx.s.example\n"
	    "smtp-reuse-idle 0\nsmtp-reuse-max 7\n",
	    err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	config_reload_take(&run, &next);
	assert_string_equal(run.hostname, "b.test");
	assert_string_equal(run.spool, "/s");
	assert_int_equal(run.max_sessions, 7);
	assert_int_equal(run.listeners[0].port, 25);
	assert_true(run.max_message_size == 2 * 1024 * 1024);
	assert_int_equal(run.max_recipients, 3);
	assert_int_equal(run.nrelay_nets, 2);
	assert_true(config_is_local_domain(&run, "c.test"));
	assert_false(config_is_local_domain(&run, "a.test"));
	assert_int_equal(config_line_of(&run, "max-recipients"), 6);
	config_free(&next);

	/* Through the message into a copy of a fresh configuration. */
	buf_init(&payload);
	buf_init(&wire);
	config_settings_put(&payload, &run);
	ipc_encode(&wire, MSG_P_SETTINGS, 0, 0, payload.data, payload.len);
	assert_int_equal(ipc_decode((const uint8_t *)wire.data, wire.len, &m,
	    &used), IPC_OK);
	if (parse(&next, "listen 127.0.0.1 25\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	config_copy(&copy, &next);
	config_free(&next);
	assert_int_equal(config_settings_get(&m, &copy), 0);
	assert_string_equal(copy.hostname, "b.test");
	assert_true(copy.max_message_size == 2 * 1024 * 1024);
	assert_int_equal(copy.max_recipients, 3);
	assert_true(copy.timeout_session == 3600);
	assert_true(copy.queue_lifetime == 2 * 86400);
	assert_true(copy.min_free_space == 1024 * 1024);
	assert_true(copy.error_delay == 0);
	assert_true(copy.retry_initial == 7);
	assert_int_equal(copy.max_deliveries, 3);
	assert_int_equal(copy.ntls_policy, 3);
	assert_int_equal(config_tls_level_of(&copy, "example.org"),
	    CONFIG_TLS_VERIFY);
	assert_int_equal(config_tls_level_of(&copy, "S.example"),
	    CONFIG_TLS_SECURE);
	assert_string_equal(config_tls_names_of(&copy, "s.example"),
	    "s.example mx.s.example");
	assert_string_equal(config_tls_names_of(&copy, "example.org"), "");
	assert_true(copy.smtp_reuse_idle == 0);
	assert_int_equal(copy.smtp_reuse_max, 7);
	assert_int_equal(config_tls_level_of(&copy, "b.example"),
	    CONFIG_TLS_NONE);
	assert_int_equal(config_tls_level_of(&copy, "c.example"),
	    CONFIG_TLS_MAY);
	assert_int_equal(copy.nlocal_domains, 2);
	assert_true(config_is_local_domain(&copy, "b.test"));
	ss = sa_of("192.0.2.9");
	assert_true(config_may_relay(&copy, (struct sockaddr *)&ss));
	ss = sa_of("2001:db8::5");
	assert_true(config_may_relay(&copy, (struct sockaddr *)&ss));
	ss = sa_of("127.0.0.1");
	assert_false(config_may_relay(&copy, (struct sockaddr *)&ss));
	assert_int_equal(copy.listeners[0].fd, -1);
	config_free(&copy);
	config_free(&run);
	buf_free(&payload);
	buf_free(&wire);
}

static void
test_delivery_settings(void **state)
{
	struct config	cfg;
	char		err[1024];

	(void)state;
	if (parse(&cfg, "listen 127.0.0.1 25\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_string_equal(cfg.user_delivery, "_sm-delivery");
	assert_string_equal(cfg.tls_ca_file, CONFIG_CA_FILE_DEFAULT);
	assert_null(cfg.dns_servers);
	assert_int_equal(cfg.smtp_port, 25);
	assert_int_equal(cfg.max_deliveries, 20);
	assert_int_equal(cfg.max_deliveries_per_domain, 5);
	assert_true(cfg.retry_initial == 300 && cfg.retry_max == 3600);
	assert_int_equal(config_tls_level_of(&cfg, "any.example"),
	    CONFIG_TLS_MAY);
	config_free(&cfg);
	expect_error("listen 127.0.0.1 25\ntls-policy a.example strict\n",
	    NAME ":2: tls-policy: 'strict' is not none, may, encrypt, verify "
	    "or secure");
	expect_error("listen 127.0.0.1 25\ntls-policy a.example may\n"
	    "tls-policy A.example none\n",
	    NAME ":3: tls-policy: duplicate domain 'A.example'");
	expect_error("listen 127.0.0.1 25\ntls-policy -bad- may\n",
	    NAME ":2: tls-policy: bad domain '-bad-'");
	expect_error("listen 127.0.0.1 25\ntls-policy a.example verify "
	    "mx.a.example\n",
	    NAME ":2: tls-policy: names after the level are for secure only");
	expect_error("listen 127.0.0.1 25\ntls-policy a.example secure "
	    "a.example -x-\n", NAME ":2: tls-policy: bad name '-x-'");
	expect_error("listen 127.0.0.1 25\nsmtp-reuse-max 0\n",
	    NAME ":2: smtp-reuse-max: '0' is not a number from 1 to 100000");
	expect_error("listen 127.0.0.1 25\nsmtp-port 0\n",
	    NAME ":2: smtp-port: '0' is not a port from 1 to 65535");
}

static void
test_client_settings(void **state)
{
	struct config	cfg;
	char		err[1024];

	(void)state;
	if (parse(&cfg, "listen 127.0.0.1 25\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.smtp_family, CONFIG_FAMILY_IPV6_FIRST);
	assert_int_equal(cfg.smtp_max_mx_hosts, 10);
	assert_true(cfg.smtp_timeout_connect == 30 &&
	    cfg.smtp_timeout_greeting == 300 &&
	    cfg.smtp_timeout_command == 300 && cfg.smtp_timeout_data == 180 &&
	    cfg.smtp_timeout_final == 600);
	assert_null(cfg.smtp_helo_name);
	assert_null(cfg.smtp_bind_address);
	assert_null(cfg.smtp_bind_address6);
	config_free(&cfg);
	if (parse(&cfg, "listen 127.0.0.1 25\nsmtp-address-family ipv4-only\n"
	    "smtp-max-mx-hosts 2\nsmtp-timeout-final 1m\n"
	    "smtp-helo-name out.example\nsmtp-bind-address 192.0.2.1\n"
	    "smtp-bind-address6 2001:db8::1\n", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.smtp_family, CONFIG_FAMILY_IPV4_ONLY);
	assert_int_equal(cfg.smtp_max_mx_hosts, 2);
	assert_true(cfg.smtp_timeout_final == 60);
	assert_string_equal(cfg.smtp_helo_name, "out.example");
	assert_string_equal(cfg.smtp_bind_address, "192.0.2.1");
	assert_string_equal(cfg.smtp_bind_address6, "2001:db8::1");
	config_free(&cfg);
	expect_error("listen 127.0.0.1 25\nsmtp-address-family v6\n",
	    NAME ":2: smtp-address-family: 'v6' is not ipv6-first, ipv4-first, "
	    "ipv4-only, ipv6-only or any");
	expect_error("listen 127.0.0.1 25\nsmtp-bind-address 2001:db8::1\n",
	    NAME ":2: smtp-bind-address: '2001:db8::1' is not an IPv4 address");
	expect_error("listen 127.0.0.1 25\nsmtp-bind-address6 192.0.2.1\n",
	    NAME ":2: smtp-bind-address6: '192.0.2.1' is not an IPv6 address");
	expect_error("listen 127.0.0.1 25\nsmtp-helo-name -x-\n",
	    NAME ":2: smtp-helo-name: bad domain '-x-'");
	expect_error("listen 127.0.0.1 25\nsmtp-max-mx-hosts 0\n",
	    NAME ":2: smtp-max-mx-hosts: '0' is not a number from 1 to 100");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_delivery_settings),
		cmocka_unit_test(test_client_settings),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hostname_set),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_default_text),
		cmocka_unit_test(test_netmask_parse),
		cmocka_unit_test(test_netmask_match),
		cmocka_unit_test(test_may_relay),
		cmocka_unit_test(test_same_client),
		cmocka_unit_test(test_local_domain),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_relay_checks),
		cmocka_unit_test(test_listen_overlap),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_restart_needed),
		cmocka_unit_test(test_reload_take_and_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
