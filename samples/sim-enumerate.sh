#!/bin/sh
# Start vdm on the simulator with the devices given (default: a host bridge),
# let the test driver enumerate PCI as a guest would, print what it found,
# and stop vdm.  Usage: sim-enumerate.sh [VDM] [VDM-ENUM] [-s ... options]
set -eu
vdm=${1:-vdm}; enum=${2:-vdm-enum}
[ $# -ge 2 ] && shift 2 || set --
[ $# -gt 0 ] || set -- -s 0:0,hostbridge
dir=$(mktemp -d /tmp/vdm-demo-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$vdm" --hsm "sim:$dir/sim.sock" "$@" &
pid=$!
i=0
while [ ! -S "$dir/sim.sock" ]; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "vdm did not start" >&2; exit 1; }
	kill -0 $pid 2>/dev/null || { wait $pid; exit 1; }
	sleep 0.02
done
"$enum" "$dir/sim.sock"
kill -TERM $pid
wait $pid
trap 'rm -rf "$dir"' EXIT
echo "vdm stopped cleanly"
