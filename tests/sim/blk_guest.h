/*
 * blk_guest.h - a virtio-blk guest for the fault, durability and fairness
 * tests: vdm on the simulator with the devices a test asks for, each
 * virtio-blk function brought up by the test driver, and block requests
 * (header, data, status byte) posted and waited for.  Header-only: each
 * test is one program.
 */
#ifndef VDM_TEST_BLK_GUEST_H
#define VDM_TEST_BLK_GUEST_H

#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <stdio.h>
#include <string.h>
#include <linux/virtio_blk.h>

struct blk_guest {
	struct drv_virtio v;
	uint64_t hdr, data, status; /* one request's buffers in guest RAM */
	uint32_t data_len;
};

/* Bring up the virtio device at slot (already enumerated into funcs) with
 * its guest-RAM heap at heap; data_len bytes of data buffer. */
static inline int blk_guest_up(struct blk_guest *g, struct drv *d, struct drv_func *funcs, int nf,
			       int slot, uint64_t heap, uint32_t data_len, uint64_t features,
			       uint64_t *mmio, uint32_t *io)
{
	struct drv_func *f = NULL;

	for (int i = 0; i < nf; i++)
		if (funcs[i].bdf == hsm_bdf(0, (unsigned)slot, 0))
			f = &funcs[i];
	if (!f)
		return -1;
	drv_assign_bars(d, f, mmio, io);
	if (drv_virtio_probe(&g->v, d, f, heap) ||
	    drv_virtio_negotiate(&g->v, (1ULL << VIRTIO_F_VERSION_1) | features) ||
	    drv_virtio_setup_irq(&g->v, true) || drv_virtio_setup_vq(&g->v, 0, 0))
		return -1;
	drv_virtio_driver_ok(&g->v);
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

/* Post one request (IN, OUT, FLUSH) of len data bytes at sector; no kick. */
static inline int blk_guest_post(struct blk_guest *g, uint32_t type, uint64_t sector, uint32_t len)
{
	struct virtio_blk_outhdr *h = drv_gpa(g->v.d, g->hdr, 16);
	struct drv_buf hb = { g->hdr, 16 }, db = { g->data, len }, sb = { g->status, 1 };
	struct drv_buf out[2] = { hb, db }, in[2] = { db, sb };

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)drv_gpa(g->v.d, g->status, 1) = 0xff;
	if (type == VIRTIO_BLK_T_OUT)
		return drv_virtio_post(&g->v, 0, out, len ? 2 : 1, &sb, 1, false);
	if (type == VIRTIO_BLK_T_IN && len)
		return drv_virtio_post(&g->v, 0, &hb, 1, in, 2, false);
	return drv_virtio_post(&g->v, 0, &hb, 1, &sb, 1, false);
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

#endif /* VDM_TEST_BLK_GUEST_H */
