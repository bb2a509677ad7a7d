/*
 * chardev_internal.h - what the chardev core (chardev.c: the user's calls,
 * the output ring, the watches on the peer's fds) shares with the three
 * kinds of host side, one file each: chardev_stdio.c, chardev_pty.c,
 * chardev_socket.c, chardev_socket_client.c, chardev_tty.c and chardev_file.c.  A kind sets up its fds and tells the core when its
 * peer comes and goes; the core does all reading and writing.
 */
#ifndef VDM_CHARDEV_INTERNAL_H
#define VDM_CHARDEV_INTERNAL_H

#include "chardev.h"

#include <sys/types.h>
#include <termios.h>

struct cd_watch {
	int fd;          /* -1: none */
	bool on;         /* registered with the loop */
	uint32_t events; /* as registered */
};

/* What differs between kinds; called on the loop thread. */
struct chardev_kind_ops {
	/* Set up the host side (in/out, watches, timers, priv).  On failure a
	 * one-line reason in err; close runs next either way. */
	int (*open)(struct chardev *c, const struct chardev_spec *spec, char *err, size_t errlen);
	/* fd (in or out) hung up, failed or ended: take it off the loop, and
	 * cd_detach when nothing takes output any more. */
	void (*gone)(struct chardev *c, int fd, const char *why);
	/* Optional: write v to out.fd (default writev). */
	ssize_t (*send)(struct chardev *c, const struct iovec *v, int n);
	/* Optional: the terminal's size; false when there is none. */
	bool (*winsize)(struct chardev *c, uint16_t *cols, uint16_t *rows);
	/* Undo open (also a partial one), after the core took the watches off
	 * the loop and before it closes in and out. */
	void (*close)(struct chardev *c);
	/* A read of 0 bytes is the peer's shutdown of its sending side only:
	 * it may still read (a socket), rather than the end of the peer. */
	bool half_close;
};

extern const struct chardev_kind_ops chardev_stdio_ops;
extern const struct chardev_kind_ops chardev_pty_ops;
extern const struct chardev_kind_ops chardev_socket_ops;
extern const struct chardev_kind_ops chardev_tty_ops;
extern const struct chardev_kind_ops chardev_file_ops;
extern const struct chardev_kind_ops chardev_socket_client_ops;

struct chardev {
	struct evloop *loop;
	const struct chardev_kind_ops *ops;
	struct chardev_cbs cbs;
	void *opaque;
	const char *who;

	/* The peer: in and out are one fd (socket client, pty master, tty) or
	 * two (stdio); file has only out (in is -1).  With one fd only `in` is registered and carries both. */
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

	void *priv; /* the kind's own state */
};

/* Register w->fd with the loop, no events yet (update_watches sets them). */
int cd_watch_add(struct chardev *c, struct cd_watch *w);
void cd_watch_del(struct chardev *c, struct cd_watch *w);
/* Ask for the events the state calls for: input while wanted, output
 * while the ring holds some. */
void cd_update_watches(struct chardev *c);
/* Nothing takes output any more: what waits in the ring is discarded. */
void cd_detach(struct chardev *c);
/* Raw bytes both ways on a terminal: no line editing, echo, or CR/NL
 * translation.  With keep_signals, ^C and friends still signal vdm. */
void cd_make_raw(struct termios *t, bool keep_signals);

/* The kinds whose peer is one path (file:, tty:, a socket client) keep a
 * copy of it first in their priv. */
struct cd_path_priv {
	char *path;
};
/* c->priv = size zeroed bytes (a struct starting with struct cd_path_priv)
 * holding a copy of path.  0, or -ENOMEM with the reason in err. */
int cd_path_priv_new(struct chardev *c, size_t size, const char *path, char *err, size_t errlen);
/* Free what cd_path_priv_new made (nothing: nothing). */
void cd_path_priv_free(struct chardev *c);

#endif /* VDM_CHARDEV_INTERNAL_H */
