/*
 * platform_reset.h - the guest's ways to reset the machine, where vdm is
 * the platform (a back-end with caps.boot_cpu: ACRN), and the reboot that
 * follows.
 */
#ifndef VDM_PLATFORM_RESET_H
#define VDM_PLATFORM_RESET_H

#include "boot_linux.h"
#include "evloop.h"
#include "hsm.h"
#include "pci.h"

#include <stdbool.h>

struct platform_reset {
	struct hsm_vm *vm;
	struct pci_bus *bus;
	struct evloop *loop;
	const struct boot_linux_args *boot; /* NULL: no guest to load again */
	uint8_t reset_control;               /* port 0xCF9 as last written */
	bool pending;                        /* a reboot is queued on the loop */
	unsigned reboots;
};

/*
 * A port request at the reset control register (0xCF9, one byte: bit 2
 * system reset, bit 3 full reset) or the i8042's command port (0x64;
 * 0xFE pulses the reset line): handled and true, else false.  A reset asks
 * for a reboot on the loop, after the request completes: the VM paused
 * and its outstanding requests dropped, every PCI function reset, the
 * vCPUs reset, the guest loaded again, the VM run.  Without a guest to
 * load (no -k) vdm stops instead, status 0.
 */
bool platform_reset_ioreq(struct platform_reset *pr, struct hsm_ioreq *req);

#endif /* VDM_PLATFORM_RESET_H */
