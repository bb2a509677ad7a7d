/*
 * sim-protocol.h - wire format between libhsm's `sim` back-end and the test
 * driver (tests/driver).  Not part of libhsm's API: both ends include it.
 *
 * The simulator plays the hypervisor.  vdm listens on a UNIX SOCK_SEQPACKET
 * socket; a test driver connects once per simulated vCPU and once to receive
 * interrupts.  Each packet is one struct sim_msg, little-endian host layout.
 *
 *   driver -> vdm  SIM_HELLO  arg = SIM_ROLE_VCPU or SIM_ROLE_IRQ
 *   vdm -> driver  SIM_WELCOME addr = guest RAM size; the memfd holding guest
 *                  RAM (gpa 0 at offset 0) rides along as SCM_RIGHTS
 *   driver -> vdm  SIM_IO     one I/O request (vCPU connections only)
 *   vdm -> driver  SIM_IO_DONE data = value read (writes: 0)
 *   vdm -> driver  SIM_IRQ    arg = HSM_IRQ_MSI: addr/data = MSI message
 *                             arg = HSM_IRQ_INTX: bdf, pin, data = level
 *                             arg = SIM_IRQ_ISA (the ACRN model only): an
 *                             ISA line's level changed, addr = its IRQ,
 *                             data = the level (a pulse: 1, then 0)
 */
#ifndef VDM_SIM_PROTOCOL_H
#define VDM_SIM_PROTOCOL_H

#include "hsm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

enum sim_msg_type {
	SIM_HELLO = 1,
	SIM_WELCOME = 2,
	SIM_IO = 3,
	SIM_IO_DONE = 4,
	SIM_IRQ = 5,
};

enum sim_role {
	SIM_ROLE_VCPU = 1,
	SIM_ROLE_IRQ = 2,
};

/* SIM_IRQ's arg beside enum hsm_irq_kind's values. */
#define SIM_IRQ_ISA 2

struct sim_msg {
	uint32_t type;  /* enum sim_msg_type */
	uint32_t arg;   /* role, enum hsm_io_space, or enum hsm_irq_kind */
	uint64_t addr;
	uint64_t data;
	uint32_t size;  /* SIM_IO access width: 1, 2, 4, 8 */
	uint16_t bdf;
	uint8_t dir;    /* SIM_IO: enum hsm_io_dir */
	uint8_t pin;    /* SIM_IRQ INTx pin 1..4 */
};

_Static_assert(sizeof(struct sim_msg) == 32, "sim_msg layout");

/*
 * Whether m is an I/O exit a real vCPU could make: SIM_IO, a known space and
 * direction, 1/2/4/8 bytes (8 only for MMIO: port and config accesses are
 * at most 32 bits), inside the 4 KiB config space of a function or the
 * 64 KiB port space.  Both simulated hypervisors (sim.c, acrn_model_link.c)
 * drop a vCPU that sends anything else.
 */
static inline bool sim_io_valid(const struct sim_msg *m)
{
	if (m->type != SIM_IO || m->arg > HSM_IO_MMIO || m->dir > HSM_IO_WRITE)
		return false;
	if (m->size != 1 && m->size != 2 && m->size != 4 && m->size != 8)
		return false;
	if (m->arg != HSM_IO_MMIO && m->size == 8)
		return false;
	if (m->arg == HSM_IO_PCICFG && m->addr + m->size > 4096)
		return false;
	if (m->arg == HSM_IO_PIO && m->addr + m->size > 0x10000)
		return false;
	return true;
}

/* Send one message on sock, with fd as SCM_RIGHTS when fd >= 0.  0, or
 * -errno (a short send counts as an error). */
static inline int sim_send(int sock, const struct sim_msg *msg, int fd)
{
	char ctrl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = ctrl;
		mh.msg_controllen = sizeof(ctrl);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*msg))
		return 0;
	return errno ? -errno : -EIO;
}

#endif /* VDM_SIM_PROTOCOL_H */
