#!/bin/sh
# Start vdm on the simulator, let the test driver enumerate PCI and drive each
# virtio device as a guest would, print what it found, and stop vdm.
#   sim-enumerate.sh [VDM [VDM-ENUM [-s ... options]]]
# Without -s options: a host bridge, virtio-blk on a fresh 64 MiB image, and
# virtio-rnd.
set -eu
vdm=${1:-vdm}; enum=${2:-vdm-enum}
[ $# -ge 2 ] && shift 2 || set --
dir=$(mktemp -d /tmp/vdm-demo-XXXXXX)
if [ $# -eq 0 ]; then
	truncate -s 64M "$dir/disk.img"
	set -- -s 0:0,hostbridge -s 3,virtio-blk,"$dir/disk.img",serial=demo-disk -s 4,virtio-rnd
fi
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$vdm" --hsm "sim:$dir/sim.sock" --log-file "$dir/vdm.log" "$@" &
pid=$!
i=0
while [ ! -S "$dir/sim.sock" ]; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "vdm did not start" >&2; exit 1; }
	kill -0 $pid 2>/dev/null || { cat "$dir/vdm.log" >&2; exit 1; }
	sleep 0.02
done
"$enum" --exercise "$dir/sim.sock"
kill -TERM $pid
status=0
wait $pid || status=$?
echo "--- vdm's log:"
cat "$dir/vdm.log"
trap 'rm -rf "$dir"' EXIT
[ $status -eq 0 ] && echo "vdm stopped cleanly" || { echo "vdm exited with status $status"; exit 1; }
