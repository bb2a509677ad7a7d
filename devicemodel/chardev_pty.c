/*
 * chardev_pty.c - pty, the chardev kind whose peer is whatever process has
 * the slave of a new pseudo-terminal open.  Its path is logged at start.
 * With no slave open the master reports a hang-up: output is discarded and
 * a timer looks for a reader to come.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often a pty without a slave is looked at. */
#define PTY_POLL_MS 200

struct cd_pty {
	int timer; /* looking for a slave; 0: none */
	char name[64];
};

/* A slave is open when the master no longer reports a hang-up. */
static void pty_poll(void *arg)
{
	struct chardev *c = arg;
	struct cd_pty *p = c->priv;
	struct pollfd pf = { .fd = c->in.fd, .events = POLLIN };

	if (poll(&pf, 1, 0) < 0 || (pf.revents & POLLHUP))
		return;
	evloop_del_timer(c->loop, p->timer);
	p->timer = 0;
	if (cd_watch_add(c, &c->in)) {
		log_err("%s: cannot watch %s", c->who, p->name);
		return;
	}
	c->attached = true;
	log_info("%s: %s opened", c->who, p->name);
	cd_update_watches(c);
}

static int pty_open(struct chardev *c, const struct chardev_spec *spec, char *err, size_t errlen)
{
	struct termios t;
	struct cd_pty *p;
	const char *name;
	int fd, slave, ret;

	(void)spec;
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->priv = p;
	fd = posix_openpt(O_RDWR | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open a pty: %s", strerror(errno));
		return ret;
	}
	c->in.fd = c->out.fd = fd;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) || fcntl(fd, F_SETFL, O_NONBLOCK) || grantpt(fd) ||
	    unlockpt(fd) || !(name = ptsname(fd)) || tcgetattr(fd, &t)) {
		ret = -errno;
		snprintf(err, errlen, "cannot set up a pty: %s", strerror(errno));
		return ret;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* The guest's bytes must not be echoed back to it by the line discipline. */
	cd_make_raw(&t, false);
	if (tcsetattr(fd, TCSANOW, &t)) {
		ret = -errno;
		snprintf(err, errlen, "cannot make %s raw: %s", p->name, strerror(errno));
		return ret;
	}
	/*
	 * Open and close the slave once: a master whose slave was never opened
	 * reports nothing and buffers output for whoever opens it later; after
	 * a close it reports a hang-up, which is how "nobody attached" is told
	 * from here on.
	 */
	slave = open(p->name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", p->name, strerror(errno));
		return ret;
	}
	close(slave);
	p->timer = evloop_add_timer(c->loop, PTY_POLL_MS, true, pty_poll, c);
	if (p->timer < 0) {
		ret = p->timer;
		p->timer = 0;
		snprintf(err, errlen, "cannot watch %s: %s", p->name, strerror(-ret));
		return ret;
	}
	log_info("%s: guest console on %s", c->who, p->name);
	return 0;
}

/* The last slave closed: the master stays, watched by the timer until a
 * process opens the slave again. */
static void pty_gone(struct chardev *c, int fd, const char *why)
{
	struct cd_pty *p = c->priv;

	(void)fd;
	log_info("%s: %s closed (%s); output is discarded until it is opened again", c->who,
		 p->name, why);
	cd_watch_del(c, &c->in);
	cd_detach(c);
	if (!p->timer) {
		int id = evloop_add_timer(c->loop, PTY_POLL_MS, true, pty_poll, c);

		if (id > 0)
			p->timer = id;
		else
			log_err("%s: cannot watch %s for a reader: %s", c->who, p->name,
				strerror(-id));
	}
}

static void pty_close(struct chardev *c)
{
	struct cd_pty *p = c->priv;

	if (!p)
		return;
	if (p->timer)
		evloop_del_timer(c->loop, p->timer);
	free(p);
	c->priv = NULL;
}

const struct chardev_kind_ops chardev_pty_ops = {
	.open = pty_open,
	.gone = pty_gone,
	.close = pty_close,
};
