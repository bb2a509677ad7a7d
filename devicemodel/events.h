/*
 * events.h - what vdm announces without being asked: a device that needs a
 * reset, a data plane that moved.  Devices and the transport post events
 * from whichever thread they run on; the listener (the management API,
 * which turns them into {"event": ...} lines) hears them in order on vdm's
 * main loop.  With no listener, posting costs a lock and nothing else.
 */
#ifndef VDM_EVENTS_H
#define VDM_EVENTS_H

#include "evloop.h"

enum vdm_event_kind {
	VDM_EVENT_NEEDS_RESET,    /* text: why */
	VDM_EVENT_ROUTE_SWITCHED, /* from, to: routes as query-devices spells them */
};

struct vdm_event {
	enum vdm_event_kind kind;
	int slot, func;
	char device[24];          /* the emulation, "virtio-net" */
	char text[240];
	char from[160], to[160];
	int64_t when_us;          /* CLOCK_REALTIME, set by vdm_events_post */
};

struct vdm_events;

/* Events delivered on loop.  0 or -errno. */
int vdm_events_create(struct vdm_events **out, struct evloop *loop);
/* Undelivered events are dropped.  NULL is fine. */
void vdm_events_destroy(struct vdm_events *ev);

/* The one listener (NULL fn: none); called on the loop thread. */
void vdm_events_listen(struct vdm_events *ev, void (*fn)(void *opaque, const struct vdm_event *e),
		       void *opaque);

/* Post e (copied), from any thread.  ev NULL, no listener, or a backlog of
 * VDM_EVENTS_BACKLOG undelivered: dropped (a full backlog is logged once). */
#define VDM_EVENTS_BACKLOG 64
void vdm_events_post(struct vdm_events *ev, const struct vdm_event *e);

#endif /* VDM_EVENTS_H */
