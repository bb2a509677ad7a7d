/*
 * test_blk_eio.c - a virtio-blk image on a disk with a bad patch: the image
 * lives on a FUSE file system (fuse_disk.c) whose reads and writes fail with
 * EIO inside 4..5 MiB, and whose next fsync after a failed write fails.
 * Requests touching the patch complete with IOERR, so does the FLUSH that
 * follows a failed write (and the one after it succeeds), the device needs
 * no reset, the rest of the disk and the other device (virtio-rnd) keep
 * serving, and vdm stops cleanly.
 *
 * Device-mapper's error target would do the same from the kernel, but it is
 * not available in this sandbox (no dm driver).  Needs root and /dev/fuse;
 * skips (77) without.  The mount lives in a private mount namespace.
 */
#include "blk_guest.h"
#include "fuse_disk.h"

#include <stdlib.h>
#include <unistd.h>

#define IMAGE_SIZE (8 << 20)
#define BAD_OFF (4 << 20)
#define BAD_LEN (1 << 20)
#define CHUNK (64 << 10)

int main(void)
{
	char dir[] = "/tmp/vdm-eio-XXXXXX", img[128], blk[160];
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct blk_guest g;
	struct drv_virtio rnd;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct fuse_disk *fs;
	int st;

	fs = fuse_disk_setup(dir, &(struct fuse_disk_opts){ .size = IMAGE_SIZE,
							    .bad_off = BAD_OFF,
							    .bad_len = BAD_LEN });
	if (!fs)
		return 77;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", blk, "-s", "4,virtio-rnd",
						 NULL },
		      &st)) {
		drv_check(false, "vdm starts on the FUSE image (%d)", st);
		fuse_disk_unmount(fs);
		rmdir(dir);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (blk_guest_up(&g, &d, funcs, nf, 3, 16 << 20, CHUNK, 0, &mmio, &io) ||
	    virtio_guest_up(&rnd, &d, funcs, nf, 4, 64 << 20, 0, 1, &mmio, &io)) {
		drv_check(false, "devices set up");
		return drv_result();
	}

	const uint64_t good = 0, bad = BAD_OFF / 512 + 64;
	memset(blk_guest_buf(&g), 0x3c, CHUNK);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, good, CHUNK) == VIRTIO_BLK_S_OK,
		  "a write outside the bad patch succeeds");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, bad, CHUNK) == VIRTIO_BLK_S_IOERR &&
		  fuse_disk_write_errors(fs) > 0, "a write into the bad patch completes with IOERR");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_IN, bad, CHUNK) == VIRTIO_BLK_S_IOERR,
		  "a read of the bad patch completes with IOERR");
	/* A write straddling the patch's start fails whole. */
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, BAD_OFF / 512 - 8, CHUNK) ==
			  VIRTIO_BLK_S_IOERR, "a write straddling the patch completes with IOERR");
	unsigned fsyncs = fuse_disk_fsyncs(fs);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_FLUSH, 0, 0) == VIRTIO_BLK_S_IOERR &&
		  fuse_disk_fsyncs(fs) > fsyncs, "the FLUSH after a lost write reports IOERR");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_FLUSH, 0, 0) == VIRTIO_BLK_S_OK,
		  "the next FLUSH succeeds");
	drv_check(!(drv_virtio_status(&g.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "a back-end error is not the guest's fault: no reset needed");

	memset(blk_guest_buf(&g), 0, CHUNK);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_IN, good, CHUNK) == VIRTIO_BLK_S_OK &&
		  blk_guest_buf_is(&g, 0x3c, CHUNK), "the rest of the disk still reads back");
	drv_check(rnd_guest_serves(&rnd), "the other device still serves");

	drv_virtio_fini(&g.v);
	drv_virtio_fini(&rnd);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	/* vdm's own fdatasync at close meets no failed write: clean stop. */
	drv_check(st == 0, "vdm keeps running and stops cleanly (%d)", st);
	fuse_disk_unmount(fs);
	rmdir(dir);
	return drv_result();
}
