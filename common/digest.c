/*
 * digest.c - SHA-256 over mbedTLS 2.28 (the *_ret functions; 3.x renames
 * them, which only this file has to follow).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/util.h"

#define DIGEST_READ	(64 * 1024)

struct digest {
	mbedtls_sha256_context	ctx;
};

struct digest *
digest_new(void)
{
	struct digest	*d = xcalloc(1, sizeof(*d));

	mbedtls_sha256_init(&d->ctx);
	if (mbedtls_sha256_starts_ret(&d->ctx, 0) != 0)
		fatalx("digest_new: sha256 start failed");
	return d;
}

void
digest_update(struct digest *d, const void *p, size_t len)
{
	if (len > 0 && mbedtls_sha256_update_ret(&d->ctx, p, len) != 0)
		fatalx("digest_update: sha256 update failed");
}

void
digest_final(struct digest *d, char out[DIGEST_SIZE])
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		sum[32];
	char			*p;
	size_t			i;

	if (mbedtls_sha256_finish_ret(&d->ctx, sum) != 0)
		fatalx("digest_final: sha256 finish failed");
	memcpy(out, DIGEST_PREFIX, sizeof(DIGEST_PREFIX) - 1);
	p = out + sizeof(DIGEST_PREFIX) - 1;
	for (i = 0; i < sizeof(sum); i++) {
		*p++ = hex[sum[i] >> 4];
		*p++ = hex[sum[i] & 0x0f];
	}
	*p = '\0';
	digest_free(d);
}

void
digest_free(struct digest *d)
{
	if (d == NULL)
		return;
	mbedtls_sha256_free(&d->ctx);
	free(d);
}

int
digest_file(int fd, char out[DIGEST_SIZE])
{
	struct digest	*d = digest_new();
	char		*buf = xmalloc(DIGEST_READ);
	off_t		 off = 0;
	ssize_t		 n;
	int		 saved;

	for (;;) {
		n = pread(fd, buf, DIGEST_READ, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		digest_update(d, buf, (size_t)n);
		off += n;
	}
	saved = errno;
	free(buf);
	if (n == -1) {
		digest_free(d);
		errno = saved;
		return -1;
	}
	digest_final(d, out);
	return 0;
}

int
digest_valid(const char *s)
{
	size_t	i, n = sizeof(DIGEST_PREFIX) - 1;

	if (strncmp(s, DIGEST_PREFIX, n) != 0 || strlen(s + n) != 64)
		return 0;
	for (i = n; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}
