/*
 * vhost_user.c - the vhost-user transport, front-end side (QEMU's
 * docs/interop/vhost-user.rst): messages on a connected UNIX stream socket,
 * a 12-byte header (request, flags, size) then the payload, file
 * descriptors as SCM_RIGHTS on the header.
 *
 * vdm only asks; a back-end only answers, on this socket (no back-end
 * request channel is negotiated).  So every reply is read right after its
 * request, and anything arriving unasked means the back-end is gone or
 * broken.  A back-end that has not sent a whole reply within VU_TIMEOUT_MS
 * of being asked (one deadline per reply, however the bytes trickle in),
 * does not read a request within that time either, closes the socket, or
 * answers out of line is marked disconnected: the stream cannot be trusted
 * after that.
 */
#include "vhost_internal.h"
#include "vhost_user_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* What vdm asks of a back-end's protocol features. */
#define VU_WANTED_PROTOCOL                                                                        \
	(1ULL << VU_PROTOCOL_F_MQ | 1ULL << VU_PROTOCOL_F_REPLY_ACK |                              \
	 1ULL << VU_PROTOCOL_F_CONFIG | 1ULL << VU_PROTOCOL_F_INFLIGHT_SHMFD)
#define VU_TIMEOUT_MS 5000
#define VU_MAX_PAYLOAD 4096
/* Largest in-flight region taken from a back-end: 8 rings of 32768
 * entries of 16 bytes is 4 MiB; room for another layout's headers. */
#define VU_MAX_INFLIGHT (64ULL << 20)
_Static_assert(VHOST_MAX_MEM_REGIONS <= VU_MAX_MEM_REGIONS, "a memory table fits one message");

static const char *req_name(uint32_t r)
{
	const char *name = vu_request_name(r);

	return name ? name : "?";
}

/* The stream is lost: remember it, and say why. */
static int lost(struct vhost_dev *d, int ret, uint32_t req, const char *why)
{
	d->disconnected = true;
	return vhost_set_error(d, ret, "vhost-user %s: %s: %s", d->path, req_name(req), why);
}

static int vu_send(struct vhost_dev *d, uint32_t req, uint32_t flags, const void *payload,
		   uint32_t len, const int *fds, int nfds)
{
	struct vu_hdr hdr = { .request = req, .flags = VU_VERSION | flags, .size = len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_MAX_MEM_REGIONS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t want = sizeof(hdr) + len;
	ssize_t n;

	if (nfds > VHOST_MAX_MEM_REGIONS)
		return vhost_set_error(d, -EINVAL, "vhost-user %s: too many fds", d->path);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(d->fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) /* SO_SNDTIMEO ran out */
		return lost(d, -ETIMEDOUT, req, "the back-end is not reading its socket");
	if (n < 0)
		return lost(d, -errno, req, strerror(errno));
	/* Messages are small; a short write on a stream socket with room for
	 * them means the peer is going away. */
	if ((size_t)n != want)
		return lost(d, -EIO, req, "short write");
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep the first fd that came with a message in *fd (when asked for and
 * none yet); close any other. */
static void take_fds(struct msghdr *mh, int *fd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd && *fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
}

/* Read exactly len bytes by deadline (now_ms() time); an fd that comes
 * with them goes to *fd (NULL: closed). */
static int read_full(struct vhost_dev *d, uint32_t req, void *buf, size_t len, int64_t deadline,
		     int *fd)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = d->fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		ssize_t n;

		if (r == 0)
			return lost(d, -ETIMEDOUT, req, "no answer from the back-end");
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return lost(d, -errno, req, strerror(errno));
		}
		union {
			char b[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };

		n = recvmsg(d->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n > 0)
			take_fds(&mh, fd);
		if (n == 0)
			return lost(d, -ECONNRESET, req, "back-end closed the connection");
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return lost(d, -errno, req, strerror(errno));
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * Read the reply to req: its header must name req with the reply flag, and
 * its payload must be exactly len bytes (exact_len) or at most len bytes;
 * the payload size is stored in *got.
 */
static int vu_recv_fd(struct vhost_dev *d, uint32_t req, void *payload, uint32_t len,
		      bool exact_len, uint32_t *got, int *fd)
{
	int64_t deadline = now_ms() + (d->reply_timeout_ms > 0 ? d->reply_timeout_ms : VU_TIMEOUT_MS);
	struct vu_hdr hdr;
	int ret = read_full(d, req, &hdr, sizeof(hdr), deadline, fd);

	if (ret)
		return ret;
	if (hdr.request != req || (hdr.flags & 0x3) != VU_VERSION || !(hdr.flags & VU_FLAG_REPLY))
		return lost(d, -EPROTO, req, "reply does not match the request");
	if (hdr.size > len || (exact_len && hdr.size != len))
		return lost(d, -EPROTO, req, "reply has the wrong size");
	ret = read_full(d, req, payload, hdr.size, deadline, fd);
	if (!ret && got)
		*got = hdr.size;
	return ret;
}

static int vu_recv(struct vhost_dev *d, uint32_t req, void *payload, uint32_t len, bool exact_len,
		   uint32_t *got)
{
	return vu_recv_fd(d, req, payload, len, exact_len, got, NULL);
}

/* A request with no reply but REPLY_ACK's, when the back-end offers it. */
static int vu_request(struct vhost_dev *d, uint32_t req, const void *payload, uint32_t len,
		      const int *fds, int nfds)
{
	bool ack = d->protocol_features >> VU_PROTOCOL_F_REPLY_ACK & 1;
	uint64_t status;
	int ret = vu_send(d, req, ack ? VU_FLAG_NEED_REPLY : 0, payload, len, fds, nfds);

	if (ret || !ack)
		return ret;
	ret = vu_recv(d, req, &status, sizeof(status), true, NULL);
	if (!ret && status)
		return vhost_set_error(d, -EIO, "vhost-user %s: %s refused by the back-end",
				       d->path, req_name(req));
	return ret;
}

static int vu_get_u64(struct vhost_dev *d, uint32_t req, uint64_t *val)
{
	int ret = vu_send(d, req, 0, NULL, 0, NULL, 0);

	return ret ? ret : vu_recv(d, req, val, sizeof(*val), true, NULL);
}

int vhost_user_handshake(struct vhost_dev *d)
{
	int ms = d->reply_timeout_ms > 0 ? d->reply_timeout_ms : VU_TIMEOUT_MS;
	struct timeval send_timeout = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };
	uint64_t f, pf;
	int ret;

	/* A back-end that stops reading must not block vdm in sendmsg either. */
	if (setsockopt(d->fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)))
		return vhost_set_error(d, -errno, "vhost-user %s: SO_SNDTIMEO: %s", d->path,
				       strerror(errno));

	ret = vu_get_u64(d, VU_GET_FEATURES, &f);
	if (ret)
		return ret;
	if (f >> VU_F_PROTOCOL_FEATURES & 1) {
		ret = vu_get_u64(d, VU_GET_PROTOCOL_FEATURES, &pf);
		if (ret)
			return ret;
		pf &= VU_WANTED_PROTOCOL;
		/* Not acknowledged: REPLY_ACK is not in force until sent. */
		ret = vu_send(d, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
		if (ret)
			return ret;
		d->protocol_features = pf;
		d->has_config = pf >> VU_PROTOCOL_F_CONFIG & 1;
		d->has_inflight = pf >> VU_PROTOCOL_F_INFLIGHT_SHMFD & 1;
		/* With MQ the back-end says how many rings it serves. */
		if (pf >> VU_PROTOCOL_F_MQ & 1) {
			uint64_t n;

			ret = vu_get_u64(d, VU_GET_QUEUE_NUM, &n);
			if (ret)
				return ret;
			d->max_rings = n > VHOST_MAX_RINGS ? VHOST_MAX_RINGS : (unsigned)n;
		}
	}
	ret = vu_request(d, VU_SET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		return ret;
	/* Bit 30 is the vhost-user protocol's, never the guest's. */
	d->features = f & ~(1ULL << VU_F_PROTOCOL_FEATURES);
	d->proto_feature_bit = f & 1ULL << VU_F_PROTOCOL_FEATURES;
	return 0;
}

static int u_open(struct vhost_dev *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->path);
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		return vhost_set_error(d, -e, "vhost=user: cannot connect to %s: %s", d->path,
				       strerror(e));
	}
	return vhost_user_handshake(d);
}

static void u_close(struct vhost_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static int u_set_features(struct vhost_dev *d, uint64_t features)
{
	/* With protocol features, echo bit 30: rings then wait for ENABLE. */
	uint64_t f = features | d->proto_feature_bit;

	return vu_request(d, VU_SET_FEATURES, &f, sizeof(f), NULL, 0);
}

static int u_set_mem_table(struct vhost_dev *d, const struct vhost_mem_region *r, int n)
{
	struct vu_mem m = { .nregions = (uint32_t)n };
	int fds[VHOST_MAX_MEM_REGIONS];

	for (int i = 0; i < n; i++) {
		if (r[i].fd < 0)
			return vhost_set_error(d, -EINVAL,
					       "vhost-user %s: guest RAM region %d has no fd to share",
					       d->path, i);
		m.regions[i] = (struct vu_region){ r[i].gpa, r[i].size, r[i].uaddr, r[i].fd_offset };
		fds[i] = r[i].fd;
	}
	return vu_request(d, VU_SET_MEM_TABLE, &m,
			  (uint32_t)(offsetof(struct vu_mem, regions) + (size_t)n * sizeof(m.regions[0])),
			  fds, n);
}

static int vring_fd(struct vhost_dev *d, uint32_t req, unsigned idx, int fd)
{
	uint64_t v = idx;

	return vu_request(d, req, &v, sizeof(v), &fd, 1);
}

static int u_vring_start(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr)
{
	struct vu_state num = { idx, vr->num }, base = { idx, vr->base }, on = { idx, 1 };
	struct vu_addr addr = { .index = idx, .desc = vr->desc, .used = vr->used, .avail = vr->avail };
	int ret;

	ret = vu_request(d, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0);
	if (!ret)
		ret = vu_request(d, VU_SET_VRING_BASE, &base, sizeof(base), NULL, 0);
	if (!ret)
		ret = vu_request(d, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0);
	/* The call fd first: a back-end that finds kicks waiting on its new
	 * kick fd starts at once, and one with no call fd yet cannot signal
	 * what it completes (libvhost-user gives up on the connection). */
	if (!ret)
		ret = vring_fd(d, VU_SET_VRING_CALL, idx, vr->call_fd);
	/* Before the kick too: a ring the back-end finds broken at once can
	 * say so. */
	if (!ret && vr->err_fd >= 0)
		ret = vring_fd(d, VU_SET_VRING_ERR, idx, vr->err_fd);
	if (!ret)
		ret = vring_fd(d, VU_SET_VRING_KICK, idx, vr->kick_fd);
	if (!ret && d->proto_feature_bit)
		ret = vu_request(d, VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0);
	return ret;
}

static int u_vring_set_call(struct vhost_dev *d, unsigned idx, int fd)
{
	return vring_fd(d, VU_SET_VRING_CALL, idx, fd);
}

static int u_vring_stop(struct vhost_dev *d, unsigned idx, uint16_t *base)
{
	struct vu_state st = { idx, 0 }, off = { idx, 0 };
	int ret = 0;

	if (d->proto_feature_bit)
		ret = vu_request(d, VU_SET_VRING_ENABLE, &off, sizeof(off), NULL, 0);
	if (!ret)
		ret = vu_send(d, VU_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
	if (!ret)
		ret = vu_recv(d, VU_GET_VRING_BASE, &st, sizeof(st), true, NULL);
	if (ret)
		return ret;
	if (st.index != idx)
		return lost(d, -EPROTO, VU_GET_VRING_BASE, "reply names another ring");
	*base = (uint16_t)st.num;
	return 0;
}

static int u_get_config(struct vhost_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct vu_config c = { .offset = off, .size = len };
	uint32_t hdr = offsetof(struct vu_config, region), got;
	int ret;

	if (len > VU_MAX_CONFIG)
		return vhost_set_error(d, -EINVAL, "vhost-user %s: config read too large", d->path);
	ret = vu_send(d, VU_GET_CONFIG, 0, &c, hdr + len, NULL, 0);
	if (!ret)
		ret = vu_recv(d, VU_GET_CONFIG, &c, hdr + len, false, &got);
	if (ret)
		return ret;
	/* A back-end that cannot answer replies with an empty payload. */
	if (got != hdr + len || c.size != len)
		return vhost_set_error(d, -EIO, "vhost-user %s: GET_CONFIG refused by the back-end",
				       d->path);
	memcpy(buf, c.region, len);
	return 0;
}

static int u_set_config(struct vhost_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	struct vu_config c = { .offset = off, .size = len };

	if (len > VU_MAX_CONFIG)
		return vhost_set_error(d, -EINVAL, "vhost-user %s: config write too large",
				       d->path);
	memcpy(c.region, buf, len);
	return vu_request(d, VU_SET_CONFIG, &c, (uint32_t)offsetof(struct vu_config, region) + len,
			  NULL, 0);
}

/*
 * GET_INFLIGHT_FD: the back-end's region for nq rings of qs entries.  Its
 * fd and size are hostile: the region must be a file that holds it at a
 * page-aligned offset.  vdm maps it only when the file is sealed against
 * shrinking, so the back-end cannot cut it short under the mapping (an
 * access past a file's end raises SIGBUS); an unsealed one (DPDK's vhost
 * library makes them so) is kept, unmapped, to be handed back.
 */
static int u_get_inflight(struct vhost_dev *d, uint16_t nq, uint16_t qs, struct vhost_inflight *o)
{
	struct vu_inflight in = { .num_queues = nq, .queue_size = qs };
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	int fd = -1, seals, ret;
	void *p;

	ret = vu_send(d, VU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
	if (!ret)
		ret = vu_recv_fd(d, VU_GET_INFLIGHT_FD, &in, sizeof(in), true, NULL, &fd);
	if (ret)
		goto fail;
	if (in.mmap_size == 0) { /* the back-end tracks nothing for us */
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (fd < 0) {
		ret = vhost_set_error(d, -EPROTO, "vhost-user %s: GET_INFLIGHT_FD: no fd", d->path);
		goto fail;
	}
	if (in.mmap_size > VU_MAX_INFLIGHT || (in.mmap_offset & (page - 1)) ||
	    in.mmap_offset > VU_MAX_INFLIGHT || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < in.mmap_offset + in.mmap_size) {
		ret = vhost_set_error(d, -EPROTO,
				      "vhost-user %s: GET_INFLIGHT_FD: a region of %llu bytes at "
				      "%llu that is not a file holding it", d->path,
				      (unsigned long long)in.mmap_size,
				      (unsigned long long)in.mmap_offset);
		goto fail;
	}
	seals = fcntl(fd, F_GET_SEALS);
	p = seals >= 0 && (seals & F_SEAL_SHRINK)
		    ? mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			   (off_t)in.mmap_offset)
		    : NULL;
	if (p == MAP_FAILED) {
		ret = vhost_set_error(d, -errno, "vhost-user %s: mapping the in-flight region: %s",
				      d->path, strerror(errno));
		goto fail;
	}
	*o = (struct vhost_inflight){ .fd = fd, .map = p, .size = in.mmap_size,
				      .offset = in.mmap_offset, .num_queues = nq, .queue_size = qs };
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int u_set_inflight(struct vhost_dev *d, const struct vhost_inflight *r)
{
	struct vu_inflight in = { r->size, r->offset, r->num_queues, r->queue_size, 0 };

	return vu_request(d, VU_SET_INFLIGHT_FD, &in, sizeof(in), &r->fd, 1);
}

/* Messages without REPLY_ACK get no answer: a GET_FEATURES one, answered
 * in order, shows the back-end took everything before it. */
static int u_sync(struct vhost_dev *d)
{
	uint64_t f;

	return vu_get_u64(d, VU_GET_FEATURES, &f);
}

const struct vhost_transport_ops vhost_user_ops = {
	.open = u_open,
	.close = u_close,
	.set_features = u_set_features,
	.set_mem_table = u_set_mem_table,
	.vring_start = u_vring_start,
	.vring_set_call = u_vring_set_call,
	.vring_stop = u_vring_stop,
	.get_config = u_get_config,
	.set_config = u_set_config,
	.get_inflight = u_get_inflight,
	.set_inflight = u_set_inflight,
	.sync = u_sync,
};
