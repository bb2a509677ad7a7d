/*
 * virtio_internal.h - what the modern transport (virtio_pci.c) and the
 * legacy interface (virtio_legacy.c) share.  Not for devices.
 */
#ifndef VDM_VIRTIO_INTERNAL_H
#define VDM_VIRTIO_INTERNAL_H

#include "virtio.h"

struct virtio_queue *virtio_selected_queue(struct virtio_dev *vd);
void virtio_queue_enable(struct virtio_dev *vd, struct virtio_queue *q);
/* The one rule for changing a queue, whichever interface the driver uses:
 * true (logged, the write is to be ignored) while q is enabled. */
bool virtio_queue_locked(struct virtio_dev *vd, struct virtio_queue *q, const char *what);
void virtio_queue_kicked(struct virtio_queue *q);
void virtio_write_status(struct virtio_dev *vd, uint8_t val);
uint8_t virtio_read_isr(struct virtio_dev *vd);
uint16_t virtio_checked_vector(struct virtio_dev *vd, uint16_t v);

void virtio_queue_interrupt(struct virtio_queue *q);
/* Give q a new kick eventfd (the notify ioeventfds move to it): whoever
 * holds the old one hears no more kicks.  Returns the old fd for the
 * caller to close, or -errno. */
int virtio_queue_new_kick_fd(struct virtio_queue *q);
/* Take q's kick eventfd on or off vdm's loop (off: a vhost back-end has it). */
void virtio_queue_watch_kicks(struct virtio_queue *q, bool on);

/* Pacing (virtio_pacing.c). */
int virtio_queue_pacing_init(struct virtio_queue *q);   /* the hold-off timer, on vd->loop */
void virtio_queue_pacing_reset(struct virtio_queue *q); /* disarm the hold-off */
void virtio_queue_pacing_fini(struct virtio_queue *q);

/* vhost glue (virtio_vhost.c), called by the transport. */
int virtio_vhost_start(struct virtio_dev *vd);   /* at DRIVER_OK */
void virtio_vhost_reset(struct virtio_dev *vd);  /* at device reset */
void virtio_vhost_irq_changed(struct virtio_dev *vd); /* MSI-X state or a vector changed */
bool virtio_vhost_owns(const struct virtio_queue *q); /* q runs on the back-end now */
/* Live switching (virtio_route.c): vv becomes vd's route (no ring started),
 * its rings stop (each base kept), and their next avail indexes. */
void virtio_vhost_link(struct virtio_dev *vd, struct virtio_vhost *vv);
void virtio_vhost_stop(struct virtio_vhost *vv);
void virtio_vhost_on_trial(struct virtio_vhost *vv, bool on); /* a loss: no reset */
unsigned virtio_vhost_nrings(const struct virtio_vhost *vv);
uint16_t virtio_vhost_base(const struct virtio_vhost *vv, unsigned i);
void virtio_vhost_set_base(struct virtio_vhost *vv, unsigned i, uint16_t base);
bool virtio_vhost_connected(const struct virtio_vhost *vv);
/* Ring i's part of the back-end's in-flight region (INFLIGHT_SHMFD), *len
 * bytes of it; NULL when there is none. */
const void *virtio_vhost_inflight_ring(const struct virtio_vhost *vv, unsigned i, size_t *len);
/* 0 once the back-end took every message so far (vhost_dev_sync), or -errno. */
int virtio_vhost_sync(struct virtio_vhost *vv);

/* Legacy interface. */
uint16_t virtio_transitional_id(uint16_t type);
uint32_t virtio_legacy_bar_size(uint32_t config_size);
uint64_t virtio_legacy_read(struct virtio_dev *vd, uint64_t off, unsigned size);
void virtio_legacy_write(struct virtio_dev *vd, uint64_t off, unsigned size, uint64_t val);

#endif /* VDM_VIRTIO_INTERNAL_H */
