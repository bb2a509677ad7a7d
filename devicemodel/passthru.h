/*
 * passthru.h - what the parts of `-s N,passthru,BUS/DEV/FUNC` share: its
 * options (passthru_opts.c), the host function as libpciaccess and sysfs
 * show it (passthru_host.c), and the emulation itself (passthru.c).
 */
#ifndef VDM_PASSTHRU_H
#define VDM_PASSTHRU_H

#include "pci_space.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- options ---- */

struct passthru_cfg {
	bool have_bdf;
	uint16_t host_bdf;  /* bus << 8 | dev << 3 | func, on PCI domain 0 */
	bool keep_gsi;      /* INTx even where the function has MSI/MSI-X */
	bool no_reset;      /* no function reset before and after */
};

/*
 * The host function as acrn-dm spells it, BUS/DEV/FUNC, or as lspci does,
 * BB:DD.F: three hexadecimal numbers (bus up to ff, device up to 1f,
 * function up to 7) separated by '/', ':' or '.'.  Returns 0 or -EINVAL.
 */
int passthru_parse_bdf(const char *s, uint16_t *bdf);

/* devemu option hooks (devemu.h). */
int passthru_option(void *cfg, const char *opt, char *err, size_t errlen);
int passthru_options_done(void *cfg, char *err, size_t errlen);

/* ---- the host function ---- */

struct pci_device;

struct passthru_host {
	uint16_t bdf;
	char sysfs[64];           /* /sys/bus/pci/devices/0000:BB:DD.F */
	struct pci_device *dev;   /* libpciaccess's, probed */
	bool pciaccess_up;
	int lock_fd;              /* its config file, flock()ed while vdm has it */
};

/*
 * Find bdf with libpciaccess and take it: refused, with a one-line reason,
 * when there is no such function (-ENODEV), when a host driver other than
 * pci-stub or vfio-pci has it (-EBUSY), or when another VM has it (-EBUSY;
 * a lock on its sysfs config file, which every vdm takes).  On success the
 * caller owns h until passthru_host_close.
 */
int passthru_host_open(struct passthru_host *h, uint16_t bdf, char *err, size_t errlen);
void passthru_host_close(struct passthru_host *h);

/* Config space of the host function (all-ones where it cannot be read). */
uint32_t passthru_host_cfg_read(struct passthru_host *h, unsigned off, unsigned size);

/* The BARs the host function decodes: type from its BAR registers, size
 * from the host (libpciaccess). */
void passthru_host_bars(struct passthru_host *h, struct pci_space_bar bars[PCI_NUM_BARS]);

/* Whether it has an MSI or MSI-X capability. */
bool passthru_host_has_msi(struct passthru_host *h);

/*
 * Reset it through sysfs (FLR, PM or bus reset: whatever the host kernel
 * has for it).  Returns 0, -ENOENT when the host offers no reset for it,
 * or another -errno.
 */
int passthru_host_reset(struct passthru_host *h);

#endif /* VDM_PASSTHRU_H */
