/*
 * chardev_tty.c - tty:PATH, the chardev kind whose peer is an existing
 * terminal device (a serial port, a pty slave another program holds): vdm
 * opens it read-write, puts it in raw mode until close (its settings are
 * restored then) and reads and writes it.  A PATH that is missing or is not
 * a terminal is refused at open, before the guest runs.  When the terminal
 * hangs up (the far end of a pty closed) output is discarded from then on:
 * vdm does not reopen a device it was handed.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cd_tty {
	struct cd_path_priv base; /* first: the path */
	bool tio_saved;
	struct termios saved_tio;
};

static int tty_open(struct chardev *c, const struct chardev_spec *spec, char *err, size_t errlen)
{
	struct termios t;
	struct cd_tty *p;
	int fd, ret;

	ret = cd_path_priv_new(c, sizeof(*p), spec->path, err, errlen);
	if (ret)
		return ret;
	p = c->priv;
	/* O_NOCTTY: the guest's terminal must not become vdm's controlling
	 * one (its ^C would then stop vdm). */
	fd = open(p->base.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "tty: cannot open %s: %s", p->base.path, strerror(errno));
		return ret;
	}
	c->in.fd = c->out.fd = fd;
	if (!isatty(fd)) {
		snprintf(err, errlen, "tty: %s is not a terminal", p->base.path);
		return -ENOTTY;
	}
	if (tcgetattr(fd, &p->saved_tio)) {
		ret = -errno;
		snprintf(err, errlen, "tty: cannot read the settings of %s: %s", p->base.path,
			 strerror(errno));
		return ret;
	}
	p->tio_saved = true;
	t = p->saved_tio;
	/* The guest's bytes go through untouched: no echo back to the
	 * guest, no CR/NL translation, and ^C is a byte for the guest. */
	cd_make_raw(&t, false);
	if (tcsetattr(fd, TCSANOW, &t)) {
		ret = -errno;
		snprintf(err, errlen, "tty: cannot make %s raw: %s", p->base.path, strerror(errno));
		return ret;
	}
	ret = cd_watch_add(c, &c->in);
	if (ret) {
		snprintf(err, errlen, "tty: cannot watch %s: %s", p->base.path, strerror(-ret));
		return ret;
	}
	c->attached = true;
	cd_update_watches(c);
	log_info("%s: guest console on %s", c->who, p->base.path);
	return 0;
}

/* The terminal hung up or failed: it stays closed to the loop (a hung-up
 * terminal would report it on every wait), and output is discarded. */
static void tty_gone(struct chardev *c, int fd, const char *why)
{
	struct cd_tty *p = c->priv;

	(void)fd;
	log_warn("%s: %s hung up (%s); guest output is discarded from now on", c->who, p->base.path,
		 why);
	cd_watch_del(c, &c->in);
	cd_detach(c);
}

static void tty_close(struct chardev *c)
{
	struct cd_tty *p = c->priv;

	if (!p)
		return;
	/* Leave the device as it was found (best effort: it may be gone). */
	if (p->tio_saved && c->in.fd >= 0)
		(void)tcsetattr(c->in.fd, TCSANOW, &p->saved_tio);
	cd_path_priv_free(c);
}

const struct chardev_kind_ops chardev_tty_ops = {
	.open = tty_open,
	.gone = tty_gone,
	.close = tty_close,
};
