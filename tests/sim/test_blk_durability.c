/*
 * test_blk_durability.c - FLUSH means durable: the guest writes through
 * virtio-blk, issues FLUSH, and the moment the FLUSH completes vdm is killed
 * with SIGKILL (no clean shutdown, no flush on exit).  Every write that
 * completed before the FLUSH must be in the image.  Writes made after the
 * FLUSH carry no promise and are not checked.
 *
 * What this can and cannot catch: it fails if vdm acknowledges a write or a
 * FLUSH before the data reached the image file (write-back caching in vdm,
 * or a status written before the write); it cannot tell fdatasync from no
 * fdatasync, since the kernel's page cache survives a killed process.  That
 * takes a power cut: test_blk_powercut makes one, on a FUSE disk whose
 * written data stays volatile until an fsync.  This test still runs where
 * that one skips (no root, no /dev/fuse).
 */
#include "blk_guest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE_SIZE (8 << 20)
#define NWRITES 64
#define WRITE_LEN 4096

static uint8_t pattern_byte(int i, int k)
{
	return (uint8_t)(i * 31 + k * 7 + 1);
}

int main(void)
{
	char dir[] = "/tmp/vdm-durability-XXXXXX", img[128], blk[160];
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct blk_guest g;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, fd;

	if (!mkdtemp(dir))
		return 99;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	blk_image_create(img, IMAGE_SIZE);
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", blk, NULL }, &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	if (blk_guest_up(&g, &d, funcs, nf, 3, 16 << 20, WRITE_LEN, 0, &mmio, &io)) {
		drv_check(false, "virtio-blk set up");
		return drv_result();
	}

	/* Scattered writes, each completed with OK before the next. */
	bool all_ok = true;
	for (int i = 0; i < NWRITES; i++) {
		uint8_t *buf = blk_guest_buf(&g);

		for (int k = 0; k < WRITE_LEN; k++)
			buf[k] = pattern_byte(i, k);
		all_ok &= blk_guest_rw(&g, VIRTIO_BLK_T_OUT, (uint64_t)i * 200, WRITE_LEN) ==
			  VIRTIO_BLK_S_OK;
	}
	drv_check(all_ok, "%d writes completed with OK", NWRITES);
	int fl = blk_guest_rw(&g, VIRTIO_BLK_T_FLUSH, 0, 0);
	/* No grace: vdm dies the moment the guest has the FLUSH completion. */
	kill(p.pid, SIGKILL);
	waitpid(p.pid, &st, 0);
	drv_check(fl == VIRTIO_BLK_S_OK, "FLUSH completed with OK");
	drv_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "vdm was killed, not stopped");

	uint8_t back[WRITE_LEN];
	int missing = 0;
	fd = open(img, O_RDONLY);
	for (int i = 0; fd >= 0 && i < NWRITES; i++) {
		bool same = pread(fd, back, WRITE_LEN, (off_t)i * 200 * 512) == WRITE_LEN;

		for (int k = 0; same && k < WRITE_LEN; k++)
			same = back[k] == pattern_byte(i, k);
		missing += !same;
	}
	drv_check(fd >= 0 && missing == 0, "every flushed write is in the image (%d missing)",
		  missing);
	if (fd >= 0)
		close(fd);
	drv_disconnect(&d);
	unlink(p.sock);
	rmdir(p.dir);
	unlink(img);
	rmdir(dir);
	return drv_result();
}
