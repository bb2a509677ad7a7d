#!/bin/sh
# A real Linux guest sends 128 MiB over TCP and pings the host while the host
# moves its virtio-net 20 times between VBS-U (vdm's TAP) and DPDK's
# testpmd (vhost-user, forwarding to a TAP of DPDK's own), through vdm's
# management API (vdmctl set-route).  Both TAPs are ports of one bridge in
# a network namespace made here, which holds the host's address 10.0.3.1:
# whichever route carries the frames, they reach the same host, and the
# bridge learns the guest's MAC where it last came from.  Every switch must
# succeed while the transfer runs, the host must receive the guest's bytes
# with the same SHA-256, pings must be answered across the switches (at
# most one lost per switch), vdm must not reset the device and the guest
# must log no transmit timeout or reset.  The NIC is started with
# offloads=csum: testpmd's vhost port (tso=0) cannot take TSO, and a route
# switch keeps what the guest negotiated.  The guest's driver takes packed
# rings (testpmd serves them too); NET_SWITCH_OPTS=,packed=off runs the same
# on split rings.  Needs root.
set -eu
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun"; exit 77
fi
dir=$(mktemp -d /tmp/vdm-guest-netsw-XXXXXX)
ns=vdm-gnsw-$$
bytes=$((128 * 1024 * 1024))
pmd=
sink=
guest=
cleanup() {
	for p in $guest $sink $pmd; do kill "$p" 2>/dev/null || true; done
	[ -z "$pmd" ] || wait "$pmd" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
vdmctl=$VDM_BUILDDIR/devicemodel/vdmctl
testpmd="$VDM_SRCDIR/tests/peers/testpmd.sh"
# Fetch what runs in the namespace first: there is no network inside it.
"$VDM_SRCDIR/samples/guest/build-image.sh" >/dev/null
st=0
sh "$testpmd" --fetch 2>"$dir/fetch.log" || st=$?
[ $st -ne 77 ] || { echo "SKIP: DPDK's testpmd: $(tail -n 1 "$dir/fetch.log")"; exit 77; }
[ $st -eq 0 ] || { cat "$dir/fetch.log"; exit 1; }

ip netns add "$ns"
inns() { ip netns exec "$ns" "$@"; }
inns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6'
inns ip link set lo up
# A bridge address of its own: one taken from a port changes as ports join.
inns ip link add br0 address 02:00:00:00:03:01 type bridge
inns ip link set br0 up
inns ip addr add 10.0.3.1/24 dev br0
inns ip tuntap add dev vdmgtap0 mode tap
inns ip link set vdmgtap0 master br0 up
# Not through inns: $! must be testpmd.sh's own pid (ip netns exec execs it).
ip netns exec "$ns" sh "$testpmd" "$dir/net.sock" pmdgtap0 >"$dir/testpmd.log" 2>&1 &
pmd=$!
i=0
while { [ ! -S "$dir/net.sock" ] || ! inns ip link show pmdgtap0 >/dev/null 2>&1; } &&
	[ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
inns ip link set pmdgtap0 master br0 up

ip netns exec "$ns" "$VDM_BUILDDIR/tests/guest/tcp-sink" 10.0.3.1 5000 $bytes 400 \
	>"$dir/sink.out" 2>&1 &
sink=$!

# The guest's side: the address, then pings in the background while it
# sends the blob; each result on the console.
root=$dir/extra
mkdir -p "$root/extra"
cat >"$root/extra/run" <<EOS
#!/bin/sh
ifc=
for d in /sys/class/net/*; do
	[ "\$(basename "\$(readlink "\$d/device/driver" 2>/dev/null)")" = virtio_net ] &&
		ifc=\${d##*/} && break
done
[ -n "\$ifc" ] || { echo "VDM: FAIL netsw no virtio_net interface"; exit 1; }
ip link set lo up
ip link set "\$ifc" up && ip addr add 10.0.3.2/24 dev "\$ifc" || exit 1
n=0
while [ "\$(cat "/sys/class/net/\$ifc/operstate")" != up ] && [ \$n -lt 50 ]; do
	sleep 0.1; n=\$((n + 1))
done
ping -c 3 -W 5 10.0.3.1 >/dev/null 2>&1 && echo "VDM: netsw first-ping=ok"
dd if=/dev/urandom of=/tmp/blob bs=1048576 count=$((bytes / 1048576)) 2>/dev/null
sum=\$(sha256sum </tmp/blob)
(
	sent=0 ok=0
	while [ ! -e /tmp/sent ]; do
		sent=\$((sent + 1))
		ping -c 1 -W 2 10.0.3.1 >/dev/null 2>&1 && ok=\$((ok + 1))
		sleep 0.2
	done
	echo "VDM: netsw pings sent=\$sent answered=\$ok"
) &
pinger=\$!
echo "VDM: netsw start"
timeout 300 nc 10.0.3.1 5000 </tmp/blob >/dev/null 2>/tmp/nc.err
echo "VDM: netsw sent bytes=\$(wc -c </tmp/blob) sha256=\${sum%% *}"
touch /tmp/sent
wait \$pinger
dmesg | grep -iE "transmit queue .* timed out|virtio.*reset|NETDEV WATCHDOG" |
	sed 's/^/VDM: netsw kernel: /'
exit 0
EOS
chmod +x "$root/extra/run"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$dir/extra.cpio.gz"

status=0
inns "$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 500 -r enum,extra \
	-a "vdm.timeout=400" -x "$dir/extra.cpio.gz" -- \
	-m 768M --api-socket "$dir/api.sock" -s 4,virtio-net,tap=vdmgtap0,offloads=csum${NET_SWITCH_OPTS:-} &
guest=$!

# Switch while the transfer runs (the guest says when it starts).
i=0
until grep -q "VDM: netsw start" "$dir/console.log" 2>/dev/null || [ $i -ge 3000 ]; do
	sleep 0.1; i=$((i + 1))
done
# The ring layout the guest's driver took (VIRTIO_F_RING_PACKED, bit 34),
# for the report: testpmd serves both.
features=$("$vdmctl" --json "$dir/api.sock" query-devices |
	sed -n 's/.*"features":\([0-9]*\).*/\1/p')
layout=split
[ -n "$features" ] && [ $(((features >> 34) & 1)) -eq 1 ] && layout=packed
switched=0
failed=0
during=0
for n in $(seq 1 20); do
	sleep 0.2
	if [ $((n % 2)) -eq 1 ]; then route=vhost-user:$dir/net.sock; else route=vbs-u; fi
	if "$vdmctl" "$dir/api.sock" set-route 4:0 "$route" >>"$dir/switch.log" 2>&1; then
		switched=$((switched + 1))
	else
		failed=$((failed + 1))
	fi
	grep -q "VDM: netsw sent" "$dir/console.log" || during=$((during + 1))
done
"$vdmctl" "$dir/api.sock" query-stats 4 >>"$dir/switch.log" 2>&1 || true
wait "$guest" || status=$?
guest=
i=0
while kill -0 "$sink" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$sink" 2>/dev/null || true
wait "$sink" 2>/dev/null || true
sink=

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
[ $switched -eq 20 ] && echo "ok: 20 live route switches VBS-U <-> testpmd ($layout rings)" ||
	{ echo "FAIL: $switched of 20 route switches succeeded ($failed failed)"; fail=1; }
[ $during -eq 20 ] && echo "ok: all of them while the guest's TCP transfer ran" ||
	{ echo "FAIL: only $during of the 20 switches came before the transfer ended"; fail=1; }
check "the guest pinged the host before the switches" "^VDM: netsw first-ping=ok"
sent=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^VDM: netsw sent bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p')
got=$(sed -n 's/^bytes=\([0-9]*\) sha256=\([0-9a-f]*\)/\1 \2/p' "$dir/sink.out")
if [ -n "$sent" ] && [ "$sent" = "$got" ] && [ "${got%% *}" -eq $bytes ]; then
	echo "ok: 128 MiB over TCP across the switches, same SHA-256 at both ends ($got)"
else
	echo "FAIL: TCP transfer: guest sent '$sent', host received '$got'"; fail=1
fi
pings=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^VDM: netsw pings sent=\([0-9]*\) answered=\([0-9]*\).*/\1 \2/p')
psent=${pings%% *}
pok=${pings##* }
if [ -n "$pings" ] && [ "$pok" -ge 5 ] && [ $((psent - pok)) -le 20 ]; then
	echo "ok: pings during the switches: $pok of $psent answered"
else
	echo "FAIL: pings during the switches: '$pings' (sent answered)"; fail=1
fi
if tr -d '\r' <"$dir/console.log" | grep -q "^VDM: netsw kernel:"; then
	echo "FAIL: the guest's kernel logged a transmit timeout or a reset"; fail=1
else
	echo "ok: the guest logged no transmit timeout and no reset"
fi
if grep -q "needs reset" "$dir/vdm.log"; then
	echo "FAIL: vdm put the NIC in DEVICE_NEEDS_RESET"; fail=1
else
	echo "ok: the NIC never needed a reset"
fi
guest_checks_end switches "$dir/switch.log" tcp-sink "$dir/sink.out" testpmd "$dir/testpmd.log"
