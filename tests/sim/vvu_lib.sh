# shellcheck shell=sh disable=SC2034 # fail and daemon are the sourcing test's
# tests/sim/vvu_lib.sh - what the vdm-vhost-user shell tests share: a
# scratch directory removed at exit (with the daemon the test started, if
# it still runs, killed), ok/bad lines counting failures in $fail, and
# waiting for the daemon's socket.  Sourcing it sets $dir, $daemon (empty:
# the test sets it to the daemon's pid) and $fail; the test ends with
# `exit $fail`.
#   vvu_scratch NAME      a new /tmp/vdm-vvu-NAME-XXXXXX in $dir
#   wait_socket PATH      until PATH is a socket or $daemon has gone (10 s
#                         at most); whether PATH is a socket

daemon=
fail=0
dir=

vvu_cleanup() {
	[ -z "$daemon" ] || kill "$daemon" 2>/dev/null
	[ -z "$dir" ] || rm -rf "$dir"
}
trap vvu_cleanup EXIT

ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

vvu_scratch() {
	dir=$(mktemp -d "/tmp/vdm-vvu-$1-XXXXXX")
}

wait_socket() {
	i=0
	while [ ! -S "$1" ] && kill -0 "$daemon" 2>/dev/null && [ $i -lt 500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	[ -S "$1" ]
}
