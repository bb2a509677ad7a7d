/*
 * virtio_console_ctrl.c - the control queues of a MULTIPORT console
 * (virtio 1.2, 5.3.6.2): what the driver says on the control transmitq
 * and what the device answers on the control receiveq.
 *
 * The exchange, as Linux's driver and acrn-dm's device run it: the driver
 * sends DEVICE_READY; the device announces every port with DEVICE_ADD and
 * PORT_NAME; the driver answers each with PORT_READY; the device then tells
 * it which ports are consoles (CONSOLE_PORT) and that the host side of each
 * is open (PORT_OPEN 1: output to a host side with nobody attached is
 * discarded, so a port is always open for writing, as acrn-dm has it).
 * The driver's own PORT_OPEN (a process opened or closed the port) is
 * recorded and logged.
 *
 * The driver is hostile: a message shorter than its 8-byte header, or a
 * device-writable buffer on the transmitq, or a device-readable one (or
 * one too small for the message) on the receiveq breaks the queue
 * (DEVICE_NEEDS_RESET).  A port id out of range, an event the driver has
 * no business sending, a repeated DEVICE_READY or PORT_READY are logged
 * (rate-limited) and ignored, as the spec leaves room for: nothing then
 * grows without bound, and the outbox holds what the answers can need.
 */
#include "virtio_console_internal.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Buffers per control chain we take; a message is a header and a name. */
#define CTRL_MAX_IOV 16
/* Control chains served per turn. */
#define CTRL_BUDGET 64

static void post(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value)
{
	if (c->out_len == VCON_OUTBOX) {
		/* Cannot happen with the answers bounded as above; never grow. */
		virtio_guest_error(&c->vd, "virtio-console: control outbox full, event %u dropped",
				   event);
		return;
	}
	c->outbox[(c->out_head + c->out_len++) % VCON_OUTBOX] =
		(struct vcon_msg){ .id = id, .event = event, .value = value };
}

/* Scatter len bytes of src into iov from byte off on. */
static void iov_put(const struct iovec *iov, int n, size_t off, const void *src, size_t len)
{
	const uint8_t *p = src;

	for (int i = 0; i < n && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off < len ? iov[i].iov_len - off : len;

		memcpy((uint8_t *)iov[i].iov_base + off, p, k);
		p += k;
		len -= k;
		off = 0;
	}
}

/* Gather up to len bytes from iov into dst; returns how many there were. */
static size_t iov_get(const struct iovec *iov, int n, void *dst, size_t len)
{
	uint8_t *p = dst;
	size_t got = 0;

	for (int i = 0; i < n && got < len; i++) {
		size_t k = iov[i].iov_len < len - got ? iov[i].iov_len : len - got;

		if (!k) /* an empty buffer may have no address at all */
			continue;
		memcpy(p + got, iov[i].iov_base, k);
		got += k;
	}
	return got;
}

int vcon_ctrl_rx_run(struct virtio_console *c)
{
	struct virtio_queue *q = &c->vd.queues[VCON_CTRL_RXQ];
	struct iovec iov[CTRL_MAX_IOV];
	int done = 0, ret = 0;

	if (!virtio_dev_running(&c->vd) || !q->enabled || q->vq.broken)
		return 0;
	while (c->out_len) {
		const struct vcon_msg *m = &c->outbox[c->out_head];
		/* PORT_NAME carries the name after the header, unterminated
		 * (the driver takes the rest of the buffer as the name). */
		const char *name = m->event == VIRTIO_CONSOLE_PORT_NAME ? c->ports[m->id].name : NULL;
		size_t name_len = name ? strlen(name) : 0;
		struct virtio_console_control hdr = {
			.id = htole32(m->id),
			.event = htole16(m->event),
			.value = htole16(m->value),
		};
		struct vq_chain chain;
		int n = vq_getchain(&q->vq, &chain, iov, CTRL_MAX_IOV);

		if (n < 0) {
			ret = n;
			break;
		}
		if (n == 0) {
			if (virtio_queue_rearm(q))
				continue;
			break; /* the driver's next kick brings us back */
		}
		if (chain.nread) {
			vq_mark_broken(&q->vq, "device-readable buffer on the control receive queue");
			ret = -EPROTO;
			break;
		}
		if (chain.write_len < sizeof(hdr) + name_len) {
			vq_mark_broken(&q->vq, "control receive buffer too small for a message");
			ret = -EPROTO;
			break;
		}
		iov_put(iov, n, 0, &hdr, sizeof(hdr));
		iov_put(iov, n, sizeof(hdr), name, name_len);
		vq_relchain(&q->vq, chain.head, (uint32_t)(sizeof(hdr) + name_len));
		c->out_head = (c->out_head + 1) % VCON_OUTBOX;
		c->out_len--;
		done++;
	}
	if (done)
		virtio_queue_done(q);
	return ret;
}

/* The driver is ready: announce every port. */
static void device_ready(struct virtio_console *c, uint16_t value)
{
	if (!value) {
		virtio_guest_error(&c->vd, "virtio-console: the driver failed to set up (DEVICE_READY 0)");
		return;
	}
	if (c->driver_ready) {
		virtio_guest_error(&c->vd, "virtio-console: DEVICE_READY again, ignored");
		return;
	}
	c->driver_ready = true;
	for (int i = 0; i < c->nports; i++) {
		post(c, (uint32_t)i, VIRTIO_CONSOLE_PORT_ADD, 1); /* the spec's DEVICE_ADD */
		post(c, (uint32_t)i, VIRTIO_CONSOLE_PORT_NAME, 0);
	}
}

/* The driver set a port up (value 1) or could not (0). */
static void port_ready(struct virtio_console *c, struct vcon_port *p, uint16_t value)
{
	if (!value) {
		virtio_guest_error(&c->vd, "virtio-console: the driver could not add port %d (%s)",
				   p->id, p->name);
		return;
	}
	if (p->ready) {
		virtio_guest_error(&c->vd, "virtio-console: PORT_READY again for port %d, ignored",
				   p->id);
		return;
	}
	p->ready = true;
	if (p->console)
		post(c, (uint32_t)p->id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	post(c, (uint32_t)p->id, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

static void handle(struct virtio_console *c, const struct virtio_console_control *m)
{
	uint32_t id = le32toh(m->id);
	uint16_t event = le16toh(m->event), value = le16toh(m->value);
	struct vcon_port *p = id < (uint32_t)c->nports ? &c->ports[id] : NULL;

	if (event == VIRTIO_CONSOLE_DEVICE_READY) {
		device_ready(c, value); /* id is not a port's here */
		return;
	}
	if (event != VIRTIO_CONSOLE_PORT_READY && event != VIRTIO_CONSOLE_PORT_OPEN) {
		virtio_guest_error(&c->vd,
				   "virtio-console: control event %u is not one a driver sends, "
				   "ignored",
				   event);
		return;
	}
	if (!p) {
		virtio_guest_error(&c->vd,
				   "virtio-console: control event %u for port %u, which does not "
				   "exist (%d ports), ignored",
				   event, id, c->nports);
		return;
	}
	if (event == VIRTIO_CONSOLE_PORT_READY) {
		port_ready(c, p, value);
		return;
	}
	/* Guest-driven, so rate-limited like its mistakes: a guest opening
	 * and closing in a loop must not flood the log. */
	if (p->guest_open != (value != 0))
		log_ratelimited(&c->vd.rl, LOG_INFO, "%s: the guest %s the port", p->who,
				value ? "opened" : "closed");
	p->guest_open = value != 0;
}

int vcon_ctrl_tx_run(struct virtio_console *c)
{
	struct virtio_queue *q = &c->vd.queues[VCON_CTRL_TXQ];
	struct iovec iov[CTRL_MAX_IOV];
	int done = 0, ret = 0;

	if (!virtio_dev_running(&c->vd) || !q->enabled || q->vq.broken)
		return 0;
	while (done < CTRL_BUDGET) {
		struct virtio_console_control m;
		struct vq_chain chain;
		int n = vq_getchain(&q->vq, &chain, iov, CTRL_MAX_IOV);

		if (n <= 0) {
			ret = n;
			break;
		}
		if (chain.nwrite) {
			vq_mark_broken(&q->vq, "device-writable buffer on the control transmit queue");
			ret = -EPROTO;
			break;
		}
		if (iov_get(iov, n, &m, sizeof(m)) < sizeof(m)) {
			vq_mark_broken(&q->vq, "control message shorter than its 8-byte header");
			ret = -EPROTO;
			break;
		}
		handle(c, &m);
		vq_relchain(&q->vq, chain.head, 0);
		done++;
	}
	if (done)
		virtio_queue_done(q);
	/* Answers wait for the driver's receive buffers; send what fits. */
	if (ret == 0 && c->out_len) {
		int r = vcon_ctrl_rx_run(c);

		if (r < 0)
			virtio_queue_failed(&c->vd.queues[VCON_CTRL_RXQ], r);
	}
	return ret;
}

void vcon_ctrl_reset(struct virtio_console *c)
{
	c->driver_ready = false;
	c->out_head = c->out_len = 0;
	for (int i = 0; i < c->nports; i++)
		c->ports[i].ready = c->ports[i].guest_open = false;
}
