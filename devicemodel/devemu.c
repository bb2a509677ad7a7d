/*
 * devemu.c - the table of device emulations that -s may name, the walk
 * over a device's options that every emulation shares, and the context a
 * device is created with.
 */
#include "vdm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct devemu *const devemu_table[] = {
	&devemu_hostbridge,
	&devemu_lpc,
	&devemu_virtio_blk,
	&devemu_virtio_rnd,
	&devemu_virtio_console,
	&devemu_virtio_net,
	&devemu_virtio_vsock,
	&devemu_virtio_fs,
	&devemu_passthru,
	NULL,
};

const struct devemu *devemu_find(const char *name)
{
	for (int i = 0; devemu_table[i]; i++)
		if (!strcmp(devemu_table[i]->name, name))
			return devemu_table[i];
	return NULL;
}

int devemu_parse(const struct devemu *emu, const char *opts, void **out, char *err, size_t errlen)
{
	char *copy = NULL, *save = NULL;
	void *cfg = NULL;
	int ret = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!emu->option) {
		if (opts && *opts) {
			snprintf(err, errlen, "%s takes no options", emu->name);
			return -EINVAL;
		}
		return 0;
	}
	cfg = calloc(1, emu->cfg_size);
	copy = strdup(opts ? opts : "");
	if (!cfg || !copy) {
		free(cfg);
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (char *opt = strtok_r(copy, ",", &save); opt && !ret; opt = strtok_r(NULL, ",", &save)) {
		ret = emu->option(cfg, opt, err, errlen);
		if (ret == DEVEMU_UNKNOWN) {
			snprintf(err, errlen, "unknown %s option '%s'", emu->name, opt);
			ret = -EINVAL;
		}
	}
	free(copy);
	if (!ret && emu->options_done)
		ret = emu->options_done(cfg, err, errlen);
	if (ret) {
		if (errlen && !err[0]) /* e.g. -ENOMEM from a strdup */
			snprintf(err, errlen, "%s", strerror(-ret));
		devemu_free_cfg(emu, cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void devemu_free_cfg(const struct devemu *emu, void *cfg)
{
	if (!cfg)
		return;
	if (emu->clear_cfg)
		emu->clear_cfg(cfg);
	free(cfg);
}

void devemu_ctx_init(struct devemu_ctx *ctx, struct vdm *vdm, int slot, int func)
{
	*ctx = (struct devemu_ctx){
		.slot = slot,
		.func = func,
		.loop = vdm->loop,
		.vm = vdm->vm,
		.caps = vdm->caps,
		.default_poll_mode = vdm->default_poll_mode,
		.default_poll_us = vdm->default_poll_us,
		.vhosts = &vdm->vhosts,
		.events = vdm->events,
		.space = &vdm->space,
	};
	memcpy(ctx->uuid, vdm->uuid, sizeof(ctx->uuid));
}
