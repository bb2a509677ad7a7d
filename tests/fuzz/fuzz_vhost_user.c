/*
 * fuzz_vhost_user.c - libFuzzer target for vdm's vhost-user front-end
 * (vhost-proxy/vhost_user.c): what a hostile or broken back-end answers.
 *
 * The input is the whole byte stream the back-end sends, written into one
 * end of a socket pair (then shut for writing); vdm's front-end, on the
 * other end, runs the bring-up a device does: handshake (features,
 * protocol features, queue count, owner), config space, features, the
 * in-flight region (GET_INFLIGHT_FD, with no fd ever attached: the reply's
 * size and fields), memory table, one
 * ring's start and call change, the ring's stop, close.  Whatever the bytes,
 * the front-end must fail cleanly (an error, the stream marked lost) and
 * never crash, read past what it was sent, or report a ring state it was
 * not given.
 */
#include "vhost_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (1u << 16)

static int ram_fd = -1, kick = -1, call = -1;
static uint8_t *ram;

static void setup_once(void)
{
	if (ram)
		return;
	ram_fd = memfd_create("fuzz-vhost-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM))
		abort();
	ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC);
	if (ram == MAP_FAILED || kick < 0 || call < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_dev *d;
	char err[256];
	int sv[2];
	uint8_t config[64];
	uint16_t base = 0xbeef;

	setup_once();
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	/* The back-end's whole answer, then its end of the stream. */
	if (size && write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	if (vhost_dev_open_connected(&d, sv[0], "fuzz", 0, err, sizeof(err)) == 0) {
		struct vhost_mem_region r = { .gpa = 0, .size = RAM, .uaddr = (uintptr_t)ram,
					      .fd = ram_fd, .fd_offset = 0 };
		struct vhost_vring vr = { .num = 16, .base = 0, .desc = (uintptr_t)ram,
					  .avail = (uintptr_t)ram + 0x1000,
					  .used = (uintptr_t)ram + 0x2000, .kick_fd = kick,
					  .call_fd = call, .err_fd = call };

		if (vhost_dev_has_config(d))
			vhost_dev_get_config(d, 0, config, sizeof(config));
		struct vhost_inflight in = { .fd = -1 };
		bool up = vhost_dev_set_features(d, vhost_dev_features(d)) == 0;

		if (up && vhost_dev_has_inflight(d) && vhost_dev_get_inflight(d, 1, 16, &in) == 0 &&
		    in.fd >= 0) {
			fprintf(stderr, "fuzz_vhost_user: a region without an fd was taken\n");
			abort();
		}
		vhost_inflight_free(&in);
		if (up && vhost_dev_set_mem_table(d, &r, 1) == 0 &&
		    vhost_dev_vring_start(d, 0, &vr) == 0) {
			vhost_dev_vring_set_call(d, 0, call);
			if (vhost_dev_vring_stop(d, 0, &base) != 0 && base != 0xbeef) {
				fprintf(stderr, "fuzz_vhost_user: a failed stop reported a base\n");
				abort();
			}
		}
		/* Once lost, everything after must fail without touching the fd. */
		if (vhost_dev_disconnected(d) &&
		    vhost_dev_set_features(d, vhost_dev_features(d)) != -ENOTCONN) {
			fprintf(stderr, "fuzz_vhost_user: a lost back-end still took a request\n");
			abort();
		}
		vhost_dev_close(d);
	}
	close(sv[1]);
	return 0;
}
