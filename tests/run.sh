#!/bin/sh
# vdm's test command: build and run `make check` twice, plainly and under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the threaded acrn tests
# under ThreadSanitizer, run each libFuzzer target briefly (`make fuzz-check`,
# clang), and print the totals as
# "N passed, N failed".  Installs build dependencies when run as root.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
status=0

# run_suite NAME BUILDDIR MAKE-TARGET [--sanitizers|--tsan|--fuzz]
# $tests, when set, limits `make check` to those tests.
run_suite() {
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
	if [ -n "$tests" ]; then
		(cd "$dir" && make -s -j"$(nproc)" "$target" TESTS="$tests") || status=1
	else
		(cd "$dir" && make -s -j"$(nproc)" "$target") || status=1
	fi
	log=$dir/test-suite.log
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log")
		f=$(sed -n 's/^# FAIL: *//p' "$log")
		e=$(sed -n 's/^# ERROR: *//p' "$log")
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0} + ${e:-0}))
		# Show what failed, with its log, so CI output explains itself.
		# (automake drops a registered extension such as .acrn from the log name.)
		# Only result headers name a test (tests/...); the logs quoted in
		# test-suite.log have FAIL:/SKIP: lines of their own.
		for t in $(sed -n 's/^\(FAIL\|ERROR\): \(tests\/[^ ]*\)$/\2/p' "$log"); do
			tlog=$dir/$t.log
			[ -f "$tlog" ] || tlog=$dir/${t%.*}.log
			echo "---- $name: $tlog"
			tail -n 40 "$tlog" 2>/dev/null
		done
		# Say what was skipped and why: the test's own "SKIP: reason" line
		# (every test that exits 77 prints one).
		for t in $(sed -n 's/^SKIP: \(tests\/[^ ]*\)$/\1/p' "$log"); do
			tlog=$dir/$t.log
			[ -f "$tlog" ] || tlog=$dir/${t%.*}.log
			why=$(sed -n 's/^SKIP: //p' "$tlog" 2>/dev/null | head -n 1)
			echo "skipped ($name): $t: ${why:-no SKIP: line in $tlog}"
		done
	else
		failed=$((failed + 1))
	fi
}

tests= # all of them
run_suite plain "$top/build" check
run_suite sanitizer "$top/build-asan" check --sanitizers
# ThreadSanitizer on what runs threads against each other: the acrn
# back-end's ioreq client (held by reboots racing I/O: test_reboot_race),
# the HSM model's vCPUs and the forwarder, and
# virtio-blk's I/O engines (io_uring, the thread pool) and its I/O thread;
# the management API's events, posted from an I/O thread (test_api), and a
# live switch of a disk whose guest does I/O from another thread.
tests="tests/sim/test_api tests/sim/test_route_switch tests/acrn/test_acrn tests/acrn/test_acrn_vcpus
	tests/acrn/test_reboot_race tests/acrn/test_hostbridge.acrn
	tests/acrn/test_virtio_rnd.acrn tests/acrn/test_virtio_blk.acrn tests/acrn/test_malformed.acrn
	tests/acrn/test_virtio_console.acrn tests/acrn/test_virtio_net.acrn tests/acrn/lspci.acrn
	tests/acrn/test_vhost_user_blk.acrn tests/acrn/test_virtio_fs.acrn tests/acrn/test_vhost_user_net.acrn
	tests/sim/test_virtio_blk tests/sim/test_blk_slow_flush tests/sim/powercut/threads.pwr
	tests/sim/powercut/iothread.pwr tests/sim/powercut/nocache+threads+iothread.pwr"
run_suite tsan "$top/build-tsan" check --tsan
# Every libFuzzer target for FUZZ_SECONDS (25), two at a time: one test each.
tests=
run_suite fuzz "$top/build-fuzz" fuzz-check --fuzz
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
