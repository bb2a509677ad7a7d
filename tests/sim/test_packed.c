/*
 * test_packed.c - packed virtqueues (virtio 1.2, 2.8) on the simulator,
 * driven by the test driver's packed ring (tests/driver/drv_vq_packed.c):
 * which devices offer VIRTIO_F_RING_PACKED (and packed=off takes it away);
 * virtio-rnd and virtio-blk on queue sizes that are not powers of two, so
 * the ring wraps many times, with lists of several descriptors (the device
 * must skip their slots when it writes the used descriptor), indirect
 * tables and several chains in flight at once, through MSI-X and INTx; the
 * disk's data checked in the image; and event suppression both ways: no
 * interrupt while the driver's area says DISABLE, one when it asks for the
 * next used descriptor (EVENT_IDX's DESC), and the device's own area asking
 * for a kick at the next descriptor it will read once the queue is idle.
 */
#include "blk_guest.h"

#include <linux/virtio_blk.h>

#define BLK_SLOT 3
#define RND_SLOT 4
#define RND_SPLIT_SLOT 5
#define PACKED_BIT (1ULL << VIRTIO_F_RING_PACKED)
#define RING_FEATURES                                                                              \
	(PACKED_BIT | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX))

static struct drv d;
static struct drv_func funcs[8];
static int nfuncs;
static char image[160];

/* The device area as the device writes it (2.8.14). */
struct event_area {
	uint16_t off_wrap;
	uint16_t flags;
};

static int bring_up(struct drv_virtio *v, int slot, uint64_t heap, uint64_t features, bool msix,
		    uint16_t qsize)
{
	struct drv_func *f = guest_func(funcs, nfuncs, slot);

	if (!f || drv_virtio_probe(v, &d, f, heap) ||
	    drv_virtio_negotiate(v, (1ULL << VIRTIO_F_VERSION_1) | features) ||
	    drv_virtio_setup_irq(v, msix) || drv_virtio_setup_vq(v, 0, qsize))
		return -1;
	drv_virtio_driver_ok(v);
	return 0;
}

/* Which functions offer the packed ring. */
static void offers(void)
{
	struct drv_virtio v;

	drv_check(drv_virtio_probe(&v, &d, guest_func(funcs, nfuncs, BLK_SLOT), 16 << 20) == 0 &&
			  (drv_virtio_device_features(&v) & PACKED_BIT),
		  "virtio-blk offers VIRTIO_F_RING_PACKED");
	drv_check(drv_virtio_probe(&v, &d, guest_func(funcs, nfuncs, RND_SLOT), 16 << 20) == 0 &&
			  (drv_virtio_device_features(&v) & PACKED_BIT),
		  "virtio-rnd offers VIRTIO_F_RING_PACKED");
	drv_check(drv_virtio_probe(&v, &d, guest_func(funcs, nfuncs, RND_SPLIT_SLOT), 16 << 20) ==
				  0 &&
			  !(drv_virtio_device_features(&v) & PACKED_BIT),
		  "virtio-rnd with packed=off does not offer it");
}

/*
 * Post chain i of a mix that walks the ring unevenly: one buffer, three
 * buffers linked by NEXT (three ring slots), or two buffers in an indirect
 * table (one slot).  Buffers are len bytes each at gpa.  Returns the id.
 */
static int post_mixed(struct drv_virtio *v, int i, uint64_t gpa, uint32_t len, uint32_t *total)
{
	struct drv_buf in[3] = { { gpa, len }, { gpa + len, len }, { gpa + 2 * len, len } };
	int kind = i % 3, n = kind == 0 ? 1 : kind == 1 ? 3 : 2;

	*total = (uint32_t)n * len;
	return drv_virtio_post(v, 0, NULL, 0, in, n, kind == 2);
}

/* virtio-rnd on a 7-entry packed ring: 90 chains one at a time, then 30
 * batches of three in flight together. */
static void rnd_laps(bool msix)
{
	const char *mode = msix ? "MSI-X" : "INTx";
	struct drv_virtio v;
	bool ok = true;

	if (!drv_check(bring_up(&v, RND_SLOT, 64 << 20, RING_FEATURES, msix, 7) == 0 &&
			       (v.features & PACKED_BIT) && v.vq[0].packed,
		       "%s: virtio-rnd negotiated the packed ring, queue size 7", mode))
		return;
	uint64_t bufs = drv_virtio_alloc(&v, 3 * 3 * 64, 64);
	for (int i = 0; i < 90 && ok; i++) {
		uint32_t total, len = 0;
		uint16_t id;
		int posted = post_mixed(&v, i, bufs, 64, &total);

		drv_virtio_kick(&v, 0);
		ok = posted >= 0 && drv_virtio_wait_used(&v, 0, &id, &len, 5000) == 1 &&
		     id == posted && len == total;
		if (!ok)
			fprintf(stderr, "chain %d: posted id %d, used id %u len %u (want %u)\n", i,
				posted, id, len, total);
	}
	drv_check(ok, "%s: 90 chains of 1, 3 and 2 (indirect) buffers, 26 laps: every one used "
		  "whole, with its id", mode);

	ok = true;
	for (int b = 0; b < 30 && ok; b++) {
		/* 1 + 3 + 1 slots: the three fit the 7 slots together. */
		uint32_t want[3], len = 0;
		int ids[3];
		uint16_t id;
		bool seen[3] = { false, false, false };

		for (int k = 0; k < 3; k++)
			ids[k] = post_mixed(&v, k, bufs + (uint64_t)k * 192, 64, &want[k]);
		drv_virtio_kick(&v, 0);
		for (int k = 0; k < 3 && ok; k++) {
			ok = ids[k] >= 0 && drv_virtio_wait_used(&v, 0, &id, &len, 5000) == 1;
			for (int j = 0; ok && j < 3; j++)
				if (id == ids[j] && !seen[j]) {
					seen[j] = true;
					ok = len == want[j];
				}
		}
		ok = ok && seen[0] && seen[1] && seen[2];
	}
	drv_check(ok, "%s: 30 batches of three chains in flight together, each used once with "
		  "its length", mode);
	drv_check(!(drv_virtio_status(&v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "%s: the device never asked for a reset", mode);
}

/* Event suppression with EVENT_IDX, both ways. */
static void suppression(void)
{
	struct drv_virtio v;
	uint64_t buf;
	struct drv_buf in;
	uint32_t len;
	uint16_t id;
	int got = 0;

	if (!drv_check(bring_up(&v, RND_SLOT, 96 << 20, RING_FEATURES, true, 16) == 0,
		       "virtio-rnd up again for event suppression"))
		return;
	buf = drv_virtio_alloc(&v, 64, 64);
	in = (struct drv_buf){ buf, 64 };

	/* Driver area DISABLE: the request completes without an interrupt. */
	drv_virtio_vq_interrupts(&v, 0, false);
	drv_virtio_clear_stats(&v);
	drv_check(drv_virtio_post(&v, 0, NULL, 0, &in, 1, false) >= 0, "posted with interrupts off");
	drv_virtio_kick(&v, 0);
	for (int i = 0; i < 500 && got == 0; i++) {
		got = drv_virtio_get_used(&v, 0, &id, &len);
		if (!got)
			drv_virtio_wait_irq(&v, 10);
	}
	drv_virtio_wait_irq(&v, 100);
	drv_check(got == 1 && len == 64 && v.msi_count == 0,
		  "driver area DISABLE: used without an interrupt (%d MSI)", v.msi_count);

	/* DESC at the next used position: that completion interrupts. */
	drv_virtio_vq_interrupts(&v, 0, true);
	drv_virtio_clear_stats(&v);
	drv_check(drv_virtio_post(&v, 0, NULL, 0, &in, 1, false) >= 0, "posted with interrupts on");
	drv_virtio_kick(&v, 0);
	drv_check(drv_virtio_wait_used(&v, 0, &id, &len, 5000) == 1 && len == 64 &&
			  v.msi_vec_count[v.vq[0].msix_vector] >= 1,
		  "driver area DESC (EVENT_IDX): the used descriptor it names interrupts");

	/* Idle queue: the device asks for a kick at the next descriptor it reads. */
	usleep(50 * 1000);
	const struct event_area *dev = drv_gpa(&d, v.vq[0].used_gpa, sizeof(*dev));
	uint16_t flags = __atomic_load_n(&dev->flags, __ATOMIC_ACQUIRE);
	drv_check(flags == VRING_PACKED_EVENT_FLAG_DESC && dev->off_wrap == v.vq[0].avail_pos,
		  "idle device area: DESC at the driver's next position (flags %u, off_wrap %#x, "
		  "want %#x)",
		  flags, dev->off_wrap, v.vq[0].avail_pos);
	drv_check(drv_virtio_post(&v, 0, NULL, 0, &in, 1, false) >= 0 &&
			  drv_virtio_kick_needed(&v, 0),
		  "a chain posted at that position needs a kick");
	drv_virtio_kick(&v, 0);
	drv_check(drv_virtio_wait_used(&v, 0, &id, &len, 5000) == 1 && len == 64,
		  "and the kick gets it served");
}

/* One block request with its own buffers; no kick. */
static int blk_post(struct drv_virtio *v, uint64_t req, uint32_t type, uint64_t sector,
		    bool indirect)
{
	struct virtio_blk_outhdr *h = drv_gpa(&d, req, 16);
	struct drv_buf hb = { req, 16 }, db = { req + 4096, 4096 }, sb = { req + 8192, 1 };
	struct drv_buf out[2] = { hb, db }, in[2] = { db, sb };

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)drv_gpa(&d, req + 8192, 1) = 0xff;
	if (type == VIRTIO_BLK_T_OUT)
		return drv_virtio_post(v, 0, out, 2, &sb, 1, indirect);
	return drv_virtio_post(v, 0, &hb, 1, in, 2, indirect);
}

/* virtio-blk on a 5-entry packed ring: writes and read-backs, one at a
 * time and four in flight, direct and indirect; the image holds them. */
static void blk_laps(void)
{
	struct drv_virtio v;
	uint64_t req[4];
	uint8_t want[4096];
	bool ok = true;

	if (!drv_check(bring_up(&v, BLK_SLOT, 128 << 20, RING_FEATURES, true, 5) == 0 &&
			       v.vq[0].packed,
		       "virtio-blk negotiated the packed ring, queue size 5"))
		return;
	for (int k = 0; k < 4; k++)
		req[k] = drv_virtio_alloc(&v, 3 * 4096, 4096);
	/* 40 writes, each read back: three slots each, or one with indirect. */
	for (int i = 0; i < 40 && ok; i++) {
		uint16_t id;
		uint32_t len;
		uint8_t *data = drv_gpa(&d, req[0] + 4096, 4096);

		blk_pattern(want, 4096, (unsigned)i);
		memcpy(data, want, 4096);
		ok = blk_post(&v, req[0], VIRTIO_BLK_T_OUT, 8ULL * i, i & 1) >= 0;
		drv_virtio_kick(&v, 0);
		ok = ok && drv_virtio_wait_used(&v, 0, &id, &len, 10000) == 1 &&
		     *(uint8_t *)drv_gpa(&d, req[0] + 8192, 1) == VIRTIO_BLK_S_OK;
		memset(data, 0, 4096);
		ok = ok && blk_post(&v, req[0], VIRTIO_BLK_T_IN, 8ULL * i, !(i & 1)) >= 0;
		drv_virtio_kick(&v, 0);
		ok = ok && drv_virtio_wait_used(&v, 0, &id, &len, 10000) == 1 &&
		     len == 4097 && *(uint8_t *)drv_gpa(&d, req[0] + 8192, 1) == VIRTIO_BLK_S_OK &&
		     !memcmp(data, want, 4096);
	}
	drv_check(ok, "40 writes read back over the packed ring (direct and indirect)");

	/* Four writes in flight at once (indirect: one slot each), ten times. */
	ok = true;
	for (int round = 0; round < 10 && ok; round++) {
		int done = 0;

		for (int k = 0; k < 4; k++) {
			blk_pattern(drv_gpa(&d, req[k] + 4096, 4096), 4096,
				    (unsigned)(1000 + round * 4 + k));
			ok = ok && blk_post(&v, req[k], VIRTIO_BLK_T_OUT,
					    8ULL * (100 + round * 4 + k), true) >= 0;
		}
		drv_virtio_kick(&v, 0);
		while (ok && done < 4) {
			ok = drv_virtio_wait_used(&v, 0, NULL, NULL, 10000) == 1;
			done++;
		}
		for (int k = 0; k < 4; k++)
			ok = ok && *(uint8_t *)drv_gpa(&d, req[k] + 8192, 1) == VIRTIO_BLK_S_OK;
	}
	drv_check(ok, "ten rounds of four writes in flight together, all OK");
	ok = true;
	for (int i = 0; i < 40 && ok; i++) {
		blk_pattern(want, 4096, (unsigned)i);
		ok = image_has(image, 4096ULL * i, want, 4096);
	}
	for (int i = 0; i < 40 && ok; i++) {
		blk_pattern(want, 4096, (unsigned)(1000 + i));
		ok = image_has(image, 4096ULL * (100 + i), want, 4096);
	}
	drv_check(ok, "the image holds all 80 blocks the guest wrote");
}

int main(void)
{
	struct vdm_proc p;
	char blk[200];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st;

	snprintf(image, sizeof(image), "/tmp/vdm-test-packed-%d.img", (int)getpid());
	blk_image_create(image, 4 << 20);
	snprintf(blk, sizeof(blk), "%d,virtio-blk,%s", BLK_SLOT, image);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", blk, "-s", "4,virtio-rnd",
						 "-s", "5,virtio-rnd,packed=off", NULL },
		      &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		unlink(image);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	nfuncs = drv_enumerate(&d, funcs, 8);
	for (int slot = BLK_SLOT; slot <= RND_SPLIT_SLOT; slot++) {
		struct drv_func *f = guest_func(funcs, nfuncs, slot);

		if (f)
			drv_assign_bars(&d, f, &mmio, &io);
	}
	offers();
	rnd_laps(true);
	rnd_laps(false);
	suppression();
	blk_laps();
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
	unlink(image);
	return drv_result();
}
