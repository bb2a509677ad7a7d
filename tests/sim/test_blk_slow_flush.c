/*
 * test_blk_slow_flush.c - a slow disk must not stall the rest of the VM.
 * Two virtio-blk disks: slot 3 on a FUSE disk (fuse_disk.c) whose every
 * fsync takes 2 s, slot 4 on a tmpfs.  The guest issues FLUSH on slot 3
 * and, once the disk is busy with that fsync, times one thing a guest does
 * all the time: a read on slot 4, a PCI config-space read, a virtio
 * config-space read.  Each must answer well inside the fsync (500 ms), and
 * the FLUSH must still complete OK, after the fsync.  One FLUSH per probe,
 * so each is timed while a FLUSH is outstanding.
 *
 * Before block I/O left vdm's event-loop thread it failed: that thread sat
 * in fdatasync for the whole 2 s, so every probe waited it out ("... took
 * 1996 ms while slot 3's FLUSH waited on its 2000 ms fsync (limit 500
 * ms)").  Only those promptness checks fail the test (exit 1); anything
 * else going wrong is a hard error (exit 99).
 *
 * Needs root and /dev/fuse; skips (77) without.  The mounts live in a
 * private mount namespace.
 */
#include "blk_guest.h"
#include "fuse_disk.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#define IMAGE_SIZE (8 << 20)
#define FSYNC_MS 2000
#define PROMPT_MS 500
#define DATA_LEN 4096

enum probe { PROBE_READ, PROBE_PCI_CFG, PROBE_VIRTIO_CFG, NPROBES };

static const char *const probe_what[NPROBES] = {
	[PROBE_READ] = "a 4 KiB read on the other disk (slot 4)",
	[PROBE_PCI_CFG] = "a PCI config-space read (slot 4's vendor and device ID)",
	[PROBE_VIRTIO_CFG] = "a virtio config-space read (slot 4's capacity)",
};

static bool hard_error; /* a failure that is not the expected one */

/* drv_check for everything but promptness: a failure is a hard error. */
#define check_hard(ok, ...) ((void)(drv_check((ok), __VA_ARGS__) || (hard_error = true)))

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Do one probe on slot 4; whether its answer was right. */
static bool probe(enum probe p, struct drv *d, struct blk_guest *g2)
{
	switch (p) {
	case PROBE_READ:
		memset(blk_guest_buf(g2), 0, DATA_LEN);
		return blk_guest_rw(g2, VIRTIO_BLK_T_IN, 0, DATA_LEN) == VIRTIO_BLK_S_OK &&
		       blk_guest_buf_is(g2, 0x5a, DATA_LEN);
	case PROBE_PCI_CFG:
		return drv_cfg_read(d, hsm_bdf(0, 4, 0), 0, 4) == 0x10421af4;
	case PROBE_VIRTIO_CFG:
		return drv_virtio_cfg_read(&g2->v, 0, 8) == IMAGE_SIZE / 512;
	default:
		return false;
	}
}

/* One FLUSH on slot 3, and probe p timed while its fsync is under way. */
static void flush_and_probe(enum probe p, struct fuse_disk *fs, struct drv *d,
			    struct blk_guest *g1, struct blk_guest *g2)
{
	unsigned fsyncs = fuse_disk_fsyncs(fs);
	long t0, t1, took, flush_ms;
	uint16_t id;
	uint32_t len;
	bool answer;

	if (blk_guest_post(g1, VIRTIO_BLK_T_FLUSH, 0, 0) < 0) {
		check_hard(false, "FLUSH posted on slot 3");
		return;
	}
	drv_virtio_kick(&g1->v, 0);
	t0 = now_ms();
	while (!fuse_disk_fsync_busy(fs) && now_ms() - t0 < 5000)
		usleep(1000);
	if (!fuse_disk_fsync_busy(fs)) {
		check_hard(false, "slot 3's FLUSH reaches the disk's fsync within 5 s");
		return;
	}

	t1 = now_ms();
	answer = probe(p, d, g2);
	took = now_ms() - t1;
	check_hard(answer, "%s gets the right answer", probe_what[p]);
	drv_check(took < PROMPT_MS,
		  "%s took %ld ms while slot 3's FLUSH waited on its %d ms fsync (limit %d ms)",
		  probe_what[p], took, FSYNC_MS, PROMPT_MS);

	int got = drv_virtio_wait_used(&g1->v, 0, &id, &len, FSYNC_MS + 10000);
	flush_ms = now_ms() - t0;
	check_hard(got == 1 && *(uint8_t *)drv_gpa(d, g1->status, 1) == VIRTIO_BLK_S_OK &&
			   fuse_disk_fsyncs(fs) == fsyncs + 1,
		   "slot 3's FLUSH completes with OK");
	/* From the kick, so at least the fsync's delay (less clock rounding). */
	check_hard(flush_ms >= FSYNC_MS - 100, "the FLUSH completed after the %d ms fsync (%ld ms)",
		   FSYNC_MS, flush_ms);
}

int main(void)
{
	char dir[] = "/tmp/vdm-slowflush-XXXXXX", dir2[] = "/tmp/vdm-slowflush-tmpfs-XXXXXX";
	char img[128], img2[128], blk[160], blk2[160];
	struct vdm_proc p;
	struct drv d;
	struct drv_func funcs[8];
	struct blk_guest g1, g2;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct fuse_disk *fs;
	int st, nf;

	fs = fuse_disk_setup(dir, &(struct fuse_disk_opts){ .size = IMAGE_SIZE,
							    .fsync_ms = FSYNC_MS });
	if (!fs)
		return 77;
	/* fuse_disk_setup moved us into a private mount namespace. */
	if (!mkdtemp(dir2) || mount("vdm-slowflush", dir2, "tmpfs", 0, "size=16m,mode=0700")) {
		printf("SKIP: cannot mount a tmpfs: %s\n", strerror(errno));
		fuse_disk_unmount(fs);
		rmdir(dir);
		return 77;
	}
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(img2, sizeof(img2), "%s/disk.img", dir2);
	blk_image_create(img2, IMAGE_SIZE);
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	snprintf(blk2, sizeof(blk2), "4,virtio-blk,%s", img2);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "256M", "-s", blk, "-s", blk2, NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		return 99;
	}
	drv_connect(&d, p.sock);
	nf = drv_enumerate(&d, funcs, 8);
	if (blk_guest_up(&g1, &d, funcs, nf, 3, 16 << 20, DATA_LEN, 0, &mmio, &io) ||
	    blk_guest_up(&g2, &d, funcs, nf, 4, 64 << 20, DATA_LEN, 0, &mmio, &io)) {
		drv_check(false, "both disks set up");
		return 99;
	}
	memset(blk_guest_buf(&g2), 0x5a, DATA_LEN);
	check_hard(blk_guest_rw(&g2, VIRTIO_BLK_T_OUT, 0, DATA_LEN) == VIRTIO_BLK_S_OK,
		   "slot 4 takes a write");

	for (int i = 0; i < NPROBES; i++)
		flush_and_probe((enum probe)i, fs, &d, &g1, &g2);

	drv_virtio_fini(&g1.v);
	drv_virtio_fini(&g2.v);
	drv_disconnect(&d);
	st = vdm_stop(&p); /* its last fdatasync on slot 3 takes FSYNC_MS too */
	check_hard(st == 0, "vdm stops cleanly");
	fuse_disk_unmount(fs);
	rmdir(dir);
	umount2(dir2, MNT_DETACH);
	rmdir(dir2);
	if (hard_error)
		return 99;
	return drv_result();
}
