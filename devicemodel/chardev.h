/*
 * chardev.h - the host side of a byte stream (the other end of a guest
 * console), served on vdm's event loop: the terminal vdm runs on (stdio), a
 * pseudo-terminal (pty), a UNIX stream socket that takes one client at a
 * time (socket:PATH), a UNIX stream socket someone else listens on (acrn-dm's
 * socket:NAME=PATH:client), an existing terminal device (tty:PATH), or a file
 * the output is appended to, with no input (file:PATH).
 *
 * It never blocks the loop: host fds are non-blocking, output waits in a
 * ring of at most CHARDEV_OUT_MAX bytes and chardev_write takes only what
 * fits (the writable callback says when there is room again), and input is
 * read only while the user asked for it with chardev_want_input.
 *
 * With nothing attached (socket: no client; pty: no process has the slave
 * open; stdio: standard output gone; tty: hung up; file: a write failed) output is discarded, as a serial line
 * with nothing plugged in loses it: a guest never stalls on a listener that
 * may never come.
 */
#ifndef VDM_CHARDEV_H
#define VDM_CHARDEV_H

#include "evloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Output buffered while the peer is slower than the guest. */
#define CHARDEV_OUT_MAX (64u * 1024)

struct chardev;

enum chardev_kind {
	CHARDEV_STDIO,
	CHARDEV_PTY,
	CHARDEV_SOCKET,
	CHARDEV_TTY,
	CHARDEV_FILE,
	/* Connects to a socket someone else listens on (acrn-dm's
	 * socket:NAME=PATH:client); no spelling of chardev_parse's. */
	CHARDEV_SOCKET_CLIENT,
};

struct chardev_spec {
	enum chardev_kind kind;
	char *path; /* socket, socket client, tty and file */
};

/* Callbacks, run on the loop thread, never from inside a chardev_* call. */
struct chardev_cbs {
	/* chardev_write took less than offered and there is room now (or the
	 * peer left, so output is discarded again). */
	void (*writable)(void *opaque);
	/* Input is waiting (only while input is wanted). */
	void (*readable)(void *opaque);
	/* The terminal's size changed (stdio on a terminal only; optional). */
	void (*resized)(void *opaque);
};

/*
 * Parse "stdio", "pty", "socket:PATH", "tty:PATH" or "file:PATH" into *spec (PATH copied).  Returns 0,
 * or -EINVAL with a one-line reason in err; -ENOMEM.
 */
int chardev_parse(const char *s, struct chardev_spec *spec, char *err, size_t errlen);
void chardev_spec_free(struct chardev_spec *spec);

/*
 * Open the host side and register it on loop: stdio puts a terminal on
 * standard input in raw mode (ISIG kept, so ^C still stops vdm) until
 * chardev_close; pty creates a pseudo-terminal and logs its slave's path;
 * socket listens on PATH (a stale socket file is replaced; anything else at
 * PATH is refused); socket client connects to PATH once (refused when nothing
 * listens there); tty opens the terminal at PATH in raw mode until
 * chardev_close (refused if missing or not a terminal); file opens PATH
 * for appending, creating it (refused if it cannot be written).  who names the owner in log lines (kept: it must outlive
 * the chardev).  Returns 0 with *out set, or a negative errno with a
 * one-line reason in err.
 */
int chardev_open(struct chardev **out, struct evloop *loop, const struct chardev_spec *spec,
		 const struct chardev_cbs *cbs, void *opaque, const char *who, char *err,
		 size_t errlen);

/* Unregister, close, restore the terminal, remove the socket file. */
void chardev_close(struct chardev *c);

/*
 * Queue up to len bytes of output.  Returns how many were taken: len when
 * they were sent, buffered or discarded (nothing attached); less when the
 * buffer is full, and then writable() follows once there is room.
 */
size_t chardev_write(struct chardev *c, const void *buf, size_t len);

/* Read input into iov.  Returns the bytes read, 0 when there is none now
 * (also after the peer ended or left; that is handled here). */
size_t chardev_read(struct chardev *c, const struct iovec *iov, int niov);

/* Whether the user has room for input: readable() is called only while on. */
void chardev_want_input(struct chardev *c, bool on);

/* The terminal's size (stdio on a terminal); false when there is none. */
bool chardev_winsize(struct chardev *c, uint16_t *cols, uint16_t *rows);

/* Bytes of output discarded because nothing was attached. */
uint64_t chardev_discarded(const struct chardev *c);

#endif /* VDM_CHARDEV_H */
