/*
 * hostbridge.c - `-s 0:0,hostbridge`: a host bridge function with the IDs
 * of the i440FX host bridge every x86 OS knows, class 06/00, and no BARs or
 * interrupts.  It makes bus 0 look like a PC's to the guest.
 */
#include "devemu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define HOSTBRIDGE_VENDOR 0x8086
#define HOSTBRIDGE_DEVICE 0x1237
#define HOSTBRIDGE_CLASS 0x060000 /* bridge, host bridge */

static int hostbridge_create(const struct devemu_ctx *ctx, const void *cfg, struct pci_dev **out,
			     char *err, size_t errlen)
{
	struct pci_dev *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pci_dev_init(d, "hostbridge", HOSTBRIDGE_VENDOR, HOSTBRIDGE_DEVICE, HOSTBRIDGE_CLASS, 2,
		     0, 0);
	*out = d;
	return 0;
}

static void hostbridge_destroy(struct pci_dev *d)
{
	free(d);
}

const struct devemu devemu_hostbridge = {
	.name = "hostbridge",
	.usage = "-s 0:0,hostbridge",
	.create = hostbridge_create,
	.destroy = hostbridge_destroy,
};
