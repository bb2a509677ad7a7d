/*
 * virtio_net.h - what vdm's virtio-net (virtio_net.c) lends vdm-vhost-user,
 * so that a NIC served to another VMM is the NIC vdm would serve: the same
 * options (devemu_virtio_net's parser, its config passed here as void *),
 * the same TAP set-up and back-end (vbs-u/net.c), and the same features
 * and config space told to the driver.
 */
#ifndef VDM_VIRTIO_NET_H
#define VDM_VIRTIO_NET_H

#include "vbsu.h"

#include <stddef.h>
#include <stdint.h>

/*
 * For a NIC served outside vdm (vdm-vhost-user): refuse the options that
 * choose vdm's PCI function or route (vhost=, reconnect=, transitional)
 * or need vdm's slot (mac_seed=), and require tap=.  0, or -EINVAL with a
 * one-line reason in err.
 */
int vnet_check_standalone(const void *cfg, char *err, size_t errlen);

/* Open the TAP a parsed config names (vbsu_net_open: same checks, same
 * error lines).  0, or -errno with a one-line reason in err. */
int vnet_open_tap(const void *cfg, struct vbsu_net *be, char *err, size_t errlen);

/* The name of the TAP a parsed config names. */
const char *vnet_tap_name(const void *cfg);

/* The device features vdm's own VBS-U NIC offers on be's TAP with the
 * config's offloads= (MAC, STATUS, MRG_RXBUF, the control queue with its
 * receive filter and MAC command, and the TAP's offloads). */
uint64_t vnet_features(const void *cfg, const struct vbsu_net *be);

/* The TAP offloads (TUN_F_*) a driver that accepted features asks for. */
unsigned vnet_tap_offloads(uint64_t features);

/* The virtio-net header a driver that accepted features uses (bytes). */
unsigned vnet_hdr_len(uint64_t features);

/* The station address: mac= when given; else one derived from seed (stable
 * across runs, locally administered, unicast). */
void vnet_standalone_mac(const void *cfg, const char *seed, uint8_t mac[6]);

#endif /* VDM_VIRTIO_NET_H */
