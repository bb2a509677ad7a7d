/*
 * vdm.h - vdm's own state (struct vdm: the VM, the bus, the devices), for
 * main.c, the management API and the transport's VM-wide hooks.  Devices
 * do not see it: they get a struct devemu_ctx (devemu.h).
 */
#ifndef VDM_VDM_H
#define VDM_VDM_H

#include "devemu.h"
#include "evloop.h"
#include "hsm.h"
#include "pci.h"
#include "platform_reset.h"
#include "rtc.h"
#include "uart.h"
#include "pci_space.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vdm_device {
	const struct devemu *emu;
	int slot, func;
	void *cfg;
	struct pci_dev *dev;
};

#define VDM_MAX_DEVICES (PCI_NUM_SLOTS * PCI_NUM_FUNCS)

struct vdm {
	struct evloop *loop;
	/* Queue pacing for devices that set none (--virtio_poll; virtio.h). */
	int default_poll_mode;
	uint32_t default_poll_us;
	struct hsm_vm *vm;
	struct hsm_caps caps;
	struct pci_bus bus;
	struct pci_space space; /* BARs and GSIs vdm lays out (passthrough) */
	uint8_t uuid[16];
	char uuid_str[37];
	int ndevices;
	struct vdm_device devices[VDM_MAX_DEVICES];
	/* Devices whose data plane is on a vhost back-end (virtio_vhost.c;
	 * devices reach it through devemu_ctx.vhosts). */
	struct virtio_vhost *vhosts;
	/* Announcements for the management API (events.h), from any thread. */
	struct vdm_events *events;
	/* Guest resets where vdm is the platform (caps.boot_cpu). */
	struct platform_reset reset;
	struct rtc rtc; /* ports 0x70/0x71 where vdm is the platform */
	struct uart uarts[UART_MAX]; /* -l com1, com2 (unopened: not given) */
	/* Set when a hypervisor that vdm started has ended. */
	bool hv_ended, hv_failed_start;
	int hv_status;
};

/* The context for a device at slot:func of vdm (fields from vdm's). */
void devemu_ctx_init(struct devemu_ctx *ctx, struct vdm *vdm, int slot, int func);

#endif /* VDM_VDM_H */
