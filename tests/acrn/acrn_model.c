/*
 * acrn_model.c - a user-space model of the ACRN HSM (/dev/acrn_hsm) and the
 * hypervisor behind it, so that the acrn back-end (hsm-shim/acrn.c) runs
 * unchanged in tests.  It sits behind struct acrn_sys, the back-end's only
 * seam; acrn_model_backend.c puts it there.
 *
 * What it models, on the <linux/acrn.h> structures themselves:
 *  - one VM per open "file", ioctls refused with -EINVAL before CREATE_VM
 *    and after DESTROY_VM, and the hypervisor's state rules (START only a
 *    created VM, RESET and DESTROY only a paused one: -EPERM otherwise);
 *  - the ioreq page the back-end hands to CREATE_VM (the hypervisor uses the
 *    whole page that holds the address, as the kernel pins it), slots set
 *    FREE, and the state machine FREE -> PENDING (hypervisor) -> PROCESSING
 *    (HSM dispatch to the default client) -> COMPLETE (HSM, on
 *    NOTIFY_REQUEST_FINISH) -> FREE (hypervisor), with acquire/release
 *    ordering on `processed` as the kernel uses;
 *  - ATTACH_IOREQ_CLIENT blocking until a request is assigned, and failing
 *    with -ENODEV once DESTROY_IOREQ_CLIENT ran;
 *  - the kernel's ioeventfd client: it claims [addr, addr + len) of every
 *    registered ioeventfd, answers reads there with 0, signals a matching
 *    write (width <= len, data if DATAMATCH) and drops the others; DEASSIGN
 *    removes the oldest registration of the eventfd, whatever its address;
 *  - irqfds (an eventfd write injects its MSI), INJECT_MSI, SET_IRQLINE;
 *  - passthrough (ASSIGN_PCIDEV, SET_PTDEV_INTR and their undo), checked
 *    against the host function in sysfs: acrn_model_ptdev.c.
 *
 * Guest RAM given with SET_MEMSEG at gpa 0 is found as the file behind that
 * mapping (through /proc/self/maps and the process's fds, as the kernel
 * finds the pages of a vma), for the test driver.  The test driver's side
 * (simulated vCPUs and interrupts over sim-protocol.h) is
 * acrn_model_link.c.
 *
 * Where the kernel accepts something only a buggy device model does (a
 * NOTIFY for a slot that is not PROCESSING, a NOTIFY after CLEAR_VM_IOREQ
 * before the client attached again, a wrong vmid in it, removing an
 * ioeventfd that is not there, closing without DESTROY_VM), the model counts
 * a violation and logs it, and tests check the count stays 0.
 */
#include "acrn_model_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

void model_violation(struct acrn_model *m, const char *fmt, const char *what, unsigned n)
{
	char msg[256];

	m->violations++;
	snprintf(msg, sizeof(msg), fmt, what, n);
	hsm_log(m->vm, HSM_LOG_ERR, "acrn model: protocol violation: %s", msg);
}

/* The HSM's irqfd worker: an eventfd write injects its MSI. */
static void *irqfd_thread(void *arg)
{
	struct acrn_model *m = arg;

	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(m->irq_epoll, evs, 16, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		pthread_mutex_lock(&m->lock);
		if (m->stopping) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)evs[i].data.u64, gen = (uint32_t)(evs[i].data.u64 >> 32);
			eventfd_t count;

			if (idx >= MODEL_MAX_NOTIFIERS)
				continue; /* the wake-up eventfd */
			struct model_irqfd *f = &m->irqfds[idx];
			if (!f->used || f->gen != gen || eventfd_read(f->fd, &count))
				continue;
			model_send_msi_locked(m, f->msi.msi_addr, f->msi.msi_data);
		}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* ---- the slot state machine ---- */

/* The HSM's upcall handler: hand a PENDING slot to the default client. */
static void dispatch_locked(struct acrn_model *m, unsigned vcpu)
{
	struct acrn_io_request *slot = &m->iobuf->req_slot[vcpu];

	/* Acquire: pairs with the hypervisor's release store of PENDING. */
	if (__atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) != ACRN_IOREQ_STATE_PENDING)
		return;
	if (!m->client) {
		/* As the kernel: no client, the request stays pending. */
		hsm_log(m->vm, HSM_LOG_WARN, "acrn model: no ioreq client; vCPU %u waits", vcpu);
		return;
	}
	slot->kernel_handled = 0;
	/* Release: the client that sees PROCESSING sees the request. */
	__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_PROCESSING, __ATOMIC_RELEASE);
	m->pending |= 1U << vcpu;
	pthread_cond_broadcast(&m->cond);
}

bool model_vm_gone(const struct acrn_model *m)
{
	return m->stopping || m->state == VM_DESTROYED || m->state == VM_NONE;
}

/*
 * Play one I/O exit of vCPU vcpu: the hypervisor fills the slot, the HSM
 * dispatches it, the client completes it.  req is the slot image (its
 * `processed` is ignored); the completed slot is copied to done.  Lock held.
 */
int model_exit_io_locked(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req,
			  struct acrn_io_request *done, int timeout_ms)
{
	struct acrn_io_request *slot;
	struct timespec deadline;
	unsigned resets = m->resets;
	int ret = 0;

	if (model_vm_gone(m) || !m->iobuf)
		return -ESHUTDOWN;
	slot = &m->iobuf->req_slot[vcpu];
	if (__atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) != ACRN_IOREQ_STATE_FREE)
		return -EBUSY;
	/* The request body, then `processed` last. */
	memcpy(slot, req, offsetof(struct acrn_io_request, processed));
	slot->completion_polling = 0;
	/* Release: the request body is visible to whoever sees PENDING. */
	__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_PENDING, __ATOMIC_RELEASE);
	dispatch_locked(m, vcpu);
	m->exits++;
	if (++m->waiting > m->max_waiting)
		m->max_waiting = m->waiting;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	/* Acquire: pairs with the HSM's release store of COMPLETE, so the
	 * value the client wrote is visible. */
	while (__atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) != ACRN_IOREQ_STATE_COMPLETE) {
		if (model_vm_gone(m)) {
			m->waiting--;
			return -ESHUTDOWN;
		}
		if (m->resets != resets) {
			/* RESET_VM reset this vCPU, its request with it (the slot
			 * is FREE): the guest never sees a value; the driver
			 * gets all-ones. */
			m->waiting--;
			if (done) {
				memcpy(done, req, sizeof(*done));
				done->reqs.mmio_request.value = ~0ULL;
				done->reqs.pio_request.value = ~0u;
			}
			return 0;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&m->cond, &m->lock);
		} else if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	m->waiting--;
	if (done)
		memcpy(done, slot, sizeof(*done));
	if (ret == 0) /* the hypervisor's post-handling: the slot is free again */
		__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_FREE, __ATOMIC_RELEASE);
	return ret;
}

/*
 * The kernel's ioeventfd client, which the HSM asks before the default
 * client: it claims the whole [addr, addr + len) of each registration.
 * Returns true when it took the request (a read there returns 0; a write
 * signals the oldest registration with the same address, a length no
 * shorter than the access and matching data, and is dropped otherwise).
 */
bool model_ioeventfd_take_locked(struct acrn_model *m, struct acrn_io_request *r)
{
	bool pio = r->type == ACRN_IOREQ_TYPE_PORTIO, claimed = false;
	struct model_ioeventfd *hit = NULL;
	uint64_t addr, size, val;
	uint32_t dir;

	if (pio) {
		addr = r->reqs.pio_request.address;
		size = r->reqs.pio_request.size;
		val = r->reqs.pio_request.value;
		dir = r->reqs.pio_request.direction;
	} else if (r->type == ACRN_IOREQ_TYPE_MMIO) {
		addr = r->reqs.mmio_request.address;
		size = r->reqs.mmio_request.size;
		val = r->reqs.mmio_request.value;
		dir = r->reqs.mmio_request.direction;
	} else {
		return false;
	}
	for (int i = 0; i < MODEL_MAX_NOTIFIERS && !claimed; i++) {
		const struct model_ioeventfd *e = &m->ioev[i];

		if (e->used && !!(e->ev.flags & ACRN_IOEVENTFD_FLAG_PIO) == pio &&
		    addr >= e->ev.addr && size <= e->ev.len && addr - e->ev.addr <= e->ev.len - size)
			claimed = true;
	}
	if (!claimed)
		return false;
	if (dir == ACRN_IOREQ_DIR_READ) {
		if (pio)
			r->reqs.pio_request.value = 0;
		else
			r->reqs.mmio_request.value = 0;
		return true;
	}
	for (int i = 0; i < MODEL_MAX_NOTIFIERS; i++) {
		struct model_ioeventfd *e = &m->ioev[i];

		if (!e->used || !!(e->ev.flags & ACRN_IOEVENTFD_FLAG_PIO) != pio ||
		    e->ev.addr != addr || e->ev.len < size)
			continue;
		if ((e->ev.flags & ACRN_IOEVENTFD_FLAG_DATAMATCH) && e->ev.data != val)
			continue;
		if (!hit || e->seq < hit->seq)
			hit = e;
	}
	if (hit)
		(void)eventfd_write(hit->fd, 1);
	return true;
}

/* ---- guest RAM: find the file behind the back-end's mapping ---- */

static int find_mapping(uintptr_t addr, uint64_t len, dev_t *dev, ino_t *ino, uint64_t *off)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int ret = -EFAULT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, offset, inode;
		unsigned maj, min;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &maj,
			   &min, &inode) != 7)
			continue;
		if (addr < start || addr >= end)
			continue;
		/* The whole range in one writable, shared mapping. */
		if (len > end - addr || perms[1] != 'w' || perms[3] != 's')
			break;
		*dev = makedev(maj, min);
		*ino = (ino_t)inode;
		*off = offset + (addr - start);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static int dup_file(dev_t dev, ino_t ino)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && found < 0) {
		struct stat st;
		int fd = atoi(e->d_name);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
			continue;
		if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			found = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	}
	closedir(d);
	return found;
}

/* ---- the ioctls ---- */

static int do_memseg_locked(struct acrn_model *m, const struct acrn_vm_memmap *mm, bool set)
{
	if (mm->type == ACRN_MEMMAP_MMIO)
		return 0; /* passthrough MMIO: nothing the test driver sees */
	if (mm->type != ACRN_MEMMAP_RAM)
		return -EINVAL;
	if (!set) {
		for (int i = 0; i < m->nsegs; i++) {
			if (m->segs[i].gpa == mm->user_vm_pa && m->segs[i].len == mm->len) {
				m->segs[i] = m->segs[--m->nsegs];
				return 0;
			}
		}
		return -EINVAL;
	}
	if (mm->len == 0 || (mm->len | mm->vma_base | mm->user_vm_pa) % MODEL_PAGE ||
	    mm->user_vm_pa + mm->len < mm->user_vm_pa || (mm->attr & ~ACRN_MEM_ACCESS_RIGHT_MASK &
							   ~ACRN_MEM_TYPE_MASK))
		return -EINVAL;
	for (int i = 0; i < m->nsegs; i++)
		if (mm->user_vm_pa < m->segs[i].gpa + m->segs[i].len &&
		    m->segs[i].gpa < mm->user_vm_pa + mm->len)
			return -EINVAL; /* overlaps guest RAM already mapped */
	if (m->nsegs >= MODEL_MAX_SEGS)
		return -ENOMEM;

	dev_t dev;
	ino_t ino;
	uint64_t off;
	int ret = find_mapping((uintptr_t)mm->vma_base, mm->len, &dev, &ino, &off);

	if (ret)
		return ret; /* the kernel cannot pin what is not mapped */
	if (mm->user_vm_pa == 0) {
		if (off != 0) {
			hsm_log(m->vm, HSM_LOG_ERR, "acrn model: RAM at gpa 0 must start its file");
			return -EINVAL;
		}
		int fd = dup_file(dev, ino);
		if (fd < 0) {
			hsm_log(m->vm, HSM_LOG_ERR, "acrn model: cannot find the file behind guest RAM");
			return -EFAULT;
		}
		if (m->memfd >= 0)
			close(m->memfd);
		m->memfd = fd;
		m->memfd_size = mm->len;
	}
	m->segs[m->nsegs++] = (struct model_seg){ mm->user_vm_pa, mm->len, (uintptr_t)mm->vma_base };
	return 0;
}

static void drop_notifiers_locked(struct acrn_model *m)
{
	for (int i = 0; i < MODEL_MAX_NOTIFIERS; i++) {
		if (m->ioev[i].used) {
			close(m->ioev[i].fd);
			m->ioev[i].used = false;
		}
		if (m->irqfds[i].used) {
			epoll_ctl(m->irq_epoll, EPOLL_CTL_DEL, m->irqfds[i].fd, NULL);
			close(m->irqfds[i].fd);
			m->irqfds[i].used = false;
		}
	}
}

static bool is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/*
 * ACRN_IOCTL_IOEVENTFD.  As the kernel does, DEASSIGN looks at the eventfd
 * only and removes the oldest registration of it, whatever its address: a
 * device model that registers one eventfd at two addresses must put back
 * the one it did not mean to remove.
 */
static int do_ioeventfd_locked(struct acrn_model *m, const struct acrn_ioeventfd *ev)
{
	bool pio = ev->flags & ACRN_IOEVENTFD_FLAG_PIO;
	bool wild = !(ev->flags & ACRN_IOEVENTFD_FLAG_DATAMATCH);
	struct model_ioeventfd *free_slot = NULL;
	struct stat st_new;

	if (ev->reserved)
		return -EINVAL;
	if (fstat((int)ev->fd, &st_new) || !is_eventfd((int)ev->fd))
		return -EBADF;
	if (ev->flags & ACRN_IOEVENTFD_FLAG_DEASSIGN) {
		struct model_ioeventfd *oldest = NULL;

		for (int i = 0; i < MODEL_MAX_NOTIFIERS; i++) {
			struct model_ioeventfd *e = &m->ioev[i];
			struct stat st;

			if (e->used && fstat(e->fd, &st) == 0 && st.st_ino == st_new.st_ino &&
			    (!oldest || e->seq < oldest->seq))
				oldest = e;
		}
		if (!oldest) {
			model_violation(m, "%s of an eventfd with no ioeventfd (at %#x)", "deassign",
				  (unsigned)ev->addr);
			return 0; /* the kernel says nothing */
		}
		close(oldest->fd);
		oldest->used = false;
		return 0;
	}
	for (int i = 0; i < MODEL_MAX_NOTIFIERS; i++) {
		struct model_ioeventfd *e = &m->ioev[i];
		struct stat st;

		if (!e->used) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		bool same_fd = fstat(e->fd, &st) == 0 && st.st_ino == st_new.st_ino;
		bool e_wild = !(e->ev.flags & ACRN_IOEVENTFD_FLAG_DATAMATCH);
		bool same = same_fd && e->ev.addr == ev->addr &&
			    !!(e->ev.flags & ACRN_IOEVENTFD_FLAG_PIO) == pio &&
			    (wild || e_wild || e->ev.data == ev->data);

		if (same)
			return -EEXIST;
	}
	if (ev->len != 1 && ev->len != 2 && ev->len != 4 && ev->len != 8)
		return -EINVAL;
	if (ev->addr + ev->len < ev->addr)
		return -EINVAL;
	if (!free_slot)
		return -ENOSPC;
	int fd = fcntl((int)ev->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*free_slot = (struct model_ioeventfd){ .used = true, .seq = ++m->ioev_seq, .fd = fd,
					       .ev = *ev };
	return 0;
}

static int do_irqfd_locked(struct acrn_model *m, const struct acrn_irqfd *f)
{
	struct model_irqfd *free_slot = NULL;
	int idx = -1;

	if (f->flags & ~ACRN_IRQFD_FLAG_DEASSIGN)
		return -EINVAL;
	if (f->fd < 0 || !is_eventfd(f->fd))
		return -EBADF;
	for (int i = 0; i < MODEL_MAX_NOTIFIERS; i++) {
		struct model_irqfd *e = &m->irqfds[i];

		if (!e->used) {
			if (!free_slot) {
				free_slot = e;
				idx = i;
			}
			continue;
		}
		if (e->user_fd != f->fd)
			continue;
		if (!(f->flags & ACRN_IRQFD_FLAG_DEASSIGN))
			return -EBUSY;
		epoll_ctl(m->irq_epoll, EPOLL_CTL_DEL, e->fd, NULL);
		close(e->fd);
		e->used = false;
		return 0;
	}
	if (f->flags & ACRN_IRQFD_FLAG_DEASSIGN) {
		model_violation(m, "%s of an irqfd not registered (fd %u)", "deassign", (unsigned)f->fd);
		return 0;
	}
	if (!free_slot)
		return -ENOSPC;
	int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	uint32_t gen = ++m->irqfd_gen;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)gen << 32 | (uint32_t)idx };
	if (epoll_ctl(m->irq_epoll, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*free_slot = (struct model_irqfd){ .used = true, .gen = gen, .fd = fd, .user_fd = f->fd,
					   .msi = f->msi };
	return 0;
}

static void destroy_vm_locked(struct acrn_model *m)
{
	model_ptdev_destroy_locked(m);
	m->client = false;
	m->client_gen++;
	m->pending = 0;
	drop_notifiers_locked(m);
	m->nsegs = 0;
	m->iobuf = NULL; /* unpinned */
	m->state = VM_DESTROYED;
	pthread_cond_broadcast(&m->cond);
}

/*
 * SET_IRQLINE: the pin's level as the hypervisor's vIOAPIC keeps it
 * (vioapic_set_irqline_nolock: SET_HIGH/SET_LOW hold it, a pulse goes
 * there and back), each call counted by GSI.  An ISA line's level goes to
 * the driver; the pins PCI functions use are programmed level-triggered,
 * active low (acrn-dm's routing): low asserts, high releases.
 */
static void set_irqline_locked(struct acrn_model *m, uint32_t gsi, uint32_t op)
{
	struct model_irqline *l = &m->irqline[gsi];
	bool was = l->high;

	/* A pulse passes through the other level first. */
	bool via = op == ACRN_GSI_RAISING_PULSE || op == ACRN_GSI_FALLING_PULSE;
	bool mid = op == ACRN_GSI_RAISING_PULSE;
	bool end = op == ACRN_GSI_SET_HIGH || op == ACRN_GSI_FALLING_PULSE;

	l->ops[op]++;
	model_check_irqline_locked(m, gsi, op);
	if (via) {
		if (mid && !was)
			l->rises++;
		if (gsi < 16 && mid != was)
			model_send_isa_locked(m, gsi, mid);
		was = mid;
	}
	if (end && !was)
		l->rises++;
	if (gsi < 16 && end != was)
		model_send_isa_locked(m, gsi, end);
	l->high = end;
	if (op == ACRN_GSI_SET_LOW || op == ACRN_GSI_FALLING_PULSE)
		model_send_intx_locked(m, gsi, true);
	if (op == ACRN_GSI_SET_HIGH || op == ACRN_GSI_FALLING_PULSE ||
	    op == ACRN_GSI_RAISING_PULSE)
		model_send_intx_locked(m, gsi, false);
}

static int ioctl_locked(struct acrn_model *m, unsigned long cmd, unsigned long arg)
{
	struct acrn_vm_creation *cv;
	struct acrn_ioreq_notify *nt;
	struct acrn_io_request *slot;
	unsigned gen;

	if ((m->state == VM_NONE || m->state == VM_DESTROYED) && cmd != ACRN_IOCTL_CREATE_VM)
		return -EINVAL; /* no VM behind this fd */
	switch (cmd) {
	case ACRN_IOCTL_CREATE_VM:
		cv = (struct acrn_vm_creation *)arg;
		if (m->state != VM_NONE && m->state != VM_DESTROYED)
			return -EEXIST;
		if (cv->reserved0 || cv->reserved1 || !cv->ioreq_buf)
			return -EINVAL;
		memcpy(m->created_id, &cv->uuid, sizeof(m->created_id));
		m->created_affinity = cv->cpu_affinity;
		/* A hypervisor that looks post-launched VMs up by name finds
		 * none under any other: the hypercall fails. */
		if (m->vm_name[0] && strncmp((const char *)&cv->uuid, m->vm_name, 16))
			return -EINVAL;
		/* The kernel pins the page holding ioreq_buf and gives the
		 * hypervisor that page: an unaligned address is rounded down. */
		m->iobuf = (struct acrn_io_request_buffer *)(uintptr_t)(cv->ioreq_buf &
									~(MODEL_PAGE - 1));
		for (unsigned i = 0; i < ACRN_IO_REQUEST_MAX; i++)
			__atomic_store_n(&m->iobuf->req_slot[i].processed, ACRN_IOREQ_STATE_FREE,
					 __ATOMIC_RELEASE);
		cv->vmid = MODEL_VMID;
		cv->vcpu_num = m->report_vcpus ? m->report_vcpus : (uint16_t)m->vcpus;
		m->state = VM_CREATED;
		return 0;
	case ACRN_IOCTL_SET_VCPU_REGS: {
		const struct acrn_vcpu_regs *r = (const struct acrn_vcpu_regs *)arg;

		/* The hypervisor takes them for a created, not yet running VM. */
		if (m->state != VM_CREATED)
			return -EPERM;
		if (r->vcpu_id >= m->vcpus || r->reserved[0] || r->reserved[1] || r->reserved[2])
			return -EINVAL;
		if (r->vcpu_id == 0) {
			m->boot_regs = *r;
			m->have_boot_regs = true;
		}
		return 0;
	}
	case ACRN_IOCTL_START_VM:
		if (m->state != VM_CREATED)
			return -EPERM;
		if (m->have_boot_regs)
			model_boot_check_locked(m);
		memset(m->line_written, 0, sizeof(m->line_written));
		memset(m->bar_written, 0, sizeof(m->bar_written));
		memset(m->bar_read, 0, sizeof(m->bar_read));
		m->state = VM_RUNNING;
		pthread_cond_broadcast(&m->cond);
		return model_link_start_locked(m);
	case ACRN_IOCTL_PAUSE_VM:
		if (m->state == VM_RUNNING && m->ovmf_mark[0])
			model_ovmf_mark_locked(m);
		m->state = VM_PAUSED;
		return 0;
	case ACRN_IOCTL_RESET_VM:
		if (m->state != VM_PAUSED)
			return -EPERM;
		for (unsigned i = 0; i < ACRN_IO_REQUEST_MAX; i++)
			__atomic_store_n(&m->iobuf->req_slot[i].processed, ACRN_IOREQ_STATE_FREE,
					 __ATOMIC_RELEASE);
		m->pending = 0;
		m->resets++;
		m->state = VM_CREATED;
		pthread_cond_broadcast(&m->cond);
		return 0;
	case ACRN_IOCTL_DESTROY_VM:
		if (m->state != VM_PAUSED)
			return -EPERM; /* the hypervisor destroys only a paused VM */
		destroy_vm_locked(m);
		return 0;
	case ACRN_IOCTL_SET_MEMSEG:
	case ACRN_IOCTL_UNSET_MEMSEG:
		return do_memseg_locked(m, (const struct acrn_vm_memmap *)arg,
					cmd == ACRN_IOCTL_SET_MEMSEG);
	case ACRN_IOCTL_CREATE_IOREQ_CLIENT:
		if (m->client)
			return -EEXIST;
		m->client = true;
		m->client_gen++;
		return 0;
	case ACRN_IOCTL_DESTROY_IOREQ_CLIENT:
		if (m->client) {
			m->client = false;
			m->client_gen++;
			m->pending = 0;
			pthread_cond_broadcast(&m->cond);
		}
		return 0;
	case ACRN_IOCTL_ATTACH_IOREQ_CLIENT:
		if (!m->client)
			return -ENODEV;
		gen = m->client_gen;
		while (m->client && m->client_gen == gen && !m->pending && !m->stopping)
			pthread_cond_wait(&m->cond, &m->lock);
		if (!(m->client && m->client_gen == gen && !m->stopping))
			return -ENODEV;
		m->cleared_since_attach = false;
		return 0;
	case ACRN_IOCTL_NOTIFY_REQUEST_FINISH:
		nt = (struct acrn_ioreq_notify *)arg;
		if (nt->reserved)
			return -EINVAL;
		if (!m->client)
			return 0;
		if (nt->vcpu >= m->vcpus)
			return -EINVAL;
		if (nt->vmid != MODEL_VMID) {
			model_violation(m, "%s with vmid %u", "NOTIFY_REQUEST_FINISH", nt->vmid);
			return -EINVAL;
		}
		if (m->cleared_since_attach) {
			model_violation(m, "%s for vCPU %u after CLEAR_VM_IOREQ completed its request "
					   "(the client did not attach again since)",
					"NOTIFY_REQUEST_FINISH", nt->vcpu);
			return -EINVAL;
		}
		slot = &m->iobuf->req_slot[nt->vcpu];
		if (!(m->pending & (1U << nt->vcpu)) ||
		    __atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) !=
			    ACRN_IOREQ_STATE_PROCESSING) {
			model_violation(m, "%s for vCPU %u whose slot is not PROCESSING",
				  "NOTIFY_REQUEST_FINISH", nt->vcpu);
			return -EINVAL;
		}
		m->pending &= ~(1U << nt->vcpu);
		/* Release: the value the client stored before this call is
		 * visible to the vCPU that sees COMPLETE. */
		__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_COMPLETE, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&m->cond);
		return 0;
	case ACRN_IOCTL_CLEAR_VM_IOREQ:
		m->cleared_since_attach = true;
		for (unsigned i = 0; i < m->vcpus; i++) {
			uint32_t st = __atomic_load_n(&m->iobuf->req_slot[i].processed,
						      __ATOMIC_ACQUIRE);

			if (st == ACRN_IOREQ_STATE_PENDING || st == ACRN_IOREQ_STATE_PROCESSING)
				__atomic_store_n(&m->iobuf->req_slot[i].processed,
						 ACRN_IOREQ_STATE_COMPLETE, __ATOMIC_RELEASE);
		}
		m->pending = 0;
		pthread_cond_broadcast(&m->cond);
		return 0;
	case ACRN_IOCTL_IOEVENTFD:
		return do_ioeventfd_locked(m, (const struct acrn_ioeventfd *)arg);
	case ACRN_IOCTL_IRQFD:
		return do_irqfd_locked(m, (const struct acrn_irqfd *)arg);
	case ACRN_IOCTL_ASSIGN_PCIDEV:
	case ACRN_IOCTL_DEASSIGN_PCIDEV:
	case ACRN_IOCTL_SET_PTDEV_INTR:
	case ACRN_IOCTL_RESET_PTDEV_INTR:
		return model_ptdev_ioctl_locked(m, cmd, arg);
	case ACRN_IOCTL_INJECT_MSI: {
		const struct acrn_msi_entry *msi = (const struct acrn_msi_entry *)arg;

		model_send_msi_locked(m, msi->msi_addr, msi->msi_data);
		return 0;
	}
	case ACRN_IOCTL_SET_IRQLINE: {
		uint32_t gsi = (uint32_t)arg, op = (uint32_t)((uint64_t)arg >> 32);

		if (gsi >= ACRN_VIOAPIC_PINS || op > ACRN_GSI_FALLING_PULSE)
			return -EPERM; /* the hypercall refuses it */
		set_irqline_locked(m, gsi, op);
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

/* Calls the order test reads from the log; per-request ones are left out. */
static bool logged_cmd(unsigned long cmd)
{
	return cmd != ACRN_IOCTL_ATTACH_IOREQ_CLIENT && cmd != ACRN_IOCTL_NOTIFY_REQUEST_FINISH &&
	       cmd != ACRN_IOCTL_INJECT_MSI && cmd != ACRN_IOCTL_SET_IRQLINE;
}

static int model_ioctl(void *ctx, int fd, unsigned long cmd, unsigned long arg)
{
	struct acrn_model *m = ctx;
	const char *name = acrn_ioctl_name(cmd);
	int ret;

	pthread_mutex_lock(&m->lock);
	if (fd != MODEL_FD || !m->dev_open)
		ret = -EBADF;
	else if (m->refuse[0] && !strcmp(name + strlen("ACRN_IOCTL_"), m->refuse))
		ret = -m->refuse_errno;
	else
		ret = ioctl_locked(m, cmd, arg);
	pthread_mutex_unlock(&m->lock);
	if (logged_cmd(cmd)) {
		unsigned flags = 0;

		if (cmd == ACRN_IOCTL_IOEVENTFD)
			flags = ((const struct acrn_ioeventfd *)arg)->flags;
		else if (cmd == ACRN_IOCTL_IRQFD)
			flags = ((const struct acrn_irqfd *)arg)->flags;
		hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: %s%s -> %d", name,
			flags & (cmd == ACRN_IOCTL_IOEVENTFD ? ACRN_IOEVENTFD_FLAG_DEASSIGN
							     : ACRN_IRQFD_FLAG_DEASSIGN)
				? " (deassign)"
				: "",
			ret);
	}
	return ret;
}

static int model_open(void *ctx, const char *path)
{
	struct acrn_model *m = ctx;
	int ret = MODEL_FD;

	pthread_mutex_lock(&m->lock);
	if (m->dev_open)
		ret = -EBUSY;
	else
		m->dev_open = true;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void model_release(void *ctx)
{
	acrn_model_destroy(ctx);
}

static void model_close(void *ctx, int fd)
{
	struct acrn_model *m = ctx;

	pthread_mutex_lock(&m->lock);
	if (fd == MODEL_FD && m->dev_open) {
		m->dev_open = false;
		if (m->state != VM_NONE && m->state != VM_DESTROYED) {
			/* The kernel tries DESTROY_VM itself, which the hypervisor
			 * refuses unless the VM is paused. */
			model_violation(m, "%s without DESTROY_VM (%u)", "close", 0);
			destroy_vm_locked(m);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- life cycle ---- */

static int parse_opts(struct acrn_model *m, char *opts, char *errbuf, size_t errlen)
{
	for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *end;

		if (!strncmp(o, "vcpus=", 6)) {
			unsigned long n = strtoul(o + 6, &end, 10);

			if (*end || n < 1 || n > ACRN_IO_REQUEST_MAX) {
				snprintf(errbuf, errlen, "acrn model: vcpus must be 1..%d",
					 ACRN_IO_REQUEST_MAX);
				return -EINVAL;
			}
			m->vcpus = (unsigned)n;
		} else if (!strncmp(o, "report_vcpus=", 13)) {
			/* A hypervisor that misreports vcpu_num (hostile input). */
			unsigned long n = strtoul(o + 13, &end, 10);

			if (*end || n > UINT16_MAX) {
				snprintf(errbuf, errlen, "acrn model: report_vcpus must be 0..65535");
				return -EINVAL;
			}
			m->report_vcpus = (uint16_t)n;
		} else if (!strncmp(o, "assigned=", 9)) {
			if (model_ptdev_option(m, o + 9)) {
				snprintf(errbuf, errlen, "acrn model: assigned=B/D/F (at most %d)",
					 MODEL_MAX_TAKEN);
				return -EINVAL;
			}
		} else if (!strncmp(o, "vm=", 3)) {
			if (!o[3] || strlen(o + 3) > 15) {
				snprintf(errbuf, errlen, "acrn model: vm=NAME, 1 to 15 characters");
				return -EINVAL;
			}
			snprintf(m->vm_name, sizeof(m->vm_name), "%s", o + 3);
		} else if (!strncmp(o, "ovmf=", 5) || !strncmp(o, "ovmf_vars=", 10) ||
			   !strncmp(o, "ovmf_code=", 10) || !strncmp(o, "ovmf_mark=", 10)) {
			char *eq = strchr(o, '=') + 1, *dst = o[4] == '=' ? m->ovmf_image
							      : o[5] == 'v' ? m->ovmf_vars
							      : o[5] == 'c' ? m->ovmf_code
									    : m->ovmf_mark;
			size_t cap = dst == m->ovmf_mark ? sizeof(m->ovmf_mark) : sizeof(m->ovmf_image);

			if (!*eq || strlen(eq) >= cap) {
				snprintf(errbuf, errlen, "acrn model: '%s': empty or too long", o);
				return -EINVAL;
			}
			snprintf(dst, cap, "%s", eq);
		} else if (!strcmp(o, "no_qword_windows")) {
			m->no_qword_windows = true;
		} else if (!strncmp(o, "refuse=", 7)) {
			char *slash = strchr(o + 7, '/');

			m->refuse_errno = EPERM;
			if (slash) {
				*slash = '\0';
				m->refuse_errno = (int)strtol(slash + 1, &end, 10);
				if (*end || m->refuse_errno <= 0) {
					snprintf(errbuf, errlen, "acrn model: refuse=NAME/ERRNO");
					return -EINVAL;
				}
			}
			snprintf(m->refuse, sizeof(m->refuse), "%s", o + 7);
		} else {
			snprintf(errbuf, errlen, "acrn model: unknown option '%s'", o);
			return -EINVAL;
		}
	}
	return 0;
}

int acrn_model_create(struct hsm_vm *vm, const char *spec, struct acrn_sys *sys,
		      struct acrn_model **out, char *errbuf, size_t errlen)
{
	char opts[1024] = "";
	const char *sock;
	struct acrn_model *m;
	int ret;

	if (*spec == ',') {
		const char *colon = strchr(spec, ':');

		if (!colon || (size_t)(colon - spec) >= sizeof(opts)) {
			snprintf(errbuf, errlen, "acrn model: expected acrn:model,OPTIONS:SOCKET");
			return -EINVAL;
		}
		memcpy(opts, spec + 1, (size_t)(colon - spec - 1));
		sock = colon + 1;
	} else if (*spec == ':') {
		sock = spec + 1;
	} else {
		snprintf(errbuf, errlen, "acrn model: expected acrn:model:SOCKET");
		return -EINVAL;
	}
	if (!*sock || strlen(sock) >= sizeof(((struct acrn_model *)0)->path)) {
		snprintf(errbuf, errlen, "acrn model: bad socket path '%s'", sock);
		return -EINVAL;
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vm = vm;
	m->vcpus = 8;
	m->memfd = -1;
	m->listen_fd = -1;
	m->irq_conn = -1;
	m->irq_wake = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	snprintf(m->path, sizeof(m->path), "%s", sock);
	ret = parse_opts(m, opts, errbuf, errlen);
	if (ret)
		goto err;

	m->irq_epoll = epoll_create1(EPOLL_CLOEXEC);
	m->irq_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event wake = { .events = EPOLLIN, .data.u64 = UINT32_MAX };
	if (m->irq_epoll < 0 || m->irq_wake < 0 ||
	    epoll_ctl(m->irq_epoll, EPOLL_CTL_ADD, m->irq_wake, &wake) ||
	    pthread_create(&m->irq_thread, NULL, irqfd_thread, m)) {
		ret = -errno;
		snprintf(errbuf, errlen, "acrn model: cannot start: %s", strerror(errno));
		goto err;
	}
	m->irq_thread_running = true;

	ret = model_link_listen(m, errbuf, errlen);
	if (ret)
		goto err;
	*sys = (struct acrn_sys){ .open = model_open, .ioctl = model_ioctl, .close = model_close,
				  .release = model_release, .ctx = m };
	*out = m;
	hsm_log(vm, HSM_LOG_INFO, "acrn model: %u vCPUs; waiting for the test driver on %s", m->vcpus,
		m->path);
	return 0;
err:
	acrn_model_destroy(m);
	return ret;
}

void acrn_model_destroy(struct acrn_model *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	model_link_stop(m);
	if (m->irq_thread_running) {
		(void)eventfd_write(m->irq_wake, 1);
		pthread_join(m->irq_thread, NULL);
	}
	drop_notifiers_locked(m);
	hsm_log(m->vm, HSM_LOG_INFO,
		"acrn model: %u I/O exits, at most %u vCPUs waiting at once, %u protocol "
		"violations",
		m->exits, m->max_waiting, m->violations);
	if (m->boot.nwin)
		hsm_log(m->vm, HSM_LOG_INFO,
			"acrn model: %u programmed memory BARs read, %u outside the DSDT's %u PCI "
			"windows",
			m->boot.bars_checked, m->boot.bars_outside, m->boot.nwin);
	for (unsigned i = 0; i < ACRN_VIOAPIC_PINS; i++) {
		const struct model_irqline *l = &m->irqline[i];

		if (l->ops[0] || l->ops[1] || l->ops[2] || l->ops[3])
			hsm_log(m->vm, HSM_LOG_INFO,
				"acrn model: %s %u: %u rising edges (SET_HIGH %u, SET_LOW %u, "
				"RAISING_PULSE %u, FALLING_PULSE %u)",
				i < 16 ? "ISA IRQ" : "GSI", i, l->rises, l->ops[0], l->ops[1],
				l->ops[2], l->ops[3]);
	}
	if (m->irq_wake >= 0)
		close(m->irq_wake);
	if (m->irq_epoll >= 0)
		close(m->irq_epoll);
	if (m->memfd >= 0)
		close(m->memfd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int acrn_model_raw_request(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req,
			   struct acrn_io_request *done, int timeout_ms)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	if (vcpu >= m->vcpus || m->state != VM_RUNNING) {
		ret = -EINVAL;
	} else if (m->slot_used[vcpu]) {
		ret = -EBUSY;
	} else {
		struct acrn_io_request r = *req;

		m->slot_used[vcpu] = true;
		if (model_ioeventfd_take_locked(m, &r)) {
			r.processed = ACRN_IOREQ_STATE_COMPLETE;
			if (done)
				*done = r;
			ret = 0;
		} else {
			ret = model_exit_io_locked(m, vcpu, req, done, timeout_ms);
		}
		m->slot_used[vcpu] = false;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int acrn_model_kernel_slot(struct acrn_model *m, unsigned vcpu, const struct acrn_io_request *req)
{
	struct acrn_io_request *slot;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (vcpu >= m->vcpus || m->state != VM_RUNNING || !m->iobuf) {
		ret = -EINVAL;
		goto out;
	}
	slot = &m->iobuf->req_slot[vcpu];
	if (req) {
		if (m->slot_used[vcpu] || __atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) !=
						  ACRN_IOREQ_STATE_FREE) {
			ret = -EBUSY;
			goto out;
		}
		m->slot_used[vcpu] = true;
		memcpy(slot, req, offsetof(struct acrn_io_request, processed));
		slot->kernel_handled = 1; /* an in-kernel client owns it */
		__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_PROCESSING, __ATOMIC_RELEASE);
	} else {
		if (__atomic_load_n(&slot->processed, __ATOMIC_ACQUIRE) !=
		    ACRN_IOREQ_STATE_PROCESSING) {
			ret = -EINVAL;
			goto out;
		}
		__atomic_store_n(&slot->processed, ACRN_IOREQ_STATE_FREE, __ATOMIC_RELEASE);
		m->slot_used[vcpu] = false;
	}
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void acrn_model_boot_report(struct acrn_model *m, struct acrn_model_boot *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->boot;
	pthread_mutex_unlock(&m->lock);
}

void acrn_model_created(struct acrn_model *m, uint8_t id[16], uint64_t *cpu_affinity)
{
	pthread_mutex_lock(&m->lock);
	memcpy(id, m->created_id, 16);
	*cpu_affinity = m->created_affinity;
	pthread_mutex_unlock(&m->lock);
}

unsigned acrn_model_violations(struct acrn_model *m)
{
	unsigned n;

	pthread_mutex_lock(&m->lock);
	n = m->violations;
	pthread_mutex_unlock(&m->lock);
	return n;
}
