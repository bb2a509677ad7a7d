#!/bin/sh
# vdm's qemu back-end against fake-qemu (tests/qemu/fake-qemu.c), which
# speaks x-pci-proxy-dev's wire format: config and BAR requests are answered,
# INTx follows level semantics through irqfd + resample fd, DEVICE_RESET
# resets the function, hostile messages stop only the function they hit,
# and vdm exits with its "QEMU"'s status.  Then the start-up errors: a
# missing QEMU binary and a QEMU without x-pci-proxy-dev exit 1 with one line.
set -eu
dir=$(mktemp -d /tmp/vdm-proxy-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fake=$VDM_BUILDDIR/tests/qemu/fake-qemu
truncate -s 8M "$dir/disk.img"
fail=0
status=0
timeout 60 "$VDM" --hsm qemu -m 64M --log-file "$dir/vdm.log" -s 0:0,hostbridge \
	-s 3,virtio-rnd -s 4,virtio-blk,"$dir/disk.img" -s 5,virtio-rnd -s 6,virtio-rnd \
	-s 7,virtio-rnd -s 8,virtio-rnd -- "$fake" >"$dir/fake.out" 2>&1 || status=$?
cat "$dir/fake.out"
grep -q FAIL "$dir/fake.out" && fail=1
[ $status -eq 7 ] && echo "ok: vdm exits with QEMU's status (7)" ||
	{ echo "FAIL: vdm exited $status, expected QEMU's 7"; fail=1; }
n=$(grep -c "is no longer served" "$dir/vdm.log" || true)
[ "$n" -eq 5 ] && echo "ok: vdm logged each of the 5 stopped functions" ||
	{ echo "FAIL: $n functions logged as stopped, expected 5"; fail=1; }
grep -q "hostbridge: left to the hypervisor" "$dir/vdm.log" &&
	echo "ok: the host bridge is left to QEMU, and the log says so" ||
	{ echo "FAIL: no host bridge note in the log"; fail=1; }

one_line_error() { # description, expected status, pattern, vdm args...
	what=$1 want=$2 pat=$3
	shift 3
	st=0
	"$VDM" "$@" >"$dir/out" 2>"$dir/err" || st=$?
	if [ $st -eq "$want" ] && [ "$(wc -l <"$dir/err")" -eq 1 ] && grep -q -- "$pat" "$dir/err"; then
		echo "ok: $what: exit $st, '$(cat "$dir/err")'"
	else
		echo "FAIL: $what: exit $st (want $want), stderr:"; cat "$dir/err"; fail=1
	fi
}
one_line_error "missing QEMU binary" 1 "cannot run QEMU '/nonexistent/qemu'" \
	--hsm qemu -s 3,virtio-rnd -- /nonexistent/qemu -accel tcg
one_line_error "QEMU without x-pci-proxy-dev" 1 "has no x-pci-proxy-dev" \
	--hsm qemu -s 3,virtio-rnd -- /bin/true
one_line_error "no QEMU command" 2 "needs the QEMU command" --hsm qemu -s 3,virtio-rnd
one_line_error "QEMU command with the simulator" 2 "only taken by --hsm qemu" \
	--hsm sim -s 3,virtio-rnd -- qemu-system-x86_64

[ $fail -ne 0 ] && { echo "---- vdm log"; cat "$dir/vdm.log"; }
exit $fail
