/*
 * delivery.c - the delivery process (delivery.h): jobs from the queue,
 * DNS, connections, SMTP client sessions, outcomes back to the queue.
 * Sessions kept between jobs are in dlv_idle.c, strictmailctl's sts
 * requests in stscheck.c; delivery_int.h is what they share.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/digest.h"
#include "common/dns.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/logfmt.h"
#include "common/privsep.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/util.h"
#include "delivery/conncache.h"
#include "delivery/delivery.h"
#include "delivery/delivery_int.h"
#include "delivery/mxwalk.h"
#include "delivery/relay.h"
#include "delivery/smtpc.h"
#include "delivery/smtpc_reply.h"
#include "delivery/stscheck.h"
#include "sts/sts.h"
#include "sts/sts_fetchd.h"

#define DLV_OUT_HIGH		(256 * 1024)	/* output held at most */
#define DLV_READ		(16 * 1024)
#define DLV_MAX_ADDRS		20
#define DLV_TEXT_MAX		600
#define DLV_MAX_NAMES		32	/* names of tls-policy ... secure */

/* What MTA-STS says for a job (the log's sts= field). */
enum dlv_sts {
	DLV_STS_NONE,		/* no policy */
	DLV_STS_MODE_NONE,	/* a policy of mode none */
	DLV_STS_TESTING,
	DLV_STS_ENFORCE,
	DLV_STS_DISABLED,	/* mta-sts-disable */
	DLV_STS_RELAY,		/* relay-host: not evaluated */
};

struct dlv_rcpt {
	uint32_t	 index;
	char		*addr;		/* no angle brackets */
	unsigned	 notify;
	char		*orcpt;		/* NULL = none */
	int		 done;
	uint32_t	 status;	/* DRES_* once done */
	uint32_t	 code;
	char		 enh[16];
	char		 relay[DLV_RELAY_MAX];
	char		 text[DLV_TEXT_MAX];
	int		 host;		/* deferred by a host-level failure */
};

/* The A and AAAA answers of one MX host. */
struct dlv_addrq {
	struct dlv_job		*job;
	size_t			 host;
	struct dns_req		*r4, *r6;
	int			 done4, done6;
	enum dns_status		 st4, st6;
	struct dns_addr		*a4, *a6;
	size_t			 n4, n6;
};

struct dlv_job {
	struct dlv		*d;
	struct dlv_job		*next;
	uint64_t		 id;
	char			 qid[32];
	char			*sender;	/* no angle brackets */
	char			*domain;
	uint64_t		 size;
	char			 digest[DIGEST_SIZE];
	uint32_t		 flags;
	unsigned		 ret;
	char			*envid;
	uint64_t		 arrival;	/* of the message */
	struct dlv_rcpt		*rcpts;
	size_t			 n;
	int			 fd;
	enum config_tls_level	 level;
	struct dns_req		*mxreq;
	struct mxwalk_hosts	 hosts;
	int			 have_hosts;
	struct dlv_addrq	*aq;
	size_t			 addr_pending;
	struct mxwalk_targets	 targets;
	int			 have_targets;
	size_t			 ti;
	struct dlv_conn		*conn;
	int			 fresh;		/* next connection: a new one */
	char			*secnames;	/* tls-policy secure NAME...: */
	const char		*namev[DLV_MAX_NAMES];	/* split */
	size_t			 nnames;
	uint64_t		 started;
	int			 relay;		/* through relay-host */
	/* MTA-STS: the answer (sts.h), asked while the MX query runs. */
	struct sts_req		*stsreq;
	int			 sts_ready, mx_ready;
	enum dlv_sts		 sts;
	struct sts_policy	 sts_pol;
	char			 sts_id[STS_ID_MAX + 1];
	int			 sts_fallback;
	char			 sts_warn[STS_ERROR_MAX];
	/* Of the current attempt: a failure code (TLSRPT's words), or
	 * the checks passed. */
	const char		*sts_fail;
	int			 sts_verified;
};

static void dlv_job_next_target(struct dlv_job *j);
static void dlv_conn_step(struct dlv_conn *cn);
static void dlv_conn_start(struct dlv_job *j, int plaintext);

static uint32_t
dlv_rand(void *arg)
{
	uint32_t	v = 0;

	(void)arg;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

/* ---- outcomes ---- */

static void
dlv_rcpt_set(struct dlv_rcpt *r, uint32_t status, uint32_t code,
    const char *enh, const char *relay, const char *text)
{
	size_t	i;

	r->status = status;
	r->host = 0;
	r->code = code;
	(void)strlcpy(r->enh, enh != NULL ? enh : "", sizeof(r->enh));
	(void)strlcpy(r->relay, relay != NULL ? relay : "", sizeof(r->relay));
	(void)strlcpy(r->text, text != NULL ? text : "", sizeof(r->text));
	for (i = 0; r->text[i] != '\0'; i++)
		if ((unsigned char)r->text[i] < 0x20 || r->text[i] == 0x7f)
			r->text[i] = '?';
}

static const char *
dlv_status_name(uint32_t st)
{
	switch (st) {
	case DRES_SENT:		return "sent";
	case DRES_DEFERRED:	return "deferred";
	case DRES_BOUNCED:	return "bounced";
	default:		return "held";
	}
}

/* The sts= fields of a delivery line. */
static void
dlv_sts_log(struct buf *b, const struct dlv_job *j)
{
	static const char *const names[] = {
		[DLV_STS_NONE] = "none", [DLV_STS_MODE_NONE] = "none",
		[DLV_STS_TESTING] = "testing", [DLV_STS_ENFORCE] = "enforce",
		[DLV_STS_DISABLED] = "disabled-by-config",
		[DLV_STS_RELAY] = "relayhost",
	};

	buf_printf(b, " sts=%s", names[j->sts]);
	if (j->sts == DLV_STS_NONE && j->sts_warn[0] != '\0')
		logfmt_field(b, "warn", j->sts_warn);
	if (j->sts != DLV_STS_MODE_NONE && j->sts != DLV_STS_TESTING &&
	    j->sts != DLV_STS_ENFORCE)
		return;
	buf_printf(b, " id=%s", j->sts_id);
	if (j->sts_fallback)
		buf_printf(b, " policy=cached-fallback");
	if (j->sts == DLV_STS_MODE_NONE)
		return;
	if (j->sts_fail != NULL)
		buf_printf(b, " failure=%s", j->sts_fail);
	else if (j->sts_verified)
		buf_printf(b, " verified");
}

/* conn: "new" or "reused" when a connection was made, else NULL. */
static void
dlv_log_attempt(const struct dlv_job *j, const struct dlv_rcpt *r,
    const char *tlsinfo, const char *conn)
{
	struct buf	b;
	uint64_t	now;

	buf_init(&b);
	buf_printf(&b, "%s:", j->qid);
	logfmt_field_path(&b, "to", r->addr);
	logfmt_field(&b, "relay", r->relay[0] != '\0' ? r->relay : "none");
	logfmt_field(&b, "tls", tlsinfo != NULL && tlsinfo[0] != '\0' ?
	    tlsinfo : "none");
	buf_printf(&b, " status=%s", dlv_status_name(r->status));
	logfmt_field(&b, "reply", r->text);
	now = (uint64_t)time(NULL);
	buf_printf(&b, " delay=%llu", (unsigned long long)(now > j->arrival ?
	    now - j->arrival : 0));
	if (conn != NULL)
		buf_printf(&b, " conn=%s", conn);
	dlv_sts_log(&b, j);
	log_info("%s", b.data);
	buf_free(&b);
}

static void
dlv_job_free(struct dlv_job *j)
{
	size_t	i;

	if (j->aq != NULL) {
		for (i = 0; i < j->hosts.nhosts; i++) {
			if (j->aq[i].r4 != NULL)
				dns_cancel(j->d->dns, j->aq[i].r4);
			if (j->aq[i].r6 != NULL)
				dns_cancel(j->d->dns, j->aq[i].r6);
			free(j->aq[i].a4);
			free(j->aq[i].a6);
		}
		free(j->aq);
	}
	if (j->mxreq != NULL)
		dns_cancel(j->d->dns, j->mxreq);
	if (j->stsreq != NULL)
		sts_cancel(j->d->sts, j->stsreq);
	sts_policy_free(&j->sts_pol);
	if (j->have_targets)
		mxwalk_targets_free(&j->targets);
	if (j->have_hosts)
		mxwalk_hosts_free(&j->hosts);
	for (i = 0; i < j->n; i++) {
		free(j->rcpts[i].addr);
		free(j->rcpts[i].orcpt);
	}
	free(j->rcpts);
	free(j->sender);
	free(j->domain);
	free(j->envid);
	free(j->secnames);
	if (j->fd != -1)
		close(j->fd);
	free(j);
}

/* Every recipient is done: MSG_D_RESULT, and the job goes. */
static void
dlv_job_finish(struct dlv_job *j)
{
	struct dlv	 *d = j->d;
	struct dlv_job	**pp;
	struct buf	  b;
	size_t		  i;
	uint32_t	  flags = j->n > 0 ? DRESF_HOST : 0;

	buf_init(&b);
	ipc_put_u64(&b, j->id);
	ipc_put_u32(&b, (uint32_t)j->n);
	for (i = 0; i < j->n; i++) {
		const struct dlv_rcpt *r = &j->rcpts[i];

		ipc_put_u32(&b, r->index);
		ipc_put_u32(&b, r->status);
		ipc_put_u32(&b, r->code);
		ipc_put_str(&b, r->enh);
		ipc_put_str(&b, r->relay);
		ipc_put_str(&b, r->text);
		if (r->status != DRES_DEFERRED || !r->host)
			flags = 0;
	}
	ipc_put_u32(&b, flags);
	if (d->queue != NULL)
		ipc_send_buf(d->queue, MSG_D_RESULT, 0, -1, &b);
	buf_free(&b);
	for (pp = &d->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	dlv_job_free(j);
}

/* Every recipient not done yet gets this outcome. */
static void
dlv_job_all(struct dlv_job *j, uint32_t status, uint32_t code,
    const char *enh, const char *relay, const char *text)
{
	size_t	i;

	for (i = 0; i < j->n; i++) {
		if (j->rcpts[i].done)
			continue;
		dlv_rcpt_set(&j->rcpts[i], status, code, enh, relay, text);
		j->rcpts[i].done = 1;
		dlv_log_attempt(j, &j->rcpts[i], NULL, NULL);
	}
	dlv_job_finish(j);
}

/* ---- connections ---- */

void
dlv_conn_free(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;

	if (cn->timer != NULL)
		event_timer_cancel(d->loop, cn->timer);
	if (cn->fd != -1) {
		event_del(d->loop, cn->fd);
		if (cn->tls != NULL)
			tls_close(cn->tls);
		close(cn->fd);
	}
	tls_conn_free(cn->tls);
	smtpc_free(&cn->c);
	buf_free(&cn->out);
	free(cn->rc);
	free(cn->rmap);
	free(cn);
}

/*
 * A reused connection that failed before its MAIL was accepted (the
 * server closed it, 421, a lost connection): nothing was decided for
 * this message there, so the same target gets a new connection.
 */
static int
dlv_conn_reuse_failed(struct dlv_conn *cn)
{
	struct dlv_job	*j = cn->job;

	if (!cn->reused || cn->c.mail_ok || cn->c.state == SMTPC_READY ||
	    cn->closing)		/* our own QUIT after the message */
		return 0;
	log_info("%s: reused connection to %s failed before MAIL (%s): a new "
	    "connection", j->qid, cn->relay, cn->c.fail.reason[0] != '\0' ?
	    cn->c.fail.reason : "closed");
	j->conn = NULL;
	dlv_conn_free(cn);
	j->fresh = 1;
	dlv_conn_start(j, 0);
	return 1;
}

/* MTA-STS after a session: STARTTLS missing or refused (the client's
 * failure stage; rule 21), or a testing domain's mail sent in plaintext
 * (rule 23). */
static void
dlv_sts_session_end(struct dlv_conn *cn)
{
	struct dlv_job	*j = cn->job;
	char		 why[sizeof(cn->c.fail.reason)];

	if ((j->sts != DLV_STS_ENFORCE && j->sts != DLV_STS_TESTING) ||
	    cn->tls != NULL || cn->reused || (j->sts_fail != NULL &&
	    strcmp(j->sts_fail, "mx-not-in-policy") != 0))
		return;
	if (cn->c.fail.stage == SMTPC_FAIL_STARTTLS_MISSING ||
	    cn->c.fail.stage == SMTPC_FAIL_STARTTLS_REFUSED) {
		j->sts_fail = "starttls-not-supported";
		if (j->sts != DLV_STS_ENFORCE)
			return;
		(void)bsnprintf(why, sizeof(why), "MTA-STS enforce: %s: %s",
		    j->targets.targets[j->ti].host, cn->c.fail.reason);
		(void)strlcpy(cn->c.fail.reason, why,
		    sizeof(cn->c.fail.reason));
	} else if (j->sts == DLV_STS_TESTING && cn->msg_given &&
	    j->sts_fail == NULL)
		j->sts_fail = "starttls-not-supported";
	else if (j->sts == DLV_STS_ENFORCE && j->sts_fail == NULL)
		/* The listed MX was not reached (connect, greeting, EHLO):
		 * tried like an unreachable one, nothing sent (rule 20). */
		j->sts_fail = "no-mx-reachable";
}

/* The session ended, or is idle after the message: recipients get their
 * outcome from it, or stay for the next address when the host failed. */
static void
dlv_conn_done(struct dlv_conn *cn, int retry_plain)
{
	struct dlv_job		*j = cn->job;
	struct smtpc_outcome	*o;
	struct dlv_rcpt		*r;
	size_t			 i, left = 0;
	int			 more = j->ti + 1 < j->targets.ntargets;

	if (dlv_conn_reuse_failed(cn))
		return;
	dlv_sts_session_end(cn);

	if (cn->msg_given && cn->msg.unannounced_8bit)
		log_info("%s: 8-bit content sent unchanged to %s, which does "
		    "not offer 8BITMIME", j->qid, cn->relay);
	for (i = 0; i < cn->nrc; i++) {
		r = &j->rcpts[cn->rmap[i]];
		o = &cn->rc[i].out;
		if (!cn->msg_given || o->status == SMTPC_PENDING)
			o = &cn->c.fail;
		if (o->status == SMTPC_SENT)
			dlv_rcpt_set(r, DRES_SENT, (uint32_t)o->code, o->enh,
			    cn->relay, o->reason);
		else if (o->status == SMTPC_PERMFAIL)
			dlv_rcpt_set(r, DRES_BOUNCED, (uint32_t)o->code,
			    o->enh, cn->relay, o->reason);
		else
			dlv_rcpt_set(r, DRES_DEFERRED, (uint32_t)o->code,
			    o->enh[0] != '\0' ? o->enh : "4.4.1", cn->relay,
			    o->reason[0] != '\0' ? o->reason :
			    "connection failed");
		dlv_log_attempt(j, r, cn->tlsinfo, cn->reused ? "reused" :
		    "new");
		r->host = r->status == DRES_DEFERRED && o->host;
		if (r->status == DRES_DEFERRED && (o->host || o->status ==
		    SMTPC_PENDING) && (more || retry_plain))
			left++;
		else
			r->done = 1;
	}
	j->conn = NULL;
	dlv_idle_release(cn);
	if (left == 0) {
		dlv_job_finish(j);
		return;
	}
	if (retry_plain) {
		log_info("%s: %s: TLS handshake failed at level may: once "
		    "more in plaintext", j->qid, j->targets.targets[j->ti].host);
		dlv_conn_start(j, 1);
		return;
	}
	j->ti++;
	dlv_job_next_target(j);
}

static void
dlv_conn_timeout(void *arg)
{
	struct dlv_conn	*cn = arg;

	cn->timer = NULL;
	if (cn->phase == DLV_CONNECTING) {
		(void)bsnprintf(cn->c.fail.reason, sizeof(cn->c.fail.reason),
		    "connect to %s: timeout", cn->relay);
		cn->c.fail.status = SMTPC_TEMPFAIL;
		cn->c.fail.host = 1;
		dlv_conn_done(cn, 0);
		return;
	}
	cn->act = smtpc_abort(&cn->c, "timeout", 0, &cn->out);
	cn->closing = 1;
	dlv_conn_done(cn, 0);
}

void
dlv_conn_timer_cb(struct dlv_conn *cn, uint64_t ms, event_timer_cb cb)
{
	struct dlv	*d = cn->d;

	if (cn->timer != NULL)
		event_timer_cancel(d->loop, cn->timer);
	cn->timer = event_timer_add(d->loop, ms, cb, cn);
}

static void
dlv_conn_timer(struct dlv_conn *cn, unsigned seconds)
{
	dlv_conn_timer_cb(cn, (uint64_t)seconds * 1000, dlv_conn_timeout);
}

/* Writes what can be written; -1 when the connection failed. */
int
dlv_conn_flush(struct dlv_conn *cn)
{
	ssize_t	n;
	size_t	len;

	while (cn->out.len > 0) {
		if (cn->tls != NULL) {
			len = cn->tls_wlen != 0 ? cn->tls_wlen :
			    (cn->out.len > 16384 ? 16384 : cn->out.len);
			n = tls_write(cn->tls, cn->out.data, len);
			if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
				cn->tls_wlen = len;
				return 0;
			}
			cn->tls_wlen = 0;
			if (n < 0) {
				(void)smtpc_abort(&cn->c, "TLS write failed",
				    0, &cn->out);
				return -1;
			}
		} else {
			n = write(cn->fd, cn->out.data, cn->out.len);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK))
				return 0;
			if (n == -1) {
				char why[160];

				(void)bsnprintf(why, sizeof(why), "write: %s",
				    strerror(errno));
				(void)smtpc_abort(&cn->c, why, 0, &cn->out);
				return -1;
			}
		}
		buf_consume(&cn->out, (size_t)n);
	}
	return 0;
}

/* The names a certificate must match at this target: the MX host at
 * verify; at secure the configured names, else the recipient domain.
 * Returns how many (0 below verify). */
static size_t
dlv_job_wanted(const struct dlv_job *j, const char **v, size_t max)
{
	size_t	i;

	if (j->level < CONFIG_TLS_VERIFY || max == 0)
		return 0;
	if (j->level == CONFIG_TLS_VERIFY) {
		v[0] = j->targets.targets[j->ti].host;
		return 1;
	}
	if (j->nnames == 0) {
		v[0] = j->domain;
		return 1;
	}
	for (i = 0; i < j->nnames && i < max; i++)
		v[i] = j->namev[i];
	return i;
}

/* The chain of the session against names; the verdict's code. */
static enum tls_verify_code
dlv_conn_check(struct dlv_conn *cn, const char *const *names, size_t n,
    struct tls_verdict *v)
{
	struct dlv		*d = cn->d;
	struct tls_chain	 chain;

	memset(v, 0, sizeof(*v));
	v->code = TLS_VERIFY_UNTRUSTED;
	if (d->trust == NULL) {
		(void)bsnprintf(v->reason, sizeof(v->reason), "untrusted "
		    "chain: %s", d->trust_err);
		return v->code;
	}
	memset(&chain, 0, sizeof(chain));
	if (tls_conn_peer_chain(cn->tls, &chain) == -1) {
		(void)bsnprintf(v->reason, sizeof(v->reason), "untrusted "
		    "chain: no certificate");
		return v->code;
	}
	(void)tls_verify_chain(&chain, names, n, time(NULL), d->trust, v);
	tls_chain_free(&chain);
	return v->code;
}

/* TLSRPT's word for a verdict (RFC 8460 4.3). */
static const char *
dlv_sts_code(enum tls_verify_code c)
{
	switch (c) {
	case TLS_VERIFY_OK:
		return NULL;
	case TLS_VERIFY_EXPIRED:
	case TLS_VERIFY_NOT_YET_VALID:
		return "certificate-expired";
	case TLS_VERIFY_NAME_MISMATCH:
		return "certificate-host-mismatch";
	case TLS_VERIFY_UNTRUSTED:
		break;
	}
	return "certificate-not-trusted";
}

/* The deferral text of an enforce failure of the certificate. */
static void
dlv_sts_cert_why(const char *host, const struct tls_verdict *v, char *why,
    size_t whylen)
{
	if (v->code == TLS_VERIFY_EXPIRED)
		(void)bsnprintf(why, whylen, "MTA-STS enforce: certificate for "
		    "%s has expired (%s)", host, v->reason);
	else
		(void)bsnprintf(why, whylen, "MTA-STS enforce: certificate for "
		    "%s: %s", host, v->reason);
}

/*
 * After the handshake: the chain against the level's names.  Testing
 * (rule 23): the MX name is checked too, a failure only logged.
 */
static int
dlv_conn_verify(struct dlv_conn *cn, char *why, size_t whylen)
{
	struct dlv_job		*j = cn->job;
	struct tls_verdict	 v;
	const char		*names[DLV_MAX_NAMES];
	const char		*host = j->targets.targets[j->ti].host;
	size_t			 n;

	if (j->level < CONFIG_TLS_VERIFY) {
		if (j->sts == DLV_STS_TESTING) {
			names[0] = host;
			if (dlv_conn_check(cn, names, 1, &v) != TLS_VERIFY_OK) {
				j->sts_fail = dlv_sts_code(v.code);
				log_warnx("%s: MTA-STS testing: %s: %s "
				    "(delivered anyway)", j->qid, host,
				    v.reason);
			} else if (j->sts_fail == NULL)
				j->sts_verified = 1;
		}
		return 0;
	}
	n = dlv_job_wanted(j, names, DLV_MAX_NAMES);
	if (dlv_conn_check(cn, names, n, &v) != TLS_VERIFY_OK) {
		if (j->sts == DLV_STS_ENFORCE) {
			j->sts_fail = dlv_sts_code(v.code);
			dlv_sts_cert_why(host, &v, why, whylen);
		} else
			(void)strlcpy(why, v.reason, whylen);
		return -1;
	}
	(void)strlcpy(cn->key.verified, v.name, sizeof(cn->key.verified));
	if (j->sts_fail == NULL)
		j->sts_verified = 1;
	return 0;
}

static void
dlv_conn_tlsinfo(struct dlv_conn *cn, int verified)
{
	(void)bsnprintf(cn->tlsinfo, sizeof(cn->tlsinfo), "%s/%s/%s",
	    tls_version(cn->tls), tls_cipher(cn->tls),
	    verified ? "verified" : "unverified");
	cn->key.tls = verified ? CONNCACHE_TLS_VERIFIED :
	    CONNCACHE_TLS_ENCRYPTED;
}

/*
 * The handshake of implicit TLS (relay-host port 465) ended: the
 * session starts with the greeting, or the host failed temporarily.
 */
static void
dlv_conn_implicit_done(struct dlv_conn *cn, int rc)
{
	char	why[TLS_REASON_MAX + 64];

	if (rc != 0)
		(void)bsnprintf(why, sizeof(why), "handshake failed: %s",
		    tls_error(cn->tls));
	if (rc != 0 || dlv_conn_verify(cn, why, sizeof(why)) == -1) {
		dlv_conn_tlsinfo(cn, 0);
		cn->c.fail.status = SMTPC_TEMPFAIL;
		cn->c.fail.stage = rc != 0 ? SMTPC_FAIL_TLS_HANDSHAKE :
		    SMTPC_FAIL_CERT;
		cn->c.fail.host = 1;
		(void)strlcpy(cn->c.fail.enh, "4.7.5", sizeof(cn->c.fail.enh));
		(void)strlcpy(cn->c.fail.reason, why,
		    sizeof(cn->c.fail.reason));
		dlv_conn_done(cn, 0);
		return;
	}
	dlv_conn_tlsinfo(cn, 1);
	cn->act = smtpc_connected(&cn->c, &cn->out);
	dlv_conn_step(cn);
}

/* A failed STARTTLS handshake: its reason, for MTA-STS named so. */
static void
dlv_sts_handshake_failed(struct dlv_conn *cn, char *why, size_t whylen)
{
	struct dlv_job	*j = cn->job;

	if (j->sts == DLV_STS_ENFORCE || j->sts == DLV_STS_TESTING)
		j->sts_fail = "validation-failure";
	if (j->sts == DLV_STS_ENFORCE)
		(void)bsnprintf(why, whylen, "MTA-STS enforce: %s: TLS "
		    "handshake failed: %s", j->targets.targets[j->ti].host,
		    tls_error(cn->tls));
	else
		(void)bsnprintf(why, whylen, "handshake failed: %s",
		    tls_error(cn->tls));
}

static void
dlv_conn_handshake(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;
	char		 why[TLS_REASON_MAX + 64];
	int		 rc;

	rc = tls_handshake(cn->tls);
	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		(void)event_mod(d->loop, cn->fd, rc == TLS_WANT_READ ?
		    EV_READ : EV_WRITE);
		return;
	}
	cn->phase = DLV_SESSION;
	if (cn->c.state == SMTPC_INIT) {
		dlv_conn_implicit_done(cn, rc);
		return;
	}
	if (rc != 0) {
		dlv_sts_handshake_failed(cn, why, sizeof(why));
		cn->act = smtpc_tls_done(&cn->c, SMTPC_FAIL_TLS_HANDSHAKE, why,
		    &cn->out);
		/* `may`: once more on this address, in plaintext. */
		dlv_conn_done(cn, cn->job->level == CONFIG_TLS_MAY &&
		    !cn->plaintext);
		return;
	}
	if (dlv_conn_verify(cn, why, sizeof(why)) == -1) {
		dlv_conn_tlsinfo(cn, 0);
		cn->act = smtpc_tls_done(&cn->c, SMTPC_FAIL_CERT, why, &cn->out);
		dlv_conn_done(cn, 0);
		return;
	}
	dlv_conn_tlsinfo(cn, cn->job->level >= CONFIG_TLS_VERIFY);
	cn->act = smtpc_tls_done(&cn->c, SMTPC_FAIL_NONE, NULL, &cn->out);
	dlv_conn_step(cn);
}

static void
dlv_conn_starttls(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;

	smtpc_rparser_reset(&cn->rp);
	buf_reset(&cn->out);
	cn->tls = tls_conn_client(cn->job->level >= CONFIG_TLS_VERIFY ?
	    d->strict : d->compat, cn->fd, cn->job->targets.targets[
	    cn->job->ti].host);
	cn->phase = DLV_HANDSHAKE;
	dlv_conn_timer(cn, cn->set.t_tls);
	dlv_conn_handshake(cn);
}

/* The message for this session's recipients. */
static void
dlv_conn_mail(struct dlv_conn *cn)
{
	struct dlv_job	*j = cn->job;

	memset(&cn->msg, 0, sizeof(cn->msg));
	cn->msg.sender = j->sender;
	cn->msg.size = j->size;
	cn->msg.eightbit = (j->flags & DJOB_F_8BIT) != 0;
	cn->msg.smtputf8 = (j->flags & DJOB_F_SMTPUTF8) != 0;
	cn->msg.ret = j->ret;
	cn->msg.envid = j->envid;
	cn->msg.rcpts = cn->rc;
	cn->msg.nrcpt = cn->nrc;
	cn->msg_given = 1;
	cn->nmsg++;
	cn->content_off = 0;
	cn->act = smtpc_mail(&cn->c, &cn->msg, &cn->out);
}

/* The next piece of the content; -1 on a read error. */
static int
dlv_conn_content(struct dlv_conn *cn)
{
	struct dlv_job	*j = cn->job;
	ssize_t		 n;
	size_t		 want;
	int		 last;

	want = j->size - cn->content_off > DLV_CHUNK ? DLV_CHUNK :
	    (size_t)(j->size - cn->content_off);
	n = want > 0 ? pread(j->fd, j->d->buf, want, (off_t)cn->content_off) :
	    0;
	if (n < 0 || (size_t)n != want) {
		log_warn("%s: reading the content", j->qid);
		cn->act = smtpc_abort(&cn->c, "local error reading the "
		    "message", 1, &cn->out);
		return -1;
	}
	cn->content_off += (uint64_t)n;
	last = cn->content_off >= j->size;
	cn->act = smtpc_content(&cn->c, j->d->buf, (size_t)n, last, &cn->out);
	return 0;
}

/* Acts on cn->act until the session waits for the network. */
static void
dlv_conn_step(struct dlv_conn *cn)
{
	struct dlv	*d = cn->d;
	int		 ev;

	for (;;) {
		switch (cn->act) {
		case SMTPC_A_STARTTLS:
			if (dlv_conn_flush(cn) == -1) {
				dlv_conn_done(cn, 0);
				return;
			}
			dlv_conn_starttls(cn);
			return;
		case SMTPC_A_READY:
			if (!cn->msg_given) {
				dlv_conn_mail(cn);
				continue;
			}
			/* The message is done.  Kept for another: its
			 * outcomes go now.  Else QUIT first, as ever. */
			if (!cn->closing && dlv_idle_keep(cn)) {
				(void)dlv_conn_flush(cn);
				dlv_conn_done(cn, 0);
				return;
			}
			cn->act = smtpc_quit(&cn->c, &cn->out);
			cn->closing = 1;
			continue;
		case SMTPC_A_CONTENT:
			if (cn->out.len < DLV_OUT_HIGH &&
			    dlv_conn_content(cn) == 0)
				continue;
			break;
		case SMTPC_A_CLOSE:
			(void)dlv_conn_flush(cn);
			dlv_conn_done(cn, 0);
			return;
		case SMTPC_A_WAIT:
			break;
		}
		break;
	}
	if (dlv_conn_flush(cn) == -1) {
		dlv_conn_done(cn, 0);
		return;
	}
	ev = EV_READ;
	if (cn->out.len > 0 || cn->act == SMTPC_A_CONTENT)
		ev |= EV_WRITE;
	(void)event_mod(d->loop, cn->fd, ev);
	dlv_conn_timer(cn, smtpc_timeout(&cn->c));
}

/* Octets from the server: replies to the session. */
static void
dlv_conn_input(struct dlv_conn *cn, const char *data, size_t len)
{
	static struct smtpc_reply r;	/* 8 KiB: not on the stack */
	enum smtpc_rstatus	  st;
	size_t			  used, off = 0;

	while (off < len) {
		st = smtpc_rparser_feed(&cn->rp, data + off, len - off, &used,
		    &r);
		off += used;
		if (st == SMTPC_RS_MORE)
			return;
		if (st == SMTPC_RS_ERROR) {
			cn->act = smtpc_abort(&cn->c, cn->rp.error, 1,
			    &cn->out);
			return;
		}
		cn->act = smtpc_reply(&cn->c, &r, &cn->out);
		/* What came after the STARTTLS reply is never read; after
		 * READY and CLOSE nothing more is due. */
		if (cn->act != SMTPC_A_WAIT && cn->act != SMTPC_A_CONTENT)
			return;
	}
}

/* Readable: read, feed, act.  0, or -1 when the session ended here. */
static int
dlv_conn_read(struct dlv_conn *cn)
{
	char	 buf[DLV_READ];
	ssize_t	 n;

	for (;;) {
		if (cn->tls != NULL)
			n = tls_read(cn->tls, buf, sizeof(buf));
		else {
			n = read(cn->fd, buf, sizeof(buf));
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK))
				return 0;
		}
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return 0;
		if (n <= 0) {
			cn->act = smtpc_abort(&cn->c, n == 0 ?
			    "connection closed by the server" :
			    "connection error", 0, &cn->out);
			dlv_conn_done(cn, 0);
			return -1;
		}
		dlv_conn_input(cn, buf, (size_t)n);
		if (cn->act != SMTPC_A_WAIT && cn->act != SMTPC_A_CONTENT)
			return 0;
		if (cn->tls != NULL && tls_pending(cn->tls) > 0)
			continue;
		if (cn->tls == NULL)
			continue;
		return 0;
	}
}

static void
dlv_conn_connected(struct dlv_conn *cn)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		(void)bsnprintf(cn->c.fail.reason, sizeof(cn->c.fail.reason),
		    "connect to %s: %s", cn->relay, strerror(err));
		cn->c.fail.status = SMTPC_TEMPFAIL;
		cn->c.fail.host = 1;
		(void)strlcpy(cn->c.fail.enh, "4.4.1",
		    sizeof(cn->c.fail.enh));
		dlv_conn_done(cn, 0);
		return;
	}
	if (cn->set.tls_on_connect) {
		dlv_conn_starttls(cn);	/* implicit TLS: no greeting yet */
		return;
	}
	cn->phase = DLV_SESSION;
	cn->act = smtpc_connected(&cn->c, &cn->out);
	dlv_conn_step(cn);
}

static void
dlv_conn_io(int fd, int events, void *arg)
{
	struct dlv_conn	*cn = arg;

	(void)fd;
	if (cn->own != DLV_OWN_JOB) {
		dlv_idle_io(cn, events);
		return;
	}
	switch (cn->phase) {
	case DLV_CONNECTING:
		dlv_conn_connected(cn);
		return;
	case DLV_HANDSHAKE:
		dlv_conn_handshake(cn);
		return;
	case DLV_SESSION:
		break;
	}
	if ((events & (EV_READ | EV_ERROR)) != 0 && dlv_conn_read(cn) == -1)
		return;
	dlv_conn_step(cn);
}

/* "mx.example.org[192.0.2.1]:25" */
static void
dlv_relay_name(const struct mxwalk_target *t, unsigned port, char *out,
    size_t size)
{
	char	addr[INET6_ADDRSTRLEN];

	if (inet_ntop(t->addr.family, &t->addr.u, addr, sizeof(addr)) == NULL)
		(void)strlcpy(addr, "?", sizeof(addr));
	(void)bsnprintf(out, size, "%s[%s]:%u", t->host, addr, port);
}

/* smtp-bind-address(6): the source address of the family, if set. */
static int
dlv_bind(int fd, int family, const struct config *cfg)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
	const char		*a;

	a = family == AF_INET ? cfg->smtp_bind_address :
	    cfg->smtp_bind_address6;
	if (a == NULL)
		return 0;
	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, a, &sin.sin_addr) != 1) {
			errno = EINVAL;
			return -1;
		}
		return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, a, &sin6.sin6_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	return bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
}

static int
dlv_connect(const struct mxwalk_target *t, unsigned port,
    const struct config *cfg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd;

	len = dns_addr_sockaddr(&t->addr, port, &ss);
	fd = socket(t->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	(void)fd_set_nodelay(fd);	/* util.h says why */
	if (dlv_bind(fd, t->addr.family, cfg) == -1 ||
	    (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* The SMTP client's settings from the configuration. */
static void
dlv_client_settings(const struct config *cfg, struct smtpc_settings *set)
{
	smtpc_settings_default(set);
	set->helo = cfg->smtp_helo_name != NULL ? cfg->smtp_helo_name :
	    cfg->hostname;
	set->t_greeting = (unsigned)cfg->smtp_timeout_greeting;
	set->t_mail = set->t_rcpt = set->t_command = set->t_tls =
	    (unsigned)cfg->smtp_timeout_command;
	set->t_data_init = set->t_data_block =
	    (unsigned)cfg->smtp_timeout_data;
	set->t_data_final = (unsigned)cfg->smtp_timeout_final;
}

/* Through relay-host: its port, implicit TLS on 465, the credentials. */
static void
dlv_relay_settings(struct dlv *d, struct smtpc_settings *set, unsigned *port)
{
	*port = d->cfg->relay_port;
	set->tls = SMTPC_TLS_VERIFY;
	set->tls_on_connect = *port == CONFIG_RELAY_PORT_TLS;
	set->auth_user = d->auth.user;
	set->auth_pass = d->auth.pass;
}

/* The job's recipients not done yet become the session's message. */
static void
dlv_conn_rcpts(struct dlv_conn *cn, struct dlv_job *j)
{
	size_t	i;

	cn->rc = xcalloc(j->n, sizeof(*cn->rc));
	cn->rmap = xcalloc(j->n, sizeof(*cn->rmap));
	cn->nrc = 0;
	for (i = 0; i < j->n; i++) {
		if (j->rcpts[i].done)
			continue;
		cn->rc[cn->nrc].addr = j->rcpts[i].addr;
		cn->rc[cn->nrc].notify = j->rcpts[i].notify;
		cn->rc[cn->nrc].orcpt = j->rcpts[i].orcpt;
		cn->rmap[cn->nrc++] = i;
	}
	cn->msg_given = 0;
	cn->job = j;
	cn->own = DLV_OWN_JOB;
	j->conn = cn;
}

/* What this job needs of a connection to target ti (conncache.h). */
static void
dlv_job_need(const struct dlv_job *j, struct conncache_need *n,
    const char **names, size_t max)
{
	const struct mxwalk_target *t = &j->targets.targets[j->ti];

	memset(n, 0, sizeof(*n));
	n->host = t->host;
	n->addr = t->addr;
	n->port = j->relay ? j->d->cfg->relay_port : j->d->cfg->smtp_port;
	n->level = j->level >= CONFIG_TLS_VERIFY ? CONNCACHE_NEED_VERIFIED :
	    j->level == CONFIG_TLS_ENCRYPT ? CONNCACHE_NEED_ENCRYPTED :
	    CONNCACHE_NEED_ANY;
	n->nnames = dlv_job_wanted(j, names, max);
	n->names = names;
}

/* An idle connection to target ti that meets the job's level: the job
 * takes it (1), or there is none (0). */
static int
dlv_conn_reuse(struct dlv_job *j)
{
	struct dlv		*d = j->d;
	struct conncache_need	 need;
	const char		*names[DLV_MAX_NAMES];
	struct dlv_conn		*cn;

	if (d->cfg->smtp_reuse_idle == 0)
		return 0;
	dlv_job_need(j, &need, names, DLV_MAX_NAMES);
	if ((cn = dlv_idle_take(d, &need)) == NULL)
		return 0;
	dlv_conn_rcpts(cn, j);
	cn->reused = 1;
	log_debug("%s: reusing the connection to %s (message %u on it)",
	    j->qid, cn->relay, cn->nmsg + 1);
	cn->act = SMTPC_A_READY;
	dlv_conn_step(cn);
	return 1;
}

/* A session to target ti for the recipients not done: an idle one that
 * fits, else a new connection; plaintext (and always new) after a failed
 * handshake at `may`. */
/* A new attempt at the current target: testing notes an MX that the
 * policy does not list (enforce never gets here with one, rule 20). */
static void
dlv_sts_attempt(struct dlv_job *j)
{
	j->sts_fail = NULL;
	j->sts_verified = 0;
	if (j->sts == DLV_STS_TESTING && !sts_policy_match(&j->sts_pol,
	    j->targets.targets[j->ti].host)) {
		j->sts_fail = "mx-not-in-policy";
		log_warnx("%s: MTA-STS testing: %s is not in the policy "
		    "(delivery goes on)", j->qid,
		    j->targets.targets[j->ti].host);
	}
}

static void
dlv_conn_start(struct dlv_job *j, int plaintext)
{
	struct dlv		*d = j->d;
	const struct mxwalk_target *t = &j->targets.targets[j->ti];
	struct dlv_conn		*cn;
	unsigned		 port = d->cfg->smtp_port;
	int			 fresh = j->fresh;

	j->fresh = 0;
	if (!plaintext)		/* a plaintext retry keeps what TLS did */
		dlv_sts_attempt(j);
	if (!plaintext && !fresh && dlv_conn_reuse(j)) {
		if (j->conn->key.tls == CONNCACHE_TLS_VERIFIED &&
		    j->sts_fail == NULL)
			j->sts_verified = 1;
		return;
	}
	cn = xcalloc(1, sizeof(*cn));
	cn->d = d;
	cn->fd = -1;
	cn->plaintext = plaintext;
	buf_init(&cn->out);
	dlv_client_settings(d->cfg, &cn->set);
	cn->set.tls = plaintext ? SMTPC_TLS_NONE :
	    (enum smtpc_tls_level)j->level;
	if (j->relay)
		dlv_relay_settings(d, &cn->set, &port);
	smtpc_init(&cn->c, &cn->set);
	smtpc_rparser_init(&cn->rp);
	dlv_relay_name(t, port, cn->relay, sizeof(cn->relay));
	(void)strlcpy(cn->key.host, t->host, sizeof(cn->key.host));
	cn->key.addr = t->addr;
	cn->key.port = port;
	cn->key.tls = CONNCACHE_TLS_NONE;
	dlv_conn_rcpts(cn, j);
	cn->phase = DLV_CONNECTING;
	if ((cn->fd = dlv_connect(t, port, d->cfg)) == -1 ||
	    event_add(d->loop, cn->fd, EV_WRITE, dlv_conn_io, cn) == -1) {
		(void)bsnprintf(cn->c.fail.reason, sizeof(cn->c.fail.reason),
		    "connect to %s: %s", cn->relay, strerror(errno));
		cn->c.fail.status = SMTPC_TEMPFAIL;
		cn->c.fail.host = 1;
		if (cn->fd != -1) {
			close(cn->fd);
			cn->fd = -1;
		}
		dlv_conn_done(cn, 0);
		return;
	}
	dlv_conn_timer(cn, (unsigned)d->cfg->smtp_timeout_connect);
}

/* The next address, or the job ends with what it has. */
static void
dlv_job_next_target(struct dlv_job *j)
{
	size_t	i;

	if (j->ti < j->targets.ntargets) {
		dlv_conn_start(j, 0);
		return;
	}
	for (i = 0; i < j->n; i++)
		j->rcpts[i].done = 1;
	dlv_job_finish(j);
}

/* ---- DNS ---- */

/* Who this host is (the loop rule) and the walk's limits. */
static void
dlv_walk_settings(const struct dlv *d, struct mxwalk_identity *id,
    struct mxwalk_settings *set)
{
	static const enum mxwalk_family fam[] = {
		[CONFIG_FAMILY_IPV6_FIRST] = MXWALK_PREFER_V6,
		[CONFIG_FAMILY_IPV4_FIRST] = MXWALK_PREFER_V4,
		[CONFIG_FAMILY_IPV4_ONLY] = MXWALK_ONLY_V4,
		[CONFIG_FAMILY_IPV6_ONLY] = MXWALK_ONLY_V6,
		[CONFIG_FAMILY_ANY] = MXWALK_FAMILY_ANY,
	};

	memset(id, 0, sizeof(*id));
	id->names = d->names;
	id->nnames = 1;
	id->addrs = d->self;
	id->naddrs = d->nself;
	memset(set, 0, sizeof(*set));
	set->max_hosts = d->cfg->smtp_max_mx_hosts;
	set->max_addrs = DLV_MAX_ADDRS;
	set->family = d->cfg->smtp_family < sizeof(fam) / sizeof(fam[0]) ?
	    fam[d->cfg->smtp_family] : MXWALK_PREFER_V6;
}

/* Nothing about the relay host's addresses bounces mail: an operator's
 * mistake, or its DNS failing, defers with the relay named. */
static void
dlv_relay_verdict(struct dlv_job *j)
{
	char	text[sizeof(j->targets.text)];

	if (j->targets.verdict == MXWALK_GO)
		return;
	(void)bsnprintf(text, sizeof(text), "relay host %s: no address "
	    "(A/AAAA lookup failed or empty)", j->hosts.hosts[0].name);
	(void)strlcpy(j->targets.text, text, sizeof(j->targets.text));
	(void)strlcpy(j->targets.status, "4.4.3", sizeof(j->targets.status));
	j->targets.verdict = MXWALK_DEFER;
}

static void
dlv_job_addrs_done(struct dlv_job *j)
{
	struct dlv		*d = j->d;
	struct mxwalk_answer	*ans;
	struct mxwalk_identity	 id;
	struct mxwalk_settings	 set;
	size_t			 i;

	ans = xcalloc(j->hosts.nhosts + 1, sizeof(*ans));
	for (i = 0; i < j->hosts.nhosts; i++) {
		ans[i].st4 = j->aq[i].st4;
		ans[i].st6 = j->aq[i].st6;
		ans[i].a4 = j->aq[i].a4;
		ans[i].a6 = j->aq[i].a6;
		ans[i].n4 = j->aq[i].n4;
		ans[i].n6 = j->aq[i].n6;
	}
	dlv_walk_settings(d, &id, &set);
	if (j->relay)	/* the relay host is named by the operator */
		memset(&id, 0, sizeof(id));
	(void)mxwalk_addrs(j->domain, &j->hosts, ans, &id, &set, dlv_rand,
	    NULL, &j->targets);
	j->have_targets = 1;
	free(ans);
	if (j->relay)
		dlv_relay_verdict(j);
	switch (j->targets.verdict) {
	case MXWALK_GO:
		j->ti = 0;
		dlv_conn_start(j, 0);
		break;
	case MXWALK_DEFER:
		dlv_job_all(j, DRES_DEFERRED, 0, j->targets.status, "",
		    j->targets.text);
		break;
	case MXWALK_FAIL:
		dlv_job_all(j, DRES_BOUNCED, 0, j->targets.status, "",
		    j->targets.text);
		break;
	}
}

static void
dlv_addr_keep(const struct dns_result *res, struct dns_addr **a, size_t *n)
{
	if (res->n == 0)
		return;
	*a = xcalloc(res->n, sizeof(**a));
	memcpy(*a, res->addr, res->n * sizeof(**a));
	*n = res->n;
}

static void
dlv_addr_cb(const struct dns_result *res, void *arg)
{
	struct dlv_addrq	*q = arg;
	struct dlv_job		*j = q->job;

	if (res->type == DNS_T_A) {
		q->r4 = NULL;
		q->st4 = res->status;
		dlv_addr_keep(res, &q->a4, &q->n4);
	} else {
		q->r6 = NULL;
		q->st6 = res->status;
		dlv_addr_keep(res, &q->a6, &q->n6);
	}
	if (--j->addr_pending == 0)
		dlv_job_addrs_done(j);
}

/* The A and AAAA queries of every host of step 1. */
static void
dlv_job_addr_queries(struct dlv_job *j)
{
	struct dlv	*d = j->d;
	size_t		 i;

	j->aq = xcalloc(j->hosts.nhosts + 1, sizeof(*j->aq));
	j->addr_pending = 2 * j->hosts.nhosts;
	for (i = 0; i < j->hosts.nhosts; i++) {
		j->aq[i].job = j;
		j->aq[i].host = i;
		j->aq[i].r4 = dns_query(d->dns, j->hosts.hosts[i].name,
		    DNS_T_A, dlv_addr_cb, &j->aq[i]);
		j->aq[i].r6 = dns_query(d->dns, j->hosts.hosts[i].name,
		    DNS_T_AAAA, dlv_addr_cb, &j->aq[i]);
	}
}

/*
 * Rule 20: in enforce, an MX host that no pattern of the policy matches
 * is skipped (never resolved, never connected to).  0, or -1 when none
 * is left (the job is deferred).
 */
static int
dlv_sts_filter(struct dlv_job *j)
{
	struct buf	b;
	size_t		i, k = 0, nskip = 0;

	buf_init(&b);
	for (i = 0; i < j->hosts.nhosts; i++) {
		if (sts_policy_match(&j->sts_pol, j->hosts.hosts[i].name)) {
			j->hosts.hosts[k++] = j->hosts.hosts[i];
			continue;
		}
		log_info("%s: MTA-STS enforce: %s is not in the policy of %s: "
		    "skipped", j->qid, j->hosts.hosts[i].name, j->domain);
		buf_printf(&b, "%s%s", nskip++ ? ", " : "",
		    j->hosts.hosts[i].name);
		free(j->hosts.hosts[i].name);
	}
	j->hosts.nhosts = k;
	if (k == 0) {
		char	text[DLV_TEXT_MAX];

		(void)bsnprintf(text, sizeof(text), "MTA-STS enforce: %s %s "
		    "not in the policy", b.data, nskip > 1 ? "are" : "is");
		j->sts_fail = "mx-not-in-policy";
		dlv_job_all(j, DRES_DEFERRED, 0, "4.7.5", "", text);
	}
	buf_free(&b);
	return k == 0 ? -1 : 0;
}

/* MX hosts and MTA-STS both known: the walk goes on. */
static void
dlv_job_hosts_go(struct dlv_job *j)
{
	if (j->hosts.verdict == MXWALK_DEFER) {
		dlv_job_all(j, DRES_DEFERRED, 0, j->hosts.status, "",
		    j->hosts.text);
		return;
	}
	if (j->hosts.verdict == MXWALK_FAIL) {
		dlv_job_all(j, DRES_BOUNCED, 0, j->hosts.status, "",
		    j->hosts.text);
		return;
	}
	if (j->sts == DLV_STS_ENFORCE && dlv_sts_filter(j) == -1)
		return;
	dlv_job_addr_queries(j);
}

static void
dlv_mx_cb(const struct dns_result *res, void *arg)
{
	struct dlv_job		*j = arg;
	struct dlv		*d = j->d;
	struct mxwalk_identity	 id;
	struct mxwalk_settings	 set;

	j->mxreq = NULL;
	dlv_walk_settings(d, &id, &set);
	(void)mxwalk_hosts(j->domain, res->status, res->mx, res->n, &id,
	    &set, dlv_rand, NULL, &j->hosts);
	j->have_hosts = 1;
	j->mx_ready = 1;
	if (j->sts_ready)
		dlv_job_hosts_go(j);
}

/*
 * The policy (sts.h).  enforce (rule 21): at least level verify against
 * the MX name; a stricter tls-policy (secure) stays (rule 33).
 */
static void
dlv_sts_cb(const struct sts_answer *a, void *arg)
{
	struct dlv_job	*j = arg;

	j->stsreq = NULL;
	j->sts_ready = 1;
	(void)strlcpy(j->sts_warn, a->warn, sizeof(j->sts_warn));
	if (a->has_policy) {
		(void)strlcpy(j->sts_id, a->id, sizeof(j->sts_id));
		j->sts_fallback = a->fallback;
		sts_policy_copy(&j->sts_pol, a->pol);
		j->sts = a->apply == STS_APPLY_ENFORCE ? DLV_STS_ENFORCE :
		    a->apply == STS_APPLY_TESTING ? DLV_STS_TESTING :
		    DLV_STS_MODE_NONE;
	}
	if (j->sts == DLV_STS_ENFORCE && j->level < CONFIG_TLS_VERIFY)
		j->level = CONFIG_TLS_VERIFY;
	log_debug("%s: MTA-STS for %s: %s%s%s, tls level %s", j->qid,
	    j->domain, a->has_policy ? sts_mode_str(a->pol->mode) :
	    "no policy", a->has_policy ? " id " : "", a->id,
	    config_tls_level_name(j->level));
	if (j->mx_ready)
		dlv_job_hosts_go(j);
}

/* ---- relay-host: no MX lookup ---- */

/* The relay host's addresses: its IP literal, or its A and AAAA. */
static void
dlv_relay_start(struct dlv_job *j)
{
	struct dns_addr	a;

	relay_hosts(j->d->cfg->relay_host, &j->hosts);
	j->have_hosts = 1;
	if (!relay_literal(j->hosts.hosts[0].name, &a)) {
		dlv_job_addr_queries(j);
		return;
	}
	memset(&j->targets, 0, sizeof(j->targets));
	j->targets.verdict = MXWALK_GO;
	j->targets.targets = xcalloc(1, sizeof(*j->targets.targets));
	j->targets.targets[0].host = j->hosts.hosts[0].name;
	j->targets.targets[0].addr = a;
	j->targets.ntargets = 1;
	j->have_targets = 1;
	j->ti = 0;
	dlv_conn_start(j, 0);
}

/* ---- MSG_D_JOB ---- */

static char *
dlv_unbracket(const char *s)
{
	size_t	n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		char *r = xmalloc(n - 1);

		memcpy(r, s + 1, n - 2);
		r[n - 2] = '\0';
		return r;
	}
	return xstrdup(s);
}

static struct dlv_job *
dlv_job_read(struct dlv *d, struct ipc_msg *m)
{
	struct dlv_job	*j;
	char		*s, ret[8];
	uint32_t	 n, i;

	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->fd = -1;
	j->id = ipc_get_u64(m);
	ipc_get_str(m, j->qid, sizeof(j->qid));
	s = ipc_get_strdup(m);
	j->sender = dlv_unbracket(s);
	free(s);
	j->domain = ipc_get_strdup(m);
	j->size = ipc_get_u64(m);
	ipc_get_str(m, j->digest, sizeof(j->digest));
	j->flags = ipc_get_u32(m);
	ipc_get_str(m, ret, sizeof(ret));
	j->ret = strcmp(ret, "FULL") == 0 ? DSN_RET_FULL :
	    strcmp(ret, "HDRS") == 0 ? DSN_RET_HDRS : 0;
	j->envid = ipc_get_strdup(m);
	n = ipc_get_u32(m);
	if (n == 0 || n > (m->len - m->pos) / 16)
		fatalx("%s: message %s: %u recipients", ipc_chan_peer(m->chan),
		    proto_msg_name(m->type), n);
	j->rcpts = xcalloc(n, sizeof(*j->rcpts));
	j->n = n;
	for (i = 0; i < n; i++) {
		j->rcpts[i].index = ipc_get_u32(m);
		s = ipc_get_strdup(m);
		j->rcpts[i].addr = dlv_unbracket(s);
		free(s);
		j->rcpts[i].notify = ipc_get_u32(m);
		s = ipc_get_strdup(m);
		if (s[0] == '\0') {
			free(s);
			s = NULL;
		}
		j->rcpts[i].orcpt = s;
	}
	j->arrival = ipc_get_u64(m);
	j->fd = ipc_take_fd(m);
	ipc_end(m);
	return j;
}

/* A bare local sender qualified with origin; through the relay host,
 * masquerade-sender applied. */
static void
dlv_job_sender(struct dlv_job *j)
{
	char	*s;

	s = relay_qualify(j->sender, config_origin(j->d->cfg));
	free(j->sender);
	j->sender = s;
	if (!j->relay)
		return;
	s = relay_masquerade(j->sender, j->d->cfg);
	free(j->sender);
	j->sender = s;
}

/* The names of "tls-policy DOMAIN secure NAME...", split. */
static void
dlv_job_names(struct dlv_job *j)
{
	char	*p, *save = NULL;

	if (j->level != CONFIG_TLS_SECURE)
		return;
	j->secnames = xstrdup(config_tls_names_of(j->d->cfg, j->domain));
	for (p = strtok_r(j->secnames, " ", &save); p != NULL &&
	    j->nnames < DLV_MAX_NAMES; p = strtok_r(NULL, " ", &save))
		j->namev[j->nnames++] = p;
}

static void
dlv_job_start(struct dlv *d, struct ipc_msg *m)
{
	struct dlv_job	*j;
	char		 dg[DIGEST_SIZE];

	j = dlv_job_read(d, m);
	j->next = d->jobs;
	d->jobs = j;
	j->started = now_ms();
	j->relay = d->cfg->relay_host != NULL;
	j->sts = j->relay ? DLV_STS_RELAY : DLV_STS_NONE;
	/* Through the relay host: verify its name; tls-policy is not
	 * consulted. */
	j->level = j->relay ? CONFIG_TLS_VERIFY :
	    config_tls_level_of(d->cfg, j->domain);
	dlv_job_names(j);
	if (j->fd == -1) {
		dlv_job_all(j, DRES_DEFERRED, 0, "4.3.0", "",
		    "local error: the content descriptor was lost");
		return;
	}
	if (digest_file(j->fd, dg) == -1) {
		dlv_job_all(j, DRES_DEFERRED, 0, "4.3.0", "",
		    "local error: cannot read the message");
		return;
	}
	if (strcmp(dg, j->digest) != 0) {
		log_warnx("%s: content digest %s, envelope says %s: held, "
		    "not delivered", j->qid, dg, j->digest);
		dlv_job_all(j, DRES_HOLD, 0, "4.3.0", "",
		    "content digest mismatch");
		return;
	}
	dlv_job_sender(j);
	if (j->relay) {
		log_debug("%s: job %llu: %zu recipients at %s, through "
		    "relay-host %s:%u", j->qid, (unsigned long long)j->id,
		    j->n, j->domain, d->cfg->relay_host, d->cfg->relay_port);
		dlv_relay_start(j);
		return;
	}
	log_debug("%s: job %llu: %zu recipients at %s, tls-policy %s", j->qid,
	    (unsigned long long)j->id, j->n, j->domain,
	    config_tls_level_name(j->level));
	/* Rule 33: off only for the domains named one by one. */
	if (config_sts_disabled(d->cfg, j->domain)) {
		j->sts = DLV_STS_DISABLED;
		j->sts_ready = 1;
	} else
		j->stsreq = sts_get(d->sts, j->domain, dlv_sts_cb, j);
	j->mxreq = dns_query(d->dns, j->domain, DNS_T_MX, dlv_mx_cb, j);
}

/* ---- channels ---- */

static void
dlv_queue_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	if (m->type == MSG_D_JOB)
		dlv_job_start(arg, m);
	else
		ipc_bad_type(m);
}

static void
dlv_sts_config(const struct config *cfg, struct sts_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->set.backoff = cfg->sts_backoff;
	sc->set.refresh = cfg->sts_refresh;
	sc->set.cleanup_age = cfg->sts_cleanup_age;
	sc->fetch_timeout = (unsigned)cfg->sts_fetch_timeout;
	sc->refresh_timeout = (unsigned)cfg->sts_refresh_timeout;
}

static void
dlv_reload(struct dlv *d, struct ipc_msg *m)
{
	struct config	next;

	config_copy(&next, d->cfg);
	if (ipc_no_fd(m) == -1 || config_settings_get(m, &next) == -1) {
		config_free(&next);
		return;
	}
	config_free(d->cfg);
	*d->cfg = next;
	dlv_idle_quit_all(d);
	if (d->sts != NULL) {
		struct sts_config sc;

		dlv_sts_config(d->cfg, &sc);
		sts_configure(d->sts, &sc);
	}
	log_info("reload: %zu tls-policy lines, relay-host %s", d->cfg->ntls_policy,
	    d->cfg->relay_host != NULL ? d->cfg->relay_host : "none");
}

static void
dlv_parent_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	if (m->type == MSG_P_SETTINGS)
		dlv_reload(arg, m);
	else
		ipc_bad_type(m);
}

static void
dlv_chan_closed(struct ipc_chan *ch, void *arg)
{
	struct dlv	*d = arg;

	if (ch == d->queue)
		d->queue = NULL;
	else if (ch == d->control)
		d->control = NULL;
	else
		d->parent = NULL;
	ipc_chan_free(ch);
	event_loop_stop(d->loop);
}

static void
dlv_sigterm(int signo, void *arg)
{
	struct dlv	*d = arg;

	(void)signo;
	log_info("shutting down (SIGTERM)");
	event_loop_stop(d->loop);
}

/* ---- the process ---- */

/* The listener addresses, for the loop rule. */
static void
dlv_identity(struct dlv *d)
{
	size_t	i;

	d->self = xcalloc(d->cfg->nlisteners + 1, sizeof(*d->self));
	for (i = 0; i < d->cfg->nlisteners; i++) {
		struct dns_addr *a = &d->self[d->nself];

		if (inet_pton(AF_INET, d->cfg->listeners[i].addr,
		    &a->u.v4) == 1)
			a->family = AF_INET;
		else if (inet_pton(AF_INET6, d->cfg->listeners[i].addr,
		    &a->u.v6) == 1)
			a->family = AF_INET6;
		else
			continue;
		d->nself++;
	}
	d->names[0] = d->cfg->hostname;
}

/* Everything that needs files, before the chroot. */
static void
dlv_before_chroot(struct dlv *d)
{
	struct dns_config	dc;
	char			err[512];

	tls_init();
	memset(&dc, 0, sizeof(dc));
	dc.servers = d->cfg->dns_servers;
	if ((d->dns = dns_new(d->loop, &dc, err, sizeof(err))) == NULL)
		fatalx("dns: %s", err);
	d->trust = tls_trust_load(d->cfg->tls_ca_file, err, sizeof(err));
	if (d->trust == NULL) {
		(void)strlcpy(d->trust_err, err, sizeof(d->trust_err));
		log_warnx("%s: levels verify and secure cannot deliver", err);
	}
	d->compat = tls_client_conf_new(TLS_CLIENT_COMPAT);
	d->strict = tls_client_conf_new(TLS_CLIENT_STRICT);
	/* MTA-STS: libcurl must load (it is not linked in; the policy
	 * fetcher loads it, sts_fetchd.h).  Without libcurl no policy can be
	 * fetched, and strictmail does not run without MTA-STS. */
	if (sts_fetchd_probe(err, sizeof(err)) == -1)
		fatalx("mta-sts: %s: policies cannot be fetched, delivery "
		    "does not start", err);
	/* As root, like the CA file: the credentials stay in this process. */
	if (d->cfg->relay_auth_file != NULL &&
	    relay_auth_load(d->cfg->relay_auth_file, &d->auth, err,
	    sizeof(err)) == -1)
		fatalx("relay-auth-file %s", err);
}

/* delivery's chroot and state folder: <spool>/delivery. */
static void
dlv_state_dir(struct dlv *d, struct buf *b)
{
	buf_printf(b, "%s%sdelivery", d->cfg->spool,
	    strcmp(d->cfg->spool, "/") == 0 ? "" : "/");
}

/*
 * The policy fetcher's spawner, forked now (before the chroot) with the
 * CA bundle of policy hosts; its workers drop to this process's user and
 * chroot.  This process keeps no copy of the bundle: it never fetches.
 * Without a usable bundle there is no spawner, and every fetch fails.
 */
static void
dlv_sts_spawner(struct dlv *d, const struct sm_user *u)
{
	struct tls_trust	*trust = NULL;
	struct buf		 dir;
	uint8_t			*ca;
	size_t			 calen;
	char			 err[512];

	d->sts_fd = -1;
	ca = tls_pem_load(config_sts_ca_file(d->cfg), &calen, err, sizeof(err));
	if (ca != NULL)
		trust = tls_trust_new(ca, calen, "CA file", err, sizeof(err));
	if (trust == NULL) {
		log_warnx("mta-sts: %s: every policy fetch will fail", err);
		free(ca);
		return;
	}
	buf_init(&dir);
	dlv_state_dir(d, &dir);
	d->sts_fd = sts_fetchd_spawner((const char *)ca, calen, trust, u,
	    dir.data, err, sizeof(err));
	if (d->sts_fd == -1)
		fatalx("mta-sts: policy fetcher: %s", err);
	buf_free(&dir);
	tls_trust_free(trust);
	free(ca);
}

static void
dlv_drop(struct dlv *d, const struct sm_user *u)
{
	struct buf	b;

	if (u == NULL || !privsep_is_root()) {
		log_info("running unprivileged: no chroot, no user change");
		return;
	}
	buf_init(&b);
	dlv_state_dir(d, &b);
	privsep_drop(u, b.data);
	log_info("running as %s, chrooted into %s", u->name, b.data);
	buf_free(&b);
}

/*
 * The MTA-STS cache lives in this process's state folder: the chroot,
 * or <spool>/delivery when running unprivileged.  Without it there is no
 * MTA-STS, and strictmail does not run without MTA-STS.
 */
static void
dlv_sts_start(struct dlv *d, int chrooted)
{
	struct sts_config	sc;
	struct buf		dir;
	char			err[512];

	buf_init(&dir);
	if (chrooted)		/* the working folder is the chroot's root */
		buf_addstr(&dir, ".");
	else
		dlv_state_dir(d, &dir);
	dlv_sts_config(d->cfg, &sc);
	d->sts = sts_new(d->loop, d->dns, dir.data, d->sts_fd, &sc, err,
	    sizeof(err));
	if (d->sts == NULL)
		fatalx("mta-sts: %s", err);
	buf_free(&dir);
	stscheck_attach(d);
}

static void
dlv_teardown(struct dlv *d)
{
	dlv_idle_close_all(d);
	while (d->jobs != NULL) {
		struct dlv_job *j = d->jobs;

		d->jobs = j->next;
		if (j->conn != NULL)
			dlv_conn_free(j->conn);
		dlv_job_free(j);
	}
	if (d->queue != NULL) {
		(void)ipc_chan_flush(d->queue);
		ipc_chan_free(d->queue);
	}
	if (d->parent != NULL)
		ipc_chan_free(d->parent);
	if (d->control != NULL)
		ipc_chan_free(d->control);
	stscheck_free_all(d);
	sts_free(d->sts);
	dns_free(d->dns);
	tls_client_conf_unref(d->compat);
	tls_client_conf_unref(d->strict);
	tls_trust_free(d->trust);
	relay_auth_free(&d->auth);
	free(d->self);
	event_loop_free(d->loop);
	tls_cleanup();
}

int
delivery_main(struct config *cfg, int parent_fd, int queue_fd,
    int control_fd, const struct sm_user *u)
{
	struct dlv	*d;
	int		 chrooted;

	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	d = xcalloc(1, sizeof(*d));
	d->cfg = cfg;
	d->loop = event_loop_new();
	conncache_init(&d->idle);
	dlv_before_chroot(d);
	dlv_sts_spawner(d, u);
	chrooted = u != NULL && privsep_is_root();
	dlv_drop(d, u);
	dlv_sts_start(d, chrooted);
	dlv_identity(d);
	if (event_signal(d->loop, SIGTERM, dlv_sigterm, d) == -1)
		fatal("event_signal");
	d->parent = ipc_chan_new(d->loop, parent_fd, "parent",
	    dlv_parent_dispatch, dlv_chan_closed, d);
	d->queue = ipc_chan_new(d->loop, queue_fd, "queue",
	    dlv_queue_dispatch, dlv_chan_closed, d);
	d->control = ipc_chan_new(d->loop, control_fd, "control",
	    stscheck_dispatch, dlv_chan_closed, d);
	ipc_send(d->parent, MSG_P_READY, 0, -1, NULL, 0);
	log_info("ready");
	if (event_loop_run(d->loop) == -1)
		fatal("event loop");
	dlv_teardown(d);
	free(d);
	log_info("exiting");
	return 0;
}
