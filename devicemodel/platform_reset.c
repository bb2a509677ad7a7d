/*
 * platform_reset.c - machine resets a guest asks for where vdm is the
 * platform (ACRN, which leaves them to the device model): the Reset
 * Control register at port 0xCF9 and the i8042 keyboard controller's
 * pulse-reset command, the two a Linux guest without ACPI tries (reboot=kbd,
 * then pci), and the reboot in acrn-dm's order (platform_reset.h).  Other
 * i8042 accesses are left to the bus: no keyboard controller answers them.
 */
#include "platform_reset.h"

#include "log.h"

#include <stdio.h>

#define RESET_CONTROL_PORT 0xcf9
#define RESET_CONTROL_SYS_RST 0x04
#define RESET_CONTROL_FULL_RST 0x08
#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe

static void reboot(void *arg)
{
	struct platform_reset *pr = arg;
	char err[256];
	struct hsm_boot_cpu cpu;

	pr->pending = false;
	if (!pr->boot) {
		log_info("the guest reset the machine; vdm loaded no guest (-k) to start again: "
			 "stopping");
		evloop_stop(pr->loop);
		return;
	}
	log_info("the guest reset the machine: rebooting it");
	if (hsm_reboot(pr->vm, HSM_REBOOT_PAUSE, err, sizeof(err)))
		goto failed;
	/* Every function as at power-on; a device finishes the requests it
	 * has in flight before it forgets its rings (virtio reset). */
	for (int slot = 0; slot < PCI_NUM_SLOTS; slot++)
		for (int func = 0; func < PCI_NUM_FUNCS; func++)
			if (pr->bus->devs[slot][func])
				pci_bus_reset_function(pr->bus, (uint16_t)(slot << 3 | func));
	if (hsm_reboot(pr->vm, HSM_REBOOT_RESET, err, sizeof(err)) ||
	    boot_linux_load(pr->vm, pr->boot, &cpu, err, sizeof(err)) ||
	    hsm_set_boot_cpu(pr->vm, &cpu, err, sizeof(err)) ||
	    hsm_reboot(pr->vm, HSM_REBOOT_RUN, err, sizeof(err)))
		goto failed;
	pr->reboots++;
	log_info("guest rebooted (%u so far)", pr->reboots);
	return;
failed:
	/* A VM that cannot be started again is not left paused for good. */
	log_err("guest reboot failed: %s; stopping", err);
	evloop_stop(pr->loop);
}

static void request_reboot(struct platform_reset *pr, const char *how)
{
	if (pr->pending)
		return;
	log_info("reset requested by the guest (%s)", how);
	pr->pending = evloop_add_timer(pr->loop, 1, false, reboot, pr) > 0;
	if (!pr->pending) {
		log_err("cannot queue the guest's reboot: stopping");
		evloop_stop(pr->loop);
	}
}

bool platform_reset_ioreq(struct platform_reset *pr, struct hsm_ioreq *req)
{
	if (req->space != HSM_IO_PIO || req->size != 1)
		return false;
	if (req->addr == RESET_CONTROL_PORT) {
		if (req->dir == HSM_IO_READ) {
			req->data = pr->reset_control;
			return true;
		}
		pr->reset_control = (uint8_t)req->data;
		if (req->data & (RESET_CONTROL_SYS_RST | RESET_CONTROL_FULL_RST)) {
			pr->reset_control = 0;
			request_reboot(pr, "reset control register 0xcf9");
		}
		return true;
	}
	if (req->addr == I8042_COMMAND_PORT && req->dir == HSM_IO_WRITE &&
	    (uint8_t)req->data == I8042_PULSE_RESET) {
		request_reboot(pr, "i8042 pulse reset");
		return true;
	}
	return false;
}
