#!/bin/sh
# tests/guest/net.sh with the NIC routed by vhost=user: to DPDK's vhost PMD
# (testpmd, forwarding to a TAP of its own): a real guest, a real peer.
NET_PEER=testpmd exec sh "$VDM_SRCDIR/tests/guest/net.sh"
