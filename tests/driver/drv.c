/*
 * drv.c - the test driver's link to the simulator, PCI enumeration, and
 * process control of vdm for tests.
 */
#include "drv.h"
#include "hsm.h"
#include "sim-protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>

static int checks_failed, checks_passed;

static void __attribute__((noreturn, format(printf, 1, 2))) hard_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "test driver: hard error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(99);
}

bool drv_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		checks_passed++;
	else
		checks_failed++;
	return ok;
}

int drv_failures(void)
{
	return checks_failed;
}

int drv_result(void)
{
	printf("%d checks passed, %d failed\n", checks_passed, checks_failed);
	return checks_failed ? 1 : 0;
}

/* ---- vdm process ---- */

static const char *vdm_path(void)
{
	const char *p = getenv("VDM");

	return p && *p ? p : "./devicemodel/vdm";
}

void drv_use_acrn_model(void)
{
	const char *p = getenv("VDM_ACRN_MODEL");

	setenv("VDM", p && *p ? p : "./tests/acrn/vdm-acrn-model", 1);
}

const char *drv_hsm_prefix(void)
{
	const char *h = getenv("VDM_TEST_HSM");

	if (!h || !*h || !strcmp(h, "sim"))
		return "sim";
	if (!strcmp(h, "acrn"))
		return "acrn:model"; /* the acrn back-end against its HSM model */
	return h;
}

static int connect_seqpacket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int vdm_spawn(struct vdm_proc *p, const char *const *args, int *status)
{
	const char *argv[128];
	char hsm[160];
	int n = 0;

	snprintf(p->dir, sizeof(p->dir), "/tmp/vdm-test-XXXXXX");
	if (!mkdtemp(p->dir))
		hard_error("mkdtemp: %s", strerror(errno));
	snprintf(p->sock, sizeof(p->sock), "%s/sim.sock", p->dir);
	snprintf(hsm, sizeof(hsm), "%s:%s", drv_hsm_prefix(), p->sock);
	argv[n++] = vdm_path();
	argv[n++] = "--hsm";
	argv[n++] = hsm;
	for (int i = 0; args && args[i] && n < 126; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	p->pid = fork();
	if (p->pid < 0)
		hard_error("fork: %s", strerror(errno));
	if (p->pid == 0) {
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Wait for the socket to accept, or for vdm to exit. */
	for (int tries = 0; tries < 2000; tries++) {
		int st, fd;

		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			if (status)
				*status = decode_status(st);
			p->pid = 0;
			rmdir(p->dir);
			return -1;
		}
		fd = connect_seqpacket(p->sock);
		if (fd >= 0) {
			/* A probe: vdm drops a connection that says no hello. */
			close(fd);
			return 0;
		}
		usleep(5000);
	}
	hard_error("vdm did not open %s within 10 s", p->sock);
}

int vdm_stop(struct vdm_proc *p)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			unlink(p->sock);
			rmdir(p->dir);
			return decode_status(st);
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return 128 + SIGKILL;
}

int vdm_run(const char *const *args, char *errbuf, size_t errlen)
{
	const char *argv[128];
	int pipefd[2], n = 0, st;
	size_t got = 0;
	pid_t pid;

	argv[n++] = vdm_path();
	for (int i = 0; args && args[i] && n < 127; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(pipefd))
		hard_error("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		hard_error("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd pf = { .fd = pipefd[0], .events = POLLIN };
		char buf[512];
		ssize_t r;

		/* A vdm that should have exited but serves on is a failure,
		 * not a test that hangs: it gets 30 s. */
		if (poll(&pf, 1, 30000) == 0) {
			kill(pid, SIGKILL);
			break;
		}
		r = read(pipefd[0], buf, sizeof(buf));
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r && got + 1 < errlen; i++)
			errbuf[got++] = buf[i];
	}
	if (errlen)
		errbuf[got] = '\0';
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	return decode_status(st);
}

/* ---- guest link ---- */

static int hello(const char *path, uint32_t role, int *memfd, uint64_t *ram_size)
{
	struct sim_msg m = { .type = SIM_HELLO, .arg = role };
	char ctrl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
			     .msg_controllen = sizeof(ctrl) };
	int fd = connect_seqpacket(path);

	if (fd < 0)
		hard_error("connect %s: %s", path, strerror(errno));
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		hard_error("hello: %s", strerror(errno));
	if (recvmsg(fd, &mh, MSG_CMSG_CLOEXEC) != sizeof(m) || m.type != SIM_WELCOME)
		hard_error("no welcome from vdm");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		hard_error("welcome carried no guest RAM");
	memcpy(memfd, CMSG_DATA(cm), sizeof(int));
	*ram_size = m.addr;
	return fd;
}

int drv_connect_vcpu(struct drv *d, const struct drv *base, const char *path)
{
	int memfd;
	uint64_t size;

	*d = *base;
	d->vcpu_fd = hello(path, SIM_ROLE_VCPU, &memfd, &size);
	close(memfd);
	return 0;
}

int drv_connect(struct drv *d, const char *path)
{
	int memfd, memfd2;
	uint64_t size2;

	d->vcpu_fd = hello(path, SIM_ROLE_VCPU, &memfd, &d->ram_size);
	d->irq_fd = hello(path, SIM_ROLE_IRQ, &memfd2, &size2);
	close(memfd2);
	d->ram = mmap(NULL, d->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	if (d->ram == MAP_FAILED)
		hard_error("mmap guest RAM: %s", strerror(errno));
	return 0;
}

void drv_disconnect(struct drv *d)
{
	munmap(d->ram, d->ram_size);
	close(d->vcpu_fd);
	close(d->irq_fd);
}

void *drv_gpa(struct drv *d, uint64_t gpa, uint64_t len)
{
	if (gpa > d->ram_size || len > d->ram_size - gpa)
		hard_error("test placed data outside guest RAM at %#llx", (unsigned long long)gpa);
	return d->ram + gpa;
}

uint64_t drv_io(struct drv *d, int space, int dir, uint64_t addr, unsigned size, uint16_t bdf,
		uint64_t data)
{
	struct sim_msg m = { .type = SIM_IO, .arg = (uint32_t)space, .addr = addr, .data = data,
			     .size = size, .bdf = bdf, .dir = (uint8_t)dir };

	if (send(d->vcpu_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		hard_error("vCPU request: %s", strerror(errno));
	if (recv(d->vcpu_fd, &m, sizeof(m), 0) != sizeof(m) || m.type != SIM_IO_DONE)
		hard_error("vdm did not complete an I/O request (did it crash?)");
	return m.data;
}

uint32_t drv_cfg_read(struct drv *d, uint16_t bdf, unsigned off, unsigned size)
{
	return (uint32_t)drv_io(d, HSM_IO_PCICFG, HSM_IO_READ, off, size, bdf, 0);
}

void drv_cfg_write(struct drv *d, uint16_t bdf, unsigned off, unsigned size, uint32_t val)
{
	drv_io(d, HSM_IO_PCICFG, HSM_IO_WRITE, off, size, bdf, val);
}

uint64_t drv_mmio_read(struct drv *d, uint64_t addr, unsigned size)
{
	return drv_io(d, HSM_IO_MMIO, HSM_IO_READ, addr, size, 0, 0);
}

void drv_mmio_write(struct drv *d, uint64_t addr, unsigned size, uint64_t val)
{
	drv_io(d, HSM_IO_MMIO, HSM_IO_WRITE, addr, size, 0, val);
}

uint64_t drv_pio_read(struct drv *d, uint64_t port, unsigned size)
{
	return drv_io(d, HSM_IO_PIO, HSM_IO_READ, port, size, 0, 0);
}

void drv_pio_write(struct drv *d, uint64_t port, unsigned size, uint64_t val)
{
	drv_io(d, HSM_IO_PIO, HSM_IO_WRITE, port, size, 0, val);
}

int drv_wait_irq(struct drv *d, struct drv_irq *irq, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->irq_fd, .events = POLLIN };
	struct sim_msg m;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	if (recv(d->irq_fd, &m, sizeof(m), 0) != sizeof(m) || m.type != SIM_IRQ)
		hard_error("bad interrupt message from vdm");
	*irq = (struct drv_irq){ .kind = (int)m.arg, .addr = m.addr, .data = (uint32_t)m.data,
				 .bdf = m.bdf, .pin = m.pin };
	return 1;
}

/* ---- PCI enumeration ---- */

static void size_bars(struct drv *d, struct drv_func *f)
{
	uint16_t cmd = (uint16_t)drv_cfg_read(d, f->bdf, PCI_COMMAND, 2);

	/* Decode off while the BARs hold the sizing pattern. */
	drv_cfg_write(d, f->bdf, PCI_COMMAND, 2,
		      cmd & (uint16_t)~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (int i = 0; i < 6; i++) {
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;
		uint32_t orig = drv_cfg_read(d, f->bdf, off, 4);
		uint32_t mask;
		struct drv_bar *b = &f->bars[i];

		drv_cfg_write(d, f->bdf, off, 4, 0xffffffff);
		mask = drv_cfg_read(d, f->bdf, off, 4);
		drv_cfg_write(d, f->bdf, off, 4, orig);
		if (mask == 0)
			continue;
		if (orig & PCI_BASE_ADDRESS_SPACE_IO) {
			b->type = DRV_BAR_IO;
			b->size = (uint32_t)~(mask & PCI_BASE_ADDRESS_IO_MASK) + 1;
			continue;
		}
		b->prefetchable = orig & PCI_BASE_ADDRESS_MEM_PREFETCH;
		uint64_t full = mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
		if ((orig & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && i < 5) {
			uint32_t orig_hi = drv_cfg_read(d, f->bdf, off + 4, 4);

			drv_cfg_write(d, f->bdf, off + 4, 4, 0xffffffff);
			full |= (uint64_t)drv_cfg_read(d, f->bdf, off + 4, 4) << 32;
			drv_cfg_write(d, f->bdf, off + 4, 4, orig_hi);
			b->type = DRV_BAR_MEM64;
			b->size = ~full + 1;
			i++;
		} else {
			b->type = DRV_BAR_MEM32;
			b->size = (uint32_t)~full + 1;
		}
	}
	drv_cfg_write(d, f->bdf, PCI_COMMAND, 2, cmd);
}

static void walk_caps(struct drv *d, struct drv_func *f)
{
	uint8_t off;

	f->ncaps = 0;
	if (!(drv_cfg_read(d, f->bdf, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return;
	off = (uint8_t)drv_cfg_read(d, f->bdf, PCI_CAPABILITY_LIST, 1);
	/* A broken list must not hang the test: at most 48 capabilities. */
	while (off && f->ncaps < 48) {
		f->caps[f->ncaps].off = off;
		f->caps[f->ncaps].id = (uint8_t)drv_cfg_read(d, f->bdf, off, 1);
		f->ncaps++;
		off = (uint8_t)drv_cfg_read(d, f->bdf, off + 1, 1) & 0xfc;
	}
}

static void read_func(struct drv *d, uint16_t bdf, struct drv_func *f)
{
	memset(f, 0, sizeof(*f));
	f->bdf = bdf;
	f->vendor = (uint16_t)drv_cfg_read(d, bdf, PCI_VENDOR_ID, 2);
	f->device = (uint16_t)drv_cfg_read(d, bdf, PCI_DEVICE_ID, 2);
	f->revision = (uint8_t)drv_cfg_read(d, bdf, PCI_REVISION_ID, 1);
	f->class_code = drv_cfg_read(d, bdf, PCI_CLASS_REVISION, 4) >> 8;
	f->header_type = (uint8_t)drv_cfg_read(d, bdf, PCI_HEADER_TYPE, 1);
	f->subsys_vendor = (uint16_t)drv_cfg_read(d, bdf, PCI_SUBSYSTEM_VENDOR_ID, 2);
	f->subsys_id = (uint16_t)drv_cfg_read(d, bdf, PCI_SUBSYSTEM_ID, 2);
	f->int_pin = (uint8_t)drv_cfg_read(d, bdf, PCI_INTERRUPT_PIN, 1);
	size_bars(d, f);
	walk_caps(d, f);
}

int drv_enumerate(struct drv *d, struct drv_func *out, int max)
{
	int n = 0;

	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned fn = 0; fn < 8 && n < max; fn++) {
			uint16_t bdf = hsm_bdf(0, slot, fn);

			if ((uint16_t)drv_cfg_read(d, bdf, PCI_VENDOR_ID, 2) == 0xffff) {
				if (fn == 0)
					break;
				continue;
			}
			read_func(d, bdf, &out[n]);
			n++;
			if (fn == 0 && !(out[n - 1].header_type & 0x80))
				break;
		}
	}
	return n;
}

void drv_assign_bars(struct drv *d, struct drv_func *f, uint64_t *mmio_base, uint32_t *io_base)
{
	for (int i = 0; i < 6; i++) {
		struct drv_bar *b = &f->bars[i];
		unsigned off = PCI_BASE_ADDRESS_0 + 4 * (unsigned)i;

		if (!b->type)
			continue;
		if (b->type == DRV_BAR_IO) {
			*io_base = (uint32_t)((*io_base + b->size - 1) & ~(b->size - 1));
			b->addr = *io_base;
			*io_base += (uint32_t)b->size;
			drv_cfg_write(d, f->bdf, off, 4, (uint32_t)b->addr);
			continue;
		}
		*mmio_base = (*mmio_base + b->size - 1) & ~(b->size - 1);
		b->addr = *mmio_base;
		*mmio_base += b->size;
		drv_cfg_write(d, f->bdf, off, 4, (uint32_t)b->addr);
		if (b->type == DRV_BAR_MEM64)
			drv_cfg_write(d, f->bdf, off + 4, 4, (uint32_t)(b->addr >> 32));
	}
	/* What firmware does: route INTx to an interrupt controller pin and
	 * say which in the line register (a hypervisor that raises INTx by
	 * GSI, like ACRN, delivers it there).  One pin per slot. */
	if (f->int_pin)
		drv_cfg_write(d, f->bdf, PCI_INTERRUPT_LINE, 1, DRV_INTX_GSI_BASE + ((f->bdf >> 3) & 0x1f));
	uint16_t cmd = (uint16_t)drv_cfg_read(d, f->bdf, PCI_COMMAND, 2);
	drv_cfg_write(d, f->bdf, PCI_COMMAND, 2,
		      cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

uint8_t drv_next_cap(const struct drv_func *f, uint8_t id, int *iter)
{
	for (int i = *iter; i < f->ncaps; i++) {
		if (f->caps[i].id == id) {
			*iter = i + 1;
			return f->caps[i].off;
		}
	}
	*iter = f->ncaps;
	return 0;
}
