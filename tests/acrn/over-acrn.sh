#!/bin/sh
# Run one simulator test with vdm on the acrn back-end against the HSM model
# (VDM_TEST_HSM=acrn) instead of the simulator back-end; the vdm it runs is
# the test build with the model in it ($VDM_ACRN_MODEL, tests/acrn/
# vdm-acrn-model), since the product has none.  The test is named
# by the file automake hands us: tests/acrn/NAME.acrn runs tests/sim/NAME
# (a program in the build tree, or NAME.sh in the source tree).  Besides the
# test's own verdict, any protocol violation the model logged fails it.
set -u
name=$(basename "$1" .acrn)
VDM_TEST_HSM=acrn
VDM=${VDM_ACRN_MODEL:-$VDM_BUILDDIR/tests/acrn/vdm-acrn-model}
export VDM_TEST_HSM VDM
out=$(mktemp /tmp/vdm-over-acrn-XXXXXX)
trap 'rm -f "$out"' EXIT
prog=$VDM_BUILDDIR/tests/sim/$name
if [ "$name" = test_malformed ]; then
	# One process per case there (tests/sim/malformed.mk); here every case
	# in turn, the list taken from the program's own usage line.
	cases=$("$prog" 2>&1 | sed -n 's/^usage: test_malformed CASE; cases: //p')
	status=0
	[ -n "$cases" ] || { echo "FAIL: no malformed cases listed"; status=1; }
	for c in $cases; do
		"$prog" "$c" >>"$out" 2>&1 || status=$?
	done
	(exit $status)
elif [ -x "$prog" ]; then
	"$prog" >"$out" 2>&1
else
	sh "$VDM_SRCDIR/tests/sim/$name.sh" >"$out" 2>&1
fi
status=$?
cat "$out"
if grep -q "acrn model: protocol violation" "$out"; then
	echo "FAIL: the acrn back-end broke the HSM protocol (see above)"
	[ "$status" -eq 0 ] && status=1
fi
exit "$status"
