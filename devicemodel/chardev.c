/*
 * chardev.c - the host side of a byte stream on the event loop (see
 * chardev.h), the part all kinds share: the user's calls, the output ring
 * and the watches on the peer's fds.  What a kind does to attach and lose
 * its peer is in chardev_stdio.c, chardev_pty.c, chardev_socket.c,
 * chardev_socket_client.c, chardev_tty.c and chardev_file.c.
 *
 * Watches: the peer's fds are registered while something is attached.  Their
 * events follow the state: EPOLLIN while input is wanted, EPOLLOUT while the
 * ring holds output.  epoll reports EPOLLHUP and EPOLLERR whatever was asked,
 * so a peer that hung up is taken off the loop at once (a socket client is
 * closed; a pty master is watched again only when a timer finds a slave
 * open; ended standard input is dropped) instead of waking the loop forever.
 */
#include "chardev_internal.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

int chardev_parse(const char *s, struct chardev_spec *spec, char *err, size_t errlen)
{
	memset(spec, 0, sizeof(*spec));
	if (!strcmp(s, "stdio")) {
		spec->kind = CHARDEV_STDIO;
	} else if (!strcmp(s, "pty")) {
		spec->kind = CHARDEV_PTY;
	} else if (!strncmp(s, "socket", 6) && (s[6] == ':' || !s[6])) {
		if (!s[6] || !s[7]) {
			snprintf(err, errlen, "socket needs a path: socket:PATH");
			return -EINVAL;
		}
		if (strlen(s + 7) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errlen, "socket path '%s' is longer than %zu bytes", s + 7,
				 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			return -EINVAL;
		}
		spec->kind = CHARDEV_SOCKET;
		spec->path = strdup(s + 7);
		if (!spec->path) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	} else if ((!strncmp(s, "tty", 3) && (s[3] == ':' || !s[3])) ||
		   (!strncmp(s, "file", 4) && (s[4] == ':' || !s[4]))) {
		bool tty = s[0] == 't';
		const char *path = s + (tty ? 4 : 5);

		if (!path[-1] || !*path) {
			snprintf(err, errlen, "%s needs a path: %s:PATH", tty ? "tty" : "file",
				 tty ? "tty" : "file");
			return -EINVAL;
		}
		spec->kind = tty ? CHARDEV_TTY : CHARDEV_FILE;
		spec->path = strdup(path);
		if (!spec->path) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	} else {
		snprintf(err, errlen,
			 "unknown back-end '%s' (stdio, pty, socket:PATH, tty:PATH or file:PATH)", s);
		return -EINVAL;
	}
	return 0;
}

void chardev_spec_free(struct chardev_spec *spec)
{
	free(spec->path);
	spec->path = NULL;
}

/* ---- watches ---- */

static void peer_event(void *arg, int fd, uint32_t events);

static bool out_ok(const struct chardev *c)
{
	return c->attached && c->out.fd >= 0;
}

static bool shared_fd(const struct chardev *c)
{
	return c->in.fd == c->out.fd;
}

int cd_watch_add(struct chardev *c, struct cd_watch *w)
{
	int ret = evloop_add_fd(c->loop, w->fd, 0, peer_event, c);

	w->on = ret == 0;
	w->events = 0;
	return ret;
}

void cd_watch_del(struct chardev *c, struct cd_watch *w)
{
	if (w->on)
		evloop_del_fd(c->loop, w->fd);
	w->on = false;
	w->events = 0;
}

static void watch_set(struct chardev *c, struct cd_watch *w, uint32_t events)
{
	if (w->on && w->events != events && evloop_mod_fd(c->loop, w->fd, events) == 0)
		w->events = events;
}

void cd_update_watches(struct chardev *c)
{
	uint32_t in = c->attached && !c->in_eof && c->want_in ? EPOLLIN : 0;
	uint32_t out = out_ok(c) && c->ring_len ? EPOLLOUT : 0;

	if (shared_fd(c)) {
		watch_set(c, &c->in, in | out);
	} else {
		watch_set(c, &c->in, in);
		watch_set(c, &c->out, out);
	}
}

/* ---- output ring ---- */

static size_t ring_put(struct chardev *c, const uint8_t *p, size_t len)
{
	size_t room = CHARDEV_OUT_MAX - c->ring_len, done = 0;

	if (len > room)
		len = room;
	while (done < len) {
		size_t tail = (c->ring_head + c->ring_len) % CHARDEV_OUT_MAX;
		size_t n = CHARDEV_OUT_MAX - tail;

		if (n > len - done)
			n = len - done;
		memcpy(c->ring + tail, p + done, n);
		c->ring_len += n;
		done += n;
	}
	return done;
}

static int ring_segments(const struct chardev *c, struct iovec v[2])
{
	size_t first = CHARDEV_OUT_MAX - c->ring_head;

	v[0].iov_base = c->ring + c->ring_head;
	if (c->ring_len <= first) {
		v[0].iov_len = c->ring_len;
		return 1;
	}
	v[0].iov_len = first;
	v[1].iov_base = c->ring;
	v[1].iov_len = c->ring_len - first;
	return 2;
}

static void ring_consume(struct chardev *c, size_t n)
{
	c->ring_head = (c->ring_head + n) % CHARDEV_OUT_MAX;
	c->ring_len -= n;
	if (!c->ring_len)
		c->ring_head = 0;
}

int cd_path_priv_new(struct chardev *c, size_t size, const char *path, char *err, size_t errlen)
{
	struct cd_path_priv *p = calloc(1, size);

	if (!p || !(p->path = strdup(path))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->priv = p;
	return 0;
}

void cd_path_priv_free(struct chardev *c)
{
	struct cd_path_priv *p = c->priv;

	if (!p)
		return;
	free(p->path);
	free(p);
	c->priv = NULL;
}

void cd_detach(struct chardev *c)
{
	c->attached = false;
	c->discarded += c->ring_len;
	c->ring_head = c->ring_len = 0;
}

/* ---- the peer leaving ---- */

static void deferred_writable(void *arg)
{
	struct chardev *c = arg;

	evloop_del_timer(c->loop, c->defer_timer);
	c->defer_timer = 0;
	if (c->writer_waiting) {
		c->writer_waiting = false;
		c->cbs.writable(c->opaque);
	}
}

/* A waiting writer can go on now; it is called from the loop, never from
 * inside the chardev_* call that found out. */
static void defer_writable(struct chardev *c)
{
	int id;

	if (!c->writer_waiting || c->defer_timer)
		return;
	id = evloop_add_timer(c->loop, 1, false, deferred_writable, c);
	if (id > 0)
		c->defer_timer = id;
	else
		log_err("%s: cannot schedule the transmit restart: %s", c->who, strerror(-id));
}

/* fd hung up, failed, or ended: the kind takes it off the loop (see the
 * file comment). */
static void peer_gone(struct chardev *c, int fd, const char *why)
{
	c->ops->gone(c, fd, why);
	defer_writable(c);
}

/* Write out what the ring holds.  Returns true when room was made (or the
 * output was dropped with the peer). */
static bool flush_out(struct chardev *c)
{
	size_t before = c->ring_len;

	while (c->ring_len && out_ok(c)) {
		struct iovec v[2];
		int n = ring_segments(c, v);
		ssize_t r = c->ops->send ? c->ops->send(c, v, n) : writev(c->out.fd, v, n);

		if (r > 0) {
			ring_consume(c, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		peer_gone(c, c->out.fd, r < 0 ? strerror(errno) : "zero-length write");
	}
	cd_update_watches(c);
	return c->ring_len < before || !out_ok(c);
}

/* ---- the user's side ---- */

size_t chardev_write(struct chardev *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	c->writer_waiting = false; /* the writer is here */
	while (done < len) {
		if (!out_ok(c)) {
			c->discarded += len - done;
			return len;
		}
		done += ring_put(c, p + done, len - done);
		if (done < len && !flush_out(c))
			break; /* full, and the peer takes nothing now */
	}
	if (c->ring_len)
		flush_out(c);
	if (!out_ok(c))
		return len;
	if (done < len)
		c->writer_waiting = true;
	return done;
}

size_t chardev_read(struct chardev *c, const struct iovec *iov, int niov)
{
	ssize_t r;

	if (!c->attached || c->in_eof || c->in.fd < 0)
		return 0;
	do
		r = readv(c->in.fd, iov, niov);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return (size_t)r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r == 0 && c->ops->half_close) {
		/* The client shut down its sending side; it may still read. */
		c->in_eof = true;
		cd_update_watches(c);
		return 0;
	}
	/* End of standard input, or the peer is gone (EIO: pty slave closed). */
	peer_gone(c, c->in.fd, r < 0 ? strerror(errno) : "end of file");
	return 0;
}

void chardev_want_input(struct chardev *c, bool on)
{
	c->want_in = on;
	cd_update_watches(c);
}

bool chardev_winsize(struct chardev *c, uint16_t *cols, uint16_t *rows)
{
	return c->ops->winsize && c->ops->winsize(c, cols, rows);
}

uint64_t chardev_discarded(const struct chardev *c)
{
	return c->discarded;
}

/* ---- events ---- */

static void peer_event(void *arg, int fd, uint32_t events)
{
	struct chardev *c = arg;

	if ((events & EPOLLOUT) && fd == c->out.fd && flush_out(c) && c->writer_waiting) {
		c->writer_waiting = false;
		c->cbs.writable(c->opaque);
	}
	/* The user reads through chardev_read, which may find the peer gone. */
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && fd == c->in.fd && c->attached &&
	    !c->in_eof && c->want_in)
		c->cbs.readable(c->opaque);
	if (!(events & (EPOLLHUP | EPOLLERR)))
		return;
	/* Whatever input was not taken above is lost with the peer.  Input
	 * can be watched with nothing attached (stdio, standard output
	 * gone): it ends here too. */
	if (c->attached && (fd == c->in.fd || fd == c->out.fd))
		peer_gone(c, fd, events & EPOLLERR ? "error" : "hang-up");
	else if (fd == c->in.fd && c->in.on && !c->in_eof)
		peer_gone(c, fd, "hang-up");
}

/* ---- terminals (stdio, pty) ---- */

void cd_make_raw(struct termios *t, bool keep_signals)
{
	t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
				  IXOFF);
	t->c_oflag &= ~(tcflag_t)OPOST;
	t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
	if (!keep_signals)
		t->c_lflag &= ~(tcflag_t)ISIG;
	t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t->c_cflag |= CS8;
	t->c_cc[VMIN] = 1;
	t->c_cc[VTIME] = 0;
}

/* ---- open / close ---- */

static const struct chardev_kind_ops *const kinds[] = {
	[CHARDEV_STDIO] = &chardev_stdio_ops,
	[CHARDEV_PTY] = &chardev_pty_ops,
	[CHARDEV_SOCKET] = &chardev_socket_ops,
	[CHARDEV_TTY] = &chardev_tty_ops,
	[CHARDEV_FILE] = &chardev_file_ops,
	[CHARDEV_SOCKET_CLIENT] = &chardev_socket_client_ops,
};

int chardev_open(struct chardev **out, struct evloop *loop, const struct chardev_spec *spec,
		 const struct chardev_cbs *cbs, void *opaque, const char *who, char *err,
		 size_t errlen)
{
	struct chardev *c;
	int ret;

	if ((unsigned)spec->kind >= sizeof(kinds) / sizeof(kinds[0]) || !kinds[spec->kind]) {
		snprintf(err, errlen, "unknown back-end");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->ring = malloc(CHARDEV_OUT_MAX))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->loop = loop;
	c->ops = kinds[spec->kind];
	c->cbs = *cbs;
	c->opaque = opaque;
	c->who = who;
	c->in.fd = c->out.fd = -1;
	ret = c->ops->open(c, spec, err, errlen);
	if (ret) {
		chardev_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

void chardev_close(struct chardev *c)
{
	if (!c)
		return;
	/* What the peer can still take without waiting is sent (with nobody
	 * left to resume, and before the timers go: a failed write may start
	 * one). */
	c->writer_waiting = false;
	if (c->ring_len && out_ok(c))
		flush_out(c);
	if (c->defer_timer)
		evloop_del_timer(c->loop, c->defer_timer);
	cd_watch_del(c, &c->in);
	cd_watch_del(c, &c->out);
	c->ops->close(c);
	if (c->in.fd >= 0)
		close(c->in.fd);
	if (c->out.fd >= 0 && c->out.fd != c->in.fd)
		close(c->out.fd);
	free(c->ring);
	free(c);
}
