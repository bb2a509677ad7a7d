/*
 * vdm_vhost_user_blk.c - vdm-vhost-user's virtio-blk: the disk vdm's own
 * virtio-blk would serve (virtio_blk.h: same options, image set-up, features
 * and config space) on the same asynchronous back-end (vbs-u/blk.c, with
 * io_uring or its threads), its rings fed by the front-end's kicks.
 *
 * One back-end for all the rings (mq=N): its request slots are shared, and
 * its completion eventfd is watched for the daemon's whole life.  Finished
 * requests go on their rings' used rings in batches, and the driver is
 * interrupted once per batch per ring (EVENT_IDX honoured).  Before a ring
 * stops, guest memory moves or the front-end leaves, every request in
 * flight is finished first: none may touch guest memory afterwards, and a
 * write the driver saw completed is in the image, which stays open for the
 * next front-end.
 */
#include "vdm_vhost_user.h"
#include "virtio_blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/virtio_blk.h>

_Static_assert(sizeof(struct virtio_blk_config) <= sizeof(((struct vvu_daemon *)0)->config),
	       "the disk's config space fits the daemon's");

struct vvu_blk {
	struct vbsu_blk be;
	const char *path;
	bool reap_watched;
};

/* The engine finished requests: on their used rings, then serve the rings
 * again (one blocked for want of slots has room now). */
static void blk_reaped(void *arg, int fd, uint32_t events)
{
	struct vvu_daemon *dm = arg;
	struct vvu_blk *b = dm->dev;

	(void)fd;
	(void)events;
	uint16_t used_before[VHOST_MAX_RINGS];

	for (unsigned i = 0; i < dm->nrings; i++)
		used_before[i] = dm->rings[i].vq.used_idx;
	vbsu_blk_reap(&b->be);
	for (unsigned i = 0; i < dm->nrings; i++) {
		struct vvu_ring *r = &dm->rings[i];

		if (!r->running)
			continue;
		vvu_ring_completed(r);
		/* A driver that just got completions posts again soon: look at
		 * the ring often, as if nothing were in flight. */
		r->busy = b->be.inflight > 0 && r->vq.used_idx == used_before[i];
		vvu_ring_completions_sent(r);
		if (!r->running)
			continue;
		if (r->blocked || vq_has_work(&r->vq)) {
			r->blocked = false;
			vvu_ring_serve(r);
		}
	}
}

static int blk_check(const void *cfg, char *err, size_t errlen)
{
	unsigned nq = vblk_queues(cfg);
	int ret = vblk_check_standalone(cfg, err, errlen);

	if (!ret && nq > VHOST_MAX_RINGS) {
		snprintf(err, errlen, "virtio-blk: mq=%u: vdm-vhost-user serves at most %d queues", nq,
			 VHOST_MAX_RINGS);
		ret = -EINVAL;
	}
	return ret;
}

static int blk_open(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen)
{
	unsigned nq = vblk_queues(cfg);
	struct vvu_blk *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	ret = vblk_open_image(cfg, &b->be, err, errlen);
	if (ret) {
		free(b);
		return ret;
	}
	b->path = vblk_image_path(cfg);
	dm->dev = b;
	if (vblk_poll(cfg).mode != VIRTIO_POLL_UNSET)
		dm->poll = vblk_poll(cfg);
	dm->nrings = nq;
	dm->features = vvu_ring_features() | vblk_features(&b->be, nq);
	vblk_fill_config((struct virtio_blk_config *)dm->config, &b->be, nq);
	dm->config_len = sizeof(struct virtio_blk_config);
	ret = evloop_add_fd(dm->loop, vbsu_blk_event_fd(&b->be), EPOLLIN, blk_reaped, dm);
	if (ret) {
		snprintf(err, errlen, "cannot watch the disk's completions: %s", strerror(-ret));
		return ret;
	}
	b->reap_watched = true;
	log_info("virtio-blk: %s, %llu sectors%s, %u-byte blocks%s%s, %u queue%s, I/O on %s",
		 b->path, (unsigned long long)b->be.capacity, b->be.read_only ? ", read-only" : "",
		 b->be.sector_size, b->be.can_discard ? ", discard" : "",
		 b->be.can_write_zeroes ? ", write-zeroes" : "", nq, nq == 1 ? "" : "s",
		 vbsu_blk_engine(&b->be));
	return 0;
}

static int blk_process(struct vvu_daemon *dm, struct vvu_ring *r, int budget)
{
	struct vvu_blk *b = dm->dev;
	int n = vbsu_blk_process(&b->be, &r->vq, budget);

	r->blocked = b->be.out_of_slots;
	r->busy = b->be.inflight > 0;
	return n;
}

static void blk_quiesce(struct vvu_daemon *dm)
{
	struct vvu_blk *b = dm->dev;

	if (!b->be.inflight)
		return;
	vbsu_blk_drain(&b->be);
	for (unsigned i = 0; i < dm->nrings; i++)
		if (dm->rings[i].running)
			vvu_ring_completed(&dm->rings[i]);
}

static void blk_close(struct vvu_daemon *dm)
{
	struct vvu_blk *b = dm->dev;

	if (!b)
		return;
	if (b->reap_watched)
		evloop_del_fd(dm->loop, vbsu_blk_event_fd(&b->be));
	vbsu_blk_drain(&b->be);
	uint64_t hits = 0, misses = 0;

	for (unsigned i = 0; i < dm->nrings; i++) {
		hits += dm->rings[i].holdoff.hits;
		misses += dm->rings[i].holdoff.misses;
	}
	log_info("virtio-blk: %s: %llu requests (%llu failed), %llu served at once, %llu through "
		 "%s; hold-off %llu hits / %llu misses",
		 b->path, (unsigned long long)b->be.requests, (unsigned long long)b->be.errors,
		 (unsigned long long)b->be.inline_done, (unsigned long long)b->be.submitted,
		 vbsu_blk_engine(&b->be), (unsigned long long)hits, (unsigned long long)misses);
	/* Flushes the image: completed writes survive a clean stop. */
	vbsu_blk_close(&b->be);
	free(b);
	dm->dev = NULL;
}

const struct vvu_emul vvu_emul_blk = {
	.name = "virtio-blk",
	.takes_options = true,
	.check = blk_check,
	.open = blk_open,
	.process = blk_process,
	.quiesce = blk_quiesce,
	.close = blk_close,
};
