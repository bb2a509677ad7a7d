#!/bin/sh
# Real-guest figures: the test guest (Linux under QEMU TCG) runs timed dd on
# /dev/vda twice in one run, on the same tmpfs image: once with vdm's
# virtio-blk (VBS-U) behind QEMU's x-pci-proxy-dev, once with QEMU's own
# built-in virtio-blk-pci.  Prints MB/s and ops/s and the vdm / QEMU ratios.
#   bench/guest.sh BUILDDIR
# vdm's device gets INTx only through the proxy, and under TCG that
# interrupt is found by the guest's timer tick (irqpoll, 250 Hz): each
# request waits up to 4 ms for its completion to be noticed.  These figures
# measure that limit more than vdm's data path (see bench/README.md).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
guest=${VDM_GUEST_DIR:-/var/cache/vdm-guest}
"$top/samples/guest/build-image.sh" >/dev/null
dir=$(mktemp -d /tmp/vdm-bench-guest-XXXXXX)
trap 'rm -rf "$dir" /dev/shm/vdm-bench-guest-$$.img' EXIT
img=/dev/shm/vdm-bench-guest-$$.img
truncate -s 64M "$img"
append="console=ttyS0 panic=-1 irqpoll nolapic_timer hpet=disable nohz=off vdm.run=bench"

VDM=$build/devicemodel/vdm "$top/samples/guest/boot-guest.sh" -o "$dir/vdm" -t 600 -r bench -- \
	-m 256M -s 4,virtio-blk,"$img" >/dev/null 2>&1 || echo "vdm run: exit $?" >&2
mkdir -p "$dir/qemu"
timeout -k 10 600 qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp 1 -m 256M \
	-display none -vga none -monitor none -nic none -no-reboot \
	-serial "file:$dir/qemu/console.log" -kernel "$guest/vmlinuz" \
	-initrd "$guest/initramfs.cpio.gz" -append "$append" \
	-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=threads" \
	-device virtio-blk-pci,drive=d0,addr=4 </dev/null >/dev/null 2>&1 ||
	echo "QEMU run: exit $?" >&2

val() { # run key field
	tr -d '\r' <"$dir/$1/console.log" | sed -n "s/^VDM: bench $2 .*$3=\([0-9]*\).*/\1/p" | head -n1
}
rate() { # bytes ms -> MB/s
	[ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt 0 ] && awk -v b="$1" -v m="$2" 'BEGIN { printf "%.1f", b / 1048576 / (m / 1000) }' || echo "-"
}
ops() { # ops ms -> ops/s
	[ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt 0 ] && awk -v o="$1" -v m="$2" 'BEGIN { printf "%.0f", o / (m / 1000) }' || echo "-"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else printf "-" }'; }

echo
echo "3. Real guest (Linux 6.1 under QEMU TCG), dd on /dev/vda, 64 MiB tmpfs image"
printf '%-28s %14s %14s %8s\n' "workload" "vdm (proxy)" "QEMU built-in" "ratio"
for w in seqread seqwrite; do
	a=$(rate "$(val vdm $w bytes)" "$(val vdm $w ms)")
	b=$(rate "$(val qemu $w bytes)" "$(val qemu $w ms)")
	printf '%-28s %11s MB/s %9s MB/s %8s\n' "$w, 1 MiB direct" "$a" "$b" "$(ratio "$a" "$b")"
done
a=$(ops "$(val vdm randread ops)" "$(val vdm randread ms)")
b=$(ops "$(val qemu randread ops)" "$(val qemu randread ms)")
printf '%-28s %9s ops/s %8s ops/s %8s\n' "randread, 4 KiB, dd each" "$a" "$b" "$(ratio "$a" "$b")"
echo "vdm's device is INTx-only through x-pci-proxy-dev and, under TCG, its completions are"
echo "seen on the guest's 250 Hz timer tick (irqpoll); QEMU's own device uses MSI-X."
for r in vdm qemu; do
	grep -q "^VDM: FAIL" "$dir/$r/console.log" 2>/dev/null &&
		{ echo "$r run: the guest reported:"; grep "^VDM: FAIL" "$dir/$r/console.log"; }
done
exit 0
