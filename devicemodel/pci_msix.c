/*
 * pci_msix.c - MSI-X: the capability, the vector table and pending-bit
 * array in a BAR, per-vector and function masking, and delivery.
 *
 * Each vector owns an eventfd.  While the vector can be delivered (MSI-X
 * enabled, function and vector unmasked) the eventfd is registered with
 * libhsm as an irqfd for the vector's message, so a back-end (or a vhost
 * process) raises it without entering vdm.  While it cannot, a notify sets
 * the pending bit instead; unmasking delivers what is pending (PCI 3.0, 6.8.3).
 * A masked vector's irqfd may still be written by a vhost back-end: the PBA
 * shows such a signal as pending when read (collect_signals).
 */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#define MSIX_ENTRY_SIZE 16

static bool vector_deliverable(const struct pci_dev *d, int v)
{
	uint16_t ctl = pci_cfg_read16(d, d->msix.cap + PCI_MSIX_FLAGS);

	return (ctl & PCI_MSIX_FLAGS_ENABLE) && !(ctl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(d->msix.entries[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static bool pending(const struct pci_dev *d, int v)
{
	return d->msix.pba[v / 64] >> (v % 64) & 1;
}

static void set_pending(struct pci_dev *d, int v, bool on)
{
	if (on)
		d->msix.pba[v / 64] |= 1ULL << (v % 64);
	else
		d->msix.pba[v / 64] &= ~(1ULL << (v % 64));
}

static void unroute(struct pci_dev *d, int v)
{
	struct pci_msix_entry *e = &d->msix.entries[v];

	if (e->routed && d->bus && d->bus->vm)
		hsm_irqfd_del(d->bus->vm, e->irqfd);
	e->routed = false;
}

/* Bring vector v's irqfd routing and pending bit in line with its state. */
static void sync_vector(struct pci_dev *d, int v)
{
	struct pci_msix_entry *e = &d->msix.entries[v];
	struct hsm_vm *vm = d->bus ? d->bus->vm : NULL;

	unroute(d, v);
	if (!vector_deliverable(d, v) || !vm)
		return;
	struct hsm_irq irq = { .kind = HSM_IRQ_MSI, .msi_addr = e->addr, .msi_data = e->data };
	if (hsm_irqfd_add(vm, &irq, e->irqfd) == 0)
		e->routed = true;
	if (pending(d, v)) {
		set_pending(d, v, false);
		hsm_inject_msi(vm, e->addr, e->data);
	}
}

/*
 * A vector that cannot be delivered is not routed, but whoever holds its
 * irqfd (a vhost back-end's call fd) may still signal it: such a signal is
 * pending.  Move what vectors [first, end) collected into their pending
 * bits, so the PBA shows it; unmasking then delivers it (sync_vector).
 */
static void collect_signals(struct pci_dev *d, int first, int end)
{
	eventfd_t count;

	for (int v = first; v < end && v < d->msix.nvec; v++) {
		struct pci_msix_entry *e = &d->msix.entries[v];

		if (!e->routed && e->irqfd >= 0 && eventfd_read(e->irqfd, &count) == 0)
			set_pending(d, v, true);
	}
}

static void sync_all(struct pci_dev *d)
{
	for (int v = 0; v < d->msix.nvec; v++)
		sync_vector(d, v);
}

int pci_msix_init(struct pci_dev *d, int nvec, int bar, uint32_t table_off, uint32_t pba_off)
{
	struct pci_msix *m = &d->msix;
	uint8_t cap[12] = { PCI_CAP_ID_MSIX };
	int off, ret = -ENOMEM;

	if (nvec < 1 || nvec > 2048 || bar < 0 || bar >= PCI_NUM_BARS || !d->bars[bar].type ||
	    (table_off & 7) || (pba_off & 7) ||
	    (uint64_t)table_off + (uint64_t)nvec * MSIX_ENTRY_SIZE > d->bars[bar].size ||
	    (uint64_t)pba_off + (uint64_t)(nvec + 63) / 64 * 8 > d->bars[bar].size)
		return -EINVAL;
	m->entries = calloc((size_t)nvec, sizeof(*m->entries));
	m->pba = calloc((size_t)(nvec + 63) / 64, sizeof(uint64_t));
	/* Before any failure: the error path closes every irqfd >= 0, and
	 * calloc left them 0 (stdin). */
	for (int v = 0; m->entries && v < nvec; v++) {
		m->entries[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		m->entries[v].irqfd = -1;
	}
	if (!m->entries || !m->pba)
		goto err;
	for (int v = 0; v < nvec; v++) {
		m->entries[v].irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->entries[v].irqfd < 0)
			goto err;
	}
	cap[2] = (uint8_t)(nvec - 1);
	cap[3] = (uint8_t)((nvec - 1) >> 8);
	memcpy(&cap[4], &(uint32_t){ table_off | (uint32_t)bar }, 4);
	memcpy(&cap[8], &(uint32_t){ pba_off | (uint32_t)bar }, 4);
	off = pci_dev_add_cap(d, cap, sizeof(cap));
	if (off < 0) {
		ret = off; /* -ENOSPC: no room in config space */
		goto err;
	}
	m->cap = (uint8_t)off;
	m->nvec = nvec;
	m->bar = bar;
	m->table_off = table_off;
	m->pba_off = pba_off;
	/* Only the enable and function-mask bits are the guest's. */
	pci_dev_set_wmask(d, (unsigned)off + PCI_MSIX_FLAGS + 1,
			  &(uint8_t){ (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8 }, 1);
	return 0;
err:
	m->nvec = nvec; /* so fini walks the fds */
	pci_msix_fini(d);
	return ret;
}

void pci_msix_fini(struct pci_dev *d)
{
	struct pci_msix *m = &d->msix;

	for (int v = 0; m->entries && v < m->nvec; v++) {
		unroute(d, v);
		if (m->entries[v].irqfd >= 0)
			close(m->entries[v].irqfd);
	}
	free(m->entries);
	free(m->pba);
	m->entries = NULL;
	m->pba = NULL;
	m->nvec = 0;
}

bool pci_msix_enabled(const struct pci_dev *d)
{
	return d->msix.nvec &&
	       (pci_cfg_read16(d, d->msix.cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

int pci_msix_notify(struct pci_dev *d, int vec)
{
	struct pci_msix_entry *e;

	if (vec < 0 || vec >= d->msix.nvec)
		return -EINVAL;
	e = &d->msix.entries[vec];
	if (e->routed && !d->bus->caps_native_irqfd)
		/* A software irqfd would only come back through the event loop
		 * to inject this same message: inject it now and save the
		 * eventfd write, the loop turn and the read. */
		return hsm_inject_msi(d->bus->vm, e->addr, e->data);
	if (e->routed)
		return eventfd_write(e->irqfd, 1) ? -errno : 0;
	set_pending(d, vec, true);
	return 0;
}

static uint32_t table_read32(const struct pci_msix_entry *e, unsigned field)
{
	switch (field) {
	case 0:
		return (uint32_t)e->addr;
	case 4:
		return (uint32_t)(e->addr >> 32);
	case 8:
		return e->data;
	default:
		return e->ctrl;
	}
}

static void table_write32(struct pci_msix_entry *e, unsigned field, uint32_t val)
{
	switch (field) {
	case 0:
		e->addr = (e->addr & ~0xffffffffULL) | val;
		break;
	case 4:
		e->addr = (e->addr & 0xffffffffULL) | (uint64_t)val << 32;
		break;
	case 8:
		e->data = val;
		break;
	default:
		/* Only the mask bit is defined (PCI 3.0, 6.8.2.9). */
		e->ctrl = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		break;
	}
}

bool pci_msix_bar_access(struct pci_dev *d, int bar, uint64_t off, unsigned size, bool write,
			 uint64_t *val)
{
	struct pci_msix *m = &d->msix;
	uint64_t table_len = (uint64_t)m->nvec * MSIX_ENTRY_SIZE;
	uint64_t pba_len = (uint64_t)(m->nvec + 63) / 64 * 8;

	if (!m->nvec || bar != m->bar)
		return false;
	if (off >= m->table_off && off < m->table_off + table_len) {
		off -= m->table_off;
		/* Table accesses are aligned dwords or qwords (PCI 3.0, 6.8.2). */
		if ((size != 4 && size != 8) || (off & (size - 1))) {
			if (!write)
				*val = ~0ULL;
			return true;
		}
		int v = (int)(off / MSIX_ENTRY_SIZE);
		unsigned field = (unsigned)(off % MSIX_ENTRY_SIZE);
		struct pci_msix_entry *e = &m->entries[v];
		if (!write) {
			*val = table_read32(e, field);
			if (size == 8)
				*val |= (uint64_t)table_read32(e, field + 4) << 32;
			return true;
		}
		table_write32(e, field, (uint32_t)*val);
		if (size == 8)
			table_write32(e, field + 4, (uint32_t)(*val >> 32));
		sync_vector(d, v);
		return true;
	}
	if (off >= m->pba_off && off < m->pba_off + pba_len) {
		/* The PBA is read-only; writes are ignored. */
		if (!write) {
			uint64_t rel = off - m->pba_off;

			*val = 0;
			for (unsigned i = 0; i < size && rel + i < pba_len; i++) {
				uint64_t byte = rel + i;

				collect_signals(d, (int)byte * 8, (int)byte * 8 + 8);
				*val |= (m->pba[byte / 8] >> (8 * (byte % 8)) & 0xff) << (8 * i);
			}
		}
		return true;
	}
	return false;
}

void pci_msix_ctl_written(struct pci_dev *d)
{
	sync_all(d);
}
