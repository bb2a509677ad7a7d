/*
 * qemu.c - libhsm's qemu back-end: vdm as the remote device process of
 * QEMU's multi-process PCI proxy (x-pci-proxy-dev).
 *
 * Each PCI function has its own UNIX stream socket.  QEMU sends guest RAM as
 * file descriptors (SYNC_SYSMEM), config-space and BAR accesses (answered
 * with RET), the INTx irqfd and its resample fd (SET_IRQFD), and function
 * resets.  Everything runs on the loop thread: a message is read without
 * blocking, turned into the same struct hsm_ioreq the simulator produces and
 * handed straight to the device model.
 *
 * QEMU's proxy cannot deliver MSI, and it has no ioeventfd: a BAR write that
 * matches a registered ioeventfd signals it here.  A malformed message or a
 * closed socket stops that one function; the others keep being served.
 *
 * Starting and stopping the QEMU child lives in qemu_launch.c.
 */
#include "qemu_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_SIZE sizeof(struct mpqemu_hdr)

static struct qemu_vm *qvm(struct hsm_vm *vm)
{
	return vm->priv;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void drop_rx_fds(struct qemu_fn *f)
{
	for (int i = 0; i < f->rx_nfds; i++)
		close_fd(&f->rx_fds[i]);
	f->rx_nfds = 0;
}

static void drop_irqfds(struct qemu_fn *f)
{
	struct hsm_vm *vm = f->vm;

	if (f->resamplefd >= 0)
		vm->cfg.loop.del_fd(vm->cfg.loop.loop, f->resamplefd);
	close_fd(&f->resamplefd);
	close_fd(&f->irqfd);
}

/* Stop serving one function after a protocol error (why says which) or an
 * orderly close by QEMU (why == NULL). */
void qemu_fn_stop(struct qemu_fn *f, const char *why)
{
	struct hsm_vm *vm = f->vm;

	if (f->sock < 0)
		return;
	if (why)
		hsm_log(vm, HSM_LOG_ERR, "qemu: %02x:%02x.%x: %s; this function is no longer served",
			f->bdf >> 8, (f->bdf >> 3) & 0x1f, f->bdf & 7, why);
	vm->cfg.loop.del_fd(vm->cfg.loop.loop, f->sock);
	close_fd(&f->sock);
	drop_rx_fds(f);
	drop_irqfds(f);
	f->intx_level = false;
}

/* Payload size each command must carry; -1 for commands QEMU never sends. */
static long expected_size(int32_t cmd)
{
	switch (cmd) {
	case MPQEMU_SYNC_SYSMEM:
		return sizeof(struct mpqemu_sysmem);
	case MPQEMU_PCI_CFGWRITE:
	case MPQEMU_PCI_CFGREAD:
		return sizeof(struct mpqemu_cfg);
	case MPQEMU_BAR_WRITE:
	case MPQEMU_BAR_READ:
		return sizeof(struct mpqemu_bar);
	case MPQEMU_SET_IRQFD:
	case MPQEMU_DEVICE_RESET:
		return 0;
	default:
		return -1;
	}
}

/*
 * Read what is available of the current message without blocking and
 * without reading into the next one.  Returns 1 when the message is
 * complete, 0 when more must arrive, or -1 with *why set (NULL when QEMU
 * closed the socket between messages).
 */
static int fn_receive(struct qemu_fn *f, const char **why)
{
	for (;;) {
		size_t want = HDR_SIZE;
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * MPQEMU_MAX_FDS)];
		} ctl;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n;
		bool too_many = false;

		if (f->rx_have >= HDR_SIZE) {
			long size = expected_size(f->rx.msg.hdr.cmd);

			if (size < 0) {
				*why = "unknown or unexpected command from QEMU";
				return -1;
			}
			if (f->rx.msg.hdr.size != (uint64_t)size) {
				*why = "message with a payload size that does not match its command";
				return -1;
			}
			want = HDR_SIZE + (size_t)size;
		}
		if (f->rx_have == want)
			return 1;
		iov = (struct iovec){ f->rx.bytes + f->rx_have, want - f->rx_have };
		n = recvmsg(f->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0) {
			*why = "socket error";
			return -1;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[MPQEMU_MAX_FDS];

			memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
			for (size_t i = 0; i < nfds; i++) {
				if (f->rx_nfds < MPQEMU_MAX_FDS)
					f->rx_fds[f->rx_nfds++] = fds[i];
				else {
					close(fds[i]);
					too_many = true;
				}
			}
		}
		if (too_many || (mh.msg_flags & MSG_CTRUNC)) {
			*why = "more file descriptors than a message may carry";
			return -1;
		}
		if (n == 0) {
			/* NULL: an orderly close, between messages. */
			*why = f->rx_have ? "socket closed in the middle of a message" : NULL;
			return -1;
		}
		f->rx_have += (size_t)n;
	}
}

static int send_ret(struct qemu_fn *f, uint64_t val)
{
	struct {
		struct mpqemu_hdr hdr;
		struct mpqemu_ret ret;
	} msg = { { MPQEMU_RET, 0, sizeof(struct mpqemu_ret) }, { val } };
	const uint8_t *p = (const uint8_t *)&msg;
	size_t left = sizeof(msg);

	/* QEMU's vCPU is blocked on this reply, so the socket has room; a
	 * short write only happens on signals. */
	while (left) {
		ssize_t n = send(f->sock, p, left, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

/* ---- guest RAM ---- */

static struct qemu_ram_file *ram_file_for(struct qemu_vm *q, int fd, const char **why)
{
	struct stat st;
	struct qemu_ram_file *rf;
	void *base;

	if (fstat(fd, &st) || st.st_size <= 0) {
		*why = "guest RAM file descriptor cannot be examined";
		return NULL;
	}
	for (int i = 0; i < q->nfiles; i++)
		if (q->files[i].dev == st.st_dev && q->files[i].ino == st.st_ino)
			return &q->files[i];
	if (q->nfiles == QEMU_MAX_RAM_FILES) {
		*why = "guest RAM spread over too many files";
		return NULL;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = "guest RAM file descriptor cannot be mapped";
		return NULL;
	}
	rf = &q->files[q->nfiles++];
	*rf = (struct qemu_ram_file){ .dev = st.st_dev, .ino = st.st_ino, .fd = dup(fd),
				      .base = base, .len = (size_t)st.st_size };
	if (rf->fd < 0) {
		munmap(base, rf->len);
		q->nfiles--;
		*why = "out of file descriptors";
		return NULL;
	}
	hsm_log(q->vm, HSM_LOG_DEBUG, "qemu: mapped a %zu MiB guest RAM file", rf->len >> 20);
	return rf;
}

/*
 * Replace the guest memory map.  Each file is mapped once, whole, and stays
 * mapped: a region that QEMU re-sends (SeaBIOS makes it do that dozens of
 * times) keeps the same host address, so ring pointers held by devices stay
 * valid.
 */
static int sync_sysmem(struct qemu_fn *f, const char **why)
{
	struct qemu_vm *q = qvm(f->vm);
	struct mpqemu_sysmem m;
	struct hsm_mem_region regions[MPQEMU_MAX_FDS];
	int n = f->rx_nfds;

	memcpy(&m, f->rx.msg.payload, sizeof(m));
	if (n == 0) {
		*why = "memory map without file descriptors";
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct qemu_ram_file *rf = ram_file_for(q, f->rx_fds[i], why);
		uint64_t off = (uint64_t)m.offsets[i], size = m.sizes[i];

		if (!rf)
			return -1;
		if (m.offsets[i] < 0 || size == 0 || off > rf->len || size > rf->len - off ||
		    m.gpas[i] + size - 1 < m.gpas[i]) {
			*why = "memory region outside its file or wrapping the address space";
			return -1;
		}
		regions[i] = (struct hsm_mem_region){ .gpa = m.gpas[i], .size = size,
						      .hva = (uint8_t *)rf->base + off,
						      .fd = rf->fd, .fd_offset = off };
	}
	/* Each function's socket gets the same map: only a change is news. */
	bool same = n == f->vm->nregions;
	for (int i = 0; same && i < n; i++)
		same = regions[i].gpa == f->vm->regions[i].gpa &&
		       regions[i].size == f->vm->regions[i].size &&
		       regions[i].hva == f->vm->regions[i].hva;
	if (same)
		return 0;
	hsm_clear_regions(f->vm);
	for (int i = 0; i < n; i++)
		hsm_add_region(f->vm, regions[i].gpa, regions[i].size, regions[i].hva,
			       regions[i].fd, regions[i].fd_offset);
	if (f->vm->cfg.mem_changed)
		f->vm->cfg.mem_changed(f->vm->cfg.ioreq_opaque);
	return 0;
}

/* ---- requests ---- */

static int do_cfg(struct qemu_fn *f, bool write, const char **why)
{
	struct mpqemu_cfg c;
	struct hsm_ioreq req;

	memcpy(&c, f->rx.msg.payload, sizeof(c));
	if ((c.len != 1 && c.len != 2 && c.len != 4) || c.addr > 4096 - (uint32_t)c.len ||
	    c.addr % (uint32_t)c.len) {
		*why = "config-space access with a bad offset or size";
		return -1;
	}
	req = (struct hsm_ioreq){ .space = HSM_IO_PCICFG,
				  .dir = write ? HSM_IO_WRITE : HSM_IO_READ,
				  .addr = c.addr, .size = (uint32_t)c.len, .bdf = f->bdf,
				  .data = write ? c.val : 0 };
	f->vm->cfg.ioreq(f->vm->cfg.ioreq_opaque, &req);
	return send_ret(f, write ? 0 : req.data);
}

static int do_bar(struct qemu_fn *f, bool write, const char **why)
{
	struct mpqemu_bar b;
	struct hsm_ioreq req;

	memcpy(&b, f->rx.msg.payload, sizeof(b));
	if ((b.size != 1 && b.size != 2 && b.size != 4 && b.size != 8) || b.memory > 1 ||
	    b.addr + b.size - 1 < b.addr) {
		*why = "BAR access with a bad size or address";
		return -1;
	}
	req = (struct hsm_ioreq){ .space = b.memory ? HSM_IO_MMIO : HSM_IO_PIO,
				  .dir = write ? HSM_IO_WRITE : HSM_IO_READ,
				  .addr = b.addr, .size = b.size, .data = write ? b.val : 0 };
	/* No ioeventfd in this proxy: a matching notify write becomes the
	 * eventfd signal here and never reaches the device model. */
	if (!write || !hsm_match_ioeventfd(f->vm, &req))
		f->vm->cfg.ioreq(f->vm->cfg.ioreq_opaque, &req);
	return send_ret(f, write ? 0 : req.data);
}

static void resample_cb(void *arg, int fd, uint32_t events)
{
	struct qemu_fn *f = arg;
	eventfd_t v;

	(void)events;
	if (eventfd_read(fd, &v))
		return;
	/* The guest acknowledged the interrupt: raise it again while the
	 * device still has something pending (level semantics). */
	if (f->intx_level && f->irqfd >= 0)
		eventfd_write(f->irqfd, 1);
}

static int do_set_irqfd(struct qemu_fn *f, const char **why)
{
	struct hsm_vm *vm = f->vm;

	if (f->rx_nfds != 2) {
		*why = "SET_IRQFD without exactly two file descriptors";
		return -1;
	}
	drop_irqfds(f);
	f->irqfd = f->rx_fds[0];
	f->resamplefd = f->rx_fds[1];
	f->rx_nfds = 0;
	if (vm->cfg.loop.add_fd(vm->cfg.loop.loop, f->resamplefd, EPOLLIN, resample_cb, f)) {
		*why = "cannot watch the INTx resample fd";
		return -1;
	}
	if (f->intx_level)
		eventfd_write(f->irqfd, 1);
	return 0;
}

static int handle_message(struct qemu_fn *f, const char **why)
{
	int32_t cmd = f->rx.msg.hdr.cmd;

	if (cmd != MPQEMU_SYNC_SYSMEM && cmd != MPQEMU_SET_IRQFD && f->rx_nfds) {
		*why = "file descriptors on a message that takes none";
		return -1;
	}
	switch (cmd) {
	case MPQEMU_SYNC_SYSMEM:
		return sync_sysmem(f, why);
	case MPQEMU_PCI_CFGWRITE:
	case MPQEMU_PCI_CFGREAD:
		return do_cfg(f, cmd == MPQEMU_PCI_CFGWRITE, why);
	case MPQEMU_BAR_WRITE:
	case MPQEMU_BAR_READ:
		return do_bar(f, cmd == MPQEMU_BAR_WRITE, why);
	case MPQEMU_SET_IRQFD:
		return do_set_irqfd(f, why);
	case MPQEMU_DEVICE_RESET:
		if (f->vm->cfg.reset)
			f->vm->cfg.reset(f->vm->cfg.ioreq_opaque, f->bdf);
		return send_ret(f, 0);
	}
	*why = "unknown command";
	return -1;
}

static void fn_readable(void *arg, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	qemu_fn_serve(arg);
}

void qemu_fn_serve(struct qemu_fn *f)
{
	const char *why = NULL;

	while (f->sock >= 0) {
		int r = fn_receive(f, &why);

		if (r == 0)
			return;
		if (r > 0) {
			if (!f->connected) {
				f->connected = true;
				if (qemu_all_connected(qvm(f->vm)))
					hsm_log(f->vm, HSM_LOG_INFO, "qemu: QEMU connected to all %d functions",
						qvm(f->vm)->nfns);
			}
			r = handle_message(f, &why);
			drop_rx_fds(f);
			f->rx_have = 0;
		}
		if (r < 0 && !why) { /* QEMU went away between messages */
			hsm_log(f->vm, HSM_LOG_INFO, "qemu: %02x:%02x.%x: QEMU closed the connection",
				f->bdf >> 8, (f->bdf >> 3) & 0x1f, f->bdf & 7);
			qemu_fn_stop(f, NULL);
		} else if (r < 0) {
			qemu_fn_stop(f, why);
		}
		if (r < 0)
			return;
	}
}

bool qemu_all_connected(const struct qemu_vm *q)
{
	for (int i = 0; i < q->nfns; i++)
		if (!q->fns[i].connected)
			return false;
	return true;
}

/* ---- back-end operations ---- */

static int qemu_open(struct hsm_vm *vm, const char *arg, char *errbuf, size_t errlen)
{
	struct qemu_vm *q;
	int ret;

	if (arg) {
		snprintf(errbuf, errlen, "the qemu back-end takes no argument ('%s')", arg);
		return -EINVAL;
	}
	if (!vm->cfg.hv_argv || !vm->cfg.hv_argv[0]) {
		snprintf(errbuf, errlen, "the qemu back-end needs the QEMU command after '--'");
		return -EINVAL;
	}
	ret = qemu_probe(vm->cfg.hv_argv, errbuf, errlen);
	if (ret)
		return ret;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->vm = vm;
	q->pidfd = -1;
	vm->priv = q;
	return 0;
}

static int qemu_add_pci_function(struct hsm_vm *vm, uint16_t bdf)
{
	struct qemu_vm *q = qvm(vm);
	struct qemu_fn *f;
	int sv[2];

	if (bdf >> 8) /* the proxy places functions on QEMU's root bus only */
		return -EINVAL;
	if (q->nfns == QEMU_MAX_FUNCS)
		return -ENOSPC;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	f = &q->fns[q->nfns];
	*f = (struct qemu_fn){ .vm = vm, .bdf = bdf, .sock = sv[0], .peer = sv[1],
			       .irqfd = -1, .resamplefd = -1 };
	for (int i = 0; i < MPQEMU_MAX_FDS; i++)
		f->rx_fds[i] = -1;
	if (vm->cfg.loop.add_fd(vm->cfg.loop.loop, f->sock, EPOLLIN, fn_readable, f)) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	q->nfns++;
	return 0;
}

static int qemu_start(struct hsm_vm *vm, char *errbuf, size_t errlen)
{
	return qemu_launch(qvm(vm), errbuf, errlen);
}

static void qemu_close(struct hsm_vm *vm)
{
	struct qemu_vm *q = qvm(vm);

	if (!q)
		return;
	qemu_stop(q);
	for (int i = 0; i < q->nfns; i++) {
		struct qemu_fn *f = &q->fns[i];

		if (f->sock >= 0)
			vm->cfg.loop.del_fd(vm->cfg.loop.loop, f->sock);
		close_fd(&f->sock);
		close_fd(&f->peer);
		drop_rx_fds(f);
		drop_irqfds(f);
	}
	hsm_clear_regions(vm);
	for (int i = 0; i < q->nfiles; i++) {
		munmap(q->files[i].base, q->files[i].len);
		close(q->files[i].fd);
	}
	free(q->argv);
	free(q);
	vm->priv = NULL;
}

static struct qemu_fn *fn_by_bdf(struct qemu_vm *q, uint16_t bdf)
{
	for (int i = 0; i < q->nfns; i++)
		if (q->fns[i].bdf == bdf)
			return &q->fns[i];
	return NULL;
}

static int qemu_set_intx(struct hsm_vm *vm, const struct hsm_irq *irq, bool level)
{
	struct qemu_fn *f = fn_by_bdf(qvm(vm), irq->bdf);

	if (!f)
		return -ENOENT;
	/* The irqfd asserts; QEMU deasserts when the guest acknowledges and
	 * tells us through the resample fd (see resample_cb). */
	if (level && !f->intx_level && f->irqfd >= 0)
		eventfd_write(f->irqfd, 1);
	f->intx_level = level;
	return 0;
}

static int qemu_inject_msi(struct hsm_vm *vm, uint64_t addr, uint32_t data)
{
	(void)vm;
	(void)addr;
	(void)data;
	return -EOPNOTSUPP;
}

const struct hsm_backend_ops hsm_qemu_ops = {
	.name = "qemu",
	.usage = "qemu",
	.caps = { .msi = false, .intx = true, .native_ioeventfd = false,
		  .hv_hostbridge = true, .hv_command = true, .ram_remaps = true },
	.open = qemu_open,
	.add_pci_function = qemu_add_pci_function,
	.start = qemu_start,
	.close = qemu_close,
	.inject_msi = qemu_inject_msi,
	.set_intx = qemu_set_intx,
};
