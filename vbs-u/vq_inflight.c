/*
 * vq_inflight.c - libvbsu's in-flight tracking for split rings: vhost-user's
 * INFLIGHT_SHMFD region (QEMU's docs/interop/vhost-user.rst, "Inflight I/O
 * tracking", split layout), kept up to date as chains are taken and used,
 * and read back when a ring starts so a back-end that died with requests in
 * flight resubmits them.
 *
 * The region lives in shared memory that outlives the back-end (the
 * front-end keeps its fd), so every update is ordered so that a back-end
 * killed between any two stores leaves it recoverable:
 *   taking a chain:  counter, then inflight = 1;
 *   using chains:    next / last_batch_head for the batch, used->idx
 *                    published, inflight = 0 for the batch, then used_idx.
 * At start, a used_idx behind the ring's used->idx says the last batch was
 * published but not yet cleared; the batch list says which heads it was.
 *
 * The region is the front-end's memory too, so it is hostile input like the
 * ring: each field is read once into a local and checked (indexes < queue
 * size, a batch no longer than the ring), and a region that does not add up
 * refuses the start instead of being trusted.
 */
#include "vq_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* One descriptor head's state (the spec's DescStateSplit). */
struct vq_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;    /* the last used batch, as a list */
	uint64_t counter; /* order in which heads were taken */
};

/* One queue's region (the spec's QueueRegionSplit). */
struct vq_inflight_queue {
	uint64_t features;
	uint16_t version; /* 0: never written */
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vq_inflight_desc desc[];
};

_Static_assert(sizeof(struct vq_inflight_desc) == 16, "DescStateSplit is 16 bytes");
_Static_assert(offsetof(struct vq_inflight_queue, desc) == 16,
	       "QueueRegionSplit header is 16 bytes");

#define REGION_VERSION 1
/* Each queue's region starts on its own cache line. */
#define FAR_USED "in-flight region: its used index is further from the ring's than a ring holds"
#define REGION_ALIGN 64

struct vq_tracker {
	volatile struct vq_inflight_queue *q; /* NULL: adopted, nothing recorded */
	uint64_t counter;   /* the next head taken gets this */
	uint16_t *resubmit; /* heads to hand out again, oldest first */
	uint16_t nresubmit, next_resubmit;
	uint16_t last_taken; /* the head vq_inflight_untake gives back */
};

size_t vq_inflight_queue_bytes(uint16_t queue_size)
{
	size_t n = sizeof(struct vq_inflight_queue) +
		   (size_t)queue_size * sizeof(struct vq_inflight_desc);

	return (n + REGION_ALIGN - 1) & ~(size_t)(REGION_ALIGN - 1);
}

struct taken {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	const struct taken *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

/* A region the back-end never wrote: start it for this ring, empty. */
static void region_init(volatile struct vq_inflight_queue *q, uint16_t size, uint16_t used)
{
	for (uint16_t i = 0; i < size; i++) {
		q->desc[i].inflight = 0;
		q->desc[i].next = 0;
		q->desc[i].counter = 0;
	}
	q->features = 0;
	q->desc_num = size;
	q->last_batch_head = 0;
	q->used_idx = used;
	/* Release: the rest is in place before the region says it is valid. */
	__atomic_store_n(&q->version, REGION_VERSION, __ATOMIC_RELEASE);
}

/*
 * Finish what a back-end that died while using a batch left: the used
 * entries are published (used->idx moved) but the heads may still be
 * marked.  Clear the batch's heads, then say the region caught up.
 */
static const char *finish_last_batch(volatile struct vq_inflight_queue *q, uint16_t size,
				     uint16_t ring_used)
{
	uint16_t batch = (uint16_t)(ring_used - q->used_idx), head = q->last_batch_head;

	if (!batch)
		return NULL;
	if (batch > size)
		return FAR_USED;
	for (uint16_t i = 0; i < batch; i++) {
		if (head >= size)
			return "in-flight region: the last batch names a head outside the ring";
		q->desc[head].inflight = 0;
		head = q->desc[head].next;
	}
	__atomic_store_n(&q->used_idx, ring_used, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The heads a region says are in flight, oldest first, into taken[] (size
 * entries): those marked, less the last used batch where the region's
 * used_idx is behind the ring's (published, not yet cleared).  fix: also
 * clear that batch and bring used_idx up in the region (a back-end taking
 * the region over); else the region is only read.  The count, or -1 with
 * *why set for a region that does not add up.
 */
static int collect(volatile struct vq_inflight_queue *q, size_t len, uint16_t size,
		   uint16_t ring_used, bool fix, struct taken *taken, const char **why)
{
	uint16_t version = __atomic_load_n(&q->version, __ATOMIC_ACQUIRE), batch, head;
	uint8_t *in_batch;
	int n = 0;

	*why = NULL;
	if (len < vq_inflight_queue_bytes(size))
		*why = "in-flight region too small for the ring";
	else if (version != REGION_VERSION)
		*why = "in-flight region of an unknown version";
	else if (q->desc_num != size)
		*why = "in-flight region made for another ring size";
	if (*why)
		return -1;
	if (fix) {
		*why = finish_last_batch(q, size, ring_used);
		if (*why)
			return -1;
	}
	batch = (uint16_t)(ring_used - q->used_idx);
	if (batch > size) {
		*why = FAR_USED;
		return -1;
	}
	in_batch = calloc(size, 1);
	if (!in_batch) {
		*why = "no memory for in-flight tracking";
		return -1;
	}
	head = q->last_batch_head;
	for (uint16_t i = 0; i < batch; i++) {
		if (head >= size) {
			*why = "in-flight region: the last batch names a head outside the ring";
			free(in_batch);
			return -1;
		}
		in_batch[head] = 1;
		head = q->desc[head].next;
	}
	for (uint16_t i = 0; i < size; i++) {
		uint8_t inflight = q->desc[i].inflight;

		if (inflight > 1) {
			*why = "in-flight region: a head neither in flight nor free";
			free(in_batch);
			return -1;
		}
		if (!inflight || in_batch[i])
			continue;
		taken[n].counter = q->desc[i].counter;
		taken[n].head = i;
		n++;
	}
	free(in_batch);
	qsort(taken, (size_t)n, sizeof(*taken), by_counter);
	return n;
}

/* A tracker handing out n heads of taken[] again; NULL without memory. */
static struct vq_tracker *tracker_new(volatile struct vq_inflight_queue *q,
				      const struct taken *taken, int n)
{
	struct vq_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->q = q;
	if (n) {
		t->resubmit = malloc((size_t)n * sizeof(*t->resubmit));
		if (!t->resubmit) {
			free(t);
			return NULL;
		}
	}
	for (int i = 0; i < n; i++) {
		t->resubmit[i] = taken[i].head;
		if (taken[i].counter >= t->counter)
			t->counter = taken[i].counter + 1;
	}
	t->nresubmit = (uint16_t)n;
	return t;
}

/* Attach (region recorded in, fix) or adopt (only read) a region. */
static int take_over(struct vqueue *vq, void *region, size_t len, bool fix)
{
	volatile struct vq_inflight_queue *q = region;
	struct taken *taken;
	struct vq_tracker *t;
	uint16_t ring_used;
	const char *why;
	int n;

	if (!vq->ready || vq->packed) {
		vq->error = "in-flight tracking needs a split ring that is set up";
		return -EINVAL;
	}
	if (!region || ((uintptr_t)region & 7)) {
		vq->error = "in-flight region too small for the ring";
		return -EINVAL;
	}
	taken = malloc((size_t)vq->size * sizeof(*taken));
	if (!taken) {
		vq->error = "no memory for in-flight tracking";
		return -ENOMEM;
	}
	ring_used = vq_used_idx_in_ring(vq);
	n = collect(q, len, vq->size, ring_used, fix, taken, &why);
	t = n < 0 ? NULL : tracker_new(fix ? q : NULL, taken, n);
	free(taken);
	if (n < 0) {
		vq->error = why;
		return -EINVAL;
	}
	if (!t) {
		vq->error = "no memory for in-flight tracking";
		return -ENOMEM;
	}
	vq_inflight_detach(vq);
	vq->tracker = t;
	/*
	 * Every avail entry up to used->idx + (heads in flight) was taken:
	 * the ones used, and the ones to resubmit.  The front-end's base may
	 * be behind (it could not ask a dead back-end where it stopped).
	 */
	vq_set_indexes(vq, (uint16_t)(ring_used + n), ring_used);
	return n;
}

int vq_inflight_attach(struct vqueue *vq, void *region, size_t len, uint16_t base)
{
	volatile struct vq_inflight_queue *q = region;
	int n;

	if (vq->ready && !vq->packed && region && !((uintptr_t)region & 7) &&
	    len >= vq_inflight_queue_bytes(vq->size) &&
	    __atomic_load_n(&q->version, __ATOMIC_ACQUIRE) == 0) {
		/* Nothing recorded: as without tracking. */
		struct vq_tracker *t = tracker_new(q, NULL, 0);

		if (!t) {
			vq->error = "no memory for in-flight tracking";
			return -ENOMEM;
		}
		region_init(q, vq->size, vq_used_idx_in_ring(vq));
		vq_inflight_detach(vq);
		vq->tracker = t;
		vq_set_indexes(vq, base, vq_used_idx_in_ring(vq));
		return 0;
	}
	n = take_over(vq, region, len, true);
	return n < 0 ? n : 0;
}

int vq_inflight_adopt(struct vqueue *vq, const void *region, size_t len)
{
	return take_over(vq, (void *)(uintptr_t)region, len, false);
}

int vq_inflight_pending(const void *region, size_t len, uint16_t size, uint16_t ring_used)
{
	struct taken *taken = malloc((size_t)size * sizeof(*taken));
	const char *why;
	int n;

	if (!taken || !region || ((uintptr_t)region & 7) || !size) {
		free(taken);
		return -EINVAL;
	}
	n = collect((void *)(uintptr_t)region, len, size, ring_used, false, taken, &why);
	free(taken);
	return n < 0 ? -EINVAL : n;
}

void vq_inflight_detach(struct vqueue *vq)
{
	if (!vq->tracker)
		return;
	free(vq->tracker->resubmit);
	free(vq->tracker);
	vq->tracker = NULL;
}

unsigned vq_inflight_resubmits(const struct vqueue *vq)
{
	const struct vq_tracker *t = vq->tracker;

	return t ? (unsigned)(t->nresubmit - t->next_resubmit) : 0;
}

bool vq_inflight_next(struct vqueue *vq, uint16_t *head)
{
	struct vq_tracker *t = vq->tracker;

	if (!t || t->next_resubmit == t->nresubmit)
		return false;
	*head = t->resubmit[t->next_resubmit++];
	return true;
}

void vq_inflight_unnext(struct vqueue *vq)
{
	struct vq_tracker *t = vq->tracker;

	if (t && t->next_resubmit)
		t->next_resubmit--;
}

void vq_inflight_take(struct vqueue *vq, uint16_t head)
{
	volatile struct vq_inflight_queue *q = vq->tracker->q;

	if (!q)
		return;
	/* The order the spec gives: counter first, then the mark, so a
	 * marked head always has its place in the order. */
	q->desc[head].counter = vq->tracker->counter++;
	__atomic_store_n(&q->desc[head].inflight, 1, __ATOMIC_RELEASE);
	vq->tracker->last_taken = head;
}

void vq_inflight_untake(struct vqueue *vq)
{
	if (!vq->tracker->q)
		return;
	__atomic_store_n(&vq->tracker->q->desc[vq->tracker->last_taken].inflight, 0,
			 __ATOMIC_RELEASE);
}

void vq_inflight_batch(struct vqueue *vq, const uint16_t *heads, int n)
{
	volatile struct vq_inflight_queue *q = vq->tracker->q;

	if (!q)
		return;
	for (int i = 0; i < n; i++) {
		if (heads[i] >= vq->size)
			continue; /* a device bug the used ring gets anyway */
		q->desc[heads[i]].next = q->last_batch_head;
		/* Release: the link is in place before the list's head moves. */
		__atomic_store_n(&q->last_batch_head, heads[i], __ATOMIC_RELEASE);
	}
}

void vq_inflight_used(struct vqueue *vq, const uint16_t *heads, int n)
{
	volatile struct vq_inflight_queue *q = vq->tracker->q;

	if (!q)
		return;
	/* used->idx is already published (the caller's release store). */
	for (int i = 0; i < n; i++)
		if (heads[i] < vq->size)
			__atomic_store_n(&q->desc[heads[i]].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&q->used_idx, vq->used_idx, __ATOMIC_RELEASE);
}
