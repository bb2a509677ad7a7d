#!/bin/sh
# The qemu back-end with a virtio-blk vdm serves itself (VBS-U) while QEMU's
# memory map changes (fake-qemu's vbsu-remap scenario): when guest RAM
# grows, a buffer in the new region is served; when RAM under the running
# ring moves with its contents, vdm looks the ring up again and serves the
# next request from where the guest now sees it (its data reaches the
# image); when the map no longer holds the ring, the device goes to
# DEVICE_NEEDS_RESET and vdm logs why.
set -eu
dir=$(mktemp -d /tmp/vdm-vbsu-remap-XXXXXX)
trap 'rm -rf "$dir"' EXIT
truncate -s 8M "$dir/disk.img"
status=0
FAKE_QEMU_SCENARIO=vbsu-remap timeout 60 "$VDM" --hsm qemu -m 64M --log-file "$dir/vdm.log" \
	-s 4,virtio-blk,"$dir/disk.img" -- "$VDM_BUILDDIR/tests/qemu/fake-qemu" \
	>"$dir/fake.out" 2>&1 || status=$?
cat "$dir/fake.out"
fail=0
grep -q FAIL "$dir/fake.out" && fail=1
[ $status -eq 7 ] || { echo "FAIL: vdm exited $status, expected fake-qemu's 7"; fail=1; }
want=$(awk 'BEGIN { for (i = 0; i < 4096; i++) printf "%c", (i * 7 + 3) % 256 }' | od -An -tx1 | tr -d ' \n')
got=$(dd if="$dir/disk.img" bs=512 skip=8 count=8 status=none | od -An -tx1 | tr -d ' \n')
[ "$got" = "$want" ] && echo "ok: the image holds the buffer written through the moved ring" ||
	{ echo "FAIL: the image does not hold the buffer written through the moved ring"; fail=1; }
grep -q "device needs reset: ring no longer usable in guest RAM after a memory map change" \
	"$dir/vdm.log" && echo "ok: vdm logged why the device needs a reset" ||
	{ echo "FAIL: no reset reason in vdm's log"; fail=1; }
[ $fail -ne 0 ] && { echo "---- vdm log"; cat "$dir/vdm.log"; }
exit $fail
