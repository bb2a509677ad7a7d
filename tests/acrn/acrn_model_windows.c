/*
 * acrn_model_windows.c - the model holding BARs to the PCI memory windows
 * the DSDT declares.  At the boot check it reads the memory address space
 * descriptors (DWordMemory, QWordMemory) of the DSDT's resource templates
 * into m->boot.win, logged, each of which must stay clear of guest RAM (the
 * SET_MEMSEG segments, which the e820 check holds the map to).  Then, as
 * config traffic passes, a memory BAR the guest reads before writing it
 * (what the device model programmed before the guest ran) must hold 0 (not
 * assigned) or an address inside one of those windows: anything else is a
 * protocol violation.  Written from the ACPI spec (6.4.3.5: address space
 * descriptors) and the PCI spec's BAR layout, not from vdm's code.
 */
#include "acrn_model_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RES_END 0x0f
#define RES_DWORD_SPACE 0x07 /* large item names */
#define RES_QWORD_SPACE 0x0a
#define SPACE_MEMORY 0

/* The memory windows of one resource template (size bytes at p). */
static void template_windows(struct acrn_model *m, const uint8_t *p, uint64_t size)
{
	struct acrn_model_boot *b = &m->boot;
	const uint8_t *end = p + size;

	while (p < end) {
		if (!(p[0] & 0x80)) {
			unsigned n = p[0] & 0x07;

			if (((p[0] >> 3) & 0x0f) == RES_END)
				return;
			p += 1 + n;
			continue;
		}
		if (end - p < 3)
			return;
		unsigned n = (unsigned)model_le(p + 1, 2), name = p[0] & 0x7f;

		if ((uint64_t)(end - p) < 3 + (uint64_t)n)
			return;
		/* type, general flags, type flags, then granularity, minimum,
		 * maximum, translation, length: 4 or 8 bytes each */
		unsigned w = name == RES_DWORD_SPACE ? 4 : name == RES_QWORD_SPACE ? 8 : 0;

		if (w == 8 && m->no_qword_windows)
			w = 0;
		if (w && n >= 3 + 5 * w && p[3] == SPACE_MEMORY &&
		    b->nwin < sizeof(b->win) / sizeof(b->win[0])) {
			uint64_t min = model_le(p + 6 + w, (int)w), max = model_le(p + 6 + 2 * w, (int)w);

			b->win[b->nwin].min = min;
			b->win[b->nwin++].max = max;
			hsm_log(m->vm, HSM_LOG_INFO,
				"acrn model: DSDT PCI memory window %#" PRIx64 "-%#" PRIx64 " (%s)", min,
				max, w == 8 ? "QWordMemory" : "DWordMemory");
			for (int i = 0; i < m->nsegs && min <= max; i++) {
				const struct model_seg *s = &m->segs[i];
				char what[160];

				if (min < s->gpa + s->len && s->gpa <= max) {
					snprintf(what, sizeof(what),
						 "the DSDT's PCI window %#" PRIx64 "-%#" PRIx64
						 " overlaps guest memory at %#" PRIx64,
						 min, max, s->gpa);
					model_boot_problem(m, what);
				}
			}
		}
		p += 3 + n;
	}
}

void model_boot_read_windows(struct acrn_model *m, const uint8_t *dsdt, uint64_t len)
{
	model_aml_each_crs(m, dsdt, len, template_windows);
}

static bool in_window(const struct acrn_model_boot *b, uint64_t addr)
{
	for (unsigned i = 0; i < b->nwin; i++)
		if (addr >= b->win[i].min && addr <= b->win[i].max)
			return true;
	return false;
}

void model_check_bar_read_locked(struct acrn_model *m, unsigned devfn, unsigned idx, uint32_t val)
{
	struct acrn_model_boot *b = &m->boot;
	uint64_t addr;
	unsigned first = idx;

	if (!b->checked || !b->nwin || idx > 5 || (m->bar_written[devfn] & (1u << idx)))
		return;
	m->bar_val[devfn][idx] = val;
	m->bar_read[devfn] |= (uint8_t)(1u << idx);
	/* The high half of a 64-bit memory BAR read after its low half. */
	if (idx > 0 && (m->bar_read[devfn] & (1u << (idx - 1))) &&
	    (m->bar_val[devfn][idx - 1] & 0x7) == 0x4)
		first = idx - 1;
	uint32_t lo = m->bar_val[devfn][first];

	if (lo & 1)
		return; /* I/O */
	if ((lo & 0x6) == 0x4) { /* 64-bit: both halves needed */
		if (first + 1 > 5 || !(m->bar_read[devfn] & (1u << (first + 1))))
			return;
		addr = (lo & ~0xfULL) | (uint64_t)m->bar_val[devfn][first + 1] << 32;
	} else {
		addr = lo & ~0xfULL;
	}
	if (!addr)
		return; /* not assigned: the guest will */
	b->bars_checked++;
	if (in_window(b, addr))
		return;
	char what[96];

	b->bars_outside++;
	snprintf(what, sizeof(what), "00:%02x.%u BAR %u at %#" PRIx64, devfn >> 3, devfn & 7, first,
		 addr);
	model_violation(m, "%s: in no PCI window the DSDT declares (%u windows)", what, b->nwin);
}
