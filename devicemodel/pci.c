/*
 * pci.c - one PCI function's type-0 config space: write masks,
 * write-1-to-clear bits, BAR sizing and decode, the capability list and
 * INTx.  Guest writes go byte by byte through the masks, so a BAR's
 * all-ones sizing write reads back its size mask with no special case.
 */
#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/pci_regs.h>

uint16_t pci_cfg_read16(const struct pci_dev *d, unsigned off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

uint32_t pci_cfg_read32(const struct pci_dev *d, unsigned off)
{
	return (uint32_t)pci_cfg_read16(d, off) | (uint32_t)pci_cfg_read16(d, off + 2) << 16;
}

void pci_cfg_set8(struct pci_dev *d, unsigned off, uint8_t v)
{
	d->cfg[off] = v;
}

void pci_cfg_set16(struct pci_dev *d, unsigned off, uint16_t v)
{
	d->cfg[off] = (uint8_t)v;
	d->cfg[off + 1] = (uint8_t)(v >> 8);
}

void pci_cfg_set32(struct pci_dev *d, unsigned off, uint32_t v)
{
	pci_cfg_set16(d, off, (uint16_t)v);
	pci_cfg_set16(d, off + 2, (uint16_t)(v >> 16));
}

static void set_wmask16(struct pci_dev *d, unsigned off, uint16_t m)
{
	d->wmask[off] = (uint8_t)m;
	d->wmask[off + 1] = (uint8_t)(m >> 8);
}

static void set_wmask32(struct pci_dev *d, unsigned off, uint32_t m)
{
	set_wmask16(d, off, (uint16_t)m);
	set_wmask16(d, off + 2, (uint16_t)(m >> 16));
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	memset(d->w1cmask, 0, sizeof(d->w1cmask));
	memset(d->claimed, 0, sizeof(d->claimed));
	d->nclaims = 0;
	memset(d->bars, 0, sizeof(d->bars));
	snprintf(d->name, sizeof(d->name), "%s", name);
	pci_cfg_set16(d, PCI_VENDOR_ID, vendor);
	pci_cfg_set16(d, PCI_DEVICE_ID, device);
	pci_cfg_set8(d, PCI_REVISION_ID, revision);
	pci_cfg_set8(d, PCI_CLASS_PROG, (uint8_t)class_code);
	pci_cfg_set16(d, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	pci_cfg_set8(d, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	pci_cfg_set16(d, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_cfg_set16(d, PCI_SUBSYSTEM_ID, subsys_id);

	set_wmask16(d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
					    PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
					    PCI_COMMAND_INTX_DISABLE);
	/* Error bits of the status register are write-1-to-clear. */
	uint16_t w1c = PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
		       PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
		       PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;
	d->w1cmask[PCI_STATUS] = (uint8_t)w1c;
	d->w1cmask[PCI_STATUS + 1] = (uint8_t)(w1c >> 8);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_end = 0x40;
	d->last_cap = 0;
	d->intx_pending = false;
	d->intx_line = false;
}

int pci_dev_add_bar(struct pci_dev *d, int idx, enum pci_bar_type type, uint64_t size,
		    bool prefetchable)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)idx;
	uint32_t flags;

	if (idx < 0 || idx >= PCI_NUM_BARS || (size & (size - 1)) || d->bars[idx].type)
		return -EINVAL;
	if (type == PCI_BAR_MEM64 && (idx == PCI_NUM_BARS - 1 || d->bars[idx + 1].type))
		return -EINVAL;
	/* The upper half of a 64-bit BAR has type NONE but is not free. */
	if (idx > 0 && d->bars[idx - 1].type == PCI_BAR_MEM64)
		return -EINVAL;
	if (type == PCI_BAR_IO ? (size < 4 || size > 256) : size < 16)
		return -EINVAL;
	if (type == PCI_BAR_MEM32 && size > (1ULL << 31))
		return -EINVAL;

	d->bars[idx] = (struct pci_bar){ .type = type, .size = size, .prefetchable = prefetchable };
	switch (type) {
	case PCI_BAR_IO:
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		set_wmask32(d, off, ~(uint32_t)(size - 1) & PCI_BASE_ADDRESS_IO_MASK);
		break;
	case PCI_BAR_MEM32:
		flags = PCI_BASE_ADDRESS_MEM_TYPE_32;
		set_wmask32(d, off, ~(uint32_t)(size - 1) & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
		break;
	case PCI_BAR_MEM64:
		flags = PCI_BASE_ADDRESS_MEM_TYPE_64;
		set_wmask32(d, off, (uint32_t)~(size - 1) & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
		set_wmask32(d, off + 4, (uint32_t)(~(size - 1) >> 32));
		/* The upper half is described by the lower BAR. */
		d->bars[idx + 1].type = PCI_BAR_NONE;
		break;
	default:
		return -EINVAL;
	}
	if (prefetchable && type != PCI_BAR_IO)
		flags |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	pci_cfg_set32(d, off, flags);
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, const void *data, unsigned len)
{
	unsigned off = d->cap_end;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memcpy(&d->cfg[off], data, len);
	d->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (d->last_cap)
		d->cfg[d->last_cap + PCI_CAP_LIST_NEXT] = (uint8_t)off;
	else
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->last_cap = (uint8_t)off;
	d->cap_end = (uint8_t)((off + len + 3) & ~3u);
	if (off + len + 3 >= PCI_CFG_SIZE)
		d->cap_end = PCI_CFG_SIZE - 1; /* full: even a 2-byte cap fails the bound check */
	return (int)off;
}

void pci_dev_set_wmask(struct pci_dev *d, unsigned off, const uint8_t *mask, unsigned len)
{
	if (off + len <= PCI_CFG_SIZE)
		memcpy(&d->wmask[off], mask, len);
}

int pci_dev_claim_cfg(struct pci_dev *d, unsigned off, unsigned len)
{
	if (len == 0 || off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return -EINVAL;
	for (unsigned i = 0; i < len; i++)
		if (d->claimed[off + i])
			return -EEXIST;
	if (d->nclaims == UINT8_MAX)
		return -ENOSPC;
	/* Each range gets its own number, so that adjacent ranges stay apart. */
	memset(&d->claimed[off], ++d->nclaims, len);
	return 0;
}

void pci_dev_set_intx_pin(struct pci_dev *d, uint8_t pin)
{
	pci_cfg_set8(d, PCI_INTERRUPT_PIN, pin);
}

/* ---- BAR decode ---- */

static uint32_t wmask32(const struct pci_dev *d, unsigned off)
{
	return d->wmask[off] | d->wmask[off + 1] << 8 | d->wmask[off + 2] << 16 |
	       (uint32_t)d->wmask[off + 3] << 24;
}

static uint64_t bar_programmed_addr(const struct pci_dev *d, int idx, bool *sizing)
{
	const struct pci_bar *b = &d->bars[idx];
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)idx;
	uint32_t lo = pci_cfg_read32(d, off);
	uint32_t lo_mask = wmask32(d, off);

	if (b->type == PCI_BAR_IO) {
		*sizing = (lo & lo_mask) == lo_mask;
		return lo & PCI_BASE_ADDRESS_IO_MASK;
	}
	uint64_t addr = lo & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
	*sizing = (lo & lo_mask) == lo_mask;
	if (b->type == PCI_BAR_MEM64) {
		uint32_t hi = pci_cfg_read32(d, off + 4), hi_mask = wmask32(d, off + 4);

		/*
		 * Sizing writes all-ones to one half at a time.  A BAR over 4 GiB
		 * has no writable bits in its low half (an empty mask would always
		 * look "sized") and fewer than 32 in its high half.
		 */
		*sizing = (lo_mask && *sizing) || (hi & hi_mask) == hi_mask;
		addr |= (uint64_t)hi << 32;
	}
	return addr;
}

/* Recompute which BARs decode after a command or BAR write. */
static void update_bar_mappings(struct pci_dev *d)
{
	uint16_t cmd = pci_cfg_read16(d, PCI_COMMAND);

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bars[i];
		bool sizing, enabled;
		uint64_t addr;

		if (!b->type)
			continue;
		addr = bar_programmed_addr(d, i, &sizing);
		enabled = (b->type == PCI_BAR_IO) ? (cmd & PCI_COMMAND_IO) : (cmd & PCI_COMMAND_MEMORY);
		/* Address 0 means "not assigned" to every firmware and OS we serve. */
		bool map = enabled && !sizing && addr != 0;
		if (map == b->mapped && (!map || addr == b->addr))
			continue;
		if (b->mapped && d->ops && d->ops->bar_map)
			d->ops->bar_map(d, i, false, b->addr);
		b->mapped = map;
		b->addr = map ? addr : 0;
		if (map && d->ops && d->ops->bar_map)
			d->ops->bar_map(d, i, true, addr);
	}
}

/* ---- INTx ---- */

/* The IOAPIC pin INTx goes to: the platform's route, else the guest's. */
static uint8_t intx_gsi(const struct pci_dev *d)
{
	return d->intx_routed_gsi ? d->intx_routed_gsi : d->cfg[PCI_INTERRUPT_LINE];
}

static void intx_sync(struct pci_dev *d)
{
	bool disabled = pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	bool line = d->intx_pending && !disabled && d->cfg[PCI_INTERRUPT_PIN];

	if (d->intx_pending)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	if (line == d->intx_line || !d->bus || !d->bus->vm)
		return;
	struct hsm_irq irq = {
		.kind = HSM_IRQ_INTX,
		.bdf = hsm_bdf(0, d->slot, d->func),
		.pin = d->cfg[PCI_INTERRUPT_PIN],
		.line = intx_gsi(d),
	};
	if (hsm_set_intx(d->bus->vm, &irq, line) == 0)
		d->intx_line = line;
}

/*
 * The guest (or the platform, pci_dev_route_intx) gave the function an
 * interrupt line: start that line released, as a platform routing it
 * would, so an active-low pin does not read asserted before the first
 * interrupt.
 */
static void intx_line_routed(struct pci_dev *d)
{
	uint8_t line = intx_gsi(d);

	if (!d->cfg[PCI_INTERRUPT_PIN] || line == 0 || line == 0xff || d->intx_line || !d->bus ||
	    !d->bus->vm || !d->bus->intx_active_low)
		return;
	struct hsm_irq irq = {
		.kind = HSM_IRQ_INTX,
		.bdf = hsm_bdf(0, d->slot, d->func),
		.pin = d->cfg[PCI_INTERRUPT_PIN],
		.line = line,
	};
	(void)hsm_set_intx(d->bus->vm, &irq, false);
}

void pci_dev_route_intx(struct pci_dev *d, uint8_t line)
{
	pci_cfg_set8(d, PCI_INTERRUPT_LINE, line);
	d->intx_routed_gsi = line;
	intx_line_routed(d);
}

void pci_intx_set(struct pci_dev *d, bool pending)
{
	d->intx_pending = pending;
	intx_sync(d);
}

/* ---- guest access ---- */

/*
 * How many bytes from off (at most max) belong to the same claimed range, or
 * are all unclaimed.  A guest access is split at every boundary between
 * ranges: a device's cfg_read/cfg_write sees only bytes it claimed, and
 * never bytes of another range or of plain config memory.
 */
static unsigned same_owner(const struct pci_dev *d, unsigned off, unsigned max)
{
	unsigned n = 1;

	while (n < max && d->claimed[off + n] == d->claimed[off])
		n++;
	return n;
}

static uint32_t low_bytes(uint32_t v, unsigned n)
{
	return n >= 4 ? v : v & ((1u << (8 * n)) - 1);
}

uint32_t pci_cfg_guest_read(struct pci_dev *d, unsigned off, unsigned size)
{
	uint32_t val = 0;

	if (off >= PCI_CFG_SIZE)
		return 0; /* no extended capabilities */
	if (off + size > PCI_CFG_SIZE)
		size = PCI_CFG_SIZE - off;
	for (unsigned i = 0, n; i < size; i += n) {
		unsigned o = off + i;
		uint32_t part = 0;

		n = same_owner(d, o, size - i);
		if (d->claimed[o] && d->ops && d->ops->cfg_read)
			part = low_bytes(d->ops->cfg_read(d, o, n), n);
		else
			for (unsigned j = 0; j < n; j++)
				part |= (uint32_t)d->cfg[o + j] << (8 * j);
		val |= part << (8 * i);
	}
	return val;
}

void pci_cfg_guest_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
	bool touches_bars = false, touches_cmd = false, touches_msix = false, touches_line = false;

	if (off >= PCI_CFG_SIZE)
		return;
	if (off + size > PCI_CFG_SIZE)
		size = PCI_CFG_SIZE - off;
	for (unsigned i = 0, n; i < size; i += n) {
		unsigned o = off + i;

		n = same_owner(d, o, size - i);
		if (d->claimed[o] && d->ops && d->ops->cfg_write) {
			d->ops->cfg_write(d, o, n, low_bytes(val >> (8 * i), n));
			continue;
		}
		for (unsigned j = 0; j < n; j++, o++) {
			uint8_t b = (uint8_t)(val >> (8 * (i + j)));

			d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (b & d->wmask[o]));
			d->cfg[o] &= (uint8_t)~(b & d->w1cmask[o]);
			if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS)
				touches_bars = true;
			if (o == PCI_COMMAND || o == PCI_COMMAND + 1)
				touches_cmd = true;
			if (o == PCI_INTERRUPT_LINE)
				touches_line = true;
			if (d->msix.nvec && o >= d->msix.cap + 2u && o < d->msix.cap + 4u)
				touches_msix = true;
		}
	}
	if (touches_line && !d->intx_routed_gsi)
		intx_line_routed(d); /* a route the guest chose */
	if (touches_bars || touches_cmd)
		update_bar_mappings(d);
	if (touches_cmd)
		intx_sync(d);
	if (touches_msix) {
		pci_msix_ctl_written(d);
		if (d->ops && d->ops->msix_changed)
			d->ops->msix_changed(d);
	}
}

void pci_dev_reset(struct pci_dev *d)
{
	/* Power-on values of everything the guest can write. */
	pci_cfg_set16(d, PCI_COMMAND, 0);
	pci_cfg_set16(d, PCI_STATUS, pci_cfg_read16(d, PCI_STATUS) &
					     (uint16_t)~(d->w1cmask[PCI_STATUS] |
							 d->w1cmask[PCI_STATUS + 1] << 8));
	pci_cfg_set8(d, PCI_CACHE_LINE_SIZE, 0);
	pci_cfg_set8(d, PCI_LATENCY_TIMER, 0);
	/* A line the device model routed itself (read-only) stays. */
	d->cfg[PCI_INTERRUPT_LINE] &= (uint8_t)~d->wmask[PCI_INTERRUPT_LINE];
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
		uint32_t keep = pci_cfg_read32(d, off) &
				~(d->wmask[off] | d->wmask[off + 1] << 8 | d->wmask[off + 2] << 16 |
				  (uint32_t)d->wmask[off + 3] << 24);
		pci_cfg_set32(d, off, keep);
	}
	update_bar_mappings(d);
	if (d->msix.nvec) {
		uint16_t ctl = pci_cfg_read16(d, d->msix.cap + PCI_MSIX_FLAGS);

		pci_cfg_set16(d, d->msix.cap + PCI_MSIX_FLAGS,
			      ctl & (uint16_t)~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
		for (int v = 0; v < d->msix.nvec; v++) {
			d->msix.entries[v].addr = 0;
			d->msix.entries[v].data = 0;
			d->msix.entries[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		}
		memset(d->msix.pba, 0, (size_t)(d->msix.nvec + 63) / 64 * 8);
		pci_msix_ctl_written(d);
		if (d->ops && d->ops->msix_changed)
			d->ops->msix_changed(d);
	}
	pci_intx_set(d, false);
}

int pci_dev_dump(const struct pci_dev *d, int fd, bool full)
{
	unsigned n = full ? PCI_CFG_SIZE : 64;

	if (dprintf(fd, "00:%02x.%x %s\n", d->slot, d->func, d->name) < 0)
		return -EIO;
	for (unsigned row = 0; row < n; row += 16) {
		char line[80];
		int len = snprintf(line, sizeof(line), "%02x:", row);

		for (unsigned i = 0; i < 16; i++)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %02x",
					d->cfg[row + i]);
		if (dprintf(fd, "%s\n", line) < 0)
			return -EIO;
	}
	return dprintf(fd, "\n") < 0 ? -EIO : 0;
}
