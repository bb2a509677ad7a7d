/*
 * aio_uring.c - the io_uring engine of aio.h: each request becomes one
 * submission (readv, writev, fsync with DATASYNC) whose user data is the
 * request; completions are found through an eventfd registered with the
 * ring, so the event loop sleeps in epoll rather than in the ring.  Entries
 * go to the kernel in pairs as they are queued (SUBMIT_CHUNK), not in one
 * batch per commit.
 */
#include "aio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <liburing.h>

struct uring_engine {
	struct aio_engine e; /* first */
	struct io_uring ring;
	bool unsubmitted;    /* prepared entries the kernel has not taken yet */
	struct aio_req *refused; /* could not be queued at all: reaped with their error */
};

static void uring_commit(struct aio_engine *e)
{
	struct uring_engine *u = (struct uring_engine *)e;

	if (!u->unsubmitted)
		return;
	/* On a transient refusal (-EAGAIN, -EBUSY) the entries stay in the
	 * submission ring and the next commit or reap tries again. */
	if (io_uring_submit(&u->ring) >= 0)
		u->unsubmitted = io_uring_sq_ready(&u->ring) > 0;
}

/*
 * Hand the kernel at most this many entries per io_uring_enter.  The kernel
 * plugs a submission of three or more, and the virtio disk of the machine
 * this was measured on serves plugged batches slower than the system calls
 * saved are worth: 4 KiB O_DIRECT randread at guest QD32 went from
 * 57 000-60 000 IOPS (one submit per ring walk) to 65 000-74 000 (pairs);
 * singles did as well as pairs for more CPU (bench/README.md, "What each
 * lever gave").
 */
#define SUBMIT_CHUNK 2

static void uring_submit(struct aio_engine *e, struct aio_req *r)
{
	struct uring_engine *u = (struct uring_engine *)e;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The submission ring is full: hand it to the kernel and retry.
		 * The caller keeps at most `depth` requests in flight, so one
		 * submit always makes room. */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe) {
			r->res = -EAGAIN;
			r->next = u->refused;
			u->refused = r;
			(void)eventfd_write(e->efd, 1);
			return;
		}
	}
	switch (r->op) {
	case AIO_READ:
		io_uring_prep_readv(sqe, r->fd, r->iov, (unsigned)r->niov, r->off);
		break;
	case AIO_WRITE:
		io_uring_prep_writev(sqe, r->fd, r->iov, (unsigned)r->niov, r->off);
		break;
	case AIO_FDATASYNC:
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
		break;
	case AIO_FALLOCATE:
		io_uring_prep_fallocate(sqe, r->fd, r->mode, r->off, r->len);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	u->unsubmitted = true;
	if (io_uring_sq_ready(&u->ring) >= SUBMIT_CHUNK)
		uring_commit(e);
}

static int uring_reap(struct aio_engine *e, struct aio_req **out, int max)
{
	struct uring_engine *u = (struct uring_engine *)e;
	struct io_uring_cqe *cqes[64];
	eventfd_t count;
	int n = 0;

	/* Clear the eventfd before looking, so a completion posted after the
	 * look raises it again. */
	(void)eventfd_read(e->efd, &count);
	uring_commit(e);
	while (n < max && u->refused) {
		out[n++] = u->refused;
		u->refused = u->refused->next;
	}
	while (n < max) {
		unsigned want = (unsigned)(max - n) < 64 ? (unsigned)(max - n) : 64;
		unsigned got = io_uring_peek_batch_cqe(&u->ring, cqes, want);

		if (!got)
			break;
		for (unsigned i = 0; i < got; i++) {
			struct aio_req *r = io_uring_cqe_get_data(cqes[i]);

			r->res = cqes[i]->res;
			out[n++] = r;
		}
		io_uring_cq_advance(&u->ring, got);
	}
	if (n == max) /* more may wait: keep the loop coming back */
		(void)eventfd_write(e->efd, 1);
	return n;
}

static void uring_destroy(struct aio_engine *e)
{
	struct uring_engine *u = (struct uring_engine *)e;

	io_uring_queue_exit(&u->ring);
	close(e->efd);
	free(u);
}

static const struct aio_engine_ops uring_ops = {
	.submit = uring_submit,
	.commit = uring_commit,
	.reap = uring_reap,
	.destroy = uring_destroy,
};

int aio_uring_create(struct aio_engine **out, unsigned depth, char *err, size_t errlen)
{
	struct uring_engine *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	ret = io_uring_queue_init(depth, &u->ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring is not available: %s", strerror(-ret));
		free(u);
		return ret;
	}
	u->e.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->e.efd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create an eventfd: %s", strerror(errno));
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	ret = io_uring_register_eventfd(&u->ring, u->e.efd);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring refused an eventfd: %s", strerror(-ret));
		close(u->e.efd);
		io_uring_queue_exit(&u->ring);
		free(u);
		return ret;
	}
	u->e.ops = &uring_ops;
	u->e.name = "io_uring";
	*out = &u->e;
	return 0;
}
