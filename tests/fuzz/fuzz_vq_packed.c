/*
 * fuzz_vq_packed.c - libFuzzer target for libvbsu's packed-virtqueue walker
 * (vbs-u/vq_packed.c): the descriptor ring with its AVAIL/USED bits,
 * indirect tables, buffer ids and both event suppression areas, all taken
 * from the fuzz input as guest RAM (fuzz_ram.h), through the API back-ends
 * use.
 *
 * Input: an 8-byte header, then guest RAM.  Header: [0] queue size (0 means
 * 256), [1] bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 start from the
 * position in [4..5] (vq_set_indexes, range checks included), bits 3 and 4
 * a layout vq_setup must refuse, [2] how many iovecs the "device" allows,
 * [3] and [7] seed the device's choices (hold, release alone or in groups,
 * in or out of order, give back), [6] bits 0-1 how many more passes: after
 * each, the harness writes the input's ring again as the driver would from
 * where the device stopped (the input's AVAIL/USED bits moved to the lap the
 * device reads each slot in), so one input runs its lists round the ring,
 * across the end and in the lap whose wrap counter is 0; [6] bit 7 keeps
 * the chains the device holds across that rewrite, as a driver overwriting
 * descriptors in flight would.  The descriptor ring is at 0x0000, the
 * driver area at 0x1000 and the device area at 0x2000.
 *
 * Checks, beyond ASan's (every byte of every buffer handed out is touched,
 * written when writable): a failure breaks the queue with a reason and stays;
 * a chain agrees with its own summary; an id is never handed out while the
 * device holds it; a returned chain comes back the same; positions stay
 * inside the ring; each release writes its used descriptor (id, AVAIL = USED
 * = the device's wrap counter) at the used position; once everything is
 * released the used position has caught up with last_avail; a refused
 * layout says why.
 */
#include "fuzz_ram.h"

#include <stdio.h>
#include <linux/virtio_config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 8
#define DRIVER_AREA 0x1000u
#define DEVICE_AREA 0x2000u
#define MAXQ 256

/* The driver's view of a packed descriptor (virtio 1.2, 2.8.13). */
struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

static struct fuzz_ram ram;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_vq_packed: invariant broken: %s\n", what);
		abort();
	}
}

static uint32_t next_rand(uint32_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 17;
	*st ^= *st << 5;
	return *st;
}

static void check_positions(const struct vqueue *vq)
{
	check((vq->last_avail & (VQ_PACKED_WRAP - 1)) < vq->size, "last_avail inside the ring");
	check((vq->used_idx & (VQ_PACKED_WRAP - 1)) < vq->size, "used position inside the ring");
}

/* Release heads[0..n-1] as one group; the first one's used descriptor is where used_idx was. */
static void release(struct vqueue *vq, const uint16_t *heads, const uint32_t *lens, int n,
		    bool *held)
{
	const volatile struct pdesc *ring = fuzz_translate(&ram, FUZZ_DESC,
							   (uint64_t)vq->size * sizeof(struct pdesc));
	uint16_t pos = vq->used_idx;
	const volatile struct pdesc *d = &ring[pos & (VQ_PACKED_WRAP - 1)];

	vq_relchains(vq, heads, lens, n);
	check_positions(vq);
	if (n > 0) {
		check(d->id == heads[0] && d->len == lens[0], "used descriptor: id and length");
		check((d->flags & 0x8080) == ((pos & VQ_PACKED_WRAP) ? 0x8080 : 0),
		      "used descriptor: AVAIL = USED = the device's wrap counter");
	}
	for (int i = 0; i < n; i++)
		held[heads[i]] = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vq_mem mem = { .translate = fuzz_translate, .opaque = &ram };
	struct vqueue vq = { 0 };
	struct iovec iov[64];
	bool held[MAXQ] = { false };
	uint16_t order[MAXQ];
	uint32_t lens[MAXQ];
	int nheld = 0;
	uint64_t features = 1ULL << VIRTIO_F_RING_PACKED;
	uint32_t st;
	uint16_t qsize;

	if (size < HDR)
		return -1;
	if (!ram.lo)
		fuzz_ram_init(&ram);
	fuzz_ram_fill(&ram, data + HDR, size - HDR);
	qsize = data[0] ? data[0] : MAXQ;
	if (data[1] & 1)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (data[1] & 2)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	/* Misaligned descriptor ring; driver area straddling the hole in guest RAM. */
	uint64_t desc_gpa = FUZZ_DESC + ((data[1] & 8) ? 8 : 0);
	uint64_t driver_gpa = (data[1] & 16) ? FUZZ_LO_SIZE - 2 : DRIVER_AREA;

	if (vq_setup(&vq, &mem, qsize, MAXQ, desc_gpa, driver_gpa, DEVICE_AREA, features)) {
		check(vq.error != NULL && !vq.ready, "a refused setup says why");
		return 0;
	}
	if (data[1] & 4) {
		vq_set_indexes(&vq, (uint16_t)(data[4] | data[5] << 8),
			       (uint16_t)(data[4] | data[5] << 8));
		check(!vq.broken || vq.error, "refused positions break the queue with a reason");
		check_positions(&vq);
	}
	st = 1u + data[3] + ((uint32_t)data[7] << 8);
	int niov = 1 + data[2] % 64;
	int laps = 1 + (data[6] & 3);
	bool keep = data[6] & 0x80;

	for (int lap = 0; lap < laps && !vq.broken; lap++) {
		if (lap > 0) {
			/*
			 * The ring again from the input, as if the driver wrote it
			 * anew from where the device is: the input's AVAIL/USED bits
			 * read as lap 1's, moved to the lap in which the device will
			 * next read each slot (lies stay lies).
			 */
			uint8_t *r = fuzz_translate(&ram, FUZZ_DESC, (uint64_t)qsize * 16);
			size_t have = size - HDR;
			uint16_t at = vq.last_avail & (VQ_PACKED_WRAP - 1);
			bool wrap = vq.last_avail & VQ_PACKED_WRAP;

			for (uint32_t i = 0; i < qsize; i++) {
				struct pdesc d = { 0 };

				if ((size_t)i * 16 + 16 <= have)
					memcpy(&d, data + HDR + (size_t)i * 16, 16);
				if ((i >= at ? wrap : !wrap) == 0)
					d.flags ^= 0x8080;
				memcpy(r + (size_t)i * 16, &d, 16);
			}
		}
		for (int round = 0; round < 2 * qsize + 2; round++) {
			struct vq_chain c;
			int n = vq_getchain(&vq, &c, iov, niov);
			uint32_t act = next_rand(&st);

			check_positions(&vq);
			if (n <= 0) {
				if (n < 0) {
					check(vq.broken && vq.error, "a failure breaks the queue with a reason");
					check(vq_getchain(&vq, &c, iov, niov) == n, "a broken queue stays broken");
					check(!vq_has_work(&vq), "a broken queue has no work");
				}
				break;
			}
			check(n <= niov && c.nread + c.nwrite == n, "iovec count");
			check(c.head < qsize, "id inside the queue");
			check(!held[c.head], "an id is not handed out while the device holds it");
			if (act & 1) {
				/* Give it back (before touching guest RAM): it must come out again. */
				struct vq_chain again;

				vq_retchain(&vq);
				check(vq_getchain(&vq, &again, iov, niov) == n && again.head == c.head &&
					      again.read_len == c.read_len &&
					      again.write_len == c.write_len,
				      "a returned chain comes back");
			}
			check(fuzz_touch_chain(&c, iov, n), "byte totals match the buffers");
			held[c.head] = true;
			order[nheld] = c.head;
			lens[nheld] = c.write_len;
			nheld++;

			/* Hold it, release the newest, the oldest, or everything (newest first). */
			switch (act >> 1 & 3) {
			case 0:
				break;
			case 1:
				nheld--;
				release(&vq, &order[nheld], &lens[nheld], 1, held);
				break;
			case 2:
				release(&vq, &order[0], &lens[0], 1, held);
				memmove(order, order + 1, (size_t)(nheld - 1) * sizeof(order[0]));
				memmove(lens, lens + 1, (size_t)(nheld - 1) * sizeof(lens[0]));
				nheld--;
				break;
			default:
				for (int i = 0; i < nheld / 2; i++) {
					uint16_t t = order[i];
					uint32_t l = lens[i];

					order[i] = order[nheld - 1 - i];
					lens[i] = lens[nheld - 1 - i];
					order[nheld - 1 - i] = t;
					lens[nheld - 1 - i] = l;
				}
				release(&vq, order, lens, nheld, held);
				nheld = 0;
				break;
			}
			if (act & 8) {
				vq_endchains(&vq);
				vq_set_notify(&vq, act & 16);
			}
		}
		if (keep && lap + 1 < laps)
			continue;
		if (nheld > 0)
			release(&vq, order, lens, nheld, held);
		nheld = 0;
		vq_endchains(&vq);
		if (!vq.broken)
			check(vq.used_idx == vq.last_avail, "all released: used position caught up");
	}
	if (nheld > 0)
		release(&vq, order, lens, nheld, held);
	(void)vq_has_work(&vq);
	vq_reset(&vq);
	return 0;
}
