# Back-end faults, durability and fairness between devices (virtio-blk).
EXTRA_DIST += tests/sim/blk_guest.h tests/sim/net_guest.h tests/sim/rnd_guest.h tests/sim/netns_tap.h tests/sim/peer.h
check_PROGRAMS += tests/sim/test_blk_durability
tests_sim_test_blk_durability_LDADD = $(TEST_LDADD)
tests_sim_test_blk_durability_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_blk_durability
check_PROGRAMS += tests/sim/test_blk_enospc
tests_sim_test_blk_enospc_LDADD = $(TEST_LDADD)
tests_sim_test_blk_enospc_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_blk_enospc
check_PROGRAMS += tests/sim/test_fairness
tests_sim_test_fairness_LDADD = $(TEST_LDADD)
tests_sim_test_fairness_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_fairness
# The same with virtio-rnd and virtio-net transmit as the device that keeps
# its queue full (test_fairness.c, FAIR_HAMMER).
check_PROGRAMS += tests/sim/test_fairness_rnd tests/sim/test_fairness_net
tests_sim_test_fairness_rnd_SOURCES = tests/sim/test_fairness.c
tests_sim_test_fairness_rnd_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -DFAIR_HAMMER=HAMMER_RND
tests_sim_test_fairness_rnd_LDADD = $(TEST_LDADD)
tests_sim_test_fairness_net_SOURCES = tests/sim/test_fairness.c
tests_sim_test_fairness_net_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -DFAIR_HAMMER=HAMMER_NET
tests_sim_test_fairness_net_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_fairness_rnd tests/sim/test_fairness_net
check_PROGRAMS += tests/sim/test_blk_eio
tests_sim_test_blk_eio_SOURCES = tests/sim/test_blk_eio.c tests/sim/fuse_disk.c tests/sim/fuse_disk.h
tests_sim_test_blk_eio_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_blk_eio_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_eio
# FLUSH through a power cut: the image on fuse_disk's volatile cache.  Cache
# modes can be registered as more tests passing their option (see its header).
check_PROGRAMS += tests/sim/test_blk_powercut
tests_sim_test_blk_powercut_SOURCES = tests/sim/test_blk_powercut.c tests/sim/fuse_disk.c \
	tests/sim/fuse_disk.h
tests_sim_test_blk_powercut_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_blk_powercut_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_powercut
# The same in every cache mode, with the thread-pool engine and with the
# queue on an I/O thread (names: the
# options joined by '+', "threads" for aio=threads; see variant_opts).
POWERCUT_TESTS = tests/sim/powercut/writethru.pwr tests/sim/powercut/nocache.pwr \
	tests/sim/powercut/threads.pwr tests/sim/powercut/nocache+threads.pwr \
	tests/sim/powercut/iothread.pwr tests/sim/powercut/nocache+threads+iothread.pwr
TESTS += $(POWERCUT_TESTS)
TEST_EXTENSIONS += .pwr
PWR_LOG_COMPILER = $(top_builddir)/tests/sim/test_blk_powercut
$(POWERCUT_TESTS):
	@mkdir -p tests/sim/powercut && : > $@
CLEANFILES += $(POWERCUT_TESTS)
# A slow FLUSH on one disk must not stall the other disk or config space.
check_PROGRAMS += tests/sim/test_blk_slow_flush
tests_sim_test_blk_slow_flush_SOURCES = tests/sim/test_blk_slow_flush.c tests/sim/fuse_disk.c \
	tests/sim/fuse_disk.h
tests_sim_test_blk_slow_flush_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_blk_slow_flush_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_blk_slow_flush
# Live route switching through the management API, against qemu-storage-daemon
# (also over the ACRN model: tests/acrn/test_route_switch.acrn).
check_PROGRAMS += tests/sim/test_route_switch
tests_sim_test_route_switch_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_route_switch_LDADD = $(TEST_LDADD) -lpthread
TESTS += tests/sim/test_route_switch
# virtio-rnd switching live between VBS-U and vdm-vhost-user.
check_PROGRAMS += tests/sim/test_rnd_route_switch
tests_sim_test_rnd_route_switch_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_rnd_route_switch_LDADD = $(TEST_LDADD) -lpthread
TESTS += tests/sim/test_rnd_route_switch
EXTRA_DIST += tests/sim/api_client.h
# The management API as a client sees it, bad input included.
check_PROGRAMS += tests/sim/test_api
tests_sim_test_api_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_api_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_api
# virtio-net moved live between VBS-U and testpmd's vhost-user port while
# the driver pings the host through a bridge; a feature testpmd lacks is refused.
check_PROGRAMS += tests/sim/test_net_route_switch
tests_sim_test_net_route_switch_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_net_route_switch_LDADD = $(TEST_LDADD) -lpthread
TESTS += tests/sim/test_net_route_switch
# The same with kernel vhost-net as the other route (skipped without it).
TESTS += tests/sim/vhost_kernel_switch.sh
EXTRA_DIST += tests/sim/vhost_kernel_switch.sh
# set-route towards a back-end that fails on cue (vu-fault-peer): absent,
# lacking a feature, killed or silent at each step; vdm lives, the device serves.
check_PROGRAMS += tests/sim/vu-fault-peer tests/sim/test_route_faults
tests_sim_vu_fault_peer_SOURCES = tests/sim/vu_fault_peer.c
tests_sim_test_route_faults_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_route_faults_LDADD = $(TEST_LDADD)
TESTS += tests/sim/test_route_faults
