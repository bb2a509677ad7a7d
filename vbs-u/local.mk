# vbs-u: libvbsu, virtqueue access and user-space back-ends.
noinst_LIBRARIES += vbs-u/libvbsu.a
vbs_u_libvbsu_a_SOURCES = vbs-u/vbsu.h vbs-u/vq_internal.h vbs-u/vq.c vbs-u/vq_packed.c vbs-u/vq_inflight.c vbs-u/rnd.c vbs-u/net.c vbs-u/console.c \
	vbs-u/blk_internal.h vbs-u/blk.c vbs-u/blk_image.c \
	vbs-u/aio.h vbs-u/aio_uring.c vbs-u/aio_threads.c vbs-u/image_lock.c
vbs_u_libvbsu_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(URING_CFLAGS)
