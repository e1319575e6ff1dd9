/*
 * test_relay.c - unit tests of the relay host's settings and helpers:
 * relay-host, relay-auth-file, origin and masquerade-sender in
 * strictmail.conf (with their errors and the reload payload), the
 * credentials file (owner, mode, format), qualification of bare local
 * senders with origin, and masquerading.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "delivery/mxwalk.h"
#include "delivery/relay.h"

#define BASE	"listen 127.0.0.1 25\nhostname mail.example.org\n"

/* Parses BASE + text; returns the parse result, err filled. */
static int
parse(struct config *cfg, const char *text, char *err, size_t errlen)
{
	struct buf	b;
	int		rc;

	buf_init(&b);
	buf_printf(&b, "%s%s", BASE, text);
	config_init(cfg);
	err[0] = '\0';
	rc = config_parse(cfg, "t.conf", b.data, b.len, err, errlen);
	buf_free(&b);
	return rc;
}

static void
test_config_relay_host(void **state)
{
	struct config	cfg;
	char		err[512];

	(void)state;
	assert_int_equal(parse(&cfg, "", err, sizeof(err)), 0);
	assert_null(cfg.relay_host);
	assert_string_equal(config_origin(&cfg), "mail.example.org");
	config_free(&cfg);

	assert_int_equal(parse(&cfg, "relay-host [Smtp.Provider.example]:587\n"
	    "relay-auth-file /etc/strictmail/relay-auth\norigin example.org\n"
	    "masquerade-sender example.org\n", err, sizeof(err)), 0);
	assert_string_equal(cfg.relay_host, "smtp.provider.example");
	assert_int_equal(cfg.relay_port, 587);
	assert_string_equal(cfg.relay_auth_file, "/etc/strictmail/relay-auth");
	assert_string_equal(config_origin(&cfg), "example.org");
	assert_string_equal(cfg.masquerade_sender, "example.org");
	config_free(&cfg);

	assert_int_equal(parse(&cfg, "relay-host [192.0.2.7]:465\n", err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.relay_host, "192.0.2.7");
	assert_int_equal(cfg.relay_port, CONFIG_RELAY_PORT_TLS);
	config_free(&cfg);
	assert_int_equal(parse(&cfg, "relay-host [2001:db8::1]:25\n", err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.relay_host, "2001:db8::1");
	config_free(&cfg);
}

static void
test_config_relay_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} bad[] = {
		{ "relay-host smtp.example:587\n", "t.conf:3: relay-host: "
		    "write '[smtp.example:587]' with brackets: looking up the "
		    "relay host's MX records is not supported" },
		{ "relay-host [smtp.example]\n", "t.conf:3: relay-host: "
		    "'[smtp.example]' needs a port from 1 to 65535 "
		    "([host]:587, or [host]:465 for implicit TLS)" },
		{ "relay-host [smtp.example]:0\n", "needs a port" },
		{ "relay-host [smtp.example]:70000\n", "needs a port" },
		{ "relay-host [smtp.example:587\n", "is not [host]:port" },
		{ "relay-host []:587\n", "is not [host]:port" },
		{ "relay-host [bad_name]:587\n", "t.conf:3: relay-host: bad "
		    "host 'bad_name'" },
		{ "relay-auth-file relay-auth\n", "not an absolute path" },
		{ "relay-auth-file /etc/relay-auth\n", "t.conf:3: "
		    "relay-auth-file without relay-host" },
		{ "\nmasquerade-sender example.org\n", "t.conf:4: "
		    "masquerade-sender without relay-host" },
		{ "origin bad..domain\n", "t.conf:3: origin: bad domain" },
		{ "relay-host [a.example]:587\nmasquerade-sender x_y\n",
		    "t.conf:4: masquerade-sender: bad domain 'x_y'" },
		{ "relay-host [a.example]:587\nrelay-host [b.example]:587\n",
		    "t.conf:4: duplicate 'relay-host'" },
	};
	struct config	cfg;
	char		err[512];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, bad[i].text, err, sizeof(err)),
		    -1);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("%s: wanted '%s', got '%s'", bad[i].text,
			    bad[i].err, err);
		config_free(&cfg);
	}
}

/* relay-host, origin and masquerade-sender reload; relay-auth-file
 * needs a restart. */
static void
restart_cb(const char *setting, void *arg)
{
	struct buf	*b = arg;

	buf_printf(b, "%s;", setting);
}

static void
test_config_relay_reload(void **state)
{
	struct config	run, next;
	struct buf	names;
	char		err[512];

	(void)state;
	assert_int_equal(parse(&run, "relay-host [a.example]:587\n"
	    "relay-auth-file /etc/a\n", err, sizeof(err)), 0);
	assert_int_equal(parse(&next, "relay-host [b.example]:465\n"
	    "relay-auth-file /etc/b\norigin example.net\n"
	    "masquerade-sender example.com\n", err, sizeof(err)), 0);
	buf_init(&names);
	assert_int_equal(config_restart_needed(&run, &next, restart_cb,
	    &names), 1);
	assert_string_equal(names.data, "relay-auth-file;");
	config_reload_take(&run, &next);
	assert_string_equal(run.relay_host, "b.example");
	assert_int_equal(run.relay_port, 465);
	assert_string_equal(run.origin, "example.net");
	assert_string_equal(run.masquerade_sender, "example.com");
	assert_string_equal(run.relay_auth_file, "/etc/a");
	buf_free(&names);
	config_free(&run);
	config_free(&next);
}

/* MSG_P_SETTINGS carries them to the running processes; "" clears. */
static void
settings_through(const struct config *from, struct config *into)
{
	struct buf	payload, wire;
	struct ipc_msg	m;
	size_t		used;

	buf_init(&payload);
	buf_init(&wire);
	config_settings_put(&payload, from);
	ipc_encode(&wire, MSG_P_SETTINGS, 0, 0, payload.data, payload.len);
	assert_int_equal(ipc_decode((const uint8_t *)wire.data, wire.len, &m,
	    &used), IPC_OK);
	assert_int_equal(config_settings_get(&m, into), 0);
	buf_free(&payload);
	buf_free(&wire);
}

static void
test_config_relay_settings(void **state)
{
	struct config	a, b, copy;
	char		err[512];

	(void)state;
	assert_int_equal(parse(&a, "relay-host [r.example]:465\n"
	    "origin example.net\nmasquerade-sender example.com\n", err,
	    sizeof(err)), 0);
	assert_int_equal(parse(&b, "", err, sizeof(err)), 0);
	config_copy(&copy, &b);
	settings_through(&a, &copy);
	assert_string_equal(copy.relay_host, "r.example");
	assert_int_equal(copy.relay_port, 465);
	assert_string_equal(copy.origin, "example.net");
	assert_string_equal(copy.masquerade_sender, "example.com");
	/* And back to none. */
	settings_through(&b, &copy);
	assert_null(copy.relay_host);
	assert_null(copy.origin);
	assert_null(copy.masquerade_sender);
	config_free(&copy);
	config_free(&a);
	config_free(&b);
}

/* ---- the credentials file ---- */

static char	tmpdir[] = "/tmp/test_relay.XXXXXX";

static const char *
auth_file(const char *text, mode_t mode)
{
	static char	path[256];
	int		fd;

	(void)bsnprintf(path, sizeof(path), "%s/auth", tmpdir);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
test_auth_file(void **state)
{
	struct relay_auth	a;
	char			err[512];
	const char		*p;

	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	p = auth_file("# the relay's account\n\n  relayuser\tpass word x \r\n",
	    0600);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), 0);
	assert_string_equal(a.user, "relayuser");
	assert_string_equal(a.pass, "pass word x");
	relay_auth_free(&a);
	assert_null(a.user);
	p = auth_file("u p", 0400);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), 0);
	relay_auth_free(&a);

	/* Open to group or others: refused, naming the file. */
	p = auth_file("u p\n", 0640);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "mode 0640: group and others must have "
	    "no access"));
	assert_null(a.user);
	p = auth_file("u p\n", 0604);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	/* Not owned by us (root when the tests run as root). */
	if (geteuid() == 0) {
		p = auth_file("u p\n", 0600);
		assert_int_equal(chown(p, 1, 1), 0);
		assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "owned by uid 1, must be owned "
		    "by root"));
	}
	/* Format. */
	p = auth_file("# nothing\n", 0600);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no \"USER PASSWORD\" line"));
	p = auth_file("justuser\n", 0600);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: want \"USER PASSWORD\""));
	p = auth_file("u p\nv Zq9-secret\n", 0600);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: more than one credentials line"));
	/* The password never shows in a message. */
	assert_null(strstr(err, "Zq9-secret"));
	(void)unlink(p);
	assert_int_equal(relay_auth_load(p, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	/* A symbolic link is refused. */
	{
		char	link[300];

		p = auth_file("u p\n", 0600);
		(void)bsnprintf(link, sizeof(link), "%s/link", tmpdir);
		assert_int_equal(symlink(p, link), 0);
		assert_int_equal(relay_auth_load(link, &a, err, sizeof(err)),
		    -1);
		(void)unlink(link);
		(void)unlink(p);
	}
	(void)rmdir(tmpdir);
}

/* ---- the sender ---- */

static void
check_str(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void
test_qualify(void **state)
{
	(void)state;
	check_str(relay_qualify("root", "example.org"), "root@example.org");
	check_str(relay_qualify("alice@host.example", "example.org"),
	    "alice@host.example");
	check_str(relay_qualify("", "example.org"), "");
}

static void
test_masquerade(void **state)
{
	struct config	cfg;
	char		err[512];

	(void)state;
	assert_int_equal(parse(&cfg, "relay-host [r.example]:587\n"
	    "local-domain lists.example.org\norigin origin.example\n"
	    "masquerade-sender example.org\n", err, sizeof(err)), 0);
	/* The hostname, a local domain, the origin: masqueraded. */
	check_str(relay_masquerade("alice@mail.example.org", &cfg),
	    "alice@example.org");
	check_str(relay_masquerade("bob@LISTS.example.org", &cfg),
	    "bob@example.org");
	check_str(relay_masquerade("root@origin.example", &cfg),
	    "root@example.org");
	/* Another domain and the null sender stay. */
	check_str(relay_masquerade("carol@other.example", &cfg),
	    "carol@other.example");
	check_str(relay_masquerade("", &cfg), "");
	free(cfg.masquerade_sender);
	cfg.masquerade_sender = NULL;
	check_str(relay_masquerade("alice@mail.example.org", &cfg),
	    "alice@mail.example.org");
	config_free(&cfg);
}

static void
test_target(void **state)
{
	struct dns_addr		a;
	struct mxwalk_hosts	h;

	(void)state;
	assert_int_equal(relay_literal("192.0.2.7", &a), 1);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(relay_literal("2001:db8::1", &a), 1);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(relay_literal("smtp.example", &a), 0);
	relay_hosts("Smtp.Example", &h);
	assert_int_equal(h.verdict, MXWALK_GO);
	assert_int_equal(h.nhosts, 1);
	assert_string_equal(h.hosts[0].name, "smtp.example");
	mxwalk_hosts_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_relay_host),
		cmocka_unit_test(test_config_relay_errors),
		cmocka_unit_test(test_config_relay_reload),
		cmocka_unit_test(test_config_relay_settings),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_qualify),
		cmocka_unit_test(test_masquerade),
		cmocka_unit_test(test_target),
	};

	log_init("test_relay", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
