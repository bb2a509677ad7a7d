/*
 * aio.h - libvbsu's asynchronous file I/O engines (private to the library).
 *
 * The block back-end submits positional reads and writes over iovecs and
 * fdatasync from the event-loop thread and never waits for them: an engine
 * runs them elsewhere (the kernel's io_uring, or a pool of threads), in any
 * order, and makes its eventfd readable when finished requests wait to be
 * reaped.  Submit, commit and reap are called from one thread only.
 *
 * An engine reports what the system call reported (bytes done, 0, or -errno);
 * short transfers and retries are the caller's business.
 */
#ifndef VDM_VBSU_AIO_H
#define VDM_VBSU_AIO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum aio_op { AIO_READ, AIO_WRITE, AIO_FDATASYNC, AIO_FALLOCATE };

/* One operation, owned by the caller until the engine hands it back. */
struct aio_req {
	enum aio_op op;
	int fd;
	const struct iovec *iov; /* READ/WRITE: the buffers, stable until reaped */
	int niov;
	uint64_t off;
	uint64_t len;            /* FALLOCATE: the range's length */
	int mode;                /* FALLOCATE: FALLOC_FL_* */
	ssize_t res;             /* at completion: bytes moved, 0, or -errno */
	struct aio_req *next;    /* the engine's list link while it holds the request */
};

struct aio_engine;

struct aio_engine_ops {
	/* Queue req; it starts no later than the next commit. */
	void (*submit)(struct aio_engine *e, struct aio_req *req);
	/* Start everything queued since the last commit. */
	void (*commit)(struct aio_engine *e);
	/* Up to max finished requests into out; returns how many (0: none yet). */
	int (*reap)(struct aio_engine *e, struct aio_req **out, int max);
	void (*destroy)(struct aio_engine *e);
};

struct aio_engine {
	const struct aio_engine_ops *ops;
	const char *name; /* "io_uring" or "threads", for the log */
	int efd;          /* readable (eventfd, non-blocking) while requests wait to be reaped */
};

/*
 * io_uring with room for depth requests in flight.  Returns 0, or -errno
 * with a reason in err (no io_uring in this kernel, or refused by policy).
 */
int aio_uring_create(struct aio_engine **out, unsigned depth, char *err, size_t errlen);

/* nthreads worker threads doing the system calls.  0 or -errno with err. */
int aio_threads_create(struct aio_engine **out, unsigned nthreads, char *err, size_t errlen);

static inline void aio_submit(struct aio_engine *e, struct aio_req *r)
{
	e->ops->submit(e, r);
}

static inline void aio_commit(struct aio_engine *e)
{
	e->ops->commit(e);
}

static inline int aio_reap(struct aio_engine *e, struct aio_req **out, int max)
{
	return e->ops->reap(e, out, max);
}

static inline void aio_destroy(struct aio_engine *e)
{
	if (e)
		e->ops->destroy(e);
}

#endif /* VDM_VBSU_AIO_H */
