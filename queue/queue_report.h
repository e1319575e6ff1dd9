/*
 * queue_report.h - a delivery status report about a queued message (a
 * bounce, a delay warning, or the postmaster notice that replaces a
 * bounce of a message from the null sender), made into a new message of
 * the spool for the commit worker: its content (queue/dsn.h) written to a
 * new file in incoming/, its envelope from the null sender to the
 * original sender (or to postmaster@hostname, with NOTIFY=NEVER, so that
 * a notice never produces another).
 *
 * The caller hands the file and the envelope to the commit worker like a
 * received message (queue_commit.h); until that commit ends nothing of the
 * report is acknowledged anywhere.
 */
#ifndef SM_QUEUE_REPORT_H
#define SM_QUEUE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "queue/envelope.h"
#include "queue/queue_id.h"

struct config;
struct dsn_rcpt;

struct queue_report {
	char		 id[QUEUE_ID_SIZE];	/* the report's queue ID */
	int		 fd;			/* its content file, written */
	struct envelope	 env;			/* its envelope, checked */
};

/* Makes the report about dr[0..n) of env (read from the spool at
 * spoolfd), at time now, into rep; 0, or -1 (logged; nothing is left in
 * the spool). */
int queue_report_make(int spoolfd, const struct config *cfg,
    const struct envelope *env, const struct dsn_rcpt *dr, size_t n,
    uint64_t now, struct queue_report *rep);

/* The host name part of a relay "mx.example.org[192.0.2.1]:25". */
void queue_report_relay_host(const char *relay, char *out, size_t size);

/* The enhanced status of a last error "451 4.7.1 text" into out; "" when
 * it has none of class 4. */
void queue_report_error_status(const char *error, char *out, size_t size);

#endif
