/*
 * fuzz_ram.h - guest RAM and a split ring for the virtqueue fuzz targets.
 *
 * Guest RAM is two separately allocated regions with a hole between them,
 * [0, 32 KiB) and [48 KiB, 64 KiB), so AddressSanitizer sees any host access
 * that leaves a region (straddling the hole or the end of RAM) and the
 * translate callback behaves like libhsm's: NULL unless the whole range
 * lies inside one region.  The fuzz input is copied over RAM as it is
 * (rings, descriptors and buffers are all the fuzzer's), after a small
 * header that chooses the queue size and negotiated ring features.
 */
#ifndef VDM_FUZZ_RAM_H
#define VDM_FUZZ_RAM_H

#include "vbsu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ring.h>

#define FUZZ_LO_SIZE 0x8000u
#define FUZZ_HI_BASE 0xc000u
#define FUZZ_HI_SIZE 0x4000u
#define FUZZ_RAM_END (FUZZ_HI_BASE + FUZZ_HI_SIZE)

struct fuzz_ram {
	uint8_t *lo, *hi;
};

static inline void *fuzz_translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fuzz_ram *r = opaque;

	if (len == 0 || gpa + len < gpa)
		return NULL;
	if (gpa + len <= FUZZ_LO_SIZE)
		return r->lo + gpa;
	if (gpa >= FUZZ_HI_BASE && gpa + len <= FUZZ_RAM_END)
		return r->hi + (gpa - FUZZ_HI_BASE);
	return NULL;
}

static inline void fuzz_ram_init(struct fuzz_ram *r)
{
	/* Exactly-sized allocations: one byte past a region is an ASan report. */
	r->lo = malloc(FUZZ_LO_SIZE);
	r->hi = malloc(FUZZ_HI_SIZE);
	if (!r->lo || !r->hi)
		abort();
}

/* Guest RAM := data (zero-filled past its end; the part beyond the low
 * region goes to the high one). */
static inline void fuzz_ram_fill(struct fuzz_ram *r, const uint8_t *data, size_t len)
{
	size_t lo = len < FUZZ_LO_SIZE ? len : FUZZ_LO_SIZE;
	size_t hi = len > FUZZ_LO_SIZE ? len - FUZZ_LO_SIZE : 0;

	if (hi > FUZZ_HI_SIZE)
		hi = FUZZ_HI_SIZE;
	memset(r->lo, 0, FUZZ_LO_SIZE);
	memset(r->hi, 0, FUZZ_HI_SIZE);
	memcpy(r->lo, data, lo);
	memcpy(r->hi, data + lo, hi);
}

/*
 * Input header (4 bytes): size code, feature bits, two spare bytes the
 * targets use.  The ring sits at fixed places in the low region: the
 * descriptor table at 0x0000, avail at 0x1000 and used at 0x2000 (room for
 * 256 entries each), so the seeds stay readable.
 */
#define FUZZ_HDR 4
#define FUZZ_DESC 0x0000u
#define FUZZ_AVAIL 0x1000u
#define FUZZ_USED 0x2000u

/* Set up vq from the header: returns vq_setup's result. */
static inline int fuzz_vq_setup(struct vqueue *vq, struct fuzz_ram *r, const uint8_t *hdr,
			 uint16_t max_size)
{
	struct vq_mem mem = { .translate = fuzz_translate, .opaque = r };
	/* Mostly powers of two up to 256; code 0xff tries a size vq_setup must refuse. */
	uint16_t size = hdr[0] == 0xff ? 3 : (uint16_t)(1u << (hdr[0] % 9));
	uint64_t features = 0;

	if (hdr[1] & 1)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (hdr[1] & 2)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	return vq_setup(vq, &mem, size, max_size, FUZZ_DESC, FUZZ_AVAIL, FUZZ_USED, features);
}

/*
 * Touch every byte of a chain's n buffers as a device would: read each one
 * (memchr, intercepted by ASan, so the whole range is checked) and write
 * the device-writable ones.  Whether the byte totals match c's summary.
 */
static inline bool fuzz_touch_chain(const struct vq_chain *c, const struct iovec *iov, int n)
{
	volatile uint8_t sink = 0;
	uint64_t rl = 0, wl = 0;

	for (int i = 0; i < n; i++) {
		uint8_t *p = iov[i].iov_base;

		if (i < c->nread)
			rl += iov[i].iov_len;
		else
			wl += iov[i].iov_len;
		if (iov[i].iov_len && memchr(p, 0x5a, iov[i].iov_len))
			sink++;
		if (i >= c->nread && iov[i].iov_len)
			memset(p, 0xa5, iov[i].iov_len);
	}
	(void)sink;
	return rl == c->read_len && wl == c->write_len;
}

#endif /* VDM_FUZZ_RAM_H */
