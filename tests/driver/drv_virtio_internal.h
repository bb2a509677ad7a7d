/*
 * drv_virtio_internal.h - what the test driver's split-ring code
 * (drv_virtio.c) and packed-ring code (drv_vq_packed.c) share.  Not for
 * tests: they see drv_virtio.h.
 */
#ifndef VDM_TEST_DRV_VIRTIO_INTERNAL_H
#define VDM_TEST_DRV_VIRTIO_INTERNAL_H

#include "drv_virtio.h"

/* Every ring part starts on its own page (more than 2.7 and 2.8 ask). */
#define DRV_RING_ALIGN 4096

/* "drv_virtio: ..." on stderr. */
void drv_virtio_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline bool drv_virtio_has(const struct drv_virtio *v, unsigned bit)
{
	return v->features >> bit & 1;
}

/* ---- packed layout (drv_vq_packed.c); vq->packed is set ---- */

/* Lengths of the three ring parts of a packed queue of size entries. */
void drv_pq_lengths(uint16_t size, uint64_t len[3]);
/* The driver's state of a new, zeroed ring. */
void drv_pq_init(struct drv_vq *vq);
int drv_pq_post(struct drv_virtio *v, struct drv_vq *vq, const struct drv_buf *out, int nout,
		const struct drv_buf *in, int nin, bool indirect);
bool drv_pq_kick_needed(struct drv_virtio *v, struct drv_vq *vq);
void drv_pq_publish_event(struct drv_virtio *v, struct drv_vq *vq);
int drv_pq_get_used(struct drv_virtio *v, struct drv_vq *vq, uint16_t *id, uint32_t *len);

#endif /* VDM_TEST_DRV_VIRTIO_INTERNAL_H */
