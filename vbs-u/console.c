/*
 * console.c - VBS-U virtio-console back-end (virtio 1.2, 5.3): moves the
 * bytes of one port between its two queues and the host side of the stream.
 * The host side is reached only through the caller's sink and source, so
 * this file knows nothing of file descriptors or of the event loop.
 *
 * Transmit (guest -> host): each chain's readable buffers go to the sink in
 * order.  When the sink takes less than offered, the chain is held here,
 * with how far it got, and finished on the next call; the chain stays off
 * the used ring until every byte was taken, and the chains after it stay in
 * the avail ring.  Receive (host -> guest): each chain's writable buffers are
 * filled by one call to the source; nothing is read while the guest has no
 * buffer posted.
 */
#include "vbsu.h"

#include <errno.h>
#include <string.h>

void vbsu_con_reset(struct vbsu_con *c)
{
	/* A held chain belongs to the ring the reset just discarded. */
	c->tx_held = false;
	c->tx_niov = c->tx_cur = 0;
	c->tx_off = 0;
}

int vbsu_con_tx(struct vbsu_con *c, struct vqueue *vq, int budget, vbsu_con_sink_fn sink,
		void *opaque, bool *blocked, bool *more)
{
	int done = 0;

	*blocked = *more = false;
	while (done < budget) {
		if (!c->tx_held) {
			struct vq_chain chain;
			int n = vq_getchain(vq, &chain, c->tx_iov, VBSU_CON_MAX_IOV);

			if (n <= 0)
				return n < 0 ? n : done;
			if (chain.nwrite) {
				/* 5.3.6.1: transmitq buffers are device-readable only. */
				vq_mark_broken(vq, "device-writable buffer on the transmit queue");
				return -EPROTO;
			}
			c->tx_held = true;
			c->tx_head = chain.head;
			c->tx_niov = n;
			c->tx_cur = 0;
			c->tx_off = 0;
		}
		while (c->tx_cur < c->tx_niov) {
			const struct iovec *v = &c->tx_iov[c->tx_cur];
			size_t left = v->iov_len - c->tx_off;
			size_t took = left ? sink(opaque, (const char *)v->iov_base + c->tx_off, left)
					   : 0;

			c->tx_off += took;
			c->tx_bytes += took;
			if (took < left) {
				*blocked = true;
				return done;
			}
			c->tx_cur++;
			c->tx_off = 0;
		}
		/* The device writes nothing into a transmit buffer: used length 0. */
		vq_relchain(vq, c->tx_head, 0);
		c->tx_held = false;
		done++;
	}
	*more = true;
	return done;
}

int vbsu_con_rx(struct vbsu_con *c, struct vqueue *vq, int budget, vbsu_con_source_fn source,
		void *opaque, bool *starved, bool *more)
{
	struct iovec iov[VBSU_CON_MAX_IOV];
	int done = 0;

	*starved = *more = false;
	while (done < budget) {
		struct vq_chain chain;
		int n = vq_getchain(vq, &chain, iov, VBSU_CON_MAX_IOV);
		size_t got;

		if (n == 0) {
			*starved = true;
			return done;
		}
		if (n < 0)
			return n;
		if (chain.nread) {
			/* 5.3.6.1: receiveq buffers are device-writable only. */
			vq_mark_broken(vq, "device-readable buffer on the receive queue");
			return -EPROTO;
		}
		if (chain.write_len == 0) {
			/* Nothing fits in it; hand it back empty rather than
			 * keep it forever at the head of the ring. */
			vq_relchain(vq, chain.head, 0);
			done++;
			continue;
		}
		got = source(opaque, iov, n);
		if (got == 0) {
			/* Nothing to deliver now: the chain waits for the next call. */
			vq_retchain(vq);
			return done;
		}
		vq_relchain(vq, chain.head, (uint32_t)got);
		c->rx_bytes += got;
		done++;
	}
	*more = true;
	return done;
}
