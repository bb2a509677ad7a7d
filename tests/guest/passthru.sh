#!/bin/sh
# Passthrough of a real PCI function that nobody here wrote: QEMU's edu
# device (1234:11e8, a 1 MiB memory BAR, INTx pin A, an MSI capability) in
# the test guest, at 00:05.0.  An extra initramfs brings vdm-acrn-model (vdm
# with the HSM model as its hypervisor) and its libraries; inside the guest
# vdm finds edu with libpciaccess and hands it to the model with
# -s 6,passthru,0/5/0.  The model, which reads the function from sysfs on
# its own, checks ASSIGN_PCIDEV (00:06.0 <- 00:05.0, pin, line, BARs of the
# host's types, size-aligned), SET_PTDEV_INTR (the routed GSI, the host's
# line) and the undo at exit; this script checks what it logged and the
# refusals: a missing function, a bad spelling, a function on a host driver
# (the outer vdm's virtio-rnd on virtio-pci), one another vdm holds, one the
# hypervisor gave another VM, and a failed start undone.
set -eu
dir=$(mktemp -d /tmp/vdm-guest-passthru-XXXXXX)
trap 'rm -rf "$dir"' EXIT
root=$dir/extra
mkdir -p "$root/extra"
cp "$VDM_BUILDDIR/tests/acrn/vdm-acrn-model" "$root/extra/vdm"
# The shared libraries, at the paths the program looks for them.
for lib in $(ldd "$root/extra/vdm" |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
cat >"$root/extra/run" <<'EOS'
#!/bin/sh
# Inside the guest (see tests/guest/passthru.sh).
cd /extra
edu=/sys/bus/pci/devices/0000:00:05.0
echo "VDM: pt edu $(cat $edu/vendor):$(cat $edu/device) line=$(od -An -tu1 -j60 -N1 $edu/config | tr -d ' ') driver=$(basename "$(readlink $edu/driver 2>/dev/null)" 2>/dev/null)"
echo "VDM: pt rnd driver=$(basename "$(readlink /sys/bus/pci/devices/0000:00:04.0/driver)")"

# The ioctls the model logged, in order, on one line (per-request ones and
# the notifiers left out).
calls() {
	grep -o 'acrn model: ACRN_IOCTL_[A-Z_]* -> -\{0,1\}[0-9]*' "$1" |
		sed 's/acrn model: ACRN_IOCTL_//' | grep -v -e '^IOEVENTFD' -e '^IRQFD' | tr '\n' ' '
}
# run NAME VDM-ARGS...: vdm in the background until the VM started (the log
# says START_VM), then SIGTERM; prints its log and calls.
run() {
	name=$1
	shift
	./vdm -v --log-file /tmp/$name.log "$@" >/tmp/$name.out 2>&1 &
	pid=$!
	i=0
	while ! grep -q "ACRN_IOCTL_START_VM -> 0" /tmp/$name.log 2>/dev/null && [ $i -lt 100 ]; do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "${while_running:-}" ] && eval "$while_running"
	kill -TERM $pid 2>/dev/null
	wait $pid
	rc=$?
	sed "s/^/VDM: pt $name | /" /tmp/$name.log /tmp/$name.out
	echo "VDM: pt $name calls: $(calls /tmp/$name.log)"
	echo "VDM: pt $name rc=$rc"
}
# once NAME VDM-ARGS...: vdm that is to fail at start; its output and status.
# (Its own variable names: it also runs inside run, as while_running.)
once() {
	oname=$1
	shift
	./vdm "$@" >/tmp/$oname.out 2>&1
	orc=$?
	sed "s/^/VDM: pt $oname | /" /tmp/$oname.out
	echo "VDM: pt $oname errors=$(grep -vc -e '^vdm: info:' -e '^vdm: debug:' /tmp/$oname.out) rc=$orc"
	echo "VDM: pt $oname calls: $(grep -o 'ACRN_IOCTL_[A-Z_]* -> -\{0,1\}[0-9]*' /tmp/$oname.out | sed 's/ACRN_IOCTL_//' | grep -v -e '^IOEVENTFD' -e '^IRQFD' | tr '\n' ' ')"
}

mkdir -p /tmp/dump
# INTx as well (keep_gsi), and while it runs, a second vdm wants edu too.
while_running='once taken --hsm acrn:model:/tmp/t.sock -m 128M -s 6,passthru,0/5/0'
run intx --hsm acrn:model:/tmp/a.sock -m 128M --dump-config /tmp/dump \
	-s 6,passthru,0/5/0,keep_gsi
while_running=
sed -n 1,2p /tmp/dump/06.0.lspci | sed 's/^/VDM: pt dump | /'
# As acrn-dm: a function with MSI gets no INTx; lspci's spelling.
run msi --hsm acrn:model:/tmp/b.sock -m 128M -s 6,passthru,00:05.0,no_reset
once missing --hsm acrn:model:/tmp/c.sock -m 128M -s 6,passthru,0/7/0
once spelling --hsm acrn:model:/tmp/d.sock -m 128M -s 6,passthru,0/5
once driver --hsm acrn:model:/tmp/e.sock -m 128M -s 6,passthru,0/4/0
once other_vm --hsm acrn:model,assigned=0/5/0:/tmp/f.sock -m 128M -v -s 6,passthru,0/5/0
once undo --hsm acrn:model,refuse=SET_PTDEV_INTR:/tmp/g.sock -m 128M -v \
	-s 6,passthru,0/5/0,keep_gsi
EOS
chmod +x "$root/extra/run"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$dir/extra.cpio.gz"

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 600 -r extra \
	-a "vdm.timeout=300 vdm.watchdog=500" -x "$dir/extra.cpio.gz" \
	-q "-device edu,addr=5" -- -m 512M -s 4,virtio-rnd || status=$?

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
line=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^VDM: pt edu .* line=\([0-9]*\) .*/\1/p')
check "the guest has QEMU's edu at 00:05.0, on no driver, with an interrupt line" \
	"^VDM: pt edu 0x1234:0x11e8 line=[1-9][0-9]* driver=$"
check "and the outer vdm's virtio-rnd on virtio-pci" "^VDM: pt rnd driver=virtio-pci"
check "libpciaccess found edu; vdm gave it to the VM at 00:06.0" \
	"^VDM: pt intx | .*passthru 00:05.0: 1234:11e8 assigned at 00:06.0"
check "ASSIGN_PCIDEV: virtual 00:06.0, physical 00:05.0, pin A, line = GSI 16" \
	"^VDM: pt intx | .*acrn model: ASSIGN_PCIDEV virt 00:06.0 phys 00:05.0 type 0 pin 1 line 16"
check "... BAR 0: 32-bit memory, the host's 1 MiB, size-aligned" \
	"^VDM: pt intx | .*acrn model: 00:06.0 BAR 0 memory at 0x[0-9a-f]*, host 1048576 bytes: size-aligned"
check "SET_PTDEV_INTR: virtual pin = the routed GSI 16, physical pin = edu's line $line" \
	"^VDM: pt intx | .*acrn model: SET_PTDEV_INTR virt 00:06.0 phys 00:05.0 virt_pin 16 phys_pin $line\$"
check "the ioctls in acrn-dm's order, undone in reverse at exit" \
	"^VDM: pt intx calls: .*ASSIGN_PCIDEV -> 0 SET_PTDEV_INTR -> 0 START_VM -> 0 PAUSE_VM -> 0 .*RESET_PTDEV_INTR -> 0 DEASSIGN_PCIDEV -> 0 DESTROY_VM -> 0"
check "... the model saw no protocol violation, and vdm stopped with 0" \
	"^VDM: pt intx | .*acrn model: .* 0 protocol violations"
check "... vdm exit 0" "^VDM: pt intx rc=0"
check "--dump-config: the virtual function has edu's IDs" "^VDM: pt dump | 00: 34 12 e8 11"
check "a second vdm wanting edu meanwhile: refused, one line naming the holder, exit 1" \
	"^VDM: pt taken | vdm: 6:0,passthru: host function 00:05.0 is already assigned to another VM (vdm pid [0-9]* has it)"
check "... exit 1" "^VDM: pt taken errors=1 rc=1"
check "with MSI and without keep_gsi (lspci's spelling): no INTx, as acrn-dm" \
	"^VDM: pt msi | .*ASSIGN_PCIDEV virt 00:06.0 phys 00:05.0 type 0 pin 0 line 0"
check "... no SET_PTDEV_INTR, nothing to reset" \
	"^VDM: pt msi calls: .*ASSIGN_PCIDEV -> 0 START_VM -> 0 PAUSE_VM -> 0 .*DEASSIGN_PCIDEV -> 0 DESTROY_VM -> 0"
check "... exit 0, no violation" "^VDM: pt msi rc=0"
check "a missing function: one line naming it, exit 1" \
	"^VDM: pt missing | vdm: 6:0,passthru: host function 00:07.0: no such PCI function on this host"
check "... exit 1" "^VDM: pt missing errors=1 rc=1"
check "a bad spelling: one line, exit 2" \
	"^VDM: pt spelling | vdm: -s '6,passthru,0/5': passthru: '0/5' is not a host function"
check "... exit 2" "^VDM: pt spelling errors=1 rc=2"
check "a function on a host driver: refused naming it and the driver, exit 1" \
	"^VDM: pt driver | vdm: 6:0,passthru: host function 00:04.0 is bound to the host driver virtio-pci"
check "... exit 1" "^VDM: pt driver errors=1 rc=1"
check "one the hypervisor gave another VM: ASSIGN_PCIDEV refused, one line" \
	"^VDM: pt other_vm | vdm: 6:0,passthru: the hypervisor refused host function 00:05.0 (ASSIGN_PCIDEV): No such device; is it assigned to another VM?"
check "... exit 1, and the VM destroyed" "^VDM: pt other_vm calls: .*ASSIGN_PCIDEV -> -19 PAUSE_VM -> 0 .*DESTROY_VM -> 0"
check "a refused SET_PTDEV_INTR: start-up fails, ASSIGN undone before the VM goes" \
	"^VDM: pt undo calls: .*ASSIGN_PCIDEV -> 0 SET_PTDEV_INTR -> -1 PAUSE_VM -> 0 .*DEASSIGN_PCIDEV -> 0 DESTROY_VM -> 0"
check "... with one line naming it, and no violation" \
	"^VDM: pt undo | vdm: 6:0,passthru: the hypervisor refused INTx of host function 00:05.0 (SET_PTDEV_INTR): Operation not permitted"
check "... exit 1" "^VDM: pt undo errors=1 rc=1"
if tr -d '\r' <"$dir/console.log" | grep "^VDM: pt " | grep -q "protocol violation:"; then
	echo "FAIL: the model logged a protocol violation"; fail=1
fi
echo "inside the guest:"
tr -d '\r' <"$dir/console.log" | grep -e '^VDM: pt [a-z_]* calls:' -e '^VDM: pt [a-z_]* .*rc=' -e "^VDM: pt edu"
guest_checks_end
