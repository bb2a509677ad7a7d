/*
 * pci_bus.c - bus 0: which function answers a config access, and which
 * decoding BAR (if any) answers a port or memory access.  Accesses nothing
 * decodes read as all-ones and writes to them are dropped, as on real PCI.
 */
#include "pci.h"
#include "log.h"

#include <errno.h>
#include <linux/pci_regs.h>

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int slot, int func)
{
	if (slot < 0 || slot >= PCI_NUM_SLOTS || func < 0 || func >= PCI_NUM_FUNCS)
		return -EINVAL;
	if (bus->devs[slot][func])
		return -EEXIST;
	bus->devs[slot][func] = d;
	d->bus = bus;
	d->slot = (uint8_t)slot;
	d->func = (uint8_t)func;
	return 0;
}

void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d)
{
	if (bus->devs[d->slot][d->func] == d)
		bus->devs[d->slot][d->func] = NULL;
}

void pci_bus_finalize(struct pci_bus *bus)
{
	for (int s = 0; s < PCI_NUM_SLOTS; s++) {
		bool multi = false;

		for (int f = 1; f < PCI_NUM_FUNCS; f++)
			multi = multi || bus->devs[s][f];
		/* Without function 0 an OS never scans the slot's other functions. */
		if (multi && bus->devs[s][0])
			bus->devs[s][0]->cfg[PCI_HEADER_TYPE] |= 0x80;
	}
}

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

static struct pci_dev *find_bar(struct pci_bus *bus, enum hsm_io_space space, uint64_t addr,
				unsigned size, int *bar, uint64_t *off)
{
	for (int s = 0; s < PCI_NUM_SLOTS; s++) {
		for (int f = 0; f < PCI_NUM_FUNCS; f++) {
			struct pci_dev *d = bus->devs[s][f];

			if (!d)
				continue;
			for (int i = 0; i < PCI_NUM_BARS; i++) {
				const struct pci_bar *b = &d->bars[i];

				if (!b->mapped || (b->type == PCI_BAR_IO) != (space == HSM_IO_PIO))
					continue;
				/* The whole access must fall inside the BAR (which
				 * may be smaller than the access). */
				if (size > b->size || addr < b->addr ||
				    addr - b->addr > b->size - size)
					continue;
				*bar = i;
				*off = addr - b->addr;
				return d;
			}
		}
	}
	return NULL;
}

static void cfg_access(struct pci_bus *bus, struct hsm_ioreq *req)
{
	unsigned bus_nr = req->bdf >> 8, slot = (req->bdf >> 3) & 0x1f, func = req->bdf & 7;
	struct pci_dev *d = bus_nr == 0 ? bus->devs[slot][func] : NULL;

	if (!d || req->size > 4 || req->addr >= PCI_CFG_EXT_SIZE ||
	    (req->addr & (req->size - 1))) {
		if (req->dir == HSM_IO_READ)
			req->data = ~0ULL >> (64 - 8 * req->size);
		return;
	}
	pci_dev_lock(d);
	if (req->dir == HSM_IO_READ)
		req->data = pci_cfg_guest_read(d, (unsigned)req->addr, req->size);
	else
		pci_cfg_guest_write(d, (unsigned)req->addr, req->size, (uint32_t)req->data);
	pci_dev_unlock(d);
}

void pci_bus_ioreq(struct pci_bus *bus, struct hsm_ioreq *req)
{
	struct pci_dev *d;
	uint64_t off;
	int bar;

	if (!size_ok(req->size)) {
		if (req->dir == HSM_IO_READ)
			req->data = ~0ULL;
		return;
	}
	if (req->space == HSM_IO_PCICFG) {
		cfg_access(bus, req);
		return;
	}
	d = find_bar(bus, req->space, req->addr, req->size, &bar, &off);
	if (!d) {
		if (req->dir == HSM_IO_READ)
			req->data = ~0ULL >> (64 - 8 * req->size);
		return;
	}
	pci_dev_lock(d);
	if (req->dir == HSM_IO_WRITE) {
		uint64_t val = req->data;

		if (!pci_msix_bar_access(d, bar, off, req->size, true, &val) && d->ops &&
		    d->ops->bar_write)
			d->ops->bar_write(d, bar, off, req->size, req->data);
		pci_dev_unlock(d);
		return;
	}
	req->data = ~0ULL;
	if (!pci_msix_bar_access(d, bar, off, req->size, false, &req->data) && d->ops &&
	    d->ops->bar_read)
		req->data = d->ops->bar_read(d, bar, off, req->size);
	pci_dev_unlock(d);
	if (req->size < 8)
		req->data &= (1ULL << (8 * req->size)) - 1;
}

int pci_bus_reset_function(struct pci_bus *bus, uint16_t bdf)
{
	struct pci_dev *d = (bdf >> 8) ? NULL : bus->devs[(bdf >> 3) & 0x1f][bdf & 7];

	if (!d)
		return -ENOENT;
	pci_dev_lock(d);
	if (d->ops && d->ops->reset)
		d->ops->reset(d);
	pci_dev_reset(d);
	pci_dev_unlock(d);
	return 0;
}
