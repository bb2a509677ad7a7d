/*
 * fuzz_vq.c - libFuzzer target for libvbsu's split-virtqueue walker
 * (vbs-u/vq.c): descriptor tables, the avail ring and indirect tables, all
 * taken from the fuzz input as guest RAM.
 *
 * Every chain vq_getchain hands out is checked against its own summary and
 * every byte of every buffer is touched (read, and written when writable),
 * so a buffer that is not wholly inside guest RAM is an ASan report.  Chains
 * go back on the used ring, with interrupt and notification decisions, as a
 * device would.
 */
#include "fuzz_ram.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_ram ram;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_vq: invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vqueue vq;
	struct iovec iov[64];

	if (size < FUZZ_HDR)
		return -1;
	if (!ram.lo)
		fuzz_ram_init(&ram);
	fuzz_ram_fill(&ram, data + FUZZ_HDR, size - FUZZ_HDR);
	if (fuzz_vq_setup(&vq, &ram, data, 256))
		return 0;

	/* hdr[2] picks how many iovecs the "device" allows; hdr[3] how chains end. */
	int niov = 1 + data[2] % 64;
	for (int round = 0; round < 2 * vq.size + 2; round++) {
		struct vq_chain c;
		int n = vq_getchain(&vq, &c, iov, niov);

		if (n <= 0) {
			if (n < 0) {
				check(vq.broken && vq.error, "a failure breaks the queue with a reason");
				check(vq_getchain(&vq, &c, iov, niov) == n, "a broken queue stays broken");
			}
			break;
		}
		check(n <= niov && c.nread + c.nwrite == n, "iovec count");
		check(c.head < vq.size, "head inside the queue");
		if ((data[3] >> (round & 7)) & 1) {
			/* Give it back (before touching guest RAM): it must come out again. */
			struct vq_chain again;

			vq_retchain(&vq);
			check(vq_getchain(&vq, &again, iov, niov) == n && again.head == c.head,
			      "a returned chain comes back");
		}
		check(fuzz_touch_chain(&c, iov, n), "byte totals match the buffers");
		vq_relchain(&vq, c.head, c.write_len);
		if (round & 1) {
			vq_endchains(&vq);
			vq_set_notify(&vq, round & 2);
		}
	}
	vq_endchains(&vq);
	(void)vq_has_work(&vq);
	return 0;
}
