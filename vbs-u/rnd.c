/*
 * rnd.c - VBS-U virtio-rnd back-end: guest buffers filled from OpenSSL's
 * CSPRNG (RAND_bytes), whose DRBG is checked for a seed at start-up.
 */
#include "vbsu.h"

#include <errno.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#define RND_MAX_IOV 64

int vbsu_rnd_init(char *err, size_t errlen)
{
	unsigned char probe[32];

	/* RAND_status is 1 only once the DRBG has been seeded from the OS. */
	if (RAND_status() != 1 || RAND_bytes(probe, sizeof(probe)) != 1) {
		snprintf(err, errlen, "OpenSSL's random generator could not be seeded: %s",
			 ERR_reason_error_string(ERR_get_error()) ?: "no entropy source");
		return -EIO;
	}
	return 0;
}

int vbsu_rnd_process(struct vqueue *vq, int budget)
{
	struct iovec iov[RND_MAX_IOV];
	struct vq_chain c;
	int done = 0, n = 0;

	while (done < budget && (n = vq_getchain(vq, &c, iov, RND_MAX_IOV)) > 0) {
		uint32_t written = 0;

		/* Readable buffers mean nothing to this device (5.4.6): skip them. */
		for (int i = c.nread; i < n; i++) {
			unsigned char *p = iov[i].iov_base;
			size_t left = iov[i].iov_len;

			while (left) {
				/* RAND_bytes takes an int length. */
				int chunk = left > (1u << 30) ? 1 << 30 : (int)left;

				if (RAND_bytes(p, chunk) != 1)
					goto short_fill; /* the guest sees a short read */
				p += chunk;
				left -= (size_t)chunk;
				written += (uint32_t)chunk;
			}
		}
short_fill:
		vq_relchain(vq, c.head, written);
		done++;
	}
	return n < 0 ? n : done;
}
