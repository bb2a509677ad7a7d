/*
 * acrn_internal.h - the acrn back-end's single seam to the kernel.
 *
 * acrn.c reaches /dev/acrn_hsm only through struct acrn_sys (open, ioctl,
 * close).  In vdm these are the real system calls.  Test programs add a
 * back-end of their own (tests/acrn/acrn_model.c, "acrn:model[,OPTS]:SOCKET")
 * that opens the same VM through acrn_open_sys with a user-space model of
 * the HSM behind the seam: the same ioctls on the same <linux/acrn.h>
 * structures, the model playing the hypervisor to the test driver.  Guest
 * RAM and the ioreq page are ordinary memory of this process in both cases,
 * as they are for the real kernel (which pins the pages the back-end hands
 * it).
 */
#ifndef VDM_ACRN_INTERNAL_H
#define VDM_ACRN_INTERNAL_H

#include "hsm_internal.h"

#include <sys/ioctl.h>
#include <linux/acrn.h>

/* Every call returns a non-negative result or a negative errno. */
struct acrn_sys {
	int (*open)(void *ctx, const char *path);
	/* arg is what the ioctl system call takes: a pointer or a value. */
	int (*ioctl)(void *ctx, int fd, unsigned long cmd, unsigned long arg);
	void (*close)(void *ctx, int fd);
	/* Optional: ctx is no longer used (the back-end closed). */
	void (*release)(void *ctx);
	void *ctx;
};

/* The real kernel. */
extern const struct acrn_sys acrn_sys_kernel;

/* Name of an ACRN_IOCTL_* command, for messages ("ACRN_IOCTL_CREATE_VM"). */
const char *acrn_ioctl_name(unsigned long cmd);

/* ACRN's SET_IRQLINE operations (the hypervisor's public acrn_common.h; not
 * in <linux/acrn.h>, which passes the 64-bit word through untouched). */
#define ACRN_GSI_SET_HIGH 0U
#define ACRN_GSI_SET_LOW 1U
#define ACRN_GSI_RAISING_PULSE 2U
#define ACRN_GSI_FALLING_PULSE 3U
/* GSIs a post-launched VM's virtual IOAPIC has. */
#define ACRN_VIOAPIC_PINS 48U

/*
 * Open the acrn back-end's VM on dev through sys instead of the kernel:
 * what a stand-in for the HSM (tests/acrn/acrn_model.c) calls from its own
 * back-end's open.  dev names the node in messages.  sys->release, when
 * set, runs once nothing uses sys any more: at close, or here on failure.
 */
int acrn_open_sys(struct hsm_vm *vm, const char *dev, const struct acrn_sys *sys, char *errbuf,
		  size_t errlen);

/* The seam behind a VM open on the acrn back-end (or a stand-in's), or
 * NULL for any other VM. */
const struct acrn_sys *acrn_sys_of(struct hsm_vm *vm);

#endif /* VDM_ACRN_INTERNAL_H */
