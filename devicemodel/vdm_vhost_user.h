/*
 * vdm_vhost_user.h - what vdm-vhost-user's program (vdm_vhost_user.c: the
 * command line, the socket, the rings) shares with the devices it serves
 * (vdm_vhost_user_blk.c, vdm_vhost_user_console.c, vdm_vhost_user_net.c;
 * virtio-rnd is small enough to live in the program): the daemon's rings
 * and the hooks an emulation fills in.
 * Everything runs on the daemon's one event-loop thread.
 */
#ifndef VDM_VDM_VHOST_USER_H
#define VDM_VDM_VHOST_USER_H

#include "evloop.h"
#include "holdoff.h"
#include "log.h"
#include "vbsu.h"
#include "vhostproxy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vvu_daemon;

/* One ring while the front-end lets us serve it. */
struct vvu_ring {
	struct vvu_daemon *dm;
	unsigned idx;
	struct vqueue vq;
	bool running;
	/* The device has no room for more requests now: the ring is served
	 * again when some complete (vvu_ring_serve), not on a kick. */
	bool blocked;
	int kick_fd;             /* the server's; watched while running */
	int resume_fd;           /* ours: more work waits after a turn's budget */
	/* Receive-style ring (set by the emulation's open): its buffers wait
	 * for data from the host side, which brings it back, so no hold-off. */
	bool device_paced;
	/* Requests taken from the ring are in flight (set by the emulation):
	 * their completions look at the ring (holdoff.h). */
	bool busy;
	struct holdoff holdoff;  /* kicks held off after the ring ran empty */
	struct ratelimit rl;
};

/* An emulation vdm-vhost-user serves: vdm's VBS-U back-end behind hooks. */
struct vvu_emul {
	const char *name;        /* as vdm's -s spells it; options parsed by vdm's parser */
	bool takes_options;      /* false: every option of vdm's is vdm's own (PCI, route) */
	/* Optional: refuse parsed options that mean nothing here.  0, or
	 * -EINVAL with a one-line reason in err (the daemon exits 2). */
	int (*check)(const void *cfg, char *err, size_t errlen);
	/* Open the back-end from the parsed options (vdm's devemu config, NULL
	 * without options; it outlives the daemon) and fill dm's features,
	 * nrings and config.  0, or -errno with a one-line reason in err (the
	 * daemon exits 1). */
	int (*open)(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen);
	/* Optional: ring r starts with the features the front-end set (before
	 * it is first served).  0, or -errno with a one-line reason in err
	 * (the connection ends). */
	int (*ring_started)(struct vvu_daemon *dm, struct vvu_ring *r, uint64_t features,
			    char *err, size_t errlen);
	/* Take up to budget chains from r's ring; set r->blocked when the
	 * device has no room for more.  Chains taken (>= 0), or -errno when the
	 * driver broke the ring. */
	int (*process)(struct vvu_daemon *dm, struct vvu_ring *r, int budget);
	/* Optional: finish everything in flight, completions on their used
	 * rings (a ring stops, guest memory moves or the front-end leaves: no
	 * request may touch guest memory after). */
	void (*quiesce)(struct vvu_daemon *dm);
	/* Optional: make completed writes durable and release the back-end. */
	void (*close)(struct vvu_daemon *dm);
};

struct vvu_daemon {
	const struct vvu_emul *emul;
	struct evloop *loop;
	struct vhost_server *server;
	const char *path;
	uint64_t features;       /* offered: ring bits and the device's */
	bool packed;             /* packed=on: the packed ring offered too */
	unsigned nrings;
	uint8_t config[256];     /* config space served with GET_CONFIG (CONFIG) */
	uint32_t config_len;     /* 0: none, the CONFIG protocol feature is not offered */
	struct virtio_poll poll; /* poll= as given (UNSET is auto) */
	void *dev;               /* the emulation's own state */
	struct vvu_ring rings[VHOST_MAX_RINGS];
	struct ratelimit refused_rl;
	struct ratelimit status_rl;   /* the front-end's driver status refused */
};

/* The hold-off for the rings of the front-end on conn_fd: poll=off or
 * USECS as given; auto (the default) is off when that front-end and the
 * daemon are held to the very same CPU and vdm's adaptive hold-off
 * otherwise (vdm_vhost_user_placement.c).  Logged. */
struct virtio_poll vvu_front_end_poll(struct vvu_daemon *dm, int conn_fd);

/* Serve r now (its device has room again, or work waits). */
void vvu_ring_serve(struct vvu_ring *r);

/* Requests of r completed outside vvu_ring_serve: interrupt the driver if
 * EVENT_IDX / NO_INTERRUPT let us. */
void vvu_ring_completed(struct vvu_ring *r);

/* After vvu_ring_completed outside vvu_ring_serve, with r->busy set anew:
 * the driver is likely to post again soon (holdoff_completions_sent). */
void vvu_ring_completions_sent(struct vvu_ring *r);

/* The ring bits every emulation offers: VERSION_1, INDIRECT_DESC, EVENT_IDX. */
uint64_t vvu_ring_features(void);

extern const struct vvu_emul vvu_emul_blk;
extern const struct vvu_emul vvu_emul_console;
extern const struct vvu_emul vvu_emul_net;

#endif /* VDM_VDM_VHOST_USER_H */
