/*
 * test_virtio_rnd.c - virtio-rnd on the simulator: enumeration with the
 * right IDs and capabilities, feature negotiation, requested lengths
 * returned, successive reads that differ, completions through MSI-X and
 * through INTx + ISR, a device reset mid-flight and reuse afterwards, and the
 * transitional device through its legacy I/O BAR.
 */
#include "drv.h"
#include "drv_virtio.h"
#include "hsm.h"

#include <stdio.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#define RND_SLOT 4

static bool setup(struct drv *d, struct drv_func *f, struct drv_virtio *v, bool msix)
{
	struct drv_func funcs[8];
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	int n = drv_enumerate(d, funcs, 8);

	for (int i = 0; i < n; i++)
		if (funcs[i].bdf == hsm_bdf(0, RND_SLOT, 0))
			*f = funcs[i];
	drv_assign_bars(d, f, &mmio, &io);
	return drv_virtio_probe(v, d, f, 16 << 20) == 0 &&
	       drv_virtio_negotiate(v, 1ULL << VIRTIO_F_VERSION_1) == 0 &&
	       drv_virtio_setup_irq(v, msix) == 0 && drv_virtio_setup_vq(v, 0, 0) == 0;
}

/* Read len random bytes with one request; returns the used length. */
static int64_t read_random(struct drv_virtio *v, uint64_t gpa, uint32_t len)
{
	struct drv_buf in = { gpa, len };
	uint16_t id;
	uint32_t got;

	if (drv_virtio_post(v, 0, NULL, 0, &in, 1, false) < 0)
		return -1;
	drv_virtio_kick(v, 0);
	if (drv_virtio_wait_used(v, 0, &id, &got, 5000) != 1)
		return -1;
	return got;
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
	drv_check(read_random(&v, a, 64) == 64, "%s: 64-byte read returns 64 bytes", mode);
	drv_check(read_random(&v, b, 64) == 64, "%s: second read returns 64 bytes", mode);
	drv_check(memcmp(drv_gpa(&d, a, 64), drv_gpa(&d, b, 64), 64) != 0,
		  "%s: successive reads differ", mode);
	static const uint8_t zero[64];
	drv_check(memcmp(drv_gpa(&d, a, 64), zero, 64) != 0, "%s: bytes are not zero", mode);
	drv_check(read_random(&v, a, 4000) == 4000, "%s: 4000-byte read returns 4000", mode);
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
	drv_check(read_random(&v, b, 256) == 256, "%s: reads work after reset", mode);
out:
	drv_virtio_fini(&v);
	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "%s: vdm stops cleanly (%d)", mode, st);
}

int main(void)
{
	run(true);
	run(false);
	return drv_result();
}
