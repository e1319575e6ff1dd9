/*
 * sts_txt.h - the MTA-STS TXT record at _mta-sts.<policy domain>
 * (RFC 8461 3.1; ../shared/spec/mta-sts.md rules 2 and 3).
 *
 * A pure function: no I/O, no clock, no allocation.  The caller did the
 * lookup (common/dns.h), which already joined the strings of each record
 * (rule 2: records are counted, not strings).
 */
#ifndef SM_STS_TXT_H
#define SM_STS_TXT_H

#include <stddef.h>

#define STS_ID_MAX	32	/* rule 3: 1 to 32 letters or digits */

enum sts_txt_status {
	STS_TXT_OK,		/* exactly one STSv1 record, valid id */
	STS_TXT_NONE,		/* no record begins with v=STSv1 */
	STS_TXT_MULTIPLE,	/* more than one STSv1 record: no policy */
	STS_TXT_INVALID,	/* one STSv1 record, id missing or bad */
};

/* One record: its strings joined with no separator; may hold NULs. */
struct sts_txt_rec {
	const char	*data;
	size_t		 len;
};

/*
 * Reads the records of one TXT answer.  A record counts when it begins
 * with "v=STSv1", then optional spaces (SP or HTAB), then ';'; the others
 * are discarded.  The one left must have "id=" with 1 to 32 ASCII letters
 * or digits, as a field of its own ("key=value" fields separated by ';'
 * with optional spaces around them); unknown fields are ignored; the
 * first id= wins.  STS_TXT_OK copies the id, NUL-terminated, into id.
 * Otherwise id is "" and why (when not NULL) says what was wrong, for
 * logs: "no v=STSv1 record", "2 v=STSv1 records", "id missing",
 * "bad id \"...\"" (printable bytes only).
 */
enum sts_txt_status sts_txt_parse(const struct sts_txt_rec *recs, size_t n,
    char id[STS_ID_MAX + 1], char *why, size_t whylen);

/* "ok", "none", "multiple", "invalid". */
const char *sts_txt_status_str(enum sts_txt_status st);

#endif
