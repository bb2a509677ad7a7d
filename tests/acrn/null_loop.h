/*
 * null_loop.h - the event loop and ioreq handler of an ACRN test that only
 * starts the VM and reads what vdm left in guest memory (the boot check):
 * nothing here runs the VM's requests, so every callback does nothing.
 * Header-only: each test is one program.
 */
#ifndef VDM_TEST_NULL_LOOP_H
#define VDM_TEST_NULL_LOOP_H

#include "hsm.h"

static inline int null_add_fd(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	(void)loop, (void)fd, (void)events, (void)cb, (void)arg;
	return 0;
}

static inline int null_del_fd(void *loop, int fd)
{
	(void)loop, (void)fd;
	return 0;
}

static inline void null_ioreq(void *opaque, struct hsm_ioreq *req)
{
	(void)opaque, (void)req;
}

#endif
