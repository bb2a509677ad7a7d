#!/bin/sh
# vdm-vhost-user serving virtio-net on a TAP in a private network namespace,
# with vdm's own NIC routed to it (vhost=user:): test_virtio_net's traffic
# (ARP and a 4000-byte ping answered by Linux's stack, frames waiting in the
# TAP while the guest has no buffers, a transmitted frame on the TAP), a
# broken transmit chain the daemon refuses, frames sent while no vdm is
# connected (they wait in the TAP), and a second vdm on the same daemon that
# gets them first.  Needs root (the namespace and the TAP).
VDM_TEST_NET_DAEMON=1 exec "$VDM_BUILDDIR/tests/sim/test_virtio_net"
