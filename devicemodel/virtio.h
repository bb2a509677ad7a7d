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

#include "devemu.h"
#include "holdoff.h"
#include "log.h"
#include "pci.h"
#include "vbsu.h"
#include "vhostproxy.h"

#include <stdbool.h>
#include <stdint.h>

struct vdm;
struct virtio_dev;
struct virtio_vhost;

#define VIRTIO_NO_VECTOR 0xffff

/* A device's `vhost=` / `reconnect=` options. */
enum vhost_route_kind {
	VHOST_ROUTE_NONE = 0, /* VBS-U */
	VHOST_ROUTE_KERNEL,
	VHOST_ROUTE_USER,
	VHOST_ROUTE_AUTO,     /* kernel vhost if its node is there, else VBS-U */
};


/* What a queue has done, for the log and the management of the future. */
struct virtio_queue_stats {
	uint64_t busy_ns;        /* time vdm spent serving the queue */
	uint64_t kicks;          /* notifications from the driver */
	uint64_t interrupts;     /* used-buffer notifications sent */
};

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
	bool kick_watched;       /* kick_fd is on vdm's loop (not a vhost back-end's) */
	bool kick_routed;        /* modern notify address registered with libhsm */
	bool legacy_kick_routed; /* legacy notify port registered with libhsm */
	/*
	 * Receive-style queue: posted buffers wait for data from the host side,
	 * so "buffers available" is not "work to do".  A kick then only calls
	 * queue_notify once; the device re-arms notifications itself.  Set by
	 * the device at create.
	 */
	bool device_paced;
	/*
	 * Set by the device while the host side cannot take more from this
	 * queue (a full TAP): a kick then serves it once and stops, instead of
	 * coming back round the loop; the device kicks the queue itself (writes
	 * kick_fd) when the host side has room again.
	 */
	bool host_blocked;
	/*
	 * Set by the device while requests taken from this queue are still in
	 * flight (asynchronous I/O): their completion serves the queue again,
	 * so a hold-off needs no timer ticks meanwhile, only a deadline.
	 */
	bool device_busy;
	/* Notification hold-off after the ring ran empty (holdoff.h). */
	struct holdoff holdoff;
	bool requeued;           /* kick_fd was written by vdm, not the driver */
	struct virtio_queue_stats stats;
};

struct virtio_ops {
	const char *name;
	uint16_t device_type;    /* VIRTIO_ID_* */
	uint32_t pci_class;      /* base << 16 | sub << 8 | prog-if */
	/*
	 * The driver kicked q (or DRIVER_OK, a hold-off timer or the device
	 * itself found work waiting): serve it.  Returns 0, or a negative
	 * errno when the guest broke the queue (the transport then sets
	 * DEVICE_NEEDS_RESET, naming q->vq.error).
	 */
	int (*queue_notify)(struct virtio_dev *vd, struct virtio_queue *q);
	/* Optional, first thing at a device reset: finish every request in
	 * flight, so nothing touches the rings or buffers afterwards. */
	void (*quiesce)(struct virtio_dev *vd);
	/* Device reset: back to the state after create (queues are done by the
	 * transport). */
	void (*reset)(struct virtio_dev *vd);
	/* The driver wrote device config bytes (optional; else read-only). */
	void (*cfg_write)(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val);
	/*
	 * Live route switching (virtio_route.c), optional.  vbsu_prepare: make
	 * the VBS-U back-end ready to take the queues (0, or -errno with err:
	 * it has none).  route_check: can the vhost back-end dev serve what
	 * the guest was told (config space, limits)?  0 or -errno with err.
	 */
	int (*vbsu_prepare)(struct virtio_dev *vd, char *err, size_t errlen);
	int (*route_check)(struct virtio_dev *vd, struct vhost_dev *dev, char *err, size_t errlen);
	/*
	 * Optional, for a device whose vhost routes differ (virtio-net: kernel
	 * vhost-net takes its TAP, a vhost-user back-end has its own port):
	 * what a route of this kind needs, or NULL with err when the device
	 * cannot take one.  Without it every route uses vd->vhost_params.
	 */
	/* Optional: the name of device feature bit (24 and up are the
	 * transport's), for a refusal a person can read; NULL: unnamed. */
	const char *(*feature_name)(unsigned bit);
	const struct virtio_vhost_params *(*route_params)(struct virtio_dev *vd,
							   enum vhost_route_kind kind, char *err,
							   size_t errlen);
};

struct virtio_dev {
	struct pci_dev pci;      /* first: a pci_dev * is a virtio_dev * */
	const struct virtio_ops *ops;
	/* What the device was created with, copied: the VM, vdm's loop, its
	 * address.  The transport and the vhost glue need no more of vdm. */
	struct devemu_ctx ctx;
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
	struct virtio_vhost *vhost; /* data plane on a vhost back-end, or NULL (VBS-U) */
	/* What a vhost route of this device needs; NULL: it cannot switch routes. */
	const struct virtio_vhost_params *vhost_params;
	uint64_t route_switches;
	struct evloop *loop;     /* where the queues' fds are watched: vdm's, or an I/O thread's */
};

struct virtio_dev_params {
	const struct virtio_ops *ops;
	int nqueues;
	uint16_t queue_max;      /* power of two */
	uint64_t features;       /* device features; VERSION_1 and ring features are added */
	/* Device config space as the driver reads it: the spec's layout with
	 * every field little-endian (virtio 1.2, 2.5; a legacy driver reads it
	 * in the guest's byte order, which on x86 is the same).  Devices store
	 * fields with htole16/32/64 and read them back with le*toh. */
	void *config;
	uint32_t config_size;
	bool transitional;       /* also offer the legacy I/O BAR (0x1000.. device IDs) */
	/*
	 * Also offer VIRTIO_F_RING_PACKED (virtio 1.2, 2.8).  Only a modern
	 * driver can take it: the legacy interface shows 32 feature bits.  On
	 * a vhost route the offer is then masked by the back-end's features.
	 */
	bool packed;
	struct virtio_poll poll; /* for every queue the transport paces */
	/* The loop serving the queues (an I/O thread's, not yet running);
	 * NULL: vdm's.  With one, the device sets pci.lock before it starts. */
	struct evloop *loop;
};

/* Build vd's PCI function (IDs, BARs, capabilities, MSI-X if the back-end
 * delivers MSI, else INTx) in the device's create, with its ctx (copied).
 * Returns 0 or -errno. */
int virtio_dev_init(struct virtio_dev *vd, const struct devemu_ctx *ctx,
		    const struct virtio_dev_params *p);
void virtio_dev_fini(struct virtio_dev *vd);

static inline struct virtio_dev *to_virtio_dev(struct pci_dev *d)
{
	return (struct virtio_dev *)d;
}

/* True when d is a virtio device's function (to_virtio_dev applies). */
bool virtio_pci_function(const struct pci_dev *d);

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
 * Serve q now, as a kick would, through the transport's pacing (passes,
 * budget, hold-off): for a device whose host side finished work or made
 * room (completions reaped, a TAP writable again).
 */
void virtio_queue_serve(struct virtio_queue *q);

/*
 * Completions of q just went to the driver, which is likely to post again
 * soon: a hold-off that was only waiting for its deadline (requests were in
 * flight) looks at the ring every tick from now on, for a window.  Call it
 * after setting device_busy.
 */
void virtio_queue_completions_sent(struct virtio_queue *q);

/*
 * A device-paced queue ran out of guest buffers: ask the driver for a kick
 * and look once more, since buffers posted before it saw the request get no
 * kick of their own.  True when there are buffers after all.
 */
bool virtio_queue_rearm(struct virtio_queue *q);

/* A device's own run function failed on q (r < 0): DEVICE_NEEDS_RESET. */
void virtio_queue_failed(struct virtio_queue *q, int r);

/*
 * The guest broke a rule on this device, or its vhost back-end is gone: set
 * DEVICE_NEEDS_RESET, tell the driver with a config interrupt, log why
 * (rate-limited).  The device then ignores its queues until reset.
 */
void virtio_dev_needs_reset(struct virtio_dev *vd, const char *why);

/* The device changed its config space: bump the generation and interrupt. */
void virtio_config_changed(struct virtio_dev *vd);

/* Log a guest mistake on this device, rate-limited. */
#define virtio_guest_error(vd, ...) log_ratelimited(&(vd)->rl, LOG_WARN, __VA_ARGS__)

/*
 * Guest RAM changed (the HSM back-end's map): every VBS-U queue looks its
 * ring up again; a device whose ring is no longer in guest RAM needs a
 * reset (logged).
 */
void virtio_mem_changed(struct vdm *vdm);

/* ---- vhost route (virtio_vhost.c) ---- */

/* A device's `vhost=` / `reconnect=` options: the route and how to keep it. */
struct vhost_route {
	enum vhost_route_kind kind;
	char *path;           /* vhost-user socket, or kernel node (NULL: the device's) */
	unsigned reconnect_s; /* vhost-user: retry period after a loss, 0 = never */
	bool given;           /* vhost= was on the command line (auto may become none) */
};

/*
 * A device option token: "vhost=user:SOCKET", "vhost=kernel[:NODE]",
 * "vhost=auto" or "reconnect=SECONDS".  Returns 1 when tok was one (applied
 * to *r), 0 when it was not, or -EINVAL with a one-line reason in err.
 */
int vhost_route_parse(const char *tok, struct vhost_route *r, char *err, size_t errlen);
/* After parsing: refuse what device dev cannot do (kernel_node NULL: it has
 * no kernel vhost).  0 or -EINVAL with err. */
int vhost_route_check(const struct vhost_route *r, const char *dev, const char *kernel_node,
		      char *err, size_t errlen);
void vhost_route_free(struct vhost_route *r);

/*
 * The options virtio devices share, for their devemu option hooks:
 * "transitional" (unless transitional is NULL: the device has no legacy
 * interface), "packed=on|off" into *no_packed (unless NULL: the device does
 * not choose its ring layout) and the vhost route's (vhost_route_parse;
 * unless route is NULL).  Returns 1 when opt was one of them (applied), 0
 * when it was not, or -errno with a one-line reason in err.
 */
int virtio_common_option(const char *opt, bool *transitional, bool *no_packed,
			 struct vhost_route *route, char *err, size_t errlen);

/* What a device tells the vhost glue. */
struct virtio_vhost_params {
	const char *kernel_node;  /* default node for vhost=kernel/auto; NULL: none */
	unsigned nrings;          /* queues 0..nrings-1 go to the back-end */
	/* Feature bits vdm keeps serving itself whatever the back-end says
	 * (config-space and control-queue features of the device). */
	uint64_t vdm_features;
	/*
	 * The back-end finishes what it took before it answers GET_VRING_BASE
	 * (a network back-end moves each frame at once): leaving it in a live
	 * switch needs no wait for its rings to stand still, which a polling
	 * back-end (DPDK's) under traffic never does.
	 */
	bool completes_before_stop;
	/* Optional: after the rings start / before they stop (kernel vhost-net
	 * attaches the TAP, vhost-vsock sets the CID and runs). */
	int (*start)(struct virtio_dev *vd, struct vhost_dev *dev);
	void (*stop)(struct virtio_dev *vd, struct vhost_dev *dev);
};

/*
 * Before virtio_dev_init: resolve route (auto picks kernel vhost when
 * p->kernel_node is usable, and logs the choice) and connect to the
 * back-end.  Returns 1 with *out set when the device is vhost-routed, 0 when
 * VBS-U serves it, or -errno with a one-line reason in err.  p must outlive
 * the route.
 */
int virtio_vhost_open(struct virtio_vhost **out, const struct vhost_route *route,
		      const char *devname, const struct virtio_vhost_params *p, char *err,
		      size_t errlen);
/* The back-end's features (to shape the device's offer), and its handle. */
uint64_t virtio_vhost_features(const struct virtio_vhost *vv);
struct vhost_dev *virtio_vhost_dev(const struct virtio_vhost *vv);
/* After virtio_dev_init: route vd's data plane to vv (vd owns it then) and
 * mask vd's offer to what the back-end does.  0 or -errno with err. */
int virtio_vhost_attach(struct virtio_dev *vd, struct virtio_vhost *vv, char *err, size_t errlen);
/* Stop and release (before virtio_dev_fini).  NULL allowed. */
void virtio_vhost_free(struct virtio_vhost *vv);

/* "vbs-u", "vhost-user:PATH" or "vhost-kernel:NODE": vd's route now. */
void virtio_route_describe(const struct virtio_dev *vd, char *buf, size_t len);

/*
 * Move vd's data plane to route (VHOST_ROUTE_NONE: VBS-U) while the guest
 * runs: quiesce the old owner, hand over the ring indexes, start the new
 * one; the guest sees nothing.  Returns 0 once the new owner serves, or
 * -errno with a one-line reason in err: the device then still serves on
 * its old route, or (when that was impossible) needs a reset, which err
 * says.  On the loop thread, with vd locked.
 */
int virtio_set_route(struct virtio_dev *vd, const struct vhost_route *route, char *err,
		     size_t errlen);

/*
 * Guest RAM changed (the HSM back-end's map): running back-ends get the new
 * memory table; a device whose rings no longer sit where the back-end was
 * told needs a reset.
 */
void virtio_vhost_mem_changed(struct vdm *vdm);

/*
 * virtio_dev_init, then, when vv is not NULL, virtio_vhost_attach: what
 * every device's create does.  On failure vd is undone (vv stays the
 * caller's to free) and err says why.
 */
int virtio_dev_init_routed(struct virtio_dev *vd, const struct devemu_ctx *ctx,
			   const struct virtio_dev_params *p, struct virtio_vhost *vv, char *err,
			   size_t errlen);

#endif /* VDM_VIRTIO_H */
