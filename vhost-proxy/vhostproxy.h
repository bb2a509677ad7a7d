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

/* Start ring idx: NUM, BASE, ADDR, KICK, CALL and, for vhost-user with
 * protocol features, ENABLE. */
int vhost_dev_vring_start(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr);

/* Point a running ring's interrupts at another eventfd. */
int vhost_dev_vring_set_call(struct vhost_dev *d, unsigned idx, int call_fd);

/* Stop ring idx (GET_VRING_BASE); *base receives the next avail index the
 * back-end would have taken.  Stopping a ring that is not running is 0. */
int vhost_dev_vring_stop(struct vhost_dev *d, unsigned idx, uint16_t *base);

/* Kernel vhost-net: the TAP fd serving ring idx (-1 detaches it). */
int vhost_dev_net_set_backend(struct vhost_dev *d, unsigned idx, int tap_fd);

/* Kernel vhost-vsock: the guest's context ID, and start/stop. */
int vhost_dev_vsock_set_cid(struct vhost_dev *d, uint64_t cid);
int vhost_dev_vsock_set_running(struct vhost_dev *d, bool running);

/* vhost-user: the socket, readable or hung up only when the back-end went
 * away (a back-end sends nothing unasked on it).  Kernel: -1. */
int vhost_dev_fd(const struct vhost_dev *d);

/* True once a vhost-user back-end is known to be gone; every call then
 * fails with -ENOTCONN. */
bool vhost_dev_disconnected(const struct vhost_dev *d);

/* One line describing the last failure. */
const char *vhost_dev_error(const struct vhost_dev *d);

#endif /* VDM_VHOSTPROXY_H */
