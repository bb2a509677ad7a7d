/*
 * virtio_console.h - what vdm's virtio-console (virtio_console.c) lends
 * vdm-vhost-user, so that a console served to another VMM has the host
 * side vdm's would have: the same options (devemu_virtio_console's parser,
 * its config passed here as void *) and the same chardev.
 */
#ifndef VDM_VIRTIO_CONSOLE_H
#define VDM_VIRTIO_CONSOLE_H

#include "chardev.h"

#include <stddef.h>

/* Open the host side (stdio, pty, socket:PATH, tty:PATH, file:PATH) a parsed virtio-console
 * config names, on loop, with cbs called with opaque.  0 with *out set, or
 * -errno with a one-line reason in err. */
int vcon_open_host(const void *cfg, struct evloop *loop, const struct chardev_cbs *cbs,
		   void *opaque, struct chardev **out, char *err, size_t errlen);

/* For a console served outside vdm: refuse the options that belong to
 * vdm's PCI function or route (vhost=, reconnect=, transitional).  0, or
 * -EINVAL with a one-line reason in err. */
int vcon_check_standalone(const void *cfg, char *err, size_t errlen);

#endif /* VDM_VIRTIO_CONSOLE_H */
