/*
 * test_gpa_map.c - libhsm's guest memory map returns a host pointer only for
 * ranges wholly inside guest RAM: out-of-range, straddling, empty and
 * wrapping ranges are refused.
 */
#include "drv.h"
#include "evloop.h"
#include "hsm.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int add_fd(void *loop, int fd, uint32_t ev, hsm_fd_cb cb, void *arg)
{
	return evloop_add_fd(loop, fd, ev, cb, arg);
}

static int del_fd(void *loop, int fd)
{
	return evloop_del_fd(loop, fd);
}

static void no_ioreq(void *opaque, struct hsm_ioreq *req)
{
}

int main(void)
{
	const uint64_t ram = 1 << 20;
	struct evloop *loop = evloop_create();
	char sock[64], err[256];
	int ret;

	snprintf(sock, sizeof(sock), "sim:/tmp/vdm-gpa-%d.sock", (int)getpid());
	struct hsm_vm_config cfg = {
		.backend = sock, .ram_size = ram, .ioreq = no_ioreq,
		.loop = { .loop = loop, .add_fd = add_fd, .del_fd = del_fd },
	};
	struct hsm_vm *vm = hsm_open(&cfg, &ret, err, sizeof(err));
	if (!drv_check(vm != NULL, "open a sim VM with 1 MiB RAM (%s)", vm ? "ok" : err))
		return drv_result();

	uint8_t *base = hsm_gpa_to_hva(vm, 0, 1);
	drv_check(base != NULL, "gpa 0 maps");
	drv_check(hsm_gpa_to_hva(vm, 0, ram) == base, "all of RAM maps as one range");
	drv_check(hsm_gpa_to_hva(vm, ram - 8, 8) == base + ram - 8, "last 8 bytes map");
	drv_check(hsm_gpa_to_hva(vm, 4096, 100) == base + 4096, "an inner range maps at its offset");
	drv_check(hsm_gpa_to_hva(vm, ram, 1) == NULL, "first byte past RAM is refused");
	drv_check(hsm_gpa_to_hva(vm, ram - 8, 9) == NULL, "range straddling the end is refused");
	drv_check(hsm_gpa_to_hva(vm, 0, ram + 1) == NULL, "range longer than RAM is refused");
	drv_check(hsm_gpa_to_hva(vm, 16, 0) == NULL, "empty range is refused");
	drv_check(hsm_gpa_to_hva(vm, UINT64_MAX, 2) == NULL, "range wrapping 2^64 is refused");
	drv_check(hsm_gpa_to_hva(vm, 0x10, UINT64_MAX) == NULL,
		  "huge length that wraps is refused");
	drv_check(hsm_gpa_to_hva(vm, UINT64_MAX - 4095, 4096) == NULL,
		  "range ending exactly at 2^64 is refused");
	drv_check(hsm_gpa_to_hva(vm, 1ULL << 40, 4096) == NULL, "far address is refused");

	struct hsm_mem_region r[4];
	drv_check(hsm_get_mem_regions(vm, r, 4) == 1 && r[0].gpa == 0 && r[0].size == ram &&
			  r[0].fd >= 0,
		  "one region, backed by a file descriptor");
	drv_check(hsm_ram_size(vm) == ram, "RAM size reported");
	struct hsm_caps caps = hsm_get_caps(vm);
	drv_check(caps.msi && caps.intx && caps.native_ioeventfd, "sim supports MSI, INTx, ioeventfd");

	hsm_close(vm);
	evloop_destroy(loop);
	return drv_result();
}
