/*
 * boot_linux.c - a Linux bzImage, initrd and command line put into guest
 * RAM for the x86 boot protocol's 32-bit entry (Documentation/arch/x86/
 * boot.rst in Linux): what acrn-dm's -k, -r and -B do before START_VM.
 *
 * Guest-physical layout, all in the RAM region at gpa 0:
 *   0x1000   GDT: null, null, flat code (BOOT_CS), flat data (BOOT_DS)
 *   0x7000   zero page (struct boot_params): setup header, e820 map
 *   0x20000  command line
 *   1 MiB    the protected-mode kernel; it needs init_size bytes from there
 *   top      the initrd, as high in low RAM as the kernel allows
 *            (initrd_addr_max), above what the kernel needs
 * The e820 map is guest RAM as the back-end mapped it, with the legacy
 * VGA/BIOS window 0xA0000-0xFFFFF reserved.
 *
 * The kernel file is the user's: every field read from it is checked
 * against its size and against guest RAM before anything is copied.
 */
#include "boot_linux.h"

#include "e820.h"
#include "fw_bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Offsets in the zero page and in the bzImage's first sector (the setup
 * header sits at the same offsets in both). */
#define ZP_ACPI_RSDP 0x070
#define ZP_E820_ENTRIES 0x1e8
#define ZP_E820_TABLE 0x2d0
#define ZP_E820_MAX 128
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_LOADER_TYPE 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
/* The oldest protocol with cmdline_size and a 32-bit entry we can trust. */
#define MIN_PROTOCOL 0x0206

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A whole regular file into memory; *len its size. */
static int read_file(const char *what, const char *path, uint8_t **out, size_t *len, size_t max,
		     char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		close(fd);
		return -EIO;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s %s: %s", what, path,
			 !S_ISREG(st.st_mode) ? "not a regular file" : "larger than guest RAM");
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			snprintf(err, errlen, "%s %s: %s", what, path,
				 n < 0 ? strerror(errno) : "shorter than its size");
			free(buf);
			close(fd);
			return -EIO;
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

/* Copy len bytes to guest RAM at gpa: false if that is not all RAM. */
static bool to_guest(struct hsm_vm *vm, uint64_t gpa, const void *src, size_t len)
{
	void *dst = len ? hsm_gpa_to_hva(vm, gpa, len) : NULL;

	if (len && !dst)
		return false;
	if (len)
		memcpy(dst, src, len);
	return true;
}

/* The e820 map into the zero page (e820.c): guest RAM, the legacy hole
 * reserved. */
static int build_e820(struct hsm_vm *vm, uint8_t *zp, uint64_t *low_top, char *err, size_t errlen)
{
	struct e820_entry e[ZP_E820_MAX];
	int n = e820_build(vm, 0, e, ZP_E820_MAX, low_top);

	if (n < 0) {
		snprintf(err, errlen, "guest RAM has more pieces than an e820 map holds");
		return -E2BIG;
	}
	if (*low_top < E820_LEGACY_HOLE_END + BOOT_KERNEL_GPA) {
		snprintf(err, errlen, "guest RAM at 0 is too small to load a kernel");
		return -ENOMEM;
	}
	e820_write(zp + ZP_E820_TABLE, e, n);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	return 0;
}

int boot_linux_load(struct hsm_vm *vm, const struct boot_linux_args *args, struct hsm_boot_cpu *cpu,
		    char *err, size_t errlen)
{
	/* Null, null, then flat 4 GiB code and data descriptors. */
	static const uint64_t gdt[4] = { 0, 0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL };
	uint8_t *image = NULL, *initrd = NULL, zp[4096] = { 0 };
	size_t image_len = 0, initrd_len = 0;
	uint64_t low_top, ram_max = 0;
	struct hsm_mem_region r[16];
	int nr = hsm_get_mem_regions(vm, r, 16), ret;

	for (int i = 0; i < nr && i < 16; i++)
		ram_max += r[i].size;
	ret = read_file("kernel", args->kernel, &image, &image_len, ram_max, err, errlen);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (image_len < 1024 || rd16(image + HDR_BOOT_FLAG) != 0xaa55 ||
	    memcmp(image + HDR_MAGIC, "HdrS", 4)) {
		snprintf(err, errlen, "kernel %s: not a bzImage (no Linux boot header)", args->kernel);
		goto out;
	}
	unsigned version = rd16(image + HDR_VERSION);
	unsigned setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	size_t setup_len = (size_t)(setup_sects + 1) * 512;
	/* The header runs from 0x1f1 to the end its jump instruction names. */
	size_t hdr_end = HDR_JUMP + 2 + image[HDR_JUMP + 1];

	if (version < MIN_PROTOCOL) {
		snprintf(err, errlen, "kernel %s: boot protocol %u.%02u, vdm needs 2.06 or later",
			 args->kernel, version >> 8, version & 0xff);
		goto out;
	}
	if (!(image[HDR_LOADFLAGS] & LOADED_HIGH)) {
		snprintf(err, errlen, "kernel %s: a zImage (loaded low), not a bzImage", args->kernel);
		goto out;
	}
	if (setup_len >= image_len || hdr_end > sizeof(zp) || hdr_end > image_len) {
		snprintf(err, errlen, "kernel %s: its setup header runs past the file", args->kernel);
		goto out;
	}
	size_t kernel_len = image_len - setup_len;
	uint64_t init_size = version >= 0x020a ? rd32(image + HDR_INIT_SIZE) : 0;
	uint64_t need = init_size > kernel_len ? init_size : kernel_len;
	uint32_t cmdline_size = rd32(image + HDR_CMDLINE_SIZE);
	uint32_t initrd_max = rd32(image + HDR_INITRD_ADDR_MAX);
	const char *cmdline = args->cmdline ? args->cmdline : "";
	size_t cmd_len = strlen(cmdline);

	memcpy(zp + HDR_START, image + HDR_START, hdr_end - HDR_START);
	ret = build_e820(vm, zp, &low_top, err, errlen);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (BOOT_KERNEL_GPA + need > low_top) {
		snprintf(err, errlen, "kernel %s: needs %llu MiB from 1 MiB, guest RAM below 4 GiB ends "
				      "at %llu MiB",
			 args->kernel, (unsigned long long)(need >> 20),
			 (unsigned long long)(low_top >> 20));
		goto out;
	}
	if (cmd_len > cmdline_size || cmd_len >= BOOT_CMDLINE_MAX) {
		snprintf(err, errlen, "-B: %zu bytes of command line, this kernel takes %u at most",
			 cmd_len, (unsigned)(cmdline_size < BOOT_CMDLINE_MAX ? cmdline_size
									    : BOOT_CMDLINE_MAX - 1));
		goto out;
	}
	if (args->initrd) {
		ret = read_file("initrd", args->initrd, &initrd, &initrd_len, ram_max, err, errlen);
		if (ret)
			goto out;
		ret = -EINVAL;
		/* As high as the kernel allows, page-aligned, above what the
		 * kernel needs while it unpacks. */
		uint64_t ceiling = low_top < (uint64_t)initrd_max + 1 ? low_top
								    : (uint64_t)initrd_max + 1;
		uint64_t at = ceiling > initrd_len ? (ceiling - initrd_len) & ~0xfffULL : 0;

		if (at < BOOT_KERNEL_GPA + need) {
			snprintf(err, errlen,
				 "initrd %s: %zu bytes do not fit between the kernel and %#llx (add "
				 "guest RAM with -m)",
				 args->initrd, initrd_len, (unsigned long long)ceiling);
			goto out;
		}
		if (!to_guest(vm, at, initrd, initrd_len))
			goto no_ram;
		fw_put_le(zp + HDR_RAMDISK_IMAGE, (uint32_t)at, 4);
		fw_put_le(zp + HDR_RAMDISK_SIZE, (uint32_t)initrd_len, 4);
	}
	zp[HDR_LOADER_TYPE] = 0xff; /* a boot loader without an assigned ID */
	/* No real-mode setup runs: no heap for it either. */
	zp[HDR_LOADFLAGS] = (uint8_t)(zp[HDR_LOADFLAGS] & ~CAN_USE_HEAP);
	fw_put_le(zp + HDR_CODE32_START, (uint32_t)BOOT_KERNEL_GPA, 4);
	fw_put_le(zp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_GPA, 4);
	/* Where the ACPI tables are (the kernel also searches the BIOS area). */
	for (int i = 0; i < 8; i++)
		zp[ZP_ACPI_RSDP + i] = (uint8_t)(args->acpi_rsdp >> (8 * i));
	if (!to_guest(vm, BOOT_KERNEL_GPA, image + setup_len, kernel_len) ||
	    !to_guest(vm, BOOT_CMDLINE_GPA, cmdline, cmd_len + 1) ||
	    !to_guest(vm, BOOT_ZERO_PAGE_GPA, zp, sizeof(zp)) ||
	    !to_guest(vm, BOOT_GDT_GPA, gdt, sizeof(gdt)))
		goto no_ram;
	*cpu = (struct hsm_boot_cpu){
		.rip = BOOT_KERNEL_GPA,
		.rsi = BOOT_ZERO_PAGE_GPA,
		.gdt_base = BOOT_GDT_GPA,
		.gdt_limit = sizeof(gdt) - 1,
		.cs_sel = BOOT_CS,
		.ds_sel = BOOT_DS,
	};
	ret = 0;
	goto out;
no_ram:
	snprintf(err, errlen, "kernel %s: the boot layout does not fit guest RAM", args->kernel);
	ret = -ENOMEM;
out:
	free(image);
	free(initrd);
	return ret;
}
