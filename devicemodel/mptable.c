/*
 * mptable.c - the MP configuration table (mptable.h), laid out from
 * MPTABLE_GPA: the 16-byte floating pointer structure, then the base
 * configuration table (MP spec 1.4, chapter 4) with its entries in the
 * order the spec asks for (processors, buses, I/O APICs, I/O interrupt
 * assignments, local interrupt assignments).  No extended entries, no OEM
 * table.  acrn-dm builds the same kinds of entries (devicemodel/core/
 * mptbl.c in ACRN's tree); the values here are vdm's and agree with its
 * ACPI tables (acpi.c):
 *   - one enabled processor per vCPU, APIC ID = vCPU index as in the MADT,
 *     vCPU 0 the bootstrap processor;
 *   - bus 0 PCI, bus 1 ISA;
 *   - the IOAPIC at ACPI_IOAPIC_GPA with the MADT's ID;
 *   - ISA IRQs 0-15 on IOAPIC pins 0-15, but IRQ 0 on pin 2 (the MADT's
 *     override), pin 0 the 8259's ExtINT, and the SCI level-triggered,
 *     active low (the MADT's other override);
 *   - every routed PCI INTx (the _PRT's list) on its GSI, level-triggered,
 *     active low;
 *   - LINT0 ExtINT and LINT1 NMI on every local APIC.
 */
#include "mptable.h"

#include "fw_bytes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define FLOATING_LEN 16
#define CONFIG_HEADER_LEN 44
#define SPEC_REV_1_4 4
#define PROCESSOR_LEN 20
#define ENTRY_LEN 8 /* every other base entry */
/* Entry types (MP spec 4.3). */
#define ENTRY_PROCESSOR 0
#define ENTRY_BUS 1
#define ENTRY_IOAPIC 2
#define ENTRY_IO_INTERRUPT 3
#define ENTRY_LOCAL_INTERRUPT 4
/* Interrupt types and flags (tables 4-10, 4-11). */
#define INT_VECTORED 0
#define INT_NMI 1
#define INT_EXTINT 3
#define POLARITY_ACTIVE_LOW 0x3
#define TRIGGER_LEVEL (0x3 << 2)
#define PROCESSOR_ENABLED 0x1
#define PROCESSOR_BOOTSTRAP 0x2
#define IOAPIC_ENABLED 0x1
#define BUS_PCI 0
#define BUS_ISA 1
#define ALL_LOCAL_APICS 0xff
/* ACRN's virtual local APIC and IOAPIC report these versions
 * (hypervisor/arch/x86/guest/vlapic.c, hypervisor/dm/vioapic.c). */
#define LAPIC_VERSION 0x10
#define IOAPIC_VERSION 0x11
/* A family-6 CPU with an FPU and a local APIC: informative only, a guest
 * reads CPUID itself. */
#define CPU_SIGNATURE 0x600
#define CPU_FEATURES ((1u << 0) | (1u << 9))

/* Room for every entry vdm can write: 255 processors, 2 buses, the
 * IOAPIC, 16 ISA and 128 PCI interrupts, 2 local ones. */
#define TABLE_MAX (CONFIG_HEADER_LEN + 255 * PROCESSOR_LEN + (2 + 1 + 16 + 128 + 2) * ENTRY_LEN)

/* An I/O or local interrupt entry: both are 8 bytes of the same shape. */
static size_t interrupt(uint8_t *e, uint8_t entry, uint8_t type, uint16_t flags, uint8_t bus,
			uint8_t bus_irq, uint8_t dest_id, uint8_t dest_pin)
{
	e[0] = entry;
	e[1] = type;
	fw_put_le(e + 2, flags, 2);
	e[4] = bus;
	e[5] = bus_irq;
	e[6] = dest_id;
	e[7] = dest_pin;
	return ENTRY_LEN;
}

/* The ISA IRQs as the MADT describes them: identity on pins 1-15 but IRQ
 * 0 on pin 2, and pin 0 the 8259's ExtINT. */
static size_t isa_interrupts(uint8_t *t, unsigned *count)
{
	size_t n = 0;

	for (uint8_t pin = 0; pin < 16; pin++, (*count)++) {
		if (pin == 0)
			n += interrupt(t + n, ENTRY_IO_INTERRUPT, INT_EXTINT, 0, BUS_ISA, 0,
				       ACPI_IOAPIC_ID, 0);
		else if (pin == 2)
			n += interrupt(t + n, ENTRY_IO_INTERRUPT, INT_VECTORED, 0, BUS_ISA, 0,
				       ACPI_IOAPIC_ID, 2);
		else if (pin == ACPI_SCI_IRQ)
			n += interrupt(t + n, ENTRY_IO_INTERRUPT, INT_VECTORED,
				       POLARITY_ACTIVE_LOW | TRIGGER_LEVEL, BUS_ISA, pin,
				       ACPI_IOAPIC_ID, pin);
		else
			n += interrupt(t + n, ENTRY_IO_INTERRUPT, INT_VECTORED, 0, BUS_ISA, pin,
				       ACPI_IOAPIC_ID, pin);
	}
	return n;
}

int mptable_build(struct hsm_vm *vm, unsigned vcpus, const uint8_t *apic_ids,
		  const struct acpi_intx_route *routes, int nroutes, char *err, size_t errlen)
{
	uint8_t t[TABLE_MAX] = { 0 };
	uint8_t fp[FLOATING_LEN] = { '_', 'M', 'P', '_' };
	unsigned count = 0;
	size_t n = CONFIG_HEADER_LEN;

	if (vcpus == 0 || vcpus > 255 || nroutes < 0 || nroutes > 128) {
		snprintf(err, errlen, "MP table: %u vCPUs and %d PCI interrupts cannot be described",
			 vcpus, nroutes);
		return -EINVAL;
	}
	for (unsigned i = 0; i < vcpus; i++, count++, n += PROCESSOR_LEN) {
		t[n] = ENTRY_PROCESSOR;
		t[n + 1] = apic_ids ? apic_ids[i] : (uint8_t)i; /* the MADT's APIC ID */
		t[n + 2] = LAPIC_VERSION;
		t[n + 3] = PROCESSOR_ENABLED | (i == 0 ? PROCESSOR_BOOTSTRAP : 0);
		fw_put_le(t + n + 4, CPU_SIGNATURE, 4);
		fw_put_le(t + n + 8, CPU_FEATURES, 4);
	}
	t[n] = ENTRY_BUS, t[n + 1] = BUS_PCI, memcpy(t + n + 2, "PCI   ", 6);
	n += ENTRY_LEN, count++;
	t[n] = ENTRY_BUS, t[n + 1] = BUS_ISA, memcpy(t + n + 2, "ISA   ", 6);
	n += ENTRY_LEN, count++;
	t[n] = ENTRY_IOAPIC;
	t[n + 1] = ACPI_IOAPIC_ID;
	t[n + 2] = IOAPIC_VERSION;
	t[n + 3] = IOAPIC_ENABLED;
	fw_put_le(t + n + 4, ACPI_IOAPIC_GPA, 4);
	n += ENTRY_LEN, count++;
	n += isa_interrupts(t + n, &count);
	/* A PCI source: bits 6-2 the device, bits 1-0 the pin (0 = INTA#),
	 * as the _PRT gives them (MP spec D.3). */
	for (int i = 0; i < nroutes; i++, count++)
		n += interrupt(t + n, ENTRY_IO_INTERRUPT, INT_VECTORED,
			       POLARITY_ACTIVE_LOW | TRIGGER_LEVEL, BUS_PCI,
			       (uint8_t)(routes[i].slot << 2 | (routes[i].pin - 1u)),
			       ACPI_IOAPIC_ID, routes[i].gsi);
	n += interrupt(t + n, ENTRY_LOCAL_INTERRUPT, INT_EXTINT, 0, BUS_ISA, 0, ALL_LOCAL_APICS, 0);
	count++;
	n += interrupt(t + n, ENTRY_LOCAL_INTERRUPT, INT_NMI, 0, BUS_ISA, 0, ALL_LOCAL_APICS, 1);
	count++;

	memcpy(t, "PCMP", 4);
	fw_put_le(t + 4, n, 2); /* base table length */
	t[6] = SPEC_REV_1_4;
	memcpy(t + 8, "VDM     ", 8);
	memcpy(t + 16, "ACRN UVM    ", 12);
	fw_put_le(t + 34, count, 2);
	fw_put_le(t + 36, ACPI_LAPIC_GPA, 4);
	t[7] = fw_checksum(t, n);

	fw_put_le(fp + 4, MPTABLE_GPA + FLOATING_LEN, 4);
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = SPEC_REV_1_4;
	/* Feature bytes 0: the configuration table is there (no default
	 * configuration), and no IMCR (virtual wire mode). */
	fp[10] = fw_checksum(fp, FLOATING_LEN);

	uint8_t *dst = MPTABLE_GPA + FLOATING_LEN + n <= MPTABLE_END
			       ? hsm_gpa_to_hva(vm, MPTABLE_GPA, FLOATING_LEN + n)
			       : NULL;

	if (!dst) {
		snprintf(err, errlen, "MP table: the BIOS area is not guest RAM");
		return -ENOMEM;
	}
	memcpy(dst, fp, FLOATING_LEN);
	memcpy(dst + FLOATING_LEN, t, n);
	return 0;
}
