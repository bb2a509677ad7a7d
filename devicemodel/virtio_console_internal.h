/*
 * virtio_console_internal.h - what virtio-console's two files share: the
 * device and its ports (virtio_console.c: options, the data queues of each
 * port, create and destroy) and the control queues of VIRTIO_CONSOLE_F_
 * MULTIPORT (virtio_console_ctrl.c).
 *
 * Queues (virtio 1.2, 5.3.2): port 0's receiveq and transmitq are 0 and 1;
 * with MULTIPORT the control receiveq and transmitq are 2 and 3, and port N
 * (N >= 1) has 2 + 2N and 3 + 2N.  acrn-dm lays them out the same way.
 */
#ifndef VDM_VIRTIO_CONSOLE_INTERNAL_H
#define VDM_VIRTIO_CONSOLE_INTERNAL_H

#include "chardev.h"
#include "virtio.h"

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_console.h>

/* acrn-dm's limit (VIRTIO_CONSOLE_MAXPORTS), so its lines fit and no more. */
#define VCON_MAX_PORTS 16
/* Longest port name: acrn-dm sends at most NAME_MAX bytes of it. */
#define VCON_NAME_MAX 255
#define VCON_CTRL_RXQ 2
#define VCON_CTRL_TXQ 3
/*
 * Control messages waiting for the driver's buffers.  It sends DEVICE_READY
 * once (a repeat is ignored) and PORT_READY once per port (likewise), which
 * we answer with at most two messages each: 4 per port covers all.
 */
#define VCON_OUTBOX (4 * VCON_MAX_PORTS)

struct virtio_console;

struct vcon_port {
	struct virtio_console *con;
	int id;
	const char *name; /* the config's; NULL on a one-port line without MULTIPORT */
	bool console;     /* acrn-dm's '@': the guest makes it an hvc console */
	struct chardev *cd;
	struct vbsu_con be;
	char who[VCON_NAME_MAX + 32]; /* "virtio-console port NAME", for the log */
	bool ready;       /* the driver sent PORT_READY for it */
	bool guest_open;  /* the driver's last PORT_OPEN said a process holds it */
};

struct vcon_msg {
	uint32_t id;
	uint16_t event, value;
};

struct virtio_console {
	struct virtio_dev vd; /* first */
	struct virtio_console_config config;
	bool multiport;
	int nports;
	struct vcon_port ports[VCON_MAX_PORTS];
	/* Control state (MULTIPORT only), back to zero at a device reset. */
	bool driver_ready;
	struct vcon_msg outbox[VCON_OUTBOX];
	unsigned out_head, out_len;
};

/* Port N's receiveq; its transmitq is the next one. */
static inline int vcon_port_rxq(int id)
{
	return id == 0 ? 0 : 2 + 2 * id;
}

/* Deliver waiting control messages into the control receiveq.  0, or a
 * negative errno when the driver broke the queue (the caller fails it). */
int vcon_ctrl_rx_run(struct virtio_console *c);

/* Take the driver's control messages from the control transmitq and act
 * on them.  0, or a negative errno when the driver broke the queue. */
int vcon_ctrl_tx_run(struct virtio_console *c);

/* Device reset: the driver is not ready, nothing waits to be sent. */
void vcon_ctrl_reset(struct virtio_console *c);

#endif /* VDM_VIRTIO_CONSOLE_INTERNAL_H */
