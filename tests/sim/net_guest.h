/*
 * net_guest.h - the receive and transmit buffers of a virtio-net driven by
 * the test driver (queue 0 receives, queue 1 transmits): NET_NRX receive
 * buffers posted, NET_NTX transmit buffers, NET_BUF bytes of guest RAM
 * each, and which receive buffer a used entry names.  Header-only: each
 * test is one program.
 */
#ifndef VDM_TEST_NET_GUEST_H
#define VDM_TEST_NET_GUEST_H

#include "drv.h"
#include "drv_virtio.h"

#include <stdint.h>
#include <string.h>

#define NET_NRX 64
#define NET_NTX 64
#define NET_BUF 2048

/* Post the receive buffer at gpa (no kick). */
static inline void net_post_rx(struct drv_virtio *v, uint64_t gpa)
{
	struct drv_buf in = { gpa, NET_BUF };

	drv_virtio_post(v, 0, NULL, 0, &in, 1, false);
}

/* Which of the receive buffers rx the descriptor id (split ring) points
 * to: its index, or -1. */
static inline int net_rx_slot(struct drv_virtio *v, const uint64_t *rx, uint16_t id)
{
	uint64_t addr;

	memcpy(&addr, drv_gpa(v->d, v->vq[0].desc_gpa + 16ULL * id, 8), 8);
	for (int i = 0; i < NET_NRX; i++)
		if (rx[i] == addr)
			return i;
	return -1;
}

/* On a NIC brought up: allocate and post every receive buffer (kicked),
 * allocate the transmit buffers, and set irq_grace_ms to 0: a used entry is
 * taken without waiting for its interrupt (traffic tests, not delivery). */
static inline void net_buffers_up(struct drv_virtio *v, uint64_t *rx, uint64_t *tx)
{
	for (int i = 0; i < NET_NRX; i++) {
		rx[i] = drv_virtio_alloc(v, NET_BUF, 64);
		net_post_rx(v, rx[i]);
	}
	for (int i = 0; i < NET_NTX; i++)
		tx[i] = drv_virtio_alloc(v, NET_BUF, 64);
	drv_virtio_kick(v, 0);
	v->irq_grace_ms = 0;
}

#endif /* VDM_TEST_NET_GUEST_H */
