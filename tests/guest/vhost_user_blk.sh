#!/bin/sh
# A real Linux guest with two disks side by side: 00:04.0 routed with
# vhost=user: to qemu-storage-daemon's vhost-user-blk export (a back-end we
# did not write), 00:05.0 served by VBS-U.  The guest reads each disk whole
# and its checksum must match the host's pattern for that disk; it then
# overwrites both with direct I/O and sync, and after power-off the host
# finds the guest's pattern in both image files.
set -eu
command -v qemu-storage-daemon >/dev/null ||
	{ echo "SKIP: qemu-storage-daemon is not installed (Debian: qemu-system-common)"; exit 77; }
dir=$(mktemp -d /tmp/vdm-guest-vublk-XXXXXX)
qsd=
cleanup() {
	if [ -n "$qsd" ]; then kill "$qsd" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
vu_size=$((16 * 1024 * 1024))
vb_size=$((8 * 1024 * 1024))

pattern() { # NAME BYTES: 4 KiB blocks that name the disk and their number
	i=0
	while [ $i -lt $(($2 / 4096)) ]; do
		printf '%s block %08d\n' "$1" $i
		i=$((i + 1))
	done | awk '{ printf "%-4095s\n", $0 }'
}
pattern vhost-user "$vu_size" >"$dir/vu.img"
pattern vbs-u "$vb_size" >"$dir/vb.img"
vu_sum=$(sha256sum <"$dir/vu.img" | cut -d' ' -f1)
vb_sum=$(sha256sum <"$dir/vb.img" | cut -d' ' -f1)
vu_want=$(yes vdm-guest-write | head -c $vu_size | sha256sum | cut -d' ' -f1)
vb_want=$(yes vdm-guest-write | head -c $vb_size | sha256sum | cut -d' ' -f1)

qemu-storage-daemon --blockdev "driver=file,node-name=disk0,filename=$dir/vu.img" \
	--export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$dir/blk.sock,writable=on" \
	>"$dir/qsd.log" 2>&1 &
qsd=$!
i=0
while [ ! -S "$dir/blk.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,blk -a vdm.blkwrite=1 -- \
	-m 256M -v -s 4,virtio-blk,vhost=user:"$dir/blk.sock" -s 5,virtio-blk,"$dir/vb.img" ||
	status=$?
kill "$qsd" 2>/dev/null || true
wait "$qsd" 2>/dev/null || true
qsd=

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "both disks enumerate as 1af4:1042, bound to virtio-pci" \
	"^VDM: pci 0000:00:05.0 vendor=0x1af4 device=0x1042 driver=virtio-pci"
check "vhost-user disk: the guest reads the host's pattern (sha256 matches)" \
	"^VDM: blk dev=vd. pci=0000:00:04.0 size=$vu_size sha256=$vu_sum"
check "VBS-U disk: the guest reads the host's pattern (sha256 matches)" \
	"^VDM: blk dev=vd. pci=0000:00:05.0 size=$vb_size sha256=$vb_sum"
check "vhost-user disk: the guest reads back its own write" \
	"^VDM: blkwrite dev=vd. pci=0000:00:04.0 sha256=$vu_want"
check "VBS-U disk: the guest reads back its own write" \
	"^VDM: blkwrite dev=vd. pci=0000:00:05.0 sha256=$vb_want"
for d in vu:$vu_want vb:$vb_want; do
	got=$(sha256sum <"$dir/${d%%:*}.img" | cut -d' ' -f1)
	[ "$got" = "${d#*:}" ] && echo "ok: ${d%%:*}.img holds the guest's pattern after power-off" ||
		{ echo "FAIL: ${d%%:*}.img checksum $got, expected ${d#*:}"; fail=1; }
done
grep -q "data plane on user vhost" "$dir/vdm.log" &&
	echo "ok: vdm routed 00:04.0 to the vhost-user back-end" ||
	{ echo "FAIL: vdm's log does not show the vhost-user route"; fail=1; }
guest_checks_end qemu-storage-daemon "$dir/qsd.log"
