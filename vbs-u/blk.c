/*
 * blk.c - VBS-U virtio-blk back-end, request path: requests from a virtqueue
 * served on a raw image (virtio 1.2, 5.2.6) without ever waiting for the
 * disk on the caller's thread.
 *
 * A request is a 16-byte header (type, reserved, sector) in readable
 * buffers, then data, then one status byte at the end of the writable part.
 * Everything is checked against the image before the file is touched.  A
 * read or write is first tried with RWF_NOWAIT, which the kernel serves only
 * from the page cache (on a tmpfs image, where nothing waits for a disk,
 * it is simply done); what would block goes to the I/O engine (aio.h) and
 * completes when vbsu_blk_reap finds it finished.  Handing a page-cache hit
 * to io_uring costs 10-40 us here against 1-3 us done inline.  No memory is allocated
 * per request, except bounce buffers for unaligned guest buffers in
 * nocache mode.
 */
#include "blk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>

#define SECTOR_SHIFT 9
#define REAP_BATCH 64
/* nocache: the largest unaligned request copied through a bounce buffer,
 * and the most bounce memory in flight (beyond either: IOERR).  Guests
 * that use page-aligned buffers, as Linux does, never come near. */
#define BOUNCE_MAX_REQUEST (4u << 20)
#define BOUNCE_MAX_TOTAL (64u << 20)

/* Copy up to len bytes out of the iovecs, starting at byte skip. */
static size_t gather(const struct iovec *iov, int n, size_t skip, void *dst, size_t len)
{
	size_t got = 0;

	for (int i = 0; i < n && got < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip < len - got ? l - skip : len - got;
		memcpy((uint8_t *)dst + got, (uint8_t *)iov[i].iov_base + skip, take);
		got += take;
		skip = 0;
	}
	return got;
}

/* Copy src into the iovecs from the start; returns bytes copied. */
static size_t scatter(const struct iovec *iov, int n, const void *src, size_t len)
{
	size_t put = 0;

	for (int i = 0; i < n && put < len; i++) {
		size_t take = iov[i].iov_len < len - put ? iov[i].iov_len : len - put;

		if (take == 0)
			continue; /* an empty buffer has no host address (NULL) */
		memcpy(iov[i].iov_base, (const uint8_t *)src + put, take);
		put += take;
	}
	return put;
}

/*
 * Drop `skip` bytes from the front of *iov / *cnt (the slot's own copy of
 * the guest's buffer list, never guest memory).
 */
static void iov_advance(struct iovec **iov, int *cnt, size_t skip)
{
	while (*cnt && skip) {
		struct iovec *v = *iov;

		if (v->iov_len <= skip) {
			skip -= v->iov_len;
			(*iov)++;
			(*cnt)--;
		} else {
			v->iov_base = (uint8_t *)v->iov_base + skip;
			v->iov_len -= skip;
			skip = 0;
		}
	}
	/* Empty buffers at the front carry nothing. */
	while (*cnt && (*iov)->iov_len == 0) {
		(*iov)++;
		(*cnt)--;
	}
}

static uint64_t iov_bytes(const struct iovec *iov, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* True when [sector, sector + bytes/512) lies inside the image and is
 * aligned to the logical block size. */
static bool range_ok(const struct vbsu_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t lbs_sectors = b->sector_size >> SECTOR_SHIFT;
	uint64_t nsect = bytes >> SECTOR_SHIFT;

	if (bytes & ((uint64_t)b->sector_size - 1) || sector % lbs_sectors)
		return false;
	return sector <= b->capacity && nsect <= b->capacity - sector;
}

/* ---- request slots ---- */

int blk_reqs_alloc(struct vbsu_blk *b, unsigned n)
{
	b->reqs = calloc(n, sizeof(*b->reqs));
	if (!b->reqs)
		return -ENOMEM;
	b->nreqs = n;
	for (unsigned i = 0; i < n; i++) {
		struct blk_req *r = &b->reqs[i];

		r->iov = calloc((size_t)b->max_iov, sizeof(*r->iov));
		if (!r->iov) {
			blk_reqs_free(b);
			return -ENOMEM;
		}
		r->next_free = b->free_reqs;
		b->free_reqs = r;
	}
	return 0;
}

void blk_reqs_free(struct vbsu_blk *b)
{
	for (unsigned i = 0; b->reqs && i < b->nreqs; i++)
		free(b->reqs[i].iov);
	free(b->reqs);
	b->reqs = NULL;
	b->free_reqs = NULL;
	b->nreqs = 0;
}

/* ---- completion ---- */

static void finish(struct vbsu_blk *b, struct blk_req *r, uint8_t status)
{
	if (status != VIRTIO_BLK_S_OK) {
		b->errors++;
		r->vq->stat_errors++;
	}
	if (r->bounce) {
		if (status == VIRTIO_BLK_S_OK && r->is_read)
			scatter(r->data, r->ndata, r->bounce, r->used_len - 1);
		free(r->bounce);
		b->bounce_bytes -= r->bounce_len;
		r->bounce = NULL;
	}
	*r->status_byte = status;
	vq_relchain(r->vq, r->head, status == VIRTIO_BLK_S_OK ? r->used_len : 1);
	r->next_free = b->free_reqs;
	b->free_reqs = r;
}

/* The part of a read or write the kernel did: go on with the rest, or finish. */
static bool advance_rw(struct blk_req *r, ssize_t done, uint8_t *status)
{
	struct iovec *v = (struct iovec *)r->io.iov;
	int n = r->io.niov;

	if (done < 0) {
		*status = VIRTIO_BLK_S_IOERR;
		return true;
	}
	if (done == 0) {
		/* Nothing more: a read past a file that shrank under us reads
		 * zeroes; a write that makes no progress failed. */
		if (!r->is_read) {
			*status = VIRTIO_BLK_S_IOERR;
			return true;
		}
		for (int i = 0; i < n; i++)
			memset(v[i].iov_base, 0, v[i].iov_len);
		*status = VIRTIO_BLK_S_OK;
		return true;
	}
	iov_advance(&v, &n, (size_t)done);
	r->io.iov = v;
	r->io.niov = n;
	r->io.off += (uint64_t)done;
	*status = VIRTIO_BLK_S_OK;
	return n == 0;
}

static void submit(struct vbsu_blk *b, struct blk_req *r)
{
	b->inflight++;
	b->submitted++;
	b->depth_sum += b->inflight;
	aio_submit(b->aio, &r->io);
}

/*
 * Serve what is left of a read or write on this thread when that cannot
 * wait for a disk: always on a memory-backed image (tmpfs: a copy), else
 * with RWF_NOWAIT, which the kernel serves only from the page cache.
 * Returns true when the request is finished (*status set), false when the
 * rest must go to the engine.
 */
static bool try_inline(struct vbsu_blk *b, struct blk_req *r, uint8_t *status)
{
	bool *allowed = r->is_read ? &b->nowait_read : &b->nowait_write;
	int flags = b->memory_backed ? 0 : RWF_NOWAIT;

	while (b->memory_backed || *allowed) {
		ssize_t n = r->is_read
				    ? preadv2(b->fd, r->io.iov, r->io.niov, (off_t)r->io.off, flags)
				    : pwritev2(b->fd, r->io.iov, r->io.niov, (off_t)r->io.off, flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && flags && errno == EAGAIN)
			return false; /* would block: the engine's job */
		if (n < 0 && flags && errno == EOPNOTSUPP) {
			*allowed = false; /* this file system has no RWF_NOWAIT for it */
			return false;
		}
		if (advance_rw(r, n < 0 ? -errno : n, status))
			return true;
	}
	return false;
}

static uint8_t start_rw(struct vbsu_blk *b, struct blk_req *r, uint64_t sector)
{
	uint64_t bytes = iov_bytes(r->data, r->ndata);
	uint8_t status;

	if (!r->is_read && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!range_ok(b, sector, bytes))
		return VIRTIO_BLK_S_IOERR;
	/* Empty buffers carry nothing (the status byte's, now 0 long, is often
	 * the last): leave them out, O_DIRECT would weigh their alignment. */
	iov_advance(&r->data, &r->ndata, 0);
	while (r->ndata && r->data[r->ndata - 1].iov_len == 0)
		r->ndata--;
	if (bytes == 0)
		return VIRTIO_BLK_S_OK;
	r->io.op = r->is_read ? AIO_READ : AIO_WRITE;
	r->io.fd = b->fd;
	r->io.off = sector << SECTOR_SHIFT;
	r->io.iov = r->data;
	r->io.niov = r->ndata;
	if (b->cache == VBSU_BLK_NOCACHE) {
		/* O_DIRECT wants aligned buffers: copy through one where the
		 * guest's are not (the offset and length are block-aligned). */
		for (int i = 0; i < r->ndata; i++) {
			if (r->data[i].iov_len &&
			    ((uintptr_t)r->data[i].iov_base % b->dio_mem_align ||
			     r->data[i].iov_len % b->dio_mem_align)) {
				/* A guest must not make vdm allocate without bound:
				 * a request, and all of them in flight, are capped. */
				if (bytes > BOUNCE_MAX_REQUEST ||
				    b->bounce_bytes + bytes > BOUNCE_MAX_TOTAL ||
				    posix_memalign(&r->bounce, b->dio_mem_align, bytes))
					return VIRTIO_BLK_S_IOERR;
				b->bounce_bytes += bytes;
				r->bounce_len = bytes;
				if (!r->is_read)
					gather(r->data, r->ndata, 0, r->bounce, bytes);
				r->bounce_iov = (struct iovec){ r->bounce, bytes };
				r->io.iov = &r->bounce_iov;
				r->io.niov = 1;
				break;
			}
		}
	} else if (try_inline(b, r, &status)) {
		b->inline_done++;
		return status;
	}
	submit(b, r);
	return 0xff; /* in flight */
}

/* Start the next of a DISCARD / WRITE_ZEROES request's ranges. */
static void submit_next_range(struct vbsu_blk *b, struct blk_req *r)
{
	const struct vbsu_blk_range *g = &r->ranges[r->next_range++];

	r->io = (struct aio_req){ .op = AIO_FALLOCATE, .fd = b->fd, .off = g->off, .len = g->len,
				  .mode = g->mode };
	submit(b, r);
}

/*
 * DISCARD and WRITE_ZEROES: segments of virtio_blk_discard_write_zeroes,
 * all checked before the first is started; each becomes an fallocate the
 * engine runs (punching or zeroing a large range can take a while).
 * Returns a status, or 0xff when in flight.
 */
static uint8_t start_dwz(struct vbsu_blk *b, struct blk_req *r, int nread, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg[VBSU_BLK_MAX_DWZ_SEG];
	uint64_t len = iov_bytes(r->iov, nread) - sizeof(struct virtio_blk_outhdr);
	size_t nseg = len / sizeof(seg[0]);

	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD ? !b->can_discard : !b->can_write_zeroes)
		return VIRTIO_BLK_S_UNSUPP;
	if (len == 0 || len % sizeof(seg[0]) || nseg > VBSU_BLK_MAX_DWZ_SEG)
		return VIRTIO_BLK_S_IOERR;
	gather(r->iov, nread, sizeof(struct virtio_blk_outhdr), seg, len);
	r->nranges = 0;
	r->next_range = 0;
	for (size_t i = 0; i < nseg; i++) {
		uint64_t bytes = (uint64_t)seg[i].num_sectors << SECTOR_SHIFT;
		int mode = FALLOC_FL_KEEP_SIZE;

		/* Unknown flag bits are an error (5.2.6.2). */
		if (seg[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
		    (type == VIRTIO_BLK_T_DISCARD && seg[i].flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (!range_ok(b, seg[i].sector, bytes))
			return VIRTIO_BLK_S_IOERR;
		/* Limits the guest was told (discard=S:G:A), held to. */
		if (type == VIRTIO_BLK_T_DISCARD && b->discard_max_seg &&
		    (nseg > b->discard_max_seg || seg[i].num_sectors > b->discard_max_sectors ||
		     seg[i].sector % b->discard_align))
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_DISCARD ||
		    (seg[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			mode |= FALLOC_FL_PUNCH_HOLE; /* reads back as zeroes too */
		else
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		if (bytes)
			r->ranges[r->nranges++] = (struct vbsu_blk_range){
				seg[i].sector << SECTOR_SHIFT, bytes, mode };
	}
	if (!r->nranges)
		return VIRTIO_BLK_S_OK;
	submit_next_range(b, r);
	return 0xff;
}

/*
 * Parse one request whose buffers are in r->iov and start it.  Returns its
 * status when it is already finished, or 0xff when it is in flight.
 */
static uint8_t start_request(struct vbsu_blk *b, struct blk_req *r, const struct vq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	int nread = c->nread, nwrite = c->nwrite;

	/* The header is the first 16 readable bytes; fewer is a framing
	 * error the driver hears about through the status byte. */
	if (gather(r->iov, nread, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		if (c->read_len != sizeof(hdr))
			return VIRTIO_BLK_S_IOERR; /* data after the header of a read */
		r->is_read = true;
		r->data = &r->iov[nread];
		r->ndata = nwrite;
		r->used_len = c->write_len;
		return start_rw(b, r, hdr.sector);
	case VIRTIO_BLK_T_OUT:
		if (c->write_len != 1)
			return VIRTIO_BLK_S_IOERR;
		r->is_read = false;
		r->data = r->iov;
		r->ndata = nread;
		iov_advance(&r->data, &r->ndata, sizeof(hdr));
		return start_rw(b, r, hdr.sector);
	case VIRTIO_BLK_T_FLUSH:
		/*
		 * FLUSH means durable for every write completed before it: those
		 * are in the page cache (or on the device, nocache) now, and the
		 * status goes out only after fdatasync.
		 */
		if (b->read_only)
			return VIRTIO_BLK_S_OK;
		r->io = (struct aio_req){ .op = AIO_FDATASYNC, .fd = b->fd };
		r->is_read = false;
		submit(b, r);
		return 0xff;
	case VIRTIO_BLK_T_GET_ID:
		r->used_len = 1 + (uint32_t)scatter(&r->iov[nread], nwrite, b->serial,
						    sizeof(b->serial));
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return start_dwz(b, r, nread, hdr.type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int vbsu_blk_process(struct vbsu_blk *b, struct vqueue *vq, int budget)
{
	struct vq_chain c;
	int done = 0, n = 0;

	b->out_of_slots = false;
	while (done < budget) {
		struct blk_req *r = b->free_reqs;

		if (!r) {
			b->out_of_slots = true;
			break;
		}
		n = vq_getchain(vq, &c, r->iov, b->max_iov);
		if (n <= 0)
			break;
		b->free_reqs = r->next_free;
		b->requests++;
		done++;
		r->vq = vq;
		r->head = c.head;
		/*
		 * The status byte is the last writable byte (5.2.6), which need
		 * not be in the last writable buffer: zero-length buffers after it
		 * hold nothing.  Without one, nothing can be said.
		 */
		while (c.nwrite > 0 && r->iov[c.nread + c.nwrite - 1].iov_len == 0)
			c.nwrite--;
		if (c.nwrite == 0) {
			b->errors++;
			vq_relchain(vq, c.head, 0);
			r->next_free = b->free_reqs;
			b->free_reqs = r;
			continue;
		}
		struct iovec *st = &r->iov[c.nread + c.nwrite - 1];
		r->status_byte = (uint8_t *)st->iov_base + st->iov_len - 1;
		st->iov_len--;
		r->used_len = 1;
		uint8_t status = start_request(b, r, &c);
		if (status != 0xff) {
			if (status != VIRTIO_BLK_S_OK)
				r->used_len = 1;
			finish(b, r, status);
		}
	}
	aio_commit(b->aio);
	return n < 0 ? n : done;
}

int vbsu_blk_event_fd(const struct vbsu_blk *b)
{
	return b->aio->efd;
}

const char *vbsu_blk_engine(const struct vbsu_blk *b)
{
	return b->aio->name;
}

int vbsu_blk_reap(struct vbsu_blk *b)
{
	struct aio_req *done[REAP_BATCH];
	int completed = 0, n;

	while ((n = aio_reap(b->aio, done, REAP_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			struct blk_req *r = (struct blk_req *)done[i];
			uint8_t status;

			b->inflight--;
			if (r->io.op == AIO_FALLOCATE && r->io.res == 0 &&
			    r->next_range < r->nranges) {
				submit_next_range(b, r); /* the next segment */
				continue;
			}
			if (r->io.op == AIO_FDATASYNC || r->io.op == AIO_FALLOCATE)
				status = r->io.res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
			else if (!advance_rw(r, r->io.res, &status)) {
				submit(b, r); /* a short transfer: the rest */
				continue;
			}
			finish(b, r, status);
			completed++;
		}
		if (n < REAP_BATCH)
			break;
	}
	aio_commit(b->aio);
	return completed;
}

void vbsu_blk_drain(struct vbsu_blk *b)
{
	while (b->aio && b->inflight) {
		struct pollfd p = { .fd = b->aio->efd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		vbsu_blk_reap(b);
	}
}
