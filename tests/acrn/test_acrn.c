/*
 * test_acrn.c - the acrn back-end against the HSM model, below the device
 * suite: start-up errors are one line naming the call and errno; requests
 * of every type reach the device model with their fields; garbage in the
 * shared ioreq page is completed with all-ones and never reaches a device;
 * shutdown runs PAUSE_VM, DESTROY_IOREQ_CLIENT, the deassigns and
 * DESTROY_VM in that order.  And the model itself answers the ABI as the
 * kernel and hypervisor do, so that passing against it means something.
 */
#include "acrn_model.h"
#include "drv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/vdm-acrn-XXXXXX";

/* ---- a small event loop on its own thread, for the forwarder ---- */

struct watch {
	int fd;
	hsm_fd_cb cb;
	void *arg;
};

static struct {
	pthread_mutex_t lock;
	int ep, stop;
	struct watch w[8];
	pthread_t thread;
} loop = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int add_fd(void *l, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	pthread_mutex_lock(&loop.lock);
	for (int i = 0; i < 8; i++) {
		if (!loop.w[i].cb) {
			loop.w[i] = (struct watch){ fd, cb, arg };
			break;
		}
	}
	pthread_mutex_unlock(&loop.lock);
	return epoll_ctl(loop.ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int del_fd(void *l, int fd)
{
	epoll_ctl(loop.ep, EPOLL_CTL_DEL, fd, NULL);
	pthread_mutex_lock(&loop.lock);
	for (int i = 0; i < 8; i++)
		if (loop.w[i].cb && loop.w[i].fd == fd)
			loop.w[i].cb = NULL;
	pthread_mutex_unlock(&loop.lock);
	return 0;
}

static void *loop_thread(void *arg)
{
	for (;;) {
		struct epoll_event ev;
		struct watch w = { 0 };

		if (epoll_wait(loop.ep, &ev, 1, -1) != 1)
			continue;
		if (ev.data.fd == loop.stop)
			return NULL;
		pthread_mutex_lock(&loop.lock);
		for (int i = 0; i < 8; i++)
			if (loop.w[i].cb && loop.w[i].fd == ev.data.fd)
				w = loop.w[i];
		pthread_mutex_unlock(&loop.lock);
		if (w.cb)
			w.cb(w.arg, w.fd, ev.events);
	}
}

/* ---- the device model's side: record requests, answer reads ---- */

static struct hsm_ioreq seen;
static int nseen;

static void handler(void *opaque, struct hsm_ioreq *req)
{
	seen = *req;
	nseen++;
	if (req->dir == HSM_IO_READ)
		req->data = req->addr ^ 0xa5a5a5a5a5a5a5a5ULL;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[1 << 16];

static void log_sink(int level, const char *msg)
{
	pthread_mutex_lock(&log_lock);
	size_t used = strlen(logbuf);
	snprintf(logbuf + used, sizeof(logbuf) - used, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

/* ---- start-up errors of the vdm program ---- */

static void startup_error(const char *hsm, const char *want1, const char *want2)
{
	char out[2048];
	int lines = 0;
	int st = vdm_run((const char *const[]){ "--hsm", hsm, "-m", strstr(hsm, "memsize") ? "131073K"
								: "128M", "-s", "0:0,hostbridge",
						  NULL },
			 out, sizeof(out));

	for (char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		lines += strncmp(p, "vdm: info:", 10) != 0;
	drv_check(st == 1 && lines == 1 && strstr(out, want1) && strstr(out, want2),
		  "--hsm %s: exit 1 with one line naming %s and %s (%d: %s)", hsm, want1, want2, st,
		  out);
}

/* ---- raw slots ---- */

static struct acrn_io_request mmio(uint32_t dir, uint64_t addr, uint64_t size, uint64_t val)
{
	struct acrn_io_request r = { .type = ACRN_IOREQ_TYPE_MMIO };

	r.reqs.mmio_request = (struct acrn_mmio_request){ .direction = dir, .address = addr,
							  .size = size, .value = val };
	return r;
}

static struct acrn_io_request pio(uint32_t dir, uint64_t port, uint64_t size, uint32_t val)
{
	struct acrn_io_request r = { .type = ACRN_IOREQ_TYPE_PORTIO };

	r.reqs.pio_request = (struct acrn_pio_request){ .direction = dir, .address = port,
							.size = size, .value = val };
	return r;
}

static struct acrn_io_request pci(uint32_t bus, uint32_t dev, uint32_t func, uint32_t reg,
				  uint64_t size)
{
	struct acrn_io_request r = { .type = ACRN_IOREQ_TYPE_PCICFG };

	r.reqs.pci_request = (struct acrn_pci_request){ .direction = ACRN_IOREQ_DIR_READ,
							.size = size, .bus = bus, .dev = dev,
							.func = func, .reg = reg };
	return r;
}

/* CREATE_VM carries the VM's name where current hypervisors look for it,
 * the UUID without one, and the CPU affinity. */
static void vm_identity(void)
{
	static const uint8_t uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
					  0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21 };
	char spec[160], err[512];
	uint8_t id[16];
	uint64_t affinity;
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model,vm=POST_STD_VM1:%s/n.sock", tmpdir);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = 128 << 20, .ioreq = handler, .log = log_sink,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
		.vm_name = "POST_STD_VM1", .cpu_affinity = 0x5,
	};
	memcpy(cfg.uuid, uuid, sizeof(uuid));
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (drv_check(vm != NULL, "CREATE_VM finds the VM by its name (%s)", vm ? "ok" : err)) {
		acrn_model_created(acrn_model_of(vm), id, &affinity);
		drv_check(!memcmp(id, "POST_STD_VM1\0\0\0\0", 16) && affinity == 0x5,
			  "CREATE_VM carried the name, NUL-padded, and the CPU affinity (%#llx)",
			  (unsigned long long)affinity);
		hsm_close(vm);
	}
	/* Below acrn-dm's 128 MiB the back-end refuses before CREATE_VM. */
	cfg.ram_size = 64 << 20;
	snprintf(spec, sizeof(spec), "acrn:model:%s/small.sock", tmpdir);
	vm = hsm_open(&cfg, &ret, err, sizeof(err));
	drv_check(!vm && ret == -EINVAL && strstr(err, "below ACRN's minimum of 128 MiB"),
		  "64 MiB of guest RAM: refused by the back-end itself (%s)", vm ? "opened" : err);
	if (vm)
		hsm_close(vm);
	cfg.ram_size = 128 << 20;
	snprintf(spec, sizeof(spec), "acrn:model,vm=POST_STD_VM1:%s/n.sock", tmpdir);
	cfg.vm_name = "POST_STD_VM2";
	vm = hsm_open(&cfg, &ret, err, sizeof(err));
	drv_check(!vm && strstr(err, "ACRN_IOCTL_CREATE_VM") && strstr(err, "EINVAL") &&
			  strstr(err, "post-launched VM named POST_STD_VM2"),
		  "a name the hypervisor does not know: one error naming the call and the name (%s)",
		  err);
	if (vm)
		hsm_close(vm);

	snprintf(spec, sizeof(spec), "acrn:model:%s/u.sock", tmpdir);
	cfg.vm_name = NULL;
	cfg.cpu_affinity = 0;
	vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (drv_check(vm != NULL, "CREATE_VM without a name (%s)", vm ? "ok" : err)) {
		acrn_model_created(acrn_model_of(vm), id, &affinity);
		drv_check(!memcmp(id, uuid, 16) && affinity == 0,
			  "without a name CREATE_VM carries the UUID, as older hypervisors read it");
		hsm_close(vm);
	}
}

static void backend(void)
{
	char spec[160], err[256];
	struct acrn_io_request done;
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model,vcpus=4:%s/b.sock", tmpdir);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = 128 << 20, .ioreq = handler, .log = log_sink,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!drv_check(vm != NULL, "open an acrn VM on the model (%s)", vm ? "ok" : err))
		return;
	struct acrn_model *m = acrn_model_of(vm);
	drv_check(hsm_start(vm, err, sizeof(err)) == 0, "START_VM and the ioreq client thread (%s)",
		  err);
	drv_check(hsm_gpa_to_hva(vm, 0, 4 << 20) != NULL, "guest RAM is mapped from gpa 0");

	/* Every request type, with its fields. */
	struct acrn_io_request r = pio(ACRN_IOREQ_DIR_READ, 0x510, 2, 0);
	ret = acrn_model_raw_request(m, 1, &r, &done, 5000);
	drv_check(ret == 0 && seen.space == HSM_IO_PIO && seen.addr == 0x510 && seen.size == 2 &&
			  seen.dir == HSM_IO_READ &&
			  done.reqs.pio_request.value == (uint32_t)(0x510 ^ 0xa5a5a5a5a5a5a5a5ULL),
		  "port read on vCPU 1 reaches the device model and returns its value (%d, %#x)",
		  ret, done.reqs.pio_request.value);
	r = pci(0, 3, 1, 0x40, 4);
	ret = acrn_model_raw_request(m, 2, &r, &done, 5000);
	drv_check(ret == 0 && seen.space == HSM_IO_PCICFG && seen.bdf == hsm_bdf(0, 3, 1) &&
			  seen.addr == 0x40 && seen.size == 4 &&
			  done.reqs.pci_request.value == (uint32_t)(0x40 ^ 0xa5a5a5a5a5a5a5a5ULL),
		  "PCI config read carries bus/dev/func/reg (bdf %#x reg %#llx)", seen.bdf,
		  (unsigned long long)seen.addr);
	r = mmio(ACRN_IOREQ_DIR_WRITE, 0xc0001000, 8, 0x1122334455667788ULL);
	ret = acrn_model_raw_request(m, 3, &r, &done, 5000);
	drv_check(ret == 0 && seen.space == HSM_IO_MMIO && seen.dir == HSM_IO_WRITE &&
			  seen.size == 8 && seen.data == 0x1122334455667788ULL,
		  "8-byte MMIO write reaches the device model with its data");

	/* Garbage in the shared page: completed with all-ones, no device sees it. */
	struct {
		const char *what;
		struct acrn_io_request r;
	} bad[] = {
		{ "unknown type", { .type = 9 } },
		{ "MMIO size 3", mmio(ACRN_IOREQ_DIR_READ, 0xc0000000, 3, 0) },
		{ "MMIO size 16", mmio(ACRN_IOREQ_DIR_READ, 0xc0000000, 16, 0) },
		{ "MMIO direction 7", mmio(7, 0xc0000000, 4, 0) },
		{ "MMIO wrapping 2^64", mmio(ACRN_IOREQ_DIR_READ, ~0ULL - 1, 8, 0) },
		{ "port size 8", pio(ACRN_IOREQ_DIR_READ, 0x60, 8, 0) },
		{ "port past 64 KiB", pio(ACRN_IOREQ_DIR_READ, 0xfffe, 4, 0) },
		{ "port 2^40", pio(ACRN_IOREQ_DIR_READ, 1ULL << 40, 1, 0) },
		{ "config device 32", pci(0, 32, 0, 0, 4) },
		{ "config function 8", pci(0, 1, 8, 0, 4) },
		{ "config bus 256", pci(256, 1, 0, 0, 4) },
		{ "config register 4094 size 4", pci(0, 3, 0, 4094, 4) },
		{ "config size 0", pci(0, 3, 0, 0, 0) },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int before = nseen;

		ret = acrn_model_raw_request(m, (unsigned)i % 4, &bad[i].r, &done, 5000);
		uint32_t lo = (uint32_t)done.reqs.mmio_request.value;
		drv_check(ret == 0 && nseen == before && lo == 0xffffffffu,
			  "garbage slot (%s) completed with all-ones, no device saw it (%d, %#x)",
			  bad[i].what, ret, lo);
	}
	r = mmio(ACRN_IOREQ_DIR_READ, 0xc0000010, 4, 0);
	ret = acrn_model_raw_request(m, 0, &r, &done, 5000);
	drv_check(ret == 0 && done.reqs.mmio_request.value == (0xc0000010 ^ 0xa5a5a5a5a5a5a5a5ULL),
		  "after the garbage, requests are served as before");
	drv_check(strstr(logbuf, "malformed I/O request") != NULL,
		  "garbage is logged (rate-limited)");

	/* A slot an in-kernel client owns (PROCESSING, kernel_handled) is left
	 * alone while the client serves another vCPU. */
	r = mmio(ACRN_IOREQ_DIR_WRITE, 0xc0000040, 4, 7);
	drv_check(acrn_model_kernel_slot(m, 0, &r) == 0, "vCPU 0's slot held by an in-kernel client");
	int held = nseen;
	/* The client walks the slots from 0: to serve vCPU 1 it passes slot 0. */
	r = mmio(ACRN_IOREQ_DIR_READ, 0xc0000044, 4, 0);
	ret = acrn_model_raw_request(m, 1, &r, &done, 5000);
	r = mmio(ACRN_IOREQ_DIR_READ, 0xc0000048, 4, 0);
	ret |= acrn_model_raw_request(m, 2, &r, &done, 5000);
	drv_check(ret == 0 && nseen == held + 2 && seen.addr == 0xc0000048 &&
			  acrn_model_violations(m) == 0,
		  "serving vCPUs 1 and 2 skips the kernel-handled slot (%d requests seen, %u "
		  "violations)",
		  nseen - held, acrn_model_violations(m));
	drv_check(acrn_model_kernel_slot(m, 0, NULL) == 0, "and the slot is still PROCESSING after");

	/* One eventfd kicked from two places, as a transitional virtio device
	 * does; the HSM's DEASSIGN names only the eventfd. */
	int shared = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct hsm_ioeventfd modern = { .space = HSM_IO_MMIO, .addr = 0xc0003000 };
	struct hsm_ioeventfd legacy = { .space = HSM_IO_PIO, .addr = 0x6010, .len = 2,
					.datamatch = true, .data = 1 };
	eventfd_t count = 0;
	drv_check(hsm_ioeventfd_add(vm, &modern, shared) == 0 &&
			  hsm_ioeventfd_add(vm, &legacy, shared) == 0,
		  "one eventfd registered at an MMIO and a port address");
	r = pio(ACRN_IOREQ_DIR_WRITE, 0x6010, 2, 1);
	int before = nseen;
	ret = acrn_model_raw_request(m, 0, &r, &done, 5000);
	drv_check(ret == 0 && nseen == before && eventfd_read(shared, &count) == 0 && count == 1,
		  "a matching port write signals the eventfd and reaches no device");
	drv_check(hsm_ioeventfd_del(vm, &legacy, shared) == 0, "the port one is removed");
	r = mmio(ACRN_IOREQ_DIR_WRITE, 0xc0003000, 2, 0);
	count = 0;
	ret = acrn_model_raw_request(m, 1, &r, &done, 5000);
	drv_check(ret == 0 && nseen == before && eventfd_read(shared, &count) == 0 && count == 1,
		  "the MMIO one still signals (the HSM dropped it and the back-end put it back)");
	r = pio(ACRN_IOREQ_DIR_WRITE, 0x6010, 2, 1);
	ret = acrn_model_raw_request(m, 2, &r, &done, 5000);
	drv_check(ret == 0 && nseen == before + 1 && seen.space == HSM_IO_PIO &&
			  seen.addr == 0x6010,
		  "the port write now reaches the device model");
	drv_check(hsm_ioeventfd_del(vm, &modern, shared) == 0, "the MMIO one is removed");
	close(shared);

	/* Interrupts, seen by a test driver on the model's socket. */
	struct drv d;
	struct drv_irq irq;
	snprintf(spec, sizeof(spec), "%s/b.sock", tmpdir);
	drv_connect(&d, spec);
	drv_check(hsm_inject_msi(vm, 0xfee01000, 0x55) == 0 && drv_wait_irq(&d, &irq, 2000) == 1 &&
			  irq.kind == HSM_IRQ_MSI && irq.addr == 0xfee01000 && irq.data == 0x55,
		  "INJECT_MSI reaches the guest with its address and data");

	/* Notifiers left registered, so close has to deassign them. */
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	struct hsm_ioeventfd ev = { .space = HSM_IO_MMIO, .addr = 0xc0002000 };
	struct hsm_irq msi = { .kind = HSM_IRQ_MSI, .msi_addr = 0xfee00000, .msi_data = 0x41 };
	drv_check(hsm_ioeventfd_add(vm, &ev, kick) == 0, "ioeventfd registered with the HSM");
	drv_check(hsm_ioeventfd_del(vm, &(struct hsm_ioeventfd){ .space = HSM_IO_MMIO,
								  .addr = 0xc0002004 },
				    kick) == -ENOENT,
		  "removing an ioeventfd never registered: -ENOENT");
	drv_check(hsm_irqfd_add(vm, &msi, call) == 0, "MSI irqfd registered with the HSM");
	drv_check(hsm_irqfd_add(vm, &msi, call) == -EEXIST, "the same irqfd twice: -EEXIST");
	drv_check(eventfd_write(call, 1) == 0 && drv_wait_irq(&d, &irq, 2000) == 1 &&
			  irq.kind == HSM_IRQ_MSI && irq.data == 0x41,
		  "writing the irqfd injects its MSI");
	struct hsm_irq intx = { .kind = HSM_IRQ_INTX, .bdf = hsm_bdf(0, 3, 0), .pin = 1 };
	drv_check(hsm_irqfd_add(vm, &intx, kick) == -EOPNOTSUPP,
		  "an INTx irqfd is refused (the HSM's irqfds carry MSI only)");
	drv_check(hsm_set_intx(vm, &intx, true) == -EINVAL,
		  "INTx on a function whose line the guest never set is refused");
	/* The guest routes 00:03.0 to GSI 19 (firmware's job), then the line rises. */
	drv_cfg_write(&d, hsm_bdf(0, 3, 0), 0x3c, 1, 19);
	intx.line = 19;
	drv_check(hsm_set_intx(vm, &intx, true) == 0 && drv_wait_irq(&d, &irq, 2000) == 1 &&
			  irq.kind == HSM_IRQ_INTX && irq.bdf == hsm_bdf(0, 3, 0) && irq.data == 1,
		  "INTx on GSI 19 goes through SET_IRQLINE to the function routed there");
	drv_check(hsm_set_intx(vm, &intx, false) == 0 && drv_wait_irq(&d, &irq, 2000) == 1 &&
			  irq.kind == HSM_IRQ_INTX && irq.data == 0,
		  "and falls again");
	drv_check(acrn_model_violations(m) == 0, "no protocol violation so far");
	drv_disconnect(&d);

	/* Shutdown order, read from the model's log of ioctls. */
	pthread_mutex_lock(&log_lock);
	logbuf[0] = '\0';
	pthread_mutex_unlock(&log_lock);
	hsm_stop(vm);
	hsm_close(vm);
	close(kick);
	close(call);
	const char *order[] = {
		"ACRN_IOCTL_PAUSE_VM -> 0",
		"ACRN_IOCTL_DESTROY_IOREQ_CLIENT -> 0",
		"ACRN_IOCTL_IOEVENTFD (deassign) -> 0",
		"ACRN_IOCTL_IRQFD (deassign) -> 0",
		"ACRN_IOCTL_DESTROY_VM -> 0",
		"0 protocol violations",
	};
	const char *at = logbuf;
	size_t k = 0;
	for (; k < sizeof(order) / sizeof(order[0]); k++) {
		const char *hit = strstr(at, order[k]);

		if (!hit)
			break;
		at = hit;
	}
	drv_check(k == sizeof(order) / sizeof(order[0]),
		  "shutdown: PAUSE_VM, DESTROY_IOREQ_CLIENT, deassigns, DESTROY_VM, in that order "
		  "(stopped at %zu):\n%s",
		  k, logbuf);
}

/* More than 2 GiB of guest RAM: the rest goes above 4 GiB, as ACRN lays
 * out a User VM, leaving a hole for PCI memory. */
static void highmem(void)
{
	char spec[160], err[256];
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model:%s/h.sock", tmpdir);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = 3ULL << 30, .ioreq = handler,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!drv_check(vm != NULL, "open an acrn VM with 3 GiB (%s)", vm ? "ok" : err))
		return;
	struct hsm_mem_region r[4];
	int n = hsm_get_mem_regions(vm, r, 4);
	drv_check(n == 2 && r[0].gpa == 0 && r[0].size == 2ULL << 30 && r[1].gpa == 4ULL << 30 &&
			  r[1].size == 1ULL << 30 && r[1].fd_offset == 2ULL << 30,
		  "3 GiB: 2 GiB at 0 and 1 GiB at 4 GiB, from one file (%d regions)", n);
	drv_check(hsm_gpa_to_hva(vm, (2ULL << 30) - 8, 8) != NULL &&
			  hsm_gpa_to_hva(vm, 2ULL << 30, 1) == NULL &&
			  hsm_gpa_to_hva(vm, (4ULL << 30) - 1, 1) == NULL &&
			  hsm_gpa_to_hva(vm, (5ULL << 30) - 8, 8) != NULL &&
			  hsm_gpa_to_hva(vm, 5ULL << 30, 1) == NULL,
		  "the hole between 2 and 4 GiB and the end at 5 GiB map nothing");
	hsm_stop(vm);
	hsm_close(vm);
}

/* A hypervisor that reports more vCPUs than there are slots: the client
 * walks the 16 slots of the page and no further. */
static void too_many_vcpus(void)
{
	char spec[160], err[256];
	struct acrn_io_request done;
	int ret;

	snprintf(spec, sizeof(spec), "acrn:model,vcpus=16,report_vcpus=40:%s/v.sock", tmpdir);
	pthread_mutex_lock(&log_lock);
	logbuf[0] = '\0';
	pthread_mutex_unlock(&log_lock);
	struct hsm_vm_config cfg = {
		.backend = spec, .ram_size = 128 << 20, .ioreq = handler, .log = log_sink,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!drv_check(vm != NULL, "open with a hypervisor claiming 40 vCPUs (%s)",
		       vm ? "ok" : err))
		return;
	drv_check(strstr(logbuf, "reports 40 vCPUs; serving 16 ioreq slots") != NULL,
		  "the bogus vCPU count is logged and capped at the 16 slots");
	hsm_start(vm, err, sizeof(err));
	struct acrn_io_request r = pio(ACRN_IOREQ_DIR_READ, 0x70, 1, 0);
	ret = acrn_model_raw_request(acrn_model_of(vm), 15, &r, &done, 5000);
	drv_check(ret == 0 && done.reqs.pio_request.value == (uint32_t)(0x70 ^ 0xa5a5a5a5a5a5a5a5ULL),
		  "the last slot (vCPU 15) is served (%d)", ret);
	hsm_stop(vm);
	hsm_close(vm);
}

/* ---- the model answers as the kernel and hypervisor do ---- */

static void model_abi(void)
{
	static struct hsm_vm fake; /* the model only logs through it */
	struct acrn_model *m;
	struct acrn_sys sys;
	char spec[160], err[256];

	snprintf(spec, sizeof(spec), ":%s/m.sock", tmpdir);
	if (!drv_check(acrn_model_create(&fake, spec, &sys, &m, err, sizeof(err)) == 0,
		       "a bare model (%s)", err))
		return;
#define IOC(cmd, arg) sys.ioctl(sys.ctx, fd, cmd, (unsigned long)(arg))
	int fd = sys.open(sys.ctx, "/dev/acrn_hsm");
	drv_check(fd >= 0 && sys.open(sys.ctx, "/dev/acrn_hsm") == -EBUSY, "one opener");
	drv_check(IOC(ACRN_IOCTL_PAUSE_VM, 0) == -EINVAL, "no VM yet: -EINVAL");
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct acrn_io_request_buffer *buf = page;
	struct acrn_vm_creation cv = { .reserved0 = 1, .ioreq_buf = (uintptr_t)page };
	drv_check(IOC(ACRN_IOCTL_CREATE_VM, &cv) == -EINVAL, "CREATE_VM with reserved bits: -EINVAL");
	cv.reserved0 = 0;
	drv_check(IOC(ACRN_IOCTL_CREATE_VM, &cv) == 0 && cv.vcpu_num == 8 && cv.vmid == 3 &&
			  buf->req_slot[0].processed == ACRN_IOREQ_STATE_FREE &&
			  buf->req_slot[15].processed == ACRN_IOREQ_STATE_FREE,
		  "CREATE_VM returns vmid and vcpu_num and sets every slot FREE");
	drv_check(IOC(ACRN_IOCTL_CREATE_VM, &cv) == -EEXIST, "a second CREATE_VM: -EEXIST");
	drv_check(IOC(ACRN_IOCTL_DESTROY_VM, 0) == -EPERM, "DESTROY_VM of an unpaused VM: -EPERM");
	drv_check(IOC(ACRN_IOCTL_RESET_VM, 0) == -EPERM, "RESET_VM of an unpaused VM: -EPERM");
	drv_check(IOC(ACRN_IOCTL_ATTACH_IOREQ_CLIENT, 0) == -ENODEV, "ATTACH without client: -ENODEV");
	drv_check(IOC(ACRN_IOCTL_CREATE_IOREQ_CLIENT, 0) == 0 &&
			  IOC(ACRN_IOCTL_CREATE_IOREQ_CLIENT, 0) == -EEXIST,
		  "one default ioreq client: -EEXIST for a second");
	struct acrn_ioreq_notify nt = { .vmid = 3, .vcpu = 0 };
	drv_check(IOC(ACRN_IOCTL_NOTIFY_REQUEST_FINISH, &nt) == -EINVAL &&
			  acrn_model_violations(m) == 1,
		  "NOTIFY for a FREE slot is refused and counted as a violation");
	nt.vcpu = 8;
	drv_check(IOC(ACRN_IOCTL_NOTIFY_REQUEST_FINISH, &nt) == -EINVAL, "NOTIFY past vcpu_num");
	nt = (struct acrn_ioreq_notify){ .vmid = 3, .reserved = 1 };
	drv_check(IOC(ACRN_IOCTL_NOTIFY_REQUEST_FINISH, &nt) == -EINVAL, "NOTIFY with reserved");

	void *anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct acrn_vm_memmap mm = { .type = ACRN_MEMMAP_RAM, .attr = ACRN_MEM_ACCESS_RWX,
				     .vma_base = (uintptr_t)anon, .len = 1 << 20 };
	drv_check(IOC(ACRN_IOCTL_SET_MEMSEG, &mm) == -EFAULT,
		  "SET_MEMSEG of private memory the test driver cannot share: -EFAULT");
	mm.len = 1000;
	drv_check(IOC(ACRN_IOCTL_SET_MEMSEG, &mm) == -EINVAL, "SET_MEMSEG of part of a page");
	munmap(anon, 1 << 20);
	mm.len = 1 << 20;
	drv_check(IOC(ACRN_IOCTL_SET_MEMSEG, &mm) == -EFAULT, "SET_MEMSEG of unmapped memory");

	drv_check(IOC(ACRN_IOCTL_SET_IRQLINE, 48) == -EPERM &&
			  IOC(ACRN_IOCTL_SET_IRQLINE, 5 | (uint64_t)ACRN_GSI_SET_HIGH << 32) == 0,
		  "SET_IRQLINE takes the GSIs of the virtual IOAPIC only");
	int efd = eventfd(0, EFD_CLOEXEC), pfd[2];
	if (pipe(pfd))
		return;
	struct acrn_ioeventfd ev = { .fd = (uint32_t)efd, .addr = 0x1000, .len = 3 };
	drv_check(IOC(ACRN_IOCTL_IOEVENTFD, &ev) == -EINVAL, "ioeventfd of length 3: -EINVAL");
	ev.len = 4;
	ev.fd = (uint32_t)pfd[0];
	drv_check(IOC(ACRN_IOCTL_IOEVENTFD, &ev) == -EBADF, "ioeventfd on a pipe: -EBADF");
	ev.fd = (uint32_t)efd;
	drv_check(IOC(ACRN_IOCTL_IOEVENTFD, &ev) == 0 && IOC(ACRN_IOCTL_IOEVENTFD, &ev) == -EEXIST,
		  "the same ioeventfd twice: -EEXIST");
	struct acrn_irqfd irq = { .fd = efd, .msi = { 0xfee00000, 0x30 } };
	drv_check(IOC(ACRN_IOCTL_IRQFD, &irq) == 0 && IOC(ACRN_IOCTL_IRQFD, &irq) == -EBUSY,
		  "the same irqfd twice: -EBUSY");
	drv_check(IOC(ACRN_IOCTL_DESTROY_IOREQ_CLIENT, 0) == 0 &&
			  IOC(ACRN_IOCTL_ATTACH_IOREQ_CLIENT, 0) == -ENODEV,
		  "after DESTROY_IOREQ_CLIENT, ATTACH fails with -ENODEV");
	drv_check(IOC(ACRN_IOCTL_PAUSE_VM, 0) == 0 && IOC(ACRN_IOCTL_DESTROY_VM, 0) == 0 &&
			  IOC(ACRN_IOCTL_PAUSE_VM, 0) == -EINVAL,
		  "a paused VM is destroyed, and the fd has no VM after");
	sys.close(sys.ctx, fd);
	acrn_model_destroy(m);
	close(efd);
	close(pfd[0]);
	close(pfd[1]);
	munmap(page, 4096);
}

int main(void)
{
	char hsm[160];

	if (!mkdtemp(tmpdir) || acrn_model_register())
		return 99;
	drv_use_acrn_model();
	startup_error("acrn:/nonexistent/acrn_hsm", "open /nonexistent/acrn_hsm", "ENOENT");
	/* A node that is no HSM: the real ioctl path, refused by the kernel. */
	startup_error("acrn:/dev/null", "ACRN_IOCTL_CREATE_VM on /dev/null", "ENOTTY");
	snprintf(hsm, sizeof(hsm), "acrn:model:%s/memsize.sock", tmpdir);
	startup_error(hsm, "whole number of 4 KiB pages", "guest RAM");
	snprintf(hsm, sizeof(hsm), "acrn:model,refuse=CREATE_VM:%s/r.sock", tmpdir);
	startup_error(hsm, "ACRN_IOCTL_CREATE_VM", "EPERM");
	snprintf(hsm, sizeof(hsm), "acrn:model,refuse=SET_MEMSEG/12:%s/r.sock", tmpdir);
	startup_error(hsm, "ACRN_IOCTL_SET_MEMSEG", "ENOMEM");
	snprintf(hsm, sizeof(hsm), "acrn:model,refuse=CREATE_IOREQ_CLIENT/22:%s/r.sock", tmpdir);
	startup_error(hsm, "ACRN_IOCTL_CREATE_IOREQ_CLIENT", "EINVAL");

	snprintf(hsm, sizeof(hsm), "acrn:model,refuse=START_VM:%s/r.sock", tmpdir);
	startup_error(hsm, "ACRN_IOCTL_START_VM", "EPERM");
	char out[2048];
	int st;

	snprintf(hsm, sizeof(hsm), "acrn:model,refuse=ATTACH_IOREQ_CLIENT/5:%s/r.sock", tmpdir);
	st = vdm_run((const char *const[]){ "--hsm", hsm, "-s", "0:0,hostbridge", NULL }, out,
		     sizeof(out));
	drv_check(st == 1 && strstr(out, "ACRN_IOCTL_ATTACH_IOREQ_CLIENT failed") &&
			  strstr(out, "EIO"),
		  "when the HSM stops delivering requests vdm stops, exit 1, naming the call "
		  "(%d: %s)",
		  st, out);

	loop.ep = epoll_create1(EPOLL_CLOEXEC);
	loop.stop = eventfd(0, EFD_CLOEXEC);
	struct epoll_event sev = { .events = EPOLLIN, .data.fd = loop.stop };
	epoll_ctl(loop.ep, EPOLL_CTL_ADD, loop.stop, &sev);
	pthread_create(&loop.thread, NULL, loop_thread, NULL);
	vm_identity();
	backend();
	highmem();
	too_many_vcpus();
	(void)eventfd_write(loop.stop, 1);
	pthread_join(loop.thread, NULL);

	model_abi();
	rmdir(tmpdir);
	return drv_result();
}
