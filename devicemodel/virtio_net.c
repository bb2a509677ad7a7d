/*
 * virtio_net.c - `-s N,virtio-net,tap=NAME[,mac=MAC|mac_seed=SEED][,offloads=csum|none][,vhost=kernel[:NODE]|auto|vhost][,packed=on|off][,transitional]`
 * or `-s N,virtio-net,vhost=user:SOCKET[,tap=NAME][,mac=MAC][,reconnect=S]`: the
 * network device (virtio 1.2, 5.1): options, features, config space (MAC,
 * link status), and pacing of the receive, transmit and control queues on
 * the event loop.  Frames are moved, and control commands parsed, by the
 * VBS-U back-end in vbs-u/net.c on a TAP; with a vhost route the frames are
 * moved by kernel vhost-net on the same TAP (handed over with
 * VHOST_NET_SET_BACKEND) or by a vhost-user back-end.  The control queue
 * always stays in vdm; with a vhost route vdm does not see the frames, so
 * a device started on one offers no receive filter (CTRL_RX).
 *
 * set-route moves a running NIC between VBS-U (its TAP), kernel vhost-net
 * (the same TAP) and a vhost-user back-end (its own port): while a vhost
 * back-end serves, the TAP is off vdm's loop.  A driver that negotiated
 * CTRL_RX on VBS-U keeps its control queue in vdm on every route: RX-mode
 * and MAC-table commands are recorded and acknowledged, a vhost back-end
 * filters nothing, and VBS-U applies what was recorded once it serves again.
 *
 * Receive is paced by the guest: the TAP is read only while the guest has
 * buffers posted; when it has none, the TAP watch is dropped until the guest
 * kicks the receive queue, so vdm neither spins nor drops frames.
 *
 * vdm-vhost-user serves the same NIC to other VMMs: the options, TAP
 * set-up, features and MAC it takes from here are at the end of this file
 * (virtio_net.h).
 */
#include "devemu.h"
#include "virtio.h"
#include "virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <openssl/evp.h>

#define NET_QUEUE_SIZE 256
#define RX_BUDGET 64           /* frames per turn of the event loop */
#define TX_BUDGET 64

enum { RXQ = 0, TXQ = 1, CTRLQ = 2, NET_NQUEUES = 3 };

/* What a vhost-user network back-end may offer that we pass on. */
#define NET_VHOST_USER_FEATURES                                                                    \
	(1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM |                             \
	 1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6 |                       \
	 1ULL << VIRTIO_NET_F_GUEST_ECN | 1ULL << VIRTIO_NET_F_GUEST_UFO |                         \
	 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 |                         \
	 1ULL << VIRTIO_NET_F_HOST_ECN | 1ULL << VIRTIO_NET_F_HOST_UFO |                           \
	 1ULL << VIRTIO_NET_F_MRG_RXBUF)
/* What vdm offers itself on a device started on a vhost route: config
 * space and the control queue's MAC command. */
#define NET_VDM_FEATURES                                                                           \
	(1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS | 1ULL << VIRTIO_NET_F_CTRL_VQ |   \
	 1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR)
/* What vdm serves on any route, whoever moves the frames: the control
 * queue as a whole (a receive filter is recorded and acknowledged; only
 * VBS-U applies it), for a device switched off VBS-U. */
#define NET_VDM_ROUTE_FEATURES (NET_VDM_FEATURES | 1ULL << VIRTIO_NET_F_CTRL_RX)
/* The TAP's offloads, which kernel vhost-net passes through in the header. */
#define NET_TAP_OFFLOAD_FEATURES                                                                   \
	(1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 |                              \
	 1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_HOST_ECN |                          \
	 1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |                       \
	 1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN)

/* Which of the TAP's offloads the NIC offers (offloads=): all it takes, the
 * checksums only (no TSO either way: what a vhost-user back-end such as
 * DPDK's without tso=1 can also serve, so the NIC can be switched there), none. */
enum net_offloads { NET_OFFLOADS_ALL = 0, NET_OFFLOADS_CSUM, NET_OFFLOADS_NONE };

struct net_cfg {
	char *tap;
	uint8_t mac[6];
	bool have_mac;
	enum net_offloads offloads;
	char *mac_seed; /* acrn-dm's mac_seed=: the MAC acrn-dm would derive */
	bool transitional;
	bool no_packed; /* packed=off: offer the split ring only */
	struct vhost_route route;
};

struct virtio_net {
	struct virtio_dev vd; /* first */
	struct vbsu_net be;
	struct virtio_net_config config;
	uint8_t mac[6];        /* the MAC at reset */
	struct evloop *loop;
	uint32_t tap_events;   /* what we watch the TAP for now */
	bool tap_watched;      /* the TAP is on vdm's loop (VBS-U serves) */
	bool configured;       /* vbsu_net_configure done since the last reset */
	bool tx_blocked;
};

static void net_clear_cfg(void *cfg)
{
	struct net_cfg *c = cfg;

	free(c->tap);
	free(c->mac_seed);
	vhost_route_free(&c->route);
}

/* NULL, or why s is not a station address a guest NIC can have. */
static const char *parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return "expected a unicast address like 52:54:00:12:34:56";
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* Frames from a group address (the broadcast address is one) or from
	 * nobody are dropped by switches, bridges and peers alike. */
	if (mac[0] & 1)
		return "a multicast or broadcast address cannot be a NIC's; "
		       "use a unicast one like 52:54:00:12:34:56";
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return "the all-zero address cannot be a NIC's; "
		       "use a unicast one like 52:54:00:12:34:56";
	return NULL;
}

static int net_option(void *cfg, const char *opt, char *err, size_t errlen)
{
	struct net_cfg *c = cfg;
	int r = virtio_common_option(opt, &c->transitional, &c->no_packed, &c->route, err, errlen);

	if (r)
		return r < 0 ? r : 0;
	if (!strncmp(opt, "tap=", 4) && opt[4]) {
		free(c->tap);
		c->tap = strdup(opt + 4);
		return c->tap ? 0 : -ENOMEM;
	}
	if (!strncmp(opt, "offloads=", 9)) {
		if (!strcmp(opt + 9, "csum"))
			c->offloads = NET_OFFLOADS_CSUM;
		else if (!strcmp(opt + 9, "none"))
			c->offloads = NET_OFFLOADS_NONE;
		else if (!strcmp(opt + 9, "all"))
			c->offloads = NET_OFFLOADS_ALL;
		else {
			snprintf(err, errlen, "%s: expected offloads=all, csum or none", opt);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(opt, "vhost")) /* acrn-dm's spelling of the kernel's vhost-net */
		return virtio_common_option("vhost=kernel", &c->transitional, &c->no_packed,
					    &c->route, err, errlen) < 0
			       ? -EINVAL
			       : 0;
	if (!strncmp(opt, "mac_seed=", 9) && opt[9]) {
		if (strlen(opt + 9) > 256) {
			snprintf(err, errlen, "mac_seed is longer than 256 bytes");
			return -EINVAL;
		}
		free(c->mac_seed);
		c->mac_seed = strdup(opt + 9);
		return c->mac_seed ? 0 : -ENOMEM;
	}
	if (!strncmp(opt, "mac=", 4)) {
		const char *why = parse_mac(opt + 4, c->mac);

		if (why) {
			snprintf(err, errlen, "mac '%s': %s", opt + 4, why);
			return -EINVAL;
		}
		c->have_mac = true;
		return 0;
	}
	return DEVEMU_UNKNOWN;
}

static int net_options_done(void *cfg, char *err, size_t errlen)
{
	struct net_cfg *c = cfg;

	if (vhost_route_check(&c->route, "virtio-net", "/dev/vhost-net", err, errlen))
		return -EINVAL;
	if (c->route.kind != VHOST_ROUTE_USER && !c->tap) {
		snprintf(err, errlen, "virtio-net needs tap=NAME (or vhost=user:SOCKET)");
		return -EINVAL;
	}
	return 0;
}

/*
 * mac_seed=SEED: the MAC acrn-dm gives the same device, so a guest moved
 * from acrn-dm keeps its address (DHCP leases, udev names): the first
 * three bytes of the MD5 of "SLOT-FUNC-SEED" after the 00:16:3e prefix.
 */
static int seeded_mac(const char *seed, int slot, int func, uint8_t mac[6])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char text[320];
	int n = snprintf(text, sizeof(text), "%d-%d-%s", slot, func, seed);

	if (n < 0 || (size_t)n >= sizeof(text) ||
	    !EVP_Digest(text, (size_t)n, digest, &dlen, EVP_md5(), NULL) || dlen < 3)
		return -EINVAL;
	mac[0] = 0x00;
	mac[1] = 0x16;
	mac[2] = 0x3e;
	memcpy(&mac[3], digest, 3);
	return 0;
}

/*
 * A MAC that stays the same for this VM and slot across runs: FNV-1a over
 * the VM UUID and the PCI address, locally administered, unicast.
 */
static void derive_mac(const uint8_t uuid[16], int slot, int func, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t place[2] = { (uint8_t)slot, (uint8_t)func };

	for (int i = 0; i < 16; i++)
		h = (h ^ uuid[i]) * 0x100000001b3ULL;
	for (int i = 0; i < 2; i++)
		h = (h ^ place[i]) * 0x100000001b3ULL;
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

static struct virtio_net *to_net(struct virtio_dev *vd)
{
	return (struct virtio_net *)vd;
}

static void tap_event(void *arg, int fd, uint32_t events);

static void set_tap_events(struct virtio_net *n, bool rx)
{
	uint32_t ev = (rx ? EPOLLIN : 0) | (n->tx_blocked ? EPOLLOUT : 0);

	if (n->vd.vhost || n->be.tap_fd < 0) /* the TAP is vhost's, or there is none */
		return;
	if (!n->tap_watched) {
		/* VBS-U serves again after a route switch. */
		if (!ev || evloop_add_fd(n->loop, n->be.tap_fd, ev, tap_event, n))
			return;
		n->tap_watched = true;
		n->tap_events = ev;
		return;
	}
	if (ev != n->tap_events && evloop_mod_fd(n->loop, n->be.tap_fd, ev) == 0)
		n->tap_events = ev;
}

/* VBS-U lets go of the TAP (a reset, or a route switch to vhost): nothing
 * is in flight in vbs-u/net.c, a frame read and not yet delivered waits in
 * it for the next time VBS-U serves. */
static void net_quiesce(struct virtio_dev *vd)
{
	struct virtio_net *n = to_net(vd);

	n->tx_blocked = false;
	if (n->tap_watched) {
		evloop_del_fd(n->loop, n->be.tap_fd);
		n->tap_watched = false;
		n->tap_events = 0;
	}
}

/* The TAP learns the negotiated header layout and offloads once per run. */
static bool ensure_configured(struct virtio_net *n)
{
	struct virtio_dev *vd = &n->vd;
	int ret;

	if (n->configured)
		return true;
	ret = vbsu_net_configure(&n->be, vnet_hdr_len(vd->guest_features),
				 virtio_has_feature(vd, VIRTIO_NET_F_MRG_RXBUF),
				 vnet_tap_offloads(vd->guest_features));
	if (ret) {
		log_err("virtio-net %s: cannot configure the TAP: %s", n->be.ifname, strerror(-ret));
		return false;
	}
	n->configured = true;
	return true;
}

static void rx_run(struct virtio_net *n)
{
	struct virtio_queue *q = &n->vd.queues[RXQ];

	if (!virtio_dev_running(&n->vd) || !q->enabled || !ensure_configured(n)) {
		set_tap_events(n, false);
		return;
	}
	for (;;) {
		bool starved, more;
		uint64_t too_big = n->be.rx_too_big;
		int r = vbsu_net_rx(&n->be, &q->vq, RX_BUDGET, &starved, &more);

		if (n->be.rx_too_big != too_big)
			virtio_guest_error(&n->vd, "virtio-net %s: frame larger than the guest's "
				"receive buffers dropped (%llu so far)", n->be.ifname,
				(unsigned long long)n->be.rx_too_big);
		if (r > 0)
			virtio_queue_done(q);
		if (r < 0) {
			set_tap_events(n, false);
			virtio_queue_failed(q, r);
			return;
		}
		if (starved) {
			/* No buffer left: wait for the guest to post. */
			if (virtio_queue_rearm(q))
				continue;
			set_tap_events(n, false);
			return;
		}
		/* TAP empty, or budget spent: epoll is level-triggered. */
		set_tap_events(n, true);
		return;
	}
}

static void tx_run(struct virtio_net *n)
{
	struct virtio_queue *q = &n->vd.queues[TXQ];
	int r;

	if (!virtio_dev_running(&n->vd) || !q->enabled || !ensure_configured(n))
		return;
	uint64_t errors = n->be.tx_errors;

	r = vbsu_net_tx(&n->be, &q->vq, TX_BUDGET, &n->tx_blocked);
	q->host_blocked = n->tx_blocked;
	if (n->be.tx_errors != errors)
		virtio_guest_error(&n->vd, "virtio-net %s: the TAP refused a transmitted frame (%s); "
			"dropped (%llu so far)", n->be.ifname, strerror(n->be.tx_last_errno),
			(unsigned long long)n->be.tx_errors);
	if (r > 0)
		virtio_queue_done(q);
	if (r < 0)
		virtio_queue_failed(q, r);
	set_tap_events(n, n->tap_events & EPOLLIN);
}

/* ---- control queue (commands are parsed by vbs-u/net.c) ---- */

static void ctrl_run(struct virtio_net *n)
{
	struct virtio_queue *q = &n->vd.queues[CTRLQ];

	vbsu_net_ctrl_process(&n->be, &q->vq, n->vd.guest_features);
	/* VIRTIO_NET_CTRL_MAC_ADDR_SET changes what the config space shows. */
	memcpy(n->config.mac, n->be.mac, 6);
	/* Commands acknowledged before a broken one still get their interrupt
	 * (vq_endchains stays quiet when nothing was used). */
	virtio_queue_done(q);
}

static int net_notify(struct virtio_dev *vd, struct virtio_queue *q)
{
	struct virtio_net *n = to_net(vd);

	if (q->index == RXQ)
		rx_run(n); /* buffers posted: deliver what waits, watch the TAP */
	else if (q->index == TXQ)
		tx_run(n);
	else
		ctrl_run(n);
	return 0; /* errors are the run functions' (virtio_queue_failed) */
}

static void tap_event(void *arg, int fd, uint32_t events)
{
	struct virtio_net *n = arg;

	(void)fd;
	if (events & EPOLLOUT) {
		/* The TAP has room again: the transport serves the queue in
		 * budgets and re-arms its notifications. */
		n->tx_blocked = false;
		n->vd.queues[TXQ].host_blocked = false;
		set_tap_events(n, n->tap_events & EPOLLIN);
		virtio_queue_serve(&n->vd.queues[TXQ]);
	}
	if (events & (EPOLLIN | EPOLLERR))
		rx_run(n);
}

static void net_reset(struct virtio_dev *vd)
{
	struct virtio_net *n = to_net(vd);

	n->configured = false;
	n->tx_blocked = false;
	set_tap_events(n, false);
	vbsu_net_reset(&n->be);
	memcpy(n->be.mac, n->mac, 6);
	memcpy(n->config.mac, n->mac, 6);
}

/* Kernel vhost-net: the TAP takes the negotiated header, then serves both
 * rings. */
static int net_vhost_start(struct virtio_dev *vd, struct vhost_dev *dev)
{
	struct virtio_net *n = to_net(vd);
	int ret;

	if (!ensure_configured(n))
		return -EIO;
	ret = vhost_dev_net_set_backend(dev, RXQ, n->be.tap_fd);
	if (!ret)
		ret = vhost_dev_net_set_backend(dev, TXQ, n->be.tap_fd);
	return ret;
}

static void net_vhost_stop(struct virtio_dev *vd, struct vhost_dev *dev)
{
	vhost_dev_net_set_backend(dev, RXQ, -1);
	vhost_dev_net_set_backend(dev, TXQ, -1);
}

static const struct virtio_vhost_params net_vhost_kernel = {
	.kernel_node = "/dev/vhost-net",
	.nrings = 2, /* receiveq and transmitq; the control queue stays in vdm */
	.vdm_features = NET_VDM_ROUTE_FEATURES | NET_TAP_OFFLOAD_FEATURES,
	.completes_before_stop = true, /* VHOST_NET_SET_BACKEND -1 flushes first */
	.start = net_vhost_start,
	.stop = net_vhost_stop,
};

static const struct virtio_vhost_params net_vhost_user = {
	.nrings = 2,
	.vdm_features = NET_VDM_ROUTE_FEATURES,
	.completes_before_stop = true,
};

static uint64_t net_features(const struct virtio_net *n, enum net_offloads which);
static uint64_t tap_features(unsigned tap, enum net_offloads which);
static const char *net_feature_name(unsigned bit);

/* set-route to VBS-U: the frames go to the TAP, if the NIC has one, and
 * the TAP must take the offloads the driver negotiated (on a NIC started
 * on vhost-user it was offered only those, but the TAP may have changed). */
static int net_vbsu_prepare(struct virtio_dev *vd, char *err, size_t errlen)
{
	struct virtio_net *n = to_net(vd);
	uint64_t missing;
	size_t len;

	if (n->be.tap_fd < 0) {
		snprintf(err, errlen, "virtio-net at %d:%d has no TAP for VBS-U to serve it with "
				      "(started with vhost=user: and no tap=)", vd->ctx.slot, vd->ctx.func);
		return -EOPNOTSUPP;
	}
	missing = vd->guest_features & ((1ULL << 24) - 1) & ~net_features(n, NET_OFFLOADS_ALL);
	if (!missing)
		return 0;
	len = (size_t)snprintf(err, errlen, "the TAP %s cannot serve features the device "
				   "negotiated:", n->be.ifname);
	for (unsigned b = 0; b < 24 && len < errlen; b++)
		if (missing >> b & 1)
			len += net_feature_name(b)
				       ? (size_t)snprintf(err + len, errlen - len, " %s",
							  net_feature_name(b))
				       : (size_t)snprintf(err + len, errlen - len, " bit %u", b);
	return -EOPNOTSUPP;
}

/* set-route to a vhost back-end: kernel vhost-net moves the frames of the
 * NIC's TAP; a vhost-user back-end has a port of its own. */
static const struct virtio_vhost_params *net_route_params(struct virtio_dev *vd,
							   enum vhost_route_kind kind, char *err,
							   size_t errlen)
{
	if (kind == VHOST_ROUTE_USER)
		return &net_vhost_user;
	if (to_net(vd)->be.tap_fd < 0) {
		snprintf(err, errlen, "virtio-net at %d:%d has no TAP for kernel vhost-net "
				      "(started with vhost=user: and no tap=)", vd->ctx.slot, vd->ctx.func);
		return NULL;
	}
	return &net_vhost_kernel;
}

static const char *net_feature_name(unsigned bit)
{
	static const char *const names[] = {
		[VIRTIO_NET_F_CSUM] = "CSUM", [VIRTIO_NET_F_GUEST_CSUM] = "GUEST_CSUM",
		[VIRTIO_NET_F_MTU] = "MTU", [VIRTIO_NET_F_MAC] = "MAC",
		[VIRTIO_NET_F_GUEST_TSO4] = "GUEST_TSO4", [VIRTIO_NET_F_GUEST_TSO6] = "GUEST_TSO6",
		[VIRTIO_NET_F_GUEST_ECN] = "GUEST_ECN", [VIRTIO_NET_F_GUEST_UFO] = "GUEST_UFO",
		[VIRTIO_NET_F_HOST_TSO4] = "HOST_TSO4", [VIRTIO_NET_F_HOST_TSO6] = "HOST_TSO6",
		[VIRTIO_NET_F_HOST_ECN] = "HOST_ECN", [VIRTIO_NET_F_HOST_UFO] = "HOST_UFO",
		[VIRTIO_NET_F_MRG_RXBUF] = "MRG_RXBUF", [VIRTIO_NET_F_STATUS] = "STATUS",
		[VIRTIO_NET_F_CTRL_VQ] = "CTRL_VQ", [VIRTIO_NET_F_CTRL_RX] = "CTRL_RX",
		[VIRTIO_NET_F_CTRL_VLAN] = "CTRL_VLAN", [VIRTIO_NET_F_MQ] = "MQ",
		[VIRTIO_NET_F_CTRL_MAC_ADDR] = "CTRL_MAC_ADDR",
		[VIRTIO_NET_F_CTRL_GUEST_OFFLOADS] = "CTRL_GUEST_OFFLOADS",
		[VIRTIO_NET_F_GSO] = "GSO", [VIRTIO_NET_F_CTRL_RX_EXTRA] = "CTRL_RX_EXTRA",
		[VIRTIO_NET_F_GUEST_ANNOUNCE] = "GUEST_ANNOUNCE",
	};

	return bit < sizeof(names) / sizeof(names[0]) ? names[bit] : NULL;
}

static const struct virtio_ops net_ops = {
	.name = "virtio-net",
	.device_type = VIRTIO_ID_NET,
	.pci_class = 0x020000, /* Ethernet controller */
	.queue_notify = net_notify,
	.quiesce = net_quiesce,
	.reset = net_reset,
	.vbsu_prepare = net_vbsu_prepare,
	.feature_name = net_feature_name,
	.route_params = net_route_params,
};

static uint64_t net_features(const struct virtio_net *n, enum net_offloads which)
{
	return tap_features(n->be.tap_offloads, which);
}

/* What a NIC on a TAP that took the offloads tap offers (offloads=which). */
static uint64_t tap_features(unsigned tap, enum net_offloads which)
{
	uint64_t f = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
		     1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_CTRL_VQ |
		     1ULL << VIRTIO_NET_F_CTRL_RX | 1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR;

	if (which == NET_OFFLOADS_NONE)
		return f;
	if (which == NET_OFFLOADS_CSUM)
		tap &= TUN_F_CSUM;

	/* Guest -> TAP: the TAP takes checksum and TSO requests in the header. */
	if (tap & TUN_F_CSUM)
		f |= 1ULL << VIRTIO_NET_F_CSUM;
	if (tap & TUN_F_CSUM && which == NET_OFFLOADS_ALL)
		f |= 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 |
		     1ULL << VIRTIO_NET_F_HOST_ECN;
	/* TAP -> guest: only what TUNSETOFFLOAD accepted. */
	if (tap & TUN_F_CSUM)
		f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
	if (tap & TUN_F_TSO4)
		f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
	if (tap & TUN_F_TSO6)
		f |= 1ULL << VIRTIO_NET_F_GUEST_TSO6;
	if (tap & TUN_F_TSO_ECN)
		f |= 1ULL << VIRTIO_NET_F_GUEST_ECN;
	return f;
}

static int net_create(const struct devemu_ctx *ctx, const void *cfgp, struct pci_dev **out,
		      char *err, size_t errlen)
{
	const struct net_cfg *cfg = cfgp;
	struct virtio_net *n = calloc(1, sizeof(*n));
	bool user = cfg->route.kind == VHOST_ROUTE_USER;
	const struct virtio_vhost_params *vp = user ? &net_vhost_user : &net_vhost_kernel;
	struct virtio_vhost *vv = NULL;
	uint64_t features;
	int ret;

	if (!n)
		return -ENOMEM;
	n->be.tap_fd = -1;
	if (cfg->tap) { /* (with vhost=user:, for VBS-U after a switch) */
		ret = vbsu_net_open(&n->be, cfg->tap, err, errlen);
		if (ret) {
			free(n);
			return ret;
		}
	}
	ret = virtio_vhost_open(&vv, &cfg->route, "virtio-net", vp, err, errlen);
	if (ret < 0) {
		vbsu_net_close(&n->be);
		free(n);
		return ret;
	}
	if (user && cfg->tap) /* what both routes serve */
		features = (virtio_vhost_features(vv) & NET_VHOST_USER_FEATURES &
			    net_features(n, cfg->offloads)) | NET_VDM_FEATURES;
	else if (user)
		features = (virtio_vhost_features(vv) & NET_VHOST_USER_FEATURES) | NET_VDM_FEATURES;
	else if (vv) /* kernel vhost-net filters nothing: no CTRL_RX */
		features = net_features(n, cfg->offloads) & ~(1ULL << VIRTIO_NET_F_CTRL_RX);
	else
		features = net_features(n, cfg->offloads);
	if (cfg->have_mac)
		memcpy(n->mac, cfg->mac, 6);
	else if (!cfg->mac_seed || seeded_mac(cfg->mac_seed, ctx->slot, ctx->func, n->mac))
		derive_mac(ctx->uuid, ctx->slot, ctx->func, n->mac);
	memcpy(n->be.mac, n->mac, 6);
	memcpy(n->config.mac, n->mac, 6);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP); /* little-endian (virtio.h) */
	n->loop = ctx->loop;
	struct virtio_dev_params p = {
		.ops = &net_ops,
		.nqueues = NET_NQUEUES,
		.queue_max = NET_QUEUE_SIZE,
		.features = features,
		.config = &n->config,
		.config_size = offsetof(struct virtio_net_config, mtu),
		.transitional = cfg->transitional,
		.packed = !cfg->no_packed,
	};
	ret = virtio_dev_init_routed(&n->vd, ctx, &p, vv, err, errlen);
	if (ret)
		goto fail;
	n->vd.queues[RXQ].device_paced = true;
	/* (kernel vhost-net's node is the default of a switch to it, with a TAP) */
	n->vd.vhost_params = n->be.tap_fd >= 0 ? &net_vhost_kernel : vp;
	if (!vv && (ret = evloop_add_fd(n->loop, n->be.tap_fd, 0, tap_event, n)) != 0) {
		snprintf(err, errlen, "cannot watch the TAP: %s", strerror(-ret));
		virtio_dev_fini(&n->vd);
		goto fail;
	}
	n->tap_watched = !vv;
	log_info("virtio-net: %s%s, mac %02x:%02x:%02x:%02x:%02x:%02x%s", user ? "vhost-user " : "tap ",
		 user ? cfg->route.path : cfg->tap, n->mac[0], n->mac[1], n->mac[2], n->mac[3],
		 n->mac[4], n->mac[5],
		 n->vd.host_features >> VIRTIO_NET_F_HOST_TSO4 & 1 ? ", checksum and TSO offloads"
		 : n->vd.host_features >> VIRTIO_NET_F_CSUM & 1	  ? ", checksum offloads"
								   : "");
	*out = &n->vd.pci;
	return 0;
fail:
	virtio_vhost_free(vv);
	vbsu_net_close(&n->be);
	free(n);
	return ret;
}

static void net_destroy(struct pci_dev *d)
{
	struct virtio_net *n = to_net(to_virtio_dev(d));

	virtio_vhost_free(n->vd.vhost);
	if (n->tap_watched)
		evloop_del_fd(n->loop, n->be.tap_fd);
	virtio_dev_fini(&n->vd);
	vbsu_net_close(&n->be);
	free(n);
}

const struct devemu devemu_virtio_net = {
	.name = "virtio-net",
	.usage = "-s N,virtio-net,tap=NAME[,mac=MAC|mac_seed=SEED][,offloads=csum|none]"
		 "[,vhost=kernel[:NODE]|vhost=auto|vhost][,packed=on|off][,transitional]"
		 " | -s N,virtio-net,vhost=user:SOCKET[,tap=NAME][,mac=MAC][,reconnect=S]",
	.cfg_size = sizeof(struct net_cfg),
	.option = net_option,
	.options_done = net_options_done,
	.clear_cfg = net_clear_cfg,
	.create = net_create,
	.destroy = net_destroy,
};

/* ---- for vdm-vhost-user (virtio_net.h) ---- */

int vnet_check_standalone(const void *cfgp, char *err, size_t errlen)
{
	const struct net_cfg *cfg = cfgp;
	const char *what = cfg->route.given || cfg->route.reconnect_s
				   ? "vhost= and reconnect= choose vdm's route"
			   : cfg->transitional ? "transitional is the front-end's PCI function"
			   : cfg->mac_seed     ? "mac_seed= derives the MAC from vdm's slot; use mac="
			   : !cfg->tap	       ? "needs tap=NAME"
					       : NULL;

	if (!what)
		return 0;
	snprintf(err, errlen, "virtio-net: %s", what);
	return -EINVAL;
}

int vnet_open_tap(const void *cfgp, struct vbsu_net *be, char *err, size_t errlen)
{
	const struct net_cfg *cfg = cfgp;

	return vbsu_net_open(be, cfg->tap, err, errlen);
}

const char *vnet_tap_name(const void *cfgp)
{
	const struct net_cfg *cfg = cfgp;

	return cfg->tap;
}

uint64_t vnet_features(const void *cfgp, const struct vbsu_net *be)
{
	const struct net_cfg *cfg = cfgp;

	return tap_features(be->tap_offloads, cfg->offloads);
}

unsigned vnet_tap_offloads(uint64_t features)
{
	unsigned offloads = 0;

	/* Segments the TAP may hand over only with the checksum left to the
	 * guest (virtio 1.2, 5.1.3.1: GUEST_TSO* require GUEST_CSUM). */
	if (!(features >> VIRTIO_NET_F_GUEST_CSUM & 1))
		return 0;
	offloads |= TUN_F_CSUM;
	if (features >> VIRTIO_NET_F_GUEST_TSO4 & 1)
		offloads |= TUN_F_TSO4;
	if (features >> VIRTIO_NET_F_GUEST_TSO6 & 1)
		offloads |= TUN_F_TSO6;
	if (features >> VIRTIO_NET_F_GUEST_ECN & 1)
		offloads |= TUN_F_TSO_ECN;
	return offloads;
}

unsigned vnet_hdr_len(uint64_t features)
{
	/* virtio 1.2, 5.1.6: num_buffers is always there with VERSION_1. */
	return features >> VIRTIO_F_VERSION_1 & 1 || features >> VIRTIO_NET_F_MRG_RXBUF & 1
		       ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
		       : sizeof(struct virtio_net_hdr);
}

void vnet_standalone_mac(const void *cfgp, const char *seed, uint8_t mac[6])
{
	const struct net_cfg *cfg = cfgp;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (cfg->have_mac) {
		memcpy(mac, cfg->mac, 6);
		return;
	}
	/* FNV-1a of the seed (the TAP's name): the same NIC each run. */
	for (const char *p = seed; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}
