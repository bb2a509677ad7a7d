#!/bin/sh
# tests/guest/net.sh with the NIC on packed=off: the guest's virtio_net must
# run the split ring and pass the same traffic checks.
NET_PACKED=off exec sh "$VDM_SRCDIR/tests/guest/net.sh"
