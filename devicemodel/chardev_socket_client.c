/*
 * chardev_socket_client.c - acrn-dm's socket:NAME=PATH:client, the chardev
 * kind whose peer is a UNIX stream socket someone else listens on: vdm
 * connects once, at open, before the guest runs.  Nothing listening there
 * (or no socket at PATH) is refused at open with one line, so a launch that
 * names a peer that is not up fails instead of running a guest whose port
 * goes nowhere.  acrn-dm tries once too (it logs the failure and runs on;
 * vdm refuses).  When the peer closes, output is discarded from then on, as
 * with any chardev that lost its peer; vdm does not dial again.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int client_open(struct chardev *c, const struct chardev_spec *spec, char *err,
		       size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cd_path_priv *p;
	int fd, ret;

	ret = cd_path_priv_new(c, sizeof(*p), spec->path, err, errlen);
	if (ret)
		return ret;
	p = c->priv;
	/* chardev_parse bounded the path by sun_path. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return ret;
	}
	/* A UNIX stream connect completes or fails at once (a full backlog
	 * aside, which waits): blocking here is before the guest runs. */
	while ((ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) && errno == EINTR)
		;
	if (ret) {
		ret = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s", p->path, strerror(errno));
		close(fd);
		return ret;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK)) { /* the core's reads never block the loop */
		ret = -errno;
		snprintf(err, errlen, "%s: %s", p->path, strerror(errno));
		close(fd);
		return ret;
	}
	c->in.fd = c->out.fd = fd;
	ret = cd_watch_add(c, &c->in);
	if (ret) {
		snprintf(err, errlen, "cannot watch %s: %s", p->path, strerror(-ret));
		return ret;
	}
	c->attached = true;
	cd_update_watches(c);
	log_info("%s: connected to %s", c->who, p->path);
	return 0;
}

/* The listener closed or failed: output is discarded from now on. */
static void client_gone(struct chardev *c, int fd, const char *why)
{
	struct cd_path_priv *p = c->priv;

	(void)fd;
	log_warn("%s: %s closed the connection (%s); output is discarded from now on", c->who,
		 p->path, why);
	cd_watch_del(c, &c->in);
	close(c->in.fd);
	c->in.fd = c->out.fd = -1;
	cd_detach(c);
}

/* A peer that went away must not kill vdm with SIGPIPE. */
static ssize_t client_send(struct chardev *c, const struct iovec *v, int n)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n };

	return sendmsg(c->out.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

const struct chardev_kind_ops chardev_socket_client_ops = {
	.open = client_open,
	.gone = client_gone,
	.send = client_send,
	.close = cd_path_priv_free,
	.half_close = true,
};
