/*
 * sts_policy.h - the MTA-STS policy file and its MX patterns (RFC 8461
 * 3.2 and 4.1; ../shared/spec/mta-sts.md rules 13 to 19).
 *
 * Pure functions: no I/O, no clock.  The fetcher (sts_fetch.h) gets the
 * bytes; the cache (sts_cache.h) keeps them with the parsed form.
 */
#ifndef SM_STS_POLICY_H
#define SM_STS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define STS_BODY_MAX	(64 * 1024)	/* rule 9 */
#define STS_MAX_AGE_MAX	31557600u	/* rule 15: larger values are cut */
#define STS_MX_MAX	64		/* mx lines kept; more: invalid */
#define STS_PATTERN_MAX	253

enum sts_mode {
	STS_MODE_NONE = 0,	/* "none" */
	STS_MODE_TESTING,
	STS_MODE_ENFORCE,
};

struct sts_policy {
	enum sts_mode	 mode;
	uint32_t	 max_age;	/* seconds, at most STS_MAX_AGE_MAX */
	size_t		 nmx;
	/* The mx values as written (trailing whitespace gone), in order,
	 * including those that can never match (rule 18): kept so that
	 * "strictmailctl sts show" shows the policy as published. */
	char		*mx[STS_MX_MAX];
};

/*
 * Parses a policy body of len bytes (it may hold NULs; more than
 * STS_BODY_MAX is invalid).  Rules 13 to 17:
 *  - lines end with LF or CRLF (mixed allowed); the last line ending is
 *    optional; a UTF-8 byte order mark at the very start is skipped;
 *    blank lines (empty or only spaces and tabs) are ignored;
 *  - "key: value": the key is case-sensitive ("version", "mode",
 *    "max_age", "mx"); optional SP/HTAB after the colon; trailing SP/HTAB
 *    after a value is ignored; unknown keys are ignored; a line with no
 *    colon, or an empty key, makes the policy invalid;
 *  - version must be "STSv1"; mode "enforce", "testing" or "none";
 *    max_age 1 to 10 ASCII digits (0 allowed), values above
 *    STS_MAX_AGE_MAX cut to it;
 *  - every key but mx: the first occurrence wins (later ones are not
 *    even checked); each mx line adds one pattern (empty value: invalid);
 *  - version, mode and max_age are required; at least one mx unless the
 *    mode is none;
 *  - a NUL byte in a line that is not blank makes the policy invalid (a
 *    value is never cut short at it); a CR not right before an LF is an
 *    ordinary byte (so a value ending in one is not "enforce" nor a host
 *    name).
 * 0 with p filled (release with sts_policy_free), or -1 with p empty and
 * why saying what is wrong, for logs and "strictmailctl sts show"
 * ("line 3: max_age \"-1\" is not 1 to 10 digits", "mode missing",
 * "no mx in enforce mode", "body larger than 65536 bytes").
 */
int sts_policy_parse(const char *body, size_t len, struct sts_policy *p,
    char *why, size_t whylen);
void sts_policy_free(struct sts_policy *p);
/* A deep copy (dst is overwritten, not freed first). */
void sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src);

/* The len bytes at src for a message: bytes outside printable ASCII,
 * '"' and '\\' become '?'; cut with "..." when they do not fit. */
void sts_printable(char *dst, size_t size, const void *src, size_t len);

/* "enforce", "testing", "none". */
const char *sts_mode_str(enum sts_mode m);
/* The mode of a name as above; -1 for anything else. */
int sts_mode_parse(const char *s);

/*
 * Rule 18 and 19: 1 when pattern matches host.  host is an MX host name
 * from DNS (A-labels).  Case is ignored; one trailing dot on either is
 * ignored.  "*.example.com" matches exactly one more left-most label
 * ("mx.example.com"; not "example.com", not "a.b.example.com").  A
 * pattern that is not a host name never matches: an IP address (v4 or
 * v6, bracketed or not), a non-ASCII byte, "*" alone, "*." alone, a "*"
 * anywhere but as the whole first label ("*.*.com", "m*.x.com"), an
 * empty label (".example.com", "a..b"), a character other than letters,
 * digits, '-' and '.', or more than 253 bytes.
 */
int sts_mx_match(const char *pattern, const char *host);
/* 1 when any mx of p matches host. */
int sts_policy_match(const struct sts_policy *p, const char *host);

#endif
