/*
 * passthru.c - `-s N,passthru,BUS/DEV/FUNC[,keep_gsi][,no_reset]`: a host
 * PCI function given to the guest, as acrn-dm gives it.
 *
 * vdm finds the function (passthru_host.c), resets it, builds the virtual
 * function the guest is shown (the host's IDs, class, subsystem and
 * revision; BARs of the host's sizes and types at addresses vdm lays out;
 * INTx with the host's pin on a GSI vdm routes) and hands it to the
 * hypervisor with ASSIGN_PCIDEV.  Once every function is on the bus it
 * routes INTx with SET_PTDEV_INTR.  At exit, or when start-up fails after
 * it, each step is undone in reverse: RESET_PTDEV_INTR, DEASSIGN_PCIDEV,
 * another reset, and the host function is released.
 *
 * From ASSIGN_PCIDEV on the hypervisor serves the function's config space
 * (its MSI and MSI-X capabilities included) and maps its BARs onto the
 * host's, so no guest access to it reaches vdm; the virtual function here
 * is what vdm hands over and what --dump-config shows.  Like acrn-dm, vdm
 * routes INTx only for a function without MSI or MSI-X, unless keep_gsi,
 * and shows no expansion ROM (acrn-dm's romfile= is for GPUs only).
 */
#include "devemu.h"
#include "log.h"
#include "passthru.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pci_regs.h>

struct passthru {
	struct pci_dev pci; /* first: the bus and destroy get this */
	struct passthru_host host;
	struct passthru_cfg cfg;
	struct hsm_vm *vm;
	struct pci_space *space;
	struct hsm_ptdev pt;
	int gsi;           /* routed GSI, or -1: no INTx */
	uint8_t phys_line; /* the host function's interrupt line */
	bool assigned, intx_set;
	char name[16];     /* the host function, BB:DD.F */
};

static struct passthru *of(struct pci_dev *d)
{
	return (struct passthru *)d;
}

/* Guest accesses never reach vdm on ACRN; should one (a hypervisor that
 * forwards them), it reads all-ones and writes go nowhere, as acrn-dm's. */
static uint64_t passthru_bar_read(struct pci_dev *d, int bar, uint64_t off, unsigned size)
{
	return ~0ULL;
}

static void passthru_bar_write(struct pci_dev *d, int bar, uint64_t off, unsigned size,
			       uint64_t val)
{
}

static const struct pci_dev_ops passthru_ops = {
	.bar_read = passthru_bar_read,
	.bar_write = passthru_bar_write,
};

static void reset_host(struct passthru *p, const char *when)
{
	int ret;

	if (p->cfg.no_reset)
		return;
	ret = passthru_host_reset(&p->host);
	if (ret == -ENOENT)
		log_info("passthru %s: the host offers no reset for it; %s as it is", p->name,
			 when);
	else if (ret)
		log_warn("passthru %s: reset %s failed: %s", p->name, when, strerror(-ret));
	else
		log_info("passthru %s: reset %s", p->name, when);
}

/* The virtual function's header: IDs, class, subsystem, revision, MIN_GNT
 * and MAX_LAT from the host function. */
static void build_header(struct passthru *p)
{
	struct passthru_host *h = &p->host;
	uint32_t class_rev = passthru_host_cfg_read(h, PCI_CLASS_REVISION, 4);

	pci_dev_init(&p->pci, "passthru", (uint16_t)passthru_host_cfg_read(h, PCI_VENDOR_ID, 2),
		     (uint16_t)passthru_host_cfg_read(h, PCI_DEVICE_ID, 2), class_rev >> 8,
		     (uint8_t)class_rev, (uint16_t)passthru_host_cfg_read(h, PCI_SUBSYSTEM_VENDOR_ID, 2),
		     (uint16_t)passthru_host_cfg_read(h, PCI_SUBSYSTEM_ID, 2));
	pci_cfg_set8(&p->pci, PCI_MIN_GNT, (uint8_t)passthru_host_cfg_read(h, PCI_MIN_GNT, 1));
	pci_cfg_set8(&p->pci, PCI_MAX_LAT, (uint8_t)passthru_host_cfg_read(h, PCI_MAX_LAT, 1));
	p->pci.ops = &passthru_ops;
	p->pci.priv = p;
}

/* BARs of the host's sizes and types at the addresses vdm lays out. */
static int build_bars(struct passthru *p, char *err, size_t errlen)
{
	struct pci_space_bar bars[PCI_NUM_BARS];
	uint64_t addr[PCI_NUM_BARS], size[PCI_NUM_BARS];
	char why[160];
	int ret;

	passthru_host_bars(&p->host, bars);
	ret = pci_space_layout_bars(p->space, bars, addr, size, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "host function %s: %s", p->name, why);
		return ret;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;

		if (bars[i].type == PCI_BAR_NONE)
			continue;
		ret = pci_dev_add_bar(&p->pci, i, bars[i].type, size[i], bars[i].prefetchable);
		if (ret) {
			snprintf(err, errlen, "host function %s: BAR %d (%llu bytes) cannot be "
				 "emulated", p->name, i, (unsigned long long)bars[i].size);
			return ret;
		}
		/* Programmed, as the hypervisor will decode it: the type bits
		 * pci_dev_add_bar set, and the address. */
		pci_cfg_set32(&p->pci, off, pci_cfg_read32(&p->pci, off) | (uint32_t)addr[i]);
		if (bars[i].type == PCI_BAR_MEM64)
			pci_cfg_set32(&p->pci, off + 4, (uint32_t)(addr[i] >> 32));
		log_info("passthru %s: BAR %d %s%s%s, %llu bytes at %#llx", p->name, i,
			 bars[i].type == PCI_BAR_IO ? "I/O" : "memory",
			 bars[i].type == PCI_BAR_MEM64 ? " 64-bit" : "",
			 bars[i].prefetchable ? " prefetchable" : "", (unsigned long long)size[i],
			 (unsigned long long)addr[i]);
		if (bars[i].type == PCI_BAR_MEM64)
			i++;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++)
		p->pt.bar[i] = pci_cfg_read32(&p->pci, PCI_BASE_ADDRESS_0 + 4 * (unsigned)i);
	return 0;
}

/*
 * INTx as acrn-dm gives it: only to a function without MSI or MSI-X (the
 * guest then cannot fall back to a GSI another function shares), unless
 * keep_gsi; the host's pin, and a GSI of the guest's that no other function
 * has, which the guest finds in the interrupt line register.
 */
static int build_intx(struct passthru *p, char *err, size_t errlen)
{
	uint8_t pin = (uint8_t)passthru_host_cfg_read(&p->host, PCI_INTERRUPT_PIN, 1);
	bool msi = passthru_host_has_msi(&p->host);
	static const uint8_t read_only = 0;

	p->gsi = -1;
	/* Nothing the guest may change: the hypervisor has the real ones. */
	pci_dev_set_wmask(&p->pci, PCI_INTERRUPT_LINE, &read_only, 1);
	if (pin < 1 || pin > 4 || (msi && !p->cfg.keep_gsi)) {
		log_info("passthru %s: no INTx (%s)", p->name,
			 pin < 1 || pin > 4 ? "the function has no interrupt pin"
					    : "it has MSI or MSI-X; keep_gsi routes INTx as well");
		return 0;
	}
	p->phys_line = (uint8_t)passthru_host_cfg_read(&p->host, PCI_INTERRUPT_LINE, 1);
	if (p->phys_line == 0 || p->phys_line == 0xff) {
		snprintf(err, errlen, "host function %s: its INTx has no host interrupt line (%#x) "
			 "to route", p->name, p->phys_line);
		return -EINVAL;
	}
	p->gsi = pci_space_alloc_gsi(p->space);
	if (p->gsi < 0) {
		snprintf(err, errlen, "host function %s: every GSI for PCI INTx is taken", p->name);
		return -ENOSPC;
	}
	pci_dev_set_intx_pin(&p->pci, pin);
	pci_cfg_set8(&p->pci, PCI_INTERRUPT_LINE, (uint8_t)p->gsi);
	p->pt.intx_pin = pin;
	p->pt.intx_line = (uint8_t)p->gsi;
	return 0;
}

static void passthru_destroy(struct pci_dev *d)
{
	struct passthru *p = of(d);
	int ret;

	/* acrn-dm's teardown order, each step only if it was done. */
	if (p->intx_set) {
		ret = hsm_reset_ptdev_intx(p->vm, p->pt.virt_bdf, p->pt.phys_bdf, (uint32_t)p->gsi);
		if (ret)
			log_warn("passthru %s: RESET_PTDEV_INTR failed: %s", p->name, strerror(-ret));
		p->intx_set = false;
	}
	if (p->assigned) {
		ret = hsm_deassign_pcidev(p->vm, &p->pt);
		if (ret)
			log_warn("passthru %s: DEASSIGN_PCIDEV failed: %s", p->name, strerror(-ret));
		else
			log_info("passthru %s: given back to the host", p->name);
		p->assigned = false;
		reset_host(p, "after use");
	}
	if (p->gsi >= 0)
		pci_space_free_gsi(p->space, p->gsi);
	passthru_host_close(&p->host);
	free(p);
}

static int passthru_create(const struct devemu_ctx *ctx, const void *cfg, struct pci_dev **out,
			   char *err, size_t errlen)
{
	struct passthru *p = calloc(1, sizeof(*p));
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->cfg = *(const struct passthru_cfg *)cfg;
	p->vm = ctx->vm;
	p->space = ctx->space;
	p->gsi = -1;
	p->host.lock_fd = -1;
	snprintf(p->name, sizeof(p->name), "%02x:%02x.%x", p->cfg.host_bdf >> 8,
		 (p->cfg.host_bdf >> 3) & 0x1f, p->cfg.host_bdf & 7);
	ret = passthru_host_open(&p->host, p->cfg.host_bdf, err, errlen);
	if (ret)
		goto err;
	uint8_t hdr = (uint8_t)passthru_host_cfg_read(&p->host, PCI_HEADER_TYPE, 1) & 0x7f;
	uint32_t class_code = passthru_host_cfg_read(&p->host, PCI_CLASS_REVISION, 4) >> 8;
	/* The hypervisor hands over endpoints only. */
	if (hdr != PCI_HEADER_TYPE_NORMAL || class_code >> 8 == 0x0600) {
		snprintf(err, errlen, "host function %s is a %s; only endpoints can be passed through",
			 p->name, hdr != PCI_HEADER_TYPE_NORMAL ? "bridge" : "host bridge");
		ret = -EINVAL;
		goto err;
	}
	reset_host(p, "before use");
	build_header(p);
	ret = build_bars(p, err, errlen);
	if (ret)
		goto err;
	ret = build_intx(p, err, errlen);
	if (ret)
		goto err;
	p->pt.virt_bdf = hsm_bdf(0, (unsigned)ctx->slot, (unsigned)ctx->func);
	p->pt.phys_bdf = p->cfg.host_bdf;
	ret = hsm_assign_pcidev(p->vm, &p->pt);
	if (ret) {
		snprintf(err, errlen, "the hypervisor refused host function %s (ASSIGN_PCIDEV): %s%s",
			 p->name, strerror(-ret),
			 ret == -ENODEV ? "; is it assigned to another VM?" : "");
		goto err;
	}
	p->assigned = true;
	log_info("passthru %s: %04x:%04x assigned at 00:%02x.%d%s", p->name,
		 pci_cfg_read16(&p->pci, PCI_VENDOR_ID), pci_cfg_read16(&p->pci, PCI_DEVICE_ID),
		 ctx->slot, ctx->func, p->gsi >= 0 ? "" : " without INTx");
	*out = &p->pci;
	return 0;
err:
	passthru_destroy(&p->pci);
	return ret;
}

/* acrn-dm's second step, once every function is on the bus: INTx. */
static int passthru_bus_ready(struct pci_dev *d, char *err, size_t errlen)
{
	struct passthru *p = of(d);
	int ret;

	if (p->gsi < 0)
		return 0;
	ret = hsm_set_ptdev_intx(p->vm, p->pt.virt_bdf, p->pt.phys_bdf, (uint32_t)p->gsi,
				 p->phys_line);
	if (ret) {
		snprintf(err, errlen, "the hypervisor refused INTx of host function %s "
			 "(SET_PTDEV_INTR): %s", p->name, strerror(-ret));
		return ret;
	}
	p->intx_set = true;
	log_info("passthru %s: INTx pin %c, host line %u -> guest GSI %d", p->name,
		 'A' + p->pt.intx_pin - 1, p->phys_line, p->gsi);
	return 0;
}

const struct devemu devemu_passthru = {
	.name = "passthru",
	.usage = "-s N,passthru,BUS/DEV/FUNC[,keep_gsi][,no_reset]  (--hsm acrn)",
	.cfg_size = sizeof(struct passthru_cfg),
	.option = passthru_option,
	.options_done = passthru_options_done,
	.host_function = true,
	.create = passthru_create,
	.bus_ready = passthru_bus_ready,
	.destroy = passthru_destroy,
};
