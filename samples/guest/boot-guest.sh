#!/bin/sh
# Boot the test guest (samples/guest/build-image.sh) under QEMU TCG with vdm
# as the remote device process for the functions given after "--".
#
#   boot-guest.sh [-r TESTS] [-a APPEND] [-t SECONDS] [-o DIR] [-x CPIO] [-q QEMU-ARGS]
#                 -- VDM-OPTIONS...
#
#   -r TESTS    what the guest's init runs (vdm.run=, default enum,blk,rng)
#   -a APPEND   more kernel command-line words (e.g. vdm.blkwrite=1)
#   -t SECONDS  kill vdm and QEMU after this long (default 300)
#   -o DIR      where console.log and vdm.log go (default: a new temp dir)
#   -x CPIO     a (gzipped) cpio archive appended to the initramfs: more files
#               for the guest (the "extra" test runs its /extra/run)
#   -q ARGS     more QEMU arguments, split at spaces (e.g. "-device edu,addr=5":
#               a QEMU device of its own beside vdm's)
#
# Environment: VDM (the vdm binary, default: vdm in PATH), VDM_GUEST_DIR (the
# image cache).  Exit status: vdm's (QEMU's once the guest powers off), or
# 124 on timeout.  The guest's result lines ("VDM: ...") are in console.log.
#
# Interrupts: QEMU's x-pci-proxy-dev delivers INTx only through KVM, so under
# TCG the guest would never see vdm's interrupts.  The kernel options
# "irqpoll nolapic_timer hpet=disable nohz=off" make Linux run every INTx
# handler on each 250 Hz timer tick; virtio_pci's handler reads vdm's ISR and
# finds the completions.  A request therefore completes within one tick.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
run=enum,blk,rng
append=
limit=300
out=
extra=
qemu_args=
while getopts r:a:t:o:x:q: opt; do
	case $opt in
	r) run=$OPTARG ;;
	a) append=$OPTARG ;;
	t) limit=$OPTARG ;;
	o) out=$OPTARG ;;
	x) extra=$OPTARG ;;
	q) qemu_args=$OPTARG ;;
	*) echo "usage: $0 [-r TESTS] [-a APPEND] [-t SECONDS] [-o DIR] [-x CPIO] [-q QEMU-ARGS]" \
		"-- VDM-OPTIONS..." >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
vdm=${VDM:-vdm}
guest=${VDM_GUEST_DIR:-/var/cache/vdm-guest}
"$here/build-image.sh" "$guest" >&2
[ -n "$out" ] || out=$(mktemp -d /tmp/vdm-guest-XXXXXX)
mkdir -p "$out"
: >"$out/console.log"
initrd=$guest/initramfs.cpio.gz
if [ -n "$extra" ]; then # the kernel unpacks concatenated archives in turn
	cat "$initrd" "$extra" >"$out/initrd.cpio.gz"
	initrd=$out/initrd.cpio.gz
fi
status=0
# shellcheck disable=SC2086 # -q's words are split on purpose
timeout -k 10 "$limit" "$vdm" --hsm qemu --log-file "$out/vdm.log" "$@" -- \
	qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp 1 \
	-display none -vga none -monitor none -nic none -no-reboot \
	-serial "file:$out/console.log" \
	-kernel "$guest/vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 irqpoll nolapic_timer hpet=disable nohz=off vdm.run=$run $append" \
	$qemu_args </dev/null || status=$?
exit $status
