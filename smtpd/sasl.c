/*
 * sasl.c - AUTH PLAIN and LOGIN responses (sasl.h).
 */
#include <string.h>

#include "smtpd/sasl.h"

/* The value of a base64 letter, or -1. */
static int
sasl_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* One group of four letters (pad: how many '=' end it) into out. */
static int
sasl_b64_group(const char *g, int pad, unsigned char *out, size_t *n)
{
	unsigned long	v = 0;
	int		i, d;

	for (i = 0; i < 4; i++) {
		if (i >= 4 - pad) {
			v <<= 6;
			continue;
		}
		if ((d = sasl_b64_value((unsigned char)g[i])) == -1)
			return -1;
		v = (v << 6) | (unsigned long)d;
	}
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	*n = (size_t)(3 - pad);
	return 0;
}

int
sasl_b64_decode(const char *text, unsigned char *out, size_t outsize,
    size_t *outlen)
{
	size_t		len = strlen(text), i, n, o = 0;
	unsigned char	tmp[3];
	int		pad;

	*outlen = 0;
	if (strcmp(text, "=") == 0)
		return 0;
	if (len == 0 || len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		if (i + 4 == len)
			pad = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) :
			    0;
		if (sasl_b64_group(text + i, pad, tmp, &n) == -1 ||
		    o + n > outsize) {
			memset(tmp, 0, sizeof(tmp));
			return -1;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	memset(tmp, 0, sizeof(tmp));
	*outlen = o;
	return 0;
}

/* Copies field [p, p+len) as a C string; -1 if it does not fit. */
static int
sasl_field(const unsigned char *p, size_t len, char *out, size_t outsize)
{
	if (len >= outsize)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* Splits a decoded PLAIN message of len octets. */
static enum sasl_status
sasl_plain_split(const unsigned char *msg, size_t len, char *user,
    size_t usize, char *password, size_t psize)
{
	const unsigned char	*nul1, *nul2;
	size_t			 zlen, ulen;

	if ((nul1 = memchr(msg, '\0', len)) == NULL)
		return SASL_BAD_MESSAGE;
	zlen = (size_t)(nul1 - msg);
	if ((nul2 = memchr(nul1 + 1, '\0', len - zlen - 1)) == NULL)
		return SASL_BAD_MESSAGE;
	ulen = (size_t)(nul2 - nul1 - 1);
	if (ulen == 0 || ulen > SASL_USER_MAX ||
	    sasl_field(nul1 + 1, ulen, user, usize) == -1)
		return SASL_BAD_MESSAGE;
	if (len - zlen - ulen - 2 > SASL_PASSWORD_MAX ||
	    sasl_field(nul2 + 1, len - zlen - ulen - 2, password, psize) == -1)
		return SASL_BAD_MESSAGE;
	if (zlen != 0 && (zlen != ulen || memcmp(msg, nul1 + 1, zlen) != 0)) {
		memset(password, 0, psize);
		return SASL_AUTHZID;
	}
	return SASL_OK;
}

enum sasl_status
sasl_plain(const char *text, char *user, size_t usize, char *password,
    size_t psize)
{
	unsigned char		buf[SASL_USER_MAX * 2 + SASL_PASSWORD_MAX + 8];
	size_t			len;
	enum sasl_status	st;

	user[0] = '\0';
	password[0] = '\0';
	if (strcmp(text, "*") == 0)
		return SASL_CANCEL;
	if (sasl_b64_decode(text, buf, sizeof(buf), &len) == -1) {
		explicit_bzero(buf, sizeof(buf));
		/* Too long for any user and password, or not base64. */
		return strlen(text) / 4 * 3 > sizeof(buf) ? SASL_BAD_MESSAGE :
		    SASL_BAD_BASE64;
	}
	st = sasl_plain_split(buf, len, user, usize, password, psize);
	explicit_bzero(buf, sizeof(buf));
	return st;
}

enum sasl_status
sasl_login(const char *text, char *out, size_t outsize, int nonempty)
{
	unsigned char	buf[SASL_PASSWORD_MAX + 4];
	size_t		len;
	int		rc;

	out[0] = '\0';
	if (strcmp(text, "*") == 0)
		return SASL_CANCEL;
	if (sasl_b64_decode(text, buf, sizeof(buf), &len) == -1) {
		explicit_bzero(buf, sizeof(buf));
		return strlen(text) / 4 * 3 > sizeof(buf) ? SASL_BAD_MESSAGE :
		    SASL_BAD_BASE64;
	}
	rc = memchr(buf, '\0', len) != NULL || (nonempty && len == 0) ||
	    sasl_field(buf, len, out, outsize) == -1;
	explicit_bzero(buf, sizeof(buf));
	return rc ? SASL_BAD_MESSAGE : SASL_OK;
}
