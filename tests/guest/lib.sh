# shellcheck shell=sh disable=SC2154 # dir, guest, ns, daemon, sink are the sourcing test's
# tests/guest/lib.sh - what the real-guest tests share.  Sourcing it only
# defines functions; they read the test's own variables: $dir (its temporary
# directory: the guest's console in $dir/console.log, vdm's log in
# $dir/vdm.log), $guest (the test guest's kernel and initramfs, for QEMU
# booted directly), $ns (its network namespace), $daemon (a vdm-vhost-user
# it started), $sink (tcp-sink's pid).
#
# Set-up:
#   qemu_guest_ready [DEVICE]     for QEMU booted directly: skip the test
#                                 (exit 77) when QEMU has no DEVICE, then
#                                 build the test guest into $guest
#                                 ($VDM_GUEST_DIR, or the shared cache)
#   wait_socket PATH              wait (10 s at most) for a UNIX socket
#   netns_up                      make $ns: IPv6 off, lo up
#   inns CMD...                   run CMD in $ns
#   tcp_sink_start BYTES          tcp-sink in $ns on 10.0.3.1:5000 for BYTES
#                                 (its report in $dir/sink.out); sets $sink
#   tcp_sink_stop                 give it 5 s to finish, stop it, clear $sink
#   qemu_shared_ram [-b] TIMEOUT APPEND [QEMU-ARG]...
#                                 QEMU booted directly on $guest: TCG,
#                                 256 MiB of RAM in a shared memfd (for a
#                                 vhost-user back-end to map), the console
#                                 in $dir/console.log, APPEND added to the
#                                 kernel's arguments; the QEMU-ARGs add its
#                                 devices.  Its status; with -b in the
#                                 background ($! is its pid)
# Checks (after the guest ran):
#   guest_checks_begin STATUS     start the checks: vdm must have exited 0
#   check DESCRIPTION PATTERN     PATTERN (grep) must be on the console
#   qemu_exit_check LABEL STATUS  QEMU booted directly must have exited 0
#   tcp_transfer_check TAG BYTES DESCRIPTION
#                                 the guest's "VDM: TAG sent bytes= sha256="
#                                 line and tcp-sink's must match, BYTES long
#   blkloop_checks [LABEL]        a blkloop guest compared every round right,
#                                 logged no I/O error or reset, and left the
#                                 last pattern of each block in $dir/disk.img
#   front_ends_check LOG          the daemon logging to LOG served two
#                                 front-ends, one after the other
#   daemon_term_check             SIGTERM to $daemon: it must exit 0
#   daemon_end_checks LOG SOCKET  after QEMU: the daemon logging to LOG
#                                 dropped no front-end; daemon_term_check;
#                                 SOCKET is gone
#   guest_checks_end [LABEL FILE]...
#                                 the guest's own FAIL lines and its "done";
#                                 on any failure, dump the console, vdm's log
#                                 and each extra FILE under its LABEL; exits
#                                 with the result
# Failures set fail=1; each check prints "ok: ..." or "FAIL: ...".

qemu_guest_ready() {
	if [ -n "${1:-}" ]; then
		qemu-system-x86_64 -device help 2>/dev/null | grep -q "\"$1\"" ||
			{ echo "SKIP: this QEMU has no $1"; exit 77; }
	fi
	guest=${VDM_GUEST_DIR:-/var/cache/vdm-guest}
	"$VDM_SRCDIR/samples/guest/build-image.sh" "$guest" >&2
}

wait_socket() {
	_ws_n=0
	while [ ! -S "$1" ] && [ $_ws_n -lt 100 ]; do sleep 0.1; _ws_n=$((_ws_n + 1)); done
}

inns() { ip netns exec "$ns" "$@"; }

netns_up() {
	ip netns add "$ns"
	inns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6'
	inns ip link set lo up
}

# Not through inns: $! must be tcp-sink's own pid (ip netns exec execs it).
tcp_sink_start() {
	ip netns exec "$ns" "$VDM_BUILDDIR/tests/guest/tcp-sink" 10.0.3.1 5000 "$1" 400 \
		>"$dir/sink.out" 2>&1 &
	sink=$!
}

# The sink is done once the guest has sent everything; do not wait for a
# guest that never connected.
tcp_sink_stop() {
	_ts_n=0
	while kill -0 "$sink" 2>/dev/null && [ $_ts_n -lt 50 ]; do sleep 0.1; _ts_n=$((_ts_n + 1)); done
	kill "$sink" 2>/dev/null || true
	wait "$sink" 2>/dev/null || true
	sink=
}

# Built as one argument list so that the same command runs in the
# foreground or, with -b, in the background with $! its own pid (timeout's),
# which a function run with & would not give.
qemu_shared_ram() {
	_qs_bg=
	if [ "$1" = -b ]; then
		_qs_bg=1
		shift
	fi
	_qs_timeout=$1 _qs_append=$2
	shift 2
	set -- timeout -k 10 "$_qs_timeout" qemu-system-x86_64 -accel tcg -machine pc -cpu max -m 256M \
		-object memory-backend-memfd,id=ram,size=256M,share=on -machine memory-backend=ram \
		-display none -vga none -monitor none -nic none -no-reboot \
		-serial "file:$dir/console.log" "$@" \
		-kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 $_qs_append"
	if [ -n "$_qs_bg" ]; then
		"$@" </dev/null &
	else
		"$@" </dev/null
	fi
}

guest_checks_begin() {
	fail=0
	if [ "$1" -eq 0 ]; then
		echo "ok: vdm exited 0 after the guest powered off"
	else
		echo "FAIL: vdm exited with status $1"; fail=1
	fi
}

check() {
	if tr -d '\r' <"$dir/console.log" | grep -q -- "$2"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no '$2' on the console)"; fail=1
	fi
}

qemu_exit_check() {
	if [ "$2" -eq 0 ]; then
		echo "ok: $1: QEMU exited 0 after the guest powered off"
	else
		echo "FAIL: $1: QEMU exited with status $2"; fail=1
	fi
}

tcp_transfer_check() {
	_tt_sent=$(tr -d '\r' <"$dir/console.log" |
		sed -n "s/^VDM: $1 sent bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p")
	_tt_got=$(sed -n 's/^bytes=\([0-9]*\) sha256=\([0-9a-f]*\)/\1 \2/p' "$dir/sink.out")
	if [ -n "$_tt_sent" ] && [ "$_tt_sent" = "$_tt_got" ] && [ "${_tt_got%% *}" -eq "$2" ]; then
		echo "ok: $3 ($_tt_got)"
	else
		echo "FAIL: TCP transfer: guest sent '$_tt_sent', host received '$_tt_got'"; fail=1
	fi
}

# The guest's loop (vdm.run=blkloop) writes "vdm loop ROUND" to block
# ROUND % 64 and reads it back, so block b last got the last such round.
blkloop_checks() {
	_bl_p=${1:+$1: }
	check "${_bl_p}the guest's loop compared every round right" \
		"^VDM: blkloop dev=vda rounds=[1-9][0-9]* errors=0"
	if tr -d '\r' <"$dir/console.log" | grep -qiE "I/O error|blk_update_request|virtio.*reset"; then
		echo "FAIL: ${_bl_p}the guest logged an I/O error or a reset"; fail=1
	else
		echo "ok: ${_bl_p}the guest logged no I/O error and no reset"
	fi
	_bl_rounds=$(tr -d '\r' <"$dir/console.log" |
		sed -n 's/^VDM: blkloop dev=vda rounds=\([0-9]*\).*/\1/p')
	if [ -n "$_bl_rounds" ] && [ "$_bl_rounds" -gt 0 ]; then
		_bl_bad=0
		_bl_b=0
		while [ $_bl_b -lt 64 ] && [ $_bl_b -lt "$_bl_rounds" ]; do
			_bl_last=$(( (_bl_rounds - 1) - ((_bl_rounds - 1 - _bl_b) % 64) ))
			_bl_want=$(printf 'vdm loop %08d' "$_bl_last")
			_bl_got=$(dd if="$dir/disk.img" bs=4096 skip=$_bl_b count=1 2>/dev/null | head -c 17)
			[ "$_bl_got" = "$_bl_want" ] || _bl_bad=$((_bl_bad + 1))
			_bl_b=$((_bl_b + 1))
		done
		if [ $_bl_bad -eq 0 ]; then
			echo "ok: ${_bl_p}the image holds the last write to each block ($_bl_rounds rounds)"
		else
			echo "FAIL: ${_bl_p}$_bl_bad blocks of the image miss their last write"; fail=1
		fi
	fi
}

front_ends_check() {
	_fe_n=$(grep -c "a front-end connected" "$1" || true)
	if [ "$_fe_n" -eq 2 ]; then
		echo "ok: one daemon served both QEMUs, one after the other"
	else
		echo "FAIL: the daemon saw $_fe_n front-ends (2 expected)"; fail=1
	fi
}

daemon_term_check() {
	kill -TERM "$daemon"
	_dt_status=0
	wait "$daemon" || _dt_status=$?
	daemon=
	if [ "$_dt_status" -eq 0 ]; then
		echo "ok: SIGTERM: vdm-vhost-user exited 0"
	else
		echo "FAIL: vdm-vhost-user exited with status $_dt_status"; fail=1
	fi
}

daemon_end_checks() {
	if grep -q "front-end dropped" "$1"; then
		echo "FAIL: the daemon dropped a front-end"; fail=1
	else
		echo "ok: QEMU sent nothing the daemon refused"
	fi
	daemon_term_check
	if [ ! -e "$2" ]; then
		echo "ok: ... and removed its socket"
	else
		echo "FAIL: the socket is still there"; fail=1
	fi
}

guest_checks_end() {
	check "guest finished its tests" "^VDM: done"
	if tr -d '\r' <"$dir/console.log" | grep -q "^VDM: FAIL"; then
		echo "FAIL: guest reported:"; tr -d '\r' <"$dir/console.log" | grep "^VDM: FAIL"
		fail=1
	fi
	if [ "$fail" -ne 0 ]; then
		echo "---- guest console"; cat "$dir/console.log"
		echo "---- vdm log"; cat "$dir/vdm.log"
		while [ $# -ge 2 ]; do
			echo "---- $1"; cat "$2" 2>/dev/null
			shift 2
		done
	fi
	exit "$fail"
}
