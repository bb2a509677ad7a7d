/*
 * virtio_legacy.c - the legacy virtio-pci interface of transitional devices
 * (virtio 1.2, 4.1.4.8): an I/O BAR with 32-bit features, a page-number
 * queue address and fixed-size queues, for drivers older than virtio 1.0.
 *
 * Layout of BAR0 (little-endian):
 *   0x00 device features  0x04 driver features  0x08 queue PFN
 *   0x0c queue size       0x0e queue select     0x10 queue notify
 *   0x12 device status    0x13 ISR
 *   with MSI-X enabled: 0x14 config vector, 0x16 queue vector, config at 0x18;
 *   otherwise config at 0x14.
 */
#include "virtio_internal.h"

#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#define LEGACY_PAGE_SHIFT 12 /* queue PFN unit */
#define LEGACY_ALIGN 4096    /* used ring alignment in the legacy layout */

enum {
	L_HOST_FEATURES = 0x00,
	L_GUEST_FEATURES = 0x04,
	L_QUEUE_PFN = 0x08,
	L_QUEUE_NUM = 0x0c,
	L_QUEUE_SEL = 0x0e,
	L_QUEUE_NOTIFY = 0x10,
	L_STATUS = 0x12,
	L_ISR = 0x13,
	L_MSIX_CONFIG = 0x14,
	L_MSIX_QUEUE = 0x16,
};

uint16_t virtio_transitional_id(uint16_t type)
{
	/* 4.1.2.1 table: transitional PCI device IDs by virtio device type. */
	switch (type) {
	case VIRTIO_ID_NET:
		return 0x1000;
	case VIRTIO_ID_BLOCK:
		return 0x1001;
	case VIRTIO_ID_BALLOON:
		return 0x1002;
	case VIRTIO_ID_CONSOLE:
		return 0x1003;
	case VIRTIO_ID_SCSI:
		return 0x1004;
	case VIRTIO_ID_RNG:
		return 0x1005;
	case VIRTIO_ID_9P:
		return 0x1009;
	default:
		return 0;
	}
}

uint32_t virtio_legacy_bar_size(uint32_t config_size)
{
	uint32_t need = 0x18 + config_size, size = 32;

	while (size < need)
		size <<= 1;
	return size;
}

static unsigned config_base(const struct virtio_dev *vd)
{
	return vd->use_msix && pci_msix_enabled(&vd->pci) ? 0x18 : 0x14;
}

static void set_pfn(struct virtio_dev *vd, struct virtio_queue *q, uint32_t pfn)
{
	/*
	 * A live queue keeps its ring, as through the modern interface: PFN 0
	 * ("deactivate") included.  Legacy drivers write 0 after a reset, when
	 * the queue is already disabled, so nothing they do is lost.
	 */
	if (virtio_queue_locked(vd, q, "legacy queue PFN") || pfn == 0)
		return;
	/*
	 * The legacy interface knows only the split layout.  A driver that
	 * took the packed ring through the modern interface and sets a queue
	 * up here mixes the two: which layout would the ring have?
	 */
	if (virtio_has_feature(vd, VIRTIO_F_RING_PACKED)) {
		virtio_dev_needs_reset(vd, "legacy queue PFN written with the packed ring negotiated");
		return;
	}
	/* Legacy queues have the device's size and the 0.9.5 layout. */
	q->size = q->max_size;
	q->desc_gpa = (uint64_t)pfn << LEGACY_PAGE_SHIFT;
	q->avail_gpa = q->desc_gpa + 16ULL * q->size;
	q->used_gpa = (q->avail_gpa + 6 + 2ULL * q->size + LEGACY_ALIGN - 1) &
		      ~(uint64_t)(LEGACY_ALIGN - 1);
	virtio_queue_enable(vd, q);
}

uint64_t virtio_legacy_read(struct virtio_dev *vd, uint64_t off, unsigned size)
{
	struct virtio_queue *q = virtio_selected_queue(vd);
	unsigned cfg = config_base(vd);

	if (off >= cfg) {
		uint64_t val = 0;

		if (off - cfg + size <= vd->config_size)
			memcpy(&val, vd->config + (off - cfg), size);
		return val;
	}
	switch (off) {
	case L_HOST_FEATURES:
		return (uint32_t)vd->host_features;
	case L_GUEST_FEATURES:
		return (uint32_t)vd->guest_features;
	case L_QUEUE_PFN:
		return q && q->enabled ? (uint32_t)(q->desc_gpa >> LEGACY_PAGE_SHIFT) : 0;
	case L_QUEUE_NUM:
		return q ? q->max_size : 0;
	case L_QUEUE_SEL:
		return vd->queue_select;
	case L_STATUS:
		return vd->status;
	case L_ISR:
		return virtio_read_isr(vd);
	case L_MSIX_CONFIG:
		return vd->msix_config;
	case L_MSIX_QUEUE:
		return q ? q->msix_vector : VIRTIO_NO_VECTOR;
	}
	return 0;
}

void virtio_legacy_write(struct virtio_dev *vd, uint64_t off, unsigned size, uint64_t val)
{
	struct virtio_queue *q = virtio_selected_queue(vd);
	unsigned cfg = config_base(vd);

	if (off >= cfg) {
		if (off - cfg + size <= vd->config_size && vd->ops->cfg_write)
			vd->ops->cfg_write(vd, (unsigned)(off - cfg), size, val);
		return;
	}
	switch (off) {
	case L_GUEST_FEATURES:
		vd->legacy_mode = true;
		if (!(vd->status & VIRTIO_CONFIG_S_DRIVER_OK))
			vd->guest_features = (uint32_t)val;
		return;
	case L_QUEUE_PFN:
		if (!q)
			virtio_guest_error(vd, "%s: legacy PFN for absent queue %u", vd->ops->name,
					   vd->queue_select);
		else
			set_pfn(vd, q, (uint32_t)val);
		return;
	case L_QUEUE_SEL:
		vd->queue_select = (uint16_t)val;
		return;
	case L_QUEUE_NOTIFY:
		/* Reached only when the ioeventfd did not take the write. */
		if (val < (uint64_t)vd->nqueues)
			virtio_queue_kicked(&vd->queues[val]);
		return;
	case L_STATUS:
		vd->legacy_mode = true;
		virtio_write_status(vd, (uint8_t)val);
		return;
	case L_MSIX_CONFIG:
		if (vd->use_msix && pci_msix_enabled(&vd->pci))
			vd->msix_config = virtio_checked_vector(vd, (uint16_t)val);
		return;
	case L_MSIX_QUEUE:
		if (q && vd->use_msix && pci_msix_enabled(&vd->pci))
			q->msix_vector = virtio_checked_vector(vd, (uint16_t)val);
		return;
	}
}
