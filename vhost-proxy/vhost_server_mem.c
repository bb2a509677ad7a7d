/*
 * vhost_server_mem.c - the front-end's memory table on the back-end side of
 * vhost-user: each region's checks and mapping (SET_MEM_TABLE), and the two
 * lookups through it: guest-physical -> host pointer for the rings and
 * buffers, front-end user address -> guest-physical for SET_VRING_ADDR.
 *
 * The front-end is hostile: a region that wraps, overlaps another or lies
 * beyond its file would let a guest address reach memory it should not (or
 * raise SIGBUS here), so each is refused before anything is mapped.  A file
 * shrunk after it was mapped is vhost_server_guard.c's.
 */
#include "vhost_server_internal.h"
#include "vhost_user_proto.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(VHOST_SERVER_MAX_REGIONS == VU_MAX_MEM_REGIONS,
	       "the server takes what one SET_MEM_TABLE carries");

/* [a, a+alen) and [b, b+blen) share a byte (neither wraps). */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int check_region(struct vhost_server *s, const struct vu_region *r, int i, int fd)
{
	struct stat st;

	if (r->size == 0)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: region %d is empty", i);
	if (r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr ||
	    r->mmap_offset + r->size < r->mmap_offset)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: region %d wraps around", i);
	if (r->size > SIZE_MAX / 2)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: region %d is too large", i);
	if (fstat(fd, &st))
		return vs_error(s, -errno, "SET_MEM_TABLE: region %d's fd: %s", i, strerror(errno));
	/* Mapping past the end of the file would map pages that raise SIGBUS. */
	if (!S_ISREG(st.st_mode))
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: region %d's fd is not a file", i);
	if ((uint64_t)st.st_size < r->mmap_offset + r->size)
		return vs_error(s, -EINVAL,
				"SET_MEM_TABLE: region %d ends past its file (%llu bytes)", i,
				(unsigned long long)st.st_size);
	return 0;
}

int vs_mem_map(struct vhost_server *s, struct vs_mem *out, const struct vu_region *regions, int n,
	       const int *fds)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int ret;

	memset(out, 0, sizeof(*out));
	if (n < 1 || n > VHOST_SERVER_MAX_REGIONS)
		return vs_error(s, -EINVAL, "SET_MEM_TABLE: %d regions (1 to %d taken)", n,
				VHOST_SERVER_MAX_REGIONS);
	for (int i = 0; i < n; i++) {
		ret = check_region(s, &regions[i], i, fds[i]);
		if (ret)
			return ret;
		for (int j = 0; j < i; j++) {
			const struct vu_region *a = &regions[i], *b = &regions[j];

			/* One guest address, one host byte; one user address, one
			 * guest address (ring addresses are looked up by it). */
			if (overlap(a->gpa, a->size, b->gpa, b->size) ||
			    overlap(a->uaddr, a->size, b->uaddr, b->size))
				return vs_error(s, -EINVAL,
						"SET_MEM_TABLE: regions %d and %d overlap", j, i);
		}
	}
	for (int i = 0; i < n; i++) {
		const struct vu_region *r = &regions[i];
		uint64_t start = r->mmap_offset & ~(page - 1);
		size_t len = (size_t)(r->mmap_offset - start + r->size);
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], (off_t)start);

		if (p == MAP_FAILED) {
			ret = vs_error(s, -errno, "SET_MEM_TABLE: cannot map region %d: %s", i,
				       strerror(errno));
			vs_mem_unmap(out);
			return ret;
		}
		vs_guard_add(p, len);
		out->r[i] = (struct vs_region){ .gpa = r->gpa, .size = r->size, .uaddr = r->uaddr,
						.map = p, .map_len = len,
						.host = (uint8_t *)p + (r->mmap_offset - start) };
		out->n = i + 1;
	}
	return 0;
}

void vs_mem_unmap(struct vs_mem *m)
{
	for (int i = 0; i < m->n; i++) {
		vs_guard_remove(m->r[i].map);
		munmap(m->r[i].map, m->r[i].map_len);
	}
	memset(m, 0, sizeof(*m));
}

bool vs_mem_ua_to_gpa(const struct vs_mem *m, uint64_t ua, uint64_t *gpa)
{
	for (int i = 0; i < m->n; i++) {
		const struct vs_region *r = &m->r[i];

		if (ua >= r->uaddr && ua - r->uaddr < r->size) {
			*gpa = r->gpa + (ua - r->uaddr);
			return true;
		}
	}
	return false;
}

void *vhost_server_translate(void *opaque, uint64_t gpa, uint64_t len)
{
	const struct vhost_server *s = opaque;

	for (int i = 0; i < s->mem.n; i++) {
		const struct vs_region *r = &s->mem.r[i];

		/* Written so nothing can overflow: gpa - r->gpa only once
		 * gpa >= r->gpa, and len against what is left of the region. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}
