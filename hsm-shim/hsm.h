/*
 * hsm.h - libhsm, the one interface between vdm and a hypervisor.
 *
 * A back-end (sim, qemu, acrn) gives the device model:
 *   - a bounds-checked guest-physical -> host-virtual map of guest RAM;
 *   - a stream of I/O requests (PCI config, port I/O, MMIO) that the device
 *     model completes;
 *   - ioeventfd: a guest write to an address signals an eventfd without the
 *     request reaching the device model;
 *   - irqfd: a write to an eventfd raises a guest interrupt (MSI or INTx);
 *   - direct MSI and INTx injection;
 *   - a statement of what it supports, so the PCI layer can shape devices.
 *
 * libhsm owns no event loop: the caller hands it a small hsm_loop_ops table
 * (add/remove an fd watch) and every I/O request handler runs on the thread
 * that runs that loop.  Functions return 0 or a negative errno.
 */
#ifndef VDM_HSM_H
#define VDM_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hsm_vm;

/* ---- I/O requests ---------------------------------------------------- */

enum hsm_io_space {
	HSM_IO_PCICFG = 0, /* addr = register offset, bdf = bus/dev/func */
	HSM_IO_PIO = 1,    /* addr = port */
	HSM_IO_MMIO = 2,   /* addr = guest-physical address */
};

enum hsm_io_dir {
	HSM_IO_READ = 0,
	HSM_IO_WRITE = 1,
};

struct hsm_ioreq {
	enum hsm_io_space space;
	enum hsm_io_dir dir;
	uint64_t addr;
	uint32_t size;  /* 1, 2, 4 or 8 */
	uint16_t bdf;   /* HSM_IO_PCICFG only: bus << 8 | dev << 3 | func */
	uint64_t data;  /* value written, or value to return for reads */
};

/*
 * Handler for one I/O request.  For reads it stores the result in req->data
 * (all-ones when nothing decodes the address).  It runs on the loop thread and
 * the back-end completes the request to the hypervisor when it returns.
 */
typedef void (*hsm_ioreq_fn)(void *opaque, struct hsm_ioreq *req);

/* Helpers for bdf packing. */
static inline uint16_t hsm_bdf(unsigned bus, unsigned dev, unsigned func)
{
	return (uint16_t)((bus & 0xff) << 8 | (dev & 0x1f) << 3 | (func & 0x7));
}

/* ---- Event loop seam -------------------------------------------------- */

typedef void (*hsm_fd_cb)(void *arg, int fd, uint32_t events);

/* The caller's event loop, as libhsm sees it.  events are EPOLLIN etc. */
struct hsm_loop_ops {
	void *loop;
	int (*add_fd)(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg);
	int (*del_fd)(void *loop, int fd);
};

/* ---- Opening a VM ------------------------------------------------------ */

/* Levels of the messages libhsm logs: syslog's numbers, as vdm's own log
 * levels are, so a sink can pass them on unchanged. */
enum hsm_log_level {
	HSM_LOG_ERR = 3,
	HSM_LOG_WARN = 4,
	HSM_LOG_INFO = 6,
	HSM_LOG_DEBUG = 7,
};

/* level is an enum hsm_log_level. */
typedef void (*hsm_log_fn)(int level, const char *msg);

/* The hypervisor reset one PCI function (for example on a guest reboot). */
typedef void (*hsm_reset_fn)(void *opaque, uint16_t bdf);

/* The least guest RAM the acrn back-end takes: acrn-dm's minimum for -m
 * (vm_parse_memsize in ACRN's devicemodel/core/vmmapi.c). */
#define HSM_ACRN_MIN_RAM (128ULL << 20)

/*
 * A hypervisor that the back-end started (qemu) has ended, or the one it
 * attached to stopped delivering requests (acrn: status 1).  status is what
 * a shell would report: the exit code, or 128 + signal number.  at_start is
 * true when it ended before every PCI function was connected (it failed to
 * start).  Runs on the loop thread.
 */
typedef void (*hsm_exit_fn)(void *opaque, int status, bool at_start);

struct hsm_vm_config {
	const char *backend;      /* "sim[:SOCKET]", "qemu", "acrn[:DEV]" */
	uint64_t ram_size;        /* bytes of guest RAM */
	/* ACRN: bytes of firmware memory ending at 4 GiB (OVMF's, a multiple
	 * of 2 MiB; 0: none), a region of its own beside guest RAM. */
	uint64_t fw_size;
	uint8_t uuid[16];         /* VM UUID */
	const char *name;         /* for logs */
	/* ACRN: the name CREATE_VM carries, which current hypervisors look
	 * the VM's configuration up by (NULL: the UUID's 16 bytes there, as
	 * older ones read the field), and the physical CPUs its vCPUs may run
	 * on (a bit each; 0: the hypervisor's configuration decides). */
	const char *vm_name;
	uint64_t cpu_affinity;
	hsm_ioreq_fn ioreq;       /* device model's request handler */
	void *ioreq_opaque;
	struct hsm_loop_ops loop; /* where libhsm watches its fds */
	hsm_log_fn log;           /* may be NULL: messages are dropped */
	hsm_reset_fn reset;       /* may be NULL; gets ioreq_opaque */
	/* The guest RAM map changed after start (qemu: QEMU sent a different
	 * SYNC_SYSMEM); on the loop thread, gets ioreq_opaque.  May be NULL. */
	void (*mem_changed)(void *opaque);
	/* Back-ends that start the hypervisor themselves (qemu): its command
	 * line, NULL-terminated, and who to tell when it ends (ioreq_opaque). */
	char *const *hv_argv;
	hsm_exit_fn hv_exited;
};

/* What a back-end can do. */
struct hsm_caps {
	bool msi;              /* MSI/MSI-X messages reach the guest */
	bool intx;             /* INTx reaches the guest */
	bool native_ioeventfd; /* the hypervisor matches ioeventfds itself */
	bool native_irqfd;     /* the hypervisor raises irqfds itself (else libhsm
				* watches them on the caller's loop) */
	bool hv_hostbridge;    /* the hypervisor emulates the host bridge */
	bool hv_command;       /* the back-end runs the hypervisor command (hv_argv) */
	bool ram_remaps;       /* guest RAM can be mapped anew while the VM runs (the
				* map is then only safe on the loop thread) */
	bool boot_cpu;         /* the device model sets the boot CPU's state
				* (hsm_set_boot_cpu): it loads the guest */
	bool passthrough;      /* the hypervisor can give the guest a host PCI
				* function (hsm_assign_pcidev) */
	bool intx_active_low;  /* INTx lines idle high: a line is released as soon
				* as it is routed (ACRN, as acrn-dm drives them) */
};

/*
 * The boot CPU's state at a 32-bit protected-mode entry (the Linux x86
 * boot protocol's): paging and interrupts off, CS and DS/ES/SS flat 4 GiB
 * segments named by selectors into a GDT the loader put in guest RAM.
 * With reset_vector, firmware's start instead: real mode, CS = cs_sel
 * with base cs_base and a 64 KiB limit, IP = rip, everything else as at
 * reset (rsi, gdt_* and ds_sel unused).
 */
struct hsm_boot_cpu {
	uint64_t rip;
	uint64_t rsi;       /* the zero page */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint16_t cs_sel, ds_sel;
	bool reset_vector;
	uint64_t cs_base;
};

/*
 * Open a VM on the back-end named in cfg->backend.  On failure returns NULL
 * and stores a negative errno in *err and a one-line reason in errbuf.
 */
struct hsm_vm *hsm_open(const struct hsm_vm_config *cfg, int *err,
			char *errbuf, size_t errlen);

/* What the back-end named in spec can do, without opening a VM.  Returns 0,
 * or -ENOENT when no such back-end is built in. */
int hsm_backend_caps(const char *spec, struct hsm_caps *caps);

/* True when spec ("name" or "name:arg") names a back-end built into libhsm
 * that takes arg.  names, if not NULL, receives a comma-separated list of
 * them as a spec spells them ("qemu, sim[:SOCKET], ..."). */
bool hsm_backend_exists(const char *spec, char *names, size_t len);

/*
 * Stop the guest and I/O request delivery, before the device model tears
 * its devices down (they may still unregister ioeventfds and irqfds after
 * it).  Back-ends without such a step do nothing.  NULL is allowed.
 */
void hsm_stop(struct hsm_vm *vm);

/* Stop delivering requests and release everything.  NULL is allowed. */
void hsm_close(struct hsm_vm *vm);

/*
 * A guest reboot on a back-end with caps.boot_cpu, in acrn-dm's order, from
 * the loop thread: HSM_REBOOT_PAUSE stops the vCPUs and drops the I/O
 * requests they had outstanding (those not yet handed to the device model
 * never are; none is completed to the hypervisor after it cleared them),
 * and no request is served until HSM_REBOOT_RUN (the device model then
 * resets its devices), HSM_REBOOT_RESET
 * puts the vCPUs back to their reset state (the device model then loads the
 * guest again and calls hsm_set_boot_cpu), HSM_REBOOT_RUN lets them run.
 * Returns 0, -ENOTSUP elsewhere, or a negative errno with err.
 */
enum hsm_reboot_step { HSM_REBOOT_PAUSE, HSM_REBOOT_RESET, HSM_REBOOT_RUN };
int hsm_reboot(struct hsm_vm *vm, enum hsm_reboot_step step, char *errbuf, size_t errlen);

/* A rising edge on an ISA interrupt line (an edge-triggered GSI below 16,
 * as a PC's COM port raises it), on a back-end with caps.boot_cpu.
 * Returns 0 or a negative errno (-ENOTSUP elsewhere). */
int hsm_pulse_irq(struct hsm_vm *vm, uint32_t gsi);

/* Drive an ISA interrupt line (a GSI below 16, active high) high or low and
 * leave it there, as a PC's RTC holds IRQ 8 until its flags are read; on a
 * back-end with caps.boot_cpu.  An edge-triggered pin interrupts on the
 * rise.  Returns 0 or a negative errno (-ENOTSUP elsewhere). */
int hsm_set_isa_irq(struct hsm_vm *vm, uint32_t gsi, bool high);

/* How many vCPUs the VM has, where the back-end knows (ACRN: what
 * CREATE_VM reported); 0 where it does not. */
unsigned hsm_vcpu_count(struct hsm_vm *vm);

/* Before hsm_start, on a back-end with caps.boot_cpu: where the guest
 * starts.  Returns 0, -ENOTSUP elsewhere, or a negative errno with err. */
int hsm_set_boot_cpu(struct hsm_vm *vm, const struct hsm_boot_cpu *cpu, char *errbuf,
		     size_t errlen);

/* Back-end name ("sim", ...) and capabilities. */
const char *hsm_backend_name(const struct hsm_vm *vm);
struct hsm_caps hsm_get_caps(const struct hsm_vm *vm);

/*
 * Declare a PCI function the device model serves, before hsm_start.
 * Back-ends that connect each function separately (qemu: one socket per
 * function) set up its channel here; the others only check bdf.
 */
int hsm_add_pci_function(struct hsm_vm *vm, uint16_t bdf);

/*
 * Back-end-specific start, after every device is registered (for example the
 * simulator starts accepting test-driver connections).  Returns 0, or -errno
 * with a one-line reason in errbuf.
 */
int hsm_start(struct hsm_vm *vm, char *errbuf, size_t errlen);

/* ---- Guest memory ------------------------------------------------------ */

/*
 * Host pointer for the guest-physical range [gpa, gpa + len).  Returns NULL
 * unless the whole range lies inside one guest RAM region; ranges that wrap
 * around the 64-bit address space and len == 0 are refused too.
 */
void *hsm_gpa_to_hva(struct hsm_vm *vm, uint64_t gpa, uint64_t len);

/* One contiguous region of guest RAM, for back-ends outside the process. */
struct hsm_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	int fd;           /* backing file descriptor, owned by libhsm */
	uint64_t fd_offset;
};

/*
 * Copy up to max regions into out; returns the number of regions (which may
 * be larger than max).
 */
int hsm_get_mem_regions(struct hsm_vm *vm, struct hsm_mem_region *out, int max);

/* Total guest RAM in bytes. */
uint64_t hsm_ram_size(const struct hsm_vm *vm);

/* ---- Notifications ----------------------------------------------------- */

struct hsm_ioeventfd {
	enum hsm_io_space space; /* HSM_IO_PIO or HSM_IO_MMIO */
	uint64_t addr;
	uint32_t len;            /* 1, 2, 4 or 8; 0 matches any width */
	bool datamatch;
	uint64_t data;
};

/* Signal fd when the guest writes a matching value to addr.  fd stays the
 * caller's. */
int hsm_ioeventfd_add(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd);
int hsm_ioeventfd_del(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd);

enum hsm_irq_kind {
	HSM_IRQ_MSI = 0,
	HSM_IRQ_INTX = 1,
};

struct hsm_irq {
	enum hsm_irq_kind kind;
	uint64_t msi_addr; /* MSI */
	uint32_t msi_data;
	uint16_t bdf;      /* INTx: the function raising it */
	uint8_t pin;       /* INTx: 1..4 = INTA..INTD */
	uint8_t line;      /* INTx: interrupt line register */
};

/*
 * Raise irq whenever fd is written.  For INTx the line is asserted; it is
 * deasserted with hsm_set_intx(..., false) (the device does that when the
 * guest acknowledges, e.g. by reading ISR).  fd stays the caller's.
 */
int hsm_irqfd_add(struct hsm_vm *vm, const struct hsm_irq *irq, int fd);
int hsm_irqfd_del(struct hsm_vm *vm, int fd);

/* Direct injection. */
int hsm_inject_msi(struct hsm_vm *vm, uint64_t addr, uint32_t data);
int hsm_set_intx(struct hsm_vm *vm, const struct hsm_irq *irq, bool level);

/* ---- PCI passthrough ---------------------------------------------------- */

/*
 * A host PCI function handed to the guest, as the hypervisor takes it: the
 * address the guest sees it at and the host's, the INTx pin and line the
 * guest sees (0 and 0: no INTx), and the six BAR registers as the device
 * model laid them out (type bits included; a 64-bit BAR's upper half in the
 * next one).  The hypervisor maps the BARs onto the host function's and
 * serves its config space from then on.
 */
struct hsm_ptdev {
	uint16_t virt_bdf;
	uint16_t phys_bdf;
	uint8_t intx_pin;
	uint8_t intx_line;
	uint32_t bar[6];
};

/*
 * Give the guest the host function (ptdev), or take it back (the same
 * ptdev).  -EOPNOTSUPP on back-ends without caps.passthrough.
 */
int hsm_assign_pcidev(struct hsm_vm *vm, const struct hsm_ptdev *ptdev);
int hsm_deassign_pcidev(struct hsm_vm *vm, const struct hsm_ptdev *ptdev);

/*
 * Route an assigned function's INTx: the host's interrupt line phys_line
 * raises the guest's GSI virt_gsi (and hsm_reset_ptdev_intx undoes that).
 * -EOPNOTSUPP on back-ends without caps.passthrough.
 */
int hsm_set_ptdev_intx(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
		       uint32_t virt_gsi, uint32_t phys_line);
int hsm_reset_ptdev_intx(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
			 uint32_t virt_gsi);

#endif /* VDM_HSM_H */
