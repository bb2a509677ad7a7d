/*
 * boot_linux.h - loading a Linux bzImage into guest RAM as the x86 boot
 * protocol's 32-bit entry wants it (acrn-dm's -k, -r, -B): the kernel, an
 * initrd, the command line, a zero page with the setup header and an e820
 * map of guest RAM, a GDT, and the boot CPU's state for the back-end.
 */
#ifndef VDM_BOOT_LINUX_H
#define VDM_BOOT_LINUX_H

#include "hsm.h"

#include <stddef.h>

struct boot_linux_args {
	const char *kernel;  /* bzImage path */
	const char *initrd;  /* NULL: none */
	const char *cmdline; /* NULL: empty */
	uint64_t acpi_rsdp;  /* where the ACPI tables start, for the zero page; 0: none */
};

/* Where the loader puts things below the kernel (guest-physical). */
#define BOOT_GDT_GPA 0x1000ULL
#define BOOT_ZERO_PAGE_GPA 0x7000ULL
#define BOOT_CMDLINE_GPA 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL  /* up to the kernel's cmdline_size */
#define BOOT_KERNEL_GPA 0x100000ULL  /* the protected-mode kernel, as the protocol's default */
/* The boot protocol's segment selectors for its 32-bit entry. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

/*
 * Read args' files and lay them out in vm's guest RAM (RAM from
 * hsm_get_mem_regions; the legacy hole 0xA0000-0xFFFFF is reported
 * reserved), and fill *cpu with the boot CPU's entry state.  Returns 0 or
 * a negative errno with one line in err naming the file and the problem.
 */
int boot_linux_load(struct hsm_vm *vm, const struct boot_linux_args *args, struct hsm_boot_cpu *cpu,
		    char *err, size_t errlen);

#endif /* VDM_BOOT_LINUX_H */
