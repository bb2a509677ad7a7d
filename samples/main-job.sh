#!/bin/sh
# The main job: build vdm, start it on the simulator with a host bridge, let
# the test driver enumerate PCI as a guest would, and print what it found.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/samples/setup.sh" "$top/build"
exec "$top/samples/sim-enumerate.sh" "$top/build/devicemodel/vdm" \
	"$top/build/tests/driver/vdm-enum" "$@"
