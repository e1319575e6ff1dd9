/*
 * strictmailctl.c - strictmailctl(8): asks a running strictmaild, over its
 * control socket, for the queue (also as "mailq"), one message's facts, a
 * flush of the queue, a reload of the configuration, or a pause or resume
 * of delivery.  The protocol is
 * ctl_proto.h; the --json output is made here from the same lines.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "ctl/ctl_passwd.h"
#include "ctl/ctl_proto.h"
#include "ctl/ctl_sendmail.h"
#include "lookup/creds.h"
#include "lookup/map.h"

#define CTL_DEFAULT_CONF	"/etc/strictmail/strictmail.conf"
#define CTL_TIMEOUT_S		200	/* sts check may wait for a fetch */
#define CTL_REPLY_MAX		(64 * 1024 * 1024)
#define CTL_DEFAULT_ALIASES	"/etc/aliases"

struct ctl_rcpt {
	char	*addr;
	char	*state;
	char	*error;
};

struct ctl_message {
	char		*id;
	char		*sender;
	uint64_t	 size;
	uint64_t	 arrival;
	struct ctl_rcpt	*rcpts;
	size_t		 nrcpt;
	char		**facts;	/* key, value, key, value ... */
	size_t		 nfacts;	/* pairs */
};

struct ctl_result {
	struct ctl_message	*msgs;
	size_t			 nmsgs;
	uint64_t		 flushed;
	char			**texts;	/* sts-*: the lines */
	size_t			 ntexts;
	char			**stats;	/* status: key, value, ... */
	size_t			 nstats;	/* pairs */
	char			*error;		/* NULL after "ok" */
};

static void ctl_usage(void) SM_NORETURN;

static void
ctl_usage(void)
{
	fprintf(stderr,
	    "usage: strictmailctl [-f file | -s socket] command\n"
	    "commands:\n"
	    "  queue [--json]           the queued messages (as mailq)\n"
	    "  queue show ID [--json]   one message's envelope\n"
	    "  queue hold ID            keep the message, never deliver it "
	    "until released\n"
	    "  queue release ID         deliver a held message now\n"
	    "  queue delete ID          remove the message, unsent, no "
	    "bounce\n"
	    "                           (hold, release, delete: root or "
	    "admin-group)\n"
	    "  status [--json]          processes, uptime, sessions, "
	    "counters\n"
	    "  pause delivery           hand no message to delivery, remote "
	    "nor local,\n"
	    "                           until resumed (kept over a restart)\n"
	    "  resume delivery          deliver again: every due message "
	    "goes now\n"
	    "                           (pause, resume: root or admin-group)\n"
	    "  flush                    retry every deferred recipient now\n"
	    "  reload                   read the configuration again\n"
	    "  sts list                 the MTA-STS policy cache\n"
	    "  sts show DOMAIN          one domain's cached policy and state\n"
	    "  sts refresh DOMAIN       fetch the domain's policy now\n"
	    "  sts flush [DOMAIN]       remove one domain, or all, from the "
	    "cache\n"
	    "  sts check DOMAIN         fetch and check live, step by step\n"
	    "  newaliases [-f aliases]  compile the aliases into aliases.db "
	    "(also as newaliases)\n"
	    "  makemap [-t virtual|credentials|senders] FILE\n"
	    "                           compile a virtual map (default), "
	    "the\n"
	    "                           credentials or a sender-login-map "
	    "into FILE.db\n"
	    "  sendmail [ARGS]          sendmail(8): the message on stdin "
	    "(also as\n"
	    "                           sendmail; -C FILE for the "
	    "configuration)\n"
	    "  passwd USER [-f FILE]    set USER's submission password "
	    "(FILE:\n"
	    "                           " CTL_PASSWD_DEFAULT ") and compile "
	    "FILE.db\n");
	exit(EX_USAGE);
}

/* ---- the socket ---- */

/* The socket path: -s, else control-socket of the configuration. */
static char *
ctl_socket_path(const char *sock, const char *conf)
{
	struct config	 cfg;
	char		 err[1024], *path;

	if (sock != NULL)
		return xstrdup(sock);
	if (conf == NULL && access(CTL_DEFAULT_CONF, R_OK) == -1)
		return xstrdup(CONFIG_CONTROL_SOCKET);
	config_init(&cfg);
	if (config_load(&cfg, conf != NULL ? conf : CTL_DEFAULT_CONF, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "strictmailctl: %s\n", err);
		exit(EX_CONFIG);
	}
	path = xstrdup(cfg.control_socket);
	config_free(&cfg);
	return path;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	sun;
	struct timeval		tv = { CTL_TIMEOUT_S, 0 };
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "strictmailctl: %s: path too long\n", path);
		exit(EX_USAGE);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "strictmailctl: socket: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "strictmailctl: strictmaild is not "
			    "running (no control socket at %s)\n", path);
		else
			fprintf(stderr, "strictmailctl: cannot connect to %s: "
			    "%s\n", path, strerror(errno));
		exit(EX_UNAVAILABLE);
	}
	return fd;
}

/* Sends the request, reads the whole answer (until the server closes). */
static void
ctl_exchange(int fd, enum ctl_cmd cmd, const char *arg, struct buf *in)
{
	struct buf	req;
	char		chunk[8192];
	ssize_t		n;

	buf_init(&req);
	ctl_proto_put_request(&req, cmd, arg);
	if (write_all(fd, req.data, req.len) == -1) {
		fprintf(stderr, "strictmailctl: sending the request: %s\n",
		    strerror(errno));
		exit(EX_IOERR);
	}
	buf_free(&req);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "strictmailctl: reading the answer: "
			    "%s\n", errno == EAGAIN ? "timeout" :
			    strerror(errno));
			exit(EX_IOERR);
		}
		if (n == 0)
			break;
		if (in->len + (size_t)n > CTL_REPLY_MAX) {
			fprintf(stderr, "strictmailctl: answer too large\n");
			exit(EX_PROTOCOL);
		}
		buf_add(in, chunk, (size_t)n);
	}
	buf_addch(in, '\0');
}

/* ---- the answer ---- */

static void
ctl_bad_answer(const char *line)
{
	fprintf(stderr, "strictmailctl: unexpected answer line: %.200s\n",
	    line);
	exit(EX_PROTOCOL);
}

static void
ctl_take(struct ctl_result *res, struct ctl_reply *r, const char *line)
{
	struct ctl_message	*m = res->nmsgs ? &res->msgs[res->nmsgs - 1] :
				    NULL;

	switch (r->type) {
	case CTL_R_MESSAGE:
		res->msgs = xreallocarray(res->msgs, res->nmsgs + 1,
		    sizeof(*res->msgs));
		m = &res->msgs[res->nmsgs++];
		memset(m, 0, sizeof(*m));
		m->id = xstrdup(r->f[0]);
		m->size = r->num;
		m->arrival = r->arrival;
		m->sender = xstrdup(r->f[3]);
		break;
	case CTL_R_RCPT:
		if (m == NULL)
			ctl_bad_answer(line);
		m->rcpts = xreallocarray(m->rcpts, m->nrcpt + 1,
		    sizeof(*m->rcpts));
		m->rcpts[m->nrcpt].addr = xstrdup(r->f[0]);
		m->rcpts[m->nrcpt].state = xstrdup(r->f[1]);
		m->rcpts[m->nrcpt++].error = xstrdup(r->f[2]);
		break;
	case CTL_R_FACT:
		if (m == NULL)
			ctl_bad_answer(line);
		m->facts = xreallocarray(m->facts, 2 * (m->nfacts + 1),
		    sizeof(*m->facts));
		m->facts[2 * m->nfacts] = xstrdup(r->f[0]);
		m->facts[2 * m->nfacts++ + 1] = xstrdup(r->f[1]);
		break;
	case CTL_R_FLUSHED:
		res->flushed = r->num;
		break;
	case CTL_R_TEXT:
		res->texts = xreallocarray(res->texts, res->ntexts + 1,
		    sizeof(*res->texts));
		res->texts[res->ntexts++] = xstrdup(r->f[0]);
		break;
	case CTL_R_STAT:
		res->stats = xreallocarray(res->stats, 2 * (res->nstats + 1),
		    sizeof(*res->stats));
		res->stats[2 * res->nstats] = xstrdup(r->f[0]);
		res->stats[2 * res->nstats++ + 1] = xstrdup(r->f[1]);
		break;
	case CTL_R_OK:
	case CTL_R_ERROR:
		break;
	}
}

/* Parses every line; the last one must be "ok" or "error ...". */
static void
ctl_parse(char *text, struct ctl_result *res)
{
	struct ctl_reply	 r;
	char			*line, *nl;
	int			 ended = 0;

	memset(res, 0, sizeof(*res));
	for (line = text; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL || ended)
			ctl_bad_answer(line);
		*nl = '\0';
		if (ctl_proto_parse_reply(line, &r) == -1)
			ctl_bad_answer(line);
		ctl_take(res, &r, line);
		if (r.type == CTL_R_ERROR)
			res->error = xstrdup(r.f[0]);
		ended = r.type == CTL_R_OK || r.type == CTL_R_ERROR;
	}
	if (!ended) {
		fprintf(stderr, "strictmailctl: the answer ended early\n");
		exit(EX_PROTOCOL);
	}
}

/* ---- output ---- */

/* 1 if s is valid UTF-8. */
static int
ctl_utf8_ok(const unsigned char *s)
{
	int	n;

	for (; *s != '\0'; s++) {
		if (*s < 0x80)
			continue;
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1;
		else if (*s >= 0xe0 && *s <= 0xef)
			n = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3;
		else
			return 0;
		while (n-- > 0)
			if ((*++s & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* A JSON string; bytes of text that is not UTF-8 are taken as Latin-1. */
static void
ctl_json_str(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	int			 utf8 = ctl_utf8_ok(p);

	putchar('"');
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8))
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
ctl_json_message(const struct ctl_message *m, int facts)
{
	size_t	i;

	printf("{\"id\": ");
	ctl_json_str(m->id);
	printf(", \"size\": %llu, \"arrival\": %llu, \"sender\": ",
	    (unsigned long long)m->size, (unsigned long long)m->arrival);
	ctl_json_str(m->sender);
	printf(", \"recipients\": [");
	for (i = 0; i < m->nrcpt; i++) {
		printf("%s{\"address\": ", i ? ", " : "");
		ctl_json_str(m->rcpts[i].addr);
		printf(", \"state\": ");
		ctl_json_str(m->rcpts[i].state);
		printf(", \"error\": ");
		ctl_json_str(m->rcpts[i].error);
		putchar('}');
	}
	putchar(']');
	if (facts) {
		printf(", \"facts\": {");
		for (i = 0; i < m->nfacts; i++) {
			printf("%s", i ? ", " : "");
			ctl_json_str(m->facts[2 * i]);
			printf(": ");
			ctl_json_str(m->facts[2 * i + 1]);
		}
		putchar('}');
	}
	putchar('}');
}

static void
ctl_time(uint64_t t, char *out, size_t outlen)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%a %b %e %H:%M:%S", &tm) == 0)
		(void)bsnprintf(out, outlen, "%llu", (unsigned long long)t);
}

static int
ctl_cmp(const void *a, const void *b)
{
	const struct ctl_message	*x = a, *y = b;

	if (x->arrival != y->arrival)
		return x->arrival < y->arrival ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* 1 if a recipient of m is held. */
static int
ctl_held(const struct ctl_message *m)
{
	size_t	j;

	for (j = 0; j < m->nrcpt; j++)
		if (strcmp(m->rcpts[j].state, "held") == 0)
			return 1;
	return 0;
}

/* The value of a stat line of the answer, or NULL. */
static const char *
ctl_stat(const struct ctl_result *res, const char *key)
{
	size_t	i;

	for (i = 0; i < res->nstats; i++)
		if (strcmp(res->stats[2 * i], key) == 0)
			return res->stats[2 * i + 1];
	return NULL;
}

/* Postfix's mailq layout: pending recipients, each under its error; a
 * held message's ID ends in '!'.  A first line says when delivery is
 * paused. */
static void
ctl_print_queue(const struct ctl_result *res)
{
	const struct ctl_message	*m;
	const char			*dlv = ctl_stat(res, "delivery");
	uint64_t			 bytes = 0;
	size_t				 i, j;
	char				 when[64], id[300];

	if (dlv != NULL && strcmp(dlv, "paused") == 0)
		printf("Mail delivery is paused (strictmailctl resume "
		    "delivery)\n");
	if (res->nmsgs == 0) {
		printf("Mail queue is empty\n");
		return;
	}
	printf("%-16s %8s %-20s %s\n", "-Queue ID-", "--Size--",
	    "----Arrival Time----", "-Sender/Recipient-------");
	for (i = 0; i < res->nmsgs; i++) {
		m = &res->msgs[i];
		bytes += m->size;
		ctl_time(m->arrival, when, sizeof(when));
		(void)bsnprintf(id, sizeof(id), "%s%s", m->id, ctl_held(m) ?
		    "!" : "");
		printf("%-16s %8llu %-20s %s\n", id,
		    (unsigned long long)m->size, when,
		    m->sender[0] != '\0' ? m->sender : "MAILER-DAEMON");
		for (j = 0; j < m->nrcpt; j++) {
			if (strcmp(m->rcpts[j].state, "pending") != 0 &&
			    strcmp(m->rcpts[j].state, "held") != 0)
				continue;
			if (m->rcpts[j].error[0] != '\0')
				printf("%47s(%s)\n", "", m->rcpts[j].error);
			printf("%47s%s\n", "", m->rcpts[j].addr);
		}
		putchar('\n');
	}
	printf("-- %llu Kbytes in %zu Request%s.\n",
	    (unsigned long long)(bytes + 1023) / 1024, res->nmsgs,
	    res->nmsgs == 1 ? "" : "s");
}

static void
ctl_print_show(const struct ctl_message *m)
{
	char	when[64];
	size_t	i;

	ctl_time(m->arrival, when, sizeof(when));
	printf("id: %s\nsize: %llu\narrival: %llu (%s)\nsender: <%s>\n",
	    m->id, (unsigned long long)m->size,
	    (unsigned long long)m->arrival, when, m->sender);
	for (i = 0; i < m->nfacts; i++)
		printf("%s: %s\n", m->facts[2 * i], m->facts[2 * i + 1]);
	for (i = 0; i < m->nrcpt; i++) {
		printf("recipient: <%s> %s", m->rcpts[i].addr,
		    m->rcpts[i].state);
		if (m->rcpts[i].error[0] != '\0')
			printf(" (%s)", m->rcpts[i].error);
		putchar('\n');
	}
}

/* status, as text: "process.NAME" keys are the processes, the others
 * are numbers. */
static void
ctl_print_status(const struct ctl_result *res)
{
	const char	*k, *v;
	size_t		 i;

	printf("processes:\n");
	for (i = 0; i < res->nstats; i++) {
		k = res->stats[2 * i];
		v = res->stats[2 * i + 1];
		if (strncmp(k, "process.", 8) == 0)
			printf("  %-12s pid %s\n", k + 8,
			    strcmp(v, "-1") == 0 ? "- (not running)" : v);
	}
	for (i = 0; i < res->nstats; i++) {
		k = res->stats[2 * i];
		v = res->stats[2 * i + 1];
		if (strncmp(k, "process.", 8) != 0)
			printf("%s: %s%s\n", k, v, strcmp(k, "uptime") == 0 ?
			    " s" : "");
	}
}

/* 1 if s is a decimal number that JSON takes as it is. */
static int
ctl_json_number_ok(const char *s)
{
	size_t	i;

	if (s[0] == '-')
		s++;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return i > 0 && i < 20 && (s[0] != '0' || i == 1);
}

static void
ctl_json_value(const char *v)
{
	if (ctl_json_number_ok(v))
		printf("%s", v);
	else
		ctl_json_str(v);
}

/* {"processes": [{"name": N, "pid": P}, ...], "uptime": S, ...}; a pid
 * of -1 is a process that is not running. */
static void
ctl_json_status(const struct ctl_result *res)
{
	const char	*k;
	size_t		 i;
	int		 n = 0;

	printf("{\"processes\": [");
	for (i = 0; i < res->nstats; i++) {
		k = res->stats[2 * i];
		if (strncmp(k, "process.", 8) != 0)
			continue;
		printf("%s{\"name\": ", n++ ? ", " : "");
		ctl_json_str(k + 8);
		printf(", \"pid\": ");
		ctl_json_value(res->stats[2 * i + 1]);
		putchar('}');
	}
	putchar(']');
	for (i = 0; i < res->nstats; i++) {
		k = res->stats[2 * i];
		if (strncmp(k, "process.", 8) == 0 ||
		    strcmp(k, "processes") == 0)
			continue;
		printf(", ");
		ctl_json_str(k);
		printf(": ");
		ctl_json_value(res->stats[2 * i + 1]);
	}
	printf("}\n");
}

/* pause, resume: the state now, and whether it was so already. */
static void
ctl_print_pause(enum ctl_cmd cmd, const struct ctl_result *res)
{
	const char	*now = ctl_stat(res, "delivery");
	const char	*was = ctl_stat(res, "was");

	if (now == NULL)
		ctl_bad_answer("(no delivery state)");
	if (was != NULL && strcmp(was, now) == 0)
		printf("delivery: %s (it was %s already)\n", now,
		    cmd == CTL_PAUSE ? "paused" : "running");
	else
		printf("delivery: %s\n", now);
}

static void
ctl_print(enum ctl_cmd cmd, struct ctl_result *res, int json,
    const char *arg)
{
	size_t	i;

	if (res->nmsgs > 1)
		qsort(res->msgs, res->nmsgs, sizeof(*res->msgs), ctl_cmp);
	switch (cmd) {
	case CTL_QUEUE:
		if (!json) {
			ctl_print_queue(res);
			break;
		}
		putchar('[');
		for (i = 0; i < res->nmsgs; i++) {
			printf("%s", i ? ",\n " : "");
			ctl_json_message(&res->msgs[i], 0);
		}
		printf("]\n");
		break;
	case CTL_SHOW:
		if (res->nmsgs != 1)
			ctl_bad_answer("(not one message)");
		if (json) {
			ctl_json_message(&res->msgs[0], 1);
			putchar('\n');
		} else
			ctl_print_show(&res->msgs[0]);
		break;
	case CTL_FLUSH:
		printf("flush: %llu pending recipient%s made due\n",
		    (unsigned long long)res->flushed,
		    res->flushed == 1 ? "" : "s");
		break;
	case CTL_RELOAD:
		printf("reload: done\n");
		break;
	case CTL_DELETE:
		printf("%s: deleted\n", arg);
		break;
	case CTL_HOLD:
		printf("%s: held\n", arg);
		break;
	case CTL_RELEASE:
		printf("%s: released\n", arg);
		break;
	case CTL_PAUSE:
	case CTL_RESUME:
		ctl_print_pause(cmd, res);
		break;
	case CTL_STATUS:
		if (json)
			ctl_json_status(res);
		else
			ctl_print_status(res);
		break;
	case CTL_STS_LIST:
	case CTL_STS_SHOW:
	case CTL_STS_REFRESH:
	case CTL_STS_FLUSH:
	case CTL_STS_CHECK:
		for (i = 0; i < res->ntexts; i++)
			printf("%s\n", res->texts[i]);
		break;
	}
}

static void
ctl_result_free(struct ctl_result *res)
{
	struct ctl_message	*m;
	size_t			 i, j;

	for (i = 0; i < res->nmsgs; i++) {
		m = &res->msgs[i];
		for (j = 0; j < m->nrcpt; j++) {
			free(m->rcpts[j].addr);
			free(m->rcpts[j].state);
			free(m->rcpts[j].error);
		}
		for (j = 0; j < 2 * m->nfacts; j++)
			free(m->facts[j]);
		free(m->rcpts);
		free(m->facts);
		free(m->id);
		free(m->sender);
	}
	free(res->msgs);
	for (i = 0; i < res->ntexts; i++)
		free(res->texts[i]);
	free(res->texts);
	for (i = 0; i < 2 * res->nstats; i++)
		free(res->stats[i]);
	free(res->stats);
	free(res->error);
	memset(res, 0, sizeof(*res));
}

/* ---- arguments ---- */

/* sts list | show D | refresh D | flush [D] | check D */
static enum ctl_cmd
ctl_command_sts(int n, char **w, const char **arg)
{
	static const struct {
		const char	*word;
		enum ctl_cmd	 cmd;
		int		 min, max;	/* domains */
	} t[] = {
		{ "list", CTL_STS_LIST, 0, 0 },
		{ "show", CTL_STS_SHOW, 1, 1 },
		{ "refresh", CTL_STS_REFRESH, 1, 1 },
		{ "flush", CTL_STS_FLUSH, 0, 1 },
		{ "check", CTL_STS_CHECK, 1, 1 },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(w[0], t[i].word) != 0 || n - 1 < t[i].min ||
		    n - 1 > t[i].max)
			continue;
		if (n == 2)
			*arg = w[1];
		return t[i].cmd;
	}
	ctl_usage();
}

/* queue delete|hold|release ID: the command, or 0. */
static enum ctl_cmd
ctl_command_op(const char *word)
{
	if (strcmp(word, "delete") == 0)
		return CTL_DELETE;
	if (strcmp(word, "hold") == 0)
		return CTL_HOLD;
	if (strcmp(word, "release") == 0)
		return CTL_RELEASE;
	return 0;
}

/* The error line of the answer, on stderr: a daemon of another version
 * is named as such. */
static void
ctl_print_error(enum ctl_cmd cmd, const char *arg, const char *error)
{
	char	unknown[128];

	(void)bsnprintf(unknown, sizeof(unknown), "unknown command '%s'",
	    ctl_proto_cmd_name(cmd));
	if (strcmp(error, unknown) == 0)
		fprintf(stderr, "strictmailctl: strictmaild does not know "
		    "'%s' (older version?)\n", ctl_proto_cmd_name(cmd));
	else if (strncmp(error, "unsupported protocol version", 28) == 0)
		fprintf(stderr, "strictmailctl: strictmaild speaks another "
		    "protocol version: strictmailctl speaks %d, strictmaild "
		    "%s\n", CTL_PROTO_VERSION, strncmp(error + 28,
		    ": strictmaild speaks ", 21) == 0 ? error + 49 :
		    "an older one");
	else
		fprintf(stderr, "strictmailctl: %s%s%s\n",
		    cmd == CTL_SHOW ? arg : "", cmd == CTL_SHOW ? ": " : "",
		    error);
}

/* The command and its argument from the words after the options. */
static enum ctl_cmd
ctl_command(int ac, char **av, const char **arg, int *json)
{
	enum ctl_cmd	cmd;
	int		i, n = 0;
	char		*w[3];

	for (i = 0; i < ac; i++) {
		if (n < 3)
			w[n++] = av[i];
		else
			ctl_usage();
	}
	if (n == 0)
		ctl_usage();
	if (strcmp(w[0], "queue") == 0 && n == 1)
		cmd = CTL_QUEUE;
	else if (strcmp(w[0], "queue") == 0 && n == 3 &&
	    strcmp(w[1], "show") == 0) {
		cmd = CTL_SHOW;
		*arg = w[2];
	} else if (strcmp(w[0], "queue") == 0 && n == 3 && !*json &&
	    (cmd = ctl_command_op(w[1])) != 0)
		*arg = w[2];
	else if (strcmp(w[0], "status") == 0 && n == 1)
		cmd = CTL_STATUS;
	else if ((strcmp(w[0], "pause") == 0 || strcmp(w[0], "resume") == 0)
	    && n == 2 && strcmp(w[1], "delivery") == 0 && !*json) {
		cmd = w[0][0] == 'p' ? CTL_PAUSE : CTL_RESUME;
		*arg = w[1];
	}
	else if (strcmp(w[0], "flush") == 0 && n == 1 && !*json)
		cmd = CTL_FLUSH;
	else if (strcmp(w[0], "reload") == 0 && n == 1 && !*json)
		cmd = CTL_RELOAD;
	else if (strcmp(w[0], "sts") == 0 && n >= 2 && !*json)
		cmd = ctl_command_sts(n - 1, w + 1, arg);
	else
		ctl_usage();
	if (*arg != NULL && strlen(*arg) >= CTL_ARG_MAX) {
		fprintf(stderr, "strictmailctl: %s: %s\n", ctl_proto_is_sts(cmd) ?
		    "not a domain" : "no such message", *arg);
		exit(1);
	}
	return cmd;
}

/* ---- local commands: the maps (they need no running strictmaild) ---- */

/* The aliases source of the configuration (its "aliases" keyword); the
 * default when there is no configuration file. */
static char *
ctl_aliases_path(const char *conf)
{
	struct config	 cfg;
	char		 err[1024], *path;

	if (conf == NULL && access(CTL_DEFAULT_CONF, R_OK) == -1)
		return xstrdup(CTL_DEFAULT_ALIASES);
	config_init(&cfg);
	if (config_load(&cfg, conf != NULL ? conf : CTL_DEFAULT_CONF, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "strictmailctl: %s\n", err);
		exit(EX_CONFIG);
	}
	path = xstrdup(cfg.aliases != NULL ? cfg.aliases :
	    CTL_DEFAULT_ALIASES);
	config_free(&cfg);
	return path;
}

/* Compiles src into src.db: "SRC.db: N entries", or the error, exit 1. */
static int
ctl_compile(const char *me, const char *src, enum aliases_format fmt)
{
	char	err[1024];
	size_t	n;

	if (map_compile(src, fmt, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", me, err);
		return 1;
	}
	printf("%s.db: %zu entr%s\n", src, n, n == 1 ? "y" : "ies");
	return fflush(stdout) != 0 ? EX_IOERR : 0;
}

/* newaliases [-f FILE] (av[0] is "newaliases"). */
static int
ctl_newaliases(int ac, char **av, const char *conf)
{
	char	*src = NULL;
	int	 ch, rc;

	optind = 1;
	while ((ch = getopt(ac, av, "f:")) != -1) {
		if (ch != 'f')
			ctl_usage();
		free(src);
		src = xstrdup(optarg);
	}
	if (optind != ac)
		ctl_usage();
	if (src == NULL)
		src = ctl_aliases_path(conf);
	rc = ctl_compile("newaliases", src, ALIASES_ALIASES);
	free(src);
	return rc;
}

/* Compiles the credentials src into src.db, as ctl_compile. */
static int
ctl_compile_creds(const char *me, const char *src)
{
	char	err[1024];
	size_t	n;

	if (creds_compile(src, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", me, err);
		return 1;
	}
	printf("%s.db: %zu entr%s\n", src, n, n == 1 ? "y" : "ies");
	return fflush(stdout) != 0 ? EX_IOERR : 0;
}

/* makemap [-t virtual|credentials|senders] FILE */
static int
ctl_makemap(int ac, char **av)
{
	const char	*type = "virtual";
	int		 ch;

	optind = 1;
	while ((ch = getopt(ac, av, "t:")) != -1) {
		if (ch != 't')
			ctl_usage();
		type = optarg;
	}
	if (optind != ac - 1)
		ctl_usage();
	if (strcmp(type, "credentials") == 0)
		return ctl_compile_creds("makemap", av[optind]);
	/* sender-login-map: the virtual format, users as the values. */
	if (strcmp(type, "virtual") != 0 && strcmp(type, "senders") != 0)
		ctl_usage();
	return ctl_compile("makemap", av[optind], ALIASES_VIRTUAL);
}

/* The compile step of passwd, with the file's lock held. */
static int
ctl_passwd_compile(const char *path, void *arg, char *err, size_t errlen)
{
	return creds_compile(path, arg, err, errlen);
}

/* passwd USER [-f FILE] */
static int
ctl_passwd(int ac, char **av)
{
	const char	*file = CTL_PASSWD_DEFAULT, *user;
	char		 pw[CREDS_PASSWORD_MAX + 1], err[1024], *hash, *lc;
	size_t		 n;
	int		 ch, added, rc;

	optind = 0;	/* glibc: start afresh, options after USER too */
	while ((ch = getopt(ac, av, "f:")) != -1) {
		if (ch != 'f')
			ctl_usage();
		file = optarg;
	}
	if (optind != ac - 1)
		ctl_usage();
	user = av[optind];
	if (!creds_user_ok(user)) {
		fprintf(stderr, "passwd: %s: not a user name or address\n",
		    user);
		return EX_USAGE;
	}
	if (ctl_passwd_read(STDIN_FILENO, pw, sizeof(pw), err,
	    sizeof(err)) == -1 || creds_hash(pw, &hash, err, sizeof(err)) ==
	    -1) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "passwd: %s\n", err);
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	rc = ctl_passwd_update(file, user, hash, &added, ctl_passwd_compile,
	    &n, err, sizeof(err));
	free(hash);
	if (rc == -1) {
		fprintf(stderr, "passwd: %s\n", err);
		return 1;
	}
	lc = str_lower(xstrdup(user));
	printf("%s: password of %s %s\n%s.db: %zu entr%s\n", file, lc,
	    added ? "added" : "changed", file, n, n == 1 ? "y" : "ies");
	free(lc);
	return fflush(stdout) != 0 ? EX_IOERR : 0;
}

/* The commands that run here; -1 when av is not one of them. */
static int
ctl_local(int ac, char **av, const char *conf)
{
	if (ac >= 1 && strcmp(av[0], "newaliases") == 0)
		return ctl_newaliases(ac, av, conf);
	if (ac >= 1 && strcmp(av[0], "makemap") == 0)
		return ctl_makemap(ac, av);
	if (ac >= 1 && strcmp(av[0], "passwd") == 0)
		return ctl_passwd(ac, av);
	return -1;
}

/* Takes every "--json" out of argv (getopt would refuse it); the new argc. */
static int
ctl_take_json(int argc, char **argv, int *json)
{
	int	i, n = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = 1;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int
ctl_main(int argc, char **argv)
{
	struct ctl_result	 res;
	struct buf		 in;
	const char		*conf = NULL, *sock = NULL, *arg = NULL;
	char			*path, *me;
	enum ctl_cmd		 cmd;
	int			 ch, fd, json = 0, mailq, rc;

	log_init("strictmailctl", 1, 0);
	me = basename(argv[0]);
	mailq = strcmp(me, "mailq") == 0;
	if (strcmp(me, "newaliases") == 0)
		return ctl_newaliases(argc, argv, NULL);
	/* "strictmailctl sendmail ARGS": sendmail(8) without a link. */
	if (argc >= 2 && strcmp(argv[1], "sendmail") == 0)
		return ctl_sendmail_main(argc - 1, argv + 1);
	argc = ctl_take_json(argc, argv, &json);
	while ((ch = getopt(argc, argv, "+f:s:")) != -1) {
		switch (ch) {
		case 'f':
			conf = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			ctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (!mailq && (rc = ctl_local(argc, argv, conf)) != -1)
		return rc;
	if (mailq) {
		char	*q[2] = { "queue", NULL };

		if (argc > 0)
			ctl_usage();
		cmd = ctl_command(1, q, &arg, &json);
	} else
		cmd = ctl_command(argc, argv, &arg, &json);
	path = ctl_socket_path(sock, conf);
	fd = ctl_connect(path);
	buf_init(&in);
	ctl_exchange(fd, cmd, arg, &in);
	close(fd);
	free(path);
	ctl_parse(in.data, &res);
	buf_free(&in);
	rc = 0;
	if (res.error != NULL) {
		if (ctl_proto_is_sts(cmd))	/* what it found, then why */
			ctl_print(cmd, &res, json, arg);
		ctl_print_error(cmd, arg, res.error);
		rc = strncmp(res.error, "permission denied", 17) == 0 ?
		    EX_NOPERM : strncmp(res.error, "unsupported protocol", 20)
		    == 0 ? EX_PROTOCOL : 1;
	} else
		ctl_print(cmd, &res, json, arg);
	ctl_result_free(&res);
	if (fflush(stdout) != 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}

/* Run as sendmail, mailq or newaliases: ctl/ctl_sendmail.h. */
int
main(int argc, char **argv)
{
	if (argc > 0 && ctl_sendmail_name(argv[0]))
		return ctl_sendmail_main(argc, argv);
	return ctl_main(argc, argv);
}
