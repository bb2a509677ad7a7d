/*
 * vu_fault_peer.c - a vhost-user back-end that fails on cue, for the route
 * switch fault tests (test_route_faults):
 *
 *   vu-fault-peer SOCKET FEATURES die|hang REQUEST
 *
 * listens on SOCKET, answers GET_FEATURES with FEATURES (hex) and
 * GET_VRING_BASE with the base it was given (it serves no ring: what the
 * driver posts stays in the ring), accepts every other request silently
 * (it offers no protocol features, so none wants a reply), and when it
 * receives request number REQUEST (GET_FEATURES = 1, GET_VRING_BASE = 11,
 * SET_VRING_KICK = 12, ...) either exits at once, as a killed process
 * would (die), or stops answering (hang).  REQUEST 0: never.  One
 * connection at a time; when one ends it waits for the next.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { GET_FEATURES = 1, SET_VRING_BASE = 10, GET_VRING_BASE = 11 };
#define REPLY_FLAGS 0x5u /* version 1, reply */
#define MAX_PAYLOAD 4096

struct hdr {
	uint32_t request, flags, size;
};

/* Read len bytes; the fds that come along are closed.  False at the end. */
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
	uint32_t bases[256] = { 0 };
	unsigned long cue;
	bool die;
	int ls;

	if (argc != 5 || (strcmp(argv[3], "die") && strcmp(argv[3], "hang"))) {
		fprintf(stderr, "usage: vu-fault-peer SOCKET FEATURES die|hang REQUEST\n");
		return 2;
	}
	features = strtoull(argv[2], NULL, 16);
	die = !strcmp(argv[3], "die");
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
		while (read_msg(c, &h, sizeof(h)) && h.size <= MAX_PAYLOAD &&
		       read_msg(c, payload, h.size)) {
			if (cue && h.request == cue) {
				fprintf(stderr, "vu-fault-peer: request %u: %s\n", h.request,
					die ? "dying" : "hanging");
				if (die)
					_exit(0);
				for (;;)
					pause();
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
