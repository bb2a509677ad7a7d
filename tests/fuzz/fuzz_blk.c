/*
 * fuzz_blk.c - libFuzzer target for virtio-blk request parsing: libvbsu's
 * block back-end (vbs-u/blk.c) serving whatever requests the fuzz input
 * puts on a split ring, against a 64 KiB image in a memfd.
 *
 * Input: the fuzz_ram.h header (queue size, ring features; hdr[2] bit 0
 * opens the image read-only, bit 1 uses 4096-byte blocks), then guest RAM.
 * Every request must come back on the used ring with a length inside its
 * writable part, and the image must keep its size.
 */
#include "fuzz_ram.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMAGE_SIZE (64 * 1024)
#define SEG_MAX 30

static struct fuzz_ram ram;
static int image_fd = -1;
static char image_path[64];

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_blk: invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vqueue vq;
	struct vbsu_blk b;
	char err[128];
	struct stat st;

	if (size < FUZZ_HDR)
		return -1;
	if (!ram.lo) {
		fuzz_ram_init(&ram);
		image_fd = memfd_create("fuzz-blk-image", 0);
		if (image_fd < 0 || ftruncate(image_fd, IMAGE_SIZE))
			abort();
		snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
	}
	fuzz_ram_fill(&ram, data + FUZZ_HDR, size - FUZZ_HDR);
	if (fuzz_vq_setup(&vq, &ram, data, 256))
		return 0;
	/* The thread-pool engine: requests complete on other threads, as they
	 * do in vdm, and the harness stays free of the io_uring set-up cost. */
	struct vbsu_blk_params bp = {
		.path = image_path,
		.read_only = data[2] & 1,
		.sector_size = (data[2] & 2) ? 4096 : 512,
		.serial = "fuzz-serial",
		.max_segs = SEG_MAX,
		.queue_size = 256,
		.aio = VBSU_BLK_AIO_THREADS,
	};
	if (vbsu_blk_open(&b, &bp, err, sizeof(err))) {
		fprintf(stderr, "fuzz_blk: %s\n", err);
		abort();
	}

	/* In budgets of 1..64 (hdr[3]), as the transport calls it, until done. */
	int budget = 1 + data[3] % 64, done = 0, r;
	while ((r = vbsu_blk_process(&b, &vq, budget)) > 0) {
		check(r <= budget, "the budget is kept");
		done += r;
		vbsu_blk_drain(&b); /* what went to the engine completes */
	}
	vbsu_blk_drain(&b);
	/* Taken is completed: no request is left hanging, broken queue or not. */
	check(vq.used_idx == vq.last_avail, "every request taken is on the used ring");
	check(r < 0 ? vq.broken : done == vq.used_idx, "return value counts requests taken");
	vbsu_blk_close(&b);
	check(fstat(image_fd, &st) == 0 && st.st_size == IMAGE_SIZE, "image keeps its size");
	return 0;
}
