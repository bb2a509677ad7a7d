/*
 * fuse_disk.c - the FUSE file system of fuse_disk.h: one in-memory file,
 * served over /dev/fuse by a thread, with a bad patch, a volatile write
 * cache and a slow fsync.  Only what opening, reading, writing, syncing and
 * closing one file needs is answered; everything else gets ENOSYS, which the
 * kernel takes as "not supported".
 *
 * The volatile cache is only honest if every write a program makes reaches
 * this daemon before the program's write() returns, and every read comes
 * from here.  Two choices make it so:
 *
 *  - FUSE_INIT is answered without FUSE_WRITEBACK_CACHE, so the kernel
 *    never holds written data back to send later: without that flag FUSE
 *    page-cache writes are write-through;
 *  - every FUSE_OPEN is answered with FOPEN_DIRECT_IO, so the file has no
 *    page cache at all: each write() and read() becomes FUSE_WRITE /
 *    FUSE_READ requests (max_write bytes at most) answered before the call
 *    returns.  Nothing cached in the kernel can outlive a power cut.
 *
 * O_DIRECT opens: the VFS refuses O_DIRECT with EINVAL unless the file may
 * do direct I/O (FMODE_CAN_ODIRECT, which FUSE files get from their
 * direct_IO method, with or without FOPEN_DIRECT_IO), so they work here; the
 * open's flags arrive in FUSE_OPEN, which counts the O_DIRECT ones so a test
 * can tell how its image was opened.  FUSE has no alignment rule of its own.
 *
 * What makes data durable: FUSE_FSYNC (fsync and fdatasync alike: the
 * file's size never changes), and a write through an O_DSYNC or O_SYNC
 * descriptor, for its own bytes.  FUSE_FLUSH, sent at every close(), is not
 * a durability barrier: close promises nothing about the disk, so neither
 * does this disk.
 */
#include "fuse_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuse.h>

#define FILE_INO 2
#define MAX_WRITE (128 * 1024)
#define BUF_SIZE (MAX_WRITE + 4096 * 2)
#define SECTOR 512

struct fuse_disk {
	int fd;
	char dir[256];
	pthread_t thread;
	struct fuse_disk_opts o;
	/* The serving thread and the test's thread (power cut, counters). */
	pthread_mutex_t lock;
	uint8_t *data;	   /* what reads see */
	uint8_t *durable;  /* what survives a power cut */
	uint8_t *dirty;	   /* per sector: written since the last fsync */
	bool failed_write; /* reported by the next fsync */
	bool fsync_busy;
	unsigned write_errors, fsyncs, direct_opens;
	_Alignas(8) uint8_t buf[BUF_SIZE]; /* requests hold 64-bit fields */
};

static void reply(struct fuse_disk *f, uint64_t unique, int error, const void *body, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + (error ? 0 : len)),
				     .error = error, .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, error ? 0 : len } };

	if (writev(f->fd, iov, 2) < 0 && errno != ENOENT) /* ENOENT: request interrupted */
		fprintf(stderr, "fuse_disk: reply: %s\n", strerror(errno));
}

static void fill_attr(struct fuse_disk *f, uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0700;
	} else {
		a->mode = S_IFREG | 0600;
		a->size = f->o.size;
		a->blocks = (f->o.size + 511) / 512;
	}
}

static bool hits_bad(struct fuse_disk *f, uint64_t off, uint64_t len)
{
	return off < f->o.bad_off + f->o.bad_len && off + len > f->o.bad_off;
}

/* Copy the sectors in [first, end) marked dirty from one image to the other
 * and clear their marks; returns the bytes copied.  Called with the lock
 * held. */
static uint64_t move_dirty(struct fuse_disk *f, uint8_t *to, const uint8_t *from, size_t first,
			   size_t end)
{
	uint64_t bytes = 0;

	for (size_t s = first; s < end; s++) {
		size_t off = s * SECTOR;
		size_t len = f->o.size - off < SECTOR ? f->o.size - off : SECTOR;

		if (!f->dirty[s])
			continue;
		memcpy(to + off, from + off, len);
		f->dirty[s] = 0;
		bytes += len;
	}
	return bytes;
}

static size_t nsectors(const struct fuse_disk *f)
{
	return (f->o.size + SECTOR - 1) / SECTOR;
}

static void do_write(struct fuse_disk *f, const struct fuse_in_header *in,
		     const struct fuse_write_in *w)
{
	struct fuse_write_out o = { .size = w->size };

	pthread_mutex_lock(&f->lock);
	if (w->offset > f->o.size || w->size > f->o.size - w->offset ||
	    hits_bad(f, w->offset, w->size)) {
		f->write_errors++;
		f->failed_write = true;
		pthread_mutex_unlock(&f->lock);
		reply(f, in->unique, -EIO, NULL, 0);
		return;
	}
	size_t first = w->offset / SECTOR, end = (w->offset + w->size + SECTOR - 1) / SECTOR;

	memcpy(f->data + w->offset, (const uint8_t *)(w + 1), w->size);
	memset(f->dirty + first, 1, end - first);
	/* O_DSYNC (O_SYNC includes it) comes only as this flag: with direct I/O
	 * the kernel sends no FSYNC after the write, so the write itself must
	 * be durable when it is answered. */
	if (w->flags & O_DSYNC)
		move_dirty(f, f->durable, f->data, first, end);
	pthread_mutex_unlock(&f->lock);
	reply(f, in->unique, 0, &o, sizeof(o));
}

static void do_fsync(struct fuse_disk *f, const struct fuse_in_header *in)
{
	struct timespec delay = { f->o.fsync_ms / 1000, (long)(f->o.fsync_ms % 1000) * 1000000 };
	bool failed;

	/* A slow fsync holds up the whole file system, as a disk busy with a
	 * cache flush holds up its queue: this thread serves nothing else. */
	pthread_mutex_lock(&f->lock);
	f->fsync_busy = true;
	pthread_mutex_unlock(&f->lock);
	while (nanosleep(&delay, &delay) && errno == EINTR)
		;
	pthread_mutex_lock(&f->lock);
	move_dirty(f, f->durable, f->data, 0, nsectors(f));
	/* A write-back error is reported once, by the next fsync. */
	failed = f->failed_write;
	f->failed_write = false;
	f->fsyncs++;
	f->fsync_busy = false;
	pthread_mutex_unlock(&f->lock);
	reply(f, in->unique, failed ? -EIO : 0, NULL, 0);
}

static void serve_one(struct fuse_disk *f, const struct fuse_in_header *in, const void *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		/* No flags: above all no FUSE_WRITEBACK_CACHE (see the top). */
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
		const struct fuse_open_in *oi = arg;
		/* Direct I/O: every read and write reaches us, none is cached. */
		struct fuse_open_out o = { .fh = 1, .open_flags = FOPEN_DIRECT_IO };

		if (in->nodeid != FILE_INO) {
			reply(f, in->unique, -EISDIR, NULL, 0);
			return;
		}
		pthread_mutex_lock(&f->lock);
		f->direct_opens += !!(oi->flags & O_DIRECT);
		pthread_mutex_unlock(&f->lock);
		reply(f, in->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;
		uint64_t len = r->size;

		if (r->offset >= f->o.size)
			len = 0;
		else if (len > f->o.size - r->offset)
			len = f->o.size - r->offset;
		pthread_mutex_lock(&f->lock);
		if (hits_bad(f, r->offset, len))
			reply(f, in->unique, -EIO, NULL, 0);
		else
			reply(f, in->unique, 0, f->data + r->offset, len);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	case FUSE_WRITE:
		do_write(f, in, arg);
		return;
	case FUSE_FSYNC:
		do_fsync(f, in);
		return;
	case FUSE_FLUSH: /* close(): not a barrier, nothing becomes durable */
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
	struct fuse_disk *f = arg;

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

static void free_disk(struct fuse_disk *f)
{
	if (!f)
		return;
	free(f->data);
	free(f->durable);
	free(f->dirty);
	free(f);
}

struct fuse_disk *fuse_disk_mount(const char *dir, const struct fuse_disk_opts *o, char *err,
				  size_t errlen)
{
	struct fuse_disk *f = calloc(1, sizeof(*f));
	char opts[128];

	if (!f || !(f->data = calloc(1, o->size)) || !(f->durable = calloc(1, o->size)) ||
	    !(f->dirty = calloc(1, o->size / SECTOR + 1))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	f->o = *o;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	f->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		snprintf(err, errlen, "cannot open /dev/fuse: %s", strerror(errno));
		goto fail;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", f->fd);
	if (mount("vdm-disk", dir, "fuse.vdm-disk", MS_NOSUID | MS_NODEV, opts)) {
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
	free_disk(f);
	return NULL;
}

struct fuse_disk *fuse_disk_setup(char *dir_template, const struct fuse_disk_opts *o)
{
	struct fuse_disk *f;
	char err[160];

	if (getuid() != 0) {
		printf("SKIP: needs root to mount a FUSE file system\n");
		return NULL;
	}
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    !mkdtemp(dir_template)) {
		printf("SKIP: no private mount namespace: %s\n", strerror(errno));
		return NULL;
	}
	f = fuse_disk_mount(dir_template, o, err, sizeof(err));
	if (!f) {
		printf("SKIP: %s\n", err);
		rmdir(dir_template);
	}
	return f;
}

void fuse_disk_unmount(struct fuse_disk *f)
{
	/* With nothing open, unmounting ends the connection: the serving
	 * thread's read fails with ENODEV and it returns. */
	umount2(f->dir, MNT_DETACH);
	pthread_join(f->thread, NULL);
	close(f->fd);
	pthread_mutex_destroy(&f->lock);
	free_disk(f);
}

uint64_t fuse_disk_power_cut(struct fuse_disk *f)
{
	uint64_t dropped;

	pthread_mutex_lock(&f->lock);
	dropped = move_dirty(f, f->data, f->durable, 0, nsectors(f));
	f->failed_write = false; /* the cache that lost the write is gone too */
	pthread_mutex_unlock(&f->lock);
	return dropped;
}

uint64_t fuse_disk_volatile_bytes(struct fuse_disk *f)
{
	uint64_t n = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t s = 0; s < nsectors(f); s++)
		n += f->dirty[s];
	pthread_mutex_unlock(&f->lock);
	return n * SECTOR;
}

int fuse_disk_read_durable(struct fuse_disk *f, uint64_t off, void *buf, size_t len)
{
	if (off > f->o.size || len > f->o.size - off)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	memcpy(buf, f->durable + off, len);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

#define COUNTER(name, type)                                                                        \
	type fuse_disk_##name(struct fuse_disk *f)                                                 \
	{                                                                                          \
		pthread_mutex_lock(&f->lock);                                                      \
		type v = f->name;                                                                  \
		pthread_mutex_unlock(&f->lock);                                                    \
		return v;                                                                          \
	}
COUNTER(write_errors, unsigned)
COUNTER(fsyncs, unsigned)
COUNTER(fsync_busy, bool)
COUNTER(direct_opens, unsigned)
