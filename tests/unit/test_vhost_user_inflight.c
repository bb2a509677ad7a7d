/*
 * test_vhost_user_inflight.c - libvhostproxy's vhost-user front-end asking a
 * back-end for its in-flight region (INFLIGHT_SHMFD: GET_INFLIGHT_FD,
 * SET_INFLIGHT_FD), with the back-end played here on a socket pair, its
 * replies written before each call.
 *   - negotiated only where offered; GET_INFLIGHT_FD names the rings and
 *     their size; the region that comes back is mapped (the back-end's
 *     bytes are seen); SET_INFLIGHT_FD hands the same file back with its
 *     size, offset, rings and ring size;
 *   - a back-end that declines (a region of 0 bytes): no region, no error;
 *   - a region in a file that could shrink is kept (to be handed back) but
 *     not mapped;
 *   - hostile replies refused, nothing mapped, no fd kept: no fd with the
 *     reply, a region past the end of its file,
 *     at an unaligned offset, or unreasonably large, a reply of the wrong
 *     size;
 *   - the calls out of order (before SET_FEATURES) are refused.
 * The wire format is written out here from the spec.
 */
#include "drv.h"
#include "vhost_internal.h"
#include "vu_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define GET_FEATURES 1
#define SET_FEATURES 2
#define GET_PROTOCOL_FEATURES 15
#define GET_INFLIGHT_FD 31
#define SET_INFLIGHT_FD 32
#define PF_INFLIGHT (1ULL << 12)
#define F_PROTOCOL (1ULL << 30)
#define F_VERSION_1 (1ULL << 32)

struct inflight {
	uint64_t size, offset;
	uint16_t nq, qs;
	uint32_t pad;
};

static int be; /* the back-end's end */

/* A reply from the back-end, with fd (-1: none). */
static void reply(uint32_t req, const void *p, uint32_t len, int fd)
{
	struct vu_hdr h = { req, 0x5, len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };

	if (vu_send_fds(be, iov, 2, &fd, fd >= 0, 0) < 0)
		perror("sendmsg");
}

static void reply_u64(uint32_t req, uint64_t v)
{
	reply(req, &v, sizeof(v), -1);
}

/* The next request the front-end sent: its number, payload in p (up to
 * len bytes), an fd that came with it in *fd. */
static uint32_t next_request(void *p, size_t len, int *fd)
{
	struct vu_hdr h = { 0 };
	struct iovec iov = { &h, sizeof(h) };
	uint8_t skip[512];

	if (vu_recv_fd(be, &iov, 1, MSG_DONTWAIT, fd) != sizeof(h)) {
		*fd = -1;
		return 0;
	}
	if (h.size > len)
		return recv(be, skip, h.size, 0) < 0 ? 0 : h.req;
	return recv(be, p, h.size, 0) == (ssize_t)h.size ? h.req : 0;
}

/* Skip requests until one numbered req (its payload in p). */
static bool find_request(uint32_t req, void *p, size_t len, int *fd)
{
	uint32_t r;

	while ((r = next_request(p, len, fd)) != 0) {
		if (r == req)
			return true;
		if (*fd >= 0)
			close(*fd);
	}
	return false;
}

/* A front-end on a fresh socket pair, past the handshake and, with
 * features, SET_FEATURES; the back-end offers protocol features pf. */
static struct vhost_dev *front_end(uint64_t pf, bool features)
{
	struct vhost_dev *d;
	char err[200];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return NULL;
	be = sv[1];
	reply_u64(GET_FEATURES, F_VERSION_1 | F_PROTOCOL);
	reply_u64(GET_PROTOCOL_FEATURES, pf);
	if (vhost_dev_open_connected(&d, sv[0], "test", 2000, err, sizeof(err))) {
		fprintf(stderr, "open: %s\n", err);
		close(be);
		return NULL;
	}
	if (features && vhost_dev_set_features(d, F_VERSION_1)) {
		vhost_dev_close(d);
		close(be);
		return NULL;
	}
	return d;
}

static void done(struct vhost_dev *d)
{
	vhost_dev_close(d);
	close(be);
}

/* A memfd of size bytes, sealed against shrinking when sealed. */
static int region_file(size_t size, bool sealed)
{
	return vu_region_file("test-inflight", size, sealed);
}

/* The front-end gets reply r with fd: the call's return, *out as left. */
static int get_with(struct vhost_dev *d, const void *r, uint32_t rlen, int fd,
		    struct vhost_inflight *out)
{
	reply(GET_INFLIGHT_FD, r, rlen, fd);
	return vhost_dev_get_inflight(d, 2, 128, out);
}

static void good(void)
{
	struct vhost_inflight in = { .fd = -1 };
	struct inflight req = { 0 }, set = { 0 };
	struct vhost_dev *d = front_end(0, true);
	int rfd = region_file(8192, true), got_fd;

	drv_check(d && !vhost_dev_has_inflight(d),
		  "a back-end that does not offer INFLIGHT_SHMFD: not negotiated");
	if (d)
		done(d);
	d = front_end(PF_INFLIGHT, false);
	drv_check(d && vhost_dev_has_inflight(d), "offered: negotiated");
	drv_check(d && vhost_dev_get_inflight(d, 2, 128, &in) == -EPROTO && in.fd < 0,
		  "GET_INFLIGHT_FD before SET_FEATURES is refused");
	if (d)
		done(d);

	d = front_end(PF_INFLIGHT, true);
	if (!d || rfd < 0)
		return;
	if (pwrite(rfd, "vdm-region", 10, 4096) != 10)
		return;
	struct inflight r = { 4096, 4096, 2, 128, 0 };
	drv_check(get_with(d, &r, sizeof(r), rfd, &in) == 0 && in.fd >= 0 && in.map &&
			  in.size == 4096 && in.offset == 4096 && in.num_queues == 2 &&
			  in.queue_size == 128 && !memcmp(in.map, "vdm-region", 10),
		  "GET_INFLIGHT_FD: the region is mapped at its offset (%s)", vhost_dev_error(d));
	drv_check(find_request(GET_INFLIGHT_FD, &req, sizeof(req), &got_fd) && req.nq == 2 &&
			  req.qs == 128 && req.size == 0 && got_fd < 0,
		  "... asked for 2 rings of 128, no fd sent");
	drv_check(vhost_dev_set_inflight(d, &in) == 0, "SET_INFLIGHT_FD is sent");
	struct stat a, b;
	drv_check(find_request(SET_INFLIGHT_FD, &set, sizeof(set), &got_fd) && got_fd >= 0 &&
			  set.size == 4096 && set.offset == 4096 && set.nq == 2 && set.qs == 128 &&
			  !fstat(got_fd, &a) && !fstat(rfd, &b) && a.st_ino == b.st_ino,
		  "... with the same file, size, offset, rings and ring size");
	if (got_fd >= 0)
		close(got_fd);
	vhost_inflight_free(&in);
	drv_check(in.fd == -1 && !in.map, "vhost_inflight_free: none left");
	r = (struct inflight){ 0, 0, 2, 128, 0 };
	drv_check(get_with(d, &r, sizeof(r), -1, &in) == 0 && in.fd == -1,
		  "a back-end that declines (0 bytes): no region, no error");
	done(d);
	close(rfd);
}

/* One hostile reply: refused, nothing kept. */
static void refused(const char *what, const void *r, uint32_t rlen, int fd)
{
	struct vhost_inflight in = { .fd = -1 };
	struct vhost_dev *d = front_end(PF_INFLIGHT, true);
	int before = vu_count_fds(), ret;

	if (!d)
		return;
	ret = get_with(d, r, rlen, fd, &in);
	drv_check(ret < 0 && in.fd == -1 && !in.map && vu_count_fds() == before,
		  "%s: refused, nothing kept (%d: %s)", what, ret, vhost_dev_error(d));
	done(d);
}

static void hostile(void)
{
	int sealed = region_file(8192, true), loose = region_file(8192, false);
	struct inflight r = { 4096, 0, 2, 128, 0 };

	refused("a region without its fd", &r, sizeof(r), -1);
	{
		struct vhost_inflight in = { .fd = -1 };
		struct vhost_dev *d = front_end(PF_INFLIGHT, true);

		drv_check(d && get_with(d, &r, sizeof(r), loose, &in) == 0 && in.fd >= 0 &&
				  !in.map && in.size == 4096,
			  "a region in a file that could shrink: kept, not mapped");
		vhost_inflight_free(&in);
		if (d)
			done(d);
	}
	r.size = 16384;
	refused("a region past the end of its file", &r, sizeof(r), sealed);
	r = (struct inflight){ 4096, 100, 2, 128, 0 };
	refused("a region at an unaligned offset", &r, sizeof(r), sealed);
	r = (struct inflight){ 1ULL << 40, 0, 2, 128, 0 };
	refused("a region of 1 TiB", &r, sizeof(r), sealed);
	r = (struct inflight){ 4096, ~0ULL & ~4095ULL, 2, 128, 0 };
	refused("a region at an offset that wraps", &r, sizeof(r), sealed);
	r = (struct inflight){ 4096, 0, 2, 128, 0 };
	refused("a reply of 16 bytes", &r, 16, sealed);
	close(sealed);
	close(loose);
}

int main(void)
{
	good();
	hostile();
	return drv_result();
}
