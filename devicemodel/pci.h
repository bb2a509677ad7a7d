/*
 * pci.h - PCI function emulation: the type-0 config header, BARs, the
 * capability list, MSI-X and INTx, and the bus that routes I/O requests to
 * functions.  Devices (hostbridge, virtio-pci) build on this; nothing here
 * knows about virtio.
 *
 * Everything runs on the loop thread.
 */
#ifndef VDM_PCI_H
#define VDM_PCI_H

#include "hsm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_NUM_SLOTS 32
#define PCI_NUM_FUNCS 8
#define PCI_NUM_BARS 6
#define PCI_CFG_SIZE 256      /* conventional config space we emulate */
#define PCI_CFG_EXT_SIZE 4096 /* reads above 256 return 0, writes are ignored */

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* takes this BAR and the next */
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;    /* power of two */
	bool prefetchable;
	bool mapped;      /* decoding now */
	uint64_t addr;    /* base while mapped */
};

struct pci_dev;

struct pci_dev_ops {
	/* BAR accesses that decode to this function; off is within the BAR. */
	uint64_t (*bar_read)(struct pci_dev *d, int bar, uint64_t off, unsigned size);
	void (*bar_write)(struct pci_dev *d, int bar, uint64_t off, unsigned size, uint64_t val);
	/* A BAR started or stopped decoding, or moved (optional). */
	void (*bar_map)(struct pci_dev *d, int bar, bool mapped, uint64_t addr);
	/* Config accesses to [off, off+size) inside one range the device claimed
	 * with pci_dev_claim_cfg (optional).  An access that spans ranges, or a
	 * range and unclaimed bytes, is split at the boundaries, so size may be
	 * 1, 2 or 3 bytes of a dword; val holds only those bytes. */
	uint32_t (*cfg_read)(struct pci_dev *d, unsigned off, unsigned size);
	void (*cfg_write)(struct pci_dev *d, unsigned off, unsigned size, uint32_t val);
	/* MSI-X enable/function-mask changed (optional). */
	void (*msix_changed)(struct pci_dev *d);
	/* Function-level reset by the platform, before the config header is
	 * reset (optional): the device drops all its state. */
	void (*reset)(struct pci_dev *d);
};

struct pci_msix_entry {
	uint64_t addr;
	uint32_t data;
	uint32_t ctrl;      /* bit 0: masked */
	int irqfd;          /* eventfd routed to this vector while deliverable, else -1 */
	bool routed;        /* irqfd currently registered with libhsm */
};

struct pci_msix {
	int nvec;           /* 0: no MSI-X */
	int bar;
	uint32_t table_off;
	uint32_t pba_off;
	uint8_t cap;        /* config offset of the capability */
	struct pci_msix_entry *entries;
	uint64_t *pba;      /* pending bits */
};

struct pci_bus;

struct pci_dev {
	char name[32];
	struct pci_bus *bus;
	uint8_t slot, func;
	const struct pci_dev_ops *ops;
	void *priv;

	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may change */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits a guest 1 clears */
	uint8_t claimed[PCI_CFG_SIZE]; /* range number (1..) of bytes served by
					* ops->cfg_read/cfg_write, 0 = none */
	uint8_t nclaims;               /* ranges claimed so far */
	uint8_t cap_end;               /* next free capability offset */
	uint8_t last_cap;              /* offset of the last capability, 0 = none */
	struct pci_bar bars[PCI_NUM_BARS];
	struct pci_msix msix;
	bool intx_pending;             /* the function wants INTx asserted */
	bool intx_line;                /* what we last told libhsm */
	/* The GSI the platform routed INTx to (pci_dev_route_intx), 0 if it
	 * did not: the line is then the interrupt line register's. */
	uint8_t intx_routed_gsi;
	/*
	 * Set when the function's data plane runs on a thread of its own (an
	 * I/O thread): held by that thread while it serves the function and
	 * by the bus while a guest access or reset reaches the function.
	 * NULL: everything is on the event-loop thread.
	 */
	pthread_mutex_t *lock;
};

static inline void pci_dev_lock(struct pci_dev *d)
{
	if (d->lock)
		pthread_mutex_lock(d->lock);
}

static inline void pci_dev_unlock(struct pci_dev *d)
{
	if (d->lock)
		pthread_mutex_unlock(d->lock);
}

/* ---- building a function ---- */

/* Initialise d as a type-0 function with these IDs.  class is
 * base << 16 | sub << 8 | prog-if. */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);

/* Declare BAR idx (size a power of two, >= 16 for memory, >= 4 for I/O). */
int pci_dev_add_bar(struct pci_dev *d, int idx, enum pci_bar_type type, uint64_t size,
		    bool prefetchable);

/* Append a capability (data[0] = ID; data[1] is filled in).  Returns its
 * config offset, or -ENOSPC.  All its bytes start read-only. */
int pci_dev_add_cap(struct pci_dev *d, const void *data, unsigned len);

/* Make bytes [off, off+len) guest-writable with this mask byte pattern. */
void pci_dev_set_wmask(struct pci_dev *d, unsigned off, const uint8_t *mask, unsigned len);

/* Route config accesses in [off, off+len) to ops->cfg_read/cfg_write, as
 * one range.  Returns 0, -EINVAL (outside config space), -EEXIST (overlaps a
 * claimed range) or -ENOSPC (too many ranges). */
int pci_dev_claim_cfg(struct pci_dev *d, unsigned off, unsigned len);

/* Use interrupt pin 1..4 (INTA..INTD). */
void pci_dev_set_intx_pin(struct pci_dev *d, uint8_t pin);

/* Add an MSI-X capability with nvec vectors, table and PBA in BAR bar at
 * these offsets (the BAR must be large enough).  Returns 0 or -errno. */
int pci_msix_init(struct pci_dev *d, int nvec, int bar, uint32_t table_off, uint32_t pba_off);
void pci_msix_fini(struct pci_dev *d);

/* ---- using a function ---- */

static inline uint8_t pci_cfg_read8(const struct pci_dev *d, unsigned off)
{
	return d->cfg[off];
}
uint16_t pci_cfg_read16(const struct pci_dev *d, unsigned off);
uint32_t pci_cfg_read32(const struct pci_dev *d, unsigned off);
/* Device-side stores (not subject to the guest write masks). */
void pci_cfg_set8(struct pci_dev *d, unsigned off, uint8_t v);
void pci_cfg_set16(struct pci_dev *d, unsigned off, uint16_t v);
void pci_cfg_set32(struct pci_dev *d, unsigned off, uint32_t v);

/* Guest config access (what an ioreq does). */
uint32_t pci_cfg_guest_read(struct pci_dev *d, unsigned off, unsigned size);
void pci_cfg_guest_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val);

/* True when MSI-X is enabled by the guest. */
bool pci_msix_enabled(const struct pci_dev *d);

/* Signal MSI-X vector vec: delivered now, or left pending while masked.
 * Returns 0, or -EINVAL for a vector out of range (the guest's choice). */
int pci_msix_notify(struct pci_dev *d, int vec);

/* The platform routes the function's INTx pin to line (an IOAPIC GSI):
 * the interrupt line register a guest reads, the line started released.
 * From then on INTx goes to that GSI whatever the guest writes into the
 * register (a scratch byte for it, as on a PC), as acrn-dm asserts the
 * pin it allocated (pci_irq_assert: lintr.ioapic_irq). */
void pci_dev_route_intx(struct pci_dev *d, uint8_t line);
/* Set or clear the function's INTx request; the line follows it unless the
 * command register's INTx-disable bit is set.  Status bit 3 mirrors it. */
void pci_intx_set(struct pci_dev *d, bool pending);

/* Device reset: config header back to power-on values (IDs kept), BARs
 * unmapped, MSI-X disabled and cleared, INTx deasserted. */
void pci_dev_reset(struct pci_dev *d);

/* Write the config space in the format of `lspci -x`/`lspci -xxx` input:
 * "BB:DD.F name" then hex lines.  full: all 256 bytes, else the first 64. */
int pci_dev_dump(const struct pci_dev *d, int fd, bool full);

/* ---- the bus ---- */

struct pci_bus {
	struct hsm_vm *vm;
	bool caps_native_irqfd;  /* hsm_get_caps(vm).native_irqfd, kept at hand */
	bool intx_active_low;    /* hsm_get_caps(vm).intx_active_low */
	struct pci_dev *devs[PCI_NUM_SLOTS][PCI_NUM_FUNCS];
};

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int slot, int func);
void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d);

/* Set header-type multi-function bits once all functions are in place. */
void pci_bus_finalize(struct pci_bus *bus);

/* Complete one I/O request (config, PIO or MMIO). */
void pci_bus_ioreq(struct pci_bus *bus, struct hsm_ioreq *req);

/* The platform reset function bdf (device state, then the config header).
 * Returns -ENOENT when nothing is there. */
int pci_bus_reset_function(struct pci_bus *bus, uint16_t bdf);

/* ---- inside the PCI layer (pci_bus.c calls these) ---- */

/* If [off, off+size) of BAR bar is the MSI-X table or PBA, serve the access
 * and return true. */
bool pci_msix_bar_access(struct pci_dev *d, int bar, uint64_t off, unsigned size, bool write,
			 uint64_t *val);

/* Re-route every vector after the MSI-X enable or function-mask bit changed. */
void pci_msix_ctl_written(struct pci_dev *d);

#endif /* VDM_PCI_H */
