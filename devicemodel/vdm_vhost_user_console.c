/*
 * vdm_vhost_user_console.c - vdm-vhost-user's virtio-console: one port (the
 * guest's hvc0, no MULTIPORT) whose host side is the chardev vdm's own
 * virtio-console would open (virtio_console.h: stdio, pty or socket:PATH,
 * same options), its bytes moved by the same back-end (vbs-u/console.c).
 * Ring 0 is the receiveq (host -> guest), ring 1 the transmitq.
 *
 * Pacing, as in vdm: transmit chains are taken only while the chardev
 * takes their bytes (a full chardev blocks the ring until its writable
 * callback); the host side is read only while the guest has receive
 * buffers posted (a ring with buffers and no input waits for the readable
 * callback, not for kicks).  No config space is served: with no MULTIPORT
 * and no size (a resize could not be told to the front-end), the
 * front-end's own zeroes are right.
 */
#include "vdm_vhost_user.h"
#include "virtio_console.h"

#include <errno.h>
#include <stdlib.h>

#define RXQ 0
#define TXQ 1

struct vvu_con {
	struct vbsu_con be;
	struct chardev *cd;
	struct vvu_daemon *dm;
};

static struct vvu_ring *con_ring(struct vvu_con *c, unsigned idx)
{
	return &c->dm->rings[idx];
}

static size_t con_sink(void *opaque, const void *buf, size_t len)
{
	return chardev_write(opaque, buf, len);
}

static size_t con_source(void *opaque, const struct iovec *iov, int niov)
{
	return chardev_read(opaque, iov, niov);
}

/* The chardev has room again: the transmitq goes on where it stopped. */
static void con_writable(void *opaque)
{
	struct vvu_ring *r = con_ring(opaque, TXQ);

	r->blocked = false;
	vvu_ring_serve(r);
}

/* Input waits and the guest has buffers: fill them. */
static void con_readable(void *opaque)
{
	struct vvu_con *c = opaque;
	struct vvu_ring *r = con_ring(c, RXQ);

	if (!r->running) {
		/* The receiveq stopped since input was asked for. */
		chardev_want_input(c->cd, false);
		return;
	}
	r->blocked = false;
	vvu_ring_serve(r);
}

static int con_check(const void *cfg, char *err, size_t errlen)
{
	return vcon_check_standalone(cfg, err, errlen);
}

static int con_open(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen)
{
	static const struct chardev_cbs cbs = {
		.writable = con_writable,
		.readable = con_readable,
	};
	struct vvu_con *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->dm = dm;
	ret = vcon_open_host(cfg, dm->loop, &cbs, c, &c->cd, err, errlen);
	if (ret) {
		free(c);
		return ret;
	}
	dm->dev = c;
	dm->nrings = 2;
	/* Its receiveq waits for the host side: no hold-off there. */
	dm->rings[RXQ].device_paced = true;
	dm->features = vvu_ring_features();
	return 0;
}

static int con_process(struct vvu_daemon *dm, struct vvu_ring *r, int budget)
{
	struct vvu_con *c = dm->dev;
	bool stop, more;
	int n;

	if (r->idx == TXQ) {
		n = vbsu_con_tx(&c->be, &r->vq, budget, con_sink, c->cd, &stop, &more);
		r->blocked = stop; /* the chardev is full: its writable callback */
		return n;
	}
	n = vbsu_con_rx(&c->be, &r->vq, budget, con_source, c->cd, &stop, &more);
	if (n < 0 || stop) {
		/* Broken, or no buffer left: read nothing until the guest posts. */
		chardev_want_input(c->cd, false);
		r->blocked = false;
		return n;
	}
	/* Buffers wait and the host side has nothing now (or the budget ran
	 * out): its input brings the ring back, not a kick. */
	chardev_want_input(c->cd, true);
	r->blocked = !more;
	return n;
}

/*
 * A ring stops or guest memory moves: a transmit chain held half-sent
 * points into the old memory.  It goes back to the avail ring, to be taken
 * again (the part the host side already took is sent again: a console
 * would rather repeat a few bytes than lose them).  Input needs no care:
 * the readable callback of a stopped receiveq turns it off.
 */
static void con_quiesce(struct vvu_daemon *dm)
{
	struct vvu_con *c = dm->dev;
	struct vvu_ring *tx = con_ring(c, TXQ);

	if (c->be.tx_held && tx->running)
		vq_retchain(&tx->vq);
	vbsu_con_reset(&c->be);
}

static void con_close(struct vvu_daemon *dm)
{
	struct vvu_con *c = dm->dev;

	if (!c)
		return;
	log_info("virtio-console: %llu bytes from the guest (%llu discarded), %llu to it",
		 (unsigned long long)c->be.tx_bytes, (unsigned long long)chardev_discarded(c->cd),
		 (unsigned long long)c->be.rx_bytes);
	/* Restores the terminal (stdio) and removes the socket file. */
	chardev_close(c->cd);
	free(c);
	dm->dev = NULL;
}

const struct vvu_emul vvu_emul_console = {
	.name = "virtio-console",
	.takes_options = true,
	.check = con_check,
	.open = con_open,
	.process = con_process,
	.quiesce = con_quiesce,
	.close = con_close,
};
