/*
 * devemu.h - what a device emulation is and what it is given: struct devemu
 * (its options and its create/destroy hooks), the context a device is
 * created with (struct devemu_ctx: all of vdm it may touch) and the table
 * of emulations -s may name.  Devices include this, not vdm.h.
 *
 * Adding a device = one new file defining a `struct devemu` and one line in
 * devemu_table (devemu.c).
 */
#ifndef VDM_DEVEMU_H
#define VDM_DEVEMU_H

#include "evloop.h"
#include "hsm.h"
#include "pci.h"
#include "pci_space.h"

#include <stddef.h>
#include <stdint.h>

struct virtio_vhost;
struct vdm_events;

/*
 * Everything of vdm a device may use, given to its create hook: its
 * address, the main event loop, the VM (guest RAM, ioeventfds, interrupts)
 * and what the HSM back-end can do, the VM's UUID, the queue-pacing
 * default, vdm's list of vhost routes, where events go, and the guest
 * resources vdm lays out itself (BAR windows, INTx GSIs).  It holds no other device and
 * no bus.  Valid while create runs: a device copies what it keeps (the
 * virtio transport keeps a copy in struct virtio_dev).
 */
struct devemu_ctx {
	int slot, func;          /* where the function will sit on bus 0 */
	struct evloop *loop;     /* vdm's main loop (I/O threads have their own) */
	struct hsm_vm *vm;
	struct hsm_caps caps;
	uint8_t uuid[16];        /* the VM's (-U), for names stable across runs */
	/* Pacing for queues whose device sets none (--virtio_poll): a virtio.h
	 * enum virtio_poll_mode, UNSET for the transport's own default. */
	int default_poll_mode;
	uint32_t default_poll_us;
	/*
	 * vdm's list of vhost routes, walked when guest RAM is mapped anew
	 * (virtio_vhost_mem_changed).  Opaque: only virtio_vhost.c links a
	 * route in and out, so a device joins it through the transport
	 * without seeing the others.
	 */
	struct virtio_vhost **vhosts;
	/* Where the device's announcements go (events.h; NULL: nowhere). */
	struct vdm_events *events;
	/* BAR addresses and INTx GSIs for functions whose layout vdm decides
	 * (passthrough); shared by every device, at start-up only. */
	struct pci_space *space;
};

/* What a devemu's option hook returns for an option it does not know. */
#define DEVEMU_UNKNOWN 1

struct devemu {
	const char *name;
	const char *usage; /* one line for --help: "-s N,name,OPTS" */
	/*
	 * The OPTIONS part of -s, at command-line time (devemu_parse): a config
	 * of cfg_size bytes starts zeroed, option() applies each comma-separated
	 * option to it in turn (0, DEVEMU_UNKNOWN, or -errno with a one-line
	 * reason in err), then options_done() (optional) checks what goes
	 * together and fills defaults.  clear_cfg (optional) releases what they
	 * stored in the config, not the config itself.  Without option(), the
	 * device takes no options.
	 */
	size_t cfg_size;
	int (*option)(void *cfg, const char *opt, char *err, size_t errlen);
	int (*options_done)(void *cfg, char *err, size_t errlen);
	void (*clear_cfg)(void *cfg);
	/* A host function handed to the guest: only back-ends with
	 * hsm_caps.passthrough take it (checked at command-line time). */
	bool host_function;
	/* Build the function at ctx's address (files opened, resources taken)
	 * from cfg (devemu_parse's; NULL without option(), vdm's to free).
	 * Returns 0 or -errno with a one-line reason in err. */
	int (*create)(const struct devemu_ctx *ctx, const void *cfg, struct pci_dev **out,
		      char *err, size_t errlen);
	/* Optional: every function is created and on the bus, and the guest
	 * does not run yet (acrn-dm routes passthrough INTx at this point).
	 * Returns 0 or -errno with a one-line reason in err; destroy still
	 * runs afterwards. */
	int (*bus_ready)(struct pci_dev *d, char *err, size_t errlen);
	/* Stop, flush and release everything. */
	void (*destroy)(struct pci_dev *d);
};

/* Look up an emulation by name; NULL if none. */
const struct devemu *devemu_find(const char *name);
/*
 * Parse opts (NULL or empty: no options; empty options between commas are
 * skipped) for emu into *cfg (NULL for a device without options).  Returns
 * 0, or -errno with a one-line reason in err.
 */
int devemu_parse(const struct devemu *emu, const char *opts, void **cfg, char *err, size_t errlen);
/* Release a config from devemu_parse (NULL is fine). */
void devemu_free_cfg(const struct devemu *emu, void *cfg);
/* NULL-terminated list, for --help. */
extern const struct devemu *const devemu_table[];

extern const struct devemu devemu_hostbridge;
extern const struct devemu devemu_lpc;
extern const struct devemu devemu_virtio_blk;
extern const struct devemu devemu_virtio_rnd;
extern const struct devemu devemu_virtio_console;
extern const struct devemu devemu_virtio_net;
extern const struct devemu devemu_virtio_vsock;
extern const struct devemu devemu_virtio_fs;
extern const struct devemu devemu_passthru;

#endif /* VDM_DEVEMU_H */
