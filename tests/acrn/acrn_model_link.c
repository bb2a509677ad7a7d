/*
 * acrn_model_link.c - the HSM model's side facing the test driver: it plays
 * the User VM's vCPUs and interrupt controller over the simulator's wire
 * format (sim-protocol.h).  Each driver vCPU connection is one vCPU with
 * its own ioreq slot: a request goes through the kernel's ioeventfd client
 * or becomes an I/O exit (acrn_model.c), and the value read goes back as
 * SIM_IO_DONE.  MSIs, INTx and ISA line levels go to the interrupt
 * connection (which functions an INTx GSI reaches is
 * acrn_model_irqroute.c's); config accesses to the interrupt line and pin
 * pass through here, so the model sees them, as the hypervisor does.
 */
#include "acrn_model_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- interrupts to the driver ---- */

void model_send_irq_msg_locked(struct acrn_model *m, const struct sim_msg *msg)
{
	/* Never block: a driver that stops reading loses interrupts. */
	if (m->irq_conn >= 0)
		(void)send(m->irq_conn, msg, sizeof(*msg), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void model_send_msi_locked(struct acrn_model *m, uint64_t addr, uint64_t data)
{
	struct sim_msg msg = { .type = SIM_IRQ, .arg = HSM_IRQ_MSI, .addr = addr,
			       .data = (uint32_t)data };

	model_send_irq_msg_locked(m, &msg);
}

void model_send_isa_locked(struct acrn_model *m, uint32_t gsi, bool high)
{
	struct sim_msg msg = { .type = SIM_IRQ, .arg = SIM_IRQ_ISA, .addr = gsi, .data = high };

	model_send_irq_msg_locked(m, &msg);
}

static void request_from_sim(const struct sim_msg *io, struct acrn_io_request *r)
{
	uint32_t dir = io->dir == HSM_IO_WRITE ? ACRN_IOREQ_DIR_WRITE : ACRN_IOREQ_DIR_READ;

	memset(r, 0, sizeof(*r));
	switch (io->arg) {
	case HSM_IO_PIO:
		r->type = ACRN_IOREQ_TYPE_PORTIO;
		r->reqs.pio_request.direction = dir;
		r->reqs.pio_request.address = io->addr;
		r->reqs.pio_request.size = io->size;
		r->reqs.pio_request.value = (uint32_t)io->data;
		break;
	case HSM_IO_MMIO:
		r->type = ACRN_IOREQ_TYPE_MMIO;
		r->reqs.mmio_request.direction = dir;
		r->reqs.mmio_request.address = io->addr;
		r->reqs.mmio_request.size = io->size;
		r->reqs.mmio_request.value = io->data;
		break;
	default: /* what the HSM makes of a 0xCF8/0xCFC access */
		r->type = ACRN_IOREQ_TYPE_PCICFG;
		r->reqs.pci_request.direction = dir;
		r->reqs.pci_request.size = io->size;
		r->reqs.pci_request.value = (uint32_t)io->data;
		r->reqs.pci_request.bus = io->bdf >> 8;
		r->reqs.pci_request.dev = (io->bdf >> 3) & 0x1f;
		r->reqs.pci_request.func = io->bdf & 7;
		r->reqs.pci_request.reg = (uint32_t)io->addr;
		break;
	}
}

/* Note the interrupt line and pin of bus-0 functions as config traffic
 * passes (what the guest set up, and what its devices report). */
static void snoop_cfg_locked(struct acrn_model *m, const struct sim_msg *io, uint64_t val)
{
	uint64_t v = io->dir == HSM_IO_WRITE ? io->data : val;

	if (io->arg != HSM_IO_PCICFG || io->bdf >> 8)
		return;
	/* A whole BAR register (0x10-0x27): written, or read as programmed. */
	if (io->size == 4 && io->addr >= 0x10 && io->addr < 0x28 && !(io->addr & 3)) {
		unsigned idx = (unsigned)(io->addr - 0x10) / 4, devfn = io->bdf & 0xff;

		if (io->dir == HSM_IO_WRITE)
			m->bar_written[devfn] |= (uint8_t)(1u << idx);
		else
			model_check_bar_read_locked(m, devfn, idx, (uint32_t)v);
	}
	for (unsigned reg = 0x3c; reg <= 0x3d; reg++) {
		if (io->addr > reg || io->addr + io->size <= reg)
			continue;
		uint8_t byte = (uint8_t)(v >> (8 * (reg - io->addr)));
		unsigned devfn = io->bdf & 0xff;

		if (reg == 0x3c && io->dir == HSM_IO_WRITE) {
			m->line[devfn] = byte;
			m->line_written[devfn] = true;
		} else if (reg == 0x3c) {
			model_check_line_read_locked(m, devfn, byte);
		} else if (io->dir == HSM_IO_READ) {
			m->pin[devfn] = byte;
		}
	}
}

/* One simulated vCPU: it runs while the VM runs, one I/O exit at a time. */
static void *vcpu_thread(void *arg)
{
	struct model_conn *c = arg;
	struct acrn_model *m = c->m;
	struct sim_msg io;

	for (;;) {
		ssize_t n = recv(c->fd, &io, sizeof(io), 0);
		struct acrn_io_request req, done;
		uint64_t val = 0;
		int ret = 0;

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n != (ssize_t)sizeof(io) || !sim_io_valid(&io)) {
			hsm_log(m->vm, HSM_LOG_WARN, "acrn model: malformed request from test driver; "
					  "dropping vCPU");
			break;
		}
		pthread_mutex_lock(&m->lock);
		/* A created, paused or reset vCPU does not run. */
		while (m->state != VM_RUNNING && !model_vm_gone(m))
			pthread_cond_wait(&m->cond, &m->lock);
		request_from_sim(&io, &req);
		if (model_ioeventfd_take_locked(m, &req))
			done = req;
		else
			ret = model_exit_io_locked(m, (unsigned)c->slot, &req, &done, -1);
		if (ret == 0 && io.dir == HSM_IO_READ)
			val = done.type == ACRN_IOREQ_TYPE_MMIO ? done.reqs.mmio_request.value
								: done.reqs.pio_request.value;
		if (ret == 0)
			snoop_cfg_locked(m, &io, val);
		pthread_mutex_unlock(&m->lock);
		if (ret)
			break;
		struct sim_msg reply = { .type = SIM_IO_DONE, .data = io.dir == HSM_IO_READ ? val : 0 };
		if (send(c->fd, &reply, sizeof(reply), MSG_NOSIGNAL) != (ssize_t)sizeof(reply))
			break;
	}
	pthread_mutex_lock(&m->lock);
	m->slot_used[c->slot] = false;
	pthread_mutex_unlock(&m->lock);
	shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

static void handle_new_conn(struct acrn_model *m, int fd)
{
	struct timeval hello_timeout = { .tv_sec = 5 }, no_timeout = { 0 };
	struct sim_msg hello, welcome = { .type = SIM_WELCOME };
	int slot = -1;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &hello_timeout, sizeof(hello_timeout));
	n = recv(fd, &hello, sizeof(hello), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &no_timeout, sizeof(no_timeout));
	if (n == 0) { /* a readiness probe */
		close(fd);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (n != (ssize_t)sizeof(hello) || hello.type != SIM_HELLO ||
	    (hello.arg != SIM_ROLE_VCPU && hello.arg != SIM_ROLE_IRQ) || m->memfd < 0 ||
	    m->stopping || m->nconns >= MODEL_MAX_CONNS) {
		pthread_mutex_unlock(&m->lock);
		hsm_log(m->vm, HSM_LOG_WARN, "acrn model: test driver connection refused (bad hello, no "
				  "guest RAM yet, or too many)");
		close(fd);
		return;
	}
	if (hello.arg == SIM_ROLE_VCPU) {
		for (unsigned i = 0; i < m->vcpus && slot < 0; i++)
			if (!m->slot_used[i])
				slot = (int)i;
		if (slot < 0) {
			pthread_mutex_unlock(&m->lock);
			hsm_log(m->vm, HSM_LOG_WARN, "acrn model: all %u vCPUs are connected; refused",
				m->vcpus);
			close(fd);
			return;
		}
	}
	welcome.addr = m->memfd_size;
	if (sim_send(fd, &welcome, m->memfd)) {
		pthread_mutex_unlock(&m->lock);
		close(fd);
		return;
	}
	struct model_conn *c = &m->conns[m->nconns++];
	*c = (struct model_conn){ .m = m, .fd = fd, .slot = slot };
	if (slot < 0) {
		m->irq_conn = fd; /* the newest interrupt listener wins */
	} else {
		m->slot_used[slot] = true;
		if (pthread_create(&c->thread, NULL, vcpu_thread, c) == 0)
			c->has_thread = true;
		else
			m->slot_used[slot] = false;
	}
	pthread_mutex_unlock(&m->lock);
	hsm_log(m->vm, HSM_LOG_DEBUG, "acrn model: test driver connected (%s %d)",
		slot < 0 ? "interrupts" : "vCPU", slot);
}

static void *accept_thread(void *arg)
{
	struct acrn_model *m = arg;

	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		handle_new_conn(m, fd);
	}
	return NULL;
}


/* Listen on m->path for the test driver (at model creation). */
int model_link_listen(struct acrn_model *m, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(sa.sun_path, m->path);
	m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	unlink(m->path);
	if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(m->listen_fd, 16)) {
		snprintf(errbuf, errlen, "acrn model: cannot listen on %s: %s", m->path,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

int model_link_start_locked(struct acrn_model *m)
{
	if (m->accepting)
		return 0;
	if (pthread_create(&m->accept_thread, NULL, accept_thread, m))
		return -EAGAIN;
	m->accepting = true;
	return 0;
}

void model_link_stop(struct acrn_model *m)
{
	if (m->listen_fd >= 0) {
		shutdown(m->listen_fd, SHUT_RDWR); /* wakes accept() */
		if (m->accepting)
			pthread_join(m->accept_thread, NULL);
		close(m->listen_fd);
		unlink(m->path);
	}
	for (int i = 0; i < m->nconns; i++)
		shutdown(m->conns[i].fd, SHUT_RDWR); /* wakes recv() in vCPU threads */
	for (int i = 0; i < m->nconns; i++) {
		if (m->conns[i].has_thread)
			pthread_join(m->conns[i].thread, NULL);
		close(m->conns[i].fd);
	}
}
