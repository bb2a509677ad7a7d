/*
 * vdm-enum.c - connect to a simulator socket as the guest, enumerate PCI bus
 * 0 and print what was found, lspci style.  The README's main job runs it.
 *
 * With --dump FILE it also assigns every BAR, enables decode, and writes the
 * config space of each function as the guest reads it, in the format of
 * `lspci -xxx`, so that `lspci -vvv -F FILE` decodes what vdm presents.
 *
 * With --exercise it drives each virtio device as a guest driver would:
 * virtio-blk gets a 1 MiB pattern written, flushed, read back and compared;
 * virtio-rnd gets 64 bytes read; virtio-vsock gets its queues up and
 * DRIVER_OK (its back-end starts) and its CID read.
 */
#include "drv.h"
#include "drv_virtio.h"

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

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

static uint64_t mmio_next = 0xc0000000;
static uint32_t io_next = 0xc000;
static uint64_t heap_next = 16 << 20;

/* Bring the function up with queues 0..nq-1 and DRIVER_OK. */
static bool virtio_up(struct drv *d, struct drv_func *f, struct drv_virtio *v, uint64_t feats,
		      int nq)
{
	drv_assign_bars(d, f, &mmio_next, &io_next);
	if (drv_virtio_probe(v, d, f, heap_next))
		return false;
	heap_next += 16 << 20;
	if (drv_virtio_negotiate(v, feats | (1ULL << VIRTIO_F_VERSION_1)) ||
	    drv_virtio_setup_irq(v, true))
		return false;
	for (int q = 0; q < nq; q++)
		if (drv_virtio_setup_vq(v, q, 0))
			return false;
	drv_virtio_driver_ok(v);
	return true;
}

static int blk_rw(struct drv *d, struct drv_virtio *v, uint32_t type, uint64_t data, uint32_t len)
{
	uint64_t hdr = drv_virtio_alloc(v, 16, 16), st = drv_virtio_alloc(v, 1, 1);
	struct virtio_blk_outhdr *h = drv_gpa(d, hdr, 16);
	struct drv_buf out[2] = { { hdr, 16 }, { data, len } }, in[2] = { { data, len }, { st, 1 } };
	uint16_t id;
	uint32_t used;

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = 0 };
	if (type == VIRTIO_BLK_T_OUT)
		drv_virtio_post(v, 0, out, 2, &in[1], 1, false);
	else if (type == VIRTIO_BLK_T_IN)
		drv_virtio_post(v, 0, out, 1, in, 2, false);
	else
		drv_virtio_post(v, 0, out, 1, &in[1], 1, false);
	drv_virtio_kick(v, 0);
	if (drv_virtio_wait_used(v, 0, &id, &used, 5000) != 1)
		return -1;
	return *(uint8_t *)drv_gpa(d, st, 1);
}

static uint32_t checksum(const uint8_t *p, size_t len)
{
	uint32_t a = 1, b = 0; /* Adler-32 */

	for (size_t i = 0; i < len; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return b << 16 | a;
}

static void exercise(struct drv *d, struct drv_func *f)
{
	struct drv_virtio v = { 0 };
	unsigned slot = f->bdf >> 3 & 0x1f, fn = f->bdf & 7;

	if (f->vendor != 0x1af4)
		return;
	if (f->device == 0x1042 || f->device == 0x1001) {
		const uint32_t len = 1 << 20;

		if (!virtio_up(d, f, &v, 1ULL << VIRTIO_BLK_F_FLUSH, 1)) {
			printf("00:%02x.%d virtio-blk: set-up failed\n", slot, fn);
			return;
		}
		uint64_t cap = drv_virtio_cfg_read(&v, 0, 8);
		uint64_t data = drv_virtio_alloc(&v, len, 4096);
		uint8_t *buf = drv_gpa(d, data, len);
		if (cap * 512 < len) {
			printf("00:%02x.%d virtio-blk: %llu sectors, too small to exercise\n", slot,
			       fn, (unsigned long long)cap);
			drv_virtio_fini(&v);
			return;
		}
		for (uint32_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 31 + (i >> 12));
		uint32_t wrote = checksum(buf, len);
		int w = blk_rw(d, &v, VIRTIO_BLK_T_OUT, data, len);
		int fl = blk_rw(d, &v, VIRTIO_BLK_T_FLUSH, data, 0);
		memset(buf, 0, len);
		int r = blk_rw(d, &v, VIRTIO_BLK_T_IN, data, len);
		uint32_t read = checksum(buf, len);
		printf("00:%02x.%d virtio-blk: %llu sectors; wrote 1 MiB (adler32 %08x), flushed, "
		       "read back (adler32 %08x): %s\n",
		       slot, fn, (unsigned long long)cap, wrote, read,
		       w == 0 && fl == 0 && r == 0 && wrote == read ? "match" : "MISMATCH");
	} else if (f->device == 0x1044 || f->device == 0x1005) {
		if (!virtio_up(d, f, &v, 0, 1)) {
			printf("00:%02x.%d virtio-rnd: set-up failed\n", slot, fn);
			return;
		}
		uint64_t data = drv_virtio_alloc(&v, 64, 64);
		struct drv_buf in = { data, 64 };
		uint16_t id;
		uint32_t got = 0;
		drv_virtio_post(&v, 0, NULL, 0, &in, 1, false);
		drv_virtio_kick(&v, 0);
		drv_virtio_wait_used(&v, 0, &id, &got, 5000);
		printf("00:%02x.%d virtio-rnd: read %u random bytes:", slot, fn, got);
		for (uint32_t i = 0; i < got && i < 16; i++)
			printf(" %02x", ((uint8_t *)drv_gpa(d, data, 64))[i]);
		printf("%s\n", got > 16 ? " ..." : "");
	} else if (f->device == 0x1053) {
		/* virtio-vsock: its three queues up and DRIVER_OK, which starts
		 * the back-end (kernel vhost-vsock runs from here). */
		bool up = virtio_up(d, f, &v, 0, 3);
		uint64_t cid = up ? drv_virtio_cfg_read(&v, 0, 8) : 0;
		uint8_t st = up ? drv_virtio_status(&v) : 0;

		printf("00:%02x.%d virtio-vsock: guest cid %llu, %s\n", slot, fn,
		       (unsigned long long)cid,
		       !up ? "set-up failed"
		       : st & VIRTIO_CONFIG_S_NEEDS_RESET ? "DEVICE_NEEDS_RESET after DRIVER_OK"
							   : "3 queues up, running");
	}
	drv_virtio_fini(&v);
}

int main(int argc, char **argv)
{
	bool exercise_devices = false;
	struct drv_func funcs[256];
	const char *dump_path = NULL;
	struct drv d;
	int n, ret = 0;

	if (argc >= 3 && !strcmp(argv[1], "--exercise")) {
		exercise_devices = true;
		argv++;
		argc--;
	}
	if (argc == 4 && !strcmp(argv[1], "--dump")) {
		dump_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: vdm-enum [--exercise] [--dump FILE] SIM-SOCKET\n");
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
		for (int c = 0; c < f->ncaps; c++) {
			static const char *const vtypes[] = { "?", "CommonCfg", "Notify", "ISR",
							      "DeviceCfg", "PCICfg" };
			uint8_t t = f->caps[c].id == 0x09 && f->vendor == 0x1af4
					    ? (uint8_t)drv_cfg_read(&d, f->bdf, f->caps[c].off + 3, 1)
					    : 0;

			printf("\tCapabilities: [%02x] %s%s%s\n", f->caps[c].off,
			       cap_name(f->caps[c].id), t ? ": VirtIO " : "",
			       t ? (t < 6 ? vtypes[t] : "?") : "");
		}
	}
	if (exercise_devices)
		for (int i = 0; i < n; i++)
			exercise(&d, &funcs[i]);
	if (dump_path)
		ret = dump(&d, funcs, n, dump_path);
	drv_disconnect(&d);
	return ret;
}
