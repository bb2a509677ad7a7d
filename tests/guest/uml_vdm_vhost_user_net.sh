#!/bin/sh
# vdm-vhost-user's virtio-net behind a front-end we did not write: User-Mode
# Linux (Debian's user-mode-linux) with virtio_uml (device id 1), its root
# the host's file system (hostfs, read-only), virtio_net and what it needs
# loaded from /usr/lib/uml/modules.  UML hands the daemon all three rings,
# the control queue too, so Linux's own receive-filter commands go to the
# daemon.  The daemon's TAP lives in a private network namespace with the
# host end at 10.0.2.1.  In UML: ICMP echoes to the host (Linux's stack
# answers), a TCP stream of 8 MiB to the host's tcp-sink (sha256 both
# sides), and 8 MiB from a host sender (sha256 both sides).  Then UML is
# started a second time on the same daemon (the TAP stayed open) and pings
# again.  Needs root (the namespace and the TAP).
set -eu
command -v linux.uml >/dev/null ||
	{ echo "SKIP: no linux.uml (Debian: user-mode-linux)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3 for UML's side"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip(8) (Debian: iproute2)"; exit 77; }
if [ -z "${VDM_UML_NETNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a network namespace and a TAP"; exit 77; }
	VDM_UML_NETNS=1 exec unshare -n sh "$0" "$@"
fi
dir=$(mktemp -d /tmp/vdm-uml-vvunet-XXXXXX)
netd=
cleanup() {
	[ -z "$netd" ] || kill "$netd" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
tap=vvutap0
ip link set lo up
ip tuntap add dev $tap mode tap
ip link set $tap up
ip addr add 10.0.2.1/24 dev $tap
bytes=$((8 * 1024 * 1024))
pattern_sum=$(yes uml-net-stream | head -c $bytes | sha256sum | cut -d' ' -f1)

. "$VDM_SRCDIR/tests/guest/lib.sh"
. "$VDM_SRCDIR/tests/guest/uml_lib.sh"
uml_init net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
cat >>"$dir/init.sh" <<'GUEST'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 0.5; done
echo "UML: eth0 $(cat /sys/class/net/eth0/address)"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.2/24 dev eth0
python3 - "$(cat "$VVU_DIR/mode")" <<'PY'
import hashlib, os, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ping(size, seq):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(5)
    payload = bytes((i * 7 + seq) & 0xff for i in range(size))
    hdr = struct.pack("!BBHHH", 8, 0, 0, 0x77, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), 0x77, seq) + payload
    s.sendto(pkt, ("10.0.2.1", 0))
    end = time.time() + 5
    while time.time() < end:
        try:
            data = s.recv(70000)
        except socket.timeout:
            break
        icmp = data[(data[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack("!H", icmp[6:8])[0] == seq:
            return icmp[8:] == payload
    return False

# ARP may take a moment on a link just up: the first echo has retries.
ok = any(ping(56, 1) for _ in range(5))
ok2 = ping(4000, 2)
print("UML: ping %s 4000-byte %s" % ("ok" if ok else "FAIL", "ok" if ok2 else "FAIL"), flush=True)
if sys.argv[1] == "full":
    n = 8 * 1024 * 1024
    data = (b"uml-net-stream\n" * (n // 15 + 1))[:n]
    c = socket.create_connection(("10.0.2.1", 5001), timeout=60)
    c.sendall(data)
    c.close()
    print("UML: sent sha256=%s" % hashlib.sha256(data).hexdigest(), flush=True)
    c = socket.create_connection(("10.0.2.1", 5002), timeout=60)
    got = bytearray()
    while len(got) < n:
        b = c.recv(65536)
        if not b:
            break
        got += b
    c.close()
    print("UML: received %d sha256=%s" % (len(got), hashlib.sha256(got).hexdigest()), flush=True)
PY
echo "UML: done"
exec halt -f
GUEST

vvu=$VDM_BUILDDIR/devicemodel/vdm-vhost-user
"$vvu" --socket "$dir/net.sock" --log-file "$dir/net.log" -v \
	virtio-net,tap=$tap,mac=52:54:00:12:34:56 &
netd=$!
wait_socket "$dir/net.sock"

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
has() { tr -d '\r' <"$dir/console-$1.log" | grep -q -- "$2"; }

# uml RUN MODE: one UML on the daemon; MODE full (ping and TCP) or ping.
uml() {
	echo "$2" >"$dir/mode"
	s=0
	uml_boot 300 192M "$dir/console-$1.log" VVU_DIR="$dir" \
		virtio_uml.device="$dir/net.sock:1" || s=$?
	[ "$s" -eq 0 ] && ok "UML $1 halted (status 0)" || bad "UML $1 exited with status $s"
	has "$1" "^UML: eth0 52:54:00:12:34:56" && ok "UML $1: eth0 has the daemon's mac=" ||
		bad "UML $1: no eth0 with mac 52:54:00:12:34:56"
	has "$1" "^UML: ping ok 4000-byte ok" &&
		ok "UML $1: echoes to the host answered (56 and 4000 bytes, payload intact)" ||
		bad "UML $1: ping: $(tr -d '\r' <"$dir/console-$1.log" | grep '^UML: ping' || echo none)"
	has "$1" "^UML: FAIL" && bad "UML $1: $(grep '^UML: FAIL' "$dir/console-$1.log")"
	has "$1" "^UML: done" && ok "UML $1 finished its script" || bad "UML $1 did not finish its script"
}

"$VDM_BUILDDIR/tests/guest/tcp-sink" 10.0.2.1 5001 $bytes 200 >"$dir/sink.out" 2>&1 &
sink=$!
python3 - $bytes >"$dir/source.out" 2>&1 <<'SRC' &
import socket, sys
n = int(sys.argv[1])
data = (b"uml-net-stream\n" * (n // 15 + 1))[:n]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("10.0.2.1", 5002))
ls.listen(1)
ls.settimeout(200)
c, _ = ls.accept()
c.sendall(data)
c.close()
print("source sent", n)
SRC
source=$!
uml first full
wait "$sink" || true
wait "$source" || true
grep -q "bytes=$bytes sha256=$pattern_sum" "$dir/sink.out" &&
	ok "8 MiB over TCP from UML to the host, sha256 matches" ||
	bad "TCP UML -> host: $(cat "$dir/sink.out")"
has first "^UML: sent sha256=$pattern_sum" || bad "UML sent something else"
has first "^UML: received $bytes sha256=$pattern_sum" &&
	ok "8 MiB over TCP from the host to UML, sha256 matches" ||
	bad "TCP host -> UML: $(tr -d '\r' <"$dir/console-first.log" | grep '^UML: received' || echo nothing)"
uml second ping

grep -q "ring 2 stopped at avail index [1-9]" "$dir/net.log" &&
	ok "Linux's control-queue commands (receive filter) were served by the daemon" ||
	bad "the daemon served no control-queue command"
grep -q "front-end dropped" "$dir/net.log" && bad "the daemon dropped UML: $(grep 'dropped' "$dir/net.log")"
grep -q "broke" "$dir/net.log" && bad "a ring broke: $(grep 'broke' "$dir/net.log")"
kill -TERM "$netd"
s=0
wait "$netd" || s=$?
netd=
[ "$s" -eq 0 ] && ok "the daemon exits with 0 on SIGTERM" || bad "the daemon exited with status $s"
grep -q "virtio-net $tap: [1-9][0-9]* frames to the guest" "$dir/net.log" &&
	ok "the daemon's count: $(grep -o "virtio-net $tap: .*" "$dir/net.log")" ||
	bad "the daemon moved no frames to the guest"
if [ "$fail" -ne 0 ]; then
	for f in console-first.log console-second.log net.log sink.out source.out; do
		echo "---- $f"
		cat "$dir/$f" 2>/dev/null || true
	done
fi
exit "$fail"
