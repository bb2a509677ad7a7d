/*
 * fuse_eio.h - a one-file FUSE file system for fault tests: DIR/disk.img, a
 * file held in memory whose reads and writes fail with EIO inside a chosen
 * byte range (a bad patch on a disk), and whose next fsync after a failed
 * write fails too (as a disk reports a lost write-back).  It speaks the
 * kernel's /dev/fuse protocol directly (<linux/fuse.h>), so no libfuse is
 * needed; mounting needs root, ideally in a private mount namespace.
 */
#ifndef VDM_TEST_FUSE_EIO_H
#define VDM_TEST_FUSE_EIO_H

#include <stddef.h>
#include <stdint.h>

struct fuse_eio;

/*
 * Mount at dir a file system with one file "disk.img" of size bytes, whose
 * bytes [bad_off, bad_off + bad_len) fail with EIO, and serve it from a
 * thread.  Returns NULL with a reason in err (no /dev/fuse, not root, ...).
 */
struct fuse_eio *fuse_eio_mount(const char *dir, size_t size, uint64_t bad_off,
				uint64_t bad_len, char *err, size_t errlen);

/* Unmount and stop serving. */
void fuse_eio_unmount(struct fuse_eio *f);

/* Counters, for the test's checks. */
unsigned fuse_eio_write_errors(struct fuse_eio *f);
unsigned fuse_eio_fsyncs(struct fuse_eio *f);

#endif /* VDM_TEST_FUSE_EIO_H */
