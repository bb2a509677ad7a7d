/*
 * platform_reset.h - the guest's ways to reset and power off the machine,
 * where vdm is the platform (a back-end with caps.boot_cpu: ACRN), and
 * loading the guest at start and after a reboot.
 */
#ifndef VDM_PLATFORM_RESET_H
#define VDM_PLATFORM_RESET_H

#include "acpi.h"
#include "boot_linux.h"
#include "boot_ovmf.h"
#include "evloop.h"
#include "hsm.h"
#include "pci.h"
#include "pci_space.h"
#include "rtc.h"

#include <stdbool.h>

struct platform_reset {
	struct hsm_vm *vm;
	struct pci_bus *bus;
	struct evloop *loop;
	struct pci_space *space;             /* GSIs for INTx, shared with passthrough */
	uint8_t gsi[PCI_NUM_SLOTS][5];       /* each slot's pin's GSI, once routed */
	struct boot_linux_args *boot;       /* a kernel to load (-k), or NULL */
	struct ovmf *ovmf;                   /* firmware to load (--ovmf), or NULL */
	struct rtc *rtc;                     /* set to power-on state at reboot; or NULL */
	struct acpi_isa isa;                 /* the LPC bridge and COM ports, for the DSDT */
	uint64_t cpu_affinity;               /* --cpu_affinity's CPUs, 0 if not given */
	uint8_t reset_control;               /* port 0xCF9 as last written */
	uint16_t pm1_status, pm1_enable, pm1_control; /* the ACPI PM1 block */
	bool powered_off;                    /* the guest entered S5: vdm stops */
	bool pending;                        /* a reboot is queued on the loop */
	unsigned reboots;
};

/*
 * A port request at the reset control register (0xCF9, one byte: bit 2
 * system reset, bit 3 full reset) or the i8042's command port (0x64;
 * 0xFE pulses the reset line): handled and true, else false.  A reset asks
 * for a reboot on the loop, after the request completes: the VM paused
 * and its outstanding requests dropped, every PCI function reset, the
 * vCPUs reset, the guest loaded again, the VM run; OVMF's vars are
 * written back first (with "w") as acrn-dm does.  Without a guest to
 * load (no -k or --ovmf) vdm stops instead, status 0.
 */
bool platform_reset_ioreq(struct platform_reset *pr, struct hsm_ioreq *req);

/*
 * Load the guest: the ACPI tables (acpi.c), the MP table (mptable.c),
 * pr->boot's kernel (boot_linux.c) or pr->ovmf's firmware (boot_ovmf.c),
 * and the boot CPU's state (hsm_set_boot_cpu).  At start and at each
 * reboot.  Returns 0 or a negative errno with one line in err.
 */
int platform_load_guest(struct platform_reset *pr, char *err, size_t errlen);

#endif /* VDM_PLATFORM_RESET_H */
