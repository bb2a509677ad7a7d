/*
 * drv_vq_packed.c - the test driver's packed virtqueues (virtio 1.2, 2.8),
 * written from the specification: the driver's half of the descriptor ring
 * (buffer ids, AVAIL/USED bits and the wrap counters, lists linked by NEXT,
 * indirect tables), used descriptors read back, and event suppression in
 * both directions.  drv_virtio.c's queue functions come here when the
 * device and the driver negotiated VIRTIO_F_RING_PACKED.
 *
 * Positions (struct drv_vq's avail_pos, used_pos, kicked_pos) carry a ring
 * index in bits 0-14 and the wrap counter that goes with it in bit 15, the
 * shape of the event suppression areas' off_wrap (2.8.14).
 *
 * Guest RAM is shared with vdm: a list's first descriptor gets its flags
 * last, with a release store, so the device never sees part of a list; a
 * used descriptor's flags are read with an acquire load before its id.
 */
#include "drv_virtio_internal.h"

#include <string.h>

/* 2.8.13 */
struct pq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* 2.8.14 */
struct pq_event {
	uint16_t off_wrap;
	uint16_t flags;
};

_Static_assert(sizeof(struct pq_desc) == 16, "packed descriptor layout");

#define WRAP 0x8000u
#define F_AVAIL ((uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL))
#define F_USED ((uint16_t)(1u << VRING_PACKED_DESC_F_USED))
#define POS_INDEX(p) ((uint16_t)((p) & (WRAP - 1)))

static uint16_t pos_forward(const struct drv_vq *vq, uint16_t pos, unsigned n)
{
	unsigned idx = POS_INDEX(pos) + n;
	uint16_t wrap = pos & WRAP;

	if (idx >= vq->size) {
		idx -= vq->size;
		wrap ^= WRAP;
	}
	return (uint16_t)(idx | wrap);
}

/* Slots from position a forward to b, on the circle of two laps (2.8.1). */
static unsigned pos_distance(const struct drv_vq *vq, uint16_t a, uint16_t b)
{
	unsigned lap = 2u * vq->size;
	unsigned la = POS_INDEX(a) + (a & WRAP ? 0 : vq->size);
	unsigned lb = POS_INDEX(b) + (b & WRAP ? 0 : vq->size);

	return (lb + 2 * lap - la) % lap;
}

/* 2.8.1: available = AVAIL equal to the driver's wrap counter, USED not. */
static uint16_t avail_bits(uint16_t pos)
{
	return pos & WRAP ? F_AVAIL : F_USED;
}

static struct pq_desc *ring(struct drv_virtio *v, struct drv_vq *vq)
{
	return drv_gpa(v->d, vq->desc_gpa, 16ULL * vq->size);
}

void drv_pq_lengths(uint16_t size, uint64_t len[3])
{
	len[0] = 16ULL * size;
	len[1] = len[2] = sizeof(struct pq_event);
}

void drv_pq_init(struct drv_vq *vq)
{
	/* 2.8.1: both wrap counters start at 1. */
	vq->avail_pos = vq->used_pos = vq->kicked_pos = WRAP;
	for (uint16_t i = 0; i < vq->size; i++)
		vq->next[i] = (uint16_t)(i + 1);
	vq->free_id = 0;
	vq->num_free = vq->size;
}

int drv_pq_post(struct drv_virtio *v, struct drv_vq *vq, const struct drv_buf *out, int nout,
		const struct drv_buf *in, int nin, bool indirect)
{
	struct pq_desc *r = ring(v, vq), *first;
	int n = nout + nin, need = indirect ? 1 : n;
	uint16_t id, pos = vq->avail_pos, first_flags;

	if (vq->num_free < need)
		return -1;
	/* Each chain takes a slot at least, so a free slot means a free id. */
	id = vq->free_id;
	vq->free_id = vq->next[id];
	first = &r[POS_INDEX(pos)];
	if (indirect) {
		struct drv_vq_slot *s = &vq->slot[id];
		struct pq_desc *table;

		if (s->ind_cap < (uint32_t)n) {
			uint16_t cap = n < 16 ? 16 : (uint16_t)n;

			s->ind_gpa = drv_virtio_alloc(v, 16ULL * cap, 16);
			s->ind_cap = cap;
		}
		/* 2.8.7: a table's entries follow each other; only WRITE counts. */
		table = drv_gpa(v->d, s->ind_gpa, 16ULL * n);
		for (int i = 0; i < n; i++) {
			const struct drv_buf *b = i < nout ? &out[i] : &in[i - nout];

			table[i] = (struct pq_desc){ .addr = b->gpa, .len = b->len,
						     .flags = i >= nout ? VRING_DESC_F_WRITE : 0 };
		}
		first->addr = s->ind_gpa;
		first->len = (uint32_t)(16 * n);
		first->id = id;
		first_flags = (uint16_t)(VRING_DESC_F_INDIRECT | avail_bits(pos));
		pos = pos_forward(vq, pos, 1);
	} else {
		first_flags = 0;
		for (int i = 0; i < n; i++) {
			const struct drv_buf *b = i < nout ? &out[i] : &in[i - nout];
			struct pq_desc *x = &r[POS_INDEX(pos)];
			uint16_t flags = (uint16_t)((i >= nout ? VRING_DESC_F_WRITE : 0) |
						    (i < n - 1 ? VRING_DESC_F_NEXT : 0) |
						    avail_bits(pos));

			x->addr = b->gpa;
			x->len = b->len;
			x->id = id; /* 2.8.6: what counts is the last one's */
			if (i == 0)
				first_flags = flags;
			else
				x->flags = flags;
			pos = pos_forward(vq, pos, 1);
		}
	}
	/* 2.8.21.1: the first descriptor's flags last, after a barrier. */
	__atomic_store_n(&first->flags, first_flags, __ATOMIC_RELEASE);
	vq->avail_pos = pos;
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->slot[id].ndesc = (uint16_t)need;
	vq->posted++;
	return id;
}

bool drv_pq_kick_needed(struct drv_virtio *v, struct drv_vq *vq)
{
	struct pq_event *ev = drv_gpa(v->d, vq->used_gpa, sizeof(*ev));
	uint16_t flags, event;

	/* 2.8.21.3.1: the descriptors visible before the device's area is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->kicked_pos;

	/*
	 * The window is what was posted since the last decision, kick or not
	 * (as Linux's driver does): positions compare only within two laps,
	 * and a window grown over many posts the device found by polling
	 * would wrap and miss the event.
	 */
	vq->kicked_pos = vq->avail_pos;
	flags = __atomic_load_n(&ev->flags, __ATOMIC_ACQUIRE) & 3;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !drv_virtio_has(v, VIRTIO_RING_F_EVENT_IDX))
		return true;
	/* Kick if the descriptor the device asked about was made available
	 * in that window: off_wrap in [old, avail_pos). */
	event = ev->off_wrap;
	return pos_distance(vq, old, event) < pos_distance(vq, old, vq->avail_pos);
}

void drv_pq_publish_event(struct drv_virtio *v, struct drv_vq *vq)
{
	struct pq_event *ev = drv_gpa(v->d, vq->avail_gpa, sizeof(*ev));

	if (vq->no_interrupt) {
		__atomic_store_n(&ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE, __ATOMIC_RELEASE);
	} else if (drv_virtio_has(v, VIRTIO_RING_F_EVENT_IDX)) {
		/* An interrupt when the next used descriptor is written (2.8.10). */
		ev->off_wrap = vq->used_pos;
		__atomic_store_n(&ev->flags, VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE, __ATOMIC_RELEASE);
	}
	/* Visible before the ring is checked again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int drv_pq_get_used(struct drv_virtio *v, struct drv_vq *vq, uint16_t *id, uint32_t *len)
{
	struct pq_desc *x = &ring(v, vq)[POS_INDEX(vq->used_pos)];
	uint16_t flags = __atomic_load_n(&x->flags, __ATOMIC_ACQUIRE), uid;
	bool wrap = vq->used_pos & WRAP;
	uint32_t ulen;

	/* 2.8.1: used = AVAIL and USED both equal to the device's wrap counter. */
	if (((flags & F_AVAIL) != 0) != wrap || ((flags & F_USED) != 0) != wrap)
		return 0;
	uid = x->id;
	ulen = x->len;
	if (uid >= vq->size || !vq->slot[uid].ndesc) {
		drv_virtio_msg("queue %u: used descriptor at %u names id %u, which is not in flight",
			       vq->index, POS_INDEX(vq->used_pos), uid);
		vq->used_pos = pos_forward(vq, vq->used_pos, 1);
		return -1;
	}
	/* 2.8.6: the next used descriptor comes after every slot the chain took. */
	vq->used_pos = pos_forward(vq, vq->used_pos, vq->slot[uid].ndesc);
	vq->num_free = (uint16_t)(vq->num_free + vq->slot[uid].ndesc);
	vq->slot[uid].ndesc = 0;
	vq->next[uid] = vq->free_id;
	vq->free_id = uid;
	vq->completed++;
	if (drv_virtio_has(v, VIRTIO_RING_F_EVENT_IDX))
		drv_pq_publish_event(v, vq);
	if (id)
		*id = uid;
	if (len)
		*len = ulen;
	return 1;
}
