/*
 * vhost.c - libvhostproxy's state machine, shared by the kernel and
 * vhost-user transports: the order of the bring-up steps, argument checks,
 * which rings run, and the error text.  The transports do the I/O.
 */
#include "vhost_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int vhost_set_error(struct vhost_dev *d, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* After the transport's opening step (ret): hand d out, or undo it. */
static int open_done(struct vhost_dev *d, int ret, struct vhost_dev **out, char *err,
		     size_t errlen)
{
	if (ret) {
		snprintf(err, errlen, "%s", d->err);
		d->ops->close(d);
		free(d);
		return ret;
	}
	d->state = VHOST_OPEN;
	*out = d;
	return 0;
}

int vhost_dev_open(struct vhost_dev **out, enum vhost_transport t, const char *path, char *err,
		   size_t errlen)
{
	struct vhost_dev *d;

	*out = NULL;
	if (!path || !*path || strlen(path) >= sizeof(d->path)) {
		snprintf(err, errlen, "vhost: bad path '%s'", path ? path : "");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "vhost: out of memory");
		return -ENOMEM;
	}
	d->transport = t;
	d->ops = t == VHOST_TRANSPORT_KERNEL ? &vhost_kernel_ops : &vhost_user_ops;
	d->fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", path);
	return open_done(d, d->ops->open(d), out, err, errlen);
}

int vhost_dev_open_connected(struct vhost_dev **out, int fd, const char *name,
			     int reply_timeout_ms, char *err, size_t errlen)
{
	struct vhost_dev *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d) {
		close(fd);
		snprintf(err, errlen, "vhost: out of memory");
		return -ENOMEM;
	}
	d->transport = VHOST_TRANSPORT_USER;
	d->ops = &vhost_user_ops;
	d->fd = fd;
	d->reply_timeout_ms = reply_timeout_ms;
	snprintf(d->path, sizeof(d->path), "%s", name);
	return open_done(d, vhost_user_handshake(d), out, err, errlen);
}

void vhost_dev_close(struct vhost_dev *d)
{
	uint16_t base;

	if (!d)
		return;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		if (d->running[i])
			vhost_dev_vring_stop(d, i, &base);
	d->ops->close(d);
	free(d);
}

uint64_t vhost_dev_features(const struct vhost_dev *d)
{
	return d->features;
}

bool vhost_dev_has_config(const struct vhost_dev *d)
{
	return d->has_config;
}

unsigned vhost_dev_max_rings(const struct vhost_dev *d)
{
	return d->max_rings;
}

static int check_live(struct vhost_dev *d)
{
	if (d->disconnected)
		return vhost_set_error(d, -ENOTCONN, "vhost-user %s: back-end disconnected",
				       d->path);
	return 0;
}

static bool any_running(const struct vhost_dev *d)
{
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		if (d->running[i])
			return true;
	return false;
}

/* Config space calls need a live back-end that serves config space. */
static int check_config(struct vhost_dev *d)
{
	int ret = check_live(d);

	if (!ret && !vhost_dev_has_config(d))
		ret = vhost_set_error(d, -EOPNOTSUPP, "vhost %s: back-end has no config space",
				      d->path);
	return ret;
}

int vhost_dev_get_config(struct vhost_dev *d, uint32_t off, void *buf, uint32_t len)
{
	int ret = check_config(d);

	return ret ? ret : d->ops->get_config(d, off, buf, len);
}

int vhost_dev_set_config(struct vhost_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	int ret = check_config(d);

	return ret ? ret : d->ops->set_config(d, off, buf, len);
}

int vhost_dev_set_features(struct vhost_dev *d, uint64_t features)
{
	int ret = check_live(d);

	if (ret)
		return ret;
	if (any_running(d))
		return vhost_set_error(d, -EPROTO, "vhost %s: features set while rings run",
				       d->path);
	if (features & ~d->features)
		return vhost_set_error(d, -EINVAL,
				       "vhost %s: features %#llx were never offered by the back-end",
				       d->path, (unsigned long long)(features & ~d->features));
	ret = d->ops->set_features(d, features);
	if (ret)
		return ret;
	d->acked_features = features;
	d->state = VHOST_FEATURES_SET;
	return 0;
}

int vhost_dev_set_mem_table(struct vhost_dev *d, const struct vhost_mem_region *r, int n)
{
	int ret = check_live(d);

	if (ret)
		return ret;
	if (d->state < VHOST_FEATURES_SET)
		return vhost_set_error(d, -EPROTO, "vhost %s: memory table before features",
				       d->path);
	if (n < 1 || n > VHOST_MAX_MEM_REGIONS)
		return vhost_set_error(d, -EINVAL, "vhost %s: %d memory regions (1..%d)", d->path,
				       n, VHOST_MAX_MEM_REGIONS);
	for (int i = 0; i < n; i++)
		if (!r[i].size || r[i].gpa + r[i].size < r[i].gpa ||
		    r[i].uaddr + r[i].size < r[i].uaddr)
			return vhost_set_error(d, -EINVAL, "vhost %s: bad memory region %d",
					       d->path, i);
	ret = d->ops->set_mem_table(d, r, n);
	if (ret)
		return ret;
	d->state = VHOST_MEM_SET;
	return 0;
}

int vhost_dev_vring_start(struct vhost_dev *d, unsigned idx, const struct vhost_vring *vr)
{
	int ret = check_live(d);

	if (ret)
		return ret;
	if (d->state < VHOST_MEM_SET)
		return vhost_set_error(d, -EPROTO, "vhost %s: ring %u started before the memory table",
				       d->path, idx);
	if (idx >= VHOST_MAX_RINGS || d->running[idx])
		return vhost_set_error(d, -EINVAL, "vhost %s: ring %u cannot start (%s)", d->path,
				       idx, idx >= VHOST_MAX_RINGS ? "no such ring" : "running");
	if (!vr->num || (vr->num & (vr->num - 1)) || vr->kick_fd < 0 || vr->call_fd < 0)
		return vhost_set_error(d, -EINVAL, "vhost %s: ring %u: bad size or fds", d->path,
				       idx);
	ret = d->ops->vring_start(d, idx, vr);
	if (ret)
		return ret;
	d->running[idx] = true;
	return 0;
}

int vhost_dev_vring_set_call(struct vhost_dev *d, unsigned idx, int call_fd)
{
	int ret = check_live(d);

	if (ret)
		return ret;
	if (idx >= VHOST_MAX_RINGS || !d->running[idx] || call_fd < 0)
		return vhost_set_error(d, -EINVAL, "vhost %s: ring %u is not running", d->path,
				       idx);
	return d->ops->vring_set_call(d, idx, call_fd);
}

int vhost_dev_vring_stop(struct vhost_dev *d, unsigned idx, uint16_t *base)
{
	int ret;

	if (idx >= VHOST_MAX_RINGS)
		return vhost_set_error(d, -EINVAL, "vhost %s: no ring %u", d->path, idx);
	if (!d->running[idx])
		return 0;
	/* Whatever happens, the ring no longer runs as far as we know: a
	 * back-end that went away stopped it too. */
	d->running[idx] = false;
	ret = check_live(d);
	if (ret)
		return ret;
	return d->ops->vring_stop(d, idx, base);
}

bool vhost_dev_has_inflight(const struct vhost_dev *d)
{
	return d->has_inflight;
}

/* In-flight regions are set up between features and the rings' start. */
static int check_inflight(struct vhost_dev *d)
{
	int ret = check_live(d);

	if (ret)
		return ret;
	if (!d->has_inflight || !d->ops->get_inflight)
		return vhost_set_error(d, -EOPNOTSUPP, "vhost %s: no in-flight tracking", d->path);
	if (d->state < VHOST_FEATURES_SET || any_running(d))
		return vhost_set_error(d, -EPROTO,
				       "vhost %s: in-flight region outside features..ring start",
				       d->path);
	return 0;
}

int vhost_dev_get_inflight(struct vhost_dev *d, uint16_t num_queues, uint16_t queue_size,
			   struct vhost_inflight *out)
{
	int ret = check_inflight(d);

	*out = (struct vhost_inflight){ .fd = -1 };
	if (ret)
		return ret;
	if (!num_queues || !queue_size)
		return vhost_set_error(d, -EINVAL, "vhost %s: in-flight region for %u rings of %u",
				       d->path, num_queues, queue_size);
	return d->ops->get_inflight(d, num_queues, queue_size, out);
}

int vhost_dev_set_inflight(struct vhost_dev *d, const struct vhost_inflight *in)
{
	int ret = check_inflight(d);

	if (ret)
		return ret;
	if (in->fd < 0)
		return vhost_set_error(d, -EINVAL, "vhost %s: no in-flight region to set", d->path);
	return d->ops->set_inflight(d, in);
}

void vhost_inflight_free(struct vhost_inflight *in)
{
	if (!in || in->fd < 0)
		return;
	if (in->map)
		munmap(in->map, in->size);
	close(in->fd);
	*in = (struct vhost_inflight){ .fd = -1 };
}

int vhost_dev_net_set_backend(struct vhost_dev *d, unsigned idx, int tap_fd)
{
	if (!d->ops->net_set_backend)
		return vhost_set_error(d, -EOPNOTSUPP, "vhost %s: not a kernel vhost-net device",
				       d->path);
	if (idx >= VHOST_MAX_RINGS)
		return vhost_set_error(d, -EINVAL, "vhost %s: no ring %u", d->path, idx);
	return d->ops->net_set_backend(d, idx, tap_fd);
}

int vhost_dev_vsock_set_cid(struct vhost_dev *d, uint64_t cid)
{
	if (!d->ops->vsock_set_cid)
		return vhost_set_error(d, -EOPNOTSUPP, "vhost %s: not a kernel vhost-vsock device",
				       d->path);
	return d->ops->vsock_set_cid(d, cid);
}

int vhost_dev_vsock_set_running(struct vhost_dev *d, bool running)
{
	if (!d->ops->vsock_set_running)
		return vhost_set_error(d, -EOPNOTSUPP, "vhost %s: not a kernel vhost-vsock device",
				       d->path);
	return d->ops->vsock_set_running(d, running);
}

int vhost_dev_sync(struct vhost_dev *d)
{
	int ret = check_live(d);

	return ret ? ret : d->ops->sync ? d->ops->sync(d) : 0;
}

int vhost_dev_fd(const struct vhost_dev *d)
{
	return d->transport == VHOST_TRANSPORT_USER ? d->fd : -1;
}

bool vhost_dev_disconnected(const struct vhost_dev *d)
{
	return d->disconnected;
}

const char *vhost_dev_error(const struct vhost_dev *d)
{
	return d->err;
}
