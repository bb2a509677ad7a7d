#!/bin/sh
# A real Linux guest (QEMU TCG, x-pci-proxy-dev) drives vdm's virtio-blk and
# virtio-rnd with its own drivers: the devices enumerate with vendor 0x1af4
# and modern IDs, the guest reads the whole disk and its checksum matches the
# host's, writes a second pattern with direct I/O and sync that the host
# finds in the image after power-off, and reads 64 KiB from /dev/hwrng
# through virtio_rng.  Both offer the packed ring by default, and the
# guest's drivers must have negotiated it (bit 34 in
# /sys/bus/virtio/devices/*/features).
set -eu
dir=$(mktemp -d /tmp/vdm-guest-blk-XXXXXX)
trap 'rm -rf "$dir"' EXIT
size=$((16 * 1024 * 1024))

# The first pattern: every 4 KiB block names its own number.
i=0
while [ $i -lt $((size / 4096)) ]; do
	printf 'vdm block %08d\n' $i
	i=$((i + 1))
done | awk '{ printf "%-4095s\n", $0 }' >"$dir/disk.img"
truncate -s $size "$dir/disk.img"
host_sum=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
want_sum=$(yes vdm-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,blk,rng -a vdm.blkwrite=1 -- \
	-m 256M -s 0:0,hostbridge -s 4,virtio-blk,"$dir/disk.img" -s 5,virtio-rnd || status=$?

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "virtio-blk enumerates as 1af4:1042, bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x1042 driver=virtio-pci"
check "virtio-rnd enumerates as 1af4:1044, bound to virtio-pci" \
	"^VDM: pci 0000:00:05.0 vendor=0x1af4 device=0x1044 driver=virtio-pci"
check "virtio-blk runs the packed ring (VIRTIO_F_RING_PACKED negotiated)" \
	"^VDM: ring pci=0000:00:04.0 .* layout=packed"
check "virtio-rnd runs the packed ring (VIRTIO_F_RING_PACKED negotiated)" \
	"^VDM: ring pci=0000:00:05.0 .* layout=packed"
check "guest sees the disk's size" "^VDM: blk dev=vda pci=0000:00:04.0 size=$size "
check "guest reads the host's pattern (sha256 matches)" \
	"^VDM: blk dev=vda pci=0000:00:04.0 size=$size sha256=$host_sum"
check "guest reads back its own write" "^VDM: blkwrite dev=vda pci=0000:00:04.0 sha256=$want_sum"
check "hwrng is virtio_rng and gave 64 KiB" "^VDM: rng current=virtio_rng.* bytes=65536"
img_sum=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
[ "$img_sum" = "$want_sum" ] && echo "ok: the image holds the guest's pattern after power-off" ||
	{ echo "FAIL: image checksum $img_sum, expected $want_sum"; fail=1; }
guest_checks_end
