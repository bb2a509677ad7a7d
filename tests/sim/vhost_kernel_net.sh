#!/bin/sh
# The kernel vhost transport: test_virtio_net's traffic (ARP, a 4000-byte
# ping over MRG_RXBUF, frames waiting for buffers, a transmitted frame on the
# TAP) with virtio-net's receive and transmit queues on /dev/vhost-net
# (vhost=kernel).  Runs where the kernel offers /dev/vhost-net (and inside
# the test guest: tests/guest/vhost_kernel.sh); elsewhere it
# is reported as skipped, with the reason.
if [ ! -c /dev/vhost-net ]; then
	echo "SKIP: /dev/vhost-net is absent (no vhost_net module on this kernel); tests/guest/vhost_kernel.sh runs this inside the test guest, whose kernel has it"
	exit 77
fi
VDM_TEST_NET_ROUTE=vhost=kernel exec "$VDM_BUILDDIR/tests/sim/test_virtio_net"
