/*
 * test_virtio_blk.c - virtio-blk on the simulator: IDs, capabilities and
 * features; capacity from the image; writes read back at several sizes and
 * offsets through single, multi-descriptor and indirect chains, and found in
 * the image file by the host; FLUSH; GET_ID; out-of-range and unsupported
 * requests; DISCARD and WRITE_ZEROES; a read-only image that refuses writes;
 * mq=4 with the queues sharing the disk; a request shorter than its header;
 * the read/write and mq rounds again with the queues on an I/O thread;
 * acrn-dm's poll mode (--virtio_poll), where the guest never kicks.
 */
#include "blk_guest.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define BLK_SLOT 3
#define IMG_SECTORS 8192 /* 4 MiB */

struct blk {
	struct vdm_proc p;
	struct drv d;
	struct drv_func f;
	struct drv_virtio v;
	uint64_t hdr, data, status;
	int q; /* the queue blk_req uses */
};

/* vdm options before the -s of the disk (e.g. --virtio_poll); NULL: none. */
static const char *vdm_opt, *vdm_optarg;

static bool blk_start_features(struct blk *b, const char *img, const char *extra,
			       uint64_t more, int nqueues)
{
	char spec[256];
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, n;

	b->q = 0;
	snprintf(spec, sizeof(spec), "3,virtio-blk,%s%s", img, extra);
	const char *const with_opt[] = { vdm_opt, vdm_optarg, "-s", spec, NULL };
	const char *const plain[] = { "-s", spec, NULL };
	if (vdm_spawn(&b->p, vdm_opt ? with_opt : plain, &st))
		return drv_check(false, "vdm starts with %s (exit %d)", spec, st);
	drv_connect(&b->d, b->p.sock);
	n = drv_enumerate(&b->d, funcs, 8);
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, BLK_SLOT, 0))
			b->f = funcs[i];
	drv_assign_bars(&b->d, &b->f, &mmio, &io);
	if (drv_virtio_probe(&b->v, &b->d, &b->f, 16 << 20))
		return drv_check(false, "virtio capabilities found");
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			(1ULL << VIRTIO_BLK_F_RO) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
			(1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_DISCARD) |
			(1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			more;
	if (drv_virtio_negotiate(&b->v, want) || drv_virtio_setup_irq(&b->v, true))
		return drv_check(false, "virtio-blk initialises");
	for (int q = 0; q < nqueues; q++)
		if (drv_virtio_setup_vq(&b->v, q, 0))
			return drv_check(false, "virtio-blk queue %d initialises", q);
	drv_virtio_driver_ok(&b->v);
	b->hdr = drv_virtio_alloc(&b->v, 16, 16);
	b->status = drv_virtio_alloc(&b->v, 1, 1);
	b->data = drv_virtio_alloc(&b->v, 1 << 20, 4096);
	return true;
}

static bool blk_start(struct blk *b, const char *img, const char *extra)
{
	return blk_start_features(b, img, extra, 0, 1);
}

static int blk_stop(struct blk *b)
{
	drv_virtio_fini(&b->v);
	drv_disconnect(&b->d);
	return vdm_stop(&b->p);
}

/* One request; data [b->data, +len) split in nseg descriptors.  Returns the
 * status byte, or -1 when it did not complete. */
static int blk_req(struct blk *b, uint32_t type, uint64_t sector, uint32_t len, int nseg,
		   bool indirect, uint32_t *used_len)
{
	struct virtio_blk_outhdr *h = drv_gpa(&b->d, b->hdr, sizeof(*h));
	struct drv_buf out[20], in[20];
	int nout = 0, nin = 0;
	uint16_t id;
	uint32_t got;

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)drv_gpa(&b->d, b->status, 1) = 0xee;
	out[nout++] = (struct drv_buf){ b->hdr, 16 };
	bool write = type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
		     type == VIRTIO_BLK_T_WRITE_ZEROES;
	for (int i = 0; len && i < nseg; i++) {
		uint32_t piece = len / (uint32_t)nseg;
		struct drv_buf buf = { b->data + (uint64_t)i * piece,
				       i == nseg - 1 ? len - piece * (uint32_t)i : piece };
		if (write)
			out[nout++] = buf;
		else
			in[nin++] = buf;
	}
	in[nin++] = (struct drv_buf){ b->status, 1 };
	if (drv_virtio_post(&b->v, b->q, out, nout, in, nin, indirect) < 0)
		return -1;
	drv_virtio_kick(&b->v, b->q);
	if (drv_virtio_wait_used(&b->v, b->q, &id, &got, 5000) != 1)
		return -1;
	if (used_len)
		*used_len = got;
	return *(uint8_t *)drv_gpa(&b->d, b->status, 1);
}

static void test_rw(const char *img, const char *extra)
{
	static uint8_t pattern[1 << 20];
	struct blk b;
	uint32_t used;
	char opts[96];

	snprintf(opts, sizeof(opts), ",serial=vdm-test-disk%s", extra);
	if (!blk_start(&b, img, opts))
		return;
	drv_check(b.f.vendor == 0x1af4 && b.f.device == 0x1042, "IDs 1af4:1042");
	drv_check((b.f.class_code >> 8) == 0x0100, "class mass storage (%06x)", b.f.class_code);
	uint64_t dev = drv_virtio_device_features(&b.v);
	drv_check((dev & (1ULL << VIRTIO_BLK_F_FLUSH)) && (dev & (1ULL << VIRTIO_BLK_F_SEG_MAX)) &&
			  (dev & (1ULL << VIRTIO_BLK_F_BLK_SIZE)) && !(dev & (1ULL << VIRTIO_BLK_F_RO)),
		  "features: FLUSH, SEG_MAX, BLK_SIZE, not RO (%#llx)", (unsigned long long)dev);
	drv_check(drv_virtio_cfg_read(&b.v, 0, 8) == IMG_SECTORS, "capacity %llu sectors",
		  (unsigned long long)drv_virtio_cfg_read(&b.v, 0, 8));
	drv_check(drv_virtio_cfg_read(&b.v, 20, 4) == 512, "blk_size 512");

	const struct {
		uint64_t sector;
		uint32_t len;
		int nseg;
		bool indirect;
	} cases[] = {
		{ 0, 512, 1, false },      { 1, 4096, 1, false },   { 100, 8192, 4, false },
		{ 777, 65536, 16, false }, { 2048, 4096, 3, true }, { 4000, 1 << 20, 8, true },
		{ IMG_SECTORS - 1, 512, 1, false },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf = drv_gpa(&b.d, b.data, cases[i].len);

		blk_pattern(pattern, cases[i].len, i + 1);
		memcpy(buf, pattern, cases[i].len);
		int s = blk_req(&b, VIRTIO_BLK_T_OUT, cases[i].sector, cases[i].len, cases[i].nseg,
				cases[i].indirect, &used);
		drv_check(s == VIRTIO_BLK_S_OK && used == 1,
			  "write %u bytes at sector %llu in %d %s descriptors: status %d", cases[i].len,
			  (unsigned long long)cases[i].sector, cases[i].nseg,
			  cases[i].indirect ? "indirect" : "direct", s);
		memset(buf, 0, cases[i].len);
		s = blk_req(&b, VIRTIO_BLK_T_IN, cases[i].sector, cases[i].len, cases[i].nseg,
			    cases[i].indirect, &used);
		drv_check(s == VIRTIO_BLK_S_OK && used == cases[i].len + 1 &&
				  !memcmp(buf, pattern, cases[i].len),
			  "read back %u bytes at sector %llu: status %d, used %u, data %s",
			  cases[i].len, (unsigned long long)cases[i].sector, s, used,
			  memcmp(buf, pattern, cases[i].len) ? "differs" : "matches");
		drv_check(image_has(img, cases[i].sector * 512, pattern, cases[i].len),
			  "the host finds those %u bytes in the image", cases[i].len);
	}

	drv_check(blk_req(&b, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL) == VIRTIO_BLK_S_OK,
		  "FLUSH completes OK");
	uint8_t *id = drv_gpa(&b.d, b.data, 20);
	memset(id, 0xaa, 20);
	int s = blk_req(&b, VIRTIO_BLK_T_GET_ID, 0, 20, 1, false, &used);
	drv_check(s == VIRTIO_BLK_S_OK && !memcmp(id, "vdm-test-disk\0\0\0\0\0\0\0", 20),
		  "GET_ID returns the serial (status %d, '%.20s')", s, (char *)id);
	drv_check(blk_req(&b, VIRTIO_BLK_T_IN, IMG_SECTORS, 512, 1, false, NULL) ==
			  VIRTIO_BLK_S_IOERR,
		  "read past the end is IOERR");
	drv_check(blk_req(&b, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, 1024, 1, false, NULL) ==
			  VIRTIO_BLK_S_IOERR,
		  "write straddling the end is IOERR");
	drv_check(blk_req(&b, VIRTIO_BLK_T_IN, 0, 100, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
		  "read of a partial sector is IOERR");
	drv_check(blk_req(&b, 0x7777, 0, 512, 1, false, NULL) == VIRTIO_BLK_S_UNSUPP,
		  "unknown request type is UNSUPP");

	if (dev & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES)) {
		struct virtio_blk_discard_write_zeroes *seg = drv_gpa(&b.d, b.data, sizeof(*seg));
		static const uint8_t zero[4096];

		*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 1, .num_sectors = 8 };
		s = blk_req(&b, VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*seg), 1, false, NULL);
		drv_check(s == VIRTIO_BLK_S_OK && image_has(img, 512, zero, 4096),
			  "WRITE_ZEROES zeroes the range (status %d)", s);
	}
	if (dev & (1ULL << VIRTIO_BLK_F_DISCARD)) {
		struct virtio_blk_discard_write_zeroes *seg = drv_gpa(&b.d, b.data, sizeof(*seg));

		*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 4000, .num_sectors = 16 };
		s = blk_req(&b, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg), 1, false, NULL);
		drv_check(s == VIRTIO_BLK_S_OK, "DISCARD completes OK (status %d)", s);
	}
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

static void test_read_only(const char *img)
{
	static uint8_t before[4096];
	struct blk b;

	int fd = open(img, O_RDONLY);
	if (fd < 0 || pread(fd, before, sizeof(before), 0) != (ssize_t)sizeof(before))
		exit(99);
	close(fd);
	if (!blk_start(&b, img, ",ro"))
		return;
	drv_check(drv_virtio_device_features(&b.v) & (1ULL << VIRTIO_BLK_F_RO),
		  "read-only image offers VIRTIO_BLK_F_RO");
	memset(drv_gpa(&b.d, b.data, 4096), 0x5a, 4096);
	drv_check(blk_req(&b, VIRTIO_BLK_T_OUT, 0, 4096, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
		  "write to a read-only image is IOERR");
	drv_check(image_has(img, 0, before, sizeof(before)), "the image is unchanged");
	drv_check(blk_req(&b, VIRTIO_BLK_T_IN, 0, 4096, 1, false, NULL) == VIRTIO_BLK_S_OK &&
			  !memcmp(drv_gpa(&b.d, b.data, 4096), before, 4096),
		  "reads still work");
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

/*
 * mq=4: VIRTIO_BLK_F_MQ with num_queues 4; each queue writes its own
 * pattern and another queue reads it back, so the queues share one disk.
 */
static void test_mq(const char *img, const char *extra)
{
	enum { NQ = 4 };
	struct blk b;
	bool all = true;
	char opts[64];

	snprintf(opts, sizeof(opts), ",mq=4%s", extra);
	if (!blk_start_features(&b, img, opts, 1ULL << VIRTIO_BLK_F_MQ, NQ))
		return;
	drv_check(b.v.features & (1ULL << VIRTIO_BLK_F_MQ), "mq=4 offers VIRTIO_BLK_F_MQ");
	drv_check(drv_virtio_cfg_read(&b.v, offsetof(struct virtio_blk_config, num_queues), 2) ==
			  NQ,
		  "num_queues reads 4");
	drv_check(b.v.num_queues >= NQ, "the transport has 4 queues (%u)", b.v.num_queues);
	for (int q = 0; q < NQ; q++) {
		b.q = q;
		memset(drv_gpa(&b.d, b.data, 4096), 0x40 + q, 4096);
		all &= blk_req(&b, VIRTIO_BLK_T_OUT, (uint64_t)q * 8, 4096, 1, false, NULL) ==
		       VIRTIO_BLK_S_OK;
	}
	for (int q = 0; q < NQ; q++) {
		b.q = NQ - 1 - q;
		memset(drv_gpa(&b.d, b.data, 4096), 0, 4096);
		all &= blk_req(&b, VIRTIO_BLK_T_IN, (uint64_t)q * 8, 4096, 1, false, NULL) ==
			       VIRTIO_BLK_S_OK &&
		       *(uint8_t *)drv_gpa(&b.d, b.data, 1) == 0x40 + q &&
		       *(uint8_t *)drv_gpa(&b.d, b.data + 4095, 1) == 0x40 + q;
	}
	drv_check(all, "a block written on each queue reads back on another");
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

/*
 * A request whose readable part is shorter than the 16-byte header, with a
 * status byte: the driver must read IOERR there, not the 0 (OK) it left.
 */
static void test_short_header(const char *img)
{
	struct blk b;
	uint16_t id;
	uint32_t got = 0;

	if (!blk_start(&b, img, ""))
		return;
	*(uint8_t *)drv_gpa(&b.d, b.status, 1) = VIRTIO_BLK_S_OK;
	struct drv_buf out[1] = { { b.hdr, 8 } };
	struct drv_buf in[2] = { { b.data, 512 }, { b.status, 1 } };
	int ok = drv_virtio_post(&b.v, 0, out, 1, in, 2, false) >= 0;
	drv_virtio_kick(&b.v, 0);
	ok = ok && drv_virtio_wait_used(&b.v, 0, &id, &got, 5000) == 1;
	drv_check(ok && *(uint8_t *)drv_gpa(&b.d, b.status, 1) == VIRTIO_BLK_S_IOERR && got == 1,
		  "an 8-byte header completes with IOERR in the status byte (status %d, used %u)",
		  *(uint8_t *)drv_gpa(&b.d, b.status, 1), got);
	drv_check(blk_req(&b, VIRTIO_BLK_T_GET_ID, 0, 20, 1, false, NULL) == VIRTIO_BLK_S_OK,
		  "the device serves on");
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

/*
 * --virtio_poll (acrn-dm's poll mode): once the queue ran empty the driver
 * is not asked to kick, and a request posted without a kick is still
 * served, by vdm looking at the ring every interval.
 */
static void test_virtio_poll(const char *img)
{
	struct blk b;
	uint16_t id;

	vdm_opt = "--virtio_poll";
	vdm_optarg = "200000"; /* 200 us */
	bool up = blk_start(&b, img, "");
	vdm_opt = vdm_optarg = NULL;
	if (!up)
		return;
	/* The first request kicks (kicks are on until the queue first ran empty). */
	drv_check(blk_req(&b, VIRTIO_BLK_T_GET_ID, 0, 20, 1, false, NULL) == VIRTIO_BLK_S_OK,
		  "--virtio_poll: a kicked request completes");
	bool quiet = true, all = true;
	for (int i = 0; i < 20; i++) {
		struct virtio_blk_outhdr *h = drv_gpa(&b.d, b.hdr, sizeof(*h));
		struct drv_buf out[1] = { { b.hdr, 16 } }, in[2] = { { b.data, 20 }, { b.status, 1 } };

		*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_GET_ID };
		all &= drv_virtio_post(&b.v, 0, out, 1, in, 2, false) >= 0;
		quiet &= !drv_virtio_kick_needed(&b.v, 0);
		/* No kick: vdm finds it on its own. */
		all &= drv_virtio_wait_used(&b.v, 0, &id, NULL, 2000) == 1 &&
		       *(uint8_t *)drv_gpa(&b.d, b.status, 1) == VIRTIO_BLK_S_OK;
	}
	drv_check(quiet, "--virtio_poll: the device never asks for a kick after that");
	drv_check(all, "--virtio_poll: 20 requests posted without a kick complete");
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

/*
 * poll=USECS with requests that go to the disk (nocache: io_uring, not
 * served at once): kicks stay off for the window after the ring empties.
 * At queue depth 1 the driver posts its next request only after the
 * completion, when nothing is in flight any more: vdm must look at the ring
 * again then, not at the end of the window.  With a one-second window, 10
 * requests one after the other take about 10 s if it waits for the window's
 * end (as it once did), milliseconds if not; 5 s is the line.
 */
static void test_poll_window_after_completion(const char *img)
{
	struct blk b;
	struct timespec t0, t1;
	bool all = true;
	uint16_t id;

	if (!blk_start(&b, img, ",nocache,poll=1000000"))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++) {
		struct virtio_blk_outhdr *h = drv_gpa(&b.d, b.hdr, sizeof(*h));
		struct drv_buf out[1] = { { b.hdr, 16 } };
		struct drv_buf in[2] = { { b.data, 4096 }, { b.status, 1 } };

		*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = (uint64_t)i * 8 };
		all &= drv_virtio_post(&b.v, 0, out, 1, in, 2, false) >= 0;
		/* Kick only when asked, as a driver does. */
		if (drv_virtio_kick_needed(&b.v, 0))
			drv_virtio_kick(&b.v, 0);
		all &= drv_virtio_wait_used(&b.v, 0, &id, NULL, 5000) == 1 &&
		       *(uint8_t *)drv_gpa(&b.d, b.status, 1) == VIRTIO_BLK_S_OK;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long took = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	drv_check(all && took < 5000,
		  "poll=1000000, nocache, queue depth 1: 10 reads complete in %lld ms, not one "
		  "hold-off window (1 s) each", took);
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

/*
 * nocache (O_DIRECT): guest buffers that are not aligned as O_DIRECT needs
 * go through bounce buffers, never with a wrong result: a write from an odd
 * address lands in the image, a read into another odd address reads it back.
 */
static void test_nocache_unaligned(const char *img)
{
	static uint8_t pattern[4096];
	struct blk b;
	uint16_t id;

	if (!blk_start(&b, img, ",nocache"))
		return;
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	struct virtio_blk_outhdr *h = drv_gpa(&b.d, b.hdr, sizeof(*h));
	uint64_t src = b.data + 1, dst = b.data + 8192 + 3;
	memcpy(drv_gpa(&b.d, src, sizeof(pattern)), pattern, sizeof(pattern));
	*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 16 };
	struct drv_buf wout[2] = { { b.hdr, 16 }, { src, 4096 } }, st = { b.status, 1 };
	bool ok = drv_virtio_post(&b.v, 0, wout, 2, &st, 1, false) >= 0;
	drv_virtio_kick(&b.v, 0);
	ok = ok && drv_virtio_wait_used(&b.v, 0, &id, NULL, 5000) == 1 &&
	     *(uint8_t *)drv_gpa(&b.d, b.status, 1) == VIRTIO_BLK_S_OK;
	drv_check(ok && image_has(img, 16 * 512, pattern, sizeof(pattern)),
		  "nocache: a write from an unaligned buffer is in the image");
	*h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 16 };
	struct drv_buf rin[2] = { { dst, 4096 }, { b.status, 1 } };
	memset(drv_gpa(&b.d, dst, sizeof(pattern)), 0, sizeof(pattern));
	ok = drv_virtio_post(&b.v, 0, wout, 1, rin, 2, false) >= 0;
	drv_virtio_kick(&b.v, 0);
	ok = ok && drv_virtio_wait_used(&b.v, 0, &id, NULL, 5000) == 1 &&
	     *(uint8_t *)drv_gpa(&b.d, b.status, 1) == VIRTIO_BLK_S_OK;
	drv_check(ok && !memcmp(drv_gpa(&b.d, dst, sizeof(pattern)), pattern, sizeof(pattern)),
		  "nocache: a read into an unaligned buffer reads it back");
	drv_check(blk_stop(&b) == 0, "vdm stops cleanly");
}

int main(void)
{
	char img[] = "/tmp/vdm-blk-XXXXXX";
	int fd = mkstemp(img);

	if (fd < 0)
		return 99;
	close(fd);
	blk_image_create(img, IMG_SECTORS * 512);
	test_rw(img, "");
	/* The same with the queue on an I/O thread of its own. */
	test_rw(img, ",iothread");
	test_read_only(img);
	test_mq(img, "");
	test_mq(img, ",iothread");
	test_short_header(img);
	test_virtio_poll(img);
	test_nocache_unaligned(img);
	test_poll_window_after_completion(img);
	unlink(img);
	return drv_result();
}
