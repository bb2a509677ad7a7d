/*
 * fw_bytes.h - the byte-level helpers of the tables vdm writes into guest
 * memory for firmware and kernels (ACPI, the MP table, e820, the zero
 * page): little-endian fields of any width, and the 8-bit checksum ACPI
 * and the MP specification both use (all bytes of a table sum to zero).
 */
#ifndef VDM_FW_BYTES_H
#define VDM_FW_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The low `bytes` bytes of v at p, least significant first. */
static inline void fw_put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte that makes the len bytes at p (with it) sum to zero. */
static inline uint8_t fw_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

#endif
