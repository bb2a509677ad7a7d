#!/bin/sh
# A real Linux guest (QEMU TCG, x-pci-proxy-dev) on a virtio-console with
# acrn-dm's MULTIPORT ports, as acrn-dm spells them:
#   @socket:con0=PATH        the console port (the guest's hvc0)
#   socket:p1=PATH:server    vdm listens, sockpeer connects
#   socket:p2=PATH:client    sockpeer -l listens, vdm connects at start
#   pty:p3                   sockpeer -t opens the pty's slave vdm logs
# The guest's driver must list every port under /sys/class/virtio-ports with
# the name given, keep hvc0 on con0 (a line out, one back), and move a line
# each way through /dev/vport0p1..3 with the host end of that port alone.
# The guest side is /extra/run from an extra initramfs (the cached image
# and samples/guest/init are unchanged).
set -eu
dir=$(mktemp -d /tmp/vdm-guest-mp-XXXXXX)
peers=
cleanup() {
	for p in $peers; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
peer_bin=$VDM_BUILDDIR/tests/guest/sockpeer

root=$dir/extra
mkdir -p "$root/extra"
cat >"$root/extra/run" <<'EOS'
#!/bin/sh
# Wait for the driver to add the four ports (the control queue handshake).
i=0
while [ "$(ls /sys/class/virtio-ports 2>/dev/null | wc -l)" -lt 4 ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
for d in /sys/class/virtio-ports/*; do
	echo "VDM: vport $(basename "$d") name=$(cat "$d/name")"
done
# Output goes nowhere until the host end is attached: say it again every
# 5 s until a line comes back.
talk() { # NAME, on fd 3
	tries=0
	while [ $tries -lt 8 ]; do
		tries=$((tries + 1))
		echo "VDM-MP-OUT from-guest-on-$1" >&3
		if read -r -t 5 got <&3; then
			echo "VDM: vport $1 got=$got"
			return 0
		fi
	done
	echo "VDM: FAIL vport $1: no line from the host after $tries tries"
}
for name in p1 p2 p3; do
	dev=
	for d in /sys/class/virtio-ports/*; do
		[ "$(cat "$d/name")" = "$name" ] && dev=/dev/$(basename "$d")
	done
	if [ -z "$dev" ] || [ ! -c "$dev" ]; then
		echo "VDM: FAIL vport $name: no port device"
		continue
	fi
	talk "$name" 3<>"$dev" || echo "VDM: FAIL vport $name: cannot open $dev"
done
EOS
chmod +x "$root/extra/run"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$dir/extra.cpio.gz"

# The host ends.  sockpeer exits 0 once it saw the guest's line and replied.
"$peer_bin" "$dir/con0.sock" "VDM-CONSOLE-OUT hello-from-guest" host-says-hi 500 \
	>"$dir/con0.out" 2>"$dir/con0.err" &
peers="$peers $!"
"$peer_bin" "$dir/p1.sock" "VDM-MP-OUT from-guest-on-p1" host-to-p1 500 \
	>"$dir/p1.out" 2>"$dir/p1.err" &
p1=$!
"$peer_bin" -l "$dir/p2.sock" "VDM-MP-OUT from-guest-on-p2" host-to-p2 500 \
	>"$dir/p2.out" 2>"$dir/p2.err" &
p2=$!
# The pty's slave is known once vdm logged it.
(
	i=0
	while [ $i -lt 600 ]; do
		pts=$(sed -n 's/.*virtio-console port p3: guest console on \(.*\)$/\1/p' \
			"$dir/vdm.log" 2>/dev/null | head -n 1)
		[ -n "$pts" ] && exec "$peer_bin" -t "$pts" "VDM-MP-OUT from-guest-on-p3" host-to-p3 500
		sleep 0.1
		i=$((i + 1))
	done
	echo "no pty for p3 in vdm's log" >&2
	exit 1
) >"$dir/p3.out" 2>"$dir/p3.err" &
p3=$!
peers="$peers $p1 $p2 $p3"
i=0
while [ ! -S "$dir/p2.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 500 -r enum,console,extra \
	-a "vdm.timeout=300" -x "$dir/extra.cpio.gz" -- -m 256M \
	-s 6,virtio-console,@socket:con0="$dir/con0.sock",socket:p1="$dir/p1.sock":server,socket:p2="$dir/p2.sock":client,pty:p3 ||
	status=$?

# vdm is gone: each peer sees its end; do not wait on one that hangs.
# Sets s to the peer's exit status (not in a subshell: wait needs the child).
peer_status() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill "$1" 2>/dev/null || true
	s=0
	wait "$1" || s=$?
}
. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "virtio-console enumerates as 1af4:1043, bound to virtio-pci" \
	"^VDM: pci 0000:00:06.0 vendor=0x1af4 device=0x1043 driver=virtio-pci"
n=0
for name in con0 p1 p2 p3; do
	check "the guest lists port vport0p$n named $name" "^VDM: vport vport0p$n name=$name\$"
	n=$((n + 1))
done
check "the guest read the host's line from hvc0 (con0 is the console)" \
	"^VDM: console got=host-says-hi\$"
for name in p1 p2 p3; do
	check "the guest read the host's line from port $name" "^VDM: vport $name got=host-to-$name\$"
done
for pn in "p1 $p1" "p2 $p2" "p3 $p3"; do
	set -- $pn # shellcheck disable=SC2086
	peer_status "$2"
	other=$(grep -o "from-guest-on-p[0-9]*" "$dir/$1.out" | grep -v "on-$1\$" || true)
	if [ "$s" -eq 0 ] && grep -q "VDM-MP-OUT from-guest-on-$1" "$dir/$1.out" &&
		[ -z "$other" ]; then
		echo "ok: the host end of $1 read the guest's line (and no other port's)"
	else
		echo "FAIL: the host end of $1 did not read the guest's line (status $s)"
		fail=1
	fi
done
check "the guest's extra script finished" "^VDM: extra rc=0"
guest_checks_end "p1's peer" "$dir/p1.err" "p2's peer" "$dir/p2.err" "p3's peer" "$dir/p3.err" \
	"con0's peer" "$dir/con0.err"
