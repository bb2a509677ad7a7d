/*
 * blk.c - VBS-U virtio-blk back-end: requests from a virtqueue served on a
 * raw image file (virtio 1.2, 5.2.6).
 *
 * A request is a 16-byte header (type, reserved, sector) in readable
 * buffers, then data, then one status byte at the end of the writable part.
 * Everything is checked against the image before the file is touched, and
 * no memory is allocated per request (the iovec scratch is sized at open).
 */
#include "vbsu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <sys/ioctl.h>

#define SECTOR_SHIFT 9

/* Copy up to len bytes out of the readable iovecs, starting at byte skip. */
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

/* Copy src into the writable iovecs from the start; returns bytes copied. */
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
 * Trim iov[first..first+cnt) to drop `skip` bytes from the front; returns
 * the new first index and count through the pointers.  Works in the
 * per-request scratch copy, never in guest memory.
 */
static void drop_front(struct iovec *iov, int *first, int *cnt, size_t skip)
{
	while (*cnt && skip) {
		struct iovec *v = &iov[*first];

		if (v->iov_len <= skip) {
			skip -= v->iov_len;
			(*first)++;
			(*cnt)--;
		} else {
			v->iov_base = (uint8_t *)v->iov_base + skip;
			v->iov_len -= skip;
			skip = 0;
		}
	}
}

static uint64_t iov_bytes(const struct iovec *iov, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* Full positional read/write over an iovec array, retrying short transfers. */
static int rw_all(int fd, struct iovec *iov, int n, off_t pos, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, pos) : preadv(fd, iov, n, pos);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			/* A read past a file that shrank under us: the rest is zeroes. */
			if (write)
				return -EIO;
			for (int i = 0; i < n; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		pos += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
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

static uint8_t do_rw(struct vbsu_blk *b, struct iovec *iov, int first, int cnt, uint64_t sector,
		     bool write)
{
	uint64_t bytes = iov_bytes(&iov[first], cnt);

	if (write && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!range_ok(b, sector, bytes))
		return VIRTIO_BLK_S_IOERR;
	if (bytes == 0)
		return VIRTIO_BLK_S_OK;
	return rw_all(b->fd, &iov[first], cnt, (off_t)(sector << SECTOR_SHIFT), write)
		       ? VIRTIO_BLK_S_IOERR
		       : VIRTIO_BLK_S_OK;
}

/* DISCARD and WRITE_ZEROES: segments of virtio_blk_discard_write_zeroes. */
static uint8_t do_dwz(struct vbsu_blk *b, const struct iovec *iov, int nread, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg[VBSU_BLK_MAX_DWZ_SEG];
	uint64_t len = iov_bytes(iov, nread) - sizeof(struct virtio_blk_outhdr);
	size_t nseg = len / sizeof(seg[0]);

	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD ? !b->can_discard : !b->can_write_zeroes)
		return VIRTIO_BLK_S_UNSUPP;
	if (len == 0 || len % sizeof(seg[0]) || nseg > VBSU_BLK_MAX_DWZ_SEG)
		return VIRTIO_BLK_S_IOERR;
	gather(iov, nread, sizeof(struct virtio_blk_outhdr), seg, len);
	for (size_t i = 0; i < nseg; i++) {
		uint64_t bytes = (uint64_t)seg[i].num_sectors << SECTOR_SHIFT;
		int mode = FALLOC_FL_KEEP_SIZE;

		/* Unknown flag bits are an error (5.2.6.2). */
		if (seg[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
		    (type == VIRTIO_BLK_T_DISCARD && seg[i].flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (!range_ok(b, seg[i].sector, bytes))
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_DISCARD ||
		    (seg[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			mode |= FALLOC_FL_PUNCH_HOLE; /* reads back as zeroes too */
		else
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		if (bytes && fallocate(b->fd, mode, (off_t)(seg[i].sector << SECTOR_SHIFT),
				       (off_t)bytes))
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

int vbsu_blk_process(struct vbsu_blk *b, struct vqueue *vq, int budget)
{
	struct vq_chain c;
	int done = 0, n = 0;

	while (done < budget && (n = vq_getchain(vq, &c, b->iov, b->max_iov)) > 0) {
		struct virtio_blk_outhdr hdr;
		uint8_t status = VIRTIO_BLK_S_IOERR;
		uint32_t written = 0;
		struct iovec *st;

		b->requests++;
		/*
		 * The status byte is the last writable byte (5.2.6), which need
		 * not be in the last writable buffer: zero-length buffers after it
		 * hold nothing.  Without one, nothing can be said.
		 */
		while (c.nwrite > 0 && b->iov[c.nread + c.nwrite - 1].iov_len == 0)
			c.nwrite--;
		if (c.nwrite == 0 ||
		    gather(b->iov, c.nread, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
			b->errors++;
			vq_relchain(vq, c.head, 0);
			done++;
			continue;
		}
		st = &b->iov[c.nread + c.nwrite - 1];
		uint8_t *status_byte = (uint8_t *)st->iov_base + st->iov_len - 1;
		/* Data buffers: readable after the header, writable before the status. */
		int first = 0, cnt = c.nread;
		st->iov_len--;
		switch (hdr.type) {
		case VIRTIO_BLK_T_IN:
			if (c.read_len != sizeof(hdr))
				break; /* data after the header of a read: malformed */
			status = do_rw(b, b->iov, c.nread, c.nwrite, hdr.sector, false);
			if (status == VIRTIO_BLK_S_OK)
				written = c.write_len - 1;
			break;
		case VIRTIO_BLK_T_OUT:
			if (c.write_len != 1)
				break;
			drop_front(b->iov, &first, &cnt, sizeof(hdr));
			status = do_rw(b, b->iov, first, cnt, hdr.sector, true);
			break;
		case VIRTIO_BLK_T_FLUSH:
			/* FLUSH means durable: the status goes out only after fdatasync. */
			status = fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
			break;
		case VIRTIO_BLK_T_GET_ID: {
			size_t put = scatter(&b->iov[c.nread], c.nwrite, b->serial,
					     sizeof(b->serial));
			written = (uint32_t)put;
			status = VIRTIO_BLK_S_OK;
			break;
		}
		case VIRTIO_BLK_T_DISCARD:
		case VIRTIO_BLK_T_WRITE_ZEROES:
			status = do_dwz(b, b->iov, c.nread, hdr.type);
			break;
		default:
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		if (status != VIRTIO_BLK_S_OK)
			b->errors++;
		*status_byte = status;
		vq_relchain(vq, c.head, written + 1);
		done++;
	}
	return n < 0 ? n : done;
}

/* Does the file system under fd take this fallocate mode?  Probed past the
 * end of the file with KEEP_SIZE, so the image never changes. */
static bool probe_fallocate(int fd, uint64_t size, int mode)
{
	off_t at = (off_t)((size + 65535) & ~65535ULL);

	if (fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, at, 4096))
		return false;
	/* Give back anything ZERO_RANGE allocated. */
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, 4096);
	return true;
}

int vbsu_blk_open(struct vbsu_blk *b, const char *path, bool read_only, uint32_t sector_size,
		  const char *serial, int max_segs, char *err, size_t errlen)
{
	struct stat st;
	uint64_t bytes;

	memset(b, 0, sizeof(*b));
	b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open image %s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(b->fd, &st)) {
		int e = errno;

		snprintf(err, errlen, "cannot stat image %s: %s", path, strerror(e));
		close(b->fd);
		return -e;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes))
			bytes = 0;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "image %s is neither a file nor a block device", path);
		close(b->fd);
		return -EINVAL;
	}
	b->read_only = read_only;
	b->sector_size = sector_size;
	/* Whole logical blocks only; a trailing partial block is not exposed. */
	b->capacity = (bytes / sector_size * sector_size) >> SECTOR_SHIFT;
	if (b->capacity == 0) {
		snprintf(err, errlen, "image %s holds no whole %u-byte block (%llu bytes)", path,
			 sector_size, (unsigned long long)bytes);
		close(b->fd);
		return -EINVAL;
	}
	if (S_ISREG(st.st_mode) && !read_only) {
		b->can_discard = probe_fallocate(b->fd, bytes, FALLOC_FL_PUNCH_HOLE);
		b->can_write_zeroes = probe_fallocate(b->fd, bytes, FALLOC_FL_ZERO_RANGE);
	}
	/* The ID is 20 bytes, NUL-padded but not NUL-terminated when full (5.2.6). */
	if (!serial) {
		/* The tail of the path is what tells images apart. */
		size_t len = strlen(path);

		serial = len > sizeof(b->serial) ? path + len - sizeof(b->serial) : path;
	}
	memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	b->max_iov = max_segs + 2; /* header and status may each be separate buffers */
	b->iov = calloc((size_t)b->max_iov, sizeof(*b->iov));
	if (!b->iov) {
		close(b->fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void vbsu_blk_close(struct vbsu_blk *b)
{
	if (b->fd >= 0) {
		if (!b->read_only)
			fdatasync(b->fd);
		close(b->fd);
	}
	b->fd = -1;
	free(b->iov);
	b->iov = NULL;
}
