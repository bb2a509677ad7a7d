/*
 * mptable.h - the MP configuration table (Intel MultiProcessor
 * Specification 1.4) vdm writes for a guest it loads (ACRN, -k), as
 * acrn-dm does beside its ACPI tables: a guest booted with acpi=off, or
 * one that reads the MP table first, finds the same processors, IOAPIC and
 * interrupt routing there as in the MADT and the DSDT's _PRT.
 */
#ifndef VDM_MPTABLE_H
#define VDM_MPTABLE_H

#include "acpi.h"
#include "hsm.h"

#include <stddef.h>

/* Where it goes: the BIOS ROM area a guest scans for the floating pointer
 * (0xF0000-0xFFFFF), above the ACPI tables and reserved in the e820 map. */
#define MPTABLE_GPA 0xf0000ULL
#define MPTABLE_END 0x100000ULL

/*
 * Write the floating pointer and the configuration table into vm's guest
 * RAM for vcpus processors (APIC IDs as acpi_build takes them, the same
 * as the MADT's) and the PCI INTx routes given (the _PRT's).  Returns 0,
 * or a negative errno with one line in err.
 */
int mptable_build(struct hsm_vm *vm, unsigned vcpus, const uint8_t *apic_ids,
		  const struct acpi_intx_route *routes, int nroutes, char *err, size_t errlen);

#endif /* VDM_MPTABLE_H */
