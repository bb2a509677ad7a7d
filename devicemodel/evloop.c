/*
 * evloop.c - epoll loop with fd watches, timerfd timers and a signalfd for
 * clean shutdown; worker loops (an I/O thread's) have no signals and can be
 * stopped from another thread.
 *
 * Watches live in a list; a watch removed from inside a callback is only
 * marked dead and freed after the current epoll batch, so a later event in
 * the same batch never reaches freed memory.
 */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct watch {
	struct watch *next;
	int fd;
	bool dead;
	bool is_timer;
	int timer_id;
	evloop_fd_cb fd_cb;
	evloop_timer_cb timer_cb;
	void *arg;
};

struct evloop {
	int epfd;
	int sigfd;            /* -1 for a worker loop (no signals) */
	int wakefd;           /* worker loop: evloop_stop from another thread */
	bool stopping;
	int stop_signal;
	int next_timer_id;
	struct watch *watches;
	bool in_batch;
	sigset_t old_mask;     /* restored only when creating the loop fails */
};

static struct watch *find_fd(struct evloop *loop, int fd)
{
	for (struct watch *w = loop->watches; w; w = w->next)
		if (!w->dead && w->fd == fd)
			return w;
	return NULL;
}

static void reap_dead(struct evloop *loop)
{
	struct watch **pp = &loop->watches;

	while (*pp) {
		struct watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			if (w->is_timer)
				close(w->fd);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

struct evloop *evloop_create(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	sigset_t mask;

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto err_free;
	/* Block the stop signals so they are only seen through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &mask, &loop->old_mask))
		goto err_ep;
	loop->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop->sigfd < 0)
		goto err_mask;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->sigfd, &ev))
		goto err_sig;
	return loop;

err_sig:
	close(loop->sigfd);
err_mask:
	pthread_sigmask(SIG_SETMASK, &loop->old_mask, NULL);
err_ep:
	close(loop->epfd);
err_free:
	free(loop);
	return NULL;
}

static void wake_cb(void *arg, int fd, uint32_t events)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v); /* evloop_stop set stopping already */
}

struct evloop *evloop_create_worker(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->sigfd = -1;
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->wakefd < 0 || loop->epfd < 0 ||
	    evloop_add_fd(loop, loop->wakefd, EPOLLIN, wake_cb, loop)) {
		if (loop->wakefd >= 0)
			close(loop->wakefd);
		if (loop->epfd >= 0)
			close(loop->epfd);
		free(loop);
		return NULL;
	}
	return loop;
}

void evloop_destroy(struct evloop *loop)
{
	if (!loop)
		return;
	for (struct watch *w = loop->watches; w; w = w->next)
		w->dead = true;
	reap_dead(loop);
	if (loop->sigfd >= 0) {
		/* SIGINT and SIGTERM stay blocked: the program is stopping, and
		 * one that arrives now (a second ^C, a supervisor's TERM after
		 * the API's quit) must not kill it half-way through its flush. */
		close(loop->sigfd);
	} else {
		close(loop->wakefd);
	}
	close(loop->epfd);
	free(loop);
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_cb cb, void *arg)
{
	struct watch *w;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (find_fd(loop, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->fd_cb = cb;
	w->arg = arg;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
	struct watch *w = find_fd(loop, fd);

	if (!w || w->is_timer)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

static void kill_watch(struct evloop *loop, struct watch *w)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	if (!loop->in_batch)
		reap_dead(loop);
}

int evloop_del_fd(struct evloop *loop, int fd)
{
	struct watch *w = find_fd(loop, fd);

	if (!w || w->is_timer)
		return -ENOENT;
	kill_watch(loop, w);
	return 0;
}

int evloop_add_timer(struct evloop *loop, uint32_t ms, bool periodic, evloop_timer_cb cb,
		     void *arg)
{
	struct itimerspec its = { 0 };
	struct watch *w;
	int fd;

	if (!cb || ms == 0)
		return -EINVAL;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (periodic)
		its.it_interval = its.it_value;
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	w->fd = fd;
	w->is_timer = true;
	w->timer_cb = cb;
	w->arg = arg;
	w->timer_id = ++loop->next_timer_id;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	if (timerfd_settime(fd, 0, &its, NULL) || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return w->timer_id;
}

int evloop_del_timer(struct evloop *loop, int id)
{
	for (struct watch *w = loop->watches; w; w = w->next) {
		if (!w->dead && w->is_timer && w->timer_id == id) {
			kill_watch(loop, w);
			return 0;
		}
	}
	return -ENOENT;
}

static void handle_signal(struct evloop *loop)
{
	struct signalfd_siginfo si;

	while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		loop->stopping = true;
		loop->stop_signal = (int)si.ssi_signo;
	}
}

static void dispatch(struct evloop *loop, struct watch *w, uint32_t events)
{
	if (w->dead)
		return;
	if (w->is_timer) {
		uint64_t expirations;

		if (read(w->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
			return;
		w->timer_cb(w->arg);
		return;
	}
	w->fd_cb(w->arg, w->fd, events);
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event events[64];

	/* (A worker loop keeps a stop that came before its thread got here.) */
	if (loop->sigfd >= 0)
		__atomic_store_n(&loop->stopping, false, __ATOMIC_RELAXED);
	while (!__atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(loop->epfd, events, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		loop->in_batch = true;
		for (int i = 0; i < n && !__atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE); i++) {
			if (!events[i].data.ptr)
				handle_signal(loop);
			else
				dispatch(loop, events[i].data.ptr, events[i].events);
		}
		loop->in_batch = false;
		reap_dead(loop);
	}
	return loop->stop_signal;
}

void evloop_stop(struct evloop *loop)
{
	__atomic_store_n(&loop->stopping, true, __ATOMIC_RELEASE);
	if (loop->sigfd < 0)
		(void)eventfd_write(loop->wakefd, 1);
}
