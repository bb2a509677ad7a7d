/*
 * test_vq.c - unit test for libvbsu's split virtqueue (vbs-u/vq.c).
 *
 * Plays the driver: lays rings out in a fake guest RAM the way a virtio 1.x
 * driver would, then checks well-formed chains, the used ring, interrupt and
 * kick suppression, every malformed-ring rule vq_getchain enforces, every
 * layout vq_setup must refuse, and vq_remap after guest RAM is mapped anew.  Each case starts from a freshly zeroed RAM and
 * ring.  A last stress run has a racing "guest" thread rewrite the rings while
 * chains are taken.  Exits 0 on success; prints each failed check and exits 1 otherwise.
 */
#define RAM_BASE 0x40000000ull		/* non-zero, so gpa/offset mix-ups show */
#define RAM_SIZE (1u << 20)
#include "vq_test.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/virtio_ring.h>

/* Offsets inside RAM; room for rings of up to 4096 entries. */
#define OFF_DESC  0x00000u
#define OFF_AVAIL 0x10000u
#define OFF_USED  0x14000u
#define OFF_IND   0x20000u		/* indirect tables */
#define OFF_DATA  0x40000u		/* buffers */

#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT    (1ull << VIRTIO_RING_F_EVENT_IDX)

/* The driver's view of the rings (same layout as the spec's, 2.7.5-2.7.8). */
struct tdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct tavail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct tused_elem {
	uint32_t id;
	uint32_t len;
};

struct tused {
	uint16_t flags;
	uint16_t idx;
	struct tused_elem ring[];
};

struct ring {
	uint16_t size;
	uint64_t features;
	struct tdesc *desc;
	struct tavail *avail;
	struct tused *used;
	uint16_t avail_idx;
	struct vqueue vq;
};

static bool naive_translate;	/* model a callback that forgets wrap-around */

/* ram_translate, or (naive_translate) one that forgets wrap-around. */
static void *translate(void *opaque, uint64_t g, uint64_t len)
{
	(void)opaque;
	if (naive_translate) {
		if (g < RAM_BASE || g + len > RAM_BASE + RAM_SIZE)
			return NULL;
		return ram + (g - RAM_BASE);
	}
	return ram_translate(g, len);
}

static const struct vq_mem mem = { translate, NULL };

static void *ind_table(uint32_t off)
{
	return ram + off;
}

/* memcpy: indirect tables may be deliberately unaligned. */
static void set_desc(void *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct tdesc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy((uint8_t *)table + (size_t)i * sizeof(d), &d, sizeof(d));
}

/* Make a chain head available, as a driver does (2.7.13). */
static void publish(struct ring *r, uint16_t head)
{
	r->avail->ring[r->avail_idx % r->size] = head;
	r->avail_idx++;
	__atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

/* Fresh RAM and rings, attached with vq_setup. */
static void ring_init(struct ring *r, uint16_t size, uint64_t features)
{
	int rc;

	memset(ram, 0, RAM_SIZE);
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->features = features;
	r->desc = (struct tdesc *)(ram + OFF_DESC);
	r->avail = (struct tavail *)(ram + OFF_AVAIL);
	r->used = (struct tused *)(ram + OFF_USED);
	rc = vq_setup(&r->vq, &mem, size, size, gpa(OFF_DESC), gpa(OFF_AVAIL), gpa(OFF_USED),
		      features);
	CHECK(rc == 0);
	CHECK(r->vq.ready && !r->vq.broken);
}

static int take(struct ring *r, struct vq_chain *ch, int niov)
{
	return take_chain(&r->vq, ch, niov);
}

/*
 * The ring in r holds a chain breaking one rule: vq_getchain must fail with
 * want, break the queue naming the rule, stay broken, and work again after
 * vq_reset + vq_setup on a fresh ring.
 */
static void expect_broken(struct ring *r, int niov, int want, const char *rule)
{
	struct vq_chain ch;

	expect_broken_queue(&r->vq, niov, want, rule);
	vq_reset(&r->vq);
	CHECK(!r->vq.ready && !r->vq.broken && r->vq.error == NULL);
	ring_init(r, r->size, r->features);
	set_desc(r->desc, 0, gpa(OFF_DATA), 64, 0, 0);
	publish(r, 0);
	CHECK(take(r, &ch, 1) == 1);
	CHECK(ch.head == 0 && ch.read_len == 64 && !r->vq.broken);
}

static void test_simple(void)
{
	struct ring r;
	struct vq_chain ch;

	cur = "simple";
	ring_init(&r, 8, 0);
	CHECK(!vq_has_work(&r.vq));
	CHECK(take(&r, &ch, 4) == 0);
	set_desc(r.desc, 3, gpa(OFF_DATA), 100, 0, 0);
	publish(&r, 3);
	CHECK(vq_has_work(&r.vq));
	CHECK(take(&r, &ch, 4) == 1);
	CHECK(ch.head == 3 && ch.nread == 1 && ch.nwrite == 0);
	CHECK(ch.read_len == 100 && ch.write_len == 0);
	CHECK(iov[0].iov_base == ram + OFF_DATA && iov[0].iov_len == 100);
	CHECK(!vq_has_work(&r.vq));
	CHECK(take(&r, &ch, 4) == 0);

	/* vq_retchain hands the same chain out again. */
	publish(&r, 3);
	CHECK(take(&r, &ch, 4) == 1);
	vq_retchain(&r.vq);
	CHECK(vq_has_work(&r.vq));
	CHECK(take(&r, &ch, 4) == 1 && ch.head == 3);

	/* A zero-length descriptor yields an empty iovec and is never translated. */
	set_desc(r.desc, 1, RAM_BASE + RAM_SIZE * 4ull, 0, VRING_DESC_F_WRITE, 0);
	publish(&r, 1);
	CHECK(take(&r, &ch, 1) == 1);
	CHECK(iov[0].iov_base == NULL && iov[0].iov_len == 0 && ch.nwrite == 1);
	CHECK(!r.vq.broken);
}

static void test_multi(void)
{
	static const uint16_t order[] = { 5, 2, 7, 0, 3 };
	static const uint32_t lens[] = { 16, 300, 1, 4096, 512 };
	struct ring r;
	struct vq_chain ch;

	cur = "multi";
	ring_init(&r, 8, 0);
	for (unsigned i = 0; i < 5; i++) {
		uint16_t fl = (i < 3 ? 0 : VRING_DESC_F_WRITE) | (i < 4 ? VRING_DESC_F_NEXT : 0);

		set_desc(r.desc, order[i], gpa(OFF_DATA + i * 0x2000), lens[i], fl,
			 i < 4 ? order[i + 1] : 0);
	}
	publish(&r, 5);
	CHECK(take(&r, &ch, 5) == 5);	/* niov exactly the chain length is fine */
	CHECK(ch.head == 5 && ch.nread == 3 && ch.nwrite == 2);
	CHECK(ch.read_len == 16 + 300 + 1 && ch.write_len == 4096 + 512);
	for (unsigned i = 0; i < 5; i++)
		CHECK(iov[i].iov_base == ram + OFF_DATA + i * 0x2000 && iov[i].iov_len == lens[i]);
}

static void test_indirect(void)
{
	struct ring r;
	struct vq_chain ch;
	void *t = ind_table(OFF_IND);
	void *u = ind_table(OFF_IND + 0x1003);	/* unaligned table */

	cur = "indirect";
	ring_init(&r, 8, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 10, VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, gpa(OFF_DATA + 0x100), 20, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, gpa(OFF_DATA + 0x200), 30, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	set_desc(t, 3, gpa(OFF_DATA + 0x300), 40, VRING_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is ignored (2.7.5.3.2). */
	set_desc(r.desc, 6, gpa(OFF_IND), 4 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	publish(&r, 6);
	CHECK(take(&r, &ch, 8) == 4);
	CHECK(ch.head == 6 && ch.nread == 2 && ch.nwrite == 2);
	CHECK(ch.read_len == 30 && ch.write_len == 70);
	CHECK(iov[1].iov_base == ram + OFF_DATA + 0x100 && iov[3].iov_len == 40);

	/* Direct descriptors followed by one indirect (2.7.5.3.2), table unaligned. */
	set_desc(u, 0, gpa(OFF_DATA + 0x400), 8, VRING_DESC_F_WRITE, 0);
	set_desc(r.desc, 1, gpa(OFF_DATA + 0x500), 5, VRING_DESC_F_NEXT, 4);
	set_desc(r.desc, 4, gpa(OFF_IND + 0x1003), 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 1);
	CHECK(take(&r, &ch, 8) == 2);
	CHECK(ch.head == 1 && ch.nread == 1 && ch.nwrite == 1 && ch.write_len == 8);
	CHECK(iov[1].iov_base == ram + OFF_DATA + 0x400);
	CHECK(!r.vq.broken);
}

/* A chain through every descriptor is legal: no false loop detection. */
static void test_full_chain(void)
{
	struct ring r;
	struct vq_chain ch;
	void *t = ind_table(OFF_IND);
	const uint16_t n = 16;

	cur = "full chain";
	ring_init(&r, n, F_INDIRECT);
	for (uint16_t i = 0; i < n; i++) {
		/* Walk the table backwards: head n-1, ..., 0. */
		set_desc(r.desc, i, gpa(OFF_DATA + i * 16u), 16, i ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(i - 1));
		set_desc(t, i, gpa(OFF_DATA), 1, i < n - 1 ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE,
			 (uint16_t)(i + 1));
	}
	publish(&r, n - 1);
	CHECK(take(&r, &ch, n) == n && ch.read_len == 16u * n);
	CHECK(iov[n - 1].iov_base == ram + OFF_DATA);

	/* An indirect table of exactly size entries. */
	set_desc(r.desc, 0, gpa(OFF_IND), 16u * n, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	CHECK(take(&r, &ch, n) == n && ch.nread == n - 1 && ch.write_len == 1);
	CHECK(!r.vq.broken);
}

static void test_used(void)
{
	struct ring r;
	struct vq_chain ch;

	cur = "used ring";
	ring_init(&r, 8, 0);
	set_desc(r.desc, 2, gpa(OFF_DATA), 8, VRING_DESC_F_WRITE, 0);
	publish(&r, 2);
	CHECK(take(&r, &ch, 1) == 1);
	vq_relchain(&r.vq, ch.head, 7);
	CHECK(r.used->idx == 1 && r.used->ring[0].id == 2 && r.used->ring[0].len == 7);

	/* Run past a wrap of the ring: entries land at used_idx % size. */
	for (uint32_t i = 0; i < 19; i++) {
		set_desc(r.desc, i % 8, gpa(OFF_DATA), 8, VRING_DESC_F_WRITE, 0);
		publish(&r, (uint16_t)(i % 8));
		CHECK(take(&r, &ch, 1) == 1 && ch.head == i % 8);
		vq_relchain(&r.vq, ch.head, 100 + i);
		CHECK(r.used->idx == i + 2);
		CHECK(r.used->ring[(i + 1) % 8].id == i % 8);
		CHECK(r.used->ring[(i + 1) % 8].len == 100 + i);
	}
	/* Nothing was written past the ring: avail_event (unused here) is still 0. */
	uint16_t avail_event;
	memcpy(&avail_event, &r.used->ring[8], sizeof(avail_event));
	CHECK(avail_event == 0);
}

static void use_one(struct ring *r)
{
	struct vq_chain ch;

	set_desc(r->desc, 0, gpa(OFF_DATA), 8, 0, 0);
	publish(r, 0);
	CHECK(take(r, &ch, 1) == 1);
	vq_relchain(&r->vq, ch.head, 0);
}

static void test_interrupts(void)
{
	struct ring r;
	volatile uint16_t *used_event;

	cur = "NO_INTERRUPT";
	ring_init(&r, 8, 0);
	CHECK(!vq_endchains(&r.vq));		/* nothing used yet */
	use_one(&r);
	CHECK(vq_endchains(&r.vq));
	CHECK(!vq_endchains(&r.vq));		/* nothing new since */
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	use_one(&r);
	CHECK(!vq_endchains(&r.vq));
	r.avail->flags = 0;
	use_one(&r);
	CHECK(vq_endchains(&r.vq));

	cur = "EVENT_IDX";
	ring_init(&r, 8, F_EVENT);
	used_event = &r.avail->ring[8];
	*used_event = 5;
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;	/* ignored with EVENT_IDX */
	use_one(&r);					/* used idx 1 */
	CHECK(vq_endchains(&r.vq));			/* first decision always signals */
	use_one(&r);					/* 2 */
	CHECK(!vq_endchains(&r.vq));			/* entry 1 written, want 5 */
	use_one(&r);
	use_one(&r);
	use_one(&r);					/* 3, 4, 5 */
	CHECK(!vq_endchains(&r.vq));			/* entries 2..4 */
	use_one(&r);					/* 6: entry 5 */
	CHECK(vq_endchains(&r.vq));
	CHECK(!vq_endchains(&r.vq));
	*used_event = 6;
	use_one(&r);
	use_one(&r);					/* entries 6, 7 in one batch */
	CHECK(vq_endchains(&r.vq));
	*used_event = 7;				/* already passed */
	use_one(&r);
	CHECK(!vq_endchains(&r.vq));
}

static void test_notify(void)
{
	struct ring r;
	volatile uint16_t *avail_event;

	cur = "set_notify";
	ring_init(&r, 8, 0);
	vq_set_notify(&r.vq, false);
	CHECK(r.used->flags == VRING_USED_F_NO_NOTIFY);
	vq_set_notify(&r.vq, true);
	CHECK(r.used->flags == 0);

	cur = "set_notify EVENT_IDX";
	ring_init(&r, 8, F_EVENT);
	avail_event = (volatile uint16_t *)(ram + OFF_USED + 4 + 8 * 8);	/* after ring[8] */
	*avail_event = 0xbeef;
	use_one(&r);
	use_one(&r);
	vq_set_notify(&r.vq, true);
	CHECK(*avail_event == 2 && r.used->flags == 0);
	use_one(&r);
	vq_set_notify(&r.vq, false);
	CHECK(*avail_event == 2 && r.used->flags == 0);
}

static void test_malformed(void)
{
	struct ring r;
	void *t = ind_table(OFF_IND);
	const uint16_t n = 8;

	cur = "direct loop";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "loop");

	cur = "self loop";
	ring_init(&r, n, 0);
	set_desc(r.desc, 4, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 4);
	publish(&r, 4);
	expect_broken(&r, MAX_IOV, -EINVAL, "loop");

	cur = "indirect loop";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "loop");

	cur = "direct + indirect longer than queue";
	ring_init(&r, n, F_INDIRECT);
	for (uint16_t i = 0; i < n; i++)
		set_desc(t, i, gpa(OFF_DATA), 8, i < n - 1 ? VRING_DESC_F_NEXT : 0, i + 1);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, gpa(OFF_IND), 16u * n, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "longer than queue");

	cur = "indirect table larger than queue";
	ring_init(&r, n, F_INDIRECT);
	for (uint16_t i = 0; i <= n; i++)
		set_desc(t, i, gpa(OFF_DATA), 8, 0, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 16u * (n + 1), VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "indirect table larger than queue");

	cur = "buffer outside RAM";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, RAM_BASE + RAM_SIZE + 0x1000, 8, 0, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "outside guest RAM");

	cur = "buffer below RAM";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, RAM_BASE - 8, 8, 0, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "outside guest RAM");

	cur = "buffer straddling end of RAM";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(r.desc, 1, RAM_BASE + RAM_SIZE - 8, 16, VRING_DESC_F_WRITE, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "outside guest RAM");

	cur = "buffer wrapping 2^64";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, UINT64_MAX - 7, 16, 0, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "outside guest RAM");

	/* vq.c must catch the wrap itself when the callback does not. */
	cur = "buffer wrapping 2^64, naive translate";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, UINT64_MAX - 7, 16, 0, 0);
	publish(&r, 0);
	naive_translate = true;
	expect_broken(&r, MAX_IOV, -EINVAL, "outside guest RAM");
	naive_translate = false;

	cur = "indirect table outside RAM";
	ring_init(&r, n, F_INDIRECT);
	set_desc(r.desc, 0, RAM_BASE + RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "indirect table outside guest RAM");

	cur = "nested indirect";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, gpa(OFF_IND), 2 * 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "inside an indirect table");

	cur = "indirect with NEXT";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, 0, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, gpa(OFF_DATA), 8, 0, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "with NEXT");

	cur = "indirect length 24";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, 0, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 24, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "multiple of 16");

	cur = "indirect length 0";
	ring_init(&r, n, F_INDIRECT);
	set_desc(r.desc, 0, gpa(OFF_IND), 0, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "multiple of 16");

	cur = "indirect not negotiated";
	ring_init(&r, n, 0);
	set_desc(t, 0, gpa(OFF_DATA), 8, 0, 0);
	set_desc(r.desc, 0, gpa(OFF_IND), 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "not negotiated");

	cur = "readable after writable";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(r.desc, 2, gpa(OFF_DATA), 8, 0, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "readable descriptor after");

	cur = "readable in indirect table after direct writable";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, 0, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(r.desc, 1, gpa(OFF_IND), 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "readable descriptor after");

	cur = "head >= size";
	ring_init(&r, n, 0);
	publish(&r, n);
	expect_broken(&r, MAX_IOV, -EINVAL, "head index");

	cur = "next >= size";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, n);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "next index");

	cur = "next >= indirect table entries";
	ring_init(&r, n, F_INDIRECT);
	set_desc(t, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, gpa(OFF_DATA), 8, 0, 0);	/* in RAM, but past the table */
	set_desc(r.desc, 0, gpa(OFF_IND), 2 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(&r, 0);
	expect_broken(&r, MAX_IOV, -EINVAL, "next index");

	cur = "avail idx jump > size";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, 0, 0);
	r.avail_idx = n + 1;
	r.avail->idx = r.avail_idx;
	CHECK(vq_has_work(&r.vq));
	expect_broken(&r, MAX_IOV, -EINVAL, "avail idx");

	cur = "niov too small";
	ring_init(&r, n, 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT, 1);
	set_desc(r.desc, 1, gpa(OFF_DATA), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(r.desc, 2, gpa(OFF_DATA), 8, VRING_DESC_F_WRITE, 0);
	publish(&r, 0);
	expect_broken(&r, 2, -E2BIG, "iovecs");
}

/* 4096 whole-RAM buffers add up to 2^32 bytes: one past what 32 bits hold. */
static void test_len_overflow(void)
{
	struct ring r;
	const uint16_t n = 4096;

	for (int w = 0; w < 2; w++) {
		uint16_t fl = w ? VRING_DESC_F_WRITE : 0;

		cur = w ? "write_len over 2^32" : "read_len over 2^32";
		ring_init(&r, n, 0);
		for (uint16_t i = 0; i < n; i++)
			set_desc(r.desc, i, RAM_BASE, RAM_SIZE,
				 fl | (i < n - 1 ? VRING_DESC_F_NEXT : 0), i + 1);
		publish(&r, 0);
		expect_broken(&r, MAX_IOV, -EINVAL, "32 bits");

		/* One byte less is legal and fills every iovec. */
		ring_init(&r, n, 0);
		for (uint16_t i = 0; i < n; i++)
			set_desc(r.desc, i, RAM_BASE, RAM_SIZE - (i == 7),
				 fl | (i < n - 1 ? VRING_DESC_F_NEXT : 0), i + 1);
		publish(&r, 0);
		{
			struct vq_chain ch;

			CHECK(take(&r, &ch, MAX_IOV) == n);
			CHECK((w ? ch.write_len : ch.read_len) == UINT32_MAX);
		}
	}
}

/*
 * The hostile guest rewrites descriptors, the indirect table and the avail
 * ring while the device walks them.  Whatever it does, every chain returned
 * must be self-consistent and inside RAM: a double fetch (checking one value
 * and using another) shows up as an iovec disagreeing with the totals or
 * leaving RAM.  Atomic stores keep the test's own racing writes well defined.
 */
static uint8_t *race_slot(uint32_t x)
{
	uint32_t i = x & (STRESS_SIZE - 1);

	return ram + ((x & STRESS_SIZE) ? STRESS_IND_OFF : OFF_DESC) + (size_t)i * 16;
}

static uint16_t race_next(uint32_t r)
{
	/* Mostly in range for the main table; out of range now and then. */
	return (uint16_t)((r & (STRESS_SIZE - 1)) + ((r >> 4 & 15) ? 0 : STRESS_SIZE));
}

static uint32_t race_len(uint32_t r)
{
	return r & ((r >> 31) ? 0xfffff : 0x3ff);
}

/* Rewrite a whole descriptor slot. */
static void race_desc(struct tdesc *d, uint32_t *st)
{
	uint32_t r = xorshift(st);
	uint64_t addr = gpa(OFF_DATA + (r & 0xffff));
	uint32_t len = race_len(xorshift(st));
	uint16_t flags;

	if ((r >> 16 & 15) == 0)
		addr = RAM_BASE + RAM_SIZE - (r >> 20 & 0xff);	/* near or past the end */
	/* Mostly NEXT/WRITE combinations; INDIRECT now and then. */
	r = xorshift(st);
	flags = (uint16_t)(r & ((r >> 8 & 7) ? 3 : 7));
	if (flags & VRING_DESC_F_INDIRECT) {
		/* Table of 1..16 entries ending at the end of RAM, so walking past it is caught. */
		len = 16u * (1 + (r >> 24 & 15));
		addr = RAM_BASE + RAM_SIZE - len;
	}
	__atomic_store_n(&d->addr, addr, __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&d->next, race_next(r >> 16), __ATOMIC_RELAXED);
}

static void *stress_guest(void *arg)
{
	struct ring *r = arg;
	uint32_t st = 0x12345678;
	uint16_t idx, used;

	while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED)) {
		uint32_t x = xorshift(&st);
		struct tdesc *d = (struct tdesc *)race_slot(x);

		/* Mostly single-field flips: they hit the window between check and use. */
		switch (x >> 29) {
		case 0: case 1: case 2:
			__atomic_store_n(&d->len, race_len(xorshift(&st)), __ATOMIC_RELAXED);
			break;
		case 3: case 4:
			__atomic_store_n(&d->next, race_next(x >> 8), __ATOMIC_RELAXED);
			break;
		case 5: case 6:
			race_desc(d, &st);
			break;
		default:
			__atomic_store_n(&r->avail->ring[x >> 8 & (STRESS_SIZE - 1)],
					 (uint16_t)(x >> 12 & (STRESS_SIZE - 1)), __ATOMIC_RELAXED);
			break;
		}
		/* Like a driver, keep at most size entries outstanding. */
		idx = __atomic_load_n(&r->avail->idx, __ATOMIC_RELAXED);
		used = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
		if ((uint16_t)(idx - used) >= STRESS_SIZE)
			sched_yield();	/* ring full: let the device run even on one CPU */
		else if ((x >> 20 & 3) == 0)
			__atomic_store_n(&r->avail->idx, ++idx, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* After a break: the "driver" restarts where it is, both indices resynced to it. */
static void stress_restart(void *arg)
{
	struct ring *r = arg;

	CHECK(vq_setup(&r->vq, &mem, STRESS_SIZE, STRESS_SIZE, gpa(OFF_DESC), gpa(OFF_AVAIL),
		       gpa(OFF_USED), F_INDIRECT) == 0);
	r->vq.last_avail = __atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE);
	r->vq.used_idx = r->vq.last_avail;
	__atomic_store_n(&r->used->idx, r->vq.used_idx, __ATOMIC_RELEASE);
}

static void test_stress(void)
{
	struct ring r;
	struct stress_ops ops = { stress_guest, stress_restart, NULL, &r };

	cur = "stress";
	ring_init(&r, STRESS_SIZE, F_INDIRECT);
	stress_race(&r.vq, &ops);
}

static void expect_setup_fails(uint16_t size, uint16_t max, uint64_t d, uint64_t a, uint64_t u,
			       const struct vq_mem *m, const char *rule)
{
	struct vqueue vq;

	memset(&vq, 0x5a, sizeof(vq));
	CHECK(vq_setup(&vq, m, size, max, d, a, u, 0) == -EINVAL);
	CHECK(!vq.ready && !vq.broken);
	if (CHECK(vq.error != NULL) && !CHECK(strstr(vq.error, rule) != NULL))
		fprintf(stderr, "    error \"%s\", want \"%s\"\n", vq.error, rule);
	CHECK(!vq_has_work(&vq) && vq_getchain(&vq, &(struct vq_chain){ 0 }, iov, 1) == 0);
	/* The same struct accepts a good layout afterwards. */
	vq_reset(&vq);
	CHECK(vq_setup(&vq, &mem, 8, 8, gpa(OFF_DESC), gpa(OFF_AVAIL), gpa(OFF_USED), 0) == 0);
	CHECK(vq.ready && vq.error == NULL);
}

static void test_setup(void)
{
	const uint64_t d = gpa(OFF_DESC), a = gpa(OFF_AVAIL), u = gpa(OFF_USED);
	const uint64_t end = RAM_BASE + RAM_SIZE;
	const struct vq_mem nomem = { NULL, NULL };
	struct vqueue vq;

	memset(ram, 0, RAM_SIZE);
	cur = "setup size 0";
	expect_setup_fails(0, 8, d, a, u, &mem, "power of two");
	cur = "setup size 12";
	expect_setup_fails(12, 16, d, a, u, &mem, "power of two");
	cur = "setup size > max";
	expect_setup_fails(16, 8, d, a, u, &mem, "larger than device");
	cur = "setup max > VQ_MAX_SIZE";
	expect_setup_fails(8, 40000, d, a, u, &mem, "maximum queue size");
	cur = "setup desc misaligned";
	expect_setup_fails(8, 8, d + 8, a, u, &mem, "aligned");
	cur = "setup avail misaligned";
	expect_setup_fails(8, 8, d, a + 1, u, &mem, "aligned");
	cur = "setup used misaligned";
	expect_setup_fails(8, 8, d, a, u + 2, &mem, "aligned");
	cur = "setup desc outside RAM";
	expect_setup_fails(8, 8, end, a, u, &mem, "outside guest RAM");
	cur = "setup avail straddles end of RAM";	/* needs 6 + 2 * 8 = 22 bytes */
	expect_setup_fails(8, 8, d, end - 20, u, &mem, "outside guest RAM");
	cur = "setup used straddles end of RAM";	/* needs 6 + 8 * 8 = 70 bytes */
	expect_setup_fails(8, 8, d, a, end - 68, &mem, "outside guest RAM");
	cur = "setup used below RAM";
	expect_setup_fails(8, 8, d, a, RAM_BASE - 4096, &mem, "outside guest RAM");
	cur = "setup no translate";
	expect_setup_fails(8, 8, d, a, u, &nomem, "translate");

	cur = "setup exact fit";
	CHECK(vq_setup(&vq, &mem, 8, 8, d, end - 22, u, F_EVENT | F_INDIRECT) == 0);
	CHECK(vq.ready && vq.event_idx && vq.indirect && vq.size == 8);
	cur = "setup extreme sizes";
	CHECK(vq_setup(&vq, &mem, 32768, 32768, d, a, u, 0) == 0 && vq.size == 32768);
	CHECK(vq_setup(&vq, &mem, 1, 1, d, a, u, 0) == 0 && !vq.event_idx);
}

/* Guest RAM that the hypervisor can map anew (remap_base) or take away (NULL). */
static uint8_t *remap_base;

static void *translate_moving(void *opaque, uint64_t gpa, uint64_t len)
{
	uint64_t off = gpa - RAM_BASE;

	if (!remap_base || len == 0 || gpa < RAM_BASE || off > RAM_SIZE || len > RAM_SIZE - off)
		return NULL;
	return remap_base + off;
}

static void test_remap(void)
{
	const struct vq_mem moving = { translate_moving, NULL };
	uint8_t *ram2 = aligned_alloc(4096, RAM_SIZE);
	struct tdesc *desc2;
	struct tavail *avail2;
	struct tused *used2, *used1;
	struct vq_chain ch;
	struct ring r;

	cur = "remap";
	if (!CHECK(ram2 != NULL))
		return;
	ring_init(&r, 8, 0);
	remap_base = ram;
	CHECK(vq_setup(&r.vq, &moving, 8, 8, gpa(OFF_DESC), gpa(OFF_AVAIL), gpa(OFF_USED), 0) == 0);
	set_desc(r.desc, 0, gpa(OFF_DATA), 64, 0, 0);
	publish(&r, 0);
	CHECK(take(&r, &ch, 4) == 1 && iov[0].iov_base == ram + OFF_DATA);
	vq_relchain(&r.vq, ch.head, 0);

	/* The same guest addresses now live elsewhere, contents and all. */
	memcpy(ram2, ram, RAM_SIZE);
	remap_base = ram2;
	CHECK(vq_remap(&r.vq) == 0 && !r.vq.broken);
	desc2 = (struct tdesc *)(ram2 + OFF_DESC);
	avail2 = (struct tavail *)(ram2 + OFF_AVAIL);
	used2 = (struct tused *)(ram2 + OFF_USED);
	used1 = r.used;
	set_desc(desc2, 5, gpa(OFF_DATA), 32, 0, 0);
	avail2->ring[1] = 5;
	__atomic_store_n(&avail2->idx, 2, __ATOMIC_RELEASE);
	CHECK(vq_has_work(&r.vq));
	CHECK(take(&r, &ch, 4) == 1 && ch.head == 5 && iov[0].iov_base == ram2 + OFF_DATA);
	vq_relchain(&r.vq, ch.head, 0);
	CHECK(used2->idx == 2 && used2->ring[1].id == 5 && used1->idx == 1);

	/* The map loses the ring: broken, and nothing is touched any more. */
	remap_base = NULL;
	CHECK(vq_remap(&r.vq) == -EFAULT && r.vq.broken);
	CHECK(r.vq.error && strstr(r.vq.error, "memory map change"));
	CHECK(take(&r, &ch, 4) == -EFAULT && !vq_has_work(&r.vq));
	vq_relchain(&r.vq, 5, 0);
	vq_set_notify(&r.vq, true);
	CHECK(used2->idx == 2);
	CHECK(vq_remap(&r.vq) == 0); /* a queue that is not set up has nothing to look up */
	free(ram2);
}

int main(void)
{
	if (!ram_alloc())
		return 2;
	test_simple();
	test_multi();
	test_indirect();
	test_full_chain();
	test_used();
	test_interrupts();
	test_notify();
	test_malformed();
	test_len_overflow();
	test_setup();
	test_remap();
	test_stress();
	free(ram);
	return checks_result("test_vq");
}
