/*
 * virtio_rnd.c - `-s N,virtio-rnd[,vhost=user:SOCKET[,reconnect=S]][,packed=on|off]`: the
 * entropy device (virtio 1.2, 5.4).  One request queue, no features, no
 * config; requests are served by the VBS-U back-end in vbs-u/rnd.c from
 * OpenSSL's CSPRNG, or by a vhost-user-rng back-end.
 */
#include "devemu.h"
#include "virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ids.h>

#define RND_QUEUE_SIZE 64
/* Requests per call: the transport comes back for the rest after other
 * devices had their turn (see virtio_queue_kicked). */
#define RND_BUDGET 64

struct virtio_rnd {
	struct virtio_dev vd; /* first */
};

static int rnd_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	int r = vbsu_rnd_process(&q->vq, RND_BUDGET);

	if (r > 0)
		virtio_queue_done(q);
	return r < 0 ? r : 0;
}

/* set-route to VBS-U: the CSPRNG must be seeded (a vhost-routed one never
 * was asked). */
static int rnd_vbsu_prepare(struct virtio_dev *vd, char *err, size_t errlen)
{
	return vbsu_rnd_init(err, errlen);
}

static const struct virtio_ops rnd_ops = {
	.name = "virtio-rnd",
	.device_type = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00, /* unclassified device */
	.queue_notify = rnd_notify,
	.vbsu_prepare = rnd_vbsu_prepare,
};

struct rnd_cfg {
	bool transitional;
	bool no_packed; /* packed=off: offer the split ring only */
	struct vhost_route route;
};

static const struct virtio_vhost_params rnd_vhost = { .nrings = 1 };

static void rnd_clear_cfg(void *cfg)
{
	vhost_route_free(&((struct rnd_cfg *)cfg)->route);
}

static int rnd_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct rnd_cfg *c = cfg;
	int r = virtio_common_option(opt, &c->transitional, &c->no_packed, &c->route, err, errlen);

	return r < 0 ? r : r ? 0 : DEVEMU_UNKNOWN;
}

static int rnd_options_done(void *cfg, char *err, size_t errlen)
{
	return vhost_route_check(&((struct rnd_cfg *)cfg)->route, "virtio-rnd", NULL, err, errlen);
}

static int rnd_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		      char *err, size_t errlen)
{
	const struct rnd_cfg *cfg = cfgp;
	struct virtio_vhost *vv = NULL;
	struct virtio_rnd *r;
	int ret;

	/* vhost=auto: there is no kernel vhost for entropy, so VBS-U. */
	ret = virtio_vhost_open(&vv, &cfg->route, "virtio-rnd", &rnd_vhost, err, errlen);
	if (ret < 0)
		return ret;
	if (!vv) {
		ret = vbsu_rnd_init(err, errlen);
		if (ret)
			return ret;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		virtio_vhost_free(vv);
		return -ENOMEM;
	}
	struct virtio_dev_params p = { .ops = &rnd_ops, .nqueues = 1, .queue_max = RND_QUEUE_SIZE,
				       .transitional = cfg->transitional,
				       .packed = !cfg->no_packed };
	ret = virtio_dev_init_routed(&r->vd, ctx, &p, vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		free(r);
		return ret;
	}
	r->vd.vhost_params = &rnd_vhost;
	*out = &r->vd.pci;
	return 0;
}

static void rnd_destroy(struct pci_dev *d)
{
	struct virtio_rnd *r = (struct virtio_rnd *)to_virtio_dev(d);

	virtio_vhost_free(r->vd.vhost);
	virtio_dev_fini(&r->vd);
	free(r);
}

const struct devemu devemu_virtio_rnd = {
	.name = "virtio-rnd",
	.usage = "-s N,virtio-rnd[,vhost=user:SOCKET[,reconnect=S]][,packed=on|off][,transitional]",
	.cfg_size = sizeof(struct rnd_cfg),
	.option = rnd_option,
	.options_done = rnd_options_done,
	.clear_cfg = rnd_clear_cfg,
	.create = rnd_create,
	.destroy = rnd_destroy,
};
