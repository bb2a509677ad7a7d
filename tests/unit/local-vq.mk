check_PROGRAMS += tests/unit/test_vq
tests_unit_test_vq_SOURCES = tests/unit/test_vq.c tests/unit/vq_test.h
tests_unit_test_vq_CPPFLAGS = $(AM_CPPFLAGS) $(VBSU_INCLUDES)
tests_unit_test_vq_LDADD = vbs-u/libvbsu.a
TESTS += tests/unit/test_vq

check_PROGRAMS += tests/unit/test_vq_packed
tests_unit_test_vq_packed_SOURCES = tests/unit/test_vq_packed.c tests/unit/vq_test.h
tests_unit_test_vq_packed_CPPFLAGS = $(AM_CPPFLAGS) $(VBSU_INCLUDES)
tests_unit_test_vq_packed_LDADD = vbs-u/libvbsu.a
TESTS += tests/unit/test_vq_packed

check_PROGRAMS += tests/unit/test_vq_inflight
tests_unit_test_vq_inflight_SOURCES = tests/unit/test_vq_inflight.c tests/unit/vq_test.h
tests_unit_test_vq_inflight_CPPFLAGS = $(AM_CPPFLAGS) $(VBSU_INCLUDES)
tests_unit_test_vq_inflight_LDADD = vbs-u/libvbsu.a
TESTS += tests/unit/test_vq_inflight
