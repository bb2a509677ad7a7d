/*
 * virtio_fs.c - `-s N,virtio-fs,vhost=user:SOCKET,tag=NAME[,queues=N][,reconnect=S]`:
 * the file-system device (virtio 1.2, 5.11) served by a vhost-user back-end
 * such as virtiofsd, which answers the guest's FUSE requests on the
 * high-priority queue and the request queues.  vdm owns the function and
 * the config space (the tag the guest mounts by, the number of request
 * queues); every queue runs in the back-end.  There is no user-space
 * file-system back-end in vdm, and no DAX window (no shared-memory region
 * is offered, so the guest reads and writes through the queues).
 */
#include "devemu.h"
#include "virtio.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>

#define FS_QUEUE_SIZE 128
#define FS_TAG_MAX ((int)sizeof(((struct virtio_fs_config *)0)->tag))
/* Queue 0 is the high-priority queue; the request queues follow it. */
#define FS_MAX_REQUEST_QUEUES (VHOST_MAX_RINGS - 1)

struct fs_cfg {
	char tag[FS_TAG_MAX + 1];
	unsigned request_queues;
	struct vhost_route route;
};

struct virtio_fs {
	struct virtio_dev vd; /* first */
	struct virtio_fs_config config;
	struct virtio_vhost_params vhost; /* lives as long as the route */
};

static void fs_clear_cfg(void *cfg)
{
	vhost_route_free(&((struct fs_cfg *)cfg)->route);
}

static int fs_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct fs_cfg *c = cfg;
	int r;

	if (!strncmp(opt, "tag=", 4)) {
		size_t len = strlen(opt + 4);

		if (len == 0 || len > (size_t)FS_TAG_MAX) {
			snprintf(err, errlen, "tag '%s': expected 1 to %d bytes", opt + 4, FS_TAG_MAX);
			return -EINVAL;
		}
		memcpy(c->tag, opt + 4, len + 1);
		return 0;
	}
	if (!strncmp(opt, "queues=", 7)) {
		char *end;
		unsigned long n = strtoul(opt + 7, &end, 10);

		if (!opt[7] || *end || n < 1 || n > FS_MAX_REQUEST_QUEUES) {
			snprintf(err, errlen, "queues=%s: expected 1 to %d request queues", opt + 7,
				 FS_MAX_REQUEST_QUEUES);
			return -EINVAL;
		}
		c->request_queues = (unsigned)n;
		return 0;
	}
	/* No "transitional": virtio-fs has no legacy interface. */
	r = virtio_common_option(opt, NULL, NULL, &c->route, err, errlen);
	return r < 0 ? r : r ? 0 : DEVEMU_UNKNOWN;
}

static int fs_options_done(void *cfg, char *err, size_t errlen)
{
	struct fs_cfg *c = cfg;

	if (c->route.kind != VHOST_ROUTE_USER) {
		snprintf(err, errlen, "virtio-fs is served by a vhost-user back-end only: give "
				      "vhost=user:SOCKET (for example virtiofsd's --socket-path)");
		return -EINVAL;
	}
	if (!c->tag[0]) {
		snprintf(err, errlen, "virtio-fs needs tag=NAME (what the guest mounts)");
		return -EINVAL;
	}
	if (!c->request_queues)
		c->request_queues = 1;
	return 0;
}

static int fs_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	/* Every queue is the back-end's; kicks go to it (virtio_queue_kicked). */
	return 0;
}

static const struct virtio_ops fs_ops = {
	.name = "virtio-fs",
	.device_type = VIRTIO_ID_FS,
	.pci_class = 0x018000, /* mass storage, other */
	.queue_notify = fs_notify,
};

static int fs_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		     char *err, size_t errlen)
{
	const struct fs_cfg *cfg = cfgp;
	struct virtio_vhost *vv;
	struct virtio_fs *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	f->vhost.nrings = 1 + cfg->request_queues;
	ret = virtio_vhost_open(&vv, &cfg->route, "virtio-fs", &f->vhost, err, errlen);
	if (ret <= 0) { /* 0 would be VBS-U, which virtio-fs does not have */
		free(f);
		return ret ? ret : -EINVAL;
	}
	memcpy(f->config.tag, cfg->tag, strlen(cfg->tag)); /* NUL-padded, not terminated */
	f->config.num_request_queues = htole32(cfg->request_queues);
	struct virtio_dev_params p = {
		.ops = &fs_ops,
		.nqueues = (int)f->vhost.nrings,
		.queue_max = FS_QUEUE_SIZE,
		.config = &f->config,
		.config_size = sizeof(f->config),
	};
	ret = virtio_dev_init_routed(&f->vd, ctx, &p, vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		free(f);
		return ret;
	}
	log_info("virtio-fs: tag '%s', %u request queue%s", cfg->tag, cfg->request_queues,
		 cfg->request_queues == 1 ? "" : "s");
	*out = &f->vd.pci;
	return 0;
}

static void fs_destroy(struct pci_dev *d)
{
	struct virtio_fs *f = (struct virtio_fs *)to_virtio_dev(d);

	virtio_vhost_free(f->vd.vhost);
	virtio_dev_fini(&f->vd);
	free(f);
}

const struct devemu devemu_virtio_fs = {
	.name = "virtio-fs",
	.usage = "-s N,virtio-fs,vhost=user:SOCKET,tag=NAME[,queues=N][,reconnect=S]",
	.cfg_size = sizeof(struct fs_cfg),
	.option = fs_option,
	.options_done = fs_options_done,
	.clear_cfg = fs_clear_cfg,
	.create = fs_create,
	.destroy = fs_destroy,
};
