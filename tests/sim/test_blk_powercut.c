/*
 * test_blk_powercut.c - FLUSH means durable, held to it through a power cut.
 * The image lives on a FUSE disk (fuse_disk.c) that keeps written data in a
 * volatile cache until an fsync, and can lose power.  The guest writes 32
 * distinct patterns through virtio-blk and issues FLUSH; the moment the
 * FLUSH completes, vdm is killed with SIGKILL and the power is cut.  Every
 * write acknowledged before the FLUSH must be in the durable image.  Then
 * the power comes back, a new vdm serves the flushed data to the guest, the
 * guest writes 8 more patterns (half over flushed ones) without a FLUSH,
 * and a second cut drops them: what they overwrote is intact.
 *
 * Unlike test_blk_durability this tells fdatasync from no fdatasync: with
 * the fdatasync of FLUSH taken out of vbs-u/blk.c, the first cut drops all
 * 32 writes and the test fails ("every write acknowledged before the FLUSH
 * is in the durable image (32 of 32 missing)").
 *
 * Usage: test_blk_powercut [OPT...] - each OPT is appended to the
 * virtio-blk's -s spec, so each cache mode can be registered as a test of
 * its own (a wrapper or a log compiler passing, e.g., its cache option).
 * Without options the second cut must drop every unflushed write: plain
 * vdm makes no write durable before a FLUSH, so this shows the fixture
 * really loses data.  With options a mode may make writes durable sooner,
 * so each unflushed write need only be whole or gone; an option naming
 * nocache also has the test check that vdm opened the image O_DIRECT.  A
 * self-check first shows the FUSE disk takes O_DIRECT opens and loses what
 * was not synced.
 *
 * Needs root and /dev/fuse; skips (77) without.  The mount lives in a
 * private mount namespace.
 */
#include "blk_guest.h"
#include "fuse_disk.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE_SIZE (8 << 20)
#define WRITE_LEN (16 << 10)
#define NWRITES 32 /* flushed */
#define NLATE 8	   /* not flushed; the even ones over flushed ones */
#define STRIDE 200 /* sectors between writes */
#define LATE_BASE ((5 << 20) / 512)

static uint64_t flushed_sector(int i)
{
	return (uint64_t)i * STRIDE;
}

static uint64_t late_sector(int j)
{
	return j % 2 ? LATE_BASE + (uint64_t)j * STRIDE : flushed_sector(j);
}

/* One vdm serving the image, and the guest's disk on it. */
struct run {
	struct vdm_proc p;
	struct drv d;
	struct blk_guest g;
};

static int run_start(struct run *r, const char *spec)
{
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int st, nf;

	if (vdm_spawn(&r->p, (const char *const[]){ "-m", "256M", "-s", spec, NULL }, &st)) {
		drv_check(false, "vdm starts with -s %s (%d)", spec, st);
		return -1;
	}
	drv_connect(&r->d, r->p.sock);
	nf = drv_enumerate(&r->d, funcs, 8);
	if (blk_guest_up(&r->g, &r->d, funcs, nf, 3, 16 << 20, WRITE_LEN, 0, &mmio, &io)) {
		drv_check(false, "virtio-blk set up");
		drv_disconnect(&r->d);
		vdm_stop(&r->p);
		return -1;
	}
	return 0;
}

/* SIGKILL vdm (no clean shutdown, no flush on exit), then cut the disk's
 * power; returns the bytes the cut dropped. */
static uint64_t run_kill_and_cut(struct run *r, struct fuse_disk *fs)
{
	uint64_t dropped;
	int st;

	kill(r->p.pid, SIGKILL);
	waitpid(r->p.pid, &st, 0);
	dropped = fuse_disk_power_cut(fs);
	drv_check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "vdm was killed, not stopped");
	drv_disconnect(&r->d);
	unlink(r->p.sock);
	rmdir(r->p.dir);
	return dropped;
}

static bool durable_has(struct fuse_disk *fs, uint64_t sector, const uint8_t *want)
{
	static uint8_t back[WRITE_LEN];

	return !fuse_disk_read_durable(fs, sector * 512, back, WRITE_LEN) &&
	       !memcmp(back, want, WRITE_LEN);
}

/* The fixture itself, before vdm: O_DIRECT works, a write reaches the disk
 * before write() returns, fdatasync makes it durable, a cut drops the rest. */
static void self_check(struct fuse_disk *fs, const char *img)
{
	const uint64_t off = IMAGE_SIZE - 4096;
	uint8_t *synced, *later;
	uint64_t dropped;
	int fd;

	if (posix_memalign((void **)&synced, 4096, 4096) || !(later = malloc(4096)))
		exit(99);
	blk_pattern(synced, 4096, 900);
	blk_pattern(later, 4096, 901);
	fd = open(img, O_RDWR | O_DIRECT);
	drv_check(fd >= 0, "self-check: the FUSE disk takes an O_DIRECT open (%s)",
		  fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0) {
		drv_check(pwrite(fd, synced, 4096, (off_t)off) == 4096 &&
				  fuse_disk_volatile_bytes(fs) == 4096,
			  "self-check: an O_DIRECT write is in the disk's cache when pwrite returns");
		drv_check(!fdatasync(fd) && fuse_disk_volatile_bytes(fs) == 0 &&
				  fuse_disk_direct_opens(fs) == 1,
			  "self-check: fdatasync empties the cache");
		close(fd);
	}
	fd = open(img, O_RDWR);
	if (fd < 0 || pwrite(fd, later, 4096, (off_t)off) != 4096)
		exit(99);
	close(fd); /* a close is no barrier: still volatile */
	dropped = fuse_disk_power_cut(fs);
	drv_check(dropped == 4096 && image_has(img, off, synced, 4096),
		  "self-check: a power cut drops an unsynced write (%llu bytes) and the file "
		  "reads the synced data again",
		  (unsigned long long)dropped);
	free(synced);
	free(later);
}

/*
 * make check runs the variants as tests/sim/powercut/NAME.pwr (faults.mk):
 * NAME is virtio-blk options joined by '+', with "threads" for
 * aio=threads ('=' has no place in a make target).  Anything else is taken
 * as an option as it is.
 */
static const char *variant_opts(const char *arg)
{
	static char opts[256];
	const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
	size_t len = strlen(base), n = 0;

	if (len < 4 || strcmp(base + len - 4, ".pwr"))
		return arg;
	opts[0] = 0;
	for (const char *p = base; p < base + len - 4;) {
		const char *end = memchr(p, '+', (size_t)(base + len - 4 - p));
		size_t l = end ? (size_t)(end - p) : (size_t)(base + len - 4 - p);
		const char *word = l == 7 && !strncmp(p, "threads", 7) ? "aio=threads" : NULL;

		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s%.*s", n ? "," : "",
				      word ? (int)strlen(word) : (int)l, word ? word : p);
		if (n >= sizeof(opts))
			break;
		p += l + (end ? 1 : 0);
	}
	return opts;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vdm-powercut-XXXXXX", img[128], spec[512];
	static uint8_t want[WRITE_LEN], before[NLATE][WRITE_LEN];
	struct fuse_disk *fs;
	struct run r;
	bool nocache = false, all_ok = true;
	int missing = 0, lost = 0, torn = 0;
	uint64_t vol, dropped;
	size_t n;

	fs = fuse_disk_setup(dir, &(struct fuse_disk_opts){ .size = IMAGE_SIZE });
	if (!fs)
		return 77;
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	n = (size_t)snprintf(spec, sizeof(spec), "3,virtio-blk,%s", img);
	for (int i = 1; i < argc && n < sizeof(spec); i++) {
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, ",%s", variant_opts(argv[i]));
		nocache |= strstr(argv[i], "nocache") != NULL;
	}
	if (n >= sizeof(spec))
		return 99;
	self_check(fs, img);
	unsigned direct_opens = fuse_disk_direct_opens(fs);

	/* 1: the cut comes the moment the FLUSH completes. */
	if (run_start(&r, spec))
		goto out;
	for (int i = 0; i < NWRITES; i++) {
		blk_pattern(blk_guest_buf(&r.g), WRITE_LEN, (unsigned)i);
		all_ok &= blk_guest_rw(&r.g, VIRTIO_BLK_T_OUT, flushed_sector(i), WRITE_LEN) ==
			  VIRTIO_BLK_S_OK;
	}
	drv_check(all_ok, "%d writes completed with OK", NWRITES);
	vol = fuse_disk_volatile_bytes(fs);
	int fl = blk_guest_rw(&r.g, VIRTIO_BLK_T_FLUSH, 0, 0);
	/* No grace: vdm dies and the power goes the moment the guest has the
	 * FLUSH completion. */
	dropped = run_kill_and_cut(&r, fs);
	drv_check(fl == VIRTIO_BLK_S_OK, "FLUSH completed with OK");
	for (int i = 0; i < NWRITES; i++) {
		blk_pattern(want, WRITE_LEN, (unsigned)i);
		missing += !durable_has(fs, flushed_sector(i), want);
	}
	drv_check(missing == 0,
		  "every write acknowledged before the FLUSH is in the durable image (%d of %d "
		  "missing)",
		  missing, NWRITES);
	printf("note: %llu bytes of the guest's writes were volatile before the FLUSH; the cut "
	       "at its completion dropped %llu\n",
	       (unsigned long long)vol, (unsigned long long)dropped);
	if (nocache)
		drv_check(fuse_disk_direct_opens(fs) > direct_opens,
			  "nocache: vdm opened the image O_DIRECT");

	/* 2: power back; writes after the last FLUSH are lost to the next cut.
	 * What they overwrite is taken from the durable image, not assumed. */
	for (int j = 0; j < NLATE; j++)
		fuse_disk_read_durable(fs, late_sector(j) * 512, before[j], WRITE_LEN);
	if (run_start(&r, spec))
		goto out;
	missing = 0;
	for (int i = 0; i < NWRITES; i++) {
		blk_pattern(want, WRITE_LEN, (unsigned)i);
		missing += blk_guest_rw(&r.g, VIRTIO_BLK_T_IN, flushed_sector(i), WRITE_LEN) !=
				   VIRTIO_BLK_S_OK ||
			   memcmp(blk_guest_buf(&r.g), want, WRITE_LEN);
	}
	drv_check(missing == 0,
		  "after the power comes back the guest reads every flushed write (%d of %d "
		  "missing)",
		  missing, NWRITES);
	all_ok = true;
	for (int j = 0; j < NLATE; j++) {
		blk_pattern(blk_guest_buf(&r.g), WRITE_LEN, 1000u + (unsigned)j);
		all_ok &= blk_guest_rw(&r.g, VIRTIO_BLK_T_OUT, late_sector(j), WRITE_LEN) ==
			  VIRTIO_BLK_S_OK;
	}
	drv_check(all_ok, "%d more writes, not flushed, completed with OK", NLATE);
	vol = fuse_disk_volatile_bytes(fs);
	dropped = run_kill_and_cut(&r, fs);
	for (int j = 0; j < NLATE; j++) {
		blk_pattern(want, WRITE_LEN, 1000u + (unsigned)j);
		if (durable_has(fs, late_sector(j), want))
			continue;
		if (durable_has(fs, late_sector(j), before[j]))
			lost++;
		else
			torn++;
	}
	drv_check(torn == 0,
		  "after the second cut each unflushed write is whole or gone, and what it "
		  "overwrote is intact (%d torn)",
		  torn);
	printf("note: %llu bytes were volatile before the second cut, which dropped %llu: %d of "
	       "%d unflushed writes\n",
	       (unsigned long long)vol, (unsigned long long)dropped, lost, NLATE);
	if (argc == 1)
		drv_check(lost == NLATE && dropped == (uint64_t)NLATE * WRITE_LEN,
			  "no cache option: the cut dropped every unflushed write (%d of %d)", lost,
			  NLATE);
out:
	fuse_disk_unmount(fs);
	rmdir(dir);
	return drv_result();
}
