/*
 * aio_threads.c - the thread-pool engine of aio.h, for kernels where
 * io_uring is missing or forbidden: workers take requests from a queue,
 * make the blocking system call, and put them on a finished list that the
 * loop thread reaps after the eventfd fires.
 */
#include "aio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_THREADS 64

struct threads_engine {
	struct aio_engine e; /* first */
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct aio_req *queued, *queued_tail; /* submitted, not yet committed */
	struct aio_req *todo, *todo_tail;     /* committed, waiting for a worker */
	struct aio_req *done;                 /* finished, waiting to be reaped */
	bool stopping;
	unsigned nthreads;
	pthread_t threads[MAX_THREADS];
};

static ssize_t run_one(struct aio_req *r)
{
	ssize_t n;

	do {
		switch (r->op) {
		case AIO_READ:
			n = preadv(r->fd, r->iov, r->niov, (off_t)r->off);
			break;
		case AIO_WRITE:
			n = pwritev(r->fd, r->iov, r->niov, (off_t)r->off);
			break;
		case AIO_FALLOCATE:
			n = fallocate(r->fd, r->mode, (off_t)r->off, (off_t)r->len);
			break;
		default:
			n = fdatasync(r->fd);
			break;
		}
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void *worker(void *arg)
{
	struct threads_engine *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->todo && !t->stopping)
			pthread_cond_wait(&t->work, &t->lock);
		if (!t->todo)
			break; /* stopping, nothing left */
		struct aio_req *r = t->todo;

		t->todo = r->next;
		if (!t->todo)
			t->todo_tail = NULL;
		pthread_mutex_unlock(&t->lock);
		r->res = run_one(r);
		pthread_mutex_lock(&t->lock);
		r->next = t->done;
		t->done = r;
		(void)eventfd_write(t->e.efd, 1);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void threads_submit(struct aio_engine *e, struct aio_req *r)
{
	struct threads_engine *t = (struct threads_engine *)e;

	/* Only the loop thread touches the queued list: no lock until commit. */
	r->next = NULL;
	if (t->queued_tail)
		t->queued_tail->next = r;
	else
		t->queued = r;
	t->queued_tail = r;
}

static void threads_commit(struct aio_engine *e)
{
	struct threads_engine *t = (struct threads_engine *)e;

	if (!t->queued)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->todo_tail)
		t->todo_tail->next = t->queued;
	else
		t->todo = t->queued;
	t->todo_tail = t->queued_tail;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->lock);
	t->queued = t->queued_tail = NULL;
}

static int threads_reap(struct aio_engine *e, struct aio_req **out, int max)
{
	struct threads_engine *t = (struct threads_engine *)e;
	eventfd_t count;
	int n = 0;

	(void)eventfd_read(e->efd, &count);
	pthread_mutex_lock(&t->lock);
	while (n < max && t->done) {
		out[n++] = t->done;
		t->done = t->done->next;
	}
	if (t->done) /* more than max: keep the loop coming back */
		(void)eventfd_write(e->efd, 1);
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void threads_destroy(struct aio_engine *e)
{
	struct threads_engine *t = (struct threads_engine *)e;

	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < t->nthreads; i++)
		pthread_join(t->threads[i], NULL);
	pthread_cond_destroy(&t->work);
	pthread_mutex_destroy(&t->lock);
	close(e->efd);
	free(t);
}

static const struct aio_engine_ops threads_ops = {
	.submit = threads_submit,
	.commit = threads_commit,
	.reap = threads_reap,
	.destroy = threads_destroy,
};

int aio_threads_create(struct aio_engine **out, unsigned nthreads, char *err, size_t errlen)
{
	struct threads_engine *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	if (nthreads == 0 || nthreads > MAX_THREADS)
		nthreads = nthreads ? MAX_THREADS : 1;
	t->e.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->e.efd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create an eventfd: %s", strerror(errno));
		free(t);
		return ret;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work, NULL);
	t->e.ops = &threads_ops;
	t->e.name = "threads";
	for (; t->nthreads < nthreads; t->nthreads++) {
		ret = pthread_create(&t->threads[t->nthreads], NULL, worker, t);
		if (ret) {
			snprintf(err, errlen, "cannot start an I/O thread: %s", strerror(ret));
			threads_destroy(&t->e);
			return -ret;
		}
	}
	*out = &t->e;
	return 0;
}
