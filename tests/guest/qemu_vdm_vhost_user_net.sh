#!/bin/sh
# vdm-vhost-user's virtio-net behind QEMU's own vhost-user net front-end
# (-netdev vhost-user with -device virtio-net-pci; QEMU booted directly, no
# vdm in the VM; it keeps the control queue itself and hands the daemon the
# receive and transmit rings).  The daemon's TAP lives in a network
# namespace made here, with the host side at 10.0.3.1; the guest configures
# 10.0.3.2, pings the host side, and sends 16 MiB of random data over TCP to
# tcp-sink (SHA-256 at both ends must match).  A second guest on the same
# daemon (the TAP stayed open) pings again.  Needs root.
set -eu
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun"; exit 77
fi
. "$VDM_SRCDIR/tests/guest/lib.sh"
qemu_guest_ready
dir=$(mktemp -d /tmp/vdm-guest-vvunet-XXXXXX)
ns=vdm-gvvunet-$$
bytes=$((16 * 1024 * 1024))
daemon=
sink=
cleanup() {
	for p in $sink $daemon; do kill "$p" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
: >"$dir/vdm.log" # lib.sh shows vdm's log on failure: there is no vdm here
netns_up
inns ip tuntap add dev vdmgtap1 mode tap
inns ip link set vdmgtap1 up
inns ip addr add 10.0.3.1/24 dev vdmgtap1
# Not through inns: $! must be the daemon's own pid (ip netns exec execs it).
ip netns exec "$ns" "$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/net.sock" \
	--log-file "$dir/daemon.log" virtio-net,tap=vdmgtap1,mac=52:54:00:12:34:57 &
daemon=$!
wait_socket "$dir/net.sock"

# vectors=0 (INTx): Debian's QEMU 7.2 under TCG segfaults in vhost_net_start (in
# msix_set_vector_notifiers) when the driver of an MSI-X virtio-net on a
# vhost-user netdev sets DRIVER_OK; with INTx QEMU takes another path.
boot() { # RUN-LIST
	qemu_shared_ram 400 "vdm.run=$1 vdm.ip=10.0.3.2/24 vdm.peer=10.0.3.1 vdm.port=5000 vdm.bytes=$bytes" \
		-chardev socket,id=net0,path="$dir/net.sock" \
		-netdev vhost-user,id=nd0,chardev=net0 \
		-device virtio-net-pci,netdev=nd0,addr=4,mac=52:54:00:12:34:57,vectors=0
}

tcp_sink_start $bytes
status=0
boot enum,net || status=$?
tcp_sink_stop

fail=0
qemu_exit_check "guest 1" "$status"
check "virtio-net-pci (transitional: QEMU's default) is bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x10\(00\|41\) driver=virtio-pci"
check "the guest's interface is up with its address" "^VDM: net link=up ip=10.0.3.2"
check "the guest pings the host side of the daemon's TAP" "^VDM: net ping=ok"
tcp_transfer_check net $bytes "16 MiB over TCP, same SHA-256 at both ends"
check "guest 1 finished its tests" "^VDM: done"
mv "$dir/console.log" "$dir/console-1.log"

# vdm.bytes is still given, but no sink listens: run the ping part only.
status=0
boot enum || status=$?
qemu_exit_check "guest 2" "$status"
check "guest 2 on the same daemon: its virtio-net is bound" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x10\(00\|41\) driver=virtio-pci"
front_ends_check "$dir/daemon.log"
grep -q "ring 2 started" "$dir/daemon.log" &&
	{ echo "FAIL: QEMU handed the control queue over"; fail=1; } ||
	echo "ok: QEMU kept the control queue; the daemon ran rings 0 and 1"
grep -q "front-end dropped" "$dir/daemon.log" &&
	{ echo "FAIL: the daemon dropped a front-end: $(grep dropped "$dir/daemon.log")"; fail=1; } ||
	echo "ok: QEMU sent nothing the daemon refused"
daemon_term_check
guest_checks_end vdm-vhost-user "$dir/daemon.log" "first guest's console" "$dir/console-1.log" \
	tcp-sink "$dir/sink.out"
