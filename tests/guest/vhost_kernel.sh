#!/bin/sh
# The kernel vhost transport where this host has none: inside the test
# guest, whose Debian kernel ships vhost_net and vhost_vsock.  An extra
# initramfs brings vdm, the simulator tests tests/sim/test_virtio_net and
# test_net_route_switch and the libraries they link to; the guest runs the
# first with virtio-net's queues on /dev/vhost-net (vhost=kernel: ARP, a
# 4000-byte ping over MRG_RXBUF, frames waiting for buffers, a transmitted
# frame on the TAP), the second moving a NIC live 20 times between VBS-U
# and /dev/vhost-net while the driver pings the TAP's side, then 20 times
# more while a Linux TCP stack behind the NIC (the guest kernel's own, on a
# TAP the driver relays) streams to it, brings a virtio-vsock up on
# /dev/vhost-vsock (CID set, rings started by the test driver's vdm-enum
# --exercise), and checks that vhost=auto takes kernel vhost where the node
# is there.  Under TCG it takes a minute at most.
set -eu
dir=$(mktemp -d /tmp/vdm-guest-vhostk-XXXXXX)
trap 'rm -rf "$dir"' EXIT
root=$dir/extra
mkdir -p "$root/extra"
cp "$VDM_BUILDDIR/devicemodel/vdm" "$VDM_BUILDDIR/tests/sim/test_virtio_net" \
	"$VDM_BUILDDIR/tests/sim/test_net_route_switch" \
	"$VDM_BUILDDIR/tests/driver/vdm-enum" "$root/extra/"
# The shared libraries, at the paths the programs look for them.
for lib in $(ldd "$root/extra/vdm" "$root/extra/test_virtio_net" "$root/extra/vdm-enum" \
	"$root/extra/test_net_route_switch" |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
cat >"$root/extra/run" <<'EOS'
#!/bin/sh
# Inside the guest (see tests/guest/vhost_kernel.sh).
cd /extra
[ -c /dev/vhost-net ] && echo "VDM: vhostk vhost-net=yes" || echo "VDM: vhostk vhost-net=no"
[ -c /dev/vhost-vsock ] && echo "VDM: vhostk vhost-vsock=yes" || echo "VDM: vhostk vhost-vsock=no"
VDM=/extra/vdm VDM_TEST_NET_ROUTE=vhost=kernel ./test_virtio_net >/tmp/t.log 2>&1
rc=$?
sed 's/^/VDM: vhostk | /' /tmp/t.log
echo "VDM: vhostk test_virtio_net rc=$rc"

# Live switching VBS-U <-> kernel vhost-net, 20 times, while pinging.
VDM=/extra/vdm VDM_TEST_SWITCH_TO=vhost-kernel ./test_net_route_switch >/tmp/s.log 2>&1
swrc=$?
sed 's/^/VDM: vhostk switch | /' /tmp/s.log
echo "VDM: vhostk test_net_route_switch rc=$swrc"

# virtio-vsock on kernel vhost-vsock, brought up by the test driver.
/extra/vdm --hsm sim:/tmp/vs.sock --log-file /tmp/vs.log -s 4,virtio-vsock,cid=7 &
pid=$!
i=0
while [ ! -S /tmp/vs.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
/extra/vdm-enum --exercise /tmp/vs.sock >/tmp/vs.out 2>&1
vrc=$?
kill -TERM $pid
wait $pid
src=$?
cat /tmp/vs.log /tmp/vs.out | sed 's/^/VDM: vhostk vsock | /'
echo "VDM: vhostk vsock rc=$vrc stop=$src"

# vhost=auto where /dev/vhost-net is there: kernel vhost, and it says so.
# (A TAP in a network namespace of its own, with busybox's tools.)
unshare -n sh -c '
	tunctl -t vdmauto0 >/dev/null && ip link set vdmauto0 up || exit 9
	/extra/vdm --hsm sim:/tmp/auto.sock --log-file /tmp/auto.log \
		-s 4,virtio-net,tap=vdmauto0,vhost=auto &
	pid=$!
	i=0
	while [ ! -S /tmp/auto.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	/extra/vdm-enum /tmp/auto.sock >/tmp/auto.out 2>&1
	s=$?
	kill -TERM $pid
	wait $pid || s=8
	exit $s'
arc=$?
cat /tmp/auto.log /tmp/auto.out | sed 's/^/VDM: vhostk auto | /'
echo "VDM: vhostk auto rc=$arc"
[ $rc -eq 0 ] && [ $swrc -eq 0 ] && [ $vrc -eq 0 ] && [ $src -eq 0 ] && [ $arc -eq 0 ]
EOS
chmod +x "$root/extra/run"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$dir/extra.cpio.gz"

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 600 -r extra \
	-a "vdm.timeout=400 vdm.watchdog=560" -x "$dir/extra.cpio.gz" -- -m 1G || status=$?

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "the guest kernel offers /dev/vhost-net" "^VDM: vhostk vhost-net=yes"
check "and /dev/vhost-vsock" "^VDM: vhostk vhost-vsock=yes"
check "test_virtio_net with vhost=kernel passes inside the guest" \
	"^VDM: vhostk test_virtio_net rc=0"
check "... its traffic ran on the kernel vhost route" "^VDM: vhostk | .*data plane on kernel vhost"
check "a NIC switched live 20 times between VBS-U and kernel vhost-net inside the guest" \
	"^VDM: vhostk test_net_route_switch rc=0"
check "... pings answered across the switches" \
	"^VDM: vhostk switch | ok: .* pings of 8..1407 bytes"
check "... and a TCP stream from a Linux stack behind the NIC arrived intact across 20 more" \
	"^VDM: vhostk switch | ok: a Linux TCP stack behind the NIC streamed to the host across 20 more switches: every byte arrived in order and intact"
check "virtio-vsock on /dev/vhost-vsock: exercised, and vdm stopped cleanly" \
	"^VDM: vhostk vsock rc=0 stop=0"
check "... enumerated as 1af4:1053" "^VDM: vhostk vsock | .*1af4:1053"
check "... with guest CID 7 set in kernel vhost-vsock" \
	"^VDM: vhostk vsock | .*guest cid 7 on kernel vhost-vsock"
check "... the driver's queues up and the back-end running after DRIVER_OK" \
	"^VDM: vhostk vsock | .*virtio-vsock: guest cid 7, 3 queues up, running"
check "vhost=auto with /dev/vhost-net present: served, and vdm stopped cleanly" \
	"^VDM: vhostk auto rc=0"
check "... on kernel vhost, and vdm says why" \
	"^VDM: vhostk auto | .*vhost=auto: /dev/vhost-net exists, using kernel vhost"
check "... the NIC enumerates" "^VDM: vhostk auto | .*1af4:1041"
echo "inside the guest:"
tr -d '\r' <"$dir/console.log" | sed -n 's/^VDM: vhostk \(vsock \|auto \|switch \)\{0,1\}| /  /p'
guest_checks_end
