/*
 * virtio_console.c - `-s N,virtio-console,stdio|pty|socket:PATH|tty:PATH|file:PATH
 * [,packed=on|off][,transitional]`, acrn-dm's ports `[@]stdio:NAME`,
 * `[@]pty:NAME`, `[@]socket:NAME=PATH[:server|:client]`, `[@]tty:NAME=PATH`,
 * `[@]file:NAME=PATH` (up to VCON_MAX_PORTS of them, '@' marking a console
 * port), or `-s N,virtio-console,vhost=user:SOCKET[,reconnect=S][,transitional]`:
 * the console device (virtio 1.2, 5.3).  Option parsing, features, config
 * space, the queues of each port and their pacing against the host side
 * live here; the control queues of MULTIPORT in virtio_console_ctrl.c; the
 * bytes are moved by the VBS-U back-end in vbs-u/console.c, and the host
 * side of each port is a chardev (chardev.c).
 *
 * Ports.  A line with one console port (vdm's own spelling, or one '@'
 * port) is the device without VIRTIO_CONSOLE_F_MULTIPORT: queue 0 is the
 * port's receiveq (host -> guest), queue 1 its transmitq, and the guest
 * sees hvc0.  Two ports or more, or a port that is not a console, offer
 * MULTIPORT with max_nr_ports = the ports given, the control queues, and
 * each port announced by name (the guest's /dev/vportNpM and
 * /sys/class/virtio-ports/vportNpM/name).  acrn-dm offers MULTIPORT and 16
 * ports on every line; vdm keeps the one-port device as it was, so a guest
 * sees no change for it.  On a vhost-user route both queues of the one port
 * run in the back-end (vdm-vhost-user, for one), which owns the host side;
 * vdm keeps the PCI function and a config space without a size.
 *
 * Pacing.  Transmit: chains are taken only while the chardev takes their
 * bytes; when its buffer is full the rest stay in the avail ring, the
 * transport stops serving the queue (host_blocked), and the chardev's
 * writable callback serves it again.
 * Receive: the host side is read only while the guest has buffers posted;
 * with none, its input is not watched until the guest kicks the receiveq.
 * VIRTIO_CONSOLE_F_SIZE is offered only when port 0 is a console whose host
 * side is a terminal we can read the size of (stdio on a tty).
 */
#include "virtio_console.h"
#include "virtio_console_internal.h"
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
/* Chains served per turn before the loop gets back to other devices. */
#define CON_BUDGET 64

_Static_assert(CON_QUEUE_SIZE <= VBSU_CON_MAX_IOV, "a chain of a full queue fits in the iovecs");

struct con_port_cfg {
	struct chardev_spec backend;
	char *name;   /* acrn-dm's NAME; NULL in vdm's own spelling */
	bool console; /* '@', or vdm's own spelling */
};

struct console_cfg {
	struct con_port_cfg ports[VCON_MAX_PORTS];
	int nports;
	bool own_spelling; /* the one port was given as stdio, pty, socket:PATH... */
	bool transitional;
	struct vhost_route route;
	bool no_packed; /* packed=off: offer the split ring only */
};

static const struct virtio_vhost_params con_vhost = { .nrings = 2 };

static struct virtio_console *to_con(struct virtio_dev *vd)
{
	return (struct virtio_console *)vd;
}

/* MULTIPORT is offered for more than one port, or a port that is no console. */
static bool cfg_multiport(const struct console_cfg *c)
{
	return c->nports > 1 || (c->nports == 1 && !c->ports[0].console);
}

static void con_clear_cfg(void *cfg)
{
	struct console_cfg *c = cfg;

	for (int i = 0; i < c->nports; i++) {
		chardev_spec_free(&c->ports[i].backend);
		free(c->ports[i].name);
	}
	vhost_route_free(&c->route);
}

/*
 * acrn-dm's port spelling, [@]BACKEND:NAME[=PATH][:server|client], into
 * port.  Returns 1 when opt was in that spelling, 0 when it was not (it may
 * be vdm's own), -EINVAL or -ENOMEM (err) when it is wrong.
 */
static int acrn_port(const char *opt, struct con_port_cfg *port, char *err, size_t errlen)
{
	static const char *const kinds[] = { "stdio:", "pty:", "tty:", "file:", "socket:" };
	bool console = opt[0] == '@';
	const char *spec = console ? opt + 1 : opt, *name = NULL;
	char buf[4200]; /* KIND:PATH, PATH up to PATH_MAX */
	bool with_path;
	int r;

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
	/* A port name has no '/': "socket:/tmp/a=b" is vdm's socket:PATH
	 * with a path that holds '=', not a port "/tmp/a" on socket "b". */
	if (!console && with_path && memchr(name, '/', (size_t)(strchr(name, '=') - name)))
		return 0;
	int kind_len = (int)(name - spec - 1);
	const char *path = strchr(name, '=');
	/* acrn-dm ends every NAME at '=' and ignores a stdio's or pty's PATH. */
	size_t name_len = path ? (size_t)(path - name) : strlen(name);

	if (!with_path)
		path = NULL;
	bool socket = !strncmp(spec, "socket:", 7), client = false;

	if (name_len > VCON_NAME_MAX) {
		snprintf(err, errlen, "'%.40s...': a port name is at most %d bytes", opt,
			 VCON_NAME_MAX);
		return -EINVAL;
	}
	if (!with_path) { /* stdio, pty: the name is only the port's */
		snprintf(buf, sizeof(buf), "%.*s", kind_len, spec);
	} else if (strlen(opt) >= sizeof(buf)) {
		snprintf(err, errlen, "'%.40s...': the path is longer than %zu bytes", opt,
			 sizeof(buf) - 8);
		return -EINVAL;
	} else {
		/* Only a socket has a type after the path; a tty's or file's
		 * path is taken whole (it may hold ':'). */
		const char *type = socket && path ? strchr(path + 1, ':') : NULL;
		size_t plen = type ? (size_t)(type - path - 1) : path ? strlen(path + 1) : 0;

		if (!path || !plen) {
			snprintf(err, errlen, "'%s': expected %s%.*s:NAME=PATH%s", opt,
				 console ? "@" : "", kind_len, spec,
				 socket ? "[:server|:client]" : "");
			return -EINVAL;
		}
		if (type && strcmp(type + 1, "server") && strcmp(type + 1, "client")) {
			snprintf(err, errlen, "'%s': a socket port is ':server' or ':client', not '%s'",
				 opt, type + 1);
			return -EINVAL;
		}
		client = type && !strcmp(type + 1, "client");
		snprintf(buf, sizeof(buf), "%.*s:%.*s", kind_len, spec, (int)plen, path + 1);
	}
	r = chardev_parse(buf, &port->backend, err, errlen);
	if (r)
		return r;
	if (client)
		port->backend.kind = CHARDEV_SOCKET_CLIENT;
	port->console = console;
	port->name = strndup(name, name_len);
	if (!port->name) {
		chardev_spec_free(&port->backend);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 1;
}

static int con_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct console_cfg *c = cfg;
	struct con_port_cfg port = { 0 };
	int r;

	r = virtio_common_option(opt, &c->transitional, &c->no_packed, &c->route, err, errlen);
	if (r)
		return r < 0 ? r : 0;
	r = acrn_port(opt, &port, err, errlen);
	if (r < 0)
		return r;
	if (r == 0 && c->nports) /* vdm's own spelling: one port, one back-end */
		return DEVEMU_UNKNOWN;
	if (r == 1 && c->own_spelling) {
		snprintf(err, errlen,
			 "'%s': vdm's own spelling of the first port makes a one-port console; "
			 "give every port as acrn-dm does (@stdio:NAME, pty:NAME, ...) for several",
			 opt);
		r = -EINVAL;
	} else if (r == 1 && c->nports == VCON_MAX_PORTS) {
		snprintf(err, errlen, "'%s': at most %d ports (acrn-dm's limit)", opt,
			 VCON_MAX_PORTS);
		r = -EINVAL;
	}
	for (int i = 0; r == 1 && i < c->nports; i++)
		if (!strcmp(c->ports[i].name, port.name)) {
			snprintf(err, errlen, "'%s': two ports named '%s'", opt, port.name);
			r = -EINVAL;
		}
	if (r < 0) {
		chardev_spec_free(&port.backend);
		free(port.name);
		return r;
	}
	if (r == 0) {
		r = chardev_parse(opt, &port.backend, err, errlen);
		if (r)
			return r;
		port.console = true;
		c->own_spelling = true;
	}
	c->ports[c->nports++] = port;
	return 0;
}

static int con_options_done(void *cfg, char *err, size_t errlen)
{
	struct console_cfg *c = cfg;
	int nstdio = 0;

	if (vhost_route_check(&c->route, "virtio-console", NULL, err, errlen))
		return -EINVAL;
	if (c->route.kind == VHOST_ROUTE_AUTO) /* no kernel vhost for consoles */
		c->route.kind = VHOST_ROUTE_NONE;
	if (c->route.kind == VHOST_ROUTE_USER && c->nports) {
		snprintf(err, errlen, "with vhost=user the back-end owns the console's host side: "
				      "give no stdio, pty, socket:PATH, tty:PATH or file:PATH");
		return -EINVAL;
	}
	if (c->route.kind == VHOST_ROUTE_USER)
		return 0;
	if (!c->nports) {
		snprintf(err, errlen, "virtio-console needs a back-end: stdio, pty, socket:PATH, "
				      "tty:PATH or file:PATH");
		return -EINVAL;
	}
	for (int i = 0; i < c->nports; i++) {
		nstdio += c->ports[i].backend.kind == CHARDEV_STDIO;
		if (cfg_multiport(c) && !c->ports[i].name[0]) {
			snprintf(err, errlen, "virtio-console: port %d has an empty name; with "
					      "several ports each needs one",
				 i);
			return -EINVAL;
		}
	}
	if (nstdio > 1) {
		snprintf(err, errlen, "virtio-console: %d ports on stdio; vdm has one standard "
				      "input and output",
			 nstdio);
		return -EINVAL;
	}
	return 0;
}

int vcon_check_standalone(const void *cfgp, char *err, size_t errlen)
{
	const struct console_cfg *cfg = cfgp;
	const char *what = cfg->route.given || cfg->route.reconnect_s
				   ? "vhost= and reconnect= choose vdm's route"
			   : cfg->transitional ? "transitional is the front-end's PCI function"
			   : cfg_multiport(cfg)
				   ? "vdm-vhost-user serves one console port, not MULTIPORT ports"
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

	return chardev_open(out, loop, &cfg->ports[0].backend, cbs, opaque, "virtio-console",
			    err, errlen);
}

/* ---- the data path, per port ---- */

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

static void rx_run(struct vcon_port *p)
{
	struct virtio_console *c = p->con;
	int qi = vcon_port_rxq(p->id);
	struct virtio_queue *q = &c->vd.queues[qi];

	if (!queue_live(c, qi)) {
		chardev_want_input(p->cd, false);
		return;
	}
	for (;;) {
		bool starved, more;
		int r = vbsu_con_rx(&p->be, &q->vq, CON_BUDGET, con_source, p->cd, &starved, &more);

		if (r > 0)
			virtio_queue_done(q);
		if (r < 0) {
			chardev_want_input(p->cd, false);
			virtio_queue_failed(q, r);
			return;
		}
		if (starved) {
			/* No buffer left: stop reading until the guest posts. */
			if (virtio_queue_rearm(q))
				continue;
			chardev_want_input(p->cd, false);
			return;
		}
		/* The host side has nothing now, or the budget ran out: input
		 * is watched (level-triggered) and brings us back. */
		chardev_want_input(p->cd, true);
		return;
	}
}

/*
 * One pass over a port's transmit queue, from the transport's pacing
 * (passes, re-arm, hold-off; virtio_pacing.c): when the host side fills up
 * the queue is host_blocked and the chardev's writable callback serves it
 * again.
 */
static int tx_run(struct vcon_port *p)
{
	struct virtio_console *c = p->con;
	int qi = vcon_port_rxq(p->id) + 1;
	struct virtio_queue *q = &c->vd.queues[qi];
	bool blocked, more;
	int r;

	if (!queue_live(c, qi))
		return 0;
	r = vbsu_con_tx(&p->be, &q->vq, CON_BUDGET, con_sink, p->cd, &blocked, &more);
	if (r > 0)
		virtio_queue_done(q);
	q->host_blocked = blocked;
	return r < 0 ? r : 0;
}

static int con_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	struct virtio_console *c = to_con(vd);
	int qi = q->index;

	/* Without MULTIPORT negotiated only port 0 exists (5.3.2).  A driver
	 * posting on the other queues broke the rules; left in the ring, its
	 * buffers would bring the transport back to this queue forever. */
	if (qi >= 2 && !virtio_has_feature(vd, VIRTIO_CONSOLE_F_MULTIPORT)) {
		vq_mark_broken(&q->vq, "a queue past port 0's used without MULTIPORT negotiated");
		return -EPROTO;
	}
	if (qi == VCON_CTRL_RXQ)
		return vcon_ctrl_rx_run(c); /* buffers posted: send what waits */
	if (qi == VCON_CTRL_TXQ)
		return vcon_ctrl_tx_run(c);
	struct vcon_port *p = &c->ports[qi < 2 ? 0 : (qi - 2) / 2];

	if (qi % 2)
		return tx_run(p);
	rx_run(p);  /* buffers posted: read what waits, watch for more */
	return 0;   /* its errors are its own (virtio_queue_failed) */
}

static void con_writable(void *opaque)
{
	struct vcon_port *p = opaque;
	struct virtio_queue *q = &p->con->vd.queues[vcon_port_rxq(p->id) + 1];

	q->host_blocked = false;
	virtio_queue_serve(q); /* the sink has room: go on where it stopped */
}

static void con_readable(void *opaque)
{
	rx_run(opaque);
}

static void con_resized(void *opaque)
{
	struct vcon_port *p = opaque;
	struct virtio_console *c = p->con;
	uint16_t cols, rows;

	/* The config's size is port 0's (5.3.4), offered only for it. */
	if (p->id != 0 || !(c->vd.host_features >> VIRTIO_CONSOLE_F_SIZE & 1) ||
	    !chardev_winsize(p->cd, &cols, &rows))
		return;
	c->config.cols = htole16(cols);
	c->config.rows = htole16(rows);
	/* 5.3.6: the driver reads cols and rows again on a config change. */
	virtio_config_changed(&c->vd);
}

static void con_reset(struct virtio_dev *vd)
{
	struct virtio_console *c = to_con(vd);

	for (int i = 0; i < c->nports; i++) {
		vbsu_con_reset(&c->ports[i].be);
		if (c->ports[i].cd)
			chardev_want_input(c->ports[i].cd, false);
	}
	vcon_ctrl_reset(c);
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

/* Close every port's host side that was opened. */
static void close_ports(struct virtio_console *c)
{
	for (int i = 0; i < c->nports; i++) {
		struct vcon_port *p = &c->ports[i];

		if (!p->cd)
			continue;
		log_debug("%s: %llu bytes from the guest (%llu discarded), %llu to it", p->who,
			  (unsigned long long)p->be.tx_bytes,
			  (unsigned long long)chardev_discarded(p->cd),
			  (unsigned long long)p->be.rx_bytes);
		/* Restores the terminal (stdio, tty) and removes the socket file. */
		chardev_close(p->cd);
		p->cd = NULL;
	}
}

/* Open each port's host side, in the order given (port N is the Nth). */
static int open_ports(struct virtio_console *c, const struct devemu_ctx *ctx,
		      const struct console_cfg *cfg, char *err, size_t errlen)
{
	static const struct chardev_cbs cbs = {
		.writable = con_writable,
		.readable = con_readable,
		.resized = con_resized,
	};

	for (int i = 0; i < cfg->nports; i++) {
		struct vcon_port *p = &c->ports[i];
		char why[256];
		int ret;

		p->con = c;
		p->id = i;
		p->name = cfg->ports[i].name;
		p->console = cfg->ports[i].console;
		if (c->multiport)
			snprintf(p->who, sizeof(p->who), "virtio-console port %s", p->name);
		else
			snprintf(p->who, sizeof(p->who), "virtio-console");
		ret = chardev_open(&p->cd, ctx->loop, &cfg->ports[i].backend, &cbs, p, p->who, why,
				   sizeof(why));
		c->nports = i + 1;
		if (ret) {
			if (c->multiport)
				snprintf(err, errlen, "port %s: %s", p->name, why);
			else
				snprintf(err, errlen, "%s", why);
			return ret;
		}
	}
	return 0;
}

static int con_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		      char *err, size_t errlen)
{
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
	c->multiport = cfg_multiport(cfg);
	ret = open_ports(c, ctx, cfg, err, errlen);
	if (ret) {
		close_ports(c);
		free(c);
		return ret;
	}
	if (c->ports[0].console && chardev_winsize(c->ports[0].cd, &cols, &rows)) {
		/* Little-endian, as every device's config space (virtio.h). */
		c->config.cols = htole16(cols);
		c->config.rows = htole16(rows);
		features |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
	}
	if (c->multiport) {
		/* 5.3.4: the driver makes this many ports' queues. */
		c->config.max_nr_ports = htole32((uint32_t)c->nports);
		features |= 1ULL << VIRTIO_CONSOLE_F_MULTIPORT;
	}
	struct virtio_dev_params p = {
		.ops = &con_ops,
		.nqueues = c->multiport ? 2 + 2 * c->nports : 2,
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
		close_ports(c);
		free(c);
		return ret;
	}
	/* A receiveq waits on the host side, not only on the guest: a kick
	 * runs it once and it re-arms notifications itself; the control
	 * receiveq likewise waits for messages to send.  The transmitqs are
	 * paced by the transport, stopping while the sink is full. */
	for (int i = 0; i < c->nports; i++)
		c->vd.queues[vcon_port_rxq(i)].device_paced = true;
	if (c->multiport)
		c->vd.queues[VCON_CTRL_RXQ].device_paced = true;
	if (c->multiport)
		log_info("virtio-console: %d port%s (MULTIPORT)", c->nports, c->nports == 1 ? "" : "s");
	*out = &c->vd.pci;
	return 0;
}

static void con_destroy(struct pci_dev *d)
{
	struct virtio_console *c = to_con(to_virtio_dev(d));

	virtio_vhost_free(c->vd.vhost);
	virtio_dev_fini(&c->vd);
	close_ports(c);
	free(c);
}

const struct devemu devemu_virtio_console = {
	.name = "virtio-console",
	.usage = "-s N,virtio-console,stdio|pty|socket:PATH|tty:PATH|file:PATH"
		 "[,packed=on|off][,transitional] | "
		 "-s N,virtio-console,PORT[,PORT...][,packed=on|off][,transitional], PORT: "
		 "[@]stdio:NAME|[@]pty:NAME|[@]socket:NAME=PATH[:server|:client]|"
		 "[@]tty:NAME=PATH|[@]file:NAME=PATH (up to 16; '@': a console) | "
		 "-s N,virtio-console,vhost=user:SOCKET[,reconnect=S][,transitional]",
	.cfg_size = sizeof(struct console_cfg),
	.option = con_option,
	.options_done = con_options_done,
	.clear_cfg = con_clear_cfg,
	.create = con_create,
	.destroy = con_destroy,
};
