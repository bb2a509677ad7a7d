/*
 * test_intx_routes.c - INTx where vdm routes it (-k, over the HSM model):
 * the interrupt lines vdm drives agree with what it told the guest.  Two
 * virtio-rnd functions, at slots 3 and 5, each asserting INTx for a
 * request.  The model (acrn_model_irqroute.c) reads the DSDT's _PRT, the
 * MP table and the ISA IRQs the DSDT declares at START_VM, and from then
 * on counts as a violation every SET_IRQLINE on a GSI nothing there
 * accounts for, and every interrupt line register the guest reads with
 * another GSI than the _PRT's; it delivers an INTx GSI to the functions
 * the _PRT maps to it, as the guest routes it.  The driver plays firmware
 * and writes its own values into the line registers (a scratch byte on a
 * PC): INTx must stay on the routed GSI, as acrn-dm asserts the pin it
 * allocated whatever the register holds.  Checked: the line registers read
 * the _PRT's GSIs, each device's request brings its own INTx and not the
 * other's, and the model saw no violation (its log, at vdm's exit).
 */
#include "blk_guest.h"
#include "drv.h"
#include "drv_virtio.h"
#include "fake_bzimage.h"
#include "hsm.h"
#include "vdm_log.h"

#include <linux/pci_regs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/vdm-intx-XXXXXX";
static const int slots[2] = { 3, 5 };

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Up with INTx only: BARs (and the driver's own line value), VERSION_1,
 * no MSI-X, queue 0, DRIVER_OK. */
static bool rnd_up_intx(struct drv_virtio *v, struct drv *d, struct drv_func *f, uint64_t heap,
			uint64_t *mmio, uint32_t *io)
{
	drv_assign_bars(d, f, mmio, io);
	if (drv_virtio_probe(v, d, f, heap) || drv_virtio_negotiate(v, 1ULL << VIRTIO_F_VERSION_1) ||
	    drv_virtio_setup_irq(v, false) || drv_virtio_setup_vq(v, 0, 0))
		return false;
	drv_virtio_driver_ok(v);
	return true;
}

/* One entropy request on v[i]; the INTx assertions that come within 3 s
 * counted per device (each one's ISR read, as its handler would). */
static void request_and_count(struct drv *d, struct drv_virtio *v, int i, int seen[2])
{
	uint64_t buf = drv_virtio_alloc(&v[i], 64, 64);
	struct drv_buf in = { buf, 64 };
	long long end = ms_now() + 3000;
	struct drv_irq irq;

	seen[0] = seen[1] = 0;
	if (drv_virtio_post(&v[i], 0, NULL, 0, &in, 1, false) < 0)
		return;
	drv_virtio_kick(&v[i], 0);
	for (long long left = 3000; left > 0; left = end - ms_now()) {
		if (!drv_wait_irq(d, &irq, (int)left))
			break;
		if (irq.kind != HSM_IRQ_INTX || !irq.data)
			continue;
		for (int k = 0; k < 2; k++) {
			if (irq.bdf != hsm_bdf(0, (unsigned)slots[k], 0))
				continue;
			seen[k]++;
			drv_virtio_isr_read(&v[k]);
		}
		if (seen[i])
			break;
	}
	(void)drv_virtio_get_used(&v[i], 0, NULL, NULL);
}

int main(void)
{
	char kernel[200], logpath[200], log[65536];
	struct drv_func funcs[8];
	struct drv_virtio v[2];
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	setenv("VDM_TEST_HSM", "acrn", 1);
	drv_use_acrn_model();
	if (!mkdtemp(dir))
		return 99;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	write_kernel(kernel, &fake_good);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, "-k", kernel, "-s",
						 "0:0,hostbridge", "-s", "3,virtio-rnd", "-s",
						 "5,virtio-rnd", NULL },
		      &st)) {
		drv_check(false, "vdm starts with -k over the model (exit %d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	int n = drv_enumerate(&d, funcs, 8);
	unsigned line[2];

	for (int k = 0; k < 2; k++)
		line[k] = drv_cfg_read(&d, hsm_bdf(0, (unsigned)slots[k], 0), PCI_INTERRUPT_LINE, 1);
	drv_check(line[0] >= 16 && line[1] >= 16 && line[0] != line[1],
		  "each function's line register names a GSI of its own (%u, %u)", line[0],
		  line[1]);

	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	bool up = true;

	for (int k = 0; k < 2; k++) {
		struct drv_func *f = guest_func(funcs, n, slots[k]);

		up &= f && rnd_up_intx(&v[k], &d, f, (16u + 8u * (unsigned)k) << 20, &mmio, &io);
	}
	unsigned rewritten = drv_cfg_read(&d, hsm_bdf(0, 3, 0), PCI_INTERRUPT_LINE, 1);

	drv_check(up && rewritten != line[0],
		  "both come up with INTx, the driver's own line values written (00:03.0: %u)",
		  rewritten);
	for (int i = 0; up && i < 2; i++) {
		int seen[2];

		request_and_count(&d, v, i, seen);
		drv_check(seen[i] >= 1 && seen[1 - i] == 0,
			  "00:%02x.0's request: its INTx on its _PRT GSI (%d), none at 00:%02x.0 "
			  "(%d)",
			  slots[i], seen[i], slots[1 - i], seen[1 - i]);
	}
	drv_disconnect(&d);
	st = vdm_stop(&p);

	read_log(logpath, log, sizeof(log));
	char gsi[48];

	snprintf(gsi, sizeof(gsi), "acrn model: GSI %u: ", line[0]);
	drv_check(st == 0 && strstr(log, ", 0 protocol violations") && !strstr(log, "violation: "),
		  "the model saw no SET_IRQLINE off the routing and no line register off the _PRT");
	const char *at = strstr(log, gsi);
	unsigned rises = 0, high = 0, low = 0;

	if (at)
		sscanf(at + strlen(gsi), "%u rising edges (SET_HIGH %u, SET_LOW %u", &rises, &high,
		       &low);
	drv_check(low >= 1 && high >= low,
		  "00:03.0's INTx asserted (SET_LOW, %u) and released (SET_HIGH, %u) on GSI %u", low,
		  high, line[0]);
	int rc = drv_result();

	if (rc)
		fputs(log, stderr);
	unlink(kernel);
	unlink(logpath);
	rmdir(dir);
	return rc;
}
