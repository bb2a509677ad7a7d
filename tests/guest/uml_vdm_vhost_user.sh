#!/bin/sh
# vdm-vhost-user behind a front-end we did not write, in a guest with no
# PCI at all: User-Mode Linux (Debian's user-mode-linux) with virtio_uml, its
# root the host's file system (hostfs, read-only) and the virtio_blk and
# virtio_console drivers loaded from /usr/lib/uml/modules (with python3's
# finit_module: the host may have no kmod).  Two daemons: a disk and a
# console on a UNIX socket.  The guest reads the disk whole (sha256 = the
# host's), overwrites it with direct I/O and syncs; it writes a line to
# hvc0 and reads one back from a client of the daemon's console socket.
# After UML halts the host finds the guest's pattern in the image.
# Twice: on split rings (the daemons' default), then with packed=on, where
# UML's drivers take the packed ring (its feature bit 34 in sysfs) although
# virtio_uml starts every ring with SET_VRING_BASE 0, a split ring's base:
# the daemons start a fresh packed ring at wrap counter 1 (they log it).
set -eu
command -v linux.uml >/dev/null ||
	{ echo "SKIP: no linux.uml (Debian: user-mode-linux)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3 to load UML's modules"; exit 77; }
dir=$(mktemp -d /tmp/vdm-uml-vvu-XXXXXX)
blkd=
cond=
cleanup() {
	for p in $blkd $cond; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
size=$((16 * 1024 * 1024))
i=0
while [ $i -lt $((size / 4096)) ]; do
	printf 'uml disk block %08d\n' $i
	i=$((i + 1))
done | awk '{ printf "%-4095s\n", $0 }' >"$dir/disk.orig"
host_sum=$(sha256sum <"$dir/disk.orig" | cut -d' ' -f1)
guest_sum=$(yes uml-guest-write | head -c $size | sha256sum | cut -d' ' -f1)

. "$VDM_SRCDIR/tests/guest/lib.sh"
. "$VDM_SRCDIR/tests/guest/uml_lib.sh"
uml_init drivers/block/virtio_blk.ko drivers/char/virtio_console.ko
cat >>"$dir/init.sh" <<'GUEST'
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && [ -c /dev/hvc0 ] && break; sleep 0.5; done
# UML's own sysfs (/sys here is the host's, through hostfs).
mount -t sysfs sysfs /sys &&
	for f in /sys/bus/virtio/devices/*/features; do echo "UML: features $(cat "$f")"; done
echo "UML: blk sha256=$(sha256sum </dev/vda | cut -d' ' -f1)"
yes uml-guest-write | head -c 16777216 | dd of=/dev/vda bs=65536 oflag=direct 2>/dev/null &&
	sync && echo "UML: blkwrite sha256=$(dd if=/dev/vda bs=65536 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
# Held open throughout: hvc drops input that arrives while nobody has it open.
exec 3<>/dev/hvc0
stty raw -echo <&3 2>/dev/null
echo "uml-says-hi" >&3
echo "UML: hvc0 read $(timeout 20 head -n 1 <&3)"
echo "UML: done"
exec halt -f
GUEST

vvu=$VDM_BUILDDIR/devicemodel/vdm-vhost-user
fail=0
layout=
ok() { echo "ok: $layout: $1"; }
bad() { echo "FAIL: $layout: $1"; fail=1; }

# One UML boot on two daemons started with the emulation options $1 (",packed=on" or "").
run() {
	opts=$1
	cp "$dir/disk.orig" "$dir/disk.img"
	rm -f "$dir/blk.log" "$dir/con.log"
	"$vvu" --socket "$dir/blk.sock" --log-file "$dir/blk.log" virtio-blk,"$dir/disk.img"$opts &
	blkd=$!
	"$vvu" --socket "$dir/con.sock" --log-file "$dir/con.log" virtio-console,socket:"$dir/hvc0.sock"$opts &
	cond=$!
	wait_socket "$dir/blk.sock"
	wait_socket "$dir/hvc0.sock"
	# The console's client: wait for the guest's line, answer with ours.
	python3 - "$dir/hvc0.sock" >"$dir/client.out" 2>&1 <<-'CLIENT' &
	import socket, sys, time
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	s.settimeout(120)
	got = b""
	while b"uml-says-hi" not in got:
	    chunk = s.recv(4096)
	    if not chunk:
	        break
	    got += chunk
	print("client got:", got.decode(errors="replace").strip())
	s.sendall(b"host-says-hi\n")
	time.sleep(2)
	CLIENT
	client=$!

	status=0
	uml_boot 300 192M "$dir/console.log" \
		virtio_uml.device="$dir/blk.sock:2" virtio_uml.device="$dir/con.sock:3" || status=$?
	wait "$client" 2>/dev/null || true

	has() { tr -d '\r' <"$dir/console.log" | grep -q -- "$1"; }
	[ "$status" -eq 0 ] && ok "UML halted (status 0)" || bad "UML exited with status $status"
	has "^UML: blk sha256=$host_sum" && ok "UML's virtio_blk reads the host's pattern (sha256 matches)" ||
		bad "UML read a different disk"
	has "^UML: blkwrite sha256=$guest_sum" && ok "UML reads back its own direct writes" ||
		bad "UML's write did not read back"
	got=$(sha256sum <"$dir/disk.img" | cut -d' ' -f1)
	[ "$got" = "$guest_sum" ] && ok "the image holds UML's pattern (written, synced)" ||
		bad "image checksum $got, expected $guest_sum"
	grep -q "client got:.*uml-says-hi" "$dir/client.out" && ok "hvc0 -> the daemon's console socket" ||
		bad "the console client did not get the guest's line"
	has "^UML: hvc0 read host-says-hi" && ok "the daemon's console socket -> hvc0" ||
		bad "the guest did not read the host's line"
	has "^UML: FAIL" && bad "UML: $(grep '^UML: FAIL' "$dir/console.log")"
	has "^UML: done" && ok "UML finished its script" || bad "UML did not finish its script"
	for d in blk con; do
		grep -q "front-end dropped" "$dir/$d.log" && bad "the $d daemon dropped UML: $(grep 'dropped' "$dir/$d.log")"
	done
	for p in $blkd $cond; do
		kill -TERM "$p"
		s=0
		wait "$p" || s=$?
		[ "$s" -eq 0 ] || bad "a daemon exited with status $s on SIGTERM"
	done
	blkd=
	cond=
	if [ -n "$opts" ]; then
		# sysfs shows a device's features as 64 characters, bit 0 first.
		n=$(tr -d '\r' <"$dir/console.log" | grep '^UML: features ' | cut -d' ' -f3 | cut -c35 | grep -c 1 || true)
		[ "$n" -eq 2 ] && ok "both UML devices negotiated VIRTIO_F_RING_PACKED" ||
			bad "$n of 2 UML devices negotiated the packed ring"
		grep -q "a fresh packed ring given base 0" "$dir/blk.log" &&
			ok "the disk's daemon started UML's packed ring (base 0) at wrap counter 1" ||
			bad "the disk's daemon did not see UML's packed ring start"
	fi
	for f in console.log blk.log con.log client.out; do cp "$dir/$f" "$dir/$f.$layout"; done
}

layout=split
run ""
layout=packed
run ",packed=on"
if [ "$fail" -ne 0 ]; then
	for l in split packed; do
		for f in console.log blk.log con.log client.out; do
			[ -f "$dir/$f.$l" ] && { echo "---- $l: $f"; cat "$dir/$f.$l"; }
		done
	done
fi
exit "$fail"
