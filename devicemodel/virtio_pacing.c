/*
 * virtio_pacing.c - when and how long the transport serves a queue: kicks,
 * the passes a kick gets before other devices have their turn, and what
 * happens when a ring runs empty (the hold-off policy of holdoff.h, which
 * vdm-vhost-user's rings share).
 */
#include "virtio_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* How often one kick drains a queue before yielding to the event loop. */
#define KICK_PASSES 4

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void holdoff_fired(void *arg, int fd, uint32_t events);

/* Made at start, not when first needed: an I/O thread's loop takes new
 * watches only before it runs. */
int virtio_queue_pacing_init(struct virtio_queue *q)
{
	int ret = holdoff_init(&q->holdoff);

	if (ret)
		return ret;
	ret = evloop_add_fd(q->dev->loop, q->holdoff.fd, EPOLLIN, holdoff_fired, q);
	if (ret)
		holdoff_fini(&q->holdoff);
	return ret;
}

void virtio_queue_pacing_reset(struct virtio_queue *q)
{
	holdoff_reset(&q->holdoff);
}

void virtio_queue_pacing_fini(struct virtio_queue *q)
{
	if (q->holdoff.fd < 0)
		return;
	evloop_del_fd(q->dev->loop, q->holdoff.fd);
	holdoff_fini(&q->holdoff);
}

void virtio_queue_failed(struct virtio_queue *q, int r)
{
	virtio_dev_needs_reset(q->dev, q->vq.error ? q->vq.error : strerror(r < 0 ? -r : EIO));
}

/* Come back to q through the event loop, after other devices' turns. */
static void requeue(struct virtio_queue *q)
{
	q->requeued = true;
	if (eventfd_write(q->kick_fd, 1) < 0)
		log_err("%s: cannot re-queue queue %d: %s", q->dev->ops->name, q->index,
			strerror(errno));
}

/* Ask for a kick and look once more (virtio.h): the one re-arm of vdm. */
bool virtio_queue_rearm(struct virtio_queue *q)
{
	vq_set_notify(&q->vq, true);
	holdoff_kicks_on(&q->holdoff);
	return vq_has_work(&q->vq);
}

/*
 * The ring is empty.  Hold kicks off for the window if there is one;
 * otherwise re-arm them.  Returns true when the last look found work.
 */
static bool ring_empty(struct virtio_queue *q)
{
	if (holdoff_begin(&q->holdoff, q->device_busy))
		return false;
	return virtio_queue_rearm(q);
}

void virtio_queue_completions_sent(struct virtio_queue *q)
{
	if (!holdoff_completions_sent(&q->holdoff, q->device_busy) && virtio_queue_rearm(q))
		virtio_queue_serve(q);
}

static void serve(struct virtio_queue *q);

void virtio_queue_serve(struct virtio_queue *q)
{
	int64_t t0 = now_ns();

	serve(q);
	q->stats.busy_ns += (uint64_t)(now_ns() - t0);
}

static void serve(struct virtio_queue *q)
{
	struct virtio_dev *vd = q->dev;
	int r;

	if (!virtio_dev_running(vd) || !q->enabled || virtio_vhost_owns(q))
		return;
	if (q->device_paced) {
		r = vd->ops->queue_notify(vd, q);
		if (r < 0 || q->vq.broken)
			virtio_queue_failed(q, r);
		return;
	}
	/* While we serve, the driver need not kick (without EVENT_IDX this is
	 * the flag; with it, avail_event simply stays behind). */
	vq_set_notify(&q->vq, false);
	for (int pass = 0; pass < KICK_PASSES; pass++) {
		r = vd->ops->queue_notify(vd, q);
		if (r < 0 || q->vq.broken) {
			virtio_queue_failed(q, r);
			return;
		}
		if (q->host_blocked)
			return; /* the device serves q again when its host side has room */
		if (!vq_has_work(&q->vq) && !ring_empty(q))
			return;
	}
	/* Still busy after several passes: let other devices have their turn. */
	requeue(q);
}

void virtio_queue_kicked(struct virtio_queue *q)
{
	struct virtio_dev *vd = q->dev;

	if (!virtio_dev_running(vd) || !q->enabled)
		return;
	if (q->requeued) /* our own come-back, not the driver's */
		q->requeued = false;
	else
		q->stats.kicks++;
	if (virtio_vhost_owns(q)) {
		/* A kick that came the slow way (not through the ioeventfd):
		 * pass it on to the back-end, which waits on kick_fd. */
		if (eventfd_write(q->kick_fd, 1) < 0)
			log_err("%s: cannot pass a kick on: %s", vd->ops->name, strerror(errno));
		return;
	}
	holdoff_kicked(&q->holdoff);
	virtio_queue_serve(q);
}

static void holdoff_fired(void *arg, int fd, uint32_t events)
{
	struct virtio_queue *q = arg;

	(void)fd;
	(void)events;
	pci_dev_lock(&q->dev->pci);
	bool live = virtio_dev_running(q->dev) && q->enabled;

	switch (holdoff_tick(&q->holdoff, live && vq_has_work(&q->vq))) {
	case HOLDOFF_WORK:
		virtio_queue_serve(q);
		break;
	case HOLDOFF_WAIT:
		if (!live)
			holdoff_stop(&q->holdoff);
		break;
	case HOLDOFF_KICKS_ON:
		if (!live)
			break;
		vq_set_notify(&q->vq, true);
		if (vq_has_work(&q->vq))
			virtio_queue_serve(q);
		break;
	case HOLDOFF_NOTHING:
		break;
	}
	pci_dev_unlock(&q->dev->pci);
}

static void kick_cb(void *arg, int fd, uint32_t events)
{
	eventfd_t count;

	struct virtio_queue *q = arg;

	if (eventfd_read(fd, &count) == 0) {
		pci_dev_lock(&q->dev->pci);
		virtio_queue_kicked(q);
		pci_dev_unlock(&q->dev->pci);
	}
}

void virtio_queue_watch_kicks(struct virtio_queue *q, bool on)
{
	struct evloop *loop = q->dev->loop;

	if (on == q->kick_watched)
		return;
	if (on)
		q->kick_watched = evloop_add_fd(loop, q->kick_fd, EPOLLIN, kick_cb, q) == 0;
	else {
		evloop_del_fd(loop, q->kick_fd);
		q->kick_watched = false;
	}
}
