#!/bin/sh
# Run one simulator test with vdm on the acrn back-end against the HSM model
# (VDM_TEST_HSM=acrn) instead of the simulator back-end.  The test is named
# by the file automake hands us: tests/acrn/NAME.acrn runs tests/sim/NAME
# (a program in the build tree, or NAME.sh in the source tree).
set -eu
name=$(basename "$1" .acrn)
VDM_TEST_HSM=acrn
export VDM_TEST_HSM
if [ -x "$VDM_BUILDDIR/tests/sim/$name" ]; then
	exec "$VDM_BUILDDIR/tests/sim/$name"
fi
exec sh "$VDM_SRCDIR/tests/sim/$name.sh"
