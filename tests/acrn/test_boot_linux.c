/*
 * test_boot_linux.c - vdm's bzImage loader (devicemodel/boot_linux.c) on
 * the ACRN back-end over the HSM model: the model's boot check, a parser
 * of its own, reads the guest at START_VM and must agree (zero page, setup
 * header, command line, initrd, e820 = the RAM mapped, entry registers,
 * GDT); the kernel and initrd bytes are where the header says.  Then every
 * kind of bad kernel file is refused with one line naming the problem.
 * The bzImages are made here to the boot protocol's layout; a real
 * Debian kernel is loaded by tests/acrn/boot_linux.sh.
 */
#include "acrn_model.h"
#include "boot_linux.h"
#include "drv.h"
#include "fake_bzimage.h"
#include "hsm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM (64ULL << 20)

static char dir[] = "/tmp/vdm-boot-XXXXXX";

static int add_fd(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	(void)loop, (void)fd, (void)events, (void)cb, (void)arg;
	return 0; /* nothing here runs the VM's requests */
}

static int del_fd(void *loop, int fd)
{
	(void)loop, (void)fd;
	return 0;
}

static void handler(void *opaque, struct hsm_ioreq *req)
{
	(void)opaque, (void)req;
}

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
		.backend = spec, .ram_size = RAM, .ioreq = handler,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
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
	struct boot_linux_args a = { kernel, initrd, cmdline };
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
		struct boot_linux_args a = { kernel, NULL, "x" };

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
				     initrd_len ? initrd : NULL, cmdline };
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
	check_catches();

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
	refused("an initrd that does not fit beside the kernel", &fake_good, NULL, 62u << 20, NULL,
		"do not fit");
	char path[200];

	snprintf(path, sizeof(path), "%s/bzImage", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/initrd", dir);
	unlink(path);
	rmdir(dir);
	return drv_result();
}
