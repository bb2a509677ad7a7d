/*
 * vhost_server_internal.h - what the vhost-user back-end side shares between
 * its message handling (vhost_user_server.c) and its memory table
 * (vhost_server_mem.c).  Not part of the API.
 */
#ifndef VDM_VHOST_SERVER_INTERNAL_H
#define VDM_VHOST_SERVER_INTERNAL_H

#include "vhostproxy.h"

#include <sys/types.h>

/* One region of the front-end's guest RAM, mapped here. */
struct vs_region {
	uint64_t gpa, size, uaddr;
	void *map;          /* what mmap returned (page-aligned) */
	size_t map_len;
	uint8_t *host;      /* gpa's byte in the mapping */
};

struct vs_mem {
	int n;
	struct vs_region r[VHOST_SERVER_MAX_REGIONS];
};

/* What the front-end set for one ring. */
struct vs_ring {
	uint16_t num;          /* 0: not set */
	bool addr_set;
	uint64_t desc_ua, avail_ua, used_ua; /* front-end user addresses */
	uint16_t base;         /* next avail index (SET_VRING_BASE, or where it stopped) */
	int kick_fd, call_fd, err_fd;
	bool started;          /* SET_VRING_KICK came, no GET_VRING_BASE since */
	bool enabled;          /* SET_VRING_ENABLE, or no protocol features */
	bool running;          /* the device serves it */
};

/* The in-flight region (GET/SET_INFLIGHT_FD), mapped here. */
struct vs_inflight {
	void *map;             /* NULL: none */
	size_t len;
	uint16_t num_queues, queue_size;
	size_t stride;         /* one queue's bytes */
};

struct vhost_server {
	struct vhost_server_dev dev;
	char path[108];
	dev_t sock_dev;        /* the socket file made here (removed at close if still it) */
	ino_t sock_ino;
	int listen_fd, conn_fd;
	bool owner;
	uint64_t features;     /* set by the front-end */
	bool features_set;     /* SET_FEATURES came */
	/* STATUS: the device status byte (virtio 1.2, 2.1) as the driver set
	 * it through SET_STATUS, less what the device refused (FEATURES_OK),
	 * plus what it set itself (NEEDS_RESET). */
	uint8_t status;
	uint64_t protocol_features;
	bool protocol_features_set; /* SET_PROTOCOL_FEATURES came (maybe before SET_FEATURES) */
	struct vs_mem mem;
	int backend_req_fd;    /* SET_BACKEND_REQ_FD: kept, nothing sent on it yet */
	struct vs_ring rings[VHOST_MAX_RINGS];
	struct vs_inflight inflight;
	char err[256];
};

/* Record a one-line reason; returns ret for tail calls. */
int vs_error(struct vhost_server *s, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Check a SET_MEM_TABLE's regions (n of them, fds[i] for region i) and map
 * them into *out.  Refused: no region or more than VHOST_SERVER_MAX_REGIONS,
 * empty or wrapping regions, regions overlapping in guest-physical or user
 * address space, an fd that is not a file at least mmap_offset + size long.
 * The fds stay the caller's.  Returns 0, or -errno with the reason in s.
 */
struct vu_region;
int vs_mem_map(struct vhost_server *s, struct vs_mem *out, const struct vu_region *regions, int n,
	       const int *fds);

/* Unmap every region of m and empty it. */
void vs_mem_unmap(struct vs_mem *m);

/* A mapping of the front-end's file whose pages may vanish under us
 * (vhost_server_guard.c): watched from just after mmap to just before
 * munmap. */
void vs_guard_add(void *map, size_t len);
void vs_guard_remove(void *map);

/* A front-end user address -> guest-physical, through the table; false when
 * ua is in no region. */
bool vs_mem_ua_to_gpa(const struct vs_mem *m, uint64_t ua, uint64_t *gpa);

/*
 * GET_INFLIGHT_FD: make a zeroed region for num_queues rings of queue_size
 * entries in a sealed memfd (it cannot shrink or grow), map it as the one
 * in force, and return its fd (the caller sends and closes it) with *out
 * filled for the reply.  SET_INFLIGHT_FD: map the region in fd as in
 * force.  Both check the request against the device (rings served, largest
 * ring) and the fd (a sealed file holding the whole region); a region
 * cannot change under a running ring.  0 / fd, or -errno with the reason
 * in s (vhost_server_inflight.c).
 */
struct vu_inflight;
int vs_inflight_get(struct vhost_server *s, const struct vu_inflight *req, struct vu_inflight *out);
int vs_inflight_set(struct vhost_server *s, const struct vu_inflight *req, int fd);

/* Unmap the region in force, if any. */
void vs_inflight_unmap(struct vs_inflight *in);

/* Ring idx's part of the region in force, or NULL (*len 0). */
void *vs_inflight_ring(const struct vhost_server *s, unsigned idx, size_t *len);

#endif /* VDM_VHOST_SERVER_INTERNAL_H */
