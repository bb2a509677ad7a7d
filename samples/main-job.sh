#!/bin/sh
# The main job: build vdm and the test guest, boot a real Linux guest under
# QEMU (TCG) with vdm serving it a virtio-blk disk and a virtio-rnd device
# through QEMU's x-pci-proxy-dev, and print what the guest saw.
#   samples/main-job.sh [WORKDIR]     (WORKDIR keeps the disk image and logs)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/samples/setup.sh" "$top/build" >&2
work=${1:-$(mktemp -d /tmp/vdm-main-job-XXXXXX)}
mkdir -p "$work"
size=$((16 * 1024 * 1024))

# A disk whose 4 KiB blocks each name their number, so a wrong read shows.
i=0
while [ $i -lt $((size / 4096)) ]; do
	printf 'vdm block %08d\n' $i
	i=$((i + 1))
done | awk '{ printf "%-4095s\n", $0 }' >"$work/disk.img"
host_sum=$(sha256sum <"$work/disk.img" | cut -d' ' -f1)
want_sum=$(yes vdm-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

echo "Booting a Linux guest under QEMU TCG with vdm serving 00:04.0 virtio-blk and"
echo "00:05.0 virtio-rnd (this takes about half a minute)..."
status=0
VDM=$top/build/devicemodel/vdm "$top/samples/guest/boot-guest.sh" -o "$work" -t 400 \
	-r enum,blk,rng -a vdm.blkwrite=1 -- \
	-m 256M -s 0:0,hostbridge -s 4,virtio-blk,"$work/disk.img" -s 5,virtio-rnd || status=$?
img_sum=$(sha256sum <"$work/disk.img" | cut -d' ' -f1)

console=$work/console.log
field() { # line-prefix key: the value of key= on the first console line with that prefix
	tr -d '\r' <"$console" | sed -n "s/^VDM: $1 .*$2=\([^ ]*\).*/\1/p" | head -n1
}
verdict=PASS
say() { # label, good?, text
	if [ "$2" = yes ]; then mark=ok; else mark=FAIL; verdict=FAIL; fi
	printf '  %-6s %-22s %s\n' "$mark" "$1" "$3"
}
echo
echo "What the guest saw (its console: $console, vdm's log: $work/vdm.log):"
tr -d '\r' <"$console" | grep "^VDM: pci " | while read -r _ _ addr vendor device driver; do
	printf '         %-22s %s %s %s\n' "PCI ${addr#0000:}" "$vendor" "$device" "$driver"
done
bsize=$(field blk size)
gsum=$(field blk sha256)
wsum=$(field blkwrite sha256)
rcur=$(field rng current)
rbytes=$(field rng bytes)
rdist=$(field rng distinct)
[ "$gsum" = "$host_sum" ] && ok=yes || ok=no
say "disk read" $ok "${bsize:-?} bytes, guest sha256 ${gsum:-none} $([ $ok = yes ] && echo = || echo '!=') host's"
[ "$wsum" = "$want_sum" ] && [ "$img_sum" = "$want_sum" ] && ok=yes || ok=no
say "disk write (O_DIRECT)" $ok "guest's pattern is in the image after power-off: $([ $ok = yes ] && echo yes || echo no)"
case $rcur in virtio_rng*) [ "${rbytes:-0}" -eq 65536 ] && ok=yes || ok=no ;; *) ok=no ;; esac
say "hwrng" $ok "${rbytes:-0} bytes from ${rcur:-no rng}; ${rdist:-?} of 64 lines distinct"
[ $status -eq 0 ] && ok=yes || ok=no
say "power-off" $ok "vdm exited with QEMU's status $status"
tr -d '\r' <"$console" | grep "^VDM: FAIL" | sed 's/^VDM: /  guest: /' || true
echo "Result: $verdict"
[ $verdict = PASS ]
