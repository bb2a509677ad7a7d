/*
 * net.c - the VBS-U virtio-net data path on a TAP interface: opening the
 * TAP with a virtio-net header, receive (TAP -> guest, with MRG_RXBUF and the
 * receive filter), transmit (guest -> TAP, zero-copy writev), and the
 * control queue's commands that set the receive filter and the MAC.
 *
 * The TAP speaks the virtio-net header itself (IFF_VNET_HDR), so checksum
 * and segmentation offloads pass through untouched in both directions; this
 * file only moves bytes and fills num_buffers.  Receive reads one frame at a
 * time into a buffer allocated once at open; a frame that finds too few
 * guest buffers is kept until the guest posts more, never dropped.
 */
#include "vbsu.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

/* Largest frame a TAP hands over with GSO (64 KiB of packet) plus header. */
#define FRAME_MAX (65536 + 256)
#define ETH_HLEN 14

int vbsu_net_open(struct vbsu_net *n, const char *ifname, char *err, size_t errlen)
{
	static const unsigned want[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};
	struct ifreq ifr;
	int hdr = sizeof(struct virtio_net_hdr_mrg_rxbuf);

	memset(n, 0, sizeof(*n));
	n->tap_fd = -1;
	if (strlen(ifname) >= sizeof(ifr.ifr_name) || !*ifname) {
		snprintf(err, errlen, "tap=%s: not a valid interface name", ifname);
		return -EINVAL;
	}
	/* TUNSETIFF would create a missing interface: a typo must not. */
	if (!if_nametoindex(ifname)) {
		snprintf(err, errlen,
			 "tap=%s: no such network interface (create it: ip tuntap add dev %s mode tap)",
			 ifname, ifname);
		return -ENODEV;
	}
	n->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0) {
		int e = errno;

		snprintf(err, errlen, "tap=%s: cannot open /dev/net/tun: %s", ifname, strerror(e));
		return -e;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EBUSY)
			snprintf(err, errlen, "tap=%s: busy (another process has it open)", ifname);
		else if (e == EINVAL)
			snprintf(err, errlen, "tap=%s: not a TAP interface", ifname);
		else
			snprintf(err, errlen, "tap=%s: cannot attach: %s", ifname, strerror(e));
		vbsu_net_close(n);
		return -e;
	}
	if (ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;

		snprintf(err, errlen, "tap=%s: no virtio-net header support: %s", ifname,
			 strerror(e));
		vbsu_net_close(n);
		return -e;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (ioctl(n->tap_fd, TUNSETOFFLOAD, want[i]) == 0) {
			n->tap_offloads = want[i];
			break;
		}
	}
	ioctl(n->tap_fd, TUNSETOFFLOAD, 0); /* nothing until the driver accepts it */
	if (vbsu_net_attach(n, n->tap_fd, ifname)) {
		vbsu_net_close(n);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int vbsu_net_attach(struct vbsu_net *n, int fd, const char *name)
{
	n->tap_fd = fd;
	n->frame = malloc(FRAME_MAX);
	if (!n->frame)
		return -ENOMEM;
	snprintf(n->ifname, sizeof(n->ifname), "%s", name);
	n->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	vbsu_net_reset(n);
	return 0;
}

int vbsu_net_configure(struct vbsu_net *n, unsigned hdr_len, bool mrg_rxbuf, unsigned offloads)
{
	int hdr = (int)hdr_len;

	if (ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
	    ioctl(n->tap_fd, TUNSETOFFLOAD, offloads & n->tap_offloads) < 0)
		return -errno;
	n->hdr_len = hdr_len;
	n->mrg_rxbuf = mrg_rxbuf;
	return 0;
}

void vbsu_net_reset(struct vbsu_net *n)
{
	/* virtio 1.2, 5.1.6.5.1: the filter starts out accepting everything. */
	n->promisc = true;
	n->allmulti = false;
	n->n_uni = n->n_multi = 0;
	n->uni_overflow = n->multi_overflow = false;
	n->frame_pending = false;
}

static bool in_table(const uint8_t (*table)[6], int count, const uint8_t *mac)
{
	for (int i = 0; i < count; i++)
		if (!memcmp(table[i], mac, 6))
			return true;
	return false;
}

static bool filter_accepts(const struct vbsu_net *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (n->promisc || !memcmp(dst, bcast, 6))
		return true;
	if (dst[0] & 1)
		return n->allmulti || n->multi_overflow || in_table(n->multi, n->n_multi, dst);
	return !memcmp(dst, n->mac, 6) || n->uni_overflow || in_table(n->uni, n->n_uni, dst);
}

/* Copy len bytes from src into the buffers described by iov, in order. */
static void scatter(const struct iovec *iov, int niov, const uint8_t *src, size_t len)
{
	for (int i = 0; i < niov && len; i++) {
		size_t chunk = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (chunk == 0)
			continue; /* an empty buffer has no host address (NULL) */
		memcpy(iov[i].iov_base, src, chunk);
		src += chunk;
		len -= chunk;
	}
}

/* Write len bytes at byte offset off of the buffers described by iov. */
static void write_at(const struct iovec *iov, int niov, size_t off, const uint8_t *src,
		     size_t len)
{
	for (int i = 0; i < niov && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - off < len ? iov[i].iov_len - off : len;

		memcpy((uint8_t *)iov[i].iov_base + off, src, chunk);
		src += chunk;
		len -= chunk;
		off = 0;
	}
}

/*
 * Put the pending frame into receive chains.  Returns 1 when delivered (or
 * dropped because it can never fit), 0 when the guest must post more
 * buffers first (the chains taken are given back), or a negative errno.
 */
static int deliver(struct vbsu_net *n, struct vqueue *rxq)
{
	struct iovec iov[VBSU_NET_MAX_IOV], first[VBSU_NET_MAX_IOV];
	int nfirst = 0;
	uint16_t heads[VBSU_NET_MAX_IOV];
	uint32_t lens[VBSU_NET_MAX_IOV];
	struct vq_chain chain;
	size_t left = n->frame_len;
	const uint8_t *src = n->frame;
	int nchains = 0, ret;
	int max_chains = n->mrg_rxbuf ? VBSU_NET_MAX_IOV : 1;

	/* First pass: take chains until the frame fits, copying as we go
	 * (a frame that ends up not fitting is re-delivered from the start,
	 * so the partial copy does no harm). */
	while (left && nchains < max_chains) {
		ret = vq_getchain(rxq, &chain, iov, VBSU_NET_MAX_IOV);
		if (ret < 0)
			return ret;
		if (ret == 0)
			break;
		if (chain.nread) {
			vq_mark_broken(rxq, "receive buffer the device may not write");
			return -EPROTO;
		}
		/* The header must fit in the first buffer chain. */
		if (nchains == 0 && chain.write_len < n->hdr_len) {
			vq_mark_broken(rxq, "receive buffer smaller than the virtio-net header");
			return -EPROTO;
		}
		size_t take = chain.write_len < left ? chain.write_len : left;

		scatter(iov, ret, src, take);
		if (nchains == 0) {
			memcpy(first, iov, sizeof(iov[0]) * (size_t)ret);
			nfirst = ret;
		}
		heads[nchains] = chain.head;
		lens[nchains] = (uint32_t)take;
		nchains++;
		src += take;
		left -= take;
	}
	if (left && nchains < max_chains) {
		/* Out of buffers: give them back and wait for the guest. */
		for (int i = 0; i < nchains; i++)
			vq_retchain(rxq);
		return 0;
	}
	if (left) {
		/* Bigger than the buffers the driver chose for these features:
		 * nothing posted later will change that for this frame. */
		n->rx_too_big++;
		for (int i = 0; i < nchains; i++)
			lens[i] = 0;
		/* A zero-length used entry is harmless to drivers; the chains
		 * go back so the ring keeps moving. */
		vq_relchains(rxq, heads, lens, nchains);
		return 1;
	}
	if (n->hdr_len == sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
		/* num_buffers, now known, goes into the header copy in the
		 * first chain (which holds the whole header). */
		uint8_t nb[2] = { (uint8_t)nchains, (uint8_t)(nchains >> 8) };

		write_at(first, nfirst, offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers),
			 nb, sizeof(nb));
	}
	vq_relchains(rxq, heads, lens, nchains);
	n->rx_frames++;
	return 1;
}

int vbsu_net_rx(struct vbsu_net *n, struct vqueue *rxq, int budget, bool *starved, bool *more)
{
	int delivered = 0;

	*starved = *more = false;
	while (budget-- > 0) {
		if (!n->frame_pending) {
			ssize_t len = read(n->tap_fd, n->frame, FRAME_MAX);

			if (len < 0 && errno == EINTR)
				continue;
			if (len < 0)
				return delivered; /* EAGAIN: the TAP is empty */
			if ((size_t)len < n->hdr_len + ETH_HLEN ||
			    !filter_accepts(n, n->frame + n->hdr_len)) {
				n->rx_filtered++;
				continue;
			}
			n->frame_len = (size_t)len;
			n->frame_pending = true;
		}
		int r = deliver(n, rxq);

		if (r < 0)
			return r;
		if (r == 0) {
			*starved = true;
			return delivered;
		}
		n->frame_pending = false;
		delivered++;
	}
	*more = true;
	return delivered;
}

int vbsu_net_tx(struct vbsu_net *n, struct vqueue *txq, int budget, bool *blocked)
{
	struct iovec iov[VBSU_NET_MAX_IOV];
	struct vq_chain chain;
	int sent = 0, ret = 0;

	*blocked = false;
	while (sent < budget && (ret = vq_getchain(txq, &chain, iov, VBSU_NET_MAX_IOV)) > 0) {
		ssize_t w;

		if (chain.nwrite) {
			vq_mark_broken(txq, "transmit buffer the device would write");
			return -EPROTO;
		}
		if (chain.read_len < n->hdr_len + ETH_HLEN) {
			vq_mark_broken(txq, "transmit chain shorter than header and Ethernet header");
			return -EPROTO;
		}
		do
			w = writev(n->tap_fd, iov, chain.nread);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno == EAGAIN) {
			vq_retchain(txq);
			*blocked = true;
			return sent;
		}
		/* A header the kernel refuses (bad GSO fields) or an interface
		 * that is down drops the frame, as a NIC would. */
		if (w < 0) {
			n->tx_errors++;
			n->tx_last_errno = errno;
		} else
			n->tx_frames++;
		vq_relchain(txq, chain.head, 0);
		sent++;
	}
	return ret < 0 ? ret : sent;
}

/* ---- control queue (virtio 1.2, 5.1.6.5) ---- */

static uint8_t ctrl_rx(struct vbsu_net *n, uint8_t cmd, const uint8_t *data, size_t len)
{
	if (len != 1 || data[0] > 1)
		return VIRTIO_NET_ERR;
	if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
		n->promisc = data[0];
	else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
		n->allmulti = data[0];
	else
		return VIRTIO_NET_ERR; /* ALLUNI & co need CTRL_RX_EXTRA, not offered */
	return VIRTIO_NET_OK;
}

/* One table of VIRTIO_NET_CTRL_MAC_TABLE_SET: le32 count, count MACs. */
static const uint8_t *mac_table(const uint8_t *p, const uint8_t *end, uint8_t (*table)[6],
				int *count, bool *overflow)
{
	uint32_t entries;

	if (end - p < 4)
		return NULL;
	memcpy(&entries, p, 4);
	p += 4;
	if (entries > (uint32_t)(end - p) / 6)
		return NULL;
	/* Too many to hold: accept that whole class, as a NIC's filter would. */
	*overflow = entries > VBSU_NET_MAC_TABLE;
	*count = *overflow ? 0 : (int)entries;
	for (int i = 0; i < *count; i++)
		memcpy(table[i], p + 6 * i, 6);
	return p + 6 * (size_t)entries;
}

static uint8_t ctrl_mac(struct vbsu_net *n, uint8_t cmd, const uint8_t *data, size_t len,
			uint64_t features)
{
	const uint8_t *end = data + len, *p;

	if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
		/* Parse into copies: a malformed command leaves the filter as it was. */
		uint8_t uni[VBSU_NET_MAC_TABLE][6], multi[VBSU_NET_MAC_TABLE][6];
		int n_uni, n_multi;
		bool uni_over, multi_over;

		p = mac_table(data, end, uni, &n_uni, &uni_over);
		if (p)
			p = mac_table(p, end, multi, &n_multi, &multi_over);
		if (!p || p != end)
			return VIRTIO_NET_ERR;
		memcpy(n->uni, uni, sizeof(uni[0]) * (size_t)n_uni);
		memcpy(n->multi, multi, sizeof(multi[0]) * (size_t)n_multi);
		n->n_uni = n_uni;
		n->n_multi = n_multi;
		n->uni_overflow = uni_over;
		n->multi_overflow = multi_over;
		return VIRTIO_NET_OK;
	}
	if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET &&
	    (features >> VIRTIO_NET_F_CTRL_MAC_ADDR & 1) && len == 6 && !(data[0] & 1)) {
		memcpy(n->mac, data, 6);
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

uint8_t vbsu_net_ctrl(struct vbsu_net *n, const uint8_t *cmd, size_t len, uint64_t features)
{
	if (len < 2)
		return VIRTIO_NET_ERR;
	if (cmd[0] == VIRTIO_NET_CTRL_RX && (features >> VIRTIO_NET_F_CTRL_RX & 1))
		return ctrl_rx(n, cmd[1], cmd + 2, len - 2);
	if (cmd[0] == VIRTIO_NET_CTRL_MAC)
		return ctrl_mac(n, cmd[1], cmd + 2, len - 2, features);
	return VIRTIO_NET_ERR;
}

int vbsu_net_ctrl_process(struct vbsu_net *n, struct vqueue *cq, uint64_t features)
{
	struct iovec iov[VBSU_NET_CTRL_MAX_IOV];
	struct vq_chain chain;
	uint8_t buf[VBSU_NET_CTRL_MAX];
	int ret, done = 0;

	while ((ret = vq_getchain(cq, &chain, iov, VBSU_NET_CTRL_MAX_IOV)) > 0) {
		uint8_t ack = VIRTIO_NET_ERR;
		size_t len = 0;

		if (chain.read_len < 2 || chain.write_len < 1) {
			vq_mark_broken(cq, "control command without header or ack byte");
			return -EPROTO;
		}
		for (int i = 0; i < chain.nread && len < sizeof(buf); i++) {
			size_t c = iov[i].iov_len < sizeof(buf) - len ? iov[i].iov_len
								      : sizeof(buf) - len;

			if (c)
				memcpy(buf + len, iov[i].iov_base, c);
			len += c;
		}
		if (chain.read_len <= sizeof(buf))
			ack = vbsu_net_ctrl(n, buf, len, features);
		/* The ack is the last writable byte (5.1.6.5). */
		for (int i = chain.nread + chain.nwrite - 1; i >= chain.nread; i--) {
			if (iov[i].iov_len) {
				((uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1] = ack;
				break;
			}
		}
		vq_relchain(cq, chain.head, 1);
		done++;
	}
	return ret < 0 ? ret : done;
}

void vbsu_net_close(struct vbsu_net *n)
{
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	n->tap_fd = -1;
	free(n->frame);
	n->frame = NULL;
}
