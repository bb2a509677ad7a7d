/*
 * vq_packed.c - libvbsu's packed virtqueue (virtio 1.2, 2.8) behind the
 * same API as the split ring: the descriptor ring with its AVAIL/USED bits
 * and wrap counters, lists linked by NEXT and indirect tables, buffer ids,
 * used descriptors, and event suppression in both directions.  vq.c's
 * public functions come here for a packed queue; the checks every buffer
 * gets (vq_walk_buffer) are the split ring's.
 *
 * A position in the ring is an index in bits 0-14 with the wrap counter
 * that goes with it in bit 15 (VQ_PACKED_WRAP): what vhost-user's
 * GET/SET_VRING_BASE carry for packed rings, and the shape of the event
 * suppression areas' off_wrap, so a position compares with it directly.
 *
 * The driver is hostile and concurrent, as in vq.c: every descriptor field
 * is read once into a local before it is checked and used, guest memory is
 * reached only through vq->mem.translate, and a broken rule breaks the
 * queue.  Unlike the split ring, the device must remember something per
 * chain: how many ring slots it took, since its used descriptor is followed
 * by that many minus one skipped slots (2.8.6), and that its id is in
 * flight, since a driver re-using an id would make two chains complete as
 * one.  That is vq->inflight, allocated by vq_packed_alloc.
 */
#include "vq_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ring.h>

/* virtio 1.x rings are little-endian; we access them as native integers. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vq_packed.c assumes a little-endian host");

/* 2.8.13 */
struct vq_packed_desc_le {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* 2.8.14: off_wrap is valid when flags is DESC. */
struct vq_event_le {
	uint16_t off_wrap;
	uint16_t flags;
};

_Static_assert(sizeof(struct vq_packed_desc_le) == 16, "packed descriptor is 16 bytes (2.8.13)");
_Static_assert(sizeof(struct vq_event_le) == 4, "event suppression area is 4 bytes (2.8.14)");

#define PDESC_SIZE ((uint32_t)sizeof(struct vq_packed_desc_le))
#define F_AVAIL ((uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL))
#define F_USED ((uint16_t)(1u << VRING_PACKED_DESC_F_USED))
#define EVENT_FLAGS_MASK 3u /* 2.8.14: two bits of flags, the rest reserved */
#define POS_INDEX(pos) ((uint16_t)((pos) & (VQ_PACKED_WRAP - 1)))
#define POS_WRAP(pos) (((pos) & VQ_PACKED_WRAP) != 0)

_Static_assert(VQ_PACKED_WRAP == 1u << VRING_PACKED_EVENT_F_WRAP_CTR,
	       "positions carry the wrap counter where off_wrap does");

/* pos moved n <= size slots on; the wrap counter flips as the index passes the end (2.8.1). */
static uint16_t pos_forward(const struct vqueue *vq, uint16_t pos, uint32_t n)
{
	uint32_t idx = POS_INDEX(pos) + n;
	uint16_t wrap = pos & VQ_PACKED_WRAP;

	if (idx >= vq->size) {
		idx -= vq->size;
		wrap ^= VQ_PACKED_WRAP;
	}
	return (uint16_t)(idx | wrap);
}

/* pos moved n <= size slots back. */
static uint16_t pos_back(const struct vqueue *vq, uint16_t pos, uint32_t n)
{
	uint32_t idx = POS_INDEX(pos);
	uint16_t wrap = pos & VQ_PACKED_WRAP;

	if (idx < n) {
		idx += vq->size;
		wrap ^= VQ_PACKED_WRAP;
	}
	return (uint16_t)((idx - n) | wrap);
}

/*
 * Slots from position a forward to position b, in [0, 2 * size).  An index
 * and its wrap counter name one slot of a cycle of two laps, so positions
 * are points on a circle of 2 * size; both sides start in the lap whose
 * counter is 1 (2.8.1).  Any two positions the device compares are at most
 * size apart, so the distance is never ambiguous.  A hostile off_wrap with
 * an index >= size still gives some number below 2 * size.
 */
static uint32_t pos_distance(const struct vqueue *vq, uint16_t a, uint16_t b)
{
	uint32_t lap = 2u * vq->size;
	uint32_t la = POS_INDEX(a) + (POS_WRAP(a) ? 0 : vq->size);
	uint32_t lb = POS_INDEX(b) + (POS_WRAP(b) ? 0 : vq->size);

	return (lb + 2 * lap - la) % lap;
}

/*
 * 2.8.1: the driver makes a descriptor available with AVAIL equal to its
 * wrap counter and USED the inverse; wrap is the device's copy of that
 * counter for this slot.  Anything else is not (or no longer) available.
 */
static bool desc_available(uint16_t flags, bool wrap)
{
	return ((flags & F_AVAIL) != 0) == wrap && ((flags & F_USED) != 0) != wrap;
}

const char *vq_packed_translate(const struct vq_mem *mem, uint16_t size, uint64_t desc_gpa,
				uint64_t driver_gpa, uint64_t device_gpa, void **desc,
				void **driver, void **device)
{
	/* 2.8.10.1: descriptor ring 16 * size bytes, 16-aligned; event areas 4 bytes, 4-aligned. */
	*desc = mem->translate(mem->opaque, desc_gpa, (uint64_t)PDESC_SIZE * size);
	*driver = mem->translate(mem->opaque, driver_gpa, sizeof(struct vq_event_le));
	*device = mem->translate(mem->opaque, device_gpa, sizeof(struct vq_event_le));
	if (!*desc || !*driver || !*device)
		return "ring outside guest RAM";
	if (vq_misaligned(desc_gpa, *desc, 16) || vq_misaligned(driver_gpa, *driver, 4) ||
	    vq_misaligned(device_gpa, *device, 4))
		return "packed ring not aligned as virtio 1.2, 2.8.10.1 requires";
	return NULL;
}

int vq_packed_alloc(struct vqueue *vq)
{
	vq->inflight = calloc(vq->size, sizeof(*vq->inflight));
	return vq->inflight ? 0 : -ENOMEM;
}

bool vq_packed_has_work(struct vqueue *vq)
{
	/*
	 * Relaxed is enough for a hint: vq_packed_getchain re-reads the flags
	 * with acquire before it reads the rest.  Callers closing the notify
	 * race rely on the full fence in vq_set_notify.
	 */
	uint16_t flags = __atomic_load_n(&vq->pdesc[POS_INDEX(vq->last_avail)].flags,
					 __ATOMIC_RELAXED);

	return desc_available(flags, POS_WRAP(vq->last_avail));
}

/* Copy one indirect table entry out of guest memory; the table may sit at any address. */
static void table_fetch(const volatile uint8_t *p, struct vq_packed_desc_le *d)
{
	if (((uintptr_t)p & (_Alignof(struct vq_packed_desc_le) - 1)) == 0) {
		const volatile struct vq_packed_desc_le *s = (const volatile void *)p;

		d->addr = s->addr;
		d->len = s->len;
		d->id = s->id;
		d->flags = s->flags;
	} else {
		uint8_t b[sizeof(*d)];

		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = p[i];
		memcpy(d, b, sizeof(b));
	}
}

/* Walk the indirect table descriptor d (already taken from the ring) refers to. */
static int walk_indirect(struct vqueue *vq, struct vq_walk *w, const struct vq_packed_desc_le *d,
			 struct iovec *iov, int niov)
{
	const volatile uint8_t *table;
	struct vq_packed_desc_le e;
	uint32_t entries;
	int rc;

	/* 2.8.19: the driver sets INDIRECT only when it was negotiated. */
	if (!vq->indirect)
		return vq_fail(vq, -EINVAL, "indirect descriptor not negotiated");
	/* 2.8.7: the table is len / 16 whole descriptors. */
	if (d->len == 0 || d->len % PDESC_SIZE != 0)
		return vq_fail(vq, -EINVAL, "indirect table length not a non-zero multiple of 16");
	/* 2.8.5: without a device limit, no list is longer than Queue Size. */
	entries = d->len / PDESC_SIZE;
	if (entries > vq->size)
		return vq_fail(vq, -EINVAL, "indirect table larger than queue");
	table = vq->mem.translate(vq->mem.opaque, d->addr, d->len);
	if (!table)
		return vq_fail(vq, -EINVAL, "indirect table outside guest RAM");
	for (uint32_t i = 0; i < entries; i++) {
		table_fetch(table + (size_t)i * PDESC_SIZE, &e);
		/*
		 * 2.8.7 and 2.8.19: WRITE is the only flag a table entry may
		 * carry; NEXT and the id are reserved and ignored (entries
		 * follow each other).  INDIRECT would nest tables, which the
		 * split ring refuses too: refuse it rather than ignore it.
		 */
		if (e.flags & VRING_DESC_F_INDIRECT)
			return vq_fail(vq, -EINVAL, "indirect descriptor inside an indirect table");
		rc = vq_walk_buffer(vq, w, e.addr, e.len, e.flags & VRING_DESC_F_WRITE, iov, niov);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vq_packed_getchain(struct vqueue *vq, struct vq_chain *chain, struct iovec *iov, int niov)
{
	volatile struct vq_packed_desc_le *s;
	struct vq_packed_desc_le d;
	struct vq_walk w = { 0 };
	uint16_t pos = vq->last_avail;
	uint32_t nring = 0;	/* ring slots the chain takes */
	int rc;

	/*
	 * Acquire: pairs with the driver's barrier before it sets the first
	 * descriptor's flags, which it does after writing the rest of the
	 * list (2.8.6, 2.8.21.1): what we read below is at least as new.
	 */
	s = &vq->pdesc[POS_INDEX(pos)];
	d.flags = __atomic_load_n(&s->flags, __ATOMIC_ACQUIRE);
	if (!desc_available(d.flags, POS_WRAP(pos)))
		return 0;
	for (;;) {
		d.addr = s->addr;
		d.len = s->len;
		d.id = s->id;
		nring++;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* 2.8.19: an indirect descriptor is never part of a list linked by NEXT. */
			if (nring > 1 || (d.flags & VRING_DESC_F_NEXT))
				return vq_fail(vq, -EINVAL,
					       "indirect descriptor in a list linked by NEXT");
			rc = walk_indirect(vq, &w, &d, iov, niov);
			if (rc < 0)
				return rc;
			break;
		}
		/* Bounds the list at size descriptors: the ring cannot loop further. */
		rc = vq_walk_buffer(vq, &w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, iov, niov);
		if (rc < 0)
			return rc;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		pos = pos_forward(vq, pos, 1);
		s = &vq->pdesc[POS_INDEX(pos)];
		d.flags = s->flags;
		/*
		 * 2.8.6: every descriptor of a list carries the AVAIL/USED bits,
		 * and the driver exposed them all with the first one: one that
		 * is not available now is a lie, not a race.
		 */
		if (!desc_available(d.flags, POS_WRAP(pos)))
			return vq_fail(vq, -EINVAL,
				       "descriptor list continues into a descriptor not available");
	}

	/* 2.8.6: the buffer id is in the last descriptor of the list. */
	if (d.id >= vq->size)
		return vq_fail(vq, -EINVAL, "buffer id out of range");
	if (vq->inflight[d.id] != 0)
		return vq_fail(vq, -EINVAL, "buffer id re-used while in flight");
	/*
	 * 2.8.17: the driver makes a list available only when the ring has
	 * room for all of it, so slots in flight (from the used position to
	 * last_avail) and this list together fit in the ring.  Otherwise it
	 * wrote over descriptors we have not handed back.
	 */
	if (pos_distance(vq, vq->used_idx, vq->last_avail) + nring > vq->size)
		return vq_fail(vq, -EINVAL, "more descriptors in flight than the ring holds");

	vq->inflight[d.id] = (uint16_t)nring;
	vq->ret_id = d.id;
	vq->last_avail = pos_forward(vq, pos, 1);
	chain->head = d.id;
	chain->nread = w.nread;
	chain->nwrite = w.n - w.nread;
	chain->read_len = (uint32_t)w.read_len;
	chain->write_len = (uint32_t)w.write_len;
	vq->stat_chains++;
	vq->stat_bytes += w.read_len + w.write_len;
	return w.n;
}

void vq_packed_set_indexes(struct vqueue *vq, uint16_t last_avail, uint16_t used_idx)
{
	/*
	 * Out-of-range positions would point relchain outside the ring, and
	 * more than size slots between them is no state a ring can be in:
	 * keep the old positions and break the queue.
	 */
	if (POS_INDEX(last_avail) >= vq->size || POS_INDEX(used_idx) >= vq->size ||
	    pos_distance(vq, used_idx, last_avail) > vq->size) {
		vq_mark_broken(vq, "packed ring positions handed over out of range");
		return;
	}
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	vq->signalled_used_valid = false;
	/* The other owner handed every chain back (vbsu.h): nothing is in flight here. */
	if (vq->inflight)
		memset(vq->inflight, 0, (size_t)vq->size * sizeof(*vq->inflight));
	vq->ret_id = VQ_NO_ID;
}

/*
 * A base of 0 puts the device at slot 0 with wrap counter 0: it has gone
 * round the ring an odd number of times.  Slot 0 then holds either the head
 * the driver made available there in the lap before (AVAIL set), the used
 * element the device wrote there in that lap (AVAIL and USED set), or one
 * the driver made available in this lap (USED set): never neither bit.  A
 * slot 0 with neither is a ring nobody has used (drivers zero the ring: Linux
 * allocates it with __GFP_ZERO), started with a split ring's base 0 where a
 * packed ring's is 0x8000 (2.8.1: the wrap counters start at 1).  UML's
 * virtio_uml sends 0 for every ring.  Any other base is taken as it is.
 */
uint16_t vq_packed_start_base(const struct vqueue *vq, uint16_t base)
{
	uint16_t flags;

	if (!vq->ready || !vq->packed || base != 0)
		return base;
	flags = __atomic_load_n(&vq->pdesc[0].flags, __ATOMIC_ACQUIRE);
	return flags & (F_AVAIL | F_USED) ? base : (uint16_t)VQ_PACKED_WRAP;
}

void vq_packed_retchain(struct vqueue *vq)
{
	uint16_t id = vq->ret_id;

	/* Only the last chain taken, and only while nobody released it. */
	if (id == VQ_NO_ID || vq->inflight[id] == 0)
		return;
	vq->last_avail = pos_back(vq, vq->last_avail, vq->inflight[id]);
	vq->inflight[id] = 0;
	vq->ret_id = VQ_NO_ID;
}

/*
 * A broken queue is still written (memory-safe: ids are checked against
 * the table, positions stay inside the ring) so a device finishing
 * in-flight requests needs no special case, as in the split ring.
 */
void vq_packed_relchains(struct vqueue *vq, const uint16_t *heads, const uint32_t *lens, int n)
{
	volatile struct vq_packed_desc_le *first = NULL;
	uint16_t first_flags = 0;

	for (int i = 0; i < n; i++) {
		uint16_t id = heads[i];
		volatile struct vq_packed_desc_le *e;
		uint16_t flags;

		if (id >= vq->size || vq->inflight[id] == 0) {
			/* Ids come from vq_getchain: only a device bug gets here. */
			vq_mark_broken(vq, "device released a buffer id that is not in flight");
			continue;
		}
		/*
		 * 2.8.1: a used descriptor has AVAIL and USED both equal to the
		 * device's wrap counter; 2.8.3: WRITE says the device wrote
		 * something, and len is only meaningful with it.
		 */
		flags = POS_WRAP(vq->used_idx) ? (F_AVAIL | F_USED) : 0;
		if (lens[i] != 0)
			flags |= VRING_DESC_F_WRITE;
		e = &vq->pdesc[POS_INDEX(vq->used_idx)];
		e->id = id;
		e->len = lens[i];
		if (!first) {
			first = e;
			first_flags = flags;
		} else {
			e->flags = flags;
		}
		/* 2.8.6: skip the rest of the slots the chain took. */
		vq->used_idx = pos_forward(vq, vq->used_idx, vq->inflight[id]);
		vq->inflight[id] = 0;
		if (vq->ret_id == id)
			vq->ret_id = VQ_NO_ID;
	}
	/*
	 * Release: the driver polls only the next used slot (2.8.2), so setting
	 * the first descriptor's flags last publishes the whole group at once
	 * (2.8.9), with every element and the device's writes into the buffers
	 * visible before it.
	 */
	if (first)
		__atomic_store_n(&first->flags, first_flags, __ATOMIC_RELEASE);
}

bool vq_packed_endchains(struct vqueue *vq)
{
	uint16_t old_pos = vq->signalled_used, new_pos = vq->used_idx, flags, event;
	bool valid = vq->signalled_used_valid;

	/* Nothing used since the last decision: nothing to tell the driver. */
	if (new_pos == old_pos)
		return false;
	vq->signalled_used = new_pos;
	vq->signalled_used_valid = true;

	/*
	 * Full fence: the used descriptors must be visible before we read the
	 * driver's suppression, or the driver may enable events, see no new
	 * used descriptor and sleep while we read its stale DISABLE: a lost
	 * interrupt (as in vq_endchains for the split ring).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	/* Acquire: the driver writes off_wrap before the flags that make it count. */
	flags = __atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE) & EVENT_FLAGS_MASK;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	/*
	 * ENABLE; or DESC without EVENT_IDX, or the reserved value 3, which the
	 * driver must not write (2.8.14): an interrupt too many is harmless,
	 * one too few would hang it.
	 */
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid)
		return true;
	/*
	 * 2.8.10: DESC asks for an interrupt when the descriptor at off_wrap is
	 * used, i.e. when that position lies among the slots this batch
	 * passed: [old_pos, new_pos), skipped slots included.
	 */
	event = vq->driver_event->off_wrap;
	return pos_distance(vq, old_pos, event) < pos_distance(vq, old_pos, new_pos);
}

void vq_packed_set_notify(struct vqueue *vq, bool enable)
{
	volatile struct vq_event_le *ev = vq->device_event;

	if (!enable) {
		/* 2.8.10: unlike the split ring, DISABLE says it outright, with or without EVENT_IDX. */
		ev->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
		return;
	}
	if (vq->event_idx) {
		/*
		 * A kick when the driver makes the descriptor at last_avail
		 * available: the next one we will read.  Release: off_wrap is
		 * written before the flags that tell the driver to read it.
		 */
		ev->off_wrap = vq->last_avail;
		__atomic_store_n(&ev->flags, VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELEASE);
	} else {
		ev->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	/*
	 * Full fence: the store above must be visible before the caller
	 * re-reads the ring (vq_has_work).  With the driver's barrier between
	 * its flags update and its read of our area (2.8.21.3.1), at least one
	 * side sees the other and no kick is lost.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
