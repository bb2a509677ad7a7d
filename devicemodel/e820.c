/*
 * e820.c - the guest's memory map in e820 form (e820.h), from the regions
 * the HSM back-end mapped.
 */
#include "e820.h"

#include "fw_bytes.h"

#include <errno.h>

static int add(struct e820_entry *out, int n, int max, uint64_t a, uint64_t b, uint32_t type)
{
	if (n < 0 || n == max)
		return -E2BIG;
	/* Keep address order: the back-end maps regions in any order. */
	int at = n;

	while (at > 0 && out[at - 1].addr > a) {
		out[at] = out[at - 1];
		at--;
	}
	out[at] = (struct e820_entry){ a, b - a, type };
	return n + 1;
}

int e820_build(struct hsm_vm *vm, uint64_t fw_gpa, struct e820_entry *out, int max,
	       uint64_t *low_top)
{
	struct hsm_mem_region r[16];
	int nr = hsm_get_mem_regions(vm, r, 16), n = 0;

	*low_top = 0;
	for (int i = 0; i < nr && i < 16 && n >= 0; i++) {
		uint64_t start = r[i].gpa, end = r[i].gpa + r[i].size;

		if (start == 0)
			*low_top = end;
		if (fw_gpa && start == fw_gpa) {
			n = add(out, n, max, start, end, E820_RESERVED);
		} else if (start < E820_LEGACY_HOLE_START && end > E820_LEGACY_HOLE_END) {
			n = add(out, n, max, start, E820_LEGACY_HOLE_START, E820_RAM);
			n = add(out, n, max, E820_LEGACY_HOLE_START, E820_LEGACY_HOLE_END,
				E820_RESERVED);
			n = add(out, n, max, E820_LEGACY_HOLE_END, end, E820_RAM);
		} else {
			n = add(out, n, max, start, end, E820_RAM);
		}
	}
	return n;
}

void e820_write(uint8_t *dst, const struct e820_entry *e, int n)
{
	for (int i = 0; i < n; i++, dst += E820_ENTRY_SIZE) {
		fw_put_le(dst, e[i].addr, 8);
		fw_put_le(dst + 8, e[i].len, 8);
		fw_put_le(dst + 16, e[i].type, 4);
	}
}
