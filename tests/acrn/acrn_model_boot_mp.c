/*
 * acrn_model_boot_mp.c - the boot check's view of PCI interrupt routing:
 * the DSDT's _PRT read from its AML, and the MP table (Intel MP spec 1.4)
 * found the way a guest finds it, by scanning for the floating pointer;
 * and the AML walking the other boot checks share (PkgLength, _CRS buffers).
 * Written from the specs, not from vdm's builders (devicemodel/acpi.c,
 * aml.c, mptable.c), so a mistake in them is not repeated here.
 *
 * The MP table must have: both checksums right; one enabled processor per
 * vCPU and one bootstrap processor; a PCI and an ISA bus; one enabled
 * IOAPIC at 0xFEC00000; an I/O interrupt entry to that IOAPIC for each ISA
 * IRQ (IRQ 0 on pin 2, as the MADT overrides it, the SCI level-triggered
 * and active low); for each _PRT entry, a PCI entry with the same slot,
 * pin and GSI, and no PCI entry the _PRT lacks; LINT1 as the NMI.  It must
 * lie in a reserved range of the e820 map given (the zero page's, or
 * OVMF's table), clear of the zero page and the ACPI tables.
 */
#include "acrn_model_internal.h"

#include <string.h>

#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define MP_SCAN_START 0xf0000ULL
#define MP_SCAN_END 0x100000ULL
#define MP_BASE_MEM_TAIL 0x9fc00ULL /* the last KiB below 640 KiB */
#define MP_IOAPIC_GPA 0xfec00000ULL
#define E820_RAM 1
#define ISA_SCI_DEFAULT 9

uint64_t model_aml_pkg_length(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *q = *p;
	unsigned follow;
	uint64_t len;

	if (q >= end)
		return 0;
	follow = q[0] >> 6;
	if ((uint64_t)(end - q) < 1 + follow)
		return 0;
	len = follow ? (uint64_t)(q[0] & 0x0f) : (uint64_t)(q[0] & 0x3f);
	for (unsigned i = 0; i < follow; i++)
		len |= (uint64_t)q[1 + i] << (4 + 8 * i);
	*p = q + 1 + follow;
	return len;
}

void model_aml_each_crs(struct acrn_model *m, const uint8_t *dsdt, uint64_t len,
			void (*fn)(struct acrn_model *m, const uint8_t *tmpl, uint64_t size))
{
	const uint8_t *end = dsdt + len;

	/* Name (_CRS, Buffer (size) { template }) */
	for (uint64_t off = 36; off + 7 <= len; off++) {
		if (dsdt[off] != AML_NAME_OP || memcmp(dsdt + off + 1, "_CRS", 4) ||
		    dsdt[off + 5] != AML_BUFFER_OP)
			continue;
		const uint8_t *p = dsdt + off + 6, *start = p;
		uint64_t plen = model_aml_pkg_length(&p, end), size;

		if (!plen || plen > (uint64_t)(end - start))
			continue;
		/* The buffer's size: a byte or word constant. */
		if (*p == 0x0a && p + 2 <= start + plen)
			size = p[1], p += 2;
		else if (*p == 0x0b && p + 3 <= start + plen)
			size = model_le(p + 1, 2), p += 3;
		else
			continue;
		if (size > (uint64_t)(start + plen - p))
			size = (uint64_t)(start + plen - p);
		fn(m, p, size);
	}
}

/* An AML integer at *p (ZeroOp, OneOp, OnesOp, Byte/Word/DWord/QWord
 * constants).  False for anything else (a name: a link device). */
static bool aml_integer(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	static const struct {
		uint8_t op;
		int bytes;
	} prefixes[] = { { 0x0a, 1 }, { 0x0b, 2 }, { 0x0c, 4 }, { 0x0e, 8 } };
	const uint8_t *q = *p;

	if (q >= end)
		return false;
	if (q[0] == 0x00 || q[0] == 0x01 || q[0] == 0xff) {
		*v = q[0] == 0xff ? ~0ULL : q[0];
		*p = q + 1;
		return true;
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (q[0] != prefixes[i].op)
			continue;
		if (end - q < 1 + prefixes[i].bytes)
			return false;
		*v = model_le(q + 1, prefixes[i].bytes);
		*p = q + 1 + prefixes[i].bytes;
		return true;
	}
	return false;
}

/* One _PRT entry: Package (4) { Address, Pin, Source, SourceIndex }. */
static bool prt_entry(const uint8_t **p, const uint8_t *end, struct acrn_model_intx *out)
{
	const uint8_t *q = *p, *start;
	uint64_t len, v[4];

	if (q >= end || *q++ != AML_PACKAGE_OP)
		return false;
	start = q;
	len = model_aml_pkg_length(&q, end);
	if (!len || len > (uint64_t)(end - start) || q >= start + len || *q++ != 4)
		return false;
	for (int i = 0; i < 4; i++)
		if (!aml_integer(&q, start + len, &v[i]))
			return false;
	/* Address: the device in the high word, all functions (0xFFFF);
	 * pin 0-3; Source 0: SourceIndex is the GSI. */
	if ((v[0] & 0xffff) != 0xffff || (v[0] >> 16) > 31 || v[1] > 3 || v[2] != 0 || v[3] > 255 ||
	    q != start + len)
		return false;
	*out = (struct acrn_model_intx){ (uint8_t)(v[0] >> 16), (uint8_t)(v[1] + 1),
					 (uint8_t)v[3] };
	*p = q;
	return true;
}

void model_boot_read_prt(struct acrn_model *m, const uint8_t *dsdt, uint64_t len)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *end = dsdt + len, *p = NULL, *start;

	for (uint64_t off = 36; off + 6 <= len; off++) {
		if (dsdt[off] == AML_NAME_OP && !memcmp(dsdt + off + 1, "_PRT", 4) &&
		    dsdt[off + 5] == AML_PACKAGE_OP) {
			p = dsdt + off + 6;
			break;
		}
	}
	if (!p)
		return; /* no PCI interrupt routed */
	start = p;
	uint64_t plen = model_aml_pkg_length(&p, end);

	if (!plen || plen > (uint64_t)(end - start) || p >= start + plen) {
		model_boot_problem(m, "the DSDT's _PRT package runs past the table");
		return;
	}
	unsigned count = *p++;

	for (unsigned i = 0; i < count; i++) {
		struct acrn_model_intx e;

		if (!prt_entry(&p, start + plen, &e) || b->nprt >= 64) {
			model_boot_problem(m, "a _PRT entry is not {slot << 16 | 0xFFFF, pin, 0, GSI}");
			return;
		}
		b->prt[b->nprt++] = e;
	}
}

/* A floating pointer at gpa: signature, one paragraph, checksum. */
static const uint8_t *floating_pointer(const struct acrn_model *m, uint64_t gpa)
{
	const uint8_t *f = model_guest(m, gpa, 16);

	return f && !memcmp(f, "_MP_", 4) && f[8] == 1 && model_sum_ok(f, 16) ? f : NULL;
}

/* [gpa, gpa + len) inside one reserved (not RAM) entry of an e820 map
 * (entries of 20 bytes). */
static bool e820_reserved(const uint8_t *e820, unsigned entries, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; e820 && i < entries; i++) {
		const uint8_t *e = e820 + 20 * i;
		uint64_t addr = model_le(e, 8), elen = model_le(e + 8, 8);

		if (model_le(e + 16, 4) != E820_RAM && gpa >= addr && gpa - addr <= elen &&
		    len <= elen - (gpa - addr))
			return true;
	}
	return false;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Where the MP table lies: reserved, clear of the zero page (if any) and
 * of ACPI. */
static void check_place(struct acrn_model *m, const uint8_t *e820, unsigned entries,
			uint64_t zp_gpa)
{
	struct acrn_model_boot *b = &m->boot;
	bool clear = true;

	for (unsigned i = 0; i < b->nacpi_ranges; i++)
		clear &= !overlaps(b->mp_gpa, 16, b->acpi_ranges[i].gpa, b->acpi_ranges[i].len) &&
			 !overlaps(b->mp_table_gpa, b->mp_table_len, b->acpi_ranges[i].gpa,
				   b->acpi_ranges[i].len);
	if (!clear)
		model_boot_problem(m, "the MP table overlaps an ACPI table");
	if (zp_gpa && (overlaps(b->mp_gpa, 16, zp_gpa, 4096) ||
		       overlaps(b->mp_table_gpa, b->mp_table_len, zp_gpa, 4096)))
		model_boot_problem(m, "the MP table overlaps the zero page");
	if (!e820_reserved(e820, entries, b->mp_gpa, 16) ||
	    !e820_reserved(e820, entries, b->mp_table_gpa, b->mp_table_len))
		model_boot_problem(m, "the MP table is not in a reserved e820 range");
}

/* The I/O interrupt entries against the ISA IRQs and the _PRT. */
static void check_interrupts(struct acrn_model *m, const uint8_t *t, uint64_t len, int pci_bus,
			     int isa_bus, int ioapic_id)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *fadt = b->fadt_gpa ? model_guest(m, b->fadt_gpa, 48) : NULL;
	unsigned sci = fadt ? (unsigned)model_le(fadt + 46, 2) : ISA_SCI_DEFAULT;
	bool isa_seen[16] = { false }, isa_ok = true, pci_extra = false;

	for (uint64_t e = 44; e + 8 <= len; e += t[e] == 0 ? 20 : 8) {
		if (t[e] != 3)
			continue;
		unsigned type = t[e + 1], flags = (unsigned)model_le(t + e + 2, 2);
		unsigned bus = t[e + 4], irq = t[e + 5], dest = t[e + 6], pin = t[e + 7];

		if (dest != (unsigned)ioapic_id || type != 0)
			continue; /* ExtINT and entries for other IOAPICs aside */
		if ((int)bus == isa_bus && irq < 16) {
			isa_seen[irq] = true;
			isa_ok &= irq == 0 ? pin == 2 : pin == irq;
			if (irq == sci)
				isa_ok &= (flags & 0xf) == 0xf; /* level, active low */
		} else if ((int)bus == pci_bus && b->mp_npci < 64) {
			struct acrn_model_intx x = { (uint8_t)(irq >> 2), (uint8_t)((irq & 3) + 1),
						     (uint8_t)pin };
			bool in_prt = false;

			for (unsigned i = 0; i < b->nprt; i++)
				in_prt |= !memcmp(&b->prt[i], &x, sizeof(x));
			pci_extra |= !in_prt;
			b->mp_pci[b->mp_npci++] = x;
		}
	}
	for (unsigned irq = 0; irq < 16; irq++)
		b->mp_isa_irqs += isa_seen[irq];
	/* IRQ 2 is the 8259s' cascade: no device interrupts there. */
	if (!isa_ok || b->mp_isa_irqs < 15 || !isa_seen[0] || !isa_seen[sci < 16 ? sci : 0])
		model_boot_problem(m, "the MP table's ISA interrupts disagree with the MADT");
	for (unsigned i = 0; i < b->nprt; i++) {
		bool found = false;

		for (unsigned k = 0; k < b->mp_npci; k++)
			found |= !memcmp(&b->prt[i], &b->mp_pci[k], sizeof(b->prt[i]));
		if (!found) {
			model_boot_problem(m, "a _PRT INTx has no MP table entry with its GSI");
			break;
		}
	}
	if (pci_extra)
		model_boot_problem(m, "the MP table routes a PCI INTx the _PRT does not");
}

void model_boot_check_mp(struct acrn_model *m, const uint8_t *e820, unsigned entries,
			 uint64_t zp_gpa)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *f = NULL, *t;

	for (uint64_t at = MP_SCAN_START; !f && at < MP_SCAN_END; at += 16)
		if ((f = floating_pointer(m, at)))
			b->mp_gpa = at;
	for (uint64_t at = MP_BASE_MEM_TAIL; !f && at < MP_BASE_MEM_TAIL + 1024; at += 16)
		if ((f = floating_pointer(m, at)))
			b->mp_gpa = at;
	if (!f) {
		model_boot_problem(m, "no MP floating pointer with a good checksum in the BIOS area");
		return;
	}
	b->mp_table_gpa = model_le(f + 4, 4);
	t = model_guest(m, b->mp_table_gpa, 44);
	if (f[11] != 0 || !t || memcmp(t, "PCMP", 4)) {
		model_boot_problem(m, "the MP floating pointer names no configuration table");
		return;
	}
	b->mp_table_len = model_le(t + 4, 2);
	if (b->mp_table_len < 44 || !model_guest(m, b->mp_table_gpa, b->mp_table_len) ||
	    !model_sum_ok(t, b->mp_table_len) || t[6] != f[9]) {
		model_boot_problem(m, "the MP configuration table's checksum or revision is wrong");
		return;
	}
	check_place(m, e820, entries, zp_gpa);

	/* Walk the base entries: each type has its size; they fill the table. */
	unsigned count = (unsigned)model_le(t + 34, 2), seen = 0, bsp = 0;
	int pci_bus = -1, isa_bus = -1, ioapic_id = -1;
	uint64_t e = 44;

	for (; e < b->mp_table_len && seen < count; seen++) {
		uint64_t size = t[e] == 0 ? 20 : 8;

		if (t[e] > 4 || e + size > b->mp_table_len)
			break;
		if (t[e] == 0 && (t[e + 3] & 1)) {
			model_boot_apic_id(m, "the MP table", b->mp_cpus, t[e + 1]);
			/* The bootstrap processor is vCPU 0, the one ACRN starts. */
			if ((t[e + 3] & 2) && b->mp_cpus != 0)
				model_boot_problem(m, "the MP table's bootstrap processor is not "
						      "vCPU 0");
			b->mp_cpus++;
			bsp += (t[e + 3] & 2) != 0;
		}
		if (t[e] == 1 && !memcmp(t + e + 2, "PCI   ", 6))
			pci_bus = t[e + 1];
		if (t[e] == 1 && !memcmp(t + e + 2, "ISA   ", 6))
			isa_bus = t[e + 1];
		if (t[e] == 2 && (t[e + 3] & 1) && model_le(t + e + 4, 4) == MP_IOAPIC_GPA) {
			b->mp_ioapic = true;
			ioapic_id = t[e + 1];
		}
		if (t[e] == 4 && t[e + 1] == 1 && t[e + 7] == 1)
			b->mp_lint1_nmi = true;
		e += size;
	}
	if (seen != count || e != b->mp_table_len) {
		model_boot_problem(m, "the MP table's entries do not fill it as its count says");
		return;
	}
	if (b->mp_cpus != m->vcpus || bsp != 1)
		model_boot_problem(m, "the MP table does not list one enabled processor per vCPU "
				      "with one bootstrap processor");
	if (!b->mp_ioapic || pci_bus < 0 || isa_bus < 0 || !b->mp_lint1_nmi)
		model_boot_problem(m, "the MP table lacks the IOAPIC, a PCI or ISA bus, or the NMI");
	else
		check_interrupts(m, t, b->mp_table_len, pci_bus, isa_bus, ioapic_id);
}
