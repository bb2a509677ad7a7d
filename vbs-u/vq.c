/*
 * vq.c - libvbsu's virtqueues: the public queue functions, the split ring
 * (virtio 1.2, 2.7: the ring layouts, vq_setup's layout checks, chain
 * walking and validation, the used ring and notification suppression in
 * both directions), and what the packed ring shares with it: failing a
 * queue and the checks on every buffer of a chain.  Each public function
 * hands a packed queue to its half in vq_packed.c.
 *
 * The driver is hostile and runs concurrently with us.  So every descriptor
 * and ring entry is read exactly once into a local before it is checked and
 * used (a second read could return a different, unchecked value), guest
 * memory is reached only through vq->mem.translate, and a rule violation
 * marks the queue broken instead of trusting or asserting anything.
 * The split ring allocates nothing: all state lives in struct vqueue and on
 * the stack.  (The packed ring needs a buffer id table; see vq_packed.c.)
 */
#include "vq_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* virtio 1.x rings are little-endian; we access them as native integers. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vq.c assumes a little-endian host");

struct vring_desc_le {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail_le {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* size entries, then used_event */
};

struct vring_used_elem_le {
	uint32_t id;
	uint32_t len;
};

struct vring_used_le {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem_le ring[];	/* size entries, then avail_event */
};

_Static_assert(sizeof(struct vring_desc_le) == 16, "descriptor is 16 bytes (2.7.5)");
_Static_assert(sizeof(struct vring_used_elem_le) == 8, "used element is 8 bytes (2.7.8)");
_Static_assert(offsetof(struct vring_avail_le, ring) == 4, "avail ring header is 4 bytes");
_Static_assert(offsetof(struct vring_used_le, ring) == 4, "used ring header is 4 bytes");

#define DESC_SIZE ((uint32_t)sizeof(struct vring_desc_le))

/* used_event follows avail->ring[size] (2.7.6). */
static volatile uint16_t *vq_used_event(struct vqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

/*
 * avail_event follows used->ring[size] (2.7.8): address it by byte offset,
 * not through a used element; 4-aligned, so a u16 access is fine.
 */
static volatile uint16_t *vq_avail_event(struct vqueue *vq)
{
	volatile uint8_t *p = (volatile uint8_t *)vq->used;

	return (volatile void *)(p + offsetof(struct vring_used_le, ring) +
				 (size_t)vq->size * sizeof(struct vring_used_elem_le));
}

int vq_fail(struct vqueue *vq, int err, const char *why)
{
	if (!vq->broken) {
		vq->broken = true;
		vq->broken_err = err;
		vq->error = why;
	}
	return vq->broken_err;
}

static int vq_setup_fail(struct vqueue *vq, const char *why)
{
	vq->error = why;
	return -EINVAL;
}

bool vq_misaligned(uint64_t gpa, const void *hva, uint64_t align)
{
	/* The host check guards our direct loads should translate not keep alignment. */
	return (gpa & (align - 1)) != 0 || ((uintptr_t)hva & (align - 1)) != 0;
}

/* The three parts of a ring in host memory, or why they cannot be used. */
static const char *translate_rings(const struct vq_mem *mem, uint16_t size, uint64_t desc_gpa,
				   uint64_t avail_gpa, uint64_t used_gpa, void **desc, void **avail,
				   void **used)
{
	/* virtio 1.2, 2.7 table and 2.7.1: sizes include used_event/avail_event. */
	*desc = mem->translate(mem->opaque, desc_gpa, (uint64_t)DESC_SIZE * size);
	*avail = mem->translate(mem->opaque, avail_gpa, 6 + 2 * (uint64_t)size);
	*used = mem->translate(mem->opaque, used_gpa, 6 + 8 * (uint64_t)size);
	if (!*desc || !*avail || !*used)
		return "ring outside guest RAM";
	if (vq_misaligned(desc_gpa, *desc, 16) || vq_misaligned(avail_gpa, *avail, 2) ||
	    vq_misaligned(used_gpa, *used, 4))
		return "ring not aligned as virtio 1.2, 2.7.1 requires";
	return NULL;
}

/* Point the queue at its three parts, through the members its layout names. */
static void vq_attach(struct vqueue *vq, void *desc, void *avail, void *used)
{
	if (vq->packed) {
		vq->pdesc = desc;
		vq->driver_event = avail;
		vq->device_event = used;
	} else {
		vq->desc = desc;
		vq->avail = avail;
		vq->used = used;
	}
}

int vq_remap(struct vqueue *vq)
{
	void *desc, *avail, *used;
	const char *why;

	if (!vq->ready)
		return 0;
	if (vq->packed)
		why = vq_packed_translate(&vq->mem, vq->size, vq->desc_gpa, vq->avail_gpa,
					  vq->used_gpa, &desc, &avail, &used);
	else
		why = translate_rings(&vq->mem, vq->size, vq->desc_gpa, vq->avail_gpa,
				      vq->used_gpa, &desc, &avail, &used);
	if (why) {
		/* Nothing may touch what used to be there: every entry point
		 * checks ready. */
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		vq->ready = false;
		return vq_fail(vq, -EFAULT,
			       "ring no longer usable in guest RAM after a memory map change");
	}
	vq_attach(vq, desc, avail, used);
	return 0;
}

void vq_reset(struct vqueue *vq)
{
	vq_inflight_detach(vq);
	free(vq->inflight);
	memset(vq, 0, sizeof(*vq));
}

int vq_setup(struct vqueue *vq, const struct vq_mem *mem, uint16_t size,
	     uint16_t max_size, uint64_t desc_gpa, uint64_t avail_gpa,
	     uint64_t used_gpa, uint64_t features)
{
	bool packed = (features >> VIRTIO_F_RING_PACKED) & 1;
	void *desc, *avail, *used;
	const char *why;

	/* Not vq_reset: callers may hand in an uninitialised struct (vbsu.h). */
	memset(vq, 0, sizeof(*vq));
	if (!mem || !mem->translate)
		return vq_setup_fail(vq, "no guest memory translate callback");
	if (max_size == 0 || max_size > VQ_MAX_SIZE)
		return vq_setup_fail(vq, "device maximum queue size invalid");
	/*
	 * virtio 1.2, 2.7: a split ring's Queue Size is a power of 2, at most
	 * 32768; 2.8: a packed ring's need not be, at most 2^15 (max_size
	 * bounds both).
	 */
	if (!packed && (size == 0 || (size & (size - 1)) != 0))
		return vq_setup_fail(vq, "queue size not a power of two");
	if (size == 0)
		return vq_setup_fail(vq, "queue size zero");
	if (size > max_size)
		return vq_setup_fail(vq, "queue size larger than device maximum");

	if (packed)
		why = vq_packed_translate(mem, size, desc_gpa, avail_gpa, used_gpa, &desc, &avail,
					  &used);
	else
		why = translate_rings(mem, size, desc_gpa, avail_gpa, used_gpa, &desc, &avail,
				      &used);
	if (why)
		return vq_setup_fail(vq, why);

	vq->mem = *mem;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->size = size;
	vq->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->indirect = (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	vq->packed = packed;
	vq_attach(vq, desc, avail, used);
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->ret_id = VQ_NO_ID;
	if (packed) {
		/* 2.8.1: both wrap counters start at 1. */
		vq->last_avail = VQ_PACKED_WRAP;
		vq->used_idx = VQ_PACKED_WRAP;
		vq->signalled_used = VQ_PACKED_WRAP;
		if (vq_packed_alloc(vq) < 0) {
			memset(vq, 0, sizeof(*vq));
			vq->error = "no memory for the packed ring's buffer id table";
			return -ENOMEM;
		}
	}
	vq->ready = true;
	return 0;
}

bool vq_has_work(struct vqueue *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	if (vq->packed)
		return vq_packed_has_work(vq);
	if (vq->tracker && vq_inflight_resubmits(vq))
		return true;
	/*
	 * Relaxed is enough for a hint: vq_getchain re-reads idx with acquire
	 * before touching the ring.  Callers closing the notify race rely on
	 * the full fence in vq_set_notify, not on this load.
	 */
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_RELAXED) != vq->last_avail;
}

/*
 * Copy one descriptor out of guest memory, reading each byte once so every
 * later check and use sees the same value.  The main table is 16-aligned;
 * an indirect table may sit at any address, so fall back to byte loads.
 */
static void desc_fetch(const volatile uint8_t *p, struct vring_desc_le *d)
{
	if (((uintptr_t)p & (_Alignof(struct vring_desc_le) - 1)) == 0) {
		const volatile struct vring_desc_le *s = (const volatile void *)p;

		d->addr = s->addr;
		d->len = s->len;
		d->flags = s->flags;
		d->next = s->next;
	} else {
		uint8_t b[sizeof(*d)];

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = p[i];
		memcpy(d, b, sizeof(b));
	}
}

int vq_walk_buffer(struct vqueue *vq, struct vq_walk *w, uint64_t addr, uint32_t len,
		   bool writable, struct iovec *iov, int niov)
{
	void *base = NULL;

	/*
	 * virtio 1.2, 2.7.5.3.1: no chain longer than Queue Size, counting
	 * indirect entries too; this also bounds loops, direct or indirect.
	 */
	if (++w->ndesc > vq->size)
		return vq_fail(vq, -EINVAL, "descriptor loop or chain longer than queue");
	if (writable) {
		w->writable_seen = true;
		w->write_len += len;
	} else {
		/* virtio 1.2, 2.7.4.2: writable elements follow readable ones. */
		if (w->writable_seen)
			return vq_fail(vq, -EINVAL,
				       "device-readable descriptor after a device-writable one");
		w->read_len += len;
		w->nread++;
	}
	/* virtio 1.2, 2.7.5.2: a chain holds less than 2^32 bytes (each direction). */
	if (w->read_len > UINT32_MAX || w->write_len > UINT32_MAX)
		return vq_fail(vq, -EINVAL, "chain byte count does not fit in 32 bits");
	/* The device sized niov for its largest legal request: more is the guest's fault. */
	if (w->n >= niov)
		return vq_fail(vq, -E2BIG, "chain needs more iovecs than the device allows");
	/* Zero length: nothing will be accessed, so there is nothing to translate. */
	if (len != 0) {
		/* Reject wrap-around even if a translate callback forgot to. */
		if (addr + len < addr)
			return vq_fail(vq, -EINVAL, "buffer outside guest RAM");
		base = vq->mem.translate(vq->mem.opaque, addr, len);
		if (!base)
			return vq_fail(vq, -EINVAL, "buffer outside guest RAM");
	}
	iov[w->n].iov_base = base;
	iov[w->n].iov_len = len;
	w->n++;
	return 0;
}

/*
 * Walk the chain whose head descriptor is head (< size) and fill iov and
 * *chain: the number of iovecs, or the queue's errno with it broken.
 */
static int walk_chain(struct vqueue *vq, uint16_t head, struct vq_chain *chain, struct iovec *iov,
		      int niov)
{
	const volatile uint8_t *table = (const volatile uint8_t *)vq->desc;
	struct vring_desc_le d;
	struct vq_walk w = { 0 };
	uint32_t table_entries = vq->size;
	uint16_t idx = head;
	bool in_indirect = false;
	int rc;

	for (;;) {
		desc_fetch(table + (size_t)idx * DESC_SIZE, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* virtio 1.2, 2.7.5.3.1, all the driver rules for indirect tables. */
			if (!vq->indirect)
				return vq_fail(vq, -EINVAL,
					       "indirect descriptor not negotiated");
			if (in_indirect)
				return vq_fail(vq, -EINVAL,
					       "indirect descriptor inside an indirect table");
			if (d.flags & VRING_DESC_F_NEXT)
				return vq_fail(vq, -EINVAL, "indirect descriptor with NEXT set");
			if (d.len == 0 || d.len % DESC_SIZE != 0)
				return vq_fail(vq, -EINVAL, "indirect table length not a "
					       "non-zero multiple of 16");
			if (d.len / DESC_SIZE > vq->size)
				return vq_fail(vq, -EINVAL, "indirect table larger than queue");
			table = vq->mem.translate(vq->mem.opaque, d.addr, d.len);
			if (!table)
				return vq_fail(vq, -EINVAL, "indirect table outside guest RAM");
			/*
			 * 2.7.5.3.2: WRITE on this descriptor is ignored, and it may
			 * end a chain of direct descriptors; walk its table from 0.
			 */
			table_entries = d.len / DESC_SIZE;
			in_indirect = true;
			idx = 0;
			continue;
		}
		rc = vq_walk_buffer(vq, &w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, iov,
				    niov);
		if (rc < 0)
			return rc;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= table_entries)
			return vq_fail(vq, -EINVAL, "descriptor next index out of range");
		idx = d.next;
	}

	chain->head = head;
	chain->nread = w.nread;
	chain->nwrite = w.n - w.nread;
	chain->read_len = (uint32_t)w.read_len;
	chain->write_len = (uint32_t)w.write_len;
	vq->stat_chains++;
	vq->stat_bytes += w.read_len + w.write_len;
	return w.n;
}

int vq_getchain(struct vqueue *vq, struct vq_chain *chain, struct iovec *iov, int niov)
{
	uint16_t avail_idx, pending, head;
	int n;

	if (vq->broken)
		return vq->broken_err;
	if (!vq->ready)
		return 0;
	if (vq->packed)
		return vq_packed_getchain(vq, chain, iov, niov);

	/* Chains a back-end before us took and never used come first, in
	 * the order it took them (vq_inflight.c). */
	if (vq->tracker && vq_inflight_next(vq, &head)) {
		vq->last_resubmitted = true;
		return walk_chain(vq, head, chain, iov, niov);
	}
	/*
	 * Acquire: pairs with the driver's barrier before its idx update
	 * (virtio 1.2, 2.7.13.3.1) so the ring entry and descriptors we read
	 * below are at least as new as the idx that exposed them.
	 */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	/* virtio 1.2, 2.7.13: the avail ring holds at most Queue Size entries. */
	if (pending > vq->size)
		return vq_fail(vq, -EINVAL, "avail idx moved more than queue size past last_avail");

	head = vq->avail->ring[vq->last_avail & (vq->size - 1)];
	if (head >= vq->size)
		return vq_fail(vq, -EINVAL, "avail ring head index out of range");
	n = walk_chain(vq, head, chain, iov, niov);
	if (n < 0)
		return n;
	/* Recorded before we act on it, so a back-end that dies from here
	 * on has it resubmitted by the next. */
	if (vq->tracker)
		vq_inflight_take(vq, head);
	vq->last_resubmitted = false;
	vq->last_avail++;
	return n;
}

void vq_set_indexes(struct vqueue *vq, uint16_t last_avail, uint16_t used_idx)
{
	if (vq->packed) {
		vq_packed_set_indexes(vq, last_avail, used_idx);
		return;
	}
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	vq->signalled_used_valid = false;
}

uint16_t vq_used_idx_in_ring(const struct vqueue *vq)
{
	if (vq->packed)
		return vq->ready ? vq->used_idx : 0;
	return vq->ready ? __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) : 0;
}

uint16_t vq_avail_idx_in_ring(const struct vqueue *vq)
{
	return vq->ready ? __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) : 0;
}

void vq_retchain(struct vqueue *vq)
{
	if (!vq->ready || vq->broken)
		return;
	if (vq->packed) {
		vq_packed_retchain(vq);
	} else if (vq->last_resubmitted) {
		vq_inflight_unnext(vq);
	} else {
		vq->last_avail--;
		if (vq->tracker)
			vq_inflight_untake(vq);
	}
}

/*
 * Publishes at once: used->idx is updated here, vq_endchains only decides
 * about the interrupt.  A broken queue is still written (it is memory-safe)
 * so a device finishing in-flight requests needs no special case.
 */
void vq_relchains(struct vqueue *vq, const uint16_t *heads, const uint32_t *lens, int n)
{
	if (!vq->ready)
		return;
	if (vq->packed) {
		vq_packed_relchains(vq, heads, lens, n);
		return;
	}
	/* In-flight tracking: the batch's list first, so a back-end dying
	 * after the publication below can tell which heads it held. */
	if (vq->tracker)
		vq_inflight_batch(vq, heads, n);
	for (int i = 0; i < n; i++) {
		volatile struct vring_used_elem_le *e =
			&vq->used->ring[vq->used_idx & (vq->size - 1)];

		e->id = heads[i];
		e->len = lens[i];
		vq->used_idx++;
	}
	/*
	 * Release: the elements, and the device's writes into the buffers, are
	 * visible before the driver can observe the new idx (2.7.8.2).
	 */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	if (vq->tracker)
		vq_inflight_used(vq, heads, n);
}

void vq_relchain(struct vqueue *vq, uint16_t head, uint32_t len)
{
	vq_relchains(vq, &head, &len, 1);
}

void vq_mark_broken(struct vqueue *vq, const char *why)
{
	if (!vq->ready || vq->broken)
		return;
	vq->broken = true;
	vq->broken_err = -EPROTO;
	vq->error = why;
}

bool vq_endchains(struct vqueue *vq)
{
	uint16_t old_idx, new_idx, event;
	bool valid;

	if (!vq->ready)
		return false;
	if (vq->packed)
		return vq_packed_endchains(vq);
	old_idx = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new_idx = vq->used_idx;
	/* Nothing used since the last decision: nothing to tell the driver. */
	if (new_idx == old_idx)
		return false;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;

	/*
	 * Full fence: our used->idx store must be visible before we read
	 * flags/used_event.  Otherwise the driver may re-enable interrupts,
	 * see the old idx and sleep while we read its stale suppression and
	 * stay silent: a lost interrupt (the mirror of 2.7.13.4.1).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	/* virtio 1.2, 2.7.7.2 without EVENT_IDX: flags bit 0 suppresses. */
	if (!vq->event_idx)
		return !(vq->avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	/*
	 * 2.7.7.2 with EVENT_IDX: interrupt when the entry at index used_event
	 * was written in this batch, i.e. used_event in [old_idx, new_idx).
	 */
	event = *vq_used_event(vq);
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void vq_set_notify(struct vqueue *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->packed) {
		vq_packed_set_notify(vq, enable);
		return;
	}
	if (vq->event_idx) {
		/*
		 * virtio 1.2, 2.7.10.2: flags stay 0.  avail_event = last_avail
		 * asks for a kick when the next entry we will read is published.
		 * Disabling leaves avail_event behind the driver's idx, so it
		 * stops kicking (suppression is only advisory anyway).
		 */
		if (enable)
			*vq_avail_event(vq) = vq->last_avail;
	} else {
		/* virtio 1.2, 2.7.10.2: flags is 0 or NO_NOTIFY; we own the field. */
		vq->used->flags = enable ? 0 : VRING_USED_F_NO_NOTIFY;
	}
	/*
	 * Full fence: the store above must be visible before the caller
	 * re-reads avail->idx (vq_has_work).  With the driver's barrier
	 * between its idx update and its flags/avail_event read (2.7.13.4.1),
	 * at least one side sees the other and no kick is lost.
	 */
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
