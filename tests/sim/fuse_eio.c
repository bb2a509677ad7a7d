/*
 * fuse_eio.c - the FUSE file system of fuse_eio.h: one in-memory file with a
 * bad patch, served over /dev/fuse by a thread.  Only what opening, reading,
 * writing, syncing and closing one file needs is answered; everything else
 * gets ENOSYS, which the kernel takes as "not supported".
 */
#include "fuse_eio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fuse.h>

#define FILE_INO 2
#define MAX_WRITE (128 * 1024)
#define BUF_SIZE (MAX_WRITE + 4096 * 2)

struct fuse_eio {
	int fd;
	char dir[256];
	pthread_t thread;
	uint8_t *data;
	size_t size;
	uint64_t bad_off, bad_len;
	bool failed_write;	/* reported by the next fsync */
	unsigned write_errors, fsyncs;
	_Alignas(8) uint8_t buf[BUF_SIZE]; /* requests hold 64-bit fields */
};

static void reply(struct fuse_eio *f, uint64_t unique, int error, const void *body, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + (error ? 0 : len)),
				     .error = error, .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, error ? 0 : len } };

	if (writev(f->fd, iov, 2) < 0 && errno != ENOENT) /* ENOENT: request interrupted */
		fprintf(stderr, "fuse_eio: reply: %s\n", strerror(errno));
}

static void fill_attr(struct fuse_eio *f, uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0700;
	} else {
		a->mode = S_IFREG | 0600;
		a->size = f->size;
		a->blocks = (f->size + 511) / 512;
	}
}

static bool hits_bad(struct fuse_eio *f, uint64_t off, uint64_t len)
{
	return off < f->bad_off + f->bad_len && off + len > f->bad_off;
}

static void serve_one(struct fuse_eio *f, const struct fuse_in_header *in, const void *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
					   .minor = FUSE_KERNEL_MINOR_VERSION,
					   .max_readahead = ii->max_readahead,
					   .max_write = MAX_WRITE };

		reply(f, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out o = { 0 };

		if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, "disk.img")) {
			reply(f, in->unique, -ENOENT, NULL, 0);
			return;
		}
		o.nodeid = FILE_INO;
		fill_attr(f, FILE_INO, &o.attr);
		reply(f, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { 0 };

		fill_attr(f, in->nodeid, &o.attr);
		reply(f, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_OPEN: {
		/* Direct I/O: every read and write reaches us, none is cached. */
		struct fuse_open_out o = { .fh = 1, .open_flags = FOPEN_DIRECT_IO };

		reply(f, in->unique, in->nodeid == FILE_INO ? 0 : -EISDIR, &o, sizeof(o));
		return;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;
		uint64_t len = r->size;

		if (r->offset >= f->size)
			len = 0;
		else if (len > f->size - r->offset)
			len = f->size - r->offset;
		if (hits_bad(f, r->offset, len))
			reply(f, in->unique, -EIO, NULL, 0);
		else
			reply(f, in->unique, 0, f->data + r->offset, len);
		return;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = arg;
		struct fuse_write_out o = { .size = w->size };

		if (w->offset > f->size || w->size > f->size - w->offset ||
		    hits_bad(f, w->offset, w->size)) {
			__atomic_add_fetch(&f->write_errors, 1, __ATOMIC_RELAXED);
			f->failed_write = true;
			reply(f, in->unique, -EIO, NULL, 0);
			return;
		}
		memcpy(f->data + w->offset, (const uint8_t *)(w + 1), w->size);
		reply(f, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_FSYNC: {
		/* A write-back error is reported once, by the next fsync. */
		bool failed = f->failed_write;

		f->failed_write = false;
		__atomic_add_fetch(&f->fsyncs, 1, __ATOMIC_RELAXED);
		reply(f, in->unique, failed ? -EIO : 0, NULL, 0);
		return;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		reply(f, in->unique, 0, NULL, 0);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return; /* no reply */
	default:
		reply(f, in->unique, -ENOSYS, NULL, 0);
		return;
	}
}

static void *serve(void *arg)
{
	struct fuse_eio *f = arg;

	for (;;) {
		ssize_t n = read(f->fd, f->buf, sizeof(f->buf));

		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < (ssize_t)sizeof(struct fuse_in_header))
			return NULL; /* ENODEV: unmounted */
		const struct fuse_in_header *in = (const void *)f->buf;
		if (in->opcode == FUSE_DESTROY)
			return NULL;
		serve_one(f, in, in + 1);
	}
}

struct fuse_eio *fuse_eio_mount(const char *dir, size_t size, uint64_t bad_off,
				uint64_t bad_len, char *err, size_t errlen)
{
	struct fuse_eio *f = calloc(1, sizeof(*f));
	char opts[128];

	if (!f || !(f->data = calloc(1, size))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	f->size = size;
	f->bad_off = bad_off;
	f->bad_len = bad_len;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	f->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		snprintf(err, errlen, "cannot open /dev/fuse: %s", strerror(errno));
		goto fail;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", f->fd);
	if (mount("vdm-eio", dir, "fuse.vdm-eio", MS_NOSUID | MS_NODEV, opts)) {
		snprintf(err, errlen, "cannot mount a FUSE file system: %s", strerror(errno));
		close(f->fd);
		goto fail;
	}
	if (pthread_create(&f->thread, NULL, serve, f)) {
		snprintf(err, errlen, "cannot start the FUSE thread");
		umount2(dir, MNT_DETACH);
		close(f->fd);
		goto fail;
	}
	return f;
fail:
	if (f)
		free(f->data);
	free(f);
	return NULL;
}

void fuse_eio_unmount(struct fuse_eio *f)
{
	/* With nothing open, unmounting ends the connection: the serving
	 * thread's read fails with ENODEV and it returns. */
	umount2(f->dir, MNT_DETACH);
	pthread_join(f->thread, NULL);
	close(f->fd);
	free(f->data);
	free(f);
}

unsigned fuse_eio_write_errors(struct fuse_eio *f)
{
	return __atomic_load_n(&f->write_errors, __ATOMIC_RELAXED);
}

unsigned fuse_eio_fsyncs(struct fuse_eio *f)
{
	return __atomic_load_n(&f->fsyncs, __ATOMIC_RELAXED);
}
