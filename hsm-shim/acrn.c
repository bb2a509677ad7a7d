/*
 * acrn.c - libhsm's acrn back-end: vdm as the device model of a User VM on
 * an ACRN Service VM, through the HSM driver (/dev/acrn_hsm, <linux/acrn.h>).
 *
 * It owns the VM's life on the HSM: CREATE_VM with the VM UUID and the
 * ioreq page, guest RAM (a memfd, huge pages when the host has them) mapped
 * into the guest with SET_MEMSEG, the default ioreq client and the thread
 * that serves it, native ioeventfds and (MSI) irqfds, MSI and INTx
 * injection, host PCI functions given to the VM (ASSIGN_PCIDEV and
 * SET_PTDEV_INTR, and their undo), and the shutdown sequence.  Every
 * kernel access goes through struct acrn_sys (acrn_internal.h), so tests
 * run this file unchanged against a user-space model of the HSM
 * (tests/acrn/acrn_model.c, a back-end of its own that only test programs
 * add).
 *
 * It does not load a guest or set vCPU registers (see README "Running on
 * ACRN").
 *
 * Spec: "acrn" or "acrn:DEVICE", DEVICE an absolute path (default
 * /dev/acrn_hsm).
 */
#include "acrn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define ACRN_DEFAULT_DEV "/dev/acrn_hsm"
#define ACRN_PAGE 4096UL
#define ACRN_HUGE_PAGE (2UL << 20)
/* Guest RAM above this goes above 4 GiB, leaving a hole for PCI MMIO (as
 * ACRN's own device model lays out a User VM). */
#define ACRN_LOWMEM_LIMIT (2ULL << 30)
#define ACRN_HIGHMEM_BASE (4ULL << 30)
#define ACRN_MAX_NOTIFIERS 256

struct acrn_ioeventfd_reg {
	struct acrn_ioeventfd ev;
	bool used;
};

struct acrn_irqfd_reg {
	struct acrn_irqfd irqfd;
	bool used;
};

struct acrn {
	struct acrn_sys sys;
	char dev[128];
	int fd;
	uint16_t vmid;
	unsigned vcpus;                     /* slots the client walks */
	struct acrn_io_request_buffer *iobuf; /* shared with the hypervisor */

	int memfd;
	void *ram;          /* guest RAM, then the firmware's memory, in one memfd */
	uint64_t ram_size;
	uint64_t fw_size;   /* firmware memory ending at 4 GiB, after RAM in the memfd */
	uint64_t mem_size;  /* both */

	bool vm_created, client_created, started, stopped;
	pthread_t client;
	bool client_running;
	/* A guest reboot holds the client: it serves no slot from
	 * HSM_REBOOT_PAUSE to HSM_REBOOT_RUN.  serving: it is walking the
	 * slots (and may notify); the reboot waits for it to stop. */
	pthread_mutex_t serve_lock;
	pthread_cond_t serve_cond;
	bool held, serving;
	int dead_efd;       /* the client thread gave up: tell the loop thread */
	bool dead_watched;

	/* Registered with the HSM; released at close if devices did not. */
	pthread_mutex_t reg_lock;
	struct acrn_ioeventfd_reg ioeventfds[ACRN_MAX_NOTIFIERS];
	struct acrn_irqfd_reg irqfds[ACRN_MAX_NOTIFIERS];

	unsigned bad_slots;  /* malformed requests seen, for rate-limited logs */
	bool intx_line_warned;
};

/* ---- the kernel seam ---- */

static int kernel_open(void *ctx, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int kernel_ioctl(void *ctx, int fd, unsigned long cmd, unsigned long arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static void kernel_close(void *ctx, int fd)
{
	close(fd);
}

const struct acrn_sys acrn_sys_kernel = { kernel_open, kernel_ioctl, kernel_close, NULL, NULL };

const char *acrn_ioctl_name(unsigned long cmd)
{
	switch (cmd) {
	case ACRN_IOCTL_CREATE_VM: return "ACRN_IOCTL_CREATE_VM";
	case ACRN_IOCTL_DESTROY_VM: return "ACRN_IOCTL_DESTROY_VM";
	case ACRN_IOCTL_START_VM: return "ACRN_IOCTL_START_VM";
	case ACRN_IOCTL_PAUSE_VM: return "ACRN_IOCTL_PAUSE_VM";
	case ACRN_IOCTL_RESET_VM: return "ACRN_IOCTL_RESET_VM";
	case ACRN_IOCTL_INJECT_MSI: return "ACRN_IOCTL_INJECT_MSI";
	case ACRN_IOCTL_SET_IRQLINE: return "ACRN_IOCTL_SET_IRQLINE";
	case ACRN_IOCTL_NOTIFY_REQUEST_FINISH: return "ACRN_IOCTL_NOTIFY_REQUEST_FINISH";
	case ACRN_IOCTL_CREATE_IOREQ_CLIENT: return "ACRN_IOCTL_CREATE_IOREQ_CLIENT";
	case ACRN_IOCTL_ATTACH_IOREQ_CLIENT: return "ACRN_IOCTL_ATTACH_IOREQ_CLIENT";
	case ACRN_IOCTL_DESTROY_IOREQ_CLIENT: return "ACRN_IOCTL_DESTROY_IOREQ_CLIENT";
	case ACRN_IOCTL_CLEAR_VM_IOREQ: return "ACRN_IOCTL_CLEAR_VM_IOREQ";
	case ACRN_IOCTL_SET_MEMSEG: return "ACRN_IOCTL_SET_MEMSEG";
	case ACRN_IOCTL_UNSET_MEMSEG: return "ACRN_IOCTL_UNSET_MEMSEG";
	case ACRN_IOCTL_IOEVENTFD: return "ACRN_IOCTL_IOEVENTFD";
	case ACRN_IOCTL_IRQFD: return "ACRN_IOCTL_IRQFD";
	case ACRN_IOCTL_SET_VCPU_REGS: return "ACRN_IOCTL_SET_VCPU_REGS";
	case ACRN_IOCTL_ASSIGN_PCIDEV: return "ACRN_IOCTL_ASSIGN_PCIDEV";
	case ACRN_IOCTL_DEASSIGN_PCIDEV: return "ACRN_IOCTL_DEASSIGN_PCIDEV";
	case ACRN_IOCTL_SET_PTDEV_INTR: return "ACRN_IOCTL_SET_PTDEV_INTR";
	case ACRN_IOCTL_RESET_PTDEV_INTR: return "ACRN_IOCTL_RESET_PTDEV_INTR";
	default: return "ACRN_IOCTL_(unknown)";
	}
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "?";
}

static struct acrn *acrn_of(struct hsm_vm *vm)
{
	return vm->priv;
}

static int acrn_ioctl(struct acrn *a, unsigned long cmd, unsigned long arg)
{
	return a->sys.ioctl(a->sys.ctx, a->fd, cmd, arg);
}

/* An ioctl whose failure is a one-line start-up error naming it and errno. */
static int setup_ioctl(struct acrn *a, unsigned long cmd, void *arg, char *errbuf, size_t errlen)
{
	int ret = acrn_ioctl(a, cmd, (unsigned long)arg);

	if (ret < 0)
		snprintf(errbuf, errlen, "ioctl %s on %s failed: %s (%s)", acrn_ioctl_name(cmd),
			 a->dev, strerror(-ret), errname(-ret));
	return ret < 0 ? ret : 0;
}

/* A teardown ioctl: failures are logged, and teardown goes on. */
static void teardown_ioctl(struct hsm_vm *vm, unsigned long cmd, unsigned long arg)
{
	struct acrn *a = acrn_of(vm);
	int ret = acrn_ioctl(a, cmd, arg);

	if (ret < 0)
		hsm_log(vm, HSM_LOG_WARN, "acrn: %s failed: %s (%s)", acrn_ioctl_name(cmd), strerror(-ret),
			errname(-ret));
}

/* ---- the ioreq client ---- */

static void log_bad_slot(struct hsm_vm *vm, unsigned vcpu, const struct acrn_io_request *s,
			 const char *why)
{
	struct acrn *a = acrn_of(vm);

	/* Rate limit: a misbehaving hypervisor must not flood the log. */
	a->bad_slots++;
	if (a->bad_slots <= 10 || a->bad_slots % 1000 == 0)
		hsm_log(vm, HSM_LOG_WARN,
			"acrn: vCPU %u: malformed I/O request (%s; type %u); completed with "
			"all-ones (%u so far)",
			vcpu, why, s->type, a->bad_slots);
}

static bool valid_size(uint64_t size, uint64_t max)
{
	return (size == 1 || size == 2 || size == 4 || size == 8) && size <= max;
}

/*
 * Translate a snapshot of a slot (hypervisor-written, so hostile) into an
 * hsm_ioreq.  Returns NULL when it is fine, or why it is not.
 */
static const char *slot_to_ioreq(const struct acrn_io_request *s, struct hsm_ioreq *r)
{
	const struct acrn_pio_request *pio = &s->reqs.pio_request;
	const struct acrn_mmio_request *mmio = &s->reqs.mmio_request;
	const struct acrn_pci_request *pci = &s->reqs.pci_request;
	uint32_t dir;

	memset(r, 0, sizeof(*r));
	switch (s->type) {
	case ACRN_IOREQ_TYPE_PORTIO:
		dir = pio->direction;
		if (!valid_size(pio->size, 4))
			return "bad port I/O size";
		if (pio->address > 0xffff || pio->address + pio->size > 0x10000)
			return "port outside the 64 KiB I/O space";
		*r = (struct hsm_ioreq){ .space = HSM_IO_PIO, .addr = pio->address,
					 .size = (uint32_t)pio->size, .data = pio->value };
		break;
	case ACRN_IOREQ_TYPE_MMIO:
		dir = mmio->direction;
		if (!valid_size(mmio->size, 8))
			return "bad MMIO size";
		if (mmio->address + mmio->size - 1 < mmio->address)
			return "MMIO access wraps around";
		*r = (struct hsm_ioreq){ .space = HSM_IO_MMIO, .addr = mmio->address,
					 .size = (uint32_t)mmio->size, .data = mmio->value };
		break;
	case ACRN_IOREQ_TYPE_PCICFG:
		dir = pci->direction;
		if (!valid_size(pci->size, 4))
			return "bad PCI config size";
		if (pci->bus > 0xff || pci->dev > 0x1f || pci->func > 7)
			return "bad bus/device/function";
		/* Config space is 4 KiB per function; an access never crosses its end. */
		if (pci->reg >= 4096 || pci->reg + pci->size > 4096)
			return "config register past 4 KiB";
		*r = (struct hsm_ioreq){ .space = HSM_IO_PCICFG, .addr = pci->reg,
					 .size = (uint32_t)pci->size, .data = pci->value,
					 .bdf = hsm_bdf(pci->bus, pci->dev, pci->func) };
		break;
	default:
		return "unknown request type";
	}
	if (dir != ACRN_IOREQ_DIR_READ && dir != ACRN_IOREQ_DIR_WRITE)
		return "bad direction";
	r->dir = dir == ACRN_IOREQ_DIR_WRITE ? HSM_IO_WRITE : HSM_IO_READ;
	if (r->dir == HSM_IO_READ)
		r->data = 0;
	return NULL;
}

/* Store a read's result in the live slot.  pio, pci and mmio requests all
 * keep their value at byte 24 of the union; pio and pci values are 32 bits. */
static void complete_read(struct acrn_io_request *slot, uint32_t type, uint64_t data)
{
	if (type == ACRN_IOREQ_TYPE_MMIO)
		slot->reqs.mmio_request.value = data;
	else if (type == ACRN_IOREQ_TYPE_PORTIO)
		slot->reqs.pio_request.value = (uint32_t)data;
	else if (type == ACRN_IOREQ_TYPE_PCICFG)
		slot->reqs.pci_request.value = (uint32_t)data;
	else
		slot->reqs.mmio_request.value = ~0ULL; /* unknown type: all-ones at byte 24 */
}

static void serve_slot(struct hsm_vm *vm, unsigned vcpu)
{
	struct acrn *a = acrn_of(vm);
	struct acrn_io_request *slot = &a->iobuf->req_slot[vcpu];
	struct acrn_io_request snap;
	struct hsm_ioreq req;
	const char *why;

	/*
	 * Acquire: pairs with the HSM's release store of PROCESSING, so the
	 * request fields the hypervisor wrote before it are visible below.
	 */
	if (__atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) != ACRN_IOREQ_STATE_PROCESSING)
		return;
	/* Requests an in-kernel client (ioeventfd, PCI host bridge) owns. */
	if (__atomic_load_n(&slot->kernel_handled, __ATOMIC_RELAXED))
		return;
	/* One copy, validated once: the shared page may change under us. */
	memcpy(&snap, slot, sizeof(snap));
	why = slot_to_ioreq(&snap, &req);
	if (why) {
		log_bad_slot(vm, vcpu, &snap, why);
		complete_read(slot, snap.type, ~0ULL);
	} else {
		/* -ESHUTDOWN while vdm stops: reads then carry all-ones.
		 * -ECANCELED: a reboot dropped it; CLEAR_VM_IOREQ completes
		 * it, and the slot is no longer ours to write or notify. */
		if (hsm_forward_ioreq(vm, &req) == -ECANCELED)
			return;
		if (req.dir == HSM_IO_READ)
			complete_read(slot, snap.type, req.data);
	}
	/*
	 * The HSM, not the device model, moves the slot to COMPLETE (a release
	 * store in the kernel, after which the hypervisor may reuse the slot);
	 * the value written above is ordered before it by this system call.
	 * Writing COMPLETE here would let a polling hypervisor refill the slot
	 * before the kernel's own store, which would then complete the new
	 * request unseen.
	 */
	struct acrn_ioreq_notify n = { .vmid = a->vmid, .vcpu = vcpu };
	int ret = acrn_ioctl(a, ACRN_IOCTL_NOTIFY_REQUEST_FINISH, (unsigned long)&n);

	if (ret < 0)
		hsm_log(vm, HSM_LOG_ERR, "acrn: %s for vCPU %u failed: %s",
			acrn_ioctl_name(ACRN_IOCTL_NOTIFY_REQUEST_FINISH), vcpu, strerror(-ret));
}

/* The default ioreq client: wait for requests, serve every vCPU's slot. */
static void *client_thread(void *arg)
{
	struct hsm_vm *vm = arg;
	struct acrn *a = acrn_of(vm);

	for (;;) {
		/* Returns once a request is assigned to this client; -ENODEV once
		 * DESTROY_IOREQ_CLIENT ran (the way out at shutdown). */
		int ret = acrn_ioctl(a, ACRN_IOCTL_ATTACH_IOREQ_CLIENT, 0);

		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			/* -ENODEV is the way out only when acrn_stop asked for it. */
			if (ret != -ENODEV || !__atomic_load_n(&a->stopped, __ATOMIC_ACQUIRE)) {
				hsm_log(vm, HSM_LOG_ERR, "acrn: %s failed: %s (%s); no more I/O requests are "
					       "served",
					acrn_ioctl_name(ACRN_IOCTL_ATTACH_IOREQ_CLIENT),
					strerror(-ret), errname(-ret));
				/* A guest nobody serves hangs: stop vdm instead. */
				(void)eventfd_write(a->dead_efd, 1);
			}
			break;
		}
		/* Held by a reboot: the slots are the reboot's until it runs
		 * the VM again (wait here rather than spin in ATTACH, which
		 * returns at once while cleared requests are still pending). */
		pthread_mutex_lock(&a->serve_lock);
		if (a->held) {
			while (a->held && !__atomic_load_n(&a->stopped, __ATOMIC_ACQUIRE))
				pthread_cond_wait(&a->serve_cond, &a->serve_lock);
			/* What this ATTACH returned for was cleared: attach
			 * again, for the requests of the restarted vCPUs. */
			pthread_mutex_unlock(&a->serve_lock);
			continue;
		}
		a->serving = true;
		pthread_mutex_unlock(&a->serve_lock);
		for (unsigned i = 0; i < a->vcpus && !__atomic_load_n(&a->held, __ATOMIC_ACQUIRE); i++)
			serve_slot(vm, i);
		pthread_mutex_lock(&a->serve_lock);
		a->serving = false;
		pthread_cond_broadcast(&a->serve_cond);
		pthread_mutex_unlock(&a->serve_lock);
	}
	return NULL;
}

/*
 * Take the slots from the client for a reboot, after PAUSE_VM and before
 * CLEAR_VM_IOREQ, as acrn-dm orders it (one thread there notifies and
 * resets, and requests it handles once a reset is asked for are left to
 * the clear): requests still queued for the loop thread (this thread) are
 * dropped, and the client finishes the slot it is on without notifying
 * it.  Once this returns no NOTIFY_REQUEST_FINISH can come until
 * release_client: none can complete a request the clear already
 * completed, or the next one a restarted vCPU puts in its slot.
 */
static void hold_client(struct acrn *a, struct hsm_vm *vm)
{
	pthread_mutex_lock(&a->serve_lock);
	__atomic_store_n(&a->held, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&a->serve_lock);
	/* After held is set: a request forwarded from now on is dropped at once. */
	hsm_forwarder_hold(vm, true);
	pthread_mutex_lock(&a->serve_lock);
	while (a->serving)
		pthread_cond_wait(&a->serve_cond, &a->serve_lock);
	pthread_mutex_unlock(&a->serve_lock);
}

static void release_client(struct acrn *a, struct hsm_vm *vm)
{
	hsm_forwarder_hold(vm, false);
	pthread_mutex_lock(&a->serve_lock);
	__atomic_store_n(&a->held, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&a->serve_cond);
	pthread_mutex_unlock(&a->serve_lock);
}

/* ---- guest RAM ---- */

/* A memfd for guest RAM: huge pages when the host has enough reserved. */
static int alloc_ram(struct hsm_vm *vm, struct acrn *a, char *errbuf, size_t errlen)
{
	if (a->mem_size % ACRN_HUGE_PAGE == 0) {
		a->memfd = memfd_create("vdm-guest-ram", MFD_CLOEXEC | MFD_HUGETLB);
		if (a->memfd >= 0 && ftruncate(a->memfd, (off_t)a->mem_size) == 0) {
			/* MAP_POPULATE makes a short huge-page pool fail here rather
			 * than as SIGBUS later. */
			a->ram = mmap(NULL, a->mem_size, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_POPULATE, a->memfd, 0);
			if (a->ram != MAP_FAILED) {
				hsm_log(vm, HSM_LOG_INFO, "acrn: guest RAM on 2 MiB huge pages");
				return 0;
			}
		}
		if (a->memfd >= 0)
			close(a->memfd);
	}
	a->memfd = memfd_create("vdm-guest-ram", MFD_CLOEXEC);
	if (a->memfd < 0 || ftruncate(a->memfd, (off_t)a->mem_size)) {
		snprintf(errbuf, errlen, "cannot allocate %llu bytes of guest RAM: %s",
			 (unsigned long long)a->mem_size, strerror(errno));
		return -errno;
	}
	a->ram = mmap(NULL, a->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, a->memfd, 0);
	if (a->ram == MAP_FAILED) {
		snprintf(errbuf, errlen, "cannot map guest RAM: %s", strerror(errno));
		return -errno;
	}
	hsm_log(vm, HSM_LOG_INFO, "acrn: guest RAM on 4 KiB pages (no huge pages available)");
	return 0;
}

static int map_segment(struct hsm_vm *vm, uint64_t gpa, uint64_t off, uint64_t len,
		       char *errbuf, size_t errlen)
{
	struct acrn *a = acrn_of(vm);
	struct acrn_vm_memmap mm = {
		.type = ACRN_MEMMAP_RAM,
		.attr = ACRN_MEM_ACCESS_RWX,
		.user_vm_pa = gpa,
		.vma_base = (uint64_t)(uintptr_t)a->ram + off,
		.len = len,
	};
	int ret = setup_ioctl(a, ACRN_IOCTL_SET_MEMSEG, &mm, errbuf, errlen);

	if (ret)
		return ret;
	ret = hsm_add_region(vm, gpa, len, (uint8_t *)a->ram + off, a->memfd, off);
	if (ret)
		snprintf(errbuf, errlen, "guest memory map: %s", strerror(-ret));
	return ret;
}

/* ---- open, start, stop, close ---- */

int acrn_open_sys(struct hsm_vm *vm, const char *dev, const struct acrn_sys *sys, char *errbuf,
		  size_t errlen)
{
	struct acrn *a;
	int ret;

	a = calloc(1, sizeof(*a));
	if (!a) {
		if (sys->release)
			sys->release(sys->ctx);
		return -ENOMEM;
	}
	a->fd = -1;
	a->memfd = -1;
	a->dead_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->ram = MAP_FAILED;
	a->ram_size = vm->cfg.ram_size;
	a->fw_size = vm->cfg.fw_size;
	a->mem_size = a->ram_size + a->fw_size;
	a->sys = *sys;
	pthread_mutex_init(&a->reg_lock, NULL);
	pthread_mutex_init(&a->serve_lock, NULL);
	pthread_cond_init(&a->serve_cond, NULL);
	vm->priv = a;
	if (a->dead_efd < 0) {
		ret = -errno;
		goto err;
	}

	if (a->ram_size < HSM_ACRN_MIN_RAM) {
		snprintf(errbuf, errlen, "%llu MiB of guest RAM is below ACRN's minimum of 128 MiB "
					 "(acrn-dm's)",
			 (unsigned long long)(a->ram_size >> 20));
		ret = -EINVAL;
		goto err;
	}
	if (a->ram_size % ACRN_PAGE) {
		snprintf(errbuf, errlen, "guest RAM must be a whole number of 4 KiB pages");
		ret = -EINVAL;
		goto err;
	}
	if (a->fw_size % ACRN_HUGE_PAGE || a->fw_size > ACRN_HIGHMEM_BASE - ACRN_LOWMEM_LIMIT) {
		snprintf(errbuf, errlen, "firmware memory must be whole 2 MiB pages below 4 GiB");
		ret = -EINVAL;
		goto err;
	}
	if (strlen(dev) >= sizeof(a->dev)) {
		snprintf(errbuf, errlen, "device path too long: %s", dev);
		ret = -ENAMETOOLONG;
		goto err;
	}
	snprintf(a->dev, sizeof(a->dev), "%s", dev);
	ret = a->sys.open(a->sys.ctx, a->dev);
	if (ret < 0) {
		snprintf(errbuf, errlen, "open %s failed: %s (%s)%s", a->dev, strerror(-ret),
			 errname(-ret),
			 ret == -ENOENT ? "; is this an ACRN Service VM with the HSM driver loaded?"
					: "");
		goto err;
	}
	a->fd = ret;

	/* The ioreq page: one page, page-aligned, because the kernel pins and
	 * hands the hypervisor the whole page that holds the address. */
	a->iobuf = mmap(NULL, ACRN_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (a->iobuf == MAP_FAILED) {
		a->iobuf = NULL;
		ret = -errno;
		snprintf(errbuf, errlen, "cannot allocate the ioreq page: %s", strerror(errno));
		goto err;
	}

	struct acrn_vm_creation cv = { .ioreq_buf = (uint64_t)(uintptr_t)a->iobuf };
	/* The field <linux/acrn.h> calls uuid holds the VM's name for
	 * hypervisors that look VMs up by name (acrn-dm fills it so), the
	 * UUID for older ones. */
	_Static_assert(sizeof(cv.uuid) == sizeof(vm->cfg.uuid), "uuid size");
	if (vm->cfg.vm_name)
		strncpy((char *)&cv.uuid, vm->cfg.vm_name, sizeof(cv.uuid) - 1);
	else
		memcpy(&cv.uuid, vm->cfg.uuid, sizeof(cv.uuid));
	cv.cpu_affinity = vm->cfg.cpu_affinity;
	ret = setup_ioctl(a, ACRN_IOCTL_CREATE_VM, &cv, errbuf, errlen);
	if (ret == -EINVAL) {
		size_t used = strlen(errbuf);

		/* The hypervisor found no VM of that name or UUID to create. */
		snprintf(errbuf + used, errlen - used,
			 "; does the hypervisor's configuration have a post-launched VM %s%s?",
			 vm->cfg.vm_name ? "named " : "with this UUID",
			 vm->cfg.vm_name ? vm->cfg.vm_name : "");
	}
	if (ret)
		goto err;
	a->vm_created = true;
	a->vmid = cv.vmid;
	/* vcpu_num is hypervisor output: never walk past the 16 slots. */
	a->vcpus = cv.vcpu_num;
	if (a->vcpus == 0 || a->vcpus > ACRN_IO_REQUEST_MAX) {
		hsm_log(vm, HSM_LOG_WARN, "acrn: hypervisor reports %u vCPUs; serving %u ioreq slots",
			cv.vcpu_num, ACRN_IO_REQUEST_MAX);
		a->vcpus = ACRN_IO_REQUEST_MAX;
	}

	ret = alloc_ram(vm, a, errbuf, errlen);
	if (ret)
		goto err;
	if (a->ram_size <= ACRN_LOWMEM_LIMIT) {
		ret = map_segment(vm, 0, 0, a->ram_size, errbuf, errlen);
	} else {
		ret = map_segment(vm, 0, 0, ACRN_LOWMEM_LIMIT, errbuf, errlen);
		if (!ret)
			ret = map_segment(vm, ACRN_HIGHMEM_BASE, ACRN_LOWMEM_LIMIT,
					  a->ram_size - ACRN_LOWMEM_LIMIT, errbuf, errlen);
	}
	/* The firmware's memory ends at 4 GiB, where the reset vector is (as
	 * acrn-dm maps its "bios" memory for OVMF). */
	if (!ret && a->fw_size)
		ret = map_segment(vm, ACRN_HIGHMEM_BASE - a->fw_size, a->ram_size, a->fw_size,
				  errbuf, errlen);
	if (ret)
		goto err;

	ret = setup_ioctl(a, ACRN_IOCTL_CREATE_IOREQ_CLIENT, NULL, errbuf, errlen);
	if (ret)
		goto err;
	a->client_created = true;
	hsm_log(vm, HSM_LOG_INFO, "acrn: VM %u created on %s, %u vCPU ioreq slots", a->vmid, a->dev,
		a->vcpus);
	return 0;

err:
	vm->ops->close(vm);
	return ret;
}

/* On the loop thread: the client thread stopped for good. */
static void client_died(void *arg, int fd, uint32_t events)
{
	struct hsm_vm *vm = arg;
	eventfd_t count;

	if (eventfd_read(fd, &count))
		return;
	if (vm->cfg.hv_exited)
		vm->cfg.hv_exited(vm->cfg.ioreq_opaque, 1, false);
}

/*
 * The boot CPU's entry (SET_VCPU_REGS for vCPU 0): 32-bit protected mode,
 * paging off, CS a flat execute/read segment (VMX access rights: type 0xb,
 * S, present, 32-bit, 4 KiB granularity), the data selectors into the
 * loader's GDT, interrupts off.
 */
static int acrn_set_boot_cpu(struct hsm_vm *vm, const struct hsm_boot_cpu *cpu, char *errbuf,
			     size_t errlen)
{
	struct acrn *a = vm->priv;
	struct acrn_vcpu_regs r = { .vcpu_id = 0 };
	struct acrn_regs *g = &r.vcpu_regs;

	if (cpu->reset_vector) {
		/* acrn-dm's OVMF start (sw_load_ovmf.c): real mode, CR0 ET|NE,
		 * CS a present read/execute code segment. */
		g->cr0 = 0x30;
		g->cs_ar = 0x009f;
		g->cs_sel = cpu->cs_sel;
		g->cs_limit = 0xffff;
		g->cs_base = cpu->cs_base;
		g->rip = cpu->rip;
		return setup_ioctl(a, ACRN_IOCTL_SET_VCPU_REGS, &r, errbuf, errlen);
	}
	g->gprs.rsi = cpu->rsi;
	g->gdt.base = cpu->gdt_base;
	g->gdt.limit = cpu->gdt_limit;
	g->rip = cpu->rip;
	g->cs_base = 0;
	g->cs_limit = 0xffffffffu;
	g->cs_ar = 0xc09b;
	g->cr0 = 0x31; /* PE, ET, NE */
	g->rflags = 0x2;
	g->cs_sel = cpu->cs_sel;
	g->ds_sel = g->es_sel = g->ss_sel = g->fs_sel = g->gs_sel = cpu->ds_sel;
	return setup_ioctl(a, ACRN_IOCTL_SET_VCPU_REGS, &r, errbuf, errlen);
}

static int acrn_pulse_irq(struct hsm_vm *vm, uint32_t gsi)
{
	struct acrn *a = acrn_of(vm);
	int ret;

	if (gsi >= 16)
		return -EINVAL; /* ISA lines only: PCI's are levels (acrn_set_intx) */
	ret = acrn_ioctl(a, ACRN_IOCTL_SET_IRQLINE,
			 (unsigned long)gsi | (unsigned long)ACRN_GSI_RAISING_PULSE << 32);
	return ret < 0 ? ret : 0;
}

/* An ISA line held: acrn-dm's RTC raises IRQ 8 with GSI_SET_HIGH and
 * releases it with GSI_SET_LOW (vrtc_set_reg_c in hw/platform/rtc.c). */
static int acrn_set_isa_irq(struct hsm_vm *vm, uint32_t gsi, bool high)
{
	uint32_t op = high ? ACRN_GSI_SET_HIGH : ACRN_GSI_SET_LOW;
	int ret;

	if (gsi >= 16)
		return -EINVAL; /* ISA lines only */
	ret = acrn_ioctl(acrn_of(vm), ACRN_IOCTL_SET_IRQLINE,
			 (unsigned long)gsi | (unsigned long)op << 32);
	return ret < 0 ? ret : 0;
}

static unsigned acrn_vcpu_count(struct hsm_vm *vm)
{
	return ((struct acrn *)vm->priv)->vcpus;
}

/* A guest reboot's steps (hsm_reboot), as acrn-dm takes them. */
static int acrn_reboot(struct hsm_vm *vm, enum hsm_reboot_step step, char *errbuf, size_t errlen)
{
	struct acrn *a = vm->priv;
	int ret;

	switch (step) {
	case HSM_REBOOT_PAUSE:
		ret = setup_ioctl(a, ACRN_IOCTL_PAUSE_VM, NULL, errbuf, errlen);
		if (ret)
			return ret;
		/* No new request lands in a slot now; take the slots from the
		 * client before the clear (hold_client says why). */
		hold_client(a, vm);
		/* The paused vCPUs' requests will not be completed: the
		 * hypervisor resets them with the VM. */
		return setup_ioctl(a, ACRN_IOCTL_CLEAR_VM_IOREQ, NULL, errbuf, errlen);
	case HSM_REBOOT_RESET:
		return setup_ioctl(a, ACRN_IOCTL_RESET_VM, NULL, errbuf, errlen);
	case HSM_REBOOT_RUN:
		/* The slots are all free again (RESET_VM): the client serves
		 * the requests the restarted vCPUs make. */
		release_client(a, vm);
		return setup_ioctl(a, ACRN_IOCTL_START_VM, NULL, errbuf, errlen);
	}
	return -EINVAL;
}

static int acrn_start(struct hsm_vm *vm, char *errbuf, size_t errlen)
{
	struct acrn *a = acrn_of(vm);
	int ret;

	ret = vm->cfg.loop.add_fd(vm->cfg.loop.loop, a->dead_efd, EPOLLIN, client_died, vm);
	if (ret) {
		snprintf(errbuf, errlen, "acrn: cannot watch the ioreq client: %s", strerror(-ret));
		return ret;
	}
	a->dead_watched = true;
	if (pthread_create(&a->client, NULL, client_thread, vm)) {
		snprintf(errbuf, errlen, "acrn: cannot start the ioreq client thread");
		return -EAGAIN;
	}
	a->client_running = true;
	/* Devices are all registered and the client is waiting: let vCPUs run. */
	ret = setup_ioctl(a, ACRN_IOCTL_START_VM, NULL, errbuf, errlen);
	if (ret)
		return ret;
	a->started = true;
	return 0;
}

/*
 * Stop the guest and request delivery, before the devices go away.  The
 * order follows what the hypervisor and the HSM require:
 *  1. PAUSE_VM: vCPUs stop, so no new request lands in a slot;
 *  2. release a request the client may still be forwarding to the (stopped)
 *     loop thread: it completes with all-ones;
 *  3. DESTROY_IOREQ_CLIENT: the blocked ATTACH_IOREQ_CLIENT returns -ENODEV;
 *  4. join the client thread.
 * The devices then unregister their ioeventfds and irqfds against a paused
 * VM, and close() destroys it.  RESET_VM is not part of shutdown: the
 * hypervisor resets a paused VM only to run it again (a reboot), and
 * DESTROY_VM of a paused VM releases everything a reset would.
 */
static void acrn_stop(struct hsm_vm *vm)
{
	struct acrn *a = acrn_of(vm);

	if (!a || a->stopped)
		return;
	/* Release: pairs with the client thread's acquire after ATTACH fails. */
	__atomic_store_n(&a->stopped, true, __ATOMIC_RELEASE);
	/* A client held by a failed reboot waits for this. */
	pthread_mutex_lock(&a->serve_lock);
	pthread_cond_broadcast(&a->serve_cond);
	pthread_mutex_unlock(&a->serve_lock);
	if (a->vm_created)
		teardown_ioctl(vm, ACRN_IOCTL_PAUSE_VM, 0);
	hsm_forwarder_shutdown(vm);
	if (a->client_created) {
		teardown_ioctl(vm, ACRN_IOCTL_DESTROY_IOREQ_CLIENT, 0);
		a->client_created = false;
	}
	if (a->client_running) {
		pthread_join(a->client, NULL);
		a->client_running = false;
	}
}

static void acrn_close(struct hsm_vm *vm)
{
	struct acrn *a = acrn_of(vm);

	if (!a)
		return;
	acrn_stop(vm);
	if (a->vm_created) {
		/* What devices left registered; DESTROY_VM would drop them too,
		 * but say goodbye explicitly while the VM exists. */
		for (int i = 0; i < ACRN_MAX_NOTIFIERS; i++) {
			if (a->ioeventfds[i].used) {
				struct acrn_ioeventfd ev = a->ioeventfds[i].ev;

				ev.flags |= ACRN_IOEVENTFD_FLAG_DEASSIGN;
				teardown_ioctl(vm, ACRN_IOCTL_IOEVENTFD, (unsigned long)&ev);
				a->ioeventfds[i].used = false;
			}
			if (a->irqfds[i].used) {
				struct acrn_irqfd f = a->irqfds[i].irqfd;

				f.flags |= ACRN_IRQFD_FLAG_DEASSIGN;
				teardown_ioctl(vm, ACRN_IOCTL_IRQFD, (unsigned long)&f);
				a->irqfds[i].used = false;
			}
		}
		/* The hypervisor destroys only a paused VM (acrn_stop paused it);
		 * the HSM then unmaps guest RAM and unpins the ioreq page. */
		teardown_ioctl(vm, ACRN_IOCTL_DESTROY_VM, 0);
		a->vm_created = false;
	}
	if (a->fd >= 0)
		a->sys.close(a->sys.ctx, a->fd);
	hsm_clear_regions(vm);
	/* Only now: the kernel had these pages pinned until DESTROY_VM. */
	if (a->ram != MAP_FAILED)
		munmap(a->ram, a->mem_size);
	if (a->memfd >= 0)
		close(a->memfd);
	if (a->iobuf)
		munmap(a->iobuf, ACRN_PAGE);
	/* Last: a stand-in for the kernel (tests) goes when nothing uses it. */
	if (a->sys.release)
		a->sys.release(a->sys.ctx);
	if (a->dead_watched)
		vm->cfg.loop.del_fd(vm->cfg.loop.loop, a->dead_efd);
	if (a->dead_efd >= 0)
		close(a->dead_efd);
	pthread_mutex_destroy(&a->reg_lock);
	pthread_mutex_destroy(&a->serve_lock);
	pthread_cond_destroy(&a->serve_cond);
	free(a);
	vm->priv = NULL;
}

static int acrn_open(struct hsm_vm *vm, const char *arg, char *errbuf, size_t errlen)
{
	return acrn_open_sys(vm, arg && *arg ? arg : ACRN_DEFAULT_DEV, &acrn_sys_kernel, errbuf,
			     errlen);
}

/* A device node is named by its absolute path; anything else is not this
 * back-end's (a test program's stand-in may take it). */
static bool acrn_takes(const char *arg)
{
	return !arg || !*arg || *arg == '/';
}

const struct acrn_sys *acrn_sys_of(struct hsm_vm *vm)
{
	if (!vm || vm->ops->close != acrn_close || !vm->priv)
		return NULL;
	return &acrn_of(vm)->sys;
}

/* ---- notifications ---- */

static struct acrn_ioeventfd to_acrn_ioeventfd(const struct hsm_ioeventfd *ev, int fd)
{
	struct acrn_ioeventfd a = { .fd = (uint32_t)fd, .addr = ev->addr, .len = ev->len };

	if (ev->space == HSM_IO_PIO)
		a.flags |= ACRN_IOEVENTFD_FLAG_PIO;
	if (ev->datamatch) {
		a.flags |= ACRN_IOEVENTFD_FLAG_DATAMATCH;
		a.data = ev->data;
	}
	/*
	 * libhsm's len 0 means "any width".  The HSM takes 1/2/4/8 only, claims
	 * the whole [addr, addr + len) range, and matches accesses no wider than
	 * len: 4 covers the 1-, 2- and 4-byte writes virtio drivers kick with
	 * without reaching into a neighbouring register.
	 */
	if (a.len == 0)
		a.len = 4;
	return a;
}

static int acrn_ioeventfd_add(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd)
{
	struct acrn *a = acrn_of(vm);
	struct acrn_ioeventfd aev = to_acrn_ioeventfd(ev, fd);
	struct acrn_ioeventfd_reg *slot = NULL;
	int ret;

	pthread_mutex_lock(&a->reg_lock);
	for (int i = 0; i < ACRN_MAX_NOTIFIERS && !slot; i++)
		if (!a->ioeventfds[i].used)
			slot = &a->ioeventfds[i];
	ret = slot ? acrn_ioctl(a, ACRN_IOCTL_IOEVENTFD, (unsigned long)&aev) : -ENOSPC;
	if (ret >= 0) {
		slot->ev = aev;
		slot->used = true;
		ret = 0;
	}
	pthread_mutex_unlock(&a->reg_lock);
	if (ret)
		hsm_log(vm, HSM_LOG_WARN, "acrn: %s at %#llx: %s", acrn_ioctl_name(ACRN_IOCTL_IOEVENTFD),
			(unsigned long long)ev->addr, strerror(-ret));
	return ret;
}

/*
 * The HSM's DEASSIGN names only the eventfd and drops its oldest
 * registration, whatever the address.  A transitional virtio device kicks
 * one eventfd from two places (modern notify and legacy port), so removing
 * one of them is: drop every registration of the eventfd, then put back
 * the ones that stay.
 */
static int acrn_ioeventfd_del(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd)
{
	struct acrn *a = acrn_of(vm);
	struct acrn_ioeventfd aev = to_acrn_ioeventfd(ev, fd);
	struct acrn_ioeventfd_reg *target = NULL;
	int ret = 0, nsame = 0;

	pthread_mutex_lock(&a->reg_lock);
	for (int i = 0; i < ACRN_MAX_NOTIFIERS; i++) {
		struct acrn_ioeventfd_reg *r = &a->ioeventfds[i];

		if (!r->used || r->ev.fd != aev.fd)
			continue;
		nsame++;
		if (!target && !memcmp(&r->ev, &aev, sizeof(aev)))
			target = r;
	}
	if (!target) {
		pthread_mutex_unlock(&a->reg_lock);
		return -ENOENT;
	}
	aev.flags |= ACRN_IOEVENTFD_FLAG_DEASSIGN;
	for (int i = 0; i < nsame && ret >= 0; i++)
		ret = acrn_ioctl(a, ACRN_IOCTL_IOEVENTFD, (unsigned long)&aev);
	target->used = false;
	for (int i = 0; i < ACRN_MAX_NOTIFIERS; i++) {
		struct acrn_ioeventfd_reg *r = &a->ioeventfds[i];
		int again;

		if (!r->used || r->ev.fd != aev.fd)
			continue;
		again = acrn_ioctl(a, ACRN_IOCTL_IOEVENTFD, (unsigned long)&r->ev);
		if (again < 0) {
			hsm_log(vm, HSM_LOG_ERR, "acrn: cannot restore the ioeventfd at %#llx: %s",
				(unsigned long long)r->ev.addr, strerror(-again));
			r->used = false;
		}
	}
	pthread_mutex_unlock(&a->reg_lock);
	return ret < 0 ? ret : 0;
}

static int acrn_irqfd_add(struct hsm_vm *vm, const struct hsm_irq *irq, int fd)
{
	struct acrn *a = acrn_of(vm);
	struct acrn_irqfd f = { .fd = fd, .msi = { irq->msi_addr, irq->msi_data } };
	struct acrn_irqfd_reg *slot = NULL;
	int ret;

	/* The HSM's irqfds carry an MSI message; INTx has no irqfd on ACRN. */
	if (irq->kind != HSM_IRQ_MSI)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&a->reg_lock);
	for (int i = 0; i < ACRN_MAX_NOTIFIERS; i++) {
		if (a->irqfds[i].used && a->irqfds[i].irqfd.fd == fd) {
			pthread_mutex_unlock(&a->reg_lock);
			return -EEXIST;
		}
		if (!a->irqfds[i].used && !slot)
			slot = &a->irqfds[i];
	}
	ret = slot ? acrn_ioctl(a, ACRN_IOCTL_IRQFD, (unsigned long)&f) : -ENOSPC;
	if (ret >= 0) {
		slot->irqfd = f;
		slot->used = true;
		ret = 0;
	}
	pthread_mutex_unlock(&a->reg_lock);
	if (ret)
		hsm_log(vm, HSM_LOG_WARN, "acrn: %s: %s", acrn_ioctl_name(ACRN_IOCTL_IRQFD), strerror(-ret));
	return ret;
}

static int acrn_irqfd_del(struct hsm_vm *vm, int fd)
{
	struct acrn *a = acrn_of(vm);
	int ret = -ENOENT;

	pthread_mutex_lock(&a->reg_lock);
	for (int i = 0; i < ACRN_MAX_NOTIFIERS; i++) {
		if (a->irqfds[i].used && a->irqfds[i].irqfd.fd == fd) {
			struct acrn_irqfd f = a->irqfds[i].irqfd;

			f.flags |= ACRN_IRQFD_FLAG_DEASSIGN;
			ret = acrn_ioctl(a, ACRN_IOCTL_IRQFD, (unsigned long)&f);
			a->irqfds[i].used = false;
			break;
		}
	}
	pthread_mutex_unlock(&a->reg_lock);
	return ret < 0 ? ret : 0;
}

static int acrn_inject_msi(struct hsm_vm *vm, uint64_t addr, uint32_t data)
{
	struct acrn_msi_entry msi = { .msi_addr = addr, .msi_data = data };
	int ret = acrn_ioctl(acrn_of(vm), ACRN_IOCTL_INJECT_MSI, (unsigned long)&msi);

	return ret < 0 ? ret : 0;
}

/*
 * INTx: the hypervisor's virtual IOAPIC pin is the GSI the guest programmed
 * into the function's interrupt line register (vdm writes no ACPI tables,
 * so it routes nothing itself).  SET_IRQLINE takes the 64-bit word
 * {u32 gsi; u32 op} by value, not a pointer.
 */
static int acrn_set_intx(struct hsm_vm *vm, const struct hsm_irq *irq, bool level)
{
	struct acrn *a = acrn_of(vm);
	/* PCI INTx is level-triggered and active low, as acrn-dm declares
	 * it (and as the _PRT of vdm's DSDT implies): asserting drives the
	 * IOAPIC pin low, deasserting high. */
	uint32_t op = level ? ACRN_GSI_SET_LOW : ACRN_GSI_SET_HIGH;
	int ret;

	if (irq->line == 0 || irq->line >= ACRN_VIOAPIC_PINS) {
		if (!a->intx_line_warned)
			hsm_log(vm, HSM_LOG_WARN,
				"acrn: %02x:%02x.%x: INTx with interrupt line %u, which is no "
				"IOAPIC pin the guest set up; not raised",
				irq->bdf >> 8, (irq->bdf >> 3) & 0x1f, irq->bdf & 7, irq->line);
		a->intx_line_warned = true;
		return -EINVAL;
	}
	ret = acrn_ioctl(a, ACRN_IOCTL_SET_IRQLINE, (unsigned long)irq->line | (unsigned long)op << 32);
	return ret < 0 ? ret : 0;
}

/* ---- PCI passthrough ---- */

/*
 * ASSIGN_PCIDEV / DEASSIGN_PCIDEV: the hypervisor takes the host function
 * from the Service VM and shows it to this VM at virt_bdf with these BARs
 * (it maps them onto the host's and serves the config space itself), or
 * gives it back.  Type 0: vdm emulates no register of an assigned function
 * (ACRN_PTDEV_QUIRK_ASSIGN would send ROM BAR accesses to it).
 */
static int acrn_assign_pcidev(struct hsm_vm *vm, const struct hsm_ptdev *p, bool assign)
{
	struct acrn_pcidev dev = { .virt_bdf = p->virt_bdf, .phys_bdf = p->phys_bdf,
				   .intr_line = p->intx_line, .intr_pin = p->intx_pin };
	unsigned long cmd = assign ? ACRN_IOCTL_ASSIGN_PCIDEV : ACRN_IOCTL_DEASSIGN_PCIDEV;
	int ret;

	_Static_assert(sizeof(dev.bar) == sizeof(p->bar), "six BARs");
	memcpy(dev.bar, p->bar, sizeof(dev.bar));
	ret = acrn_ioctl(acrn_of(vm), cmd, (unsigned long)&dev);
	return ret < 0 ? ret : 0;
}

/* SET_PTDEV_INTR / RESET_PTDEV_INTR for INTx: the host's IOAPIC pin (the
 * function's interrupt line) raises the guest's virtual IOAPIC pin. */
static int acrn_ptdev_intx(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
			   uint32_t virt_gsi, uint32_t phys_line, bool set)
{
	struct acrn_ptdev_irq irq = { .type = ACRN_PTDEV_IRQ_INTX, .virt_bdf = virt_bdf,
				      .phys_bdf = phys_bdf };
	int ret;

	if (virt_gsi >= ACRN_VIOAPIC_PINS)
		return -EINVAL;
	irq.intx.virt_pin = virt_gsi;
	irq.intx.phys_pin = set ? phys_line : 0;
	ret = acrn_ioctl(acrn_of(vm), set ? ACRN_IOCTL_SET_PTDEV_INTR : ACRN_IOCTL_RESET_PTDEV_INTR,
			 (unsigned long)&irq);
	return ret < 0 ? ret : 0;
}

const struct hsm_backend_ops hsm_acrn_ops = {
	.name = "acrn",
	.usage = "acrn[:/DEVICE]",
	.takes = acrn_takes,
	.caps = { .msi = true, .intx = true, .native_ioeventfd = true, .boot_cpu = true,
		  .passthrough = true, .intx_active_low = true },
	.open = acrn_open,
	.set_boot_cpu = acrn_set_boot_cpu,
	.reboot = acrn_reboot,
	.vcpu_count = acrn_vcpu_count,
	.pulse_irq = acrn_pulse_irq,
	.set_isa_irq = acrn_set_isa_irq,
	.start = acrn_start,
	.stop = acrn_stop,
	.close = acrn_close,
	.ioeventfd_add = acrn_ioeventfd_add,
	.ioeventfd_del = acrn_ioeventfd_del,
	.irqfd_add = acrn_irqfd_add,
	.irqfd_del = acrn_irqfd_del,
	.inject_msi = acrn_inject_msi,
	.set_intx = acrn_set_intx,
	.assign_pcidev = acrn_assign_pcidev,
	.ptdev_intx = acrn_ptdev_intx,
};
