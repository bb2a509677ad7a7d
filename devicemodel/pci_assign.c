/*
 * pci_assign.c - BAR addresses for every function before the guest runs,
 * where vdm loads the guest (pci_space.h: pci_space_assign_bars).  acrn-dm
 * gives each emulated BAR its address when it creates the device
 * (pci_emul_alloc_bar in hw/pci/core.c), so a guest without firmware finds
 * them programmed; vdm does the same from its windows, keeps the addresses
 * and writes them again after the function resets of a guest reboot.
 */
#include "pci_space.h"

#include <errno.h>
#include <stdio.h>
#include <linux/pci_regs.h>

/* What BAR idx's registers hold as an address (0: none). */
static uint64_t bar_register_addr(const struct pci_dev *d, int idx)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)idx;
	uint32_t lo = pci_cfg_read32(d, off);

	if (d->bars[idx].type == PCI_BAR_IO)
		return lo & PCI_BASE_ADDRESS_IO_MASK;
	uint64_t addr = lo & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;

	if (d->bars[idx].type == PCI_BAR_MEM64)
		addr |= (uint64_t)pci_cfg_read32(d, off + 4) << 32;
	return addr;
}

/* Lay out the BARs of d that hold no address; keep the others' (a
 * passthrough function's, programmed as the hypervisor maps them). */
static int lay_out(struct pci_space *s, const struct pci_dev *d, uint64_t rec[PCI_NUM_BARS],
		   char *err, size_t errlen)
{
	struct pci_space_bar bars[PCI_NUM_BARS] = { 0 };
	uint64_t addr[PCI_NUM_BARS], size[PCI_NUM_BARS];

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &d->bars[i];

		rec[i] = 0;
		if (b->type == PCI_BAR_NONE)
			continue;
		rec[i] = bar_register_addr(d, i);
		if (!rec[i])
			bars[i] = (struct pci_space_bar){ .type = b->type, .size = b->size,
							  .prefetchable = b->prefetchable,
							  .emulated = true };
		if (b->type == PCI_BAR_MEM64)
			i++;
	}
	int ret = pci_space_layout_bars(s, bars, addr, size, err, errlen);

	for (int i = 0; !ret && i < PCI_NUM_BARS; i++)
		if (bars[i].type != PCI_BAR_NONE)
			rec[i] = addr[i];
	return ret;
}

int pci_space_assign_bars(struct pci_space *s, struct pci_bus *bus, char *err, size_t errlen)
{
	for (int slot = 0; slot < PCI_NUM_SLOTS; slot++) {
		for (int func = 0; func < PCI_NUM_FUNCS; func++) {
			struct pci_dev *d = bus->devs[slot][func];
			uint64_t *rec = s->bar_addr[slot][func];
			char why[200];

			if (!d)
				continue;
			if (!(s->assigned[slot] & (1u << func))) {
				int ret = lay_out(s, d, rec, why, sizeof(why));

				if (ret) {
					snprintf(err, errlen, "00:%02x.%d (%s): %s", slot, func,
						 d->name, why);
					return ret;
				}
				s->assigned[slot] |= (uint8_t)(1u << func);
			}
			pci_dev_lock(d);
			for (int i = 0; i < PCI_NUM_BARS; i++) {
				unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
				enum pci_bar_type type = d->bars[i].type;
				/* The type bits stay; the address goes in. */
				uint32_t flags = pci_cfg_read32(d, off) &
						 (type == PCI_BAR_IO ? ~PCI_BASE_ADDRESS_IO_MASK
								     : ~(uint32_t)PCI_BASE_ADDRESS_MEM_MASK);

				if (type == PCI_BAR_NONE)
					continue;
				pci_cfg_set32(d, off, flags | (uint32_t)rec[i]);
				if (type == PCI_BAR_MEM64)
					pci_cfg_set32(d, off + 4, (uint32_t)(rec[i] >> 32)), i++;
			}
			pci_dev_unlock(d);
		}
	}
	return 0;
}
