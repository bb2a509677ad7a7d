/*
 * virtio_rnd.c - `-s N,virtio-rnd`: the entropy device (virtio 1.2, 5.4).
 * One request queue, no features, no config; requests are served by the
 * VBS-U back-end in vbs-u/rnd.c from OpenSSL's CSPRNG.
 */
#include "vdm.h"
#include "virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_ids.h>

#define RND_QUEUE_SIZE 64

struct virtio_rnd {
	struct virtio_dev vd; /* first */
};

static void rnd_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	if (vbsu_rnd_process(&q->vq) >= 0)
		virtio_queue_done(q);
}

static const struct virtio_ops rnd_ops = {
	.name = "virtio-rnd",
	.device_type = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00, /* unclassified device */
	.queue_notify = rnd_notify,
};

struct rnd_cfg {
	bool transitional;
};

static int rnd_parse(const char *opts, void **out, char *err, size_t errlen)
{
	struct rnd_cfg *c = calloc(1, sizeof(*c));
	char *copy = opts ? strdup(opts) : NULL;
	char *save = NULL;
	int ret = 0;

	if (!c || (opts && !copy)) {
		free(c);
		free(copy);
		return -ENOMEM;
	}
	for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!virtio_parse_common_opt(tok, &c->transitional)) {
			snprintf(err, errlen, "unknown virtio-rnd option '%s'", tok);
			ret = -EINVAL;
		}
	}
	free(copy);
	if (ret)
		free(c);
	else
		*out = c;
	return ret;
}

static int rnd_create(struct vdm *vdm, void *cfgp, struct pci_dev **out, char *err, size_t errlen)
{
	const struct rnd_cfg *cfg = cfgp;
	struct virtio_rnd *r;
	int ret;

	ret = vbsu_rnd_init(err, errlen);
	if (ret)
		return ret;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	struct virtio_dev_params p = { .ops = &rnd_ops, .nqueues = 1, .queue_max = RND_QUEUE_SIZE,
				       .transitional = cfg->transitional };
	ret = virtio_dev_init(&r->vd, vdm, &p);
	if (ret) {
		snprintf(err, errlen, "cannot build the PCI function");
		free(r);
		return ret;
	}
	*out = &r->vd.pci;
	return 0;
}

static void rnd_destroy(struct pci_dev *d)
{
	struct virtio_rnd *r = (struct virtio_rnd *)to_virtio_dev(d);

	virtio_dev_fini(&r->vd);
	free(r);
}

const struct devemu devemu_virtio_rnd = {
	.name = "virtio-rnd",
	.usage = "-s N,virtio-rnd[,transitional]",
	.parse = rnd_parse,
	.free_cfg = free,
	.create = rnd_create,
	.destroy = rnd_destroy,
};
