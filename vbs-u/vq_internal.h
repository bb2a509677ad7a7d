/*
 * vq_internal.h - what libvbsu's two ring layouts share inside the library:
 * failing a queue, the per-chain walk and its buffer checks (vq.c), and the
 * packed layout's half of each public queue function (vq_packed.c), which
 * vq.c calls when the queue is packed.  Not for back-ends: they see vbsu.h.
 */
#ifndef VDM_VQ_INTERNAL_H
#define VDM_VQ_INTERNAL_H

#include "vbsu.h"

/* vq->ret_id when no chain can be given back. */
#define VQ_NO_ID UINT16_MAX

/* Per-chain walk state, the same for both layouts. */
struct vq_walk {
	uint64_t read_len, write_len;	/* 64-bit so a 32-bit overflow is visible */
	uint32_t ndesc;			/* buffer descriptors walked so far */
	int n, nread;
	bool writable_seen;
};

/*
 * Record the first violation and break the queue.  Later calls keep
 * returning the first errno so the device sees one consistent failure.
 * Returns the queue's errno.
 */
int vq_fail(struct vqueue *vq, int err, const char *why);

/* True when gpa, or its host address, is not a multiple of align (a power of two). */
bool vq_misaligned(uint64_t gpa, const void *hva, uint64_t align);

/*
 * Validate one buffer of a chain (direct or from an indirect table) and
 * append its iovec: the chain-length bound, readable before writable, the
 * 32-bit byte totals, the caller's niov, guest RAM.  Returns 0 or, with the
 * queue broken, its errno.
 */
int vq_walk_buffer(struct vqueue *vq, struct vq_walk *w, uint64_t addr, uint32_t len,
		   bool writable, struct iovec *iov, int niov);

/* ---- in-flight tracking, split rings (vq_inflight.c); vq->tracker set ---- */

/* Free the tracker (vq_reset); the region stays as it is. */
void vq_inflight_detach(struct vqueue *vq);
/* The next head to resubmit, oldest first; false when none is left.
 * Safe without a tracker. */
bool vq_inflight_next(struct vqueue *vq, uint16_t *head);
/* Give the head vq_inflight_next handed out last back (vq_retchain). */
void vq_inflight_unnext(struct vqueue *vq);
/* head was taken from the avail ring: mark it in flight. */
void vq_inflight_take(struct vqueue *vq, uint16_t head);
/* The head taken last was given back (vq_retchain): not in flight. */
void vq_inflight_untake(struct vqueue *vq);
/* Before n heads go on the used ring: record them as the last batch. */
void vq_inflight_batch(struct vqueue *vq, const uint16_t *heads, int n);
/* After used->idx was published: the batch is no longer in flight. */
void vq_inflight_used(struct vqueue *vq, const uint16_t *heads, int n);

/* ---- packed layout (vq_packed.c); callers have checked vq->ready ---- */

/* The packed ring's three parts in host memory, or why they cannot be used. */
const char *vq_packed_translate(const struct vq_mem *mem, uint16_t size, uint64_t desc_gpa,
				uint64_t driver_gpa, uint64_t device_gpa, void **desc,
				void **driver, void **device);
/* The buffer id table (vq->size entries): 0 or -ENOMEM. */
int vq_packed_alloc(struct vqueue *vq);
bool vq_packed_has_work(struct vqueue *vq);
int vq_packed_getchain(struct vqueue *vq, struct vq_chain *chain, struct iovec *iov, int niov);
void vq_packed_set_indexes(struct vqueue *vq, uint16_t last_avail, uint16_t used_idx);
void vq_packed_retchain(struct vqueue *vq);
void vq_packed_relchains(struct vqueue *vq, const uint16_t *heads, const uint32_t *lens, int n);
bool vq_packed_endchains(struct vqueue *vq);
void vq_packed_set_notify(struct vqueue *vq, bool enable);

#endif /* VDM_VQ_INTERNAL_H */
