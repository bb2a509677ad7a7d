/*
 * virtio_vsock.c - `-s N,virtio-vsock,cid=N[,vhost=kernel[:NODE]]`:
 * the socket device (virtio 1.2, 5.10) served by kernel vhost-vsock.  vdm
 * owns the function, the config space (the guest's CID) and the event
 * queue; the receive and transmit queues run in the kernel.  There is no
 * user-space vsock back-end: without /dev/vhost-vsock the device cannot
 * start, and vdm says so at start-up.
 *
 * vdm posts no events (they report transport resets, which only a
 * migration causes), so buffers on the event queue simply wait.
 */
#include "devemu.h"
#include "virtio.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#define VSOCK_QUEUE_SIZE 128
#define VSOCK_NODE "/dev/vhost-vsock"
enum { RXQ = 0, TXQ = 1, EVENTQ = 2, VSOCK_NQUEUES = 3 };

struct vsock_cfg {
	uint64_t cid;
	struct vhost_route route;
};

struct virtio_vsock {
	struct virtio_dev vd; /* first */
	struct virtio_vsock_config config;
};

static void vsock_clear_cfg(void *cfg)
{
	vhost_route_free(&((struct vsock_cfg *)cfg)->route);
}

static int vsock_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct vsock_cfg *c = cfg;
	char *end;
	int r;

	if (!strncmp(opt, "cid=", 4)) {
		errno = 0;
		c->cid = strtoull(opt + 4, &end, 0);
		/* 0-2 are reserved, and so is U32_MAX; the upper 32 bits must be
		 * zero (5.10.4). */
		if (!opt[4] || *end || errno || c->cid < 3 || c->cid >= 0xffffffffULL) {
			snprintf(err, errlen, "cid=%s: expected a number from 3 to 4294967294", opt + 4);
			return -EINVAL;
		}
		return 0;
	}
	/* No "transitional": vsock has no legacy interface. */
	r = virtio_common_option(opt, NULL, NULL, &c->route, err, errlen);
	return r < 0 ? r : r ? 0 : DEVEMU_UNKNOWN;
}

static int vsock_options_done(void *cfg, char *err, size_t errlen)
{
	struct vsock_cfg *c = cfg;

	if (!c->cid) {
		snprintf(err, errlen, "virtio-vsock needs cid=N (the guest's context ID, 3 or more)");
		return -EINVAL;
	}
	if (c->route.kind != VHOST_ROUTE_NONE && c->route.kind != VHOST_ROUTE_KERNEL &&
	    c->route.kind != VHOST_ROUTE_AUTO) {
		snprintf(err, errlen, "virtio-vsock is served by kernel vhost-vsock only");
		return -EINVAL;
	}
	/* Kernel vhost is the only route, so it is the default. */
	c->route.kind = VHOST_ROUTE_KERNEL;
	return 0;
}

static int vsock_start(struct virtio_dev *vd, struct vhost_dev *dev)
{
	return vhost_dev_vsock_set_running(dev, true);
}

static void vsock_stop(struct virtio_dev *vd, struct vhost_dev *dev)
{
	vhost_dev_vsock_set_running(dev, false);
}

static const struct virtio_vhost_params vsock_vhost = {
	.kernel_node = VSOCK_NODE,
	.nrings = 2, /* rx and tx; the event queue stays in vdm */
	.start = vsock_start,
	.stop = vsock_stop,
};

static int vsock_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	/* Only the event queue reaches vdm; its buffers wait for an event. */
	return 0;
}

static const struct virtio_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_type = VIRTIO_ID_VSOCK,
	.pci_class = 0x00ff00, /* unclassified device */
	.queue_notify = vsock_notify,
};

static int vsock_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
			char *err, size_t errlen)
{
	const struct vsock_cfg *cfg = cfgp;
	struct virtio_vhost *vv;
	struct virtio_vsock *v;
	int ret = virtio_vhost_open(&vv, &cfg->route, "virtio-vsock", &vsock_vhost, err, errlen);

	if (ret < 0)
		return ret;
	/* The CID is claimed now, so a CID in use fails at start-up. */
	ret = vhost_dev_vsock_set_cid(virtio_vhost_dev(vv), cfg->cid);
	if (ret) {
		snprintf(err, errlen, "cid=%llu: %s", (unsigned long long)cfg->cid,
			 vhost_dev_error(virtio_vhost_dev(vv)));
		virtio_vhost_free(vv);
		return ret;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		virtio_vhost_free(vv);
		return -ENOMEM;
	}
	v->config.guest_cid = htole64(cfg->cid); /* little-endian (virtio.h) */
	struct virtio_dev_params p = {
		.ops = &vsock_ops,
		.nqueues = VSOCK_NQUEUES,
		.queue_max = VSOCK_QUEUE_SIZE,
		.features = virtio_vhost_features(vv) & (1ULL << VIRTIO_VSOCK_F_SEQPACKET),
		.config = &v->config,
		.config_size = sizeof(v->config),
	};
	ret = virtio_dev_init_routed(&v->vd, ctx, &p, vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		free(v);
		return ret;
	}
	v->vd.queues[EVENTQ].device_paced = true;
	log_info("virtio-vsock: guest cid %llu on kernel vhost-vsock",
		 (unsigned long long)cfg->cid);
	*out = &v->vd.pci;
	return 0;
}

static void vsock_destroy(struct pci_dev *d)
{
	struct virtio_vsock *v = (struct virtio_vsock *)to_virtio_dev(d);

	virtio_vhost_free(v->vd.vhost);
	virtio_dev_fini(&v->vd);
	free(v);
}

const struct devemu devemu_virtio_vsock = {
	.name = "virtio-vsock",
	.usage = "-s N,virtio-vsock,cid=N[,vhost=kernel[:NODE]]",
	.cfg_size = sizeof(struct vsock_cfg),
	.option = vsock_option,
	.options_done = vsock_options_done,
	.clear_cfg = vsock_clear_cfg,
	.create = vsock_create,
	.destroy = vsock_destroy,
};
