/*
 * fuzz_qemu.c - libFuzzer target for the QEMU multi-process proxy message
 * parser (hsm-shim/qemu.c): what x-pci-proxy-dev sends on a function's
 * socket, with file descriptors attached (guest RAM memfds, eventfds).
 *
 * The real receive path runs on a real socket pair: the input is a list of
 * sends, each written with sendmsg (and its fds) and then served with
 * qemu_fn_serve, as the event loop would.  Requests the parser hands on must
 * be well formed (the device model relies on it), every request that waits
 * for a reply gets exactly one RET, and guest-RAM regions must lie inside
 * their mapped files.
 *
 * Input: repeated [u8 fd code][u16 length][bytes]; fd code bits 0-1: how many
 * fds ride with the send, bit 2: eventfds instead of guest-RAM memfds.
 */
#include "qemu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_FILE_SIZE (1u << 20)

static struct hsm_vm vm;
static struct qemu_vm qvm;
static int ram_fd = -1;
static unsigned expected_replies, resets;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_qemu: invariant broken: %s\n", what);
		abort();
	}
}

static int add_fd(void *loop, int fd, uint32_t events, hsm_fd_cb cb, void *arg)
{
	return 0;
}

static int del_fd(void *loop, int fd)
{
	return 0;
}

/* The device model's side: what the parser hands on must be well formed. */
static void ioreq(void *opaque, struct hsm_ioreq *req)
{
	check(req->size == 1 || req->size == 2 || req->size == 4 || req->size == 8,
	      "request size 1, 2, 4 or 8");
	if (req->space == HSM_IO_PCICFG)
		check(req->size <= 4 && req->addr + req->size <= 4096 &&
		      req->addr % req->size == 0, "config access inside 4 KiB, aligned");
	else
		check(req->space == HSM_IO_MMIO || req->space == HSM_IO_PIO, "BAR space");
	check(req->addr + req->size - 1 >= req->addr, "access does not wrap");
	if (req->dir == HSM_IO_READ)
		req->data = 0x1122334455667788ULL;
	/* A guest address the map says is RAM must be usable as RAM. */
	uint8_t *p = hsm_gpa_to_hva(&vm, req->addr, req->size);
	if (p)
		memset(p, 0x5a, req->size);
	expected_replies++;
}

static void reset(void *opaque, uint16_t bdf)
{
	resets++;
}

static void init(void)
{
	vm.cfg = (struct hsm_vm_config){
		.backend = "qemu", .name = "fuzz", .ioreq = ioreq, .reset = reset,
		.loop = { .add_fd = add_fd, .del_fd = del_fd },
	};
	vm.ops = &hsm_qemu_ops;
	vm.priv = &qvm;
	pthread_mutex_init(&vm.ioeventfd_lock, NULL);
	qvm.vm = &vm;
	qvm.pidfd = -1;
	ram_fd = memfd_create("fuzz-ram", 0);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_FILE_SIZE))
		abort();
}

static void send_chunk(int sock, const uint8_t *buf, size_t len, unsigned code)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 3)];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[3], nfds = (int)(code & 3);

	for (int i = 0; i < nfds; i++)
		fds[i] = (code & 4) ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : dup(ram_fd);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	/* An empty send still carries its fds (or nothing at all). */
	if (len || nfds)
		sendmsg(sock, &mh, MSG_NOSIGNAL);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Every reply is one RET carrying 8 bytes. */
static unsigned read_replies(int sock)
{
	struct {
		struct mpqemu_hdr hdr;
		struct mpqemu_ret ret;
	} msg;
	unsigned n = 0;
	ssize_t r;

	while ((r = recv(sock, &msg, sizeof(msg), MSG_DONTWAIT | MSG_WAITALL)) > 0) {
		check(r == sizeof(msg) && msg.hdr.cmd == MPQEMU_RET && msg.hdr.size == 8,
		      "replies are whole RET messages");
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qemu_fn *f = &qvm.fns[0];
	int sv[2];

	if (!vm.ops)
		init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	*f = (struct qemu_fn){ .vm = &vm, .bdf = hsm_bdf(0, 4, 0), .sock = sv[0], .peer = -1,
			       .irqfd = -1, .resamplefd = -1 };
	for (int i = 0; i < MPQEMU_MAX_FDS; i++)
		f->rx_fds[i] = -1;
	qvm.nfns = 1;
	expected_replies = resets = 0;
	unsigned replies = 0;

	while (size >= 3) {
		unsigned code = data[0];
		size_t len = (size_t)(data[1] | data[2] << 8);

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (f->sock >= 0)
			send_chunk(sv[1], data, len, code);
		data += len;
		size -= len;
		qemu_fn_serve(f);
		replies += read_replies(sv[1]);
		/* Regions must lie inside the mapped file. */
		for (int i = 0; i < vm.nregions; i++)
			memset(vm.regions[i].hva, 0, 1), memset((uint8_t *)vm.regions[i].hva +
							  vm.regions[i].size - 1, 0, 1);
	}
	check(replies == expected_replies + resets, "one RET per request that waits for one");
	/* The end of the connection, as when QEMU exits. */
	qemu_fn_stop(f, NULL);
	close(sv[1]);
	hsm_clear_regions(&vm);
	return 0;
}
