/*
 * iothread.h - a thread of its own for one device's data plane (acrn-dm's
 * `iothread`): an event loop on which the device registers its queues'
 * kick, hold-off and completion fds, and the lock that keeps that thread
 * and the guest's accesses to the device (on the main loop) apart.
 */
#ifndef VDM_IOTHREAD_H
#define VDM_IOTHREAD_H

#include "evloop.h"

#include <pthread.h>
#include <stdbool.h>

struct iothread {
	struct evloop *loop;   /* register the data plane's fds here, then start */
	pthread_mutex_t lock;  /* the device's lock (pci_dev.lock), recursive */
	pthread_t thread;
	bool running;
	char name[16];
};

/* The loop and the lock; the thread does not run yet.  0 or -errno. */
int iothread_create(struct iothread *t, const char *name);

/* Run the loop on a new thread.  0 or -errno. */
int iothread_start(struct iothread *t);

/* Stop and join the thread (if it runs); the loop stays for its watches to
 * be taken off. */
void iothread_stop(struct iothread *t);

/* iothread_stop, then free the loop and the lock.  A zeroed one is fine. */
void iothread_destroy(struct iothread *t);

#endif /* VDM_IOTHREAD_H */
