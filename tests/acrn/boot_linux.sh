#!/bin/sh
# vdm loads a real Linux kernel for an ACRN User VM: the test guest's Debian
# bzImage and initramfs (samples/guest/build-image.sh) through -k, -r and -B
# on the command line, vdm over the HSM model.  At START_VM the model's
# boot check (tests/acrn/acrn_model_boot.c, a parser of its own) reads the
# zero page, command line, initrd, e820 map, entry registers and GDT the
# way a hypervisor starting the boot CPU would find them; it must pass and
# agree with what was asked for; the virtio-rnd's interrupt line register
# holds the GSI vdm's _PRT routes it to.  No CPU runs the kernel here: that needs
# an ACRN machine.
set -eu
guest=${VDM_GUEST_DIR:-/var/cache/vdm-guest}
"$VDM_SRCDIR/samples/guest/build-image.sh" "$guest" >&2
dir=$(mktemp -d /tmp/vdm-boot-linux-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
cmdline="console=ttyS0 root=/dev/ram0 rdinit=/init quiet"
"$VDM_BUILDDIR/tests/acrn/vdm-acrn-model" --hsm "acrn:model:$dir/model.sock" -m 512M \
	-k "$guest/vmlinuz" -r "$guest/initramfs.cpio.gz" -B "$cmdline" \
	-s 0:0,hostbridge -s 5,virtio-rnd --dump-config "$dir" --log-file "$dir/vdm.log" \
	POST_STD_VM1 &
pid=$!
i=0
while ! grep -q "boot check:" "$dir/vdm.log" 2>/dev/null && [ $i -lt 100 ]; do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
cat "$dir/vdm.log"
fail=0
check() {
	if grep -qF "$2" "$dir/vdm.log"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}
check "vdm loaded the kernel and initrd" "guest: Linux $guest/vmlinuz with $guest/initramfs.cpio.gz"
check "the model's boot check passed" "acrn model: boot check: passed"
check "it read -B's command line" "command line \"$cmdline\")"
check "its e820 map holds 512 MiB less the legacy window" "511 MiB RAM in e820"
size=$(stat -c %s "$guest/initramfs.cpio.gz")
check "the initrd it found has the file's size" "initrd $size bytes"
# vdm routed the virtio-rnd's INTA# (slot 5, the only pin) to the first
# PCI GSI, 16, and wrote it into its interrupt line register (0x3c), as
# its _PRT says.
line=$(sed -n 's/^30: \([0-9a-f][0-9a-f] \)\{12\}\([0-9a-f][0-9a-f]\).*/\2/p' "$dir/05.0.lspci" 2>/dev/null)
if [ "$line" = 10 ]; then echo "ok: slot 5's INTA# routed to GSI 16"; else echo "FAIL: interrupt line '$line', not 10 (hex)"; fail=1; fi
if grep -q "protocol violation:" "$dir/vdm.log"; then
	echo "FAIL: the model saw a protocol violation"
	fail=1
fi
kill "$pid"
wait "$pid" || { echo "FAIL: vdm did not stop cleanly"; fail=1; }
pid=
exit $fail
