/*
 * rnd_guest.h - a virtio-rnd driven by the test driver, for the tests of
 * vdm's own entropy device and of vdm-vhost-user's: bring it up, read
 * random bytes, and run bursts of requests with EVENT_IDX kick
 * suppression.  Header-only: each test is one program.
 */
#ifndef VDM_TEST_RND_GUEST_H
#define VDM_TEST_RND_GUEST_H

#include "drv.h"
#include "drv_virtio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Probe the virtio-rnd at 00:SLOT.0 (drv_virtio_probe_slot), negotiate
 * features, set up its interrupts (MSI-X or INTx) and its queue. */
static inline bool rnd_up(struct drv *d, struct drv_func *f, struct drv_virtio *v, unsigned slot,
			  bool msix, uint64_t features)
{
	return drv_virtio_probe_slot(v, d, f, slot) == 0 && drv_virtio_negotiate(v, features) == 0 &&
	       drv_virtio_setup_irq(v, msix) == 0 && drv_virtio_setup_vq(v, 0, 0) == 0;
}

/* Read len random bytes at gpa with one request: the used length, or -1
 * when it did not complete within 5 s. */
static inline int64_t rnd_read(struct drv_virtio *v, uint64_t gpa, uint32_t len)
{
	struct drv_buf in = { gpa, len };
	uint16_t id;
	uint32_t got;

	if (drv_virtio_post(v, 0, NULL, 0, &in, 1, false) < 0)
		return -1;
	drv_virtio_kick(v, 0);
	if (drv_virtio_wait_used(v, 0, &id, &got, 5000) != 1)
		return -1;
	return got;
}

/*
 * 25 bursts of four 32-byte requests from buf (128 bytes of guest RAM),
 * each kicked only when the device asks for it (EVENT_IDX, virtio 1.2,
 * 2.7.10): how many of the 100 completed with 32 bytes; *kicks counts the
 * kicks sent.
 */
static inline int rnd_bursts(struct drv_virtio *v, uint64_t buf, int *kicks)
{
	int done = 0;

	for (int burst = 0; burst < 25; burst++) {
		for (int i = 0; i < 4; i++) {
			struct drv_buf in = { buf + 32 * (uint64_t)i, 32 };

			drv_virtio_post(v, 0, NULL, 0, &in, 1, false);
		}
		if (drv_virtio_kick_needed(v, 0)) {
			drv_virtio_kick(v, 0);
			(*kicks)++;
		}
		for (int i = 0; i < 4; i++) {
			uint16_t id;
			uint32_t len;

			if (drv_virtio_wait_used(v, 0, &id, &len, 2000) == 1 && len == 32)
				done++;
		}
	}
	return done;
}

#endif /* VDM_TEST_RND_GUEST_H */
