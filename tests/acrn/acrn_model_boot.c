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
 * (acrn_model_boot_mp.c: against the vCPUs and the DSDT's _PRT).  A VM
 * given OVMF (the ovmf= options) is checked as firmware finds it instead:
 * check_ovmf.  Each disagreement is a protocol
 * violation; the findings are kept for tests (acrn_model_boot_report).
 */
#include "acrn_model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Host pointer for [gpa, gpa + len) inside one SET_MEMSEG segment. */
static const uint8_t *guest(const struct acrn_model *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nsegs; i++) {
		const struct model_seg *s = &m->segs[i];

		if (gpa >= s->gpa && len <= s->len && gpa - s->gpa <= s->len - len)
			return (const uint8_t *)(s->hva + (gpa - s->gpa));
	}
	return NULL;
}

static uint64_t le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void problem(struct acrn_model *m, const char *what)
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
	d = guest(m, r->gdt.base + idx * 8ULL, 8);
	if (!d)
		return false;
	uint64_t v = le(d, 8);
	uint32_t base = (uint32_t)((v >> 16 & 0xffffff) | (v >> 56 & 0xff) << 24);
	uint32_t limit = (uint32_t)((v & 0xffff) | (v >> 48 & 0xf) << 16);
	unsigned type = (unsigned)(v >> 40 & 0xf), s = (unsigned)(v >> 44 & 1);
	unsigned present = (unsigned)(v >> 47 & 1), gran = (unsigned)(v >> 55 & 1);
	unsigned db = (unsigned)(v >> 54 & 1);

	return base == 0 && limit == 0xfffff && gran && db && present && s &&
	       (code ? (type & 0xa) == 0xa : (type & 0xa) == 0x2);
}

static bool sum_ok(const uint8_t *p, uint64_t len)
{
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum == 0;
}

/* For acrn_model_boot_mp.c (acrn_model_internal.h). */
const uint8_t *model_guest(const struct acrn_model *m, uint64_t gpa, uint64_t len)
{
	return guest(m, gpa, len);
}

uint64_t model_le(const uint8_t *p, int bytes)
{
	return le(p, bytes);
}

void model_boot_problem(struct acrn_model *m, const char *what)
{
	problem(m, what);
}

bool model_sum_ok(const uint8_t *p, uint64_t len)
{
	return sum_ok(p, len);
}

/* Where an ACPI table lies: nothing else may be written over it. */
static void acpi_range(struct acrn_model_boot *b, uint64_t gpa, uint64_t len)
{
	if (b->nacpi_ranges < sizeof(b->acpi_ranges) / sizeof(b->acpi_ranges[0])) {
		b->acpi_ranges[b->nacpi_ranges].gpa = gpa;
		b->acpi_ranges[b->nacpi_ranges++].len = len;
	}
}

/* A system description table at gpa: in RAM, its length sane, its
 * checksum right.  Returns it and its length, or NULL. */
static const uint8_t *sdt(struct acrn_model *m, uint64_t gpa, const char *sig, uint64_t *len)
{
	const uint8_t *h = guest(m, gpa, 36);

	if (!h || (sig && memcmp(h, sig, 4)))
		return NULL;
	*len = le(h + 4, 4);
	if (*len < 36 || *len > (1u << 20) || !guest(m, gpa, *len) || !sum_ok(h, *len))
		return NULL;
	acpi_range(&m->boot, gpa, *len);
	return h;
}

/* The ACPI tables the zero page points at: RSDP, XSDT, and through it the
 * FADT (its DSDT) and MADT (processors, IOAPIC). */
static void check_acpi(struct acrn_model *m, uint64_t rsdp)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *r = guest(m, rsdp, 36), *x, *t;
	uint64_t xlen, len;

	if (!r || memcmp(r, "RSD PTR ", 8) || !sum_ok(r, 20) || r[15] < 2 || !sum_ok(r, 36)) {
		problem(m, "the zero page's acpi_rsdp_addr holds no valid ACPI 2.0 RSDP");
		return;
	}
	acpi_range(b, rsdp, 36);
	x = sdt(m, le(r + 24, 8), "XSDT", &xlen);
	if (!x) {
		problem(m, "the RSDP's XSDT is missing or its checksum is wrong");
		return;
	}
	for (uint64_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t at = le(x + off, 8);

		t = sdt(m, at, NULL, &len);
		if (!t) {
			problem(m, "an XSDT entry is not a table with a good checksum");
			continue;
		}
		b->acpi_tables++;
		if (!memcmp(t, "FACP", 4))
			b->fadt_gpa = at;
		if (!memcmp(t, "APIC", 4))
			b->madt_gpa = at;
		if (!memcmp(t, "FACP", 4) && len >= 148) {
			uint64_t dsdt = le(t + 140, 8) ? le(t + 140, 8) : le(t + 40, 4);
			const uint8_t *d = sdt(m, dsdt, "DSDT", &b->dsdt_len);

			if (!d)
				problem(m, "the FADT's DSDT is missing or its checksum is wrong");
			else
				b->dsdt_gpa = dsdt, b->acpi_tables++;
			if (d) {
				model_boot_read_prt(m, d, b->dsdt_len);
				model_boot_read_isa_irqs(m, d, b->dsdt_len);
				model_boot_read_coms(m, d, b->dsdt_len);
				model_boot_read_windows(m, d, b->dsdt_len);
			}
			if (le(t + 36, 4))
				acpi_range(b, le(t + 36, 4), 64); /* the FACS */
			b->pm1a_cnt_port = (uint16_t)le(t + 64, 4);
		}
		if (!memcmp(t, "APIC", 4)) {
			for (uint64_t e = 44; e + 2 <= len && t[e + 1] >= 2; e += t[e + 1]) {
				if (t[e] == 0 && t[e + 1] == 8 && (le(t + e + 4, 4) & 1)) {
					model_boot_apic_id(m, "the MADT", b->madt_cpus, t[e + 3]);
					b->madt_cpus++;
				}
				if (t[e] == 1 && t[e + 1] == 12)
					b->madt_ioapic = true;
			}
		}
	}
	if (b->madt_cpus != m->vcpus)
		problem(m, "the MADT does not list one enabled local APIC per vCPU");
	if (!b->madt_ioapic)
		problem(m, "the MADT has no IOAPIC");
}

/*
 * An e820 map of entries (20 bytes each, at most max): in order, not
 * overlapping; RAM entries inside the segments; the segments covered
 * exactly (RAM, or reserved: the legacy window, firmware memory); the
 * segment at fw_gpa (firmware memory, 0: none) not reported as RAM.
 */
static void check_e820(struct acrn_model *m, const uint8_t *table, unsigned entries,
		       unsigned max, uint64_t fw_gpa)
{
	struct acrn_model_boot *b = &m->boot;
	uint64_t covered = 0, segs = 0, last_end = 0;

	for (int i = 0; i < m->nsegs; i++)
		segs += m->segs[i].len;
	if (entries == 0 || entries > max)
		problem(m, "the e820 map has no entries, or more than it holds");
	for (unsigned i = 0; i < entries && i < max; i++) {
		const uint8_t *e = table + 20 * i;
		uint64_t addr = le(e, 8), len = le(e + 8, 8);
		uint32_t type = (uint32_t)le(e + 16, 4);

		if (len == 0 || addr + len < addr || addr < last_end) {
			problem(m, "e820 entries empty, wrapping, overlapping or out of order");
			break;
		}
		last_end = addr + len;
		if (type == 1 && !guest(m, addr, len))
			problem(m, "an e820 RAM entry is not guest RAM");
		if (type == 1 && fw_gpa && addr + len > fw_gpa && addr < 1ULL << 32)
			problem(m, "the e820 map reports the firmware's memory as RAM");
		if (type == 1)
			b->e820_ram += len;
		if (guest(m, addr, len))
			covered += len;
	}
	if (covered != segs)
		problem(m, "the e820 map does not describe exactly the guest RAM mapped");
}

/* ---- OVMF (the ovmf= options) ---- */

#define FW_TOP (1ULL << 32)
#define FW_E820 0xef000ULL

/* A file's bytes into buf (at most cap); its length, or -1. */
static long read_fw(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, cap, f) : 0;
	bool more = f && fgetc(f) != EOF;

	if (f)
		fclose(f);
	return !f || more ? -1 : (long)n;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Bytes of firmware the VM was given (image, or vars + code). */
static long fw_len(const struct acrn_model *m)
{
	if (m->ovmf_image[0])
		return file_size(m->ovmf_image);
	long v = file_size(m->ovmf_vars), c = file_size(m->ovmf_code);

	return v < 0 || c < 0 ? -1 : v + c;
}

void model_ovmf_mark_locked(struct acrn_model *m)
{
	long len = fw_len(m);
	char mark[48];
	int n = snprintf(mark, sizeof(mark), "%s-%u", m->ovmf_mark, ++m->marks);
	uint8_t *nv = len > 0 ? (uint8_t *)guest(m, FW_TOP - (uint64_t)len, (uint64_t)n + 1)
			      : NULL;

	if (nv)
		memcpy(nv, mark, (size_t)n + 1);
	hsm_log(m->vm, HSM_LOG_INFO, "acrn model: the firmware wrote \"%s\" into its vars%s", mark,
		nv ? "" : " (NOT: no firmware memory)");
}

/*
 * A VM started in OVMF: the files' bytes end at 4 GiB, the boot CPU is at
 * the reset vector 16 bytes below (real mode), the e820 table at 0xEF000
 * ("820", count, entries) describes the memory mapped with the firmware's
 * reserved, and an RSDP in the BIOS area leads to good ACPI tables.
 */
static void check_ovmf(struct acrn_model *m)
{
	static uint8_t want[4 << 20];
	struct acrn_model_boot *b = &m->boot;
	const struct acrn_regs *r = &m->boot_regs.vcpu_regs;
	long a, c = 0;

	b->firmware = true;
	if (m->ovmf_image[0]) {
		a = read_fw(m->ovmf_image, want, sizeof(want));
	} else {
		a = read_fw(m->ovmf_vars, want, sizeof(want));
		c = a < 0 ? -1 : read_fw(m->ovmf_code, want + a, sizeof(want) - (size_t)a);
	}
	if (a <= 0 || c < 0) {
		problem(m, "the model cannot read the firmware files it was given");
		return;
	}
	b->fw_len = (uint64_t)(a + c);
	b->fw_gpa = FW_TOP - b->fw_len;
	const uint8_t *g = guest(m, b->fw_gpa, b->fw_len);

	if (!g || memcmp(g, want, b->fw_len))
		problem(m, "the firmware ending at 4 GiB is not the file's bytes");
	for (int i = 0; g && i < 16 && g[i]; i++)
		b->vars_head[i] = g[i] >= 0x20 && g[i] < 0x7f ? (char)g[i] : '.';
	/* Real mode, CS a present code segment whose base + IP is the reset
	 * vector, 16 bytes below the top. */
	if ((r->cr0 & 1) || (r->cr0 & 0x80000000u) || r->cs_limit != 0xffff ||
	    (r->cs_ar & 0x98) != 0x98 || r->cs_base + r->rip != FW_TOP - 16 || r->rip > 0xffff)
		problem(m, "the boot CPU is not at the reset vector in real mode");

	const uint8_t *t = guest(m, FW_E820, 8);
	unsigned n = t ? (unsigned)le(t + 4, 4) : 0, max = (unsigned)((0x100000 - FW_E820 - 8) / 20);
	uint64_t fw_seg = 0;

	for (int i = 0; i < m->nsegs; i++)
		if (b->fw_gpa >= m->segs[i].gpa && b->fw_gpa < m->segs[i].gpa + m->segs[i].len)
			fw_seg = m->segs[i].gpa;
	bool e820_ok = t && !memcmp(t, "820", 4) && n <= max && guest(m, FW_E820 + 8, (uint64_t)n * 20);

	if (!e820_ok)
		problem(m, "no e820 table (\"820\", count, entries) at 0xEF000");
	else
		check_e820(m, t + 8, n, max, fw_seg);

	uint64_t rsdp = 0;

	for (uint64_t at = 0xe0000; at < 0x100000 && !rsdp; at += 16) {
		const uint8_t *p = guest(m, at, 8);

		if (p && !memcmp(p, "RSD PTR ", 8))
			rsdp = at;
	}
	if (!rsdp)
		problem(m, "no RSDP in the BIOS area (0xE0000-0xFFFFF)");
	else
		check_acpi(m, rsdp);
	/* acrn-dm writes the MP table whatever it loads. */
	model_boot_check_mp(m, e820_ok ? t + 8 : NULL, e820_ok ? n : 0, 0);
}

int model_vcpu_apic_id(const struct acrn_model *m, unsigned vcpu)
{
	unsigned cpu = 0, seen = 0;
	char line[256];
	long processor = -1, id = -1;

	if (!m->created_affinity)
		return (int)vcpu; /* the hypervisor's own placement: vdm numbers them */
	for (; cpu < 64; cpu++)
		if ((m->created_affinity >> cpu & 1) && seen++ == vcpu)
			break;
	if (cpu == 64)
		return -1;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && id < 0 && fgets(line, sizeof(line), f)) {
		const char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!strncmp(line, "processor", 9))
			processor = strtol(colon + 1, NULL, 10);
		else if (!strncmp(line, "apicid", 6) && processor == (long)cpu)
			id = strtol(colon + 1, NULL, 10);
	}
	if (f)
		fclose(f);
	return (int)id;
}

void model_boot_apic_id(struct acrn_model *m, const char *where, unsigned vcpu, uint8_t id)
{
	struct acrn_model_boot *b = &m->boot;
	int want = model_vcpu_apic_id(m, vcpu);
	char what[112];

	if (!strcmp(where, "the MADT") && vcpu < sizeof(b->apic_ids))
		b->apic_ids[vcpu] = id;
	if (want == id)
		return;
	snprintf(what, sizeof(what),
		 "%s gives vCPU %u local APIC ID %u; the hypervisor gives it %d (its CPU's)", where,
		 vcpu, id, want);
	problem(m, what);
}

/* The MADT's APIC IDs as "a,b,...", for the log. */
static const char *apic_list(const struct acrn_model_boot *b, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < b->madt_cpus && i < sizeof(b->apic_ids) && n + 5 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? "," : "", b->apic_ids[i]);
	return buf;
}

void model_boot_check_locked(struct acrn_model *m)
{
	char ids[80];
	struct acrn_model_boot *b = &m->boot;
	const struct acrn_regs *r = &m->boot_regs.vcpu_regs;
	uint64_t rsi = r->gprs.rsi;
	const uint8_t *zp = guest(m, rsi, 4096);

	memset(b, 0, sizeof(*b));
	b->checked = true;
	b->rip = r->rip;
	b->rsi = rsi;
	if (m->ovmf_image[0] || m->ovmf_vars[0]) {
		check_ovmf(m);
		hsm_log(m->vm, HSM_LOG_INFO,
			"acrn model: boot check: %s (OVMF, %llu bytes from %#llx, entry %#llx:%#llx, "
			"%llu MiB RAM in e820, %u ACPI tables, %u processors in the MADT (APIC IDs "
			"%s), MP table at %#llx with %u processors, vars start \"%s\")",
			b->problems ? "FAILED" : "passed", (unsigned long long)b->fw_len,
			(unsigned long long)b->fw_gpa, (unsigned long long)r->cs_base,
			(unsigned long long)r->rip, (unsigned long long)(b->e820_ram >> 20),
			b->acpi_tables, b->madt_cpus, apic_list(b, ids, sizeof(ids)),
			(unsigned long long)b->mp_gpa, b->mp_cpus, b->vars_head);
		return;
	}
	if (!(r->cr0 & 1) || (r->cr0 & 0x80000000u))
		problem(m, "CR0: not protected mode without paging");
	if (r->cs_base || r->cs_limit != 0xffffffffu || !flat_descriptor(m, r, r->cs_sel, true))
		problem(m, "CS is not a flat 4 GiB code segment of the GDT");
	if (!flat_descriptor(m, r, r->ds_sel, false) || r->ss_sel != r->ds_sel ||
	    r->es_sel != r->ds_sel)
		problem(m, "DS/ES/SS are not one flat 4 GiB data segment of the GDT");
	if (!zp) {
		problem(m, "RSI does not point at a page of guest RAM (the zero page)");
		return;
	}
	if (le(zp + 0x1fe, 2) != 0xaa55 || memcmp(zp + 0x202, "HdrS", 4))
		problem(m, "the zero page has no setup header (boot flag, HdrS)");
	if (zp[0x210] == 0)
		problem(m, "the zero page names no boot loader (type_of_loader 0)");
	if (le(zp + 0x214, 4) != r->rip)
		problem(m, "RIP is not the setup header's code32_start");
	if (!guest(m, r->rip, 4096))
		problem(m, "RIP is not in guest RAM");

	/* The command line: NUL-terminated within cmdline_size + 1 bytes. */
	uint64_t cmd = le(zp + 0x228, 4), max = le(zp + 0x238, 4) + 1;
	const uint8_t *c = cmd ? guest(m, cmd, 1) : NULL;
	size_t n = 0;

	while (c && n < max && guest(m, cmd + n, 1) && *guest(m, cmd + n, 1))
		n++;
	if (!c || n == max || !guest(m, cmd + n, 1))
		problem(m, "the command line is not a NUL-terminated string in guest RAM");
	else
		snprintf(b->cmdline, sizeof(b->cmdline), "%.*s", (int)n, (const char *)c);

	b->initrd_gpa = le(zp + 0x218, 4);
	b->initrd_size = le(zp + 0x21c, 4);
	if (b->initrd_size && !guest(m, b->initrd_gpa, b->initrd_size))
		problem(m, "the initrd is not in guest RAM");

	check_e820(m, zp + 0x2d0, zp[0x1e8], 128, 0);
	/* Where there are ACPI tables there is an MP table too: acrn-dm
	 * writes both, and a guest booted with acpi=off reads the latter. */
	if (le(zp + 0x070, 8)) {
		check_acpi(m, le(zp + 0x070, 8));
		model_boot_check_mp(m, zp + 0x2d0, zp[0x1e8] <= 128 ? zp[0x1e8] : 0, rsi);
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
		"initrd %llu bytes, %u ACPI tables, %u processors in the MADT (APIC IDs %s), MP "
		"table at %#llx with %u processors and %u PCI interrupts%s, command line \"%s\")",
		b->problems ? "FAILED" : "passed", (unsigned long long)b->rip,
		(unsigned long long)b->rsi, (unsigned long long)(b->e820_ram >> 20),
		(unsigned long long)b->initrd_size, b->acpi_tables, b->madt_cpus,
		apic_list(b, ids, sizeof(ids)), (unsigned long long)b->mp_gpa, b->mp_cpus,
		b->mp_npci, pci, b->cmdline);
}
