/*
 * vhostproxy.h - libvhostproxy: a vhost front-end that hands a virtio
 * device's data plane to a back-end outside vdm, either kernel vhost (ioctls
 * of <linux/vhost.h> on /dev/vhost-net or /dev/vhost-vsock) or a vhost-user
 * back-end on a UNIX socket.  Both transports share one state machine:
 *
 *   open (owner set, back-end features known)
 *     -> set_features -> set_mem_table -> vring_start per queue   [running]
 *     -> vring_stop per queue (GET_VRING_BASE: the ring's state is known)
 *     -> set_features ... again, or close.
 *
 * A call made out of order fails with -EPROTO and leaves the state as it
 * was.  The library owns no event loop and no thread: every call is
 * synchronous (a vhost-user back-end that does not answer within a few
 * seconds is an error), and the caller watches vhost_dev_fd() to learn that
 * a vhost-user back-end went away.  Functions return 0 or a negative errno;
 * the last failure is described in one line by vhost_dev_error().
 *
 * The library also has the other end of vhost-user (vhost_server_*, at the
 * bottom): the back-end side that vdm-vhost-user uses to serve vdm's own
 * VBS-U back-ends to any vhost-user front-end.
 */
#ifndef VDM_VHOSTPROXY_H
#define VDM_VHOSTPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rings one device can hand to a back-end (indexes 0..VHOST_MAX_RINGS-1):
 * the library's limit, and so every vhost route's. */
#define VHOST_MAX_RINGS 8

struct vhost_dev;

enum vhost_transport {
	VHOST_TRANSPORT_KERNEL,
	VHOST_TRANSPORT_USER,
};

/* Largest memory table either transport takes here (vhost-user's baseline). */
#define VHOST_MAX_MEM_REGIONS 8

/* One region of guest RAM as the back-end must see it. */
struct vhost_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;      /* where vdm has it mapped (ring addresses use these) */
	int fd;              /* vhost-user: the fd the back-end maps */
	uint64_t fd_offset;  /* vhost-user: offset of gpa in fd */
};

/* One ring to start.  Addresses are vdm's user addresses (uaddr space). */
struct vhost_vring {
	uint16_t num;
	uint16_t base;       /* next avail index the back-end takes */
	uint64_t desc, avail, used;
	int kick_fd;         /* the back-end waits on it for the driver's kicks */
	int call_fd;         /* the back-end writes it to interrupt the driver */
	/* The back-end writes it when it gives up on the ring (a malformed
	 * one: vhost-user SET_VRING_ERR, kernel VHOST_SET_VRING_ERR); -1:
	 * none given, and a broken ring stays silent until a reset. */
	int err_fd;
};

/*
 * Open a back-end: for VHOST_TRANSPORT_KERNEL path is a device node
 * (/dev/vhost-net, /dev/vhost-vsock); for VHOST_TRANSPORT_USER a UNIX stream
 * socket a back-end listens on.  Takes ownership (SET_OWNER), reads the
 * back-end's features and, for vhost-user, negotiates protocol features
 * (REPLY_ACK and CONFIG where offered).  On failure returns -errno and a
 * one-line reason naming path in err.
 */
int vhost_dev_open(struct vhost_dev **out, enum vhost_transport t, const char *path, char *err,
		   size_t errlen);

/* Stop every ring still running and release the back-end.  NULL allowed. */
void vhost_dev_close(struct vhost_dev *d);

/* The back-end's virtio feature bits (transport-private bits removed). */
uint64_t vhost_dev_features(const struct vhost_dev *d);

/* True when the back-end serves the device config space (vhost-user CONFIG). */
bool vhost_dev_has_config(const struct vhost_dev *d);

/* How many rings the back-end serves, when it says (vhost-user MQ:
 * GET_QUEUE_NUM); 0 when it does not. */
unsigned vhost_dev_max_rings(const struct vhost_dev *d);

/* Read / write len bytes of device config space at off (vhost-user CONFIG). */
int vhost_dev_get_config(struct vhost_dev *d, uint32_t off, void *buf, uint32_t len);
int vhost_dev_set_config(struct vhost_dev *d, uint32_t off, const void *buf, uint32_t len);

/* The features the driver accepted (must be a subset of the back-end's). */
int vhost_dev_set_features(struct vhost_dev *d, uint64_t features);

/* Guest memory as the back-end sees it; replaces any earlier table. */
int vhost_dev_set_mem_table(struct vhost_dev *d, const struct vhost_mem_region *r, int n);

/* Start ring idx: NUM, BASE, ADDR, CALL, ERR (when vr->err_fd >= 0), KICK
 * and, for vhost-user with protocol features, ENABLE. */
int vhost_dev_vring_start(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr);

/* Point a running ring's interrupts at another eventfd. */
int vhost_dev_vring_set_call(struct vhost_dev *d, unsigned idx, int call_fd);

/* Stop ring idx (GET_VRING_BASE); *base receives the next avail index the
 * back-end would have taken.  Stopping a ring that is not running is 0. */
int vhost_dev_vring_stop(struct vhost_dev *d, unsigned idx, uint16_t *base);

/*
 * vhost-user in-flight tracking (INFLIGHT_SHMFD): a region of shared memory
 * the back-end keeps its rings' requests in flight in, made by the back-end
 * (vhost_dev_get_inflight), kept by vdm, and handed to each back-end that
 * serves the device (vhost_dev_set_inflight) before its rings start, so one
 * that replaces a dead one serves again what that one held.  vdm maps it
 * too where that is safe, to read what a back-end holds; a guest reset of
 * the device makes vdm drop it and ask for a new one.
 */
struct vhost_inflight {
	int fd;               /* -1: no region */
	void *map;            /* size bytes of fd from offset; NULL: not mapped */
	uint64_t size, offset;
	uint16_t num_queues, queue_size;
};

/* True when the back-end tracks requests in flight (INFLIGHT_SHMFD). */
bool vhost_dev_has_inflight(const struct vhost_dev *d);

/*
 * Ask the back-end for a region for num_queues rings of up to queue_size
 * entries (after set_features, before the rings start).  *out gets the
 * region, or out->fd = -1 when the back-end declined (a region of size 0).
 * It is mapped only when its file is sealed against shrinking (else the
 * back-end could cut it short under the mapping); unsealed, it is only
 * kept to be handed back.  A region whose fd is not a file holding size
 * bytes at a page-aligned offset, or which is unreasonably large, is
 * refused (-EPROTO): the back-end is hostile like any other input.  The
 * caller frees it with vhost_inflight_free.
 */
int vhost_dev_get_inflight(struct vhost_dev *d, uint16_t num_queues, uint16_t queue_size,
			   struct vhost_inflight *out);

/* Hand the region to the back-end (after set_features, before the rings
 * start). */
int vhost_dev_set_inflight(struct vhost_dev *d, const struct vhost_inflight *in);

/* Unmap and close a region; it becomes "none".  NULL or none allowed. */
void vhost_inflight_free(struct vhost_inflight *in);

/* Kernel vhost-net: the TAP fd serving ring idx (-1 detaches it). */
int vhost_dev_net_set_backend(struct vhost_dev *d, unsigned idx, int tap_fd);

/* Kernel vhost-vsock: the guest's context ID, and start/stop. */
int vhost_dev_vsock_set_cid(struct vhost_dev *d, uint64_t cid);
int vhost_dev_vsock_set_running(struct vhost_dev *d, bool running);

/* Return once the back-end has taken every message sent so far (vhost-user
 * messages without REPLY_ACK are not answered: a request that is gets a
 * round trip; kernel vhost's ioctls are synchronous).  0, or -errno when it
 * failed or went away meanwhile. */
int vhost_dev_sync(struct vhost_dev *d);

/* vhost-user: the socket, readable or hung up only when the back-end went
 * away (a back-end sends nothing unasked on it).  Kernel: -1. */
int vhost_dev_fd(const struct vhost_dev *d);

/* True once a vhost-user back-end is known to be gone; every call then
 * fails with -ENOTCONN. */
bool vhost_dev_disconnected(const struct vhost_dev *d);

/* One line describing the last failure. */
const char *vhost_dev_error(const struct vhost_dev *d);

/* ---- The back-end side of vhost-user (vhost_user_server.c) ----
 *
 * A server listens on a UNIX socket and serves one front-end at a time (a
 * second one is accepted and closed at once).  It answers the front-end's
 * requests, maps the memory table it sends, and keeps each ring's size,
 * addresses, base index and fds; the device behind it (struct
 * vhost_server_dev) serves the rings once they are started and enabled.
 * Every message is hostile input: sizes, ring indexes, fd counts, memory
 * regions and ring addresses are checked, and a message that breaks a rule
 * ends the connection (vhost_server_handle fails, vhost_server_error says
 * why); the server then waits for the next front-end.
 *
 * Like the front-end, the server owns no event loop and no thread: the
 * caller watches vhost_server_listen_fd() and vhost_server_conn_fd() and
 * calls vhost_server_accept() and vhost_server_handle() when they are
 * readable.  Protocol features offered: MQ, REPLY_ACK, BACKEND_REQ, STATUS
 * (the driver's device status: with it negotiated, no ring is served while
 * the status has NEEDS_RESET or FAILED; FEATURES_OK is refused, left out of
 * GET_STATUS's answer, when the features set are not acceptable;
 * SET_STATUS 0 stops the rings where they are, as a reset, until their next
 * KICK; DRIVER_OK is not waited for, as some front-ends never send it),
 * CONFIG
 * for a device with a config space (read-only: SET_CONFIG is refused), and
 * INFLIGHT_SHMFD for a device that tracks its rings' chains in flight
 * (GET_INFLIGHT_FD makes a sealed memfd of the device's layout, which the
 * front-end keeps and hands back with SET_INFLIGHT_FD, to this process or
 * the next one on the socket).  Not served: dirty-page logging (LOG_ALL,
 * SET_LOG_BASE: refused, so no live migration).
 */
struct vhost_server;

/* A ring the front-end has set up, as the device is to start serving it. */
struct vhost_server_ring {
	uint16_t num;
	uint16_t base;       /* next avail index to take */
	/* Guest-physical (the front-end's user addresses translated through
	 * the memory table); reach them with vhost_server_translate. */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd;         /* the server's; readable when the driver kicked */
	uint64_t features;   /* the virtio features the front-end set */
	/* INFLIGHT_SHMFD: this ring's part of the front-end's in-flight region
	 * (inflight_len bytes, at least inflight_queue_bytes(num)), or NULL
	 * when it sent none or none for this ring. */
	void *inflight;
	size_t inflight_len;
};

/* The device a server serves.  Callbacks run inside vhost_server_handle
 * (and vhost_server_disconnect) on the caller's thread. */
struct vhost_server_dev {
	const char *name;          /* for messages */
	uint64_t features;         /* virtio features offered (VERSION_1, ring and device bits) */
	unsigned nrings;           /* rings served: 1..VHOST_MAX_RINGS */
	uint16_t max_ring_size;    /* largest SET_VRING_NUM taken (a power of two) */
	/* Serve ring idx from now on (watch r->kick_fd, take from r->base).
	 * 0, or -errno with a reason in err: the connection ends. */
	int (*ring_start)(void *opaque, unsigned idx, const struct vhost_server_ring *r, char *err,
			  size_t errlen);
	/* Stop serving ring idx (stop watching its kick fd); *next_avail gets
	 * the next avail index it would have taken. */
	void (*ring_stop)(void *opaque, unsigned idx, uint16_t *next_avail);
	/* A new memory table replaced the one running rings were set up in:
	 * look them up again.  0, or -errno with a reason in err. */
	int (*mem_changed)(void *opaque, char *err, size_t errlen);
	/* The device's config space (virtio 1.2, 4.1.4.6), little-endian as
	 * the driver reads it, config_len bytes: offered through the CONFIG
	 * protocol feature and read with GET_CONFIG.  NULL: not offered.  It
	 * is read-only here (SET_CONFIG is refused), so the device offers no
	 * feature that makes a field writable. */
	const void *config;
	uint32_t config_len;
	/* Bytes one ring of queue_size entries takes in the in-flight region
	 * (INFLIGHT_SHMFD; libvbsu's vq_inflight_queue_bytes).  NULL: the
	 * feature is not offered. */
	size_t (*inflight_queue_bytes)(uint16_t queue_size);
	/* Optional: the device status byte changed (STATUS: SET_STATUS, or a
	 * ring reported broken); why says what the server refused or set on
	 * its own ("" when it took the driver's value as it came). */
	void (*status_changed)(void *opaque, uint8_t old_status, uint8_t status, const char *why);
	void *opaque;
};

/* Largest memory table a front-end may send (vhost-user without the
 * CONFIGURE_MEM_SLOTS protocol feature). */
#define VHOST_SERVER_MAX_REGIONS 8

/*
 * Listen on path for front-ends of dev (copied; its callbacks and opaque
 * must outlive the server).  A stale socket file at path is replaced; any
 * other file there is refused (-EEXIST).  Returns 0, or -errno with a
 * one-line reason in err.
 */
int vhost_server_open(struct vhost_server **out, const char *path,
		      const struct vhost_server_dev *dev, char *err, size_t errlen);

/* Drop the front-end (if any), stop listening and remove the socket file
 * if it is still the one made here.  NULL allowed. */
void vhost_server_close(struct vhost_server *s);

/* The listening socket: readable when a front-end connects. */
int vhost_server_listen_fd(const struct vhost_server *s);

/*
 * Take the connecting front-end.  0: it is now the server's front-end (watch
 * vhost_server_conn_fd()); -EBUSY: one is already connected, so this one was
 * closed (vhost_server_error says so); -EAGAIN: nobody was there after all;
 * another -errno: accept failed.
 */
int vhost_server_accept(struct vhost_server *s);

/* The connected front-end's socket, or -1. */
int vhost_server_conn_fd(const struct vhost_server *s);

/*
 * Read and answer one message from the front-end.  0: the connection goes
 * on.  -ECONNRESET: the front-end closed it; another -errno: the message
 * broke a rule (vhost_server_error says which).  On any failure the caller
 * stops watching the connection and calls vhost_server_disconnect.
 */
int vhost_server_handle(struct vhost_server *s);

/* End the connection: stop the running rings, close their fds, unmap the
 * memory table, forget what was negotiated.  No front-end: nothing. */
void vhost_server_disconnect(struct vhost_server *s);

/* A vq_translate_fn (vbsu.h) for the rings and buffers of the front-end's
 * guest: host pointer for [gpa, gpa+len), NULL unless wholly inside one
 * region of the memory table.  opaque is the struct vhost_server. */
void *vhost_server_translate(void *opaque, uint64_t gpa, uint64_t len);

/* Interrupt the driver for ring idx (write its call fd; none: nothing). */
void vhost_server_call(struct vhost_server *s, unsigned idx);

/* Tell the front-end ring idx is broken (write its error fd, if it gave one;
 * with STATUS the device status gets NEEDS_RESET as well). */
void vhost_server_ring_error(struct vhost_server *s, unsigned idx);

/* One line describing the last failure or refusal. */
const char *vhost_server_error(const struct vhost_server *s);

/*
 * Survive a front-end that truncates a file of its memory table after
 * sending it (a hostile one; a file not sealed against shrinking lets it):
 * from now on a SIGBUS in a mapped region backs the page with zeros instead
 * of killing the process, and makes the returned eventfd readable.  The
 * owner watches it and, when vhost_server_guard_fault says so, drops the
 * front-end.  Process-wide (a SIGBUS handler); call once, before serving.
 * Returns the fd (the process keeps it), or -errno.
 */
int vhost_server_guard_memory(void);

/* The guard's fd fired (it is read here): true if a page of s's table
 * faulted, *gpa its guest-physical address (UINT64_MAX when no longer in
 * the table). */
bool vhost_server_guard_fault(const struct vhost_server *s, uint64_t *gpa);

#endif /* VDM_VHOSTPROXY_H */
