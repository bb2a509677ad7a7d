/*
 * virtio_pacing.c - when and how long the transport serves a queue: kicks,
 * the passes a kick gets before other devices have their turn, and what
 * happens when a ring runs empty.
 *
 * Re-enabling kicks the moment a ring empties makes a back-end on a CPU of
 * its own take one kick per request, and a kick is a cross-CPU wake-up
 * (tens of microseconds here, against a few on one CPU): throughput then
 * depends on where the scheduler put the processes.  So after a ring runs
 * empty kicks can stay off for a short hold-off window while a timer looks
 * at the ring again; a driver that posts within the window needs no kick.
 * In auto mode the window is learnt per queue, as halt-polling does: it
 * grows when kicks come soon after being re-enabled or a window finds
 * work, and halves when a window finds none, so an idle queue costs one
 * timer expiry and then nothing.  While the device has requests of the
 * queue in flight, their completions look at the ring; the timer then only
 * sets the deadline after which kicks come back on, until completions went
 * to the driver (virtio_queue_completions_sent), when it ticks again.
 */
#include "virtio_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* How often one kick drains a queue before yielding to the event loop. */
#define KICK_PASSES 4
/* Auto mode: the first window, and the largest it grows to. */
#define AUTO_START_NS 8000u
#define AUTO_MAX_NS 64000u
/* How often a held-off queue's ring is looked at. */
#define CHECK_NS 4000u
#define FIXED_MAX_US 1000000u

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int virtio_poll_option(const char *opt, struct virtio_poll *p, char *err, size_t errlen)
{
	const char *v;
	char *end;

	if (strncmp(opt, "poll=", 5))
		return 0;
	v = opt + 5;
	if (!strcmp(v, "off")) {
		*p = (struct virtio_poll){ .mode = VIRTIO_POLL_OFF };
		return 1;
	}
	if (!strcmp(v, "auto")) {
		*p = (struct virtio_poll){ .mode = VIRTIO_POLL_AUTO };
		return 1;
	}
	errno = 0;
	unsigned long us = strtoul(v, &end, 10);
	if (!*v || *end || errno || us == 0 || us > FIXED_MAX_US || *v == '-') {
		snprintf(err, errlen, "poll must be off, auto or microseconds 1..%u, not '%s'",
			 FIXED_MAX_US, v);
		return -EINVAL;
	}
	*p = (struct virtio_poll){ .mode = VIRTIO_POLL_FIXED, .us = (uint32_t)us };
	return 1;
}

static uint32_t max_window(const struct virtio_queue *q)
{
	switch (q->poll.mode) {
	case VIRTIO_POLL_AUTO:
		return AUTO_MAX_NS;
	case VIRTIO_POLL_FIXED:
	case VIRTIO_POLL_PERIODIC:
		return q->poll.us * 1000u;
	default:
		return 0;
	}
}

/* Work came soon enough that a window would have caught it: widen. */
static void window_grow(struct virtio_queue *q)
{
	if (q->poll.mode != VIRTIO_POLL_AUTO)
		return;
	q->window_ns = q->window_ns ? q->window_ns * 2 : AUTO_START_NS;
	if (q->window_ns > AUTO_MAX_NS)
		q->window_ns = AUTO_MAX_NS;
}

/* A window found nothing: narrow, down to none. */
static void window_shrink(struct virtio_queue *q)
{
	if (q->poll.mode != VIRTIO_POLL_AUTO)
		return;
	q->window_ns /= 2;
	if (q->window_ns < AUTO_START_NS)
		q->window_ns = 0;
}

static void holdoff_fired(void *arg, int fd, uint32_t events);

/*
 * Kicks stay off for the window while a periodic timer looks at the ring
 * every CHECK_NS: work is then found within CHECK_NS of its arrival rather
 * than at the end of the window (the vdm thread sleeps in between).
 */
static bool arm_holdoff(struct virtio_queue *q)
{
	/* With requests in flight their completions look at the ring: the
	 * timer is only the deadline for re-enabling kicks. */
	bool busy = q->device_busy;
	uint32_t period = busy || q->window_ns < CHECK_NS ? q->window_ns : CHECK_NS;

	if (q->poll.mode == VIRTIO_POLL_PERIODIC)
		period = q->window_ns; /* acrn-dm's poll mode: every period, for good */
	struct itimerspec its;

	if (q->holdoff_fd < 0)
		return false;
	its.it_interval = (struct timespec){ .tv_sec = period / 1000000000u,
					     .tv_nsec = period % 1000000000u };
	its.it_value = its.it_interval;
	if (timerfd_settime(q->holdoff_fd, 0, &its, NULL))
		return false;
	q->holding = true;
	q->holding_busy = busy;
	q->holdoff_start_ns = now_ns();
	return true;
}

static void disarm_holdoff(struct virtio_queue *q)
{
	static const struct itimerspec off;

	if (q->holdoff_fd >= 0)
		timerfd_settime(q->holdoff_fd, 0, &off, NULL);
	q->holding = false;
}

/* Made at start, not when first needed: an I/O thread's loop takes new
 * watches only before it runs. */
int virtio_queue_pacing_init(struct virtio_queue *q)
{
	int ret;

	q->holdoff_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (q->holdoff_fd < 0)
		return -errno;
	ret = evloop_add_fd(q->dev->loop, q->holdoff_fd, EPOLLIN, holdoff_fired, q);
	if (ret) {
		close(q->holdoff_fd);
		q->holdoff_fd = -1;
	}
	return ret;
}

void virtio_queue_pacing_reset(struct virtio_queue *q)
{
	disarm_holdoff(q);
	q->window_ns = q->poll.mode == VIRTIO_POLL_FIXED || q->poll.mode == VIRTIO_POLL_PERIODIC
			       ? max_window(q)
			       : 0;
	q->kicks_on_ns = 0;
}

void virtio_queue_pacing_fini(struct virtio_queue *q)
{
	if (q->holdoff_fd < 0)
		return;
	evloop_del_fd(q->dev->loop, q->holdoff_fd);
	close(q->holdoff_fd);
	q->holdoff_fd = -1;
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
	q->kicks_on_ns = now_ns();
	return vq_has_work(&q->vq);
}

/*
 * The ring is empty.  Hold kicks off for the window if there is one;
 * otherwise re-arm them.  Returns true when the last look found work.
 */
static bool ring_empty(struct virtio_queue *q)
{
	if (q->window_ns && arm_holdoff(q))
		return false;
	return virtio_queue_rearm(q);
}

void virtio_queue_completions_sent(struct virtio_queue *q)
{
	/* Without this the driver's next request waits for the deadline (the
	 * whole window: 1 ms per request at QD1 with poll=1000), since kicks
	 * are off and nothing else is in flight to come back and look. */
	if (!q->holding || !q->holding_busy || q->device_busy || arm_holdoff(q))
		return;
	disarm_holdoff(q); /* no timer: kicks on, as without a window */
	if (virtio_queue_rearm(q))
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
	/* A kick soon after kicks came back on: a window would have saved it. */
	if (!q->holding && q->kicks_on_ns &&
	    now_ns() - q->kicks_on_ns < (int64_t)max_window(q))
		window_grow(q);
	virtio_queue_serve(q);
}

static void holdoff_check(struct virtio_queue *q);

static void holdoff_fired(void *arg, int fd, uint32_t events)
{
	struct virtio_queue *q = arg;
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return;
	pci_dev_lock(&q->dev->pci);
	holdoff_check(q);
	pci_dev_unlock(&q->dev->pci);
}

static void holdoff_check(struct virtio_queue *q)
{
	if (!q->holding)
		return;
	if (!virtio_dev_running(q->dev) || !q->enabled) {
		disarm_holdoff(q);
		return;
	}
	if (vq_has_work(&q->vq)) {
		q->stats.holdoff_hits++;
		disarm_holdoff(q);
		window_grow(q);
		virtio_queue_serve(q);
		return;
	}
	if (q->poll.mode == VIRTIO_POLL_PERIODIC ||
	    now_ns() - q->holdoff_start_ns < (int64_t)q->window_ns)
		return; /* look again at the next tick */
	/* Nothing came.  While requests were in flight that says nothing
	 * about how soon the driver posts (it may wait for them): keep the
	 * window, only let kicks back on. */
	if (!q->holding_busy) {
		q->stats.holdoff_misses++;
		window_shrink(q);
	}
	disarm_holdoff(q);
	vq_set_notify(&q->vq, true);
	q->kicks_on_ns = now_ns();
	if (vq_has_work(&q->vq))
		virtio_queue_serve(q);
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
