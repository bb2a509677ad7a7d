/*
 * platform_reset.c - machine resets and power-off a guest asks for where
 * vdm is the platform (ACRN, which leaves them to the device model): the
 * Reset Control register at port 0xCF9 (also the FADT's reset register)
 * and the i8042 keyboard controller's pulse-reset command, the ways a
 * Linux guest reboots with or without ACPI, and the reboot in acrn-dm's
 * order (platform_reset.h); the ACPI PM1 block for power-off; loading the
 * guest.  Other i8042 accesses are left to the bus: no keyboard controller
 * answers them.
 */
#include "platform_reset.h"

#include "acpi.h"
#include "host_cpus.h"
#include "log.h"
#include "mptable.h"

#include <errno.h>
#include <stdio.h>
#include <linux/pci_regs.h>

#define RESET_CONTROL_PORT 0xcf9
#define RESET_CONTROL_SYS_RST 0x04
#define RESET_CONTROL_FULL_RST 0x08
#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe

/*
 * Route every function's INTx pin, as acrn-dm does: each slot's pin gets a
 * GSI of its own from the PCI range (pci_space, shared with passthrough,
 * whose functions come with theirs), kept across reboots, written into the
 * interrupt line register and declared in the _PRT.  Returns the routes.
 */
static int route_intx(struct platform_reset *pr, struct acpi_intx_route *routes, int max)
{
	int n = 0;

	for (int slot = 0; slot < PCI_NUM_SLOTS; slot++) {
		for (int func = 0; func < PCI_NUM_FUNCS; func++) {
			struct pci_dev *d = pr->bus->devs[slot][func];
			uint8_t pin = d ? d->cfg[PCI_INTERRUPT_PIN] : 0;
			uint8_t *gsi = &pr->gsi[slot][pin < 5 ? pin : 0];

			if (!d || pin < 1 || pin > 4)
				continue;
			/* A line the guest cannot write was routed by its device
			 * (passthrough): the _PRT says where. */
			if (!d->wmask[PCI_INTERRUPT_LINE]) {
				if (!*gsi)
					*gsi = d->cfg[PCI_INTERRUPT_LINE];
			} else {
				if (!*gsi) {
					int g = pci_space_alloc_gsi(pr->space);

					if (g < 0) {
						log_warn("00:%02x.%d: no GSI left for its INTx", slot,
							 func);
						continue;
					}
					*gsi = (uint8_t)g;
				}
				pci_dev_lock(d);
				pci_dev_route_intx(d, *gsi);
				pci_dev_unlock(d);
			}
		}
		for (uint8_t pin = 1; pin <= 4; pin++)
			if (pr->gsi[slot][pin] && n < max)
				routes[n++] = (struct acpi_intx_route){ (uint8_t)slot, pin,
									pr->gsi[slot][pin] };
	}
	return n;
}

int platform_load_guest(struct platform_reset *pr, char *err, size_t errlen)
{
	struct acpi_intx_route routes[PCI_NUM_SLOTS * 4];
	/* Every BAR programmed, as acrn-dm leaves them (pci_assign.c). */
	int ret = pci_space_assign_bars(pr->space, pr->bus, err, errlen);

	if (ret)
		return ret;
	int nroutes = route_intx(pr, routes, PCI_NUM_SLOTS * 4);
	struct hsm_boot_cpu cpu;
	uint64_t rsdp = 0;
	unsigned vcpus = hsm_vcpu_count(pr->vm);
	uint8_t apic_ids[256];
	/* The IDs the hypervisor gives the vCPUs, as acrn-dm writes them. */
	ret = vcpus > 255 ? -EINVAL : 0;

	if (ret)
		snprintf(err, errlen, "%u vCPUs: more than the tables can describe", vcpus);
	if (!ret)
		ret = host_vcpu_apic_ids(pr->cpu_affinity, vcpus, apic_ids, err, errlen);
	if (!ret)
		ret = acpi_build(pr->vm, vcpus, apic_ids, routes, nroutes, &pr->isa, &rsdp, err,
				 errlen);
	/* acrn-dm writes the MP table whatever it loads next. */
	if (!ret)
		ret = mptable_build(pr->vm, vcpus, apic_ids, routes, nroutes, err, errlen);
	if (!ret && pr->ovmf) {
		ret = ovmf_load(pr->ovmf, pr->vm, &cpu, err, errlen);
	} else if (!ret) {
		pr->boot->acpi_rsdp = rsdp;
		ret = boot_linux_load(pr->vm, pr->boot, &cpu, err, errlen);
	}
	if (!ret)
		ret = hsm_set_boot_cpu(pr->vm, &cpu, err, errlen);
	return ret;
}

static void reboot(void *arg)
{
	struct platform_reset *pr = arg;
	char err[256];

	pr->pending = false;
	if (!pr->boot && !pr->ovmf) {
		log_info("the guest reset the machine; vdm loaded no guest (-k, --ovmf) to start again: "
			 "stopping");
		evloop_stop(pr->loop);
		return;
	}
	log_info("the guest reset the machine: rebooting it");
	if (hsm_reboot(pr->vm, HSM_REBOOT_PAUSE, err, sizeof(err)))
		goto failed;
	/* acrn-dm writes OVMF's vars back before it resets anything; the
	 * load below reads them again from the file. */
	if (pr->ovmf && ovmf_writeback(pr->ovmf, pr->vm, err, sizeof(err)))
		goto failed;
	/* Every function as at power-on; a device finishes the requests it
	 * has in flight before it forgets its rings (virtio reset). */
	for (int slot = 0; slot < PCI_NUM_SLOTS; slot++)
		for (int func = 0; func < PCI_NUM_FUNCS; func++)
			if (pr->bus->devs[slot][func])
				pci_bus_reset_function(pr->bus, (uint16_t)(slot << 3 | func));
	/* acrn-dm starts its RTC afresh at a reset (vm_reset_vdevs). */
	if (pr->rtc)
		rtc_reset(pr->rtc);
	if (hsm_reboot(pr->vm, HSM_REBOOT_RESET, err, sizeof(err)) ||
	    platform_load_guest(pr, err, sizeof(err)) ||
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

/*
 * The PM1 block the FADT describes (fixed hardware, ACPI always enabled):
 * status (write 1 to clear) and enable at ACPI_PM1A_EVT_PORT, control at
 * ACPI_PM1A_CNT_PORT, whose SCI_EN always reads 1.  SLP_EN with the \_S5
 * sleep type powers the guest off: vdm stops, status 0, tearing the VM
 * down as at SIGTERM.  Other sleep states are not offered by the DSDT.
 */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_EN 0x2000

static void power_off(void *arg)
{
	struct platform_reset *pr = arg;

	evloop_stop(pr->loop);
}

static bool pm1_ioreq(struct platform_reset *pr, struct hsm_ioreq *req)
{
	uint64_t port = req->addr;

	if (req->size != 2 || (port != ACPI_PM1A_EVT_PORT && port != ACPI_PM1A_EVT_PORT + 2 &&
			       port != ACPI_PM1A_CNT_PORT))
		return false;
	uint16_t *reg = port == ACPI_PM1A_EVT_PORT ? &pr->pm1_status
			: port == ACPI_PM1A_CNT_PORT ? &pr->pm1_control
						     : &pr->pm1_enable;

	if (req->dir == HSM_IO_READ) {
		req->data = *reg | (reg == &pr->pm1_control ? PM1_CNT_SCI_EN : 0);
		return true;
	}
	if (reg == &pr->pm1_status) {
		pr->pm1_status &= (uint16_t)~req->data;
		return true;
	}
	*reg = (uint16_t)(req->data & ~(reg == &pr->pm1_control ? PM1_CNT_SLP_EN : 0));
	if (reg == &pr->pm1_control && (req->data & PM1_CNT_SLP_EN)) {
		unsigned typ = (unsigned)(req->data >> PM1_CNT_SLP_TYP_SHIFT) & 7;

		if (typ == ACPI_S5_SLP_TYP) {
			log_info("the guest powered off");
			pr->powered_off = true;
			/* After this request completes, as a reboot. */
			if (evloop_add_timer(pr->loop, 1, false, power_off, pr) <= 0)
				evloop_stop(pr->loop);
		} else {
			log_warn("the guest asked for sleep type %u, which vdm does not offer", typ);
		}
	}
	return true;
}

bool platform_reset_ioreq(struct platform_reset *pr, struct hsm_ioreq *req)
{
	if (req->space != HSM_IO_PIO)
		return false;
	if (pm1_ioreq(pr, req))
		return true;
	if (req->size != 1)
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
