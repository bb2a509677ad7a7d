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
guest=${VDM_GUEST_DIR:-/var/cache/vdm-guest}
"$VDM_SRCDIR/samples/guest/build-image.sh" "$guest" >&2
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
ip netns add "$ns"
inns() { ip netns exec "$ns" "$@"; }
inns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6'
inns ip link set lo up
inns ip tuntap add dev vdmgtap1 mode tap
inns ip link set vdmgtap1 up
inns ip addr add 10.0.3.1/24 dev vdmgtap1
# Not through inns: $! must be the daemon's own pid (ip netns exec execs it).
ip netns exec "$ns" "$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/net.sock" \
	--log-file "$dir/daemon.log" virtio-net,tap=vdmgtap1,mac=52:54:00:12:34:57 &
daemon=$!
i=0
while [ ! -S "$dir/net.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

# QEMU's guest RAM must be shareable for the daemon to map it.  vectors=0
# (INTx): Debian's QEMU 7.2 under TCG segfaults in vhost_net_start (in
# msix_set_vector_notifiers) when the driver of an MSI-X virtio-net on a
# vhost-user netdev sets DRIVER_OK; with INTx QEMU takes another path.
boot() { # RUN-LIST
	timeout -k 10 400 qemu-system-x86_64 -accel tcg -machine pc -cpu max -m 256M \
		-object memory-backend-memfd,id=ram,size=256M,share=on -machine memory-backend=ram \
		-display none -vga none -monitor none -nic none -no-reboot \
		-serial "file:$dir/console.log" \
		-chardev socket,id=net0,path="$dir/net.sock" \
		-netdev vhost-user,id=nd0,chardev=net0 \
		-device virtio-net-pci,netdev=nd0,addr=4,mac=52:54:00:12:34:57,vectors=0 \
		-kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 vdm.run=$1 vdm.ip=10.0.3.2/24 vdm.peer=10.0.3.1 vdm.port=5000 vdm.bytes=$bytes" \
		</dev/null
}

ip netns exec "$ns" "$VDM_BUILDDIR/tests/guest/tcp-sink" 10.0.3.1 5000 $bytes 400 \
	>"$dir/sink.out" 2>&1 &
sink=$!
status=0
boot enum,net || status=$?
i=0
while kill -0 "$sink" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$sink" 2>/dev/null || true
wait "$sink" 2>/dev/null || true
sink=

. "$VDM_SRCDIR/tests/guest/lib.sh"
fail=0
[ "$status" -eq 0 ] && echo "ok: guest 1: QEMU exited 0 after the guest powered off" ||
	{ echo "FAIL: guest 1: QEMU exited with status $status"; fail=1; }
check "virtio-net-pci (transitional: QEMU's default) is bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x10\(00\|41\) driver=virtio-pci"
check "the guest's interface is up with its address" "^VDM: net link=up ip=10.0.3.2"
check "the guest pings the host side of the daemon's TAP" "^VDM: net ping=ok"
sent=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^VDM: net sent bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p')
got=$(sed -n 's/^bytes=\([0-9]*\) sha256=\([0-9a-f]*\)/\1 \2/p' "$dir/sink.out")
if [ -n "$sent" ] && [ "$sent" = "$got" ] && [ "${got%% *}" -eq $bytes ]; then
	echo "ok: 16 MiB over TCP, same SHA-256 at both ends ($got)"
else
	echo "FAIL: TCP transfer: guest sent '$sent', host received '$got'"; fail=1
fi
check "guest 1 finished its tests" "^VDM: done"
mv "$dir/console.log" "$dir/console-1.log"

# vdm.bytes is still given, but no sink listens: run the ping part only.
status=0
boot enum || status=$?
[ "$status" -eq 0 ] && echo "ok: guest 2: QEMU exited 0 after the guest powered off" ||
	{ echo "FAIL: guest 2: QEMU exited with status $status"; fail=1; }
check "guest 2 on the same daemon: its virtio-net is bound" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x10\(00\|41\) driver=virtio-pci"
connected=$(grep -c "a front-end connected" "$dir/daemon.log" || true)
[ "$connected" -eq 2 ] && echo "ok: one daemon served both QEMUs, one after the other" ||
	{ echo "FAIL: the daemon saw $connected front-ends (2 expected)"; fail=1; }
grep -q "ring 2 started" "$dir/daemon.log" &&
	{ echo "FAIL: QEMU handed the control queue over"; fail=1; } ||
	echo "ok: QEMU kept the control queue; the daemon ran rings 0 and 1"
grep -q "front-end dropped" "$dir/daemon.log" &&
	{ echo "FAIL: the daemon dropped a front-end: $(grep dropped "$dir/daemon.log")"; fail=1; } ||
	echo "ok: QEMU sent nothing the daemon refused"
kill -TERM "$daemon"
dstatus=0
wait "$daemon" || dstatus=$?
daemon=
[ "$dstatus" -eq 0 ] && echo "ok: SIGTERM: vdm-vhost-user exited 0" ||
	{ echo "FAIL: vdm-vhost-user exited with status $dstatus"; fail=1; }
guest_checks_end vdm-vhost-user "$dir/daemon.log" "first guest's console" "$dir/console-1.log" \
	tcp-sink "$dir/sink.out"
