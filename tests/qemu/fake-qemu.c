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
 */
#include "../../hsm-shim/mpqemu.h"

#include <errno.h>
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
	check(size > 0 && nsocks >= 2, "vdm passed guest RAM and proxy sockets");
	if (size == 0 || nsocks < 2)
		return 1;
	memfd = memfd_create("fake-qemu-ram", 0);
	if (memfd < 0 || ftruncate(memfd, (off_t)size))
		return 1;
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
