/*
 * blk_internal.h - what the block back-end's request path (blk.c) and its
 * image set-up (blk_image.c) share.  Private to libvbsu.
 */
#ifndef VDM_VBSU_BLK_INTERNAL_H
#define VDM_VBSU_BLK_INTERNAL_H

#include "aio.h"
#include "vbsu.h"

/* One request taken from the ring and not yet on the used ring. */
struct blk_req {
	struct aio_req io;        /* what the engine runs; first, so an aio_req * is a blk_req * */
	struct vqueue *vq;
	uint16_t head;
	uint8_t *status_byte;
	uint32_t used_len;        /* what the used ring gets on success (data + status) */
	bool is_read;
	struct iovec *iov;        /* max_iov entries owned by the slot */
	struct iovec *data;       /* iov[] part holding the data (advanced on short I/O) */
	int ndata;
	void *bounce;             /* nocache: aligned copy of unaligned guest buffers */
	struct iovec bounce_iov;  /* what is left of it to transfer */
	size_t bounce_len;        /* its size, counted in vbsu_blk.bounce_bytes */
	/* DISCARD / WRITE_ZEROES: one fallocate per segment, in turn. */
	struct vbsu_blk_range { uint64_t off, len; int mode; } ranges[VBSU_BLK_MAX_DWZ_SEG];
	int nranges, next_range;
	struct blk_req *next_free;
};

/* Allocate the request slots (queue_size of them, max_iov each). */
int blk_reqs_alloc(struct vbsu_blk *b, unsigned n);
void blk_reqs_free(struct vbsu_blk *b);

#endif /* VDM_VBSU_BLK_INTERNAL_H */
