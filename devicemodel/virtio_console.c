/*
 * virtio_console.c - `-s N,virtio-console,stdio|pty|socket:PATH|tty:PATH|file:PATH
 * [,packed=on|off][,transitional]` (or acrn-dm's `@stdio:NAME`, `@pty:NAME`,
 * `@socket:NAME=PATH[:server]`, `@tty:NAME=PATH`, `@file:NAME=PATH`)
 * or `-s N,virtio-console,vhost=user:SOCKET[,reconnect=S][,transitional]`:
 * the console device (virtio 1.2, 5.3) with one port, the guest's hvc0,
 * and no MULTIPORT: queue 0 is the port's receiveq (host -> guest), queue 1
 * its transmitq (guest -> host).  Option parsing, features, config space and
 * the pacing of both queues against the host side live here; the bytes are
 * moved by the VBS-U back-end in vbs-u/console.c, and the host side of the
 * stream is a chardev (chardev.c).  On a vhost-user route both queues run in
 * the back-end (vdm-vhost-user, for one), which owns the host side; vdm keeps
 * the PCI function and a config space without a size.
 *
 * Pacing.  Transmit: chains are taken only while the chardev takes their
 * bytes; when its buffer is full the rest stay in the avail ring, the
 * transport stops serving the queue (host_blocked), and the chardev's
 * writable callback serves it again.
 * Receive: the host side is read only while the guest has buffers posted;
 * with none, its input is not watched until the guest kicks the receiveq.
 * VIRTIO_CONSOLE_F_SIZE is offered only when the host side is a terminal
 * whose size we can read (stdio on a tty).
 */
#include "virtio_console.h"
#include "chardev.h"
#include "devemu.h"
#include "virtio.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

#define CON_QUEUE_SIZE 128
#define RXQ 0
#define TXQ 1
/* Chains served per turn before the loop gets back to other devices. */
#define CON_BUDGET 64

_Static_assert(CON_QUEUE_SIZE <= VBSU_CON_MAX_IOV, "a chain of a full queue fits in the iovecs");

struct console_cfg {
	struct chardev_spec backend;
	bool have_backend;
	bool transitional;
	struct vhost_route route;
	bool no_packed; /* packed=off: offer the split ring only */
};

static const struct virtio_vhost_params con_vhost = { .nrings = 2 };

struct virtio_console {
	struct virtio_dev vd; /* first */
	struct vbsu_con be;
	struct chardev *cd;
	struct virtio_console_config config;
};

static struct virtio_console *to_con(struct virtio_dev *vd)
{
	return (struct virtio_console *)vd;
}

static void con_clear_cfg(void *cfg)
{
	chardev_spec_free(&((struct console_cfg *)cfg)->backend);
	vhost_route_free(&((struct console_cfg *)cfg)->route);
}

/*
 * acrn-dm's port spelling, [@]BACKEND:NAME[=PATH][:server|client], as the
 * chardev spec vdm reads ("stdio", "pty", "socket:PATH", "tty:PATH",
 * "file:PATH") in out.  '@' marks acrn-dm's console port, which is the one
 * port vdm has.  Returns 1 when opt was in that spelling, 0 when it was
 * not, -EINVAL (err) when it asks for what vdm does not do.
 */
static int acrn_port(const char *opt, char *out, size_t outlen, char *err, size_t errlen)
{
	static const char *const kinds[] = { "stdio:", "pty:", "tty:", "file:", "socket:" };
	bool console = opt[0] == '@';
	const char *spec = console ? opt + 1 : opt, *name = NULL;
	bool with_path;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(spec, kinds[i], strlen(kinds[i])))
			name = spec + strlen(kinds[i]);
	with_path = name && (!strncmp(spec, "socket:", 7) || !strncmp(spec, "tty:", 4) ||
			     !strncmp(spec, "file:", 5));
	/* Without '@' only the unmistakable forms are acrn-dm's: vdm's own
	 * "socket:PATH", "tty:PATH" and "file:PATH" have no "NAME=" in front
	 * of the path. */
	if (!name || (!console && with_path && !strchr(name, '=')))
		return 0;
	if (!console) {
		snprintf(err, errlen,
			 "'%s': a port without '@' is one of acrn-dm's MULTIPORT ports; vdm has "
			 "one port, the console: write '@%s'",
			 opt, opt);
		return -EINVAL;
	}
	if (!with_path) { /* stdio, pty: the name is only the port's */
		snprintf(out, outlen, "%.*s", (int)(name - spec - 1), spec);
		return 1;
	}
	const char *path = strchr(name, '=');
	int kind_len = (int)(name - spec - 1);
	bool socket = !strncmp(spec, "socket:", 7);
	/* Only a socket has a type after the path; a tty's or file's path
	 * is taken whole (it may hold ':'). */
	const char *type = socket && path ? strchr(path + 1, ':') : NULL;
	size_t plen = type ? (size_t)(type - path - 1) : path ? strlen(path + 1) : 0;

	if (!path || !plen) {
		snprintf(err, errlen, "'%s': expected @%.*s:NAME=PATH%s", opt, kind_len, spec,
			 socket ? "[:server]" : "");
		return -EINVAL;
	}
	if (type && strcmp(type + 1, "server")) {
		snprintf(err, errlen,
			 "'%s': vdm's console socket listens (server); it does not dial out as "
			 "'%s'",
			 opt, type + 1);
		return -EINVAL;
	}
	snprintf(out, outlen, "%.*s:%.*s", kind_len, spec, (int)plen, path + 1);
	return 1;
}

static int con_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct console_cfg *c = cfg;
	char spec[300];
	int r;

	r = virtio_common_option(opt, &c->transitional, &c->no_packed, &c->route, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	r = acrn_port(opt, spec, sizeof(spec), err, errlen);
	if (r < 0)
		return r;
	if (c->have_backend) /* one port, one back-end */
		return DEVEMU_UNKNOWN;
	r = chardev_parse(r ? spec : opt, &c->backend, err, errlen);
	c->have_backend = r == 0;
	return r;
}

static int con_options_done(void *cfg, char *err, size_t errlen)
{
	struct console_cfg *c = cfg;

	if (vhost_route_check(&c->route, "virtio-console", NULL, err, errlen))
		return -EINVAL;
	if (c->route.kind == VHOST_ROUTE_AUTO) /* no kernel vhost for consoles */
		c->route.kind = VHOST_ROUTE_NONE;
	if (c->route.kind == VHOST_ROUTE_USER && c->have_backend) {
		snprintf(err, errlen, "with vhost=user the back-end owns the console's host side: "
				      "give no stdio, pty, socket:PATH, tty:PATH or file:PATH");
		return -EINVAL;
	}
	if (c->route.kind == VHOST_ROUTE_USER || c->have_backend)
		return 0;
	snprintf(err, errlen,
		 "virtio-console needs a back-end: stdio, pty, socket:PATH, tty:PATH or file:PATH");
	return -EINVAL;
}

int vcon_check_standalone(const void *cfgp, char *err, size_t errlen)
{
	const struct console_cfg *cfg = cfgp;
	const char *what = cfg->route.given || cfg->route.reconnect_s
				   ? "vhost= and reconnect= choose vdm's route"
			   : cfg->transitional ? "transitional is the front-end's PCI function"
					       : NULL;

	if (!what)
		return 0;
	snprintf(err, errlen, "virtio-console: %s", what);
	return -EINVAL;
}

int vcon_open_host(const void *cfgp, struct evloop *loop, const struct chardev_cbs *cbs,
		   void *opaque, struct chardev **out, char *err, size_t errlen)
{
	const struct console_cfg *cfg = cfgp;

	return chardev_open(out, loop, &cfg->backend, cbs, opaque, "virtio-console", err, errlen);
}

/* ---- the data path ---- */

static size_t con_sink(void *opaque, const void *buf, size_t len)
{
	return chardev_write(opaque, buf, len);
}

static size_t con_source(void *opaque, const struct iovec *iov, int niov)
{
	return chardev_read(opaque, iov, niov);
}

static bool queue_live(struct virtio_console *c, int qi)
{
	return virtio_dev_running(&c->vd) && c->vd.queues[qi].enabled && !c->vd.queues[qi].vq.broken;
}

static void rx_run(struct virtio_console *c)
{
	struct virtio_queue *q = &c->vd.queues[RXQ];

	if (!queue_live(c, RXQ)) {
		chardev_want_input(c->cd, false);
		return;
	}
	for (;;) {
		bool starved, more;
		int r = vbsu_con_rx(&c->be, &q->vq, CON_BUDGET, con_source, c->cd, &starved, &more);

		if (r > 0)
			virtio_queue_done(q);
		if (r < 0) {
			chardev_want_input(c->cd, false);
			virtio_queue_failed(q, r);
			return;
		}
		if (starved) {
			/* No buffer left: stop reading until the guest posts. */
			if (virtio_queue_rearm(q))
				continue;
			chardev_want_input(c->cd, false);
			return;
		}
		/* The host side has nothing now, or the budget ran out: input
		 * is watched (level-triggered) and brings us back. */
		chardev_want_input(c->cd, true);
		return;
	}
}

/*
 * One pass over the transmit queue, from the transport's pacing (passes,
 * re-arm, hold-off; virtio_pacing.c): when the host side fills up the queue
 * is host_blocked and the chardev's writable callback serves it again.
 */
static int tx_run(struct virtio_console *c)
{
	struct virtio_queue *q = &c->vd.queues[TXQ];
	bool blocked, more;
	int r;

	if (!queue_live(c, TXQ))
		return 0;
	r = vbsu_con_tx(&c->be, &q->vq, CON_BUDGET, con_sink, c->cd, &blocked, &more);
	if (r > 0)
		virtio_queue_done(q);
	q->host_blocked = blocked;
	return r < 0 ? r : 0;
}

static int con_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	if (q->index == TXQ)
		return tx_run(to_con(vd));
	rx_run(to_con(vd)); /* buffers posted: read what waits, watch for more */
	return 0;           /* its errors are its own (virtio_queue_failed) */
}

static void con_writable(void *opaque)
{
	struct virtio_console *c = opaque;
	struct virtio_queue *q = &c->vd.queues[TXQ];

	q->host_blocked = false;
	virtio_queue_serve(q); /* the sink has room: go on where it stopped */
}

static void con_readable(void *opaque)
{
	rx_run(opaque);
}

static void con_resized(void *opaque)
{
	struct virtio_console *c = opaque;
	uint16_t cols, rows;

	if (!chardev_winsize(c->cd, &cols, &rows))
		return;
	c->config.cols = htole16(cols);
	c->config.rows = htole16(rows);
	/* 5.3.6: the driver reads cols and rows again on a config change. */
	virtio_config_changed(&c->vd);
}

static void con_reset(struct virtio_dev *vd)
{
	struct virtio_console *c = to_con(vd);

	vbsu_con_reset(&c->be);
	if (c->cd)
		chardev_want_input(c->cd, false);
}

static const struct virtio_ops con_ops = {
	.name = "virtio-console",
	.device_type = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000, /* simple communication controller, other */
	.queue_notify = con_notify,
	.reset = con_reset,
};

/* Both queues on a vhost-user back-end, which owns the host side: no
 * chardev here, no size (the terminal, if any, is the back-end's). */
static int con_create_vhost(const struct devemu_ctx *ctx, const struct console_cfg *cfg,
			    struct pci_dev **out, char *err, size_t errlen)
{
	struct virtio_vhost *vv = NULL;
	struct virtio_console *c;
	int ret = virtio_vhost_open(&vv, &cfg->route, "virtio-console", &con_vhost, err, errlen);

	if (ret < 0)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c) {
		virtio_vhost_free(vv);
		return -ENOMEM;
	}
	struct virtio_dev_params p = {
		.ops = &con_ops,
		.nqueues = 2,
		.queue_max = CON_QUEUE_SIZE,
		.config = &c->config,
		.config_size = sizeof(c->config),
		.transitional = cfg->transitional,
	};
	ret = virtio_dev_init_routed(&c->vd, ctx, &p, vv, err, errlen);
	if (ret) {
		virtio_vhost_free(vv);
		free(c);
		return ret;
	}
	c->vd.vhost_params = &con_vhost;
	*out = &c->vd.pci;
	return 0;
}

static int con_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		      char *err, size_t errlen)
{
	static const struct chardev_cbs cbs = {
		.writable = con_writable,
		.readable = con_readable,
		.resized = con_resized,
	};
	const struct console_cfg *cfg = cfgp;
	struct virtio_console *c;
	uint64_t features = 0;
	uint16_t cols, rows;
	int ret;

	if (cfg->route.kind == VHOST_ROUTE_USER)
		return con_create_vhost(ctx, cfg, out, err, errlen);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ret = vcon_open_host(cfg, ctx->loop, &cbs, c, &c->cd, err, errlen);
	if (ret) {
		free(c);
		return ret;
	}
	if (chardev_winsize(c->cd, &cols, &rows)) {
		/* Little-endian, as every device's config space (virtio.h). */
		c->config.cols = htole16(cols);
		c->config.rows = htole16(rows);
		features |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
	}
	struct virtio_dev_params p = {
		.ops = &con_ops,
		.nqueues = 2,
		.queue_max = CON_QUEUE_SIZE,
		.features = features,
		.config = &c->config,
		.config_size = sizeof(c->config),
		.transitional = cfg->transitional,
		.packed = !cfg->no_packed,
	};
	ret = virtio_dev_init(&c->vd, ctx, &p);
	if (ret) {
		snprintf(err, errlen, "cannot build the PCI function");
		chardev_close(c->cd);
		free(c);
		return ret;
	}
	/* The receiveq waits on the host side, not only on the guest: a kick
	 * runs it once and it re-arms notifications itself.  The transmitq
	 * is paced by the transport, stopping while the sink is full. */
	c->vd.queues[RXQ].device_paced = true;
	*out = &c->vd.pci;
	return 0;
}

static void con_destroy(struct pci_dev *d)
{
	struct virtio_console *c = to_con(to_virtio_dev(d));

	if (c->cd)
		log_debug("virtio-console: %llu bytes from the guest (%llu discarded), %llu to it",
			  (unsigned long long)c->be.tx_bytes,
			  (unsigned long long)chardev_discarded(c->cd),
			  (unsigned long long)c->be.rx_bytes);
	virtio_vhost_free(c->vd.vhost);
	virtio_dev_fini(&c->vd);
	/* Restores the terminal (stdio, tty) and removes the socket file. */
	chardev_close(c->cd);
	free(c);
}

const struct devemu devemu_virtio_console = {
	.name = "virtio-console",
	.usage = "-s N,virtio-console,stdio|pty|socket:PATH|tty:PATH|file:PATH|@stdio:NAME|"
		 "@pty:NAME|@socket:NAME=PATH|@tty:NAME=PATH|@file:NAME=PATH"
		 "[,packed=on|off][,transitional] | "
		 "-s N,virtio-console,vhost=user:SOCKET[,reconnect=S][,transitional]",
	.cfg_size = sizeof(struct console_cfg),
	.option = con_option,
	.options_done = con_options_done,
	.clear_cfg = con_clear_cfg,
	.create = con_create,
	.destroy = con_destroy,
};
