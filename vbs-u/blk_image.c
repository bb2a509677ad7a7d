/*
 * blk_image.c - VBS-U virtio-blk back-end, image side: opening the raw
 * image in the chosen cache mode, finding what its file system can do
 * (hole punching, O_DIRECT alignment), starting the I/O engine, and the
 * orderly close (in-flight requests finished, completed writes made durable).
 */
#include "blk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>

#define SECTOR_SHIFT 9
/* Threads for the fallback engine: enough to keep a queue of requests going
 * to a disk without one thread per request. */
#define AIO_THREADS 8

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

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

/*
 * nocache: the alignment O_DIRECT needs of buffers and of file offsets
 * (statx's DIOALIGN; where the kernel does not say, the page size for
 * buffers and the block size for offsets are always enough).
 */
static int dio_alignment(struct vbsu_blk *b, const char *path, char *err, size_t errlen)
{
	struct statx stx;
	uint32_t offset_align = 4096;

	b->dio_mem_align = (uint32_t)sysconf(_SC_PAGESIZE);
	if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_mem_align || !stx.stx_dio_offset_align) {
			snprintf(err, errlen, "nocache: the file system of %s does not do O_DIRECT",
				 path);
			return -EINVAL;
		}
		b->dio_mem_align = stx.stx_dio_mem_align;
		offset_align = stx.stx_dio_offset_align;
	} else {
		int lbs = 0;

		if (ioctl(b->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
			offset_align = (uint32_t)lbs;
		else
			offset_align = b->sector_size; /* trust the user's sectorsize= */
	}
	if (offset_align > b->sector_size) {
		snprintf(err, errlen,
			 "nocache: %s needs %u-byte aligned I/O: add sectorsize=%u", path,
			 offset_align, offset_align);
		return -EINVAL;
	}
	return 0;
}

static int start_engine(struct vbsu_blk *b, enum vbsu_blk_aio kind, unsigned depth, char *err,
			size_t errlen)
{
	char why[160] = "";
	int ret;

	if (kind != VBSU_BLK_AIO_THREADS) {
		ret = aio_uring_create(&b->aio, depth, why, sizeof(why));
		if (ret == 0)
			return 0;
		if (kind == VBSU_BLK_AIO_IO_URING) {
			snprintf(err, errlen, "aio=io_uring: %s", why);
			return ret;
		}
	}
	return aio_threads_create(&b->aio, AIO_THREADS, err, errlen);
}

static int fail(struct vbsu_blk *b, int ret)
{
	blk_reqs_free(b);
	aio_destroy(b->aio);
	b->aio = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	return ret;
}

int vbsu_blk_open(struct vbsu_blk *b, const struct vbsu_blk_params *p, char *err, size_t errlen)
{
	const char *path = p->path, *serial = p->serial;
	int flags = (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	uint64_t bytes;
	int ret;

	memset(b, 0, sizeof(*b));
	if (p->cache == VBSU_BLK_NOCACHE)
		flags |= O_DIRECT;
	else if (p->cache == VBSU_BLK_WRITETHRU)
		flags |= O_DSYNC;
	b->fd = open(path, flags);
	if (b->fd < 0) {
		ret = -errno;
		if (ret == -EINVAL && p->cache == VBSU_BLK_NOCACHE)
			snprintf(err, errlen, "nocache: the file system of %s refuses O_DIRECT",
				 path);
		else
			snprintf(err, errlen, "cannot open image %s: %s", path, strerror(-ret));
		return ret;
	}
	if (p->lock && (ret = vbsu_image_lock(b->fd, path, !p->read_only, err, errlen)) < 0)
		return fail(b, ret);
	if (fstat(b->fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat image %s: %s", path, strerror(-ret));
		return fail(b, ret);
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes))
			bytes = 0;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "image %s is neither a file nor a block device", path);
		return fail(b, -EINVAL);
	}
	b->read_only = p->read_only;
	b->cache = p->cache;
	b->sector_size = p->sector_size;
	b->phys_sector_size = p->phys_sector_size ? p->phys_sector_size : p->sector_size;
	b->discard_max_sectors = p->discard_max_sectors;
	b->discard_max_seg = p->discard_max_seg;
	b->discard_align = p->discard_align;
	/* Whole logical blocks only; a trailing partial block is not exposed. */
	b->capacity = (bytes / p->sector_size * p->sector_size) >> SECTOR_SHIFT;
	if (b->capacity == 0) {
		snprintf(err, errlen, "image %s holds no whole %u-byte block (%llu bytes)", path,
			 p->sector_size, (unsigned long long)bytes);
		return fail(b, -EINVAL);
	}
	if (S_ISREG(st.st_mode) && !p->read_only) {
		b->can_discard = probe_fallocate(b->fd, bytes, FALLOC_FL_PUNCH_HOLE);
		b->can_write_zeroes = probe_fallocate(b->fd, bytes, FALLOC_FL_ZERO_RANGE);
	}
	if (p->cache == VBSU_BLK_NOCACHE) {
		ret = dio_alignment(b, path, err, errlen);
		if (ret)
			return fail(b, ret);
	}
	/* Writes with O_DSYNC always wait for the disk: no point asking. */
	b->nowait_read = p->cache != VBSU_BLK_NOCACHE;
	b->nowait_write = p->cache == VBSU_BLK_WRITEBACK;
	struct statfs sfs;
	b->memory_backed = p->cache != VBSU_BLK_NOCACHE && fstatfs(b->fd, &sfs) == 0 &&
			   (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
	/* The ID is 20 bytes, NUL-padded but not NUL-terminated when full (5.2.6). */
	if (!serial) {
		/* The tail of the path is what tells images apart. */
		size_t len = strlen(path);

		serial = len > sizeof(b->serial) ? path + len - sizeof(b->serial) : path;
	}
	memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	b->max_iov = p->max_segs + 2; /* header and status may each be separate buffers */
	ret = blk_reqs_alloc(b, p->queue_size ? p->queue_size : 1);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		return fail(b, ret);
	}
	ret = start_engine(b, p->aio, b->nreqs, err, errlen);
	if (ret)
		return fail(b, ret);
	return 0;
}

void vbsu_blk_close(struct vbsu_blk *b)
{
	vbsu_blk_drain(b);
	aio_destroy(b->aio);
	b->aio = NULL;
	if (b->fd >= 0) {
		if (!b->read_only)
			fdatasync(b->fd);
		close(b->fd);
	}
	b->fd = -1;
	blk_reqs_free(b);
}
