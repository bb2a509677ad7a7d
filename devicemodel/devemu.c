/*
 * devemu.c - the table of device emulations that -s may name.
 */
#include "vdm.h"

#include <string.h>

const struct devemu *const devemu_table[] = {
	&devemu_hostbridge,
	&devemu_virtio_blk,
	&devemu_virtio_rnd,
	&devemu_virtio_console,
	&devemu_virtio_net,
	&devemu_virtio_vsock,
	NULL,
};

const struct devemu *devemu_find(const char *name)
{
	for (int i = 0; devemu_table[i]; i++)
		if (!strcmp(devemu_table[i]->name, name))
			return devemu_table[i];
	return NULL;
}
