#!/bin/sh
# Install what vdm's build, tests and main job use on Debian 12 (when run as
# root and any is missing), generate the build system, and build into a directory.
#   samples/setup.sh [--sanitizers | --tsan | --fuzz] BUILDDIR
# --fuzz: clang with libFuzzer, ./configure --enable-fuzzing (tests/fuzz).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
configure_flags=
fuzz=
if [ "${1:-}" = "--sanitizers" ]; then
	configure_flags=--enable-sanitizers
	shift
elif [ "${1:-}" = "--tsan" ]; then
	configure_flags=--enable-tsan
	shift
elif [ "${1:-}" = "--fuzz" ]; then
	configure_flags="--enable-fuzzing CC=clang"
	fuzz=1
	shift
fi
builddir=${1:-$top/build}

# Building, then what the tests and the main job run: QEMU, virtiofsd and
# qemu-storage-daemon (qemu-system-common), cpio for the guest's initramfs,
# ip(8) for the TAPs in network namespaces (iproute2), iasl to check the
# ACPI tables vdm writes (acpica-tools), real OVMF images for --ovmf (ovmf),
# User-Mode Linux as a vhost-user front-end for vdm-vhost-user's tests and
# bench part 8, fio, which UML runs from the host's file system there,
# python3 (the UML tests' helpers, a hostile vhost-user front-end) and strace
# (tests that kill vdm-vhost-user at a chosen message hold it with strace).
deps="build-essential autoconf automake pkg-config uuid-dev libssl-dev libpciaccess-dev liburing-dev libjson-c-dev pciutils
	qemu-system-x86 qemu-system-common seabios ovmf cpio iproute2 acpica-tools user-mode-linux fio python3 strace"
[ -z "$fuzz" ] || deps="$deps clang libclang-rt-14-dev"
missing=
for p in $deps; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "setup: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null)
mkdir -p "$builddir"
cd "$builddir"
[ -f Makefile ] || "$top/configure" -q $configure_flags
make -s -j"$(nproc)" all
# Test programs, without running them (a fuzz build runs only its targets).
[ -n "$fuzz" ] || make -s -j"$(nproc)" check TESTS= >/dev/null
