/*
 * holdoff.h - the notification hold-off policy, written once for every ring
 * vdm serves: its virtio-pci queues (virtio_pacing.c) and vdm-vhost-user's
 * rings (vdm_vhost_user.c).
 *
 * Re-enabling kicks the moment a ring runs empty makes a back-end on a CPU
 * of its own take one kick per request, and a kick is a cross-CPU wake-up
 * (tens of microseconds here, against a few on one CPU).  So after a ring
 * runs empty kicks can stay off for a short window while a timer looks at
 * the ring again every few microseconds; a driver that posts within the
 * window needs no kick.  In auto mode the window is learnt per ring, as
 * halt-polling does: it grows when kicks come soon after being re-enabled
 * or a window finds work, and halves when a window finds none, so an idle
 * ring costs one timer expiry and then nothing.  While requests of the ring
 * are in flight their completions look at the ring, so the timer only sets
 * the deadline after which kicks come back on, until completions reach the
 * driver (holdoff_completions_sent), when it ticks again.
 *
 * The owner serves the ring, turns its kicks on and off, watches h->fd on
 * its event loop and calls holdoff_tick when it fires.
 */
#ifndef VDM_HOLDOFF_H
#define VDM_HOLDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What a ring does after it runs empty: re-enable kicks at once (OFF), or
 * hold them off for a window first and look again from a timer, so a
 * driver that posts again soon needs no kick: a fixed window
 * (FIXED) or one that adapts to how soon the driver comes back and shrinks
 * to nothing on an idle queue (AUTO).  PERIODIC is acrn-dm's poll mode
 * (--virtio_poll): kicks stay off for good and the ring is looked at every
 * `us`.  UNSET takes vdm's default (--virtio_poll, else AUTO).
 */
enum virtio_poll_mode {
	VIRTIO_POLL_UNSET = 0,
	VIRTIO_POLL_AUTO,
	VIRTIO_POLL_OFF,
	VIRTIO_POLL_FIXED,
	VIRTIO_POLL_PERIODIC,
};

struct virtio_poll {
	enum virtio_poll_mode mode;
	uint32_t us;             /* FIXED: the window; PERIODIC: the period */
};

/* "poll=off|auto|USECS" into *p: 1 when opt was one (applied), 0 when it was
 * not, -EINVAL with a one-line reason in err. */
int virtio_poll_option(const char *opt, struct virtio_poll *p, char *err, size_t errlen);

struct holdoff {
	struct virtio_poll poll;  /* the ring's poll= (not UNSET) */
	int fd;                   /* timerfd, -1 before holdoff_init */
	bool holding;             /* kicks off, the timer will look at the ring */
	bool holding_busy;        /* ...with requests in flight: one look, at the deadline */
	uint32_t window_ns;       /* current window, 0 = none */
	int64_t kicks_on_ns;      /* when kicks were last re-enabled */
	int64_t start_ns;         /* when the current hold-off began */
	uint64_t hits;            /* a window found new work: a kick saved */
	uint64_t misses;          /* it found none: kicks re-enabled */
};

/* The timerfd; 0 or -errno.  holdoff_fini closes it. */
int holdoff_init(struct holdoff *h);
void holdoff_fini(struct holdoff *h);

/* Disarmed, and the window back to where a new ring starts. */
void holdoff_reset(struct holdoff *h);

/*
 * The ring ran empty.  True: kicks stay off and h->fd will fire; false: no
 * window (or no timer), the owner turns kicks on and calls
 * holdoff_kicks_on.  busy: requests of the ring are in flight.
 */
bool holdoff_begin(struct holdoff *h, bool busy);

/* The owner turned kicks on. */
void holdoff_kicks_on(struct holdoff *h);

/* A kick came from the driver: soon after kicks came back on, a window
 * would have saved it (auto mode widens). */
void holdoff_kicked(struct holdoff *h);

/* Stop holding (the ring stops, or serving takes over). */
void holdoff_stop(struct holdoff *h);

enum holdoff_verdict {
	HOLDOFF_NOTHING,  /* not holding (a late expiry): nothing to do */
	HOLDOFF_WORK,     /* work came: the hold-off is over, serve the ring */
	HOLDOFF_WAIT,     /* nothing yet, the window goes on */
	HOLDOFF_KICKS_ON, /* the window is over: turn kicks on, look once more */
};

/* h->fd fired (it is read here): what the owner does next.  has_work: the
 * ring has chains waiting. */
enum holdoff_verdict holdoff_tick(struct holdoff *h, bool has_work);

/*
 * Completions just reached the driver, which is likely to post again soon:
 * a hold-off that was waiting only for its deadline looks at the ring every
 * tick from now on.  busy: requests of the ring are still in flight (their
 * completions will look).  False when the timer could not be re-armed: the
 * hold-off is over and the owner turns kicks on.
 */
bool holdoff_completions_sent(struct holdoff *h, bool busy);

#endif
