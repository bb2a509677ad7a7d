# tests/fuzz: libFuzzer targets, built only with ./configure --enable-fuzzing
# (CC=clang).  `make fuzz-check` runs each target for FUZZ_SECONDS (CI),
# `make fuzz-long` for FUZZ_LONG_SECONDS (an hour) each; both go through
# tests/fuzz/run-fuzz.sh, which starts from the seed corpus in
# tests/fuzz/corpus/TARGET and keeps what a run learns out of the source tree.
EXTRA_DIST += tests/fuzz/run-fuzz.sh tests/fuzz/corpus tests/fuzz/mkseeds.py tests/fuzz/coverage.sh \
	tests/fuzz/README.md

FUZZ_TARGETS =
# Each target sees the headers of what it takes apart, internals included.
FUZZ_VBSU_CPPFLAGS = $(AM_CPPFLAGS) $(VBSU_INCLUDES)
FUZZ_DM_CPPFLAGS = $(AM_CPPFLAGS) $(DM_INCLUDES) $(HSM_INCLUDES) $(VBSU_INCLUDES) $(VHOSTPROXY_INCLUDES)
FUZZ_HSM_CPPFLAGS = $(AM_CPPFLAGS) $(HSM_INCLUDES)
FUZZ_VHOST_CPPFLAGS = $(AM_CPPFLAGS) $(VHOSTPROXY_INCLUDES)
tests_fuzz_fuzz_vq_LDADD = vbs-u/libvbsu.a
tests_fuzz_fuzz_vq_packed_LDADD = vbs-u/libvbsu.a
tests_fuzz_fuzz_blk_LDADD = vbs-u/libvbsu.a $(URING_LIBS)
FUZZ_DM_LDADD = devicemodel/libdm.a vbs-u/libvbsu.a vhost-proxy/libvhostproxy.a hsm-shim/libhsm.a $(UUID_LIBS) $(CRYPTO_LIBS) $(URING_LIBS) $(JSONC_LIBS) $(PCIACCESS_LIBS)
if FUZZING
FUZZ_TARGETS += tests/fuzz/fuzz_vq
tests_fuzz_fuzz_vq_SOURCES = tests/fuzz/fuzz_vq.c tests/fuzz/fuzz_ram.h
tests_fuzz_fuzz_vq_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_fuzz_vq_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_vq_packed
tests_fuzz_fuzz_vq_packed_SOURCES = tests/fuzz/fuzz_vq_packed.c tests/fuzz/fuzz_ram.h
tests_fuzz_fuzz_vq_packed_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_fuzz_vq_packed_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_blk
tests_fuzz_fuzz_blk_SOURCES = tests/fuzz/fuzz_blk.c tests/fuzz/fuzz_ram.h
tests_fuzz_fuzz_blk_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_fuzz_blk_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_virtio_pci
tests_fuzz_fuzz_virtio_pci_SOURCES = tests/fuzz/fuzz_virtio_pci.c
tests_fuzz_fuzz_virtio_pci_CPPFLAGS = $(FUZZ_DM_CPPFLAGS)
tests_fuzz_fuzz_virtio_pci_LDADD = $(FUZZ_DM_LDADD)
tests_fuzz_fuzz_virtio_pci_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_pci_cfg
tests_fuzz_fuzz_pci_cfg_SOURCES = tests/fuzz/fuzz_virtio_pci.c
tests_fuzz_fuzz_pci_cfg_CPPFLAGS = $(FUZZ_DM_CPPFLAGS) -DFUZZ_CFG_ONLY
tests_fuzz_fuzz_pci_cfg_LDADD = $(FUZZ_DM_LDADD)
tests_fuzz_fuzz_pci_cfg_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_console
tests_fuzz_fuzz_console_SOURCES = tests/fuzz/fuzz_virtio_pci.c
tests_fuzz_fuzz_console_CPPFLAGS = $(FUZZ_DM_CPPFLAGS) -DFUZZ_CONSOLE
tests_fuzz_fuzz_console_LDADD = $(FUZZ_DM_LDADD)
tests_fuzz_fuzz_console_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_net
tests_fuzz_fuzz_net_SOURCES = tests/fuzz/fuzz_net.c tests/fuzz/fuzz_ram.h
tests_fuzz_fuzz_net_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_fuzz_net_LDADD = vbs-u/libvbsu.a
tests_fuzz_fuzz_net_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_qemu
tests_fuzz_fuzz_qemu_SOURCES = tests/fuzz/fuzz_qemu.c
tests_fuzz_fuzz_qemu_CPPFLAGS = $(FUZZ_HSM_CPPFLAGS)
tests_fuzz_fuzz_qemu_LDADD = hsm-shim/libhsm.a
tests_fuzz_fuzz_qemu_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_vhost_user
tests_fuzz_fuzz_vhost_user_SOURCES = tests/fuzz/fuzz_vhost_user.c
tests_fuzz_fuzz_vhost_user_CPPFLAGS = $(FUZZ_VHOST_CPPFLAGS)
tests_fuzz_fuzz_vhost_user_LDADD = vhost-proxy/libvhostproxy.a
tests_fuzz_fuzz_vhost_user_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

FUZZ_TARGETS += tests/fuzz/fuzz_vhost_server
tests_fuzz_fuzz_vhost_server_SOURCES = tests/fuzz/fuzz_vhost_server.c $(VU_MSG_SOURCES)
tests_fuzz_fuzz_vhost_server_CPPFLAGS = $(FUZZ_VHOST_CPPFLAGS) $(VBSU_INCLUDES) $(VU_MSG_INCLUDES)
tests_fuzz_fuzz_vhost_server_LDADD = vhost-proxy/libvhostproxy.a vbs-u/libvbsu.a
tests_fuzz_fuzz_vhost_server_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

noinst_PROGRAMS += $(FUZZ_TARGETS)
else
# Ordinary builds replay every committed input of every target once.
FUZZ_REPLAYS = tests/fuzz/replay_vq tests/fuzz/replay_blk tests/fuzz/replay_virtio_pci \
	tests/fuzz/replay_pci_cfg tests/fuzz/replay_net
tests_fuzz_replay_net_SOURCES = tests/fuzz/fuzz_net.c tests/fuzz/replay.c
tests_fuzz_replay_net_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_replay_net_LDADD = vbs-u/libvbsu.a
FUZZ_REPLAYS += tests/fuzz/replay_console
tests_fuzz_replay_console_SOURCES = tests/fuzz/fuzz_virtio_pci.c tests/fuzz/replay.c
tests_fuzz_replay_console_CPPFLAGS = $(FUZZ_DM_CPPFLAGS) -DFUZZ_CONSOLE
tests_fuzz_replay_console_LDADD = $(FUZZ_DM_LDADD)
FUZZ_REPLAYS += tests/fuzz/replay_qemu
tests_fuzz_replay_qemu_SOURCES = tests/fuzz/fuzz_qemu.c tests/fuzz/replay.c
tests_fuzz_replay_qemu_CPPFLAGS = $(FUZZ_HSM_CPPFLAGS)
tests_fuzz_replay_qemu_LDADD = hsm-shim/libhsm.a
tests_fuzz_replay_virtio_pci_SOURCES = tests/fuzz/fuzz_virtio_pci.c tests/fuzz/replay.c
tests_fuzz_replay_virtio_pci_CPPFLAGS = $(FUZZ_DM_CPPFLAGS)
tests_fuzz_replay_virtio_pci_LDADD = $(FUZZ_DM_LDADD)
tests_fuzz_replay_pci_cfg_SOURCES = tests/fuzz/fuzz_virtio_pci.c tests/fuzz/replay.c
tests_fuzz_replay_pci_cfg_CPPFLAGS = $(FUZZ_DM_CPPFLAGS) -DFUZZ_CFG_ONLY
tests_fuzz_replay_pci_cfg_LDADD = $(FUZZ_DM_LDADD)
tests_fuzz_replay_vq_SOURCES = tests/fuzz/fuzz_vq.c tests/fuzz/replay.c
tests_fuzz_replay_vq_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_replay_vq_LDADD = $(tests_fuzz_fuzz_vq_LDADD)
FUZZ_REPLAYS += tests/fuzz/replay_vq_packed
tests_fuzz_replay_vq_packed_SOURCES = tests/fuzz/fuzz_vq_packed.c tests/fuzz/replay.c
tests_fuzz_replay_vq_packed_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_replay_vq_packed_LDADD = $(tests_fuzz_fuzz_vq_packed_LDADD)
tests_fuzz_replay_blk_SOURCES = tests/fuzz/fuzz_blk.c tests/fuzz/replay.c
tests_fuzz_replay_blk_CPPFLAGS = $(FUZZ_VBSU_CPPFLAGS)
tests_fuzz_replay_blk_LDADD = $(tests_fuzz_fuzz_blk_LDADD)
FUZZ_REPLAYS += tests/fuzz/replay_vhost_user
tests_fuzz_replay_vhost_user_SOURCES = tests/fuzz/fuzz_vhost_user.c tests/fuzz/replay.c
tests_fuzz_replay_vhost_user_CPPFLAGS = $(FUZZ_VHOST_CPPFLAGS)
tests_fuzz_replay_vhost_user_LDADD = vhost-proxy/libvhostproxy.a
FUZZ_REPLAYS += tests/fuzz/replay_vhost_server
tests_fuzz_replay_vhost_server_SOURCES = tests/fuzz/fuzz_vhost_server.c tests/fuzz/replay.c $(VU_MSG_SOURCES)
tests_fuzz_replay_vhost_server_CPPFLAGS = $(FUZZ_VHOST_CPPFLAGS) $(VBSU_INCLUDES) $(VU_MSG_INCLUDES)
tests_fuzz_replay_vhost_server_LDADD = vhost-proxy/libvhostproxy.a vbs-u/libvbsu.a
check_PROGRAMS += $(FUZZ_REPLAYS)
TESTS += $(FUZZ_REPLAYS)
endif

FUZZ_SECONDS = 25
FUZZ_LONG_SECONDS = 3600
FUZZ_JOBS = 2

# One test per target: tests/fuzz/NAME.fuzz holds that target's libFuzzer
# options and runs tests/fuzz/fuzz_NAME through run-fuzz.sh.  They are in
# the usual test-suite.log (tests/run.sh counts them); check-TESTS, with
# check_PROGRAMS emptied, runs them without building every other test
# program with clang.
TEST_EXTENSIONS += .fuzz
FUZZ_LOG_COMPILER = $(SHELL) $(abs_top_srcdir)/tests/fuzz/run-fuzz.sh
FUZZ_TESTS = $(FUZZ_TARGETS:tests/fuzz/fuzz_%=tests/fuzz/%.fuzz)
EXTRA_DIST += tests/fuzz/vq.fuzz tests/fuzz/vq_packed.fuzz tests/fuzz/blk.fuzz tests/fuzz/virtio_pci.fuzz \
	tests/fuzz/pci_cfg.fuzz tests/fuzz/net.fuzz tests/fuzz/qemu.fuzz tests/fuzz/vhost_user.fuzz \
	tests/fuzz/vhost_server.fuzz tests/fuzz/console.fuzz

# The tests run FUZZ_JOBS at a time whatever -j the caller gave: the inner
# make gets MAKEFLAGS of its own (a -j beside an inherited jobserver would
# draw make's "-jN forced in submake" warning), keeping only -s (in
# MAKEFLAGS' first word, the single-letter flags, when it has no dash).
fuzz-check: $(FUZZ_TARGETS)
	@test -n "$(FUZZ_TARGETS)" || { echo "configure with --enable-fuzzing (CC=clang)"; exit 1; }
	@silent=; set -- $$MAKEFLAGS; case "$${1-}" in -*) ;; *s*) silent=-s;; esac; \
	MAKEFLAGS= $(MAKE) $(AM_MAKEFLAGS) $$silent -j$(FUZZ_JOBS) check-TESTS TESTS="$(FUZZ_TESTS)" \
		check_PROGRAMS= check_LIBRARIES= \
		AM_TESTS_ENVIRONMENT='$(AM_TESTS_ENVIRONMENT) FUZZ_SECONDS=$(FUZZ_SECONDS); export FUZZ_SECONDS;'

fuzz-long: $(FUZZ_TARGETS)
	@test -n "$(FUZZ_TARGETS)" || { echo "configure with --enable-fuzzing (CC=clang)"; exit 1; }
	$(MAKE) $(AM_MAKEFLAGS) fuzz-check FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) FUZZ_JOBS=1

.PHONY: fuzz-check fuzz-long
