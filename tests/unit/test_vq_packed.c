/*
 * test_vq_packed.c - unit test for libvbsu's packed virtqueue
 * (vbs-u/vq_packed.c) through the same API the back-ends use.
 *
 * Plays the driver of virtio 1.2, 2.8: writes descriptors into a fake guest
 * RAM with the AVAIL/USED bits of its own wrap counter, exposes a list by
 * writing its first descriptor's flags last, and reads used descriptors back
 * skipping as many slots as each buffer id's list took, as a real driver
 * must.  Checks ring sizes that are not powers of two, many laps round the
 * ring, out-of-order completion, indirect tables, both directions of event
 * suppression, vq_retchain, vq_set_indexes' positions, the start position a
 * front-end's base means (vq_packed_start_base), vq_setup's layout
 * checks, and every malformed ring rule.  Each case starts from a freshly
 * zeroed RAM and ring.  A last stress run has a racing "guest" thread
 * rewrite the ring and indirect tables while chains are taken.  Exits 0 on
 * success; prints each failed check and exits 1 otherwise.
 */
#define RAM_BASE 0x40000000ull		/* non-zero, so gpa/offset mix-ups show */
#define RAM_SIZE (1u << 20)
#include "vq_test.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define OFF_DESC  0x00000u		/* room for 4096 descriptors */
#define OFF_DRV   0x10000u		/* driver event suppression area */
#define OFF_DEV   0x10010u		/* device event suppression area */
#define OFF_IND   0x20000u		/* indirect tables */
#define OFF_DATA  0x40000u		/* buffers */

#define F_PACKED   (1ull << VIRTIO_F_RING_PACKED)
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT    (1ull << VIRTIO_RING_F_EVENT_IDX)
#define D_NEXT     VRING_DESC_F_NEXT
#define D_WRITE    VRING_DESC_F_WRITE
#define D_IND      VRING_DESC_F_INDIRECT
#define D_AVAIL    (1u << VRING_PACKED_DESC_F_AVAIL)
#define D_USED     (1u << VRING_PACKED_DESC_F_USED)
#define W          VQ_PACKED_WRAP
#define MAX_Q      4096

/* The driver's view of the ring (2.8.13, 2.8.14). */
struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct pevent {
	uint16_t off_wrap;
	uint16_t flags;
};

/* One element of a list the test driver posts. */
struct buf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;		/* WRITE or INDIRECT; NEXT and AVAIL/USED are added */
};

struct pring {
	uint16_t size;
	uint64_t features;
	struct pdesc *desc;
	struct pevent *drv, *dev;
	uint16_t next_avail, next_used;	/* the driver's positions */
	bool avail_wrap, used_wrap;	/* and wrap counters */
	uint16_t sgs[MAX_Q];		/* slots each buffer id's list took */
	struct vqueue vq;
};

static struct pring R;		/* one ring at a time; static for its size */

static void *translate(void *opaque, uint64_t g, uint64_t len)
{
	(void)opaque;
	return ram_translate(g, len);
}

static const struct vq_mem mem = { translate, NULL };

/* AVAIL/USED bits of a descriptor the driver makes available in lap wrap (2.8.1). */
static uint16_t avail_bits(bool wrap)
{
	return wrap ? D_AVAIL : D_USED;
}

/* The driver's next_avail as a device position. */
static uint16_t drv_pos(const struct pring *r)
{
	return (uint16_t)(r->next_avail | (r->avail_wrap ? W : 0));
}

/* Fresh RAM and ring, attached with vq_setup (the previous one reset). */
static void ring_init(struct pring *r, uint16_t size, uint64_t features)
{
	vq_reset(&r->vq);
	memset(ram, 0, RAM_SIZE);
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->features = features | F_PACKED;
	r->desc = (struct pdesc *)(ram + OFF_DESC);
	r->drv = (struct pevent *)(ram + OFF_DRV);
	r->dev = (struct pevent *)(ram + OFF_DEV);
	r->avail_wrap = r->used_wrap = true;
	CHECK(vq_setup(&r->vq, &mem, size, size, gpa(OFF_DESC), gpa(OFF_DRV), gpa(OFF_DEV),
		       r->features) == 0);
	CHECK(r->vq.ready && !r->vq.broken && r->vq.packed);
}

/* Write one descriptor slot as it is (for the malformed cases). */
static void put(struct pring *r, uint16_t slot, uint64_t addr, uint32_t len, uint16_t id,
		uint16_t flags)
{
	struct pdesc *d = &r->desc[slot];

	d->addr = addr;
	d->len = len;
	d->id = id;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
}

/*
 * Make a list of n elements available under buffer id, as 2.8.21.1 says:
 * every descriptor carries the id and the AVAIL/USED bits of its own lap,
 * and the first one's flags are written last, with a release.
 */
static void post(struct pring *r, uint16_t id, const struct buf *b, int n)
{
	uint16_t first = r->next_avail, first_flags = 0;

	for (int i = 0; i < n; i++) {
		struct pdesc *d = &r->desc[r->next_avail];
		uint16_t f = b[i].flags | avail_bits(r->avail_wrap) | (i < n - 1 ? D_NEXT : 0);

		d->addr = b[i].addr;
		d->len = b[i].len;
		d->id = id;
		if (i == 0)
			first_flags = f;
		else
			d->flags = f;
		if (++r->next_avail == r->size) {
			r->next_avail = 0;
			r->avail_wrap = !r->avail_wrap;
		}
	}
	r->sgs[id] = (uint16_t)n;
	__atomic_store_n(&r->desc[first].flags, first_flags, __ATOMIC_RELEASE);
}

/* n buffers of 64 bytes each, the last writable. */
static void post_n(struct pring *r, uint16_t id, int n)
{
	struct buf b[16];

	for (int i = 0; i < n; i++)
		b[i] = (struct buf){ gpa(OFF_DATA + 0x100 * (uint32_t)i), 64,
				     i == n - 1 ? D_WRITE : 0 };
	post(r, id, b, n);
}

/* Read the next used descriptor as a driver does (2.8.22): false when none. */
static bool reap(struct pring *r, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	struct pdesc *d = &r->desc[r->next_used];
	uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);

	if (((f & D_USED) != 0) != r->used_wrap || ((f & D_AVAIL) != 0) != r->used_wrap)
		return false;
	*id = d->id;
	*len = d->len;
	*flags = f;
	if (!CHECK(*id < r->size && r->sgs[*id] != 0))
		return false;
	r->next_used = (uint16_t)(r->next_used + r->sgs[*id]);
	if (r->next_used >= r->size) {
		r->next_used = (uint16_t)(r->next_used - r->size);
		r->used_wrap = !r->used_wrap;
	}
	r->sgs[*id] = 0;
	return true;
}

static int take(struct pring *r, struct vq_chain *ch, int niov)
{
	return take_chain(&r->vq, ch, niov);
}

/* The ring holds a list breaking one rule: it breaks with want, naming the rule, and stays so. */
static void expect_broken(struct pring *r, int niov, int want, const char *rule)
{
	expect_broken_queue(&r->vq, niov, want, rule);
}

static void test_simple(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;
	struct buf b[2] = { { gpa(OFF_DATA), 100, 0 }, { gpa(OFF_DATA + 0x1000), 300, D_WRITE } };

	cur = "simple";
	ring_init(r, 6, 0);	/* not a power of two */
	CHECK(!vq_has_work(&r->vq));
	CHECK(take(r, &ch, 4) == 0);
	post(r, 4, b, 2);
	CHECK(vq_has_work(&r->vq));
	CHECK(take(r, &ch, 4) == 2);
	CHECK(ch.head == 4 && ch.nread == 1 && ch.nwrite == 1);
	CHECK(ch.read_len == 100 && ch.write_len == 300);
	CHECK(iov[0].iov_base == ram + OFF_DATA && iov[0].iov_len == 100);
	CHECK(iov[1].iov_base == ram + OFF_DATA + 0x1000 && iov[1].iov_len == 300);
	CHECK(r->vq.last_avail == (2 | W) && !vq_has_work(&r->vq));
	CHECK(take(r, &ch, 4) == 0);

	CHECK(!reap(r, &id, &len, &fl));
	vq_relchain(&r->vq, 4, 7);
	CHECK(reap(r, &id, &len, &fl));
	CHECK(id == 4 && len == 7 && (fl & D_WRITE) && (fl & D_AVAIL) && (fl & D_USED));
	CHECK(r->vq.used_idx == (2 | W) && vq_used_idx_in_ring(&r->vq) == (2 | W));

	/* Nothing written: WRITE stays clear in the used descriptor (2.8.3). */
	post_n(r, 0, 1);
	CHECK(take(r, &ch, 4) == 1 && ch.head == 0);
	vq_relchain(&r->vq, 0, 0);
	CHECK(reap(r, &id, &len, &fl) && id == 0 && !(fl & D_WRITE));

	/* A zero-length descriptor yields an empty iovec and is never translated. */
	b[0] = (struct buf){ RAM_BASE + RAM_SIZE * 4ull, 0, D_WRITE };
	post(r, 1, b, 1);
	CHECK(take(r, &ch, 1) == 1);
	CHECK(iov[0].iov_base == NULL && iov[0].iov_len == 0 && ch.nwrite == 1);
	CHECK(!r->vq.broken);
	vq_relchain(&r->vq, 1, 0);
	CHECK(reap(r, &id, &len, &fl) && id == 1);
	CHECK(r->vq.stat_chains == 3);
}

/*
 * Many laps round rings whose size is not a power of two: lists of 1 to 3
 * slots straddle the end, two in flight at a time, completed in either
 * order, alone or as one group.
 */
static void test_wrap(void)
{
	static const uint16_t sizes[] = { 5, 7, 1, 3 };
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;

	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct pring *r = &R;
		uint16_t size = sizes[s];
		int laps_seen = 0;
		bool wrap0 = true;

		cur = "wrap-around";
		ring_init(r, size, 0);
		for (unsigned i = 0; i < 300; i++) {
			int la = 1 + (int)(i % 3), lb = 1 + (int)(i / 3 % 2);
			uint16_t ida = (uint16_t)(i % size), idb = (uint16_t)((i + 1) % size);
			bool two = size >= 2 && la + lb <= size;
			uint16_t heads[2];
			uint32_t lens[2];

			if (la > size)
				la = size;
			post_n(r, ida, la);
			if (two)
				post_n(r, idb, lb);
			CHECK(take(r, &ch, 16) == la && ch.head == ida);
			if (two)
				CHECK(take(r, &ch, 16) == lb && ch.head == idb);
			CHECK(take(r, &ch, 16) == 0);
			CHECK(r->vq.last_avail == drv_pos(r));
			heads[0] = two && (i & 1) ? idb : ida;
			heads[1] = heads[0] == ida ? idb : ida;
			lens[0] = i;
			lens[1] = i + 1000;
			if (!two) {
				vq_relchain(&r->vq, ida, i);
			} else if (i & 2) {
				vq_relchains(&r->vq, heads, lens, 2);
			} else {
				vq_relchain(&r->vq, heads[0], lens[0]);
				vq_relchain(&r->vq, heads[1], lens[1]);
			}
			for (int k = 0; k < (two ? 2 : 1); k++) {
				if (!CHECK(reap(r, &id, &len, &fl)))
					break;
				CHECK(id == heads[k] && len == lens[k]);
			}
			CHECK(!reap(r, &id, &len, &fl));
			CHECK(r->vq.used_idx == r->vq.last_avail);
			if (r->avail_wrap != wrap0) {
				wrap0 = r->avail_wrap;
				laps_seen++;
			}
			if (failures)
				return;
		}
		CHECK(laps_seen > 20);
	}
}

/* Ids complete out of order: each used descriptor skips its own list's slots. */
static void test_out_of_order(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;

	cur = "out-of-order";
	ring_init(r, 8, 0);
	post_n(r, 2, 1);	/* slot 0 */
	post_n(r, 5, 3);	/* slots 1-3 */
	post_n(r, 7, 2);	/* slots 4-5 */
	CHECK(take(r, &ch, 8) == 1 && ch.head == 2);
	CHECK(take(r, &ch, 8) == 3 && ch.head == 5);
	CHECK(take(r, &ch, 8) == 2 && ch.head == 7);

	vq_relchain(&r->vq, 7, 70);
	CHECK(r->vq.used_idx == (2 | W));
	CHECK(reap(r, &id, &len, &fl) && id == 7 && len == 70);
	vq_relchain(&r->vq, 2, 20);
	CHECK(reap(r, &id, &len, &fl) && id == 2 && len == 20);
	CHECK(!reap(r, &id, &len, &fl));
	vq_relchain(&r->vq, 5, 50);
	CHECK(reap(r, &id, &len, &fl) && id == 5 && len == 50);
	CHECK(r->vq.used_idx == (6 | W) && r->vq.last_avail == (6 | W));

	/* The ids are free again; a list straddles the end of the ring. */
	post_n(r, 5, 3);	/* slots 6, 7, 0 */
	post_n(r, 2, 2);	/* slots 1, 2 */
	CHECK(take(r, &ch, 8) == 3 && ch.head == 5);
	CHECK(take(r, &ch, 8) == 2 && ch.head == 2);
	CHECK(r->vq.last_avail == 3);	/* wrap counter 0 now */
	{
		const uint16_t heads[2] = { 2, 5 };
		const uint32_t lens[2] = { 1, 2 };

		vq_relchains(&r->vq, heads, lens, 2);
	}
	CHECK(reap(r, &id, &len, &fl) && id == 2 && len == 1);
	CHECK(reap(r, &id, &len, &fl) && id == 5 && len == 2);
	CHECK(r->vq.used_idx == 3 && !(fl & D_USED));
}

static void test_indirect(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;
	struct pdesc t[3] = {
		{ gpa(OFF_DATA), 16, 0xffff, D_NEXT },	/* NEXT and id are ignored in a table */
		{ gpa(OFF_DATA + 0x1000), 100, 0, D_WRITE | D_AVAIL },
		{ gpa(OFF_DATA + 0x2000), 200, 0, D_WRITE },
	};
	struct buf b = { gpa(OFF_IND + 3), sizeof(t), D_IND | D_WRITE };

	cur = "indirect";
	ring_init(r, 4, F_INDIRECT);
	memcpy(ram + OFF_IND + 3, t, sizeof(t));	/* unaligned table */
	post(r, 3, &b, 1);
	post_n(r, 1, 2);	/* a direct list beside it */
	CHECK(take(r, &ch, 8) == 3);
	CHECK(ch.head == 3 && ch.nread == 1 && ch.nwrite == 2);
	CHECK(ch.read_len == 16 && ch.write_len == 300);
	CHECK(iov[0].iov_base == ram + OFF_DATA && iov[2].iov_base == ram + OFF_DATA + 0x2000);
	CHECK(take(r, &ch, 8) == 2 && ch.head == 1);
	vq_relchain(&r->vq, 3, 300);
	vq_relchain(&r->vq, 1, 0);
	CHECK(reap(r, &id, &len, &fl) && id == 3 && len == 300);
	CHECK(reap(r, &id, &len, &fl) && id == 1);
	CHECK(r->vq.used_idx == (3 | W));
}

/* Used buffer notifications: the driver area (2.8.10). */
static void use_one(struct pring *r, uint16_t id, int n)
{
	struct vq_chain ch;

	post_n(r, id, n);
	CHECK(take(r, &ch, 16) == n && ch.head == id);
	vq_relchain(&r->vq, id, 0);
}

static void test_interrupts(void)
{
	struct pring *r = &R;

	cur = "endchains no EVENT_IDX";
	ring_init(r, 4, 0);
	CHECK(!vq_endchains(&r->vq));	/* nothing used */
	use_one(r, 0, 1);
	CHECK(vq_endchains(&r->vq));	/* ENABLE (0) */
	CHECK(!vq_endchains(&r->vq));
	r->drv->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	use_one(r, 0, 1);
	CHECK(!vq_endchains(&r->vq));
	r->drv->flags = VRING_PACKED_EVENT_FLAG_DESC;	/* not negotiated: as ENABLE */
	r->drv->off_wrap = 0x7fff;
	use_one(r, 0, 1);
	CHECK(vq_endchains(&r->vq));
	r->drv->flags = 3;				/* reserved: as ENABLE */
	use_one(r, 0, 1);
	CHECK(vq_endchains(&r->vq));

	cur = "endchains EVENT_IDX";
	ring_init(r, 4, F_EVENT);
	r->drv->flags = VRING_PACKED_EVENT_FLAG_DESC;
	r->drv->off_wrap = 3 | W;
	use_one(r, 0, 1);		/* slot 0; the first decision always interrupts */
	CHECK(vq_endchains(&r->vq));
	use_one(r, 1, 1);		/* slot 1 */
	CHECK(!vq_endchains(&r->vq));
	use_one(r, 2, 1);		/* slot 2 */
	CHECK(!vq_endchains(&r->vq));
	use_one(r, 3, 1);		/* slot 3: the event */
	CHECK(vq_endchains(&r->vq));
	CHECK(r->vq.used_idx == 0);	/* wrap counter 0 */
	/* An event a lap behind (wrap counter 1 at slot 1) is not hit by this lap's slot 1. */
	r->drv->off_wrap = 1 | W;
	use_one(r, 0, 1);
	use_one(r, 1, 1);
	CHECK(!vq_endchains(&r->vq));
	/* The event inside a list's skipped slots: slot 3 of a list at slots 2, 3, 0. */
	r->drv->off_wrap = 3;
	use_one(r, 2, 3);
	CHECK(r->vq.used_idx == (1 | W));
	CHECK(vq_endchains(&r->vq));
	/* Event at slot 2 of the lap with counter 1: missed by the batch before it, hit by its own. */
	r->drv->off_wrap = 2 | W;
	use_one(r, 0, 1);		/* slot 1 */
	CHECK(!vq_endchains(&r->vq));
	use_one(r, 1, 1);		/* slot 2 */
	CHECK(vq_endchains(&r->vq));
	r->drv->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	use_one(r, 1, 1);
	CHECK(!vq_endchains(&r->vq));
	r->drv->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	use_one(r, 1, 1);
	CHECK(vq_endchains(&r->vq));
}

/* Available buffer notifications: the device area (2.8.10). */
static void test_notify(void)
{
	struct pring *r = &R;

	cur = "set_notify";
	ring_init(r, 4, 0);
	vq_set_notify(&r->vq, false);
	CHECK(r->dev->flags == VRING_PACKED_EVENT_FLAG_DISABLE);
	vq_set_notify(&r->vq, true);
	CHECK(r->dev->flags == VRING_PACKED_EVENT_FLAG_ENABLE);

	cur = "set_notify EVENT_IDX";
	ring_init(r, 4, F_EVENT);
	r->dev->off_wrap = 0xbeef;
	use_one(r, 0, 3);
	vq_set_notify(&r->vq, true);
	CHECK(r->dev->flags == VRING_PACKED_EVENT_FLAG_DESC && r->dev->off_wrap == (3 | W));
	use_one(r, 1, 2);		/* slots 3, 0: the wrap counter flips */
	vq_set_notify(&r->vq, true);
	CHECK(r->dev->flags == VRING_PACKED_EVENT_FLAG_DESC && r->dev->off_wrap == 1);
	vq_set_notify(&r->vq, false);
	CHECK(r->dev->flags == VRING_PACKED_EVENT_FLAG_DISABLE);
}

static void test_retchain(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;

	cur = "retchain";
	ring_init(r, 4, 0);
	post_n(r, 1, 1);
	post_n(r, 2, 2);	/* slots 1, 2 */
	CHECK(take(r, &ch, 8) == 1 && ch.head == 1);
	CHECK(take(r, &ch, 8) == 2 && ch.head == 2);
	vq_retchain(&r->vq);
	CHECK(r->vq.last_avail == (1 | W) && vq_has_work(&r->vq));
	vq_retchain(&r->vq);	/* only the last chain: nothing more */
	CHECK(r->vq.last_avail == (1 | W));
	CHECK(take(r, &ch, 8) == 2 && ch.head == 2);
	vq_relchain(&r->vq, 2, 5);
	vq_retchain(&r->vq);	/* released: nothing to give back */
	CHECK(r->vq.last_avail == (3 | W) && !r->vq.broken);
	vq_relchain(&r->vq, 1, 6);
	CHECK(reap(r, &id, &len, &fl) && id == 2 && len == 5);
	CHECK(reap(r, &id, &len, &fl) && id == 1 && len == 6);

	/* Across the end of the ring. */
	post_n(r, 0, 3);	/* slots 3, 0, 1 */
	CHECK(take(r, &ch, 8) == 3 && r->vq.last_avail == 2);
	vq_retchain(&r->vq);
	CHECK(r->vq.last_avail == (3 | W));
	CHECK(take(r, &ch, 8) == 3 && ch.head == 0 && r->vq.last_avail == 2);
}

static void test_indexes(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;

	cur = "set_indexes";
	ring_init(r, 6, 0);
	/* Another owner stopped at slot 4 of the lap with wrap counter 0. */
	vq_set_indexes(&r->vq, 4, 4);
	r->next_avail = r->next_used = 4;
	r->avail_wrap = r->used_wrap = false;
	CHECK(!vq_has_work(&r->vq));
	post_n(r, 5, 3);	/* slots 4, 5, 0 */
	CHECK(take(r, &ch, 8) == 3 && ch.head == 5);
	CHECK(r->vq.last_avail == (1 | W));
	vq_relchain(&r->vq, 5, 9);
	CHECK(reap(r, &id, &len, &fl) && id == 5 && len == 9 && !(fl & (D_AVAIL | D_USED)));
	CHECK(vq_used_idx_in_ring(&r->vq) == (1 | W));

	cur = "set_indexes out of range";
	vq_set_indexes(&r->vq, 6, 6);
	CHECK(r->vq.broken && r->vq.error && strstr(r->vq.error, "out of range"));
	CHECK(r->vq.last_avail == (1 | W) && r->vq.used_idx == (1 | W));
	ring_init(r, 6, 0);
	vq_set_indexes(&r->vq, 2 | W, 3 | W);	/* 11 slots in flight in a ring of 6 */
	CHECK(r->vq.broken && r->vq.last_avail == W);
}

/*
 * A front-end's base as a start position: 0 on a fresh (zeroed) ring is a
 * split ring's base and means wrap counter 1; 0 where slot 0 shows the ring
 * was used is a real position (slot 0, wrap counter 0) and stays.
 */
static void test_start_base(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	uint16_t id, fl;
	uint32_t len;

	cur = "start_base";
	ring_init(r, 4, 0);
	CHECK(vq_packed_start_base(&r->vq, 0) == W);
	CHECK(vq_packed_start_base(&r->vq, W) == W && vq_packed_start_base(&r->vq, 2) == 2);
	/* Started where it says, the driver's first chain is served. */
	vq_set_indexes(&r->vq, vq_packed_start_base(&r->vq, 0), vq_packed_start_base(&r->vq, 0));
	post_n(r, 1, 1);
	CHECK(take(r, &ch, 8) == 1 && ch.head == 1);
	vq_relchain(&r->vq, 1, 4);
	CHECK(reap(r, &id, &len, &fl) && id == 1);
	/* One lap later (4 slots used), slot 0 is not zero any more: a base
	 * of 0 then means slot 0 of the lap with wrap counter 0. */
	for (uint16_t i = 2; i < 5; i++) {
		post_n(r, i % 4, 1);
		CHECK(take(r, &ch, 8) == 1);
		vq_relchain(&r->vq, ch.head, 4);
		CHECK(reap(r, &id, &len, &fl));
	}
	CHECK(r->vq.last_avail == 0);
	CHECK(vq_packed_start_base(&r->vq, 0) == 0);
	/* ... and so does a slot 0 the driver made available in that lap. */
	ring_init(r, 4, 0);
	put(r, 0, gpa(OFF_DATA), 64, 0, D_USED | D_WRITE);
	CHECK(vq_packed_start_base(&r->vq, 0) == 0);
	/* Split rings take their base as it is. */
	vq_reset(&r->vq);
	memset(ram, 0, RAM_SIZE);
	CHECK(vq_setup(&r->vq, &mem, 4, 4, gpa(OFF_DESC), gpa(OFF_DRV), gpa(OFF_DRV + 0x100), 0) ==
	      0);
	CHECK(!r->vq.packed && vq_packed_start_base(&r->vq, 0) == 0);
	vq_reset(&r->vq);
}

static void test_malformed(void)
{
	struct pring *r = &R;
	struct vq_chain ch;
	struct buf b[2];
	struct pdesc t[2];

	cur = "id out of range";
	ring_init(r, 8, 0);
	post_n(r, 8, 1);
	expect_broken(r, 4, -EINVAL, "buffer id out of range");

	cur = "id re-used while in flight";
	ring_init(r, 8, 0);
	post_n(r, 3, 1);
	CHECK(take(r, &ch, 4) == 1 && ch.head == 3);
	post_n(r, 3, 2);
	expect_broken(r, 4, -EINVAL, "re-used while in flight");

	cur = "id in the last descriptor";
	ring_init(r, 8, 0);
	put(r, 1, gpa(OFF_DATA), 8, 6, avail_bits(true));
	put(r, 0, gpa(OFF_DATA), 8, 99, avail_bits(true) | D_NEXT);	/* ignored */
	CHECK(take(r, &ch, 4) == 2 && ch.head == 6);

	cur = "wrap counter: head looks used";
	ring_init(r, 8, 0);
	put(r, 0, gpa(OFF_DATA), 8, 0, D_AVAIL | D_USED);
	CHECK(!vq_has_work(&r->vq) && take(r, &ch, 4) == 0 && !r->vq.broken);
	cur = "wrap counter: head available in the other lap";
	put(r, 0, gpa(OFF_DATA), 8, 0, avail_bits(false));
	CHECK(!vq_has_work(&r->vq) && take(r, &ch, 4) == 0 && !r->vq.broken);

	cur = "wrap counter: list continues into a used descriptor";
	ring_init(r, 8, 0);
	put(r, 1, gpa(OFF_DATA), 8, 1, D_AVAIL | D_USED);
	put(r, 0, gpa(OFF_DATA), 8, 1, avail_bits(true) | D_NEXT);
	expect_broken(r, 4, -EINVAL, "not available");
	cur = "wrap counter: list continues into the other lap";
	ring_init(r, 8, 0);
	put(r, 1, gpa(OFF_DATA), 8, 1, avail_bits(false));
	put(r, 0, gpa(OFF_DATA), 8, 1, avail_bits(true) | D_NEXT);
	expect_broken(r, 4, -EINVAL, "not available");

	cur = "list round the whole ring";
	ring_init(r, 8, 0);
	for (uint16_t i = 8; i-- > 0;)
		put(r, i, gpa(OFF_DATA), 8, 0, avail_bits(true) | D_NEXT);
	expect_broken(r, 64, -EINVAL, "not available");

	cur = "more descriptors in flight than the ring holds";
	ring_init(r, 4, 0);
	post_n(r, 0, 3);	/* slots 0-2, kept */
	CHECK(take(r, &ch, 8) == 3);
	post_n(r, 1, 2);	/* slots 3 and 0: over id 0's list */
	expect_broken(r, 8, -EINVAL, "more descriptors in flight");
	cur = "the same list after the ring has room";
	ring_init(r, 4, 0);
	post_n(r, 0, 3);
	CHECK(take(r, &ch, 8) == 3);
	vq_relchain(&r->vq, 0, 0);
	post_n(r, 1, 2);
	CHECK(take(r, &ch, 8) == 2 && ch.head == 1 && !r->vq.broken);

	cur = "buffer outside RAM";
	ring_init(r, 8, 0);
	b[0] = (struct buf){ RAM_BASE + RAM_SIZE - 8, 16, 0 };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "outside guest RAM");
	cur = "buffer below RAM";
	ring_init(r, 8, 0);
	b[0] = (struct buf){ RAM_BASE - 4096, 16, D_WRITE };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "outside guest RAM");
	cur = "buffer address wraps";
	ring_init(r, 8, 0);
	b[0] = (struct buf){ UINT64_MAX - 7, 16, 0 };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "outside guest RAM");

	cur = "readable after writable";
	ring_init(r, 8, 0);
	b[0] = (struct buf){ gpa(OFF_DATA), 16, D_WRITE };
	b[1] = (struct buf){ gpa(OFF_DATA), 16, 0 };
	post(r, 0, b, 2);
	expect_broken(r, 4, -EINVAL, "device-readable descriptor after");

	cur = "more iovecs than the device allows";
	ring_init(r, 8, 0);
	post_n(r, 0, 3);
	expect_broken(r, 2, -E2BIG, "more iovecs");

	cur = "indirect not negotiated";
	ring_init(r, 8, 0);
	b[0] = (struct buf){ gpa(OFF_IND), 32, D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "not negotiated");

	cur = "indirect with NEXT";
	ring_init(r, 8, F_INDIRECT);
	put(r, 1, gpa(OFF_DATA), 8, 0, avail_bits(true));
	put(r, 0, gpa(OFF_IND), 32, 0, avail_bits(true) | D_IND | D_NEXT);
	expect_broken(r, 4, -EINVAL, "linked by NEXT");
	cur = "indirect after NEXT";
	ring_init(r, 8, F_INDIRECT);
	b[0] = (struct buf){ gpa(OFF_DATA), 8, 0 };
	b[1] = (struct buf){ gpa(OFF_IND), 32, D_IND };
	post(r, 0, b, 2);
	expect_broken(r, 4, -EINVAL, "linked by NEXT");

	cur = "indirect length zero";
	ring_init(r, 8, F_INDIRECT);
	b[0] = (struct buf){ gpa(OFF_IND), 0, D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "multiple of 16");
	cur = "indirect length 24";
	ring_init(r, 8, F_INDIRECT);
	b[0] = (struct buf){ gpa(OFF_IND), 24, D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "multiple of 16");
	cur = "indirect table larger than queue";
	ring_init(r, 8, F_INDIRECT);
	b[0] = (struct buf){ gpa(OFF_IND), 16 * 9, D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 64, -EINVAL, "larger than queue");
	cur = "indirect table outside RAM";
	ring_init(r, 8, F_INDIRECT);
	b[0] = (struct buf){ RAM_BASE + RAM_SIZE - 16, 32, D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "indirect table outside");

	cur = "nested indirect";
	ring_init(r, 8, F_INDIRECT);
	t[0] = (struct pdesc){ gpa(OFF_DATA), 16, 0, 0 };
	t[1] = (struct pdesc){ gpa(OFF_IND + 0x100), 32, 0, D_IND };
	memcpy(ram + OFF_IND, t, sizeof(t));
	b[0] = (struct buf){ gpa(OFF_IND), sizeof(t), D_IND };
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "inside an indirect table");

	cur = "buffer in an indirect table outside RAM";
	ring_init(r, 8, F_INDIRECT);
	t[1] = (struct pdesc){ RAM_BASE + RAM_SIZE, 1, 0, D_WRITE };
	memcpy(ram + OFF_IND, t, sizeof(t));
	post(r, 0, b, 1);
	expect_broken(r, 4, -EINVAL, "outside guest RAM");

	cur = "device releases an id not in flight";
	ring_init(r, 8, 0);
	vq_relchain(&r->vq, 3, 0);
	CHECK(r->vq.broken && strstr(r->vq.error, "not in flight"));
	CHECK(r->desc[0].flags == 0 && r->vq.used_idx == W);
	vq_relchain(&r->vq, 40000, 0);
	CHECK(r->desc[0].flags == 0);
}

static void test_len_overflow(void)
{
	struct pring *r = &R;
	const uint16_t n = 4096;
	static struct buf b[4096];

	for (int w = 0; w < 2; w++) {
		uint16_t fl = w ? D_WRITE : 0;
		struct vq_chain ch;

		cur = w ? "write_len over 2^32" : "read_len over 2^32";
		ring_init(r, n, 0);
		for (uint16_t i = 0; i < n; i++)
			b[i] = (struct buf){ RAM_BASE, RAM_SIZE, fl };
		post(r, 0, b, n);
		expect_broken(r, MAX_IOV, -EINVAL, "32 bits");

		/* One byte less is legal, fills the whole ring and every iovec. */
		ring_init(r, n, 0);
		b[7].len = RAM_SIZE - 1;
		post(r, 0, b, n);
		CHECK(take(r, &ch, MAX_IOV) == n);
		CHECK((w ? ch.write_len : ch.read_len) == UINT32_MAX);
		CHECK(r->vq.last_avail == 0);	/* a whole lap */
	}
}

static void expect_setup_fails(uint16_t size, uint16_t max, uint64_t d, uint64_t drv,
			       uint64_t dev, const char *rule)
{
	struct vqueue vq;
	int rc = vq_setup(&vq, &mem, size, max, d, drv, dev, F_PACKED);

	CHECK(rc == -EINVAL && !vq.ready && vq.inflight == NULL);
	if (CHECK(vq.error != NULL) && !CHECK(strstr(vq.error, rule) != NULL))
		fprintf(stderr, "    error \"%s\", want \"%s\"\n", vq.error, rule);
}

static void test_setup(void)
{
	const uint64_t d = gpa(OFF_DESC), a = gpa(OFF_DRV), u = gpa(OFF_DEV);
	const uint64_t end = RAM_BASE + RAM_SIZE;
	struct vqueue vq;

	memset(ram, 0, RAM_SIZE);
	cur = "setup size 0";
	expect_setup_fails(0, 8, d, a, u, "zero");
	cur = "setup size > max";
	expect_setup_fails(9, 8, d, a, u, "larger than device");
	cur = "setup desc misaligned";
	expect_setup_fails(8, 8, d + 8, a, u, "aligned");
	cur = "setup driver area misaligned";
	expect_setup_fails(8, 8, d, a + 2, u, "aligned");
	cur = "setup device area misaligned";
	expect_setup_fails(8, 8, d, a, u + 2, "aligned");
	cur = "setup desc ring straddles end of RAM";
	expect_setup_fails(8, 8, end - 16 * 7, a, u, "outside guest RAM");
	cur = "setup driver area straddles end of RAM";
	expect_setup_fails(8, 8, d, end - 2, u, "outside guest RAM");
	cur = "setup device area outside RAM";
	expect_setup_fails(8, 8, d, a, end, "outside guest RAM");

	cur = "setup split ring refuses what packed takes";
	CHECK(vq_setup(&vq, &mem, 6, 8, d, a, u, 0) == -EINVAL);

	cur = "setup exact fit";
	memset(&vq, 0, sizeof(vq));
	CHECK(vq_setup(&vq, &mem, 8, 8, end - 16 * 8, end - 8, end - 4,
		       F_PACKED | F_EVENT | F_INDIRECT) == 0);
	CHECK(vq.ready && vq.packed && vq.event_idx && vq.indirect && vq.size == 8);
	CHECK(vq.last_avail == W && vq.used_idx == W && vq.inflight != NULL);
	vq_reset(&vq);
	CHECK(!vq.ready && !vq.packed && vq.inflight == NULL);
	cur = "setup extreme sizes";
	CHECK(vq_setup(&vq, &mem, 32768, 32768, d, end - 8, end - 4, F_PACKED) == 0);
	vq_reset(&vq);
	CHECK(vq_setup(&vq, &mem, 1, 1, d, a, u, F_PACKED) == 0 && vq.size == 1);
	vq_reset(&vq);
	CHECK(vq_setup(&vq, &mem, 32767, 32768, d, end - 8, end - 4, F_PACKED) == 0);
	vq_reset(&vq);
}

/* Guest RAM the hypervisor maps anew (remap_base) or takes away (NULL). */
static uint8_t *remap_base;

static void *translate_moving(void *opaque, uint64_t g, uint64_t len)
{
	uint64_t off = g - RAM_BASE;

	(void)opaque;
	if (!remap_base || len == 0 || g < RAM_BASE || off > RAM_SIZE || len > RAM_SIZE - off)
		return NULL;
	return remap_base + off;
}

static void test_remap(void)
{
	const struct vq_mem moving = { translate_moving, NULL };
	uint8_t *ram2 = aligned_alloc(4096, RAM_SIZE);
	struct pring *r = &R;
	struct vq_chain ch;
	struct pdesc *desc2;

	cur = "remap";
	if (!CHECK(ram2 != NULL))
		return;
	ring_init(r, 4, 0);
	vq_reset(&r->vq);
	remap_base = ram;
	CHECK(vq_setup(&r->vq, &moving, 4, 4, gpa(OFF_DESC), gpa(OFF_DRV), gpa(OFF_DEV),
		       F_PACKED) == 0);
	post_n(r, 1, 1);
	CHECK(take(r, &ch, 4) == 1 && ch.head == 1);

	memcpy(ram2, ram, RAM_SIZE);
	remap_base = ram2;
	CHECK(vq_remap(&r->vq) == 0 && !r->vq.broken);
	desc2 = (struct pdesc *)(ram2 + OFF_DESC);
	vq_relchain(&r->vq, 1, 3);
	CHECK(desc2[0].id == 1 && desc2[0].len == 3 && (desc2[0].flags & D_USED));
	CHECK(!(r->desc[0].flags & D_USED));

	remap_base = NULL;
	CHECK(vq_remap(&r->vq) == -EFAULT && r->vq.broken);
	CHECK(take(r, &ch, 4) == -EFAULT && !vq_has_work(&r->vq));
	vq_relchain(&r->vq, 1, 0);
	vq_set_notify(&r->vq, true);
	CHECK(!vq_endchains(&r->vq));
	vq_reset(&r->vq);
	free(ram2);
}

/*
 * The hostile guest rewrites descriptors (flags included) and indirect
 * tables while the device walks them.  Whatever it does, every chain
 * returned must be self-consistent and inside RAM: a double fetch (checking
 * one value and using another) shows up as an iovec disagreeing with the
 * totals or leaving RAM.  Atomic stores keep the test's own racing writes
 * well defined.
 */
/* Now and then long enough to leave RAM from the data area. */
static uint32_t race_len(uint32_t r)
{
	return r & ((r >> 28) ? 0x3ff : 0xfffff);
}

static uint16_t race_flags(uint32_t r)
{
	/*
	 * WRITE or not; NEXT one time in four, so lists mostly end; INDIRECT
	 * one time in sixteen; AVAIL/USED mostly of the lap the device is in
	 * after a reset, else of the other lap, or any.
	 */
	uint16_t f = (uint16_t)((r & D_WRITE) | ((r >> 2 & 3) ? 0 : D_NEXT) |
				((r >> 4 & 15) ? 0 : D_IND));

	switch (r >> 12 & 3) {
	case 0: case 1: return f | avail_bits(true);
	case 2: return f | avail_bits(false);
	default: return f | (uint16_t)(r & (D_AVAIL | D_USED));
	}
}

static void *stress_guest(void *arg)
{
	(void)arg;
	uint32_t st = 0x12345678;

	while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED)) {
		uint32_t x = xorshift(&st), r = xorshift(&st);
		uint32_t i = x & (STRESS_SIZE - 1);
		struct pdesc *d = (struct pdesc *)(ram + ((x & STRESS_SIZE) ? STRESS_IND_OFF
									   : OFF_DESC) + 16 * i);
		uint64_t addr = gpa(OFF_DATA + (r & 0xffff));
		uint16_t flags = race_flags(xorshift(&st));
		uint32_t len = race_len(xorshift(&st));

		if ((r >> 16 & 15) == 0)
			addr = RAM_BASE + RAM_SIZE - (r >> 20 & 0xff);	/* near or past the end */
		if (flags & D_IND) {
			/* Table of 1..16 entries ending at the end of RAM. */
			len = 16u * (1 + (r >> 24 & 15));
			addr = RAM_BASE + RAM_SIZE - len;
		}
		/* Mostly single-field flips: they hit the window between check and use. */
		switch (x >> 29) {
		case 0: case 1: case 2:
			__atomic_store_n(&d->len, race_len(r), __ATOMIC_RELAXED);
			break;
		case 3:	/* out of range one time in eight */
			__atomic_store_n(&d->id, (uint16_t)((r >> 4 & 15) | ((r >> 9 & 7) ? 0 : 16)),
					 __ATOMIC_RELAXED);
			break;
		case 4:
			__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
			break;
		default:
			__atomic_store_n(&d->addr, addr, __ATOMIC_RELAXED);
			__atomic_store_n(&d->len, len, __ATOMIC_RELAXED);
			__atomic_store_n(&d->id, (uint16_t)(r >> 4 & 15), __ATOMIC_RELAXED);
			__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
			break;
		}
	}
	return NULL;
}

static void stress_restart(void *arg)
{
	struct pring *r = arg;

	CHECK(vq_setup(&r->vq, &mem, STRESS_SIZE, STRESS_SIZE, gpa(OFF_DESC), gpa(OFF_DRV),
		       gpa(OFF_DEV), F_PACKED | F_INDIRECT) == 0);
}

/* The device's positions stay inside the ring, and all it took went back. */
static void stress_after_chain(void *arg)
{
	struct pring *r = arg;

	CHECK((r->vq.last_avail & (W - 1)) < STRESS_SIZE);
	CHECK(r->vq.used_idx == r->vq.last_avail);
}

static void test_stress(void)
{
	struct stress_ops ops = { stress_guest, stress_restart, stress_after_chain, &R };

	cur = "stress";
	ring_init(&R, STRESS_SIZE, F_INDIRECT);
	stress_race(&R.vq, &ops);
}

int main(void)
{
	if (!ram_alloc())
		return 2;
	test_simple();
	test_wrap();
	test_out_of_order();
	test_indirect();
	test_interrupts();
	test_notify();
	test_retchain();
	test_indexes();
	test_start_base();
	test_malformed();
	test_len_overflow();
	test_setup();
	test_remap();
	test_stress();
	vq_reset(&R.vq);
	free(ram);
	return checks_result("test_vq_packed");
}
