/*
 * fake_bzimage.h - bzImages for the ACRN tests, written to the Linux x86
 * boot protocol's layout (setup sectors with the header at 0x1f1, then a
 * byte pattern standing in for the protected-mode kernel), with the fields
 * a test wants wrong.  Header-only: each test is one program.
 */
#ifndef VDM_TEST_FAKE_BZIMAGE_H
#define VDM_TEST_FAKE_BZIMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD (256u << 10)

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct fake {
	unsigned setup_sects;
	uint16_t version, boot_flag;
	const char *magic;
	uint8_t loadflags;
	uint32_t cmdline_size, init_size;
	size_t len; /* whole file; 0 = setup + PAYLOAD */
};

static const struct fake fake_good = { 1, 0x020f, 0xaa55, "HdrS", 0x01, 2047, 4u << 20, 0 };

/* A bzImage to the protocol's layout: setup sectors, then the payload
 * (a byte pattern standing in for the protected-mode kernel). */
static inline void write_kernel(const char *path, const struct fake *f)
{
	size_t setup = (size_t)(f->setup_sects + 1) * 512;
	size_t len = f->len ? f->len : setup + PAYLOAD;
	uint8_t *b = calloc(1, len > 1024 ? len : 1024);
	FILE *out = fopen(path, "w");

	b[0x1f1] = (uint8_t)f->setup_sects;
	put16(b + 0x1fe, f->boot_flag);
	b[0x200] = 0xeb;
	b[0x201] = 0x66; /* the header ends at 0x268 */
	memcpy(b + 0x202, f->magic, 4);
	put16(b + 0x206, f->version);
	b[0x211] = f->loadflags;
	put32(b + 0x214, 0x100000);
	put32(b + 0x22c, 0x7fffffff);
	put32(b + 0x238, f->cmdline_size);
	put32(b + 0x260, f->init_size);
	for (size_t i = setup; i < len; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	fwrite(b, 1, len, out);
	fclose(out);
	free(b);
}

#endif /* VDM_TEST_FAKE_BZIMAGE_H */
