#!/bin/sh
# The main job: build vdm and the test guest, boot a real Linux guest under
# QEMU (TCG) with vdm serving it a virtio-blk disk, a virtio-rnd device, a
# virtio-net NIC on a TAP, a virtio-console on a UNIX socket and a virtio-fs
# share routed to virtiofsd (vhost-user), all through QEMU's x-pci-proxy-dev,
# and print what the guest saw; meanwhile the disk moves live to
# qemu-storage-daemon and back (vdmctl set-route).
#   samples/main-job.sh [WORKDIR]     (WORKDIR keeps the disk image and logs)
# The NIC needs root and /dev/net/tun: its TAP lives in a network namespace
# made here (host side 10.0.3.1, guest 10.0.3.2), removed at exit.  The
# share needs root and virtiofsd (Debian: qemu-system-common).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
"$top/samples/setup.sh" "$build" >&2
"$top/samples/guest/build-image.sh" >&2
work=${1:-$(mktemp -d /tmp/vdm-main-job-XXXXXX)}
mkdir -p "$work"
size=$((16 * 1024 * 1024))
netbytes=$((16 * 1024 * 1024))
ns=vdm-main-$$
sink=
peer=
vfsd=
cleanup() { # runs under set -e: nothing here may fail
	for p in $sink $peer $vfsd; do kill "$p" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A disk whose 4 KiB blocks each name their number, so a wrong read shows.
i=0
while [ $i -lt $((size / 4096)) ]; do
	printf 'vdm block %08d\n' $i
	i=$((i + 1))
done | awk '{ printf "%-4095s\n", $0 }' >"$work/disk.img"
host_sum=$(sha256sum <"$work/disk.img" | cut -d' ' -f1)
want_sum=$(yes vdm-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

# The console's host end: a client on vdm's socket that waits for the
# guest's line and answers it.
"$build/tests/guest/sockpeer" "$work/console.sock" "VDM-CONSOLE-OUT hello-from-guest" \
	host-says-hi 400 >"$work/console-peer.out" 2>"$work/console-peer.err" &
peer=$!

# The NIC: a TAP in a private namespace, and a TCP sink on its host side.
run=enum,blk,rng,console
# A live switch: qemu-storage-daemon exports the same image, and the disk's
# data plane moves there and back through vdm's management API while the
# guest runs (both use the page cache; locking=off: two writers on purpose).
qsd=
if command -v qemu-storage-daemon >/dev/null; then
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=d0,filename=$work/disk.img,cache.direct=off,locking=off" \
		--export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$work/qsd.sock,writable=on" \
		>"$work/qsd.log" 2>&1 &
	qsd=$!
	i=0
	while [ ! -S "$work/qsd.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fi
# The disk that moves to qsd keeps the split ring (packed=off): qsd's
# vhost-user-blk export has no packed ring, and a guest must not have
# negotiated one that the new owner cannot serve (vdm refuses that switch).
devices="-s 4,virtio-blk,$work/disk.img${qsd:+,locking=off,packed=off} -s 5,virtio-rnd -s 6,virtio-console,socket:$work/console.sock"
inns=
# setup.sh installed ip(8) when run as root; what else the NIC lacks here.
nonet=
[ "$(id -u)" -eq 0 ] || nonet="it needs root"
[ -n "$nonet" ] || command -v ip >/dev/null || nonet="no ip(8): install iproute2"
[ -n "$nonet" ] || [ -c /dev/net/tun ] || nonet="no /dev/net/tun"
[ -n "$nonet" ] || ip netns add "$ns" || nonet="ip netns add failed"
if [ -z "$nonet" ]; then
	inns="ip netns exec $ns"
	$inns ip link set lo up
	$inns ip tuntap add dev vdmtap0 mode tap
	$inns ip link set vdmtap0 up
	$inns ip addr add 10.0.3.1/24 dev vdmtap0
	$inns "$build/tests/guest/tcp-sink" 10.0.3.1 5000 $netbytes 400 >"$work/tcp-sink.out" 2>&1 &
	sink=$!
	run=$run,net
	devices="$devices -s 7,virtio-net,tap=vdmtap0"
	netnote="and 00:07.0 virtio-net"
else
	netnote="(no virtio-net: $nonet)"
fi

# The share: a directory with a file from the host, served by virtiofsd.
vfsd_bin=
for p in /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd; do
	[ -x "$p" ] && vfsd_bin=$p && break
done
append="vdm.blkwrite=1 vdm.ip=10.0.3.2/24 vdm.peer=10.0.3.1 vdm.port=5000 vdm.bytes=$netbytes"
if [ "$(id -u)" -eq 0 ] && [ -n "$vfsd_bin" ]; then
	rm -rf "$work/share" "$work/fs.sock"
	mkdir "$work/share"
	head -c 1000000 /dev/urandom >"$work/share/from-host.bin"
	fs_host_sum=$(sha256sum <"$work/share/from-host.bin" | cut -d' ' -f1)
	fs_want_sum=$(yes vdm-guest-fs | head -c 1048576 | sha256sum | cut -d' ' -f1)
	"$vfsd_bin" --socket-path="$work/fs.sock" -o source="$work/share" -o cache=none \
		-o sandbox=chroot -f >"$work/virtiofsd.log" 2>&1 &
	vfsd=$!
	i=0
	while [ ! -S "$work/fs.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	run=$run,fs
	devices="$devices -s 8,virtio-fs,vhost=user:$work/fs.sock,tag=vdmshare"
	append="$append vdm.fstag=vdmshare"
	fsnote="and 00:08.0 virtio-fs on virtiofsd"
else
	fsnote="(no virtio-fs: it needs root and virtiofsd)"
fi

echo "Booting a Linux guest under QEMU TCG with vdm serving 00:04.0 virtio-blk,"
echo "00:05.0 virtio-rnd, 00:06.0 virtio-console $netnote"
echo "$fsnote"
echo "(this takes about a minute)..."
status=0
# shellcheck disable=SC2086 # $devices and $inns are word lists
VDM=$build/devicemodel/vdm $inns "$top/samples/guest/boot-guest.sh" -o "$work" -t 400 \
	-r "$run" -a "$append" \
	-- -m 256M --api-socket "$work/api.sock" -s 0:0,hostbridge $devices &
guest=$!
# The switch: to qemu-storage-daemon once the guest has enumerated, back to
# VBS-U once it has read the whole disk (so the read went through qsd).
sw_there=no
sw_back=no
if [ -n "$qsd" ]; then
	waitfor() { # console pattern: wait for it while the guest runs
		until [ -f "$work/console.log" ] && tr -d '\r' <"$work/console.log" | grep -q "$1"; do
			kill -0 $guest 2>/dev/null || return 1
			sleep 0.2
		done
	}
	if waitfor "^VDM: pci " && "$build/devicemodel/vdmctl" "$work/api.sock" set-route 4:0 \
		"vhost-user:$work/qsd.sock" >>"$work/switch.log" 2>&1; then
		sw_there=yes
	fi
	if waitfor "^VDM: blk dev=" && "$build/devicemodel/vdmctl" "$work/api.sock" set-route 4:0 \
		vbs-u >>"$work/switch.log" 2>&1; then
		sw_back=yes
	fi
fi
wait $guest || status=$?
[ -z "$qsd" ] || kill "$qsd" 2>/dev/null || true
img_sum=$(sha256sum <"$work/disk.img" | cut -d' ' -f1)

console=$work/console.log
field() { # line-prefix key: the value of key= on the first console line with that prefix
	tr -d '\r' <"$console" | sed -n "s/^VDM: $1 .*$2=\([^ ]*\).*/\1/p" | head -n1
}
verdict=PASS
say() { # label, good?, text
	if [ "$2" = yes ]; then mark=ok; else mark=FAIL; verdict=FAIL; fi
	printf '  %-6s %-22s %s\n' "$mark" "$1" "$3"
}
echo
echo "What the guest saw (its console: $console, vdm's log: $work/vdm.log):"
tr -d '\r' <"$console" | grep "^VDM: pci " | while read -r _ _ addr vendor device driver; do
	# The ring layout its driver negotiated (init's enum_rings).
	ring=$(field "ring pci=$addr" layout)
	printf '         %-22s %s %s %s ring=%s\n' "PCI ${addr#0000:}" "$vendor" "$device" "$driver" \
		"${ring:-none}"
done
bsize=$(field blk size)
gsum=$(field blk sha256)
wsum=$(field blkwrite sha256)
rcur=$(field rng current)
rbytes=$(field rng bytes)
rdist=$(field rng distinct)
[ "$gsum" = "$host_sum" ] && ok=yes || ok=no
say "disk read" $ok "${bsize:-?} bytes, guest sha256 ${gsum:-none} $([ $ok = yes ] && echo '=' || echo '!=') host's"
[ "$wsum" = "$want_sum" ] && [ "$img_sum" = "$want_sum" ] && ok=yes || ok=no
say "disk write (O_DIRECT)" $ok "guest's pattern is in the image after power-off: $([ $ok = yes ] && echo yes || echo no)"
case $rcur in virtio_rng*) [ "${rbytes:-0}" -eq 65536 ] && ok=yes || ok=no ;; *) ok=no ;; esac
say "hwrng" $ok "${rbytes:-0} bytes from ${rcur:-no rng}; ${rdist:-?} of 64 lines distinct"
# The helpers end once vdm is gone; do not wait for one that hangs.
i=0
while { kill -0 "$peer" 2>/dev/null || { [ -n "$sink" ] && kill -0 "$sink" 2>/dev/null; }; } &&
	[ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
cgot=$(field console got)
grep -q "VDM-CONSOLE-OUT hello-from-guest" "$work/console-peer.out" && cout=yes || cout=no
[ $cout = yes ] && [ "$cgot" = host-says-hi ] && ok=yes || ok=no
say "console (hvc0)" $ok "guest -> socket: $cout; socket -> guest: ${cgot:-nothing}"
if [ -n "$inns" ]; then
	link=$(field net link)
	ping=$(field net ping)
	sent=$(tr -d '\r' <"$console" | sed -n 's/^VDM: net sent bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p')
	got=$(sed -n 's/^bytes=\([0-9]*\) sha256=\([0-9a-f]*\)/\1 \2/p' "$work/tcp-sink.out")
	[ "$link" = up ] && [ "$ping" = ok ] && ok=yes || ok=no
	say "net link + ping" $ok "link ${link:-?}, ping 10.0.3.1 from 10.0.3.2: ${ping:-failed}"
	[ -n "$sent" ] && [ "$sent" = "$got" ] && [ "${got%% *}" -eq $netbytes ] && ok=yes || ok=no
	gsha=${sent#* } hsha=${got#* }
	say "net TCP transfer" $ok "${got%% *} of $netbytes bytes, host sha256 $(echo "$hsha" | cut -c1-12)... $(
		[ $ok = yes ] && echo '=' || echo '!=') guest's $(echo "$gsha" | cut -c1-12)..."
fi
if [ -n "$vfsd" ]; then
	fsum=$(field "fs tag=vdmshare file=from-host.bin" sha256)
	[ "$fsum" = "$fs_host_sum" ] && ok=yes || ok=no
	say "virtio-fs read" $ok "guest mounted vdmshare; from-host.bin sha256 $(echo "${fsum:-none}" | cut -c1-12)... $(
		[ $ok = yes ] && echo '=' || echo '!=') host's"
	hsum=$(sha256sum <"$work/share/from-guest.bin" 2>/dev/null | cut -d' ' -f1)
	[ "$hsum" = "$fs_want_sum" ] && ok=yes || ok=no
	say "virtio-fs write" $ok "the guest's 1 MiB file is in the host's directory: $ok"
fi
if [ -n "$qsd" ]; then
	[ $sw_there = yes ] && [ $sw_back = yes ] && ok=yes || ok=no
	say "live route switch" $ok "disk to qemu-storage-daemon after enumeration: $sw_there; back to VBS-U after the read: $sw_back"
fi
[ $status -eq 0 ] && ok=yes || ok=no
say "power-off" $ok "vdm exited with QEMU's status $status"
tr -d '\r' <"$console" | grep "^VDM: FAIL" | sed 's/^VDM: /  guest: /' || true
echo "Result: $verdict"
[ $verdict = PASS ]
