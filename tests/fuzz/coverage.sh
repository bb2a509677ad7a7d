#!/bin/sh
# Line coverage that a fuzz corpus reaches, per source file of the code
# under test: replays CORPUS/NAME (as kept by FUZZ_KEEP_CORPUS=CORPUS) through
# replay_NAME built with clang's source-based coverage, in a build directory
# of its own.
#   tests/fuzz/coverage.sh BUILD-COV-DIR CORPUS-DIR
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
corpus=$(cd "$2" && pwd)
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" -q CC=clang \
	CFLAGS="-O1 -g -fprofile-instr-generate -fcoverage-mapping"
make -s -j2 tests/fuzz/replay_vq tests/fuzz/replay_vq_packed tests/fuzz/replay_blk tests/fuzz/replay_net \
	tests/fuzz/replay_virtio_pci tests/fuzz/replay_pci_cfg tests/fuzz/replay_qemu >/dev/null
for name in vq vq_packed blk net virtio_pci pci_cfg qemu; do
	[ -d "$corpus/$name" ] || continue
	rm -f "cov-$name".prof*
	LLVM_PROFILE_FILE="cov-$name.profraw" "./tests/fuzz/replay_$name" "$corpus/$name" >/dev/null
	llvm-profdata merge -o "cov-$name.profdata" "cov-$name.profraw"
	case $name in
	vq) files="vbs-u/vq.c" ;;
	vq_packed) files="vbs-u/vq.c vbs-u/vq_packed.c" ;;
	blk) files="vbs-u/vq.c vbs-u/blk.c" ;;
	net) files="vbs-u/vq.c vbs-u/net.c" ;;
	virtio_pci | pci_cfg) files="devicemodel/pci.c devicemodel/pci_bus.c devicemodel/pci_msix.c
		devicemodel/virtio_pci.c devicemodel/virtio_legacy.c devicemodel/virtio_blk.c
		devicemodel/virtio_rnd.c vbs-u/vq.c vbs-u/blk.c" ;;
	qemu) files="hsm-shim/qemu.c" ;;
	esac
	echo "== fuzz_$name: $(ls "$corpus/$name" | wc -l) inputs"
	# shellcheck disable=SC2086 # one path per word
	llvm-cov report "./tests/fuzz/replay_$name" -instr-profile="cov-$name.profdata" \
		$(for f in $files; do printf '%s ' "$top/$f"; done)
done
