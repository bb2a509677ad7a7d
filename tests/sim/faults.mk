# Back-end faults, durability and fairness between devices (virtio-blk).
EXTRA_DIST += tests/sim/blk_guest.h
check_PROGRAMS += tests/sim/test_blk_durability
tests_sim_test_blk_durability_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_durability
check_PROGRAMS += tests/sim/test_blk_enospc
tests_sim_test_blk_enospc_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_enospc
check_PROGRAMS += tests/sim/test_fairness
tests_sim_test_fairness_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_fairness
check_PROGRAMS += tests/sim/test_blk_eio
tests_sim_test_blk_eio_SOURCES = tests/sim/test_blk_eio.c tests/sim/fuse_eio.c tests/sim/fuse_eio.h
tests_sim_test_blk_eio_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_eio
