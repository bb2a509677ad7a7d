# hsm-shim: libhsm, the hypervisor interface and its back-ends.
noinst_LIBRARIES += hsm-shim/libhsm.a
hsm_shim_libhsm_a_SOURCES = hsm-shim/hsm.h hsm-shim/hsm_internal.h hsm-shim/sim-protocol.h \
	hsm-shim/mpqemu.h hsm-shim/qemu_internal.h \
	hsm-shim/hsm.c hsm-shim/forward.c hsm-shim/sim.c hsm-shim/qemu.c hsm-shim/qemu_launch.c \
	hsm-shim/acrn_internal.h hsm-shim/acrn.c
