/*
 * virtio_route.c - moving a running device's data plane between VBS-U and
 * a vhost back-end while the guest keeps its rings, features and status
 * (the management API's set-route).
 *
 * The new owner is connected and checked first (features the guest uses,
 * the device's own limits), so most refusals leave the device untouched.
 * Then the old owner is quiesced: VBS-U finishes every request in flight; a
 * vhost back-end is stopped with GET_VRING_BASE (the next avail index of
 * each ring), and vdm waits, bounded, for its used ring to catch up with
 * that index, since a back-end may still be completing requests it took.
 * With nothing in flight the used index equals the next avail index, and
 * that pair is all the new owner needs.  If the new owner fails to start,
 * the old one takes the rings back from where they are; only when neither
 * can serve does the device go to DEVICE_NEEDS_RESET.
 *
 * Packed rings (virtio 1.2, 2.8) carry positions instead: an index with
 * its wrap counter in bit 15, which is what vhost's SET/GET_VRING_BASE
 * hold for them.  A packed ring has no used index in guest memory, so
 * while a vhost back-end settles vdm watches the descriptor ring itself
 * (used descriptors are written there) stand still, and takes the
 * back-end's next avail position as the used one: the back-end must have
 * finished what it took by then, as QEMU also assumes for packed rings.
 *
 * Back-ends that die: a vhost-user back-end answers nothing without
 * REPLY_ACK, so the new one serves only once it answered a request sent
 * after those that started it.  One that dies on the way has taken nothing
 * the used rings show (the old owner goes on) or everything (from there);
 * anything between is unrecoverable.  An old one that dies while stopped
 * gives no ring bases: if its used rings caught up with the driver it held
 * nothing and the switch goes on, otherwise its requests are lost and the
 * device needs a reset, after which the new route serves it.
 *
 * An old vhost-user back-end that tracks its requests in flight
 * (INFLIGHT_SHMFD, split rings) is drained exactly: after GET_VRING_BASE
 * its region says which requests it still holds, and vdm waits (bounded)
 * for those.  If it dies during a switch to VBS-U, the region says which
 * requests it held: VBS-U takes them over and runs them again (a block
 * read or write done twice leaves the disk as once) instead of the device
 * needing a reset.  The log says which way each switch went.
 */
#include "events.h"
#include "virtio_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_config.h>

/* How long a stopped vhost back-end may take to finish what it took. */
#define DRAIN_TIMEOUT_MS 5000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stop serving VBS-U rings: no timers, nothing in flight, completions told. */
static void vbsu_quiesce(struct virtio_dev *vd, unsigned nrings, uint16_t *base)
{
	if (vd->ops->quiesce)
		vd->ops->quiesce(vd);
	for (unsigned i = 0; i < nrings; i++) {
		struct virtio_queue *q = &vd->queues[i];

		virtio_queue_pacing_reset(q);
		q->host_blocked = false;
		base[i] = q->vq.last_avail;
		if (q->enabled)
			virtio_queue_done(q);
	}
}

/* VBS-U takes the rings at base (split: the used rings say where they are;
 * packed: the old owner finished everything, so used is where avail is). */
static void vbsu_resume(struct virtio_dev *vd, unsigned nrings, const uint16_t *base)
{
	for (unsigned i = 0; i < nrings; i++) {
		struct virtio_queue *q = &vd->queues[i];

		if (!q->enabled)
			continue;
		vq_set_indexes(&q->vq, base[i], q->vq.packed ? base[i] : vq_used_idx_in_ring(&q->vq));
		/* Completions the back-end made while stopping had no call fd
		 * left: one interrupt covers them (a spare one is harmless). */
		if (virtio_dev_running(vd))
			virtio_queue_interrupt(q);
		virtio_queue_serve(q); /* what the guest posted meanwhile */
	}
}

/* How long the used rings must stand still before a vhost back-end whose
 * kicks were cut is taken to have finished what it took. */
#define QUIET_MS 30

/*
 * What a settling back-end changes in q's ring: the used index (split), or
 * for a packed ring, which holds none, a digest of its descriptors' ids,
 * lengths and flags, where used descriptors are written (2.8.4).
 */
static uint32_t ring_progress(const struct virtio_queue *q)
{
	const volatile uint8_t *ring;
	uint32_t h = 2166136261u; /* FNV-1a */

	if (!q->vq.packed)
		return vq_used_idx_in_ring(&q->vq);
	ring = (const volatile uint8_t *)q->vq.pdesc;
	/* Bytes 8-15 of each 16-byte descriptor: len, id, flags. */
	for (size_t i = 0; i < (size_t)q->vq.size * 16; i += 16)
		for (size_t b = 8; b < 16; b++)
			h = (h ^ ring[i + b]) * 16777619u;
	return h;
}

/*
 * A running vhost back-end hears no more kicks (its kick fds are no longer
 * the queues'), then has time to finish the requests it took: the used
 * rings must stand still for QUIET_MS.  Only then is it asked for its
 * ring bases: some back-ends (libvhost-user's) drop their call fds there
 * and cannot signal a completion that comes after.  old_kick[] gets the
 * fds to close once the back-end is gone.  Without wait (a back-end that
 * completes what it took before it answers GET_VRING_BASE) only the kicks
 * are cut.
 */
static void vhost_settle(struct virtio_dev *vd, unsigned nrings, int *old_kick, bool wait)
{
	uint32_t seen[VHOST_MAX_RINGS];
	int64_t deadline = now_ms() + DRAIN_TIMEOUT_MS, quiet_since = now_ms();

	for (unsigned i = 0; i < nrings; i++) {
		struct virtio_queue *q = &vd->queues[i];

		old_kick[i] = q->enabled ? virtio_queue_new_kick_fd(q) : -1;
		seen[i] = q->enabled ? ring_progress(q) : 0;
	}
	while (wait && now_ms() - quiet_since < QUIET_MS && now_ms() < deadline) {
		bool all_used = true;

		for (unsigned i = 0; i < nrings; i++) {
			struct vqueue *vq = &vd->queues[i].vq;
			uint32_t u = vd->queues[i].enabled ? ring_progress(&vd->queues[i]) : 0;

			if (u != seen[i]) {
				seen[i] = u;
				quiet_since = now_ms();
			}
			/* Everything the driver posted is used: nothing can be
			 * in flight, whatever the clock says. */
			all_used &= !vd->queues[i].enabled ||
				    (!vq->packed && u == vq_avail_idx_in_ring(vq));
		}
		if (all_used)
			break;
		usleep(1000);
	}
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Requests ring i's in-flight region says the back-end holds, or -1
 * when it has no region (or one that does not add up). */
static int region_pending(const struct virtio_vhost *vv, const struct virtio_queue *q, unsigned i)
{
	size_t len;
	const void *r = virtio_vhost_inflight_ring(vv, i, &len);

	if (!r || q->vq.packed)
		return -1;
	return vq_inflight_pending(r, len, q->vq.size, vq_used_idx_in_ring(&q->vq));
}

/* Wait until each running split ring's back-end holds nothing: what its
 * in-flight region says, or else its used index reaching its base (a
 * packed ring has none to wait for: it settled in vhost_settle). */
static int vhost_drain(struct virtio_dev *vd, const struct virtio_vhost *old, unsigned nrings,
		       const uint16_t *base, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + DRAIN_TIMEOUT_MS;
	bool by_region = true;

	for (;;) {
		unsigned behind = 0;

		for (unsigned i = 0; i < nrings; i++) {
			struct virtio_queue *q = &vd->queues[i];
			int held = q->enabled ? region_pending(old, q, i) : 0;

			if (held < 0)
				by_region = false;
			if (held > 0)
				behind += (unsigned)held;
			else if (held < 0 && q->enabled && !q->vq.packed)
				behind += (uint16_t)(base[i] - vq_used_idx_in_ring(&q->vq));
		}
		if (!behind) {
			log_info("00:%02x.%d %s: the old back-end holds nothing (%s)", vd->pci.slot,
				 vd->pci.func, vd->ops->name,
				 by_region ? "its in-flight region says so"
					   : "its used rings caught up");
			return 0;
		}
		if (now_ms() > deadline) {
			snprintf(err, errlen, "the vhost back-end still holds %u request(s) after %d ms",
				 behind, DRAIN_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		usleep(200);
	}
}

/*
 * The old vhost back-end died while it was being stopped: it gave no ring
 * bases.  Where a ring's used index caught up with everything the driver
 * posted, it held nothing and the ring goes on from there; otherwise the
 * requests it took are unknown.  Returns how many it may have held.
 */
static unsigned lost_owner_bases(struct virtio_dev *vd, unsigned nrings, uint16_t *base)
{
	unsigned held = 0;

	for (unsigned i = 0; i < nrings; i++) {
		struct vqueue *vq = &vd->queues[i].vq;

		if (!vd->queues[i].enabled)
			continue;
		if (vq->packed) {
			held++; /* (no index pair says "all used" there) */
			continue;
		}
		uint16_t used = vq_used_idx_in_ring(vq), avail = vq_avail_idx_in_ring(vq);

		held += (uint16_t)(avail - used);
		base[i] = used;
	}
	return held;
}

/*
 * The old back-end died during a switch to VBS-U holding requests: if its
 * in-flight region names them on every ring, VBS-U takes them over (each
 * ring hands them out again before anything new) and base[] is where the
 * rings go on.  How many it held, or -1 (nothing changed) without a
 * usable region.
 */
static int vbsu_adopt(struct virtio_dev *vd, const struct virtio_vhost *old, unsigned nrings,
		      uint16_t *base)
{
	int total = 0;

	for (unsigned i = 0; i < nrings; i++)
		if (vd->queues[i].enabled && region_pending(old, &vd->queues[i], i) < 0)
			return -1;
	for (unsigned i = 0; i < nrings; i++) {
		struct virtio_queue *q = &vd->queues[i];
		size_t len;
		const void *r = virtio_vhost_inflight_ring(old, i, &len);
		int n;

		if (!q->enabled)
			continue;
		n = vq_inflight_adopt(&q->vq, r, len);
		if (n < 0) /* (checked above: only a lack of memory) */
			return -1;
		total += n;
		base[i] = q->vq.last_avail;
	}
	return total;
}

/* Feature bits by name, for a refusal a person can read: the transport's,
 * and the device's where it names them (else as numbers). */
static void name_features(const struct virtio_dev *vd, uint64_t f, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ 28, "INDIRECT_DESC" }, { 29, "EVENT_IDX" }, { 32, "VERSION_1" },
		{ 33, "ACCESS_PLATFORM" }, { 34, "RING_PACKED" }, { 35, "IN_ORDER" },
	};
	size_t n = 0;

	buf[0] = 0;
	for (unsigned b = 0; b < 64 && n < len; b++) {
		const char *nm = NULL;

		if (!(f >> b & 1))
			continue;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (names[i].bit == b)
				nm = names[i].name;
		if (!nm && b < 24 && vd->ops->feature_name)
			nm = vd->ops->feature_name(b);
		n += (size_t)(nm ? snprintf(buf + n, len - n, "%s%s", n ? " " : "", nm)
				 : snprintf(buf + n, len - n, "%sbit %u", n ? " " : "", b));
	}
}

/* Would vv (a route with params vp) serve what this guest uses?  0 or
 * -errno with err. */
static int check_new_owner(struct virtio_dev *vd, struct virtio_vhost *vv,
			   const struct virtio_vhost_params *vp, char *err, size_t errlen)
{
	uint64_t in_use = (vd->status & VIRTIO_CONFIG_S_FEATURES_OK) || vd->legacy_mode
				  ? vd->guest_features
				  : vd->host_features;
	uint64_t missing = in_use & ~vp->vdm_features & ~virtio_vhost_features(vv);

	if (missing) {
		char names[200];

		name_features(vd, missing, names, sizeof(names));
		snprintf(err, errlen, "the back-end lacks features the device %s: %s",
			 in_use == vd->guest_features ? "negotiated" : "offers", names);
		return -EOPNOTSUPP;
	}
	if (vd->ops->route_check)
		return vd->ops->route_check(vd, virtio_vhost_dev(vv), err, errlen);
	return 0;
}

/*
 * Start vv on the rings at base; on failure undo it and say where the rings
 * are.  Only a reply proves a vhost-user back-end took the messages that
 * started it (without REPLY_ACK none is answered): a round trip after them
 * (virtio_vhost_sync) turns one that died on the way into a failed start
 * instead of a loss found later.  -EIO: it died after completing part of
 * what it took, so no owner can go on from the rings as they are.
 */
static int start_vhost(struct virtio_dev *vd, struct virtio_vhost *vv, unsigned nrings,
		       uint16_t *base)
{
	uint16_t from[VHOST_MAX_RINGS];
	uint32_t progress[VHOST_MAX_RINGS];
	int ret = 0;

	memcpy(from, base, sizeof(from[0]) * nrings);
	for (unsigned i = 0; i < nrings; i++)
		progress[i] = vd->queues[i].enabled ? ring_progress(&vd->queues[i]) : 0;
	virtio_vhost_link(vd, vv);
	/* (A queue not enabled yet has no position: it starts afresh.) */
	for (unsigned i = 0; i < nrings; i++)
		if (vd->queues[i].enabled)
			virtio_vhost_set_base(vv, i, base[i]);
	virtio_vhost_on_trial(vv, true);
	if (virtio_dev_running(vd)) {
		ret = virtio_vhost_start(vd);
		if (!ret)
			ret = virtio_vhost_sync(vv);
	}
	virtio_vhost_on_trial(vv, false);
	if (!ret)
		return 0;
	/* A ring that did start may have taken requests: its base now. */
	virtio_vhost_stop(vv);
	bool lost = !virtio_vhost_connected(vv);
	for (unsigned i = 0; i < nrings; i++) {
		struct vqueue *vq = &vd->queues[i].vq;
		uint16_t used;

		base[i] = virtio_vhost_base(vv, i);
		if (!lost || !vd->queues[i].enabled || !virtio_dev_running(vd))
			continue;
		/* Gone without saying where it was: what the used ring shows.
		 * Nothing completed (split: the used index; packed: the
		 * descriptors, where used ones are written, unchanged): the old
		 * owner serves again from where it stopped.  Everything
		 * completed (split): from there.  Else unknown. */
		used = vq_used_idx_in_ring(vq);
		if (vq->packed ? ring_progress(&vd->queues[i]) == progress[i] : used == from[i])
			base[i] = from[i];
		else if (!vq->packed && used == vq_avail_idx_in_ring(vq))
			base[i] = used;
		else
			ret = -EIO;
	}
	virtio_vhost_free(vv);
	return ret;
}

/* The data plane of vd moved from `from` to where it is now: count it, tell
 * the log and the API's clients. */
static void announce_switch(struct virtio_dev *vd, const char *from)
{
	struct vdm_event e = { .kind = VDM_EVENT_ROUTE_SWITCHED, .slot = vd->pci.slot,
			       .func = vd->pci.func };

	vd->route_switches++;
	snprintf(e.device, sizeof(e.device), "%s", vd->ops->name);
	snprintf(e.from, sizeof(e.from), "%s", from);
	virtio_route_describe(vd, e.to, sizeof(e.to));
	vdm_events_post(vd->ctx.events, &e);
	log_info("00:%02x.%d %s: data plane moved from %s to %s", vd->pci.slot, vd->pci.func,
		 vd->ops->name, from, e.to);
}

int virtio_set_route(struct virtio_dev *vd, const struct vhost_route *route, char *err,
		     size_t errlen)
{
	const struct virtio_vhost_params *vp = vd->vhost_params;
	struct virtio_vhost *old = vd->vhost, *nv = NULL;
	uint16_t base[VHOST_MAX_RINGS] = { 0 };
	char from[160], why[200] = "";
	unsigned nrings;
	int ret;

	if (!vp) {
		snprintf(err, errlen, "%s cannot change its data-plane route", vd->ops->name);
		return -EOPNOTSUPP;
	}
	if (vd->pci.lock) {
		snprintf(err, errlen, "%s runs its queues on an I/O thread, which cannot change "
				      "routes yet", vd->ops->name);
		return -EOPNOTSUPP;
	}
	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET) {
		snprintf(err, errlen, "the device needs a reset first (DEVICE_NEEDS_RESET)");
		return -EBUSY;
	}
	if (route->kind == VHOST_ROUTE_AUTO) {
		snprintf(err, errlen, "a route is vbs-u, vhost-user:PATH or vhost-kernel[:NODE]");
		return -EINVAL;
	}
	nrings = vp->nrings;
	virtio_route_describe(vd, from, sizeof(from));
	if (route->kind != VHOST_ROUTE_NONE && old) {
		char to[160];

		snprintf(to, sizeof(to), "vhost-%s:%s",
			 route->kind == VHOST_ROUTE_KERNEL ? "kernel" : "user", route->path);
		if (!strcmp(to, from))
			return 0; /* already there */
	}

	/* The new owner, ready and checked before the old one lets go. */
	if (route->kind == VHOST_ROUTE_NONE) {
		if (!old)
			return 0; /* already */
		if (!vd->ops->vbsu_prepare) {
			snprintf(err, errlen, "%s has no VBS-U back-end", vd->ops->name);
			return -EOPNOTSUPP;
		}
		ret = vd->ops->vbsu_prepare(vd, err, errlen);
		if (ret)
			return ret;
	} else {
		const struct virtio_vhost_params *np =
			vd->ops->route_params ? vd->ops->route_params(vd, route->kind, err, errlen)
					      : vp;

		if (!np)
			return -EOPNOTSUPP;
		ret = virtio_vhost_open(&nv, route, vd->ops->name, np, err, errlen);
		if (ret < 0)
			return ret;
		ret = check_new_owner(vd, nv, np, err, errlen);
		if (ret) {
			virtio_vhost_free(nv);
			return ret;
		}
	}

	/* The old owner stops; base[] is where each ring goes on from. */
	int old_kick[VHOST_MAX_RINGS];
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		old_kick[i] = -1;
	if (old) {
		if (virtio_dev_running(vd))
			vhost_settle(vd, nrings, old_kick, !vp->completes_before_stop);
		virtio_vhost_stop(old);
		for (unsigned i = 0; i < nrings; i++)
			base[i] = virtio_vhost_base(old, i);
		close_fds(old_kick, nrings); /* (the back-end holds its own copies) */
		int adopted = -1;

		if (!virtio_vhost_connected(old) && virtio_dev_running(vd) && !nv &&
		    (adopted = vbsu_adopt(vd, old, nrings, base)) >= 0) {
			log_info("00:%02x.%d %s: %s died during the route switch holding %d "
				 "request(s); its in-flight region hands them to VBS-U, which runs "
				 "them again", vd->pci.slot, vd->pci.func, vd->ops->name, from,
				 adopted);
		} else if (!virtio_vhost_connected(old) && virtio_dev_running(vd)) {
			unsigned held = lost_owner_bases(vd, nrings, base);

			if (held) {
				char to[160];

				/* Its requests are lost to the guest: only a reset
				 * recovers.  The new owner takes the device then. */
				virtio_vhost_free(old);
				if (nv)
					virtio_vhost_link(vd, nv);
				virtio_route_describe(vd, to, sizeof(to));
				announce_switch(vd, from);
				snprintf(why, sizeof(why), "the back-end %.120s died during a route "
					 "switch holding %u request(s)", from, held);
				virtio_dev_needs_reset(vd, why);
				snprintf(err, errlen, "%s: the device needs a reset, after which "
						      "%.120s serves it", why, to);
				return -EIO;
			}
			log_info("00:%02x.%d %s: %s died during the route switch; it held no "
				 "request, so the rings go on from their used indexes", vd->pci.slot,
				 vd->pci.func, vd->ops->name, from);
		} else if (virtio_dev_running(vd) &&
			   (ret = vhost_drain(vd, old, nrings, base, why, sizeof(why))) != 0) {
			/* Not handed over: the old back-end goes on where it was. */
			virtio_vhost_free(nv);
			if (virtio_vhost_start(vd)) {
				virtio_dev_needs_reset(vd, "a route switch could not hand the rings "
							   "over, nor give them back");
				snprintf(err, errlen, "%s, and it did not take the rings back: the "
						      "device needs a reset", why);
				return ret;
			}
			snprintf(err, errlen, "%s; the device stays on %s", why, from);
			return ret;
		}
		vd->vhost = NULL; /* (old is freed once the new owner serves) */
	} else {
		vbsu_quiesce(vd, nrings, base);
	}

	/* The new owner starts. */
	if (nv)
		ret = start_vhost(vd, nv, nrings, base);
	if (ret == -EIO) {
		/* The rings are beyond repair; the old owner, stopped cleanly,
		 * serves again after the guest's reset. */
		snprintf(why, sizeof(why), "the new back-end died after completing part of what it "
					   "took");
		if (old)
			vd->vhost = old;
		virtio_dev_needs_reset(vd, why);
		snprintf(err, errlen, "%s: the device needs a reset, after which %s serves it", why,
			 from);
		return ret;
	}
	if (ret) {
		snprintf(why, sizeof(why), "the new back-end did not start (%s)", strerror(-ret));
		if (old) {
			vd->vhost = old;
			for (unsigned i = 0; i < nrings; i++)
				if (vd->queues[i].enabled)
					virtio_vhost_set_base(old, i, base[i]);
			if (!virtio_dev_running(vd) || virtio_vhost_start(vd) == 0) {
				snprintf(err, errlen, "%s; the device stays on %s", why, from);
				return ret;
			}
			vd->vhost = NULL;
			virtio_vhost_free(old);
			virtio_dev_needs_reset(vd, "a failed route switch left no back-end");
			snprintf(err, errlen, "%s, and %s did not take the rings back: the device "
					      "needs a reset", why, from);
			return ret;
		}
		vbsu_resume(vd, nrings, base);
		snprintf(err, errlen, "%s; the device stays on %s", why, from);
		return ret;
	}
	if (!nv)
		vbsu_resume(vd, nrings, base);
	virtio_vhost_free(old);
	announce_switch(vd, from);
	return 0;
}
