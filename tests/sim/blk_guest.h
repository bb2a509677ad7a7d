/*
 * blk_guest.h - a guest for the fault, durability and fairness tests: any
 * virtio function brought up by the test driver, a virtio-blk disk with
 * block requests (header, data, status byte) posted and waited for, and a
 * virtio-rnd request to show another device still serves.  Header-only:
 * each test is one program.
 */
#ifndef VDM_TEST_BLK_GUEST_H
#define VDM_TEST_BLK_GUEST_H

#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

struct blk_guest {
	struct drv_virtio v;
	uint64_t hdr, data, status; /* one request's buffers in guest RAM */
	uint32_t data_len;
};

/* The function at slot (function 0) among funcs; NULL if there is none. */
static inline struct drv_func *guest_func(struct drv_func *funcs, int nf, int slot)
{
	for (int i = 0; i < nf; i++)
		if (funcs[i].bdf == hsm_bdf(0, (unsigned)slot, 0))
			return &funcs[i];
	return NULL;
}

/*
 * Bring up the virtio function at slot (already enumerated into funcs) as a
 * driver would: BARs from *mmio / *io, VERSION_1 plus features, MSI-X,
 * queues 0..nqueues-1 at their largest size, DRIVER_OK; its guest-RAM heap
 * starts at heap.  0, or -1 if any step fails.
 */
static inline int virtio_guest_up(struct drv_virtio *v, struct drv *d, struct drv_func *funcs,
				  int nf, int slot, uint64_t heap, uint64_t features, int nqueues,
				  uint64_t *mmio, uint32_t *io)
{
	struct drv_func *f = guest_func(funcs, nf, slot);

	if (!f)
		return -1;
	drv_assign_bars(d, f, mmio, io);
	if (drv_virtio_probe(v, d, f, heap) ||
	    drv_virtio_negotiate(v, (1ULL << VIRTIO_F_VERSION_1) | features) ||
	    drv_virtio_setup_irq(v, true))
		return -1;
	for (int q = 0; q < nqueues; q++)
		if (drv_virtio_setup_vq(v, q, 0))
			return -1;
	drv_virtio_driver_ok(v);
	return 0;
}

/* One 64-byte entropy request on virtio-rnd r, waited for (5 s): whether it
 * was served in full. */
static inline bool rnd_guest_serves(struct drv_virtio *r)
{
	uint64_t buf = drv_virtio_alloc(r, 64, 64);
	struct drv_buf in = { buf, 64 };
	uint32_t len;

	if (drv_virtio_post(r, 0, NULL, 0, &in, 1, false) < 0)
		return false;
	drv_virtio_kick(r, 0);
	return drv_virtio_wait_used(r, 0, NULL, &len, 5000) == 1 && len == 64;
}

/* Bring up the virtio-blk device at slot (see virtio_guest_up) with data_len
 * bytes of data buffer. */
static inline int blk_guest_up(struct blk_guest *g, struct drv *d, struct drv_func *funcs, int nf,
			       int slot, uint64_t heap, uint32_t data_len, uint64_t features,
			       uint64_t *mmio, uint32_t *io)
{
	if (virtio_guest_up(&g->v, d, funcs, nf, slot, heap, features, 1, mmio, io))
		return -1;
	g->data_len = data_len;
	g->hdr = drv_virtio_alloc(&g->v, 16, 16);
	g->data = drv_virtio_alloc(&g->v, data_len, 4096);
	g->status = drv_virtio_alloc(&g->v, 1, 1);
	return 0;
}

static inline uint8_t *blk_guest_buf(struct blk_guest *g)
{
	return drv_gpa(g->v.d, g->data, g->data_len);
}

/* Post one request (IN, OUT, FLUSH; DISCARD and WRITE_ZEROES with their
 * segments in the data buffer) of len data bytes at sector; no kick. */
static inline int blk_guest_post(struct blk_guest *g, uint32_t type, uint64_t sector, uint32_t len)
{
	struct virtio_blk_outhdr *h = drv_gpa(g->v.d, g->hdr, 16);
	struct drv_buf hb = { g->hdr, 16 }, db = { g->data, len }, sb = { g->status, 1 };
	struct drv_buf out[2] = { hb, db }, in[2] = { db, sb };

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)drv_gpa(g->v.d, g->status, 1) = 0xff;
	if (type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
	    type == VIRTIO_BLK_T_WRITE_ZEROES)
		return drv_virtio_post(&g->v, 0, out, len ? 2 : 1, &sb, 1, false);
	if (type == VIRTIO_BLK_T_IN && len)
		return drv_virtio_post(&g->v, 0, &hb, 1, in, 2, false);
	return drv_virtio_post(&g->v, 0, &hb, 1, &sb, 1, false);
}

/* Whether the first len bytes of the data buffer are all byte. */
static inline bool blk_guest_buf_is(struct blk_guest *g, uint8_t byte, uint32_t len)
{
	const uint8_t *p = blk_guest_buf(g);

	for (uint32_t i = 0; i < len; i++)
		if (p[i] != byte)
			return false;
	return true;
}

/* One request, waited for: returns its status byte, or -1 on timeout. */
static inline int blk_guest_rw(struct blk_guest *g, uint32_t type, uint64_t sector, uint32_t len)
{
	uint16_t id;
	uint32_t used;

	if (blk_guest_post(g, type, sector, len) < 0)
		return -1;
	drv_virtio_kick(&g->v, 0);
	if (drv_virtio_wait_used(&g->v, 0, &id, &used, 10000) != 1)
		return -1;
	return *(uint8_t *)drv_gpa(g->v.d, g->status, 1);
}

/* Create (or truncate) the image file at path, size bytes of zeros; the
 * test exits 99 (a set-up failure) if it cannot. */
static inline void blk_image_create(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, size))
		exit(99);
	close(fd);
}

/* A pattern of len bytes that differs with seed and from one 512-byte
 * sector to the next (so data landing a sector off is caught). */
static inline void blk_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* Whether the image file at path holds want (len <= 1 MiB) at byte off, as
 * the host sees it. */
static inline bool image_has(const char *path, uint64_t off, const uint8_t *want, size_t len)
{
	static uint8_t buf[1 << 20];
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && len <= sizeof(buf) && pread(fd, buf, len, (off_t)off) == (ssize_t)len &&
		  !memcmp(buf, want, len);

	if (fd >= 0)
		close(fd);
	return ok;
}

#endif /* VDM_TEST_BLK_GUEST_H */
