/*
 * acpi.c - ACPI tables for a guest vdm loads (acpi.h), laid out in the BIOS
 * area from ACPI_RSDP_GPA: RSDP, then XSDT, FADT, MADT and DSDT, each
 * 16-byte aligned and checksummed.  Table layouts are ACPI 6.4's (sections
 * 5.2.5 to 5.2.12); the DSDT's AML comes from aml.c.
 *
 * A FACS is there because a machine that is not hardware-reduced has one;
 * it offers no waking vector (no S3) and no global lock.
 *
 * What the guest gets: a PC-compatible machine with one PCI root bridge on
 * bus 0 (config through ports 0xCF8-0xCFF), an IOAPIC at 0xFEC00000 taking
 * GSIs 0-23, a local APIC per vCPU, a fixed-hardware PM1 block without a
 * timer (ACPI is always on: no SMI command port), the reset register at
 * 0xCF9, \_S5 for power-off, the RTC (rtc.c, its century byte named in
 * the FADT) and the COM ports of -l (acpi_isa.c), and a _PRT routing each PCI slot's INTx
 * pins to the GSIs vdm gave them (level-triggered, active low, as PCI
 * interrupts in a _PRT without link devices are).
 */
#include "acpi_internal.h"

#include "fw_bytes.h"
#include "pci_space.h"
#include "rtc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SDT_HEADER 36
#define OEM_ID "VDM   "
#define OEM_TABLE_ID "VDMACRN "
#define CREATOR_ID "VDM "
#define FADT_LEN 276
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3
/* FADT flags (5.2.9, table 5.10). */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
/* MADT (5.2.12). */
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define ISO_ACTIVE_LOW_LEVEL 0x000f

struct table {
	uint8_t b[1024];
	size_t len;
};

static void header(uint8_t *t, const char *sig, size_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	fw_put_le(t + 4, len, 4);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	fw_put_le(t + 24, 1, 4);
	memcpy(t + 28, CREATOR_ID, 4);
	fw_put_le(t + 32, 1, 4);
	t[9] = 0;
	t[9] = fw_checksum(t, len);
}

/* A Generic Address Structure (5.2.3.2) in the I/O space. */
static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	fw_put_le(p + 4, port, 8);
}

static size_t build_fadt(uint8_t *t, uint64_t facs, uint64_t dsdt)
{
	memset(t, 0, FADT_LEN);
	fw_put_le(t + 36, facs, 4);
	fw_put_le(t + 40, dsdt, 4);
	fw_put_le(t + 46, ACPI_SCI_IRQ, 2);
	fw_put_le(t + 56, ACPI_PM1A_EVT_PORT, 4);
	fw_put_le(t + 64, ACPI_PM1A_CNT_PORT, 4);
	t[88] = 4; /* PM1_EVT_LEN: status and enable, two bytes each */
	t[89] = 2; /* PM1_CNT_LEN */
	t[108] = RTC_CENTURY; /* the CMOS byte holding the century (rtc.c) */
	fw_put_le(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
			     FADT_RESET_REG_SUP,
	    4);
	gas_io(t + 116, 8, GAS_ACCESS_BYTE, 0xcf9);
	t[128] = 0x06; /* RESET_VALUE: a system reset through the CPU reset line */
	t[131] = 4;    /* FADT minor version: 6.4 */
	fw_put_le(t + 132, facs, 8);
	fw_put_le(t + 140, dsdt, 8);
	gas_io(t + 148, 32, GAS_ACCESS_WORD, ACPI_PM1A_EVT_PORT);
	gas_io(t + 172, 16, GAS_ACCESS_WORD, ACPI_PM1A_CNT_PORT);
	header(t, "FACP", FADT_LEN, 6);
	return FADT_LEN;
}

static size_t build_madt(uint8_t *t, unsigned vcpus, const uint8_t *apic_ids)
{
	size_t n = 44;

	memset(t, 0, 1024);
	fw_put_le(t + 36, ACPI_LAPIC_GPA, 4);
	fw_put_le(t + 40, MADT_PCAT_COMPAT, 4);
	for (unsigned i = 0; i < vcpus; i++, n += 8) {
		t[n] = MADT_LAPIC;
		t[n + 1] = 8;
		t[n + 2] = (uint8_t)i; /* ACPI processor UID */
		t[n + 3] = apic_ids ? apic_ids[i] : (uint8_t)i; /* APIC ID */
		fw_put_le(t + n + 4, 1, 4);  /* enabled */
	}
	t[n] = MADT_IOAPIC;
	t[n + 1] = 12;
	t[n + 2] = ACPI_IOAPIC_ID;
	fw_put_le(t + n + 4, ACPI_IOAPIC_GPA, 4);
	fw_put_le(t + n + 8, 0, 4); /* GSI base */
	n += 12;
	/* The PC's IRQ 0 is on IOAPIC pin 2; the SCI is level, active low. */
	t[n] = MADT_ISO, t[n + 1] = 10, t[n + 2] = 0, t[n + 3] = 0;
	fw_put_le(t + n + 4, 2, 4);
	n += 10;
	t[n] = MADT_ISO, t[n + 1] = 10, t[n + 2] = 0, t[n + 3] = ACPI_SCI_IRQ;
	fw_put_le(t + n + 4, ACPI_SCI_IRQ, 4);
	fw_put_le(t + n + 8, ISO_ACTIVE_LOW_LEVEL, 2);
	n += 10;
	/* LINT1 of every processor is the NMI, edge, active high. */
	t[n] = MADT_LAPIC_NMI, t[n + 1] = 6, t[n + 2] = 0xff;
	fw_put_le(t + n + 3, 0x0005, 2);
	t[n + 5] = 1;
	n += 6;
	header(t, "APIC", n, 5);
	return n;
}

/* The PCI root bridge's resources: bus 0, its config ports, the rest of
 * the I/O space, memory between low RAM and the IOAPIC for BARs, and the
 * 64-bit window above guest RAM that pci_space.c lays large (with OVMF,
 * all) 64-bit BARs in, as acrn-dm declares it: a QWordMemory, read-write,
 * not cacheable. */
static void pci_crs(struct aml *a, uint64_t mem_start)
{
	uint8_t bus[16] = { 0x88, 13, 0, 2, 0x0c, 0 };
	uint8_t cfg[8] = { 0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8 };
	uint8_t io_lo[16] = { 0x88, 13, 0, 1, 0x0c, 3 }, io_hi[16] = { 0x88, 13, 0, 1, 0x0c, 3 };
	uint8_t mem[26] = { 0x87, 23, 0, 0, 0x0c, 3 };
	uint8_t mem64[46] = { 0x8a, 43, 0, 0, 0x0c, 1 };
	uint8_t end[2] = { 0x79, 0 };
	uint64_t mem_end = ACPI_IOAPIC_GPA - 1;

	fw_put_le(bus + 8, 0, 2), fw_put_le(bus + 10, 0, 2), fw_put_le(bus + 14, 1, 2);
	fw_put_le(io_lo + 8, 0x0000, 2), fw_put_le(io_lo + 10, 0x0cf7, 2), fw_put_le(io_lo + 14, 0x0cf8, 2);
	fw_put_le(io_hi + 8, 0x0d00, 2), fw_put_le(io_hi + 10, 0xffff, 2), fw_put_le(io_hi + 14, 0xf300, 2);
	fw_put_le(mem + 10, mem_start, 4), fw_put_le(mem + 14, mem_end, 4);
	fw_put_le(mem + 22, mem_end - mem_start + 1, 4);
	fw_put_le(mem64 + 14, PCI_SPACE_MEM64_BASE, 8);
	fw_put_le(mem64 + 22, PCI_SPACE_MEM64_LIMIT - 1, 8);
	fw_put_le(mem64 + 38, PCI_SPACE_MEM64_LIMIT - PCI_SPACE_MEM64_BASE, 8);
	aml_buffer(a);
	aml_raw(a, bus, sizeof(bus));
	aml_raw(a, cfg, sizeof(cfg));
	aml_raw(a, io_lo, sizeof(io_lo));
	aml_raw(a, io_hi, sizeof(io_hi));
	aml_raw(a, mem, sizeof(mem));
	aml_raw(a, mem64, sizeof(mem64));
	aml_raw(a, end, sizeof(end));
	aml_close(a);
}

/* _PRT: Package { Package { slot << 16 | 0xffff, pin - 1, 0, GSI }, ... } */
static void pci_prt(struct aml *a, const struct acpi_intx_route *routes, int n)
{
	aml_name_decl(a, "_PRT");
	aml_package(a, (uint8_t)n);
	for (int i = 0; i < n; i++) {
		aml_package(a, 4);
		aml_int(a, (uint64_t)routes[i].slot << 16 | 0xffff);
		aml_int(a, routes[i].pin - 1u);
		aml_int(a, 0);
		aml_int(a, routes[i].gsi);
		aml_close(a);
	}
	aml_close(a);
}

static int build_dsdt(struct aml *a, uint64_t mem_start, const struct acpi_intx_route *routes,
		      int nroutes, const struct acpi_isa *isa)
{
	uint8_t hdr[SDT_HEADER] = { 0 };

	aml_raw(a, hdr, sizeof(hdr)); /* filled in below */
	aml_scope(a, "\\_SB");
	aml_device(a, "PCI0");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0A03");
	aml_name_decl(a, "_ADR");
	aml_int(a, 0);
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_name_decl(a, "_BBN");
	aml_int(a, 0);
	aml_name_decl(a, "_CRS");
	pci_crs(a, mem_start);
	if (nroutes)
		pci_prt(a, routes, nroutes);
	acpi_isa_devices(a, isa);
	aml_close(a); /* PCI0 */
	aml_close(a); /* \_SB */
	/* Soft-off: SLP_TYPa and SLP_TYPb, then two reserved. */
	aml_name_decl(a, "\\_S5");
	aml_package(a, 4);
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, ACPI_S5_SLP_TYP);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a);
	if (a->failed || a->depth)
		return -ENOMEM;
	header(a->buf, "DSDT", a->len, 2);
	return 0;
}

int acpi_build(struct hsm_vm *vm, unsigned vcpus, const uint8_t *apic_ids,
	       const struct acpi_intx_route *routes, int nroutes, const struct acpi_isa *isa,
	       uint64_t *rsdp, char *err, size_t errlen)
{
	static uint8_t fadt[FADT_LEN], madt[1024];
	struct hsm_mem_region r[16];
	int nr = hsm_get_mem_regions(vm, r, 16);
	uint64_t low_top = 0;
	struct aml dsdt;
	uint8_t rsd[36] = { 0 }, xsdt[SDT_HEADER + 16] = { 0 };

	for (int i = 0; i < nr && i < 16; i++) {
		if (r[i].gpa == 0)
			low_top = r[i].size;
		/* The DSDT's 64-bit window must not hide RAM the e820 map reports. */
		if (r[i].gpa < PCI_SPACE_MEM64_LIMIT && r[i].gpa + r[i].size > PCI_SPACE_MEM64_BASE) {
			snprintf(err, errlen, "ACPI tables: guest RAM reaches into the 64-bit PCI "
					      "window at %#llx",
				 (unsigned long long)PCI_SPACE_MEM64_BASE);
			return -EINVAL;
		}
	}
	if (vcpus == 0 || vcpus > 255 || low_top < ACPI_AREA_END || nroutes < 0 || nroutes > 255) {
		snprintf(err, errlen, "ACPI tables: %u vCPUs and %llu bytes of low RAM cannot be "
				      "described",
			 vcpus, (unsigned long long)low_top);
		return -EINVAL;
	}
	/* Layout: RSDP, FACS (64-byte aligned), XSDT, FADT, MADT, DSDT. */
	uint64_t facs_at = ACPI_RSDP_GPA + 64, xsdt_at = facs_at + 64, fadt_at = xsdt_at + 64;
	uint64_t madt_at = fadt_at + 288;
	uint8_t facs[64] = { 'F', 'A', 'C', 'S', 64 };
	size_t madt_len = build_madt(madt, vcpus, apic_ids);
	uint64_t dsdt_at = (madt_at + madt_len + 15) & ~15ULL;

	aml_init(&dsdt);
	if (build_dsdt(&dsdt, low_top, routes, nroutes, isa) || dsdt_at + dsdt.len > ACPI_TABLES_END) {
		aml_free(&dsdt);
		snprintf(err, errlen, "ACPI tables: cannot build the DSDT");
		return -ENOMEM;
	}
	facs[32] = 2; /* version; no waking vector, no global lock */
	build_fadt(fadt, facs_at, dsdt_at);
	fw_put_le(xsdt + SDT_HEADER, fadt_at, 8);
	fw_put_le(xsdt + SDT_HEADER + 8, madt_at, 8);
	header(xsdt, "XSDT", sizeof(xsdt), 1);
	memcpy(rsd, "RSD PTR ", 8);
	memcpy(rsd + 9, OEM_ID, 6);
	rsd[15] = 2; /* ACPI 2.0 and later: the XSDT */
	fw_put_le(rsd + 20, sizeof(rsd), 4);
	fw_put_le(rsd + 24, xsdt_at, 8);
	rsd[8] = fw_checksum(rsd, 20);
	rsd[32] = fw_checksum(rsd, 36);

	const struct {
		uint64_t at;
		const void *p;
		size_t len;
	} parts[] = { { ACPI_RSDP_GPA, rsd, sizeof(rsd) }, { facs_at, facs, sizeof(facs) },
		      { xsdt_at, xsdt, sizeof(xsdt) },
		      { fadt_at, fadt, FADT_LEN },       { madt_at, madt, madt_len },
		      { dsdt_at, dsdt.buf, dsdt.len } };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		void *dst = hsm_gpa_to_hva(vm, parts[i].at, parts[i].len);

		if (!dst) {
			aml_free(&dsdt);
			snprintf(err, errlen, "ACPI tables: the BIOS area is not guest RAM");
			return -ENOMEM;
		}
		memcpy(dst, parts[i].p, parts[i].len);
	}
	aml_free(&dsdt);
	*rsdp = ACPI_RSDP_GPA;
	return 0;
}
