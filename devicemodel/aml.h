/*
 * aml.h - a small emitter of ACPI Machine Language (ACPI 6.4, chapter 20)
 * for the DSDT vdm writes: the few opcodes it needs, written into a
 * growing buffer.  Nested terms (Scope, Device, Package, Buffer) are
 * opened and closed; their PkgLength is filled in on close.
 */
#ifndef VDM_AML_H
#define VDM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 8

struct aml {
	uint8_t *buf;
	size_t len, cap;
	size_t open[AML_MAX_DEPTH]; /* where each open term's PkgLength goes */
	bool buffer[AML_MAX_DEPTH]; /* ...and whether it is a Buffer (its size follows) */
	int depth;
	bool failed; /* out of memory or nesting: the result is unusable */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);

/* A NameString: "\\_SB_.PCI0", "_PRT", segments of 4 characters ('_'-padded). */
void aml_name(struct aml *a, const char *path);
/* The smallest integer encoding of v (Zero, One, Byte/Word/DWord/QWordConst). */
void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EISAID("PNP0A03"): the compressed 32-bit ID. */
void aml_eisaid(struct aml *a, const char *id);
/* Name(path, <next term>). */
void aml_name_decl(struct aml *a, const char *path);

/* Open Scope(path) / Device(path) / Package(n) / Buffer(); close with aml_close. */
void aml_scope(struct aml *a, const char *path);
void aml_device(struct aml *a, const char *path);
void aml_package(struct aml *a, uint8_t elements);
void aml_buffer(struct aml *a); /* its bytes follow with aml_raw */
void aml_close(struct aml *a);

void aml_raw(struct aml *a, const void *bytes, size_t len);

#endif /* VDM_AML_H */
