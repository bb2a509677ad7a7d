#!/bin/sh
# vdm's benchmarks, in one run (a few minutes): builds vdm, then prints
#   1. 4 KiB random I/O at QD 1/8/32 on a tmpfs image: VBS-U vs vhost-user to
#      qemu-storage-daemon, with IOPS, latency and CPU per request, and ratios;
#   2. notification cost beside eventfd ping-pong on one and on two CPUs;
#   3. a real guest's dd on vdm's virtio-blk vs QEMU's built-in virtio-blk-pci;
#   4. vdm's footprint with four devices and its start-to-first-I/O time;
#   5. VBS-U vs qemu-storage-daemon in three settings: a tmpfs image with vdm
#      and the driver pinned to one CPU and to two, and a 2 GiB image on the
#      machine's disk with O_DIRECT on both sides (vdm nocache), with fio's
#      O_DIRECT figure on that file as the ceiling; a "ratio ..." line per
#      workload;
#   6. how long a live route switch takes and the pause it causes;
#   7. the split ring against the packed ring on VBS-U (part 1's series and
#      part 2's empty request, side by side);
#   8. User-Mode Linux's virtio_blk with fio, 4 KiB random I/O at QD 1/32,
#      on vdm-vhost-user and on qemu-storage-daemon (same image, same run):
#      IOPS, each daemon's CPU per request, "ratio uml ..." lines.
#   bench/run.sh [SECONDS-PER-POINT]      (default 3)
# Figures, never pass/fail; the machine's other load shows in them, so read
# the ratios (both sides measured in the same run).  Logs: bench-*.log in a
# temporary directory printed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
secs=${1:-3}
"$top/samples/setup.sh" "$build" >&2
if ! command -v fio >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio >/dev/null
fi
logs=$(mktemp -d /tmp/vdm-bench-logs-XXXXXX)
# The disk setting's image: 2 GiB of real blocks on the disk under /var/tmp,
# kept between runs (writing it takes a while).
disk_img=/var/tmp/vdm-bench-disk.img
if [ "$(stat -c %s "$disk_img" 2>/dev/null || echo 0)" -ne 2147483648 ]; then
	dd if=/dev/urandom of="$disk_img" bs=1M count=2048 conv=fsync status=none
fi
img=/dev/shm/vdm-bench-$$.img
trap 'rm -f "$img"' EXIT
truncate -s 256M "$img"
# Fill it, so reads touch real pages rather than tmpfs holes.
dd if=/dev/urandom of="$img" bs=1M count=256 conv=notrunc status=none
echo "vdm benchmarks on $(uname -m), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
VDM=$build/devicemodel/vdm "$build/bench/blk-bench" -t "$secs" "$img" 2>"$logs/bench-sim.log"
"$top/bench/guest.sh" "$build" 2>"$logs/bench-guest.log"
VDM=$build/devicemodel/vdm "$build/bench/blk-bench" -t "$secs" -S -D "$disk_img" "$img" \
	2>"$logs/bench-settings.log"
"$top/bench/uml.sh" "$build" 2>"$logs/bench-uml.log"
echo
echo "logs: $logs"
