#!/bin/sh
# vdm-vhost-user's poll=auto decides the notification hold-off per front-end
# from where the two may run (vdm_vhost_user_placement.c): off when the
# front-end and the daemon are held to the same single CPU (its timer ticks
# would take the front-end's CPU), on otherwise; auto is the default, and
# poll=off and poll=USECS are kept whatever the placement.  The front-end is a process pinned with
# taskset that connects and asks for the features; the daemon's log says
# what it chose and why.  Which is faster where is bench part 8's business.
set -u
. "$VDM_SRCDIR/tests/sim/vvu_lib.sh"
vvu_scratch place
ncpu=$(nproc)

# front_end CPU: connect from a process on CPU, ask for the features, leave.
front_end() {
	taskset -c "$1" python3 - "$dir/blk.sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0))   # GET_FEATURES
hdr = s.recv(12)
s.recv(struct.unpack("<III", hdr)[2])
PY
}

# case DAEMON-CPU FRONT-END-CPU OPTS EXPECTED-LOG-TEXT WHAT
case_() {
	rm -f "$dir/blk.sock" "$dir/daemon.log"
	taskset -c "$1" "$VDM_BUILDDIR/devicemodel/vdm-vhost-user" --socket "$dir/blk.sock" \
		--log-file "$dir/daemon.log" virtio-blk,"$dir/disk.img$3" &
	daemon=$!
	wait_socket "$dir/blk.sock"
	front_end "$2" || bad "$5: the front-end could not talk to the daemon"
	i=0
	while ! grep -q "a front-end connected" "$dir/daemon.log" && [ $i -lt 100 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	sleep 0.1
	if [ -n "$4" ]; then
		grep -q -- "$4" "$dir/daemon.log" && ok "$5" ||
			{ bad "$5: no '$4' in the daemon's log"; cat "$dir/daemon.log"; }
	else
		grep -q "poll=auto" "$dir/daemon.log" &&
			{ bad "$5: the daemon decided although poll= was given"; cat "$dir/daemon.log"; } ||
			ok "$5"
	fi
	kill "$daemon"
	wait "$daemon" 2>/dev/null
	daemon=
}

truncate -s 16M "$dir/disk.img"
case_ 0 0 "" "runs on CPU 0, the daemon on CPU 0: hold-off off" \
	"both on CPU 0: poll=auto turns the hold-off off"
if [ "$ncpu" -ge 2 ]; then
	case_ 1 0 "" "runs on CPU 0, the daemon on CPU 1: hold-off on" \
		"the front-end on CPU 0, the daemon on CPU 1: the hold-off is on"
	case_ 0 "0-1" "" "runs on CPU 0-1, the daemon on CPU 0: hold-off on" \
		"a front-end free to run elsewhere: the hold-off is on"
else
	echo "(one CPU: the split placements cannot be made here)"
fi
case_ 0 0 ",poll=auto" "runs on CPU 0, the daemon on CPU 0: hold-off off" \
	"poll=auto given: decided the same way"
case_ 0 0 ",poll=16" "" "poll=16 given: kept, nothing decided"
case_ 0 0 ",poll=off" "" "poll=off given: kept, nothing decided"
exit $fail
