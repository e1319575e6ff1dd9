/*
 * stscheck.c - strictmailctl's sts requests in the delivery process
 * (stscheck.h).  They come from the control process on their own
 * channel; sts.c answers the policy verbs and, for "sts check", calls
 * back here for the MX steps: each MX of the domain in preference order,
 * in the policy or not, and what an enforce delivery would find there
 * (delivery/stsprobe.h).  Each line and the end go back to the control
 * process.  No mail is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/dns.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/util.h"
#include "delivery/delivery_int.h"
#include "delivery/stscheck.h"
#include "delivery/stsprobe.h"
#include "sts/sts.h"

static void
stscheck_line(uint64_t req, const char *line, void *ctx)
{
	struct dlv	*d = ctx;
	struct buf	 b;

	if (d->control == NULL)
		return;
	buf_init(&b);
	ipc_put_str(&b, line);
	ipc_send_buf(d->control, MSG_C_TEXT, (uint32_t)req, -1, &b);
	buf_free(&b);
}

static void
stscheck_done(uint64_t req, int ok, void *ctx)
{
	struct dlv	*d = ctx;
	struct buf	 b;

	if (d->control == NULL)
		return;
	buf_init(&b);
	ipc_put_u32(&b, ok ? 0 : 1);
	ipc_send_buf(d->control, MSG_C_END, (uint32_t)req, -1, &b);
	buf_free(&b);
}

/*
 * "strictmailctl sts check": after the policy steps (sts.c), each MX of
 * the domain in preference order: in the policy or not, and what an
 * enforce delivery would find there (stsprobe.h).  No mail is sent.
 */
struct stscheck {
	struct dlv		*d;
	struct stscheck		*next;
	uint64_t		 req;
	char			 domain[256];
	struct sts_policy	 pol;
	int			 have_pol;
	struct dns_req		*q;
	char			**hosts;
	unsigned		*prefs;
	size_t			 n, i;
	size_t			 passed;
	struct stsprobe		*probe;
};

static void stscheck_next(struct stscheck *c);

static void
stscheck_free(struct stscheck *c)
{
	struct stscheck		**pp;
	size_t			  i;

	for (pp = &c->d->checks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->q != NULL)
		dns_cancel(c->d->dns, c->q);
	if (c->probe != NULL)
		stsprobe_cancel(c->probe);
	for (i = 0; i < c->n; i++)
		free(c->hosts[i]);
	free(c->hosts);
	free(c->prefs);
	sts_policy_free(&c->pol);
	free(c);
}

static void
stscheck_end(struct stscheck *c)
{
	if (!c->have_pol)
		stscheck_line(c->req, "verdict: no valid policy: delivery as "
		    "for a domain without MTA-STS", c->d);
	else if (c->pol.mode != STS_MODE_ENFORCE)
		stscheck_line(c->req, c->pol.mode == STS_MODE_TESTING ?
		    "verdict: testing: failures are logged, mail is "
		    "delivered" : "verdict: mode none: no MTA-STS checks",
		    c->d);
	else if (c->passed > 0)
		stscheck_line(c->req, "verdict: enforce: delivery possible",
		    c->d);
	else
		stscheck_line(c->req, "verdict: enforce: no MX passes: mail "
		    "would be deferred", c->d);
	stscheck_done(c->req, 1, c->d);
	stscheck_free(c);
}

static void
stscheck_probed(const struct stsprobe_result *r, void *arg)
{
	struct stscheck		*c = arg;
	char			 line[TLS_REASON_MAX + 400];

	c->probe = NULL;
	if (r->handshake && r->code == TLS_VERIFY_OK)
		c->passed++;
	(void)bsnprintf(line, sizeof(line), "mx: %s: STARTTLS %s, %s, "
	    "certificate: %s", c->hosts[c->i], r->starttls ? "offered" :
	    r->connected ? "not offered" : "-", r->handshake ? r->tls :
	    "no TLS", r->text);
	stscheck_line(c->req, line, c->d);
	c->i++;
	stscheck_next(c);
}

static void
stscheck_addr(const struct dns_result *res, void *arg)
{
	struct stscheck		*c = arg;
	struct dlv		*d = c->d;
	char			 line[400];

	c->q = NULL;
	if (res->n == 0 && res->type == DNS_T_A) {
		c->q = dns_query(d->dns, c->hosts[c->i], DNS_T_AAAA,
		    stscheck_addr, c);
		return;
	}
	if (res->n == 0) {
		(void)bsnprintf(line, sizeof(line), "mx: %s: no address",
		    c->hosts[c->i]);
		stscheck_line(c->req, line, d);
		c->i++;
		stscheck_next(c);
		return;
	}
	c->probe = stsprobe_start(d->loop, d->strict, d->trust,
	    c->hosts[c->i], &res->addr[0], d->cfg->smtp_port,
	    d->cfg->smtp_helo_name != NULL ? d->cfg->smtp_helo_name :
	    d->cfg->hostname, (unsigned)d->cfg->smtp_timeout_connect +
	    (unsigned)d->cfg->smtp_timeout_command, stscheck_probed, c);
}

static void
stscheck_next(struct stscheck *c)
{
	char	line[400];
	int	in;

	if (c->i >= c->n) {
		stscheck_end(c);
		return;
	}
	in = !c->have_pol || sts_policy_match(&c->pol, c->hosts[c->i]);
	(void)bsnprintf(line, sizeof(line), "mx: %s (preference %u): %s",
	    c->hosts[c->i], c->prefs[c->i], !c->have_pol ? "no policy" : in ?
	    "in the policy" : c->pol.mode == STS_MODE_ENFORCE ? "NOT in the "
	    "policy: skipped, never connected to" : "NOT in the policy");
	stscheck_line(c->req, line, c->d);
	if (!in && c->pol.mode == STS_MODE_ENFORCE) {
		c->i++;
		stscheck_next(c);
		return;
	}
	c->q = dns_query(c->d->dns, c->hosts[c->i], DNS_T_A, stscheck_addr,
	    c);
}

static void
stscheck_add(struct stscheck *c, const char *host, unsigned pref)
{
	size_t	i = c->n;

	c->hosts = xreallocarray(c->hosts, c->n + 1, sizeof(*c->hosts));
	c->prefs = xreallocarray(c->prefs, c->n + 1, sizeof(*c->prefs));
	/* In preference order (insertion: MX lists are short). */
	while (i > 0 && c->prefs[i - 1] > pref) {
		c->hosts[i] = c->hosts[i - 1];
		c->prefs[i] = c->prefs[i - 1];
		i--;
	}
	c->hosts[i] = str_lower(xstrdup(host));
	c->prefs[i] = pref;
	c->n++;
}

static void
stscheck_mx_cb(const struct dns_result *res, void *arg)
{
	struct stscheck		*c = arg;
	char			 line[400];
	size_t			 i;

	c->q = NULL;
	(void)bsnprintf(line, sizeof(line), "mx: %s MX: %s, %zu records",
	    c->domain, dns_status_str(res->status), res->n);
	stscheck_line(c->req, line, c->d);
	for (i = 0; i < res->n; i++)
		if (res->mx[i].host[0] != '\0')
			stscheck_add(c, res->mx[i].host, res->mx[i].pref);
	if (res->status == DNS_NODATA)	/* the domain itself */
		stscheck_add(c, c->domain, 0);
	stscheck_next(c);
}

static void
stscheck_mx(uint64_t req, const char *domain, const struct sts_policy *pol,
    void *ctx)
{
	struct dlv		*d = ctx;
	struct stscheck		*c;

	c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->req = req;
	(void)strlcpy(c->domain, domain, sizeof(c->domain));
	if (pol != NULL) {
		sts_policy_copy(&c->pol, pol);
		c->have_pol = 1;
	}
	c->next = d->checks;
	d->checks = c;
	c->q = dns_query(d->dns, domain, DNS_T_MX, stscheck_mx_cb, c);
}

void
stscheck_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct dlv	*d = arg;
	char		 verb[16], domain[256];

	(void)ch;
	if (m->type != MSG_C_STS) {
		ipc_bad_type(m);
		return;
	}
	ipc_get_str(m, verb, sizeof(verb));
	ipc_get_str(m, domain, sizeof(domain));
	if (ipc_no_fd(m) == -1 || ipc_end(m) == -1)
		return;
	log_info("control: sts %s%s%s", verb, domain[0] != '\0' ? " " : "",
	    domain);
	sts_ctl(d->sts, m->session, verb, domain);
}

void
stscheck_attach(struct dlv *d)
{
	struct sts_ctl_sink	sink;

	memset(&sink, 0, sizeof(sink));
	sink.line = stscheck_line;
	sink.done = stscheck_done;
	sink.check_mx = stscheck_mx;
	sink.ctx = d;
	sts_set_ctl_sink(d->sts, &sink);
}

void
stscheck_free_all(struct dlv *d)
{
	while (d->checks != NULL)
		stscheck_free(d->checks);
}
