/*
 * fuzz_vhost_server.c - libFuzzer target for the back-end side of
 * vhost-user (vhost-proxy/vhost_user_server.c, vhost_server_mem.c): what a
 * hostile front-end sends vdm-vhost-user.
 *
 * The input is a few bytes of guest RAM, then records, each one write of the
 * front-end's byte stream with the file descriptors it carries:
 *   u16 ram_len, ram_len bytes (the start of guest RAM, a memfd; the same
 *   bytes start the in-flight region file),
 *   then per record: u8 fds (bits 0-2: how many; bit 3: eventfds instead of
 *   the RAM memfd; bit 4: the in-flight region file, a memfd sealed against
 *   shrinking), u16 len, len bytes.
 * The records go to a front-end connected to a server of a device with two
 * rings, a 24-byte config space and in-flight tracking (INFLIGHT_SHMFD);
 * then the front-end shuts its end and the server handles messages until
 * one ends the connection.  A ring that starts is set up with libvbsu
 * through the server's translation, attached to its part of the in-flight
 * region when there is one (hostile bytes: resubmissions, torn batches),
 * and its chains are taken and given back, as vdm-vhost-user does.  Whatever the
 * bytes: no crash, nothing touched outside the memory table, and after the
 * disconnect not one fd more open than before.
 */
#include "vbsu.h"
#include "vhostproxy.h"
#include "vu_msg.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (1u << 16)
#define NRINGS 2
#define MAX_FDS_PER_INPUT 64

static struct vhost_server *srv;
static char sock_path[108];
static int ram_fd = -1, ev_fd = -1, region_fd = -1;
static uint8_t config[24];
static struct vqueue vqs[NRINGS];
static bool running[NRINGS];

static int ring_start(void *opaque, unsigned idx, const struct vhost_server_ring *r, char *err,
		      size_t errlen)
{
	struct vq_mem mem = { vhost_server_translate, srv };
	struct iovec iov[64];
	struct vq_chain c;

	(void)opaque;
	(void)err;
	(void)errlen;
	if (idx >= NRINGS)
		abort(); /* the server let an index through */
	vq_reset(&vqs[idx]);
	if (vq_setup(&vqs[idx], &mem, r->num, 256, r->desc_gpa, r->avail_gpa, r->used_gpa,
		     r->features))
		return -22;
	if (r->inflight) {
		if (vq_inflight_attach(&vqs[idx], r->inflight, r->inflight_len, r->base)) {
			vq_reset(&vqs[idx]);
			return -22;
		}
	} else {
		vq_set_indexes(&vqs[idx], r->base, vq_used_idx_in_ring(&vqs[idx]));
	}
	running[idx] = true;
	/* Take what the guest RAM says is posted, and give it back used. */
	for (int i = 0; i < 64 && vq_getchain(&vqs[idx], &c, iov, 64) > 0; i++)
		vq_relchain(&vqs[idx], c.head, 0);
	vq_endchains(&vqs[idx]);
	return 0;
}

static void ring_stop(void *opaque, unsigned idx, uint16_t *next)
{
	(void)opaque;
	if (idx >= NRINGS || !running[idx])
		abort(); /* stopping a ring that never started */
	*next = vqs[idx].last_avail;
	vq_reset(&vqs[idx]);
	running[idx] = false;
}

static int mem_changed(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	(void)err;
	(void)errlen;
	for (int i = 0; i < NRINGS; i++)
		if (running[i] && vq_remap(&vqs[i]))
			return -14;
	return 0;
}

static void setup_once(void)
{
	static const struct vhost_server_dev dev = {
		.name = "fuzz",
		.features = 1ULL << 32 | 1ULL << 28 | 1ULL << 29, /* VERSION_1, INDIRECT, EVENT_IDX */
		.nrings = NRINGS,
		.max_ring_size = 256,
		.ring_start = ring_start,
		.ring_stop = ring_stop,
		.mem_changed = mem_changed,
		.config = config,
		.config_len = sizeof(config),
		.inflight_queue_bytes = vq_inflight_queue_bytes,
	};
	char dir[] = "/tmp/vdm-fuzz-vserver-XXXXXX", err[256];

	if (srv)
		return;
	for (unsigned i = 0; i < sizeof(config); i++)
		config[i] = (uint8_t)i;
	ram_fd = memfd_create("fuzz-guest-ram", MFD_CLOEXEC);
	ev_fd = eventfd(0, EFD_CLOEXEC);
	region_fd = vu_region_file("fuzz-inflight", RAM, true);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM) || ev_fd < 0 || region_fd < 0 || !mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", dir);
	if (vhost_server_open(&srv, sock_path, &dev, err, sizeof(err))) {
		fprintf(stderr, "fuzz_vhost_server: %s\n", err);
		abort();
	}
}

/* One write of len bytes carrying n fds (the RAM memfd, the eventfd or the
 * in-flight region file). */
static void send_record(int fd, const uint8_t *p, size_t len, int n, int kind)
{
	struct iovec iov = { (void *)p, len };
	int fds[7];

	for (int i = 0; i < n; i++)
		fds[i] = kind & 16 ? region_fd : kind & 8 ? ev_fd : ram_fd;
	if (vu_send_fds(fd, &iov, 1, fds, n, MSG_DONTWAIT) < 0) {
		/* The server's buffer is full: what was sent is the input. */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 2, ram_len;
	int before, fe, nfds = 0;

	setup_once();
	if (size < 2 || size > 16384)
		return 0;
	ram_len = (size_t)(data[0] | data[1] << 8);
	if (ram_len > size - 2)
		ram_len = size - 2;
	{
		static const uint8_t zero[RAM];

		if (pwrite(ram_fd, zero, RAM, 0) != RAM || pwrite(region_fd, zero, RAM, 0) != RAM ||
		    (ram_len && pwrite(ram_fd, data + 2, ram_len, 0) != (ssize_t)ram_len) ||
		    (ram_len && pwrite(region_fd, data + 2, ram_len, 0) != (ssize_t)ram_len))
			abort();
	}
	off += ram_len;
	before = vu_count_fds();
	fe = vu_connect(sock_path);
	if (fe < 0 || vhost_server_accept(srv)) {
		if (fe >= 0)
			close(fe);
		return 0;
	}
	while (off + 3 <= size) {
		int n = data[off] & 7, kind = data[off] & 0x18;
		size_t len = (size_t)(data[off + 1] | data[off + 2] << 8);

		off += 3;
		if (len > size - off)
			len = size - off;
		if (nfds + n > MAX_FDS_PER_INPUT)
			n = 0;
		nfds += n;
		if (len)
			send_record(fe, data + off, len, n, kind);
		off += len;
	}
	shutdown(fe, SHUT_WR);
	for (int i = 0; i < 100000 && vhost_server_handle(srv) == 0; i++) {
	}
	vhost_server_disconnect(srv);
	close(fe);
	for (int i = 0; i < NRINGS; i++)
		if (running[i])
			abort(); /* a ring left running after the front-end went */
	if (vu_count_fds() != before) {
		fprintf(stderr, "fuzz_vhost_server: %d fds before, %d after\n", before, vu_count_fds());
		abort();
	}
	return 0;
}
