#!/bin/sh
# Live switching to and from kernel vhost-net: test_net_route_switch with
# the other route on /dev/vhost-net (the NIC's own TAP), 20 switches while
# the driver pings the host.  Runs where the kernel offers /dev/vhost-net
# (and inside the test guest: tests/guest/vhost_kernel.sh); elsewhere it is
# reported as skipped, with the reason.
if [ ! -c /dev/vhost-net ]; then
	echo "SKIP: /dev/vhost-net is absent (no vhost_net module on this kernel); tests/guest/vhost_kernel.sh runs this inside the test guest, whose kernel has it"
	exit 77
fi
VDM_TEST_SWITCH_TO=vhost-kernel exec "$VDM_BUILDDIR/tests/sim/test_net_route_switch"
