/*
 * acpi_isa.c - the DSDT's ISA devices where vdm is the platform: the RTC
 * of rtc.c and the COM ports of -l (uart.c), each with the fixed ports and
 * ISA IRQ vdm serves them on, so that a guest's ACPI-driven drivers (Linux:
 * rtc-cmos, 8250_pnp) find them.  As acrn-dm lays them out: inside a
 * Device (ISA) at the LPC bridge's PCI address when the VM has one
 * (`-s 1:0,lpc`); without it vdm still serves the ports, so they sit in
 * the root bridge's scope beside it instead of being left out.  Only the
 * COM ports -l enables are declared.  Resource descriptors from ACPI 6.4,
 * 6.4.2 (small resource data).
 */
#include "acpi_internal.h"

#include "aml.h"
#include "rtc.h"

#include <stdio.h>

#define RES_IO 0x47          /* I/O port descriptor, 7 bytes follow */
#define RES_IO_DECODE16 0x01 /* the device decodes all 16 address bits */
#define RES_IRQ_NOFLAGS 0x22 /* IRQ descriptor, 2 bytes follow: high-true edge */
#define RES_END 0x79
#define COM_PORTS 8          /* a 16550's eight registers */

/* Name (_CRS, ResourceTemplate () { IO (Decode16, port, port, 1, len)
 * IRQNoFlags () { irq } }) */
static void fixed_io_irq_crs(struct aml *a, uint16_t port, uint8_t len, uint8_t irq)
{
	uint8_t io[8] = { RES_IO,
			  RES_IO_DECODE16,
			  (uint8_t)port,
			  (uint8_t)(port >> 8),
			  (uint8_t)port,
			  (uint8_t)(port >> 8),
			  1,
			  len };
	uint8_t irqs[3] = { RES_IRQ_NOFLAGS, (uint8_t)(1u << irq), (uint8_t)((1u << irq) >> 8) };
	uint8_t end[2] = { RES_END, 0 };

	aml_name_decl(a, "_CRS");
	aml_buffer(a);
	aml_raw(a, io, sizeof(io));
	aml_raw(a, irqs, sizeof(irqs));
	aml_raw(a, end, sizeof(end));
	aml_close(a);
}

/* PNP0B00 at ports 0x70-0x71, ISA IRQ 8. */
static void rtc_device(struct aml *a)
{
	aml_device(a, "RTC");
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0B00");
	fixed_io_irq_crs(a, RTC_INDEX_PORT, 2, RTC_IRQ);
	aml_close(a);
}

/* Device (COMn) { PNP0501, _UID n, its 8 ports and IRQ }: acrn-dm's names
 * and _UIDs, which Linux numbers ttyS by. */
static void com_device(struct aml *a, const struct acpi_com *c)
{
	char name[5];

	snprintf(name, sizeof(name), "COM%u", (unsigned)c->unit % 10);
	aml_device(a, name);
	aml_name_decl(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name_decl(a, "_UID");
	aml_int(a, c->unit);
	fixed_io_irq_crs(a, c->port, COM_PORTS, c->irq);
	aml_close(a);
}

void acpi_isa_devices(struct aml *a, const struct acpi_isa *isa)
{
	bool lpc = isa && isa->lpc;

	if (lpc) {
		aml_device(a, "ISA");
		aml_name_decl(a, "_ADR");
		aml_int(a, (uint64_t)isa->lpc_slot << 16 | isa->lpc_func);
	}
	rtc_device(a);
	for (unsigned i = 0; isa && i < isa->ncom && i < ACPI_MAX_COM; i++)
		com_device(a, &isa->com[i]);
	if (lpc)
		aml_close(a);
}
