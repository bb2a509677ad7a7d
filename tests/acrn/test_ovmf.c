/*
 * test_ovmf.c - acrn-dm's --ovmf on vdm's ACRN back-end over the HSM model,
 * whose boot check (tests/acrn/acrn_model_boot.c, its own parser) reads at
 * each START_VM what firmware would find: the files' bytes ending at 4 GiB,
 * the boot CPU at the reset vector, the e820 table at 0xEF000 and the ACPI
 * tables.  Images: Debian's real OVMF_CODE.fd/OVMF_VARS.fd (package ovmf),
 * one 2 MiB image made of them as ACRN's OVMF.fd is laid out (vars, then
 * code), and small synthetic ones.  The --ovmf spellings are the three of
 * ACRN's doc/user-guides/acrn-dm-parameters.rst (PATH, code=,vars=, w,PATH;
 * launch_user_vm_id2.sh's line is the first).  Shown: each loads; the boot
 * check fails on a wrong placement, entry or e820 table; the model's
 * "firmware" writes a mark into its vars at each pause, and with w the vars
 * file holds it after SIGTERM, after a guest reboot (the reboot reloads
 * the vars written back: the second boot check compares with the file)
 * and after power-off; without w the file is untouched; every bad input
 * is one line and exit 2 before a VM exists.
 */
#include "acpi.h"
#include "acrn_model.h"
#include "boot_ovmf.h"
#include "drv.h"
#include "hsm.h"
#include "mptable.h"
#include "vdm_log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RAM (128ULL << 20)
#define DEB_CODE "/usr/share/OVMF/OVMF_CODE.fd"
#define DEB_VARS "/usr/share/OVMF/OVMF_VARS.fd"

static char dir[] = "/tmp/vdm-ovmf-XXXXXX";

static int add_fd(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	(void)loop, (void)fd, (void)events, (void)cb, (void)arg;
	return 0;
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

/* A file of len bytes of a pattern seeded by seed (or a copy of from). */
static void make_file(const char *path, size_t len, unsigned seed, const char *from)
{
	FILE *in = from ? fopen(from, "rb") : NULL, *out = fopen(path, "wb");

	for (size_t i = 0; out && i < len; i++)
		fputc(in ? fgetc(in) : (int)((i * 131 + seed) >> 3 & 0xff), out);
	if (in)
		fclose(in);
	if (out)
		fclose(out);
}

static bool same_files(const char *a, const char *b)
{
	FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
	bool same = x && y;
	int c, d;

	while (same) {
		c = fgetc(x);
		d = fgetc(y);
		same = c == d;
		if (c == EOF || d == EOF)
			break;
	}
	if (x)
		fclose(x);
	if (y)
		fclose(y);
	return same;
}

static bool starts_with(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, strlen(text) + 1, f) : 0;

	if (f)
		fclose(f);
	return n == strlen(text) + 1 && !memcmp(buf, text, n);
}

static int count(const char *log, const char *what)
{
	int n = 0;

	for (const char *p = strstr(log, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

/* ---- the loader and the boot check, in this process ---- */

static struct hsm_vm *open_vm(const char *name, const char *model_opts, uint64_t fw)
{
	char spec[1200], err[256];
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model,%s:%s/%s.sock", model_opts, dir, name);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = RAM, .fw_size = fw, .ioreq = handler,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));

	if (!vm)
		drv_check(false, "open a VM on the model: %s", err);
	return vm;
}

enum spoil { SPOIL_NONE, SPOIL_SHIFT, SPOIL_ENTRY, SPOIL_E820 };

/* Load arg with boot_ovmf.c and the ACPI tables, spoil one thing, start
 * the VM: the boot check's report. */
static struct acrn_model_boot load_and_check(const char *arg, const char *model_opts,
					     enum spoil spoil)
{
	struct acrn_model_boot rep = { 0 };
	struct hsm_boot_cpu cpu;
	struct ovmf o;
	char err[256];
	uint64_t rsdp;

	if (ovmf_parse(&o, arg, err, sizeof(err)) || ovmf_open(&o, err, sizeof(err))) {
		drv_check(false, "--ovmf %s parses and opens (%s)", arg, err);
		return rep;
	}
	struct hsm_vm *vm = open_vm("direct", model_opts, ovmf_fw_size(&o));

	if (vm && acpi_build(vm, hsm_vcpu_count(vm), NULL, NULL, 0, NULL, &rsdp, err, sizeof(err)) == 0 &&
	    mptable_build(vm, hsm_vcpu_count(vm), NULL, NULL, 0, err, sizeof(err)) == 0 &&
	    ovmf_load(&o, vm, &cpu, err, sizeof(err)) == 0) {
		uint64_t size = o.image ? o.image_size : o.code_size + o.vars_size;
		uint8_t *top = hsm_gpa_to_hva(vm, OVMF_TOP - size - 4096, size + 4096);

		if (spoil == SPOIL_SHIFT && top)
			memmove(top, top + 4096, size); /* one page too low */
		if (spoil == SPOIL_ENTRY)
			cpu.rip += 16;
		if (spoil == SPOIL_E820)
			memcpy(hsm_gpa_to_hva(vm, OVMF_E820_GPA, 4), "E820", 4);
		hsm_set_boot_cpu(vm, &cpu, err, sizeof(err));
		hsm_start(vm, err, sizeof(err));
		acrn_model_boot_report(acrn_model_of(vm), &rep);
		hsm_stop(vm);
	} else {
		drv_check(false, "--ovmf %s loads (%s)", arg, err);
	}
	hsm_close(vm);
	ovmf_close(&o);
	return rep;
}

static void direct(const char *code, const char *vars)
{
	char arg[600], opts[600];

	snprintf(arg, sizeof(arg), "code=%s,vars=%s", code, vars);
	snprintf(opts, sizeof(opts), "ovmf_code=%s,ovmf_vars=%s", code, vars);
	struct acrn_model_boot r = load_and_check(arg, opts, SPOIL_NONE);

	drv_check(r.checked && r.firmware && r.problems == 0,
		  "synthetic split images: the boot check passes (%s)", r.first_problem);
	drv_check(r.fw_gpa == OVMF_TOP - (64 << 10) - (192 << 10),
		  "vars then code end at 4 GiB (from %#llx)", (unsigned long long)r.fw_gpa);
	drv_check(r.e820_ram == RAM - 0x60000,
		  "OVMF's e820: all of -m is RAM but the legacy window; firmware memory reserved");
	drv_check(r.acpi_tables >= 3 && r.madt_cpus > 0, "the ACPI tables are found from the "
							  "BIOS area's RSDP");
	drv_check(r.mp_gpa == MPTABLE_GPA && r.mp_cpus == r.madt_cpus,
		  "and the MP table, as acrn-dm writes it for OVMF too (%u processors)", r.mp_cpus);

	static const struct {
		enum spoil spoil;
		const char *what, *want;
	} cases[] = {
		{ SPOIL_SHIFT, "the image one page too low", "not the file's bytes" },
		{ SPOIL_ENTRY, "an entry 16 bytes off the reset vector", "reset vector" },
		{ SPOIL_E820, "a clobbered e820 signature", "e820 table" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = load_and_check(arg, opts, cases[i].spoil);
		drv_check(r.problems > 0 && strstr(r.first_problem, cases[i].want),
			  "the boot check finds %s (%s)", cases[i].what, r.first_problem);
	}
}

/* ---- vdm itself ---- */

enum ending { STOP, REBOOT_THEN_STOP, POWER_OFF };

/* vdm with --ovmf arg over the model (model_opts), ended as asked; the
 * log in log.  Returns vdm's exit status. */
static int run_vm(const char *arg, const char *model_opts, enum ending how, char *log,
		  size_t loglen)
{
	char hsm[1200], logpath[200];
	struct vdm_proc p;
	struct drv d;
	int st = -1;

	snprintf(hsm, sizeof(hsm), "acrn:model,%s", model_opts);
	setenv("VDM_TEST_HSM", hsm, 1);
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, "-m", "128M", "--ovmf",
						 arg, "-s", "0:0,hostbridge", "POST_STD_VM1", NULL },
		      &st)) {
		read_log(logpath, log, loglen);
		unlink(logpath);
		return st;
	}
	drv_connect(&d, p.sock);
	if (how == REBOOT_THEN_STOP) {
		drv_pio_write(&d, 0xcf9, 1, 0x06);
		wait_log(logpath, log, loglen, "guest rebooted (1 so far)");
	}
	if (how == POWER_OFF) {
		drv_pio_write(&d, 0x404, 2, 5 << 10 | 1 << 13);
		for (int i = 0; i < 500 && p.pid; i++) {
			if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
				p.pid = 0;
				st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			}
			usleep(10000);
		}
	}
	drv_disconnect(&d);
	if (p.pid)
		st = vdm_stop(&p);
	read_log(logpath, log, loglen);
	unlink(logpath);
	return st;
}

static void runs(const char *code, const char *image)
{
	static char log[1 << 17];
	char arg[600], opts[600], vars[200], img[200];
	int st;

	/* Debian's split images, with w: a reboot and then SIGTERM. */
	snprintf(vars, sizeof(vars), "%s/VARS.fd", dir);
	make_file(vars, 128 << 10, 0, DEB_VARS);
	snprintf(arg, sizeof(arg), "w,code=%s,vars=%s", code, vars);
	snprintf(opts, sizeof(opts), "ovmf_code=%s,ovmf_vars=%s,ovmf_mark=VDM-TEST", code, vars);
	st = run_vm(arg, opts, REBOOT_THEN_STOP, log, sizeof(log));
	drv_check(st == 0, "--ovmf %s: vdm runs, reboots and stops (status %d)", arg, st);
	drv_check(count(log, "boot check: passed (OVMF") == 2 && !strstr(log, "protocol violation:"),
		  "the boot check passes at the start and after the reboot, no violation");
	drv_check(strstr(log, "guest rebooted (1 so far)") &&
			  strstr(log, "the firmware wrote \"VDM-TEST-1\""),
		  "the guest rebooted after the firmware wrote VDM-TEST-1 into its vars");
	drv_check(strstr(log, "vars start \"VDM-TEST-1\")") != NULL,
		  "after the reboot the firmware finds the vars it left (written back, loaded again)");
	drv_check(starts_with(vars, "VDM-TEST-2"),
		  "after SIGTERM the vars file holds the second pause's mark (the first went back "
		  "at the reboot and was loaded again: the second boot check compared it)");
	drv_check(same_files(code, DEB_CODE), "the code file is left alone");
	if (drv_failures())
		fprintf(stderr, "%s\n", log);

	/* The same without w: the file keeps Debian's vars. */
	make_file(vars, 128 << 10, 0, DEB_VARS);
	snprintf(arg, sizeof(arg), "code=%s,vars=%s", code, vars);
	st = run_vm(arg, opts, REBOOT_THEN_STOP, log, sizeof(log));
	drv_check(st == 0 && count(log, "boot check: passed (OVMF") == 2,
		  "--ovmf code=,vars= (acrn-dm-parameters.rst): boots, reboots, the check passes");
	drv_check(same_files(vars, DEB_VARS), "without w the vars file is untouched");
	drv_check(!strstr(log, "vars start \"VDM-TEST-1\")"),
		  "and after the reboot the firmware finds the file's vars, not what it left");

	/* One image, as ACRN's OVMF.fd (launch_user_vm_id2.sh's --ovmf PATH). */
	snprintf(img, sizeof(img), "%s/OVMF.fd", dir);
	make_file(img, 2 << 20, 0, image);
	snprintf(opts, sizeof(opts), "ovmf=%s,ovmf_mark=ONE", img);
	st = run_vm(img, opts, STOP, log, sizeof(log));
	drv_check(st == 0 && count(log, "boot check: passed (OVMF, 2097152 bytes from 0xffe00000") ==
				     1,
		  "--ovmf PATH: a 2 MiB image from 0xFFE00000, the check passes");
	drv_check(same_files(img, image), "without w the image is untouched");

	/* w,PATH and the guest's power-off. */
	snprintf(arg, sizeof(arg), "w,%s", img);
	st = run_vm(arg, opts, POWER_OFF, log, sizeof(log));
	drv_check(st == 0 && count(log, "boot check: passed (OVMF") == 1,
		  "--ovmf w,PATH: starts, the guest powers off, status 0 (%d)", st);
	drv_check(starts_with(img, "ONE-1"), "the image's NV store holds the firmware's mark");
	FILE *a = fopen(img, "rb"), *b = fopen(image, "rb");
	bool rest = a && b && !fseek(a, 128 << 10, SEEK_SET) && !fseek(b, 128 << 10, SEEK_SET);
	int c;

	while (rest && (c = fgetc(a)) != EOF)
		rest = c == fgetc(b);
	drv_check(rest, "and nothing after the first 128 KiB changed");
	if (a)
		fclose(a);
	if (b)
		fclose(b);
}

/* ---- refusals: one line, exit 2, no VM ---- */

static void refused(const char *what, const char *const *args, const char *want)
{
	char out[1024] = "";
	int st = vdm_run(args, out, sizeof(out));
	char *nl = strchr(out, '\n');

	drv_check(st == 2 && strstr(out, want) && nl && !nl[1] && !strstr(out, "CREATE_VM"),
		  "%s: refused in one line (%d: %s)", what, st, out);
}

static void refusals(const char *code, const char *image)
{
	char hsm[300], small[200], big[200], arg[600], vars[200], arg2[600];

	snprintf(hsm, sizeof(hsm), "acrn:model:%s/refused.sock", dir);
	snprintf(small, sizeof(small), "%s/odd.fd", dir);
	make_file(small, 5000, 1, NULL);
	snprintf(big, sizeof(big), "%s/big.fd", dir);
	make_file(big, 3 << 20, 2, NULL);
	snprintf(vars, sizeof(vars), "%s/VARS.fd", dir);
	make_file(vars, 128 << 10, 0, DEB_VARS);
#define R(what, want, ...) refused(what, (const char *const[]){ "--hsm", hsm, __VA_ARGS__, NULL }, want)
	R("a missing image", "No such file", "--ovmf", "/nonexistent/OVMF.fd");
	R("a directory", "not a regular file", "--ovmf", dir);
	R("an image that is not whole 4 KiB pages", "whole 4 KiB pages", "--ovmf", small);
	R("an image over acrn-dm's 2 MiB", "at most 2048 KiB", "--ovmf", big);
	snprintf(arg, sizeof(arg), "code=/usr/share/OVMF/OVMF_CODE_4M.fd,vars=%s", vars);
	R("Debian's 4 MiB code, over acrn-dm's 1920 KiB", "at most 1920 KiB", "--ovmf", arg);
	snprintf(arg, sizeof(arg), "code=%s,vars=/usr/share/OVMF/OVMF_VARS_4M.fd", code);
	R("Debian's 528 KiB vars, over acrn-dm's 128 KiB", "at most 128 KiB", "--ovmf", arg);
	snprintf(arg, sizeof(arg), "code=%s", code);
	R("code without vars", "both code=PATH and vars=PATH", "--ovmf", arg);
	snprintf(arg, sizeof(arg), "%s,code=%s,vars=%s", image, code, vars);
	R("an image and split files", "give one image", "--ovmf", arg);
	R("w alone", "give one image", "--ovmf", "w");
	R("--ovmf twice", "given twice", "--ovmf", image, "--ovmf", image);
	R("--ovmf with -k", "--ovmf and -k", "--ovmf", image, "-k", image);
	R("--ovmf with -B and no kernel", "-B: needs the kernel", "--ovmf", image, "-B", "x");
	refused("--ovmf on the simulator back-end",
		(const char *const[]){ "--hsm", "sim:/tmp/x.sock", "--ovmf", image, NULL },
		"only the ACRN back-end");

	/* A vars file another VM holds (with w): its lock stops vdm. */
	int fd = open(vars, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0) {
		snprintf(arg2, sizeof(arg2), "w,code=%s,vars=%s", code, vars);
		R("a vars file locked by another process", "locked by another process", "--ovmf",
		  arg2);
	} else {
		drv_check(false, "lock %s for the test", vars);
	}
	if (fd >= 0)
		close(fd);
#undef R
}

int main(void)
{
	char scode[200], svars[200], image[200];

	if (access(DEB_CODE, R_OK) || access(DEB_VARS, R_OK)) {
		printf("SKIP: needs Debian's ovmf package (%s)\n", DEB_CODE);
		return 77;
	}
	drv_use_acrn_model();
	if (!mkdtemp(dir) || acrn_model_register())
		return 99;
	snprintf(scode, sizeof(scode), "%s/code.fd", dir);
	snprintf(svars, sizeof(svars), "%s/vars.fd", dir);
	make_file(scode, 192 << 10, 7, NULL);
	make_file(svars, 64 << 10, 9, NULL);
	direct(scode, svars);

	/* ACRN's OVMF.fd layout from Debian's halves: vars, then code. */
	snprintf(image, sizeof(image), "%s/debian-OVMF.fd", dir);
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", DEB_VARS, DEB_CODE, image);
	if (system(cmd))
		return 99;
	/* A copy of the code, writable, to show vdm leaves it alone. */
	char code[200];
	struct stat st;

	snprintf(code, sizeof(code), "%s/CODE.fd", dir);
	if (stat(DEB_CODE, &st))
		return 99;
	make_file(code, (size_t)st.st_size, 0, DEB_CODE);
	runs(code, image);
	refusals(DEB_CODE, image);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 99;
	return drv_result();
}
