/*
 * fuzz_config.c - libFuzzer target for the strictmail.conf parser
 * (common/config.h, config_parse).  The file is the operator's, read as
 * root before anything else: a typo must give "file:line: what", never a
 * crash, a fatal() or a half-checked configuration.
 *
 * The input is the file's text.  Beyond the sanitizers it checks what
 * config.h and strictmail.conf(5) promise: an error names the file; a
 * configuration that parses has at least one listener, no two listeners
 * on one address and port, numeric addresses and ports from 1, a TLS
 * listener only with a certificate and a key, both or neither of those,
 * absolute paths, lower-case valid local domains, relay networks with
 * prefixes in range, and every limit inside its documented range.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME	"fuzz.conf"

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s (%s)\n", what, detail);
	abort();
}

static void
fuzz_check_listeners(const struct config *cfg)
{
	unsigned char	bin[16];
	size_t		i, j;

	if (cfg->nlisteners == 0)
		fuzz_fail("a configuration without listeners", "");
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener *l = &cfg->listeners[i];
		int family = strchr(l->addr, ':') ? AF_INET6 : AF_INET;

		if (inet_pton(family, l->addr, bin) != 1)
			fuzz_fail("a listener address that is not numeric",
			    l->addr);
		if (l->port == 0)
			fuzz_fail("a listener on port 0", l->addr);
		if (l->kind != LISTEN_SMTP && l->kind != LISTEN_SUBMISSION &&
		    l->kind != LISTEN_TLS)
			fuzz_fail("a listener of no kind", l->addr);
		if (l->kind == LISTEN_TLS &&
		    (cfg->tls_cert == NULL || cfg->tls_key == NULL))
			fuzz_fail("a TLS listener without certificate or key",
			    l->addr);
		for (j = 0; j < i; j++)
			if (cfg->listeners[j].port == l->port &&
			    strcmp(cfg->listeners[j].addr, l->addr) == 0)
				fuzz_fail("two listeners on one address and "
				    "port", l->addr);
	}
}

static void
fuzz_check_path(const char *what, const char *path)
{
	if (path == NULL || path[0] != '/')
		fuzz_fail("a path that is not absolute", what);
}

static void
fuzz_check_names(const struct config *cfg)
{
	size_t	i;
	char	*p;

	if (cfg->nlocal_domains == 0 || cfg->nrelay_nets == 0)
		fuzz_fail("no local domain or no relay network after parsing",
		    "");
	for (i = 0; i < cfg->nlocal_domains; i++) {
		if (!config_domain_ok(cfg->local_domains[i]))
			fuzz_fail("a bad local domain", cfg->local_domains[i]);
		for (p = cfg->local_domains[i]; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				fuzz_fail("a local domain not in lower case",
				    cfg->local_domains[i]);
	}
	for (i = 0; i < cfg->nrelay_nets; i++) {
		const struct netmask *nm = &cfg->relay_nets[i];

		if ((nm->family == AF_INET && nm->prefix > 32) ||
		    (nm->family == AF_INET6 && nm->prefix > 128) ||
		    (nm->family != AF_INET && nm->family != AF_INET6))
			fuzz_fail("a relay network out of range", "");
	}
	if (cfg->user_smtpd == NULL || cfg->user_queue == NULL ||
	    cfg->user_lookup == NULL || cfg->user_smtpd[0] == '\0' ||
	    cfg->user_queue[0] == '\0' || cfg->user_lookup[0] == '\0')
		fuzz_fail("an empty user name", "");
	if (cfg->hostname[0] == '\0')
		fuzz_fail("an empty host name", "");
}

static void
fuzz_check_limits(const struct config *cfg)
{
	if (cfg->max_message_size < 1 || cfg->max_recipients < 1 ||
	    cfg->max_recipients > 100000 || cfg->max_sessions < 1 ||
	    cfg->max_sessions > 100000 || cfg->max_sessions_per_ip < 1 ||
	    cfg->max_sessions_per_ip > 100000 || cfg->max_errors < 1 ||
	    cfg->max_errors > 1000 || cfg->max_received_headers < 1 ||
	    cfg->max_received_headers > 10000 || cfg->max_line_length < 998 ||
	    cfg->max_command_line < 512 ||
	    cfg->max_command_line > SMTP_COMMAND_LINE_MAX ||
	    cfg->timeout_command < 1 || cfg->timeout_data < 1 ||
	    cfg->shutdown_timeout < 1 || cfg->queue_lifetime < 1)
		fuzz_fail("a limit outside its range", "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	cfg;
	char		err[1024];

	config_init(&cfg);
	err[0] = '\0';
	if (config_parse(&cfg, FUZZ_NAME, (const char *)data, size, err,
	    sizeof(err)) == -1) {
		if (strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME) + 1) != 0)
			fuzz_fail("an error that does not name the file", err);
		config_free(&cfg);
		return 0;
	}
	fuzz_check_listeners(&cfg);
	if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL))
		fuzz_fail("a certificate without a key, or a key without one",
		    "");
	if (cfg.tls_cert != NULL) {
		fuzz_check_path("tls-certificate", cfg.tls_cert);
		fuzz_check_path("tls-key", cfg.tls_key);
	}
	fuzz_check_path("spool", cfg.spool);
	fuzz_check_path("empty-dir", cfg.empty_dir);
	fuzz_check_names(&cfg);
	fuzz_check_limits(&cfg);
	config_free(&cfg);
	return 0;
}
