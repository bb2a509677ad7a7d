#!/bin/sh
# vdm's block back-end behind a front-end we did not write: QEMU's own
# vhost-user-blk-pci (QEMU booted directly, no vdm in the VM) gets its disk
# from vdm-vhost-user.  Guest 1 reads the disk whole (its sha256 must be the
# host's pattern), then overwrites it with direct I/O and sync; after it
# powers off the host finds the guest's pattern in the image.  Guest 2, on
# the same daemon (the image stayed open), reads that pattern back.  Then the
# daemon stops on SIGTERM with status 0 and its socket removed.  Guest 3 has
# two vCPUs and QEMU's device two queues, on a daemon started with mq=2:
# both rings run and the disk reads the same.  QEMU negotiates STATUS with
# the daemon: its rings run from DRIVER_OK, and no status is refused.
set -eu
. "$VDM_SRCDIR/tests/guest/lib.sh"
qemu_guest_ready vhost-user-blk-pci
dir=$(mktemp -d /tmp/vdm-guest-vublk2-XXXXXX)
daemon=
cleanup() {
	if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
: >"$dir/vdm.log" # lib.sh shows vdm's log on failure: there is no vdm here
size=$((16 * 1024 * 1024))
i=0
while [ $i -lt $((size / 4096)) ]; do
	printf 'vdm-vhost-user block %08d\n' $i
	i=$((i + 1))
done | awk '{ printf "%-4095s\n", $0 }' >"$dir/disk.img"
host_sum=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
guest_sum=$(yes vdm-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

"$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/blk.sock" --log-file "$dir/daemon.log" \
	virtio-blk,"$dir/disk.img" &
daemon=$!
wait_socket "$dir/blk.sock"

boot() { # EXTRA-KERNEL-ARGS [VCPUS [DEVICE-OPTIONS]]
	qemu_shared_ram 400 "vdm.run=enum,blk $1" -smp "${2:-1}" \
		-chardev socket,id=blk0,path="$dir/blk.sock" \
		-device vhost-user-blk-pci,chardev=blk0,addr=4"${3:-}"
}

fail=0
status=0
boot vdm.blkwrite=1 || status=$?
qemu_exit_check "guest 1" "$status"
check "guest 1: vhost-user-blk-pci (transitional: QEMU's default) is a virtio-blk, bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x10\(01\|42\) driver=virtio-pci"
check "guest 1: reads the host's pattern (sha256 matches)" \
	"^VDM: blk dev=vda pci=0000:00:04.0 size=$size sha256=$host_sum"
check "guest 1: reads back its own write" "^VDM: blkwrite dev=vda pci=0000:00:04.0 sha256=$guest_sum"
check "guest 1: finished its tests" "^VDM: done"
got=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
[ "$got" = "$guest_sum" ] && echo "ok: the image holds guest 1's pattern after it powered off" ||
	{ echo "FAIL: image checksum $got, expected $guest_sum"; fail=1; }
mv "$dir/console.log" "$dir/console-1.log"

status=0
boot "" || status=$?
qemu_exit_check "guest 2" "$status"
check "guest 2, same daemon: reads guest 1's pattern (sha256 matches)" \
	"^VDM: blk dev=vda pci=0000:00:04.0 size=$size sha256=$guest_sum"
front_ends_check "$dir/daemon.log"
# QEMU 7.2+ negotiates STATUS: FEATURES_OK after SET_FEATURES, then
# ACKNOWLEDGE|DRIVER|DRIVER_OK once its rings are set up; the rings run
# from DRIVER_OK on, and no status QEMU sent was refused.
grep -q "device status 0x8 -> 0xf (DRIVER_OK)" "$dir/daemon.log" &&
	echo "ok: QEMU negotiated STATUS: FEATURES_OK, then DRIVER_OK reached the daemon" ||
	{ echo "FAIL: no DRIVER_OK from QEMU in the daemon's log (STATUS)"; fail=1; }
grep -q "device status .*: " "$dir/daemon.log" &&
	{ echo "FAIL: the daemon refused a status QEMU set"; fail=1; } ||
	echo "ok: the daemon took every status QEMU set"
daemon_end_checks "$dir/daemon.log" "$dir/blk.sock"

# mq=2: two request rings on one back-end, two vCPUs to use them.
mv "$dir/console.log" "$dir/console-2.log"
"$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/blk.sock" --log-file "$dir/daemon-mq.log" \
	virtio-blk,"$dir/disk.img",mq=2 &
daemon=$!
wait_socket "$dir/blk.sock"
status=0
boot "" 2 ,num-queues=2 || status=$?
[ "$status" -eq 0 ] && echo "ok: guest 3 (2 vCPUs, 2 queues): QEMU exited 0" ||
	{ echo "FAIL: guest 3: QEMU exited with status $status"; fail=1; }
check "guest 3, mq=2: reads the disk (sha256 matches)" \
	"^VDM: blk dev=vda pci=0000:00:04.0 size=$size sha256=$guest_sum"
grep -q "ring 1 started" "$dir/daemon-mq.log" && echo "ok: guest 3: the daemon serves ring 1 too" ||
	{ echo "FAIL: guest 3: ring 1 never started"; fail=1; }
kill -TERM "$daemon"
wait "$daemon" || true
daemon=
guest_checks_end vdm-vhost-user "$dir/daemon.log" "first guest's console" "$dir/console-1.log" \
	"second guest's console" "$dir/console-2.log" "vdm-vhost-user mq=2" "$dir/daemon-mq.log"
