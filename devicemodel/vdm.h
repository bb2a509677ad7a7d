/*
 * vdm.h - the device model's shared context and the device-emulation table.
 *
 * Adding a device = one new file defining a `struct devemu` and one line in
 * devemu_table (devemu.c).
 */
#ifndef VDM_VDM_H
#define VDM_VDM_H

#include "evloop.h"
#include "hsm.h"
#include "pci.h"

#include <stddef.h>
#include <stdint.h>

struct vdm;

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
	/* Build the function (files opened, resources taken).  Returns 0 or -errno
	 * with a one-line reason in err. */
	int (*create)(struct vdm *vdm, void *cfg, struct pci_dev **out, char *err, size_t errlen);
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

struct vdm_device {
	const struct devemu *emu;
	int slot, func;
	void *cfg;
	struct pci_dev *dev;
};

#define VDM_MAX_DEVICES (PCI_NUM_SLOTS * PCI_NUM_FUNCS)

struct vdm {
	struct evloop *loop;
	/* Queue pacing for devices that set none (--virtio_poll; virtio.h). */
	int default_poll_mode;
	uint32_t default_poll_us;
	struct hsm_vm *vm;
	struct hsm_caps caps;
	struct pci_bus bus;
	uint8_t uuid[16];
	char uuid_str[37];
	int ndevices;
	struct vdm_device devices[VDM_MAX_DEVICES];
	/* Where the device being created will sit (for create hooks that
	 * derive something from their address, like virtio-net's MAC). */
	int create_slot, create_func;
	/* Devices whose data plane is on a vhost back-end (virtio_vhost.c). */
	struct virtio_vhost *vhosts;
	/* Set when a hypervisor that vdm started has ended. */
	bool hv_ended, hv_failed_start;
	int hv_status;
};

extern const struct devemu devemu_hostbridge;
extern const struct devemu devemu_virtio_blk;
extern const struct devemu devemu_virtio_rnd;
extern const struct devemu devemu_virtio_console;
extern const struct devemu devemu_virtio_net;
extern const struct devemu devemu_virtio_vsock;
extern const struct devemu devemu_virtio_fs;

#endif /* VDM_VDM_H */
