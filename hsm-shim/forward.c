/*
 * forward.c - hands I/O requests from back-end threads (simulated vCPUs, an
 * ACRN ioreq client, ...) to the device model on the loop thread, and waits
 * for each to complete.  The device model thus sees every request on one
 * thread, as ACRN's own device model does, and needs no locks of its own.
 */
#include "hsm_internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct fwd_req {
	struct fwd_req *next;
	struct hsm_ioreq *req;
	bool taken; /* the loop thread dequeued it and may still touch it */
	bool done;
	bool dropped; /* done without the device model seeing it (a hold) */
};

static void fwd_drain(void *arg, int fd, uint32_t events)
{
	struct hsm_vm *vm = arg;
	eventfd_t count;

	(void)eventfd_read(fd, &count);
	pthread_mutex_lock(&vm->fwd_lock);
	while (vm->fwd_head) {
		struct fwd_req *f = vm->fwd_head;

		vm->fwd_head = f->next;
		if (!vm->fwd_head)
			vm->fwd_tail = NULL;
		f->taken = true;
		/* The handler may take a while (and may itself use libhsm): drop the lock. */
		pthread_mutex_unlock(&vm->fwd_lock);
		vm->cfg.ioreq(vm->cfg.ioreq_opaque, f->req);
		pthread_mutex_lock(&vm->fwd_lock);
		f->done = true;
	}
	pthread_cond_broadcast(&vm->fwd_done);
	pthread_mutex_unlock(&vm->fwd_lock);
}

int hsm_forwarder_init(struct hsm_vm *vm)
{
	int ret;

	vm->fwd_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->fwd_efd < 0)
		return -errno;
	pthread_mutex_init(&vm->fwd_lock, NULL);
	pthread_cond_init(&vm->fwd_done, NULL);
	ret = vm->cfg.loop.add_fd(vm->cfg.loop.loop, vm->fwd_efd, EPOLLIN, fwd_drain, vm);
	if (ret) {
		close(vm->fwd_efd);
		vm->fwd_efd = -1;
	}
	return ret;
}

int hsm_forward_ioreq(struct hsm_vm *vm, struct hsm_ioreq *req)
{
	struct fwd_req f = { .req = req };
	int ret = 0;

	pthread_mutex_lock(&vm->fwd_lock);
	if (vm->fwd_closing) {
		ret = -ESHUTDOWN;
		goto out;
	}
	if (vm->fwd_held) {
		ret = -ECANCELED;
		goto out;
	}
	if (vm->fwd_tail)
		vm->fwd_tail->next = &f;
	else
		vm->fwd_head = &f;
	vm->fwd_tail = &f;
	(void)eventfd_write(vm->fwd_efd, 1);
	/* f lives on this stack: never leave while the loop thread holds it. */
	while (!f.done && !(vm->fwd_closing && !f.taken))
		pthread_cond_wait(&vm->fwd_done, &vm->fwd_lock);
	if (f.dropped) {
		ret = -ECANCELED; /* hsm_forwarder_hold unlinked it */
	} else if (!f.done) {
		/* Shut down while still queued: unlink so the loop never sees it. */
		struct fwd_req *prev = NULL;

		for (struct fwd_req *p = vm->fwd_head; p; prev = p, p = p->next) {
			if (p != &f)
				continue;
			if (prev)
				prev->next = f.next;
			else
				vm->fwd_head = f.next;
			if (vm->fwd_tail == &f)
				vm->fwd_tail = prev;
			break;
		}
		ret = -ESHUTDOWN;
	}
out:
	pthread_mutex_unlock(&vm->fwd_lock);
	if (ret && req->dir == HSM_IO_READ)
		req->data = ~0ULL;
	return ret;
}

void hsm_forwarder_shutdown(struct hsm_vm *vm)
{
	pthread_mutex_lock(&vm->fwd_lock);
	vm->fwd_closing = true;
	pthread_cond_broadcast(&vm->fwd_done);
	pthread_mutex_unlock(&vm->fwd_lock);
}

void hsm_forwarder_hold(struct hsm_vm *vm, bool held)
{
	pthread_mutex_lock(&vm->fwd_lock);
	vm->fwd_held = held;
	/* Nothing is taken: the caller is the loop thread, between requests. */
	while (held && vm->fwd_head) {
		struct fwd_req *f = vm->fwd_head;

		vm->fwd_head = f->next;
		f->dropped = f->done = true;
	}
	if (held)
		vm->fwd_tail = NULL;
	pthread_cond_broadcast(&vm->fwd_done);
	pthread_mutex_unlock(&vm->fwd_lock);
}

void hsm_forwarder_fini(struct hsm_vm *vm)
{
	if (vm->fwd_efd >= 0) {
		vm->cfg.loop.del_fd(vm->cfg.loop.loop, vm->fwd_efd);
		close(vm->fwd_efd);
	}
	pthread_cond_destroy(&vm->fwd_done);
	pthread_mutex_destroy(&vm->fwd_lock);
}
