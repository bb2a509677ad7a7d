#!/bin/sh
# The split ring in a real Linux guest (QEMU TCG, x-pci-proxy-dev), now that
# vdm offers the packed ring by default: virtio-blk, virtio-rnd and
# virtio-console with packed=off.  The guest's drivers must run the split
# ring (bit 34 clear in /sys/bus/virtio/devices/*/features) and pass the
# usual checks: the disk read whole with the host's checksum and overwritten
# with direct I/O (the image holds the guest's pattern after power-off),
# 64 KiB from /dev/hwrng through virtio_rng, and a line each way on hvc0
# with the socket's client.  (tests/guest/net_split.sh does the NIC.)
set -eu
dir=$(mktemp -d /tmp/vdm-guest-split-XXXXXX)
cleanup() {
	[ -n "${peer:-}" ] && kill "$peer" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
size=$((16 * 1024 * 1024))
head -c $size /dev/urandom >"$dir/disk.img"
host_sum=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
want_sum=$(yes vdm-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

"$VDM_BUILDDIR/tests/guest/sockpeer" "$dir/con.sock" "VDM-CONSOLE-OUT hello-from-guest" \
	host-says-hi 400 >"$dir/peer.out" 2>"$dir/peer.err" &
peer=$!
status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,blk,rng,console \
	-a vdm.blkwrite=1 -- -m 256M -s 4,virtio-blk,"$dir/disk.img",packed=off \
	-s 5,virtio-rnd,packed=off -s 6,virtio-console,socket:"$dir/con.sock",packed=off ||
	status=$?
i=0
while kill -0 "$peer" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$peer" 2>/dev/null || true
peer_status=0
wait "$peer" || peer_status=$?
peer=

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "virtio-blk runs the split ring (packed=off)" "^VDM: ring pci=0000:00:04.0 .* layout=split"
check "virtio-rnd runs the split ring (packed=off)" "^VDM: ring pci=0000:00:05.0 .* layout=split"
check "virtio-console runs the split ring (packed=off)" \
	"^VDM: ring pci=0000:00:06.0 .* layout=split"
check "guest reads the host's data (sha256 matches)" \
	"^VDM: blk dev=vda pci=0000:00:04.0 size=$size sha256=$host_sum"
check "guest reads back its own write" "^VDM: blkwrite dev=vda pci=0000:00:04.0 sha256=$want_sum"
img_sum=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
[ "$img_sum" = "$want_sum" ] && echo "ok: the image holds the guest's pattern after power-off" ||
	{ echo "FAIL: image checksum $img_sum, expected $want_sum"; fail=1; }
check "hwrng is virtio_rng and gave 64 KiB" "^VDM: rng current=virtio_rng.* bytes=65536"
if [ $peer_status -eq 0 ] && grep -q "VDM-CONSOLE-OUT hello-from-guest" "$dir/peer.out"; then
	echo "ok: the socket's client read the guest's line from hvc0"
else
	echo "FAIL: the socket's client did not see the guest's line (status $peer_status)"
	fail=1
fi
check "the guest read the client's line from hvc0" "^VDM: console got=host-says-hi\$"
guest_checks_end "what the socket's client read" "$dir/peer.out" \
	"the socket's client's errors" "$dir/peer.err"
