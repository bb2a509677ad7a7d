/*
 * chardev_file.c - file:PATH, the chardev kind whose peer is a file that
 * collects the guest's output: opened for appending (created 0666 less the
 * umask if missing; what it held is kept, as acrn-dm does), and never read:
 * the guest gets no input from it.  A PATH that cannot be opened for writing
 * is refused at open, before the guest runs.  A write that fails (disk full)
 * is logged once and later output is discarded.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int file_open(struct chardev *c, const struct chardev_spec *spec, char *err,
		     size_t errlen)
{
	struct cd_path_priv *p;
	int fd, ret;

	ret = cd_path_priv_new(c, sizeof(*p), spec->path, err, errlen);
	if (ret)
		return ret;
	p = c->priv;
	fd = open(p->path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0666);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "file: cannot open %s for writing: %s", p->path,
			 strerror(errno));
		return ret;
	}
	c->out.fd = fd;
	/*
	 * A regular file is always ready and epoll refuses it (EPERM): writes
	 * go straight through and the output fd needs no watch.  Anything
	 * else (a FIFO, a character device) can fill, and is watched for room.
	 */
	ret = cd_watch_add(c, &c->out);
	if (ret && ret != -EPERM) {
		snprintf(err, errlen, "file: cannot watch %s: %s", p->path, strerror(-ret));
		return ret;
	}
	c->attached = true;
	log_info("%s: guest console output appended to %s", c->who, p->path);
	return 0;
}

/* A write failed: the file takes nothing more. */
static void file_gone(struct chardev *c, int fd, const char *why)
{
	struct cd_path_priv *p = c->priv;

	(void)fd;
	log_warn("%s: cannot write %s (%s); guest output is discarded from now on", c->who,
		 p->path, why);
	cd_watch_del(c, &c->out);
	cd_detach(c);
}

const struct chardev_kind_ops chardev_file_ops = {
	.open = file_open,
	.gone = file_gone,
	.close = cd_path_priv_free,
};
