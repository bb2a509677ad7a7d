#!/bin/sh
# Profile vdm's VBS-U virtio-blk path: run blk-bench's VBS-U series with vdm
# under callgrind (instruction counts: repeatable whatever else the machine
# does) and print the top functions by inclusive and exclusive cost.
#   bench/profile.sh [BUILDDIR]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
command -v valgrind >/dev/null || { echo "profile.sh: needs valgrind" >&2; exit 1; }
dir=$(mktemp -d /tmp/vdm-profile-XXXXXX)
img=/dev/shm/vdm-profile-$$.img
trap 'rm -f "$img"' EXIT
truncate -s 64M "$img"
cat >"$dir/vdm" <<EOW
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$dir/callgrind.out.%p "$build/devicemodel/vdm" "\$@"
EOW
chmod +x "$dir/vdm"
VDM=$dir/vdm "$build/bench/blk-bench" -V -t 2 "$img" 2>"$dir/bench.log"
out=$(ls "$dir"/callgrind.out.* | head -n1)
echo
echo "callgrind: $out"
callgrind_annotate --inclusive=no "$out" 2>/dev/null | sed -n '1,/^$/d; 1,40p' | head -n 30
