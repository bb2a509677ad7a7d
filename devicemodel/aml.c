/*
 * aml.c - the AML emitter (aml.h).  Encodings from the ACPI
 * specification, chapter 20 ("ACPI Machine Language Specification"):
 * PkgLength is one to four bytes counting itself and what follows it up to
 * the end of the term, so it is inserted when the term is closed.
 */
#include "aml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ZERO_OP 0x00
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0a
#define WORD_PREFIX 0x0b
#define DWORD_PREFIX 0x0c
#define STRING_PREFIX 0x0d
#define QWORD_PREFIX 0x0e
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define EXT_OP_PREFIX 0x5b
#define DEVICE_OP 0x82
#define ROOT_CHAR 0x5c
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

static bool room(struct aml *a, size_t more)
{
	if (a->failed)
		return false;
	if (a->len + more > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		uint8_t *b;

		while (cap < a->len + more)
			cap *= 2;
		b = realloc(a->buf, cap);
		if (!b) {
			a->failed = true;
			return false;
		}
		a->buf = b;
		a->cap = cap;
	}
	return true;
}

void aml_raw(struct aml *a, const void *bytes, size_t len)
{
	if (room(a, len)) {
		memcpy(a->buf + a->len, bytes, len);
		a->len += len;
	}
}

static void byte(struct aml *a, uint8_t b)
{
	aml_raw(a, &b, 1);
}

static void le(struct aml *a, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

/* One NameSeg: up to 4 characters, '_'-padded. */
static void name_seg(struct aml *a, const char *s, size_t n)
{
	char seg[4] = { '_', '_', '_', '_' };

	if (n == 0 || n > 4) {
		a->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		seg[i] = (char)toupper((unsigned char)s[i]);
	aml_raw(a, seg, 4);
}

void aml_name(struct aml *a, const char *path)
{
	size_t nseg = 0;

	if (*path == '\\') {
		byte(a, ROOT_CHAR);
		path++;
	}
	for (const char *p = path; *p; p++)
		nseg += *p == '.';
	nseg++;
	if (nseg == 2)
		byte(a, DUAL_NAME_PREFIX);
	else if (nseg > 2) {
		byte(a, MULTI_NAME_PREFIX);
		byte(a, (uint8_t)nseg);
	}
	while (*path) {
		size_t n = strcspn(path, ".");

		name_seg(a, path, n);
		path += n + (path[n] == '.');
	}
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0)
		byte(a, ZERO_OP);
	else if (v == 1)
		byte(a, ONE_OP);
	else if (v <= 0xff)
		byte(a, BYTE_PREFIX), le(a, v, 1);
	else if (v <= 0xffff)
		byte(a, WORD_PREFIX), le(a, v, 2);
	else if (v <= 0xffffffffULL)
		byte(a, DWORD_PREFIX), le(a, v, 4);
	else
		byte(a, QWORD_PREFIX), le(a, v, 8);
}

void aml_string(struct aml *a, const char *s)
{
	byte(a, STRING_PREFIX);
	aml_raw(a, s, strlen(s) + 1);
}

void aml_eisaid(struct aml *a, const char *id)
{
	/* Three letters of 5 bits each (A = 1), then four hex digits; the
	 * result is stored big-endian in a DWordConst. */
	uint32_t v = 0;

	if (strlen(id) != 7) {
		a->failed = true;
		return;
	}
	v |= (uint32_t)((id[0] - '@') & 0x1f) << 26;
	v |= (uint32_t)((id[1] - '@') & 0x1f) << 21;
	v |= (uint32_t)((id[2] - '@') & 0x1f) << 16;
	v |= (uint32_t)strtoul(id + 3, NULL, 16);
	byte(a, DWORD_PREFIX);
	byte(a, (uint8_t)(v >> 24));
	byte(a, (uint8_t)(v >> 16));
	byte(a, (uint8_t)(v >> 8));
	byte(a, (uint8_t)v);
}

void aml_name_decl(struct aml *a, const char *path)
{
	byte(a, NAME_OP);
	aml_name(a, path);
}

static void open_term(struct aml *a, bool buffer)
{
	if (a->depth == AML_MAX_DEPTH) {
		a->failed = true;
		return;
	}
	a->buffer[a->depth] = buffer;
	a->open[a->depth++] = a->len;
}

void aml_scope(struct aml *a, const char *path)
{
	byte(a, SCOPE_OP);
	open_term(a, false);
	aml_name(a, path);
}

void aml_device(struct aml *a, const char *path)
{
	byte(a, EXT_OP_PREFIX);
	byte(a, DEVICE_OP);
	open_term(a, false);
	aml_name(a, path);
}

void aml_package(struct aml *a, uint8_t elements)
{
	byte(a, PACKAGE_OP);
	open_term(a, false);
	byte(a, elements);
}

void aml_buffer(struct aml *a)
{
	byte(a, BUFFER_OP);
	open_term(a, true);
}

void aml_close(struct aml *a)
{
	uint8_t head[16];
	size_t nhead = 0, at, body;

	if (a->failed || a->depth == 0) {
		a->failed = true;
		return;
	}
	at = a->open[--a->depth];
	body = a->len - at;
	/* A Buffer's size (an integer term) goes between PkgLength and its
	 * bytes. */
	uint8_t size_term[9];
	size_t nsize = 0;

	if (a->buffer[a->depth]) {
		struct aml tmp;

		aml_init(&tmp);
		aml_int(&tmp, body);
		if (tmp.failed || tmp.len > sizeof(size_term)) {
			aml_free(&tmp);
			a->failed = true;
			return;
		}
		memcpy(size_term, tmp.buf, tmp.len);
		nsize = tmp.len;
		aml_free(&tmp);
	}
	size_t rest = nsize + body;

	/* PkgLength: one byte up to 63, else a lead byte with the count of
	 * following bytes in bits 7-6 and the low 4 bits of the length. */
	for (size_t n = 1; n <= 4; n++) {
		size_t total = n + rest;

		if ((n == 1 && total < 64) || (n > 1 && total < (1ULL << (4 + 8 * (n - 1))))) {
			if (n == 1) {
				head[nhead++] = (uint8_t)total;
			} else {
				head[nhead++] = (uint8_t)((n - 1) << 6 | (total & 0xf));
				for (size_t i = 1; i < n; i++)
					head[nhead++] = (uint8_t)(total >> (4 + 8 * (i - 1)));
			}
			break;
		}
	}
	if (nhead == 0 || !room(a, nhead + nsize)) {
		a->failed = true;
		return;
	}
	memcpy(head + nhead, size_term, nsize);
	nhead += nsize;
	memmove(a->buf + at + nhead, a->buf + at, body);
	memcpy(a->buf + at, head, nhead);
	a->len += nhead;
}
