#!/bin/sh
# A real Linux guest writes and reads back its virtio-blk in a loop (4 KiB
# blocks, direct I/O, each compared) while the host moves the disk's data
# plane 20 times between VBS-U and qemu-storage-daemon exporting the same
# image, through vdm's management API (vdmctl set-route).  Every switch
# must succeed, every guest round must compare right, the guest must log
# no I/O error, vdm no reset, and after power-off the image must hold the
# last pattern written to each block.  Both sides use the page cache and
# locking=off: two writers on one image, on purpose.  The disk keeps the
# split ring (packed=off): qsd's export has no packed ring.
set -eu
command -v qemu-storage-daemon >/dev/null ||
	{ echo "SKIP: qemu-storage-daemon is not installed (Debian: qemu-system-common)"; exit 77; }
dir=$(mktemp -d /tmp/vdm-guest-switch-XXXXXX)
qsd=
guest=
cleanup() {
	for p in $qsd $guest; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
vdmctl=$VDM_BUILDDIR/devicemodel/vdmctl
truncate -s $((16 * 1024 * 1024)) "$dir/disk.img"
qemu-storage-daemon \
	--blockdev "driver=file,node-name=d0,filename=$dir/disk.img,cache.direct=off,locking=off" \
	--export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$dir/qsd.sock,writable=on" \
	>"$dir/qsd.log" 2>&1 &
qsd=$!
. "$VDM_SRCDIR/tests/guest/lib.sh"
wait_socket "$dir/qsd.sock"

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,blkloop -a vdm.blkloop=30 -- \
	-m 256M --api-socket "$dir/api.sock" -s 4,virtio-blk,"$dir/disk.img",locking=off,packed=off &
guest=$!

# Switch once the guest's loop runs (its console says so).
i=0
until grep -q "VDM: blkloop start" "$dir/console.log" 2>/dev/null || [ $i -ge 1200 ]; do
	sleep 0.1; i=$((i + 1))
done
switched=0
failed=0
for n in $(seq 1 20); do
	sleep 0.5
	if [ $((n % 2)) -eq 1 ]; then route=vhost-user:$dir/qsd.sock; else route=vbs-u; fi
	if "$vdmctl" "$dir/api.sock" set-route 4:0 "$route" >>"$dir/switch.log" 2>&1; then
		switched=$((switched + 1))
	else
		failed=$((failed + 1))
	fi
done
"$vdmctl" "$dir/api.sock" query-stats 4 >>"$dir/switch.log" 2>&1 || true
wait "$guest" || status=$?
guest=
kill "$qsd" 2>/dev/null || true
wait "$qsd" 2>/dev/null || true
qsd=

guest_checks_begin $status
[ $switched -eq 20 ] && echo "ok: 20 live route switches while the guest did I/O" ||
	{ echo "FAIL: $switched of 20 route switches succeeded ($failed failed)"; fail=1; }
blkloop_checks
if grep -q "needs reset" "$dir/vdm.log"; then
	echo "FAIL: vdm put the device in DEVICE_NEEDS_RESET"; fail=1
else
	echo "ok: the device never needed a reset"
fi
guest_checks_end switches "$dir/switch.log" qemu-storage-daemon "$dir/qsd.log"
