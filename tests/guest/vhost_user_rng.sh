#!/bin/sh
# vdm's entropy back-end behind a front-end we did not write: QEMU's own
# vhost-user-rng-pci device (QEMU booted directly, no vdm in the VM) gets its
# ring served by vdm-vhost-user, and a real Linux guest reads 64 KiB from
# /dev/hwrng through its virtio_rng driver.  Two guests one after the other
# on one daemon: it must serve the second QEMU once the first went away, then
# stop on SIGTERM with status 0 and its socket removed.  QEMU negotiates
# STATUS and sends FEATURES_OK but no DRIVER_OK: the ring runs regardless.
set -eu
. "$VDM_SRCDIR/tests/guest/lib.sh"
qemu_guest_ready vhost-user-rng-pci
dir=$(mktemp -d /tmp/vdm-guest-vurng-XXXXXX)
daemon=
cleanup() {
	if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
: >"$dir/vdm.log" # lib.sh shows vdm's log on failure: there is no vdm here

"$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/rng.sock" --log-file "$dir/daemon.log" \
	virtio-rnd &
daemon=$!
wait_socket "$dir/rng.sock"

fail=0
for n in 1 2; do
	status=0
	qemu_shared_ram 300 vdm.run=enum,rng -smp 1 \
		-chardev socket,id=rng0,path="$dir/rng.sock" \
		-device vhost-user-rng-pci,chardev=rng0,addr=5 || status=$?
	qemu_exit_check "guest $n" "$status"
	check "guest $n: vhost-user-rng-pci enumerates as 1af4:1044, bound to virtio-pci" \
		"^VDM: pci 0000:00:05.0 vendor=0x1af4 device=0x1044 driver=virtio-pci"
	check "guest $n: hwrng is virtio_rng and gave 64 KiB" "^VDM: rng current=virtio_rng.* bytes=65536"
	check "guest $n: the bytes are not constant" "^VDM: rng distinct=64"
	check "guest $n: finished its tests" "^VDM: done"
	[ $n -eq 2 ] || mv "$dir/console.log" "$dir/console-1.log"
done
front_ends_check "$dir/daemon.log"
# QEMU 7.2 negotiates STATUS here but sends FEATURES_OK and never
# DRIVER_OK: the ring must run all the same (from KICK and ENABLE).
grep -q "device status 0 -> 0x8" "$dir/daemon.log" &&
	echo "ok: QEMU negotiated STATUS (FEATURES_OK reached the daemon)" ||
	{ echo "FAIL: no FEATURES_OK from QEMU in the daemon's log (STATUS)"; fail=1; }
daemon_end_checks "$dir/daemon.log" "$dir/rng.sock"
guest_checks_end vdm-vhost-user "$dir/daemon.log" "first guest's console" "$dir/console-1.log"
