# shellcheck shell=sh disable=SC2154 # dir is the sourcing test's
# tests/guest/lib.sh - what the real-guest tests share, sourced after a test
# has booted its guest with boot-guest.sh -o "$dir" (console in
# $dir/console.log, vdm's log in $dir/vdm.log) and kept vdm's exit status.
#   guest_checks_begin STATUS     start the checks: vdm must have exited 0
#   check DESCRIPTION PATTERN     PATTERN (grep) must be on the console
#   guest_checks_end [LABEL FILE]...
#                                 the guest's own FAIL lines and its "done";
#                                 on any failure, dump the console, vdm's log
#                                 and each extra FILE under its LABEL; exits
#                                 with the result
# Failures set fail=1; each check prints "ok: ..." or "FAIL: ...".

guest_checks_begin() {
	fail=0
	if [ "$1" -eq 0 ]; then
		echo "ok: vdm exited 0 after the guest powered off"
	else
		echo "FAIL: vdm exited with status $1"; fail=1
	fi
}

check() {
	if tr -d '\r' <"$dir/console.log" | grep -q -- "$2"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no '$2' on the console)"; fail=1
	fi
}

guest_checks_end() {
	check "guest finished its tests" "^VDM: done"
	if tr -d '\r' <"$dir/console.log" | grep -q "^VDM: FAIL"; then
		echo "FAIL: guest reported:"; tr -d '\r' <"$dir/console.log" | grep "^VDM: FAIL"
		fail=1
	fi
	if [ "$fail" -ne 0 ]; then
		echo "---- guest console"; cat "$dir/console.log"
		echo "---- vdm log"; cat "$dir/vdm.log"
		while [ $# -ge 2 ]; do
			echo "---- $1"; cat "$2" 2>/dev/null
			shift 2
		done
	fi
	exit "$fail"
}
