# shellcheck shell=sh disable=SC2154 # dir is the sourcing script's
# tests/guest/uml_lib.sh - starting User-Mode Linux (Debian's
# user-mode-linux) as a vhost-user front-end, for the UML tests in
# tests/guest and bench/uml.sh.  Sourcing it only defines functions; they
# use the script's $dir (a temporary directory: UML's init is $dir/init.sh,
# its temporary files go to $dir).
#   uml_init MODULE...            start $dir/init.sh: PATH, then the MODULEs
#                                 (paths under the UML kernel's module
#                                 directory) loaded; the script appends the
#                                 rest of what UML runs
#   uml_boot [-c CPU] TIMEOUT MEM LOG [ARG]...
#                                 boot UML with MEM of RAM, its root the
#                                 host's file system read-only (hostfs),
#                                 $dir/init.sh its init, its console in LOG;
#                                 the ARGs add devices
#                                 (virtio_uml.device=SOCKET:ID) and VAR=VALUE
#                                 for init's environment; with -c pinned to
#                                 CPU (taskset).  Its status (timeout's 124
#                                 when it ran out of time)

# The modules load with python3's finit_module: the host may have no kmod,
# and UML's root is the host's file system.
uml_init() {
	cat >"$dir/init.sh" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
M=/usr/lib/uml/modules/$(uname -r)/kernel
python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    if libc.syscall(313, fd, b"", 0) != 0:  # finit_module
        print("UML: FAIL loading", path, os.strerror(ctypes.get_errno()))
    os.close(fd)
' \
INIT
	for _ui_m; do printf ' $M/%s' "$_ui_m"; done >>"$dir/init.sh"
	echo >>"$dir/init.sh"
	chmod +x "$dir/init.sh"
}

uml_boot() {
	_ub_pin=
	if [ "$1" = -c ]; then
		_ub_pin="taskset -c $2"
		shift 2
	fi
	_ub_timeout=$1 _ub_mem=$2 _ub_log=$3
	shift 3
	# shellcheck disable=SC2086 # _ub_pin: no words or the taskset command's
	TMPDIR=$dir timeout -k 10 "$_ub_timeout" $_ub_pin linux.uml mem="$_ub_mem" root=/dev/root \
		rootfstype=hostfs rootflags=/ ro init="$dir/init.sh" "$@" con=null con0=fd:0,fd:1 \
		</dev/null >"$_ub_log" 2>&1
}
