/*
 * cli.h - vdm's command line: parsed and fully validated before anything
 * starts, so a bad argument costs one line on stderr and exit status 2.
 */
#ifndef VDM_CLI_H
#define VDM_CLI_H

#include "boot_ovmf.h"
#include "chardev.h"
#include "vdm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dev_spec {
	int slot, func;
	const struct devemu *emu;
	void *cfg; /* from emu->parse */
};

#define VDM_MAX_ACRN_NOTES 16 /* more than cli_acrn.c takes */

struct vdm_options {
	int ndevs;
	struct dev_spec devs[VDM_MAX_DEVICES];
	const char *vm_name;   /* acrn-dm's last argument, or NULL */
	const char *kernel, *initrd, *bootargs; /* -k, -r, -B: a Linux guest to load */
	bool have_ovmf;                         /* --ovmf: firmware to start instead */
	struct ovmf ovmf;
	bool have_uart[2];                      /* -l com1|com2,BACKEND */
	struct chardev_spec uart[2];
	uint64_t cpu_affinity; /* --cpu_affinity: physical CPUs, a bit each; 0 = not given */
	bool have_uuid;
	uint8_t uuid[16];
	uint64_t ram_size;
	const char *hsm;
	int verbosity;
	int log_level; /* --logger_setting console,level=N; 0 = not given */
	const char *log_file;
	const char *dump_dir; /* --dump-config DIR */
	uint32_t virtio_poll_us; /* --virtio_poll: acrn-dm's poll mode, 0 = off */
	const char *api_socket;  /* --api-socket PATH */
	/* acrn-dm options taken and ignored (cli_acrn.c): a line each for the log. */
	const char *acrn_notes[VDM_MAX_ACRN_NOTES];
	int nacrn_notes;
	bool help;
	bool version;
	int extra_argc;       /* after "--" */
	char **extra_argv;
};

#define VDM_DEFAULT_RAM (256ULL << 20)
#define VDM_MIN_RAM (1ULL << 20) /* -m below this is refused (see cli.c) */
#define VDM_MAX_VM_NAME 15 /* ACRN's CREATE_VM has 16 bytes for it, NUL included */
#define VDM_DEFAULT_HSM "qemu"

/*
 * Parse argv.  Returns 0 on success or -EINVAL with a one-line message
 * (naming the bad argument) in err.
 */
int cli_parse(int argc, char **argv, struct vdm_options *o, char *err, size_t errlen);

/* Release device configs held by o. */
void cli_free(struct vdm_options *o);

/* Parse "256M", "1G", "4096B" (bytes).  Returns 0, -ENODATA for a number
 * without a unit, or -EINVAL; zero is invalid. */
int cli_parse_size(const char *s, uint64_t *out);

void cli_usage(FILE *f);

#endif /* VDM_CLI_H */
