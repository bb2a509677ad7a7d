/*
 * test_lapic_ids.c - the local APIC IDs vdm gives the vCPUs in the MADT
 * and the MP table, against what ACRN does: the hypervisor gives a vCPU
 * the local APIC ID of the physical CPU it runs on (vlapic_init, "vLAPIC
 * ID same as pLAPIC ID"), vCPU i running on the i-th CPU of the VM's
 * affinity, and acrn-dm writes those IDs into both tables.  The HSM
 * model's boot check computes them itself (CREATE_VM's affinity and
 * /proc/cpuinfo) and compares both tables.  Here, on a host CPU whose ID
 * is not 0: vdm started with --cpu_affinity naming it gives the one vCPU
 * that ID (the model's log says the check passed, with the ID), and tables
 * numbered by vCPU index, as vdm wrote them before, are caught.  Without
 * --cpu_affinity (every other model test) vCPU i gets i: the hypervisor's
 * configuration places the vCPUs then, which vdm cannot see (acrn-dm
 * refuses to build its tables in that case).
 */
#include "acpi.h"
#include "acrn_model.h"
#include "boot_linux.h"
#include "drv.h"
#include "fake_bzimage.h"
#include "host_cpus.h"
#include "hsm.h"
#include "mptable.h"
#include "null_loop.h"
#include "vdm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/vdm-lapic-XXXXXX";

/* Tables numbered by vCPU index on a VM of host CPU cpu: the model's boot
 * check finds the MADT's ID wrong. */
static void index_numbering_caught(unsigned cpu, long apic_id, const char *kernel)
{
	char spec[160], err[256];
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model,vcpus=1:%s/index.sock", dir);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = 128 << 20, .ioreq = null_ioreq,
		.loop = { .add_fd = null_add_fd, .del_fd = null_del_fd }, .cpu_affinity = 1ULL << cpu,
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	struct boot_linux_args a = { kernel, NULL, "x", 0 };
	struct hsm_boot_cpu bc;
	struct acrn_model_boot rep;

	if (!drv_check(vm != NULL, "a VM on CPU %u over the model (%s)", cpu, vm ? "ok" : err))
		return;
	if (acpi_build(vm, 1, NULL, NULL, 0, NULL, &a.acpi_rsdp, err, sizeof(err)) ||
	    mptable_build(vm, 1, NULL, NULL, 0, err, sizeof(err)) ||
	    boot_linux_load(vm, &a, &bc, err, sizeof(err)) ||
	    hsm_set_boot_cpu(vm, &bc, err, sizeof(err)) || hsm_start(vm, err, sizeof(err))) {
		drv_check(false, "tables and kernel load (%s)", err);
	} else {
		acrn_model_boot_report(acrn_model_of(vm), &rep);
		drv_check(rep.problems >= 2 && strstr(rep.first_problem, "local APIC ID 0") &&
				  rep.apic_ids[0] == 0,
			  "tables giving the vCPU ID 0 (its index) are caught, the hypervisor "
			  "giving it %ld (%u problems: %s)",
			  apic_id, rep.problems, rep.first_problem);
		hsm_stop(vm);
	}
	hsm_close(vm);
}

/* vdm itself with --cpu_affinity: the boot check passes, with the ID. */
static void vdm_numbers_as_acrn(long apic_id, const char *kernel)
{
	char logpath[200], log[32768], aff[24], want[64];
	struct vdm_proc p;
	int st = -1;

	setenv("VDM_TEST_HSM", "acrn:model,vcpus=1", 1);
	drv_use_acrn_model();
	snprintf(logpath, sizeof(logpath), "%s/vdm.log", dir);
	snprintf(aff, sizeof(aff), "%ld", apic_id);
	if (vdm_spawn(&p, (const char *const[]){ "-v", "--log-file", logpath, "--cpu_affinity", aff,
						 "-k", kernel, "-s", "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "vdm starts with --cpu_affinity %s (exit %d)", aff, st);
		return;
	}
	st = vdm_stop(&p);
	read_log(logpath, log, sizeof(log));
	snprintf(want, sizeof(want), "1 processors in the MADT (APIC IDs %ld)", apic_id);
	drv_check(st == 0 && strstr(log, "boot check: passed") && strstr(log, want),
		  "vdm --cpu_affinity %s: the MADT and the MP table give the vCPU local APIC ID "
		  "%ld, and the model's check passes",
		  aff, apic_id);
	if (!strstr(log, "boot check: passed"))
		fputs(log, stderr);
	unlink(logpath);
}

int main(void)
{
	char kernel[200];
	unsigned cpu = 0;
	long id = -1;

	if (!mkdtemp(dir) || acrn_model_register())
		return 99;
	/* A CPU whose local APIC ID differs from vCPU 0's index. */
	for (unsigned c = 0; c < 64 && id <= 0; c++) {
		id = host_cpu_apic_id(c);
		cpu = c;
	}
	if (id <= 0 || id > 254) {
		printf("SKIP: no host CPU with a local APIC ID other than 0\n");
		rmdir(dir);
		return 77;
	}
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	write_kernel(kernel, &fake_good);
	index_numbering_caught(cpu, id, kernel);
	vdm_numbers_as_acrn(id, kernel);
	unlink(kernel);
	rmdir(dir);
	return drv_result();
}
