/*
 * acrn_model_ptdev.c - the HSM model's hypervisor side of PCI passthrough:
 * ASSIGN_PCIDEV, DEASSIGN_PCIDEV, SET_PTDEV_INTR and RESET_PTDEV_INTR, as
 * ACRN's vPCI and ptirq code take them.
 *
 * Like the hypervisor, the model knows the host function on its own: it
 * reads it from sysfs (config and resource files), not through
 * libpciaccess as vdm does, and checks what vdm hands over against it:
 *  - a function that is not there, or one the hypervisor gave another VM
 *    (option assigned=), is refused with -ENODEV;
 *  - each virtual BAR must have the host BAR's type bits (I/O, 64-bit,
 *    prefetchable), a memory BAR an address aligned to its size (at least
 *    a page) outside guest RAM, an I/O BAR the host's ports;
 *  - INTx: a pin only with a line that is a virtual IOAPIC pin;
 *    SET_PTDEV_INTR only for an assigned function, with the line ASSIGN
 *    gave as virtual pin and the host function's interrupt line as
 *    physical pin; RESET_PTDEV_INTR of that route before DEASSIGN_PCIDEV,
 *    and DEASSIGN_PCIDEV of everything before DESTROY_VM.
 * What breaks these is a protocol violation (counted, logged).  Each call
 * is logged at debug level with what it carried.
 */
#include "acrn_model_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/pci_regs.h>

static void bdf_str(uint16_t bdf, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x.%x", bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7);
}

static void violation(struct acrn_model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(struct acrn_model *m, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	model_violation(m, "%s", msg, 0);
}

/* The host function as sysfs shows it. */
struct host_fn {
	uint8_t cfg[64];
	uint64_t start[PCI_STD_NUM_BARS], size[PCI_STD_NUM_BARS];
};

static int read_host(uint16_t bdf, struct host_fn *h)
{
	char path[96], line[128];
	int fd, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%02x:%02x.%x/config", bdf >> 8,
		 (bdf >> 3) & 0x1f, bdf & 7);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENODEV;
	n = (int)pread(fd, h->cfg, sizeof(h->cfg), 0);
	close(fd);
	if (n != (int)sizeof(h->cfg))
		return -EIO;
	memcpy(path + strlen(path) - strlen("config"), "resource", sizeof("resource"));
	f = fopen(path, "re");
	if (!f)
		return -EIO;
	for (int i = 0; i < PCI_STD_NUM_BARS && fgets(line, sizeof(line), f); i++) {
		uint64_t start, end, flags;

		h->start[i] = h->size[i] = 0;
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end, &flags) == 3 &&
		    end > start)
			h->size[i] = end - start + 1, h->start[i] = start;
	}
	fclose(f);
	return 0;
}

static uint32_t cfg32(const struct host_fn *h, unsigned off)
{
	return (uint32_t)h->cfg[off] | (uint32_t)h->cfg[off + 1] << 8 |
	       (uint32_t)h->cfg[off + 2] << 16 | (uint32_t)h->cfg[off + 3] << 24;
}

static bool overlaps_ram(const struct acrn_model *m, uint64_t base, uint64_t size)
{
	for (int i = 0; i < m->nsegs; i++)
		if (base < m->segs[i].gpa + m->segs[i].len && m->segs[i].gpa < base + size)
			return true;
	return false;
}

/* Check the virtual BARs against the host's; log them. */
static void check_bars(struct acrn_model *m, const struct acrn_pcidev *d, const struct host_fn *h,
		       const char *virt)
{
	for (int i = 0; i < PCI_STD_NUM_BARS; i++) {
		uint32_t hreg = cfg32(h, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i), vreg = d->bar[i];
		uint64_t size = h->size[i];

		if (!size)
			continue;
		if (hreg & PCI_BASE_ADDRESS_SPACE_IO) {
			uint32_t port = vreg & PCI_BASE_ADDRESS_IO_MASK;

			hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: %s BAR %d I/O %#x, %" PRIu64
				" ports", virt, i, port, size);
			if (!(vreg & PCI_BASE_ADDRESS_SPACE_IO) || port != h->start[i])
				violation(m, "%s BAR %d: I/O BAR %#x, the host's ports are %#" PRIx64,
					  virt, i, vreg, h->start[i]);
			continue;
		}
		uint32_t type_bits = PCI_BASE_ADDRESS_SPACE_IO | PCI_BASE_ADDRESS_MEM_TYPE_MASK |
				     PCI_BASE_ADDRESS_MEM_PREFETCH;
		bool is64 = (hreg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
		uint64_t addr = vreg & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		uint64_t align = size < MODEL_PAGE ? MODEL_PAGE : size;

		if (is64 && i + 1 < PCI_STD_NUM_BARS)
			addr |= (uint64_t)d->bar[i + 1] << 32;
		bool aligned = addr && !(addr & (align - 1));
		hsm_log(m->vm, HSM_LOG_DEBUG,
			"acrn model: %s BAR %d memory%s%s at %#" PRIx64 ", host %" PRIu64
			" bytes: %s", virt, i, is64 ? " 64-bit" : "",
			hreg & PCI_BASE_ADDRESS_MEM_PREFETCH ? " prefetchable" : "", addr, size,
			aligned ? "size-aligned" : "NOT size-aligned");
		if ((vreg & type_bits) != (hreg & type_bits))
			violation(m, "%s BAR %d: type bits %#x, the host's are %#x", virt, i,
				  vreg & type_bits, hreg & type_bits);
		if (!aligned)
			violation(m, "%s BAR %d at %#" PRIx64 ": not aligned to %" PRIu64, virt, i,
				  addr, align);
		if (overlaps_ram(m, addr, align))
			violation(m, "%s BAR %d at %#" PRIx64 ": inside guest RAM", virt, i, addr);
		if (is64)
			i++;
	}
}

static struct model_ptdev *find(struct acrn_model *m, uint16_t virt, uint16_t phys)
{
	for (int i = 0; i < MODEL_MAX_PTDEVS; i++)
		if (m->ptdevs[i].used && m->ptdevs[i].dev.virt_bdf == virt &&
		    m->ptdevs[i].dev.phys_bdf == phys)
			return &m->ptdevs[i];
	return NULL;
}

static int assign(struct acrn_model *m, const struct acrn_pcidev *d)
{
	char virt[16], phys[16];
	struct model_ptdev *slot = NULL;
	struct host_fn h;
	int ret;

	bdf_str(d->virt_bdf, virt, sizeof(virt));
	bdf_str(d->phys_bdf, phys, sizeof(phys));
	hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: ASSIGN_PCIDEV virt %s phys %s type %u pin %u "
		"line %u", virt, phys, d->type, d->intr_pin, d->intr_line);
	for (int i = 0; i < m->ntaken; i++)
		if (m->taken[i] == d->phys_bdf)
			return -ENODEV; /* not the Service VM's any more */
	for (int i = 0; i < MODEL_MAX_PTDEVS; i++) {
		struct model_ptdev *p = &m->ptdevs[i];

		if (p->used && (p->dev.phys_bdf == d->phys_bdf || p->dev.virt_bdf == d->virt_bdf)) {
			violation(m, "ASSIGN_PCIDEV of %s at %s: already assigned", phys, virt);
			return -ENODEV;
		}
		if (!p->used && !slot)
			slot = p;
	}
	ret = read_host(d->phys_bdf, &h);
	if (ret)
		return -ENODEV; /* the hypervisor has no such function */
	if (!slot)
		return -ENOSPC;
	if (d->type & ~ACRN_PTDEV_QUIRK_ASSIGN)
		violation(m, "ASSIGN_PCIDEV of %s: type %#x", phys, d->type);
	if (d->intr_pin > 4 || (d->intr_pin && d->intr_line >= ACRN_VIOAPIC_PINS))
		violation(m, "ASSIGN_PCIDEV of %s: pin %u line %u is no virtual IOAPIC pin", phys,
			  d->intr_pin, d->intr_line);
	if (d->intr_pin && d->intr_pin != h.cfg[PCI_INTERRUPT_PIN])
		violation(m, "ASSIGN_PCIDEV of %s: pin %u, the host function's is %u", phys,
			  d->intr_pin, h.cfg[PCI_INTERRUPT_PIN]);
	check_bars(m, d, &h, virt);
	*slot = (struct model_ptdev){ .used = true, .dev = *d };
	return 0;
}

static int deassign(struct acrn_model *m, const struct acrn_pcidev *d)
{
	char virt[16], phys[16];
	struct model_ptdev *p = find(m, d->virt_bdf, d->phys_bdf);

	bdf_str(d->virt_bdf, virt, sizeof(virt));
	bdf_str(d->phys_bdf, phys, sizeof(phys));
	hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: DEASSIGN_PCIDEV virt %s phys %s", virt, phys);
	if (!p) {
		violation(m, "DEASSIGN_PCIDEV of %s at %s, which is not assigned", phys, virt);
		return -ENODEV;
	}
	if (p->intx)
		violation(m, "DEASSIGN_PCIDEV of %s with its INTx still routed (GSI %u)", phys,
			  p->irq.intx.virt_pin);
	p->used = false;
	return 0;
}

static int ptdev_intr(struct acrn_model *m, const struct acrn_ptdev_irq *irq, bool set)
{
	char virt[16], phys[16];
	struct model_ptdev *p = find(m, irq->virt_bdf, irq->phys_bdf);
	const char *name = set ? "SET_PTDEV_INTR" : "RESET_PTDEV_INTR";
	struct host_fn h;

	bdf_str(irq->virt_bdf, virt, sizeof(virt));
	bdf_str(irq->phys_bdf, phys, sizeof(phys));
	hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: %s virt %s phys %s virt_pin %u phys_pin %u",
		name, virt, phys, irq->intx.virt_pin, irq->intx.phys_pin);
	if (irq->type != ACRN_PTDEV_IRQ_INTX || irq->intx.is_pic_pin ||
	    irq->intx.virt_pin >= ACRN_VIOAPIC_PINS) {
		violation(m, "%s of %s: not an IOAPIC INTx", name, phys);
		return -EINVAL;
	}
	if (!p) {
		violation(m, "%s of %s at %s, which is not assigned", name, phys, virt);
		return -EINVAL;
	}
	if (!set) {
		if (!p->intx || p->irq.intx.virt_pin != irq->intx.virt_pin) {
			violation(m, "RESET_PTDEV_INTR of %s, GSI %u: no such route", phys,
				  irq->intx.virt_pin);
			return -EINVAL;
		}
		p->intx = false;
		return 0;
	}
	if (p->intx) {
		violation(m, "SET_PTDEV_INTR of %s twice", phys);
		return -EEXIST;
	}
	if (!p->dev.intr_pin || irq->intx.virt_pin != p->dev.intr_line)
		violation(m, "SET_PTDEV_INTR of %s: virtual pin %u, but ASSIGN gave pin %u line %u",
			  phys, irq->intx.virt_pin, p->dev.intr_pin, p->dev.intr_line);
	if (read_host(irq->phys_bdf, &h) == 0 && irq->intx.phys_pin != h.cfg[PCI_INTERRUPT_LINE])
		violation(m, "SET_PTDEV_INTR of %s: physical pin %u, the function's line is %u", phys,
			  irq->intx.phys_pin, h.cfg[PCI_INTERRUPT_LINE]);
	p->intx = true;
	p->irq = *irq;
	return 0;
}

int model_ptdev_ioctl_locked(struct acrn_model *m, unsigned long cmd, unsigned long arg)
{
	switch (cmd) {
	case ACRN_IOCTL_ASSIGN_PCIDEV:
		return assign(m, (const struct acrn_pcidev *)arg);
	case ACRN_IOCTL_DEASSIGN_PCIDEV:
		return deassign(m, (const struct acrn_pcidev *)arg);
	case ACRN_IOCTL_SET_PTDEV_INTR:
	case ACRN_IOCTL_RESET_PTDEV_INTR:
		return ptdev_intr(m, (const struct acrn_ptdev_irq *)arg,
				  cmd == ACRN_IOCTL_SET_PTDEV_INTR);
	default:
		return -ENOTTY;
	}
}

void model_ptdev_destroy_locked(struct acrn_model *m)
{
	for (int i = 0; i < MODEL_MAX_PTDEVS; i++) {
		char phys[16];

		if (!m->ptdevs[i].used)
			continue;
		bdf_str(m->ptdevs[i].dev.phys_bdf, phys, sizeof(phys));
		violation(m, "DESTROY_VM with host function %s still assigned", phys);
		m->ptdevs[i].used = false;
	}
}

int model_ptdev_option(struct acrn_model *m, const char *bdf)
{
	unsigned b, d, f;
	char end;

	if (m->ntaken == MODEL_MAX_TAKEN ||
	    sscanf(bdf, "%2x/%2x/%1x%c", &b, &d, &f, &end) != 3 || d > 0x1f || f > 7)
		return -EINVAL;
	m->taken[m->ntaken++] = (uint16_t)(b << 8 | d << 3 | f);
	return 0;
}
