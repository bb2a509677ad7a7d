/*
 * test_bar_windows.c - BAR addresses as acrn-dm gives them, over the HSM
 * model: where vdm loads the guest it programs every BAR of its own
 * functions before START_VM, from the windows its DSDT declares, as
 * acrn-dm's pci_emul_alloc_bar does (hw/pci/core.c): 32-bit BARs and 64-bit
 * ones up to 32 MiB between 2 GiB and 3.5 GiB, with OVMF every 64-bit BAR
 * from 256 GiB (acrn-dm's skip_pci_mem64bar_workaround), I/O BARs from port
 * 0x2000; the DSDT declares the 64-bit window as a QWordMemory.  The
 * driver reads the BAR registers before writing them, as a guest without
 * firmware finds them; the model reads the DSDT's windows at START_VM with
 * its own parser (acrn_model_windows.c) and counts each programmed BAR the
 * guest reads outside them as a violation.  Checked: the addresses, that a
 * BAR decodes where it was put (virtio-rnd's common config answers there),
 * the same addresses after a guest reboot, no violation; and, with the
 * model told to ignore QWordMemory windows, the 64-bit BAR of an OVMF boot
 * caught as outside every window.
 */
#include "drv.h"
#include "fake_bzimage.h"
#include "hsm.h"
#include "vdm_log.h"

#include <linux/pci_regs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/vdm-bars-XXXXXX";

struct bars {
	uint32_t reg[6];
	uint64_t msix, modern; /* BAR1, BAR4 (64-bit) */
	uint32_t legacy;       /* BAR0's ports (transitional) */
};

/* The BAR registers of 00:slot.0 as programmed: read, never written. */
static struct bars read_bars(struct drv *d, unsigned slot)
{
	struct bars b;

	for (unsigned i = 0; i < 6; i++)
		b.reg[i] = drv_cfg_read(d, hsm_bdf(0, slot, 0), PCI_BASE_ADDRESS_0 + 4 * i, 4);
	b.legacy = b.reg[0] & PCI_BASE_ADDRESS_IO_MASK;
	b.msix = b.reg[1] & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
	b.modern = (b.reg[4] & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK) | (uint64_t)b.reg[5] << 32;
	return b;
}

/* vdm over the model (model_opts) with a guest (the -k or --ovmf pair),
 * virtio-rnd at slot 3 and a transitional one at slot 4: their BARs as
 * first read, and after a guest reboot when asked; the log in log. */
static int run(const char *model_opts, const char *load, const char *what, struct bars b[2],
	       bool reboot, struct bars again[2], char *log, size_t loglen)
{
	char hsm[600], logpath[200];
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	snprintf(hsm, sizeof(hsm), "acrn:model%s%s", model_opts ? "," : "",
		 model_opts ? model_opts : "");
	setenv("VDM_TEST_HSM", hsm, 1);
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, load, what, "-s",
						 "0:0,hostbridge", "-s", "3,virtio-rnd", "-s",
						 "4,virtio-rnd,transitional", NULL },
		      &st)) {
		read_log(logpath, log, loglen);
		return st;
	}
	drv_connect(&d, p.sock);
	b[0] = read_bars(&d, 3);
	b[1] = read_bars(&d, 4);
	/* The modern BAR decodes where it was put: common config's
	 * num_queues (offset 0x12) is virtio-rnd's one queue. */
	drv_cfg_write(&d, hsm_bdf(0, 3, 0), PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	drv_check(drv_mmio_read(&d, b[0].modern + 0x12, 2) == 1,
		  "%s %s: 00:03.0's common config answers at its BAR 4, %#llx", load, what,
		  (unsigned long long)b[0].modern);
	drv_cfg_write(&d, hsm_bdf(0, 3, 0), PCI_COMMAND, 2, 0);
	if (reboot) {
		drv_pio_write(&d, 0xcf9, 1, 0x06);
		drv_check(wait_log(logpath, log, loglen, "guest rebooted (1 so far)"),
			  "%s: the guest reboots (0xCF9), its functions reset", load);
		again[0] = read_bars(&d, 3);
		again[1] = read_bars(&d, 4);
	}
	drv_disconnect(&d);
	st = vdm_stop(&p);
	read_log(logpath, log, loglen);
	unlink(logpath);
	return st;
}

static bool in32(uint64_t a)
{
	return a >= 0x80000000ULL && a < 0xe0000000ULL;
}

int main(void)
{
	char kernel[200], fw[200], ovmf_opts[260], log[65536];
	struct bars b[2], again[2];
	int st;

	drv_use_acrn_model();
	if (!mkdtemp(dir))
		return 99;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	write_kernel(kernel, &fake_good);

	/* -k: acrn-dm's layout without firmware. */
	st = run(NULL, "-k", kernel, b, true, again, log, sizeof(log));
	drv_check(st == 0, "-k: vdm runs, reboots and stops (%d)", st);
	drv_check(in32(b[0].msix) && in32(b[0].modern) && in32(b[1].msix) && in32(b[1].modern) &&
			  (b[0].reg[4] & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
				  PCI_BASE_ADDRESS_MEM_TYPE_64,
		  "-k: the MSI-X BARs and the 16 KiB 64-bit BARs are programmed between 2 GiB and "
		  "3.5 GiB (%#llx %#llx, %#llx %#llx)",
		  (unsigned long long)b[0].msix, (unsigned long long)b[0].modern,
		  (unsigned long long)b[1].msix, (unsigned long long)b[1].modern);
	drv_check(b[0].modern % 0x4000 == 0 && b[0].msix % 0x1000 == 0 &&
			  b[0].modern != b[1].modern && b[0].msix != b[1].msix &&
			  b[0].modern != b[0].msix,
		  "-k: each aligned to its size, no two the same");
	drv_check(b[1].legacy >= 0x2000 && (b[1].reg[0] & PCI_BASE_ADDRESS_SPACE_IO) &&
			  b[0].reg[0] == 0,
		  "-k: the transitional function's I/O BAR has ports from 0x2000 (%#x)",
		  b[1].legacy);
	drv_check(!memcmp(b[0].reg, again[0].reg, sizeof(b[0].reg)) &&
			  !memcmp(b[1].reg, again[1].reg, sizeof(b[1].reg)),
		  "-k: the same BAR registers again after the guest rebooted");
	drv_check(strstr(log, "acrn model: DSDT PCI memory window 0x4000000000-0x7fffffffff "
			      "(QWordMemory)") != NULL,
		  "-k: the model reads the 64-bit window, 256 GiB to 512 GiB, from the DSDT");
	/* Counted from the last boot check: the reboot's. */
	drv_check(strstr(log, "acrn model: 4 programmed memory BARs read, 0 outside the DSDT's "
			      "2 PCI windows") != NULL &&
			  strstr(log, " 0 protocol violations") != NULL,
		  "-k: the model checked the 4 memory BARs read against the DSDT's two windows: no "
		  "violation");

	/* --ovmf: every 64-bit BAR from 256 GiB. */
	snprintf(fw, sizeof(fw), "%s/OVMF.fd", dir);
	FILE *f = fopen(fw, "wb");

	for (int i = 0; f && i < (256 << 10); i++)
		fputc(i * 7 & 0xff, f);
	if (f)
		fclose(f);
	snprintf(ovmf_opts, sizeof(ovmf_opts), "ovmf=%s", fw);
	st = run(ovmf_opts, "--ovmf", fw, b, false, NULL, log, sizeof(log));
	drv_check(st == 0, "--ovmf: vdm runs and stops (%d)", st);
	drv_check(b[0].modern >= 0x4000000000ULL && b[0].modern < 0x8000000000ULL &&
			  b[1].modern >= 0x4000000000ULL && in32(b[0].msix),
		  "--ovmf: the 64-bit BARs from 256 GiB (%#llx, %#llx), the 32-bit one below "
		  "(%#llx)",
		  (unsigned long long)b[0].modern, (unsigned long long)b[1].modern,
		  (unsigned long long)b[0].msix);
	drv_check(strstr(log, "4 programmed memory BARs read, 0 outside the DSDT's 2 PCI windows") !=
				  NULL &&
			  strstr(log, " 0 protocol violations") != NULL,
		  "--ovmf: inside the windows the DSDT declares: no violation");

	/* The check is not a yes-man: without the QWordMemory window the
	 * BARs vdm put from 256 GiB are outside every window. */
	snprintf(ovmf_opts, sizeof(ovmf_opts), "ovmf=%s,no_qword_windows", fw);
	run(ovmf_opts, "--ovmf", fw, b, false, NULL, log, sizeof(log));
	drv_check(strstr(log, "protocol violation: 00:03.0 BAR 4 at 0x4000") != NULL &&
			  strstr(log, "outside the DSDT's 1 PCI windows") != NULL,
		  "--ovmf, the model ignoring QWordMemory: 00:03.0's BAR 4 is caught outside "
		  "every window");
	unlink(fw);
	unlink(kernel);
	rmdir(dir);
	return drv_result();
}
