/*
 * acrn_model_internal.h - what the two halves of the HSM model share:
 * acrn_model.c (the HSM and hypervisor: VM state, ioreq slots, ioctls,
 * notifiers) and acrn_model_link.c (the test driver's side: simulated vCPUs
 * that fill slots, and interrupts sent to the driver), and the boot check
 * (acrn_model_boot.c).
 */
#ifndef VDM_ACRN_MODEL_INTERNAL_H
#define VDM_ACRN_MODEL_INTERNAL_H

#include "acrn_model.h"
#include "sim-protocol.h"

#include <sys/types.h>

#define MODEL_FD 1000 /* what open() returns: a handle, never passed to the OS */
#define MODEL_VMID 3
#define MODEL_MAX_CONNS 64
#define MODEL_MAX_SEGS 8
#define MODEL_MAX_NOTIFIERS 256
#define MODEL_PAGE 4096UL

#define MODEL_MAX_PTDEVS 8
#define MODEL_MAX_TAKEN 8

enum model_vm_state { VM_NONE, VM_CREATED, VM_RUNNING, VM_PAUSED, VM_DESTROYED };

/* A host function assigned to the VM, and its INTx route if any. */
struct model_ptdev {
	bool used;
	struct acrn_pcidev dev;    /* as ASSIGN_PCIDEV carried it */
	bool intx;
	struct acrn_ptdev_irq irq; /* as SET_PTDEV_INTR carried it */
};

struct model_conn {
	struct acrn_model *m;
	int fd;
	int slot; /* vCPU index; -1 for the interrupt connection */
	pthread_t thread;
	bool has_thread;
};

struct model_seg {
	uint64_t gpa, len;
	uintptr_t hva;
};

struct model_ioeventfd {
	bool used;
	uint64_t seq;    /* registration order: the kernel keeps a list */
	int fd;          /* our own reference to the eventfd */
	struct acrn_ioeventfd ev;
};

struct model_irqfd {
	bool used;
	uint32_t gen;
	int fd;          /* our own reference */
	int user_fd;
	struct acrn_msi_entry msi;
};

struct acrn_model {
	struct hsm_vm *vm;
	unsigned vcpus;
	uint16_t report_vcpus; /* what CREATE_VM says, if not 0 (tests) */
	char refuse[32];
	bool no_qword_windows; /* option: the boot check skips QWordMemory windows */
	int refuse_errno;
	char vm_name[17];      /* vm=NAME: the one VM the hypervisor's configuration has */
	uint8_t created_id[16]; /* what the last CREATE_VM carried in its name/UUID field */
	uint64_t created_affinity;
	/* Every SET_IRQLINE by GSI: each operation counted, and the level
	 * the hypervisor's IOAPIC holds for the pin (its pin_state, which
	 * RESET_VM keeps); rises are the edges an edge-triggered pin
	 * interrupts on (SET_HIGH from low, RAISING_PULSE). */
	struct model_irqline {
		unsigned ops[4]; /* by ACRN_GSI_SET_HIGH ... ACRN_GSI_FALLING_PULSE */
		unsigned rises;
		bool high;
	} irqline[ACRN_VIOAPIC_PINS];
	bool have_boot_regs;             /* SET_VCPU_REGS for vCPU 0 came */
	struct acrn_vcpu_regs boot_regs;
	struct acrn_model_boot boot;     /* the boot check's findings */
	/* ovmf=PATH or ovmf_vars=PATH,ovmf_code=PATH: the firmware the VM is
	 * to start in (the boot check compares guest memory with the files);
	 * ovmf_mark=TEXT: the "firmware" writes TEXT-N into its NV store at
	 * the VM's Nth pause, as OVMF changes a variable. */
	char ovmf_image[256], ovmf_vars[256], ovmf_code[256], ovmf_mark[32];
	unsigned marks;
	/* assigned=B/D/F: host functions the hypervisor gave other VMs */
	int ntaken;
	uint16_t taken[MODEL_MAX_TAKEN];

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;  /* any state change */
	bool dev_open;
	enum model_vm_state state;
	struct acrn_io_request_buffer *iobuf;
	bool client;
	unsigned client_gen;
	uint32_t pending; /* slots assigned to the default client */
	/* CLEAR_VM_IOREQ completed every outstanding request: until the client
	 * returns from ATTACH_IOREQ_CLIENT again, a NOTIFY_REQUEST_FINISH can
	 * only be for one of those (a late one), and would complete whatever
	 * request the vCPU put in the slot since. */
	bool cleared_since_attach;
	unsigned resets; /* RESET_VM calls: a vCPU waiting across one was reset */
	int nsegs;
	struct model_seg segs[MODEL_MAX_SEGS];
	int memfd;        /* guest RAM from gpa 0, for the driver */
	uint64_t memfd_size;
	struct model_ioeventfd ioev[MODEL_MAX_NOTIFIERS];
	uint64_t ioev_seq;
	struct model_irqfd irqfds[MODEL_MAX_NOTIFIERS];
	uint32_t irqfd_gen;
	uint8_t line[256], pin[256]; /* bus 0 functions, as the guest set them */
	bool line_written[256];      /* the guest wrote the line since START_VM */
	/* BAR registers of bus-0 functions since START_VM (acrn_model_windows.c):
	 * a bit per BAR the guest wrote, or read before writing (its value). */
	uint8_t bar_written[256], bar_read[256];
	uint32_t bar_val[256][6];
	struct model_ptdev ptdevs[MODEL_MAX_PTDEVS];
	bool slot_used[ACRN_IO_REQUEST_MAX];
	unsigned violations;
	unsigned exits, waiting, max_waiting; /* I/O exits, for the log at the end */
	bool stopping;

	int irq_epoll, irq_wake;
	pthread_t irq_thread;
	bool irq_thread_running;

	char path[108];
	int listen_fd;
	pthread_t accept_thread;
	bool accepting;
	int nconns;
	struct model_conn conns[MODEL_MAX_CONNS];
	int irq_conn;
};

/* ---- acrn_model.c, for the other parts ---- */

/* Count and log a protocol violation: fmt has one %s (what) and one %u (n). */
void model_violation(struct acrn_model *m, const char *fmt, const char *what, unsigned n);

/* No VM to run (not created, destroyed, or the model is stopping). */
bool model_vm_gone(const struct acrn_model *m);

/*
 * Play one I/O exit of vCPU vcpu: the hypervisor fills the slot, the HSM
 * dispatches it, the client completes it.  req is the slot image (its
 * `processed` is ignored); the completed slot is copied to done.  Waits
 * for ever when timeout_ms < 0.  Returns 0, -EBUSY, -ETIMEDOUT or
 * -ESHUTDOWN.  Lock held.
 */
int model_exit_io_locked(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req,
			 struct acrn_io_request *done, int timeout_ms);

/* The kernel's ioeventfd client: true when it took r (a read's value is
 * then in r).  Lock held. */
bool model_ioeventfd_take_locked(struct acrn_model *m, struct acrn_io_request *r);

/* ---- acrn_model_ptdev.c: the hypervisor's side of passthrough ---- */

/* ASSIGN_PCIDEV, DEASSIGN_PCIDEV, SET_PTDEV_INTR, RESET_PTDEV_INTR.  Lock held. */
int model_ptdev_ioctl_locked(struct acrn_model *m, unsigned long cmd, unsigned long arg);
/* DESTROY_VM: what is still assigned is a violation, and goes.  Lock held. */
void model_ptdev_destroy_locked(struct acrn_model *m);
/* The option assigned=B/D/F; returns 0 or -EINVAL. */
int model_ptdev_option(struct acrn_model *m, const char *bdf);

/* ---- acrn_model_link.c ---- */

int model_link_listen(struct acrn_model *m, char *errbuf, size_t errlen);
/* Start taking driver connections (START_VM: the vCPUs run).  Lock held. */
int model_link_start_locked(struct acrn_model *m);
/* Close the listener and every connection, join their threads (stopping
 * is set, lock not held). */
void model_link_stop(struct acrn_model *m);
/* Interrupts to the driver.  Lock held. */
void model_send_irq_msg_locked(struct acrn_model *m, const struct sim_msg *msg);
void model_send_msi_locked(struct acrn_model *m, uint64_t addr, uint64_t data);
/* An ISA line's level after a SET_IRQLINE (SIM_IRQ_ISA).  Lock held. */
void model_send_isa_locked(struct acrn_model *m, uint32_t gsi, bool high);
/* START_VM after SET_VCPU_REGS: check what the device model loaded
 * (acrn_model_boot.c); disagreements are violations. */
void model_boot_check_locked(struct acrn_model *m);
/* PAUSE_VM of a running VM with ovmf_mark: write the next mark.  Lock held. */
void model_ovmf_mark_locked(struct acrn_model *m);

/* ---- acrn_model_irqroute.c: interrupt lines against the routing ---- */

/* The ISA IRQs the DSDT's devices declare (_CRS) into m->boot.isa_irqs. */
void model_boot_read_isa_irqs(struct acrn_model *m, const uint8_t *dsdt, uint64_t len);
/* A SET_IRQLINE on a GSI nothing the guest was told accounts for is a
 * violation (after a boot check read the tables).  Lock held. */
void model_check_irqline_locked(struct acrn_model *m, uint32_t gsi, uint32_t op);
/* The guest read function devfn's interrupt line register: it must be the
 * _PRT's GSI until the guest writes it.  Lock held. */
void model_check_line_read_locked(struct acrn_model *m, unsigned devfn, uint8_t line);
/* An INTx level on gsi to the functions it reaches.  Lock held. */
void model_send_intx_locked(struct acrn_model *m, uint32_t gsi, bool level);

/* ---- acrn_model_windows.c: BARs against the DSDT's PCI windows ---- */

/* The DSDT's PCI memory windows into m->boot.win; each clear of RAM. */
void model_boot_read_windows(struct acrn_model *m, const uint8_t *dsdt, uint64_t len);
/* The guest read BAR idx (a dword) of function devfn: before it wrote it,
 * a memory BAR's address must be 0 or in a window.  Lock held. */
void model_check_bar_read_locked(struct acrn_model *m, unsigned devfn, unsigned idx, uint32_t val);

/* ---- acrn_model_com.c ---- */

/* The DSDT's COM ports into m->boot.com, each checked against a PC's. */
void model_boot_read_coms(struct acrn_model *m, const uint8_t *dsdt, uint64_t len);

/* ---- acrn_model_boot.c, for acrn_model_boot_mp.c ---- */

/* Host pointer for [gpa, gpa + len) inside one SET_MEMSEG segment, or NULL. */
const uint8_t *model_guest(const struct acrn_model *m, uint64_t gpa, uint64_t len);
/* A little-endian number of bytes bytes. */
uint64_t model_le(const uint8_t *p, int bytes);
/* A boot check finding: counted, logged, the first one kept. */
void model_boot_problem(struct acrn_model *m, const char *what);
/* vCPU vcpu's local APIC ID as the hypervisor gives it: its CPU's (the
 * vcpu-th of CREATE_VM's affinity, /proc/cpuinfo), or vcpu without an
 * affinity (the hypervisor's own placement, which vdm cannot see); -1 if
 * the affinity has no such CPU. */
int model_vcpu_apic_id(const struct acrn_model *m, unsigned vcpu);
/* A table (where) gives vcpu the local APIC ID id: a problem unless it is
 * model_vcpu_apic_id's. */
void model_boot_apic_id(struct acrn_model *m, const char *where, unsigned vcpu, uint8_t id);
/* Whether len bytes at p sum to 0 (mod 256). */
bool model_sum_ok(const uint8_t *p, uint64_t len);
/* An AML PkgLength at *p (ACPI 6.4, 20.2.4): the length it encodes (from
 * its first byte on), its own bytes skipped.  0 if it runs past end. */
uint64_t model_aml_pkg_length(const uint8_t **p, const uint8_t *end);
/* Each resource template of the DSDT (len bytes at dsdt), a _CRS buffer
 * (Name (_CRS, Buffer (size) { template })), to fn: its bytes, cut to the
 * buffer's package. */
void model_aml_each_crs(struct acrn_model *m, const uint8_t *dsdt, uint64_t len,
			void (*fn)(struct acrn_model *m, const uint8_t *tmpl, uint64_t size));

/* ---- acrn_model_boot_mp.c ---- */

/* The _PRT entries of the DSDT (len bytes at dsdt) into m->boot.prt. */
void model_boot_read_prt(struct acrn_model *m, const uint8_t *dsdt, uint64_t len);
/* Find and check the MP table against the vCPUs, the _PRT read before,
 * an e820 map (entries of 20 bytes; NULL: none) and the places of the
 * ACPI tables and of the zero page at zp_gpa (0: none). */
void model_boot_check_mp(struct acrn_model *m, const uint8_t *e820, unsigned entries,
			 uint64_t zp_gpa);

#endif /* VDM_ACRN_MODEL_INTERNAL_H */
