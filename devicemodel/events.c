/*
 * events.c - vdm's announcements (events.h): a bounded queue under a lock,
 * filled from any thread, drained on the main loop when its eventfd fires,
 * each event handed to the listener outside the lock (the listener may
 * post again).
 */
#include "events.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct vdm_events {
	struct evloop *loop;
	int fd; /* eventfd: something was posted */
	pthread_mutex_t lock;
	void (*listener)(void *opaque, const struct vdm_event *e);
	void *opaque;
	struct vdm_event queue[VDM_EVENTS_BACKLOG];
	unsigned head, count;
	bool overflow_logged;
};

static void drain(void *arg, int fd, uint32_t events)
{
	struct vdm_events *ev = arg;
	eventfd_t n;

	(void)events;
	(void)eventfd_read(fd, &n);
	for (;;) {
		struct vdm_event e;
		void (*fn)(void *, const struct vdm_event *);
		void *opaque;

		pthread_mutex_lock(&ev->lock);
		if (!ev->count) {
			pthread_mutex_unlock(&ev->lock);
			return;
		}
		e = ev->queue[ev->head];
		ev->head = (ev->head + 1) % VDM_EVENTS_BACKLOG;
		ev->count--;
		fn = ev->listener;
		opaque = ev->opaque;
		pthread_mutex_unlock(&ev->lock);
		if (fn)
			fn(opaque, &e);
	}
}

int vdm_events_create(struct vdm_events **out, struct evloop *loop)
{
	struct vdm_events *ev = calloc(1, sizeof(*ev));
	int ret;

	if (!ev)
		return -ENOMEM;
	ev->loop = loop;
	ev->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->fd < 0) {
		ret = -errno;
		free(ev);
		return ret;
	}
	ret = evloop_add_fd(loop, ev->fd, EPOLLIN, drain, ev);
	if (ret) {
		close(ev->fd);
		free(ev);
		return ret;
	}
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
}

void vdm_events_destroy(struct vdm_events *ev)
{
	if (!ev)
		return;
	evloop_del_fd(ev->loop, ev->fd);
	close(ev->fd);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void vdm_events_listen(struct vdm_events *ev, void (*fn)(void *opaque, const struct vdm_event *e),
		       void *opaque)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->listener = fn;
	ev->opaque = opaque;
	if (!fn)
		ev->count = 0; /* nobody will hear what waits */
	pthread_mutex_unlock(&ev->lock);
}

void vdm_events_post(struct vdm_events *ev, const struct vdm_event *e)
{
	struct timespec ts;
	bool full;

	if (!ev)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&ev->lock);
	full = ev->count == VDM_EVENTS_BACKLOG;
	if (ev->listener && !full) {
		struct vdm_event *slot = &ev->queue[(ev->head + ev->count) % VDM_EVENTS_BACKLOG];

		*slot = *e;
		slot->when_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		ev->count++;
	}
	if (ev->listener && full && !ev->overflow_logged) {
		ev->overflow_logged = true;
		pthread_mutex_unlock(&ev->lock);
		log_warn("events: %d undelivered; later ones are dropped", VDM_EVENTS_BACKLOG);
		return;
	}
	pthread_mutex_unlock(&ev->lock);
	(void)eventfd_write(ev->fd, 1);
}
