#!/bin/sh
# testpmd.sh --fetch: only make sure testpmd is here (a step to take outside
# a network namespace: fetching needs the network).
# testpmd.sh SOCKET [TAP]: run DPDK's testpmd as a vhost-user network
# back-end listening on SOCKET until SIGTERM.  Without TAP it sends every
# frame it receives back with the Ethernet addresses swapped (forward mode
# macswap); with TAP it makes a kernel TAP interface of that name (DPDK's
# net_tap PMD, in the caller's network namespace) and forwards frames both
# ways between it and the vhost-user port (forward mode io), so the guest
# is on a wire to the host's network stack.
#
# Debian 12 ships testpmd only in dpdk-dev, whose dependencies (rdma-core,
# a newer systemd, ...) are far more than a test needs.  So nothing is
# installed: the first run fetches testpmd and the runtime libraries it
# loads with apt-get download and unpacks them under
# ${VDM_DPDK_DIR:-/var/cache/vdm-dpdk} (about 40 MB unpacked; later runs reuse it).
# Which libraries: the packages' own dependencies, followed through the
# library packages this system lacks (closure below); ldd then checks that
# testpmd and its plugins find everything, or the run is skipped naming
# what is missing.
# DPDK refuses to load plugins from below a world-writable directory, so
# that directory must not be under /tmp.  Libraries the system already has
# come first: a host with DPDK installed would otherwise load its plugins
# twice.
#
# Exit status 77 (skip) when testpmd cannot be fetched or run here; else
# testpmd's.
set -eu
sock=$1
tap=${2:-}
dir=${VDM_DPDK_DIR:-/var/cache/vdm-dpdk}
skip() { echo "testpmd.sh: $*" >&2; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get download, and DPDK's memory set-up)"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9 || skip "cannot lock $dir/.lock"
version=$(apt-cache policy dpdk-dev 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
[ -n "$version" ] && [ "$version" != "(none)" ] || skip "apt knows no dpdk-dev package"
# closure ROOT...: the packages to fetch: the roots and, through their
# Depends and Pre-Depends, every library package they need that this system
# lacks.  A library package is what Debian marks Multi-Arch: same (what goes
# into the multiarch library directories: shared libraries, and plugins
# such as ibverbs-providers' libmlx5) other than a development package
# (section libdevel); other packages (python3, adduser, ...) are neither
# fetched nor followed.  Of alternatives, one installed satisfies the
# dependency, else the first is taken.
closure() {
	have=" $(dpkg-query -W -f='${db:Status-Status} ${Package}\n' 2>/dev/null |
		awk '$1 == "installed" { printf "%s ", $2 }')"
	seen=" "
	fetch=
	level="$*"
	roots=1
	while [ -n "$level" ]; do
		next=
		# One line per package: name, section, Multi-Arch, dependency
		# groups (a|b).
		# shellcheck disable=SC2086 # $level is a word list
		apt-cache show --no-all-versions $level 2>/dev/null | awk '
			/^Package:/ { pkg = $2; sec = ""; ma = "-"; deps = "" }
			/^Section:/ { sec = $2 }
			/^Multi-Arch:/ { ma = $2 }
			/^(Pre-)?Depends:/ {
				sub(/^[^:]*: */, "")
				n = split($0, g, / *, */)
				for (i = 1; i <= n; i++) {
					x = g[i]
					gsub(/ *\([^)]*\)/, "", x)
					gsub(/:[a-z0-9]+/, "", x)
					gsub(/ *\| */, "|", x)
					deps = deps " " x
				}
			}
			/^$/ && pkg != "" { print pkg, sec, ma, deps; pkg = "" }
			END { if (pkg != "") print pkg, sec, ma, deps }' >"$dir/show"
		while read -r pkg sec ma deps; do
			[ -n "$roots" ] || { [ "$ma" = same ] && [ "${sec#*/}" != libdevel ]; } || continue
			[ -n "$roots" ] || fetch="$fetch $pkg"
			for group in $deps; do
				alts=$(echo "$group" | tr '|' ' ')
				pick=
				for a in $alts; do
					case $have$seen in *" $a "*) pick=- ;; esac
				done
				[ -n "$pick" ] || pick=${alts%% *}
				[ "$pick" = - ] && continue
				seen="$seen$pick "
				next="$next $pick"
			done
		done <"$dir/show"
		rm -f "$dir/show"
		level=$next roots=
	done
	echo "$*$fetch"
}

# The stamp names what was fetched: change it with the package list.
want="$version: testpmd, net_vhost and net_tap, and the libraries they need"
fetched=
fetch() {
	echo "testpmd.sh: fetching dpdk-dev $version and its libraries into $dir" >&2
	# Into a fresh directory, swapped in only once complete: a failed
	# fetch leaves the last good copy.
	new=$dir/new
	rm -rf "$new"
	mkdir -p "$new/debs" "$new/root"
	# testpmd, its vhost-user and TAP PMDs (plugins: dpdk-dev does not
	# depend on them), and the libraries all of them need.
	pkgs=$(closure "dpdk-dev=$version" librte-net-vhost23 librte-net-tap23)
	chown _apt "$new/debs" 2>/dev/null || true
	download() {
		# shellcheck disable=SC2086 # $pkgs is a word list
		(cd "$new/debs" && apt-get -qq download $pkgs) >&2
	}
	# Stale package lists name files the mirror no longer has: update once.
	download || { apt-get -qq update >&2 && download; } ||
		{ rm -rf "$new"; skip "apt-get download of dpdk-dev and its libraries failed"; }
	for deb in "$new"/debs/*.deb; do
		dpkg-deb -x "$deb" "$new/root"
	done
	rm -rf "$dir/root" "$new/debs"
	mv "$new/root" "$dir/root"
	rmdir "$new"
	echo "$want" >"$dir/stamp"
	fetched=1
}
[ "$(cat "$dir/stamp" 2>/dev/null)" = "$want" ] || fetch
root=$dir/root
lib=$root/usr/lib/x86_64-linux-gnu
# Debian 12 still ships many libraries in /lib (libdbus-1-3, libnl-3-200).
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:$lib:$root/lib/x86_64-linux-gnu:$lib/libibverbs
export LD_LIBRARY_PATH
# plugins: the -d options for EAL: the system's PMDs when it has DPDK (EAL
# loads its directory anyway), else ours.  missing: what ldd cannot find
# for testpmd and those plugins.
check() {
	missing=
	pmds=$(ls -d "$lib"/dpdk/pmds-* 2>/dev/null | head -n 1)
	[ -x "$root/usr/bin/dpdk-testpmd" ] && [ -n "$pmds" ] || return 1
	syspmds=/usr/lib/x86_64-linux-gnu/dpdk/${pmds##*/}
	plugins=
	files=$root/usr/bin/dpdk-testpmd
	for p in librte_net_vhost librte_net_tap librte_mempool_ring; do
		[ -e "$syspmds/$p.so" ] || [ -e "$syspmds/$p.so.23" ] ||
			{ plugins="$plugins -d $pmds/$p.so.23"; files="$files $pmds/$p.so.23"; }
	done
	# shellcheck disable=SC2086 # $files is a word list
	missing=$(ldd $files 2>/dev/null | awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')
	[ -z "$missing" ]
}
# A library the system had at the fetch may be gone since: fetch again once.
check || [ -n "$fetched" ] || { fetch && check; } || {
	[ -n "${missing:-}" ] || skip "no testpmd or no PMD directory in $root"
	skip "not found for testpmd: ${missing}(neither on the system nor fetched into $root)"
}
[ "$sock" != --fetch ] || exit 0
flock -u 9
# Two lcores: the main one and one forwarding (it polls, a CPU's worth);
# no huge pages, no PCI, no shared config; a small mbuf pool.  EAL still
# makes a runtime directory: removed when testpmd ends.
prefix=vdm-testpmd-$$
if [ -n "$tap" ]; then
	ports="--vdev net_vhost0,iface=$sock --vdev net_tap0,iface=$tap"
	mode=io
else
	ports="--vdev net_vhost0,iface=$sock"
	mode=macswap
fi
# shellcheck disable=SC2086 # $plugins and $ports are word lists
"$root/usr/bin/dpdk-testpmd" -l 0,1 --no-huge -m 256 --no-pci --no-shconf \
	--file-prefix "$prefix" $plugins $ports -- --forward-mode=$mode --auto-start \
	--total-num-mbufs=4096 --stats-period 60 &
pmd=$!
trap 'kill "$pmd" 2>/dev/null || true' TERM INT
status=0
wait "$pmd" || status=$?
# A signal interrupts the first wait; the second reaps testpmd.
kill -0 "$pmd" 2>/dev/null && { wait "$pmd" || status=$?; }
rm -rf "/var/run/dpdk/$prefix"
exit "$status"
