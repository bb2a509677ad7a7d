/*
 * vdm_vhost_user_net.c - vdm-vhost-user's virtio-net: the NIC vdm's own
 * VBS-U virtio-net would be (virtio_net.h: same options, TAP set-up,
 * features and config space), its frames moved by the same back-end
 * (vbs-u/net.c) on the TAP.  Ring 0 is the receiveq, ring 1 the transmitq,
 * ring 2 the control queue (one queue pair: vdm's NIC has no MQ).
 *
 * The control queue is served here too (receive filter, MAC table, MAC
 * address) for a front-end that hands it over, as User-Mode Linux's
 * virtio_uml does; QEMU and vdm keep the control queue to themselves and
 * start only rings 0 and 1, and then the filter stays open (accept all).
 *
 * The TAP is opened once and kept across front-ends.  It is read only
 * while a front-end serves the receiveq and its driver has buffers posted:
 * with no front-end, or no buffers, frames wait in the TAP's own queue
 * (the kernel drops what overflows it, counted in the TAP's statistics),
 * never read and dropped here.  A frame read and not yet delivered when
 * the driver changes the negotiated header or offloads is dropped and
 * counted ("frames dropped for a new layout" in the closing log line).
 * Transmit writes each frame to the TAP at once; a full TAP blocks the
 * transmitq until it is writable again.  Nothing is in flight between
 * turns, so a ring stopping or guest memory moving needs no draining.
 */
#include "vdm_vhost_user.h"
#include "virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/virtio_net.h>

#define RXQ 0
#define TXQ 1
#define CTRLQ 2

_Static_assert(offsetof(struct virtio_net_config, mtu) <= sizeof(((struct vvu_daemon *)0)->config),
	       "the NIC's config space fits the daemon's");

struct vvu_net {
	struct vbsu_net be;
	struct vvu_daemon *dm;
	uint8_t mac[6];             /* the MAC at a driver's start */
	uint64_t features;          /* what the front-end set */
	uint64_t configured;        /* the features the TAP was set up for */
	bool have_configured;
	bool tap_watched;           /* on the daemon's loop */
	bool want_rx, want_tx;      /* the TAP is watched for input / room */
	uint32_t tap_events;        /* what it is watched for now */
	uint64_t dropped_relayout;  /* pending frames dropped for a new layout */
	struct ratelimit rl;
};

static struct virtio_net_config *net_config(struct vvu_daemon *dm)
{
	return (struct virtio_net_config *)dm->config;
}

/* Watch the TAP for what the rings wait for (epoll is level-triggered). */
static void set_tap_events(struct vvu_net *v)
{
	uint32_t ev = (v->want_rx ? EPOLLIN : 0) | (v->want_tx ? EPOLLOUT : 0);

	if (ev != v->tap_events && evloop_mod_fd(v->dm->loop, v->be.tap_fd, ev) == 0)
		v->tap_events = ev;
}

static void tap_event(void *arg, int fd, uint32_t events)
{
	struct vvu_net *v = arg;
	struct vvu_ring *rx = &v->dm->rings[RXQ], *tx = &v->dm->rings[TXQ];

	(void)fd;
	if (events & EPOLLOUT) {
		/* Room again: the transmitq goes on where it stopped. */
		v->want_tx = false;
		if (tx->running) {
			tx->blocked = false;
			vvu_ring_serve(tx);
		}
	}
	if (events & (EPOLLIN | EPOLLERR)) {
		if (rx->running) {
			rx->blocked = false;
			vvu_ring_serve(rx);
		} else {
			/* The receiveq stopped since input was asked for:
			 * frames wait in the TAP for the next front-end. */
			v->want_rx = false;
		}
	}
	set_tap_events(v);
}

static int net_check(const void *cfg, char *err, size_t errlen)
{
	return vnet_check_standalone(cfg, err, errlen);
}

static int net_open(struct vvu_daemon *dm, const void *cfg, char *err, size_t errlen)
{
	struct vvu_net *v = calloc(1, sizeof(*v));
	struct virtio_net_config *c = net_config(dm);
	int ret;

	if (!v)
		return -ENOMEM;
	ret = vnet_open_tap(cfg, &v->be, err, errlen);
	if (ret) {
		free(v);
		return ret;
	}
	v->dm = dm;
	v->rl = (struct ratelimit)RATELIMIT_INIT;
	dm->dev = v;
	vnet_standalone_mac(cfg, vnet_tap_name(cfg), v->mac);
	memcpy(v->be.mac, v->mac, 6);
	memcpy(c->mac, v->mac, 6);
	c->status = htole16(VIRTIO_NET_S_LINK_UP);
	c->max_virtqueue_pairs = htole16(1);
	dm->config_len = offsetof(struct virtio_net_config, mtu);
	dm->nrings = 3;
	/* Its receiveq waits for the host side: no hold-off there. */
	dm->rings[RXQ].device_paced = true;
	dm->features = vvu_ring_features() | vnet_features(cfg, &v->be);
	/* Watched for nothing until a ring waits for it. */
	ret = evloop_add_fd(dm->loop, v->be.tap_fd, 0, tap_event, v);
	if (ret) {
		snprintf(err, errlen, "cannot watch the TAP: %s", strerror(-ret));
		return ret;
	}
	v->tap_watched = true;
	log_info("virtio-net: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x%s", v->be.ifname, v->mac[0],
		 v->mac[1], v->mac[2], v->mac[3], v->mac[4], v->mac[5],
		 dm->features >> VIRTIO_NET_F_HOST_TSO4 & 1 ? ", checksum and TSO offloads"
		 : dm->features >> VIRTIO_NET_F_CSUM & 1    ? ", checksum offloads"
							    : "");
	return 0;
}

static int net_ring_started(struct vvu_daemon *dm, struct vvu_ring *r, uint64_t features,
			    char *err, size_t errlen)
{
	struct vvu_net *v = dm->dev;
	bool others = false, pending = v->be.frame_pending;
	int ret;

	for (unsigned i = 0; i < dm->nrings; i++)
		others |= i != r->idx && dm->rings[i].running;
	if (!others) {
		/* A driver starts (a new front-end, or the same after a
		 * reset): its receive filter accepts everything (virtio 1.2,
		 * 5.1.6.5.1) and the MAC is the configured one again.  A frame
		 * read for the last driver is kept if the layout stays. */
		vbsu_net_reset(&v->be);
		v->be.frame_pending = pending;
		memcpy(v->be.mac, v->mac, 6);
		memcpy(net_config(dm)->mac, v->mac, 6);
	}
	v->features = features;
	if (v->have_configured && v->configured == features)
		return 0;
	if (v->be.frame_pending) {
		/* Read with the old header size and offloads: the new driver
		 * could not parse it. */
		v->be.frame_pending = false;
		v->dropped_relayout++;
	}
	ret = vbsu_net_configure(&v->be, vnet_hdr_len(features),
				 features >> VIRTIO_NET_F_MRG_RXBUF & 1,
				 vnet_tap_offloads(features));
	if (ret) {
		snprintf(err, errlen, "cannot configure the TAP %s: %s", v->be.ifname,
			 strerror(-ret));
		return ret;
	}
	v->configured = features;
	v->have_configured = true;
	return 0;
}

static int net_rx(struct vvu_net *v, struct vvu_ring *r, int budget)
{
	uint64_t too_big = v->be.rx_too_big;
	bool starved, more;
	int n = vbsu_net_rx(&v->be, &r->vq, budget, &starved, &more);

	if (v->be.rx_too_big != too_big)
		log_ratelimited(&v->rl, LOG_WARN, "virtio-net %s: a frame larger than the driver's "
				"receive buffers dropped (%llu so far)", v->be.ifname,
				(unsigned long long)v->be.rx_too_big);
	if (n < 0 || starved) {
		/* Broken, or no buffer left: read nothing until the driver
		 * posts (its kick serves the ring again). */
		v->want_rx = false;
		r->blocked = false;
	} else {
		/* The TAP is empty (or the budget ran out): its input brings
		 * the ring back, not a kick. */
		v->want_rx = true;
		r->blocked = !more;
	}
	return n;
}

static int net_tx(struct vvu_net *v, struct vvu_ring *r, int budget)
{
	uint64_t errors = v->be.tx_errors;
	bool full;
	int n = vbsu_net_tx(&v->be, &r->vq, budget, &full);

	if (v->be.tx_errors != errors)
		log_ratelimited(&v->rl, LOG_WARN, "virtio-net %s: the TAP refused a transmitted "
				"frame (%s); dropped (%llu so far)", v->be.ifname,
				strerror(v->be.tx_last_errno), (unsigned long long)v->be.tx_errors);
	v->want_tx = n >= 0 && full;
	r->blocked = v->want_tx;
	return n;
}

static int net_process(struct vvu_daemon *dm, struct vvu_ring *r, int budget)
{
	struct vvu_net *v = dm->dev;
	int n;

	if (r->idx == RXQ)
		n = net_rx(v, r, budget);
	else if (r->idx == TXQ)
		n = net_tx(v, r, budget);
	else {
		n = vbsu_net_ctrl_process(&v->be, &r->vq, v->features);
		/* VIRTIO_NET_CTRL_MAC_ADDR_SET changes what GET_CONFIG shows. */
		memcpy(net_config(dm)->mac, v->be.mac, 6);
	}
	set_tap_events(v);
	return n;
}

static void net_close(struct vvu_daemon *dm)
{
	struct vvu_net *v = dm->dev;

	if (!v)
		return;
	if (v->tap_watched)
		evloop_del_fd(dm->loop, v->be.tap_fd);
	log_info("virtio-net %s: %llu frames to the guest (%llu filtered out, %llu too big for its "
		 "buffers, %llu dropped for a new layout), %llu from it (%llu refused by the TAP)",
		 v->be.ifname, (unsigned long long)v->be.rx_frames,
		 (unsigned long long)v->be.rx_filtered, (unsigned long long)v->be.rx_too_big,
		 (unsigned long long)v->dropped_relayout, (unsigned long long)v->be.tx_frames,
		 (unsigned long long)v->be.tx_errors);
	vbsu_net_close(&v->be);
	free(v);
	dm->dev = NULL;
}

const struct vvu_emul vvu_emul_net = {
	.name = "virtio-net",
	.takes_options = true,
	.check = net_check,
	.open = net_open,
	.ring_started = net_ring_started,
	.process = net_process,
	.close = net_close,
};
