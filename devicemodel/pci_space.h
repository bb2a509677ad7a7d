/*
 * pci_space.h - the guest resources vdm hands out itself rather than
 * leaving them to the guest: addresses for the BARs of functions whose
 * layout the hypervisor must know before the guest runs (passthrough), the
 * I/O ports such BARs keep, and the guest interrupt lines (virtual IOAPIC
 * pins, GSIs) their INTx is routed to.
 *
 * Where vdm loads the guest (ACRN: -k, --ovmf) it also gives its own
 * functions' BARs addresses before the guest runs, as acrn-dm does, so that
 * a guest without firmware finds every BAR programmed inside the windows
 * the DSDT declares (pci_space_assign_bars).  Everything runs on the loop
 * thread, at start-up and at guest reboots.
 */
#ifndef VDM_PCI_SPACE_H
#define VDM_PCI_SPACE_H

#include "pci.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The windows, as ACRN's device model lays out a User VM (and clear of the
 * guest RAM vdm's acrn back-end maps: below 2 GiB, then from 4 GiB): 32-bit
 * BARs between 2 GiB and 3.5 GiB, where the config window and the APICs
 * begin above; large 64-bit BARs between 256 GiB and 512 GiB.
 */
#define PCI_SPACE_MEM32_BASE 0x80000000ULL
#define PCI_SPACE_MEM32_LIMIT 0xe0000000ULL
#define PCI_SPACE_MEM64_BASE 0x4000000000ULL
#define PCI_SPACE_MEM64_LIMIT 0x8000000000ULL
/* A 64-bit BAR up to this size still goes below 4 GiB: some guest drivers
 * mishandle BARs above it (acrn-dm's rule too, except when it boots OVMF:
 * then every 64-bit BAR goes above, see mem64_high). */
#define PCI_SPACE_MEM64_LOW_MAX (32ULL << 20)
/* The hypervisor maps BARs with EPT, a page at a time. */
#define PCI_SPACE_PAGE 4096ULL
/* GSIs for PCI INTx: pins 16.. of the virtual IOAPIC (0-15 are the ISA
 * interrupts), up to the 48 pins ACRN gives a post-launched VM. */
#define PCI_SPACE_GSI_FIRST 16
#define PCI_SPACE_GSI_END 48
#define PCI_SPACE_MAX_IO 32
/* Ports for the I/O BARs of vdm's own functions: acrn-dm's window, above
 * the ISA devices and the PM block. */
#define PCI_SPACE_IO_BASE 0x2000
#define PCI_SPACE_IO_LIMIT 0x10000

struct pci_space {
	uint64_t mem32_next, mem64_next;
	uint32_t io_next;
	/* Every 64-bit BAR in the 64-bit window, whatever its size: acrn-dm's
	 * choice when it boots OVMF (its skip_pci_mem64bar_workaround), which
	 * handles BARs above 4 GiB. */
	bool mem64_high;
	int nio;
	struct { uint32_t base, size; } io[PCI_SPACE_MAX_IO];
	uint64_t gsi_used; /* bit n: GSI n is routed */
	/* pci_space_assign_bars: the functions laid out (a bit per function of
	 * each slot) and the BAR addresses they were given. */
	uint8_t assigned[PCI_NUM_SLOTS];
	uint64_t bar_addr[PCI_NUM_SLOTS][PCI_NUM_FUNCS][PCI_NUM_BARS];
};

/* One BAR as a host function decodes it. */
struct pci_space_bar {
	enum pci_bar_type type; /* NONE: unused, or the upper half of a 64-bit BAR */
	uint64_t size;          /* bytes decoded (0 with NONE) */
	bool prefetchable;
	uint64_t host_addr;     /* where the host has it */
	bool emulated;          /* vdm's own: an I/O BAR gets ports from vdm's window */
};

/* Empty windows, no GSI routed. */
void pci_space_init(struct pci_space *s);

/*
 * Lay out one function's BARs, in BAR order: each memory BAR gets a base
 * aligned to its size, which is rounded up to a power of two of at least a
 * page (size[i] says what it became); 32-bit BARs and 64-bit BARs up to
 * PCI_SPACE_MEM64_LOW_MAX in the 32-bit window, larger ones (all, with
 * mem64_high) in the 64-bit window.  An I/O BAR keeps the host's ports (ACRN
 * passes port I/O through at the host's addresses), or, emulated, gets
 * ports from PCI_SPACE_IO_BASE; no two functions share a port.  Fills
 * addr[i] and size[i] for every BAR with a type (0 for the others).
 * Returns 0, or -EINVAL / -ENOSPC / -EBUSY with a one-line reason naming the
 * BAR in err; on failure nothing is taken.
 */
int pci_space_layout_bars(struct pci_space *s, const struct pci_space_bar bars[PCI_NUM_BARS],
			  uint64_t addr[PCI_NUM_BARS], uint64_t size[PCI_NUM_BARS], char *err,
			  size_t errlen);

/*
 * Give every function on bus a BAR address for each BAR whose register
 * holds none (vdm's own functions; passthrough ones come programmed and
 * keep theirs), laid out as pci_space_layout_bars does, the first time a
 * function is seen; write the addresses into the BAR registers each time
 * (a guest reboot's function reset clears them).  acrn-dm assigns its BARs
 * the same way when it creates its devices.  Returns 0, or a negative errno
 * with one line naming the function in err.
 */
int pci_space_assign_bars(struct pci_space *s, struct pci_bus *bus, char *err, size_t errlen);

/* A GSI for a function's INTx, each only once.  Returns it, or -ENOSPC. */
int pci_space_alloc_gsi(struct pci_space *s);
/* Give a GSI from pci_space_alloc_gsi back. */
void pci_space_free_gsi(struct pci_space *s, int gsi);

#endif /* VDM_PCI_SPACE_H */
