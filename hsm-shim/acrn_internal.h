/*
 * acrn_internal.h - the acrn back-end's single seam to the kernel, and the
 * user-space model of the ACRN HSM that tests put behind that seam.
 *
 * acrn.c reaches /dev/acrn_hsm only through struct acrn_sys (open, ioctl,
 * close).  By default these are the real system calls; with
 * "--hsm acrn:model[,OPTS]:SOCKET" they are acrn_model.c, which implements
 * the same ioctls on the same <linux/acrn.h> structures and plays the
 * hypervisor to the test driver.  Guest RAM and the ioreq page are ordinary
 * memory of this process in both cases, as they are for the real kernel
 * (which pins the pages the back-end hands it).
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

/* ---- the model (acrn_model.c) ---- */

struct acrn_model;

/*
 * Create a model from spec ":SOCKET" or ",OPTS:SOCKET" (the text after
 * "acrn:model"), and point sys at it.  OPTS is a comma-separated list:
 *   vcpus=N         vCPUs (ioreq slots) the hypervisor gives the VM, 1..16
 *   refuse=NAME     the ioctl NAME (e.g. CREATE_VM) fails with EPERM
 *   refuse=NAME/E   ... with errno E (a number)
 *   report_vcpus=N  CREATE_VM reports N vCPUs whatever vcpus is (hostile)
 * The model logs every VM-lifecycle ioctl at debug level ("acrn model:
 * ACRN_IOCTL_... -> 0") so tests can check the order of calls.
 */
int acrn_model_create(struct hsm_vm *vm, const char *spec, struct acrn_sys *sys,
		      struct acrn_model **out, char *errbuf, size_t errlen);

/* Stop every model thread and free it (after the back-end closed its fd). */
void acrn_model_destroy(struct acrn_model *m);

/*
 * Test hook: play hypervisor for vCPU vcpu with a raw slot image (any
 * content, garbage included): copy req into the slot, mark it PENDING and
 * dispatch it, wait up to timeout_ms for NOTIFY_REQUEST_FINISH and copy the
 * completed slot to done.  Returns 0, -ETIMEDOUT, -EBUSY (slot in use) or
 * -EINVAL.
 */
int acrn_model_raw_request(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req,
			   struct acrn_io_request *done, int timeout_ms);

/*
 * Test hook: with req, put req in vCPU vcpu's slot as PROCESSING with
 * kernel_handled set, as the HSM does for a request an in-kernel client
 * owns (the device model must leave it alone); with req NULL, complete and
 * free that slot again.  Returns 0, -EBUSY or -EINVAL.
 */
int acrn_model_kernel_slot(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req);

/* The model behind an open acrn VM, or NULL (tests). */
struct acrn_model *acrn_model_of(struct hsm_vm *vm);

/* Protocol violations the model saw from the back-end (tests). */
unsigned acrn_model_violations(struct acrn_model *m);

#endif /* VDM_ACRN_INTERNAL_H */
