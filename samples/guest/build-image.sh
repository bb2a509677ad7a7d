#!/bin/bash
# Build the vdm test guest: a Debian cloud kernel plus a busybox initramfs whose
# /init is samples/guest/init.  Only Debian 12 packages are used.
#   build-image.sh [OUTDIR]
# OUTDIR (default ${VDM_GUEST_DIR:-/var/cache/vdm-guest}) receives vmlinuz,
# initramfs.cpio.gz and a stamp of the inputs; with unchanged inputs a rerun
# only says the image is up to date.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

here=$(cd "$(dirname "$0")" && pwd)
self=$here/$(basename "$0")
init_src=$here/init
out=${1:-${VDM_GUEST_DIR:-/var/cache/vdm-guest}}
metapkg="linux-image-cloud-amd64"
bbpkg="busybox-static"

die() { echo "build-image.sh: $*" >&2; exit 1; }
note() { echo "build-image.sh: $*" >&2; }

[ -r "$init_src" ] || die "missing $init_src"
# The module list and its load order live in the init script.
modules=$(sed -n 's/^MODULES="\(.*\)"$/\1/p' "$init_src")
[ -n "$modules" ] || die "no MODULES=\"...\" line in $init_src"

is_root() { [ "$(id -u)" = 0 ]; }

apt_update() {
	is_root || die "package lists look missing or stale; run apt-get update as root"
	note "apt-get update"
	apt-get -qq update >&2 || die "apt-get update failed"
}

# need CMD PKG: make sure CMD exists, installing PKG if not.
need() {
	command -v "$1" >/dev/null && return
	is_root || die "$1 is missing; install $2"
	note "installing $2"
	local apt=(apt-get -qq -y --no-install-recommends -o DPkg::Lock::Timeout=600 install "$2")
	"${apt[@]}" >&2 || { apt_update; "${apt[@]}" >&2; } || die "cannot install $2"
	command -v "$1" >/dev/null || die "$2 did not provide $1"
}

# Sets kpkg kver bbver: the versioned kernel package behind the metapackage and
# the versions apt-get download would fetch; returns 1 when the package lists
# cannot tell.  (Two apt-cache runs: each costs most of a second where apt
# keeps no pkgcache.bin.)
resolve() {
	local policy
	kpkg=$(apt-cache depends "$metapkg" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$kpkg" ] || return 1
	policy=$(apt-cache policy "$kpkg" "$bbpkg" 2>/dev/null)
	kver=$(candidate "$kpkg" <<<"$policy")
	bbver=$(candidate "$bbpkg" <<<"$policy")
	[ -n "$kver" ] && [ "$kver" != "(none)" ] && [ -n "$bbver" ] && [ "$bbver" != "(none)" ]
}

# candidate PKG <POLICY: PKG's candidate version in apt-cache policy output.
candidate() {
	awk -v p="$1:" '/^[^ ]/ { cur = $1 } cur == p && $1 == "Candidate:" { print $2; exit }'
}

stamp_text() {
	echo "kernel=$kpkg $kver"
	echo "busybox=$bbpkg $bbver"
	echo "build-image.sh=$(sha256sum <"$self" | cut -d' ' -f1)"
	echo "init=$(sha256sum <"$init_src" | cut -d' ' -f1)"
}

up_to_date() {
	[ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/stamp" ] &&
		[ "$(stamp_text)" = "$(cat "$out/stamp")" ]
}

# Several guest tests may build at once (make -j): one builds, the others
# wait on the lock and then find the image up to date.
mkdir -p "$out" || die "cannot create $out"
[ -w "$out" ] || die "$out is not writable"
exec 9>"$out/.lock"
flock 9 || die "cannot lock $out/.lock"

resolve || { apt_update; resolve; } || die "cannot resolve $metapkg / $bbpkg with apt-cache"
if up_to_date; then
	echo "guest image up to date: $out"
	exit 0
fi

tmp=$(mktemp -d /tmp/vdm-guest-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# apt-get download drops privileges to _apt when it can; let it write here.
mkdir "$tmp/dl"
chmod 755 "$tmp"
if is_root && id _apt >/dev/null 2>&1; then chown _apt "$tmp/dl"; fi

download() {
	(cd "$tmp/dl" && apt-get -qq download "$kpkg=$kver" "$bbpkg=$bbver") >"$tmp/dl.log" 2>&1
}
if ! download; then
	note "apt-get download failed, updating the package lists"
	apt_update
	resolve || die "cannot resolve $metapkg / $bbpkg after apt-get update"
	if up_to_date; then
		echo "guest image up to date: $out"
		exit 0
	fi
	download || { cat "$tmp/dl.log" >&2; die "apt-get download $kpkg $bbpkg failed"; }
fi

note "extracting $kpkg $kver and $bbpkg $bbver"
dpkg-deb -x "$tmp"/dl/"$kpkg"_*.deb "$tmp/k"
dpkg-deb -x "$tmp"/dl/"$bbpkg"_*.deb "$tmp/bb"

set -- "$tmp"/k/boot/vmlinuz-*
if [ $# != 1 ] || [ ! -f "$1" ]; then die "expected one boot/vmlinuz-* in $kpkg"; fi
vmlinuz=$1
krel=${vmlinuz##*/vmlinuz-}
moddir=$tmp/k/lib/modules/$krel
[ -d "$moddir/kernel" ] || die "no lib/modules/$krel/kernel in $kpkg"
busybox=$tmp/bb/bin/busybox
[ -x "$busybox" ] || die "no bin/busybox in $bbpkg"

# The initramfs tree.
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,lib/modules}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 755 "$init_src" "$root/init"
# The kernel's own built-in initramfs has /dev/console already; add it when
# we can anyway (needs root).
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

builtin=() loaded=()
for m in $modules; do
	f=$(find "$moddir/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) -print -quit)
	dst=$root/lib/modules/$m.ko
	case $f in
	*.ko) cp "$f" "$dst" ;;
	*.ko.xz) need xz xz-utils; xz -dc "$f" >"$dst" ;;
	*.ko.zst) need zstd zstd; zstd -qdc "$f" >"$dst" ;;
	"")
		grep -Eq "(^|/)$m\.ko\$" "$moddir/modules.builtin" 2>/dev/null ||
			die "module $m is neither in $kpkg nor built into $krel"
		builtin+=("$m")
		continue
		;;
	esac
	loaded+=("$m")
done

need cpio cpio
(cd "$root" && find . | sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$out/initramfs.cpio.gz.new"
rm -f "$out/stamp"
cp "$vmlinuz" "$out/vmlinuz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.new" "$out/initramfs.cpio.gz"
stamp_text >"$out/stamp"

size() { du -h "$1" | cut -f1; }
echo "built guest image in $out:"
echo "  kernel     $krel ($kpkg $kver)"
echo "  busybox    $bbpkg $bbver"
echo "  vmlinuz    $(size "$out/vmlinuz")"
echo "  initramfs  $(size "$out/initramfs.cpio.gz")"
echo "  modules    ${loaded[*]:-none}"
echo "  built in   ${builtin[*]:-none}"
