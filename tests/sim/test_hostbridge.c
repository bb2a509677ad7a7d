/*
 * test_hostbridge.c - `vdm --hsm sim -s 0:0,hostbridge`: the test driver
 * finds exactly the host bridge at 00:00.0 with its IDs, read-only header
 * fields stay put, every other slot and function reads all-ones, and
 * SIGTERM stops vdm with status 0.
 */
#include "drv.h"
#include "hsm.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	struct vdm_proc p;
	struct drv_func f[8];
	struct drv d;
	int n, st;

	if (vdm_spawn(&p, (const char *const[]){ "-U", "5c1ce3e6-7b4a-4d6c-9a6b-0e1f2a3b4c5d",
						 "-s", "0:0,hostbridge", NULL },
		      &st)) {
		drv_check(false, "vdm starts (exit %d)", st);
		return drv_result();
	}
	drv_connect(&d, p.sock);
	n = drv_enumerate(&d, f, 8);
	drv_check(n == 1, "exactly one function on bus 0 (found %d)", n);
	drv_check(f[0].bdf == 0, "it is 00:00.0");
	drv_check(f[0].vendor == 0x8086 && f[0].device == 0x1237, "IDs 8086:1237 (got %04x:%04x)",
		  f[0].vendor, f[0].device);
	drv_check(f[0].class_code == 0x060000, "class host bridge (got %06x)", f[0].class_code);
	drv_check((f[0].header_type & 0x7f) == 0, "type-0 header");
	bool no_bars = true;
	for (int i = 0; i < 6; i++)
		no_bars = no_bars && !f[0].bars[i].type;
	drv_check(no_bars, "no BARs");
	drv_check(f[0].ncaps == 0 && f[0].int_pin == 0, "no capabilities, no interrupt pin");

	drv_cfg_write(&d, 0, 0, 4, 0x12345678);
	drv_check(drv_cfg_read(&d, 0, 0, 4) == 0x12378086, "vendor/device IDs are read-only");
	drv_cfg_write(&d, 0, 0x08, 4, 0xffffffff);
	drv_check(drv_cfg_read(&d, 0, 0x08, 4) >> 8 == 0x060000, "class code is read-only");
	drv_cfg_write(&d, 0, 0x3c, 1, 0x0b);
	drv_check(drv_cfg_read(&d, 0, 0x3c, 1) == 0x0b, "interrupt line is writable");

	bool empty = true;
	for (unsigned slot = 0; slot < 32; slot++)
		for (unsigned fn = slot ? 0 : 1; fn < 8; fn++)
			if (drv_cfg_read(&d, hsm_bdf(0, slot, fn), 0, 4) != 0xffffffff ||
			    drv_cfg_read(&d, hsm_bdf(0, slot, fn), 0x0e, 1) != 0xff)
				empty = false;
	drv_check(empty, "every other slot and function reads all-ones");
	drv_check(drv_cfg_read(&d, hsm_bdf(1, 0, 0), 0, 4) == 0xffffffff, "bus 1 is empty");
	drv_check(drv_mmio_read(&d, 0xfe000000, 4) == 0xffffffff,
		  "memory nothing decodes reads all-ones");

	drv_disconnect(&d);
	st = vdm_stop(&p);
	drv_check(st == 0, "SIGTERM stops vdm with status 0 (got %d)", st);
	return drv_result();
}
