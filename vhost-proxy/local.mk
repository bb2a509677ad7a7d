# vhost-proxy: libvhostproxy, kernel vhost and vhost-user front-end, and the
# back-end side of vhost-user that vdm-vhost-user serves with.
noinst_LIBRARIES += vhost-proxy/libvhostproxy.a
vhost_proxy_libvhostproxy_a_SOURCES = vhost-proxy/vhostproxy.h vhost-proxy/vhost_internal.h \
	vhost-proxy/vhost_user_proto.h \
	vhost-proxy/vhost.c vhost-proxy/vhost_kernel.c vhost-proxy/vhost_user.c \
	vhost-proxy/vhost_server_internal.h vhost-proxy/vhost_user_server.c vhost-proxy/vhost_server_mem.c \
	vhost-proxy/vhost_server_inflight.c vhost-proxy/vhost_server_guard.c
