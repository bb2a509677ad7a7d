/*
 * vhost_user_proto.h - the vhost-user wire format (QEMU's
 * docs/interop/vhost-user.rst) as both of libvhostproxy's ends speak it: the
 * front-end (vhost_user.c, vdm asking a back-end) and the back-end
 * (vhost_user_server.c, vdm-vhost-user answering a front-end).  Not part of
 * the API.
 *
 * A message is a 12-byte header (request, flags, payload size) and then the
 * payload; file descriptors ride as SCM_RIGHTS on the header.  Layouts are
 * little-endian x86_64, as the peers are on the same host.
 */
#ifndef VDM_VHOST_USER_PROTO_H
#define VDM_VHOST_USER_PROTO_H

#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21, /* the back-end's own channel to the front-end */
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31, /* the back-end's in-flight region, made for the front-end */
	VU_SET_INFLIGHT_FD = 32, /* ... and handed back at each start */
	VU_SET_STATUS = 39,      /* the driver's device status byte (STATUS) */
	VU_GET_STATUS = 40,      /* ... and the device's, as the driver re-reads it */
};

#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_F_PROTOCOL_FEATURES 30 /* a virtio feature bit with a vhost-user meaning */
#define VU_F_LOG_ALL 26           /* VHOST_F_LOG_ALL: dirty-page logging (migration) */
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_BACKEND_REQ 5
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VU_PROTOCOL_F_STATUS 16
#define VU_VRING_INDEX_MASK 0xffULL /* SET_VRING_KICK/CALL/ERR: ring index bits */
#define VU_VRING_NOFD (1ULL << 8)   /* ... and "no fd comes with this one" */
#define VU_VRING_F_LOG 1u           /* SET_VRING_ADDR flags: log the used ring */
/* Regions in SET_MEM_TABLE without the CONFIGURE_MEM_SLOTS protocol feature. */
#define VU_MAX_MEM_REGIONS 8
#define VU_MAX_CONFIG 256 /* the config message's region */

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_state {
	uint32_t index;
	uint32_t num;
};

struct vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_MEM_REGIONS];
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_MAX_CONFIG];
};

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD: the region (the reply's, and what
 * SET hands back with its fd) and the rings it tracks. */
struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding; /* the C struct's tail padding, sent as part of it */
};

_Static_assert(sizeof(struct vu_inflight) == 24, "inflight payload is 24 bytes");
_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vu_addr) == 40, "vring address payload is 40 bytes");
_Static_assert(sizeof(struct vu_region) == 32, "memory region is 32 bytes");

/* The request's name for messages, or NULL for one this code does not know
 * (which the back-end refuses). */
static inline const char *vu_request_name(uint32_t r)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
		[VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_CONFIG] = "SET_CONFIG",
		[VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
		[VU_SET_STATUS] = "SET_STATUS",
		[VU_GET_STATUS] = "GET_STATUS",
	};

	return r < sizeof(names) / sizeof(names[0]) && names[r] ? names[r] : NULL;
}

#endif /* VDM_VHOST_USER_PROTO_H */
