/*
 * chardev_socket.c - socket:PATH, the chardev kind whose peer is a client
 * of a UNIX stream socket vdm listens on: one client at a time (others are
 * closed at once, logged rate-limited), a stale socket file replaced at
 * start, and the file removed at close if it is still the one vdm made.
 */
#include "chardev_internal.h"
#include "unix_listen.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct cd_socket {
	char *path;
	int listen_fd;
	dev_t dev; /* the socket file vdm made */
	ino_t ino;
	struct ratelimit refuse_rl;
};

static void accept_event(void *arg, int fd, uint32_t events)
{
	struct chardev *c = arg;
	struct cd_socket *s = c->priv;

	(void)events;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_ratelimited(&s->refuse_rl, LOG_WARN, "%s: accept on %s: %s",
						c->who, s->path, strerror(errno));
			return;
		}
		if (c->attached) {
			/* One client at a time: the newcomer is closed at once. */
			log_ratelimited(&s->refuse_rl, LOG_INFO,
					"%s: refused a second client on %s (one is connected)",
					c->who, s->path);
			close(cfd);
			continue;
		}
		c->in.fd = c->out.fd = cfd;
		if (cd_watch_add(c, &c->in)) {
			log_err("%s: cannot watch the client on %s", c->who, s->path);
			close(cfd);
			c->in.fd = c->out.fd = -1;
			continue;
		}
		c->attached = true;
		c->in_eof = false;
		log_info("%s: client connected on %s", c->who, s->path);
		cd_update_watches(c);
	}
}

static int socket_open(struct chardev *c, const struct chardev_spec *spec, char *err,
		       size_t errlen)
{
	const char *path = spec->path;
	struct cd_socket *s;
	struct stat st;
	int fd, ret;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->listen_fd = -1;
	s->refuse_rl = (struct ratelimit)RATELIMIT_INIT;
	c->priv = s;
	fd = unix_listen(path, 4, 0, err, errlen);
	if (fd < 0)
		return fd;
	if (stat(path, &st)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->listen_fd = fd;
	s->path = strdup(path);
	ret = s->path ? evloop_add_fd(c->loop, fd, EPOLLIN, accept_event, c) : -ENOMEM;
	if (ret) {
		snprintf(err, errlen, "cannot watch %s: %s", path, strerror(-ret));
		return ret;
	}
	log_info("%s: listening on %s", c->who, path);
	return 0;
}

/* The client is closed; the next one to connect is the peer. */
static void socket_gone(struct chardev *c, int fd, const char *why)
{
	(void)fd;
	log_info("%s: client left (%s)", c->who, why);
	cd_watch_del(c, &c->in);
	close(c->in.fd);
	c->in.fd = c->out.fd = -1;
	cd_detach(c);
}

/* A client that went away must not kill vdm with SIGPIPE. */
static ssize_t socket_send(struct chardev *c, const struct iovec *v, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n };

	return sendmsg(c->out.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void socket_close(struct chardev *c)
{
	struct cd_socket *s = c->priv;
	struct stat st;

	if (!s)
		return;
	if (s->listen_fd >= 0) {
		evloop_del_fd(c->loop, s->listen_fd);
		close(s->listen_fd);
		/* Remove the socket file only if it is still the one we made. */
		if (s->path && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
		    st.st_ino == s->ino)
			unlink(s->path);
	}
	free(s->path);
	free(s);
	c->priv = NULL;
}

const struct chardev_kind_ops chardev_socket_ops = {
	.open = socket_open,
	.gone = socket_gone,
	.send = socket_send,
	.close = socket_close,
	.half_close = true,
};
