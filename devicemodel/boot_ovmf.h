/*
 * boot_ovmf.h - starting a guest in OVMF as acrn-dm's --ovmf does
 * (devicemodel/core/sw_load_ovmf.c in ACRN's tree): the firmware image
 * (one file, or a code file and a vars file) copied into firmware memory so
 * that it ends at 4 GiB, acrn-dm's e820 table for OVMF at 0xEF000, the boot
 * CPU at the reset vector, and with "w" the vars (OVMF's NV store) written
 * back to their file at each reboot and at exit.
 */
#ifndef VDM_BOOT_OVMF_H
#define VDM_BOOT_OVMF_H

#include "hsm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OVMF_TOP (4ULL << 30)          /* the image ends here; reset vector 16 below */
#define OVMF_MAX (2ULL << 20)          /* acrn-dm's limit for a whole image */
#define OVMF_VARS_MAX (128ULL << 10)   /* ... for a vars file, and the NV store's size */
#define OVMF_CODE_MAX (OVMF_MAX - OVMF_VARS_MAX)
#define OVMF_FW_ALIGN (2ULL << 20)     /* firmware memory is whole 2 MiB pages */
#define OVMF_E820_GPA 0xef000ULL       /* "820\0", entry count, entries (packed) */

struct ovmf {
	bool writeback;                  /* "w": the vars go back to their file */
	char *image, *code, *vars;       /* PATH, or code= and vars= (one of the two) */
	uint64_t image_size, code_size, vars_size; /* checked at parse, again at each load */
	int vars_fd;                     /* the file with the vars (image or vars), locked */
	bool loaded;                     /* guest memory holds what the guest left there */
};

/*
 * Parse acrn-dm's --ovmf argument, "[w,]code=PATH,vars=PATH" or "[w,]PATH",
 * and check the files: regular, not empty, whole 4 KiB pages, within
 * acrn-dm's limits (2 MiB for an image, 128 KiB for vars, the rest for
 * code).  Returns 0 or -EINVAL with one line in err.
 */
int ovmf_parse(struct ovmf *o, const char *arg, char *err, size_t errlen);

/* Firmware memory the back-end maps below 4 GiB for it (hsm_vm_config's
 * fw_size): the image rounded up to 2 MiB, as acrn-dm's high_bios_size. */
uint64_t ovmf_fw_size(const struct ovmf *o);

/* Open and lock the vars' file (write lock with "w", so two VMs cannot
 * share it; else a read lock), before the VM exists.  Returns 0 or a
 * negative errno with one line in err. */
int ovmf_open(struct ovmf *o, char *err, size_t errlen);

/*
 * Copy the image(s) into vm's firmware memory, ending at OVMF_TOP (vars
 * first, then code), write the e820 table at OVMF_E820_GPA (fw_gpa reserved
 * in it) and fill *cpu with the reset-vector state.  At start and at each
 * reboot; a file whose size changed is refused.  Returns 0 or a negative
 * errno with one line in err.
 */
int ovmf_load(struct ovmf *o, struct hsm_vm *vm, struct hsm_boot_cpu *cpu, char *err,
	      size_t errlen);

/* With "w" and a loaded guest (paused), write the NV store in guest memory
 * back to the start of the vars' file and sync it.  Returns 0 or a negative
 * errno with one line in err. */
int ovmf_writeback(struct ovmf *o, struct hsm_vm *vm, char *err, size_t errlen);

/* Release the file (and its lock) and the parsed paths. */
void ovmf_close(struct ovmf *o);

#endif /* VDM_BOOT_OVMF_H */
