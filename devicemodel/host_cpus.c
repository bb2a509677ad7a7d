/*
 * host_cpus.c - host CPU numbers and local APIC IDs from /proc/cpuinfo
 * (each "processor : N" paragraph's "apicid : M"), and the APIC IDs of an
 * ACRN VM's vCPUs (host_cpus.h).
 */
#include "host_cpus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

/* Walk /proc/cpuinfo: the CPU number with apic_id (want_cpu false), or
 * the APIC ID of CPU cpu (want_cpu true); -1 if none. */
static long lookup(bool want_cpu, unsigned long key)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	long processor = -1, found = -1;

	while (f && found < 0 && fgets(line, sizeof(line), f)) {
		unsigned long apic;

		if (sscanf(line, "processor : %ld", &processor) == 1)
			continue;
		if (sscanf(line, "apicid : %lu", &apic) != 1 || processor < 0)
			continue;
		if (!want_cpu && apic == key)
			found = processor;
		else if (want_cpu && (unsigned long)processor == key)
			found = (long)apic;
	}
	if (f)
		fclose(f);
	return found;
}

int host_cpu_of_apic_id(unsigned long apic_id)
{
	long cpu = lookup(false, apic_id);

	return cpu < 0 || cpu > 4095 ? -1 : (int)cpu;
}

long host_cpu_apic_id(unsigned cpu)
{
	return lookup(true, cpu);
}

int host_vcpu_apic_ids(uint64_t affinity, unsigned vcpus, uint8_t *ids, char *err,
		       size_t errlen)
{
	unsigned i = 0;

	if (!affinity) {
		for (i = 0; i < vcpus; i++)
			ids[i] = (uint8_t)i;
		return 0;
	}
	for (unsigned cpu = 0; cpu < 64 && i < vcpus; cpu++) {
		if (!(affinity & (1ULL << cpu)))
			continue;
		long id = host_cpu_apic_id(cpu);

		if (id < 0 || id > 254) {
			snprintf(err, errlen,
				 "CPU %u of --cpu_affinity has %s local APIC ID for the guest's tables",
				 cpu, id < 0 ? "no" : "too large a");
			return -EINVAL;
		}
		ids[i++] = (uint8_t)id;
	}
	if (i < vcpus) {
		snprintf(err, errlen,
			 "the hypervisor gave the VM %u vCPUs, --cpu_affinity names %u CPUs: the "
			 "other vCPUs' local APIC IDs are unknown",
			 vcpus, i);
		return -EINVAL;
	}
	return 0;
}
