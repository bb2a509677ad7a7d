#!/bin/sh
# testpmd.sh SOCKET: run DPDK's testpmd as a vhost-user network back-end
# listening on SOCKET, sending every frame it receives back with the
# Ethernet addresses swapped (forward mode macswap), until SIGTERM.
#
# Debian 12 ships testpmd only in dpdk-dev, whose dependencies (rdma-core,
# a newer systemd, ...) are far more than a test needs.  So nothing is
# installed: the first run fetches testpmd and the runtime libraries it
# loads with apt-get download and unpacks them under
# ${VDM_DPDK_DIR:-/var/cache/vdm-dpdk} (about 40 MB unpacked; later runs reuse it).
# DPDK refuses to load plugins from below a world-writable directory, so
# that directory must not be under /tmp.  Libraries the system already has
# come first: a host with DPDK installed would otherwise load its plugins
# twice.
#
# Exit status 77 (skip) when testpmd cannot be fetched or run here; else
# testpmd's.
set -eu
sock=$1
dir=${VDM_DPDK_DIR:-/var/cache/vdm-dpdk}
skip() { echo "testpmd.sh: $*" >&2; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get download, and DPDK's memory set-up)"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9 || skip "cannot lock $dir/.lock"
version=$(apt-cache policy dpdk-dev 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
[ -n "$version" ] && [ "$version" != "(none)" ] || skip "apt knows no dpdk-dev package"
if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$version" ]; then
	echo "testpmd.sh: fetching dpdk-dev $version and its libraries into $dir" >&2
	rm -rf "$dir/debs" "$dir/root" "$dir/stamp"
	mkdir -p "$dir/debs" "$dir/root"
	# testpmd's runtime libraries: dpdk-dev's dependencies that are
	# libraries, the vhost PMD (loaded as a plugin), and what those link to.
	libs=$(apt-cache depends --no-recommends --no-suggests "dpdk-dev=$version" 2>/dev/null |
		awk '$1 == "Depends:" { print $2 }' |
		grep -E '^(librte-|lib[a-z]|ibverbs-providers)' | grep -v -- '-dev$' | sort -u)
	chown _apt "$dir/debs" 2>/dev/null || true
	(cd "$dir/debs" && apt-get -qq download "dpdk-dev=$version" librte-net-vhost23 \
		libnl-3-200 libnl-route-3-200 libdbus-1-3 $libs) >&2 ||
		skip "apt-get download of dpdk-dev and its libraries failed"
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root"
	done
	rm -rf "$dir/debs"
	echo "$version" >"$dir/stamp"
fi
flock -u 9
root=$dir/root
lib=$root/usr/lib/x86_64-linux-gnu
pmds=$(ls -d "$lib"/dpdk/pmds-* 2>/dev/null | head -n 1)
[ -x "$root/usr/bin/dpdk-testpmd" ] && [ -n "$pmds" ] || skip "no testpmd in $root"
syspmds=/usr/lib/x86_64-linux-gnu/dpdk/${pmds##*/}
# Plugins: the system's when it has DPDK (EAL loads its directory anyway),
# else ours.
plugins=
for p in librte_net_vhost librte_mempool_ring; do
	[ -e "$syspmds/$p.so" ] || [ -e "$syspmds/$p.so.23" ] || plugins="$plugins -d $pmds/$p.so.23"
done
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:$lib:$lib/libibverbs
export LD_LIBRARY_PATH
# Two lcores: the main one and one forwarding (it polls, a CPU's worth);
# no huge pages, no PCI, no shared config; a small mbuf pool.  EAL still
# makes a runtime directory: removed when testpmd ends.
prefix=vdm-testpmd-$$
# shellcheck disable=SC2086 # $plugins is a word list
"$root/usr/bin/dpdk-testpmd" -l 0,1 --no-huge -m 256 --no-pci --no-shconf \
	--file-prefix "$prefix" $plugins \
	--vdev "net_vhost0,iface=$sock" -- --forward-mode=macswap --auto-start \
	--total-num-mbufs=4096 --stats-period 60 &
pmd=$!
trap 'kill "$pmd" 2>/dev/null || true' TERM INT
status=0
wait "$pmd" || status=$?
# A signal interrupts the first wait; the second reaps testpmd.
kill -0 "$pmd" 2>/dev/null && { wait "$pmd" || status=$?; }
rm -rf "/var/run/dpdk/$prefix"
exit "$status"
