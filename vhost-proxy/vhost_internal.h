/*
 * vhost_internal.h - what libvhostproxy's state machine (vhost.c) and its two
 * transports (vhost_kernel.c, vhost_user.c) share.  Not part of the API.
 *
 * The state machine checks order and arguments; a transport only turns each
 * step into its ioctl or message.  Transport functions return 0 or -errno and
 * describe a failure with vhost_set_error().
 */
#ifndef VDM_VHOST_INTERNAL_H
#define VDM_VHOST_INTERNAL_H

#include "vhostproxy.h"

enum vhost_state {
	VHOST_OPEN,         /* owner set, features read */
	VHOST_FEATURES_SET, /* SET_FEATURES done */
	VHOST_MEM_SET,      /* memory table given: rings may start */
};

struct vhost_transport_ops {
	/* Connect/open path, take ownership, read features into d->features
	 * (and, vhost-user, negotiate protocol features). */
	int (*open)(struct vhost_dev *d);
	void (*close)(struct vhost_dev *d);
	int (*set_features)(struct vhost_dev *d, uint64_t features);
	int (*set_mem_table)(struct vhost_dev *d, const struct vhost_mem_region *r, int n);
	int (*vring_start)(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr);
	int (*vring_set_call)(struct vhost_dev *d, unsigned idx, int fd);
	int (*vring_stop)(struct vhost_dev *d, unsigned idx, uint16_t *base);
	/* Optional. */
	int (*get_config)(struct vhost_dev *d, uint32_t off, void *buf, uint32_t len);
	int (*set_config)(struct vhost_dev *d, uint32_t off, const void *buf, uint32_t len);
	int (*net_set_backend)(struct vhost_dev *d, unsigned idx, int fd);
	int (*vsock_set_cid)(struct vhost_dev *d, uint64_t cid);
	int (*vsock_set_running)(struct vhost_dev *d, bool running);
	/* Optional: vhost-user in-flight tracking (vhost_dev_get_inflight). */
	int (*get_inflight)(struct vhost_dev *d, uint16_t nq, uint16_t qs,
			    struct vhost_inflight *o);
	int (*set_inflight)(struct vhost_dev *d, const struct vhost_inflight *in);
	/* Optional: a round trip behind every message sent (see vhost_dev_sync). */
	int (*sync)(struct vhost_dev *d);
};

struct vhost_dev {
	const struct vhost_transport_ops *ops;
	enum vhost_transport transport;
	char path[108];
	int fd;                      /* vhost device node, or the vhost-user socket */
	enum vhost_state state;
	uint64_t features;           /* back-end's, as read */
	uint64_t acked_features;     /* what SET_FEATURES sent */
	bool running[VHOST_MAX_RINGS];
	/* vhost-user */
	uint64_t protocol_features;  /* negotiated */
	bool has_config;             /* the transport can get/set config space */
	bool has_inflight;           /* INFLIGHT_SHMFD negotiated */
	unsigned max_rings;          /* rings the back-end serves (GET_QUEUE_NUM); 0: not said */
	uint64_t proto_feature_bit;  /* VHOST_USER_F_PROTOCOL_FEATURES if offered, else 0 */
	bool disconnected;
	int reply_timeout_ms;        /* 0: VU_TIMEOUT_MS (vhost_user.c) */
	char err[200];
};

/* Record a one-line failure description; returns ret for tail calls. */
int vhost_set_error(struct vhost_dev *d, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* vhost-user: the exchange after connecting (features, protocol features,
 * owner), on d->fd. */
int vhost_user_handshake(struct vhost_dev *d);

/*
 * Open a vhost-user device on an fd already connected to a back-end (the
 * seam of tests/fuzz/fuzz_vhost_user.c and tests/unit/test_vhost_user.c).
 * Takes fd; name is for messages; each reply must be complete within
 * reply_timeout_ms (0: the default).  Returns 0 or -errno with err set,
 * like vhost_dev_open.
 */
int vhost_dev_open_connected(struct vhost_dev **out, int fd, const char *name,
			     int reply_timeout_ms, char *err, size_t errlen);

extern const struct vhost_transport_ops vhost_kernel_ops;
extern const struct vhost_transport_ops vhost_user_ops;

#endif /* VDM_VHOST_INTERNAL_H */
