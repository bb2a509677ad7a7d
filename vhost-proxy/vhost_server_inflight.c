/*
 * vhost_server_inflight.c - the in-flight region on the back-end side of
 * vhost-user (INFLIGHT_SHMFD: GET_INFLIGHT_FD and SET_INFLIGHT_FD, QEMU's
 * docs/interop/vhost-user.rst, "Inflight I/O tracking"): made here in a
 * sealed memfd, kept by the front-end, handed back at each start and mapped,
 * and cut into one part per ring for the device.  What the parts hold is the
 * device's business (libvbsu's vq_inflight.c); the server only sizes them
 * with the device's inflight_queue_bytes.
 *
 * The front-end is hostile: the ring count and size are checked against the
 * device, and a region handed back must be a file sealed against shrinking
 * that holds the whole region at its offset, so it can never be cut short
 * under the mapping (an access past a file's end raises SIGBUS).
 */
#include "vhost_server_internal.h"
#include "vhost_user_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Check num_queues and queue_size of a request; the region's size. */
static int region_size(struct vhost_server *s, const char *name, const struct vu_inflight *req,
		       size_t *size)
{
	if (!(s->protocol_features >> VU_PROTOCOL_F_INFLIGHT_SHMFD & 1))
		return vs_error(s, -EPROTO, "%s without the INFLIGHT_SHMFD protocol feature", name);
	if (req->num_queues == 0 || req->num_queues > s->dev.nrings)
		return vs_error(s, -EINVAL, "%s: %u rings (1 to %u served)", name, req->num_queues,
				s->dev.nrings);
	if (req->queue_size == 0 || req->queue_size > s->dev.max_ring_size)
		return vs_error(s, -EINVAL, "%s: rings of %u entries (1 to %u taken)", name,
				req->queue_size, s->dev.max_ring_size);
	for (unsigned i = 0; i < s->dev.nrings; i++)
		if (s->rings[i].running)
			return vs_error(s, -EBUSY, "%s: ring %u runs", name, i);
	/* At most VHOST_MAX_RINGS rings of 32768 16-byte entries: a few MiB. */
	*size = (size_t)req->num_queues * s->dev.inflight_queue_bytes(req->queue_size);
	return 0;
}

static int map_region(struct vhost_server *s, const char *name, const struct vu_inflight *req,
		      size_t size, int fd, uint64_t offset)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);

	if (p == MAP_FAILED)
		return vs_error(s, -errno, "%s: cannot map the region: %s", name, strerror(errno));
	vs_inflight_unmap(&s->inflight);
	s->inflight = (struct vs_inflight){ .map = p, .len = size, .num_queues = req->num_queues,
					    .queue_size = req->queue_size,
					    .stride = size / req->num_queues };
	return 0;
}

int vs_inflight_get(struct vhost_server *s, const struct vu_inflight *req, struct vu_inflight *out)
{
	size_t size;
	int fd, ret = region_size(s, "GET_INFLIGHT_FD", req, &size);

	if (ret)
		return ret;
	fd = memfd_create("vhost-user-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return vs_error(s, -errno, "GET_INFLIGHT_FD: memfd: %s", strerror(errno));
	/* Sealed at its size: neither side can cut it short under the other's
	 * mapping; SET_INFLIGHT_FD asks for the seal. */
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = vs_error(s, -errno, "GET_INFLIGHT_FD: sizing the region: %s",
			       strerror(errno));
		close(fd);
		return ret;
	}
	ret = map_region(s, "GET_INFLIGHT_FD", req, size, fd, 0);
	if (ret) {
		close(fd);
		return ret;
	}
	*out = (struct vu_inflight){ .mmap_size = size, .mmap_offset = 0,
				     .num_queues = req->num_queues, .queue_size = req->queue_size };
	return fd;
}

int vs_inflight_set(struct vhost_server *s, const struct vu_inflight *req, int fd)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	size_t size;
	int seals, ret = region_size(s, "SET_INFLIGHT_FD", req, &size);

	if (ret)
		return ret;
	if (req->mmap_size != size)
		return vs_error(s, -EINVAL,
				"SET_INFLIGHT_FD: a region of %llu bytes for %u rings of %u "
				"(%zu expected)", (unsigned long long)req->mmap_size,
				req->num_queues, req->queue_size, size);
	if (req->mmap_offset & (page - 1) || req->mmap_offset > UINT64_MAX - size)
		return vs_error(s, -EINVAL, "SET_INFLIGHT_FD: offset %#llx",
				(unsigned long long)req->mmap_offset);
	if (fstat(fd, &st))
		return vs_error(s, -errno, "SET_INFLIGHT_FD: its fd: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vs_error(s, -EINVAL, "SET_INFLIGHT_FD: its fd is not a file");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return vs_error(s, -EINVAL,
				"SET_INFLIGHT_FD: its file is not sealed against shrinking");
	if ((uint64_t)st.st_size < req->mmap_offset + size)
		return vs_error(s, -EINVAL, "SET_INFLIGHT_FD: the region ends past its file "
				"(%llu bytes)", (unsigned long long)st.st_size);
	return map_region(s, "SET_INFLIGHT_FD", req, size, fd, req->mmap_offset);
}

void vs_inflight_unmap(struct vs_inflight *in)
{
	if (in->map)
		munmap(in->map, in->len);
	*in = (struct vs_inflight){ 0 };
}

void *vs_inflight_ring(const struct vhost_server *s, unsigned idx, size_t *len)
{
	const struct vs_inflight *in = &s->inflight;

	*len = 0;
	if (!in->map || idx >= in->num_queues)
		return NULL;
	*len = in->stride;
	return (uint8_t *)in->map + (size_t)idx * in->stride;
}
