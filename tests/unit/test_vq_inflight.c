/*
 * test_vq_inflight.c - unit test for libvbsu's in-flight tracking of split
 * rings (vbs-u/vq_inflight.c), the vhost-user INFLIGHT_SHMFD region.
 *
 * Plays the driver on a split ring in a fake guest RAM, and plays the
 * back-end dying: a queue is dropped (vq_reset) with chains taken and not
 * used, and a fresh queue attached to the same region must hand exactly
 * those chains out again, oldest first, before new avail entries, and go
 * on from the right avail index.  A back-end killed between publishing a
 * used batch and clearing it is recovered from the batch list.  Regions a
 * hostile front-end could hand over (unknown version, another ring size,
 * a mark neither 0 nor 1, a used index further off than the ring holds, a
 * batch list leaving the ring, too short) refuse the start.  Another
 * owner of the ring (vdm's VBS-U after a back-end died mid-switch) adopts
 * a dead back-end's region: the same chains again, the region untouched;
 * and the region is counted read-only for a front-end draining.  The region
 * layout is written out here from the spec, not shared with the code.
 */
#define RAM_BASE 0x10000000ull
#define RAM_SIZE (256u << 10)
#include "vq_test.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/virtio_ring.h>

#define QSIZE 8
#define OFF_DESC 0x0000u
#define OFF_AVAIL 0x1000u
#define OFF_USED 0x2000u
#define OFF_DATA 0x4000u

struct tdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct tavail {
	uint16_t flags, idx, ring[QSIZE + 1];
};
struct tused {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[QSIZE];
	uint16_t avail_event;
};
/* vhost-user.rst, "Inflight I/O tracking": QueueRegionSplit / DescStateSplit. */
struct tstate {
	uint8_t inflight, pad[5];
	uint16_t next;
	uint64_t counter;
};
struct tregion {
	uint64_t features;
	uint16_t version, desc_num, last_batch_head, used_idx;
	struct tstate desc[QSIZE];
};

static struct tregion *region;
static size_t region_len;
static struct tavail *avail;
static struct tused *used;
static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa < RAM_BASE || gpa + len < gpa || gpa + len > RAM_BASE + RAM_SIZE)
		return NULL;
	return ram + (gpa - RAM_BASE);
}

static const struct vq_mem mem = { translate, NULL };

/* A fresh ring: descriptor i is one 16-byte writable buffer. */
static void fresh_ring(void)
{
	struct tdesc *d = (struct tdesc *)(ram + OFF_DESC);

	memset(ram, 0, RAM_SIZE);
	for (unsigned i = 0; i < QSIZE; i++)
		d[i] = (struct tdesc){ RAM_BASE + OFF_DATA + 16 * i, 16, VRING_DESC_F_WRITE, 0 };
	avail = (struct tavail *)(ram + OFF_AVAIL);
	used = (struct tused *)(ram + OFF_USED);
}

static void post(uint16_t head)
{
	avail->ring[avail->idx % QSIZE] = head;
	avail->idx++;
}

static int setup(struct vqueue *vq)
{
	return vq_setup(vq, &mem, QSIZE, QSIZE, RAM_BASE + OFF_DESC, RAM_BASE + OFF_AVAIL,
			RAM_BASE + OFF_USED, 0);
}

/* A back-end starting on the ring with the region. */
static int start(struct vqueue *vq, uint16_t base)
{
	int ret = setup(vq);

	return ret ? ret : vq_inflight_attach(vq, region, region_len, base);
}

/* The next chain's head, or -1 (nothing), or -2 (error). */
static int take(struct vqueue *vq)
{
	struct vq_chain c;
	int n = take_chain(vq, &c, 4);

	return n > 0 ? c.head : n == 0 ? -1 : -2;
}

static void fresh(const char *name)
{
	cur = name;
	fresh_ring();
	memset(region, 0, region_len);
}

static void basic(void)
{
	struct vqueue vq, vq2;

	fresh("a region never written");
	CHECK(start(&vq, 0) == 0);
	CHECK(region->version == 1 && region->desc_num == QSIZE && region->used_idx == 0);
	CHECK(vq_inflight_resubmits(&vq) == 0 && take(&vq) == -1);
	vq_reset(&vq);

	fresh("taken and used chains are tracked");
	CHECK(start(&vq, 0) == 0);
	post(3);
	post(1);
	post(6);
	CHECK(take(&vq) == 3 && take(&vq) == 1 && take(&vq) == 6);
	CHECK(region->desc[3].inflight == 1 && region->desc[1].inflight == 1 &&
	      region->desc[6].inflight == 1);
	CHECK(region->desc[3].counter < region->desc[1].counter &&
	      region->desc[1].counter < region->desc[6].counter);
	vq_relchain(&vq, 1, 16);
	CHECK(used->idx == 1 && region->used_idx == 1 && region->desc[1].inflight == 0 &&
	      region->last_batch_head == 1);

	cur = "a back-end dies with two chains in flight: the next resubmits them, oldest first";
	vq_reset(&vq); /* the process is gone; the region stays */
	post(2);
	/* The front-end's base is the used index: it could not ask a dead back-end. */
	CHECK(start(&vq2, 1) == 0);
	CHECK(vq_inflight_resubmits(&vq2) == 2 && vq_has_work(&vq2));
	CHECK(take(&vq2) == 3);
	CHECK(take(&vq2) == 6);
	CHECK(take(&vq2) == 2); /* then the new avail entry, not avail[1..2] again */
	CHECK(take(&vq2) == -1);
	CHECK(vq2.last_avail == 4);
	vq_relchain(&vq2, 6, 16);
	vq_relchain(&vq2, 3, 16);
	vq_relchain(&vq2, 2, 16);
	CHECK(used->idx == 4 && region->used_idx == 4);
	for (unsigned i = 0; i < QSIZE; i++)
		CHECK(region->desc[i].inflight == 0);
	vq_reset(&vq2);

	cur = "a clean restart: nothing to resubmit, on from the used index";
	post(5);
	CHECK(start(&vq, 4) == 0 && vq_inflight_resubmits(&vq) == 0 && take(&vq) == 5);
	vq_relchain(&vq, 5, 16);
	vq_reset(&vq);

	fresh("vq_retchain gives a chain back untracked, and a resubmitted one back to the list");
	CHECK(start(&vq, 0) == 0);
	post(4);
	CHECK(take(&vq) == 4 && region->desc[4].inflight == 1);
	vq_retchain(&vq);
	CHECK(region->desc[4].inflight == 0 && take(&vq) == 4);
	vq_reset(&vq);
	CHECK(start(&vq, 0) == 0 && take(&vq) == 4);
	vq_retchain(&vq);
	CHECK(vq_inflight_resubmits(&vq) == 1 && take(&vq) == 4 && take(&vq) == -1);
	vq_reset(&vq);
}

static void adopted(void)
{
	struct vqueue vq, other;
	struct tregion before;
	uint16_t heads[1] = { 2 };
	uint32_t lens[1] = { 16 };

	fresh("another owner adopts a dead back-end's region, read only");
	CHECK(start(&vq, 0) == 0);
	post(5);
	post(2);
	post(0);
	CHECK(take(&vq) == 5 && take(&vq) == 2 && take(&vq) == 0);
	vq_relchains(&vq, heads, lens, 1);
	region->desc[2].inflight = 1; /* killed before clearing the batch */
	region->used_idx = 0;
	vq_reset(&vq);
	CHECK(vq_inflight_pending(region, region_len, QSIZE, used->idx) == 2);
	memcpy(&before, region, sizeof(before));
	CHECK(setup(&other) == 0 && vq_inflight_adopt(&other, region, region_len) == 2);
	CHECK(!memcmp(&before, region, sizeof(before)));
	post(7);
	CHECK(take(&other) == 5 && take(&other) == 0 && take(&other) == 7 && take(&other) == -1);
	vq_relchain(&other, 0, 16);
	vq_relchain(&other, 5, 16);
	vq_relchain(&other, 7, 16);
	CHECK(used->idx == 4 && !memcmp(&before, region, sizeof(before)));
	vq_reset(&other);
	region->version = 3;
	CHECK(setup(&other) == 0 && vq_inflight_adopt(&other, region, region_len) == -EINVAL &&
	      vq_inflight_pending(region, region_len, QSIZE, used->idx) == -EINVAL);
	vq_reset(&other);
}

static void torn_batch(void)
{
	struct vqueue vq;
	uint16_t heads[2] = { 0, 5 };
	uint32_t lens[2] = { 16, 16 };

	fresh("killed between publishing a used batch and clearing it");
	CHECK(start(&vq, 0) == 0);
	post(0);
	post(5);
	post(7);
	CHECK(take(&vq) == 0 && take(&vq) == 5 && take(&vq) == 7);
	vq_relchains(&vq, heads, lens, 2);
	vq_reset(&vq);
	/* What the region held right after used->idx moved: marks not cleared
	 * yet, used_idx not yet caught up. */
	region->desc[0].inflight = 1;
	region->desc[5].inflight = 1;
	region->used_idx = 0;
	CHECK(start(&vq, 2) == 0);
	CHECK(region->used_idx == 2 && region->desc[0].inflight == 0 &&
	      region->desc[5].inflight == 0);
	CHECK(vq_inflight_resubmits(&vq) == 1 && take(&vq) == 7 && take(&vq) == -1);
	vq_reset(&vq);

	fresh("killed after marking the batch but before publishing it");
	CHECK(start(&vq, 0) == 0);
	post(2);
	CHECK(take(&vq) == 2);
	region->desc[2].next = region->last_batch_head;
	region->last_batch_head = 2; /* used->idx never moved */
	vq_reset(&vq);
	CHECK(start(&vq, 0) == 0 && vq_inflight_resubmits(&vq) == 1 && take(&vq) == 2);
	vq_reset(&vq);
}

/* A region as a hostile front-end could hand it over: start must refuse. */
static void refused(const char *name, void (*spoil)(void))
{
	struct vqueue vq;

	fresh(name);
	CHECK(start(&vq, 0) == 0);
	post(1);
	CHECK(take(&vq) == 1);
	vq_reset(&vq);
	spoil();
	CHECK(setup(&vq) == 0);
	CHECK(vq_inflight_attach(&vq, region, region_len, 0) == -EINVAL && vq.error);
	CHECK(vq.tracker == NULL && take(&vq) == 1); /* left untracked, not broken */
	vq_reset(&vq);
}

static void bad_version(void) { region->version = 7; }
static void bad_size(void) { region->desc_num = QSIZE * 2; }
static void bad_mark(void) { region->desc[1].inflight = 2; }
static void far_used(void) { region->used_idx = (uint16_t)(used->idx - QSIZE - 1); }
static void bad_batch(void)
{
	region->used_idx = (uint16_t)(used->idx - 2);
	region->last_batch_head = 1;
	region->desc[1].next = 200;
}

static void hostile(void)
{
	struct vqueue vq;

	refused("a region of an unknown version", bad_version);
	refused("a region made for another ring size", bad_size);
	refused("a mark neither in flight nor free", bad_mark);
	refused("a used index further off than the ring holds", far_used);
	refused("a batch list that leaves the ring", bad_batch);

	fresh("a region too short for the ring");
	CHECK(setup(&vq) == 0 && vq_inflight_attach(&vq, region, 16 + 16 * (QSIZE - 1), 0) == -EINVAL);
	vq_reset(&vq);
	fresh("a packed ring");
	CHECK(vq_setup(&vq, &mem, QSIZE, QSIZE, RAM_BASE + OFF_DESC, RAM_BASE + OFF_AVAIL,
		       RAM_BASE + OFF_USED, 1ull << 34) == 0 &&
	      vq_inflight_attach(&vq, region, region_len, 0) == -EINVAL);
	vq_reset(&vq);
	cur = "the size a back-end gives each ring";
	CHECK(vq_inflight_queue_bytes(QSIZE) >= sizeof(struct tregion) &&
	      vq_inflight_queue_bytes(QSIZE) % 64 == 0);
	CHECK(vq_inflight_queue_bytes(32768) == 16 + 16 * 32768 + 48);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	region_len = vq_inflight_queue_bytes(QSIZE);
	region = aligned_alloc(64, region_len);
	if (!ram || !region)
		return 99;
	basic();
	torn_batch();
	adopted();
	hostile();
	free(ram);
	free(region);
	if (failures) {
		fprintf(stderr, "test_vq_inflight: %d checks failed\n", failures);
		return 1;
	}
	printf("test_vq_inflight: all checks passed\n");
	return 0;
}
