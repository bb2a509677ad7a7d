/*
 * chardev.c - the host side of a byte stream on the event loop (see
 * chardev.h): stdio, pty and socket:PATH, the output ring and the input
 * watch.
 *
 * Watches: the peer's fds are registered while something is attached.  Their
 * events follow the state: EPOLLIN while input is wanted, EPOLLOUT while the
 * ring holds output.  epoll reports EPOLLHUP and EPOLLERR whatever was asked,
 * so a peer that hung up is taken off the loop at once (a socket client is
 * closed; a pty master is watched again only when a timer finds a slave
 * open; ended standard input is dropped) instead of waking the loop forever.
 */
#include "chardev.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* How often a pty without a slave is looked at, and a terminal's size. */
#define PTY_POLL_MS 200
#define WINSZ_POLL_MS 500

struct cd_watch {
	int fd;          /* -1: none */
	bool on;         /* registered with the loop */
	uint32_t events; /* as registered */
};

struct chardev {
	struct evloop *loop;
	enum chardev_kind kind;
	struct chardev_cbs cbs;
	void *opaque;
	const char *who;

	/* The peer: in and out are one fd (socket client, pty master) or two
	 * (stdio).  With one fd only `in` is registered and carries both. */
	struct cd_watch in, out;
	bool attached;       /* something at the other end takes output */
	bool in_eof;         /* the peer sends nothing more */
	bool want_in;        /* the user has room for input */
	bool writer_waiting; /* chardev_write came up short: call writable() */
	int defer_timer;     /* a writable() call waiting for the loop */

	/* Output ring. */
	uint8_t *ring;
	size_t ring_head, ring_len;
	uint64_t discarded;

	/* socket:PATH */
	char *path;
	int listen_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	struct ratelimit refuse_rl;

	/* pty */
	int pty_timer;
	char pty_name[64];

	/* stdio */
	bool tio_saved;
	struct termios saved_tio;
	int saved_flags[2]; /* file status flags to restore on in/out, -1: none */
	int tty_fd;         /* where the terminal's size is read, -1: none */
	uint16_t cols, rows;
	int winsz_timer;
};

static bool stdio_taken;

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
	} else {
		snprintf(err, errlen, "unknown back-end '%s' (stdio, pty or socket:PATH)", s);
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

static int watch_add(struct chardev *c, struct cd_watch *w)
{
	int ret = evloop_add_fd(c->loop, w->fd, 0, peer_event, c);

	w->on = ret == 0;
	w->events = 0;
	return ret;
}

static void watch_del(struct chardev *c, struct cd_watch *w)
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

static void update_watches(struct chardev *c)
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

static void ring_drop(struct chardev *c)
{
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

static void pty_poll(void *arg);

/* fd hung up, failed, or ended: take it off the loop (see the file comment). */
static void peer_gone(struct chardev *c, int fd, const char *why)
{
	switch (c->kind) {
	case CHARDEV_SOCKET:
		log_info("%s: client left (%s)", c->who, why);
		watch_del(c, &c->in);
		close(c->in.fd);
		c->in.fd = c->out.fd = -1;
		c->attached = false;
		ring_drop(c);
		break;
	case CHARDEV_PTY:
		log_info("%s: %s closed (%s); output is discarded until it is opened again",
			 c->who, c->pty_name, why);
		watch_del(c, &c->in);
		c->attached = false;
		ring_drop(c);
		if (!c->pty_timer) {
			int id = evloop_add_timer(c->loop, PTY_POLL_MS, true, pty_poll, c);

			if (id > 0)
				c->pty_timer = id;
			else
				log_err("%s: cannot watch %s for a reader: %s", c->who,
					c->pty_name, strerror(-id));
		}
		break;
	case CHARDEV_STDIO:
		if (fd == c->in.fd && !c->in_eof) {
			log_info("%s: standard input ended (%s)", c->who, why);
			c->in_eof = true;
			watch_del(c, &c->in);
		}
		if (fd == c->out.fd && c->attached) {
			log_info("%s: standard output is gone (%s); output is discarded", c->who,
				 why);
			watch_del(c, &c->out);
			c->attached = false;
			ring_drop(c);
		}
		break;
	}
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
		ssize_t r;

		if (c->kind == CHARDEV_SOCKET) {
			struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };

			r = sendmsg(c->out.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			r = writev(c->out.fd, v, n);
		}
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
	update_watches(c);
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
	if (r == 0 && c->kind == CHARDEV_SOCKET) {
		/* The client shut down its sending side; it may still read. */
		c->in_eof = true;
		update_watches(c);
		return 0;
	}
	/* End of standard input, or the peer is gone (EIO: pty slave closed). */
	peer_gone(c, c->in.fd, r < 0 ? strerror(errno) : "end of file");
	return 0;
}

void chardev_want_input(struct chardev *c, bool on)
{
	c->want_in = on;
	update_watches(c);
}

bool chardev_winsize(struct chardev *c, uint16_t *cols, uint16_t *rows)
{
	if (c->tty_fd < 0)
		return false;
	*cols = c->cols;
	*rows = c->rows;
	return true;
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
	/* Whatever input was not taken above is lost with the peer. */
	if (c->attached && (fd == c->in.fd || fd == c->out.fd))
		peer_gone(c, fd, events & EPOLLERR ? "error" : "hang-up");
	else if (c->kind == CHARDEV_STDIO && fd == c->in.fd && !c->in_eof)
		peer_gone(c, fd, "hang-up");
}

/* ---- socket:PATH ---- */

static void accept_event(void *arg, int fd, uint32_t events)
{
	struct chardev *c = arg;

	(void)events;
	for (;;) {
		int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_ratelimited(&c->refuse_rl, LOG_WARN, "%s: accept on %s: %s",
						c->who, c->path, strerror(errno));
			return;
		}
		if (c->attached) {
			/* One client at a time: the newcomer is closed at once. */
			log_ratelimited(&c->refuse_rl, LOG_INFO,
					"%s: refused a second client on %s (one is connected)",
					c->who, c->path);
			close(s);
			continue;
		}
		c->in.fd = c->out.fd = s;
		if (watch_add(c, &c->in)) {
			log_err("%s: cannot watch the client on %s", c->who, c->path);
			close(s);
			c->in.fd = c->out.fd = -1;
			continue;
		}
		c->attached = true;
		c->in_eof = false;
		log_info("%s: client connected on %s", c->who, c->path);
		update_watches(c);
	}
}

static int open_socket(struct chardev *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4) || stat(path, &st)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	c->sock_dev = st.st_dev;
	c->sock_ino = st.st_ino;
	c->listen_fd = fd;
	c->path = strdup(path);
	ret = c->path ? evloop_add_fd(c->loop, fd, EPOLLIN, accept_event, c) : -ENOMEM;
	if (ret) {
		snprintf(err, errlen, "cannot watch %s: %s", path, strerror(-ret));
		return ret;
	}
	log_info("%s: listening on %s", c->who, path);
	return 0;
}

/* ---- terminals ---- */

/* Raw bytes both ways: no line editing, echo, or CR/NL translation.  With
 * keep_signals, ^C and friends still signal vdm. */
static void make_raw(struct termios *t, bool keep_signals)
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

/* A slave is open when the master no longer reports a hang-up. */
static void pty_poll(void *arg)
{
	struct chardev *c = arg;
	struct pollfd p = { .fd = c->in.fd, .events = POLLIN };

	if (poll(&p, 1, 0) < 0 || (p.revents & POLLHUP))
		return;
	evloop_del_timer(c->loop, c->pty_timer);
	c->pty_timer = 0;
	if (watch_add(c, &c->in)) {
		log_err("%s: cannot watch %s", c->who, c->pty_name);
		return;
	}
	c->attached = true;
	log_info("%s: %s opened", c->who, c->pty_name);
	update_watches(c);
}

static int open_pty(struct chardev *c, char *err, size_t errlen)
{
	struct termios t;
	const char *name;
	int fd, slave, ret;

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
	snprintf(c->pty_name, sizeof(c->pty_name), "%s", name);
	/* The guest's bytes must not be echoed back to it by the line discipline. */
	make_raw(&t, false);
	if (tcsetattr(fd, TCSANOW, &t)) {
		ret = -errno;
		snprintf(err, errlen, "cannot make %s raw: %s", c->pty_name, strerror(errno));
		return ret;
	}
	/*
	 * Open and close the slave once: a master whose slave was never opened
	 * reports nothing and buffers output for whoever opens it later; after
	 * a close it reports a hang-up, which is how "nobody attached" is told
	 * from here on.
	 */
	slave = open(c->pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", c->pty_name, strerror(errno));
		return ret;
	}
	close(slave);
	c->pty_timer = evloop_add_timer(c->loop, PTY_POLL_MS, true, pty_poll, c);
	if (c->pty_timer < 0) {
		ret = c->pty_timer;
		c->pty_timer = 0;
		snprintf(err, errlen, "cannot watch %s: %s", c->pty_name, strerror(-ret));
		return ret;
	}
	log_info("%s: guest console on %s", c->who, c->pty_name);
	return 0;
}

static void winsz_read(struct chardev *c, uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	if (ioctl(c->tty_fd, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* The terminal's size has no event on the loop (SIGWINCH may land on any
 * thread), so it is looked at a few times a second. */
static void winsz_poll(void *arg)
{
	struct chardev *c = arg;
	uint16_t cols = c->cols, rows = c->rows;

	winsz_read(c, &cols, &rows);
	if (cols == c->cols && rows == c->rows)
		return;
	c->cols = cols;
	c->rows = rows;
	if (c->cbs.resized)
		c->cbs.resized(c->opaque);
}

/*
 * Our own non-blocking fd for standard stream std: a terminal is opened
 * again (a new open file description, so the shell's stays blocking and
 * stderr's log lines never see EAGAIN); anything else is duplicated and set
 * non-blocking, its flags restored at close.
 */
static int stdio_fd(struct chardev *c, int std, int idx)
{
	char path[32];
	int fd, flags;

	c->saved_flags[idx] = -1;
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
		c->saved_flags[idx] = flags;
	return fd;
}

static int open_stdio(struct chardev *c, char *err, size_t errlen)
{
	int ret;

	if (stdio_taken) {
		snprintf(err, errlen, "stdio is already the back-end of another device");
		return -EBUSY;
	}
	c->in.fd = stdio_fd(c, STDIN_FILENO, 0);
	c->out.fd = c->in.fd < 0 ? -1 : stdio_fd(c, STDOUT_FILENO, 1);
	if (c->in.fd < 0 || c->out.fd < 0) {
		ret = c->in.fd < 0 ? c->in.fd : c->out.fd;
		snprintf(err, errlen, "cannot use standard input and output: %s", strerror(-ret));
		return ret;
	}
	stdio_taken = true;
	/* A reader of standard output that goes away must not kill vdm. */
	signal(SIGPIPE, SIG_IGN);
	c->attached = true;
	/* A regular file or /dev/null cannot be polled: no input from it, and
	 * writes to it complete at once. */
	ret = watch_add(c, &c->in);
	if (ret == -EPERM)
		c->in_eof = true;
	else if (ret)
		goto err_watch;
	ret = watch_add(c, &c->out);
	if (ret && ret != -EPERM)
		goto err_watch;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved_tio) == 0) {
		struct termios t = c->saved_tio;

		make_raw(&t, true);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			c->tio_saved = true;
	}
	c->tty_fd = isatty(c->out.fd) ? c->out.fd : isatty(c->in.fd) ? c->in.fd : -1;
	if (c->tty_fd >= 0) {
		winsz_read(c, &c->cols, &c->rows);
		c->winsz_timer = evloop_add_timer(c->loop, WINSZ_POLL_MS, true, winsz_poll, c);
		if (c->winsz_timer < 0) {
			ret = c->winsz_timer;
			c->winsz_timer = 0;
			goto err_watch;
		}
	}
	return 0;
err_watch:
	snprintf(err, errlen, "cannot watch standard input and output: %s", strerror(-ret));
	return ret;
}

/* ---- open / close ---- */

int chardev_open(struct chardev **out, struct evloop *loop, const struct chardev_spec *spec,
		 const struct chardev_cbs *cbs, void *opaque, const char *who, char *err,
		 size_t errlen)
{
	struct chardev *c = calloc(1, sizeof(*c));
	int ret;

	if (!c || !(c->ring = malloc(CHARDEV_OUT_MAX))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->loop = loop;
	c->kind = spec->kind;
	c->cbs = *cbs;
	c->opaque = opaque;
	c->who = who;
	c->in.fd = c->out.fd = -1;
	c->listen_fd = -1;
	c->tty_fd = -1;
	c->saved_flags[0] = c->saved_flags[1] = -1;
	c->refuse_rl = (struct ratelimit)RATELIMIT_INIT;
	switch (spec->kind) {
	case CHARDEV_STDIO:
		ret = open_stdio(c, err, errlen);
		break;
	case CHARDEV_PTY:
		ret = open_pty(c, err, errlen);
		break;
	case CHARDEV_SOCKET:
		ret = open_socket(c, spec->path, err, errlen);
		break;
	default:
		snprintf(err, errlen, "unknown back-end");
		ret = -EINVAL;
	}
	if (ret) {
		chardev_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

void chardev_close(struct chardev *c)
{
	struct stat st;

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
	if (c->pty_timer)
		evloop_del_timer(c->loop, c->pty_timer);
	if (c->winsz_timer)
		evloop_del_timer(c->loop, c->winsz_timer);
	watch_del(c, &c->in);
	watch_del(c, &c->out);
	if (c->kind == CHARDEV_STDIO) {
		if (c->tio_saved)
			tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tio);
		for (int i = 0; i < 2; i++) {
			int fd = i ? c->out.fd : c->in.fd;

			if (fd >= 0 && c->saved_flags[i] >= 0)
				fcntl(fd, F_SETFL, c->saved_flags[i]);
		}
		if (c->in.fd >= 0)
			stdio_taken = false;
	}
	if (c->in.fd >= 0)
		close(c->in.fd);
	if (c->out.fd >= 0 && c->out.fd != c->in.fd)
		close(c->out.fd);
	if (c->listen_fd >= 0) {
		evloop_del_fd(c->loop, c->listen_fd);
		close(c->listen_fd);
		/* Remove the socket file only if it is still the one we made. */
		if (c->path && lstat(c->path, &st) == 0 && st.st_dev == c->sock_dev &&
		    st.st_ino == c->sock_ino)
			unlink(c->path);
	}
	free(c->path);
	free(c->ring);
	free(c);
}
