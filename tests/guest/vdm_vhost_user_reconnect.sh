#!/bin/sh
# vdm-vhost-user killed under a running guest, twice over: a TCG guest
# writes and reads back its disk in a loop (4 KiB blocks, direct I/O, each
# compared) while the test kills the daemon with SIGKILL 5 times and starts
# a new one on the same socket and image.  The front-end keeps the daemon's
# in-flight region (INFLIGHT_SHMFD) and hands it to each new daemon, which
# serves again the requests the dead one held.  The guest must see nothing
# but pauses: every round compares right, no I/O error, no reset, and after
# power-off the image holds the last pattern written to each block.
#   1. The front-end is one we did not write: QEMU's vhost-user-blk-pci
#      (chardev reconnect=1), QEMU booted directly.
#   2. The front-end is vdm (-s 4,virtio-blk,vhost=user:SOCK,reconnect=1,
#      the guest's virtio-blk behind QEMU's x-pci-proxy-dev): vdm must say
#      5 times that the rings went on where they were, never that the
#      device needs a reset.
#
# So that a kill finds requests in flight rather than an idle daemon, each
# daemon runs under strace with a 300 ms delay injected into its writes
# (aio=threads: they are pwritev/pwritev2 calls): a write the daemon took
# stays in flight that long.  In each part at least one daemon must say it
# served such requests again, or the test did not test what it says.
set -eu
command -v strace >/dev/null || { echo "SKIP: strace is not installed"; exit 77; }
. "$VDM_SRCDIR/tests/guest/lib.sh"
qemu_guest_ready vhost-user-blk-pci
dir=$(mktemp -d /tmp/vdm-guest-vureconn-XXXXXX)
tracer=
front=
cleanup() {
	# The daemon first: killing strace would only detach it.
	if [ -n "$tracer" ]; then
		kill -KILL "$(pgrep -P "$tracer" -x vdm-vhost-user)" 2>/dev/null || true
	fi
	for p in $tracer $front; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
truncate -s $((16 * 1024 * 1024)) "$dir/disk.img"

# A daemon under strace; $tracer is strace, the daemon its only child.
start_daemon() {
	rm -f "$dir/blk.sock"
	strace -f -qq -o /dev/null --seccomp-bpf -e trace=pwritev,pwritev2 \
		-e inject=pwritev,pwritev2:delay_enter=300000 \
		"$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/blk.sock" \
		--log-file "$dir/daemon.log" virtio-blk,"$dir/disk.img",aio=threads \
		2>>"$dir/strace.log" &
	tracer=$!
	wait_socket "$dir/blk.sock"
}

# Once the guest's loop runs, kill the daemon 5 times, 3 s apart, each
# time starting a new one; $kills counts them.  The signal goes to the
# daemon: strace blocks fatal signals, and killing it would only detach.
kill_daemons() {
	i=0
	until grep -q "VDM: blkloop start" "$dir/console.log" 2>/dev/null || [ $i -ge 1200 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kills=0
	for n in 1 2 3 4 5; do
		sleep 3
		pid=$(pgrep -P "$tracer" -x vdm-vhost-user || true)
		[ -n "$pid" ] || break
		kill -KILL "$pid"
		wait "$tracer" 2>/dev/null || true
		kills=$((kills + 1))
		echo "---- daemon $n killed" >>"$dir/daemon.log"
		sleep 0.3
		start_daemon
	done
}

stop_daemon() {
	kill -TERM "$(pgrep -P "$tracer" -x vdm-vhost-user)" 2>/dev/null || true
	wait "$tracer" 2>/dev/null || true
	tracer=
}

# What both parts check once the guest powered off; $1 names the part.
common_checks() {
	[ $kills -eq 5 ] && echo "ok: $1: the daemon was killed 5 times and started again" ||
		{ echo "FAIL: $1: only $kills kills"; fail=1; }
	blkloop_checks "$1"
	connected=$(grep -c "a front-end connected" "$dir/daemon.log" || true)
	[ "$connected" -eq 6 ] && echo "ok: $1: the front-end reconnected to each new daemon" ||
		{ echo "FAIL: $1: the daemons saw $connected front-ends (6 expected)"; fail=1; }
	resubmitted=$(grep -c "served again" "$dir/daemon.log" || true)
	[ "$resubmitted" -ge 1 ] &&
		echo "ok: $1: $resubmitted restarted daemons served again requests a killed one held" ||
		{ echo "FAIL: $1: no kill found a request in flight (nothing served again)"; fail=1; }
	grep -q "front-end dropped" "$dir/daemon.log" &&
		{ echo "FAIL: $1: a daemon dropped the front-end"; fail=1; } ||
		echo "ok: $1: the front-end sent nothing a daemon refused"
}

# Once the front-end ($front) runs: the kills, its end, the last daemon
# stopped; $1 names the part.
front_end_done() {
	kill_daemons
	status=0
	wait "$front" || status=$?
	front=
	stop_daemon
	[ "$status" -eq 0 ] && echo "ok: $1: it exited 0 after the guest powered off" ||
		{ echo "FAIL: $1: it exited with status $status"; fail=1; }
}

fail=0

# ---- 1. QEMU's vhost-user-blk-pci ----
: >"$dir/vdm.log" # lib.sh shows vdm's log on failure: there is no vdm in this part
start_daemon
qemu_shared_ram -b 400 "vdm.run=enum,blkloop vdm.blkloop=45" \
	-chardev socket,id=blk0,path="$dir/blk.sock",reconnect=1 \
	-device vhost-user-blk-pci,chardev=blk0,addr=4 >"$dir/qemu.log" 2>&1
front=$!
front_end_done QEMU
common_checks QEMU
check "QEMU: guest finished its tests" "^VDM: done"
for f in console daemon; do mv "$dir/$f.log" "$dir/$f-qemu.log"; done

# ---- 2. vdm's vhost=user: route ----
truncate -s 0 "$dir/disk.img"
truncate -s $((16 * 1024 * 1024)) "$dir/disk.img"
start_daemon
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,blkloop -a vdm.blkloop=45 -- \
	-m 256M -s 4,virtio-blk,vhost=user:"$dir/blk.sock",reconnect=1 &
front=$!
front_end_done vdm
common_checks vdm
resumed=$(grep -c "the rings go on where they were" "$dir/vdm.log" || true)
[ "$resumed" -eq 5 ] && echo "ok: vdm: the rings went on where they were after each kill" ||
	{ echo "FAIL: vdm: the rings went on $resumed times (5 expected)"; fail=1; }
grep -q "needs reset\|NEEDS_RESET" "$dir/vdm.log" &&
	{ echo "FAIL: vdm: the device needed a reset"; fail=1; } ||
	echo "ok: vdm: the device never needed a reset"
guest_checks_end "vdm-vhost-user (vdm part)" "$dir/daemon.log" \
	"QEMU part: guest console" "$dir/console-qemu.log" \
	"QEMU part: vdm-vhost-user" "$dir/daemon-qemu.log" QEMU "$dir/qemu.log" \
	strace "$dir/strace.log"
