/*
 * virtio.h - the virtio-pci transport's contract with virtio devices.
 *
 * A device (virtio_blk.c, virtio_rnd.c, ...) embeds struct virtio_dev as its
 * first member, fills a struct virtio_ops with its half (type, queues,
 * features, config space, what to do on a kick and on reset), and calls
 * virtio_dev_init.  The transport (virtio_pci.c) owns everything the guest
 * sees of virtio-pci: capabilities, common config, notify, ISR, device-config
 * routing, feature negotiation, status, reset, interrupts and ioeventfds.
 */
#ifndef VDM_VIRTIO_H
#define VDM_VIRTIO_H

#include "log.h"
#include "pci.h"
#include "vbsu.h"

#include <stdbool.h>
#include <stdint.h>

struct vdm;
struct virtio_dev;

#define VIRTIO_NO_VECTOR 0xffff

struct virtio_queue {
	struct virtio_dev *dev;
	int index;
	struct vqueue vq;        /* libvbsu view, valid while enabled */
	uint16_t max_size;
	uint16_t size;           /* as written by the driver */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd;             /* ioeventfd for this queue's notify address */
	bool kick_routed;        /* modern notify address registered with libhsm */
	bool legacy_kick_routed; /* legacy notify port registered with libhsm */
	/*
	 * Receive-style queue: posted buffers wait for data from the host side,
	 * so "buffers available" is not "work to do".  A kick then only calls
	 * queue_notify once; the device re-arms notifications itself.  Set by
	 * the device at create.
	 */
	bool device_paced;
};

struct virtio_ops {
	const char *name;
	uint16_t device_type;    /* VIRTIO_ID_* */
	uint32_t pci_class;      /* base << 16 | sub << 8 | prog-if */
	/* The driver kicked q (or DRIVER_OK found work waiting). */
	void (*queue_notify)(struct virtio_dev *vd, struct virtio_queue *q);
	/* Device reset: back to the state after create (queues are done by the
	 * transport). */
	void (*reset)(struct virtio_dev *vd);
	/* The driver wrote device config bytes (optional; else read-only). */
	void (*cfg_write)(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val);
};

struct virtio_dev {
	struct pci_dev pci;      /* first: a pci_dev * is a virtio_dev * */
	const struct virtio_ops *ops;
	struct vdm *vdm;
	uint64_t host_features;
	uint64_t guest_features;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t msix_config;
	int nqueues;
	struct virtio_queue *queues;
	uint8_t *config;         /* device config space, owned by the device */
	uint32_t config_size;
	bool use_msix;           /* the function has an MSI-X capability */
	bool transitional;       /* has the legacy I/O BAR */
	bool legacy_mode;        /* the driver uses the legacy interface */
	bool bad_guest_logged;
	struct ratelimit rl;
	uint8_t pci_cfg_cap;     /* offset of VIRTIO_PCI_CAP_PCI_CFG */
};

struct virtio_dev_params {
	const struct virtio_ops *ops;
	int nqueues;
	uint16_t queue_max;      /* power of two */
	uint64_t features;       /* device features; VERSION_1 and ring features are added */
	void *config;
	uint32_t config_size;
	bool transitional;       /* also offer the legacy I/O BAR (0x1000.. device IDs) */
};

/*
 * Options every virtio device takes, for the devices' parse hooks: returns
 * true when tok was one ("transitional") and applied it to *transitional.
 */
bool virtio_parse_common_opt(const char *tok, bool *transitional);

/* Build vd's PCI function (IDs, BARs, capabilities, MSI-X if the back-end
 * delivers MSI, else INTx).  Returns 0 or -errno. */
int virtio_dev_init(struct virtio_dev *vd, struct vdm *vdm, const struct virtio_dev_params *p);
void virtio_dev_fini(struct virtio_dev *vd);

static inline struct virtio_dev *to_virtio_dev(struct pci_dev *d)
{
	return (struct virtio_dev *)d;
}

/* Negotiated feature test. */
static inline bool virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return vd->guest_features >> bit & 1;
}

/* True once the driver set DRIVER_OK and the device does not need a reset. */
bool virtio_dev_running(const struct virtio_dev *vd);

/* After a batch of vq_relchain on q: interrupt the driver if it wants one. */
void virtio_queue_done(struct virtio_queue *q);

/*
 * The guest broke a rule on this device: set DEVICE_NEEDS_RESET, tell the
 * driver with a config interrupt, log once (rate-limited).  The device then
 * ignores its queues until reset.
 */
void virtio_dev_needs_reset(struct virtio_dev *vd, const char *why);

/* The device changed its config space: bump the generation and interrupt. */
void virtio_config_changed(struct virtio_dev *vd);

/* Log a guest mistake on this device, rate-limited. */
#define virtio_guest_error(vd, ...) log_ratelimited(&(vd)->rl, LOG_WARN, __VA_ARGS__)

#endif /* VDM_VIRTIO_H */
