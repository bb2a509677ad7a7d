/*
 * e820.h - the guest's memory map as vdm describes it to what it loads
 * (the zero page of a Linux kernel, OVMF's table at 0xEF000): one builder,
 * so every description of guest RAM agrees.
 */
#ifndef VDM_E820_H
#define VDM_E820_H

#include "hsm.h"

#include <stddef.h>
#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ENTRY_SIZE 20 /* packed: address (8), length (8), type (4) */
#define E820_LEGACY_HOLE_START 0xa0000ULL
#define E820_LEGACY_HOLE_END 0x100000ULL

struct e820_entry {
	uint64_t addr, len;
	uint32_t type;
};

/*
 * Describe vm's guest memory in out (at most max entries), in address
 * order: RAM as the back-end mapped it, the legacy VGA/BIOS window
 * 0xA0000-0xFFFFF reserved, and the region at fw_gpa (firmware memory,
 * 0: none) reserved.  *low_top gets the end of the region at gpa 0.
 * Returns the number of entries, or -E2BIG.
 */
int e820_build(struct hsm_vm *vm, uint64_t fw_gpa, struct e820_entry *out, int max,
	       uint64_t *low_top);

/* Write n entries in the packed 20-byte layout both tables use. */
void e820_write(uint8_t *dst, const struct e820_entry *e, int n);

#endif /* VDM_E820_H */
