/*
 * mpqemu.h - the wire format of QEMU's multi-process PCI proxy
 * (`-device x-pci-proxy-dev`, QEMU 5.2 .. 7.2), as the remote side sees it.
 *
 * Every message is a 16-byte header followed by `size` payload bytes, in the
 * host's (x86_64, little-endian) layout; file descriptors travel as
 * SCM_RIGHTS with the header.  See ../shared/protocols.md, section 1.
 */
#ifndef VDM_MPQEMU_H
#define VDM_MPQEMU_H

#include <stdint.h>

enum mpqemu_cmd {
	MPQEMU_SYNC_SYSMEM = 0,  /* fds: guest RAM regions; no reply */
	MPQEMU_RET = 1,          /* the reply to a message that waits for one */
	MPQEMU_PCI_CFGWRITE = 2, /* reply RET */
	MPQEMU_PCI_CFGREAD = 3,  /* reply RET with the value */
	MPQEMU_BAR_WRITE = 4,    /* reply RET */
	MPQEMU_BAR_READ = 5,     /* reply RET with the value */
	MPQEMU_SET_IRQFD = 6,    /* fds: INTx irqfd, resample fd; no reply */
	MPQEMU_DEVICE_RESET = 7, /* reply RET */
};

#define MPQEMU_MAX_FDS 8

struct mpqemu_hdr {
	int32_t cmd;
	uint32_t pad;
	uint64_t size;
};

struct mpqemu_sysmem {
	uint64_t gpas[MPQEMU_MAX_FDS];
	uint64_t sizes[MPQEMU_MAX_FDS];
	int64_t offsets[MPQEMU_MAX_FDS];
};

struct mpqemu_cfg {
	uint32_t addr; /* offset in the function's config space */
	uint32_t val;
	int32_t len;
};

struct mpqemu_bar {
	uint64_t addr;  /* absolute guest-physical address or I/O port */
	uint64_t val;
	uint32_t size;
	uint8_t memory; /* 1: memory BAR, 0: I/O BAR */
	uint8_t pad[3];
};

struct mpqemu_ret {
	uint64_t val;
};

_Static_assert(sizeof(struct mpqemu_hdr) == 16, "mpqemu header");
_Static_assert(sizeof(struct mpqemu_sysmem) == 192, "SYNC_SYSMEM payload");
_Static_assert(sizeof(struct mpqemu_cfg) == 12, "PCI config payload");
_Static_assert(sizeof(struct mpqemu_bar) == 24, "BAR access payload");

#endif /* VDM_MPQEMU_H */
