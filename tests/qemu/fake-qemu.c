/*
 * fake-qemu.c - stands in for QEMU on the other end of vdm's qemu back-end,
 * speaking x-pci-proxy-dev's wire format byte for byte, so that the protocol
 * handling can be tested deterministically and with hostile messages (a
 * real QEMU never sends those).
 *
 * vdm runs it as its "QEMU": `fake-qemu -device help` lists the proxy
 * device; otherwise it takes the memfd size and the proxy fds from the
 * arguments vdm appended, shares guest RAM, and runs the checks below on
 * the first two functions (A and B).  It prints "ok:"/"FAIL:" lines and
 * exits with status 7 when every check passed (so the test also sees that
 * vdm passes QEMU's exit status on), 1 otherwise.
 *
 * With FAKE_QEMU_SCENARIO=vhost-remap it instead plays a guest driving one
 * virtio-blk routed to a vhost-user back-end (tests/qemu/vhost_remap.sh):
 * the memory map grows while the ring runs (a request whose buffer lies in
 * the new region must work), then guest RAM under the ring moves (the
 * device must go to DEVICE_NEEDS_RESET).  FAKE_QEMU_SCENARIO=vbsu-remap is
 * the same guest on a virtio-blk vdm serves itself (tests/qemu/vbsu_remap.sh):
 * after the map grows, guest RAM under the ring moves with its contents (the
 * next request must be served from the ring where the guest now sees it),
 * then the map drops the ring's RAM (DEVICE_NEEDS_RESET).
 */
#include "mpqemu.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FNS 8
#define BAR4_BASE 0xfe000000ULL
#define ISR_OFF 0x1000
#define COMMON_STATUS 0x14
#define COMMON_NUM_QUEUES 0x12

static int failures;

static void check(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	if (!ok)
		failures++;
}

static int send_msg(int sock, int32_t cmd, const void *payload, size_t len, const int *fds,
		    int nfds)
{
	struct mpqemu_hdr hdr = { .cmd = cmd, .size = len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, len } };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MPQEMU_MAX_FDS)];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)(sizeof(hdr) + len) ? 0 : -1;
}

/* Wait for RET; returns its value, or -1 with *closed set on EOF/timeout. */
static uint64_t await_ret(int sock, bool *closed)
{
	struct {
		struct mpqemu_hdr hdr;
		struct mpqemu_ret ret;
	} msg;
	size_t have = 0;

	*closed = false;
	while (have < sizeof(msg)) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) != 1) {
			*closed = true;
			return ~0ULL;
		}
		n = recv(sock, (char *)&msg + have, sizeof(msg) - have, 0);
		if (n <= 0) {
			*closed = true;
			return ~0ULL;
		}
		have += (size_t)n;
	}
	if (msg.hdr.cmd != MPQEMU_RET || msg.hdr.size != 8)
		*closed = true;
	return msg.ret.val;
}

static uint64_t cfg(int sock, bool write, uint32_t addr, uint32_t val, int len, bool *closed)
{
	struct mpqemu_cfg c = { .addr = addr, .val = val, .len = len };

	if (send_msg(sock, write ? MPQEMU_PCI_CFGWRITE : MPQEMU_PCI_CFGREAD, &c, sizeof(c),
		     NULL, 0)) {
		*closed = true;
		return ~0ULL;
	}
	return await_ret(sock, closed);
}

static uint64_t bar(int sock, bool write, uint64_t addr, uint64_t val, uint32_t size,
		    bool *closed)
{
	struct mpqemu_bar b = { .addr = addr, .val = val, .size = size, .memory = 1 };

	if (send_msg(sock, write ? MPQEMU_BAR_WRITE : MPQEMU_BAR_READ, &b, sizeof(b), NULL, 0)) {
		*closed = true;
		return ~0ULL;
	}
	return await_ret(sock, closed);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void drain(int efd)
{
	eventfd_t v;

	while (readable(efd, 0) && eventfd_read(efd, &v) == 0)
		;
}

/* Function A: IDs, BAR programming, INTx level through irqfd + resample,
 * DEVICE_RESET. */
static void exercise_a(int s)
{
	bool closed;
	uint64_t v;
	int irqfd = eventfd(0, EFD_NONBLOCK), resample = eventfd(0, EFD_NONBLOCK);
	int fds[2] = { irqfd, resample };

	v = cfg(s, false, 0, 0, 4, &closed);
	check(!closed && (v & 0xffff) == 0x1af4 && (v >> 16) >= 0x1040,
	      "A: config read returns vendor 0x1af4 and a modern device ID");
	v = cfg(s, false, 0x3d, 0, 1, &closed);
	check(!closed && v == 1, "A: interrupt pin is INTA");
	v = cfg(s, false, 0x34, 0, 1, &closed);
	/* Walk the capability list: no MSI-X through this proxy. */
	bool msix = false;
	for (int i = 0; i < 16 && v && !closed; i++) {
		uint64_t id = cfg(s, false, (uint32_t)v, 0, 1, &closed);

		msix = msix || id == 0x11;
		v = cfg(s, false, (uint32_t)v + 1, 0, 1, &closed);
	}
	check(!closed && !msix, "A: no MSI-X capability (the proxy cannot deliver MSI)");

	/* Place BAR4 (64-bit) and enable memory decoding. */
	cfg(s, true, 0x20, (uint32_t)BAR4_BASE, 4, &closed);
	cfg(s, true, 0x24, 0, 4, &closed);
	cfg(s, true, 0x04, 0x2, 2, &closed);
	v = bar(s, false, BAR4_BASE + COMMON_NUM_QUEUES, 0, 2, &closed);
	check(!closed && v >= 1 && v < 0xffff, "A: BAR read reaches the common config");

	check(send_msg(s, MPQEMU_SET_IRQFD, NULL, 0, fds, 2) == 0, "A: SET_IRQFD sent");
	/* DRIVER_OK without FEATURES_OK: the device needs a reset and raises
	 * a config interrupt on INTx. */
	bar(s, true, BAR4_BASE + COMMON_STATUS, 1 | 2 | 4, 1, &closed);
	check(readable(irqfd, 2000), "A: a device error asserts INTx through the irqfd");
	drain(irqfd);
	eventfd_write(resample, 1);
	check(readable(irqfd, 2000), "A: resample while still pending re-asserts INTx");
	drain(irqfd);
	v = bar(s, false, BAR4_BASE + ISR_OFF, 0, 1, &closed);
	check(!closed && (v & 2), "A: ISR shows the config change");
	eventfd_write(resample, 1);
	check(!readable(irqfd, 300), "A: after the ISR read, resample does not re-assert");
	v = bar(s, false, BAR4_BASE + COMMON_STATUS, 0, 1, &closed);
	check(!closed && (v & 0x40), "A: status shows DEVICE_NEEDS_RESET");

	check(send_msg(s, MPQEMU_DEVICE_RESET, NULL, 0, NULL, 0) == 0 &&
	      (await_ret(s, &closed), !closed), "A: DEVICE_RESET is answered");
	v = cfg(s, false, 0x04, 0, 2, &closed);
	check(!closed && (v & 0x2) == 0, "A: reset clears the command register");
	close(irqfd);
	close(resample);
}

static bool answers(int s)
{
	bool closed;
	uint64_t v = cfg(s, false, 0, 0, 2, &closed);

	return !closed && v == 0x1af4;
}

static bool stopped(int s)
{
	char c;

	/* vdm closes its end: we see EOF (after any bytes it sent). */
	for (int i = 0; i < 50; i++) {
		if (!readable(s, 100))
			continue;
		if (recv(s, &c, 1, 0) <= 0)
			return true;
	}
	return false;
}

/* Hostile traffic on B, C, D, ...: each stops only that function. */
static void hostile(int *socks, int n)
{
	static const char *const names[] = {
		"an unknown command", "a payload size that does not match the command",
		"a truncated message then EOF", "file descriptors on a config read",
		"a config read out of range",
	};
	for (int i = 0; i < n && i < 5; i++) {
		int s = socks[i];
		struct mpqemu_cfg c = { .addr = 0, .len = 4 };
		char what[160];

		switch (i) {
		case 0: {
			struct mpqemu_hdr h = { .cmd = 99, .size = 0 };

			send(s, &h, sizeof(h), MSG_NOSIGNAL);
			break;
		}
		case 1: {
			uint8_t junk[40] = { 0 };

			send_msg(s, MPQEMU_PCI_CFGREAD, junk, sizeof(junk), NULL, 0);
			break;
		}
		case 2: {
			struct mpqemu_hdr h = { .cmd = MPQEMU_PCI_CFGREAD, .size = sizeof(c) };

			send(s, &h, sizeof(h), MSG_NOSIGNAL);
			send(s, &c, 5, MSG_NOSIGNAL);
			shutdown(s, SHUT_WR);
			break;
		}
		case 3: {
			int fd = eventfd(0, 0);

			send_msg(s, MPQEMU_PCI_CFGREAD, &c, sizeof(c), &fd, 1);
			close(fd);
			break;
		}
		case 4:
			c.addr = 8192;
			send_msg(s, MPQEMU_PCI_CFGREAD, &c, sizeof(c), NULL, 0);
			break;
		}
		snprintf(what, sizeof(what), "function %d: %s stops it", i + 2, names[i]);
		check(stopped(s), what);
	}
}

/* ---- vhost-remap scenario ---- */

#define RING_DESC 0x10000
#define RING_AVAIL 0x11000
#define RING_USED 0x12000
#define REQ_HDR 0x20000
#define REQ_STATUS 0x21000
#define QSIZE 16

static void sysmem(int s, int memfd, int n, const uint64_t *gpa, const uint64_t *len,
		   const uint64_t *off)
{
	struct mpqemu_sysmem m = { 0 };
	int fds[MPQEMU_MAX_FDS];

	for (int i = 0; i < n; i++) {
		m.gpas[i] = gpa[i];
		m.sizes[i] = len[i];
		m.offsets[i] = (int64_t)off[i];
		fds[i] = memfd;
	}
	send_msg(s, MPQEMU_SYNC_SYSMEM, &m, sizeof(m), fds, n);
}

static void common_wr(int s, unsigned off, unsigned size, uint64_t val)
{
	bool closed;

	bar(s, true, BAR4_BASE + off, val, size, &closed);
}

/* One blk request: header, 4 KiB at data_gpa, status; waits for it. */
static int blk_request(int s, uint8_t *ram, uint32_t type, uint64_t data_gpa, uint16_t *avail_idx)
{
	struct vring_desc *desc = (struct vring_desc *)(ram + RING_DESC);
	struct vring_avail *avail = (struct vring_avail *)(ram + RING_AVAIL);
	struct vring_used *used = (struct vring_used *)(ram + RING_USED);
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(ram + REQ_HDR);
	uint16_t want = (uint16_t)(*avail_idx + 1);

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = 8 };
	ram[REQ_STATUS] = 0xee;
	desc[0] = (struct vring_desc){ REQ_HDR, 16, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ data_gpa, 4096,
				       VRING_DESC_F_NEXT |
					       (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0),
				       2 };
	desc[2] = (struct vring_desc){ REQ_STATUS, 1, VRING_DESC_F_WRITE, 0 };
	avail->ring[*avail_idx % QSIZE] = 0;
	/* Release: the descriptors before the index that publishes them. */
	__atomic_store_n(&avail->idx, want, __ATOMIC_RELEASE);
	*avail_idx = want;
	common_wr(s, 0x3000, 2, 0); /* kick queue 0 */
	for (int i = 0; i < 500; i++) {
		if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == want)
			return ram[REQ_STATUS];
		usleep(10000);
	}
	return -1;
}

static int remap(int s, int memfd, uint64_t size, bool vhost)
{
	const char *name = vhost ? "vhost-remap" : "vbsu-remap";
	char what[160];
	uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	uint64_t half = size / 2, gpa[2] = { 0, half }, len[2] = { half, half }, off[2] = { 0, half };
	uint64_t data = half + 0x1000; /* in the region that comes later */
	uint16_t avail_idx = 0;
	bool closed;

	if (ram == MAP_FAILED)
		return 1;
	sysmem(s, memfd, 1, gpa, len, off);
	cfg(s, true, 0x20, (uint32_t)BAR4_BASE, 4, &closed);
	cfg(s, true, 0x24, 0, 4, &closed);
	cfg(s, true, 0x04, 0x2, 2, &closed);
	common_wr(s, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	common_wr(s, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	common_wr(s, VIRTIO_PCI_COMMON_STATUS, 1,
		  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	common_wr(s, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	common_wr(s, VIRTIO_PCI_COMMON_GF, 4, 1); /* VIRTIO_F_VERSION_1, bit 32 */
	common_wr(s, VIRTIO_PCI_COMMON_STATUS, 1,
		  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			  VIRTIO_CONFIG_S_FEATURES_OK);
	common_wr(s, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	common_wr(s, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
	common_wr(s, VIRTIO_PCI_COMMON_Q_DESCLO, 4, RING_DESC);
	common_wr(s, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, RING_AVAIL);
	common_wr(s, VIRTIO_PCI_COMMON_Q_USEDLO, 4, RING_USED);
	common_wr(s, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	common_wr(s, VIRTIO_PCI_COMMON_STATUS, 1,
		  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	snprintf(what, sizeof(what), "%s: the virtio-blk reaches DRIVER_OK", name);
	check((bar(s, false, BAR4_BASE + VIRTIO_PCI_COMMON_STATUS, 0, 1, &closed) & 0x4f) == 0xf,
	      what);
	snprintf(what, sizeof(what), "%s: a write from the first region completes", name);
	check(blk_request(s, ram, VIRTIO_BLK_T_OUT, 0x30000, &avail_idx) == VIRTIO_BLK_S_OK, what);

	/* Guest RAM grows: the back-end must learn the new region. */
	sysmem(s, memfd, 2, gpa, len, off);
	for (int i = 0; i < 4096; i++)
		ram[data + i] = (uint8_t)(i * 7 + 3);
	snprintf(what, sizeof(what), "%s: after the map grew, a write from the new region completes",
		 name);
	check(blk_request(s, ram, VIRTIO_BLK_T_OUT, data, &avail_idx) == VIRTIO_BLK_S_OK, what);
	memset(ram + data, 0, 4096);
	bool same = blk_request(s, ram, VIRTIO_BLK_T_IN, data, &avail_idx) == VIRTIO_BLK_S_OK;
	for (int i = 0; same && i < 4096; i++)
		same = ram[data + i] == (uint8_t)(i * 7 + 3);
	snprintf(what, sizeof(what), "%s: and reads back into the new region", name);
	check(same, what);

	if (!vhost) {
		/* Guest RAM under the ring moves, contents and all (the guest
		 * sees the same bytes at the same addresses): vdm must serve
		 * the next request from where the ring now is. */
		uint8_t *moved = ram + 0x100000;

		memmove(moved, ram, half);
		off[0] = 0x100000;
		sysmem(s, memfd, 2, gpa, len, off);
		/* The image checks this write (sector 8): its data is read
		 * where the guest sees address 0x30000 now, too. */
		for (int i = 0; i < 4096; i++)
			moved[0x30000 + i] = (uint8_t)(i * 7 + 3);
		check(blk_request(s, moved, VIRTIO_BLK_T_OUT, 0x30000, &avail_idx) ==
			      VIRTIO_BLK_S_OK,
		      "vbsu-remap: after RAM under the ring moved, a request is served from "
		      "where the guest now sees the ring");
		/* Then the map drops the ring's RAM altogether. */
		sysmem(s, memfd, 1, gpa + 1, len + 1, off + 1);
	} else {
		/* Guest RAM under the ring moves: the ring addresses the
		 * back-end holds mean nothing now, so the device needs a reset. */
		off[0] = 0x100000;
		sysmem(s, memfd, 2, gpa, len, off);
	}
	uint64_t st = 0;
	for (int i = 0; i < 100 && !(st & VIRTIO_CONFIG_S_NEEDS_RESET); i++) {
		st = bar(s, false, BAR4_BASE + VIRTIO_PCI_COMMON_STATUS, 0, 1, &closed);
		usleep(10000);
	}
	check(st & VIRTIO_CONFIG_S_NEEDS_RESET,
	      vhost ? "vhost-remap: moving RAM under the running ring sets DEVICE_NEEDS_RESET"
		    : "vbsu-remap: a map without the ring's RAM sets DEVICE_NEEDS_RESET");
	munmap(ram, size);
	return failures ? 1 : 7;
}

int main(int argc, char **argv)
{
	int socks[MAX_FNS], nsocks = 0, memfd;
	unsigned long long size = 0;

	if (argc == 3 && !strcmp(argv[1], "-device") && !strcmp(argv[2], "help")) {
		printf("name \"x-pci-proxy-dev\", bus PCI\n");
		return 0;
	}
	for (int i = 1; i + 1 < argc; i++) {
		const char *p;

		if (!strcmp(argv[i], "-object") && (p = strstr(argv[i + 1], "size=")))
			size = strtoull(p + 5, NULL, 0);
		if (!strcmp(argv[i], "-device") && !strncmp(argv[i + 1], "x-pci-proxy-dev,", 16) &&
		    (p = strstr(argv[i + 1], "fd=")) && nsocks < MAX_FNS)
			socks[nsocks++] = atoi(p + 3);
	}
	const char *scenario = getenv("FAKE_QEMU_SCENARIO");
	bool vhost_remap = scenario && !strcmp(scenario, "vhost-remap");
	bool remapping = vhost_remap || (scenario && !strcmp(scenario, "vbsu-remap"));

	check(size > 0 && nsocks >= (remapping ? 1 : 2), "vdm passed guest RAM and proxy sockets");
	if (size == 0 || nsocks < (remapping ? 1 : 2))
		return 1;
	memfd = memfd_create("fake-qemu-ram", 0);
	if (memfd < 0 || ftruncate(memfd, (off_t)size))
		return 1;
	if (remapping)
		return remap(socks[0], memfd, size, vhost_remap);
	for (int i = 0; i < nsocks; i++) {
		struct mpqemu_sysmem m = { .gpas = { 0 }, .sizes = { size }, .offsets = { 0 } };

		/* Twice, as QEMU does while the BIOS runs: the map is replaced. */
		send_msg(socks[i], MPQEMU_SYNC_SYSMEM, &m, sizeof(m), &memfd, 1);
		send_msg(socks[i], MPQEMU_SYNC_SYSMEM, &m, sizeof(m), &memfd, 1);
	}
	exercise_a(socks[0]);
	hostile(socks + 1, nsocks - 1);
	check(answers(socks[0]), "function 1 still answers after the others were stopped");
	return failures ? 1 : 7;
}
