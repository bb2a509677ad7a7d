#!/bin/sh
# vdm's test command: build and run `make check` twice, plainly and under
# AddressSanitizer + UndefinedBehaviorSanitizer, run each libFuzzer target
# briefly (`make fuzz-check`, clang), then print the totals as
# "N passed, N failed".  Installs build dependencies when run as root.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
status=0

run_suite() { # name builddir make-target [--sanitizers|--fuzz]
	name=$1 dir=$2 target=$3
	shift 3
	echo "== $name build"
	if ! "$top/samples/setup.sh" "$@" "$dir"; then
		echo "== $name: build failed"
		failed=$((failed + 1))
		status=1
		return
	fi
	echo "== $name tests"
	(cd "$dir" && make -s -j"$(nproc)" "$target") || status=1
	log=$dir/test-suite.log
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log")
		f=$(sed -n 's/^# FAIL: *//p' "$log")
		e=$(sed -n 's/^# ERROR: *//p' "$log")
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0} + ${e:-0}))
		# Show what failed, with its log, so CI output explains itself.
		for t in $(sed -n 's/^\(FAIL\|ERROR\): //p' "$log"); do
			echo "---- $name: $t.log"
			tail -n 40 "$dir/$t.log" 2>/dev/null
		done
	else
		failed=$((failed + 1))
	fi
}

run_suite plain "$top/build" check
run_suite sanitizer "$top/build-asan" check --sanitizers
# Every libFuzzer target for FUZZ_SECONDS (25), two at a time: one test each.
run_suite fuzz "$top/build-fuzz" fuzz-check --fuzz
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
