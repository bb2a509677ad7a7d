#!/bin/sh
# Two writers on one image: vdm takes QEMU's image locks.  Two virtio-blk of
# one vdm on one image, and a second vdm on an image a vdm writes, are refused
# at start-up (exit 1, one line naming the image and the holder); so are vdm on
# an image qemu-storage-daemon exports writable, and qemu-storage-daemon on an
# image vdm writes.  Two read-only users share an image, and locking=off opens
# it deliberately beside a writer.
set -u
dir=$(mktemp -d /tmp/vdm-lock-XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
img=$dir/disk.img
truncate -s 8M "$img"

# start NAME ARGS...: vdm on the simulator in the background, holding its
# devices until stopped; returns non-zero when it exited instead.
n=0
start() {
	name=$1
	shift
	n=$((n + 1))
	"$VDM" --hsm "sim:$dir/sim$n.sock" --log-file "$dir/$name.log" "$@" &
	pid=$!
	i=0
	while [ ! -S "$dir/sim$n.sock" ] && kill -0 $pid 2>/dev/null && [ $i -lt 250 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	[ -S "$dir/sim$n.sock" ] || { wait $pid; return 1; }
	pids="$pids $pid"
	eval "pid_$name=$pid"
}
stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=
}

# refused WHAT PATTERN ARGS...: vdm exits 1 at start with one error line
# matching PATTERN (one that starts instead is stopped after 10 s).
refused() {
	what=$1 pat=$2
	shift 2
	n=$((n + 1))
	st=0
	timeout 10 "$VDM" --hsm "sim:$dir/sim$n.sock" "$@" >"$dir/out" 2>&1 || st=$?
	errs=$(grep -v "^vdm: info:" "$dir/out")
	if [ $st -eq 1 ] && [ "$(printf '%s\n' "$errs" | wc -l)" -eq 1 ] &&
		printf '%s\n' "$errs" | grep -q -- "$pat"; then
		ok "$what: exit 1, '$errs'"
	else
		bad "$what: exit $st, output:"
		cat "$dir/out"
	fi
}

refused "two virtio-blk of one vdm on one image" \
	"image $img is open for writing by another virtio-blk of this vdm; locking=off" \
	-s 3,virtio-blk,"$img" -s 4,virtio-blk,"$img"

start a -s 3,virtio-blk,"$img" || bad "vdm starts on the image"
refused "a second vdm on an image a vdm writes" \
	"image $img is open for writing by vdm (pid $pid_a)" -s 3,virtio-blk,"$img"
refused "a read-only vdm on an image a vdm writes" \
	"image $img is open for writing by vdm (pid $pid_a)" -s 3,virtio-blk,"$img",ro
start off -s 3,virtio-blk,"$img",locking=off &&
	ok "locking=off opens the image beside the writer" ||
	bad "locking=off: $(cat "$dir/off.log")"

qsd_export() { # EXTRA-OPTION: export the image writable from qemu-storage-daemon
	qemu-storage-daemon --blockdev "driver=file,node-name=d0,filename=$img" \
		--export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$dir/q.sock,writable=on" \
		>"$dir/qsd.out" 2>&1 &
	qsd=$!
	i=0
	while [ ! -S "$dir/q.sock" ] && kill -0 $qsd 2>/dev/null && [ $i -lt 250 ]; do
		sleep 0.02
		i=$((i + 1))
	done
}
if command -v qemu-storage-daemon >/dev/null; then
	rm -f "$dir/q.sock"
	qsd_export
	if [ -S "$dir/q.sock" ]; then
		kill $qsd
		bad "qemu-storage-daemon exported an image vdm writes"
	else
		wait $qsd
		grep -q 'Failed to get "write" lock' "$dir/qsd.out" &&
			ok "qemu-storage-daemon refuses an image vdm writes: $(cat "$dir/qsd.out")" ||
			bad "qemu-storage-daemon: $(cat "$dir/qsd.out")"
	fi
	stop_all
	rm -f "$dir/q.sock"
	qsd_export
	if [ -S "$dir/q.sock" ]; then
		pids="$pids $qsd"
		refused "vdm on an image qemu-storage-daemon exports writable" \
			"image $img is open for writing by qemu-storage-daemon (pid $qsd)" \
			-s 3,virtio-blk,"$img"
	else
		bad "qemu-storage-daemon exports the image once vdm is gone: $(cat "$dir/qsd.out")"
	fi
else
	echo "skip: qemu-storage-daemon is not installed (Debian: qemu-system-common)"
fi
stop_all

start ro1 -s 3,virtio-blk,"$img",ro && start ro2 -s 3,virtio-blk,"$img",ro &&
	ok "two read-only vdm share the image" ||
	bad "read-only sharing: $(cat "$dir/ro1.log" "$dir/ro2.log" 2>/dev/null)"
refused "a writer beside the readers" "which lets no one else write it" -s 3,virtio-blk,"$img"
stop_all
start again -s 3,virtio-blk,"$img" && ok "once they stop, a writer opens it" ||
	bad "writer after the readers stopped: $(cat "$dir/again.log")"
stop_all
exit $fail
