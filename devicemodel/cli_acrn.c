/*
 * cli_acrn.c - acrn-dm's options vdm has no counterpart for (cli_acrn.h),
 * decided one by one from what each does in acrn-dm (devicemodel/core/
 * main.c and the code behind it in ACRN's tree):
 *   - taken, because acrn-dm ignores it too (it calls them obsolete) or
 *     vdm already behaves that way: a launch script carrying one runs;
 *   - refused with one line, because it asks for something vdm does not
 *     do, and a VM started without it would not be the VM asked for.
 * acrn-dm's options that vdm implements (-s, -m, -l, -k, -r, -B, -U,
 * --ovmf, --cpu_affinity, --virtio_poll, --logger_setting) are cli.c's.
 */
#include "cli_acrn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

struct acrn_opt {
	const char *name; /* the long name */
	char letter;      /* acrn-dm's short option, or 0 */
	int arg;          /* no_, required_ or optional_argument, as getopt_long */
	bool taken;       /* vdm goes on (why: what it does) or refuses (why: what it lacks) */
	const char *why;
};

static const struct acrn_opt acrn_opts[] = {
	/* acrn-dm: obsolete, "virtual ACPI tables are always enabled".  vdm
	 * writes them whenever it loads the guest (-k, --ovmf). */
	{ "acpi", 'A', no_argument, true, "vdm always writes ACPI tables for the guest it loads" },
	/* acrn-dm: obsolete; it writes the MP table whatever it loads, as
	 * vdm does (platform_reset.c). */
	{ "mptgen", 'Y', no_argument, true, "vdm always writes an MP table for the guest it loads" },
	/* Obsolete in acrn-dm, which only warns that it ignores them. */
	{ "ioc_node", 'i', required_argument, true, "obsolete in acrn-dm, which ignores it too" },
	{ "gvtargs", 'G', required_argument, true, "obsolete in acrn-dm, which ignores it too" },
	{ "vsbl", 0, required_argument, true, "obsolete in acrn-dm, which ignores it too" },
	{ "part_info", 0, required_argument, true, "obsolete in acrn-dm, which ignores it too" },
	{ "pm_by_vuart", 0, required_argument, true, "obsolete in acrn-dm, which ignores it too" },
	/* acrn-dm only warns: the MAC comes from virtio-net's own mac_seed=,
	 * which vdm takes. */
	{ "mac_seed", 0, required_argument, true,
	  "obsolete in acrn-dm, which ignores it too: virtio-net's mac_seed= sets the MAC" },
	/* The ASL compiler acrn-dm builds its tables with; vdm emits AML
	 * itself (aml.c), so there is nothing to run. */
	{ "iasl", 0, required_argument, true, "vdm writes AML itself and runs no ASL compiler" },

	{ "elf_file", 'E', required_argument, false,
	  "loading an ELF guest image (vdm loads -k or --ovmf)" },
	{ "enable_trusty", 0, no_argument, false, "a Trusty secure world" },
	{ "debugexit", 0, no_argument, false, "the debug-exit port" },
	{ "intr_monitor", 0, required_argument, false, "the interrupt-storm monitor" },
	{ "cmd_monitor", 0, required_argument, false,
	  "the command monitor socket (vdm's management API is --api-socket)" },
	{ "acpidev_pt", 0, required_argument, false, "passing ACPI devices through" },
	{ "mmiodev_pt", 0, required_argument, false, "passing MMIO devices through" },
	{ "vtpm2", 0, required_argument, false, "a virtual TPM 2.0" },
	/* Both make a real-time VM in acrn-dm (--rtvm implies --lapic_pt):
	 * LAPIC pass-through and polled I/O completion. */
	{ "lapic_pt", 0, no_argument, false,
	  "real-time VMs (LAPIC pass-through, polled I/O completion)" },
	{ "rtvm", 0, no_argument, false,
	  "real-time VMs (LAPIC pass-through, polled I/O completion)" },
	/* required_argument in acrn-dm's main.c, yet its launch-script
	 * generator writes it bare: refused either way. */
	{ "ssram", 0, optional_argument, false, "software SRAM for real-time VMs" },
	/* Still acted on by acrn-dm although it calls it obsolete: power
	 * events from the IOC, the power button or a vUART. */
	{ "pm_notify_channel", 0, required_argument, false, "power-event notification channels" },
	{ "windows", 0, no_argument, false, "Windows guests (Oracle's virtio driver IDs)" },
	/* acrn-dm then gives virtio devices one MSI vector instead of MSI-X;
	 * vdm's have MSI-X (or INTx) and no MSI capability. */
	{ "virtio_msi", 0, no_argument, false,
	  "single-vector MSI for virtio devices (vdm offers MSI-X)" },
};

#define N_ACRN_OPTS (sizeof(acrn_opts) / sizeof(acrn_opts[0]))

const struct option *cli_acrn_options(size_t *n)
{
	static struct option opts[N_ACRN_OPTS];

	for (size_t i = 0; i < N_ACRN_OPTS; i++)
		opts[i] = (struct option){ acrn_opts[i].name,
					   acrn_opts[i].arg,
					   NULL,
					   acrn_opts[i].letter ? acrn_opts[i].letter
							       : CLI_ACRN_OPT_BASE + (int)i };
	*n = N_ACRN_OPTS;
	return opts;
}

int cli_acrn_option(int c, const char **note, char *err, size_t errlen)
{
	static char notes[N_ACRN_OPTS][160];
	const struct acrn_opt *o = NULL;
	char name[48];

	for (size_t i = 0; i < N_ACRN_OPTS && !o; i++)
		if (acrn_opts[i].letter ? c == acrn_opts[i].letter
					: c == CLI_ACRN_OPT_BASE + (int)i)
			o = &acrn_opts[i];
	if (!o)
		return 1;
	if (o->letter)
		snprintf(name, sizeof(name), "-%c/--%s", o->letter, o->name);
	else
		snprintf(name, sizeof(name), "--%s", o->name);
	if (!o->taken) {
		snprintf(err, errlen, "'%s': an acrn-dm option vdm does not support: %s", name,
			 o->why);
		return -ENOTSUP;
	}
	snprintf(notes[o - acrn_opts], sizeof(notes[0]), "acrn-dm's %s taken and ignored: %s",
		 name, o->why);
	*note = notes[o - acrn_opts];
	return 0;
}
