/*
 * acrn_model_backend.c - the "acrn:model[,OPTS]:SOCKET" back-end that test
 * programs add to libhsm: hsm-shim's acrn back-end, every operation
 * unchanged, opened through acrn_open_sys on a model of the HSM instead of
 * /dev/acrn_hsm.  It shares the name "acrn" (so logs and messages read as
 * on the real back-end) and takes only the specs that start "model".
 */
#include "acrn_model.h"

#include <string.h>

static struct hsm_backend_ops model_ops;

static bool model_takes(const char *arg)
{
	return arg && (!strncmp(arg, "model:", 6) || !strncmp(arg, "model,", 6));
}

static int model_backend_open(struct hsm_vm *vm, const char *arg, char *errbuf, size_t errlen)
{
	struct acrn_model *m;
	struct acrn_sys sys;
	int ret;

	ret = acrn_model_create(vm, arg + strlen("model"), &sys, &m, errbuf, errlen);
	if (ret)
		return ret;
	/* From here the back-end owns the model: sys.release destroys it. */
	return acrn_open_sys(vm, "the HSM model", &sys, errbuf, errlen);
}

int acrn_model_register(void)
{
	if (model_ops.open)
		return 0;
	model_ops = hsm_acrn_ops;
	model_ops.usage = "acrn:model[,OPTS]:SOCKET";
	model_ops.takes = model_takes;
	model_ops.open = model_backend_open;
	return hsm_register_backend(&model_ops);
}

struct acrn_model *acrn_model_of(struct hsm_vm *vm)
{
	const struct acrn_sys *sys = acrn_sys_of(vm);

	if (!sys || vm->ops != &model_ops)
		return NULL;
	return sys->ctx;
}
