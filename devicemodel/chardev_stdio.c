/*
 * chardev_stdio.c - stdio, the chardev kind whose peer is vdm's own
 * standard input and output: a terminal is put in raw mode (signals kept,
 * so ^C still stops vdm) until close, and its size is followed for the
 * guest.  Standard input and output are one per process, so one device at
 * a time may have them.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* How often a terminal's size is looked at. */
#define WINSZ_POLL_MS 500

struct cd_stdio {
	bool took;          /* this device has the process's stdio */
	bool tio_saved;
	struct termios saved_tio;
	int saved_flags[2]; /* file status flags to restore on in/out, -1: none */
	int tty_fd;         /* where the terminal's size is read, -1: none */
	uint16_t cols, rows;
	int winsz_timer;
};

/* Whether a device has them: a fact about the process, as they are. */
static bool stdio_taken;

static void winsz_read(struct cd_stdio *s, uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	if (ioctl(s->tty_fd, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* The terminal's size has no event on the loop (SIGWINCH may land on any
 * thread), so it is looked at a few times a second. */
static void winsz_poll(void *arg)
{
	struct chardev *c = arg;
	struct cd_stdio *s = c->priv;
	uint16_t cols = s->cols, rows = s->rows;

	winsz_read(s, &cols, &rows);
	if (cols == s->cols && rows == s->rows)
		return;
	s->cols = cols;
	s->rows = rows;
	if (c->cbs.resized)
		c->cbs.resized(c->opaque);
}

/*
 * Our own non-blocking fd for standard stream std: a terminal is opened
 * again (a new open file description, so the shell's stays blocking and
 * stderr's log lines never see EAGAIN); anything else is duplicated and set
 * non-blocking, its flags restored at close.
 */
static int stdio_fd(struct cd_stdio *s, int std, int idx)
{
	char path[32];
	int fd, flags;

	if (isatty(std)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", std);
		fd = open(path, (std == STDIN_FILENO ? O_RDONLY : O_WRONLY) | O_NOCTTY | O_NONBLOCK |
					O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	fd = fcntl(std, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0 && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0)
		s->saved_flags[idx] = flags;
	return fd;
}

static int stdio_open(struct chardev *c, const struct chardev_spec *spec, char *err,
		      size_t errlen)
{
	struct cd_stdio *s;
	int ret;

	(void)spec;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->saved_flags[0] = s->saved_flags[1] = -1;
	s->tty_fd = -1;
	c->priv = s;
	if (stdio_taken) {
		snprintf(err, errlen, "stdio is already the back-end of another device");
		return -EBUSY;
	}
	c->in.fd = stdio_fd(s, STDIN_FILENO, 0);
	c->out.fd = c->in.fd < 0 ? -1 : stdio_fd(s, STDOUT_FILENO, 1);
	if (c->in.fd < 0 || c->out.fd < 0) {
		ret = c->in.fd < 0 ? c->in.fd : c->out.fd;
		snprintf(err, errlen, "cannot use standard input and output: %s", strerror(-ret));
		return ret;
	}
	stdio_taken = s->took = true;
	/* A reader of standard output that goes away must not kill vdm. */
	signal(SIGPIPE, SIG_IGN);
	c->attached = true;
	/* A regular file or /dev/null cannot be polled: no input from it, and
	 * writes to it complete at once. */
	ret = cd_watch_add(c, &c->in);
	if (ret == -EPERM)
		c->in_eof = true;
	else if (ret)
		goto err_watch;
	ret = cd_watch_add(c, &c->out);
	if (ret && ret != -EPERM)
		goto err_watch;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &s->saved_tio) == 0) {
		struct termios t = s->saved_tio;

		cd_make_raw(&t, true);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			s->tio_saved = true;
	}
	s->tty_fd = isatty(c->out.fd) ? c->out.fd : isatty(c->in.fd) ? c->in.fd : -1;
	if (s->tty_fd >= 0) {
		winsz_read(s, &s->cols, &s->rows);
		s->winsz_timer = evloop_add_timer(c->loop, WINSZ_POLL_MS, true, winsz_poll, c);
		if (s->winsz_timer < 0) {
			ret = s->winsz_timer;
			s->winsz_timer = 0;
			goto err_watch;
		}
	}
	return 0;
err_watch:
	snprintf(err, errlen, "cannot watch standard input and output: %s", strerror(-ret));
	return ret;
}

/* Input and output end separately: input at end of file, output when its
 * reader goes (then nothing takes output). */
static void stdio_gone(struct chardev *c, int fd, const char *why)
{
	if (fd == c->in.fd && !c->in_eof) {
		log_info("%s: standard input ended (%s)", c->who, why);
		c->in_eof = true;
		cd_watch_del(c, &c->in);
	}
	if (fd == c->out.fd && c->attached) {
		log_info("%s: standard output is gone (%s); output is discarded", c->who, why);
		cd_watch_del(c, &c->out);
		cd_detach(c);
	}
}

static bool stdio_winsize(struct chardev *c, uint16_t *cols, uint16_t *rows)
{
	struct cd_stdio *s = c->priv;

	if (s->tty_fd < 0)
		return false;
	*cols = s->cols;
	*rows = s->rows;
	return true;
}

/* The terminal and the streams' flags as they were before vdm. */
static void stdio_close(struct chardev *c)
{
	struct cd_stdio *s = c->priv;

	if (!s)
		return;
	if (s->winsz_timer)
		evloop_del_timer(c->loop, s->winsz_timer);
	if (s->tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved_tio);
	for (int i = 0; i < 2; i++) {
		int fd = i ? c->out.fd : c->in.fd;

		if (fd >= 0 && s->saved_flags[i] >= 0)
			fcntl(fd, F_SETFL, s->saved_flags[i]);
	}
	if (s->took)
		stdio_taken = false;
	free(s);
	c->priv = NULL;
}

const struct chardev_kind_ops chardev_stdio_ops = {
	.open = stdio_open,
	.gone = stdio_gone,
	.winsize = stdio_winsize,
	.close = stdio_close,
};
