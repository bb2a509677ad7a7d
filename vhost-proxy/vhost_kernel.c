/*
 * vhost_kernel.c - the kernel vhost transport: each bring-up step is one
 * ioctl of <linux/vhost.h> on an open /dev/vhost-net or /dev/vhost-vsock.
 * The kernel's worker runs in vdm's address space (SET_OWNER), so ring and
 * memory addresses are vdm's own user addresses.
 */
#include "vhost_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vhost.h>

/* Feature bits that belong to vhost itself, never to the guest. */
#define KERNEL_PRIVATE_FEATURES (1ULL << VHOST_F_LOG_ALL | 1ULL << VHOST_NET_F_VIRTIO_NET_HDR)

static int kioctl(struct vhost_dev *d, unsigned long req, void *arg, const char *name)
{
	if (ioctl(d->fd, req, arg) < 0) {
		int e = errno;

		return vhost_set_error(d, -e, "vhost %s: %s: %s", d->path, name, strerror(e));
	}
	return 0;
}

static int k_open(struct vhost_dev *d)
{
	uint64_t f;
	int ret;

	d->fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		int e = errno;

		return vhost_set_error(d, -e, "vhost=kernel: cannot open %s: %s", d->path,
				       strerror(e));
	}
	ret = kioctl(d, VHOST_SET_OWNER, NULL, "VHOST_SET_OWNER");
	if (!ret)
		ret = kioctl(d, VHOST_GET_FEATURES, &f, "VHOST_GET_FEATURES");
	if (ret)
		return ret;
	d->features = f & ~KERNEL_PRIVATE_FEATURES;
	return 0;
}

static void k_close(struct vhost_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static int k_set_features(struct vhost_dev *d, uint64_t features)
{
	return kioctl(d, VHOST_SET_FEATURES, &features, "VHOST_SET_FEATURES");
}

static int k_set_mem_table(struct vhost_dev *d, const struct vhost_mem_region *r, int n)
{
	struct vhost_memory *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(m->regions[0]));
	int ret;

	if (!m)
		return vhost_set_error(d, -ENOMEM, "vhost %s: out of memory", d->path);
	m->nregions = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		m->regions[i].guest_phys_addr = r[i].gpa;
		m->regions[i].memory_size = r[i].size;
		m->regions[i].userspace_addr = r[i].uaddr;
	}
	ret = kioctl(d, VHOST_SET_MEM_TABLE, m, "VHOST_SET_MEM_TABLE");
	free(m);
	return ret;
}

static int k_vring_start(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr)
{
	struct vhost_vring_state num = { .index = idx, .num = vr->num };
	struct vhost_vring_state base = { .index = idx, .num = vr->base };
	struct vhost_vring_addr addr = {
		.index = idx,
		.desc_user_addr = vr->desc,
		.avail_user_addr = vr->avail,
		.used_user_addr = vr->used,
	};
	struct vhost_vring_file kick = { .index = idx, .fd = vr->kick_fd };
	struct vhost_vring_file call = { .index = idx, .fd = vr->call_fd };
	struct vhost_vring_file error = { .index = idx, .fd = vr->err_fd };
	int ret;

	ret = kioctl(d, VHOST_SET_VRING_NUM, &num, "VHOST_SET_VRING_NUM");
	if (!ret)
		ret = kioctl(d, VHOST_SET_VRING_BASE, &base, "VHOST_SET_VRING_BASE");
	if (!ret)
		ret = kioctl(d, VHOST_SET_VRING_ADDR, &addr, "VHOST_SET_VRING_ADDR");
	if (!ret)
		ret = kioctl(d, VHOST_SET_VRING_CALL, &call, "VHOST_SET_VRING_CALL");
	/* The kernel signals it on a descriptor it cannot use. */
	if (!ret && vr->err_fd >= 0)
		ret = kioctl(d, VHOST_SET_VRING_ERR, &error, "VHOST_SET_VRING_ERR");
	if (!ret)
		ret = kioctl(d, VHOST_SET_VRING_KICK, &kick, "VHOST_SET_VRING_KICK");
	return ret;
}

static int k_vring_set_call(struct vhost_dev *d, unsigned idx, int fd)
{
	struct vhost_vring_file call = { .index = idx, .fd = fd };

	return kioctl(d, VHOST_SET_VRING_CALL, &call, "VHOST_SET_VRING_CALL");
}

static int k_vring_stop(struct vhost_dev *d, unsigned idx, uint16_t *base)
{
	struct vhost_vring_state st = { .index = idx };
	struct vhost_vring_file none = { .index = idx, .fd = -1 };
	int ret;

	/* Detach the kick first so the worker takes nothing more. */
	kioctl(d, VHOST_SET_VRING_KICK, &none, "VHOST_SET_VRING_KICK");
	ret = kioctl(d, VHOST_GET_VRING_BASE, &st, "VHOST_GET_VRING_BASE");
	if (!ret)
		*base = (uint16_t)st.num;
	return ret;
}

static int k_net_set_backend(struct vhost_dev *d, unsigned idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };

	return kioctl(d, VHOST_NET_SET_BACKEND, &f, "VHOST_NET_SET_BACKEND");
}

static int k_vsock_set_cid(struct vhost_dev *d, uint64_t cid)
{
	return kioctl(d, VHOST_VSOCK_SET_GUEST_CID, &cid, "VHOST_VSOCK_SET_GUEST_CID");
}

static int k_vsock_set_running(struct vhost_dev *d, bool running)
{
	int on = running;

	return kioctl(d, VHOST_VSOCK_SET_RUNNING, &on, "VHOST_VSOCK_SET_RUNNING");
}

const struct vhost_transport_ops vhost_kernel_ops = {
	.open = k_open,
	.close = k_close,
	.set_features = k_set_features,
	.set_mem_table = k_set_mem_table,
	.vring_start = k_vring_start,
	.vring_set_call = k_vring_set_call,
	.vring_stop = k_vring_stop,
	.net_set_backend = k_net_set_backend,
	.vsock_set_cid = k_vsock_set_cid,
	.vsock_set_running = k_vsock_set_running,
};
