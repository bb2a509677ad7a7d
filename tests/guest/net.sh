#!/bin/sh
# A real Linux guest on vdm's virtio-net: the TAP lives in a network
# namespace made here, with the host side at 10.0.3.1; the guest configures
# 10.0.3.2 on its virtio-net interface, pings the host side, and sends 16 MiB
# of random data over TCP to tcp-sink on the host; both ends print the
# SHA-256 of what they sent / received and the two must match.  Needs root.
#
# With NET_PEER=testpmd (tests/guest/vhost_user_net.sh) the NIC is routed
# with vhost=user: to DPDK's vhost PMD in testpmd, which forwards between it
# and a TAP of DPDK's own (net_tap PMD) in the namespace: the same traffic
# then crosses a vhost-user back-end we did not write.
#
# The NIC offers the packed ring (VBS-U by default; on vhost-user because
# DPDK's vhost library offers it too), and the guest's driver must have
# negotiated it (bit 34 in /sys/bus/virtio/devices/*/features).  With
# NET_PACKED=off (tests/guest/net_split.sh) the NIC has packed=off and the
# guest must run the split ring.
set -eu
peer=${NET_PEER:-}
layout=packed
nicopt=
if [ "${NET_PACKED:-on}" = off ]; then
	layout=split
	nicopt=,packed=off
fi
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun"; exit 77
fi
dir=$(mktemp -d /tmp/vdm-guest-net-XXXXXX)
ns=vdm-gnet-$$
bytes=$((16 * 1024 * 1024))
pmd=
sink=
cleanup() {
	for p in $sink $pmd; do kill "$p" 2>/dev/null || true; done
	[ -z "$pmd" ] || wait "$pmd" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
# Fetch what runs in the namespace first: there is no network inside it.
"$VDM_SRCDIR/samples/guest/build-image.sh" >/dev/null
testpmd="$VDM_SRCDIR/tests/peers/testpmd.sh"
if [ "$peer" = testpmd ]; then
	st=0
	sh "$testpmd" --fetch 2>"$dir/fetch.log" || st=$?
	[ $st -ne 77 ] || { echo "SKIP: DPDK's testpmd: $(tail -n 1 "$dir/fetch.log")"; exit 77; }
	[ $st -eq 0 ] || { cat "$dir/fetch.log"; exit 1; }
fi
. "$VDM_SRCDIR/tests/guest/lib.sh"
netns_up
if [ "$peer" = testpmd ]; then
	# Not through inns: $! must be testpmd.sh's own pid (ip netns exec
	# execs it), for the cleanup's kill to reach it.
	ip netns exec "$ns" sh "$testpmd" "$dir/net.sock" vdmgtap0 >"$dir/testpmd.log" 2>&1 &
	pmd=$!
	i=0
	while { [ ! -S "$dir/net.sock" ] || ! inns ip link show vdmgtap0 >/dev/null 2>&1; } &&
		[ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	nic="4,virtio-net,vhost=user:$dir/net.sock"
else
	inns ip tuntap add dev vdmgtap0 mode tap
	nic="4,virtio-net,tap=vdmgtap0"
fi
inns ip link set vdmgtap0 up
inns ip addr add 10.0.3.1/24 dev vdmgtap0

tcp_sink_start $bytes
status=0
inns "$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,net \
	-a "vdm.ip=10.0.3.2/24 vdm.peer=10.0.3.1 vdm.port=5000 vdm.bytes=$bytes" -- \
	-m 256M -s "$nic$nicopt" || status=$?
tcp_sink_stop

guest_checks_begin $status
check "virtio-net enumerates as 1af4:1041, bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x1041 driver=virtio-pci"
check "virtio-net runs the $layout ring" "^VDM: ring pci=0000:00:04.0 .* layout=$layout"
check "the guest's interface is up with its address" "^VDM: net link=up ip=10.0.3.2"
check "the guest pings the host side of the TAP" "^VDM: net ping=ok"
tcp_transfer_check net $bytes "16 MiB over TCP, same SHA-256 at both ends"
if [ "$peer" = testpmd ]; then
	grep -q "data plane on user vhost" "$dir/vdm.log" &&
		echo "ok: vdm routed 00:04.0 to testpmd's vhost-user port" ||
		{ echo "FAIL: vdm's log does not show the vhost-user route"; fail=1; }
	guest_checks_end tcp-sink "$dir/sink.out" testpmd "$dir/testpmd.log"
fi
guest_checks_end tcp-sink "$dir/sink.out"
