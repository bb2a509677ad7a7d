/*
 * test_virtio_rnd.c - virtio-rnd on the simulator: enumeration with the
 * right IDs and capabilities, feature negotiation, requested lengths
 * returned, successive reads that differ, completions through MSI-X and
 * through INTx + ISR, a device reset mid-flight and reuse afterwards, and the
 * transitional device through its legacy I/O BAR.
 */
#include "hsm.h"
#include "rnd_guest.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define RND_SLOT 4

static bool setup(struct drv *d, struct drv_func *f, struct drv_virtio *v, bool msix)
{
	return rnd_up(d, f, v, RND_SLOT, msix, 1ULL << VIRTIO_F_VERSION_1);
}

static void run(bool msix)
{
	const char *mode = msix ? "MSI-X" : "INTx";
	struct vdm_proc p;
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct drv d;
	int st;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "4,virtio-rnd", NULL }, &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	if (!drv_check(setup(&d, &f, &v, msix), "%s: device set up", mode))
		goto out;
	drv_check(f.vendor == 0x1af4 && f.device == 0x1044, "%s: IDs 1af4:1044", mode);
	drv_check(f.revision == 1 && f.subsys_vendor == 0x1af4 && f.subsys_id >= 0x40,
		  "%s: modern revision and subsystem IDs", mode);
	int it = 0;
	drv_check(drv_next_cap(&f, 0x11, &it) != 0, "%s: MSI-X capability present", mode);
	drv_check(v.features & (1ULL << VIRTIO_F_VERSION_1), "%s: VERSION_1 negotiated", mode);
	drv_virtio_driver_ok(&v);

	uint64_t a = drv_virtio_alloc(&v, 4096, 64), b = drv_virtio_alloc(&v, 4096, 64);
	memset(drv_gpa(&d, a, 4096), 0, 4096);
	memset(drv_gpa(&d, b, 4096), 0, 4096);
	drv_check(rnd_read(&v, a, 64) == 64, "%s: 64-byte read returns 64 bytes", mode);
	drv_check(rnd_read(&v, b, 64) == 64, "%s: second read returns 64 bytes", mode);
	drv_check(memcmp(drv_gpa(&d, a, 64), drv_gpa(&d, b, 64), 64) != 0,
		  "%s: successive reads differ", mode);
	static const uint8_t zero[64];
	drv_check(memcmp(drv_gpa(&d, a, 64), zero, 64) != 0, "%s: bytes are not zero", mode);
	drv_check(rnd_read(&v, a, 4000) == 4000, "%s: 4000-byte read returns 4000", mode);
	drv_check(msix ? v.msi_count > 0 && v.intx_count == 0 : v.intx_count > 0 && v.msi_count == 0,
		  "%s: completions arrived through %s (msi %d, intx %d)", mode, mode, v.msi_count,
		  v.intx_count);

	/* Reset with a request in flight, then bring the device up again. */
	struct drv_buf in = { a, 128 };
	drv_virtio_post(&v, 0, NULL, 0, &in, 1, false);
	drv_virtio_set_status(&v, 0);
	drv_check(drv_virtio_status(&v) == 0, "%s: reset reads back status 0", mode);
	drv_check(drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 0,
		  "%s: reset disabled the queue", mode);
	drv_check(drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&v, msix) == 0 && drv_virtio_setup_vq(&v, 0, 0) == 0,
		  "%s: device comes back after reset", mode);
	drv_virtio_driver_ok(&v);
	drv_check(rnd_read(&v, b, 256) == 256, "%s: reads work after reset", mode);
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "%s: vdm stops cleanly (%d)", mode, st);
}

/* Negotiation rules, reset state and the PCI_CFG access window. */
static void negotiation(void)
{
	struct vdm_proc p;
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct drv d;
	int st;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "4,virtio-rnd", NULL }, &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	if (!drv_check(setup(&d, &f, &v, true), "device set up"))
		goto out;
	drv_check(drv_virtio_pcicfg_read(&v, v.caps[VIRTIO_PCI_CAP_COMMON_CFG].bar,
					 v.caps[VIRTIO_PCI_CAP_COMMON_CFG].offset +
						 VIRTIO_PCI_COMMON_NUMQ,
					 2) == 1,
		  "PCI_CFG window reads num_queues = 1 from the common config");
	/* A driver filling pci_cfg_data a byte or a word at a time: each write
	 * runs a BAR write of the window's first cap.length bytes, holding
	 * what the driver put at each offset (4.1.4.9). */
	unsigned data = v.pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	drv_virtio_pcicfg_write(&v, v.caps[VIRTIO_PCI_CAP_COMMON_CFG].bar,
				v.caps[VIRTIO_PCI_CAP_COMMON_CFG].offset + VIRTIO_PCI_COMMON_GFSELECT,
				4, 0);
	drv_cfg_write(&d, v.f->bdf, data + 1, 1, 0x01);
	uint32_t sel = (uint32_t)drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_GFSELECT, 4);
	drv_check(sel == 0x100, "PCI_CFG byte write at data+1 sets byte 1 (%#x)", sel);
	drv_cfg_write(&d, v.f->bdf, data, 2, 0x0001);
	drv_cfg_write(&d, v.f->bdf, data + 2, 2, 0x0002);
	sel = (uint32_t)drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_GFSELECT, 4);
	drv_check(sel == 0x20001, "PCI_CFG word writes at data and data+2 make %#x", sel);
	drv_check(drv_cfg_read(&d, v.f->bdf, data + 2, 2) == 0x0002 &&
			  drv_cfg_read(&d, v.f->bdf, data + 1, 1) == 0,
		  "PCI_CFG sub-dword reads return the bytes at their offsets");
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);

	/* A feature the device never offered: FEATURES_OK does not stick. */
	drv_virtio_set_status(&v, 0);
	drv_virtio_set_status(&v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GF, 4, 1); /* VERSION_1 */
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GF, 4, 1u << 5); /* not offered */
	drv_virtio_set_status(&v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					  VIRTIO_CONFIG_S_FEATURES_OK);
	drv_check(!(drv_virtio_status(&v) & VIRTIO_CONFIG_S_FEATURES_OK),
		  "FEATURES_OK refused for a feature never offered");

	/* Without VERSION_1 the modern interface refuses too. */
	drv_virtio_set_status(&v, 0);
	drv_virtio_set_status(&v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GF, 4, 0);
	drv_virtio_set_status(&v, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					  VIRTIO_CONFIG_S_FEATURES_OK);
	drv_check(!(drv_virtio_status(&v) & VIRTIO_CONFIG_S_FEATURES_OK),
		  "FEATURES_OK refused without VERSION_1");

	/* After a full set-up, reset returns features, vectors and queues to power-on. */
	drv_virtio_set_status(&v, 0);
	drv_check(drv_virtio_negotiate(&v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
			  drv_virtio_setup_irq(&v, true) == 0 && drv_virtio_setup_vq(&v, 0, 16) == 0,
		  "set up with a 16-entry queue");
	drv_virtio_set_status(&v, 0);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	drv_virtio_common_write(&v, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	drv_check(drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_GF, 4) == 0 &&
			  drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_MSIX, 2) == 0xffff &&
			  drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_Q_MSIX, 2) == 0xffff &&
			  drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_Q_SIZE, 2) == 64 &&
			  drv_virtio_common_read(&v, VIRTIO_PCI_COMMON_Q_DESCLO, 4) == 0,
		  "reset clears features, vectors, queue size and addresses");
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
}

/*
 * EVENT_IDX both ways: the driver kicks only when avail_event asks for it
 * (virtio 1.2, 2.7.10), so the device must keep asking; 100 requests in
 * bursts of 4 must all complete.
 */
static void event_idx(void)
{
	struct vdm_proc p;
	struct drv_func f = { 0 };
	struct drv_virtio v = { 0 };
	struct drv d;
	int st, done, kicks = 0;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "4,virtio-rnd", NULL }, &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	if (!drv_check(rnd_up(&d, &f, &v, RND_SLOT, true,
			      (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX)),
		       "EVENT_IDX: device set up"))
		goto out;
	drv_check(v.features & (1ULL << VIRTIO_RING_F_EVENT_IDX), "EVENT_IDX negotiated");
	drv_virtio_driver_ok(&v);
	uint64_t buf = drv_virtio_alloc(&v, 4 * 32, 64);
	done = rnd_bursts(&v, buf, &kicks);
	drv_check(done == 100, "EVENT_IDX: 100 requests completed with suppressed kicks (%d, %d kicks)",
		  done, kicks);
out:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
}

/* A legacy (pre-1.0) driver on a transitional device, through the I/O BAR. */
static void legacy(void)
{
	struct drv_func funcs[8], *f = NULL;
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	struct vdm_proc p;
	struct drv d;
	int st, n;

	if (vdm_spawn(&p, (const char *const[]){ "-s", "4,virtio-rnd,transitional", NULL }, &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return;
	}
	drv_connect(&d, p.sock);
	n = drv_enumerate(&d, funcs, 8);
	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, RND_SLOT, 0))
			f = &funcs[i];
	if (!drv_check(f != NULL, "transitional device found"))
		goto out;
	drv_check(f->device == 0x1005 && f->revision == 0 && f->subsys_id == 4,
		  "transitional IDs 1af4:1005 rev 0, subsystem 4 (got %04x rev %d sub %d)", f->device,
		  f->revision, f->subsys_id);
	drv_check(f->bars[0].type == DRV_BAR_IO, "legacy I/O BAR0");
	drv_assign_bars(&d, f, &mmio, &io);
	uint64_t base = f->bars[0].addr;

	/* The 0.9.5 sequence: reset, ACK, DRIVER, features, queue PFN, DRIVER_OK. */
	drv_pio_write(&d, base + 0x12, 1, 0);
	drv_pio_write(&d, base + 0x12, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	uint32_t host = (uint32_t)drv_pio_read(&d, base + 0x00, 4);
	drv_check(!(host & ~((1u << VIRTIO_RING_F_INDIRECT_DESC) | (1u << VIRTIO_RING_F_EVENT_IDX))),
		  "legacy host features are ring features only (%#x)", host);
	drv_pio_write(&d, base + 0x04, 4, 0);
	drv_pio_write(&d, base + 0x0e, 2, 0);
	uint16_t qsz = (uint16_t)drv_pio_read(&d, base + 0x0c, 2);
	drv_check(qsz == 64, "legacy queue size %u", qsz);
	uint64_t ring = 0x200000, buf = 0x300000;
	uint64_t avail = ring + 16ULL * qsz, used = (avail + 6 + 2ULL * qsz + 4095) & ~4095ULL;
	memset(drv_gpa(&d, ring, 0x4000), 0, 0x4000);
	drv_pio_write(&d, base + 0x08, 4, ring >> 12);
	drv_pio_write(&d, base + 0x12, 1,
		      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	drv_check(drv_pio_read(&d, base + 0x12, 1) == 7, "legacy DRIVER_OK accepted");

	struct vring_desc *desc = drv_gpa(&d, ring, 16);
	*desc = (struct vring_desc){ .addr = buf, .len = 32, .flags = VRING_DESC_F_WRITE };
	uint16_t *av = drv_gpa(&d, avail, 6);
	av[2] = 0;
	__atomic_store_n(&av[1], 1, __ATOMIC_RELEASE);
	memset(drv_gpa(&d, buf, 32), 0, 32);
	drv_pio_write(&d, base + 0x10, 2, 0); /* notify queue 0 */
	volatile uint16_t *used_idx = drv_gpa(&d, used + 2, 2);
	struct vring_used_elem *ue = drv_gpa(&d, used + 4, 8);
	for (int i = 0; i < 500 && __atomic_load_n(used_idx, __ATOMIC_ACQUIRE) != 1; i++) {
		struct drv_irq irq;

		drv_wait_irq(&d, &irq, 10);
	}
	static const uint8_t zero[32];
	drv_check(*used_idx == 1 && ue->id == 0 && ue->len == 32 &&
			  memcmp(drv_gpa(&d, buf, 32), zero, 32),
		  "legacy request completed with 32 random bytes");
	drv_check(drv_pio_read(&d, base + 0x13, 1) & 1, "legacy ISR shows the queue interrupt");
	drv_check(drv_pio_read(&d, base + 0x13, 1) == 0, "reading the ISR cleared it");
out:
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "vdm stops cleanly (%d)", st);
}

int main(void)
{
	run(true);
	run(false);
	negotiation();
	event_idx();
	legacy();
	return drv_result();
}
