/*
 * host_cpus.h - the host's CPUs as /proc/cpuinfo numbers them, and the
 * local APIC IDs an ACRN post-launched VM's vCPUs carry.  ACRN gives each
 * vCPU the local APIC ID of the physical CPU it runs on (vlapic_init in
 * hypervisor/arch/x86/guest/vlapic.c: "vLAPIC ID same as pLAPIC ID"), and
 * vCPU i runs on the i-th CPU of the VM's affinity; acrn-dm writes those
 * IDs into the MADT and the MP table (basl_fwrite_madt in
 * hw/platform/acpi/acpi.c, mpt_build_proc_entries in core/mptbl.c, both
 * through pcpuid_from_vcpuid and lapicid_from_pcpuid).
 */
#ifndef VDM_HOST_CPUS_H
#define VDM_HOST_CPUS_H

#include <stddef.h>
#include <stdint.h>

/* The number of the host CPU whose local APIC ID is apic_id, or -1. */
int host_cpu_of_apic_id(unsigned long apic_id);

/* The local APIC ID of host CPU cpu, or -1. */
long host_cpu_apic_id(unsigned cpu);

/*
 * Each of vcpus vCPUs' local APIC IDs into ids[]: for a VM on the CPUs of
 * affinity (a bit per host CPU, as --cpu_affinity made it), the IDs of
 * those CPUs in ascending order; without an affinity (0) the hypervisor's
 * configuration places the vCPUs, which vdm cannot see, and vCPU i gets i.
 * Returns 0, or a negative errno with one line in err (more vCPUs than
 * CPUs in the affinity, a CPU /proc/cpuinfo does not list, an ID above
 * 254).
 */
int host_vcpu_apic_ids(uint64_t affinity, unsigned vcpus, uint8_t *ids, char *err,
		       size_t errlen);

#endif /* VDM_HOST_CPUS_H */
