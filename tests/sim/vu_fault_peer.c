/*
 * vu_fault_peer.c - a vhost-user back-end that fails on cue, for the route
 * switch fault tests (test_route_faults):
 *
 *   vu-fault-peer SOCKET FEATURES die|hang|complete1 REQUEST
 *
 * listens on SOCKET, answers GET_FEATURES with FEATURES (hex) and
 * GET_VRING_BASE with the base it was given (it serves no ring: what the
 * driver posts stays in the ring), accepts every other request silently
 * (it offers no protocol features, so none wants a reply), and when it
 * receives request number REQUEST (GET_FEATURES = 1, GET_VRING_BASE = 11,
 * SET_VRING_KICK = 12, ...) either exits at once, as a killed process
 * would (die), stops answering (hang), or completes the first request
 * waiting in that split ring (a zero-length used entry) and then exits
 * (complete1: a back-end that dies having done part of its work; it maps
 * the guest RAM the front-end shares for that).  REQUEST 0: never.  One
 * connection at a time; when one ends it waits for the next.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum {
	GET_FEATURES = 1, SET_MEM_TABLE = 5, SET_VRING_NUM = 8, SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10, GET_VRING_BASE = 11,
};
#define REPLY_FLAGS 0x5u /* version 1, reply */
#define MAX_PAYLOAD 4096
#define MAX_REGIONS 8

struct hdr {
	uint32_t request, flags, size;
};

/* The front-end's guest RAM, as SET_MEM_TABLE shared it (complete1). */
static struct {
	uint64_t uaddr, size;
	uint8_t *map;
	size_t map_len;
} mem[MAX_REGIONS];
static int nmem;
static int msg_fds[MAX_REGIONS], nmsg_fds;

/* A front-end address (SET_VRING_ADDR's) in our mapping, or NULL. */
static void *translate(uint64_t uaddr, uint64_t len)
{
	for (int i = 0; i < nmem; i++)
		if (uaddr >= mem[i].uaddr && uaddr - mem[i].uaddr + len <= mem[i].size)
			return mem[i].map + (uaddr - mem[i].uaddr);
	return NULL;
}

static void map_table(const uint8_t *p, uint32_t size)
{
	uint32_t n;

	for (int i = 0; i < nmem; i++)
		munmap(mem[i].map - (mem[i].map_len - mem[i].size), mem[i].map_len);
	nmem = 0;
	memcpy(&n, p, 4);
	for (uint32_t i = 0; i < n && i < MAX_REGIONS && (int)i < nmsg_fds &&
			     8 + 32 * (i + 1) <= size;
	     i++) {
		uint64_t r[4]; /* gpa, size, uaddr, mmap offset */
		void *m;

		memcpy(r, p + 8 + 32 * i, sizeof(r));
		m = mmap(NULL, r[1] + r[3], PROT_READ | PROT_WRITE, MAP_SHARED, msg_fds[i], 0);
		if (m == MAP_FAILED)
			continue;
		mem[nmem].uaddr = r[2];
		mem[nmem].size = r[1];
		mem[nmem].map_len = r[1] + r[3];
		mem[nmem].map = (uint8_t *)m + r[3];
		nmem++;
	}
}

/* Read len bytes; the fds that come along are kept in msg_fds (the
 * caller closes them).  False at the end. */
static bool read_msg(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		char cbuf[CMSG_SPACE(8 * sizeof(int))];
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
					int rfd;

					memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
					if (nmsg_fds < MAX_REGIONS)
						msg_fds[nmsg_fds++] = rfd;
					else
						close(rfd);
				}
		got += (size_t)n;
	}
	return true;
}

static void reply(int fd, uint32_t request, const void *payload, uint32_t len)
{
	struct hdr h = { request, REPLY_FLAGS, len };
	char buf[sizeof(h) + 16];

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	if (write(fd, buf, sizeof(h) + len) < 0)
		perror("vu-fault-peer: write");
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t features;
	uint32_t bases[256] = { 0 }, num[256] = { 0 };
	uint64_t avail_at[256] = { 0 }, used_at[256] = { 0 };
	unsigned long cue;
	bool die, complete1;
	int ls;

	if (argc != 5 || (strcmp(argv[3], "die") && strcmp(argv[3], "hang") &&
			  strcmp(argv[3], "complete1"))) {
		fprintf(stderr, "usage: vu-fault-peer SOCKET FEATURES die|hang|complete1 REQUEST\n");
		return 2;
	}
	features = strtoull(argv[2], NULL, 16);
	die = !strcmp(argv[3], "die");
	complete1 = !strcmp(argv[3], "complete1");
	cue = strtoul(argv[4], NULL, 10);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 4)) {
		perror("vu-fault-peer: listen");
		return 1;
	}
	for (;;) {
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		struct hdr h;
		uint8_t payload[MAX_PAYLOAD];

		if (c < 0)
			continue;
		for (;;) {
			nmsg_fds = 0;
			if (!read_msg(c, &h, sizeof(h)) || h.size > MAX_PAYLOAD ||
			    !read_msg(c, payload, h.size))
				break;
			if (h.request == SET_MEM_TABLE)
				map_table(payload, h.size);
			for (int i = 0; i < nmsg_fds; i++)
				close(msg_fds[i]);
			if (cue && h.request == cue && complete1 && h.size >= 8) {
				unsigned idx = payload[0];
				uint32_t n = num[idx];
				volatile uint16_t *avail = translate(avail_at[idx], 4 + 2ULL * n);
				volatile uint16_t *used = translate(used_at[idx], 4 + 8ULL * n);

				if (n && avail && used &&
				    __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE) != (uint16_t)bases[idx]) {
					uint16_t head = avail[2 + bases[idx] % n], u = used[1];
					volatile uint32_t *elem = (volatile uint32_t *)(used + 2) + 2 * (u % n);

					elem[0] = head;
					elem[1] = 0;
					__atomic_store_n(&used[1], (uint16_t)(u + 1), __ATOMIC_RELEASE);
					fprintf(stderr, "vu-fault-peer: completed request %u, dying\n", head);
				}
				_exit(0);
			}
			if (cue && h.request == cue) {
				fprintf(stderr, "vu-fault-peer: request %u: %s\n", h.request,
					die ? "dying" : "hanging");
				if (die)
					_exit(0);
				for (;;)
					pause();
			}
			if (h.request == SET_VRING_NUM && h.size >= 8) {
				uint32_t st[2];

				memcpy(st, payload, sizeof(st));
				num[st[0] & 0xff] = st[1];
			} else if (h.request == SET_VRING_ADDR && h.size >= 40) {
				uint32_t index;
				uint64_t a[4]; /* desc, used, avail, log */

				memcpy(&index, payload, 4);
				memcpy(a, payload + 8, sizeof(a));
				used_at[index & 0xff] = a[1];
				avail_at[index & 0xff] = a[2];
			}
			if (h.request == GET_FEATURES) {
				reply(c, h.request, &features, sizeof(features));
			} else if (h.request == SET_VRING_BASE && h.size >= 8) {
				uint32_t st[2];

				memcpy(st, payload, sizeof(st));
				bases[st[0] & 0xff] = st[1];
			} else if (h.request == GET_VRING_BASE && h.size >= 8) {
				uint32_t st[2];

				memcpy(st, payload, sizeof(st));
				st[1] = bases[st[0] & 0xff];
				reply(c, h.request, st, sizeof(st));
			}
		}
		close(c);
	}
}
