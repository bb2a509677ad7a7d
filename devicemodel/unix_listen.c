/*
 * unix_listen.c - the one place vdm makes a listening UNIX socket at a
 * user's path (unix_listen.h).
 */
#include "unix_listen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unix_listen(const char *path, int backlog, int owner_only, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old = 0;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		/* A socket file left by an earlier run. */
		if (unlink(path)) {
			ret = -errno;
			snprintf(err, errlen, "cannot remove the old socket %s: %s", path,
				 strerror(errno));
			return ret;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return ret;
	}
	/* The file is born with its final mode: no moment where others could
	 * connect. */
	if (owner_only)
		old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, backlog) ? -errno : 0;
	if (owner_only)
		umask(old);
	if (ret) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}
