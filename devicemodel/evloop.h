/*
 * evloop.h - vdm's epoll event loop.  Devices and back-ends register fds and
 * timers; SIGINT/SIGTERM end the loop cleanly (through a signalfd, so
 * handlers never run in signal context).
 *
 * Single-threaded: every callback runs on the thread inside evloop_run, and
 * the add/del functions are called from that thread (or before it starts).
 */
#ifndef VDM_EVLOOP_H
#define VDM_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

typedef void (*evloop_fd_cb)(void *arg, int fd, uint32_t events);
typedef void (*evloop_timer_cb)(void *arg);

/* Create a loop that stops on SIGINT and SIGTERM.  NULL on failure. */
struct evloop *evloop_create(void);
/*
 * A loop for a thread of its own (an I/O thread): no signals; evloop_stop
 * may be called from any thread.  Watches are added before its thread runs
 * it, or from that thread.  NULL on failure.
 */
struct evloop *evloop_create_worker(void);
void evloop_destroy(struct evloop *loop);

/* Watch fd for events (EPOLLIN/EPOLLOUT...).  One watch per fd. */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_cb cb, void *arg);
/* Change the events of an existing watch. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);
int evloop_del_fd(struct evloop *loop, int fd);

/*
 * Call cb after ms milliseconds, then every ms if periodic.  Returns a timer
 * id (> 0) or -errno.
 */
int evloop_add_timer(struct evloop *loop, uint32_t ms, bool periodic, evloop_timer_cb cb,
		     void *arg);
int evloop_del_timer(struct evloop *loop, int id);

/* Run until evloop_stop or a stop signal.  Returns the signal number that
 * stopped it, or 0. */
int evloop_run(struct evloop *loop);

/* Make evloop_run return after the current callback (from another thread:
 * a worker loop only). */
void evloop_stop(struct evloop *loop);

#endif /* VDM_EVLOOP_H */
