/*
 * hsm.c - libhsm's front door: back-end selection, the guest memory map,
 * and the software ioeventfd/irqfd used by back-ends whose hypervisor has no
 * native ones.
 */
#include "hsm_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static const struct hsm_backend_ops *const builtin[] = {
	&hsm_qemu_ops,
	&hsm_sim_ops,
	&hsm_acrn_ops,
};

/* Back-ends a program added (tests); set up before any VM opens. */
static const struct hsm_backend_ops *added[4];
static size_t nadded;

int hsm_register_backend(const struct hsm_backend_ops *ops)
{
	if (nadded == sizeof(added) / sizeof(added[0]))
		return -ENOSPC;
	added[nadded++] = ops;
	return 0;
}

/* The i-th back-end, the added ones first; NULL past the last. */
static const struct hsm_backend_ops *backend_at(size_t i)
{
	if (i < nadded)
		return added[i];
	i -= nadded;
	return i < sizeof(builtin) / sizeof(builtin[0]) ? builtin[i] : NULL;
}

void hsm_log(struct hsm_vm *vm, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!vm->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm->cfg.log(level, msg);
}

static const struct hsm_backend_ops *find_backend(const char *spec, const char **arg)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	const struct hsm_backend_ops *ops;

	*arg = colon ? colon + 1 : NULL;
	for (size_t i = 0; (ops = backend_at(i)); i++)
		if (strlen(ops->name) == len && !strncmp(ops->name, spec, len) &&
		    (!ops->takes || ops->takes(*arg)))
			return ops;
	return NULL;
}

int hsm_backend_caps(const char *spec, struct hsm_caps *caps)
{
	const char *arg;
	const struct hsm_backend_ops *ops = find_backend(spec, &arg);

	if (!ops)
		return -ENOENT;
	*caps = ops->caps;
	caps->native_irqfd = ops->irqfd_add != NULL;
	return 0;
}

bool hsm_backend_exists(const char *spec, char *names, size_t len)
{
	const struct hsm_backend_ops *ops;
	const char *arg;

	if (names && len) {
		names[0] = '\0';
		for (size_t i = 0; (ops = backend_at(i)); i++) {
			size_t used = strlen(names);

			snprintf(names + used, len - used, "%s%s", i ? ", " : "", ops->usage);
		}
	}
	return find_backend(spec, &arg) != NULL;
}

struct hsm_vm *hsm_open(const struct hsm_vm_config *cfg, int *err, char *errbuf, size_t errlen)
{
	const struct hsm_backend_ops *ops;
	struct hsm_vm *vm;
	const char *arg;
	int ret;

	if (!cfg->backend || !cfg->ioreq || !cfg->loop.add_fd || !cfg->loop.del_fd) {
		snprintf(errbuf, errlen, "incomplete VM configuration");
		*err = -EINVAL;
		return NULL;
	}
	ops = find_backend(cfg->backend, &arg);
	if (!ops) {
		snprintf(errbuf, errlen, "unknown HSM back-end '%s'", cfg->backend);
		*err = -ENOENT;
		return NULL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(errbuf, errlen, "out of memory");
		*err = -ENOMEM;
		return NULL;
	}
	vm->cfg = *cfg;
	vm->ops = ops;
	vm->fwd_efd = -1;
	for (int i = 0; i < HSM_MAX_IRQFDS; i++)
		vm->irqfds[i].fd = -1;
	pthread_mutex_init(&vm->ioeventfd_lock, NULL);
	ret = hsm_forwarder_init(vm);
	if (ret) {
		snprintf(errbuf, errlen, "cannot set up I/O request forwarding: %s", strerror(-ret));
		goto err;
	}
	errbuf[0] = '\0';
	ret = ops->open(vm, arg, errbuf, errlen);
	if (ret) {
		if (!errbuf[0])
			snprintf(errbuf, errlen, "%s back-end: %s", ops->name, strerror(-ret));
		goto err_fwd;
	}
	return vm;

err_fwd:
	hsm_forwarder_shutdown(vm);
	hsm_forwarder_fini(vm);
err:
	pthread_mutex_destroy(&vm->ioeventfd_lock);
	free(vm);
	*err = ret;
	return NULL;
}

void hsm_stop(struct hsm_vm *vm)
{
	if (vm && vm->ops->stop)
		vm->ops->stop(vm);
}

void hsm_close(struct hsm_vm *vm)
{
	if (!vm)
		return;
	/* Release back-end threads blocked in hsm_forward_ioreq before joining them. */
	hsm_forwarder_shutdown(vm);
	for (int i = 0; i < HSM_MAX_IRQFDS; i++)
		if (vm->irqfds[i].used)
			hsm_irqfd_del(vm, vm->irqfds[i].fd);
	vm->ops->close(vm);
	hsm_forwarder_fini(vm);
	pthread_mutex_destroy(&vm->ioeventfd_lock);
	free(vm);
}

const char *hsm_backend_name(const struct hsm_vm *vm)
{
	return vm->ops->name;
}

struct hsm_caps hsm_get_caps(const struct hsm_vm *vm)
{
	struct hsm_caps caps = vm->ops->caps;

	caps.native_irqfd = vm->ops->irqfd_add != NULL;
	return caps;
}

int hsm_add_pci_function(struct hsm_vm *vm, uint16_t bdf)
{
	return vm->ops->add_pci_function ? vm->ops->add_pci_function(vm, bdf) : 0;
}

int hsm_pulse_irq(struct hsm_vm *vm, uint32_t gsi)
{
	return vm->ops->pulse_irq ? vm->ops->pulse_irq(vm, gsi) : -ENOTSUP;
}

int hsm_set_isa_irq(struct hsm_vm *vm, uint32_t gsi, bool high)
{
	return vm->ops->set_isa_irq ? vm->ops->set_isa_irq(vm, gsi, high) : -ENOTSUP;
}

unsigned hsm_vcpu_count(struct hsm_vm *vm)
{
	return vm->ops->vcpu_count ? vm->ops->vcpu_count(vm) : 0;
}

int hsm_reboot(struct hsm_vm *vm, enum hsm_reboot_step step, char *errbuf, size_t errlen)
{
	if (!vm->ops->reboot) {
		snprintf(errbuf, errlen, "the %s back-end does not reboot guests", vm->ops->name);
		return -ENOTSUP;
	}
	return vm->ops->reboot(vm, step, errbuf, errlen);
}

int hsm_set_boot_cpu(struct hsm_vm *vm, const struct hsm_boot_cpu *cpu, char *errbuf,
		     size_t errlen)
{
	if (!vm->ops->set_boot_cpu) {
		snprintf(errbuf, errlen, "the %s back-end does not load guests", vm->ops->name);
		return -ENOTSUP;
	}
	return vm->ops->set_boot_cpu(vm, cpu, errbuf, errlen);
}

int hsm_start(struct hsm_vm *vm, char *errbuf, size_t errlen)
{
	int ret;

	if (errlen)
		errbuf[0] = 0;
	ret = vm->ops->start ? vm->ops->start(vm, errbuf, errlen) : 0;
	if (ret && errlen && !errbuf[0])
		snprintf(errbuf, errlen, "%s", strerror(-ret));
	return ret;
}

/* ---- guest memory ---- */

int hsm_add_region(struct hsm_vm *vm, uint64_t gpa, uint64_t size, void *hva, int fd,
		   uint64_t fd_offset)
{
	if (vm->nregions >= HSM_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || gpa + size - 1 < gpa)
		return -EINVAL;
	vm->regions[vm->nregions++] = (struct hsm_mem_region){
		.gpa = gpa, .size = size, .hva = hva, .fd = fd, .fd_offset = fd_offset,
	};
	return 0;
}

void hsm_clear_regions(struct hsm_vm *vm)
{
	vm->nregions = 0;
}

void *hsm_gpa_to_hva(struct hsm_vm *vm, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + (len - 1) < gpa) /* empty or wraps past 2^64 */
		return NULL;
	for (int i = 0; i < vm->nregions; i++) {
		const struct hsm_mem_region *r = &vm->regions[i];

		/* Written without gpa + len so that no sum can overflow. */
		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return (uint8_t *)r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int hsm_get_mem_regions(struct hsm_vm *vm, struct hsm_mem_region *out, int max)
{
	for (int i = 0; i < vm->nregions && i < max; i++)
		out[i] = vm->regions[i];
	return vm->nregions;
}

uint64_t hsm_ram_size(const struct hsm_vm *vm)
{
	uint64_t total = 0;

	for (int i = 0; i < vm->nregions; i++)
		total += vm->regions[i].size;
	return total;
}

/* ---- ioeventfd ---- */

static bool same_ioeventfd(const struct hsm_ioeventfd *a, const struct hsm_ioeventfd *b)
{
	return a->space == b->space && a->addr == b->addr && a->len == b->len &&
	       a->datamatch == b->datamatch && (!a->datamatch || a->data == b->data);
}

static bool valid_ioeventfd(const struct hsm_ioeventfd *ev)
{
	if (ev->space != HSM_IO_PIO && ev->space != HSM_IO_MMIO)
		return false;
	return ev->len == 0 || ev->len == 1 || ev->len == 2 || ev->len == 4 || ev->len == 8;
}

int hsm_ioeventfd_add(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd)
{
	int ret = 0;

	if (!valid_ioeventfd(ev) || fd < 0)
		return -EINVAL;
	if (vm->ops->ioeventfd_add)
		return vm->ops->ioeventfd_add(vm, ev, fd);
	pthread_mutex_lock(&vm->ioeventfd_lock);
	for (int i = 0; i < vm->nioeventfds; i++)
		if (same_ioeventfd(&vm->ioeventfds[i].ev, ev))
			ret = -EEXIST;
	if (!ret && vm->nioeventfds >= HSM_MAX_IOEVENTFDS)
		ret = -ENOSPC;
	if (!ret)
		vm->ioeventfds[vm->nioeventfds++] = (struct sw_ioeventfd){ .ev = *ev, .fd = fd };
	pthread_mutex_unlock(&vm->ioeventfd_lock);
	return ret;
}

int hsm_ioeventfd_del(struct hsm_vm *vm, const struct hsm_ioeventfd *ev, int fd)
{
	int ret = -ENOENT;

	if (vm->ops->ioeventfd_del)
		return vm->ops->ioeventfd_del(vm, ev, fd);
	pthread_mutex_lock(&vm->ioeventfd_lock);
	for (int i = 0; i < vm->nioeventfds; i++) {
		if (vm->ioeventfds[i].fd == fd && same_ioeventfd(&vm->ioeventfds[i].ev, ev)) {
			vm->ioeventfds[i] = vm->ioeventfds[--vm->nioeventfds];
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&vm->ioeventfd_lock);
	return ret;
}

bool hsm_match_ioeventfd(struct hsm_vm *vm, const struct hsm_ioreq *req)
{
	bool hit = false;

	if (req->dir != HSM_IO_WRITE || req->space == HSM_IO_PCICFG)
		return false;
	pthread_mutex_lock(&vm->ioeventfd_lock);
	for (int i = 0; i < vm->nioeventfds && !hit; i++) {
		const struct hsm_ioeventfd *ev = &vm->ioeventfds[i].ev;

		if (ev->space != req->space || ev->addr != req->addr)
			continue;
		if (ev->len && ev->len != req->size)
			continue;
		if (ev->datamatch && ev->data != req->data)
			continue;
		/* An eventfd counter only overflows after 2^64-2 kicks: ignore. */
		if (eventfd_write(vm->ioeventfds[i].fd, 1) == 0)
			hit = true;
	}
	pthread_mutex_unlock(&vm->ioeventfd_lock);
	return hit;
}

/* ---- irqfd ---- */

static void sw_irqfd_fire(void *arg, int fd, uint32_t events)
{
	struct sw_irqfd *s = arg;
	eventfd_t count;

	if (eventfd_read(fd, &count))
		return;
	if (s->irq.kind == HSM_IRQ_MSI)
		s->vm->ops->inject_msi(s->vm, s->irq.msi_addr, s->irq.msi_data);
	else
		s->vm->ops->set_intx(s->vm, &s->irq, true);
}

int hsm_irqfd_add(struct hsm_vm *vm, const struct hsm_irq *irq, int fd)
{
	struct sw_irqfd *slot = NULL;
	int ret;

	if (fd < 0 || (irq->kind != HSM_IRQ_MSI && irq->kind != HSM_IRQ_INTX))
		return -EINVAL;
	if (irq->kind == HSM_IRQ_MSI && !vm->ops->caps.msi)
		return -EOPNOTSUPP;
	if (irq->kind == HSM_IRQ_INTX && !vm->ops->caps.intx)
		return -EOPNOTSUPP;
	if (vm->ops->irqfd_add)
		return vm->ops->irqfd_add(vm, irq, fd);
	for (int i = 0; i < HSM_MAX_IRQFDS; i++) {
		if (vm->irqfds[i].used && vm->irqfds[i].fd == fd)
			return -EEXIST;
		if (!vm->irqfds[i].used && !slot)
			slot = &vm->irqfds[i];
	}
	if (!slot)
		return -ENOSPC;
	*slot = (struct sw_irqfd){ .vm = vm, .irq = *irq, .fd = fd, .used = true };
	ret = vm->cfg.loop.add_fd(vm->cfg.loop.loop, fd, EPOLLIN, sw_irqfd_fire, slot);
	if (ret) {
		slot->used = false;
		slot->fd = -1;
	}
	return ret;
}

int hsm_irqfd_del(struct hsm_vm *vm, int fd)
{
	if (vm->ops->irqfd_del)
		return vm->ops->irqfd_del(vm, fd);
	for (int i = 0; i < HSM_MAX_IRQFDS; i++) {
		if (vm->irqfds[i].used && vm->irqfds[i].fd == fd) {
			vm->cfg.loop.del_fd(vm->cfg.loop.loop, fd);
			vm->irqfds[i].used = false;
			vm->irqfds[i].fd = -1;
			return 0;
		}
	}
	return -ENOENT;
}

int hsm_inject_msi(struct hsm_vm *vm, uint64_t addr, uint32_t data)
{
	if (!vm->ops->caps.msi)
		return -EOPNOTSUPP;
	return vm->ops->inject_msi(vm, addr, data);
}

int hsm_set_intx(struct hsm_vm *vm, const struct hsm_irq *irq, bool level)
{
	if (!vm->ops->caps.intx)
		return -EOPNOTSUPP;
	return vm->ops->set_intx(vm, irq, level);
}

/* ---- PCI passthrough ---- */

int hsm_assign_pcidev(struct hsm_vm *vm, const struct hsm_ptdev *ptdev)
{
	if (!vm->ops->caps.passthrough || !vm->ops->assign_pcidev)
		return -EOPNOTSUPP;
	return vm->ops->assign_pcidev(vm, ptdev, true);
}

int hsm_deassign_pcidev(struct hsm_vm *vm, const struct hsm_ptdev *ptdev)
{
	if (!vm->ops->caps.passthrough || !vm->ops->assign_pcidev)
		return -EOPNOTSUPP;
	return vm->ops->assign_pcidev(vm, ptdev, false);
}

int hsm_set_ptdev_intx(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
		       uint32_t virt_gsi, uint32_t phys_line)
{
	if (!vm->ops->caps.passthrough || !vm->ops->ptdev_intx)
		return -EOPNOTSUPP;
	return vm->ops->ptdev_intx(vm, virt_bdf, phys_bdf, virt_gsi, phys_line, true);
}

int hsm_reset_ptdev_intx(struct hsm_vm *vm, uint16_t virt_bdf, uint16_t phys_bdf,
			 uint32_t virt_gsi)
{
	if (!vm->ops->caps.passthrough || !vm->ops->ptdev_intx)
		return -EOPNOTSUPP;
	return vm->ops->ptdev_intx(vm, virt_bdf, phys_bdf, virt_gsi, 0, false);
}
