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
