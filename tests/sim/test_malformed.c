/*
 * test_malformed.c - a hostile guest on the simulator, one case per run:
 *     test_malformed CASE        (or .../CASE.mal, as `make check` runs it)
 * Each case breaks a rule of the virtqueue, the virtio-pci transport or PCI
 * on a transitional virtio-rnd (the victim, driven through its modern
 * interface) while virtio-blk (a bystander) keeps serving I/O.  In every case vdm keeps running, the bystander still reads back
 * what it wrote, the victim either reports DEVICE_NEEDS_RESET with a
 * configuration-change interrupt, refuses (FEATURES_OK stays clear), or
 * ignores what the spec lets a device ignore (and keeps working), and a
 * device reset brings it back to serving requests.  The packed-* cases
 * break the packed ring's rules (virtio 1.2, 2.8) on a victim that
 * negotiated VIRTIO_F_RING_PACKED, and it comes back packed.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define VICTIM_SLOT 4
#define BYSTANDER_SLOT 3
#define RAM_SIZE (3ULL << 30) /* room for 2 GiB buffers; a memfd costs only what is touched */

static struct drv d;
static struct drv_func funcs[8];
static struct drv_virtio victim, bystander;

static struct drv_func *func_at(int n, int slot)
{
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, slot, 0))
			return &funcs[i];
	return NULL;
}

#define VICTIM_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC))
#define PACKED_FEATURES (VICTIM_FEATURES | (1ULL << VIRTIO_F_RING_PACKED))

/* What victim_up negotiates: the packed cases switch it to PACKED_FEATURES. */
static uint64_t victim_features = VICTIM_FEATURES;

static bool victim_up_with(uint64_t features, uint16_t qsize)
{
	return drv_virtio_negotiate(&victim, features) == 0 &&
	       drv_virtio_setup_irq(&victim, true) == 0 && drv_virtio_setup_vq(&victim, 0, qsize) == 0;
}

static bool victim_up(uint16_t qsize)
{
	return victim_up_with(victim_features, qsize);
}

/* Raw access to the victim's ring, as a buggy or hostile driver would write it. */
static struct vring_desc *vdesc(uint16_t i)
{
	return drv_gpa(&d, victim.vq[0].desc_gpa + 16ULL * i, 16);
}

static void set_desc(struct vring_desc *x, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	x->addr = addr;
	x->len = len;
	x->flags = flags;
	x->next = next;
}

/* Put head on the avail ring (or move avail->idx by `jump` when non-zero). */
static void publish_raw(uint16_t head, uint16_t jump)
{
	struct drv_vq *q = &victim.vq[0];
	uint16_t *avail = drv_gpa(&d, q->avail_gpa, 4 + 2ULL * q->size);

	avail[2 + q->next_avail % q->size] = head;
	q->next_avail = (uint16_t)(q->next_avail + (jump ? jump : 1));
	__atomic_store_n(&avail[1], q->next_avail, __ATOMIC_RELEASE);
	drv_virtio_kick(&victim, 0);
}

/* The bystander still serves a write and a read-back. */
static bool bystander_ok(unsigned seed)
{
	uint64_t hdr = drv_virtio_alloc(&bystander, 16, 16);
	uint64_t data = drv_virtio_alloc(&bystander, 4096, 4096);
	uint64_t st = drv_virtio_alloc(&bystander, 1, 1);
	uint8_t *buf = drv_gpa(&d, data, 4096);
	uint8_t pattern[4096];
	uint16_t id;
	uint32_t len;

	for (int i = 0; i < 4096; i++)
		pattern[i] = (uint8_t)(seed + i);
	for (int pass = 0; pass < 2; pass++) {
		struct virtio_blk_outhdr *h = drv_gpa(&d, hdr, 16);
		struct drv_buf hb = { hdr, 16 }, db = { data, 4096 }, sb = { st, 1 };
		struct drv_buf out[2] = { hb, db }, in[2] = { db, sb };

		h->type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		h->sector = 8 * seed;
		if (pass)
			memset(buf, 0, 4096);
		else
			memcpy(buf, pattern, 4096);
		if (drv_virtio_post(&bystander, 0, out, pass ? 1 : 2, pass ? in : &in[1],
				    pass ? 2 : 1, false) < 0)
			return false;
		drv_virtio_kick(&bystander, 0);
		if (drv_virtio_wait_used(&bystander, 0, &id, &len, 5000) != 1 ||
		    *(uint8_t *)drv_gpa(&d, st, 1) != VIRTIO_BLK_S_OK)
			return false;
	}
	return !memcmp(buf, pattern, 4096);
}

static bool needs_reset_seen(void)
{
	for (int i = 0; i < 200; i++) {
		if (drv_virtio_status(&victim) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		drv_virtio_wait_irq(&victim, 10);
	}
	return false;
}

/* A good request on the victim after a reset. */
static bool victim_serves(void)
{
	uint64_t buf = drv_virtio_alloc(&victim, 64, 64);
	struct drv_buf in = { buf, 64 };
	uint16_t id;
	uint32_t len;

	if (drv_virtio_post(&victim, 0, NULL, 0, &in, 1, false) < 0)
		return false;
	drv_virtio_kick(&victim, 0);
	return drv_virtio_wait_used(&victim, 0, &id, &len, 5000) == 1 && len == 64;
}

typedef void (*break_fn)(void);

static void desc_loop(void)
{
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	publish_raw(0, 0);
}

static void indirect_loop(void)
{
	uint64_t t = drv_virtio_alloc(&victim, 64, 16), b = drv_virtio_alloc(&victim, 64, 64);
	struct vring_desc *tab = drv_gpa(&d, t, 64);
	set_desc(&tab[0], b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&tab[1], b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	set_desc(vdesc(0), t, 32, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void outside_ram(void)
{
	set_desc(vdesc(0), 1ULL << 40, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void straddles_ram_end(void)
{
	set_desc(vdesc(0), RAM_SIZE - 32, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void wraps_address_space(void)
{
	set_desc(vdesc(0), ~0ULL - 15, 64, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void chain_longer_than_queue(void)
{
	/* An indirect table one entry longer than the queue, every entry chained. */
	uint16_t n = (uint16_t)(victim.vq[0].size + 1);
	uint64_t t = drv_virtio_alloc(&victim, 16ULL * n, 16), b = drv_virtio_alloc(&victim, 64, 64);
	struct vring_desc *tab = drv_gpa(&d, t, 16ULL * n);
	for (uint16_t i = 0; i < n; i++)
		set_desc(&tab[i], b, 8, VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	set_desc(vdesc(0), t, 16U * n, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void nested_indirect(void)
{
	uint64_t t1 = drv_virtio_alloc(&victim, 16, 16), t2 = drv_virtio_alloc(&victim, 16, 16);
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(drv_gpa(&d, t2, 16), b, 8, VRING_DESC_F_WRITE, 0);
	set_desc(drv_gpa(&d, t1, 16), t2, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(vdesc(0), t1, 16, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void indirect_bad_length(void)
{
	uint64_t t = drv_virtio_alloc(&victim, 64, 16);
	set_desc(vdesc(0), t, 20, VRING_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
	publish_raw(0, 0);
}

static void lengths_overflow(void)
{
	/* Two 2 GiB buffers, each inside RAM: only their sum (2^32) is wrong. */
	set_desc(vdesc(0), 0x10000000, 0x80000000u, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), 0x10000000, 0x80000000u, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void head_out_of_range(void)
{
	publish_raw((uint16_t)(victim.vq[0].size + 5), 0);
}

static void avail_index_jump(void)
{
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE, 0);
	publish_raw(0, (uint16_t)(victim.vq[0].size + 1));
}

static void indirect_larger_than_queue(void)
{
	/* An indirect table one entry longer than the queue, every entry chained. */
	chain_longer_than_queue();
}

static void chain_longer_through_indirect(void)
{
	/* One direct buffer, then an indirect table of exactly queue-size
	 * entries: each part is legal, the chain (size + 1 buffers) is not. */
	uint16_t n = victim.vq[0].size;
	uint64_t t = drv_virtio_alloc(&victim, 16ULL * n, 16), b = drv_virtio_alloc(&victim, 64, 64);
	struct vring_desc *tab = drv_gpa(&d, t, 16ULL * n);
	for (uint16_t i = 0; i < n; i++)
		set_desc(&tab[i], b, 8, VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), t, 16U * n, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void indirect_zero_length(void)
{
	set_desc(vdesc(0), drv_virtio_alloc(&victim, 64, 16), 0, VRING_DESC_F_INDIRECT, 0);
	publish_raw(0, 0);
}

static void indirect_with_next(void)
{
	uint64_t t = drv_virtio_alloc(&victim, 16, 16), b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(drv_gpa(&d, t, 16), b, 8, VRING_DESC_F_WRITE, 0);
	set_desc(vdesc(0), t, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), b, 8, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

static void indirect_not_negotiated(void)
{
	drv_check(victim_up_with(1ULL << VIRTIO_F_VERSION_1, 0), "set up without INDIRECT_DESC");
	drv_virtio_driver_ok(&victim);
	nested_indirect(); /* the outer table alone is already a violation */
}

static void readable_after_writable(void)
{
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	set_desc(vdesc(0), b, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(vdesc(1), b + 8, 8, VRING_DESC_F_NEXT, 2);
	set_desc(vdesc(2), b + 16, 8, VRING_DESC_F_WRITE, 0);
	publish_raw(0, 0);
}

/* Set up queue 0 with raw register writes and a size of the guest's choosing. */
static void raw_queue(uint16_t size)
{
	uint64_t ring = drv_virtio_alloc(&victim, 0x10000, 4096);

	drv_virtio_negotiate(&victim, VICTIM_FEATURES);
	drv_virtio_setup_irq(&victim, true);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)ring);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)ring + 0x8000);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)ring + 0xc000);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0,
		  "a queue of size %u does not come up enabled", size);
}

static void queue_size_zero(void)
{
	raw_queue(0);
}

static void queue_size_not_power_of_2(void)
{
	raw_queue(3);
}

static void queue_size_too_big(void)
{
	/* virtio-rnd offers 64 entries; 128 is a power of two, but more. */
	raw_queue(128);
}

static void status_still_good(const char *what)
{
	uint8_t st = drv_virtio_status(&victim);

	drv_check(!(st & VIRTIO_CONFIG_S_NEEDS_RESET) && (st & VIRTIO_CONFIG_S_DRIVER_OK),
		  "%s: ignored, the device stays running (status %#x)", what, st);
}

static void notify_disabled_queue(void)
{
	/* Running, but queue 0 was never enabled: a kick has nothing to serve. */
	drv_virtio_negotiate(&victim, VICTIM_FEATURES);
	drv_virtio_setup_irq(&victim, true);
	drv_virtio_driver_ok(&victim);
	const struct drv_virtio_cap *c = &victim.caps[VIRTIO_PCI_CAP_NOTIFY_CFG];
	drv_io(&d, c->space, HSM_IO_WRITE, victim.notify_base, 2, 0, 0);
	drv_virtio_wait_irq(&victim, 50);
	status_still_good("notify on a disabled queue");
}

static void notify_absent_queue(void)
{
	const struct drv_virtio_cap *c = &victim.caps[VIRTIO_PCI_CAP_NOTIFY_CFG];

	/* virtio-rnd has one queue: kick queues 1 and 7, at their would-be
	 * notify addresses and (value = index) at queue 0's. */
	drv_io(&d, c->space, HSM_IO_WRITE, victim.notify_base + victim.notify_mult, 2, 0, 1);
	drv_io(&d, c->space, HSM_IO_WRITE, victim.notify_base + 7ULL * victim.notify_mult, 2, 0, 7);
	drv_io(&d, c->space, HSM_IO_WRITE, victim.notify_base, 2, 0, 7);
	/* Programming an absent queue is ignored and it reads as absent. */
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SELECT, 2, 5);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x1000);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 0 &&
		  drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0,
		  "absent queue 5 reads size 0, not enabled");
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_virtio_wait_irq(&victim, 50);
	status_still_good("notify on an absent queue");
	drv_check(victim_serves(), "queue 0 still serves without a reset");
}

static void queue_address_change_live(void)
{
	struct drv_vq *q = &victim.vq[0];

	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x1000);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0xdead);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_USEDLO, 8, 0x2000);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SIZE, 2, 2);
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_DESCLO, 4) ==
			  (uint32_t)q->desc_gpa &&
		  drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_AVAILHI, 4) == 0 &&
		  drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_USEDLO, 4) ==
			  (uint32_t)q->used_gpa &&
		  drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_SIZE, 2) == q->size,
		  "a live queue keeps its addresses and size");
	status_still_good("queue address change on a live queue");
	drv_check(victim_serves(), "the live queue still serves from its real rings");
}

static void legacy_pfn_change_live(void)
{
	/* The victim is transitional: a driver running it through the modern
	 * interface pokes the legacy queue PFN of its live queue. */
	struct drv_vq *q = &victim.vq[0];
	uint64_t io = victim.f->bars[0].addr;
	uint64_t elsewhere = drv_virtio_alloc(&victim, 0x4000, 4096);

	drv_check(victim.f->bars[0].type == DRV_BAR_IO && io, "the victim has its legacy I/O BAR");
	drv_pio_write(&d, io + 0x0e, 2, 0);                 /* queue select */
	drv_pio_write(&d, io + 0x08, 4, elsewhere >> 12);   /* a new ring */
	drv_check(drv_pio_read(&d, io + 0x08, 4) == (uint32_t)(q->desc_gpa >> 12),
		  "the legacy PFN still names the live ring");
	drv_pio_write(&d, io + 0x08, 4, 0);                 /* "deactivate" */
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1,
		  "PFN 0 does not disable a live queue");
	status_still_good("legacy PFN writes on a live queue");
	drv_check(victim_serves(), "the live queue still serves from its real rings");
}

/* ACKNOWLEDGE | DRIVER, then features including bit 40, which virtio-rnd never offers. */
static void write_unoffered_features(void)
{
	drv_virtio_set_status(&victim, 0);
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	drv_virtio_setup_irq(&victim, true); /* a config vector, to hear about NEEDS_RESET */
	drv_check(!(drv_virtio_device_features(&victim) & (1ULL << 40)), "bit 40 is not offered");
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_GF, 4, 0);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_GF, 4,
				(1u << (VIRTIO_F_VERSION_1 - 32)) | (1u << (40 - 32)));
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_FEATURES_OK);
}

static void features_never_offered(void)
{
	write_unoffered_features();
	uint8_t st = drv_virtio_status(&victim);
	drv_check(!(st & VIRTIO_CONFIG_S_FEATURES_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET),
		  "FEATURES_OK is refused (status %#x): the driver must give up or retry", st);
}

static void driver_ok_after_features_refused(void)
{
	write_unoffered_features();
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void driver_ok_without_features_ok(void)
{
	drv_virtio_set_status(&victim, 0);
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	drv_virtio_setup_irq(&victim, true);
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_DRIVER_OK);
}

static void status_bit_cleared(void)
{
	/* Running; the driver drops FEATURES_OK and DRIVER_OK without a reset. */
	drv_virtio_set_status(&victim, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
}

static void config_write_beyond_size(void)
{
	/* virtio-rnd has no device config at all: writes anywhere in the
	 * device-config page, of every width, reach nothing. */
	uint64_t bar = victim.f->bars[4].addr;
	static const unsigned widths[] = { 1, 2, 4, 8 };

	for (unsigned off = 0; off < 0x1000; off += 0x3f8)
		for (int w = 0; w < 4; w++)
			drv_mmio_write(&d, bar + 0x2000 + off, widths[w], ~0ULL);
	drv_mmio_write(&d, bar + 0x2ffe, 4, ~0ULL); /* straddles into the notify page */
	drv_check(drv_mmio_read(&d, bar + 0x2000, 4) == 0, "device config reads 0");
	status_still_good("config writes beyond the config size");
	drv_check(victim_serves(), "and it serves requests without a reset");
}

static void bar_over_ram(void)
{
	/* Move the modern BAR onto guest RAM (1 GiB, unused by the driver). */
	const uint64_t at = 1ULL << 30;
	uint8_t *ram = drv_gpa(&d, at, 0x4000), before[0x4000];
	uint16_t bdf = victim.f->bdf;
	uint64_t old = victim.f->bars[4].addr;

	memset(ram, 0x5a, sizeof(before));
	memcpy(before, ram, sizeof(before));
	drv_cfg_write(&d, bdf, 0x20, 4, (uint32_t)at | 0xc);
	drv_cfg_write(&d, bdf, 0x24, 4, (uint32_t)(at >> 32));
	/* The device now decodes there: the driver reaches it there, and vdm
	 * never writes guest RAM for a register access. */
	drv_check((drv_mmio_read(&d, at + VIRTIO_PCI_COMMON_STATUS, 1) &
		   VIRTIO_CONFIG_S_DRIVER_OK) != 0, "the moved BAR decodes at its new address");
	drv_mmio_write(&d, at + VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_mmio_write(&d, at + 0x3000, 2, 0); /* a kick at the new notify address */
	drv_check(!memcmp(ram, before, sizeof(before)), "guest RAM under the BAR is untouched");
	drv_cfg_write(&d, bdf, 0x20, 4, (uint32_t)old | 0xc);
	drv_cfg_write(&d, bdf, 0x24, 4, (uint32_t)(old >> 32));
	status_still_good("BAR programmed over RAM");
}

static void msix_table_out_of_range(void)
{
	uint64_t t = victim.msix_table;
	unsigned n = victim.msix_table_size;
	uint32_t data0 = (uint32_t)drv_mmio_read(&d, t + 8, 4);
	uint64_t pba = drv_mmio_read(&d, t + 0x800, 8);

	/* Past the last entry, into the gap before the PBA, the PBA itself
	 * (read-only), past it, and straddling the table's end. */
	for (uint64_t off = 16ULL * n; off < 0x1000; off += 0x7c)
		drv_mmio_write(&d, t + off, 4, 0xffffffff);
	drv_mmio_write(&d, t + 0x800, 8, ~0ULL);
	drv_mmio_write(&d, t + 16ULL * n - 4, 8, ~0ULL);
	drv_mmio_write(&d, t + 0xffc, 8, ~0ULL);
	drv_check(drv_mmio_read(&d, t + 8, 4) == data0, "entry 0 keeps its data");
	drv_check(drv_mmio_read(&d, t + 0x800, 8) == pba, "the PBA does not take writes");
	/* A vector the device does not have reads back as NO_VECTOR (4.1.5.1.2). */
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_Q_MSIX, 2, n + 3);
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_Q_MSIX, 2) ==
			  DRV_VIRTIO_NO_VECTOR, "queue vector %u reads back NO_VECTOR", n + 3);
	drv_virtio_common_write(&victim, VIRTIO_PCI_COMMON_MSIX, 2, 0x7fff);
	drv_check(drv_virtio_common_read(&victim, VIRTIO_PCI_COMMON_MSIX, 2) ==
			  DRV_VIRTIO_NO_VECTOR, "config vector 0x7fff reads back NO_VECTOR");
	status_still_good("MSI-X table writes out of range");
}

/* ---- packed ring (2.8) ---- */

/* 2.8.13, as the guest writes it. */
struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* Available on the driver's first lap (wrap counter 1): AVAIL set, USED clear. */
#define P_AV ((uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL))
#define P_USED ((uint16_t)(1u << VRING_PACKED_DESC_F_USED))

/* The victim again, with the packed ring, running. */
static void packed_victim(void)
{
	victim_features = PACKED_FEATURES;
	drv_check(victim_up(0) && victim.vq[0].packed, "victim set up with the packed ring");
	drv_virtio_driver_ok(&victim);
}

/* Write list[0..n-1] into ring slots 0..n-1, the first one's flags last
 * (release), and kick: what a driver does to expose a list (2.8.21.1). */
static void packed_publish(const struct pdesc *list, int n)
{
	struct pdesc *ring = drv_gpa(&d, victim.vq[0].desc_gpa, 16ULL * victim.vq[0].size);

	for (int i = n - 1; i >= 0; i--) {
		ring[i].addr = list[i].addr;
		ring[i].len = list[i].len;
		ring[i].id = list[i].id;
		if (i)
			ring[i].flags = list[i].flags;
	}
	__atomic_store_n(&ring[0].flags, list[0].flags, __ATOMIC_RELEASE);
	drv_virtio_kick(&victim, 0);
}

static void packed_id_out_of_range(void)
{
	packed_victim();
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	packed_publish(&(struct pdesc){ b, 64, (uint16_t)(victim.vq[0].size + 3),
					VRING_DESC_F_WRITE | P_AV },
		       1);
}

static void packed_wrap_counter_lies(void)
{
	/* The list goes on into a descriptor marked for the other lap. */
	packed_victim();
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	const struct pdesc list[2] = {
		{ b, 8, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT | P_AV },
		{ b + 8, 8, 0, VRING_DESC_F_WRITE | P_USED },
	};
	packed_publish(list, 2);
}

static void packed_desc_loop(void)
{
	/* Every slot of the ring available and linked by NEXT: a list that
	 * never ends, round the ring and on into the next lap. */
	packed_victim();
	uint16_t n = victim.vq[0].size;
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	struct pdesc list[DRV_VQ_MAX_SIZE];
	for (uint16_t i = 0; i < n; i++)
		list[i] = (struct pdesc){ b, 8, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT | P_AV };
	packed_publish(list, n);
}

static void packed_lengths_overflow(void)
{
	/* Two 2 GiB buffers, each inside RAM: only their sum (2^32) is wrong. */
	packed_victim();
	const struct pdesc list[2] = {
		{ 0x10000000, 0x80000000u, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT | P_AV },
		{ 0x10000000, 0x80000000u, 0, VRING_DESC_F_WRITE | P_AV },
	};
	packed_publish(list, 2);
}

static void packed_outside_ram(void)
{
	packed_victim();
	packed_publish(&(struct pdesc){ 1ULL << 40, 64, 0, VRING_DESC_F_WRITE | P_AV }, 1);
}

static void packed_indirect_nested(void)
{
	packed_victim();
	uint64_t t1 = drv_virtio_alloc(&victim, 16, 16), t2 = drv_virtio_alloc(&victim, 16, 16);
	uint64_t b = drv_virtio_alloc(&victim, 64, 64);
	*(struct pdesc *)drv_gpa(&d, t2, 16) = (struct pdesc){ b, 8, 0, VRING_DESC_F_WRITE };
	*(struct pdesc *)drv_gpa(&d, t1, 16) = (struct pdesc){ t2, 16, 0, VRING_DESC_F_INDIRECT };
	packed_publish(&(struct pdesc){ t1, 16, 0, VRING_DESC_F_INDIRECT | P_AV }, 1);
}

static void packed_then_legacy_pfn(void)
{
	/* The packed ring through the modern interface, then a queue set up
	 * through the legacy one, which has only the split layout. */
	victim_features = PACKED_FEATURES;
	drv_check(drv_virtio_negotiate(&victim, PACKED_FEATURES) == 0 &&
			  drv_virtio_setup_irq(&victim, true) == 0,
		  "victim negotiated the packed ring, no queue yet");
	uint64_t io = victim.f->bars[0].addr, ring = drv_virtio_alloc(&victim, 0x4000, 4096);
	drv_pio_write(&d, io + 0x0e, 2, 0);         /* queue select */
	drv_pio_write(&d, io + 0x08, 4, ring >> 12); /* legacy queue PFN */
}

enum expect {
	NEEDS_RESET, /* DEVICE_NEEDS_RESET with a config interrupt */
	REFUSED,     /* the case checks the refusal itself */
	IGNORED,     /* the device keeps running (the case checks how) */
};

static const struct mcase {
	const char *name;
	void (*fn)(void);
	enum expect expect;
} cases[] = {
	{ "desc-loop", desc_loop, NEEDS_RESET },
	{ "indirect-loop", indirect_loop, NEEDS_RESET },
	{ "chain-longer-than-queue", chain_longer_through_indirect, NEEDS_RESET },
	{ "indirect-larger-than-queue", indirect_larger_than_queue, NEEDS_RESET },
	{ "buffer-outside-ram", outside_ram, NEEDS_RESET },
	{ "buffer-straddles-ram-end", straddles_ram_end, NEEDS_RESET },
	{ "buffer-wraps-address-space", wraps_address_space, NEEDS_RESET },
	{ "lengths-overflow-32bit", lengths_overflow, NEEDS_RESET },
	{ "indirect-bad-length", indirect_bad_length, NEEDS_RESET },
	{ "indirect-zero-length", indirect_zero_length, NEEDS_RESET },
	{ "indirect-nested", nested_indirect, NEEDS_RESET },
	{ "indirect-with-next", indirect_with_next, NEEDS_RESET },
	{ "indirect-not-negotiated", indirect_not_negotiated, NEEDS_RESET },
	{ "readable-after-writable", readable_after_writable, NEEDS_RESET },
	{ "head-out-of-range", head_out_of_range, NEEDS_RESET },
	{ "avail-index-jump", avail_index_jump, NEEDS_RESET },
	{ "queue-size-zero", queue_size_zero, NEEDS_RESET },
	{ "queue-size-not-power-of-2", queue_size_not_power_of_2, NEEDS_RESET },
	{ "queue-size-too-big", queue_size_too_big, NEEDS_RESET },
	{ "notify-disabled-queue", notify_disabled_queue, IGNORED },
	{ "notify-absent-queue", notify_absent_queue, IGNORED },
	{ "queue-address-change-live", queue_address_change_live, IGNORED },
	{ "legacy-pfn-change-live", legacy_pfn_change_live, IGNORED },
	{ "features-never-offered", features_never_offered, REFUSED },
	{ "driver-ok-after-features-refused", driver_ok_after_features_refused, NEEDS_RESET },
	{ "driver-ok-without-features-ok", driver_ok_without_features_ok, NEEDS_RESET },
	{ "status-bit-cleared", status_bit_cleared, NEEDS_RESET },
	{ "config-write-beyond-size", config_write_beyond_size, IGNORED },
	{ "bar-over-ram", bar_over_ram, IGNORED },
	{ "msix-table-out-of-range", msix_table_out_of_range, IGNORED },
	{ "packed-id-out-of-range", packed_id_out_of_range, NEEDS_RESET },
	{ "packed-wrap-counter-lies", packed_wrap_counter_lies, NEEDS_RESET },
	{ "packed-desc-loop", packed_desc_loop, NEEDS_RESET },
	{ "packed-lengths-overflow-32bit", packed_lengths_overflow, NEEDS_RESET },
	{ "packed-buffer-outside-ram", packed_outside_ram, NEEDS_RESET },
	{ "packed-indirect-nested", packed_indirect_nested, NEEDS_RESET },
	{ "packed-then-legacy-pfn", packed_then_legacy_pfn, NEEDS_RESET },
};

static void run_case(const struct mcase *c)
{
	const char *name = c->name;
	int cfg_irqs = victim.config_irq_count;

	drv_virtio_driver_ok(&victim);
	c->fn();
	if (c->expect == NEEDS_RESET) {
		drv_check(needs_reset_seen(), "%s: victim reports DEVICE_NEEDS_RESET", name);
		for (int i = 0; i < 50 && victim.config_irq_count == cfg_irqs; i++)
			drv_virtio_wait_irq(&victim, 10);
		drv_check(victim.config_irq_count > cfg_irqs, "%s: with a config-change interrupt",
			  name);
	}
	drv_check(bystander_ok(7), "%s: the other device still serves I/O", name);
	drv_virtio_set_status(&victim, 0);
	drv_check(drv_virtio_status(&victim) == 0 && victim_up(0), "%s: reset brings it back", name);
	drv_virtio_driver_ok(&victim);
	drv_check(victim_serves(), "%s: and it serves requests again", name);
}

int main(int argc, char **argv)
{
	char img[] = "/tmp/vdm-malformed-XXXXXX";
	struct vdm_proc p;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	const struct mcase *c = NULL;
	int fd, st;

	/* `make check` passes tests/sim/malformed/CASE.mal: the case is its name. */
	char *name = argc == 2 ? basename(argv[1]) : NULL;
	char *dot = name ? strstr(name, ".mal") : NULL;
	if (dot)
		*dot = 0;
	for (size_t i = 0; name && i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, name))
			c = &cases[i];
	if (!c) {
		fprintf(stderr, "usage: test_malformed CASE; cases:");
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			fprintf(stderr, " %s", cases[i].name);
		fprintf(stderr, "\n");
		return 99;
	}

	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		return 99;
	close(fd);
	char blk[128];
	snprintf(blk, sizeof(blk), "3,virtio-blk,%s", img);
	if (vdm_spawn(&p, (const char *const[]){ "-m", "3G", "-s", blk, "-s", "4,virtio-rnd,transitional", NULL },
		      &st)) {
		drv_check(false, "vdm starts (%d)", st);
		unlink(img);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int nf = drv_enumerate(&d, funcs, 8);
	struct drv_func *fv = func_at(nf, VICTIM_SLOT), *fb = func_at(nf, BYSTANDER_SLOT);
	drv_assign_bars(&d, fv, &mmio, &io);
	drv_assign_bars(&d, fb, &mmio, &io);
	if (drv_virtio_probe(&victim, &d, fv, 8 << 20) || drv_virtio_probe(&bystander, &d, fb, 32 << 20) ||
	    !victim_up(0) ||
	    drv_virtio_negotiate(&bystander, 1ULL << VIRTIO_F_VERSION_1) ||
	    drv_virtio_setup_irq(&bystander, true) || drv_virtio_setup_vq(&bystander, 0, 0)) {
		drv_check(false, "devices set up");
		unlink(img);
		return drv_result();
	}
	drv_virtio_driver_ok(&bystander);
	drv_check(bystander_ok(1), "the bystander serves I/O before the case");

	run_case(c);

	drv_virtio_fini(&victim);
	drv_virtio_fini(&bystander);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "%s: vdm survived and stops cleanly (%d)", c->name, st);
	unlink(img);
	return drv_result();
}
