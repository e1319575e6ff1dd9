/*
 * maildrop_put.c - the writer of a maildrop file's head (queue/maildrop.h).
 * It checks every value against the rules the reader applies before it
 * writes a byte, so a head it returns is one the reader takes: an address
 * is 1 to MAILDROP_ADDR_MAX bytes of 0x21..0xFF but 0x7F, the envelope id
 * is xtext, the recipients number 1 to MAILDROP_RCPT_MAX and the whole
 * head stays under MAILDROP_HEAD_MAX bytes.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "queue/maildrop.h"
#include "smtpd/smtp_parse.h"

/* 1 when c may stand in a head value: 0x21..0xFF but 0x7F. */
static int
maildrop_put_byte_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* A mailbox: 1 to MAILDROP_ADDR_MAX bytes, every one fit for a value. */
static int
maildrop_put_addr_ok(const char *a)
{
	size_t	i, n = strlen(a);

	if (n == 0 || n > MAILDROP_ADDR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!maildrop_put_byte_ok((unsigned char)a[i]))
			return 0;
	return 1;
}

/* xtext (RFC 3461 4), not empty, at most MAILDROP_ENVID_MAX bytes. */
static int
maildrop_put_xtext_ok(const char *s)
{
	char	out[MAILDROP_ENVID_MAX + 1];
	size_t	n = strlen(s);

	return n > 0 && n <= MAILDROP_ENVID_MAX &&
	    smtp_parse_xtext(s, out, sizeof(out)) >= 0;
}

static int
maildrop_put_notify_ok(unsigned n)
{
	const unsigned	all = MAILDROP_NOTIFY_NEVER | MAILDROP_NOTIFY_SUCCESS |
			    MAILDROP_NOTIFY_FAILURE | MAILDROP_NOTIFY_DELAY;

	if ((n & ~all) != 0)
		return 0;
	return !(n & MAILDROP_NOTIFY_NEVER) || n == MAILDROP_NOTIFY_NEVER;
}

/* Checks everything in e; 0 or -1 with the reason. */
static int
maildrop_put_check(const struct maildrop_env *e, char *err, size_t errlen)
{
	size_t	i;

	if (e->sender != NULL && e->sender[0] != '\0' &&
	    !maildrop_put_addr_ok(e->sender))
		return errorf(-1, err, errlen, "bad sender address");
	if (e->nrcpts == 0)
		return errorf(-1, err, errlen, "no recipient");
	if (e->nrcpts > MAILDROP_RCPT_MAX)
		return errorf(-1, err, errlen,
		    "too many recipients (%zu, at most %d)", e->nrcpts,
		    MAILDROP_RCPT_MAX);
	for (i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i] == NULL || !maildrop_put_addr_ok(e->rcpts[i]))
			return errorf(-1, err, errlen,
			    "bad recipient address (number %zu)", i + 1);
	if (!maildrop_put_notify_ok(e->notify))
		return errorf(-1, err, errlen, "bad notify set 0x%x",
		    e->notify);
	if (e->ret != MAILDROP_RET_UNSET && e->ret != MAILDROP_RET_FULL &&
	    e->ret != MAILDROP_RET_HDRS)
		return errorf(-1, err, errlen, "bad ret value");
	if (e->body != MAILDROP_BODY_UNSET && e->body != MAILDROP_BODY_7BIT &&
	    e->body != MAILDROP_BODY_8BITMIME)
		return errorf(-1, err, errlen, "bad body value");
	if (e->envid != NULL && !maildrop_put_xtext_ok(e->envid))
		return errorf(-1, err, errlen,
		    "the envelope id is not xtext of 1 to %d bytes",
		    MAILDROP_ENVID_MAX);
	return 0;
}

static void
maildrop_put_notify(struct buf *b, unsigned n)
{
	const char	*sep = "";

	if (n == 0)
		return;
	buf_addstr(b, "notify ");
	if (n & MAILDROP_NOTIFY_NEVER)
		buf_addstr(b, "never");
	if (n & MAILDROP_NOTIFY_SUCCESS) {
		buf_addstr(b, "success");
		sep = ",";
	}
	if (n & MAILDROP_NOTIFY_FAILURE) {
		buf_printf(b, "%sfailure", sep);
		sep = ",";
	}
	if (n & MAILDROP_NOTIFY_DELAY)
		buf_printf(b, "%sdelay", sep);
	buf_addch(b, '\n');
}

int
maildrop_put(struct buf *out, const struct maildrop_env *e, char *err,
    size_t errlen)
{
	struct buf	h;
	size_t		i;

	if (maildrop_put_check(e, err, errlen) == -1)
		return -1;
	buf_init(&h);
	buf_addstr(&h, MAILDROP_MAGIC "\n");
	if (e->sender != NULL)
		buf_printf(&h, "sender %s\n", e->sender[0] != '\0' ?
		    e->sender : "<>");
	for (i = 0; i < e->nrcpts; i++)
		buf_printf(&h, "rcpt %s\n", e->rcpts[i]);
	maildrop_put_notify(&h, e->notify);
	if (e->ret != MAILDROP_RET_UNSET)
		buf_printf(&h, "ret %s\n", e->ret == MAILDROP_RET_FULL ?
		    "full" : "hdrs");
	if (e->envid != NULL)
		buf_printf(&h, "envid %s\n", e->envid);
	if (e->body != MAILDROP_BODY_UNSET)
		buf_printf(&h, "body %s\n", e->body == MAILDROP_BODY_7BIT ?
		    "7bit" : "8bitmime");
	buf_printf(&h, "size %llu\ndata\n", (unsigned long long)e->size);
	if (h.len > MAILDROP_HEAD_MAX) {
		buf_free(&h);
		return errorf(-1, err, errlen,
		    "the head is larger than %d bytes", MAILDROP_HEAD_MAX);
	}
	buf_add(out, h.data, h.len);
	buf_free(&h);
	return 0;
}
