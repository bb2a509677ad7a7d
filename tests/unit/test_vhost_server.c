/*
 * test_vhost_server.c - libvhostproxy's vhost-user back-end side against a
 * front-end written here, speaking raw vhost-user on the server's socket:
 *   - a well-behaved bring-up (features, protocol features, queue count,
 *     REPLY_ACK, memory table, ring set-up, enable), the ring handed to the
 *     device with its addresses translated, translation bounded by the
 *     table, GET_VRING_BASE stopping it, a new table under a running ring,
 *     a second front-end refused, the rings stopped at disconnect;
 *   - hostile messages, each of which must end the connection with a reason
 *     naming what was wrong, leak no fd and touch no memory outside the
 *     table: bad sizes, versions and flags, unknown requests, ring indexes
 *     out of range, ring sizes, addresses outside the table, overlapping,
 *     too many, empty, wrapping and too-long regions, fd counts that do not
 *     match (and more fds than any request carries), logging (migration)
 *     requests, requests whose protocol feature was not negotiated, changes
 *     to a started ring, a message cut short;
 *   - a device with a config space: CONFIG offered, GET_CONFIG answers the
 *     bytes asked for, and config requests out of range (past the end,
 *     wrapping, sizes that do not match the payload or exceed 256 bytes),
 *     without the feature, or writing (SET_CONFIG) end the connection;
 *   - a device that tracks requests in flight: INFLIGHT_SHMFD offered,
 *     GET_INFLIGHT_FD answers a sealed, zeroed memfd of the device's size,
 *     SET_INFLIGHT_FD maps one and each ring gets its own part; hostile
 *     GET/SET_INFLIGHT_FD (no feature, ring counts and sizes out of range,
 *     wrong payload, fd counts, a size that is not the layout's, an fd that
 *     is not a file, not sealed, too short or at an unaligned offset, a
 *     region changed under a running ring) end the connection;
 *   - the driver's status (STATUS): offered, rings run from KICK and ENABLE
 *     without DRIVER_OK, SET_STATUS 0 stops them where they are until their
 *     next KICK, FEATURES_OK refused without
 *     VERSION_1 (GET_STATUS shows it), DRIVER_OK without FEATURES_OK and a
 *     bit cleared without a reset give NEEDS_RESET and stop the rings, a
 *     broken ring sets NEEDS_RESET and writes its error fd; hostile
 *     SET/GET_STATUS (a value wider than a byte, wrong sizes, without the
 *     feature) end the connection.
 */
#include "vhostproxy.h"
#include "vu_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#define NRINGS 2
#define RAM_SIZE (4u << 20)
#define F_VERSION_1 (1ULL << 32)
#define F_PROTOCOL (1ULL << 30)

/* The wire format, written out here from the spec rather than shared with
 * the code under test. */
enum {
	GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5, SET_LOG_BASE = 6,
	SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11,
	SET_VRING_KICK = 12, SET_VRING_CALL = 13, SET_VRING_ERR = 14, GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17, SET_VRING_ENABLE = 18, GET_CONFIG = 24,
	SET_CONFIG = 25, SET_BACKEND_REQ_FD = 21, GET_INFLIGHT_FD = 31, SET_INFLIGHT_FD = 32,
	SET_STATUS = 39, GET_STATUS = 40,
};
#define PF_STATUS (1ULL << 16)
/* Device status bits (virtio 1.2, 2.1). */
#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 0x40u
#define PF_INFLIGHT (1ULL << 12)
#define PF_BACKEND_REQ (1ULL << 5)
#define PF_CONFIG (1ULL << 9)
#define V1 0x1u
#define NEED_REPLY 0x8u

struct region {
	uint64_t gpa, size, uaddr, off;
};
struct mem {
	uint32_t n, pad;
	struct region r[12];
};
struct addr {
	uint32_t idx, flags;
	uint64_t desc, used, avail, log;
};
struct state {
	uint32_t idx, num;
};
struct inflight_msg {
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
	uint32_t pad;
};
struct config_msg {
	uint32_t off, size, flags;
	uint8_t bytes[260];
};

static int passed, failed;

static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	ok ? passed++ : failed++;
	return ok;
}

/* ---- a device that records what the server asks of it ---- */

static struct {
	int starts, stops, mem_changes;
	int status_changes;
	uint8_t status;      /* as the last status_changed said */
	char status_why[128];
	struct vhost_server_ring last;
	bool translated;     /* ring_start could reach the whole ring */
	struct vhost_server *s;
} dev;

static int fake_start(void *opaque, unsigned idx, const struct vhost_server_ring *r, char *err,
		      size_t errlen)
{
	(void)opaque;
	(void)idx;
	(void)err;
	(void)errlen;
	dev.starts++;
	dev.last = *r;
	dev.translated = vhost_server_translate(dev.s, r->desc_gpa, 16ull * r->num) &&
			 vhost_server_translate(dev.s, r->used_gpa, 6 + 8ull * r->num);
	return 0;
}

static void fake_stop(void *opaque, unsigned idx, uint16_t *next)
{
	(void)opaque;
	(void)idx;
	dev.stops++;
	*next = (uint16_t)(dev.last.base + 7); /* as if seven chains were taken */
}

static void fake_status_changed(void *opaque, uint8_t old, uint8_t status, const char *why)
{
	(void)opaque;
	(void)old;
	dev.status_changes++;
	dev.status = status;
	snprintf(dev.status_why, sizeof(dev.status_why), "%s", why);
}

static int fake_mem_changed(void *opaque, char *err, size_t errlen)
{
	(void)opaque;
	(void)err;
	(void)errlen;
	dev.mem_changes++;
	return 0;
}

/* ---- the front-end ---- */

static char sock_path[64];
static struct vhost_server *srv;
static int ram_fd;          /* guest RAM: a memfd of RAM_SIZE */

static int connect_fe(void)
{
	return vu_connect(sock_path);
}

/* Read a reply to req with a payload of len bytes into p. */
static bool recv_reply(int fd, uint32_t req, void *p, uint32_t len)
{
	struct vu_hdr h;

	if (recv(fd, &h, sizeof(h), MSG_WAITALL) != sizeof(h) || h.req != req ||
	    h.flags != (V1 | 0x4) || h.size != len)
		return false;
	return recv(fd, p, len, MSG_WAITALL) == (ssize_t)len;
}

static uint64_t get_u64(int fd, uint32_t req)
{
	uint64_t v = ~0ULL;

	vu_send_msg(fd, req, V1, NULL, 0, NULL, 0);
	if (vhost_server_handle(srv) || !recv_reply(fd, req, &v, sizeof(v)))
		return ~0ULL;
	return v;
}

/* Send one request and have the server take it: its return. */
static int req(int fd, uint32_t r, uint32_t flags, const void *p, uint32_t len, const int *fds,
	       int nfds)
{
	if (vu_send_msg(fd, r, flags, p, len, fds, nfds))
		return -999;
	return vhost_server_handle(srv);
}

static int req_u64(int fd, uint32_t r, uint64_t v, const int *fds, int nfds)
{
	return req(fd, r, V1, &v, sizeof(v), fds, nfds);
}

static int req_state(int fd, uint32_t r, uint32_t idx, uint32_t num)
{
	struct state st = { idx, num };

	return req(fd, r, V1, &st, sizeof(st), NULL, 0);
}

/* Guest RAM as two regions: gpa 0..1M at user address 0x7000000000, and
 * gpa 2M..4M at 0x7100000000, both from ram_fd. */
static struct mem two_regions(void)
{
	struct mem m = { .n = 2 };

	m.r[0] = (struct region){ 0, 1 << 20, 0x7000000000, 0 };
	m.r[1] = (struct region){ 2 << 20, 2 << 20, 0x7100000000, 2 << 20 };
	return m;
}

static int send_mem(int fd, const struct mem *m, int nfds)
{
	int fds[12];

	for (int i = 0; i < nfds; i++)
		fds[i] = ram_fd;
	return req(fd, SET_MEM_TABLE, V1, m, 8 + 32 * m->n, fds, nfds);
}

/* Connect and negotiate as QEMU does, up to a memory table. */
static int bring_up(bool proto)
{
	struct mem m = two_regions();
	int fd = connect_fe();

	if (fd < 0 || vhost_server_accept(srv))
		return -1;
	if (proto && (req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 0 | 1 << 3, NULL, 0) ||
		      req_u64(fd, SET_FEATURES, F_VERSION_1 | F_PROTOCOL, NULL, 0)))
		return -1;
	if (!proto && req_u64(fd, SET_FEATURES, F_VERSION_1, NULL, 0))
		return -1;
	if (send_mem(fd, &m, 2))
		return -1;
	return fd;
}

/* Set ring idx up in region 1 (user address 0x7100000000 + off). */
static int ring_setup(int fd, uint32_t idx, uint32_t num)
{
	struct addr a = { .idx = idx, .desc = 0x7100000000, .avail = 0x7100001000,
			  .used = 0x7100002000 };
	int call = eventfd(0, EFD_CLOEXEC), kick = eventfd(0, EFD_CLOEXEC), ret;
	uint64_t vi = idx;

	ret = req_state(fd, SET_VRING_NUM, idx, num);
	if (!ret)
		ret = req_state(fd, SET_VRING_BASE, idx, 5);
	if (!ret)
		ret = req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0);
	if (!ret)
		ret = req_u64(fd, SET_VRING_CALL, vi, &call, 1);
	if (!ret)
		ret = req_u64(fd, SET_VRING_KICK, vi, &kick, 1);
	close(call);
	close(kick);
	return ret;
}

static void drop(int fd)
{
	vhost_server_disconnect(srv);
	if (fd >= 0)
		close(fd);
}

/* ---- a well-behaved front-end ---- */

static void good_front_end(void)
{
	int fd = connect_fe(), fd2, ret;
	struct state st = { 0, 0 };
	uint64_t ack = ~0ULL;

	check(fd >= 0 && vhost_server_accept(srv) == 0, "a front-end is accepted");
	fd2 = connect_fe();
	check(vhost_server_accept(srv) == -EBUSY && strstr(vhost_server_error(srv), "second"),
	      "a second front-end is refused while one is connected");
	char c;
	check(fd2 >= 0 && read(fd2, &c, 1) == 0, "... its connection is closed at once");
	close(fd2);

	uint64_t f = get_u64(fd, GET_FEATURES);
	check(f == (F_VERSION_1 | F_PROTOCOL), "GET_FEATURES: VERSION_1 and PROTOCOL_FEATURES (%#llx)",
	      (unsigned long long)f);
	f = get_u64(fd, GET_PROTOCOL_FEATURES);
	check(f == (1 << 0 | 1 << 3 | PF_BACKEND_REQ | PF_STATUS),
	      "GET_PROTOCOL_FEATURES: MQ, REPLY_ACK, BACKEND_REQ and STATUS, no CONFIG (%#llx)",
	      (unsigned long long)f);
	check(req_u64(fd, SET_PROTOCOL_FEATURES, f & ~PF_STATUS, NULL, 0) == 0,
	      "SET_PROTOCOL_FEATURES taken");
	check(get_u64(fd, GET_QUEUE_NUM) == NRINGS, "GET_QUEUE_NUM says %d", NRINGS);
	{
		int sv[2], before = vu_count_fds();

		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		check(req(fd, SET_BACKEND_REQ_FD, V1, NULL, 0, &sv[1], 1) == 0,
		      "SET_BACKEND_REQ_FD: the back-end's channel is taken");
		close(sv[1]);
		/* Ours: sv[0]; the server's: its copy of sv[1]. */
		check(req(fd, SET_BACKEND_REQ_FD, V1, NULL, 0, &sv[0], 1) == 0 &&
			      vu_count_fds() == before + 2,
		      "... a second one replaces it (the first closed)");
		close(sv[0]);
	}
	ret = req(fd, SET_OWNER, V1 | NEED_REPLY, NULL, 0, NULL, 0);
	check(ret == 0 && recv_reply(fd, SET_OWNER, &ack, sizeof(ack)) && ack == 0,
	      "SET_OWNER with need-reply is acknowledged with 0");
	check(req_u64(fd, SET_FEATURES, F_VERSION_1 | F_PROTOCOL, NULL, 0) == 0, "SET_FEATURES taken");
	struct mem m = two_regions();
	check(send_mem(fd, &m, 2) == 0, "a two-region memory table is mapped");
	{
		int two[2] = { ram_fd, ram_fd };

		/* UML's virtio_uml sends its table whole, regions unused included. */
		check(req(fd, SET_MEM_TABLE, V1, &m, 8 + 32 * 4, two, 2) == 0,
		      "a table sent with room for 4 regions, 2 used, is taken");
	}

	/* Translation stays inside one region of the table. */
	uint8_t *p = vhost_server_translate(srv, 0, 1 << 20);
	check(p != NULL, "translate: all of region 0");
	check(vhost_server_translate(srv, (1 << 20) - 8, 16) == NULL,
	      "translate: a range straddling the end of region 0 is refused");
	check(vhost_server_translate(srv, 1 << 20, 1) == NULL,
	      "translate: the hole between the regions is refused");
	check(vhost_server_translate(srv, (4 << 20) - 1, 1) != NULL &&
		      vhost_server_translate(srv, (4 << 20) - 1, 2) == NULL,
	      "translate: the last byte of region 1, and not one more");
	check(vhost_server_translate(srv, UINT64_MAX - 3, 8) == NULL &&
		      vhost_server_translate(srv, 2 << 20, UINT64_MAX) == NULL,
	      "translate: wrapping ranges are refused");
	uint8_t *q = vhost_server_translate(srv, 2 << 20, 1);
	q[0] = 0xa5;
	uint8_t b = 0;
	check(pread(ram_fd, &b, 1, 2 << 20) == 1 && b == 0xa5,
	      "translate: region 1 maps its file at mmap_offset");

	check(ring_setup(fd, 1, 256) == 0 && dev.starts == 0,
	      "ring 1 set up; with protocol features it waits for ENABLE");
	check(req_state(fd, SET_VRING_ENABLE, 1, 1) == 0 && dev.starts == 1,
	      "SET_VRING_ENABLE starts it");
	check(dev.last.num == 256 && dev.last.base == 5 && dev.last.desc_gpa == 2 << 20 &&
		      dev.last.avail_gpa == (2 << 20) + 0x1000 && dev.last.used_gpa == (2 << 20) + 0x2000 &&
		      dev.translated && dev.last.features == (F_VERSION_1 | F_PROTOCOL),
	      "the device gets size, base, guest-physical addresses and features");
	check(req_state(fd, SET_VRING_NUM, 1, 128) < 0 && strstr(vhost_server_error(srv), "started"),
	      "SET_VRING_NUM on a started ring ends the connection (%s)", vhost_server_error(srv));
	drop(fd);
	check(dev.stops == 1, "... and the ring is stopped when it ends");

	fd = bring_up(true);
	check(fd >= 0 && ring_setup(fd, 0, 64) == 0 && req_state(fd, SET_VRING_ENABLE, 0, 1) == 0,
	      "a new front-end brings ring 0 up");
	int starts = dev.starts;
	m = two_regions();
	m.r[1].gpa = 8 << 20; /* RAM moved in the guest: same user addresses */
	check(send_mem(fd, &m, 2) == 0 && dev.mem_changes == 1,
	      "a new table under a running ring: the device looks its rings up again");
	check(vhost_server_translate(srv, 2 << 20, 1) == NULL &&
		      vhost_server_translate(srv, 8 << 20, 1) != NULL,
	      "... and translation follows the new table");
	st.idx = 0;
	ret = req(fd, GET_VRING_BASE, V1, &st, sizeof(st), NULL, 0);
	check(ret == 0 && recv_reply(fd, GET_VRING_BASE, &st, sizeof(st)) && st.idx == 0 &&
		      st.num == 12,
	      "GET_VRING_BASE stops the ring and returns where it stopped (%u)", st.num);
	check(req_state(fd, SET_VRING_NUM, 0, 32) == 0, "a stopped ring can be set up again");
	int kick = eventfd(0, EFD_CLOEXEC);
	check(req_u64(fd, SET_VRING_KICK, 0, &kick, 1) == 0 && dev.starts == starts + 1 &&
		      dev.last.base == 12 && dev.last.num == 32,
	      "SET_VRING_KICK restarts it (enabled still) from the index it stopped at");
	close(kick);
	int stops = dev.stops;
	drop(fd);
	check(dev.stops == stops + 1, "disconnect stops the running ring");

	/* QEMU's virtio-net: SET_PROTOCOL_FEATURES, then SET_VRING_ENABLE
	 * when the driver writes its features, and only then SET_FEATURES
	 * and the ring: it runs once its kick fd comes. */
	fd = connect_fe();
	struct mem qm = two_regions();
	check(fd >= 0 && vhost_server_accept(srv) == 0 &&
		      req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 0 | 1 << 3, NULL, 0) == 0 &&
		      req_state(fd, SET_VRING_ENABLE, 0, 1) == 0,
	      "SET_VRING_ENABLE after SET_PROTOCOL_FEATURES, before SET_FEATURES, is taken");
	check(req_u64(fd, SET_FEATURES, F_VERSION_1 | F_PROTOCOL, NULL, 0) == 0 &&
		      send_mem(fd, &qm, 2) == 0 && ring_setup(fd, 0, 16) == 0 &&
		      dev.starts == starts + 2,
	      "... and the ring it enabled starts at SET_VRING_KICK");
	drop(fd);
	starts = dev.starts;

	/* Without protocol features, rings run once their kick fd comes. */
	fd = bring_up(false);
	check(fd >= 0 && ring_setup(fd, 0, 16) == 0 && dev.starts == starts + 1,
	      "without protocol features a ring starts at SET_VRING_KICK");
	check(req_state(fd, SET_VRING_ENABLE, 0, 1) < 0 &&
		      strstr(vhost_server_error(srv), "without protocol features"),
	      "... and SET_VRING_ENABLE is refused (%s)", vhost_server_error(srv));
	drop(fd);
	check(vhost_server_translate(srv, 0, 1) == NULL, "after disconnect nothing is mapped");
}

/* ---- hostile front-ends ---- */

/* One case: fresh connection (brought up to a memory table when up), run
 * it, the connection must end with a reason containing want, and no fd may
 * be left behind. */
#define HOSTILE(name, up, want, ...)                                                              \
	do {                                                                                      \
		int before = vu_count_fds(), fd = up ? bring_up(true) : connect_fe();             \
		int ret = -999;                                                                   \
		if (!up && fd >= 0 && vhost_server_accept(srv))                                   \
			fd = -1;                                                                  \
		if (fd >= 0) {                                                                    \
			__VA_ARGS__;                                                                   \
		}                                                                                 \
		check(fd >= 0 && ret < 0 && ret != -999 && strstr(vhost_server_error(srv), want), \
		      "%s: the connection ends (%d: %s)", name, ret, vhost_server_error(srv));    \
		drop(fd);                                                                         \
		check(vu_count_fds() == before, "%s: no fd left open", name);                     \
	} while (0)

static void hostile(void)
{
	uint8_t big[512] = { 0 };
	struct mem m;
	int efd = eventfd(0, EFD_CLOEXEC), fds[12];

	for (int i = 0; i < 12; i++)
		fds[i] = efd;

	HOSTILE("wrong version", false, "flags", ret = req(fd, GET_FEATURES, 0x2, NULL, 0, NULL, 0));
	HOSTILE("a reply sent as a request", false, "flags",
		ret = req(fd, GET_FEATURES, V1 | 0x4, NULL, 0, NULL, 0));
	HOSTILE("unknown request", false, "unknown request 200",
		ret = req(fd, 200, V1, NULL, 0, NULL, 0));
	HOSTILE("GET_FEATURES with a payload", false, "payload of 8 bytes",
		ret = req_u64(fd, GET_FEATURES, 0, NULL, 0));
	HOSTILE("SET_FEATURES too short", false, "payload of 4 bytes",
		ret = req(fd, SET_FEATURES, V1, big, 4, NULL, 0));
	/* The size is refused from the header: the payload is never read. */
	HOSTILE("a 64 KiB payload", false, "payload of 65536",
		{ struct vu_hdr h = { SET_FEATURES, V1, 65536 };
		  send(fd, &h, sizeof(h), 0);
		  ret = vhost_server_handle(srv); });
	HOSTILE("a message cut short", false, "part of a message",
		{ struct vu_hdr h = { SET_FEATURES, V1, 8 };
		  send(fd, &h, sizeof(h), 0);
		  send(fd, big, 3, 0);
		  ret = vhost_server_handle(srv); });
	HOSTILE("closed in the middle of a message", false, "middle",
		{ struct vu_hdr h = { SET_FEATURES, V1, 8 };
		  send(fd, &h, sizeof(h), 0);
		  shutdown(fd, SHUT_WR);
		  ret = vhost_server_handle(srv); });
	HOSTILE("fds on GET_FEATURES", false, "came with 1 fds",
		ret = req(fd, GET_FEATURES, V1, NULL, 0, fds, 1));
	HOSTILE("more fds than any request carries", false, "more fds",
		ret = req_u64(fd, SET_VRING_CALL, 0, fds, 12));
	HOSTILE("two fds on SET_VRING_CALL", false, "2 fds",
		ret = req_u64(fd, SET_VRING_CALL, 0, fds, 2));
	HOSTILE("an fd with the no-fd flag", false, "1 fds with the no-fd flag",
		ret = req_u64(fd, SET_VRING_ERR, 0x100, fds, 1));
	HOSTILE("reserved bits in SET_VRING_CALL", false, "reserved bits",
		ret = req_u64(fd, SET_VRING_CALL, 0x1000, fds, 1));
	HOSTILE("SET_VRING_CALL for ring 2 of 2", false, "ring 2 does not exist",
		ret = req_u64(fd, SET_VRING_CALL, 2, fds, 1));
	HOSTILE("SET_VRING_NUM for ring 7", false, "ring 7 does not exist",
		ret = req_state(fd, SET_VRING_NUM, 7, 64));
	HOSTILE("SET_VRING_BASE for ring 0xffffffff", false, "does not exist",
		ret = req_state(fd, SET_VRING_BASE, 0xffffffff, 0));
	HOSTILE("GET_VRING_BASE for ring 9", false, "ring 9 does not exist",
		ret = req_state(fd, GET_VRING_BASE, 9, 0));
	HOSTILE("a ring of 100 entries", false, "size 100",
		ret = req_state(fd, SET_VRING_NUM, 0, 100));
	HOSTILE("a ring of 0 entries", false, "size 0", ret = req_state(fd, SET_VRING_NUM, 0, 0));
	HOSTILE("a ring of 65536 entries", false, "size 65536",
		ret = req_state(fd, SET_VRING_NUM, 0, 65536));
	HOSTILE("a base above 16 bits", false, "base 65536",
		ret = req_state(fd, SET_VRING_BASE, 0, 65536));
	HOSTILE("SET_VRING_ENABLE 2", true, "state 2", ret = req_state(fd, SET_VRING_ENABLE, 0, 2));
	HOSTILE("a kick before the ring's size and addresses", true, "no size or addresses",
		ret = req_u64(fd, SET_VRING_KICK, 0, fds, 1));
	HOSTILE("a polled ring (no kick fd)", true, "polling",
		{ req_state(fd, SET_VRING_NUM, 0, 64);
		  struct addr a = { 0, 0, 0x7000000000, 0x7000002000, 0x7000001000, 0 };
		  req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0);
		  ret = req_u64(fd, SET_VRING_KICK, 0x100, NULL, 0); });
	HOSTILE("SET_VRING_ADDR before any memory table", false, "before SET_MEM_TABLE",
		{ struct addr a = { 0, 0, 0x7000000000, 0x7000002000, 0x7000001000, 0 };
		  ret = req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0); });
	HOSTILE("SET_VRING_ADDR outside the table", true, "outside the memory table",
		{ struct addr a = { 0, 0, 0x7000000000, 0x7000002000, 0x7000100000, 0 };
		  ret = req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0); });
	HOSTILE("SET_VRING_ADDR in the hole between regions", true, "outside the memory table",
		{ struct addr a = { 1, 0, 0x70ffff0000, 0x7000002000, 0x7000001000, 0 };
		  ret = req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0); });
	HOSTILE("SET_VRING_ADDR asking for logging", true, "logging",
		{ struct addr a = { 0, 1, 0x7000000000, 0x7000002000, 0x7000001000, 0 };
		  ret = req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0); });
	m = two_regions();
	m.r[1].gpa = (1 << 20) - 4096;
	HOSTILE("regions overlapping in guest-physical space", false, "overlap",
		ret = send_mem(fd, &m, 2));
	m = two_regions();
	m.r[1].uaddr = 0x7000000000 + 4096;
	HOSTILE("regions overlapping in user address space", false, "overlap",
		ret = send_mem(fd, &m, 2));
	m = (struct mem){ .n = 9 };
	for (int i = 0; i < 9; i++)
		m.r[i] = (struct region){ (uint64_t)i << 20, 4096, 0x7000000000 + ((uint64_t)i << 20), 0 };
	HOSTILE("nine regions", false, "payload of 296 bytes", ret = send_mem(fd, &m, 9));
	m = (struct mem){ .n = 0 };
	HOSTILE("no region", false, "0 regions", ret = send_mem(fd, &m, 0));
	m = two_regions();
	HOSTILE("two regions, one fd", false, "1 fds for 2 regions", ret = send_mem(fd, &m, 1));
	HOSTILE("a table whose size does not match its count", false, "bytes for 2 regions",
		ret = req(fd, SET_MEM_TABLE, V1, &m, 8 + 32, fds, 2));
	m.r[0].size = 0;
	HOSTILE("an empty region", false, "empty", ret = send_mem(fd, &m, 2));
	m = two_regions();
	m.r[0].gpa = UINT64_MAX - 4096;
	HOSTILE("a region wrapping around", false, "wraps", ret = send_mem(fd, &m, 2));
	m = two_regions();
	m.r[1].off = RAM_SIZE - 4096;
	HOSTILE("a region past the end of its file", false, "past its file",
		ret = send_mem(fd, &m, 2));
	m = two_regions();
	HOSTILE("a region whose fd is an eventfd", false, "not a file",
		{ int two[2] = { ram_fd, efd };
		  ret = req(fd, SET_MEM_TABLE, V1, &m, 8 + 64, two, 2); });
	HOSTILE("LOG_ALL in SET_FEATURES", false, "LOG_ALL",
		ret = req_u64(fd, SET_FEATURES, F_VERSION_1 | 1ULL << 26, NULL, 0));
	HOSTILE("features never offered", false, "never offered",
		ret = req_u64(fd, SET_FEATURES, F_VERSION_1 | 1ULL << 5, NULL, 0));
	HOSTILE("protocol features never offered", false, "never offered",
		ret = req_u64(fd, SET_PROTOCOL_FEATURES, 1ULL << 9, NULL, 0));
	HOSTILE("SET_LOG_BASE", false, "migration", ret = req_u64(fd, SET_LOG_BASE, 0, fds, 0));
	HOSTILE("GET_QUEUE_NUM without MQ", false, "without the MQ",
		ret = req(fd, GET_QUEUE_NUM, V1, NULL, 0, NULL, 0));
	HOSTILE("SET_BACKEND_REQ_FD without BACKEND_REQ", true, "without the BACKEND_REQ",
		ret = req(fd, SET_BACKEND_REQ_FD, V1, NULL, 0, fds, 1));
	HOSTILE("SET_BACKEND_REQ_FD without an fd", false, "0 fds (1 expected)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_BACKEND_REQ, NULL, 0);
		  ret = req(fd, SET_BACKEND_REQ_FD, V1, NULL, 0, NULL, 0); });
	HOSTILE("SET_BACKEND_REQ_FD with two fds", false, "2 fds (1 expected)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_BACKEND_REQ, NULL, 0);
		  ret = req(fd, SET_BACKEND_REQ_FD, V1, NULL, 0, fds, 2); });
	HOSTILE("SET_BACKEND_REQ_FD with a payload", false, "payload of 8 bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_BACKEND_REQ, NULL, 0);
		  ret = req_u64(fd, SET_BACKEND_REQ_FD, 0, fds, 1); });
	HOSTILE("GET_CONFIG, never offered", false, "not served",
		ret = req(fd, GET_CONFIG, V1, big, 12, NULL, 0));
	HOSTILE("GET_INFLIGHT_FD, never offered", false, "not served",
		ret = req(fd, GET_INFLIGHT_FD, V1, big, 24, NULL, 0));

	/* A ring that starts inside the table but runs past its region's end:
	 * the translation the device sets the ring up through refuses it. */
	{
		int fd = bring_up(false);
		struct addr a = { 0, 0, 0x70000ff000, 0x7000002000, 0x7000001000, 0 };

		req_state(fd, SET_VRING_NUM, 0, 512);
		req(fd, SET_VRING_ADDR, V1, &a, sizeof(a), NULL, 0);
		req_u64(fd, SET_VRING_KICK, 0, fds, 1);
		check(!dev.translated, "a ring running past the end of its region cannot be reached");
		drop(fd);
	}

	/* REPLY_ACK: a refused request is told so before the connection ends. */
	{
		int fd = connect_fe();
		uint64_t status = 0;

		vhost_server_accept(srv);
		req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 3, NULL, 0);
		uint64_t bad = F_VERSION_1 | 1ULL << 5;
		int ret = req(fd, SET_FEATURES, V1 | NEED_REPLY, &bad, 8, NULL, 0);
		check(ret < 0 && recv_reply(fd, SET_FEATURES, &status, sizeof(status)) && status != 0,
		      "REPLY_ACK: a refused request gets a non-zero status first");
		drop(fd);
	}
	close(efd);
}

/* ---- a device with a config space ---- */

#define CONFIG_LEN 24
static uint8_t config_space[CONFIG_LEN];

/* Connect and negotiate protocol features (CONFIG among them, if config). */
static int config_conn(bool config)
{
	int fd = connect_fe();

	if (fd < 0 || vhost_server_accept(srv) ||
	    req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 0 | 1 << 3 | (config ? PF_CONFIG : 0), NULL, 0))
		return -1;
	return fd;
}

/* A config request: off, size in its header, payload bytes after it. */
static int config_req(int fd, uint32_t r, uint32_t off, uint32_t size, uint32_t payload)
{
	static struct config_msg c;

	c.off = off;
	c.size = size;
	c.flags = 0;
	return req(fd, r, V1, &c, 12 + payload, NULL, 0);
}

static void config_good(void)
{
	struct config_msg c;
	uint64_t f = ~0ULL;
	int fd = config_conn(false);

	if (fd >= 0) {
		vu_send_msg(fd, GET_PROTOCOL_FEATURES, V1, NULL, 0, NULL, 0);
		if (vhost_server_handle(srv) || !recv_reply(fd, GET_PROTOCOL_FEATURES, &f, sizeof(f)))
			f = ~0ULL;
	}
	check(f == (1 << 0 | 1 << 3 | PF_BACKEND_REQ | PF_STATUS | PF_CONFIG),
	      "a device with a config space: MQ, REPLY_ACK, BACKEND_REQ, STATUS and CONFIG offered (%#llx)",
	      (unsigned long long)f);
	drop(fd);

	fd = config_conn(true);
	check(fd >= 0 && config_req(fd, GET_CONFIG, 4, 8, 8) == 0 &&
		      recv_reply(fd, GET_CONFIG, &c, 12 + 8) && c.off == 4 && c.size == 8 &&
		      !memcmp(c.bytes, config_space + 4, 8),
	      "GET_CONFIG: bytes 4..12 of the config space, as asked");
	check(config_req(fd, GET_CONFIG, 0, CONFIG_LEN, CONFIG_LEN) == 0 &&
		      recv_reply(fd, GET_CONFIG, &c, 12 + CONFIG_LEN) &&
		      !memcmp(c.bytes, config_space, CONFIG_LEN),
	      "GET_CONFIG: the whole config space");
	drop(fd);
}

static void config_space_cases(void)
{
	struct vu_hdr h;

	config_good();
	HOSTILE("GET_CONFIG without the CONFIG protocol feature", true, "without the CONFIG",
		ret = config_req(fd, GET_CONFIG, 0, 8, 8));
	HOSTILE("GET_CONFIG past the end of the config space", false, "outside the 24-byte",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, GET_CONFIG, 20, 8, 8);
		  /* The front-end waiting for its answer is told first. */
		  if (recv(fd, &h, sizeof(h), MSG_WAITALL) != sizeof(h) || h.req != GET_CONFIG ||
		      h.size != 0)
			  ret = -998; });
	HOSTILE("GET_CONFIG at an offset that wraps", false, "outside",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, GET_CONFIG, 0xfffffffc, 8, 8); });
	HOSTILE("GET_CONFIG whose size is not its payload's", false, "16 config bytes in a payload of 20",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, GET_CONFIG, 0, 16, 8); });
	HOSTILE("GET_CONFIG of more than 256 bytes", false, "300 config bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, GET_CONFIG, 0, 300, 256); });
	HOSTILE("GET_CONFIG shorter than its header", false, "payload of 8 bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = req_u64(fd, GET_CONFIG, 0, NULL, 0); });
	HOSTILE("SET_CONFIG on a read-only config space", false, "read-only",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, SET_CONFIG, 0, 1, 1); });
	HOSTILE("SET_CONFIG past the end", false, "outside",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_CONFIG, NULL, 0);
		  ret = config_req(fd, SET_CONFIG, 23, 2, 2); });
}

/* ---- a device that tracks requests in flight ---- */

/* The device's layout: 16 bytes a ring, 16 an entry, rounded to 64. */
static size_t fake_inflight_bytes(uint16_t n)
{
	return (16 + 16 * (size_t)n + 63) & ~(size_t)63;
}

/* The reply to GET_INFLIGHT_FD and the fd that came with it (-1: none). */
static int recv_inflight(int fd, struct inflight_msg *out)
{
	struct vu_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { out, sizeof(*out) } };
	int got;

	if (vu_recv_fd(fd, iov, 2, MSG_WAITALL, &got) != sizeof(h) + sizeof(*out) ||
	    h.req != GET_INFLIGHT_FD || h.size != sizeof(*out))
		return -1;
	return got;
}

static int inflight_conn(void)
{
	int fd = bring_up(true);

	if (fd < 0 || req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 0 | 1 << 3 | PF_INFLIGHT, NULL, 0))
		return -1;
	return fd;
}

static int get_inflight(int fd, uint16_t nq, uint16_t qs, struct inflight_msg *out)
{
	struct inflight_msg m = { .num_queues = nq, .queue_size = qs };

	if (req(fd, GET_INFLIGHT_FD, V1, &m, sizeof(m), NULL, 0))
		return -1;
	return recv_inflight(fd, out);
}

static int set_inflight(int fd, uint64_t size, uint64_t off, uint16_t nq, uint16_t qs,
			const int *fds, int nfds)
{
	struct inflight_msg m = { size, off, nq, qs, 0 };

	return req(fd, SET_INFLIGHT_FD, V1, &m, sizeof(m), fds, nfds);
}

/* A memfd of size bytes, sealed against shrinking when sealed. */
static int region_file(size_t size, bool sealed)
{
	return vu_region_file("test-inflight", size, sealed);
}

static void inflight_cases(void)
{
	size_t stride = fake_inflight_bytes(256), size = 2 * stride;
	struct inflight_msg got = { 0 };
	int fd, rfd, efd = eventfd(0, EFD_CLOEXEC);
	uint64_t f = ~0ULL;
	struct stat st;

	fd = inflight_conn();
	if (fd >= 0) {
		vu_send_msg(fd, GET_PROTOCOL_FEATURES, V1, NULL, 0, NULL, 0);
		if (vhost_server_handle(srv) || !recv_reply(fd, GET_PROTOCOL_FEATURES, &f, sizeof(f)))
			f = ~0ULL;
	}
	check(f == (1 << 0 | 1 << 3 | PF_BACKEND_REQ | PF_STATUS | PF_INFLIGHT),
	      "a device that tracks requests in flight: INFLIGHT_SHMFD offered (%#llx)",
	      (unsigned long long)f);
	rfd = get_inflight(fd, 2, 256, &got);
	check(rfd >= 0 && got.mmap_size == size && got.mmap_offset == 0 && got.num_queues == 2 &&
		      got.queue_size == 256,
	      "GET_INFLIGHT_FD: a region of 2 rings of 256 entries and its fd (%llu bytes)",
	      (unsigned long long)got.mmap_size);
	check(rfd >= 0 && fstat(rfd, &st) == 0 && (size_t)st.st_size == size &&
		      (fcntl(rfd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW)) ==
			      (F_SEAL_SHRINK | F_SEAL_GROW),
	      "... a memfd of that size, sealed against shrinking and growing");
	check(set_inflight(fd, size, 0, 2, 256, &rfd, 1) == 0,
	      "SET_INFLIGHT_FD: the region handed back is taken");
	uint8_t *map = rfd >= 0 ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0)
				: MAP_FAILED;
	check(map != MAP_FAILED && ring_setup(fd, 1, 256) == 0 &&
		      req_state(fd, SET_VRING_ENABLE, 1, 1) == 0 && dev.last.inflight &&
		      dev.last.inflight_len == stride,
	      "ring 1 starts with its part of the region (%zu bytes)", dev.last.inflight_len);
	if (map != MAP_FAILED && dev.last.inflight) {
		memset(dev.last.inflight, 0x5a, 4);
		check(map[stride] == 0x5a && map[stride + 3] == 0x5a && map[stride - 1] == 0,
		      "... which is the second ring's part of the front-end's file");
		munmap(map, size);
	}
	check(set_inflight(fd, size, 0, 2, 256, &rfd, 1) < 0 &&
		      strstr(vhost_server_error(srv), "ring 1 runs"),
	      "SET_INFLIGHT_FD under a running ring ends the connection (%s)",
	      vhost_server_error(srv));
	drop(fd);
	fd = inflight_conn();
	check(fd >= 0 && ring_setup(fd, 0, 64) == 0 && req_state(fd, SET_VRING_ENABLE, 0, 1) == 0 &&
		      !dev.last.inflight,
	      "without SET_INFLIGHT_FD a ring starts with no region");
	drop(fd);
	close(efd);
	if (rfd >= 0)
		close(rfd);
}

static void inflight_hostile(void)
{
	size_t size = 2 * fake_inflight_bytes(256);
	int unsealed = region_file(size, false), sealed = region_file(size, true);
	int two[2] = { sealed, sealed }, efd = eventfd(0, EFD_CLOEXEC);
	struct inflight_msg ok = { .num_queues = 2, .queue_size = 256 };

	HOSTILE("GET_INFLIGHT_FD without the protocol feature", true, "without the INFLIGHT_SHMFD",
		ret = req(fd, GET_INFLIGHT_FD, V1, &ok, sizeof(ok), NULL, 0));
	HOSTILE("GET_INFLIGHT_FD for no ring", true, "0 rings (1 to 2 served)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  struct inflight_msg m = { .num_queues = 0, .queue_size = 256 };
		  ret = req(fd, GET_INFLIGHT_FD, V1, &m, sizeof(m), NULL, 0); });
	HOSTILE("GET_INFLIGHT_FD for 3 rings of 2", true, "3 rings (1 to 2 served)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  struct inflight_msg m = { .num_queues = 3, .queue_size = 256 };
		  ret = req(fd, GET_INFLIGHT_FD, V1, &m, sizeof(m), NULL, 0); });
	HOSTILE("GET_INFLIGHT_FD for rings of 0 entries", true, "rings of 0 entries",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  struct inflight_msg m = { .num_queues = 1, .queue_size = 0 };
		  ret = req(fd, GET_INFLIGHT_FD, V1, &m, sizeof(m), NULL, 0); });
	HOSTILE("GET_INFLIGHT_FD for rings of 65535 entries", true, "rings of 65535 entries",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  struct inflight_msg m = { .num_queues = 1, .queue_size = 65535 };
		  ret = req(fd, GET_INFLIGHT_FD, V1, &m, sizeof(m), NULL, 0); });
	HOSTILE("GET_INFLIGHT_FD of 20 bytes", true, "payload of 20 bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = req(fd, GET_INFLIGHT_FD, V1, &ok, 20, NULL, 0); });
	HOSTILE("GET_INFLIGHT_FD with an fd", true, "came with 1 fds",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = req(fd, GET_INFLIGHT_FD, V1, &ok, sizeof(ok), &sealed, 1); });
	HOSTILE("SET_INFLIGHT_FD without an fd", true, "0 fds (1 expected)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 0, 2, 256, NULL, 0); });
	HOSTILE("SET_INFLIGHT_FD with two fds", true, "2 fds (1 expected)",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 0, 2, 256, two, 2); });
	HOSTILE("SET_INFLIGHT_FD whose size is not the layout's", true, "expected",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size - 64, 0, 2, 256, &sealed, 1); });
	HOSTILE("SET_INFLIGHT_FD for 9 rings", true, "9 rings",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 0, 9, 256, &sealed, 1); });
	HOSTILE("SET_INFLIGHT_FD with an eventfd", true, "not a file",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 0, 2, 256, &efd, 1); });
	HOSTILE("SET_INFLIGHT_FD with a file that could shrink", true, "not sealed",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 0, 2, 256, &unsealed, 1); });
	HOSTILE("SET_INFLIGHT_FD past the end of its file", true, "ends past its file",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 4096, 2, 256, &sealed, 1); });
	HOSTILE("SET_INFLIGHT_FD at an unaligned offset", true, "offset",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, 100, 2, 256, &sealed, 1); });
	HOSTILE("SET_INFLIGHT_FD at an offset that wraps", true, "offset",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_INFLIGHT, NULL, 0);
		  ret = set_inflight(fd, size, ~0ULL & ~4095ULL, 2, 256, &sealed, 1); });
	close(unsealed);
	close(sealed);
	close(efd);
}

/* ---- the driver's status (STATUS) ---- */

/* Connect and negotiate with STATUS (and features f), up to a memory table. */
static int bring_up_status(uint64_t f)
{
	struct mem m = two_regions();
	int fd = connect_fe();

	if (fd < 0 || vhost_server_accept(srv) ||
	    req_u64(fd, SET_PROTOCOL_FEATURES, 1 << 0 | 1 << 3 | PF_STATUS, NULL, 0) ||
	    req_u64(fd, SET_FEATURES, f, NULL, 0) || send_mem(fd, &m, 2))
		return -1;
	return fd;
}

static uint8_t status_of(int fd)
{
	return (uint8_t)get_u64(fd, GET_STATUS);
}

static void status_cases(void)
{
	int fd = bring_up_status(F_VERSION_1 | F_PROTOCOL), starts = dev.starts, stops;
	struct state st = { 0, 0 };
	uint64_t ack = ~0ULL;

	check(fd >= 0 && status_of(fd) == 0, "STATUS negotiated: GET_STATUS says 0 at first");
	check(req_u64(fd, SET_STATUS, S_FEATURES_OK, NULL, 0) == 0 &&
		      status_of(fd) == S_FEATURES_OK,
	      "SET_STATUS FEATURES_OK (as QEMU sends after SET_FEATURES) is kept");
	check(ring_setup(fd, 0, 64) == 0 && req_state(fd, SET_VRING_ENABLE, 0, 1) == 0 &&
		      dev.starts == starts + 1 && dev.last.base == 5,
	      "a ring runs from KICK and ENABLE without DRIVER_OK (QEMU 7.2's vhost-user-rng "
	      "never sends it)");
	check(req(fd, SET_STATUS, V1 | NEED_REPLY, &(uint64_t){ 0xf }, 8, NULL, 0) == 0 &&
		      recv_reply(fd, SET_STATUS, &ack, sizeof(ack)) && ack == 0 &&
		      status_of(fd) == 0xf && dev.starts == starts + 1,
	      "SET_STATUS DRIVER_OK (acknowledged) is kept; the ring runs on");
	check(dev.status == 0xf && !dev.status_why[0], "... and the device is told the status");
	stops = dev.stops;
	check(req_u64(fd, SET_STATUS, 0, NULL, 0) == 0 && dev.stops == stops + 1 &&
		      status_of(fd) == 0,
	      "SET_STATUS 0 (QEMU's stop) stops the ring: a reset");
	check(req(fd, GET_VRING_BASE, V1, &st, sizeof(st), NULL, 0) == 0 &&
		      recv_reply(fd, GET_VRING_BASE, &st, sizeof(st)) && st.num == 12,
	      "... GET_VRING_BASE after it still says where the ring stopped (%u)", st.num);
	check(req_u64(fd, SET_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK, NULL, 0) == 0 &&
		      dev.starts == starts + 1 && ring_setup(fd, 0, 64) == 0 &&
		      dev.starts == starts + 2 && req_u64(fd, SET_STATUS, 0xf, NULL, 0) == 0,
	      "after the reset the ring runs again from its next KICK");
	stops = dev.stops;
	check(req_u64(fd, SET_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK, NULL, 0) == 0 &&
		      status_of(fd) == (0xf | S_NEEDS_RESET) && dev.stops == stops + 1 &&
		      strstr(dev.status_why, "without a reset"),
	      "FEATURES_OK taken back without a reset: NEEDS_RESET, the ring stops (%s)",
	      dev.status_why);
	check(req_u64(fd, SET_STATUS, 0xf | S_NEEDS_RESET, NULL, 0) == 0 &&
		      status_of(fd) == (0xf | S_NEEDS_RESET) && dev.starts == starts + 2,
	      "... writing back what it read changes nothing: only a reset helps");
	{
		int kick = eventfd(0, EFD_CLOEXEC);

		check(req_u64(fd, SET_VRING_KICK, 0, &kick, 1) == 0 && dev.starts == starts + 2,
		      "... not even a new KICK: the ring stays stopped while NEEDS_RESET");
		close(kick);
	}
	check(req_u64(fd, SET_STATUS, 0, NULL, 0) == 0 && status_of(fd) == 0 &&
		      ring_setup(fd, 0, 64) == 0 && dev.starts == starts + 3 &&
		      req_u64(fd, SET_STATUS, 0xf, NULL, 0) == 0 && status_of(fd) == 0xf,
	      "... after SET_STATUS 0 the ring runs again from its next KICK");
	{
		int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		uint64_t n = 0;

		check(req_u64(fd, SET_VRING_ERR, 0, &err, 1) == 0, "SET_VRING_ERR is taken");
		vhost_server_ring_error(srv, 0);
		check(status_of(fd) == (0xf | S_NEEDS_RESET) && read(err, &n, 8) == 8 && n == 1,
		      "a broken ring: NEEDS_RESET in the status, and its error fd written");
		close(err);
	}
	stops = dev.stops;
	drop(fd);
	check(dev.stops == stops + 1, "disconnect stops the ring");

	starts = dev.starts;
	stops = dev.stops;
	fd = bring_up_status(F_PROTOCOL); /* no VERSION_1 */
	check(fd >= 0 && ring_setup(fd, 0, 64) == 0 && req_state(fd, SET_VRING_ENABLE, 0, 1) == 0 &&
		      req_u64(fd, SET_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK, NULL, 0) == 0 &&
		      status_of(fd) == (S_ACK | S_DRIVER) && strstr(dev.status_why, "VERSION_1"),
	      "features without VERSION_1: FEATURES_OK refused, GET_STATUS shows it (%s)",
	      dev.status_why);
	check(req_u64(fd, SET_STATUS, 0xf, NULL, 0) == 0 &&
		      status_of(fd) == (S_ACK | S_DRIVER | S_NEEDS_RESET) &&
		      dev.starts == starts + 1 && dev.stops == stops + 1,
	      "... DRIVER_OK then: NEEDS_RESET, and the ring stops");
	drop(fd);

	fd = connect_fe();
	check(fd >= 0 && vhost_server_accept(srv) == 0 &&
		      req_u64(fd, SET_PROTOCOL_FEATURES, PF_STATUS, NULL, 0) == 0 &&
		      req_u64(fd, SET_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK, NULL, 0) == 0 &&
		      status_of(fd) == (S_ACK | S_DRIVER) && strstr(dev.status_why, "no SET_FEATURES"),
	      "FEATURES_OK before any SET_FEATURES is refused (%s)", dev.status_why);
	drop(fd);
}

static void status_hostile(void)
{
	HOSTILE("SET_STATUS wider than a byte", false, "not a status byte",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_STATUS, NULL, 0);
		  ret = req_u64(fd, SET_STATUS, 0x10f, NULL, 0); });
	HOSTILE("SET_STATUS of 4 bytes", false, "payload of 4 bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_STATUS, NULL, 0);
		  ret = req(fd, SET_STATUS, V1, &(uint32_t){ 0xf }, 4, NULL, 0); });
	HOSTILE("GET_STATUS with a payload", false, "payload of 8 bytes",
		{ req_u64(fd, SET_PROTOCOL_FEATURES, PF_STATUS, NULL, 0);
		  ret = req_u64(fd, GET_STATUS, 0, NULL, 0); });
	HOSTILE("SET_STATUS without STATUS", true, "without the STATUS",
		ret = req_u64(fd, SET_STATUS, 0xf, NULL, 0));
	HOSTILE("GET_STATUS without STATUS", false, "without the STATUS",
		ret = req(fd, GET_STATUS, V1, NULL, 0, NULL, 0));
	HOSTILE("SET_STATUS with an fd", false, "came with 1 fds",
		{ int e = eventfd(0, EFD_CLOEXEC);
		  req_u64(fd, SET_PROTOCOL_FEATURES, PF_STATUS, NULL, 0);
		  ret = req_u64(fd, SET_STATUS, 0xf, &e, 1);
		  close(e); });
}

int main(void)
{
	static const struct vhost_server_dev d = {
		.name = "test", .features = F_VERSION_1, .nrings = NRINGS, .max_ring_size = 32768,
		.ring_start = fake_start, .ring_stop = fake_stop, .mem_changed = fake_mem_changed,
		.status_changed = fake_status_changed,
	};
	char dir[] = "/tmp/vdm-vserver-XXXXXX", err[256] = "";

	if (!mkdtemp(dir))
		return 99;
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", dir);
	ram_fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE))
		return 99;
	if (!check(vhost_server_open(&srv, sock_path, &d, err, sizeof(err)) == 0,
		   "the server listens (%s)", err))
		return 1;
	dev.s = srv;
	good_front_end();
	hostile();
	status_cases();
	status_hostile();
	vhost_server_close(srv);

	/* The same device with a config space, on a new server. */
	struct vhost_server_dev dc = d;
	for (int i = 0; i < CONFIG_LEN; i++)
		config_space[i] = (uint8_t)(0x40 + i);
	dc.config = config_space;
	dc.config_len = CONFIG_LEN;
	if (!check(vhost_server_open(&srv, sock_path, &dc, err, sizeof(err)) == 0,
		   "a server for a device with a config space listens (%s)", err))
		return 1;
	dev.s = srv;
	config_space_cases();
	vhost_server_close(srv);

	/* The same device tracking requests in flight, on a new server. */
	struct vhost_server_dev di = d;
	di.inflight_queue_bytes = fake_inflight_bytes;
	if (!check(vhost_server_open(&srv, sock_path, &di, err, sizeof(err)) == 0,
		   "a server for a device that tracks requests in flight listens (%s)", err))
		return 1;
	dev.s = srv;
	inflight_cases();
	inflight_hostile();
	vhost_server_close(srv);
	check(access(sock_path, F_OK) != 0, "closing the server removes its socket");
	rmdir(dir);
	close(ram_fd);
	printf("%d checks passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
