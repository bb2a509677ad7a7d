/*
 * sim.c - the `sim` back-end: an in-process hypervisor simulator.
 *
 * Guest RAM is a memfd of the -m size at guest-physical 0.  A test driver
 * (tests/driver) connects to a UNIX SOCK_SEQPACKET socket once per simulated
 * vCPU and once for interrupts (wire format: sim-protocol.h).  Each vCPU
 * connection is served by its own thread, which plays the hypervisor's exit
 * path: a write matching an ioeventfd only signals the eventfd; every other
 * request is forwarded to the device model on the loop thread.  Interrupts
 * (MSI, INTx level changes) are sent to the interrupt connection.
 */
#include "hsm_internal.h"
#include "sim-protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define SIM_MAX_CONNS 64

struct sim_conn {
	struct hsm_vm *vm;
	int fd;
	pthread_t thread;
	bool has_thread;
};

struct sim {
	int memfd;
	void *ram;
	uint64_t ram_size;
	char path[108];
	int listen_fd;
	pthread_t accept_thread;
	bool accepting;

	pthread_mutex_t lock; /* conns, irq_fd */
	bool stopping;
	int nconns;
	struct sim_conn conns[SIM_MAX_CONNS];
	int irq_fd;
};

/* One simulated vCPU: take requests until the driver hangs up. */
static void *vcpu_thread(void *arg)
{
	struct sim_conn *c = arg;
	struct hsm_vm *vm = c->vm;
	struct sim_msg m;

	for (;;) {
		ssize_t n = recv(c->fd, &m, sizeof(m), 0);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n != (ssize_t)sizeof(m) || !sim_io_valid(&m)) {
			hsm_log(vm, HSM_LOG_WARN, "sim: malformed request from test driver; dropping vCPU");
			break;
		}
		struct hsm_ioreq req = {
			.space = (enum hsm_io_space)m.arg,
			.dir = (enum hsm_io_dir)m.dir,
			.addr = m.addr,
			.size = m.size,
			.bdf = m.bdf,
			.data = m.dir == HSM_IO_WRITE ? m.data : 0,
		};
		if (!hsm_match_ioeventfd(vm, &req) && hsm_forward_ioreq(vm, &req))
			break; /* VM closing */
		struct sim_msg done = { .type = SIM_IO_DONE,
					.data = req.dir == HSM_IO_READ ? req.data : 0 };
		if (sim_send(c->fd, &done, -1))
			break;
	}
	return NULL;
}

static void handle_new_conn(struct hsm_vm *vm, int fd)
{
	struct sim *s = vm->priv;
	struct sim_msg hello;
	struct sim_msg welcome = { .type = SIM_WELCOME, .addr = s->ram_size };
	struct timeval hello_timeout = { .tv_sec = 5 }, no_timeout = { 0 };
	ssize_t n;

	/* A client that never says hello must not stall the accept thread. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &hello_timeout, sizeof(hello_timeout));
	n = recv(fd, &hello, sizeof(hello), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &no_timeout, sizeof(no_timeout));
	if (n == 0) { /* a readiness probe: connected and hung up */
		close(fd);
		return;
	}
	if (n != (ssize_t)sizeof(hello) || hello.type != SIM_HELLO ||
	    (hello.arg != SIM_ROLE_VCPU && hello.arg != SIM_ROLE_IRQ) ||
	    sim_send(fd, &welcome, s->memfd)) {
		hsm_log(vm, HSM_LOG_WARN, "sim: test driver connection without a valid hello; closed");
		close(fd);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping || s->nconns >= SIM_MAX_CONNS) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return;
	}
	struct sim_conn *c = &s->conns[s->nconns++];
	*c = (struct sim_conn){ .vm = vm, .fd = fd };
	if (hello.arg == SIM_ROLE_IRQ) {
		s->irq_fd = fd; /* the newest interrupt listener wins */
	} else if (pthread_create(&c->thread, NULL, vcpu_thread, c) == 0) {
		c->has_thread = true;
	} else {
		hsm_log(vm, HSM_LOG_ERR, "sim: cannot start a vCPU thread");
	}
	pthread_mutex_unlock(&s->lock);
	hsm_log(vm, HSM_LOG_DEBUG, "sim: test driver connected (%s)",
		hello.arg == SIM_ROLE_IRQ ? "interrupts" : "vCPU");
}

static void *accept_thread(void *arg)
{
	struct hsm_vm *vm = arg;
	struct sim *s = vm->priv;

	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* listen socket shut down */
		}
		handle_new_conn(vm, fd);
	}
	return NULL;
}

static int sim_open(struct hsm_vm *vm, const char *arg, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sim *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->memfd = -1;
	s->listen_fd = -1;
	s->irq_fd = -1;
	s->ram = MAP_FAILED;
	s->ram_size = vm->cfg.ram_size;
	pthread_mutex_init(&s->lock, NULL);
	vm->priv = s;

	if (arg && *arg) {
		if (strlen(arg) >= sizeof(s->path)) {
			snprintf(errbuf, errlen, "sim socket path too long: %s", arg);
			ret = -ENAMETOOLONG;
			goto err;
		}
		strcpy(s->path, arg);
	} else {
		snprintf(s->path, sizeof(s->path), "/tmp/vdm-sim-%d.sock", (int)getpid());
	}

	s->memfd = memfd_create("vdm-guest-ram", MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, (off_t)s->ram_size)) {
		ret = -errno;
		snprintf(errbuf, errlen, "cannot allocate %llu bytes of guest RAM: %s",
			 (unsigned long long)s->ram_size, strerror(errno));
		goto err;
	}
	s->ram = mmap(NULL, s->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->ram == MAP_FAILED) {
		ret = -errno;
		snprintf(errbuf, errlen, "cannot map guest RAM: %s", strerror(errno));
		goto err;
	}
	ret = hsm_add_region(vm, 0, s->ram_size, s->ram, s->memfd, 0);
	if (ret)
		goto err;

	strcpy(sa.sun_path, s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		ret = -errno;
		goto err;
	}
	unlink(s->path);
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->listen_fd, 16)) {
		ret = -errno;
		snprintf(errbuf, errlen, "cannot listen on sim socket %s: %s", s->path,
			 strerror(errno));
		goto err;
	}
	return 0;

err:
	vm->ops->close(vm);
	return ret;
}

static int sim_start(struct hsm_vm *vm, char *errbuf, size_t errlen)
{
	struct sim *s = vm->priv;

	if (pthread_create(&s->accept_thread, NULL, accept_thread, vm)) {
		snprintf(errbuf, errlen, "cannot start the accept thread");
		return -EAGAIN;
	}
	s->accepting = true;
	hsm_log(vm, HSM_LOG_INFO, "sim: waiting for the test driver on %s", s->path);
	return 0;
}

static void sim_close(struct hsm_vm *vm)
{
	struct sim *s = vm->priv;

	if (!s)
		return;
	if (s->listen_fd >= 0) {
		/* Wakes accept() with an error. */
		shutdown(s->listen_fd, SHUT_RDWR);
		if (s->accepting)
			pthread_join(s->accept_thread, NULL);
		close(s->listen_fd);
		unlink(s->path);
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nconns; i++)
		shutdown(s->conns[i].fd, SHUT_RDWR); /* wakes recv() in vCPU threads */
	for (int i = 0; i < s->nconns; i++) {
		if (s->conns[i].has_thread)
			pthread_join(s->conns[i].thread, NULL);
		close(s->conns[i].fd);
	}
	if (s->ram != MAP_FAILED)
		munmap(s->ram, s->ram_size);
	if (s->memfd >= 0)
		close(s->memfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	vm->priv = NULL;
}

static int send_irq(struct hsm_vm *vm, const struct sim_msg *m)
{
	struct sim *s = vm->priv;
	int ret = -ENOTCONN;

	pthread_mutex_lock(&s->lock);
	if (s->irq_fd >= 0) {
		/* Never block the loop: a driver that stops reading loses interrupts. */
		ret = send(s->irq_fd, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL) ==
				      (ssize_t)sizeof(*m)
			      ? 0
			      : -errno;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret)
		hsm_log(vm, HSM_LOG_DEBUG, "sim: interrupt not delivered: %s", strerror(-ret));
	return ret;
}

static int sim_inject_msi(struct hsm_vm *vm, uint64_t addr, uint32_t data)
{
	struct sim_msg m = { .type = SIM_IRQ, .arg = HSM_IRQ_MSI, .addr = addr, .data = data };

	return send_irq(vm, &m);
}

static int sim_set_intx(struct hsm_vm *vm, const struct hsm_irq *irq, bool level)
{
	struct sim_msg m = { .type = SIM_IRQ, .arg = HSM_IRQ_INTX, .bdf = irq->bdf,
			     .pin = irq->pin, .data = level };

	return send_irq(vm, &m);
}

const struct hsm_backend_ops hsm_sim_ops = {
	.name = "sim",
	.usage = "sim[:SOCKET]",
	.caps = { .msi = true, .intx = true, .native_ioeventfd = true },
	.open = sim_open,
	.start = sim_start,
	.close = sim_close,
	.inject_msi = sim_inject_msi,
	.set_intx = sim_set_intx,
};
