/*
 * iothread.c - a device's data-plane thread: a worker event loop run on a
 * pthread.  Signals stay blocked there (the main loop takes SIGINT and
 * SIGTERM through its signalfd); the thread is named so `top -H` shows
 * which device it serves.
 */
#include "iothread.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void *iothread_main(void *arg)
{
	struct iothread *t = arg;
	int r = evloop_run(t->loop);

	if (r < 0)
		log_err("%s: event loop failed: %s", t->name, strerror(-r));
	return NULL;
}

int iothread_create(struct iothread *t, const char *name)
{
	pthread_mutexattr_t attr;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->loop = evloop_create_worker();
	if (!t->loop)
		return -ENOMEM;
	/* Recursive: a guest access that kicks a queue serves it under the
	 * lock the bus already took. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return 0;
}

int iothread_start(struct iothread *t)
{
	sigset_t all, old;
	int r;

	/* The thread starts with every signal blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&t->thread, NULL, iothread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_setname_np(t->thread, t->name);
	t->running = true;
	return 0;
}

void iothread_stop(struct iothread *t)
{
	if (!t->running)
		return;
	evloop_stop(t->loop);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void iothread_destroy(struct iothread *t)
{
	if (!t->loop)
		return;
	iothread_stop(t);
	evloop_destroy(t->loop);
	t->loop = NULL;
	pthread_mutex_destroy(&t->lock);
}
