/*
 * lpc.c - `-s 1:0,lpc`: the PCI-to-ISA bridge function acrn-dm puts at
 * 00:01.0 (ACRN's launch-script generator writes it for every VM that is
 * not real-time), with acrn-dm's IDs (8086:7000, class 06/01).  On ACRN,
 * where vdm is the platform, it is what the guest finds the ISA side
 * behind: the COM ports of -l (uart.c), which vdm serves with or without
 * it.  Its PIRQ route registers (0x60-0x63, 0x68-0x6B) read 0x80, routing
 * off: vdm gives each PCI INTx pin a GSI of its own in the DSDT's _PRT
 * (platform_reset.c) instead of PIRQ links.
 */
#include "devemu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define LPC_VENDOR 0x8086
#define LPC_DEVICE 0x7000
#define LPC_CLASS 0x060100 /* bridge, ISA bridge */
#define LPC_PIRQ_A_D 0x60
#define LPC_PIRQ_E_H 0x68
#define LPC_PIRQ_OFF 0x80

static int lpc_create(const struct devemu_ctx *ctx, const void *cfg, struct pci_dev **out,
		      char *err, size_t errlen)
{
	struct pci_dev *d;

	(void)cfg;
	if (!ctx->caps.boot_cpu) {
		snprintf(err, errlen, "only where vdm is the platform (--hsm acrn); the "
				      "hypervisor has its own ISA bridge");
		return -ENOTSUP;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pci_dev_init(d, "lpc", LPC_VENDOR, LPC_DEVICE, LPC_CLASS, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		d->cfg[LPC_PIRQ_A_D + i] = LPC_PIRQ_OFF;
		d->cfg[LPC_PIRQ_E_H + i] = LPC_PIRQ_OFF;
	}
	*out = d;
	return 0;
}

static void lpc_destroy(struct pci_dev *d)
{
	free(d);
}

const struct devemu devemu_lpc = {
	.name = "lpc",
	.usage = "-s 1:0,lpc  (ACRN: acrn-dm's PCI-ISA bridge; the COM ports are -l's)",
	.create = lpc_create,
	.destroy = lpc_destroy,
};
