#!/bin/sh
# The qemu back-end with a vhost-routed device while QEMU's memory map
# changes (fake-qemu's vhost-remap scenario, against qemu-storage-daemon):
# when guest RAM grows under a running ring, vdm gives the back-end the new
# memory table, so a buffer in the new region is served; when RAM under the
# ring moves, the device goes to DEVICE_NEEDS_RESET instead of leaving the
# back-end with stale ring addresses.
set -eu
command -v qemu-storage-daemon >/dev/null ||
	{ echo "SKIP: qemu-storage-daemon is not installed (Debian: qemu-system-common)"; exit 77; }
dir=$(mktemp -d /tmp/vdm-remap-XXXXXX)
qsd=
cleanup() {
	if [ -n "$qsd" ]; then kill "$qsd" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
truncate -s 8M "$dir/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=d0,filename=$dir/disk.img" \
	--export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$dir/blk.sock,writable=on" \
	>"$dir/qsd.log" 2>&1 &
qsd=$!
i=0
while [ ! -S "$dir/blk.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
status=0
FAKE_QEMU_SCENARIO=vhost-remap timeout 60 "$VDM" --hsm qemu -m 64M --log-file "$dir/vdm.log" \
	-s 4,virtio-blk,vhost=user:"$dir/blk.sock" -- "$VDM_BUILDDIR/tests/qemu/fake-qemu" \
	>"$dir/fake.out" 2>&1 || status=$?
cat "$dir/fake.out"
fail=0
grep -q FAIL "$dir/fake.out" && fail=1
[ $status -eq 7 ] || { echo "FAIL: vdm exited $status, expected fake-qemu's 7"; fail=1; }
# The write into the new region reached the image (sector 8, 4 KiB).
want=$(awk 'BEGIN { for (i = 0; i < 4096; i++) printf "%c", (i * 7 + 3) % 256 }' | od -An -tx1 | tr -d ' \n')
got=$(dd if="$dir/disk.img" bs=512 skip=8 count=8 status=none | od -An -tx1 | tr -d ' \n')
[ "$got" = "$want" ] && echo "ok: the image holds the buffer written from the new region" ||
	{ echo "FAIL: the image does not hold the buffer written from the new region"; fail=1; }
[ $fail -ne 0 ] && { echo "---- vdm log"; cat "$dir/vdm.log"; echo "---- qsd"; cat "$dir/qsd.log"; }
exit $fail
