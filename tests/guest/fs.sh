#!/bin/sh
# A real Linux guest mounts a host directory over virtio-fs: vdm owns the
# function and routes every queue with vhost=user: to virtiofsd (QEMU's
# vhost-user file-system back-end, not ours).  The guest mounts the tag,
# its checksum of the file the host put in the directory must match the
# host's, and after power-off the host finds the 1 MiB file the guest wrote.
# Needs root (virtiofsd) and virtiofsd.
set -eu
vfsd_bin=
for p in /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd /usr/bin/virtiofsd; do
	[ -x "$p" ] && vfsd_bin=$p && break
done
[ -n "$vfsd_bin" ] ||
	{ echo "SKIP: virtiofsd is not installed (Debian: qemu-system-common)"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: virtiofsd needs root"; exit 77; }
dir=$(mktemp -d /tmp/vdm-guest-fs-XXXXXX)
vfsd=
cleanup() {
	if [ -n "$vfsd" ]; then kill "$vfsd" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/share"
head -c 3000000 /dev/urandom >"$dir/share/from-host.bin"
host_sum=$(sha256sum <"$dir/share/from-host.bin" | cut -d' ' -f1)
want_sum=$(yes vdm-guest-fs | head -c 1048576 | sha256sum | cut -d' ' -f1)

"$vfsd_bin" --socket-path="$dir/fs.sock" -o source="$dir/share" -o cache=none -o sandbox=chroot -f \
	>"$dir/virtiofsd.log" 2>&1 &
vfsd=$!
i=0
while [ ! -S "$dir/fs.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

status=0
"$VDM_SRCDIR/samples/guest/boot-guest.sh" -o "$dir" -t 400 -r enum,fs -a vdm.fstag=hostdir -- \
	-m 256M -s 4,virtio-fs,vhost=user:"$dir/fs.sock",tag=hostdir || status=$?

. "$VDM_SRCDIR/tests/guest/lib.sh"
guest_checks_begin $status
check "virtio-fs enumerates as 1af4:105a, bound to virtio-pci" \
	"^VDM: pci 0000:00:04.0 vendor=0x1af4 device=0x105a driver=virtio-pci"
check "the guest mounts tag hostdir and reads the host's file (sha256 matches)" \
	"^VDM: fs tag=hostdir file=from-host.bin size=3000000 sha256=$host_sum"
check "the guest writes 1 MiB" "^VDM: fswrite file=from-guest.bin size=1048576"
got=$(sha256sum <"$dir/share/from-guest.bin" 2>/dev/null | cut -d' ' -f1)
[ "$got" = "$want_sum" ] && echo "ok: the host finds the guest's file in the shared directory" ||
	{ echo "FAIL: from-guest.bin checksum '$got', expected $want_sum"; fail=1; }
grep -q "data plane on user vhost" "$dir/vdm.log" &&
	echo "ok: vdm routed 00:04.0 to virtiofsd" ||
	{ echo "FAIL: vdm's log does not show the vhost-user route"; fail=1; }
guest_checks_end virtiofsd "$dir/virtiofsd.log"
