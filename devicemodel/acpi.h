/*
 * acpi.h - the ACPI tables vdm writes for a guest it loads (ACRN, -k):
 * RSDP, XSDT, FADT (with the PM1 block and the reset register of
 * platform_reset.c), MADT (every vCPU's local APIC, the IOAPIC) and a DSDT
 * (the PCI root bridge with its resources, the ISA devices vdm serves
 * and the S5 sleep type a guest powers off with).
 */
#ifndef VDM_ACPI_H
#define VDM_ACPI_H

#include "hsm.h"

#include <stdbool.h>
#include <stddef.h>

/* Where the tables go: the BIOS area a guest without EFI searches for the
 * RSDP (0xE0000-0xFFFFF), reserved in the e820 map.  The MP table is at
 * 0xF0000 (mptable.h), above OVMF's e820 table. */
#define ACPI_RSDP_GPA 0xe0000ULL
#define ACPI_AREA_END 0x100000ULL
/* The tables stop below 0xEF000, where acrn-dm puts OVMF's e820 table
 * (boot_ovmf.h). */
#define ACPI_TABLES_END 0xef000ULL
/* The PM1 block (platform_reset.c serves it) and the SCI's interrupt. */
#define ACPI_PM1A_EVT_PORT 0x400
#define ACPI_PM1A_CNT_PORT 0x404
#define ACPI_SCI_IRQ 9
/* The sleep type the DSDT's \_S5 gives for soft-off. */
#define ACPI_S5_SLP_TYP 5
#define ACPI_IOAPIC_GPA 0xfec00000ULL
#define ACPI_IOAPIC_ID 0xfe /* above any vCPU's APIC ID; the MP table names it too */
#define ACPI_LAPIC_GPA 0xfee00000ULL

/* PCI INTx routing for the DSDT's _PRT: a slot's pin (1 = INTA#) on a GSI. */
struct acpi_intx_route {
	uint8_t slot, pin, gsi;
};

/* The ISA side of the machine for the DSDT: the LPC bridge's PCI address,
 * if the VM has one (-s 1:0,lpc), and the COM ports -l enabled. */
#define ACPI_MAX_COM 2
struct acpi_isa {
	bool lpc;
	uint8_t lpc_slot, lpc_func;
	unsigned ncom;
	struct acpi_com {
		uint8_t unit; /* 1: COM1, the _UID */
		uint16_t port;
		uint8_t irq;
	} com[ACPI_MAX_COM];
};

/*
 * Write the tables into vm's guest RAM for vcpus processors, vCPU i with
 * local APIC ID apic_ids[i] (host_vcpu_apic_ids; NULL: i), the INTx
 * routes given and the ISA devices of isa (NULL: the RTC only).  Returns 0
 * and the RSDP's address in *rsdp, or a negative errno with one line in
 * err.
 */
int acpi_build(struct hsm_vm *vm, unsigned vcpus, const uint8_t *apic_ids,
	       const struct acpi_intx_route *routes, int nroutes, const struct acpi_isa *isa,
	       uint64_t *rsdp, char *err, size_t errlen);

#endif /* VDM_ACPI_H */
