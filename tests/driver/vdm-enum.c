/*
 * vdm-enum.c - connect to a simulator socket as the guest, enumerate PCI bus
 * 0 and print what was found, lspci style.  The README's main job runs it.
 *
 * With --dump FILE it also assigns every BAR, enables decode, and writes the
 * config space of each function as the guest reads it, in the format of
 * `lspci -xxx`, so that `lspci -vvv -F FILE` decodes what vdm presents.
 */
#include "drv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int dump(struct drv *d, struct drv_func *funcs, int n, const char *path)
{
	uint64_t mmio = 0xc0000000;
	uint32_t io = 0xc000;
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		drv_assign_bars(d, &funcs[i], &mmio, &io);
		fprintf(f, "00:%02x.%d %s\n", funcs[i].bdf >> 3 & 0x1f, funcs[i].bdf & 7,
			class_name(funcs[i].class_code));
		for (unsigned row = 0; row < 256; row += 16) {
			fprintf(f, "%02x:", row);
			for (unsigned b = 0; b < 16; b += 4) {
				uint32_t v = drv_cfg_read(d, funcs[i].bdf, row + b, 4);

				for (unsigned k = 0; k < 4; k++)
					fprintf(f, " %02x", v >> (8 * k) & 0xff);
			}
			fprintf(f, "\n");
		}
		fprintf(f, "\n");
	}
	return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct drv_func funcs[256];
	const char *dump_path = NULL;
	struct drv d;
	int n, ret = 0;

	if (argc == 4 && !strcmp(argv[1], "--dump")) {
		dump_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: vdm-enum [--dump FILE] SIM-SOCKET\n");
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
	if (dump_path)
		ret = dump(&d, funcs, n, dump_path);
	drv_disconnect(&d);
	return ret;
}
