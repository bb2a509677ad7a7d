/*
 * virtio_blk.c - `-s N,virtio-blk,PATH[,ro][,sectorsize=512|4096][,serial=ID][,transitional]`
 * or `-s N,virtio-blk,vhost=user:SOCKET[,reconnect=S][,transitional]`: the
 * block device (virtio 1.2, 5.2): option parsing, features and config
 * space.  Requests are served by the VBS-U back-end in vbs-u/blk.c, or by a
 * vhost-user-blk back-end (virtio_vhost.c), which then also owns the disk's
 * geometry: config space comes from it (GET_CONFIG) and the features it
 * offers shape ours.
 */
#include "virtio_blk.h"
#include "devemu.h"
#include "iothread.h"
#include "virtio.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#define BLK_QUEUE_SIZE 256
/* Buffers per request taken; the guest is told fewer, and limits no larger
 * than a vhost-user-blk back-end's (QEMU's: 126 buffers, one 16 MiB discard
 * or write-zeroes segment), so that the device can move to one live. */
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)
#define BLK_SEG_MAX_TOLD 126
#define BLK_MAX_DWZ_SECTORS 32768
#define BLK_MAX_DWZ_SEG_TOLD 1
/* Requests per pass; the transport makes a few passes per kick, then lets
 * the other devices have the event loop (tests/sim/test_fairness.c). */
#define BLK_BUDGET 64
/* mq=N: at most this many request queues. */
#define BLK_MAX_QUEUES 16

/* What a vhost-user-blk back-end may offer that we pass on to the guest:
 * single-queue block features (no MQ: the device has one queue). */
#define BLK_VHOST_FEATURES                                                                         \
	((1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |                         \
	 (1ULL << VIRTIO_BLK_F_GEOMETRY) | (1ULL << VIRTIO_BLK_F_RO) |                             \
	 (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |                          \
	 (1ULL << VIRTIO_BLK_F_TOPOLOGY) | (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |                     \
	 (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES))

struct blk_cfg {
	char *path;
	bool read_only;
	uint32_t sector_size, phys_sector_size;
	bool discard_asked;
	uint32_t discard_max_sectors, discard_max_seg, discard_align;
	char *serial;
	enum vbsu_blk_cache cache;
	enum vbsu_blk_aio aio;
	struct virtio_poll poll;
	unsigned mq;      /* request queues (VIRTIO_BLK_F_MQ when more than one) */
	bool iothread;    /* the queues run on a thread of the device's own */
	bool no_lock;     /* locking=off: share the image with other writers */
	bool image_opts; /* an option about the image was given */
	bool transitional;
	bool no_packed;   /* packed=off: offer the split ring only */
	struct vhost_route route;
};

struct virtio_blk {
	struct virtio_dev vd; /* first */
	struct vbsu_blk be;   /* VBS-U only */
	bool reap_watched;    /* be's completion eventfd is on the loop */
	struct iothread io;   /* iothread: its loop serves the queues */
	struct virtio_vhost_params vparams; /* a vhost route: one ring per queue */
	struct virtio_blk_config config;
	const struct blk_cfg *cfg;
};

static const struct virtio_vhost_params blk_vhost = { .nrings = 1 };

static void blk_clear_cfg(void *cfg)
{
	struct blk_cfg *c = cfg;

	free(c->path);
	free(c->serial);
	vhost_route_free(&c->route);
}

static int blk_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct blk_cfg *c = cfg;
	int r = virtio_common_option(opt, &c->transitional, &c->no_packed, &c->route, err, errlen);

	if (r)
		return r < 0 ? r : 0;
	c->image_opts = true; /* every option below is about VBS-U serving an image */
	r = virtio_poll_option(opt, &c->poll, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	if (!strcmp(opt, "ro")) {
		c->read_only = true;
	} else if (!strcmp(opt, "locking=off") || !strcmp(opt, "locking=on")) {
		c->no_lock = !strcmp(opt, "locking=off");
	} else if (!strncmp(opt, "sectorsize=", 11)) {
		/* LOGICAL[/PHYSICAL], as acrn-dm takes it. */
		char *end;
		unsigned long l = strtoul(opt + 11, &end, 10), ph = l;

		if (*end == '/')
			ph = strtoul(end + 1, &end, 10);
		if ((l != 512 && l != 4096) || *end || opt[11] == '-' || ph < l || ph > 65536 ||
		    (ph & (ph - 1))) {
			snprintf(err, errlen,
				 "sectorsize must be 512 or 4096, optionally /PHYSICAL (a power of two "
				 "up to 65536, not smaller), not '%s'",
				 opt + 11);
			return -EINVAL;
		}
		c->sector_size = (uint32_t)l;
		c->phys_sector_size = (uint32_t)ph;
	} else if (!strcmp(opt, "discard")) {
		/* acrn-dm's switch; vdm offers DISCARD wherever the image's
		 * file system punches holes. */
		c->discard_asked = true;
	} else if (!strncmp(opt, "discard=", 8)) {
		unsigned long v[3];
		const char *p = opt + 8;
		char *end;

		for (int i = 0; i < 3; i++) {
			v[i] = strtoul(p, &end, 10);
			if (end == p || *p == '-' || *end != (i < 2 ? ':' : '\0'))
				goto bad_discard;
			p = end + 1;
		}
		if (v[0] < 1 || v[0] > BLK_MAX_DWZ_SECTORS || v[1] < 1 ||
		    v[1] > VBSU_BLK_MAX_DWZ_SEG || v[2] < 1 || v[2] > v[0]) {
bad_discard:
			snprintf(err, errlen,
				 "discard=MAX_SECTORS:MAX_SEGMENTS:ALIGNMENT wants 1..%d, 1..%d and "
				 "1..MAX_SECTORS, not '%s'",
				 BLK_MAX_DWZ_SECTORS, VBSU_BLK_MAX_DWZ_SEG, opt + 8);
			return -EINVAL;
		}
		c->discard_asked = true;
		c->discard_max_sectors = (uint32_t)v[0];
		c->discard_max_seg = (uint32_t)v[1];
		c->discard_align = (uint32_t)v[2];
	} else if (!strcmp(opt, "writeback")) {
		c->cache = VBSU_BLK_WRITEBACK;
	} else if (!strcmp(opt, "writethru")) {
		c->cache = VBSU_BLK_WRITETHRU;
	} else if (!strcmp(opt, "nocache")) {
		c->cache = VBSU_BLK_NOCACHE;
	} else if (!strcmp(opt, "iothread")) {
		c->iothread = true;
	} else if (!strncmp(opt, "mq=", 3)) {
		char *end;
		unsigned long n = strtoul(opt + 3, &end, 10);

		if (!opt[3] || *end || n < 1 || n > BLK_MAX_QUEUES) {
			snprintf(err, errlen, "mq must be a number of queues 1..%d, not '%s'",
				 BLK_MAX_QUEUES, opt + 3);
			return -EINVAL;
		}
		c->mq = (unsigned)n;
	} else if (!strncmp(opt, "aio=", 4)) {
		if (!strcmp(opt + 4, "io_uring"))
			c->aio = VBSU_BLK_AIO_IO_URING;
		else if (!strcmp(opt + 4, "threads"))
			c->aio = VBSU_BLK_AIO_THREADS;
		else if (!strcmp(opt + 4, "auto"))
			c->aio = VBSU_BLK_AIO_AUTO;
		else {
			snprintf(err, errlen, "aio must be io_uring, threads or auto, not '%s'",
				 opt + 4);
			return -EINVAL;
		}
	} else if (!strncmp(opt, "serial=", 7)) {
		if (strlen(opt + 7) > 20) {
			snprintf(err, errlen, "serial '%s' is longer than 20 bytes", opt + 7);
			return -EINVAL;
		}
		free(c->serial);
		c->serial = strdup(opt + 7);
		if (!c->serial)
			return -ENOMEM;
	} else if (!c->path && !strchr(opt, '=')) { /* the first plain word is the image */
		c->path = strdup(opt);
		if (!c->path)
			return -ENOMEM;
	} else {
		return DEVEMU_UNKNOWN;
	}
	return 0;
}

static int blk_options_done(void *cfg, char *err, size_t errlen)
{
	struct blk_cfg *c = cfg;

	if (vhost_route_check(&c->route, "virtio-blk", NULL, err, errlen))
		return -EINVAL;
	if (c->route.kind == VHOST_ROUTE_USER && c->image_opts) {
		snprintf(err, errlen, "with vhost=user the back-end owns the disk: give no image "
				      "or image options (ro, sectorsize, serial, cache, aio, poll, mq, iothread)");
		return -EINVAL;
	}
	if (c->route.kind == VHOST_ROUTE_AUTO) /* no kernel vhost-blk: always VBS-U */
		c->route.kind = VHOST_ROUTE_NONE;
	if (c->route.kind == VHOST_ROUTE_NONE && !c->path) {
		snprintf(err, errlen, "virtio-blk needs an image path or vhost=user:SOCKET");
		return -EINVAL;
	}
	if (!c->sector_size)
		c->sector_size = 512;
	if (!c->mq)
		c->mq = 1;
	return 0;
}

static int blk_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	struct virtio_blk *b = (struct virtio_blk *)vd;
	int r = vbsu_blk_process(&b->be, &q->vq, BLK_BUDGET);

	if (r > 0)
		virtio_queue_done(q); /* what completed at once (page-cache hits) */
	/* Every request slot in flight: wait for completions, not for kicks. */
	q->host_blocked = b->be.out_of_slots;
	q->device_busy = b->be.inflight > 0;
	return r < 0 ? r : 0;
}

/* The I/O engine finished requests: complete them, then look at the rings
 * again (kicks may be held off, and a full set of slots has room now).  The
 * slots are shared by every queue, so any queue may have completions. */
static void blk_reaped(void *arg, int fd, uint32_t events)
{
	struct virtio_blk *b = arg;

	uint16_t used_before[BLK_MAX_QUEUES];

	pci_dev_lock(&b->vd.pci);
	for (int i = 0; i < b->vd.nqueues; i++)
		used_before[i] = b->vd.queues[i].vq.used_idx;
	vbsu_blk_reap(&b->be);
	for (int i = 0; i < b->vd.nqueues; i++) {
		struct virtio_queue *q = &b->vd.queues[i];

		virtio_queue_done(q); /* quiet when nothing of q's completed */
		/* A driver that just got completions posts again soon: look at
		 * the ring often, as if nothing were in flight. */
		q->device_busy = b->be.inflight > 0 && q->vq.used_idx == used_before[i];
		virtio_queue_completions_sent(q);
		if (q->host_blocked || (q->enabled && vq_has_work(&q->vq))) {
			q->host_blocked = false;
			virtio_queue_serve(q);
		}
	}
	pci_dev_unlock(&b->vd.pci);
}

/* Device reset: requests in flight finish before the ring is forgotten. */
static void blk_quiesce(struct virtio_dev *vd)
{
	struct virtio_blk *b = (struct virtio_blk *)vd;

	if (!vd->vhost)
		vbsu_blk_drain(&b->be);
}

/* vhost-user: the driver toggled the write cache (5.2.6.1): tell the back-end. */
static void blk_cfg_write(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val)
{
	struct virtio_blk *b = (struct virtio_blk *)vd;
	unsigned wce = offsetof(struct virtio_blk_config, wce);
	struct vhost_dev *dev = virtio_vhost_dev(vd->vhost);

	if (off != wce || size != 1 || !virtio_has_feature(vd, VIRTIO_BLK_F_CONFIG_WCE) || !dev)
		return;
	b->config.wce = (uint8_t)val;
	if (vhost_dev_set_config(dev, wce, &b->config.wce, 1))
		log_warn("virtio-blk: %s", vhost_dev_error(dev));
}

/* set-route to VBS-U: only a disk vdm opened an image for can take it. */
static int blk_vbsu_prepare(struct virtio_dev *vd, char *err, size_t errlen)
{
	struct virtio_blk *b = (struct virtio_blk *)vd;

	if (!b->be.aio) {
		snprintf(err, errlen, "virtio-blk was started on vhost=user with no image for VBS-U");
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * set-route to a vhost-user-blk back-end: the guest keeps the config space
 * it read from vdm, so the back-end must serve the same disk (capacity,
 * block size, writable if the guest writes) and take requests as large as
 * vdm said it could.
 */
static int blk_route_check(struct virtio_dev *vd, struct vhost_dev *dev, char *err,
			   size_t errlen)
{
	struct virtio_blk *b = (struct virtio_blk *)vd;
	struct virtio_blk_config theirs = { 0 };
	const struct virtio_blk_config *ours = &b->config;

	if (!vhost_dev_has_config(dev) ||
	    vhost_dev_get_config(dev, 0, &theirs,
				 offsetof(struct virtio_blk_config, max_secure_erase_sectors))) {
		snprintf(err, errlen, "the back-end does not tell its disk's geometry (CONFIG)");
		return -EOPNOTSUPP;
	}
	/* Both little-endian, as config space is (virtio.h). */
	if (theirs.capacity != ours->capacity) {
		snprintf(err, errlen, "the back-end's disk has %llu sectors, the guest's %llu",
			 (unsigned long long)le64toh(theirs.capacity),
			 (unsigned long long)le64toh(ours->capacity));
		return -EINVAL;
	}
	if ((vhost_dev_features(dev) >> VIRTIO_BLK_F_BLK_SIZE & 1) &&
	    theirs.blk_size != ours->blk_size) {
		snprintf(err, errlen, "the back-end's blocks are %u bytes, the guest's %u",
			 le32toh(theirs.blk_size), le32toh(ours->blk_size));
		return -EINVAL;
	}
	if ((vhost_dev_features(dev) >> VIRTIO_BLK_F_RO & 1) &&
	    !virtio_has_feature(vd, VIRTIO_BLK_F_RO)) {
		snprintf(err, errlen, "the back-end's disk is read-only and the guest writes");
		return -EROFS;
	}
	if ((vhost_dev_features(dev) >> VIRTIO_BLK_F_SEG_MAX & 1) &&
	    le32toh(theirs.seg_max) < le32toh(ours->seg_max)) {
		snprintf(err, errlen, "the back-end takes %u buffers per request, the guest was "
				      "told %u", le32toh(theirs.seg_max), le32toh(ours->seg_max));
		return -EINVAL;
	}
	if (virtio_has_feature(vd, VIRTIO_BLK_F_DISCARD) &&
	    (le32toh(theirs.max_discard_sectors) < le32toh(ours->max_discard_sectors) ||
	     le32toh(theirs.max_discard_seg) < le32toh(ours->max_discard_seg))) {
		snprintf(err, errlen, "the back-end discards less per request than the guest was "
				      "told");
		return -EINVAL;
	}
	if (virtio_has_feature(vd, VIRTIO_BLK_F_WRITE_ZEROES) &&
	    (le32toh(theirs.max_write_zeroes_sectors) < le32toh(ours->max_write_zeroes_sectors) ||
	     le32toh(theirs.max_write_zeroes_seg) < le32toh(ours->max_write_zeroes_seg))) {
		snprintf(err, errlen, "the back-end zeroes less per request than the guest was "
				      "told");
		return -EINVAL;
	}
	return 0;
}

static const struct virtio_ops blk_ops = {
	.name = "virtio-blk",
	.device_type = VIRTIO_ID_BLOCK,
	.pci_class = 0x010000, /* mass storage, SCSI: what virtio-blk has always used */
	.queue_notify = blk_notify,
	.quiesce = blk_quiesce,
	.vbsu_prepare = blk_vbsu_prepare,
	.route_check = blk_route_check,
	.cfg_write = blk_cfg_write,
};

uint64_t vblk_features(const struct vbsu_blk *be, unsigned nqueues)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH);

	if (be->read_only)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (be->can_discard)
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (be->can_write_zeroes)
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	if (nqueues > 1)
		f |= 1ULL << VIRTIO_BLK_F_MQ;
	return f;
}

void vblk_fill_config(struct virtio_blk_config *c, const struct vbsu_blk *be, unsigned nqueues)
{
	uint32_t align = be->sector_size >> 9;

	/* Little-endian, as every device's config space (virtio.h). */
	memset(c, 0, sizeof(*c));
	c->capacity = htole64(be->capacity);
	c->seg_max = htole32(BLK_SEG_MAX_TOLD);
	c->blk_size = htole32(be->sector_size);
	c->max_discard_sectors = htole32(be->discard_max_seg ? be->discard_max_sectors
							      : BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = htole32(be->discard_max_seg ? be->discard_max_seg
							 : BLK_MAX_DWZ_SEG_TOLD);
	c->discard_sector_alignment = htole32(be->discard_max_seg ? be->discard_align : align);
	/* The topology: physical blocks of 2^exp logical ones. */
	for (uint32_t ph = be->phys_sector_size; ph > be->sector_size; ph >>= 1)
		c->physical_block_exp++;
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_MAX_DWZ_SEG_TOLD);
	c->write_zeroes_may_unmap = be->can_discard;
	c->num_queues = htole16((uint16_t)nqueues);
}

unsigned vblk_queues(const void *cfgp)
{
	return ((const struct blk_cfg *)cfgp)->mq;
}

struct virtio_poll vblk_poll(const void *cfgp)
{
	return ((const struct blk_cfg *)cfgp)->poll;
}

const char *vblk_image_path(const void *cfgp)
{
	return ((const struct blk_cfg *)cfgp)->path;
}

int vblk_check_standalone(const void *cfgp, char *err, size_t errlen)
{
	const struct blk_cfg *cfg = cfgp;
	const char *what = cfg->route.given || cfg->route.reconnect_s
				   ? "vhost= and reconnect= choose vdm's route"
			   : cfg->transitional ? "transitional is the front-end's PCI function"
			   : cfg->iothread ? "iothread: vdm-vhost-user serves its disk on a thread of "
					     "its own already (the daemon's)"
								  : NULL;

	if (!what)
		return 0;
	snprintf(err, errlen, "virtio-blk: %s", what);
	return -EINVAL;
}

int vblk_open_image(const void *cfgp, struct vbsu_blk *be, char *err, size_t errlen)
{
	const struct blk_cfg *cfg = cfgp;
	struct vbsu_blk_params bp = {
		.path = cfg->path,
		.read_only = cfg->read_only,
		.sector_size = cfg->sector_size,
		.serial = cfg->serial,
		.max_segs = BLK_SEG_MAX,
		.queue_size = BLK_QUEUE_SIZE * cfg->mq, /* slots shared by the queues */
		.cache = cfg->cache,
		.aio = cfg->aio,
		.lock = !cfg->no_lock,
		.phys_sector_size = cfg->phys_sector_size,
		.discard_max_sectors = cfg->discard_max_sectors,
		.discard_max_seg = cfg->discard_max_seg,
		.discard_align = cfg->discard_align,
	};

	return vbsu_blk_open(be, &bp, err, errlen);
}

/* A disk served by a vhost-user-blk back-end: its config and features. */
static int blk_create_vhost(const struct devemu_ctx *ctx, struct virtio_blk *b, char *err,
			    size_t errlen)
{
	const struct blk_cfg *cfg = b->cfg;
	struct virtio_vhost *vv;
	struct vhost_dev *dev;
	int ret = virtio_vhost_open(&vv, &cfg->route, "virtio-blk", &blk_vhost, err, errlen);

	if (ret < 0)
		return ret;
	dev = virtio_vhost_dev(vv);
	if (!vhost_dev_has_config(dev)) {
		snprintf(err, errlen, "vhost-user back-end %s does not serve config space (CONFIG)",
			 cfg->route.path);
		virtio_vhost_free(vv);
		return -EOPNOTSUPP;
	}
	/* Back-ends built against older headers know a shorter config: ask for
	 * less until one answers (the fields not read stay zero). */
	static const uint32_t sizes[] = {
		sizeof(b->config),
		offsetof(struct virtio_blk_config, max_secure_erase_sectors),
		offsetof(struct virtio_blk_config, max_discard_sectors),
	};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ret = vhost_dev_get_config(dev, 0, &b->config, sizes[i]);
		if (ret != -EIO) /* -EIO: refused; anything else is final */
			break;
	}
	if (ret) {
		snprintf(err, errlen, "%s", vhost_dev_error(dev));
		virtio_vhost_free(vv);
		return ret;
	}
	struct virtio_dev_params p = {
		.ops = &blk_ops,
		.nqueues = 1,
		.queue_max = BLK_QUEUE_SIZE,
		.features = virtio_vhost_features(vv) & BLK_VHOST_FEATURES,
		.config = &b->config,
		.config_size = sizeof(b->config),
		.transitional = cfg->transitional,
		.packed = !cfg->no_packed,
	};
	ret = virtio_dev_init_routed(&b->vd, ctx, &p, vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		return ret;
	}
	b->vd.vhost_params = &blk_vhost;
	log_info("virtio-blk: vhost-user %s, %llu sectors%s", cfg->route.path,
		 (unsigned long long)le64toh(b->config.capacity),
		 b->vd.host_features >> VIRTIO_BLK_F_RO & 1 ? ", read-only" : "");
	return 0;
}

static int blk_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		      char *err, size_t errlen)
{
	const struct blk_cfg *cfg = cfgp;
	struct virtio_blk *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	if (cfg->route.kind != VHOST_ROUTE_NONE) {
		ret = blk_create_vhost(ctx, b, err, errlen);
		if (ret) {
			free(b);
			return ret;
		}
		*out = &b->vd.pci;
		return 0;
	}
	if (cfg->iothread && ctx->caps.ram_remaps) {
		snprintf(err, errlen, "iothread: not with this HSM back-end, which can map guest RAM "
				      "anew under a running queue");
		free(b);
		return -EOPNOTSUPP;
	}
	ret = vblk_open_image(cfg, &b->be, err, errlen);
	if (ret) {
		free(b);
		return ret;
	}
	if (cfg->iothread) {
		char name[16];

		snprintf(name, sizeof(name), "vdm-blk-%02x.%d", ctx->slot, ctx->func);
		ret = iothread_create(&b->io, name);
		if (ret) {
			snprintf(err, errlen, "cannot create the I/O thread: %s", strerror(-ret));
			vbsu_blk_close(&b->be);
			free(b);
			return ret;
		}
	}
	vblk_fill_config(&b->config, &b->be, cfg->mq);
	struct virtio_dev_params p = {
		.ops = &blk_ops,
		.nqueues = (int)cfg->mq,
		.queue_max = BLK_QUEUE_SIZE,
		.features = vblk_features(&b->be, cfg->mq),
		.config = &b->config,
		.config_size = sizeof(b->config),
		.transitional = cfg->transitional,
		.packed = !cfg->no_packed,
		.poll = cfg->poll,
		.loop = b->io.loop, /* NULL without iothread: vdm's */
	};
	ret = virtio_dev_init(&b->vd, ctx, &p);
	if (!ret) {
		ret = evloop_add_fd(b->vd.loop, vbsu_blk_event_fd(&b->be), EPOLLIN, blk_reaped, b);
		b->reap_watched = ret == 0;
		if (ret)
			virtio_dev_fini(&b->vd);
	}
	b->vparams = (struct virtio_vhost_params){ .nrings = cfg->mq };
	b->vd.vhost_params = &b->vparams;
	if (!ret && cfg->iothread) {
		b->vd.pci.lock = &b->io.lock;
		ret = iothread_start(&b->io);
		if (ret) {
			evloop_del_fd(b->vd.loop, vbsu_blk_event_fd(&b->be));
			virtio_dev_fini(&b->vd);
		}
	}
	if (ret) {
		snprintf(err, errlen, "cannot build the PCI function");
		iothread_destroy(&b->io);
		vbsu_blk_close(&b->be);
		free(b);
		return ret;
	}
	static const char *const cache_names[] = { "writeback", "writethru", "nocache" };
	if (cfg->discard_asked && !b->be.can_discard)
		log_warn("virtio-blk: %s: discard asked for, but its file system punches no holes: "
			 "DISCARD is not offered",
			 cfg->path);
	log_info("virtio-blk: %s, %llu sectors%s, %u-byte blocks%s%s, %s, I/O on %s%s", cfg->path,
		 (unsigned long long)b->be.capacity, cfg->read_only ? ", read-only" : "",
		 cfg->sector_size, b->be.can_discard ? ", discard" : "",
		 b->be.can_write_zeroes ? ", write-zeroes" : "", cache_names[cfg->cache],
		 vbsu_blk_engine(&b->be), cfg->iothread ? ", queues on an I/O thread" : "");
	*out = &b->vd.pci;
	return 0;
}

static void blk_destroy(struct pci_dev *d)
{
	struct virtio_blk *b = (struct virtio_blk *)to_virtio_dev(d);
	bool vhost = b->vd.vhost != NULL;

	/* The I/O thread stops first: from here on only this thread runs. */
	iothread_stop(&b->io);
	b->vd.pci.lock = NULL;
	virtio_vhost_free(b->vd.vhost);
	if (!vhost) {
		vbsu_blk_drain(&b->be);
		struct virtio_queue_stats t = { 0 };
		uint64_t hits = 0, misses = 0;

		for (int i = 0; i < b->vd.nqueues; i++) {
			t.kicks += b->vd.queues[i].stats.kicks;
			t.interrupts += b->vd.queues[i].stats.interrupts;
			hits += b->vd.queues[i].holdoff.hits;
			misses += b->vd.queues[i].holdoff.misses;
		}
		log_info("virtio-blk: %s: %llu requests (%llu failed), %llu served at once, "
			 "%llu through %s (mean depth %.1f); %llu kicks, %llu interrupts, hold-off %llu hits / "
			 "%llu misses",
			 b->cfg->path, (unsigned long long)b->be.requests,
			 (unsigned long long)b->be.errors, (unsigned long long)b->be.inline_done,
			 (unsigned long long)b->be.submitted, vbsu_blk_engine(&b->be),
			 b->be.submitted ? (double)b->be.depth_sum / (double)b->be.submitted : 0.0,
			 (unsigned long long)t.kicks, (unsigned long long)t.interrupts,
			 (unsigned long long)hits, (unsigned long long)misses);
	}
	if (b->reap_watched)
		evloop_del_fd(b->vd.loop, vbsu_blk_event_fd(&b->be));
	virtio_dev_fini(&b->vd);
	iothread_destroy(&b->io); /* its loop outlived the queues' watches */
	/* Flushes the image: completed writes survive a clean stop. */
	if (!vhost)
		vbsu_blk_close(&b->be);
	free(b);
}

const struct devemu devemu_virtio_blk = {
	.name = "virtio-blk",
	.usage = "-s N,virtio-blk,PATH[,ro][,sectorsize=512|4096[/PHYS]][,discard[=S:G:A]][,serial=ID]"
		 "[,writeback|writethru|nocache][,aio=io_uring|threads][,poll=off|auto|USECS][,mq=N]"
		 "[,iothread][,locking=off]"
		 "[,packed=on|off][,transitional] | "
		 "-s N,virtio-blk,vhost=user:SOCKET[,reconnect=S][,packed=on|off][,transitional]",
	.cfg_size = sizeof(struct blk_cfg),
	.option = blk_option,
	.options_done = blk_options_done,
	.clear_cfg = blk_clear_cfg,
	.create = blk_create,
	.destroy = blk_destroy,
};
