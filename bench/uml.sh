#!/bin/sh
# Part 8: the same front-end we did not write, on two vhost-user-blk
# daemons: User-Mode Linux (Debian's user-mode-linux, virtio_uml, root on
# the host's file system through hostfs) runs the host's fio on its
# virtio_blk disk, served once by vdm-vhost-user and once by
# qemu-storage-daemon (--export vhost-user-blk), on the same 256 MiB tmpfs
# image in the same run.  4 KiB randread and randwrite at QD1 and QD32
# (libaio, O_DIRECT inside UML; both daemons use the host's page cache).
# Per point and daemon: fio's IOPS, and the daemon's CPU per request
# (utime + stime of all its threads from /proc/PID/stat, from its socket
# appearing to UML's halt, over the requests fio completed; UML's boot adds
# a few dozen requests of its own).  Each point boots one UML per daemon,
# the two daemons alternating, ROUNDS times; medians are printed, then
# "ratio uml WORKLOAD qdN: iops X cpu Y (PLACEMENT)" lines
# (vdm-vhost-user / qemu-storage-daemon; cpu below 1 is cheaper).
# Two placements, because UML's wake-ups dominate QD1: same-cpu (UML and
# the daemon on CPU 0) and split-cpu (UML on CPU 0, the daemon on CPU 1).
#   bench/uml.sh BUILDDIR [SECONDS-PER-POINT [ROUNDS]]   (default 4 s, 3 rounds)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-4}
rounds=${3:-3}
echo
echo "8. UML's virtio_blk with fio: vdm-vhost-user vs qemu-storage-daemon, same image"
for c in linux.uml fio qemu-storage-daemon python3 taskset; do
	command -v $c >/dev/null 2>&1 ||
		{ echo "  (did not run: no $c; Debian: user-mode-linux, fio, qemu-system-common)"; exit 0; }
done
dir=$(mktemp -d /tmp/vdm-bench-uml-XXXXXX)
img=/dev/shm/vdm-bench-uml-$$.img
daemon=
cleanup() {
	[ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
	rm -rf "$dir" "$img"
}
trap cleanup EXIT
truncate -s 256M "$img"
dd if=/dev/urandom of="$img" bs=1M count=256 conv=notrunc status=none
hz=$(getconf CLK_TCK)

# UML's init: virtio_blk from /usr/lib/uml/modules (python3's finit_module:
# the host may have no kmod), then one fio job named on the kernel's
# command line (VVU_RW, VVU_QD, VVU_SECS reach init as its environment).
. "$top/tests/guest/uml_lib.sh"
uml_init drivers/block/virtio_blk.ko
cat >>"$dir/init.sh" <<'GUEST'
mount -t proc proc /proc
mount -t tmpfs tmpfs /tmp
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
cd /tmp
fio --name=uml --filename=/dev/vda --rw="$VVU_RW" --bs=4k --iodepth="$VVU_QD" \
	--ioengine=libaio --direct=1 --thread --time_based --runtime="$VVU_SECS" \
	--output-format=terse --terse-version=3 2>&1 | sed 's/^/UML: fio /'
exec halt -f
GUEST

start_daemon() { # vvu|qsd SOCKET LOG CPU
	rm -f "$2"
	if [ "$1" = vvu ]; then
		taskset -c "$4" "$build/devicemodel/vdm-vhost-user" --socket "$2" --log-file "$3" \
			virtio-blk,"$img"${VVU_OPTS:-} &
	else
		taskset -c "$4" qemu-storage-daemon \
			--blockdev driver=file,node-name=d0,filename="$img",cache.direct=off \
			--export type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path="$2",writable=on \
			>"$3" 2>&1 &
	fi
	daemon=$!
	i=0
	while [ ! -S "$2" ] && [ $i -lt 100 ] && kill -0 "$daemon" 2>/dev/null; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$2" ]
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# point DAEMON RW QD ROUND PLACEMENT: one UML run; appends "IOPS
# US-PER-REQUEST" to $dir/PLACEMENT-DAEMON-RW-QD, or nothing when the run
# failed (said on stderr).
point() {
	tag=$5-$1-$2-$3-$4
	dcpu=1
	[ "$5" = split-cpu ] || dcpu=0
	if ! start_daemon "$1" "$dir/blk.sock" "$dir/$tag.daemon.log" $dcpu; then
		echo "  $tag: the daemon did not start: $(tail -n 1 "$dir/$tag.daemon.log")" >&2
		return 0
	fi
	t0=$(ticks "$daemon")
	uml_boot -c 0 $((secs + 120)) 256M "$dir/$tag.console.log" VVU_RW="$2" VVU_QD="$3" \
		VVU_SECS="$secs" virtio_uml.device="$dir/blk.sock:2" || true
	t1=$(ticks "$daemon")
	kill -TERM "$daemon"
	wait "$daemon" 2>/dev/null || true
	daemon=
	# terse v3: field 6 read KiB, 8 read IOPS; 47 write KiB, 49 write IOPS.
	line=$(tr -d '\r' <"$dir/$tag.console.log" | sed -n 's/^UML: fio 3;/3;/p' | head -n 1)
	[ -n "$line" ] || { echo "  $tag: no fio result; see $dir/$tag.console.log" >&2; return 0; }
	echo "$line" | awk -F';' -v t=$((t1 - t0)) -v hz="$hz" -v rw="$2" '{
		kib = rw == "randread" ? $6 : $47; iops = rw == "randread" ? $8 : $49
		n = kib / 4
		if (n > 0) printf "%d %.1f\n", iops, t / hz * 1e6 / n }' >>"$dir/$5-$1-$2-$3"
}

median() { # FILE COLUMN
	[ -s "$1" ] || { echo "-"; return; }
	sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }

echo "UML (Linux $(ls /usr/lib/uml/modules | head -n 1), virtio_uml) with the host's fio on /dev/vda: 4 KiB, libaio, O_DIRECT,"
echo "$secs s per point, median of $rounds rounds (daemons alternating); 256 MiB tmpfs image, page cache on"
echo "both sides (vdm-vhost-user virtio-blk,IMAGE; qemu-storage-daemon cache.direct=off, aio=threads);"
echo "us/r = the daemon's CPU per request"
ratios=
for pl in same-cpu split-cpu; do
	r=1
	while [ $r -le "$rounds" ]; do
		for rw in randread randwrite; do
			for qd in 1 32; do
				point vvu $rw $qd $r $pl
				point qsd $rw $qd $r $pl
			done
		done
		r=$((r + 1))
	done
	echo
	[ $pl = same-cpu ] && echo "placement same-cpu: UML and the daemon on CPU 0" ||
		echo "placement split-cpu: UML on CPU 0, the daemon on CPU 1"
	printf '%-10s %3s | %9s %8s | %9s %8s\n' workload QD "vvu IOPS" "us/r" "qsd IOPS" "us/r"
	for rw in randread randwrite; do
		for qd in 1 32; do
			vi=$(median "$dir/$pl-vvu-$rw-$qd" 1)
			vc=$(median "$dir/$pl-vvu-$rw-$qd" 2)
			qi=$(median "$dir/$pl-qsd-$rw-$qd" 1)
			qc=$(median "$dir/$pl-qsd-$rw-$qd" 2)
			printf '%-10s %3s | %9s %8s | %9s %8s\n' $rw $qd "$vi" "$vc" "$qi" "$qc"
			ratios="$ratios
ratio uml $rw qd$qd: iops $(ratio "$vi" "$qi") cpu $(ratio "$vc" "$qc") ($pl)"
		done
	done
done
echo "${ratios#?}"
echo "ratios: vdm-vhost-user / qemu-storage-daemon (iops above 1 is faster, cpu below 1 is cheaper)"
