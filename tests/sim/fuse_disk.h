/*
 * fuse_disk.h - a one-file FUSE file system that stands in for a disk in the
 * fault and durability tests: DIR/disk.img, held in the test's memory, with
 * the ways a disk can let software down:
 *
 *  - a bad patch: reads and writes inside a byte range fail with EIO, and
 *    the next fsync after a failed write fails too (as a disk reports a lost
 *    write-back);
 *  - a volatile write cache: a write becomes durable only when an fsync or
 *    fdatasync of the file has answered (or when it is answered, through
 *    an O_DSYNC descriptor); fuse_disk_power_cut drops every write made
 *    since, all at once, and the file reads as the durable image;
 *  - a slow fsync: each one answers only after a delay.
 *
 * It speaks the kernel's /dev/fuse protocol directly (<linux/fuse.h>), so no
 * libfuse is needed.  Mounting needs root, in a private mount namespace.
 */
#ifndef VDM_TEST_FUSE_DISK_H
#define VDM_TEST_FUSE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_disk;

struct fuse_disk_opts {
	size_t size;		   /* bytes in disk.img, zeroed and durable at mount */
	uint64_t bad_off, bad_len; /* the bad patch; bad_len 0 for none */
	unsigned fsync_ms;	   /* how long each fsync takes to answer */
};

/*
 * Mount the file system at dir and serve it from a thread.  Returns NULL with
 * a reason in err (no /dev/fuse, not root, ...).
 */
struct fuse_disk *fuse_disk_mount(const char *dir, const struct fuse_disk_opts *o, char *err,
				  size_t errlen);

/*
 * What a test does before anything else: as root, move into a private mount
 * namespace, make a directory from dir_template (mkdtemp) and mount the file
 * system there.  When any of this is impossible it prints "SKIP: " and the
 * reason, and returns NULL: the test should exit 77.
 */
struct fuse_disk *fuse_disk_setup(char *dir_template, const struct fuse_disk_opts *o);

/* Unmount and stop serving (nothing may have the file open). */
void fuse_disk_unmount(struct fuse_disk *f);

/*
 * Lose power: every write not yet made durable by an fsync is dropped, and
 * disk.img reads as the durable image from now on.  Returns how many bytes
 * were dropped (whole 512-byte sectors written since the last fsync).  The
 * writer should be dead first: this is the disk's side of the cut only.
 */
uint64_t fuse_disk_power_cut(struct fuse_disk *f);

/* Bytes written since the last fsync (whole sectors): what a cut would drop. */
uint64_t fuse_disk_volatile_bytes(struct fuse_disk *f);

/* Copy len bytes of the durable image at off into buf: 0, or -EINVAL past
 * the end. */
int fuse_disk_read_durable(struct fuse_disk *f, uint64_t off, void *buf, size_t len);

/* Counters, for the tests' checks. */
unsigned fuse_disk_write_errors(struct fuse_disk *f);
unsigned fuse_disk_fsyncs(struct fuse_disk *f);	      /* answered */
bool fuse_disk_fsync_busy(struct fuse_disk *f);	      /* one is waiting out its delay */
unsigned fuse_disk_direct_opens(struct fuse_disk *f); /* opens with O_DIRECT */

#endif /* VDM_TEST_FUSE_DISK_H */
