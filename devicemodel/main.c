/*
 * main.c - vdm's entry point: parse the command line, open the VM on the
 * chosen HSM back-end, create the devices, serve I/O requests until told to
 * stop, then stop the devices and release everything.
 *
 * Exit status: 0 after a clean stop, 1 when start-up fails, 2 for bad
 * arguments; with a hypervisor that vdm started (--hsm qemu), the
 * hypervisor's own exit status once it ends.
 */
#include "api.h"
#include "cli.h"
#include "events.h"
#include "log.h"
#include "vdm.h"
#include "virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>


static void hsm_log_sink(int level, const char *msg)
{
	vdm_log(level, "%s", msg);
}

static int loop_add_fd(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	return evloop_add_fd(loop, fd, events, cb, arg);
}

static int loop_del_fd(void *loop, int fd)
{
	return evloop_del_fd(loop, fd);
}

static void handle_ioreq(void *opaque, struct hsm_ioreq *req)
{
	struct vdm *vdm = opaque;

	if (vdm->caps.boot_cpu &&
	    (platform_reset_ioreq(&vdm->reset, req) || rtc_ioreq(&vdm->rtc, req)))
		return;
	for (int i = 0; i < UART_MAX; i++)
		if (uart_ioreq(&vdm->uarts[i], req))
			return;
	pci_bus_ioreq(&vdm->bus, req);
}

/* Guest RAM was mapped anew: tell running vhost back-ends, and re-check the
 * rings vdm serves itself. */
static void handle_mem_changed(void *opaque)
{
	virtio_vhost_mem_changed(opaque);
	virtio_mem_changed(opaque);
}

static void handle_reset(void *opaque, uint16_t bdf)
{
	struct vdm *vdm = opaque;

	if (pci_bus_reset_function(&vdm->bus, bdf) == 0)
		log_info("00:%02x.%d reset by the hypervisor", (bdf >> 3) & 0x1f, bdf & 7);
}

/* The hypervisor vdm started has ended: vdm ends too, with its status. */
static void handle_hv_exit(void *opaque, int status, bool at_start)
{
	struct vdm *vdm = opaque;

	vdm->hv_ended = true;
	vdm->hv_status = status;
	vdm->hv_failed_start = at_start;
	evloop_stop(vdm->loop);
}

static void destroy_devices(struct vdm *vdm)
{
	/* Reverse order of creation: later devices may lean on earlier ones. */
	for (int i = vdm->ndevices - 1; i >= 0; i--) {
		struct vdm_device *vd = &vdm->devices[i];

		pci_bus_remove(&vdm->bus, vd->dev);
		vd->emu->destroy(vd->dev);
	}
	vdm->ndevices = 0;
}

static int create_devices(struct vdm *vdm, struct vdm_options *o)
{
	for (int i = 0; i < o->ndevs; i++) {
		struct dev_spec *spec = &o->devs[i];
		struct vdm_device *vd = &vdm->devices[vdm->ndevices];
		struct devemu_ctx ctx;
		char err[256] = "";
		int ret;

		if (spec->emu == &devemu_hostbridge && vdm->caps.hv_hostbridge) {
			log_info("00:%02x.%d hostbridge: left to the hypervisor, which emulates "
				 "its own host bridge", spec->slot, spec->func);
			continue;
		}

		devemu_ctx_init(&ctx, vdm, spec->slot, spec->func);
		ret = spec->emu->create(&ctx, spec->cfg, &vd->dev, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "vdm: %d:%d,%s: %s\n", spec->slot, spec->func,
				spec->emu->name, err[0] ? err : strerror(-ret));
			return ret;
		}
		vd->emu = spec->emu;
		vd->slot = spec->slot;
		vd->func = spec->func;
		vd->cfg = spec->cfg;
		ret = pci_bus_add(&vdm->bus, vd->dev, spec->slot, spec->func);
		if (ret) {
			spec->emu->destroy(vd->dev);
			fprintf(stderr, "vdm: %d:%d,%s: cannot place on the bus: %s\n", spec->slot,
				spec->func, spec->emu->name, strerror(-ret));
			return ret;
		}
		vdm->ndevices++;
		ret = hsm_add_pci_function(vdm->vm, hsm_bdf(0, (unsigned)spec->slot,
							     (unsigned)spec->func));
		if (ret) {
			fprintf(stderr, "vdm: %d:%d,%s: the %s back-end cannot serve it: %s\n",
				spec->slot, spec->func, spec->emu->name,
				hsm_backend_name(vdm->vm), strerror(-ret));
			return ret;
		}
		log_info("00:%02x.%d %s", spec->slot, spec->func, spec->emu->name);
	}
	pci_bus_finalize(&vdm->bus);
	for (int i = 0; i < vdm->ndevices; i++) {
		struct vdm_device *vd = &vdm->devices[i];
		char err[256] = "";
		int ret;

		if (!vd->emu->bus_ready)
			continue;
		ret = vd->emu->bus_ready(vd->dev, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "vdm: %d:%d,%s: %s\n", vd->slot, vd->func, vd->emu->name,
				err[0] ? err : strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int dump_config(struct vdm *vdm, const char *dir)
{
	for (int i = 0; i < vdm->ndevices; i++) {
		struct vdm_device *vd = &vdm->devices[i];
		char path[PATH_MAX];
		int fd, ret;

		snprintf(path, sizeof(path), "%s/%02x.%d.lspci", dir, vd->slot, vd->func);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "vdm: --dump-config: cannot write %s: %s\n", path,
				strerror(errno));
			return -errno;
		}
		ret = pci_dev_dump(vd->dev, fd, true);
		close(fd);
		if (ret)
			return ret;
	}
	return 0;
}

/* What the DSDT declares of the ISA side (acpi_isa.c): the LPC bridge of
 * -s SLOT,lpc, if given, and the COM ports -l opened. */
static void describe_isa(struct acpi_isa *isa, const struct vdm_options *o,
			 const struct uart uarts[UART_MAX])
{
	*isa = (struct acpi_isa){ 0 };
	for (int i = 0; i < o->ndevs; i++)
		if (!strcmp(o->devs[i].emu->name, "lpc"))
			*isa = (struct acpi_isa){ .lpc = true, .lpc_slot = (uint8_t)o->devs[i].slot,
						  .lpc_func = (uint8_t)o->devs[i].func };
	for (int i = 0; i < UART_MAX && isa->ncom < ACPI_MAX_COM; i++)
		if (o->have_uart[i])
			isa->com[isa->ncom++] = (struct acpi_com){ (uint8_t)(i + 1), uarts[i].port,
								   uarts[i].irq };
}

int main(int argc, char **argv)
{
	static struct vdm vdm;
	static struct vdm_options opts;
	struct api *api = NULL;
	char err[512];
	int status = 1, ret, sig;

	if (cli_parse(argc, argv, &opts, err, sizeof(err))) {
		fprintf(stderr, "vdm: %s\n", err);
		cli_free(&opts);
		return 2;
	}
	if (opts.help) {
		cli_usage(stdout);
		cli_free(&opts);
		return 0;
	}
	if (opts.version) {
		printf("vdm %s\n", PACKAGE_VERSION);
		cli_free(&opts);
		return 0;
	}
	log_set_level((opts.log_level ? opts.log_level : LOG_INFO) + opts.verbosity);
	if (opts.log_file) {
		ret = log_open_file(opts.log_file);
		if (ret) {
			fprintf(stderr, "vdm: --log-file '%s': %s\n", opts.log_file, strerror(-ret));
			cli_free(&opts);
			return 2;
		}
	}
	for (int i = 0; i < opts.nacrn_notes; i++)
		log_info("%s", opts.acrn_notes[i]);
	if (opts.have_uuid)
		memcpy(vdm.uuid, opts.uuid, sizeof(vdm.uuid));
	else
		uuid_generate(vdm.uuid);
	uuid_unparse_lower(vdm.uuid, vdm.uuid_str);

	if (opts.virtio_poll_us) {
		vdm.default_poll_mode = VIRTIO_POLL_PERIODIC;
		vdm.default_poll_us = opts.virtio_poll_us;
	}
	vdm.loop = evloop_create();
	if (!vdm.loop) {
		fprintf(stderr, "vdm: cannot create the event loop: %s\n", strerror(errno));
		goto out;
	}
	ret = vdm_events_create(&vdm.events, vdm.loop);
	if (ret) {
		fprintf(stderr, "vdm: cannot create the event queue: %s\n", strerror(-ret));
		goto out;
	}
	/* The firmware's files before the VM exists: a vars file another VM
	 * holds stops vdm here. */
	if (opts.have_ovmf && ovmf_open(&opts.ovmf, err, sizeof(err))) {
		fprintf(stderr, "vdm: %s\n", err);
		status = 2;
		goto out;
	}
	struct hsm_vm_config cfg = {
		.backend = opts.hsm,
		.ram_size = opts.ram_size,
		.fw_size = opts.have_ovmf ? ovmf_fw_size(&opts.ovmf) : 0,
		.name = opts.vm_name ? opts.vm_name : vdm.uuid_str,
		.vm_name = opts.vm_name,
		.cpu_affinity = opts.cpu_affinity,
		.ioreq = handle_ioreq,
		.ioreq_opaque = &vdm,
		.loop = { .loop = vdm.loop, .add_fd = loop_add_fd, .del_fd = loop_del_fd },
		.log = hsm_log_sink,
		.reset = handle_reset,
		.mem_changed = handle_mem_changed,
		.hv_argv = opts.extra_argc ? opts.extra_argv : NULL,
		.hv_exited = handle_hv_exit,
	};
	memcpy(cfg.uuid, vdm.uuid, sizeof(cfg.uuid));
	vdm.vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!vdm.vm) {
		fprintf(stderr, "vdm: --hsm %s: %s\n", opts.hsm, err);
		goto out;
	}
	/* After the back-end opened, so that its errors stay one line. */
	if (opts.vm_name)
		log_info("VM %s, UUID %s", opts.vm_name, vdm.uuid_str);
	else
		log_info("VM UUID %s", vdm.uuid_str);
	vdm.caps = hsm_get_caps(vdm.vm);
	vdm.bus.vm = vdm.vm;
	pci_space_init(&vdm.space);
	/* acrn-dm booting OVMF puts every 64-bit BAR above 4 GiB. */
	vdm.space.mem64_high = opts.have_ovmf;
	vdm.bus.caps_native_irqfd = vdm.caps.native_irqfd;
	vdm.bus.intx_active_low = vdm.caps.intx_active_low;
	log_info("HSM back-end %s, %llu MiB guest RAM", hsm_backend_name(vdm.vm),
		 (unsigned long long)(opts.ram_size >> 20));

	if (create_devices(&vdm, &opts))
		goto out;
	static struct boot_linux_args boot; /* read again at each guest reboot */

	boot = (struct boot_linux_args){ opts.kernel, opts.initrd, opts.bootargs, 0 };
	vdm.reset = (struct platform_reset){ .vm = vdm.vm, .bus = &vdm.bus, .loop = vdm.loop,
					     .space = &vdm.space, .boot = opts.kernel ? &boot : NULL,
					     .ovmf = opts.have_ovmf ? &opts.ovmf : NULL,
					     .cpu_affinity = opts.cpu_affinity };
	/* The RTC of a post-launched VM is the device model's on ACRN. */
	if (vdm.caps.boot_cpu) {
		if (rtc_init(&vdm.rtc, vdm.vm, vdm.loop, err, sizeof(err))) {
			fprintf(stderr, "vdm: %s\n", err);
			goto out;
		}
		vdm.reset.rtc = &vdm.rtc;
	}
	for (int i = 0; i < UART_MAX; i++)
		if (opts.have_uart[i] && uart_open(&vdm.uarts[i], i, &opts.uart[i], vdm.vm, vdm.loop,
						   err, sizeof(err))) {
			fprintf(stderr, "vdm: -l com%d: %s\n", i + 1, err);
			goto out;
		}
	describe_isa(&vdm.reset.isa, &opts, vdm.uarts);
	if (opts.kernel) {
		if (platform_load_guest(&vdm.reset, err, sizeof(err))) {
			fprintf(stderr, "vdm: %s\n", err);
			goto out;
		}
		log_info("guest: Linux %s%s%s, ACPI tables at %#llx", opts.kernel,
			 opts.initrd ? " with " : "", opts.initrd ? opts.initrd : "",
			 (unsigned long long)boot.acpi_rsdp);
	}
	if (opts.have_ovmf) {
		if (platform_load_guest(&vdm.reset, err, sizeof(err))) {
			fprintf(stderr, "vdm: %s\n", err);
			goto out;
		}
		log_info("guest: OVMF %s%s%s, ending at 4 GiB%s",
			 opts.ovmf.image ? opts.ovmf.image : opts.ovmf.code,
			 opts.ovmf.vars ? " with vars " : "", opts.ovmf.vars ? opts.ovmf.vars : "",
			 opts.ovmf.writeback ? "; vars written back at reboot and exit" : "");
	}
	if (opts.dump_dir && dump_config(&vdm, opts.dump_dir))
		goto out;
	if (opts.api_socket && api_open(&api, &vdm, opts.api_socket, err, sizeof(err))) {
		fprintf(stderr, "vdm: %s\n", err);
		goto out;
	}
	char start_err[256];

	ret = hsm_start(vdm.vm, start_err, sizeof(start_err));
	if (ret) {
		fprintf(stderr, "vdm: cannot start the %s back-end: %s\n", hsm_backend_name(vdm.vm),
			start_err);
		goto out;
	}
	sig = evloop_run(vdm.loop);
	if (sig < 0) {
		log_err("event loop failed: %s", strerror(-sig));
		goto out;
	}
	if (vdm.hv_ended && vdm.hv_failed_start) {
		fprintf(stderr, "vdm: the hypervisor exited during start-up with status %d "
				"(its own messages, above, say why)\n", vdm.hv_status);
		goto out;
	}
	log_info("stopping%s%s", sig ? " on " : "", sig ? strsignal(sig) : "");
	status = vdm.hv_ended ? vdm.hv_status : 0;
out:
	/* Stop the guest, then the devices (they flush and unregister from
	 * libhsm), then the VM. */
	api_close(api);
	hsm_stop(vdm.vm);
	/* The guest is paused: OVMF's vars as it left them go to their file
	 * (with "w"), as acrn-dm does before it tears devices down. */
	if (opts.have_ovmf && vdm.vm && ovmf_writeback(&opts.ovmf, vdm.vm, err, sizeof(err)))
		log_err("%s", err);
	else if (opts.have_ovmf && opts.ovmf.writeback && opts.ovmf.loaded)
		log_info("OVMF's vars written back to %s",
			 opts.ovmf.image ? opts.ovmf.image : opts.ovmf.vars);
	destroy_devices(&vdm);
	for (int i = 0; i < UART_MAX; i++)
		uart_close(&vdm.uarts[i]);
	rtc_close(&vdm.rtc);
	hsm_close(vdm.vm);
	vdm_events_destroy(vdm.events);
	evloop_destroy(vdm.loop);
	cli_free(&opts);
	log_close();
	return status;
}
