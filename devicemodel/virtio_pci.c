/*
 * virtio_pci.c - the virtio-pci transport (virtio 1.2, 4.1), modern
 * interface: what a virtio driver sees of a device through PCI.
 *
 * BAR layout:
 *   BAR0  I/O, legacy interface of transitional devices (virtio_legacy.c)
 *   BAR1  32-bit memory, 4 KiB: MSI-X table at 0, PBA at 0x800 (only when the
 *         HSM back-end can deliver MSI)
 *   BAR4  64-bit prefetchable memory, 16 KiB:
 *         0x0000 common config, 0x1000 ISR, 0x2000 device config,
 *         0x3000 notify (4 bytes per queue)
 * Capabilities: MSI-X, then COMMON, NOTIFY, ISR, DEVICE (if any config) and
 * PCI_CFG.  Each queue's notify address is an ioeventfd, so a kick reaches
 * the device on the event loop without passing through the ioreq path.
 */
#include "events.h"
#include "virtio_internal.h"
#include "vdm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_MODERN_DEVICE_BASE 0x1040
#define VIRTIO_MODERN_SUBSYS_ID 0x1100 /* >= 0x40 for non-transitional (4.1.2.1) */

#define LEGACY_BAR 0
#define MSIX_BAR 1
#define MODERN_BAR 4
#define MODERN_BAR_SIZE 0x4000
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define ISR_LEN 1
#define DEVCFG_OFF 0x2000
#define DEVCFG_MAX 0x1000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4
#define ISR_QUEUE 0x1  /* 4.1.4.5: a used buffer notification */
#define ISR_CONFIG 0x2 /* a configuration change */

/* Feature bits the transport itself implements. */
#define TRANSPORT_FEATURES                                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

int virtio_common_option(const char *opt, bool *transitional, bool *no_packed,
			 struct vhost_route *route, char *err, size_t errlen)
{
	if (transitional && !strcmp(opt, "transitional")) {
		*transitional = true;
		return 1;
	}
	if (no_packed && !strncmp(opt, "packed=", 7)) {
		if (strcmp(opt + 7, "on") && strcmp(opt + 7, "off")) {
			snprintf(err, errlen, "packed=%s: expected packed=on or packed=off", opt + 7);
			return -EINVAL;
		}
		*no_packed = !strcmp(opt + 7, "off");
		return 1;
	}
	return route ? vhost_route_parse(opt, route, err, errlen) : 0;
}

bool virtio_dev_running(const struct virtio_dev *vd)
{
	return (vd->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(vd->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- interrupts ---- */

static void raise_irq(struct virtio_dev *vd, uint16_t vector, uint8_t isr_bit)
{
	if (vd->use_msix && pci_msix_enabled(&vd->pci)) {
		/* With MSI-X the ISR is unused (4.1.4.5); NO_VECTOR means "no interrupt". */
		if (vector != VIRTIO_NO_VECTOR)
			pci_msix_notify(&vd->pci, vector);
		return;
	}
	vd->isr |= isr_bit;
	pci_intx_set(&vd->pci, true);
}

void virtio_queue_interrupt(struct virtio_queue *q)
{
	raise_irq(q->dev, q->msix_vector, ISR_QUEUE);
}

void virtio_queue_done(struct virtio_queue *q)
{
	if (vq_endchains(&q->vq)) {
		q->stats.interrupts++;
		virtio_queue_interrupt(q);
	}
}

void virtio_config_changed(struct virtio_dev *vd)
{
	vd->config_generation++;
	if (vd->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(vd, vd->msix_config, ISR_CONFIG);
}

void virtio_dev_needs_reset(struct virtio_dev *vd, const char *why)
{
	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	if (!vd->bad_guest_logged || ratelimit_ok(&vd->rl))
		log_warn("00:%02x.%d %s: device needs reset: %s", vd->pci.slot,
			 vd->pci.func, vd->ops->name, why);
	vd->bad_guest_logged = true;
	vd->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	struct vdm_event e = { .kind = VDM_EVENT_NEEDS_RESET, .slot = vd->pci.slot,
			       .func = vd->pci.func };
	snprintf(e.device, sizeof(e.device), "%s", vd->ops->name);
	snprintf(e.text, sizeof(e.text), "%s", why);
	vdm_events_post(vd->ctx.events, &e);
	/* 2.1.2: the device sends a configuration change notification. */
	vd->config_generation++;
	raise_irq(vd, vd->msix_config, ISR_CONFIG);
}

uint8_t virtio_read_isr(struct virtio_dev *vd)
{
	/* Reading the ISR clears it and deasserts INTx (4.1.4.5). */
	uint8_t isr = vd->isr;

	vd->isr = 0;
	pci_intx_set(&vd->pci, false);
	return isr;
}

/* ---- queues ---- */

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	return hsm_gpa_to_hva(opaque, gpa, len);
}

static void queue_reset(struct virtio_queue *q)
{
	vq_reset(&q->vq);
	q->size = q->max_size;
	q->msix_vector = VIRTIO_NO_VECTOR;
	q->enabled = false;
	q->host_blocked = false;
	virtio_queue_pacing_reset(q);
	q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
}

bool virtio_queue_locked(struct virtio_dev *vd, struct virtio_queue *q, const char *what)
{
	/*
	 * 4.1.4.3.2: the driver must not change a live queue, through either
	 * interface.  Only a device reset stops it: the data plane (VBS-U or a
	 * vhost back-end) holds the ring's addresses and indexes, and a queue
	 * re-set-up or dropped under it would desynchronise the two.
	 */
	if (!q->enabled)
		return false;
	virtio_guest_error(vd, "%s: %s write to queue %d while it is enabled; ignored",
			   vd->ops->name, what, q->index);
	return true;
}

void virtio_queue_enable(struct virtio_dev *vd, struct virtio_queue *q)
{
	struct vq_mem mem = { .translate = translate, .opaque = vd->ctx.vm };

	if (vq_setup(&q->vq, &mem, q->size, q->max_size, q->desc_gpa, q->avail_gpa, q->used_gpa,
		     vd->guest_features)) {
		virtio_dev_needs_reset(vd, q->vq.error ? q->vq.error : "bad queue layout");
		return;
	}
	q->enabled = true;
}

static struct hsm_ioeventfd notify_ioeventfd(const struct virtio_dev *vd, int bar, int qi)
{
	if (bar == LEGACY_BAR) /* one port for all queues: the value names the queue */
		return (struct hsm_ioeventfd){
			.space = HSM_IO_PIO,
			.addr = vd->pci.bars[LEGACY_BAR].addr + 0x10,
			.len = 2,
			.datamatch = true,
			.data = (uint64_t)qi,
		};
	return (struct hsm_ioeventfd){
		.space = HSM_IO_MMIO,
		.addr = vd->pci.bars[MODERN_BAR].addr + NOTIFY_OFF + (uint64_t)qi * NOTIFY_MULT,
		.len = 0, /* a driver may kick with any width */
	};
}

/* (Un)register the kick ioeventfds of the notify area in BAR bar. */
static void route_kicks(struct virtio_dev *vd, int bar, bool on)
{
	for (int i = 0; i < vd->nqueues; i++) {
		struct virtio_queue *q = &vd->queues[i];
		bool *routed = bar == LEGACY_BAR ? &q->legacy_kick_routed : &q->kick_routed;
		struct hsm_ioeventfd ev = notify_ioeventfd(vd, bar, i);

		if (on && !*routed)
			*routed = hsm_ioeventfd_add(vd->ctx.vm, &ev, q->kick_fd) == 0;
		else if (!on && *routed) {
			hsm_ioeventfd_del(vd->ctx.vm, &ev, q->kick_fd);
			*routed = false;
		}
	}
}

int virtio_queue_new_kick_fd(struct virtio_queue *q)
{
	struct virtio_dev *vd = q->dev;
	int old = q->kick_fd, fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	bool watched = q->kick_watched;
	static const int bars[2] = { MODERN_BAR, LEGACY_BAR };

	if (fd < 0)
		return -errno;
	if (watched)
		virtio_queue_watch_kicks(q, false);
	/* From here a kick taking the slow path (an MMIO write that reaches
	 * vdm) lands in the new fd too. */
	q->kick_fd = fd;
	for (int b = 0; b < 2; b++) {
		bool *routed = bars[b] == LEGACY_BAR ? &q->legacy_kick_routed : &q->kick_routed;
		struct hsm_ioeventfd ev = notify_ioeventfd(vd, bars[b], q->index);

		if (!*routed)
			continue;
		hsm_ioeventfd_del(vd->ctx.vm, &ev, old);
		*routed = hsm_ioeventfd_add(vd->ctx.vm, &ev, fd) == 0;
	}
	if (watched)
		virtio_queue_watch_kicks(q, true);
	return old;
}

/* ---- status, features, reset ---- */

static void device_reset(struct virtio_dev *vd)
{
	/* Requests in flight finish before their rings go away. */
	if (vd->ops->quiesce)
		vd->ops->quiesce(vd);
	/* A vhost back-end stops first: it must not touch rings being reset. */
	virtio_vhost_reset(vd);
	for (int i = 0; i < vd->nqueues; i++)
		queue_reset(&vd->queues[i]);
	vd->guest_features = 0;
	vd->device_feature_select = 0;
	vd->driver_feature_select = 0;
	vd->queue_select = 0;
	vd->msix_config = VIRTIO_NO_VECTOR;
	vd->isr = 0;
	vd->status = 0;
	vd->legacy_mode = false;
	pci_intx_set(&vd->pci, false);
	if (vd->ops->reset)
		vd->ops->reset(vd);
}

static bool features_acceptable(struct virtio_dev *vd)
{
	if (vd->guest_features & ~vd->host_features) {
		virtio_guest_error(vd, "%s: driver accepted features %#llx the device never offered",
				   vd->ops->name,
				   (unsigned long long)(vd->guest_features & ~vd->host_features));
		return false;
	}
	/* Through the modern interface VERSION_1 is required (6.1). */
	return vd->legacy_mode || virtio_has_feature(vd, VIRTIO_F_VERSION_1);
}

void virtio_write_status(struct virtio_dev *vd, uint8_t val)
{
	uint8_t old = vd->status & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET;
	uint8_t added = val & (uint8_t)~old;

	if (val == 0) {
		device_reset(vd);
		return;
	}
	if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return; /* only a reset brings the device back */
	if (old & ~val) {
		virtio_dev_needs_reset(vd, "driver cleared a status bit without a reset");
		return;
	}
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(vd))
		val &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK; /* 3.1.1 step 6: driver re-reads */
	/* Legacy drivers have no FEATURES_OK step: the features are what they wrote. */
	if (vd->legacy_mode && (added & VIRTIO_CONFIG_S_DRIVER_OK) && !features_acceptable(vd)) {
		virtio_dev_needs_reset(vd, "legacy driver accepted features never offered");
		return;
	}
	if (!vd->legacy_mode && (added & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
		vd->status = val & (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
		virtio_dev_needs_reset(vd, "DRIVER_OK without FEATURES_OK");
		return;
	}
	vd->status = val;
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && virtio_vhost_start(vd)) {
		virtio_dev_needs_reset(vd, "the vhost back-end did not start");
		return;
	}
	if (added & VIRTIO_CONFIG_S_DRIVER_OK) {
		/* Buffers made available before DRIVER_OK are served now. */
		for (int i = 0; i < vd->nqueues && virtio_dev_running(vd); i++)
			if (vd->queues[i].enabled && vq_has_work(&vd->queues[i].vq))
				virtio_queue_kicked(&vd->queues[i]);
	}
}

/* ---- common config (4.1.4.3) ---- */

struct virtio_queue *virtio_selected_queue(struct virtio_dev *vd)
{
	return vd->queue_select < vd->nqueues ? &vd->queues[vd->queue_select] : NULL;
}

static uint64_t common_read(struct virtio_dev *vd, unsigned off, unsigned size)
{
	struct virtio_queue *q = virtio_selected_queue(vd);
	uint8_t buf[COMMON_LEN + 8] = { 0 };
	uint64_t val = 0;

#define PUT(field, v)                                                                              \
	do {                                                                                       \
		__typeof__(((struct virtio_pci_common_cfg *)0)->field) tmp_ = (v);                 \
		memcpy(buf + offsetof(struct virtio_pci_common_cfg, field), &tmp_, sizeof(tmp_));  \
	} while (0)
	PUT(device_feature_select, vd->device_feature_select);
	PUT(device_feature, vd->device_feature_select < 2
				    ? (uint32_t)(vd->host_features >> (32 * vd->device_feature_select))
				    : 0);
	PUT(guest_feature_select, vd->driver_feature_select);
	PUT(guest_feature, vd->driver_feature_select < 2
				   ? (uint32_t)(vd->guest_features >> (32 * vd->driver_feature_select))
				   : 0);
	PUT(msix_config, vd->msix_config);
	PUT(num_queues, (uint16_t)vd->nqueues);
	PUT(device_status, vd->status);
	PUT(config_generation, vd->config_generation);
	PUT(queue_select, vd->queue_select);
	if (q) {
		PUT(queue_size, q->size);
		PUT(queue_msix_vector, q->msix_vector);
		PUT(queue_enable, (uint16_t)q->enabled);
		PUT(queue_notify_off, (uint16_t)q->index);
		PUT(queue_desc_lo, (uint32_t)q->desc_gpa);
		PUT(queue_desc_hi, (uint32_t)(q->desc_gpa >> 32));
		PUT(queue_avail_lo, (uint32_t)q->avail_gpa);
		PUT(queue_avail_hi, (uint32_t)(q->avail_gpa >> 32));
		PUT(queue_used_lo, (uint32_t)q->used_gpa);
		PUT(queue_used_hi, (uint32_t)(q->used_gpa >> 32));
	}
#undef PUT
	if (off + size <= sizeof(buf))
		memcpy(&val, buf + off, size);
	return val;
}

uint16_t virtio_checked_vector(struct virtio_dev *vd, uint16_t v)
{
	/* 4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR. */
	return vd->use_msix && v < vd->pci.msix.nvec ? v : VIRTIO_NO_VECTOR;
}

/* Set the 32-bit half `hi` of a 64-bit queue address. */
static void set_half(uint64_t *addr, bool hi, uint32_t v)
{
	if (hi)
		*addr = (*addr & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*addr = (*addr & ~0xffffffffULL) | v;
}

static void common_write(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t val)
{
	struct virtio_queue *q = virtio_selected_queue(vd);
	uint32_t v32 = (uint32_t)val;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vd->device_feature_select = v32;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vd->driver_feature_select = v32;
		return;
	case VIRTIO_PCI_COMMON_GF:
		/* Features are fixed once FEATURES_OK is set (3.1.1). */
		if (vd->driver_feature_select < 2 && !(vd->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned shift = 32 * vd->driver_feature_select;

			vd->guest_features = (vd->guest_features & ~(0xffffffffULL << shift)) |
					     (uint64_t)v32 << shift;
		}
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		vd->msix_config = virtio_checked_vector(vd, (uint16_t)val);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_write_status(vd, (uint8_t)val);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vd->queue_select = (uint16_t)val;
		return;
	}
	if (!q) {
		virtio_guest_error(vd, "%s: write to queue %u, which does not exist", vd->ops->name,
				   vd->queue_select);
		return;
	}
	if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
		q->msix_vector = virtio_checked_vector(vd, (uint16_t)val);
		virtio_vhost_irq_changed(vd);
		return;
	}
	if (virtio_queue_locked(vd, q, "modern queue register"))
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		q->size = (uint16_t)val;
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (val == 1)
			virtio_queue_enable(vd, q);
		return;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (size == 8 && off == VIRTIO_PCI_COMMON_Q_DESCLO)
			q->desc_gpa = val;
		else
			set_half(&q->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI, v32);
		return;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (size == 8 && off == VIRTIO_PCI_COMMON_Q_AVAILLO)
			q->avail_gpa = val;
		else
			set_half(&q->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI, v32);
		return;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (size == 8 && off == VIRTIO_PCI_COMMON_Q_USEDLO)
			q->used_gpa = val;
		else
			set_half(&q->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI, v32);
		return;
	}
	/* Read-only fields and holes: ignored. */
}

/* ---- BAR access ---- */

static uint64_t modern_read(struct virtio_dev *vd, uint64_t off, unsigned size)
{
	if (off + size <= COMMON_OFF + COMMON_LEN)
		return common_read(vd, (unsigned)(off - COMMON_OFF), size);
	if (off == ISR_OFF)
		return virtio_read_isr(vd);
	if (off >= DEVCFG_OFF && off - DEVCFG_OFF + size <= vd->config_size) {
		uint64_t val = 0;

		memcpy(&val, vd->config + (off - DEVCFG_OFF), size);
		return val;
	}
	return 0;
}

static void modern_write(struct virtio_dev *vd, uint64_t off, unsigned size, uint64_t val)
{
	if (off + size <= COMMON_OFF + COMMON_LEN) {
		common_write(vd, (unsigned)(off - COMMON_OFF), size, val);
		return;
	}
	if (off >= DEVCFG_OFF && off - DEVCFG_OFF + size <= vd->config_size) {
		if (vd->ops->cfg_write)
			vd->ops->cfg_write(vd, (unsigned)(off - DEVCFG_OFF), size, val);
		return;
	}
	if (off >= NOTIFY_OFF && off < NOTIFY_OFF + (uint64_t)vd->nqueues * NOTIFY_MULT) {
		/* Reached only when the ioeventfd did not take the write. */
		virtio_queue_kicked(&vd->queues[(off - NOTIFY_OFF) / NOTIFY_MULT]);
		return;
	}
}

static uint64_t vpci_bar_read(struct pci_dev *d, int bar, uint64_t off, unsigned size)
{
	if (bar == MODERN_BAR)
		return modern_read(to_virtio_dev(d), off, size);
	if (bar == LEGACY_BAR)
		return virtio_legacy_read(to_virtio_dev(d), off, size);
	return ~0ULL;
}

static void vpci_bar_write(struct pci_dev *d, int bar, uint64_t off, unsigned size, uint64_t val)
{
	if (bar == MODERN_BAR)
		modern_write(to_virtio_dev(d), off, size, val);
	else if (bar == LEGACY_BAR)
		virtio_legacy_write(to_virtio_dev(d), off, size, val);
}

static void vpci_bar_map(struct pci_dev *d, int bar, bool mapped, uint64_t addr)
{
	if (bar == MODERN_BAR || bar == LEGACY_BAR)
		route_kicks(to_virtio_dev(d), bar, mapped);
}

/* ---- VIRTIO_PCI_CAP_PCI_CFG window (4.1.4.9) ---- */

static bool pcicfg_target(struct virtio_dev *vd, uint64_t *off, unsigned *len)
{
	unsigned cap = vd->pci_cfg_cap;
	uint8_t bar = pci_cfg_read8(&vd->pci, cap + offsetof(struct virtio_pci_cap, bar));

	*off = pci_cfg_read32(&vd->pci, cap + offsetof(struct virtio_pci_cap, offset));
	*len = pci_cfg_read32(&vd->pci, cap + offsetof(struct virtio_pci_cap, length));
	return bar == MODERN_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       *off + *len <= MODERN_BAR_SIZE && !(*off & (*len - 1));
}

/*
 * 4.1.4.9: pci_cfg_data is a 4-byte buffer.  A read of it runs a BAR read
 * of cap.length bytes into the buffer's first bytes; a write of it puts the
 * driver's bytes where it wrote them, then runs a BAR write of the buffer's
 * first cap.length bytes.  The buffer lives in config space itself (the
 * claimed bytes the guest never writes directly), so a driver that fills it
 * a byte or a word at a time gets what it wrote.
 */
static unsigned pcicfg_data(const struct virtio_dev *vd)
{
	return vd->pci_cfg_cap + (unsigned)offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
}

static uint32_t vpci_cfg_read(struct pci_dev *d, unsigned off, unsigned size)
{
	struct virtio_dev *vd = to_virtio_dev(d);
	unsigned data = pcicfg_data(vd);
	uint64_t bar_off;
	unsigned len;
	uint32_t val = 0;

	if (pcicfg_target(vd, &bar_off, &len)) {
		uint64_t got = modern_read(vd, bar_off, len);

		for (unsigned i = 0; i < len; i++)
			pci_cfg_set8(d, data + i, (uint8_t)(got >> (8 * i)));
	}
	for (unsigned i = 0; i < size; i++)
		val |= (uint32_t)pci_cfg_read8(d, off + i) << (8 * i);
	return val;
}

static void vpci_cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_dev *vd = to_virtio_dev(d);
	uint64_t bar_off;
	unsigned len;

	for (unsigned i = 0; i < size; i++)
		pci_cfg_set8(d, off + i, (uint8_t)(val >> (8 * i)));
	if (!pcicfg_target(vd, &bar_off, &len))
		return;
	uint32_t buf = pci_cfg_read32(d, pcicfg_data(vd));
	modern_write(vd, bar_off, len, len == 4 ? buf : buf & ((1u << (8 * len)) - 1));
}

static void vpci_reset(struct pci_dev *d)
{
	device_reset(to_virtio_dev(d));
}

static void vpci_msix_changed(struct pci_dev *d)
{
	virtio_vhost_irq_changed(to_virtio_dev(d));
}

static const struct pci_dev_ops virtio_pci_ops = {
	.reset = vpci_reset,
	.msix_changed = vpci_msix_changed,
	.bar_read = vpci_bar_read,
	.bar_write = vpci_bar_write,
	.bar_map = vpci_bar_map,
	.cfg_read = vpci_cfg_read,
	.cfg_write = vpci_cfg_write,
};

/* ---- building the function ---- */

static int add_vcap(struct virtio_dev *vd, uint8_t type, uint32_t off, uint32_t len,
		    const void *extra, unsigned extra_len)
{
	uint8_t buf[sizeof(struct virtio_pci_cap) + 8] = { 0 };
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = (uint8_t)(sizeof(cap) + extra_len),
		.cfg_type = type,
		.bar = MODERN_BAR,
		.offset = off,
		.length = len,
	};

	memcpy(buf, &cap, sizeof(cap));
	if (extra_len)
		memcpy(buf + sizeof(cap), extra, extra_len);
	return pci_dev_add_cap(&vd->pci, buf, sizeof(cap) + extra_len);
}

static int add_caps(struct virtio_dev *vd)
{
	uint32_t mult = NOTIFY_MULT;
	uint8_t data[4] = { 0 };
	int off;

	if (add_vcap(vd, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, COMMON_LEN, NULL, 0) < 0 ||
	    add_vcap(vd, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF,
		     (uint32_t)vd->nqueues * NOTIFY_MULT, &mult, sizeof(mult)) < 0 ||
	    add_vcap(vd, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, ISR_LEN, NULL, 0) < 0)
		return -ENOSPC;
	if (vd->config_size &&
	    add_vcap(vd, VIRTIO_PCI_CAP_DEVICE_CFG, DEVCFG_OFF, vd->config_size, NULL, 0) < 0)
		return -ENOSPC;
	/* The PCI_CFG window: bar, offset and length are the driver's to set. */
	off = add_vcap(vd, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, data, sizeof(data));
	if (off < 0)
		return -ENOSPC;
	vd->pci_cfg_cap = (uint8_t)off;
	static const uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };
	pci_dev_set_wmask(&vd->pci, (unsigned)off + offsetof(struct virtio_pci_cap, bar), ones, 1);
	pci_dev_set_wmask(&vd->pci, (unsigned)off + offsetof(struct virtio_pci_cap, offset), ones,
			  4);
	pci_dev_set_wmask(&vd->pci, (unsigned)off + offsetof(struct virtio_pci_cap, length), ones,
			  4);
	pci_dev_claim_cfg(&vd->pci, (unsigned)off + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data),
			  4);
	return 0;
}

int virtio_dev_init(struct virtio_dev *vd, const struct devemu_ctx *ctx,
		    const struct virtio_dev_params *p)
{
	const struct virtio_ops *ops = p->ops;
	int ret;

	if (p->nqueues < 1 || p->queue_max == 0 || (p->queue_max & (p->queue_max - 1)) ||
	    p->config_size > DEVCFG_MAX || (uint64_t)p->nqueues * NOTIFY_MULT > 0x1000)
		return -EINVAL;
	vd->ops = ops;
	vd->ctx = *ctx;
	vd->loop = p->loop ? p->loop : ctx->loop;
	vd->host_features = p->features | TRANSPORT_FEATURES;
	if (p->packed)
		vd->host_features |= 1ULL << VIRTIO_F_RING_PACKED;
	vd->config = p->config;
	vd->config_size = p->config_size;
	vd->nqueues = p->nqueues;
	vd->rl = (struct ratelimit)RATELIMIT_INIT;
	vd->queues = calloc((size_t)p->nqueues, sizeof(*vd->queues));
	if (!vd->queues)
		return -ENOMEM;
	for (int i = 0; i < p->nqueues; i++) {
		struct virtio_queue *q = &vd->queues[i];

		q->dev = vd;
		q->index = i;
		q->max_size = p->queue_max;
		q->kick_fd = -1;
		q->holdoff.fd = -1;
		q->holdoff.poll = p->poll;
		if (q->holdoff.poll.mode == VIRTIO_POLL_UNSET)
			q->holdoff.poll = (struct virtio_poll){ .mode = ctx->default_poll_mode,
								.us = ctx->default_poll_us };
		if (q->holdoff.poll.mode == VIRTIO_POLL_UNSET)
			q->holdoff.poll.mode = VIRTIO_POLL_AUTO;
		queue_reset(q);
	}
	for (int i = 0; i < p->nqueues; i++) {
		struct virtio_queue *q = &vd->queues[i];

		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0) {
			ret = -errno;
			goto err;
		}
		virtio_queue_watch_kicks(q, true);
		ret = virtio_queue_pacing_init(q);
		if (!q->kick_watched || ret) {
			ret = ret ? ret : -ENOMEM;
			goto err;
		}
	}

	vd->transitional = p->transitional;
	if (vd->transitional && !virtio_transitional_id(ops->device_type)) {
		ret = -EOPNOTSUPP;
		goto err;
	}
	if (vd->transitional)
		/* 4.1.2.1: transitional IDs, revision 0, subsystem ID = device type. */
		pci_dev_init(&vd->pci, ops->name, VIRTIO_VENDOR,
			     virtio_transitional_id(ops->device_type), ops->pci_class, 0,
			     VIRTIO_VENDOR, ops->device_type);
	else
		pci_dev_init(&vd->pci, ops->name, VIRTIO_VENDOR,
			     (uint16_t)(VIRTIO_MODERN_DEVICE_BASE + ops->device_type),
			     ops->pci_class, 1 /* 4.1.2.1: non-transitional revision */,
			     VIRTIO_VENDOR, VIRTIO_MODERN_SUBSYS_ID);
	vd->pci.ops = &virtio_pci_ops;
	ret = pci_dev_add_bar(&vd->pci, MODERN_BAR, PCI_BAR_MEM64, MODERN_BAR_SIZE, true);
	if (!ret && vd->transitional)
		ret = pci_dev_add_bar(&vd->pci, LEGACY_BAR, PCI_BAR_IO,
				      virtio_legacy_bar_size(p->config_size), false);
	if (ret)
		goto err;
	vd->use_msix = ctx->caps.msi;
	if (vd->use_msix) {
		/* One vector for config changes plus one per queue. */
		ret = pci_dev_add_bar(&vd->pci, MSIX_BAR, PCI_BAR_MEM32, 0x1000, false);
		if (!ret)
			ret = pci_msix_init(&vd->pci, p->nqueues + 1, MSIX_BAR, 0, 0x800);
		if (ret)
			goto err;
	}
	/* INTx is always there for drivers that do not enable MSI-X. */
	pci_dev_set_intx_pin(&vd->pci, 1);
	ret = add_caps(vd);
	if (ret)
		goto err;
	device_reset(vd);
	return 0;
err:
	virtio_dev_fini(vd);
	return ret;
}

void virtio_dev_fini(struct virtio_dev *vd)
{
	if (vd->queues) {
		route_kicks(vd, MODERN_BAR, false);
		route_kicks(vd, LEGACY_BAR, false);
	}
	for (int i = 0; vd->queues && i < vd->nqueues; i++) {
		struct virtio_queue *q = &vd->queues[i];

		if (q->kick_fd >= 0) {
			virtio_queue_watch_kicks(q, false);
			close(q->kick_fd);
		}
		virtio_queue_pacing_fini(q);
		vq_reset(&q->vq); /* (a packed ring holds a table of its ids in flight) */
	}
	free(vd->queues);
	vd->queues = NULL;
	pci_msix_fini(&vd->pci);
}

bool virtio_pci_function(const struct pci_dev *d)
{
	return d->ops == &virtio_pci_ops;
}

/* ---- guest RAM map changes ---- */

void virtio_mem_changed(struct vdm *vdm)
{
	/*
	 * VBS-U queues hold host pointers to their rings, taken when the
	 * queue was enabled.  After the hypervisor maps guest RAM anew those
	 * may point at memory that is no longer the guest's ring (or no longer
	 * the guest's at all): look every ring up again.  Rings a vhost
	 * back-end runs are virtio_vhost_mem_changed's.
	 */
	for (int i = 0; i < vdm->ndevices; i++) {
		struct pci_dev *d = vdm->devices[i].dev;
		struct virtio_dev *vd;

		if (!d || d->ops != &virtio_pci_ops)
			continue;
		vd = to_virtio_dev(d);
		pci_dev_lock(d);
		for (int qi = 0; qi < vd->nqueues; qi++) {
			struct virtio_queue *q = &vd->queues[qi];

			if (!q->enabled || virtio_vhost_owns(q) || vq_remap(&q->vq) == 0)
				continue;
			virtio_dev_needs_reset(vd, q->vq.error);
		}
		pci_dev_unlock(d);
	}
}
