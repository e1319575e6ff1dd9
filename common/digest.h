/*
 * digest.h - the content digest that the queue records in each envelope
 * ("digest sha256:<64 lower-case hex digits>") and that recovery and
 * delivery check against the content file.  SHA-256 from mbedTLS; no
 * mbedTLS type appears outside common/digest.c.
 */
#ifndef SM_DIGEST_H
#define SM_DIGEST_H

#include <stddef.h>

#define DIGEST_PREFIX	"sha256:"
#define DIGEST_SIZE	(7 + 64 + 1)	/* "sha256:" + hex + NUL */

struct digest;

/* A new running digest; never NULL (dies on out-of-memory). */
struct digest *digest_new(void);
void digest_update(struct digest *d, const void *p, size_t len);
/* Writes "sha256:<hex>" into out and frees d. */
void digest_final(struct digest *d, char out[DIGEST_SIZE]);
void digest_free(struct digest *d);

/* The digest of a whole open file, read from offset 0 with pread (the
 * file offset is not moved).  0, or -1 with errno. */
int digest_file(int fd, char out[DIGEST_SIZE]);
/* 1 if s is a well-formed "sha256:<64 lower-case hex>". */
int digest_valid(const char *s);

#endif
