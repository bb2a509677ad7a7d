#!/bin/sh
# samples/acrn/launch_uvm.sh builds a vdm command line that vdm accepts:
# with no HSM present it must get past argument checking (exit 2) and stop
# at opening the HSM (exit 1, one line naming the node).
set -u
dir=$(mktemp -d /tmp/vdm-launch-XXXXXX)
trap 'rm -rf "$dir"' EXIT
truncate -s 8M "$dir/disk.img"
cmd=$(VDM="$VDM" DISK="$dir/disk.img" HSM_DEV="$dir/no-hsm" LOG="$dir/vdm.log" \
	sh "$VDM_SRCDIR/samples/acrn/launch_uvm.sh" --dry-run)
echo "command: $cmd"
fail=0
for dev in hostbridge virtio-blk virtio-net virtio-rnd passthru; do
	case "$cmd" in
	*",$dev"*) echo "ok: the launch has $dev" ;;
	*) echo "FAIL: the launch has no $dev"; fail=1 ;;
	esac
done
# shellcheck disable=SC2086 # the dry run prints words without spaces inside
$cmd >"$dir/out" 2>&1
st=$?
cat "$dir/out"
if [ "$st" -eq 1 ] && [ "$(grep -vc '^vdm: info:' "$dir/out")" -eq 1 ] &&
	grep -q "open $dir/no-hsm failed" "$dir/out"; then
	echo "ok: vdm takes the sample's arguments and stops at the missing HSM node"
else
	echo "FAIL: vdm exit $st on the sample's command line"
	fail=1
fi
exit $fail
