/*
 * test_pci.c - the PCI emulation layer as a guest sees it through
 * pci_bus_ioreq: read-only and writable header fields, write-1-to-clear
 * status bits, BAR sizing and decode, the capability list, claimed config
 * ranges, MSI-X (table, PBA, masking, irqfd routing), INTx, reset,
 * multi-function header types and the lspci-style dump.
 */
#include "drv.h"
#include "evloop.h"
#include "hsm.h"
#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/pci_regs.h>

/* ---- guest accesses ---- */

static uint64_t io(struct pci_bus *bus, enum hsm_io_space space, enum hsm_io_dir dir,
		   uint64_t addr, unsigned size, uint16_t bdf, uint64_t data)
{
	struct hsm_ioreq req = { .space = space, .dir = dir, .addr = addr, .size = size,
				 .bdf = bdf, .data = data };

	pci_bus_ioreq(bus, &req);
	return req.data;
}

static uint32_t cfg_rd(struct pci_bus *bus, struct pci_dev *d, unsigned off, unsigned size)
{
	return (uint32_t)io(bus, HSM_IO_PCICFG, HSM_IO_READ, off, size,
			    hsm_bdf(0, d->slot, d->func), 0);
}

static void cfg_wr(struct pci_bus *bus, struct pci_dev *d, unsigned off, unsigned size,
		   uint32_t val)
{
	io(bus, HSM_IO_PCICFG, HSM_IO_WRITE, off, size, hsm_bdf(0, d->slot, d->func), val);
}

static uint64_t mmio_rd(struct pci_bus *bus, uint64_t addr, unsigned size)
{
	return io(bus, HSM_IO_MMIO, HSM_IO_READ, addr, size, 0, 0);
}

static void mmio_wr(struct pci_bus *bus, uint64_t addr, unsigned size, uint64_t val)
{
	io(bus, HSM_IO_MMIO, HSM_IO_WRITE, addr, size, 0, val);
}

/* ---- a test device that records what the PCI layer tells it ---- */

struct rec {
	int reads, writes, maps, cfg_reads, cfg_writes, msix_changes;
	int bar;
	uint64_t off, val;
	unsigned size;
	bool mapped;
	int map_bar;
	uint64_t map_addr;
	unsigned cfg_off, cfg_size;
	uint32_t cfg_val;
	int ncalls;                     /* cfg_read/cfg_write calls logged below */
	struct { unsigned off, size; uint32_t val; } calls[8];
};

static void log_cfg_call(struct rec *r, unsigned off, unsigned size, uint32_t val)
{
	if (r->ncalls < 8)
		r->calls[r->ncalls] = (__typeof__(r->calls[0])){ off, size, val };
	r->ncalls++;
}

static uint64_t t_bar_read(struct pci_dev *d, int bar, uint64_t off, unsigned size)
{
	struct rec *r = d->priv;

	r->reads++;
	r->bar = bar;
	r->off = off;
	r->size = size;
	return 0x1122334455000000ULL | (uint64_t)bar << 16 | off;
}

static void t_bar_write(struct pci_dev *d, int bar, uint64_t off, unsigned size, uint64_t val)
{
	struct rec *r = d->priv;

	r->writes++;
	r->bar = bar;
	r->off = off;
	r->size = size;
	r->val = val;
}

static void t_bar_map(struct pci_dev *d, int bar, bool mapped, uint64_t addr)
{
	struct rec *r = d->priv;

	r->maps++;
	r->map_bar = bar;
	r->mapped = mapped;
	r->map_addr = addr;
}

static uint32_t t_cfg_read(struct pci_dev *d, unsigned off, unsigned size)
{
	struct rec *r = d->priv;

	r->cfg_reads++;
	r->cfg_off = off;
	r->cfg_size = size;
	log_cfg_call(r, off, size, 0);
	return 0xcafe0000u | off << 4 | size;
}

static void t_cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
	struct rec *r = d->priv;

	r->cfg_writes++;
	r->cfg_off = off;
	r->cfg_size = size;
	r->cfg_val = val;
	log_cfg_call(r, off, size, val);
}

static void t_msix_changed(struct pci_dev *d)
{
	((struct rec *)d->priv)->msix_changes++;
}

static const struct pci_dev_ops test_ops = {
	.bar_read = t_bar_read, .bar_write = t_bar_write, .bar_map = t_bar_map,
	.cfg_read = t_cfg_read, .cfg_write = t_cfg_write, .msix_changed = t_msix_changed,
};

static void new_dev(struct pci_bus *bus, struct pci_dev *d, struct rec *r, const char *name,
		    int slot, int func)
{
	memset(d, 0, sizeof(*d));
	memset(r, 0, sizeof(*r));
	pci_dev_init(d, name, 0x1af4, 0x1042, 0x018000, 0x01, 0x1af4, 0x0002);
	d->ops = &test_ops;
	d->priv = r;
	if (pci_bus_add(bus, d, slot, func))
		drv_check(false, "add %s at %02x.%x", name, slot, func);
}

/* ---- config header ---- */

static void test_header(struct pci_bus *bus, struct pci_dev *d)
{
	static const struct { unsigned off, size; const char *what; } ro[] = {
		{ PCI_VENDOR_ID, 2, "vendor ID" },
		{ PCI_DEVICE_ID, 2, "device ID" },
		{ PCI_REVISION_ID, 1, "revision" },
		{ PCI_CLASS_PROG, 1, "prog-if" },
		{ PCI_CLASS_DEVICE, 2, "class" },
		{ PCI_HEADER_TYPE, 1, "header type" },
		{ PCI_BIST, 1, "BIST" },
		{ PCI_SUBSYSTEM_VENDOR_ID, 2, "subsystem vendor" },
		{ PCI_SUBSYSTEM_ID, 2, "subsystem ID" },
		{ PCI_INTERRUPT_PIN, 1, "interrupt pin" },
		{ PCI_CAPABILITY_LIST, 1, "capability pointer" },
		{ PCI_ROM_ADDRESS, 4, "expansion ROM BAR (none)" },
	};

	pci_dev_set_intx_pin(d, 2);
	drv_check(cfg_rd(bus, d, 0, 4) == 0x10421af4, "vendor/device read as one dword");
	drv_check(cfg_rd(bus, d, PCI_CLASS_REVISION, 4) == 0x01800001, "class/revision dword");
	drv_check(cfg_rd(bus, d, PCI_SUBSYSTEM_VENDOR_ID, 4) == 0x00021af4, "subsystem IDs");
	drv_check(cfg_rd(bus, d, PCI_INTERRUPT_PIN, 1) == 2, "interrupt pin B");
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		uint32_t before = cfg_rd(bus, d, ro[i].off, ro[i].size);

		cfg_wr(bus, d, ro[i].off, ro[i].size, ~before);
		drv_check(cfg_rd(bus, d, ro[i].off, ro[i].size) == before,
			  "%s ignores writes (still %#x)", ro[i].what, before);
	}
	drv_check(cfg_rd(bus, d, PCI_ROM_ADDRESS, 4) == 0, "absent ROM BAR sizes to 0");

	static const struct { unsigned off; const char *what; } rw[] = {
		{ PCI_CACHE_LINE_SIZE, "cache line size" },
		{ PCI_LATENCY_TIMER, "latency timer" },
		{ PCI_INTERRUPT_LINE, "interrupt line" },
	};
	for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
		cfg_wr(bus, d, rw[i].off, 1, 0xa5);
		drv_check(cfg_rd(bus, d, rw[i].off, 1) == 0xa5, "%s takes writes", rw[i].what);
	}
	drv_check(cfg_rd(bus, d, PCI_CACHE_LINE_SIZE, 4) == 0x0000a5a5,
		  "header type and BIST unchanged beside them");

	cfg_wr(bus, d, PCI_COMMAND, 2, 0xffff);
	drv_check(cfg_rd(bus, d, PCI_COMMAND, 2) == 0x0547,
		  "command: IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE writable, others 0 (%#x)",
		  cfg_rd(bus, d, PCI_COMMAND, 2));
	cfg_wr(bus, d, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	drv_check(cfg_rd(bus, d, PCI_COMMAND, 2) == PCI_COMMAND_MASTER, "command bits clear again");
	cfg_wr(bus, d, PCI_COMMAND, 2, 0);
}

static void test_status(struct pci_bus *bus, struct pci_dev *d)
{
	const unsigned cl = PCI_STATUS_CAP_LIST, ma = PCI_STATUS_REC_MASTER_ABORT,
		       dp = PCI_STATUS_DETECTED_PARITY;
	uint8_t cap[4] = { PCI_CAP_ID_VNDR, 0, 4, 0 };

	pci_dev_add_cap(d, cap, sizeof(cap));
	pci_cfg_set16(d, PCI_STATUS, (uint16_t)(pci_cfg_read16(d, PCI_STATUS) | ma | dp));
	cfg_wr(bus, d, PCI_STATUS, 2, 0);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) == (cl | ma | dp),
		  "status: writing 0 leaves error bits set");
	cfg_wr(bus, d, PCI_STATUS, 2, ma | cl);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) == (cl | dp),
		  "status: writing 1 clears only that error bit; CAP_LIST stays");
	cfg_wr(bus, d, PCI_STATUS + 1, 1, PCI_STATUS_DETECTED_PARITY >> 8);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) == PCI_STATUS_CAP_LIST,
		  "status: a byte write to the upper half clears too");
	cfg_wr(bus, d, PCI_COMMAND, 4, 0xffff0000);
	drv_check(cfg_rd(bus, d, PCI_COMMAND, 4) == PCI_STATUS_CAP_LIST << 16,
		  "status: all-ones dword write leaves CAP_LIST, command untouched");
}

/* ---- BARs ---- */

static void sizing(struct pci_bus *bus, struct pci_dev *d, unsigned off, uint32_t want,
		   const char *what)
{
	uint32_t orig = cfg_rd(bus, d, off, 4);

	cfg_wr(bus, d, off, 4, 0xffffffff);
	uint32_t got = cfg_rd(bus, d, off, 4);
	drv_check(got == want, "%s: all-ones reads back %#x (want %#x)", what, got, want);
	cfg_wr(bus, d, off, 4, orig);
	drv_check(cfg_rd(bus, d, off, 4) == orig, "%s: restored to %#x", what, orig);
}

static void test_bar_sizing(struct pci_bus *bus, struct pci_dev *d)
{
	drv_check(pci_dev_add_bar(d, 0, PCI_BAR_MEM32, 0x1000, false) == 0, "add 4 KiB MEM32 BAR0");
	drv_check(pci_dev_add_bar(d, 1, PCI_BAR_IO, 32, false) == 0, "add 32-byte I/O BAR1");
	drv_check(pci_dev_add_bar(d, 2, PCI_BAR_MEM64, 0x4000, true) == 0, "add 16 KiB MEM64 BAR2");
	drv_check(pci_dev_add_bar(d, 4, PCI_BAR_MEM64, 8ULL << 30, true) == 0,
		  "add 8 GiB MEM64 BAR4");
	drv_check(pci_dev_add_bar(d, 3, PCI_BAR_MEM32, 0x1000, false) == -EINVAL,
		  "BAR3 (upper half of BAR2) cannot be declared");
	drv_check(pci_dev_add_bar(d, 0, PCI_BAR_MEM32, 0x1000, false) == -EINVAL,
		  "a BAR cannot be declared twice");
	drv_check(pci_dev_add_bar(d, 5, PCI_BAR_MEM64, 0x1000, false) == -EINVAL,
		  "MEM64 in BAR5 has no upper half");
	drv_check(pci_dev_add_bar(d, 5, PCI_BAR_MEM32, 0x1800, false) == -EINVAL,
		  "size not a power of two refused");
	drv_check(pci_dev_add_bar(d, 5, PCI_BAR_IO, 2, false) == -EINVAL, "2-byte I/O BAR refused");

	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_0, 4) == 0, "BAR0 type: 32-bit memory");
	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_1, 4) == 1, "BAR1 type: I/O");
	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_2, 4) == 0xc, "BAR2 type: 64-bit prefetchable");
	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_4, 4) == 0xc, "BAR4 type: 64-bit prefetchable");
	sizing(bus, d, PCI_BASE_ADDRESS_0, 0xfffff000, "MEM32 4 KiB");
	sizing(bus, d, PCI_BASE_ADDRESS_1, 0xffffffe1, "I/O 32 bytes");
	sizing(bus, d, PCI_BASE_ADDRESS_2, 0xffffc00c, "MEM64 16 KiB low");
	sizing(bus, d, PCI_BASE_ADDRESS_3, 0xffffffff, "MEM64 16 KiB high");
	sizing(bus, d, PCI_BASE_ADDRESS_4, 0x0000000c, "MEM64 8 GiB low");
	sizing(bus, d, PCI_BASE_ADDRESS_5, 0xfffffffe, "MEM64 8 GiB high");

	/* Addresses take only the bits above the size. */
	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, 0xfe000abc);
	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_0, 4) == 0xfe000000, "BAR0 drops low bits");
	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, 0);
}

static void test_bar_decode(struct pci_bus *bus, struct pci_dev *d, struct rec *r)
{
	const uint64_t m0 = 0xfe000000, m0b = 0xfd000000, io1 = 0xc000, big = 0x400000000ULL;

	pci_dev_add_bar(d, 0, PCI_BAR_MEM32, 0x1000, false);
	pci_dev_add_bar(d, 1, PCI_BAR_IO, 32, false);
	pci_dev_add_bar(d, 2, PCI_BAR_MEM64, 8ULL << 30, true);
	pci_dev_add_bar(d, 4, PCI_BAR_IO, 4, false);

	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, (uint32_t)m0);
	cfg_wr(bus, d, PCI_BASE_ADDRESS_1, 4, (uint32_t)io1);
	drv_check(mmio_rd(bus, m0 + 0x10, 4) == 0xffffffff && r->reads == 0 && r->maps == 0,
		  "programmed BAR with command MEM clear: reads all-ones, no bar_map");
	mmio_wr(bus, m0 + 0x10, 4, 1);
	drv_check(r->writes == 0, "... and writes are dropped");
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, io1, 2, 0, 0) == 0xffff,
		  "I/O BAR with command IO clear: reads all-ones");

	cfg_wr(bus, d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	drv_check(r->maps == 1 && r->map_bar == 0 && r->mapped && r->map_addr == m0,
		  "MEM enable maps BAR0 at its address");
	drv_check(d->bars[0].mapped && !d->bars[1].mapped, "I/O BAR still off");
	drv_check(mmio_rd(bus, m0 + 0x10, 4) == 0x55000010 && r->bar == 0 && r->off == 0x10 &&
			  r->size == 4,
		  "dword read delivered to bar_read(0, 0x10, 4)");
	drv_check(mmio_rd(bus, m0 + 0x11, 1) == 0x11, "byte read truncated to its size");
	mmio_wr(bus, m0 + 0x20, 2, 0xbeef);
	drv_check(r->writes == 1 && r->bar == 0 && r->off == 0x20 && r->size == 2 &&
			  r->val == 0xbeef,
		  "write delivered to bar_write(0, 0x20, 2, 0xbeef)");
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, m0 + 0x10, 4, 0, 0) == 0xffffffff,
		  "a memory BAR does not decode port I/O");

	int reads = r->reads;
	drv_check(mmio_rd(bus, m0 + 0xffc, 4) == 0x55000ffc, "last dword of BAR decodes");
	drv_check(mmio_rd(bus, m0 + 0xff8, 8) == 0x1122334455000ff8ULL, "last qword decodes");
	drv_check(mmio_rd(bus, m0 + 0xffe, 4) == 0xffffffff, "dword straddling the end: all-ones");
	drv_check(mmio_rd(bus, m0 + 0x1000, 1) == 0xff, "byte past the end: all-ones");
	drv_check(mmio_rd(bus, m0 - 1, 2) == 0xffff, "word straddling the start: all-ones");
	drv_check(r->reads == reads + 2, "only the in-range reads reached bar_read");

	/* Sizing with decode on stops decode until the address comes back. */
	int maps = r->maps;
	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	drv_check(r->maps == maps + 1 && !r->mapped && !d->bars[0].mapped,
		  "sizing BAR0 with MEM on unmaps it");
	drv_check(mmio_rd(bus, m0 + 0x10, 4) == 0xffffffff, "... and it reads all-ones");
	drv_check(mmio_rd(bus, 0xfffff010, 4) == 0xffffffff, "... also at the size mask");
	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, (uint32_t)m0);
	drv_check(r->mapped && r->map_addr == m0 && mmio_rd(bus, m0, 4) == 0x55000000,
		  "restoring the address maps it again");

	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, (uint32_t)m0b);
	drv_check(!d->bars[1].mapped && r->mapped && r->map_addr == m0b && d->bars[0].addr == m0b,
		  "moving BAR0 remaps it at the new address");
	drv_check(mmio_rd(bus, m0, 4) == 0xffffffff, "old address no longer decodes");
	drv_check(mmio_rd(bus, m0b + 4, 4) == 0x55000004, "new address decodes");

	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, 0);
	drv_check(!r->mapped && !d->bars[0].mapped && mmio_rd(bus, 0x10, 4) == 0xffffffff,
		  "BAR at address 0 does not decode");

	cfg_wr(bus, d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, io1 + 2, 2, 0, 0) == 0x0002 && r->bar == 1,
		  "IO enable: port read delivered to BAR1");
	drv_check(mmio_rd(bus, io1 + 2, 2) == 0xffff, "an I/O BAR does not decode memory");
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, io1 + 30, 4, 0, 0) == 0xffffffff,
		  "port read straddling the I/O BAR end: all-ones");

	/* A 4-byte I/O BAR and an access wider than the whole BAR. */
	cfg_wr(bus, d, PCI_BASE_ADDRESS_4, 4, 0xd000);
	reads = r->reads;
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, 0xd000, 4, 0, 0) == 0x55040000,
		  "4-byte I/O BAR decodes a dword");
	drv_check(io(bus, HSM_IO_PIO, HSM_IO_READ, 0xd000, 8, 0, 0) == ~0ULL &&
			  r->reads == reads + 1,
		  "an 8-byte access wider than a 4-byte BAR is not delivered");

	/* The 8 GiB 64-bit BAR above 4 GiB. */
	cfg_wr(bus, d, PCI_BASE_ADDRESS_2, 4, 0);
	cfg_wr(bus, d, PCI_BASE_ADDRESS_3, 4, (uint32_t)(big >> 32));
	drv_check(d->bars[2].mapped && d->bars[2].addr == big && r->map_bar == 2 &&
			  r->map_addr == big,
		  "8 GiB BAR2 maps at %#llx", (unsigned long long)big);
	drv_check(mmio_rd(bus, big + 0x100000008ULL, 4) == 0x55020008 &&
			  r->off == 0x100000008ULL,
		  "read 4 GiB into BAR2 reaches bar_read with a 64-bit offset");
	cfg_wr(bus, d, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	drv_check(!d->bars[2].mapped, "sizing BAR2's high half unmaps it");
	cfg_wr(bus, d, PCI_BASE_ADDRESS_3, 4, (uint32_t)(big >> 32));
	drv_check(d->bars[2].mapped, "restoring the high half maps it again");
	/* Its low half has no address bits: sizing it changes nothing to decode. */
	cfg_wr(bus, d, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	drv_check(d->bars[2].mapped && d->bars[2].addr == big,
		  "sizing BAR2's low half (no writable bits) leaves it decoding");
	cfg_wr(bus, d, PCI_BASE_ADDRESS_2, 4, 0);

	cfg_wr(bus, d, PCI_COMMAND, 2, 0);
	drv_check(!d->bars[1].mapped && !d->bars[2].mapped && !d->bars[4].mapped && !r->mapped,
		  "clearing the command register unmaps everything");
	drv_check(mmio_rd(bus, big, 4) == 0xffffffff, "... and BAR2 reads all-ones");
}

/* ---- capabilities and config space ---- */

static void test_caps(struct pci_bus *bus, struct pci_dev *d, struct pci_dev *d2)
{
	uint8_t vndr[5] = { PCI_CAP_ID_VNDR, 0x77, 5, 0xaa, 0xbb };
	uint8_t pm[8] = { PCI_CAP_ID_PM, 0, 0x03, 0x00 };

	drv_check(!(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) &&
			  cfg_rd(bus, d, PCI_CAPABILITY_LIST, 1) == 0,
		  "no capabilities: CAP_LIST clear, pointer 0");
	int a = pci_dev_add_cap(d, vndr, sizeof(vndr));
	int b = pci_dev_add_cap(d, pm, sizeof(pm));
	drv_check(a == 0x40 && b == 0x48, "caps at 0x40 and 0x48 (got %#x, %#x)", a, b);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, "status CAP_LIST set");
	unsigned p = cfg_rd(bus, d, PCI_CAPABILITY_LIST, 1);
	drv_check(p == 0x40 && cfg_rd(bus, d, p, 1) == PCI_CAP_ID_VNDR, "0x34 -> vendor cap");
	drv_check(cfg_rd(bus, d, p + 2, 2) == 0xaa05, "vendor cap body copied");
	p = cfg_rd(bus, d, p + 1, 1);
	drv_check(p == 0x48 && (p & 3) == 0 && cfg_rd(bus, d, p, 1) == PCI_CAP_ID_PM,
		  "next -> PM cap, dword aligned (the caller's next byte was replaced)");
	drv_check(cfg_rd(bus, d, p + 1, 1) == 0, "PM cap ends the list");
	cfg_wr(bus, d, 0x40, 4, 0);
	drv_check(cfg_rd(bus, d, 0x40, 4) == 0xaa054809, "capability bytes ignore writes");

	int n = 2, ret = 0;
	uint8_t small[4] = { PCI_CAP_ID_VNDR, 0, 4, 0 };
	for (int i = 0; i < 100 && (ret = pci_dev_add_cap(d, small, sizeof(small))) >= 0; i++)
		n++;
	drv_check(ret == -ENOSPC, "adding 4-byte caps until full ends with -ENOSPC (%d)", ret);
	drv_check(n == 2 + (0x100 - 0x50) / 4, "%d caps fit (want %d)", n, 2 + (0x100 - 0x50) / 4);
	int walked = 0;
	bool sane = true;
	for (p = cfg_rd(bus, d, PCI_CAPABILITY_LIST, 1); p && walked < 64; walked++) {
		sane = sane && p >= 0x40 && p <= 0xfc && !(p & 3);
		unsigned next = cfg_rd(bus, d, p + 1, 1);
		sane = sane && (!next || next > p);
		p = next;
	}
	drv_check(sane && walked == n, "full list walks %d caps forward and ends (want %d)",
		  walked, n);

	/* A cap ending 2 bytes short of the end leaves no room for another. */
	uint8_t big[190] = { PCI_CAP_ID_VNDR, 0, 190 };
	big[189] = 0x5a;
	drv_check(pci_dev_add_cap(d2, big, sizeof(big)) == 0x40, "190-byte cap at 0x40");
	drv_check(pci_dev_add_cap(d2, small, 2) == -ENOSPC, "nothing fits after it");
	drv_check(cfg_rd(bus, d2, 0xfc, 2) == 0x5a00, "its last bytes are intact");
	pci_dev_add_bar(d2, 0, PCI_BAR_MEM32, 0x1000, false);
	drv_check(pci_msix_init(d2, 1, 0, 0, 0x800) == -ENOSPC && d2->msix.nvec == 0 &&
			  !d2->msix.entries,
		  "MSI-X with config space full: -ENOSPC, nothing left allocated");
	drv_check(pci_dev_add_cap(d2, small, 1) == -ENOSPC, "a 1-byte cap is refused");
}

static void test_cfg_space(struct pci_bus *bus, struct pci_dev *d, struct rec *r)
{
	uint16_t bdf = hsm_bdf(0, d->slot, d->func);

	pci_dev_claim_cfg(d, 0x80, 8);
	drv_check(cfg_rd(bus, d, 0x80, 4) == (0xcafe0000u | 0x80 << 4 | 4) && r->cfg_reads == 1 &&
			  r->cfg_off == 0x80 && r->cfg_size == 4,
		  "claimed dword read goes to cfg_read(0x80, 4)");
	cfg_rd(bus, d, 0x86, 1);
	drv_check(r->cfg_reads == 2 && r->cfg_off == 0x86 && r->cfg_size == 1,
		  "claimed byte read goes to cfg_read(0x86, 1)");
	cfg_wr(bus, d, 0x84, 2, 0x1234);
	drv_check(r->cfg_writes == 1 && r->cfg_off == 0x84 && r->cfg_size == 2 &&
			  r->cfg_val == 0x1234 && pci_cfg_read16(d, 0x84) == 0,
		  "claimed write goes to cfg_write(0x84, 2, 0x1234), not config memory");
	int reads = r->cfg_reads;
	drv_check(cfg_rd(bus, d, 0x88, 4) == 0 && r->cfg_reads == reads,
		  "unclaimed offset after the range reads config memory");

	/* Two adjacent ranges, a gap, a third range: an access is split at every
	 * boundary, and each part goes to its owner with its own bytes. */
	drv_check(pci_dev_claim_cfg(d, 0xa0, 2) == 0 && pci_dev_claim_cfg(d, 0xa2, 2) == 0 &&
			  pci_dev_claim_cfg(d, 0xa6, 2) == 0 && pci_dev_claim_cfg(d, 0xa8, 1) == 0,
		  "claim 0xa0+2, 0xa2+2, 0xa6+2, 0xa8+1");
	drv_check(pci_dev_claim_cfg(d, 0xa1, 2) == -EEXIST &&
			  pci_dev_claim_cfg(d, 0xfe, 4) == -EINVAL,
		  "overlapping and out-of-range claims are refused");
	r->ncalls = 0;
	uint32_t v = cfg_rd(bus, d, 0xa0, 4);
	drv_check(r->ncalls == 2 && r->calls[0].off == 0xa0 && r->calls[0].size == 2 &&
			  r->calls[1].off == 0xa2 && r->calls[1].size == 2 && v == 0x0a220a02,
		  "a dword over two ranges is two reads, (0xa0, 2) and (0xa2, 2): %#x", v);
	pci_dev_set_wmask(d, 0xa4, (const uint8_t[]){ 0xff, 0xff }, 2);
	r->ncalls = 0;
	cfg_wr(bus, d, 0xa4, 4, 0x87654321);
	drv_check(r->ncalls == 1 && r->calls[0].off == 0xa6 && r->calls[0].size == 2 &&
			  r->calls[0].val == 0x8765 && pci_cfg_read16(d, 0xa4) == 0x4321 &&
			  pci_cfg_read16(d, 0xa6) == 0,
		  "a dword over plain bytes and a range: the low word to config memory, "
		  "(0xa6, 2, 0x8765) to the device");
	r->ncalls = 0;
	v = cfg_rd(bus, d, 0xa4, 4);
	drv_check(r->ncalls == 1 && v == 0x0a624321, "and reads back the same way: %#x", v);
	pci_dev_set_wmask(d, 0xa9, (const uint8_t[]){ 0xff }, 1);
	r->ncalls = 0;
	cfg_wr(bus, d, 0xa8, 2, 0x5aa5);
	drv_check(r->ncalls == 1 && r->calls[0].off == 0xa8 && r->calls[0].size == 1 &&
			  r->calls[0].val == 0xa5 && d->cfg[0xa9] == 0x5a,
		  "a word straddling the end of a 1-byte range is split there");

	pci_dev_set_wmask(d, 0x90, (const uint8_t[]){ 0xff, 0x0f }, 2);
	cfg_wr(bus, d, 0x90, 4, 0xffffffff);
	drv_check(cfg_rd(bus, d, 0x90, 4) == 0x0fff, "device wmask limits guest writes");

	for (unsigned off = 0x100; off < 0x1000; off += 0x3fc) {
		cfg_wr(bus, d, off, 4, 0x12345678);
		drv_check(cfg_rd(bus, d, off, 4) == 0, "extended config %#x reads 0", off);
	}
	drv_check(cfg_rd(bus, d, 0xffc, 4) == 0, "last extended dword reads 0");
	drv_check(cfg_rd(bus, d, 0x1000, 4) == 0xffffffff, "offset 4096 reads all-ones");
	drv_check(cfg_rd(bus, d, 0x01, 2) == 0xffff, "unaligned word reads all-ones");
	drv_check(cfg_rd(bus, d, 0x02, 4) == 0xffffffff, "unaligned dword reads all-ones");
	drv_check(io(bus, HSM_IO_PCICFG, HSM_IO_READ, 0, 8, bdf, 0) == ~0ULL,
		  "8-byte config read: all-ones");
	drv_check(io(bus, HSM_IO_PCICFG, HSM_IO_READ, 0, 3, bdf, 0) == ~0ULL,
		  "3-byte config read: all-ones");
	cfg_wr(bus, d, PCI_CACHE_LINE_SIZE, 1, 0x10);
	cfg_wr(bus, d, PCI_CACHE_LINE_SIZE + 1, 2, 0x2020);
	io(bus, HSM_IO_PCICFG, HSM_IO_WRITE, PCI_CACHE_LINE_SIZE, 8, bdf, ~0ULL);
	drv_check(cfg_rd(bus, d, PCI_CACHE_LINE_SIZE, 2) == 0x0010,
		  "unaligned and 8-byte config writes are ignored");
	drv_check(io(bus, HSM_IO_PCICFG, HSM_IO_READ, 0, 4, hsm_bdf(0, d->slot, 5), 0) ==
			  0xffffffff,
		  "absent function reads all-ones");
	drv_check(io(bus, HSM_IO_PCICFG, HSM_IO_READ, 0, 2, hsm_bdf(0, 31, 0), 0) == 0xffff,
		  "absent slot reads all-ones");
	drv_check(io(bus, HSM_IO_PCICFG, HSM_IO_READ, 0, 4, hsm_bdf(1, d->slot, d->func), 0) ==
			  0xffffffff,
		  "bus 1 reads all-ones");
}

/* ---- MSI-X ---- */

static unsigned find_cap(struct pci_bus *bus, struct pci_dev *d, uint8_t id)
{
	unsigned p = cfg_rd(bus, d, PCI_CAPABILITY_LIST, 1);

	for (int i = 0; p && i < 48; i++, p = cfg_rd(bus, d, p + 1, 1))
		if (cfg_rd(bus, d, p, 1) == id)
			return p;
	return 0;
}

static uint64_t pba(struct pci_bus *bus, uint64_t base)
{
	return mmio_rd(bus, base + 0x1800, 8);
}

static void test_msix(struct pci_bus *bus, struct pci_dev *d, struct rec *r)
{
	const uint64_t base = 0xfebf0000, tbl = base + 0x1000;
	uint64_t count;

	pci_dev_add_bar(d, 0, PCI_BAR_MEM32, 0x1000, false);
	pci_dev_add_bar(d, 2, PCI_BAR_MEM32, 0x2000, false);
	drv_check(pci_msix_init(d, 4, 3, 0, 0x800) == -EINVAL,
		  "MSI-X in an undeclared BAR: -EINVAL");
	drv_check(pci_msix_init(d, 4, 2, 0x1ff8, 0x1800) == -EINVAL, "table past the BAR refused");
	drv_check(pci_msix_init(d, 4, 2, 0x1000, 0x1800) == 0, "MSI-X: 4 vectors in BAR2");
	unsigned cap = find_cap(bus, d, PCI_CAP_ID_MSIX);
	drv_check(cap && cap == d->msix.cap, "MSI-X capability in the list at %#x", cap);
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_FLAGS, 2) == 3, "table size field N-1 = 3");
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_TABLE, 4) == 0x1002, "table: offset 0x1000, BIR 2");
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_PBA, 4) == 0x1802, "PBA: offset 0x1800, BIR 2");
	cfg_wr(bus, d, cap + PCI_MSIX_TABLE, 4, 0);
	cfg_wr(bus, d, cap + PCI_MSIX_PBA, 4, 0);
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_TABLE, 4) == 0x1002 &&
			  cfg_rd(bus, d, cap + PCI_MSIX_PBA, 4) == 0x1802,
		  "table/PBA offsets are read-only");
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS, 2, 0xffff);
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_FLAGS, 2) == 0xc003 && r->msix_changes == 1,
		  "only enable and function mask are writable; msix_changed called");
	drv_check(pci_msix_enabled(d), "pci_msix_enabled after enable");
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS, 2, 0);
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_FLAGS, 2) == 3 && !pci_msix_enabled(d),
		  "enable and function mask clear again");

	cfg_wr(bus, d, PCI_BASE_ADDRESS_2, 4, (uint32_t)base);
	cfg_wr(bus, d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	drv_check(mmio_rd(bus, tbl + 12, 4) == 1 && mmio_rd(bus, tbl + 0x3c, 4) == 1,
		  "vectors start masked");
	mmio_wr(bus, tbl + 0, 4, 0xfee00000);
	mmio_wr(bus, tbl + 4, 4, 0x1);
	mmio_wr(bus, tbl + 8, 4, 0x4041);
	drv_check(mmio_rd(bus, tbl, 8) == 0x1fee00000ULL && mmio_rd(bus, tbl + 8, 4) == 0x4041,
		  "entry 0 address/data written with dwords, read back as qword");
	mmio_wr(bus, tbl + 0x10, 8, 0xfee01000);
	mmio_wr(bus, tbl + 0x18, 8, 0x0000000100000042ULL);
	drv_check(mmio_rd(bus, tbl + 0x10, 4) == 0xfee01000 && mmio_rd(bus, tbl + 0x14, 4) == 0 &&
			  mmio_rd(bus, tbl + 0x18, 4) == 0x42 && mmio_rd(bus, tbl + 0x1c, 4) == 1,
		  "entry 1 written with qwords, read back as dwords");
	mmio_wr(bus, tbl + 0x1c, 4, 0xfffffffe);
	drv_check(mmio_rd(bus, tbl + 0x1c, 4) == 0, "vector control keeps only the mask bit (0)");
	mmio_wr(bus, tbl + 0x1c, 4, 0xffffffff);
	drv_check(mmio_rd(bus, tbl + 0x1c, 4) == 1, "vector control keeps only the mask bit (1)");
	drv_check(mmio_rd(bus, tbl + 2, 2) == 0xffff && mmio_rd(bus, tbl + 4, 8) == ~0ULL,
		  "word and misaligned qword table reads: all-ones");
	mmio_wr(bus, tbl + 8, 2, 0);
	drv_check(mmio_rd(bus, tbl + 8, 4) == 0x4041, "word table write ignored");
	int reads = r->reads;
	drv_check(mmio_rd(bus, tbl + 0x40, 4) == 0x55021040 && r->reads == reads + 1,
		  "past the table: bar_read(2, 0x1040)");
	drv_check(mmio_rd(bus, base + 0x100, 4) == 0x55020100, "rest of the BAR goes to bar_read");

	/* Masked vector: notify pends; unmasking delivers and clears the bit. */
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	drv_check(!d->msix.entries[0].routed, "enabled but masked: not routed");
	drv_check(pci_msix_notify(d, 0) == 0 && pba(bus, base) == 1,
		  "notify masked vector 0: PBA bit 0");
	drv_check(pci_msix_notify(d, 3) == 0 && mmio_rd(bus, base + 0x1800, 1) == 0x09 &&
			  mmio_rd(bus, base + 0x1800, 4) == 0x09 &&
			  mmio_rd(bus, base + 0x1804, 4) == 0,
		  "notify masked vector 3: PBA 0x9 by byte and dword");
	mmio_wr(bus, base + 0x1800, 8, 0);
	mmio_wr(bus, base + 0x1800, 4, 0xffffffff);
	drv_check(pba(bus, base) == 0x9, "PBA writes ignored");
	drv_check(pci_msix_notify(d, 4) == -EINVAL && pci_msix_notify(d, -1) == -EINVAL,
		  "notify out-of-range vector: -EINVAL");
	mmio_wr(bus, tbl + 12, 4, 0);
	drv_check(pba(bus, base) == 0x8, "unmasking vector 0 delivers its pending message");
	drv_check(d->msix.entries[0].routed && !d->msix.entries[3].routed,
		  "deliverable vector 0 routed, masked vector 3 not");
	drv_check(eventfd_read(d->msix.entries[0].irqfd, &count) != 0,
		  "pending delivery did not go through the irqfd");
	/* No driver listens here, so the injection itself reports -ENOTCONN. */
	drv_check(pci_msix_notify(d, 0) == -ENOTCONN && pba(bus, base) == 0x8,
		  "notify routed vector 0: injected (no listener: -ENOTCONN), nothing pends");
	drv_check(eventfd_read(d->msix.entries[0].irqfd, &count) != 0,
		  "software irqfds: notify injects at once, the irqfd is not written");
	bus->caps_native_irqfd = true;
	drv_check(pci_msix_notify(d, 0) == 0 && pba(bus, base) == 0x8 &&
			  eventfd_read(d->msix.entries[0].irqfd, &count) == 0 && count == 1,
		  "native irqfds: notify writes vector 0's irqfd once");
	bus->caps_native_irqfd = false;
	mmio_wr(bus, tbl + 0, 4, 0xfee02000);
	drv_check(d->msix.entries[0].routed, "rewriting a routed entry's address keeps it routed");

	int changes = r->msix_changes;
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS + 1, 1,
	       (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	drv_check(!d->msix.entries[0].routed && r->msix_changes == changes + 1,
		  "function mask unroutes vector 0 (msix_changed called)");
	pci_msix_notify(d, 0);
	drv_check(pba(bus, base) == 0x9, "function-masked notify pends");
	mmio_wr(bus, tbl + 0x3c, 4, 0);
	drv_check(pba(bus, base) == 0x9 && !d->msix.entries[3].routed,
		  "unmasking vector 3 under the function mask delivers nothing");
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS + 1, 1, PCI_MSIX_FLAGS_ENABLE >> 8);
	drv_check(pba(bus, base) == 0 && d->msix.entries[0].routed && d->msix.entries[3].routed,
		  "clearing the function mask delivers both and routes them");

	/* A vhost back-end holds vector 3's irqfd as its call fd and signals
	 * while the guest has the vector masked. */
	mmio_wr(bus, tbl + 0x3c, 4, 1);
	drv_check(eventfd_write(d->msix.entries[3].irqfd, 1) == 0 && pba(bus, base) == 0x8,
		  "a signal on masked vector 3's irqfd shows in the PBA");
	drv_check(eventfd_read(d->msix.entries[3].irqfd, &count) != 0,
		  "... taken from the irqfd, so it is delivered once");
	mmio_wr(bus, tbl + 0x3c, 4, 0);
	drv_check(pba(bus, base) == 0 && d->msix.entries[3].routed,
		  "unmasking vector 3 delivers the back-end's signal and routes the vector");
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS, 2, 0);
	drv_check(!d->msix.entries[0].routed && !d->msix.entries[3].routed,
		  "disabling MSI-X unroutes every vector");
	cfg_wr(bus, d, PCI_COMMAND, 2, 0);
	mmio_wr(bus, tbl + 12, 4, 1);
	drv_check(d->msix.entries[0].ctrl == 0, "table writes need MEM decode");
}

/* ---- INTx ---- */

static void test_intx(struct pci_bus *bus, struct pci_dev *d)
{
	drv_check(cfg_rd(bus, d, PCI_INTERRUPT_PIN, 1) == 0, "no pin by default");
	pci_dev_set_intx_pin(d, 1);
	drv_check(cfg_rd(bus, d, PCI_INTERRUPT_PIN, 1) == 1, "pin INTA after set_intx_pin");
	drv_check(!(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT), "status bit 3 clear");
	pci_intx_set(d, true);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		  "pci_intx_set(true) sets status bit 3");
	cfg_wr(bus, d, PCI_STATUS, 2, 0xffff);
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		  "status bit 3 is not guest-clearable");
	cfg_wr(bus, d, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	drv_check(cfg_rd(bus, d, PCI_COMMAND, 2) == PCI_COMMAND_INTX_DISABLE,
		  "command INTx-disable is writable");
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT,
		  "status bit 3 still mirrors the request while disabled");
	cfg_wr(bus, d, PCI_COMMAND, 2, 0);
	pci_intx_set(d, false);
	drv_check(!(cfg_rd(bus, d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT),
		  "pci_intx_set(false) clears status bit 3");
}

/* ---- reset ---- */

static void test_reset(struct pci_bus *bus, struct pci_dev *d, struct rec *r)
{
	const uint64_t base = 0xfe100000;

	pci_dev_add_bar(d, 0, PCI_BAR_MEM32, 0x1000, false);
	pci_dev_add_bar(d, 1, PCI_BAR_IO, 16, false);
	pci_dev_add_bar(d, 2, PCI_BAR_MEM64, 0x4000, true);
	pci_msix_init(d, 2, 0, 0, 0x800);
	pci_dev_set_intx_pin(d, 1);
	unsigned cap = d->msix.cap;

	cfg_wr(bus, d, PCI_BASE_ADDRESS_0, 4, (uint32_t)base);
	cfg_wr(bus, d, PCI_BASE_ADDRESS_1, 4, 0xc100);
	cfg_wr(bus, d, PCI_BASE_ADDRESS_2, 4, 0xfe200000);
	cfg_wr(bus, d, PCI_BASE_ADDRESS_3, 4, 0x1);
	cfg_wr(bus, d, PCI_COMMAND, 2, 0x0547);
	cfg_wr(bus, d, PCI_CACHE_LINE_SIZE, 2, 0x4010);
	cfg_wr(bus, d, PCI_INTERRUPT_LINE, 1, 11);
	cfg_wr(bus, d, cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	mmio_wr(bus, base, 8, 0xfee00000);
	mmio_wr(bus, base + 8, 8, 0x21);
	pci_msix_notify(d, 1);
	pci_cfg_set16(d, PCI_STATUS, pci_cfg_read16(d, PCI_STATUS) | PCI_STATUS_SIG_SYSTEM_ERROR);
	pci_intx_set(d, true);
	drv_check(d->bars[0].mapped && d->bars[1].mapped && d->bars[2].mapped &&
			  mmio_rd(bus, base + 0x800, 8) == 2,
		  "before reset: BARs decode, vector 1 pending");

	int changes = r->msix_changes;
	pci_dev_reset(d);
	drv_check(cfg_rd(bus, d, PCI_COMMAND, 2) == 0, "reset: command 0");
	drv_check(cfg_rd(bus, d, PCI_STATUS, 2) == PCI_STATUS_CAP_LIST,
		  "reset: status error and interrupt bits clear, CAP_LIST kept");
	drv_check(cfg_rd(bus, d, 0, 4) == 0x10421af4 && cfg_rd(bus, d, PCI_CLASS_REVISION, 4) ==
									 0x01800001,
		  "reset: IDs kept");
	drv_check(cfg_rd(bus, d, PCI_CACHE_LINE_SIZE, 2) == 0 &&
			  cfg_rd(bus, d, PCI_INTERRUPT_LINE, 2) == 0x0100,
		  "reset: cache line, latency, interrupt line 0; pin kept");
	drv_check(cfg_rd(bus, d, PCI_BASE_ADDRESS_0, 4) == 0 &&
			  cfg_rd(bus, d, PCI_BASE_ADDRESS_1, 4) == 1 &&
			  cfg_rd(bus, d, PCI_BASE_ADDRESS_2, 4) == 0xc &&
			  cfg_rd(bus, d, PCI_BASE_ADDRESS_3, 4) == 0,
		  "reset: BARs unprogrammed, type bits kept");
	drv_check(!d->bars[0].mapped && !d->bars[1].mapped && !d->bars[2].mapped && !r->mapped,
		  "reset: BARs unmapped (bar_map told)");
	drv_check(cfg_rd(bus, d, cap + PCI_MSIX_FLAGS, 2) == 1 && !pci_msix_enabled(d) &&
			  r->msix_changes > changes,
		  "reset: MSI-X enable and function mask clear, msix_changed called");
	bool clean = true;
	for (int v = 0; v < 2; v++)
		clean = clean && d->msix.entries[v].ctrl == 1 && !d->msix.entries[v].addr &&
			!d->msix.entries[v].data && !d->msix.entries[v].routed;
	drv_check(clean && d->msix.pba[0] == 0, "reset: entries cleared and masked, PBA clear");
	drv_check(!d->intx_pending, "reset: INTx deasserted");
	drv_check(mmio_rd(bus, base, 4) == 0xffffffff, "reset: old BAR address reads all-ones");
}

/* ---- bus ---- */

static void test_finalize(void)
{
	struct pci_bus bus = { 0 };
	struct pci_dev d[5];
	struct rec r[5];

	new_dev(&bus, &d[0], &r[0], "s1f0", 1, 0);
	new_dev(&bus, &d[1], &r[1], "s1f2", 1, 2);
	new_dev(&bus, &d[2], &r[2], "s2f0", 2, 0);
	new_dev(&bus, &d[3], &r[3], "s3f1", 3, 1);
	drv_check(pci_bus_add(&bus, &d[4], 1, 2) == -EEXIST, "occupied function: -EEXIST");
	drv_check(pci_bus_add(&bus, &d[4], 32, 0) == -EINVAL &&
			  pci_bus_add(&bus, &d[4], 0, 8) == -EINVAL,
		  "slot/function out of range: -EINVAL");
	pci_bus_finalize(&bus);
	drv_check(cfg_rd(&bus, &d[0], PCI_HEADER_TYPE, 1) == 0x80,
		  "multi-function slot: function 0 header type bit 7");
	drv_check(cfg_rd(&bus, &d[1], PCI_HEADER_TYPE, 1) == 0, "... not on function 2");
	drv_check(cfg_rd(&bus, &d[2], PCI_HEADER_TYPE, 1) == 0, "single-function slot: 0");
	drv_check(cfg_rd(&bus, &d[3], PCI_HEADER_TYPE, 1) == 0, "slot without function 0: 0");
	pci_bus_finalize(&bus);
	drv_check(cfg_rd(&bus, &d[0], PCI_HEADER_TYPE, 1) == 0x80, "finalize twice: still 0x80");
	pci_bus_remove(&bus, &d[1]);
	drv_check(cfg_rd(&bus, &d[1], 0, 4) == 0xffffffff, "removed function reads all-ones");
}

static void test_dump(void)
{
	struct pci_bus bus = { 0 };
	struct pci_dev d;
	struct rec r;
	char line[128], want[128];
	int lines = 0, rows_ok = 0;

	new_dev(&bus, &d, &r, "dumpdev", 0x1a, 3);
	for (unsigned i = 0x40; i < PCI_CFG_SIZE; i++)
		pci_cfg_set8(&d, i, (uint8_t)(i * 7));
	FILE *f = tmpfile();
	if (!drv_check(f != NULL, "tmpfile for the dump"))
		return;
	drv_check(pci_dev_dump(&d, fileno(f), true) == 0, "pci_dev_dump(full) returns 0");
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '\n')
			continue;
		if (lines++ == 0) {
			drv_check(strcmp(line, "00:1a.3 dumpdev\n") == 0, "header line: %s", line);
			continue;
		}
		unsigned row = 16u * (unsigned)(lines - 2);
		int n = snprintf(want, sizeof(want), "%02x:", row);
		for (unsigned i = 0; i < 16; i++)
			n += snprintf(want + n, sizeof(want) - (size_t)n, " %02x", d.cfg[row + i]);
		rows_ok += strcmp(line, strcat(want, "\n")) == 0;
	}
	drv_check(lines == 17 && rows_ok == 16, "17 lines, 16 hex rows match config (%d, %d)",
		  lines, rows_ok);
	fclose(f);

	f = tmpfile();
	pci_dev_dump(&d, fileno(f), false);
	rewind(f);
	lines = 0;
	while (fgets(line, sizeof(line), f))
		lines += line[0] != '\n';
	drv_check(lines == 5, "short dump: header and 4 rows (%d)", lines);
	fclose(f);
}

/* ---- sim VM for interrupt tests ---- */

static int add_fd(void *loop, int fd, uint32_t ev, hsm_fd_cb cb, void *arg)
{
	return evloop_add_fd(loop, fd, ev, cb, arg);
}

static int del_fd(void *loop, int fd)
{
	return evloop_del_fd(loop, fd);
}

static void no_ioreq(void *opaque, struct hsm_ioreq *req)
{
}

int main(void)
{
	struct pci_bus bus = { 0 };
	struct pci_dev d[8];
	struct rec r[8];

	new_dev(&bus, &d[0], &r[0], "header", 0, 0);
	test_header(&bus, &d[0]);
	test_status(&bus, &d[0]);
	new_dev(&bus, &d[1], &r[1], "sizing", 1, 0);
	test_bar_sizing(&bus, &d[1]);
	new_dev(&bus, &d[2], &r[2], "decode", 2, 0);
	test_bar_decode(&bus, &d[2], &r[2]);
	new_dev(&bus, &d[3], &r[3], "caps", 3, 0);
	new_dev(&bus, &d[4], &r[4], "caps2", 3, 1);
	test_caps(&bus, &d[3], &d[4]);
	new_dev(&bus, &d[5], &r[5], "cfg", 4, 0);
	test_cfg_space(&bus, &d[5], &r[5]);
	test_finalize();
	test_dump();

	struct evloop *loop = evloop_create();
	char sock[64], err[256];
	int ret;

	snprintf(sock, sizeof(sock), "sim:/tmp/vdm-pci-%d.sock", (int)getpid());
	struct hsm_vm_config cfg = {
		.backend = sock, .ram_size = 1 << 20, .ioreq = no_ioreq,
		.loop = { .loop = loop, .add_fd = add_fd, .del_fd = del_fd },
	};
	struct pci_bus vbus = { .vm = hsm_open(&cfg, &ret, err, sizeof(err)) };
	if (!drv_check(vbus.vm != NULL, "open a sim VM (%s)", vbus.vm ? "ok" : err))
		return drv_result();
	new_dev(&vbus, &d[6], &r[6], "msix", 5, 0);
	test_msix(&vbus, &d[6], &r[6]);
	test_intx(&vbus, &d[6]);
	new_dev(&vbus, &d[7], &r[7], "reset", 6, 0);
	test_reset(&vbus, &d[7], &r[7]);
	pci_msix_fini(&d[6]);
	pci_msix_fini(&d[7]);
	hsm_close(vbus.vm);
	evloop_destroy(loop);
	return drv_result();
}
