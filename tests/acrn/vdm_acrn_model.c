/*
 * vdm_acrn_model.c - what makes tests/acrn/vdm-acrn-model, the test build
 * of vdm: devicemodel/main.c unchanged, plus the "acrn:model" back-end
 * (libacrnmodel) added before main runs, so the acrn tests drive the whole
 * program over the HSM model.  The installed vdm is built without it.
 */
#include "acrn_model.h"

#include <stdio.h>

/* A constructor, so that main.c stays the product's: nothing in it knows
 * about the model.  Should adding fail, --hsm acrn:model is then an
 * unknown back-end, which the tests report. */
__attribute__((constructor)) static void add_model_backend(void)
{
	if (acrn_model_register())
		fprintf(stderr, "vdm-acrn-model: cannot add the acrn:model back-end\n");
}
