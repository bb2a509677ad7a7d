#!/bin/sh
# pciutils decodes vdm's config space: the test driver assigns BARs and dumps
# what the guest reads from virtio-blk and virtio-rnd, and `lspci -vvv -F`
# must decode the header, both BARs, MSI-X and every virtio capability.
set -eu
dir=$(mktemp -d /tmp/vdm-lspci-XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
truncate -s 8M "$dir/disk.img"
# VDM_TEST_HSM=acrn: the same over the acrn back-end and its HSM model.
hsm=sim
[ "${VDM_TEST_HSM:-sim}" = acrn ] && hsm=acrn:model
echo "vdm on --hsm $hsm"
"$VDM" --hsm "$hsm:$dir/sim.sock" -s 0:0,hostbridge -s 3,virtio-blk,"$dir/disk.img" \
	-s 4,virtio-rnd 2>"$dir/vdm.log" &
pid=$!
i=0
while [ ! -S "$dir/sim.sock" ]; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "vdm did not start"; cat "$dir/vdm.log"; exit 1; }
	sleep 0.02
done
"$VDM_BUILDDIR/tests/driver/vdm-enum" --dump "$dir/dump" "$dir/sim.sock" >/dev/null
lspci -vvv -F "$dir/dump" 2>/dev/null >"$dir/decoded"
cat "$dir/decoded"
fail=0
check() { # description, pattern
	if grep -q -- "$2" "$dir/decoded"; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; fail=1; fi
}
section() { # slot: print the lines of that function
	awk -v s="$1" '/^[0-9a-f][0-9a-f]:/{on = index($0, s) == 1} on' "$dir/decoded"
}
check "host bridge decoded" "^00:00.0 Host bridge: Intel Corporation 440FX"
for fn in 00:03.0 00:04.0; do
	section $fn >"$dir/decoded.$fn"
	c() { if grep -q -- "$2" "$dir/decoded.$fn"; then echo "ok: $fn $1"; else echo "FAIL: $fn $1 ($2)"; fail=1; fi; }
	c "Red Hat subsystem" "Subsystem: Red Hat, Inc."
	c "memory decode and bus mastering on" "Control: I/O+ Mem+ BusMaster+"
	c "interrupt pin A" "Interrupt: pin A"
	c "MSI-X BAR assigned" "Region 1: Memory at c[0-9a-f]* (32-bit, non-prefetchable)"
	c "virtio BAR assigned" "Region 4: Memory at [0-9a-f]* (64-bit, prefetchable)"
	c "MSI-X capability" "MSI-X: Enable- Count=2 Masked-"
	c "MSI-X table in BAR1" "Vector table: BAR=1 offset=00000000"
	c "MSI-X PBA in BAR1" "PBA: BAR=1 offset=00000800"
	c "CommonCfg" "VirtIO: CommonCfg"
	c "Notify" "VirtIO: Notify"
	c "notify multiplier" "multiplier=00000004"
	c "ISR" "VirtIO: ISR"
done
check "virtio-blk identified" "^00:03.0 .*Virtio 1.0 block device (rev 01)"
check "virtio-rnd identified" "^00:04.0 .*Virtio 1.0 RNG (rev 01)"
grep -q "VirtIO: DeviceCfg" "$dir/decoded.00:03.0" && echo "ok: virtio-blk DeviceCfg" ||
	{ echo "FAIL: virtio-blk DeviceCfg"; fail=1; }
kill -TERM $pid
wait $pid || { echo "FAIL: vdm exit status $?"; fail=1; }
exit $fail
