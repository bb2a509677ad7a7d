/*
 * test_blk_enospc.c - a virtio-blk image whose writes fail: the image is a
 * sparse 8 MiB file on a 1 MiB tmpfs, so writes run out of space (ENOSPC)
 * part-way.  The failing write completes with VIRTIO_BLK_S_IOERR, the device
 * does not need a reset, earlier data still reads back, blocks already
 * allocated can still be rewritten, FLUSH still works, and the other device
 * (virtio-rnd) keeps serving.
 *
 * Needs root for the tmpfs, mounted in a private mount namespace
 * (unshare(CLONE_NEWNS)) so nothing leaks to the host; skips (77) without.
 */
#include "blk_guest.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#define IMAGE_SIZE (8 << 20)
#define CHUNK (64 << 10)

static int private_tmpfs(char *dir)
{
	if (getuid() != 0) {
		printf("SKIP: needs root to mount a tmpfs\n");
		return -1;
	}
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		printf("SKIP: no private mount namespace: %s\n", strerror(errno));
		return -1;
	}
	if (!mkdtemp(dir) || mount("vdm-enospc", dir, "tmpfs", 0, "size=1m,mode=0700")) {
		printf("SKIP: cannot mount a tmpfs: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/vdm-enospc-XXXXXX", img[128], blk[160];
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct blk_guest g;
	struct drv_virtio rnd;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st;

	if (private_tmpfs(dir))
		return 77;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	blk_image_create(img, IMAGE_SIZE);
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", blk, "-s", "4,virtio-rnd",
						 NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (blk_guest_up(&g, &d, funcs, nf, 3, 16 << 20, CHUNK, 0, &mmio, &io) ||
	    virtio_guest_up(&rnd, &d, funcs, nf, 4, 64 << 20, 0, 1, &mmio, &io)) {
		drv_check(false, "devices set up");
		return drv_result();
	}

	/* Fill the image until the tmpfs is full: 1 MiB holds at most 16 chunks. */
	int ok_writes = 0, status = VIRTIO_BLK_S_OK;
	while (ok_writes < IMAGE_SIZE / CHUNK) {
		memset(blk_guest_buf(&g), 0x40 + ok_writes, CHUNK);
		status = blk_guest_rw(&g, VIRTIO_BLK_T_OUT, (uint64_t)ok_writes * (CHUNK / 512), CHUNK);
		if (status != VIRTIO_BLK_S_OK)
			break;
		ok_writes++;
	}
	drv_check(ok_writes > 0 && ok_writes <= 16, "%d writes of 64 KiB fit", ok_writes);
	drv_check(status == VIRTIO_BLK_S_IOERR, "the write that found no space completed with IOERR "
		  "(status %d)", status);
	drv_check(!(drv_virtio_status(&g.v) & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "a back-end error is not the guest's fault: no reset needed");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, (uint64_t)(ok_writes + 4) * (CHUNK / 512),
			       CHUNK) == VIRTIO_BLK_S_IOERR, "a later write elsewhere fails too");

	/* Still serving: reads, rewrites of allocated blocks, FLUSH, the other device. */
	memset(blk_guest_buf(&g), 0, CHUNK);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_IN, 0, CHUNK) == VIRTIO_BLK_S_OK &&
		  blk_guest_buf_is(&g, 0x40, CHUNK), "data written before the failure reads back");
	memset(blk_guest_buf(&g), 0x77, CHUNK);
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_OUT, 0, CHUNK) == VIRTIO_BLK_S_OK,
		  "rewriting an allocated block still works");
	drv_check(blk_guest_rw(&g, VIRTIO_BLK_T_FLUSH, 0, 0) == VIRTIO_BLK_S_OK, "FLUSH works");
	drv_check(rnd_guest_serves(&rnd), "the other device still serves");

	drv_virtio_fini(&g.v);
	drv_virtio_fini(&rnd);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm keeps running and stops cleanly (%d)", st);
	unlink(img);
	umount(dir);
	rmdir(dir);
	return drv_result();
}
