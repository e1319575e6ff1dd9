/*
 * sasl.h - the client's side of AUTH PLAIN (RFC 4616) and AUTH LOGIN as
 * the receiver reads it: base64 (RFC 4648, padding required, no blanks)
 * and the PLAIN message "authzid NUL authcid NUL passwd".
 *
 * Pure.  A user or password that does not fit its buffer, holds a NUL or
 * is empty (a user) is refused; an authzid is taken only when empty or
 * the same as the authcid (no acting as someone else).  Callers wipe the
 * password buffers (explicit_bzero) when done; the functions here wipe
 * what they decoded on every path.
 */
#ifndef SM_SASL_H
#define SM_SASL_H

#include <stddef.h>

#define SASL_USER_MAX		255	/* lookup/creds.h CREDS_USER_MAX */
#define SASL_PASSWORD_MAX	511	/* CREDS_PASSWORD_MAX */

enum sasl_status {
	SASL_OK = 0,
	SASL_CANCEL,		/* the client sent "*": 501 5.0.0 */
	SASL_BAD_BASE64,	/* not base64: 501 5.5.2 */
	SASL_BAD_MESSAGE,	/* no two NULs, an empty user, too long: 535 */
	SASL_AUTHZID,		/* an authzid that is not the user: 535 */
};

/*
 * Decodes text into out (outsize octets); *outlen = the octets.  "=" is
 * the empty string (RFC 4954 4).  -1 if text is not base64 or the result
 * does not fit.
 */
int sasl_b64_decode(const char *text, unsigned char *out, size_t outsize,
    size_t *outlen);

/* A PLAIN response (base64 text, or "*"): user and password as C
 * strings into their buffers. */
enum sasl_status sasl_plain(const char *text, char *user, size_t usize,
    char *password, size_t psize);

/* One LOGIN response (base64 text, or "*") into out as a C string;
 * empty is refused when nonempty is set (the user name). */
enum sasl_status sasl_login(const char *text, char *out, size_t outsize,
    int nonempty);

#endif
