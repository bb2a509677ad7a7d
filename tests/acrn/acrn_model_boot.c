/*
 * acrn_model_boot.c - the model's boot check: at START_VM, with the boot
 * CPU's registers from SET_VCPU_REGS, read what the device model left in
 * guest RAM as a hypervisor starting that CPU would find it, with a parser
 * of its own (none of vdm's loader code): the zero page at RSI (boot flag,
 * "HdrS", loader type), the command line, the initrd, the e820 map against
 * the RAM the model was given with SET_MEMSEG, RIP at code32_start inside
 * RAM, CR0 (protected mode, no paging) and the GDT's descriptors behind CS
 * and DS (flat 4 GiB code and data), and, when the zero page names an
 * RSDP, the ACPI tables (checksums from the RSDP through the XSDT to the
 * FADT's DSDT, one MADT processor per vCPU) and with them the MP table
 * (acrn_model_boot_mp.c: against the vCPUs and the DSDT's _PRT).  Each disagreement is a protocol
 * violation; the findings are kept for tests (acrn_model_boot_report).
 */
#include "acrn_model_internal.h"

#include <stdio.h>
#include <string.h>

/* Host pointer for [gpa, gpa + len) inside one SET_MEMSEG segment. */
const uint8_t *model_guest(const struct acrn_model *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nsegs; i++) {
		const struct model_seg *s = &m->segs[i];

		if (gpa >= s->gpa && len <= s->len && gpa - s->gpa <= s->len - len)
			return (const uint8_t *)(s->hva + (gpa - s->gpa));
	}
	return NULL;
}

uint64_t model_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void model_boot_problem(struct acrn_model *m, const char *what)
{
	struct acrn_model_boot *b = &m->boot;

	if (!b->problems)
		snprintf(b->first_problem, sizeof(b->first_problem), "%s", what);
	b->problems++;
	hsm_log(m->vm, HSM_LOG_ERR, "acrn model: protocol violation: boot: %s", what);
	m->violations++;
}

/* The descriptor behind selector sel: flat (base 0, 4 GiB), present, of
 * the kind wanted (code: execute/read; data: read/write). */
static bool flat_descriptor(const struct acrn_model *m, const struct acrn_regs *r, uint16_t sel,
			    bool code)
{
	unsigned idx = sel >> 3;
	const uint8_t *d;

	if ((sel & 7) || idx == 0 || (uint64_t)idx * 8 + 7 > r->gdt.limit)
		return false;
	d = model_guest(m, r->gdt.base + idx * 8ULL, 8);
	if (!d)
		return false;
	uint64_t v = model_le(d, 8);
	uint32_t base = (uint32_t)((v >> 16 & 0xffffff) | (v >> 56 & 0xff) << 24);
	uint32_t limit = (uint32_t)((v & 0xffff) | (v >> 48 & 0xf) << 16);
	unsigned type = (unsigned)(v >> 40 & 0xf), s = (unsigned)(v >> 44 & 1);
	unsigned present = (unsigned)(v >> 47 & 1), gran = (unsigned)(v >> 55 & 1);
	unsigned db = (unsigned)(v >> 54 & 1);

	return base == 0 && limit == 0xfffff && gran && db && present && s &&
	       (code ? (type & 0xa) == 0xa : (type & 0xa) == 0x2);
}

bool model_sum_ok(const uint8_t *p, uint64_t len)
{
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum == 0;
}

/* A system description table at gpa: in RAM, its length sane, its
 * checksum right.  Returns it and its length, or NULL. */
/* Where an ACPI table lies: nothing else may be written over it. */
static void acpi_range(struct acrn_model_boot *b, uint64_t gpa, uint64_t len)
{
	if (b->nacpi_ranges < sizeof(b->acpi_ranges) / sizeof(b->acpi_ranges[0])) {
		b->acpi_ranges[b->nacpi_ranges].gpa = gpa;
		b->acpi_ranges[b->nacpi_ranges++].len = len;
	}
}

static const uint8_t *sdt(struct acrn_model *m, uint64_t gpa, const char *sig, uint64_t *len)
{
	const uint8_t *h = model_guest(m, gpa, 36);

	if (!h || (sig && memcmp(h, sig, 4)))
		return NULL;
	*len = model_le(h + 4, 4);
	if (*len < 36 || *len > (1u << 20) || !model_guest(m, gpa, *len) || !model_sum_ok(h, *len))
		return NULL;
	acpi_range(&m->boot, gpa, *len);
	return h;
}

/* The ACPI tables the zero page points at: RSDP, XSDT, and through it the
 * FADT (its DSDT) and MADT (processors, IOAPIC). */
static void check_acpi(struct acrn_model *m, uint64_t rsdp)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *r = model_guest(m, rsdp, 36), *x, *t;
	uint64_t xlen, len;

	if (!r || memcmp(r, "RSD PTR ", 8) || !model_sum_ok(r, 20) || r[15] < 2 || !model_sum_ok(r, 36)) {
		model_boot_problem(m, "the zero page's acpi_rsdp_addr holds no valid ACPI 2.0 RSDP");
		return;
	}
	acpi_range(b, rsdp, 36);
	x = sdt(m, model_le(r + 24, 8), "XSDT", &xlen);
	if (!x) {
		model_boot_problem(m, "the RSDP's XSDT is missing or its checksum is wrong");
		return;
	}
	for (uint64_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t at = model_le(x + off, 8);

		t = sdt(m, at, NULL, &len);
		if (!t) {
			model_boot_problem(m, "an XSDT entry is not a table with a good checksum");
			continue;
		}
		b->acpi_tables++;
		if (!memcmp(t, "FACP", 4))
			b->fadt_gpa = at;
		if (!memcmp(t, "APIC", 4))
			b->madt_gpa = at;
		if (!memcmp(t, "FACP", 4) && len >= 148) {
			uint64_t dsdt = model_le(t + 140, 8) ? model_le(t + 140, 8) : model_le(t + 40, 4);
			const uint8_t *d = sdt(m, dsdt, "DSDT", &b->dsdt_len);

			if (!d)
				model_boot_problem(m, "the FADT's DSDT is missing or its checksum is wrong");
			else
				b->dsdt_gpa = dsdt, b->acpi_tables++;
			if (d)
				model_boot_read_prt(m, d, b->dsdt_len);
			if (model_le(t + 36, 4))
				acpi_range(b, model_le(t + 36, 4), 64); /* the FACS */
			b->pm1a_cnt_port = (uint16_t)model_le(t + 64, 4);
		}
		if (!memcmp(t, "APIC", 4)) {
			for (uint64_t e = 44; e + 2 <= len && t[e + 1] >= 2; e += t[e + 1]) {
				if (t[e] == 0 && t[e + 1] == 8 && (model_le(t + e + 4, 4) & 1))
					b->madt_cpus++;
				if (t[e] == 1 && t[e + 1] == 12)
					b->madt_ioapic = true;
			}
		}
	}
	if (b->madt_cpus != m->vcpus)
		model_boot_problem(m, "the MADT does not list one enabled local APIC per vCPU");
	if (!b->madt_ioapic)
		model_boot_problem(m, "the MADT has no IOAPIC");
}

void model_boot_check_locked(struct acrn_model *m)
{
	struct acrn_model_boot *b = &m->boot;
	const struct acrn_regs *r = &m->boot_regs.vcpu_regs;
	uint64_t rsi = r->gprs.rsi;
	const uint8_t *zp = model_guest(m, rsi, 4096);

	memset(b, 0, sizeof(*b));
	b->checked = true;
	b->rip = r->rip;
	b->rsi = rsi;
	if (!(r->cr0 & 1) || (r->cr0 & 0x80000000u))
		model_boot_problem(m, "CR0: not protected mode without paging");
	if (r->cs_base || r->cs_limit != 0xffffffffu || !flat_descriptor(m, r, r->cs_sel, true))
		model_boot_problem(m, "CS is not a flat 4 GiB code segment of the GDT");
	if (!flat_descriptor(m, r, r->ds_sel, false) || r->ss_sel != r->ds_sel ||
	    r->es_sel != r->ds_sel)
		model_boot_problem(m, "DS/ES/SS are not one flat 4 GiB data segment of the GDT");
	if (!zp) {
		model_boot_problem(m, "RSI does not point at a page of guest RAM (the zero page)");
		return;
	}
	if (model_le(zp + 0x1fe, 2) != 0xaa55 || memcmp(zp + 0x202, "HdrS", 4))
		model_boot_problem(m, "the zero page has no setup header (boot flag, HdrS)");
	if (zp[0x210] == 0)
		model_boot_problem(m, "the zero page names no boot loader (type_of_loader 0)");
	if (model_le(zp + 0x214, 4) != r->rip)
		model_boot_problem(m, "RIP is not the setup header's code32_start");
	if (!model_guest(m, r->rip, 4096))
		model_boot_problem(m, "RIP is not in guest RAM");

	/* The command line: NUL-terminated within cmdline_size + 1 bytes. */
	uint64_t cmd = model_le(zp + 0x228, 4), max = model_le(zp + 0x238, 4) + 1;
	const uint8_t *c = cmd ? model_guest(m, cmd, 1) : NULL;
	size_t n = 0;

	while (c && n < max && model_guest(m, cmd + n, 1) && *model_guest(m, cmd + n, 1))
		n++;
	if (!c || n == max || !model_guest(m, cmd + n, 1))
		model_boot_problem(m, "the command line is not a NUL-terminated string in guest RAM");
	else
		snprintf(b->cmdline, sizeof(b->cmdline), "%.*s", (int)n, (const char *)c);

	b->initrd_gpa = model_le(zp + 0x218, 4);
	b->initrd_size = model_le(zp + 0x21c, 4);
	if (b->initrd_size && !model_guest(m, b->initrd_gpa, b->initrd_size))
		model_boot_problem(m, "the initrd is not in guest RAM");

	/* e820: at most 128 entries, in order, not overlapping; RAM entries
	 * inside the segments, and the segments covered exactly (RAM or the
	 * reserved legacy window). */
	unsigned entries = zp[0x1e8];
	uint64_t covered = 0, segs = 0, last_end = 0;

	for (int i = 0; i < m->nsegs; i++)
		segs += m->segs[i].len;
	if (entries == 0 || entries > 128)
		model_boot_problem(m, "the e820 map has no entries, or more than 128");
	for (unsigned i = 0; i < entries && i < 128; i++) {
		const uint8_t *e = zp + 0x2d0 + 20 * i;
		uint64_t addr = model_le(e, 8), len = model_le(e + 8, 8);
		uint32_t type = (uint32_t)model_le(e + 16, 4);

		if (len == 0 || addr + len < addr || addr < last_end) {
			model_boot_problem(m, "e820 entries empty, wrapping, overlapping or out of order");
			break;
		}
		last_end = addr + len;
		if (type == 1 && !model_guest(m, addr, len))
			model_boot_problem(m, "an e820 RAM entry is not guest RAM");
		if (type == 1)
			b->e820_ram += len;
		if (model_guest(m, addr, len))
			covered += len;
	}
	if (covered != segs)
		model_boot_problem(m, "the e820 map does not describe exactly the guest RAM mapped");
	/* Where there are ACPI tables there is an MP table too: acrn-dm
	 * writes both, and a guest booted with acpi=off reads the latter. */
	if (model_le(zp + 0x070, 8)) {
		check_acpi(m, model_le(zp + 0x070, 8));
		model_boot_check_mp(m, zp, rsi);
	}
	/* The PCI interrupts the MP table routes, for tests that compare
	 * them with the functions' interrupt line registers. */
	char pci[64 * 16] = "";
	size_t pl = 0;

	for (unsigned i = 0; i < b->mp_npci && pl < sizeof(pci) - 16; i++)
		pl += (size_t)snprintf(pci + pl, sizeof(pci) - pl, " %02x.%c=GSI%u",
					b->mp_pci[i].slot, 'A' + b->mp_pci[i].pin - 1,
					b->mp_pci[i].gsi);
	hsm_log(m->vm, HSM_LOG_INFO,
		"acrn model: boot check: %s (entry %#llx, zero page %#llx, %llu MiB RAM in e820, "
		"initrd %llu bytes, %u ACPI tables, %u processors in the MADT, MP table at %#llx "
		"with %u processors and %u PCI interrupts%s, command line \"%s\")",
		b->problems ? "FAILED" : "passed", (unsigned long long)b->rip,
		(unsigned long long)b->rsi, (unsigned long long)(b->e820_ram >> 20),
		(unsigned long long)b->initrd_size, b->acpi_tables, b->madt_cpus,
		(unsigned long long)b->mp_gpa, b->mp_cpus, b->mp_npci, pci, b->cmdline);
}
