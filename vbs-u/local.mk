# vbs-u: libvbsu, virtqueue access and user-space back-ends.
noinst_LIBRARIES += vbs-u/libvbsu.a
vbs_u_libvbsu_a_SOURCES = vbs-u/vbsu.h vbs-u/vq.c vbs-u/rnd.c vbs-u/blk.c vbs-u/net.c \
	vbs-u/console.c
vbs_u_libvbsu_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
