/*
 * vdm-enum.c - connect to a simulator socket as the guest, enumerate PCI bus
 * 0 and print what was found, lspci style.  The README's main job runs it.
 */
#include "drv.h"

#include <stdio.h>
#include <stdlib.h>

static const char *class_name(uint32_t class_code)
{
	switch (class_code >> 8) {
	case 0x0600:
		return "Host bridge";
	case 0x0100:
		return "SCSI storage controller";
	case 0x0180:
		return "Mass storage controller";
	case 0x0200:
		return "Ethernet controller";
	case 0x0780:
		return "Communication controller";
	case 0x00ff:
		return "Unclassified device";
	default:
		return "Device";
	}
}

static const char *cap_name(uint8_t id)
{
	switch (id) {
	case 0x05:
		return "MSI";
	case 0x09:
		return "Vendor Specific";
	case 0x10:
		return "PCI Express";
	case 0x11:
		return "MSI-X";
	default:
		return "Capability";
	}
}

static const char *bar_kind(int type)
{
	switch (type) {
	case DRV_BAR_IO:
		return "I/O ports";
	case DRV_BAR_MEM32:
		return "Memory (32-bit)";
	default:
		return "Memory (64-bit)";
	}
}

int main(int argc, char **argv)
{
	struct drv_func funcs[256];
	struct drv d;
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: vdm-enum SIM-SOCKET\n");
		return 2;
	}
	drv_connect(&d, argv[1]);
	n = drv_enumerate(&d, funcs, 256);
	printf("test driver: %d PCI function%s on bus 0, %llu MiB guest RAM\n", n,
	       n == 1 ? "" : "s", (unsigned long long)(d.ram_size >> 20));
	for (int i = 0; i < n; i++) {
		struct drv_func *f = &funcs[i];

		printf("00:%02x.%d %s [%04x]: %04x:%04x (rev %02x), subsystem %04x:%04x\n",
		       f->bdf >> 3 & 0x1f, f->bdf & 7, class_name(f->class_code),
		       f->class_code >> 8, f->vendor, f->device, f->revision, f->subsys_vendor,
		       f->subsys_id);
		if (f->int_pin)
			printf("\tInterrupt: pin %c\n", 'A' + f->int_pin - 1);
		for (int b = 0; b < 6; b++)
			if (f->bars[b].type)
				printf("\tBAR%d: %s, size %llu\n", b, bar_kind(f->bars[b].type),
				       (unsigned long long)f->bars[b].size);
		for (int c = 0; c < f->ncaps; c++)
			printf("\tCapabilities: [%02x] %s\n", f->caps[c].off,
			       cap_name(f->caps[c].id));
	}
	drv_disconnect(&d);
	return 0;
}
