/*
 * hsm_internal.h - what libhsm's back-ends share: the VM object, the back-end
 * operations table, the guest memory map, software ioeventfd matching and
 * software irqfds (for hypervisors without native ones), and the forwarder
 * that hands I/O requests from a back-end thread to the loop thread.
 */
#ifndef VDM_HSM_INTERNAL_H
#define VDM_HSM_INTERNAL_H

#include "hsm.h"

#include <pthread.h>

#define HSM_MAX_REGIONS 8
#define HSM_MAX_IOEVENTFDS 256
#define HSM_MAX_IRQFDS 256

struct hsm_backend_ops {
	const char *name;
	const char *usage; /* how a spec names it, for messages: "sim[:SOCKET]" */
	/* Optional: whether this back-end takes arg (as open gets it); NULL
	 * takes anything.  Several back-ends may share a name and tell their
	 * specs apart this way. */
	bool (*takes)(const char *arg);
	struct hsm_caps caps;
	/* arg: text after "name:" or NULL.  Sets up guest RAM (hsm_add_region). */
	int (*open)(struct hsm_vm *vm, const char *arg, char *errbuf, size_t errlen);
	int (*add_pci_function)(struct hsm_vm *vm, uint16_t bdf);
	int (*start)(struct hsm_vm *vm, char *errbuf, size_t errlen);
	/* Optional: a rising pulse on an ISA line (hsm_pulse_irq). */
	int (*pulse_irq)(struct hsm_vm *vm, uint32_t gsi);
	/* Optional: an ISA line held high or low (hsm_set_isa_irq). */
	int (*set_isa_irq)(struct hsm_vm *vm, uint32_t gsi, bool high);
	/* Optional: the VM's vCPUs (hsm_vcpu_count). */
	unsigned (*vcpu_count)(struct hsm_vm *vm);
	/* Optional (caps.boot_cpu): one step of a guest reboot (hsm_reboot). */
	int (*reboot)(struct hsm_vm *vm, enum hsm_reboot_step step, char *errbuf, size_t errlen);
	/* Optional (caps.boot_cpu): the boot CPU's entry state, before start. */
	int (*set_boot_cpu)(struct hsm_vm *vm, const struct hsm_boot_cpu *cpu, char *errbuf,
			    size_t errlen);
	/* Optional: stop the guest and request delivery (hsm_stop). */
	void (*stop)(struct hsm_vm *vm);
	void (*close)(struct hsm_vm *vm);
	/* Optional native notifications; NULL means libhsm does it in software. */
	int (*ioeventfd_add)(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd);
	int (*ioeventfd_del)(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd);
	int (*irqfd_add)(struct hsm_vm *vm, const struct hsm_irq *irq, int fd);
	int (*irqfd_del)(struct hsm_vm *vm, int fd);
	int (*inject_msi)(struct hsm_vm *vm, uint64_t addr, uint32_t data);
	int (*set_intx)(struct hsm_vm *vm, const struct hsm_irq *irq, bool level);
	/* PCI passthrough (caps.passthrough); NULL on back-ends without. */
	int (*assign_pcidev)(struct hsm_vm *vm, const struct hsm_ptdev *ptdev, bool assign);
	int (*ptdev_intx)(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
			  uint32_t virt_gsi, uint32_t phys_line, bool set);
};

struct sw_ioeventfd {
	struct hsm_ioeventfd ev;
	int fd;
};

struct sw_irqfd {
	struct hsm_vm *vm;
	struct hsm_irq irq;
	int fd;
	bool used;
};

struct fwd_req;

struct hsm_vm {
	struct hsm_vm_config cfg;
	const struct hsm_backend_ops *ops;
	void *priv; /* back-end state */

	int nregions;
	struct hsm_mem_region regions[HSM_MAX_REGIONS];

	pthread_mutex_t ioeventfd_lock; /* taken by back-end threads that match */
	int nioeventfds;
	struct sw_ioeventfd ioeventfds[HSM_MAX_IOEVENTFDS];

	struct sw_irqfd irqfds[HSM_MAX_IRQFDS];

	/* Forwarder: back-end threads -> loop thread. */
	int fwd_efd;
	pthread_mutex_t fwd_lock;
	pthread_cond_t fwd_done;
	struct fwd_req *fwd_head, *fwd_tail;
	bool fwd_closing;
	bool fwd_held; /* hsm_forwarder_hold: requests are dropped, not dispatched */
};

/* Log through cfg.log (printf style). */
void hsm_log(struct hsm_vm *vm, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record a guest RAM region.  fd and hva are owned by the back-end. */
int hsm_add_region(struct hsm_vm *vm, uint64_t gpa, uint64_t size, void *hva, int fd,
		   uint64_t fd_offset);
void hsm_clear_regions(struct hsm_vm *vm);

/*
 * Software ioeventfd: if a registered ioeventfd matches this write, signal it
 * and return true (the request is then complete).  Any thread.
 */
bool hsm_match_ioeventfd(struct hsm_vm *vm, const struct hsm_ioreq *req);

/*
 * Hand req to the device model on the loop thread and wait until it has been
 * handled.  Called from a back-end thread, never from the loop thread.
 * Returns 0, or -ESHUTDOWN when the VM is closing (reads then see all-ones).
 */
int hsm_forward_ioreq(struct hsm_vm *vm, struct hsm_ioreq *req);

/* Set up and tear down the forwarder (hsm.c calls these). */
int hsm_forwarder_init(struct hsm_vm *vm);
void hsm_forwarder_shutdown(struct hsm_vm *vm);
/*
 * With held true: every request queued for the loop thread and not yet
 * taken is dropped, and so is every request forwarded until the hold is
 * released: hsm_forward_ioreq returns -ECANCELED at once (reads carry
 * all-ones) and the device model never sees it.  For a guest reboot
 * (hsm_reboot), from the loop thread, so that no request is mid-dispatch.
 */
void hsm_forwarder_hold(struct hsm_vm *vm, bool held);
void hsm_forwarder_fini(struct hsm_vm *vm);

extern const struct hsm_backend_ops hsm_sim_ops;
extern const struct hsm_backend_ops hsm_qemu_ops;
extern const struct hsm_backend_ops hsm_acrn_ops;

/*
 * Add a back-end to the ones built in, searched before them (a test program
 * adds a stand-in for a hypervisor this way; the vdm program adds none).
 * ops must outlive every VM.  Returns 0 or -ENOSPC.
 */
int hsm_register_backend(const struct hsm_backend_ops *ops);

#endif /* VDM_HSM_INTERNAL_H */
