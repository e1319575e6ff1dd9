/*
 * local.h - the local delivery agents (run in the child, after the
 * privilege drop).
 */
#ifndef SM_LOCAL_H
#define SM_LOCAL_H

#include <stdint.h>
#include <time.h>

struct local_msg {
	int		 fd;		/* the content as queued: CRLF lines, our
					 * Received: first; read with pread from 0 */
	uint64_t	 size;
	const char	*sender;	/* "" = null sender; no angle brackets */
	const char	*rcpt;		/* Delivered-To: value, lower case */
	const char	*hostname;	/* this host: mbox From_ line is not it */
	time_t		 arrival;
};
enum local_status { LOCAL_OK, LOCAL_TEMP, LOCAL_PERM };
struct local_result {
	enum local_status status;
	char	enh[16];	/* "2.0.0", "4.2.2", "5.4.6", ... */
	char	text[512];	/* one line, for logs and bounces */
};

#endif
