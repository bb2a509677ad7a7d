/*
 * acrn_model_irqroute.c - the HSM model holding vdm's interrupt lines to
 * the routing it declared to the guest.  Once the boot check has read the
 * DSDT's _PRT and the MP table (acrn_model_boot_mp.c) and the ISA IRQs the
 * DSDT's devices claim in their _CRS (read here), then:
 *   - every SET_IRQLINE must name a GSI something accounts for: at or
 *     above 16, one a _PRT entry (and, when there is an MP table, one of
 *     its PCI entries) routes a pin to; below 16, an ISA IRQ a DSDT device
 *     declares (the COM ports' too: a UART vdm serves but does not declare
 *     interrupts on a line the guest was not told of); anything else is a
 *     "stray" line, counted as a protocol violation;
 *   - the interrupt line register of a bus-0 function, read by the guest
 *     before it wrote the register itself, must hold the GSI the _PRT
 *     names for its slot and pin;
 *   - INTx reaches the driver as the guest routes it: a GSI goes to the
 *     functions whose slot and pin the _PRT maps to it (without a _PRT, to
 *     those whose line register the guest set to it).  So an INTx vdm
 *     asserts on another device's GSI shows up at that other device.
 * Written from the ACPI spec (6.4, 6.4.2: small and large resource data),
 * not from vdm's AML emitter.
 */
#include "acrn_model_internal.h"

#include <stdio.h>
#include <string.h>

#define RES_SMALL_IRQ 0x04   /* small item type: IRQ descriptor */
#define RES_SMALL_END 0x0f
#define RES_LARGE_EXT_IRQ 0x09 /* large item name: extended interrupt */

/* The IRQs of one resource template (len bytes at p) into *mask. */
static void resource_irqs(const uint8_t *p, uint64_t len, uint16_t *mask)
{
	const uint8_t *end = p + len;

	while (p < end) {
		if (!(p[0] & 0x80)) { /* small item: type in bits 6-3, length 2-0 */
			unsigned type = (p[0] >> 3) & 0x0f, n = p[0] & 0x07;

			if (type == RES_SMALL_END || p + 1 + n > end)
				return;
			if (type == RES_SMALL_IRQ && n >= 2)
				*mask |= (uint16_t)(p[1] | p[2] << 8);
			p += 1 + n;
			continue;
		}
		if (end - p < 3)
			return;
		unsigned n = (unsigned)(p[1] | p[2] << 8);

		if ((uint64_t)(end - p) < 3 + (uint64_t)n)
			return;
		if ((p[0] & 0x7f) == RES_LARGE_EXT_IRQ && n >= 2) {
			/* flags, count, then 32-bit interrupt numbers */
			for (unsigned i = 0; i < p[4] && 5 + 4 * i + 4 <= 3 + n; i++) {
				uint64_t irq = model_le(p + 5 + 4 * i, 4);

				if (irq < 16)
					*mask |= (uint16_t)(1u << irq);
			}
		}
		p += 3 + n;
	}
}

static void template_isa_irqs(struct acrn_model *m, const uint8_t *tmpl, uint64_t size)
{
	resource_irqs(tmpl, size, &m->boot.isa_irqs);
}

void model_boot_read_isa_irqs(struct acrn_model *m, const uint8_t *dsdt, uint64_t len)
{
	model_aml_each_crs(m, dsdt, len, template_isa_irqs);
}

/* The _PRT's GSI for slot and pin (1 = INTA#), or 0. */
static uint8_t prt_gsi(const struct acrn_model_boot *b, unsigned slot, unsigned pin)
{
	for (unsigned i = 0; i < b->nprt; i++)
		if (b->prt[i].slot == slot && b->prt[i].pin == pin)
			return b->prt[i].gsi;
	return 0;
}

/* Whether the routing the guest was given accounts for gsi. */
static bool gsi_accounted(const struct acrn_model_boot *b, uint32_t gsi)
{
	bool in_prt = false, in_mp = b->mp_table_gpa == 0;

	if (gsi < 16)
		return b->isa_irqs & (1u << gsi);
	for (unsigned i = 0; i < b->nprt; i++)
		in_prt |= b->prt[i].gsi == gsi;
	for (unsigned i = 0; i < b->mp_npci; i++)
		in_mp |= b->mp_pci[i].gsi == gsi;
	return in_prt && in_mp;
}

void model_check_irqline_locked(struct acrn_model *m, uint32_t gsi, uint32_t op)
{
	struct acrn_model_boot *b = &m->boot;
	static const char *const ops[] = { "SET_HIGH", "SET_LOW", "RAISING_PULSE",
					   "FALLING_PULSE" };

	/* Only where vdm declared the routing: a boot check read its tables
	 * (without them the guest programs the lines itself). */
	if (!b->checked || !b->dsdt_gpa || gsi_accounted(b, gsi))
		return;
	if (!b->stray_irqlines++)
		b->first_stray_gsi = (uint8_t)gsi;
	model_violation(m, "SET_IRQLINE %s on GSI %u, which no _PRT entry, MP table entry or "
			   "declared ISA device accounts for",
			ops[op & 3], gsi);
}

void model_check_line_read_locked(struct acrn_model *m, unsigned devfn, uint8_t line)
{
	struct acrn_model_boot *b = &m->boot;
	uint8_t want = prt_gsi(b, devfn >> 3, m->pin[devfn]);
	char what[96];

	if (!b->checked || !b->dsdt_gpa || m->line_written[devfn] || !want || line == want)
		return;
	b->line_disagreements++;
	snprintf(what, sizeof(what), "00:%02x.%u reads interrupt line %u, the _PRT routes it to",
		 devfn >> 3, devfn & 7, line);
	model_violation(m, "%s GSI %u", what, want);
}

/* Whether function devfn is one INTx on gsi reaches. */
static bool intx_reaches(const struct acrn_model *m, unsigned devfn, uint32_t gsi)
{
	const struct acrn_model_boot *b = &m->boot;
	uint8_t pin = m->pin[devfn];

	if (b->checked && b->nprt)
		return pin >= 1 && pin <= 4 && prt_gsi(b, devfn >> 3, pin) == gsi;
	return m->line[devfn] == gsi;
}

void model_send_intx_locked(struct acrn_model *m, uint32_t gsi, bool level)
{
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		if (!intx_reaches(m, devfn, gsi))
			continue;
		struct sim_msg msg = { .type = SIM_IRQ, .arg = HSM_IRQ_INTX, .bdf = (uint16_t)devfn,
				       .pin = m->pin[devfn], .data = level };
		model_send_irq_msg_locked(m, &msg);
	}
}
