/*
 * vhost_user_server.c - the back-end side of vhost-user (QEMU's
 * docs/interop/vhost-user.rst): the listening socket, one front-end at a
 * time, each request read, checked and answered, and the rings' state
 * machine; the device behind the server serves a ring while it is started
 * (SET_VRING_KICK, until GET_VRING_BASE) and enabled (SET_VRING_ENABLE, or
 * always without protocol features).
 *
 * The front-end is hostile: a message whose size, ring index, fd count,
 * flags or values break a rule is not answered but ends the connection, with
 * the reason in s->err.  A front-end that sends half a message and stops is
 * given VS_MSG_TIMEOUT_MS for the rest, then dropped, so it cannot hold the
 * caller's loop for longer.  Every fd that comes with a message is either
 * kept by the ring it names or closed before the next message is read.
 */
#include "vhost_server_internal.h"
#include "vhost_user_proto.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_config.h>

#define VS_MSG_TIMEOUT_MS 1000
/* Largest payload of any request served: a config message. */
#define VS_MAX_PAYLOAD sizeof(struct vu_config)
/* The config message's header: offset, size, flags. */
#define VS_CONFIG_HDR offsetof(struct vu_config, region)
/* Room for more fds than any request carries, so one too many is seen as
 * such rather than as a truncated control message. */
#define VS_MAX_FDS (VHOST_SERVER_MAX_REGIONS + 1)
/*
 * BACKEND_REQ: the front-end hands over a socket for requests from the
 * back-end.  Nothing is sent on it yet (no config-change or host-notifier
 * messages), but UML's virtio_uml gives its rings' interrupts no line of
 * their own unless that channel exists, so it is taken and kept.
 */
#define VS_PROTOCOL_FEATURES                                                                       \
	(1ULL << VU_PROTOCOL_F_MQ | 1ULL << VU_PROTOCOL_F_REPLY_ACK |                              \
	 1ULL << VU_PROTOCOL_F_BACKEND_REQ | 1ULL << VU_PROTOCOL_F_STATUS)

_Static_assert(sizeof(struct vu_config) >= sizeof(struct vu_mem), "the largest payload");

/* One request as read: header, payload, the fds that came with it. */
struct vs_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_state state;
		struct vu_addr addr;
		struct vu_mem mem;
		struct vu_config config;
		struct vu_inflight inflight;
		uint8_t bytes[VS_MAX_PAYLOAD];
	} p;
	int fds[VS_MAX_FDS];
	int nfds;
};

int vs_error(struct vhost_server *s, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void ring_clear(struct vs_ring *r)
{
	close_fd(&r->kick_fd);
	close_fd(&r->call_fd);
	close_fd(&r->err_fd);
	*r = (struct vs_ring){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
}

/* ---- rings ---- */

static bool status_on(const struct vhost_server *s)
{
	return s->protocol_features >> VU_PROTOCOL_F_STATUS & 1;
}

/*
 * With STATUS, no ring runs once the driver (FAILED) or the device
 * (NEEDS_RESET) gave up.  DRIVER_OK is not waited for: a ring runs from
 * KICK and ENABLE as vhost-user's ring states say, because a front-end may
 * negotiate STATUS and never send DRIVER_OK (QEMU 7.2's vhost-user-rng-pci
 * sends FEATURES_OK and nothing more: tests/guest/vhost_user_rng.sh); the
 * front-end gives KICK/ENABLE only when its driver is ready anyway.
 */
static bool status_lets_rings_run(const struct vhost_server *s)
{
	return !status_on(s) ||
	       !(s->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

static void ring_stop(struct vhost_server *s, unsigned idx)
{
	struct vs_ring *r = &s->rings[idx];

	if (!r->running)
		return;
	s->dev.ring_stop(s->dev.opaque, idx, &r->base);
	r->running = false;
}

/* Start or stop ring idx as its state now asks. */
static int ring_update(struct vhost_server *s, unsigned idx)
{
	struct vs_ring *r = &s->rings[idx];
	bool want = r->started && r->enabled && status_lets_rings_run(s);
	struct vhost_server_ring sr;
	char why[160] = "";
	int ret;

	if (!want) {
		ring_stop(s, idx);
		return 0;
	}
	if (r->running)
		return 0;
	/* The table may have changed since SET_VRING_ADDR: look the user
	 * addresses up in the one in force now. */
	if (!vs_mem_ua_to_gpa(&s->mem, r->desc_ua, &sr.desc_gpa) ||
	    !vs_mem_ua_to_gpa(&s->mem, r->avail_ua, &sr.avail_gpa) ||
	    !vs_mem_ua_to_gpa(&s->mem, r->used_ua, &sr.used_gpa))
		return vs_error(s, -EINVAL, "ring %u: its addresses are outside the memory table",
				idx);
	sr.num = r->num;
	sr.base = r->base;
	sr.kick_fd = r->kick_fd;
	sr.features = s->features;
	sr.inflight = vs_inflight_ring(s, idx, &sr.inflight_len);
	ret = s->dev.ring_start(s->dev.opaque, idx, &sr, why, sizeof(why));
	if (ret)
		return vs_error(s, ret, "ring %u: %s", idx, why[0] ? why : strerror(-ret));
	r->running = true;
	return 0;
}

/* ---- the connection ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the connection is readable, by deadline. */
static int wait_readable(struct vhost_server *s, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = s->conn_fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;

		if (r > 0)
			return 0;
		if (r == 0)
			return vs_error(s, -ETIMEDOUT,
					"the front-end sent part of a message and stopped");
		if (errno != EINTR)
			return vs_error(s, -errno, "poll: %s", strerror(errno));
	}
}

/* Take the fds of a control message; false when there were too many. */
static bool take_fds(struct msghdr *mh, struct vs_msg *m)
{
	bool ok = !(mh->msg_flags & MSG_CTRUNC);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VS_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

/* Read len bytes into buf (fds, when they come, into m) by deadline. */
static int read_bytes(struct vhost_server *s, struct vs_msg *m, void *buf, size_t len,
		      int64_t deadline, bool *too_many_fds)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(s->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		int ret;

		if (n > 0) {
			if (!take_fds(&mh, m))
				*too_many_fds = true;
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return got || buf != &m->hdr
				       ? vs_error(s, -EPROTO, "the front-end closed the connection "
							      "in the middle of a message")
				       : vs_error(s, -ECONNRESET,
						  "the front-end closed the connection");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return vs_error(s, -errno, "recvmsg: %s", strerror(errno));
		ret = wait_readable(s, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static void close_msg_fds(struct vs_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		close_fd(&m->fds[i]);
	m->nfds = 0;
}

/* A reply; fd >= 0 rides along (SCM_RIGHTS). */
static int send_reply_fd(struct vhost_server *s, uint32_t req, const void *payload, uint32_t len,
			 int fd)
{
	struct vu_hdr hdr = { .request = req, .flags = VU_VERSION | VU_FLAG_REPLY, .size = len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}

	do
		n = sendmsg(s->conn_fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return vs_error(s, -ETIMEDOUT, "the front-end does not read its replies");
	if (n < 0)
		return vs_error(s, -errno, "sending the %s reply: %s", vu_request_name(req),
				strerror(errno));
	if ((size_t)n != sizeof(hdr) + len)
		return vs_error(s, -EIO, "sending the %s reply: short write", vu_request_name(req));
	return 0;
}

static int send_reply(struct vhost_server *s, uint32_t req, const void *payload, uint32_t len)
{
	return send_reply_fd(s, req, payload, len, -1);
}

static int reply_u64(struct vhost_server *s, uint32_t req, uint64_t v)
{
	return send_reply(s, req, &v, sizeof(v));
}

/* ---- requests ---- */

static uint64_t protocol_features_offered(const struct vhost_server *s)
{
	return VS_PROTOCOL_FEATURES | (s->dev.config ? 1ULL << VU_PROTOCOL_F_CONFIG : 0) |
	       (s->dev.inflight_queue_bytes ? 1ULL << VU_PROTOCOL_F_INFLIGHT_SHMFD : 0);
}

static bool proto_features_on(const struct vhost_server *s)
{
	return s->features >> VU_F_PROTOCOL_FEATURES & 1;
}

/* The ring a request names, checked against the rings served. */
static int ring_index(struct vhost_server *s, const struct vs_msg *m, uint64_t idx, bool stopped)
{
	if (idx >= s->dev.nrings)
		return vs_error(s, -EINVAL, "%s: ring %llu does not exist (%u served)",
				vu_request_name(m->hdr.request), (unsigned long long)idx, s->dev.nrings);
	if (stopped && s->rings[idx].started)
		return vs_error(s, -EBUSY, "%s: ring %llu is started (stop it with GET_VRING_BASE)",
				vu_request_name(m->hdr.request), (unsigned long long)idx);
	return 0;
}

static int set_features(struct vhost_server *s, uint64_t f)
{
	uint64_t offered = s->dev.features | 1ULL << VU_F_PROTOCOL_FEATURES;

	if (f >> VU_F_LOG_ALL & 1)
		return vs_error(s, -ENOTSUP, "SET_FEATURES: LOG_ALL (dirty-page logging for "
					     "migration) is not supported");
	if (f & ~offered)
		return vs_error(s, -EINVAL, "SET_FEATURES: features %#llx were never offered",
				(unsigned long long)(f & ~offered));
	for (unsigned i = 0; i < s->dev.nrings; i++)
		if (s->rings[i].running && f != s->features)
			return vs_error(s, -EBUSY,
					"SET_FEATURES: features change while ring %u runs", i);
	s->features = f;
	s->features_set = true;
	/* Without protocol features a ring is enabled from the start
	 * (vhost-user.rst, "Ring states"); with them it waits for ENABLE. */
	if (!proto_features_on(s)) {
		for (unsigned i = 0; i < s->dev.nrings; i++) {
			int ret;

			s->rings[i].enabled = true;
			ret = ring_update(s, i);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int set_mem_table(struct vhost_server *s, struct vs_msg *m)
{
	struct vs_mem fresh, old;
	uint32_t n;
	int ret;

	if (m->hdr.size < offsetof(struct vu_mem, regions))
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: payload of %u bytes", m->hdr.size);
	n = m->p.mem.nregions;
	if (n < 1 || n > VHOST_SERVER_MAX_REGIONS)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: %u regions (1 to %d taken)", n,
				VHOST_SERVER_MAX_REGIONS);
	/* Room for the n regions used, and at most the whole table: UML's
	 * virtio_uml sends its two-region table whole with one region used. */
	if (m->hdr.size < offsetof(struct vu_mem, regions) + n * sizeof(struct vu_region) ||
	    m->hdr.size > sizeof(struct vu_mem))
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: %u bytes for %u regions", m->hdr.size,
				n);
	if ((uint32_t)m->nfds != n)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: %d fds for %u regions", m->nfds, n);
	ret = vs_mem_map(s, &fresh, m->p.mem.regions, (int)n, m->fds);
	if (ret)
		return ret;
	/* Running rings move to the new table before the old one goes, so
	 * they never point into unmapped memory. */
	old = s->mem;
	s->mem = fresh;
	for (unsigned i = 0; i < s->dev.nrings; i++) {
		if (s->rings[i].running) {
			char why[160] = "";

			ret = s->dev.mem_changed(s->dev.opaque, why, sizeof(why));
			if (ret)
				vs_error(s, ret, "SET_MEM_TABLE: %s",
					 why[0] ? why : "a running ring is not in the new table");
			break;
		}
	}
	vs_mem_unmap(&old);
	return ret;
}

static int set_vring_addr(struct vhost_server *s, const struct vu_addr *a)
{
	struct vs_ring *r = &s->rings[a->index];
	uint64_t gpa;

	if (a->flags & VU_VRING_F_LOG)
		return vs_error(s, -ENOTSUP, "SET_VRING_ADDR: used-ring logging (migration) is "
					     "not supported");
	if (!s->mem.n)
		return vs_error(s, -EINVAL, "SET_VRING_ADDR before SET_MEM_TABLE");
	if (!vs_mem_ua_to_gpa(&s->mem, a->desc, &gpa) || !vs_mem_ua_to_gpa(&s->mem, a->avail, &gpa) ||
	    !vs_mem_ua_to_gpa(&s->mem, a->used, &gpa))
		return vs_error(s, -EINVAL,
				"SET_VRING_ADDR: ring %u's addresses are outside the memory table",
				a->index);
	r->desc_ua = a->desc;
	r->avail_ua = a->avail;
	r->used_ua = a->used;
	r->addr_set = true;
	return 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 with the ring index and the no-fd bit. */
static int set_vring_fd(struct vhost_server *s, struct vs_msg *m)
{
	uint64_t v = m->p.u64;
	unsigned idx = (unsigned)(v & VU_VRING_INDEX_MASK);
	bool nofd = v & VU_VRING_NOFD;
	struct vs_ring *r;
	int ret, fd;

	if (v & ~(VU_VRING_INDEX_MASK | VU_VRING_NOFD))
		return vs_error(s, -EINVAL, "%s: reserved bits set (%#llx)",
				vu_request_name(m->hdr.request), (unsigned long long)v);
	ret = ring_index(s, m, idx, false);
	if (ret)
		return ret;
	if (m->nfds != (nofd ? 0 : 1))
		return vs_error(s, -EINVAL, "%s: %d fds with%s the no-fd flag",
				vu_request_name(m->hdr.request), m->nfds, nofd ? "" : "out");
	r = &s->rings[idx];
	fd = nofd ? -1 : m->fds[0];
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		if (nofd)
			return vs_error(s, -ENOTSUP,
					"SET_VRING_KICK: ring %u without a kick fd (polling) is "
					"not supported", idx);
		if (!r->num || !r->addr_set)
			return vs_error(s, -EINVAL,
					"SET_VRING_KICK: ring %u has no size or addresses yet", idx);
		/* A new kick fd for a running ring: stop serving the old one
		 * first (the device watches it). */
		ring_stop(s, idx);
		close_fd(&r->kick_fd);
		r->kick_fd = fd;
		r->started = true;
		break;
	case VU_SET_VRING_CALL:
		/* Read at each interrupt: takes effect at once, even running. */
		close_fd(&r->call_fd);
		r->call_fd = fd;
		break;
	default:
		close_fd(&r->err_fd);
		r->err_fd = fd;
		break;
	}
	m->fds[0] = -1; /* the ring has it */
	m->nfds = 0;
	return m->hdr.request == VU_SET_VRING_KICK ? ring_update(s, idx) : 0;
}

/*
 * GET_CONFIG / SET_CONFIG: the message must be its 12-byte header and then
 * exactly `size` bytes, at most the protocol's 256, and [offset, offset +
 * size) must lie in the device's config space.
 */
static int config_range(struct vhost_server *s, const struct vs_msg *m)
{
	const struct vu_config *c = &m->p.config;
	const char *name = vu_request_name(m->hdr.request);

	if (!(s->protocol_features >> VU_PROTOCOL_F_CONFIG & 1))
		return vs_error(s, -EPROTO, "%s without the CONFIG protocol feature", name);
	if (m->hdr.size < VS_CONFIG_HDR)
		return vs_error(s, -EINVAL, "%s: payload of %u bytes", name, m->hdr.size);
	if (c->size > VU_MAX_CONFIG || m->hdr.size != VS_CONFIG_HDR + c->size)
		return vs_error(s, -EINVAL, "%s: %u config bytes in a payload of %u", name, c->size,
				m->hdr.size);
	if ((uint64_t)c->offset + c->size > s->dev.config_len)
		return vs_error(s, -EINVAL,
				"%s: bytes %u..%llu are outside the %u-byte config space", name,
				c->offset, (unsigned long long)c->offset + c->size, s->dev.config_len);
	return 0;
}

static int get_config(struct vhost_server *s, struct vs_msg *m, bool *replied)
{
	struct vu_config *c = &m->p.config;
	int ret = config_range(s, m);

	*replied = true;
	if (ret) {
		/* Tell a front-end waiting for the answer before the connection
		 * ends: an empty payload is a refusal. */
		send_reply(s, VU_GET_CONFIG, NULL, 0);
		return ret;
	}
	memcpy(c->region, (const uint8_t *)s->dev.config + c->offset, c->size);
	return send_reply(s, VU_GET_CONFIG, c, (uint32_t)VS_CONFIG_HDR + c->size);
}

/* ---- the device status (STATUS) ---- */

static void status_set(struct vhost_server *s, uint8_t status, const char *why)
{
	uint8_t old = s->status;

	s->status = status;
	if (s->dev.status_changed && (old != status || *why))
		s->dev.status_changed(s->dev.opaque, old, status, why);
}

/* Start or stop every ring as the status now allows. */
static int rings_follow_status(struct vhost_server *s)
{
	for (unsigned i = 0; i < s->dev.nrings; i++) {
		int ret = ring_update(s, i);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * SET_STATUS: the driver's status byte, judged as vdm's own transport
 * judges a driver's write (virtio 1.2, 2.1 and 3.1.1).  0 is a reset: the
 * rings stop where they are (GET_VRING_BASE still says where) until their
 * next KICK, the negotiated state stays for the front-end to set again.
 * FEATURES_OK is refused (left out, for GET_STATUS to show) unless
 * SET_FEATURES came with VERSION_1; DRIVER_OK without FEATURES_OK, or a bit
 * taken back without a reset, puts the device in NEEDS_RESET.  None of this
 * ends the connection: it is the status a driver may get wrong.  A value
 * wider than a byte does.
 */
static int set_status(struct vhost_server *s, uint64_t v)
{
	const uint8_t device_bits = VIRTIO_CONFIG_S_NEEDS_RESET;
	uint8_t old = s->status & (uint8_t)~device_bits, val, added;
	const char *why = "";

	if (v > 0xff)
		return vs_error(s, -EINVAL, "SET_STATUS: %#llx is not a status byte",
				(unsigned long long)v);
	if (v == 0) {
		/* A reset: every ring stops where it is, as GET_VRING_BASE
		 * stops it (which still says where), until its next KICK. */
		status_set(s, 0, "");
		for (unsigned i = 0; i < s->dev.nrings; i++) {
			s->rings[i].started = false;
			ring_stop(s, i);
			close_fd(&s->rings[i].kick_fd);
		}
		return 0;
	}
	/* NEEDS_RESET is the device's to set: a driver writing back what it
	 * read neither sets nor clears it. */
	val = (uint8_t)v & (uint8_t)~device_bits;
	added = val & (uint8_t)~old;
	if (old & ~val) {
		val = s->status | VIRTIO_CONFIG_S_NEEDS_RESET;
		why = "the driver cleared a status bit without a reset";
	} else {
		if ((added & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    (!s->features_set || !(s->features >> VIRTIO_F_VERSION_1 & 1))) {
			val &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
			why = s->features_set ? "FEATURES_OK refused: the features set lack VERSION_1"
					      : "FEATURES_OK refused: no SET_FEATURES came";
		}
		if ((val & VIRTIO_CONFIG_S_DRIVER_OK) && !(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
			val = (uint8_t)(val & ~VIRTIO_CONFIG_S_DRIVER_OK) |
			      VIRTIO_CONFIG_S_NEEDS_RESET;
			why = "DRIVER_OK without FEATURES_OK";
		}
		val |= s->status & device_bits;
	}
	status_set(s, val, why);
	return rings_follow_status(s);
}

/* The payload size each request must have (-1: checked by its handler). */
static int payload_size(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_SET_BACKEND_REQ_FD:
	case VU_GET_STATUS:
		return 0;
	case VU_SET_VRING_ADDR:
		return sizeof(struct vu_addr);
	case VU_GET_INFLIGHT_FD:
	case VU_SET_INFLIGHT_FD:
		return sizeof(struct vu_inflight);
	case VU_SET_MEM_TABLE:
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		return -1;
	default:
		return 8; /* a u64, or a vring state (two u32) */
	}
}

/* Forget everything negotiated: RESET_OWNER, or the front-end went away. */
static void session_reset(struct vhost_server *s)
{
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++) {
		ring_stop(s, i);
		ring_clear(&s->rings[i]);
	}
	vs_mem_unmap(&s->mem);
	vs_inflight_unmap(&s->inflight);
	close_fd(&s->backend_req_fd);
	s->owner = false;
	s->features = 0;
	s->features_set = false;
	s->status = 0;
	s->protocol_features = 0;
	s->protocol_features_set = false;
}

/*
 * Serve one request.  *replied is set when it had an answer of its own (so
 * REPLY_ACK adds none).  Returns 0 or -errno with the reason in s->err.
 */
static int dispatch(struct vhost_server *s, struct vs_msg *m, bool *replied)
{
	uint32_t req = m->hdr.request;
	struct vu_state st = m->p.state;
	int ret;

	/* Only the requests that carry fds may; they check their count. */
	if (m->nfds && req != VU_SET_MEM_TABLE && req != VU_SET_VRING_KICK &&
	    req != VU_SET_VRING_CALL && req != VU_SET_VRING_ERR && req != VU_SET_BACKEND_REQ_FD &&
	    req != VU_SET_INFLIGHT_FD)
		return vs_error(s, -EINVAL, "%s: came with %d fds", vu_request_name(req), m->nfds);
	switch (req) {
	case VU_GET_FEATURES:
		*replied = true;
		return reply_u64(s, req, s->dev.features | 1ULL << VU_F_PROTOCOL_FEATURES);
	case VU_SET_FEATURES:
		return set_features(s, m->p.u64);
	case VU_SET_OWNER:
		s->owner = true;
		return 0;
	case VU_RESET_OWNER:
		session_reset(s);
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		*replied = true;
		return reply_u64(s, req, protocol_features_offered(s));
	case VU_SET_PROTOCOL_FEATURES:
		if (m->p.u64 & ~protocol_features_offered(s))
			return vs_error(s, -EINVAL,
					"SET_PROTOCOL_FEATURES: %#llx were never offered",
					(unsigned long long)(m->p.u64 & ~protocol_features_offered(s)));
		s->protocol_features = m->p.u64;
		s->protocol_features_set = true;
		return 0;
	case VU_GET_QUEUE_NUM:
		if (!(s->protocol_features >> VU_PROTOCOL_F_MQ & 1))
			return vs_error(s, -EPROTO, "GET_QUEUE_NUM without the MQ protocol feature");
		*replied = true;
		return reply_u64(s, req, s->dev.nrings);
	case VU_SET_MEM_TABLE:
		return set_mem_table(s, m);
	case VU_SET_LOG_BASE:
	case VU_SET_LOG_FD:
		return vs_error(s, -ENOTSUP, "%s: dirty-page logging (migration) is not supported",
				vu_request_name(req));
	case VU_SET_VRING_NUM:
		ret = ring_index(s, m, st.index, true);
		if (ret)
			return ret;
		/* virtio 1.2: at most the device's size; a split ring's is a power
		 * of two (2.7), a packed ring's need not be (2.8). */
		if (st.num == 0 || st.num > s->dev.max_ring_size ||
		    (!(s->features >> VIRTIO_F_RING_PACKED & 1) && (st.num & (st.num - 1))))
			return vs_error(s, -EINVAL, "SET_VRING_NUM: ring %u size %u (a power of two "
					"up to %u taken)", st.index, st.num, s->dev.max_ring_size);
		s->rings[st.index].num = (uint16_t)st.num;
		return 0;
	case VU_SET_VRING_ADDR:
		ret = ring_index(s, m, m->p.addr.index, true);
		return ret ? ret : set_vring_addr(s, &m->p.addr);
	case VU_SET_VRING_BASE:
		ret = ring_index(s, m, st.index, true);
		if (ret)
			return ret;
		/* A split ring's base is a 16-bit avail index; a packed ring's
		 * the avail position, its wrap counter in bit 15. */
		if (st.num > 0xffff)
			return vs_error(s, -EINVAL, "SET_VRING_BASE: ring %u base %u", st.index,
					st.num);
		s->rings[st.index].base = (uint16_t)st.num;
		return 0;
	case VU_GET_VRING_BASE:
		ret = ring_index(s, m, st.index, false);
		if (ret)
			return ret;
		/* Stops the ring; the front-end learns where to go on from. */
		s->rings[st.index].started = false;
		ring_stop(s, st.index);
		close_fd(&s->rings[st.index].kick_fd);
		st.num = s->rings[st.index].base;
		*replied = true;
		return send_reply(s, req, &st, sizeof(st));
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return set_vring_fd(s, m);
	case VU_SET_BACKEND_REQ_FD:
		if (!(s->protocol_features >> VU_PROTOCOL_F_BACKEND_REQ & 1))
			return vs_error(s, -EPROTO,
					"SET_BACKEND_REQ_FD without the BACKEND_REQ protocol feature");
		if (m->nfds != 1)
			return vs_error(s, -EINVAL, "SET_BACKEND_REQ_FD: %d fds (1 expected)", m->nfds);
		close_fd(&s->backend_req_fd);
		s->backend_req_fd = m->fds[0];
		m->fds[0] = -1;
		m->nfds = 0;
		return 0;
	case VU_GET_CONFIG:
		return get_config(s, m, replied);
	case VU_GET_INFLIGHT_FD: {
		struct vu_inflight out;
		int fd = vs_inflight_get(s, &m->p.inflight, &out);

		if (fd < 0)
			return fd;
		*replied = true;
		ret = send_reply_fd(s, req, &out, sizeof(out), fd);
		close(fd); /* the front-end has its copy; the mapping stays here */
		return ret;
	}
	case VU_SET_INFLIGHT_FD:
		if (m->nfds != 1)
			return vs_error(s, -EINVAL, "SET_INFLIGHT_FD: %d fds (1 expected)", m->nfds);
		return vs_inflight_set(s, &m->p.inflight, m->fds[0]);
	case VU_SET_CONFIG:
		ret = config_range(s, m);
		return ret ? ret
			   : vs_error(s, -ENOTSUP, "SET_CONFIG: the config space of %s is read-only",
				      s->dev.name);
	case VU_SET_STATUS:
	case VU_GET_STATUS:
		if (!status_on(s))
			return vs_error(s, -EPROTO, "%s without the STATUS protocol feature",
					vu_request_name(req));
		if (req == VU_SET_STATUS)
			return set_status(s, m->p.u64);
		*replied = true;
		return reply_u64(s, req, s->status);
	case VU_SET_VRING_ENABLE:
		/* QEMU's virtio-net enables its rings when the driver writes
		 * its features, before it sends SET_FEATURES (with
		 * PROTOCOL_FEATURES): protocol features taken with
		 * SET_PROTOCOL_FEATURES are enough. */
		if (!proto_features_on(s) && !s->protocol_features_set)
			return vs_error(s, -EPROTO, "SET_VRING_ENABLE without protocol features");
		ret = ring_index(s, m, st.index, false);
		if (ret)
			return ret;
		if (st.num > 1)
			return vs_error(s, -EINVAL, "SET_VRING_ENABLE: ring %u state %u", st.index,
					st.num);
		s->rings[st.index].enabled = st.num;
		return ring_update(s, st.index);
	default: /* refused before: see vhost_server_handle */
		return vs_error(s, -ENOTSUP, "%s: not served", vu_request_name(req));
	}
}

int vhost_server_handle(struct vhost_server *s)
{
	static struct vs_msg zero_msg;
	struct vs_msg m;
	int64_t deadline = now_ms() + VS_MSG_TIMEOUT_MS;
	bool too_many = false, replied = false;
	int expect, ret;

	if (s->conn_fd < 0)
		return vs_error(s, -ENOTCONN, "no front-end");
	m = zero_msg;
	ret = read_bytes(s, &m, &m.hdr, sizeof(m.hdr), deadline, &too_many);
	if (ret)
		goto out;
	if (!vu_request_name(m.hdr.request)) {
		ret = vs_error(s, -ENOTSUP, "unknown request %u", m.hdr.request);
		goto out;
	}
	/* Known, but their protocol feature was never offered. */
	if (((m.hdr.request == VU_GET_CONFIG || m.hdr.request == VU_SET_CONFIG) && !s->dev.config) ||
	    ((m.hdr.request == VU_GET_INFLIGHT_FD || m.hdr.request == VU_SET_INFLIGHT_FD) &&
	     !s->dev.inflight_queue_bytes)) {
		ret = vs_error(s, -ENOTSUP, "%s: not served (its protocol feature was not offered)",
			       vu_request_name(m.hdr.request));
		goto out;
	}
	if ((m.hdr.flags & VU_VERSION_MASK) != VU_VERSION || (m.hdr.flags & VU_FLAG_REPLY)) {
		ret = vs_error(s, -EPROTO, "%s: flags %#x (version 1, not a reply, expected)",
			       vu_request_name(m.hdr.request), m.hdr.flags);
		goto out;
	}
	expect = payload_size(m.hdr.request);
	if (m.hdr.size > VS_MAX_PAYLOAD || (expect >= 0 && m.hdr.size != (uint32_t)expect)) {
		ret = vs_error(s, -EINVAL, "%s: payload of %u bytes (%d expected)",
			       vu_request_name(m.hdr.request), m.hdr.size, expect >= 0 ? expect : -1);
		goto out;
	}
	ret = read_bytes(s, &m, m.p.bytes, m.hdr.size, deadline, &too_many);
	if (ret)
		goto out;
	if (too_many) {
		ret = vs_error(s, -EINVAL, "%s: came with more fds than any request carries",
			       vu_request_name(m.hdr.request));
		goto out;
	}
	ret = dispatch(s, &m, &replied);
	/* REPLY_ACK: a request without an answer of its own gets a status;
	 * a refusal is said too, before the connection ends. */
	if (!replied && (m.hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (s->protocol_features >> VU_PROTOCOL_F_REPLY_ACK & 1)) {
		int r2 = reply_u64(s, m.hdr.request, ret ? 1 : 0);

		if (!ret)
			ret = r2;
	}
out:
	close_msg_fds(&m);
	return ret;
}

/* ---- listening and accepting ---- */

int vhost_server_open(struct vhost_server **out, const char *path,
		      const struct vhost_server_dev *dev, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhost_server *s;
	struct stat st;
	int ret;

	if (!dev->nrings || dev->nrings > VHOST_MAX_RINGS || !dev->max_ring_size ||
	    (dev->max_ring_size & (dev->max_ring_size - 1)) ||
	    (dev->config && (!dev->config_len || dev->config_len > VU_MAX_CONFIG))) {
		snprintf(err, errlen, "%s: cannot serve %u rings of %u", dev->name, dev->nrings,
			 dev->max_ring_size);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		/* A socket file left by an earlier run. */
		if (unlink(path)) {
			ret = -errno;
			snprintf(err, errlen, "cannot remove the old socket %s: %s", path,
				 strerror(errno));
			return ret;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = *dev;
	s->conn_fd = -1;
	s->backend_req_fd = -1;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		ring_clear(&s->rings[i]);
	memcpy(s->path, path, strlen(path) + 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->listen_fd, 4) || stat(path, &st)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		free(s);
		return ret;
	}
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	*out = s;
	return 0;
}

int vhost_server_listen_fd(const struct vhost_server *s)
{
	return s->listen_fd;
}

int vhost_server_conn_fd(const struct vhost_server *s)
{
	return s->conn_fd;
}

int vhost_server_accept(struct vhost_server *s)
{
	int ms = VS_MSG_TIMEOUT_MS;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return -EAGAIN;
		return vs_error(s, -errno, "accept: %s", strerror(errno));
	}
	if (s->conn_fd >= 0) {
		close(fd);
		return vs_error(s, -EBUSY,
				"refused a second front-end while one is connected");
	}
	/* A front-end that stops reading its replies must not hold us in
	 * sendmsg longer than it may hold us for a message. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		int e = errno;

		close(fd);
		return vs_error(s, -e, "SO_SNDTIMEO: %s", strerror(e));
	}
	s->conn_fd = fd;
	return 0;
}

void vhost_server_disconnect(struct vhost_server *s)
{
	if (s->conn_fd < 0)
		return;
	session_reset(s);
	close_fd(&s->conn_fd);
}

void vhost_server_close(struct vhost_server *s)
{
	struct stat st;

	if (!s)
		return;
	vhost_server_disconnect(s);
	close(s->listen_fd);
	/* Only the socket made here: another instance may have replaced it. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
		unlink(s->path);
	free(s);
}

/* ---- for the device ---- */

static void signal_fd(int fd)
{
	uint64_t one = 1;

	/* An eventfd takes it (or is at its limit, and the reader will wake
	 * anyway); anything else the front-end passed is its own problem. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
	}
}

void vhost_server_call(struct vhost_server *s, unsigned idx)
{
	if (idx < VHOST_MAX_RINGS)
		signal_fd(s->rings[idx].call_fd);
}

void vhost_server_ring_error(struct vhost_server *s, unsigned idx)
{
	if (idx >= VHOST_MAX_RINGS)
		return;
	if (status_on(s) && !(s->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		status_set(s, s->status | VIRTIO_CONFIG_S_NEEDS_RESET, "a ring is broken");
	signal_fd(s->rings[idx].err_fd);
}

const char *vhost_server_error(const struct vhost_server *s)
{
	return s->err;
}
