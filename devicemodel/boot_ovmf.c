/*
 * boot_ovmf.c - OVMF as acrn-dm loads it (boot_ovmf.h).  What follows
 * acrn-dm, read from ACRN's devicemodel/core/sw_load_ovmf.c and main.c:
 *  - the image ends at 4 GiB: one file as it is, or the vars file followed
 *    by the code file (the NV store is the start of a whole image);
 *  - the limits: 2 MiB for an image, 128 KiB for vars, the rest for code;
 *    firmware memory is the image rounded up to 2 MiB (high_bios_size);
 *  - the e820 table for OVMF at 0xEF000: "820\0", a 32-bit entry count,
 *    packed 20-byte entries;
 *  - the boot CPU at the reset vector 16 bytes below 4 GiB: real mode,
 *    CS 0xF000 based at 0xFFFF0000, IP 0xFFF0, CR0 ET|NE;
 *  - with "w" the NV store (a vars file whole, or an image's first 128 KiB)
 *    written back to the start of its file at a guest reboot and at exit,
 *    and the files locked while the VM runs.
 * vdm's own: a size that is not whole 4 KiB pages is refused (firmware
 * volumes are), as is a file that changed size since the start.
 */
#include "boot_ovmf.h"

#include "e820.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OVMF_E820_MAX 32

/* A firmware file: a regular file of whole 4 KiB pages, 1 to max bytes. */
static int check_file(const char *what, const char *path, uint64_t max, uint64_t *size,
		      char *err, size_t errlen)
{
	struct stat st;

	if (!*path) {
		snprintf(err, errlen, "--ovmf: %s: no file named", what);
		return -EINVAL;
	}
	if (stat(path, &st)) {
		snprintf(err, errlen, "--ovmf: %s %s: %s", what, path, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "--ovmf: %s %s: not a regular file", what, path);
		return -EINVAL;
	}
	if (st.st_size == 0 || st.st_size % 4096 || (uint64_t)st.st_size > max) {
		snprintf(err, errlen,
			 "--ovmf: %s %s: %lld bytes; firmware must be whole 4 KiB pages, at most "
			 "%llu KiB (acrn-dm's limit)",
			 what, path, (long long)st.st_size, (unsigned long long)(max >> 10));
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int take(char **slot, const char *what, const char *val, char *err, size_t errlen)
{
	if (*slot) {
		snprintf(err, errlen, "--ovmf: %s given twice", what);
		return -EINVAL;
	}
	*slot = strdup(val);
	return *slot ? 0 : -ENOMEM;
}

int ovmf_parse(struct ovmf *o, const char *arg, char *err, size_t errlen)
{
	char *copy = strdup(arg), *cur = copy, *tok;
	int ret = 0;

	*o = (struct ovmf){ .vars_fd = -1 };
	if (!copy)
		return -ENOMEM;
	while (!ret && (tok = strsep(&cur, ",")) != NULL) {
		if (!strcmp(tok, "w"))
			o->writeback = true;
		else if (!strncmp(tok, "code=", 5))
			ret = take(&o->code, "code=", tok + 5, err, errlen);
		else if (!strncmp(tok, "vars=", 5))
			ret = take(&o->vars, "vars=", tok + 5, err, errlen);
		else
			ret = take(&o->image, "an image", tok, err, errlen);
	}
	free(copy);
	if (!ret && !(o->image ? !o->code && !o->vars : o->code && o->vars)) {
		snprintf(err, errlen,
			 "--ovmf '%s': give one image (PATH) or both code=PATH and vars=PATH, "
			 "with w, first, to keep the vars",
			 arg);
		ret = -EINVAL;
	}
	if (!ret && o->image)
		ret = check_file("image", o->image, OVMF_MAX, &o->image_size, err, errlen);
	if (!ret && o->code)
		ret = check_file("code=", o->code, OVMF_CODE_MAX, &o->code_size, err, errlen);
	if (!ret && o->vars)
		ret = check_file("vars=", o->vars, OVMF_VARS_MAX, &o->vars_size, err, errlen);
	if (ret)
		ovmf_close(o);
	return ret ? -EINVAL : 0;
}

static uint64_t image_size(const struct ovmf *o)
{
	return o->image ? o->image_size : o->code_size + o->vars_size;
}

/* The NV store: a vars file whole, or the first 128 KiB of an image. */
static uint64_t nv_size(const struct ovmf *o)
{
	if (!o->image)
		return o->vars_size;
	return o->image_size < OVMF_VARS_MAX ? o->image_size : OVMF_VARS_MAX;
}

uint64_t ovmf_fw_size(const struct ovmf *o)
{
	return (image_size(o) + OVMF_FW_ALIGN - 1) & ~(OVMF_FW_ALIGN - 1);
}

int ovmf_open(struct ovmf *o, char *err, size_t errlen)
{
	const char *path = o->image ? o->image : o->vars;
	struct flock fl = { .l_type = o->writeback ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET };

	o->vars_fd = open(path, (o->writeback ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (o->vars_fd < 0) {
		snprintf(err, errlen, "--ovmf: %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fcntl(o->vars_fd, F_SETLK, &fl)) {
		int e = errno;

		snprintf(err, errlen, "--ovmf: %s: %s", path,
			 e == EAGAIN || e == EACCES ? "locked by another process (another VM's vars?)"
						    : strerror(e));
		close(o->vars_fd);
		o->vars_fd = -1;
		return -e;
	}
	return 0;
}

/* Read len bytes of fd (a file of size want, the size parse saw) to dst. */
static int read_whole(int fd, const char *path, uint64_t want, uint8_t *dst, char *err,
		      size_t errlen)
{
	struct stat st;
	uint64_t got = 0;

	if (fstat(fd, &st) || (uint64_t)st.st_size != want) {
		snprintf(err, errlen, "--ovmf: %s changed size since vdm started", path);
		return -EINVAL;
	}
	while (got < want) {
		ssize_t n = pread(fd, dst + got, want - got, (off_t)got);

		if (n <= 0) {
			snprintf(err, errlen, "--ovmf: %s: %s", path,
				 n < 0 ? strerror(errno) : "shorter than its size");
			return -EIO;
		}
		got += (uint64_t)n;
	}
	return 0;
}

static int write_e820(struct hsm_vm *vm, uint64_t fw_gpa, char *err, size_t errlen)
{
	struct e820_entry e[OVMF_E820_MAX];
	uint64_t low_top;
	int n = e820_build(vm, fw_gpa, e, OVMF_E820_MAX, &low_top);
	size_t len = 8 + (size_t)(n > 0 ? n : 0) * E820_ENTRY_SIZE;
	uint8_t *t = hsm_gpa_to_hva(vm, OVMF_E820_GPA, len);

	if (n < 0 || !t || low_top < E820_LEGACY_HOLE_END) {
		snprintf(err, errlen, "--ovmf: guest RAM does not hold OVMF's e820 table at %#llx",
			 (unsigned long long)OVMF_E820_GPA);
		return -ENOMEM;
	}
	memcpy(t, "820", 4);
	for (int i = 0; i < 4; i++)
		t[4 + i] = (uint8_t)((unsigned)n >> (8 * i));
	e820_write(t + 8, e, n);
	return 0;
}

int ovmf_load(struct ovmf *o, struct hsm_vm *vm, struct hsm_boot_cpu *cpu, char *err,
	      size_t errlen)
{
	uint64_t size = image_size(o), fw = ovmf_fw_size(o);
	uint8_t *at = hsm_gpa_to_hva(vm, OVMF_TOP - size, size);
	int ret, fd;

	if (!at || !hsm_gpa_to_hva(vm, OVMF_TOP - fw, fw)) {
		snprintf(err, errlen, "--ovmf: no firmware memory below 4 GiB for %llu bytes",
			 (unsigned long long)size);
		return -ENOMEM;
	}
	/* Whatever was there from the last run goes (the part below the image too). */
	memset(hsm_gpa_to_hva(vm, OVMF_TOP - fw, fw), 0, fw - size);
	ret = read_whole(o->vars_fd, o->image ? o->image : o->vars,
			 o->image ? o->image_size : o->vars_size, at, err, errlen);
	if (ret)
		return ret;
	if (o->code) {
		fd = open(o->code, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "--ovmf: code=%s: %s", o->code, strerror(errno));
			return -errno;
		}
		ret = read_whole(fd, o->code, o->code_size, at + o->vars_size, err, errlen);
		close(fd);
		if (ret)
			return ret;
	}
	ret = write_e820(vm, OVMF_TOP - fw, err, errlen);
	if (ret)
		return ret;
	*cpu = (struct hsm_boot_cpu){
		.reset_vector = true,
		.cs_sel = 0xf000,
		.cs_base = (OVMF_TOP - 16) & 0xffff0000ULL,
		.rip = (OVMF_TOP - 16) & 0xffffULL,
	};
	o->loaded = true;
	return 0;
}

int ovmf_writeback(struct ovmf *o, struct hsm_vm *vm, char *err, size_t errlen)
{
	const char *path = o->image ? o->image : o->vars;
	uint64_t len = nv_size(o), done = 0;
	const uint8_t *nv;

	if (!o->writeback || !o->loaded || o->vars_fd < 0)
		return 0;
	nv = hsm_gpa_to_hva(vm, OVMF_TOP - image_size(o), len);
	if (!nv) {
		snprintf(err, errlen, "--ovmf: the vars are not in guest memory");
		return -EFAULT;
	}
	while (done < len) {
		ssize_t n = pwrite(o->vars_fd, nv + done, len - done, (off_t)done);

		if (n <= 0) {
			snprintf(err, errlen, "--ovmf: writing the vars back to %s: %s", path,
				 n < 0 ? strerror(errno) : "nothing written");
			return -EIO;
		}
		done += (uint64_t)n;
	}
	if (fdatasync(o->vars_fd)) {
		snprintf(err, errlen, "--ovmf: syncing %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

void ovmf_close(struct ovmf *o)
{
	if (o->vars_fd >= 0)
		close(o->vars_fd);
	free(o->image);
	free(o->code);
	free(o->vars);
	*o = (struct ovmf){ .vars_fd = -1 };
}
