#!/bin/sh
# A real Linux guest (QEMU TCG, x-pci-proxy-dev) on vdm's virtio-console with
# the host side on a UNIX socket: the device enumerates as 1af4:1043 bound to
# virtio-pci, the guest writes "VDM-CONSOLE-OUT hello-from-guest" to
# /dev/hvc0 and sockpeer, the socket's client, sees it; sockpeer answers
# "host-says-hi" and the guest reads that line back from /dev/hvc0.  The
# device offers the packed ring by default and the guest's driver must have
# negotiated it (bit 34 in /sys/bus/virtio/devices/*/features).
set -eu
dir=$(mktemp -d /tmp/vdm-guest-con-XXXXXX)
cleanup() {
	[ -n "${peer:-}" ] && kill "$peer" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# The client waits for the socket vdm creates at start and stays until vdm
# closes it (or 400 s pass).
"$VDM_BUILDDIR/tests/guest/sockpeer" "$dir/con.sock" "VDM-CONSOLE-OUT hello-from-guest" \
	host-says-hi 400 >"$dir/peer.out" 2>"$dir/peer.err" &
peer=$!
status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,console -- \
	-m 256M -s 6,virtio-console,socket:"$dir/con.sock" || status=$?
# vdm is gone, so the client sees end of file; do not wait for one that hangs.
i=0
while kill -0 "$peer" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$peer" 2>/dev/null || true
peer_status=0
wait "$peer" || peer_status=$?
peer=

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "virtio-console enumerates as 1af4:1043, bound to virtio-pci" \
	"^VDM: pci 0000:00:06.0 vendor=0x1af4 device=0x1043 driver=virtio-pci"
check "virtio-console runs the packed ring (VIRTIO_F_RING_PACKED negotiated)" \
	"^VDM: ring pci=0000:00:06.0 .* layout=packed"
if [ $peer_status -eq 0 ] && grep -q "VDM-CONSOLE-OUT hello-from-guest" "$dir/peer.out"; then
	echo "ok: the socket's client read the guest's line from hvc0"
else
	echo "FAIL: the socket's client did not see the guest's line (status $peer_status)"
	fail=1
fi
check "the guest read the client's line from hvc0" "^VDM: console got=host-says-hi\$"
guest_checks_end "what the socket's client read" "$dir/peer.out" \
	"the socket's client's errors" "$dir/peer.err"
