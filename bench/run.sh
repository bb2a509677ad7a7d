#!/bin/sh
# vdm's benchmarks, in one run (a few minutes): builds vdm, then prints
#   1. 4 KiB random I/O at QD 1/8/32 on a tmpfs image: VBS-U vs vhost-user to
#      qemu-storage-daemon, with IOPS, latency and CPU per request, and ratios;
#   2. notification cost beside eventfd ping-pong on one and on two CPUs;
#   3. a real guest's dd on vdm's virtio-blk vs QEMU's built-in virtio-blk-pci;
#   4. vdm's footprint with four devices and its start-to-first-I/O time.
#   bench/run.sh [SECONDS-PER-POINT]      (default 3)
# Figures, never pass/fail; the machine's other load shows in them, so read
# the ratios (both sides measured in the same run).  Logs: bench-*.log in a
# temporary directory printed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
secs=${1:-3}
"$top/samples/setup.sh" "$build" >&2
logs=$(mktemp -d /tmp/vdm-bench-logs-XXXXXX)
img=/dev/shm/vdm-bench-$$.img
trap 'rm -f "$img"' EXIT
truncate -s 256M "$img"
# Fill it, so reads touch real pages rather than tmpfs holes.
dd if=/dev/urandom of="$img" bs=1M count=256 conv=notrunc status=none
echo "vdm benchmarks on $(uname -m), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
VDM=$build/devicemodel/vdm "$build/bench/blk-bench" -t "$secs" "$img" 2>"$logs/bench-sim.log"
"$top/bench/guest.sh" "$build" 2>"$logs/bench-guest.log"
echo
echo "logs: $logs"
