/*
 * vu_msg.h - the socket end of a vhost-user peer played by a test: the
 * message header, a connection to a server's socket, sending bytes with
 * file descriptors (SCM_RIGHTS) and receiving them, and counting the fds a
 * process holds (to show nothing leaked).  Test-only, shared by the unit
 * tests and the fuzz target that speak raw vhost-user; the wire format is
 * written out from the spec here, not taken from the code under test.
 */
#ifndef VDM_TESTS_VU_MSG_H
#define VDM_TESTS_VU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Every vhost-user message starts with this (vhost-user spec, "Message
 * Specification"): request, flags (version, reply, need-reply), payload size. */
struct vu_hdr {
	uint32_t req, flags, size;
} __attribute__((packed));

/* The most fds one call sends or receives: more than any request carries
 * (a memory table's 8), so a test can send too many. */
#define VU_MAX_FDS 16

/* A memfd called name of size bytes (an in-flight region's file), sealed
 * against shrinking when sealed: its fd, or -1. */
int vu_region_file(const char *name, size_t size, bool sealed);

/* How many fds this process holds now. */
int vu_count_fds(void);

/* A stream socket connected to the unix socket at path: its fd, or -1. */
int vu_connect(const char *path);

/* One sendmsg() of iov[0..niov) carrying fds[0..nfds) (none when nfds is 0),
 * with MSG_NOSIGNAL and flags: sendmsg()'s return; -1 (EINVAL) when nfds is
 * more than VU_MAX_FDS. */
ssize_t vu_send_fds(int sock, const struct iovec *iov, int niov, const int *fds, int nfds,
		    int flags);

/* A whole message: header {req, flags, len}, then len bytes of p, with
 * fds.  0 when all of it went, -1 otherwise. */
int vu_send_msg(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t len,
		const int *fds, int nfds);

/* One recvmsg() into iov[0..niov) with flags (MSG_CMSG_CLOEXEC added):
 * recvmsg()'s return.  *fd: the first fd that came with it (-1: none); any
 * others are closed. */
ssize_t vu_recv_fd(int sock, struct iovec *iov, int niov, int flags, int *fd);

#endif
