/*
 * virtio_blk.h - what vdm's virtio-blk (virtio_blk.c) lends vdm-vhost-user,
 * so that a disk served to another VMM is the disk vdm would serve: the
 * same options (devemu_virtio_blk's parser, its config passed here as
 * void *), the same image set-up and back-end, and the same features and
 * config space told to the driver.
 */
#ifndef VDM_VIRTIO_BLK_H
#define VDM_VIRTIO_BLK_H

#include "holdoff.h"
#include "vbsu.h"

#include <stddef.h>
#include <stdint.h>

struct virtio_blk_config;

/* Open the image a parsed virtio-blk config names, with its cache mode,
 * engine, block size, serial and locks, request slots for all its queues.
 * Returns 0, or -errno with a one-line reason in err. */
int vblk_open_image(const void *cfg, struct vbsu_blk *be, char *err, size_t errlen);

/* The request queues the config asks for (mq=N; 1 without). */
unsigned vblk_queues(const void *cfg);

/* The image path the config names. */
const char *vblk_image_path(const void *cfg);
/* poll= as given (UNSET when not). */
struct virtio_poll vblk_poll(const void *cfg);

/*
 * For a disk served outside vdm (vdm-vhost-user): refuse the options that
 * belong to vdm's PCI function or transport (vhost=, reconnect=,
 * transitional) or that it does not serve there (iothread, poll=).  0, or
 * -EINVAL with a one-line reason in err.
 */
int vblk_check_standalone(const void *cfg, char *err, size_t errlen);

/* The device features an open disk offers (block bits only; the
 * transport's ring bits are the caller's). */
uint64_t vblk_features(const struct vbsu_blk *be, unsigned nqueues);

/* Its config space (little-endian, as the driver reads it). */
void vblk_fill_config(struct virtio_blk_config *c, const struct vbsu_blk *be, unsigned nqueues);

#endif /* VDM_VIRTIO_BLK_H */
