/*
 * vu_msg.c - a test's vhost-user peer at the socket level: connecting,
 * messages with fds in and out, and the fd count tests compare before and
 * after (see vu_msg.h).
 */
#include "vu_msg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int vu_region_file(const char *name, size_t size, bool sealed)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && (ftruncate(fd, (off_t)size) ||
			(sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)))) {
		close(fd);
		return -1;
	}
	return fd;
}

int vu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

int vu_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

ssize_t vu_send_fds(int sock, const struct iovec *iov, int niov, const int *fds, int nfds,
		    int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)niov };

	if (nfds < 0 || nfds > VU_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL | flags);
}

int vu_send_msg(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t len,
		const int *fds, int nfds)
{
	struct vu_hdr h = { req, flags, len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	ssize_t sent = vu_send_fds(sock, iov, len ? 2 : 1, fds, nfds, 0);

	return sent == (ssize_t)(sizeof(h) + len) ? 0 : -1;
}

ssize_t vu_recv_fd(int sock, struct iovec *iov, int niov, int flags, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)niov, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);

	*fd = -1;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		int nfds, got[VU_MAX_FDS];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(got, CMSG_DATA(c), sizeof(int) * (size_t)nfds);
		for (int i = 0; i < nfds; i++) {
			if (*fd < 0)
				*fd = got[i];
			else
				close(got[i]);
		}
	}
	return n;
}
