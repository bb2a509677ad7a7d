/*
 * virtio_vhost.c - a virtio device's data plane routed to a vhost back-end
 * (libvhostproxy) instead of VBS-U: the `vhost=` and `reconnect=` options,
 * the choice of route, and the glue between the virtio-pci transport and the
 * back-end.  The control plane (PCI, features, status, reset, config space)
 * stays in vdm; only the rings named by the device move out.
 *
 * Notifications bypass vdm: each ring's kick eventfd, already the ioeventfd
 * of its notify address, is handed to the back-end (and taken off vdm's
 * loop while the ring runs).  The back-end's call fd is the MSI-X vector's
 * irqfd when the driver uses MSI-X; otherwise it is an eventfd vdm watches,
 * setting ISR and raising INTx (the only per-request work vdm does then).
 *
 * A vhost-user back-end that goes away puts the device in
 * DEVICE_NEEDS_RESET; vdm and the other devices go on.  So does a ring the
 * back-end gives up on: each ring has an error eventfd (SET_VRING_ERR) vdm
 * watches while the back-end runs it, written when the back-end finds the
 * ring malformed (vdm-vhost-user: a chain that breaks a rule; kernel vhost:
 * a descriptor it cannot use).  That is the driver's doing, so another
 * back-end would find the ring as broken: reconnect= changes nothing, the
 * guest's reset starts the ring afresh.  With reconnect=N,
 * vdm tries to connect again every N seconds, and the guest's reset of the
 * device brings it back once connected.
 *
 * A back-end that tracks its requests in flight (INFLIGHT_SHMFD) is given
 * a region for that before its rings start, made by the first back-end and
 * kept here until the guest resets the device.  With reconnect=N such a
 * back-end that goes away does not cost the guest a reset: its rings are
 * suspended (kicks pile up in their eventfds, nobody else serves them), and
 * the back-end that answers next gets the same features, the region, the
 * memory table and the rings from their used index; it serves again what
 * the dead one held.  The guest sees a pause.  (Split rings: the region has
 * no packed layout here, so a packed ring still needs the reset.)
 */
#include "virtio_internal.h"
#include "vdm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

struct virtio_vhost {
	struct virtio_vhost *next;      /* in vdm's list (devemu_ctx.vhosts) once attached */
	struct virtio_dev *vd;
	struct vhost_dev *dev;          /* NULL while a vhost-user back-end is away */
	enum vhost_transport transport;
	char path[108];
	unsigned reconnect_s;
	int reconnect_timer;            /* evloop timer id, 0 if none */
	unsigned nrings;
	const struct virtio_vhost_params *params;
	bool started;
	bool watching_sock;
	bool on_trial;                  /* being switched to: a loss is the switch's failure */
	/* The back-end went away with the device running and an in-flight
	 * region: the rings wait for the next one (reconnect=), still ours. */
	bool suspended;
	struct vhost_inflight inflight; /* INFLIGHT_SHMFD: kept until a reset */
	/* The ring starts afresh (after open or a reset; base[] unset): at
	 * what position depends on its layout (ring_base). */
	bool fresh[VHOST_MAX_RINGS];
	bool ring_running[VHOST_MAX_RINGS];
	/* Next avail index (split) or position (packed: index in bits 0-14,
	 * wrap counter in bit 15, as SET/GET_VRING_BASE carry it), kept
	 * across a stop. */
	uint16_t base[VHOST_MAX_RINGS];
	int call_fd[VHOST_MAX_RINGS];    /* vdm's eventfd per ring (INTx, no vector) */
	int err_fd[VHOST_MAX_RINGS];     /* the back-end writes it on a ring it gave up on */
	int given_call[VHOST_MAX_RINGS]; /* the call fd the back-end has now */
	struct vhost_vring ring[VHOST_MAX_RINGS]; /* as started */
};

/* ---- options ---- */

int vhost_route_parse(const char *tok, struct vhost_route *r, char *err, size_t errlen)
{
	if (!strncmp(tok, "reconnect=", 10)) {
		char *end;
		unsigned long s = strtoul(tok + 10, &end, 10);

		if (!tok[10] || *end || s < 1 || s > 3600) {
			snprintf(err, errlen, "reconnect=%s: expected seconds, 1..3600", tok + 10);
			return -EINVAL;
		}
		r->reconnect_s = (unsigned)s;
		return 1;
	}
	if (strncmp(tok, "vhost=", 6))
		return 0;
	free(r->path);
	r->path = NULL;
	r->given = true;
	if (!strcmp(tok + 6, "auto")) {
		r->kind = VHOST_ROUTE_AUTO;
	} else if (!strcmp(tok + 6, "kernel")) {
		r->kind = VHOST_ROUTE_KERNEL;
	} else if (!strncmp(tok + 6, "kernel:", 7) && tok[13]) {
		r->kind = VHOST_ROUTE_KERNEL;
		r->path = strdup(tok + 13);
	} else if (!strncmp(tok + 6, "user:", 5) && tok[11]) {
		r->kind = VHOST_ROUTE_USER;
		r->path = strdup(tok + 11);
	} else {
		snprintf(err, errlen,
			 "%s: expected vhost=user:SOCKET, vhost=kernel[:DEVICE] or vhost=auto", tok);
		return -EINVAL;
	}
	if ((r->kind == VHOST_ROUTE_USER || (r->kind == VHOST_ROUTE_KERNEL && tok[12])) &&
	    !r->path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (r->path && strlen(r->path) >= sizeof(((struct virtio_vhost *)0)->path)) {
		snprintf(err, errlen, "%s: path too long", tok);
		return -EINVAL;
	}
	return 1;
}

int vhost_route_check(const struct vhost_route *r, const char *dev, const char *kernel_node,
		      char *err, size_t errlen)
{
	if (r->kind == VHOST_ROUTE_KERNEL && !kernel_node) {
		snprintf(err, errlen, "%s has no kernel vhost back-end; use vhost=user:SOCKET", dev);
		return -EINVAL;
	}
	if (r->reconnect_s && r->kind != VHOST_ROUTE_USER) {
		snprintf(err, errlen, "reconnect= needs vhost=user:SOCKET");
		return -EINVAL;
	}
	return 0;
}

void vhost_route_free(struct vhost_route *r)
{
	free(r->path);
	r->path = NULL;
}

/* ---- interrupts ---- */

/* The fd the back-end should write to interrupt the driver for queue q. */
static int wanted_call_fd(struct virtio_vhost *vv, struct virtio_queue *q)
{
	struct virtio_dev *vd = vv->vd;

	if (vd->use_msix && pci_msix_enabled(&vd->pci) && q->msix_vector != VIRTIO_NO_VECTOR &&
	    q->msix_vector < vd->pci.msix.nvec)
		return vd->pci.msix.entries[q->msix_vector].irqfd;
	return vv->call_fd[q->index];
}

/* The back-end interrupted through vdm's eventfd: ISR + INTx (or MSI-X
 * pending semantics through the transport). */
static void call_cb(void *arg, int fd, uint32_t events)
{
	struct virtio_queue *q = arg;
	eventfd_t n;

	if (eventfd_read(fd, &n) == 0 && virtio_dev_running(q->dev))
		virtio_queue_interrupt(q);
}

void virtio_vhost_irq_changed(struct virtio_dev *vd)
{
	struct virtio_vhost *vv = vd->vhost;

	if (!vv || !vv->started)
		return;
	for (unsigned i = 0; i < vv->nrings; i++) {
		int fd = wanted_call_fd(vv, &vd->queues[i]);

		if (!vv->ring_running[i] || fd == vv->given_call[i])
			continue;
		if (vhost_dev_vring_set_call(vv->dev, i, fd) == 0)
			vv->given_call[i] = fd;
		else
			log_err("%s: %s", vd->ops->name, vhost_dev_error(vv->dev));
	}
}

/* ---- a ring the back-end gave up on ---- */

static void err_cb(void *arg, int fd, uint32_t events)
{
	struct virtio_queue *q = arg;
	struct virtio_dev *vd = q->dev;
	struct virtio_vhost *vv = vd->vhost;
	char why[320];
	eventfd_t n;

	(void)events;
	if (eventfd_read(fd, &n) || !vv || !vv->ring_running[q->index])
		return;
	/* virtio_dev_needs_reset logs it, once per reset, rate-limited. */
	snprintf(why, sizeof(why),
		 "queue %d: vhost back-end %s gave up on the ring (its error fd): the driver's "
		 "ring is malformed, or the back-end failed on it",
		 q->index, vv->path);
	virtio_dev_needs_reset(vd, why);
}

/* ---- losing and finding a vhost-user back-end ---- */

static void sock_cb(void *arg, int fd, uint32_t events);
static void stop_rings(struct virtio_vhost *vv);

static void watch_sock(struct virtio_vhost *vv, bool on)
{
	struct evloop *loop = vv->vd->ctx.loop;
	int fd = vv->dev ? vhost_dev_fd(vv->dev) : -1;

	if (fd < 0 || on == vv->watching_sock)
		return;
	if (on)
		vv->watching_sock = evloop_add_fd(loop, fd, EPOLLIN | EPOLLRDHUP, sock_cb, vv) == 0;
	else {
		evloop_del_fd(loop, fd);
		vv->watching_sock = false;
	}
}

static int try_connect(struct virtio_vhost *vv, char *err, size_t errlen);
static void suspend_rings(struct virtio_vhost *vv);
static void end_suspension(struct virtio_vhost *vv);

/* Whether losing the back-end now can be hidden from the guest: it runs,
 * another back-end may come (reconnect=), and the rings' state is in an
 * in-flight region (split rings). */
static bool can_resume(const struct virtio_vhost *vv)
{
	if (!vv->reconnect_s || !vv->started || vv->inflight.fd < 0 ||
	    !virtio_dev_running(vv->vd))
		return false;
	for (unsigned i = 0; i < vv->nrings; i++)
		if (vv->ring_running[i] && vv->vd->queues[i].vq.packed)
			return false;
	return true;
}

/*
 * A new back-end after a lost one: the rings go on from their used index
 * (the dead one could not say where it stopped; the region tells the new
 * one, which serves again what it finds in flight there), with the same
 * features, region and memory table as before.
 */
static int resume_rings(struct virtio_vhost *vv)
{
	struct virtio_dev *vd = vv->vd;
	int ret;

	/* One that cannot take the region cannot know what was in flight. */
	if (!vhost_dev_has_inflight(vv->dev)) {
		log_err("%s: the vhost-user back-end %s that came back tracks no requests in "
			"flight; what the lost one held is lost", vd->ops->name, vv->path);
		end_suspension(vv);
		return -EOPNOTSUPP;
	}
	vv->suspended = false;
	for (unsigned i = 0; i < vv->nrings; i++)
		if (vd->queues[i].enabled)
			virtio_vhost_set_base(vv, i, vq_used_idx_in_ring(&vd->queues[i].vq));
	ret = virtio_vhost_start(vd);
	if (ret)
		return ret;
	/* Completions the dead one published without an interrupt: one each
	 * covers them (a spare one is harmless). */
	for (unsigned i = 0; i < vv->nrings; i++)
		if (vd->queues[i].enabled)
			virtio_queue_interrupt(&vd->queues[i]);
	return 0;
}

static void reconnect_cb(void *arg)
{
	struct virtio_vhost *vv = arg;
	struct virtio_dev *vd = vv->vd;
	char err[200];

	if (try_connect(vv, err, sizeof(err)))
		return;
	evloop_del_timer(vd->ctx.loop, vv->reconnect_timer);
	vv->reconnect_timer = 0;
	if (!vv->suspended) {
		log_info("00:%02x.%d %s: vhost-user back-end %s is back; the device works again "
			 "after the guest resets it",
			 vd->pci.slot, vd->pci.func, vd->ops->name, vv->path);
		return;
	}
	if (resume_rings(vv)) {
		virtio_dev_needs_reset(vd, "the vhost-user back-end that came back did not start");
		return;
	}
	log_info("00:%02x.%d %s: vhost-user back-end %s is back; the rings go on where they "
		 "were, with what the lost one held in flight (no guest reset)",
		 vd->pci.slot, vd->pci.func, vd->ops->name, vv->path);
}

/* The back-end is gone: the device needs a reset, vdm goes on. */
static void back_end_lost(struct virtio_vhost *vv, const char *why)
{
	struct virtio_dev *vd = vv->vd;

	bool resume = !vv->on_trial && can_resume(vv);

	log_err("00:%02x.%d %s: vhost-user back-end %s lost (%s)", vd->pci.slot, vd->pci.func,
		vd->ops->name, vv->path, why);
	watch_sock(vv, false);
	if (resume)
		suspend_rings(vv);
	else
		stop_rings(vv);
	vhost_dev_close(vv->dev);
	vv->dev = NULL;
	if (vv->on_trial)
		return; /* the live switch gives the rings back to the old owner */
	if (resume)
		log_info("%s: its rings wait for the next back-end; the requests it held are in "
			 "its in-flight region", vd->ops->name);
	else
		virtio_dev_needs_reset(vd, "vhost-user back-end lost");
	if (vv->reconnect_s && !vv->reconnect_timer) {
		int id = evloop_add_timer(vd->ctx.loop, vv->reconnect_s * 1000, true, reconnect_cb,
					  vv);

		vv->reconnect_timer = id > 0 ? id : 0;
		log_info("%s: trying %s again every %u s", vd->ops->name, vv->path,
			 vv->reconnect_s);
	}
}

static void sock_cb(void *arg, int fd, uint32_t events)
{
	struct virtio_vhost *vv = arg;
	char c;

	/* A back-end never speaks unasked: readable means closed or broken. */
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	back_end_lost(vv, n == 0 ? "connection closed" : "unexpected message");
}

/* After a failed call: if the stream is gone, handle it as a loss. */
static void check_lost(struct virtio_vhost *vv)
{
	if (vv->dev && vhost_dev_disconnected(vv->dev))
		back_end_lost(vv, vhost_dev_error(vv->dev));
}

/* ---- start / stop ---- */

static void stop_rings(struct virtio_vhost *vv)
{
	struct virtio_dev *vd = vv->vd;

	if (!vv->started)
		return;
	if (vv->dev && vv->params->stop && !vhost_dev_disconnected(vv->dev))
		vv->params->stop(vd, vv->dev);
	for (unsigned i = 0; i < vv->nrings; i++) {
		if (!vv->ring_running[i])
			continue;
		if (vv->dev && vhost_dev_vring_stop(vv->dev, i, &vv->base[i]) < 0 &&
		    !vhost_dev_disconnected(vv->dev))
			log_err("%s: %s", vd->ops->name, vhost_dev_error(vv->dev));
		vv->ring_running[i] = false;
		vv->given_call[i] = -1;
		evloop_del_fd(vd->ctx.loop, vv->call_fd[i]);
		evloop_del_fd(vd->ctx.loop, vv->err_fd[i]);
		virtio_queue_watch_kicks(&vd->queues[i], true);
	}
	vv->started = false;
}

/* The back-end went away: the rings stop here, but stay the back-end's
 * (no kick watched by vdm, nothing served by VBS-U) for the next one. */
static void suspend_rings(struct virtio_vhost *vv)
{
	struct virtio_dev *vd = vv->vd;

	for (unsigned i = 0; i < vv->nrings; i++) {
		if (!vv->ring_running[i])
			continue;
		vv->ring_running[i] = false;
		vv->given_call[i] = -1;
		evloop_del_fd(vd->ctx.loop, vv->call_fd[i]);
		evloop_del_fd(vd->ctx.loop, vv->err_fd[i]);
	}
	vv->started = false;
	vv->suspended = true;
}

/* Rings suspended for a back-end that will not come now: vdm's again. */
static void end_suspension(struct virtio_vhost *vv)
{
	if (!vv->suspended)
		return;
	vv->suspended = false;
	for (unsigned i = 0; i < vv->nrings; i++)
		virtio_queue_watch_kicks(&vv->vd->queues[i], true);
}

/*
 * INFLIGHT_SHMFD: the region goes to the back-end before its rings start.
 * The first start after open or a reset asks the back-end for one, sized
 * for the rings as the driver set them up; later starts (a back-end that
 * came back) hand the same one over.
 */
static int inflight_hand_over(struct virtio_vhost *vv)
{
	uint16_t qs = 0;
	int ret;

	if (!vhost_dev_has_inflight(vv->dev))
		return 0;
	if (vv->inflight.fd < 0) {
		for (unsigned i = 0; i < vv->nrings; i++)
			if (vv->vd->queues[i].size > qs)
				qs = vv->vd->queues[i].size;
		ret = vhost_dev_get_inflight(vv->dev, (uint16_t)vv->nrings, qs ? qs : 1,
					     &vv->inflight);
		if (ret || vv->inflight.fd < 0)
			return ret;
	}
	return vhost_dev_set_inflight(vv->dev, &vv->inflight);
}

static int mem_table(struct virtio_vhost *vv)
{
	struct hsm_mem_region hr[VHOST_MAX_MEM_REGIONS];
	struct vhost_mem_region r[VHOST_MAX_MEM_REGIONS];
	int n = hsm_get_mem_regions(vv->vd->ctx.vm, hr, VHOST_MAX_MEM_REGIONS);

	if (n < 1 || n > VHOST_MAX_MEM_REGIONS) {
		log_err("%s: guest RAM has %d regions; vhost takes 1..%d", vv->vd->ops->name, n,
			VHOST_MAX_MEM_REGIONS);
		return -E2BIG;
	}
	for (int i = 0; i < n; i++)
		r[i] = (struct vhost_mem_region){ .gpa = hr[i].gpa, .size = hr[i].size,
						  .uaddr = (uint64_t)(uintptr_t)hr[i].hva,
						  .fd = hr[i].fd, .fd_offset = hr[i].fd_offset };
	return vhost_dev_set_mem_table(vv->dev, r, n);
}

/*
 * Where the three parts of q's ring are in vdm's memory, each sized for
 * the ring's layout: split, descriptor table, avail and used rings (virtio
 * 1.2, 2.7); packed, descriptor ring and the driver's and the device's
 * 4-byte event suppression areas (2.8.10), which vhost takes in the avail
 * and used address slots.  NULL where a part is not in guest RAM.
 */
static void ring_parts(struct hsm_vm *vm, const struct virtio_queue *q, void *part[3])
{
	uint64_t n = q->size;
	bool packed = q->vq.packed;

	part[0] = hsm_gpa_to_hva(vm, q->desc_gpa, 16 * n);
	part[1] = hsm_gpa_to_hva(vm, q->avail_gpa, packed ? 4 : 6 + 2 * n);
	part[2] = hsm_gpa_to_hva(vm, q->used_gpa, packed ? 4 : 6 + 8 * n);
}

/*
 * Where ring i goes on from.  A fresh ring starts at index 0; a packed
 * one's position also carries the driver's wrap counter, which starts at 1
 * (2.8.1), so vhost's SET_VRING_BASE gets 0x8000.  (The layout is known
 * once the queue is enabled.)
 */
static uint16_t ring_base(const struct virtio_vhost *vv, unsigned i)
{
	if (!vv->fresh[i])
		return vv->base[i];
	return vv->vd && vv->vd->queues[i].vq.packed ? VQ_PACKED_WRAP : 0;
}

static int start_ring(struct virtio_vhost *vv, unsigned i)
{
	struct virtio_dev *vd = vv->vd;
	struct virtio_queue *q = &vd->queues[i];
	void *part[3];
	int ret;

	ring_parts(vd->ctx.vm, q, part);
	struct vhost_vring vr = {
		.num = q->size,
		.base = ring_base(vv, i),
		.desc = (uint64_t)(uintptr_t)part[0],
		.avail = (uint64_t)(uintptr_t)part[1],
		.used = (uint64_t)(uintptr_t)part[2],
		.kick_fd = q->kick_fd,
		.call_fd = wanted_call_fd(vv, q),
		.err_fd = vv->err_fd[i],
	};
	eventfd_t stale;

	/* vq_setup checked this layout when the queue was enabled. */
	if (!part[0] || !part[1] || !part[2])
		return -EFAULT;
	ret = evloop_add_fd(vd->ctx.loop, vv->call_fd[i], EPOLLIN, call_cb, q);
	if (ret)
		return ret;
	/* An error the last back-end reported before a reset is old news. */
	if (eventfd_read(vv->err_fd[i], &stale)) {
	}
	ret = evloop_add_fd(vd->ctx.loop, vv->err_fd[i], EPOLLIN, err_cb, q);
	if (ret) {
		evloop_del_fd(vd->ctx.loop, vv->call_fd[i]);
		return ret;
	}
	/* The back-end takes the kicks from here on. */
	virtio_queue_watch_kicks(q, false);
	ret = vhost_dev_vring_start(vv->dev, i, &vr);
	if (ret) {
		evloop_del_fd(vd->ctx.loop, vv->err_fd[i]);
		evloop_del_fd(vd->ctx.loop, vv->call_fd[i]);
		virtio_queue_watch_kicks(q, true);
		return ret;
	}
	vv->ring_running[i] = true;
	vv->base[i] = vr.base;
	vv->fresh[i] = false;
	vv->given_call[i] = vr.call_fd;
	vv->ring[i] = vr;
	return 0;
}

void virtio_vhost_mem_changed(struct vdm *vdm)
{
	for (struct virtio_vhost *vv = vdm->vhosts; vv; vv = vv->next) {
		struct virtio_dev *vd = vv->vd;
		struct hsm_vm *vm = vdm->vm;
		bool moved = false;

		if (!vv->started)
			continue; /* the next start sends the map as it is then */
		for (unsigned i = 0; i < vv->nrings; i++) {
			void *part[3];

			if (!vv->ring_running[i])
				continue;
			ring_parts(vm, &vd->queues[i], part);
			moved |= (uintptr_t)part[0] != vv->ring[i].desc ||
				 (uintptr_t)part[1] != vv->ring[i].avail ||
				 (uintptr_t)part[2] != vv->ring[i].used;
		}
		if (moved) {
			/* The back-end holds ring addresses that now mean nothing. */
			stop_rings(vv);
			virtio_dev_needs_reset(vd, "guest RAM under a running vhost ring moved");
			continue;
		}
		log_debug("%s: guest RAM map changed, new memory table for %s", vd->ops->name,
			  vv->path);
		if (mem_table(vv)) {
			log_err("%s: cannot give the vhost back-end the new memory map: %s",
				vd->ops->name, vv->dev ? vhost_dev_error(vv->dev) : "gone");
			check_lost(vv);
			virtio_dev_needs_reset(vd, "vhost back-end refused the new memory map");
		}
	}
}

int virtio_vhost_start(struct virtio_dev *vd)
{
	struct virtio_vhost *vv = vd->vhost;
	int ret;

	if (!vv || vv->started)
		return 0;
	if (!vv->dev) {
		log_err("%s: vhost-user back-end %s is not connected", vd->ops->name, vv->path);
		return -ENOTCONN;
	}
	ret = vhost_dev_set_features(vv->dev, vd->guest_features & vhost_dev_features(vv->dev));
	if (!ret)
		ret = inflight_hand_over(vv);
	if (!ret)
		ret = mem_table(vv);
	vv->started = true; /* from here, stop_rings undoes what was done */
	for (unsigned i = 0; !ret && i < vv->nrings; i++)
		if (vd->queues[i].enabled)
			ret = start_ring(vv, i);
	if (!ret && vv->params->start)
		ret = vv->params->start(vd, vv->dev);
	if (ret) {
		log_err("%s: cannot start the vhost back-end: %s", vd->ops->name,
			vv->dev && *vhost_dev_error(vv->dev) ? vhost_dev_error(vv->dev)
							      : strerror(-ret));
		stop_rings(vv);
		check_lost(vv);
		return ret;
	}
	return 0;
}

void virtio_vhost_reset(struct virtio_dev *vd)
{
	struct virtio_vhost *vv = vd->vhost;

	if (!vv)
		return;
	stop_rings(vv);
	end_suspension(vv);
	check_lost(vv);
	/* A reset device starts its rings afresh (ring_base), with a new
	 * in-flight region: nothing of the old rings is in flight any more. */
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		vv->fresh[i] = true;
	vhost_inflight_free(&vv->inflight);
}

bool virtio_vhost_owns(const struct virtio_queue *q)
{
	const struct virtio_vhost *vv = q->dev->vhost;

	return vv && (vv->started || vv->suspended) && (unsigned)q->index < vv->nrings;
}

/* ---- open / attach / detach ---- */

static int try_connect(struct virtio_vhost *vv, char *err, size_t errlen)
{
	struct vhost_dev *dev;
	int ret = vhost_dev_open(&dev, vv->transport, vv->path, err, errlen);

	if (ret)
		return ret;
	/* A back-end that says how many rings it serves must serve ours. */
	if (vhost_dev_max_rings(dev) && vhost_dev_max_rings(dev) < vv->nrings) {
		snprintf(err, errlen, "vhost-user %s serves %u queues; the device has %u", vv->path,
			 vhost_dev_max_rings(dev), vv->nrings);
		vhost_dev_close(dev);
		return -EOPNOTSUPP;
	}
	if (vv->vd) {
		/* A back-end coming back must still do what the guest was offered. */
		uint64_t missing = vv->vd->host_features & ~vv->params->vdm_features &
				   ~vhost_dev_features(dev);

		if (missing) {
			snprintf(err, errlen, "back-end %s lacks features %#llx offered to the guest",
				 vv->path, (unsigned long long)missing);
			vhost_dev_close(dev);
			return -EOPNOTSUPP;
		}
	}
	vv->dev = dev;
	if (vv->vd)
		watch_sock(vv, true);
	return 0;
}

int virtio_vhost_open(struct virtio_vhost **out, const struct vhost_route *route,
		      const char *devname, const struct virtio_vhost_params *p, char *err,
		      size_t errlen)
{
	struct virtio_vhost *vv;
	const char *path = route->path;
	enum vhost_transport t = VHOST_TRANSPORT_USER;
	int ret;

	*out = NULL;
	if (route->kind == VHOST_ROUTE_NONE)
		return 0;
	if (route->kind == VHOST_ROUTE_KERNEL || route->kind == VHOST_ROUTE_AUTO) {
		t = VHOST_TRANSPORT_KERNEL;
		path = path ? path : p->kernel_node;
		if (route->kind == VHOST_ROUTE_AUTO) {
			if (!path || access(path, R_OK | W_OK)) {
				log_info("%s: vhost=auto: %s%s, serving it with VBS-U", devname,
					 path ? path : "no kernel vhost for this device",
					 path ? " is not available" : "");
				return 0;
			}
			log_info("%s: vhost=auto: %s exists, using kernel vhost", devname, path);
		}
	}
	if (p->nrings < 1 || p->nrings > VHOST_MAX_RINGS) {
		snprintf(err, errlen, "%s: bad vhost ring count", devname);
		return -EINVAL;
	}
	vv = calloc(1, sizeof(*vv));
	if (!vv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vv->transport = t;
	snprintf(vv->path, sizeof(vv->path), "%s", path);
	vv->reconnect_s = route->reconnect_s;
	vv->nrings = p->nrings;
	vv->params = p;
	vv->inflight.fd = -1;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++) {
		vv->call_fd[i] = vv->given_call[i] = vv->err_fd[i] = -1;
		vv->fresh[i] = true;
	}
	for (unsigned i = 0; i < vv->nrings; i++) {
		vv->call_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vv->err_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vv->call_fd[i] < 0 || vv->err_fd[i] < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			virtio_vhost_free(vv);
			return -errno;
		}
	}
	ret = try_connect(vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		return ret;
	}
	*out = vv;
	return 1;
}

uint64_t virtio_vhost_features(const struct virtio_vhost *vv)
{
	return vv->dev ? vhost_dev_features(vv->dev) : 0;
}

struct vhost_dev *virtio_vhost_dev(const struct virtio_vhost *vv)
{
	return vv ? vv->dev : NULL;
}

/* ---- for live route switching (virtio_route.c) ---- */

void virtio_vhost_link(struct virtio_dev *vd, struct virtio_vhost *vv)
{
	vd->vhost = vv;
	vv->vd = vd;
	vv->next = *vd->ctx.vhosts;
	*vd->ctx.vhosts = vv;
	watch_sock(vv, true);
}

void virtio_vhost_on_trial(struct virtio_vhost *vv, bool on)
{
	vv->on_trial = on;
}

void virtio_vhost_stop(struct virtio_vhost *vv)
{
	stop_rings(vv);
	end_suspension(vv);
}

unsigned virtio_vhost_nrings(const struct virtio_vhost *vv)
{
	return vv->nrings;
}

uint16_t virtio_vhost_base(const struct virtio_vhost *vv, unsigned i)
{
	return ring_base(vv, i);
}

void virtio_vhost_set_base(struct virtio_vhost *vv, unsigned i, uint16_t base)
{
	vv->base[i] = base;
	vv->fresh[i] = false;
}

const void *virtio_vhost_inflight_ring(const struct virtio_vhost *vv, unsigned i, size_t *len)
{
	const struct vhost_inflight *in = &vv->inflight;
	size_t stride;

	*len = 0;
	if (in->fd < 0 || !in->map || i >= in->num_queues)
		return NULL;
	/* The spec lays the rings' parts out one after the other, alike. */
	stride = (size_t)(in->size / in->num_queues) & ~(size_t)7;
	*len = stride;
	return (const uint8_t *)in->map + (size_t)i * stride;
}

bool virtio_vhost_connected(const struct virtio_vhost *vv)
{
	return vv->dev && !vhost_dev_disconnected(vv->dev);
}

int virtio_vhost_sync(struct virtio_vhost *vv)
{
	return vv->dev ? vhost_dev_sync(vv->dev) : -ENOTCONN;
}

void virtio_route_describe(const struct virtio_dev *vd, char *buf, size_t len)
{
	const struct virtio_vhost *vv = vd->vhost;

	if (!vv)
		snprintf(buf, len, "vbs-u");
	else
		snprintf(buf, len, "vhost-%s:%s",
			 vv->transport == VHOST_TRANSPORT_KERNEL ? "kernel" : "user", vv->path);
}

int virtio_vhost_attach(struct virtio_dev *vd, struct virtio_vhost *vv, char *err, size_t errlen)
{
	uint64_t backend = vhost_dev_features(vv->dev) | vv->params->vdm_features;

	if (!(backend >> VIRTIO_F_VERSION_1 & 1)) {
		snprintf(err, errlen, "vhost back-end %s does not offer VIRTIO_F_VERSION_1",
			 vv->path);
		return -EOPNOTSUPP;
	}
	/* Offer the guest only what the back-end will do (the transport added
	 * its ring features for VBS-U). */
	vd->host_features &= backend;
	virtio_vhost_link(vd, vv);
	log_info("00:%02x.%d %s: data plane on %s vhost %s", vd->ctx.slot, vd->ctx.func,
		 vd->ops->name, vv->transport == VHOST_TRANSPORT_KERNEL ? "kernel" : "user",
		 vv->path);
	return 0;
}

int virtio_dev_init_routed(struct virtio_dev *vd, const struct devemu_ctx *ctx,
			   const struct virtio_dev_params *p, struct virtio_vhost *vv, char *err,
			   size_t errlen)
{
	int ret = virtio_dev_init(vd, ctx, p);

	if (ret) {
		snprintf(err, errlen, "cannot build the PCI function");
		return ret;
	}
	if (vv && (ret = virtio_vhost_attach(vd, vv, err, errlen)) != 0)
		virtio_dev_fini(vd);
	return ret;
}

void virtio_vhost_free(struct virtio_vhost *vv)
{
	if (!vv)
		return;
	if (vv->vd) {
		for (struct virtio_vhost **p = vv->vd->ctx.vhosts; *p; p = &(*p)->next)
			if (*p == vv) {
				*p = vv->next;
				break;
			}
		stop_rings(vv);
		end_suspension(vv);
		watch_sock(vv, false);
		if (vv->reconnect_timer)
			evloop_del_timer(vv->vd->ctx.loop, vv->reconnect_timer);
		if (vv->vd->vhost == vv) /* (a live switch may have a new one already) */
			vv->vd->vhost = NULL;
	}
	vhost_dev_close(vv->dev);
	vhost_inflight_free(&vv->inflight);
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++) {
		if (vv->call_fd[i] >= 0)
			close(vv->call_fd[i]);
		if (vv->err_fd[i] >= 0)
			close(vv->err_fd[i]);
	}
	free(vv);
}
