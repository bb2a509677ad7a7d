/*
 * acrn_model.h - the public header of libacrnmodel, a test-only library: a
 * user-space model of the ACRN HSM and hypervisor (acrn_model.c,
 * acrn_model_link.c) and the "acrn:model" back-end that puts it behind the
 * acrn back-end's seam to the kernel (acrn_model_backend.c).  Only test
 * programs link it; vdm itself has no model.
 */
#ifndef VDM_ACRN_MODEL_H
#define VDM_ACRN_MODEL_H

#include "acrn_internal.h"

struct acrn_model;

/*
 * Add the "acrn:model[,OPTS]:SOCKET" back-end to libhsm's (before any VM
 * opens): the acrn back-end, unchanged, on a model created from the spec
 * as acrn_model_create reads it.  Returns 0 or a negative errno.
 */
int acrn_model_register(void);

/*
 * Create a model from spec ":SOCKET" or ",OPTS:SOCKET" (the text after
 * "acrn:model"), and point sys at it (sys->release destroys it).  OPTS is
 * a comma-separated list:
 *   vcpus=N         vCPUs (ioreq slots) the hypervisor gives the VM, 1..16
 *   refuse=NAME     the ioctl NAME (e.g. CREATE_VM) fails with EPERM
 *   refuse=NAME/E   ... with errno E (a number)
 *   report_vcpus=N  CREATE_VM reports N vCPUs whatever vcpus is (hostile)
 *   vm=NAME         the hypervisor's configuration has one post-launched VM,
 *                   NAME: CREATE_VM carrying another name fails with EINVAL
 *   assigned=B/D/F  the hypervisor gave this host function to another VM:
 *                   ASSIGN_PCIDEV of it fails with ENODEV (repeatable)
 *   ovmf=PATH       the VM starts in this OVMF image: the boot check reads
 *                   it at the top of 4 GiB, the reset vector state, the
 *                   e820 table at 0xEF000 and the ACPI tables (no zero page)
 *   ovmf_vars=PATH, ovmf_code=PATH   the same for split images
 *   ovmf_mark=TEXT  at each pause of the running VM the firmware writes
 *                   "TEXT-N" (N counting pauses) at the start of its vars
 *   no_qword_windows  the boot check reads the DSDT as if it declared no
 *                   QWordMemory window (so that a 64-bit BAR placed in one
 *                   shows the BAR check catching a BAR outside the windows)
 * The model logs every VM-lifecycle ioctl at debug level ("acrn model:
 * ACRN_IOCTL_... -> 0") so tests can check the order of calls, and what
 * each passthrough ioctl carried ("acrn model: ASSIGN_PCIDEV virt 00:06.0
 * ...").
 */
int acrn_model_create(struct hsm_vm *vm, const char *spec, struct acrn_sys *sys,
		      struct acrn_model **out, char *errbuf, size_t errlen);

/* Stop every model thread and free it (after the back-end closed its fd). */
void acrn_model_destroy(struct acrn_model *m);

/*
 * Play hypervisor for vCPU vcpu with a raw slot image (any content,
 * garbage included): copy req into the slot, mark it PENDING and dispatch
 * it, wait up to timeout_ms for NOTIFY_REQUEST_FINISH and copy the
 * completed slot to done.  Returns 0, -ETIMEDOUT, -EBUSY (slot in use) or
 * -EINVAL.
 */
int acrn_model_raw_request(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req,
			   struct acrn_io_request *done, int timeout_ms);

/*
 * With req, put req in vCPU vcpu's slot as PROCESSING with kernel_handled
 * set, as the HSM does for a request an in-kernel client owns (the device
 * model must leave it alone); with req NULL, complete and free that slot
 * again.  Returns 0, -EBUSY or -EINVAL.
 */
int acrn_model_kernel_slot(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req);

/* The model behind a VM opened on "acrn:model", or NULL. */
struct acrn_model *acrn_model_of(struct hsm_vm *vm);

/* What the boot check (acrn_model_boot.c) found at START_VM after a
 * SET_VCPU_REGS; checked is false when no boot CPU state was given. */
struct acrn_model_boot {
	bool checked;
	unsigned problems;
	char first_problem[128];
	uint64_t rip, rsi;
	char cmdline[512];
	uint64_t initrd_gpa, initrd_size;
	uint64_t e820_ram; /* bytes of RAM the e820 map reports */
	/* ACPI, when the zero page names an RSDP: tables found through the
	 * XSDT with good checksums, the MADT's enabled processors, the DSDT. */
	unsigned acpi_tables, madt_cpus;
	uint8_t apic_ids[16]; /* the MADT's local APIC IDs, vCPU by vCPU */
	bool madt_ioapic;
	uint64_t dsdt_gpa, dsdt_len, fadt_gpa, madt_gpa;
	uint16_t pm1a_cnt_port;
	unsigned nacpi_ranges; /* where the ACPI tables lie, for overlaps */
	struct {
		uint64_t gpa, len;
	} acpi_ranges[16];
	/* The DSDT's _PRT, read as AML (acrn_model_boot_mp.c): slot, pin (1 =
	 * INTA#) and GSI of each entry. */
	unsigned nprt;
	struct acrn_model_intx {
		uint8_t slot, pin, gsi;
	} prt[64];
	/* The MP table, required beside ACPI tables (acrn-dm writes both):
	 * the floating pointer and configuration table found, enabled
	 * processors, the IOAPIC, ISA and PCI I/O interrupt entries (the PCI
	 * ones as slot, pin, GSI), the NMI on LINT1. */
	uint64_t mp_gpa, mp_table_gpa, mp_table_len;
	unsigned mp_cpus, mp_isa_irqs, mp_npci;
	bool mp_ioapic, mp_lint1_nmi;
	struct acrn_model_intx mp_pci[64];
	/* Interrupt lines against that routing (acrn_model_irqroute.c): the
	 * ISA IRQs the DSDT's devices declare, SET_IRQLINE calls on a GSI
	 * nothing accounts for (the first one's GSI), line registers read
	 * with another GSI than the _PRT's. */
	uint16_t isa_irqs;
	/* The DSDT's serial ports (PNP0501; acrn_model_com.c): device name,
	 * _UID, the I/O descriptor's base, maximum base and length, IRQs. */
	unsigned ncom;
	struct acrn_model_com {
		char name[5];
		unsigned uid;
		uint16_t port, port_max;
		uint8_t nports;
		uint16_t irq_mask;
	} com[4];
	/* The DSDT's PCI memory windows (acrn_model_windows.c), inclusive, and
	 * the programmed memory BARs the guest read in them and outside. */
	unsigned nwin;
	struct {
		uint64_t min, max;
	} win[8];
	unsigned bars_checked, bars_outside;
	unsigned stray_irqlines;
	uint8_t first_stray_gsi;
	unsigned line_disagreements;
	/* OVMF (ovmf= options): where the image starts in guest memory. */
	bool firmware;
	uint64_t fw_gpa, fw_len;
	char vars_head[17]; /* the NV store's first bytes as found, printable ones */
};

void acrn_model_boot_report(struct acrn_model *m, struct acrn_model_boot *out);

/* The name/UUID field and the CPU affinity the last CREATE_VM carried. */
void acrn_model_created(struct acrn_model *m, uint8_t id[16], uint64_t *cpu_affinity);

/* Protocol violations the model saw from the back-end. */
unsigned acrn_model_violations(struct acrn_model *m);

#endif /* VDM_ACRN_MODEL_H */
