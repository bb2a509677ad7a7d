# tests: unit tests, simulator tests and the test driver.
# Test kinds by extension (each folder adds its own): .test is automake's.
TEST_EXTENSIONS = .test
noinst_LIBRARIES += tests/driver/libdrv.a
tests_driver_libdrv_a_SOURCES = tests/driver/drv.h tests/driver/drv.c tests/driver/drv_virtio.h tests/driver/drv_virtio.c \
	tests/driver/drv_virtio_internal.h tests/driver/drv_vq_packed.c
tests_driver_libdrv_a_CPPFLAGS = $(AM_CPPFLAGS) $(HSM_INCLUDES)

noinst_PROGRAMS += tests/driver/vdm-enum
tests_driver_vdm_enum_SOURCES = tests/driver/vdm-enum.c
tests_driver_vdm_enum_LDADD = tests/driver/libdrv.a

# A test's vhost-user peer at the socket level (unit tests, fuzz_vhost_server).
VU_MSG_SOURCES = tests/unit/vu_msg.h tests/unit/vu_msg.c
VU_MSG_INCLUDES = -I$(srcdir)/tests/unit

# Simulator tests see the test driver and libhsm's header (bdfs, irqs).
SIM_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(HSM_INCLUDES)
TEST_LDADD = tests/driver/libdrv.a devicemodel/libdm.a vbs-u/libvbsu.a vhost-proxy/libvhostproxy.a hsm-shim/libhsm.a \
	$(UUID_LIBS) $(CRYPTO_LIBS) $(URING_LIBS) $(JSONC_LIBS) $(PCIACCESS_LIBS)

check_PROGRAMS += tests/unit/test_gpa_map tests/sim/test_cli tests/sim/test_hostbridge
tests_unit_test_gpa_map_LDADD = $(TEST_LDADD)
tests_unit_test_gpa_map_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(DM_INCLUDES) $(HSM_INCLUDES)
tests_sim_test_cli_LDADD = $(TEST_LDADD)
tests_sim_test_cli_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES)
tests_sim_test_hostbridge_LDADD = $(TEST_LDADD)
tests_sim_test_hostbridge_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/unit/test_gpa_map tests/sim/test_cli tests/sim/test_hostbridge
check_PROGRAMS += tests/unit/test_vhost_user
tests_unit_test_vhost_user_LDADD = $(TEST_LDADD)
tests_unit_test_vhost_user_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(VHOSTPROXY_INCLUDES)
TESTS += tests/unit/test_vhost_user
check_PROGRAMS += tests/unit/test_vhost_user_inflight
tests_unit_test_vhost_user_inflight_SOURCES = tests/unit/test_vhost_user_inflight.c $(VU_MSG_SOURCES)
tests_unit_test_vhost_user_inflight_LDADD = $(TEST_LDADD)
tests_unit_test_vhost_user_inflight_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(VHOSTPROXY_INCLUDES) $(VU_MSG_INCLUDES)
TESTS += tests/unit/test_vhost_user_inflight

include $(srcdir)/tests/unit/local-vq.mk

TESTS += tests/sim/lspci.sh
EXTRA_DIST += tests/sim/lspci.sh
check_PROGRAMS += tests/unit/test_pci
tests_unit_test_pci_LDADD = $(TEST_LDADD)
tests_unit_test_pci_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(DM_INCLUDES) $(HSM_INCLUDES)
TESTS += tests/unit/test_pci

check_PROGRAMS += tests/sim/test_virtio_rnd tests/sim/test_virtio_blk
tests_sim_test_virtio_rnd_LDADD = $(TEST_LDADD)
tests_sim_test_virtio_rnd_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_sim_test_virtio_blk_LDADD = $(TEST_LDADD)
tests_sim_test_virtio_blk_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_virtio_rnd tests/sim/test_virtio_blk
# Packed virtqueues driven by the test driver (virtio-rnd, virtio-blk).
check_PROGRAMS += tests/sim/test_packed
tests_sim_test_packed_LDADD = $(TEST_LDADD)
tests_sim_test_packed_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_packed

include $(srcdir)/tests/sim/malformed.mk
include $(srcdir)/tests/sim/faults.mk

check_PROGRAMS += tests/sim/test_virtio_console
check_PROGRAMS += tests/sim/test_virtio_fs
tests_sim_test_virtio_fs_LDADD = $(TEST_LDADD)
tests_sim_test_virtio_fs_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_virtio_fs
tests_sim_test_virtio_console_LDADD = $(TEST_LDADD)
tests_sim_test_virtio_console_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_virtio_console
check_PROGRAMS += tests/sim/test_console_multiport
tests_sim_test_console_multiport_LDADD = $(TEST_LDADD)
tests_sim_test_console_multiport_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_console_multiport

# The qemu back-end against a stand-in that speaks x-pci-proxy-dev's format.
check_PROGRAMS += tests/qemu/fake-qemu
tests_qemu_fake_qemu_CPPFLAGS = $(AM_CPPFLAGS) $(HSM_INCLUDES)
TESTS += tests/qemu/proxy.sh tests/qemu/vhost_remap.sh tests/qemu/vbsu_remap.sh
EXTRA_DIST += tests/qemu/proxy.sh tests/qemu/vhost_remap.sh tests/qemu/vbsu_remap.sh

# A real Linux guest under QEMU TCG, with vdm as its device process.
TESTS += tests/guest/blk_rnd.sh
EXTRA_DIST += tests/guest/blk_rnd.sh tests/guest/lib.sh tests/guest/uml_lib.sh
check_PROGRAMS += tests/guest/sockpeer
TESTS += tests/guest/console.sh
EXTRA_DIST += tests/guest/console.sh
# acrn-dm's MULTIPORT ports in a real guest: names, hvc0, bytes per port.
TESTS += tests/guest/console_multiport.sh
EXTRA_DIST += tests/guest/console_multiport.sh
# The split ring in a real guest (packed=off), packed being the default.
TESTS += tests/guest/split_rings.sh
EXTRA_DIST += tests/guest/split_rings.sh

check_PROGRAMS += tests/sim/test_virtio_net
tests_sim_test_virtio_net_LDADD = $(TEST_LDADD)
tests_sim_test_virtio_net_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_virtio_net

# An acrn-dm command line from ACRN's sample launch scripts, as written.
check_PROGRAMS += tests/sim/test_acrn_cmdline
tests_sim_test_acrn_cmdline_LDADD = $(TEST_LDADD)
tests_sim_test_acrn_cmdline_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_acrn_cmdline

check_PROGRAMS += tests/guest/tcp-sink
tests_guest_tcp_sink_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_guest_tcp_sink_LDADD = $(CRYPTO_LIBS)
TESTS += tests/guest/net.sh
EXTRA_DIST += tests/guest/net.sh
TESTS += tests/guest/net_split.sh
EXTRA_DIST += tests/guest/net_split.sh
TESTS += tests/guest/fs.sh
EXTRA_DIST += tests/guest/fs.sh
TESTS += tests/guest/vhost_user_net.sh
EXTRA_DIST += tests/guest/vhost_user_net.sh
TESTS += tests/guest/vhost_kernel.sh
EXTRA_DIST += tests/guest/vhost_kernel.sh

# vhost proxy: virtio-blk on qemu-storage-daemon's vhost-user-blk export.
check_PROGRAMS += tests/sim/test_vhost_user_blk
tests_sim_test_vhost_user_blk_LDADD = $(TEST_LDADD)
tests_sim_test_vhost_user_blk_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_vhost_user_blk
# ... and virtio-net on DPDK's vhost PMD (testpmd, fetched by tests/peers/testpmd.sh).
check_PROGRAMS += tests/sim/test_vhost_user_net
tests_sim_test_vhost_user_net_LDADD = $(TEST_LDADD)
tests_sim_test_vhost_user_net_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_vhost_user_net
EXTRA_DIST += tests/peers/testpmd.sh
TESTS += tests/guest/vhost_user_blk.sh
EXTRA_DIST += tests/guest/vhost_user_blk.sh
TESTS += tests/guest/route_switch.sh
EXTRA_DIST += tests/guest/route_switch.sh
# A real guest's TCP transfer and pings across 20 live switches of its NIC
# between VBS-U and DPDK's testpmd.
TESTS += tests/guest/net_route_switch.sh
EXTRA_DIST += tests/guest/net_route_switch.sh
TESTS += tests/sim/vhost_routes.sh tests/sim/vhost_kernel_net.sh
EXTRA_DIST += tests/sim/vhost_routes.sh tests/sim/vhost_kernel_net.sh
# Image locks shared with QEMU: vdm against itself and qemu-storage-daemon.
TESTS += tests/sim/blk_lock.sh
EXTRA_DIST += tests/sim/blk_lock.sh

# The acrn back-end against the HSM model: the simulator device tests again
# over --hsm acrn:model (tests/acrn/NAME.acrn runs tests/sim/NAME), four
# concurrent vCPUs, and the back-end's own start-up, garbage and shutdown.
TEST_EXTENSIONS += .acrn
ACRN_LOG_COMPILER = $(SHELL) $(srcdir)/tests/acrn/over-acrn.sh
ACRN_WRAPPED = tests/acrn/test_hostbridge.acrn tests/acrn/test_virtio_rnd.acrn \
	tests/acrn/test_virtio_blk.acrn tests/acrn/test_malformed.acrn \
	tests/acrn/test_virtio_console.acrn tests/acrn/test_virtio_net.acrn tests/acrn/lspci.acrn \
	tests/acrn/test_vhost_user_blk.acrn tests/acrn/test_virtio_fs.acrn tests/acrn/test_vhost_user_net.acrn \
	tests/acrn/test_route_switch.acrn tests/acrn/test_acrn_cmdline.acrn \
	tests/acrn/test_console_multiport.acrn
ACRN_TESTS = $(ACRN_WRAPPED) tests/acrn/test_acrn_vcpus tests/acrn/test_acrn tests/acrn/launch.sh \
	tests/acrn/test_boot_linux tests/acrn/boot_linux.sh tests/acrn/test_guest_reboot tests/acrn/test_uart tests/acrn/test_bar_windows \
	tests/acrn/test_ovmf tests/acrn/test_launch_script tests/acrn/test_rtc tests/acrn/test_intx_routes tests/acrn/test_lapic_ids tests/acrn/test_reboot_race \
	tests/acrn/no_model.sh
# The model is test-only: a library of its own, and vdm-acrn-model, vdm's
# main.c with the acrn:model back-end added, which the tests above spawn.
check_LIBRARIES += tests/acrn/libacrnmodel.a
tests_acrn_libacrnmodel_a_SOURCES = tests/acrn/acrn_model.h tests/acrn/acrn_model_internal.h \
	tests/acrn/acrn_model.c tests/acrn/acrn_model_link.c tests/acrn/acrn_model_backend.c \
	tests/acrn/acrn_model_boot.c tests/acrn/acrn_model_boot_mp.c tests/acrn/acrn_model_irqroute.c tests/acrn/acrn_model_ptdev.c \
	tests/acrn/acrn_model_com.c tests/acrn/acrn_model_windows.c
tests_acrn_libacrnmodel_a_CPPFLAGS = $(AM_CPPFLAGS) $(HSM_INCLUDES)
check_PROGRAMS += tests/acrn/vdm-acrn-model
tests_acrn_vdm_acrn_model_SOURCES = devicemodel/main.c tests/acrn/vdm_acrn_model.c
tests_acrn_vdm_acrn_model_CPPFLAGS = $(DM_CPPFLAGS)
tests_acrn_vdm_acrn_model_CFLAGS = $(devicemodel_vdm_CFLAGS)
tests_acrn_vdm_acrn_model_LDADD = tests/acrn/libacrnmodel.a $(devicemodel_vdm_LDADD)
check_PROGRAMS += tests/acrn/test_acrn_vcpus tests/acrn/test_acrn
tests_acrn_test_acrn_vcpus_LDADD = $(TEST_LDADD)
tests_acrn_test_acrn_vcpus_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
tests_acrn_test_acrn_LDADD = tests/acrn/libacrnmodel.a $(TEST_LDADD)
tests_acrn_test_acrn_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
# vdm's bzImage loader against the model's own boot check; a real kernel too.
check_PROGRAMS += tests/acrn/test_boot_linux
tests_acrn_test_boot_linux_LDADD = tests/acrn/libacrnmodel.a $(TEST_LDADD)
tests_acrn_test_boot_linux_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/devicemodel
check_PROGRAMS += tests/acrn/test_lapic_ids
tests_acrn_test_lapic_ids_LDADD = tests/acrn/libacrnmodel.a $(TEST_LDADD)
tests_acrn_test_lapic_ids_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/devicemodel
check_PROGRAMS += tests/acrn/test_ovmf
tests_acrn_test_ovmf_LDADD = tests/acrn/libacrnmodel.a $(TEST_LDADD)
tests_acrn_test_ovmf_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/devicemodel
check_PROGRAMS += tests/acrn/test_launch_script
tests_acrn_test_launch_script_LDADD = $(TEST_LDADD)
tests_acrn_test_launch_script_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/tests/sim
check_PROGRAMS += tests/acrn/test_bar_windows
tests_acrn_test_bar_windows_LDADD = $(TEST_LDADD)
tests_acrn_test_bar_windows_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
check_PROGRAMS += tests/acrn/test_uart
tests_acrn_test_uart_LDADD = $(TEST_LDADD)
tests_acrn_test_uart_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
check_PROGRAMS += tests/acrn/test_rtc
tests_acrn_test_rtc_LDADD = $(TEST_LDADD)
tests_acrn_test_rtc_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
check_PROGRAMS += tests/acrn/test_intx_routes
tests_acrn_test_intx_routes_LDADD = $(TEST_LDADD)
tests_acrn_test_intx_routes_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/tests/sim
check_PROGRAMS += tests/acrn/test_reboot_race
tests_acrn_test_reboot_race_LDADD = $(TEST_LDADD)
tests_acrn_test_reboot_race_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
check_PROGRAMS += tests/acrn/test_guest_reboot
tests_acrn_test_guest_reboot_LDADD = $(TEST_LDADD)
tests_acrn_test_guest_reboot_CPPFLAGS = $(SIM_TEST_CPPFLAGS) -I$(srcdir)/tests/sim
TESTS += $(ACRN_TESTS)
EXTRA_DIST += tests/acrn/over-acrn.sh $(ACRN_WRAPPED) tests/acrn/launch.sh tests/acrn/no_model.sh \
	tests/acrn/boot_linux.sh tests/acrn/fake_bzimage.h tests/acrn/vdm_log.h tests/acrn/null_loop.h \
	tests/sim/console_host.h

# libvhostproxy's vhost-user server against a hostile front-end speaking raw vhost-user.
check_PROGRAMS += tests/unit/test_vhost_server
tests_unit_test_vhost_server_SOURCES = tests/unit/test_vhost_server.c $(VU_MSG_SOURCES)
tests_unit_test_vhost_server_LDADD = vhost-proxy/libvhostproxy.a
tests_unit_test_vhost_server_CPPFLAGS = $(AM_CPPFLAGS) $(VHOSTPROXY_INCLUDES) $(VU_MSG_INCLUDES)
TESTS += tests/unit/test_vhost_server

# vdm-vhost-user serving virtio-rnd to vdm's own vhost=user: route.
check_PROGRAMS += tests/sim/test_vdm_vhost_user
tests_sim_test_vdm_vhost_user_LDADD = $(TEST_LDADD)
tests_sim_test_vdm_vhost_user_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_vdm_vhost_user
# vdm-vhost-user serving virtio-blk to vdm's own vhost=user: route.
check_PROGRAMS += tests/sim/test_vdm_vhost_user_blk
tests_sim_test_vdm_vhost_user_blk_LDADD = $(TEST_LDADD)
tests_sim_test_vdm_vhost_user_blk_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_vdm_vhost_user_blk
# ... and virtio-console, to vdm's virtio-console routed with vhost=user:.
check_PROGRAMS += tests/sim/test_vdm_vhost_user_console
tests_sim_test_vdm_vhost_user_console_LDADD = $(TEST_LDADD)
tests_sim_test_vdm_vhost_user_console_CPPFLAGS = $(SIM_TEST_CPPFLAGS)
TESTS += tests/sim/test_vdm_vhost_user_console

# vdm-vhost-user's NIC on a TAP, with vdm's NIC routed to it (test_virtio_net).
TESTS += tests/sim/vdm_vhost_user_net.sh
EXTRA_DIST += tests/sim/vdm_vhost_user_net.sh
# A hostile front-end truncating the file behind its memory table: dropped,
# the daemon stays up (its SIGBUS guard).
TESTS += tests/sim/vdm_vhost_user_shrink.sh
EXTRA_DIST += tests/sim/vdm_vhost_user_shrink.sh tests/sim/vvu_lib.sh
# poll=auto in the daemon: the hold-off off only when the front-end shares
# the daemon's single CPU (the log says what was chosen).
TESTS += tests/sim/vdm_vhost_user_placement.sh
EXTRA_DIST += tests/sim/vdm_vhost_user_placement.sh
# ... and to QEMU's vhost-user-rng-pci in a real guest.
TESTS += tests/guest/vhost_user_rng.sh
EXTRA_DIST += tests/guest/vhost_user_rng.sh
# ... and QEMU's vhost-user-blk-pci in a real guest, disk checksummed both ways.
TESTS += tests/guest/vdm_vhost_user_blk.sh
EXTRA_DIST += tests/guest/vdm_vhost_user_blk.sh
# ... killed with SIGKILL 5 times under QEMU's reconnecting vhost-user-blk-pci:
# INFLIGHT_SHMFD, no request lost.
TESTS += tests/guest/vdm_vhost_user_reconnect.sh
EXTRA_DIST += tests/guest/vdm_vhost_user_reconnect.sh
# ... and UML's virtio_uml (a disk and a console; no QEMU, no PCI).
TESTS += tests/guest/uml_vdm_vhost_user.sh
EXTRA_DIST += tests/guest/uml_vdm_vhost_user.sh
# Its NIC behind UML's virtio_uml: ping and TCP both ways to a TAP in a netns.
TESTS += tests/guest/uml_vdm_vhost_user_net.sh
EXTRA_DIST += tests/guest/uml_vdm_vhost_user_net.sh
# ... and behind QEMU's vhost-user netdev with virtio-net-pci in a TCG guest.
TESTS += tests/guest/qemu_vdm_vhost_user_net.sh
EXTRA_DIST += tests/guest/qemu_vdm_vhost_user_net.sh

# Passthrough without a host function: the option parser, the BAR layout, GSIs.
check_PROGRAMS += tests/unit/test_passthru
tests_unit_test_passthru_LDADD = $(TEST_LDADD)
tests_unit_test_passthru_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(DM_INCLUDES) $(HSM_INCLUDES)
TESTS += tests/unit/test_passthru
# ... and a real PCI function (QEMU's edu) passed through inside the guest,
# vdm-acrn-model over the HSM model.
TESTS += tests/guest/passthru.sh
EXTRA_DIST += tests/guest/passthru.sh
