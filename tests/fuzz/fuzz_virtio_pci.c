/*
 * fuzz_virtio_pci.c - libFuzzer target for the guest's register interface:
 * PCI config space (every offset and size, BAR programming, the capability
 * list, the MSI-X capability, the virtio PCI_CFG window), the virtio-pci
 * common config, device config, notify and ISR registers, the legacy I/O
 * BAR, and through them the queues and requests of real devices.
 *
 * The device model is the real one (libdm, libvbsu, libhsm's simulator
 * back-end for guest RAM): a virtio-blk at 00:03.0 on a memfd image and a
 * transitional virtio-rnd at 00:04.0.  Each input starts from a platform
 * reset of both functions with their BARs programmed and decoding, then
 * runs a list of guest accesses handed to pci_bus_ioreq, as an I/O request
 * from any back-end would be.
 *
 * Input: a sequence of operations (see enum op; fields little-endian).
 * Built as fuzz_pci_cfg with FUZZ_CFG_ONLY, config-space operations only.
 * Built as fuzz_console with FUZZ_CONSOLE, the two functions are
 * virtio-consoles instead: at 00:03.0 three MULTIPORT ports (a console and
 * two plain ports, all writing to /dev/null), whose control queues (2 and 3)
 * take the guest's control messages; at 00:04.0 one plain port, so also
 * MULTIPORT, transitional.
 */
#include "evloop.h"
#include "hsm.h"
#include "log.h"
#include "pci.h"
#include "vdm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/pci_regs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (256u << 10)
#define NDEV 2
/* Where each function's BARs go (BAR4 modern, BAR1 MSI-X, BAR0 legacy I/O). */
static const uint64_t bar4_base[NDEV] = { 0xe0000000, 0xe0100000 };
static const uint64_t bar1_base[NDEV] = { 0xe0200000, 0xe0201000 };
static const uint32_t bar0_base[NDEV] = { 0xc000, 0xc100 };
static const int dev_slot[NDEV + 1] = { 3, 4, 5 }; /* 5: nothing there */

enum op {
	OP_CFG_WRITE,  /* u8 dev, u16 off, u8 size code, u32 val */
	OP_CFG_READ,   /* same, val unused */
	OP_BAR_WRITE,  /* u8 dev, u8 where, u16 off, u8 size code, u64 val */
	OP_BAR_READ,   /* same */
	OP_RAM,        /* u32 gpa, u8 len, len bytes: the guest writes its RAM */
	OP_FLR,        /* u8 dev: the platform resets the function */
	OP_COUNT
};

static const unsigned sizes[8] = { 1, 2, 4, 8, 3, 0, 16, 4 };

static struct vdm vdm;
static uint8_t *ram;

static int loop_add(void *loop, int fd, uint32_t ev, hsm_fd_cb cb, void *arg)
{
	return evloop_add_fd(loop, fd, ev, cb, arg);
}

static int loop_del(void *loop, int fd)
{
	return evloop_del_fd(loop, fd);
}

static void ioreq(void *opaque, struct hsm_ioreq *req)
{
	pci_bus_ioreq(&((struct vdm *)opaque)->bus, req);
}

static void add_device(const char *emu_name, const char *opts, int slot)
{
	const struct devemu *emu = devemu_find(emu_name);
	struct devemu_ctx ctx;
	struct pci_dev *d;
	char err[256] = "";
	void *cfg = NULL;

	devemu_ctx_init(&ctx, &vdm, slot, 0);
	if (!emu || devemu_parse(emu, opts, &cfg, err, sizeof(err)) ||
	    emu->create(&ctx, cfg, &d, err, sizeof(err)) || pci_bus_add(&vdm.bus, d, slot, 0)) {
		fprintf(stderr, "fuzz_virtio_pci: cannot create %s: %s\n", emu_name, err);
		abort();
	}
	vdm.devices[vdm.ndevices++] = (struct vdm_device){ .emu = emu, .slot = slot, .cfg = cfg,
							   .dev = d };
}

static void init(void)
{
	static char dir[] = "/tmp/vdm-fuzz-XXXXXX";
	char backend[128], opts[64], err[256];
	int ret, img;

	log_set_level(LOG_ERR); /* guest errors are the point: keep them quiet */
	vdm.loop = evloop_create();
	if (!vdm.loop || !mkdtemp(dir))
		abort();
	snprintf(backend, sizeof(backend), "sim:%s/sim.sock", dir);
	struct hsm_vm_config cfg = {
		.backend = backend,
		.ram_size = RAM_SIZE,
		.name = "fuzz",
		.ioreq = ioreq,
		.ioreq_opaque = &vdm,
		.loop = { .loop = vdm.loop, .add_fd = loop_add, .del_fd = loop_del },
	};
	vdm.vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!vdm.vm) {
		fprintf(stderr, "fuzz_virtio_pci: %s\n", err);
		abort();
	}
	/* The socket is not needed: nothing connects. */
	snprintf(backend, sizeof(backend), "%s/sim.sock", dir);
	unlink(backend);
	rmdir(dir);
	vdm.caps = hsm_get_caps(vdm.vm);
	vdm.bus.vm = vdm.vm;
	ram = hsm_gpa_to_hva(vdm.vm, 0, RAM_SIZE);
	img = memfd_create("fuzz-image", 0);
	if (!ram || img < 0 || ftruncate(img, 64 << 10))
		abort();
	snprintf(opts, sizeof(opts), "/proc/self/fd/%d", img);
#ifdef FUZZ_CONSOLE
	add_device("virtio-console", "@file:con0=/dev/null,file:p1=/dev/null,file:p2=/dev/null",
		   dev_slot[0]);
	add_device("virtio-console", "file:solo=/dev/null,transitional", dev_slot[1]);
#else
	add_device("virtio-blk", opts, dev_slot[0]);
	add_device("virtio-rnd", "transitional", dev_slot[1]);
#endif
	pci_bus_finalize(&vdm.bus);
}

static uint64_t guest_access(enum hsm_io_space space, enum hsm_io_dir dir, uint64_t addr, unsigned size,
		       uint16_t bdf, uint64_t val)
{
	struct hsm_ioreq req = { .space = space, .dir = dir, .addr = addr, .size = size, .bdf = bdf,
				 .data = val };

	pci_bus_ioreq(&vdm.bus, &req);
	return req.data;
}

static void cfg_write(int dev, unsigned off, unsigned size, uint32_t val)
{
	guest_access(HSM_IO_PCICFG, HSM_IO_WRITE, off, size, hsm_bdf(0, (unsigned)dev_slot[dev], 0), val);
}

/* Power-on state, then BARs placed and decoding, as firmware leaves it. */
static void platform_reset(void)
{
	for (int i = 0; i < NDEV; i++) {
		pci_bus_reset_function(&vdm.bus, hsm_bdf(0, (unsigned)dev_slot[i], 0));
		cfg_write(i, PCI_BASE_ADDRESS_0, 4, bar0_base[i]);
		cfg_write(i, PCI_BASE_ADDRESS_1, 4, (uint32_t)bar1_base[i]);
		cfg_write(i, PCI_BASE_ADDRESS_4, 4, (uint32_t)bar4_base[i]);
		cfg_write(i, PCI_BASE_ADDRESS_5, 4, (uint32_t)(bar4_base[i] >> 32));
		cfg_write(i, PCI_COMMAND, 2,
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	}
	memset(ram, 0, RAM_SIZE);
}

/* Little-endian field reader over the input; runs dry as zeros. */
struct in {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (in->left) {
			v |= (uint64_t)*in->p << (8 * i);
			in->p++;
			in->left--;
		}
	}
	return v;
}

static void bar_op(struct in *in, bool write)
{
	unsigned dev = (unsigned)take(in, 1) % NDEV, where = (unsigned)take(in, 1) % 4;
	uint64_t off = take(in, 2), addr;
	unsigned size = sizes[take(in, 1) % 8];
	uint64_t val = take(in, 8);
	enum hsm_io_space space = HSM_IO_MMIO;

	switch (where) {
	case 0: addr = bar4_base[dev] + off % 0x4000; break;
	case 1: addr = bar1_base[dev] + off % 0x1000; break;
	case 2: addr = bar0_base[dev] + off % 0x100; space = HSM_IO_PIO; break;
	default: addr = bar4_base[dev] - 8 + off; break; /* edges and beyond */
	}
	guest_access(space, write ? HSM_IO_WRITE : HSM_IO_READ, addr, size, 0, val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	if (!vdm.loop)
		init();
	platform_reset();
	while (in.left) {
		unsigned op = (unsigned)take(&in, 1) % OP_COUNT;
#ifdef FUZZ_CFG_ONLY
		op &= 1;
#endif
		switch (op) {
		case OP_CFG_WRITE:
		case OP_CFG_READ: {
			unsigned dev = (unsigned)take(&in, 1) % (NDEV + 1);
			unsigned off = (unsigned)take(&in, 2) % 0x1100; /* past 4 KiB too */
			unsigned sz = sizes[take(&in, 1) % 8];
			uint32_t val = (uint32_t)take(&in, 4);

			guest_access(HSM_IO_PCICFG, op == OP_CFG_WRITE ? HSM_IO_WRITE : HSM_IO_READ, off, sz,
			       hsm_bdf(0, (unsigned)dev_slot[dev], 0), val);
			break;
		}
		case OP_BAR_WRITE:
		case OP_BAR_READ:
			bar_op(&in, op == OP_BAR_WRITE);
			break;
		case OP_RAM: {
			uint32_t gpa = (uint32_t)take(&in, 4) % RAM_SIZE;
			unsigned len = (unsigned)take(&in, 1);

			if (len > in.left)
				len = (unsigned)in.left;
			if (len > RAM_SIZE - gpa)
				len = RAM_SIZE - gpa;
			memcpy(ram + gpa, in.p, len);
			in.p += len;
			in.left -= len;
			break;
		}
		case OP_FLR:
			pci_bus_reset_function(&vdm.bus,
					       hsm_bdf(0, (unsigned)dev_slot[take(&in, 1) % NDEV], 0));
			break;
		}
	}
	return 0;
}
