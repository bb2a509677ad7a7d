#!/bin/sh
# Run a README command on a minimal Debian 12 (debootstrap --variant=minbase
# bookworm) in a chroot, from a clean clone of this repository's HEAD, to
# show that the command installs everything it uses.  Every run installs
# the packages anew and builds from scratch (minutes, and the network), so
# this is not part of CI.  As root:
#   tests/minimal-debian.sh [-d DIR] [-k] main|test
#   tests/minimal-debian.sh [-d DIR] [-k] run 'COMMAND'
# main runs ./samples/main-job.sh, test ./tests/run.sh, run COMMAND (sh -c,
# in the clone: e.g. one test after ./samples/setup.sh).  The last line is
# the command's own last line ("Result: PASS", "N passed, N failed").
#
# DIR (default /var/tmp/vdm-minimal-debian) keeps base/, debootstrap's
# system (made once, then reused), and root/, the system a command runs in:
# a fresh copy of base/ with a fresh clone at /root/vdm, unless -k keeps
# root/ as the last run left it (packages, clone and builds).  Each run's
# output is in DIR/last.log.
#
# The chroot gets /dev, /sys (bound from the host), its own /proc and a
# tmpfs on /run, in a mount namespace of this script's own: nothing stays
# mounted on the host whatever happens; the mounts are also undone on exit.
# Its root is a mount point, as on a real system (tests that make "/"
# private in a mount namespace need that).  The host needs debootstrap
# (installed when missing) and Debian's archive.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
self=$top/tests/minimal-debian.sh
dir=/var/tmp/vdm-minimal-debian
keep=
mirror=http://deb.debian.org/debian
mounted=
# shellcheck disable=SC2317 # run by the EXIT trap
undo() { # the chroot's mounts, innermost first
	for m in $mounted; do umount -R -l "$m" 2>/dev/null || true; done
}
trap undo EXIT
usage() {
	echo "usage: $0 [-d DIR] [-k] main|test|run COMMAND" >&2
	exit 2
}
die() {
	echo "minimal-debian.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	-d) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
	-k) keep=1; shift ;;
	--inner) break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage

if [ "$1" = --inner ]; then
	# In the private mount namespace: $2 is the chroot, $3 the command.
	root=$2 cmd=$3
	trap 'exit 130' INT TERM
	mount --make-rprivate /
	mount --bind "$root" "$root"
	mounted=$root
	mount --rbind /dev "$root/dev"
	mount --rbind /sys "$root/sys"
	mount -t proc proc "$root/proc"
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
	mounted="$root/run $root/proc $root/sys $root/dev $mounted"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	status=0
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/sh -c "cd /root/vdm && $cmd" </dev/null || status=$?
	# Whatever the command left running in the chroot (nothing should be).
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] || continue
		echo "minimal-debian.sh: left running in the chroot: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline")" >&2
		kill -KILL "${p#/proc/}" 2>/dev/null || true
	done
	exit "$status"
fi

case $1 in
main) [ $# -eq 1 ] || usage; cmd=./samples/main-job.sh ;;
test) [ $# -eq 1 ] || usage; cmd=./tests/run.sh ;;
run) [ $# -eq 2 ] || usage; cmd=$2 ;;
*) usage ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
command -v unshare >/dev/null || die "needs unshare(1) (util-linux)"
[ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] ||
	echo "minimal-debian.sh: note: uncommitted changes in $top are not in the clone" >&2

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
exec 9>"$dir/.lock"
flock -n 9 || die "$dir is in use by another run"

base=$dir/base
if [ ! -f "$base/.vdm-complete" ]; then
	if ! command -v debootstrap >/dev/null; then
		echo "minimal-debian.sh: installing debootstrap" >&2
		DEBIAN_FRONTEND=noninteractive apt-get -qq install -y debootstrap >&2 ||
			{ apt-get -qq update >&2 &&
				DEBIAN_FRONTEND=noninteractive apt-get -qq install -y debootstrap >&2; } ||
			die "cannot install debootstrap"
	fi
	echo "minimal-debian.sh: debootstrap --variant=minbase bookworm into $base" >&2
	rm -rf "$base"
	debootstrap --variant=minbase bookworm "$base" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $dir/debootstrap.log"
	# The package sources of an installed Debian 12: the release, its
	# updates and security.
	rm -f "$base/etc/apt/sources.list"
	cat >"$base/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	# Package lists as an installed system has them (debootstrap leaves none).
	chroot "$base" apt-get -qq update >&2 || die "apt-get update in $base failed"
	chroot "$base" apt-get -qq clean
	touch "$base/.vdm-complete"
fi

root=$dir/root
if [ -z "$keep" ] || [ ! -d "$root/root/vdm" ]; then
	rm -rf "$root"
	cp -a "$base" "$root"
	rm -f "$root/.vdm-complete"
	git clone -q --no-hardlinks "$top" "$root/root/vdm"
	git -C "$root/root/vdm" checkout -q --detach "$(git -C "$top" rev-parse HEAD)"
	echo "minimal-debian.sh: fresh system in $root, clone of $(git -C "$top" log -1 --format='%h %s' | cut -c1-60)" >&2
else
	echo "minimal-debian.sh: reusing $root as the last run left it" >&2
fi

echo "minimal-debian.sh: running '$cmd' in $root (output: $dir/last.log)" >&2
rm -f "$dir/last.status"
{
	status=0
	unshare --mount --propagation private "$self" --inner "$root" "$cmd" 2>&1 || status=$?
	echo "$status" >"$dir/last.status"
} | tee "$dir/last.log"
status=$(cat "$dir/last.status" 2>/dev/null || echo 1)
echo "minimal-debian.sh: '$cmd' on minimal Debian 12 exited $status; its last line:"
grep -v '^minimal-debian.sh: ' "$dir/last.log" | tail -n 1
exit "$status"
