/*
 * test_boot_linux.c - vdm's bzImage loader (devicemodel/boot_linux.c) on
 * the ACRN back-end over the HSM model: the model's boot check, a parser
 * of its own, reads the guest at START_VM and must agree (zero page, setup
 * header, command line, initrd, e820 = the RAM mapped, entry registers,
 * GDT, the ACPI tables, the MP table against the _PRT); the kernel and
 * initrd bytes are where the header says.  Then every
 * kind of bad kernel file is refused with one line naming the problem.
 * The bzImages are made here to the boot protocol's layout; a real
 * Debian kernel is loaded by tests/acrn/boot_linux.sh.
 */
#include "acpi.h"
#include "acrn_model.h"
#include "boot_linux.h"
#include "drv.h"
#include "fake_bzimage.h"
#include "hsm.h"
#include "mptable.h"
#include "null_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM (128ULL << 20)

static char dir[] = "/tmp/vdm-boot-XXXXXX";

static void write_initrd(const char *path, size_t len)
{
	FILE *out = fopen(path, "w");

	for (size_t i = 0; i < len; i++)
		fputc((int)((i * 13 + 5) & 0xff), out);
	fclose(out);
}

static struct hsm_vm *open_vm(const char *name)
{
	char spec[160], err[256];
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model:%s/%s.sock", dir, name);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = RAM, .ioreq = null_ioreq,
		.loop = { .add_fd = null_add_fd, .del_fd = null_del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));

	if (!vm)
		drv_check(false, "open a VM on the model: %s", err);
	return vm;
}

static void loads(void)
{
	char kernel[200], initrd[200], err[256];
	const char *cmdline = "console=ttyS0 root=/dev/vda rw quiet";
	struct hsm_boot_cpu cpu;
	struct acrn_model_boot rep;
	struct hsm_vm *vm = open_vm("good");

	if (!vm)
		return;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd", dir);
	write_kernel(kernel, &fake_good);
	write_initrd(initrd, 300001);
	struct boot_linux_args a = { kernel, initrd, cmdline, 0 };
	int ret = boot_linux_load(vm, &a, &cpu, err, sizeof(err));

	drv_check(ret == 0, "a bzImage, initrd and command line load (%s)", ret ? err : "ok");
	drv_check(hsm_set_boot_cpu(vm, &cpu, err, sizeof(err)) == 0, "SET_VCPU_REGS taken");
	drv_check(hsm_start(vm, err, sizeof(err)) == 0, "START_VM (%s)", err);
	acrn_model_boot_report(acrn_model_of(vm), &rep);
	drv_check(rep.checked && rep.problems == 0, "the model's boot check finds nothing wrong (%s)",
		  rep.first_problem);
	drv_check(!strcmp(rep.cmdline, cmdline), "the command line it reads is -B's (%s)",
		  rep.cmdline);
	drv_check(rep.e820_ram == RAM - 0x60000,
		  "e820: all of -m is RAM but the legacy window (%llu bytes)",
		  (unsigned long long)rep.e820_ram);
	drv_check(rep.rip == 0x100000 && rep.rsi != 0, "entry at 1 MiB, RSI the zero page");

	const uint8_t *k = hsm_gpa_to_hva(vm, rep.rip, PAYLOAD);
	bool kernel_ok = k != NULL;

	for (size_t i = 0; k && i < PAYLOAD; i++)
		kernel_ok &= k[i] == (uint8_t)((i + 1024) * 7 + 3);
	drv_check(kernel_ok, "the protected-mode kernel is at the entry, byte for byte");

	const uint8_t *r = rep.initrd_size == 300001 ? hsm_gpa_to_hva(vm, rep.initrd_gpa, 300001)
						     : NULL;
	bool initrd_ok = r != NULL;

	for (size_t i = 0; r && i < 300001; i++)
		initrd_ok &= r[i] == (uint8_t)((i * 13 + 5) & 0xff);
	drv_check(initrd_ok && rep.initrd_gpa % 4096 == 0 &&
			  rep.initrd_gpa >= 0x100000 + (4u << 20),
		  "the initrd is where the header says, page-aligned, above what the kernel needs "
		  "(%#llx)",
		  (unsigned long long)rep.initrd_gpa);
	hsm_stop(vm);
	hsm_close(vm);
}

/* Write len bytes of guest RAM at gpa to path. */
static bool dump(struct hsm_vm *vm, uint64_t gpa, uint64_t len, const char *path)
{
	const void *p = len ? hsm_gpa_to_hva(vm, gpa, len) : NULL;
	FILE *f = p ? fopen(path, "w") : NULL;
	bool ok = f && fwrite(p, 1, len, f) == len;

	if (f)
		fclose(f);
	return ok;
}

/*
 * iasl -d on len bytes of guest RAM at gpa: its exit status, and the
 * disassembly in text with comments and all white space taken out, so
 * that a declaration spread over lines reads as one string (iasl pads and
 * annotates as it likes).  -1 when the bytes or the files are missing.
 */
static int iasl_text(struct hsm_vm *vm, uint64_t gpa, uint64_t len, const char *name, char *text,
		     size_t textlen)
{
	char path[200], dsl[200], cmd[600];
	size_t n = 0;
	int c, st;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	snprintf(dsl, sizeof(dsl), "%s/%s.dsl", dir, name);
	snprintf(cmd, sizeof(cmd), "iasl -d %s >%s/iasl.out 2>&1", path, dir);
	st = dump(vm, gpa, len, path) ? system(cmd) : -1;
	FILE *f = fopen(dsl, "r");

	while (f && (c = fgetc(f)) != EOF && n + 1 < textlen) {
		int next = c == '/' ? fgetc(f) : EOF;

		if (next == '/') { /* to the end of the line */
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		} else if (next == '*') { /* to the closing star-slash */
			for (int prev = 0; (c = fgetc(f)) != EOF && !(prev == '*' && c == '/');)
				prev = c;
		} else {
			if (next != EOF)
				ungetc(next, f);
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
				text[n++] = (char)c;
		}
	}
	text[n] = '\0';
	if (f)
		fclose(f);
	else
		st = -1;
	unlink(path);
	unlink(dsl);
	snprintf(path, sizeof(path), "%s/iasl.out", dir);
	unlink(path);
	return st;
}

/* With ACPI tables: the boot check follows the zero page's RSDP through
 * every checksum, and Debian's iasl disassembles each table vdm wrote
 * without an error (it checks the binary layout of the FADT and MADT and
 * parses the DSDT's AML). */
static void acpi_tables(void)
{
	char kernel[200], err[256] = "";
	struct hsm_boot_cpu cpu;
	struct acrn_model_boot rep;
	struct hsm_vm *vm = open_vm("acpi");
	uint64_t rsdp = 0;

	if (!vm)
		return;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	struct boot_linux_args a = { kernel, NULL, "console=ttyS0", 0 };

	static const struct acpi_intx_route routes[] = { { 3, 1, 19 }, { 5, 1, 21 } };
	/* acrn-dm's layout: the LPC bridge at 1:0, COM1 and COM2 of -l. */
	static const struct acpi_isa isa = { true, 1, 0, 2, { { 1, 0x3f8, 4 }, { 2, 0x2f8, 3 } } };

	drv_check(acpi_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, &isa, &rsdp, err,
			     sizeof(err)) == 0 &&
			  rsdp == ACPI_RSDP_GPA,
		  "ACPI tables built for %u vCPUs (%s)", hsm_vcpu_count(vm), err);
	drv_check(mptable_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, err, sizeof(err)) == 0,
		  "an MP table built with the same routes (%s)", err);
	a.acpi_rsdp = rsdp;
	if (!drv_check(boot_linux_load(vm, &a, &cpu, err, sizeof(err)) == 0 &&
			       hsm_set_boot_cpu(vm, &cpu, err, sizeof(err)) == 0 &&
			       hsm_start(vm, err, sizeof(err)) == 0,
		       "loaded and started with them (%s)", err)) {
		hsm_close(vm);
		return;
	}
	acrn_model_boot_report(acrn_model_of(vm), &rep);
	drv_check(rep.problems == 0 && rep.acpi_tables == 3 && rep.madt_cpus == 8 &&
			  rep.madt_ioapic && rep.pm1a_cnt_port == ACPI_PM1A_CNT_PORT,
		  "the boot check finds RSDP, XSDT, FADT, DSDT and a MADT with 8 processors and "
		  "the IOAPIC (%u tables, %u processors; %s)",
		  rep.acpi_tables, rep.madt_cpus, rep.first_problem);
	drv_check(rep.ncom == 2 && !strcmp(rep.com[0].name, "COM1") && rep.com[0].uid == 1 &&
			  rep.com[0].port == 0x3f8 && rep.com[0].nports == 8 &&
			  rep.com[0].irq_mask == 1u << 4 && !strcmp(rep.com[1].name, "COM2") &&
			  rep.com[1].uid == 2 && rep.com[1].port == 0x2f8 && rep.com[1].nports == 8 &&
			  rep.com[1].irq_mask == 1u << 3,
		  "the boot check reads COM1 (0x3f8, IRQ 4) and COM2 (0x2f8, IRQ 3) from the "
		  "DSDT (%u serial ports)",
		  rep.ncom);
	drv_check(rep.mp_gpa == MPTABLE_GPA && rep.mp_cpus == 8 && rep.mp_ioapic &&
			  rep.mp_lint1_nmi && rep.mp_isa_irqs == 15,
		  "the boot check finds the MP table's floating pointer at %#llx, 8 processors, "
		  "the IOAPIC, 15 ISA IRQs and the NMI (%u processors, %u ISA IRQs)",
		  (unsigned long long)rep.mp_gpa, rep.mp_cpus, rep.mp_isa_irqs);
	drv_check(rep.nprt == 2 && rep.mp_npci == 2 &&
			  !memcmp(&rep.prt[0], &(struct acrn_model_intx){ 3, 1, 19 }, 3) &&
			  !memcmp(&rep.prt[1], &(struct acrn_model_intx){ 5, 1, 21 }, 3) &&
			  !memcmp(rep.mp_pci, rep.prt, sizeof(rep.prt[0]) * 2),
		  "the _PRT read from the DSDT's AML and the MP table's PCI entries are the two "
		  "routes given: 03.A on GSI 19, 05.A on GSI 21");
	/* What iasl shows, white space and comments taken out (iasl_text). */
	static const struct {
		const char *file;
		const char *must; /* in the disassembly */
	} tables[] = {
		{ "dsdt", "Name(_PRT,Package(0x02)" },
		{ "dsdt", "EisaId(\"PNP0B00\"))" },
		/* The COM ports of -l inside the LPC bridge's device, as acrn-dm
		 * declares them: PNP0501, _UID the COM number, 8 ports, the IRQ. */
		{ "dsdt", "Device(ISA){Name(_ADR,0x00010000)" },
		/* The 64-bit BAR window, acrn-dm's: 256 GiB to 512 GiB. */
		{ "dsdt", "QWordMemory(ResourceProducer,PosDecode,MinFixed,MaxFixed,NonCacheable,"
			  "ReadWrite,0x0000000000000000,0x0000004000000000,0x0000007FFFFFFFFF,"
			  "0x0000000000000000,0x0000004000000000," },
		{ "dsdt", "Device(COM1){Name(_HID,EisaId(\"PNP0501\"))Name(_UID,One)Name(_CRS,"
			  "ResourceTemplate(){IO(Decode16,0x03F8,0x03F8,0x01,0x08,)IRQNoFlags(){4}})}" },
		{ "dsdt", "Device(COM2){Name(_HID,EisaId(\"PNP0501\"))Name(_UID,0x02)Name(_CRS,"
			  "ResourceTemplate(){IO(Decode16,0x02F8,0x02F8,0x01,0x08,)IRQNoFlags(){3}})}" },
		{ "facp", "PM1AControlBlockAddress:00000404" },
		{ "facp", "RTCCenturyIndex:32" },
		{ "apic", "LocalApicAddress:FEE00000" },
	};
	const uint8_t *madt = hsm_gpa_to_hva(vm, rep.madt_gpa, 8);
	uint64_t madt_len = madt ? (uint64_t)madt[4] | (uint64_t)madt[5] << 8 : 0;
	static char text[65536];

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		bool dsdt = !strcmp(tables[i].file, "dsdt"), facp = !strcmp(tables[i].file, "facp");
		int st = iasl_text(vm, dsdt ? rep.dsdt_gpa : facp ? rep.fadt_gpa : rep.madt_gpa,
				   dsdt ? rep.dsdt_len : facp ? 276 : madt_len, tables[i].file, text,
				   sizeof(text));

		drv_check(st == 0 && strstr(text, tables[i].must),
			  "iasl -d takes the %s and shows %s (exit %d)", tables[i].file,
			  tables[i].must, st);
	}
	hsm_stop(vm);
	hsm_close(vm);
}

/* The boot check is not a yes-man: a wrong entry, a zero page moved, a
 * code selector that is not the GDT's code descriptor are each found. */
static void check_catches(void)
{
	static const struct {
		const char *what, *want;
		uint64_t rip_delta, rsi;
		uint16_t cs;
	} cases[] = {
		{ "an entry that is not code32_start", "code32_start", 0x1000, 0, 0 },
		{ "RSI away from the zero page", "setup header", 0, 0x9000, 0 },
		{ "CS naming the data descriptor", "CS is not", 0, 0, BOOT_DS },
	};
	char kernel[200], err[256];

	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hsm_boot_cpu cpu;
		struct acrn_model_boot rep;
		struct hsm_vm *vm = open_vm("catch");
		struct boot_linux_args a = { kernel, NULL, "x", 0 };

		if (!vm)
			return;
		if (boot_linux_load(vm, &a, &cpu, err, sizeof(err)) == 0) {
			cpu.rip += cases[i].rip_delta;
			if (cases[i].rsi)
				cpu.rsi = cases[i].rsi;
			if (cases[i].cs)
				cpu.cs_sel = cases[i].cs;
			hsm_set_boot_cpu(vm, &cpu, err, sizeof(err));
			hsm_start(vm, err, sizeof(err));
			acrn_model_boot_report(acrn_model_of(vm), &rep);
			drv_check(rep.problems > 0 && strstr(rep.first_problem, cases[i].want),
				  "the boot check finds %s (%s)", cases[i].what, rep.first_problem);
			hsm_stop(vm);
		}
		hsm_close(vm);
	}
}

/* The MP configuration table vdm wrote at MPTABLE_GPA, for damaging. */
static uint8_t *mp_config(struct hsm_vm *vm)
{
	return hsm_gpa_to_hva(vm, MPTABLE_GPA + 16, 4096);
}

/* Re-sum the configuration table after a change (checksum at byte 7). */
static void mp_resum(uint8_t *t)
{
	uint8_t sum = 0;
	unsigned len = (unsigned)(t[4] | t[5] << 8);

	t[7] = 0;
	for (unsigned i = 0; i < len; i++)
		sum = (uint8_t)(sum + t[i]);
	t[7] = (uint8_t)-sum;
}

/* Damage the MP table as case k says. */
static void mp_damage(struct hsm_vm *vm, int k)
{
	uint8_t *t = mp_config(vm);
	unsigned len = (unsigned)(t[4] | t[5] << 8);

	switch (k) {
	case 0: /* a byte changed, the checksum not */
		t[8] ^= 0x20;
		break;
	case 1: /* the floating pointer's checksum off by one */
		((uint8_t *)hsm_gpa_to_hva(vm, MPTABLE_GPA, 16))[10]++;
		break;
	case 2: /* 05.A's entry sent to another GSI, the checksum made right */
	case 3: /* 05.A's entry taken out: the rest moved up, length and count
		 * one entry less, the checksum made right */
		for (unsigned e = 44; e + 8 <= len; e += t[e] == 0 ? 20 : 8) {
			if (t[e] != 3 || t[e + 4] != 0 || t[e + 5] != (5 << 2))
				continue;
			if (k == 2) {
				t[e + 7] = 22;
				break;
			}
			memmove(t + e, t + e + 8, len - e - 8);
			len -= 8;
			t[4] = (uint8_t)len, t[5] = (uint8_t)(len >> 8);
			t[34]--;
			break;
		}
		mp_resum(t);
		break;
	case 4: /* the last processor disabled */
		t[44 + 20 * 7 + 3] = 0;
		mp_resum(t);
		break;
	}
}

/* The boot check reads the MP table itself: a wrong checksum, a
 * floating pointer not summing to 0, a PCI INTx moved to another GSI or
 * missing, a processor short are each found. */
static void check_catches_mp(void)
{
	static const char *const cases[][2] = {
		{ "a configuration table whose checksum is wrong", "checksum or revision" },
		{ "a floating pointer whose checksum is wrong", "no MP floating pointer" },
		{ "an INTx on a GSI other than the _PRT's", "_PRT INTx has no MP table entry" },
		{ "an INTx missing from the MP table", "_PRT INTx has no MP table entry" },
		{ "a processor short", "one enabled processor per vCPU" },
	};
	static const struct acpi_intx_route routes[] = { { 3, 1, 19 }, { 5, 1, 21 } };
	char kernel[200], err[256];

	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	for (int k = 0; k < (int)(sizeof(cases) / sizeof(cases[0])); k++) {
		struct hsm_boot_cpu cpu;
		struct acrn_model_boot rep;
		struct hsm_vm *vm = open_vm("mp");
		struct boot_linux_args a = { kernel, NULL, "x", 0 };

		if (!vm)
			return;
		if (acpi_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, NULL, &a.acpi_rsdp, err,
			       sizeof(err)) ||
		    mptable_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, err, sizeof(err)) ||
		    boot_linux_load(vm, &a, &cpu, err, sizeof(err))) {
			drv_check(false, "tables and kernel load (%s)", err);
			hsm_close(vm);
			return;
		}
		mp_damage(vm, k);
		hsm_set_boot_cpu(vm, &cpu, err, sizeof(err));
		hsm_start(vm, err, sizeof(err));
		acrn_model_boot_report(acrn_model_of(vm), &rep);
		drv_check(rep.problems > 0 && strstr(rep.first_problem, cases[k][1]),
			  "the boot check finds %s (%s)", cases[k][0], rep.first_problem);
		hsm_stop(vm);
		hsm_close(vm);
	}
}

/* The model holds interrupt lines to the routing the guest was given: an
 * INTx on its _PRT GSI and the RTC's IRQ 8 (declared in the DSDT) pass;
 * an INTx on a GSI no _PRT entry names (vdm asserting a wrong line) and
 * an ISA IRQ no device declares are each caught. */
static void check_catches_irqline(void)
{
	static const struct acpi_intx_route routes[] = { { 3, 1, 19 }, { 5, 1, 21 } };
	char kernel[200], err[256];
	struct hsm_boot_cpu cpu;
	struct acrn_model_boot rep;
	struct hsm_vm *vm = open_vm("lines");
	struct boot_linux_args a = { kernel, NULL, "x", 0 };
	struct hsm_irq disk = { .kind = HSM_IRQ_INTX, .bdf = hsm_bdf(0, 3, 0), .pin = 1, .line = 19 };

	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	if (!vm)
		return;
	if (acpi_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, NULL, &a.acpi_rsdp, err,
		       sizeof(err)) ||
	    mptable_build(vm, hsm_vcpu_count(vm), NULL, routes, 2, err, sizeof(err)) ||
	    boot_linux_load(vm, &a, &cpu, err, sizeof(err)) ||
	    hsm_set_boot_cpu(vm, &cpu, err, sizeof(err)) || hsm_start(vm, err, sizeof(err))) {
		drv_check(false, "tables, kernel and START_VM (%s)", err);
		hsm_close(vm);
		return;
	}
	struct acrn_model *m = acrn_model_of(vm);
	unsigned before = acrn_model_violations(m);

	hsm_set_intx(vm, &disk, true);
	hsm_set_intx(vm, &disk, false);
	hsm_set_isa_irq(vm, 8, true);
	hsm_set_isa_irq(vm, 8, false);
	acrn_model_boot_report(m, &rep);
	drv_check(rep.problems == 0 && rep.stray_irqlines == 0 && (rep.isa_irqs & (1u << 8)) &&
			  acrn_model_violations(m) == before,
		  "INTx on the _PRT's GSI 19 and the RTC's IRQ 8 (declared: ISA mask %#x) pass",
		  rep.isa_irqs);
	disk.line = 22; /* a GSI the tables give nobody */
	hsm_set_intx(vm, &disk, true);
	acrn_model_boot_report(m, &rep);
	drv_check(rep.stray_irqlines == 1 && rep.first_stray_gsi == 22 &&
			  acrn_model_violations(m) == before + 1,
		  "an INTx on GSI 22, which no _PRT entry routes, is caught (%u stray, first GSI %u)",
		  rep.stray_irqlines, rep.first_stray_gsi);
	hsm_set_isa_irq(vm, 5, true);
	acrn_model_boot_report(m, &rep);
	drv_check(rep.stray_irqlines == 2 && acrn_model_violations(m) == before + 2,
		  "and so is ISA IRQ 5, which no device declares");
	hsm_set_isa_irq(vm, 4, true);
	acrn_model_boot_report(m, &rep);
	drv_check(rep.stray_irqlines == 3 && acrn_model_violations(m) == before + 3,
		  "and COM1's IRQ 4 where the DSDT declares no COM1");
	hsm_stop(vm);
	hsm_close(vm);
}

/* A COM port declared other than as a PC has it (COM1 on IRQ 3, COM2 at
 * COM1's ports) is a boot problem naming the device. */
static void check_catches_com(void)
{
	static const struct acpi_isa wrong[] = {
		{ false, 0, 0, 1, { { 1, 0x3f8, 3 } } },
		{ true, 1, 0, 1, { { 2, 0x3f8, 3 } } },
	};
	char kernel[200], err[256];

	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	for (int k = 0; k < 2; k++) {
		struct hsm_boot_cpu cpu;
		struct acrn_model_boot rep;
		struct hsm_vm *vm = open_vm("com");
		struct boot_linux_args a = { kernel, NULL, "x", 0 };

		if (!vm)
			return;
		if (acpi_build(vm, hsm_vcpu_count(vm), NULL, NULL, 0, &wrong[k], &a.acpi_rsdp, err,
			       sizeof(err)) ||
		    mptable_build(vm, hsm_vcpu_count(vm), NULL, NULL, 0, err, sizeof(err)) ||
		    boot_linux_load(vm, &a, &cpu, err, sizeof(err)) ||
		    hsm_set_boot_cpu(vm, &cpu, err, sizeof(err)) || hsm_start(vm, err, sizeof(err))) {
			drv_check(false, "tables, kernel and START_VM (%s)", err);
			hsm_close(vm);
			return;
		}
		acrn_model_boot_report(acrn_model_of(vm), &rep);
		drv_check(rep.problems == 1 && rep.ncom == 1 &&
				  strstr(rep.first_problem, k ? "COM2 is not COM2" : "COM1 is not COM1"),
			  "the boot check finds COM%d declared at %#x, IRQ 3 (%s)", k + 1,
			  wrong[k].com[0].port, rep.first_problem);
		hsm_stop(vm);
		hsm_close(vm);
	}
}

/* One bad input: boot_linux_load fails with a line holding want. */
static void refused(const char *what, const struct fake *f, const char *kernel_path,
		    size_t initrd_len, const char *cmdline, const char *want)
{
	char kernel[200], initrd[200], err[256] = "";
	struct hsm_boot_cpu cpu;
	struct hsm_vm *vm = open_vm("bad");

	if (!vm)
		return;
	snprintf(kernel, sizeof(kernel), "%s/bad-bzImage", dir);
	snprintf(initrd, sizeof(initrd), "%s/bad-initrd", dir);
	if (f)
		write_kernel(kernel, f);
	if (initrd_len)
		write_initrd(initrd, initrd_len);
	struct boot_linux_args a = { kernel_path ? kernel_path : kernel,
				     initrd_len ? initrd : NULL, cmdline, 0 };
	int ret = boot_linux_load(vm, &a, &cpu, err, sizeof(err));

	drv_check(ret < 0 && strstr(err, want) && !strchr(err, '\n'),
		  "%s: refused, one line naming it (%s)", what, err);
	hsm_close(vm);
	unlink(kernel);
	unlink(initrd);
}

int main(void)
{
	struct fake f;

	if (!mkdtemp(dir) || acrn_model_register())
		return 99;
	loads();
	acpi_tables();
	check_catches();
	check_catches_mp();
	check_catches_irqline();
	check_catches_com();

	refused("a missing kernel", NULL, "/nonexistent/bzImage", 0, NULL, "No such file");
	refused("a directory", NULL, "/tmp", 0, NULL, "not a regular file");
	f = fake_good, f.len = 600;
	refused("a file shorter than a setup sector", &f, NULL, 0, NULL, "not a bzImage");
	f = fake_good, f.magic = "HdrX";
	refused("no HdrS", &f, NULL, 0, NULL, "not a bzImage");
	f = fake_good, f.boot_flag = 0x1234;
	refused("no boot flag", &f, NULL, 0, NULL, "not a bzImage");
	f = fake_good, f.version = 0x0204;
	refused("boot protocol 2.04", &f, NULL, 0, NULL, "protocol 2.04");
	f = fake_good, f.loadflags = 0;
	refused("a zImage", &f, NULL, 0, NULL, "zImage");
	f = fake_good, f.setup_sects = 200, f.len = 4096;
	refused("setup sectors past the end of the file", &f, NULL, 0, NULL, "past the file");
	f = fake_good, f.init_size = 0x7f000000u;
	refused("init_size beyond guest RAM", &f, NULL, 0, NULL, "guest RAM below 4 GiB");
	f = fake_good, f.cmdline_size = 16;
	refused("a command line longer than the kernel takes", &f, NULL, 0,
		"console=ttyS0 root=/dev/vda rw quiet", "takes 16 at most");
	refused("an initrd larger than guest RAM", &fake_good, NULL, (size_t)RAM + 1, NULL,
		"larger than guest RAM");
	refused("an initrd that does not fit beside the kernel", &fake_good, NULL, (size_t)RAM - (2u << 20), NULL,
		"do not fit");
	char path[200];

	snprintf(path, sizeof(path), "%s/bzImage", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/initrd", dir);
	unlink(path);
	rmdir(dir);
	return drv_result();
}
