# The malformed-guest suite: one program, one test per case, so a failure
# names its case.  tests/sim/malformed/CASE.mal is an empty stamp made here;
# the .mal log compiler runs `test_malformed CASE.mal`.
check_PROGRAMS += tests/sim/test_malformed
tests_sim_test_malformed_LDADD = $(TEST_LDADD)
tests_sim_test_malformed_CPPFLAGS = $(SIM_TEST_CPPFLAGS)

# Spelled out: automake rewrites substitution references in TESTS.
MALFORMED_TESTS = tests/sim/malformed/desc-loop.mal tests/sim/malformed/indirect-loop.mal \
	tests/sim/malformed/chain-longer-than-queue.mal \
	tests/sim/malformed/indirect-larger-than-queue.mal tests/sim/malformed/buffer-outside-ram.mal \
	tests/sim/malformed/buffer-straddles-ram-end.mal \
	tests/sim/malformed/buffer-wraps-address-space.mal \
	tests/sim/malformed/lengths-overflow-32bit.mal tests/sim/malformed/indirect-bad-length.mal \
	tests/sim/malformed/indirect-zero-length.mal tests/sim/malformed/indirect-nested.mal \
	tests/sim/malformed/indirect-with-next.mal tests/sim/malformed/indirect-not-negotiated.mal \
	tests/sim/malformed/readable-after-writable.mal tests/sim/malformed/head-out-of-range.mal \
	tests/sim/malformed/avail-index-jump.mal tests/sim/malformed/queue-size-zero.mal \
	tests/sim/malformed/queue-size-not-power-of-2.mal tests/sim/malformed/queue-size-too-big.mal \
	tests/sim/malformed/notify-disabled-queue.mal tests/sim/malformed/notify-absent-queue.mal \
	tests/sim/malformed/queue-address-change-live.mal \
	tests/sim/malformed/legacy-pfn-change-live.mal \
	tests/sim/malformed/features-never-offered.mal \
	tests/sim/malformed/driver-ok-after-features-refused.mal \
	tests/sim/malformed/driver-ok-without-features-ok.mal \
	tests/sim/malformed/status-bit-cleared.mal tests/sim/malformed/config-write-beyond-size.mal \
	tests/sim/malformed/bar-over-ram.mal tests/sim/malformed/msix-table-out-of-range.mal \
	tests/sim/malformed/packed-id-out-of-range.mal \
	tests/sim/malformed/packed-wrap-counter-lies.mal tests/sim/malformed/packed-desc-loop.mal \
	tests/sim/malformed/packed-lengths-overflow-32bit.mal \
	tests/sim/malformed/packed-buffer-outside-ram.mal \
	tests/sim/malformed/packed-indirect-nested.mal tests/sim/malformed/packed-then-legacy-pfn.mal
TESTS += $(MALFORMED_TESTS)
TEST_EXTENSIONS += .mal
MAL_LOG_COMPILER = $(top_builddir)/tests/sim/test_malformed
$(MALFORMED_TESTS):
	@mkdir -p tests/sim/malformed && : > $@
CLEANFILES += $(MALFORMED_TESTS)
