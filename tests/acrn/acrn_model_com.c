/*
 * acrn_model_com.c - the boot check's reading of the COM ports the DSDT
 * declares: every Device whose _HID is EISAID PNP0501 (a 16550-compatible
 * serial port), with its _UID and the I/O range and IRQ of its _CRS, into
 * m->boot.com for tests, and logged ("acrn model: DSDT COM1 ...") for tests
 * that see the model only through vdm's log.  Each must be one a PC has
 * (_UID 1-4 at 0x3F8, 0x2F8, 0x3E8, 0x2E8 with 8 ports) on the ISA IRQ
 * that port has (4 for COM1/3, 3 for COM2/4): anything else is a boot
 * problem, as is a _UID given twice.  Written from the ACPI spec (6.4:
 * 6.1.5 _HID's EISA ID encoding, 6.4.2 small resource data, 20.2 AML),
 * not from vdm's emitter.
 */
#include "acrn_model_internal.h"

#include <stdio.h>
#include <string.h>

#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_BUFFER_OP 0x11
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82
#define RES_IO 0x08  /* small item type: I/O port, 7 bytes */
#define RES_IRQ 0x04 /* small item type: IRQ, 2 or 3 bytes */
#define RES_END 0x0f

/* EISA ID "PNP0501" compressed (three 5-bit letters, then four hex
 * digits), as the DWordConst's bytes. */
static const uint8_t pnp0501[4] = { ('P' - 0x40) << 2 | ('N' - 0x40) >> 3,
				    (('N' - 0x40) & 7) << 5 | ('P' - 0x40), 0x05, 0x01 };

/* Where Name (seg, ...) is in a device's body [p, end), not inside a
 * Device nested in it (PCI0's body holds its children's names); NULL. */
static const uint8_t *own_name(const uint8_t *p, const uint8_t *end, const char *seg)
{
	while (p + 5 <= end) {
		if (p[0] == AML_EXT_PREFIX && p[1] == AML_DEVICE_OP) {
			const uint8_t *q = p + 2, *start = q;
			uint64_t plen = model_aml_pkg_length(&q, end);

			if (!plen || plen > (uint64_t)(end - start))
				return NULL;
			p = start + plen;
			continue;
		}
		if (p[0] == AML_NAME_OP && !memcmp(p + 1, seg, 4))
			return p;
		p++;
	}
	return NULL;
}

/* The value of a Name (seg, Integer) in [p, end); -1 if none. */
static long long name_int(const uint8_t *p, const uint8_t *end, const char *seg)
{
	if ((p = own_name(p, end, seg)) != NULL) {
		const uint8_t *v = p + 5;

		if (v >= end)
			return -1;
		if (v[0] == 0x00 || v[0] == 0x01)
			return v[0];
		if (v[0] == AML_BYTE_PREFIX && v + 2 <= end)
			return v[1];
		if (v[0] == AML_WORD_PREFIX && v + 3 <= end)
			return (long long)model_le(v + 1, 2);
		if (v[0] == AML_DWORD_PREFIX && v + 5 <= end)
			return (long long)model_le(v + 1, 4);
		return -1;
	}
	return -1;
}

/* The _CRS buffer of [p, end): its resource template and size. */
static const uint8_t *crs_template(const uint8_t *p, const uint8_t *end, uint64_t *size)
{
	if ((p = own_name(p, end, "_CRS")) != NULL && p + 7 <= end && p[5] == AML_BUFFER_OP) {
		const uint8_t *q = p + 6, *start = q;
		uint64_t plen = model_aml_pkg_length(&q, end);

		if (!plen || plen > (uint64_t)(end - start))
			return NULL;
		if (*q == AML_BYTE_PREFIX && q + 2 <= start + plen)
			*size = q[1], q += 2;
		else if (*q == AML_WORD_PREFIX && q + 3 <= start + plen)
			*size = model_le(q + 1, 2), q += 3;
		else
			return NULL;
		if (*size > (uint64_t)(start + plen - q))
			return NULL;
		return q;
	}
	return NULL;
}

/* One COM device's body [p, end): its _UID and _CRS into c.  False when
 * the template is not one fixed I/O range and one IRQ. */
static bool read_com(const uint8_t *p, const uint8_t *end, struct acrn_model_com *c)
{
	uint64_t size = 0;
	const uint8_t *t = crs_template(p, end, &size), *tend = t ? t + size : NULL;
	unsigned nio = 0, nirq = 0;
	long long uid = name_int(p, end, "_UID");

	c->uid = uid < 0 ? 0 : (unsigned)uid;
	while (t && t < tend && !(t[0] & 0x80)) {
		unsigned type = (t[0] >> 3) & 0x0f, n = t[0] & 0x07;

		if (type == RES_END || t + 1 + n > tend)
			break;
		if (type == RES_IO && n == 7) {
			c->port = (uint16_t)model_le(t + 2, 2);
			c->port_max = (uint16_t)model_le(t + 4, 2);
			c->nports = t[7];
			nio++;
		}
		if (type == RES_IRQ && n >= 2) {
			c->irq_mask = (uint16_t)model_le(t + 1, 2);
			nirq++;
		}
		t += 1 + n;
	}
	return uid >= 0 && nio == 1 && nirq == 1;
}

void model_boot_read_coms(struct acrn_model *m, const uint8_t *dsdt, uint64_t len)
{
	static const uint16_t pc_port[5] = { 0, 0x3f8, 0x2f8, 0x3e8, 0x2e8 };
	static const uint8_t pc_irq[5] = { 0, 4, 3, 4, 3 };
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *end = dsdt + len;
	/* The Devices around the one at p, innermost last: where each COM is
	 * declared (acrn-dm: in the LPC bridge's, named by its _ADR). */
	struct {
		const uint8_t *end;
		char name[5];
		long long adr;
	} open[8];
	int nopen = 0;

	for (const uint8_t *p = dsdt + 36; p + 2 < end; p++) {
		if (p[0] != AML_EXT_PREFIX || p[1] != AML_DEVICE_OP)
			continue;
		const uint8_t *q = p + 2, *start = q;
		uint64_t plen = model_aml_pkg_length(&q, end);

		if (!plen || plen > (uint64_t)(end - start) || q + 4 > start + plen)
			continue;
		const uint8_t *body = q + 4, *body_end = start + plen;
		char parent[48] = "";

		while (nopen && open[nopen - 1].end <= p)
			nopen--;
		if (nopen)
			snprintf(parent, sizeof(parent), " (in %s, _ADR %#llx)", open[nopen - 1].name,
				 open[nopen - 1].adr);
		if (nopen < 8) {
			open[nopen].end = body_end;
			memcpy(open[nopen].name, q, 4);
			open[nopen].name[4] = '\0';
			open[nopen++].adr = name_int(body, body_end, "_ADR");
		}
		/* Name (_HID, DWordConst) with PNP0501's bytes. */
		const uint8_t *h = own_name(body, body_end, "_HID");
		bool com = h && h + 10 <= body_end && h[5] == AML_DWORD_PREFIX &&
			   !memcmp(h + 6, pnp0501, 4);

		if (!com || b->ncom == sizeof(b->com) / sizeof(b->com[0]))
			continue;
		struct acrn_model_com *c = &b->com[b->ncom++];
		char what[160];

		*c = (struct acrn_model_com){ 0 };
		memcpy(c->name, q, 4);
		bool ok = read_com(body, body_end, c);

		hsm_log(m->vm, HSM_LOG_INFO,
			"acrn model: DSDT %s%s: PNP0501, _UID %u, ports %#x-%#x, IRQ mask %#x", c->name,
			parent, c->uid, c->port, c->port + (c->nports ? c->nports - 1 : 0),
			c->irq_mask);
		if (!ok || c->uid < 1 || c->uid > 4 || c->port != pc_port[c->uid] ||
		    c->port_max != c->port || c->nports != 8 || c->irq_mask != 1u << pc_irq[c->uid]) {
			snprintf(what, sizeof(what),
				 "DSDT serial port %s is not COM%u of a PC (_UID, 8 fixed ports at "
				 "its base, its ISA IRQ alone)",
				 c->name, c->uid);
			model_boot_problem(m, what);
		}
		for (unsigned i = 0; i + 1 < b->ncom; i++)
			if (b->com[i].uid == c->uid) {
				snprintf(what, sizeof(what), "DSDT serial ports %s and %s share _UID %u",
					 b->com[i].name, c->name, c->uid);
				model_boot_problem(m, what);
			}
	}
}
