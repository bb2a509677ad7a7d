/*
 * holdoff.c - the notification hold-off policy (holdoff.h): the window, how
 * it is learnt, and the timer that looks at the ring while kicks are off.
 */
#include "holdoff.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Auto mode: the first window, and the largest it grows to. */
#define AUTO_START_NS 8000u
#define AUTO_MAX_NS 64000u
/* How often a held-off ring is looked at (bench/README.md: 4 against 8 us). */
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

static uint32_t max_window(const struct holdoff *h)
{
	switch (h->poll.mode) {
	case VIRTIO_POLL_AUTO:
		return AUTO_MAX_NS;
	case VIRTIO_POLL_FIXED:
	case VIRTIO_POLL_PERIODIC:
		return h->poll.us * 1000u;
	default:
		return 0;
	}
}

/* Work came soon enough that a window would have caught it: widen. */
static void window_grow(struct holdoff *h)
{
	if (h->poll.mode != VIRTIO_POLL_AUTO)
		return;
	h->window_ns = h->window_ns ? h->window_ns * 2 : AUTO_START_NS;
	if (h->window_ns > AUTO_MAX_NS)
		h->window_ns = AUTO_MAX_NS;
}

/* A window found nothing: narrow, down to none. */
static void window_shrink(struct holdoff *h)
{
	if (h->poll.mode != VIRTIO_POLL_AUTO)
		return;
	h->window_ns /= 2;
	if (h->window_ns < AUTO_START_NS)
		h->window_ns = 0;
}

/*
 * Kicks stay off for the window while a periodic timer looks at the ring
 * every CHECK_NS: work is then found within CHECK_NS of its arrival rather
 * than at the end of the window (the thread sleeps in between).  With
 * requests in flight their completions look at the ring: the timer is only
 * the deadline for turning kicks on.
 */
static bool arm(struct holdoff *h, bool busy)
{
	uint32_t period = busy || h->window_ns < CHECK_NS ? h->window_ns : CHECK_NS;
	struct itimerspec its;

	if (h->poll.mode == VIRTIO_POLL_PERIODIC)
		period = h->window_ns; /* acrn-dm's poll mode: every period, for good */
	if (h->fd < 0)
		return false;
	its.it_interval = (struct timespec){ .tv_sec = period / 1000000000u,
					     .tv_nsec = period % 1000000000u };
	its.it_value = its.it_interval;
	if (timerfd_settime(h->fd, 0, &its, NULL))
		return false;
	h->holding = true;
	h->holding_busy = busy;
	h->start_ns = now_ns();
	return true;
}

void holdoff_stop(struct holdoff *h)
{
	static const struct itimerspec off;

	if (h->fd >= 0)
		timerfd_settime(h->fd, 0, &off, NULL);
	h->holding = false;
}

int holdoff_init(struct holdoff *h)
{
	h->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return h->fd < 0 ? -errno : 0;
}

void holdoff_fini(struct holdoff *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->holding = false;
}

void holdoff_reset(struct holdoff *h)
{
	holdoff_stop(h);
	h->window_ns = h->poll.mode == VIRTIO_POLL_FIXED || h->poll.mode == VIRTIO_POLL_PERIODIC
			       ? max_window(h)
			       : 0;
	h->kicks_on_ns = 0;
}

bool holdoff_begin(struct holdoff *h, bool busy)
{
	return h->window_ns && arm(h, busy);
}

void holdoff_kicks_on(struct holdoff *h)
{
	h->kicks_on_ns = now_ns();
}

void holdoff_kicked(struct holdoff *h)
{
	if (!h->holding && h->kicks_on_ns && now_ns() - h->kicks_on_ns < (int64_t)max_window(h))
		window_grow(h);
}

enum holdoff_verdict holdoff_tick(struct holdoff *h, bool has_work)
{
	uint64_t expirations;

	if (read(h->fd, &expirations, sizeof(expirations)) < 0 || !h->holding)
		return HOLDOFF_NOTHING;
	if (has_work) {
		h->hits++;
		holdoff_stop(h);
		window_grow(h);
		return HOLDOFF_WORK;
	}
	if (h->poll.mode == VIRTIO_POLL_PERIODIC || now_ns() - h->start_ns < (int64_t)h->window_ns)
		return HOLDOFF_WAIT; /* look again at the next tick */
	/* Nothing came.  While requests were in flight that says nothing
	 * about how soon the driver posts (it may wait for them): keep the
	 * window, only let kicks back on. */
	if (!h->holding_busy) {
		h->misses++;
		window_shrink(h);
	}
	holdoff_stop(h);
	h->kicks_on_ns = now_ns();
	return HOLDOFF_KICKS_ON;
}

bool holdoff_completions_sent(struct holdoff *h, bool busy)
{
	/* Without this the driver's next request waits for the deadline (the
	 * whole window: 1 ms per request at QD1 with poll=1000), since kicks
	 * are off and nothing else in flight comes back to look. */
	if (!h->holding || !h->holding_busy || busy || arm(h, false))
		return true;
	holdoff_stop(h);
	return false;
}
